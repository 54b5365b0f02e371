/*
 * prune_i.h - what `ocb prune` (cmd_prune.c) shares with the repack it
 * carries out (prune_repack.c): the plan of one run (the listing, what
 * retention keeps, what each opened backup reads) and the repack plan
 * made from it.
 */
#ifndef OCB_PRUNE_I_H
#define OCB_PRUNE_I_H

#include "cmd.h"
#include "inventory.h"
#include "repack.h"
#include "retention.h"

#include <stddef.h>
#include <stdint.h>

struct ocb_keyprov;

struct plan {
	struct ocb_backup_ref *refs;
	struct ocb_ret_item *items;
	const char **refused;	/* why each refused item is, else NULL */
	unsigned char *opened;	/* authenticated by an open */
	struct ocb_ret_ref **brefs;	/* what each opened one references */
	/* what each opened one reads from those (when with_segs), and
	 * what it stores (the repack plan's input) */
	int with_segs;
	struct ocb_repack_seg **segs;
	size_t *nsegs;
	const uint8_t ***skeys;	/* per seg, its file's content key or NULL */
	uint8_t **keys;		/* ... where they are */
	uint64_t *stored, *objsize;
	struct ocb_repack_frame **frames;	/* each one's own frames */
	size_t *nframes;
	size_t n, nopened, nrefused;
	size_t nproblems;	/* references of kept backups not satisfied */
	int aborted;
};

struct repack {
	struct ocb_repack_item *v;
	const char ***names;		/* each item's refs' names */
	struct ocb_repack_totals t;
	int made;
};

/*
 * List the prefix (leaving out the backups named in gone), read the pins,
 * and settle the plan: every native backup a rule counts opened, and
 * what the kept ones need; with segs, also what each one reads where
 * (segs, nsegs, skeys, keys: only a repack plan needs them, and they
 * take memory in proportion to the files).  0 or a negative errno.
 */
int prune_plan_make(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		    struct ocb_ret_policy *p, const char *just_taken,
		    const char *const *gone, size_t ngone, int segs,
		    struct plan *pl);
void prune_plan_free(struct plan *pl);

/* What repacking does after plan pl (retention.repack*): 0 or -ENOMEM. */
int prune_repack_make(const struct ocb_config *cfg, const struct plan *pl,
		      struct repack *rp);
void prune_repack_free(struct repack *rp, size_t n);

/*
 * Carry out the repack plan rp of plan pl (docs/FORMAT.md, "Repacking"):
 * write each replaced backup's replacement, oldest first, open and
 * verify it; then plan again from a fresh listing without the replaced
 * backups and delete each of them (newest first) that no kept backup
 * reads from.  On success *pl is that fresh plan (the ordinary prune
 * pass deletes the repacked objects from it; rp's names pointed into the
 * old one).  0, or a negative errno: *pl is then the old plan, which
 * must not be acted upon any more (some backups may have gone).
 */
int prune_repack_run(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		     struct ocb_ret_policy *p, struct plan *pl,
		     struct repack *rp);

#endif
