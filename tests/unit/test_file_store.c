/* Unit tests: the local-directory store, hook by hook, with the edge
 * semantics of S3 (ranges, empty objects, conditional create races,
 * listing order, unsafe keys, atomic replacement, multipart). */
#include "t.h"
#include "buf.h"
#include "file_store.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/ocb-fstore-XXXXXX";

static int put_str(struct ocb_store *s, const char *key, const char *v)
{
	return ocb_store_put_mem(s, key, v, strlen(v), NULL);
}

/* whole object as a string, or NULL */
static char *get_str(struct ocb_store *s, const char *key)
{
	struct ocb_buf b;

	ocb_buf_init(&b, 1 << 24);
	if (ocb_store_get_buf(s, key, &b, NULL) < 0) {
		ocb_buf_release(&b);
		return NULL;
	}
	if (!b.data)
		return strdup("");
	return ocb_buf_detach(&b, NULL);
}

static int path_exists(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return stat(p, &st) == 0;
}

static int dir_entries(const char *rel)
{
	char p[512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	d = opendir(p);
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_new(void)
{
	char file[600];
	struct ocb_store *s = NULL;
	int fd;

	CHECK_INT(ocb_file_store_new("/nonexistent/ocb-store", &s), -ENOENT);
	snprintf(file, sizeof(file), "%s/plainfile", root);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(ocb_file_store_new(file, &s), -ENOTDIR);
	CHECK(s == NULL);
	unlink(file);
}

/* ---- get, head, put -------------------------------------------------------- */

struct collect {
	struct ocb_buf b;
	struct ocb_obj_head *head;
	int head_ready;		/* head filled before the first sink call */
	int calls;
};

static int collect_sink(void *arg, const void *p, size_t n)
{
	struct collect *c = arg;

	if (c->calls++ == 0)
		c->head_ready = c->head && c->head->etag[0] && c->head->size;
	return ocb_buf_append(&c->b, p, n);
}

static int get_range(struct ocb_store *s, const char *key, uint64_t off,
		     uint64_t len, int suffix, const char *if_match,
		     struct collect *c)
{
	struct ocb_get_req g = { .key = key, .off = off, .len = len,
				 .suffix = suffix, .if_match = if_match };

	ocb_buf_reset(&c->b);
	return s->ops->get(s, &g, collect_sink, c, NULL);
}

static void test_ranges(struct ocb_store *s)
{
	struct collect c = { 0 };
	char data[1000], buf[100];
	uint64_t size = 0;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	ocb_buf_init(&c.b, 1 << 20);
	CHECK_INT(ocb_store_put_mem(s, "r/obj", data, sizeof(data), NULL), 0);
	CHECK_INT(ocb_store_put_mem(s, "r/empty", "", 0, NULL), 0);

	CHECK_INT(get_range(s, "r/obj", 10, 20, 0, NULL, &c), 0);
	CHECK(c.b.len == 20 && memcmp(c.b.data, data + 10, 20) == 0);
	/* clipped at the end */
	CHECK_INT(get_range(s, "r/obj", 990, 100, 0, NULL, &c), 0);
	CHECK(c.b.len == 10 && memcmp(c.b.data, data + 990, 10) == 0);
	CHECK_INT(get_range(s, "r/obj", 999, OCB_TO_END, 0, NULL, &c), 0);
	CHECK(c.b.len == 1 && c.b.data[0] == data[999]);
	/* at or past the end: 416 */
	CHECK_INT(get_range(s, "r/obj", 1000, 1, 0, NULL, &c), -ERANGE);
	CHECK_INT(get_range(s, "r/obj", 5000, OCB_TO_END, 0, NULL, &c), -ERANGE);
	/* suffixes */
	CHECK_INT(get_range(s, "r/obj", 0, 7, 1, NULL, &c), 0);
	CHECK(c.b.len == 7 && memcmp(c.b.data, data + 993, 7) == 0);
	CHECK_INT(get_range(s, "r/obj", 0, 5000, 1, NULL, &c), 0);
	CHECK(c.b.len == 1000 && memcmp(c.b.data, data, 1000) == 0);
	/* the empty object: off 0 is fine, anything else is past the end */
	CHECK_INT(get_range(s, "r/empty", 0, OCB_TO_END, 0, NULL, &c), 0);
	CHECK_INT(c.b.len, 0);
	CHECK_INT(get_range(s, "r/empty", 1, OCB_TO_END, 0, NULL, &c), -ERANGE);
	/* missing keys, "directories", keys below a file */
	CHECK_INT(get_range(s, "r/missing", 0, OCB_TO_END, 0, NULL, &c), -ENOENT);
	CHECK_INT(get_range(s, "r", 0, OCB_TO_END, 0, NULL, &c), -ENOENT);
	CHECK_INT(get_range(s, "r/obj/x", 0, OCB_TO_END, 0, NULL, &c), -ENOENT);

	/* the wrappers */
	CHECK_INT(ocb_store_read(s, "r/obj", 100, 50, buf), 50);
	CHECK(memcmp(buf, data + 100, 50) == 0);
	CHECK_INT(ocb_store_read(s, "r/obj", 980, 50, buf), 20);
	CHECK_INT(ocb_store_read_suffix(s, "r/obj", 30, buf, &size), 30);
	CHECK_INT(size, 1000);
	CHECK(memcmp(buf, data + 970, 30) == 0);
	ocb_buf_release(&c.b);
}

static void test_head_meta_etag(struct ocb_store *s)
{
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m, .content_type = "text/plain" };
	struct ocb_obj_head h = { 0 }, h2 = { 0 }, gh = { 0 };
	struct collect c = { 0 };
	struct ocb_get_req g = { .key = "h/obj", .len = OCB_TO_END };
	char etag[OCB_ETAG_MAX];

	ocb_meta_set(&m, "created", "1700000000");
	ocb_meta_set(&m, "label", "nightly run");
	CHECK_INT(ocb_store_put_mem(s, "h/obj", "hello", 5, &po), 0);
	CHECK_INT(s->ops->head(s, "h/obj", &h), 0);
	CHECK_INT(h.size, 5);
	CHECK(h.mtime > 0);
	CHECK(h.etag[0] != '\0');
	CHECK_STR(ocb_meta_get(&h.meta, "created"), "1700000000");
	CHECK_STR(ocb_meta_get(&h.meta, "label"), "nightly run");
	snprintf(etag, sizeof(etag), "%s", h.etag);

	/* a get fills head before the first sink call */
	ocb_buf_init(&c.b, 1024);
	c.head = &gh;
	CHECK_INT(s->ops->get(s, &g, collect_sink, &c, &gh), 0);
	CHECK(c.head_ready);
	CHECK_STR(gh.etag, etag);
	CHECK_STR(ocb_meta_get(&gh.meta, "label"), "nightly run");
	ocb_obj_head_release(&gh);

	/* If-Match */
	CHECK_INT(get_range(s, "h/obj", 0, OCB_TO_END, 0, etag, &c), 0);
	CHECK_INT(get_range(s, "h/obj", 0, OCB_TO_END, 0, "nope", &c), -ESTALE);

	/* same size, same content, put again: another etag; no metadata now */
	CHECK_INT(ocb_store_put_mem(s, "h/obj", "hello", 5, NULL), 0);
	CHECK_INT(s->ops->head(s, "h/obj", &h2), 0);
	CHECK(strcmp(h2.etag, etag) != 0);
	CHECK_INT(h2.meta.n, 0);
	CHECK_INT(get_range(s, "h/obj", 0, OCB_TO_END, 0, etag, &c), -ESTALE);
	CHECK(!path_exists(".ocb-store/meta/h/obj"));
	ocb_obj_head_release(&h2);

	CHECK_INT(s->ops->head(s, "h/missing", &h2), -ENOENT);
	CHECK_INT(s->ops->head(s, "h", &h2), -ENOENT);	/* a directory */
	ocb_obj_head_release(&h);
	ocb_meta_release(&m);
	ocb_buf_release(&c.b);
}

/* a source that delivers at most 1000 bytes per call, counting calls */
struct slow_src {
	const char *p;
	size_t len;
	int calls;
};

static ssize_t slow_src_fn(void *arg, uint64_t off, void *buf, size_t len)
{
	struct slow_src *s = arg;
	size_t n = s->len - off;

	s->calls++;
	if (n > len)
		n = len;
	if (n > 1000)
		n = 1000;
	memcpy(buf, s->p + off, n);
	return (ssize_t)n;
}

static ssize_t failing_src(void *arg, uint64_t off, void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return off < 3000 ? 1000 : -EPIPE;
}

static void test_put(struct ocb_store *s)
{
	char data[5000];
	struct slow_src src = { data, sizeof(data), 0 };
	struct ocb_put_opts excl = { .if_none_match = 1 };
	char *v;

	memset(data, 'q', sizeof(data));
	CHECK_INT(s->ops->put(s, "p/short-reads", sizeof(data), slow_src_fn,
			      &src, NULL), 0);
	CHECK_INT(src.calls, 5);
	v = get_str(s, "p/short-reads");
	CHECK(v && strlen(v) == sizeof(data));
	free(v);

	/* a failing source leaves nothing behind, not even the old object */
	CHECK_INT(put_str(s, "p/keep", "old"), 0);
	CHECK_INT(s->ops->put(s, "p/keep", 5000, failing_src, NULL, NULL),
		  -EPIPE);
	v = get_str(s, "p/keep");
	CHECK_STR(v, "old");
	free(v);
	CHECK_INT(s->ops->put(s, "p/new", 5000, failing_src, NULL, NULL), -EPIPE);
	v = get_str(s, "p/new");
	CHECK(v == NULL);

	/* conditional create */
	CHECK_INT(ocb_store_put_mem(s, "p/once", "1", 1, &excl), 0);
	CHECK_INT(ocb_store_put_mem(s, "p/once", "2", 1, &excl), -EEXIST);
	v = get_str(s, "p/once");
	CHECK_STR(v, "1");
	free(v);

	/* a key cannot be both an object and a "directory" on disk */
	CHECK(put_str(s, "p/once/below", "x") < 0);
	CHECK(put_str(s, "p", "x") < 0);
	CHECK_INT(dir_entries(".ocb-store/tmp"), 0);
}

/* ---- conditional create race --------------------------------------------- */

#define RACE_ROUNDS 200

struct racer {
	struct ocb_store *s;
	pthread_barrier_t *bar;
	const char *name;
	int wins;
};

static void *race_thread(void *arg)
{
	struct racer *r = arg;
	int i;

	for (i = 0; i < RACE_ROUNDS; i++) {
		struct ocb_meta m = { 0 };
		struct ocb_put_opts po = { .meta = &m, .if_none_match = 1 };
		char key[64];
		int rc;

		snprintf(key, sizeof(key), "race/k%03d", i);
		ocb_meta_set(&m, "who", r->name);
		pthread_barrier_wait(r->bar);
		rc = ocb_store_put_mem(r->s, key, r->name, strlen(r->name), &po);
		if (rc == 0)
			r->wins++;
		else if (rc != -EEXIST)
			r->wins = -100000;	/* any other error fails */
		ocb_meta_release(&m);
	}
	return NULL;
}

static void test_race(struct ocb_store *s)
{
	pthread_barrier_t bar;
	struct racer a = { s, &bar, "alpha", 0 }, b = { s, &bar, "beta", 0 };
	pthread_t ta, tb;
	int i, consistent = 1;

	pthread_barrier_init(&bar, NULL, 2);
	pthread_create(&ta, NULL, race_thread, &a);
	pthread_create(&tb, NULL, race_thread, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&bar);
	/* exactly one winner per key */
	CHECK_INT(a.wins + b.wins, RACE_ROUNDS);
	/* and the object carries its own creator's metadata */
	for (i = 0; i < RACE_ROUNDS; i++) {
		struct ocb_obj_head h = { 0 };
		char key[64], *v;

		snprintf(key, sizeof(key), "race/k%03d", i);
		v = get_str(s, key);
		if (s->ops->head(s, key, &h) < 0 || !v ||
		    !ocb_meta_get(&h.meta, "who") ||
		    strcmp(ocb_meta_get(&h.meta, "who"), v) != 0)
			consistent = 0;
		free(v);
		ocb_obj_head_release(&h);
	}
	CHECK(consistent);
}

/* ---- atomic replacement ---------------------------------------------------- */

#define ATOM_PUTS 150

struct atom {
	struct ocb_store *s;
	atomic_int done;
	atomic_int bad;		/* both readers count here */
	atomic_int reads;
};

static void *atom_writer(void *arg)
{
	struct atom *a = arg;
	size_t sizes[2] = { 64 * 1024, 300 * 1024 };
	char *p = malloc(sizes[1]);
	int i;

	for (i = 0; i < ATOM_PUTS && p; i++) {
		struct ocb_meta m = { 0 };
		struct ocb_put_opts po = { .meta = &m };
		char v[2] = { (char)('a' + i % 2), 0 };

		ocb_meta_set(&m, "v", v);
		memset(p, v[0], sizes[i % 2]);
		if (ocb_store_put_mem(a->s, "atom/obj", p, sizes[i % 2], &po) < 0)
			a->bad++;
		ocb_meta_release(&m);
	}
	free(p);
	atomic_store(&a->done, 1);
	return NULL;
}

static void *atom_reader(void *arg)
{
	struct atom *a = arg;
	struct ocb_buf b;

	ocb_buf_init(&b, 1 << 20);
	while (!atomic_load(&a->done)) {
		struct ocb_obj_head h = { 0 };
		size_t i, want;
		const char *v;
		int r;

		ocb_buf_reset(&b);
		r = ocb_store_get_buf(a->s, "atom/obj", &b, &h);
		if (r == 0) {
			a->reads++;
			want = b.len && b.data[0] == 'a' ? 64 * 1024 : 300 * 1024;
			if (b.len != want || h.size != want)
				a->bad++;
			for (i = 0; i < b.len; i++)
				if (b.data[i] != b.data[0]) {
					a->bad++;
					break;
				}
			/* metadata: this version's, or (for a moment) none */
			v = ocb_meta_get(&h.meta, "v");
			if (v && b.len && v[0] != b.data[0])
				a->bad++;
		} else if (r != -ENOENT) {
			a->bad++;
		}
		ocb_obj_head_release(&h);
	}
	ocb_buf_release(&b);
	return NULL;
}

static void test_atomic(struct ocb_store *s)
{
	struct atom a = { .s = s };
	pthread_t w, r1, r2;

	pthread_create(&w, NULL, atom_writer, &a);
	pthread_create(&r1, NULL, atom_reader, &a);
	pthread_create(&r2, NULL, atom_reader, &a);
	pthread_join(w, NULL);
	pthread_join(r1, NULL);
	pthread_join(r2, NULL);
	CHECK_INT(a.bad, 0);
	CHECK(a.reads > 0);
}

/* ---- listing --------------------------------------------------------------- */

struct names {
	char **v;
	int *is_prefix;
	size_t n, cap;
	int stop_after;		/* > 0: return -ECANCELED after that many */
};

static int names_cb(void *arg, const struct ocb_list_entry *e)
{
	struct names *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		l->is_prefix = realloc(l->is_prefix, l->cap * sizeof(int));
	}
	l->is_prefix[l->n] = e->is_prefix;
	l->v[l->n++] = strdup(e->key);
	if (!e->is_prefix && (!e->etag || !e->etag[0]))
		return -EPROTO;
	if (l->stop_after && (int)l->n >= l->stop_after)
		return -ECANCELED;
	return 0;
}

static void names_release(struct names *l)
{
	while (l->n)
		free(l->v[--l->n]);
	free(l->v);
	free(l->is_prefix);
	memset(l, 0, sizeof(*l));
}

static int list(struct ocb_store *s, const char *prefix, const char *delim,
		const char *after, struct names *l)
{
	names_release(l);
	return s->ops->list(s, prefix, delim, after, names_cb, l);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_list(struct ocb_store *s)
{
	static const char *odd[] = { "l/a-b", "l/a.b", "l/a/x", "l/a/y/z",
				     "l/a0", "l/b" };
	struct names l = { 0 };
	char **want;
	size_t nwant = 0, i;
	int d, k, ok;
	char key[64], p[600];

	want = calloc(1600, sizeof(*want));
	for (d = 0; d < 12; d++)
		for (k = 0; k < 110; k++) {
			snprintf(key, sizeof(key), "l/d%02d/k%03d", d, k);
			CHECK_INT(put_str(s, key, "x"), 0);
			want[nwant++] = strdup(key);
		}
	for (i = 0; i < sizeof(odd) / sizeof(*odd); i++) {
		CHECK_INT(put_str(s, odd[i], "x"), 0);
		want[nwant++] = strdup(odd[i]);
	}
	CHECK_INT(put_str(s, "lz", "outside the prefix"), 0);
	snprintf(p, sizeof(p), "%s/l/emptydir", root);
	mkdir(p, 0755);	/* no object in it: never listed */
	qsort(want, nwant, sizeof(*want), str_cmp);

	/* everything, in byte order, across directories (> 1000 keys) */
	CHECK_INT(list(s, "l/", NULL, NULL, &l), 0);
	CHECK_INT(l.n, nwant);
	ok = l.n == nwant;
	for (i = 0; ok && i < nwant; i++)
		ok = !strcmp(l.v[i], want[i]) && !l.is_prefix[i];
	CHECK(ok);
	/* "l" as a prefix reaches "lz" too */
	CHECK_INT(list(s, "l", NULL, NULL, &l), 0);
	CHECK_INT(l.n, nwant + 1);
	CHECK_STR(l.v[l.n - 1], "lz");

	/* start_after in the middle */
	CHECK_INT(list(s, "l/", NULL, "l/d05/k010", &l), 0);
	CHECK_STR(l.n ? l.v[0] : NULL, "l/d05/k011");
	CHECK_STR(l.n ? l.v[l.n - 1] : NULL, "l/d11/k109");
	CHECK_INT(list(s, "l/", NULL, "l/d05/k010x", &l), 0);
	CHECK_STR(l.n ? l.v[0] : NULL, "l/d05/k011");
	CHECK_INT(list(s, "l/", NULL, "l/zzz", &l), 0);
	CHECK_INT(l.n, 0);

	/* delimiter: prefixes among the objects, in order */
	CHECK_INT(list(s, "l/", "/", NULL, &l), 0);
	CHECK_INT(l.n, 4 + 12 + 1);
	if (l.n == 17) {
		CHECK_STR(l.v[0], "l/a-b");
		CHECK_STR(l.v[1], "l/a.b");
		CHECK_STR(l.v[2], "l/a/");
		CHECK(l.is_prefix[2]);
		CHECK_STR(l.v[3], "l/a0");
		CHECK(!l.is_prefix[3]);
		CHECK_STR(l.v[4], "l/b");
		CHECK_STR(l.v[5], "l/d00/");
		CHECK_STR(l.v[16], "l/d11/");
	}
	/* a partial component as the prefix */
	CHECK_INT(list(s, "l/d1", "/", NULL, &l), 0);
	CHECK_INT(l.n, 2);
	CHECK_INT(list(s, "l/a/", "/", NULL, &l), 0);
	CHECK_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_STR(l.v[0], "l/a/x");
		CHECK_STR(l.v[1], "l/a/y/");
	}
	/* start_after inside a rolled-up prefix skips that prefix */
	CHECK_INT(list(s, "l/", "/", "l/d05/k010", &l), 0);
	CHECK_STR(l.n ? l.v[0] : NULL, "l/d06/");
	CHECK_INT(list(s, "l/", "/", "l/d05/", &l), 0);
	CHECK_STR(l.n ? l.v[0] : NULL, "l/d06/");
	/* nothing there */
	CHECK_INT(list(s, "l/nothing", NULL, NULL, &l), 0);
	CHECK_INT(l.n, 0);
	CHECK_INT(list(s, "l/emptydir/", NULL, NULL, &l), 0);
	CHECK_INT(l.n, 0);
	/* only "/" maps onto directories */
	CHECK_INT(list(s, "l/", "-", NULL, &l), -EINVAL);
	/* the callback stops the walk */
	names_release(&l);
	l.stop_after = 3;
	CHECK_INT(s->ops->list(s, "l/", NULL, NULL, names_cb, &l), -ECANCELED);
	CHECK_INT(l.n, 3);
	names_release(&l);

	for (i = 0; i < nwant; i++)
		free(want[i]);
	free(want);
}

/* ---- unsafe keys ----------------------------------------------------------- */

static void test_unsafe_keys(struct ocb_store *s)
{
	static const char *bad[] = {
		"", "/abs", "a//b", "a/./b", "a/../b", "..", ".", "a/", "../up",
		"a/..", ".ocb-store", ".ocb-store/tmp/x", ".ocb-store/meta/k",
	};
	struct ocb_obj_head h = { 0 };
	struct collect c = { 0 };
	char *id = NULL;
	char longname[300];
	size_t i;

	ocb_buf_init(&c.b, 1024);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK_INT(put_str(s, bad[i], "x"), -EINVAL);
		CHECK_INT(get_range(s, bad[i], 0, OCB_TO_END, 0, NULL, &c),
			  -EINVAL);
		CHECK_INT(s->ops->head(s, bad[i], &h), -EINVAL);
		CHECK_INT(s->ops->del(s, bad[i]), -EINVAL);
		CHECK_INT(s->ops->mpu_create(s, bad[i], NULL, &id), -EINVAL);
	}
	/* a component longer than a file name */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(put_str(s, longname, "x"), -EINVAL);
	/* names that only look alike are fine */
	CHECK_INT(put_str(s, ".ocb-storex", "x"), 0);
	CHECK_INT(put_str(s, "u/.ocb-store", "x"), 0);
	CHECK_INT(put_str(s, "u/..x", "x"), 0);
	CHECK(!path_exists("up"));
	ocb_buf_release(&c.b);
}

/* ---- multipart ------------------------------------------------------------- */

struct uploads {
	int n;
	char key[128];
	char id[128];
};

static int uploads_cb(void *arg, const char *key, const char *id,
		      int64_t initiated)
{
	struct uploads *u = arg;

	u->n++;
	snprintf(u->key, sizeof(u->key), "%s", key);
	snprintf(u->id, sizeof(u->id), "%s", id);
	return initiated > 0 ? 0 : -EPROTO;
}

static void test_multipart(struct ocb_store *s)
{
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m };
	struct ocb_put_opts excl = { .if_none_match = 1 };
	struct ocb_part parts[3];
	struct ocb_obj_head h = { 0 };
	struct uploads u = { 0 };
	char *id = NULL, *id2 = NULL, *v;
	char old_etag[OCB_ETAG_MAX];
	int i;

	ocb_meta_set(&m, "kind", "mpu");
	CHECK_INT(s->ops->mpu_create(s, "m/obj", &po, &id), 0);
	if (!id)
		return;
	CHECK_INT(s->ops->mpu_list(s, "m/", uploads_cb, &u), 0);
	CHECK_INT(u.n, 1);
	CHECK_STR(u.key, "m/obj");
	CHECK_STR(u.id, id);
	u.n = 0;
	CHECK_INT(s->ops->mpu_list(s, "other/", uploads_cb, &u), 0);
	CHECK_INT(u.n, 0);
	/* parts in any order; part numbers in range */
	for (i = 2; i >= 0; i--) {
		char d[2] = { (char)('A' + i), 0 };

		parts[i].no = i + 1;
		CHECK_INT(s->ops->mpu_part(s, "m/obj", id, i + 1, d, 1,
					   parts[i].etag), 0);
	}
	CHECK_INT(s->ops->mpu_part(s, "m/obj", id, 0, "x", 1, old_etag), -EINVAL);
	CHECK_INT(s->ops->mpu_part(s, "m/obj", id, 10001, "x", 1, old_etag),
		  -EINVAL);
	/* a part uploaded again replaces the first one (and its etag) */
	snprintf(old_etag, sizeof(old_etag), "%s", parts[1].etag);
	CHECK_INT(s->ops->mpu_part(s, "m/obj", id, 2, "b", 1, parts[1].etag), 0);
	CHECK(strcmp(old_etag, parts[1].etag) != 0);
	/* nothing visible before complete, and no temp files listed */
	CHECK_INT(s->ops->head(s, "m/obj", &h), -ENOENT);
	{
		struct names l = { 0 };

		CHECK_INT(list(s, "", NULL, NULL, &l), 0);
		for (i = 0; i < (int)l.n; i++)
			CHECK(strncmp(l.v[i], ".ocb-store/", 11) != 0 &&
			      strncmp(l.v[i], "m/", 2) != 0);
		names_release(&l);
	}
	/* bad completes change nothing */
	{
		struct ocb_part swapped[2] = { parts[1], parts[0] };
		struct ocb_part stale[1] = { { 2, "" } };

		snprintf(stale[0].etag, sizeof(stale[0].etag), "%s", old_etag);
		CHECK_INT(s->ops->mpu_complete(s, "m/obj", id, swapped, 2),
			  -EINVAL);
		CHECK_INT(s->ops->mpu_complete(s, "m/obj", id, stale, 1),
			  -EINVAL);
		CHECK_INT(s->ops->mpu_complete(s, "m/obj", id, parts, 0),
			  -EINVAL);
		CHECK_INT(s->ops->mpu_complete(s, "m/other", id, parts, 3),
			  -EINVAL);
	}
	CHECK_INT(s->ops->mpu_complete(s, "m/obj", id, parts, 3), 0);
	v = get_str(s, "m/obj");
	CHECK_STR(v, "AbC");
	free(v);
	CHECK_INT(s->ops->head(s, "m/obj", &h), 0);
	CHECK_STR(ocb_meta_get(&h.meta, "kind"), "mpu");
	ocb_obj_head_release(&h);
	u.n = 0;
	CHECK_INT(s->ops->mpu_list(s, "", uploads_cb, &u), 0);
	CHECK_INT(u.n, 0);
	/* the upload is gone */
	CHECK_INT(s->ops->mpu_part(s, "m/obj", id, 1, "x", 1, old_etag), -ENOENT);
	CHECK_INT(s->ops->mpu_complete(s, "m/obj", id, parts, 3), -ENOENT);
	free(id);
	id = NULL;

	/* abort: nothing stays, a later part finds no upload */
	CHECK_INT(s->ops->mpu_create(s, "m/aborted", NULL, &id), 0);
	CHECK_INT(s->ops->mpu_part(s, "m/aborted", id, 1, "x", 1, old_etag), 0);
	CHECK_INT(s->ops->mpu_abort(s, "m/aborted", id), 0);
	CHECK_INT(s->ops->mpu_abort(s, "m/aborted", id), 0);
	CHECK_INT(s->ops->mpu_abort(s, "m/aborted", "u.nonexistent0"), 0);
	CHECK_INT(s->ops->mpu_abort(s, "m/aborted", "../../etc"), 0);
	CHECK_INT(s->ops->mpu_part(s, "m/aborted", id, 2, "x", 1, old_etag),
		  -ENOENT);
	CHECK_INT(s->ops->head(s, "m/aborted", &h), -ENOENT);
	CHECK_INT(dir_entries(".ocb-store/uploads"), 0);
	free(id);
	id = NULL;

	/* a conditional create by multipart loses to an existing object */
	CHECK_INT(s->ops->mpu_create(s, "m/obj", &excl, &id), 0);
	CHECK_INT(s->ops->mpu_create(s, "m/fresh", &excl, &id2), 0);
	parts[0].no = 1;
	CHECK_INT(s->ops->mpu_part(s, "m/obj", id, 1, "z", 1, parts[0].etag), 0);
	CHECK_INT(s->ops->mpu_complete(s, "m/obj", id, parts, 1), -EEXIST);
	v = get_str(s, "m/obj");
	CHECK_STR(v, "AbC");
	free(v);
	CHECK_INT(s->ops->mpu_part(s, "m/fresh", id2, 1, "f", 1,
				   parts[0].etag), 0);
	CHECK_INT(s->ops->mpu_complete(s, "m/fresh", id2, parts, 1), 0);
	CHECK_INT(s->ops->mpu_abort(s, "m/obj", id), 0);
	CHECK_INT(dir_entries(".ocb-store/uploads"), 0);
	CHECK_INT(dir_entries(".ocb-store/tmp"), 0);
	free(id);
	free(id2);
	ocb_meta_release(&m);
}

/* ---- delete ------------------------------------------------------------------ */

static void test_delete(struct ocb_store *s)
{
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m };
	const char *many[] = { "d/x/1", "d/x/2", "d/missing" };

	ocb_meta_set(&m, "a", "b");
	CHECK_INT(ocb_store_put_mem(s, "d/deep/er/obj", "x", 1, &po), 0);
	CHECK_INT(put_str(s, "d/keep", "x"), 0);
	CHECK(path_exists(".ocb-store/meta/d/deep/er/obj"));
	CHECK_INT(s->ops->del(s, "d/deep/er/obj"), 0);
	CHECK(!path_exists("d/deep"));		/* empty parents pruned */
	CHECK(!path_exists(".ocb-store/meta/d"));	/* and the sidecar */
	CHECK(path_exists(".ocb-store/meta"));
	CHECK(path_exists("d/keep"));
	CHECK_INT(s->ops->del(s, "d/deep/er/obj"), 0);	/* missing: fine */
	CHECK_INT(s->ops->del(s, "d"), 0);		/* a directory: no object */
	CHECK(path_exists("d/keep"));

	CHECK_INT(put_str(s, "d/x/1", "1"), 0);
	CHECK_INT(put_str(s, "d/x/2", "2"), 0);
	CHECK_INT(s->ops->del_many(s, many, 3), 0);
	CHECK(!path_exists("d/x"));
	CHECK_INT(s->ops->del(s, "d/keep"), 0);
	CHECK(!path_exists("d"));
	ocb_meta_release(&m);
}

int main(void)
{
	struct ocb_store *s = NULL;
	char cmd[600];

	ocb_log_set_level(OCB_LOG_ERR);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_new();
	CHECK_INT(ocb_file_store_new(root, &s), 0);
	if (!s)
		return T_DONE();
	CHECK_STR(s->ops->name, "file");
	test_ranges(s);
	test_head_meta_etag(s);
	test_put(s);
	test_race(s);
	test_atomic(s);
	test_list(s);
	test_unsafe_keys(s);
	test_multipart(s);
	test_delete(s);
	CHECK_INT(dir_entries(".ocb-store/tmp"), 0);
	ocb_store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return T_DONE();
}
