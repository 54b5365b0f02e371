/*
 * link_est.c - round-trip time and per-connection throughput of the store
 * link from timed range requests (see link_est.h).
 */
#include "link_est.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define RTT_DRIFT 1024	/* per sample, the minimum rises by 1/RTT_DRIFT of the gap */
#define RATE_EWMA 8	/* throughput: moving average over ~8 requests */

struct ocb_link_est {
	pthread_mutex_t lock;
	uint64_t rtt_us;
	uint64_t rate;		/* bytes per second, one connection */
};

int ocb_link_est_new(struct ocb_link_est **out)
{
	struct ocb_link_est *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
}

void ocb_link_est_free(struct ocb_link_est *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

uint64_t ocb_link_est_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void ocb_link_est_sample(struct ocb_link_est *l, uint64_t bytes, uint64_t us)
{
	if (us == 0)
		us = 1;
	pthread_mutex_lock(&l->lock);
	if (l->rtt_us == 0 || us < l->rtt_us)
		l->rtt_us = us;
	else
		l->rtt_us += (us - l->rtt_us) / RTT_DRIFT;
	/* only requests well past the round trip say much about the rate */
	if (us > l->rtt_us + l->rtt_us / 4) {
		uint64_t r = bytes * 1000000u / (us - l->rtt_us);

		l->rate = l->rate ? l->rate - l->rate / RATE_EWMA +
			r / RATE_EWMA : r;
	}
	pthread_mutex_unlock(&l->lock);
}

void ocb_link_est_get(struct ocb_link_est *l, uint64_t *rtt_us,
		      uint64_t *bytes_per_s)
{
	pthread_mutex_lock(&l->lock);
	*rtt_us = l->rtt_us;
	*bytes_per_s = l->rate;
	pthread_mutex_unlock(&l->lock);
}

uint32_t ocb_link_est_units(struct ocb_link_est *l, uint64_t unit_bytes,
			    uint32_t lo, uint32_t hi)
{
	uint64_t rtt, rate, want;

	ocb_link_est_get(l, &rtt, &rate);
	if (!rtt || !rate || !unit_bytes)
		return lo;
	want = 2 * rate * rtt / 1000000u;	/* bytes: 2 x BDP */
	want = (want + unit_bytes - 1) / unit_bytes;
	return want < lo ? lo : want > hi ? hi : (uint32_t)want;
}
