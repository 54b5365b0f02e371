/*
 * cmd_list.c - `ocb list`: the backups, from the listing and object
 * metadata only (no GET), or with --open from their catalogs (and
 * whether each incremental one has the backups it reads from); a few
 * backups at a time, printed in the listing's order.
 */
#include "cmd.h"
#include "inventory.h"
#include "config.h"
#include "backup_name.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "parallel.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
	"usage: ocb list [--all] [--json] [--open]\n"
	"\n"
	"List the backups of the configured instance (--all: of every instance\n"
	"under the same root), native (.ocb) and old-tool (.tar.gz) alike:\n"
	"name, time, size, NEW (bytes this object stores), TOTAL (bytes of\n"
	"the whole backup; an incremental one reads the rest from the backups\n"
	"it builds on), kind, encryption, label, WARNINGS N when the backup\n"
	"was taken with warnings, and BASE NAME for an incremental backup;\n"
	"with --all the instance first.\n"
	"From the listing and object metadata only, which anyone who can\n"
	"write the bucket can forge; --open opens each native backup\n"
	"(its catalog's index authenticated with the configured key: one\n"
	"range read each, two for a large catalog; the files' hashes are\n"
	"left unread), marks those that do not open REFUSED, with why, and\n"
	"takes the warning count, NEW, TOTAL and BASE from the catalog\n"
	"(metadata has the warning count only for backups stored by one put;\n"
	"without it NEW is the object's size and TOTAL \"-\"); it marks\n"
	"DAMAGED, with why, an incremental backup that cannot be read whole:\n"
	"a backup it reads bytes from is gone, does not open or was replaced.\n";

/* a count in a backup's metadata (at most digits long): 1 and *n when
 * it is a plain count, else 0 (unknown) */
static int count_hint(const struct ocb_meta *m, const char *key,
		      size_t digits, uint64_t *n)
{
	const char *w = ocb_meta_get(m, key);

	if (!w || !*w || strlen(w) > digits ||
	    strspn(w, "0123456789") != strlen(w))
		return 0;
	*n = strtoull(w, NULL, 10);
	return 1;
}

/* one line of the listing */
struct row {
	const char *enc, *label, *inst;	/* borrowed: the head's metadata */
	time_t t;			/* when it was taken */
	uint64_t nwarn;			/* warnings, when known */
	int known;			/* nwarn is known */
	int refused;			/* it does not open (or would not) */
	char why[256];			/* why, when refused */
	/* bytes this object stores (hint, else the object's size) and the
	 * whole backup's (an incremental one reads the rest from others),
	 * the backup it builds on and how many since the last full one */
	uint64_t new_bytes, total_bytes;
	int total_known, base_known, depth_known;
	char base[256];
	uint32_t depth;
	/* opened (--open): its id and the backups it reads bytes from */
	int opened;
	uint8_t id[16];
	char **ref_names;
	uint8_t (*ref_ids)[16];
	uint32_t nrefs;
	char damaged[320];		/* a reference that fails, else "" */
};

static void row_release(struct row *w)
{
	uint32_t k;

	for (k = 0; w->ref_names && k < w->nrefs; k++)
		free(w->ref_names[k]);
	free(w->ref_names);
	free(w->ref_ids);
}

/* what an opened backup references (best effort: without them nothing
 * is checked) */
static void row_refs(struct row *w, const struct ocb_archive *a)
{
	uint32_t n = ocb_archive_info(a)->nrefs, k;

	memcpy(w->id, ocb_archive_backup_id(a), sizeof(w->id));
	w->opened = 1;
	w->ref_names = calloc(n ? n : 1, sizeof(*w->ref_names));
	w->ref_ids = calloc(n ? n : 1, sizeof(*w->ref_ids));
	if (!w->ref_names || !w->ref_ids)
		return;
	for (k = 0; k < n; k++) {
		const char *name;
		const uint8_t *id;

		if (ocb_archive_ref(a, k, &name, &id) < 0 ||
		    !(w->ref_names[k] = strdup(name)))
			return;
		memcpy(w->ref_ids[k], id, sizeof(w->ref_ids[k]));
		w->nrefs = k + 1;
	}
}

/* An opened incremental backup whose referenced objects are gone, do not
 * open or are other backups cannot be read whole: why, into damaged. */
static void rows_check_refs(const struct ocb_backup_ref *v, struct row *w,
			    size_t n)
{
	size_t i, j;
	uint32_t k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < w[i].nrefs && !*w[i].damaged; k++) {
			const char *name = w[i].ref_names[k], *bad;

			for (j = 0; j < n; j++)
				if (v[j].kind == OCB_BACKUP_NATIVE &&
				    !strcmp(v[j].name, name))
					break;
			if (j == n)
				bad = "which is not in the store";
			else if (!w[j].opened)
				bad = "which does not open";
			else if (memcmp(w[j].id, w[i].ref_ids[k], 16))
				bad = "but that object is another backup";
			else
				continue;
			snprintf(w[i].damaged, sizeof(w[i].damaged),
				 "needs %s, %s", name, bad);
		}
	}
}

/* an old-tool backup's encryption, by its metadata and first bytes */
static const char *old_encryption(struct ocb_store *s,
				  const struct ocb_backup_ref *ref,
				  const struct ocb_meta *meta)
{
	const char *enc = ocb_meta_get(meta, "encryption-method");
	const char *sse = ocb_meta_get(meta, "encrypted");
	unsigned char magic[2] = { 0 };

	/* the bytes, not the tag: the old tool's "gpg" backups are plain
	 * gzip */
	if (enc && !strcmp(enc, "gpg") &&
	    ocb_store_read(s, ref->key, 0, 2, magic) == 2 &&
	    magic[0] == 0x1f && magic[1] == 0x8b)
		return "none (tagged gpg)";
	if (!enc || !strcmp(enc, "none"))
		return sse && !strcmp(sse, "true") ? "sse" : "none";
	return enc;
}

/* what the object's metadata says of the backup (anyone's word) */
static void row_from_meta(struct ocb_store *s, const struct ocb_backup_ref *ref,
			  const struct ocb_meta *meta, struct row *w)
{
	const char *c = ocb_meta_get(meta, "created"), *m;
	int native = ref->kind == OCB_BACKUP_NATIVE;
	int64_t nt;
	int lab;

	if (c)
		w->t = (time_t)strtoll(c, NULL, 10);
	/* old backups: the time their name carries */
	else if (ocb_backup_name_time(ref->name, &nt, &lab) == 0)
		w->t = (time_t)nt;
	if (native) {
		w->enc = ocb_meta_get(meta, "key-provider");
		w->enc = w->enc ? w->enc : "?";
		/* known only for a backup stored by one put (see the man
		 * page); the catalog always has it */
		w->known = count_hint(meta, "warnings", 10, &w->nwarn);
		count_hint(meta, "new-bytes", 19, &w->new_bytes);
		w->total_known = count_hint(meta, "total-bytes", 19,
					    &w->total_bytes);
		m = ocb_meta_get(meta, "base");
		if (m) {	/* "": a full backup */
			snprintf(w->base, sizeof(w->base), "%s", m);
			w->base_known = 1;
			w->depth_known = !*m;
		}
	} else {
		w->enc = old_encryption(s, ref, meta);
	}
	w->label = ocb_meta_get(meta, "label");
	w->label = w->label ? w->label : "";
	m = ocb_meta_get(meta, native ? "instance" : "instance-id");
	if (m && *m)
		w->inst = m;
}

/* whether a native backup is refused: a hint from unauthenticated
 * metadata, or with kp (--open) the answer of opening it (what refuses
 * it: ocb_keyprov_unwrap), which also gives the warning count */
static void row_refused(struct ocb_ctx *ctx, const struct ocb_backup_ref *ref,
			struct ocb_keyprov *kp, struct row *w)
{
	const struct ocb_config *cfg = ctx->cfg;

	w->refused = ref->kind == OCB_BACKUP_NATIVE &&
		     !strcmp(w->enc, "none") && cfg->key_provider &&
		     strcmp(cfg->key_provider, "none");
	snprintf(w->why, sizeof(w->why), "key provider none, %s configured",
		 w->refused ? cfg->key_provider : "");
	if (kp && ref->kind == OCB_BACKUP_NATIVE) {
		struct ocb_archive *a = NULL;
		/* the index says all a row shows; the details (the files'
		 * hashes) are left unread, as in the mount */
		int o = ocb_archive_open_ex(ctx->store, ref->key, kp,
					    OCB_ARCHIVE_LAZY_DETAILS, &a);

		w->refused = o < 0;
		if (!w->refused) {	/* the authoritative facts */
			const struct ocb_archive_info *in = ocb_archive_info(a);

			w->nwarn = in->warnings;
			w->known = 1;
			w->new_bytes = in->stored_size;
			w->total_bytes = in->stream_size;
			snprintf(w->base, sizeof(w->base), "%s", in->base);
			w->depth = in->depth;
			w->total_known = w->base_known = w->depth_known = 1;
			row_refs(w, a);
		}
		ocb_archive_free(a);
		if (w->refused)
			snprintf(w->why, sizeof(w->why), "%s",
				 ocb_archive_strerror(o));
	}
}

/* the row as one element of the JSON array (after a comma unless
 * *first) */
static void print_json(const struct ocb_backup_ref *ref, const struct row *w,
		       const char *when, int *first)
{
	printf("%s{\"name\": ", *first ? "" : ",\n ");
	ocb_json_str(ref->name);
	printf(", \"key\": ");
	ocb_json_str(ref->key);
	printf(", \"created\": \"%s\", \"size\": %" PRIu64
	       ", \"kind\": \"%s\", \"encryption\": ", when,
	       ref->size, ref->kind == OCB_BACKUP_NATIVE ? "ocb" : "tar.gz");
	ocb_json_str(w->enc);
	printf(", \"label\": ");
	ocb_json_str(w->label);
	printf(", \"instance\": ");
	ocb_json_str(w->inst);
	if (w->refused) {
		printf(", \"refused\": ");
		ocb_json_str(w->why);
	}
	if (*w->damaged) {
		printf(", \"damaged\": ");
		ocb_json_str(w->damaged);
	}
	if (w->known)
		printf(", \"warnings\": %" PRIu64, w->nwarn);
	else
		printf(", \"warnings\": null");
	printf(", \"new_bytes\": %" PRIu64 ", \"total_bytes\": ", w->new_bytes);
	if (w->total_known)
		printf("%" PRIu64, w->total_bytes);
	else
		printf("null");
	printf(", \"base\": ");
	if (w->base_known)
		ocb_json_str(w->base);
	else
		printf("null");
	if (w->depth_known)
		printf(", \"depth\": %" PRIu32 "}", w->depth);
	else
		printf(", \"depth\": null}");
	*first = 0;
}

/* the row as a line of text (the instance first with all) */
static void print_line(const struct ocb_backup_ref *ref, const struct row *w,
		       const char *when, int all)
{
	char en[1024], el[512], ee[64], size[32], nb[32], tb[32] = "-";
	int tagged;

	/* names, labels and metadata come from the store: never raw
	 * control characters on a terminal */
	if (all)
		printf("%-20s ", ocb_log_escape(ee, sizeof(ee), w->inst));
	if (w->total_known)
		ocb_human_size(w->total_bytes, tb, sizeof(tb));
	printf("%-50s %s %10s %10s %10s %-6s %-10s %s%s%s%s%s",
	       ocb_log_escape(en, sizeof(en), ref->name), when,
	       ocb_human_size(ref->size, size, sizeof(size)),
	       ocb_human_size(w->new_bytes, nb, sizeof(nb)), tb,
	       ref->kind == OCB_BACKUP_NATIVE ? "ocb" : "tar.gz",
	       ocb_log_escape(ee, sizeof(ee), w->enc),
	       ocb_log_escape(el, sizeof(el), w->label),
	       w->refused ? (*w->label ? " " : "") : "",
	       w->refused ? "REFUSED (" : "", w->refused ? w->why : "",
	       w->refused ? ")" : "");
	tagged = *w->label || w->refused;
	if (*w->damaged)
		printf("%sDAMAGED (%s)", tagged ? " " : "",
		       ocb_log_escape(en, sizeof(en), w->damaged));
	tagged = tagged || *w->damaged;
	if (w->nwarn)
		printf("%sWARNINGS %" PRIu64, tagged ? " " : "", w->nwarn);
	tagged = tagged || w->nwarn;
	if (*w->base)
		printf("%sBASE %s", tagged ? " " : "",
		       ocb_log_escape(en, sizeof(en), w->base));
	printf("\n");
}

/* the rows of one prefix, each made by itself (a HEAD, with --open two
 * range reads): OCB_OPEN_PARALLEL at a time */
struct rows {
	struct ocb_ctx *ctx;
	struct ocb_keyprov *kp;
	const struct ocb_backup_ref *v;
	const char *pinst;
	struct row *w;
	struct ocb_obj_head *h;		/* the rows borrow their metadata */
};

static void row_make(void *arg, size_t i)
{
	struct rows *rs = arg;
	struct ocb_store *s = rs->ctx->store;
	const struct ocb_backup_ref *ref = &rs->v[i];
	struct row *w = &rs->w[i];

	w->enc = "-";
	w->label = "";
	w->inst = rs->pinst;
	w->t = (time_t)ref->mtime;
	/* what the object stores, until its metadata or catalog says */
	w->new_bytes = ref->size;
	if (ref->kind != OCB_BACKUP_NATIVE)	/* always full */
		w->base_known = w->depth_known = 1;
	if (s->ops->head(s, ref->key, &rs->h[i]) == 0)
		row_from_meta(s, ref, &rs->h[i].meta, w);
	row_refused(rs->ctx, ref, rs->kp, w);
}

static int list_prefix(struct ocb_ctx *ctx, const char *prefix, int json,
		       int all, struct ocb_keyprov *kp, int *first)
{
	struct ocb_store *s = ctx->store;
	struct ocb_backup_ref *v = NULL;
	struct rows rs = { .ctx = ctx, .kp = kp };
	size_t n = 0, i;
	char pinst[256];
	int r;

	/* the instance its prefix names, unless the backup says */
	ocb_config_prefix_instance(prefix, strlen(prefix), pinst, sizeof(pinst));
	r = ocb_inventory_list(s, prefix, &v, &n);
	if (r < 0)
		return ocb_fail(r, "list %s", prefix);
	rs.v = v;
	rs.pinst = pinst;
	rs.w = calloc(n ? n : 1, sizeof(*rs.w));
	rs.h = calloc(n ? n : 1, sizeof(*rs.h));
	if (!rs.w || !rs.h) {
		r = ocb_fail(-ENOMEM, "list %s", prefix);
		goto out;
	}
	ocb_parallel_for(n, OCB_OPEN_PARALLEL, row_make, &rs, NULL);
	rows_check_refs(v, rs.w, n);
	/* printed in the listing's order */
	for (i = 0; i < n; i++) {
		char when[32] = "-";
		struct tm tm;

		gmtime_r(&rs.w[i].t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (json)
			print_json(&v[i], &rs.w[i], when, first);
		else
			print_line(&v[i], &rs.w[i], when, all);
	}
out:
	for (i = 0; rs.h && i < n; i++)
		ocb_obj_head_release(&rs.h[i]);
	for (i = 0; rs.w && i < n; i++)
		row_release(&rs.w[i]);
	free(rs.h);
	free(rs.w);
	free(v);
	return r;
}

static int list_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "open", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_keyprov *kp = NULL;
	int all = 0, json = 0, check = 0, first = 1, c, r;

	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'j': json = 1; break;
		case 'o': check = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_list);
		}
	}
	if (optind != argc)
		return ocb_usage(&ocb_cmd_list);
	r = ocb_ctx_store(ctx, NULL);
	if (r == 0 && check)
		r = ocb_ctx_keyprov(ctx, &kp);
	if (r)
		return r;
	if (json)
		printf("[");
	if (all) {
		char **inst = NULL;
		size_t n = 0, i;

		r = ocb_inventory_instances(ctx->store, ctx->cfg->root, &inst, &n);
		if (r < 0)
			return ocb_fail(r, "list %s", ctx->cfg->root);
		for (i = 0; i < n && r == 0; i++)
			r = list_prefix(ctx, inst[i], json, 1, kp, &first);
		ocb_inventory_instances_free(inst, n);
	} else {
		r = list_prefix(ctx, ctx->cfg->prefix, json, 0, kp, &first);
	}
	if (json)
		printf("]\n");
	ocb_keyprov_free(kp);
	return r;
}

const struct ocb_cmd ocb_cmd_list = {
	.name = "list",
	.summary = "list backups (native and old-tool)",
	.usage = usage,
	.exec = list_exec,
};
