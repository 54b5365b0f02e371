/*
 * archive_rewrite.c - the replacement of a kept backup in a repack
 * (archive_rewrite.h): the same catalog under a new id and key, segments
 * pointing at objects that stay, at earlier replacements, at the same
 * file held by a backup that stays, or at bytes it stores itself, sealed
 * into frames as any backup's.
 *
 * The bytes it stores are read through the replaced backup (the physical
 * frames of its sources that hold them, every frame authenticated under
 * its catalog, in parallel), never from the objects unauthenticated: a
 * copy is only as good as the backup it is of.
 */
#include "archive_rewrite.h"
#include "archive_ops.h"
#include "catalog.h"
#include "crypto.h"
#include "file_pieces.h"
#include "format.h"
#include "frame_i.h"
#include "keys.h"
#include "log.h"
#include "multipart.h"
#include "object_out_i.h"
#include "parallel.h"
#include "ref_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define COPY_GAP OCB_FRAME_SIZE	/* read through gaps this small */
#define COPY_READ (8u << 20)	/* at most this much per range read */
#define COPY_BATCH (64u << 20)	/* read ahead of the writer at most */
#define COPY_PARALLEL 8		/* range reads at a time */

/* ---- objects as references --------------------------------------------- */

/* what a catalog records of an object it references: its record, with
 * the name and frame table the record points at (owned) */
struct refobj {
	struct ocb_ref_rec rec;
	char *name;
	struct ocb_frame_rec *f;
};

static void refobj_release(struct refobj *o)
{
	free(o->name);
	free(o->f);
	memset(o, 0, sizeof(*o));
}

/* o (released first) as the record of rec, whose nframes frames are f */
static int refobj_set(struct refobj *o, const struct ocb_ref_rec *rec,
		      const struct ocb_frame_rec *f)
{
	refobj_release(o);
	o->name = strdup(rec->name);
	o->f = malloc((rec->nframes ? rec->nframes : 1) * sizeof(*o->f));
	if (!o->name || !o->f)
		return -ENOMEM;
	memcpy(o->f, f, rec->nframes * sizeof(*o->f));
	o->rec = *rec;
	o->rec.name = o->name;
	return 0;
}

/* o as the record of opened backup r's own object */
static int refobj_own(struct refobj *o, const struct ocb_archive *r)
{
	const struct ocb_catalog *c = ocb_archive_catalog(r);
	struct ocb_ref_rec rec = {
		.created = c->created, .name = c->name,
		.frame_size = c->frame_size, .nframes = c->nf,
		.stream_size = c->stored_size,
	};
	int e;

	memcpy(rec.id, ocb_archive_backup_id(r), 16);
	e = ocb_archive_native_header(r, rec.header);
	return e < 0 ? e : refobj_set(o, &rec, c->f);
}

/* ---- the map ------------------------------------------------------------- */

/* bytes [poff, poff + len) of an object are bytes [npoff, ...) of the
 * physical stream of replacement owner */
struct span {
	uint64_t poff, len, npoff;
	uint32_t owner;
};

struct mobj {
	char *name;
	struct span *sp;	/* sorted by poff, disjoint */
	size_t n, cap;
};

struct owner {
	int ready;		/* opened and checked: ro valid */
	struct refobj ro;
};

struct ocb_rewrite_map {
	struct mobj *o;
	size_t no;
	struct owner *w;
	uint32_t nw;
};

int ocb_rewrite_map_new(struct ocb_rewrite_map **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ocb_rewrite_map_free(struct ocb_rewrite_map *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->no; i++) {
		free(m->o[i].name);
		free(m->o[i].sp);
	}
	for (i = 0; i < m->nw; i++)
		refobj_release(&m->w[i].ro);
	free(m->o);
	free(m->w);
	free(m);
}

static struct mobj *map_obj(struct ocb_rewrite_map *m, const char *name,
			    int create)
{
	struct mobj *no;
	size_t i;

	for (i = 0; i < m->no; i++)
		if (!strcmp(m->o[i].name, name))
			return &m->o[i];
	if (!create)
		return NULL;
	no = realloc(m->o, (m->no + 1) * sizeof(*m->o));
	if (!no)
		return NULL;
	m->o = no;
	memset(&m->o[m->no], 0, sizeof(*m->o));
	if (!(m->o[m->no].name = strdup(name)))
		return NULL;
	return &m->o[m->no++];
}

/* the first span ending after poff, or o->n */
static size_t span_find(const struct mobj *o, uint64_t poff)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->sp[mid].poff + o->sp[mid].len <= poff)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* [poff, poff + len) of name, uncovered, now at owner's npoff */
static int map_add(struct ocb_rewrite_map *m, const char *name, uint64_t poff,
		   uint64_t len, uint32_t owner, uint64_t npoff)
{
	struct mobj *o = map_obj(m, name, 1);
	size_t at;

	if (!o)
		return -ENOMEM;
	at = span_find(o, poff);
	if (at && o->sp[at - 1].owner == owner &&
	    o->sp[at - 1].poff + o->sp[at - 1].len == poff &&
	    o->sp[at - 1].npoff + o->sp[at - 1].len == npoff) {
		o->sp[at - 1].len += len;
		return 0;
	}
	if (o->n == o->cap) {
		size_t nc = o->cap ? 2 * o->cap : 64;
		struct span *ns = realloc(o->sp, nc * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		o->sp = ns;
		o->cap = nc;
	}
	memmove(&o->sp[at + 1], &o->sp[at], (o->n - at) * sizeof(*o->sp));
	o->sp[at] = (struct span){ poff, len, npoff, owner };
	o->n++;
	return 0;
}

/*
 * The first piece of [poff, poff + len) of name: *k bytes, at owner
 * *owner's *npoff (1), or not stored by any replacement (0).
 */
static int map_look(const struct ocb_rewrite_map *m, const char *name,
		    uint64_t poff, uint64_t len, uint32_t *owner,
		    uint64_t *npoff, uint64_t *k)
{
	const struct mobj *o = map_obj((struct ocb_rewrite_map *)m, name, 0);
	const struct span *s;
	size_t at;

	*k = len;
	if (!o || (at = span_find(o, poff)) == o->n)
		return 0;
	s = &o->sp[at];
	if (s->poff > poff) {
		if (s->poff - poff < len)
			*k = s->poff - poff;
		return 0;
	}
	if (s->poff + s->len - poff < len)
		*k = s->poff + s->len - poff;
	*owner = s->owner;
	*npoff = s->npoff + (poff - s->poff);
	return 1;
}

static int map_owner_new(struct ocb_rewrite_map *m, uint32_t *owner)
{
	struct owner *nw = realloc(m->w, (m->nw + 1) * sizeof(*m->w));

	if (!nw)
		return -ENOMEM;
	m->w = nw;
	memset(&m->w[m->nw], 0, sizeof(*m->w));
	*owner = m->nw++;
	return 0;
}

void ocb_rewrite_map_drop(struct ocb_rewrite_map *m, uint32_t owner)
{
	size_t i, j, k;

	for (i = 0; i < m->no; i++) {
		struct mobj *o = &m->o[i];

		for (j = k = 0; j < o->n; j++)
			if (o->sp[j].owner != owner)
				o->sp[k++] = o->sp[j];
		o->n = k;
	}
	if (owner < m->nw)
		m->w[owner].ready = 0;
}

int ocb_rewrite_map_commit(struct ocb_rewrite_map *m, uint32_t owner,
			   const struct ocb_archive *r)
{
	struct owner *w = &m->w[owner];
	int err = refobj_own(&w->ro, r);

	if (err < 0)
		return err;
	w->ready = 1;
	return 0;
}

/* ---- files held by backups that stay (rule 3) ------------------------------ */

struct hfile {
	uint8_t key[OCB_FILE_KEY_LEN];
	uint32_t obj;
	uint64_t poff;		/* its data in obj's physical stream */
};

struct ocb_rewrite_held {
	struct refobj *o;
	uint32_t no;
	struct hfile *f;
	size_t nf, capf;
};

int ocb_rewrite_held_new(struct ocb_rewrite_held **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ocb_rewrite_held_free(struct ocb_rewrite_held *h)
{
	uint32_t i;

	if (!h)
		return;
	for (i = 0; i < h->no; i++)
		refobj_release(&h->o[i]);
	free(h->o);
	free(h->f);
	free(h);
}

static int hfile_cmp(const void *x, const void *y)
{
	return memcmp(x, y, OCB_FILE_KEY_LEN);
}

struct hadd {
	struct ocb_rewrite_held *h;
	const struct ocb_archive *a;
	int (*stays)(void *arg, const char *name);
	void *arg;
	uint32_t *obj;		/* a's source -> held object + 1 */
};

/* the held object for source src of a (its own object, or its ref) */
static int hadd_obj(struct hadd *d, uint32_t src, uint32_t *out)
{
	const struct ocb_catalog *c = ocb_archive_catalog(d->a);
	struct ocb_rewrite_held *h = d->h;
	struct ocb_ref_rec rec = { 0 };
	struct refobj *no, *x;
	uint32_t i;
	int r;

	if (d->obj[src]) {
		*out = d->obj[src] - 1;
		return 0;
	}
	if (src) {
		rec = c->refs[src - 1];
	} else {
		memcpy(rec.id, ocb_archive_backup_id(d->a), 16);
	}
	for (i = 0; i < h->no; i++)
		if (!memcmp(h->o[i].rec.id, rec.id, 16))
			break;
	if (i == h->no) {
		no = realloc(h->o, (h->no + 1) * sizeof(*h->o));
		if (!no)
			return -ENOMEM;
		h->o = no;
		x = &h->o[h->no];
		memset(x, 0, sizeof(*x));
		h->no++;	/* freed with the others from here */
		r = src ? refobj_set(x, &rec, c->f + rec.first_frame) :
			refobj_own(x, d->a);
		if (r < 0)
			return r;
	}
	d->obj[src] = i + 1;
	*out = i;
	return 0;
}

static int hadd_piece(void *arg, const struct ocb_file_piece *p)
{
	struct hadd *d = arg;
	const struct ocb_catalog *c = ocb_archive_catalog(d->a);
	struct ocb_rewrite_held *h = d->h;
	uint32_t obj;
	int r;

	if (!p->key || !p->whole ||
	    !d->stays(d->arg, p->source ? c->refs[p->source - 1].name :
				    c->name))
		return 0;
	r = hadd_obj(d, p->source, &obj);
	if (r < 0)
		return r;
	if (h->nf == h->capf) {
		size_t nc = h->capf ? 2 * h->capf : 256;
		struct hfile *nf = realloc(h->f, nc * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		h->f = nf;
		h->capf = nc;
	}
	memcpy(h->f[h->nf].key, p->key, OCB_FILE_KEY_LEN);
	h->f[h->nf].obj = obj;
	h->f[h->nf++].poff = p->poff;
	return 0;
}

int ocb_rewrite_held_add(struct ocb_rewrite_held *h,
			 const struct ocb_archive *a,
			 int (*stays)(void *arg, const char *name), void *arg)
{
	const struct ocb_catalog *c = ocb_archive_catalog(a);
	struct hadd d = { .h = h, .a = a, .stays = stays, .arg = arg };
	int r;

	if (!c || c->version < 3)
		return 0;
	d.obj = calloc(c->nrefs + 1, sizeof(*d.obj));
	if (!d.obj)
		return -ENOMEM;
	r = ocb_file_pieces(a, hadd_piece, &d);
	free(d.obj);
	qsort(h->f, h->nf, sizeof(*h->f), hfile_cmp);
	return r;
}

/* the first held file of content key, or h->nf */
static size_t held_find(const struct ocb_rewrite_held *h, const uint8_t *key)
{
	size_t lo = 0, hi = h->nf;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(h->f[mid].key, key, OCB_FILE_KEY_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < h->nf && !memcmp(h->f[lo].key, key, OCB_FILE_KEY_LEN) ?
	       lo : h->nf;
}

/* ---- the writer ---------------------------------------------------------- */

/* bytes [poff, poff + len) of k's source src, stored next */
struct piece {
	uint32_t src;
	uint32_t rd;		/* the range read of its batch holding it */
	uint64_t poff, len;
};

struct rw {
	struct ocb_store *s;
	const struct ocb_rewrite_opts *o;
	struct ocb_archive *k;
	const struct ocb_catalog *kc;
	struct ocb_rewrite_map *m;
	struct ocb_rewrite_result *res;
	uint32_t self;
	uint32_t *kref;		/* k's source -> our ref + 1 (0: none yet) */
	uint32_t *wref;		/* map owner -> our ref + 1 */
	int64_t *href;		/* held object -> our ref + 1 (-1: not the
				 * object it names) */
	struct ocb_catb *cat;
	struct ocb_object_out out;	/* the upload, its frames, the end */
	struct ocb_header hdr;
	uint8_t *dk;
	int level;
	ZSTD_CCtx *cctx;
	uint64_t phys_off;
	struct piece *cp;	/* the pieces to store, in order */
	size_t ncp, capcp;
};

/*
 * Copying.  Only the bytes that move are read: each piece from the
 * physical stream of k's source that holds it (ocb_archive_read_source,
 * every frame authenticated under k's catalog), never through k's
 * logical stream, which would fetch the bytes of objects that stay as
 * well.  Consecutive pieces of one source close together are one range
 * read; the reads of a batch run in parallel, then their bytes are
 * stored in order.
 */
struct cread {
	uint32_t src;
	uint64_t lo, hi;	/* the source's bytes read */
	uint8_t *buf;
	uint64_t got;
	int err;		/* 1: not run */
};

struct cbatch {
	struct ocb_archive *k;
	struct cread *rd;
};

static int cread_sink(void *arg, const void *data, size_t len)
{
	struct cread *c = arg;

	if (len > c->hi - c->lo - c->got)
		return -EBADMSG;
	memcpy(c->buf + c->got, data, len);
	c->got += len;
	return 0;
}

static void cread_run(void *arg, size_t i)
{
	struct cbatch *b = arg;
	struct cread *c = &b->rd[i];
	int r = -ENOMEM;

	c->buf = malloc((size_t)(c->hi - c->lo));
	if (c->buf)
		r = ocb_archive_read_source(b->k, c->src, c->lo, c->hi - c->lo,
					    cread_sink, c);
	if (r == 0 && c->got != c->hi - c->lo)
		r = -EBADMSG;
	c->err = r;
}

/* the range reads of pieces [p, *end), at most cap of them and about
 * COPY_BATCH bytes: their count.  A piece joins the last read of its
 * source when it follows it closely (headers of one backup and data of
 * another interleave), else starts a read. */
static size_t copy_plan(struct rw *w, size_t p, size_t *end,
			struct cread *rd, size_t cap)
{
	uint64_t total = 0;
	size_t n = 0, x;

	for (; p < w->ncp; p++) {
		struct piece *c = &w->cp[p];
		struct cread *last = NULL;

		for (x = n; x-- > 0;)
			if (rd[x].src == c->src) {
				last = &rd[x];
				break;
			}
		if (last && c->poff >= last->hi &&
		    c->poff - last->hi <= COPY_GAP &&
		    c->poff + c->len - last->lo <= COPY_READ) {
			total += c->poff + c->len - last->hi;
			last->hi = c->poff + c->len;
			c->rd = (uint32_t)(last - rd);
			continue;
		}
		if (n == cap || (n && total + c->len > COPY_BATCH))
			break;
		c->rd = (uint32_t)n;
		rd[n++] = (struct cread){ .src = c->src, .lo = c->poff,
			.hi = c->poff + c->len, .err = 1 };
		total += c->len;
	}
	*end = p;
	return n;
}

/* every piece, read and stored in order */
static int copy_all(struct rw *w)
{
	const size_t cap = 1024;
	struct cread *rd = calloc(cap, sizeof(*rd));
	struct cbatch b = { .k = w->k, .rd = rd };
	size_t p = 0, end, n, i;
	int r = rd ? 0 : -ENOMEM;

	while (r == 0 && p < w->ncp) {
		n = copy_plan(w, p, &end, rd, cap);
		ocb_parallel_for(n, COPY_PARALLEL, cread_run, &b, w->o->cancel);
		for (i = 0; r == 0 && i < n; i++)
			if (rd[i].err)
				r = rd[i].err > 0 ? -ECANCELED : rd[i].err;
		for (; r == 0 && p < end; p++) {
			const struct piece *c = &w->cp[p];

			r = ocb_object_out_write(&w->out, w->cat,
						 rd[c->rd].buf +
						 (c->poff - rd[c->rd].lo),
						 (size_t)c->len);
		}
		for (i = 0; i < n; i++)
			free(rd[i].buf);
	}
	free(rd);
	return r;
}

/* bytes [poff, poff + len) of k's source src to store next */
static int copy_add(struct rw *w, uint32_t src, uint64_t poff, uint64_t len)
{
	while (len) {
		struct piece *last = w->ncp ? &w->cp[w->ncp - 1] : NULL;
		uint64_t take = len < COPY_READ ? len : COPY_READ;

		if (last && last->src == src &&
		    last->poff + last->len == poff &&
		    last->len + take <= COPY_READ) {
			last->len += take;
		} else {
			if (w->ncp == w->capcp) {
				size_t nc = w->capcp ? 2 * w->capcp : 256;
				struct piece *np = realloc(w->cp,
							   nc * sizeof(*np));

				if (!np)
					return -ENOMEM;
				w->cp = np;
				w->capcp = nc;
			}
			w->cp[w->ncp++] = (struct piece){ .src = src,
				.poff = poff, .len = take };
		}
		poff += take;
		len -= take;
	}
	return 0;
}

/* our ref number for source src of k, which stays: checked first */
static int keep_ref(struct rw *w, uint32_t src, uint32_t *out)
{
	const struct ocb_ref_rec *rec = &w->kc->refs[src - 1];
	uint32_t idx;
	int r;

	if (w->kref[src]) {
		*out = w->kref[src] - 1;
		return 0;
	}
	r = ocb_ref_check(w->s, w->o->prefix, w->kc, src - 1);
	if (r < 0) {
		char esc[300];

		ocb_err("backup %s, which a replacement would read from, is "
			"%s", ocb_log_escape(esc, sizeof(esc), rec->name),
			r == -ENOENT ? "gone" : "not the object it names");
		return r == -ENOENT ? -EBADMSG : r;
	}
	r = ocb_catb_add_ref(w->cat, rec, w->kc->f + rec->first_frame, &idx);
	if (r < 0)
		return r;
	w->kref[src] = idx + 1;
	*out = idx;
	return 0;
}

/* our ref number for an earlier replacement */
static int owner_ref(struct rw *w, uint32_t owner, uint32_t *out)
{
	const struct owner *ow = &w->m->w[owner];
	const struct refobj *o = &ow->ro;
	uint32_t idx;
	int r;

	if (!ow->ready)
		return -EINVAL;
	if (w->wref[owner]) {
		*out = w->wref[owner] - 1;
		return 0;
	}
	r = ocb_catb_add_ref(w->cat, &o->rec, o->f, &idx);
	if (r < 0)
		return r;
	w->wref[owner] = idx + 1;
	*out = idx;
	return 0;
}

/* our ref number for held object obj, checked first (-1: it is not the
 * object its record names: not read) */
static int held_ref(struct rw *w, uint32_t obj, uint32_t *out)
{
	const struct refobj *o = &w->o->held->o[obj];
	uint32_t idx;
	int r;

	if (w->href[obj] < 0)
		return -1;
	if (w->href[obj]) {
		*out = (uint32_t)(w->href[obj] - 1);
		return 0;
	}
	r = ocb_ref_check_rec(w->s, w->o->prefix, &o->rec, o->f);
	if (r < 0) {
		char esc[300];

		ocb_warn("backup %s, which a replacement would read a file "
			 "from, is %s: not read", ocb_log_escape(esc,
			 sizeof(esc), o->rec.name), r == -ENOENT ? "gone" :
			 "not the object it names");
		w->href[obj] = -1;
		return -1;
	}
	r = ocb_catb_add_ref(w->cat, &o->rec, o->f, &idx);
	if (r < 0)
		return r;
	w->href[obj] = (int64_t)idx + 1;
	*out = idx;
	return 0;
}

/* where a backup that stays holds the file of content key: our ref
 * number and the physical offset of its data (1), or none (0) */
static int held_look(struct rw *w, const uint8_t *key, uint32_t *ref,
		     uint64_t *poff)
{
	const struct ocb_rewrite_held *h = w->o->held;
	size_t i = h ? held_find(h, key) : 0;
	int r;

	for (; h && i < h->nf && !memcmp(h->f[i].key, key, OCB_FILE_KEY_LEN);
	     i++) {
		r = held_ref(w, h->f[i].obj, ref);
		if (r == 0) {
			*poff = h->f[i].poff;
			return 1;
		}
		if (r != -1)
			return r;
	}
	return 0;
}

/* a piece of k whose object goes: where a backup that stays holds its
 * file, else from earlier replacements, else stored here (and recorded
 * for later ones) */
static int moved_piece(struct rw *w, const struct ocb_file_piece *p,
		       const char *name)
{
	uint64_t lo = p->loff, at = p->poff, left = p->len, k, np = 0;
	uint32_t owner, ref = 0;
	int r = 0, held = 0;

	if (p->key)
		held = held_look(w, p->key, &ref, &np);
	if (held < 0)
		return held;
	if (held) {
		w->res->bytes_held += left;
		return ocb_catb_add_segment(w->cat, lo, left,
					    np + (lo - p->data_off), ref + 1);
	}
	while (r == 0 && left) {
		if (map_look(w->m, name, at, left, &owner, &np, &k)) {
			if (owner == w->self) {
				r = ocb_catb_add_segment(w->cat, lo, k, np, 0);
			} else {
				r = owner_ref(w, owner, &ref);
				if (r == 0)
					r = ocb_catb_add_segment(w->cat, lo, k,
								 np, ref + 1);
				w->res->bytes_mapped += k;
			}
		} else {
			r = map_add(w->m, name, at, k, w->self, w->phys_off);
			if (r == 0)
				r = ocb_catb_add_segment(w->cat, lo, k,
							 w->phys_off, 0);
			if (r == 0)
				r = copy_add(w, p->source, at, k);
			w->phys_off += k;
			w->res->bytes_moved += k;
		}
		lo += k;
		at += k;
		left -= k;
	}
	return r;
}

static int rw_piece(void *arg, const struct ocb_file_piece *p)
{
	struct rw *w = arg;
	const struct ocb_catalog *kc = w->kc;
	const char *name = p->source ? kc->refs[p->source - 1].name :
			   kc->name;
	uint32_t ref;
	int r;

	if (w->o->cancel && *w->o->cancel)
		return -ECANCELED;
	if (p->source && w->o->stays(w->o->arg, name)) {
		r = keep_ref(w, p->source, &ref);
		if (r == 0)
			r = ocb_catb_add_segment(w->cat, p->loff, p->len,
						 p->poff, ref + 1);
		w->res->bytes_kept += p->len;
		return r;
	}
	return moved_piece(w, p, name);
}

static int rw_segments(struct rw *w)
{
	int r = ocb_file_pieces(w->k, rw_piece, w);

	return r ? r : copy_all(w);
}

/* ---- the catalog, copied ------------------------------------------------- */

static int copy_entry(struct ocb_catb *b, const struct ocb_catalog *c,
		      uint32_t i)
{
	const struct ocb_entry *e = &c->e[i];
	const struct ocb_block_hashes *bh = ocb_catalog_blocks(c, i);
	const char **xn = calloc(e->nxattrs + 1, sizeof(*xn));
	const void **xv = calloc(e->nxattrs + 1, sizeof(*xv));
	size_t *xl = calloc(e->nxattrs + 1, sizeof(*xl));
	struct ocb_catb_entry ce = {
		.parent = e->parent, .name = e->name, .type = e->type,
		.mode = e->mode, .uid = e->uid, .gid = e->gid,
		.mtime = e->mtime, .mtime_nsec = e->mtime_nsec,
		.size = e->size, .data_off = e->data_off, .sha256 = e->sha256,
		.target = e->target, .nxattrs = e->nxattrs,
		.link_to = e->type == OCB_ENTRY_FILE && e->ino != i ? e->ino :
			   OCB_NOLINK,
		.xnames = xn, .xvalues = xv, .xlens = xl,
	};
	uint32_t k, seq;
	int r = -ENOMEM;

	if (!xn || !xv || !xl)
		goto out;
	for (k = 0; k < e->nxattrs; k++) {
		const struct ocb_xattr *x = &c->x[e->xattr_first + k];

		xn[k] = x->name;
		xv[k] = x->value;
		xl[k] = x->len;
	}
	r = 0;
	if (i == OCB_ROOT) {
		ocb_catb_root(b, e->mode, e->mtime);
		for (k = 0; r == 0 && k < e->nxattrs; k++)
			r = ocb_catb_root_xattr(b, xn[k], xv[k], xl[k]);
		seq = 0;
	} else {
		r = ocb_catb_add(b, &ce, &seq);
		if (r == 0 && seq != i)
			r = -EINVAL;
	}
	if (r < 0)
		goto out;
	ocb_catb_set_flags(b, seq, e->flags);
	if (c->st)
		ocb_catb_set_stat(b, seq, c->st[i].ino, c->st[i].ctime,
				  c->st[i].ctime_nsec);
	if (bh)
		r = ocb_catb_set_blocks(b, seq, bh);
out:
	free(xn);
	free(xv);
	free(xl);
	return r;
}

static int copy_catalog(struct ocb_catb *b, const struct ocb_catalog *c)
{
	uint32_t i;
	int r = 0;

	for (i = 0; r == 0 && i < c->n; i++)
		r = copy_entry(b, c, i);
	for (i = 0; r == 0 && i < c->nsrc; i++)
		r = ocb_catb_add_source(b, c->src[i].entry, c->src[i].path);
	return r;
}

/* ---- the run ---------------------------------------------------------------- */

static const char *label_of(const char *name)
{
	const char *z = strstr(name, "Z-");

	return z ? z + 2 : NULL;
}

static int rw_finish(struct rw *w)
{
	const struct ocb_catalog *kc = w->kc;
	struct ocb_catb_info info = {
		.name = w->o->name, .instance = kc->instance, .host = kc->host,
		.label = label_of(w->o->name),
		.key_provider = ocb_key_type_name(ocb_keyprov_type(w->o->kp)),
		.prefix = w->o->prefix, .created = kc->created,
		.frame_size = OCB_FRAME_SIZE, .warnings = kc->warnings,
		.stream_size = kc->stream_size, .stored_size = w->phys_off,
		.base = w->o->base, .depth = kc->depth,
		.full_created = kc->full_created,
	};
	return ocb_object_out_end(&w->out, &w->cat, &info, w->phys_off);
}

/* the object's metadata: as a backup's (hints for `ocb list`), the
 * replaced backup's state snapshot carried over */
static int rw_meta(struct rw *w, struct ocb_meta *meta, const char *kkey)
{
	const struct ocb_catalog *kc = w->kc;
	const struct ocb_archive_info *in = ocb_archive_info(w->k);
	struct ocb_obj_head h = { 0 };
	char num[32];
	const char *ss;
	int r;

	snprintf(num, sizeof(num), "%d", OCB_FORMAT_VERSION);
	r = ocb_meta_set(meta, "ocb-format", num);
	snprintf(num, sizeof(num), "%" PRId64, kc->created);
	r |= ocb_meta_set(meta, "created", num);
	r |= ocb_meta_set(meta, "instance", kc->instance);
	r |= ocb_meta_set(meta, "host", kc->host);
	r |= ocb_meta_set(meta, "key-provider",
			  ocb_key_type_name(ocb_keyprov_type(w->o->kp)));
	if (label_of(w->o->name))
		r |= ocb_meta_set(meta, "label", label_of(w->o->name));
	if (w->o->base && *w->o->base)
		r |= ocb_meta_set(meta, "base", w->o->base);
	if (in->group[0])
		r |= ocb_meta_set(meta, "group", in->group);
	if (in->role[0])
		r |= ocb_meta_set(meta, "role", in->role);
	snprintf(num, sizeof(num), "%" PRIu32, kc->warnings);
	r |= ocb_meta_set(meta, "warnings", num);
	snprintf(num, sizeof(num), "%" PRIu64, w->phys_off);
	r |= ocb_meta_set(meta, "new-bytes", num);
	snprintf(num, sizeof(num), "%" PRIu64, kc->stream_size);
	r |= ocb_meta_set(meta, "total-bytes", num);
	if (r)
		return -ENOMEM;
	if (w->s->ops->head(w->s, kkey, &h) == 0 &&
	    (ss = ocb_meta_get(&h.meta, "state-snapshot")))
		r = ocb_meta_set(meta, "state-snapshot", ss);
	ocb_obj_head_release(&h);
	return r;
}

static int rw_init(struct rw *w)
{
	struct ocb_key_ctx kx = { .name = w->o->name,
				  .instance = w->kc->instance };
	struct ocb_header kh;
	uint8_t hbuf[OCB_HEADER_SIZE];
	int r;

	w->out.frame = malloc(OCB_FRAME_SIZE);
	w->out.sealed = malloc(ocb_frame_bound(OCB_FRAME_SIZE));
	w->cctx = ZSTD_createCCtx();
	w->kref = calloc(w->kc->nrefs + 1, sizeof(*w->kref));
	w->wref = calloc(w->m->nw + 1, sizeof(*w->wref));
	w->href = calloc((w->o->held ? w->o->held->no : 0) + 1,
			 sizeof(*w->href));
	if (!w->out.frame || !w->out.sealed || !w->cctx || !w->kref ||
	    !w->wref || !w->href)
		return -ENOMEM;
	r = ocb_catb_new(&w->cat);
	if (r == 0)
		r = copy_catalog(w->cat, w->kc);
	if (r < 0)
		return r;
	w->hdr.version = OCB_FORMAT_VERSION;
	w->hdr.frame_size = OCB_FRAME_SIZE;
	w->hdr.created = w->kc->created;
	r = ocb_crypto_random(w->hdr.backup_id, sizeof(w->hdr.backup_id));
	/* wrapped like K's key (a passphrase's salt reused) */
	if (r == 0)
		r = ocb_archive_native_header(w->k, hbuf);
	if (r == 0)
		r = ocb_header_decode(hbuf, &kh);
	if (r == 0)
		r = ocb_keyprov_wrap_like(w->o->kp, w->hdr.backup_id, &kx,
					  &kh.key, &w->dk, &w->hdr.key);
	return r;
}

int ocb_archive_rewrite(struct ocb_store *s, struct ocb_archive *k,
			const struct ocb_rewrite_opts *o,
			struct ocb_rewrite_map *m,
			struct ocb_rewrite_result *res)
{
	struct ocb_rewrite_result rr = { 0 };
	struct rw w = { .s = s, .o = o, .k = k, .m = m, .res = &rr };
	struct ocb_meta meta = { 0 };
	struct ocb_put_opts put = { .content_type = "application/x-ocb-backup",
				    .meta = &meta, .if_none_match = 1 };
	char kkey[OCB_KEY_MAX];
	uint8_t hbuf[OCB_HEADER_SIZE];
	int r;

	w.kc = ocb_archive_catalog(k);
	if (!w.kc || w.kc->version < 3)
		return -EINVAL;
	w.level = o->zstd_level > 0 ? o->zstd_level : 3;
	if (snprintf(rr.key, sizeof(rr.key), "%s/%s.ocb", o->prefix,
		     o->name) >= (int)sizeof(rr.key) ||
	    snprintf(kkey, sizeof(kkey), "%s/%s.ocb", o->prefix,
		     w.kc->name) >= (int)sizeof(kkey))
		return -ENAMETOOLONG;
	r = map_owner_new(m, &w.self);
	if (r < 0)
		return r;
	rr.owner = w.self;
	r = rw_init(&w);
	if (r == 0)
		r = rw_meta(&w, &meta, kkey);
	if (r < 0)
		goto out;
	if (o->put) {
		put.sse = o->put->sse;
		put.sse_kms_key_id = o->put->sse_kms_key_id;
	}
	w.out.dk = w.dk;
	w.out.hdr = &w.hdr;
	w.out.cctx = w.cctx;
	w.out.level = w.level;
	r = ocb_multipart_new(s, rr.key, &put, NULL, &w.out.w);
	ocb_header_encode(&w.hdr, hbuf);
	if (r == 0)
		r = ocb_multipart_write(w.out.w, hbuf, sizeof(hbuf));
	w.out.obj_off = sizeof(hbuf);
	if (r == 0)
		r = rw_segments(&w);
	if (r == 0)
		r = rw_finish(&w);
	if (r == 0 && o->cancel && *o->cancel)
		r = -ECANCELED;
	if (r == 0)
		r = ocb_multipart_commit(w.out.w);
	if (r == 0) {
		rr.bytes_stored = w.out.obj_off;
		rr.bytes_new = w.phys_off;
		*res = rr;
	}
out:
	if (r < 0)
		ocb_rewrite_map_drop(m, w.self);
	ocb_multipart_free(w.out.w);
	ocb_catb_free(w.cat);
	ocb_crypto_key_free(w.dk);
	ZSTD_freeCCtx(w.cctx);
	free(w.out.frame);
	free(w.out.sealed);
	free(w.kref);
	free(w.wref);
	free(w.href);
	free(w.cp);
	ocb_meta_release(&meta);
	return r;
}

/* ---- the check ------------------------------------------------------------- */

static int same_entry(const struct ocb_catalog *a, const struct ocb_catalog *b,
		      uint32_t i)
{
	const struct ocb_entry *x = &a->e[i], *y = &b->e[i];
	const struct ocb_block_hashes *hx = ocb_catalog_blocks(a, i);
	const struct ocb_block_hashes *hy = ocb_catalog_blocks(b, i);
	uint32_t k;

	if (x->parent != y->parent || x->type != y->type ||
	    x->mode != y->mode || x->uid != y->uid || x->gid != y->gid ||
	    x->mtime != y->mtime || x->mtime_nsec != y->mtime_nsec ||
	    x->nlink != y->nlink || x->ino != y->ino || x->size != y->size ||
	    x->data_off != y->data_off || x->first_child != y->first_child ||
	    x->nchildren != y->nchildren || x->nxattrs != y->nxattrs ||
	    x->flags != y->flags || strcmp(x->name, y->name) ||
	    !x->target != !y->target ||
	    (x->target && strcmp(x->target, y->target)) ||
	    memcmp(x->sha256, y->sha256, 32))
		return 0;
	for (k = 0; k < x->nxattrs; k++) {
		const struct ocb_xattr *p = &a->x[x->xattr_first + k];
		const struct ocb_xattr *q = &b->x[y->xattr_first + k];

		if (strcmp(p->name, q->name) || p->len != q->len ||
		    memcmp(p->value, q->value, p->len))
			return 0;
	}
	if (!hx != !hy)
		return 0;
	if (hx && (hx->block_size != hy->block_size ||
		   hx->count != hy->count ||
		   memcmp(hx->hash, hy->hash, (size_t)hx->count * 32)))
		return 0;
	return !a->st || (a->st[i].ino == b->st[i].ino &&
			  a->st[i].ctime == b->st[i].ctime &&
			  a->st[i].ctime_nsec == b->st[i].ctime_nsec);
}

int ocb_rewrite_check(const struct ocb_archive *k,
		      const struct ocb_archive *r)
{
	const struct ocb_catalog *a = ocb_archive_catalog(k);
	const struct ocb_catalog *b = ocb_archive_catalog(r);
	const char *what = NULL;
	uint32_t i;

	if (!a || !b || a->n != b->n || a->nsrc != b->nsrc || !b->st ||
	    a->stream_size != b->stream_size || a->created != b->created ||
	    strcmp(a->instance, b->instance) || a->warnings != b->warnings)
		what = "its catalog differs";
	for (i = 0; !what && i < a->nsrc; i++)
		if (a->src[i].entry != b->src[i].entry ||
		    strcmp(a->src[i].path, b->src[i].path))
			what = "its sources differ";
	for (i = 0; !what && i < a->n; i++)
		if (!same_entry(a, b, i))
			what = "an entry differs";
	if (what) {
		char e1[300], e2[300];

		ocb_err("replacement %s of backup %s: %s",
			ocb_log_escape(e1, sizeof(e1), b ? b->name : "?"),
			ocb_log_escape(e2, sizeof(e2), a ? a->name : "?"),
			what);
		return -EBADMSG;
	}
	return 0;
}
