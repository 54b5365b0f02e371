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

#include "inventory.h"
#include "store.h"

struct ocb_config;

/* Known roles: manager, librarian, access-service (or access), worker
 * (or worker-stateful), ephemeral (or worker-ephemeral). */
int ocb_group_role_ok(const char *role);
/* Restore order: 0 manager (CRITICAL), 1 librarian and access-service
 * (HIGH), 2 worker (MEDIUM), 3 ephemeral and anything else (LOW). */
int ocb_group_role_rank(const char *role);
const char *ocb_group_rank_name(int rank);
/* "CRITICAL", "HIGH", "MEDIUM", "LOW" -> 0..3, else -1. */
int ocb_group_rank_parse(const char *name);

#define OCB_GROUP_PRIO_MAX 16
#define OCB_GROUP_TIMEOUT 300		/* default group.timeout, seconds */

/* The config's group settings ("role", "group": {...}: ocb-config(5)). */
struct ocb_group_settings {
	char role[32];			/* "" when the config has none */
	char **members;			/* group.members: instance ids a group
					 * backup waits for (none: every
					 * instance under the root) */
	size_t nmembers;
	unsigned timeout;		/* group.timeout */
	char project[128];		/* group.project */
	int answer_requests;		/* group.answerRequests (default 0) */
	struct { char role[32]; int rank; } prio[OCB_GROUP_PRIO_MAX];
	size_t nprio;			/* group.priorities overrides */
};

/* 0, -EINVAL (the field and file logged) or -ENOMEM. */
int ocb_group_settings_load(const struct ocb_config *cfg,
			    struct ocb_group_settings *gs);
void ocb_group_settings_release(struct ocb_group_settings *gs);
/* The restore rank of role: group.priorities first, then the built-in. */
int ocb_group_rank(const struct ocb_group_settings *gs, const char *role);

struct ocb_group_member {
	char instance[128];		/* the instance id (shown name) */
	char prefix[OCB_KEY_MAX];
	char role[32];
	char state_snapshot[1024];	/* its path in the backup, or "" */
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

/*
 * Finalize group id: collect the tagged backups, waiting up to timeout
 * seconds (polling the store) while an expected instance has none, then
 * write the manifest with one PUT.  0 (see complete), or a store error.
 */
struct ocb_group_finalize {
	const char *root, *id;
	const char *project;		/* may be NULL */
	const char *finalizer;		/* this instance */
	const char *initiated_by;	/* NULL: the finalizer */
	const char *store_desc;		/* for backup_path */
	const char *const *expect;	/* instances expected; NULL and
					 * expect_all: every instance under
					 * root */
	size_t nexpect;
	int expect_all;
	unsigned timeout;
	const volatile int *cancel;	/* may be NULL: stops the wait */
	/* out */
	size_t nagents;
	int complete;			/* every expected agent, at least one */
	char missing[512];		/* ", "-separated instances (cut at
					 * its size, with "...") */
};
int ocb_group_finalize(struct ocb_store *s, struct ocb_group_finalize *f);

/*
 * Requests: a group backup asked of every running ocbfs under root
 * (docs/FORMAT.md).  "<root>/.requests/<id>.json" holds {"group", "by",
 * "requested", "expires"}; each agent that took its tagged backup for it
 * writes "<root>/.requests/<id>/<instance>" (empty).  A request is
 * pending for an instance until it has acked it or it expires.
 */
#define OCB_GROUP_REQUEST_TTL 3600	/* seconds a request stays open */

/* Write the request for id (once: 0 also when it exists). */
int ocb_group_request(struct ocb_store *s, const char *root, const char *id,
		      const char *by, long ttl);
/* The ids of requests pending for instance, through cb (non-zero from
 * cb stops).  0 or a store error. */
int ocb_group_pending(struct ocb_store *s, const char *root,
		      const char *instance,
		      int (*cb)(void *arg, const char *id), void *arg);
/* instance took its backup for request id (nothing when there is no
 * such request). */
int ocb_group_ack(struct ocb_store *s, const char *root, const char *id,
		  const char *instance);
/* Remove request id and its acks (once the group is finalized). */
int ocb_group_request_remove(struct ocb_store *s, const char *root,
			     const char *id);

#endif
