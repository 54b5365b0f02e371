/*
 * store_check - the store conformance checks, run against any store:
 *
 *   store_check file:///DIR
 *   store_check s3://BUCKET      (endpoint $OCB_TEST_ENDPOINT, keys from env)
 *   store_check --multipart-mib N s3://BUCKET   (streamed upload, peak RSS)
 *   store_check --put KEY FILE URL     (through the writer)
 *   store_check --get KEY URL [OUT]    (one GET, no retries: the raw error;
 *                                       $OCB_TEST_RANGE="OFF:LEN" for a range)
 *   store_check --probe URL            (HEAD with retries)
 *   store_check --creds [N]            (the credential source, N lookups)
 *   store_check --create-bucket s3://BUCKET
 *
 * Every store implementation must pass the same checks (S3 semantics).
 * Prints one line per check; exits 1 if any failed.
 */
#include "buf.h"
#include "creds.h"
#include "file_store.h"
#include "log.h"
#include "retry_store.h"
#include "s3_store.h"
#include "store.h"
#include "multipart.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int failed, checked;

/* one line per check: "ok" or "FAIL", the condition, then the values */
#define CHECK(cond, ...) do { \
	int c_ok = (cond); \
	checked++; \
	if (!c_ok) \
		failed++; \
	printf("%s %s:%d: %s: ", c_ok ? "ok  " : "FAIL", __FILE__, __LINE__, \
	       #cond); \
	printf(__VA_ARGS__); \
	printf("\n"); \
} while (0)

/*
 * Open the store url names.  raw: without the retry layer (to see each
 * request's own error).  *s3 (may be NULL) gets the S3 store itself, or
 * NULL for other stores.
 */
static struct ocb_store *open_url(const char *url, int raw,
				  struct ocb_store **s3)
{
	struct ocb_store *s = NULL;
	int r;

	if (s3)
		*s3 = NULL;
	if (strncmp(url, "file://", 7) == 0) {
		r = ocb_file_store_new(url + 7, &s);
	} else if (strncmp(url, "s3://", 5) == 0) {
		const char *stall = getenv("OCB_TEST_STALL_MS");
		struct ocb_s3_opts o = { .bucket = url + 5,
					 .endpoint = getenv("OCB_TEST_ENDPOINT"),
					 .stall_timeout_ms = 10000 };
		struct ocb_creds *c;

		if (stall)
			o.stall_timeout_ms = atol(stall);
		r = ocb_creds_new(NULL, &c);
		if (r == 0)
			r = ocb_s3_store_new(&o, c, &s);
		if (r == 0 && s3)
			*s3 = s;
	} else {
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "store_check: cannot open %s: %s\n", url,
			ocb_store_strerror(r));
		return NULL;
	}
	if (!raw && ocb_retry_store_new(s, NULL, &s) < 0)
		return NULL;
	return s;
}

static int put_str(struct ocb_store *s, const char *key, const char *v)
{
	return ocb_store_put_mem(s, key, v, strlen(v), NULL);
}

static void check_basic(struct ocb_store *s)
{
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m };
	struct ocb_obj_head h = { 0 };
	struct ocb_buf b;
	char buf[64];
	uint64_t size = 0;
	ssize_t n;
	int r;

	ocb_meta_set(&m, "ocb-format", "1");
	ocb_meta_set(&m, "instance", "i-123");
	r = ocb_store_put_mem(s, "basic/obj", "0123456789", 10, &po);
	CHECK(r == 0, "put: %d", r);
	r = s->ops->head(s, "basic/obj", &h);
	CHECK(r == 0 && h.size == 10, "head: %d size %" PRIu64, r, h.size);
	CHECK(h.etag[0] != '\0', "etag empty");
	CHECK(h.mtime > 1000000000, "mtime %" PRId64, h.mtime);
	CHECK(ocb_meta_get(&h.meta, "instance") &&
	      !strcmp(ocb_meta_get(&h.meta, "instance"), "i-123"), "meta lost");
	ocb_obj_head_release(&h);

	ocb_buf_init(&b, 1 << 20);
	r = ocb_store_get_buf(s, "basic/obj", &b, NULL);
	CHECK(r == 0 && b.len == 10 && !memcmp(b.data, "0123456789", 10),
	      "get whole: %d len %zu", r, b.len);
	ocb_buf_release(&b);

	n = ocb_store_read(s, "basic/obj", 0, 1, buf);
	CHECK(n == 1 && buf[0] == '0', "first byte: %zd", n);
	n = ocb_store_read(s, "basic/obj", 9, 1, buf);
	CHECK(n == 1 && buf[0] == '9', "last byte: %zd", n);
	n = ocb_store_read(s, "basic/obj", 5, 100, buf);
	CHECK(n == 5 && !memcmp(buf, "56789", 5), "clipped range: %zd", n);
	n = ocb_store_read(s, "basic/obj", 10, 1, buf);
	CHECK(n == -ERANGE, "past end: %zd", n);
	n = ocb_store_read_suffix(s, "basic/obj", 3, buf, &size);
	CHECK(n == 3 && !memcmp(buf, "789", 3) && size == 10,
	      "suffix: %zd size %" PRIu64, n, size);
	n = ocb_store_read_suffix(s, "basic/obj", 50, buf, &size);
	CHECK(n == 10 && size == 10, "long suffix: %zd", n);

	r = ocb_store_put_mem(s, "basic/empty", "", 0, NULL);
	CHECK(r == 0, "put empty: %d", r);
	ocb_buf_init(&b, 1024);
	r = ocb_store_get_buf(s, "basic/empty", &b, &h);
	CHECK(r == 0 && b.len == 0 && h.size == 0, "get empty: %d", r);
	CHECK(h.etag[0] != '\0', "etag of an empty object");
	ocb_obj_head_release(&h);
	ocb_buf_release(&b);
	n = ocb_store_read(s, "basic/empty", 0, 10, buf);
	CHECK(n == 0, "range from 0 of an empty object: %zd", n);
	size = 99;
	n = ocb_store_read_suffix(s, "basic/empty", 10, buf, &size);
	CHECK(n == 0 && size == 0, "suffix of an empty object: %zd size %" PRIu64,
	      n, size);
	n = ocb_store_read(s, "basic/empty", 1, 10, buf);
	CHECK(n == -ERANGE, "range past the end of an empty object: %zd", n);

	po.if_none_match = 1;
	r = ocb_store_put_mem(s, "basic/obj", "x", 1, &po);
	CHECK(r == -EEXIST, "conditional create over existing: %d", r);
	n = ocb_store_read(s, "basic/obj", 0, 10, buf);
	CHECK(n == 10 && !memcmp(buf, "0123456789", 10),
	      "a refused create leaves the object: %zd", n);
	r = ocb_store_put_mem(s, "basic/new", "x", 1, &po);
	CHECK(r == 0, "conditional create: %d", r);
	r = ocb_store_put_mem(s, "basic/new", "y", 1, &po);
	CHECK(r == -EEXIST, "conditional create, second time: %d", r);

	{
		struct ocb_get_req g = { .key = "basic/obj", .len = OCB_TO_END,
					 .if_match = "nope" };
		ocb_buf_init(&b, 1024);
		r = s->ops->get(s, &g, (ocb_sink_fn)ocb_buf_append, &b, NULL);
		CHECK(r == -ESTALE, "if-match mismatch: %d", r);
		ocb_buf_release(&b);
	}
	r = s->ops->head(s, "basic/missing", &h);
	CHECK(r == -ENOENT, "head missing: %d", r);
	n = ocb_store_read(s, "basic/missing", 0, 1, buf);
	CHECK(n == -ENOENT, "get missing: %zd", n);
	r = s->ops->del(s, "basic/missing");
	CHECK(r == 0, "delete missing: %d", r);
	r = s->ops->del(s, "basic/new");
	CHECK(r == 0, "delete: %d", r);
	r = s->ops->head(s, "basic/new", &h);
	CHECK(r == -ENOENT, "head after delete: %d", r);
	ocb_meta_release(&m);
}

struct collect {
	char **keys;
	int *prefix;
	size_t n, cap;
};

static int collect_fn(void *arg, const struct ocb_list_entry *e)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->keys = realloc(c->keys, c->cap * sizeof(char *));
		c->prefix = realloc(c->prefix, c->cap * sizeof(int));
	}
	c->keys[c->n] = strdup(e->key);
	c->prefix[c->n] = e->is_prefix;
	c->n++;
	return 0;
}

static void collect_release(struct collect *c)
{
	while (c->n)
		free(c->keys[--c->n]);
	free(c->keys);
	free(c->prefix);
	memset(c, 0, sizeof(*c));
}

static void check_list(struct ocb_store *s)
{
	const char *keys[] = {
		"l/a", "l/b/1", "l/b/2", "l/b-x", "l/c d", "l/e+f",
		"l/\xc3\xa9t\xc3\xa9", "l/z/deep/er",
	};
	struct collect c = { 0 };
	size_t i, nkeys = sizeof(keys) / sizeof(keys[0]);
	int r, sorted = 1;

	for (i = 0; i < nkeys; i++) {
		r = put_str(s, keys[i], keys[i]);
		CHECK(r == 0, "put %s: %d", keys[i], r);
	}
	r = s->ops->list(s, "l/", NULL, NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == nkeys, "list all: %d n=%zu", r, c.n);
	for (i = 1; i < c.n; i++)
		if (strcmp(c.keys[i - 1], c.keys[i]) >= 0)
			sorted = 0;
	CHECK(sorted, "list not in byte order");
	collect_release(&c);

	r = s->ops->list(s, "l/", "/", NULL, collect_fn, &c);
	/* a, b/, b-x, c d, e+f, été, z/ */
	CHECK(r == 0 && c.n == 7, "list with delimiter: %d n=%zu", r, c.n);
	for (i = 0; i < c.n; i++) {
		if (!strcmp(c.keys[i], "l/b/"))
			CHECK(c.prefix[i], "l/b/ not a prefix");
		if (!strcmp(c.keys[i], "l/a"))
			CHECK(!c.prefix[i], "l/a a prefix");
	}
	for (i = 1; i < c.n; i++)
		CHECK(strcmp(c.keys[i - 1], c.keys[i]) < 0, "order %s %s",
		      c.keys[i - 1], c.keys[i]);
	collect_release(&c);

	r = s->ops->list(s, "l/b", "/", NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == 2, "prefix mid-name: n=%zu", c.n);
	collect_release(&c);

	r = s->ops->list(s, "l/", NULL, "l/b/2", collect_fn, &c);
	CHECK(r == 0 && c.n == 4 && !strcmp(c.keys[0], "l/c d"),
	      "start-after: n=%zu first %s", c.n, c.n ? c.keys[0] : "-");
	collect_release(&c);

	{
		char buf[16];
		ssize_t n = ocb_store_read(s, "l/c d", 0, 16, buf);

		CHECK(n == 5 && !memcmp(buf, "l/c d", 5), "key with space: %zd", n);
		n = ocb_store_read(s, "l/e+f", 0, 16, buf);
		CHECK(n == 5, "key with plus: %zd", n);
	}
	r = s->ops->del_many(s, keys, nkeys);
	CHECK(r == 0, "del_many: %d", r);
	r = s->ops->list(s, "l/", NULL, NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == 0, "list after del_many: n=%zu", c.n);
	collect_release(&c);
}

static void check_pagination(struct ocb_store *s)
{
	struct collect c = { 0 };
	char **keys = calloc(1100, sizeof(char *));
	size_t i;
	int r = 0;

	for (i = 0; i < 1100; i++)
		if (asprintf(&keys[i], "p/k%05zu", i) < 0)
			abort();
	for (i = 0; i < 1100 && r == 0; i++)
		r = put_str(s, keys[i], "x");
	CHECK(r == 0, "put 1100: %d", r);
	r = s->ops->list(s, "p/", NULL, NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == 1100, "list 1100 (pages): %d n=%zu", r, c.n);
	collect_release(&c);
	r = s->ops->del_many(s, (const char *const *)keys, 1100);
	CHECK(r == 0, "del_many 1100: %d", r);
	r = s->ops->list(s, "p/", NULL, NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == 0, "list after delete: n=%zu", c.n);
	collect_release(&c);
	for (i = 0; i < 1100; i++)
		free(keys[i]);
	free(keys);
}

static int count_upload(void *arg, const char *key, const char *id,
			int64_t initiated)
{
	(*(int *)arg)++;
	return 0;
}

static void check_multipart(struct ocb_store *s)
{
	size_t psize = 5 * 1024 * 1024 + 17;
	char *p1 = malloc(psize), etag[OCB_ETAG_MAX];
	struct ocb_part parts[2];
	struct ocb_obj_head h = { 0 };
	char *id = NULL, buf[8];
	int r, n = 0;

	memset(p1, 'a', psize);
	r = s->ops->mpu_create(s, "mp/obj", NULL, &id);
	CHECK(r == 0 && id, "mpu create: %d", r);
	r = s->ops->mpu_part(s, "mp/obj", id, 1, p1, psize, etag);
	CHECK(r == 0, "part 1: %d", r);
	parts[0].no = 1;
	memcpy(parts[0].etag, etag, sizeof(etag));
	r = s->ops->mpu_part(s, "mp/obj", id, 2, "tail", 4, etag);
	CHECK(r == 0, "part 2: %d", r);
	parts[1].no = 2;
	memcpy(parts[1].etag, etag, sizeof(etag));
	r = s->ops->mpu_list(s, "mp/", count_upload, &n);
	CHECK(r == 0 && n == 1, "mpu list: %d n=%d", r, n);
	r = s->ops->head(s, "mp/obj", &h);
	CHECK(r == -ENOENT, "invisible before complete: %d", r);
	r = s->ops->mpu_complete(s, "mp/obj", id, parts, 2);
	CHECK(r == 0, "complete: %d", r);
	r = s->ops->head(s, "mp/obj", &h);
	CHECK(r == 0 && h.size == psize + 4, "size after complete: %" PRIu64,
	      h.size);
	ocb_obj_head_release(&h);
	CHECK(ocb_store_read(s, "mp/obj", psize, 8, buf) == 4 &&
	      !memcmp(buf, "tail", 4), "part boundary");
	free(id);
	id = NULL;

	r = s->ops->mpu_create(s, "mp/aborted", NULL, &id);
	CHECK(r == 0, "mpu create 2: %d", r);
	r = s->ops->mpu_part(s, "mp/aborted", id, 1, "x", 1, etag);
	CHECK(r == 0, "part: %d", r);
	r = s->ops->mpu_abort(s, "mp/aborted", id);
	CHECK(r == 0, "abort: %d", r);
	r = s->ops->mpu_abort(s, "mp/aborted", id);
	CHECK(r == 0, "abort again: %d", r);
	n = 0;
	r = s->ops->mpu_list(s, "mp/", count_upload, &n);
	CHECK(r == 0 && n == 0, "no uploads left: n=%d", n);
	r = s->ops->head(s, "mp/aborted", &h);
	CHECK(r == -ENOENT, "aborted invisible: %d", r);
	free(id);
	s->ops->del(s, "mp/obj");
	free(p1);
}

static void check_writer(struct ocb_store *s)
{
	struct ocb_multipart_opts wo = { .part_size = 5 * 1024 * 1024 };
	struct ocb_multipart *w;
	struct ocb_obj_head h = { 0 };
	char chunk[65536];
	int r, i, n = 0;

	/* small: one put */
	r = ocb_multipart_new(s, "w/small", NULL, &wo, &w);
	CHECK(r == 0, "writer new: %d", r);
	r = ocb_multipart_write(w, "hello", 5);
	r = r ? r : ocb_multipart_commit(w);
	CHECK(r == 0, "small commit: %d", r);
	ocb_multipart_free(w);
	r = s->ops->head(s, "w/small", &h);
	CHECK(r == 0 && h.size == 5, "small size");
	ocb_obj_head_release(&h);

	/* 12 MiB: multipart; freed uncommitted: nothing left */
	memset(chunk, 'z', sizeof(chunk));
	r = ocb_multipart_new(s, "w/abandoned", NULL, &wo, &w);
	for (i = 0; i < 192 && r == 0; i++)
		r = ocb_multipart_write(w, chunk, sizeof(chunk));
	CHECK(r == 0, "writes: %d", r);
	ocb_multipart_free(w);
	r = s->ops->head(s, "w/abandoned", &h);
	CHECK(r == -ENOENT, "abandoned writer left an object: %d", r);
	r = s->ops->mpu_list(s, "w/", count_upload, &n);
	CHECK(r == 0 && n == 0, "abandoned writer left an upload: %d", n);

	r = ocb_multipart_new(s, "w/big", NULL, &wo, &w);
	for (i = 0; i < 192 && r == 0; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		r = ocb_multipart_write(w, chunk, sizeof(chunk));
	}
	r = r ? r : ocb_multipart_commit(w);
	CHECK(r == 0, "big commit: %d", r);
	ocb_multipart_free(w);
	r = s->ops->head(s, "w/big", &h);
	CHECK(r == 0 && h.size == 192u * 65536, "big size %" PRIu64, h.size);
	ocb_obj_head_release(&h);
	CHECK(ocb_store_read(s, "w/big", 100 * 65536, 1, chunk) == 1 &&
	      chunk[0] == 'a' + 100 % 26, "big content");
	s->ops->del(s, "w/small");
	s->ops->del(s, "w/big");
}

/* a sink that checks the head is filled before the first byte */
struct head_sink {
	struct ocb_obj_head *head;
	int calls;
	int head_first;		/* size and etag known at the first call */
	size_t bytes;
	int stop;		/* return -ECANCELED at the first call */
};

static int head_sink_fn(void *arg, const void *data, size_t len)
{
	struct head_sink *hs = arg;

	(void)data;
	if (hs->calls++ == 0)
		hs->head_first = hs->head->size > 0 && hs->head->etag[0];
	hs->bytes += len;
	return hs->stop ? -ECANCELED : 0;
}

static void check_get_details(struct ocb_store *s)
{
	size_t size = 4 * 1024 * 1024 + 3;
	char *data = malloc(size), etag[OCB_ETAG_MAX];
	struct ocb_obj_head h = { 0 };
	struct head_sink hs = { .head = &h };
	struct ocb_get_req g = { .key = "g/obj", .off = 1000, .len = 5000 };
	size_t i;
	int r;

	for (i = 0; i < size; i++)
		data[i] = (char)(i * 7 + i / 4096);
	r = ocb_store_put_mem(s, "g/obj", data, size, NULL);
	CHECK(r == 0, "put 4 MiB: %d", r);

	/* a range: head has the whole object's size before any byte */
	r = s->ops->get(s, &g, head_sink_fn, &hs, &h);
	CHECK(r == 0 && hs.bytes == 5000, "range get: %d bytes %zu", r, hs.bytes);
	CHECK(hs.head_first, "head filled before the first sink call");
	CHECK(h.size == size, "head size of a range: %" PRIu64, h.size);
	snprintf(etag, sizeof(etag), "%s", h.etag);
	ocb_obj_head_release(&h);

	/* resume with the etag: If-Match that holds */
	memset(&hs, 0, sizeof(hs));
	hs.head = &h;
	g.off = size - 10;
	g.len = OCB_TO_END;
	g.if_match = etag;
	r = s->ops->get(s, &g, head_sink_fn, &hs, &h);
	CHECK(r == 0 && hs.bytes == 10, "if-match that holds: %d bytes %zu", r,
	      hs.bytes);
	CHECK(!strcmp(h.etag, etag), "same etag: %s %s", h.etag, etag);
	ocb_obj_head_release(&h);

	/* a sink error stops the transfer and is returned */
	memset(&hs, 0, sizeof(hs));
	hs.head = &h;
	hs.stop = 1;
	g.off = 0;
	g.if_match = NULL;
	r = s->ops->get(s, &g, head_sink_fn, &hs, &h);
	CHECK(r == -ECANCELED && hs.calls == 1, "sink error: %d after %d calls",
	      r, hs.calls);
	ocb_obj_head_release(&h);

	/* the object changed: the old etag no longer matches */
	r = ocb_store_put_mem(s, "g/obj", "changed", 7, NULL);
	CHECK(r == 0, "overwrite: %d", r);
	memset(&hs, 0, sizeof(hs));
	hs.head = &h;
	g.if_match = etag;
	r = s->ops->get(s, &g, head_sink_fn, &hs, &h);
	CHECK(r == -ESTALE && hs.calls == 0, "if-match after overwrite: %d", r);
	ocb_obj_head_release(&h);
	s->ops->del(s, "g/obj");
	free(data);
}

struct thread_arg {
	struct ocb_store *s;
	const char *data;
	size_t size;
	int id, bad;
};

static void *reader(void *arg)
{
	struct thread_arg *t = arg;
	char buf[4096];
	int i;

	for (i = 0; i < 50; i++) {
		size_t off = ((size_t)t->id * 7919 + (size_t)i * 104729) %
			(t->size - sizeof(buf));
		char key[32];
		ssize_t n;

		n = ocb_store_read(t->s, "t/obj", off, sizeof(buf), buf);
		if (n != (ssize_t)sizeof(buf) ||
		    memcmp(buf, t->data + off, sizeof(buf)) != 0)
			t->bad++;
		snprintf(key, sizeof(key), "t/w%d-%d", t->id, i % 5);
		if (ocb_store_put_mem(t->s, key, buf, 100, NULL) < 0)
			t->bad++;
	}
	return NULL;
}

/* many threads on one store: the handle pool shares connections */
static void check_threads(struct ocb_store *s)
{
	size_t size = 1 << 20, i;
	char *data = malloc(size);
	struct thread_arg t[8];
	pthread_t th[8];
	struct collect c = { 0 };
	int r, bad = 0;

	for (i = 0; i < size; i++)
		data[i] = (char)(i * 31 + i / 977);
	r = ocb_store_put_mem(s, "t/obj", data, size, NULL);
	CHECK(r == 0, "put for threads: %d", r);
	for (i = 0; i < 8; i++) {
		t[i] = (struct thread_arg){ .s = s, .data = data, .size = size,
					    .id = (int)i };
		pthread_create(&th[i], NULL, reader, &t[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		bad += t[i].bad;
	}
	CHECK(bad == 0, "8 threads x 50 reads and puts: %d bad", bad);
	r = s->ops->list(s, "t/", NULL, NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == 41, "objects from the threads: n=%zu", c.n);
	if (r == 0)
		s->ops->del_many(s, (const char *const *)c.keys, c.n);
	collect_release(&c);
	free(data);
}

/* keys that need every kind of encoding, read back byte-exact (not empty
 * path segments such as "a//b": S3 takes them, the file store does not) */
static void check_odd_keys(struct ocb_store *s)
{
	const char *keys[] = {
		"k/sp ace", "k/plus+sign", "k/pct%2Fx", "k/q?x=1&y#z",
		"k/tilde~-_.", "k/\xe2\x82\xac euro",
		"k/(p)*!'$,;:@", "k/ lead", "k/trail ", "k/\xe6\x97\xa5\xe6\x9c\xac",
		"k/<xml>&amp;\"q\"",
	};
	size_t i, n = sizeof(keys) / sizeof(keys[0]), found = 0;
	struct collect c = { 0 };
	int r;

	for (i = 0; i < n; i++) {
		char buf[64];
		ssize_t got;
		struct ocb_obj_head h = { 0 };

		r = put_str(s, keys[i], keys[i]);
		CHECK(r == 0, "put odd key %zu: %d", i, r);
		r = s->ops->head(s, keys[i], &h);
		CHECK(r == 0 && h.size == strlen(keys[i]), "head odd key %zu: %d",
		      i, r);
		ocb_obj_head_release(&h);
		got = ocb_store_read(s, keys[i], 0, sizeof(buf), buf);
		CHECK(got == (ssize_t)strlen(keys[i]) &&
		      !memcmp(buf, keys[i], (size_t)got), "get odd key %zu: %zd",
		      i, got);
	}
	r = s->ops->list(s, "k/", NULL, NULL, collect_fn, &c);
	for (i = 0; i < c.n; i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (!strcmp(c.keys[i], keys[j]))
				found++;
	}
	CHECK(r == 0 && c.n == n && found == n, "list odd keys: %d n=%zu found %zu",
	      r, c.n, found);
	collect_release(&c);
	r = s->ops->list(s, "k/", NULL, "k/sp ace", collect_fn, &c);
	CHECK(r == 0 && c.n >= 1 && strcmp(c.keys[0], "k/sp ace") > 0,
	      "start-after an odd key: %d n=%zu", r, c.n);
	collect_release(&c);
	r = s->ops->del_many(s, keys, n);
	CHECK(r == 0, "del_many odd keys: %d", r);
	r = s->ops->list(s, "k/", NULL, NULL, collect_fn, &c);
	CHECK(r == 0 && c.n == 0, "odd keys gone: n=%zu", c.n);
	collect_release(&c);
}

static void check_errors(struct ocb_store *s, struct ocb_store *s3)
{
	const char *missing[] = { "e/none1", "e/none2" };
	struct ocb_part part = { .no = 1, .etag = "0123" };
	char etag[OCB_ETAG_MAX], *id = NULL;
	struct ocb_buf st;
	int r;

	r = s->ops->mpu_part(s, "e/obj", "no-such-upload", 1, "x", 1, etag);
	CHECK(r == -ENOENT, "part of a missing upload: %d", r);
	/* AWS and the file store: NoSuchUpload; RGW answers 500 "completion
	 * already in progress" (retried, then -EIO) */
	r = s->ops->mpu_complete(s, "e/obj", "no-such-upload", &part, 1);
	CHECK(r == -ENOENT || (s3 && r == -EIO),
	      "complete of a missing upload: %d", r);
	r = s->ops->mpu_abort(s, "e/obj", "no-such-upload");
	CHECK(r == 0, "abort of a missing upload: %d", r);
	r = s->ops->del_many(s, missing, 2);
	CHECK(r == 0, "del_many of missing keys: %d", r);
	r = s->ops->del_many(s, missing, 0);
	CHECK(r == 0, "del_many of nothing: %d", r);

	/* completing with a wrong part etag fails and leaves nothing */
	r = s->ops->mpu_create(s, "e/obj", NULL, &id);
	CHECK(r == 0, "mpu create: %d", r);
	if (r == 0) {
		r = s->ops->mpu_part(s, "e/obj", id, 1, "x", 1, etag);
		CHECK(r == 0, "part: %d", r);
		r = s->ops->mpu_complete(s, "e/obj", id, &part, 1);
		CHECK(r == -EINVAL, "complete with a wrong etag: %d", r);
		r = s->ops->mpu_abort(s, "e/obj", id);
		CHECK(r == 0, "abort: %d", r);
		free(id);
	}

	ocb_buf_init(&st, 1 << 16);
	s->ops->stats(s, &st);
	if (s3) {
		/* header values: no CR/LF smuggled into the request */
		struct ocb_meta m = { 0 };
		struct ocb_put_opts po = { .meta = &m };
		struct ocb_obj_head h = { 0 };

		ocb_meta_set(&m, "bad", "a\r\nx-amz-meta-evil: 1");
		r = ocb_store_put_mem(s, "e/meta", "x", 1, &po);
		CHECK(r == -EINVAL, "metadata with CR/LF: %d", r);
		r = s->ops->head(s, "e/meta", &h);
		CHECK(r == -ENOENT, "nothing stored: %d", r);
		ocb_obj_head_release(&h);
		ocb_meta_release(&m);

		/* only when the bucket is known to be there: never create
		 * one that a check is about to find missing */
		if (failed == 0) {
			r = ocb_s3_create_bucket(s3);
			CHECK(r == 0, "create the bucket again (ours): %d", r);
		}
		CHECK(st.data && strstr(st.data, "s3_requests_get ") &&
		      strstr(st.data, "s3_bytes_in ") &&
		      strstr(st.data, "s3_errors "), "stats: %s",
		      st.data ? "lines missing" : "none");
		{
			const char *cn = st.data ? strstr(st.data,
				"s3_conditional_put_native 1\n") : NULL;
			const char *ce = st.data ? strstr(st.data,
				"s3_conditional_put_emulated 1\n") : NULL;

			/* for the test to tell a native from an emulated
			 * create-only put */
			printf("conditional put: %s\n", cn ? "native" :
			       ce ? "emulated" : "unknown");
			CHECK(!cn != !ce, "conditional put mode: %s",
			      cn || ce ? "both" : "unknown");
		}
		{
			/* the pool keeps connections: far fewer than requests */
			unsigned long long v, reqs = 0, conns = ~0ull;
			char *line, *save = NULL;

			for (line = strtok_r(st.data, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save)) {
				if (sscanf(line, "s3_requests_%*s %llu", &v) == 1)
					reqs += v;
				if (sscanf(line, "s3_connects %llu", &v) == 1)
					conns = v;
			}
			CHECK(reqs > 1000 && conns <= reqs / 20,
			      "connections reused: %llu for %llu requests",
			      conns, reqs);
		}
	} else {
		CHECK(st.data != NULL, "stats: %s", "none");
	}
	ocb_buf_release(&st);
}

/* stream N MiB through the writer from a generated source; print RSS */
static int multipart_stream(struct ocb_store *s, long mib)
{
	struct ocb_multipart *w;
	struct ocb_obj_head h = { 0 };
	struct rusage ru;
	char *chunk = malloc(1 << 20);
	long i;
	int r;

	r = ocb_multipart_new(s, "stream/big", NULL, NULL, &w);
	for (i = 0; i < mib && r == 0; i++) {
		memset(chunk, (int)(i & 0xff), 1 << 20);
		r = ocb_multipart_write(w, chunk, 1 << 20);
	}
	r = r ? r : ocb_multipart_commit(w);
	ocb_multipart_free(w);
	free(chunk);
	CHECK(r == 0, "stream commit: %s", ocb_store_strerror(r));
	r = s->ops->head(s, "stream/big", &h);
	CHECK(r == 0 && h.size == (uint64_t)mib << 20, "stream size");
	ocb_obj_head_release(&h);
	/* VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it
	 * would report the (large) test runner that started us */
	{
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];
		long hwm = -1;

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "VmHWM: %ld", &hwm) == 1)
				break;
		if (f)
			fclose(f);
		printf("peak_rss_kib %ld\n", hwm);
	}
	(void)ru;
	return r;
}

/* --creds [N]: which source the chain picks, asked N times of one
 * provider (never prints the secret) */
static int show_creds(int times)
{
	struct ocb_creds *c;
	struct ocb_creds_value v;
	int r = ocb_creds_new(NULL, &c), i;

	for (i = 0; r == 0 && i < times; i++) {
		r = ocb_creds_get(c, &v);
		if (r == 0)
			printf("source %s access_key %s token %s\n", v.source,
			       v.access_key, v.session_token[0] ? "yes" : "no");
		ocb_creds_value_clear(&v);
	}
	if (r < 0)
		printf("creds: %s\n", ocb_store_strerror(r));
	ocb_creds_free(c);
	return r == 0 ? 0 : 1;
}

/* sink into a FILE */
static int file_sink(void *arg, const void *data, size_t len)
{
	return fwrite(data, 1, len, arg) == len ? 0 : -EIO;
}

/*
 * --get KEY URL [OUT]: one GET without retries; prints the mapped error,
 * the head and the time; the bytes go to OUT when given.
 */
static int get_once(const char *key, const char *url, const char *outpath)
{
	struct ocb_store *s = open_url(url, 1, NULL);
	struct ocb_get_req g = { .key = key, .len = OCB_TO_END };
	struct ocb_obj_head h = { 0 };
	struct timespec t0, t1;
	const char *meta;
	struct ocb_buf b;
	FILE *out = NULL;
	int r;

	if (!s)
		return 2;
	ocb_buf_init(&b, 64 << 20);
	if (outpath && !(out = fopen(outpath, "w"))) {
		perror(outpath);
		ocb_store_free(s);
		return 2;
	}
	if (getenv("OCB_TEST_RANGE"))	/* "OFF:LEN" */
		sscanf(getenv("OCB_TEST_RANGE"), "%" SCNu64 ":%" SCNu64, &g.off,
		       &g.len);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (out || getenv("OCB_TEST_RANGE"))
		r = s->ops->get(s, &g, out ? file_sink :
				(ocb_sink_fn)ocb_buf_append, out ? (void *)out :
				(void *)&b, &h);
	else
		r = ocb_store_get_buf(s, key, &b, &h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	meta = ocb_meta_get(&h.meta, "origin");
	printf("get: %d (%s) bytes %zu size %" PRIu64 " etag %s origin %s "
	       "seconds %.1f\n", r, ocb_store_strerror(r), b.len, h.size,
	       h.etag, meta ? meta : "-",
	       (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (out && fclose(out) != 0 && r == 0)
		r = -EIO;
	ocb_obj_head_release(&h);
	ocb_buf_release(&b);
	ocb_store_free(s);
	return r == 0 ? 0 : 1;
}

/* --put KEY FILE URL: FILE through the writer (multipart past 5 MiB),
 * with the metadata origin=store_check */
static int put_file(const char *key, const char *path, const char *url)
{
	struct ocb_store *s = open_url(url, 0, NULL);
	struct ocb_multipart_opts wo = { .part_size = 5 * 1024 * 1024 };
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m };
	struct ocb_multipart *w = NULL;
	char *chunk = malloc(1 << 20);
	FILE *f = fopen(path, "r");
	size_t n;
	int r;

	if (!s || !f || !chunk) {
		fprintf(stderr, "store_check: cannot open %s or the store\n", path);
		r = -EINVAL;
		goto out;
	}
	r = ocb_meta_set(&m, "origin", "store_check");
	if (r == 0)
		r = ocb_multipart_new(s, key, &po, &wo, &w);
	while (r == 0 && (n = fread(chunk, 1, 1 << 20, f)) > 0)
		r = ocb_multipart_write(w, chunk, n);
	if (r == 0 && ferror(f))
		r = -EIO;
	if (r == 0)
		r = ocb_multipart_commit(w);
	printf("put: %d (%s)\n", r, ocb_store_strerror(r));
out:
	ocb_multipart_free(w);
	ocb_meta_release(&m);
	if (f)
		fclose(f);
	free(chunk);
	ocb_store_free(s);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ocb_store *s, *s3;
	long mib = 0;
	int a = 1;

	ocb_log_set_prog("store_check");
	if (getenv("OCB_DEBUG"))
		ocb_log_set_level(OCB_LOG_DEBUG);
	if (argc > 1 && !strcmp(argv[1], "--creds"))
		return show_creds(argc > 2 ? atoi(argv[2]) : 1);
	if (argc > 3 && !strcmp(argv[1], "--get"))
		return get_once(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	if (argc > 4 && !strcmp(argv[1], "--put"))
		return put_file(argv[2], argv[3], argv[4]);
	if (argc > 2 && !strcmp(argv[1], "--create-bucket")) {
		int r = -EINVAL;

		s = open_url(argv[2], 1, &s3);
		if (s && s3)
			r = ocb_s3_create_bucket(s3);
		ocb_store_free(s);
		printf("create-bucket: %d (%s)\n", r, ocb_store_strerror(r));
		return r == 0 ? 0 : 1;
	}
	if (argc > 3 && !strcmp(argv[1], "--multipart-mib")) {
		mib = atol(argv[2]);
		a = 3;
	} else if (argc > 2 && !strcmp(argv[1], "--probe")) {
		struct ocb_obj_head h = { 0 };
		int r;

		s = open_url(argv[2], 0, NULL);
		if (!s)
			return 2;
		r = s->ops->head(s, "probe", &h);
		ocb_obj_head_release(&h);
		ocb_store_free(s);
		printf("probe: %s\n", ocb_store_strerror(r));
		return r == 0 || r == -ENOENT ? 0 : 1;
	}
	if (a >= argc) {
		fprintf(stderr, "usage: store_check [--multipart-mib N] URL\n"
			"       store_check --probe URL | --get KEY URL [OUT] | "
			"--put KEY FILE URL | --creds | --create-bucket URL\n");
		return 2;
	}
	s = open_url(argv[a], 0, &s3);
	if (!s)
		return 2;
	if (mib) {
		multipart_stream(s, mib);
	} else {
		check_basic(s);
		check_get_details(s);
		check_odd_keys(s);
		check_threads(s);
		check_list(s);
		check_pagination(s);
		check_multipart(s);
		check_errors(s, s3);
		check_writer(s);
	}
	ocb_store_free(s);
	printf("%d checks, %d failed\n", checked, failed);
	return failed ? 1 : 0;
}
