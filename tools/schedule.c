/*
 * schedule.c - systemd timer or crontab line for the backups (schedule.h).
 */
#include "schedule.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRON_MARK "# ocb-backup"

static const char *const kinds[] = { "hourly", "daily", "weekly", "manual" };
/* systemd OnCalendar= and cron times, by kind */
static const char *const calendar[] = { "hourly", "daily", "Sun *-*-* 00:00:00" };
static const char *const cron_time[] = { "0 * * * *", "0 0 * * *", "0 0 * * 0" };

int ocb_sched_kind(const char *schedule)
{
	size_t i;

	for (i = 0; schedule && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(schedule, kinds[i]))
			return (int)i;
	return -EINVAL;
}

static int use_systemd(void)
{
	const char *e = getenv("OCB_SCHEDULER");

	if (e && *e)
		return !strcmp(e, "systemd");
	return access("/run/systemd/system", F_OK) == 0;
}

static void self_path(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);

	if (n <= 0)
		snprintf(out, size, "ocb");
	else
		out[n] = '\0';
}

static void print_service(const struct ocb_sched *s, FILE *f)
{
	char exe[PATH_MAX];

	self_path(exe, sizeof(exe));
	fprintf(f,
		"[Unit]\n"
		"Description=ocb backup of the OpenClaw state\n"
		"Wants=network-online.target\n"
		"After=network-online.target\n"
		"\n"
		"[Service]\n"
		"Type=oneshot\n"
		"ExecStart=%s --config %s --quiet backup\n"
		"# constant memory by design; this is the guard rail\n"
		"MemoryMax=256M\n"
		"Nice=10\n"
		"IOSchedulingClass=idle\n"
		"# 8: done with warnings (a file changed while read)\n"
		"SuccessExitStatus=8\n", exe, s->config);
}

static void print_timer(const struct ocb_sched *s, int k, FILE *f)
{
	fprintf(f,
		"[Unit]\n"
		"Description=ocb backup, %s\n"
		"\n"
		"[Timer]\n"
		"OnCalendar=%s\n"
		"Persistent=true\n"
		"RandomizedDelaySec=5min\n"
		"\n"
		"[Install]\n"
		"WantedBy=timers.target\n", kinds[k], calendar[k]);
}

static void cron_line(const struct ocb_sched *s, int k, char *out, size_t size)
{
	char exe[PATH_MAX];

	self_path(exe, sizeof(exe));
	snprintf(out, size, "%s %s --config %s --quiet backup %s", cron_time[k],
		 exe, s->config, CRON_MARK);
}

int ocb_sched_print(const struct ocb_sched *s, FILE *f)
{
	int k = ocb_sched_kind(s->schedule);
	char line[PATH_MAX * 2 + 64];

	if (k < 0)
		return k;
	if (k == 3) {
		fprintf(f, "# manual: no schedule\n");
		return 0;
	}
	if (use_systemd()) {
		fprintf(f, "# ocb-backup.service\n");
		print_service(s, f);
		fprintf(f, "\n# ocb-backup.timer\n");
		print_timer(s, k, f);
	} else {
		cron_line(s, k, line, sizeof(line));
		fprintf(f, "# crontab line\n%s\n", line);
	}
	return 0;
}

/* run argv, stdin from in (or /dev/null when NULL): its exit status */
static int run(char *const argv[], const char *in)
{
	int p[2] = { -1, -1 }, status = 0;
	pid_t pid;

	if (in && pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (in) {
			dup2(p[0], STDIN_FILENO);
			close(p[0]);
			close(p[1]);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (in) {
		size_t len = strlen(in);

		close(p[0]);
		if (write(p[1], in, len) != (ssize_t)len)
			status = -EIO;
		close(p[1]);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
}

static int install_systemd(const struct ocb_sched *s, int k)
{
	const char *home = getenv("HOME");
	int user = geteuid() != 0;
	char dir[PATH_MAX], path[PATH_MAX + 32];
	char *reload[] = { "systemctl", user ? "--user" : "daemon-reload",
			   user ? "daemon-reload" : NULL, NULL };
	char *enable[] = { "systemctl", user ? "--user" : "enable",
			   user ? "enable" : "--now", user ? "--now" :
			   "ocb-backup.timer", user ? "ocb-backup.timer" : NULL,
			   NULL };
	FILE *f;

	if (user)
		snprintf(dir, sizeof(dir), "%s/.config/systemd/user",
			 home ? home : "");
	else
		snprintf(dir, sizeof(dir), "/etc/systemd/system");
	if (getenv("OCB_SYSTEMD_UNIT_DIR"))
		snprintf(dir, sizeof(dir), "%s", getenv("OCB_SYSTEMD_UNIT_DIR"));
	snprintf(path, sizeof(path), "%s/ocb-backup.service", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	print_service(s, f);
	if (fclose(f) != 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/ocb-backup.timer", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	print_timer(s, k, f);
	if (fclose(f) != 0)
		return -errno;
	printf("schedule: %s/ocb-backup.timer (%s)\n", dir, kinds[k]);
	if (getenv("OCB_SYSTEMD_UNIT_DIR"))
		return 0;	/* units only, for packaging and tests */
	if (run(reload, NULL) != 0 || run(enable, NULL) != 0) {
		ocb_err("systemctl could not enable ocb-backup.timer");
		return -EIO;
	}
	return 0;
}

static int install_cron(const struct ocb_sched *s, int k)
{
	char line[PATH_MAX * 2 + 64], buf[4096];
	char *set[] = { "crontab", "-", NULL };
	char *tab = NULL;
	size_t len = 0;
	FILE *p;
	int r;

	cron_line(s, k, line, sizeof(line));
	/* the current table without an earlier line of ours */
	p = popen("crontab -l 2>/dev/null", "r");
	while (p && fgets(buf, sizeof(buf), p)) {
		char *nt;

		if (strstr(buf, CRON_MARK))
			continue;
		nt = realloc(tab, len + strlen(buf) + 1);
		if (!nt) {
			pclose(p);
			free(tab);
			return -ENOMEM;
		}
		tab = nt;
		memcpy(tab + len, buf, strlen(buf) + 1);
		len += strlen(buf);
	}
	if (p)
		pclose(p);
	{
		char *all = malloc(len + strlen(line) + 2);

		if (!all) {
			free(tab);
			return -ENOMEM;
		}
		snprintf(all, len + strlen(line) + 2, "%s%s\n", tab ? tab : "", line);
		r = run(set, all);
		free(all);
	}
	free(tab);
	if (r != 0) {
		ocb_err("crontab failed (%d); add this line by hand: %s", r, line);
		return r == 127 ? -ENOENT : -EIO;
	}
	printf("schedule: crontab line (%s): %s\n", kinds[k], line);
	return 0;
}

int ocb_sched_install(const struct ocb_sched *s)
{
	int k = ocb_sched_kind(s->schedule);

	if (k < 0)
		return k;
	if (k == 3)
		return 0;
	return use_systemd() ? install_systemd(s, k) : install_cron(s, k);
}
