/*
 * backup_name.h - backup names: "openclaw-aws-backup-<UTC time>[-label]",
 * the name both the old tool and ocb give a backup.  The archive layer
 * reads the time a name carries to bind it to the catalog; retention and
 * listing order backups by it.
 */
#ifndef OCB_BACKUP_NAME_H
#define OCB_BACKUP_NAME_H

#include <stdint.h>

/* The time a backup name carries (native "...-2026-11-23T00-00-00Z[-label]"
 * or the old tool's "...-2026-11-23T00-00-00"): 0 or -EINVAL.  *labelled
 * is set when a label follows the time. */
int ocb_backup_name_time(const char *name, int64_t *t, int *labelled);

#endif
