/*
 * backup_name.c - the time a backup's name carries, and whether it names
 * a repack's replacement (backup_name.h).
 */
#include "backup_name.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char pre[] = "openclaw-aws-backup-";

int ocb_backup_name_time(const char *name, int64_t *t, int *labelled)
{
	struct tm tm;
	const char *p;
	char *end;

	if (strncmp(name, pre, sizeof(pre) - 1) != 0)
		return -EINVAL;
	p = name + sizeof(pre) - 1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(p, "%Y-%m-%dT%H-%M-%S", &tm);
	if (!end || end - p != 19)
		return -EINVAL;
	if (*end == 'Z')
		end++;
	if (*end && *end != '-')
		return -EINVAL;
	*labelled = *end == '-' && end[1];
	*t = (int64_t)timegm(&tm);
	return 0;
}

size_t ocb_backup_name_stem(const char *name)
{
	int64_t t;
	int labelled;
	size_t n = sizeof(pre) - 1 + 19;

	if (ocb_backup_name_time(name, &t, &labelled) < 0 ||
	    strlen(name) <= n || name[n] != 'Z')
		return 0;
	return n + 1;
}

int ocb_backup_name_is_replacement(const char *name)
{
	size_t n = ocb_backup_name_stem(name);
	const char *t;

	if (!n || strncmp(name + n, OCB_BACKUP_NAME_REPACK,
			  strlen(OCB_BACKUP_NAME_REPACK)))
		return 0;
	t = name + n + strlen(OCB_BACKUP_NAME_REPACK);
	if (*t < '1' || *t > '9')
		return 0;
	while (*t >= '0' && *t <= '9')
		t++;
	return !*t;
}
