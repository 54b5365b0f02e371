/*
 * sse_default.c - the bucket's default encryption standing in for the
 * x-amz-server-side-encryption-aws-kms-key-id header (see the header).
 *
 * Sent alone, "x-amz-server-side-encryption: aws:kms" means AWS's own
 * aws/s3 key (and RGW refuses it without a key id), so the store sends no
 * SSE header at all: S3 then applies the bucket's default, which carries
 * the key.  GetBucketEncryption tells whether it does; a server without
 * bucket defaults (Ceph RGW before Quincy answers the request as a listing)
 * stores the object without SSE-KMS, which the message says.
 */
#include "sse_default.h"
#include "config.h"
#include "s3_store.h"
#include "store_open.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void fix_line(const struct ocb_config *cfg, char *fix, size_t size)
{
	snprintf(fix, size, "\n         fix: ocb setup --force sets it, or aws "
		 "s3api put-bucket-encryption --bucket %s "
		 "--server-side-encryption-configuration '{\"Rules\":[{\"Apply"
		 "ServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\","
		 "\"KMSMasterKeyID\":\"%s\"}}]}'", cfg->bucket,
		 cfg->sse_kms_key_id);
}

enum ocb_sse_default_state ocb_sse_default_check(const struct ocb_config *cfg,
						 int set, char *msg,
						 size_t size)
{
	const char *curl = curl_version_info(CURLVERSION_NOW)->version;
	enum ocb_sse_default_state st;
	struct ocb_store *bare = NULL;
	char key[512] = "", fix[1200];
	int r;

	if (!cfg->bucket || !cfg->sse || strcmp(cfg->sse, "aws:kms") != 0 ||
	    !cfg->sse_kms_key_id || ocb_s3_sse_key_signable())
		return OCB_SSE_DEFAULT_NOT_NEEDED;
	r = ocb_store_open_bare(cfg->store_url, cfg, &bare);
	if (r == 0)
		r = ocb_s3_kms_default(bare, key, sizeof(key));
	if (r == 0 && set) {
		r = ocb_s3_set_kms_default(bare, cfg->sse_kms_key_id);
		if (r == 0)
			r = ocb_s3_kms_default(bare, key, sizeof(key));
		else if (r == -EINVAL)	/* RGW before Quincy: InvalidArgument */
			r = -EPROTO;
	}
	ocb_store_free(bare);
	fix_line(cfg, fix, sizeof(fix));
	if (r == 1 && !strcmp(key, cfg->sse_kms_key_id)) {
		st = OCB_SSE_DEFAULT_OK;
		snprintf(msg, size, "SSE-KMS with %s by the bucket's default "
			 "encryption (libcurl %s cannot sign the key id header: "
			 "it is not sent)", cfg->sse_kms_key_id, curl);
	} else if (r == 1) {
		st = OCB_SSE_DEFAULT_OTHER;
		snprintf(msg, size, "the bucket's default encryption is SSE-KMS "
			 "with %s, not %s: libcurl %s cannot sign the key id "
			 "header, so uploads get %s%s", *key ? key : "aws/s3",
			 cfg->sse_kms_key_id, curl, *key ? key : "aws/s3", fix);
	} else if (r == 0) {
		st = OCB_SSE_DEFAULT_NONE;
		snprintf(msg, size, "the bucket has no SSE-KMS default "
			 "encryption: libcurl %s cannot sign the key id header "
			 "(curl 8.10 can), so uploads are stored without "
			 "SSE-KMS %s (ocb's own encryption still applies)%s",
			 curl, cfg->sse_kms_key_id, fix);
	} else if (r == -EACCES) {
		st = OCB_SSE_DEFAULT_DENIED;
		snprintf(msg, size, "s3:%sEncryptionConfiguration is denied: "
			 "libcurl %s cannot sign the key id header, so uploads "
			 "get SSE-KMS %s only from the bucket's default "
			 "encryption, which cannot be %s\n         fix: allow "
			 "s3:GetEncryptionConfiguration and "
			 "s3:PutEncryptionConfiguration on the bucket "
			 "(docs/iam/)", set ? "Put/Get" : "Get", curl,
			 cfg->sse_kms_key_id, set ? "set" : "checked");
	} else if (r == -EPROTO) {
		st = OCB_SSE_DEFAULT_UNSUPPORTED;
		snprintf(msg, size, "the server has no bucket default "
			 "encryption: libcurl %s cannot sign the key id header, "
			 "so uploads are stored without SSE-KMS %s (ocb's own "
			 "encryption still applies)", curl, cfg->sse_kms_key_id);
	} else {
		st = OCB_SSE_DEFAULT_FAILED;
		snprintf(msg, size, "the bucket's default encryption could not "
			 "be read (%s): libcurl %s cannot sign the key id "
			 "header, uploads get SSE-KMS %s only from it",
			 ocb_store_strerror(r), curl, cfg->sse_kms_key_id);
	}
	return st;
}
