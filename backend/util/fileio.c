/*
 * fileio.c - writing whole buffers to file descriptors.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int ocb_fileio_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* mkdir -p path, mode 0700 for what is created */
int ocb_fileio_mkdirs(const char *path)
{
	char *p = strdup(path), *s;
	int r = 0;

	if (!p)
		return -ENOMEM;
	if (!*p) {		/* no path: nothing to make */
		free(p);
		return -ENOENT;
	}
	for (s = strchr(p + 1, '/'); ; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (*p && mkdir(p, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		if (!s)
			break;
		*s = '/';
	}
	free(p);
	return r;
}

int ocb_fileio_sync_fs(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (syncfs(fd) < 0 || fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ocb_fileio_dir_names(DIR *d, char ***names, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;

	*names = NULL;
	*n = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			char **nn = realloc(*names, (cap = cap ? cap * 2 : 64) *
					    sizeof(**names));

			if (!nn)
				return -ENOMEM;
			*names = nn;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			return -ENOMEM;
		(*n)++;
	}
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
}

void ocb_fileio_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
