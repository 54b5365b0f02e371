/*
 * archive_verify.c - check a whole backup whose catalog holds content
 * hashes (the verify operation of native backups, archive_ops.h): every
 * frame's tag (by reading the stream through the one reader) and every
 * file's SHA-256 against the catalog; and spot checks.  Files lie in the
 * stream in data-offset order without overlap, so one sequential pass
 * hashes them all.
 */
#include "ocb_archive.h"
#include "archive_ops.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

struct span {
	uint64_t off, end;
	uint32_t idx;
};

struct vstate {
	struct ocb_archive *a;
	struct span *s;
	size_t n, cur;
	uint64_t pos;		/* stream offset of the next byte */
	EVP_MD_CTX *md;
	int hashing;
	struct ocb_verify_result *res;
};

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;

	return a->off < b->off ? -1 : a->off > b->off;
}

static void file_done(struct vstate *v, uint32_t idx)
{
	const struct ocb_entry *e = ocb_archive_entry(v->a, idx);
	uint8_t h[32];

	EVP_DigestFinal_ex(v->md, h, NULL);
	v->hashing = 0;
	v->res->files++;
	if (memcmp(h, e->sha256, 32) != 0) {
		char path[1024];

		v->res->bad_files++;
		if (ocb_archive_path(v->a, idx, path, sizeof(path)) < 0)
			strcpy(path, "?");
		if (!v->res->first_bad[0])
			snprintf(v->res->first_bad, sizeof(v->res->first_bad),
				 "%s", path);
	}
}

static int verify_sink(void *arg, const void *data, size_t len)
{
	struct vstate *v = arg;
	const uint8_t *p = data;
	uint64_t start = v->pos, end = v->pos + len;

	v->res->bytes += len;
	while (v->cur < v->n && v->s[v->cur].off < end) {
		struct span *s = &v->s[v->cur];
		uint64_t a = s->off > start ? s->off : start;
		uint64_t b = s->end < end ? s->end : end;

		if (!v->hashing) {
			EVP_DigestInit_ex(v->md, EVP_sha256(), NULL);
			v->hashing = 1;
		}
		if (b > a)
			EVP_DigestUpdate(v->md, p + (a - start), b - a);
		if (s->end > end)
			break;
		file_done(v, s->idx);
		v->cur++;
	}
	v->pos = end;
	return 0;
}

int ocb_archive_verify_hashes(struct ocb_archive *a,
			      struct ocb_verify_result *res)
{
	struct vstate v = { .a = a, .res = res };
	uint32_t i, n = ocb_archive_count(a);
	int r;

	memset(res, 0, sizeof(*res));
	v.s = calloc(n ? n : 1, sizeof(*v.s));
	v.md = EVP_MD_CTX_new();
	if (!v.s || !v.md) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct ocb_entry *e = ocb_archive_entry(a, i);

		if (e->type != OCB_ENTRY_FILE || e->ino != i)
			continue;	/* hardlinks share their first's data */
		v.s[v.n].off = e->data_off;
		v.s[v.n].end = e->data_off + e->size;
		v.s[v.n].idx = i;
		v.n++;
	}
	if (v.n > 1)
		qsort(v.s, v.n, sizeof(*v.s), span_cmp);
	for (i = 1; i < v.n; i++)
		if (v.s[i].off < v.s[i - 1].end) {
			r = -EBADMSG;	/* overlapping files: not written by us */
			goto out;
		}
	r = ocb_archive_cat(a, verify_sink, &v);
	/* empty files at the very end of the stream */
	while (r == 0 && v.cur < v.n && v.s[v.cur].off >= v.pos &&
	       v.s[v.cur].off == v.s[v.cur].end) {
		EVP_DigestInit_ex(v.md, EVP_sha256(), NULL);
		v.hashing = 1;
		file_done(&v, v.s[v.cur].idx);
		v.cur++;
	}
	res->frames = ocb_archive_info(a)->nframes;
	if (r == 0 && res->bad_files)
		r = -EBADMSG;
out:
	EVP_MD_CTX_free(v.md);
	free(v.s);
	return r;
}

/* ---- a sample: some files, read through their own frames --------------------- */

#define SAMPLE_CHUNK (1u << 20)

static int hash_file(struct ocb_archive *a, uint32_t idx, uint8_t *buf,
		     EVP_MD_CTX *md, struct ocb_verify_result *res)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	uint64_t off = 0;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (off < e->size) {
		ssize_t n = ocb_archive_pread(a, idx, buf, SAMPLE_CHUNK, off);

		if (n <= 0)
			return n < 0 ? (int)n : -EBADMSG;
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += (uint64_t)n;
		res->bytes += (uint64_t)n;
	}
	return 0;
}

int ocb_archive_verify_sample(struct ocb_archive *a, unsigned percent,
			      struct ocb_verify_result *res)
{
	uint32_t i, n = ocb_archive_count(a), nfiles = 0, last = 0;
	uint8_t *buf = malloc(SAMPLE_CHUNK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct vstate v = { .a = a, .res = res };
	int r = 0;

	memset(res, 0, sizeof(*res));
	r = !buf || !md ? -ENOMEM : ocb_archive_details(a);
	if (r < 0)
		goto out;
	v.md = md;
	for (i = 0; i < n && r == 0; i++) {
		const struct ocb_entry *e = ocb_archive_entry(a, i);
		uint32_t pick;

		if (e->type != OCB_ENTRY_FILE || e->ino != i)
			continue;
		nfiles++;
		last = i;
		if (RAND_bytes((unsigned char *)&pick, sizeof(pick)) != 1) {
			r = -EIO;
			break;
		}
		if (pick % 100 >= percent)
			continue;
		r = hash_file(a, i, buf, md, res);
		if (r == 0) {
			v.hashing = 1;
			file_done(&v, i);
		}
	}
	/* never an empty sample of a backup that has files */
	if (r == 0 && nfiles && !res->files) {
		r = hash_file(a, last, buf, md, res);
		if (r == 0) {
			v.hashing = 1;
			file_done(&v, last);
		}
	}
	res->frames = ocb_archive_info(a)->nframes;
	if (r == 0 && res->bad_files)
		r = -EBADMSG;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return r;
}
