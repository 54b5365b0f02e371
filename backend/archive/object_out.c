/*
 * object_out.c - a backup object's frames and end (the catalog's details,
 * its index, the header copy and the trailer), written as every writer
 * writes them (object_out_i.h).
 */
#include "object_out_i.h"
#include "frame_i.h"

#include <stdlib.h>
#include <string.h>

/* the frame filled so far, sealed, written and recorded */
static int flush(struct ocb_object_out *o, struct ocb_catb *cat)
{
	struct ocb_frame_rec f = { .off = o->obj_off };
	size_t sealed_len, len = o->frame_len;
	uint32_t flags;
	int r;

	if (!len)
		return 0;
	r = ocb_frame_seal(o->dk, o->hdr->backup_id, o->nframes, o->cctx,
			   o->level, o->frame, len, o->sealed, &sealed_len,
			   &flags);
	if (r == 0)
		r = ocb_multipart_write(o->w, o->sealed, sealed_len);
	f.sealed_len = (uint32_t)sealed_len;
	f.plain_len = (uint32_t)len;
	f.flags = flags;
	if (r == 0)
		r = ocb_catb_add_frame(cat, &f);
	if (r < 0)
		return r;
	o->obj_off += sealed_len;
	o->nframes++;
	o->frame_len = 0;
	return 0;
}

int ocb_object_out_write(struct ocb_object_out *o, struct ocb_catb *cat,
			 const uint8_t *p, size_t n)
{
	int r = 0;

	while (r == 0 && n) {
		size_t room = OCB_FRAME_SIZE - o->frame_len;

		if (room > n)
			room = n;
		memcpy(o->frame + o->frame_len, p, room);
		o->frame_len += room;
		p += room;
		n -= room;
		if (o->frame_len == OCB_FRAME_SIZE)
			r = flush(o, cat);
	}
	return r;
}

/* format 4's catalog details, compressed, sealed and written where the
 * frames end; ci records where they lie for the index */
static int write_details(struct ocb_object_out *o, struct ocb_catb *cat,
			 struct ocb_catb_info *ci, const uint8_t *hbuf)
{
	uint8_t *z = NULL;
	uint64_t plain_len = 0;
	size_t zlen = 0;
	int r;

	ci->details = 1;
	r = ocb_catb_encode_zstd(cat, ci, o->level, OCB_TAG_LEN, &z, &zlen,
				 &plain_len);
	ci->details = 0;
	if (r == 0)
		r = ocb_details_seal_compressed(o->dk, o->hdr->backup_id, hbuf,
						o->obj_off, z, zlen);
	if (r == 0)
		r = ocb_multipart_write(o->w, z, zlen + OCB_TAG_LEN);
	if (r == 0) {
		ci->details_off = o->obj_off;
		ci->details_len = zlen + OCB_TAG_LEN;
		ci->details_plain = plain_len;
		o->obj_off += ci->details_len;
	}
	free(z);
	return r;
}

int ocb_object_out_end(struct ocb_object_out *o, struct ocb_catb **cat,
		       const struct ocb_catb_info *info, uint64_t stored_size)
{
	struct ocb_trailer t = { .version = OCB_FORMAT_VERSION };
	struct ocb_catb_info ci = *info;
	uint8_t hbuf[OCB_HEADER_SIZE], tbuf[OCB_TRAILER_SIZE];
	uint8_t *z = NULL;
	uint64_t plain_len = 0;
	size_t zlen = 0;
	int r = flush(o, *cat);

	if (r < 0)
		return r;
	o->frames_end = o->obj_off;
	ocb_header_encode(o->hdr, hbuf);
	ci.version = OCB_CATALOG_VERSION;
	r = write_details(o, *cat, &ci, hbuf);
	/* the index, compressed while encoded; the builder is not needed
	 * afterwards */
	if (r == 0)
		r = ocb_catb_encode_zstd(*cat, &ci, o->level, OCB_TAG_LEN, &z,
					 &zlen, &plain_len);
	ocb_catb_free(*cat);
	*cat = NULL;
	if (r < 0)
		return r;
	t.catalog_off = o->obj_off;
	t.catalog_len = zlen + OCB_TAG_LEN;
	t.catalog_plain_len = plain_len;
	t.header_off = o->obj_off + t.catalog_len;
	t.stream_size = stored_size;
	t.nframes = o->nframes;
	ocb_trailer_encode(&t, tbuf);
	r = ocb_catalog_seal_compressed(o->dk, o->hdr->backup_id, tbuf, hbuf,
					z, zlen);
	if (r == 0)
		r = ocb_multipart_write(o->w, z, t.catalog_len);
	if (r == 0)
		r = ocb_multipart_write(o->w, hbuf, sizeof(hbuf));
	if (r == 0)
		r = ocb_multipart_write(o->w, tbuf, sizeof(tbuf));
	o->obj_off += t.catalog_len + sizeof(hbuf) + sizeof(tbuf);
	free(z);
	return r;
}
