/*
 * Unit tests: whole backups on a local-directory store.  A generated tree
 * with every kind of entry is backed up and compared with the catalog and
 * the content read back, entry by entry; the tar stream of ocb_archive_cat
 * is read back with libarchive; frames are read from several threads at
 * once; the stored object is damaged in every part (never a wrong byte
 * comes out); a cancelled backup leaves nothing behind.
 */
#include "t.h"
#include "archive_ops.h"
#include "catalog.h"
#include "backup_name.h"
#include "buf.h"
#include "crypto.h"
#include "file_store.h"
#include "format.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

static char work[] = "/tmp/ocb-archive-XXXXXX";

/* snprintf into a path buffer; a test path never gets near PATH_MAX */
#define PATHF(buf, ...) do { \
	if (snprintf(buf, sizeof(buf), __VA_ARGS__) >= (int)sizeof(buf)) \
		abort(); \
} while (0)
static char src1[PATH_MAX], src2[PATH_MAX], storedir[PATH_MAX];
static char keypath[PATH_MAX], otherkey[PATH_MAX];

/* ---- the source tree ------------------------------------------------------ */

static void put_file(const char *dir, const char *rel, const void *data,
		     size_t len, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	PATHF(p, "%s/%s", dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	if (len)
		CHECK_INT(write(fd, data, len), (ssize_t)len);
	fchmod(fd, mode);
	close(fd);
}

static void mkdirs(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	PATHF(p, "%s/%s", dir, rel);
	CHECK_INT(mkdir(p, 0755), 0);
}

static void make_tree(void)
{
	char p[PATH_MAX], q[PATH_MAX], longname[256];
	size_t n = 3500000, i;
	uint8_t *big = malloc(n);
	struct timespec ts[2] = { { 1600000000, 123456789 },
				  { 1600000000, 123456789 } };
	int fd;

	mkdirs(src1, "sub");
	mkdirs(src1, "sub/deeper");
	mkdirs(src1, "empty-dir");
	put_file(src1, "config.json", "{\"a\": 1}\n", 9, 0644);
	put_file(src1, "empty", "", 0, 0644);
	put_file(src1, "secret", "token\n", 6, 0600);
	put_file(src1, "run.sh", "#!/bin/sh\n", 10, 0755);
	for (i = 0; i < n; i++)		/* compressible, several frames */
		big[i] = (uint8_t)("log line %d\n"[i % 12] + (i / 100000));
	put_file(src1, "sub/text.log", big, n, 0644);
	CHECK_INT(ocb_crypto_random(big, n), 0);	/* stored raw */
	put_file(src1, "sub/random.bin", big, n, 0644);
	put_file(src1, "sub/deeper/caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac.md",
		 "unicode\n", 8, 0644);
	memset(longname, 'n', 255);
	longname[255] = '\0';
	PATHF(p, "sub/%s", longname);
	put_file(src1, p, "long\n", 5, 0644);
	/* hardlinks: three names, one inode */
	put_file(src1, "sub/linked", "shared content\n", 15, 0644);
	PATHF(p, "%s/sub/linked", src1);
	PATHF(q, "%s/link2", src1);
	CHECK_INT(link(p, q), 0);
	PATHF(q, "%s/sub/deeper/link3", src1);
	CHECK_INT(link(p, q), 0);
	/* symlinks, one dangling */
	PATHF(p, "%s/sub/to-config", src1);
	CHECK_INT(symlink("../config.json", p), 0);
	PATHF(p, "%s/dangling", src1);
	CHECK_INT(symlink("does/not/exist", p), 0);
	/* a fifo, a socket-free tree otherwise */
	PATHF(p, "%s/fifo", src1);
	CHECK_INT(mkfifo(p, 0640), 0);
	/* sparse: a hole then 3 bytes */
	PATHF(p, "%s/sparse.img", src1);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0 && pwrite(fd, "end", 3, 5000000) == 3);
	close(fd);
	/* xattrs on a file and on a directory */
	PATHF(p, "%s/config.json", src1);
	CHECK_INT(setxattr(p, "user.origin", "test-suite", 10, 0), 0);
	CHECK_INT(setxattr(p, "user.empty", "", 0, 0), 0);
	PATHF(p, "%s/sub", src1);
	CHECK_INT(setxattr(p, "user.dirattr", "d\0x", 3, 0), 0);
	/* excluded and skipped */
	put_file(src1, "cache.tmp", "x", 1, 0644);
	mkdirs(src1, "mnt");
	put_file(src1, "mnt/inside", "x", 1, 0644);
	/* nanosecond mtimes (files last: directories change as we go) */
	PATHF(p, "%s/config.json", src1);
	CHECK_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
	PATHF(p, "%s/sub/deeper", src1);
	CHECK_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
	/* the second source has the same top-level name */
	put_file(src2, "other", "other source\n", 13, 0644);
	free(big);
}

static void make_key(const char *path)
{
	uint8_t k[32];

	CHECK_INT(ocb_crypto_random(k, 32), 0);
	put_file("/", path + 1, k, 32, 0600);
}

/* ---- comparing ------------------------------------------------------------ */

struct cmp {
	struct ocb_archive *a;
	unsigned entries, files, bad;
	/* hardlinks: first inode seen */
	ino_t ino[16];
	uint32_t idx[16];
	unsigned nino;
};

#define BAD(c, path, what) do { (c)->bad++; \
	fprintf(stderr, "%s: %s\n", path, what); } while (0)

static void cmp_content(struct cmp *c, const char *path, uint32_t idx,
			const struct ocb_entry *e)
{
	uint8_t *want = malloc(e->size + 1), *got = malloc(e->size + 1);
	uint8_t sha[32];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0 || read(fd, want, e->size + 1) != (ssize_t)e->size)
		BAD(c, path, "cannot read the source");
	n = ocb_archive_pread(c->a, idx, got, e->size + 1, 0);
	if (n != (ssize_t)e->size || memcmp(want, got, e->size) != 0)
		BAD(c, path, "content differs");
	ocb_crypto_sha256(want, e->size, sha);
	if (memcmp(sha, e->sha256, 32) != 0)
		BAD(c, path, "sha256 differs");
	/* an unaligned read in the middle */
	if (e->size > 3) {
		n = ocb_archive_pread(c->a, idx, got, e->size / 2, e->size / 3);
		if (n != (ssize_t)(e->size / 2) ||
		    memcmp(got, want + e->size / 3, e->size / 2) != 0)
			BAD(c, path, "partial read differs");
	}
	if (fd >= 0)
		close(fd);
	free(want);
	free(got);
}

static void cmp_xattrs(struct cmp *c, const char *path,
		       const struct ocb_entry *e)
{
	char names[4096], val[256];
	ssize_t n = llistxattr(path, names, sizeof(names)), i;
	unsigned want = 0;

	for (i = 0; n > 0 && i < n; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t vl;
		uint32_t k;
		int found = 0;

		if (strncmp(names + i, "user.", 5) != 0)
			continue;
		want++;
		vl = lgetxattr(path, names + i, val, sizeof(val));
		for (k = 0; k < e->nxattrs; k++) {
			const struct ocb_xattr *x =
				ocb_archive_xattr(c->a, e->xattr_first + k);

			if (x && !strcmp(x->name, names + i) &&
			    (ssize_t)x->len == vl && !memcmp(x->value, val, x->len))
				found = 1;
		}
		if (!found)
			BAD(c, path, "xattr missing or different");
	}
	if (want != e->nxattrs)
		BAD(c, path, "xattr count differs");
}

/* compare source path (entry idx of the archive) and, for a directory,
 * everything below it, except names in skip */
static void cmp_tree(struct cmp *c, const char *path, uint32_t idx)
{
	const struct ocb_entry *e = ocb_archive_entry(c->a, idx);
	struct stat st;

	c->entries++;
	if (!e || lstat(path, &st) < 0) {
		BAD(c, path, "missing");
		return;
	}
	if (e->mode != st.st_mode || e->uid != st.st_uid ||
	    e->gid != st.st_gid)
		BAD(c, path, "mode or owner differs");
	if (e->mtime != st.st_mtim.tv_sec ||
	    e->mtime_nsec != (uint32_t)st.st_mtim.tv_nsec)
		BAD(c, path, "mtime differs");
	if (S_ISREG(st.st_mode)) {
		unsigned k;

		c->files++;
		if (e->size != (uint64_t)st.st_size)
			BAD(c, path, "size differs");
		if (e->nlink != st.st_nlink)
			BAD(c, path, "link count differs");
		for (k = 0; k < c->nino && c->ino[k] != st.st_ino; k++)
			;
		if (k < c->nino) {
			if (e->ino != c->ino[k] - c->ino[k] + c->idx[k])
				BAD(c, path, "hardlink not kept");
		} else if (st.st_nlink > 1 && c->nino < 16) {
			c->ino[c->nino] = st.st_ino;
			c->idx[c->nino++] = e->ino;
		}
		cmp_content(c, path, idx, e);
	} else if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlink(path, t, sizeof(t) - 1);

		t[n > 0 ? n : 0] = '\0';
		if (!e->target || strcmp(e->target, t) != 0 ||
		    e->size != (uint64_t)n)
			BAD(c, path, "symlink target differs");
	}
	if (!S_ISLNK(st.st_mode))
		cmp_xattrs(c, path, e);
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		uint32_t seen = 0;

		while (d && (de = readdir(d)) != NULL) {
			char p[PATH_MAX];
			uint32_t child;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    !strcmp(de->d_name, "cache.tmp") ||
			    !strcmp(de->d_name, "mnt"))
				continue;
			PATHF(p, "%s/%s", path, de->d_name);
			if (ocb_archive_lookup(c->a, idx, de->d_name, &child) < 0) {
				BAD(c, p, "not in the backup");
				continue;
			}
			seen++;
			cmp_tree(c, p, child);
		}
		if (d)
			closedir(d);
		if (seen != e->nchildren)
			BAD(c, path, "the backup has other entries");
	}
}

/* ---- helpers ---------------------------------------------------------- */

static int backup_as(struct ocb_store *s, struct ocb_keyprov *kp,
		     const char *label, const volatile int *cancel, int full,
		     struct ocb_backup_result *res)
{
	const char *sources[2] = { src1, src2 };
	const char *excludes[1] = { "*.tmp" };
	char skip[PATH_MAX];
	const char *skips[1] = { skip };
	struct ocb_archive_write_opts o = {
		.sources = sources, .nsources = 2, .excludes = excludes,
		.nexcludes = 1, .skip = skips, .nskip = 1,
		.prefix = "backups/instance-t", .instance = "t", .kp = kp,
		.label = label, .cancel = cancel, .full = full,
	};

	PATHF(skip, "%s/mnt", src1);
	return ocb_archive_write(s, &o, res);
}

/* a backup as `ocb backup` takes it: incremental when it can be */
static int backup(struct ocb_store *s, struct ocb_keyprov *kp,
		  const char *label, const volatile int *cancel,
		  struct ocb_backup_result *res)
{
	return backup_as(s, kp, label, cancel, 0, res);
}

static int mem_sink(void *arg, const void *p, size_t n)
{
	struct ocb_buf *b = arg;

	return ocb_buf_append(b, p, n);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	p = malloc((size_t)st.st_size);
	if (p && read(fd, p, (size_t)st.st_size) != st.st_size) {
		free(p);
		p = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void write_object(const char *key, const uint8_t *p, size_t len)
{
	char path[PATH_MAX];
	int fd;

	PATHF(path, "%s/%s", storedir, key);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, p, len) == (ssize_t)len);
	if (fd >= 0)
		close(fd);
}

/* ---- the tests ---------------------------------------------------------- */

static void test_roundtrip(struct ocb_store *s, struct ocb_keyprov *kp,
			   const char *key)
{
	struct ocb_archive *a = NULL;
	struct cmp c = { 0 };
	uint32_t top1, top2, e1;
	const char *p1;
	const struct ocb_archive_info *info;

	CHECK_INT(ocb_archive_open(s, key, kp, &a), 0);
	if (!a)
		return;
	c.a = a;
	info = ocb_archive_info(a);
	CHECK_STR(info->instance, "t");
	CHECK_STR(info->key_provider, "keyfile");
	CHECK_INT(info->frame_size, OCB_FRAME_SIZE);
	CHECK(info->nframes >= 7);
	/* two sources, both named "src" without dots: src and src-2 */
	CHECK_INT(ocb_archive_nsources(a), 2);
	CHECK_INT(ocb_archive_resolve(a, "src", &top1), 0);
	CHECK_INT(ocb_archive_resolve(a, "src-2", &top2), 0);
	CHECK_INT(ocb_archive_source(a, 0, &e1, &p1), 0);
	CHECK_INT(e1, top1);
	CHECK_STR(p1, src1);
	CHECK_INT(ocb_archive_source(a, 1, &e1, &p1), 0);
	CHECK_INT(e1, top2);
	CHECK_STR(p1, src2);
	CHECK_INT(ocb_archive_source(a, 2, &e1, &p1), -ENOENT);
	CHECK_INT(ocb_archive_entry(a, OCB_ROOT)->nchildren, 2);
	cmp_tree(&c, src1, top1);
	cmp_tree(&c, src2, top2);
	CHECK_INT(c.bad, 0);
	CHECK_INT(c.entries + 1, ocb_archive_count(a));	/* + the root */
	CHECK(c.files >= 12);
	{
		uint32_t x;

		CHECK_INT(ocb_archive_resolve(a, "src/cache.tmp", &x), -ENOENT);
		CHECK_INT(ocb_archive_resolve(a, "src/mnt", &x), -ENOENT);
		CHECK_INT(ocb_archive_resolve(a, "src/config.json/x", &x),
			  -ENOTDIR);
		CHECK_INT(ocb_archive_resolve(a, "/src//sub/", &x), 0);
	}
	ocb_archive_free(a);
}

/* the tar stream is a tar stream: libarchive reads back the same tree */
static void test_cat_is_tar(struct ocb_archive *a, const struct ocb_buf *tar)
{
	struct archive *r = archive_read_new();
	struct archive_entry *ae;
	unsigned n = 0, bad = 0;

	archive_read_support_format_tar(r);
	CHECK_INT(archive_read_open_memory(r, tar->data, tar->len), ARCHIVE_OK);
	while (archive_read_next_header(r, &ae) == ARCHIVE_OK) {
		const char *path = archive_entry_pathname(ae);
		uint32_t idx;
		const struct ocb_entry *e;

		n++;
		if (ocb_archive_resolve(a, path, &idx) < 0) {
			fprintf(stderr, "tar entry %s not in the catalog\n", path);
			bad++;
			continue;
		}
		e = ocb_archive_entry(a, idx);
		/* a tar hardlink entry has no file type of its own */
		if ((uint32_t)archive_entry_mode(ae) != (archive_entry_hardlink(ae) ?
							e->mode & 07777 : e->mode) ||
		    archive_entry_mtime(ae) != e->mtime ||
		    (uint32_t)archive_entry_mtime_nsec(ae) != e->mtime_nsec) {
			fprintf(stderr, "tar entry %s differs: mode %o/%o "
				"mtime %lld.%ld/%lld.%u\n", path,
				(unsigned)archive_entry_mode(ae), e->mode,
				(long long)archive_entry_mtime(ae),
				archive_entry_mtime_nsec(ae),
				(long long)e->mtime, e->mtime_nsec);
			bad++;
		}
		if (e->type == OCB_ENTRY_FILE && !archive_entry_hardlink(ae)) {
			uint8_t *buf = malloc(e->size + 1);
			la_ssize_t got = archive_read_data(r, buf, e->size + 1);

			/* the catalog's offset is where the data is */
			if (got != (la_ssize_t)e->size ||
			    (e->size && memcmp(buf, (uint8_t *)tar->data +
					       e->data_off, e->size) != 0)) {
				fprintf(stderr, "tar data of %s differs\n", path);
				bad++;
			}
			free(buf);
		}
	}
	CHECK_INT(n + 1, ocb_archive_count(a));
	CHECK_INT(bad, 0);
	archive_read_free(r);
}

struct reader {
	struct ocb_archive *a;
	const struct ocb_buf *tar;
	uint32_t start;
	int bad;
};

static int reader_cb(void *arg, uint32_t frame, const void *data, size_t len)
{
	struct reader *rd = arg;
	uint64_t off = (uint64_t)frame * OCB_FRAME_SIZE;

	if (off + len > rd->tar->len ||
	    memcmp((uint8_t *)rd->tar->data + off, data, len) != 0)
		rd->bad++;
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint32_t nf = ocb_archive_info(rd->a)->nframes, k, round;

	for (round = 0; round < 4; round++)
		for (k = 0; k < nf; k++) {
			uint32_t f = (rd->start + k * 3) % nf;
			uint32_t n = nf - f < 2 ? nf - f : 2;

			if (ocb_archive_read_frames(rd->a, f, n, reader_cb, rd) < 0)
				rd->bad++;
		}
	return NULL;
}

static void test_cat_and_threads(struct ocb_store *s, struct ocb_keyprov *kp,
				 const char *key, struct ocb_buf *tar)
{
	struct ocb_archive *a = NULL;
	struct reader rd[4];
	pthread_t th[4];
	int i;

	CHECK_INT(ocb_archive_open(s, key, kp, &a), 0);
	if (!a)
		return;
	CHECK_INT(ocb_archive_cat(a, mem_sink, tar), 0);
	CHECK_INT(tar->len, ocb_archive_info(a)->stream_size);
	test_cat_is_tar(a, tar);
	for (i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .a = a, .tar = tar, .start = (uint32_t)i };
		CHECK_INT(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(rd[i].bad, 0);
	}
	CHECK_INT(ocb_archive_read_frames(a, ocb_archive_info(a)->nframes, 1,
					  reader_cb, &rd[0]), -EINVAL);
	ocb_archive_free(a);
}

/*
 * Damage the object: opening fails, or reading fails; what came out
 * before the failure is a prefix of the true stream.
 */
static int damaged(struct ocb_store *s, struct ocb_keyprov *kp,
		   const char *key, const struct ocb_buf *good)
{
	struct ocb_archive *a = NULL;
	struct ocb_buf out;
	int r;

	r = ocb_archive_open(s, key, kp, &a);
	if (r < 0)
		return r;
	ocb_buf_init(&out, good->len + 1);
	r = ocb_archive_cat(a, mem_sink, &out);
	CHECK(out.len <= good->len && (out.len == 0 ||
	      memcmp(out.data, good->data, out.len) == 0));
	if (r == 0)
		CHECK(out.len == good->len);
	ocb_buf_release(&out);
	ocb_archive_free(a);
	return r;
}

/* the whole stream of the backup at key into out: 0 or an error */
static int cat_all(struct ocb_store *s, struct ocb_keyprov *kp,
		   const char *key, struct ocb_buf *out)
{
	struct ocb_archive *a = NULL;
	int r = ocb_archive_open(s, key, kp, &a);

	ocb_buf_init(out, 256u << 20);
	if (r == 0)
		r = ocb_archive_cat(a, mem_sink, out);
	ocb_archive_free(a);
	return r;
}

/*
 * An incremental backup (key3) of the tree unchanged since the full one
 * at key2: it stores almost nothing, refers to key2, reads as the same
 * stream, and fails (never other bytes) once key2's object is replaced.
 */
static void test_incremental(struct ocb_store *s, struct ocb_keyprov *kp,
			     const char *key1, const char *key2,
			     const struct ocb_backup_result *res3)
{
	struct ocb_buf t2, t3;
	struct ocb_archive *a = NULL;
	const struct ocb_archive_info *in;
	const char *name = NULL;
	const uint8_t *id = NULL;
	char p1[PATH_MAX], p2[PATH_MAX];
	uint8_t *o1, *o2;
	size_t l1, l2;

	CHECK_INT(cat_all(s, kp, key2, &t2), 0);
	CHECK_INT(cat_all(s, kp, res3->key, &t3), 0);
	CHECK(t2.len == t3.len && memcmp(t2.data, t3.data, t2.len) == 0);
	CHECK(res3->bytes_total == t3.len);
	CHECK(res3->bytes_new * 20 < res3->bytes_total);
	CHECK_INT(ocb_archive_open(s, res3->key, kp, &a), 0);
	if (a) {
		in = ocb_archive_info(a);
		CHECK_INT(in->format_version, 4);
		CHECK_INT(in->depth, 1);
		CHECK_INT(in->nrefs, 1);
		CHECK(strstr(key2, in->base) != NULL && in->base[0]);
		CHECK_INT(in->stored_size, res3->bytes_new);
		CHECK_INT(ocb_archive_ref(a, 0, &name, &id), 0);
		CHECK(name && strstr(key2, name) != NULL);
		CHECK_INT(ocb_archive_ref(a, 1, &name, &id), -ENOENT);
		CHECK_INT(ocb_archive_ref_bytes_read(a), 0);
		{
			struct ocb_verify_result vr;

			CHECK_INT(ocb_archive_verify(a, &vr), 0);
			CHECK_INT(vr.bad_files, 0);
		}
		CHECK(ocb_archive_ref_bytes_read(a) > 0);
		ocb_archive_free(a);
	}
	/* the referenced object replaced by another backup's */
	PATHF(p1, "%s/%s", storedir, key1);
	PATHF(p2, "%s/%s", storedir, key2);
	o1 = read_file(p1, &l1);
	o2 = read_file(p2, &l2);
	CHECK(o1 && o2);
	if (o1 && o2) {
		write_object(key2, o1, l1);
		CHECK_INT(damaged(s, kp, res3->key, &t3), -EBADMSG);
		write_object(key2, o2, l2);
		CHECK_INT(damaged(s, kp, res3->key, &t3), 0);
	}
	free(o1);
	free(o2);
	ocb_buf_release(&t2);
	ocb_buf_release(&t3);
}

#define BLK (64 * 1024)
#define BIG_BLOCKS 64		/* a 4 MiB file */

static int blk_backup(struct ocb_store *s, struct ocb_keyprov *kp,
		      const char *dir, int full, struct ocb_backup_result *res)
{
	const char *sources[1] = { dir };
	struct ocb_archive_write_opts o = {
		.sources = sources, .nsources = 1,
		.prefix = "backups/instance-blk", .instance = "blk", .kp = kp,
		.full = full, .label = full ? "full" : NULL,
	};

	return ocb_archive_write(s, &o, res);
}

/* the block hashes of path in the backup at key: its block size and
 * count, or 0 */
static uint32_t blk_hashes(struct ocb_store *s, struct ocb_keyprov *kp,
			   const char *key, const char *path, uint32_t *count)
{
	struct ocb_archive *a = NULL;
	const struct ocb_block_hashes *h = NULL;
	uint32_t idx, bs = 0;

	*count = 0;
	if (ocb_archive_open(s, key, kp, &a) == 0 &&
	    ocb_archive_resolve(a, path, &idx) == 0 &&
	    (h = ocb_catalog_blocks(ocb_archive_catalog(a), idx)) != NULL) {
		bs = h->block_size;
		*count = h->count;
	}
	ocb_archive_free(a);
	return bs;
}

/*
 * A 4 MiB file with 3 of its 64 KiB blocks changed: the incremental
 * backup stores about those 3 blocks, reads as the same stream as a full
 * backup of the same tree, and its catalog has the file's right SHA-256.
 */
static void test_blocks(struct ocb_store *s, struct ocb_keyprov *kp)
{
	static const uint32_t changed[3] = { 0, 17, BIG_BLOCKS - 1 };
	struct ocb_backup_result r1, r2, r3;
	struct ocb_buf t2, t3;
	struct ocb_archive *a = NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	uint8_t *big = malloc((size_t)BIG_BLOCKS * BLK), sha[32];
	uint32_t i, idx, n;

	CHECK(big != NULL);
	if (!big)
		return;
	PATHF(dir, "%s/blk", work);
	mkdirs(work, "blk");
	CHECK_INT(ocb_crypto_random(big, (size_t)BIG_BLOCKS * BLK), 0);
	put_file(dir, "big", big, (size_t)BIG_BLOCKS * BLK, 0644);
	CHECK_INT(blk_backup(s, kp, dir, 0, &r1), 0);
	CHECK_STR(r1.base, "");
	CHECK_INT(blk_hashes(s, kp, r1.key, "blk/big", &n), BLK);
	CHECK_INT(n, BIG_BLOCKS);

	for (i = 0; i < 3; i++)
		CHECK_INT(ocb_crypto_random(big + (size_t)changed[i] * BLK,
					    BLK), 0);
	PATHF(path, "%s/big", dir);
	unlink(path);		/* another inode: changed for sure */
	put_file(dir, "big", big, (size_t)BIG_BLOCKS * BLK, 0644);
	{			/* the directory's atime, as the backups
				 * below leave it (relatime) */
		DIR *d = opendir(dir);

		while (d && readdir(d))
			;
		if (d)
			closedir(d);
	}
	CHECK_INT(blk_backup(s, kp, dir, 0, &r2), 0);
	CHECK(r2.base[0] && strstr(r1.key, r2.base) != NULL);
	CHECK_INT(r2.warnings, 0);
	CHECK(r2.bytes_new >= 3 * BLK && r2.bytes_new < 3 * BLK + 8192);
	CHECK_INT(blk_hashes(s, kp, r2.key, "blk/big", &n), BLK);
	CHECK_INT(n, BIG_BLOCKS);

	CHECK_INT(blk_backup(s, kp, dir, 1, &r3), 0);
	CHECK_STR(r3.base, "");
	CHECK_INT(cat_all(s, kp, r2.key, &t2), 0);
	CHECK_INT(cat_all(s, kp, r3.key, &t3), 0);
	CHECK(t2.len == t3.len && memcmp(t2.data, t3.data, t2.len) == 0);
	CHECK_INT(r2.bytes_total, t2.len);

	ocb_crypto_sha256(big, (size_t)BIG_BLOCKS * BLK, sha);
	CHECK_INT(ocb_archive_open(s, r2.key, kp, &a), 0);
	if (a) {
		struct ocb_verify_result vr;

		CHECK_INT(ocb_archive_resolve(a, "blk/big", &idx), 0);
		CHECK(memcmp(ocb_archive_entry(a, idx)->sha256, sha, 32) == 0);
		CHECK_INT(ocb_archive_verify(a, &vr), 0);
		CHECK_INT(vr.bad_files, 0);
		ocb_archive_free(a);
	}
	ocb_buf_release(&t2);
	ocb_buf_release(&t3);
	free(big);
}

/* the salt of the passphrase backup at key, into salt */
static void salt_of(struct ocb_store *s, struct ocb_keyprov *kp,
		    const char *key, uint8_t salt[16])
{
	struct ocb_archive *a = NULL;
	struct ocb_header h;
	uint8_t hb[512];

	memset(salt, 0, 16);
	CHECK_INT(ocb_archive_open(s, key, kp, &a), 0);
	if (a && ocb_archive_native_header(a, hb) == 0 &&
	    ocb_header_decode(hb, &h) == 0)
		memcpy(salt, h.key.salt, 16);
	ocb_archive_free(a);
}

/* passphrase: an incremental backup takes its base's salt, so the chain
 * costs one scrypt; a full one a fresh salt */
static void test_salt(struct ocb_store *s)
{
	struct ocb_keyprov *kp = NULL;
	struct ocb_keyprov_stats st;
	struct ocb_backup_result r1, r2, r3;
	const char *sources[1] = { src2 };
	struct ocb_archive_write_opts o = {
		.sources = sources, .nsources = 1,
		.prefix = "backups/instance-salt", .instance = "salt",
	};
	uint8_t s1[16], s2[16], s3[16];

	CHECK_INT(ocb_keyprov_passphrase_new("correct horse", 13, &kp), 0);
	if (!kp)
		return;
	o.kp = kp;
	CHECK_INT(ocb_archive_write(s, &o, &r1), 0);
	o.label = "inc";
	CHECK_INT(ocb_archive_write(s, &o, &r2), 0);
	CHECK(r2.base[0] && strstr(r1.key, r2.base) != NULL);
	ocb_keyprov_stats(kp, &st);
	CHECK_INT(st.kdf_runs, 1);
	o.label = "full";
	o.full = 1;
	CHECK_INT(ocb_archive_write(s, &o, &r3), 0);
	salt_of(s, kp, r1.key, s1);
	salt_of(s, kp, r2.key, s2);
	salt_of(s, kp, r3.key, s3);
	CHECK(memcmp(s1, s2, 16) == 0);
	CHECK(memcmp(s1, s3, 16) != 0);
	ocb_keyprov_free(kp);
}

/* frames i and i + 1 of equal sealed length (raw frames of random data) */
static int equal_frames(struct ocb_archive *a, uint64_t *off, uint32_t *len)
{
	uint32_t nf = ocb_archive_info(a)->nframes, i, l1, l2;
	uint64_t o1, o2;

	for (i = 0; i + 1 < nf; i++)
		if (ocb_archive_frame(a, i, &o1, &l1) == 0 &&
		    ocb_archive_frame(a, i + 1, &o2, &l2) == 0 && l1 == l2) {
			*off = o1;
			*len = l1;
			return 0;
		}
	return -ENOENT;
}

static void test_tamper(struct ocb_store *s, struct ocb_keyprov *kp,
			const char *key, const struct ocb_buf *good)
{
	char path[PATH_MAX], other[PATH_MAX];
	/* tampered in place: a copy elsewhere fails for its place alone */
	const char *bad = key;
	struct ocb_keyprov *wrong = NULL, *none = NULL;
	struct ocb_archive *a = NULL;
	uint8_t *obj, *m;
	size_t len, i;
	uint64_t cat_off, foff = 0;
	uint32_t flen = 0;
	struct { const char *what; size_t off; int hdr; } flips[] = {
		{ "frame 0", 512 + 100, 0 }, { "frame 0 tag", 0, 0 },
		{ "last frame", 0, 0 }, { "catalog", 0, 0 },
		{ "catalog tag", 0, 0 }, { "header copy: id", 0, 1 },
		{ "header copy: key", 0, 1 }, { "header copy: frame size", 0, 0 },
		{ "trailer: offset", 0, 0 }, { "trailer: frames", 0, 0 },
		{ "trailer: stream size", 0, 0 }, { "trailer: magic", 0, 0 },
	};
	size_t hc;

	PATHF(path, "%s/%s", storedir, key);
	obj = read_file(path, &len);
	CHECK_INT(ocb_archive_open(s, key, kp, &a), 0);
	CHECK(obj != NULL && a != NULL);
	if (!obj || !a)
		goto out;
	CHECK_INT(equal_frames(a, &foff, &flen), 0);
	CHECK_INT(ocb_archive_frame(a, 0, &cat_off, &flen), 0);
	CHECK_INT(cat_off, 512);
	flips[1].off = 512 + flen - 3;
	CHECK_INT(equal_frames(a, &foff, &flen), 0);
	ocb_archive_free(a);
	a = NULL;
	cat_off = ocb_get64(obj + len - OCB_TRAILER_SIZE + 16);
	hc = len - OCB_TRAILER_SIZE - OCB_HEADER_SIZE;
	flips[2].off = cat_off - 30;
	flips[3].off = cat_off + 10;
	flips[4].off = hc - 5;
	flips[5].off = hc + 20;
	flips[6].off = hc + 80;
	flips[7].off = hc + 33;
	flips[8].off = len - OCB_TRAILER_SIZE + 16;
	flips[9].off = len - OCB_TRAILER_SIZE + 56;
	flips[10].off = len - OCB_TRAILER_SIZE + 48;
	flips[11].off = len - OCB_TRAILER_SIZE + 2;
	m = malloc(len + 1);
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		int r;

		memcpy(m, obj, len);
		m[flips[i].off] ^= 0x01;
		write_object(bad, m, len);
		r = damaged(s, kp, bad, good);
		/* a changed backup id or wrapped key cannot unwrap the key */
		if (r != -EBADMSG && !(flips[i].hdr && r == -ENOKEY)) {
			fprintf(stderr, "tamper %s: %d\n", flips[i].what, r);
			CHECK(0);
		}
	}
	/* two frames swapped */
	memcpy(m, obj, len);
	memcpy(m + foff, obj + foff + flen, flen);
	memcpy(m + foff + flen, obj + foff, flen);
	CHECK(memcmp(m, obj, len) != 0);
	write_object(bad, m, len);
	CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	/* one frame repeated in place of the next */
	memcpy(m, obj, len);
	memcpy(m + foff + flen, obj + foff, flen);
	write_object(bad, m, len);
	CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	/* truncated, extended, cut short, emptied */
	write_object(bad, obj, len - 100);
	CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	memcpy(m, obj, len);
	m[len] = 0;
	write_object(bad, m, len + 1);
	CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	write_object(bad, obj, 600);
	CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	write_object(bad, m, 0);
	CHECK(damaged(s, kp, bad, good) < 0);
	write_object(key, obj, len);	/* the intact object again */
	/* the wrong key, the wrong provider, no object */
	CHECK_INT(ocb_keyprov_keyfile_new(otherkey, &wrong), 0);
	CHECK_INT(damaged(s, wrong, key, good), -ENOKEY);
	CHECK_INT(ocb_keyprov_none_new(&none), 0);
	CHECK_INT(damaged(s, none, key, good), -ENOKEY);
	CHECK_INT(damaged(s, kp, "backups/instance-t/missing.ocb", good),
		  -ENOENT);
	/* format 2 binds the name and the prefix: the intact object under a
	 * newer name, or in another instance's prefix, is refused */
	CHECK_INT(damaged(s, kp, key, good), 0);
	write_object("backups/instance-t/openclaw-aws-backup-2099-01-01T00-00-00Z.ocb",
		     obj, len);
	CHECK_INT(damaged(s, kp, "backups/instance-t/openclaw-aws-backup-"
			  "2099-01-01T00-00-00Z.ocb", good), -EBADMSG);
	PATHF(path, "%s/backups/instance-u", storedir);
	mkdir(path, 0755);
	PATHF(other, "backups/instance-u/%s", strrchr(key, '/') + 1);
	write_object(other, obj, len);
	CHECK_INT(damaged(s, kp, other, good), -EBADMSG);
	s->ops->del(s, other);
	s->ops->del(s, "backups/instance-t/openclaw-aws-backup-2099-01-01T00-00-00Z.ocb");
	ocb_keyprov_free(wrong);
	ocb_keyprov_free(none);
	free(m);
out:
	ocb_archive_free(a);
	free(obj);
}

/* a frame of another backup of the same tree, at the same place and of
 * the same length, under the same master key */
static void test_splice(struct ocb_store *s, struct ocb_keyprov *kp,
			const char *key1, const char *key2,
			const struct ocb_buf *good)
{
	const char *bad = "backups/instance-t/spliced.ocb";
	char p1[PATH_MAX], p2[PATH_MAX];
	struct ocb_archive *a = NULL;
	uint8_t *o1, *o2;
	size_t l1, l2;
	uint64_t foff = 0, cat1, cat2;
	uint32_t flen = 0;

	PATHF(p1, "%s/%s", storedir, key1);
	PATHF(p2, "%s/%s", storedir, key2);
	o1 = read_file(p1, &l1);
	o2 = read_file(p2, &l2);
	CHECK_INT(ocb_archive_open(s, key2, kp, &a), 0);
	CHECK(o1 && o2 && a);
	if (!o1 || !o2 || !a)
		goto out;
	CHECK_INT(equal_frames(a, &foff, &flen), 0);
	cat1 = ocb_get64(o1 + l1 - OCB_TRAILER_SIZE + 16);
	cat2 = ocb_get64(o2 + l2 - OCB_TRAILER_SIZE + 16);
	CHECK(foff + flen <= cat1 && foff + flen <= cat2);
	memcpy(o2 + foff, o1 + foff, flen);
	write_object(bad, o2, l2);
	CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	/* backup 1's catalog, header copy and trailer after backup 2's
	 * frames (equal frame areas when the frame lengths agree) */
	if (cat1 == cat2 && l1 == l2) {
		memcpy(o2 + cat2, o1 + cat1, l1 - cat1);
		write_object(bad, o2, l2);
		CHECK_INT(damaged(s, kp, bad, good), -EBADMSG);
	}
out:
	ocb_archive_free(a);
	free(o1);
	free(o2);
}

/* cancelled from the progress callback once some content was written */
struct canceller {
	volatile int flag;
	unsigned calls;
};

static void cancel_progress(void *arg, const struct ocb_backup_progress *p)
{
	struct canceller *c = arg;

	c->calls++;
	if (p->bytes_done > 0)
		c->flag = 1;
}

static int cancelled_backup(struct ocb_store *s, struct ocb_keyprov *kp,
			    const char *label, int at_start)
{
	const char *sources[1] = { src1 };
	struct canceller c = { .flag = at_start };
	struct ocb_archive_write_opts o = {
		.sources = sources, .nsources = 1,
		.prefix = "backups/instance-t", .instance = "t", .kp = kp,
		.label = label, .cancel = &c.flag,
		.progress = cancel_progress, .progress_arg = &c,
	};
	struct ocb_backup_result res;
	int r = ocb_archive_write(s, &o, &res);

	CHECK(at_start || c.calls > 0);
	return r;
}

static int count_objects(void *arg, const struct ocb_list_entry *e)
{
	(*(int *)arg)++;
	return 0;
}

static int count_uploads(void *arg, const char *key, const char *id,
			 int64_t initiated)
{
	(*(int *)arg)++;
	return 0;
}

/* the time a backup's name spells */
static int64_t name_time(const struct ocb_backup_result *res)
{
	int64_t t = -1;
	int lab;

	CHECK_INT(ocb_backup_name_time(res->name, &t, &lab), 0);
	return t;
}

/* names have one-second steps: backups taken one after the other are
 * named in order, and a second some object's name already spells (any
 * object, labelled or not) is never taken again */
static void test_naming(struct ocb_store *s, struct ocb_keyprov *kp)
{
	const char *sources[1] = { src2 };
	struct ocb_archive_write_opts o = {
		.sources = sources, .nsources = 1, .prefix = "naming/instance-t",
		.instance = "t", .kp = kp,
	};
	struct ocb_backup_result a, b, c;
	int64_t planted[3];
	time_t now = time(NULL);
	char key[OCB_KEY_MAX];
	int i;

	for (i = 0; i < 3; i++) {
		time_t t = now + i;
		struct tm tm;
		char ts[32];

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H-%M-%SZ", &tm);
		snprintf(key, sizeof(key), "naming/instance-t/"
			 "openclaw-aws-backup-%s%s", ts, i == 1 ? "-x.ocb" :
			 ".partial");
		CHECK_INT(ocb_store_put_mem(s, key, "x", 1, NULL), 0);
		planted[i] = t;
	}
	CHECK_INT(ocb_archive_write(s, &o, &a), 0);
	for (i = 0; i < 3; i++)
		CHECK(name_time(&a) != planted[i]);
	CHECK(name_time(&a) > planted[1]);	/* after the newest backup */
	CHECK_INT(ocb_archive_write(s, &o, &b), 0);
	o.label = "l";
	CHECK_INT(ocb_archive_write(s, &o, &c), 0);
	CHECK(name_time(&b) > name_time(&a));
	CHECK(name_time(&c) > name_time(&b));
}

int main(void)
{
	struct ocb_store *s = NULL;
	struct ocb_keyprov *kp = NULL;
	struct ocb_backup_result res, res2, res3;
	struct ocb_buf tar;
	char k1[OCB_KEY_MAX];
	int nobj = 0, nup = 0;

	ocb_log_set_level(OCB_LOG_ERR);
	if (!mkdtemp(work))
		return 1;
	PATHF(src1, "%s/a/.src", work);
	PATHF(src2, "%s/b/src", work);
	PATHF(storedir, "%s/store", work);
	PATHF(keypath, "%s/master.key", work);
	PATHF(otherkey, "%s/other.key", work);
	mkdirs(work, "a");
	mkdirs(work, "b");
	mkdirs(work, "a/.src");
	mkdirs(work, "b/src");
	mkdirs(work, "store");
	make_tree();
	make_key(keypath);
	make_key(otherkey);
	CHECK_INT(ocb_file_store_new(storedir, &s), 0);
	CHECK_INT(ocb_keyprov_keyfile_new(keypath, &kp), 0);
	if (!s || !kp)
		return T_DONE();

	CHECK_INT(backup(s, kp, NULL, NULL, &res), 0);
	CHECK_INT(res.warnings, 0);
	CHECK(strncmp(res.key, "backups/instance-t/openclaw-aws-backup-", 39) == 0);
	PATHF(k1, "%s", res.key);
	{
		struct ocb_obj_head h = { 0 };

		CHECK_INT(s->ops->head(s, k1, &h), 0);
		CHECK_STR(ocb_meta_get(&h.meta, "ocb-format"), "4");
		CHECK_STR(ocb_meta_get(&h.meta, "key-provider"), "keyfile");
		CHECK_STR(ocb_meta_get(&h.meta, "instance"), "t");
		CHECK_INT(h.size, res.bytes_stored);
		ocb_obj_head_release(&h);
	}
	test_roundtrip(s, kp, k1);
	ocb_buf_init(&tar, 64u << 20);
	test_cat_and_threads(s, kp, k1, &tar);
	test_tamper(s, kp, k1, &tar);

	/* a second backup of the same tree: labelled, so named apart even
	 * within the same second */
	CHECK_INT(backup_as(s, kp, "second", NULL, 1, &res2), 0);
	CHECK(strstr(res2.key, "-second.ocb") != NULL);
	CHECK(strcmp(res.key, res2.key) != 0);
	CHECK_STR(res2.base, "");
	test_splice(s, kp, k1, res2.key, &tar);
	s->ops->del(s, "backups/instance-t/spliced.ocb");
	CHECK_INT(backup(s, kp, "third", NULL, &res3), 0);
	test_incremental(s, kp, k1, res2.key, &res3);
	s->ops->del(s, res3.key);

	/* cancelled: -ECANCELED, no object and no upload left */
	s->ops->del(s, "backups/instance-t/tampered.ocb");
	s->ops->del(s, "backups/instance-t/spliced.ocb");
	CHECK_INT(cancelled_backup(s, kp, "c1", 1), -ECANCELED);
	CHECK_INT(cancelled_backup(s, kp, "c2", 0), -ECANCELED);
	CHECK_INT(s->ops->list(s, "backups/instance-t/", NULL, NULL, count_objects,
			       &nobj), 0);
	CHECK_INT(nobj, 2);
	CHECK_INT(s->ops->mpu_list(s, "backups/", count_uploads, &nup), 0);
	CHECK_INT(nup, 0);
	test_naming(s, kp);
	test_blocks(s, kp);
	test_salt(s);

	ocb_buf_release(&tar);
	ocb_keyprov_free(kp);
	ocb_store_free(s);
	{
		char cmd[PATH_MAX + 16];

		PATHF(cmd, "rm -rf %s", work);
		CHECK_INT(system(cmd), 0);
	}
	return T_DONE();
}
