/*
 * multipart.c - the multipart uploader (a streaming writer): single put or multipart, bounded memory.
 *
 * The caller fills one part buffer; a full buffer becomes a job that one of
 * max_inflight worker threads uploads while the caller fills the next.  So
 * compression (the caller) and upload overlap, and memory is at most
 * (max_inflight + 1) part buffers: a buffer is the one being filled, a job
 * (queued or uploading, at most max_inflight), or a spare kept for reuse.
 *
 * A full buffer is handed over only when the next byte arrives, so an
 * object of exactly one part is still a single put.
 *
 * S3 allows 10000 parts, all but the last at least 5 MiB.  The total size
 * is not known in advance, so the part size doubles after every 1000 parts
 * (up to 512 MiB): 8 MiB parts reach about 2.5 TB.  Buffers of the old
 * size are freed, never reused for the new size.
 */
#include "multipart.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MiB ((size_t)1024 * 1024)
#define MAX_PARTS 10000
#define GROW_EVERY 1000
#define PART_SIZE_MAX (512 * MiB)

struct job {
	struct job *next;
	int no;
	char *data;
	size_t len;
	size_t cap;		/* allocated size of data */
};

struct ocb_multipart {
	struct ocb_store *s;
	char *key;
	struct ocb_put_opts put;
	int max_inflight;

	/* used by the caller's thread only */
	char *cur;		/* the part being filled */
	size_t cur_len;
	size_t cur_cap;
	uint64_t offset;
	int next_no;
	char *upload_id;	/* set once multipart started */
	int committed;
	pthread_t *threads;
	int nthreads;

	/* shared with the workers, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t part_size;	/* written by the caller under lock */
	struct job *queue, **queue_tail;
	int queued;		/* jobs queued or uploading */
	char **spare;		/* recycled buffers of part_size bytes */
	int nspare;
	struct ocb_part *parts;	/* indexed by no - 1 */
	int err;		/* first error, sticky */
	int stopping;
};

static void set_err(struct ocb_multipart *w, int err)
{
	pthread_mutex_lock(&w->lock);
	if (!w->err)
		w->err = err;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int get_err(struct ocb_multipart *w)
{
	int err;

	pthread_mutex_lock(&w->lock);
	err = w->err;
	pthread_mutex_unlock(&w->lock);
	return err;
}

/* with lock held: keep a finished job's buffer for reuse, or free it */
static void recycle(struct ocb_multipart *w, char *data, size_t cap)
{
	if (cap == w->part_size && w->nspare < w->max_inflight + 1)
		w->spare[w->nspare++] = data;
	else
		free(data);
}

static void *worker(void *arg)
{
	struct ocb_multipart *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *j;
		char etag[OCB_ETAG_MAX];
		int r;

		while (!w->queue && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->queue)
			break;
		j = w->queue;
		w->queue = j->next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		r = w->err;	/* after an error, only drain the queue */
		pthread_mutex_unlock(&w->lock);

		if (r == 0)
			r = w->s->ops->mpu_part(w->s, w->key, w->upload_id,
						j->no, j->data, j->len, etag);

		pthread_mutex_lock(&w->lock);
		if (r < 0 && !w->err)
			w->err = r;
		if (r == 0) {
			w->parts[j->no - 1].no = j->no;
			memcpy(w->parts[j->no - 1].etag, etag, sizeof(etag));
		}
		recycle(w, j->data, j->cap);
		free(j);
		w->queued--;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int ocb_multipart_new(struct ocb_store *s, const char *key,
		   const struct ocb_put_opts *put,
		   const struct ocb_multipart_opts *wo, struct ocb_multipart **out)
{
	struct ocb_multipart *w;

	if (!s || !key || !*key)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->s = s;
	w->key = strdup(key);
	if (put)
		w->put = *put;
	/* the caller's part size is taken as given: S3 refuses parts under
	 * 5 MiB at complete, the local store takes any size (tests) */
	w->part_size = wo && wo->part_size ? wo->part_size : 8 * MiB;
	w->max_inflight = wo && wo->max_inflight > 0 ? wo->max_inflight : 2;
	w->next_no = 1;
	w->queue_tail = &w->queue;
	w->spare = calloc((size_t)w->max_inflight + 1, sizeof(char *));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (!w->key || !w->spare) {
		ocb_multipart_free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

static int start_multipart(struct ocb_multipart *w)
{
	int i, r;

	w->parts = calloc(MAX_PARTS, sizeof(*w->parts));
	w->threads = calloc((size_t)w->max_inflight, sizeof(pthread_t));
	if (!w->parts || !w->threads)
		return -ENOMEM;
	r = w->s->ops->mpu_create(w->s, w->key, &w->put, &w->upload_id);
	if (r < 0)
		return r;
	for (i = 0; i < w->max_inflight; i++) {
		if (pthread_create(&w->threads[i], NULL, worker, w) != 0)
			return -EAGAIN;
		w->nthreads++;
	}
	return 0;
}

/* hand the current buffer to the workers; waits while too many queued */
static int submit_part(struct ocb_multipart *w)
{
	struct job *j;
	int r;

	if (!w->upload_id) {
		r = start_multipart(w);
		if (r < 0)
			return r;
	}
	if (w->next_no > MAX_PARTS)
		return -EFBIG;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->no = w->next_no++;
	j->data = w->cur;
	j->len = w->cur_len;
	j->cap = w->cur_cap;
	w->cur = NULL;
	w->cur_len = 0;
	w->cur_cap = 0;

	pthread_mutex_lock(&w->lock);
	while (w->queued >= w->max_inflight && !w->err)
		pthread_cond_wait(&w->cond, &w->lock);
	r = w->err;
	if (r) {
		pthread_mutex_unlock(&w->lock);
		free(j->data);
		free(j);
		return r;
	}
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	w->queued++;
	if (j->no % GROW_EVERY == 0 && w->part_size < PART_SIZE_MAX) {
		/* 10000 parts of this size might not be enough */
		w->part_size *= 2;
		while (w->nspare)
			free(w->spare[--w->nspare]);
	}
	if (w->nspare) {
		w->cur = w->spare[--w->nspare];
		w->cur_cap = w->part_size;
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void stop_workers(struct ocb_multipart *w)
{
	int i;

	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->nthreads = 0;
}

static void abort_upload(struct ocb_multipart *w)
{
	char esc[256];
	int r;

	if (!w->upload_id || w->committed)
		return;
	r = w->s->ops->mpu_abort(w->s, w->key, w->upload_id);
	if (r < 0)
		ocb_warn("could not abort the upload of %s (%s); `ocb prune` "
			 "removes it later",
			 ocb_log_escape(esc, sizeof(esc), w->key),
			 ocb_store_strerror(r));
	free(w->upload_id);
	w->upload_id = NULL;
}

/* after an error: stop, abort, and return the first error */
static int give_up(struct ocb_multipart *w, int err)
{
	set_err(w, err);
	stop_workers(w);
	abort_upload(w);
	return get_err(w);
}

int ocb_multipart_write(struct ocb_multipart *w, const void *p, size_t n)
{
	const char *c = p;
	int r = get_err(w);

	if (r)
		return give_up(w, r);
	if (w->committed)
		return -EINVAL;
	while (n) {
		size_t room;

		if (w->cur && w->cur_len == w->cur_cap) {
			/* full, and more bytes follow: not a single put */
			r = submit_part(w);
			if (r < 0)
				return give_up(w, r);
		}
		if (!w->cur) {
			/* part_size changes only in this thread */
			w->cur = malloc(w->part_size);
			if (!w->cur)
				return give_up(w, -ENOMEM);
			w->cur_cap = w->part_size;
		}
		room = w->cur_cap - w->cur_len;
		if (room > n)
			room = n;
		memcpy(w->cur + w->cur_len, c, room);
		w->cur_len += room;
		w->offset += room;
		c += room;
		n -= room;
	}
	return 0;
}

uint64_t ocb_multipart_offset(const struct ocb_multipart *w)
{
	return w->offset;
}

int ocb_multipart_commit(struct ocb_multipart *w)
{
	int r = get_err(w);

	if (r)
		return give_up(w, r);
	if (w->committed)
		return -EINVAL;
	if (!w->upload_id) {
		r = ocb_store_put_mem(w->s, w->key, w->cur ? w->cur : "",
				      w->cur_len, &w->put);
		if (r < 0)
			goto fail;
		w->committed = 1;
		return 0;
	}
	if (w->cur_len) {
		r = submit_part(w);
		if (r < 0)
			goto fail;
	}
	pthread_mutex_lock(&w->lock);
	while (w->queued && !w->err)
		pthread_cond_wait(&w->cond, &w->lock);
	r = w->err;
	pthread_mutex_unlock(&w->lock);
	if (r)
		goto fail;
	stop_workers(w);
	/* every part is stored: the buffers are not needed any more */
	while (w->nspare)
		free(w->spare[--w->nspare]);
	/* create-only: completion is unconditional on most servers, so a
	 * key that appeared meanwhile is refused here (docs/FORMAT.md,
	 * "Create-only writes") */
	if (w->put.if_none_match) {
		struct ocb_obj_head h = { 0 };

		r = w->s->ops->head(w->s, w->key, &h);
		ocb_obj_head_release(&h);
		if (r == 0)
			r = -EEXIST;
		else if (r == -ENOENT)
			r = 0;
		if (r < 0)
			goto fail;
	}
	r = w->s->ops->mpu_complete(w->s, w->key, w->upload_id, w->parts,
				    (size_t)(w->next_no - 1));
	if (r < 0)
		goto fail;
	w->committed = 1;
	return 0;
fail:
	return give_up(w, r);
}

void ocb_multipart_free(struct ocb_multipart *w)
{
	struct job *j;

	if (!w)
		return;
	if (!w->committed)
		set_err(w, -ECANCELED);
	stop_workers(w);
	abort_upload(w);
	while ((j = w->queue) != NULL) {
		w->queue = j->next;
		free(j->data);
		free(j);
	}
	while (w->nspare)
		free(w->spare[--w->nspare]);
	free(w->spare);
	free(w->cur);
	free(w->parts);
	free(w->threads);
	free(w->upload_id);
	free(w->key);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
