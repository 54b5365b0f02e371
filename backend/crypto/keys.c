/*
 * keys.c - key providers: none, key file, passphrase (scrypt), AWS KMS;
 * and the caches that make the costly ones (a KMS call, an scrypt run)
 * happen once per key and process.
 *
 * Why caches: an incremental backup references up to thousands of other
 * backups' objects and unwraps each one's data key from the header it
 * carries, and a mount opens many backups of one chain.  Without them
 * every open would pay one KMS Decrypt, or one 128 MiB scrypt, per
 * referenced object.
 *   data keys   kms and passphrase: by SHA-256 of the backup id and the
 *               whole key block (provider, salt, scrypt parameters, every
 *               wrapped byte), filled only by an unwrap that succeeded.  A
 *               header with the same id but any other byte is not found
 *               and goes through the real unwrap (and fails there).
 *   KEKs        passphrase: by SHA-256 of (salt, N, r, p), filled only
 *               once a tag has verified under the derived key (or by our
 *               own wrap), so a planted header cannot fill it.
 * scrypt runs one at a time per provider: memory stays at one run's
 * 128 MiB, and threads opening backups of one chain wait for the first
 * derivation of a salt instead of repeating it.
 */
#include "keys.h"
#include "creds.h"
#include "keycache.h"
#include "kms.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* cache sizes: data keys (a catalog's references, several chains open in
 * a mount), key-encryption keys (the salts of a few chains) */
#define DKEY_CACHE 256
#define KEK_CACHE 8

struct ocb_keyprov {
	enum ocb_key_type type;
	uint8_t *master;	/* keyfile: the master key */
	char *pass;		/* passphrase */
	size_t passlen;
	struct ocb_kms kms;	/* kms: strings owned */
	struct ocb_creds *creds;
	struct ocb_keycache *dkeys;	/* kms, passphrase: data keys */
	struct ocb_keycache *keks;	/* passphrase: scrypt results */
	pthread_mutex_t kdf_lock;	/* passphrase: one scrypt at a time */
	uint64_t unwraps, kdf_runs;	/* atomic counters */
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

/* a provider of type t with its caches, NULL when out of memory */
static struct ocb_keyprov *prov_new(enum ocb_key_type t)
{
	struct ocb_keyprov *kp = calloc(1, sizeof(*kp));
	int r = 0;

	if (!kp)
		return NULL;
	kp->type = t;
	pthread_mutex_init(&kp->kdf_lock, NULL);
	if (t == OCB_KEY_KMS || t == OCB_KEY_PASSPHRASE)
		r = ocb_keycache_new(DKEY_CACHE, &kp->dkeys);
	if (r == 0 && t == OCB_KEY_PASSPHRASE)
		r = ocb_keycache_new(KEK_CACHE, &kp->keks);
	if (r < 0) {
		ocb_keyprov_free(kp);
		return NULL;
	}
	return kp;
}

int ocb_keyprov_none_new(struct ocb_keyprov **out)
{
	struct ocb_keyprov *kp = prov_new(OCB_KEY_NONE);

	if (!kp)
		return -ENOMEM;
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
	kp = prov_new(OCB_KEY_KEYFILE);
	if (!kp || !(kp->master = ocb_crypto_key_new())) {
		r = -ENOMEM;
		goto out;
	}
	n = read(fd, kp->master, OCB_KEY_LEN);
	if (n != OCB_KEY_LEN) {
		r = -EIO;
		goto out;
	}
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
	kp = prov_new(OCB_KEY_PASSPHRASE);
	if (!kp)
		return -ENOMEM;
	kp->pass = OPENSSL_secure_malloc(len + 1);
	if (!kp->pass)
		kp->pass = malloc(len + 1);
	if (!kp->pass) {
		ocb_keyprov_free(kp);
		return -ENOMEM;
	}
	memcpy(kp->pass, pass, len);
	kp->pass[len] = '\0';
	kp->passlen = len;
	*out = kp;
	return 0;
}

int ocb_keyprov_kms_new(const struct ocb_kms *how, struct ocb_creds *creds,
			struct ocb_keyprov **out)
{
	const char *endpoint = how->endpoint, *key_id = how->key_id;
	struct ocb_keyprov *kp = prov_new(OCB_KEY_KMS);

	if (!kp) {
		ocb_creds_free(creds);
		return -ENOMEM;
	}
	kp->creds = creds;
	kp->kms.creds = creds;
	kp->kms.insecure_tls = how->insecure_tls;
	kp->kms.deadline_ms = how->deadline_ms;
	kp->kms.refused_ms = how->refused_ms;
	kp->kms.timeout_ms = how->timeout_ms;
	kp->kms.endpoint = endpoint ? strdup(endpoint) : NULL;
	kp->kms.region = strdup(how->region ? how->region : "us-east-1");
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
	ocb_keycache_free(kp->dkeys);
	ocb_keycache_free(kp->keks);
	pthread_mutex_destroy(&kp->kdf_lock);
	if (kp->pass) {
		OPENSSL_cleanse(kp->pass, kp->passlen);
		if (CRYPTO_secure_allocated(kp->pass))
			OPENSSL_secure_free(kp->pass);
		else
			free(kp->pass);
	}
	free(kp);
}

/* passphrase: scrypt costs ocb never writes are refused before any work */
static int scrypt_params_ok(const struct ocb_key_block *blk)
{
	if (blk->log2_n < SCRYPT_LOG2_N_MIN || blk->log2_n > SCRYPT_LOG2_N ||
	    blk->r != SCRYPT_R || blk->p != SCRYPT_P) {
		ocb_err("refused: the backup's header asks for scrypt "
			"parameters ocb never writes (log2 N %u, r %u, p %u)",
			blk->log2_n, blk->r, blk->p);
		return -EBADMSG;	/* refuse hostile costs */
	}
	return 0;
}

/* scrypt(passphrase, salt, N, r, p) of blk into out, with kdf_lock held */
static int scrypt_derive(struct ocb_keyprov *kp,
			 const struct ocb_key_block *blk, uint8_t *out)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[6], *p = params;
	uint64_t n = 1ull << blk->log2_n;
	uint32_t r = blk->r, par = blk->p;
	int ok;

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
	__atomic_fetch_add(&kp->kdf_runs, 1, __ATOMIC_RELAXED);
	ok = EVP_KDF_derive(ctx, out, OCB_KEY_LEN, params) == 1;
	EVP_KDF_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* what the KEK cache knows a passphrase's key-encryption key by (the
 * passphrase is the provider's own) */
static void kek_id(const struct ocb_key_block *blk, uint8_t id[32])
{
	uint8_t b[8 + 16 + 3];

	memcpy(b, "ocb-kek1", 8);
	memcpy(b + 8, blk->salt, 16);
	b[24] = blk->log2_n;
	b[25] = blk->r;
	b[26] = blk->p;
	ocb_crypto_sha256(b, sizeof(b), id);
}

/* The key-encryption key of blk into k when known without deriving it
 * (keyfile: the master key; passphrase: cached): 1, else 0, or -EBADMSG
 * for scrypt parameters ocb never writes. */
static int kek_known(struct ocb_keyprov *kp, const struct ocb_key_block *blk,
		     uint8_t *k)
{
	uint8_t id[32];
	int r;

	if (kp->type == OCB_KEY_KEYFILE) {
		memcpy(k, kp->master, OCB_KEY_LEN);
		return 1;
	}
	r = scrypt_params_ok(blk);
	if (r < 0)
		return r;
	kek_id(blk, id);
	return ocb_keycache_get(kp->keks, id, k);
}

/* The key-encryption key of blk into k: 1 when known (kek_known), 0 when
 * derived now, with kdf_lock then held until the caller's kek_done(), or
 * negative errno. */
static int kek_get(struct ocb_keyprov *kp, const struct ocb_key_block *blk,
		   uint8_t *k)
{
	int r = kek_known(kp, blk, k);

	if (r != 0)
		return r;
	pthread_mutex_lock(&kp->kdf_lock);
	r = kek_known(kp, blk, k);	/* derived while we waited? */
	if (r == 0) {
		r = scrypt_derive(kp, blk, k);
		if (r == 0)
			return 0;
	}
	pthread_mutex_unlock(&kp->kdf_lock);
	return r;
}

/* After kek_get() returned 0: keep k when it proved right (a tag verified
 * under it, or our own wrap sealed with it), and let the next scrypt run.
 * Kept under the lock, so that a thread waiting for the same salt finds
 * it instead of deriving it again. */
static void kek_done(struct ocb_keyprov *kp, const struct ocb_key_block *blk,
		     const uint8_t *k, int right)
{
	uint8_t id[32];

	if (right) {
		kek_id(blk, id);
		ocb_keycache_put(kp->keks, id, k);
	}
	pthread_mutex_unlock(&kp->kdf_lock);
}

/* what the data-key cache knows a wrapped key by: the backup id and every
 * byte of the key block that its unwrapping reads */
static void dkey_id(const uint8_t backup_id[16],
		    const struct ocb_key_block *blk, uint8_t id[32])
{
	uint8_t b[8 + 16 + 1 + 16 + 3 + 2 + OCB_WRAPPED_MAX];
	size_t n = 0, wl = blk->wrapped_len;

	memcpy(b + n, "ocb-dkc1", 8);
	n += 8;
	memcpy(b + n, backup_id, 16);
	n += 16;
	b[n++] = blk->type;
	memcpy(b + n, blk->salt, sizeof(blk->salt));
	n += sizeof(blk->salt);
	b[n++] = blk->log2_n;
	b[n++] = blk->r;
	b[n++] = blk->p;
	b[n++] = (uint8_t)wl;
	b[n++] = (uint8_t)(wl >> 8);
	memcpy(b + n, blk->wrapped, wl);	/* wl <= OCB_WRAPPED_MAX */
	n += wl;
	ocb_crypto_sha256(b, n, id);
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

/* a KMS key block, read: the name and instance it records, where KMS's
 * blob starts */
struct kms_wrapped {
	char name[256], inst[256];
	size_t blob_off;
};

/* read blk into kw; refused (-EBADMSG) when its name is not expect
 * (unless NULL): checked before any cache or KMS is asked */
static int kms_parse(const struct ocb_key_block *blk, const char *expect,
		     struct kms_wrapped *kw)
{
	size_t nl, il, w = blk->wrapped_len;

	if (w < 3)
		return -EBADMSG;
	nl = blk->wrapped[0];
	if (1 + nl + 1 > w)
		return -EBADMSG;
	il = blk->wrapped[1 + nl];
	if (2 + nl + il >= w)
		return -EBADMSG;
	memcpy(kw->name, blk->wrapped + 1, nl);
	kw->name[nl] = '\0';
	memcpy(kw->inst, blk->wrapped + 2 + nl, il);
	kw->inst[il] = '\0';
	kw->blob_off = 2 + nl + il;
	if (expect && strcmp(kw->name, expect) != 0) {
		char e1[300], e2[300];

		ocb_err("refused: the backup's key was made for the name %s, "
			"not %s (renamed or rolled back?)",
			ocb_log_escape(e1, sizeof(e1), kw->name),
			ocb_log_escape(e2, sizeof(e2), expect));
		return -EBADMSG;
	}
	return 0;
}

static int kms_unwrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		      const struct ocb_key_block *blk,
		      const struct kms_wrapped *kw, uint8_t *dk)
{
	char idhex[33];
	const char *names[] = { "ocb:backup-id", "ocb:name", "ocb:instance" };
	const char *values[] = { idhex, kw->name, kw->inst };
	struct ocb_kms_ctx kc = { 3, names, values };
	int r;

	ocb_crypto_hex(backup_id, 16, idhex);
	r = ocb_kms_decrypt(&kp->kms, &kc, blk->wrapped + kw->blob_off,
			    blk->wrapped_len - kw->blob_off, dk);
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

/* keyfile, passphrase: wrapped = nonce || AES-256-GCM(kek, dk) || tag */
static int sym_unwrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		      const struct ocb_key_block *blk, uint8_t *dk)
{
	uint8_t *k = ocb_crypto_key_new(), aad[25];
	int known, r;

	if (!k)
		return -ENOMEM;
	known = kek_get(kp, blk, k);
	if (known < 0) {
		r = known;
		goto out;
	}
	wrap_aad(backup_id, blk->type, aad);
	r = ocb_crypto_open(k, blk->wrapped, aad, sizeof(aad),
			    blk->wrapped + OCB_NONCE_LEN, OCB_KEY_LEN, dk);
	if (!known)
		kek_done(kp, blk, k, r == 0);
	if (r < 0) {
		ocb_err("cannot unwrap the backup's data key: wrong %s",
			blk->type == OCB_KEY_PASSPHRASE ? "passphrase" :
			"key file");
		r = -ENOKEY;
	}
out:
	ocb_crypto_key_free(k);
	return r;
}

int ocb_keyprov_wrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		     const struct ocb_key_ctx *ctx, uint8_t **data_key,
		     struct ocb_key_block *blk)
{
	return ocb_keyprov_wrap_like(kp, backup_id, ctx, NULL, data_key, blk);
}

/*
 * Reusing the salt of the backup this one builds on is safe: a salt
 * keeps one scrypt result from serving many passphrases or users (no
 * precomputed tables), and a chain of one client under one passphrase
 * is one user and one passphrase.  Every data key is still random and
 * its wrap has a fresh nonce; the aad binds it to its backup id.  Only
 * a salt whose key-encryption key has verified a tag here (or that our
 * own wrap chose) is reused: a salt from a planted header could have
 * been chosen by an attacker with a table ready for it.
 */
static int salt_reusable(struct ocb_keyprov *kp,
			 const struct ocb_key_block *base, uint8_t *k)
{
	return base && base->type == OCB_KEY_PASSPHRASE &&
	       base->log2_n == SCRYPT_LOG2_N && base->r == SCRYPT_R &&
	       base->p == SCRYPT_P && kek_known(kp, base, k) == 1;
}

int ocb_keyprov_wrap_like(struct ocb_keyprov *kp,
			  const uint8_t backup_id[16],
			  const struct ocb_key_ctx *ctx,
			  const struct ocb_key_block *base,
			  uint8_t **data_key, struct ocb_key_block *blk)
{
	uint8_t *dk = ocb_crypto_key_new(), *k = NULL, aad[25];
	int known, r;

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
	k = ocb_crypto_key_new();
	if (!k) {
		r = -ENOMEM;
		goto fail;
	}
	if (kp->type == OCB_KEY_PASSPHRASE) {
		blk->log2_n = SCRYPT_LOG2_N;
		blk->r = SCRYPT_R;
		blk->p = SCRYPT_P;
		if (salt_reusable(kp, base, k))
			memcpy(blk->salt, base->salt, sizeof(blk->salt));
		else if ((r = ocb_crypto_random(blk->salt,
						sizeof(blk->salt))) < 0)
			goto fail;
	}
	known = kek_get(kp, blk, k);
	if (known < 0) {
		r = known;
		goto fail;
	}
	/* wrapped = nonce || AES-256-GCM(kek, dk) || tag */
	r = ocb_crypto_random(blk->wrapped, OCB_NONCE_LEN);
	if (r == 0) {
		wrap_aad(backup_id, blk->type, aad);
		r = ocb_crypto_seal(k, blk->wrapped, aad, sizeof(aad), dk,
				    OCB_KEY_LEN, blk->wrapped + OCB_NONCE_LEN);
	}
	if (!known)
		kek_done(kp, blk, k, r == 0);
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
	enum ocb_key_type have = kp ? kp->type : OCB_KEY_NONE;
	struct kms_wrapped kw;
	uint8_t *dk, id[32];
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
	if (blk->wrapped_len > OCB_WRAPPED_MAX)
		return -EBADMSG;
	if (blk->type == OCB_KEY_KMS)
		r = kms_parse(blk, name, &kw);
	else if (blk->wrapped_len != OCB_NONCE_LEN + OCB_KEY_LEN + OCB_TAG_LEN)
		r = -EBADMSG;
	else
		r = 0;
	if (r < 0)
		return r;
	dk = ocb_crypto_key_new();
	if (!dk)
		return -ENOMEM;
	if (kp->dkeys) {
		dkey_id(backup_id, blk, id);
		if (ocb_keycache_get(kp->dkeys, id, dk))
			goto done;
	}
	__atomic_fetch_add(&kp->unwraps, 1, __ATOMIC_RELAXED);
	if (blk->type == OCB_KEY_KMS)
		r = kms_unwrap(kp, backup_id, blk, &kw, dk);
	else
		r = sym_unwrap(kp, backup_id, blk, dk);
	if (r < 0) {
		ocb_crypto_key_free(dk);
		return r;
	}
	if (kp->dkeys)
		ocb_keycache_put(kp->dkeys, id, dk);
done:
	*data_key = dk;
	return 0;
}

void ocb_keyprov_stats(const struct ocb_keyprov *kp,
		       struct ocb_keyprov_stats *out)
{
	struct ocb_keycache_stats d = { 0 }, k = { 0 };

	if (kp->dkeys)
		ocb_keycache_stats(kp->dkeys, &d);
	if (kp->keks)
		ocb_keycache_stats(kp->keks, &k);
	memset(out, 0, sizeof(*out));
	out->unwraps = __atomic_load_n(&kp->unwraps, __ATOMIC_RELAXED);
	out->dkey_hits = d.hits;
	out->dkey_evictions = d.evictions;
	out->dkeys_cached = d.entries;
	out->kdf_runs = __atomic_load_n(&kp->kdf_runs, __ATOMIC_RELAXED);
	out->kek_hits = k.hits;
	out->keks_cached = k.entries;
}
