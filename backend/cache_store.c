/*
 * cache_store.c - block cache of immutable objects on local disk.
 *
 * Why blocks and not frames: the layer sits below the format and knows
 * only byte ranges; fixed 1 MiB blocks make any range a set of files, and
 * whole blocks are fetched so a later neighbouring read hits.  The suffix
 * read that opens a backup is kept as is, because its start depends on the
 * object's size, which is unknown before the first response.
 */
#include "cache_store.h"
#include "buf.h"
#include "crypto.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define RUN_BLOCKS 8		/* blocks fetched per request at most */
#define SUFFIX_MAX (4u << 20)	/* larger suffix reads pass through */

struct cstore {
	struct ocb_store *inner;
	char dir[3000];
	uint64_t max;
	atomic_uint_fast64_t bytes;	/* estimate of what is on disk */
	pthread_mutex_t evict_lock;
	atomic_int write_failed;
	atomic_uint_fast64_t hits, misses, bytes_disk, bytes_written, evictions;
};

struct meta {
	uint64_t size;
	char etag[OCB_ETAG_MAX];
};

static int cacheable(const char *key)
{
	size_t n = strlen(key);

	return n > 4 && strcmp(key + n - 4, ".ocb") == 0;
}

static void obj_dir(struct cstore *c, const char *key, char *out, size_t size)
{
	uint8_t h[32];
	char hex[65];

	ocb_crypto_sha256(key, strlen(key), h);
	ocb_crypto_hex(h, 16, hex);
	snprintf(out, size, "%s/%s", c->dir, hex);
}

/* ---- files ----------------------------------------------------------------------- */

static int read_file(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* a read marks the file recently used, for eviction */
	futimens(fd, NULL);
	close(fd);
	return got == len ? 0 : -EIO;
}

static void write_failed(struct cstore *c, const char *path, int err)
{
	if (!atomic_exchange(&c->write_failed, 1))
		ocb_warn("disk cache: cannot write %s (%s); serving from the "
			 "store without caching", path, strerror(-err));
}

static void evict(struct cstore *c);

/* write len bytes as path, atomically; failures only stop caching */
static void write_file(struct cstore *c, const char *dir, const char *name,
		       const void *p, size_t len)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t done = 0;
	int fd, r = 0;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		write_failed(c, dir, -errno);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.t%ld.%lx", dir, (long)getpid(),
		 (unsigned long)pthread_self());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		write_failed(c, tmp, -errno);
		return;
	}
	while (done < len && r == 0) {
		ssize_t n = write(fd, (const char *)p + done, len - done);

		if (n < 0)
			r = -errno;
		else
			done += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		write_failed(c, path, r);
		return;
	}
	atomic_fetch_add(&c->bytes_written, len);
	if (atomic_fetch_add(&c->bytes, len) + len > c->max)
		evict(c);
}

static int meta_load(const char *dir, struct meta *m)
{
	char path[PATH_MAX], buf[OCB_ETAG_MAX + 32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/meta", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	if (sscanf(buf, "%" SCNu64 " %79s", &m->size, m->etag) != 2)
		return -ENOENT;
	return 0;
}

static void meta_store(struct cstore *c, const char *dir, const struct meta *m)
{
	char buf[OCB_ETAG_MAX + 32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 " %s\n", m->size,
			 m->etag[0] ? m->etag : "-");

	write_file(c, dir, "meta", buf, (size_t)n);
}

/* forget an object whose etag changed */
static void purge(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || de->d_name[1] == 't')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/* ---- eviction --------------------------------------------------------------------- */

struct victim {
	char path[3600];
	time_t mtime;
	off_t size;
};

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* scan the cache; drop least recently used blocks down to 90% of max */
static void evict(struct cstore *c)
{
	struct victim *v = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0;
	DIR *top;
	struct dirent *de;

	if (pthread_mutex_trylock(&c->evict_lock) != 0)
		return;		/* someone else is at it */
	top = opendir(c->dir);
	while (top && (de = readdir(top)) != NULL) {
		char sub[3300];
		struct dirent *fe;
		DIR *d;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", c->dir, de->d_name);
		d = opendir(sub);
		while (d && (fe = readdir(d)) != NULL) {
			struct stat st;

			if (fe->d_name[0] != 'b' && fe->d_name[0] != 's')
				continue;
			if (fstatat(dirfd(d), fe->d_name, &st, 0) < 0)
				continue;
			total += (uint64_t)st.st_size;
			if (n == cap) {
				struct victim *nv = realloc(v, (cap = cap ? cap * 2 : 256) *
							    sizeof(*v));

				if (!nv)
					break;
				v = nv;
			}
			snprintf(v[n].path, sizeof(v[n].path), "%s/%s", sub,
				 fe->d_name);
			v[n].mtime = st.st_mtime;
			v[n].size = st.st_size;
			n++;
		}
		if (d)
			closedir(d);
	}
	if (top)
		closedir(top);
	if (n > 1)
		qsort(v, n, sizeof(*v), victim_cmp);
	for (i = 0; i < n && total > c->max / 10 * 9; i++) {
		if (unlink(v[i].path) == 0) {
			total -= (uint64_t)v[i].size;
			atomic_fetch_add(&c->evictions, 1);
		}
	}
	atomic_store(&c->bytes, total);
	free(v);
	pthread_mutex_unlock(&c->evict_lock);
}

/* ---- get ---------------------------------------------------------------------------- */

static int deliver(const struct ocb_get_req *g, ocb_sink_fn sink, void *arg,
		   uint64_t base, const uint8_t *p, size_t len, uint64_t lo,
		   uint64_t hi)
{
	/* the part of [base, base + len) inside [lo, hi) */
	uint64_t s = lo > base ? lo : base;
	uint64_t e = hi < base + len ? hi : base + len;

	(void)g;
	if (s >= e)
		return 0;
	return sink(arg, p + (s - base), e - s);
}

static int collect(void *arg, const void *p, size_t n)
{
	return ocb_buf_append(arg, p, n);
}

static void fill_head(struct ocb_obj_head *h, const struct meta *m)
{
	if (!h)
		return;
	h->size = m->size;
	snprintf(h->etag, sizeof(h->etag), "%s", strcmp(m->etag, "-") ?
		 m->etag : "");
}

/* store the whole blocks that [base, base + len) covers */
static void store_blocks(struct cstore *c, const char *dir,
			 const struct meta *m, uint64_t base, const uint8_t *p,
			 size_t len)
{
	uint64_t i = (base + BLOCK - 1) / BLOCK;

	for (;; i++) {
		uint64_t bs = i * BLOCK;
		uint64_t be = bs + BLOCK < m->size ? bs + BLOCK : m->size;
		char name[32];

		if (bs >= m->size || be > base + len)
			break;
		snprintf(name, sizeof(name), "b%" PRIu64, i);
		write_file(c, dir, name, p + (bs - base), be - bs);
	}
}

static int cstore_get(struct ocb_store *s, const struct ocb_get_req *g,
		      ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct cstore *c = s->priv;
	char dir[3100], path[PATH_MAX];
	struct meta m = { 0 };
	uint64_t lo, hi, i, b0, b1;
	uint8_t *blk = NULL;
	int have_meta, r = 0;

	if (!cacheable(g->key) || (g->suffix && g->len > SUFFIX_MAX))
		return c->inner->ops->get(c->inner, g, sink, arg, head);
	obj_dir(c, g->key, dir, sizeof(dir));
	have_meta = meta_load(dir, &m) == 0;
	if (have_meta && g->if_match && strcmp(g->if_match, m.etag) != 0) {
		purge(dir);	/* the object was replaced: start afresh */
		have_meta = 0;
	}

	if (g->suffix) {
		struct ocb_buf b;
		struct ocb_obj_head h = { 0 };
		uint64_t n = have_meta ? (g->len < m.size ? g->len : m.size) : 0;

		ocb_buf_init(&b, SUFFIX_MAX);
		if (have_meta && n) {
			snprintf(path, sizeof(path), "%s/s%" PRIu64, dir, g->len);
			if (ocb_buf_reserve(&b, n) == 0 &&
			    read_file(path, b.data, n) == 0) {
				atomic_fetch_add(&c->hits, 1);
				atomic_fetch_add(&c->bytes_disk, n);
				fill_head(head, &m);
				r = sink(arg, b.data, n);
				ocb_buf_release(&b);
				return r;
			}
		}
		atomic_fetch_add(&c->misses, 1);
		r = c->inner->ops->get(c->inner, g, collect, &b, &h);
		if (r == 0) {
			char name[32];

			m.size = h.size;
			snprintf(m.etag, sizeof(m.etag), "%s", h.etag[0] ? h.etag : "-");
			meta_store(c, dir, &m);
			snprintf(name, sizeof(name), "s%" PRIu64, g->len);
			write_file(c, dir, name, b.data, b.len);
			store_blocks(c, dir, &m, m.size - b.len,
				     (const uint8_t *)b.data, b.len);
			if (head)
				*head = h;
			else
				ocb_obj_head_release(&h);
			memset(&h, 0, sizeof(h));
			r = sink(arg, b.data ? b.data : "", b.len);
		}
		ocb_obj_head_release(&h);
		ocb_buf_release(&b);
		return r;
	}

	if (!have_meta) {
		/* learn the size from the first response: fetch whole blocks */
		struct ocb_get_req a = *g;
		struct ocb_buf b;
		struct ocb_obj_head h = { 0 };
		uint64_t start = g->off / BLOCK * BLOCK;

		if (g->len == OCB_TO_END || g->len > (uint64_t)RUN_BLOCKS * BLOCK)
			return c->inner->ops->get(c->inner, g, sink, arg, head);
		a.off = start;
		a.len = ((g->off + g->len + BLOCK - 1) / BLOCK) * BLOCK - start;
		ocb_buf_init(&b, a.len);
		ocb_buf_reserve(&b, a.len);
		atomic_fetch_add(&c->misses, 1);
		r = c->inner->ops->get(c->inner, &a, collect, &b, &h);
		if (r == 0) {
			m.size = h.size;
			snprintf(m.etag, sizeof(m.etag), "%s", h.etag[0] ? h.etag : "-");
			meta_store(c, dir, &m);
			store_blocks(c, dir, &m, start, (const uint8_t *)b.data, b.len);
			if (head)
				*head = h;
			else
				ocb_obj_head_release(&h);
			memset(&h, 0, sizeof(h));
			r = deliver(g, sink, arg, start, (const uint8_t *)b.data,
				    b.len, g->off, g->off + g->len);
		}
		ocb_obj_head_release(&h);
		ocb_buf_release(&b);
		return r;
	}

	/* size known: serve block by block, fetching missing runs */
	lo = g->off;
	hi = g->len == OCB_TO_END || g->len > m.size - (lo < m.size ? lo : m.size) ?
		m.size : lo + g->len;
	if (lo >= m.size)
		return m.size == 0 && lo == 0 ? 0 : -ERANGE;
	fill_head(head, &m);
	blk = malloc(BLOCK);
	if (!blk)
		return -ENOMEM;
	b0 = lo / BLOCK;
	b1 = (hi - 1) / BLOCK;
	for (i = b0; i <= b1 && r == 0;) {
		uint64_t bs = i * BLOCK, be = bs + BLOCK < m.size ? bs + BLOCK : m.size;
		uint64_t j;
		struct ocb_get_req a = { .key = g->key,
					 .if_match = strcmp(m.etag, "-") ? m.etag : NULL };
		struct ocb_buf b;

		snprintf(path, sizeof(path), "%s/b%" PRIu64, dir, i);
		if (read_file(path, blk, be - bs) == 0) {
			atomic_fetch_add(&c->hits, 1);
			atomic_fetch_add(&c->bytes_disk, be - bs);
			r = deliver(g, sink, arg, bs, blk, be - bs, lo, hi);
			i++;
			continue;
		}
		/* a run of missing blocks, fetched in one request */
		for (j = i + 1; j <= b1 && j - i < RUN_BLOCKS; j++) {
			struct stat st;

			snprintf(path, sizeof(path), "%s/b%" PRIu64, dir, j);
			if (stat(path, &st) == 0)
				break;
		}
		a.off = bs;
		a.len = (j * BLOCK < m.size ? j * BLOCK : m.size) - bs;
		ocb_buf_init(&b, a.len);
		ocb_buf_reserve(&b, a.len);
		atomic_fetch_add(&c->misses, 1);
		r = c->inner->ops->get(c->inner, &a, collect, &b, NULL);
		if (r == 0 && b.len != a.len)
			r = -ECONNRESET;
		if (r == 0) {
			store_blocks(c, dir, &m, bs, (const uint8_t *)b.data, b.len);
			r = deliver(g, sink, arg, bs, (const uint8_t *)b.data, b.len,
				    lo, hi);
		}
		ocb_buf_release(&b);
		i = j;
	}
	free(blk);
	return r;
}

/* ---- pass-through ---------------------------------------------------------------------- */

#define INNER(c) (((struct cstore *)(c)->priv)->inner)

static int cstore_head(struct ocb_store *s, const char *key,
		       struct ocb_obj_head *out)
{
	return INNER(s)->ops->head(INNER(s), key, out);
}

static int cstore_put(struct ocb_store *s, const char *key, uint64_t size,
		      ocb_source_fn src, void *arg, const struct ocb_put_opts *o)
{
	return INNER(s)->ops->put(INNER(s), key, size, src, arg, o);
}

static int cstore_mpu_create(struct ocb_store *s, const char *key,
			     const struct ocb_put_opts *o, char **id)
{
	return INNER(s)->ops->mpu_create(INNER(s), key, o, id);
}

static int cstore_mpu_part(struct ocb_store *s, const char *key, const char *id,
			   int no, const void *data, size_t len,
			   char etag[OCB_ETAG_MAX])
{
	return INNER(s)->ops->mpu_part(INNER(s), key, id, no, data, len, etag);
}

static int cstore_mpu_complete(struct ocb_store *s, const char *key,
			       const char *id, const struct ocb_part *p, size_t n)
{
	return INNER(s)->ops->mpu_complete(INNER(s), key, id, p, n);
}

static int cstore_mpu_abort(struct ocb_store *s, const char *key, const char *id)
{
	return INNER(s)->ops->mpu_abort(INNER(s), key, id);
}

static int cstore_mpu_list(struct ocb_store *s, const char *prefix,
			   ocb_upload_fn cb, void *arg)
{
	return INNER(s)->ops->mpu_list(INNER(s), prefix, cb, arg);
}

static int cstore_list(struct ocb_store *s, const char *prefix,
		       const char *delim, const char *after, ocb_list_fn cb,
		       void *arg)
{
	return INNER(s)->ops->list(INNER(s), prefix, delim, after, cb, arg);
}

static int cstore_del(struct ocb_store *s, const char *key)
{
	struct cstore *c = s->priv;
	char dir[3100];

	if (cacheable(key)) {
		obj_dir(c, key, dir, sizeof(dir));
		purge(dir);
	}
	return c->inner->ops->del(c->inner, key);
}

static int cstore_del_many(struct ocb_store *s, const char *const *keys,
			   size_t n)
{
	struct cstore *c = s->priv;
	char dir[3100];
	size_t i;

	for (i = 0; i < n; i++)
		if (cacheable(keys[i])) {
			obj_dir(c, keys[i], dir, sizeof(dir));
			purge(dir);
		}
	return c->inner->ops->del_many(c->inner, keys, n);
}

static void cstore_stats(struct ocb_store *s, struct ocb_buf *out)
{
	struct cstore *c = s->priv;

	ocb_buf_printf(out,
		       "disk_cache_hits %" PRIuFAST64 "\n"
		       "disk_cache_misses %" PRIuFAST64 "\n"
		       "disk_cache_bytes_served %" PRIuFAST64 "\n"
		       "disk_cache_bytes_written %" PRIuFAST64 "\n"
		       "disk_cache_bytes %" PRIuFAST64 "\n"
		       "disk_cache_limit %" PRIu64 "\n"
		       "disk_cache_evictions %" PRIuFAST64 "\n"
		       "disk_cache_write_failed %d\n",
		       atomic_load(&c->hits), atomic_load(&c->misses),
		       atomic_load(&c->bytes_disk),
		       atomic_load(&c->bytes_written), atomic_load(&c->bytes),
		       c->max, atomic_load(&c->evictions),
		       atomic_load(&c->write_failed));
	c->inner->ops->stats(c->inner, out);
}

static void cstore_destroy(struct ocb_store *s)
{
	struct cstore *c = s->priv;

	ocb_store_free(c->inner);
	pthread_mutex_destroy(&c->evict_lock);
	free(c);
	free(s);
}

static const struct ocb_store_ops cstore_ops = {
	.name = "cache",
	.get = cstore_get,
	.head = cstore_head,
	.put = cstore_put,
	.mpu_create = cstore_mpu_create,
	.mpu_part = cstore_mpu_part,
	.mpu_complete = cstore_mpu_complete,
	.mpu_abort = cstore_mpu_abort,
	.mpu_list = cstore_mpu_list,
	.list = cstore_list,
	.del = cstore_del,
	.del_many = cstore_del_many,
	.stats = cstore_stats,
	.destroy = cstore_destroy,
};

int ocb_cache_store_new(struct ocb_store *inner, const char *dir,
			uint64_t max_bytes, struct ocb_store **out)
{
	struct ocb_store *s = calloc(1, sizeof(*s));
	struct cstore *c = calloc(1, sizeof(*c));
	char tmp[PATH_MAX], *p;

	if (!s || !c) {
		free(s);
		free(c);
		ocb_store_free(inner);
		return -ENOMEM;
	}
	if (strlen(dir) >= sizeof(c->dir)) {
		free(s);
		free(c);
		ocb_store_free(inner);
		return -ENAMETOOLONG;
	}
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	/* mkdir -p, private */
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (p = strchr(tmp + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdir(tmp, 0700);
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int r = -errno;

		ocb_err("cache directory %s: %s", dir, strerror(errno));
		free(s);
		free(c);
		ocb_store_free(inner);
		return r;
	}
	c->inner = inner;
	c->max = max_bytes ? max_bytes : (2ull << 30);
	pthread_mutex_init(&c->evict_lock, NULL);
	s->ops = &cstore_ops;
	s->priv = c;
	snprintf(s->desc, sizeof(s->desc), "%s", inner->desc);
	evict(c);	/* learn the current size (and trim if over) */
	*out = s;
	return 0;
}
