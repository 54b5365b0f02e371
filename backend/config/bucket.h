/*
 * bucket.h - the requests on the configured bucket itself that the store
 * interface leaves out: creating it, its versioning, its lifecycle rule.
 *
 * `ocb setup` prepares the bucket with them and `ocb doctor` checks it;
 * both go through this header rather than the S3 store's own.  Each call
 * takes the store ocb_store_open_bare() opened (store_open.h) and answers
 * -EINVAL when it is not an S3 store.
 */
#ifndef OCB_BUCKET_H
#define OCB_BUCKET_H

struct ocb_store;

/* Create the bucket when it is missing (with a LocationConstraint unless
 * the region is us-east-1).  0 also when it exists and is ours, -EEXIST
 * when someone else owns the name, or the request's error. */
int ocb_bucket_create(struct ocb_store *bare);

/* Turn on versioning (PutBucketVersioning).  0 or the request's error. */
int ocb_bucket_enable_versioning(struct ocb_store *bare);

/* 1 when versioning is on, 0 when off or suspended, or the request's
 * error (-EACCES: GetBucketVersioning denied). */
int ocb_bucket_versioning(struct ocb_store *bare);

/* 1 when the bucket has a lifecycle configuration, 0 when none, or the
 * request's error (-EACCES: GetLifecycleConfiguration denied). */
int ocb_bucket_lifecycle_exists(struct ocb_store *bare);

/* Set the lifecycle configuration (it replaces any: only when
 * ocb_bucket_lifecycle_exists() says none) to expire noncurrent versions
 * under prefix after days, and abort uploads unfinished after 7 days.
 * 0 or the request's error. */
int ocb_bucket_expire_noncurrent(struct ocb_store *bare, const char *prefix,
				 int days);

#endif
