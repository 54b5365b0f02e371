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
	/* path-style for IP/localhost endpoints and for bucket names that
	 * are no single DNS label (dots, upper case, '_'), else vhost */
	OCB_S3_ADDR_AUTO = 0,
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
	long connect_timeout_ms;	/* 0: 5000, or stall_timeout_ms if less */
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

/* ---- the bucket itself (s3_bucket.c) ---- */

/*
 * Create the bucket when a HEAD of it says it is missing, with a
 * LocationConstraint unless the region is us-east-1.  Returns 0 also when
 * it exists and is ours
 * (BucketAlreadyOwnedByYou), -EEXIST when someone else owns the name,
 * -EINVAL when s is not an S3 store.
 */
int ocb_s3_create_bucket(struct ocb_store *s);

/* Turn on versioning of the bucket (PutBucketVersioning).  0, -EINVAL
 * when s is not an S3 store, or the request's error. */
int ocb_s3_enable_versioning(struct ocb_store *s);

/* 1 when the bucket's versioning is on (Enabled), 0 when off or
 * suspended, or the request's error. */
int ocb_s3_versioning(struct ocb_store *s);

/* 1 when the bucket has a lifecycle configuration, 0 when none, or the
 * request's error. */
int ocb_s3_lifecycle_exists(struct ocb_store *s);

/*
 * Set the bucket's lifecycle configuration (it replaces any: call it only
 * when ocb_s3_lifecycle_exists() says none) to one rule for keys under
 * prefix: noncurrent versions expire after days, incomplete multipart
 * uploads are aborted after 7 days (what the old tool's setup set).
 */
int ocb_s3_set_noncurrent_expiry(struct ocb_store *s, const char *prefix,
				 int days);

/*
 * 1 when the running libcurl signs a request carrying both
 * x-amz-server-side-encryption and x-amz-server-side-encryption-aws-kms-
 * key-id correctly (8.10.0 and later).  With an older one a put with
 * sse "aws:kms" and a key id sends neither header: the key must then be
 * the bucket's default encryption (ocb_s3_set_kms_default()).
 */
int ocb_s3_sse_key_signable(void);

/* 1 when the bucket's default encryption is SSE-KMS (its key id, "" for
 * the provider's own key, into key), 0 when it has none or another, or
 * the request's error (-EACCES when GetEncryptionConfiguration is
 * denied). */
int ocb_s3_kms_default(struct ocb_store *s, char *key, size_t size);

/* Set the bucket's default encryption to SSE-KMS with key
 * (PutBucketEncryption; it replaces any).  0 or the request's error. */
int ocb_s3_set_kms_default(struct ocb_store *s, const char *key);

/*
 * The store's one mapping from a request's outcome to store.h's error
 * convention, exposed for tests.  curl_code is the CURLcode of the
 * transfer (0: the exchange completed), status the HTTP status, code the
 * S3 error code from the response body (NULL or "" when none), and
 * precondition_is_create says whether a 412 answers If-None-Match: *
 * (-EEXIST) or If-Match (-ESTALE).  Returns 0 for a 2xx.
 */
int ocb_s3_map_error(int curl_code, long status, const char *code,
		     int precondition_is_create);

#endif
