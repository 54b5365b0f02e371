/*
 * frame_i.h - sealing and opening frames and the catalog blob.
 *
 * A frame is up to frame_size bytes of the plaintext tar stream, zstd
 * compressed (or stored raw when that is not smaller) and sealed with
 * AES-256-GCM under the backup's data key:
 *   nonce = frame index (8 bytes LE) || 00 00 00 00
 *   aad   = "ocb-frm1" || backup id (16) || index (8) || plain length (4)
 *           || flags (4)
 * The catalog is sealed the same way with nonce = FF*8 || 01 00 00 00 and
 *   aad   = "ocb-cat1" || backup id || trailer (64) || header (512),
 * which authenticates the trailer and the header too.  Format 4's catalog
 * details (sealed before the catalog, its index, which records where they
 * lie) use nonce = FF*8 || 02 00 00 00 and
 *   aad   = "ocb-det1" || backup id || header (512) || their offset (8).
 */
#ifndef OCB_FRAME_I_H
#define OCB_FRAME_I_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define OCB_FRAME_ZSTD 1u	/* flags: payload is zstd-compressed */

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

/* Largest sealed size of a frame of len plaintext bytes. */
size_t ocb_frame_bound(size_t len);

/*
 * Compress (level) and seal len bytes of plain as frame index into out
 * (ocb_frame_bound(len) bytes).  *outlen gets the sealed size, *flags the
 * flags to record in the catalog.  cctx may be reused between calls.
 */
int ocb_frame_seal(const uint8_t *key, const uint8_t backup_id[16],
		   uint64_t index, struct ZSTD_CCtx_s *cctx, int level,
		   const void *plain, size_t len, void *out, size_t *outlen,
		   uint32_t *flags);

/*
 * Verify and decrypt a sealed frame (sealed_len bytes; modified in place)
 * and decompress it into out, which must hold plain_len bytes.  Returns 0
 * or -EBADMSG (tampered, wrong position, wrong backup, bad compression).
 */
int ocb_frame_open(const uint8_t *key, const uint8_t backup_id[16],
		   uint64_t index, struct ZSTD_DCtx_s *dctx, void *sealed,
		   size_t sealed_len, uint32_t plain_len, uint32_t flags,
		   void *out);

/* Seal a catalog blob (compressed inside): *out malloc'ed. */
int ocb_catalog_seal(const uint8_t *key, const uint8_t backup_id[16],
		     const uint8_t trailer[OCB_TRAILER_SIZE],
		     const uint8_t header[OCB_HEADER_SIZE], const void *plain,
		     size_t len, int level, uint8_t **out, size_t *outlen);

/* The compressed size the sealed catalog will have, needed before the
 * trailer (which is in its aad) can be written.  Compresses into *z. */
int ocb_catalog_compress(const void *plain, size_t len, int level,
			 uint8_t **z, size_t *zlen);
int ocb_catalog_seal_compressed(const uint8_t *key,
				const uint8_t backup_id[16],
				const uint8_t trailer[OCB_TRAILER_SIZE],
				const uint8_t header[OCB_HEADER_SIZE],
				uint8_t *z, size_t zlen);

/* Open a sealed catalog (modified in place); *plain malloc'ed, exactly
 * plain_len bytes: 0 or -EBADMSG. */
int ocb_catalog_open(const uint8_t *key, const uint8_t backup_id[16],
		     const uint8_t trailer[OCB_TRAILER_SIZE],
		     const uint8_t header[OCB_HEADER_SIZE], uint8_t *sealed,
		     size_t sealed_len, uint64_t plain_len, uint8_t **plain);

/* Format 4: seal compressed details in place (zlen + OCB_TAG_LEN bytes at
 * z), which lie at object offset off; open them (modified in place) into
 * *plain, malloc'ed, exactly plain_len bytes: 0 or -EBADMSG. */
int ocb_details_seal_compressed(const uint8_t *key,
				const uint8_t backup_id[16],
				const uint8_t header[OCB_HEADER_SIZE],
				uint64_t off, uint8_t *z, size_t zlen);
int ocb_details_open(const uint8_t *key, const uint8_t backup_id[16],
		     const uint8_t header[OCB_HEADER_SIZE], uint64_t off,
		     uint8_t *sealed, size_t sealed_len, uint64_t plain_len,
		     uint8_t **plain);

#endif
