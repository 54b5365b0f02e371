/*
 * spool_i.h - temporary copies of source files in the cache directory (a
 * SQLite snapshot, a file read again until it holds still), so that what
 * goes into a backup is one consistent state.
 *
 * Each spool file is created 0600 without a name (O_TMPFILE) and locked
 * with flock(); one that another program must open (SQLite's) is then
 * linked as "ocb-spool-<random>" and unlinked as soon as it is complete:
 * the caller keeps only the descriptor.  A file left by a process killed in
 * between is not locked any more, and the next ocb_spool_sweep() of that
 * directory removes it.
 */
#ifndef OCB_SPOOL_I_H
#define OCB_SPOOL_I_H

#include <stddef.h>

/* Create a spool file in dir: *fd (locked, 0600) and, when path is not
 * NULL, its name in path[size].  0 or a negative errno. */
int ocb_spool_new(const char *dir, int *fd, char *path, size_t size);

/* Remove the name of a spool file made by ocb_spool_new() (its content
 * stays readable through the descriptor). */
void ocb_spool_unlink(const char *path);

/* Remove the spool files in dir that no live process holds: 0 or a
 * negative errno (-ENOENT when dir does not exist is not reported). */
int ocb_spool_sweep(const char *dir);

#endif
