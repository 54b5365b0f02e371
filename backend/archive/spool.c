/*
 * spool.c - temporary copies in the cache directory (spool_i.h).
 */
#include "spool_i.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <stdint.h>
#include <unistd.h>

#define SPOOL_PREFIX "ocb-spool-"

/* an unnamed file, locked, then given its name: a sweep never sees a
 * live spool file unlocked */
int ocb_spool_new(const char *dir, int *fd, char *path, size_t size)
{
	char proc[64];
	unsigned i;
	int f, e;

	f = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (f < 0)
		return -errno;
	if (flock(f, LOCK_EX | LOCK_NB) < 0)
		goto fail;
	if (!path) {
		*fd = f;
		return 0;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f);
	for (i = 0; i < 100; i++) {
		uint32_t rnd;

		if (getentropy(&rnd, sizeof(rnd)) < 0)
			goto fail;
		if (snprintf(path, size, "%s/" SPOOL_PREFIX "%08x", dir,
			     (unsigned)rnd) >= (int)size) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) {
			*fd = f;
			return 0;
		}
		if (errno != EEXIST)
			goto fail;
	}
fail:
	e = -errno;
	close(f);
	return e;
}

void ocb_spool_unlink(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		ocb_warn("cannot remove %s: %s", path, strerror(errno));
}

int ocb_spool_sweep(const char *dir)
{
	struct dirent *de;
	int dfd, r = 0;
	DIR *d;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		int f;

		if (strncmp(de->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)))
			continue;
		f = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			   O_NONBLOCK);
		if (f < 0)
			continue;
		/* locked: a live backup's; not: left by a killed one */
		if (flock(f, LOCK_EX | LOCK_NB) == 0) {
			if (unlinkat(dfd, de->d_name, 0) == 0)
				r++;
		}
		close(f);
	}
	closedir(d);
	if (r)
		ocb_info("removed %d temporary file(s) left in %s by an "
			 "interrupted backup", r, dir);
	return 0;
}
