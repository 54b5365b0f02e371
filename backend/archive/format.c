/*
 * format.c - header and trailer, byte by byte as docs/FORMAT.md says.
 */
#include "format.h"

#include <errno.h>
#include <string.h>

void ocb_header_encode(const struct ocb_header *h, uint8_t out[OCB_HEADER_SIZE])
{
	memset(out, 0, OCB_HEADER_SIZE);
	memcpy(out, OCB_HEADER_MAGIC, 8);
	ocb_put32(out + 8, h->version);
	ocb_put32(out + 12, OCB_HEADER_SIZE);
	memcpy(out + 16, h->backup_id, 16);
	ocb_put32(out + 32, h->frame_size);
	out[36] = h->key.type;
	out[38] = (uint8_t)h->key.wrapped_len;
	out[39] = (uint8_t)(h->key.wrapped_len >> 8);
	memcpy(out + 40, h->key.salt, 16);
	out[56] = h->key.log2_n;
	out[57] = h->key.r;
	out[58] = h->key.p;
	ocb_put64(out + 64, (uint64_t)h->created);
	memcpy(out + 72, h->key.wrapped, h->key.wrapped_len);
	/* bytes 72 + wrapped_len .. 511 stay zero */
}

int ocb_header_decode(const uint8_t in[OCB_HEADER_SIZE], struct ocb_header *h)
{
	struct ocb_header x;
	uint32_t wl;

	if (memcmp(in, OCB_HEADER_MAGIC, 8) != 0)
		return -EBADMSG;
	memset(&x, 0, sizeof(x));
	x.version = ocb_get32(in + 8);
	if (x.version < OCB_FORMAT_VERSION_MIN ||
	    x.version > OCB_FORMAT_VERSION)
		return -EPROTO;
	if (ocb_get32(in + 12) != OCB_HEADER_SIZE)
		return -EBADMSG;
	memcpy(x.backup_id, in + 16, 16);
	x.frame_size = ocb_get32(in + 32);
	if (x.frame_size < 4096 || x.frame_size > OCB_FRAME_SIZE_MAX)
		return -EBADMSG;
	x.key.type = in[36];
	if (x.key.type > OCB_KEY_KMS)
		return -EBADMSG;
	wl = (uint32_t)in[38] | (uint32_t)in[39] << 8;
	if (wl > OCB_WRAPPED_MAX || 72 + wl > OCB_HEADER_SIZE)
		return -EBADMSG;
	x.key.wrapped_len = (uint16_t)wl;
	memcpy(x.key.salt, in + 40, 16);
	x.key.log2_n = in[56];
	x.key.r = in[57];
	x.key.p = in[58];
	x.created = (int64_t)ocb_get64(in + 64);
	memcpy(x.key.wrapped, in + 72, wl);
	*h = x;
	return 0;
}

void ocb_trailer_encode(const struct ocb_trailer *t,
			uint8_t out[OCB_TRAILER_SIZE])
{
	memset(out, 0, OCB_TRAILER_SIZE);
	memcpy(out, OCB_TRAILER_MAGIC, 8);
	ocb_put32(out + 8, t->version);
	ocb_put32(out + 12, t->flags);
	ocb_put64(out + 16, t->catalog_off);
	ocb_put64(out + 24, t->catalog_len);
	ocb_put64(out + 32, t->catalog_plain_len);
	ocb_put64(out + 40, t->header_off);
	ocb_put64(out + 48, t->stream_size);
	ocb_put32(out + 56, t->nframes);
	/* 60..63: zero */
}

int ocb_trailer_decode(const uint8_t in[OCB_TRAILER_SIZE], uint64_t objsize,
		       struct ocb_trailer *t)
{
	struct ocb_trailer x;

	if (memcmp(in, OCB_TRAILER_MAGIC, 8) != 0)
		return -EBADMSG;
	x.version = ocb_get32(in + 8);
	if (x.version < OCB_FORMAT_VERSION_MIN ||
	    x.version > OCB_FORMAT_VERSION)
		return -EPROTO;
	x.flags = ocb_get32(in + 12);
	x.catalog_off = ocb_get64(in + 16);
	x.catalog_len = ocb_get64(in + 24);
	x.catalog_plain_len = ocb_get64(in + 32);
	x.header_off = ocb_get64(in + 40);
	x.stream_size = ocb_get64(in + 48);
	x.nframes = ocb_get32(in + 56);
	if (ocb_get32(in + 60) != 0 || x.flags != 0)
		return -EBADMSG;
	/* layout: header | frames | catalog | header copy | trailer */
	if (objsize < 2 * OCB_HEADER_SIZE + OCB_TRAILER_SIZE ||
	    x.header_off != objsize - OCB_TRAILER_SIZE - OCB_HEADER_SIZE ||
	    x.catalog_len < 16 || x.catalog_off < OCB_HEADER_SIZE ||
	    x.catalog_off > x.header_off ||
	    x.catalog_len != x.header_off - x.catalog_off ||
	    x.catalog_plain_len == 0 || x.catalog_plain_len > OCB_CATALOG_MAX ||
	    x.catalog_len > OCB_SEALED_BOUND(x.catalog_plain_len) ||
	    x.catalog_plain_len > x.catalog_len * OCB_CATALOG_RATIO +
				  OCB_CATALOG_SLACK)
		return -EBADMSG;
	*t = x;
	return 0;
}
