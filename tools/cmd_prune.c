/*
 * cmd_prune.c - `ocb prune`: delete the backups a retention policy does
 * not keep and no kept backup references (retention.h), with --repack
 * first the repack plan carried out (prune_repack.c), and `ocb pin`:
 * keep one whatever the policy.
 */
#include "cmd.h"
#include "prune_i.h"
#include "inventory.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "backup_name.h"
#include "file_pieces.h"
#include "parallel.h"
#include "repack.h"
#include "retention.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
	"usage: ocb prune [--dry-run] [--json] [--keep-last N] [--keep-daily N]\n"
	"                 [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]\n"
	"                 [--keep-within DURATION] [--delete-refused] [--repack]\n"
	"\n"
	"Delete the backups of this instance (native and old-tool alike) that\n"
	"no rule keeps.  The rules come from the options, else from the\n"
	"config (retention.keep, keepDaily, keepWeekly, keepMonthly,\n"
	"keepYearly, keepWithin).  --keep-daily N keeps the newest backup of\n"
	"each of the newest N days that have backups (weekly: ISO weeks).\n"
	"--keep-within 30d keeps those less than 30 days older than the newest\n"
	"(h, d, w, m = 30 days, y = 365 days).  The newest backup, pinned\n"
	"ones (`ocb pin`) and names ocb did not make are always kept; a\n"
	"labelled backup (--label, or mkdir snapshots/LABEL in the mount)\n"
	"counts like any other: pin it to keep it.  With no rule at\n"
	"all nothing is deleted.  Unfinished uploads older than\n"
	"retention.staleUploadHours are aborted.\n"
	"\n"
	"A kept incremental backup reads bytes from the objects of the backups\n"
	"it references: those are kept too (\"needed by NAME\"), and so is\n"
	"what they reference; only backups no kept one needs are deleted.  A\n"
	"reference to a backup that is gone or was replaced is warned about\n"
	"(exit 8); the referencing backup is kept.  A kept backup of a format\n"
	"this ocb cannot read (a newer one's) may reference any older backup:\n"
	"every older backup is kept with it (warned about, exit 8).\n"
	"\n"
	"--dry-run also prints the repack plan: each object kept only for the\n"
	"bytes kept backups read from it, with its live bytes of those it\n"
	"stores and what they take of the object in the store (the rest, its\n"
	"catalog too, is dead), `repack` when under retention.repackLivePercent\n"
	"(50), the kept backups a repack would replace, and what it writes\n"
	"(live bytes once, each replacement) and frees.  Small objects are\n"
	"repacked together: the plan stands when it frees at least\n"
	"retention.repackMinDeadMB (4) and more than it writes.  --repack carries\n"
	"it out: each replaced backup gets a replacement with the same content\n"
	"named <its time>Z-repack<n> (written, then read whole and checked),\n"
	"then the replaced backup is deleted, then the repacked objects.  A\n"
	"repack stopped at any point leaves every kept backup whole; the next\n"
	"--repack finishes it.  Pinned backups are never replaced.\n"
	"\n"
	"Names are not trusted: each native backup a rule would count is\n"
	"opened first (its catalog authenticated with the configured key).\n"
	"One that does not open (forged, renamed, damaged, another key) is\n"
	"refused: never counted, so it never makes a genuine backup go, and\n"
	"kept unless --delete-refused.\n"
	"\n"
	"  --dry-run         print the plan (each backup, kept or not, and why)\n"
	"  --json            print the plan or the result as JSON\n"
	"  --delete-refused  delete refused backups too (only when at least one\n"
	"                    backup opened: else the key is likely wrong)\n"
	"  --repack          carry out the repack plan before deleting\n";

static const char pin_usage[] =
	"usage: ocb pin BACKUP | ocb pin --remove BACKUP | ocb pin --list\n"
	"\n"
	"A pinned backup is kept by `ocb prune` whatever the policy.  The pin\n"
	"is a small marker object <prefix>/.pins/<name> in the store, seen by\n"
	"every client.\n";

/* the configured policy (retention.*) */
static void config_policy(const struct ocb_config *cfg, struct ocb_ret_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->last = cfg->keep;
	p->daily = cfg->keep_daily;
	p->weekly = cfg->keep_weekly;
	p->monthly = cfg->keep_monthly;
	p->yearly = cfg->keep_yearly;
	p->within = cfg->keep_within;
}

static void free_brefs(struct ocb_ret_ref *v, size_t n)
{
	size_t k;

	for (k = 0; v && k < n; k++)
		free((char *)v[k].name);
	free(v);
}

void prune_plan_free(struct plan *pl)
{
	size_t i;

	for (i = 0; pl->brefs && i < pl->n; i++)
		free_brefs(pl->brefs[i], pl->items[i].nrefs);
	free(pl->brefs);
	for (i = 0; i < pl->n; i++) {
		if (pl->segs)
			free(pl->segs[i]);
		if (pl->skeys)
			free(pl->skeys[i]);
		if (pl->keys)
			free(pl->keys[i]);
		if (pl->frames)
			free(pl->frames[i]);
	}
	free(pl->frames);
	free(pl->nframes);
	free(pl->segs);
	free(pl->skeys);
	free(pl->keys);
	free(pl->nsegs);
	free(pl->stored);
	free(pl->objsize);
	free(pl->refs);
	free(pl->items);
	free(pl->refused);
	free(pl->opened);
}

/* An open that failed for the backup itself (it does not authenticate
 * under this config), not for the store, the network or KMS's answer:
 * what it was refused for, else NULL. */
static const char *refusal(int err)
{
	switch (-err) {
	case EBADMSG: return "failed authentication: forged, renamed or damaged";
	case ENOKEY:
	case EKEYREJECTED: return "its key does not unwrap with the configured one";
	case EPROTO: return "unknown format";
	default: return NULL;
	}
}

/* Opening some items of the plan at once (OCB_OPEN_PARALLEL at a time):
 * each open writes only its own slot and its own item. */
struct batch {
	struct ocb_ctx *ctx;
	struct ocb_keyprov *kp;
	struct plan *pl;
	const size_t *idx;		/* the items to open */
	int *r;				/* each open's result; 1: not tried */
	struct ocb_archive_info *info;	/* of each that opened */
};

/* what an opened backup reads, as the repack plan takes it: its
 * segments of other objects, cut at the files' data, and the whole files'
 * data it stores or reads, with their content key */
struct segs {
	struct ocb_repack_seg *v;
	size_t *kat;		/* per seg: key number + 1, or 0 */
	uint8_t *keys;
	size_t n, cap, nk;
};

static int segs_piece(void *arg, const struct ocb_file_piece *p)
{
	struct segs *b = arg;
	struct ocb_repack_seg *last = b->n ? &b->v[b->n - 1] : NULL;
	uint32_t ref = p->source ? p->source - 1 : OCB_REPACK_SELF;
	int keyed = p->key && p->whole;

	if (!p->source && !keyed)
		return 0;
	if (!keyed && last && !b->kat[b->n - 1] && last->ref == ref &&
	    last->poff + last->len == p->poff) {
		last->len += p->len;
		return 0;
	}
	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 16;
		struct ocb_repack_seg *nv = realloc(b->v, nc * sizeof(*nv));
		size_t *nk;
		uint8_t *nb;

		if (!nv)
			return -ENOMEM;
		b->v = nv;
		nk = realloc(b->kat, nc * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		b->kat = nk;
		nb = realloc(b->keys, nc * OCB_FILE_KEY_LEN);
		if (!nb)
			return -ENOMEM;
		b->keys = nb;
		b->cap = nc;
	}
	b->v[b->n] = (struct ocb_repack_seg){ .ref = ref, .poff = p->poff,
					      .len = p->len };
	b->kat[b->n] = 0;
	if (keyed) {
		memcpy(b->keys + b->nk * OCB_FILE_KEY_LEN, p->key,
		       OCB_FILE_KEY_LEN);
		b->kat[b->n] = ++b->nk;
	}
	b->n++;
	return 0;
}

static int take_segments(struct plan *pl, size_t i, const struct ocb_archive *a)
{
	struct segs b = { 0 };
	const uint8_t **sk = NULL;
	size_t k;
	int r = ocb_file_pieces(a, segs_piece, &b);

	if (r == 0 && b.n && !(sk = calloc(b.n, sizeof(*sk))))
		r = -ENOMEM;
	if (r < 0) {
		free(b.v);
		free(b.kat);
		free(b.keys);
		return r;
	}
	for (k = 0; k < b.n; k++)
		if (b.kat[k])
			sk[k] = b.keys + (b.kat[k] - 1) * OCB_FILE_KEY_LEN;
	free(b.kat);
	pl->segs[i] = b.v;
	pl->nsegs[i] = b.n;
	pl->skeys[i] = sk;
	pl->keys[i] = b.keys;
	return 0;
}

/* what each frame of its own stream takes in its object */
static int take_frames(struct plan *pl, size_t i, const struct ocb_archive *a)
{
	uint32_t n = ocb_archive_own_frames(a), k;
	struct ocb_repack_frame *f = calloc(n ? n : 1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	for (k = 0; k < n; k++)
		if (ocb_archive_own_frame(a, k, &f[k].sealed,
					  &f[k].plain) < 0)
			break;
	pl->frames[i] = f;
	pl->nframes[i] = k;
	return 0;
}

/* the id and references of an opened backup into its item */
static int take_refs(struct plan *pl, size_t i, const struct ocb_archive *a)
{
	const struct ocb_archive_info *in = ocb_archive_info(a);
	struct ocb_ret_item *it = &pl->items[i];
	struct ocb_ret_ref *v;
	uint32_t k;
	int r;

	memcpy(it->id, ocb_archive_backup_id(a), sizeof(it->id));
	v = calloc(in->nrefs ? in->nrefs : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (k = 0; k < in->nrefs; k++) {
		const char *name;
		const uint8_t *id;
		r = ocb_archive_ref(a, k, &name, &id);
		if (r == 0 && !(v[k].name = strdup(name)))
			r = -ENOMEM;
		if (r < 0) {
			free_brefs(v, k);
			return r;
		}
		memcpy(v[k].id, id, sizeof(v[k].id));
	}
	pl->brefs[i] = v;
	it->refs = v;
	it->nrefs = in->nrefs;
	pl->stored[i] = in->stored_size;
	pl->objsize[i] = in->object_size;
	if (!pl->with_segs)
		return 0;
	r = take_frames(pl, i, a);
	return r < 0 ? r : take_segments(pl, i, a);
}

static void batch_open(void *arg, size_t j)
{
	struct batch *b = arg;
	size_t i = b->idx[j];
	struct ocb_archive *a = NULL;
	/* a plain prune needs only the index; the repack plan's pieces
	 * name files by their SHA-256, in the details */
	int r = ocb_ctx_open_backup_unnoted(b->ctx, &b->pl->refs[i], b->kp,
					    b->pl->with_segs ? OCB_OPEN_INDEX :
					    OCB_OPEN_REFS, &a);

	if (r == 0) {
		b->info[j] = *ocb_archive_info(a);
		r = take_refs(b->pl, i, a);
	}
	ocb_archive_free(a);
	b->r[j] = r;
}

/* Open items idx[0..n) (native backups), at once: r[j] 0 (the item's
 * open, id and refs set, counted opened), 1 when interrupted before, or
 * the error; open set to OCB_RET_UNREADABLE for an unknown format, to
 * OCB_RET_FAILED for another refusal.  0, -ENOMEM. */
static int open_items(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		      struct plan *pl, const size_t *idx, size_t n, int *r)
{
	struct batch b = { ctx, kp, pl, idx, r, NULL };
	size_t j;

	b.info = calloc(n ? n : 1, sizeof(*b.info));
	if (!b.info)
		return -ENOMEM;
	for (j = 0; j < n; j++)
		r[j] = 1;
	ocb_parallel_for(n, OCB_OPEN_PARALLEL, batch_open, &b,
			 &ocb_interrupted);
	/* in the listing's order, as one open after another would */
	for (j = 0; j < n; j++) {
		struct ocb_ret_item *it = &pl->items[idx[j]];

		if (r[j] == 0) {
			ocb_ctx_note_opened(ctx, &pl->refs[idx[j]], &b.info[j]);
			it->open = OCB_RET_OPENED;
			pl->opened[idx[j]] = 1;
			pl->nopened++;
		} else if (r[j] == -EPROTO) {
			/* perhaps a newer tool's: it may reference any older
			 * backup (ocb_retention_reach keeps them) */
			it->open = OCB_RET_UNREADABLE;
		} else if (r[j] < 0 && refusal(r[j])) {
			it->open = OCB_RET_FAILED;
		}
	}
	free(b.info);
	return 0;
}

/* the items to open: native ones matching want (the plan's item i) */
static size_t pick(const struct plan *pl, size_t *idx,
		   int (*want)(const struct plan *pl, size_t i))
{
	size_t i, n = 0;

	for (i = 0; i < pl->n; i++)
		if (pl->refs[i].kind == OCB_BACKUP_NATIVE &&
		    pl->items[i].open == OCB_RET_UNOPENED && want(pl, i))
			idx[n++] = i;
	return n;
}

/* a native backup the plan keeps and counts */
static int counted(const struct plan *pl, size_t i)
{
	const struct ocb_ret_item *it = &pl->items[i];

	return it->keep && !it->refused && !it->future && !it->foreign;
}

/* Open every native backup the plan counts and has not opened yet: 1 when
 * one was refused (plan again), 0 when all opened, or a negative errno
 * (the store, the network: nothing is decided then). */
static int authenticate_counted(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
				struct plan *pl, size_t *idx, int *res)
{
	size_t j, n = pick(pl, idx, counted);
	int again = 0, r;

	r = open_items(ctx, kp, pl, idx, n, res);
	for (j = 0; r == 0 && j < n && !ocb_interrupted; j++) {
		struct ocb_ret_item *it = &pl->items[idx[j]];
		char esc[300];

		if (res[j] == 0 || res[j] == 1)
			continue;
		pl->refused[idx[j]] = refusal(res[j]);
		if (!pl->refused[idx[j]])
			return res[j];
		it->refused = 1;
		pl->nrefused++;
		again = 1;
		ocb_warn("backup %s refused (%s): not counted by any rule",
			 ocb_log_escape(esc, sizeof(esc), it->name),
			 pl->refused[idx[j]]);
	}
	if (r < 0)
		return r;
	return ocb_interrupted ? -ECANCELED : again;
}

static int wanted(const struct plan *pl, size_t i)
{
	return pl->items[i].want_open;
}

/* Open what reachability asks for (kept backups whose references are not
 * known yet, backups a kept one references): 0 or a negative errno (the
 * store, the network: nothing is deleted then).  One that does not open
 * is not refused by this: a kept one stays kept for its own reasons (one
 * that failed authentication: no one can read it with this config
 * either; one of an unknown format: every older backup is kept with it,
 * it may need them), a referenced one is kept unverified. */
static int open_wanted(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		       struct plan *pl, size_t *idx, int *res)
{
	size_t j, n = pick(pl, idx, wanted);
	int r = open_items(ctx, kp, pl, idx, n, res);

	for (j = 0; r == 0 && j < n && !ocb_interrupted; j++) {
		struct ocb_ret_item *it = &pl->items[idx[j]];
		char esc[300];

		if (res[j] < 0 && !refusal(res[j]))
			return res[j];
		/* an unreadable one is warned about by ref_problem */
		if (res[j] < 0 && it->keep && it->open == OCB_RET_FAILED)
			ocb_info("backup %s does not open (%s): what it "
				 "references cannot be known",
				 ocb_log_escape(esc, sizeof(esc), it->name),
				 refusal(res[j]));
	}
	if (r < 0)
		return r;
	return ocb_interrupted ? -ECANCELED : 0;
}

/* a reference of a kept backup that is not satisfied: said loudly */
static void ref_problem(void *arg, const struct ocb_ret_item *from,
			const struct ocb_ret_ref *ref,
			enum ocb_ret_problem what, const struct ocb_ret_item *to)
{
	struct plan *pl = arg;
	char e1[300], e2[300];

	(void)to;
	pl->nproblems++;
	ocb_log_escape(e1, sizeof(e1), from->name);
	ocb_log_escape(e2, sizeof(e2), ref ? ref->name : "");
	switch (what) {
	case OCB_RET_REF_MISSING:
		ocb_warn("WARNING: backup %s needs backup %s, which is not in "
			 "the store: %s cannot be read whole (it is kept)",
			 e1, e2, e1);
		break;
	case OCB_RET_REF_OTHER:
		ocb_warn("WARNING: backup %s needs backup %s, but the object of "
			 "that name is another backup (replaced?): %s cannot be "
			 "read whole (it is kept); the other one is not kept "
			 "for it", e1, e2, e1);
		break;
	case OCB_RET_REF_UNVERIFIED:
		ocb_warn("WARNING: backup %s needs backup %s, which does not "
			 "open: kept, unverified", e1, e2);
		break;
	case OCB_RET_REFS_UNKNOWN:
		ocb_warn("WARNING: backup %s does not open (unknown format): "
			 "what it references cannot be known, so every older "
			 "backup is kept (may be needed by %s)", e1, e1);
		break;
	}
}

/* The plan, then the plan again until every native backup it counts has
 * opened, then what the kept backups need (kept too), until every one
 * of those has opened: 0 or a negative errno. */
static int settle(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		  struct ocb_ret_policy *p, struct plan *pl)
{
	size_t *idx = malloc((pl->n ? pl->n : 1) * sizeof(*idx));
	int *res = malloc((pl->n ? pl->n : 1) * sizeof(*res));
	int r = -ENOMEM;

	while (idx && res) {
		r = ocb_retention_plan(pl->items, pl->n, p);
		/* an empty policy keeps everything: nothing to authenticate */
		if (r < 0 || ocb_ret_policy_empty(p))
			break;
		r = authenticate_counted(ctx, kp, pl, idx, res);
		if (r > 0)
			continue;
		if (r < 0)
			break;
		if (p->delete_refused && pl->nrefused && !pl->nopened) {
			/* nothing opened: the key is more likely wrong than
			 * every backup forged */
			ocb_warn("no backup opened with the configured key: "
				 "refused backups are kept despite "
				 "--delete-refused");
			p->delete_refused = 0;
			continue;
		}
		pl->nproblems = 0;
		r = ocb_retention_reach(pl->items, pl->n, ref_problem, pl);
		if (r <= 0)
			break;
		r = open_wanted(ctx, kp, pl, idx, res);
		if (r < 0)
			break;
	}
	free(idx);
	free(res);
	return r;
}

/* leave the backups named in gone out of the listing */
static void drop_gone(struct plan *pl, const char *const *gone, size_t ngone)
{
	size_t i, k, n = 0;

	for (i = 0; i < pl->n; i++) {
		for (k = 0; k < ngone; k++)
			if (!strcmp(pl->refs[i].name, gone[k]))
				break;
		if (k == ngone)
			pl->refs[n++] = pl->refs[i];
	}
	pl->n = n;
}

int prune_plan_make(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		    struct ocb_ret_policy *p, const char *just_taken,
		    const char *const *gone, size_t ngone, int segs,
		    struct plan *pl)
{
	char **pins = NULL;
	size_t npins = 0, i, k;
	int64_t now = (int64_t)time(NULL);
	int r;

	memset(pl, 0, sizeof(*pl));
	pl->with_segs = segs;
	r = ocb_inventory_list(ctx->store, ctx->cfg->prefix, &pl->refs, &pl->n);
	if (r == 0)
		drop_gone(pl, gone, ngone);
	if (r == 0)
		r = ocb_inventory_pins(ctx->store, ctx->cfg->prefix, &pins, &npins);
	if (r < 0)
		return r;
	pl->items = calloc(pl->n ? pl->n : 1, sizeof(*pl->items));
	pl->refused = calloc(pl->n ? pl->n : 1, sizeof(*pl->refused));
	pl->opened = calloc(pl->n ? pl->n : 1, sizeof(*pl->opened));
	pl->brefs = calloc(pl->n ? pl->n : 1, sizeof(*pl->brefs));
	pl->segs = calloc(pl->n ? pl->n : 1, sizeof(*pl->segs));
	pl->nsegs = calloc(pl->n ? pl->n : 1, sizeof(*pl->nsegs));
	pl->skeys = calloc(pl->n ? pl->n : 1, sizeof(*pl->skeys));
	pl->keys = calloc(pl->n ? pl->n : 1, sizeof(*pl->keys));
	pl->stored = calloc(pl->n ? pl->n : 1, sizeof(*pl->stored));
	pl->objsize = calloc(pl->n ? pl->n : 1, sizeof(*pl->objsize));
	pl->frames = calloc(pl->n ? pl->n : 1, sizeof(*pl->frames));
	pl->nframes = calloc(pl->n ? pl->n : 1, sizeof(*pl->nframes));
	if (!pl->items || !pl->refused || !pl->opened || !pl->brefs ||
	    !pl->segs || !pl->nsegs || !pl->skeys || !pl->keys ||
	    !pl->stored || !pl->objsize || !pl->frames || !pl->nframes) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < pl->n; i++) {
		struct ocb_ret_item *it = &pl->items[i];

		it->name = pl->refs[i].name;
		it->native = pl->refs[i].kind == OCB_BACKUP_NATIVE;
		if (ocb_backup_name_time(it->name, &it->time,
					    &it->labelled) < 0) {
			/* a name ocb did not make: never deleted */
			it->time = pl->refs[i].mtime;
			it->foreign = 1;
		}
		for (k = 0; k < npins; k++)
			if (!strcmp(pins[k], it->name))
				it->pinned = 1;
		it->just_taken = just_taken && !strcmp(just_taken, it->name);
		/* a future time or an old-tool backup never counts as newest
		 * nor towards a rule ahead of a native one (retention.h) */
		it->future = it->time > now + OCB_RET_FUTURE_SKEW;
		it->untrusted = pl->refs[i].kind != OCB_BACKUP_NATIVE ||
				it->future;
		if (it->future) {
			char esc[300];

			ocb_warn("backup %s is dated in the future: not counted "
				 "as newest, and kept", ocb_log_escape(esc,
				 sizeof(esc), it->name));
		}
	}
	r = settle(ctx, kp, p, pl);
out:
	ocb_inventory_instances_free(pins, npins);
	return r;
}

/* ---- the repack plan (repack.h) -------------------------------------------- */

void prune_repack_free(struct repack *rp, size_t n)
{
	size_t i;

	for (i = 0; rp->names && i < n; i++)
		free(rp->names[i]);
	free(rp->names);
	free(rp->v);
}

/* What repacking would do after this plan (retention.repack*): 0 or
 * -ENOMEM.  Made only when the policy kept something for its bytes. */
int prune_repack_make(const struct ocb_config *cfg, const struct plan *pl,
		      struct repack *rp)
{
	struct ocb_repack_policy p = {
		.live_percent = (unsigned)cfg->repack_live_percent,
		.min_dead = (uint64_t)cfg->repack_min_dead_mb << 20,
	};
	size_t i, k;

	memset(rp, 0, sizeof(*rp));
	rp->v = calloc(pl->n ? pl->n : 1, sizeof(*rp->v));
	rp->names = calloc(pl->n ? pl->n : 1, sizeof(*rp->names));
	if (!rp->v || !rp->names)
		return -ENOMEM;
	for (i = 0; i < pl->n; i++) {
		const struct ocb_ret_item *it = &pl->items[i];
		struct ocb_repack_item *r = &rp->v[i];

		r->name = it->name;
		r->native = it->native;
		r->keep = it->keep;
		r->needed = it->needed;
		r->pinned = it->pinned;
		r->opened = pl->opened[i] || it->open == OCB_RET_OPENED;
		r->stored = pl->stored[i];
		r->object_size = pl->objsize[i];
		r->frames = pl->frames[i];
		r->nframes = pl->nframes[i];
		r->seg = pl->segs[i];
		r->nseg = pl->nsegs[i];
		r->seg_key = pl->skeys[i];
		r->nrefs = it->nrefs;
		rp->names[i] = calloc(it->nrefs ? it->nrefs : 1,
				      sizeof(**rp->names));
		if (!rp->names[i])
			return -ENOMEM;
		for (k = 0; k < it->nrefs; k++)
			rp->names[i][k] = it->refs[k].name;
		r->ref_names = rp->names[i];
	}
	rp->made = 1;
	return ocb_repack_plan(rp->v, pl->n, &p, &rp->t);
}

/* the share of its object its live bytes take */
static unsigned live_pct(const struct ocb_repack_item *r)
{
	return r->object_size ? (unsigned)((long double)r->live_object * 100 /
					   r->object_size) : 0;
}

static void repack_print_json(const struct repack *rp, size_t n)
{
	size_t i;
	int first = 1;

	printf(", \"repack\": {\"worth\": %s, \"blocked\": %s, "
	       "\"together\": %s, \"dead_bytes\": %" PRIu64 ", \"write_bytes\": %" PRIu64
	       ", \"delete_object_bytes\": %" PRIu64 ", \"objects\": [",
	       rp->t.worth ? "true" : "false",
	       rp->t.blocked ? "true" : "false",
	       rp->t.together ? "true" : "false", rp->t.dead, rp->t.written,
	       rp->t.object_bytes);
	for (i = 0; i < n; i++) {
		const struct ocb_repack_item *r = &rp->v[i];

		if (!r->needed && !r->rewrite)
			continue;
		printf("%s\n  {\"name\": ", first ? "" : ",");
		first = 0;
		ocb_json_str(r->name);
		printf(", \"action\": \"%s\", \"stored_bytes\": %" PRIu64
		       ", \"live_bytes\": %" PRIu64 ", \"object_bytes\": %"
		       PRIu64 ", \"live_object_bytes\": %" PRIu64 "}",
		       r->repack ? "repack" : r->rewrite ? "replace" : "stay",
		       r->stored, r->needed ? r->live : r->stored,
		       r->object_size,
		       r->needed ? r->live_object : r->object_size);
	}
	printf("%s]}", first ? "" : "\n");
}

/* the text plan: each object kept for its bytes, each kept backup that
 * would be replaced, and the totals */
static void repack_print(const struct repack *rp, size_t n, int dry)
{
	char a[32], b[32], c[32], d[32], esc[1024];
	size_t i, any = 0;

	for (i = 0; i < n; i++) {
		const struct ocb_repack_item *r = &rp->v[i];

		if (!r->needed && !r->rewrite)
			continue;
		if (!any++)
			printf("repack plan:\n");
		ocb_log_escape(esc, sizeof(esc), r->name);
		if (r->rewrite)
			printf("  replace %s (stores %s; reads from a repacked "
			       "or replaced object)\n", esc,
			       ocb_human_size(r->stored, a, sizeof(a)));
		else
			printf("  %-7s %s (live %s of %s stored, taking %s "
			       "of its %s in the store, %u%%)\n",
			       r->repack ? "repack" : "stay", esc,
			       ocb_human_size(r->live, a, sizeof(a)),
			       ocb_human_size(r->stored, b, sizeof(b)),
			       ocb_human_size(r->live_object, c, sizeof(c)),
			       ocb_human_size(r->object_size, d, sizeof(d)),
			       live_pct(r));
	}
	if (!any)
		return;
	if (rp->t.blocked)
		printf("repack: not planned: a kept backup could not be read "
		       "(refused, or of an unknown format), and it may read "
		       "from any object (`ocb prune --delete-refused` deletes "
		       "refused ones)\n");
	else if (rp->t.worth)
		printf("repack: %zu object%s mostly dead, %zu kept backup%s "
		       "replaced: writes %s, frees %s (%s of objects "
		       "deleted)%s\n",
		       rp->t.repacked, rp->t.repacked == 1 ? "" : "s",
		       rp->t.rewritten, rp->t.rewritten == 1 ? "" : "s",
		       ocb_human_size(rp->t.written, a, sizeof(a)),
		       ocb_human_size(rp->t.dead, b, sizeof(b)),
		       ocb_human_size(rp->t.object_bytes, c, sizeof(c)),
		       dry ? "; `ocb prune --repack` carries it out" : "");
	else
		printf("repack: nothing worth repacking (objects whose live "
		       "bytes take under retention.repackLivePercent of them "
		       "are repacked together when the plan frees at least "
		       "retention.repackMinDeadMB and more than it writes)\n");
}

static void print_plan(const struct plan *pl, int dry, int json,
		       const int *deleted, const struct repack *rp)
{
	size_t i;
	int first = 1;

	if (json) {
		printf("{\"dry_run\": %s, \"aborted_uploads\": %d, \"backups\": [",
		       dry ? "true" : "false", pl->aborted);
		for (i = 0; i < pl->n; i++) {
			printf("%s\n  {\"name\": ", first ? "" : ",");
			first = 0;
			ocb_json_str(pl->items[i].name);
			printf(", \"keep\": %s, \"labelled\": %s, \"why\": ",
			       pl->items[i].keep ? "true" : "false",
			       pl->items[i].labelled ? "true" : "false");
			ocb_json_str(pl->items[i].why);
			if (pl->refused[i]) {
				printf(", \"refused\": ");
				ocb_json_str(pl->refused[i]);
			}
			if (!dry)
				printf(", \"deleted\": %s",
				       deleted[i] ? "true" : "false");
			printf("}");
		}
		printf("%s]", pl->n ? "\n" : "");
		if (rp->made)
			repack_print_json(rp, pl->n);
		printf("}\n");
		return;
	}
	for (i = 0; i < pl->n; i++) {
		char esc[1024], why[256] = "";

		/* names come from the store: escaped on a terminal */
		ocb_log_escape(esc, sizeof(esc), pl->items[i].name);
		if (pl->refused[i])
			snprintf(why, sizeof(why), " [refused: %s]",
				 pl->refused[i]);
		if (pl->items[i].keep)
			printf("keep    %s (%s)%s%s\n", esc, pl->items[i].why,
			       pl->items[i].labelled ? " [labelled]" : "", why);
		else
			printf("%-8s%s%s%s\n", dry ? "delete" :
			       deleted[i] ? "deleted" : "FAILED", esc,
			       pl->items[i].labelled ? " [labelled: pin it to "
			       "keep it]" : "", why);
	}
}

/* --repack: the plan carried out (prune_repack.c); then pl is a fresh
 * plan, deleted[] sized for it.  0 or an exit code. */
static int repack_now(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		      struct ocb_ret_policy *p, struct plan *pl,
		      struct repack *rp, int **deleted)
{
	size_t n0 = pl->n;
	int r;

	if (!rp->t.worth)
		return 0;
	r = prune_repack_run(ctx, kp, p, pl, rp);
	prune_repack_free(rp, n0);
	memset(rp, 0, sizeof(*rp));
	if (r < 0)
		return ocb_fail(r, "repack (nothing else deleted)");
	free(*deleted);
	*deleted = calloc(pl->n ? pl->n : 1, sizeof(**deleted));
	return *deleted ? 0 : ocb_fail(-ENOMEM, "prune");
}

/* auto: after a backup (retention.autoClean): only deletions are told,
 * on stderr, so that the backup's own output stays as it is */
static int prune(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		 struct ocb_ret_policy *p, int dry, int json, int autoclean,
		 int repack, const char *just_taken)
{
	struct plan pl;
	struct repack rp = { 0 };
	int *deleted = NULL, r, worst = 0;
	size_t i, ndel = 0, nkeep = 0;
	/* the repack plan is made only to be shown or carried out */
	int plan_repack = !autoclean && !ocb_ret_policy_empty(p) &&
			  (dry || json || repack);

	r = prune_plan_make(ctx, kp, p, just_taken, NULL, 0, plan_repack, &pl);
	if (r < 0) {
		prune_plan_free(&pl);
		return ocb_fail(r, "list %s", ctx->cfg->prefix);
	}
	deleted = calloc(pl.n ? pl.n : 1, sizeof(*deleted));
	/* what repacking would do: planned, shown by --dry-run */
	if (!deleted || (plan_repack &&
			 prune_repack_make(ctx->cfg, &pl, &rp) < 0)) {
		free(deleted);
		prune_repack_free(&rp, pl.n);
		prune_plan_free(&pl);
		return ocb_fail(-ENOMEM, "prune");
	}
	if (!dry && repack) {
		if (!json && !ctx->quiet && rp.made)
			repack_print(&rp, pl.n, 0);
		r = repack_now(ctx, kp, p, &pl, &rp, &deleted);
		if (r) {
			free(deleted);
			prune_plan_free(&pl);
			return r;
		}
	}
	if (!dry) {
		/* uploads left by killed backups, then the plan's deletions.
		 * Only backups no kept one references are deleted
		 * (ocb_retention_reach), each by itself: a prune killed at
		 * any point (kill -9, a crash, a lost connection) has deleted
		 * some of them, and every kept backup is still whole, because
		 * none of the deleted objects held a byte a kept one reads.
		 * Newest first (the listing is by name, so by time): a
		 * backup references only older ones, so each one left
		 * behind by a kill is whole too.  The next prune finds the
		 * rest again. */
		r = ocb_inventory_abort_stale(ctx->store, ctx->cfg->prefix,
					    ctx->cfg->stale_upload_age);
		pl.aborted = r > 0 ? r : 0;
		for (i = pl.n; i-- > 0 && !ocb_interrupted;) {
			if (pl.items[i].keep)
				continue;
			r = ctx->store->ops->del(ctx->store, pl.refs[i].key);
			if (r < 0) {
				ocb_err("delete %s: %s", pl.refs[i].name,
					ocb_store_strerror(r));
				if (!worst)
					worst = r;
			} else {
				deleted[i] = 1;
				if (autoclean && !ctx->quiet)
					fprintf(stderr, "ocb: retention: deleted "
						"%s\n", pl.refs[i].name);
			}
		}
	}
	for (i = 0; i < pl.n; i++) {
		nkeep += pl.items[i].keep;
		ndel += dry ? !pl.items[i].keep : (size_t)deleted[i];
	}
	if (!autoclean && (!ctx->quiet || json))
		print_plan(&pl, dry, json, deleted, &rp);
	if (!autoclean && !json && !ctx->quiet && dry && rp.made)
		repack_print(&rp, pl.n, 1);
	if (!autoclean && !json && !ctx->quiet)
		printf("%zu kept, %zu %s%s\n", nkeep, ndel,
		       dry ? "to delete (dry run: nothing deleted)" : "deleted",
		       ocb_ret_policy_empty(p) ? "; no retention rule is set, "
		       "so everything is kept" : "");
	if (pl.nrefused && !ctx->quiet)
		fprintf(stderr, "ocb: %zu backup%s refused (not counted by any "
			"rule)%s\n", pl.nrefused, pl.nrefused > 1 ? "s" : "",
			p->delete_refused ? "" : ", kept: --delete-refused "
			"deletes them");
	free(deleted);
	prune_repack_free(&rp, pl.n);
	prune_plan_free(&pl);
	if (ocb_interrupted)
		return OCB_EXIT_INTERRUPTED;
	if (worst)
		return ocb_exit_code(worst);
	/* refused backups left in the store, or a kept backup missing
	 * what it references: done, with warnings */
	return (pl.nrefused && !p->delete_refused) || pl.nproblems ?
	       OCB_EXIT_WARNINGS : 0;
}

int ocb_prune_configured(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
			 const char *just_taken)
{
	struct ocb_ret_policy p;

	config_policy(ctx->cfg, &p);
	if (ocb_ret_policy_empty(&p))
		return 0;
	return prune(ctx, kp, &p, 0, 0, 1, 0, just_taken);
}

static int count_arg(const char *opt, const char *v, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (*v < '0' || *v > '9' || *end || n > 100000) {
		fprintf(stderr, "ocb: %s takes a count (0 or more)\n", opt);
		return -EINVAL;
	}
	*out = (int)n;
	return 0;
}

static int prune_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "keep-last", required_argument, NULL, 'l' },
		{ "keep-daily", required_argument, NULL, 'd' },
		{ "keep-weekly", required_argument, NULL, 'w' },
		{ "keep-monthly", required_argument, NULL, 'm' },
		{ "keep-yearly", required_argument, NULL, 'y' },
		{ "keep-within", required_argument, NULL, 'W' },
		{ "delete-refused", no_argument, NULL, 'R' },
		{ "repack", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_ret_policy p = { 0 };
	struct ocb_keyprov *kp = NULL;
	int dry = 0, json = 0, given = 0, delref = 0, repack = 0, c, r;

	while ((c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
		r = 0;
		switch (c) {
		case 'n': dry = 1; break;
		case 'j': json = 1; break;
		case 'R': delref = 1; break;
		case 'P': repack = 1; break;
		case 'l': r = count_arg("--keep-last", optarg, &p.last); break;
		case 'd': r = count_arg("--keep-daily", optarg, &p.daily); break;
		case 'w': r = count_arg("--keep-weekly", optarg, &p.weekly); break;
		case 'm': r = count_arg("--keep-monthly", optarg, &p.monthly); break;
		case 'y': r = count_arg("--keep-yearly", optarg, &p.yearly); break;
		case 'W':
			r = ocb_config_parse_duration(optarg, &p.within);
			if (r < 0)
				fprintf(stderr, "ocb: --keep-within %s: use e.g. "
					"30d, 12h, 2w, 6m, 1y\n", optarg);
			break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_prune);
		}
		if (r < 0)
			return OCB_EXIT_USAGE;
		if (c != 'n' && c != 'j' && c != 'R' && c != 'P')
			given = 1;
	}
	if (optind != argc)
		return ocb_usage(&ocb_cmd_prune);
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	if (!given)
		config_policy(ctx->cfg, &p);
	p.delete_refused = delref;
	/* the key authenticates what the rules count */
	if (!ocb_ret_policy_empty(&p)) {
		r = ocb_ctx_keyprov(ctx, &kp);
		if (r)
			return r;
	}
	r = prune(ctx, kp, &p, dry, json, 0, repack, NULL);
	ocb_keyprov_free(kp);
	return r;
}

static int pin_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct ocb_backup_ref ref;
	int remove = 0, list = 0, r, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s", pin_usage);
			return 0;
		}
	}
	if (argc == 2 && !strcmp(argv[1], "--list"))
		list = 1;
	else if (argc == 3 && !strcmp(argv[1], "--remove"))
		remove = 1;
	else if (argc != 2 || argv[1][0] == '-')
		return ocb_usage(&ocb_cmd_pin);
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	if (list) {
		char **v = NULL;
		size_t n = 0, k;

		r = ocb_inventory_pins(ctx->store, ctx->cfg->prefix, &v, &n);
		if (r < 0)
			return ocb_fail(r, "list pins");
		for (k = 0; k < n; k++)
			printf("%s\n", v[k]);
		ocb_inventory_instances_free(v, n);
		return 0;
	}
	r = ocb_inventory_find(ctx->store, ctx->cfg->prefix, argv[argc - 1], &ref);
	if (r < 0)
		return ocb_exit_code(r);
	r = ocb_inventory_pin(ctx->store, ctx->cfg->prefix, ref.name, !remove);
	if (r < 0)
		return ocb_fail(r, "%s %s", remove ? "unpin" : "pin", ref.name);
	if (!ctx->quiet)
		printf("%s %s\n", remove ? "unpinned" : "pinned", ref.name);
	return 0;
}

const struct ocb_cmd ocb_cmd_prune = {
	.name = "prune",
	.summary = "delete backups a retention policy does not keep",
	.usage = usage,
	.exec = prune_exec,
};

const struct ocb_cmd ocb_cmd_pin = {
	.name = "pin",
	.summary = "keep a backup whatever the retention policy",
	.usage = pin_usage,
	.exec = pin_exec,
};
