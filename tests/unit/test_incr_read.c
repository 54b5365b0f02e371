/*
 * Unit tests: the requests a read of an incremental backup makes.  A large
 * file unchanged since a full backup lives in that backup's object; read
 * through the incremental, it must cost the same range requests of that
 * object as read through the full backup itself (plus the few small ones
 * of its own object for the tar headers around it), both read whole and
 * read sequentially through the mount's frame cache with read-ahead.
 * A range of one source's physical stream (what a repack's replacement
 * copies) costs one request of that source's frames, and nothing else.
 */
#include "t.h"
#include "archive_ops.h"
#include "buf.h"
#include "crypto.h"
#include "file_store.h"
#include "frame_cache.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "store_layer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG (24u << 20)		/* 24 frames of random (raw) data */
#define LOG_MAX 4096

/* ---- a layer that records every get ------------------------------------ */

struct get_rec {
	char key[OCB_KEY_MAX];
	uint64_t off, len;
};

struct rec_log {
	pthread_mutex_t lock;
	struct get_rec g[LOG_MAX];
	unsigned n;
};

static int rec_around(struct ocb_store *s, struct ocb_store_call *c)
{
	struct rec_log *l = s->priv;

	if (c->op == OCB_STORE_OP_GET) {
		pthread_mutex_lock(&l->lock);
		if (l->n < LOG_MAX) {
			snprintf(l->g[l->n].key, OCB_KEY_MAX, "%s", c->key);
			l->g[l->n].off = c->u.get.req->off;
			l->g[l->n].len = c->u.get.req->len;
			l->n++;
		}
		pthread_mutex_unlock(&l->lock);
	}
	return ocb_store_layer_pass(s, c);
}

static const struct ocb_store_layer_ops rec_ops = {
	.ops = { .name = "record" },
	.around = rec_around,
};

/* the gets of key so far: count, and bytes; requests in order to out */
static unsigned gets_of(struct rec_log *l, const char *key, uint64_t *bytes,
			struct get_rec *out)
{
	unsigned i, n = 0;

	*bytes = 0;
	pthread_mutex_lock(&l->lock);
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->g[i].key, key)) {
			if (out)
				out[n] = l->g[i];
			n++;
			*bytes += l->g[i].len;
		}
	pthread_mutex_unlock(&l->lock);
	return n;
}

/* ---- reading ------------------------------------------------------------ */

static uint8_t *expect;		/* the file's content */

/* big.bin of key read whole (ocb_archive_pread): 0 if right */
static int read_whole(struct ocb_store *s, struct ocb_keyprov *kp,
		      const char *key, struct rec_log *l)
{
	struct ocb_archive *a = NULL;
	uint8_t *buf = malloc(BIG);
	uint32_t idx;
	int r;

	r = buf ? ocb_archive_open(s, key, kp, &a) : -ENOMEM;
	if (r == 0)
		r = ocb_archive_resolve(a, "src/big.bin", &idx);
	l->n = 0;
	if (r == 0 && ocb_archive_pread(a, idx, buf, BIG, 0) != BIG)
		r = -EIO;
	if (r == 0 && memcmp(buf, expect, BIG))
		r = -EBADMSG;
	ocb_archive_free(a);
	free(buf);
	return r;
}

/* big.bin of key read front to back in 128 KiB reads through a frame
 * cache, as the mount reads it: 0 if right */
static int read_seq(struct ocb_store *s, struct ocb_keyprov *kp,
		    const char *key, struct rec_log *l)
{
	struct ocb_read_state rs = { 0 };
	struct ocb_frame_cache *fc = NULL;
	struct ocb_archive *a = NULL;
	uint8_t buf[128 << 10];
	uint64_t off;
	uint32_t idx;
	int r;

	r = ocb_frame_cache_new(256u << 20, &fc);
	if (r == 0)
		r = ocb_archive_open(s, key, kp, &a);
	if (r == 0)
		r = ocb_archive_resolve(a, "src/big.bin", &idx);
	l->n = 0;
	for (off = 0; r == 0 && off < BIG; off += sizeof(buf)) {
		if (ocb_frame_cache_pread(fc, a, 1, idx, buf, sizeof(buf), off,
					  &rs) != (ssize_t)sizeof(buf))
			r = -EIO;
		else if (memcmp(buf, expect + off, sizeof(buf)))
			r = -EBADMSG;
	}
	if (fc)
		ocb_frame_cache_forget(fc, 1);
	ocb_frame_cache_free(fc);
	ocb_archive_free(a);
	return r;
}

/* bytes of the full backup's stream read through the incremental as its
 * ref (ocb_archive_read_source): the same bytes as its logical stream
 * there, one request of the full's frames, none of its own object */
static int sink_buf(void *arg, const void *data, size_t len)
{
	return ocb_buf_append(arg, data, len);
}

static void read_source(struct ocb_store *s, struct ocb_keyprov *kp,
			const char *key, const char *full_key,
			struct rec_log *l)
{
	struct ocb_archive *a = NULL;
	struct ocb_archive_segment g = { 0 }, x;
	struct ocb_buf want, got;
	uint64_t bytes, len = 3u << 20, skip = (5u << 20) + 12345;
	uint32_t i;

	ocb_buf_init(&want, 16u << 20);
	ocb_buf_init(&got, 16u << 20);
	CHECK_INT(ocb_archive_open(s, key, kp, &a), 0);
	if (!a)
		return;
	for (i = 0; ocb_archive_segment(a, i, &x) == 0; i++)
		if (x.source == 1 && x.len > g.len)
			g = x;
	CHECK(g.len > skip + len);
	CHECK_INT(ocb_archive_cat_range(a, g.loff + skip, len, sink_buf,
					&want), 0);
	l->n = 0;
	CHECK_INT(ocb_archive_read_source(a, 1, g.poff + skip, len, sink_buf,
					  &got), 0);
	CHECK(got.len == len && want.len == len &&
	      !memcmp(got.data, want.data, len));
	CHECK_INT(gets_of(l, full_key, &bytes, NULL), 1);
	CHECK(bytes <= len + (2u << 20) + (64u << 10));
	CHECK_INT(gets_of(l, key, &bytes, NULL), 0);
	CHECK_INT(ocb_archive_read_source(a, 2, 0, 1, sink_buf, &got),
		  -EINVAL);
	CHECK_INT(ocb_archive_read_source(a, 1, g.poff, UINT64_MAX, sink_buf,
					  &got), -EINVAL);
	ocb_buf_release(&want);
	ocb_buf_release(&got);
	ocb_archive_free(a);
}

/* ---- the test ------------------------------------------------------------ */

static char work[] = "/tmp/ocb-incr-read-XXXXXX";

static int backup(struct ocb_store *s, struct ocb_keyprov *kp, int full,
		  const char *label, struct ocb_backup_result *res)
{
	char src[PATH_MAX];
	const char *sources[1] = { src };
	struct ocb_archive_write_opts o = {
		.sources = sources, .nsources = 1,
		.prefix = "backups/instance-r", .instance = "r", .kp = kp,
		.label = label, .full = full,
	};

	snprintf(src, sizeof(src), "%s/src", work);
	return ocb_archive_write(s, &o, res);
}

static void put(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	static struct rec_log l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	static struct get_rec full_g[LOG_MAX], inc_g[LOG_MAX];
	struct ocb_store *inner = NULL, *s = NULL;
	struct ocb_keyprov *kp = NULL;
	struct ocb_backup_result full, inc;
	char p[PATH_MAX];
	uint8_t key[32];
	uint64_t fb, ib, ob;
	unsigned fn, in, on, i;

	ocb_log_set_level(OCB_LOG_ERR);
	if (!mkdtemp(work) || !(expect = malloc(BIG)))
		return 1;
	snprintf(p, sizeof(p), "%s/src", work);
	CHECK_INT(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/store", work);
	CHECK_INT(mkdir(p, 0700), 0);
	CHECK_INT(ocb_file_store_new(p, &inner), 0);
	CHECK_INT(ocb_store_layer_new(&rec_ops, &l, inner, &s), 0);
	CHECK_INT(ocb_crypto_random(expect, BIG), 0);
	CHECK_INT(ocb_crypto_random(key, sizeof(key)), 0);
	snprintf(p, sizeof(p), "%s/src/small", work);
	put(p, "before\n", 7, 0644);
	snprintf(p, sizeof(p), "%s/src/big.bin", work);
	put(p, expect, BIG, 0644);
	snprintf(p, sizeof(p), "%s/src/tail", work);
	put(p, "after\n", 6, 0644);
	snprintf(p, sizeof(p), "%s/master.key", work);
	put(p, key, sizeof(key), 0600);
	CHECK_INT(ocb_keyprov_keyfile_new(p, &kp), 0);
	if (!s || !kp)
		return T_DONE();
	CHECK_INT(backup(s, kp, 1, "full", &full), 0);
	CHECK_INT(backup(s, kp, 0, "inc", &inc), 0);
	CHECK_STR(inc.base, full.name);
	CHECK(inc.bytes_new * 100 < inc.bytes_total);

	/* read whole: exactly the full backup's requests, and at most the
	 * two frames holding the headers before and after from its own */
	CHECK_INT(read_whole(s, kp, full.key, &l), 0);
	fn = gets_of(&l, full.key, &fb, full_g);
	CHECK_INT(read_whole(s, kp, inc.key, &l), 0);
	in = gets_of(&l, full.key, &ib, inc_g);
	on = gets_of(&l, inc.key, &ob, NULL);
	CHECK_INT(in, fn);
	CHECK(fn >= 1);
	for (i = 0; i < fn && i < in; i++) {
		CHECK_INT(inc_g[i].off, full_g[i].off);
		CHECK_INT(inc_g[i].len, full_g[i].len);
	}
	CHECK(on <= 2 * fn);
	CHECK(ob < 64 << 10);

	/* sequentially through the cache: the same frames of the full
	 * backup, each once.  The requests' sizes follow the measured link
	 * (timings: on a busy machine the two reads measure different
	 * links), so their numbers are bounded loosely: at most about one
	 * request per frame */
	CHECK_INT(read_seq(s, kp, full.key, &l), 0);
	fn = gets_of(&l, full.key, &fb, NULL);
	CHECK_INT(read_seq(s, kp, inc.key, &l), 0);
	in = gets_of(&l, full.key, &ib, NULL);
	on = gets_of(&l, inc.key, &ob, NULL);
	CHECK_INT(ib, fb);
	CHECK(fn >= 1 && fn <= BIG / (1u << 20) + 2);
	CHECK(in >= 1 && in <= BIG / (1u << 20) + 2);
	CHECK(on <= 4);
	CHECK(ob < 64 << 10);

	read_source(s, kp, inc.key, full.key, &l);

	ocb_keyprov_free(kp);
	ocb_store_free(s);
	free(expect);
	t_rm_rf(work);
	return T_DONE();
}
