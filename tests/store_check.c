/*
 * store_check - the store conformance checks, run against any store:
 *
 *   store_check file:///DIR
 *   store_check s3://BUCKET      (endpoint $OCB_TEST_ENDPOINT, keys from env)
 *   store_check --multipart-mib N s3://BUCKET   (streamed upload, peak RSS)
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
#include "writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int failed, checked;

#define CHECK(cond, ...) do { \
	checked++; \
	if (!(cond)) { \
		failed++; \
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} \
} while (0)

static struct ocb_store *open_url(const char *url)
{
	struct ocb_store *s = NULL;
	int r;

	if (strncmp(url, "file://", 7) == 0) {
		r = ocb_file_store_new(url + 7, &s);
	} else if (strncmp(url, "s3://", 5) == 0) {
		struct ocb_s3_opts o = { .bucket = url + 5,
					 .endpoint = getenv("OCB_TEST_ENDPOINT"),
					 .stall_timeout_ms = 10000 };
		struct ocb_creds *c;

		r = ocb_creds_new(NULL, &c);
		if (r == 0)
			r = ocb_s3_store_new(&o, c, &s);
	} else {
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "store_check: cannot open %s: %s\n", url,
			ocb_store_strerror(r));
		return NULL;
	}
	if (ocb_retry_store_new(s, NULL, &s) < 0)
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
	ocb_obj_head_release(&h);
	ocb_buf_release(&b);

	po.if_none_match = 1;
	r = ocb_store_put_mem(s, "basic/obj", "x", 1, &po);
	CHECK(r == -EEXIST, "conditional create over existing: %d", r);
	r = ocb_store_put_mem(s, "basic/new", "x", 1, &po);
	CHECK(r == 0, "conditional create: %d", r);

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

	for (i = 0; i < 1100 && r == 0; i++) {
		if (asprintf(&keys[i], "p/k%05zu", i) < 0)
			abort();
		r = put_str(s, keys[i], "x");
	}
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
	struct ocb_writer_opts wo = { .part_size = 5 * 1024 * 1024 };
	struct ocb_writer *w;
	struct ocb_obj_head h = { 0 };
	char chunk[65536];
	int r, i, n = 0;

	/* small: one put */
	r = ocb_writer_new(s, "w/small", NULL, &wo, &w);
	CHECK(r == 0, "writer new: %d", r);
	r = ocb_writer_write(w, "hello", 5);
	r = r ? r : ocb_writer_commit(w);
	CHECK(r == 0, "small commit: %d", r);
	ocb_writer_free(w);
	r = s->ops->head(s, "w/small", &h);
	CHECK(r == 0 && h.size == 5, "small size");
	ocb_obj_head_release(&h);

	/* 12 MiB: multipart; freed uncommitted: nothing left */
	memset(chunk, 'z', sizeof(chunk));
	r = ocb_writer_new(s, "w/abandoned", NULL, &wo, &w);
	for (i = 0; i < 192 && r == 0; i++)
		r = ocb_writer_write(w, chunk, sizeof(chunk));
	CHECK(r == 0, "writes: %d", r);
	ocb_writer_free(w);
	r = s->ops->head(s, "w/abandoned", &h);
	CHECK(r == -ENOENT, "abandoned writer left an object: %d", r);
	r = s->ops->mpu_list(s, "w/", count_upload, &n);
	CHECK(r == 0 && n == 0, "abandoned writer left an upload: %d", n);

	r = ocb_writer_new(s, "w/big", NULL, &wo, &w);
	for (i = 0; i < 192 && r == 0; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		r = ocb_writer_write(w, chunk, sizeof(chunk));
	}
	r = r ? r : ocb_writer_commit(w);
	CHECK(r == 0, "big commit: %d", r);
	ocb_writer_free(w);
	r = s->ops->head(s, "w/big", &h);
	CHECK(r == 0 && h.size == 192u * 65536, "big size %" PRIu64, h.size);
	ocb_obj_head_release(&h);
	CHECK(ocb_store_read(s, "w/big", 100 * 65536, 1, chunk) == 1 &&
	      chunk[0] == 'a' + 100 % 26, "big content");
	s->ops->del(s, "w/small");
	s->ops->del(s, "w/big");
}

/* stream N MiB through the writer from a generated source; print RSS */
static int multipart_stream(struct ocb_store *s, long mib)
{
	struct ocb_writer *w;
	struct ocb_obj_head h = { 0 };
	struct rusage ru;
	char *chunk = malloc(1 << 20);
	long i;
	int r;

	r = ocb_writer_new(s, "stream/big", NULL, NULL, &w);
	for (i = 0; i < mib && r == 0; i++) {
		memset(chunk, (int)(i & 0xff), 1 << 20);
		r = ocb_writer_write(w, chunk, 1 << 20);
	}
	r = r ? r : ocb_writer_commit(w);
	ocb_writer_free(w);
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

int main(int argc, char **argv)
{
	struct ocb_store *s;
	long mib = 0;
	int a = 1;

	ocb_log_set_prog("store_check");
	if (getenv("OCB_DEBUG"))
		ocb_log_set_level(OCB_LOG_DEBUG);
	if (argc > 3 && !strcmp(argv[1], "--multipart-mib")) {
		mib = atol(argv[2]);
		a = 3;
	} else if (argc > 2 && !strcmp(argv[1], "--probe")) {
		struct ocb_obj_head h = { 0 };
		int r;

		s = open_url(argv[2]);
		if (!s)
			return 2;
		r = s->ops->head(s, "probe", &h);
		ocb_obj_head_release(&h);
		ocb_store_free(s);
		printf("probe: %s\n", ocb_store_strerror(r));
		return r == 0 || r == -ENOENT ? 0 : 1;
	}
	if (a >= argc) {
		fprintf(stderr, "usage: store_check [--multipart-mib N] URL\n");
		return 2;
	}
	s = open_url(argv[a]);
	if (!s)
		return 2;
	if (mib) {
		multipart_stream(s, mib);
	} else {
		check_basic(s);
		check_list(s);
		check_pagination(s);
		check_multipart(s);
		check_writer(s);
	}
	ocb_store_free(s);
	printf("%d checks, %d failed\n", checked, failed);
	return failed ? 1 : 0;
}
