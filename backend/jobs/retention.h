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
 *
 * A repack's replacement ("<K's time>Z-repack<n>", backup_name.h) and the
 * backup K it replaces are one backup for every rule, as are several
 * replacements of one K: they take one slot, and are kept or dropped
 * together (each kept one then keeps, by reachability, what it reads).
 * So a repack killed between a replacement's commit and K's deletion
 * leaves both to the next prune, and no other backup loses its place.
 *
 * Then reachability (ocb_retention_reach): an incremental backup reads
 * bytes from the objects of other backups, so every backup a kept one
 * references is kept too ("needed by <name>"), whatever the policy said;
 * when a kept one's references cannot be known, every older one is kept.
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

/* A backup another one takes bytes from (ocb_archive_ref): its name and
 * the id the referencing backup's authenticated catalog gives it. */
struct ocb_ret_ref {
	const char *name;
	uint8_t id[16];
};

/* What opening an item told (ocb_retention_reach's input). */
enum ocb_ret_open {
	OCB_RET_UNOPENED = 0,	/* not opened (yet) */
	OCB_RET_OPENED,		/* authenticated: id and refs are known */
	OCB_RET_FAILED,		/* does not open: id and refs unknown */
	/* does not open, yet may be a genuine backup (a format this tool
	 * cannot read): id and refs unknown, and it may reference any
	 * older backup, so when kept, every older native one is kept */
	OCB_RET_UNREADABLE,
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
	/* for ocb_retention_reach: a native backup (the only kind a
	 * reference names and the only kind that has references), what
	 * opening it told, its id and its references (when opened) */
	int native;
	enum ocb_ret_open open;
	uint8_t id[16];
	const struct ocb_ret_ref *refs;
	size_t nrefs;
	/* out */
	int keep;
	char why[160];			/* the rules that keep it, ", "-joined */
	int needed;	/* kept only because a kept backup references it */
	int want_open;	/* ocb_retention_reach must know what it references
			 * or whether it is the referenced object: open it */
};

/* Does the policy say anything?  (An empty one keeps everything.) */
int ocb_ret_policy_empty(const struct ocb_ret_policy *p);

/* Decide keep/why for every item (in any order).  0 or -ENOMEM.  A
 * future-dated item is kept ("future-dated"): such a time is not acted
 * upon either way. */
int ocb_retention_plan(struct ocb_ret_item *v, size_t n,
		       const struct ocb_ret_policy *p);

/* What is wrong with one reference of a kept backup (problem_fn). */
enum ocb_ret_problem {
	OCB_RET_REF_MISSING = 1,	/* no native backup of that name: the
					 * referencing backup cannot be read
					 * whole; it is kept all the same */
	OCB_RET_REF_OTHER,		/* a backup of that name whose id is
					 * another: not the object needed (a
					 * replacement), not kept on its account */
	OCB_RET_REF_UNVERIFIED,		/* a backup of that name that does not
					 * open: its id is unknown, it is kept
					 * (its frames may serve the reference
					 * even when its own catalog is damaged) */
	OCB_RET_REFS_UNKNOWN,		/* a kept backup that is UNREADABLE:
					 * what it references is unknown, every
					 * older native backup is kept ("may be
					 * needed by <name>, which did not
					 * open"); ref and to are NULL */
};

/* to is the backup of that name (NULL when missing) */
typedef void (*ocb_ret_problem_fn)(void *arg, const struct ocb_ret_item *from,
				   const struct ocb_ret_ref *ref,
				   enum ocb_ret_problem what,
				   const struct ocb_ret_item *to);

/*
 * After ocb_retention_plan: keep every native backup that a kept backup
 * references, transitively (a backup kept for another is complete and
 * browsable too), adding "needed by <name>" to its why and setting
 * needed when no rule kept it.  A reference counts when a native item of
 * that name exists and either opened with the referenced id, or does not
 * open (kept: its id cannot be checked).  A kept UNREADABLE backup may
 * reference any backup older than it (or as old): all of those are kept,
 * "may be needed by <name>, which did not open", and reported
 * (OCB_RET_REFS_UNKNOWN).  The newest backup is always
 * kept by the plan, so it and everything it references stay: a backup
 * taken during a prune builds on the newest and never loses its base.
 *
 * What must be known first: every kept native item and every referenced
 * one must have been opened (open != OCB_RET_UNOPENED).  When some are
 * not, they are flagged want_open, nothing is reported and the count of
 * them is returned: the caller opens them, fills open, id and refs, and
 * calls again (keeps already made stand: each was checked).  0 when the
 * closure is complete; then fn (may be NULL) is called for each problem.
 * -ENOMEM.  Pure: no I/O.
 */
int ocb_retention_reach(struct ocb_ret_item *v, size_t n,
			ocb_ret_problem_fn fn, void *arg);

/* How far ahead of the local clock a backup's time may be and still be
 * trusted (clock skew between agents). */
#define OCB_RET_FUTURE_SKEW 3600

#endif
