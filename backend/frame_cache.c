/*
 * frame_cache.c - decrypted frames in RAM, LRU by bytes, with in-flight
 * de-duplication and sequential read-ahead.
 *
 * One mutex guards the table and the LRU list; it is never held across a
 * fetch.  A reader that needs a frame someone else is fetching waits on
 * the condition variable.
 */
#include "frame_cache.h"
#include "buf.h"
#include "ocb_archive.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096
#define RA_MAX 16		/* read-ahead window cap, in frames */
#define RUN_MAX 32		/* frames per range request */

enum { LOADING, READY };

struct fent {
	uint64_t aid;
	uint32_t frame;
	int state;
	uint8_t *data;
	uint32_t len;
	struct fent *hnext;
	struct fent *lprev, *lnext;	/* LRU, READY entries only */
};

struct ra_job {
	struct ra_job *next;
	struct ocb_archive *a;
	uint64_t aid;
	uint32_t first, n;
};

#define RA_WORKERS 2
#define RA_RUN 4		/* frames per read-ahead request */
#define RA_QUEUE_MAX 16

struct ocb_frame_cache {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* read-ahead: jobs fetched by worker threads */
	struct ra_job *jobs;
	unsigned njobs;
	uint64_t running_aid[RA_WORKERS];
	pthread_t workers[RA_WORKERS];
	int nworkers;
	int stopping;
	pthread_cond_t job_cond;
	struct fent *table[NBUCKETS];
	struct fent lru;		/* sentinel: lnext = most recent */
	size_t bytes, max;
	uint64_t hits, misses, fetched, readahead, requests, waits, evicted;
	uint64_t failures;
};

static size_t bucket(uint64_t aid, uint32_t frame)
{
	return (size_t)(((aid * 0x9E3779B97F4A7C15ull) ^ frame) % NBUCKETS);
}

int ocb_frame_cache_new(size_t ram_bytes, struct ocb_frame_cache **out)
{
	struct ocb_frame_cache *fc = calloc(1, sizeof(*fc));

	if (!fc)
		return -ENOMEM;
	pthread_mutex_init(&fc->lock, NULL);
	pthread_cond_init(&fc->cond, NULL);
	pthread_cond_init(&fc->job_cond, NULL);
	fc->lru.lnext = fc->lru.lprev = &fc->lru;
	fc->max = ram_bytes < (8u << 20) ? (8u << 20) : ram_bytes;
	*out = fc;
	return 0;
}

static int fetch_run(struct ocb_frame_cache *fc, struct ocb_archive *a,
		     uint64_t aid, uint32_t first, uint32_t n);

struct worker_arg {
	struct ocb_frame_cache *fc;
	int slot;
};

static void *ra_worker(void *arg)
{
	struct ocb_frame_cache *fc = ((struct worker_arg *)arg)->fc;
	int slot = ((struct worker_arg *)arg)->slot;

	free(arg);
	pthread_mutex_lock(&fc->lock);
	for (;;) {
		struct ra_job *j;

		while (!fc->jobs && !fc->stopping)
			pthread_cond_wait(&fc->job_cond, &fc->lock);
		if (!fc->jobs)
			break;
		j = fc->jobs;
		fc->jobs = j->next;
		fc->njobs--;
		fc->running_aid[slot] = j->aid;
		pthread_mutex_unlock(&fc->lock);
		fetch_run(fc, j->a, j->aid, j->first, j->n);
		free(j);
		pthread_mutex_lock(&fc->lock);
		fc->running_aid[slot] = 0;
		pthread_cond_broadcast(&fc->cond);
	}
	pthread_mutex_unlock(&fc->lock);
	return NULL;
}

/* queue a read-ahead run (lock held); 0, or -EBUSY when the queue is full */
static int ra_queue(struct ocb_frame_cache *fc, struct ocb_archive *a,
		    uint64_t aid, uint32_t first, uint32_t n)
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
	j->first = first;
	j->n = n;
	for (pp = &fc->jobs; *pp; pp = &(*pp)->next)
		;
	*pp = j;
	fc->njobs++;
	pthread_cond_signal(&fc->job_cond);
	return 0;
}

static void lru_unlink(struct fent *e)
{
	if (e->lnext) {
		e->lnext->lprev = e->lprev;
		e->lprev->lnext = e->lnext;
		e->lnext = e->lprev = NULL;
	}
}

static void lru_push(struct ocb_frame_cache *fc, struct fent *e)
{
	e->lnext = fc->lru.lnext;
	e->lprev = &fc->lru;
	fc->lru.lnext->lprev = e;
	fc->lru.lnext = e;
}

static struct fent *find(struct ocb_frame_cache *fc, uint64_t aid,
			 uint32_t frame)
{
	struct fent *e;

	for (e = fc->table[bucket(aid, frame)]; e; e = e->hnext)
		if (e->aid == aid && e->frame == frame)
			return e;
	return NULL;
}

static void unhash(struct ocb_frame_cache *fc, struct fent *e)
{
	struct fent **pp = &fc->table[bucket(e->aid, e->frame)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

static void drop(struct ocb_frame_cache *fc, struct fent *e)
{
	unhash(fc, e);
	lru_unlink(e);
	if (e->state == READY)
		fc->bytes -= e->len;
	free(e->data);
	free(e);
}

/* evict least recently used unreferenced frames down to the bound */
static void evict(struct ocb_frame_cache *fc)
{
	struct fent *e = fc->lru.lprev;

	while (fc->bytes > fc->max && e != &fc->lru) {
		struct fent *prev = e->lprev;

		drop(fc, e);
		fc->evicted++;
		e = prev;
	}
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
			free(e->data);
			free(e);
		}
	}
	pthread_mutex_destroy(&fc->lock);
	pthread_cond_destroy(&fc->cond);
	free(fc);
}

struct fill {
	struct ocb_frame_cache *fc;
	uint64_t aid;
};

/* a fetched frame: copy it into its LOADING entry, make it READY */
static int fill_cb(void *arg, uint32_t frame, const void *data, size_t len)
{
	struct fill *f = arg;
	uint8_t *copy = malloc(len ? len : 1);
	struct fent *e;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	pthread_mutex_lock(&f->fc->lock);
	e = find(f->fc, f->aid, frame);
	if (e && e->state == LOADING) {
		e->data = copy;
		e->len = (uint32_t)len;
		e->state = READY;
		f->fc->bytes += len;
		f->fc->fetched++;
		lru_push(f->fc, e);
		copy = NULL;
	}
	pthread_cond_broadcast(&f->fc->cond);
	pthread_mutex_unlock(&f->fc->lock);
	free(copy);
	return 0;
}

/* fetch frames [first, first + n), all marked LOADING by us */
static int fetch_run(struct ocb_frame_cache *fc, struct ocb_archive *a,
		     uint64_t aid, uint32_t first, uint32_t n)
{
	struct fill f = { fc, aid };
	uint32_t i;
	int r;

	r = ocb_archive_read_frames(a, first, n, fill_cb, &f);
	pthread_mutex_lock(&fc->lock);
	fc->requests++;
	/* whatever is still LOADING failed: remove it, wake the waiters */
	for (i = first; i < first + n; i++) {
		struct fent *e = find(fc, aid, i);

		if (e && e->state == LOADING) {
			if (r == 0)
				r = -EIO;
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

/* copy [pos, end) of the stream from cached frames f0..f1 into o; the lock
 * is held; waits for frames others are fetching.  Returns bytes copied,
 * or -EAGAIN when a frame vanished (its fetch failed, or it was evicted). */
static ssize_t copy_out(struct ocb_frame_cache *fc, uint64_t aid,
			uint64_t fsz, uint64_t pos, uint64_t end, uint8_t *o)
{
	uint64_t start = pos;

	while (pos < end) {
		uint32_t i = (uint32_t)(pos / fsz);
		uint64_t fstart = (uint64_t)i * fsz, stop;
		struct fent *x;

		for (;;) {
			x = find(fc, aid, i);
			if (!x || x->state == READY)
				break;
			fc->waits++;
			pthread_cond_wait(&fc->cond, &fc->lock);
		}
		if (!x)
			return -EAGAIN;
		stop = end < fstart + x->len ? end : fstart + x->len;
		if (stop <= pos)
			return -EIO;	/* frame shorter than the catalog says */
		memcpy(o, x->data + (pos - fstart), stop - pos);
		o += stop - pos;
		pos = stop;
		lru_unlink(x);
		lru_push(fc, x);
	}
	return (ssize_t)(pos - start);
}

ssize_t ocb_frame_cache_pread(struct ocb_frame_cache *fc,
			      struct ocb_archive *a, uint64_t aid,
			      uint32_t idx, void *buf, size_t len,
			      uint64_t off, struct ocb_read_state *rs)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	const struct ocb_archive_info *info = ocb_archive_info(a);
	uint64_t fsz, s, end;
	uint32_t f0, f1, fl, ra_end, i, window, *owned = NULL, nowned = 0;
	int attempt, r = 0;
	ssize_t n = 0;

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

	/* sequential: grow the window; anything else: no read-ahead */
	if (rs && off == rs->next_off && off != 0)
		window = rs->window ? (rs->window * 2 > RA_MAX ? RA_MAX :
				       rs->window * 2) : 2;
	else
		window = 0;
	if (rs) {
		rs->window = window;
		rs->next_off = off + len;
	}
	ra_end = f1 + window > fl ? fl : f1 + window;
	owned = calloc((size_t)(ra_end - f0) + 1, sizeof(*owned));
	if (!owned)
		return -ENOMEM;

	for (attempt = 0; attempt < 3; attempt++) {
		/* claim what is missing: needed frames and read-ahead; read
		 * ahead only once enough is missing to make a worthwhile
		 * request, so each read-ahead fetch moves several frames */
		nowned = 0;
		pthread_mutex_lock(&fc->lock);
		if (ra_end > f1) {
			uint32_t missing = 0;

			for (i = f1 + 1; i <= ra_end; i++)
				missing += find(fc, aid, i) == NULL;
			if (missing < (window / 2 < RA_RUN ? window / 2 : RA_RUN) &&
			    i <= fl)
				ra_end = f1;
		}
		for (i = f0; i <= ra_end; i++) {
			struct fent *x = find(fc, aid, i);

			if (x) {
				if (i <= f1 && x->state == READY)
					fc->hits++;
				continue;
			}
			x = calloc(1, sizeof(*x));
			if (!x)
				break;
			x->aid = aid;
			x->frame = i;
			x->state = LOADING;
			x->hnext = fc->table[bucket(aid, i)];
			fc->table[bucket(aid, i)] = x;
			owned[nowned++] = i;
			if (i <= f1)
				fc->misses++;
			else
				fc->readahead++;
		}
		pthread_mutex_unlock(&fc->lock);

		/* fetch our claims, adjacent frames in one request each;
		 * runs past what this read needs go to the read-ahead workers,
		 * so several requests are in flight and decoding runs on both
		 * cores while this read is answered */
		for (i = 0; i < nowned;) {
			uint32_t j = i + 1;
			int fr, queued = 0;

			while (j < nowned && owned[j] == owned[j - 1] + 1 &&
			       j - i < (owned[i] > f1 ? RA_RUN : RUN_MAX) &&
			       (owned[j] > f1) == (owned[i] > f1))
				j++;
			if (owned[i] > f1) {
				pthread_mutex_lock(&fc->lock);
				queued = ra_queue(fc, a, aid, owned[i], j - i) == 0;
				pthread_mutex_unlock(&fc->lock);
			}
			if (queued) {
				i = j;
				continue;
			}
			fr = fetch_run(fc, a, aid, owned[i], j - i);
			if (fr < 0 && owned[i] <= f1 && r == 0)
				r = fr;
			i = j;
		}
		if (r < 0)
			break;
		pthread_mutex_lock(&fc->lock);
		n = copy_out(fc, aid, fsz, s, end, buf);
		pthread_mutex_unlock(&fc->lock);
		if (n != -EAGAIN)
			break;
		window = 0;	/* evicted under pressure: fetch just what we need */
		ra_end = f1;
	}
	free(owned);
	if (r < 0)
		return r;
	if (n == -EAGAIN)
		return -EIO;
	return n < 0 ? n : (ssize_t)len;
}

void ocb_frame_cache_forget(struct ocb_frame_cache *fc, uint64_t aid)
{
	struct ra_job **pp;
	size_t i;
	int busy;

	pthread_mutex_lock(&fc->lock);
	for (pp = &fc->jobs; *pp;) {
		struct ra_job *j = *pp;

		if (j->aid == aid) {
			uint32_t k;

			*pp = j->next;
			fc->njobs--;
			for (k = j->first; k < j->first + j->n; k++) {
				struct fent *e = find(fc, aid, k);

				if (e && e->state == LOADING)
					drop(fc, e);
			}
			free(j);
		} else {
			pp = &j->next;
		}
	}
	pthread_cond_broadcast(&fc->cond);
	do {	/* a worker may still be reading from this archive */
		busy = 0;
		for (i = 0; i < RA_WORKERS; i++)
			busy |= fc->running_aid[i] == aid;
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
	pthread_mutex_lock(&fc->lock);
	ocb_buf_printf(out,
		       "cache_ram_bytes %zu\n"
		       "cache_ram_limit %zu\n"
		       "cache_frame_hits %" PRIu64 "\n"
		       "cache_frame_misses %" PRIu64 "\n"
		       "cache_frames_fetched %" PRIu64 "\n"
		       "cache_frames_readahead %" PRIu64 "\n"
		       "cache_fetch_requests %" PRIu64 "\n"
		       "cache_waits %" PRIu64 "\n"
		       "cache_evictions %" PRIu64 "\n"
		       "cache_fetch_failures %" PRIu64 "\n",
		       fc->bytes, fc->max, fc->hits, fc->misses, fc->fetched,
		       fc->readahead, fc->requests, fc->waits, fc->evicted,
		       fc->failures);
	pthread_mutex_unlock(&fc->lock);
}
