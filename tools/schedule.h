/*
 * schedule.h - the backup schedule `ocb setup` installs: a systemd timer
 * (ocb-backup.service + ocb-backup.timer, with MemoryMax) when systemd
 * runs, else a crontab line.  OCB_SCHEDULER=systemd|cron chooses.
 */
#ifndef OCB_SCHEDULE_H
#define OCB_SCHEDULE_H

#include <stdio.h>

struct ocb_sched {
	const char *schedule;	/* hourly, 6h, daily, weekly, custom, manual
				 * (the old tool's backupFrequency values) */
	const char *cron;	/* custom: a 5-field cron expression */
	const char *config;	/* the config file the backups use */
};

/*
 * 0 when s->schedule is one of the above (custom with a valid 5-field
 * s->cron), -EINVAL otherwise (logged).
 */
int ocb_sched_check(const struct ocb_sched *s);

/* What ocb_sched_install() would install, to f.  0 or negative errno
 * (-EINVAL, logged, for a custom schedule systemd cannot express: then
 * OCB_SCHEDULER=cron installs it as given). */
int ocb_sched_print(const struct ocb_sched *s, FILE *f);

/* Install it (units written and the timer enabled, or the crontab line
 * replacing an earlier one of ocb).  0 or negative errno (logged). */
int ocb_sched_install(const struct ocb_sched *s);

#endif
