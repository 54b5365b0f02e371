/*
 * restore.c - write a backup (or part of it) back to disk.
 *
 * The verified tar stream (ocb_archive_cat; for some paths only the runs
 * of it that hold them) is fed through a pipe to
 * libarchive's reader, and each selected entry is written with
 * archive_write_disk and its secure-extract flags (no absolute paths, no
 * "..", no writing through symlinks), hashing file content on the way and
 * checking it against the catalog.  Memory stays bounded: the stream is
 * never held whole.
 */
#include "restore.h"
#include "fdio.h"
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

	return ocb_fdio_write_all(f->fd, data, len);
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

/* the largest data_off in the subtree of idx */
static uint64_t last_off(struct ocb_archive *a, uint32_t idx)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	uint64_t m = e->data_off;
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
		uint64_t size = e->type == OCB_ENTRY_FILE && e->ino == i ?
			e->size : 0;

		v[nv].off = e->data_off;
		v[nv].end = e->data_off + (size + 511) / 512 * 512;
		nv++;
	}
	qsort(v, nv, sizeof(*v), spot_cmp);
	for (k = 0; k < npaths; k++) {
		uint32_t idx;
		size_t at;

		if (ocb_archive_resolve(a, paths[k], &idx) < 0 || idx == OCB_ROOT)
			continue;	/* not there: nothing to restore */
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

static int ar_fail(struct archive *ar, const char *what, const char *path)
{
	char esc[512], esc2[512];

	ocb_err("restore %s: %s: %s", ocb_log_escape(esc, sizeof(esc), path),
		what, ocb_log_escape(esc2, sizeof(esc2),
				     archive_error_string(ar) ?
				     archive_error_string(ar) : "failed"));
	return -EIO;
}

int ocb_restore_run(struct ocb_archive *a, const struct ocb_restore_opts *o,
		    struct ocb_restore_result *res)
{
	struct feeder f = { .a = a };
	struct archive *in = NULL, *out = NULL;
	struct archive_entry *ae;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(256 * 1024);
	int fds[2] = { -1, -1 }, started = 0, flags, r = 0, ar;
	int legacy = ocb_archive_is_legacy(a);
	pthread_t th;

	memset(res, 0, sizeof(*res));
	if (!md || !buf || pipe2(fds, O_CLOEXEC) < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* some paths: only their part of the stream is fetched (old backups
	 * are streamed whole: a gzip stream reads from its start) */
	if (o->npaths && !legacy) {
		r = subtree_ranges(a, o->paths, o->npaths, &f.r, &f.nr);
		if (r < 0)
			goto out;
	}
	f.fd = fds[1];
	if (pthread_create(&th, NULL, feed, &f) != 0) {
		r = -EAGAIN;
		goto out;
	}
	started = 1;
	fds[1] = -1;	/* the feeder closes it */
	in = archive_read_new();
	out = archive_write_disk_new();
	if (!in || !out) {
		r = -ENOMEM;
		goto out;
	}
	archive_read_support_format_tar(in);
	archive_read_set_options(in, "hdrcharset=BINARY");
	if (archive_read_open_fd(in, fds[0], 64 * 1024) != ARCHIVE_OK) {
		r = ar_fail(in, "open", o->target);
		goto out;
	}
	flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
		ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK;
	if (geteuid() == 0)
		flags |= ARCHIVE_EXTRACT_OWNER;
	archive_write_disk_set_options(out, flags);
	archive_write_disk_set_standard_lookup(out);

	while ((ar = archive_read_next_header(in, &ae)) == ARCHIVE_OK) {
		char rel[4096], hlrel[4096], dest[8192], esc[512];
		const char *hl = archive_entry_hardlink(ae);
		uint32_t idx = 0;
		const struct ocb_entry *e = NULL;
		int is_file, from_catalog = 0;

		if (ocb_interrupted_flag(o)) {
			r = -ECANCELED;
			break;
		}
		if (!archive_entry_pathname(ae) ||
		    ocb_archive_map_path(a, archive_entry_pathname(ae), rel,
					 sizeof(rel)) < 0 ||
		    (hl && ocb_archive_map_path(a, hl, hlrel,
						sizeof(hlrel)) < 0)) {
			if (!legacy) {
				r = -EBADMSG;
				break;
			}
			ocb_warn("restore: member %s skipped (unsafe path)",
				 ocb_log_escape(esc, sizeof(esc),
				 archive_entry_pathname(ae) ?
				 archive_entry_pathname(ae) : "(none)"));
			archive_read_data_skip(in);
			continue;
		}
		/* an old backup's top directory is the target itself */
		if (legacy && (!*rel || (hl && !*hlrel))) {
			archive_read_data_skip(in);
			continue;
		}
		/* the destination is target + a path whose every component the
		 * validated catalog knows (no "..", ".", empty or absolute
		 * parts), so nothing can land outside target; libarchive's
		 * secure flags refuse writing through symlinks on top.  Old
		 * backups have no catalog to agree with: their paths were
		 * cleaned by ocb_archive_map_path, and the same flags apply */
		if (!legacy &&
		    (rel[0] == '/' || ocb_archive_resolve(a, rel, &idx) < 0 ||
		     (hl && (hlrel[0] == '/' ||
			     ocb_archive_resolve(a, hlrel, &idx) < 0)) ||
		     ocb_archive_resolve(a, rel, &idx) < 0)) {
			r = -EBADMSG;	/* stream and catalog disagree */
			ocb_err("restore: the stream names an entry the catalog "
				"does not have");
			break;
		}
		if (!selected(o, rel)) {
			archive_read_data_skip(in);
			continue;
		}
		e = legacy ? NULL : ocb_archive_entry(a, idx);
		if (snprintf(dest, sizeof(dest), "%s/%s", o->target, rel) >=
		    (int)sizeof(dest)) {
			r = -ENAMETOOLONG;
			break;
		}
		archive_entry_copy_pathname(ae, dest);
		if (hl) {
			char hlp[8192];

			if (selected(o, hlrel)) {
				snprintf(hlp, sizeof(hlp), "%s/%s", o->target,
					 hlrel);
				archive_entry_copy_hardlink(ae, hlp);
			} else if (legacy) {
				ocb_warn("restore: %s skipped: a hardlink to %s, "
					 "which was not selected",
					 ocb_log_escape(esc, sizeof(esc), rel),
					 hlrel);
				archive_read_data_skip(in);
				continue;
			} else {
				/* its first link was not selected: write it as
				 * a file, content read from the catalog's range */
				archive_entry_set_hardlink(ae, NULL);
				archive_entry_set_size(ae, (la_int64_t)e->size);
				from_catalog = 1;
			}
		}
		if (archive_write_header(out, ae) < ARCHIVE_WARN) {
			r = ar_fail(out, "create", rel);
			break;
		}
		is_file = !archive_entry_hardlink(ae) &&
			(legacy ? archive_entry_filetype(ae) == AE_IFREG :
			 e->type == OCB_ENTRY_FILE);
		if (is_file)
			EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		for (uint64_t off = 0; from_catalog && off < e->size;) {
			ssize_t n = ocb_archive_pread(a, idx, buf, 256 * 1024, off);

			if (n <= 0) {
				r = n < 0 ? (int)n : -EIO;
				break;
			}
			EVP_DigestUpdate(md, buf, (size_t)n);
			if (archive_write_data(out, buf, (size_t)n) != n) {
				r = ar_fail(out, "write", rel);
				break;
			}
			off += (uint64_t)n;
			res->bytes += (uint64_t)n;
			if (o->progress)
				o->progress(o->progress_arg, res);
		}
		for (; r == 0;) {
			la_ssize_t n = archive_read_data(in, buf, 256 * 1024);

			if (n < 0) {
				r = f.err ? f.err : ar_fail(in, "read", rel);
				break;
			}
			if (n == 0)
				break;
			if (is_file)
				EVP_DigestUpdate(md, buf, (size_t)n);
			if (archive_write_data(out, buf, (size_t)n) != n) {
				r = ar_fail(out, "write", rel);
				if (archive_errno(out) == ENOSPC)
					r = -ENOSPC;
				break;
			}
			res->bytes += (uint64_t)n;
			if (o->progress)
				o->progress(o->progress_arg, res);
		}
		if (r < 0)
			break;
		if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
			r = ar_fail(out, "finish", rel);
			break;
		}
		res->entries++;
		if (o->progress)
			o->progress(o->progress_arg, res);
		if (is_file) {
			uint8_t h[32];

			EVP_DigestFinal_ex(md, h, NULL);
			res->files++;
			/* old backups have no hashes: gzip's CRC checked
			 * the stream */
			if (!legacy && memcmp(h, e->sha256, 32) != 0) {
				ocb_err("restore %s: content does not match the "
					"catalog's SHA-256",
					ocb_log_escape(esc, sizeof(esc), rel));
				res->bad_files++;
			}
		}
	}
	if (r == 0 && ar != ARCHIVE_EOF)
		r = f.err ? f.err : ar_fail(in, "read", o->target);
	if (r == 0 && archive_write_close(out) != ARCHIVE_OK)
		r = ar_fail(out, "close", o->target);	/* directory times */
	if (r == 0 && res->bad_files)
		r = -EBADMSG;
out:
	if (in) {
		archive_read_close(in);
		archive_read_free(in);
	}
	if (fds[0] >= 0)
		close(fds[0]);	/* unblocks the feeder if we stopped early */
	if (started) {
		pthread_join(th, NULL);
		/* a damaged frame ends the stream early: the reader then
		 * fails on a short or garbled stream, but the cause is the
		 * frame */
		if ((r == 0 || r == -EIO) && f.err && f.err != -EPIPE)
			r = f.err;
	}
	if (fds[1] >= 0)
		close(fds[1]);
	if (out)
		archive_write_free(out);
	EVP_MD_CTX_free(md);
	free(buf);
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
