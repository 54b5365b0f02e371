/* Unit tests: the RAM frame cache over a real encrypted backup on a local
 * store, seen through a test layer that counts GETs, can hold them at a
 * gate and can flip a byte of what the store returns. */
#include "t.h"
#include "buf.h"
#include "crypto.h"
#include "file_store.h"
#include "frame_cache.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIG (20u << 20)		/* 20 frames of 1 MiB and a bit */
#define FSZ (1u << 20)

/* ---- the test layer ------------------------------------------------------ */

struct tl {
	struct ocb_store *inner;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t gets;
	int gate_closed, at_gate;
	uint64_t flip_at;	/* object offset to corrupt, or UINT64_MAX */
	unsigned delay_ms;	/* each get waits this long first (far) */
	int local;		/* answer as a cache layer would from disk */
};

struct flip_sink {
	ocb_sink_fn sink;
	void *arg;
	uint64_t pos, flip_at;
};

static int flip_fn(void *arg, const void *data, size_t len)
{
	struct flip_sink *f = arg;
	int r;

	if (f->flip_at >= f->pos && f->flip_at < f->pos + len) {
		uint8_t *copy = malloc(len);

		memcpy(copy, data, len);
		copy[f->flip_at - f->pos] ^= 0x20;
		r = f->sink(f->arg, copy, len);
		free(copy);
	} else {
		r = f->sink(f->arg, data, len);
	}
	f->pos += len;
	return r;
}

static int tl_get(struct ocb_store *s, const struct ocb_get_req *g,
		  ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct tl *t = s->priv;
	struct flip_sink f = { sink, arg, g->off, UINT64_MAX };
	unsigned delay;
	int local, r;

	pthread_mutex_lock(&t->lock);
	t->gets++;
	f.flip_at = g->suffix ? UINT64_MAX : t->flip_at;
	t->at_gate++;
	pthread_cond_broadcast(&t->cond);
	while (t->gate_closed)
		pthread_cond_wait(&t->cond, &t->lock);
	t->at_gate--;
	delay = t->delay_ms;
	local = t->local;
	pthread_mutex_unlock(&t->lock);
	if (delay)
		usleep(delay * 1000u);
	r = t->inner->ops->get(t->inner, g, flip_fn, &f, head);
	if (local && g->local_bytes)
		*g->local_bytes += f.pos - g->off;
	return r;
}

static int tl_head(struct ocb_store *s, const char *key,
		   struct ocb_obj_head *out)
{
	struct tl *t = s->priv;

	return t->inner->ops->head(t->inner, key, out);
}

static void tl_stats(struct ocb_store *s, struct ocb_buf *out)
{
	(void)s;
	(void)out;
}

static void tl_destroy(struct ocb_store *s)
{
	struct tl *t = s->priv;

	ocb_store_free(t->inner);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
	free(s);
}

static const struct ocb_store_ops tl_ops = {
	.name = "test",
	.get = tl_get,
	.head = tl_head,
	.stats = tl_stats,
	.destroy = tl_destroy,
};

static struct ocb_store *tl_new(struct ocb_store *inner, struct tl **tp)
{
	struct ocb_store *s = calloc(1, sizeof(*s));
	struct tl *t = calloc(1, sizeof(*t));

	t->inner = inner;
	t->flip_at = UINT64_MAX;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	s->ops = &tl_ops;
	s->priv = t;
	*tp = t;
	return s;
}

static uint64_t tl_gets(struct tl *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->gets;
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void tl_gate(struct tl *t, int closed)
{
	pthread_mutex_lock(&t->lock);
	t->gate_closed = closed;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* wait (no timing assumptions) until n GETs stand at the gate */
static void tl_wait_at_gate(struct tl *t, int n)
{
	pthread_mutex_lock(&t->lock);
	while (t->at_gate < n)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

/* ---- fixture ------------------------------------------------------------- */

static uint8_t byte_at(uint64_t i)
{
	/* compressible but position dependent */
	return (uint8_t)(i * 31 + i / 1000 + (i >> 16) * 7);
}

struct fx {
	struct ocb_store *s;
	struct tl *t;
	struct ocb_keyprov *kp;
	struct ocb_archive *a;
	uint32_t big, small;
	char store[64], src[64];
};

static int fx_open(struct fx *x)
{
	char *src = x->src, path[128], kpath[128];
	const char *sources[1];
	struct ocb_archive_write_opts o = { 0 };
	struct ocb_backup_result res;
	struct ocb_store *fs = NULL;
	uint8_t key[32], *data;
	const char *top;
	uint32_t i;
	int fd;

	memset(x, 0, sizeof(*x));
	snprintf(x->store, sizeof(x->store), "/tmp/ocb-fc-store-XXXXXX");
	snprintf(x->src, sizeof(x->src), "/tmp/ocb-fc-src-XXXXXX");
	if (!mkdtemp(src) || !mkdtemp(x->store))
		return -1;
	data = malloc(BIG);
	for (i = 0; i < BIG; i++)
		data[i] = byte_at(i);
	snprintf(path, sizeof(path), "%s/big", src);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	CHECK_INT(write(fd, data, BIG), BIG);
	close(fd);
	snprintf(path, sizeof(path), "%s/small", src);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	CHECK_INT(write(fd, data, 1000), 1000);
	close(fd);
	free(data);
	snprintf(kpath, sizeof(kpath), "%s/../%s.key", x->store,
		 strrchr(x->store, '/') + 1);
	fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ocb_crypto_random(key, sizeof(key));
	CHECK_INT(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
	close(fd);
	if (ocb_keyprov_keyfile_new(kpath, &x->kp) < 0 ||
	    ocb_file_store_new(x->store, &fs) < 0)
		return -1;
	unlink(kpath);
	sources[0] = src;
	o.sources = sources;
	o.nsources = 1;
	o.prefix = "p/instance-t";
	o.instance = "t";
	o.kp = x->kp;
	if (ocb_archive_write(fs, &o, &res) < 0) {
		ocb_store_free(fs);
		return -1;
	}
	x->s = tl_new(fs, &x->t);	/* reads go through the test layer */
	if (ocb_archive_open(x->s, res.key, x->kp, &x->a) < 0)
		return -1;
	top = strrchr(src, '/') + 1;
	snprintf(path, sizeof(path), "%s/big", top);
	CHECK_INT(ocb_archive_resolve(x->a, path, &x->big), 0);
	snprintf(path, sizeof(path), "%s/small", top);
	CHECK_INT(ocb_archive_resolve(x->a, path, &x->small), 0);
	CHECK_INT(ocb_archive_info(x->a)->frame_size, FSZ);
	return 0;
}

static void fx_close(struct fx *x)
{
	ocb_archive_free(x->a);
	ocb_store_free(x->s);
	ocb_keyprov_free(x->kp);
	t_rm_rf(x->src);
	t_rm_rf(x->store);
}

static uint64_t stat_of(struct ocb_frame_cache *fc, const char *name)
{
	struct ocb_buf b;
	uint64_t v = UINT64_MAX;
	char *p;
	size_t n = strlen(name);

	ocb_buf_init(&b, 1 << 16);
	ocb_frame_cache_stats(fc, &b);
	for (p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = strtoull(p + n + 1, NULL, 10);
	ocb_buf_release(&b);
	return v;
}

static int same(const uint8_t *p, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != byte_at(off + i))
			return 0;
	return 1;
}

/* the frame holding byte off of the big file */
static uint32_t frame_of(struct fx *x, uint64_t off)
{
	return (uint32_t)((ocb_archive_entry(x->a, x->big)->data_off + off) /
			  FSZ);
}

/* ---- tests --------------------------------------------------------------- */

static void test_bytes(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	uint8_t *buf = malloc(3 * FSZ);
	uint64_t seed = 12345, fetched;
	int i;

	CHECK_INT(ocb_frame_cache_new(64u << 20, &fc), 0);
	for (i = 0; i < 200; i++) {
		uint64_t off, len;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		off = (seed >> 20) % BIG;
		len = 1 + (seed >> 8) % (i % 10 == 0 ? 3 * FSZ : 70000);
		if (i % 7 == 0) {	/* straddle a frame boundary */
			uint64_t d = ocb_archive_entry(x->a, x->big)->data_off;
			uint64_t b = ((d + off) / FSZ + 1) * FSZ - d;

			off = b > 100 && b < BIG ? b - 100 : off;
			len = 200;
		}
		{
			size_t want = off + len > BIG ? BIG - off : len;

			CHECK_INT(ocb_frame_cache_pread(fc, x->a, 1, x->big, buf,
							len, off, NULL),
				  (ssize_t)want);
			CHECK(same(buf, off, want));
		}
	}
	/* end of file: short read, then nothing */
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 1, x->big, buf, 100, BIG - 10,
					NULL), 10);
	CHECK(same(buf, BIG - 10, 10));
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 1, x->big, buf, 100, BIG,
					NULL), 0);
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 1, x->small, buf, 4096, 0,
					NULL), 1000);
	CHECK(same(buf, 0, 1000));
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 1, OCB_ROOT, buf, 10, 0,
					NULL), -EISDIR);
	/* everything fits: each frame fetched once, no read-ahead (rs NULL) */
	fetched = stat_of(fc, "cache_frames_fetched");
	CHECK(fetched <= BIG / FSZ + 2);
	CHECK_INT(stat_of(fc, "cache_frames_readahead"), 0);
	CHECK(stat_of(fc, "cache_bytes_decoded") <= fetched * FSZ);
	CHECK(stat_of(fc, "cache_bytes_decoded") > (fetched - 1) * FSZ);
	ocb_frame_cache_forget(fc, 1);
	CHECK_INT(stat_of(fc, "cache_ram_bytes"), 0);
	ocb_frame_cache_free(fc);
	free(buf);
}

/* the kernel's read-ahead of one file arrives as parallel requests a
 * little out of order: stepped in arrival order, each keeps the stream
 * (the window grows, never resets), and a jump elsewhere resets it */
static void test_step(void)
{
	struct ocb_read_state rs = { 0 };
	const uint64_t k = 128 << 10;
	uint64_t offs[] = { 0, k, 3 * k, 2 * k, 5 * k, 4 * k, 6 * k, 8 * k,
			    7 * k, 9 * k };
	uint32_t w, last = 0;
	size_t i;

	CHECK_INT(ocb_read_state_step(NULL, 0, k), 0);
	CHECK_INT(ocb_read_state_step(&rs, offs[0], k), 0);
	for (i = 1; i < sizeof(offs) / sizeof(offs[0]); i++) {
		w = ocb_read_state_step(&rs, offs[i], k);
		CHECK(w >= last && w > 0);
		last = w;
	}
	CHECK(last >= 32);	/* the overtaken requests keep it */
	/* a request overtaken by several others keeps the window */
	CHECK_INT(ocb_read_state_step(&rs, 2 * k, k), last);
	CHECK_INT(ocb_read_state_step(&rs, 10 * k, k), last * 2 > 256 ? 256 :
		  last * 2);
	CHECK_INT(ocb_read_state_step(&rs, 500 * k, k), 0);	/* random */
	CHECK_INT(ocb_read_state_step(&rs, 501 * k, k), 1);
}

static void test_out_of_order(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	uint8_t buf[8192];
	uint64_t g0 = tl_gets(x->t);
	uint64_t offs[] = { 5 * FSZ + 10, 3 * FSZ, 4 * FSZ + 77, 3 * FSZ + 4096,
			    5 * FSZ, 4 * FSZ };
	struct ocb_read_state rs = { 0 };
	size_t i;

	CHECK_INT(ocb_frame_cache_new(64u << 20, &fc), 0);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CHECK_INT(ocb_frame_cache_pread(fc, x->a, 2, x->big, buf,
						sizeof(buf), offs[i], &rs),
			  (ssize_t)sizeof(buf));
		CHECK(same(buf, offs[i], sizeof(buf)));
	}
	/* frames touched: those of 3, 4, 5 MiB (+ maybe one more each
	 * for the 8 KiB spilling over a boundary); none twice */
	CHECK(stat_of(fc, "cache_frames_fetched") <= 6);
	CHECK_INT(stat_of(fc, "cache_frames_fetched"),
		  stat_of(fc, "cache_frame_misses"));
	CHECK(stat_of(fc, "cache_frame_hits") >= 3);
	CHECK_INT(tl_gets(x->t) - g0, stat_of(fc, "cache_fetch_requests"));
	CHECK_INT(stat_of(fc, "cache_frames_readahead"), 0);
	ocb_frame_cache_free(fc);
}

struct rd {
	struct ocb_frame_cache *fc;
	struct fx *x;
	uint64_t off;
	size_t len;
	ssize_t r;
	int ok;
};

static void *rd_thread(void *arg)
{
	struct rd *d = arg;
	uint8_t *buf = malloc(d->len);

	d->r = ocb_frame_cache_pread(d->fc, d->x->a, 3, d->x->big, buf, d->len,
				     d->off, NULL);
	d->ok = d->r == (ssize_t)d->len && same(buf, d->off, d->len);
	free(buf);
	return NULL;
}

/* a reader needing a frame another reader is fetching waits for it */
static void test_inflight(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	struct rd a, b;
	pthread_t ta, tb;
	uint64_t g0 = tl_gets(x->t);
	struct timespec t0, now;

	CHECK_INT(ocb_frame_cache_new(64u << 20, &fc), 0);
	a = (struct rd){ fc, x, 7 * FSZ + 100, 5000, 0, 0 };
	b = (struct rd){ fc, x, 7 * FSZ + 200, 3000, 0, 0 };
	if (frame_of(x, a.off) != frame_of(x, a.off + a.len) ||
	    frame_of(x, b.off) != frame_of(x, a.off))
		a.off = b.off = 7 * FSZ + FSZ / 2;	/* same single frame */
	tl_gate(x->t, 1);
	pthread_create(&ta, NULL, rd_thread, &a);
	tl_wait_at_gate(x->t, 1);
	pthread_create(&tb, NULL, rd_thread, &b);
	/* b finds the frame LOADING and waits: watch the counter (bounded) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (stat_of(fc, "cache_waits") == 0 && now.tv_sec - t0.tv_sec < 30);
	CHECK_INT(stat_of(fc, "cache_waits"), 1);
	tl_gate(x->t, 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.ok);
	CHECK(b.ok);
	CHECK_INT(tl_gets(x->t) - g0, 1);
	CHECK_INT(stat_of(fc, "cache_frames_fetched"), 1);
	ocb_frame_cache_free(fc);
}

/* sequential reads grow the read-ahead window; the reads that follow are
 * hits; no frame is fetched twice */
static void test_sequential(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	struct ocb_read_state rs = { 0 };
	uint8_t *buf = malloc(128 << 10);
	uint32_t windows[8] = { 0 }, nw = 0, last = 0;
	uint64_t off, g0 = tl_gets(x->t), nf;
	int ok = 1;

	CHECK_INT(ocb_frame_cache_new(256u << 20, &fc), 0);
	for (off = 0; off < BIG; off += 128 << 10) {
		ssize_t n = ocb_frame_cache_pread(fc, x->a, 4, x->big, buf,
						  128 << 10, off, &rs);

		ok &= n == (128 << 10) && same(buf, off, (size_t)n);
		if (rs.window != last && nw < 8)
			windows[nw++] = rs.window;
		last = rs.window;
	}
	CHECK(ok);
	/* 1, 2, 4, 8, 16, 32, 64 ... (the cache uses at most eight
	 * requests' worth: 64 frames while the link is near) */
	CHECK(nw >= 7);
	CHECK_INT(windows[0], 1);
	CHECK_INT(windows[1], 2);
	CHECK_INT(windows[6], 64);
	ocb_frame_cache_forget(fc, 4);	/* also waits for read-ahead */
	nf = frame_of(x, BIG - 1) - frame_of(x, 0) + 1;
	CHECK_INT(stat_of(fc, "cache_frames_fetched"), nf);
	CHECK(stat_of(fc, "cache_frames_readahead") >= nf / 2);
	/* fewer requests than frames: read-ahead fetches runs */
	CHECK(tl_gets(x->t) - g0 < nf);
	CHECK(stat_of(fc, "cache_frame_hits") > stat_of(fc, "cache_frame_misses"));
	CHECK_INT(stat_of(fc, "cache_ram_bytes"), 0);
	CHECK_INT(stat_of(fc, "cache_ram_readahead_bytes"), 0);
	ocb_frame_cache_free(fc);
	free(buf);
}

/* reads far apart never read ahead, even with a read state */
static void test_random_no_readahead(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	struct ocb_read_state rs = { 0 };
	uint8_t buf[4096];
	uint64_t offs[] = { 9 * FSZ + 5, 2 * FSZ + 9, 15 * FSZ + 1, 6 * FSZ + 3,
			    18 * FSZ + 7, 0, 12 * FSZ };
	size_t i;

	CHECK_INT(ocb_frame_cache_new(64u << 20, &fc), 0);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CHECK_INT(ocb_frame_cache_pread(fc, x->a, 5, x->big, buf,
						sizeof(buf), offs[i], &rs),
			  (ssize_t)sizeof(buf));
		CHECK(same(buf, offs[i], sizeof(buf)));
		CHECK_INT(rs.window, 0);
	}
	CHECK_INT(stat_of(fc, "cache_frames_readahead"), 0);
	CHECK(stat_of(fc, "cache_frames_fetched") <= 2 * i);
	ocb_frame_cache_free(fc);
}

/* the round trip is the store's: requests a cache layer answered (disk,
 * another's transfer: a few milliseconds at any distance) do not shrink
 * it, or read-ahead would size itself for a store next door.  The far
 * store is far indeed: a request to the near one must come in under it
 * on a busy machine under the sanitizers too (30 ms did not, once) */
#define FAR_MS 250
static void test_link_store_only(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	uint8_t buf[4096];
	uint32_t i;

	CHECK_INT(ocb_frame_cache_new(64u << 20, &fc), 0);
	x->t->delay_ms = FAR_MS;
	for (i = 0; i < 3; i++)
		CHECK_INT(ocb_frame_cache_pread(fc, x->a, 7, x->big, buf,
						sizeof(buf), i * 4 * FSZ, NULL),
			  (ssize_t)sizeof(buf));
	CHECK(stat_of(fc, "cache_link_rtt_us") >= FAR_MS * 1000);
	x->t->delay_ms = 0;
	x->t->local = 1;
	ocb_frame_cache_forget(fc, 7);
	for (i = 0; i < 12; i++) {
		CHECK_INT(ocb_frame_cache_pread(fc, x->a, 7, x->big, buf,
						sizeof(buf), i * FSZ + 3, NULL),
			  (ssize_t)sizeof(buf));
		CHECK(same(buf, i * FSZ + 3, sizeof(buf)));
	}
	CHECK(stat_of(fc, "cache_link_rtt_us") >= FAR_MS * 1000);
	/* the store answering fast again: followed */
	x->t->local = 0;
	ocb_frame_cache_forget(fc, 7);
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 7, x->big, buf, sizeof(buf),
					5 * FSZ, NULL), (ssize_t)sizeof(buf));
	CHECK(stat_of(fc, "cache_link_rtt_us") < FAR_MS * 1000);
	ocb_frame_cache_free(fc);
}

/* the byte bound holds while the whole file streams through a small cache */
static void test_bound(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	struct ocb_read_state rs = { 0 };
	uint8_t *buf = malloc(256 << 10);
	uint64_t off, limit;
	int ok = 1, bounded = 1;

	CHECK_INT(ocb_frame_cache_new(1, &fc), 0);	/* raised to 8 MiB */
	limit = stat_of(fc, "cache_ram_limit");
	CHECK_INT(limit, 8u << 20);
	for (off = 0; off < BIG; off += 256 << 10) {
		ok &= ocb_frame_cache_pread(fc, x->a, 6, x->big, buf, 256 << 10,
					    off, &rs) == (256 << 10) &&
		      same(buf, off, 256 << 10);
		bounded &= stat_of(fc, "cache_ram_bytes") <= limit;
	}
	CHECK(ok);
	CHECK(bounded);
	ocb_frame_cache_forget(fc, 6);
	CHECK(stat_of(fc, "cache_evictions") >= BIG / FSZ - 8);
	/* read-ahead kept to its share: none of it pushed out unread, so
	 * no frame was fetched twice */
	CHECK_INT(stat_of(fc, "cache_readahead_unused_evicted"), 0);
	CHECK_INT(stat_of(fc, "cache_frames_fetched"),
		  frame_of(x, BIG - 1) - frame_of(x, 0) + 1);
	CHECK(stat_of(fc, "cache_ram_bytes") == 0);
	/* random reads after: still correct */
	for (off = 3; off < BIG; off += 3 * FSZ + 12345) {
		ok &= ocb_frame_cache_pread(fc, x->a, 6, x->big, buf, 5000, off,
					    NULL) == 5000 && same(buf, off, 5000);
		bounded &= stat_of(fc, "cache_ram_bytes") <= limit;
	}
	CHECK(ok);
	CHECK(bounded);
	ocb_frame_cache_free(fc);
	free(buf);
}

struct many {
	struct ocb_frame_cache *fc;
	struct fx *x;
	unsigned seed;
	int seq;
	int ok;
};

static void *many_thread(void *arg)
{
	struct many *m = arg;
	struct ocb_read_state rs = { 0 };
	uint8_t *buf = malloc(200000);
	int i;

	m->ok = 1;
	for (i = 0; i < 150; i++) {
		uint64_t off, len;

		m->seed = m->seed * 1103515245u + 12345u;
		off = m->seq ? (uint64_t)i * 131072 % BIG :
			((uint64_t)m->seed * 977) % BIG;
		len = 1 + m->seed % 200000;
		if (off + len > BIG)
			len = BIG - off;
		m->ok &= ocb_frame_cache_pread(m->fc, m->x->a, 7, m->x->big,
					       buf, len, off,
					       m->seq ? &rs : NULL) ==
			 (ssize_t)len && same(buf, off, len);
	}
	free(buf);
	return NULL;
}

static void test_concurrent(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	struct many m[6];
	pthread_t t[6];
	int i;

	CHECK_INT(ocb_frame_cache_new(12u << 20, &fc), 0);
	for (i = 0; i < 6; i++) {
		m[i] = (struct many){ fc, x, (unsigned)i * 7919u + 1, i < 2, 0 };
		pthread_create(&t[i], NULL, many_thread, &m[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CHECK(m[i].ok);
	}
	ocb_frame_cache_forget(fc, 7);
	CHECK_INT(stat_of(fc, "cache_ram_bytes"), 0);
	CHECK_INT(stat_of(fc, "cache_fetch_failures"), 0);
	ocb_frame_cache_free(fc);
}

static int count_frame(void *arg, uint32_t frame, const void *data, size_t len)
{
	(void)frame;
	(void)data;
	(void)len;
	++*(int *)arg;
	return 0;
}

static void count_log(void *arg, enum ocb_log_level level, const char *line)
{
	(void)level;
	(void)line;
	++*(int *)arg;
}

/* a frame failing verification: -EBADMSG for reads of it, nothing cached,
 * neighbours unaffected; once the store serves good bytes it reads again */
static void test_bad_frame(struct fx *x)
{
	struct ocb_frame_cache *fc = NULL;
	const struct ocb_archive_info *info = ocb_archive_info(x->a);
	uint64_t d = ocb_archive_entry(x->a, x->big)->data_off, off, g;
	uint8_t buf[4096];
	uint32_t bad = UINT32_MAX, i;
	int nbad = 0, got, logged = 0;

	CHECK_INT(ocb_frame_cache_new(64u << 20, &fc), 0);
	ocb_log_set_sink(count_log, &logged);	/* the damage is logged */
	x->t->flip_at = info->object_size / 2;
	for (i = 0; i < info->nframes; i++) {
		got = 0;
		if (ocb_archive_read_frames(x->a, i, 1, count_frame, &got) ==
		    -EBADMSG) {
			bad = i;
			nbad++;
			CHECK_INT(got, 0);
		}
	}
	CHECK_INT(nbad, 1);
	if (bad == UINT32_MAX || (uint64_t)bad * FSZ < d + FSZ)
		goto out;
	off = (uint64_t)bad * FSZ - d + 100;	/* inside the bad frame */
	g = tl_gets(x->t);
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 8, x->big, buf, sizeof(buf),
					off, NULL), -EBADMSG);
	CHECK_INT(stat_of(fc, "cache_ram_bytes"), 0);
	CHECK_INT(stat_of(fc, "cache_fetch_failures"), 1);
	/* a read spanning the previous frame and the bad one fails too, the
	 * good frame alone reads */
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 8, x->big, buf, sizeof(buf),
					off - 2000, NULL), -EBADMSG);
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 8, x->big, buf, 1000,
					off - 2000, NULL), 1000);
	CHECK(same(buf, off - 2000, 1000));
	/* not cached: the next read asks the store again */
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 8, x->big, buf, sizeof(buf),
					off, NULL), -EBADMSG);
	CHECK_INT(tl_gets(x->t) - g, 3);	/* the good frame was cached */
	x->t->flip_at = UINT64_MAX;
	CHECK_INT(ocb_frame_cache_pread(fc, x->a, 8, x->big, buf, sizeof(buf),
					off, NULL), (ssize_t)sizeof(buf));
	CHECK(same(buf, off, sizeof(buf)));
out:
	x->t->flip_at = UINT64_MAX;
	ocb_log_set_sink(NULL, NULL);
	CHECK(logged > 0);
	ocb_frame_cache_free(fc);
}

int main(void)
{
	struct fx x;

	ocb_log_set_level(OCB_LOG_ERR);
	if (fx_open(&x) < 0) {
		CHECK(!"fixture: backup and open");
		return T_DONE();
	}
	test_step();
	test_bytes(&x);
	test_out_of_order(&x);
	test_inflight(&x);
	test_sequential(&x);
	test_random_no_readahead(&x);
	test_link_store_only(&x);
	test_bound(&x);
	test_concurrent(&x);
	test_bad_frame(&x);
	fx_close(&x);
	return T_DONE();
}
