/*
 * restore_busy.c - processes using a directory (restore_busy.h).
 *
 * A gateway that keeps files open under ~/.openclaw while a restore
 * renames that directory aside goes on writing into the set-aside copy;
 * the restore asks first.  /proc/<pid>/cwd, root and fd/N are symlinks to
 * the resolved paths, compared with the resolved directory.
 */
#include "restore_busy.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* is the link at path a path under (or equal to) dir? */
static int link_under(const char *path, const char *dir, size_t n)
{
	char t[PATH_MAX];
	ssize_t len = readlink(path, t, sizeof(t) - 1);

	if (len < 0)
		return 0;
	t[len] = '\0';
	return !strncmp(t, dir, n) && (t[n] == '\0' || t[n] == '/');
}

static int pid_uses(const char *pid, const char *dir, size_t n)
{
	char p[300], fp[PATH_MAX + 320];
	struct dirent *de;
	DIR *d;
	int hit = 0;

	snprintf(p, sizeof(p), "/proc/%s/cwd", pid);
	if (link_under(p, dir, n))
		return 1;
	snprintf(p, sizeof(p), "/proc/%s/root", pid);
	if (n > 1 && link_under(p, dir, n))
		return 1;
	snprintf(p, sizeof(p), "/proc/%s/fd", pid);
	d = opendir(p);
	if (!d)
		return 0;
	while (!hit && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(fp, sizeof(fp), "%s/%s", p, de->d_name);
		hit = link_under(fp, dir, n);
	}
	closedir(d);
	return hit;
}

int ocb_restore_busy(const char *dir, ocb_busy_fn cb, void *arg)
{
	char real[PATH_MAX], self[32], comm[64];
	struct dirent *de;
	size_t n;
	DIR *d;
	int found = 0;

	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	n = strlen(real);
	while (n > 1 && real[n - 1] == '/')
		real[--n] = '\0';
	snprintf(self, sizeof(self), "%d", (int)getpid());
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char p[300];
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]) ||
		    !strcmp(de->d_name, self) || !pid_uses(de->d_name, real, n))
			continue;
		snprintf(p, sizeof(p), "/proc/%s/comm", de->d_name);
		comm[0] = '\0';
		f = fopen(p, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		cb(arg, (pid_t)atoi(de->d_name), comm);
		found++;
	}
	closedir(d);
	return found;
}
