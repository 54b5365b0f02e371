/* Unit tests: frames, header, trailer, catalog (including hostile ones),
 * key wrapping, and a whole backup written and read on a local store. */
#include "t.h"
#include "catalog.h"
#include "crypto.h"
#include "file_store.h"
#include "format.h"
#include "frame_i.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

static const uint8_t id1[16] = "backup-id-000001";
static const uint8_t id2[16] = "backup-id-000002";

static void test_frames(void)
{
	uint8_t key[32] = { 1, 2, 3 }, other[32] = { 9 };
	size_t n = 100000, slen;
	uint8_t *plain = malloc(n), *sealed = malloc(ocb_frame_bound(n));
	uint8_t *copy = malloc(ocb_frame_bound(n)), *out = malloc(n);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	uint32_t flags;
	size_t i;

	for (i = 0; i < n; i++)
		plain[i] = (uint8_t)(i % 13);
	CHECK_INT(ocb_frame_seal(key, id1, 5, cc, 3, plain, n, sealed, &slen,
				 &flags), 0);
	CHECK(flags == OCB_FRAME_ZSTD && slen < n);
#define OPEN(k, id, idx, fl) (memcpy(copy, sealed, slen), \
	ocb_frame_open(k, id, idx, dc, copy, slen, (uint32_t)n, fl, out))
	CHECK_INT(OPEN(key, id1, 5, flags), 0);
	CHECK(memcmp(out, plain, n) == 0);
	CHECK_INT(OPEN(other, id1, 5, flags), -EBADMSG);	/* wrong key */
	CHECK_INT(OPEN(key, id2, 5, flags), -EBADMSG);	/* other backup */
	CHECK_INT(OPEN(key, id1, 6, flags), -EBADMSG);	/* other position */
	CHECK_INT(OPEN(key, id1, 5, 0), -EBADMSG);	/* flags changed */
	for (i = 0; i < slen; i += slen / 7 + 1) {	/* any flipped byte */
		memcpy(copy, sealed, slen);
		copy[i] ^= 0x40;
		CHECK_INT(ocb_frame_open(key, id1, 5, dc, copy, slen, (uint32_t)n,
					 flags, out), -EBADMSG);
	}
	/* incompressible: stored raw */
	for (i = 0; i < n; i++)
		plain[i] = (uint8_t)rand();
	CHECK_INT(ocb_frame_seal(key, id1, 0, cc, 3, plain, n, sealed, &slen,
				 &flags), 0);
	CHECK_INT(flags, 0);
	CHECK_INT(slen, n + 16);
	CHECK_INT(OPEN(key, id1, 0, flags), 0);
	CHECK(memcmp(out, plain, n) == 0);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	free(plain);
	free(sealed);
	free(copy);
	free(out);
}

static void test_header_trailer(void)
{
	struct ocb_header h = { .version = 1, .frame_size = OCB_FRAME_SIZE,
				.created = 1795510800 }, h2;
	struct ocb_trailer t = { .version = 1, .catalog_off = 10000,
				 .catalog_len = 500, .catalog_plain_len = 2000,
				 .header_off = 10500, .stream_size = 9000,
				 .nframes = 1 }, t2;
	uint8_t hb[OCB_HEADER_SIZE], tb[OCB_TRAILER_SIZE];
	uint64_t objsize = 10500 + 512 + 64;

	memcpy(h.backup_id, id1, 16);
	h.key.type = OCB_KEY_KEYFILE;
	h.key.wrapped_len = 60;
	memset(h.key.wrapped, 0xab, 60);
	ocb_header_encode(&h, hb);
	CHECK_INT(ocb_header_decode(hb, &h2), 0);
	CHECK(memcmp(h2.backup_id, id1, 16) == 0 && h2.key.wrapped_len == 60 &&
	      h2.created == h.created && h2.key.wrapped[59] == 0xab);
	hb[0] ^= 1;
	CHECK_INT(ocb_header_decode(hb, &h2), -EBADMSG);
	hb[0] ^= 1;
	hb[8] = OCB_FORMAT_VERSION + 1;
	CHECK_INT(ocb_header_decode(hb, &h2), -EPROTO);	/* future version */
	hb[8] = 1;
	hb[38] = 0xff;
	hb[39] = 0xff;
	CHECK_INT(ocb_header_decode(hb, &h2), -EBADMSG);	/* wrapped too long */

	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, objsize, &t2), 0);
	CHECK_INT(t2.catalog_off, 10000);
	CHECK_INT(ocb_trailer_decode(tb, objsize - 1, &t2), -EBADMSG);	/* truncated */
	t.catalog_len = 400;
	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, objsize, &t2), -EBADMSG);	/* gap */
	t.catalog_len = 500;
	t.catalog_plain_len = OCB_CATALOG_MAX + 1;	/* absurd size */
	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, objsize, &t2), -EBADMSG);
	/* a sealed catalog far larger than its plaintext could compress to:
	 * a damaged trailer must not make a reader fetch the whole object */
	t.catalog_plain_len = 2000;
	t.catalog_off = 512;
	t.header_off = 100ull << 30;
	t.catalog_len = t.header_off - t.catalog_off;
	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, t.header_off + 576, &t2), -EBADMSG);
	t.catalog_plain_len = 1ull << 30;
	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, t.header_off + 576, &t2), -EBADMSG);
	t.catalog_len = 400;
	t.catalog_off = t.header_off - 400;
	ocb_trailer_encode(&t, tb);
	/* a catalog bomb: 400 sealed bytes cannot be 1 GiB of catalog */
	CHECK_INT(ocb_trailer_decode(tb, t.header_off + 576, &t2), -EBADMSG);
	t.catalog_plain_len = 400ull * OCB_CATALOG_RATIO + OCB_CATALOG_SLACK;
	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, t.header_off + 576, &t2), 0);
	t.catalog_plain_len++;
	ocb_trailer_encode(&t, tb);
	CHECK_INT(ocb_trailer_decode(tb, t.header_off + 576, &t2), -EBADMSG);
}

/* a small catalog: root/a/{x, y -> x (hardlink)}, root/l -> a (symlink) */
static int build(uint8_t **blob, size_t *len)
{
	struct ocb_catb *b;
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK };
	struct ocb_frame_rec f = { .off = 512, .sealed_len = 2000,
				   .plain_len = 3072 };
	struct ocb_catb_info info = { .name = "n", .instance = "i", .host = "h",
				      .label = "", .key_provider = "none",
				      .frame_size = OCB_FRAME_SIZE,
				      .stream_size = 3072 };
	const char *xn[] = { "user.k" };
	const void *xv[] = { "v" };
	size_t xl[] = { 1 };
	uint32_t a, x, r;

	if (ocb_catb_new(&b) < 0)
		return -1;
	e.parent = 0; e.name = "a"; e.type = OCB_ENTRY_DIR; e.mode = S_IFDIR | 0755;
	r = ocb_catb_add(b, &e, &a);
	e.parent = a; e.name = "x"; e.type = OCB_ENTRY_FILE; e.mode = S_IFREG | 0644;
	e.size = 10; e.data_off = 512; e.nxattrs = 1; e.xnames = xn;
	e.xvalues = xv; e.xlens = xl;
	r |= ocb_catb_add(b, &e, &x);
	e.name = "y"; e.size = 0; e.link_to = x; e.nxattrs = 0;
	r |= ocb_catb_add(b, &e, &a);
	e.parent = 0; e.name = "l"; e.type = OCB_ENTRY_SYMLINK; e.link_to = OCB_NOLINK;
	e.mode = S_IFLNK | 0777; e.target = "a";
	r |= ocb_catb_add(b, &e, &a);
	r |= ocb_catb_add_frame(b, &f);
	r |= ocb_catb_encode(b, &info, blob, len);
	ocb_catb_free(b);
	return r;
}

static void test_catalog(void)
{
	struct ocb_catalog *c = NULL;
	uint8_t *blob, *m;
	size_t len, i;
	int rejected = 0, accepted = 0;

	CHECK_INT(build(&blob, &len), 0);
	m = malloc(len);
	memcpy(m, blob, len);
	CHECK_INT(ocb_catalog_decode(m, len, &c), 0);
	if (c) {
		CHECK_INT(c->n, 5);
		/* BFS: 0 root, 1 a, 2 l, 3 x, 4 y */
		CHECK_STR(c->e[1].name, "a");
		CHECK_STR(c->e[2].name, "l");
		CHECK_STR(c->e[2].target, "a");
		CHECK_INT(c->e[1].first_child, 3);
		CHECK_INT(c->e[4].ino, 3);		/* hardlink shares the inode */
		CHECK_INT(c->e[3].nlink, 2);
		CHECK_INT(c->e[4].size, 10);
		CHECK_INT(c->e[3].nxattrs, 1);
		CHECK_STR(c->x[c->e[3].xattr_first].name, "user.k");
		ocb_catalog_free(c);
	}
	/* every single-byte corruption is either rejected or still a valid,
	 * bounded catalog; never a crash (ASan watches) */
	for (i = 0; i < len; i++) {
		m = malloc(len);
		memcpy(m, blob, len);
		m[i] ^= 0xa5;
		c = NULL;
		if (ocb_catalog_decode(m, len, &c) == 0) {
			accepted++;
			ocb_catalog_free(c);
		} else {
			rejected++;
		}
	}
	CHECK(rejected > (int)len / 2);
	/* truncated */
	m = malloc(len);
	memcpy(m, blob, len);
	CHECK_INT(ocb_catalog_decode(m, len - 1, &c), -EBADMSG);
	free(blob);
	(void)accepted;
}

static void test_keys(void)
{
	char dir[] = "/tmp/ocb-keys-XXXXXX", path[64];
	struct ocb_keyprov *kp = NULL, *pp = NULL, *wrong = NULL;
	struct ocb_key_block blk;
	uint8_t *dk = NULL, *dk2 = NULL, key[32];
	int fd;

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/key", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ocb_crypto_random(key, 32);
	CHECK_INT(write(fd, key, 32), 32);
	close(fd);
	CHECK_INT(ocb_keyprov_keyfile_new(path, &kp), 0);
	CHECK_INT(ocb_keyprov_wrap(kp, id1, NULL, &dk, &blk), 0);
	CHECK_INT(ocb_keyprov_unwrap(kp, id1, &blk, &dk2), 0);
	CHECK(dk && dk2 && memcmp(dk, dk2, 32) == 0);
	ocb_crypto_key_free(dk2);
	dk2 = NULL;
	CHECK_INT(ocb_keyprov_unwrap(kp, id2, &blk, &dk2), -ENOKEY);	/* moved */
	chmod(path, 0644);
	CHECK_INT(ocb_keyprov_keyfile_new(path, &wrong), -EACCES);
	CHECK_INT(ocb_keyprov_passphrase_new("pw", 2, &pp), 0);
	CHECK_INT(ocb_keyprov_unwrap(pp, id1, &blk, &dk2), -ENOKEY);	/* mismatch */
	ocb_crypto_key_free(dk);
	dk = NULL;
	CHECK_INT(ocb_keyprov_wrap(pp, id1, NULL, &dk, &blk), 0);
	CHECK_INT(blk.log2_n, 17);
	CHECK_INT(ocb_keyprov_unwrap(pp, id1, &blk, &dk2), 0);
	CHECK(dk2 && memcmp(dk, dk2, 32) == 0);
	ocb_crypto_key_free(dk2);
	dk2 = NULL;
	{
		/* costs ocb never writes are refused before any scrypt run;
		 * so is a header saying "none" under a configured key */
		struct ocb_key_block hostile = blk;
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		hostile.log2_n = 22;
		CHECK_INT(ocb_keyprov_unwrap(pp, id1, &hostile, &dk2), -EBADMSG);
		hostile.log2_n = 17;
		hostile.r = 32;
		CHECK_INT(ocb_keyprov_unwrap(pp, id1, &hostile, &dk2), -EBADMSG);
		hostile.r = 8;
		hostile.p = 16;
		CHECK_INT(ocb_keyprov_unwrap(pp, id1, &hostile, &dk2), -EBADMSG);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK(t1.tv_sec - t0.tv_sec < 2);
		hostile = blk;
		hostile.type = OCB_KEY_NONE;
		CHECK_INT(ocb_keyprov_unwrap(pp, id1, &hostile, &dk2), -EBADMSG);
		CHECK_INT(ocb_keyprov_unwrap(kp, id1, &hostile, &dk2), -EBADMSG);
		CHECK(dk2 == NULL);
	}
	ocb_crypto_key_free(dk);
	ocb_keyprov_free(kp);
	ocb_keyprov_free(pp);
	unlink(path);
	rmdir(dir);
}

static void test_backup_roundtrip(void)
{
	char src[] = "/tmp/ocb-src-XXXXXX", store[] = "/tmp/ocb-store-XXXXXX";
	char path[128], *big;
	const char *sources[1];
	struct ocb_store *s = NULL;
	struct ocb_keyprov *kp = NULL;
	struct ocb_archive_write_opts o = { 0 };
	struct ocb_backup_result res;
	struct ocb_archive *a = NULL;
	uint32_t idx;
	size_t n = 2500000, i;
	int fd;

	if (!mkdtemp(src) || !mkdtemp(store))
		return;
	snprintf(path, sizeof(path), "%s/big", src);
	big = malloc(n);
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 31 + i / 1000);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	CHECK_INT(write(fd, big, n), (ssize_t)n);
	close(fd);
	CHECK_INT(ocb_file_store_new(store, &s), 0);
	CHECK_INT(ocb_keyprov_none_new(&kp), 0);
	sources[0] = src;
	o.sources = sources;
	o.nsources = 1;
	o.prefix = "p/instance-t";
	o.instance = "t";
	o.kp = kp;
	CHECK_INT(ocb_archive_write(s, &o, &res), 0);
	CHECK_INT(res.entries, 2);
	CHECK_INT(ocb_archive_open(s, res.key, kp, &a), 0);
	if (a) {
		char *buf = malloc(n);
		const char *top = strrchr(src, '/') + 1;

		snprintf(path, sizeof(path), "%s/big", top);
		CHECK_INT(ocb_archive_resolve(a, path, &idx), 0);
		CHECK_INT(ocb_archive_pread(a, idx, buf, n, 0), (ssize_t)n);
		CHECK(memcmp(buf, big, n) == 0);
		/* across a frame boundary */
		CHECK_INT(ocb_archive_pread(a, idx, buf, 5000, 1048000), 5000);
		CHECK(memcmp(buf, big + 1048000, 5000) == 0);
		CHECK_INT(ocb_archive_pread(a, idx, buf, 10, n - 3), 3);
		CHECK_INT(ocb_archive_path(a, idx, buf, 128), (ssize_t)strlen(path));
		CHECK_STR(buf, path);
		CHECK_STR(ocb_archive_info(a)->key_provider, "none");
		free(buf);
		ocb_archive_free(a);
	}
	free(big);
	ocb_keyprov_free(kp);
	ocb_store_free(s);
}

int main(void)
{
	ocb_log_set_level(OCB_LOG_ERR);
	test_frames();
	test_header_trailer();
	test_catalog();
	test_keys();
	test_backup_roundtrip();
	return T_DONE();
}
