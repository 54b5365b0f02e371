/*
 * inventory.h - the backups of one instance prefix, as a sorted list:
 * native "<name>.ocb" objects and the old tool's "<name>.tar.gz" objects.
 * Names sort by time, so the last one is the newest.
 */
#ifndef OCB_INVENTORY_H
#define OCB_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum ocb_backup_kind {
	OCB_BACKUP_NATIVE = 1,	/* .ocb */
	OCB_BACKUP_LEGACY,	/* .tar.gz of openclaw-aws-backup */
};

struct ocb_backup_ref {
	char name[256];		/* without the extension */
	char key[OCB_KEY_MAX];
	enum ocb_backup_kind kind;
	uint64_t size;
	int64_t mtime;
	int latest;		/* found as "latest" by ocb_inventory_find */
};

/* All backups directly under prefix ("<prefix>/<name>.ocb"), sorted by
 * name: *out malloc'ed (free()), *n entries.  0 or negative errno. */
int ocb_inventory_list(struct ocb_store *s, const char *prefix,
		     struct ocb_backup_ref **out, size_t *n);

/* The instance prefixes under root ("<root>/<x>/"): *out is an array of
 * malloc'ed strings without the trailing '/', NULL-terminated. */
int ocb_inventory_instances(struct ocb_store *s, const char *root, char ***out,
			  size_t *n);
void ocb_inventory_instances_free(char **v, size_t n);

/*
 * Resolve spec to one backup of prefix: "latest" (the newest native backup,
 * an old-tool one only when there is none), a name, a name with its
 * extension, or a full key.  0 and *out, or -ENOENT, or the listing's
 * error (a message logged for each).
 */
int ocb_inventory_find(struct ocb_store *s, const char *prefix,
		     const char *spec, struct ocb_backup_ref *out);

/*
 * Abort unfinished multipart uploads of backups under prefix that were
 * started more than max_age seconds ago (left by a killed backup).  Returns
 * the number aborted, or a negative errno.
 */
int ocb_inventory_abort_stale(struct ocb_store *s, const char *prefix,
			    int64_t max_age);

/*
 * Pins keep a backup whatever the retention policy: an empty marker object
 * "<prefix>/.pins/<name>" (any client sees it; works for old-tool backups
 * too).  Pinning twice or unpinning an unpinned backup succeeds.
 */
int ocb_inventory_pin(struct ocb_store *s, const char *prefix, const char *name,
		    int on);
/* The pinned names: *out NULL-terminated, free with
 * ocb_inventory_instances_free(). */
int ocb_inventory_pins(struct ocb_store *s, const char *prefix, char ***out,
		     size_t *n);

/* Is name a valid label ([A-Za-z0-9._-], 1 to 64 characters)? */
int ocb_inventory_label_ok(const char *label);

#endif
