/*
 * hdr_mac.c - HMAC-SHA256 of tar headers, truncated (see hdr_mac.h).
 *
 * Why keyed, and why 8 bytes: the hash stands for the header bytes, so
 * two headers with one hash must not happen by chance nor be made on
 * purpose by whoever can set a file's name, mode or extended attributes.
 * A key drawn for each chain and kept in the sealed catalog leaves no one
 * without the backup's key a way to search for a collision offline; each
 * guess then costs a backup and succeeds with probability 2^-64.  An
 * unkeyed hash would need 16 bytes or more for the same margin, and the
 * hashes are the one incompressible part of an unchanged backup.
 *
 * The inner and outer SHA-256 states after the key's pads are computed
 * once; each header then costs two copies and its own hashing.
 */
#include "hdr_mac.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define BLOCK 64		/* SHA-256 block */

struct ocb_hdr_mac {
	EVP_MD_CTX *inner, *outer;	/* after key ^ ipad, key ^ opad */
	EVP_MD_CTX *work;
};

void ocb_hdr_mac_free(struct ocb_hdr_mac *m)
{
	if (!m)
		return;
	EVP_MD_CTX_free(m->inner);
	EVP_MD_CTX_free(m->outer);
	EVP_MD_CTX_free(m->work);
	free(m);
}

static int pad_state(EVP_MD_CTX *c, const uint8_t *key, uint8_t pad)
{
	uint8_t blk[BLOCK];
	int ok;

	memset(blk, pad, sizeof(blk));
	for (size_t i = 0; i < OCB_HDR_KEY_LEN; i++)
		blk[i] ^= key[i];
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(c, blk, sizeof(blk));
	OPENSSL_cleanse(blk, sizeof(blk));
	return ok ? 0 : -EIO;
}

int ocb_hdr_mac_new(const uint8_t key[OCB_HDR_KEY_LEN],
		    struct ocb_hdr_mac **out)
{
	struct ocb_hdr_mac *m = calloc(1, sizeof(*m));
	int r = -ENOMEM;

	if (!m)
		return r;
	m->inner = EVP_MD_CTX_new();
	m->outer = EVP_MD_CTX_new();
	m->work = EVP_MD_CTX_new();
	if (m->inner && m->outer && m->work) {
		r = pad_state(m->inner, key, 0x36);
		if (r == 0)
			r = pad_state(m->outer, key, 0x5c);
	}
	if (r < 0) {
		ocb_hdr_mac_free(m);
		return r;
	}
	*out = m;
	return 0;
}

int ocb_hdr_mac(struct ocb_hdr_mac *m, const void *p, size_t n,
		uint8_t out[OCB_HDR_MAC_LEN])
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;

	if (!EVP_MD_CTX_copy_ex(m->work, m->inner) ||
	    !EVP_DigestUpdate(m->work, p, n) ||
	    !EVP_DigestFinal_ex(m->work, h, &hl) ||
	    !EVP_MD_CTX_copy_ex(m->work, m->outer) ||
	    !EVP_DigestUpdate(m->work, h, hl) ||
	    !EVP_DigestFinal_ex(m->work, h, &hl))
		return -EIO;
	memcpy(out, h, OCB_HDR_MAC_LEN);
	return 0;
}
