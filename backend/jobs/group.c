/*
 * group.c - group backups: roles, collection of tagged backups (group.h).
 */
#include "group.h"
#include "buf.h"
#include "config.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static const char *const rank_names[] = { "CRITICAL", "HIGH", "MEDIUM",
					   "LOW" };

const char *ocb_group_rank_name(int rank)
{
	return rank >= 0 && rank < 4 ? rank_names[rank] : "LOW";
}

int ocb_group_rank_parse(const char *name)
{
	int i;

	for (i = 0; name && i < 4; i++)
		if (!strcmp(name, rank_names[i]))
			return i;
	return -1;
}

/* ---- settings ------------------------------------------------------------ */

static int bad_setting(const struct ocb_config *cfg, const char *field,
		       const char *why)
{
	ocb_err("config %s: %s: %s", cfg->path ? cfg->path : "(built-in)",
		field, why);
	return -EINVAL;
}

/* the JSON text of a config field as a cJSON value: NULL when absent */
static int extra(const struct ocb_config *cfg, const char *name, cJSON **out)
{
	char *text = NULL;
	int r = ocb_config_extra(cfg, name, &text);

	*out = NULL;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	*out = cJSON_Parse(text);
	free(text);
	return *out ? 0 : -ENOMEM;
}

static int settings_group(const struct ocb_config *cfg, const cJSON *g,
			  struct ocb_group_settings *gs)
{
	const cJSON *v, *it;

	v = cJSON_GetObjectItemCaseSensitive(g, "members");
	if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) {
		gs->members = calloc((size_t)cJSON_GetArraySize(v),
				     sizeof(*gs->members));
		if (!gs->members)
			return -ENOMEM;
		cJSON_ArrayForEach(it, v) {
			if (!cJSON_IsString(it) || !it->valuestring[0] ||
			    strchr(it->valuestring, '/') ||
			    strlen(it->valuestring) >= 128)
				return bad_setting(cfg, "group.members", "an "
						   "instance id is empty, too "
						   "long or holds a '/'");
			if (!(gs->members[gs->nmembers++] =
			      strdup(it->valuestring)))
				return -ENOMEM;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(g, "timeout");
	if (cJSON_IsNumber(v))
		gs->timeout = v->valuedouble > 86400 ? 86400 :
			(unsigned)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(g, "project");
	if (cJSON_IsString(v) &&
	    snprintf(gs->project, sizeof(gs->project), "%s", v->valuestring) >=
	    (int)sizeof(gs->project))
		return bad_setting(cfg, "group.project", "longer than 127 bytes");
	v = cJSON_GetObjectItemCaseSensitive(g, "answerRequests");
	if (cJSON_IsBool(v))
		gs->answer_requests = cJSON_IsTrue(v);
	v = cJSON_GetObjectItemCaseSensitive(g, "priorities");
	cJSON_ArrayForEach(it, v) {
		int rank = cJSON_IsString(it) ?
			ocb_group_rank_parse(it->valuestring) : -1;

		if (rank < 0)
			return bad_setting(cfg, "group.priorities", "use "
					   "CRITICAL, HIGH, MEDIUM or LOW");
		if (!ocb_group_role_ok(it->string))
			return bad_setting(cfg, "group.priorities", "a key is "
					   "not a role (manager, librarian, "
					   "access-service, worker, ephemeral)");
		if (gs->nprio == OCB_GROUP_PRIO_MAX)
			return bad_setting(cfg, "group.priorities", "too many");
		snprintf(gs->prio[gs->nprio].role, sizeof(gs->prio[0].role),
			 "%s", it->string);
		gs->prio[gs->nprio++].rank = rank;
	}
	return 0;
}

int ocb_group_settings_load(const struct ocb_config *cfg,
			    struct ocb_group_settings *gs)
{
	cJSON *role = NULL, *g = NULL;
	int r;

	memset(gs, 0, sizeof(*gs));
	gs->timeout = OCB_GROUP_TIMEOUT;
	/* requests are objects anyone who can write the bucket can put there
	 * (they start this agent's backup and its hooks): answering them is
	 * opted into */
	gs->answer_requests = 0;
	r = extra(cfg, "role", &role);
	if (r == 0 && cJSON_IsString(role)) {
		if (!ocb_group_role_ok(role->valuestring))
			r = bad_setting(cfg, "role", "use manager, librarian, "
					"access-service, worker or ephemeral");
		else
			snprintf(gs->role, sizeof(gs->role), "%s",
				 role->valuestring);
	}
	if (r == 0)
		r = extra(cfg, "group", &g);
	if (r == 0 && g)
		r = settings_group(cfg, g, gs);
	cJSON_Delete(role);
	cJSON_Delete(g);
	if (r < 0)
		ocb_group_settings_release(gs);
	return r;
}

void ocb_group_settings_release(struct ocb_group_settings *gs)
{
	size_t i;

	for (i = 0; i < gs->nmembers; i++)
		free(gs->members[i]);
	free(gs->members);
	gs->members = NULL;
	gs->nmembers = 0;
}

int ocb_group_rank(const struct ocb_group_settings *gs, const char *role)
{
	size_t i;

	for (i = 0; gs && role && i < gs->nprio; i++)
		if (!strcmp(gs->prio[i].role, role))
			return gs->prio[i].rank;
	return ocb_group_role_rank(role);
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
	int r = ocb_inventory_list(s, prefix, &v, &n), found = 0;

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
			const char *st = ocb_meta_get(&h.meta, "state-snapshot");

			snprintf(m->state_snapshot, sizeof(m->state_snapshot),
				 "%s", st ? st : "");
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
	int r = ocb_inventory_instances(s, root, &inst, &ni);

	if (r < 0)
		return r;
	v = calloc(ni ? ni : 1, sizeof(*v));
	if (!v) {
		ocb_inventory_instances_free(inst, ni);
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
	ocb_inventory_instances_free(inst, ni);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n = k;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

#define REQUEST_MAX 4096	/* bytes of a request object read at most */

static int request_key(const char *root, const char *id, const char *inst,
		       char *buf, size_t size)
{
	int n = inst ? snprintf(buf, size, "%s%s.requests/%s/%s", root,
				*root ? "/" : "", id, inst) :
		snprintf(buf, size, "%s%s.requests/%s.json", root,
			 *root ? "/" : "", id);

	return n >= (int)size ? -ENAMETOOLONG : 0;
}

int ocb_group_request(struct ocb_store *s, const char *root, const char *id,
		      const char *by, long ttl)
{
	struct ocb_put_opts po = { .content_type = "application/json",
				   .if_none_match = 1 };
	char key[OCB_KEY_MAX];
	cJSON *o = cJSON_CreateObject();
	time_t now = time(NULL);
	char *text = NULL;
	int r;

	r = request_key(root, id, NULL, key, sizeof(key));
	if (r == 0 && (!o || !cJSON_AddStringToObject(o, "group", id) ||
		       !cJSON_AddStringToObject(o, "by", by ? by : "") ||
		       !cJSON_AddNumberToObject(o, "requested", (double)now) ||
		       !cJSON_AddNumberToObject(o, "expires",
						(double)(now + ttl)) ||
		       !(text = cJSON_PrintUnformatted(o))))
		r = -ENOMEM;
	if (r == 0)
		r = ocb_store_put_mem(s, key, text, strlen(text), &po);
	cJSON_Delete(o);
	free(text);
	return r == -EEXIST ? 0 : r;
}

/* does request id exist?  1, 0 or a store error */
static int request_open(struct ocb_store *s, const char *root, const char *id)
{
	struct ocb_obj_head h = { 0 };
	char key[OCB_KEY_MAX];
	int r = request_key(root, id, NULL, key, sizeof(key));

	if (r == 0)
		r = s->ops->head(s, key, &h);
	ocb_obj_head_release(&h);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

/*
 * The ack is written while the request is open; a request closed in the
 * meantime (its remover deletes the request before it lists the acks, so
 * it may have missed this one) takes the ack back: no ack outlives its
 * request, whichever of the two ran first.
 */
int ocb_group_ack(struct ocb_store *s, const char *root, const char *id,
		  const char *instance)
{
	char key[OCB_KEY_MAX];
	int r = request_open(s, root, id);

	if (r <= 0)	/* no request, nothing to answer */
		return r;
	r = request_key(root, id, instance, key, sizeof(key));
	if (r == 0)
		r = ocb_store_put_mem(s, key, "", 0, NULL);
	if (r == 0 && (r = request_open(s, root, id)) == 0)
		r = s->ops->del(s, key);
	return r == -ENOENT || r == 1 ? 0 : r;
}

struct pend {
	struct ocb_store *s;
	const char *root, *instance;
	int (*cb)(void *arg, const char *id);
	void *arg;
	int stop;
};

/* one listed request: not acked by this instance, open, not expired?
 * (the ack is looked at first: answered requests cost one HEAD) */
static int pend_one(void *arg, const struct ocb_list_entry *le)
{
	struct pend *p = arg;
	const char *base = strrchr(le->key, '/');
	char id[128], key[OCB_KEY_MAX];
	struct ocb_obj_head h = { 0 };
	struct ocb_buf b;
	cJSON *o = NULL;
	const cJSON *exp;
	size_t n;
	int r;

	base = base ? base + 1 : le->key;
	n = strlen(base);
	if (p->stop || le->is_prefix || n <= 5 || n - 5 >= sizeof(id) ||
	    strcmp(base + n - 5, ".json"))
		return 0;
	memcpy(id, base, n - 5);
	id[n - 5] = '\0';
	if (!ocb_inventory_label_ok(id))
		return 0;	/* not a name this protocol writes */
	r = request_key(p->root, id, p->instance, key, sizeof(key));
	if (r == 0)
		r = p->s->ops->head(p->s, key, &h);
	ocb_obj_head_release(&h);
	if (r == 0)
		return 0;	/* acked */
	if (r != -ENOENT)
		return r;
	ocb_buf_init(&b, REQUEST_MAX);
	r = ocb_store_get_buf(p->s, le->key, &b, NULL);
	if (r == 0 && (o = cJSON_ParseWithLength(b.data ? b.data : "", b.len)))
		exp = cJSON_GetObjectItemCaseSensitive(o, "expires");
	else
		exp = NULL;
	ocb_buf_release(&b);
	if (r == 0 && cJSON_IsNumber(exp) &&
	    exp->valuedouble >= (double)time(NULL))
		p->stop = p->cb(p->arg, id) != 0;
	cJSON_Delete(o);
	/* gone, too large, malformed or expired: not pending */
	return r == -ENOENT || r == -EFBIG ? 0 : r;
}

int ocb_group_pending(struct ocb_store *s, const char *root,
		      const char *instance,
		      int (*cb)(void *arg, const char *id), void *arg)
{
	struct pend p = { s, root, instance, cb, arg, 0 };
	char prefix[OCB_KEY_MAX];

	if (snprintf(prefix, sizeof(prefix), "%s%s.requests/", root,
		     *root ? "/" : "") >= (int)sizeof(prefix))
		return -ENAMETOOLONG;
	return s->ops->list(s, prefix, "/", NULL, pend_one, &p);
}

#define ACKS_MAX 4096	/* acks of one request removed at most */

struct acks {
	char **v;
	size_t n;
};

static int ack_fn(void *arg, const struct ocb_list_entry *le)
{
	struct acks *a = arg;

	if (le->is_prefix || a->n == ACKS_MAX)
		return 0;
	if (!(a->v[a->n] = strdup(le->key)))
		return -ENOMEM;
	a->n++;
	return 0;
}

/* the request first, then its acks: an ack written after the listing
 * finds the request gone and removes itself (ocb_group_ack) */
int ocb_group_request_remove(struct ocb_store *s, const char *root,
			     const char *id)
{
	char key[OCB_KEY_MAX], prefix[OCB_KEY_MAX];
	struct acks a = { calloc(ACKS_MAX, sizeof(char *)), 0 };
	size_t i;
	int r = a.v ? request_key(root, id, NULL, key, sizeof(key)) : -ENOMEM;

	if (r == 0 && (r = s->ops->del(s, key)) == -ENOENT)
		r = 0;
	if (r == 0)
		r = request_key(root, id, "", prefix, sizeof(prefix));
	if (r == 0)
		r = s->ops->list(s, prefix, NULL, NULL, ack_fn, &a);
	if (r == 0 && a.n)
		r = s->ops->del_many(s, (const char *const *)a.v, a.n);
	for (i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	return r;
}

/* ---- finalize ------------------------------------------------------------- */

static void iso(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int member_of(const struct ocb_group_member *v, size_t n,
		     const char *inst)
{
	size_t k;

	for (k = 0; k < n && strcmp(v[k].instance, inst); k++)
		;
	return k < n;
}

/* the instances expected: f's list, or every instance under the root
 * (as the mount names them) */
static int expected(struct ocb_store *s, const struct ocb_group_finalize *f,
		    char ***out, size_t *n)
{
	char **v;
	size_t i;
	int r;

	if (!f->expect_all) {
		v = calloc(f->nexpect + 1, sizeof(*v));
		for (i = 0; v && i < f->nexpect; i++)
			if (!(v[i] = strdup(f->expect[i])))
				break;
		*out = v;
		*n = v ? i : 0;
		return v && i == f->nexpect ? 0 : -ENOMEM;
	}
	r = ocb_inventory_instances(s, f->root, out, n);
	for (i = 0; r == 0 && i < *n; i++) {
		char *p = (*out)[i], *base = strrchr(p, '/');

		base = base ? base + 1 : p;
		if (!strncmp(base, "instance-", 9) && base[9])
			base += 9;
		memmove(p, base, strlen(base) + 1);
	}
	return r;
}

/* wait for the polling interval, or less if cancelled */
static void pause_poll(const volatile int *cancel)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int i;

	for (i = 0; i < 10 && !(cancel && *cancel); i++)
		nanosleep(&ts, NULL);
}

static cJSON *manifest(const struct ocb_group_finalize *f,
		       const struct ocb_group_member *v, size_t n,
		       char **exp, size_t nexp, time_t start)
{
	cJSON *doc = cJSON_CreateObject(), *agents, *co, *miss;
	const char *manager = f->finalizer;
	char ts[32];
	size_t i;

	if (!doc)
		return NULL;
	for (i = 0; i < n; i++)
		if (!strcmp(v[i].role, "manager"))
			manager = v[i].instance;
	iso(start, ts, sizeof(ts));
	cJSON_AddNumberToObject(doc, "format", 1);
	cJSON_AddStringToObject(doc, "backup_id", f->id);
	cJSON_AddStringToObject(doc, "project", f->project ? f->project : "");
	cJSON_AddStringToObject(doc, "timestamp", ts);
	cJSON_AddStringToObject(doc, "backup_type", "multi-agent");
	cJSON_AddStringToObject(doc, "status", f->complete ? "complete" :
				"incomplete");
	agents = cJSON_AddArrayToObject(doc, "agents");
	for (i = 0; agents && i < n; i++) {
		cJSON *a = cJSON_CreateObject();
		char path[OCB_KEY_MAX + 300];

		if (!a)
			break;
		snprintf(path, sizeof(path), "%s/%s", f->store_desc,
			 v[i].ref.key);
		cJSON_AddStringToObject(a, "id", v[i].instance);
		cJSON_AddStringToObject(a, "type", v[i].role);
		cJSON_AddStringToObject(a, "instance", v[i].instance);
		cJSON_AddStringToObject(a, "backup", v[i].ref.name);
		cJSON_AddStringToObject(a, "backup_path", path);
		if (v[i].state_snapshot[0])
			cJSON_AddStringToObject(a, "state_snapshot",
						v[i].state_snapshot);
		else
			cJSON_AddNullToObject(a, "state_snapshot");
		cJSON_AddStringToObject(a, "status", "ok");
		cJSON_AddItemToArray(agents, a);
	}
	miss = cJSON_AddArrayToObject(doc, "missing");
	for (i = 0; miss && i < nexp; i++)
		if (!member_of(v, n, exp[i]))
			cJSON_AddItemToArray(miss, cJSON_CreateString(exp[i]));
	co = cJSON_AddObjectToObject(doc, "coordination");
	cJSON_AddStringToObject(co, "manager_id", manager);
	cJSON_AddStringToObject(co, "initiated_by", f->initiated_by ?
				f->initiated_by : f->finalizer);
	cJSON_AddStringToObject(co, "finalized_by", f->finalizer);
	iso(time(NULL), ts, sizeof(ts));
	cJSON_AddStringToObject(co, "completion_time", ts);
	return doc;
}

int ocb_group_finalize(struct ocb_store *s, struct ocb_group_finalize *f)
{
	struct ocb_group_member *v = NULL;
	time_t start = time(NULL);
	char key[OCB_KEY_MAX], *text = NULL, **exp = NULL;
	size_t n = 0, nexp = 0, i, used = 0;
	cJSON *doc = NULL;
	int r, missing;

	f->nagents = 0;
	f->complete = 0;
	f->missing[0] = '\0';
	r = expected(s, f, &exp, &nexp);	/* the fleet as it is now */
	if (r < 0)
		goto out;
	for (;;) {
		free(v);
		v = NULL;
		r = ocb_group_collect(s, f->root, f->id, 20, &v, &n);
		if (r < 0)
			goto out;
		for (i = 0, missing = 0; i < nexp; i++)
			missing += !member_of(v, n, exp[i]);
		if (!missing || time(NULL) - start >= (time_t)f->timeout ||
		    (f->cancel && *f->cancel))
			break;
		pause_poll(f->cancel);	/* the others' backups are coming */
	}
	f->nagents = n;
	f->complete = !missing && n > 0;
	for (i = 0; i < nexp; i++) {
		size_t len = strlen(exp[i]);

		if (member_of(v, n, exp[i]))
			continue;
		if (used + len + 6 >= sizeof(f->missing)) {
			snprintf(f->missing + used, sizeof(f->missing) - used,
				 "...");
			break;
		}
		used += (size_t)snprintf(f->missing + used,
					 sizeof(f->missing) - used, "%s%s",
					 used ? ", " : "", exp[i]);
	}
	doc = manifest(f, v, n, exp, nexp, start);
	text = doc ? cJSON_Print(doc) : NULL;
	r = text ? ocb_group_manifest_key(f->root, f->id, key, sizeof(key)) :
		-ENOMEM;
	if (r == 0)	/* one PUT: readers see no manifest or the whole one */
		r = ocb_store_put_mem(s, key, text, strlen(text), NULL);
out:
	free(text);
	cJSON_Delete(doc);
	ocb_inventory_instances_free(exp, nexp);
	free(v);
	return r;
}
