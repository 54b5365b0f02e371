/*
 * bucket.c - the bucket requests of setup and doctor (see the header),
 * kept here so that the tools reach the S3 store only through the
 * configuration layer.
 */
#include "bucket.h"
#include "s3_store.h"

int ocb_bucket_create(struct ocb_store *bare)
{
	return ocb_s3_create_bucket(bare);
}

int ocb_bucket_enable_versioning(struct ocb_store *bare)
{
	return ocb_s3_enable_versioning(bare);
}

int ocb_bucket_versioning(struct ocb_store *bare)
{
	return ocb_s3_versioning(bare);
}

int ocb_bucket_lifecycle_exists(struct ocb_store *bare)
{
	return ocb_s3_lifecycle_exists(bare);
}

int ocb_bucket_expire_noncurrent(struct ocb_store *bare, const char *prefix,
				 int days)
{
	return ocb_s3_set_noncurrent_expiry(bare, prefix, days);
}
