/*
 * retention.h - which backups a retention policy keeps: a pure function
 * of names, times and flags (no I/O), so that every plan can be checked
 * against a table of dates.
 *
 * Policies, as restic's `forget --keep-*`: the newest N; the newest of
 * each of the last N days, ISO weeks, months, years that have backups;
 * everything within a duration of the newest backup (not of now: a
 * machine that stopped backing up keeps its last ones).  A backup is kept when any rule keeps
 * it.  Whatever the policy, the newest backup, the one just taken, pinned
 * ones and names ocb did not make are kept; a labelled backup counts like any other (pin it to
 * keep it).  An empty policy keeps everything.  Times are UTC.
 */
#ifndef OCB_RETENTION_H
#define OCB_RETENTION_H

#include <stddef.h>
#include <stdint.h>

struct ocb_ret_policy {
	int last;			/* keep the newest N */
	int daily, weekly, monthly, yearly;
	int64_t within;			/* seconds; 0: no such rule */
	int delete_refused;		/* refused items are deleted, not kept */
};

struct ocb_ret_item {
	const char *name;
	int64_t time;			/* seconds since the epoch (UTC) */
	int labelled;			/* shown, counted like any other */
	int pinned;
	int foreign;			/* a name ocb did not make: kept */
	/* not trusted to order backups: an old-tool backup (unauthenticated,
	 * its time only its name) or a time in the future.  Ranked after
	 * every trusted backup, so it is never "newest", never the anchor of
	 * "within" and takes a "last"/period slot only after all trusted
	 * ones; it may still be kept by a rule, and is never deleted in
	 * favour of a trusted one. */
	int untrusted;
	int future;	/* dated ahead of the clock: untrusted, and kept */
	/* failed to open (does not authenticate under this config): never
	 * ranked, so never counted as newest or towards any rule; kept
	 * ("refused") unless the policy says delete_refused */
	int refused;
	/* the backup this run has just taken (auto-clean): kept whatever
	 * its name says (a clock stepped back, a backup named later that
	 * finished first) */
	int just_taken;
	/* out */
	int keep;
	char why[160];			/* the rules that keep it, ", "-joined */
};

/* Does the policy say anything?  (An empty one keeps everything.) */
int ocb_ret_policy_empty(const struct ocb_ret_policy *p);

/* Decide keep/why for every item (in any order).  0 or -ENOMEM.  A
 * future-dated item is kept ("future-dated"): such a time is not acted
 * upon either way. */
int ocb_retention_plan(struct ocb_ret_item *v, size_t n,
		       const struct ocb_ret_policy *p);

/* How far ahead of the local clock a backup's time may be and still be
 * trusted (clock skew between agents). */
#define OCB_RET_FUTURE_SKEW 3600

#endif
