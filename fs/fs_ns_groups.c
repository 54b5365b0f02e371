/*
 * fs_ns_groups.c - groups/ as the mount shows it: one directory per group
 * backup manifest, holding manifest.json and one link per agent to that
 * agent's backup directory.  The manifests are fs_groups.c's; this file
 * answers the FUSE-facing operations on them, and checks a link against
 * the backup it names before following it.
 */
#include "fs_ns.h"
#include "buf.h"
#include "fs_fh.h"
#include "fs_groups.h"
#include "log.h"
#include "ocb_archive.h"

#include <errno.h>
#include <string.h>

static int groups_lookup(struct fs_ctx *c, const struct fs_ns_node *dir,
			 const char *name, struct fuse_entry_param *e)
{
	uint32_t slot = 0, m = 0;
	uint64_t ino;
	int r;

	if (dir->kind == FS_NODE_GROUPS) {
		r = c->groups ? fs_groups_lookup(c->groups, name, &slot) : -ENOENT;
		return r < 0 ? r : fs_ns_entry(c, fs_tree_group_ino(slot, 0), e);
	}
	if (dir->entry != 0)
		return -ENOTDIR;
	r = c->groups ? fs_groups_lookup_in(c->groups, dir->slot, name, &m) :
		-ENOENT;
	if (r < 0)
		return r;
	ino = fs_tree_group_ino(dir->slot, m);
	return ino ? fs_ns_entry(c, ino, e) : -ENOENT;
}

/* groups/<id>/: the directory, manifest.json, one link per agent */
static int group_attr(struct fs_ctx *c, const struct fs_ns_node *n,
		      struct stat *st)
{
	char target[512];
	struct ocb_buf b;

	if (!c->groups || fs_groups_exists(c->groups, n->slot, n->entry) < 0)
		return -ENOENT;
	if (n->entry == 0) {
		fs_ns_attr_dir(c, st, n->ino, 0555);
		return 0;
	}
	if (n->entry == 1) {
		ocb_buf_init(&b, 1 << 20);
		fs_groups_manifest(c->groups, n->slot, &b);
		fs_ns_attr_file(c, st, n->ino, 0444, b.len);
		ocb_buf_release(&b);
		return 0;
	}
	if (fs_groups_readlink(c->groups, n->slot, n->entry, target,
			       sizeof(target)) < 0)
		return -ENOENT;
	fs_ns_attr_link(c, st, n->ino, strlen(target));
	return 0;
}

static int groups_getattr(struct fs_ctx *c, const struct fs_ns_node *n,
			  struct stat *st, double *ttl)
{
	if (n->kind == FS_NODE_GROUP)
		return group_attr(c, n, st);
	if (!c->groups)
		return -ENOENT;
	fs_ns_attr_dir(c, st, n->ino, 0555);
	return 0;
}

/*
 * A link of groups/ID/ follows the manifest, anyone's word: when the
 * backup it names opens here and its catalog names another group (or
 * none), the link is EIO, as a backup that does not open.  One that does
 * not open (another agent's key) or is not listed keeps its link.
 */
static int group_link_check(struct fs_ctx *c, uint32_t gslot, uint32_t m)
{
	char id[72], inst[128], backup[256], e1[300], e2[300];
	uint32_t islot = 0, bslot = 0, ent = 0;
	uint64_t iino, bino, aid;
	struct ocb_archive *a;
	int r;

	if (fs_groups_member(c->groups, gslot, m, id, inst, backup) < 0)
		return -ENOENT;
	if (fs_tree_lookup_root(c->tree, inst, &iino) < 0 ||
	    fs_tree_node(iino, &islot, &ent) != FS_NODE_INST ||
	    fs_tree_lookup_inst(c->tree, islot, backup, &bino) < 0 ||
	    fs_tree_node(bino, &bslot, &ent) != FS_NODE_BACKUP)
		return 0;
	if (fs_tree_archive_get(c->tree, bslot, &a, &aid) < 0)
		return 0;	/* its directory says why (user.ocb.error) */
	r = strcmp(ocb_archive_info(a)->group, id) ? -EIO : 0;
	fs_tree_archive_put(c->tree, bslot);
	if (r < 0)
		ocb_warn("group %s: %s is not a backup of this group (its "
			 "catalog says otherwise): the manifest may be forged",
			 ocb_log_escape(e1, sizeof(e1), id),
			 ocb_log_escape(e2, sizeof(e2), backup));
	return r;
}

static int groups_readlink(struct fs_ctx *c, const struct fs_ns_node *n,
			   struct ocb_buf *out)
{
	char target[512];
	int r;

	if (n->kind != FS_NODE_GROUP || !c->groups)
		return -EINVAL;
	r = fs_groups_readlink(c->groups, n->slot, n->entry, target,
			       sizeof(target));
	if (r == 0)
		r = group_link_check(c, n->slot, n->entry);
	return r < 0 ? r : ocb_buf_append(out, target, strlen(target) + 1);
}

static int groups_list_add(void *arg, const char *name, uint32_t slot,
			   uint32_t m, off_t next)
{
	uint64_t ino = fs_tree_group_ino(slot, m);

	if (!ino)
		return 0;
	return fs_dir_add(arg, name, ino, m == 0 ? S_IFDIR : m == 1 ? S_IFREG :
			  S_IFLNK, next);
}

static int groups_readdir(struct fs_ctx *c, const struct fs_ns_node *n,
			  off_t off, struct fs_dir *d)
{
	if (n->kind == FS_NODE_GROUPS) {
		if (c->groups)
			fs_groups_list(c->groups, off, groups_list_add, d);
		return 0;
	}
	if (!c->groups || n->entry != 0 ||
	    fs_groups_exists(c->groups, n->slot, 0) < 0)
		return -ENOENT;
	fs_groups_list_in(c->groups, n->slot, off, groups_list_add, d);
	return 0;
}

/* manifest.json: its text is taken at open, read with direct I/O */
static int groups_open(struct fs_ctx *c, const struct fs_ns_node *n,
		       struct fuse_file_info *fi, struct fs_fh **out)
{
	struct fs_fh *h;
	int r;

	if (n->kind != FS_NODE_GROUP || !c->groups || n->entry != 1)
		return -EISDIR;
	h = fs_fh_new(FS_FH_TEXT);
	if (!h)
		return -ENOMEM;
	r = fs_groups_manifest(c->groups, n->slot, &h->u.text.buf);
	if (r < 0) {
		fs_fh_free(c, h);
		return r;
	}
	fi->direct_io = 1;
	*out = h;
	return 0;
}

const struct fs_ns_ops fs_ns_groups = {
	.name = "groups",
	.lookup = groups_lookup,
	.getattr = groups_getattr,
	.readlink = groups_readlink,
	.readdir = groups_readdir,
	.open = groups_open,
	.read = fs_fh_read_text,
};
