/*
 * cmd_backup.c - `ocb backup`: back up the configured sources now.
 */
#include "cmd.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "inventory.h"
#include "backup_job.h"
#include "group.h"
#include "hooks.h"
#include "highwater.h"
#include "backup_name.h"

#include <errno.h>
#include <stdlib.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb backup [--label LABEL] [--group ID [--role ROLE]] [--json]\n"
	"       ocb backup --dry-run [--json]\n"
	"\n"
	"Back up the configured sources (default ~/.openclaw) into one new\n"
	"backup object <prefix>/openclaw-aws-backup-<time>[-LABEL].ocb.\n"
	"The backup appears only when complete; an interrupted backup leaves\n"
	"nothing behind.  SQLite databases (found by their header) are stored\n"
	"as snapshots taken with SQLite's online backup, without their -wal,\n"
	"-shm and -journal files.  A file modified in the last seconds is read\n"
	"again until it holds still (a few attempts).  Files that change or\n"
	"vanish while being read, databases that could not be snapshotted\n"
	"(copied raw), and unreadable files are reported as warnings: the\n"
	"backup is stored and the exit code is 8.\n"
	"\n"
	"  --label LABEL  name suffix ([A-Za-z0-9._-], up to 64 characters)\n"
	"  --group ID     this backup is this agent's part of group backup ID\n"
	"                 (see `ocb group`); ROLE: manager, librarian,\n"
	"                 access-service, worker (default: the config's role)\n"
	"  --dry-run      only print what would be backed up: each entry with\n"
	"                 what it is (file, SQLite database stored as a\n"
	"                 snapshot, sidecar not stored, excluded by which\n"
	"                 glob); nothing is read but metadata and file headers\n"
	"  --json         print a JSON summary on stdout\n";

struct prog {
	int tty;
	struct timespec t0;
};

static void show_progress(void *arg, const struct ocb_backup_progress *p)
{
	struct prog *pr = arg;
	struct timespec now;
	char a[32], b[32];
	double secs;

	if (!pr->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - pr->t0.tv_sec) +
	       (double)(now.tv_nsec - pr->t0.tv_nsec) / 1e9;
	fprintf(stderr, "\r%" PRIu64 " of %" PRIu64 " entries, %s read (%d%%), "
		"%s stored, %.1f MB/s   ", p->files_done, p->files_total,
		ocb_human_size(p->bytes_done, a, sizeof(a)),
		p->bytes_total ? (int)(100 * p->bytes_done / p->bytes_total) : 0,
		ocb_human_size(p->bytes_stored, b, sizeof(b)),
		secs > 0 ? (double)p->bytes_done / 1e6 / secs : 0.0);
}

struct plan_out {
	int json, first;
};

static void plan_line(void *arg, const char *path, const char *what,
		      uint64_t size)
{
	struct plan_out *po = arg;

	if (!po->json) {
		if (size)
			printf("%s\t%s, %" PRIu64 " bytes\n", path, what, size);
		else
			printf("%s\t%s\n", path, what);
		return;
	}
	printf("%s\n  {\"path\": ", po->first ? "" : ",");
	po->first = 0;
	ocb_json_str(path);
	printf(", \"what\": ");
	ocb_json_str(what);
	printf(", \"size\": %" PRIu64 "}", size);
}

/* ocb backup --dry-run: the config's sources walked, nothing stored */
static int backup_plan(struct ocb_ctx *ctx, int json)
{
	struct plan_out po = { .json = json, .first = 1 };
	struct ocb_backup_job j = { .plan = plan_line, .plan_arg = &po };
	struct ocb_backup_result res = { 0 };
	char a[32];
	int r;

	r = ocb_ctx_config(ctx);
	if (r)
		return r;
	if (json)
		printf("{\"entries\": [");
	r = ocb_backup_job_run(NULL, ctx->cfg, NULL, &j, &res);
	if (r < 0)
		return ocb_fail(r, "dry run");
	if (!json)
		printf("(sources from %s)\n", j.sources_from);
	if (json) {
		printf("\n], \"count\": %" PRIu64 ", \"bytes\": %" PRIu64
		       ", \"sources_from_openclaw\": %s, \"sources_from\": ",
		       res.entries, res.bytes_in,
		       j.from_openclaw ? "true" : "false");
		ocb_json_str(j.sources_from);
		printf("}\n");
	}
	else
		printf("%" PRIu64 " entries, %s would be read\n", res.entries,
		       ocb_human_size(res.bytes_in, a, sizeof(a)));
	return 0;
}

static int backup_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "role", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_backup_job j = { 0 };
	struct ocb_backup_result res = { 0 };
	struct ocb_keyprov *kp = NULL;
	struct prog pr = { 0 };
	const char *label = NULL, *group = NULL, *role = NULL;
	struct ocb_group_settings gs;
	int json = 0, dry = 0, c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': dry = 1; break;
		case 'l': label = optarg; break;
		case 'g': group = optarg; break;
		case 'r': role = optarg; break;
		case 'j': json = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_backup);
		}
	}
	if (optind != argc || (dry && (label || group || role)))
		return ocb_usage(&ocb_cmd_backup);
	if (dry)
		return backup_plan(ctx, json);
	if (label && !ocb_inventory_label_ok(label)) {
		fprintf(stderr, "ocb: bad label '%s': use 1-64 characters of "
			"A-Z a-z 0-9 . _ -\n", label);
		return OCB_EXIT_USAGE;
	}
	if (group && !ocb_inventory_label_ok(group)) {
		fprintf(stderr, "ocb: bad group id '%s': use 1-64 characters of "
			"A-Z a-z 0-9 . _ -\n", group);
		return OCB_EXIT_USAGE;
	}
	if (role && !ocb_group_role_ok(role)) {
		fprintf(stderr, "ocb: bad role '%s': use manager, librarian, "
			"access-service, worker or ephemeral\n", role);
		return OCB_EXIT_USAGE;
	}
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_ctx_group(ctx, &gs);
	if (r)
		return r;
	if (group && !role && gs.role[0])
		role = gs.role;		/* the config's role */
	r = ocb_ctx_keyprov(ctx, &kp);
	if (r)
		goto out;
	/* hooks.preBackup: e.g. the agent writing its state down first */
	r = ocb_hook_run(ctx->cfg, "preBackup", NULL, NULL, OCB_HOOK_TIMEOUT,
			 NULL, NULL);
	if (r) {
		fprintf(stderr, "ocb: no backup taken (the preBackup hook "
			"failed)\n");
		r = OCB_EXIT_FAIL;
		goto out;
	}
	pr.tty = isatty(STDERR_FILENO) && !ctx->quiet;
	clock_gettime(CLOCK_MONOTONIC, &pr.t0);
	j.label = label;
	j.group = group;
	j.role = group ? (role ? role : "worker") : NULL;
	j.cancel = &ocb_interrupted;
	j.progress = show_progress;
	j.progress_arg = &pr;
	j.count_first = pr.tty;
	r = ocb_backup_job_run(ctx->store, ctx->cfg, kp, &j, &res);
	if (pr.tty)
		fprintf(stderr, "\n");
	if (j.stale_aborted && !ctx->quiet)
		fprintf(stderr, "ocb: aborted %d unfinished upload%s left by an "
			"earlier backup\n", j.stale_aborted,
			j.stale_aborted > 1 ? "s" : "");
	if (r < 0) {
		r = ocb_fail(r, "backup to %s", ctx->store->desc);
		goto out;
	}
	{
		int64_t t;
		int lab;

		/* this machine's own backup: the newest it has seen */
		if (ocb_backup_name_time(res.name, &t, &lab) == 0)
			ocb_highwater_note(ctx->cfg->cache_dir, ctx->cfg->prefix,
					   t, res.name);
	}
	if (group) {	/* a request for this group, if any, is answered */
		int a = ocb_group_ack(ctx->store, ctx->cfg->root, group,
				      ctx->cfg->instance_id);

		if (a < 0)
			ocb_warn("group %s: could not acknowledge its request: "
				 "%s", group, ocb_store_strerror(a));
	}
	if (json) {
		printf("{\"name\": ");
		ocb_json_str(res.name);
		printf(", \"key\": ");
		ocb_json_str(res.key);
		printf(", \"entries\": %" PRIu64 ", \"bytes_in\": %" PRIu64
		       ", \"bytes_stored\": %" PRIu64 ", \"seconds\": %.3f"
		       ", \"warnings\": %" PRIu64 ", \"sqlite_snapshots\": %"
		       PRIu64 ", \"changed_while_read\": %" PRIu64
		       ", \"sqlite_copied_raw\": %" PRIu64 "}\n", res.entries,
		       res.bytes_in, res.bytes_stored, res.seconds, res.warnings,
		       res.snapshots, res.torn, res.fell_back);
	} else if (!ctx->quiet) {
		char a[32], b[32];

		printf("%s: %" PRIu64 " entries, %s read, %s stored, %.1f s%s\n",
		       res.name, res.entries,
		       ocb_human_size(res.bytes_in, a, sizeof(a)),
		       ocb_human_size(res.bytes_stored, b, sizeof(b)),
		       res.seconds, res.warnings ? ", with warnings" : "");
	}
	if (ocb_hook_run(ctx->cfg, "postBackup", res.name, NULL,
			 OCB_HOOK_TIMEOUT, NULL, NULL)) {
		fprintf(stderr, "ocb: backup %s is stored, but the postBackup "
			"hook failed\n", res.name);
		r = OCB_EXIT_WARNINGS;
		goto out;
	}
	r = res.warnings ? OCB_EXIT_WARNINGS : 0;
	if (ctx->cfg->auto_clean) {
		/* retention.autoClean: the old tool's cleanup after a backup */
		int p = ocb_prune_configured(ctx, kp, res.name);

		if (p)
			r = p;
	}
out:
	ocb_keyprov_free(kp);
	ocb_group_settings_release(&gs);
	return r;
}

const struct ocb_cmd ocb_cmd_backup = {
	.name = "backup",
	.summary = "back up the configured sources now",
	.usage = usage,
	.exec = backup_exec,
};
