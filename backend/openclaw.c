/*
 * openclaw.c - OpenClaw's own list of what to back up (openclaw.h).
 */
#include "openclaw.h"
#include "buf.h"
#include "hooks.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the program `openclaw` on PATH, resolved before fork() */
static int find_openclaw(char *path, size_t size)
{
	const char *env = getenv("PATH"), *p, *end;

	for (p = env; p && *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		if (end == p || *p != '/')
			continue;	/* relative entries are not trusted */
		if (snprintf(path, size, "%.*s/openclaw", (int)(end - p), p) <
		    (int)size && access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

struct collect {
	struct ocb_buf out;
	int full;
};

static void collect_line(void *arg, const char *event, const char *line)
{
	struct collect *c = arg;

	if (!c->full && ocb_buf_printf(&c->out, "%s\n", line) < 0)
		c->full = 1;	/* past OCB_OPENCLAW_OUT_MAX */
}

/* assets[].sourcePath of its JSON (the first object in text) */
static int parse(const char *text, char ***out, size_t *n)
{
	const char *start = strstr(text, "{\n");
	cJSON *root, *assets, *a;
	char **v = NULL;
	size_t k = 0, cap;
	int r = -EBADMSG;

	if (!start)
		start = strchr(text, '{');
	root = start ? cJSON_ParseWithOpts(start, NULL, 0) : NULL;
	assets = cJSON_GetObjectItemCaseSensitive(root, "assets");
	cap = (size_t)cJSON_GetArraySize(assets);
	if (!cJSON_IsArray(assets) || cap == 0)
		goto out;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(a, assets) {
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(a,
								 "sourcePath");

		if (!cJSON_IsString(sp) || sp->valuestring[0] != '/' ||
		    strlen(sp->valuestring) >= PATH_MAX)
			continue;
		if (!(v[k] = strdup(sp->valuestring))) {
			r = -ENOMEM;
			goto out;
		}
		k++;
	}
	if (k) {
		*out = v;
		*n = k;
		v = NULL;
		r = 0;
	}
out:
	if (v)
		ocb_openclaw_free(v, k);
	cJSON_Delete(root);
	return r;
}

int ocb_openclaw_sources(char ***out, size_t *n)
{
	char file[PATH_MAX];
	char *argv[] = { "openclaw", "backup", "create", "--dry-run", "--json",
			 NULL };
	struct collect c = { 0 };
	int r;

	r = find_openclaw(file, sizeof(file));
	if (r < 0)
		return r;
	ocb_buf_init(&c.out, OCB_OPENCLAW_OUT_MAX);
	r = ocb_hook_exec(file, argv, OCB_OPENCLAW_TIMEOUT, collect_line, &c);
	if (r > 0)
		r = -EIO;
	if (r == 0 && !c.full && c.out.len) {
		r = parse(c.out.data, out, n);
		if (r == -EBADMSG)
			ocb_warn("openclaw backup create --dry-run --json "
				 "named no paths");
	} else if (r == 0) {
		r = -EBADMSG;
	}
	ocb_buf_release(&c.out);
	return r;
}

int ocb_openclaw_resolve(const char *state_dir, char ***out, size_t *n,
			 const char **from)
{
	int r = ocb_openclaw_sources(out, n);

	if (r == 0) {
		*from = OCB_OPENCLAW_FROM_COMMAND;
		return 0;
	}
	*from = r == -ENOENT ? "its openclaw.json; no openclaw command on "
		"PATH" : "its openclaw.json; openclaw's dry run failed";
	return ocb_openclaw_config_sources(state_dir, out, n);
}

void ocb_openclaw_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}
