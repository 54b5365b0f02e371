/*
 * schedule.h - the backup schedule `ocb setup` installs: a systemd timer
 * (ocb-backup.service + ocb-backup.timer, with MemoryMax) when systemd
 * runs, else a crontab line.  OCB_SCHEDULER=systemd|cron chooses.
 */
#ifndef OCB_SCHEDULE_H
#define OCB_SCHEDULE_H

#include <stdio.h>

struct ocb_sched {
	const char *schedule;	/* hourly, daily, weekly, manual */
	const char *config;	/* the config file the backups use */
};

/* 0..3 for hourly, daily, weekly, manual; -EINVAL for anything else */
int ocb_sched_kind(const char *schedule);

/* What ocb_sched_install() would install, to f.  0 or negative errno. */
int ocb_sched_print(const struct ocb_sched *s, FILE *f);

/* Install it (units written and the timer enabled, or the crontab line
 * replacing an earlier one of ocb).  0 or negative errno (logged). */
int ocb_sched_install(const struct ocb_sched *s);

#endif
