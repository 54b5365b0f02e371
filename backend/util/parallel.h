/*
 * parallel.h - run one function over the indexes [0, n) on a few threads:
 * for opening many backups at once, where each open is two round trips
 * to the store and a serial loop waits on the network n times.
 */
#ifndef OCB_PARALLEL_H
#define OCB_PARALLEL_H

#include <stddef.h>

/* Called once per index, from any of the threads; writes only its own
 * result (slot i of the caller's array). */
typedef void (*ocb_parallel_fn)(void *arg, size_t i);

/*
 * fn(arg, i) for every i in [0, n), at most `workers` at a time (1: in
 * the calling thread, in order).  Returns when every call has returned.
 * When *cancel (may be NULL) becomes non-zero, the indexes not started
 * yet are skipped: the caller tells a skipped one by its untouched slot.
 * Never fails: when no thread can be started the calling thread does all.
 */
void ocb_parallel_for(size_t n, unsigned workers, ocb_parallel_fn fn,
		      void *arg, const volatile int *cancel);

#endif
