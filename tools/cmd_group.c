/*
 * cmd_group.c - `ocb group`: group backups of a fleet of agents.
 *
 *   finalize ID [--expect INSTANCE]... [--timeout SECONDS] [--project NAME]
 *   request ID | list | show ID | restore ID [--agent INSTANCE] [--dry-run]
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
	"       ocb group request ID [--timeout SECONDS]\n"
	"       ocb group list\n"
	"       ocb group show ID\n"
	"       ocb group restore ID [--agent INSTANCE] [--dry-run]\n"
	"\n"
	"A group backup links one backup per agent of a fleet under one id.\n"
	"Each agent takes its part with `ocb backup --group ID --role ROLE`,\n"
	"or its running ocbfs does when asked through the bucket: `request`\n"
	"writes <root>/.requests/ID.json (open for --timeout seconds, default\n"
	"3600), which every mount of the fleet answers at its next refresh.\n"
	"`finalize` (on the manager) finds the tagged backups of every instance\n"
	"under the same root and writes the manifest <root>/.manifests/ID.json,\n"
	"then closes the request.  It waits up to --timeout seconds (default 0)\n"
	"for the instances of --expect (default: the config's group.members);\n"
	"any still missing are listed and the group is marked incomplete\n"
	"(exit 1).  `restore` prints the order (manager CRITICAL, librarian and\n"
	"access service HIGH, workers MEDIUM; group.priorities overrides), then\n"
	"restores the agents of this machine in place (as `ocb restore`) and\n"
	"prints the command to run on each other one.  --agent: just that one.\n";

static int finalize(struct ocb_ctx *ctx, const char *id, char **expect,
		    size_t nexpect, long timeout, const char *project)
{
	struct ocb_group_settings gs;
	struct ocb_group_finalize f = { 0 };
	int r = ocb_ctx_group(ctx, &gs);

	if (r)

		return r;
	f.root = ctx->cfg->root;
	f.id = id;
	f.project = project ? project : gs.project;
	f.finalizer = ctx->cfg->instance_id;
	f.store_desc = ctx->store->desc;
	/* --expect, else group.members; with neither, only what is there */
	f.expect = (const char *const *)(nexpect ? expect : gs.members);
	f.nexpect = nexpect ? nexpect : gs.nmembers;
	f.timeout = (unsigned)timeout;
	f.cancel = &ocb_interrupted;
	r = ocb_group_finalize(ctx->store, &f);
	if (r < 0) {
		r = ocb_fail(r, "finalize group %s", id);
	} else {
		printf("%s: %zu agent%s, %s%s%s\n", id, f.nagents,
		       f.nagents == 1 ? "" : "s",
		       f.complete ? "complete" : "INCOMPLETE",
		       f.missing[0] ? "; missing: " : "", f.missing);
		r = f.complete ? 0 : OCB_EXIT_FAIL;
		/* the group is settled: the request, if any, is closed */
		ocb_group_request_remove(ctx->store, ctx->cfg->root, id);
	}
	ocb_group_settings_release(&gs);
	return r;
}

static int load_manifest(struct ocb_ctx *ctx, const char *id, cJSON **out)
{
	char key[OCB_KEY_MAX];
	struct ocb_buf b;
	int r;

	if (!ocb_inventory_label_ok(id)) {
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

struct ranked {
	const cJSON *a;
	int rank;
};

static int cmp_rank(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	return a->rank != b->rank ? a->rank - b->rank :
		strcmp(jstr(a->a, "instance"), jstr(b->a, "instance"));
}

static int restore_group(struct ocb_ctx *ctx, const char *id,
			 const char *agent, int dry)
{
	struct ocb_group_settings gs;
	struct ranked *v;
	cJSON *m = NULL, *agents, *a;
	int n, i, r, rc = 0, found = 0;

	r = ocb_ctx_group(ctx, &gs);
	if (r)
		return r;
	r = load_manifest(ctx, id, &m);
	if (r) {
		ocb_group_settings_release(&gs);
		return r;
	}
	agents = cJSON_GetObjectItemCaseSensitive(m, "agents");
	n = cJSON_GetArraySize(agents);
	v = calloc((size_t)(n > 0 ? n : 1), sizeof(*v));
	if (!v) {
		cJSON_Delete(m);
		ocb_group_settings_release(&gs);
		return ocb_fail(-ENOMEM, "restore");
	}
	i = 0;
	cJSON_ArrayForEach(a, agents) {
		v[i].a = a;
		v[i++].rank = ocb_group_rank(&gs, jstr(a, "type"));
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_rank);
	printf("group %s (%s): restore order\n", id, jstr(m, "status"));
	for (i = 0; i < n; i++) {
		const char *inst = jstr(v[i].a, "instance");
		int here = !strcmp(inst, ctx->cfg->instance_id);

		if (agent && strcmp(agent, inst))
			continue;
		found = 1;
		printf("%d. %-14s %-8s %s  %s: ocb restore %s\n", i + 1,
		       jstr(v[i].a, "type"), ocb_group_rank_name(v[i].rank),
		       inst, here ? "this machine" : "run there",
		       jstr(v[i].a, "backup"));
	}
	if (agent && !found) {
		fprintf(stderr, "ocb: group %s has no agent %s\n", id, agent);
		rc = OCB_EXIT_NOTFOUND;
	}
	for (i = 0; !dry && i < n && rc == 0; i++) {
		char *argv[] = { "restore", "--group", (char *)id,
				 (char *)jstr(v[i].a, "backup"), NULL };
		const char *inst = jstr(v[i].a, "instance");

		if (strcmp(inst, ctx->cfg->instance_id) != 0 ||
		    (agent && strcmp(agent, inst)))
			continue;
		optind = 1;
		rc = ocb_cmd_restore.exec(ctx, 4, argv);
	}
	free(v);
	cJSON_Delete(m);
	ocb_group_settings_release(&gs);
	return rc;
}

static int group_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "project", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "agent", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *expect[EXPECT_MAX];
	const char *op, *project = NULL, *agent = NULL;
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
		case 'a': agent = optarg; break;
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
	if (strcmp(op, "list") && !ocb_inventory_label_ok(argv[optind + 1])) {
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
		return restore_group(ctx, argv[optind + 1], agent, dry);
	if (!strcmp(op, "request")) {
		r = ocb_group_request(ctx->store, ctx->cfg->root,
				      argv[optind + 1], ctx->cfg->instance_id,
				      timeout ? timeout : OCB_GROUP_REQUEST_TTL);
		if (r < 0)
			return ocb_fail(r, "request group %s", argv[optind + 1]);
		if (!ctx->quiet)
			printf("requested group backup %s\n", argv[optind + 1]);
		return 0;
	}
	return ocb_usage(&ocb_cmd_group);
}

const struct ocb_cmd ocb_cmd_group = {
	.name = "group",
	.summary = "group backups of a fleet: finalize, list, show, restore order",
	.usage = usage,
	.exec = group_exec,
};
