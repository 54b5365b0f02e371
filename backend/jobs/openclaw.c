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

/* a sourcePath to keep: absolute, and for skipped[] one that is missing */
static const char *source_path(const cJSON *a, int skipped)
{
	const cJSON *sp = cJSON_GetObjectItemCaseSensitive(a, "sourcePath");
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(a, "reason");

	if (!cJSON_IsString(sp) || sp->valuestring[0] != '/' ||
	    strlen(sp->valuestring) >= PATH_MAX)
		return NULL;
	if (skipped && (!cJSON_IsString(why) ||
			strcmp(why->valuestring, "missing")))
		return NULL;
	return sp->valuestring;
}

/* assets[].sourcePath of its JSON (the first object in text), and with
 * missing, skipped[].sourcePath of those it found missing */
static int parse(const char *text, int missing, char ***out, size_t *n)
{
	const char *start = strstr(text, "{\n");
	cJSON *root, *assets, *skipped, *a;
	char **v = NULL;
	size_t k = 0, cap;
	int r = -EBADMSG;

	if (!start)
		start = strchr(text, '{');
	root = start ? cJSON_ParseWithOpts(start, NULL, 0) : NULL;
	assets = cJSON_GetObjectItemCaseSensitive(root, "assets");
	skipped = missing ? cJSON_GetObjectItemCaseSensitive(root, "skipped") :
		NULL;
	cap = (size_t)cJSON_GetArraySize(assets) +
		(size_t)cJSON_GetArraySize(skipped);
	if (!cJSON_IsArray(assets) || cap == 0)
		goto out;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	for (int pass = 0; pass < 2; pass++) {
		const cJSON *list = pass ? skipped : assets;

		cJSON_ArrayForEach(a, list) {
			const char *sp = source_path(a, pass);

			if (!sp || k == cap)
				continue;
			if (!(v[k] = strdup(sp))) {
				r = -ENOMEM;
				goto out;
			}
			k++;
		}
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

/* its assets (and with missing, the paths it found missing) */
static int command_sources(int missing, char ***out, size_t *n)
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
		r = parse(c.out.data, missing, out, n);
		if (r == -EBADMSG)
			ocb_warn("openclaw backup create --dry-run --json "
				 "named no paths");
	} else if (r == 0) {
		r = -EBADMSG;
	}
	ocb_buf_release(&c.out);
	return r;
}

int ocb_openclaw_sources(char ***out, size_t *n)
{
	return command_sources(0, out, n);
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

int ocb_openclaw_restore_sources(const char *state_dir,
				 const struct ocb_openclaw_reader *rd,
				 char ***out, size_t *n, const char **from)
{
	int r = rd ? -ENOENT : command_sources(1, out, n);

	if (r == 0) {
		*from = OCB_OPENCLAW_FROM_COMMAND;
		return 0;
	}
	*from = "its openclaw.json";
	return ocb_openclaw_config_paths(state_dir, 1, rd, out, n);
}

void ocb_openclaw_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}
