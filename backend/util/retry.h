/*
 * retry.h - the one retry policy of ocb, by time: transient failures (the
 * list in store.h: -EAGAIN, -ETIMEDOUT, -ECONNRESET, -ECONNREFUSED,
 * -EHOSTUNREACH) are tried again after a capped exponential backoff with
 * full jitter, as long as the next attempt starts before the operation's
 * deadline; a shorter deadline holds while every attempt was refused
 * (nothing listens: a wrong endpoint, a server down).  Used by the store's
 * retry layer and by the KMS client, so that one setting (s3.retryDeadline,
 * s3.refusedDeadline) bounds every wait of a command.
 *
 * The caller runs the attempts and bounds each one itself (its timeout
 * must end by ocb_retry_end_ms()); this file says whether and when to try
 * again.
 */
#ifndef OCB_RETRY_H
#define OCB_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct ocb_retry_opts {
	int max_attempts;	/* 0: no limit but the deadline */
	unsigned base_ms;	/* 0: 100 */
	unsigned cap_ms;	/* 0: 5000 */
	unsigned deadline_ms;	/* per operation, 0: 60000 */
	/* per operation while every attempt was refused, 0: 20000; at most
	 * deadline_ms */
	unsigned refused_ms;
	/* uniformly random 32-bit values for the jitter (tests make it
	 * predictable); NULL: getrandom(2).  Called from any thread. */
	uint32_t (*random)(void *arg);
	void *random_arg;
};

/* one operation's attempts (on the caller's stack) */
struct ocb_retry {
	struct ocb_retry_opts o;	/* with the defaults filled in */
	int n;			/* failed attempts so far */
	uint64_t start;		/* ocb_retry_now_ms() at ocb_retry_start() */
	bool refused;		/* every failed attempt was refused */
};

/* Fill in the defaults of o (the zeros above). */
void ocb_retry_opts_fill(struct ocb_retry_opts *o);

/* Start an operation's clock under o (NULL: all defaults). */
void ocb_retry_start(struct ocb_retry *t, const struct ocb_retry_opts *o);

/* When the operation's retries end (ocb_retry_now_ms() scale): the
 * refused deadline while every attempt was refused, else the deadline. */
uint64_t ocb_retry_end_ms(const struct ocb_retry *t);

/* Is the shorter deadline of refused connections the one in force? */
bool ocb_retry_refused_bound(const struct ocb_retry *t);

/*
 * After a failed attempt with err: counts it and returns the delay (ms)
 * to sleep before the next attempt, or -1 when err is final: not
 * transient, max_attempts reached, or the next attempt would start at or
 * after the end.
 */
long ocb_retry_failed(struct ocb_retry *t, int err);

/* Sleep ms milliseconds (through signals). */
void ocb_retry_sleep_ms(unsigned ms);

/* CLOCK_MONOTONIC in milliseconds */
uint64_t ocb_retry_now_ms(void);

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
