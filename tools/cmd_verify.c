/*
 * cmd_verify.c - `ocb verify`: read whole backups back and check them.
 */
#include "cmd.h"
#include "inventory.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "restore.h"
#include "restore_plan.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb verify [--sample N%] [--restore-test] BACKUP|latest|--all\n"
	"\n"
	"Read every frame of the backup (checking each one's authentication\n"
	"tag), the catalog, and hash every file against the SHA-256 the catalog\n"
	"records.  Prints one line per backup; exit 7 if any is damaged.\n"
	"Entries the backup recorded as captured with a warning (a file that\n"
	"changed while it was read, a SQLite database copied raw) follow on\n"
	"\"warning\" lines: exit 8 when nothing is damaged but some are.\n"
	"Old-tool .tar.gz backups have no hashes: they are read whole, every\n"
	"gzip CRC and the tar structure checked (GPG ones through gpg).\n"
	"\n"
	"  --sample N%     a spot check: about N% of the files, each read\n"
	"                  through only the frames that hold it\n"
	"  --restore-test  restore the backup into a temporary directory (under\n"
	"                  $TMPDIR, else /tmp), compare what is on disk with the\n"
	"                  catalog, and remove it: the disaster-recovery drill\n";

struct vopts {
	unsigned sample;	/* percent; 0: everything */
	int restore_test;
};

static int count_change(void *arg, enum ocb_change what, const char *path,
			const char *why)
{
	char esc[1024];

	(void)arg;
	fprintf(stderr, "ocb: restore test: %s %s%s%s%s\n",
		what == OCB_CHANGE_NEW ? "missing" :
		what == OCB_CHANGE_DELETED ? "unexpected" : "different",
		ocb_log_escape(esc, sizeof(esc), path), why ? " (" : "",
		why ? why : "", why ? ")" : "");
	return 0;
}

/* restore into a fresh temporary directory, compare, remove */
static int restore_test(struct ocb_archive *a, struct ocb_restore_result *res,
			uint64_t *diffs)
{
	const struct ocb_entry *root = ocb_archive_entry(a, OCB_ROOT);
	const char *tmp = getenv("TMPDIR");
	struct ocb_restore_opts ro = { .cancel = &ocb_interrupted };
	char dir[4096];
	uint32_t k;
	int r;

	*diffs = 0;
	snprintf(dir, sizeof(dir), "%s/ocb-restore-test-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -errno;
	ro.target = dir;
	r = ocb_restore_run(a, &ro, res);
	for (k = 0; r == 0 && k < root->nchildren; k++) {
		const struct ocb_entry *top = ocb_archive_entry(a,
			root->first_child + k);
		struct ocb_plan_counts c;
		char path[8192];

		snprintf(path, sizeof(path), "%s/%s", dir, top->name);
		r = ocb_restore_plan(a, root->first_child + k, path,
				     count_change, NULL, &c);
		*diffs += c.added + c.changed + c.deleted;
	}
	ocb_rm_rf(dir);
	if (r == 0 && *diffs)
		r = -EBADMSG;
	return r;
}

/*
 * The entries a backup recorded as captured with a warning, one line
 * each, and the warnings that left no entry (files skipped): the backup
 * is what it says it is, but not all of it is what the source held.
 * Returns how many lines it printed.
 */
static uint64_t report_warnings(struct ocb_archive *a, const char *name)
{
	const struct ocb_archive_info *in = ocb_archive_info(a);
	uint32_t i, n = ocb_archive_count(a);
	uint64_t k = 0;
	char path[4096], esc[1024];

	for (i = 0; i < n; i++) {
		const struct ocb_entry *e = ocb_archive_entry(a, i);

		if (!(e->flags & (OCB_ENTRY_TORN | OCB_ENTRY_SQLITE_RAW)))
			continue;
		if (ocb_archive_path(a, i, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "?");
		printf("warning  %s: %s: %s%s%s\n", name,
		       ocb_log_escape(esc, sizeof(esc), path),
		       e->flags & OCB_ENTRY_SQLITE_RAW ? "SQLite snapshot "
		       "failed, copied raw" : "",
		       (e->flags & OCB_ENTRY_SQLITE_RAW) &&
		       (e->flags & OCB_ENTRY_TORN) ? "; " : "",
		       e->flags & OCB_ENTRY_TORN ? "changed while read" : "");
		/* a warning for each of the two flags (docs/FORMAT.md) */
		k += !!(e->flags & OCB_ENTRY_TORN) +
		     !!(e->flags & OCB_ENTRY_SQLITE_RAW);
	}
	if (in->warnings > k) {
		printf("warning  %s: %" PRIu64 " more warning%s when it was "
		       "taken (files skipped or their metadata incomplete)\n",
		       name, in->warnings - k, in->warnings - k > 1 ? "s" : "");
		k = in->warnings;
	}
	return k;
}

static int verify_one(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
		      const struct ocb_backup_ref *ref, const struct vopts *vo)
{
	struct ocb_verify_result res;
	struct ocb_archive *a = NULL;
	const char *legacy;
	char sz[32];
	int r;

	memset(&res, 0, sizeof(res));
	if (ref->kind != OCB_BACKUP_NATIVE) {
		/* read whole: every gzip CRC and the tar structure */
		r = ocb_ctx_open_backup(ctx, ref, kp, OCB_OPEN_CHECK, &a);
		if (r == 0)
			r = ocb_archive_verify(a, &res);
		ocb_archive_free(a);
		if (r == 0) {
			printf("ok       %s: old-tool backup, %" PRIu64 " files, "
			       "%s of tar, gzip CRC and tar structure checked\n",
			       ref->name, res.files,
			       ocb_human_size(res.bytes, sz, sizeof(sz)));
			return 0;
		}
		printf("%s  %s: %s\n", r == -EBADMSG ? "DAMAGED" : "FAILED ",
		       ref->name, r == -EBADMSG ? "corrupt or truncated (see "
		       "the message above)" : ocb_store_strerror(r));
		return r;
	}
	r = ocb_ctx_open_backup(ctx, ref, kp, OCB_OPEN_CHECK, &a);
	/* format 1 authenticates the name, not the prefix or the time */
	legacy = r == 0 && !ocb_archive_info(a)->bound ?
		 " (format 1: prefix and time not authenticated)" : "";
	if (r == 0 && vo->restore_test) {
		struct ocb_restore_result rr;
		uint64_t diffs = 0;

		r = restore_test(a, &rr, &diffs);
		if (r == 0) {
			printf("ok       %s: restored %" PRIu64 " entries, %"
			       PRIu64 " files (%s) into a temporary directory, "
			       "all as the catalog says; removed\n", ref->name,
			       rr.entries, rr.files,
			       ocb_human_size(rr.bytes, sz, sizeof(sz)));
			r = report_warnings(a, ref->name) ? 1 : 0;
			ocb_archive_free(a);
			return r;
		}
		ocb_archive_free(a);
		printf("%s  %s: restore test %s\n", r == -EBADMSG ?
		       "DAMAGED" : "FAILED ", ref->name, diffs ?
		       "found differences (listed above)" : r == -EBADMSG ?
		       "failed verification (see the message above)" :
		       ocb_store_strerror(r));
		return r;
	}
	if (r == 0)
		r = vo->sample ? ocb_archive_verify_sample(a, vo->sample, &res) :
			ocb_archive_verify(a, &res);
	if (r == 0) {
		if (vo->sample)
			printf("ok       %s: sample of %" PRIu64 " files (%s), "
			       "%u%%\n", ref->name, res.files,
			       ocb_human_size(res.bytes, sz, sizeof(sz)),
			       vo->sample);
		else
			printf("ok       %s: %" PRIu64 " files, %u frames, %s%s\n",
			       ref->name, res.files, res.frames,
			       ocb_human_size(res.bytes, sz, sizeof(sz)), legacy);
		r = report_warnings(a, ref->name) ? 1 : 0;
		ocb_archive_free(a);
		return r;
	}
	ocb_archive_free(a);
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
		{ "sample", required_argument, NULL, 's' },
		{ "restore-test", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_keyprov *kp = NULL;
	struct vopts vo = { 0 };
	int all = 0, c, r, worst = 0, warned = 0;

	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'r': vo.restore_test = 1; break;
		case 's': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' ||
			    (*end && strcmp(end, "%")) || v < 1 || v > 100) {
				fprintf(stderr, "ocb: --sample takes a percentage "
					"from 1 to 100, e.g. --sample 5%%\n");
				return OCB_EXIT_USAGE;
			}
			vo.sample = (unsigned)v;
			break;
		}
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

		r = ocb_inventory_list(ctx->store, ctx->cfg->prefix, &v, &n);
		if (r < 0) {
			ocb_keyprov_free(kp);
			return ocb_fail(r, "list %s", ctx->cfg->prefix);
		}
		for (i = 0; i < n && !ocb_interrupted; i++) {
			r = verify_one(ctx, kp, &v[i], &vo);
			if (r < 0 && (!worst || r == -EBADMSG))
				worst = r;
			warned |= r > 0;
		}
		free(v);
	} else {
		struct ocb_backup_ref ref;

		r = ocb_inventory_find(ctx->store, ctx->cfg->prefix, argv[optind],
				     &ref);
		worst = r < 0 ? r : verify_one(ctx, kp, &ref, &vo);
		warned = worst > 0;
		worst = worst > 0 ? 0 : worst;
	}
	ocb_keyprov_free(kp);
	/* damage and failures first; a sound backup taken with warnings
	 * is 8 */
	if (!worst && warned && !ocb_interrupted)
		return OCB_EXIT_WARNINGS;
	return ocb_exit_code(worst);
}

const struct ocb_cmd ocb_cmd_verify = {
	.name = "verify",
	.summary = "read backups back and check every frame and file hash",
	.usage = usage,
	.exec = verify_exec,
};
