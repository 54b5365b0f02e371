/*
 * restore_inplace.h - `ocb restore` without --target (restore_inplace.c):
 * what the command (cmd_restore.c) asks of the restore in place.
 */
#ifndef OCB_RESTORE_INPLACE_H
#define OCB_RESTORE_INPLACE_H

#include "restore_run.h"

/*
 * Every source of a native backup (or the PATHs given) back to its
 * original place, or with dry compared with it (counts into sum); a
 * migrated old backup's (ru->old_state) where the old restore put them.
 * Sources resolved from OpenClaw (ru->resolved) go in phases.  0, a
 * negative errno, or an exit code (reported).
 */
int restore_inplace_run(struct restore_run *ru, struct ocb_archive *a,
			const char *const *paths, size_t npaths, int dry,
			struct ocb_restore_result *total,
			struct ocb_plan_counts *sum);

/* an old-tool backup back to the state directory dir: whole, or the
 * paths given; 0 or the exit code (reported) */
int restore_inplace_old(struct restore_run *ru, struct ocb_archive *a,
			const char *dir, const char *const *paths,
			size_t npaths, struct ocb_restore_result *res);

/* whether the backup name may go in place: its sources are configured
 * ones (or resolved), each a directory; 0 or OCB_EXIT_USAGE (reported) */
int restore_inplace_check(const struct ocb_config *cfg, struct ocb_archive *a,
			  const char *name, int resolved);

/* where an old-tool backup goes in place: the one configured source, or
 * the one named .openclaw; NULL: none */
const char *restore_inplace_state_dir(const struct ocb_config *cfg);

/* the disk path (into out) of the old-tool backup path p in place, below
 * the state directory state; 0, -EINVAL or -ENAMETOOLONG */
int restore_inplace_old_path(const char *state, const char *p, char *out,
			     size_t size);

/* 1 when a is a migrated old-tool backup (`ocb migrate`): its sources
 * are openclaw-config/ and maybe workspace/, nothing else */
int restore_inplace_migrated(struct ocb_archive *a);

#endif
