/*
 * archive_read.c - open a backup (trailer, key, catalog) and read frames.
 *
 * Opening costs one suffix read, which usually holds the trailer, the
 * header copy and the whole catalog; a large catalog costs one more read.
 */
#include "ocb_archive.h"
#include "buf.h"
#include "catalog.h"
#include "crypto.h"
#include "format.h"
#include "frame_i.h"
#include "keys.h"
#include "oldtool_archive.h"
#include "link_est.h"
#include "log.h"
#include "backup_name.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define OPEN_SUFFIX (256 * 1024)
#define READ_FRAMES_MAX 64	/* frames per range request */

struct ocb_archive {
	struct ocb_store *s;
	char *key;
	char etag[OCB_ETAG_MAX];
	struct ocb_header hdr;
	struct ocb_trailer tr;
	uint8_t *dk;
	struct ocb_catalog *cat;	/* NULL: a streamed old backup */
	struct ocb_oldtool *lg;		/* an old-tool .tar.gz, else NULL */
	struct ocb_archive_info info;
};

static int is_tar_gz(const char *key)
{
	size_t n = strlen(key);

	return n > 7 && !strcmp(key + n - 7, ".tar.gz");
}

int ocb_archive_open_legacy(struct ocb_store *s, const char *key,
			    const struct ocb_oldtool_opts *o,
			    struct ocb_archive **out)
{
	struct ocb_archive *a = calloc(1, sizeof(*a));
	const struct ocb_oldtool_info *li;
	int r;

	if (!a)
		return -ENOMEM;
	a->s = s;
	a->key = strdup(key);
	r = a->key ? ocb_oldtool_open(s, key, o, &a->lg,
				     o->index ? &a->cat : NULL) : -ENOMEM;
	if (r < 0) {
		ocb_archive_free(a);
		return r;
	}
	li = ocb_oldtool_info(a->lg);
	a->info.format_version = 0;
	snprintf(a->info.name, sizeof(a->info.name), "%s", li->name);
	snprintf(a->info.instance, sizeof(a->info.instance), "%s",
		 li->instance);
	snprintf(a->info.key_provider, sizeof(a->info.key_provider), "%s",
		 li->encryption);
	a->info.created = li->created;
	a->info.object_size = li->object_size;
	if (a->cat) {
		a->info.entries = a->cat->n;
		a->info.stream_size = a->cat->stream_size;
		a->info.frame_size = a->cat->frame_size;
		a->info.nframes = a->cat->nf;
	}
	*out = a;
	return 0;
}

int ocb_archive_is_legacy(const struct ocb_archive *a)
{
	return a->lg != NULL;
}

int ocb_archive_map_path(const struct ocb_archive *a, const char *path,
			 char *out, size_t size)
{
	if (a->lg)
		return ocb_oldtool_map_path(a->info.name, path, out, size);
	if (snprintf(out, size, "%s", path) >= (int)size)
		return -EINVAL;
	return 0;
}

static void log_damage(const struct ocb_archive *a, const char *key,
		       const char *what)
{
	char esc[512];

	ocb_err("backup %s: %s", ocb_log_escape(esc, sizeof(esc), a ? a->key : key),
		what);
}

/*
 * What the authenticated content says against where the object lies: its
 * name (formats 1 and 2), and in format 2 its prefix (so its instance) and
 * its creation time, which its name carries too.  A backup copied under a
 * newer name or into another instance's prefix fails here.
 */
static int check_binding(const struct ocb_archive *a, const char *key)
{
	const struct ocb_catalog *c = a->cat;
	const char *slash = strrchr(key, '/');
	const char *base = slash ? slash + 1 : key;
	size_t plen = slash ? (size_t)(slash - key) : 0;
	size_t nl = strlen(c->name);
	int64_t nt;
	int lab;

	if (c->version != a->hdr.version || a->tr.version != a->hdr.version)
		return -EBADMSG;
	if (strncmp(base, c->name, nl) != 0 || strcmp(base + nl, ".ocb") != 0)
		return -EBADMSG;
	if (c->version < 2)
		return 0;
	if (strlen(c->prefix) != plen || strncmp(key, c->prefix, plen) != 0)
		return -EBADMSG;
	if (c->created != a->hdr.created ||
	    (ocb_backup_name_time(c->name, &nt, &lab) == 0 &&
	     nt != c->created))
		return -EBADMSG;
	return 0;
}

const char *ocb_archive_strerror(int err)
{
	switch (-err) {
	case EBADMSG:
		return "refused: it fails authentication (forged, key provider "
		       "none under another, renamed, rolled back, copied from "
		       "another instance, or damaged)";
	case ENOKEY:
	case EKEYREJECTED:
		return "refused: its data key does not unwrap with the "
		       "configured key";
	case EKEYREVOKED:
		return "the KMS key is missing, disabled or pending deletion";
	case EPROTO:
		return "unknown format version (made by a newer ocb?)";
	case EOPNOTSUPP:
		return "not browsable (an old-tool backup too large to index, "
		       "or encrypted in a way this reader cannot open)";
	default:
		return ocb_store_strerror(err);
	}
}

/* The value of the root's xattr name (authenticated with the catalog)
 * into buf as a string ("" when absent; cut at a NUL or at size). */
static void root_xattr(const struct ocb_catalog *c, const char *name,
		       char *buf, size_t size)
{
	const struct ocb_entry *root = &c->e[OCB_ROOT];
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < root->nxattrs; i++) {
		const struct ocb_xattr *x = &c->x[root->xattr_first + i];

		if (!strcmp(x->name, name)) {
			size_t n = x->len < size - 1 ? x->len : size - 1;

			memcpy(buf, x->value, n);
			buf[n] = '\0';
			return;
		}
	}
}

int ocb_archive_open(struct ocb_store *s, const char *key,
		     struct ocb_keyprov *kp, struct ocb_archive **out)
{
	struct ocb_archive *a = calloc(1, sizeof(*a));
	uint8_t *suf = malloc(OPEN_SUFFIX), *sealed = NULL, *plain = NULL;
	uint8_t tbuf[OCB_TRAILER_SIZE], hbuf[OCB_HEADER_SIZE];
	uint64_t objsize = 0, suf_start;
	struct ocb_get_req g = { .key = key, .len = OPEN_SUFFIX, .suffix = 1 };
	struct ocb_obj_head h = { 0 };
	struct { size_t len; } m = { 0 };
	int r;

	if (is_tar_gz(key)) {
		struct ocb_oldtool_opts lo = { .index = 1 };

		free(a);
		free(suf);
		return ocb_archive_open_legacy(s, key, &lo, out);
	}
	if (!a || !suf) {
		r = -ENOMEM;
		goto fail;
	}
	a->s = s;
	a->key = strdup(key);
	if (!a->key) {
		r = -ENOMEM;
		goto fail;
	}
	{
		struct ocb_buf b;

		ocb_buf_init(&b, OPEN_SUFFIX);
		r = s->ops->get(s, &g, (ocb_sink_fn)ocb_buf_append, &b, &h);
		if (r == 0) {
			memcpy(suf, b.data ? b.data : "", b.len);
			m.len = b.len;
		}
		ocb_buf_release(&b);
	}
	objsize = h.size;
	snprintf(a->etag, sizeof(a->etag), "%s", h.etag);
	ocb_obj_head_release(&h);
	if (r < 0)
		goto fail;
	if (m.len < OCB_TRAILER_SIZE + OCB_HEADER_SIZE || objsize < m.len) {
		log_damage(a, key, "too short to be a backup (truncated?)");
		r = -EBADMSG;
		goto fail;
	}
	suf_start = objsize - m.len;
	memcpy(tbuf, suf + m.len - OCB_TRAILER_SIZE, OCB_TRAILER_SIZE);
	r = ocb_trailer_decode(tbuf, objsize, &a->tr);
	if (r < 0) {
		log_damage(a, key, r == -EPROTO ? "unknown format version" :
			   "trailer damaged or object truncated");
		goto fail;
	}
	memcpy(hbuf, suf + (a->tr.header_off - suf_start), OCB_HEADER_SIZE);
	r = ocb_header_decode(hbuf, &a->hdr);
	if (r < 0) {
		log_damage(a, key, "header damaged");
		goto fail;
	}
	{
		/* the name the object is stored under, for KMS's context */
		const char *base = strrchr(key, '/');
		char name[256];
		size_t bl;

		base = base ? base + 1 : key;
		bl = strlen(base);
		if (bl > 4 && bl - 4 < sizeof(name) &&
		    !strcmp(base + bl - 4, ".ocb")) {
			memcpy(name, base, bl - 4);
			name[bl - 4] = '\0';
		} else {
			name[0] = '\0';
		}
		r = ocb_keyprov_unwrap_named(kp, a->hdr.backup_id,
					     name[0] ? name : NULL,
					     &a->hdr.key, &a->dk);
	}
	if (r < 0)
		goto fail;
	/* the catalog: in the suffix already, or one more range read */
	sealed = malloc(a->tr.catalog_len);
	if (!sealed) {
		r = -ENOMEM;
		goto fail;
	}
	if (a->tr.catalog_off >= suf_start) {
		memcpy(sealed, suf + (a->tr.catalog_off - suf_start),
		       a->tr.catalog_len);
	} else {
		struct ocb_get_req c = { .key = key, .off = a->tr.catalog_off,
					 .len = a->tr.catalog_len,
					 .if_match = a->etag[0] ? a->etag : NULL };
		struct ocb_buf b;

		ocb_buf_init(&b, a->tr.catalog_len);
		r = s->ops->get(s, &c, (ocb_sink_fn)ocb_buf_append, &b, NULL);
		if (r == 0 && b.len != a->tr.catalog_len)
			r = -EBADMSG;
		if (r == 0)
			memcpy(sealed, b.data, b.len);
		ocb_buf_release(&b);
		if (r < 0)
			goto fail;
	}
	r = ocb_catalog_open(a->dk, a->hdr.backup_id, tbuf, hbuf, sealed,
			     a->tr.catalog_len, a->tr.catalog_plain_len, &plain);
	if (r < 0) {
		log_damage(a, key, "catalog failed verification (damaged, "
			   "tampered with, or not this key)");
		goto fail;
	}
	r = ocb_catalog_decode(plain, a->tr.catalog_plain_len, &a->cat);
	plain = NULL;
	if (r < 0) {
		log_damage(a, key, "catalog is malformed");
		goto fail;
	}
	if (a->cat->nf != a->tr.nframes ||
	    a->cat->stream_size != a->tr.stream_size ||
	    a->cat->frame_size != a->hdr.frame_size ||
	    (a->cat->nf ? a->cat->f[a->cat->nf - 1].off +
	     a->cat->f[a->cat->nf - 1].sealed_len :
	     (uint64_t)OCB_HEADER_SIZE) != a->tr.catalog_off) {
		log_damage(a, key, "catalog does not match the trailer");
		r = -EBADMSG;
		goto fail;
	}
	r = check_binding(a, key);
	if (r < 0) {
		char esc[256], pesc[512];

		log_damage(a, key, "its authenticated name, prefix, format or "
			   "time is not where it is stored (renamed, copied "
			   "from another instance, or rolled back)");
		ocb_err("  the backup says it is %s/%s.ocb",
			a->cat->version >= 2 ? ocb_log_escape(pesc,
			sizeof(pesc), a->cat->prefix) : "...",
			ocb_log_escape(esc, sizeof(esc), a->cat->name));
		goto fail;
	}
	a->info.format_version = a->hdr.version;
	a->info.bound = a->cat->version >= 2;
	a->info.warnings = a->cat->warnings;
	snprintf(a->info.name, sizeof(a->info.name), "%s", a->cat->name);
	snprintf(a->info.instance, sizeof(a->info.instance), "%s",
		 a->cat->instance);
	snprintf(a->info.host, sizeof(a->info.host), "%s", a->cat->host);
	snprintf(a->info.label, sizeof(a->info.label), "%s", a->cat->label);
	root_xattr(a->cat, OCB_XATTR_GROUP, a->info.group,
		   sizeof(a->info.group));
	root_xattr(a->cat, OCB_XATTR_ROLE, a->info.role, sizeof(a->info.role));
	snprintf(a->info.key_provider, sizeof(a->info.key_provider), "%s",
		 ocb_key_type_name(a->hdr.key.type));
	a->info.created = a->cat->created;
	a->info.entries = a->cat->n;
	a->info.stream_size = a->cat->stream_size;
	a->info.object_size = objsize;
	a->info.frame_size = a->cat->frame_size;
	a->info.nframes = a->cat->nf;
	free(sealed);
	free(suf);
	*out = a;
	return 0;
fail:
	free(plain);
	free(sealed);
	free(suf);
	ocb_archive_free(a);
	return r;
}

void ocb_archive_free(struct ocb_archive *a)
{
	if (!a)
		return;
	ocb_catalog_free(a->cat);
	ocb_oldtool_free(a->lg);
	ocb_crypto_key_free(a->dk);
	free(a->key);
	free(a);
}

const struct ocb_archive_info *ocb_archive_info(const struct ocb_archive *a)
{
	return &a->info;
}

uint32_t ocb_archive_count(const struct ocb_archive *a)
{
	return a->cat ? a->cat->n : 0;
}

const struct ocb_entry *ocb_archive_entry(const struct ocb_archive *a,
					  uint32_t idx)
{
	return a->cat && idx < a->cat->n ? &a->cat->e[idx] : NULL;
}

const struct ocb_xattr *ocb_archive_xattr(const struct ocb_archive *a,
					  uint32_t xidx)
{
	return a->cat && xidx < a->cat->nx ? &a->cat->x[xidx] : NULL;
}

uint32_t ocb_archive_nsources(const struct ocb_archive *a)
{
	return a->cat ? a->cat->nsrc : 0;
}

int ocb_archive_source(const struct ocb_archive *a, uint32_t i,
		       uint32_t *entry, const char **path)
{
	if (i >= ocb_archive_nsources(a))
		return -ENOENT;
	*entry = a->cat->src[i].entry;
	*path = a->cat->src[i].path;
	return 0;
}

int ocb_archive_lookup(const struct ocb_archive *a, uint32_t dir,
		       const char *name, uint32_t *idx)
{
	const struct ocb_entry *d = ocb_archive_entry(a, dir);
	uint32_t lo, hi;

	if (!d)
		return -ENOENT;
	if (d->type != OCB_ENTRY_DIR)
		return -ENOTDIR;
	lo = d->first_child;
	hi = d->first_child + d->nchildren;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, a->cat->e[mid].name);

		if (c == 0) {
			*idx = mid;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

int ocb_archive_resolve(const struct ocb_archive *a, const char *path,
			uint32_t *idx)
{
	char name[OCB_NAME_MAX + 1];
	uint32_t cur = OCB_ROOT;

	while (*path) {
		size_t n = strcspn(path, "/");
		int r;

		if (n == 0) {
			path++;
			continue;
		}
		if (n > OCB_NAME_MAX)
			return -ENOENT;
		memcpy(name, path, n);
		name[n] = '\0';
		r = ocb_archive_lookup(a, cur, name, &cur);
		if (r < 0)
			return r;
		path += n;
	}
	*idx = cur;
	return 0;
}

ssize_t ocb_archive_path(const struct ocb_archive *a, uint32_t idx, char *buf,
			 size_t size)
{
	size_t len = 0, pos;
	uint32_t i;

	if (idx >= ocb_archive_count(a))
		return -ENOENT;
	/* parents always have smaller indexes (validated): this ends */
	for (i = idx; i != OCB_ROOT; i = a->cat->e[i].parent)
		len += strlen(a->cat->e[i].name) + 1;
	if (len)
		len--;
	if (len + 1 > size)
		return -ENAMETOOLONG;
	buf[len] = '\0';
	pos = len;
	for (i = idx; i != OCB_ROOT; i = a->cat->e[i].parent) {
		size_t n = strlen(a->cat->e[i].name);

		pos -= n;
		memcpy(buf + pos, a->cat->e[i].name, n);
		if (pos)
			buf[--pos] = '/';
	}
	return (ssize_t)len;
}

/* ---- frames --------------------------------------------------------------------- */

/* an old backup's frames are frame_size cuts of its tar stream, read with
 * one range request from the nearest restart point */
struct lframes {
	ocb_frame_fn cb;
	void *arg;
	uint32_t frame;
	uint8_t *buf;
	size_t len, fs;
};

static int lframes_sink(void *arg, const void *data, size_t len)
{
	struct lframes *l = arg;
	const uint8_t *p = data;
	int r;

	while (len) {
		size_t k = l->fs - l->len < len ? l->fs - l->len : len;

		memcpy(l->buf + l->len, p, k);
		l->len += k;
		p += k;
		len -= k;
		if (l->len == l->fs) {
			r = l->cb(l->arg, l->frame++, l->buf, l->len);
			l->len = 0;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int legacy_frames(struct ocb_archive *a, uint32_t first, uint32_t n,
			 ocb_frame_fn cb, void *arg)
{
	struct lframes l = { .cb = cb, .arg = arg, .frame = first,
			     .fs = a->cat->frame_size };
	uint64_t off = (uint64_t)first * l.fs;
	uint64_t end = (uint64_t)(first + n) * l.fs;
	int r;

	if (end > a->cat->stream_size)
		end = a->cat->stream_size;
	l.buf = malloc(l.fs);
	if (!l.buf)
		return -ENOMEM;
	r = ocb_oldtool_read(a->lg, off, end - off, lframes_sink, &l);
	if (r == 0 && l.len)
		r = cb(arg, l.frame, l.buf, l.len);
	free(l.buf);
	return r;
}

int ocb_archive_read_frames(struct ocb_archive *a, uint32_t first,
			    uint32_t n, ocb_frame_fn cb, void *arg)
{
	const struct ocb_frame_rec *f;
	struct ocb_buf b;
	uint8_t *out = NULL;
	ZSTD_DCtx *dctx = NULL;
	uint64_t start, end;
	uint32_t i;
	int r;

	if (n == 0)
		return 0;
	if (!a->cat || first >= a->cat->nf || n > a->cat->nf - first)
		return -EINVAL;
	if (a->lg)
		return legacy_frames(a, first, n, cb, arg);
	f = a->cat->f;
	start = f[first].off;
	end = f[first + n - 1].off + f[first + n - 1].sealed_len;
	ocb_buf_init(&b, end - start);
	if (ocb_buf_reserve(&b, end - start) < 0)	/* one allocation, no regrowth */
		return -ENOMEM;
	{
		struct ocb_get_req g = { .key = a->key, .off = start,
					 .len = end - start,
					 .if_match = a->etag[0] ? a->etag : NULL };

		r = a->s->ops->get(a->s, &g, (ocb_sink_fn)ocb_buf_append, &b,
				   NULL);
	}
	if (r == -ESTALE) {
		log_damage(a, NULL, "the object changed since it was opened");
		goto out;
	}
	if (r < 0)
		goto out;
	if (b.len != end - start) {
		r = -EBADMSG;
		log_damage(a, NULL, "short frame read");
		goto out;
	}
	out = malloc(a->cat->frame_size);
	dctx = ZSTD_createDCtx();
	if (!out || !dctx) {
		r = -ENOMEM;
		goto out;
	}
	for (i = first; i < first + n; i++) {
		r = ocb_frame_open(a->dk, a->hdr.backup_id, i, dctx,
				   b.data + (f[i].off - start), f[i].sealed_len,
				   f[i].plain_len, f[i].flags, out);
		if (r < 0) {
			char msg[96];

			snprintf(msg, sizeof(msg), "frame %u failed verification "
				 "(damaged or tampered with)", i);
			log_damage(a, NULL, msg);
			r = -EBADMSG;
			goto out;
		}
		r = cb(arg, i, out, f[i].plain_len);
		if (r < 0)
			goto out;
	}
out:
	ZSTD_freeDCtx(dctx);
	free(out);
	ocb_buf_release(&b);
	return r;
}

int ocb_archive_frame(const struct ocb_archive *a, uint32_t i, uint64_t *off,
		      uint32_t *sealed_len)
{
	if (a->lg || i >= a->cat->nf)
		return -EINVAL;
	*off = a->cat->f[i].off;
	*sealed_len = a->cat->f[i].sealed_len;
	return 0;
}

struct pread_ctx {
	uint64_t want_start;	/* stream offsets */
	uint64_t want_end;
	uint32_t frame_size;
	uint8_t *buf;
};

static int pread_cb(void *arg, uint32_t frame, const void *data, size_t len)
{
	struct pread_ctx *p = arg;
	uint64_t fstart = (uint64_t)frame * p->frame_size;
	uint64_t s = p->want_start > fstart ? p->want_start : fstart;
	uint64_t e = p->want_end < fstart + len ? p->want_end : fstart + len;

	if (s < e)
		memcpy(p->buf + (s - p->want_start),
		       (const uint8_t *)data + (s - fstart), e - s);
	return 0;
}

ssize_t ocb_archive_pread(struct ocb_archive *a, uint32_t idx, void *buf,
			  size_t len, uint64_t off)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	struct pread_ctx p;
	uint32_t first, last;
	int r;

	if (!e)
		return -ENOENT;
	if (e->type != OCB_ENTRY_FILE)
		return -EISDIR;
	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	if (len == 0)
		return 0;
	p.want_start = e->data_off + off;
	p.want_end = p.want_start + len;
	p.frame_size = a->cat->frame_size;
	p.buf = buf;
	first = (uint32_t)(p.want_start / p.frame_size);
	last = (uint32_t)((p.want_end - 1) / p.frame_size);
	while (first <= last) {
		uint32_t n = last - first + 1;

		if (n > READ_FRAMES_MAX)
			n = READ_FRAMES_MAX;
		r = ocb_archive_read_frames(a, first, n, pread_cb, &p);
		if (r < 0)
			return r;
		first += n;
	}
	return (ssize_t)len;
}

/*
 * ocb cat / verify / full restore: CAT_WORKERS threads fetch and decode
 * batches of frames ahead (each batch one range request, each worker on
 * its own connection) while the caller's sink consumes them in order, so
 * download, decryption, decompression and the consumer overlap.  A batch
 * carries twice the bandwidth-delay product of one connection as this
 * pipeline's own requests measured it (link_est.h; CAT_BATCH_MIN frames
 * until then), so that at a distance the requests in flight fill the
 * link, and near the store batches stay small.  Near the store (requests
 * answered within CAT_FAR_US) only CAT_NEAR_WORKERS work: decoding is then
 * the bound, and more threads only take the consumer's CPU (measured on
 * two cores: 315 -> 235 MB/s at 0 ms with six).  Memory: CAT_SLOTS batches
 * of at most CAT_BYTES / CAT_SLOTS of frames.
 */
#define CAT_WORKERS 6
#define CAT_NEAR_WORKERS 2	/* all that work while the store is near */
#define CAT_FAR_US 20000	/* a request this slow: the store is far */
#define CAT_SLOTS (CAT_WORKERS + 2)
#define CAT_BATCH_MIN 4		/* frames per request, at least */
#define CAT_BYTES (64u << 20)	/* decoded frames held, at most */

struct cat_slot {
	uint8_t *data;
	size_t len;
	int err;
	int state;		/* 0 free, 1 filling, 2 ready */
	uint64_t turn;		/* the batch number it holds or waits for */
	uint32_t first, n;	/* its frames */
	uint64_t t_first;	/* its first frame decoded: the fetch's end */
};

struct cat_pipe {
	struct ocb_archive *a;
	struct ocb_link_est *link;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cat_slot slot[CAT_SLOTS];
	uint32_t next, end;		/* frames [next, end) not taken yet */
	uint64_t nbatches;		/* batches taken */
	uint32_t batch_max;
	uint64_t unit;			/* mean sealed frame size */
	int stop;
	int nworkers;			/* started so far: worker ids */
};

static int slot_fill(void *arg, uint32_t frame, const void *data, size_t len)
{
	struct cat_slot *sl = arg;

	(void)frame;
	if (!sl->t_first)
		sl->t_first = ocb_link_est_now_us();
	memcpy(sl->data + sl->len, data, len);
	sl->len += len;
	return 0;
}

/* take the next batch (lock held): its number, or -1 when none is left */
static int64_t cat_take(struct cat_pipe *p, uint32_t *first, uint32_t *n)
{
	uint32_t want;

	if (p->stop || p->next >= p->end)
		return -1;
	want = ocb_link_est_units(p->link, p->unit, CAT_BATCH_MIN,
				  p->batch_max);
	*first = p->next;
	*n = p->end - p->next < want ? p->end - p->next : want;
	p->next += *n;
	return (int64_t)p->nbatches++;
}

static void *cat_worker(void *arg)
{
	struct cat_pipe *p = arg;
	const struct ocb_frame_rec *f = p->a->cat->f;

	uint64_t rtt = 0, rate;

	pthread_mutex_lock(&p->lock);
	if (p->nworkers++ >= CAT_NEAR_WORKERS) {
		/* needed only far from the store: wait for a measurement */
		while (!p->stop && p->next < p->end &&
		       (ocb_link_est_get(p->link, &rtt, &rate), rtt == 0))
			pthread_cond_wait(&p->cond, &p->lock);
		if (rtt < CAT_FAR_US) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
	}
	for (;;) {
		uint32_t first, n;
		int64_t b = cat_take(p, &first, &n);
		struct cat_slot *sl;
		uint64_t t0;
		int r;

		if (b < 0)
			break;
		sl = &p->slot[b % CAT_SLOTS];
		while ((sl->turn != (uint64_t)b || sl->state != 0) && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		sl->state = 1;
		sl->len = 0;
		sl->first = first;
		sl->n = n;
		sl->t_first = 0;
		pthread_mutex_unlock(&p->lock);
		t0 = ocb_link_est_now_us();
		r = ocb_archive_read_frames(p->a, first, n, slot_fill, sl);
		if (r == 0)
			ocb_link_est_sample(p->link, f[first + n - 1].off +
					    f[first + n - 1].sealed_len -
					    f[first].off,
					    sl->t_first - t0);
		pthread_mutex_lock(&p->lock);
		sl->err = r;
		sl->state = 2;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int ocb_archive_cat_range(struct ocb_archive *a, uint64_t off, uint64_t len,
			  ocb_sink_fn sink, void *arg)
{
	struct cat_pipe p = { .a = a };
	uint64_t fs, end = off + len, stream, b;
	pthread_t th[CAT_WORKERS];
	int nth = 0, i, r = 0;
	uint32_t done;

	if (a->lg)	/* one range request; -EINVAL when not indexed */
		return ocb_oldtool_read(a->lg, off, len, sink, arg);
	fs = a->cat->frame_size;
	stream = ocb_archive_info(a)->stream_size;
	if (off > stream || len > stream - off)
		return -EINVAL;
	if (!len)
		return 0;
	p.next = (uint32_t)(off / fs);
	p.end = (uint32_t)((end + fs - 1) / fs);
	p.unit = (a->cat->f[p.end - 1].off + a->cat->f[p.end - 1].sealed_len -
		  a->cat->f[p.next].off) / (p.end - p.next);
	p.batch_max = (uint32_t)(CAT_BYTES / CAT_SLOTS / fs);
	if (p.batch_max < CAT_BATCH_MIN)
		p.batch_max = CAT_BATCH_MIN;
	done = p.next;	/* the consumer's: workers move p.next */
	if (ocb_link_est_new(&p.link) < 0)
		return -ENOMEM;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (i = 0; i < CAT_SLOTS; i++) {
		p.slot[i].turn = (uint64_t)i;
		/* pages are touched only as far as batches fill them */
		p.slot[i].data = malloc((size_t)p.batch_max * fs);
		if (!p.slot[i].data)
			r = -ENOMEM;
	}
	for (i = 0; r == 0 && i < CAT_WORKERS; i++)
		if (pthread_create(&th[nth], NULL, cat_worker, &p) == 0)
			nth++;
	if (r == 0 && nth == 0)
		r = -EAGAIN;
	for (b = 0; r == 0 && done < p.end; b++) {
		struct cat_slot *sl = &p.slot[b % CAT_SLOTS];
		uint64_t s0;

		pthread_mutex_lock(&p.lock);
		while (!(sl->state == 2 && sl->turn == b))
			pthread_cond_wait(&p.cond, &p.lock);
		pthread_mutex_unlock(&p.lock);
		/* stream bytes [s0, s0 + len) of the batch, trimmed to
		 * [off, end) */
		s0 = (uint64_t)sl->first * fs;
		done = sl->first + sl->n;
		r = sl->err;
		if (r == 0 && sl->len) {
			uint64_t from = off > s0 ? off - s0 : 0;
			uint64_t to = end < s0 + sl->len ? end - s0 : sl->len;

			if (to > from)
				r = sink(arg, sl->data + from, (size_t)(to - from));
		}
		pthread_mutex_lock(&p.lock);
		sl->state = 0;
		sl->turn += CAT_SLOTS;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
	}
	pthread_mutex_lock(&p.lock);
	p.stop = 1;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < CAT_SLOTS; i++)
		free(p.slot[i].data);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	ocb_link_est_free(p.link);
	return r;
}

int ocb_archive_cat(struct ocb_archive *a, ocb_sink_fn sink, void *arg)
{
	if (a->lg)
		return ocb_oldtool_cat(a->lg, sink, arg);
	return ocb_archive_cat_range(a, 0, ocb_archive_info(a)->stream_size,
				     sink, arg);
}

const uint8_t *ocb_archive_backup_id(const struct ocb_archive *a)
{
	return a->hdr.backup_id;
}
