/*
 * archive_read.c - native ocb backups (docs/FORMAT.md) behind the archive
 * interface (archive_ops.h): open one (trailer, key, catalog), read and
 * verify its frames, stream it with a pipeline of range requests.
 *
 * Opening costs one suffix read, which usually holds the trailer, the
 * header copy and the whole catalog; a large catalog costs one more read.
 */
#include "ocb_archive.h"
#include "archive_ops.h"
#include "buf.h"
#include "catalog.h"
#include "crypto.h"
#include "format.h"
#include "frame_i.h"
#include "keys.h"
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

/* the native implementation's state */
struct native_archive {
	struct ocb_store *s;
	char *key;
	char etag[OCB_ETAG_MAX];
	struct ocb_header hdr;
	struct ocb_trailer tr;
	uint8_t *data_key;
	struct ocb_catalog *cat;
};

/* the end of the object as one suffix read: the trailer, the header copy
 * and usually the whole catalog */
struct native_suffix {
	uint8_t *data;
	size_t len;
	uint64_t start;		/* object offset of data[0] */
	uint64_t object_size;
	uint8_t trailer[OCB_TRAILER_SIZE];
	uint8_t header[OCB_HEADER_SIZE];
};

static const struct ocb_archive_ops native_ops;

static void log_damage(const struct native_archive *na, const char *what)
{
	char esc[512];

	ocb_err("backup %s: %s", ocb_log_escape(esc, sizeof(esc), na->key),
		what);
}

/*
 * What the authenticated content says against where the object lies: its
 * name (formats 1 and 2), and in format 2 its prefix (so its instance) and
 * its creation time, which its name carries too.  A backup copied under a
 * newer name or into another instance's prefix fails here.
 */
static int check_binding(const struct native_archive *na)
{
	const char *key = na->key;
	const struct ocb_catalog *c = na->cat;
	const char *slash = strrchr(key, '/');
	const char *base = slash ? slash + 1 : key;
	size_t plen = slash ? (size_t)(slash - key) : 0;
	size_t nl = strlen(c->name);
	int64_t nt;
	int lab;

	if (c->version != na->hdr.version || na->tr.version != na->hdr.version)
		return -EBADMSG;
	if (strncmp(base, c->name, nl) != 0 || strcmp(base + nl, ".ocb") != 0)
		return -EBADMSG;
	if (c->version < 2)
		return 0;
	if (strlen(c->prefix) != plen || strncmp(key, c->prefix, plen) != 0)
		return -EBADMSG;
	if (c->created != na->hdr.created ||
	    (ocb_backup_name_time(c->name, &nt, &lab) == 0 &&
	     nt != c->created))
		return -EBADMSG;
	return 0;
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

static void native_free(void *impl)
{
	struct native_archive *na = impl;

	if (!na)
		return;
	ocb_catalog_free(na->cat);
	ocb_crypto_key_free(na->data_key);
	free(na->key);
	free(na);
}

/* the object's last OPEN_SUFFIX bytes, its size and ETag */
static int native_fetch_suffix(struct native_archive *na,
			       struct native_suffix *sx)
{
	struct ocb_get_req g = { .key = na->key, .len = OPEN_SUFFIX,
				 .suffix = 1 };
	struct ocb_obj_head h = { 0 };
	struct ocb_buf b;
	int r;

	ocb_buf_init(&b, OPEN_SUFFIX);
	r = na->s->ops->get(na->s, &g, (ocb_sink_fn)ocb_buf_append, &b, &h);
	if (r == 0) {
		memcpy(sx->data, b.data ? b.data : "", b.len);
		sx->len = b.len;
	}
	ocb_buf_release(&b);
	sx->object_size = h.size;
	snprintf(na->etag, sizeof(na->etag), "%s", h.etag);
	ocb_obj_head_release(&h);
	return r;
}

/* the trailer (at the end of the suffix) and the header copy it points
 * to, decoded into na */
static int native_decode_ends(struct native_archive *na,
			      struct native_suffix *sx)
{
	int r;

	if (sx->len < OCB_TRAILER_SIZE + OCB_HEADER_SIZE ||
	    sx->object_size < sx->len) {
		log_damage(na, "too short to be a backup (truncated?)");
		return -EBADMSG;
	}
	sx->start = sx->object_size - sx->len;
	memcpy(sx->trailer, sx->data + sx->len - OCB_TRAILER_SIZE,
	       OCB_TRAILER_SIZE);
	r = ocb_trailer_decode(sx->trailer, sx->object_size, &na->tr);
	if (r < 0) {
		log_damage(na, r == -EPROTO ? "unknown format version" :
			   "trailer damaged or object truncated");
		return r;
	}
	memcpy(sx->header, sx->data + (na->tr.header_off - sx->start),
	       OCB_HEADER_SIZE);
	r = ocb_header_decode(sx->header, &na->hdr);
	if (r < 0)
		log_damage(na, "header damaged");
	return r;
}

/* the data key, unwrapped by kp with the name the object is stored under
 * (KMS's context) */
static int native_unwrap_key(struct native_archive *na,
			     struct ocb_keyprov *kp)
{
	const char *base = strrchr(na->key, '/');
	char name[256];
	size_t bl;

	base = base ? base + 1 : na->key;
	bl = strlen(base);
	if (bl > 4 && bl - 4 < sizeof(name) && !strcmp(base + bl - 4, ".ocb")) {
		memcpy(name, base, bl - 4);
		name[bl - 4] = '\0';
	} else {
		name[0] = '\0';
	}
	return ocb_keyprov_unwrap_named(kp, na->hdr.backup_id,
					name[0] ? name : NULL, &na->hdr.key,
					&na->data_key);
}

/* the sealed catalog into *out (malloc'ed): in the suffix already, or one
 * more range read */
static int native_fetch_catalog(struct native_archive *na,
				const struct native_suffix *sx, uint8_t **out)
{
	struct ocb_get_req c = { .key = na->key, .off = na->tr.catalog_off,
				 .len = na->tr.catalog_len,
				 .if_match = na->etag[0] ? na->etag : NULL };
	uint8_t *sealed = malloc(na->tr.catalog_len);
	struct ocb_buf b;
	int r;

	if (!sealed)
		return -ENOMEM;
	if (na->tr.catalog_off >= sx->start) {
		memcpy(sealed, sx->data + (na->tr.catalog_off - sx->start),
		       na->tr.catalog_len);
		*out = sealed;
		return 0;
	}
	ocb_buf_init(&b, na->tr.catalog_len);
	r = na->s->ops->get(na->s, &c, (ocb_sink_fn)ocb_buf_append, &b, NULL);
	if (r == 0 && b.len != na->tr.catalog_len)
		r = -EBADMSG;
	if (r == 0)
		memcpy(sealed, b.data, b.len);
	ocb_buf_release(&b);
	if (r < 0) {
		free(sealed);
		return r;
	}
	*out = sealed;
	return 0;
}

/* does the catalog describe the frames the trailer points past? */
static int native_catalog_matches_trailer(const struct native_archive *na)
{
	const struct ocb_catalog *c = na->cat;
	uint64_t frames_end = c->nf ? c->f[c->nf - 1].off +
			      c->f[c->nf - 1].sealed_len :
			      (uint64_t)OCB_HEADER_SIZE;

	return c->nf == na->tr.nframes &&
	       c->stream_size == na->tr.stream_size &&
	       c->frame_size == na->hdr.frame_size &&
	       frames_end == na->tr.catalog_off;
}

/* open, decode and check the sealed catalog against the trailer and the
 * place the object is stored at */
static int native_open_catalog(struct native_archive *na,
			       const struct native_suffix *sx,
			       uint8_t *sealed)
{
	uint8_t *plain = NULL;
	char esc[256], pesc[512];
	int r;

	r = ocb_catalog_open(na->data_key, na->hdr.backup_id, sx->trailer,
			     sx->header, sealed, na->tr.catalog_len,
			     na->tr.catalog_plain_len, &plain);
	if (r < 0) {
		log_damage(na, "catalog failed verification (damaged, "
			   "tampered with, or not this key)");
		return r;
	}
	r = ocb_catalog_decode(plain, na->tr.catalog_plain_len, &na->cat);
	if (r < 0) {
		log_damage(na, "catalog is malformed");
		return r;
	}
	if (!native_catalog_matches_trailer(na)) {
		log_damage(na, "catalog does not match the trailer");
		return -EBADMSG;
	}
	r = check_binding(na);
	if (r < 0) {
		log_damage(na, "its authenticated name, prefix, format or "
			   "time is not where it is stored (renamed, copied "
			   "from another instance, or rolled back)");
		ocb_err("  the backup says it is %s/%s.ocb",
			na->cat->version >= 2 ? ocb_log_escape(pesc,
			sizeof(pesc), na->cat->prefix) : "...",
			ocb_log_escape(esc, sizeof(esc), na->cat->name));
	}
	return r;
}

static void native_fill_info(const struct native_archive *na,
			     uint64_t object_size, struct ocb_archive_info *in)
{
	const struct ocb_catalog *c = na->cat;

	memset(in, 0, sizeof(*in));
	in->format_version = na->hdr.version;
	in->bound = c->version >= 2;
	in->warnings = c->warnings;
	snprintf(in->name, sizeof(in->name), "%s", c->name);
	snprintf(in->instance, sizeof(in->instance), "%s", c->instance);
	snprintf(in->host, sizeof(in->host), "%s", c->host);
	snprintf(in->label, sizeof(in->label), "%s", c->label);
	root_xattr(c, OCB_XATTR_GROUP, in->group, sizeof(in->group));
	root_xattr(c, OCB_XATTR_ROLE, in->role, sizeof(in->role));
	snprintf(in->key_provider, sizeof(in->key_provider), "%s",
		 ocb_key_type_name(na->hdr.key.type));
	in->created = c->created;
	in->entries = c->n;
	in->stream_size = c->stream_size;
	in->object_size = object_size;
	in->frame_size = c->frame_size;
	in->nframes = c->nf;
}

int ocb_archive_open(struct ocb_store *s, const char *key,
		     struct ocb_keyprov *kp, struct ocb_archive **out)
{
	struct native_archive *na = calloc(1, sizeof(*na));
	struct native_suffix sx = { .data = malloc(OPEN_SUFFIX) };
	struct ocb_archive_info info;
	uint8_t *sealed = NULL;
	int r;

	if (!na || !sx.data || !(na->key = strdup(key))) {
		r = -ENOMEM;
		goto out;
	}
	na->s = s;
	r = native_fetch_suffix(na, &sx);
	if (r == 0)
		r = native_decode_ends(na, &sx);
	if (r == 0)
		r = native_unwrap_key(na, kp);
	if (r == 0)
		r = native_fetch_catalog(na, &sx, &sealed);
	if (r == 0)
		r = native_open_catalog(na, &sx, sealed);
	if (r < 0)
		goto out;
	native_fill_info(na, sx.object_size, &info);
	r = ocb_archive_new(&native_ops, na, na->cat, &info, out);
	na = NULL;	/* the archive's, also on failure */
out:
	native_free(na);
	free(sealed);
	free(sx.data);
	return r;
}

/* ---- frames ------------------------------------------------------------- */

static int native_read_frames(struct ocb_archive *a, uint32_t first,
			      uint32_t n, ocb_frame_fn cb, void *arg)
{
	struct native_archive *na = ocb_archive_impl(a);
	const struct ocb_frame_rec *f;
	struct ocb_buf b;
	uint8_t *out = NULL;
	ZSTD_DCtx *dctx = NULL;
	uint64_t start, end;
	uint32_t i;
	int r;

	f = na->cat->f;
	start = f[first].off;
	end = f[first + n - 1].off + f[first + n - 1].sealed_len;
	ocb_buf_init(&b, end - start);
	if (ocb_buf_reserve(&b, end - start) < 0)	/* one allocation, no regrowth */
		return -ENOMEM;
	{
		struct ocb_get_req g = { .key = na->key, .off = start,
					 .len = end - start,
					 .if_match = na->etag[0] ? na->etag : NULL };

		r = na->s->ops->get(na->s, &g, (ocb_sink_fn)ocb_buf_append, &b,
				     NULL);
	}
	if (r == -ESTALE) {
		log_damage(na, "the object changed since it was opened");
		goto out;
	}
	if (r < 0)
		goto out;
	if (b.len != end - start) {
		r = -EBADMSG;
		log_damage(na, "short frame read");
		goto out;
	}
	out = malloc(na->cat->frame_size);
	dctx = ZSTD_createDCtx();
	if (!out || !dctx) {
		r = -ENOMEM;
		goto out;
	}
	for (i = first; i < first + n; i++) {
		r = ocb_frame_open(na->data_key, na->hdr.backup_id, i, dctx,
				   b.data + (f[i].off - start), f[i].sealed_len,
				   f[i].plain_len, f[i].flags, out);
		if (r < 0) {
			char msg[96];

			snprintf(msg, sizeof(msg), "frame %u failed verification "
				 "(damaged or tampered with)", i);
			log_damage(na, msg);
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

static int native_frame_location(const struct ocb_archive *a, uint32_t i,
				 uint64_t *off, uint32_t *sealed_len)
{
	const struct native_archive *na = ocb_archive_impl(a);

	if (i >= na->cat->nf)
		return -EINVAL;
	*off = na->cat->f[i].off;
	*sealed_len = na->cat->f[i].sealed_len;
	return 0;
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
	const struct ocb_frame_rec *f;	/* the catalog's frames */
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
	const struct ocb_frame_rec *f = p->f;
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

static int native_cat_range(struct ocb_archive *a, uint64_t off,
			    uint64_t len, ocb_sink_fn sink, void *arg)
{
	const struct native_archive *na = ocb_archive_impl(a);
	struct cat_pipe p = { .a = a, .f = na->cat->f };
	uint64_t fs, end = off + len, stream, b;
	pthread_t th[CAT_WORKERS];
	int nth = 0, i, r = 0;
	uint32_t done;

	fs = na->cat->frame_size;
	stream = na->cat->stream_size;
	if (off > stream || len > stream - off)
		return -EINVAL;
	if (!len)
		return 0;
	p.next = (uint32_t)(off / fs);
	p.end = (uint32_t)((end + fs - 1) / fs);
	p.unit = (na->cat->f[p.end - 1].off + na->cat->f[p.end - 1].sealed_len -
		  na->cat->f[p.next].off) / (p.end - p.next);
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

static int native_cat(struct ocb_archive *a, ocb_sink_fn sink, void *arg)
{
	return native_cat_range(a, 0, ocb_archive_info(a)->stream_size, sink,
				arg);
}

static int native_map_path(const struct ocb_archive *a, const char *path,
			   char *out, size_t size)
{
	(void)a;
	if (snprintf(out, size, "%s", path) >= (int)size)
		return -EINVAL;
	return 0;
}

static const uint8_t *native_backup_id(const struct ocb_archive *a)
{
	const struct native_archive *na = ocb_archive_impl(a);

	return na->hdr.backup_id;
}

static const struct ocb_archive_ops native_ops = {
	.old_tool = 0,
	.free = native_free,
	.read_frames = native_read_frames,
	.frame_location = native_frame_location,
	.cat_range = native_cat_range,
	.cat = native_cat,
	.verify = ocb_archive_verify_hashes,
	.map_path = native_map_path,
	.backup_id = native_backup_id,
};
