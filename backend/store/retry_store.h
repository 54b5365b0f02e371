/*
 * retry_store.h - the retry layer: a store that wraps an inner store and
 * retries its transient failures (the list in store.h: -EAGAIN,
 * -ETIMEDOUT, -ECONNRESET, -ECONNREFUSED, -EHOSTUNREACH) with capped
 * exponential backoff and full jitter, within a deadline per operation:
 * the policy is by time (an attempt is started only if its delay ends
 * before the deadline; an attempt itself ends within the inner store's
 * timeouts), with a shorter deadline while every attempt of the
 * operation was refused.
 * Never retries anything else.  An interrupted get resumes where it
 * stopped (If-Match the first attempt's etag), so its sink never sees a
 * byte twice.  After the last attempt -EAGAIN and -ECONNRESET become -EIO.
 * Counts requests (attempts), retries, failures and bytes for the stats
 * hook: lines "retry_requests N", "retry_retries N", "retry_failures N",
 * "retry_bytes_in N", "retry_bytes_out N", then the inner store's lines.
 */
#ifndef OCB_RETRY_STORE_H
#define OCB_RETRY_STORE_H

#include <stdint.h>

#include "store.h"

struct ocb_retry_opts {
	int max_attempts;	/* 0: no limit but the deadline */
	unsigned base_ms;	/* 0: 100 */
	unsigned cap_ms;	/* 0: 5000 */
	unsigned deadline_ms;	/* per operation, 0: 60000 */
	/* per operation while every attempt was refused (nothing listens:
	 * a wrong endpoint, a server down), 0: 20000; at most deadline_ms */
	unsigned refused_ms;
	/* uniformly random 32-bit values for the jitter (tests make it
	 * predictable); NULL: getrandom(2).  Called from any thread. */
	uint32_t (*random)(void *arg);
	void *random_arg;
};

/* Wrap inner (owned from now on, also on failure). */
int ocb_retry_store_new(struct ocb_store *inner,
			const struct ocb_retry_opts *o, struct ocb_store **out);

/* Is err one of the transient errors worth another attempt? */
int ocb_retry_is_transient(int err);

/*
 * Delay before attempt number attempt (1 = the first retry): a uniformly
 * random value in [0, min(cap, base * 2^(attempt-1))] ("full jitter"),
 * where rnd is a uniformly random 32-bit value.
 */
unsigned ocb_retry_delay_ms(int attempt, unsigned base_ms, unsigned cap_ms,
			    uint32_t rnd);

#endif
