/*
 * restore_inplace.c - `ocb restore` without --target: every source (or
 * the PATHs given) back to where it was backed up from, each written
 * beside the original, checked, and swapped in with the original put
 * aside.  What may go where (the configured sources, or OpenClaw's own
 * list, in phases), the preRestore hook and the check for processes
 * using the path, the stages left by a killed restore, and the old
 * tool's layout (for old-tool and migrated backups) are all here.
 */
#include "restore_inplace.h"
#include "restore_busy.h"
#include "hooks.h"
#include "fileio.h"
#include "log.h"
#include "openclaw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * A restore in place writes into <orig>.ocb-restore-<time>, holding an
 * flock on it until the copy is swapped in.  One that was killed left its
 * partial copy unlocked: removed here, so that no run of kills fills the
 * disk.  A copy still locked belongs to a restore that is running.
 */
static int stage_lock(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void remove_stale_stages(const char *orig)
{
	char parent[4096], pfx[4200], path[8400];
	const char *slash = strrchr(orig, '/');
	struct dirent *de;
	size_t plen;
	DIR *d;

	if (slash)
		snprintf(parent, sizeof(parent), "%.*s",
			 (int)(slash > orig ? slash - orig : 1), orig);
	else
		snprintf(parent, sizeof(parent), ".");
	snprintf(pfx, sizeof(pfx), "%s.ocb-restore-", slash ? slash + 1 : orig);
	plen = strlen(pfx);
	d = opendir(parent);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		int fd;

		if (strncmp(de->d_name, pfx, plen) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
		fd = stage_lock(path);
		if (fd < 0)
			continue;
		ocb_rm_rf(path);
		close(fd);
		fprintf(stderr, "ocb: removed %s, the partial copy of an "
			"interrupted restore\n", path);
	}
	closedir(d);
}

/*
 * The directories above orig that are missing, with the modes the backup
 * recorded for them (orig is the disk path of the backup path bpath).
 */
static int make_parents(struct ocb_archive *a, const char *orig,
			const char *bpath)
{
	char b[4096], d[4096];
	const char *ob = strrchr(orig, '/'), *bb = strrchr(bpath, '/');
	struct stat st;
	uint32_t idx;

	if (!ob || !bb || ob == orig)
		return 0;
	snprintf(d, sizeof(d), "%.*s", (int)(ob - orig), orig);
	snprintf(b, sizeof(b), "%.*s", (int)(bb - bpath), bpath);
	if (lstat(d, &st) == 0 || ocb_archive_resolve(a, b, &idx) < 0)
		return 0;
	if (make_parents(a, d, b) < 0 || mkdir(d, 0700) < 0 ||
	    chmod(d, ocb_archive_entry(a, idx)->mode & 0777) < 0)
		return -errno;
	return 0;
}

/* a copy of the regular file from (not followed) as to */
static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	struct stat st;
	int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, r = 0;
	ssize_t n;

	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = in < 0 ? -errno : -EINVAL;
		goto done;
	}
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		   st.st_mode & 0777);
	if (out < 0) {
		r = -errno;
		goto done;
	}
	while (r == 0 && (n = read(in, buf, sizeof(buf))) != 0)
		r = n < 0 ? -errno : ocb_fileio_write_all(out, buf, (size_t)n);
	if (r == 0 && fchmod(out, st.st_mode & 0777) < 0)
		r = -errno;
done:
	if (out >= 0 && close(out) < 0 && r == 0)
		r = -errno;
	if (in >= 0)
		close(in);
	return r;
}

/*
 * An old-tool backup unpacked in stage as the old tool's restore put it
 * back: openclaw-config/ becomes the state directory orig, with the
 * current openclaw.json kept when the backup has none, and workspace/ (its
 * second copy of the workspace) replaces openclaw-config/workspace, all
 * before the one swap.
 */
static int old_layout(const char *stage, const char *cfgdir, const char *orig)
{
	char ws[8500], dst[8500], cur[8500];
	struct stat st;

	if (lstat(cfgdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ocb: the old backup holds no openclaw-config/ "
			"directory\n");
		return -EBADMSG;
	}
	snprintf(dst, sizeof(dst), "%s/openclaw.json", cfgdir);
	snprintf(cur, sizeof(cur), "%s/openclaw.json", orig);
	if (lstat(dst, &st) < 0 && lstat(cur, &st) == 0 && S_ISREG(st.st_mode)) {
		int r = copy_file(cur, dst);

		if (r < 0)
			return r;
	}
	snprintf(ws, sizeof(ws), "%s/workspace", stage);
	snprintf(dst, sizeof(dst), "%s/workspace", cfgdir);
	if (lstat(ws, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	ocb_rm_rf(dst);
	return rename(ws, dst) < 0 ? -errno : 0;
}

/*
 * The stage directory beside orig that a restore is written into
 * (created, mode 0700), and the name the original is put aside under,
 * both free now (a restore in the same second takes -2...).  Each holds
 * STAGE_MAX bytes.  0 or the exit code (reported).
 */
#define STAGE_MAX 4200
static int make_stage(const char *orig, const char *ts, char *stage,
		      char *safety)
{
	struct stat st;

	for (int k = 1;; k++) {
		char sfx[16] = "";

		if (k > 1)
			snprintf(sfx, sizeof(sfx), "-%d", k);
		snprintf(stage, STAGE_MAX, "%s.ocb-restore-%s%s", orig, ts,
			 sfx);
		snprintf(safety, STAGE_MAX, "%s.pre-restore-%s%s", orig,
			 ts, sfx);
		if (lstat(safety, &st) < 0 && mkdir(stage, 0700) == 0)
			return 0;
		if (errno != EEXIST && access(safety, F_OK) < 0)
			return ocb_fail(-errno, "%s", stage);
		if (k == 100)
			return ocb_fail(-EEXIST, "%s", stage);
	}
}

static void add_result(struct ocb_restore_result *total,
		       const struct ocb_restore_result *res)
{
	total->entries += res->entries;
	total->files += res->files;
	total->bytes += res->bytes;
	total->bad_files += res->bad_files;
	total->skipped += res->skipped;
}

/*
 * The backup path bpath back to the disk path orig, swapped in atomically
 * (bpath NULL: an old-tool backup, whole, to the state directory orig).
 * nested: orig lies inside a path restored just before; what it
 * replaces came from this same backup, so no copy of it is kept (it would
 * be left inside the restored tree).
 */
static int restore_source(struct restore_run *ru, struct ocb_archive *a,
			  const char *bpath, const char *orig, int nested,
			  const char *ts, struct ocb_restore_result *total)
{
	struct ocb_ctx *ctx = ru->ctx;
	struct ocb_restore_result res;
	const char *top = bpath;
	char stage[STAGE_MAX], staged[8400], safety[STAGE_MAX];
	struct stat st;
	int r, lock;

	r = bpath ? make_parents(a, orig, bpath) : 0;
	if (r < 0)
		return ocb_fail(r, "create the directories above %s", orig);
	remove_stale_stages(orig);
	r = make_stage(orig, ts, stage, safety);
	if (r)
		return r;
	lock = stage_lock(stage);
	snprintf(staged, sizeof(staged), "%s/%s", stage,
		 top ? top : "openclaw-config");
	r = restore_run_to(ru, a, stage, top ? &top : NULL, top ? 1 : 0, &res);
	if (r == 0 && ru->old_state && top && res.entries == 0) {
		/* an old backup streamed: no listing checked it before */
		fprintf(stderr, "ocb: %s is not in the backup\n", top);
		ocb_rm_rf(stage);
		r = OCB_EXIT_NOTFOUND;
		goto out;
	}
	if (r == 0 && (!top || (ru->old_state &&
				!strcmp(top, "openclaw-config"))))
		r = old_layout(stage, staged, orig);
	add_result(total, &res);
	/* on disk before it replaces anything: a power cut after the swap
	 * finds the restored state whole */
	if (r == 0)
		r = ocb_fileio_sync_fs(stage);
	if (r < 0) {
		/* useless half-written, and maybe what filled the disk:
		 * removed */
		ocb_rm_rf(stage);
		fprintf(stderr, "ocb: %s left as it was (the partial restore "
			"beside it was removed)\n", orig);
		r = ocb_fail(r, "restore %s", orig);
		goto out;
	}
	if (lstat(orig, &st) == 0 && rename(orig, safety) < 0) {
		r = ocb_fail(-errno, "rename %s", orig);
		goto out;
	}
	if (rename(staged, orig) < 0) {
		int e = -errno;

		rename(safety, orig);	/* put the original back */
		r = ocb_fail(e, "rename %s", staged);
		goto out;
	}
	ocb_rm_rf(stage);	/* the empty directories above a selection */
	if (nested)
		ocb_rm_rf(safety);
	if (!ctx->quiet && !ru->json)
		printf("restored %s%s%s\n", orig,
		       access(safety, F_OK) == 0 ? "; the previous state is in " : "",
		       access(safety, F_OK) == 0 ? safety : "");
	/* hooks.postRestore validates the result: a failure fails the
	 * restore; the previous state stays where it was put aside */
	if (ocb_hook_run(ctx->cfg, "postRestore", NULL, orig, OCB_HOOK_TIMEOUT,
			 NULL, NULL)) {
		fprintf(stderr, "ocb: the postRestore hook rejected %s; the "
			"previous state is kept in %s\n", orig,
			access(safety, F_OK) == 0 ? safety : "(none)");
		r = OCB_EXIT_FAIL;
	}
out:
	if (lock >= 0)
		close(lock);
	return r;
}

/* the same path, trailing slashes aside */
static int same_path(const char *x, const char *y)
{
	size_t n = strlen(x), m = strlen(y);

	while (n > 1 && x[n - 1] == '/')
		n--;
	while (m > 1 && y[m - 1] == '/')
		m--;
	return n == m && !memcmp(x, y, n);
}

static int in_list(const char *p, char *const *v, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (same_path(p, v[k]))
			return 1;
	return 0;
}

/* a source's top entry in place: a directory; with resolved sources also
 * a regular file (OpenClaw names its "$include" files) */
static int top_ok(struct ocb_archive *a, uint32_t entry, int resolved)
{
	int type = ocb_archive_entry(a, entry)->type;

	return type == OCB_ENTRY_DIR || (resolved && type == OCB_ENTRY_FILE);
}

/*
 * In place, a backup goes only where the config says sources live, and
 * only as directories: the catalog's absolute paths are the backup's word,
 * and whoever can write the bucket could otherwise choose any file on this
 * machine.  A config that names no sources takes OpenClaw's own list
 * (openclaw.h) as this machine's OpenClaw names it, never the backup's,
 * in phases (restore_inplace_run()): here only the top entries are checked.
 * OCB_EXIT_USAGE (with --target it can be restored anywhere).
 */
int restore_inplace_check(const struct ocb_config *cfg, struct ocb_archive *a,
			  const char *name, int resolved)
{
	uint32_t i, n = ocb_archive_nsources(a);
	char esc[1024];
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		const char *orig;
		uint32_t entry;

		ocb_archive_source(a, i, &entry, &orig);
		if (!resolved && !in_list(orig, cfg->sources, cfg->nsources)) {
			fprintf(stderr, "ocb: %s was backed up from %s, which is "
				"not one of the configured sources: refused in "
				"place (restore it with --target DIR)\n", name,
				ocb_log_escape(esc, sizeof(esc), orig));
			r = OCB_EXIT_USAGE;
		} else if (orig[0] != '/' || !top_ok(a, entry, resolved)) {
			fprintf(stderr, "ocb: %s holds %s as something else than "
				"a directory: refused in place (restore it with "
				"--target DIR)\n", name,
				ocb_log_escape(esc, sizeof(esc), orig));
			r = OCB_EXIT_USAGE;
		}
	}
	return r;
}

static void print_busy(void *arg, pid_t pid, const char *comm)
{
	char esc[128];

	(void)arg;
	fprintf(stderr, "ocb:   pid %d (%s)\n", (int)pid,
		ocb_log_escape(esc, sizeof(esc), comm));
}

/* hooks.preRestore (it may stop the application), then no process may
 * use orig unless --force */
static int ready_to_replace(struct restore_run *ru, const char *orig)
{
	char esc[1024];
	int n;

	if (ocb_hook_run(ru->ctx->cfg, "preRestore", NULL, orig,
			 OCB_HOOK_TIMEOUT, NULL, NULL)) {
		fprintf(stderr, "ocb: the preRestore hook failed: %s not "
			"restored\n", ocb_log_escape(esc, sizeof(esc), orig));
		return OCB_EXIT_FAIL;
	}
	if (ru->force)
		return 0;
	n = ocb_restore_busy(orig, print_busy, ru);
	if (n > 0) {
		fprintf(stderr, "ocb: %s is in use by the processes above: "
			"stop them (a preRestore hook can) or use --force\n",
			ocb_log_escape(esc, sizeof(esc), orig));
		return OCB_EXIT_FAIL;
	}
	return 0;
}

/* the disk path of the backup path p (a source, or below one), and the
 * index of its source */
static int disk_path_of(struct ocb_archive *a, const char *p, char *out,
			size_t size, uint32_t *src)
{
	uint32_t i, n = ocb_archive_nsources(a);
	size_t tl = strcspn(p, "/");

	for (i = 0; i < n; i++) {
		const char *orig;
		uint32_t entry;

		ocb_archive_source(a, i, &entry, &orig);
		if (strlen(ocb_archive_entry(a, entry)->name) != tl ||
		    strncmp(ocb_archive_entry(a, entry)->name, p, tl))
			continue;
		*src = i;
		return snprintf(out, size, "%s%s", orig, p + tl) >= (int)size ?
			-ENAMETOOLONG : 0;
	}
	return -ENOENT;
}

/* one backup path restored in place, and where it goes */
struct unit {
	const char *bp;		/* the source's, or a PATH */
	uint32_t src;		/* its source (not for an old layout) */
	char disk[4096];
};

/* by the length of their disk paths: a path before those inside it */
static int len_cmp(const void *x, const void *y)
{
	size_t a = strlen(((const struct unit *)x)->disk);
	size_t b = strlen(((const struct unit *)y)->disk);

	return (a > b) - (a < b);
}

/* rounds of resolving sources from what was just restored (each one
 * restores at least one more source) */
#define PHASES_MAX 8

/* what an in-place restore does, phase by phase */
struct in_place {
	struct restore_run *ru;
	struct ocb_archive *a;
	struct unit *u;		/* the sources', or the PATHs' */
	uint32_t n;
	uint8_t *unit_done;	/* by u: restored in this run */
	int dry;
	char ts[32];
	struct ocb_restore_result *total;
	struct ocb_plan_counts *sum;
};

/*
 * Unit i lies inside another restored before it in this run: what it
 * replaces came from this same backup.  A path restored alone, or before
 * the one holding it, is not nested (its previous state is set aside).
 */
static int inside_done(const struct in_place *ip, uint32_t i)
{
	for (uint32_t j = 0; j < ip->n; j++) {
		size_t l = strlen(ip->u[j].disk);

		if (j != i && ip->unit_done[j] &&
		    !strncmp(ip->u[i].disk, ip->u[j].disk, l) &&
		    ip->u[i].disk[l] == '/')
			return 1;
	}
	return 0;
}

/*
 * A dry run's view of a config file: what the restore would have put
 * there when it lies in a source planned in an earlier phase (from the
 * backup), else the disk as it is (1).
 */
static int planned_read(void *arg, const char *path, char **text)
{
	struct in_place *ip = arg;
	uint32_t i, idx;

	for (i = 0; i < ip->n; i++) {
		const char *disk = ip->u[i].disk;
		char bpath[8192];
		const struct ocb_entry *e;
		size_t dl;
		ssize_t got;

		if (!ip->unit_done[i])
			continue;
		dl = strlen(disk);
		if (strncmp(path, disk, dl) || (path[dl] && path[dl] != '/'))
			continue;
		snprintf(bpath, sizeof(bpath), "%s%s", ip->u[i].bp, path + dl);
		if (ocb_archive_resolve(ip->a, bpath, &idx) < 0)
			return -ENOENT;	/* the restore removes it */
		e = ocb_archive_entry(ip->a, idx);
		if (e->type != OCB_ENTRY_FILE)
			return -EINVAL;
		if (e->size > OCB_OPENCLAW_OUT_MAX)
			return -EFBIG;
		*text = malloc((size_t)e->size + 1);
		if (!*text)
			return -ENOMEM;
		got = e->size ? ocb_archive_pread(ip->a, idx, *text,
						  (size_t)e->size, 0) : 0;
		if (got != (ssize_t)e->size) {
			free(*text);
			return got < 0 ? (int)got : -EIO;
		}
		(*text)[got] = '\0';
		return 0;
	}
	return 1;
}

/* unit i restored (or compared, dry) in place */
static int in_place_unit(struct in_place *ip, uint32_t i)
{
	const struct unit *u = &ip->u[i];
	int nested = inside_done(ip, i), r;
	uint32_t idx;

	ip->unit_done[i] = 1;
	if (ip->dry) {
		ocb_archive_resolve(ip->a, u->bp, &idx);	/* checked */
		return restore_run_plan(ip->ru, ip->a, idx, u->disk, u->bp,
					ip->sum);
	}
	/* what a wipe took above a source OpenClaw names (0700) */
	r = ip->ru->resolved ? ocb_mkdir_parents(u->disk) : 0;
	if (r < 0)
		return ocb_fail(r, "create the directories above %s", u->disk);
	r = ready_to_replace(ip->ru, u->disk);
	return r ? r : restore_source(ip->ru, ip->a, u->bp, u->disk, nested,
				      ip->ts, ip->total);
}

/* the source of unit i is one this machine names in ok (n of them) */
static int unit_allowed(struct in_place *ip, uint32_t i, char *const *ok,
			size_t n)
{
	const char *orig;
	uint32_t entry;

	ocb_archive_source(ip->a, ip->u[i].src, &entry, &orig);
	return in_list(orig, ok, n) ||
		in_list(orig, ip->ru->ctx->cfg->sources,
			ip->ru->ctx->cfg->nsources);
}

/*
 * Sources resolved from OpenClaw: first those this machine names now (the
 * state directory at least), then those its just-restored config names,
 * again until nothing new.  What it never names is left out and listed.
 */
static int in_place_phases(struct in_place *ip)
{
	const struct ocb_config *cfg = ip->ru->ctx->cfg;
	struct ocb_openclaw_reader rd = { planned_read, ip };
	int r = 0, phase, any = 1;
	uint32_t i;

	for (phase = 0; phase < PHASES_MAX && any && r == 0; phase++) {
		const char *from;
		char **ok = NULL;
		size_t nok = 0;

		r = ocb_openclaw_restore_sources(cfg->sources[0],
						 ip->dry && phase ? &rd : NULL,
						 &ok, &nok, &from);
		if (r < 0)
			return ocb_fail(r, "sources");
		any = 0;
		for (i = 0; i < ip->n && r == 0; i++) {
			if (ip->unit_done[i] || !unit_allowed(ip, i, ok, nok))
				continue;
			if (phase && !any && !ip->ru->ctx->quiet &&
			    !ip->ru->json)
				printf("%s: sources this machine's OpenClaw "
				       "names after the restore (from %s):\n",
				       ip->dry ? "would restore" : "restoring",
				       ip->dry ? "the backup's openclaw.json" :
				       from);
			any = 1;
			r = in_place_unit(ip, i);
		}
		ocb_openclaw_free(ok, nok);
	}
	for (i = 0; i < ip->n && r == 0; i++) {
		char esc[4096], esc2[4096];

		if (ip->unit_done[i])
			continue;
		fprintf(stderr, "ocb: %s (backed up from %s) left out: not a "
			"source this machine's OpenClaw names, nor its restored "
			"state (restore it with --target DIR)\n",
			ocb_log_escape(esc2, sizeof(esc2), ip->u[i].bp),
			ocb_log_escape(esc, sizeof(esc), ip->u[i].disk));
		ip->ru->left_out++;
	}
	return r;
}

/* every source (or the paths given) back to its original place, or with
 * dry compared with it; a migrated old backup's (ru->old_state) where the
 * old restore put them */
int restore_inplace_run(struct restore_run *ru, struct ocb_archive *a,
			const char *const *paths, size_t npaths, int dry,
			struct ocb_restore_result *total,
			struct ocb_plan_counts *sum)
{
	struct in_place ip = { .ru = ru, .a = a, .dry = dry, .total = total,
			       .sum = sum };
	time_t now = time(NULL);
	struct tm tm;
	uint32_t i;
	int r = 0;

	ip.n = npaths ? (uint32_t)npaths : ocb_archive_nsources(a);
	ip.u = calloc(ip.n ? ip.n : 1, sizeof(*ip.u));
	ip.unit_done = calloc(ip.n ? ip.n : 1, 1);
	if (!ip.u || !ip.unit_done) {
		r = ocb_fail(-ENOMEM, "restore");
		goto out;
	}
	for (i = 0; i < ip.n && r == 0; i++) {
		struct unit *u = &ip.u[i];
		uint32_t entry;
		const char *orig;

		if (npaths) {
			u->bp = paths[i];
		} else {
			ocb_archive_source(a, i, &entry, &orig);
			u->bp = ocb_archive_entry(a, entry)->name;
		}
		r = ru->old_state ?
			restore_inplace_old_path(ru->old_state, u->bp, u->disk,
						 sizeof(u->disk)) :
			disk_path_of(a, u->bp, u->disk, sizeof(u->disk),
				     &u->src);
		if (r < 0)
			r = ocb_fail(r, "%s: no source holds it", u->bp);
	}
	if (r)
		goto out;
	qsort(ip.u, ip.n, sizeof(*ip.u), len_cmp);
	gmtime_r(&now, &tm);
	strftime(ip.ts, sizeof(ip.ts), "%Y%m%dT%H%M%SZ", &tm);
	if (ru->resolved)
		r = in_place_phases(&ip);
	for (i = 0; !ru->resolved && i < ip.n && r == 0; i++)
		r = in_place_unit(&ip, i);
out:
	free(ip.u);
	free(ip.unit_done);
	return r;
}

/* where an old-tool backup goes in place: the one configured source, or
 * the one named .openclaw; NULL: none */
const char *restore_inplace_state_dir(const struct ocb_config *cfg)
{
	const char *found = NULL;
	size_t i;

	if (cfg->nsources == 1)
		return cfg->sources[0];
	for (i = 0; i < cfg->nsources; i++) {
		const char *b = strrchr(cfg->sources[i], '/');

		if (b && !strcmp(b + 1, ".openclaw")) {
			if (found)
				return NULL;
			found = cfg->sources[i];
		}
	}
	return found;
}

/*
 * Where a path of an old-tool backup goes in place: openclaw-config/...
 * into the state directory, workspace/... into its workspace/, as the old
 * restore put them.  -EINVAL: another path, or one with an empty, "." or
 * ".." component.
 */
int restore_inplace_old_path(const char *state, const char *p, char *out,
			     size_t size)
{
	static const struct {
		const char *top, *under;
	} map[] = { { "openclaw-config", "" }, { "workspace", "/workspace" } };
	char clean[4096];
	size_t n = strlen(p), k;
	const char *c;

	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n >= sizeof(clean))
		return -ENAMETOOLONG;
	memcpy(clean, p, n);
	clean[n] = '\0';
	for (c = clean; *c; c += strcspn(c, "/") + (c[strcspn(c, "/")] != 0)) {
		size_t l = strcspn(c, "/");

		if (l == 0 || (l == 1 && c[0] == '.') ||
		    (l == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
	}
	for (k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
		size_t tl = strlen(map[k].top);

		if (strncmp(clean, map[k].top, tl) ||
		    (clean[tl] && clean[tl] != '/'))
			continue;
		return snprintf(out, size, "%s%s%s", state, map[k].under,
				clean + tl) >= (int)size ? -ENAMETOOLONG : 0;
	}
	return -EINVAL;
}

/* the missing directories between the state directory and orig's
 * parent (an old backup streamed has no listing to give their modes:
 * 0700) */
static int old_parents(const char *state, const char *orig)
{
	char d[4096];
	size_t n = strlen(state);

	if (snprintf(d, sizeof(d), "%s", orig) >= (int)sizeof(d) ||
	    strlen(d) < n)
		return -ENAMETOOLONG;
	for (char *s = d + n; (s = strchr(s, '/')) != NULL; *s++ = '/') {
		*s = '\0';	/* the state directory, then each below it */
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

/* an old-tool backup back to the state directory dir: whole, or the
 * paths given, each swapped in like a native one */
int restore_inplace_old(struct restore_run *ru, struct ocb_archive *a,
			const char *dir, const char *const *paths,
			size_t npaths, struct ocb_restore_result *res)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int r;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	if (!npaths) {
		r = ready_to_replace(ru, dir);
		return r ? r : restore_source(ru, a, NULL, dir, 0, ts, res);
	}
	for (i = 0, r = 0; i < npaths && r == 0; i++) {
		char orig[4096];

		r = restore_inplace_old_path(dir, paths[i], orig, sizeof(orig));
		if (r == 0)
			r = old_parents(dir, orig);
		if (r < 0)
			return ocb_fail(r, "%s", paths[i]);
		r = ready_to_replace(ru, orig);
		if (r == 0)
			r = restore_source(ru, a, paths[i], orig, 0, ts, res);
	}
	return r;
}

/*
 * A migrated old-tool backup (`ocb migrate`): its sources, by the
 * authenticated catalog, are the old backup's openclaw-config/ and maybe
 * workspace/, nothing else.  In place it goes where the old backup would
 * (this machine's state directory, not the migrating machine's path).
 */
int restore_inplace_migrated(struct ocb_archive *a)
{
	uint32_t i, n = ocb_archive_nsources(a), cfg = 0;

	for (i = 0; i < n; i++) {
		const char *orig, *name;
		uint32_t entry;

		ocb_archive_source(a, i, &entry, &orig);
		name = ocb_archive_entry(a, entry)->name;
		if (!strcmp(name, "openclaw-config"))
			cfg++;
		else if (strcmp(name, "workspace"))
			return 0;
	}
	return cfg == 1 && n <= 2;
}
