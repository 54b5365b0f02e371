/*
 * highwater.c - the newest authenticated backup seen, per instance prefix:
 * "<cache dir>/highwater/<hex SHA-256 of the prefix>" holding
 * "<seconds> <name>\n".
 */
#include "highwater.h"
#include "crypto.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HW_FILE_MAX 512

static int hw_path(const char *cache_dir, const char *prefix, char *out,
		   size_t size)
{
	uint8_t h[32];
	char hex[65];

	ocb_crypto_sha256(prefix, strlen(prefix), h);
	ocb_crypto_hex(h, sizeof(h), hex);
	if (snprintf(out, size, "%s/highwater/%s", cache_dir, hex) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

int ocb_highwater_get(const char *cache_dir, const char *prefix, int64_t *t,
		      char *name, size_t size)
{
	char path[4096], buf[HW_FILE_MAX + 1], *sp, *nl;
	ssize_t n;
	int fd, r;

	if (!cache_dir)
		return -ENOENT;
	r = hw_path(cache_dir, prefix, path, sizeof(path));
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, HW_FILE_MAX);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	sp = strchr(buf, ' ');
	nl = strchr(buf, '\n');
	if (!sp || !nl || nl < sp)
		return -ENOENT;
	*nl = '\0';
	*t = strtoll(buf, NULL, 10);
	snprintf(name, size, "%s", sp + 1);
	return 0;
}

int ocb_highwater_note(const char *cache_dir, const char *prefix, int64_t t,
		       const char *name)
{
	char path[4096], tmp[4200], old[256], buf[HW_FILE_MAX];
	int64_t ot;
	int fd, r, len;

	if (!cache_dir)
		return 0;
	if (ocb_highwater_get(cache_dir, prefix, &ot, old, sizeof(old)) == 0 &&
	    ot >= t)
		return 0;
	if (snprintf(path, sizeof(path), "%s/highwater", cache_dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	mkdir(cache_dir, 0700);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	r = hw_path(cache_dir, prefix, path, sizeof(path));
	if (r < 0)
		return r;
	len = snprintf(buf, sizeof(buf), "%" PRId64 " %s\n", t, name);
	if (len < 0 || len >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = ocb_fileio_write_all(fd, buf, (size_t)len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}
