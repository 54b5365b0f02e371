/*
 * backup_name.c - the time a backup's name carries (backup_name.h).
 */
#include "backup_name.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int ocb_backup_name_time(const char *name, int64_t *t, int *labelled)
{
	static const char pre[] = "openclaw-aws-backup-";
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
