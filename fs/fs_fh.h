/*
 * fs_fh.h - the handle of an open file: a tagged union of what each kind
 * of open file needs, and the list of open handles (freed at exit when
 * the kernel never sent their release).
 */
#ifndef OCB_FS_FH_H
#define OCB_FS_FH_H

#include "buf.h"
#include "frame_cache.h"
#include "fs_ops.h"

#include <pthread.h>
#include <stdint.h>

struct ocb_archive;

enum fs_fh_kind {
	FS_FH_BACKUP_FILE,	/* a file in a backup, read through the
				 * frame cache */
	FS_FH_TEXT,		/* text made at open: .ocbfs/stats,
				 * groups/<id>/manifest.json */
	FS_FH_SNAP_FILE,	/* a file of snapshots/<entry>/: made again
				 * by each read at offset 0 */
	FS_FH_SNAP_WAIT,	/* snapshots/<entry>/wait: made by the first
				 * read, once the backup has ended */
};

struct fs_fh_backup_file {
	uint32_t slot, entry;	/* backup slot, entry in its archive */
	struct ocb_archive *a;	/* held (fs_tree_archive_get) until free */
	uint64_t aid;		/* its frame-cache id */
	struct ocb_read_state rs;	/* the reader's sequence, under lock */
};

struct fs_fh_text {
	struct ocb_buf buf;	/* the content (under lock for the
				 * snapshot kinds, which refill it) */
	uint32_t snap_id;	/* FS_FH_SNAP_*: the entry and its file */
	uint32_t snap_file;
};

struct fs_fh {
	struct fs_fh *prev, *next;	/* in the open list */
	enum fs_fh_kind kind;
	pthread_mutex_t lock;
	union {
		struct fs_fh_backup_file file;	/* FS_FH_BACKUP_FILE */
		struct fs_fh_text text;		/* the others */
	} u;
};

/* A handle of kind k (text kinds get an empty buffer of up to 1 MiB);
 * NULL when out of memory. */
struct fs_fh *fs_fh_new(enum fs_fh_kind k);
/* Frees h and what it holds (a backup file's archive goes back to c's
 * tree).  h must not be in the open list. */
void fs_fh_free(struct fs_ctx *c, struct fs_fh *h);

/* The open list of c: add, remove, and free all that remain. */
void fs_fh_track(struct fs_ctx *c, struct fs_fh *h);
void fs_fh_untrack(struct fs_ctx *c, struct fs_fh *h);
void fs_fh_free_all(struct fs_ctx *c);

/* Reply to a read of size bytes at off from a text handle's buffer: 0,
 * or -ENOMEM (nothing replied).  The read op of namespaces whose files
 * are text made at open. */
int fs_fh_read_text(fuse_req_t req, struct fs_ctx *c, struct fs_fh *h,
		    size_t size, off_t off);

#endif
