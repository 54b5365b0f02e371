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

#include <errno.h>
#include <stdlib.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb backup [--label LABEL] [--group ID [--role ROLE]] [--full]\n"
	"                  [--json]\n"
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
	"A backup is incremental: it builds on the newest backup, and a file\n"
	"unchanged since (same size, times, inode, mode, owner) is not read\n"
	"again but referred to where that backup holds it.  Every backup still\n"
	"restores on its own.  A full backup is taken with --full, when the\n"
	"last full one is older than backup.fullAfterDays (90), when the chain\n"
	"since it reaches backup.fullEvery (0: never), or when the newest\n"
	"backup does not open.\n"
	"\n"
	"  --label LABEL  name suffix ([A-Za-z0-9._-], up to 64 characters)\n"
	"  --group ID     this backup is this agent's part of group backup ID\n"
	"                 (see `ocb group`); ROLE: manager, librarian,\n"
	"                 access-service, worker (default: the config's role)\n"
	"  --full         store every file, building on no other backup\n"
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

/* `ocb backup`: what it was asked, and how it shows the backup */
struct backup_cmd {
	struct ocb_ctx *ctx;
	struct ocb_keyprov *kp;
	const char *label, *group, *role;
	int json, full;
	struct prog pr;
	struct ocb_backup_job j;
};

/* 0, an exit code, or -1 when --help was printed */
static int parse_args(struct backup_cmd *bc, int argc, char **argv, int *dry)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "group", required_argument, NULL, 'g' },
		{ "role", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "full", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': *dry = 1; break;
		case 'l': bc->label = optarg; break;
		case 'g': bc->group = optarg; break;
		case 'r': bc->role = optarg; break;
		case 'j': bc->json = 1; break;
		case 'F': bc->full = 1; break;
		case 'h': printf("%s", usage); return -1;
		default: return ocb_usage(&ocb_cmd_backup);
		}
	}
	if (optind != argc || (*dry && (bc->label || bc->group || bc->role)))
		return ocb_usage(&ocb_cmd_backup);
	return 0;
}

static int check_names(const struct backup_cmd *bc)
{
	if (bc->label && !ocb_inventory_label_ok(bc->label)) {
		fprintf(stderr, "ocb: bad label '%s': use 1-64 characters of "
			"A-Z a-z 0-9 . _ -\n", bc->label);
		return OCB_EXIT_USAGE;
	}
	if (bc->group && !ocb_inventory_label_ok(bc->group)) {
		fprintf(stderr, "ocb: bad group id '%s': use 1-64 characters of "
			"A-Z a-z 0-9 . _ -\n", bc->group);
		return OCB_EXIT_USAGE;
	}
	if (bc->role && !ocb_group_role_ok(bc->role)) {
		fprintf(stderr, "ocb: bad role '%s': use manager, librarian, "
			"access-service, worker or ephemeral\n", bc->role);
		return OCB_EXIT_USAGE;
	}
	return 0;
}

static void on_stream_begins(void *arg)
{
	struct backup_cmd *bc = arg;

	clock_gettime(CLOCK_MONOTONIC, &bc->pr.t0);
}

static void on_stream_ended(void *arg, int r)
{
	struct backup_cmd *bc = arg;
	int n = bc->j.stale_aborted;

	(void)r;
	if (bc->pr.tty)
		fprintf(stderr, "\n");
	if (n && !bc->ctx->quiet)
		fprintf(stderr, "ocb: aborted %d unfinished upload%s left by an "
			"earlier backup\n", n, n > 1 ? "s" : "");
}

static void on_ack_failed(void *arg, int err)
{
	struct backup_cmd *bc = arg;

	ocb_warn("group %s: could not acknowledge its request: %s", bc->group,
		 ocb_store_strerror(err));
}

/* the summary, before the postBackup hook runs */
static void on_stored(void *arg, const struct ocb_backup_result *res)
{
	struct backup_cmd *bc = arg;
	char a[32], b[32];

	if (bc->json) {
		printf("{\"name\": ");
		ocb_json_str(res->name);
		printf(", \"key\": ");
		ocb_json_str(res->key);
		printf(", \"entries\": %" PRIu64 ", \"bytes_in\": %" PRIu64
		       ", \"bytes_stored\": %" PRIu64 ", \"seconds\": %.3f"
		       ", \"warnings\": %" PRIu64 ", \"sqlite_snapshots\": %"
		       PRIu64 ", \"changed_while_read\": %" PRIu64
		       ", \"sqlite_copied_raw\": %" PRIu64 ", \"bytes_new\": %"
		       PRIu64 ", \"bytes_total\": %" PRIu64
		       ", \"sqlite_unchanged\": %" PRIu64
		       ", \"bytes_catalog\": %" PRIu64 ", \"base\": ",
		       res->entries, res->bytes_in, res->bytes_stored,
		       res->seconds, res->warnings, res->snapshots, res->torn,
		       res->fell_back, res->bytes_new, res->bytes_total,
		       res->snapshots_unchanged, res->bytes_catalog);
		ocb_json_str(res->base);
		printf("}\n");
	} else if (!bc->ctx->quiet) {
		printf("%s: %" PRIu64 " entries, %s read, %s stored, %.1f s%s\n",
		       res->name, res->entries,
		       ocb_human_size(res->bytes_in, a, sizeof(a)),
		       ocb_human_size(res->bytes_stored, b, sizeof(b)),
		       res->seconds, res->warnings ? ", with warnings" : "");
	}
}

static void on_post_hook_failed(void *arg, const struct ocb_backup_result *res)
{
	(void)arg;
	fprintf(stderr, "ocb: backup %s is stored, but the postBackup hook "
		"failed\n", res->name);
}

static int on_auto_prune(void *arg, const char *just_taken)
{
	struct backup_cmd *bc = arg;

	return ocb_prune_configured(bc->ctx, bc->kp, just_taken);
}

/* the backup job, told on the terminal: an exit code */
static int take_backup(struct backup_cmd *bc)
{
	const struct ocb_backup_job_report report = {
		.stream_begins = on_stream_begins,
		.stream_ended = on_stream_ended,
		.ack_failed = on_ack_failed,
		.stored = on_stored,
		.post_hook_failed = on_post_hook_failed,
		.auto_prune = on_auto_prune,
		.arg = bc,
	};
	struct ocb_ctx *ctx = bc->ctx;
	struct ocb_backup_job *j = &bc->j;
	struct ocb_backup_result res = { 0 };
	int r;

	bc->pr.tty = isatty(STDERR_FILENO) && !ctx->quiet;
	j->label = bc->label;
	j->group = bc->group;
	j->role = bc->group ? (bc->role ? bc->role : "worker") : NULL;
	j->full = bc->full;
	j->cancel = &ocb_interrupted;
	j->progress = show_progress;
	j->progress_arg = &bc->pr;
	j->count_first = bc->pr.tty;
	j->report = &report;
	j->note_highwater = 1;
	r = ocb_backup_job_take(ctx->store, ctx->cfg, bc->kp, j, &res);
	if (j->pre_hook_failed) {
		fprintf(stderr, "ocb: no backup taken (the preBackup hook "
			"failed)\n");
		return OCB_EXIT_FAIL;
	}
	if (r < 0)
		return ocb_fail(r, "backup to %s", ctx->store->desc);
	if (j->post_hook_failed)
		return OCB_EXIT_WARNINGS;
	return j->pruned ? j->pruned : res.warnings ? OCB_EXIT_WARNINGS : 0;
}

static int backup_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct backup_cmd bc = { .ctx = ctx };
	struct ocb_group_settings gs;
	int dry = 0, r;

	r = parse_args(&bc, argc, argv, &dry);
	if (r)
		return r < 0 ? 0 : r;
	if (dry)
		return backup_plan(ctx, bc.json);
	r = check_names(&bc);
	if (r)
		return r;
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_ctx_group(ctx, &gs);
	if (r)
		return r;
	if (bc.group && !bc.role && gs.role[0])
		bc.role = gs.role;		/* the config's role */
	r = ocb_ctx_keyprov(ctx, &bc.kp);
	if (r == 0)
		r = take_backup(&bc);
	ocb_keyprov_free(bc.kp);
	ocb_group_settings_release(&gs);
	return r;
}

const struct ocb_cmd ocb_cmd_backup = {
	.name = "backup",
	.summary = "back up the configured sources now",
	.usage = usage,
	.exec = backup_exec,
};
