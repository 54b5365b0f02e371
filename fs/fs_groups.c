/*
 * fs_groups.c - groups/ in the mount (fs_groups.h).
 */
#include "fs_groups.h"
#include "buf.h"
#include "log.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAX (1u << 20)
#define GROUPS_MAX 4096

struct member {
	char instance[128];
	char backup[256];
};

struct group {
	char id[72];
	char etag[OCB_ETAG_MAX];
	char *text;		/* the manifest as stored */
	size_t len;
	struct member *m;
	size_t nm;
	int gone;
};

struct fs_groups {
	struct ocb_store *s;
	char *root;
	pthread_rwlock_t lock;
	struct group *v;	/* slots never reused */
	uint32_t n;
};

int fs_groups_new(struct ocb_store *s, const char *root, struct fs_groups **out)
{
	struct fs_groups *g = calloc(1, sizeof(*g));

	if (!g || !(g->root = strdup(root ? root : ""))) {
		free(g);
		return -ENOMEM;
	}
	g->s = s;
	pthread_rwlock_init(&g->lock, NULL);
	*out = g;
	return 0;
}

void fs_groups_free(struct fs_groups *g)
{
	uint32_t i;

	if (!g)
		return;
	for (i = 0; i < g->n; i++) {
		free(g->v[i].text);
		free(g->v[i].m);
	}
	free(g->v);
	free(g->root);
	pthread_rwlock_destroy(&g->lock);
	free(g);
}

/* ---- refresh ---------------------------------------------------------------- */

struct seen {
	size_t plen;
	char (*id)[72];
	char (*etag)[OCB_ETAG_MAX];
	size_t n, cap;
};

static int seen_fn(void *arg, const struct ocb_list_entry *e)
{
	struct seen *c = arg;
	size_t len = strlen(e->key), idlen;

	if (e->is_prefix || len <= c->plen + 5 ||
	    strcmp(e->key + len - 5, ".json") != 0)
		return 0;
	idlen = len - c->plen - 5;
	if (idlen >= sizeof(*c->id) || c->n >= GROUPS_MAX)
		return 0;
	if (c->n == c->cap) {
		void *ni, *ne;

		c->cap = c->cap ? c->cap * 2 : 16;
		ni = realloc(c->id, c->cap * sizeof(*c->id));
		if (ni)
			c->id = ni;
		ne = realloc(c->etag, c->cap * sizeof(*c->etag));
		if (ne)
			c->etag = ne;
		if (!ni || !ne)
			return -ENOMEM;
	}
	snprintf(c->id[c->n], sizeof(*c->id), "%.*s", (int)idlen,
		 e->key + c->plen);
	snprintf(c->etag[c->n], sizeof(*c->etag), "%s", e->etag ? e->etag : "");
	c->n++;
	return 0;
}

/* the agents of a manifest; 0 or -EBADMSG */
static int parse(const char *text, size_t len, struct member **out, size_t *n)
{
	cJSON *doc = cJSON_ParseWithLength(text, len), *a;
	struct member *m;
	size_t k = 0;

	a = cJSON_GetObjectItemCaseSensitive(doc, "agents");
	if (!cJSON_IsArray(a)) {
		cJSON_Delete(doc);
		return -EBADMSG;
	}
	m = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*m));
	if (!m) {
		cJSON_Delete(doc);
		return -ENOMEM;
	}
	for (cJSON *it = a->child; it && k < FS_GROUPS_MEMBERS_MAX; it = it->next) {
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(it, "instance");
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "backup");

		/* names become path components: no '/', not "." or ".." */
		if (!cJSON_IsString(i) || !cJSON_IsString(b) ||
		    !*i->valuestring || strchr(i->valuestring, '/') ||
		    !strcmp(i->valuestring, ".") || !strcmp(i->valuestring, "..") ||
		    strchr(b->valuestring, '/') ||
		    strlen(i->valuestring) >= sizeof(m->instance) ||
		    strlen(b->valuestring) >= sizeof(m->backup))
			continue;
		snprintf(m[k].instance, sizeof(m[k].instance), "%s", i->valuestring);
		snprintf(m[k].backup, sizeof(m[k].backup), "%s", b->valuestring);
		k++;
	}
	cJSON_Delete(doc);
	*out = m;
	*n = k;
	return 0;
}

int fs_groups_refresh(struct fs_groups *g)
{
	struct seen c = { 0 };
	char p[OCB_KEY_MAX];
	size_t i;
	uint32_t k;
	int r;

	snprintf(p, sizeof(p), "%s%s.manifests/", g->root, *g->root ? "/" : "");
	c.plen = strlen(p);
	r = g->s->ops->list(g->s, p, "/", NULL, seen_fn, &c);
	if (r < 0)
		goto out;
	for (i = 0; i < c.n; i++) {
		struct ocb_buf b;
		struct member *m = NULL;
		size_t nm = 0;
		char key[OCB_KEY_MAX];
		int known = 0;

		pthread_rwlock_rdlock(&g->lock);
		for (k = 0; k < g->n; k++)
			if (!strcmp(g->v[k].id, c.id[i]) &&
			    !strcmp(g->v[k].etag, c.etag[i]))
				known = 1;
		pthread_rwlock_unlock(&g->lock);
		if (known)
			continue;
		if (snprintf(key, sizeof(key), "%s%s.json", p, c.id[i]) >=
		    (int)sizeof(key))
			continue;
		ocb_buf_init(&b, MANIFEST_MAX);
		if (ocb_store_get_buf(g->s, key, &b, NULL) < 0 ||
		    parse(b.data ? b.data : "", b.len, &m, &nm) < 0) {
			char esc[128];

			ocb_warn("group manifest %s: unreadable; not shown",
				 ocb_log_escape(esc, sizeof(esc), c.id[i]));
			ocb_buf_release(&b);
			continue;
		}
		pthread_rwlock_wrlock(&g->lock);
		for (k = 0; k < g->n && strcmp(g->v[k].id, c.id[i]); k++)
			;
		if (k == g->n) {
			struct group *nv = realloc(g->v, (g->n + 1) * sizeof(*nv));

			if (!nv) {
				pthread_rwlock_unlock(&g->lock);
				ocb_buf_release(&b);
				free(m);
				r = -ENOMEM;
				goto out;
			}
			g->v = nv;
			memset(&g->v[k], 0, sizeof(g->v[k]));
			snprintf(g->v[k].id, sizeof(g->v[k].id), "%s", c.id[i]);
			g->n++;
		}
		free(g->v[k].text);
		free(g->v[k].m);
		g->v[k].text = b.data;		/* taken over */
		g->v[k].len = b.len;
		g->v[k].m = m;
		g->v[k].nm = nm;
		snprintf(g->v[k].etag, sizeof(g->v[k].etag), "%s", c.etag[i]);
		pthread_rwlock_unlock(&g->lock);
	}
	/* gone: in the mount no longer */
	pthread_rwlock_wrlock(&g->lock);
	for (k = 0; k < g->n; k++) {
		g->v[k].gone = 1;
		for (i = 0; i < c.n; i++)
			if (!strcmp(g->v[k].id, c.id[i]))
				g->v[k].gone = 0;
	}
	pthread_rwlock_unlock(&g->lock);
out:
	free(c.id);
	free(c.etag);
	return r;
}

/* ---- lookups ---------------------------------------------------------------- */

int fs_groups_lookup(struct fs_groups *g, const char *name, uint32_t *slot)
{
	uint32_t k;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&g->lock);
	for (k = 0; k < g->n; k++)
		if (!g->v[k].gone && !strcmp(g->v[k].id, name)) {
			*slot = k;
			r = 0;
		}
	pthread_rwlock_unlock(&g->lock);
	return r;
}

int fs_groups_lookup_in(struct fs_groups *g, uint32_t slot, const char *name,
			uint32_t *m)
{
	size_t k;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&g->lock);
	if (slot < g->n && !g->v[slot].gone) {
		if (!strcmp(name, "manifest.json")) {
			*m = 1;
			r = 0;
		}
		for (k = 0; r < 0 && k < g->v[slot].nm; k++)
			if (!strcmp(g->v[slot].m[k].instance, name)) {
				*m = 2 + (uint32_t)k;
				r = 0;
			}
	}
	pthread_rwlock_unlock(&g->lock);
	return r;
}

int fs_groups_exists(struct fs_groups *g, uint32_t slot, uint32_t m)
{
	int r;

	pthread_rwlock_rdlock(&g->lock);
	r = slot < g->n && !g->v[slot].gone &&
		(m < 2 || m - 2 < g->v[slot].nm) ? 0 : -ENOENT;
	pthread_rwlock_unlock(&g->lock);
	return r;
}

void fs_groups_list(struct fs_groups *g, off_t off, fs_groups_fn cb, void *arg)
{
	uint32_t k;
	off_t i = 0;

	pthread_rwlock_rdlock(&g->lock);
	for (k = 0; k < g->n; k++) {
		if (g->v[k].gone)
			continue;
		if (i++ >= off && cb(arg, g->v[k].id, k, 0, i))
			break;
	}
	pthread_rwlock_unlock(&g->lock);
}

void fs_groups_list_in(struct fs_groups *g, uint32_t slot, off_t off,
		       fs_groups_fn cb, void *arg)
{
	size_t k;

	pthread_rwlock_rdlock(&g->lock);
	if (slot < g->n && !g->v[slot].gone) {
		if (off < 1 && cb(arg, "manifest.json", slot, 1, 1))
			goto out;
		for (k = off > 1 ? (size_t)off - 1 : 0; k < g->v[slot].nm; k++)
			if (cb(arg, g->v[slot].m[k].instance, slot,
			       2 + (uint32_t)k, (off_t)k + 2))
				break;
	}
out:
	pthread_rwlock_unlock(&g->lock);
}

int fs_groups_manifest(struct fs_groups *g, uint32_t slot, struct ocb_buf *out)
{
	int r = -ENOENT;

	pthread_rwlock_rdlock(&g->lock);
	if (slot < g->n && !g->v[slot].gone)
		r = ocb_buf_append(out, g->v[slot].text ? g->v[slot].text : "",
				   g->v[slot].len);
	pthread_rwlock_unlock(&g->lock);
	return r;
}

int fs_groups_readlink(struct fs_groups *g, uint32_t slot, uint32_t m,
		       char *buf, size_t size)
{
	int r = -ENOENT;

	pthread_rwlock_rdlock(&g->lock);
	if (slot < g->n && !g->v[slot].gone && m >= 2 && m - 2 < g->v[slot].nm) {
		snprintf(buf, size, "../../%s/%s", g->v[slot].m[m - 2].instance,
			 g->v[slot].m[m - 2].backup);
		r = 0;
	}
	pthread_rwlock_unlock(&g->lock);
	return r;
}

int fs_groups_member(struct fs_groups *g, uint32_t slot, uint32_t m,
		     char id[72], char instance[128], char backup[256])
{
	int r = -ENOENT;

	pthread_rwlock_rdlock(&g->lock);
	if (slot < g->n && !g->v[slot].gone && m >= 2 && m - 2 < g->v[slot].nm) {
		snprintf(id, 72, "%s", g->v[slot].id);
		snprintf(instance, 128, "%s", g->v[slot].m[m - 2].instance);
		snprintf(backup, 256, "%s", g->v[slot].m[m - 2].backup);
		r = 0;
	}
	pthread_rwlock_unlock(&g->lock);
	return r;
}
