/*
 * backup_job.h - a backup of what the config names, taken the same way by
 * `ocb backup` and by the mount's snapshots/ directory, from the preBackup
 * hook to the auto-prune: the config turned into archive writer options
 * (sources, excludes, SSE, prefix, instance), ocbfs mountpoints and the
 * cache directory kept out, uploads left by a killed backup aborted
 * first; then the group request answered, the postBackup hook, and
 * retention.autoClean.  Each caller says what happens its own way
 * (struct ocb_backup_job_report).
 */
#ifndef OCB_BACKUP_JOB_H
#define OCB_BACKUP_JOB_H

#include "hooks.h"
#include "ocb_archive.h"

struct ocb_config;
struct ocb_keyprov;

/* What a whole backup (ocb_backup_job_take()) tells its caller as it goes,
 * in this order; each caller words and shows it its own way.  Every
 * member may be NULL. */
struct ocb_backup_job_report {
	ocb_hook_out_fn hook_line;	/* the hooks' output; NULL: stderr */
	/* the preBackup hook has run: the stream starts */
	void (*stream_begins)(void *arg);
	/* the stream has ended: r 0 (stored) or a negative errno (nothing
	 * stored, and nothing follows) */
	void (*stream_ended)(void *arg, int r);
	/* the group request was not answered (the backup is stored) */
	void (*ack_failed)(void *arg, int err);
	/* stored, and the group request answered (unless the postBackup
	 * hook goes first): before the postBackup hook */
	void (*stored)(void *arg, const struct ocb_backup_result *res);
	/* the postBackup hook failed (the backup is stored) */
	void (*post_hook_failed)(void *arg, const struct ocb_backup_result *res);
	/* retention.autoClean: prune with the configured policy, keeping
	 * just_taken; its result is kept in j->pruned */
	int (*auto_prune)(void *arg, const char *just_taken);
	void *arg;
};

struct ocb_backup_job {
	const char *label;		/* NULL or checked with
					 * ocb_inventory_label_ok() */
	const char *group, *role;	/* NULL, or a group backup's id (also
					 * checked) and this agent's role */
	const char *state_snapshot;	/* NULL: the config's stateSnapshot */
	int count_first;		/* totals for progress (one more walk) */
	int full;			/* a full backup, not building on the
					 * newest */
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

	/* the whole backup (ocb_backup_job_take()) */
	const struct ocb_backup_job_report *report;	/* may be NULL */
	int note_highwater;		/* a stored backup raises this
					 * machine's mark (highwater.h) */
	int post_hook_first;		/* the postBackup hook runs before the
					 * group request is answered */
	int pre_hook_failed;		/* out: no backup taken */
	int post_hook_failed;		/* out: stored; no auto-prune */
	int pruned;			/* out: what report->auto_prune
					 * returned (0 when it did not run) */
};

/*
 * The stream alone: the archive written (or with j->plan, only what it
 * would hold said), no hooks, no group request, no prune: 0 (res filled;
 * res->warnings may be non-zero) or a negative errno as
 * ocb_archive_write() returns it.
 */
int ocb_backup_job_run(struct ocb_store *s, const struct ocb_config *cfg,
		       struct ocb_keyprov *kp, struct ocb_backup_job *j,
		       struct ocb_backup_result *res);

/*
 * The whole backup: the preBackup hook (failed: j->pre_hook_failed, no
 * backup taken), the stream (ocb_backup_job_run()), with j->note_highwater
 * the mark raised, the group request of j->group answered, the postBackup
 * hook (failed: j->post_hook_failed), and with the config's
 * retention.autoClean report->auto_prune (after a postBackup hook that did
 * not fail).  0 when the backup is stored (res filled), else a negative
 * errno, nothing stored: the stream's, or the preBackup hook's (-ECHILD
 * when it exited non-zero).
 */
int ocb_backup_job_take(struct ocb_store *s, const struct ocb_config *cfg,
			struct ocb_keyprov *kp, struct ocb_backup_job *j,
			struct ocb_backup_result *res);

#endif
