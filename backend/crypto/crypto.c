/*
 * crypto.c - AES-256-GCM, random bytes, SHA-256, locked key memory.
 */
#include "crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static int gcm(int enc, const uint8_t *key, const uint8_t *nonce,
	       const void *aad, size_t aadlen, const void *in, size_t len,
	       void *out, void *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, OCB_NONCE_LEN,
				 NULL) &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc);
	if (ok && aadlen)
		ok = EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen);
	/* EVP takes int lengths: feed large buffers in pieces */
	for (size_t off = 0; ok && off < len;) {
		size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;

		ok = EVP_CipherUpdate(ctx, (unsigned char *)out + off, &n,
				      (const unsigned char *)in + off,
				      (int)chunk);
		off += chunk;
	}
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, OCB_TAG_LEN,
					 tag);
	if (ok)
		ok = EVP_CipherFinal_ex(ctx, (unsigned char *)out + len, &n);
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, OCB_TAG_LEN,
					 tag);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return enc ? -EIO : -EBADMSG;
	return 0;
}

int ocb_crypto_seal(const uint8_t key[OCB_KEY_LEN],
		    const uint8_t nonce[OCB_NONCE_LEN], const void *aad,
		    size_t aadlen, const void *in, size_t len, void *out)
{
	return gcm(1, key, nonce, aad, aadlen, in, len, out,
		   (unsigned char *)out + len);
}

int ocb_crypto_open(const uint8_t key[OCB_KEY_LEN],
		    const uint8_t nonce[OCB_NONCE_LEN], const void *aad,
		    size_t aadlen, const void *in, size_t len, void *out)
{
	unsigned char tag[OCB_TAG_LEN];

	memcpy(tag, (const unsigned char *)in + len, OCB_TAG_LEN);
	return gcm(0, key, nonce, aad, aadlen, in, len, out, tag);
}

int ocb_crypto_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

void ocb_crypto_sha256(const void *p, size_t len, uint8_t out[32])
{
	SHA256(p, len, out);
}

int ocb_crypto_secure_heap_init(void)
{
	int r = CRYPTO_secure_malloc_init(64 * 1024, OCB_KEY_LEN);

	return r == 1 ? 0 : r == 2 ? 1 : -ENOMEM;
}

uint8_t *ocb_crypto_key_new(void)
{
	uint8_t *k = OPENSSL_secure_zalloc(OCB_KEY_LEN);

	if (k && CRYPTO_secure_allocated(k))
		return k;	/* locked, not dumped, between guard pages */
	/* the secure heap is full or was not started (then OpenSSL gave
	 * ordinary memory): lock the key's page ourselves */
	if (!k)
		k = calloc(1, OCB_KEY_LEN);
	if (k) {
		mlock(k, OCB_KEY_LEN);	/* best effort */
		madvise((void *)((uintptr_t)k & ~(uintptr_t)4095), 4096,
			MADV_DONTDUMP);
	}
	return k;
}

void ocb_crypto_key_free(uint8_t *key)
{
	if (!key)
		return;
	if (CRYPTO_secure_allocated(key)) {
		OPENSSL_secure_clear_free(key, OCB_KEY_LEN);
	} else {
		OPENSSL_cleanse(key, OCB_KEY_LEN);
		munlock(key, OCB_KEY_LEN);
		free(key);
	}
}

void ocb_crypto_hex(const uint8_t *p, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = h[p[i] >> 4];
		out[2 * i + 1] = h[p[i] & 15];
	}
	out[2 * n] = '\0';
}
