/*
 * backup_name.h - backup names: "openclaw-aws-backup-<UTC time>[-label]",
 * the name both the old tool and ocb give a backup.  The archive layer
 * reads the time a name carries to bind it to the catalog; retention and
 * listing order backups by it; retention counts a repack's replacement
 * (same time, label "repack<n>") as the backup it replaces.
 */
#ifndef OCB_BACKUP_NAME_H
#define OCB_BACKUP_NAME_H

#include <stddef.h>
#include <stdint.h>

/* The time a backup name carries (native "...-2026-11-23T00-00-00Z[-label]"
 * or the old tool's "...-2026-11-23T00-00-00"): 0 or -EINVAL.  *labelled
 * is set when a label follows the time. */
int ocb_backup_name_time(const char *name, int64_t *t, int *labelled);

/* The length of a native name's part up to and including its time's "Z"
 * ("openclaw-aws-backup-2026-11-23T00-00-00Z"), or 0 for another name. */
size_t ocb_backup_name_stem(const char *name);

/* Is name a repack's replacement of a backup ("<its time>Z-repack<n>",
 * n >= 1, no leading zero)?  Its backup is the one of the same stem. */
int ocb_backup_name_is_replacement(const char *name);

/* The label of a replacement: "-repack" then its number. */
#define OCB_BACKUP_NAME_REPACK "-repack"

#endif
