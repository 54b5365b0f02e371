/*
 * fs_ops.h - the FUSE operations and the state they share.
 */
#ifndef OCB_FS_OPS_H
#define OCB_FS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <time.h>

struct fs_tree;
struct fs_snap;
struct fs_groups;
struct fs_stats;
struct ocb_frame_cache;
struct ocb_buf;

struct fs_ctx {
	struct fs_tree *tree;
	struct ocb_frame_cache *fc;
	struct fs_stats *st;		/* request and error counters */
	struct fs_snap *snap;		/* snapshots/, or NULL when off */
	struct fs_groups *groups;	/* groups/, or NULL when off */
	uid_t uid;			/* owner of the mount */
	gid_t gid;
	time_t started;
	/* fill the stats file */
	void (*stats)(struct fs_ctx *c, struct ocb_buf *out);
	/* called once the kernel connection is up */
	void (*init_done)(struct fs_ctx *c);
	void *priv;			/* the daemon's own state */
	void *open_fh;			/* open file handles (fs_fh.c) */
	pthread_mutex_t fh_lock;	/* guards open_fh */
};

extern const struct fuse_lowlevel_ops fs_ops;

#endif
