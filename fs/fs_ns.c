/*
 * fs_ns.c - which namespace an inode belongs to (the one place that
 * decides), and what the namespaces share: attributes of the mount's own
 * nodes and the filling of directory listings.
 */
#include "fs_ns.h"
#include "buf.h"

#include <errno.h>
#include <string.h>

/* inodes of no namespace: every op is the router's default */
static const struct fs_ns_ops fs_ns_none = { .name = "none" };

const struct fs_ns_ops *fs_ns_route(uint64_t ino, struct fs_ns_node *n)
{
	memset(n, 0, sizeof(*n));
	n->ino = ino;
	n->kind = fs_tree_node(ino, &n->slot, &n->entry);
	switch (n->kind) {
	case FS_NODE_ROOT:
	case FS_NODE_LATEST:
	case FS_NODE_CTL:
	case FS_NODE_STATS:
		return &fs_ns_root;
	case FS_NODE_INST:
	case FS_NODE_INST_LATEST:
	case FS_NODE_BACKUP:
		return &fs_ns_backup;
	case FS_NODE_SNAPS:
	case FS_NODE_SNAP:
		return &fs_ns_snaps;
	case FS_NODE_GROUPS:
	case FS_NODE_GROUP:
		return &fs_ns_groups;
	default:
		return &fs_ns_none;
	}
}

int fs_ns_attr(struct fs_ctx *c, uint64_t ino, struct stat *st, double *ttl)
{
	struct fs_ns_node n;
	const struct fs_ns_ops *ns = fs_ns_route(ino, &n);

	*ttl = FS_NS_TTL_LISTING;
	if (!ns->getattr)
		return -ENOENT;
	return ns->getattr(c, &n, st, ttl);
}

int fs_ns_entry(struct fs_ctx *c, uint64_t ino, struct fuse_entry_param *e)
{
	int r = fs_ns_attr(c, ino, &e->attr, &e->attr_timeout);

	if (r < 0)
		return r;
	e->ino = ino;
	e->entry_timeout = e->attr_timeout;
	return 0;
}

void fs_ns_attr_dir(struct fs_ctx *c, struct stat *st, uint64_t ino,
		    mode_t perm)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | perm;
	st->st_nlink = 2;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_mtime = fs_tree_mtime(c->tree);
	if (!st->st_mtime)
		st->st_mtime = c->started;
	st->st_ctime = st->st_atime = st->st_mtime;
	st->st_blksize = 4096;
}

void fs_ns_attr_file(struct fs_ctx *c, struct stat *st, uint64_t ino,
		     mode_t perm, size_t size)
{
	fs_ns_attr_dir(c, st, ino, 0);
	st->st_mode = S_IFREG | perm;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
}

void fs_ns_attr_link(struct fs_ctx *c, struct stat *st, uint64_t ino,
		     size_t len)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_size = (off_t)len;
	st->st_mtime = fs_tree_mtime(c->tree);
}

int fs_ns_attr_latest(struct fs_ctx *c, struct stat *st, uint64_t ino)
{
	char target[512];
	int r = fs_tree_readlink(c->tree, ino, target, sizeof(target));

	if (r < 0)
		return r;
	fs_ns_attr_link(c, st, ino, strlen(target));
	return 0;
}

int fs_ns_readlink_latest(struct fs_ctx *c, uint64_t ino, struct ocb_buf *out)
{
	char target[512];
	int r = fs_tree_readlink(c->tree, ino, target, sizeof(target));

	return r < 0 ? r : ocb_buf_append(out, target, strlen(target) + 1);
}

/* ---- directory listings ------------------------------------------------------ */

int fs_dir_add_attr(struct fs_dir *d, const char *name,
		    const struct fuse_entry_param *e, off_t next)
{
	size_t need;

	if (d->plus) {
		need = fuse_add_direntry_plus(d->req, d->buf + d->pos,
					      d->size - d->pos, name, e, next);
	} else {
		struct stat st = {
			.st_ino = e->attr.st_ino,
			.st_mode = e->attr.st_mode,
		};

		need = fuse_add_direntry(d->req, d->buf + d->pos,
					 d->size - d->pos, name, &st, next);
	}
	if (need > d->size - d->pos)
		return 1;	/* full: the kernel asks again from next */
	d->pos += need;
	return 0;
}

int fs_dir_add(struct fs_dir *d, const char *name, uint64_t ino, mode_t type,
	       off_t next)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	if (d->plus && fs_ns_attr(d->c, ino, &e.attr, &e.attr_timeout) == 0) {
		e.ino = ino;
		e.entry_timeout = e.attr_timeout;
	} else {
		/* without attributes (or none to give): ino and type only */
		e.attr.st_ino = ino;
		e.attr.st_mode = type;
	}
	return fs_dir_add_attr(d, name, &e, next);
}

int fs_dir_add_cb(void *arg, const char *name, uint64_t ino, mode_t type,
		  off_t next)
{
	return fs_dir_add(arg, name, ino, type, next);
}
