/*
 * restore_pool.c - worker threads writing small restored files
 * (restore_pool_i.h).
 */
#include "restore_pool_i.h"
#include "fileio.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#define MAX_WORKERS 16
#define JOB_OVERHEAD 512	/* counted per queued file beside its bytes */

struct job {
	struct job *next;
	char *rel;
	struct ocb_rdisk_meta m;
	struct ocb_rdisk_xattrs x;	/* m's, copied */
	uint8_t sha[32];
	int has_sha;
	void *data;
	size_t len;
};

struct ocb_rpool {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* queue changed, a job finished */
	struct job *head, *tail;
	size_t queued;		/* bytes (with overhead) queued or being
				 * written */
	size_t max_bytes;
	unsigned busy;		/* jobs being written */
	int stop;
	int err;		/* the first worker error */
	uint64_t bad;
	unsigned nth;
	pthread_t th[MAX_WORKERS];
	struct ocb_rdisk *disk[MAX_WORKERS];
};

static size_t job_cost(const struct job *j)
{
	return j->len + JOB_OVERHEAD;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	ocb_rdisk_xattrs_release(&j->x);
	free(j->rel);
	free(j->data);
	free(j);
}

/* m with its xattrs copied into j */
static int job_meta(struct job *j, const struct ocb_rdisk_meta *m)
{
	int r = ocb_rdisk_xattrs_copy(&j->x, m);

	j->m = *m;
	ocb_rdisk_xattrs_attach(&j->x, &j->m);
	return r;
}

/* one file: 0, 1 (content not matching: not written), or negative errno
 * (logged) */
static int write_job(struct ocb_rdisk *d, EVP_MD_CTX *md, struct job *j)
{
	char esc[512];
	uint8_t h[32];
	int fd, r, ok = 1;

	if (j->has_sha) {
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		EVP_DigestUpdate(md, j->data, j->len);
		EVP_DigestFinal_ex(md, h, NULL);
		ok = !memcmp(h, j->sha, 32);
	}
	if (!ok) {
		ocb_err("restore %s: content does not match the catalog's "
			"SHA-256 (not written)",
			ocb_log_escape(esc, sizeof(esc), j->rel));
		return 1;
	}
	fd = ocb_rdisk_file_begin(d, j->rel, &j->m);
	if (fd == -ELOOP) {
		ocb_err("restore %s: refused: a path through a symlink",
			ocb_log_escape(esc, sizeof(esc), j->rel));
		return -EBADMSG;
	}
	if (fd < 0) {
		ocb_err("restore %s: create: %s",
			ocb_log_escape(esc, sizeof(esc), j->rel), strerror(-fd));
		return fd;
	}
	r = ocb_fileio_write_all(fd, j->data, j->len);
	{
		int e = ocb_rdisk_file_end(d, fd, j->rel, &j->m, r == 0);

		if (r == 0)
			r = e;
	}
	if (r < 0)
		ocb_err("restore %s: write: %s",
			ocb_log_escape(esc, sizeof(esc), j->rel), strerror(-r));
	return r;
}

struct worker_arg {
	struct ocb_rpool *p;
	struct ocb_rdisk *d;
};

static void *worker(void *arg)
{
	struct ocb_rpool *p = ((struct worker_arg *)arg)->p;
	struct ocb_rdisk *d = ((struct worker_arg *)arg)->d;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job *j;
		int r;

		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->head)
			break;
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->busy++;
		pthread_mutex_unlock(&p->lock);
		r = md ? (p->err ? 0 : write_job(d, md, j)) : -ENOMEM;
		pthread_mutex_lock(&p->lock);
		if (r == 1)
			p->bad++;
		else if (r < 0 && !p->err)
			p->err = r;
		p->busy--;
		p->queued -= job_cost(j);
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		job_free(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	EVP_MD_CTX_free(md);
	return NULL;
}

int ocb_rpool_new(struct ocb_rdisk *d, unsigned workers, size_t max_bytes,
		  struct ocb_rpool **out)
{
	struct ocb_rpool *p = calloc(1, sizeof(*p));
	unsigned i;
	int r = 0;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->max_bytes = max_bytes;
	if (workers > MAX_WORKERS)
		workers = MAX_WORKERS;
	for (i = 0; i < workers && r == 0; i++) {
		struct worker_arg *w = malloc(sizeof(*w));

		r = w ? ocb_rdisk_clone(d, &p->disk[i]) : -ENOMEM;
		if (r < 0) {
			free(w);
			break;
		}
		w->p = p;
		w->d = p->disk[i];
		if (pthread_create(&p->th[i], NULL, worker, w) != 0) {
			free(w);
			ocb_rdisk_free(p->disk[i]);
			p->disk[i] = NULL;
			r = -EAGAIN;
			break;
		}
		p->nth++;
	}
	if (r < 0) {
		ocb_rpool_free(p);
		return r;
	}
	*out = p;
	return 0;
}

int ocb_rpool_put(struct ocb_rpool *p, const char *rel,
		  const struct ocb_rdisk_meta *m, const uint8_t *sha,
		  void *data, size_t len)
{
	struct job *j = calloc(1, sizeof(*j));
	int r;

	if (!j) {
		free(data);
		return -ENOMEM;
	}
	j->data = data;
	j->len = len;
	j->rel = strdup(rel);
	r = j->rel ? job_meta(j, m) : -ENOMEM;
	if (r < 0) {
		job_free(j);
		return r;
	}
	if (sha) {
		memcpy(j->sha, sha, 32);
		j->has_sha = 1;
	}
	pthread_mutex_lock(&p->lock);
	/* room for it (or nothing else queued: a file alone always fits) */
	while (!p->err && p->queued &&
	       p->queued + job_cost(j) > p->max_bytes)
		pthread_cond_wait(&p->cond, &p->lock);
	r = p->err;
	if (r == 0) {
		p->queued += job_cost(j);
		if (p->tail)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		j = NULL;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	job_free(j);
	return r;
}

int ocb_rpool_drain(struct ocb_rpool *p)
{
	int r;

	pthread_mutex_lock(&p->lock);
	while (p->head || p->busy)
		pthread_cond_wait(&p->cond, &p->lock);
	r = p->err;
	pthread_mutex_unlock(&p->lock);
	return r;
}

uint64_t ocb_rpool_bad(struct ocb_rpool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->bad;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void ocb_rpool_free(struct ocb_rpool *p)
{
	struct job *j;
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while ((j = p->head)) {	/* not written */
		p->head = j->next;
		p->queued -= job_cost(j);
		job_free(j);
	}
	p->tail = NULL;
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	for (i = 0; i < MAX_WORKERS; i++)
		ocb_rdisk_free(p->disk[i]);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
