/*
 * link_est.h - the store link as range reads see it: the round-trip time
 * of a request and the throughput of one connection, and from their
 * product (the bandwidth-delay product) the size a read-ahead request
 * should have so that its transfer, not its latency, dominates.
 *
 * Samples are whole requests (bytes, elapsed time).  The round-trip time
 * is the smallest elapsed time seen (small requests are nearly all
 * latency), drifting up slowly so that a link that got slower is
 * followed; the throughput is a moving average of bytes over the time
 * past that round trip.  Every function may be called from many threads.
 */
#ifndef OCB_LINK_EST_H
#define OCB_LINK_EST_H

#include <stdint.h>

struct ocb_link_est;

int ocb_link_est_new(struct ocb_link_est **out);
void ocb_link_est_free(struct ocb_link_est *l);

/* monotonic microseconds, for timing a request */
uint64_t ocb_link_est_now_us(void);

/* one request: bytes received over the wire in us microseconds */
void ocb_link_est_sample(struct ocb_link_est *l, uint64_t bytes, uint64_t us);

/* the estimates so far (0 when not known yet) */
void ocb_link_est_get(struct ocb_link_est *l, uint64_t *rtt_us,
		      uint64_t *bytes_per_s);

/* units (frames) of unit_bytes on the wire that one request should carry:
 * twice the bandwidth-delay product (a request then spends at most a third
 * of its time waiting for the first byte), within [lo, hi]; lo until the
 * link has been measured */
uint32_t ocb_link_est_units(struct ocb_link_est *l, uint64_t unit_bytes,
			    uint32_t lo, uint32_t hi);

#endif
