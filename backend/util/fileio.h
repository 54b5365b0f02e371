/*
 * fileio.h - writing whole buffers to file descriptors (pipes, stdout), and
 * making the directories they go to.
 */
#ifndef OCB_FILEIO_H
#define OCB_FILEIO_H

#include <stddef.h>

/* Write all len bytes of p to fd, retrying short writes and EINTR:
 * 0 or -errno (-EPIPE when the reader went away). */
int ocb_fileio_write_all(int fd, const void *p, size_t len);

/* mkdir -p path, mode 0700 for what is created: 0 or -errno (-ENOENT
 * for an empty path) */
int ocb_fileio_mkdirs(const char *path);

#endif
