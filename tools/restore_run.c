/*
 * restore_run.c - what both ways of `ocb restore` (to --target DIR, or in
 * place) do with a tree: write it with a progress line on a terminal, or,
 * for --dry-run, compare it with the disk and print each change.
 */
#include "restore_run.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

double restore_run_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
		(double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* a progress line on a terminal, five times a second at most */
static void show_progress(void *arg, const struct ocb_restore_result *p)
{
	struct restore_run *ru = arg;
	struct timespec now;
	char a[32], b[32];
	double secs;

	if (!ru->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == ru->last.tv_sec &&
	    now.tv_nsec - ru->last.tv_nsec < 200000000L)
		return;
	ru->last = now;
	secs = restore_run_since(&ru->t0);
	fprintf(stderr, "\r%" PRIu64 " of %" PRIu64 " entries, %s of %s (%d%%), "
		"%.1f MB/s   ", p->entries, ru->total.entries,
		ocb_human_size(p->bytes, a, sizeof(a)),
		ocb_human_size(ru->total.bytes, b, sizeof(b)),
		ru->total.bytes ? (int)(100 * p->bytes / ru->total.bytes) : 100,
		secs > 0 ? (double)p->bytes / 1e6 / secs : 0.0);
}

static int print_change(void *arg, enum ocb_change what, const char *path,
			const char *why)
{
	static const char *const word[] = { "", "new", "changed", "deleted" };
	struct restore_run *ru = arg;
	char esc[4096], full[8192];

	/* paths as the backup names them, as PATH arguments take them */
	snprintf(full, sizeof(full), "%s%s%s", ru->base,
		 *ru->base && *path ? "/" : "", path);
	path = full;
	if (ru->json) {
		printf("%s\n    {\"change\": \"%s\", \"path\": ",
		       ru->nchanges++ ? "," : "", word[what]);
		ocb_json_str(path);
		if (why) {
			printf(", \"why\": ");
			ocb_json_str(why);
		}
		printf("}");
	} else {
		printf("%-8s%s%s%s%s\n", word[what],
		       ocb_log_escape(esc, sizeof(esc), *path ? path : "."),
		       why ? " (" : "", why ? why : "", why ? ")" : "");
	}
	return 0;
}

int restore_run_to(struct restore_run *ru, struct ocb_archive *a,
		   const char *target, const char *const *paths,
		   size_t npaths, struct ocb_restore_result *res)
{
	struct ocb_restore_opts ro = { .target = target, .paths = paths,
				       .npaths = npaths, .flags = ru->flags,
				       .cancel = &ocb_interrupted,
				       .progress = show_progress,
				       .progress_arg = ru };

	return ocb_restore_run(a, &ro, res);
}
int restore_run_plan(struct restore_run *ru, struct ocb_archive *a,
		     uint32_t idx, const char *disk, const char *base,
		     struct ocb_plan_counts *sum)
{
	struct ocb_plan_counts c;
	int r;

	ru->base = base;
	r = ocb_restore_plan(a, idx, disk, print_change, ru, &c);
	sum->same += c.same;
	sum->added += c.added;
	sum->changed += c.changed;
	sum->deleted += c.deleted;
	return r;
}
