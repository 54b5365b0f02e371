/*
 * restore_plan.h - what a restore would change (`ocb restore --dry-run`):
 * a subtree of a backup compared with a directory on disk, entry by
 * entry, without writing anything.
 */
#ifndef OCB_RESTORE_PLAN_H
#define OCB_RESTORE_PLAN_H

#include <stdint.h>

#include "ocb_archive.h"

enum ocb_change {
	OCB_CHANGE_NEW = 1,	/* in the backup, not on disk */
	OCB_CHANGE_CHANGED,	/* on both, different (type, size, mtime,
				 * mode or link target) */
	OCB_CHANGE_DELETED,	/* on disk, not in the backup */
};

/* Receives each difference; path is relative to the compared root ("" is
 * the root itself).  0 to go on, negative errno to stop (returned). */
typedef int (*ocb_change_fn)(void *arg, enum ocb_change what,
			     const char *path, const char *why);

struct ocb_plan_counts {
	uint64_t same, added, changed, deleted;
};

/*
 * Compare entry idx of a (with everything below it) with the disk path
 * dir.  Symlinks on disk are never followed.  0 (counts filled) or a
 * negative errno (from cb, or -ENOMEM; unreadable disk directories are
 * reported as a change, not an error).
 */
int ocb_restore_plan(struct ocb_archive *a, uint32_t idx, const char *dir,
		     ocb_change_fn cb, void *arg, struct ocb_plan_counts *n);

#endif
