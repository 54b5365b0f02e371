/*
 * restore.h - write a backup (or some of its paths) to a directory,
 * relative to one descriptor and never through a symlink (restore_disk_i.h),
 * checking every file's SHA-256 against the catalog before it is put in
 * place.
 */
#ifndef OCB_RESTORE_H
#define OCB_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "ocb_archive.h"

struct ocb_restore_result {
	uint64_t entries;
	uint64_t files;
	uint64_t bytes;
	uint64_t bad_files;	/* content not matching the catalog (not
				 * written) */
	uint64_t skipped;	/* entries or metadata left out (listed
				 * as warnings): unsafe paths, device
				 * nodes, setuid bits, xattrs */
};

enum {
	/* restore device nodes, setuid/setgid bits and xattrs outside
	 * user.* (native backups only: never from old-tool archives) */
	OCB_RESTORE_SPECIAL = 1,
};

struct ocb_restore_opts {
	const char *target;		/* existing directory to write into */
	const char *const *paths;	/* backup-relative paths to restore
					 * (with what is below them); none:
					 * everything */
	size_t npaths;
	unsigned flags;			/* OCB_RESTORE_* */
	const volatile int *cancel;	/* non-zero: stop, -ECANCELED */
	/* called after each entry and each chunk written (often: the
	 * callee throttles); may be NULL */
	void (*progress)(void *arg, const struct ocb_restore_result *sofar);
	void *progress_arg;
};


/* What restoring paths (none: everything) would write: entries, regular
 * files and their bytes, from the catalog alone. */
void ocb_restore_totals(struct ocb_archive *a, const char *const *paths,
			size_t npaths, struct ocb_restore_result *out);

/* 0; -EBADMSG (damaged backup or a hash mismatch: res->bad_files),
 * -ENOSPC, -ECANCELED, store errors.  A failed restore may leave some
 * entries written under target. */
int ocb_restore_run(struct ocb_archive *a, const struct ocb_restore_opts *o,
		    struct ocb_restore_result *res);

static inline int ocb_interrupted_flag(const struct ocb_restore_opts *o)
{
	return o->cancel && *o->cancel;
}

#endif
