/*
 * restore_busy.h - which processes use a directory (before an in-place
 * restore replaces it): open files, working and root directories under
 * it, found in /proc.
 */
#ifndef OCB_RESTORE_BUSY_H
#define OCB_RESTORE_BUSY_H

#include <sys/types.h>

/* Called once per process using dir: its pid and command name. */
typedef void (*ocb_busy_fn)(void *arg, pid_t pid, const char *comm);

/* Every process but this one with a file, cwd or root under dir (dir
 * itself included; symlinks in dir resolved): the number found, or a
 * negative errno when /proc cannot be read.  Processes this user may not
 * inspect are not seen. */
int ocb_restore_busy(const char *dir, ocb_busy_fn cb, void *arg);

#endif
