/*
 * cmd_group.c - `ocb group`: group backups of a fleet of agents.
 *
 *   finalize ID [--expect INSTANCE]... [--timeout SECONDS] [--project NAME]
 *   list | show ID | restore ID [--dry-run]
 *
 * Each agent joins a group with `ocb backup --group ID --role ROLE`; the
 * manager's `finalize` collects the tagged backups into the manifest.
 */
#include "cmd.h"
#include "group.h"
#include "buf.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPECT_MAX 64
#define MANIFEST_MAX (1 << 20)

static const char usage[] =
	"usage: ocb group finalize ID [--expect INSTANCE]... [--timeout SECONDS]\n"
	"                 [--project NAME]\n"
	"       ocb group list\n"
	"       ocb group show ID\n"
	"       ocb group restore ID [--dry-run]\n"
	"\n"
	"A group backup links one backup per agent of a fleet under one id.\n"
	"Each agent takes its part with `ocb backup --group ID --role ROLE`;\n"
	"`finalize` (on the manager) finds the tagged backups of every instance\n"
	"under the same root and writes the manifest <root>/.manifests/ID.json.\n"
	"With --expect, it waits up to --timeout seconds (default 0) for those\n"
	"instances; any still missing are listed and the group is marked\n"
	"incomplete (exit 1).  `restore` prints the order: manager first, then\n"
	"librarian and access service, then workers; it restores the agent of\n"
	"this machine in place (as `ocb restore`) and prints the command to\n"
	"run on each other one.\n";

static void iso(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int expected_missing(const struct ocb_group_member *v, size_t n,
			    char **expect, size_t nexpect)
{
	size_t i, k;
	int missing = 0;

	for (i = 0; i < nexpect; i++) {
		for (k = 0; k < n && strcmp(v[k].instance, expect[i]); k++)
			;
		missing += k == n;
	}
	return missing;
}

static int finalize(struct ocb_ctx *ctx, const char *id, char **expect,
		    size_t nexpect, long timeout, const char *project)
{
	struct ocb_group_member *v = NULL;
	time_t start = time(NULL);
	cJSON *doc = NULL, *agents, *co, *miss;
	char ts[32], key[OCB_KEY_MAX], *text = NULL;
	size_t n = 0, i, k;
	int r, missing;

	for (;;) {
		free(v);
		v = NULL;
		r = ocb_group_collect(ctx->store, ctx->cfg->root, id, 20, &v, &n);
		if (r < 0)
			return ocb_fail(r, "collect group %s", id);
		missing = expected_missing(v, n, expect, nexpect);
		if (!missing || time(NULL) - start >= timeout || ocb_interrupted)
			break;
		sleep(2);	/* the other agents' backups are still coming */
	}
	doc = cJSON_CreateObject();
	iso(start, ts, sizeof(ts));
	cJSON_AddNumberToObject(doc, "format", 1);
	cJSON_AddStringToObject(doc, "backup_id", id);
	cJSON_AddStringToObject(doc, "project", project ? project : "");
	cJSON_AddStringToObject(doc, "timestamp", ts);
	cJSON_AddStringToObject(doc, "backup_type", "multi-agent");
	cJSON_AddStringToObject(doc, "status", missing || !n ? "incomplete" :
				"complete");
	agents = cJSON_AddArrayToObject(doc, "agents");
	for (i = 0; i < n; i++) {
		cJSON *a = cJSON_CreateObject();
		char path[OCB_KEY_MAX + 300];

		snprintf(path, sizeof(path), "%s/%s", ctx->store->desc,
			 v[i].ref.key);
		cJSON_AddStringToObject(a, "id", v[i].instance);
		cJSON_AddStringToObject(a, "type", v[i].role);
		cJSON_AddStringToObject(a, "instance", v[i].instance);
		cJSON_AddStringToObject(a, "backup", v[i].ref.name);
		cJSON_AddStringToObject(a, "backup_path", path);
		cJSON_AddNullToObject(a, "state_snapshot");
		cJSON_AddStringToObject(a, "status", "ok");
		cJSON_AddItemToArray(agents, a);
	}
	miss = cJSON_AddArrayToObject(doc, "missing");
	for (i = 0; i < nexpect; i++) {
		for (k = 0; k < n && strcmp(v[k].instance, expect[i]); k++)
			;
		if (k == n)
			cJSON_AddItemToArray(miss, cJSON_CreateString(expect[i]));
	}
	co = cJSON_AddObjectToObject(doc, "coordination");
	cJSON_AddStringToObject(co, "manager_id", ctx->cfg->instance_id);
	cJSON_AddStringToObject(co, "initiated_by", ctx->cfg->instance_id);
	iso(time(NULL), ts, sizeof(ts));
	cJSON_AddStringToObject(co, "completion_time", ts);
	text = cJSON_Print(doc);
	r = text ? ocb_group_manifest_key(ctx->cfg->root, id, key, sizeof(key)) :
		-ENOMEM;
	if (r == 0)	/* one PUT: readers see no manifest or the whole one */
		r = ocb_store_put_mem(ctx->store, key, text, strlen(text), NULL);
	if (r < 0) {
		r = ocb_fail(r, "write the manifest of %s", id);
	} else {
		printf("%s: %zu agent%s, %s", id, n, n == 1 ? "" : "s",
		       missing || !n ? "INCOMPLETE" : "complete");
		for (i = 0, k = 0; i < nexpect; i++) {
			size_t j;

			for (j = 0; j < n && strcmp(v[j].instance, expect[i]); j++)
				;
			if (j == n)
				printf("%s%s", k++ ? ", " : "; missing: ", expect[i]);
		}
		printf("\n");
		r = missing || !n ? OCB_EXIT_FAIL : 0;
	}
	free(text);
	cJSON_Delete(doc);
	free(v);
	return r;
}

static int load_manifest(struct ocb_ctx *ctx, const char *id, cJSON **out)
{
	char key[OCB_KEY_MAX];
	struct ocb_buf b;
	int r;

	if (!ocb_backups_label_ok(id)) {
		fprintf(stderr, "ocb: bad group id '%s'\n", id);
		return OCB_EXIT_USAGE;
	}
	ocb_group_manifest_key(ctx->cfg->root, id, key, sizeof(key));
	ocb_buf_init(&b, MANIFEST_MAX);
	r = ocb_store_get_buf(ctx->store, key, &b, NULL);
	if (r == 0) {
		*out = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
		if (!cJSON_IsObject(*out)) {
			cJSON_Delete(*out);
			r = -EBADMSG;
		}
	}
	ocb_buf_release(&b);
	if (r == -ENOENT) {
		fprintf(stderr, "ocb: no group %s (run `ocb group finalize %s` "
			"first)\n", id, id);
		return OCB_EXIT_NOTFOUND;
	}
	return r < 0 ? ocb_fail(r, "manifest of %s", id) : 0;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

struct names {
	size_t plen;
	char (*v)[128];
	size_t n, cap;
};

/* "<root>/.manifests/<id>.json" keys: the ids */
static int name_fn(void *arg, const struct ocb_list_entry *e)
{
	struct names *c = arg;
	size_t len = strlen(e->key);

	if (e->is_prefix || len <= c->plen + 5 ||
	    strcmp(e->key + len - 5, ".json") != 0 ||
	    len - c->plen - 5 >= sizeof(*c->v))
		return 0;
	if (c->n == c->cap) {
		void *nv = realloc(c->v, (c->cap = c->cap ? c->cap * 2 : 16) *
				   sizeof(*c->v));

		if (!nv)
			return -ENOMEM;
		c->v = nv;
	}
	snprintf(c->v[c->n++], sizeof(*c->v), "%.*s",
		 (int)(len - c->plen - 5), e->key + c->plen);
	return 0;
}

static int list_groups(struct ocb_ctx *ctx)
{
	char p[OCB_KEY_MAX];
	struct names c = { 0 };
	size_t i;
	int r;

	ocb_group_manifest_key(ctx->cfg->root, "", p, sizeof(p));
	p[strlen(p) - strlen(".json")] = '\0';		/* "<root>/.manifests/" */
	c.plen = strlen(p);
	r = ctx->store->ops->list(ctx->store, p, "/", NULL, name_fn, &c);
	if (r < 0) {
		free(c.v);
		return ocb_fail(r, "list %s", p);
	}
	for (i = 0; i < c.n; i++) {
		cJSON *m = NULL;

		if (load_manifest(ctx, c.v[i], &m) == 0) {
			printf("%-40s %-10s %d agents  %s\n", c.v[i],
			       jstr(m, "status"),
			       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				       m, "agents")), jstr(m, "timestamp"));
			cJSON_Delete(m);
		}
	}
	free(c.v);
	return 0;
}

static int cmp_rank(const void *x, const void *y)
{
	const cJSON *a = *(cJSON *const *)x, *b = *(cJSON *const *)y;
	int ra = ocb_group_role_rank(jstr(a, "type"));
	int rb = ocb_group_role_rank(jstr(b, "type"));

	return ra != rb ? ra - rb : strcmp(jstr(a, "instance"), jstr(b, "instance"));
}

static int restore_group(struct ocb_ctx *ctx, const char *id, int dry)
{
	cJSON *m = NULL, *agents, *a, **v;
	int n, i, r, rc = 0;

	r = load_manifest(ctx, id, &m);
	if (r)
		return r;
	agents = cJSON_GetObjectItemCaseSensitive(m, "agents");
	n = cJSON_GetArraySize(agents);
	v = calloc((size_t)(n > 0 ? n : 1), sizeof(*v));
	if (!v) {
		cJSON_Delete(m);
		return ocb_fail(-ENOMEM, "restore");
	}
	i = 0;
	cJSON_ArrayForEach(a, agents)
		v[i++] = a;
	qsort(v, (size_t)n, sizeof(*v), cmp_rank);
	printf("group %s (%s): restore order\n", id, jstr(m, "status"));
	for (i = 0; i < n; i++) {
		int rank = ocb_group_role_rank(jstr(v[i], "type"));
		int here = !strcmp(jstr(v[i], "instance"), ctx->cfg->instance_id);

		printf("%d. %-14s %-8s %s  %s: ocb restore %s\n", i + 1,
		       jstr(v[i], "type"), ocb_group_rank_name(rank),
		       jstr(v[i], "instance"), here ? "this machine" :
		       "run there", jstr(v[i], "backup"));
	}
	for (i = 0; !dry && i < n && rc == 0; i++) {
		char *argv[] = { "restore", (char *)jstr(v[i], "backup"), NULL };

		if (strcmp(jstr(v[i], "instance"), ctx->cfg->instance_id) != 0)
			continue;
		optind = 1;
		rc = ocb_cmd_restore.exec(ctx, 2, argv);
	}
	free(v);
	cJSON_Delete(m);
	return rc;
}

static int group_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "project", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *expect[EXPECT_MAX];
	const char *op, *project = NULL;
	size_t nexpect = 0;
	long timeout = 0;
	int dry = 0, c, r;

	while ((c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (nexpect == EXPECT_MAX)
				return ocb_usage(&ocb_cmd_group);
			expect[nexpect++] = optarg;
			break;
		case 't': {
			char *end;

			timeout = strtol(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end ||
			    timeout > 86400)
				return ocb_usage(&ocb_cmd_group);
			break;
		}
		case 'p': project = optarg; break;
		case 'n': dry = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_group);
		}
	}
	if (optind >= argc)
		return ocb_usage(&ocb_cmd_group);
	op = argv[optind];
	if ((!strcmp(op, "list") && optind + 1 != argc) ||
	    (strcmp(op, "list") && optind + 2 != argc))
		return ocb_usage(&ocb_cmd_group);
	if (strcmp(op, "list") && !ocb_backups_label_ok(argv[optind + 1])) {
		fprintf(stderr, "ocb: bad group id '%s': use 1-64 characters of "
			"A-Z a-z 0-9 . _ -\n", argv[optind + 1]);
		return OCB_EXIT_USAGE;
	}
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	if (!strcmp(op, "finalize"))
		return finalize(ctx, argv[optind + 1], expect, nexpect, timeout,
				project);
	if (!strcmp(op, "list"))
		return list_groups(ctx);
	if (!strcmp(op, "show")) {
		cJSON *m = NULL;
		char *text;

		r = load_manifest(ctx, argv[optind + 1], &m);
		if (r)
			return r;
		text = cJSON_Print(m);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(m);
		return 0;
	}
	if (!strcmp(op, "restore"))
		return restore_group(ctx, argv[optind + 1], dry);
	return ocb_usage(&ocb_cmd_group);
}

const struct ocb_cmd ocb_cmd_group = {
	.name = "group",
	.summary = "group backups of a fleet: finalize, list, show, restore order",
	.usage = usage,
	.exec = group_exec,
};
