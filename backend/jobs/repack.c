/*
 * repack.c - which objects are mostly dead and what repacking them
 * writes and frees, in bytes in the store (repack.h).
 */
#include "repack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct span {
	uint64_t a, b;		/* [a, b) */
};

struct rp {
	struct ocb_repack_item *v;
	size_t n;
	size_t *byname;		/* items, sorted by name */
	size_t **target;	/* per item: the item each ref names, or n */
	struct span *sp;	/* room for every segment */
	unsigned char *frozen;	/* pinned, or read by a frozen one */
	struct held *held;	/* files items that hold read, by key */
	size_t nheld;
	int alone;		/* the former rule: min_dead per object */
};

/* a file of content key that an item which holds reads from (or stores
 * in) object item at */
struct held {
	const uint8_t *key;
	size_t at;
};

static int byname_cmp(const void *x, const void *y, void *arg)
{
	const struct ocb_repack_item *v = arg;

	return strcmp(v[*(const size_t *)x].name, v[*(const size_t *)y].name);
}

/* the item named name, or r->n */
static size_t rp_find(const struct rp *r, const char *name)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, r->v[r->byname[mid]].name);

		if (!c)
			return r->byname[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return r->n;
}

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return 0;
}

static int held_cmp(const void *x, const void *y)
{
	const struct held *a = x, *b = y;
	int c = memcmp(a->key, b->key, OCB_REPACK_KEY_LEN);

	if (c)
		return c;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* is a file of content key held in an object other than x? */
static int held_elsewhere(const struct rp *r, const uint8_t *key, size_t x)
{
	size_t lo = 0, hi = r->nheld;

	while (lo < hi) {	/* the first of key */
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(r->held[mid].key, key, OCB_REPACK_KEY_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < r->nheld &&
	       !memcmp(r->held[lo].key, key, OCB_REPACK_KEY_LEN); lo++)
		if (r->held[lo].at != x)
			return 1;
	return 0;
}

/* does it still read from objects, as the plan stands? */
static int reads(const struct ocb_repack_item *it)
{
	return it->keep && it->opened && !it->repack;
}

/* the bytes in the store of an item */
static uint64_t size_of(const struct ocb_repack_item *it)
{
	return it->object_size ? it->object_size : it->stored;
}

/* what stream bytes [a, b) of item t take in the store: of each frame
 * they lie in, their share of its sealed bytes; without frames, their
 * share of the object */
static uint64_t object_bytes(const struct ocb_repack_item *t, uint64_t a,
			     uint64_t b, size_t *f, uint64_t *fa)
{
	uint64_t n = 0;

	if (!t->frames)
		return (uint64_t)((long double)(b - a) * size_of(t) /
				  t->stored);
	/* the frames from *f (starting at stream byte *fa) on: spans come
	 * sorted and disjoint */
	for (; *f < t->nframes && a < b; ++*f, *fa += t->frames[*f - 1].plain) {
		const struct ocb_repack_frame *fr = &t->frames[*f];
		uint64_t fb = *fa + fr->plain, lo, hi;

		if (fb <= a)
			continue;
		lo = a > *fa ? a : *fa;
		hi = b < fb ? b : fb;
		if (hi > lo && fr->plain)
			n += (hi - lo) * fr->sealed / fr->plain;
		if (b < fb)
			break;	/* the next span may start in this frame */
		a = fb;
	}
	return n;
}

/* the bytes of item x's stream that the kept backups (not repacked)
 * read, each byte once; *obj what they take in the store */
static uint64_t live_of(struct rp *r, size_t x, uint64_t *obj)
{
	const struct ocb_repack_item *t = &r->v[x];
	size_t i, k, m = 0, f = 0;
	uint64_t live = 0, end = 0, fa = 0;

	for (i = 0; i < r->n; i++) {
		const struct ocb_repack_item *it = &r->v[i];

		if (i == x || !reads(it))
			continue;
		for (k = 0; k < it->nseg; k++) {
			const struct ocb_repack_seg *g = &it->seg[k];

			if (g->ref >= it->nrefs || r->target[i][g->ref] != x ||
			    !g->len || g->poff >= t->stored)
				continue;
			if (it->seg_key && it->seg_key[k] &&
			    held_elsewhere(r, it->seg_key[k], x))
				continue;	/* read where it is held */
			r->sp[m].a = g->poff;
			r->sp[m].b = g->len > t->stored - g->poff ? t->stored :
				     g->poff + g->len;
			m++;
		}
	}
	qsort(r->sp, m, sizeof(*r->sp), span_cmp);
	for (k = 0; k < m; k++) {
		uint64_t a = r->sp[k].a > end ? r->sp[k].a : end;

		if (r->sp[k].b > a) {
			live += r->sp[k].b - a;
			*obj += object_bytes(t, a, r->sp[k].b, &f, &fa);
		}
		if (r->sp[k].b > end)
			end = r->sp[k].b;
	}
	return live;
}

/* its live bytes take under live_percent of the object (and, by the
 * former rule, it frees min_dead on its own) */
static int mostly_dead(const struct rp *r, const struct ocb_repack_item *it,
		       const struct ocb_repack_policy *p)
{
	uint64_t size = size_of(it);
	uint64_t dead = size > it->live_object ? size - it->live_object : 0;

	/* live / size < percent / 100, without overflow for any size */
	return (long double)it->live_object * 100 <
	       (long double)size * p->live_percent &&
	       (!r->alone || dead >= p->min_dead);
}

/* does item i read from an item the plan deletes? */
static int reads_deleted(const struct rp *r, size_t i)
{
	const struct ocb_repack_item *it = &r->v[i];
	size_t k;

	for (k = 0; k < it->nrefs; k++) {
		size_t to = r->target[i][k];

		if (to < r->n && (r->v[to].repack || r->v[to].rewrite))
			return 1;
	}
	return 0;
}

/* a pinned backup is never replaced, so what it reads stays, and what
 * those read stays too */
static void freeze(struct rp *r)
{
	size_t i, k;
	int changed = 1;

	for (i = 0; i < r->n; i++)
		r->frozen[i] = r->v[i].pinned && reads(&r->v[i]);
	while (changed) {
		changed = 0;
		for (i = 0; i < r->n; i++) {
			if (!r->frozen[i] || !reads(&r->v[i]))
				continue;
			for (k = 0; k < r->v[i].nrefs; k++) {
				size_t to = r->target[i][k];

				if (to < r->n && !r->frozen[to]) {
					r->frozen[to] = 1;
					changed = 1;
				}
			}
		}
	}
}

/* items kept by a rule that read only from such: no decision below
 * repacks or replaces them (only needed items are repacked, and only
 * those reading from what goes are replaced) */
static void hold(struct rp *r)
{
	size_t i, k;
	int changed = 1;

	for (i = 0; i < r->n; i++)
		r->v[i].holds = r->v[i].native && r->v[i].keep &&
				!r->v[i].needed && r->v[i].opened;
	while (changed) {
		changed = 0;
		for (i = 0; i < r->n; i++) {
			for (k = 0; r->v[i].holds && k < r->v[i].nrefs; k++) {
				size_t to = r->target[i][k];

				if (to == r->n || !r->v[to].holds) {
					r->v[i].holds = 0;
					changed = 1;
				}
			}
		}
	}
}

/* the files read (or stored) by items that hold, and where */
static int take_held(struct rp *r)
{
	size_t i, k, m = 0;

	for (i = 0; i < r->n; i++)
		for (k = 0; r->v[i].holds && r->v[i].seg_key &&
			    k < r->v[i].nseg; k++)
			m += r->v[i].seg_key[k] != NULL;
	r->held = malloc((m ? m : 1) * sizeof(*r->held));
	if (!r->held)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		const struct ocb_repack_item *it = &r->v[i];

		for (k = 0; it->holds && it->seg_key && k < it->nseg; k++) {
			const struct ocb_repack_seg *g = &it->seg[k];

			if (!it->seg_key[k] ||
			    (g->ref != OCB_REPACK_SELF && g->ref >= it->nrefs))
				continue;
			r->held[r->nheld].key = it->seg_key[k];
			r->held[r->nheld++].at = g->ref == OCB_REPACK_SELF ?
						 i : r->target[i][g->ref];
		}
	}
	qsort(r->held, r->nheld, sizeof(*r->held), held_cmp);
	return 0;
}

/* repack the mostly dead (fewer readers only lower live bytes: this
 * ends): 1 when one was marked */
static int mark_dead(struct rp *r, const struct ocb_repack_policy *p)
{
	size_t i;
	int changed = 1, any = 0;

	while (changed) {
		changed = 0;
		for (i = 0; i < r->n; i++) {
			struct ocb_repack_item *it = &r->v[i];

			if (!it->native || !it->keep || !it->needed ||
			    !it->opened || it->repack || r->frozen[i])
				continue;
			it->live_object = 0;
			it->live = live_of(r, i, &it->live_object);
			if (mostly_dead(r, it, p)) {
				it->repack = 1;
				changed = any = 1;
			}
		}
	}
	return any;
}

/* every kept one reading from what goes is replaced, and so is every
 * kept one reading from a replaced one */
static void mark_replaced(struct rp *r)
{
	size_t i;
	int changed = 1;

	while (changed) {
		changed = 0;
		for (i = 0; i < r->n; i++) {
			struct ocb_repack_item *it = &r->v[i];

			if (reads(it) && !it->rewrite && !r->frozen[i] &&
			    reads_deleted(r, i)) {
				it->rewrite = 1;
				changed = 1;
			}
		}
	}
}

/* one kept only for its bytes that would be replaced is repacked
 * instead: the replacements of its readers (all replaced, as it goes
 * either way) move its live bytes, not its whole stream: 1 when one was */
static int repack_replaced(struct rp *r)
{
	size_t i;
	int any = 0;

	for (i = 0; i < r->n; i++) {
		struct ocb_repack_item *it = &r->v[i];

		if (it->rewrite && it->needed && it->native) {
			it->rewrite = 0;
			it->repack = 1;
			any = 1;
		}
	}
	return any;
}

static void decide(struct rp *r, const struct ocb_repack_policy *p)
{
	size_t i;
	int changed = 1;

	freeze(r);
	/* the repacked only grow: this ends */
	while (changed) {
		changed = mark_dead(r, p);
		mark_replaced(r);
		changed |= repack_replaced(r);
	}
	for (i = 0; i < r->n; i++) {	/* as the readers finally are */
		struct ocb_repack_item *it = &r->v[i];

		if (it->repack) {
			it->live_object = 0;
			it->live = live_of(r, i, &it->live_object);
		}
	}
}

/* the store shrinks by the dead bytes of the repacked objects: a
 * replaced backup's object goes, its replacement (its own frames, a
 * catalog, the live bytes moved into it) comes */
static void total(const struct rp *r, const struct ocb_repack_policy *p,
		  struct ocb_repack_totals *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < r->n; i++) {
		const struct ocb_repack_item *it = &r->v[i];
		uint64_t size = size_of(it);

		if (it->repack) {
			t->repacked++;
			if (size > it->live_object)
				t->dead += size - it->live_object;
			t->written += it->live_object;
			t->object_bytes += it->object_size;
		} else if (it->rewrite) {
			t->rewritten++;
			t->written += size;
			t->object_bytes += it->object_size;
		}
	}
	t->worth = t->repacked && t->dead > t->written &&
		   t->dead >= p->min_dead;
	t->together = !r->alone;
}

static void clear(struct ocb_repack_item *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		v[i].live = v[i].live_object = 0;
		v[i].repack = v[i].rewrite = 0;
	}
}

/* the plan by one rule */
static void plan_by(struct rp *r, const struct ocb_repack_policy *p,
		    int alone, struct ocb_repack_totals *t)
{
	clear(r->v, r->n);
	r->alone = alone;
	decide(r, p);
	total(r, p, t);
}

/* what a plan frees beyond what it writes (0: none stands) */
static uint64_t net(const struct ocb_repack_totals *t)
{
	return t->worth ? t->dead - t->written : 0;
}

/* the small objects together; the former rule's plan instead when it
 * frees more net (a small object whose readers cost more to replace
 * than it frees does not spoil the rest) */
static void plan_best(struct rp *r, const struct ocb_repack_policy *p,
		      struct ocb_repack_totals *t)
{
	struct ocb_repack_totals alone;

	plan_by(r, p, 1, &alone);
	plan_by(r, p, 0, t);
	if (net(&alone) > net(t))
		plan_by(r, p, 1, t);
}

static int unknown_reader(const struct ocb_repack_item *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].native && v[i].keep && !v[i].opened)
			return 1;
	return 0;
}

int ocb_repack_plan(struct ocb_repack_item *v, size_t n,
		    const struct ocb_repack_policy *p,
		    struct ocb_repack_totals *t)
{
	struct rp r = { .v = v, .n = n };
	size_t i, k, nseg = 0;
	int ret = -ENOMEM;

	memset(t, 0, sizeof(*t));
	clear(v, n);
	for (i = 0; i < n; i++) {
		v[i].holds = 0;
		nseg += v[i].nseg;
	}
	t->blocked = unknown_reader(v, n);
	if (!n || !p->live_percent || t->blocked)
		return 0;
	r.byname = malloc(n * sizeof(*r.byname));
	r.target = calloc(n, sizeof(*r.target));
	r.sp = malloc((nseg ? nseg : 1) * sizeof(*r.sp));
	r.frozen = calloc(n, 1);
	if (!r.byname || !r.target || !r.sp || !r.frozen)
		goto out;
	for (i = 0; i < n; i++)
		r.byname[i] = i;
	qsort_r(r.byname, n, sizeof(*r.byname), byname_cmp, v);
	for (i = 0; i < n; i++) {
		r.target[i] = malloc((v[i].nrefs ? v[i].nrefs : 1) *
				     sizeof(**r.target));
		if (!r.target[i])
			goto out;
		for (k = 0; k < v[i].nrefs; k++)
			r.target[i][k] = rp_find(&r, v[i].ref_names[k]);
	}
	hold(&r);
	ret = take_held(&r);
	if (ret < 0)
		goto out;
	plan_best(&r, p, t);
	if (!t->worth)
		for (i = 0; i < n; i++)
			v[i].repack = v[i].rewrite = 0;
out:
	for (i = 0; r.target && i < n; i++)
		free(r.target[i]);
	free(r.target);
	free(r.byname);
	free(r.sp);
	free(r.frozen);
	free(r.held);
	return ret;
}
