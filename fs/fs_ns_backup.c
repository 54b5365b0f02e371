/*
 * fs_ns_backup.c - instances and their backups: an instance directory
 * lists its backups and a "latest" link; a backup directory is the
 * read-only tree of its archive, opened on first use (fs_tree.c) and
 * read through the frame cache.  Backups are immutable, so entries and
 * attributes inside them are cached by the kernel for an hour and file
 * pages are kept across opens; instance directories change and get one
 * second.  Extended attributes: the entry's user.* ones as backed up,
 * and user.ocb.* facts (hash, capture flags, and on a backup's own
 * directory what the backup is, or why it does not open).
 */
#include "fs_ns.h"
#include "buf.h"
#include "crypto.h"
#include "frame_cache.h"
#include "fs_fh.h"
#include "fs_stats.h"
#include "ocb_archive.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define READ_MAX (4u << 20)

/* attributes of entry idx of the archive of backup slot */
static void entry_attr(struct fs_ctx *c, const struct ocb_entry *e,
		       uint32_t slot, uint32_t idx, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = fs_tree_backup_ino(slot, e->ino);
	st->st_mode = e->mode;
	st->st_nlink = e->nlink ? e->nlink : 1;
	st->st_uid = idx == OCB_ROOT ? c->uid : e->uid;
	st->st_gid = idx == OCB_ROOT ? c->gid : e->gid;
	st->st_size = (off_t)e->size;
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	st->st_blksize = 1 << 20;
	st->st_mtim.tv_sec = e->mtime;
	st->st_mtim.tv_nsec = e->mtime_nsec;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	if (e->type == OCB_ENTRY_CHR || e->type == OCB_ENTRY_BLK)
		st->st_rdev = 0;
}

/* *e for entry idx, as lookups and readdirplus give it */
static void entry_param(struct fs_ctx *c, const struct ocb_entry *ent,
			uint32_t slot, uint32_t idx,
			struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	entry_attr(c, ent, slot, idx, &e->attr);
	e->ino = e->attr.st_ino;
	e->attr_timeout = e->entry_timeout = FS_NS_TTL_BACKUP;
}

static int backup_lookup(struct fs_ctx *c, const struct fs_ns_node *dir,
			 const char *name, struct fuse_entry_param *e)
{
	struct ocb_archive *a;
	uint64_t aid, ino = 0;
	uint32_t child;
	int r;

	if (dir->kind == FS_NODE_INST) {
		r = fs_tree_lookup_inst(c->tree, dir->slot, name, &ino);
		return r < 0 ? r : fs_ns_entry(c, ino, e);
	}
	if (dir->kind != FS_NODE_BACKUP)
		return -ENOTDIR;
	r = fs_tree_archive_get(c->tree, dir->slot, &a, &aid);
	if (r < 0)
		return r;
	r = ocb_archive_lookup(a, dir->entry, name, &child);
	if (r == 0)
		entry_param(c, ocb_archive_entry(a, child), dir->slot, child, e);
	fs_tree_archive_put(c->tree, dir->slot);
	return r;
}

/* inside a backup: its own directory from the listing (no I/O), every
 * other entry from its catalog */
static int backup_entry_attr(struct fs_ctx *c, const struct fs_ns_node *n,
			     struct stat *st, double *ttl)
{
	struct ocb_backup_ref ref;
	struct ocb_archive *a;
	uint64_t aid;
	int r;

	if (n->entry == OCB_ROOT) {
		r = fs_tree_backup_ref(c->tree, n->slot, &ref);
		if (r < 0)
			return r;
		fs_ns_attr_dir(c, st, n->ino, 0555);
		st->st_mtime = st->st_ctime = st->st_atime = ref.mtime;
		*ttl = FS_NS_TTL_BACKUP;
		return 0;
	}
	r = fs_tree_archive_get(c->tree, n->slot, &a, &aid);
	if (r < 0)
		return r;
	if (n->entry >= ocb_archive_count(a)) {
		r = -ENOENT;
	} else {
		entry_attr(c, ocb_archive_entry(a, n->entry), n->slot, n->entry,
			   st);
		*ttl = FS_NS_TTL_BACKUP;
	}
	fs_tree_archive_put(c->tree, n->slot);
	return r;
}

static int backup_getattr(struct fs_ctx *c, const struct fs_ns_node *n,
			  struct stat *st, double *ttl)
{
	if (n->kind == FS_NODE_BACKUP)
		return backup_entry_attr(c, n, st, ttl);
	if (n->kind == FS_NODE_INST) {
		fs_ns_attr_dir(c, st, n->ino, 0555);
		return 0;
	}
	return fs_ns_attr_latest(c, st, n->ino);
}

/* a symlink in a backup, or an instance's "latest" */
static int backup_readlink(struct fs_ctx *c, const struct fs_ns_node *n,
			   struct ocb_buf *out)
{
	const struct ocb_entry *e;
	struct ocb_archive *a;
	uint64_t aid;
	int r;

	if (n->kind != FS_NODE_BACKUP)
		return fs_ns_readlink_latest(c, n->ino, out);
	r = fs_tree_archive_get(c->tree, n->slot, &a, &aid);
	if (r < 0)
		return r;
	e = ocb_archive_entry(a, n->entry);
	if (e && e->target)
		r = ocb_buf_append(out, e->target, strlen(e->target) + 1);
	else
		r = -EINVAL;
	fs_tree_archive_put(c->tree, n->slot);
	return r;
}

/* a backup's directories never change: let the kernel keep them */
static void backup_opendir(struct fs_ctx *c, const struct fs_ns_node *n,
			   struct fuse_file_info *fi)
{
	if (n->kind == FS_NODE_BACKUP) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
}

/* the children of a directory inside a backup, from the k-th on */
static int backup_list_dir(struct fs_ctx *c, const struct fs_ns_node *n,
			   off_t off, struct fs_dir *d)
{
	const struct ocb_entry *dir, *ce;
	struct fuse_entry_param e;
	struct ocb_archive *a;
	uint64_t aid;
	uint32_t k, ci;
	int r;

	r = fs_tree_archive_get(c->tree, n->slot, &a, &aid);
	if (r < 0)
		return r;
	dir = ocb_archive_entry(a, n->entry);
	if (!dir || dir->type != OCB_ENTRY_DIR) {
		r = -ENOTDIR;
		goto out;
	}
	for (k = (uint32_t)off; k < dir->nchildren; k++) {
		ci = dir->first_child + k;
		ce = ocb_archive_entry(a, ci);
		entry_param(c, ce, n->slot, ci, &e);
		if (fs_dir_add_attr(d, ce->name, &e, (off_t)k + 1))
			break;
	}
out:
	fs_tree_archive_put(c->tree, n->slot);
	return r;
}

static int backup_readdir(struct fs_ctx *c, const struct fs_ns_node *n,
			  off_t off, struct fs_dir *d)
{
	if (n->kind == FS_NODE_INST)
		return fs_tree_list_inst(c->tree, n->slot, off, fs_dir_add_cb, d);
	if (n->kind == FS_NODE_BACKUP)
		return backup_list_dir(c, n, off, d);
	return -ENOTDIR;
}

/* a regular file in a backup: its pages are kept across opens */
static int backup_open(struct fs_ctx *c, const struct fs_ns_node *n,
		       struct fuse_file_info *fi, struct fs_fh **out)
{
	const struct ocb_entry *e;
	struct ocb_archive *a;
	struct fs_fh *h;
	uint64_t aid;
	int r;

	if (n->kind != FS_NODE_BACKUP)
		return -EISDIR;
	r = fs_tree_archive_get(c->tree, n->slot, &a, &aid);
	if (r < 0)
		return r;
	e = ocb_archive_entry(a, n->entry);
	h = e && e->type == OCB_ENTRY_FILE ? fs_fh_new(FS_FH_BACKUP_FILE) : NULL;
	if (!h) {
		fs_tree_archive_put(c->tree, n->slot);
		return e && e->type == OCB_ENTRY_FILE ? -ENOMEM : -EISDIR;
	}
	h->u.file.slot = n->slot;
	h->u.file.entry = n->entry;
	h->u.file.a = a;
	h->u.file.aid = aid;
	fi->keep_cache = 1;
	*out = h;
	return 0;
}

/* the read's bytes go to the kernel straight from the cached frames,
 * counted before the reader can see them */
struct reply_arg {
	fuse_req_t req;
	struct fs_stats *st;
	int replied;
};

static int reply_iov(void *arg, const struct iovec *iov, int n)
{
	struct reply_arg *ra = arg;
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	fs_stats_read_bytes(ra->st, len);
	ra->replied = 1;
	fuse_reply_iov(ra->req, iov, n);
	return 0;
}

static int backup_read(fuse_req_t req, struct fs_ctx *c, struct fs_fh *h,
		       size_t size, off_t off)
{
	struct fs_fh_backup_file *f = &h->u.file;
	struct reply_arg ra = { req, c->st, 0 };
	uint32_t window;
	ssize_t n;

	if (size > READ_MAX)
		size = READ_MAX;
	/* the sequence state is per open file and reads of one file run in
	 * parallel: step it before this read blocks, so that the kernel's
	 * concurrent read-ahead requests each see the others (a copy put
	 * back after the read lost steps and reset the window) */
	pthread_mutex_lock(&h->lock);
	window = ocb_read_state_step(&f->rs, (uint64_t)off, size);
	pthread_mutex_unlock(&h->lock);
	n = ocb_frame_cache_read_iov(c->fc, f->a, f->aid, f->entry, size,
				     (uint64_t)off, window, reply_iov, &ra);
	if (n >= 0 && !ra.replied)	/* at or past the end */
		fuse_reply_buf(req, NULL, 0);
	return n < 0 ? (int)n : 0;
}

/* ---- extended attributes -------------------------------------------------------- */

/* each (name, value) of an entry's xattr list goes through one of these */
typedef int (*xattr_fn)(void *arg, const char *name, const void *value,
			size_t len);

/* how the backup captured an entry (docs/FORMAT.md): the flags as a
 * number, and in words */
static int entry_flag_xattrs(uint32_t flags, xattr_fn cb, void *arg)
{
	const char *snap = NULL, *warn = NULL;
	char v[16];
	int r;

	snprintf(v, sizeof(v), "%" PRIu32, flags);
	r = cb(arg, "user.ocb.flags", v, strlen(v));
	if (flags & OCB_ENTRY_SQLITE_SNAPSHOT)
		snap = "sqlite";
	if (flags & OCB_ENTRY_SQLITE_RAW) {
		snap = "failed";
		warn = "SQLite snapshot failed, copied raw";
	}
	if (flags & OCB_ENTRY_TORN)
		warn = warn ? "SQLite snapshot failed, copied raw; changed "
			"while read" : "changed while read";
	if (r == 0 && snap)
		r = cb(arg, "user.ocb.snapshot", snap, strlen(snap));
	if (r == 0 && warn)
		r = cb(arg, "user.ocb.warning", warn, strlen(warn));
	return r;
}

/* what a backup's own directory tells of the backup */
static int backup_info_xattrs(const struct ocb_archive_info *in, xattr_fn cb,
			      void *arg)
{
	int encrypted = strcmp(in->key_provider, "none") != 0;
	char v[64];
	int r;

	snprintf(v, sizeof(v), "%" PRId64, in->created);
	r = cb(arg, "user.ocb.created", v, strlen(v));
	if (r == 0)
		r = cb(arg, "user.ocb.host", in->host, strlen(in->host));
	if (r == 0)
		r = cb(arg, "user.ocb.instance", in->instance,
		       strlen(in->instance));
	if (r == 0)
		r = cb(arg, "user.ocb.key_provider", in->key_provider,
		       strlen(in->key_provider));
	if (r == 0)
		r = cb(arg, "user.ocb.encryption",
		       encrypted ? "aes-256-gcm" : "none", encrypted ? 11 : 4);
	snprintf(v, sizeof(v), "%u", in->format_version);
	if (r == 0)
		r = cb(arg, "user.ocb.format_version", v, strlen(v));
	/* format 2 authenticates where the backup belongs (name, prefix,
	 * time); format 1 and old-tool backups do not */
	if (r == 0)
		r = cb(arg, "user.ocb.bound", in->bound ? "yes" : "no",
		       in->bound ? 3 : 2);
	if (r == 0)
		r = cb(arg, "user.ocb.label", in->label, strlen(in->label));
	snprintf(v, sizeof(v), "%u", in->warnings);
	if (r == 0)
		r = cb(arg, "user.ocb.warnings", v, strlen(v));
	/* what this object stores, the whole backup (an incremental one
	 * reads the rest from the backups it builds on), the one it builds
	 * on ("" for a full backup) and how many since the last full one */
	snprintf(v, sizeof(v), "%" PRIu64, in->stored_size);
	if (r == 0)
		r = cb(arg, "user.ocb.new_bytes", v, strlen(v));
	snprintf(v, sizeof(v), "%" PRIu64, in->stream_size);
	if (r == 0)
		r = cb(arg, "user.ocb.total_bytes", v, strlen(v));
	if (r == 0)
		r = cb(arg, "user.ocb.base", in->base, strlen(in->base));
	snprintf(v, sizeof(v), "%u", in->depth);
	if (r == 0)
		r = cb(arg, "user.ocb.depth", v, strlen(v));
	return r;
}

/* every xattr of a node inside a backup, in listing order; the value of
 * user.ocb.sha256 only when sha (its bytes are read on first need:
 * listings and other names do not cost a request) */
static int each_xattr(struct fs_ctx *c, const struct fs_ns_node *n,
		      int sha, xattr_fn cb, void *arg)
{
	const struct ocb_entry *e;
	struct ocb_archive *a;
	uint64_t aid;
	uint32_t i;
	int r;

	if (n->kind != FS_NODE_BACKUP)
		return 0;
	r = fs_tree_archive_get(c->tree, n->slot, &a, &aid);
	if (r < 0 && n->entry == OCB_ROOT) {
		/* the directory of a backup that does not open says why */
		const char *why = ocb_archive_strerror(r);

		return cb(arg, "user.ocb.error", why, strlen(why));
	}
	if (r < 0)
		return r;
	e = ocb_archive_entry(a, n->entry);
	for (i = 0; e && i < e->nxattrs && r == 0; i++) {
		const struct ocb_xattr *x = ocb_archive_xattr(a, e->xattr_first + i);

		if (strncmp(x->name, "user.", 5) == 0)
			r = cb(arg, x->name, x->value, x->len);
	}
	/* old backups carry no hashes */
	if (r == 0 && e && e->type == OCB_ENTRY_FILE &&
	    !ocb_archive_is_legacy(a)) {
		char hex[65] = "";

		if (sha)
			r = ocb_archive_details(a);
		if (r == 0 && sha)
			ocb_crypto_hex(e->sha256, 32, hex);
		if (r == 0)
			r = cb(arg, "user.ocb.sha256", hex, strlen(hex));
	}
	if (r == 0 && e && e->flags)
		r = entry_flag_xattrs(e->flags, cb, arg);
	if (r == 0 && n->entry == OCB_ROOT)
		r = backup_info_xattrs(ocb_archive_info(a), cb, arg);
	fs_tree_archive_put(c->tree, n->slot);
	return r;
}

struct xattr_get {
	const char *name;
	struct ocb_buf *out;
	int found;
};

static int xattr_get_one(void *arg, const char *name, const void *value,
			 size_t len)
{
	struct xattr_get *g = arg;

	if (strcmp(name, g->name))
		return 0;
	g->found = 1;
	return ocb_buf_append(g->out, value, len);
}

static int backup_getxattr(struct fs_ctx *c, const struct fs_ns_node *n,
			   const char *name, struct ocb_buf *out)
{
	struct xattr_get g = { .name = name, .out = out };
	int r;

	/* a backup's own directory has only user.ocb.*: no need to open
	 * the archive for the others */
	if (n->kind == FS_NODE_BACKUP && n->entry == OCB_ROOT &&
	    strncmp(name, "user.ocb.", 9) != 0)
		return -ENODATA;
	r = each_xattr(c, n, !strcmp(name, "user.ocb.sha256"), xattr_get_one,
		       &g);
	if (r < 0)
		return r;
	return g.found ? 0 : -ENODATA;
}

static int xattr_list_one(void *arg, const char *name, const void *value,
			  size_t len)
{
	return ocb_buf_append(arg, name, strlen(name) + 1);
}

static int backup_listxattr(struct fs_ctx *c, const struct fs_ns_node *n,
			    struct ocb_buf *out)
{
	return each_xattr(c, n, 0, xattr_list_one, out);
}

const struct fs_ns_ops fs_ns_backup = {
	.name = "backup",
	.lookup = backup_lookup,
	.getattr = backup_getattr,
	.readlink = backup_readlink,
	.opendir = backup_opendir,
	.readdir = backup_readdir,
	.open = backup_open,
	.read = backup_read,
	.getxattr = backup_getxattr,
	.listxattr = backup_listxattr,
};
