/*
 * format.h - the fixed-size structures of a backup object (docs/FORMAT.md):
 * the 512-byte header (at the start, and a copy just before the trailer)
 * and the 64-byte trailer at the very end.  All integers little-endian.
 */
#ifndef OCB_FORMAT_H
#define OCB_FORMAT_H

#include <stdint.h>

#include "keys.h"

#define OCB_FORMAT_VERSION 4	/* written; 1 to 3 are still read */
#define OCB_FORMAT_VERSION_MIN 1
#define OCB_HEADER_SIZE 512
#define OCB_TRAILER_SIZE 64
#define OCB_FRAME_SIZE (1u << 20)	/* uncompressed bytes per frame */
#define OCB_FRAME_SIZE_MAX (16u << 20)
#define OCB_CATALOG_MAX (1024ull << 20)	/* decompressed catalog cap */
/* and relative to its sealed size: a real catalog compresses far less
 * than 1:1024 (every entry has its own indexes and name offset), a
 * hostile one ("catalog bomb") would ask for memory far beyond its size */
#define OCB_CATALOG_RATIO 1024u
#define OCB_CATALOG_SLACK (1ull << 20)
/* Largest sealed catalog for n plaintext bytes: well above zstd's bound
 * (n + n/256 + at most 64), plus the 16-byte tag.  Until the catalog is
 * authenticated this is what limits how much a trailer makes a reader fetch. */
#define OCB_SEALED_BOUND(n) ((n) + ((n) >> 7) + 65536 + 16)
#define OCB_HEADER_MAGIC "OCBACKUP"
#define OCB_TRAILER_MAGIC "OCBTRAIL"

struct ocb_header {
	uint32_t version;
	uint8_t backup_id[16];
	uint32_t frame_size;
	int64_t created;
	struct ocb_key_block key;
};

struct ocb_trailer {
	uint32_t version;
	uint32_t flags;
	uint64_t catalog_off;		/* sealed catalog: object offset */
	uint64_t catalog_len;		/* sealed length (with tag) */
	uint64_t catalog_plain_len;	/* decompressed length */
	uint64_t header_off;		/* the header copy */
	uint64_t stream_size;		/* plaintext tar stream bytes */
	uint32_t nframes;
};

void ocb_header_encode(const struct ocb_header *h, uint8_t out[OCB_HEADER_SIZE]);
/* 0, -EBADMSG (not a header), -EPROTO (unknown version). */
int ocb_header_decode(const uint8_t in[OCB_HEADER_SIZE], struct ocb_header *h);

void ocb_trailer_encode(const struct ocb_trailer *t,
			uint8_t out[OCB_TRAILER_SIZE]);
/* Decode and check every offset against objsize: 0, -EBADMSG, -EPROTO. */
int ocb_trailer_decode(const uint8_t in[OCB_TRAILER_SIZE], uint64_t objsize,
		       struct ocb_trailer *t);

/* little-endian helpers */
static inline void ocb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void ocb_put64(uint8_t *p, uint64_t v)
{
	ocb_put32(p, (uint32_t)v);
	ocb_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t ocb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t ocb_get64(const uint8_t *p)
{
	return (uint64_t)ocb_get32(p) | (uint64_t)ocb_get32(p + 4) << 32;
}

#endif
