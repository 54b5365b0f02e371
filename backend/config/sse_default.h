/*
 * sse_default.h - SSE-KMS with a named key when libcurl cannot sign it.
 *
 * libcurl before 8.10.0 signs a request carrying both
 * x-amz-server-side-encryption and x-amz-server-side-encryption-aws-kms-key-id
 * wrongly (S3 answers SignatureDoesNotMatch).  With such a libcurl the S3
 * store sends neither header and the configured key must be the bucket's
 * default encryption; this module checks that, and sets it for setup.
 */
#ifndef OCB_SSE_DEFAULT_H
#define OCB_SSE_DEFAULT_H

#include <stddef.h>

struct ocb_config;

enum ocb_sse_default_state {
	OCB_SSE_DEFAULT_NOT_NEEDED = 0,	/* no SSE-KMS key, or a new libcurl */
	OCB_SSE_DEFAULT_OK,		/* the bucket's default is the key */
	OCB_SSE_DEFAULT_NONE,		/* the bucket has no SSE-KMS default */
	OCB_SSE_DEFAULT_OTHER,		/* its default is another key */
	OCB_SSE_DEFAULT_DENIED,		/* GetEncryptionConfiguration denied */
	OCB_SSE_DEFAULT_UNSUPPORTED,	/* the server has no bucket defaults */
	OCB_SSE_DEFAULT_FAILED,		/* another error */
};

/*
 * Where the configured SSE-KMS key stands for uploads.  Writes one line
 * for the user into msg (what happens to uploads and, unless OK or
 * NOT_NEEDED, the fix).  With set, a bucket without a default gets one
 * (PutBucketEncryption with the key) first.
 */
enum ocb_sse_default_state ocb_sse_default_check(const struct ocb_config *cfg,
						 int set, char *msg,
						 size_t size);

#endif
