/* libFuzzer target: the gzip index (gzip_index.c) on hostile input.  The input
 * is read as a gzip stream: building the index must fail cleanly or give
 * restart points from which every range extracts exactly the bytes the
 * one-pass build produced.  It is also read as an encoded index (as from
 * a damaged disk cache): decoding must refuse it or give an index that
 * extraction uses without reading out of bounds. */
#include "buf.h"
#include "gzip_index_i.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (4u << 20)

struct src {
	const uint8_t *p;
	size_t n, at;
};

static ssize_t src_fn(void *arg, const void **d)
{
	struct src *s = arg;
	size_t k = s->n - s->at < 7 ? s->n - s->at : 7;	/* tiny chunks */

	*d = s->p + s->at;
	s->at += k;
	return (ssize_t)k;
}

static int sink(void *arg, const void *p, size_t n)
{
	return ocb_buf_append(arg, p, n);
}

static int extract(const struct ocb_gzip_index *z, const uint8_t *in, size_t inlen,
		   uint64_t off, uint64_t len, struct ocb_buf *out)
{
	struct ocb_gzip_index_reader *rd;
	uint64_t a, e;
	int r = ocb_gzip_index_reader_new(z, off, len, sink, out, &rd, &a, &e);

	if (r < 0)
		return r;
	if (a > inlen || e > inlen || a > e)
		__builtin_trap();	/* ranges stay inside what was indexed */
	r = ocb_gzip_index_reader_feed(rd, in + a, (size_t)(e - a));
	if (r == 0)
		r = ocb_gzip_index_reader_done(rd);
	ocb_gzip_index_reader_free(rd);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = { data, size, 0 };
	struct ocb_gzip_index_build *b;
	struct ocb_gzip_index *z = NULL;
	struct ocb_buf all, part;
	const void *d;
	ssize_t n = 0;

	ocb_buf_init(&all, OUT_MAX);
	if (ocb_gzip_index_build_new(512, src_fn, &s, &b) == 0) {
		while ((n = ocb_gzip_index_build_read(b, &d)) > 0)
			if (ocb_buf_append(&all, d, (size_t)n) < 0)
				break;
		if (n == 0 && ocb_gzip_index_build_finish(b, &z) == 0) {
			uint64_t out = ocb_gzip_index_out_size(z);

			if (out != all.len)
				__builtin_trap();
			for (int i = 0; i < 4 && out; i++) {
				uint64_t off = (out * (uint64_t)i) / 4;
				uint64_t len = out - off < 3000 ? out - off : 3000;

				ocb_buf_init(&part, OUT_MAX);
				if (extract(z, data, size, off, len, &part) != 0 ||
				    part.len != len ||
				    memcmp(part.data, all.data + off, len) != 0)
					__builtin_trap();
				ocb_buf_release(&part);
			}
			ocb_gzip_index_free(z);
			z = NULL;
		}
		ocb_gzip_index_build_free(b);
	}
	ocb_buf_release(&all);

	if (ocb_gzip_index_decode(data, size, &z) == 0) {
		uint64_t out = ocb_gzip_index_out_size(z);

		ocb_buf_init(&part, OUT_MAX);
		if (out)
			extract(z, data, size, out / 2, out - out / 2 < 1000 ?
				out - out / 2 : 1000, &part);
		ocb_buf_release(&part);
		ocb_gzip_index_free(z);
	}
	return 0;
}
