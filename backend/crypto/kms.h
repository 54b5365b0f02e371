/*
 * kms.h - the two AWS KMS calls envelope encryption needs, over HTTPS with
 * libcurl's SigV4 (service "kms") and cJSON: GenerateDataKey and Decrypt.
 * The encryption context is passed through as given; KMS refuses to
 * decrypt unless the same context is presented.
 */
#ifndef OCB_KMS_H
#define OCB_KMS_H

#include <stddef.h>
#include <stdint.h>

struct ocb_creds;

struct ocb_kms {
	const char *endpoint;	/* NULL: https://kms.<region>.amazonaws.com */
	const char *region;
	const char *key_id;	/* key id, ARN or alias/... */
	int insecure_tls;
	struct ocb_creds *creds;	/* not owned */
	/* the retry policy, by time, of retry.h, as the store's:
	 * transient failures are retried with capped full-jitter backoff
	 * until deadline_ms after the call began (refused_ms while every
	 * attempt was refused); an attempt also ends after timeout_ms.
	 * 0: 60000, 20000 and 30000. */
	unsigned deadline_ms, refused_ms, timeout_ms;
};

/* context: n name/value pairs */
struct ocb_kms_ctx {
	size_t n;
	const char *const *names;
	const char *const *values;
};

#define OCB_KMS_BLOB_MAX 1024

/* what to allow for the key provider kms (docs/iam/ocb-kms-policy.json,
 * which the package installs in /usr/share/doc/ocbfs/iam/) */
#define OCB_KMS_POLICY_FIX \
	"the statement of docs/iam/ocb-kms-policy.json (installed in " \
	"/usr/share/doc/ocbfs/iam/), in short {\"Effect\": " \
	"\"Allow\", \"Action\": [\"kms:GenerateDataKey\", " \
	"\"kms:Decrypt\"], \"Resource\": \"arn:aws:kms:REGION:ACCOUNT_ID:" \
	"key/KEY_ID\"} (no kms:ViaService condition)"

/*
 * A new 32-byte data key: plaintext into dk, KMS's ciphertext blob into
 * blob (*bloblen bytes).  0, -EPERM (the policy denies the call: KMS's
 * AccessDeniedException), -EACCES (bad signature or credentials), -ENOENT
 * (no such key), -EAGAIN/-ETIMEDOUT/... (network), -EPROTO.
 */
int ocb_kms_generate(const struct ocb_kms *k, const struct ocb_kms_ctx *ctx,
		     uint8_t dk[32], uint8_t *blob, size_t *bloblen);

/* The data key of blob: 0, or -ENOKEY (wrong context, other key), ... */
int ocb_kms_decrypt(const struct ocb_kms *k, const struct ocb_kms_ctx *ctx,
		    const uint8_t *blob, size_t bloblen, uint8_t dk[32]);

#endif
