/*
 * fs_stats.h - the daemon's own counters (FUSE requests by kind, bytes
 * read, errors replied by kind) and the stats file, which gathers them
 * with the namespace's, the frame cache's and the store stack's.
 *
 * Counting takes no lock (atomics); every function accepts a NULL
 * struct fs_stats and then does nothing.
 */
#ifndef OCB_FS_STATS_H
#define OCB_FS_STATS_H

#include <stddef.h>

struct fs_stats;
struct fs_tree;
struct ocb_frame_cache;
struct ocb_store;
struct ocb_buf;

enum fs_stats_op {
	FS_STATS_LOOKUP,
	FS_STATS_GETATTR,
	FS_STATS_READDIR,
	FS_STATS_READLINK,
	FS_STATS_OPEN,
	FS_STATS_READ,
	FS_STATS_XATTR,
	FS_STATS_NOPS
};

int fs_stats_new(struct fs_stats **out);
void fs_stats_free(struct fs_stats *s);

void fs_stats_op(struct fs_stats *s, enum fs_stats_op op);
/* bytes returned by read requests */
void fs_stats_read_bytes(struct fs_stats *s, size_t n);
/* an error replied to the kernel (positive errno) */
void fs_stats_error(struct fs_stats *s, int err);

/*
 * Our own "name value" lines: uptime_seconds, fuse_<op> per request kind,
 * fuse_read_bytes, fuse_errors and fuse_errors_<kind> (io, timeout, rofs,
 * access, other).
 */
void fs_stats_print(struct fs_stats *s, struct ocb_buf *out);

/* The whole stats file: ours, then each given layer's (NULL: skipped). */
void fs_stats_report(struct fs_stats *s, struct fs_tree *t,
		     struct ocb_frame_cache *fc, struct ocb_store *store,
		     struct ocb_buf *out);

#endif
