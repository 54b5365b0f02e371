/*
 * backup_open.h - open any backup, native or old-tool, as a struct
 * ocb_archive: the one place that picks the implementation.
 */
#ifndef OCB_BACKUP_OPEN_H
#define OCB_BACKUP_OPEN_H

#include "ocb_archive.h"
#include "oldtool_archive.h"

struct ocb_backup_open_opts {
	struct ocb_keyprov *kp;		/* native: unwraps the data key (may
					 * be NULL for provider "none"; must
					 * outlive the archive) */
	struct ocb_oldtool_opts old;	/* old-tool: index, cache, gpg */
	struct ocb_store *old_store;	/* old-tool: the store to read them
					 * from; NULL: the same store */
	struct ocb_phys_cache *phys;	/* native: NULL, or where format 3
					 * keeps physical frames across reads
					 * (ocb_archive_set_phys_cache()) */
	unsigned int flags;		/* native: ocb_archive_open_ex()'s */
};

/* Does key name an old-tool backup ("<prefix>/<name>.tar.gz")? */
int ocb_backup_open_is_old(const char *key);

/*
 * Open the backup at key: "<name>.tar.gz" as an old-tool backup
 * (ocb_oldtool_reader_open() with o->old, from o->old_store), anything
 * else as a native one (ocb_archive_open_ex() with o->kp and o->flags,
 * then o->phys).  0 and *out, or
 * the errors of the one called.
 */
int ocb_backup_open(struct ocb_store *s, const char *key,
		    const struct ocb_backup_open_opts *o,
		    struct ocb_archive **out);

#endif
