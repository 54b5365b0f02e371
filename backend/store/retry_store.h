/*
 * retry_store.h - the retry layer: a store that wraps an inner store and
 * retries its transient failures by the policy of retry.h (options
 * struct ocb_retry_opts), a deadline per operation; an attempt itself
 * ends within the inner store's timeouts.  Once an operation failed for
 * good after a whole deadline, the next ones make a single attempt until
 * one reaches the store (an outage is not waited out again and again).
 * Never retries anything else.  An interrupted get resumes where it
 * stopped (If-Match the first attempt's etag), so its sink never sees a
 * byte twice.  After the last attempt -EAGAIN and -ECONNRESET become -EIO.
 * Counts requests (attempts), retries, failures and bytes for the stats
 * hook: lines "retry_requests N", "retry_retries N", "retry_failures N",
 * "retry_bytes_in N", "retry_bytes_out N", then the inner store's lines.
 */
#ifndef OCB_RETRY_STORE_H
#define OCB_RETRY_STORE_H

#include "retry.h"
#include "store.h"

/* Wrap inner (owned from now on, also on failure). */
int ocb_retry_store_new(struct ocb_store *inner,
			const struct ocb_retry_opts *o, struct ocb_store **out);

#endif
