/*
 * buf.c - growable byte buffer with a hard size cap.
 */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/crypto.h>

#define HUGE_PAGE (2u << 20)

void *ocb_buf_big_alloc(size_t n)
{
	void *p;

	if (n < OCB_BUF_HUGE_MIN)
		return malloc(n);
	/* not rounded up: only the whole huge pages inside [p, p + n) are
	 * made huge, and the rest faults in 4 KiB pages, so a buffer costs
	 * what it holds (a fetch of 2.1 MiB rounded up touched 4 MiB: past
	 * a mount's bound with a dozen in flight) */
	if (posix_memalign(&p, HUGE_PAGE, n))
		return NULL;
	(void)madvise(p, n, MADV_HUGEPAGE);	/* a hint */
	return p;
}

void ocb_buf_init(struct ocb_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int ocb_buf_reserve(struct ocb_buf *b, size_t n)
{
	size_t want, ncap;
	char *p;

	if (n > b->max - b->len || b->len > b->max)
		return -EFBIG;
	want = b->len + n;
	if (b->data && want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	p = realloc(b->data, ncap + 1);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = ncap;
	b->data[b->len] = '\0';
	return 0;
}

int ocb_buf_append(struct ocb_buf *b, const void *p, size_t n)
{
	int r = ocb_buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int ocb_buf_printf(struct ocb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = ocb_buf_reserve(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void ocb_buf_reset(struct ocb_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void ocb_buf_release(struct ocb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void ocb_buf_release_secret(struct ocb_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap + 1);
	ocb_buf_release(b);
}

char *ocb_buf_detach(struct ocb_buf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	if (!p)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
