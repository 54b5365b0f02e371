/* Unit tests: the catalog decoder against hand-made hostile catalogs, one
 * rule at a time, and a 200,000-entry catalog (docs/FORMAT.md, "Catalog"). */
#include "t.h"
#include "catalog.h"
#include "format.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* the plaintext layout of FORMAT.md (the rule-by-rule tests below use a
 * format 2 catalog; format 3's own tables have tests of their own) */
#define HDR 112
#define ENT 128
#define XAT 24
#define FRM 24
#define E(i) (HDR + (size_t)(i) * ENT)

enum { F_PARENT = 0, F_TYPE = 4, F_MODE = 8, F_INO = 24, F_FIRST = 28,
       F_NKIDS = 32, F_XFIRST = 36, F_NX = 40, F_NSEC = 44, F_SIZE = 56,
       F_DOFF = 64, F_NAMEOFF = 72, F_NAMELEN = 76, F_TOFF = 80,
       F_TLEN = 84 };

/*
 * root/{a/{xx, yy (hardlink of xx)}, b/{zz}, l -> "a"}, breadth first:
 *   0 root, 1 a, 2 b, 3 l, 4 xx, 5 yy, 6 zz
 */
static uint8_t *blob0;
static size_t len0;

static int build(void)
{
	struct ocb_catb *b;
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK };
	struct ocb_frame_rec f = { .off = 512, .sealed_len = 900,
				   .plain_len = 4096 };
	struct ocb_catb_info info = { .name = "n", .instance = "i",
				      .host = "h", .label = "",
				      .key_provider = "none",
				      .prefix = "p/instance-i",
				      .warnings = 2,
				      .frame_size = OCB_FRAME_SIZE,
				      .stream_size = 4096, .version = 2 };
	const char *xn[] = { "user.k" };
	const void *xv[] = { "v" };
	size_t xl[] = { 1 };
	uint32_t a, bb, xx, s;
	int r;

	if (ocb_catb_new(&b) < 0)
		return -1;
	e.name = "a"; e.type = OCB_ENTRY_DIR; e.mode = S_IFDIR | 0755;
	r = ocb_catb_add(b, &e, &a);
	e.name = "b";
	r |= ocb_catb_add(b, &e, &bb);
	e.name = "l"; e.type = OCB_ENTRY_SYMLINK; e.mode = S_IFLNK | 0777;
	e.target = "a";
	r |= ocb_catb_add(b, &e, &s);
	e.target = NULL;
	e.parent = a; e.name = "xx"; e.type = OCB_ENTRY_FILE;
	e.mode = S_IFREG | 0644; e.size = 10; e.data_off = 512;
	e.nxattrs = 1; e.xnames = xn; e.xvalues = xv; e.xlens = xl;
	r |= ocb_catb_add(b, &e, &xx);
	ocb_catb_set_flags(b, xx, OCB_ENTRY_TORN);
	e.name = "yy"; e.link_to = xx; e.nxattrs = 0; e.size = 0;
	r |= ocb_catb_add(b, &e, &s);
	e.parent = bb; e.name = "zz"; e.link_to = OCB_NOLINK; e.size = 3;
	e.data_off = 2048;
	r |= ocb_catb_add(b, &e, &s);
	ocb_catb_set_flags(b, s, OCB_ENTRY_SQLITE_SNAPSHOT |
			   OCB_ENTRY_SQLITE_RAW);
	r |= ocb_catb_add_frame(b, &f);
	r |= ocb_catb_add_source(b, a, "/home/u/.a");
	r |= ocb_catb_encode(b, &info, &blob0, &len0);
	ocb_catb_free(b);
	return r;
}

static uint8_t *copy0(void)
{
	uint8_t *m = malloc(len0);

	memcpy(m, blob0, len0);
	return m;
}

/* decode a copy of the good catalog with u32 field at off set to v */
static int with32(size_t off, uint32_t v)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m = copy0();
	int r;

	ocb_put32(m + off, v);
	r = ocb_catalog_decode(m, len0, &c);
	ocb_catalog_free(c);
	return r;
}

static int with64(size_t off, uint64_t v)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m = copy0();
	int r;

	ocb_put64(m + off, v);
	r = ocb_catalog_decode(m, len0, &c);
	ocb_catalog_free(c);
	return r;
}

/* offset of a string's bytes in the blob (strings are unique here) */
static size_t str_pos(const char *s)
{
	size_t n = strlen(s) + 1, i;

	for (i = HDR; i + n <= len0; i++)
		if (memcmp(blob0 + i, s, n) == 0 && blob0[i - 1] == 0)
			return i;
	return 0;
}

/* decode with the bytes of string s replaced by rep (same length) */
static int with_name(const char *s, const char *rep, size_t replen)
{
	struct ocb_catalog *c = NULL;
	size_t pos = str_pos(s);
	uint8_t *m = copy0();
	int r;

	CHECK(pos != 0);
	memcpy(m + pos, rep, replen);
	r = ocb_catalog_decode(m, len0, &c);
	ocb_catalog_free(c);
	return r;
}

static void test_good(void)
{
	struct ocb_catalog *c = NULL;

	CHECK_INT(ocb_catalog_decode(copy0(), len0, &c), 0);
	if (!c)
		return;
	CHECK_INT(c->n, 7);
	CHECK_STR(c->e[1].name, "a");
	CHECK_STR(c->e[3].target, "a");
	CHECK_INT(c->e[1].first_child, 4);
	CHECK_INT(c->e[1].nchildren, 2);
	CHECK_INT(c->e[2].first_child, 6);
	CHECK_INT(c->e[5].ino, 4);
	CHECK_INT(c->e[5].size, 10);
	CHECK_INT(c->e[4].nlink, 2);
	CHECK_INT(c->nsrc, 1);
	CHECK_INT(c->src[0].entry, 1);
	CHECK_STR(c->src[0].path, "/home/u/.a");
	CHECK_STR(c->name, "n");
	ocb_catalog_free(c);
}

static void test_counts(void)
{
	CHECK_INT(with32(8, 0), -EBADMSG);		/* no root */
	CHECK_INT(with32(8, UINT32_MAX), -EBADMSG);	/* huge counts */
	CHECK_INT(with32(12, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(16, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(20, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(8, 8), -EBADMSG);		/* sizes do not add up */
	CHECK_INT(with64(24, UINT64_MAX), -EBADMSG);
	CHECK_INT(with64(32, UINT64_MAX - 10), -EBADMSG);
	CHECK_INT(with32(56, 1), -EBADMSG);		/* frame size */
	CHECK_INT(with32(64, 1000000), -EBADMSG);	/* info string */
	{
		struct ocb_catalog *c = NULL;
		uint8_t *m = copy0();

		CHECK_INT(ocb_catalog_decode(m, HDR - 1, &c), -EBADMSG);
		m = copy0();
		m[3] ^= 1;
		CHECK_INT(ocb_catalog_decode(m, len0, &c), -EBADMSG);
	}
}

static void test_names(void)
{
	CHECK_INT(with_name("xx", "..", 2), -EBADMSG);
	CHECK_INT(with_name("xx", "x/", 2), -EBADMSG);
	CHECK_INT(with_name("xx", "x\0", 2), -EBADMSG);	/* NUL inside */
	CHECK_INT(with_name("yy", "xx", 2), -EBADMSG);	/* duplicate */
	CHECK_INT(with_name("yy", "aa", 2), -EBADMSG);	/* unsorted */
	CHECK_INT(with_name("zz", "..", 2), -EBADMSG);
	CHECK_INT(with_name("zz", "z.", 2), 0);		/* fine */
	CHECK_INT(with32(E(4) + F_NAMELEN, 0), -EBADMSG);	/* empty */
	CHECK_INT(with32(E(4) + F_NAMELEN, 1), -EBADMSG);	/* no NUL at end */
	CHECK_INT(with32(E(4) + F_NAMEOFF, (uint32_t)len0), -EBADMSG);
	CHECK_INT(with32(E(4) + F_NAMEOFF, UINT32_MAX - 1), -EBADMSG);
	CHECK_INT(with32(E(0) + F_NAMELEN, 1), -EBADMSG);	/* root named */
	/* symlink target */
	CHECK_INT(with32(E(3) + F_TOFF, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(E(3) + F_TLEN, 0), -EBADMSG);
	CHECK_INT(with32(E(3) + F_TLEN, 5000), -EBADMSG);
	CHECK_INT(with32(E(4) + F_TOFF, 0), -EBADMSG);	/* target on a file */
}

static void test_tree(void)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m;

	CHECK_INT(with32(E(1) + F_PARENT, 1), -EBADMSG);	/* own parent */
	CHECK_INT(with32(E(1) + F_PARENT, 4), -EBADMSG);	/* cycle */
	CHECK_INT(with32(E(4) + F_PARENT, 99), -EBADMSG);
	CHECK_INT(with32(E(4) + F_PARENT, 3), -EBADMSG);	/* not a dir */
	CHECK_INT(with32(E(4) + F_PARENT, 2), -EBADMSG);	/* other dir */
	CHECK_INT(with32(E(0) + F_PARENT, 1), -EBADMSG);
	CHECK_INT(with32(E(0) + F_TYPE, OCB_ENTRY_FILE), -EBADMSG);
	CHECK_INT(with32(E(1) + F_FIRST, 1), -EBADMSG);	/* itself */
	CHECK_INT(with32(E(1) + F_FIRST, 0), -EBADMSG);
	CHECK_INT(with32(E(1) + F_FIRST, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(E(1) + F_NKIDS, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(E(1) + F_NKIDS, 4), -EBADMSG);	/* past the end */
	CHECK_INT(with32(E(1) + F_NKIDS, 3), -EBADMSG);	/* claims zz */
	CHECK_INT(with32(E(1) + F_NKIDS, 1), -EBADMSG);	/* loses yy */
	CHECK_INT(with32(E(4) + F_NKIDS, 1), -EBADMSG);	/* file with kids */
	/*
	 * Interleaved child ranges: a = [4, 7) with yy (5) moved to b = [5, 6).
	 * Every entry lies in its parent's range and every range starts and
	 * ends with its own children, but a would list b's child.
	 */
	m = copy0();
	ocb_put32(m + E(1) + F_NKIDS, 3);
	ocb_put32(m + E(2) + F_FIRST, 5);
	ocb_put32(m + E(5) + F_PARENT, 2);
	ocb_put32(m + E(6) + F_PARENT, 1);
	ocb_put32(m + E(5) + F_INO, 5);	/* no longer a hardlink of xx */
	CHECK_INT(ocb_catalog_decode(m, len0, &c), -EBADMSG);
	ocb_catalog_free(c);
}

static void test_entries(void)
{
	CHECK_INT(with32(E(4) + F_TYPE, 0), -EBADMSG);
	CHECK_INT(with32(E(4) + F_TYPE, 8), -EBADMSG);
	CHECK_INT(with32(E(4) + F_MODE, S_IFDIR | 0644), -EBADMSG);
	CHECK_INT(with32(E(4) + F_NSEC, 1000000000u), -EBADMSG);
	CHECK_INT(with64(E(4) + F_SIZE, 4097), -EBADMSG);	/* past stream */
	CHECK_INT(with64(E(4) + F_DOFF, 4090), -EBADMSG);
	CHECK_INT(with64(E(4) + F_DOFF, UINT64_MAX - 5), -EBADMSG);
	CHECK_INT(with64(E(1) + F_SIZE, 1), -EBADMSG);	/* size on a dir */
	/* hardlinks */
	CHECK_INT(with32(E(5) + F_INO, 6), -EBADMSG);	/* forward */
	CHECK_INT(with32(E(5) + F_INO, 1), -EBADMSG);	/* to a directory */
	CHECK_INT(with64(E(5) + F_SIZE, 11), -EBADMSG);	/* other data */
	CHECK_INT(with32(E(6) + F_INO, 4), -EBADMSG);
	CHECK_INT(with32(E(1) + F_INO, 0), -EBADMSG);	/* ino on a dir */
	/* xattrs */
	CHECK_INT(with32(E(4) + F_NX, 2), -EBADMSG);
	CHECK_INT(with32(E(4) + F_XFIRST, 1), -EBADMSG);
	CHECK_INT(with32(E(4) + F_XFIRST, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(E(4) + F_NX, UINT32_MAX), -EBADMSG);
	{
		size_t x0 = E(7);

		CHECK_INT(with32(x0 + 4, 0), -EBADMSG);		/* name length */
		CHECK_INT(with64(x0 + 8, 2), -EBADMSG);		/* value offset */
		CHECK_INT(with32(x0 + 16, 2), -EBADMSG);	/* value length */
		CHECK_INT(with32(x0 + 16, UINT32_MAX), -EBADMSG);
	}
}

static void test_frames_sources(void)
{
	size_t f0 = E(7) + XAT, s0 = f0 + FRM;

	CHECK_INT(with64(f0, 0), -EBADMSG);		/* not at 512 */
	CHECK_INT(with64(f0, 513), -EBADMSG);
	CHECK_INT(with32(f0 + 8, 0), -EBADMSG);		/* sealed length */
	CHECK_INT(with32(f0 + 8, UINT32_MAX), -EBADMSG);
	CHECK_INT(with32(f0 + 12, 4095), -EBADMSG);	/* does not cover */
	CHECK_INT(with32(f0 + 12, OCB_FRAME_SIZE + 1), -EBADMSG);
	CHECK_INT(with64(40, 4095), -EBADMSG);		/* stream size */
	CHECK_INT(with32(s0, 0), -EBADMSG);		/* source = root */
	CHECK_INT(with32(s0, 4), -EBADMSG);		/* not top level */
	CHECK_INT(with32(s0, 7), -EBADMSG);		/* out of range */
	CHECK_INT(with32(s0, 2), 0);			/* b: fine */
	CHECK_INT(with32(s0 + 8, 0), -EBADMSG);		/* path "" */
}

/* 1,000 directories of 200 files: encode, decode, look everything up */
static void test_large(void)
{
	struct ocb_catb *b = NULL;
	struct ocb_catalog *c = NULL;
	struct ocb_catb_info info = { .name = "n", .instance = "i",
				      .host = "h", .label = "",
				      .key_provider = "none",
				      .frame_size = OCB_FRAME_SIZE };
	struct ocb_frame_rec f = { .off = 512, .sealed_len = 100,
				   .plain_len = 1 };
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK };
	struct timespec t0, t1;
	uint8_t *blob = NULL;
	size_t len = 0;
	uint32_t d, i, seq, dseq, bad = 0;
	char name[64];
	int r = 0;

	CHECK_INT(ocb_catb_new(&b), 0);
	/* added in reverse order: the encoder sorts */
	for (d = 1000; r == 0 && d-- > 0;) {
		snprintf(name, sizeof(name), "dir-%04u", d);
		e.parent = 0; e.name = name; e.type = OCB_ENTRY_DIR;
		e.mode = S_IFDIR | 0755; e.size = 0; e.data_off = 0;
		r = ocb_catb_add(b, &e, &dseq);
		for (i = 200; r == 0 && i-- > 0;) {
			snprintf(name, sizeof(name), "file-%u-%u.md", d, i);
			e.parent = dseq; e.type = OCB_ENTRY_FILE;
			e.mode = S_IFREG | 0644;
			r = ocb_catb_add(b, &e, &seq);
		}
	}
	CHECK_INT(r, 0);
	info.stream_size = 1;
	CHECK_INT(ocb_catb_add_frame(b, &f), 0);
	CHECK_INT(ocb_catb_encode(b, &info, &blob, &len), 0);
	ocb_catb_free(b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(ocb_catalog_decode(blob, len, &c), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!c)
		return;
	printf("200,000-entry catalog: %zu bytes, decoded in %.1f ms\n", len,
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	CHECK_INT(c->n, 1 + 1000 + 200000);
	CHECK_INT(c->e[0].nchildren, 1000);
	/* every file is where its name says */
	for (d = 0; d < 1000; d++) {
		const struct ocb_entry *de = &c->e[1 + d];

		snprintf(name, sizeof(name), "dir-%04u", d);
		if (strcmp(de->name, name) != 0 || de->nchildren != 200)
			bad++;
		for (i = 1; i < de->nchildren; i++)
			if (strcmp(c->e[de->first_child + i - 1].name,
				   c->e[de->first_child + i].name) >= 0 ||
			    c->e[de->first_child + i].parent != 1 + d)
				bad++;
	}
	CHECK_INT(bad, 0);
	ocb_catalog_free(c);
}

/* format 2: the prefix, the warning count and the entries' flags; the
 * same catalog in the format 1 layout (104-byte header, five strings,
 * 120-byte entries) still decodes, with no prefix, flags or warnings */
static void test_versions(void)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m = copy0(), *v1, *q;
	size_t tail, i, n;

	CHECK_INT(ocb_catalog_decode(m, len0, &c), 0);
	if (c) {
		CHECK_INT(c->version, 2);
		CHECK_STR(c->prefix, "p/instance-i");
		CHECK_INT(c->warnings, 2);
		CHECK_INT(c->e[4].flags, OCB_ENTRY_TORN);
		CHECK_INT(c->e[6].flags, OCB_ENTRY_SQLITE_SNAPSHOT |
			  OCB_ENTRY_SQLITE_RAW);
		CHECK_INT(c->e[0].flags | c->e[1].flags | c->e[5].flags, 0);
	}
	ocb_catalog_free(c);
	c = NULL;
	CHECK_INT(with32(E(4) + 120, 0x8), -EBADMSG);	/* unknown flag */
	CHECK_INT(with32(E(4) + 120, OCB_ENTRY_FLAGS_KNOWN), 0);

	n = ocb_get32(blob0 + 8);
	tail = len0 - E(n);
	v1 = malloc(len0);
	memcpy(v1, blob0, 104);
	memcpy(v1, "OCBCAT01", 8);
	ocb_put32(v1 + 60, 0);
	q = v1 + 104;
	for (i = 0; i < n; i++, q += 120)
		memcpy(q, blob0 + E(i), 120);
	memcpy(q, blob0 + E(n), tail);
	CHECK_INT(ocb_catalog_decode(v1, (size_t)(q - v1) + tail, &c), 0);
	if (c) {
		CHECK_INT(c->version, 1);
		CHECK_STR(c->prefix, "");
		CHECK_STR(c->name, "n");
		CHECK_INT(c->warnings, 0);
		CHECK_INT(c->e[4].flags, 0);
		CHECK_INT(c->n, 7);
	}
	ocb_catalog_free(c);
}

/* ---- format 3 ------------------------------------------------------------- */

#define REF_NAME "openclaw-aws-backup-2026-01-01T00-00-00Z"
#define BASE_NAME "openclaw-aws-backup-2026-01-02T00-00-00Z"
#define H3 184
#define ST3 32		/* entry stat record */
static uint8_t *blob3;
static size_t len3;
static uint8_t *det4;		/* format 4: blob3 is then the index */
static size_t dlen4;
static int version3 = 3;	/* what build3() writes */

/*
 * root/{a/{f}}: f is 2000 bytes at logical 512; the logical stream (3048
 * bytes) is own [0, 1500), ref 0's [0, 1000), own [1500, 2048).
 */
static int build3(int nrefs)
{
	static const uint8_t hkey[OCB_HDR_KEY_LEN] = { 0x6b, [15] = 0x79 };
	static const uint8_t mac[OCB_HDR_MAC_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct ocb_catb *b;
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK };
	struct ocb_frame_rec own = { .off = 512, .sealed_len = 900,
				     .plain_len = 2048 };
	struct ocb_frame_rec rf = { .off = 512, .sealed_len = 300,
				    .plain_len = 1000 };
	struct ocb_catb_info info = { .name = "openclaw-aws-backup-2026-01-03T00-00-00Z",
				      .instance = "i", .host = "h",
				      .label = "", .key_provider = "none",
				      .prefix = "p/instance-i",
				      .frame_size = 4096, .stream_size = 3048,
				      .stored_size = 2048, .base = BASE_NAME,
				      .depth = 2, .full_created = 1767225600,
				      .header_key = hkey };
	struct ocb_ref_rec ref = { .created = 1767225600, .name = REF_NAME,
				   .frame_size = 4096, .nframes = 1,
				   .stream_size = 1000 };
	struct ocb_header h = { .version = 2, .frame_size = 4096,
				.created = 1767225600 };
	uint32_t a, f, idx, k;
	int r;

	if (ocb_catb_new(&b) < 0)
		return -1;
	e.name = "a"; e.type = OCB_ENTRY_DIR; e.mode = S_IFDIR | 0755;
	r = ocb_catb_add(b, &e, &a);
	e.parent = a; e.name = "f"; e.type = OCB_ENTRY_FILE;
	e.mode = S_IFREG | 0644; e.size = 2000; e.data_off = 512;
	r |= ocb_catb_add(b, &e, &f);
	ocb_catb_set_stat(b, f, 77, 1767225601, 5);
	ocb_catb_set_content(b, f, 2000, (const uint8_t[32]){ 0x5a, [31] = 7 });
	ocb_catb_set_header(b, f, 512, mac);
	ocb_catb_set_header(b, a, 512, mac);
	ocb_catb_set_copy(b, a, 0, 0, 0);	/* forgets a's headers */
	r |= ocb_catb_add_frame(b, &own);
	for (k = 0; k < (uint32_t)nrefs; k++) {
		memset(ref.id, 0xa0 + k, 16);
		memcpy(h.backup_id, ref.id, 16);
		ocb_header_encode(&h, ref.header);
		r |= ocb_catb_add_ref(b, &ref, &rf, &idx);
	}
	r |= ocb_catb_add_segment(b, 0, 1000, 0, 0);
	r |= ocb_catb_add_segment(b, 1000, 500, 1000, 0);	/* merges */
	r |= ocb_catb_add_segment(b, 1500, 1000, 0, 1);
	r |= ocb_catb_add_segment(b, 2500, 548, 1500, 0);
	if (ocb_catb_nsegments(b) != 3)
		r = -1;
	info.version = (uint32_t)version3;
	if (version3 >= 4) {	/* the details first, as a writer does */
		info.details = 1;
		r |= ocb_catb_encode(b, &info, &det4, &dlen4);
		info.details = 0;
		info.details_off = 4000;
		info.details_len = dlen4 + 16;
		info.details_plain = dlen4;
	}
	r |= ocb_catb_encode(b, &info, &blob3, &len3);
	ocb_catb_free(b);
	return r;
}

/* where format 3's tables start in blob3 */
static size_t off_frames3(void) { return H3 + 3 * ENT; }
static size_t off_refs3(int nrefs)
{
	return off_frames3() + (size_t)(1 + nrefs) * FRM + 0 /* no sources */;
}
static size_t off_hdrs3(int nrefs) { return off_refs3(nrefs) + 64u * nrefs; }
static size_t off_segs3(int nrefs) { return off_hdrs3(nrefs) + 512u * nrefs; }
static size_t off_stats3(int nrefs) { return off_segs3(nrefs) + 3 * 32; }

static int with3(size_t off, uint64_t v, int wide)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m = malloc(len3);
	int r;

	memcpy(m, blob3, len3);
	if (wide)
		ocb_put64(m + off, v);
	else
		ocb_put32(m + off, (uint32_t)v);
	r = ocb_catalog_decode(m, len3, &c);
	ocb_catalog_free(c);
	return r;
}

static void test_v3_roundtrip(void)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m;

	CHECK_INT(build3(1), 0);
	m = malloc(len3);
	memcpy(m, blob3, len3);
	CHECK_INT(ocb_catalog_decode(m, len3, &c), 0);
	if (!c)
		return;
	CHECK_INT(c->version, 3);
	CHECK_INT(c->stream_size, 3048);
	CHECK_INT(c->stored_size, 2048);
	CHECK_INT(c->nf, 1);
	CHECK_INT(c->nlf, 1);
	CHECK_INT(c->nrefs, 1);
	CHECK_STR(c->refs[0].name, REF_NAME);
	CHECK_INT(c->refs[0].first_frame, 1);
	CHECK_INT(c->refs[0].nframes, 1);
	CHECK_INT(c->f[1].plain_len, 1000);
	CHECK_INT(c->refs[0].id[3], 0xa0);
	CHECK_INT(c->nseg, 3);
	CHECK_INT(c->seg[1].loff, 1500);
	CHECK_INT(c->seg[1].source, 1);
	CHECK_INT(c->seg[2].poff, 1500);
	CHECK_STR(c->base, BASE_NAME);
	CHECK_INT(c->depth, 2);
	CHECK_INT(c->full_created, 1767225600);
	CHECK_INT(c->st[2].ino, 77);
	CHECK_INT(c->st[2].ctime, 1767225601);
	CHECK_INT(c->st[2].ctime_nsec, 5);
	CHECK_INT(c->e[2].data_off, 512);
	CHECK_INT(c->st[2].hdr_len, 512);
	CHECK_INT(c->st[2].hdr_mac[7], 8);
	CHECK_INT(c->st[1].hdr_len, 0);
	CHECK_INT(c->header_key[0], 0x6b);
	CHECK_INT(c->header_key[15], 0x79);
	ocb_catalog_free(c);
}

static uint8_t *dup_of(const uint8_t *p, size_t n)
{
	uint8_t *m = malloc(n);

	memcpy(m, p, n);
	return m;
}

/* format 4: the index decodes with the details pending (no SHA-256s, no
 * stats), and the details fill them in, refused unless they are exactly
 * what the index says and valid */
static void test_v4_parts(void)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m;

	version3 = 4;
	CHECK_INT(build3(1), 0);
	version3 = 3;
	CHECK_INT(dlen4, 3 * 64);
	CHECK_INT(ocb_catalog_decode(dup_of(blob3, len3), len3, &c), 0);
	if (!c)
		return;
	CHECK_INT(c->version, 4);
	CHECK_INT(c->details_pending, 1);
	CHECK_INT(c->details_off, 4000);
	CHECK_INT(c->details_len, dlen4 + 16);
	CHECK(c->st == NULL);
	CHECK_INT(c->e[2].sha256[0], 0);
	CHECK_INT(c->e[2].data_off, 512);
	CHECK_INT(c->e[2].size, 2000);
	CHECK_STR(c->e[2].name, "f");
	CHECK_INT(c->nseg, 3);
	CHECK_STR(c->base, BASE_NAME);
	/* the wrong length, then a bad stat record: refused, still pending */
	CHECK_INT(ocb_catalog_decode_details(c, dup_of(det4, dlen4), dlen4 - 1),
		  -EBADMSG);
	m = dup_of(det4, dlen4);
	ocb_put32(m + 3 * 32 + 2 * 32 + 16, 1000000000u);
	CHECK_INT(ocb_catalog_decode_details(c, m, dlen4), -EBADMSG);
	CHECK_INT(c->details_pending, 1);
	CHECK(c->st == NULL);
	m = dup_of(det4, dlen4);
	ocb_put32(m + 3 * 32 + 2 * 32 + 20, 1024);	/* header past data */
	CHECK_INT(ocb_catalog_decode_details(c, m, dlen4), -EBADMSG);
	CHECK_INT(ocb_catalog_decode_details(c, dup_of(det4, dlen4), dlen4), 0);
	CHECK_INT(c->details_pending, 0);
	CHECK_INT(c->e[2].sha256[0], 0x5a);
	CHECK_INT(c->e[2].sha256[31], 7);
	CHECK_INT(c->st[2].ino, 77);
	CHECK_INT(c->st[2].hdr_len, 512);
	/* once decoded, not again */
	CHECK_INT(ocb_catalog_decode_details(c, dup_of(det4, dlen4), dlen4),
		  -EBADMSG);
	ocb_catalog_free(c);
	c = NULL;
	/* the index's record of the details: lengths that do not add up,
	 * a sealed length past zstd's worst case or far below any real one,
	 * an offset inside the header */
	{
		static const struct { size_t off; uint64_t v; } bad[] = {
			{ 200, 3 * 64 + 1 }, { 192, 15 }, { 192, 1 << 20 },
			{ 184, 100 },
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			m = dup_of(blob3, len3);
			ocb_put64(m + bad[i].off, bad[i].v);
			CHECK_INT(ocb_catalog_decode(m, len3, &c), -EBADMSG);
		}
	}
	/* every byte of the index changed: refused or decoded, never a
	 * crash (the sanitizer build watches) */
	for (size_t i = 0; i < len3; i++) {
		m = dup_of(blob3, len3);
		m[i] ^= 0x41;
		if (ocb_catalog_decode(m, len3, &c) == 0)
			ocb_catalog_free(c);
		c = NULL;
	}
	free(det4);
	det4 = NULL;
	free(blob3);
	blob3 = NULL;
}

/* format 4's entries are transposed per group of 4096: more than one
 * group (the last one short) decodes to the same entries */
static void test_v4_groups(void)
{
	struct ocb_catb_info info = { .name = "openclaw-aws-backup-2026-01-03T00-00-00Z",
				      .instance = "i", .host = "h", .label = "",
				      .key_provider = "none", .prefix = "p",
				      .frame_size = 1 << 20,
				      .stream_size = 1 << 20, .version = 4,
				      .details_off = 1 << 20,
				      .details_len = 1 << 16 };
	struct ocb_frame_rec fr = { .off = 512, .sealed_len = 1 << 19,
				    .plain_len = 1 << 20 };
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK,
				    .type = OCB_ENTRY_FILE,
				    .mode = S_IFREG | 0600 };
	struct ocb_catalog *c = NULL;
	struct ocb_catb *b = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	uint32_t i, seq, n = 9000;
	char name[16];

	CHECK_INT(ocb_catb_new(&b), 0);
	if (!b)
		return;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%05u", i);
		e.name = name;
		e.size = i;
		e.data_off = 100 * i;
		e.mtime = 1767225600 + i;
		e.mtime_nsec = i * 1000;
		CHECK_INT(ocb_catb_add(b, &e, &seq), 0);
	}
	CHECK_INT(ocb_catb_add_frame(b, &fr), 0);
	info.details_plain = (uint64_t)(n + 1) * 64;
	CHECK_INT(ocb_catb_encode(b, &info, &blob, &len), 0);
	ocb_catb_free(b);
	CHECK_INT(ocb_catalog_decode(blob, len, &c), 0);
	if (!c)
		return;
	CHECK_INT(c->n, n + 1);
	for (i = 0; i < n; i += 997) {
		snprintf(name, sizeof(name), "f%05u", i);
		CHECK_STR(c->e[1 + i].name, name);
		CHECK_INT(c->e[1 + i].size, i);
		CHECK_INT(c->e[1 + i].data_off, 100 * i);
		CHECK_INT(c->e[1 + i].mtime, 1767225600 + i);
		CHECK_INT(c->e[1 + i].mtime_nsec, i * 1000);
		CHECK_INT(c->e[1 + i].parent, 0);
	}
	CHECK_INT(c->e[n].size, n - 1);
	ocb_catalog_free(c);
}

/* one test per rule of FORMAT.md's format 3 validation */
static void test_v3_rules(void)
{
	size_t sg = off_segs3(1), rf = off_refs3(1), hd = off_hdrs3(1);
	size_t name = 0, i;

	CHECK_INT(with3(sg + 32, 1501, 1), -EBADMSG);	/* a gap */
	CHECK_INT(with3(sg + 32, 1499, 1), -EBADMSG);	/* an overlap */
	CHECK_INT(with3(sg + 8, 0, 1), -EBADMSG);	/* empty segment */
	CHECK_INT(with3(sg + 64 + 8, 547, 1), -EBADMSG);	/* short cover */
	CHECK_INT(with3(sg + 64 + 8, 549, 1), -EBADMSG);	/* past the end */
	CHECK_INT(with3(sg + 32 + 16, 1, 1), -EBADMSG);	/* past the ref's
							 * stream */
	CHECK_INT(with3(sg + 64 + 16, 1501, 1), -EBADMSG);	/* past own */
	CHECK_INT(with3(sg + 32 + 24, 2, 0), -EBADMSG);	/* no such source */
	CHECK_INT(with3(sg + 28, 1, 0), -EBADMSG);	/* reserved */
	CHECK_INT(with3(off_frames3() + FRM, 513, 1), -EBADMSG);	/* ref
						 * frames not from 512 */
	CHECK_INT(with3(rf + 48, 999, 1), -EBADMSG);	/* frames do not
							 * cover the ref */
	CHECK_INT(with3(rf + 36, 0, 0), -EBADMSG);	/* first frame */
	CHECK_INT(with3(rf + 32, 8192, 0), -EBADMSG);	/* frame size not
							 * the header's */
	CHECK_INT(with3(rf + 16, 1767225601, 1), -EBADMSG);	/* created */
	CHECK_INT(with3(hd + 16, 0x11, 0), -EBADMSG);	/* header of another
							 * backup */
	CHECK_INT(with3(120, 5000, 0), -EBADMSG);	/* R > 4096 */
	CHECK_INT(with3(120, 2, 0), -EBADMSG);		/* sizes */
	CHECK_INT(with3(156, 1, 0), -EBADMSG);		/* reserved */
	CHECK_INT(with3(H3 + 2 * ENT + 56, 3048 - 512 + 1, 1),
		  -EBADMSG);	/* file data past the logical stream */
	CHECK_INT(with3(off_stats3(1) + 2 * ST3 + 16, 1000000000u, 0),
		  -EBADMSG);	/* stat nanoseconds */
	CHECK_INT(with3(off_stats3(1) + 2 * ST3 + 20, 1024, 0),
		  -EBADMSG);	/* headers longer than what is before the data */
	CHECK_INT(with3(off_stats3(1) + 2 * ST3 + 20, 500, 0),
		  -EBADMSG);	/* not whole tar blocks */
	CHECK_INT(with3(off_stats3(1) + 2 * ST3 + 20, 0, 0),
		  -EBADMSG);	/* no headers, and a hash */
	CHECK_INT(with3(off_stats3(1) + 1 * ST3 + 24, 1, 0),
		  -EBADMSG);	/* ... the same */
	/* the ref's name must be a backup name */
	for (i = 0; i + sizeof(REF_NAME) <= len3; i++)
		if (!memcmp(blob3 + i, REF_NAME, sizeof(REF_NAME))) {
			name = i;
			break;
		}
	CHECK(name != 0);
	CHECK_INT(with3(name + 20, 0x58585858, 0), -EBADMSG);	/* "XXXX" */
	free(blob3);

	/* two refs with one id (record and header both say it) */
	CHECK_INT(build3(2), 0);
	{
		struct ocb_catalog *c = NULL;
		uint8_t *m = malloc(len3);

		memcpy(m, blob3, len3);
		memset(m + off_refs3(2) + 64, 0xa0, 16);
		memset(m + off_hdrs3(2) + 512 + 16, 0xa0, 16);
		CHECK_INT(ocb_catalog_decode(m, len3, &c), -EBADMSG);
		m = malloc(len3);
		memcpy(m, blob3, len3);
		CHECK_INT(ocb_catalog_decode(m, len3, &c), 0);
		ocb_catalog_free(c);
	}
	free(blob3);
}

/*
 * Block hashes: root/{x, y, z}, added z, y, x.  z (9000 bytes, 3 blocks)
 * is hashed twice (stored again: the first hashes are forgotten), y (5000
 * bytes) once, x (8192 bytes) only half (not recorded).  Records come in
 * entry order: y (2), z (3).
 */
static int build_blocks(uint8_t **blob, size_t *len)
{
	static const struct { const char *name; uint64_t size, off; } f[3] = {
		{ "z", 9000, 512 }, { "y", 5000, 10000 }, { "x", 8192, 0 },
	};
	static const uint8_t marks[3][4] = {
		{ 0x11, 0x12, 0x13 }, { 0x21, 0x22 }, { 0x31 },
	};
	struct ocb_catb *b;
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK,
				    .type = OCB_ENTRY_FILE,
				    .mode = S_IFREG | 0644 };
	struct ocb_catb_info info = { .name = "openclaw-aws-backup-2026-01-03T00-00-00Z",
				      .instance = "i", .host = "h",
				      .label = "", .key_provider = "none",
				      .prefix = "p/instance-i",
				      .frame_size = 4096, .stream_size = 16384 };
	uint8_t h[32];
	uint32_t seq, i, k;
	int r = 0;

	if (ocb_catb_new(&b) < 0)
		return -1;
	for (i = 0; i < 4; i++) {
		struct ocb_frame_rec fr = { .off = 512 + 100 * i,
					    .sealed_len = 100,
					    .plain_len = 4096 };

		r |= ocb_catb_add_frame(b, &fr);
	}
	for (i = 0; i < 3; i++) {
		e.name = f[i].name;
		e.size = f[i].size;
		e.data_off = f[i].off;
		r |= ocb_catb_add(b, &e, &seq);
		if (i == 0) {	/* stored twice: the first hashes forgotten */
			r |= ocb_catb_blocks_begin(b, seq, 4096);
			memset(h, 0x01, 32);
			r |= ocb_catb_blocks_add(b, seq, h);
		}
		r |= ocb_catb_blocks_begin(b, seq, 4096);
		for (k = 0; k < 4 && marks[i][k]; k++) {
			memset(h, marks[i][k], 32);
			r |= ocb_catb_blocks_add(b, seq, h);
		}
	}
	if (ocb_catb_hash_bytes(b) != 6 * 32 ||
	    ocb_catb_blocks_begin(b, 1, 3000) != -EINVAL ||
	    ocb_catb_blocks_add(b, 1, h) != -EINVAL)	/* not the last */
		r = -1;
	r |= ocb_catb_encode(b, &info, blob, len);
	ocb_catb_free(b);
	return r;
}

static int with_blocks(const uint8_t *blob, size_t len, size_t off,
		       uint32_t v)
{
	struct ocb_catalog *c = NULL;
	uint8_t *m = malloc(len);
	int r;

	memcpy(m, blob, len);
	ocb_put32(m + off, v);
	r = ocb_catalog_decode(m, len, &c);
	ocb_catalog_free(c);
	return r;
}

static void test_v3_blocks(void)
{
	/* records after 4 entries, 4 frames, one segment, 4 entry stats */
	const size_t rec = H3 + 4 * ENT + 4 * FRM + 32 + 4 * ST3;
	const struct ocb_block_hashes *bh;
	struct ocb_catalog *c = NULL;
	uint8_t *blob = NULL, *m;
	size_t len = 0;

	CHECK_INT(build_blocks(&blob, &len), 0);
	if (!blob)
		return;
	m = malloc(len);
	memcpy(m, blob, len);
	CHECK_INT(ocb_catalog_decode(m, len, &c), 0);
	if (c) {
		CHECK_INT(c->nbh, 2);
		CHECK(ocb_catalog_blocks(c, 1) == NULL);	/* x */
		bh = ocb_catalog_blocks(c, 2);			/* y */
		CHECK(bh && bh->block_size == 4096 && bh->count == 2 &&
		      bh->hash[0] == 0x21 && bh->hash[63] == 0x22);
		bh = ocb_catalog_blocks(c, 3);			/* z */
		CHECK(bh && bh->count == 3 && bh->hash[0] == 0x11 &&
		      bh->hash[95] == 0x13);
		CHECK(ocb_catalog_blocks(c, 4) == NULL);
		ocb_catalog_free(c);
	}
	CHECK_INT(with_blocks(blob, len, rec + 24, 2), -EBADMSG); /* unsorted */
	CHECK_INT(with_blocks(blob, len, rec, 0), -EBADMSG);	/* the root */
	CHECK_INT(with_blocks(blob, len, rec + 4, 3000), -EBADMSG); /* size */
	CHECK_INT(with_blocks(blob, len, rec + 16, 3), -EBADMSG); /* count */
	CHECK_INT(with_blocks(blob, len, rec + 24 + 8, 3), -EBADMSG); /* past
							 * the hash area */
	CHECK_INT(with_blocks(blob, len, rec + 20, 1), -EBADMSG); /* reserved */
	CHECK_INT(with_blocks(blob, len, rec + 24 + 8, 2), 0);	/* overlapping
							 * hashes are allowed */
	free(blob);
}

int main(void)
{
	ocb_log_set_level(OCB_LOG_ERR);
	if (build() != 0) {
		fprintf(stderr, "cannot build the test catalog\n");
		return 1;
	}
	test_good();
	test_counts();
	test_names();
	test_tree();
	test_entries();
	test_frames_sources();
	test_large();
	test_versions();
	test_v3_roundtrip();
	test_v3_rules();
	test_v3_blocks();
	test_v4_parts();
	test_v4_groups();
	free(blob0);
	return T_DONE();
}
