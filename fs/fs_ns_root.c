/*
 * fs_ns_root.c - the root of the mount and the mount's own control
 * files: the "latest" link to the configured instance's newest backup,
 * .ocbfs/ and .ocbfs/stats (the counters, made at open).  What the root
 * lists (instances, groups/, snapshots/) belongs to the other
 * namespaces; fs_tree.c keeps the listing.
 */
#include "fs_ns.h"
#include "buf.h"
#include "fs_fh.h"

#include <errno.h>
#include <string.h>

static int root_lookup(struct fs_ctx *c, const struct fs_ns_node *dir,
		       const char *name, struct fuse_entry_param *e)
{
	uint64_t ino = 0;
	int r;

	if (dir->kind == FS_NODE_ROOT) {
		r = fs_tree_lookup_root(c->tree, name, &ino);
	} else if (dir->kind == FS_NODE_CTL) {
		ino = FS_INO_STATS;
		r = strcmp(name, "stats") ? -ENOENT : 0;
	} else {
		r = -ENOTDIR;
	}
	return r < 0 ? r : fs_ns_entry(c, ino, e);
}

static int root_getattr(struct fs_ctx *c, const struct fs_ns_node *n,
			struct stat *st, double *ttl)
{
	switch (n->kind) {
	case FS_NODE_ROOT:
		fs_ns_attr_dir(c, st, n->ino, 0555);
		return 0;
	case FS_NODE_CTL:
		fs_ns_attr_dir(c, st, n->ino, 0500);
		return 0;
	case FS_NODE_STATS:
		fs_ns_attr_file(c, st, n->ino, 0400, 0);
		return 0;
	default:	/* FS_NODE_LATEST */
		return fs_ns_attr_latest(c, st, n->ino);
	}
}

/* "latest"; the others are no links (-EINVAL) */
static int root_readlink(struct fs_ctx *c, const struct fs_ns_node *n,
			 struct ocb_buf *out)
{
	return fs_ns_readlink_latest(c, n->ino, out);
}

static int root_readdir(struct fs_ctx *c, const struct fs_ns_node *n,
			off_t off, struct fs_dir *d)
{
	if (n->kind == FS_NODE_ROOT)
		return fs_tree_list_root(c->tree, off, fs_dir_add_cb, d);
	if (n->kind != FS_NODE_CTL)
		return -ENOTDIR;
	if (off == 0)
		fs_dir_add(d, "stats", FS_INO_STATS, S_IFREG, 1);
	return 0;
}

/* the stats file: its text is made at open, read with direct I/O */
static int root_open(struct fs_ctx *c, const struct fs_ns_node *n,
		     struct fuse_file_info *fi, struct fs_fh **out)
{
	struct fs_fh *h;

	if (n->kind != FS_NODE_STATS)
		return -EISDIR;
	h = fs_fh_new(FS_FH_TEXT);
	if (!h)
		return -ENOMEM;
	c->stats(c, &h->u.text.buf);
	fi->direct_io = 1;
	*out = h;
	return 0;
}

const struct fs_ns_ops fs_ns_root = {
	.name = "root",
	.lookup = root_lookup,
	.getattr = root_getattr,
	.readlink = root_readlink,
	.readdir = root_readdir,
	.open = root_open,
	.read = fs_fh_read_text,
};
