/*
 * multipart.h - the multipart uploader: streaming writer of one object over any store.
 *
 * Bytes written are buffered into parts.  If the whole object fits in one
 * part it is stored with a single put at commit; otherwise a multipart
 * upload is created when the first part is full and parts are uploaded in
 * the background, at most max_inflight at a time (write() blocks when that
 * many are pending), so memory stays at (max_inflight + 1) * part_size.
 * Nothing is visible under the key before ocb_multipart_commit() succeeds.
 */
#ifndef OCB_MULTIPART_H
#define OCB_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct ocb_multipart;

struct ocb_multipart_opts {
	size_t part_size;	/* 0: 8 MiB; at least 5 MiB for S3 */
	int max_inflight;	/* 0: 2 parts uploading at once */
};

/* Returns 0 or a negative errno; s must outlive the writer.  put is
 * copied, put->meta kept by reference: it is read when the multipart
 * upload is created, or at commit for a single put, so a change made
 * before then is stored with the object. */
int ocb_multipart_new(struct ocb_store *s, const char *key,
		   const struct ocb_put_opts *put,
		   const struct ocb_multipart_opts *wo, struct ocb_multipart **out);

/* Append n bytes.  After the first error every call returns it. */
int ocb_multipart_write(struct ocb_multipart *w, const void *p, size_t n);

/* Bytes written so far (the object offset of the next byte). */
uint64_t ocb_multipart_offset(const struct ocb_multipart *w);

/* Upload what remains and make the object visible.  0 or negative errno;
 * on error nothing is visible and the upload is aborted. */
int ocb_multipart_commit(struct ocb_multipart *w);

/* Free; an uncommitted upload is aborted (nothing partial stays). */
void ocb_multipart_free(struct ocb_multipart *w);

#endif
