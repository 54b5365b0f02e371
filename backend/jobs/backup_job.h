/*
 * backup_job.h - a backup of what the config names, taken the same way by
 * `ocb backup` and by the mount's snapshots/ directory: the config turned
 * into backup options (sources, excludes, SSE, prefix, instance), ocbfs
 * mountpoints and the cache directory kept out, and uploads left by a
 * killed backup aborted first.
 */
#ifndef OCB_BACKUP_JOB_H
#define OCB_BACKUP_JOB_H

#include "ocb_archive.h"

struct ocb_config;
struct ocb_keyprov;

struct ocb_backup_job {
	const char *label;		/* NULL or checked with
					 * ocb_inventory_label_ok() */
	const char *group, *role;	/* NULL, or a group backup's id (also
					 * checked) and this agent's role */
	const char *state_snapshot;	/* NULL: the config's stateSnapshot */
	int count_first;		/* totals for progress (one more walk) */
	ocb_progress_fn progress;	/* may be NULL */
	void *progress_arg;
	void (*warning)(void *arg, const char *path, const char *what);
	void *warning_arg;
	const volatile int *cancel;	/* may be NULL */
	/* `ocb migrate`: these directories instead of the config's sources,
	 * without excludes, recorded as source_paths, dated created */
	const char *const *sources;	/* NULL: the config's */
	size_t nsources;
	const char *const *source_paths;
	int64_t created;
	ocb_plan_fn plan;		/* a dry run (ocb_archive_write_plan()): no
					 * store is touched */
	void *plan_arg;
	int from_openclaw;		/* out: the sources are what `openclaw
					 * backup create --dry-run` named (the
					 * config names none) */
	const char *sources_from;	/* out: where the sources came from
					 * (static): "the config", or
					 * ocb_openclaw_resolve()'s */
	int stale_aborted;		/* out: unfinished uploads of earlier
					 * backups aborted before starting */
};

/*
 * Take the backup (or with j->plan, only say what it would hold): 0 (res filled; res->warnings may be non-zero) or a
 * negative errno as ocb_archive_write() returns it.
 */
int ocb_backup_job_run(struct ocb_store *s, const struct ocb_config *cfg,
		       struct ocb_keyprov *kp, struct ocb_backup_job *j,
		       struct ocb_backup_result *res);

#endif
