/*
 * frame_cache.c - decrypted frames in RAM, LRU by bytes, with in-flight
 * de-duplication and sequential read-ahead.
 *
 * Locking: one mutex guards the hash table, the LRU list and the counters.
 * It is held only for table work, never across a fetch and never across
 * the copy of frame bytes to the caller: a reader pins the entries it
 * needs (refs), and a pinned entry is neither evicted nor freed, and its
 * data, once READY, never changes.  The critical sections are a few hash
 * look-ups each, so one lock does not limit a 2-core machine; sharding
 * would make the global byte bound approximate for no measurable gain.
 *
 * A frame being fetched is an entry in state LOADING; others needing it
 * wait on the condition variable (bounded by WAIT_MAX) instead of fetching
 * it again.  A fetch that fails unhashes its LOADING entries and marks them
 * FAILED with the error, so waiters return it and nothing is cached.
 *
 * Read-ahead: frames past the read are claimed (LOADING) by the reader and
 * fetched by a pool of workers, RA_NEAR requests in flight at most, or
 * RA_WORKERS when the store is far (each on its own connection), so that
 * a store at a distance is
 * read at several connections' rate and the next frames are decoded on
 * the other core while this read is answered.  Frames being fetched count
 * against the bound like cached ones (their buffers are memory too).
 * Unconsumed read-ahead frames may hold at most half the cache, and pinned
 * frames are never evicted, so read-ahead cannot push out what is read.
 *
 * Sizing: each range request is timed (link_est.h).  A read-ahead request
 * carries twice the measured bandwidth-delay product of one connection
 * (at least RA_RUN frames, at most RUN_MAX), and a stream's window is as
 * many such requests as may be in flight, so that with every worker busy
 * the link is full whatever its distance, within the cache's share.
 *
 * A read's bytes leave as pieces of its pinned frames (read_iov), which
 * the mount hands to the kernel without a copy of its own.  A cold read
 * of a small file of an incremental backup skips the frames (read_small).
 */
#include "frame_cache.h"
#include "buf.h"
#include "dlist.h"
#include "link_est.h"
#include "ocb_archive.h"
#include "phys_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define NBUCKETS 4096
#define RA_MAX 256		/* read-ahead window cap, in frames */
#define RUN_MAX 32		/* frames per range request */
#define RA_WORKERS 12		/* read-ahead requests in flight, at most */
#define RA_NEAR 8		/* ... while the store is near */
#define RA_FAR_US 20000		/* a round trip this long: the store is far */
#define RA_RUN 8		/* frames per read-ahead request, at least */
#define RA_QUEUE_MAX 32
#define SEQ_SLACK_MIN (128u << 10)	/* see seq_window() */
#define SEQ_SLACK_MAX (2u << 20)
#define SEQ_BACK (4u << 20)	/* see ocb_read_state_step() */
#define WAIT_MAX 120		/* seconds a reader waits for another's fetch */
#define RAM_MIN (8u << 20)
#define POOL_MIN (64u << 10)	/* smaller frame buffers are not kept */
#define PHYS_SHARE 4		/* physical frames: a quarter of the RAM */
/* what the reads of incremental backups may hold at once while they run
 * (their fetched frames and decode buffers, a few MiB each): without a
 * bound, FUSE readers and read-ahead workers together held some 45 MiB
 * with a 16 MiB cache.  Four reads of one frame fit, or two of a far
 * read-ahead run; the read-ahead in flight is bounded by the cache's
 * half anyway. */
#define PHYS_WORK (16u << 20)

enum { LOADING, READY, FAILED };

struct fent {
	uint64_t aid;
	uint32_t frame;
	uint64_t fetch;		/* LOADING: the claim that fetches it */
	int state;
	int err;		/* FAILED: the fetch's error */
	int refs;		/* readers holding it: not evicted or freed */
	int hashed;		/* in the table (else freed by the last ref) */
	int ra;			/* read ahead and not read yet */
	uint32_t ra_charge;	/* what it adds to ra_bytes while ra */
	uint32_t load_charge;	/* what it adds to loading while LOADING */
	uint8_t *data;
	uint32_t len;
	struct fent *hnext;
	struct ocb_dlist lru;		/* READY entries only */
};

struct ra_job {
	struct ra_job *next;
	struct ocb_archive *a;
	uint64_t aid, fetch;
	uint32_t first, n;
};

struct ocb_frame_cache {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a frame changed state; a job ended */
	pthread_cond_t job_cond;	/* a job was queued; stopping */
	struct ra_job *jobs;
	unsigned njobs;
	uint64_t running_aid[RA_WORKERS];
	pthread_t workers[RA_WORKERS];
	int nworkers;
	int nrunning;		/* workers fetching */
	int stopping;
	struct fent *table[NBUCKETS];
	struct ocb_dlist lru;		/* the front: the most recent */
	size_t bytes, max, ra_bytes;
	size_t loading;		/* frames being fetched: their buffers */
	size_t peak;		/* most bytes held at once (after eviction) */
	uint64_t hits, misses, fetched, readahead, requests, waits, evicted;
	uint64_t failures, decoded, ra_unused_evicted, timeouts;
	uint64_t next_fetch;	/* claim ids */
	struct ocb_link_est *link;	/* the store link, from our requests */
	struct ocb_phys_cache *phys;	/* within max: see evict() */
	uint64_t wire_bytes, wire_frames;	/* sealed sizes fetched */
	struct pooled *pool;	/* buffers of frames evicted, for new ones */
	size_t pool_bytes;	/* at most loading: see pool_put() */
	uint64_t pool_reused;
};

/* a buffer in the pool: the link lives in the buffer itself */
struct pooled {
	struct pooled *next;
	size_t cap;
};

static size_t bucket(uint64_t aid, uint32_t frame)
{
	return (size_t)(((aid * 0x9E3779B97F4A7C15ull) ^ frame) % NBUCKETS);
}

int ocb_frame_cache_new(size_t ram_bytes, struct ocb_frame_cache **out)
{
	struct ocb_frame_cache *fc = calloc(1, sizeof(*fc));
	pthread_condattr_t ca;

	if (!fc)
		return -ENOMEM;
	pthread_mutex_init(&fc->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fc->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&fc->job_cond, NULL);
	ocb_dlist_init(&fc->lru);
	fc->max = ram_bytes < RAM_MIN ? RAM_MIN : ram_bytes;
	if (ocb_link_est_new(&fc->link) < 0 ||
	    ocb_phys_cache_new(fc->max / PHYS_SHARE, PHYS_WORK,
			       &fc->phys) < 0) {
		ocb_frame_cache_free(fc);
		return -ENOMEM;
	}
	*out = fc;
	return 0;
}

/* ---- table and LRU (lock held) ------------------------------------------ */

static struct fent *find(struct ocb_frame_cache *fc, uint64_t aid,
			 uint32_t frame)
{
	struct fent *e;

	for (e = fc->table[bucket(aid, frame)]; e; e = e->hnext)
		if (e->aid == aid && e->frame == frame)
			return e;
	return NULL;
}

static struct fent *add_loading(struct ocb_frame_cache *fc, uint64_t aid,
				uint32_t frame, uint64_t fetch, uint32_t fsz)
{
	struct fent *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->aid = aid;
	x->frame = frame;
	x->state = LOADING;
	x->load_charge = fsz;
	fc->loading += fsz;
	x->fetch = fetch;
	x->hashed = 1;
	x->hnext = fc->table[bucket(aid, frame)];
	fc->table[bucket(aid, frame)] = x;
	return x;
}

static void unhash(struct ocb_frame_cache *fc, struct fent *e)
{
	struct fent **pp = &fc->table[bucket(e->aid, e->frame)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
	e->hashed = 0;
}

/*
 * Frame buffers are recycled: a fresh one costs a page fault per 4 KiB
 * when first written (measured: as much CPU as the copy itself), and a
 * reader streaming through the cache evicts a frame for every one it
 * fetches.  The pool holds no more than the frames being fetched are
 * charged for (loading), whose buffers do not exist yet: the memory held
 * stays within the bound (lock held for all three).
 */
static void pool_put(struct ocb_frame_cache *fc, uint8_t *p, size_t cap)
{
	struct pooled *b = (struct pooled *)(void *)p;

	if (!p)
		return;
	if (cap < POOL_MIN || fc->pool_bytes + cap > fc->loading) {
		free(p);
		return;
	}
	b->next = fc->pool;
	b->cap = cap;
	fc->pool = b;
	fc->pool_bytes += cap;
}

/* a pooled buffer of exactly cap bytes, or NULL */
static uint8_t *pool_take(struct ocb_frame_cache *fc, size_t cap)
{
	struct pooled **pp, *b;

	for (pp = &fc->pool; (b = *pp) != NULL; pp = &b->next) {
		if (b->cap == cap) {
			*pp = b->next;
			fc->pool_bytes -= cap;
			fc->pool_reused++;
			return (uint8_t *)b;
		}
	}
	return NULL;
}

/* the pool within what loading frames are charged for */
static void pool_trim(struct ocb_frame_cache *fc)
{
	while (fc->pool && fc->pool_bytes > fc->loading) {
		struct pooled *b = fc->pool;

		fc->pool = b->next;
		fc->pool_bytes -= b->cap;
		free(b);
	}
}

static void entry_free(struct ocb_frame_cache *fc, struct fent *e)
{
	pool_put(fc, e->data, e->len);
	free(e);
}

/* e leaves LOADING for state (READY or FAILED) */
static void loaded(struct ocb_frame_cache *fc, struct fent *e, int state)
{
	fc->loading -= e->load_charge;
	e->load_charge = 0;
	e->state = state;
	pool_trim(fc);
}

/* e is no longer unconsumed read-ahead */
static void ra_clear(struct ocb_frame_cache *fc, struct fent *e)
{
	if (e->ra) {
		fc->ra_bytes -= e->ra_charge;
		e->ra = 0;
	}
}

/* take e out of the cache; freed now, or by its last reader */
static void drop(struct ocb_frame_cache *fc, struct fent *e)
{
	unhash(fc, e);
	ocb_dlist_unlink(&e->lru);
	if (e->state == READY)
		fc->bytes -= e->len;
	ra_clear(fc, e);
	if (e->refs == 0)
		entry_free(fc, e);
}

static void unref(struct ocb_frame_cache *fc, struct fent *e)
{
	if (--e->refs == 0 && !e->hashed)
		entry_free(fc, e);
}

/* evict least recently used unpinned frames down to the bound, which
 * counts the frames being fetched too (their buffers are memory as well)
 * and the physical frames incremental backups keep (at most a
 * PHYS_SHARE-th of it, and only while such backups are read) */
static void evict(struct ocb_frame_cache *fc)
{
	struct ocb_dlist *n = fc->lru.prev;
	size_t phys = ocb_phys_cache_bytes(fc->phys);

	while (fc->bytes + fc->loading + phys > fc->max && n != &fc->lru) {
		struct fent *e = ocb_dlist_entry(n, struct fent, lru);
		struct ocb_dlist *prev = n->prev;

		if (e->refs == 0) {
			if (e->ra)
				fc->ra_unused_evicted++;
			drop(fc, e);
			fc->evicted++;
		}
		n = prev;
	}
}

/* ---- fetching ----------------------------------------------------------- */

/* is the store far (its round trip long enough that requests in flight,
 * not decoding, bound a sequential read)? */
static int link_far(struct ocb_frame_cache *fc)
{
	uint64_t rtt, rate;

	ocb_link_est_get(fc->link, &rtt, &rate);
	return rtt >= RA_FAR_US;
}

/* read-ahead requests in flight at most: near the store decoding is the
 * bound, and more requests would only take the reader's CPU; far from
 * it, each connection is slow and only more of them fill the link */
static int ra_parallel(struct ocb_frame_cache *fc)
{
	return link_far(fc) ? RA_WORKERS : RA_NEAR;
}

struct fill {
	struct ocb_frame_cache *fc;
	uint64_t aid, fetch;
	uint64_t t_first;	/* the first frame decoded: the fetch's end */
};

/* a fetched frame: copy it into its LOADING entry, make it READY */
static int fill_cb(void *arg, uint32_t frame, const void *data, size_t len)
{
	struct fill *f = arg;
	struct ocb_frame_cache *fc = f->fc;
	struct fent *e;
	uint8_t *copy;

	if (!f->t_first)
		f->t_first = ocb_link_est_now_us();
	pthread_mutex_lock(&fc->lock);
	copy = pool_take(fc, len);
	pthread_mutex_unlock(&fc->lock);
	if (!copy)
		copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	pthread_mutex_lock(&fc->lock);
	fc->decoded += len;
	e = find(fc, f->aid, frame);
	if (e && e->state == LOADING && e->fetch == f->fetch) {
		e->data = copy;
		e->len = (uint32_t)len;
		loaded(fc, e, READY);
		fc->bytes += len;
		if (e->refs)
			ra_clear(fc, e);	/* a reader wants it already */
		if (e->ra) {
			fc->ra_bytes += len - e->ra_charge;
			e->ra_charge = (uint32_t)len;
		}
		fc->fetched++;
		ocb_dlist_push_front(&fc->lru, &e->lru);
		copy = NULL;
		evict(fc);
		if (fc->bytes > fc->peak)
			fc->peak = fc->bytes;
	}
	pool_put(fc, copy, len);
	pthread_cond_broadcast(&fc->cond);
	pthread_mutex_unlock(&fc->lock);
	return 0;
}

/* fetch frames [first, first + n), all claimed LOADING by claim "fetch"
 * (the entries are looked up again: a frame filled may have been evicted
 * since, and claimed anew by someone else, whose entry is not ours) */
static int fetch_run(struct ocb_frame_cache *fc, struct ocb_archive *a,
		     uint64_t aid, uint64_t fetch, uint32_t first, uint32_t n)
{
	struct fill f = { fc, aid, fetch, 0 };
	uint64_t t0 = ocb_link_est_now_us(), wire = 0;
	uint32_t i;
	int r, net;

	r = ocb_archive_read_frames_net(a, first, n, fill_cb, &f, &net);
	if (r == 0) {
		wire = ocb_archive_wire_bytes(a, first, n);
		/* the link's time, not the decoding of all but one frame,
		 * and only when the store answered: a request the disk cache
		 * or another's transfer answered takes a few milliseconds
		 * whatever the distance, and the round trip is the smallest
		 * time seen */
		if (net)
			ocb_link_est_sample(fc->link, wire, f.t_first - t0);
	}
	pthread_mutex_lock(&fc->lock);
	fc->requests++;
	if (r == 0) {
		fc->wire_bytes += wire;
		fc->wire_frames += n;
	}
	/* whatever is still LOADING failed: waiters get the error */
	for (i = first; i < first + n; i++) {
		struct fent *e = find(fc, aid, i);

		if (e && e->state == LOADING && e->fetch == fetch) {
			if (r == 0)
				r = -EIO;	/* fewer frames than asked */
			loaded(fc, e, FAILED);
			e->err = r;
			drop(fc, e);
		}
	}
	if (r < 0)
		fc->failures++;
	evict(fc);
	pthread_cond_broadcast(&fc->cond);
	pthread_mutex_unlock(&fc->lock);
	return r;
}

/* the queued read-ahead jobs of archive aid end unrun, their frames
 * FAILED with err (lock held) */
static void drop_jobs(struct ocb_frame_cache *fc, uint64_t aid, int err)
{
	struct ra_job **pp;

	for (pp = &fc->jobs; *pp;) {
		struct ra_job *j = *pp;

		if (j->aid == aid) {
			uint32_t k;

			*pp = j->next;
			fc->njobs--;
			for (k = j->first; k < j->first + j->n; k++) {
				struct fent *e = find(fc, aid, k);

				if (e && e->state == LOADING &&
				    e->fetch == j->fetch) {
					loaded(fc, e, FAILED);
					e->err = err;
					drop(fc, e);
				}
			}
			free(j);
		} else {
			pp = &j->next;
		}
	}
}

struct worker_arg {
	struct ocb_frame_cache *fc;
	int slot;
};

static void *ra_worker(void *arg)
{
	struct ocb_frame_cache *fc = ((struct worker_arg *)arg)->fc;
	int slot = ((struct worker_arg *)arg)->slot;
	int r;

	free(arg);
	pthread_mutex_lock(&fc->lock);
	for (;;) {
		struct ra_job *j;

		while ((!fc->jobs || fc->nrunning >= ra_parallel(fc)) &&
		       !fc->stopping)
			pthread_cond_wait(&fc->job_cond, &fc->lock);
		if (fc->stopping)
			break;
		j = fc->jobs;
		fc->jobs = j->next;
		fc->njobs--;
		fc->nrunning++;
		fc->running_aid[slot] = j->aid;
		pthread_mutex_unlock(&fc->lock);
		r = fetch_run(fc, j->a, j->aid, j->fetch, j->first, j->n);
		pthread_mutex_lock(&fc->lock);
		fc->nrunning--;
		pthread_cond_signal(&fc->job_cond);
		/* the store failed past its retries: the jobs queued behind
		 * would each wait as long again, so a reader needing their
		 * frames gets the error now, within the documented bound */
		if (r < 0 && r != -ECANCELED && r != -ENOMEM && r != -EBADMSG)
			drop_jobs(fc, j->aid, r);
		free(j);
		fc->running_aid[slot] = 0;
		pthread_cond_broadcast(&fc->cond);
	}
	pthread_mutex_unlock(&fc->lock);
	return NULL;
}

/* queue a read-ahead run (lock held); 0, or -EBUSY when it cannot be */
static int ra_queue(struct ocb_frame_cache *fc, struct ocb_archive *a,
		    uint64_t aid, uint64_t fetch, uint32_t first, uint32_t n)
{
	struct ra_job *j, **pp;

	if (fc->stopping || fc->njobs >= RA_QUEUE_MAX)
		return -EBUSY;
	while (fc->nworkers < RA_WORKERS) {
		struct worker_arg *wa = malloc(sizeof(*wa));

		if (!wa)
			return -EBUSY;
		wa->fc = fc;
		wa->slot = fc->nworkers;
		if (pthread_create(&fc->workers[fc->nworkers], NULL, ra_worker,
				   wa) != 0) {
			free(wa);
			if (!fc->nworkers)
				return -EBUSY;
			break;
		}
		fc->nworkers++;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -EBUSY;
	j->a = a;
	j->aid = aid;
	j->fetch = fetch;
	j->first = first;
	j->n = n;
	for (pp = &fc->jobs; *pp; pp = &(*pp)->next)
		;
	*pp = j;
	fc->njobs++;
	pthread_cond_signal(&fc->job_cond);
	return 0;
}

void ocb_frame_cache_free(struct ocb_frame_cache *fc)
{
	size_t i;

	if (!fc)
		return;
	pthread_mutex_lock(&fc->lock);
	fc->stopping = 1;
	while (fc->jobs) {
		struct ra_job *j = fc->jobs;

		fc->jobs = j->next;
		free(j);
	}
	pthread_cond_broadcast(&fc->job_cond);
	pthread_mutex_unlock(&fc->lock);
	for (i = 0; i < (size_t)fc->nworkers; i++)
		pthread_join(fc->workers[i], NULL);
	for (i = 0; i < NBUCKETS; i++) {
		while (fc->table[i]) {
			struct fent *e = fc->table[i];

			fc->table[i] = e->hnext;
			entry_free(fc, e);
		}
	}
	fc->loading = 0;
	pool_trim(fc);
	ocb_link_est_free(fc->link);
	ocb_phys_cache_free(fc->phys);
	pthread_mutex_destroy(&fc->lock);
	pthread_cond_destroy(&fc->cond);
	pthread_cond_destroy(&fc->job_cond);
	free(fc);
}

/* ---- reading ------------------------------------------------------------ */

/*
 * Sequential detection.  FUSE runs reads of one file on several threads,
 * so the kernel's read-ahead requests arrive out of order: a read counts
 * as sequential when it starts near where the last one ended (a slack of
 * two read lengths, 128 KiB to 2 MiB), and each such read doubles the
 * window (1, 2, 4 ... RA_MAX frames; a read uses at most as many
 * requests' worth of it as may be in flight).  A read that ends up to
 * SEQ_BACK behind the stream is one of the kernel's requests overtaken by
 * the next: it keeps the window as it is (resetting there made a fast
 * reader lose its read-ahead several times per second).  Any other read resets it.
 * The caller serialises steps of one state (fs_ns_backup.c: under the file's lock,
 * before the read blocks): a copy taken by parallel reads and put back
 * after them would lose steps and move next_off backwards, and the next
 * read would then look random and reset the window.
 */
uint32_t ocb_read_state_step(struct ocb_read_state *rs, uint64_t off,
			     size_t len)
{
	uint64_t slack = (uint64_t)len * 2;

	if (!rs)
		return 0;
	if (slack < SEQ_SLACK_MIN)
		slack = SEQ_SLACK_MIN;
	if (slack > SEQ_SLACK_MAX)
		slack = SEQ_SLACK_MAX;
	if (rs->next_off && off + len <= rs->next_off &&
	    off + SEQ_BACK >= rs->next_off)
		return rs->window;	/* overtaken: the stream goes on */
	if (rs->next_off == 0 || off + slack < rs->next_off ||
	    off > rs->next_off + slack) {
		rs->window = 0;
		rs->next_off = off + len;
		return 0;
	}
	rs->window = rs->window ? (rs->window * 2 > RA_MAX ? RA_MAX :
				   rs->window * 2) : 1;
	if (off + len > rs->next_off)
		rs->next_off = off + len;
	return rs->window;
}

/* frames per read-ahead request: twice the link's bandwidth-delay
 * product in frames as they travel (lock held) */
static uint32_t ra_run(struct ocb_frame_cache *fc)
{
	uint64_t unit = fc->wire_frames ? fc->wire_bytes / fc->wire_frames : 0;

	return ocb_link_est_units(fc->link, unit, RA_RUN, RUN_MAX);
}

/* wait until e is no longer LOADING (lock held): 0, or -ETIMEDOUT */
static int wait_ready(struct ocb_frame_cache *fc, struct fent *e)
{
	struct timespec dl;
	int counted = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += WAIT_MAX;
	while (e->state == LOADING) {
		if (!counted++)
			fc->waits++;
		if (pthread_cond_timedwait(&fc->cond, &fc->lock, &dl) ==
		    ETIMEDOUT && e->state == LOADING) {
			fc->timeouts++;
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* claim missing frames of [f0, ra_end] as LOADING (lock held), pin the
 * needed ones [f0, f1] into pin[]; our claims go to owned[] */
static int claim(struct ocb_frame_cache *fc, uint64_t aid, uint32_t fsz,
		 uint32_t f0, uint32_t f1, uint32_t ra_end, struct fent **pin,
		 uint32_t *owned, uint32_t *nowned, uint64_t *fetch)
{
	uint32_t i;

	*nowned = 0;
	*fetch = ++fc->next_fetch;
	for (i = f0; i <= ra_end; i++) {
		struct fent *x = find(fc, aid, i);

		if (x) {
			if (i <= f1) {
				if (x->state == READY)
					fc->hits++;
				x->refs++;
				pin[i - f0] = x;
			}
			continue;
		}
		x = add_loading(fc, aid, i, *fetch, fsz);
		if (!x && i > f1)
			break;
		if (!x) {
			/* give up our claims: nobody will fetch them */
			for (i = 0; i < *nowned; i++) {
				x = find(fc, aid, owned[i]);
				loaded(fc, x, FAILED);
				x->err = -ENOMEM;
				drop(fc, x);
			}
			*nowned = 0;
			pthread_cond_broadcast(&fc->cond);
			return -ENOMEM;
		}
		owned[(*nowned)++] = i;
		if (i <= f1) {
			fc->misses++;
			x->refs++;
			pin[i - f0] = x;
		} else {
			/* charged from the claim on, so that read-ahead
			 * still in flight counts against its share */
			fc->readahead++;
			x->ra = 1;
			x->ra_charge = fsz;
			fc->ra_bytes += fsz;
		}
	}
	return 0;
}

/* fetch our claims, adjacent frames in one request each; runs past what
 * this read needs go to the workers when they can take them */
static int fetch_claims(struct ocb_frame_cache *fc, struct ocb_archive *a,
			uint64_t aid, uint64_t fetch, uint32_t f1,
			const uint32_t *owned, uint32_t nowned, uint32_t run)
{
	uint32_t i, j, nra = 0, ra_run;
	int r = 0;

	/* read-ahead in requests of run frames (fewer, split between the
	 * workers, while the window is small): larger requests fetch fewer
	 * edge blocks twice in the disk cache below */
	for (i = 0; i < nowned; i++)
		nra += owned[i] > f1;
	ra_run = nra >= run ? run : (nra + RA_NEAR - 1) / RA_NEAR;
	ra_run = ra_run < 1 ? 1 : ra_run > run ? run : ra_run;
	for (i = 0; i < nowned; i = j) {
		int ra = owned[i] > f1, fr, queued = 0;

		for (j = i + 1; j < nowned && owned[j] == owned[j - 1] + 1 &&
		     j - i < (ra ? ra_run : RUN_MAX) &&
		     (owned[j] > f1) == ra; j++)
			;
		if (ra) {
			pthread_mutex_lock(&fc->lock);
			queued = ra_queue(fc, a, aid, fetch, owned[i],
					  j - i) == 0;
			pthread_mutex_unlock(&fc->lock);
			if (queued)
				continue;
		}
		fr = fetch_run(fc, a, aid, fetch, owned[i], j - i);
		if (fr < 0 && !ra && r == 0)
			r = fr;
	}
	return r;
}

/* how far past f1 (up to ra_end) to read ahead (lock held): only when
 * enough is missing to make a worthwhile request, and within its share */
static uint32_t ra_extent(struct ocb_frame_cache *fc, uint64_t aid,
			  uint64_t fsz, uint32_t f1, uint32_t fl,
			  uint32_t ra_end, uint32_t window, uint32_t run)
{
	uint64_t room = fc->max / 2 > fc->ra_bytes ?
			(fc->max / 2 - fc->ra_bytes) / fsz : 0;
	uint32_t missing = 0, want, i;

	if (ra_end <= f1)
		return ra_end;
	for (i = f1 + 1; i <= ra_end; i++) {
		if (find(fc, aid, i))
			continue;
		if (missing == room)
			break;
		missing++;
	}
	ra_end = i - 1;
	want = window / 2 < run ? window / 2 : run;
	if (missing == 0 || (missing < want && ra_end < fl))
		ra_end = f1;
	return ra_end;
}

/* stream bytes [s, end) as pieces iov[] of the pinned frames pin[] (from
 * frame f0), one per frame: their count, or -EIO for a frame shorter than
 * the catalog says */
static int iov_of(struct fent *const *pin, uint32_t f0, uint64_t fsz,
		  uint64_t s, uint64_t end, struct iovec *iov)
{
	uint64_t pos;
	int n = 0;

	for (pos = s; pos < end; n++) {
		const struct fent *x = pin[(pos / fsz) - f0];
		uint64_t fstart = (pos / fsz) * fsz;
		uint64_t stop = end < fstart + x->len ? end : fstart + x->len;

		if (stop <= pos)
			return -EIO;
		iov[n].iov_base = x->data + (pos - fstart);
		iov[n].iov_len = (size_t)(stop - pos);
		pos = stop;
	}
	return n;
}

struct copy_arg {
	uint8_t *buf;
};

static int copy_iov(void *arg, const struct iovec *iov, int n)
{
	uint8_t *p = ((struct copy_arg *)arg)->buf;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}

static int bytes_sink(void *arg, const void *p, size_t n)
{
	struct copy_arg *c = arg;

	memcpy(c->buf, p, n);
	c->buf += n;
	return 0;
}

/*
 * A cold read of a small file (all of it in one logical frame, not in the
 * cache, no read-ahead) of an incremental backup: only the segments
 * holding its bytes are fetched (ocb_archive_read_bytes), not the whole
 * logical frame, which may also hold other files' bytes in other objects
 * (a request each).  The frame is not kept here; its physical frames are
 * (phys_cache.h), and the kernel keeps the file's pages.  1 when it did
 * not apply (then the caller reads frames), else 0 or a negative errno.
 */
static int read_small(struct ocb_frame_cache *fc, struct ocb_archive *a,
		      uint64_t aid, uint64_t s, size_t len,
		      ocb_frame_cache_iov_fn fn, void *arg)
{
	uint32_t f = (uint32_t)(s / ocb_archive_info(a)->frame_size);
	struct copy_arg c;
	struct iovec iov;
	uint8_t *buf;
	int r, cached;

	pthread_mutex_lock(&fc->lock);
	cached = find(fc, aid, f) != NULL;
	pthread_mutex_unlock(&fc->lock);
	if (cached || !(buf = malloc(len)))
		return 1;
	c.buf = buf;
	r = ocb_archive_read_bytes(a, s, len, bytes_sink, &c);
	if (r == -EINVAL) {
		free(buf);
		return 1;
	}
	pthread_mutex_lock(&fc->lock);
	fc->misses++;
	if (r < 0)
		fc->failures++;
	pthread_mutex_unlock(&fc->lock);
	iov.iov_base = buf;
	iov.iov_len = len;
	if (r == 0)
		r = fn(arg, &iov, 1);
	free(buf);
	return r;
}

/* a read is done with its pinned frames (up to n, NULL-ended): read now,
 * so recently used and no longer unread read-ahead (lock taken) */
static void unpin_read(struct ocb_frame_cache *fc, struct fent **pin,
		       uint32_t n)
{
	uint32_t i;

	pthread_mutex_lock(&fc->lock);
	for (i = 0; i < n && pin[i]; i++) {
		struct fent *x = pin[i];

		ra_clear(fc, x);
		if (x->hashed && x->state == READY) {
			ocb_dlist_move_front(&fc->lru, &x->lru);
		}
		unref(fc, x);
	}
	evict(fc);
	pthread_mutex_unlock(&fc->lock);
}

ssize_t ocb_frame_cache_pread(struct ocb_frame_cache *fc,
			      struct ocb_archive *a, uint64_t aid,
			      uint32_t idx, void *buf, size_t len,
			      uint64_t off, struct ocb_read_state *rs)
{
	return ocb_frame_cache_pread_ahead(fc, a, aid, idx, buf, len, off,
					   rs ? ocb_read_state_step(rs, off, len)
					      : 0);
}

ssize_t ocb_frame_cache_pread_ahead(struct ocb_frame_cache *fc,
				    struct ocb_archive *a, uint64_t aid,
				    uint32_t idx, void *buf, size_t len,
				    uint64_t off, uint32_t window)
{
	struct copy_arg c = { buf };

	return ocb_frame_cache_read_iov(fc, a, aid, idx, len, off, window,
					copy_iov, &c);
}

ssize_t ocb_frame_cache_read_iov(struct ocb_frame_cache *fc,
				 struct ocb_archive *a, uint64_t aid,
				 uint32_t idx, size_t len, uint64_t off,
				 uint32_t window, ocb_frame_cache_iov_fn fn,
				 void *arg)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	const struct ocb_archive_info *info = ocb_archive_info(a);
	uint64_t fsz, s, end;
	uint32_t f0, f1, fl, ra_end, i, nowned = 0, *owned = NULL, run, par;
	uint64_t fetch = 0;
	struct fent **pin = NULL;
	struct iovec *iov = NULL;
	int attempt, r = 0;

	if (!e || e->type != OCB_ENTRY_FILE)
		return -EISDIR;
	if (off >= e->size || len == 0)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	fsz = info->frame_size;
	s = e->data_off + off;
	end = s + len;
	f0 = (uint32_t)(s / fsz);
	f1 = (uint32_t)((end - 1) / fsz);
	fl = (uint32_t)((e->data_off + e->size - 1) / fsz);	/* file's last */
	if (!window && ocb_archive_info(a)->nrefs &&
	    e->data_off / fsz == fl) {
		r = read_small(fc, a, aid, s, len, fn, arg);
		if (r <= 0)
			return r < 0 ? r : (ssize_t)len;
	}
	pthread_mutex_lock(&fc->lock);
	run = ra_run(fc);
	par = (uint32_t)ra_parallel(fc);
	pthread_mutex_unlock(&fc->lock);
	/* far from the store the window counts in requests, not frames: a
	 * frame at a time would take several round trips to open up */
	if (par > RA_NEAR && window)
		window = window > RA_MAX / run ? RA_MAX : window * run;
	if (window > run * par)
		window = run * par;
	ra_end = f1 + window > fl ? fl : f1 + window;
	owned = calloc((size_t)(ra_end - f0) + 1, sizeof(*owned));
	pin = calloc((size_t)(f1 - f0) + 1, sizeof(*pin));
	iov = calloc((size_t)(f1 - f0) + 1, sizeof(*iov));
	if (!owned || !pin || !iov) {
		r = -ENOMEM;
		goto out;
	}

	for (attempt = 0; attempt < 2; attempt++) {
		int failed = 0;

		pthread_mutex_lock(&fc->lock);
		ra_end = ra_extent(fc, aid, fsz, f1, fl, ra_end, window, run);
		r = claim(fc, aid, (uint32_t)fsz, f0, f1, ra_end, pin, owned,
			  &nowned, &fetch);
		pthread_mutex_unlock(&fc->lock);
		if (r == 0)
			r = fetch_claims(fc, a, aid, fetch, f1, owned, nowned,
					 run);

		/* wait for every needed frame; pinned, they stay */
		pthread_mutex_lock(&fc->lock);
		for (i = 0; r == 0 && i <= f1 - f0 && pin[i]; i++) {
			r = wait_ready(fc, pin[i]);
			if (r == 0 && pin[i]->state == FAILED)
				failed = pin[i]->err;
		}
		pthread_mutex_unlock(&fc->lock);
		/* a fetch that failed for the store (its retries spent until
		 * the deadline) or for the data is this read's answer too:
		 * fetching again would double the documented wait */
		if (r < 0 || !failed ||
		    (failed != -ECANCELED && failed != -ENOMEM)) {
			r = r < 0 ? r : failed;
			break;
		}
		/* someone else's fetch was cancelled or lacked memory:
		 * unpin and fetch it ourselves, once */
		r = failed;
		pthread_mutex_lock(&fc->lock);
		for (i = 0; i <= f1 - f0 && pin[i]; i++) {
			unref(fc, pin[i]);
			pin[i] = NULL;
		}
		pthread_mutex_unlock(&fc->lock);
		window = 0;
		ra_end = f1;
	}
	if (r < 0)
		goto out;

	r = iov_of(pin, f0, fsz, s, end, iov);
	if (r >= 0)
		r = fn(arg, iov, r);
out:
	if (pin)
		unpin_read(fc, pin, f1 - f0 + 1);
	free(iov);
	free(pin);
	free(owned);
	return r < 0 ? r : (ssize_t)len;
}

void ocb_frame_cache_forget(struct ocb_frame_cache *fc, uint64_t aid)
{
	size_t i;
	int busy;

	pthread_mutex_lock(&fc->lock);
	drop_jobs(fc, aid, -ECANCELED);
	pthread_cond_broadcast(&fc->cond);
	do {	/* a worker may still be reading from this archive */
		busy = 0;
		for (i = 0; i < RA_WORKERS; i++)
			busy |= aid && fc->running_aid[i] == aid;
		if (busy)
			pthread_cond_wait(&fc->cond, &fc->lock);
	} while (busy);
	for (i = 0; i < NBUCKETS; i++) {
		struct fent *e = fc->table[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			if (e->aid == aid && e->state == READY)
				drop(fc, e);
		}
	}
	pthread_mutex_unlock(&fc->lock);
}

void ocb_frame_cache_stats(struct ocb_frame_cache *fc, struct ocb_buf *out)
{
	uint64_t rtt, rate;
	uint32_t run;

	ocb_link_est_get(fc->link, &rtt, &rate);
	pthread_mutex_lock(&fc->lock);
	run = ra_run(fc);
	ocb_buf_printf(out,
		       "cache_ram_bytes %zu\n"
		       "cache_ram_limit %zu\n"
		       "cache_ram_peak_bytes %zu\n"
		       "cache_ram_readahead_bytes %zu\n"
		       "cache_frame_hits %" PRIu64 "\n"
		       "cache_frame_misses %" PRIu64 "\n"
		       "cache_frames_fetched %" PRIu64 "\n"
		       "cache_frames_readahead %" PRIu64 "\n"
		       "cache_fetch_requests %" PRIu64 "\n"
		       "cache_bytes_decoded %" PRIu64 "\n"
		       "cache_waits %" PRIu64 "\n"
		       "cache_wait_timeouts %" PRIu64 "\n"
		       "cache_evictions %" PRIu64 "\n"
		       "cache_readahead_unused_evicted %" PRIu64 "\n"
		       "cache_fetch_failures %" PRIu64 "\n"
		       "cache_link_rtt_us %" PRIu64 "\n"
		       "cache_link_bytes_per_s %" PRIu64 "\n"
		       "cache_readahead_run_frames %u\n"
		       "cache_buffers_reused %" PRIu64 "\n",
		       fc->bytes, fc->max, fc->peak, fc->ra_bytes, fc->hits,
		       fc->misses,
		       fc->fetched, fc->readahead, fc->requests, fc->decoded,
		       fc->waits, fc->timeouts, fc->evicted,
		       fc->ra_unused_evicted, fc->failures, rtt, rate, run,
		       fc->pool_reused);
	pthread_mutex_unlock(&fc->lock);
	ocb_phys_cache_stats(fc->phys, out);
}

struct ocb_phys_cache *ocb_frame_cache_phys(struct ocb_frame_cache *fc)
{
	return fc->phys;
}
