/* test_gzip_index.c - gzip restart points: build, extract anywhere, encode,
 * several members, corrupt and truncated input. */
#include "t.h"
#include "buf.h"
#include "gzip_index_i.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#define PLAIN (12u << 20)

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* text-like bytes with repeats far and near, so back-references cross
 * restart points */
static void gen(uint8_t *p, size_t n)
{
	static const char *words[] = { "agent ", "memory ", "{\"id\": ", "42, ",
		"workspace/", "skill ", "\n", "token ", "state ", "log: " };
	size_t i = 0;

	while (i < n) {
		if (rnd() % 50 == 0 && i > 40000) {
			size_t from = i - 1 - rnd() % 32000, k = 20 + rnd() % 200;

			for (; k-- && i < n; i++, from++)
				p[i] = p[from];
		} else if (rnd() % 20 == 0) {
			p[i++] = (uint8_t)rnd();
		} else {
			const char *w = words[rnd() % 10];

			for (; *w && i < n; w++)
				p[i++] = (uint8_t)*w;
		}
	}
}

/* gzip members, one per slice of the input */
static size_t gz(const uint8_t *in, size_t n, int members, uint8_t *out,
		 size_t cap)
{
	size_t o = 0, per = n / (size_t)members;

	for (int m = 0; m < members; m++) {
		z_stream s = { 0 };
		size_t len = m == members - 1 ? n - per * (size_t)m : per;

		deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
		s.next_in = (Bytef *)in + per * (size_t)m;
		s.avail_in = (uInt)len;
		s.next_out = out + o;
		s.avail_out = (uInt)(cap - o);
		deflate(&s, Z_FINISH);
		o += s.total_out;
		deflateEnd(&s);
	}
	return o;
}

struct src {
	const uint8_t *p;
	size_t n, at;
};

static ssize_t src_fn(void *arg, const void **data)
{
	struct src *s = arg;
	size_t k = 1 + rnd() % 300000;

	if (k > s->n - s->at)
		k = s->n - s->at;
	*data = s->p + s->at;
	s->at += k;
	return (ssize_t)k;
}

static int build(const uint8_t *z, size_t zn, struct ocb_gzip_index **out,
		 struct ocb_buf *plain)
{
	struct src s = { z, zn, 0 };
	struct ocb_gzip_index_build *b;
	const void *d;
	ssize_t n;
	int r;

	if (ocb_gzip_index_build_new(1u << 20, src_fn, &s, &b) < 0)
		return -ENOMEM;
	while ((n = ocb_gzip_index_build_read(b, &d)) > 0)
		if (plain)
			ocb_buf_append(plain, d, (size_t)n);
	r = n < 0 ? (int)n : ocb_gzip_index_build_finish(b, out);
	ocb_gzip_index_build_free(b);
	return r;
}

static int sink(void *arg, const void *p, size_t n)
{
	return ocb_buf_append(arg, p, n);
}

/* extract [off, off+len) feeding the range in random pieces */
static int extract(const struct ocb_gzip_index *zr, const uint8_t *z, uint64_t off,
		   uint64_t len, struct ocb_buf *out, uint64_t *fetched)
{
	struct ocb_gzip_index_reader *rd;
	uint64_t a, e;
	int r = ocb_gzip_index_reader_new(zr, off, len, sink, out, &rd, &a, &e);

	if (r < 0)
		return r;
	*fetched = e - a;
	while (a < e && r == 0) {
		uint64_t k = 1 + rnd() % 100000;

		if (k > e - a)
			k = e - a;
		r = ocb_gzip_index_reader_feed(rd, z + a, k);
		a += k;
	}
	if (r == 0)
		r = ocb_gzip_index_reader_done(rd);
	ocb_gzip_index_reader_free(rd);
	return r;
}

static void check_random_reads(const struct ocb_gzip_index *zr, const uint8_t *z,
			       const uint8_t *plain)
{
	for (int i = 0; i < 60; i++) {
		uint64_t off = rnd() % PLAIN, len = 1 + rnd() % (3u << 20), f;
		struct ocb_buf out;

		if (i == 0)
			off = 0;
		if (i == 1)
			off = PLAIN - 1;
		if (off + len > PLAIN)
			len = PLAIN - off;
		ocb_buf_init(&out, 8u << 20);
		CHECK_INT(extract(zr, z, off, len, &out, &f), 0);
		CHECK_INT(out.len, len);
		CHECK(out.len == len && memcmp(out.data, plain + off, len) == 0);
		/* about one span before the wanted bytes at most */
		CHECK(f <= len + (3u << 20));
		ocb_buf_release(&out);
	}
}

int main(void)
{
	uint8_t *plain = malloc(PLAIN), *z = malloc(PLAIN + 65536), *bad;
	struct ocb_gzip_index *zr = NULL, *zr2 = NULL;
	struct ocb_buf all, enc;
	size_t zn;
	uint64_t f;

	gen(plain, PLAIN);
	for (int members = 1; members <= 3; members += 2) {
		zn = gz(plain, PLAIN, members, z, PLAIN + 65536);
		ocb_buf_init(&all, PLAIN + 1);
		CHECK_INT(build(z, zn, &zr, &all), 0);
		CHECK(all.len == PLAIN && memcmp(all.data, plain, PLAIN) == 0);
		ocb_buf_release(&all);
		CHECK_INT(ocb_gzip_index_out_size(zr), PLAIN);
		CHECK_INT(ocb_gzip_index_in_size(zr), zn);
		CHECK(ocb_gzip_index_npoints(zr) >= 8);
		check_random_reads(zr, z, plain);
		/* a whole aligned span: from at most one deflate block before
		 * it to about its end (this data compresses about 3:1) */
		for (uint64_t k = 0; k + 1 < PLAIN >> 20; k++) {
			struct ocb_buf out;

			ocb_buf_init(&out, 2u << 20);
			CHECK_INT(extract(zr, z, k << 20, 1u << 20, &out, &f), 0);
			CHECK(f < (1u << 20) / 2);
			ocb_buf_release(&out);
		}

		/* through its bytes and back */
		ocb_buf_init(&enc, 64u << 20);
		CHECK_INT(ocb_gzip_index_encode(zr, &enc), 0);
		CHECK_INT(ocb_gzip_index_decode(enc.data, enc.len, &zr2), 0);
		check_random_reads(zr2, z, plain);
		enc.data[enc.len / 2] ^= 1;	/* inside a window or a header */
		{
			struct ocb_gzip_index *z3 = NULL;
			int r = ocb_gzip_index_decode(enc.data, enc.len - 1, &z3);

			CHECK_INT(r, -EBADMSG);
		}
		ocb_buf_release(&enc);
		ocb_gzip_index_free(zr2);
		ocb_gzip_index_free(zr);
		zr = zr2 = NULL;
	}

	/* trailing zeros after the last member are ignored */
	zn = gz(plain, PLAIN, 1, z, PLAIN + 65536);
	memset(z + zn, 0, 1024);
	CHECK_INT(build(z, zn + 1024, &zr, NULL), 0);
	CHECK_INT(ocb_gzip_index_in_size(zr), zn);
	ocb_gzip_index_free(zr);
	zr = NULL;

	/* corrupt in the middle, truncated, not gzip */
	bad = malloc(zn);
	memcpy(bad, z, zn);
	bad[zn / 2] ^= 0x55;
	CHECK_INT(build(bad, zn, &zr, NULL), -EBADMSG);
	CHECK_INT(build(z, zn - 1000, &zr, NULL), -EBADMSG);
	CHECK_INT(build(z, 9, &zr, NULL), -EBADMSG);
	CHECK_INT(build(plain, 5000, &zr, NULL), -EBADMSG);
	CHECK_INT(build(z, 0, &zr, NULL), -EBADMSG);
	/* a corrupt byte inside a range read: an error, not wrong bytes */
	CHECK_INT(build(z, zn, &zr, NULL), 0);
	{
		struct ocb_buf out;
		int r;

		ocb_buf_init(&out, 8u << 20);
		r = extract(zr, bad, PLAIN / 2 - 100000, 200000, &out, &f);
		CHECK(r == -EBADMSG || (out.len == 200000 &&
			memcmp(out.data, plain + PLAIN / 2 - 100000, 200000)));
		ocb_buf_release(&out);
		CHECK_INT(ocb_gzip_index_reader_new(zr, PLAIN, 1, sink, &out,
					      NULL, &f, &f), -EINVAL);
	}
	ocb_gzip_index_free(zr);
	free(bad);
	free(plain);
	free(z);
	return T_DONE();
}
