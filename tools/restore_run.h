/*
 * restore_run.h - one run of `ocb restore`, shared by the command
 * (cmd_restore.c) and its in-place restore (restore_inplace.c): the run's
 * state, and the two things both do to a tree: write it under a
 * directory, or compare it with one.
 */
#ifndef OCB_RESTORE_RUN_H
#define OCB_RESTORE_RUN_H

#include "common.h"
#include "ocb_archive.h"
#include "restore.h"
#include "restore_plan.h"

#include <stdint.h>
#include <time.h>

/* one run: its options, and what it has done so far */
struct restore_run {
	struct ocb_ctx *ctx;
	int json, tty;
	unsigned flags;			/* OCB_RESTORE_* */
	int force;			/* --force: even if in use */
	struct ocb_restore_result total;	/* what the restore writes */
	struct timespec t0, last;
	int nchanges;			/* --dry-run --json: printed so far */
	const char *base;		/* --dry-run: the compared subtree,
					 * relative to the backup */
	const char *old_state;		/* an old-tool backup (or a migrated
					 * one) in place: the state directory */
	int resolved;			/* in place, sources resolved from
					 * OpenClaw (the config names none) */
	uint64_t left_out;		/* sources not resolved: not restored */
};

/* seconds since t0 (CLOCK_MONOTONIC) */
double restore_run_since(const struct timespec *t0);

/* the PATHs of a (all of it: npaths 0) under target, with a progress line
 * on a terminal; ocb_restore_run()'s result */
int restore_run_to(struct restore_run *ru, struct ocb_archive *a,
		   const char *target, const char *const *paths,
		   size_t npaths, struct ocb_restore_result *res);

/* entry idx's subtree compared with disk, each change printed (base: its
 * backup path), the counts added to sum; ocb_restore_plan()'s result */
int restore_run_plan(struct restore_run *ru, struct ocb_archive *a,
		     uint32_t idx, const char *disk, const char *base,
		     struct ocb_plan_counts *sum);

#endif
