/*
 * fs_daemon.c - detaching the mount from its caller: a fork while still
 * single-threaded, and the child's exit status passed back through a
 * pipe (see fs_daemon.h).
 */
#include "fs_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int fs_daemon_start(int *fd)
{
	unsigned char status;
	int p[2];
	pid_t pid;
	ssize_t n;

	*fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		close(p[0]);
		*fd = p[1];
		return 0;
	}
	close(p[1]);
	do
		n = read(p[0], &status, 1);
	while (n < 0 && errno == EINTR);
	/* the child died before it said how it went */
	if (n != 1)
		status = 1;
	/* no atexit handlers, no flush of buffers the child owns too */
	_exit(status);
}

static void daemon_tell(int *fd, unsigned char status)
{
	ssize_t n;

	do
		n = write(*fd, &status, 1);
	while (n < 0 && errno == EINTR);
	close(*fd);
	*fd = -1;
}

int fs_daemon_ready(int *fd)
{
	int null;

	if (*fd < 0)
		return 0;
	if (setsid() < 0 || chdir("/") < 0)
		return -errno;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -errno;
	if (dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(null, STDERR_FILENO) < 0) {
		int e = errno;

		close(null);
		return -e;
	}
	if (null > STDERR_FILENO)
		close(null);
	daemon_tell(fd, 0);
	return 0;
}

void fs_daemon_fail(int *fd, int rc)
{
	if (*fd < 0)
		return;
	daemon_tell(fd, (unsigned char)(rc ? rc : 1));
}
