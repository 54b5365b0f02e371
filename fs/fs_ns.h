/*
 * fs_ns.h - the namespaces of the mount and the one table of operations
 * each of them implements.
 *
 * The mount is four namespaces, each in its own file and each owning the
 * FUSE-facing behaviour of its nodes:
 *   fs_ns_root.c    the root, its "latest" link, .ocbfs/ and .ocbfs/stats
 *   fs_ns_backup.c  instance directories, their "latest" links, and the
 *                   read-only trees of the backups
 *   fs_ns_snaps.c   snapshots/: mkdir starts a backup, rmdir forgets it
 *   fs_ns_groups.c  groups/: one directory per group backup manifest
 * fs_ns_route() maps an inode to its namespace, in this one place;
 * fs_ops.c only turns FUSE requests into these calls and the results
 * into replies.
 *
 * Every op returns 0 or a negative errno (the router replies it).  An op
 * a namespace leaves NULL is answered by the router as the whole mount
 * answers it: lookup -ENOTDIR, getattr -ENOENT, readlink -EINVAL, readdir
 * -ENOTDIR, open -EISDIR, getxattr ENODATA, listxattr an empty list,
 * mkdir and rmdir -EROFS; opendir: nothing kept by the kernel.
 */
#ifndef OCB_FS_NS_H
#define OCB_FS_NS_H

#include "fs_ops.h"
#include "fs_tree.h"

#include <sys/stat.h>

struct ocb_buf;
struct fs_fh;
struct fs_dir;

/* how long the kernel keeps what a backup holds (immutable), and the
 * levels that change (root, instances, groups/) */
#define FS_NS_TTL_BACKUP 3600.0
#define FS_NS_TTL_LISTING 1.0

/* an inode, decoded once by the router (fs_tree_node) */
struct fs_ns_node {
	uint64_t ino;
	enum fs_node kind;
	uint32_t slot;		/* instance, backup, snapshot or group slot */
	uint32_t entry;		/* entry in the backup, file of the snapshot
				 * entry, member of the group */
};

struct fs_ns_ops {
	const char *name;	/* for messages */
	/*
	 * The child `name` of directory dir: 0 with *e filled (ino, attr,
	 * their timeouts; fs_ns_entry() does it from an inode), -ENOENT
	 * when there is no such name (the kernel keeps the miss for
	 * e->entry_timeout seconds, preset to FS_NS_TTL_LISTING; 0: not
	 * kept, answered as a plain ENOENT), -ENOTDIR when dir is no
	 * directory, or another error.
	 */
	int (*lookup)(struct fs_ctx *c, const struct fs_ns_node *dir,
		      const char *name, struct fuse_entry_param *e);
	/* Attributes of n, and how long the kernel may keep them (*ttl is
	 * preset to FS_NS_TTL_LISTING).  -ENOENT when n does not exist. */
	int (*getattr)(struct fs_ctx *c, const struct fs_ns_node *n,
		       struct stat *st, double *ttl);
	/* The target of link n, NUL included, appended to out.  -EINVAL
	 * when n is no link. */
	int (*readlink)(struct fs_ctx *c, const struct fs_ns_node *n,
			struct ocb_buf *out);
	/* Kernel caching flags for directory n being opened (fi). */
	void (*opendir)(struct fs_ctx *c, const struct fs_ns_node *n,
			struct fuse_file_info *fi);
	/* The entries of directory n from off (entries counted) into d by
	 * fs_dir_add*(), until one does not fit.  -ENOTDIR, -ENOENT. */
	int (*readdir)(struct fs_ctx *c, const struct fs_ns_node *n, off_t off,
		       struct fs_dir *d);
	/* Open file n read-only: 0 and *out, a new handle (fs_fh.h), with
	 * fi's caching flags set; -EISDIR for what is no regular file. */
	int (*open)(struct fs_ctx *c, const struct fs_ns_node *n,
		    struct fuse_file_info *fi, struct fs_fh **out);
	/* Read from handle h (opened by this namespace's open, so a
	 * namespace with open has read): replies the bytes itself and
	 * returns 0, or returns the error to reply. */
	int (*read)(fuse_req_t req, struct fs_ctx *c, struct fs_fh *h,
		    size_t size, off_t off);
	/* The value of extended attribute `name` (a user.* one) appended to
	 * out: 0, -ENODATA when n has none of that name. */
	int (*getxattr)(struct fs_ctx *c, const struct fs_ns_node *n,
			const char *name, struct ocb_buf *out);
	/* The names of n's extended attributes, each NUL-terminated. */
	int (*listxattr)(struct fs_ctx *c, const struct fs_ns_node *n,
			 struct ocb_buf *out);
	/* mkdir/rmdir of `name` in dir by user uid: for mkdir, 0 with *e
	 * filled as a lookup would (entry_timeout left 0). */
	int (*mkdir)(struct fs_ctx *c, const struct fs_ns_node *dir,
		     const char *name, uid_t uid, struct fuse_entry_param *e);
	int (*rmdir)(struct fs_ctx *c, const struct fs_ns_node *dir,
		     const char *name, uid_t uid);
};

extern const struct fs_ns_ops fs_ns_root;
extern const struct fs_ns_ops fs_ns_backup;
extern const struct fs_ns_ops fs_ns_snaps;
extern const struct fs_ns_ops fs_ns_groups;

/* The namespace of ino, with ino decoded into *n; an inode of no
 * namespace gets a table of NULL ops. */
const struct fs_ns_ops *fs_ns_route(uint64_t ino, struct fs_ns_node *n);

/* Attributes of any inode through its namespace (*ttl as getattr). */
int fs_ns_attr(struct fs_ctx *c, uint64_t ino, struct stat *st, double *ttl);
/* *e for inode ino, as lookups answer: attributes, entry_timeout equal to
 * attr_timeout.  Errors as fs_ns_attr, *e->entry_timeout untouched. */
int fs_ns_entry(struct fs_ctx *c, uint64_t ino, struct fuse_entry_param *e);

/* Attributes the namespaces share: a directory owned by the mount's user
 * with the newest backup's mtime; a regular file like it (mode S_IFREG |
 * perm, size); a link of the given target length. */
void fs_ns_attr_dir(struct fs_ctx *c, struct stat *st, uint64_t ino,
		    mode_t perm);
void fs_ns_attr_file(struct fs_ctx *c, struct stat *st, uint64_t ino,
		     mode_t perm, size_t size);
void fs_ns_attr_link(struct fs_ctx *c, struct stat *st, uint64_t ino,
		     size_t len);
/* The "latest" links of the tree (fs_tree_readlink): their attributes,
 * and their target as readlink gives it.  -ENOENT when there is none,
 * -EINVAL for an inode that is no such link. */
int fs_ns_attr_latest(struct fs_ctx *c, struct stat *st, uint64_t ino);
int fs_ns_readlink_latest(struct fs_ctx *c, uint64_t ino, struct ocb_buf *out);

/* A directory listing being filled for one readdir(plus) request: the
 * router sets it up and replies buf[0, pos). */
struct fs_dir {
	fuse_req_t req;
	struct fs_ctx *c;
	char *buf;
	size_t size, pos;
	int plus;		/* readdirplus: attributes with each name */
};

/*
 * fs_dir_add: an entry by inode (for readdirplus its attributes come
 * through fs_ns_attr); fs_dir_add_attr: with attributes at hand.  Both
 * return 1 once the reply is full (stop: the kernel asks again from
 * next), else 0.
 */
int fs_dir_add(struct fs_dir *d, const char *name, uint64_t ino, mode_t type,
	       off_t next);
int fs_dir_add_attr(struct fs_dir *d, const char *name,
		    const struct fuse_entry_param *e, off_t next);
/* fs_dir_add as a listing callback (fs_tree_dir_fn): arg is the fs_dir */
int fs_dir_add_cb(void *arg, const char *name, uint64_t ino, mode_t type,
		  off_t next);

#endif
