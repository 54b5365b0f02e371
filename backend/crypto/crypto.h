/*
 * crypto.h - AES-256-GCM sealing of byte strings (OpenSSL EVP), random
 * bytes, SHA-256, and locked memory for keys.
 */
#ifndef OCB_CRYPTO_H
#define OCB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define OCB_KEY_LEN 32
#define OCB_NONCE_LEN 12
#define OCB_TAG_LEN 16

/*
 * Encrypt len bytes of in into out (len bytes) and append the 16-byte tag
 * at out + len, with key, nonce and additional data aad.  in and out may
 * be the same buffer.  Returns 0 or -EIO.
 */
int ocb_crypto_seal(const uint8_t key[OCB_KEY_LEN],
		    const uint8_t nonce[OCB_NONCE_LEN], const void *aad,
		    size_t aadlen, const void *in, size_t len, void *out);

/*
 * Decrypt len bytes of in (followed by the tag at in + len) into out.
 * Returns 0, or -EBADMSG when the tag does not verify (out must then be
 * ignored: the caller discards it).
 */
int ocb_crypto_open(const uint8_t key[OCB_KEY_LEN],
		    const uint8_t nonce[OCB_NONCE_LEN], const void *aad,
		    size_t aadlen, const void *in, size_t len, void *out);

/* Fill buf with cryptographically random bytes: 0 or -EIO. */
int ocb_crypto_random(void *buf, size_t len);

void ocb_crypto_sha256(const void *p, size_t len, uint8_t out[32]);

/* Start OpenSSL's secure heap (64 KiB: 2048 keys): locked in memory,
 * left out of core dumps, between guard pages.  Once per process, before
 * any key is made and before threads (a fork does not keep the lock).
 * 0, 1 when made but not locked (RLIMIT_MEMLOCK), or -ENOMEM. */
int ocb_crypto_secure_heap_init(void);

/* A 32-byte key in the secure heap, else (not started, or full) in
 * mlock'ed, not dumped ordinary memory where possible. */
uint8_t *ocb_crypto_key_new(void);
/* Zero and free a key from ocb_crypto_key_new(). NULL-safe. */
void ocb_crypto_key_free(uint8_t *key);

/* hex of n bytes into out (2n + 1 bytes). */
void ocb_crypto_hex(const uint8_t *p, size_t n, char *out);

#endif
