/*
 * phys_cache.c - decoded physical frames across reads (see phys_cache.h).
 *
 * One mutex guards the table, the LRU list and the counters; frame bytes
 * are copied in and out without it: a reader pins the entry it copies
 * (refs), and a pinned entry is not freed, only unhashed, until its last
 * reader leaves.  An entry being filled is hashed but not READY: lookups
 * miss it, and it is charged from the start, so that concurrent puts stay
 * within the bound.  The buffer of a frame evicted by a put takes the new
 * frame when the sizes agree (a fresh 1 MiB buffer costs a page fault per
 * 4 KiB on first write).  A claim is an entry with no data yet, hashed
 * but not charged: its reader's put fills it, and reads waiting for it
 * sleep on one condition variable, woken whenever an entry becomes ready
 * or leaves the table.
 * A read that finds a frame kept or coming holds it (not evicted) until it
 * has used it: in a cache under pressure, the frames a read left out of
 * its requests were otherwise evicted before it came to them, and fetched
 * again alone.  A frame coming while the held frames fill the cache may
 * not be kept when it comes: the read asking fetches it too (MISS).
 * A frame only its own read needs, as far as it knows (inside a run of a
 * large file), is kept at the cold end of the LRU list: a read streaming
 * such frames through evicts them before the frames at the ends of its
 * reads, which the neighbouring reads share.
 * A sequential read says when it will use a frame next (its logical
 * offset, "due"), and frames go by that, as Belady's policy would: first
 * those it will not use again (or whose use is long past: STALE behind
 * the furthest position reported), then those put without a use (LRU),
 * then the one used last; a frame whose next use comes after every kept
 * one's is not kept when the cache is full.  The frames of a month of
 * days that a large file's pages are spread over are used in turn, over
 * and over: with LRU, once they fill the cache each is evicted just before
 * it is used again.
 */
#include "phys_cache.h"
#include "dlist.h"
#include "buf.h"
#include "catalog.h"
#include "mem_gate.h"
#include "phys_arena.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 1024
#define STALE (16ull << 20)	/* logical bytes: a use this far behind the
				 * furthest read position has passed */
#define CLAIM_WAIT_MAX 300	/* seconds: a claim's fetch is bounded by its
				 * store's retry deadline; past this, fetch */

struct pent {
	uint8_t id[16];
	uint32_t frame;
	struct ocb_frame_rec rec;	/* what it was verified against */
	uint8_t *data;			/* rec.plain_len bytes */
	int ready;
	int refs;
	int hashed;
	int claimed;			/* no data yet: a read fetches it */
	int ahead;			/* kept ahead, not read yet */
	int known;			/* due is known */
	int holds;			/* reads counting on it: not evicted */
	uint64_t due;			/* the next use (OCB_PHYS_NEVER: none) */
	struct pent *hnext;
	struct ocb_dlist lru;		/* hashed entries */
};

struct ocb_phys_cache {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* an entry became ready or left */
	struct pent *table[NBUCKETS];
	struct ocb_dlist lru;		/* the front: the most recent */
	_Atomic size_t max;		/* grows only (want) */
	size_t cap;			/* what max may grow to */
	_Atomic size_t bytes;		/* charged: hashed entries */
	size_t ahead_bytes;		/* of them, kept ahead and not read */
	uint64_t pos;			/* furthest position reported (due) */
	uint64_t hits, misses, evictions, claim_waits, ahead_kept, ahead_used;
	struct ocb_mem_gate *work;	/* the sharing reads' working memory */
	/* the frames' memory (NULL: malloc), made at the first need once
	 * wanted (arena_want: 1 wanted, 2 could not be made) */
	_Atomic(struct ocb_phys_arena *) arena;
	atomic_int arena_want;
	size_t work_bytes;		/* the reads' bound (work) */
};

int ocb_phys_cache_new(size_t max_bytes, size_t work_bytes,
		       struct ocb_phys_cache **out)
{
	struct ocb_phys_cache *pc = calloc(1, sizeof(*pc));
	pthread_condattr_t ca;

	if (!pc)
		return -ENOMEM;
	if (ocb_mem_gate_new(work_bytes, &pc->work) < 0) {
		free(pc);
		return -ENOMEM;
	}
	pthread_mutex_init(&pc->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pc->cond, &ca);
	pthread_condattr_destroy(&ca);
	ocb_dlist_init(&pc->lru);
	pc->max = pc->cap = max_bytes;
	pc->work_bytes = work_bytes;
	*out = pc;
	return 0;
}

void ocb_phys_cache_set_cap(struct ocb_phys_cache *pc, size_t cap_bytes)
{
	pthread_mutex_lock(&pc->lock);
	pc->cap = cap_bytes > pc->max ? cap_bytes : pc->max;
	pthread_mutex_unlock(&pc->lock);
}

void ocb_phys_cache_reserve(struct ocb_phys_cache *pc)
{
	int none = 0;

	/* what is out already was malloc's: the arena's dealloc tells */
	atomic_compare_exchange_strong(&pc->arena_want, &none, 1);
}

/* the arena to allocate from: made now when wanted and not yet made (a
 * command that reads no frames maps nothing); NULL: malloc */
static struct ocb_phys_arena *arena_get(struct ocb_phys_cache *pc)
{
	struct ocb_phys_arena *a;

	if (!pc)
		return NULL;
	a = atomic_load(&pc->arena);
	if (a || atomic_load(&pc->arena_want) != 1)
		return a;
	pthread_mutex_lock(&pc->lock);
	if (!atomic_load(&pc->arena) && atomic_load(&pc->arena_want) == 1) {
		if (ocb_phys_arena_new(pc->cap + pc->work_bytes, &a) == 0)
			atomic_store(&pc->arena, a);
		else
			atomic_store(&pc->arena_want, 2);
	}
	pthread_mutex_unlock(&pc->lock);
	return atomic_load(&pc->arena);
}

/* what e's data took */
static void data_free(struct ocb_phys_cache *pc, struct pent *e)
{
	ocb_phys_arena_dealloc(atomic_load(&pc->arena), e->data,
			       e->rec.plain_len);
}

void *ocb_phys_cache_mem_alloc(struct ocb_phys_cache *pc, size_t len)
{
	return ocb_phys_arena_alloc(arena_get(pc), len);
}

void ocb_phys_cache_mem_free(struct ocb_phys_cache *pc, void *p, size_t len)
{
	ocb_phys_arena_dealloc(pc ? atomic_load(&pc->arena) : NULL, p, len);
}

void ocb_phys_cache_want(struct ocb_phys_cache *pc, size_t bytes)
{
	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	if (bytes > pc->max)
		pc->max = bytes < pc->cap ? bytes : pc->cap;
	pthread_mutex_unlock(&pc->lock);
}

void ocb_phys_cache_free(struct ocb_phys_cache *pc)
{
	struct ocb_dlist *n, *next;

	if (!pc)
		return;
	for (n = pc->lru.next; n != &pc->lru; n = next) {
		struct pent *e = ocb_dlist_entry(n, struct pent, lru);

		next = n->next;
		data_free(pc, e);
		free(e);
	}
	ocb_phys_arena_free(atomic_load(&pc->arena));
	ocb_mem_gate_free(pc->work);
	pthread_cond_destroy(&pc->cond);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
}

static size_t bucket(const uint8_t id[16], uint32_t frame)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));	/* random: any 8 bytes spread */
	return (size_t)((h ^ (frame * 0x9E3779B97F4A7C15ull)) % NBUCKETS);
}

static int same_rec(const struct ocb_frame_rec *a,
		    const struct ocb_frame_rec *b)
{
	return a->off == b->off && a->sealed_len == b->sealed_len &&
	       a->plain_len == b->plain_len && a->flags == b->flags;
}

/* the entry of (id, frame), any state (lock held) */
static struct pent *find(struct ocb_phys_cache *pc, const uint8_t id[16],
			 uint32_t frame)
{
	struct pent *e;

	for (e = pc->table[bucket(id, frame)]; e; e = e->hnext)
		if (e->frame == frame && !memcmp(e->id, id, 16))
			return e;
	return NULL;
}

/* a usable entry for rec, or NULL (lock held) */
static struct pent *find_ready(struct ocb_phys_cache *pc, const uint8_t id[16],
			       uint32_t frame, const struct ocb_frame_rec *rec)
{
	struct pent *e = find(pc, id, frame);

	return e && e->ready && same_rec(&e->rec, rec) ? e : NULL;
}

/* take e out of the table and the bound (a claim is not charged); its
 * buffer to *keep when it is unpinned and keep is not NULL, else freed
 * now or by its last reader; waiters wake (lock held) */
static void drop(struct ocb_phys_cache *pc, struct pent *e, uint8_t **keep)
{
	struct pent **pp = &pc->table[bucket(e->id, e->frame)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hashed = 0;
	ocb_dlist_unlink(&e->lru);
	if (!e->claimed)
		pc->bytes -= e->rec.plain_len;
	if (e->ahead)
		pc->ahead_bytes -= e->rec.plain_len;
	e->ahead = 0;
	pthread_cond_broadcast(&pc->cond);
	if (e->refs)
		return;
	if (keep && !*keep) {
		*keep = e->data;
		e->data = NULL;
	}
	data_free(pc, e);
	free(e);
}

static void unref(struct ocb_phys_cache *pc, struct pent *e)
{
	if (--e->refs == 0 && !e->hashed) {
		data_free(pc, e);
		free(e);
	}
}

int ocb_phys_cache_has(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame, const struct ocb_frame_rec *rec)
{
	int r;

	if (!pc)
		return 0;
	pthread_mutex_lock(&pc->lock);
	r = find_ready(pc, id, frame, rec) != NULL;
	pthread_mutex_unlock(&pc->lock);
	return r;
}

int ocb_phys_cache_near(struct ocb_phys_cache *pc, const uint8_t id[16],
			uint32_t frame, const struct ocb_frame_rec *rec)
{
	struct pent *e;
	int r;

	if (!pc)
		return 0;
	pthread_mutex_lock(&pc->lock);
	e = find(pc, id, frame);
	r = e && (!e->ready || same_rec(&e->rec, rec));	/* as claim() */
	pthread_mutex_unlock(&pc->lock);
	return r;
}

/* the bytes of the frames reads hold, kept or coming (lock held) */
static size_t held_bytes(const struct ocb_phys_cache *pc)
{
	const struct ocb_dlist *l;
	size_t n = 0;

	for (l = pc->lru.next; l != &pc->lru; l = l->next) {
		const struct pent *e = ocb_dlist_entry(l, struct pent, lru);

		if (e->holds)
			n += e->rec.plain_len;
	}
	return n;
}

int ocb_phys_cache_claim(struct ocb_phys_cache *pc, const uint8_t id[16],
			 uint32_t frame, const struct ocb_frame_rec *rec)
{
	struct pent *e, *n;
	int r = OCB_PHYS_MISS;

	if (!pc || !(n = calloc(1, sizeof(*n))))
		return OCB_PHYS_MISS;
	pthread_mutex_lock(&pc->lock);
	e = find(pc, id, frame);
	if (e && !e->ready && held_bytes(pc) + rec->plain_len > pc->max) {
		r = OCB_PHYS_MISS;	/* it may not be kept: fetch it too */
	} else if (e && !e->ready) {
		r = OCB_PHYS_COMING;
		e->holds++;
	} else if (e) {
		r = same_rec(&e->rec, rec) ? OCB_PHYS_KEPT : OCB_PHYS_MISS;
		e->holds += r == OCB_PHYS_KEPT;
	} else {
		memcpy(n->id, id, 16);
		n->frame = frame;
		n->rec = *rec;
		n->hashed = 1;
		n->claimed = 1;
		n->hnext = pc->table[bucket(id, frame)];
		pc->table[bucket(id, frame)] = n;
		ocb_dlist_push_front(&pc->lru, &n->lru);
		n = NULL;
		r = OCB_PHYS_MINE;
	}
	pthread_mutex_unlock(&pc->lock);
	free(n);
	return r;
}

/* drop a claim on (id, frame), if any (lock held) */
static void unclaim(struct ocb_phys_cache *pc, const uint8_t id[16],
		    uint32_t frame)
{
	struct pent *e = find(pc, id, frame);

	if (e && e->claimed)
		drop(pc, e, NULL);
}

void ocb_phys_cache_unhold(struct ocb_phys_cache *pc, const uint8_t id[16],
			   uint32_t frame)
{
	struct pent *e;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	e = find(pc, id, frame);
	if (e && e->holds)
		e->holds--;
	pthread_mutex_unlock(&pc->lock);
}

void ocb_phys_cache_unclaim(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame)
{
	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	unclaim(pc, id, frame);
	pthread_mutex_unlock(&pc->lock);
}

/* wait while (id, frame) is claimed or being kept, CLAIM_WAIT_MAX at most
 * (lock held) */
static void wait_claim(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame)
{
	struct pent *e = find(pc, id, frame);
	struct timespec until;

	if (!e || e->ready)
		return;
	pc->claim_waits++;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CLAIM_WAIT_MAX;
	while ((e = find(pc, id, frame)) && !e->ready)
		if (pthread_cond_timedwait(&pc->cond, &pc->lock, &until))
			return;
}

/* the entry of (id, frame) for rec, pinned (refs), or NULL */
static struct pent *pin(struct ocb_phys_cache *pc, const uint8_t id[16],
			uint32_t frame, const struct ocb_frame_rec *rec,
			int wait)
{
	struct pent *e;

	if (!pc)
		return NULL;
	pthread_mutex_lock(&pc->lock);
	if (wait)
		wait_claim(pc, id, frame);
	e = find_ready(pc, id, frame, rec);
	if (!e) {
		pc->misses++;
		pthread_mutex_unlock(&pc->lock);
		return NULL;
	}
	pc->hits++;
	if (e->ahead) {		/* read: an ordinary frame from now on */
		e->ahead = 0;
		pc->ahead_bytes -= e->rec.plain_len;
		pc->ahead_used++;
	}
	e->refs++;
	ocb_dlist_move_front(&pc->lru, &e->lru);
	pthread_mutex_unlock(&pc->lock);
	return e;
}

void ocb_phys_cache_unpin(struct ocb_phys_cache *pc, void *pinned)
{
	if (!pc || !pinned)
		return;
	pthread_mutex_lock(&pc->lock);
	unref(pc, pinned);
	pthread_mutex_unlock(&pc->lock);
}

int ocb_phys_cache_pin(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame, const struct ocb_frame_rec *rec,
		       int wait, const void **data, void **pinned)
{
	struct pent *e = pin(pc, id, frame, rec, wait);

	if (!e)
		return -ENOENT;
	*data = e->data;
	*pinned = e;
	return 0;
}

static int get(struct ocb_phys_cache *pc, const uint8_t id[16],
	       uint32_t frame, const struct ocb_frame_rec *rec, void *out,
	       int wait)
{
	struct pent *e = pin(pc, id, frame, rec, wait);

	if (!e)
		return -ENOENT;
	memcpy(out, e->data, rec->plain_len);
	ocb_phys_cache_unpin(pc, e);
	return 0;
}

int ocb_phys_cache_get(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame, const struct ocb_frame_rec *rec,
		       void *out)
{
	return get(pc, id, frame, rec, out, 0);
}

int ocb_phys_cache_get_wait(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame, const struct ocb_frame_rec *rec,
			    void *out)
{
	return get(pc, id, frame, rec, out, 1);
}

static int cache_full(const struct ocb_phys_cache *pc, size_t len)
{
	return pc->bytes + len > pc->max;
}

/* has e's use passed, or will it never come? (lock held) */
static int unused(const struct ocb_phys_cache *pc, const struct pent *e)
{
	return e->known && (e->due == OCB_PHYS_NEVER ||
			    e->due + STALE < pc->pos);
}

/* the ready frame to evict first, or NULL (lock held) */
static struct pent *victim(struct ocb_phys_cache *pc)
{
	struct pent *lru = NULL, *last = NULL;
	struct ocb_dlist *n;

	for (n = pc->lru.prev; n != &pc->lru; n = n->prev) {
		struct pent *e = ocb_dlist_entry(n, struct pent, lru);

		if (!e->ready || e->holds)
			continue;
		if (unused(pc, e))
			return e;
		if (!e->known && !lru)
			lru = e;
		else if (e->known && (!last || e->due > last->due))
			last = e;
	}
	return lru ? lru : last;
}

/* evict until len more bytes fit; the buffer of one of plain length len
 * to *keep.  A frame used next at due (known) evicts no frame used
 * before it.  0, or -ENOSPC when it does not fit (lock held) */
static int make_room(struct ocb_phys_cache *pc, size_t len, int known,
		     uint64_t due, uint8_t **keep)
{
	struct pent *v;

	while (cache_full(pc, len)) {
		v = victim(pc);
		if (!v || (known && v->known && !unused(pc, v) &&
			   v->due <= due))
			return -ENOSPC;
		drop(pc, v, v->rec.plain_len == len ? keep : NULL);
		pc->evictions++;
	}
	return 0;
}

/* e's next use (lock held) */
static void set_due(struct ocb_phys_cache *pc, struct pent *e,
		    const struct ocb_phys_due *d)
{
	e->known = 1;
	e->due = d->due;
	if (d->now > pc->pos)
		pc->pos = d->now;
}

enum { PUT_USED, PUT_COLD, PUT_DUE };

/* d: the next use (how PUT_DUE), else NULL */
static void put(struct ocb_phys_cache *pc, const uint8_t id[16],
		uint32_t frame, const struct ocb_frame_rec *rec,
		const void *data, int how, const struct ocb_phys_due *d)
{
	int ahead = d && d->ahead;
	size_t len = rec->plain_len;
	uint8_t *buf = NULL;
	struct pent *e = NULL, *old;

	if (!pc)
		return;
	if (len == 0 || len > pc->max || !(e = calloc(1, sizeof(*e)))) {
		ocb_phys_cache_unclaim(pc, id, frame);
		return;
	}
	pthread_mutex_lock(&pc->lock);
	if (d && d->now > pc->pos)
		pc->pos = d->now;
	old = find(pc, id, frame);
	if (old && !old->claimed && (!old->ready || same_rec(&old->rec, rec))) {
		pthread_mutex_unlock(&pc->lock);
		free(e);
		return;		/* kept already, or being kept */
	}
	if (old && !old->claimed) {
		drop(pc, old, NULL);	/* another record: not ours to keep */
		old = NULL;
	}
	if ((d && d->due == OCB_PHYS_NEVER && cache_full(pc, len)) ||
	    make_room(pc, len, d != NULL, d ? d->due : 0, &buf) < 0) {
		unclaim(pc, id, frame);
		pthread_mutex_unlock(&pc->lock);
		ocb_phys_arena_dealloc(atomic_load(&pc->arena), buf, len);
		free(e);
		return;
	}
	if (old && old->claimed) {	/* fill the claim */
		free(e);
		e = old;
		e->claimed = 0;
		ocb_dlist_unlink(&e->lru);
	} else {
		memcpy(e->id, id, 16);
		e->frame = frame;
		e->hashed = 1;
		e->hnext = pc->table[bucket(id, frame)];
		pc->table[bucket(id, frame)] = e;
	}
	e->rec = *rec;
	e->refs = 1;		/* filling: not evicted, not found */
	e->ahead = ahead;
	if (d)
		set_due(pc, e, d);
	if (how == PUT_COLD)
		ocb_dlist_push_back(&pc->lru, &e->lru);
	else
		ocb_dlist_push_front(&pc->lru, &e->lru);
	pc->bytes += len;
	if (ahead) {
		pc->ahead_bytes += len;
		pc->ahead_kept++;
	}
	pthread_mutex_unlock(&pc->lock);

	if (!buf)
		buf = ocb_phys_arena_alloc(arena_get(pc), len);
	if (buf)
		memcpy(buf, data, len);
	pthread_mutex_lock(&pc->lock);
	e->data = buf;
	e->ready = buf != NULL;
	/* a filling entry is neither evicted nor replaced: still hashed */
	if (--e->refs == 0 && !buf)
		drop(pc, e, NULL);
	pthread_cond_broadcast(&pc->cond);
	pthread_mutex_unlock(&pc->lock);
}

void ocb_phys_cache_put(struct ocb_phys_cache *pc, const uint8_t id[16],
			uint32_t frame, const struct ocb_frame_rec *rec,
			const void *data)
{
	put(pc, id, frame, rec, data, PUT_USED, NULL);
}

void ocb_phys_cache_put_cold(struct ocb_phys_cache *pc, const uint8_t id[16],
			     uint32_t frame, const struct ocb_frame_rec *rec,
			     const void *data)
{
	put(pc, id, frame, rec, data, PUT_COLD, NULL);
}

void ocb_phys_cache_put_due(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame, const struct ocb_frame_rec *rec,
			    const void *data, const struct ocb_phys_due *d)
{
	put(pc, id, frame, rec, data, PUT_DUE, d);
}

void ocb_phys_cache_set_due(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame, const struct ocb_phys_due *d)
{
	struct pent *e;

	if (!pc)
		return;
	pthread_mutex_lock(&pc->lock);
	e = find(pc, id, frame);
	if (e && !e->claimed)
		set_due(pc, e, d);
	pthread_mutex_unlock(&pc->lock);
}

struct ocb_mem_gate *ocb_phys_cache_gate(struct ocb_phys_cache *pc)
{
	return pc ? pc->work : NULL;
}

size_t ocb_phys_cache_bytes(struct ocb_phys_cache *pc)
{
	return pc ? atomic_load(&pc->bytes) : 0;
}

void ocb_phys_cache_stats(struct ocb_phys_cache *pc, struct ocb_buf *out)
{
	pthread_mutex_lock(&pc->lock);
	ocb_buf_printf(out,
		       "phys_cache_bytes %zu\n"
		       "phys_cache_limit %zu\n"
		       "phys_cache_hits %" PRIu64 "\n"
		       "phys_cache_misses %" PRIu64 "\n"
		       "phys_cache_evictions %" PRIu64 "\n"
		       "phys_cache_claim_waits %" PRIu64 "\n"
		       "phys_cache_ahead_bytes %zu\n"
		       "phys_cache_ahead_kept %" PRIu64 "\n"
		       "phys_cache_ahead_used %" PRIu64 "\n",
		       atomic_load(&pc->bytes), pc->max, pc->hits, pc->misses,
		       pc->evictions, pc->claim_waits, pc->ahead_bytes,
		       pc->ahead_kept, pc->ahead_used);
	pthread_mutex_unlock(&pc->lock);
	ocb_mem_gate_stats(pc->work, "phys_work", out);
}
