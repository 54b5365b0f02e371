/*
 * cmd_verify.c - `ocb verify`: read whole backups back and check them.
 */
#include "cmd.h"
#include "backups.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: ocb verify BACKUP|latest|--all\n"
	"\n"
	"Read every frame of the backup (checking each one's authentication\n"
	"tag), the catalog, and hash every file against the SHA-256 the catalog\n"
	"records.  Prints one line per backup; exit 7 if any is damaged.\n"
	"Old-tool .tar.gz backups are skipped (not verifiable here yet).\n";

static int verify_one(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		      const struct ocb_backup_ref *ref)
{
	struct ocb_verify_result res;
	struct ocb_archive *a = NULL;
	char sz[32];
	int r;

	if (ref->kind != OCB_BACKUP_NATIVE) {
		printf("skipped  %s (old-tool .tar.gz)\n", ref->name);
		return 0;
	}
	r = ocb_archive_open(ctx->store, ref->key, kp, &a);
	if (r == 0)
		r = ocb_archive_verify(a, &res);
	ocb_archive_free(a);
	if (r == 0) {
		printf("ok       %s: %" PRIu64 " files, %u frames, %s\n",
		       ref->name, res.files, res.frames,
		       ocb_human_size(res.bytes, sz, sizeof(sz)));
		return 0;
	}
	if (r == -EBADMSG && res.bad_files)
		printf("DAMAGED  %s: %" PRIu64 " of %" PRIu64 " files do not "
		       "match their hash; first: %s\n", ref->name,
		       res.bad_files, res.files, res.first_bad);
	else
		printf("%s  %s: %s\n", r == -EBADMSG ? "DAMAGED" : "FAILED ",
		       ref->name, r == -EBADMSG ?
		       "failed verification (see the message above)" :
		       ocb_store_strerror(r));
	return r;
}

static int verify_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_keyprov *kp = NULL;
	int all = 0, c, r, worst = 0;

	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_verify);
		}
	}
	if (all ? optind != argc : optind != argc - 1)
		return ocb_usage(&ocb_cmd_verify);
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_ctx_keyprov(ctx, &kp);
	if (r)
		return r;
	if (all) {
		struct ocb_backup_ref *v = NULL;
		size_t n = 0, i;

		r = ocb_backups_list(ctx->store, ctx->cfg->prefix, &v, &n);
		if (r < 0) {
			ocb_keyprov_free(kp);
			return ocb_fail(r, "list %s", ctx->cfg->prefix);
		}
		for (i = 0; i < n && !ocb_interrupted; i++) {
			r = verify_one(ctx, kp, &v[i]);
			if (r < 0 && (!worst || r == -EBADMSG))
				worst = r;
		}
		free(v);
	} else {
		struct ocb_backup_ref ref;

		r = ocb_backups_find(ctx->store, ctx->cfg->prefix, argv[optind],
				     &ref);
		worst = r < 0 ? r : verify_one(ctx, kp, &ref);
	}
	ocb_keyprov_free(kp);
	return ocb_exit_code(worst);
}

const struct ocb_cmd ocb_cmd_verify = {
	.name = "verify",
	.summary = "read backups back and check every frame and file hash",
	.usage = usage,
	.exec = verify_exec,
};
