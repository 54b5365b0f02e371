/*
 * buf.h - growable byte buffer with a hard size cap.
 *
 * Every buffer filled from the network or the store is an ocb_buf with a
 * cap: appending past it fails with -EFBIG and leaves the buffer as it was.
 * The data is always followed by a NUL byte (not counted in len) so text
 * parsers can use it directly.
 */
#ifndef OCB_BUF_H
#define OCB_BUF_H

#include <stddef.h>

struct ocb_buf {
	char *data;	/* NULL until the first append */
	size_t len;
	size_t cap;	/* allocated bytes, excluding the NUL */
	size_t max;	/* hard cap on len */
};

/* Initialise an empty buffer that may grow to at most max bytes. */
void ocb_buf_init(struct ocb_buf *b, size_t max);
/* Append n bytes: 0, -EFBIG past the cap, -ENOMEM. */
int ocb_buf_append(struct ocb_buf *b, const void *p, size_t n);
/* Append formatted text: 0, -EFBIG, -ENOMEM. */
int ocb_buf_printf(struct ocb_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Make room for at least n more bytes: 0, -EFBIG, -ENOMEM. */
int ocb_buf_reserve(struct ocb_buf *b, size_t n);
/* Forget the contents, keep the allocation. */
void ocb_buf_reset(struct ocb_buf *b);
/* Free the contents; the buffer is empty and reusable afterwards. */
void ocb_buf_release(struct ocb_buf *b);
/* Same, zeroing the memory first (for buffers that held secrets). */
void ocb_buf_release_secret(struct ocb_buf *b);
/* n bytes for a large buffer that is filled whole and kept a while (a
 * pipeline's batches): from OCB_BUF_HUGE_MIN up, 2 MiB-aligned and
 * marked for transparent huge pages (those wholly inside it), so that
 * filling it faults once per 2 MiB, not once per 4 KiB page (measured: a
 * quarter of a full restore's time went to those faults); below, from
 * malloc (aligned allocations fragmented the heap).  free() it.  NULL
 * when out of memory. */
void *ocb_buf_big_alloc(size_t n);
/* The size from which ocb_buf_big_alloc marks huge pages, and the fixed
 * malloc mmap threshold both programs set (mallopt M_MMAP_THRESHOLD):
 * such buffers are mappings of their own, unmapped when freed.  Heap
 * memory marked so would stay marked after free(), and every later small
 * allocation there would fault in 2 MiB (a mount's peak RSS went 16-60
 * MiB past its bound so). */
#define OCB_BUF_HUGE_MIN (4u << 20)
/* Hand the data to the caller (free() it); *len gets the length. */
char *ocb_buf_detach(struct ocb_buf *b, size_t *len);

#endif
