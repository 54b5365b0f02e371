/*
 * schedule.c - systemd timer or crontab line for the backups (schedule.h).
 */
#include "schedule.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRON_MARK "# ocb-backup"

/* the schedules, with their systemd OnCalendar= and cron times (the old
 * tool's: 6h "0 *\/6 * * *", daily "0 0 * * *", weekly "0 0 * * 0") */
static const struct kind {
	const char *name, *calendar, *cron;
} kinds[] = {
	{ "hourly", "hourly", "0 * * * *" },
	{ "6h", "*-*-* 00/6:00:00", "0 */6 * * *" },
	{ "daily", "daily", "0 0 * * *" },
	{ "weekly", "Sun *-*-* 00:00:00", "0 0 * * 0" },
	{ "custom", NULL, NULL },
	{ "manual", NULL, NULL },
};

#define CRON_FIELD_MAX 64

static const struct kind *kind_find(const char *schedule)
{
	size_t i;

	for (i = 0; schedule && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(schedule, kinds[i].name))
			return &kinds[i];
	return NULL;
}

/* split a cron expression into its 5 fields; 0 or -EINVAL */
static int cron_split(const char *expr, char f[5][CRON_FIELD_MAX])
{
	int n = 0;
	const char *p = expr;

	while (p && *p) {
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (!len)
			break;
		if (n == 5 || len >= CRON_FIELD_MAX ||
		    strspn(p, "0123456789*/,-") < len)
			return -EINVAL;
		memcpy(f[n], p, len);
		f[n][len] = '\0';
		n++;
		p += len;
	}
	return n == 5 ? 0 : -EINVAL;
}

int ocb_sched_check(const struct ocb_sched *s)
{
	const struct kind *k = kind_find(s->schedule);
	char f[5][CRON_FIELD_MAX];

	if (!k) {
		ocb_err("schedule %s: use hourly, 6h, daily, weekly, custom or "
			"manual", s->schedule ? s->schedule : "(none)");
		return -EINVAL;
	}
	if (!strcmp(k->name, "custom") && (!s->cron || cron_split(s->cron, f))) {
		ocb_err("schedule custom needs a 5-field cron expression of "
			"0-9 * / , - (customCron), not '%.64s'",
			s->cron ? s->cron : "");
		return -EINVAL;
	}
	return 0;
}

static int is_manual(const struct ocb_sched *s)
{
	return !strcmp(s->schedule, "manual");
}

/* one cron field as systemd writes it: "*", "0/4" for "*\/4", "1..5" for
 * "1-5", lists kept; a range with a step has no systemd form */
static int cron_to_cal(const char *f, char *out, size_t size)
{
	size_t o = 0;
	const char *p;

	if (f[0] == '*' && f[1] == '/')
		return snprintf(out, size, "0%s", f + 1) < (int)size ? 0 : -EINVAL;
	if (strchr(f, '/') || (strchr(f, '*') && f[1]))
		return -EINVAL;
	for (p = f; *p && o + 3 < size; p++) {
		if (*p == '-') {
			out[o++] = '.';
			out[o++] = '.';
		} else {
			out[o++] = *p;
		}
	}
	if (*p)
		return -EINVAL;
	out[o] = '\0';
	return 0;
}

/* cron's day of week (0-7, lists and ranges) as systemd's names */
static int dow_to_cal(const char *f, char *out, size_t size)
{
	static const char *const names[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					     "Fri", "Sat", "Sun" };
	size_t o = 0;
	const char *p;

	for (p = f; *p; p++) {
		const char *w = *p == '-' ? ".." : *p == ',' ? "," :
			*p >= '0' && *p <= '7' && !isdigit((unsigned char)p[1]) ?
			names[*p - '0'] : NULL;
		size_t len = w ? strlen(w) : 0;

		if (!w || o + len + 1 >= size)
			return -EINVAL;
		memcpy(out + o, w, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

/* OnCalendar= for a 5-field cron expression: 0 or -EINVAL (logged) */
static int cron_calendar(const char *expr, char *out, size_t size)
{
	char f[5][CRON_FIELD_MAX], c[5][CRON_FIELD_MAX + 16];
	int i, r = cron_split(expr, f);

	for (i = 0; r == 0 && i < 4; i++)
		r = cron_to_cal(f[i], c[i], sizeof(c[i]));
	if (r == 0 && strcmp(f[4], "*") != 0)
		r = strcmp(f[2], "*") != 0 ? -EINVAL :	/* cron: day OR weekday */
			dow_to_cal(f[4], c[4], sizeof(c[4]));
	if (r < 0) {
		ocb_err("cron expression '%s' has no systemd timer form; "
			"install it as a crontab line with OCB_SCHEDULER=cron",
			expr);
		return r;
	}
	if (snprintf(out, size, "%s%s*-%s-%s %s:%s:00",
		     strcmp(f[4], "*") ? c[4] : "", strcmp(f[4], "*") ? " " : "",
		     c[3], c[2], c[1], c[0]) >= (int)size) {
		ocb_err("cron expression '%s' is too long", expr);
		return -EINVAL;
	}
	return 0;
}

/* the cron time and OnCalendar= of s: 0 or -EINVAL */
static int sched_times(const struct ocb_sched *s, const char **cron,
		       char *cal, size_t size, int want_cal)
{
	const struct kind *k = kind_find(s->schedule);
	int r = ocb_sched_check(s);

	if (r < 0)
		return r;
	*cron = k->cron ? k->cron : s->cron;
	if (!want_cal)
		return 0;
	if (k->calendar) {
		snprintf(cal, size, "%s", k->calendar);
		return 0;
	}
	return cron_calendar(s->cron, cal, size);
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

static void print_timer(const struct ocb_sched *s, const char *cal, FILE *f)
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
		"WantedBy=timers.target\n", s->schedule, cal);
}

static void cron_line(const struct ocb_sched *s, const char *cron, char *out,
		      size_t size)
{
	char exe[PATH_MAX];

	self_path(exe, sizeof(exe));
	snprintf(out, size, "%s %s --config %s --quiet backup %s", cron,
		 exe, s->config, CRON_MARK);
}

int ocb_sched_print(const struct ocb_sched *s, FILE *f)
{
	char line[PATH_MAX * 2 + 64], cal[256];
	const char *cron;
	int sd = use_systemd(), r;

	r = sched_times(s, &cron, cal, sizeof(cal), sd && !is_manual(s));
	if (r < 0)
		return r;
	if (is_manual(s)) {
		fprintf(f, "# manual: no schedule\n");
		return 0;
	}
	if (sd) {
		fprintf(f, "# ocb-backup.service\n");
		print_service(s, f);
		fprintf(f, "\n# ocb-backup.timer\n");
		print_timer(s, cal, f);
	} else {
		cron_line(s, cron, line, sizeof(line));
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

static int install_systemd(const struct ocb_sched *s, const char *cal)
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
	print_timer(s, cal, f);
	if (fclose(f) != 0)
		return -errno;
	printf("schedule: %s/ocb-backup.timer (%s: %s)\n", dir, s->schedule,
	       cal);
	if (getenv("OCB_SYSTEMD_UNIT_DIR"))
		return 0;	/* units only, for packaging and tests */
	if (run(reload, NULL) != 0 || run(enable, NULL) != 0) {
		ocb_err("systemctl could not enable ocb-backup.timer");
		return -EIO;
	}
	return 0;
}

static int install_cron(const struct ocb_sched *s, const char *cron)
{
	char line[PATH_MAX * 2 + 64], buf[4096];
	char *set[] = { "crontab", "-", NULL };
	char *tab = NULL;
	size_t len = 0;
	FILE *p;
	int r;

	cron_line(s, cron, line, sizeof(line));
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
	printf("schedule: crontab line (%s): %s\n", s->schedule, line);
	return 0;
}

int ocb_sched_install(const struct ocb_sched *s)
{
	char cal[256];
	const char *cron;
	int sd = use_systemd(), r;

	r = sched_times(s, &cron, cal, sizeof(cal), sd && !is_manual(s));
	if (r < 0 || is_manual(s))
		return r;
	return sd ? install_systemd(s, cal) : install_cron(s, cron);
}
