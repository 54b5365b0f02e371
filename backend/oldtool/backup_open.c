/*
 * backup_open.c - the one opener of backups of any kind (backup_open.h),
 * used by the mount and the tools alike.
 *
 * It lives in the oldtool library because that is the lowest layer that
 * sees both implementations: the native reader is in archive, below, and
 * must not know of old backups; jobs, above, is about what is done with
 * backups (backup, restore, retention), not about reading one, and would
 * put the opener out of reach of anything between.
 */
#include "backup_open.h"
#include "oldtool_reader.h"

#include <string.h>

int ocb_backup_open_is_old(const char *key)
{
	size_t n = strlen(key);

	return n > 7 && !strcmp(key + n - 7, ".tar.gz");
}

int ocb_backup_open(struct ocb_store *s, const char *key,
		    const struct ocb_backup_open_opts *o,
		    struct ocb_archive **out)
{
	int r;

	if (ocb_backup_open_is_old(key))
		return ocb_oldtool_reader_open(o->old_store ? o->old_store : s,
					       key, &o->old, out);
	r = ocb_archive_open_ex(s, key, o->kp, o->flags, out);
	if (r == 0)
		ocb_archive_set_phys_cache(*out, o->phys);
	return r;
}
