/*
 * archive_write.c - take a backup: walk the sources, write a pax stream
 * with libarchive, cut it into frames, compress and seal each, stream the
 * result into one object; append the catalog, header copy and trailer.
 *
 * Memory stays bounded: one frame buffer, one sealed-frame buffer, the
 * writer's part buffers, and the catalog (compact records).
 *
 * Incremental (format 3): the stream libarchive writes is the logical
 * stream a full backup would hold.  A file unchanged since the base backup
 * is not read: its tar header is written, libarchive pads the data it was
 * not given with zeros when the entry is finished, and the output sink
 * drops those bytes and records a segment mapping them to the object that
 * physically holds them (found through the base's own segments).
 * A SQLite database whose state on disk is the one the base's snapshot
 * was taken in (sqlite_state_i.h) is not snapshotted again: the base's
 * snapshot is referenced the same way.
 *
 * Every entry's tar headers are held while libarchive writes them; when
 * they are the bytes the base recorded right before its entry of the same
 * path (same length and keyed hash: hdr_mac.c), they are referenced like
 * an unchanged file's data, else stored.  An unchanged file's header,
 * data and padding so become one run of the base's stream, and runs of
 * unchanged files one segment.
 *
 * A changed large file (and every SQLite snapshot) is hashed in aligned
 * blocks as it is written; a block whose hash equals the base's block at
 * the same index is referenced the same way: it still goes through
 * libarchive (the logical stream keeps its place) and the sink drops it.
 */
#include "ocb_archive.h"
#include "archive_ops.h"
#include "buf.h"
#include "catalog.h"
#include "crypto.h"
#include "format.h"
#include "fileio.h"
#include "frame_i.h"
#include "hdr_mac.h"
#include "keys.h"
#include "log.h"
#include "backup_name.h"
#include "ref_check.h"
#include "spool_i.h"
#include "sqlite_snap.h"
#include "sqlite_state_i.h"
#include "multipart.h"
#include "object_out_i.h"
#include "parallel.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zstd.h>

#define READ_CHUNK (256 * 1024)
#define HOT_ATTEMPTS 4		/* reads of a changing file */
#define SMALL_MAX OCB_FRAME_SIZE /* files up to this size are read into
				 * memory until one read saw them hold
				 * still; larger ones are streamed in place
				 * and stored again when they changed */

/* how an entry was captured: the bits the catalog records per entry */
#define ENTRY_SNAPSHOT	OCB_ENTRY_SQLITE_SNAPSHOT
#define ENTRY_TORN	OCB_ENTRY_TORN
#define ENTRY_FELL_BACK	OCB_ENTRY_SQLITE_RAW

#define NAME_PREFIX "openclaw-aws-backup-"
#define REFS_FULL 1024		/* a base reading from this many objects gets
				 * a full backup: each costs its header and
				 * frame records in every catalog, and a
				 * request in a restore */
#define SEGMENTS_MAX (1u << 20)	/* past this, unchanged files are stored */
#define BLOCKS_FROM (1u << 20)	/* files from this size are hashed in blocks */
#define BLOCK_SIZE (64 * 1024)	/* ... of this size; SQLite: its page size */
#define BLOCK_MIN 4096		/* smallest block the catalog records */
#define HASH_BYTES_MAX (16u << 20)	/* block hashes one backup records */
#define HOLD_MAX (256 * 1024)	/* an entry's tar headers held, at most */
#define TAR_BLOCK 512
#define REF_CHECKS 8		/* referenced objects checked at once */

struct link_slot {
	dev_t dev;
	ino_t ino;
	uint32_t seq;
	char *path;
};

struct bk {
	const struct ocb_archive_write_opts *o;
	struct ocb_backup_result *res;
	struct ocb_object_out out;	/* the upload, its frames, the end */
	struct ocb_catb *cat;
	struct archive *ar;		/* the pax writer */
	struct archive *disk;		/* metadata reader */
	int xattr_lifo;			/* libarchive lists an entry's xattrs
					 * newest first */
	uint8_t *dk;			/* data key */
	struct ocb_header hdr;
	int level;

	/* framing */
	ZSTD_CCtx *cctx;
	uint64_t stream_off;		/* bytes of (logical) tar stream so far */
	uint64_t phys_off;		/* of them, stored in this object */
	uint64_t drop_from, drop_to;	/* logical bytes referenced, not stored */
	uint8_t *hold;			/* an entry's tar headers, held */
	size_t hold_len;
	int holding;			/* libarchive writes headers now */
	int hold_over;			/* ... past HOLD_MAX: stored as they come */
	int err;			/* first error inside a callback */

	/* walking */
	struct link_slot *links;
	size_t nlinks, caplinks;
	struct stat *skip;
	size_t nskip;
	char *readbuf;
	uint8_t *small;			/* a small file's content (SMALL_MAX) */
	char **tops;			/* top-level names of the sources */
	struct ocb_backup_progress prog;
	struct timespec last_progress;
	ocb_plan_fn plan;		/* a dry run: what each entry would be */
	void *plan_arg;

	/* incremental */
	struct ocb_archive *base;	/* NULL: a full backup */
	const struct ocb_catalog *bc;	/* its catalog */
	uint32_t *bref;			/* base source -> our ref + 1 (0: none) */
	uint32_t depth;
	int64_t full_created;
	struct timespec started;	/* CLOCK_REALTIME before the walk */
	uint8_t hkey[OCB_HDR_KEY_LEN];	/* the chain's: the base's, else new */
	struct ocb_hdr_mac *hmac;
};

/* a file hashed in blocks as it is written, and compared to the base's */
struct blocks {
	uint32_t seq;			/* its entry */
	uint32_t size;			/* block size; 0: not hashed */
	const struct ocb_entry *be;	/* the base's entry, when it has
					 * hashes of blocks of this size */
	const struct ocb_block_hashes *bh;	/* ... and those */
};

/* ---- frames ------------------------------------------------------------------ */

/* n bytes of the stream stored in this object */
static int stream_store(struct bk *b, const uint8_t *c, size_t n)
{
	int r = ocb_catb_add_segment(b->cat, b->stream_off, n, b->phys_off, 0);

	if (r == 0)
		r = ocb_object_out_write(&b->out, b->cat, c, n);
	b->stream_off += n;
	b->phys_off += n;
	b->prog.bytes_stored = b->out.obj_off;
	return r;
}

/* libarchive's output: the plaintext tar stream; the bytes of
 * [drop_from, drop_to) (zeros standing for an unchanged file's data and
 * padding, referenced) are not stored, and an entry's headers are held
 * while b->holding (up to HOLD_MAX) */
static la_ssize_t stream_write(struct archive *a, void *arg, const void *p,
			       size_t n)
{
	struct bk *b = arg;
	const uint8_t *c = p;
	size_t left = n;

	if (b->err)
		return -1;
	if (b->holding && b->hold_len + left <= HOLD_MAX) {
		memcpy(b->hold + b->hold_len, c, left);
		b->hold_len += left;
		return (la_ssize_t)n;
	}
	if (b->holding) {	/* too long to hold: stored as they come */
		int r = stream_store(b, b->hold, b->hold_len);

		b->holding = 0;
		b->hold_over = 1;
		b->hold_len = 0;
		if (r < 0) {
			b->err = r;
			archive_set_error(a, -r, "%s", ocb_store_strerror(r));
			return -1;
		}
	}
	while (left) {
		size_t k = left;
		int r = 0;

		if (b->stream_off >= b->drop_from && b->stream_off < b->drop_to) {
			if (k > b->drop_to - b->stream_off)
				k = (size_t)(b->drop_to - b->stream_off);
			b->stream_off += k;
		} else {
			if (b->stream_off < b->drop_from &&
			    k > b->drop_from - b->stream_off)
				k = (size_t)(b->drop_from - b->stream_off);
			r = stream_store(b, c, k);
		}
		if (r < 0) {
			b->err = r;
			archive_set_error(a, -r, "%s", ocb_store_strerror(r));
			return -1;
		}
		c += k;
		left -= k;
	}
	return (la_ssize_t)n;
}

/* ---- helpers ----------------------------------------------------------------- */

static void warn(struct bk *b, const char *path, const char *what)
{
	char esc[512];

	b->prog.warnings++;
	ocb_warn("%s: %s", ocb_log_escape(esc, sizeof(esc), path), what);
	if (b->o->warning)
		b->o->warning(b->o->warning_arg, path, what);
}

/*
 * Record how entry seq was captured: in its catalog entry (for verify and
 * the mount's xattrs) and counted in the result (the command line and
 * snapshots/ report them).
 */
static void entry_flags(struct bk *b, uint32_t seq, unsigned flags)
{
	ocb_catb_set_flags(b->cat, seq, flags);
	if (flags & ENTRY_SNAPSHOT)
		b->res->snapshots++;
	if (flags & ENTRY_TORN)
		b->res->torn++;
	if (flags & ENTRY_FELL_BACK)
		b->res->fell_back++;
}

static void progress(struct bk *b, int force)
{
	struct timespec now;

	if (!b->o->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && now.tv_sec == b->last_progress.tv_sec &&
	    now.tv_nsec - b->last_progress.tv_nsec < 200000000L)
		return;
	b->last_progress = now;
	b->o->progress(b->o->progress_arg, &b->prog);
}

static int cancelled(struct bk *b)
{
	return b->o->cancel && *b->o->cancel;
}

static int ar_err(struct bk *b, const char *what)
{
	char esc[512];

	if (b->err)
		return b->err;
	ocb_err("archive %s: %s", what,
		ocb_log_escape(esc, sizeof(esc), archive_error_string(b->ar)));
	return -EINVAL;
}

/* 1 + the index of the first exclude matching, or 0 */
static size_t excluded(struct bk *b, const char *name, const char *rel)
{
	size_t i;

	for (i = 0; i < b->o->nexcludes; i++)
		if (fnmatch(b->o->excludes[i], name, 0) == 0 ||
		    fnmatch(b->o->excludes[i], rel, FNM_PATHNAME) == 0)
			return i + 1;
	return 0;
}

static int skipped(struct bk *b, const struct stat *st)
{
	size_t i;

	for (i = 0; i < b->nskip; i++)
		if (b->skip[i].st_dev == st->st_dev &&
		    b->skip[i].st_ino == st->st_ino)
			return 1;
	return 0;
}

static struct link_slot *link_find(struct bk *b, const struct stat *st)
{
	size_t i;

	if (!b->caplinks)
		return NULL;
	for (i = (st->st_ino * 2654435761u) % b->caplinks; b->links[i].path;
	     i = (i + 1) % b->caplinks)
		if (b->links[i].dev == st->st_dev && b->links[i].ino == st->st_ino)
			return &b->links[i];
	return NULL;
}

static int link_add(struct bk *b, const struct stat *st, uint32_t seq,
		    const char *path)
{
	size_t i;

	if (b->nlinks * 2 >= b->caplinks) {
		struct link_slot *old = b->links;
		size_t oldcap = b->caplinks;

		b->caplinks = oldcap ? oldcap * 2 : 256;
		b->links = calloc(b->caplinks, sizeof(*b->links));
		if (!b->links)
			return -ENOMEM;
		b->nlinks = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i].path) {
				struct stat s2 = { .st_dev = old[i].dev,
						   .st_ino = old[i].ino };
				size_t j;

				for (j = (s2.st_ino * 2654435761u) % b->caplinks;
				     b->links[j].path; j = (j + 1) % b->caplinks)
					;
				b->links[j] = old[i];
				b->nlinks++;
			}
		free(old);
	}
	for (i = (st->st_ino * 2654435761u) % b->caplinks; b->links[i].path;
	     i = (i + 1) % b->caplinks)
		;
	b->links[i].dev = st->st_dev;
	b->links[i].ino = st->st_ino;
	b->links[i].seq = seq;
	b->links[i].path = strdup(path);
	if (!b->links[i].path)
		return -ENOMEM;
	b->nlinks++;
	return 0;
}


static int base_segments(struct bk *b, uint64_t at, uint64_t bl,
			 uint64_t len);

/* the base's block index idx of k's file, when it holds the len bytes
 * hashed to h */
static int block_same(struct bk *b, const struct blocks *k, uint64_t idx,
		      size_t len, const uint8_t h[32])
{
	uint64_t at = idx * k->size;

	return k->bh && idx < k->bh->count &&
		(uint64_t)len == (k->be->size - at < k->size ?
				  k->be->size - at : k->size) &&
		memcmp(k->bh->hash + idx * 32, h, 32) == 0 &&
		ocb_catb_nsegments(b->cat) < SEGMENTS_MAX;
}

/* n bytes of k's file at off through libarchive; when same, they equal
 * the base's at the same offset: referenced there, and dropped */
static int write_run(struct bk *b, const struct blocks *k, const uint8_t *p,
		     size_t n, uint64_t off, int same)
{
	int r;

	if (!n)
		return 0;
	if (same) {
		r = base_segments(b, b->stream_off, k->be->data_off + off, n);
		if (r < 0)
			return r;
		b->drop_from = b->stream_off;
		b->drop_to = b->stream_off + n;
	}
	if (archive_write_data(b->ar, p, n) != (la_ssize_t)n)
		return ar_err(b, "write");
	if (b->stream_off < b->drop_to) {	/* libarchive kept them */
		ocb_err("archive write: a referenced block was not passed "
			"through");
		return -EIO;
	}
	return 0;
}

/* n bytes of k's file at off (a multiple of the block size): each block
 * hashed into the catalog, runs of blocks the base has written as runs */
static int write_blocks(struct bk *b, const struct blocks *k,
			const uint8_t *p, size_t n, uint64_t off)
{
	size_t i, len, start = 0;
	int same = 0, s, r = 0;

	for (i = 0; i < n && r == 0; i += len) {
		uint8_t h[32];

		len = n - i < k->size ? n - i : k->size;
		SHA256(p + i, len, h);
		r = ocb_catb_blocks_add(b->cat, k->seq, h);
		s = block_same(b, k, (off + i) / k->size, len, h);
		if (r == 0 && i > start && s != same) {
			r = write_run(b, k, p + start, i - start, off + start,
				      same);
			start = i;
		}
		same = s;
	}
	return r ? r : write_run(b, k, p + start, n - start, off + start,
				 same);
}

#define SHORT_ERROR	1
#define SHORT_SHRANK	2

/* want bytes of fd into buf; what a read error or the end left is zeros
 * (as GNU tar pads), *shortr saying why */
static void read_chunk(int fd, char *buf, size_t want, int *shortr)
{
	size_t got = 0;

	while (got < want && !*shortr && fd >= 0) {
		ssize_t n = read(fd, buf + got, want - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			*shortr = SHORT_ERROR;
		else if (n == 0)
			*shortr = SHORT_SHRANK;
		else
			got += (size_t)n;
	}
	memset(buf + got, 0, want - got);
}

/*
 * Write a file's content: exactly size bytes, whatever happens to it, from
 * mem when not NULL, else read from fd, in whole chunks (so whole blocks).
 * k (may be NULL): its blocks hashed and compared to the base's.
 * *shortr: 0, or why the rest was stored as zeros (SHORT_*), for the
 * caller to warn about.
 */
static int write_content(struct bk *b, int fd, const uint8_t *mem,
			 uint64_t size, const struct blocks *k, uint8_t sha[32],
			 int *shortr)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t done = 0;
	int r = 0;

	*shortr = 0;
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	if (k && k->size)
		r = ocb_catb_blocks_begin(b->cat, k->seq, k->size);
	while (r == 0 && done < size) {
		size_t n = size - done > READ_CHUNK ? READ_CHUNK :
			(size_t)(size - done);
		const char *p = b->readbuf;

		if (mem)
			p = (const char *)mem + done;
		else
			read_chunk(fd, b->readbuf, n, shortr);
		EVP_DigestUpdate(md, p, n);
		if (k && k->size)
			r = write_blocks(b, k, (const uint8_t *)p, n, done);
		else if (archive_write_data(b->ar, p, n) != (la_ssize_t)n)
			r = ar_err(b, "write");
		if (r < 0)
			break;
		done += (uint64_t)n;
		b->prog.bytes_done += (uint64_t)n;
		b->res->bytes_in += (uint64_t)n;
		if (cancelled(b)) {
			r = -ECANCELED;
			break;
		}
		progress(b, 0);
	}
	EVP_DigestFinal_ex(md, sha, NULL);
	EVP_MD_CTX_free(md);
	return r;
}

static void warn_short(struct bk *b, const char *path, int shortr)
{
	if (shortr == SHORT_ERROR)
		warn(b, path, "read error; rest stored as zeros");
	else if (shortr == SHORT_SHRANK)
		warn(b, path, "file shrank while being read; padded with zeros");
}

static void warn_torn(struct bk *b, const char *path)
{
	char what[128];

	snprintf(what, sizeof(what), "file changed while being read (%d "
		 "attempts); stored as last read", HOT_ATTEMPTS);
	warn(b, path, what);
}

/* ---- consistent content ------------------------------------------------------ */

/*
 * The inode the catalog records for the next backup's test of an
 * unchanged file, or 0 (no file has it, so the next backup reads the file
 * again) when the file is racily clean, as git calls it: its ctime is not
 * safely older than this backup's start, so a change made after it was
 * read, within the same timestamp tick, would leave size, mtime and ctime
 * as they were.  Linux's local filesystems stamp ctime from the kernel's
 * coarse clock, at most one tick (10 ms at HZ 100) behind the real time:
 * RACY_NS is two ticks.
 */
#define RACY_NS 20000000LL

/* a change at or after this time (ns) may not show in a file's ctime */
static int64_t racy_from(const struct bk *b)
{
	return (int64_t)b->started.tv_sec * 1000000000LL +
		b->started.tv_nsec - RACY_NS;
}

static uint64_t stat_ino(const struct bk *b, const struct stat *st)
{
	int64_t c = (int64_t)st->st_ctim.tv_sec * 1000000000LL +
		st->st_ctim.tv_nsec;

	return c >= racy_from(b) ? 0 : (uint64_t)st->st_ino;
}

/*
 * What the catalog records in place of the inode for a SQLite snapshot:
 * the fingerprint of the database's state on disk (sqlite_state_i.h),
 * under the chain's header key, or 0 (the next backup snapshots it
 * again), and content (may be NULL) as sqlite_state_i.h says.  The
 * database at path is open as fd, or fd is -1 and st its metadata.
 */
static int db_state(struct bk *b, const char *path, int fd,
		    const struct stat *st, uint64_t *out, uint64_t *content)
{
	struct stat now;

	*out = 0;
	if (content)
		*content = 0;
	if (fd >= 0 && fstat(fd, &now) < 0)
		return 0;
	return ocb_sqlite_state(b->hmac, path, fd >= 0 ? &now : st,
				racy_from(b), out, content);
}


static int same_version(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
		a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
		a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* read the whole file into b->small: 0 and *len, 1 when it does not fit
 * (or cannot be read: read in place, which reports it) */
static int read_small(struct bk *b, int fd, size_t *len)
{
	size_t got = 0;
	char extra;

	while (got < SMALL_MAX) {
		ssize_t n = pread(fd, b->small + got, SMALL_MAX - got,
				  (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				return 1;
			break;
		}
		got += (size_t)n;
	}
	if (got == SMALL_MAX && pread(fd, &extra, 1, (off_t)got) != 0)
		return 1;
	*len = got;
	return 0;
}

/*
 * A file up to SMALL_MAX: read into memory again (a few bounded attempts)
 * until one read saw it hold still, whether it was being written before
 * the backup reached it or started changing while read.  0 with *len, st
 * updated and *flags (ENTRY_TORN when it never held still), or 1: read it
 * in place after all (it grew).
 */
static int capture_small(struct bk *b, int fd, const char *apath,
			 struct stat *st, size_t *len, unsigned *flags)
{
	struct stat s0, s1;
	int i;

	for (i = 0; i < HOT_ATTEMPTS; i++) {
		if (fstat(fd, &s0) < 0 || (uint64_t)s0.st_size > SMALL_MAX ||
		    read_small(b, fd, len) != 0 || fstat(fd, &s1) < 0)
			return 1;
		if (same_version(&s0, &s1) && (uint64_t)s1.st_size == *len)
			break;
	}
	if (i == HOT_ATTEMPTS) {
		warn_torn(b, apath);
		*flags |= ENTRY_TORN;
	}
	*st = s1;
	st->st_size = (off_t)*len;
	return 0;
}

/*
 * The content of a file read in place, whose header (for the version st)
 * was just written as entry seq: streamed once.  When the file changed
 * meanwhile it is read again and stored again as a later member of the
 * stream with the same path, the catalog pointing at that copy (the
 * earlier one is dead space; `tar -x` keeps the last); after HOT_ATTEMPTS
 * reads it is kept as last read, with a warning and ENTRY_TORN.
 */
static int content_in_place(struct bk *b, struct archive_entry *ae, int fd,
			    const char *apath, const struct blocks *k,
			    struct stat *st, unsigned *flags)
{
	uint32_t seq = k->seq;
	struct stat after;
	uint8_t sha[32];
	int i, r, shortr;

	for (i = 1;; i++) {
		r = write_content(b, fd, NULL, (uint64_t)st->st_size, k, sha,
				  &shortr);
		if (r < 0)
			return r;
		if (fstat(fd, &after) < 0 || (same_version(st, &after) &&
					      shortr != SHORT_SHRANK))
			break;
		if (i == HOT_ATTEMPTS) {
			warn_torn(b, apath);
			*flags |= ENTRY_TORN;
			break;
		}
		if (archive_write_finish_entry(b->ar) != ARCHIVE_OK)
			return ar_err(b, "finish");
		*st = after;
		archive_entry_set_size(ae, st->st_size);
		archive_entry_set_mtime(ae, st->st_mtim.tv_sec,
					st->st_mtim.tv_nsec);
		archive_entry_set_ctime(ae, st->st_ctim.tv_sec,
					st->st_ctim.tv_nsec);
		if (archive_write_header(b->ar, ae) < ARCHIVE_WARN)
			return ar_err(b, "header");
		ocb_catb_set_copy(b->cat, seq, b->stream_off,
				  st->st_mtim.tv_sec,
				  (uint32_t)st->st_mtim.tv_nsec);
		if (lseek(fd, 0, SEEK_SET) < 0)
			return -errno;
	}
	warn_short(b, apath, shortr);
	ocb_catb_set_content(b->cat, seq, (uint64_t)st->st_size, sha);
	return 0;
}

/*
 * What to store for the regular file open as fd: a spool file *cfd holding
 * a SQLite snapshot, the content in b->small (*small: its length), or
 * neither (*cfd -1, *small SIZE_MAX: read fd in place).  st: its
 * metadata, size updated to the content's.  0, or -ECANCELED.
 */
static int capture(struct bk *b, int fd, const char *apath, struct stat *st,
		   int *cfd, size_t *small, unsigned *flags, uint64_t *state)
{
	char why[256];
	struct stat now;
	int r;

	*cfd = -1;
	*small = SIZE_MAX;
	if (b->o->tmp_dir && ocb_sqlite_snap_is_db(fd)) {
		struct stat sst;
		uint64_t before, after;

		/* what the snapshot holds, for the next backup: the state
		 * after it, when its content is the one before it */
		r = db_state(b, apath, fd, NULL, state, &before);
		if (r < 0)
			return r;
		r = ocb_sqlite_snap_take(apath, b->o->tmp_dir, b->o->cancel,
					 cfd, why, sizeof(why));
		if (r == -ECANCELED)
			return r;
		if (r == 0 && fstat(*cfd, &sst) == 0) {
			r = db_state(b, apath, fd, NULL, state, &after);
			if (r < 0)
				return r;
			if (!before || after != before)
				*state = 0;
			st->st_size = sst.st_size;
			*flags |= ENTRY_SNAPSHOT;
			return 0;
		}
		if (*cfd >= 0)
			close(*cfd);
		*cfd = -1;
		{
			char what[400];

			snprintf(what, sizeof(what), "SQLite database not "
				 "snapshotted (%s); copied raw", why);
			warn(b, apath, what);
		}
		*flags |= ENTRY_FELL_BACK;
	}
	/* an old mtime does not say a writer will not start now: every
	 * small file is read into memory until it holds still */
	if ((uint64_t)st->st_size <= SMALL_MAX &&
	    capture_small(b, fd, apath, st, small, flags) == 0)
		return 0;
	*small = SIZE_MAX;
	/* in place: the version its header describes, the one whose
	 * change content_in_place() looks for */
	if (fstat(fd, &now) == 0)
		*st = now;
	return 0;
}

/* xattrs never stored: the user.ocb.* attributes the mount shows are
 * ocbfs's own, not the file's (cp -a from the mount copies them); ACLs
 * (not stored either) are not read as ACLs, and must not come in as
 * xattrs instead */
static int dropped_xattr(const char *name)
{
	return strncmp(name, "user.ocb.", 9) == 0 ||
		strcmp(name, "system.posix_acl_access") == 0 ||
		strcmp(name, "system.posix_acl_default") == 0 ||
		strcmp(name, "system.nfs4_acl") == 0;
}

static int drop_own_xattrs(struct archive_entry *ae)
{
	const char **n, *name;
	const void **v, *value;
	size_t *l, len, nx, k = 0, i;
	int own = 0, r = 0;

	nx = (size_t)archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, &value, &len) == ARCHIVE_OK)
		own |= dropped_xattr(name);
	if (!own)
		return 0;
	n = calloc(nx, sizeof(*n));
	v = calloc(nx, sizeof(*v));
	l = calloc(nx, sizeof(*l));
	if (!n || !v || !l) {
		r = -ENOMEM;
		goto out;
	}
	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, &value, &len) == ARCHIVE_OK) {
		if (dropped_xattr(name))
			continue;
		n[k] = strdup(name);
		v[k] = malloc(len ? len : 1);
		if (!n[k] || !v[k]) {
			free((void *)n[k]);
			free((void *)v[k]);
			r = -ENOMEM;
			goto out;
		}
		memcpy((void *)v[k], value, len);
		l[k++] = len;
	}
	archive_entry_xattr_clear(ae);
	for (i = 0; i < k; i++)
		archive_entry_xattr_add_entry(ae, n[i], v[i], l[i]);
out:
	for (i = 0; i < k; i++) {
		free((void *)n[i]);
		free((void *)v[i]);
	}
	free(n);
	free(v);
	free(l);
	return r;
}

/* ---- building on the base ---------------------------------------------------- */

/* our ref number for source src of the base (0: the base's own object):
 * refs always name the object that holds the bytes */
static int base_ref(struct bk *b, uint32_t src, uint32_t *out)
{
	const struct ocb_catalog *bc = b->bc;
	const struct ocb_frame_rec *f;
	struct ocb_ref_rec rec;
	uint32_t idx;
	int r;

	if (b->bref[src]) {
		*out = b->bref[src] - 1;
		return 0;
	}
	if (src == 0) {
		memset(&rec, 0, sizeof(rec));
		memcpy(rec.id, ocb_archive_backup_id(b->base), 16);
		rec.created = bc->created;
		rec.name = bc->name;
		rec.frame_size = bc->frame_size;
		rec.nframes = bc->nf;
		rec.stream_size = bc->stored_size;
		r = ocb_archive_native_header(b->base, rec.header);
		if (r < 0)
			return r;
		f = bc->f;
	} else {
		rec = bc->refs[src - 1];
		f = bc->f + rec.first_frame;
	}
	r = ocb_catb_add_ref(b->cat, &rec, f, &idx);
	if (r < 0)
		return r;
	b->bref[src] = idx + 1;
	*out = idx;
	return 0;
}

/* segments for our logical bytes [at, at + len), which are the base's
 * logical [bl, bl + len): where the base's segments say they lie */
static int base_segments(struct bk *b, uint64_t at, uint64_t bl,
			 uint64_t len)
{
	const struct ocb_catalog *bc = b->bc;
	uint32_t lo = 0, hi = bc->nseg, s, ref;
	int r = 0;

	while (hi - lo > 1) {
		uint32_t m = lo + (hi - lo) / 2;

		if (bc->seg[m].loff <= bl)
			lo = m;
		else
			hi = m;
	}
	for (s = lo; r == 0 && len && s < bc->nseg; s++) {
		const struct ocb_segment *g = &bc->seg[s];
		uint64_t k = g->loff + g->len - bl;

		if (k > len)
			k = len;
		r = base_ref(b, g->source, &ref);
		if (r == 0)
			r = ocb_catb_add_segment(b->cat, at, k,
						 g->poff + (bl - g->loff),
						 ref + 1);
		at += k;
		bl += k;
		len -= k;
	}
	return r < 0 ? r : len ? -EBADMSG : 0;
}

/* the base's entry of path rel, or -1 */
static int64_t base_entry(struct bk *b, const char *rel)
{
	uint32_t idx;

	if (!b->base || ocb_catb_nsegments(b->cat) >= SEGMENTS_MAX ||
	    ocb_archive_resolve(b->base, rel, &idx) < 0)
		return -1;
	return idx;
}

/* idx (the base's entry of the regular file's path, or -1) when the file
 * (st, at path) has not changed since: same type, mtime, ctime, mode,
 * owner, and either captured plainly (not torn, not a SQLite snapshot or
 * its fallback) with the same size and inode, or a SQLite snapshot whose
 * database has the same state on disk (db_state()); else -1 */
static int64_t base_unchanged(struct bk *b, int64_t idx, const char *path,
			      const struct stat *st)
{
	const struct ocb_entry *e;
	const struct ocb_entry_stat *x;
	uint64_t id = (uint64_t)st->st_ino;

	if (idx < 0 || st->st_size <= 0)
		return -1;
	e = &b->bc->e[idx];
	x = &b->bc->st[idx];
	if (e->type != OCB_ENTRY_FILE ||
	    e->mtime != st->st_mtim.tv_sec ||
	    e->mtime_nsec != (uint32_t)st->st_mtim.tv_nsec ||
	    e->mode != st->st_mode || e->uid != st->st_uid ||
	    e->gid != st->st_gid || !x->ino ||
	    x->ctime != st->st_ctim.tv_sec ||
	    x->ctime_nsec != (uint32_t)st->st_ctim.tv_nsec)
		return -1;
	if (e->flags == ENTRY_SNAPSHOT && b->o->tmp_dir) {
		if (db_state(b, path, -1, st, &id, NULL) < 0)
			return -1;
	} else if (e->flags || e->size != (uint64_t)st->st_size) {
		return -1;
	}
	return x->ino == id ? idx : -1;
}

/*
 * The entry's tar headers, held while libarchive wrote them: referenced
 * where the base holds the same bytes (its entry of the same path, bidx,
 * recorded headers of this length and keyed hash right before its data),
 * else stored.  *len and mac: what the catalog records of them (*len 0:
 * nothing, for headers too long to hold or not whole tar blocks).
 */
static int header_settle(struct bk *b, int64_t bidx, uint32_t *len,
			 uint8_t mac[OCB_HDR_MAC_LEN])
{
	size_t n = b->hold_len;
	const struct ocb_entry_stat *x;
	int r;

	b->holding = 0;
	b->hold_len = 0;
	*len = 0;
	if (b->hold_over) {
		b->hold_over = 0;
		return 0;
	}
	r = ocb_hdr_mac(b->hmac, b->hold, n, mac);
	if (r < 0)
		return r;
	if (n % TAR_BLOCK)
		return stream_store(b, b->hold, n);
	*len = (uint32_t)n;
	x = bidx >= 0 ? &b->bc->st[bidx] : NULL;
	if (!x || x->hdr_len != n || memcmp(x->hdr_mac, mac, OCB_HDR_MAC_LEN) ||
	    ocb_catb_nsegments(b->cat) >= SEGMENTS_MAX)
		return stream_store(b, b->hold, n);
	r = base_segments(b, b->stream_off, b->bc->e[bidx].data_off - n, n);
	if (r == 0)
		b->stream_off += n;
	return r;
}

/* How entry e's content is hashed in blocks: large files in BLOCK_SIZE
 * blocks, SQLite snapshots in their page size (at least BLOCK_MIN), each
 * compared to the base's file of the same path when it was hashed in
 * blocks of the same size.  Past HASH_BYTES_MAX of hashes, files are not
 * hashed (and stored whole). */
static void blocks_plan(struct bk *b, uint32_t seq, const char *rel, int fd,
			uint64_t size, unsigned flags, struct blocks *k)
{
	const struct ocb_block_hashes *bh;
	uint32_t idx;

	*k = (struct blocks){ .seq = seq };
	if (flags & ENTRY_SNAPSHOT) {
		unsigned ps = ocb_sqlite_snap_page_size(fd);

		k->size = !ps ? BLOCK_SIZE : ps < BLOCK_MIN ? BLOCK_MIN : ps;
	} else if (size >= BLOCKS_FROM) {
		k->size = BLOCK_SIZE;
	}
	if (!k->size || ocb_catb_hash_bytes(b->cat) +
	    (size / k->size + 1) * 32 > HASH_BYTES_MAX) {
		k->size = 0;
		return;
	}
	if (!b->base || ocb_archive_resolve(b->base, rel, &idx) < 0 ||
	    b->bc->e[idx].type != OCB_ENTRY_FILE ||
	    !(bh = ocb_catalog_blocks(b->bc, idx)) || bh->block_size != k->size)
		return;
	k->be = &b->bc->e[idx];
	k->bh = bh;
}

/* the newest backup under the prefix */
struct newest {
	size_t plen;
	char key[OCB_KEY_MAX];
};

static int note_newest_key(void *arg, const struct ocb_list_entry *e)
{
	struct newest *n = arg;
	size_t len = strlen(e->key);

	if (!e->is_prefix && len > n->plen + 4 &&
	    !strcmp(e->key + len - 4, ".ocb") &&
	    !strncmp(e->key + n->plen, NAME_PREFIX, strlen(NAME_PREFIX)) &&
	    strcmp(e->key, n->key) > 0)
		snprintf(n->key, sizeof(n->key), "%s", e->key);
	return 0;
}

/* the objects a base references, checked at once (one round trip
 * each, and a chain may have many); each result in its slot */
struct ref_checks {
	struct bk *b;
	struct ocb_store *s;
	const char **keys;	/* check_refs: HEAD these (NULL: skip) */
	int *r;			/* each one's result */
};

static void ref_check_one(void *arg, size_t k)
{
	struct ref_checks *c = arg;

	c->r[k] = ocb_ref_check(c->s, c->b->o->prefix, c->b->bc, (uint32_t)k);
}

/*
 * Every object the base references is there and is the object the base
 * names (its header, byte for byte; long enough for its frames): else a
 * backup built on it would be damaged from the start.  That is a warning
 * the user must see (the chain the newest backup belongs to cannot be
 * read whole) but not one about this backup, which is then a full one:
 * it does not count in the backup's warnings.  Returns 1 when intact.
 */
static int base_refs_intact(struct bk *b, struct ocb_store *s)
{
	char esc[OCB_KEY_MAX], besc[256];
	struct ref_checks c = { .b = b, .s = s };
	uint32_t k;
	int r;

	c.r = calloc(b->bc->nrefs + 1, sizeof(*c.r));
	if (!c.r) {
		ocb_warn("out of memory; taking a full backup");
		return 0;
	}
	ocb_parallel_for(b->bc->nrefs, REF_CHECKS, ref_check_one, &c, NULL);
	for (k = 0; k < b->bc->nrefs; k++) {
		r = c.r[k];
		if (r == 0)
			continue;
		ocb_log_escape(esc, sizeof(esc), b->bc->refs[k].name);
		ocb_log_escape(besc, sizeof(besc), b->bc->name);
		if (r == -ENOENT || r == -EBADMSG)
			ocb_warn("backup %s is needed by the newest backup, "
				 "%s, but %s: that backup (and any built on "
				 "it) cannot be read whole; taking a full "
				 "backup", esc, besc, r == -ENOENT ?
				 "it is not in the store" :
				 "its object is not the one it names");
		else
			ocb_warn("backup %s is needed by the newest backup, "
				 "%s, and could not be checked (%s); taking "
				 "a full backup", esc, besc,
				 ocb_store_strerror(r));
		free(c.r);
		return 0;
	}
	free(c.r);
	return 1;
}

/* the base: the newest backup, when it opens with our key, the objects it
 * references are intact, and the chain is not due for a full backup */
static void choose_base(struct bk *b, struct ocb_store *s)
{
	const struct ocb_archive_write_opts *o = b->o;
	uint32_t every = o->full_every, days = o->full_after_days;
	struct newest n = { 0 };
	char p[OCB_KEY_MAX], esc[OCB_KEY_MAX];
	const char *why = NULL;
	int r;

	b->full_created = b->hdr.created;
	if (o->full || snprintf(p, sizeof(p), "%s/", o->prefix) >=
	    (int)sizeof(p))
		return;
	n.plen = strlen(p);
	r = s->ops->list(s, p, "/", NULL, note_newest_key, &n);
	if (r < 0 || !n.key[0])
		return;
	r = ocb_archive_open(s, n.key, o->kp, &b->base);
	if (r < 0) {
		ocb_info("a full backup: the newest backup, %s, does not open "
			 "(%s)", ocb_log_escape(esc, sizeof(esc), n.key),
			 ocb_archive_strerror(r));
		b->base = NULL;
		return;
	}
	b->bc = ocb_archive_catalog(b->base);
	if (b->bc->version < 3)
		why = "the newest backup is format 2, which does not record "
		      "what identifies an unchanged file";
	else if (every && b->bc->depth + 1 >= every)
		why = "backup.fullEvery";
	else if (days &&
		 b->hdr.created - b->bc->full_created > (int64_t)days * 86400)
		why = "backup.fullAfterDays";
	else if (b->bc->nrefs + 1 >= REFS_FULL)
		why = "the newest backup reads from too many others";
	else if (!(b->bref = calloc(b->bc->nrefs + 1, sizeof(*b->bref))))
		why = "out of memory";
	if (why)
		ocb_info("a full backup (%s)", why);
	if (why || !base_refs_intact(b, s)) {
		ocb_archive_free(b->base);
		free(b->bref);
		b->base = NULL;
		b->bc = NULL;
		b->bref = NULL;
		return;
	}
	b->depth = b->bc->depth + 1;
	b->full_created = b->bc->full_created;
}

/* the key of the headers' hashes: the chain's (a base's hashes are
 * compared with ours), drawn anew by a full backup */
static int header_key(struct bk *b)
{
	int r = 0;

	if (b->bc)
		memcpy(b->hkey, b->bc->header_key, sizeof(b->hkey));
	else
		r = ocb_crypto_random(b->hkey, sizeof(b->hkey));
	return r < 0 ? r : ocb_hdr_mac_new(b->hkey, &b->hmac);
}

/* ---- one entry ------------------------------------------------------------- */

static int walk(struct bk *b, int dirfd, const char *name, const char *apath,
		const char *rel, uint32_t parent, uint32_t *seq_out);

/* one entry being added: the file, its tar header and its catalog record */
struct entry {
	const char *apath, *rel;
	struct stat st;			/* the lstat, with the content's size */
	int fd;				/* a regular file, else -1 */
	int cfd;			/* a spooled copy of its content, or -1 */
	size_t small;			/* != SIZE_MAX: content in b->small */
	unsigned flags;			/* ENTRY_* */
	struct archive_entry *ae;
	struct ocb_catb_entry ce;
	const char **xn;		/* extended attributes (ce's arrays) */
	const void **xv;
	size_t *xl;
	struct link_slot *ls;		/* a hard link to an earlier entry */
	uint32_t seq;
	int64_t reuse;			/* unchanged: the base's entry, or -1 */
	uint64_t state;			/* a SQLite snapshot: db_state() */
};

/* a regular file opened and its content captured (unless it is a hard link
 * to an entry already stored): 0, 1 when it is skipped, or a negative
 * errno */
static int entry_open(struct bk *b, int dirfd, const char *name,
		      const struct stat *lst, struct entry *e, int *snapshotted)
{
	int r;

	e->fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		       O_NOATIME);
	if (e->fd < 0 && errno == EPERM)
		e->fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (e->fd < 0) {
		warn(b, e->apath, "cannot open; skipped");
		return 1;
	}
	if (lst->st_nlink >= 2 && link_find(b, lst))
		return 0;
	r = capture(b, e->fd, e->apath, &e->st, &e->cfd, &e->small, &e->flags,
		    &e->state);
	if (r < 0)
		return r;
	if (snapshotted)
		*snapshotted = !!(e->flags & ENTRY_SNAPSHOT);
	return 0;
}

/* the entry's extended attributes into its catalog record */
static int entry_xattrs(struct entry *e)
{
	size_t nx = (size_t)archive_entry_xattr_reset(e->ae), i;

	if (!nx)
		return 0;
	e->xn = calloc(nx, sizeof(*e->xn));
	e->xv = calloc(nx, sizeof(*e->xv));
	e->xl = calloc(nx, sizeof(*e->xl));
	if (!e->xn || !e->xv || !e->xl)
		return -ENOMEM;
	for (i = 0; i < nx; i++)
		archive_entry_xattr_next(e->ae, &e->xn[i], &e->xv[i], &e->xl[i]);
	e->ce.nxattrs = nx;
	e->ce.xnames = e->xn;
	e->ce.xvalues = e->xv;
	e->ce.xlens = e->xl;
	return 0;
}

/* the base's xattrs of entry be into ae, so that ae lists them in the
 * order the base's catalog does (b->xattr_lifo: added in reverse) */
static void xattrs_from_base(const struct bk *b, const struct ocb_entry *be,
			     struct archive_entry *ae)
{
	const struct ocb_xattr *x = b->bc->x + be->xattr_first;
	uint32_t i;

	archive_entry_xattr_clear(ae);
	for (i = 0; i < be->nxattrs; i++) {
		const struct ocb_xattr *y = &x[b->xattr_lifo ?
					       be->nxattrs - 1 - i : i];

		archive_entry_xattr_add_entry(ae, y->name, y->value, y->len);
	}
}

/* does libarchive list an entry's xattrs newest first?  (this one does:
 * entries hold them in a list that adding pushes onto; asked, not
 * assumed, as it is not documented) */
static int xattr_lifo(void)
{
	struct archive_entry *ae = archive_entry_new();
	const char *name = NULL;
	const void *value;
	size_t len;
	int lifo;

	if (!ae)
		return 1;
	archive_entry_xattr_add_entry(ae, "user.a", "", 0);
	archive_entry_xattr_add_entry(ae, "user.b", "", 0);
	archive_entry_xattr_reset(ae);
	lifo = archive_entry_xattr_next(ae, &name, &value, &len) !=
		ARCHIVE_OK || strcmp(name, "user.b") == 0;
	archive_entry_free(ae);
	return lifo;
}

/* an unchanged file's metadata (e->reuse: the same ctime as in the base,
 * so the same xattrs, which a change moves ctime): from its stat and the
 * base's catalog, not read again (llistxattr by path was a fifth of an
 * unchanged backup's time) */
static void entry_from_base(struct bk *b, struct entry *e)
{
	const struct ocb_entry *be = &b->bc->e[e->reuse];
	const char *u = archive_read_disk_uname(b->disk, e->st.st_uid);
	const char *g = archive_read_disk_gname(b->disk, e->st.st_gid);

	archive_entry_copy_stat(e->ae, &e->st);
	if (u)
		archive_entry_copy_uname(e->ae, u);
	if (g)
		archive_entry_copy_gname(e->ae, g);
	if (be->nxattrs)
		xattrs_from_base(b, be, e->ae);
}

/* the tar header and catalog record from the file's metadata: 0, 1 when
 * it is skipped, or a negative errno */
static int entry_describe(struct bk *b, struct entry *e)
{
	const struct stat *st = &e->st;
	int r;

	archive_entry_copy_sourcepath(e->ae, e->apath);
	if (e->reuse >= 0)
		entry_from_base(b, e);
	else if (archive_read_disk_entry_from_file(b->disk, e->ae, e->fd,
						   st) != ARCHIVE_OK)
		warn(b, e->apath, archive_error_string(b->disk) ?
		     archive_error_string(b->disk) : "metadata incomplete");
	r = drop_own_xattrs(e->ae);
	if (r < 0)
		return r;
	archive_entry_copy_pathname(e->ae, e->rel);
	archive_entry_sparse_clear(e->ae);
	/* ACLs and file flags are not restored by ocb; keep the stream plain */
	archive_entry_acl_clear(e->ae);
	archive_entry_set_fflags(e->ae, 0, 0);
	/* nor access times, which any read of the file moves: with them, a
	 * file read since the base would have a header of its own */
	archive_entry_unset_atime(e->ae);

	e->ce.type = ocb_catalog_entry_type(st->st_mode);
	e->ce.mode = st->st_mode;
	e->ce.uid = st->st_uid;
	e->ce.gid = st->st_gid;
	e->ce.mtime = st->st_mtim.tv_sec;
	e->ce.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	if (S_ISLNK(st->st_mode))
		e->ce.target = archive_entry_symlink(e->ae);
	if (S_ISLNK(st->st_mode) && (!e->ce.target || !*e->ce.target)) {
		warn(b, e->apath, "unreadable symlink; skipped");
		return 1;
	}
	r = entry_xattrs(e);
	if (r < 0)
		return r;
	if (S_ISREG(st->st_mode) && st->st_nlink > 1 &&
	    (e->ls = link_find(b, st)) != NULL) {
		archive_entry_copy_hardlink(e->ae, e->ls->path);
		archive_entry_set_size(e->ae, 0);
		e->ce.link_to = e->ls->seq;
	} else if (S_ISREG(st->st_mode)) {
		archive_entry_set_size(e->ae, st->st_size);
		e->ce.size = (uint64_t)st->st_size;
	} else {
		archive_entry_set_size(e->ae, 0);
	}
	return 0;
}

/* a regular file's content after its header (not a hard link's) */
static int entry_content(struct bk *b, struct entry *e)
{
	const struct stat *st = &e->st;
	uint8_t sha[32] = { 0 };
	struct blocks k;
	int r;

	if (st->st_nlink > 1) {
		r = link_add(b, st, e->seq, e->rel);
		if (r < 0)
			return r;
	}
	blocks_plan(b, e->seq, e->rel, e->cfd >= 0 ? e->cfd : e->fd,
		    (uint64_t)st->st_size, e->flags, &k);
	if (e->cfd >= 0 || e->small != SIZE_MAX) {
		int shortr;

		r = write_content(b, e->cfd, e->cfd >= 0 ? NULL : b->small,
				  (uint64_t)st->st_size, &k, sha, &shortr);
		if (r < 0)
			return r;
		warn_short(b, e->apath, shortr);
		ocb_catb_set_content(b->cat, e->seq, (uint64_t)st->st_size, sha);
	} else {
		r = content_in_place(b, e->ae, e->fd, e->apath, &k, &e->st,
				     &e->flags);
		if (r < 0)
			return r;
	}
	entry_flags(b, e->seq, e->flags);
	return 0;
}

/* an unchanged file: its data and padding referenced where the base has
 * them, and dropped from what libarchive writes (zeros:
 * archive_write_finish_entry pads the data it was not given) */
static int entry_reuse(struct bk *b, struct entry *e)
{
	const struct ocb_entry *be = &b->bc->e[e->reuse];
	/* the padding to the tar block too: zeros in both streams */
	uint64_t padded = (be->size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	const struct ocb_block_hashes *bh;
	int r;

	if (e->st.st_nlink > 1) {
		r = link_add(b, &e->st, e->seq, e->rel);
		if (r < 0)
			return r;
	}
	r = base_segments(b, b->stream_off, be->data_off, padded);
	if (r == 0 && (bh = ocb_catalog_blocks(b->bc, (uint32_t)e->reuse)) &&
	    ocb_catb_hash_bytes(b->cat) + (uint64_t)bh->count * 32 <=
	    HASH_BYTES_MAX)
		r = ocb_catb_set_blocks(b->cat, e->seq, bh);
	if (r < 0)
		return r;
	b->drop_from = b->stream_off;
	b->drop_to = b->stream_off + padded;
	ocb_catb_set_content(b->cat, e->seq, be->size, be->sha256);
	b->prog.bytes_done += be->size;
	if (e->flags & ENTRY_SNAPSHOT)
		b->res->snapshots_unchanged++;
	entry_flags(b, e->seq, e->flags);
	return 0;
}

/* name: in dirfd; cname: the name in the catalog; rel: path in the tar */
static int add_entry(struct bk *b, int dirfd, const char *name,
		     const char *cname, const char *apath, const char *rel,
		     uint32_t parent, const struct stat *lst, uint32_t *seq_out,
		     int *snapshotted)
{
	struct entry e = {
		.apath = apath, .rel = rel, .st = *lst, .fd = -1, .cfd = -1,
		.small = SIZE_MAX, .ae = archive_entry_new(),
		.ce = { .parent = parent, .name = cname,
			.link_to = OCB_NOLINK },
		.reuse = -1,
	};
	uint8_t hmac[OCB_HDR_MAC_LEN];
	uint32_t hlen;
	int64_t bidx = base_entry(b, rel);
	int r = 0;

	if (!e.ae)
		return -ENOMEM;
	if (S_ISREG(e.st.st_mode) && !(lst->st_nlink >= 2 && link_find(b, lst)))
		e.reuse = base_unchanged(b, bidx, apath, lst);
	if (e.reuse >= 0 && b->bc->e[e.reuse].flags == ENTRY_SNAPSHOT) {
		/* the base's snapshot, whose size its header gives */
		e.st.st_size = (off_t)b->bc->e[e.reuse].size;
		e.flags = ENTRY_SNAPSHOT;
		e.state = b->bc->st[e.reuse].ino;
		if (snapshotted)
			*snapshotted = 1;
	}
	if (S_ISREG(e.st.st_mode) && e.reuse < 0)
		r = entry_open(b, dirfd, name, lst, &e, snapshotted);
	if (r == 0)
		r = entry_describe(b, &e);
	if (r != 0)
		goto out;
	b->holding = 1;
	/* ARCHIVE_WARN: a name kept as bytes (above) */
	if (archive_write_header(b->ar, e.ae) < ARCHIVE_WARN) {
		b->holding = 0;
		r = ar_err(b, "header");
		goto out;
	}
	r = header_settle(b, e.ls ? -1 : bidx, &hlen, hmac);
	if (r < 0)
		goto out;
	e.ce.data_off = b->stream_off;
	r = ocb_catb_add(b->cat, &e.ce, &e.seq);
	if (r < 0)
		goto out;
	/* a hard link's catalog entry has its first link's data_off */
	if (hlen && !e.ls)
		ocb_catb_set_header(b->cat, e.seq, hlen, hmac);
	b->res->entries++;
	b->prog.files_done++;
	if (S_ISREG(e.st.st_mode) && !e.ls) {
		r = e.reuse >= 0 ? entry_reuse(b, &e) : entry_content(b, &e);
		if (r < 0)
			goto out;
	}
	ocb_catb_set_stat(b->cat, e.seq, e.flags & ENTRY_SNAPSHOT ? e.state :
			  stat_ino(b, &e.st), e.st.st_ctim.tv_sec,
			  (uint32_t)e.st.st_ctim.tv_nsec);
	if (archive_write_finish_entry(b->ar) != ARCHIVE_OK) {
		r = ar_err(b, "finish");
		goto out;
	}
	if (b->stream_off < b->drop_to) {	/* libarchive did not pad */
		ocb_err("archive finish: an unchanged file's data was not "
			"padded");
		r = -EIO;
		goto out;
	}
	if (seq_out)
		*seq_out = e.seq;
	if (S_ISDIR(e.st.st_mode))
		r = walk(b, dirfd, name, apath, rel, e.seq, NULL);
out:
	free(e.xn);
	free(e.xv);
	free(e.xl);
	if (e.fd >= 0)
		close(e.fd);
	if (e.cfd >= 0)
		close(e.cfd);
	archive_entry_free(e.ae);
	return r > 0 ? 0 : r;
}

/* the children of directory name (in dirfd), in name order */
/* names[0..i) holds the database whose sidecar names[i] is, snapshotted */
static int sidecar_of_snapshot(char **names, const unsigned char *snap,
			       size_t i)
{
	size_t base, j;

	if (!ocb_sqlite_snap_sidecar(names[i], &base))
		return 0;
	for (j = i; j-- > 0;)	/* the database sorts before its sidecars */
		if (strlen(names[j]) == base &&
		    strncmp(names[j], names[i], base) == 0)
			return snap[j];
	return 0;
}

static int walk(struct bk *b, int dirfd, const char *name, const char *apath,
		const char *rel, uint32_t parent, uint32_t *seq_out)
{
	unsigned char *snap = NULL;	/* by name: snapshotted databases */
	char **names = NULL;
	size_t n = 0, i;
	DIR *d;
	int fd, r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		warn(b, apath, "cannot open directory; its contents are skipped");
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	r = ocb_fileio_dir_names(d, &names, &n);
	if (r < 0)
		goto out;
	snap = calloc(n + 1, 1);
	if (!snap) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && r == 0; i++) {
		char capath[PATH_MAX], crel[PATH_MAX];
		struct stat st;

		if (snprintf(capath, sizeof(capath), "%s/%s", apath, names[i]) >=
		    (int)sizeof(capath) ||
		    snprintf(crel, sizeof(crel), "%s/%s", rel, names[i]) >=
		    (int)sizeof(crel)) {
			warn(b, apath, "path too long; entry skipped");
			continue;
		}
		if (excluded(b, names[i], crel))
			continue;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				warn(b, capath, "cannot stat; skipped");
			continue;	/* vanished: not an error */
		}
		if (skipped(b, &st))
			continue;
		if (S_ISSOCK(st.st_mode))
			continue;	/* sockets cannot be restored */
		/* the snapshot holds what its -wal had; a -journal or -shm
		 * of it would only confuse SQLite after a restore */
		if (sidecar_of_snapshot(names, snap, i))
			continue;
		{
			int sn = 0;

			r = add_entry(b, fd, names[i], names[i], capath, crel,
				      parent, &st, NULL, &sn);
			snap[i] = (unsigned char)sn;
		}
		if (r == 0 && cancelled(b))
			r = -ECANCELED;
	}
out:
	ocb_fileio_names_free(names, n);
	free(snap);
	closedir(d);
	(void)seq_out;
	return r;
}

/*
 * The top-level names of the sources: each base name without leading dots,
 * made unique in the order of the sources ("name-2"...).  They follow from
 * the list alone, not from which sources exist, so a source keeps its name
 * when another one is missing.  *out: nsources malloc'ed names.
 */
static int top_names(const char *const *src, size_t n, char ***out)
{
	char **v = calloc(n + 1, sizeof(*v));
	size_t i, j, k;

	for (i = 0; v && i < n; i++) {
		const char *base = strrchr(src[i], '/');
		char name[256];

		base = base ? base + 1 : src[i];
		while (*base == '.')
			base++;
		if (!*base)
			base = "source";
		snprintf(name, sizeof(name), "%s", base);
		for (k = 2;; k++) {
			for (j = 0; j < i && strcmp(v[j], name); j++)
				;
			if (j == i)
				break;
			snprintf(name, sizeof(name), "%s-%zu", base, k);
		}
		if (!(v[i] = strdup(name)))
			break;
	}
	if (v && i < n) {
		while (i-- > 0)
			free(v[i]);
		free(v);
		v = NULL;
	}
	*out = v;
	return v ? 0 : -ENOMEM;
}

static void top_names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The path inside the backup of a file below one of the sources
 * ("<top>/<rest>"), for the state-snapshot metadata: 0, or -ENOENT when
 * path is under none of them.
 */
static int backup_path(const struct ocb_archive_write_opts *o,
		       char *const *tops, const char *path, char *out,
		       size_t size)
{
	size_t i;

	for (i = 0; i < o->nsources; i++) {
		size_t n = strlen(o->sources[i]);

		while (n > 1 && o->sources[i][n - 1] == '/')
			n--;
		if (strncmp(path, o->sources[i], n) || path[n] != '/' ||
		    !path[n + 1])
			continue;
		if (snprintf(out, size, "%s%s", tops[i], path + n) >= (int)size)
			return -ENAMETOOLONG;
		return 0;
	}
	return -ENOENT;
}

/* ---- totals, for progress ---------------------------------------------------- */

static void count_entry(struct bk *b, int dirfd, const char *name,
			const char *rel, const struct stat *st, unsigned depth);

/* name (in dirfd) is a regular file holding a SQLite database */
static int is_db_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			O_NONBLOCK), db;

	if (fd < 0)
		return 0;
	db = ocb_sqlite_snap_is_db(fd);
	close(fd);
	return db;
}

/* a dry run: name (in dirfd) is a -wal, -shm or -journal of a database
 * that will be snapshotted */
static int plan_sidecar(struct bk *b, int dirfd, const char *name)
{
	char base[NAME_MAX + 1];
	size_t n;

	if (!b->plan || !b->o->tmp_dir || !ocb_sqlite_snap_sidecar(name, &n) ||
	    n >= sizeof(base))
		return 0;
	memcpy(base, name, n);
	base[n] = '\0';
	return is_db_at(dirfd, base);
}

static void plan_entry(struct bk *b, int dirfd, const char *name,
		       const char *rel, const struct stat *st)
{
	const char *what = "special file";

	if (S_ISDIR(st->st_mode))
		what = "directory";
	else if (S_ISLNK(st->st_mode))
		what = "symlink";
	else if (S_ISREG(st->st_mode))
		what = b->o->tmp_dir && is_db_at(dirfd, name) ?
			"SQLite database, stored as a snapshot" : "file";
	b->plan(b->plan_arg, rel, what, S_ISREG(st->st_mode) ?
		(uint64_t)st->st_size : 0);
}

/* the same choices as walk(), without reading anything but metadata */
static void count_dir(struct bk *b, int fd, const char *rel, unsigned depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && !cancelled(b)) {
		char crel[PATH_MAX], why[PATH_MAX + 32];
		struct stat st;
		size_t ex;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    snprintf(crel, sizeof(crel), "%s/%s", rel, de->d_name) >=
		    (int)sizeof(crel))
			continue;
		ex = excluded(b, de->d_name, crel);
		if (ex && b->plan) {
			snprintf(why, sizeof(why), "excluded by \"%s\"",
				 b->o->excludes[ex - 1]);
			b->plan(b->plan_arg, crel, why, 0);
		}
		if (ex || fstatat(dirfd(d), de->d_name, &st,
				  AT_SYMLINK_NOFOLLOW) < 0 ||
		    skipped(b, &st) || S_ISSOCK(st.st_mode))
			continue;
		if (plan_sidecar(b, dirfd(d), de->d_name)) {
			b->plan(b->plan_arg, crel, "not stored: the -wal, -shm "
				"or -journal of a database stored as a "
				"snapshot", 0);
			continue;
		}
		count_entry(b, dirfd(d), de->d_name, crel, &st, depth);
	}
	closedir(d);
}

static void count_entry(struct bk *b, int dirfd, const char *name,
			const char *rel, const struct stat *st, unsigned depth)
{
	int fd;

	b->prog.files_total++;
	if (S_ISREG(st->st_mode))
		b->prog.bytes_total += (uint64_t)st->st_size;
	if (b->plan)
		plan_entry(b, dirfd, name, rel, st);
	if (!S_ISDIR(st->st_mode) || depth >= PATH_MAX / 2)
		return;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd >= 0)
		count_dir(b, fd, rel, depth + 1);
}

static void count_sources(struct bk *b)
{
	size_t i;

	for (i = 0; i < b->o->nsources && !cancelled(b); i++) {
		struct stat st;

		if (b->plan) {
			char what[300];

			snprintf(what, sizeof(what), "source, stored as %s",
				 b->tops[i]);
			b->plan(b->plan_arg, b->o->sources[i], what, 0);
		}
		if (lstat(b->o->sources[i], &st) == 0)
			count_entry(b, AT_FDCWD, b->o->sources[i], b->tops[i],
				    &st, 0);
		else if (b->plan)
			b->plan(b->plan_arg, b->o->sources[i], "source does "
				"not exist; skipped", 0);
	}
	progress(b, 1);
}

/* the skip paths, by device and inode */
static int skip_init(struct bk *b)
{
	size_t i;

	b->skip = calloc(b->o->nskip + 1, sizeof(*b->skip));
	if (!b->skip)
		return -ENOMEM;
	for (i = 0; i < b->o->nskip; i++)
		if (stat(b->o->skip[i], &b->skip[b->nskip]) == 0)
			b->nskip++;
	return 0;
}

int ocb_archive_write_plan(const struct ocb_archive_write_opts *o,
			   ocb_plan_fn fn, void *arg,
			   struct ocb_backup_result *res)
{
	struct bk b = { .o = o, .res = res, .plan = fn, .plan_arg = arg };
	int r;

	r = skip_init(&b);
	if (r == 0)
		r = top_names(o->sources, o->nsources, &b.tops);
	if (r == 0) {
		count_sources(&b);
		res->entries = b.prog.files_total;
		res->bytes_in = b.prog.bytes_total;
	}
	free(b.skip);
	top_names_free(b.tops, o->nsources);
	return r;
}

/* ---- the backup's name ----------------------------------------------------- */

#define NAME_STEPS 60		/* seconds a new name moves on, at most */
/* the seconds a new name may take, from now: after the newest name of
 * the next minute, then up to NAME_STEPS more */
#define NAME_WINDOW (2 * NAME_STEPS + 2)

/* a name's time, as names spell it */
static void name_stamp(time_t t, char *out, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H-%M-%SZ", &tm);
}

static void backup_name(const struct ocb_archive_write_opts *o, time_t now,
			char *out, size_t size)
{
	char ts[32];

	name_stamp(now, ts, sizeof(ts));
	if (o->label && *o->label)
		snprintf(out, size, NAME_PREFIX "%s-%s", ts, o->label);
	else
		snprintf(out, size, NAME_PREFIX "%s", ts);
}

/* The names near now, from one listing of the prefix.  newest: the newest
 * backup time named in the minute after now: a backup taken right after
 * others (they took the next free seconds) is named after them, also once
 * a prune has freed the earlier seconds.  Only a minute ahead: a name
 * planted far in the future does not move new names.  taken: the seconds
 * of the window that some object's name (a backup, labelled or not, or
 * anything else named so) already starts with. */
struct near_names {
	time_t now, newest;
	size_t plen;			/* of the listed key prefix */
	unsigned char taken[NAME_WINDOW];
};

/* the second a name spells right after NAME_PREFIX: 0, or -1 when it
 * spells none exactly */
static int name_second(const char *s, time_t *t)
{
	struct tm tm = { 0 };
	char back[32];

	if (!strptime(s, "%Y-%m-%dT%H-%M-%SZ", &tm))
		return -1;
	*t = timegm(&tm);
	name_stamp(*t, back, sizeof(back));
	return strncmp(s, back, strlen(back)) ? -1 : 0;
}

static void note_newest(struct near_names *n, const char *key)
{
	const char *base = strrchr(key, '/');
	char name[256];
	size_t len;
	int64_t t;
	int lab;

	base = base ? base + 1 : key;
	len = strlen(base);
	if (len < 5 || len - 4 >= sizeof(name) ||
	    strcmp(base + len - 4, ".ocb"))
		return;
	memcpy(name, base, len - 4);
	name[len - 4] = '\0';
	if (ocb_backup_name_time(name, &t, &lab) == 0 && t >= n->now &&
	    t <= n->now + NAME_STEPS && t > n->newest)
		n->newest = (time_t)t;
}

static int note_near(void *arg, const struct ocb_list_entry *e)
{
	struct near_names *n = arg;
	time_t t;

	if (!e->is_prefix)
		note_newest(n, e->key);
	if (strlen(e->key) > n->plen &&
	    name_second(e->key + n->plen, &t) == 0 && t >= n->now &&
	    t - n->now < NAME_WINDOW)
		n->taken[t - n->now] = 1;
	return 0;
}

/*
 * Names have one-second steps: a backup taken in the same second as an
 * earlier one, labelled or not, takes the next free second, so that names
 * order backups by time (the final conditional create still refuses a
 * name taken meanwhile).  *t: now in, the backup's time out.  0, -EEXIST
 * when every second it may take is taken, or a negative errno.
 */
static int name_time(struct ocb_store *s, const char *prefix, time_t *t)
{
	struct near_names n = { .now = *t };
	char p[OCB_KEY_MAX];
	time_t from;
	int i, r;

	if (snprintf(p, sizeof(p), "%s/" NAME_PREFIX, prefix) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	n.plen = strlen(p);
	r = s->ops->list(s, p, "/", NULL, note_near, &n);
	if (r < 0)
		return r;
	from = n.newest ? n.newest + 1 : n.now;
	for (i = 0; i <= NAME_STEPS; i++) {
		if (!n.taken[from - n.now + i]) {
			*t = from + i;
			return 0;
		}
	}
	return -EEXIST;
}

/* the backup's time, name and key */
static int name_backup(struct bk *b, struct ocb_store *s, char *name,
		       size_t name_size, char *key, size_t key_size)
{
	const struct ocb_archive_write_opts *o = b->o;
	int r;

	b->hdr.created = o->created ? o->created : time(NULL);
	if (!o->created) {
		time_t t = (time_t)b->hdr.created;

		r = name_time(s, o->prefix, &t);
		if (r < 0)
			return r;
		b->hdr.created = t;
	}
	backup_name(o, (time_t)b->hdr.created, name, name_size);
	if (snprintf(key, key_size, "%s/%s.ocb", o->prefix, name) >=
	    (int)key_size)
		return -ENAMETOOLONG;
	return 0;
}

/* the data key, wrapped for the name (the data key is bound to it); a
 * backup building on a base wraps it like the base's (a passphrase's
 * salt is reused, so reading the chain costs one scrypt) */
static int wrap_key(struct bk *b, const char *name)
{
	const struct ocb_archive_write_opts *o = b->o;
	struct ocb_key_ctx kc = { .name = name, .instance = o->instance };
	struct ocb_header bh;
	struct ocb_key_block blk;
	uint8_t hbuf[OCB_HEADER_SIZE];
	int r;

	if (b->base && ocb_archive_native_header(b->base, hbuf) == 0 &&
	    ocb_header_decode(hbuf, &bh) == 0)
		r = ocb_keyprov_wrap_like(o->kp, b->hdr.backup_id, &kc,
					  &bh.key, &b->dk, &blk);
	else
		r = ocb_keyprov_wrap(o->kp, b->hdr.backup_id, &kc, &b->dk,
				     &blk);
	if (r == -EOPNOTSUPP)
		ocb_err("key provider %s is not available in this build",
			ocb_key_type_name(ocb_keyprov_type(o->kp)));
	if (r < 0)
		return r;
	b->hdr.key = blk;
	return 0;
}

/* ---- the archive writer's run ------------------------------------------------ */

static int finish(struct bk *b, const char *name, const char *host)
{
	struct ocb_catb_info info = {
		.name = name, .instance = b->o->instance, .host = host,
		.label = b->o->label, .key_provider =
			ocb_key_type_name(ocb_keyprov_type(b->o->kp)),
		.prefix = b->o->prefix,
		.created = b->hdr.created, .frame_size = OCB_FRAME_SIZE,
		.stream_size = b->stream_off, .stored_size = b->phys_off,
		.base = b->bc ? b->bc->name : NULL, .depth = b->depth,
		.full_created = b->full_created,
		.header_key = b->hkey,
		.warnings = b->prog.warnings > UINT32_MAX ? UINT32_MAX :
			(uint32_t)b->prog.warnings,
	};
	return ocb_object_out_end(&b->out, &b->cat, &info, b->phys_off);
}

/* buffers, the catalog with its root, leftovers of a killed backup swept,
 * and the totals when asked for */
static int writer_init(struct bk *b)
{
	const struct ocb_archive_write_opts *o = b->o;
	int r;

	skip_init(b);		/* !b->skip: -ENOMEM below */
	b->out.frame = malloc(OCB_FRAME_SIZE);
	b->out.sealed = malloc(ocb_frame_bound(OCB_FRAME_SIZE));
	b->readbuf = malloc(READ_CHUNK);
	b->small = malloc(SMALL_MAX);
	b->hold = malloc(HOLD_MAX);
	b->cctx = ZSTD_createCCtx();
	r = top_names(o->sources, o->nsources, &b->tops);
	if (r == 0)
		r = ocb_catb_new(&b->cat);
	if (r == 0 && (!b->skip || !b->out.frame || !b->out.sealed || !b->readbuf ||
		       !b->small || !b->hold || !b->cctx))
		r = -ENOMEM;
	if (r < 0)
		return r;
	ocb_catb_root(b->cat, 0755, b->hdr.created);
	/* the group and role authenticated with the catalog: metadata alone
	 * is anyone's word (docs/FORMAT.md) */
	if (o->group)
		r = ocb_catb_root_xattr(b->cat, OCB_XATTR_GROUP, o->group,
					strlen(o->group));
	if (r == 0 && o->group && o->role)
		r = ocb_catb_root_xattr(b->cat, OCB_XATTR_ROLE, o->role,
					strlen(o->role));
	if (r < 0)
		return r;
	if (o->tmp_dir)		/* spool files of a killed backup */
		ocb_spool_sweep(o->tmp_dir);
	if (o->count_first)
		count_sources(b);
	return 0;
}

/* metadata for `ocb list` without a GET.  Entries and size are only known
 * at the end: the catalog has them; for list, the object size stands in
 * for the size. */
static void object_meta(struct bk *b, struct ocb_meta *meta, const char *host)
{
	const struct ocb_archive_write_opts *o = b->o;
	char num[32];

	snprintf(num, sizeof(num), "%d", OCB_FORMAT_VERSION);
	ocb_meta_set(meta, "ocb-format", num);
	snprintf(num, sizeof(num), "%" PRId64, b->hdr.created);
	ocb_meta_set(meta, "created", num);
	ocb_meta_set(meta, "instance", o->instance ? o->instance : "");
	ocb_meta_set(meta, "host", host);
	ocb_meta_set(meta, "key-provider",
		     ocb_key_type_name(ocb_keyprov_type(o->kp)));
	if (o->label)
		ocb_meta_set(meta, "label", o->label);
	if (b->bc)
		ocb_meta_set(meta, "base", b->bc->name);
	if (o->group)
		ocb_meta_set(meta, "group", o->group);
	if (o->role)
		ocb_meta_set(meta, "role", o->role);
	if (o->state_snapshot) {
		char sp[1024];

		if (backup_path(o, b->tops, o->state_snapshot, sp,
				sizeof(sp)) == 0)
			ocb_meta_set(meta, "state-snapshot", sp);
		else
			warn(b, o->state_snapshot, "state snapshot is not "
			     "inside a source; not recorded");
	}
}

/* the upload with the header first, and the pax writer over the frames */
static int stream_open(struct bk *b, struct ocb_store *s, const char *key,
		       const struct ocb_put_opts *put)
{
	uint8_t hbuf[OCB_HEADER_SIZE];
	int r;

	b->out.dk = b->dk;
	b->out.hdr = &b->hdr;
	b->out.cctx = b->cctx;
	b->out.level = b->level;
	r = ocb_multipart_new(s, key, put, NULL, &b->out.w);
	if (r < 0)
		return r;
	ocb_header_encode(&b->hdr, hbuf);
	r = ocb_multipart_write(b->out.w, hbuf, sizeof(hbuf));
	if (r < 0)
		return r;
	b->out.obj_off = sizeof(hbuf);

	b->disk = archive_read_disk_new();
	b->ar = archive_write_new();
	if (!b->disk || !b->ar)
		return -ENOMEM;
	b->xattr_lifo = xattr_lifo();
	archive_read_disk_set_standard_lookup(b->disk);
	/* ACLs, file flags and sparse maps are dropped from every entry
	 * (below, and ACLs' xattrs in drop_own_xattrs): not read at all,
	 * which spares an open, an ioctl, a stat, a getxattr and a few
	 * lseeks per file, most of an unchanged backup's system time */
	archive_read_disk_set_behavior(b->disk, ARCHIVE_READDISK_MAC_COPYFILE |
				       ARCHIVE_READDISK_NO_ACL |
				       ARCHIVE_READDISK_NO_FFLAGS |
				       ARCHIVE_READDISK_NO_SPARSE);
	archive_write_set_format_pax(b->ar);
	/* extended attributes only as SCHILY.xattr.*, which GNU tar and
	 * libarchive both read (libarchive's own LIBARCHIVE.xattr.* copy
	 * made `tar -x --xattrs` warn on every file that has one) */
	if (archive_write_set_format_option(b->ar, "pax", "xattrheader",
					    "SCHILY") != ARCHIVE_OK)
		return ar_err(b, "xattrheader");
	/*
	 * Names are kept as bytes.  libarchive writes a name it cannot
	 * convert to UTF-8 through the locale (any non-ASCII name in the C
	 * locale) unconverted, with hdrcharset=BINARY in that entry's pax
	 * header only; setting hdrcharset for the whole stream would put the
	 * keyword, unknown to GNU tar, on every entry.
	 */
	archive_write_set_bytes_per_block(b->ar, 0);
	if (archive_write_open2(b->ar, b, NULL, stream_write, NULL, NULL) !=
	    ARCHIVE_OK)
		return ar_err(b, "open");
	return 0;
}

/* source i, as the top-level directory b->tops[i] */
static int write_source(struct bk *b, size_t i)
{
	const struct ocb_archive_write_opts *o = b->o;
	const char *base;
	char top[256];
	struct stat st;
	char *dir = strdup(o->sources[i]), *slash;
	uint32_t seq = 0;
	int pfd, r;

	if (!dir)
		return -ENOMEM;
	if (lstat(o->sources[i], &st) < 0) {
		warn(b, o->sources[i], "source does not exist; skipped");
		free(dir);
		return 0;
	}
	snprintf(top, sizeof(top), "%s", b->tops[i]);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (pfd < 0) {
		warn(b, o->sources[i], "cannot open its parent; skipped");
		return 0;
	}
	/* the top-level entry is named top, not the base name */
	base = strrchr(o->sources[i], '/');
	base = base && base[1] ? base + 1 : o->sources[i];
	r = add_entry(b, pfd, base, top, o->sources[i], top, 0, &st, &seq,
		      NULL);
	close(pfd);
	if (r == 0)
		r = ocb_catb_add_source(b->cat, seq, o->source_paths ?
					o->source_paths[i] : o->sources[i]);
	return r;
}

/* the end of the stream, the catalog, header copy and trailer, and the
 * upload made visible */
static int stream_commit(struct bk *b, struct ocb_meta *meta,
			 const char *name, const char *host)
{
	char num[32];
	int r = 0;

	if (archive_write_close(b->ar) != ARCHIVE_OK)
		r = ar_err(b, "close");
	if (r == 0 && cancelled(b))
		r = -ECANCELED;
	if (r == 0) {
		/* a hint for `ocb list`: stored when the object is one put
		 * (the metadata of a multipart upload was sent when it was
		 * created, before the count was known); the catalog has it */
		snprintf(num, sizeof(num), "%" PRIu64, b->prog.warnings);
		r = ocb_meta_set(meta, "warnings", num);
		snprintf(num, sizeof(num), "%" PRIu64, b->phys_off);
		r |= ocb_meta_set(meta, "new-bytes", num);
		snprintf(num, sizeof(num), "%" PRIu64, b->stream_off);
		r |= ocb_meta_set(meta, "total-bytes", num);
	}
	if (r == 0)
		r = finish(b, name, host);
	if (r == 0)
		r = ocb_multipart_commit(b->out.w);
	return r;
}

static void head_one(void *arg, size_t src)
{
	struct ref_checks *c = arg;
	struct ocb_obj_head h = { 0 };

	if (!c->keys[src])
		return;
	c->r[src] = c->s->ops->head(c->s, c->keys[src], &h);
	ocb_obj_head_release(&h);
}

/*
 * After the commit: every object the backup references must still be
 * there.  A prune keeps the newest backup and all it references, but one
 * that started before the base was the newest may delete an object this
 * backup has just referenced: that is a warning, loud, and the backup is
 * not complete (its files there read as damaged).
 */
static void check_refs(struct bk *b, struct ocb_store *s)
{
	char esc[OCB_KEY_MAX];
	struct ref_checks c = { .b = b, .s = s };
	uint32_t src, n;

	if (!b->bc)
		return;
	n = b->bc->nrefs + 1;
	c.keys = calloc(n, sizeof(*c.keys));
	c.r = calloc(n, sizeof(*c.r));
	for (src = 0; c.keys && c.r && src < n; src++) {
		const char *name = src ? b->bc->refs[src - 1].name :
			b->bc->name;
		char *key = NULL;

		if (b->bref[src] && asprintf(&key, "%s/%s.ocb", b->o->prefix,
					     name) < 0)
			key = NULL;
		c.keys[src] = key;
		if (b->bref[src] && !key)
			c.r[src] = -ENOMEM;
	}
	if (!c.keys || !c.r) {
		ocb_warn("could not check that the objects this backup "
			 "references are still there (out of memory)");
		n = 0;
	}
	/* one round trip each: at once, as a chain may have many */
	ocb_parallel_for(n, REF_CHECKS, head_one, &c, NULL);
	for (src = 0; src < n; src++) {
		const char *key = c.keys[src];
		int r = c.r[src];

		if (!key && r == 0)
			continue;
		if (!key)
			ocb_warn("could not check that an object this backup "
				 "references is still there (%s)",
				 ocb_store_strerror(r));
		else if (r == -ENOENT)
			warn(b, key, "an object this backup references was "
			     "deleted (by a prune running meanwhile): this "
			     "backup is NOT complete; take a full backup "
			     "(ocb backup --full)");
		else if (r < 0)
			ocb_warn("%s: could not check that this referenced "
				 "object is still there (%s)",
				 ocb_log_escape(esc, sizeof(esc), key),
				 ocb_store_strerror(r));
	}
	for (src = 0; c.keys && src < n; src++)
		free((void *)c.keys[src]);
	free(c.keys);
	free(c.r);
}

static void writer_release(struct bk *b, int failed)
{
	size_t i;

	if (b->ar) {
		if (failed)
			archive_write_fail(b->ar);
		archive_write_free(b->ar);
	}
	if (b->disk)
		archive_read_free(b->disk);
	ocb_multipart_free(b->out.w);	/* aborts an uncommitted upload */
	ocb_catb_free(b->cat);
	ocb_archive_free(b->base);
	free(b->bref);
	ocb_crypto_key_free(b->dk);
	ZSTD_freeCCtx(b->cctx);
	free(b->out.frame);
	free(b->out.sealed);
	free(b->readbuf);
	free(b->small);
	free(b->hold);
	ocb_hdr_mac_free(b->hmac);
	OPENSSL_cleanse(b->hkey, sizeof(b->hkey));
	free(b->skip);
	top_names_free(b->tops, b->o->nsources);
	for (i = 0; i < b->caplinks; i++)
		free(b->links[i].path);
	free(b->links);
}

int ocb_archive_write(struct ocb_store *s,
		      const struct ocb_archive_write_opts *o,
		      struct ocb_backup_result *res)
{
	struct bk b = { .o = o, .res = res };
	struct ocb_backup_result rr = { 0 };
	struct ocb_meta meta = { 0 };
	struct ocb_put_opts put = { .content_type = "application/x-ocb-backup",
				    .meta = &meta, .if_none_match = 1 };
	char host[256] = "", name[256], key[OCB_KEY_MAX];
	struct timespec t0, t1;
	size_t i;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	b.res = &rr;
	b.level = o->zstd_level > 0 ? o->zstd_level : 3;
	gethostname(host, sizeof(host) - 1);
	b.hdr.version = OCB_FORMAT_VERSION;
	b.hdr.frame_size = OCB_FRAME_SIZE;
	r = ocb_crypto_random(b.hdr.backup_id, sizeof(b.hdr.backup_id));
	if (r == 0)
		r = name_backup(&b, s, name, sizeof(name), key, sizeof(key));
	if (r < 0)
		return r;
	r = writer_init(&b);
	if (r < 0)
		goto out;
	choose_base(&b, s);
	r = header_key(&b);
	if (r == 0)
		r = wrap_key(&b, name);
	if (r < 0)
		goto out;
	object_meta(&b, &meta, host);
	if (o->put) {
		put.sse = o->put->sse;
		put.sse_kms_key_id = o->put->sse_kms_key_id;
	}
	r = stream_open(&b, s, key, &put);
	clock_gettime(CLOCK_REALTIME, &b.started);
	for (i = 0; i < o->nsources && r == 0; i++)
		r = write_source(&b, i);
	if (r == 0)
		r = stream_commit(&b, &meta, name, host);
	if (r == 0)
		check_refs(&b, s);
	if (r == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		snprintf(rr.name, sizeof(rr.name), "%s", name);
		snprintf(rr.key, sizeof(rr.key), "%s", key);
		rr.bytes_stored = b.out.obj_off;
		rr.bytes_catalog = b.out.obj_off - b.out.frames_end;
		rr.bytes_new = b.phys_off;
		rr.bytes_total = b.stream_off;
		snprintf(rr.base, sizeof(rr.base), "%s",
			 b.bc ? b.bc->name : "");
		rr.warnings = b.prog.warnings;
		rr.seconds = (double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		progress(&b, 1);
		*res = rr;
	}
out:
	writer_release(&b, r < 0);
	ocb_meta_release(&meta);
	return r;
}
