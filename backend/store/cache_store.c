/*
 * cache_store.c - block cache of immutable objects on local disk.
 *
 * Why blocks and not frames: the layer sits below the format and knows
 * only byte ranges; fixed 1 MiB blocks (b<block>) and 64 KiB pieces
 * (g<piece>) make any range a set of files.  The rule: a read fetches
 * what it asks for, rounded out to pieces at most, never the blocks
 * around it; the blocks the request holds whole are filed as blocks, the
 * parts of blocks at its edges as pieces.  Fetching whole blocks around a
 * read (so that a later neighbouring read hits) cost a small read a
 * megabyte or two at network distance (the first byte of a small file:
 * the suffix that opens the backup and one frame), and a frame read of
 * 1 MiB, which straddles two blocks, twice its size.  What neighbours
 * want, the reader above asks for itself: its read-ahead asks for large
 * adjacent ranges, whose middles are whole blocks; where two of them meet
 * inside a block, each files its pieces of it, and the block whose pieces
 * are then all on disk becomes a block (a sequential read leaves blocks).
 * Reads under SMALL_MAX fetch only the pieces they lack (one request,
 * from the first missing to the last), file pieces only and never wait
 * for another reader (below).  Any read is served from a block, or piece
 * by piece from pieces (or bytes still on their way to disk), and a block
 * written drops its pieces.  The suffix read that opens a backup is also
 * kept as is (s<len>), because its start depends on the object's size,
 * unknown to a process that has not seen the object yet.
 *
 * Why the directory is named by key AND etag: an object deleted and
 * re-created under the same key gets a new etag, so its bytes go to a new
 * directory and the old version's blocks can never be served for it, even
 * by another process that still writes blocks of the old version.  What
 * remains of the old version ages out by eviction.  So the only question
 * is which etag is current, and it is answered once per process and
 * object, by what the store said in this process: a LIST (the mount lists
 * the backups before opening any, so a remount makes no request at all),
 * a HEAD, or the response to the first GET (which is then a plain fetch:
 * the cache is not trusted before the store has spoken).
 *
 * A whole block is fetched once per process: a request claims the blocks
 * it holds whole, and a thread that needs a block another thread has in
 * flight fetches only its part of it, uncached, or waits when it needs
 * nothing more (parallel read-ahead asks for adjacent ranges, which may
 * share a block; it was fetched twice before).  The pieces at a request's
 * edges are not claimed: two readers may fetch the same edge piece.
 * Every fetch's bytes go to the reader first (as they arrive) and to the
 * disk after, written behind by one thread, aligned whole blocks and
 * pieces with O_DIRECT: a reader never waits for the disk (filing in the
 * reader's thread made the requests of a cold sequential read at 30 ms
 * look slow to the link estimate above, which then kept fewer of them
 * in flight: 47 to 65 MB/s over the network against 100 without the
 * cache).
 *
 * The files are not trusted: the format above authenticates what they
 * give, and a read that failed there comes again with refetch set
 * (store.h), which drops the files holding its range before reading, so
 * the store's bytes replace them.
 *
 * Files appear whole: written to a temporary name, then renamed.  Readers
 * open them without locks; a block evicted under a reader stays readable
 * through its open descriptor.  A block's mtime is its last use (set on
 * every hit); eviction removes the least recently used down to 90% of the
 * bound.  Errors writing the cache (a full disk) are logged once and only
 * stop caching.
 *
 * A store layer (store_layer.h): the hooks that read or replace objects
 * are here; the rest of the multipart upload passes through the frame.
 */
#include "cache_store.h"
#include "store_layer.h"
#include "fileio.h"
#include "buf.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
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
#define PIECE (64u << 10)	/* the unit of small reads */
#define SMALL_MAX (BLOCK / 2)	/* shorter reads go by pieces */
#define STALE_TMP_SEC 3600	/* a temporary file older: its writer died */
#define SUFFIX_MAX (4u << 20)	/* larger suffix reads pass through */
#define VBUCKETS 1024
#define VMAX 65536		/* remembered objects; then forget all */
#define DIRECT_ALIGN 4096	/* O_DIRECT writes: buffer and length */
#define WQ_MAX (16u << 20)	/* fetched bytes queued for the disk */

/* what the store said of an object in this process */
struct vent {
	struct vent *next;
	uint8_t kh[32];		/* sha256 of the key */
	uint64_t size;
	char etag[OCB_ETAG_MAX];
};

struct flight;

struct cstore {
	struct ocb_store *inner;	/* the layer's (store_layer.h owns it) */
	char dir[3000];
	uint64_t max;
	pthread_mutex_t vlock;
	struct vent *vtab[VBUCKETS];
	size_t nv;
	atomic_uint_fast64_t bytes;	/* estimate of what is on disk */
	pthread_mutex_t evict_lock;
	/* drops (refetch) against blocks made of pieces read back from disk:
	 * such a block is put in place only if no drop came since its pieces
	 * were read, or it could bring back the damage a drop removed */
	pthread_mutex_t drop_lock;
	uint64_t drops;			/* under drop_lock */
	pthread_mutex_t flock;		/* flights and the write queue */
	pthread_cond_t fcond;		/* a flight ended */
	pthread_cond_t wcond;		/* queued; stopping */
	struct flight *flights;
	struct flight *wq;		/* to write, in order */
	size_t wq_bytes;
	uint64_t next_flight;
	pthread_t writer;
	int writer_started, stopping, wq_writing;
	atomic_int write_failed;
	atomic_uint_fast64_t hits, misses, bytes_disk, bytes_written, evictions;
	atomic_uint_fast64_t write_errors, learned, flight_waits, writes_inline;
};

/* sha256 (the store layer links OpenSSL, not the format's crypto.c) */
static void sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 32;

	if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL))
		memset(out, 0, 32);
}

static int cacheable(const char *key)
{
	size_t n = strlen(key);

	return n > 4 && strcmp(key + n - 4, ".ocb") == 0;
}

/* ---- what the store said: key -> (size, etag) ------------------------------- */

static size_t vbucket(const uint8_t kh[32])
{
	return ((size_t)kh[0] << 8 | kh[1]) % VBUCKETS;
}

static void vtab_clear(struct cstore *c)
{
	size_t i;

	for (i = 0; i < VBUCKETS; i++) {
		while (c->vtab[i]) {
			struct vent *v = c->vtab[i];

			c->vtab[i] = v->next;
			free(v);
		}
	}
	c->nv = 0;
}

static void remember(struct cstore *c, const char *key, uint64_t size,
		     const char *etag)
{
	uint8_t kh[32];
	struct vent *v;

	if (!etag || !*etag || strlen(etag) >= OCB_ETAG_MAX)
		return;
	sha256(key, strlen(key), kh);
	pthread_mutex_lock(&c->vlock);
	for (v = c->vtab[vbucket(kh)]; v; v = v->next)
		if (memcmp(v->kh, kh, 32) == 0)
			break;
	if (!v) {
		if (c->nv >= VMAX)
			vtab_clear(c);
		v = calloc(1, sizeof(*v));
		if (v) {
			memcpy(v->kh, kh, 32);
			v->next = c->vtab[vbucket(kh)];
			c->vtab[vbucket(kh)] = v;
			c->nv++;
		}
	}
	if (v) {
		v->size = size;
		snprintf(v->etag, sizeof(v->etag), "%s", etag);
	}
	pthread_mutex_unlock(&c->vlock);
	atomic_fetch_add(&c->learned, 1);
}

static void forget(struct cstore *c, const char *key)
{
	uint8_t kh[32];
	struct vent **pp, *v;

	sha256(key, strlen(key), kh);
	pthread_mutex_lock(&c->vlock);
	for (pp = &c->vtab[vbucket(kh)]; (v = *pp) != NULL; pp = &v->next) {
		if (memcmp(v->kh, kh, 32) == 0) {
			*pp = v->next;
			free(v);
			c->nv--;
			break;
		}
	}
	pthread_mutex_unlock(&c->vlock);
}

/* 0 and *size, etag; or -ENOENT when the store has not spoken yet */
static int lookup(struct cstore *c, const char *key, uint64_t *size,
		  char etag[OCB_ETAG_MAX])
{
	uint8_t kh[32];
	struct vent *v;
	int r = -ENOENT;

	sha256(key, strlen(key), kh);
	pthread_mutex_lock(&c->vlock);
	for (v = c->vtab[vbucket(kh)]; v; v = v->next) {
		if (memcmp(v->kh, kh, 32) == 0) {
			*size = v->size;
			memcpy(etag, v->etag, OCB_ETAG_MAX);
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&c->vlock);
	return r;
}

/* DIR/<32 hex of sha256(key "\n" etag)> */
static void obj_dir(struct cstore *c, const char *key, const char *etag,
		    char *out, size_t size)
{
	uint8_t h[32];
	char hex[33];
	struct ocb_buf b;
	int i;

	ocb_buf_init(&b, OCB_KEY_MAX + OCB_ETAG_MAX + 8);
	ocb_buf_printf(&b, "%s\n%s", key, etag);
	sha256(b.data ? b.data : "", b.len, h);
	ocb_buf_release(&b);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, size, "%s/%s", c->dir, hex);
}

/* ---- files ----------------------------------------------------------------------- */

/*
 * Read [off, off + len) of the cached file path, whose whole size must be
 * fsize (anything else is not ours: removed).  Marks it recently used.
 */
static int read_part(const char *path, uint64_t fsize, uint64_t off,
		     void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != fsize) {
		close(fd);
		unlink(path);
		return -EIO;
	}
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got,
				  (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	futimens(fd, NULL);	/* last use, for eviction */
	close(fd);
	return got == len ? 0 : -EIO;
}

static void write_failed(struct cstore *c, const char *path, int err)
{
	atomic_fetch_add(&c->write_errors, 1);
	if (!atomic_exchange(&c->write_failed, 1)) {
		char esc[512];

		ocb_warn("disk cache: cannot write %s (%s); serving from the "
			 "store without caching what does not fit",
			 ocb_log_escape(esc, sizeof(esc), path), strerror(-err));
	}
}

static void evict(struct cstore *c);

/* write len bytes as dir/name, atomically; failures only stop caching.
 * gen (NULL: none): the drops counted before p was read back from disk;
 * after a drop since, the file is not put in place */
static void write_file(struct cstore *c, const char *dir, const char *name,
		       const void *p, size_t len, const uint64_t *gen)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd, r = 0;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		write_failed(c, dir, -errno);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.t%ld.%lx", dir, (long)getpid(),
		 (unsigned long)pthread_self());
	/* whole aligned blocks skip the page cache: the bytes are already in
	 * the frame cache, and copying them into the page cache cost more
	 * than the fetch (measured: half the cold sequential read rate) */
	fd = -1;
	if ((uintptr_t)p % DIRECT_ALIGN == 0 && len % DIRECT_ALIGN == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
			  O_DIRECT, 0600);	/* EINVAL where unsupported */
	if (fd < 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* ENOENT: the directory was just evicted; not a failure */
		if (errno != ENOENT)
			write_failed(c, tmp, -errno);
		return;
	}
	r = ocb_fileio_write_all(fd, p, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && gen) {
		pthread_mutex_lock(&c->drop_lock);
		if (c->drops != *gen)
			r = -ENOENT;	/* not a failure: dropped since */
		else if (rename(tmp, path) < 0)
			r = -errno;
		pthread_mutex_unlock(&c->drop_lock);
	} else if (r == 0 && rename(tmp, path) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlink(tmp);
		if (r != -ENOENT)
			write_failed(c, path, r);
		return;
	}
	atomic_fetch_add(&c->bytes_written, len);
	if (atomic_fetch_add(&c->bytes, len) + len > c->max)
		evict(c);
}

/* remove a directory of cached files */
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
	struct timespec mtime;
	off_t size;
};

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 :
		x->mtime.tv_nsec > y->mtime.tv_nsec;
}

/* scan the cache; drop least recently used files down to 90% of max */
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

			if (fe->d_name[0] == '.' && fe->d_name[1] == 't' &&
			    fstatat(dirfd(d), fe->d_name, &st, 0) == 0 &&
			    st.st_mtime + STALE_TMP_SEC < time(NULL)) {
				unlinkat(dirfd(d), fe->d_name, 0); /* killed */
				continue;
			}
			if (fe->d_name[0] != 'b' && fe->d_name[0] != 's' &&
			    fe->d_name[0] != 'g')
				continue;
			if (fstatat(dirfd(d), fe->d_name, &st, 0) < 0)
				continue;
			total += (uint64_t)st.st_size;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct victim *nv = realloc(v, ncap * sizeof(*v));

				if (!nv)
					break;
				v = nv;
				cap = ncap;
			}
			snprintf(v[n].path, sizeof(v[n].path), "%s/%s", sub,
				 fe->d_name);
			v[n].mtime = st.st_mtim;
			v[n].size = st.st_size;
			n++;
		}
		if (d) {
			closedir(d);
			rmdir(sub);	/* only if empty */
		}
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

/* deliver the part of [base, base + len) inside [lo, hi) */
static int deliver(ocb_sink_fn sink, void *arg, uint64_t base,
		   const uint8_t *p, size_t len, uint64_t lo, uint64_t hi)
{
	uint64_t s = lo > base ? lo : base;
	uint64_t e = hi < base + len ? hi : base + len;

	if (s >= e)
		return 0;
	return sink(arg, p + (s - base), e - s);
}

static int collect(void *arg, const void *p, size_t n)
{
	return ocb_buf_append(arg, p, n);
}

static void fill_head(struct ocb_obj_head *h, uint64_t size, const char *etag)
{
	if (!h)
		return;
	h->size = size;
	snprintf(h->etag, sizeof(h->etag), "%s", etag);
}

/* is file <kind><i> (b: a block, g: a piece) in dir? */
static int cached(const char *dir, char kind, uint64_t i)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%c%" PRIu64, dir, kind, i);
	return access(path, F_OK) == 0;
}

/* remove file path of size n, if there */
static void drop_file(struct cstore *c, const char *path, uint64_t n)
{
	if (unlink(path) == 0)
		atomic_fetch_sub(&c->bytes, n);
}

/* block i is on disk: the pieces of it that small reads left go */
static void drop_pieces(struct cstore *c, const char *dir, uint64_t size,
			uint64_t i)
{
	char path[PATH_MAX];
	uint64_t j;

	for (j = i * (BLOCK / PIECE); j < (i + 1) * (BLOCK / PIECE) &&
	     j * PIECE < size; j++) {
		snprintf(path, sizeof(path), "%s/g%" PRIu64, dir, j);
		drop_file(c, path, size - j * PIECE < PIECE ?
			  size - j * PIECE : PIECE);
	}
}

/* a read of [lo, hi) failed a check above this layer (refetch): the
 * blocks and pieces that hold any of it go, so it is fetched again and
 * what the store sends replaces them */
static void drop_range(struct cstore *c, const char *dir, uint64_t size,
		       uint64_t lo, uint64_t hi)
{
	char path[PATH_MAX];
	uint64_t i;

	pthread_mutex_lock(&c->drop_lock);
	c->drops++;
	for (i = lo / BLOCK; i * BLOCK < hi; i++) {
		snprintf(path, sizeof(path), "%s/b%" PRIu64, dir, i);
		drop_file(c, path, size - i * BLOCK < BLOCK ?
			  size - i * BLOCK : BLOCK);
	}
	for (i = lo / PIECE; i * PIECE < hi; i++) {
		snprintf(path, sizeof(path), "%s/g%" PRIu64, dir, i);
		drop_file(c, path, size - i * PIECE < PIECE ?
			  size - i * PIECE : PIECE);
	}
	pthread_mutex_unlock(&c->drop_lock);
}

/* store the whole units (BLOCK: blocks; PIECE: pieces) that [base, base +
 * len) covers, where not cached yet (a piece: nor its block); a block
 * written drops the pieces inside it */
static void store_units(struct cstore *c, const char *dir, uint64_t size,
			uint64_t base, const uint8_t *p, size_t len,
			uint64_t unit)
{
	uint64_t i = (base + unit - 1) / unit;
	char kind = unit == BLOCK ? 'b' : 'g', name[32];

	for (;; i++) {
		uint64_t us = i * unit;
		uint64_t ue = us + unit < size ? us + unit : size;

		if (us >= size || ue > base + len)
			break;
		if (cached(dir, 'b', us / BLOCK) ||
		    (kind == 'g' && cached(dir, 'g', i)))
			continue;
		snprintf(name, sizeof(name), "%c%" PRIu64, kind, i);
		write_file(c, dir, name, p + (us - base), ue - us, NULL);
		if (kind == 'b' && cached(dir, 'b', i))
			drop_pieces(c, dir, size, i);
	}
}

/* the pieces of block i are all on disk (the edges of two reads that met
 * there): one block file of them, written whole, and the pieces go, so
 * a sequential read leaves whole blocks even where its requests' edges
 * fell; nothing when a piece is missing or wrong (it stays as it is) */
static void pieces_to_block(struct cstore *c, const char *dir, uint64_t size,
			    uint64_t i)
{
	char path[PATH_MAX], name[32];
	uint64_t bs = i * BLOCK, be = bs + BLOCK < size ? bs + BLOCK : size, j;
	uint8_t *p = NULL;
	uint64_t gen;

	if (bs >= size || cached(dir, 'b', i))
		return;
	for (j = bs / PIECE; j * PIECE < be; j++)
		if (!cached(dir, 'g', j))
			return;
	if (posix_memalign((void **)&p, DIRECT_ALIGN, BLOCK))
		return;
	/* before the pieces are read: a drop from here on discards them */
	pthread_mutex_lock(&c->drop_lock);
	gen = c->drops;
	pthread_mutex_unlock(&c->drop_lock);
	for (j = bs / PIECE; j * PIECE < be; j++) {
		uint64_t ps = j * PIECE, pe = ps + PIECE < be ? ps + PIECE : be;

		snprintf(path, sizeof(path), "%s/g%" PRIu64, dir, j);
		if (read_part(path, pe - ps, 0, p + (ps - bs), pe - ps) < 0)
			goto out;
	}
	snprintf(name, sizeof(name), "b%" PRIu64, i);
	write_file(c, dir, name, p, be - bs, &gen);
	if (cached(dir, 'b', i))
		drop_pieces(c, dir, size, i);
out:
	free(p);
}

/*
 * File what a fetch of [off, off + len) brought (p): the blocks it holds
 * whole, and the pieces it holds whole in the blocks at its edges, which
 * it holds in part; an edge block whose pieces are then all there becomes
 * a block.
 */
static void file_fetched(struct cstore *c, const char *dir, uint64_t size,
			 uint64_t off, const uint8_t *p, size_t len)
{
	uint64_t end = off + len;
	uint64_t h = (off + BLOCK - 1) / BLOCK * BLOCK;	/* head edge: [off, h) */
	uint64_t t = end < size ? end / BLOCK * BLOCK : end; /* tail: [t, end) */

	if (!len)
		return;
	store_units(c, dir, size, off, p, len, BLOCK);
	if (h > end)
		h = end;
	if (t < h)
		t = h;
	if (h > off) {
		store_units(c, dir, size, off, p, h - off, PIECE);
		pieces_to_block(c, dir, size, off / BLOCK);
	}
	if (end > t) {
		store_units(c, dir, size, t, p + (t - off), end - t, PIECE);
		pieces_to_block(c, dir, size, t / BLOCK);
	}
}

/* a fetch's bytes, placed so that its whole blocks are aligned for
 * O_DIRECT, whatever offset it starts at */
struct abuf {
	uint8_t *raw, *p;
	size_t len, cap;
};

static int abuf_alloc(struct abuf *b, uint64_t off, size_t len)
{
	size_t skew = (size_t)(off % DIRECT_ALIGN);

	memset(b, 0, sizeof(*b));
	/* huge pages from OCB_BUF_HUGE_MIN (2 MiB-aligned: fit for
	 * O_DIRECT): a sequential read's fetches are fresh memory each, and
	 * filling them cost a page fault per 4 KiB */
	if (skew + len + 1 >= OCB_BUF_HUGE_MIN)
		b->raw = ocb_buf_big_alloc(skew + len + 1);
	else if (posix_memalign((void **)&b->raw, DIRECT_ALIGN,
				skew + len + 1))
		b->raw = NULL;
	if (!b->raw)
		return -ENOMEM;
	b->p = b->raw + skew;
	b->cap = len;
	return 0;
}

static int abuf_append(void *arg, const void *p, size_t n)
{
	struct abuf *b = arg;

	if (n > b->cap - b->len)
		return -EIO;	/* more than was asked for */
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* ---- blocks in flight, written behind ------------------------------------------------ */

/*
 * A flight is a run of whole blocks one thread fetched or is fetching, from
 * its claim until they are on disk.  Its bytes go to the caller first and
 * to the disk after, by the writer thread (at most WQ_MAX bytes queued;
 * past that the fetcher writes them itself), so a cold read does not wait
 * for the disk.  The request may hold parts of the blocks around the run
 * too (the read's edges): their pieces are filed with it.
 */
struct flight {
	struct flight *next;	/* c->flights */
	struct flight *qnext;	/* c->wq */
	uint64_t id;
	uint64_t first, end;	/* blocks */
	uint64_t size;		/* the object's */
	uint64_t off;		/* of p[0] in the object */
	uint64_t from;		/* filed from here (before: another's block) */
	uint64_t suffix;	/* >0: also filed as the suffix read of this
				 * length (s<suffix>) */
	int pieces;		/* a small read's: filed as pieces only */
	uint8_t *raw, *p;	/* the fetched bytes, once fetched */
	size_t len;
	char dir[];
};

static struct flight *flight_find(struct cstore *c, const char *dir,
				  uint64_t i)
{
	struct flight *f;

	for (f = c->flights; f; f = f->next)
		if (i >= f->first && i < f->end && strcmp(f->dir, dir) == 0)
			return f;
	return NULL;
}

/* is block i in flight? with wait: then wait until that flight has ended
 * (bounded: the inner store bounds every request, the disk every write) */
static int flight_busy(struct cstore *c, const char *dir, uint64_t i,
		       int wait)
{
	struct flight *f, *g;
	uint64_t id;

	pthread_mutex_lock(&c->flock);
	f = flight_find(c, dir, i);
	if (f && wait) {
		atomic_fetch_add(&c->flight_waits, 1);
		id = f->id;
		for (;;) {
			for (g = c->flights; g && g->id != id; g = g->next)
				;
			if (!g)
				break;
			pthread_cond_wait(&c->fcond, &c->flock);
		}
	}
	pthread_mutex_unlock(&c->flock);
	return f != NULL;
}

/* f (zeroed, room for dir) into the flights, claiming blocks [first, end)
 * (none when equal: it only carries a fetch's bytes to the writer), with
 * c->flock held */
static void flight_add(struct cstore *c, struct flight *f, const char *dir,
		       uint64_t size, uint64_t first, uint64_t end)
{
	memcpy(f->dir, dir, strlen(dir) + 1);
	f->id = ++c->next_flight;
	f->first = first;
	f->end = end;
	f->size = size;
	f->next = c->flights;
	c->flights = f;
}

/* a flight that claims no block, for a fetch of the object in dir (size
 * bytes) whose bytes the writer files (pieces: as pieces only, as a
 * small read's): NULL when out of memory */
static struct flight *flight_new(struct cstore *c, const char *dir,
				 uint64_t size, int pieces)
{
	struct flight *f = calloc(1, sizeof(*f) + strlen(dir) + 1);

	if (f) {
		f->pieces = pieces;
		pthread_mutex_lock(&c->flock);
		flight_add(c, f, dir, size, 0, 0);
		pthread_mutex_unlock(&c->flock);
	}
	return f;
}

/*
 * A request for [lo, *hi) of the object in dir (size bytes), which lies in
 * blocks [i, ...): cut *hi at the first of those blocks in flight or
 * cached, and claim the blocks the request then holds whole: a new flight
 * (claiming none when it holds none: it still carries the bytes to the
 * writer), or NULL when out of memory.  A flight ends only once its
 * blocks are on disk (or failed to be), and both are looked at here under
 * the lock, so no whole block is fetched twice in a process.
 */
static struct flight *flight_claim(struct cstore *c, const char *dir,
				   uint64_t size, uint64_t i, uint64_t lo,
				   uint64_t *hi)
{
	struct flight *f = calloc(1, sizeof(*f) + strlen(dir) + 1);
	uint64_t j, w0 = (lo + BLOCK - 1) / BLOCK, w1;

	pthread_mutex_lock(&c->flock);
	for (j = i; j * BLOCK < *hi && !flight_find(c, dir, j) &&
	     !cached(dir, 'b', j); j++)
		;
	if (j * BLOCK < *hi)
		*hi = j * BLOCK > lo ? j * BLOCK : lo;
	w1 = *hi >= size ? j : *hi / BLOCK;
	if (w0 < i)
		w0 = i;
	if (f)
		flight_add(c, f, dir, size, w0, w1 > w0 ? w1 : w0);
	pthread_mutex_unlock(&c->flock);
	return f;
}

static void flight_end(struct cstore *c, struct flight *f)
{
	struct flight **pp;

	if (!f)
		return;
	pthread_mutex_lock(&c->flock);
	for (pp = &c->flights; *pp && *pp != f; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = f->next;
	pthread_cond_broadcast(&c->fcond);
	pthread_mutex_unlock(&c->flock);
	free(f->raw);
	free(f);
}

static void flight_write(struct cstore *c, struct flight *f)
{
	char name[32];

	if (f->raw && f->from < f->off + f->len && f->pieces)
		store_units(c, f->dir, f->size, f->from,
			    f->p + (f->from - f->off),
			    f->off + f->len - f->from, PIECE);
	else if (f->raw && f->from < f->off + f->len)
		file_fetched(c, f->dir, f->size, f->from,
			     f->p + (f->from - f->off),
			     f->off + f->len - f->from);
	if (f->raw && f->suffix) {
		snprintf(name, sizeof(name), "s%" PRIu64, f->suffix);
		write_file(c, f->dir, name, f->p, f->len, NULL);
	}
	flight_end(c, f);
}

static void *writer_main(void *arg)
{
	struct cstore *c = arg;

	pthread_mutex_lock(&c->flock);
	for (;;) {
		struct flight *f = c->wq;

		if (!f) {
			if (c->stopping)
				break;
			pthread_cond_wait(&c->wcond, &c->flock);
			continue;
		}
		c->wq = f->qnext;
		c->wq_bytes -= f->len;
		c->wq_writing = 1;
		pthread_mutex_unlock(&c->flock);
		flight_write(c, f);
		pthread_mutex_lock(&c->flock);
		c->wq_writing = 0;
		pthread_cond_broadcast(&c->fcond);
	}
	pthread_mutex_unlock(&c->flock);
	return NULL;
}

/* [s, e) from a flight whose bytes have arrived, on their way to disk
 * (its blocks, or the pieces at its edges), into out: 1, or 0 when there
 * is none */
static int flight_copy(struct cstore *c, const char *dir, uint64_t s,
		       uint64_t e, uint8_t *out)
{
	struct flight *f;
	int r = 0;

	pthread_mutex_lock(&c->flock);
	for (f = c->flights; f && !r; f = f->next) {
		if (f->raw && s >= f->from && e <= f->off + f->len &&
		    strcmp(f->dir, dir) == 0) {
			memcpy(out, f->p + (s - f->off), e - s);
			r = 1;
		}
	}
	pthread_mutex_unlock(&c->flock);
	return r;
}

/* wait until what is queued for the disk is written */
static void wq_drain(struct cstore *c)
{
	pthread_mutex_lock(&c->flock);
	while (c->wq || c->wq_writing)
		pthread_cond_wait(&c->fcond, &c->flock);
	pthread_mutex_unlock(&c->flock);
}

/* f's fetch of [off, ...) ended, with its bytes in b when it succeeded
 * (taken): file them from from on and end it, queued for the writer
 * (readers copy from it meanwhile), or now when the queue is full or
 * there is no writer */
static void flight_done(struct cstore *c, struct flight *f, struct abuf *b,
			uint64_t off, uint64_t from)
{
	struct flight **pp;
	int queued = 0;

	if (!f)
		return;
	pthread_mutex_lock(&c->flock);
	if (b->raw && b->len == b->cap) {
		f->raw = b->raw;
		f->p = b->p;
		f->len = b->len;
		f->off = off;
		f->from = from;
		b->raw = NULL;
	}
	if (f->raw && !c->stopping && c->wq_bytes + f->len <= WQ_MAX) {
		if (!c->writer_started &&
		    pthread_create(&c->writer, NULL, writer_main, c) == 0)
			c->writer_started = 1;
		if (c->writer_started) {
			for (pp = &c->wq; *pp; pp = &(*pp)->qnext)
				;
			*pp = f;
			c->wq_bytes += f->len;
			pthread_cond_signal(&c->wcond);
			queued = 1;
		}
	}
	pthread_mutex_unlock(&c->flock);
	if (!queued) {
		if (f->raw)
			atomic_fetch_add(&c->writes_inline, 1);
		flight_write(c, f);
	}
}

/*
 * The store has not spoken of this object in this process: one plain
 * request (the range rounded to pieces), which tells size and etag; what
 * it brings is filed.
 */
static int get_learn(struct cstore *c, const struct ocb_get_req *g,
		     ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct ocb_get_req a = *g;
	struct ocb_obj_head h = { 0 };
	struct ocb_buf b;
	char dir[3100] = "";
	uint64_t start = 0, size;
	int r;

	if (!g->suffix) {
		if (g->len == OCB_TO_END || g->len > (uint64_t)RUN_BLOCKS * BLOCK)
			return c->inner->ops->get(c->inner, g, sink, arg, head);
		start = g->off / PIECE * PIECE;
		a.off = start;
		a.len = (g->off + g->len + PIECE - 1) / PIECE * PIECE - start;
	}
	ocb_buf_init(&b, g->suffix ? SUFFIX_MAX : a.len);
	atomic_fetch_add(&c->misses, 1);
	r = c->inner->ops->get(c->inner, &a, collect, &b, &h);
	if (r < 0)
		goto out;
	if (g->suffix) {
		start = h.size - b.len;
	} else if (g->off >= h.size && !(g->off == 0 && h.size == 0)) {
		r = -ERANGE;	/* the block starts inside, the range not */
		goto out;
	}
	size = h.size;
	if (h.etag[0]) {
		remember(c, g->key, h.size, h.etag);
		obj_dir(c, g->key, h.etag, dir, sizeof(dir));
	}
	if (head) {
		*head = h;
		memset(&h, 0, sizeof(h));
	}
	/* the reader first (the suffix read that opens a backup is on the
	 * way to its first byte), the disk after */
	r = g->suffix ? sink(arg, b.data ? b.data : "", b.len) :
		deliver(sink, arg, start, (const uint8_t *)b.data, b.len,
			g->off, g->off + g->len);
	if (dir[0] && b.len) {
		/* pieces only for a small read, as get_pieces files them */
		struct flight *fl = flight_new(c, dir, size,
					       g->len < SMALL_MAX);
		struct abuf ab = { 0 };

		if (g->refetch)
			drop_range(c, dir, size, start, start + b.len);
		if (fl) {
			fl->suffix = g->suffix ? g->len : 0;
			ab.cap = ab.len = b.len;
			ab.raw = ab.p = (uint8_t *)ocb_buf_detach(&b, NULL);
			flight_done(c, fl, &ab, start, start);
			free(ab.raw);
		}
	}
out:
	ocb_obj_head_release(&h);
	ocb_buf_release(&b);
	return r;
}

/* a fetch's bytes to its buffer and, as they arrive, the part of them
 * in [lo, hi) to the reader's sink (NULL: none) */
struct tee {
	struct abuf *b;
	uint64_t base;		/* object offset of b->p[0] */
	uint64_t lo, hi;
	ocb_sink_fn sink;
	void *arg;
};

static int tee_append(void *arg, const void *p, size_t n)
{
	struct tee *t = arg;
	uint64_t at = t->base + t->b->len;
	int r = abuf_append(t->b, p, n);

	if (r == 0 && t->sink)
		r = deliver(t->sink, t->arg, at, p, n, t->lo, t->hi);
	return r;
}

/*
 * The range a asks for, from the store, into b (whole, or an error), and
 * with sink set, its part in [lo, hi) to sink as it arrives: a reader far
 * from the store starts on the first frames of a large request while the
 * rest is on its way, as without the cache (buffering all of it first
 * cost a transfer time per request: measured, 65 MB/s over the network
 * at 30 ms against 102 without the cache).  On failure the sink may have
 * had part of it, as from any store.
 */
static int fetch(struct cstore *c, const struct ocb_get_req *a, struct abuf *b,
		 ocb_sink_fn sink, void *arg, uint64_t lo, uint64_t hi)
{
	struct tee t = { .b = b, .base = a->off, .lo = lo, .hi = hi,
			 .sink = sink, .arg = arg };
	int r;

	atomic_fetch_add(&c->misses, 1);
	r = abuf_alloc(b, a->off, a->len);
	if (r == 0)
		r = c->inner->ops->get(c->inner, a, tee_append, &t, NULL);
	if (r == 0 && b->len != a->len)
		r = -ECONNRESET;	/* short body */
	return r;
}

/* n bytes of a request answered here, to its counter (may be NULL) */
static void add_local(uint64_t *local, uint64_t n)
{
	if (local)
		*local += n;
}

/*
 * [s, e) of block i without a request, into out: from its file, or piece
 * by piece from a flight (its bytes not on disk yet), a piece's file, or
 * the block's again.  That order holds against the writer: a flight ends
 * (under the lock flight_copy takes) only once its files are written,
 * and a block made of pieces is renamed into place before they go.
 * 1 when all came from disk, 2 when some from memory, or <0.
 */
static int local_read(struct cstore *c, const char *dir, uint64_t size,
		      uint64_t i, uint64_t s, uint64_t e, uint8_t *out)
{
	char path[PATH_MAX], blk[PATH_MAX];
	uint64_t bs = i * BLOCK, be = bs + BLOCK < size ? bs + BLOCK : size, j;
	int from = 1;

	snprintf(blk, sizeof(blk), "%s/b%" PRIu64, dir, i);
	if (read_part(blk, be - bs, s - bs, out, e - s) == 0)
		return 1;
	for (j = s / PIECE; j * PIECE < e; j++) {
		uint64_t ps = j * PIECE, pe = ps + PIECE < size ? ps + PIECE : size;
		uint64_t a = s > ps ? s : ps, b = e < pe ? e : pe;

		snprintf(path, sizeof(path), "%s/g%" PRIu64, dir, j);
		if (flight_copy(c, dir, a, b, out + (a - s)))
			from = 2;
		else if (read_part(path, pe - ps, a - ps, out + (a - s),
				   b - a) < 0 &&
			 read_part(blk, be - bs, a - bs, out + (a - s),
				   b - a) < 0)
			return -ENOENT;
	}
	return from;
}

/*
 * [lo, hi) of a known object from its blocks, fetching what is missing
 * (RUN_BLOCKS blocks at most per request) rounded to pieces, no more: the
 * whole blocks a request holds are claimed and filed as blocks, the parts
 * of blocks at its edges as pieces.  What this answers without a request
 * of its own adds to *local.
 */
static int get_blocks(struct cstore *c, const char *key, uint64_t size,
		      const char *etag, const char *dir, uint64_t lo,
		      uint64_t hi, ocb_sink_fn sink, void *arg,
		      uint64_t *local)
{
	uint8_t *blk = NULL;
	uint64_t i, b1 = (hi - 1) / BLOCK;
	int r = 0, waited = 0, part;

	for (i = lo / BLOCK; i <= b1 && r == 0;) {
		uint64_t bs = i * BLOCK, be = bs + BLOCK < size ? bs + BLOCK : size;
		uint64_t s = lo > bs ? lo : bs, e = hi < be ? hi : be, j;
		struct ocb_get_req a = { .key = key, .if_match = etag };
		struct flight *fl;
		struct abuf b = { 0 };
		uint64_t a1;

		if (!blk && !(blk = malloc(BLOCK))) {
			r = -ENOMEM;
			break;
		}
		part = local_read(c, dir, size, i, s, e, blk);
		if (part > 0) {
			atomic_fetch_add(&c->hits, 1);
			if (part == 1)
				atomic_fetch_add(&c->bytes_disk, e - s);
			add_local(local, e - s);
			r = sink(arg, blk, e - s);
			i++;
			waited = 0;
			continue;
		}
		/*
		 * Another thread has it in flight.  When this read needs
		 * nothing past it, wait for that and look again (once).
		 * Else fetch just our part of it, uncached, with the rest of
		 * our run: parallel read-ahead asks for adjacent ranges that
		 * share their edge blocks, and waiting there would serialise
		 * the requests (measured: a third of the sequential rate).
		 */
		if (!waited && i == b1 && flight_busy(c, dir, i, 1)) {
			waited = 1;
			continue;
		}
		waited = 0;
		part = flight_busy(c, dir, i, 0);
		/* what is missing from here to the first block in flight or
		 * cached, in one request: from s's piece (from s when block i
		 * is another's), to hi rounded up to a piece */
		a.off = part ? s : s / PIECE * PIECE;
		a1 = (hi + PIECE - 1) / PIECE * PIECE;
		j = b1 + 1 - i < RUN_BLOCKS ? b1 + 1 : i + RUN_BLOCKS;
		if (a1 > j * BLOCK)
			a1 = j * BLOCK;
		if (a1 > size)
			a1 = size;
		fl = flight_claim(c, dir, size, i + part, a.off, &a1);
		if (a1 <= s)
			continue;	/* claimed by another since: look again */
		if (part && a1 <= be)
			a1 = e;		/* only its part of another's block */
		a.len = a1 - a.off;
		r = fetch(c, &a, &b, sink, arg, lo, hi);
		/* what is another's block is not filed */
		j = part ? (be < a1 ? be : a1) : a.off;
		if (fl)
			flight_done(c, fl, &b, a.off, j);
		else if (r == 0 && j < a1)
			file_fetched(c, dir, size, j, b.p + (j - a.off), a1 - j);
		free(b.raw);
		/* a1 is hi's piece, the object's end or a block's start */
		i = a1 < hi ? a1 / BLOCK : b1 + 1;
	}
	free(blk);
	return r;
}

/* [s, e) of piece j into out: from its block's file, a flight (on its
 * way to disk), its own file, or its block's again (the order of
 * local_read()): 0, or <0 */
static int piece_read(struct cstore *c, const char *dir, uint64_t size,
		      uint64_t j, uint64_t s, uint64_t e, uint8_t *out)
{
	char path[PATH_MAX], blk[PATH_MAX];
	uint64_t bs = j * PIECE / BLOCK * BLOCK;
	uint64_t be = bs + BLOCK < size ? bs + BLOCK : size;
	uint64_t ps = j * PIECE, pe = ps + PIECE < size ? ps + PIECE : size;

	snprintf(blk, sizeof(blk), "%s/b%" PRIu64, dir, bs / BLOCK);
	if (read_part(blk, be - bs, s - bs, out, e - s) == 0)
		return 0;
	if (flight_copy(c, dir, s, e, out))
		return 0;
	snprintf(path, sizeof(path), "%s/g%" PRIu64, dir, j);
	if (read_part(path, pe - ps, s - ps, out, e - s) == 0)
		return 0;
	return read_part(blk, be - bs, s - bs, out, e - s);
}

/*
 * A small read [lo, hi) of a known object: what its blocks or pieces on
 * disk do not hold, from the first piece missing to the last, in one
 * request of its own (its flight claims no block: nothing waits for
 * another reader), and those pieces filed behind.  So a small read costs
 * what it asks for, rounded to pieces, whatever whole blocks around it
 * hold.
 */
static int get_pieces(struct cstore *c, const char *key, uint64_t size,
		      const char *etag, const char *dir, uint64_t lo,
		      uint64_t hi, ocb_sink_fn sink, void *arg,
		      uint64_t *local)
{
	uint64_t j, m0 = UINT64_MAX, m1 = 0, disk = 0;
	uint8_t *out = malloc(hi - lo);
	struct abuf b = { 0 };
	int r = 0;

	if (!out)
		return -ENOMEM;
	for (j = lo / PIECE; j <= (hi - 1) / PIECE; j++) {
		uint64_t s = lo > j * PIECE ? lo : j * PIECE;
		uint64_t e = hi < (j + 1) * PIECE ? hi : (j + 1) * PIECE;

		if (piece_read(c, dir, size, j, s, e, out + (s - lo)) == 0) {
			disk += e - s;
			continue;
		}
		if (m0 == UINT64_MAX)
			m0 = j;
		m1 = j;
	}
	if (disk) {
		atomic_fetch_add(&c->hits, 1);
		atomic_fetch_add(&c->bytes_disk, disk);
		add_local(local, disk);
	}
	if (m0 != UINT64_MAX) {
		struct ocb_get_req a = { .key = key, .if_match = etag,
					 .off = m0 * PIECE };
		struct flight *fl = flight_new(c, dir, size, 1);
		uint64_t s, e;

		a.len = ((m1 + 1) * PIECE < size ? (m1 + 1) * PIECE : size) -
			a.off;
		r = fetch(c, &a, &b, NULL, NULL, 0, 0);
		if (r == 0) {
			s = lo > a.off ? lo : a.off;
			e = hi < a.off + a.len ? hi : a.off + a.len;
			memcpy(out + (s - lo), b.p + (s - a.off), e - s);
		}
		/* filed behind, by the writer */
		if (fl)
			flight_done(c, fl, &b, a.off, a.off);
		else if (r == 0)
			store_units(c, dir, size, a.off, b.p, b.len, PIECE);
		free(b.raw);
	}
	if (r == 0)
		r = sink(arg, out, hi - lo);
	free(out);
	return r;
}

static int cstore_get(struct ocb_store *s, const struct ocb_get_req *g,
		      ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct cstore *c = s->priv;
	char dir[3100], path[PATH_MAX], etag[OCB_ETAG_MAX];
	uint64_t size, lo, hi;
	int r;

	if (!cacheable(g->key) || (g->suffix && g->len > SUFFIX_MAX))
		return c->inner->ops->get(c->inner, g, sink, arg, head);
	if (lookup(c, g->key, &size, etag) < 0)
		return get_learn(c, g, sink, arg, head);
	if (g->if_match && strcmp(g->if_match, etag) != 0)
		return -ESTALE;		/* the store said otherwise since */
	obj_dir(c, g->key, etag, dir, sizeof(dir));

	if (g->suffix) {
		uint64_t n = g->len < size ? g->len : size;

		snprintf(path, sizeof(path), "%s/s%" PRIu64, dir, g->len);
		if (g->refetch)
			drop_file(c, path, n);
		else if (n) {
			uint8_t *p = malloc(n);

			if (p && read_part(path, n, 0, p, n) == 0) {
				atomic_fetch_add(&c->hits, 1);
				atomic_fetch_add(&c->bytes_disk, n);
				add_local(g->local_bytes, n);
				fill_head(head, size, etag);
				r = sink(arg, p, n);
				free(p);
				return r;
			}
			free(p);
		}
		lo = size - n;
		hi = size;
	} else {
		lo = g->off;
		if (lo >= size)
			return size == 0 && lo == 0 ? 0 : -ERANGE;
		hi = g->len == OCB_TO_END || g->len > size - lo ? size :
			lo + g->len;
	}
	fill_head(head, size, etag);
	if (lo == hi)
		return 0;
	if (g->refetch)
		drop_range(c, dir, size, lo, hi);
	if (hi - lo < SMALL_MAX)
		r = get_pieces(c, g->key, size, etag, dir, lo, hi, sink, arg,
			       g->local_bytes);
	else
		r = get_blocks(c, g->key, size, etag, dir, lo, hi, sink, arg,
			       g->local_bytes);
	if (r == -ESTALE)
		forget(c, g->key);	/* replaced: the next get learns anew */
	return r;
}

/* ---- what passes through (learning what LIST and HEAD say) ---------------------- */

static int cstore_head(struct ocb_store *s, const char *key,
		       struct ocb_obj_head *out)
{
	struct cstore *c = s->priv;
	int r = c->inner->ops->head(c->inner, key, out);

	if (r == 0 && cacheable(key))
		remember(c, key, out->size, out->etag);
	else if (r == -ENOENT && cacheable(key))
		forget(c, key);
	return r;
}

struct list_arg {
	struct cstore *c;
	ocb_list_fn cb;
	void *arg;
};

static int list_fn(void *arg, const struct ocb_list_entry *e)
{
	struct list_arg *l = arg;

	if (!e->is_prefix && cacheable(e->key))
		remember(l->c, e->key, e->size, e->etag);
	return l->cb(l->arg, e);
}

static int cstore_list(struct ocb_store *s, const char *prefix,
		       const char *delim, const char *after, ocb_list_fn cb,
		       void *arg)
{
	struct cstore *c = s->priv;
	struct list_arg l = { c, cb, arg };

	return c->inner->ops->list(c->inner, prefix, delim, after, list_fn, &l);
}

static int cstore_put(struct ocb_store *s, const char *key, uint64_t size,
		      ocb_source_fn src, void *arg, const struct ocb_put_opts *o)
{
	struct cstore *c = s->priv;

	if (cacheable(key))
		forget(c, key);
	return c->inner->ops->put(c->inner, key, size, src, arg, o);
}

static int cstore_mpu_complete(struct ocb_store *s, const char *key,
			       const char *id, const struct ocb_part *p, size_t n)
{
	struct cstore *c = s->priv;

	if (cacheable(key))
		forget(c, key);
	return c->inner->ops->mpu_complete(c->inner, key, id, p, n);
}

/* forget key, and drop its cached bytes if this process knows them */
static void drop_key(struct cstore *c, const char *key)
{
	char dir[3100], etag[OCB_ETAG_MAX];
	uint64_t size;

	if (!cacheable(key))
		return;
	if (lookup(c, key, &size, etag) == 0) {
		obj_dir(c, key, etag, dir, sizeof(dir));
		purge(dir);
	}
	forget(c, key);
}

static int cstore_del(struct ocb_store *s, const char *key)
{
	struct cstore *c = s->priv;

	drop_key(c, key);
	return c->inner->ops->del(c->inner, key);
}

static int cstore_del_many(struct ocb_store *s, const char *const *keys,
			   size_t n)
{
	struct cstore *c = s->priv;
	size_t i;

	for (i = 0; i < n; i++)
		drop_key(c, keys[i]);
	return c->inner->ops->del_many(c->inner, keys, n);
}

static void cstore_stats(struct ocb_store *s, struct ocb_buf *out)
{
	struct cstore *c = s->priv;

	wq_drain(c);	/* settled counters: at most WQ_MAX bytes to write */

	ocb_buf_printf(out,
		       "disk_cache_hits %" PRIuFAST64 "\n"
		       "disk_cache_misses %" PRIuFAST64 "\n"
		       "disk_cache_bytes_served %" PRIuFAST64 "\n"
		       "disk_cache_bytes_written %" PRIuFAST64 "\n"
		       "disk_cache_bytes %" PRIuFAST64 "\n"
		       "disk_cache_limit %" PRIu64 "\n"
		       "disk_cache_evictions %" PRIuFAST64 "\n"
		       "disk_cache_write_errors %" PRIuFAST64 "\n"
		       "disk_cache_write_failed %d\n"
		       "disk_cache_versions_learned %" PRIuFAST64 "\n"
		       "disk_cache_flight_waits %" PRIuFAST64 "\n"
		       "disk_cache_writes_inline %" PRIuFAST64 "\n",
		       atomic_load(&c->hits), atomic_load(&c->misses),
		       atomic_load(&c->bytes_disk),
		       atomic_load(&c->bytes_written), atomic_load(&c->bytes),
		       c->max, atomic_load(&c->evictions),
		       atomic_load(&c->write_errors),
		       atomic_load(&c->write_failed), atomic_load(&c->learned),
		       atomic_load(&c->flight_waits),
		       atomic_load(&c->writes_inline));
}

/* the state of c; the frame frees the inner store */
static void cstore_free(struct cstore *c)
{
	pthread_mutex_lock(&c->flock);	/* the writer drains its queue */
	c->stopping = 1;
	pthread_cond_broadcast(&c->wcond);
	pthread_mutex_unlock(&c->flock);
	if (c->writer_started)
		pthread_join(c->writer, NULL);

	vtab_clear(c);
	pthread_mutex_destroy(&c->vlock);
	pthread_mutex_destroy(&c->evict_lock);
	pthread_mutex_destroy(&c->drop_lock);
	pthread_mutex_destroy(&c->flock);
	pthread_cond_destroy(&c->fcond);
	pthread_cond_destroy(&c->wcond);
	free(c);
}

static void cstore_destroy(struct ocb_store *s)
{
	cstore_free(s->priv);
}

/* mpu_create, mpu_part, mpu_abort and mpu_list pass through unchanged */
static const struct ocb_store_layer_ops cstore_ops = {
	.ops = {
		.name = "cache",
		.get = cstore_get,
		.head = cstore_head,
		.put = cstore_put,
		.mpu_complete = cstore_mpu_complete,
		.list = cstore_list,
		.del = cstore_del,
		.del_many = cstore_del_many,
		.stats = cstore_stats,
		.destroy = cstore_destroy,
	},
};

int ocb_cache_store_new(struct ocb_store *inner, const char *dir,
			uint64_t max_bytes, struct ocb_store **out)
{
	struct cstore *c = calloc(1, sizeof(*c));
	char tmp[PATH_MAX], *p;
	struct stat st;
	int r;

	if (!c) {
		r = -ENOMEM;
		goto fail;
	}
	if (!*dir || strlen(dir) >= sizeof(c->dir)) {
		r = -ENAMETOOLONG;
		goto fail;
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
		r = -errno;
		goto fail_dir;
	}
	if (stat(dir, &st) < 0) {
		r = -errno;
		goto fail_dir;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
		goto fail_dir;
	}
	if (st.st_mode & 077)
		chmod(dir, st.st_mode & 0700);	/* ciphertext, but private */
	c->inner = inner;
	c->max = max_bytes ? max_bytes : (2ull << 30);
	pthread_mutex_init(&c->vlock, NULL);
	pthread_mutex_init(&c->evict_lock, NULL);
	pthread_mutex_init(&c->drop_lock, NULL);
	pthread_mutex_init(&c->flock, NULL);
	pthread_cond_init(&c->fcond, NULL);
	pthread_cond_init(&c->wcond, NULL);
	r = ocb_store_layer_new(&cstore_ops, c, inner, out);
	if (r < 0) {
		cstore_free(c);
		return r;
	}
	evict(c);	/* learn the current size (and trim if over) */
	return 0;

fail_dir:
	{
		char esc[512];

		ocb_err("cache directory %s: %s",
			ocb_log_escape(esc, sizeof(esc), dir), strerror(-r));
	}
fail:
	free(c);
	ocb_store_free(inner);
	return r;
}
