/*
 * keys.h - key providers: how a backup's data key is wrapped and unwrapped.
 *
 * Every backup has its own random 256-bit data key.  The provider wraps it
 * into the backup's header and unwraps it when the backup is read:
 *   none        no secret: the data key is fixed and public, so frames are
 *               only checksummed (tamper-evident against accidents, not
 *               against an attacker); marked "none" everywhere.
 *   keyfile     AES-256-GCM under a 32-byte master key file (mode 0600).
 *   passphrase  AES-256-GCM under scrypt(passphrase, salt); the scrypt
 *               parameters and salt are stored in the header.
 *   kms         AWS KMS GenerateDataKey/Decrypt; the encryption context
 *               binds the backup id, name and instance, which are kept
 *               beside KMS's ciphertext blob in the header.
 * The wrapping is bound to the backup id, so a wrapped key cannot be moved
 * to another backup.
 *
 * A provider remembers, in locked memory, what it has unwrapped (kms and
 * passphrase: the last 256 data keys, by backup id and the exact key
 * block) and the last 8 scrypt results (by salt and parameters), so
 * opening the same header again costs no KMS call and no scrypt run.
 * Every call is thread-safe.
 */
#ifndef OCB_KEYS_H
#define OCB_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "kms.h"

enum ocb_key_type {
	OCB_KEY_NONE = 0,
	OCB_KEY_KEYFILE = 1,
	OCB_KEY_PASSPHRASE = 2,
	OCB_KEY_KMS = 3,
};

#define OCB_WRAPPED_MAX 400

/* what a header stores about the wrapped key */
struct ocb_key_block {
	uint8_t type;			/* enum ocb_key_type */
	uint8_t salt[16];		/* passphrase */
	uint8_t log2_n, r, p;		/* passphrase: scrypt parameters */
	uint16_t wrapped_len;
	uint8_t wrapped[OCB_WRAPPED_MAX];
};

struct ocb_keyprov;
struct ocb_creds;

/* what a wrapped key is bound to besides the backup id (KMS context) */
struct ocb_key_ctx {
	const char *name;	/* backup name */
	const char *instance;
};

/* The provider "none". */
int ocb_keyprov_none_new(struct ocb_keyprov **out);
/* A 32-byte master key from path; refused (-EACCES) unless only the owner
 * can read it; -ENOENT (message says `ocb key generate`). */
int ocb_keyprov_keyfile_new(const char *path, struct ocb_keyprov **out);
/* A passphrase (copied; the caller clears its own copy). */
int ocb_keyprov_passphrase_new(const char *pass, size_t len,
			       struct ocb_keyprov **out);
/* AWS KMS as how says (its strings copied, its creds ignored): key_id an
 * id, ARN or alias, endpoint NULL for AWS's, region NULL for us-east-1.
 * Takes ownership of creds (also on failure). */
int ocb_keyprov_kms_new(const struct ocb_kms *how, struct ocb_creds *creds,
			struct ocb_keyprov **out);
void ocb_keyprov_free(struct ocb_keyprov *kp);

enum ocb_key_type ocb_keyprov_type(const struct ocb_keyprov *kp);
const char *ocb_key_type_name(enum ocb_key_type t);

/* A fresh data key (from ocb_crypto_key_new) wrapped into blk, bound to
 * backup_id (and, for KMS, ctx): 0 or negative errno. */
int ocb_keyprov_wrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		     const struct ocb_key_ctx *ctx, uint8_t **data_key,
		     struct ocb_key_block *blk);

/*
 * The same, for a backup that builds on the backup whose key block is
 * base (NULL: none, as ocb_keyprov_wrap).  passphrase: base's salt is
 * reused when base has today's scrypt parameters and its key-encryption
 * key is cached here (this provider has unwrapped a data key with it, or
 * wrapped one), so that a reader of the whole chain runs scrypt once;
 * else a fresh salt, as ocb_keyprov_wrap.  Other providers ignore base.
 * base must not be blk.
 */
int ocb_keyprov_wrap_like(struct ocb_keyprov *kp,
			  const uint8_t backup_id[16],
			  const struct ocb_key_ctx *ctx,
			  const struct ocb_key_block *base,
			  uint8_t **data_key, struct ocb_key_block *blk);

/* Unwrap blk into *data_key (ocb_crypto_key_free it): 0, -ENOKEY for the
 * wrong key/passphrase or a provider mismatch (logged), -EBADMSG when blk
 * says "none" but kp is another provider (an unauthenticated backup is
 * never accepted under a configured key: checked before any unwrap). */
int ocb_keyprov_unwrap(struct ocb_keyprov *kp, const uint8_t backup_id[16],
		       const struct ocb_key_block *blk, uint8_t **data_key);
/* The same for the object named name (its key's base name without
 * ".ocb"): a KMS key whose recorded name is another is refused (-EBADMSG)
 * and KMS is asked with the expected name in the encryption context, not
 * the one the (not yet authenticated) header carries. */
int ocb_keyprov_unwrap_named(struct ocb_keyprov *kp,
			     const uint8_t backup_id[16], const char *name,
			     const struct ocb_key_block *blk,
			     uint8_t **data_key);

/* What a provider has done and saved, since it was made (tests, stats). */
struct ocb_keyprov_stats {
	uint64_t unwraps;	/* data keys unwrapped for real (kms: Decrypt
				 * calls), whether they opened or not */
	uint64_t dkey_hits;	/* ... and found in the cache instead */
	uint64_t dkey_evictions;	/* cached data keys dropped (zeroed) */
	size_t dkeys_cached;
	uint64_t kdf_runs;	/* scrypt derivations */
	uint64_t kek_hits;	/* scrypt results found in the cache */
	size_t keks_cached;
};
void ocb_keyprov_stats(const struct ocb_keyprov *kp,
		       struct ocb_keyprov_stats *out);

#endif
