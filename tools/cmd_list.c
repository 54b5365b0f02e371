/*
 * cmd_list.c - `ocb list`: the backups, from the listing and object
 * metadata only (no GET).
 */
#include "cmd.h"
#include "inventory.h"
#include "config.h"
#include "backup_name.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

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
	"name, time, size, kind, encryption, label, and WARNINGS N when the\n"
	"backup was taken with warnings; with --all the instance first.\n"
	"From the listing and object metadata only, which anyone who can\n"
	"write the bucket can forge; --open opens each native backup\n"
	"(its catalog authenticated with the configured key: two small range\n"
	"reads each), marks those that do not open REFUSED, with why, and\n"
	"takes the warning count from the catalog (metadata has it only for\n"
	"backups stored by one put).\n";

/* the "warnings" metadata of a backup: 1 and *n when it is a plain
 * count, else 0 (unknown) */
static int warnings_hint(const struct ocb_meta *m, uint64_t *n)
{
	const char *w = ocb_meta_get(m, "warnings");

	if (!w || !*w || strlen(w) > 10 ||
	    strspn(w, "0123456789") != strlen(w))
		return 0;
	*n = strtoull(w, NULL, 10);
	return 1;
}

static int list_prefix(struct ocb_ctx *ctx, const char *prefix, int json,
		       int all, struct ocb_keyprov *kp, int *first)
{
	struct ocb_store *s = ctx->store;
	struct ocb_backup_ref *v = NULL;
	size_t n = 0, i;
	char pinst[256];
	int r;

	/* the instance its prefix names, unless the backup says */
	ocb_config_prefix_instance(prefix, strlen(prefix), pinst, sizeof(pinst));
	r = ocb_inventory_list(s, prefix, &v, &n);
	if (r < 0)
		return ocb_fail(r, "list %s", prefix);
	for (i = 0; i < n; i++) {
		struct ocb_obj_head h = { 0 };
		const char *enc = "-", *label = "", *inst = pinst;
		char when[32] = "-", size[32];
		time_t t = (time_t)v[i].mtime;
		struct tm tm;
		char why[256];
		uint64_t nwarn = 0;
		int refused, known = 0;

		if (s->ops->head(s, v[i].key, &h) == 0) {
			const char *c = ocb_meta_get(&h.meta, "created"), *m;

			int64_t nt;
			int lab;

			if (c)
				t = (time_t)strtoll(c, NULL, 10);
			/* old backups: the time their name carries */
			else if (ocb_backup_name_time(v[i].name, &nt, &lab) == 0)
				t = (time_t)nt;
			if (v[i].kind == OCB_BACKUP_NATIVE) {
				enc = ocb_meta_get(&h.meta, "key-provider");
				enc = enc ? enc : "?";
			} else {
				unsigned char magic[2] = { 0 };

				enc = ocb_meta_get(&h.meta, "encryption-method");
				/* the bytes, not the tag: the old tool's "gpg"
				 * backups are plain gzip */
				if (enc && !strcmp(enc, "gpg") &&
				    ocb_store_read(s, v[i].key, 0, 2, magic) == 2 &&
				    magic[0] == 0x1f && magic[1] == 0x8b)
					enc = "none (tagged gpg)";
				else if (!enc || !strcmp(enc, "none"))
					enc = ocb_meta_get(&h.meta, "encrypted") &&
					      !strcmp(ocb_meta_get(&h.meta,
						      "encrypted"), "true") ?
					      "sse" : "none";
			}
			/* known only for a backup stored by one put (see
			 * the man page); the catalog always has it */
			if (v[i].kind == OCB_BACKUP_NATIVE)
				known = warnings_hint(&h.meta, &nwarn);
			label = ocb_meta_get(&h.meta, "label");
			label = label ? label : "";
			m = ocb_meta_get(&h.meta, v[i].kind ==
					 OCB_BACKUP_NATIVE ? "instance" :
					 "instance-id");
			if (m && *m)
				inst = m;
		}
		/* a hint from unauthenticated metadata: opening the backup is
		 * what refuses it (ocb_keyprov_unwrap) */
		refused = v[i].kind == OCB_BACKUP_NATIVE &&
			  !strcmp(enc, "none") && ctx->cfg->key_provider &&
			  strcmp(ctx->cfg->key_provider, "none");
		snprintf(why, sizeof(why), "key provider none, %s configured",
			 refused ? ctx->cfg->key_provider : "");
		if (kp && v[i].kind == OCB_BACKUP_NATIVE) {
			struct ocb_archive *a = NULL;
			int o = ocb_archive_open(s, v[i].key, kp, &a);

			refused = o < 0;
			if (!refused) {	/* the authoritative count */
				nwarn = ocb_archive_info(a)->warnings;
				known = 1;
			}
			ocb_archive_free(a);
			if (refused)
				snprintf(why, sizeof(why), "%s",
					 ocb_archive_strerror(o));
		}
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (json) {
			printf("%s{\"name\": ", *first ? "" : ",\n ");
			ocb_json_str(v[i].name);
			printf(", \"key\": ");
			ocb_json_str(v[i].key);
			printf(", \"created\": \"%s\", \"size\": %" PRIu64
			       ", \"kind\": \"%s\", \"encryption\": ", when,
			       v[i].size, v[i].kind == OCB_BACKUP_NATIVE ?
			       "ocb" : "tar.gz");
			ocb_json_str(enc);
			printf(", \"label\": ");
			ocb_json_str(label);
			printf(", \"instance\": ");
			ocb_json_str(inst);
			if (refused) {
				printf(", \"refused\": ");
				ocb_json_str(why);
			}
			if (known)
				printf(", \"warnings\": %" PRIu64, nwarn);
			else
				printf(", \"warnings\": null");
			printf("}");
			*first = 0;
		} else {
			char en[1024], el[512], ee[64];

			/* names, labels and metadata come from the store:
			 * never raw control characters on a terminal */
			if (all)
				printf("%-20s ", ocb_log_escape(ee, sizeof(ee), inst));
			printf("%-50s %s %10s %-6s %-10s %s%s%s%s%s",
			       ocb_log_escape(en, sizeof(en), v[i].name), when,
			       ocb_human_size(v[i].size, size, sizeof(size)),
			       v[i].kind == OCB_BACKUP_NATIVE ? "ocb" : "tar.gz",
			       ocb_log_escape(ee, sizeof(ee), enc),
			       ocb_log_escape(el, sizeof(el), label),
			       refused ? (*label ? " " : "") : "",
			       refused ? "REFUSED (" : "", refused ? why : "",
			       refused ? ")" : "");
			if (nwarn)
				printf("%sWARNINGS %" PRIu64, *label || refused ?
				       " " : "", nwarn);
			printf("\n");
		}
		ocb_obj_head_release(&h);
	}
	free(v);
	return 0;
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
