/*
 * cmd_restore.c - `ocb restore`: a backup back to disk, whole or in part.
 *
 * The command line, its checks, --dry-run, the summary, and the restore
 * to --target DIR; the restore in place is restore_inplace.c.
 */
#include "cmd.h"
#include "fileio.h"
#include "inventory.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "restore_inplace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb restore BACKUP|latest [--target DIR] [--dry-run] [--json]\n"
	"                   [--keep-special] [--force] [--group ID] [PATH...]\n"
	"\n"
	"Without --target: every source of the backup goes back to where it\n"
	"was backed up from (e.g. ~/.openclaw).  It is first written beside\n"
	"the original and checked, then the original is renamed to\n"
	"<path>.pre-restore-<time> and the restored copy renamed into place, so\n"
	"there is never a moment without a usable directory, and an\n"
	"interrupted restore leaves the original as it was (the next restore\n"
	"removes the partial copy it left).\n"
	"\n"
	"With --target DIR (new or empty, or holding an interrupted restore,\n"
	"which is cleared): the backup's tree is written under DIR; a failed\n"
	"restore removes what it wrote.\n"
	"\n"
	"PATHs (relative to the backup, e.g. openclaw/workspace/memory)\n"
	"restore just those, with what is below them: under DIR, or in place,\n"
	"each the same way as a whole source.\n"
	"\n"
	"In place, only sources the config names are restored, as directories;\n"
	"with no sources in the config, those OpenClaw names, in phases: the\n"
	"ones it names now (the state directory), then those the restored\n"
	"state names, until nothing new; others are left out (exit 8).\n"
	"the preRestore hook runs first (it may stop the application), then a\n"
	"restore is refused while a process has files or its working directory\n"
	"under the path (they are named), unless --force.  An old-tool\n"
	"backup goes in place as the old tool restored it: openclaw-config/\n"
	"to the state directory (the one source, or the one named .openclaw;\n"
	"the current openclaw.json kept if it has none), workspace/ to its\n"
	"workspace/; PATHs in place start with openclaw-config or workspace.\n"
	"So does a migrated one (`ocb migrate`), on any machine.\n"
	"\n"
	"Every file's SHA-256 is checked against the catalog before the file\n"
	"is put in place.  Everything is created below the target without\n"
	"following a symlink: entries that would escape it (\"..\", absolute\n"
	"paths, paths through a symlink) are refused.  Device nodes,\n"
	"setuid/setgid bits and xattrs outside user.* are left out and listed\n"
	"(exit 8), and always for old-tool backups (they are not\n"
	"authenticated).\n"
	"\n"
	"  --dry-run  write nothing; list what would change in the target (or\n"
	"             the original location): new, changed (and why), deleted\n"
	"  --json     print a JSON summary (with --dry-run: every change)\n"
	"  --force    restore in place even while processes use the path\n"
	"  --keep-special  restore them too from a native backup (setuid and\n"
	"             setgid bits only on files of the user restoring, or when\n"
	"             root restores owners)\n"
	"  --group ID refuse (exit 7) unless the backup's authenticated catalog\n"
	"             says it belongs to group ID (`ocb group restore` uses it)\n";

/*
 * A --target restore marks its target with this file while it runs: a
 * failed one removes what it wrote, one that was killed leaves the mark,
 * and the next restore to the same target starts over.
 */
#define INCOMPLETE ".ocb-restore-incomplete"

/* everything in dir (not dir itself; symlinks not followed) */
static void clear_dir(const char *dir)
{
	char path[8192];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ocb_rm_rf(path);
	}
	closedir(d);
}

static int is_empty(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while (!n && (de = readdir(d)) != NULL)
		n = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return !n;
}

/* dir new (created: *made), empty, or holding an interrupted restore
 * (cleared); then marked incomplete */
static int empty_or_new(const char *dir, int *made)
{
	char mark[8192];
	struct stat st;
	int fd;

	*made = 0;
	snprintf(mark, sizeof(mark), "%s/" INCOMPLETE, dir);
	if (stat(dir, &st) < 0) {
		if (mkdir(dir, 0700) < 0)
			return -errno;
		*made = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		return -ENOTDIR;
	} else if (lstat(mark, &st) == 0 && S_ISREG(st.st_mode)) {
		fprintf(stderr, "ocb: %s holds an interrupted restore: "
			"starting over\n", dir);
		clear_dir(dir);
	} else if (!is_empty(dir)) {	/* (a symlink to one is kept) */
		return -ENOTEMPTY;
	}
	fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* the restore to dir is over: its files on disk (one syncfs: a power cut
 * after the mark is gone loses nothing) and unmarked, or what it wrote
 * removed.  0, or -errno when the files could not be written out (the
 * mark is kept: the next restore to dir starts over). */
static int target_done(const char *dir, int made, int ok)
{
	char mark[8192];
	int r;

	snprintf(mark, sizeof(mark), "%s/" INCOMPLETE, dir);
	if (ok) {
		r = ocb_fileio_sync_fs(dir);
		if (r == 0 && unlink(mark) < 0)
			r = -errno;
		return r;
	}
	clear_dir(dir);
	if (made)
		rmdir(dir);
	fprintf(stderr, "ocb: the partial restore in %s was removed\n", dir);
	return 0;
}

/* --dry-run: each restored subtree against what is on disk (native
 * backups in place: restore_inplace_run()) */
static int dry_run(struct restore_run *ru, struct ocb_archive *a,
		   const char *target, const char *const *paths, size_t npaths,
		   struct ocb_plan_counts *sum)
{
	/* an old backup whole in place: its two trees where its restore
	 * puts them */
	static const char *const old_whole[] = { "openclaw-config",
						 "workspace" };
	uint32_t i, n = npaths ? (uint32_t)npaths : target ? 1 : 2;
	int r = 0;

	if (ru->old_state && !npaths) {
		paths = old_whole;
		npaths = 2;
	}
	for (i = 0; i < n && r == 0; i++) {
		char disk[8192];
		uint32_t idx = OCB_ROOT;

		if (ru->old_state) {
			if (ocb_archive_resolve(a, paths[i], &idx) < 0)
				continue;	/* no workspace/ */
			r = restore_inplace_old_path(ru->old_state, paths[i],
						     disk, sizeof(disk));
			if (r < 0)
				break;
		} else if (npaths) {
			ocb_archive_resolve(a, paths[i], &idx);	/* checked */
			snprintf(disk, sizeof(disk), "%s/%s", target, paths[i]);
		} else {
			snprintf(disk, sizeof(disk), "%s", target);
		}
		r = restore_run_plan(ru, a, idx, disk, npaths ? paths[i] : "",
				     sum);
	}
	return r;
}
/* what the command line asks for */
struct request {
	const char *target;		/* --target, else NULL: in place */
	const char *group;		/* --group, else NULL */
	const char *backup;		/* BACKUP|latest */
	const char *const *paths;	/* PATHs, npaths of them */
	size_t npaths;
	int dry;			/* --dry-run */
	int legacy;			/* an old-tool backup */
	struct ocb_backup_ref ref;
};

#define GO_ON (-1)	/* restore_options(): the options are good */

/* the options into ru and rq: GO_ON, or the exit code to return now */
static int restore_options(struct restore_run *ru, struct request *rq, int argc,
			   char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "keep-special", no_argument, NULL, 'S' },
		{ "force", no_argument, NULL, 'f' },
		{ "group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
		switch (c) {
		case 't': rq->target = optarg; break;
		case 'n': rq->dry = 1; break;
		case 'j': ru->json = 1; break;
		case 'S': ru->flags |= OCB_RESTORE_SPECIAL; break;
		case 'f': ru->force = 1; break;
		case 'g': rq->group = optarg; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_restore);
		}
	}
	if (optind >= argc)
		return ocb_usage(&ocb_cmd_restore);
	rq->backup = argv[optind];
	rq->paths = (const char *const *)argv + optind + 1;
	rq->npaths = (size_t)(argc - optind - 1);
	return GO_ON;
}

/* an old-tool backup in place: the state directory it goes to, and
 * PATHs that name its parts; 0 or the exit code */
static int check_old_in_place(struct restore_run *ru, const struct request *rq)
{
	const struct ocb_config *cfg = ru->ctx->cfg;
	char tmp[4096];

	if (!restore_inplace_state_dir(cfg)) {
		fprintf(stderr, "ocb: %s is an old-tool backup: in place it is "
			"restored to the state directory, the one configured "
			"source (or the one named .openclaw); else restore it "
			"with --target DIR (it holds openclaw-config/ and "
			"workspace/), or `ocb migrate` it first\n", rq->ref.name);
		return OCB_EXIT_USAGE;
	}
	ru->old_state = restore_inplace_state_dir(cfg);
	for (size_t i = 0; i < rq->npaths; i++)
		if (restore_inplace_old_path(ru->old_state, rq->paths[i], tmp,
					     sizeof(tmp)) < 0) {
			fprintf(stderr, "ocb: %s: in place, the paths of "
				"an old-tool backup are openclaw-config"
				"[/...] (the state directory) or "
				"workspace[/...]\n", rq->paths[i]);
			return OCB_EXIT_USAGE;
		}
	return 0;
}

/*
 * --group: a group's manifest and an object's metadata are anyone's word:
 * the catalog says which group a backup belongs to.  0 or the exit code.
 */
static int check_group(struct ocb_archive *a, const struct request *rq)
{
	char e1[300], e2[300];

	if (!rq->group || !strcmp(ocb_archive_info(a)->group, rq->group))
		return 0;
	fprintf(stderr, "ocb: refused: %s is not a backup of group %s "
		"(its authenticated catalog says %s): the group's "
		"manifest or the object's metadata may be forged\n",
		ocb_log_escape(e1, sizeof(e1), rq->ref.name),
		ocb_log_escape(e2, sizeof(e2), rq->group),
		*ocb_archive_info(a)->group ? ocb_archive_info(a)->group :
		"none");
	return OCB_EXIT_DAMAGED;
}

/* every PATH is in the backup (when its listing is at hand); 0 or the
 * exit code */
static int check_paths(struct ocb_archive *a, const struct request *rq)
{
	for (size_t i = 0; i < rq->npaths && ocb_archive_count(a); i++) {
		uint32_t idx;

		if (ocb_archive_resolve(a, rq->paths[i], &idx) < 0) {
			char esc[1024];

			fprintf(stderr, "ocb: %s is not in %s (paths are relative "
				"to the backup, e.g. openclaw/workspace)\n",
				ocb_log_escape(esc, sizeof(esc), rq->paths[i]),
				rq->ref.name);
			return OCB_EXIT_NOTFOUND;
		}
	}
	return 0;
}

/* in place, a native backup: where it goes (a migrated one as the old
 * tool's; sources resolved from OpenClaw), and whether it may; 0 or the
 * exit code */
static int plan_in_place(struct restore_run *ru, const struct request *rq,
			 struct ocb_archive *a)
{
	const struct ocb_config *cfg = ru->ctx->cfg;

	if (rq->target || rq->legacy)
		return 0;
	if (restore_inplace_migrated(a))
		ru->old_state = restore_inplace_state_dir(cfg);
	ru->resolved = !ru->old_state && cfg->sources_default &&
		cfg->nsources == 1;
	return ru->old_state ? 0 :
		restore_inplace_check(cfg, a, rq->ref.name, ru->resolved);
}

/* --dry-run: what would change, as text or JSON */
static int restore_dry_run(struct restore_run *ru, const struct request *rq,
			   struct ocb_archive *a)
{
	struct ocb_plan_counts n = { 0 };
	int r;

	if (ru->json) {
		printf("{\"backup\": ");
		ocb_json_str(rq->ref.name);
		printf(", \"dry_run\": true, \"changes\": [");
	}
	r = rq->target || rq->legacy ?
		dry_run(ru, a, rq->target, rq->paths, rq->npaths, &n) :
		restore_inplace_run(ru, a, rq->paths, rq->npaths, 1, NULL, &n);
	if (r < 0) {
		r = ocb_fail(r, "compare %s", rq->ref.name);
	} else if (r > 0) {
		/* a failure restore_inplace_run() reported */
	} else if (ru->json) {
		printf("%s], \"new\": %" PRIu64 ", \"changed\": %" PRIu64
		       ", \"deleted\": %" PRIu64 ", \"unchanged\": %"
		       PRIu64 "}\n", ru->nchanges ? "\n  " : "", n.added,
		       n.changed, n.deleted, n.same);
	} else if (!ru->ctx->quiet) {
		printf("%s: %" PRIu64 " new, %" PRIu64 " changed, %"
		       PRIu64 " deleted, %" PRIu64 " unchanged (nothing "
		       "written)\n", rq->ref.name, n.added, n.changed,
		       n.deleted, n.same);
	}
	return r;
}

/* --target DIR: the backup's tree (or the PATHs) under a new or empty
 * DIR, which a failure leaves as it found it */
static int restore_to_target(struct restore_run *ru, const struct request *rq,
			     struct ocb_archive *a,
			     struct ocb_restore_result *res)
{
	int made, e, r = empty_or_new(rq->target, &made);

	if (r < 0)
		return ocb_fail(r, "target %s must be new or empty", rq->target);
	r = restore_run_to(ru, a, rq->target, rq->paths, rq->npaths, res);
	e = target_done(rq->target, made, r == 0);
	if (r == 0 && e < 0)
		return ocb_fail(e, "write the restored files in %s to disk "
				"(they are marked incomplete)", rq->target);
	r = r < 0 ? ocb_fail(r, "restore %s", rq->ref.name) : 0;
	/* an old backup streamed has no listing to check the paths
	 * against first */
	if (r == 0 && rq->legacy && rq->npaths && res->entries == 0) {
		fprintf(stderr, "ocb: none of the paths is in %s (paths are "
			"relative to the backup, e.g. openclaw-config/agents)\n",
			rq->ref.name);
		r = OCB_EXIT_NOTFOUND;
	}
	return r;
}

/* the summary of a restore that wrote (JSON or one line), and the exit
 * code r becomes when something was left out */
static int restore_report(struct restore_run *ru, const struct request *rq,
			  const struct ocb_restore_result *res, int r)
{
	if (ru->tty && !rq->dry)
		fprintf(stderr, "\n");
	if (r == 0 && !rq->dry && ru->json) {
		printf("{\"backup\": ");
		ocb_json_str(rq->ref.name);
		printf(", \"target\": ");
		if (rq->target)
			ocb_json_str(rq->target);
		else
			printf("null");
		printf(", \"entries\": %" PRIu64 ", \"files\": %" PRIu64
		       ", \"bytes\": %" PRIu64 ", \"skipped\": %" PRIu64
		       ", \"seconds\": %.3f, \"verified\": true}\n", res->entries,
		       res->files, res->bytes, res->skipped,
		       restore_run_since(&ru->t0));
	} else if (r == 0 && !rq->dry && !ru->ctx->quiet) {
		char sz[32];

		printf("%s: %" PRIu64 " entries, %" PRIu64 " files (%s), %s\n",
		       rq->ref.name, res->entries, res->files,
		       ocb_human_size(res->bytes, sz, sizeof(sz)), rq->legacy ?
		       "gzip CRC checked (old backups carry no hashes)" :
		       "every file checked against its SHA-256");
	}
	if (r == 0 && !rq->dry && res->skipped) {
		fprintf(stderr, "ocb: %" PRIu64 " entries or attributes were left "
			"out (listed above)\n", res->skipped);
		r = OCB_EXIT_WARNINGS;
	}
	if (r == 0 && ru->left_out) {
		fprintf(stderr, "ocb: %" PRIu64 " source%s left out (listed "
			"above)%s\n", ru->left_out, ru->left_out > 1 ? "s" : "",
			rq->dry ? "; nothing written" : "");
		r = OCB_EXIT_WARNINGS;
	}
	return r;
}

static int restore_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct ocb_restore_result res = { 0 };
	struct restore_run ru = { .ctx = ctx };
	struct request rq = { 0 };
	struct ocb_keyprov *kp = NULL;
	struct ocb_archive *a = NULL;
	int r;

	r = restore_options(&ru, &rq, argc, argv);
	if (r != GO_ON)
		return r;
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_inventory_find(ctx->store, ctx->cfg->prefix, rq.backup, &rq.ref);
	if (r < 0)
		return ocb_exit_code(r);
	rq.legacy = rq.ref.kind != OCB_BACKUP_NATIVE;
	r = rq.legacy && !rq.target ? check_old_in_place(&ru, &rq) : 0;
	if (r == 0 && !rq.legacy)
		r = ocb_ctx_keyprov(ctx, &kp);
	if (r)
		return r;
	/* an old backup is streamed once, as the old tool did; only a dry
	 * run needs its index (its listing).  A native one to a target is
	 * opened with its catalog's details unread: the restore reads them
	 * beside the stream's first requests (ocb_restore_run) */
	r = ocb_ctx_open_backup(ctx, &rq.ref, kp, rq.legacy && !rq.dry ?
				OCB_OPEN_STREAM : rq.target && !rq.dry ?
				OCB_OPEN_REFS : OCB_OPEN_INDEX, &a);
	if (r < 0) {
		ocb_keyprov_free(kp);
		return ocb_fail(r, "open %s", rq.ref.name);
	}
	r = check_group(a, &rq);
	if (r == 0)
		r = check_paths(a, &rq);
	if (r == 0)
		r = plan_in_place(&ru, &rq, a);
	if (r)
		goto out;
	ru.tty = isatty(STDERR_FILENO) && !ctx->quiet;
	clock_gettime(CLOCK_MONOTONIC, &ru.t0);
	ocb_restore_totals(a, rq.paths, rq.npaths, &ru.total);
	if (rq.dry)
		r = restore_dry_run(&ru, &rq, a);
	else if (rq.target)
		r = restore_to_target(&ru, &rq, a, &res);
	else if (rq.legacy)
		r = restore_inplace_old(&ru, a, ru.old_state, rq.paths,
					rq.npaths, &res);
	else
		r = restore_inplace_run(&ru, a, rq.paths, rq.npaths, 0, &res,
					NULL);
	r = restore_report(&ru, &rq, &res, r);
out:
	ocb_archive_free(a);
	ocb_keyprov_free(kp);
	return r;
}

const struct ocb_cmd ocb_cmd_restore = {
	.name = "restore",
	.summary = "restore a backup, whole or some paths",
	.usage = usage,
	.exec = restore_exec,
};
