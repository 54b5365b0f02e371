/*
 * archive_read.c - native ocb backups (docs/FORMAT.md) behind the archive
 * interface (archive_ops.h): open one (trailer, key, catalog), read and
 * verify its frames, stream it with a pipeline of range requests.
 *
 * Opening costs one suffix read, which usually holds the trailer, the
 * header copy and the whole catalog (format 4: its index, at least); a
 * large catalog costs one more read.  Format 4's details (SHA-256s, entry
 * stats, block hashes) are read then too, or on their first use by an
 * archive opened with OCB_ARCHIVE_LAZY_DETAILS (the mount).
 *
 * Format 3 (incremental): the tar stream is logical, made of segments of
 * this object's physical stream and of other objects' ("refs").  Frames
 * handed to callers are cuts of the logical stream, assembled from the
 * physical frames of each source, each opened with that source's key and
 * id, as its own reader would, and checked against the frame records this
 * catalog holds.  A ref's data key is unwrapped from its copied header
 * the first time it is needed.  A repack's replacement reads ranges of
 * one source's physical stream the same way (ocb_archive_read_source).
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
#include "mem_gate.h"
#include "parallel.h"
#include "phys_cache.h"
#include "backup_name.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define OPEN_SUFFIX (256 * 1024)

/* the native implementation's state */
struct native_archive {
	struct ocb_store *s;
	char *key;
	char etag[OCB_ETAG_MAX];
	struct ocb_header hdr;
	uint8_t hdr_raw[OCB_HEADER_SIZE];	/* as stored */
	struct ocb_trailer tr;
	uint8_t *data_key;
	struct ocb_catalog *cat;
	/* format 3 */
	struct ocb_keyprov *kp;		/* for the refs' keys */
	pthread_mutex_t key_lock;
	int key_lock_init;
	uint8_t **ref_keys;		/* unwrapped when first needed */
	_Atomic uint64_t ref_bytes;	/* sealed bytes read from refs */
	atomic_uint fetch_helpers;	/* threads lent to mapped reads */
	uint64_t sealed_all, plain_all;	/* of every frame it is made of */
	struct ocb_phys_cache *phys;	/* NULL, or frames kept across reads */
	pthread_mutex_t details_lock;	/* format 4: loading the details */
	int details_lock_init;
	_Atomic(uint32_t *) seg_next;	/* format 3, made when first needed:
					 * per segment, the next one of its
					 * source (SEG_NONE: none) */
	_Atomic(struct frame_uses *) uses;	/* format 3, made when first
						 * needed by a sequential read */
	uint64_t open_local;	/* bytes of the open a cache layer gave */
	int open_refetch;	/* the open's reads: past any cache layer */
};

/* per physical frame of every source, the segments that use it, in
 * stream order: where the stream next needs a frame */
struct frame_uses {
	uint32_t *fbase;	/* per source: its frame 0's index in start */
	uint32_t *start;	/* per frame, and one more: its first use */
	uint64_t *loff, *end;	/* per use: its segment's logical extent */
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

static void uses_free(struct frame_uses *u)
{
	if (!u)
		return;
	free(u->fbase);
	free(u->start);
	free(u->loff);
	free(u->end);
	free(u);
}

static void native_free(void *impl)
{
	struct native_archive *na = impl;

	if (!na)
		return;
	if (na->ref_keys && na->cat)
		for (uint32_t i = 0; i < na->cat->nrefs; i++)
			ocb_crypto_key_free(na->ref_keys[i]);
	free(na->ref_keys);
	if (na->key_lock_init)
		pthread_mutex_destroy(&na->key_lock);
	if (na->details_lock_init)
		pthread_mutex_destroy(&na->details_lock);
	free(atomic_load(&na->seg_next));
	uses_free(atomic_load(&na->uses));
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
				 .suffix = 1, .local_bytes = &na->open_local,
				 .refetch = na->open_refetch };
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
	memcpy(na->hdr_raw, sx->header, OCB_HEADER_SIZE);
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
				 .if_match = na->etag[0] ? na->etag : NULL,
				 .local_bytes = &na->open_local,
				 .refetch = na->open_refetch };
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

/* does the catalog describe the frames the trailer points past (format
 * 4: the frames, then the details, end where the index starts)? */
static int native_catalog_matches_trailer(const struct native_archive *na)
{
	const struct ocb_catalog *c = na->cat;
	uint64_t frames_end = c->nf ? c->f[c->nf - 1].off +
			      c->f[c->nf - 1].sealed_len :
			      (uint64_t)OCB_HEADER_SIZE;
	uint64_t cat_off = na->tr.catalog_off;

	if (c->version >= 4) {
		if (c->details_off + c->details_len != cat_off)
			return 0;
		cat_off = c->details_off;
	}
	return c->nf == na->tr.nframes &&
	       c->stored_size == na->tr.stream_size &&
	       c->frame_size == na->hdr.frame_size &&
	       frames_end == cat_off;
}

/* format 4: the sealed details, from the suffix (sx, when it holds them)
 * or one range read, opened and decoded into the catalog.  Damage is
 * logged only when the bytes came from the store: bytes from a cache
 * layer that fail are read again past it (the callers) */
static int native_load_details(struct native_archive *na,
			       const struct native_suffix *sx)
{
	uint64_t local = na->open_local;
	struct ocb_catalog *c = na->cat;
	struct ocb_get_req g = { .key = na->key, .off = c->details_off,
				 .len = c->details_len,
				 .if_match = na->etag[0] ? na->etag : NULL,
				 .local_bytes = &na->open_local,
				 .refetch = na->open_refetch };
	uint8_t *plain = NULL;
	struct ocb_buf b;
	int r = 0;

	ocb_buf_init(&b, c->details_len);
	if (sx && c->details_off >= sx->start)
		r = ocb_buf_append(&b, sx->data + (c->details_off - sx->start),
				   c->details_len);
	else
		r = na->s->ops->get(na->s, &g, (ocb_sink_fn)ocb_buf_append,
				    &b, NULL);
	if (r == 0 && b.len != c->details_len)
		r = -EBADMSG;
	if (r == 0) {
		r = ocb_details_open(na->data_key, na->hdr.backup_id,
				     na->hdr_raw, c->details_off, (uint8_t *)b.data,
				     b.len, c->details_plain, &plain);
		if (r < 0 && (na->open_local == local || na->open_refetch))
			log_damage(na, "catalog details failed verification "
				   "(damaged or tampered with)");
	}
	if (r == 0) {
		r = ocb_catalog_decode_details(c, plain, c->details_plain);
		if (r < 0)
			log_damage(na, "catalog details are malformed");
	}
	ocb_buf_release(&b);
	return r;
}

static int native_details(struct ocb_archive *a)
{
	struct native_archive *na = ocb_archive_impl(a);
	int r = 0;

	pthread_mutex_lock(&na->details_lock);
	if (na->cat->details_pending) {
		uint64_t local = na->open_local;

		r = native_load_details(na, NULL);
		if ((r == -EBADMSG || r == -EPROTO) && na->open_local != local) {
			ocb_debug("details of %s from cached bytes failed: "
				  "read again", na->key);
			na->open_refetch = 1;
			r = native_load_details(na, NULL);
			na->open_refetch = 0;
		}
	}
	pthread_mutex_unlock(&na->details_lock);
	return r;
}

/* format 3: no ref is this object itself; room for the refs' keys; the
 * sizes of every frame it is made of */
static int check_refs(struct native_archive *na)
{
	const struct ocb_catalog *c = na->cat;
	uint32_t i, nall;

	for (i = 0; i < c->nrefs; i++)
		if (!memcmp(c->refs[i].id, na->hdr.backup_id, 16)) {
			log_damage(na, "it refers to itself");
			return -EBADMSG;
		}
	nall = c->nf;
	for (i = 0; i < c->nrefs; i++)
		nall += c->refs[i].nframes;
	for (i = 0; i < nall; i++) {
		na->sealed_all += c->f[i].sealed_len;
		na->plain_all += c->f[i].plain_len;
	}
	na->ref_keys = calloc(c->nrefs ? c->nrefs : 1, sizeof(*na->ref_keys));
	if (!na->ref_keys || pthread_mutex_init(&na->key_lock, NULL))
		return -ENOMEM;
	na->key_lock_init = 1;
	return 0;
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
	r = check_refs(na);
	if (r < 0)
		return r;
	if (pthread_mutex_init(&na->details_lock, NULL))
		return -ENOMEM;
	na->details_lock_init = 1;
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
	in->stored_size = c->stored_size;
	snprintf(in->base, sizeof(in->base), "%s", c->base ? c->base : "");
	in->depth = c->depth;
	in->nrefs = c->nrefs;
	in->object_size = object_size;
	in->frame_size = c->frame_size;
	in->nframes = c->nlf;
}

int ocb_archive_open(struct ocb_store *s, const char *key,
		     struct ocb_keyprov *kp, struct ocb_archive **out)
{
	return ocb_archive_open_ex(s, key, kp, 0, out);
}

/* one try of ocb_archive_open_ex; *local: bytes a cache layer gave */
static int native_open(struct ocb_store *s, const char *key,
		       struct ocb_keyprov *kp, unsigned int flags, int refetch,
		       uint64_t *local, struct ocb_archive **out)
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
	na->kp = kp;
	na->open_refetch = refetch;
	r = native_fetch_suffix(na, &sx);
	if (r == 0)
		r = native_decode_ends(na, &sx);
	if (r == 0)
		r = native_unwrap_key(na, kp);
	if (r == 0)
		r = native_fetch_catalog(na, &sx, &sealed);
	if (r == 0)
		r = native_open_catalog(na, &sx, sealed);
	/* the details: now, unless lazy and not in the suffix already */
	if (r == 0 && na->cat->details_pending &&
	    (!(flags & OCB_ARCHIVE_LAZY_DETAILS) ||
	     na->cat->details_off >= sx.start))
		r = native_load_details(na, &sx);
	if (na)
		*local = na->open_local;
	if (r < 0)
		goto out;
	na->open_refetch = 0;
	native_fill_info(na, sx.object_size, &info);
	r = ocb_archive_new(&native_ops, na, na->cat, &info, out);
	na = NULL;	/* the archive's, also on failure */
out:
	native_free(na);
	free(sealed);
	free(sx.data);
	return r;
}

/* bytes from a cache layer that fail (damaged cache files) are read once
 * more past it, and only the store's failing too is damage; a data key
 * that does not unwrap (-ENOKEY) may be a damaged cached header copy as
 * well (not authenticated before the key is: the catalog's tag covers
 * it), and then the key provider's error is logged once before the
 * store's bytes open */
int ocb_archive_open_ex(struct ocb_store *s, const char *key,
			struct ocb_keyprov *kp, unsigned int flags,
			struct ocb_archive **out)
{
	uint64_t local = 0;
	int r = native_open(s, key, kp, flags, 0, &local, out);

	if ((r == -EBADMSG || r == -EPROTO || r == -ENOKEY) && local) {
		ocb_debug("opening %s from cached bytes failed: read again",
			  key);
		r = native_open(s, key, kp, flags, 1, &local, out);
	}
	return r;
}

/* ---- frames ------------------------------------------------------------- */

/* where source src (0: this object, r + 1: ref r) is read from */
struct source {
	char key[OCB_KEY_MAX];
	const char *etag;		/* NULL: not known */
	const uint8_t *id;
	const uint8_t *data_key;
	const struct ocb_frame_rec *f;	/* its frame records */
	uint32_t nframes, frame_size;
	int is_ref;
};

/* ref r's data key, unwrapped from its copied header by the key provider
 * exactly as opening that backup would (name: its KMS context) */
static int ref_key(struct native_archive *na, uint32_t r, const uint8_t **out)
{
	const struct ocb_ref_rec *ref = &na->cat->refs[r];
	struct ocb_header h;
	int err = 0;

	pthread_mutex_lock(&na->key_lock);
	if (!na->ref_keys[r]) {
		err = ocb_header_decode(ref->header, &h);	/* validated */
		if (err == 0)
			err = ocb_keyprov_unwrap_named(na->kp, ref->id,
						       ref->name, &h.key,
						       &na->ref_keys[r]);
		if (err < 0) {
			char msg[400], esc[300];

			snprintf(msg, sizeof(msg), "the data key of the backup "
				 "it refers to, %s, does not unwrap",
				 ocb_log_escape(esc, sizeof(esc), ref->name));
			log_damage(na, msg);
		}
	}
	*out = na->ref_keys[r];
	pthread_mutex_unlock(&na->key_lock);
	return err;
}

static int source_get(struct native_archive *na, uint32_t src,
		      struct source *so)
{
	const struct ocb_catalog *c = na->cat;
	const struct ocb_ref_rec *ref;
	const char *slash;
	int r;

	if (src == 0) {
		snprintf(so->key, sizeof(so->key), "%s", na->key);
		so->etag = na->etag[0] ? na->etag : NULL;
		so->id = na->hdr.backup_id;
		so->data_key = na->data_key;
		so->f = c->f;
		so->nframes = c->nf;
		so->frame_size = c->frame_size;
		so->is_ref = 0;
		return 0;
	}
	ref = &c->refs[src - 1];
	slash = strrchr(na->key, '/');
	if (snprintf(so->key, sizeof(so->key), "%.*s%s.ocb",
		     slash ? (int)(slash - na->key + 1) : 0, na->key,
		     ref->name) >= (int)sizeof(so->key))
		return -ENAMETOOLONG;
	so->etag = NULL;
	so->id = ref->id;
	so->f = c->f + ref->first_frame;
	so->nframes = ref->nframes;
	so->frame_size = ref->frame_size;
	so->is_ref = 1;
	r = ref_key(na, src - 1, &so->data_key);
	return r;
}

/* b, for a fetch of len bytes: one allocation of the reads' working
 * memory (phys_cache.h: a command's in huge pages), which b's appends
 * fill without regrowth; release it with fetch_buf_release() */
static int fetch_buf_init(struct native_archive *na, struct ocb_buf *b,
			  size_t len)
{
	ocb_buf_init(b, len);
	b->data = ocb_phys_cache_mem_alloc(na->phys, len + 1);
	if (!b->data)
		return -ENOMEM;
	b->cap = len;
	b->data[0] = '\0';
	return 0;
}

static void fetch_buf_release(struct native_archive *na, struct ocb_buf *b)
{
	ocb_phys_cache_mem_free(na->phys, b->data, b->cap + 1);
	ocb_buf_init(b, 0);
}

/* the sealed frames [first, first + n) of source so with one range
 * request, into b (fetch_buf_init()); *start: the object offset
 * of b's first byte; *net (may be NULL) set to 1 when some of it came from
 * the store itself, past any cache layer, *cached to whether some came
 * from a cache layer.  Bytes received from a ref count, once per request. */
static int source_fetch(struct native_archive *na, const struct source *so,
			uint32_t first, uint32_t n, struct ocb_buf *b,
			uint64_t *start, int *net, int *cached)
{
	const struct ocb_frame_rec *f = so->f;
	uint64_t end = f[first + n - 1].off + f[first + n - 1].sealed_len;
	uint64_t local = 0;
	struct ocb_get_req g = { .key = so->key, .off = f[first].off,
				 .len = end - f[first].off,
				 .if_match = so->etag, .local_bytes = &local };
	int r;

	if (fetch_buf_init(na, b, g.len) < 0)
		return -ENOMEM;
	r = na->s->ops->get(na->s, &g, (ocb_sink_fn)ocb_buf_append, b, NULL);
	if (net && local < b->len)
		*net = 1;
	*cached = local > 0;
	if (so->is_ref)
		atomic_fetch_add(&na->ref_bytes, b->len);
	if (r == -ESTALE)
		log_damage(na, "the object changed since it was opened");
	if (r == -ENOENT && so->is_ref) {
		log_damage(na, "an object it refers to is gone");
		r = -EBADMSG;
	}
	if (r == 0 && b->len != g.len) {
		log_damage(na, "short frame read");
		r = -EBADMSG;
	}
	*start = g.off;
	return r;
}

/* physical frame i of source so, its sealed bytes at sealed (opened in
 * place: once only), verified and decoded into out (so->frame_size bytes).
 * Bytes that fail when some came from a cache layer (cached) are fetched
 * again once, past it (refetch: a damaged cache file is replaced); only
 * the store's failing is damage. */
static int source_open(struct native_archive *na, const struct source *so,
		       uint32_t i, ZSTD_DCtx *dctx, void *sealed, int cached,
		       uint8_t *out)
{
	const struct ocb_frame_rec *f = &so->f[i];
	struct ocb_get_req g = { .key = so->key, .off = f->off,
				 .len = f->sealed_len, .if_match = so->etag,
				 .refetch = 1 };
	char msg[400], esc[300];

	if (ocb_frame_open(so->data_key, so->id, i, dctx, sealed,
			   f->sealed_len, f->plain_len, f->flags, out) == 0)
		return 0;
	if (!cached)
		goto bad;
	ocb_debug("frame %u of %s failed verification: fetched again", i,
		  ocb_log_escape(esc, sizeof(esc), so->key));
	if (ocb_store_read_req(na->s, &g, sealed) == (ssize_t)f->sealed_len &&
	    ocb_frame_open(so->data_key, so->id, i, dctx, sealed,
			   f->sealed_len, f->plain_len, f->flags, out) == 0)
		return 0;
bad:
	snprintf(msg, sizeof(msg), "frame %u of %s failed verification "
		 "(damaged or tampered with)", i,
		 ocb_log_escape(esc, sizeof(esc), so->key));
	log_damage(na, msg);
	return -EBADMSG;
}

/* physical frames [first, first + n) of source so, with one range
 * request, each opened (its tag, its source's id and its index) and handed
 * to cb in order */
static int source_frames(struct native_archive *na, const struct source *so,
			 uint32_t first, uint32_t n, ocb_frame_fn cb, void *arg,
			 int *net)
{
	const struct ocb_frame_rec *f = so->f;
	struct ocb_buf b;
	uint8_t *out = NULL;
	ZSTD_DCtx *dctx = NULL;
	uint64_t start;
	uint32_t i;
	int r, cached;

	r = source_fetch(na, so, first, n, &b, &start, net, &cached);
	if (r < 0)
		goto out;
	out = malloc(so->frame_size);
	dctx = ZSTD_createDCtx();
	if (!out || !dctx) {
		r = -ENOMEM;
		goto out;
	}
	for (i = first; r == 0 && i < first + n; i++) {
		r = source_open(na, so, i, dctx, b.data + (f[i].off - start),
				cached, out);
		if (r == 0)
			r = cb(arg, i, out, f[i].plain_len);
	}
out:
	ZSTD_freeDCtx(dctx);
	free(out);
	fetch_buf_release(na, &b);
	return r;
}

/*
 * Format 3: logical frames assembled from the sources' physical frames.
 * The segments of the range are first grouped into fetches: a segment
 * joins the last fetch of its source when it starts in that fetch's last
 * physical frame or the next one (so a file's data stays one request even
 * with other sources' small pieces around it), else it starts a new one.
 * Each fetch is one range request, and the fetches of one call run at
 * once (ASM_FETCH_PAR at most): a range spread over many objects costs one
 * round trip, not one per object.  The calls of one backup (read-ahead
 * workers, the cat pipeline's) share ASM_HELPERS threads besides their
 * own, so that requests in flight stay near what the callers chose.
 * Then each logical frame is assembled: its pieces (a piece: the bytes of
 * one segment within one physical frame) are taken in the order of their
 * physical frames, so each physical frame it needs is opened once for it,
 * into one of ASM_SLOTS plaintext slots kept across logical frames (LRU:
 * this object's tar headers, a base's data and the changed blocks of a
 * few days interleave).  A frame is opened from a copy of its sealed
 * bytes, which stay in the fetch: a frame wanted again after its slot was
 * taken is opened again (CPU), never fetched again.  A logical frame that
 * is one piece goes to the caller straight from its physical frame, else
 * from one assembly buffer.
 * Across calls (the next read-ahead request, the other cat worker, the
 * next backup of the series) physical frames are kept, once opened, in
 * the process's phys_cache.h when the archive was given one: a fetch does
 * not request the kept frames at its ends, and a slot pins a kept frame
 * (read in place: no copy of a whole frame for each logical frame that
 * takes a few pages of it) instead of opening it again.
 * A sequential read (the cat pipeline) looks ahead too: a fetch that
 * requests frames of a source also requests that source's next frames
 * (LOOK_FRAMES at most, adjacent or LOOK_GAP apart) when the segment map
 * says the stream needs them later, and not soon (LOOK_NEAR: the calls
 * reading on will fetch those with their own); they are opened and kept
 * ahead in the phys_cache.h for the call that needs them.  An object of a
 * day of changes (a frame of changed files and pages, and a tail of the
 * files at the end of the stream) then costs one request, not two.  The
 * next segment of each source is found in a table made once per backup
 * (seg_next); what one call looks ahead is bounded by LOOK_CALL bytes and
 * counted in what it holds at the gate.  A sequential read also says, of
 * each frame it keeps, where the stream needs it next (frame_uses: per
 * physical frame, the segments using it, made once per backup), and the
 * cache keeps the frames needed soonest: a large file whose pages are
 * spread over a month of objects needs all of their frames for every
 * megabyte, more than the cache holds, and least recently used was the
 * worst choice there.  A frame left out of a call's requests is held in
 * the cache until the call ends, and one it had to fetch alone anyway is
 * kept for the call (ASM_ALONE), not fetched again for its next piece.
 * Memory per call: the fetches' sealed frames (those of the logical frames
 * read, as for a full backup, and the few frames holding the pieces
 * around them), ASM_SLOTS physical frames, ASM_ALONE sealed frames
 * fetched alone, one sealed frame's copy and one logical frame.  Reads
 * sharing a phys_cache.h hold it within that cache's bound on working
 * memory (mem_gate.h): a call reckons what it will hold once its fetches
 * are planned (asm_need: not the frames kept or coming at their ends) and
 * waits, before fetching, while the others hold too much; it holds
 * nothing else then, and waits on nobody while it reads.  What its claims
 * or frames fetched alone add past that estimate is taken without waiting
 * (a frame evicted meanwhile: rare, ASM_ALONE at most).
 */
#define ASM_SLOTS 4
#define ASM_ALONE 4		/* frames fetched alone, kept by one call */
#define ASM_FETCH_PAR 8		/* range requests of one call in flight */
#define ASM_HELPERS 8		/* threads lent to one backup's calls */
#define LOOK_FRAMES 4		/* frames of a source fetched ahead, at most */
#define LOOK_GAP (256u << 10)	/* sealed bytes skipped to reach them */
#define LOOK_NEAR (8ull << 20)	/* logical bytes past the call: soon */
#define LOOK_SEGS 4096		/* later segments of a source looked at */
#define LOOK_CALL (8u << 20)	/* sealed bytes one call fetches ahead */
#define SEG_NONE UINT32_MAX

struct fetch {
	uint32_t src, f0, f1;
	uint32_t x1;		/* frames (f1, x1]: fetched ahead */
	uint32_t last_seg;	/* its last segment */
	uint32_t u0, u1;	/* the frames requested: [f0, x1] less those
				 * kept across reads, or another read is
				 * fetching, at either end */
	int mine0, mine1;	/* u0, u1 <= f1 claimed by this read
				 * (phys_cache.h) */
	uint32_t mine_ahead;	/* bit i: frame f1 + 1 + i claimed */
	struct source so;
	struct native_archive *na;
	struct ocb_buf b;	/* its sealed frames, from object offset start */
	uint64_t start;
	int err;
	int net;		/* some of it came from the store itself */
	int cached;		/* some of it came from a cache layer */
};

/* a frame the call left out of its requests and then fetched alone: kept
 * for its next use in the call (sealed) */
struct alone {
	struct fetch fe;	/* its fetch, with only its bytes */
	uint32_t k, p;
	uint64_t used;		/* LRU stamp; 0: free */
	size_t held;		/* taken at the gate for it (the largest) */
};

struct plain_slot {
	uint8_t *data;		/* a frame opened here */
	size_t cap;
	const void *view;	/* its plaintext: data, or a kept frame's */
	void *pinned;		/* the kept frame (phys_cache.h), or NULL */
	uint32_t k, p;		/* fetch and frame it holds */
	int have;
	uint64_t used;		/* LRU stamp */
};

/* the bytes [o, o + len) of physical frame p of fetch k go to
 * [at, at + len) of the logical frame */
struct piece {
	uint32_t k, p;
	uint64_t o, at, len;
};

struct assembly {
	struct native_archive *na;
	ocb_frame_fn cb;
	void *arg;
	uint64_t fs;		/* logical frame size */
	uint8_t *lbuf;		/* the logical frame being assembled */
	struct fetch *fe;
	uint32_t nfe;
	uint32_t *seg_fetch;	/* per segment of the range: its fetch */
	struct piece *pc;	/* the pieces of one logical frame */
	size_t npc, cpc;
	struct plain_slot slot[ASM_SLOTS];
	struct alone alone[ASM_ALONE];
	uint64_t clock;
	uint8_t *sealed;	/* the copy a frame is opened in */
	size_t sealed_cap;
	ZSTD_DCtx *dctx;
	int ahead;		/* a sequential read: fetch ahead */
	const struct frame_uses *uses;	/* a sequential read's, or NULL */
	uint64_t lo, hi;	/* the call's logical range */
	uint64_t at;		/* the end of the logical frame assembled */
	int claimed;		/* asm_claim() ran: frames held */
	size_t taken;		/* held at the gate for frames fetched alone */
};

/* how asm_load keeps a frame: read by this call, claimed by it for the
 * reads waiting for it, fetched ahead for a later one */
enum { KEEP_USED, KEEP_CLAIMED, KEEP_AHEAD };

/* where frame p of source src is needed next after logical offset hi:
 * the first use not wholly before hi (OCB_PHYS_NEVER: none) */
static uint64_t next_use(const struct frame_uses *u, uint32_t src,
			 uint32_t p, uint64_t hi)
{
	uint32_t i = u->fbase[src] + p, a = u->start[i], b = u->start[i + 1];

	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (u->end[m] <= hi)
			a = m + 1;
		else
			b = m;
	}
	if (a == u->start[i + 1])
		return OCB_PHYS_NEVER;
	return u->loff[a] > hi ? u->loff[a] : hi;
}

/* Keep frame p of fe (data: opened here, to put; NULL: taken from the
 * kept frames, its next use to update).  A sequential read keeps it for
 * its next use after the call; one it did not fetch, for its next use
 * after the logical frame it assembles (when it needs it again, its slot
 * taken); one it claimed, as used at offset 0: before any kept frame, so
 * that it is kept, for the reads waiting for it, who hold it (it goes
 * first once they are done, until asm_done() says its next use).  Other
 * reads keep it as most recently used, or, inside the run of frames the
 * call needs, as the next to go (no other read is known to need it).
 * Returns 0. */
static int asm_keep(struct assembly *as, const struct fetch *fe, uint32_t p,
		    const void *data, int kind)
{
	struct ocb_phys_cache *pc = as->na->phys;
	const struct ocb_frame_rec *f = &fe->so.f[p];
	struct ocb_phys_due d = { .now = as->lo,
				  .ahead = kind == KEEP_AHEAD };

	if (as->uses) {
		d.due = kind == KEEP_CLAIMED ? 0 :
			next_use(as->uses, fe->src, p,
				 p >= fe->u0 && p <= fe->u1 ? as->hi : as->at);
		if (data)
			ocb_phys_cache_put_due(pc, fe->so.id, p, f, data, &d);
		else
			ocb_phys_cache_set_due(pc, fe->so.id, p, &d);
	} else if (data && p > fe->f0 && p < fe->f1) {
		ocb_phys_cache_put_cold(pc, fe->so.id, p, f, data);
	} else if (data) {
		ocb_phys_cache_put(pc, fe->so.id, p, f, data);
	}
	return 0;
}

/* open frame p of fetch fe into sl, from a copy of its sealed bytes */
static int asm_open(struct assembly *as, const struct fetch *fe, uint32_t p,
		    struct plain_slot *sl)
{
	const struct ocb_frame_rec *f = &fe->so.f[p];

	if (as->sealed_cap < f->sealed_len) {
		ocb_phys_cache_mem_free(as->na->phys, as->sealed,
					as->sealed_cap);
		as->sealed_cap = 0;
		if (!(as->sealed = ocb_phys_cache_mem_alloc(as->na->phys,
							    f->sealed_len)))
			return -ENOMEM;
		as->sealed_cap = f->sealed_len;
	}
	memcpy(as->sealed, fe->b.data + (f->off - fe->start), f->sealed_len);
	return source_open(as->na, &fe->so, p, as->dctx, as->sealed,
			   fe->cached, sl->data);
}

/* frame p of fe, left out of its request and neither kept nor brought by
 * another read: fetched alone once for the call (*out: a fetch holding
 * it), the ASM_ALONE most recently used kept */
static int asm_alone(struct assembly *as, const struct fetch *fe, uint32_t p,
		     const struct fetch **out)
{
	uint32_t k = (uint32_t)(fe - as->fe);
	struct alone *al = &as->alone[0];
	int i, r;

	for (i = 0; i < ASM_ALONE; i++) {
		struct alone *x = &as->alone[i];

		if (x->used && x->k == k && x->p == p) {
			x->used = ++as->clock;
			*out = &x->fe;
			return 0;
		}
		if (x->used < al->used)
			al = x;		/* free, or the least recently used */
	}
	fetch_buf_release(as->na, &al->fe.b);
	if (al->held < fe->so.f[p].sealed_len) {	/* reckoned now */
		size_t more = fe->so.f[p].sealed_len - al->held;

		ocb_mem_gate_take(ocb_phys_cache_gate(as->na->phys), more);
		al->held += more;
		as->taken += more;
	}
	al->used = 0;
	al->fe = *fe;
	r = source_fetch(as->na, &fe->so, p, 1, &al->fe.b, &al->fe.start,
			 NULL, &al->fe.cached);
	if (r < 0) {
		fetch_buf_release(as->na, &al->fe.b);
		return r;
	}
	al->k = k;
	al->p = p;
	al->used = ++as->clock;
	*out = &al->fe;
	return 0;
}

/* frame p of fetch fe into slot sl: kept from an earlier read, else
 * opened from the fetch's sealed bytes; a frame the fetch left out is
 * waited for while another read brings it, and fetched alone when it
 * has been evicted since, or that read failed; a frame opened here is
 * kept for later reads (asm_keep) */
static int asm_load(struct assembly *as, const struct fetch *fe, uint32_t p,
		    struct plain_slot *sl, int kind)
{
	const struct ocb_frame_rec *f = &fe->so.f[p];
	const struct fetch *one;
	int in_fetch = p >= fe->u0 && p <= fe->u1, r;

	if (ocb_phys_cache_pin(as->na->phys, fe->so.id, p, f, !in_fetch,
			       &sl->view, &sl->pinned) == 0)
		return asm_keep(as, fe, p, NULL, kind);
	if (sl->cap < fe->so.frame_size) {
		ocb_phys_cache_mem_free(as->na->phys, sl->data, sl->cap);
		sl->cap = 0;
		if (!(sl->data = ocb_phys_cache_mem_alloc(as->na->phys,
							  fe->so.frame_size)))
			return -ENOMEM;
		sl->cap = fe->so.frame_size;
	}
	sl->view = sl->data;
	if (in_fetch) {
		r = asm_open(as, fe, p, sl);
	} else {
		r = asm_alone(as, fe, p, &one);
		if (r == 0)
			r = asm_open(as, one, p, sl);
	}
	return r < 0 ? r : asm_keep(as, fe, p, sl->data, kind);
}

/* the plaintext of frame p of fetch k, in a slot (kind: KEEP_*) */
static int asm_frame(struct assembly *as, uint32_t k, uint32_t p, int kind,
		     const uint8_t **out)
{
	struct plain_slot *sl = &as->slot[0];
	int i, r;

	for (i = 0; i < ASM_SLOTS; i++) {
		struct plain_slot *x = &as->slot[i];

		if (x->have && x->k == k && x->p == p) {
			x->used = ++as->clock;
			*out = x->view;
			return 0;
		}
		if (!x->have || x->used < sl->used)
			sl = x;		/* the least recently used */
	}
	if (p < as->fe[k].f0 || p > as->fe[k].x1)
		return -EBADMSG;	/* grouping keeps it inside: cannot */
	sl->have = 0;
	ocb_phys_cache_unpin(as->na->phys, sl->pinned);
	sl->pinned = NULL;
	r = asm_load(as, &as->fe[k], p, sl, kind);
	if (r < 0)
		return r;
	sl->have = 1;
	sl->k = k;
	sl->p = p;
	sl->used = ++as->clock;
	*out = sl->view;
	return 0;
}

static int asm_add_piece(struct assembly *as, const struct piece *pc)
{
	if (as->npc == as->cpc) {
		size_t c = as->cpc ? as->cpc * 2 : 64;
		struct piece *n = realloc(as->pc, c * sizeof(*n));

		if (!n)
			return -ENOMEM;
		as->pc = n;
		as->cpc = c;
	}
	as->pc[as->npc++] = *pc;
	return 0;
}

/* the pieces of segment g (of fetch k) within logical bytes [l0, l1) */
static int asm_cut(struct assembly *as, uint32_t k,
		   const struct ocb_segment *g, uint64_t l0, uint64_t l1)
{
	const struct source *so = &as->fe[k].so;
	uint64_t a = g->loff > l0 ? g->loff : l0;
	uint64_t e = g->loff + g->len < l1 ? g->loff + g->len : l1;
	uint64_t q = g->poff + (a - g->loff), qend = q + (e - a);
	int r = 0;

	while (r == 0 && q < qend) {
		struct piece pc = { .k = k, .p = (uint32_t)(q / so->frame_size),
				    .at = a - l0 };

		pc.o = q - (uint64_t)pc.p * so->frame_size;
		if (pc.p >= so->nframes || so->f[pc.p].plain_len <= pc.o)
			return -EBADMSG;	/* validated: cannot */
		pc.len = qend - q < so->f[pc.p].plain_len - pc.o ? qend - q :
			 so->f[pc.p].plain_len - pc.o;
		r = asm_add_piece(as, &pc);
		q += pc.len;
		a += pc.len;
	}
	return r;
}

static int piece_cmp(const void *x, const void *y)
{
	const struct piece *a = x, *b = y;

	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	if (a->p != b->p)
		return a->p < b->p ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* logical frame l from its pieces, to the caller */
static int asm_logical(struct assembly *as, uint32_t l, uint64_t llen)
{
	const uint8_t *plain;
	uint64_t got = 0;
	size_t i;
	int r;

	if (as->npc == 1 && as->pc[0].len == llen) {
		r = asm_frame(as, as->pc[0].k, as->pc[0].p, KEEP_USED,
			      &plain);
		return r < 0 ? r : as->cb(as->arg, l, plain + as->pc[0].o,
					  (size_t)llen);
	}
	if (!as->lbuf &&
	    !(as->lbuf = ocb_phys_cache_mem_alloc(as->na->phys, as->fs)))
		return -ENOMEM;
	qsort(as->pc, as->npc, sizeof(*as->pc), piece_cmp);
	for (i = 0; i < as->npc; i++) {
		const struct piece *pc = &as->pc[i];

		r = asm_frame(as, pc->k, pc->p, KEEP_USED, &plain);
		if (r < 0)
			return r;
		memcpy(as->lbuf + pc->at, plain + pc->o, pc->len);
		got += pc->len;
	}
	if (got != llen)
		return -EBADMSG;	/* segments cover the stream: validated */
	return as->cb(as->arg, l, as->lbuf, (size_t)llen);
}

/* the physical frames segment g needs of [lo, hi) */
static void seg_frames(const struct native_archive *na,
		       const struct ocb_segment *g, uint64_t lo, uint64_t hi,
		       uint32_t *f0, uint32_t *f1)
{
	const struct ocb_catalog *c = na->cat;
	uint64_t fs = g->source ? c->refs[g->source - 1].frame_size :
		      c->frame_size;
	uint64_t a = g->loff > lo ? g->loff : lo;
	uint64_t e = g->loff + g->len < hi ? g->loff + g->len : hi;
	uint64_t p = g->poff + (a - g->loff);

	*f0 = (uint32_t)(p / fs);
	*f1 = (uint32_t)((p + (e - a) - 1) / fs);
}

/* the last segment starting at or before lo */
static uint32_t seg_find(const struct ocb_catalog *c, uint64_t lo)
{
	uint32_t a = 0, b = c->nseg;

	while (b - a > 1) {
		uint32_t m = a + (b - a) / 2;

		if (c->seg[m].loff <= lo)
			a = m;
		else
			b = m;
	}
	return a;
}

/* group segments [s0, s1) into fetches (as->fe, as->seg_fetch), each
 * with its source */
static int asm_group(struct assembly *as, uint32_t s0, uint32_t s1,
		     uint64_t lo, uint64_t hi)
{
	const struct ocb_catalog *c = as->na->cat;
	uint32_t s, k, g0, g1;
	int r;

	as->fe = calloc(s1 - s0, sizeof(*as->fe));
	as->seg_fetch = calloc(s1 - s0, sizeof(*as->seg_fetch));
	if (!as->fe || !as->seg_fetch)
		return -ENOMEM;
	for (s = s0; s < s1; s++) {
		seg_frames(as->na, &c->seg[s], lo, hi, &g0, &g1);
		for (k = as->nfe; k > 0 && as->fe[k - 1].src !=
		     c->seg[s].source; k--)
			;
		if (k > 0 && g0 >= as->fe[k - 1].f1 &&
		    g0 <= as->fe[k - 1].f1 + 1) {
			if (g1 > as->fe[k - 1].f1)
				as->fe[k - 1].f1 = g1;
			as->fe[k - 1].last_seg = s;
			as->seg_fetch[s - s0] = k - 1;
			continue;
		}
		as->fe[as->nfe] = (struct fetch){ .src = c->seg[s].source,
			.f0 = g0, .f1 = g1, .last_seg = s, .na = as->na };
		ocb_buf_init(&as->fe[as->nfe].b, 0);
		r = source_get(as->na, c->seg[s].source, &as->fe[as->nfe].so);
		as->seg_fetch[s - s0] = as->nfe++;
		if (r < 0)
			return r;
	}
	for (k = 0; k < as->nfe; k++) {
		if (as->fe[k].f1 >= as->fe[k].so.nframes)
			return -EBADMSG;	/* validated: cannot */
		as->fe[k].x1 = as->fe[k].f1;
	}
	return 0;
}

/* per segment, the next segment of its source (na->seg_next), made by the
 * first read that needs it; NULL when out of memory */
static const uint32_t *seg_next(struct native_archive *na)
{
	const struct ocb_catalog *c = na->cat;
	uint32_t *t = atomic_load(&na->seg_next), *last = NULL, *none = NULL;
	uint32_t s;

	if (t)
		return t;
	t = malloc((c->nseg ? c->nseg : 1) * sizeof(*t));
	last = malloc((c->nrefs + 1) * sizeof(*last));
	if (!t || !last)
		goto out;
	for (s = 0; s <= c->nrefs; s++)
		last[s] = SEG_NONE;
	for (s = 0; s < c->nseg; s++) {
		t[s] = SEG_NONE;
		if (last[c->seg[s].source] != SEG_NONE)
			t[last[c->seg[s].source]] = s;
		last[c->seg[s].source] = s;
	}
	if (!atomic_compare_exchange_strong(&na->seg_next, &none, t)) {
		free(t);	/* another read made it first */
		t = none;
	}
	free(last);
	return t;
out:
	free(last);
	free(t);
	return NULL;
}

/* the frames of source src */
static uint32_t src_frames(const struct ocb_catalog *c, uint32_t src)
{
	return src ? c->refs[src - 1].nframes : c->nf;
}

/* the frames segment s uses: [*a, *b], or 0 when it has none (lies past
 * its source's frames: validated, cannot) */
static int seg_uses(const struct native_archive *na, uint32_t s,
		    const uint32_t *fbase, uint32_t *a, uint32_t *b)
{
	const struct ocb_segment *g = &na->cat->seg[s];

	if (!g->len)
		return 0;
	seg_frames(na, g, g->loff, g->loff + g->len, a, b);
	return *b < src_frames(na->cat, g->source) &&
	       fbase[g->source] + *b < fbase[g->source + 1];
}

/* the frames' uses (na->uses), made by the first sequential read that
 * needs them; NULL when out of memory */
static const struct frame_uses *frame_uses(struct native_archive *na)
{
	const struct ocb_catalog *c = na->cat;
	struct frame_uses *u = atomic_load(&na->uses), *none = NULL;
	uint32_t s, p, a, b, nf = 0, *at = NULL;
	uint64_t n = 0;

	if (u)
		return u;
	if (!(u = calloc(1, sizeof(*u))) ||
	    !(u->fbase = malloc((c->nrefs + 2) * sizeof(*u->fbase))))
		goto fail;
	for (s = 0; s <= c->nrefs; s++) {
		u->fbase[s] = nf;
		if (src_frames(c, s) > UINT32_MAX - 1 - nf)
			goto fail;
		nf += src_frames(c, s);
	}
	u->fbase[c->nrefs + 1] = nf;
	if (!(u->start = calloc((size_t)nf + 1, sizeof(*u->start))) ||
	    !(at = malloc(((size_t)nf + 1) * sizeof(*at))))
		goto fail;
	for (s = 0; s < c->nseg; s++)
		if (seg_uses(na, s, u->fbase, &a, &b))
			for (p = a; p <= b; p++, n++)
				u->start[u->fbase[c->seg[s].source] + p + 1]++;
	if (n > UINT32_MAX)
		goto fail;
	for (p = 0; p < nf; p++)
		u->start[p + 1] += u->start[p];
	memcpy(at, u->start, ((size_t)nf + 1) * sizeof(*at));
	u->loff = malloc((n ? n : 1) * sizeof(*u->loff));
	u->end = malloc((n ? n : 1) * sizeof(*u->end));
	if (!u->loff || !u->end)
		goto fail;
	for (s = 0; s < c->nseg; s++)
		if (seg_uses(na, s, u->fbase, &a, &b))
			for (p = a; p <= b; p++) {
				uint32_t i = at[u->fbase[c->seg[s].source] + p]++;

				u->loff[i] = c->seg[s].loff;
				u->end[i] = c->seg[s].loff + c->seg[s].len;
			}
	free(at);
	if (!atomic_compare_exchange_strong(&na->uses, &none, u)) {
		uses_free(u);	/* another read made them first */
		u = none;
	}
	return u;
fail:
	free(at);
	uses_free(u);
	return NULL;
}

/* a frame starts (+) or stops (-) being kept, at a logical offset */
struct keep_ev {
	uint64_t at;
	int64_t bytes;
};

static int keep_ev_cmp(const void *x, const void *y)
{
	const struct keep_ev *a = x, *b = y;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return (a->bytes > 0) - (b->bytes > 0);	/* stops first */
}

/* The plaintext bytes of physical frames a sequential read of the whole
 * stream keeps at once to open each one once: at each logical offset,
 * those used both before and after it (from the end of a frame's first
 * use to the start of its last); 0 when out of memory.  Counted for one
 * reader, though the cat pipeline's workers read up to CAT_BYTES apart:
 * counting that span too kept every frame of a 30-deep series once
 * opened (606 opens of 232 frames -> 280, in a cache at its 96 MiB cap
 * instead of 49 MB), but was not faster: the larger cache's page faults
 * cost what the decodes saved (measured through RGW, median of 3: 0 ms
 * 0.69 -> 0.91 s, 30 ms 1.03 -> 1.05 s) */
static uint64_t stream_keep(struct native_archive *na)
{
	const struct frame_uses *u = frame_uses(na);
	const struct ocb_catalog *c = na->cat;
	struct keep_ev *ev = NULL;
	uint64_t most = 0;
	int64_t now = 0;
	uint32_t i, nf, n = 0;

	if (!u)
		return 0;
	nf = u->fbase[c->nrefs + 1];
	if (!(ev = malloc(2 * ((size_t)nf + 1) * sizeof(*ev))))
		return 0;
	for (i = 0; i < nf; i++) {
		uint32_t a = u->start[i], b = u->start[i + 1];

		if (b - a < 2 || u->loff[b - 1] <= u->end[a])
			continue;
		ev[n++] = (struct keep_ev){ u->end[a], c->f[i].plain_len };
		ev[n++] = (struct keep_ev){ u->loff[b - 1],
					    -(int64_t)c->f[i].plain_len };
	}
	qsort(ev, n, sizeof(*ev), keep_ev_cmp);
	for (i = 0; i < n; i++) {
		now += ev[i].bytes;
		if (now > 0 && (uint64_t)now > most)
			most = (uint64_t)now;
	}
	free(ev);
	return most;
}

/* the sealed bytes of frames [a, b] of so */
static uint64_t frames_span(const struct source *so, uint32_t a, uint32_t b)
{
	return so->f[b].off + so->f[b].sealed_len - so->f[a].off;
}

/* fe's frames past f1 that later segments of its source need, not soon
 * (LOOK_NEAR past the call) and close to what it fetches (LOOK_FRAMES,
 * LOOK_GAP): fe->x1; *budget: the sealed bytes the call may still fetch
 * ahead */
static void asm_look(struct assembly *as, const uint32_t *next,
		     struct fetch *fe, uint64_t *budget)
{
	const struct ocb_catalog *c = as->na->cat;
	uint32_t s = next[fe->last_seg], steps, a, b, cap;
	uint64_t add;

	cap = fe->so.nframes - 1 - fe->f1 < LOOK_FRAMES ?
	      fe->so.nframes - 1 : fe->f1 + LOOK_FRAMES;
	for (steps = 0; s != SEG_NONE && steps < LOOK_SEGS && fe->x1 < cap;
	     s = next[s], steps++) {
		const struct ocb_segment *g = &c->seg[s];

		seg_frames(as->na, g, g->loff, g->loff + g->len, &a, &b);
		if (b <= fe->x1)
			continue;
		if (g->loff < as->hi + LOOK_NEAR)
			break;		/* read on soon, by the next calls */
		if (a > fe->x1 + 1 &&
		    frames_span(&fe->so, fe->x1 + 1, a - 1) > LOOK_GAP)
			break;		/* not close */
		if (b > cap)
			b = cap;
		add = frames_span(&fe->so, fe->x1 + 1, b);
		if (add > *budget)
			break;
		*budget -= add;
		fe->x1 = b;
	}
}

/* what each fetch looks ahead (a sequential read only; with frames kept
 * across reads: else nothing could keep them) */
static void asm_look_all(struct assembly *as)
{
	const uint32_t *next;
	uint64_t budget = LOOK_CALL;
	uint32_t k;

	if (!as->ahead || !as->na->phys || !(next = seg_next(as->na)))
		return;
	for (k = 0; k < as->nfe; k++)
		asm_look(as, next, &as->fe[k], &budget);
}

/* frame p of fe: kept, or coming from another read (then left out of the
 * fetch); else claimed (*mine) or not */
static int asm_left_out(struct assembly *as, struct fetch *fe, uint32_t p,
			int *mine)
{
	int st = ocb_phys_cache_claim(as->na->phys, fe->so.id, p,
				      &fe->so.f[p]);

	*mine = st == OCB_PHYS_MINE;
	return st == OCB_PHYS_KEPT || st == OCB_PHYS_COMING;
}

/* Frames at either end of each fetch that earlier reads kept, or that
 * reads running now are fetching, are not requested again (in the middle
 * they are: one request), and are held until the read ends (asm_unhold);
 * the ends this read requests first are claimed, so that the reads running
 * now wait for them instead.  The frames looked
 * ahead are claimed too, up to the first one left out, and only when the
 * fetch requests some of its own.  Decided once this read holds its
 * working memory: nothing it counts on is evicted while it waits at the
 * gate. */
static void asm_claim(struct assembly *as)
{
	uint32_t k, p;
	int mine;

	as->claimed = 1;
	for (k = 0; k < as->nfe; k++) {
		struct fetch *fe = &as->fe[k];

		fe->u0 = fe->f0;
		fe->u1 = fe->f1;
		while (fe->u0 <= fe->f1 &&
		       asm_left_out(as, fe, fe->u0, &fe->mine0))
			fe->u0++;
		for (p = fe->f1 + 1; fe->u0 <= fe->f1 && p <= fe->x1; p++) {
			if (asm_left_out(as, fe, p, &mine))
				ocb_phys_cache_unhold(as->na->phys, fe->so.id,
						      p);	/* not needed */
			if (!mine)
				break;
			fe->mine_ahead |= 1u << (p - fe->f1 - 1);
			fe->u1 = p;
		}
		fe->x1 = p - 1 > fe->f1 ? p - 1 : fe->f1;
		while (fe->u1 > fe->u0 && fe->u1 <= fe->f1 &&
		       asm_left_out(as, fe, fe->u1, &fe->mine1))
			fe->u1--;
	}
}

/* the claimed frames of every fetch, opened and kept for the reads
 * waiting for them (before this read waits on any: no cycle), or their
 * claims dropped; the first error */
static int asm_publish(struct assembly *as)
{
	const uint8_t *plain;
	uint32_t k;
	int i, r = 0;

	for (k = 0; k < as->nfe; k++) {
		struct fetch *fe = &as->fe[k];
		uint32_t p[2] = { fe->u0, fe->u1 };
		int mine[2] = { fe->mine0, fe->mine1 };

		for (i = 0; i < 2; i++) {
			if (!mine[i])
				continue;
			if (fe->err == 0 && fe->b.data && r == 0)
				r = asm_frame(as, k, p[i], KEEP_CLAIMED,
					      &plain);
			ocb_phys_cache_unclaim(as->na->phys, fe->so.id, p[i]);
		}
		for (i = 0; i < LOOK_FRAMES; i++) {
			if (!(fe->mine_ahead & 1u << i))
				continue;
			if (fe->err == 0 && fe->b.data && r == 0)
				r = asm_frame(as, k, fe->f1 + 1 + i,
					      KEEP_AHEAD, &plain);
			ocb_phys_cache_unclaim(as->na->phys, fe->so.id,
					       fe->f1 + 1 + i);
		}
		fe->mine0 = fe->mine1 = 0;
		fe->mine_ahead = 0;
	}
	return r;
}

/* the frames of fe the call requests, [*a, *b] (none: *a > *b): once
 * claimed, those asm_claim() left in; before, the planned ones less those
 * at either end that are kept or coming now (a hint, as asm_claim() finds
 * them: frames a month of objects hold behind a large file are fetched
 * by the first read needing them, and the reads next to it count on them
 * instead of reckoning them all again at the gate) */
static void asm_span(const struct assembly *as, const struct fetch *fe,
		     uint32_t *a, uint32_t *b)
{
	struct ocb_phys_cache *pc = as->na->phys;

	if (as->claimed) {
		*a = fe->u0;
		*b = fe->u1;
		return;
	}
	for (*a = fe->f0; *a <= fe->f1 && ocb_phys_cache_near(pc, fe->so.id,
				*a, &fe->so.f[*a]); (*a)++)
		;
	*b = *a > fe->f1 ? *a - 1 : fe->x1;
	while (*b > *a && *b <= fe->f1 &&
	       ocb_phys_cache_near(pc, fe->so.id, *b, &fe->so.f[*b]))
		(*b)--;
}

/* what the call will hold at most: the fetches' sealed frames (asm_span),
 * a plaintext slot for each frame it may open (ASM_SLOTS at most), the
 * logical frame and the copy a frame is opened from.  The frames fetched
 * alone (asm_alone: one evicted before its use, rare) are taken as they
 * come, without waiting (this read may hold claims then), ASM_ALONE of
 * them at most. */
static size_t asm_need(const struct assembly *as)
{
	size_t need = as->fs, frames = 0, fmax = 0, smax = 0;
	uint32_t k, p, a, b;

	for (k = 0; k < as->nfe; k++) {
		const struct fetch *fe = &as->fe[k];

		asm_span(as, fe, &a, &b);
		if (a <= b)
			need += frames_span(&fe->so, a, b);
		for (p = fe->f0; p <= fe->x1; p++)
			if (fe->so.f[p].sealed_len > smax)
				smax = fe->so.f[p].sealed_len;
		if (fe->so.frame_size > fmax)
			fmax = fe->so.frame_size;
		frames += fe->x1 - fe->f0 + 1;
	}
	return need + (frames < ASM_SLOTS ? frames : ASM_SLOTS) * fmax + smax;
}

/* one fetch's range request (ocb_parallel_for) */
static void asm_fetch_one(void *arg, size_t k)
{
	struct fetch *fe = &((struct fetch *)arg)[k];

	if (fe->u0 > fe->u1)
		return;		/* every frame kept from earlier reads */
	fe->err = source_fetch(fe->na, &fe->so, fe->u0, fe->u1 - fe->u0 + 1,
			       &fe->b, &fe->start, &fe->net, &fe->cached);
}

/* every fetch of the call, at once; the first error */
static int asm_fetch(struct assembly *as)
{
	unsigned want = as->nfe < ASM_FETCH_PAR ? as->nfe : ASM_FETCH_PAR;
	unsigned lent, got = 0;
	uint32_t k;

	want = want ? want - 1 : 0;	/* the calling thread fetches too */
	if (want) {
		lent = atomic_fetch_add(&as->na->fetch_helpers, want);
		got = lent < ASM_HELPERS ? ASM_HELPERS - lent : 0;
		if (got > want)
			got = want;
		atomic_fetch_sub(&as->na->fetch_helpers, want - got);
	}
	ocb_parallel_for(as->nfe, 1 + got, asm_fetch_one, as->fe, NULL);
	atomic_fetch_sub(&as->na->fetch_helpers, got);
	for (k = 0; k < as->nfe; k++)
		if (as->fe[k].err < 0)
			return as->fe[k].err;
	return 0;
}

/* the frames asm_claim() left out, held no more */
static void asm_unhold(struct assembly *as)
{
	uint32_t k, p;

	for (k = 0; as->claimed && k < as->nfe; k++) {
		const struct fetch *fe = &as->fe[k];

		for (p = fe->f0; p < fe->u0 && p <= fe->f1; p++)
			ocb_phys_cache_unhold(as->na->phys, fe->so.id, p);
		for (p = fe->u1 + 1; p > fe->u0 && p <= fe->f1; p++)
			ocb_phys_cache_unhold(as->na->phys, fe->so.id, p);
	}
}

/* a sequential read's frames, once it is done with them: kept for their
 * next use after the call (those it loaded before assembling, claimed or
 * fetched ahead, were kept for their use in it) */
static void asm_done(struct assembly *as)
{
	struct ocb_phys_due d = { .now = as->lo };
	uint32_t k, p;

	for (k = 0; as->uses && k < as->nfe; k++) {
		const struct fetch *fe = &as->fe[k];

		for (p = fe->f0; p <= fe->x1; p++) {
			d.due = next_use(as->uses, fe->src, p, as->hi);
			ocb_phys_cache_set_due(as->na->phys, fe->so.id, p, &d);
		}
	}
}

static void asm_release(struct assembly *as)
{
	uint32_t k;
	int i;

	for (k = 0; as->fe && k < as->nfe; k++)
		fetch_buf_release(as->na, &as->fe[k].b);
	for (i = 0; i < ASM_ALONE; i++)
		if (as->alone[i].used)
			fetch_buf_release(as->na, &as->alone[i].fe.b);
	for (i = 0; i < ASM_SLOTS; i++) {
		ocb_phys_cache_unpin(as->na->phys, as->slot[i].pinned);
		ocb_phys_cache_mem_free(as->na->phys, as->slot[i].data,
					as->slot[i].cap);
	}
	free(as->fe);
	free(as->seg_fetch);
	free(as->pc);
	ocb_phys_cache_mem_free(as->na->phys, as->sealed, as->sealed_cap);
	ocb_phys_cache_mem_free(as->na->phys, as->lbuf, as->fs);
	ZSTD_freeDCtx(as->dctx);
}

/* logical frames [first, first + n) of a format 3 backup (ahead: a
 * sequential read) */
static int native_read_mapped(struct native_archive *na, uint32_t first,
			      uint32_t n, ocb_frame_fn cb, void *arg, int *net,
			      int ahead)
{
	const struct ocb_catalog *c = na->cat;
	struct assembly as = { .na = na, .cb = cb, .arg = arg,
			       .fs = c->frame_size, .ahead = ahead };
	uint64_t lo = (uint64_t)first * c->frame_size;
	uint64_t hi = (uint64_t)(first + n) * c->frame_size;
	uint32_t s0 = seg_find(c, lo), s1, s, l;
	struct ocb_mem_gate *gate = ocb_phys_cache_gate(na->phys);
	size_t need = 0;
	int r, rp;

	if (hi > c->stream_size)
		hi = c->stream_size;
	for (s1 = s0; s1 < c->nseg && c->seg[s1].loff < hi; s1++)
		;
	as.lo = lo;
	as.hi = hi;
	as.at = lo;
	if (ahead && na->phys)
		as.uses = frame_uses(na);
	as.dctx = ZSTD_createDCtx();
	r = as.dctx ? asm_group(&as, s0, s1, lo, hi) : -ENOMEM;
	if (r == 0) {
		asm_look_all(&as);
		size_t got;

		need = asm_need(&as);
		ocb_mem_gate_enter(gate, need);
		asm_claim(&as);
		/* what it holds, as claimed: more than the hint said (a frame
		 * evicted, a claim dropped since) is taken without waiting,
		 * others may wait on its claims now; less is given back */
		got = asm_need(&as);
		if (got > need)
			ocb_mem_gate_take(gate, got - need);
		else
			ocb_mem_gate_leave(gate, need - got);
		need = got;
		r = asm_fetch(&as);
		rp = asm_publish(&as);
		r = r < 0 ? r : rp;
	}
	for (l = 0; net && l < as.nfe; l++)
		*net |= as.fe[l].net;
	s = s0;
	for (l = first; r == 0 && l < first + n; l++) {
		uint64_t l0 = (uint64_t)l * c->frame_size;
		uint64_t l1 = l0 + c->frame_size < hi ? l0 + c->frame_size : hi;

		if (l0 >= l1)
			break;
		as.at = l1;
		as.npc = 0;
		while (s < s1 && c->seg[s].loff + c->seg[s].len <= l0)
			s++;
		for (uint32_t t = s; r == 0 && t < s1 && c->seg[t].loff < l1;
		     t++)
			r = asm_cut(&as, as.seg_fetch[t - s0], &c->seg[t], l0,
				    l1);
		if (r == 0)
			r = asm_logical(&as, l, l1 - l0);
	}
	if (r == 0)
		asm_done(&as);
	asm_unhold(&as);
	asm_release(&as);
	ocb_mem_gate_leave(gate, need + as.taken);
	return r;
}

/* the logical stream is this object's physical stream */
static int identity(const struct ocb_catalog *c)
{
	return c->version < 3 || (c->nseg == 1 && c->seg[0].source == 0 &&
				  c->seg[0].poff == 0 &&
				  c->stored_size == c->stream_size);
}

/* the sealed bytes logical frames [first, first + n) travel as: exact
 * when they are this object's frames, else as the stored frames average */
static uint64_t wire_bytes(const struct native_archive *na, uint32_t first,
			   uint32_t n)
{
	const struct ocb_catalog *c = na->cat;

	if (identity(c))
		return c->f[first + n - 1].off + c->f[first + n - 1].sealed_len -
		       c->f[first].off;
	return na->plain_all ? (uint64_t)((unsigned __int128)n * c->frame_size *
					  na->sealed_all / na->plain_all) :
	       (uint64_t)n * c->frame_size;
}

/* logical frames [first, first + n) (ahead: of a sequential read) */
static int read_frames(struct native_archive *na, uint32_t first,
		       uint32_t n, ocb_frame_fn cb, void *arg, int *net,
		       int ahead)
{
	struct source so;

	if (!identity(na->cat))
		return native_read_mapped(na, first, n, cb, arg, net, ahead);
	source_get(na, 0, &so);
	return source_frames(na, &so, first, n, cb, arg, net);
}

static int native_read_frames(struct ocb_archive *a, uint32_t first,
			      uint32_t n, ocb_frame_fn cb, void *arg, int *net)
{
	return read_frames(ocb_archive_impl(a), first, n, cb, arg, net, 0);
}

/* format 3 assembles its frames: they lie nowhere as such */
static int native_frame_location(const struct ocb_archive *a, uint32_t i,
				 uint64_t *off, uint32_t *sealed_len)
{
	const struct native_archive *na = ocb_archive_impl(a);

	if (i >= na->cat->nf || !identity(na->cat))
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
 * two cores: 315 -> 235 MB/s at 0 ms with six).  The others start once a
 * request says the store is far, or once CAT_FAR_US pass with none
 * answered (waiting for the first answer cost a round trip and a batch's
 * transfer with two requests in flight), and stop when later answers say
 * it is near.  Memory: CAT_SLOTS batches
 * of at most CAT_BYTES / CAT_SLOTS of frames.  A stream assembled from
 * other objects asks its phys_cache.h to keep what its segment map says it
 * keeps at once (stream_keep, with KEEP_ROOM), within the cache's cap: a
 * database whose pages a month of objects hold needs a frame of each for
 * every megabyte, and a cache smaller than those evicts and fetches them
 * again and again.
 */
#define CAT_WORKERS 6
#define CAT_NEAR_WORKERS 2	/* all that work while the store is near */
#define CAT_FAR_US 20000	/* a request this slow: the store is far */
#define CAT_SLOTS (CAT_WORKERS + 2)
#define CAT_BATCH_MIN 4		/* frames per request, at least */
#define CAT_BYTES (64u << 20)	/* decoded frames held, at most */
/* what the kept frames need beside those the stream keeps at once: the
 * workers read several batches apart, and frames fetched ahead wait */
#define KEEP_ROOM(b) ((b) + (b) / 4 + (8u << 20))

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
	struct native_archive *na;
	struct ocb_link_est *link;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cat_slot slot[CAT_SLOTS];
	uint32_t next, end;		/* frames [next, end) not taken yet */
	uint64_t nbatches;		/* batches taken */
	uint32_t batch_max;
	uint64_t unit;			/* mean sealed frame size */
	uint64_t t0;			/* the pipeline's start, us */
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

/* lock held: has a request been answered within CAT_FAR_US (the store
 * is near)?  Before any was: wait for one until CAT_FAR_US have passed
 * since the pipeline's start (then far) */
static int cat_near(struct cat_pipe *p)
{
	uint64_t rtt = 0, rate, due = p->t0 + CAT_FAR_US;
	struct timespec ts = { .tv_sec = (time_t)(due / 1000000u),
			       .tv_nsec = (long)(due % 1000000u) * 1000 };

	while (!p->stop && p->next < p->end &&
	       (ocb_link_est_get(p->link, &rtt, &rate), rtt == 0) &&
	       ocb_link_est_now_us() < due)
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	return rtt && rtt < CAT_FAR_US;
}

static void *cat_worker(void *arg)
{
	struct cat_pipe *p = arg;
	int extra;

	pthread_mutex_lock(&p->lock);
	/* the workers past CAT_NEAR_WORKERS: only far from the store */
	extra = p->nworkers++ >= CAT_NEAR_WORKERS;
	for (;;) {
		uint32_t first, n;
		int64_t b;
		struct cat_slot *sl;
		uint64_t t0;
		int r, net;

		if (extra && cat_near(p))
			break;
		b = cat_take(p, &first, &n);
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
		net = 0;
		r = read_frames(p->na, first, n, slot_fill, sl, &net, 1);
		if (r == 0 && net)	/* the store's time, not a cache's */
			ocb_link_est_sample(p->link, wire_bytes(p->na, first, n),
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
	struct native_archive *na = ocb_archive_impl(a);
	struct cat_pipe p = { .a = a, .na = na };
	pthread_condattr_t ca;
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
	p.unit = wire_bytes(na, p.next, p.end - p.next) / (p.end - p.next);
	p.batch_max = (uint32_t)(CAT_BYTES / CAT_SLOTS / fs);
	if (p.batch_max < CAT_BATCH_MIN)
		p.batch_max = CAT_BATCH_MIN;
	done = p.next;	/* the consumer's: workers move p.next */
	if (na->phys && !identity(na->cat))
		ocb_phys_cache_want(na->phys, KEEP_ROOM(stream_keep(na)));
	if (pthread_condattr_init(&ca))
		return -ENOMEM;
	if (ocb_link_est_new(&p.link) < 0) {
		pthread_condattr_destroy(&ca);
		return -ENOMEM;
	}
	/* cat_near()'s timed wait: the link estimate's clock */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, &ca);
	pthread_condattr_destroy(&ca);
	p.t0 = ocb_link_est_now_us();
	for (i = 0; i < CAT_SLOTS; i++) {
		p.slot[i].turn = (uint64_t)i;
		/* pages are touched only as far as batches fill them */
		p.slot[i].data = ocb_buf_big_alloc((size_t)p.batch_max * fs);
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

static uint64_t native_ref_bytes(const struct ocb_archive *a)
{
	struct native_archive *na = ocb_archive_impl(a);

	return atomic_load(&na->ref_bytes);
}

int ocb_archive_native_header(const struct ocb_archive *a, uint8_t out[512])
{
	if (ocb_archive_is_legacy(a))
		return -EINVAL;
	memcpy(out, ((const struct native_archive *)ocb_archive_impl(a))->hdr_raw,
	       OCB_HEADER_SIZE);
	return 0;
}

void ocb_archive_set_phys_cache(struct ocb_archive *a,
				struct ocb_phys_cache *pc)
{
	if (!ocb_archive_is_legacy(a))
		((struct native_archive *)ocb_archive_impl(a))->phys = pc;
}

/* the part of each physical frame within [lo, hi) to the sink */
struct source_range {
	uint64_t lo, hi, fs;
	ocb_sink_fn sink;
	void *arg;
};

static int source_range_frame(void *arg, uint32_t i, const void *data,
			      size_t len)
{
	const struct source_range *x = arg;
	uint64_t s0 = (uint64_t)i * x->fs;
	uint64_t a = x->lo > s0 ? x->lo : s0;
	uint64_t e = x->hi < s0 + len ? x->hi : s0 + len;

	return e > a ? x->sink(x->arg, (const uint8_t *)data + (a - s0),
			       (size_t)(e - a)) : 0;
}

int ocb_archive_read_source(struct ocb_archive *a, uint32_t src,
			    uint64_t poff, uint64_t len, ocb_sink_fn sink,
			    void *arg)
{
	struct native_archive *na;
	struct source so;
	struct source_range x = { .lo = poff, .sink = sink, .arg = arg };
	uint64_t size;
	uint32_t f0, f1;
	int r;

	if (ocb_archive_is_legacy(a))
		return -EINVAL;
	na = ocb_archive_impl(a);
	if (!na->cat || src > na->cat->nrefs)
		return -EINVAL;
	size = src ? na->cat->refs[src - 1].stream_size :
	       na->cat->stored_size;
	if (poff > size || len > size - poff)
		return -EINVAL;
	if (!len)
		return 0;
	r = source_get(na, src, &so);
	if (r < 0)
		return r;
	x.hi = poff + len;
	x.fs = so.frame_size;
	f0 = (uint32_t)(poff / so.frame_size);
	f1 = (uint32_t)((x.hi - 1) / so.frame_size);
	if (f1 >= so.nframes)
		return -EBADMSG;	/* frames cover the stream: validated */
	return source_frames(na, &so, f0, f1 - f0 + 1, source_range_frame, &x,
			     NULL);
}

/* a source's physical frames for ocb_archive_read_bytes: kept, and
 * their part within [x.lo, x.hi) to the sink */
struct bytes_run {
	struct source_range x;
	struct native_archive *na;
	const struct source *so;
};

static int bytes_run_frame(void *arg, uint32_t i, const void *data,
			   size_t len)
{
	struct bytes_run *b = arg;

	ocb_phys_cache_put(b->na->phys, b->so->id, i, &b->so->f[i], data);
	return source_range_frame(&b->x, i, data, len);
}

/* physical bytes [lo, hi) of source so: the frames kept from earlier
 * reads from there, each run of the others with one request */
static int bytes_of_source(struct native_archive *na, const struct source *so,
			   uint64_t lo, uint64_t hi, uint8_t *out,
			   ocb_sink_fn sink, void *arg)
{
	struct bytes_run b = { .x = { .lo = lo, .hi = hi,
				      .fs = so->frame_size, .sink = sink,
				      .arg = arg }, .na = na, .so = so };
	uint32_t i = (uint32_t)(lo / so->frame_size), j;
	uint32_t f1 = (uint32_t)((hi - 1) / so->frame_size);
	int r = 0;

	if (f1 >= so->nframes)
		return -EBADMSG;	/* frames cover the stream: validated */
	while (r == 0 && i <= f1) {
		if (ocb_phys_cache_get(na->phys, so->id, i, &so->f[i],
				       out) == 0) {
			r = source_range_frame(&b.x, i, out,
					       so->f[i].plain_len);
			i++;
			continue;
		}
		for (j = i; j < f1 && !ocb_phys_cache_has(na->phys, so->id,
							  j + 1, &so->f[j + 1]);
		     j++)
			;
		r = source_frames(na, so, i, j - i + 1, bytes_run_frame, &b,
				  NULL);
		i = j + 1;
	}
	return r;
}

int ocb_archive_read_bytes(struct ocb_archive *a, uint64_t off, uint64_t len,
			   ocb_sink_fn sink, void *arg)
{
	struct native_archive *na;
	const struct ocb_catalog *c;
	struct ocb_mem_gate *gate;
	uint64_t end = off + len;
	size_t need;
	uint8_t *out = NULL;
	uint32_t s;
	int r = 0;

	if (ocb_archive_is_legacy(a))
		return -EINVAL;
	na = ocb_archive_impl(a);
	c = na->cat;
	if (identity(c) || off > c->stream_size || len > c->stream_size - off)
		return -EINVAL;
	/* a kept frame's copy, a decoded one, the sealed bytes of a run */
	need = 3 * (size_t)c->frame_size;
	gate = ocb_phys_cache_gate(na->phys);
	ocb_mem_gate_enter(gate, need);
	for (s = seg_find(c, off); r == 0 && s < c->nseg && c->seg[s].loff < end;
	     s++) {
		const struct ocb_segment *g = &c->seg[s];
		uint64_t a0 = off > g->loff ? off : g->loff;
		uint64_t a1 = end < g->loff + g->len ? end : g->loff + g->len;
		struct source so;

		if (a1 <= a0)
			continue;
		r = source_get(na, g->source, &so);
		if (r == 0 && !out && !(out = malloc(so.frame_size)))
			r = -ENOMEM;
		if (r == 0 && so.frame_size > c->frame_size)
			r = -EBADMSG;	/* one buffer for every source */
		if (r == 0)
			r = bytes_of_source(na, &so, g->poff + (a0 - g->loff),
					    g->poff + (a1 - g->loff), out, sink,
					    arg);
	}
	free(out);
	ocb_mem_gate_leave(gate, need);
	return r;
}

static uint64_t native_wire_bytes(const struct ocb_archive *a, uint32_t first,
				  uint32_t n)
{
	return wire_bytes(ocb_archive_impl(a), first, n);
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
	.ref_bytes = native_ref_bytes,
	.wire_bytes = native_wire_bytes,
	.details = native_details,
};
