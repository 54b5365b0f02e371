/*
 * fs_tree.h - the namespace of the mount: instances, their backups, and
 * the opened archives behind backup directories; inode numbers.
 *
 * Inode numbers are stable for the life of the mount: instances and
 * backups get a slot when first listed and keep it.  Inside a backup,
 * the inode of entry e of backup slot b is ((b + 1) << 32) | (e.ino + 1),
 * so hardlinks share one.
 */
#ifndef OCB_FS_TREE_H
#define OCB_FS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inventory.h"

struct ocb_store;
struct ocb_keyprov;
struct ocb_archive;
struct ocb_phys_cache;
struct ocb_buf;
struct fs_tree;

#define FS_INO_ROOT 1ull
#define FS_INO_LATEST 2ull	/* /latest */
#define FS_INO_CTL 3ull		/* /.ocbfs */
#define FS_INO_STATS 4ull	/* /.ocbfs/stats */
#define FS_INO_SNAPS 5ull	/* /snapshots */
#define FS_INO_GROUPS 6ull	/* /groups */
#define FS_INO_INST 0x1000ull	/* + 2 * slot: instance dir; + 1: its latest */
#define FS_INO_INST_END 0x80000000ull
#define FS_INO_SNAP FS_INO_INST_END	/* + 8 * id + file: snapshots/<entry> */
#define FS_INO_SNAP_END 0xC0000000ull
#define FS_INO_GROUP FS_INO_SNAP_END	/* + 1024 * slot + m: groups/<id> */
#define FS_INO_GROUP_END 0x100000000ull

struct fs_tree_opts {
	struct ocb_store *store;	/* not owned */
	struct ocb_keyprov *kp;		/* not owned */
	/* old-tool .tar.gz backups are read through this store, below the
	 * disk cache (their bytes are not encrypted: no block of them may
	 * reach the disk); NULL: store */
	struct ocb_store *legacy_store;
	const char *cache_dir;		/* their indexes (sealed); may be NULL */
	/* where incremental backups keep physical frames across reads, one
	 * for every backup of the mount; may be NULL */
	struct ocb_phys_cache *phys;
	const char *root;		/* "<root>" holding instance prefixes */
	const char *prefix;		/* the configured instance's prefix */
	unsigned refresh;		/* seconds between listings */
	unsigned max_open;		/* archives kept open when unused
					 * (0: 16) */
	uint64_t max_entries;		/* and their catalogs' entries in
					 * total, a bound on memory (0: 1M) */
	/* called before an archive is freed (frame-cache id) */
	void (*on_close)(void *arg, uint64_t aid);
	void *on_close_arg;
	int snapshots;			/* list /snapshots in the root */
	int groups;			/* list /groups in the root */
	/* open the configured instance's newest backup after each listing,
	 * so that one that fails (damaged, refused) is never `latest` */
	int check_latest;
	/* after each listing (from the refresh thread): the groups */
	void (*on_refresh)(void *arg);
	void *on_refresh_arg;
};

enum fs_node {
	FS_NODE_NONE,
	FS_NODE_ROOT, FS_NODE_LATEST, FS_NODE_CTL, FS_NODE_STATS,
	FS_NODE_INST, FS_NODE_INST_LATEST, FS_NODE_BACKUP,
	FS_NODE_SNAPS, FS_NODE_SNAP, FS_NODE_GROUPS, FS_NODE_GROUP,
};

/* Does the first listing (errors are logged; the tree starts empty). */
int fs_tree_new(const struct fs_tree_opts *o, struct fs_tree **out);
void fs_tree_free(struct fs_tree *t);

/* List instances and backups again; starts/stops the background thread. */
int fs_tree_refresh(struct fs_tree *t);
int fs_tree_start(struct fs_tree *t);
void fs_tree_stop(struct fs_tree *t);

/* What kind of node ino is; for FS_NODE_INST(_LATEST) *slot = instance
 * slot, for FS_NODE_BACKUP *slot = backup slot and *entry = entry index
 * (the backup's directory itself is entry 0), for FS_NODE_SNAP *slot =
 * the snapshot entry's id and *entry its file (enum fs_snap_file). */
enum fs_node fs_tree_node(uint64_t ino, uint32_t *slot, uint32_t *entry);
uint64_t fs_tree_backup_ino(uint32_t slot, uint32_t entry);
/* 0 when id is beyond the range of snapshot inodes */
uint64_t fs_tree_snap_ino(uint32_t id, uint32_t file);
/* groups/<id> (m 0), its manifest.json (1) and agent links (2 + k);
 * FS_NODE_GROUP gives *slot and *entry = m.  0 when out of range. */
uint64_t fs_tree_group_ino(uint32_t slot, uint32_t m);

/* The directory name an instance prefix shows as ("<root>/instance-x"
 * shows as "x"); points into prefix. */
const char *fs_tree_inst_name(const char *prefix);

/* Name → ino in the root (instances, "latest", ".ocbfs"): 0 or -ENOENT. */
int fs_tree_lookup_root(struct fs_tree *t, const char *name, uint64_t *ino);
/* Name → ino in instance slot (backups, "latest"). */
int fs_tree_lookup_inst(struct fs_tree *t, uint32_t slot, const char *name,
			uint64_t *ino);

/* Directory listings as (name, ino, is_dir/link) through a callback;
 * returning non-zero from cb stops.  off counts entries. */
typedef int (*fs_tree_dir_fn)(void *arg, const char *name, uint64_t ino,
			      mode_t type, off_t next);
int fs_tree_list_root(struct fs_tree *t, off_t off, fs_tree_dir_fn cb,
		      void *arg);
int fs_tree_list_inst(struct fs_tree *t, uint32_t slot, off_t off,
		      fs_tree_dir_fn cb, void *arg);

/* Symlink targets: "latest" links.  0 or -ENOENT when there is none. */
int fs_tree_readlink(struct fs_tree *t, uint64_t ino, char *buf, size_t size);

/* Facts about a backup slot (name, instance, kind, size, mtime). */
int fs_tree_backup_ref(struct fs_tree *t, uint32_t slot,
		       struct ocb_backup_ref *out);
/* The mtime to show for root and instance dirs (newest backup). */
int64_t fs_tree_mtime(struct fs_tree *t);
/* Listed backups and their stored bytes in total (for statfs). */
void fs_tree_totals(struct fs_tree *t, uint64_t *backups, uint64_t *bytes);

/*
 * The opened archive of backup slot (opening it on first use: one or two
 * range reads).  Every successful get must be paired with a put.  *aid is
 * the archive's frame-cache id.  Errors: store errors, -EBADMSG, -ENOKEY,
 * -EIO for an old-tool backup (not browsable in this version).
 */
int fs_tree_archive_get(struct fs_tree *t, uint32_t slot,
			struct ocb_archive **a, uint64_t *aid);
void fs_tree_archive_put(struct fs_tree *t, uint32_t slot);

/* Counter lines for the stats file. */
void fs_tree_stats(struct fs_tree *t, struct ocb_buf *out);

#endif
