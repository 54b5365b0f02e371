/*
 * ref_check.c - check that an object a catalog references is there and is
 * the object the catalog names (see ref_check.h).  The header every object
 * starts with is written identical to the copy a referencing catalog
 * holds, and it carries the backup id: a deleted, replaced or rolled-back
 * object shows here without reading its frames.
 */
#include "ref_check.h"
#include "format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct head_sink {
	uint8_t buf[OCB_HEADER_SIZE];
	size_t got;
};

static int head_sink_fn(void *arg, const void *data, size_t len)
{
	struct head_sink *h = arg;

	if (len > sizeof(h->buf) - h->got)
		return -EFBIG;	/* the store sent more than the range */
	memcpy(h->buf + h->got, data, len);
	h->got += len;
	return 0;
}

int ocb_ref_check(struct ocb_store *s, const char *prefix,
		  const struct ocb_catalog *c, uint32_t k)
{
	return ocb_ref_check_rec(s, prefix, &c->refs[k],
				 c->f + c->refs[k].first_frame);
}

int ocb_ref_check_rec(struct ocb_store *s, const char *prefix,
		      const struct ocb_ref_rec *ref,
		      const struct ocb_frame_rec *f)
{
	char key[OCB_KEY_MAX];
	struct ocb_get_req req = { .key = key, .len = OCB_HEADER_SIZE };
	struct head_sink hs = { .got = 0 };
	struct ocb_obj_head h = { 0 };
	uint64_t end = OCB_HEADER_SIZE;
	int r;

	if (ref->nframes) {
		const struct ocb_frame_rec *l = &f[ref->nframes - 1];

		if (l->off + l->sealed_len > end)
			end = l->off + l->sealed_len;
	}
	if (snprintf(key, sizeof(key), "%s/%s.ocb", prefix, ref->name) >=
	    (int)sizeof(key))
		return -ENAMETOOLONG;
	r = s->ops->get(s, &req, head_sink_fn, &hs, &h);
	ocb_obj_head_release(&h);
	if (r < 0)
		return r;
	if (hs.got != OCB_HEADER_SIZE || h.size < end ||
	    memcmp(hs.buf, ref->header, OCB_HEADER_SIZE))
		return -EBADMSG;
	return 0;
}
