/*
 * fs_ns_snaps.c - snapshots/ as the mount shows it: `mkdir snapshots/now`
 * starts a backup, rmdir forgets (or cancels) one, and each entry's files
 * tell how it goes.  The entries and their backups are fs_snap.c's; this
 * file only answers the FUSE-facing operations on them.  Everything here
 * changes while a backup runs, so the kernel keeps nothing (ttl 0, direct
 * I/O, no negative entries), and everything is the mount owner's only,
 * also under allow_other: a snapshot's log holds hook output, which may
 * hold secrets.
 */
#include "fs_ns.h"
#include "buf.h"
#include "fs_fh.h"
#include "fs_snap.h"

#include <errno.h>
#include <string.h>

static int snaps_lookup(struct fs_ctx *c, const struct fs_ns_node *dir,
			const char *name, struct fuse_entry_param *e)
{
	uint32_t id = 0, f;
	uint64_t ino = 0;

	if (c->snap && dir->kind == FS_NODE_SNAPS) {
		if (fs_snap_lookup(c->snap, name, &id) == 0)
			ino = fs_tree_snap_ino(id, FS_SNAP_DIR);
	} else if (c->snap) {
		if (dir->entry != FS_SNAP_DIR)
			return -ENOTDIR;
		for (f = FS_SNAP_DIR + 1; f < FS_SNAP_NFILES; f++)
			if (!strcmp(name, fs_snap_file_name(f)))
				ino = fs_tree_snap_ino(dir->slot, f);
	}
	if (!ino) {
		/* an answer, not an error; entries come and go, so no
		 * negative entry for the kernel to keep */
		e->entry_timeout = 0;
		return -ENOENT;
	}
	return fs_ns_entry(c, ino, e);
}

/* snapshots/<entry> and its files */
static int snap_entry_attr(struct fs_ctx *c, const struct fs_ns_node *n,
			   struct stat *st)
{
	enum fs_snap_file f = n->entry;
	struct ocb_buf b;
	time_t started;
	int r;

	r = fs_snap_stat(c->snap, n->slot, f, &started);
	if (r < 0)
		return r;
	fs_ns_attr_dir(c, st, n->ino, 0500);
	if (f != FS_SNAP_DIR) {
		ocb_buf_init(&b, 1 << 20);
		if (f != FS_SNAP_WAIT)
			fs_snap_render(c->snap, n->slot, f, &b);
		st->st_mode = f == FS_SNAP_BACKUP ? S_IFLNK | 0777 :
			S_IFREG | 0400;
		st->st_nlink = 1;
		st->st_size = (off_t)b.len;
		ocb_buf_release(&b);
	}
	st->st_mtime = st->st_ctime = st->st_atime = started;
	return 0;
}

static int snaps_getattr(struct fs_ctx *c, const struct fs_ns_node *n,
			 struct stat *st, double *ttl)
{
	int r;

	if (!c->snap)
		return -ENOENT;
	if (n->kind == FS_NODE_SNAPS) {
		fs_ns_attr_dir(c, st, n->ino, 0700);
		*ttl = 0;
		return 0;
	}
	r = snap_entry_attr(c, n, st);
	if (r == 0)
		*ttl = 0;
	return r;
}

/* snapshots/<entry>/backup: the new backup, once stored */
static int snaps_readlink(struct fs_ctx *c, const struct fs_ns_node *n,
			  struct ocb_buf *out)
{
	struct ocb_buf b;
	int r;

	if (n->kind != FS_NODE_SNAP || !c->snap)
		return -EINVAL;
	ocb_buf_init(&b, 512);
	r = fs_snap_render(c->snap, n->slot, n->entry, &b);
	if (r == 0 && ocb_buf_append(&b, "", 1) == 0)
		r = ocb_buf_append(out, b.data, b.len);
	else if (r == 0)
		r = -EINVAL;
	ocb_buf_release(&b);
	return r;
}

static int snaps_list_add(void *arg, const char *name, uint32_t id,
			  off_t next)
{
	return fs_dir_add(arg, name, fs_tree_snap_ino(id, FS_SNAP_DIR), S_IFDIR,
			  next);
}

/* the files of an entry that exist now (the backup link once done) */
static int snap_entry_list(struct fs_ctx *c, const struct fs_ns_node *n,
			   off_t off, struct fs_dir *d)
{
	time_t t;
	uint32_t f;

	if (fs_snap_stat(c->snap, n->slot, FS_SNAP_DIR, &t) < 0)
		return -ENOENT;
	for (f = (uint32_t)off + 1; f < FS_SNAP_NFILES; f++)
		if (fs_snap_stat(c->snap, n->slot, f, &t) == 0 &&
		    fs_dir_add(d, fs_snap_file_name(f),
			       fs_tree_snap_ino(n->slot, f),
			       f == FS_SNAP_BACKUP ? S_IFLNK : S_IFREG, (off_t)f))
			break;
	return 0;
}

static int snaps_readdir(struct fs_ctx *c, const struct fs_ns_node *n,
			 off_t off, struct fs_dir *d)
{
	if (n->kind == FS_NODE_SNAPS) {
		if (c->snap)
			fs_snap_list(c->snap, off, snaps_list_add, d);
		return 0;
	}
	return c->snap ? snap_entry_list(c, n, off, d) : -ENOENT;
}

/* an entry's text files: made at open (wait: by its first read) */
static int snaps_open(struct fs_ctx *c, const struct fs_ns_node *n,
		      struct fuse_file_info *fi, struct fs_fh **out)
{
	int is_wait = n->entry == FS_SNAP_WAIT;
	struct fs_fh *h;
	time_t t;
	int r;

	if (n->kind != FS_NODE_SNAP || !c->snap || n->entry == FS_SNAP_DIR ||
	    n->entry == FS_SNAP_BACKUP)
		return -EISDIR;
	h = fs_fh_new(is_wait ? FS_FH_SNAP_WAIT : FS_FH_SNAP_FILE);
	if (!h)
		return -ENOMEM;
	h->u.text.snap_id = n->slot;
	h->u.text.snap_file = n->entry;
	if (is_wait)
		r = fs_snap_stat(c->snap, n->slot, FS_SNAP_DIR, &t);
	else
		r = fs_snap_render(c->snap, n->slot, n->entry, &h->u.text.buf);
	if (r < 0) {
		fs_fh_free(c, h);
		return r;
	}
	fi->direct_io = 1;
	*out = h;
	return 0;
}

struct wait_intr {
	struct fs_snap *snap;
	int flag;
};

static void wait_interrupted(fuse_req_t req, void *arg)
{
	struct wait_intr *wi = arg;

	fs_snap_interrupt(wi->snap, &wi->flag);
}

/*
 * A read at offset 0 renders the file again, so an open file can be read
 * over and over as the backup goes on.  The first read of `wait` blocks
 * until the backup ends (or the reader is interrupted: EINTR), then has
 * the final status.
 */
static int snap_refill(fuse_req_t req, struct fs_ctx *c, struct fs_fh *h)
{
	struct wait_intr wi = { .snap = c->snap };
	struct fs_fh_text *t = &h->u.text;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (h->kind == FS_FH_SNAP_WAIT && !t->buf.len) {
		fuse_req_interrupt_func(req, wait_interrupted, &wi);
		r = fs_snap_wait(c->snap, t->snap_id, &wi.flag, &t->buf);
		fuse_req_interrupt_func(req, NULL, NULL);
	} else if (h->kind == FS_FH_SNAP_FILE) {
		ocb_buf_reset(&t->buf);
		r = fs_snap_render(c->snap, t->snap_id, t->snap_file, &t->buf);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int snaps_read(fuse_req_t req, struct fs_ctx *c, struct fs_fh *h,
		      size_t size, off_t off)
{
	int r;

	if (h->kind == FS_FH_SNAP_WAIT || off == 0) {
		r = snap_refill(req, c, h);
		if (r < 0)
			return r;
	}
	return fs_fh_read_text(req, c, h, size, off);
}

/* Only the mount's owner and root start or cancel backups, and only in
 * snapshots/ itself. */
static int snaps_control(struct fs_ctx *c, const struct fs_ns_node *dir,
			 uid_t uid)
{
	if (!c->snap || dir->kind != FS_NODE_SNAPS)
		return -EROFS;
	if (uid != 0 && uid != c->uid)
		return -EACCES;
	return 0;
}

static int snaps_mkdir(struct fs_ctx *c, const struct fs_ns_node *dir,
		       const char *name, uid_t uid, struct fuse_entry_param *e)
{
	uint32_t id = 0;
	int r = snaps_control(c, dir, uid);

	if (r == 0)
		r = fs_snap_start(c->snap, name, &id);
	if (r < 0)
		return r;
	e->ino = fs_tree_snap_ino(id, FS_SNAP_DIR);
	return fs_ns_attr(c, e->ino, &e->attr, &e->attr_timeout);
}

static int snaps_rmdir(struct fs_ctx *c, const struct fs_ns_node *dir,
		       const char *name, uid_t uid)
{
	int r = snaps_control(c, dir, uid);

	return r < 0 ? r : fs_snap_remove(c->snap, name);
}

const struct fs_ns_ops fs_ns_snaps = {
	.name = "snapshots",
	.lookup = snaps_lookup,
	.getattr = snaps_getattr,
	.readlink = snaps_readlink,
	.readdir = snaps_readdir,
	.open = snaps_open,
	.read = snaps_read,
	.mkdir = snaps_mkdir,
	.rmdir = snaps_rmdir,
};
