/*
 * keys.c - key providers: none, key file, passphrase (scrypt).
 */
#include "keys.h"
#include "creds.h"
#include "kms.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

/* scrypt cost written: N = 2^17, r = 8, p = 1 (128 MiB, about 0.3 s: the
 * current recommendation for scrypt).  Read: only what ocb has written
 * (N = 2^15 before format 2), so that an unauthenticated header cannot
 * make an open cost gigabytes and seconds. */
#define SCRYPT_LOG2_N 17
#define SCRYPT_LOG2_N_MIN 15
#define SCRYPT_R 8
#define SCRYPT_P 1
#define PASS_MAX 1024

struct ocb_keyprov {
	enum ocb_key_type type;
	uint8_t *master;	/* keyfile: the master key */
	char *pass;		/* passphrase */
	size_t passlen;
	struct ocb_kms kms;	/* kms: strings owned */
	struct ocb_creds *creds;
};

static const uint8_t none_key[OCB_KEY_LEN];	/* public, all zero */

const char *ocb_key_type_name(enum ocb_key_type t)
{
	switch (t) {
	case OCB_KEY_NONE: return "none";
	case OCB_KEY_KEYFILE: return "keyfile";
	case OCB_KEY_PASSPHRASE: return "passphrase";
	case OCB_KEY_KMS: return "kms";
	default: return "unknown";
	}
}

enum ocb_key_type ocb_keyprov_type(const struct ocb_keyprov *kp)
{
	return kp ? kp->type : OCB_KEY_NONE;
}

int ocb_keyprov_none_new(struct ocb_keyprov **out)
{
	struct ocb_keyprov *kp = calloc(1, sizeof(*kp));

	if (!kp)
		return -ENOMEM;
	kp->type = OCB_KEY_NONE;
	*out = kp;
	return 0;
}

int ocb_keyprov_keyfile_new(const char *path, struct ocb_keyprov **out)
{
	struct ocb_keyprov *kp = NULL;
	struct stat st;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			ocb_err("key file %s does not exist; create one with "
				"`ocb key generate`", path);
		else
			ocb_err("key file %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((st.st_mode & 077) || (st.st_uid != geteuid() && st.st_uid != 0)) {
		ocb_err("key file %s is accessible by others (mode %03o) or "
			"not yours: refusing it; fix with: chmod 600 %s", path,
			st.st_mode & 0777, path);
		r = -EACCES;
		goto out;
	}
	if (st.st_size != OCB_KEY_LEN) {
		ocb_err("key file %s must hold exactly 32 bytes (it has %lld)",
			path, (long long)st.st_size);
		r = -EINVAL;
		goto out;
	}
	kp = calloc(1, sizeof(*kp));
	if (!kp || !(kp->master = ocb_crypto_key_new())) {
		r = -ENOMEM;
		goto out;
	}
	n = read(fd, kp->master, OCB_KEY_LEN);
	if (n != OCB_KEY_LEN) {
		r = -EIO;
		goto out;
	}
	kp->type = OCB_KEY_KEYFILE;
	*out = kp;
	kp = NULL;
	r = 0;
out:
	ocb_keyprov_free(kp);
	close(fd);
	return r;
}

int ocb_keyprov_passphrase_new(const char *pass, size_t len,
			       struct ocb_keyprov **out)
{
	struct ocb_keyprov *kp;

	if (len == 0 || len > PASS_MAX)
		return -EINVAL;
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return -ENOMEM;
	kp->pass = OPENSSL_secure_malloc(len + 1);
	if (!kp->pass)
		kp->pass = malloc(len + 1);
	if (!kp->pass) {
		free(kp);
		return -ENOMEM;
	}
	memcpy(kp->pass, pass, len);
	kp->pass[len] = '\0';
	kp->passlen = len;
	kp->type = OCB_KEY_PASSPHRASE;
	*out = kp;
	return 0;
}

int ocb_keyprov_kms_new(const char *endpoint, const char *region,
			const char *key_id, int insecure_tls,
			struct ocb_creds *creds, struct ocb_keyprov **out)
{
	struct ocb_keyprov *kp = calloc(1, sizeof(*kp));

	if (!kp) {
		ocb_creds_free(creds);
		return -ENOMEM;
	}
	kp->type = OCB_KEY_KMS;
	kp->creds = creds;
	kp->kms.creds = creds;
	kp->kms.insecure_tls = insecure_tls;
	kp->kms.endpoint = endpoint ? strdup(endpoint) : NULL;
	kp->kms.region = strdup(region ? region : "us-east-1");
	kp->kms.key_id = key_id ? strdup(key_id) : NULL;
	if (!kp->kms.region || (endpoint && !kp->kms.endpoint) ||
	    (key_id && !kp->kms.key_id)) {
		ocb_keyprov_free(kp);
		return -ENOMEM;
	}
	*out = kp;
	return 0;
}

void ocb_keyprov_free(struct ocb_keyprov *kp)
{
	if (!kp)
		return;
	free((char *)kp->kms.endpoint);
	free((char *)kp->kms.region);
	free((char *)kp->kms.key_id);
	ocb_creds_free(kp->creds);
	ocb_crypto_key_free(kp->master);
	if (kp->pass) {
		OPENSSL_cleanse(kp->pass, kp->passlen);
		if (CRYPTO_secure_allocated(kp->pass))
			OPENSSL_secure_free(kp->pass);
		else
			free(kp->pass);
	}
	free(kp);
}

/* the key-encryption key of a provider for this block */
static int kek(struct ocb_keyprov *kp, const struct ocb_key_block *blk,
	       uint8_t *out)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[6], *p = params;
	uint64_t n;
	uint32_t r, par;
	int ok;

	if (kp->type == OCB_KEY_KEYFILE) {
		memcpy(out, kp->master, OCB_KEY_LEN);
		return 0;
	}
	if (blk->log2_n < SCRYPT_LOG2_N_MIN || blk->log2_n > SCRYPT_LOG2_N ||
	    blk->r != SCRYPT_R || blk->p != SCRYPT_P) {
		ocb_err("refused: the backup's header asks for scrypt "
			"parameters ocb never writes (log2 N %u, r %u, p %u)",
			blk->log2_n, blk->r, blk->p);
		return -EBADMSG;	/* refuse hostile costs */
	}
	n = 1ull << blk->log2_n;
	r = blk->r;
	par = blk->p;
	kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!ctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
						 kp->pass, kp->passlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 (void *)blk->salt,
						 sizeof(blk->salt));
	*p++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	*p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	*p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &par);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, OCB_KEY_LEN, params) == 1;
	EVP_KDF_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* KMS: wrapped = name_len (1) name instance_len (1) instance blob */
static int kms_wrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		    const struct ocb_key_ctx *ctx, uint8_t *dk,
		    struct ocb_key_block *blk)
{
	const char *name = ctx && ctx->name ? ctx->name : "";
	const char *inst = ctx && ctx->instance ? ctx->instance : "";
	size_t nl = strlen(name), il = strlen(inst), bl = 0;
	uint8_t blob[OCB_KMS_BLOB_MAX];
	char idhex[33];
	const char *names[] = { "ocb:backup-id", "ocb:name", "ocb:instance" };
	const char *values[] = { idhex, name, inst };
	struct ocb_kms_ctx kc = { 3, names, values };
	int r;

	if (nl > 255 || il > 255)
		return -ENAMETOOLONG;
	ocb_crypto_hex(backup_id, 16, idhex);
	r = ocb_kms_generate(&kp->kms, &kc, dk, blob, &bl);
	if (r < 0)
		return r;
	if (2 + nl + il + bl > OCB_WRAPPED_MAX) {
		ocb_err("KMS ciphertext blob too large (%zu bytes)", bl);
		return -EFBIG;
	}
	blk->wrapped[0] = (uint8_t)nl;
	memcpy(blk->wrapped + 1, name, nl);
	blk->wrapped[1 + nl] = (uint8_t)il;
	memcpy(blk->wrapped + 2 + nl, inst, il);
	memcpy(blk->wrapped + 2 + nl + il, blob, bl);
	blk->wrapped_len = (uint16_t)(2 + nl + il + bl);
	return 0;
}

static int kms_unwrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		      const char *expect, const struct ocb_key_block *blk,
		      uint8_t *dk)
{
	char name[256], inst[256], idhex[33];
	const char *names[] = { "ocb:backup-id", "ocb:name", "ocb:instance" };
	const char *values[] = { idhex, name, inst };
	struct ocb_kms_ctx kc = { 3, names, values };
	size_t nl, il, w = blk->wrapped_len;
	int r;

	if (w < 3)
		return -EBADMSG;
	nl = blk->wrapped[0];
	if (1 + nl + 1 > w)
		return -EBADMSG;
	il = blk->wrapped[1 + nl];
	if (2 + nl + il >= w)
		return -EBADMSG;
	memcpy(name, blk->wrapped + 1, nl);
	name[nl] = '\0';
	memcpy(inst, blk->wrapped + 2 + nl, il);
	inst[il] = '\0';
	if (expect && strcmp(name, expect) != 0) {
		char e1[300], e2[300];

		ocb_err("refused: the backup's key was made for the name %s, "
			"not %s (renamed or rolled back?)",
			ocb_log_escape(e1, sizeof(e1), name),
			ocb_log_escape(e2, sizeof(e2), expect));
		return -EBADMSG;
	}
	ocb_crypto_hex(backup_id, 16, idhex);
	r = ocb_kms_decrypt(&kp->kms, &kc, blk->wrapped + 2 + nl + il,
			    w - 2 - nl - il, dk);
	if (r == -ENOKEY)
		ocb_err("KMS refused to decrypt the backup's data key (other "
			"key, or the backup's context does not match)");
	return r;
}

static void wrap_aad(const uint8_t backup_id[16], uint8_t type, uint8_t *aad)
{
	memcpy(aad, "ocb-dk1", 8);	/* 7 chars + NUL */
	memcpy(aad + 8, backup_id, 16);
	aad[24] = type;
}

int ocb_keyprov_wrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		     const struct ocb_key_ctx *ctx, uint8_t **data_key,
		     struct ocb_key_block *blk)
{
	uint8_t *dk = ocb_crypto_key_new(), *k = NULL, aad[25];
	int r;

	if (!dk)
		return -ENOMEM;
	memset(blk, 0, sizeof(*blk));
	blk->type = (uint8_t)kp->type;
	if (kp->type == OCB_KEY_NONE) {
		memcpy(dk, none_key, OCB_KEY_LEN);
		*data_key = dk;
		return 0;
	}
	if (kp->type == OCB_KEY_KMS) {
		r = kms_wrap(kp, backup_id, ctx, dk, blk);
		if (r < 0)
			goto fail;
		*data_key = dk;
		return 0;
	}
	r = ocb_crypto_random(dk, OCB_KEY_LEN);
	if (r < 0)
		goto fail;
	if (kp->type == OCB_KEY_PASSPHRASE) {
		r = ocb_crypto_random(blk->salt, sizeof(blk->salt));
		if (r < 0)
			goto fail;
		blk->log2_n = SCRYPT_LOG2_N;
		blk->r = SCRYPT_R;
		blk->p = SCRYPT_P;
	}
	k = ocb_crypto_key_new();
	if (!k) {
		r = -ENOMEM;
		goto fail;
	}
	r = kek(kp, blk, k);
	if (r < 0)
		goto fail;
	/* wrapped = nonce || AES-256-GCM(kek, dk) || tag */
	r = ocb_crypto_random(blk->wrapped, OCB_NONCE_LEN);
	if (r < 0)
		goto fail;
	wrap_aad(backup_id, blk->type, aad);
	r = ocb_crypto_seal(k, blk->wrapped, aad, sizeof(aad), dk, OCB_KEY_LEN,
			    blk->wrapped + OCB_NONCE_LEN);
	if (r < 0)
		goto fail;
	blk->wrapped_len = OCB_NONCE_LEN + OCB_KEY_LEN + OCB_TAG_LEN;
	ocb_crypto_key_free(k);
	*data_key = dk;
	return 0;
fail:
	ocb_crypto_key_free(k);
	ocb_crypto_key_free(dk);
	return r;
}

int ocb_keyprov_unwrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		       const struct ocb_key_block *blk, uint8_t **data_key)
{
	return ocb_keyprov_unwrap_named(kp, backup_id, NULL, blk, data_key);
}

int ocb_keyprov_unwrap_named(struct ocb_keyprov *kp,
			     const uint8_t backup_id[16], const char *name,
			     const struct ocb_key_block *blk,
			     uint8_t **data_key)
{
	uint8_t *dk, *k = NULL, aad[25];
	enum ocb_key_type have = kp ? kp->type : OCB_KEY_NONE;
	int r;

	/* the provider is compared before anything is unwrapped: a header
	 * saying "none" under another configured provider is a backup anyone
	 * with write access to the store could have made (a downgrade) */
	if (blk->type != have && blk->type == OCB_KEY_NONE) {
		ocb_err("refused: this backup's header says key provider none "
			"(unauthenticated: anyone who can write the store can "
			"make one), but %s is configured; it may be forged",
			ocb_key_type_name(have));
		return -EBADMSG;
	}
	if (blk->type != have) {
		ocb_err("this backup's key provider is %s, but %s is configured",
			ocb_key_type_name(blk->type), ocb_key_type_name(have));
		return -ENOKEY;
	}
	if (blk->type == OCB_KEY_NONE) {
		dk = ocb_crypto_key_new();
		if (!dk)
			return -ENOMEM;
		memcpy(dk, none_key, OCB_KEY_LEN);
		*data_key = dk;
		return 0;
	}
	if (blk->type == OCB_KEY_KMS) {
		dk = ocb_crypto_key_new();
		if (!dk)
			return -ENOMEM;
		r = kms_unwrap(kp, backup_id, name, blk, dk);
		if (r < 0) {
			ocb_crypto_key_free(dk);
			return r;
		}
		*data_key = dk;
		return 0;
	}
	if (blk->wrapped_len != OCB_NONCE_LEN + OCB_KEY_LEN + OCB_TAG_LEN)
		return -EBADMSG;
	dk = ocb_crypto_key_new();
	k = ocb_crypto_key_new();
	if (!dk || !k) {
		r = -ENOMEM;
		goto fail;
	}
	r = kek(kp, blk, k);
	if (r < 0)
		goto fail;
	wrap_aad(backup_id, blk->type, aad);
	r = ocb_crypto_open(k, blk->wrapped, aad, sizeof(aad),
			    blk->wrapped + OCB_NONCE_LEN, OCB_KEY_LEN, dk);
	if (r < 0) {
		ocb_err("cannot unwrap the backup's data key: wrong %s",
			blk->type == OCB_KEY_PASSPHRASE ? "passphrase" :
			"key file");
		r = -ENOKEY;
		goto fail;
	}
	ocb_crypto_key_free(k);
	*data_key = dk;
	return 0;
fail:
	ocb_crypto_key_free(k);
	ocb_crypto_key_free(dk);
	return r;
}
