/*
 * retry.c - whether and when to try a failed operation again (retry.h).
 */
#include "retry.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

uint64_t ocb_retry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ocb_retry_is_transient(int err)
{
	switch (err) {
	case -EAGAIN:
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
		return 1;
	default:
		return 0;
	}
}

unsigned ocb_retry_delay_ms(int attempt, unsigned base_ms, unsigned cap_ms,
			    uint32_t rnd)
{
	uint64_t ceiling = base_ms;
	int i;

	for (i = 1; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	return (unsigned)(((uint64_t)rnd * (ceiling + 1)) >> 32);
}

void ocb_retry_opts_fill(struct ocb_retry_opts *o)
{
	if (!o->base_ms)
		o->base_ms = 100;
	if (!o->cap_ms)
		o->cap_ms = 5000;
	if (!o->deadline_ms)
		o->deadline_ms = 60000;
	if (!o->refused_ms)
		o->refused_ms = 20000;
}

void ocb_retry_start(struct ocb_retry *t, const struct ocb_retry_opts *o)
{
	static const struct ocb_retry_opts none;

	t->o = o ? *o : none;
	ocb_retry_opts_fill(&t->o);
	t->n = 0;
	t->start = ocb_retry_now_ms();
	t->refused = true;
}

bool ocb_retry_refused_bound(const struct ocb_retry *t)
{
	return t->refused && t->o.refused_ms < t->o.deadline_ms;
}

uint64_t ocb_retry_end_ms(const struct ocb_retry *t)
{
	return t->start + (ocb_retry_refused_bound(t) ? t->o.refused_ms :
			   t->o.deadline_ms);
}

static uint32_t jitter(const struct ocb_retry *t)
{
	uint32_t v = 0;

	if (t->o.random)
		return t->o.random(t->o.random_arg);
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)ocb_retry_now_ms() * 2654435761u;
	return v;
}

long ocb_retry_failed(struct ocb_retry *t, int err)
{
	unsigned delay;

	t->n++;
	if (err != -ECONNREFUSED)
		t->refused = false;
	if (!ocb_retry_is_transient(err) ||
	    (t->o.max_attempts > 0 && t->n >= t->o.max_attempts))
		return -1;
	delay = ocb_retry_delay_ms(t->n, t->o.base_ms, t->o.cap_ms, jitter(t));
	if (ocb_retry_now_ms() + delay >= ocb_retry_end_ms(t))
		return -1;
	return delay;
}

void ocb_retry_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
