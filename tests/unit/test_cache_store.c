/* Unit tests: the disk cache layer over a local-directory store, seen
 * through a layer that counts the requests reaching the store.  Separate
 * cache layers on one directory stand for separate processes (and one test
 * uses a real second process). */
#include "t.h"
#include "buf.h"
#include "cache_store.h"
#include "crypto.h"
#include "fault_store.h"
#include "file_store.h"
#include "log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1u << 20)

/* ---- the counting layer -------------------------------------------------- */

struct cnt {
	struct ocb_store *inner;
	atomic_int_fast64_t gets, heads, lists, bytes;
};

#define CNT(s) ((struct cnt *)(s)->priv)
#define IN(s) (CNT(s)->inner)

struct csink {
	struct cnt *c;
	ocb_sink_fn sink;
	void *arg;
};

static int c_sink(void *arg, const void *p, size_t n)
{
	struct csink *k = arg;

	atomic_fetch_add(&k->c->bytes, (int_fast64_t)n);
	return k->sink(k->arg, p, n);
}

static int c_get(struct ocb_store *s, const struct ocb_get_req *g,
		 ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct csink k = { CNT(s), sink, arg };

	atomic_fetch_add(&CNT(s)->gets, 1);
	return IN(s)->ops->get(IN(s), g, c_sink, &k, head);
}

static int c_head(struct ocb_store *s, const char *key, struct ocb_obj_head *o)
{
	atomic_fetch_add(&CNT(s)->heads, 1);
	return IN(s)->ops->head(IN(s), key, o);
}

static int c_put(struct ocb_store *s, const char *key, uint64_t size,
		 ocb_source_fn src, void *arg, const struct ocb_put_opts *o)
{
	return IN(s)->ops->put(IN(s), key, size, src, arg, o);
}

static int c_list(struct ocb_store *s, const char *prefix, const char *delim,
		  const char *after, ocb_list_fn cb, void *arg)
{
	atomic_fetch_add(&CNT(s)->lists, 1);
	return IN(s)->ops->list(IN(s), prefix, delim, after, cb, arg);
}

static int c_del(struct ocb_store *s, const char *key)
{
	return IN(s)->ops->del(IN(s), key);
}

static void c_stats(struct ocb_store *s, struct ocb_buf *out)
{
	ocb_buf_printf(out, "test_gets %" PRIdFAST64 "\n",
		       atomic_load(&CNT(s)->gets));
}

static void c_destroy(struct ocb_store *s)
{
	ocb_store_free(IN(s));
	free(s->priv);
	free(s);
}

static const struct ocb_store_ops c_ops = {
	.name = "count",
	.get = c_get,
	.head = c_head,
	.put = c_put,
	.list = c_list,
	.del = c_del,
	.stats = c_stats,
	.destroy = c_destroy,
};

static char root[64];		/* the local store */

/* a new counting layer over the local store; *cp observes it */
static struct ocb_store *counted(struct cnt **cp)
{
	struct ocb_store *s = calloc(1, sizeof(*s));
	struct cnt *c = calloc(1, sizeof(*c));

	if (ocb_file_store_new(root, &c->inner) < 0)
		abort();
	s->ops = &c_ops;
	s->priv = c;
	*cp = c;
	return s;
}

/* a "process": cache layer on dir over a fresh counting layer */
static struct ocb_store *cached(const char *dir, uint64_t max, struct cnt **cp)
{
	struct ocb_store *s = NULL;

	CHECK_INT(ocb_cache_store_new(counted(cp), dir, max, &s), 0);
	return s;
}

/* ---- helpers ------------------------------------------------------------- */

/*
 * The test pattern: version ver of an object holds, at each multiple of 8,
 * the bytes of one 64-bit word derived from its index.  Filled and checked
 * a word at a time: the tests check hundreds of MiB, and deriving the word
 * again for every byte made that most of the suite's time (more so under
 * ASan), for the same bytes.
 */
static uint64_t word_at(uint64_t w, unsigned ver)
{
	uint64_t x = (w + 1) * 0x9E3779B97F4A7C15ull + ver;

	return x ^ (x >> 29);
}

static uint8_t byte_at(uint64_t i, unsigned ver)
{
	return (uint8_t)(word_at(i / 8, ver) >> (8 * (i % 8)));
}

/* p[0, n) = the bytes of version ver at [off, off+n): whole words in the
 * middle, byte by byte at the edges */
static void fill(uint8_t *p, uint64_t off, size_t n, unsigned ver)
{
	uint64_t i = off, end = off + n, x;

	for (; i < end && i % 8; i++)
		p[i - off] = byte_at(i, ver);
	for (; i + 8 <= end; i += 8) {
		x = htole64(word_at(i / 8, ver));
		memcpy(p + (i - off), &x, 8);
	}
	for (; i < end; i++)
		p[i - off] = byte_at(i, ver);
}

static void put_object(struct ocb_store *s, const char *key, size_t n,
		       unsigned ver)
{
	uint8_t *p = malloc(n ? n : 1);

	fill(p, 0, n, ver);
	CHECK_INT(ocb_store_put_mem(s, key, p, n, NULL), 0);
	free(p);
}

static int same(const uint8_t *p, uint64_t off, size_t n, unsigned ver)
{
	uint8_t want[16384];
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = n - i < sizeof(want) ? n - i : sizeof(want);
		fill(want, off + i, k, ver);
		if (memcmp(p + i, want, k) != 0)
			return 0;
	}
	return 1;
}

/* read [off, off+len) and compare with version ver: 1 if right */
static int read_ok(struct ocb_store *s, const char *key, uint64_t off,
		   size_t len, uint64_t size, unsigned ver)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t want = off + len > size ? (size_t)(size - off) : len;
	ssize_t n = ocb_store_read(s, key, off, len, buf);
	int ok = n == (ssize_t)want && same(buf, off, want, ver);

	if (!ok)
		fprintf(stderr, "read %s [%" PRIu64 ", +%zu): %zd\n", key, off,
			len, n);
	free(buf);
	return ok;
}

static int suffix_ok(struct ocb_store *s, const char *key, size_t len,
		     uint64_t size, unsigned ver)
{
	uint8_t *buf = malloc(len);
	uint64_t objsize = 0;
	size_t want = len < size ? len : (size_t)size;
	ssize_t n = ocb_store_read_suffix(s, key, len, buf, &objsize);
	int ok = n == (ssize_t)want && objsize == size &&
		same(buf, size - want, want, ver);

	if (!ok)
		fprintf(stderr, "suffix %s %zu: %zd size %" PRIu64 "\n", key,
			len, n, objsize);
	free(buf);
	return ok;
}

static uint64_t stat_of(struct ocb_store *s, const char *name)
{
	struct ocb_buf b;
	uint64_t v = UINT64_MAX;
	size_t n = strlen(name);
	char *p;

	ocb_buf_init(&b, 1 << 16);
	s->ops->stats(s, &b);
	for (p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = strtoull(p + n + 1, NULL, 10);
	ocb_buf_release(&b);
	return v;
}

static int nop_list(void *arg, const struct ocb_list_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

static int list_all(struct ocb_store *s, const char *prefix)
{
	int n = 0;

	CHECK_INT(s->ops->list(s, prefix, NULL, NULL, nop_list, &n), 0);
	return n;
}

static uint64_t du_total;

static int du_fn(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (uint64_t)st->st_size;
	return 0;
}

static uint64_t du(const char *dir)
{
	du_total = 0;
	nftw(dir, du_fn, 16, FTW_PHYS);
	return du_total;
}

static void new_dir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "/tmp/ocb-cs-%s-XXXXXX", name);
	if (!mkdtemp(out))
		abort();
}

/* the bytes of a get of [off, off + len) the cache answered itself */
static uint64_t local_of(struct ocb_store *s, const char *key, uint64_t off,
			 uint64_t len)
{
	uint64_t local = 0;
	struct ocb_get_req g = { .key = key, .off = off, .len = len,
				 .local_bytes = &local };
	struct ocb_buf b;

	ocb_buf_init(&b, len);
	CHECK_INT(s->ops->get(s, &g, (ocb_sink_fn)ocb_buf_append, &b, NULL), 0);
	CHECK_INT(b.len, len);
	ocb_buf_release(&b);
	return local;
}

static int files_named(const char *dir, const char *prefix);

/* ---- tests --------------------------------------------------------------- */

#define SIZE_A (5 * MiB + 512 * 1024 + 123)

/* a second process opening the same object makes no request at all */
static void test_remount(void)
{
	char dir[64];
	struct ocb_store *s;
	struct cnt *c;
	struct stat st;
	const char *k = "p/remount/a.ocb";
	uint64_t ranges[][2] = { { 0, 4096 }, { 1000000, 100000 },
				 { 3 * MiB - 5, 10 }, { 4 * MiB, 2 * MiB } };
	size_t i;
	int ok;

	new_dir(dir, sizeof(dir), "remount");
	t_rm_rf(dir);	/* created by the layer, 0700 */
	s = cached(dir, 64 * MiB, &c);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	put_object(s, k, SIZE_A, 1);
	put_object(s, "p/remount/other.json", 3000, 1);

	/* process 1: the open (suffix) and some ranges */
	CHECK(suffix_ok(s, k, 256 * 1024, SIZE_A, 1));
	CHECK_INT(atomic_load(&c->gets), 1);
	for (i = 0, ok = 1; i < 4; i++)
		ok &= read_ok(s, k, ranges[i][0], ranges[i][1], SIZE_A, 1);
	CHECK(ok);
	/* again: all from disk */
	c->gets = 0;
	CHECK(suffix_ok(s, k, 256 * 1024, SIZE_A, 1));
	for (i = 0, ok = 1; i < 4; i++)
		ok &= read_ok(s, k, ranges[i][0], ranges[i][1], SIZE_A, 1);
	CHECK(ok);
	CHECK_INT(atomic_load(&c->gets), 0);
	CHECK(stat_of(s, "disk_cache_hits") > 0);
	/* not an immutable object: always from the store */
	CHECK(read_ok(s, "p/remount/other.json", 0, 100, 3000, 1));
	CHECK(read_ok(s, "p/remount/other.json", 0, 100, 3000, 1));
	CHECK_INT(atomic_load(&c->gets), 2);
	ocb_store_free(s);

	/* process 2 lists (as the mount does), then opens: zero requests */
	s = cached(dir, 64 * MiB, &c);
	CHECK_INT(list_all(s, "p/remount/"), 2);
	CHECK(suffix_ok(s, k, 256 * 1024, SIZE_A, 1));
	for (i = 0, ok = 1; i < 4; i++)
		ok &= read_ok(s, k, ranges[i][0], ranges[i][1], SIZE_A, 1);
	CHECK(ok);
	/* a suffix read of another length: turned into blocks, all cached */
	CHECK(suffix_ok(s, k, 100 * 1024, SIZE_A, 1));
	CHECK_INT(atomic_load(&c->gets), 0);
	CHECK_INT(atomic_load(&c->heads), 0);
	CHECK_INT(stat_of(s, "disk_cache_misses"), 0);
	CHECK(stat_of(s, "disk_cache_bytes_served") >= 256 * 1024 + 3 * MiB / 2);
	ocb_store_free(s);

	/* process 3 does not list: its first get asks the store (and learns
	 * the etag from it), the rest come from disk */
	s = cached(dir, 64 * MiB, &c);
	CHECK(suffix_ok(s, k, 256 * 1024, SIZE_A, 1));
	CHECK_INT(atomic_load(&c->gets), 1);
	for (i = 0, ok = 1; i < 4; i++)
		ok &= read_ok(s, k, ranges[i][0], ranges[i][1], SIZE_A, 1);
	CHECK(ok);
	CHECK_INT(atomic_load(&c->gets), 1);
	/* a head passing through also tells the etag */
	ocb_store_free(s);
	s = cached(dir, 64 * MiB, &c);
	{
		struct ocb_obj_head h = { 0 };

		CHECK_INT(s->ops->head(s, k, &h), 0);
		CHECK_INT(h.size, SIZE_A);
		ocb_obj_head_release(&h);
	}
	CHECK(read_ok(s, k, 1000000, 100000, SIZE_A, 1));
	CHECK_INT(atomic_load(&c->gets), 0);
	/* what was answered from disk is counted for the caller (its time
	 * says nothing of the store's distance); what passed through not */
	CHECK_INT(local_of(s, k, 1000000, 100000), 100000);
	CHECK_INT(local_of(s, "p/remount/other.json", 0, 100), 0);
	CHECK_INT(atomic_load(&c->gets), 1);
	/* past the end */
	{
		uint8_t b[10];

		CHECK_INT(ocb_store_read(s, k, SIZE_A, 10, b), -ERANGE);
		CHECK_INT(ocb_store_read(s, k, SIZE_A - 3, 10, b), 3);
	}
	/* deleting the object drops what is cached of it */
	CHECK_INT(s->ops->del(s, k), 0);
	CHECK_INT(du(dir), 0);
	ocb_store_free(s);
	t_rm_rf(dir);
}

/* the same key re-created with other bytes is never served stale */
static void test_stale(void)
{
	char dir[64];
	struct ocb_store *s, *s2, *raw;
	struct cnt *c, *c2, *rc;
	const char *k = "p/stale/b.ocb";
	char etag1[OCB_ETAG_MAX];
	struct ocb_obj_head h = { 0 };

	new_dir(dir, sizeof(dir), "stale");
	raw = counted(&rc);	/* another machine, writing directly */
	put_object(raw, k, 3 * MiB, 1);
	s = cached(dir, 64 * MiB, &c);
	CHECK_INT(list_all(s, "p/stale/"), 1);
	CHECK(read_ok(s, k, 0, 3 * MiB, 3 * MiB, 1));	/* all cached */
	CHECK_INT(s->ops->head(s, k, &h), 0);
	snprintf(etag1, sizeof(etag1), "%s", h.etag);
	ocb_obj_head_release(&h);

	/* replaced behind our back, another size too */
	CHECK_INT(raw->ops->del(raw, k), 0);
	put_object(raw, k, 3 * MiB + 10, 2);

	/* a new process that lists sees the new object */
	s2 = cached(dir, 64 * MiB, &c2);
	CHECK_INT(list_all(s2, "p/stale/"), 1);
	CHECK(read_ok(s2, k, 0, 3 * MiB + 10, 3 * MiB + 10, 2));
	CHECK(suffix_ok(s2, k, 1000, 3 * MiB + 10, 2));
	/* and one that does not list, too */
	ocb_store_free(s2);
	s2 = cached(dir, 64 * MiB, &c2);
	CHECK(suffix_ok(s2, k, 1000, 3 * MiB + 10, 2));
	CHECK(read_ok(s2, k, 0, 3 * MiB + 10, 3 * MiB + 10, 2));
	/* a reader still holding the old etag is told so */
	{
		struct ocb_get_req g = { .key = k, .off = 0, .len = 10,
					 .if_match = etag1 };
		struct ocb_buf b;

		ocb_buf_init(&b, 100);
		CHECK_INT(s2->ops->get(s2, &g, (ocb_sink_fn)ocb_buf_append, &b,
				       NULL), -ESTALE);
		ocb_buf_release(&b);
	}
	ocb_store_free(s2);

	/* the first process re-lists (the mount's refresh): new bytes */
	CHECK_INT(list_all(s, "p/stale/"), 1);
	CHECK(read_ok(s, k, 3 * MiB - 100, 110, 3 * MiB + 10, 2));
	ocb_store_free(s);

	/* a process that knew the old etag and fetches a block it lacks is
	 * told -ESTALE by the store, and learns the new object after */
	k = "p/stale/b2.ocb";
	put_object(raw, k, 3 * MiB, 1);
	s = cached(dir, 64 * MiB, &c);
	CHECK_INT(list_all(s, "p/stale/"), 2);
	CHECK(read_ok(s, k, 0, 100, 3 * MiB, 1));
	CHECK_INT(raw->ops->del(raw, k), 0);
	put_object(raw, k, 6 * MiB, 3);
	{
		uint8_t b[100];

		CHECK_INT(ocb_store_read(s, k, 2 * MiB, 100, b), -ESTALE);
	}
	CHECK(read_ok(s, k, 5 * MiB, 100, 6 * MiB, 3));
	CHECK(read_ok(s, k, 0, 100, 6 * MiB, 3));
	ocb_store_free(s);
	ocb_store_free(raw);
	t_rm_rf(dir);
}

/* the size bound holds, least recently used go first */
static void test_eviction(void)
{
	char dir[64];
	struct ocb_store *s;
	struct cnt *c;
	const char *k = "p/evict/c.ocb";
	uint64_t off, max = 3 * MiB + MiB / 2;
	int ok = 1, bounded = 1;

	new_dir(dir, sizeof(dir), "evict");
	s = cached(dir, max, &c);
	put_object(s, k, 12 * MiB, 4);
	CHECK_INT(list_all(s, "p/evict/"), 1);
	for (off = 0; off < 12 * MiB; off += MiB / 2) {
		ok &= read_ok(s, k, off, MiB / 2, 12 * MiB, 4);
		/* the block just read (block 0 kept hot) */
		ok &= read_ok(s, k, 10, 10, 12 * MiB, 4);
		stat_of(s, "disk_cache_bytes");	/* written behind: settled */
		bounded &= du(dir) <= max;
	}
	CHECK(ok);
	CHECK(bounded);
	CHECK(stat_of(s, "disk_cache_evictions") >= 8);
	CHECK(stat_of(s, "disk_cache_bytes") <= max);
	/* block 0 was used all along: still there; block 1 long gone */
	c->gets = 0;
	CHECK(read_ok(s, k, 100, 1000, 12 * MiB, 4));
	CHECK_INT(atomic_load(&c->gets), 0);
	CHECK(read_ok(s, k, MiB + 100, 1000, 12 * MiB, 4));
	CHECK_INT(atomic_load(&c->gets), 1);
	ocb_store_free(s);
	/* a new process over a cache above its (smaller) bound trims it */
	s = cached(dir, MiB, &c);
	CHECK(du(dir) <= MiB);
	ocb_store_free(s);
	t_rm_rf(dir);
}

struct reader {
	struct ocb_store *s;
	const char *key;
	unsigned seed;
	int ok;
};

#define SIZE_D (9 * MiB + 77)

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	int i;

	r->ok = 1;
	for (i = 0; i < 60; i++) {
		uint64_t off, len;

		r->seed = r->seed * 1103515245u + 12345u;
		off = ((uint64_t)r->seed * 131) % SIZE_D;
		len = 1 + (r->seed >> 3) % (2 * MiB);
		if (i % 10 == 0)
			r->ok &= suffix_ok(r->s, r->key, 64 * 1024 + i, SIZE_D, 5);
		else
			r->ok &= read_ok(r->s, r->key, off, len, SIZE_D, 5);
	}
	return NULL;
}

/* threads of two layers on one directory, and another process */
static void test_concurrent(void)
{
	char dir[64];
	struct ocb_store *s[2];
	struct cnt *c[2];
	struct reader rd[6];
	pthread_t t[6];
	const char *k = "p/conc/d.ocb";
	pid_t pid;
	int i, status = -1;

	new_dir(dir, sizeof(dir), "conc");
	s[0] = cached(dir, 6 * MiB, &c[0]);	/* small: evicts meanwhile */
	put_object(s[0], k, SIZE_D, 5);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct cnt *cc;
		struct ocb_store *cs = NULL;
		struct reader r = { NULL, k, 99, 0 };

		if (ocb_cache_store_new(counted(&cc), dir, 6 * MiB, &cs) < 0)
			_exit(2);
		r.s = cs;
		reader_thread(&r);
		ocb_store_free(cs);
		_exit(r.ok ? 0 : 1);
	}
	s[1] = cached(dir, 6 * MiB, &c[1]);
	for (i = 0; i < 6; i++) {
		rd[i] = (struct reader){ s[i % 2], k, (unsigned)i * 7919u + 3, 0 };
		pthread_create(&t[i], NULL, reader_thread, &rd[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CHECK(rd[i].ok);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT(stat_of(s[0], "disk_cache_write_errors"), 0);
	CHECK_INT(stat_of(s[1], "disk_cache_write_errors"), 0);
	/* no temporary file left behind */
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd),
			 "test -z \"$(find %s -name '.t*' -print -quit)\"", dir);
		CHECK_INT(system(cmd), 0);
	}
	ocb_store_free(s[0]);
	ocb_store_free(s[1]);
	t_rm_rf(dir);
}

/*
 * Threads reading adjacent ranges that do not start on block boundaries
 * (as the mount's parallel read-ahead does) share their edge blocks: every
 * byte right, no block fetched whole twice (what a thread finds another
 * fetching, it fetches only its part of), and all of it cached after.
 */
#define ADJ_RUN (MiB + 300 * 1024)	/* the length of each range */
#define ADJ_N 12

struct adj {
	struct ocb_store *s;
	const char *key;
	uint64_t off;
	int ok;
};

static void *adj_thread(void *arg)
{
	struct adj *a = arg;

	a->ok = read_ok(a->s, a->key, a->off, ADJ_RUN, (uint64_t)ADJ_N * ADJ_RUN,
			8);
	return NULL;
}

static void test_adjacent(void)
{
	char dir[64];
	const char *k = "p/adj/a.ocb";
	const uint64_t size = (uint64_t)ADJ_N * ADJ_RUN;
	struct ocb_store *s;
	struct cnt *c;
	struct adj a[ADJ_N];
	pthread_t t[ADJ_N];
	int round, i;

	for (round = 0; round < 20; round++) {
		new_dir(dir, sizeof(dir), "adj");
		s = cached(dir, 256 * MiB, &c);
		if (round == 0)
			put_object(s, k, size, 8);
		CHECK_INT(list_all(s, "p/adj/"), 1);	/* learns the etag */
		atomic_store(&c->bytes, 0);
		for (i = 0; i < ADJ_N; i++) {
			a[i] = (struct adj){ s, k, (uint64_t)i * ADJ_RUN, 0 };
			pthread_create(&t[i], NULL, adj_thread, &a[i]);
		}
		for (i = 0; i < ADJ_N; i++) {
			pthread_join(t[i], NULL);
			CHECK(a[i].ok);
		}
		/* the object once, plus per range at most a part of a block
		 * that it found in flight and the pieces at its edges */
		CHECK(atomic_load(&c->bytes) <=
		      (int_fast64_t)(size + ADJ_N * (MiB + 2 * (64 << 10))));
		atomic_store(&c->gets, 0);
		CHECK(read_ok(s, k, 0, (size_t)size, size, 8));
		CHECK_INT(atomic_load(&c->gets), 0);
		/* as blocks: where two ranges met inside a block, its pieces
		 * became one (each range fetched only its part) */
		stat_of(s, "disk_cache_bytes");	/* written behind: settled */
		CHECK_INT(files_named(dir, "b"), (int)((size + MiB - 1) / MiB));
		ocb_store_free(s);
		t_rm_rf(dir);
	}
}

/*
 * Deterministic, with a gate in a fault layer below the cache: a read
 * whose block is in flight elsewhere goes on without it (fetching its part)
 * while that fetch is held; a read needing only that block waits, and
 * takes over when the fetch fails.
 */
struct gated {
	struct ocb_store *s;
	uint64_t off;
	size_t len;
	ssize_t n;
	uint8_t *buf;
};

static void *gated_read(void *arg)
{
	struct gated *g = arg;

	g->buf = malloc(g->len);
	g->n = ocb_store_read(g->s, "p/gate/g.ocb", g->off, g->len, g->buf);
	return NULL;
}

#define SIZE_G (4 * MiB + 777)

static void test_in_flight(void)
{
	char dir[64];
	struct ocb_store *fs = NULL, *s = NULL;
	struct cnt *c;
	struct gated t1 = { 0 }, t2 = { 0 };
	pthread_t p1, p2;

	new_dir(dir, sizeof(dir), "gate");
	CHECK_INT(ocb_fault_store_new(counted(&c), &fs), 0);
	CHECK_INT(ocb_cache_store_new(fs, dir, 64 * MiB, &s), 0);
	put_object(s, "p/gate/g.ocb", SIZE_G, 9);
	CHECK_INT(list_all(s, "p/gate/"), 1);

	/* 1: t1 fetches blocks 1-2 and is held; t2, wanting 1 to the end,
	 * does not wait for t1: its own request (its part of block 1) is
	 * held beside t1's */
	CHECK_INT(ocb_fault_hold(fs, OCB_FAULT_GET, 1), 0);
	t1 = (struct gated){ s, MiB + 10, 2 * MiB - 20, 0, NULL };
	pthread_create(&p1, NULL, gated_read, &t1);
	CHECK_INT(ocb_fault_wait_held(fs, OCB_FAULT_GET, 1), 0);
	t2 = (struct gated){ s, MiB + 500, SIZE_G - MiB - 500, 0, NULL };
	pthread_create(&p2, NULL, gated_read, &t2);
	CHECK_INT(ocb_fault_wait_held(fs, OCB_FAULT_GET, 2), 0);
	CHECK_INT(ocb_fault_hold(fs, OCB_FAULT_GET, 0), 0);
	pthread_join(p2, NULL);
	CHECK(t2.n == (ssize_t)t2.len && same(t2.buf, t2.off, t2.len, 9));
	pthread_join(p1, NULL);
	CHECK(t1.n == (ssize_t)t1.len && same(t1.buf, t1.off, t1.len, 9));
	free(t1.buf);
	free(t2.buf);
	/* blocks 1-4 were fetched whole, and are all on disk */
	CHECK_INT(stat_of(s, "disk_cache_flight_waits"), 0);
	atomic_store(&c->gets, 0);
	CHECK(read_ok(s, "p/gate/g.ocb", MiB, SIZE_G - MiB, SIZE_G, 9));
	CHECK_INT(atomic_load(&c->gets), 0);

	/* 2: t1's fetch of block 0 (its read, rounded to pieces, holds it
	 * whole) fails while t2, needing only block 0, waits for it: t1
	 * gets the error, t2 fetches its part itself (reads of SMALL_MAX or
	 * more wait so: small ones go by pieces and never wait, below) */
	CHECK_INT(ocb_fault_fail(fs, OCB_FAULT_GET, 1, -EIO), 0);
	CHECK_INT(ocb_fault_hold(fs, OCB_FAULT_GET, 1), 0);
	t1 = (struct gated){ s, 100, MiB - 200, 0, NULL };
	pthread_create(&p1, NULL, gated_read, &t1);
	CHECK_INT(ocb_fault_wait_held(fs, OCB_FAULT_GET, 1), 0);
	t2 = (struct gated){ s, 5000, 600 * 1024, 0, NULL };
	pthread_create(&p2, NULL, gated_read, &t2);
	/* stats returns once t2 waits (the count and the wait are under
	 * one lock, which the stats call takes after them) */
	while (stat_of(s, "disk_cache_flight_waits") < 1)
		sched_yield();
	CHECK_INT(ocb_fault_hold(fs, OCB_FAULT_GET, 0), 0);
	pthread_join(p1, NULL);
	pthread_join(p2, NULL);
	CHECK_INT(t1.n, -EIO);
	CHECK(t2.n == 600 * 1024 && same(t2.buf, 5000, 600 * 1024, 9));
	free(t1.buf);
	free(t2.buf);
	CHECK(read_ok(s, "p/gate/g.ocb", 0, SIZE_G, SIZE_G, 9));
	ocb_store_free(s);
	t_rm_rf(dir);
}

static int warnings;

static void count_log(void *arg, enum ocb_log_level level, const char *line)
{
	(void)arg;
	(void)line;
	if (level <= OCB_LOG_WARN)
		warnings++;
}

/*
 * A full cache disk: reads go on from the store, one warning, no partial
 * file in the cache.  Runs in a child process: there, a small tmpfs in a
 * private mount namespace gives a real ENOSPC; without the privilege, a
 * file size limit makes the writes fail instead (EFBIG).
 */
static int enospc_child(void)
{
	char dir[64];
	struct ocb_store *s;
	struct cnt *c;
	const char *k = "p/full/e.ocb";
	uint64_t off;
	int ok = 1, real;

	new_dir(dir, sizeof(dir), "full");
	s = counted(&c);	/* the object, before the disk is "full" */
	put_object(s, k, 8 * MiB, 6);
	ocb_store_free(s);
	real = unshare(CLONE_NEWNS) == 0 &&
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		mount("tmpfs", dir, "tmpfs", 0, "size=2560k,mode=0700") == 0;
	if (!real) {
		struct rlimit rl = { 300 * 1024, 300 * 1024 };

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
	}
	printf("# full disk by %s\n", real ? "a 2.5 MiB tmpfs" :
	       "a file size limit");
	fflush(stdout);
	ocb_log_set_sink(count_log, NULL);
	s = cached(dir, 64 * MiB, &c);	/* the bound is not what stops it */
	CHECK_INT(list_all(s, "p/full/"), 1);
	for (off = 0; off < 8 * MiB; off += MiB)
		ok &= read_ok(s, k, off + 10, MiB, 8 * MiB, 6);
	for (off = 0; off < 8 * MiB; off += MiB)	/* again */
		ok &= read_ok(s, k, off + 10, MiB, 8 * MiB, 6);
	CHECK(ok);
	CHECK_INT(stat_of(s, "disk_cache_write_failed"), 1);
	CHECK(stat_of(s, "disk_cache_write_errors") >= 1);
	CHECK_INT(warnings, 1);
	/* what is cached is whole: another layer serves it right */
	ocb_store_free(s);
	s = cached(dir, 64 * MiB, &c);
	CHECK_INT(list_all(s, "p/full/"), 1);
	for (off = 0; off < 8 * MiB; off += MiB)
		ok &= read_ok(s, k, off, MiB, 8 * MiB, 6);
	CHECK(ok);
	/* no temporary file left once the store is done (its writer
	 * thread may still be writing one until then) */
	ocb_store_free(s);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd),
			 "test -z \"$(find %s -name '.t*' -print -quit)\"", dir);
		CHECK_INT(system(cmd), 0);
	}
	ocb_log_set_sink(NULL, NULL);
	if (real)
		umount2(dir, MNT_DETACH);
	t_rm_rf(dir);
	return t_failed ? 1 : 0;	/* the messages went to stderr */
}

static void test_enospc(void)
{
	pid_t pid;
	int status = -1;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(enospc_child());
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* how many files named prefix* the cache directory holds */
static int files_named(const char *dir, const char *prefix)
{
	char cmd[200];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find %s -type f -name '%s*' | wc -l", dir,
		 prefix);
	f = popen(cmd, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
	return n;
}

/* the one file named prefix* in the cache directory, into out */
static void file_named(const char *dir, const char *name, char *out,
		       size_t size)
{
	char cmd[200];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find %s -type f -name '%s'", dir, name);
	f = popen(cmd, "r");
	out[0] = '\0';
	if (f && fgets(out, (int)size, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		pclose(f);
}

#define PIECE (64u << 10)
#define SIZE_P (3 * MiB + 1000)

struct small_reader {
	struct ocb_store *s;
	unsigned seed;
	int ok;
};

static void *small_thread(void *arg)
{
	struct small_reader *r = arg;
	int i;

	r->ok = 1;
	for (i = 0; i < 200; i++) {
		r->seed = r->seed * 1103515245u + 12345u;
		r->ok &= read_ok(r->s, "p/piece/p.ocb",
				 ((uint64_t)r->seed * 131) % SIZE_P,
				 1 + (r->seed >> 5) % (300 * 1024), SIZE_P, 6);
	}
	return NULL;
}

/*
 * Small reads (a frame, the suffix that opens a backup) fetch the pieces
 * they need, not the blocks around them; pieces fill in, give way to
 * whole blocks, and what is wrong on disk is fetched again.
 */
static void test_pieces(void)
{
	char dir[64], path[PATH_MAX];
	const char *k = "p/piece/p.ocb";
	struct ocb_store *s, *s2;
	struct cnt *c, *c2;
	struct small_reader rd[4];
	pthread_t t[4];
	int i;

	new_dir(dir, sizeof(dir), "piece");
	s = cached(dir, 64 * MiB, &c);
	put_object(s, k, SIZE_P, 6);
	CHECK_INT(list_all(s, "p/piece/"), 1);

	/* the open: a 256 KiB suffix, one request, rounded to pieces */
	CHECK(suffix_ok(s, k, 256 * 1024, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 1);
	CHECK(atomic_load(&c->bytes) <= 256 * 1024 + PIECE);
	/* a frame inside one piece: that piece */
	atomic_store(&c->bytes, 0);
	CHECK(read_ok(s, k, 200000, 30000, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 2);
	CHECK_INT(atomic_load(&c->bytes), PIECE);
	CHECK_INT(files_named(dir, "b"), 0);
	/* again, and the suffix again: from disk */
	CHECK(read_ok(s, k, 200000, 30000, SIZE_P, 6));
	CHECK(suffix_ok(s, k, 256 * 1024, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 2);
	/* filling in: only what is missing, one request from the first
	 * missing piece to the last (piece 3 is cached, 4-6 are not) */
	atomic_store(&c->bytes, 0);
	CHECK(read_ok(s, k, 200000, 200000, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 3);
	CHECK_INT(atomic_load(&c->bytes), 3 * PIECE);
	CHECK(read_ok(s, k, 196708, 250000, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 3);
	CHECK_INT(local_of(s, k, 196608, 4 * PIECE), 4 * PIECE);
	/* a truncated piece (a damaged disk) is removed and fetched again */
	file_named(dir, "g4", path, sizeof(path));
	CHECK(path[0] && truncate(path, 1000) == 0);
	CHECK(read_ok(s, k, 4 * PIECE + 10, 100, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 4);
	CHECK(read_ok(s, k, 4 * PIECE + 10, 100, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 4);
	/* a large read takes its whole block; the pieces in it go */
	CHECK(read_ok(s, k, 0, MiB, SIZE_P, 6));
	stat_of(s, "disk_cache_bytes");		/* written behind: settled */
	CHECK_INT(files_named(dir, "b"), 1);
	CHECK_INT(files_named(dir, "g"), 5);	/* the suffix's: blocks 2, 3 */
	atomic_store(&c->gets, 0);
	CHECK(read_ok(s, k, 100, 500000, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 0);
	ocb_store_free(s);

	/* another process that does not list: its first small read asks the
	 * store for that read's pieces, and learns the etag */
	s = cached(dir, 64 * MiB, &c);
	CHECK(read_ok(s, k, MiB + 70000, 5000, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 1);
	CHECK_INT(atomic_load(&c->bytes), PIECE);
	CHECK(read_ok(s, k, MiB + 70000, 5000, SIZE_P, 6));
	CHECK_INT(atomic_load(&c->gets), 1);
	ocb_store_free(s);

	/* a temporary file left by a writer killed long ago goes when the
	 * next process opens the cache; a recent one (a live writer's) not */
	{
		char d[PATH_MAX], old[PATH_MAX + 16], young[PATH_MAX + 16];
		struct timespec ts[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
		int fd;

		file_named(dir, "b0", path, sizeof(path));
		snprintf(d, sizeof(d), "%s", path);
		*strrchr(d, '/') = '\0';
		snprintf(old, sizeof(old), "%s/.t1.1", d);
		snprintf(young, sizeof(young), "%s/.t2.2", d);
		fd = open(old, O_WRONLY | O_CREAT, 0600);
		CHECK(fd >= 0 && write(fd, "x", 1) == 1);
		close(fd);
		CHECK(utimensat(AT_FDCWD, old, ts, 0) == 0);
		fd = open(young, O_WRONLY | O_CREAT, 0600);
		close(fd);
		s = cached(dir, 64 * MiB, &c);
		CHECK(access(old, F_OK) < 0);
		CHECK(access(young, F_OK) == 0);
		unlink(young);
		ocb_store_free(s);
	}

	/* concurrent small readers in two layers: every byte right, no
	 * temporary file left, nothing waits for another's fetch */
	t_rm_rf(dir);
	new_dir(dir, sizeof(dir), "piece");
	s = cached(dir, 64 * MiB, &c);
	s2 = cached(dir, 64 * MiB, &c2);
	CHECK_INT(list_all(s, "p/piece/"), 1);
	CHECK_INT(list_all(s2, "p/piece/"), 1);
	for (i = 0; i < 4; i++) {
		rd[i] = (struct small_reader){ i % 2 ? s2 : s,
					       (unsigned)i * 31337u + 1, 0 };
		pthread_create(&t[i], NULL, small_thread, &rd[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(rd[i].ok);
	}
	CHECK_INT(stat_of(s, "disk_cache_flight_waits"), 0);
	CHECK_INT(stat_of(s2, "disk_cache_flight_waits"), 0);
	CHECK_INT(files_named(dir, ".t"), 0);
	atomic_store(&c->gets, 0);
	CHECK(read_ok(s, k, 0, SIZE_P, SIZE_P, 6));	/* and all right after */
	ocb_store_free(s);
	ocb_store_free(s2);
	t_rm_rf(dir);
}

int main(void)
{
	int r;

	ocb_log_set_level(OCB_LOG_WARN);
	snprintf(root, sizeof(root), "/tmp/ocb-cs-store-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	test_enospc();	/* first: forks before any thread exists */
	test_remount();
	test_stale();
	test_eviction();
	test_concurrent();
	test_adjacent();
	test_in_flight();
	test_pieces();
	r = T_DONE();
	t_rm_rf(root);
	return r;
}
