/*
 * restore.c - write a backup (or part of it) back to disk.
 *
 * The verified tar stream (ocb_archive_cat; for some paths only the runs
 * of it that hold them) is fed through a pipe to
 * libarchive's reader, and each selected entry is created below the
 * target by restore_disk.c (fd-relative, never through a symlink), file
 * content hashed on the way and put in place only when it matches the
 * catalog.  Memory stays bounded: the stream is never held whole.
 *
 * Small files of a native backup are read whole from the stream and
 * handed to worker threads (restore_pool.c) that hash, write and rename
 * them while this thread goes on parsing: a tree of many small files is
 * restored at the pace of the stream, not of one file's system calls
 * after another's.  Larger files are written here, as they arrive.
 */
#include "restore.h"
#include "fileio.h"
#include "restore_disk_i.h"
#include "restore_pool_i.h"
#include "log.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

struct range {
	uint64_t off, end;
};

struct feeder {
	struct ocb_archive *a;
	int fd;
	int err;
	struct range *r;	/* NULL: the whole stream */
	size_t nr;
};

static int pipe_sink(void *arg, const void *data, size_t len)
{
	struct feeder *f = arg;

	return ocb_fileio_write_all(f->fd, data, len);
}

static void *feed(void *arg)
{
	struct feeder *f = arg;
	static const char eof[1024];	/* the tar end: two zero blocks */
	size_t i;

	if (!f->r) {
		f->err = ocb_archive_cat(f->a, pipe_sink, f);
	} else {
		for (i = 0; i < f->nr && !f->err; i++)
			f->err = ocb_archive_cat_range(f->a, f->r[i].off,
						       f->r[i].end - f->r[i].off,
						       pipe_sink, f);
		if (!f->err)
			f->err = pipe_sink(f, eof, sizeof(eof));
	}
	close(f->fd);	/* the reader sees the end (or a short stream) */
	return NULL;
}

/*
 * The catalog's details (the files' SHA-256s) of an archive opened
 * without them (OCB_ARCHIVE_LAZY_DETAILS) are read beside the stream's
 * first requests, not one round trip before them; the entry loop waits
 * for them (details_wait()) before it reads any entry's hash.
 */
struct details {
	struct ocb_archive *a;
	pthread_t th;
	int started;
	int err;
};

static void *details_load(void *arg)
{
	struct details *d = arg;

	d->err = ocb_archive_details(d->a);
	return NULL;
}

static void details_start(struct details *d)
{
	d->started = pthread_create(&d->th, NULL, details_load, d) == 0;
}

/* 0 once the details are read (here, when no thread could start), or
 * the error reading them */
static int details_wait(struct details *d)
{
	if (!d->started)
		return ocb_archive_details(d->a);
	pthread_join(d->th, NULL);
	d->started = 0;
	return d->err;
}

/*
 * Where the selected subtrees lie in the tar stream.  The writer puts a
 * directory's entries right after it, so a subtree is one contiguous run:
 * from the end of the entry before it in the stream (where its own
 * headers start) to the end of its last entry's padded data.  Entries in
 * stream order are entries sorted by data_off; only a first link of a
 * regular file has data in the stream.
 */
struct spot {
	uint64_t off;		/* data_off */
	uint64_t end;		/* end of its 512-byte padded data */
};

static int spot_cmp(const void *x, const void *y)
{
	const struct spot *a = x, *b = y;

	return a->off < b->off ? -1 : a->off > b->off;
}

static int range_cmp(const void *x, const void *y)
{
	const struct range *a = x, *b = y;

	return a->off < b->off ? -1 : a->off > b->off;
}

/* a second (third...) link of a regular file: the catalog gives it its
 * first link's data_off, not the place of its own header in the stream */
static int is_extra_link(const struct ocb_entry *e, uint32_t idx)
{
	return e->type == OCB_ENTRY_FILE && e->ino != idx;
}

/* the largest data_off in the subtree of idx (extra links left out) */
static uint64_t last_off(struct ocb_archive *a, uint32_t idx)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	uint64_t m = is_extra_link(e, idx) ? 0 : e->data_off;
	uint32_t k;

	for (k = 0; e->type == OCB_ENTRY_DIR && k < e->nchildren; k++) {
		uint64_t c = last_off(a, e->first_child + k);

		if (c > m)
			m = c;
	}
	return m;
}

/* the index in sorted spots of the entry whose data_off is off */
static size_t spot_at(const struct spot *v, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int subtree_ranges(struct ocb_archive *a, const char *const *paths,
			  size_t npaths, struct range **out, size_t *nout)
{
	uint32_t i, n = ocb_archive_count(a);
	struct spot *v = calloc(n ? n : 1, sizeof(*v));
	struct range *r = calloc(npaths ? npaths : 1, sizeof(*r));
	size_t nv = 0, nr = 0, k;

	if (!v || !r) {
		free(v);
		free(r);
		return -ENOMEM;
	}
	for (i = 1; i < n; i++) {	/* the root is not in the stream */
		const struct ocb_entry *e = ocb_archive_entry(a, i);
		uint64_t size = e->type == OCB_ENTRY_FILE ? e->size : 0;

		if (is_extra_link(e, i))
			continue;	/* restored from the catalog if missed */

		v[nv].off = e->data_off;
		v[nv].end = e->data_off + (size + 511) / 512 * 512;
		nv++;
	}
	qsort(v, nv, sizeof(*v), spot_cmp);
	for (k = 0; k < npaths; k++) {
		uint32_t idx;
		size_t at;

		if (ocb_archive_resolve(a, paths[k], &idx) < 0 || idx == OCB_ROOT ||
		    is_extra_link(ocb_archive_entry(a, idx), idx))
			continue;	/* not there, or from the catalog */
		at = spot_at(v, nv, ocb_archive_entry(a, idx)->data_off);
		r[nr].off = at ? v[at - 1].end : 0;
		at = spot_at(v, nv, last_off(a, idx));
		r[nr].end = at < nv ? v[at].end : 0;
		if (r[nr].end > r[nr].off)
			nr++;
	}
	free(v);
	/* sorted, nested or overlapping runs merged */
	qsort(r, nr, sizeof(*r), range_cmp);
	for (k = 0, i = 0; k < nr; k++) {
		if (i && r[k].off <= r[i - 1].end) {
			if (r[k].end > r[i - 1].end)
				r[i - 1].end = r[k].end;
		} else {
			r[i++] = r[k];
		}
	}
	*out = r;
	*nout = i;
	return 0;
}

/* the stream offset of byte pos of what f feeds (its ranges one after
 * the other) */
static uint64_t fed_offset(const struct feeder *f, uint64_t pos)
{
	size_t i;

	for (i = 0; f->r && i < f->nr; i++) {
		if (pos < f->r[i].end - f->r[i].off)
			return f->r[i].off + pos;
		pos -= f->r[i].end - f->r[i].off;
	}
	return pos;
}

/*
 * An earlier copy of a file that changed while the backup read it and was
 * stored again later in the stream (docs/FORMAT.md): its data is not where
 * the catalog's entry idx says.  in: just past the member's header.
 */
static int superseded(struct ocb_archive *a, const struct feeder *f,
		      uint32_t idx, struct archive *in)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);

	return e->type == OCB_ENTRY_FILE && e->ino == idx &&
		fed_offset(f, (uint64_t)archive_filter_bytes(in, 0)) !=
		e->data_off;
}

/* is rel selected by the filters (a path or anything below it)? */
static int selected(const struct ocb_restore_opts *o, const char *rel)
{
	size_t i;

	if (!o->npaths)
		return 1;
	for (i = 0; i < o->npaths; i++) {
		const char *p = o->paths[i];
		size_t n = strlen(p);

		while (n && p[n - 1] == '/')
			n--;
		if (!strncmp(rel, p, n) && (rel[n] == '\0' || rel[n] == '/'))
			return 1;
		/* parents of a selected path are created as needed */
	}
	return 0;
}

/* the tar stream does not decode: damage, never a store error (the
 * feeder's own error, if it had one, is reported instead) */
static int ar_fail(struct archive *ar, const char *what, const char *path)
{
	char esc[512], esc2[512];

	ocb_err("restore %s: %s: %s", ocb_log_escape(esc, sizeof(esc), path),
		what, ocb_log_escape(esc2, sizeof(esc2),
				     archive_error_string(ar) ?
				     archive_error_string(ar) : "failed"));
	return -EBADMSG;
}

static int disk_fail(int r, const char *what, const char *rel)
{
	char esc[512];

	ocb_err("restore %s: %s: %s", ocb_log_escape(esc, sizeof(esc), rel),
		what, strerror(-r));
	return r;
}

static void trim_slashes(char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
}

/* one restore under way */
struct run {
	struct ocb_archive *a;
	const struct ocb_restore_opts *o;
	struct ocb_restore_result *res;
	struct ocb_rdisk *disk;
	struct archive *in;
	struct feeder *f;
	EVP_MD_CTX *md;
	char *buf;
	int legacy;
	/* a native selection: which entries were written (by index), and
	 * for each hardlink set (by its ino) the first link written + 1 */
	uint8_t *done;
	uint32_t *first;
	struct ocb_rpool *pool;	/* small files (native backups) */
};

#define BUFSZ (256 * 1024)
/* files up to POOL_FILE bytes go to POOL_WORKERS threads, with at most
 * POOL_BYTES of content queued */
#define POOL_FILE (1024 * 1024)
#define POOL_BYTES (16 * 1024 * 1024)
#define POOL_WORKERS 4

/* an entry's metadata from its tar header (xattr arrays owned by x) */
static int meta_of(struct archive_entry *ae, struct ocb_rdisk_meta *m,
		   struct ocb_rdisk_xattrs *x)
{
	size_t n = (size_t)archive_entry_xattr_reset(ae), i;
	int r;

	memset(m, 0, sizeof(*m));
	m->mode = archive_entry_mode(ae);
	m->uid = (uid_t)archive_entry_uid(ae);
	m->gid = (gid_t)archive_entry_gid(ae);
	m->mtime = archive_entry_mtime(ae);
	m->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae);
	m->rdev = archive_entry_rdev(ae);
	r = ocb_rdisk_xattrs_init(x, n);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		archive_entry_xattr_next(ae, &x->names[i], &x->values[i],
					 &x->lens[i]);
	ocb_rdisk_xattrs_attach(x, m);
	return 0;
}

/* an entry's metadata from the catalog (for what the stream lacks) */
static void meta_of_entry(const struct ocb_entry *e, struct ocb_rdisk_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->mode = e->mode;
	m->uid = e->uid;
	m->gid = e->gid;
	m->mtime = e->mtime;
	m->mtime_nsec = e->mtime_nsec;
}

/* what is not restored by default, said once per entry */
static void skip_note(struct run *ru, const char *rel, const char *what)
{
	char esc[512];

	ocb_warn("restore %s: %s not restored%s",
		 ocb_log_escape(esc, sizeof(esc), rel), what,
		 ru->legacy ? " (old backups are not authenticated)" : "");
	ru->res->skipped++;
}

static void note_dropped_metadata(struct run *ru, const char *rel,
				  const struct ocb_rdisk_meta *m)
{
	size_t i;

	if ((m->mode & 06000) &&
	    ocb_rdisk_mode(ru->disk, m) != (m->mode & 07777))
		skip_note(ru, rel, "setuid/setgid bit");
	for (i = 0; i < m->nxattrs; i++)
		if (!ocb_rdisk_xattr_ok(ru->disk, m->xnames[i])) {
			char w[300], esc[256];

			snprintf(w, sizeof(w), "xattr %s",
				 ocb_log_escape(esc, sizeof(esc), m->xnames[i]));
			skip_note(ru, rel, w);
		}
}

static void progress(struct run *ru)
{
	if (ru->o->progress)
		ru->o->progress(ru->o->progress_arg, ru->res);
}

/*
 * A regular file: content from the stream (from_idx == 0) or from the
 * catalog's range of entry from_idx, hashed on the way; put in place only
 * when it matches sha (NULL: old backups, no hash).
 */
static int write_file(struct run *ru, const char *rel,
		      const struct ocb_rdisk_meta *m, uint32_t from_idx,
		      uint64_t size, const uint8_t *sha)
{
	int fd = ocb_rdisk_file_begin(ru->disk, rel, m), r = 0, ok;
	uint8_t h[32];
	uint64_t off = 0;

	if (fd < 0)
		return fd;
	EVP_DigestInit_ex(ru->md, EVP_sha256(), NULL);
	while (r == 0) {
		ssize_t n;

		if (from_idx) {
			if (off >= size)
				break;
			n = ocb_archive_pread(ru->a, from_idx, ru->buf, BUFSZ, off);
			if (n <= 0)
				r = n < 0 ? (int)n : -EIO;
		} else {
			n = archive_read_data(ru->in, ru->buf, BUFSZ);
			if (n < 0)
				r = ru->f->err ? ru->f->err :
					ar_fail(ru->in, "read", rel);
		}
		if (r < 0 || n == 0)
			break;
		EVP_DigestUpdate(ru->md, ru->buf, (size_t)n);
		r = ocb_fileio_write_all(fd, ru->buf, (size_t)n);
		if (r < 0)
			r = disk_fail(r, "write", rel);
		off += (uint64_t)n;
		ru->res->bytes += (uint64_t)n;
		progress(ru);
	}
	EVP_DigestFinal_ex(ru->md, h, NULL);
	ok = r == 0 && (!sha || memcmp(h, sha, 32) == 0);
	if (r == 0 && !ok) {
		char esc[512];

		ocb_err("restore %s: content does not match the catalog's "
			"SHA-256 (not written)",
			ocb_log_escape(esc, sizeof(esc), rel));
		ru->res->bad_files++;
	}
	if (ok)
		note_dropped_metadata(ru, rel, m);
	{
		int e = ocb_rdisk_file_end(ru->disk, fd, rel, m, ok);

		if (r == 0 && e < 0)
			r = disk_fail(e, "finish", rel);
	}
	if (r == 0 && ok)
		ru->res->files++;
	return r;
}

/*
 * A small regular file of a native backup: its content read whole from
 * the stream and queued for the workers (counted as written: a mismatch
 * is taken back at the end).
 */
static int queue_file(struct run *ru, const char *rel,
		      const struct ocb_rdisk_meta *m, uint64_t size,
		      const uint8_t *sha)
{
	char *data = malloc(size ? (size_t)size : 1);
	size_t got = 0;
	int r;

	if (!data)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = archive_read_data(ru->in, data + got,
					      (size_t)size - got);

		if (n <= 0) {
			free(data);
			return n < 0 && ru->f->err ? ru->f->err :
				ar_fail(ru->in, "read", rel);
		}
		got += (size_t)n;
	}
	note_dropped_metadata(ru, rel, m);
	r = ocb_rpool_put(ru->pool, rel, m, sha, data, got);
	if (r == 0) {
		ru->res->bytes += got;
		ru->res->files++;
	}
	return r;
}

/* every queued file written (before a hardlink to one, and at the end) */
static int pool_drain(struct run *ru)
{
	return ru->pool ? ocb_rpool_drain(ru->pool) : 0;
}

/*
 * The directories above each selected path, with the modes and times the
 * backup recorded (the stream of a subtree does not hold them).
 */
static int make_ancestors(struct run *ru)
{
	size_t i;

	for (i = 0; i < ru->o->npaths; i++) {
		char path[4096];
		char *s;

		if (snprintf(path, sizeof(path), "%s", ru->o->paths[i]) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		for (s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
			struct ocb_rdisk_meta m;
			uint32_t idx;
			int r;

			*s = '\0';
			if (ocb_archive_resolve(ru->a, path, &idx) < 0 ||
			    ocb_archive_entry(ru->a, idx)->type != OCB_ENTRY_DIR)
				return 0;	/* refused by the caller */
			meta_of_entry(ocb_archive_entry(ru->a, idx), &m);
			r = ocb_rdisk_mkdir(ru->disk, path, &m);
			if (r < 0)
				return r == -ELOOP ? -EBADMSG :
					disk_fail(r, "create", path);
			*s = '/';
		}
	}
	return 0;
}

/*
 * A link of a hardlink set whose first link was not selected: a link to
 * the set's file if one was already written, else a file with the content
 * of the catalog's range.
 */
static int write_link_or_copy(struct run *ru, uint32_t idx, const char *rel,
			      const struct ocb_rdisk_meta *m)
{
	const struct ocb_entry *e = ocb_archive_entry(ru->a, idx);
	char to[4096];
	int r = pool_drain(ru);

	if (r < 0)
		return r;
	if (ru->first && ru->first[e->ino]) {
		if (ocb_archive_path(ru->a, ru->first[e->ino] - 1, to,
				     sizeof(to)) < 0)
			return -ENAMETOOLONG;
		return ocb_rdisk_hardlink(ru->disk, rel, to);
	}
	return write_file(ru, rel, m, idx, e->size, e->sha256);
}

/* the extra links below idx that the stream did not bring (their headers
 * lie outside the fetched runs) */
static int write_missed_links(struct run *ru, uint32_t idx)
{
	const struct ocb_entry *e = ocb_archive_entry(ru->a, idx);
	uint32_t k;
	int r = 0;

	if (is_extra_link(e, idx) && !ru->done[idx]) {
		struct ocb_rdisk_meta m;
		char rel[4096];

		if (ocb_archive_path(ru->a, idx, rel, sizeof(rel)) < 0)
			return -ENAMETOOLONG;
		meta_of_entry(e, &m);
		r = write_link_or_copy(ru, idx, rel, &m);
		if (r < 0)
			return r == -ELOOP ? -EBADMSG : r;
		ru->done[idx] = 1;
		if (!ru->first[e->ino])
			ru->first[e->ino] = idx + 1;
		ru->res->entries++;
		progress(ru);
	}
	for (k = 0; r == 0 && e->type == OCB_ENTRY_DIR && k < e->nchildren; k++)
		r = write_missed_links(ru, e->first_child + k);
	return r;
}

/* a stream entry that is not a link to one written before: created by
 * its type; 1: skipped (data not read) */
static int write_by_type(struct run *ru, struct archive_entry *ae,
			 const char *rel, const struct ocb_rdisk_meta *m,
			 const struct ocb_entry *e)
{
	switch (archive_entry_filetype(ae)) {
	case AE_IFDIR:
		note_dropped_metadata(ru, rel, m);
		return ocb_rdisk_mkdir(ru->disk, rel, m);
	case AE_IFLNK:
		return archive_entry_symlink(ae) ?
			ocb_rdisk_symlink(ru->disk, rel,
					  archive_entry_symlink(ae), m) :
			-EINVAL;
	case AE_IFREG:
		if (ru->pool && archive_entry_size_is_set(ae) &&
		    archive_entry_size(ae) >= 0 &&
		    archive_entry_size(ae) <= POOL_FILE)
			return queue_file(ru, rel, m,
					  (uint64_t)archive_entry_size(ae),
					  e ? e->sha256 : NULL);
		return write_file(ru, rel, m, 0, 0, e ? e->sha256 : NULL);
	case AE_IFIFO:
		if (ru->legacy) {
			skip_note(ru, rel, "fifo");
			return 1;
		}
		return ocb_rdisk_special(ru->disk, rel, m);
	case AE_IFCHR:
	case AE_IFBLK:
		if (ru->legacy || !(ru->o->flags & OCB_RESTORE_SPECIAL)) {
			skip_note(ru, rel, "device node");
			return 1;
		}
		return ocb_rdisk_special(ru->disk, rel, m);
	default:
		skip_note(ru, rel, "entry of unknown type");
		return 1;
	}
}

/*
 * What a failure to create rel becomes: a path through a symlink is
 * refused (a damaged native backup, a skipped old-tool entry); an old
 * archive's entry that cannot be made as it says is left out (1);
 * others are reported here unless a regular file's write did.
 */
static int entry_failed(struct run *ru, struct archive_entry *ae,
			const char *rel, int r)
{
	if (r == -ELOOP) {
		char esc[512];

		ocb_err("restore %s: refused: a path through a symlink",
			ocb_log_escape(esc, sizeof(esc), rel));
		ru->res->skipped++;
		return ru->legacy ? 1 : -EBADMSG;
	}
	if (ru->legacy && (r == -EPERM || r == -ENOENT || r == -EEXIST ||
			   r == -EISDIR || r == -ENOTEMPTY || r == -EINVAL)) {
		/* a hardlink to a directory or to nothing, a file over a
		 * directory: left out, the rest restored */
		char w[64];

		snprintf(w, sizeof(w), "unusable entry (%s)", strerror(-r));
		skip_note(ru, rel, w);
		return 1;
	}
	if (r < 0 && r != -ECANCELED && r != -EBADMSG &&
	    archive_entry_filetype(ae) != AE_IFREG)
		return disk_fail(r, "create", rel);
	return r;
}

/* one selected stream entry to disk; 1: skipped (data not read) */
static int write_entry(struct run *ru, struct archive_entry *ae,
		       const char *rel, const char *hlrel, uint32_t idx)
{
	const struct ocb_entry *e = ru->legacy ? NULL :
		ocb_archive_entry(ru->a, idx);
	struct ocb_rdisk_meta m;
	struct ocb_rdisk_xattrs x;
	int r = meta_of(ae, &m, &x);

	if (r < 0)
		goto out;
	if (hlrel && selected(ru->o, hlrel)) {
		r = pool_drain(ru);
		if (r == 0)
			r = ocb_rdisk_hardlink(ru->disk, rel, hlrel);
	} else if (hlrel && ru->legacy) {
		char esc[512], esc2[512];

		ocb_warn("restore: %s skipped: a hardlink to %s, which was not "
			 "selected", ocb_log_escape(esc, sizeof(esc), rel),
			 ocb_log_escape(esc2, sizeof(esc2), hlrel));
		r = 1;
	} else if (hlrel) {
		r = write_link_or_copy(ru, idx, rel, &m);
	} else {
		r = write_by_type(ru, ae, rel, &m, e);
	}
	r = entry_failed(ru, ae, rel, r);
	if (r == 0 && e && ru->done) {
		ru->done[idx] = 1;
		if (e->type == OCB_ENTRY_FILE && !ru->first[e->ino])
			ru->first[e->ino] = idx + 1;
	}
out:
	ocb_rdisk_xattrs_release(&x);
	return r;
}

/* the disk below the target, the part of the stream a selection needs
 * (and its records), the pool of writers: 0 or negative errno */
static int run_prepare(struct run *ru)
{
	const struct ocb_restore_opts *o = ru->o;
	int r;

	r = ocb_rdisk_open(o->target, (geteuid() == 0 ? OCB_RDISK_OWNER : 0) |
			   ((o->flags & OCB_RESTORE_SPECIAL) && !ru->legacy ?
			    OCB_RDISK_SPECIAL : 0), &ru->disk);
	if (r < 0)
		return disk_fail(r, "open", o->target);
	/* some paths: only their part of the stream is fetched (old backups
	 * are streamed whole: a gzip stream reads from its start) */
	if (o->npaths && !ru->legacy) {
		r = subtree_ranges(ru->a, o->paths, o->npaths, &ru->f->r,
				   &ru->f->nr);
		if (r == 0)
			r = make_ancestors(ru);
		if (r < 0)
			return r;
		ru->done = calloc(ocb_archive_count(ru->a), 1);
		ru->first = calloc(ocb_archive_count(ru->a),
				   sizeof(*ru->first));
		if (!ru->done || !ru->first)
			return -ENOMEM;
	}
	return ru->legacy ? 0 :
		ocb_rpool_new(ru->disk, POOL_WORKERS, POOL_BYTES, &ru->pool);
}

/* libarchive's tar reader on the pipe's end fd: 0 or negative errno */
static int open_reader(struct run *ru, int fd)
{
	ru->in = archive_read_new();
	if (!ru->in)
		return -ENOMEM;
	archive_read_support_format_tar(ru->in);
	archive_read_set_options(ru->in, "hdrcharset=BINARY");
	if (archive_read_open_fd(ru->in, fd, 64 * 1024) != ARCHIVE_OK)
		return ar_fail(ru->in, "open", ru->o->target);
	return 0;
}

#define REL_MAX 4096
#define ENTRY_SKIP 1	/* entry_place(): not written, its data skipped */

/*
 * Where a stream entry goes: its path (and a hardlink's target) relative
 * to the target into rel and hlrel (REL_MAX bytes each), its catalog
 * index into *idx.  0: write it; ENTRY_SKIP: not selected, or an old
 * backup's member that cannot be placed; negative errno: the stream and
 * the catalog disagree.
 */
static int entry_place(struct run *ru, struct archive_entry *ae, char *rel,
		       char *hlrel, uint32_t *idx)
{
	struct ocb_archive *a = ru->a;
	const char *path = archive_entry_pathname(ae);
	const char *hl = archive_entry_hardlink(ae);
	char esc[512];

	if (!path || ocb_archive_map_path(a, path, rel, REL_MAX) < 0 ||
	    (hl && ocb_archive_map_path(a, hl, hlrel, REL_MAX) < 0)) {
		if (!ru->legacy)
			return -EBADMSG;
		ocb_warn("restore: member %s refused (unsafe path)",
			 ocb_log_escape(esc, sizeof(esc), path ? path : "(none)"));
		ru->res->skipped++;
		return ENTRY_SKIP;
	}
	trim_slashes(rel);	/* a directory's "d/" */
	if (hl)
		trim_slashes(hlrel);
	/* an old backup's top directory is the target itself */
	if (ru->legacy && (!*rel || (hl && !*hlrel)))
		return ENTRY_SKIP;
	/* every component of a native entry's path is one the validated
	 * catalog knows (no "..", ".", empty or absolute parts); old
	 * backups' paths were cleaned by ocb_archive_map_path; the disk
	 * side checks again and never follows a symlink below the target */
	if (!ru->legacy &&
	    (rel[0] == '/' || (hl && (hlrel[0] == '/' ||
				      ocb_archive_resolve(a, hlrel, idx) < 0)) ||
	     ocb_archive_resolve(a, rel, idx) < 0)) {
		ocb_err("restore: the stream names an entry the catalog does "
			"not have");
		return -EBADMSG;	/* stream and catalog disagree */
	}
	if (!selected(ru->o, rel) ||
	    (!ru->legacy && !hl && superseded(a, ru->f, *idx, ru->in)))
		return ENTRY_SKIP;
	return 0;
}

/* every entry of the stream, the selected ones written; *ar: how the
 * reading ended.  0 or negative errno. */
static int read_entries(struct run *ru, int *ar)
{
	struct archive_entry *ae;
	int r;

	while ((*ar = archive_read_next_header(ru->in, &ae)) == ARCHIVE_OK) {
		char rel[REL_MAX], hlrel[REL_MAX];
		uint32_t idx = 0;

		if (ocb_interrupted_flag(ru->o))
			return -ECANCELED;
		r = entry_place(ru, ae, rel, hlrel, &idx);
		if (r == 0)
			r = write_entry(ru, ae, rel, archive_entry_hardlink(ae) ?
					hlrel : NULL, idx);
		if (r == ENTRY_SKIP) {	/* also write_entry()'s skip */
			archive_read_data_skip(ru->in);
			continue;
		}
		if (r < 0)
			return r;
		ru->res->entries++;
		progress(ru);
	}
	return 0;
}

/* after the stream (r: how it went): the pool's files, the hardlinks a
 * selection missed, directory modes and times */
static int run_finish(struct run *ru, int r)
{
	const struct ocb_restore_opts *o = ru->o;
	struct ocb_restore_result *res = ru->res;

	if (ru->pool) {
		int e = ocb_rpool_drain(ru->pool);
		uint64_t bad = ocb_rpool_bad(ru->pool);

		r = r ? r : e;
		res->files -= bad;
		res->bad_files += bad;
	}
	for (size_t i = 0; r == 0 && ru->done && i < o->npaths; i++) {
		uint32_t idx;

		if (ocb_archive_resolve(ru->a, o->paths[i], &idx) == 0)
			r = write_missed_links(ru, idx);
	}
	if (r == 0) {
		r = ocb_rdisk_finish(ru->disk);	/* directory modes, times */
		if (r < 0)
			r = disk_fail(r, "directory modes and times", o->target);
	}
	if (r == 0 && res->bad_files)
		r = -EBADMSG;
	return r;
}

int ocb_restore_run(struct ocb_archive *a, const struct ocb_restore_opts *o,
		    struct ocb_restore_result *res)
{
	struct feeder f = { .a = a };
	struct details d = { .a = a };
	struct run ru = { .a = a, .o = o, .res = res, .f = &f };
	int fds[2] = { -1, -1 }, started = 0, r = 0, ar = ARCHIVE_OK;
	pthread_t th;

	memset(res, 0, sizeof(*res));
	ru.legacy = ocb_archive_is_legacy(a);
	ru.md = EVP_MD_CTX_new();
	ru.buf = malloc(BUFSZ);
	if (!ru.md || !ru.buf || pipe2(fds, O_CLOEXEC) < 0) {
		r = -ENOMEM;
		goto out;
	}
	r = run_prepare(&ru);
	if (r < 0)
		goto out;
	f.fd = fds[1];
	if (pthread_create(&th, NULL, feed, &f) != 0) {
		r = -EAGAIN;
		goto out;
	}
	started = 1;
	fds[1] = -1;	/* the feeder closes it */
	details_start(&d);
	r = open_reader(&ru, fds[0]);
	if (r == 0)
		r = details_wait(&d);
	if (r < 0)
		goto out;
	r = read_entries(&ru, &ar);
	if (r == 0 && ar != ARCHIVE_EOF)
		r = f.err ? f.err : ar_fail(ru.in, "read", o->target);
	r = run_finish(&ru, r);
out:
	if (d.started)
		details_wait(&d);
	ocb_rpool_free(ru.pool);	/* what is queued after a failure: dropped */
	if (ru.in) {
		archive_read_close(ru.in);
		archive_read_free(ru.in);
	}
	if (fds[0] >= 0)
		close(fds[0]);	/* unblocks the feeder if we stopped early */
	if (started) {
		pthread_join(th, NULL);
		/* a damaged frame ends the stream early: the reader then
		 * fails on a short or garbled stream, but the cause is the
		 * frame */
		if ((r == 0 || r == -EBADMSG) && f.err && f.err != -EPIPE)
			r = f.err;
	}
	if (fds[1] >= 0)
		close(fds[1]);
	ocb_rdisk_free(ru.disk);
	EVP_MD_CTX_free(ru.md);
	free(ru.buf);
	free(ru.done);
	free(ru.first);
	free(f.r);
	return r;
}

static void add_totals(struct ocb_archive *a, uint32_t idx,
		       struct ocb_restore_result *t)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	uint32_t k;

	t->entries++;
	if (e->type == OCB_ENTRY_FILE) {
		t->files++;
		t->bytes += e->size;
	}
	for (k = 0; e->type == OCB_ENTRY_DIR && k < e->nchildren; k++)
		add_totals(a, e->first_child + k, t);
}

void ocb_restore_totals(struct ocb_archive *a, const char *const *paths,
			size_t npaths, struct ocb_restore_result *out)
{
	const struct ocb_entry *root = ocb_archive_entry(a, OCB_ROOT);
	uint32_t idx, k;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!root)	/* a streamed old backup: no catalog to count */
		return;
	if (!npaths) {
		for (k = 0; k < root->nchildren; k++)
			add_totals(a, root->first_child + k, out);
		return;
	}
	for (i = 0; i < npaths; i++)
		if (ocb_archive_resolve(a, paths[i], &idx) == 0)
			add_totals(a, idx, out);
}
