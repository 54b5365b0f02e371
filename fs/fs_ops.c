/*
 * fs_ops.c - the libfuse low-level operations of ocbfs.
 *
 * Everything below the mountpoint is read-only (EROFS).  Backups are
 * immutable, so entries and attributes inside them are cached by the
 * kernel for an hour and file pages are kept across opens; the listing
 * levels (root, instances) change and get one second.
 * Errors become replies in one place: reply_err(), which also counts them
 * (fs_stats).  ENODATA and ERANGE of the xattr protocol are answers, not
 * errors, and go straight out.
 */
#include "fs_ops.h"
#include "buf.h"
#include "crypto.h"
#include "frame_cache.h"
#include "fs_groups.h"
#include "fs_snap.h"
#include "fs_stats.h"
#include "fs_tree.h"
#include "log.h"
#include "ocb_archive.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TTL_BACKUP 3600.0
#define TTL_LISTING 1.0
#define READ_MAX (4u << 20)

struct fh {
	struct fh *prev, *next;	/* open handles, freed at exit if the
				 * kernel never sent their release */
	int is_stats;		/* content in stats: .ocbfs/stats and the
				 * files of snapshots/<entry>/ */
	int is_snap;		/* a file of snapshots/<entry>/: rendered
				 * again by each read at offset 0 */
	int is_wait;		/* snapshots/<entry>/wait: stats filled by
				 * the first read, once the backup ended */
	uint32_t snap_id, snap_file;
	uint32_t slot, entry;
	struct ocb_archive *a;
	uint64_t aid;
	struct ocb_read_state rs;
	pthread_mutex_t lock;	/* rs */
	struct ocb_buf stats;
};

static struct fs_ctx *ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fh_track(struct fs_ctx *c, struct fh *h)
{
	pthread_mutex_lock(&c->fh_lock);
	h->next = c->open_fh;
	h->prev = NULL;
	if (c->open_fh)
		((struct fh *)c->open_fh)->prev = h;
	c->open_fh = h;
	pthread_mutex_unlock(&c->fh_lock);
}

static void fh_untrack(struct fs_ctx *c, struct fh *h)
{
	pthread_mutex_lock(&c->fh_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		c->open_fh = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&c->fh_lock);
}

static void fh_free(struct fs_ctx *c, struct fh *h)
{
	if (h->is_stats)
		ocb_buf_release(&h->stats);
	else
		fs_tree_archive_put(c->tree, h->slot);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void op_destroy(void *userdata)
{
	struct fs_ctx *c = userdata;

	while (c->open_fh) {
		struct fh *h = c->open_fh;

		fh_untrack(c, h);
		fh_free(c, h);
	}
}

/* the one translation of errors into replies */
static void reply_err(fuse_req_t req, int err)
{
	int e = err < 0 ? -err : err;

	switch (e) {
	case EBADMSG:		/* verification failed: never wrong bytes */
	case EPROTO:
	case ECONNRESET:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case EAGAIN:
	case EFBIG:
		e = EIO;
		break;
	case ENOKEY:
		e = EACCES;
		break;
	default:
		break;
	}
	fs_stats_error(ctx_of(req)->st, e);
	fuse_reply_err(req, e);
}

static void attr_dir(struct fs_ctx *c, struct stat *st, uint64_t ino,
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

static void attr_entry(struct fs_ctx *c, const struct ocb_entry *e,
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

static void attr_link(struct fs_ctx *c, struct stat *st, uint64_t ino,
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

/* snapshots/<entry> and its files: they change, so the kernel keeps
 * nothing (ttl 0, direct I/O) */
static int snap_attr(struct fs_ctx *c, uint64_t ino, uint32_t id,
		     uint32_t f, struct stat *st, double *ttl)
{
	struct ocb_buf b;
	time_t started;
	int r;

	if (!c->snap)
		return -ENOENT;
	r = fs_snap_stat(c->snap, id, f, &started);
	if (r < 0)
		return r;
	*ttl = 0;
	/* the owner's only, also under allow_other: a snapshot's log holds
	 * hook output, which may hold secrets */
	attr_dir(c, st, ino, 0500);
	if (f != FS_SNAP_DIR) {
		ocb_buf_init(&b, 1 << 20);
		if (f != FS_SNAP_WAIT)
			fs_snap_render(c->snap, id, f, &b);
		st->st_mode = f == FS_SNAP_BACKUP ? S_IFLNK | 0777 :
			S_IFREG | 0400;
		st->st_nlink = 1;
		st->st_size = (off_t)b.len;
		ocb_buf_release(&b);
	}
	st->st_mtime = st->st_ctime = st->st_atime = started;
	return 0;
}

/* groups/<id>/: the directory, manifest.json, one link per agent */
static int group_attr(struct fs_ctx *c, uint64_t ino, uint32_t slot,
		      uint32_t m, struct stat *st)
{
	char target[512];
	struct ocb_buf b;

	if (!c->groups || fs_groups_exists(c->groups, slot, m) < 0)
		return -ENOENT;
	if (m == 0) {
		attr_dir(c, st, ino, 0555);
		return 0;
	}
	if (m == 1) {
		ocb_buf_init(&b, 1 << 20);
		fs_groups_manifest(c->groups, slot, &b);
		attr_dir(c, st, ino, 0);
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)b.len;
		ocb_buf_release(&b);
		return 0;
	}
	if (fs_groups_readlink(c->groups, slot, m, target, sizeof(target)) < 0)
		return -ENOENT;
	attr_link(c, st, ino, strlen(target));
	return 0;
}

/* attributes of any inode, and how long the kernel may keep them */
static int get_attr(struct fs_ctx *c, uint64_t ino, struct stat *st,
		    double *ttl)
{
	uint32_t slot = 0, entry = 0;
	char target[512];
	int r;

	*ttl = TTL_LISTING;
	switch (fs_tree_node(ino, &slot, &entry)) {
	case FS_NODE_ROOT:
		attr_dir(c, st, ino, 0555);
		return 0;
	case FS_NODE_CTL:
		attr_dir(c, st, ino, 0500);
		return 0;
	case FS_NODE_STATS:
		attr_dir(c, st, ino, 0);
		st->st_mode = S_IFREG | 0400;
		st->st_nlink = 1;
		return 0;
	case FS_NODE_INST:
		attr_dir(c, st, ino, 0555);
		return 0;
	case FS_NODE_LATEST:
	case FS_NODE_INST_LATEST:
		r = fs_tree_readlink(c->tree, ino, target, sizeof(target));
		if (r < 0)
			return r;
		attr_link(c, st, ino, strlen(target));
		return 0;
	case FS_NODE_BACKUP: {
		struct ocb_archive *a;
		uint64_t aid;

		if (entry == OCB_ROOT) {
			/* a backup's own directory: from the listing, no I/O */
			struct ocb_backup_ref ref;

			r = fs_tree_backup_ref(c->tree, slot, &ref);
			if (r < 0)
				return r;
			attr_dir(c, st, ino, 0555);
			st->st_mtime = st->st_ctime = st->st_atime = ref.mtime;
			*ttl = TTL_BACKUP;
			return 0;
		}
		r = fs_tree_archive_get(c->tree, slot, &a, &aid);
		if (r < 0)
			return r;
		if (entry >= ocb_archive_count(a)) {
			r = -ENOENT;
		} else {
			attr_entry(c, ocb_archive_entry(a, entry), slot, entry, st);
			*ttl = TTL_BACKUP;
		}
		fs_tree_archive_put(c->tree, slot);
		return r;
	}
	case FS_NODE_SNAPS:
		if (!c->snap)
			return -ENOENT;
		attr_dir(c, st, ino, 0700);
		*ttl = 0;
		return 0;
	case FS_NODE_SNAP:
		return snap_attr(c, ino, slot, entry, st, ttl);
	case FS_NODE_GROUPS:
		if (!c->groups)
			return -ENOENT;
		attr_dir(c, st, ino, 0555);
		return 0;
	case FS_NODE_GROUP:
		return group_attr(c, ino, slot, entry, st);
	default:
		return -ENOENT;
	}
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs_ctx *c = userdata;

	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* attributes with every listing: ls -l and find -size make no
	 * lookups (measured: 3-4x faster ls -lR, the common browse) */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	conn->max_readahead = 1 << 20;
	c->init_done(c);
}

static int snap_lookup(struct fs_ctx *c, uint64_t parent, const char *name,
		       uint64_t *ino)
{
	uint32_t id = 0, f = 0;
	int r = -ENOENT;

	if (!c->snap)
		return -ENOENT;
	if (fs_tree_node(parent, &id, &f) == FS_NODE_SNAPS) {
		r = fs_snap_lookup(c->snap, name, &id);
		*ino = r == 0 ? fs_tree_snap_ino(id, FS_SNAP_DIR) : 0;
		return *ino ? 0 : -ENOENT;
	}
	if (f != FS_SNAP_DIR)
		return -ENOTDIR;
	for (f = FS_SNAP_DIR + 1; f < FS_SNAP_NFILES; f++)
		if (!strcmp(name, fs_snap_file_name(f))) {
			*ino = fs_tree_snap_ino(id, f);
			r = 0;
		}
	return r;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *c = ctx_of(req);
	struct fuse_entry_param e;
	uint32_t slot = 0, entry = 0;
	uint64_t ino = 0;
	int r;

	fs_stats_op(c->st, FS_STATS_LOOKUP);
	memset(&e, 0, sizeof(e));
	switch (fs_tree_node(parent, &slot, &entry)) {
	case FS_NODE_ROOT:
		r = fs_tree_lookup_root(c->tree, name, &ino);
		break;
	case FS_NODE_CTL:
		r = strcmp(name, "stats") ? -ENOENT : 0;
		ino = FS_INO_STATS;
		break;
	case FS_NODE_INST:
		r = fs_tree_lookup_inst(c->tree, slot, name, &ino);
		break;
	case FS_NODE_GROUPS:
		r = c->groups ? fs_groups_lookup(c->groups, name, &slot) : -ENOENT;
		ino = r == 0 ? fs_tree_group_ino(slot, 0) : 0;
		break;
	case FS_NODE_GROUP: {
		uint32_t m = 0;

		r = entry != 0 ? -ENOTDIR : c->groups ?
			fs_groups_lookup_in(c->groups, slot, name, &m) : -ENOENT;
		ino = r == 0 ? fs_tree_group_ino(slot, m) : 0;
		if (r == 0 && !ino)
			r = -ENOENT;
		break;
	}
	case FS_NODE_SNAPS:
	case FS_NODE_SNAP:
		r = snap_lookup(c, parent, name, &ino);
		if (r == -ENOENT) {
			/* an answer, not an error; entries come and go, so
			 * no negative entry for the kernel to keep */
			fuse_reply_err(req, ENOENT);
			return;
		}
		if (r < 0) {
			reply_err(req, r);
			return;
		}
		break;
	case FS_NODE_BACKUP: {
		struct ocb_archive *a;
		uint64_t aid;
		uint32_t child;

		r = fs_tree_archive_get(c->tree, slot, &a, &aid);
		if (r < 0)
			break;
		r = ocb_archive_lookup(a, entry, name, &child);
		if (r == 0) {
			attr_entry(c, ocb_archive_entry(a, child), slot, child,
				   &e.attr);
			e.ino = e.attr.st_ino;
			e.attr_timeout = e.entry_timeout = TTL_BACKUP;
		}
		fs_tree_archive_put(c->tree, slot);
		if (r < 0)
			break;
		fuse_reply_entry(req, &e);
		return;
	}
	default:
		r = -ENOTDIR;
	}
	if (r == 0)
		r = get_attr(c, ino, &e.attr, &e.attr_timeout);
	if (r < 0) {
		if (r == -ENOENT) {
			/* a negative entry, cached briefly */
			e.ino = 0;
			e.entry_timeout = TTL_LISTING;
			fuse_reply_entry(req, &e);
			return;
		}
		reply_err(req, r);
		return;
	}
	e.ino = ino;
	e.entry_timeout = e.attr_timeout;
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx_of(req);
	struct stat st;
	double ttl;
	int r;

	fs_stats_op(c->st, FS_STATS_GETATTR);
	r = get_attr(c, ino, &st, &ttl);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_attr(req, &st, ttl);
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

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_ctx *c = ctx_of(req);
	uint32_t slot = 0, entry = 0;
	char target[512];
	int r;

	fs_stats_op(c->st, FS_STATS_READLINK);
	if (fs_tree_node(ino, &slot, &entry) == FS_NODE_BACKUP) {
		struct ocb_archive *a;
		const struct ocb_entry *e;
		uint64_t aid;

		r = fs_tree_archive_get(c->tree, slot, &a, &aid);
		if (r < 0) {
			reply_err(req, r);
			return;
		}
		e = ocb_archive_entry(a, entry);
		if (e && e->target)
			fuse_reply_readlink(req, e->target);
		else
			reply_err(req, -EINVAL);
		fs_tree_archive_put(c->tree, slot);
		return;
	}
	if (fs_tree_node(ino, &slot, &entry) == FS_NODE_GROUP && c->groups) {
		r = fs_groups_readlink(c->groups, slot, entry, target,
				       sizeof(target));
		if (r == 0)
			r = group_link_check(c, slot, entry);
		if (r < 0)
			reply_err(req, r);
		else
			fuse_reply_readlink(req, target);
		return;
	}
	if (fs_tree_node(ino, &slot, &entry) == FS_NODE_SNAP && c->snap) {
		struct ocb_buf b;

		ocb_buf_init(&b, sizeof(target));
		r = fs_snap_render(c->snap, slot, entry, &b);
		if (r == 0 && ocb_buf_append(&b, "", 1) == 0)
			fuse_reply_readlink(req, b.data);
		else
			reply_err(req, r < 0 ? r : -EINVAL);
		ocb_buf_release(&b);
		return;
	}
	r = fs_tree_readlink(c->tree, ino, target, sizeof(target));
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_readlink(req, target);
}

/* ---- directories --------------------------------------------------------------- */

struct dirbuf {
	fuse_req_t req;
	struct fs_ctx *c;
	char *buf;
	size_t size, pos;
	int plus;
};

static int dir_add(void *arg, const char *name, uint64_t ino, mode_t type,
		   off_t next)
{
	struct dirbuf *d = arg;
	size_t need;

	if (d->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		if (get_attr(d->c, ino, &e.attr, &e.attr_timeout) < 0) {
			e.attr.st_ino = ino;
			e.attr.st_mode = type;
		} else {
			e.ino = ino;
			e.entry_timeout = e.attr_timeout;
		}
		need = fuse_add_direntry_plus(d->req, d->buf + d->pos,
					      d->size - d->pos, name, &e, next);
	} else {
		struct stat st = { .st_ino = ino, .st_mode = type };

		need = fuse_add_direntry(d->req, d->buf + d->pos,
					 d->size - d->pos, name, &st, next);
	}
	if (need > d->size - d->pos)
		return 1;	/* full: the kernel asks again from next */
	d->pos += need;
	return 0;
}

static int group_dir_add(void *arg, const char *name, uint32_t slot,
			 uint32_t m, off_t next)
{
	uint64_t ino = fs_tree_group_ino(slot, m);

	if (!ino)
		return 0;
	return dir_add(arg, name, ino, m == 0 ? S_IFDIR : m == 1 ? S_IFREG :
		       S_IFLNK, next);
}

static int snap_dir_add(void *arg, const char *name, uint32_t id, off_t next)
{
	return dir_add(arg, name, fs_tree_snap_ino(id, FS_SNAP_DIR), S_IFDIR,
		       next);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       int plus)
{
	struct fs_ctx *c = ctx_of(req);
	struct dirbuf d = { .req = req, .c = c, .size = size, .plus = plus };
	uint32_t slot = 0, entry = 0;
	int r = 0;

	fs_stats_op(c->st, FS_STATS_READDIR);
	if (size > (1u << 20))
		size = d.size = 1u << 20;
	d.buf = malloc(size);
	if (!d.buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	switch (fs_tree_node(ino, &slot, &entry)) {
	case FS_NODE_ROOT:
		r = fs_tree_list_root(c->tree, off, dir_add, &d);
		break;
	case FS_NODE_CTL:
		if (off == 0)
			dir_add(&d, "stats", FS_INO_STATS, S_IFREG, 1);
		break;
	case FS_NODE_INST:
		r = fs_tree_list_inst(c->tree, slot, off, dir_add, &d);
		break;
	case FS_NODE_SNAPS:
		if (c->snap)
			fs_snap_list(c->snap, off, snap_dir_add, &d);
		break;
	case FS_NODE_GROUPS:
		if (c->groups)
			fs_groups_list(c->groups, off, group_dir_add, &d);
		break;
	case FS_NODE_GROUP:
		if (!c->groups || entry != 0 ||
		    fs_groups_exists(c->groups, slot, 0) < 0)
			r = -ENOENT;
		else
			fs_groups_list_in(c->groups, slot, off, group_dir_add, &d);
		break;
	case FS_NODE_SNAP: {
		time_t t;
		uint32_t f;

		if (!c->snap || fs_snap_stat(c->snap, slot, FS_SNAP_DIR, &t) < 0) {
			r = -ENOENT;
			break;
		}
		for (f = (uint32_t)off + 1; f < FS_SNAP_NFILES; f++)
			if (fs_snap_stat(c->snap, slot, f, &t) == 0 &&
			    dir_add(&d, fs_snap_file_name(f),
				    fs_tree_snap_ino(slot, f), f == FS_SNAP_BACKUP ?
				    S_IFLNK : S_IFREG, (off_t)f))
				break;
		break;
	}
	case FS_NODE_BACKUP: {
		struct ocb_archive *a;
		const struct ocb_entry *dir;
		uint64_t aid;
		uint32_t k;

		r = fs_tree_archive_get(c->tree, slot, &a, &aid);
		if (r < 0)
			break;
		dir = ocb_archive_entry(a, entry);
		if (!dir || dir->type != OCB_ENTRY_DIR) {
			r = -ENOTDIR;
		} else {
			for (k = (uint32_t)off; k < dir->nchildren; k++) {
				uint32_t ci = dir->first_child + k;
				const struct ocb_entry *ce = ocb_archive_entry(a, ci);
				int full;

				if (plus) {
					struct fuse_entry_param e;
					size_t need;

					memset(&e, 0, sizeof(e));
					attr_entry(c, ce, slot, ci, &e.attr);
					e.ino = e.attr.st_ino;
					e.attr_timeout = e.entry_timeout =
						TTL_BACKUP;
					need = fuse_add_direntry_plus(req,
						d.buf + d.pos, d.size - d.pos,
						ce->name, &e, (off_t)k + 1);
					full = need > d.size - d.pos;
					if (!full)
						d.pos += need;
				} else {
					struct stat st = {
						.st_ino = fs_tree_backup_ino(slot, ce->ino),
						.st_mode = ce->mode,
					};
					size_t need = fuse_add_direntry(req,
						d.buf + d.pos, d.size - d.pos,
						ce->name, &st, (off_t)k + 1);

					full = need > d.size - d.pos;
					if (!full)
						d.pos += need;
				}
				if (full)
					break;
			}
		}
		fs_tree_archive_put(c->tree, slot);
		break;
	}
	default:
		r = -ENOTDIR;
	}
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, 1);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	uint32_t slot = 0, entry = 0;

	/* a backup's directories never change: let the kernel keep them */
	if (fs_tree_node(ino, &slot, &entry) == FS_NODE_BACKUP) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/* ---- files --------------------------------------------------------------------- */

/* the end of opening a file whose content is text in h->stats (the stats
 * file, manifests, snapshot files): direct I/O, nothing cached */
static void open_text(fuse_req_t req, struct fs_ctx *c, struct fh *h,
		      struct fuse_file_info *fi, int r)
{
	if (r < 0) {
		fh_free(c, h);
		reply_err(req, r);
		return;
	}
	fi->direct_io = 1;
	fi->fh = (uintptr_t)h;
	fh_track(c, h);
	fuse_reply_open(req, fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx_of(req);
	uint32_t slot = 0, entry = 0;
	enum fs_node k = fs_tree_node(ino, &slot, &entry);
	struct fh *h;
	int r;

	fs_stats_op(c->st, FS_STATS_OPEN);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		reply_err(req, -EROFS);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		reply_err(req, -ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	if (k == FS_NODE_STATS) {
		h->is_stats = 1;
		ocb_buf_init(&h->stats, 1 << 20);
		c->stats(c, &h->stats);
		open_text(req, c, h, fi, 0);
		return;
	}
	if (k == FS_NODE_GROUP && c->groups && entry == 1) {
		h->is_stats = 1;
		ocb_buf_init(&h->stats, 1 << 20);
		r = fs_groups_manifest(c->groups, slot, &h->stats);
		open_text(req, c, h, fi, r);
		return;
	}
	if (k == FS_NODE_SNAP && c->snap && entry != FS_SNAP_DIR &&
	    entry != FS_SNAP_BACKUP) {
		h->is_stats = 1;
		ocb_buf_init(&h->stats, 1 << 20);
		h->is_snap = 1;
		h->snap_id = slot;
		h->snap_file = entry;
		if (entry == FS_SNAP_WAIT) {
			time_t t;

			h->is_wait = 1;
			r = fs_snap_stat(c->snap, slot, FS_SNAP_DIR, &t);
		} else {
			r = fs_snap_render(c->snap, slot, entry, &h->stats);
		}
		open_text(req, c, h, fi, r);
		return;
	}
	if (k != FS_NODE_BACKUP) {
		free(h);
		reply_err(req, -EISDIR);
		return;
	}
	r = fs_tree_archive_get(c->tree, slot, &h->a, &h->aid);
	if (r < 0) {
		free(h);
		reply_err(req, r);
		return;
	}
	if (!ocb_archive_entry(h->a, entry) ||
	    ocb_archive_entry(h->a, entry)->type != OCB_ENTRY_FILE) {
		fs_tree_archive_put(c->tree, slot);
		free(h);
		reply_err(req, -EISDIR);
		return;
	}
	h->slot = slot;
	h->entry = entry;
	fi->keep_cache = 1;
	fi->fh = (uintptr_t)h;
	fh_track(c, h);
	fuse_reply_open(req, fi);
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
 * Files of snapshots/<entry>/: a read at offset 0 renders the file again,
 * so an open file can be read over and over as the backup goes on.  The
 * first read of `wait` blocks until the backup ends (or the reader is
 * interrupted: EINTR), then has the final status.
 */
static int snap_read(fuse_req_t req, struct fs_ctx *c, struct fh *h)
{
	struct wait_intr wi = { .snap = c->snap };
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (h->is_wait && !h->stats.len) {
		fuse_req_interrupt_func(req, wait_interrupted, &wi);
		r = fs_snap_wait(c->snap, h->snap_id, &wi.flag, &h->stats);
		fuse_req_interrupt_func(req, NULL, NULL);
	} else if (!h->is_wait) {
		ocb_buf_reset(&h->stats);
		r = fs_snap_render(c->snap, h->snap_id, h->snap_file, &h->stats);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx_of(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	uint32_t window;
	char *buf;
	ssize_t n;

	fs_stats_op(c->st, FS_STATS_READ);
	if (h->is_wait || (h->is_snap && off == 0)) {
		int r = snap_read(req, c, h);

		if (r < 0) {
			reply_err(req, r);
			return;
		}
	}
	if (h->is_stats) {
		/* reply from a copy: once the kernel has the reply, the reader
		 * may close and the release free h->stats while this thread is
		 * still returning from the write to /dev/fuse */
		size_t len = h->stats.len, part = 0;
		char *copy;

		if ((size_t)off < len)
			part = len - (size_t)off < size ? len - (size_t)off : size;
		copy = malloc(part ? part : 1);
		if (!copy) {
			reply_err(req, -ENOMEM);
			return;
		}
		if (part)
			memcpy(copy, h->stats.data + off, part);
		fuse_reply_buf(req, copy, part);
		free(copy);
		return;
	}
	if (size > READ_MAX)
		size = READ_MAX;
	buf = malloc(size ? size : 1);
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	/* the sequence state is per open file and reads of one file run in
	 * parallel: step it before this read blocks, so that the kernel's
	 * concurrent read-ahead requests each see the others (a copy put
	 * back after the read lost steps and reset the window) */
	pthread_mutex_lock(&h->lock);
	window = ocb_read_state_step(&h->rs, (uint64_t)off, size);
	pthread_mutex_unlock(&h->lock);
	n = ocb_frame_cache_pread_ahead(c->fc, h->a, h->aid, h->entry, buf,
					size, (uint64_t)off, window);
	if (n < 0) {
		reply_err(req, (int)n);
	} else {
		fs_stats_read_bytes(c->st, (size_t)n);
		fuse_reply_buf(req, buf, (size_t)n);
	}
	free(buf);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_ctx *c = ctx_of(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	fh_untrack(c, h);
	fh_free(c, h);
	fuse_reply_err(req, 0);
}

/* ---- extended attributes ---------------------------------------------------------- */

/* build the xattr list of ino into names/values (callback per pair) */
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

static int each_xattr(struct fs_ctx *c, fuse_ino_t ino, xattr_fn cb, void *arg)
{
	uint32_t slot = 0, entry = 0;
	struct ocb_archive *a;
	const struct ocb_entry *e;
	uint64_t aid;
	uint32_t i;
	int r;

	if (fs_tree_node(ino, &slot, &entry) != FS_NODE_BACKUP)
		return 0;
	r = fs_tree_archive_get(c->tree, slot, &a, &aid);
	if (r < 0 && entry == OCB_ROOT) {
		/* the directory of a backup that does not open says why */
		const char *why = ocb_archive_strerror(r);

		return cb(arg, "user.ocb.error", why, strlen(why));
	}
	if (r < 0)
		return r;
	e = ocb_archive_entry(a, entry);
	for (i = 0; e && i < e->nxattrs && r == 0; i++) {
		const struct ocb_xattr *x = ocb_archive_xattr(a, e->xattr_first + i);

		if (strncmp(x->name, "user.", 5) == 0)
			r = cb(arg, x->name, x->value, x->len);
	}
	/* old backups carry no hashes */
	if (r == 0 && e && e->type == OCB_ENTRY_FILE &&
	    !ocb_archive_is_legacy(a)) {
		char hex[65];

		ocb_crypto_hex(e->sha256, 32, hex);
		r = cb(arg, "user.ocb.sha256", hex, 64);
	}
	if (r == 0 && e && e->flags)
		r = entry_flag_xattrs(e->flags, cb, arg);
	if (r == 0 && entry == OCB_ROOT) {
		const struct ocb_archive_info *in = ocb_archive_info(a);
		char v[64];

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
			       strcmp(in->key_provider, "none") ?
			       "aes-256-gcm" : "none",
			       strcmp(in->key_provider, "none") ? 11 : 4);
		snprintf(v, sizeof(v), "%u", in->format_version);
		if (r == 0)
			r = cb(arg, "user.ocb.format_version", v, strlen(v));
		/* format 2 authenticates where the backup belongs (name,
		 * prefix, time); format 1 and old-tool backups do not */
		if (r == 0)
			r = cb(arg, "user.ocb.bound", in->bound ? "yes" : "no",
			       in->bound ? 3 : 2);
		if (r == 0)
			r = cb(arg, "user.ocb.label", in->label, strlen(in->label));
		snprintf(v, sizeof(v), "%u", in->warnings);
		if (r == 0)
			r = cb(arg, "user.ocb.warnings", v, strlen(v));
	}
	fs_tree_archive_put(c->tree, slot);
	return r;
}

struct xget {
	const char *name;
	struct ocb_buf *out;
	int found;
};

static int xget_fn(void *arg, const char *name, const void *value, size_t len)
{
	struct xget *g = arg;

	if (strcmp(name, g->name))
		return 0;
	g->found = 1;
	return ocb_buf_append(g->out, value, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct ocb_buf b;
	struct xget g = { .name = name, .out = &b };
	uint32_t slot = 0, entry = 0;
	int r;

	fs_stats_op(ctx_of(req)->st, FS_STATS_XATTR);
	/* only the user.* namespace exists here (security labels and ACLs
	 * of the source machine mean nothing): the others are "not
	 * supported".  ls -l asks every file for security.selinux and its
	 * ACLs, and stops asking on a device that does not support them:
	 * measured, ls -lR of 200,000 entries from 10 s to ~1.4 s.  (The
	 * kernel does not enforce ACLs here: no FUSE_CAP_POSIX_ACL.) */
	if (strncmp(name, "user.", 5) != 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fs_tree_node(ino, &slot, &entry) == FS_NODE_BACKUP &&
	    entry == OCB_ROOT && strncmp(name, "user.ocb.", 9) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	ocb_buf_init(&b, 1 << 20);
	r = each_xattr(ctx_of(req), ino, xget_fn, &g);
	if (r < 0)
		reply_err(req, r);
	else if (!g.found)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b.data ? b.data : "", b.len);
	ocb_buf_release(&b);
}

static int xlist_fn(void *arg, const char *name, const void *value, size_t len)
{
	return ocb_buf_append(arg, name, strlen(name) + 1);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ocb_buf b;
	int r;

	fs_stats_op(ctx_of(req)->st, FS_STATS_XATTR);
	ocb_buf_init(&b, 1 << 20);
	r = each_xattr(ctx_of(req), ino, xlist_fn, &b);
	if (r < 0)
		reply_err(req, r);
	else if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b.data ? b.data : "", b.len);
	ocb_buf_release(&b);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	uint64_t backups, bytes;

	/* df shows what the store holds: stored bytes as used blocks, none
	 * free; backups as files */
	fs_tree_totals(ctx_of(req)->tree, &backups, &bytes);
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_blocks = (bytes + 4095) / 4096;
	st.f_files = backups;
	st.f_namemax = 255;
	st.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

/* ---- everything that would change something: read-only ------------------------------ */

/*
 * mkdir is where snapshots will hook in: a later "snapshots/" directory in
 * the root takes mkdir of a name there as "make a backup now".  Until then
 * (and everywhere else, always) it is refused like every other change.
 */
static void rofs_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
		       dev_t d)
{
	reply_err(req, -EROFS);
}

static void rofs_name(fuse_req_t req, fuse_ino_t p, const char *n)
{
	reply_err(req, -EROFS);
}

/* ---- snapshots/: mkdir starts a backup, rmdir forgets or cancels one ---------- */

/* Only the mount's owner and root start or cancel backups. */
static int snap_control(fuse_req_t req, fuse_ino_t parent)
{
	struct fs_ctx *c = ctx_of(req);
	const struct fuse_ctx *who = fuse_req_ctx(req);
	uint32_t slot = 0, entry = 0;

	if (!c->snap || fs_tree_node(parent, &slot, &entry) != FS_NODE_SNAPS)
		return -EROFS;
	if (who->uid != 0 && who->uid != c->uid)
		return -EACCES;
	return 0;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs_ctx *c = ctx_of(req);
	struct fuse_entry_param e;
	uint32_t id = 0;
	int r;

	memset(&e, 0, sizeof(e));
	r = snap_control(req, parent);
	if (r == 0)
		r = fs_snap_start(c->snap, name, &id);
	if (r == 0) {
		e.ino = fs_tree_snap_ino(id, FS_SNAP_DIR);
		r = get_attr(c, e.ino, &e.attr, &e.attr_timeout);
	}
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *c = ctx_of(req);
	int r = snap_control(req, parent);

	if (r == 0)
		r = fs_snap_remove(c->snap, name);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_err(req, 0);
}

static void rofs_symlink(fuse_req_t req, const char *l, fuse_ino_t p,
			 const char *n)
{
	reply_err(req, -EROFS);
}

static void rofs_rename(fuse_req_t req, fuse_ino_t p, const char *n,
			fuse_ino_t np, const char *nn, unsigned int f)
{
	reply_err(req, -EROFS);
}

static void rofs_link(fuse_req_t req, fuse_ino_t i, fuse_ino_t np,
		      const char *nn)
{
	reply_err(req, -EROFS);
}

static void rofs_setattr(fuse_req_t req, fuse_ino_t i, struct stat *a, int s,
			 struct fuse_file_info *fi)
{
	reply_err(req, -EROFS);
}

static void rofs_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
			struct fuse_file_info *fi)
{
	reply_err(req, -EROFS);
}

static void rofs_setxattr(fuse_req_t req, fuse_ino_t i, const char *n,
			  const char *v, size_t s, int f)
{
	reply_err(req, -EROFS);
}

static void rofs_removexattr(fuse_req_t req, fuse_ino_t i, const char *n)
{
	reply_err(req, -EROFS);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.opendir = op_opendir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
	.mkdir = op_mkdir,
	.mknod = rofs_mknod,
	.unlink = rofs_name,
	.rmdir = op_rmdir,
	.symlink = rofs_symlink,
	.rename = rofs_rename,
	.link = rofs_link,
	.setattr = rofs_setattr,
	.create = rofs_create,
	.setxattr = rofs_setxattr,
	.removexattr = rofs_removexattr,
};
