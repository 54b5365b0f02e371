/*
 * gzip_index.c - gzip restart points: built in one pass, used for range reads.
 *
 * A point is (out, in, bits): output offset, offset of the first whole
 * compressed byte after the block boundary, and how many bits of the byte
 * before it belong to the next block.  Points sit at the last boundary at
 * or before each multiple of the span (see boundary()).  A window point also keeps the
 * 32 KiB (or less, near the start of a member) of output before it, which
 * zlib hands out through inflateGetDictionary(); it is stored compressed
 * with zstd.  A member point sits on a gzip header and needs no window.
 */
#include "gzip_index_i.h"
#include "buf.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define WINDOW 32768u
#define OUTBUF (256u * 1024)
#define MAX_POINTS (1u << 24)
#define ENC_MAGIC "OCBZRAN2"
#define REC 42

struct point {
	uint64_t out, in;
	uint64_t cover_out, cover_in;	/* the boundary after it that passed
					 * the multiple of span it serves:
					 * output up to cover_out needs input
					 * up to cover_in only */
	uint8_t bits;		/* window points: 0..7 */
	uint8_t member;		/* 1: a gzip header starts at in */
	uint32_t wlen;		/* window bytes (uncompressed) */
	uint32_t zlen;		/* bytes of w */
	uint8_t *w;		/* zstd-compressed window */
};

struct ocb_gzip_index {
	struct point *p;
	uint32_t n, cap;
	uint64_t out_size, in_size;
	size_t mem;
};

/* ---- points ----------------------------------------------------------- */

static int add_point(struct ocb_gzip_index *z, const struct point *pt,
		     const uint8_t *win)
{
	struct point *p;

	if (z->n == MAX_POINTS)
		return 0;	/* enough: farther apart from here on */
	if (z->n == z->cap) {
		uint32_t nc = z->cap ? z->cap * 2 : 64;
		struct point *np = realloc(z->p, nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		z->p = np;
		z->cap = nc;
	}
	p = &z->p[z->n];
	*p = *pt;
	p->w = NULL;
	p->zlen = 0;
	if (pt->wlen) {
		size_t bound = ZSTD_compressBound(pt->wlen), zl;

		p->w = malloc(bound);
		if (!p->w)
			return -ENOMEM;
		zl = ZSTD_compress(p->w, bound, win, pt->wlen, 1);
		if (ZSTD_isError(zl)) {
			free(p->w);
			return -EIO;
		}
		p->zlen = (uint32_t)zl;
		z->mem += zl;
	}
	z->mem += sizeof(*p);
	z->n++;
	return 0;
}

void ocb_gzip_index_free(struct ocb_gzip_index *z)
{
	uint32_t i;

	if (!z)
		return;
	for (i = 0; i < z->n; i++)
		free(z->p[i].w);
	free(z->p);
	free(z);
}

uint64_t ocb_gzip_index_out_size(const struct ocb_gzip_index *z) { return z->out_size; }
uint64_t ocb_gzip_index_in_size(const struct ocb_gzip_index *z) { return z->in_size; }
uint32_t ocb_gzip_index_npoints(const struct ocb_gzip_index *z) { return z->n; }
size_t ocb_gzip_index_mem(const struct ocb_gzip_index *z) { return z->mem + sizeof(*z); }

/* ---- building --------------------------------------------------------- */

struct ocb_gzip_index_build {
	z_stream s;
	int zinit;
	uint64_t span;
	ocb_gzip_index_src_fn src;
	void *arg;
	const uint8_t *in;	/* current chunk of input */
	size_t inlen;
	int in_eof;
	uint64_t totin, totout;	/* consumed / produced */
	uint64_t mark;		/* the next multiple of span to cover */
	struct point cand;	/* the latest boundary (cand_ok), kept until */
	int cand_ok;		/* a later one passes the mark */
	uint8_t *cwin;		/* its window */
	int state;		/* 0 in a member, 1 between members, 2 done */
	struct ocb_gzip_index *z;
	uint8_t *out;
	uint8_t *win;
	char err[160];
};

int ocb_gzip_index_build_new(uint64_t span, ocb_gzip_index_src_fn src, void *arg,
		       struct ocb_gzip_index_build **out)
{
	struct ocb_gzip_index_build *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->span = span ? span : OCB_ZRAN_SPAN_DEFAULT;
	b->src = src;
	b->arg = arg;
	b->z = calloc(1, sizeof(*b->z));
	b->out = malloc(OUTBUF);
	b->win = malloc(WINDOW);
	b->cwin = malloc(WINDOW);
	if (!b->z || !b->out || !b->win || !b->cwin ||
	    inflateInit2(&b->s, 15 + 16) != Z_OK) {
		ocb_gzip_index_build_free(b);
		return -ENOMEM;
	}
	b->zinit = 1;
	b->state = 1;	/* a member must start here */
	*out = b;
	return 0;
}

void ocb_gzip_index_build_free(struct ocb_gzip_index_build *b)
{
	if (!b)
		return;
	if (b->zinit)
		inflateEnd(&b->s);
	ocb_gzip_index_free(b->z);
	free(b->out);
	free(b->win);
	free(b->cwin);
	free(b);
}

const char *ocb_gzip_index_build_error(const struct ocb_gzip_index_build *b)
{
	return b->err;
}

uint64_t ocb_gzip_index_build_in(const struct ocb_gzip_index_build *b)
{
	return b->totin;
}

/*
 * A restart point is possible here (pt; its window in win, wlen bytes).
 * Points go at the last boundary at or before each multiple of span, so
 * a read of whole span-sized pieces starts at most one deflate block
 * early: each boundary is kept as a candidate until a later one passes the
 * next multiple; then the candidate becomes a point.
 */
static int boundary(struct ocb_gzip_index_build *b, struct point pt,
		    const uint8_t *win)
{
	const struct point *last = b->z->n ? &b->z->p[b->z->n - 1] : NULL;
	int r = 0;

	if (pt.out >= b->mark) {
		if (pt.out == b->mark || !b->cand_ok) {
			pt.cover_out = pt.out;
			pt.cover_in = pt.in;
			if (!last || (pt.out > last->out && pt.in > last->in))
				r = add_point(b->z, &pt, win);
			b->cand_ok = 0;
			b->mark = (pt.out / b->span + 1) * b->span;
			return r;
		}
		b->cand.cover_out = pt.out;
		b->cand.cover_in = pt.in;
		if (!last || (b->cand.out > last->out && b->cand.in > last->in))
			r = add_point(b->z, &b->cand, b->cwin);
		b->mark = (pt.out / b->span + 1) * b->span;
		if (r < 0)
			return r;
	}
	b->cand = pt;
	b->cand_ok = 1;
	if (pt.wlen)
		memcpy(b->cwin, win, pt.wlen);
	return 0;
}

/* more input into b->in: 1, 0 at its end, negative errno */
static int pull(struct ocb_gzip_index_build *b)
{
	const void *d;
	ssize_t n;

	if (b->inlen)
		return 1;
	if (b->in_eof)
		return 0;
	do
		n = b->src(b->arg, &d);
	while (n > 0 && d == NULL);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		b->in_eof = 1;
		return 0;
	}
	b->in = d;
	b->inlen = (size_t)n;
	return 1;
}

static ssize_t fail(struct ocb_gzip_index_build *b, const char *what)
{
	snprintf(b->err, sizeof(b->err), "%s at compressed byte %llu", what,
		 (unsigned long long)b->totin);
	b->state = 3;
	return -EBADMSG;
}

/* between members: another gzip header, the end, or trailing bytes */
static ssize_t next_member(struct ocb_gzip_index_build *b)
{
	int r = pull(b);

	if (r < 0)
		return r;
	if (r == 0) {
		if (b->z->n == 0)
			return fail(b, "empty input: not gzip data");
		b->state = 2;
		return 0;
	}
	if (b->in[0] != 0x1f || (b->inlen >= 2 && b->in[1] != 0x8b)) {
		if (b->z->n == 0)
			return fail(b, "not gzip data");
		ocb_warn("gzip: %llu bytes after the last member ignored",
			 (unsigned long long)b->inlen);
		b->state = 2;
		return 0;
	}
	if (b->totin && inflateReset2(&b->s, 15 + 16) != Z_OK)
		return -ENOMEM;
	{
		struct point pt = { .out = b->totout, .in = b->totin,
				    .member = 1 };

		r = boundary(b, pt, NULL);
		if (r < 0)
			return r;
	}
	b->state = 0;
	return 1;
}

ssize_t ocb_gzip_index_build_read(struct ocb_gzip_index_build *b, const void **data)
{
	size_t produced = 0;

	while (produced == 0) {
		size_t in0, out0;
		int zr, r;

		if (b->state == 2)
			return 0;
		if (b->state == 3)
			return -EBADMSG;
		if (b->state == 1) {
			ssize_t m = next_member(b);

			if (m <= 0)
				return m;
		}
		r = pull(b);
		if (r < 0)
			return r;
		if (r == 0)
			return fail(b, "truncated gzip data (the object ends "
				    "inside a member)");
		b->s.next_in = (Bytef *)b->in;
		b->s.avail_in = (uInt)(b->inlen > (1u << 30) ? (1u << 30) :
				       b->inlen);
		b->s.next_out = b->out + produced;
		b->s.avail_out = (uInt)(OUTBUF - produced);
		in0 = b->s.avail_in;
		out0 = b->s.avail_out;
		zr = inflate(&b->s, Z_BLOCK);
		b->in += in0 - b->s.avail_in;
		b->inlen -= in0 - b->s.avail_in;
		b->totin += in0 - b->s.avail_in;
		produced += out0 - b->s.avail_out;
		b->totout += out0 - b->s.avail_out;
		if (zr == Z_STREAM_END) {
			b->state = 1;
			continue;
		}
		if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT)
			return fail(b, b->s.msg && strstr(b->s.msg, "check") ?
				    "gzip checksum mismatch (corrupt data)" :
				    "corrupt gzip data");
		if (zr == Z_MEM_ERROR)
			return -ENOMEM;
		/* at a block boundary (not after the last block, nor right
		 * after the header): a window point may go here */
		if ((b->s.data_type & 128) && !(b->s.data_type & 64) &&
		    b->s.total_out) {
			struct point pt = { .out = b->totout, .in = b->totin,
					    .bits = (uint8_t)(b->s.data_type & 7) };
			uInt wl = WINDOW;

			if (inflateGetDictionary(&b->s, b->win, &wl) != Z_OK)
				return -EIO;
			pt.wlen = wl;
			r = boundary(b, pt, b->win);
			if (r < 0)
				return r;
		}
		if (produced == OUTBUF)
			break;
	}
	*data = b->out;
	return (ssize_t)produced;
}

int ocb_gzip_index_build_finish(struct ocb_gzip_index_build *b, struct ocb_gzip_index **out)
{
	if (b->state != 2)
		return -EINVAL;
	b->z->out_size = b->totout;
	b->z->in_size = b->totin;
	*out = b->z;
	b->z = NULL;
	return 0;
}

/* ---- reading ---------------------------------------------------------- */

struct ocb_gzip_index_reader {
	z_stream s;
	int zinit;
	const struct point *p;
	uint64_t pos;		/* output offset of the next byte inflated */
	uint64_t off, end;	/* wanted output */
	int need_prime;		/* the first byte holds bits of the block */
	int skip;		/* raw member ended: trailer bytes to skip */
	int raw;		/* inflating raw deflate (from a window point) */
	int failed;
	ocb_sink_fn sink;
	void *arg;
	uint8_t *out;
};

/* the last point at or before off */
static const struct point *point_at(const struct ocb_gzip_index *z, uint64_t off)
{
	uint32_t lo = 0, hi = z->n;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (z->p[mid].out <= off)
			lo = mid;
		else
			hi = mid;
	}
	return &z->p[lo];
}

static int set_window(struct ocb_gzip_index_reader *rd)
{
	uint8_t *w;
	size_t n;
	int r = 0;

	if (!rd->p->wlen)
		return 0;
	w = malloc(rd->p->wlen);
	if (!w)
		return -ENOMEM;
	n = ZSTD_decompress(w, rd->p->wlen, rd->p->w, rd->p->zlen);
	if (ZSTD_isError(n) || n != rd->p->wlen ||
	    inflateSetDictionary(&rd->s, w, rd->p->wlen) != Z_OK)
		r = -EBADMSG;
	free(w);
	return r;
}

int ocb_gzip_index_reader_new(const struct ocb_gzip_index *z, uint64_t off, uint64_t len,
			ocb_sink_fn sink, void *arg,
			struct ocb_gzip_index_reader **out, uint64_t *in_off,
			uint64_t *in_end)
{
	struct ocb_gzip_index_reader *rd;
	uint32_t i;
	int r;

	if (!z->n || off > z->out_size || len > z->out_size - off)
		return -EINVAL;
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->p = point_at(z, off);
	rd->pos = rd->p->out;
	rd->off = off;
	rd->end = off + len;
	rd->sink = sink;
	rd->arg = arg;
	rd->raw = !rd->p->member;
	rd->need_prime = rd->raw && rd->p->bits;
	rd->out = malloc(OUTBUF);
	if (!rd->out || inflateInit2(&rd->s, rd->raw ? -15 : 15 + 16) != Z_OK) {
		free(rd->out);
		free(rd);
		return -ENOMEM;
	}
	rd->zinit = 1;
	if (!rd->need_prime && rd->raw && (r = set_window(rd)) < 0) {
		ocb_gzip_index_reader_free(rd);
		return r;
	}
	*in_off = rd->p->in - (rd->need_prime ? 1 : 0);
	*in_end = z->in_size;
	i = (uint32_t)(rd->p - z->p);
	for (; i < z->n; i++) {
		if (z->p[i].out >= rd->end) {
			*in_end = z->p[i].in;
			break;
		}
		if (z->p[i].cover_out >= rd->end) {
			*in_end = z->p[i].cover_in;
			break;
		}
	}
	*out = rd;
	return 0;
}

void ocb_gzip_index_reader_free(struct ocb_gzip_index_reader *rd)
{
	if (!rd)
		return;
	if (rd->zinit)
		inflateEnd(&rd->s);
	free(rd->out);
	free(rd);
}

int ocb_gzip_index_reader_done(const struct ocb_gzip_index_reader *rd)
{
	return !rd->failed && rd->pos >= rd->end ? 0 : -EBADMSG;
}

/* hand the wanted part of out[0, n) (output offsets pos..pos+n) on */
static int emit(struct ocb_gzip_index_reader *rd, size_t n)
{
	uint64_t a = rd->pos, b = rd->pos + n;
	int r = 0;

	if (b > rd->off && a < rd->end) {
		uint64_t s = a > rd->off ? a : rd->off;
		uint64_t e = b < rd->end ? b : rd->end;

		r = rd->sink(rd->arg, rd->out + (s - a), (size_t)(e - s));
	}
	rd->pos = b;
	return r;
}

int ocb_gzip_index_reader_feed(struct ocb_gzip_index_reader *rd, const void *in,
			 size_t len)
{
	const uint8_t *p = in;
	int r;

	if (rd->failed)
		return -EBADMSG;
	if (rd->need_prime && len) {
		int bits = rd->p->bits;

		if (inflatePrime(&rd->s, bits, p[0] >> (8 - bits)) != Z_OK ||
		    set_window(rd) < 0) {
			rd->failed = 1;
			return -EBADMSG;
		}
		rd->need_prime = 0;
		p++;
		len--;
	}
	while (len && rd->pos < rd->end) {
		size_t in0, produced;
		int zr;

		if (rd->skip) {
			size_t k = len < (size_t)rd->skip ? len : (size_t)rd->skip;

			p += k;
			len -= k;
			rd->skip -= (int)k;
			if (rd->skip == 0 &&
			    inflateReset2(&rd->s, 15 + 16) != Z_OK) {
				rd->failed = 1;
				return -EBADMSG;
			}
			continue;
		}
		rd->s.next_in = (Bytef *)p;
		rd->s.avail_in = (uInt)(len > (1u << 30) ? (1u << 30) : len);
		rd->s.next_out = rd->out;
		rd->s.avail_out = OUTBUF;
		in0 = rd->s.avail_in;
		zr = inflate(&rd->s, Z_NO_FLUSH);
		p += in0 - rd->s.avail_in;
		len -= in0 - rd->s.avail_in;
		produced = OUTBUF - rd->s.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			rd->failed = 1;
			return -EBADMSG;
		}
		r = emit(rd, produced);
		if (r < 0)
			return r;
		if (zr == Z_STREAM_END) {
			/* a member ended: from raw inflate its 8-byte trailer
			 * is still ahead; then the next member's header */
			if (rd->raw) {
				rd->raw = 0;
				rd->skip = 8;
			} else if (inflateReset2(&rd->s, 15 + 16) != Z_OK) {
				rd->failed = 1;
				return -EBADMSG;
			}
		} else if (zr == Z_BUF_ERROR && produced == 0 && len) {
			rd->failed = 1;
			return -EBADMSG;
		}
	}
	return 0;
}

/* ---- serialisation -------------------------------------------------------
 * "OCBZRAN2", u64 out_size, u64 in_size, u32 n, then per point: u64 out,
 * u64 in, u8 bits, u8 member, u32 wlen, u32 zlen, u64 cover_out, u64
 * cover_in, zlen bytes.  Little endian. */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int ocb_gzip_index_encode(const struct ocb_gzip_index *z, struct ocb_buf *out)
{
	uint8_t h[28];
	uint32_t i;
	int r;

	memcpy(h, ENC_MAGIC, 8);
	put64(h + 8, z->out_size);
	put64(h + 16, z->in_size);
	h[24] = (uint8_t)z->n;
	h[25] = (uint8_t)(z->n >> 8);
	h[26] = (uint8_t)(z->n >> 16);
	h[27] = (uint8_t)(z->n >> 24);
	r = ocb_buf_append(out, h, sizeof(h));
	for (i = 0; r == 0 && i < z->n; i++) {
		const struct point *p = &z->p[i];
		uint8_t e[REC];

		put64(e, p->out);
		put64(e + 8, p->in);
		e[16] = p->bits;
		e[17] = p->member;
		memcpy(e + 18, &p->wlen, 4);
		memcpy(e + 22, &p->zlen, 4);
		put64(e + 26, p->cover_out);
		put64(e + 34, p->cover_in);
		r = ocb_buf_append(out, e, sizeof(e));
		if (r == 0 && p->zlen)
			r = ocb_buf_append(out, p->w, p->zlen);
	}
	return r;
}

int ocb_gzip_index_decode(const void *data, size_t len, struct ocb_gzip_index **out)
{
	const uint8_t *p = data, *end = p + len;
	struct ocb_gzip_index *z;
	uint32_t n, i;

	if (len < 28 || memcmp(p, ENC_MAGIC, 8) != 0)
		return -EBADMSG;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->out_size = get64(p + 8);
	z->in_size = get64(p + 16);
	n = (uint32_t)p[24] | (uint32_t)p[25] << 8 | (uint32_t)p[26] << 16 |
	    (uint32_t)p[27] << 24;
	p += 28;
	if (n == 0 || n > MAX_POINTS || n > (size_t)(end - p) / REC)
		goto bad;
	for (i = 0; i < n; i++) {
		struct point pt;
		uint8_t *w = NULL;

		if (end - p < REC)
			goto bad;
		pt.out = get64(p);
		pt.in = get64(p + 8);
		pt.bits = p[16];
		pt.member = p[17];
		memcpy(&pt.wlen, p + 18, 4);
		memcpy(&pt.zlen, p + 22, 4);
		pt.cover_out = get64(p + 26);
		pt.cover_in = get64(p + 34);
		p += REC;
		/* points ascend within the sizes; window points have a
		 * window, member points none */
		if (pt.bits > 7 || pt.member > 1 || pt.wlen > WINDOW ||
		    pt.out > z->out_size || pt.in > z->in_size ||
		    pt.cover_out < pt.out || pt.cover_in < pt.in ||
		    pt.cover_out > z->out_size || pt.cover_in > z->in_size ||
		    (i && (pt.out <= z->p[i - 1].out ||
			   pt.in <= z->p[i - 1].in)) ||
		    (i == 0 && (pt.out || pt.in || !pt.member)) ||
		    (pt.member && (pt.wlen || pt.bits)) ||
		    (!pt.member && pt.wlen && !pt.zlen) ||
		    pt.zlen > (size_t)(end - p) ||
		    (pt.wlen && pt.zlen > ZSTD_compressBound(pt.wlen)))
			goto bad;
		if (pt.wlen) {
			/* stored as given: decompressed (and checked) on use */
			struct point tmp = pt;

			tmp.wlen = 0;
			if (add_point(z, &tmp, NULL) < 0)
				goto bad;
			w = malloc(pt.zlen);
			if (!w)
				goto bad;
			memcpy(w, p, pt.zlen);
			z->p[z->n - 1].w = w;
			z->p[z->n - 1].wlen = pt.wlen;
			z->p[z->n - 1].zlen = pt.zlen;
			z->mem += pt.zlen;
		} else if (add_point(z, &pt, NULL) < 0) {
			goto bad;
		}
		p += pt.zlen;
	}
	if (p != end)
		goto bad;
	*out = z;
	return 0;
bad:
	ocb_gzip_index_free(z);
	return -EBADMSG;
}
