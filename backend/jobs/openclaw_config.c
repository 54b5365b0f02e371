/*
 * openclaw_config.c - what OpenClaw would back up, read from its own
 * config file when its command is not installed (openclaw.h).
 *
 * OpenClaw's config, <state dir>/openclaw.json, is JSON5; the file it
 * writes itself is plain JSON, and comments are taken out here
 * (cJSON_Minify).  "$include" (a path, or an array of paths, relative to
 * the including file) merges other files into the object that holds it;
 * they are read too, to a bounded depth.  Agents name their workspace and
 * their agent directory in agents.defaults.workspace, agents.list[] and
 * agents.entries.<id>, as workspace and agentDir ("~/" is the home
 * directory).
 */
#include "openclaw.h"
#include "config.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INCLUDE_DEPTH 10	/* files including files, as OpenClaw */
#define PATHS_MAX 256		/* sources found */

struct paths {
	char **v;
	size_t n;
	const char *state;	/* the state directory: v[0] */
	int missing;		/* keep paths that do not exist */
	const struct ocb_openclaw_reader *rd;	/* NULL: read the disk */
};

/* is p the directory d or below it? */
static int inside(const char *p, const char *d)
{
	size_t n = strlen(d);

	while (n > 1 && d[n - 1] == '/')
		n--;
	return !strncmp(p, d, n) && (p[n] == '\0' || p[n] == '/');
}

/* add path (taken over) unless it is below one already there, or does
 * not exist; 0 or -ENOMEM */
static int add(struct paths *ps, char *path)
{
	struct stat st;
	size_t i;

	if (!path)
		return -ENOMEM;
	for (i = 0; i < ps->n; i++)
		if (inside(path, ps->v[i]))
			break;
	if (i < ps->n || path[0] != '/' || ps->n == PATHS_MAX ||
	    (!ps->missing && lstat(path, &st) < 0)) {
		free(path);
		return 0;
	}
	ps->v[ps->n++] = path;
	return 0;
}

/* a path the config gives, s: "~/" expanded, a relative one taken from
 * dir (its leading "./" left out): malloc'ed, "" for none, NULL when out
 * of memory */
static char *config_path(const char *s, const char *dir)
{
	char *p = NULL;

	if (!*s || strlen(s) >= PATH_MAX)
		return strdup("");
	if (s[0] == '/' || s[0] == '~')
		return ocb_config_expand_home(s);
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	return asprintf(&p, "%s/%s", dir, s) < 0 ? NULL : p;
}

static int add_named(struct paths *ps, const cJSON *v, const char *dir)
{
	char *p;

	if (!cJSON_IsString(v))
		return 0;
	p = config_path(v->valuestring, dir);
	if (p && !*p) {
		free(p);
		return 0;
	}
	return add(ps, p);
}

static int agent(struct paths *ps, const cJSON *a, const char *dir)
{
	int r = add_named(ps, cJSON_GetObjectItemCaseSensitive(a, "workspace"),
			  dir);

	if (r == 0)
		r = add_named(ps, cJSON_GetObjectItemCaseSensitive(a,
							"agentDir"), dir);
	return r;
}

static int agents(struct paths *ps, const cJSON *root, const char *dir)
{
	const cJSON *ag = cJSON_GetObjectItemCaseSensitive(root, "agents"), *a;
	int r;

	if (!cJSON_IsObject(ag))
		return 0;
	r = agent(ps, cJSON_GetObjectItemCaseSensitive(ag, "defaults"), dir);
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ag, "list"))
		if (r == 0 && cJSON_IsObject(a))
			r = agent(ps, a, dir);
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(ag, "entries"))
		if (r == 0 && cJSON_IsObject(a))
			r = agent(ps, a, dir);
	return r;
}

static int read_config(struct paths *ps, const char *path, int depth);

/* an included file: backed up (when outside the sources so far) and read */
static int include(struct paths *ps, const cJSON *v, const char *dir,
		   int depth)
{
	char *p;
	int r;

	if (!cJSON_IsString(v))
		return 0;
	p = config_path(v->valuestring, dir);
	if (!p)
		return -ENOMEM;
	if (!*p) {
		free(p);
		return 0;
	}
	r = add(ps, strdup(p));
	if (r == 0 && depth < INCLUDE_DEPTH)
		r = read_config(ps, p, depth + 1);
	free(p);
	return r;
}

/* every "$include" in the tree of v */
static int includes(struct paths *ps, const cJSON *v, const char *dir,
		    int depth)
{
	const cJSON *it, *f;
	int r = 0;

	cJSON_ArrayForEach(it, v) {
		if (r < 0)
			break;
		if (it->string && !strcmp(it->string, "$include")) {
			if (cJSON_IsString(it))
				r = include(ps, it, dir, depth);
			else if (cJSON_IsArray(it))
				cJSON_ArrayForEach(f, it)
					if (r == 0)
						r = include(ps, f, dir, depth);
		} else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
			r = includes(ps, it, dir, depth);
		}
	}
	return r;
}

/* the text of path, at most OCB_OPENCLAW_OUT_MAX bytes: 0 and *out, or a
 * negative errno (-EFBIG when larger) */
static int slurp(const char *path, char **out)
{
	struct stat st;
	char *t = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	t = malloc(OCB_OPENCLAW_OUT_MAX + 1);
	if (!t) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, t + len, OCB_OPENCLAW_OUT_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > OCB_OPENCLAW_OUT_MAX) {
			r = -EFBIG;
			goto out;
		}
	}
	t[len] = '\0';
	*out = t;
	t = NULL;
out:
	free(t);
	close(fd);
	return r;
}

/* one config file: its agents and its includes; a file that cannot be
 * read or parsed is logged and passed over (0), as OpenClaw's own reading
 * would fail on it */
static int read_config(struct paths *ps, const char *path, int depth)
{
	char *text = NULL, *dir = NULL, *slash, esc[512];
	cJSON *root = NULL;
	int r;

	r = ps->rd ? ps->rd->read(ps->rd->arg, path, &text) : 1;
	if (r > 0)
		r = slurp(path, &text);
	if (r < 0) {
		if (r != -ENOENT)
			ocb_warn("OpenClaw config %s: %s",
				 ocb_log_escape(esc, sizeof(esc), path),
				 strerror(-r));
		return r == -ENOMEM ? r : 0;
	}
	cJSON_Minify(text);	/* JSON5's comments */
	root = cJSON_Parse(text);
	if (!cJSON_IsObject(root)) {
		ocb_warn("OpenClaw config %s: not JSON that ocb can read "
			 "(JSON5 beyond comments?); its includes and agents "
			 "are not backed up unless they lie in %s",
			 ocb_log_escape(esc, sizeof(esc), path), ps->state);
		r = 0;
		goto out;
	}
	dir = strdup(path);
	if (!dir) {
		r = -ENOMEM;
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	r = agents(ps, root, dir);
	if (r == 0)
		r = includes(ps, root, dir, depth);
out:
	cJSON_Delete(root);
	free(text);
	free(dir);
	return r;
}

int ocb_openclaw_config_sources(const char *state_dir, char ***out,
				size_t *n)
{
	return ocb_openclaw_config_paths(state_dir, 0, NULL, out, n);
}

int ocb_openclaw_config_paths(const char *state_dir, int missing,
			      const struct ocb_openclaw_reader *rd,
			      char ***out, size_t *n)
{
	struct paths ps = { .state = state_dir, .missing = missing, .rd = rd };
	char *cfg = NULL;
	int r = -ENOMEM;

	ps.v = calloc(PATHS_MAX, sizeof(*ps.v));
	if (!ps.v)
		return -ENOMEM;
	ps.v[ps.n++] = strdup(state_dir);
	if (!ps.v[0] || asprintf(&cfg, "%s/openclaw.json", state_dir) < 0)
		goto out;
	r = read_config(&ps, cfg, 0);
	free(cfg);
out:
	if (r < 0) {
		ocb_openclaw_free(ps.v, ps.n);
		return r;
	}
	*out = ps.v;
	*n = ps.n;
	return 0;
}
