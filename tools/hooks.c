/*
 * hooks.c - run a configured hook (hooks.h).
 */
#include "hooks.h"
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* the command: the JSON text of a string, without its quotes (escapes
 * other than \" and \\ are kept as they are) */
static char *command(const struct ocb_config *cfg, const char *event)
{
	char name[64], *v = NULL, *o, *p;

	snprintf(name, sizeof(name), "hooks.%s", event);
	if (ocb_config_extra(cfg, name, &v) < 0 || v[0] != '"') {
		free(v);
		return NULL;
	}
	for (o = v, p = v + 1; *p && !(*p == '"' && !p[1]); p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		*o++ = *p;
	}
	*o = '\0';
	return v;
}

int ocb_hook_run(const struct ocb_config *cfg, const char *event,
		 const char *name, const char *path, unsigned timeout)
{
	char *cmd = command(cfg, event);
	struct timespec t0, now;
	int status = 0, r = 0;
	pid_t pid, w;

	if (!cmd)
		return 0;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		setpgid(0, 0);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("OCB_EVENT", event, 1);
		setenv("OCB_INSTANCE", cfg->instance_id, 1);
		if (name)
			setenv("OCB_BACKUP", name, 1);
		if (path)
			setenv("OCB_PATH", path, 1);
		if (cfg->path)
			setenv("OCB_CONFIG", cfg->path, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= (time_t)timeout) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "ocb: hook %s did not finish in %u s: "
				"killed\n", event, timeout);
			r = -ETIMEDOUT;
			goto out;
		}
		usleep(20000);	/* poll the child; no signal handler needed */
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ocb: hook %s failed (%s %d)\n", event,
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		r = 1;
	}
out:
	free(cmd);
	return r;
}
