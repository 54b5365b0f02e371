/*
 * hooks.c - run a configured hook (hooks.h).
 *
 * Everything the child needs (its environment, its command) is built
 * before fork(): in a threaded process the child may only call
 * async-signal-safe functions.  The parent waits on the output pipe with
 * poll(), which also paces the check for the child's exit and timeout.
 */
#include "hooks.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ENV_EXTRA 5

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

/* environ without OCB_* variables, plus the event's facts */
static char **child_env(const struct ocb_config *cfg, const char *event,
			const char *name, const char *path)
{
	const char *facts[ENV_EXTRA][2] = {
		{ "OCB_EVENT", event }, { "OCB_INSTANCE", cfg->instance_id },
		{ "OCB_BACKUP", name }, { "OCB_PATH", path },
		{ "OCB_CONFIG", cfg->path },
	};
	size_t n = 0, k = 0, i;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + ENV_EXTRA + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "OCB_", 4) != 0)
			env[k++] = environ[i];
	for (i = 0; i < ENV_EXTRA; i++) {
		size_t len;

		if (!facts[i][1])
			continue;
		len = strlen(facts[i][0]) + strlen(facts[i][1]) + 2;
		env[k] = malloc(len);
		if (!env[k])
			break;
		snprintf(env[k++], len, "%s=%s", facts[i][0], facts[i][1]);
	}
	return env;
}

static void child_env_free(char **env)
{
	size_t i;

	for (i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "OCB_", 4))
			free(env[i]);	/* ours: environ has none left */
	free(env);
}

struct lines {
	char buf[OCB_HOOK_LINE_MAX];
	size_t len;
	const char *event;
	ocb_hook_out_fn out;
	void *arg;
};

static void line_emit(struct lines *l)
{
	l->buf[l->len] = '\0';
	if (l->out)
		l->out(l->arg, l->event, l->buf);
	else
		fprintf(stderr, "%s\n", l->buf);
	l->len = 0;
}

/* read what the pipe has: 0, or 1 at its end */
static int lines_read(struct lines *l, int fd)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	ssize_t i;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	for (i = 0; i < n; i++) {
		if (chunk[i] == '\n') {
			line_emit(l);
			continue;
		}
		if (l->len < sizeof(l->buf) - 1)
			l->buf[l->len++] = chunk[i];
	}
	if (n == 0 && l->len)
		line_emit(l);
	return n == 0;
}

/*
 * Run file with argv and env, its output line by line to l, killed after
 * timeout seconds: 0 (exit 0), 1 (non-zero exit or a signal), -ETIMEDOUT,
 * or -errno; failures are logged as what's.
 */
static int run(const char *file, char *const argv[], char **env,
	       unsigned timeout, struct lines *l, const char *what)
{
	struct timespec t0, now;
	int status = 0, r = 0, p[2] = { -1, -1 }, eof = 0;
	pid_t pid = -1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execve(file, argv, env);
		_exit(127);
	}
	close(p[1]);
	p[1] = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		pid_t w;

		if (!eof && poll(&pf, 1, 50) > 0)
			eof = lines_read(l, p[0]);
		else if (eof)
			poll(NULL, 0, 20);	/* output closed: the exit is near */
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
			ocb_err("%s did not finish in %u s: killed", what,
				timeout);
			r = -ETIMEDOUT;
			goto out;
		}
	}
	while (!eof) {		/* what it wrote just before it exited */
		struct pollfd pf = { .fd = p[0], .events = POLLIN };

		if (poll(&pf, 1, 0) <= 0)
			break;
		eof = lines_read(l, p[0]);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ocb_err("%s failed (%s %d)", what,
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) :
			WTERMSIG(status));
		r = 1;
	}
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return r;
}

int ocb_hook_run(const struct ocb_config *cfg, const char *event,
		 const char *name, const char *path, unsigned timeout,
		 ocb_hook_out_fn out, void *out_arg)
{
	char *cmd = command(cfg, event), **env = NULL;
	struct lines l = { .event = event, .out = out, .arg = out_arg };
	char *argv[] = { "sh", "-c", cmd, NULL };
	char what[80];
	int r;

	if (!cmd)
		return 0;
	env = child_env(cfg, event, name, path);
	snprintf(what, sizeof(what), "hook %s", event);
	r = env ? run("/bin/sh", argv, env, timeout, &l, what) : -ENOMEM;
	child_env_free(env);
	free(cmd);
	return r;
}

int ocb_hook_exec(const char *file, char *const argv[], unsigned timeout,
		  ocb_hook_out_fn out, void *out_arg)
{
	struct lines l = { .event = argv[0], .out = out, .arg = out_arg };
	char what[300];

	snprintf(what, sizeof(what), "%s", file);
	return run(file, argv, environ, timeout, &l, what);
}
