/*
 * fs_daemon.h - detaching the mount from its caller (ocbfs without -f).
 *
 * The fork happens first thing, while the process is still one thread:
 * threads started before a fork (the disk cache's writer, started by the
 * first fetch; read-ahead workers; a KMS client's) do not exist in the
 * child, whose copies of their locks and condition variables then hang
 * it.  The caller waits until the child has mounted, or failed, and exits
 * with the child's status, so a failed mount still reports its exit code
 * and its messages (the child keeps the caller's stderr until it is
 * mounted).
 */
#ifndef OCB_FS_DAEMON_H
#define OCB_FS_DAEMON_H

/* Fork; in the caller, wait for the child's status and exit with it
 * (1 if the child died without one).  In the child, return 0 with *fd
 * the channel to the caller; -errno (and *fd -1) when the fork failed. */
int fs_daemon_start(int *fd);

/* The mount is up: a new session, cwd /, stdio on /dev/null, and the
 * caller exits 0.  Nothing to do when *fd is -1.  0 or -errno. */
int fs_daemon_ready(int *fd);

/* Starting failed with exit status rc: the caller exits with it.
 * Nothing to do when *fd is -1 (ready was reported, or no fork). */
void fs_daemon_fail(int *fd, int rc);

#endif
