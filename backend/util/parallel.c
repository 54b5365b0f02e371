/*
 * parallel.c - a bounded pool for independent calls (parallel.h).  The
 * threads take the next index from one atomic counter, so no queue and no
 * lock; the calling thread works too.
 */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>

#define PARALLEL_MAX 16

struct run {
	size_t n;
	atomic_size_t next;
	ocb_parallel_fn fn;
	void *arg;
	const volatile int *cancel;
};

static void *work(void *p)
{
	struct run *r = p;
	size_t i;

	while (!(r->cancel && *r->cancel) &&
	       (i = atomic_fetch_add(&r->next, 1)) < r->n)
		r->fn(r->arg, i);
	return NULL;
}

void ocb_parallel_for(size_t n, unsigned workers, ocb_parallel_fn fn,
		      void *arg, const volatile int *cancel)
{
	struct run r = { .n = n, .fn = fn, .arg = arg, .cancel = cancel };
	pthread_t th[PARALLEL_MAX];
	unsigned k, started = 0;

	atomic_init(&r.next, 0);
	if (workers > PARALLEL_MAX)
		workers = PARALLEL_MAX;
	/* the calling thread is one of the workers */
	for (k = 1; k < workers && k < n; k++)
		if (pthread_create(&th[started], NULL, work, &r) == 0)
			started++;
	work(&r);
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
}
