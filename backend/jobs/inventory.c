/*
 * inventory.c - listing the backups of an instance prefix.
 */
#include "inventory.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct collect {
	const char *prefix;
	size_t plen;
	struct ocb_backup_ref *v;
	size_t n, cap;
};

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

static int collect_fn(void *arg, const struct ocb_list_entry *e)
{
	struct collect *c = arg;
	const char *base = e->key + c->plen;
	struct ocb_backup_ref *r;
	enum ocb_backup_kind kind;
	size_t blen;

	if (e->is_prefix || strchr(base, '/'))
		return 0;
	if (ends_with(base, ".ocb"))
		kind = OCB_BACKUP_NATIVE;
	else if (ends_with(base, ".tar.gz"))
		kind = OCB_BACKUP_LEGACY;
	else
		return 0;
	blen = strlen(base) - (kind == OCB_BACKUP_NATIVE ? 4 : 7);
	if (blen == 0 || blen >= sizeof(r->name) || base[0] == '.')
		return 0;
	if (c->n == c->cap) {
		struct ocb_backup_ref *nv;

		c->cap = c->cap ? c->cap * 2 : 32;
		nv = realloc(c->v, c->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->v = nv;
	}
	r = &c->v[c->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, base, blen);
	snprintf(r->key, sizeof(r->key), "%s", e->key);
	r->kind = kind;
	r->size = e->size;
	r->mtime = e->mtime;
	return 0;
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ocb_backup_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (int)x->kind - (int)y->kind;
}

int ocb_inventory_list(struct ocb_store *s, const char *prefix,
		     struct ocb_backup_ref **out, size_t *n)
{
	char p[OCB_KEY_MAX];
	struct collect c = { 0 };
	int r;

	snprintf(p, sizeof(p), "%s%s", prefix, *prefix ? "/" : "");
	c.prefix = p;
	c.plen = strlen(p);
	r = s->ops->list(s, p, "/", NULL, collect_fn, &c);
	if (r < 0) {
		free(c.v);
		return r;
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), ref_cmp);
	*out = c.v;
	*n = c.n;
	return 0;
}

/* a NULL-terminated list of names collected from a listing */
struct inst {
	size_t plen;
	char **v;
	size_t n, cap;
};

static int inst_add(struct inst *c, const char *s, size_t len)
{
	if (c->n + 1 >= c->cap) {
		char **nv;

		c->cap = c->cap ? c->cap * 2 : 16;
		nv = realloc(c->v, c->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->v = nv;
	}
	c->v[c->n] = strndup(s, len);
	if (!c->v[c->n])
		return -ENOMEM;
	c->v[++c->n] = NULL;
	return 0;
}

/* common prefixes: full key without its trailing '/'; names starting
 * with '.' (".manifests") are ocb's own, not instances */
static int inst_fn(void *arg, const struct ocb_list_entry *e)
{
	struct inst *c = arg;

	if (!e->is_prefix || strlen(e->key) <= c->plen ||
	    e->key[c->plen] == '.')
		return 0;
	return inst_add(arg, e->key, strlen(e->key) - 1);
}

int ocb_inventory_instances(struct ocb_store *s, const char *root, char ***out,
			  size_t *n)
{
	char p[OCB_KEY_MAX];
	struct inst c = { 0 };
	int r;

	snprintf(p, sizeof(p), "%s%s", root, *root ? "/" : "");
	c.plen = strlen(p);
	r = s->ops->list(s, p, "/", NULL, inst_fn, &c);
	if (r < 0) {
		ocb_inventory_instances_free(c.v, c.n);
		return r;
	}
	if (!c.v) {
		c.v = calloc(1, sizeof(char *));
		if (!c.v)
			return -ENOMEM;
	}
	*out = c.v;
	*n = c.n;
	return 0;
}

void ocb_inventory_instances_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int ocb_inventory_find(struct ocb_store *s, const char *prefix,
		     const char *spec, struct ocb_backup_ref *out)
{
	struct ocb_backup_ref *v = NULL;
	size_t n = 0, i, plen = strlen(prefix);
	char esc[256];
	int r;

	r = ocb_inventory_list(s, prefix, &v, &n);
	if (r < 0) {
		/* the command's one line for it: what failed, and why */
		ocb_err("list %s: %s", ocb_log_escape(esc, sizeof(esc), prefix),
			ocb_store_strerror(r));
		return r;
	}
	r = -ENOENT;
	if (!strcmp(spec, "latest")) {
		/* an old-tool backup is unauthenticated (its time is only its
		 * name): latest only when there is no native backup */
		for (i = n; r && i-- > 0;)
			if (v[i].kind == OCB_BACKUP_NATIVE) {
				*out = v[i];
				r = 0;
			}
		if (r && n) {
			*out = v[n - 1];
			r = 0;
		}
		if (r == 0)
			out->latest = 1;
	} else {
		/* a full key under the prefix counts as its base name */
		if (!strncmp(spec, prefix, plen) && spec[plen] == '/')
			spec += plen + 1;
		for (i = n; i-- > 0;) {
			const char *ext = v[i].kind == OCB_BACKUP_NATIVE ?
				".ocb" : ".tar.gz";
			size_t nl = strlen(v[i].name);

			if (!strcmp(spec, v[i].name) ||
			    (!strncmp(spec, v[i].name, nl) &&
			     !strcmp(spec + nl, ext))) {
				*out = v[i];
				r = 0;
				break;
			}
		}
	}
	if (r == -ENOENT)
		ocb_err("no backup %s under %s", ocb_log_escape(esc, sizeof(esc),
			spec), prefix);
	free(v);
	return r;
}

int ocb_inventory_label_ok(const char *label)
{
	size_t i, n = strlen(label);

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)label[i]) && !strchr("._-", label[i]))
			return 0;
	return label[0] != '.';
}

struct stale {
	struct ocb_store *s;
	int64_t before;
	int aborted;
	char (*keys)[OCB_KEY_MAX];
	char (*ids)[512];
	size_t n, cap;
};

static int stale_fn(void *arg, const char *key, const char *id, int64_t initiated)
{
	struct stale *st = arg;

	/* a second of slack: Swift rounds its timestamps up to the next
	 * second, so an upload started this second can look newer than now */
	if (initiated > st->before + 1 || !ends_with(key, ".ocb") ||
	    strlen(key) >= OCB_KEY_MAX || strlen(id) >= 512)
		return 0;
	if (st->n == st->cap) {
		size_t nc = st->cap ? st->cap * 2 : 8;
		void *nk = realloc(st->keys, nc * sizeof(*st->keys));
		void *ni;

		if (!nk)
			return -ENOMEM;
		st->keys = nk;
		ni = realloc(st->ids, nc * sizeof(*st->ids));
		if (!ni)
			return -ENOMEM;
		st->ids = ni;
		st->cap = nc;
	}
	snprintf(st->keys[st->n], OCB_KEY_MAX, "%s", key);
	snprintf(st->ids[st->n], 512, "%s", id);
	st->n++;
	return 0;
}

int ocb_inventory_abort_stale(struct ocb_store *s, const char *prefix,
			    int64_t max_age)
{
	struct stale st = { .s = s, .before = (int64_t)time(NULL) - max_age };
	char p[OCB_KEY_MAX];
	size_t i;
	int r;

	snprintf(p, sizeof(p), "%s%s", prefix, *prefix ? "/" : "");
	/* collect first: aborting while paging would shift the pages */
	r = s->ops->mpu_list(s, p, stale_fn, &st);
	if (r == -EACCES)
		ocb_warn("unfinished uploads of killed backups are not cleaned "
			 "up: listing them is denied; allow s3:ListBucketMultipart"
			 "Uploads on the bucket (see docs/iam/)");
	for (i = 0; r == 0 && i < st.n; i++) {
		char esc[256];

		r = s->ops->mpu_abort(s, st.keys[i], st.ids[i]);
		if (r == 0) {
			st.aborted++;
			ocb_info("aborted the unfinished upload of %s",
				 ocb_log_escape(esc, sizeof(esc), st.keys[i]));
		} else if (r == -EACCES) {
			ocb_warn("the unfinished upload of %s is not cleaned up: "
				 "aborting it is denied; allow s3:AbortMultipart"
				 "Upload on the bucket's objects (see docs/iam/)",
				 ocb_log_escape(esc, sizeof(esc), st.keys[i]));
		}
	}
	free(st.keys);
	free(st.ids);
	return r < 0 ? r : st.aborted;
}

/* ---- pins ----------------------------------------------------------------- */

static int pin_key(const char *prefix, const char *name, char *out,
		   size_t size)
{
	if (!*name || strchr(name, '/') || name[0] == '.')
		return -EINVAL;
	return snprintf(out, size, "%s%s.pins/%s", prefix, *prefix ? "/" : "",
			name) >= (int)size ? -ENAMETOOLONG : 0;
}

int ocb_inventory_pin(struct ocb_store *s, const char *prefix, const char *name,
		    int on)
{
	char key[OCB_KEY_MAX];
	int r = pin_key(prefix, name, key, sizeof(key));

	if (r < 0)
		return r;
	return on ? ocb_store_put_mem(s, key, "", 0, NULL) :
		s->ops->del(s, key);
}

/* objects: the name after the prefix */
static int pin_fn(void *arg, const struct ocb_list_entry *e)
{
	struct inst *c = arg;

	if (e->is_prefix || strlen(e->key) <= c->plen)
		return 0;
	return inst_add(c, e->key + c->plen, strlen(e->key + c->plen));
}

int ocb_inventory_pins(struct ocb_store *s, const char *prefix, char ***out,
		     size_t *n)
{
	char p[OCB_KEY_MAX];
	struct inst c = { 0 };
	int r;

	snprintf(p, sizeof(p), "%s%s.pins/", prefix, *prefix ? "/" : "");
	c.plen = strlen(p);
	r = s->ops->list(s, p, "/", NULL, pin_fn, &c);
	if (r == 0 && !c.v) {
		c.v = calloc(1, sizeof(*c.v));
		if (!c.v)
			r = -ENOMEM;
	}
	if (r < 0) {
		ocb_inventory_instances_free(c.v, c.n);
		return r;
	}
	*out = c.v;
	*n = c.n;
	return 0;
}
