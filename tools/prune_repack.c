/*
 * prune_repack.c - `ocb prune --repack`: carrying out the repack plan
 * (prune_i.h; docs/FORMAT.md, "Repacking"), each step a single atomic
 * write or delete, so that a run killed at any point leaves every kept
 * backup whole and the next run finishes the work.
 *
 * 1. Each replaced backup K, oldest first: a replacement K' already in
 *    the store (a run killed after writing it) that opens, holds K's
 *    catalog and verifies whole is taken as it is; else K' is written
 *    create-only, then opened and read whole (every frame's tag, every
 *    file's SHA-256) and compared with K's catalog.  Nothing depends on a
 *    K' before that.
 * 2. The plan is made again from a fresh listing, without the replaced
 *    backups; each K is deleted (newest first: a replaced backup only
 *    reads older ones) when its K' is in that plan with the id verified
 *    and no kept backup reads from K.
 * 3. The repacked objects are left to the ordinary prune pass: they go
 *    when no kept backup (replacements included) reads from them.
 */
#include "prune_i.h"
#include "archive_rewrite.h"
#include "backup_name.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct done {
	size_t k;		/* the replaced item (in the first plan) */
	char kname[256];
	char name[256];		/* its replacement */
	uint8_t id[16];		/* ... as opened and verified */
};

struct run {
	struct ocb_ctx *ctx;
	struct ocb_keyprov *kp;
	const struct plan *pl;
	const struct repack *rp;
	struct ocb_rewrite_map *m;
	struct ocb_rewrite_held *held;	/* files of backups that hold */
	struct done *d;
	size_t nd;
	uint64_t written;
};

/* an object a replacement may keep reading where the replaced one does */
static int stays(void *arg, const char *name)
{
	const struct run *u = arg;
	size_t i;

	for (i = 0; i < u->pl->n; i++)
		if (!strcmp(u->pl->items[i].name, name))
			return u->pl->refs[i].kind == OCB_BACKUP_NATIVE &&
			       !u->rp->v[i].repack && !u->rp->v[i].rewrite;
	return 0;
}

/* is item j a replacement of item i by its name: the same time, label
 * "repack<n>" */
static int named_like(const struct plan *pl, size_t i, size_t j)
{
	const char *a = pl->items[i].name, *b = pl->items[j].name;
	size_t n = ocb_backup_name_stem(a);

	return i != j && n && ocb_backup_name_stem(b) == n &&
	       !strncmp(a, b, n) && pl->items[i].time == pl->items[j].time &&
	       ocb_backup_name_is_replacement(b);
}

/* r (opened) is a whole, verified copy of k's backup */
static int check_whole(struct ocb_archive *k, struct ocb_archive *r)
{
	struct ocb_verify_result vr;
	int e = ocb_rewrite_check(k, r);

	if (e == 0)
		e = ocb_archive_verify(r, &vr);
	return e;
}

static void note_done(struct run *u, size_t i, const char *name,
		      const struct ocb_archive *r)
{
	struct done *d = &u->d[u->nd++];

	d->k = i;
	snprintf(d->kname, sizeof(d->kname), "%s", u->pl->items[i].name);
	snprintf(d->name, sizeof(d->name), "%s", name);
	memcpy(d->id, ocb_archive_backup_id(r), 16);
}

/* a replacement of item i left by an earlier run, kept and reading only
 * what stays: taken when it is whole (1), else 0 */
static int adopt(struct run *u, size_t i, struct ocb_archive *k)
{
	const struct plan *pl = u->pl;
	size_t j;

	for (j = 0; j < pl->n; j++) {
		struct ocb_archive *r = NULL;
		char esc[300];

		if (!named_like(pl, i, j) || !pl->items[j].keep ||
		    !pl->opened[j] || u->rp->v[j].repack ||
		    u->rp->v[j].rewrite)
			continue;
		if (ocb_ctx_open_backup(u->ctx, &pl->refs[j], u->kp,
					OCB_OPEN_CHECK, &r) == 0 &&
		    check_whole(k, r) == 0) {
			note_done(u, i, pl->items[j].name, r);
			ocb_archive_free(r);
			if (!u->ctx->quiet)
				printf("replacement %s of %s is whole (an "
				       "earlier repack's)\n",
				       ocb_log_escape(esc, sizeof(esc),
						      pl->items[j].name),
				       pl->items[i].name);
			return 1;
		}
		ocb_archive_free(r);
	}
	return 0;
}

/* a name "<K's time>Z-repack<n>" no backup of the listing has */
static int free_name(const struct plan *pl, size_t i, unsigned *n,
		     char *out, size_t size)
{
	const char *kn = pl->items[i].name;
	size_t j;

	for (;; (*n)++) {
		if (*n > 9999 ||
		    snprintf(out, size, "%.*s" OCB_BACKUP_NAME_REPACK "%u",
			     (int)ocb_backup_name_stem(kn), kn, *n) >=
		    (int)size)
			return -ENAMETOOLONG;
		for (j = 0; j < pl->n && strcmp(pl->items[j].name, out); j++)
			;
		if (j == pl->n)
			return 0;
	}
}

/* the name of the replacement of base, or base */
static const char *base_name(const struct run *u, const char *base)
{
	size_t k;

	for (k = 0; k < u->nd; k++)
		if (!strcmp(u->d[k].kname, base))
			return u->d[k].name;
	return base;
}

/* write K' for item i (opened as k), open it, check it whole */
static int replace_one(struct run *u, size_t i, struct ocb_archive *k)
{
	const struct ocb_config *cfg = u->ctx->cfg;
	struct ocb_store *s = u->ctx->store;
	struct ocb_put_opts put = { .sse = cfg->sse,
				    .sse_kms_key_id = cfg->sse_kms_key_id };
	struct ocb_rewrite_opts o = {
		.prefix = cfg->prefix, .kp = u->kp, .put = &put,
		.base = base_name(u, ocb_archive_info(k)->base),
		.stays = stays, .arg = u, .held = u->held,
		.cancel = &ocb_interrupted,
	};
	struct ocb_rewrite_result res;
	struct ocb_archive *r = NULL;
	char name[256], esc[300], a[32], b[32], c[32];
	unsigned n = 1;
	int e;

	do {
		e = free_name(u->pl, i, &n, name, sizeof(name));
		o.name = name;
		if (e == 0)
			e = ocb_archive_rewrite(s, k, &o, u->m, &res);
		n++;
	} while (e == -EEXIST);
	if (e < 0)
		return e;
	e = ocb_archive_open(s, res.key, u->kp, &r);
	if (e == 0)
		e = check_whole(k, r);
	if (e == 0)
		e = ocb_rewrite_map_commit(u->m, res.owner, r);
	if (e == 0)
		note_done(u, i, name, r);
	ocb_archive_free(r);
	if (e < 0) {
		/* ours, and not whole: nothing may build on it */
		ocb_rewrite_map_drop(u->m, res.owner);
		ocb_err("replacement %s does not verify: deleted, nothing "
			"replaced", ocb_log_escape(esc, sizeof(esc), name));
		s->ops->del(s, res.key);
		return e;
	}
	u->written += res.bytes_stored;
	if (!u->ctx->quiet)
		printf("replaced  %s by %s (stores %s, %s moved from "
		       "repacked objects, %s read where a kept backup holds "
		       "the same file; verified)\n", u->pl->items[i].name,
		       ocb_log_escape(esc, sizeof(esc), name),
		       ocb_human_size(res.bytes_new, a, sizeof(a)),
		       ocb_human_size(res.bytes_moved, b, sizeof(b)),
		       ocb_human_size(res.bytes_held, c, sizeof(c)));
	return 0;
}

/* the files of the backups the plan says hold (never repacked nor
 * replaced): each opened under our key, as any backup built upon */
static int take_held(struct run *u)
{
	size_t i;
	int e = ocb_rewrite_held_new(&u->held);

	for (i = 0; e == 0 && i < u->pl->n; i++) {
		struct ocb_archive *a = NULL;

		if (!u->rp->v[i].holds || !u->rp->v[i].opened)
			continue;
		if (ocb_interrupted)
			return -ECANCELED;
		e = ocb_ctx_open_backup(u->ctx, &u->pl->refs[i], u->kp,
					OCB_OPEN_INDEX, &a);
		if (e == 0)
			e = ocb_rewrite_held_add(u->held, a, stays, u);
		ocb_archive_free(a);
	}
	return e;
}

/* step 1: every replaced backup, oldest first (the listing's order) */
static int write_all(struct run *u)
{
	size_t i;
	int e = 0;

	for (i = 0; e == 0 && i < u->pl->n; i++) {
		struct ocb_archive *k = NULL;

		if (!u->rp->v[i].rewrite)
			continue;
		if (ocb_interrupted)
			return -ECANCELED;
		e = ocb_ctx_open_backup(u->ctx, &u->pl->refs[i], u->kp,
					OCB_OPEN_INDEX, &k);
		if (e == 0 && !adopt(u, i, k))
			e = replace_one(u, i, k);
		ocb_archive_free(k);
	}
	return e;
}

/* may replaced backup d go, by the fresh plan pl: its replacement kept
 * there with the id verified, and no kept backup reading from it */
static int may_delete(const struct plan *pl, const struct done *d)
{
	size_t i, k;
	int there = 0;

	for (i = 0; i < pl->n; i++) {
		const struct ocb_ret_item *it = &pl->items[i];

		if (!strcmp(it->name, d->name))
			there = it->keep && pl->opened[i] &&
				!memcmp(it->id, d->id, 16);
		if (!it->keep)
			continue;
		if (it->native && !pl->opened[i])
			return 0;	/* what it reads is unknown */
		for (k = 0; k < it->nrefs; k++)
			if (!strcmp(it->refs[k].name, d->kname))
				return 0;
	}
	return there;
}

/* step 2: a fresh plan without the replaced ones; delete each that may
 * go, newest first */
static int delete_replaced(struct run *u, struct ocb_ret_policy *p,
			   struct plan *fresh)
{
	struct ocb_store *s = u->ctx->store;
	const char **gone = calloc(u->nd + 1, sizeof(*gone));
	size_t k;
	int e;

	if (!gone)
		return -ENOMEM;
	for (k = 0; k < u->nd; k++)
		gone[k] = u->d[k].kname;
	e = prune_plan_make(u->ctx, u->kp, p, NULL, gone, u->nd, 0, fresh);
	free(gone);
	for (k = u->nd; e == 0 && k-- > 0 && !ocb_interrupted;) {
		const struct done *d = &u->d[k];
		char esc[300];

		ocb_log_escape(esc, sizeof(esc), d->kname);
		if (!may_delete(fresh, d)) {
			ocb_warn("backup %s is still read by a kept backup (or "
				 "its replacement is not there): kept", esc);
			continue;
		}
		e = s->ops->del(s, u->pl->refs[d->k].key);
		if (e < 0)
			ocb_err("delete %s: %s", esc, ocb_store_strerror(e));
		else if (!u->ctx->quiet)
			printf("deleted   %s (replaced by %s)\n", esc, d->name);
	}
	return ocb_interrupted ? -ECANCELED : e;
}

int prune_repack_run(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		     struct ocb_ret_policy *p, struct plan *pl,
		     struct repack *rp)
{
	struct run u = { .ctx = ctx, .kp = kp, .pl = pl, .rp = rp };
	struct plan fresh;
	int e;

	u.d = calloc(pl->n ? pl->n : 1, sizeof(*u.d));
	e = u.d ? ocb_rewrite_map_new(&u.m) : -ENOMEM;
	if (e == 0)
		e = take_held(&u);
	if (e == 0)
		e = write_all(&u);
	if (e == 0 && u.nd) {
		e = delete_replaced(&u, p, &fresh);
		if (e == 0) {
			prune_plan_free(pl);
			*pl = fresh;
		} else {
			prune_plan_free(&fresh);
		}
	}
	ocb_rewrite_map_free(u.m);
	ocb_rewrite_held_free(u.held);
	free(u.d);
	return e;
}
