/*
 * group.h - group backups of a fleet of agents: each agent's own backup
 * tagged with the group id and its role (object metadata "group",
 * "role"), collected by the manager into a manifest
 * "<root>/.manifests/<id>.json" (docs/FORMAT.md), restored in the order of
 * the roles.
 */
#ifndef OCB_GROUP_H
#define OCB_GROUP_H

#include <stddef.h>

#include "backups.h"
#include "store.h"

/* Known roles: manager, librarian, access-service (or access), worker
 * (or worker-stateful), ephemeral (or worker-ephemeral). */
int ocb_group_role_ok(const char *role);
/* Restore order: 0 manager (CRITICAL), 1 librarian and access-service
 * (HIGH), 2 worker (MEDIUM), 3 ephemeral and anything else (LOW). */
int ocb_group_role_rank(const char *role);
const char *ocb_group_rank_name(int rank);

struct ocb_group_member {
	char instance[128];		/* the instance id (shown name) */
	char prefix[OCB_KEY_MAX];
	char role[32];
	struct ocb_backup_ref ref;	/* the tagged backup */
};

/*
 * The backups tagged with group id, one per instance under root (the
 * newest tagged one among each instance's newest `depth` backups; their
 * metadata is read with HEAD).  *out malloc'ed (free()), *n members.
 */
int ocb_group_collect(struct ocb_store *s, const char *root, const char *id,
		      size_t depth, struct ocb_group_member **out, size_t *n);

/* "<root>/.manifests/<id>.json" into buf: 0 or -ENAMETOOLONG. */
int ocb_group_manifest_key(const char *root, const char *id, char *buf,
			   size_t size);

#endif
