/*
 * object_out_i.h - the two steps every writer of a backup object takes in
 * the same way: a frame sealed, written and recorded, and the object's end
 * (sealed catalog, header, trailer).  The archive writer and the rewriter
 * of repacked backups share them, so the object they write is one format.
 */
#ifndef OCB_OBJECT_OUT_I_H
#define OCB_OBJECT_OUT_I_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "format.h"
#include "multipart.h"

struct ZSTD_CCtx_s;

/* where an object goes and under which key */
struct ocb_object_out {
	struct ocb_multipart *w;
	const uint8_t *dk;		/* the data key */
	const struct ocb_header *hdr;	/* its backup id, and the header */
	struct ZSTD_CCtx_s *cctx;
	int level;			/* zstd */
	uint8_t *frame;			/* OCB_FRAME_SIZE: plaintext being filled */
	size_t frame_len;
	uint8_t *sealed;		/* ocb_frame_bound(OCB_FRAME_SIZE) */
	uint64_t obj_off;		/* bytes of the object so far */
	uint64_t frames_end;		/* where the frames end (at the end) */
	uint32_t nframes;		/* frames written */
};

/* n bytes of the physical stream: into frames, each sealed, written and
 * recorded in cat once full.  0 or a negative errno. */
int ocb_object_out_write(struct ocb_object_out *o, struct ocb_catb *cat,
			 const uint8_t *p, size_t n);

/* The object's end: the last frame if any, the catalog *cat encoded with
 * info (freed once encoded, *cat NULL), sealed with the trailer of
 * stored_size physical bytes, then the header and the trailer.  0 or a
 * negative errno. */
int ocb_object_out_end(struct ocb_object_out *o, struct ocb_catb **cat,
		       const struct ocb_catb_info *info, uint64_t stored_size);

#endif
