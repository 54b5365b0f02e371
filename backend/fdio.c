/*
 * fdio.c - writing whole buffers to file descriptors.
 */
#include "fdio.h"

#include <errno.h>
#include <unistd.h>

int ocb_fdio_write_all(int fd, const void *p, size_t len)
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
