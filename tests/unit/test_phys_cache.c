/* Unit tests: physical frames kept across reads: found only with the
 * record they were verified against, bounded by bytes (LRU), copied out
 * whole, and nothing kept or found without a cache; a frame claimed by
 * one read is coming for the others, who wait for its put or its
 * unclaim; frames put with their next use go by it (Belady), those put
 * cold first, those a read holds not at all; a pinned frame outlives its
 * eviction, and the bound grows at a read's request within its cap. */
#include "t.h"
#include "buf.h"
#include "catalog.h"
#include "phys_cache.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FS 4096

static void rec_of(struct ocb_frame_rec *r, uint32_t i)
{
	r->off = 512 + (uint64_t)i * 1000;
	r->sealed_len = 1000;
	r->plain_len = FS;
	r->flags = 1;
}

/* a read waiting for a frame another read claimed */
struct waiter {
	struct ocb_phys_cache *pc;
	const uint8_t *id;
	struct ocb_frame_rec rec;
	uint8_t out[FS];
	int r;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->r = ocb_phys_cache_get_wait(w->pc, w->id, 0, &w->rec, w->out);
	return NULL;
}

/* start a waiter for (id, 0); back once it waits on the claim (the
 * cache's count of waits reaches n) */
static void wait_start(struct waiter *w, pthread_t *th, int n)
{
	struct ocb_buf st;
	char want[64];
	int waiting = 0;

	snprintf(want, sizeof(want), "phys_cache_claim_waits %d\n", n);
	CHECK_INT(pthread_create(th, NULL, wait_thread, w), 0);
	while (!waiting) {
		ocb_buf_init(&st, 4096);
		ocb_phys_cache_stats(w->pc, &st);
		waiting = st.data && strstr((char *)st.data, want);
		ocb_buf_release(&st);
		sched_yield();
	}
}

static void test_claims(void)
{
	static const uint8_t c[16] = { 4, 5, 6 };
	struct ocb_phys_cache *pc = NULL;
	struct waiter w = { .id = c };
	uint8_t data[FS];
	pthread_t th;

	CHECK_INT(ocb_phys_cache_new(4 * FS, 0, &pc), 0);
	memset(data, 0x33, sizeof(data));
	rec_of(&w.rec, 0);
	w.pc = pc;
	/* no cache: fetch, nothing to resolve */
	CHECK_INT(ocb_phys_cache_claim(NULL, c, 0, &w.rec), OCB_PHYS_MISS);
	CHECK_INT(ocb_phys_cache_near(NULL, c, 0, &w.rec), 0);
	CHECK_INT(ocb_phys_cache_near(pc, c, 0, &w.rec), 0);
	/* the first read claims it, the next finds it coming */
	CHECK_INT(ocb_phys_cache_claim(pc, c, 0, &w.rec), OCB_PHYS_MINE);
	CHECK_INT(ocb_phys_cache_claim(pc, c, 0, &w.rec), OCB_PHYS_COMING);
	CHECK_INT(ocb_phys_cache_has(pc, c, 0, &w.rec), 0);
	CHECK_INT(ocb_phys_cache_near(pc, c, 0, &w.rec), 1);	/* coming */
	CHECK_INT(ocb_phys_cache_get(pc, c, 0, &w.rec, data), -ENOENT);
	CHECK_INT(ocb_phys_cache_bytes(pc), 0);	/* a claim holds nothing */
	/* a waiter wakes with the frame once it is put */
	wait_start(&w, &th, 1);
	ocb_phys_cache_put(pc, c, 0, &w.rec, data);
	pthread_join(th, NULL);
	CHECK_INT(w.r, 0);
	CHECK(!memcmp(w.out, data, FS));
	CHECK_INT(ocb_phys_cache_claim(pc, c, 0, &w.rec), OCB_PHYS_KEPT);
	ocb_phys_cache_unclaim(pc, c, 0);	/* kept: stays */
	CHECK_INT(ocb_phys_cache_has(pc, c, 0, &w.rec), 1);
	CHECK_INT(ocb_phys_cache_near(pc, c, 0, &w.rec), 1);	/* kept */
	{
		struct ocb_frame_rec other = w.rec;

		other.sealed_len++;	/* kept under another record: no */
		CHECK_INT(ocb_phys_cache_near(pc, c, 0, &other), 0);
	}
	ocb_phys_cache_free(pc);

	/* a claim dropped: the waiter wakes and misses; the frame can be
	 * claimed again */
	CHECK_INT(ocb_phys_cache_new(4 * FS, 0, &pc), 0);
	w.pc = pc;
	CHECK_INT(ocb_phys_cache_claim(pc, c, 0, &w.rec), OCB_PHYS_MINE);
	wait_start(&w, &th, 1);
	ocb_phys_cache_unclaim(pc, c, 0);
	pthread_join(th, NULL);
	CHECK_INT(w.r, -ENOENT);
	CHECK_INT(ocb_phys_cache_claim(pc, c, 0, &w.rec), OCB_PHYS_MINE);
	/* a put that keeps nothing (larger than the cache) drops it too */
	w.rec.plain_len = 8 * FS;
	ocb_phys_cache_put(pc, c, 0, &w.rec, data);
	w.rec.plain_len = FS;
	CHECK_INT(ocb_phys_cache_claim(pc, c, 0, &w.rec), OCB_PHYS_MINE);
	ocb_phys_cache_free(pc);	/* with a claim in it */
}

/* does pc's stats text hold line? */
static int stat_is(struct ocb_phys_cache *pc, const char *line)
{
	struct ocb_buf st;
	int r;

	ocb_buf_init(&st, 4096);
	ocb_phys_cache_stats(pc, &st);
	r = st.data && strstr((char *)st.data, line);
	ocb_buf_release(&st);
	return r;
}

static void put_at(struct ocb_phys_cache *pc, const uint8_t *id, uint32_t i,
		   uint64_t now, uint64_t due, int ahead)
{
	struct ocb_phys_due d = { .now = now, .due = due, .ahead = ahead };
	struct ocb_frame_rec r;
	uint8_t data[FS];

	memset(data, (int)i, sizeof(data));
	rec_of(&r, i);
	ocb_phys_cache_put_due(pc, id, i, &r, data, &d);
}

static int kept(struct ocb_phys_cache *pc, const uint8_t *id, uint32_t i)
{
	struct ocb_frame_rec r;

	rec_of(&r, i);
	return ocb_phys_cache_has(pc, id, i, &r);
}

static void test_due(void)
{
	static const uint8_t a[16] = { 4 }, b[16] = { 5 };
	struct ocb_phys_due d = { .now = 0, .due = OCB_PHYS_NEVER };
	struct ocb_phys_cache *pc = NULL;
	struct ocb_frame_rec r;
	uint8_t data[FS], out[FS];
	uint32_t i;

	memset(data, 0x33, sizeof(data));
	CHECK_INT(ocb_phys_cache_new(4 * FS, 0, &pc), 0);
	for (i = 0; i < 4; i++)
		put_at(pc, b, i, 0, 10 * (i + 1), i == 3);
	/* full: the frame used last goes for one used sooner */
	put_at(pc, b, 4, 0, 25, 0);
	CHECK_INT(kept(pc, b, 3), 0);
	CHECK_INT(kept(pc, b, 4), 1);
	/* one used after every kept frame, or never, is not kept */
	put_at(pc, b, 5, 0, 50, 0);
	CHECK_INT(kept(pc, b, 5), 0);
	put_at(pc, b, 6, 0, OCB_PHYS_NEVER, 0);
	CHECK_INT(kept(pc, b, 6), 0);
	CHECK_INT(ocb_phys_cache_bytes(pc), 4 * FS);
	/* a frame its read will not use again goes first */
	ocb_phys_cache_set_due(pc, b, 0, &d);
	put_at(pc, b, 7, 0, 40, 0);
	CHECK_INT(kept(pc, b, 0), 0);
	CHECK_INT(kept(pc, b, 7), 1);
	/* then one put without a use, before any with one */
	rec_of(&r, 8);
	ocb_phys_cache_put(pc, a, 8, &r, data);
	CHECK_INT(kept(pc, b, 7), 0);		/* due 40: the last used */
	put_at(pc, b, 9, 0, 5, 0);
	CHECK_INT(kept(pc, a, 8), 0);
	CHECK_INT(kept(pc, b, 1), 1);
	CHECK_INT(kept(pc, b, 2), 1);
	/* uses long behind the read's position have passed: the least
	 * recently used of them goes, before frames used later */
	put_at(pc, b, 10, 200ull << 20, 300ull << 20, 0);
	put_at(pc, b, 11, 200ull << 20, 250ull << 20, 0);
	CHECK_INT(kept(pc, b, 1), 0);
	CHECK_INT(kept(pc, b, 2), 0);
	CHECK_INT(kept(pc, b, 10), 1);
	CHECK_INT(kept(pc, b, 11), 1);
	ocb_phys_cache_free(pc);

	/* frames fetched ahead: counted, and when read */
	CHECK_INT(ocb_phys_cache_new(4 * FS, 0, &pc), 0);
	put_at(pc, a, 1, 0, 100, 1);
	CHECK(stat_is(pc, "phys_cache_ahead_bytes 4096\n"));
	rec_of(&r, 1);
	CHECK_INT(ocb_phys_cache_get(pc, a, 1, &r, out), 0);
	CHECK_INT(out[0], 1);
	CHECK(stat_is(pc, "phys_cache_ahead_bytes 0\n"));
	CHECK(stat_is(pc, "phys_cache_ahead_kept 1\n"));
	CHECK(stat_is(pc, "phys_cache_ahead_used 1\n"));
	/* a claim filled with a use, then found by the read waiting for it */
	rec_of(&r, 30);
	CHECK_INT(ocb_phys_cache_claim(pc, a, 30, &r), OCB_PHYS_MINE);
	put_at(pc, a, 30, 0, 0, 0);
	CHECK_INT(ocb_phys_cache_claim(pc, a, 30, &r), OCB_PHYS_KEPT);
	CHECK_INT(ocb_phys_cache_get_wait(pc, a, 30, &r, out), 0);
	ocb_phys_cache_free(pc);

	/* a frame a read found kept is held: not evicted until unheld */
	CHECK_INT(ocb_phys_cache_new(2 * FS, 0, &pc), 0);
	put_at(pc, b, 1, 0, 10, 0);
	put_at(pc, b, 2, 0, 20, 0);
	rec_of(&r, 2);
	CHECK_INT(ocb_phys_cache_claim(pc, b, 2, &r), OCB_PHYS_KEPT);
	put_at(pc, b, 3, 0, 5, 0);
	CHECK_INT(kept(pc, b, 1), 0);		/* not the one used last */
	CHECK_INT(kept(pc, b, 2), 1);
	ocb_phys_cache_unhold(pc, b, 2);
	put_at(pc, b, 4, 0, 6, 0);
	CHECK_INT(kept(pc, b, 2), 0);
	ocb_phys_cache_unhold(pc, b, 2);	/* gone: nothing */
	ocb_phys_cache_unhold(NULL, b, 2);
	ocb_phys_cache_free(pc);

	/* a frame put cold goes before older ones */
	CHECK_INT(ocb_phys_cache_new(2 * FS, 0, &pc), 0);
	rec_of(&r, 1);
	ocb_phys_cache_put(pc, b, 1, &r, data);
	rec_of(&r, 2);
	ocb_phys_cache_put_cold(pc, b, 2, &r, data);
	CHECK_INT(kept(pc, b, 2), 1);
	rec_of(&r, 3);
	ocb_phys_cache_put(pc, b, 3, &r, data);
	CHECK_INT(kept(pc, b, 2), 0);
	CHECK_INT(kept(pc, b, 1), 1);
	ocb_phys_cache_free(pc);

	/* larger than the cache: nothing kept, and a claim on it dropped */
	CHECK_INT(ocb_phys_cache_new(FS / 2, 0, &pc), 0);
	rec_of(&r, 0);
	CHECK_INT(ocb_phys_cache_claim(pc, a, 0, &r), OCB_PHYS_MINE);
	put_at(pc, a, 0, 0, 1, 0);
	CHECK_INT(ocb_phys_cache_bytes(pc), 0);
	CHECK_INT(ocb_phys_cache_claim(pc, a, 0, &r), OCB_PHYS_MINE);
	ocb_phys_cache_free(pc);
	ocb_phys_cache_put_due(NULL, a, 0, &r, data, &d);
	ocb_phys_cache_set_due(NULL, a, 0, &d);
}

/* a pinned frame stays readable when evicted, until unpinned; the bound
 * grows at a read's request within its cap only */
static void test_pin_grow(void)
{
	static const uint8_t a[16] = { 6 };
	struct ocb_phys_cache *pc = NULL;
	struct ocb_frame_rec r;
	const void *view;
	void *pinned = NULL;
	uint8_t data[FS];
	uint32_t i;

	CHECK_INT(ocb_phys_cache_new(2 * FS, 0, &pc), 0);
	memset(data, 0x33, sizeof(data));
	rec_of(&r, 0);
	CHECK_INT(ocb_phys_cache_pin(pc, a, 0, &r, 0, &view, &pinned),
		  -ENOENT);
	ocb_phys_cache_put(pc, a, 0, &r, data);
	CHECK_INT(ocb_phys_cache_pin(pc, a, 0, &r, 1, &view, &pinned), 0);
	for (i = 1; i <= 2; i++) {	/* evicts frame 0 */
		rec_of(&r, i);
		ocb_phys_cache_put(pc, a, i, &r, data);
	}
	CHECK_INT(kept(pc, a, 0), 0);
	CHECK(!memcmp(view, data, FS));
	ocb_phys_cache_unpin(pc, pinned);
	ocb_phys_cache_unpin(pc, NULL);
	/* no cap set: no growth */
	ocb_phys_cache_want(pc, 8 * FS);
	CHECK(stat_is(pc, "phys_cache_limit 8192\n"));
	ocb_phys_cache_set_cap(pc, 4 * FS);
	ocb_phys_cache_want(pc, 3 * FS);
	CHECK(stat_is(pc, "phys_cache_limit 12288\n"));
	ocb_phys_cache_want(pc, FS);	/* never shrinks */
	ocb_phys_cache_want(pc, 8 * FS);	/* the cap */
	CHECK(stat_is(pc, "phys_cache_limit 16384\n"));
	for (i = 3; i <= 5; i++) {
		rec_of(&r, i);
		ocb_phys_cache_put(pc, a, i, &r, data);
	}
	CHECK_INT(ocb_phys_cache_bytes(pc), 4 * FS);
	ocb_phys_cache_free(pc);
	ocb_phys_cache_want(NULL, FS);
}

int main(void)
{
	static const uint8_t a[16] = { 1, 2, 3 }, b[16] = { 9, 8, 7 };
	struct ocb_phys_cache *pc = NULL;
	struct ocb_frame_rec r, other;
	uint8_t data[FS], out[FS];
	struct ocb_buf st;
	uint32_t i;

	CHECK_INT(ocb_phys_cache_new(4 * FS, 0, &pc), 0);
	memset(data, 0x5a, sizeof(data));
	rec_of(&r, 0);
	CHECK_INT(ocb_phys_cache_has(pc, a, 0, &r), 0);
	CHECK_INT(ocb_phys_cache_get(pc, a, 0, &r, out), -ENOENT);
	ocb_phys_cache_put(pc, a, 0, &r, data);
	CHECK_INT(ocb_phys_cache_has(pc, a, 0, &r), 1);
	memset(out, 0, sizeof(out));
	CHECK_INT(ocb_phys_cache_get(pc, a, 0, &r, out), 0);
	CHECK(!memcmp(out, data, FS));
	/* the same index of another backup, or another record: a miss */
	CHECK_INT(ocb_phys_cache_get(pc, b, 0, &r, out), -ENOENT);
	other = r;
	other.flags = 0;
	CHECK_INT(ocb_phys_cache_has(pc, a, 0, &other), 0);
	other = r;
	other.off += 1;
	CHECK_INT(ocb_phys_cache_get(pc, a, 0, &other, out), -ENOENT);
	/* put under another record replaces it */
	data[0] = 1;
	ocb_phys_cache_put(pc, a, 0, &other, data);
	CHECK_INT(ocb_phys_cache_has(pc, a, 0, &r), 0);
	CHECK_INT(ocb_phys_cache_get(pc, a, 0, &other, out), 0);
	CHECK_INT(out[0], 1);
	CHECK_INT(ocb_phys_cache_bytes(pc), FS);

	/* bounded: four frames; the least recently used goes */
	for (i = 1; i <= 3; i++) {
		rec_of(&r, i);
		ocb_phys_cache_put(pc, b, i, &r, data);
	}
	CHECK_INT(ocb_phys_cache_bytes(pc), 4 * FS);
	CHECK_INT(ocb_phys_cache_get(pc, a, 0, &other, out), 0); /* recent */
	rec_of(&r, 4);
	ocb_phys_cache_put(pc, b, 4, &r, data);
	CHECK_INT(ocb_phys_cache_bytes(pc), 4 * FS);
	rec_of(&r, 1);
	CHECK_INT(ocb_phys_cache_has(pc, b, 1, &r), 0);	/* evicted */
	CHECK_INT(ocb_phys_cache_has(pc, a, 0, &other), 1);
	rec_of(&r, 4);
	CHECK_INT(ocb_phys_cache_get(pc, b, 4, &r, out), 0);
	CHECK(!memcmp(out, data, FS));

	ocb_buf_init(&st, 4096);
	ocb_phys_cache_stats(pc, &st);
	CHECK(st.data && strstr((char *)st.data, "phys_cache_evictions 1\n"));
	CHECK(st.data && strstr((char *)st.data, "phys_work_limit 0\n"));
	ocb_buf_release(&st);
	ocb_phys_cache_free(pc);

	/* a frame larger than the cache, and no cache at all: nothing */
	CHECK_INT(ocb_phys_cache_new(FS / 2, 0, &pc), 0);
	rec_of(&r, 0);
	ocb_phys_cache_put(pc, a, 0, &r, data);
	CHECK_INT(ocb_phys_cache_bytes(pc), 0);
	ocb_phys_cache_free(pc);
	ocb_phys_cache_put(NULL, a, 0, &r, data);
	CHECK_INT(ocb_phys_cache_has(NULL, a, 0, &r), 0);
	CHECK_INT(ocb_phys_cache_get(NULL, a, 0, &r, out), -ENOENT);
	CHECK_INT(ocb_phys_cache_bytes(NULL), 0);
	ocb_phys_cache_free(NULL);
	test_claims();
	test_due();
	test_pin_grow();
	return T_DONE();
}
