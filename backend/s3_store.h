/*
 * s3_store.h - the S3 store: struct ocb_store over libcurl with SigV4.
 *
 * Talks to AWS S3 and S3-compatible servers (Ceph RGW, MinIO, R2).  Maps
 * HTTP status and CURLcode to the store error convention (store.h) in one
 * place; logs the S3 error code and request id of failures.  Thread-safe:
 * a pool of curl easy handles keeps connections alive across requests.
 */
#ifndef OCB_S3_STORE_H
#define OCB_S3_STORE_H

#include "store.h"

struct ocb_creds;

enum ocb_s3_addressing {
	OCB_S3_ADDR_AUTO = 0,	/* path-style for IP/localhost endpoints, else vhost */
	OCB_S3_ADDR_PATH,
	OCB_S3_ADDR_VHOST,
};

struct ocb_s3_opts {
	const char *bucket;	/* required */
	const char *region;	/* NULL: "us-east-1" */
	/* "http(s)://host[:port]"; NULL: https://s3.<region>.amazonaws.com */
	const char *endpoint;
	enum ocb_s3_addressing addressing;
	int insecure_tls;	/* 1: do not verify TLS certificates (warns) */
	long connect_timeout_ms;	/* 0: 5000 */
	/* a transfer making less than 1 KiB/s progress for this long is
	 * aborted with -ETIMEDOUT; 0: 30000 */
	long stall_timeout_ms;
	int max_handles;	/* connections kept in the pool; 0: 16 */
};

/*
 * Create an S3 store.  Takes ownership of creds (freed with the store, also
 * on failure).  Does no network I/O.  Returns 0 or -EINVAL (bad options,
 * message logged), -ENOMEM.
 */
int ocb_s3_store_new(const struct ocb_s3_opts *opts, struct ocb_creds *creds,
		     struct ocb_store **out);

/* Create the bucket (0 also if it exists and is ours). */
int ocb_s3_create_bucket(struct ocb_store *s);

#endif
