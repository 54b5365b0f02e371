/*
 * frame.c - zstd + AES-256-GCM for frames and the catalog (format 4:
 * its index and its details).
 */
#include "frame_i.h"
#include "crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

size_t ocb_frame_bound(size_t len)
{
	return ZSTD_compressBound(len) + OCB_TAG_LEN;
}

static void frame_nonce(uint64_t index, uint8_t nonce[OCB_NONCE_LEN])
{
	ocb_put64(nonce, index);
	ocb_put32(nonce + 8, 0);
}

static void frame_aad(const uint8_t backup_id[16], uint64_t index,
		      uint32_t plain_len, uint32_t flags, uint8_t aad[40])
{
	memcpy(aad, "ocb-frm1", 8);
	memcpy(aad + 8, backup_id, 16);
	ocb_put64(aad + 24, index);
	ocb_put32(aad + 32, plain_len);
	ocb_put32(aad + 36, flags);
}

int ocb_frame_seal(const uint8_t *key, const uint8_t backup_id[16],
		   uint64_t index, ZSTD_CCtx *cctx, int level,
		   const void *plain, size_t len, void *out, size_t *outlen,
		   uint32_t *flags)
{
	uint8_t nonce[OCB_NONCE_LEN], aad[40];
	size_t z;
	uint32_t fl = 0;
	int r;

	z = ZSTD_compressCCtx(cctx, out, ZSTD_compressBound(len), plain, len,
			      level);
	if (ZSTD_isError(z) || z >= len) {
		memcpy(out, plain, len);	/* incompressible: raw */
		z = len;
	} else {
		fl = OCB_FRAME_ZSTD;
	}
	frame_nonce(index, nonce);
	frame_aad(backup_id, index, (uint32_t)len, fl, aad);
	r = ocb_crypto_seal(key, nonce, aad, sizeof(aad), out, z, out);
	if (r < 0)
		return r;
	*outlen = z + OCB_TAG_LEN;
	*flags = fl;
	return 0;
}

int ocb_frame_open(const uint8_t *key, const uint8_t backup_id[16],
		   uint64_t index, ZSTD_DCtx *dctx, void *sealed,
		   size_t sealed_len, uint32_t plain_len, uint32_t flags,
		   void *out)
{
	uint8_t nonce[OCB_NONCE_LEN], aad[40];
	size_t n;
	int r;

	if (sealed_len < OCB_TAG_LEN || (flags & ~OCB_FRAME_ZSTD))
		return -EBADMSG;
	n = sealed_len - OCB_TAG_LEN;
	frame_nonce(index, nonce);
	frame_aad(backup_id, index, plain_len, flags, aad);
	r = ocb_crypto_open(key, nonce, aad, sizeof(aad), sealed, n, sealed);
	if (r < 0)
		return -EBADMSG;
	if (!(flags & OCB_FRAME_ZSTD)) {
		if (n != plain_len)
			return -EBADMSG;
		memcpy(out, sealed, n);
		return 0;
	}
	n = ZSTD_decompressDCtx(dctx, out, plain_len, sealed, n);
	if (ZSTD_isError(n) || n != plain_len)
		return -EBADMSG;
	return 0;
}

static void catalog_nonce_aad(const uint8_t backup_id[16],
			      const uint8_t trailer[OCB_TRAILER_SIZE],
			      const uint8_t header[OCB_HEADER_SIZE],
			      uint8_t nonce[OCB_NONCE_LEN], uint8_t *aad)
{
	memset(nonce, 0xff, 8);
	ocb_put32(nonce + 8, 1);
	memcpy(aad, "ocb-cat1", 8);
	memcpy(aad + 8, backup_id, 16);
	memcpy(aad + 24, trailer, OCB_TRAILER_SIZE);
	memcpy(aad + 24 + OCB_TRAILER_SIZE, header, OCB_HEADER_SIZE);
}

#define CAT_AAD_LEN (24 + OCB_TRAILER_SIZE + OCB_HEADER_SIZE)

int ocb_catalog_compress(const void *plain, size_t len, int level,
			 uint8_t **z, size_t *zlen)
{
	size_t bound = ZSTD_compressBound(len), n;
	uint8_t *buf = malloc(bound + OCB_TAG_LEN);

	if (!buf)
		return -ENOMEM;
	n = ZSTD_compress(buf, bound, plain, len, level);
	if (ZSTD_isError(n)) {
		free(buf);
		return -EIO;
	}
	*z = buf;
	*zlen = n;
	return 0;
}

int ocb_catalog_seal_compressed(const uint8_t *key,
				const uint8_t backup_id[16],
				const uint8_t trailer[OCB_TRAILER_SIZE],
				const uint8_t header[OCB_HEADER_SIZE],
				uint8_t *z, size_t zlen)
{
	uint8_t nonce[OCB_NONCE_LEN], aad[CAT_AAD_LEN];

	catalog_nonce_aad(backup_id, trailer, header, nonce, aad);
	return ocb_crypto_seal(key, nonce, aad, sizeof(aad), z, zlen, z);
}

int ocb_catalog_seal(const uint8_t *key, const uint8_t backup_id[16],
		     const uint8_t trailer[OCB_TRAILER_SIZE],
		     const uint8_t header[OCB_HEADER_SIZE], const void *plain,
		     size_t len, int level, uint8_t **out, size_t *outlen)
{
	uint8_t *z;
	size_t zlen;
	int r = ocb_catalog_compress(plain, len, level, &z, &zlen);

	if (r < 0)
		return r;
	r = ocb_catalog_seal_compressed(key, backup_id, trailer, header, z,
					zlen);
	if (r < 0) {
		free(z);
		return r;
	}
	*out = z;
	*outlen = zlen + OCB_TAG_LEN;
	return 0;
}

/* open a sealed catalog part (in place) and decompress it: exactly
 * plain_len bytes, which zstd's frame header must record */
static int blob_open(const uint8_t *key, const uint8_t nonce[OCB_NONCE_LEN],
		     const uint8_t *aad, size_t aad_len, uint8_t *sealed,
		     size_t sealed_len, uint64_t plain_len, uint8_t **plain)
{
	uint8_t *out;
	size_t n;

	if (sealed_len < OCB_TAG_LEN || plain_len > OCB_CATALOG_MAX)
		return -EBADMSG;
	if (ocb_crypto_open(key, nonce, aad, aad_len, sealed,
			    sealed_len - OCB_TAG_LEN, sealed) < 0)
		return -EBADMSG;
	/* the content size zstd records must match the authenticated one */
	if (ZSTD_getFrameContentSize(sealed, sealed_len - OCB_TAG_LEN) !=
	    plain_len)
		return -EBADMSG;
	out = malloc(plain_len ? plain_len : 1);
	if (!out)
		return -ENOMEM;
	n = ZSTD_decompress(out, plain_len, sealed, sealed_len - OCB_TAG_LEN);
	if (ZSTD_isError(n) || n != plain_len) {
		free(out);
		return -EBADMSG;
	}
	*plain = out;
	return 0;
}

int ocb_catalog_open(const uint8_t *key, const uint8_t backup_id[16],
		     const uint8_t trailer[OCB_TRAILER_SIZE],
		     const uint8_t header[OCB_HEADER_SIZE], uint8_t *sealed,
		     size_t sealed_len, uint64_t plain_len, uint8_t **plain)
{
	uint8_t nonce[OCB_NONCE_LEN], aad[CAT_AAD_LEN];

	catalog_nonce_aad(backup_id, trailer, header, nonce, aad);
	return blob_open(key, nonce, aad, sizeof(aad), sealed, sealed_len,
			 plain_len, plain);
}

#define DET_AAD_LEN (24 + OCB_HEADER_SIZE + 8)

/* format 4's details: their own nonce, bound to the backup, its header
 * and their place (the index, sealed after them, binds the trailer) */
static void details_nonce_aad(const uint8_t backup_id[16],
			      const uint8_t header[OCB_HEADER_SIZE],
			      uint64_t off, uint8_t nonce[OCB_NONCE_LEN],
			      uint8_t *aad)
{
	memset(nonce, 0xff, 8);
	ocb_put32(nonce + 8, 2);
	memcpy(aad, "ocb-det1", 8);
	memcpy(aad + 8, backup_id, 16);
	memcpy(aad + 24, header, OCB_HEADER_SIZE);
	ocb_put64(aad + 24 + OCB_HEADER_SIZE, off);
}

int ocb_details_seal_compressed(const uint8_t *key,
				const uint8_t backup_id[16],
				const uint8_t header[OCB_HEADER_SIZE],
				uint64_t off, uint8_t *z, size_t zlen)
{
	uint8_t nonce[OCB_NONCE_LEN], aad[DET_AAD_LEN];

	details_nonce_aad(backup_id, header, off, nonce, aad);
	return ocb_crypto_seal(key, nonce, aad, sizeof(aad), z, zlen, z);
}

int ocb_details_open(const uint8_t *key, const uint8_t backup_id[16],
		     const uint8_t header[OCB_HEADER_SIZE], uint64_t off,
		     uint8_t *sealed, size_t sealed_len, uint64_t plain_len,
		     uint8_t **plain)
{
	uint8_t nonce[OCB_NONCE_LEN], aad[DET_AAD_LEN];

	details_nonce_aad(backup_id, header, off, nonce, aad);
	return blob_open(key, nonce, aad, sizeof(aad), sealed, sealed_len,
			 plain_len, plain);
}
