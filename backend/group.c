/*
 * group.c - group backups: roles, collection of tagged backups (group.h).
 */
#include "group.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *role;
	int rank;
} roles[] = {
	{ "manager", 0 },
	{ "librarian", 1 },
	{ "access-service", 1 },
	{ "access", 1 },
	{ "worker", 2 },
	{ "worker-stateful", 2 },
	{ "ephemeral", 3 },
	{ "worker-ephemeral", 3 },
};

int ocb_group_role_ok(const char *role)
{
	size_t i;

	for (i = 0; role && i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(role, roles[i].role))
			return 1;
	return 0;
}

int ocb_group_role_rank(const char *role)
{
	size_t i;

	for (i = 0; role && i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(role, roles[i].role))
			return roles[i].rank;
	return 3;
}

const char *ocb_group_rank_name(int rank)
{
	static const char *const names[] = { "CRITICAL", "HIGH", "MEDIUM", "LOW" };

	return rank >= 0 && rank < 4 ? names[rank] : "LOW";
}

int ocb_group_manifest_key(const char *root, const char *id, char *buf,
			   size_t size)
{
	return snprintf(buf, size, "%s%s.manifests/%s.json", root,
			*root ? "/" : "", id) >= (int)size ? -ENAMETOOLONG : 0;
}

/* the newest backup of prefix tagged with id, within depth: 1, 0, errno */
static int tagged(struct ocb_store *s, const char *prefix, const char *id,
		  size_t depth, struct ocb_group_member *m)
{
	struct ocb_backup_ref *v = NULL;
	size_t n = 0, i, seen = 0;
	int r = ocb_backups_list(s, prefix, &v, &n), found = 0;

	for (i = n; r == 0 && i-- > 0 && seen < depth && !found; ) {
		struct ocb_obj_head h;
		const char *g, *role;

		if (v[i].kind != OCB_BACKUP_NATIVE)
			continue;
		seen++;
		memset(&h, 0, sizeof(h));
		r = s->ops->head(s, v[i].key, &h);
		if (r == -ENOENT) {		/* deleted meanwhile */
			r = 0;
			continue;
		}
		g = r == 0 ? ocb_meta_get(&h.meta, "group") : NULL;
		if (g && !strcmp(g, id)) {
			role = ocb_meta_get(&h.meta, "role");
			snprintf(m->role, sizeof(m->role), "%s",
				 role && ocb_group_role_ok(role) ? role : "worker");
			m->ref = v[i];
			found = 1;
		}
		ocb_obj_head_release(&h);
	}
	free(v);
	return r < 0 ? r : found;
}

int ocb_group_collect(struct ocb_store *s, const char *root, const char *id,
		      size_t depth, struct ocb_group_member **out, size_t *n)
{
	char **inst = NULL;
	size_t ni = 0, i, k = 0;
	struct ocb_group_member *v;
	int r = ocb_backups_instances(s, root, &inst, &ni);

	if (r < 0)
		return r;
	v = calloc(ni ? ni : 1, sizeof(*v));
	if (!v) {
		ocb_backups_instances_free(inst, ni);
		return -ENOMEM;
	}
	for (i = 0; i < ni && r >= 0; i++) {
		const char *base = strrchr(inst[i], '/');

		base = base ? base + 1 : inst[i];
		if (!strncmp(base, "instance-", 9) && base[9])
			base += 9;	/* as the mount shows it */
		r = tagged(s, inst[i], id, depth, &v[k]);
		if (r == 1) {
			snprintf(v[k].instance, sizeof(v[k].instance), "%s",
				 base);
			snprintf(v[k].prefix, sizeof(v[k].prefix), "%s", inst[i]);
			k++;
		}
	}
	ocb_backups_instances_free(inst, ni);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n = k;
	return 0;
}
