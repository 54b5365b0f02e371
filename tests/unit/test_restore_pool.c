/* Unit tests: the restore workers (restore_pool.c) write many small files
 * at once through clones of one destination, each checked against its
 * SHA-256, with the queue held to its byte budget; a file whose content
 * does not match is not written and counted; a path through a symlink
 * stops the pool with -EBADMSG and nothing is written through it.  The
 * disk side alone: a file has no name until it is committed, replaces an
 * entry of its name, gets a mode without owner write, and one refused
 * leaves nothing. */
#include "t.h"
#include "restore_disk_i.h"
#include "restore_pool_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#define NFILES 600

static void sha256(const void *data, size_t len, uint8_t out[32])
{
	EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

static char *content(int i, size_t *len)
{
	char *p = malloc(4096);

	*len = (size_t)snprintf(p, 4096, "file %d\n", i) + (size_t)(i % 7) * 500;
	memset(p + strlen(p), 'a' + i % 26, *len - strlen(p));
	return p;
}

/* entries in dir whose name starts with ".ocb-part-" */
static int leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += !strncmp(de->d_name, ".ocb-part-", 10);
	if (d)
		closedir(d);
	return n;
}

static void test_many_files(const char *root)
{
	struct ocb_rdisk_meta m = { .mode = 0100640, .mtime = 1700000000,
				    .mtime_nsec = 123 };
	struct ocb_rpool *p;
	struct ocb_rdisk *d;
	int i, ok = 1, bad_seen = 0;

	CHECK_INT(ocb_rdisk_open(root, 0, &d), 0);
	CHECK_INT(ocb_rdisk_mkdir(d, "a", &(struct ocb_rdisk_meta){
					  .mode = 040750, .mtime = 1600000000 }), 0);
	/* a budget of a few files: put waits for the workers */
	CHECK_INT(ocb_rpool_new(d, 4, 8192, &p), 0);
	for (i = 0; i < NFILES; i++) {
		char rel[64];
		uint8_t h[32];
		size_t len;
		char *data = content(i, &len);

		snprintf(rel, sizeof(rel), "a/%s/f%d", i % 2 ? "odd" : "even", i);
		sha256(data, len, h);
		if (i % 100 == 50)
			h[0] ^= 1;	/* damaged */
		if (ocb_rpool_put(p, rel, &m, h, data, len) != 0)
			ok = 0;
	}
	CHECK(ok);
	CHECK_INT(ocb_rpool_drain(p), 0);
	CHECK_INT(ocb_rpool_bad(p), NFILES / 100);
	ocb_rpool_free(p);
	CHECK_INT(ocb_rdisk_finish(d), 0);
	ocb_rdisk_free(d);
	for (i = 0; i < NFILES; i++) {
		char path[4200], buf[4096];
		struct stat st;
		size_t len;
		char *want = content(i, &len);
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/a/%s/f%d", root,
			 i % 2 ? "odd" : "even", i);
		fd = open(path, O_RDONLY);
		if (i % 100 == 50) {
			bad_seen += fd < 0 && errno == ENOENT;
		} else if (fd < 0 || fstat(fd, &st) < 0 ||
			   (n = read(fd, buf, sizeof(buf))) != (ssize_t)len ||
			   memcmp(buf, want, len) || (st.st_mode & 07777) != 0640 ||
			   st.st_mtim.tv_sec != 1700000000 ||
			   st.st_mtim.tv_nsec != 123) {
			ok = 0;
		}
		if (fd >= 0)
			close(fd);
		free(want);
	}
	CHECK(ok);
	CHECK_INT(bad_seen, NFILES / 100);
	{
		char dir[4200];
		struct stat st;

		snprintf(dir, sizeof(dir), "%s/a/odd", root);
		CHECK_INT(leftovers(dir), 0);
		/* made by a worker: the default mode at finish */
		CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0755);
		snprintf(dir, sizeof(dir), "%s/a", root);
		CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0750 &&
		      st.st_mtim.tv_sec == 1600000000);
	}
}

static void test_symlink_on_the_way(const char *root)
{
	struct ocb_rdisk_meta m = { .mode = 0100600 };
	char path[4200], outside[4200];
	struct ocb_rpool *p;
	struct ocb_rdisk *d;
	int r = 0, i;

	snprintf(outside, sizeof(outside), "%s/outside", root);
	snprintf(path, sizeof(path), "%s/in", root);
	CHECK(mkdir(outside, 0700) == 0 && mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/in/link", root);
	CHECK(symlink(outside, path) == 0);
	snprintf(path, sizeof(path), "%s/in", root);
	CHECK_INT(ocb_rdisk_open(path, 0, &d), 0);
	CHECK_INT(ocb_rpool_new(d, 3, 1 << 20, &p), 0);
	r = ocb_rpool_put(p, "link/x", &m, NULL, strdup("x"), 1);
	/* the error comes back from a later put or the drain */
	for (i = 0; r == 0 && i < 100; i++)
		r = ocb_rpool_put(p, "ok", &m, NULL, strdup("y"), 1);
	if (r == 0)
		r = ocb_rpool_drain(p);
	CHECK_INT(r, -EBADMSG);
	ocb_rpool_free(p);
	ocb_rdisk_free(d);
	snprintf(path, sizeof(path), "%s/outside/x", root);
	CHECK(access(path, F_OK) < 0);
	CHECK_INT(leftovers(outside), 0);
}

/* the number of entries in dir */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static void test_file_commit(const char *root)
{
	struct ocb_rdisk_meta m = { .mode = 0100444, .mtime = 1500000000 };
	struct ocb_rdisk *d;
	char dir[4200], path[4300], buf[16];
	struct stat st;
	int fd, fd2;

	snprintf(dir, sizeof(dir), "%s/commit", root);
	CHECK_INT(ocb_rdisk_open(root, 0, &d), 0);
	CHECK_INT(ocb_rdisk_mkdir(d, "commit", &(struct ocb_rdisk_meta){
					  .mode = 040755 }), 0);
	fd = ocb_rdisk_file_begin(d, "commit/f", &m);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "first", 5), 5);
	CHECK_INT(entries(dir), 0);	/* nameless until committed */
	CHECK_INT(ocb_rdisk_file_end(d, fd, "commit/f", &m, 1), 0);
	/* a later copy replaces it; a refused one leaves nothing */
	fd = ocb_rdisk_file_begin(d, "commit/f", &m);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "second", 6), 6);
	fd2 = ocb_rdisk_file_begin(d, "commit/g", &m);
	CHECK(fd2 >= 0);
	CHECK_INT(write(fd2, "bad", 3), 3);
	CHECK_INT(ocb_rdisk_file_end(d, fd2, "commit/g", &m, 0), 0);
	CHECK_INT(ocb_rdisk_file_end(d, fd, "commit/f", &m, 1), 0);
	CHECK_INT(ocb_rdisk_finish(d), 0);
	ocb_rdisk_free(d);
	CHECK_INT(entries(dir), 1);
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	CHECK_INT(read(fd, buf, sizeof(buf)), 6);
	CHECK(!memcmp(buf, "second", 6));
	CHECK_INT(st.st_mode & 07777, 0444);
	CHECK_INT(st.st_mtim.tv_sec, 1500000000);
	close(fd);
}

int main(void)
{
	char root[] = "/tmp/ocb-rpool-XXXXXX";

	if (!mkdtemp(root))
		return 1;
	test_many_files(root);
	test_symlink_on_the_way(root);
	test_file_commit(root);
	t_rm_rf(root);
	return T_DONE();
}
