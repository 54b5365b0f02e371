/*
 * cmd_restore.c - `ocb restore`: a backup back to disk, whole or in part.
 */
#include "cmd.h"
#include "backups.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "restore.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb restore BACKUP|latest [--target DIR] [PATH...]\n"
	"\n"
	"Without --target: every source of the backup goes back to where it\n"
	"was backed up from (e.g. ~/.openclaw).  It is first written beside\n"
	"the original and checked, then the original is renamed to\n"
	"<path>.pre-restore-<time> and the restored copy renamed into place, so\n"
	"there is never a moment without a usable directory, and an\n"
	"interrupted restore leaves the original as it was.\n"
	"\n"
	"With --target DIR (new or empty): the backup's tree is written under\n"
	"DIR; PATHs (relative to the backup, e.g. openclaw/workspace/MEMORY.md)\n"
	"restore just those, with what is below them.\n"
	"\n"
	"Every file's SHA-256 is checked against the catalog while writing;\n"
	"entries that would escape the target are refused.\n";

static int empty_or_new(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return mkdir(dir, 0700) < 0 ? -errno : 0;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (rmdir(dir) == 0)	/* empty: recreate it */
		return mkdir(dir, st.st_mode & 07777) < 0 ? -errno : 0;
	return -ENOTEMPTY;
}

static int restore_to(struct ocb_ctx *ctx, struct ocb_archive *a,
		      const char *target, const char *const *paths,
		      size_t npaths, struct ocb_restore_result *res)
{
	struct ocb_restore_opts ro = { .target = target, .paths = paths,
				       .npaths = npaths,
				       .cancel = &ocb_interrupted };

	(void)ctx;
	return ocb_restore_run(a, &ro, res);
}

/* every source back to its original place, swapped in atomically */
static int restore_in_place(struct ocb_ctx *ctx, struct ocb_archive *a,
			    struct ocb_restore_result *total)
{
	uint32_t i, n = ocb_archive_nsources(a);
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int r = 0;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	for (i = 0; i < n && r == 0; i++) {
		struct ocb_restore_result res;
		const char *orig, *top;
		char stage[4096], staged[4200], safety[4200];
		uint32_t entry;
		struct stat st;

		ocb_archive_source(a, i, &entry, &orig);
		top = ocb_archive_entry(a, entry)->name;
		snprintf(stage, sizeof(stage), "%s.ocb-restore-%s", orig, ts);
		snprintf(staged, sizeof(staged), "%s/%s", stage, top);
		snprintf(safety, sizeof(safety), "%s.pre-restore-%s", orig, ts);
		if (mkdir(stage, 0700) < 0)
			return ocb_fail(-errno, "%s", stage);
		r = restore_to(ctx, a, stage, &top, 1, &res);
		total->entries += res.entries;
		total->files += res.files;
		total->bytes += res.bytes;
		total->bad_files += res.bad_files;
		if (r < 0) {
			fprintf(stderr, "ocb: %s left as it was; the partial "
				"restore is in %s\n", orig, stage);
			return ocb_fail(r, "restore %s", orig);
		}
		if (lstat(orig, &st) == 0 && rename(orig, safety) < 0)
			return ocb_fail(-errno, "rename %s", orig);
		if (rename(staged, orig) < 0) {
			int e = -errno;

			rename(safety, orig);	/* put the original back */
			return ocb_fail(e, "rename %s", staged);
		}
		rmdir(stage);
		if (!ctx->quiet)
			printf("restored %s%s%s\n", orig,
			       access(safety, F_OK) == 0 ? "; the previous state is in " : "",
			       access(safety, F_OK) == 0 ? safety : "");
	}
	return 0;
}

static int restore_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_restore_result res = { 0 };
	struct ocb_backup_ref ref;
	struct ocb_keyprov *kp = NULL;
	struct ocb_archive *a = NULL;
	const char *target = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': target = optarg; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_restore);
		}
	}
	if (optind >= argc)
		return ocb_usage(&ocb_cmd_restore);
	if (!target && optind + 1 < argc) {
		fprintf(stderr, "ocb: restoring single paths needs --target DIR "
			"(the original location is only replaced whole)\n");
		return OCB_EXIT_USAGE;
	}
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_backups_find(ctx->store, ctx->cfg->prefix, argv[optind], &ref);
	if (r < 0)
		return ocb_exit_code(r);
	if (ref.kind != OCB_BACKUP_NATIVE) {
		fprintf(stderr, "ocb: %s is an old-tool .tar.gz backup: not "
			"restorable by this version\n", ref.name);
		return OCB_EXIT_FAIL;
	}
	r = ocb_ctx_keyprov(ctx, &kp);
	if (r)
		return r;
	r = ocb_archive_open(ctx->store, ref.key, kp, &a);
	if (r < 0) {
		ocb_keyprov_free(kp);
		return ocb_fail(r, "open %s", ref.name);
	}
	if (target) {
		r = empty_or_new(target);
		if (r < 0) {
			r = ocb_fail(r, "target %s must be new or empty", target);
		} else {
			r = restore_to(ctx, a, target,
				       (const char *const *)argv + optind + 1,
				       (size_t)(argc - optind - 1), &res);
			r = r < 0 ? ocb_fail(r, "restore %s", ref.name) : 0;
		}
	} else {
		r = restore_in_place(ctx, a, &res);
	}
	if (r == 0 && !ctx->quiet) {
		char sz[32];

		printf("%s: %" PRIu64 " entries, %" PRIu64 " files (%s), every "
		       "file checked against its SHA-256\n", ref.name,
		       res.entries, res.files,
		       ocb_human_size(res.bytes, sz, sizeof(sz)));
	}
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
