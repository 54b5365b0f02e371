/*
 * fileio.h - writing whole buffers to file descriptors (pipes, stdout),
 * making the directories they go to, putting what was written under a
 * directory on disk, and a directory's names in order.
 */
#ifndef OCB_FILEIO_H
#define OCB_FILEIO_H

#include <dirent.h>
#include <stddef.h>

/* Write all len bytes of p to fd, retrying short writes and EINTR:
 * 0 or -errno (-EPIPE when the reader went away). */
int ocb_fileio_write_all(int fd, const void *p, size_t len);

/* mkdir -p path, mode 0700 for what is created: 0 or -errno (-ENOENT
 * for an empty path) */
int ocb_fileio_mkdirs(const char *path);

/* Everything written to the file system that holds dir on disk
 * (syncfs(2)), then dir's own entries (fsync): 0 or -errno. */
int ocb_fileio_sync_fs(const char *dir);

/* The names in d (read to its end), without "." and "..", sorted by
 * strcmp: 0 and *names (free with ocb_fileio_names_free()), *n; or
 * -ENOMEM with *names and *n as far as they got (free them too). */
int ocb_fileio_dir_names(DIR *d, char ***names, size_t *n);
void ocb_fileio_names_free(char **names, size_t n);

#endif
