/*
 * cmd_migrate.c - `ocb migrate`: rewrite old-tool .tar.gz backups as
 * native ones.
 *
 * Each old backup is restored (streamed once, gzip CRCs checked) into a
 * temporary directory under the cache directory, backed up from there with
 * its original time, then the new backup is read whole (every frame's tag,
 * every file's SHA-256) and its file count compared with what the old one
 * held.  Only then, and only with --delete-original, is the old object
 * deleted.  A failure at any step leaves the old backup as it was and
 * removes the temporary directory; a new backup that failed verification
 * is deleted again.
 */
#include "cmd.h"
#include "fileio.h"
#include "backup_name.h"
#include "retention.h"
#include "backup_job.h"
#include "inventory.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"
#include "restore.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* is a native backup of time t the migration of an old-tool one (dated
 * by its time)? */
static int is_migration(const struct ocb_backup_ref *v, size_t n, int64_t t)
{
	int64_t lt;
	size_t i;
	int lab;

	for (i = 0; i < n; i++)
		if (v[i].kind == OCB_BACKUP_LEGACY &&
		    ocb_backup_name_time(v[i].name, &lt, &lab) == 0 &&
		    lt == t)
			return 1;
	return 0;
}

/* The native name of an old one: "Z" after its time, and its label, if
 * a valid one follows the time ("...T03-00-00-before-upgrade" becomes
 * "...T03-00-00Z-before-upgrade"), kept as the new backup's label, which
 * is returned (else NULL). */
static const char *native_name(const char *old, char *out, size_t size)
{
	static const char pre[] = "openclaw-aws-backup-";
	size_t t = sizeof(pre) - 1 + 19;	/* YYYY-MM-DDTHH-MM-SS */
	int64_t when;
	int lab;

	if (ocb_backup_name_time(old, &when, &lab) == 0 && lab &&
	    strlen(old) > t + 1 && old[t] == '-' &&
	    ocb_inventory_label_ok(old + t + 1)) {
		snprintf(out, size, "%.*sZ%s", (int)t, old, old + t);
		return old + t + 1;
	}
	snprintf(out, size, "%sZ", old);
	return NULL;
}

static const char usage[] =
	"usage: ocb migrate [--delete-original] BACKUP... | --all\n"
	"\n"
	"Rewrite old-tool .tar.gz backups of this instance as native backups:\n"
	"encrypted with the configured key provider, every file hashed, named\n"
	"and dated by the original time.  Each old backup is restored into a\n"
	"temporary directory under the cache directory (it needs the backup's\n"
	"unpacked size free there), backed up, and the new backup verified\n"
	"(every frame and file hash, and the file count against the old one).\n"
	"openclaw-config/ and workspace/ keep their place; an in-place restore\n"
	"of the new backup puts them where the old one's would go: the state\n"
	"directory (default ~/.openclaw) of the machine restoring, and its\n"
	"workspace/.  A backup already migrated is skipped.\n"
	"\n"
	"  --all              every old backup of this instance dated before\n"
	"                     its first native backup (a later one is named)\n"
	"  --delete-original  delete each old backup once its new one is\n"
	"                     verified (never before)\n";

struct mig {
	struct ocb_ctx *ctx;
	struct ocb_keyprov *kp;
	int delete_original;
};

/* the top-level entries of dir, as backup sources and where each one is
 * restored to in place */
static int sources_of(const struct ocb_config *cfg, const char *dir,
		      char ***src, char ***orig, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char home[4096], up[4096];
	size_t k = 0;

	*src = calloc(64, sizeof(char *));
	*orig = calloc(64, sizeof(char *));
	if (!d || !*src || !*orig) {
		if (d)
			closedir(d);
		return -ENOMEM;
	}
	snprintf(home, sizeof(home), "%s", cfg->sources[0]);
	snprintf(up, sizeof(up), "%s", cfg->sources[0]);
	dirname(up);
	while (k < 64 && (de = readdir(d))) {
		char p[4400], o[4400];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!strcmp(de->d_name, "openclaw-config"))
			snprintf(o, sizeof(o), "%s", home);
		else if (!strcmp(de->d_name, "workspace"))
			snprintf(o, sizeof(o), "%s/workspace", home);
		else
			snprintf(o, sizeof(o), "%s/%s", strcmp(up, "/") ? up : "",
				 de->d_name);
		(*src)[k] = strdup(p);
		(*orig)[k] = strdup(o);
		if (!(*src)[k] || !(*orig)[k++])
			break;
	}
	closedir(d);
	*n = k;
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* read the new backup whole; its files must be as many as restored */
static int verify_new(struct mig *m, const char *key, uint64_t files)
{
	struct ocb_verify_result vr;
	struct ocb_archive *a = NULL;
	int r = ocb_archive_open(m->ctx->store, key, m->kp, &a);

	if (r == 0)
		r = ocb_archive_verify(a, &vr);
	ocb_archive_free(a);
	if (r == 0 && vr.files != files) {
		fprintf(stderr, "ocb: the new backup holds %" PRIu64 " files, "
			"the old one %" PRIu64 "\n", vr.files, files);
		r = -EBADMSG;
	}
	return r;
}

static int migrated_before(struct mig *m, const struct ocb_backup_ref *ref,
			   const struct ocb_backup_ref *nat)
{
	struct ocb_verify_result old;
	struct ocb_archive *a = NULL;
	int r;

	if (!m->delete_original) {
		printf("skipped  %s: already migrated as %s\n", ref->name,
		       nat->name);
		return 0;
	}
	r = ocb_ctx_open_backup(m->ctx, ref, NULL, OCB_OPEN_CHECK, &a);
	if (r == 0)
		r = ocb_archive_verify(a, &old);
	ocb_archive_free(a);
	if (r == 0)
		r = verify_new(m, nat->key, old.files);
	if (r == 0)
		r = m->ctx->store->ops->del(m->ctx->store, ref->key);
	if (r < 0)
		return ocb_fail(r, "%s (already migrated as %s) kept", ref->name,
				nat->name);
	printf("deleted  %s: already migrated as %s, verified\n", ref->name,
	       nat->name);
	return 0;
}

static int migrate_one(struct mig *m, const struct ocb_backup_ref *ref,
		       const struct ocb_backup_ref *all, size_t nall)
{
	struct ocb_ctx *ctx = m->ctx;
	struct ocb_restore_opts ro = { .cancel = &ocb_interrupted };
	struct ocb_restore_result rr;
	struct ocb_backup_result br;
	struct ocb_backup_job j = { .cancel = &ocb_interrupted };
	struct ocb_archive *a = NULL;
	char tmp[4096], native[300], sz[32];
	char **src = NULL, **orig = NULL;
	size_t nsrc = 0, i;
	int64_t created;
	int r;

	/* migrated before: a native backup of the same time (name + "Z");
	 * its original goes only once it verifies against the old one */
	j.label = native_name(ref->name, native, sizeof(native));
	for (i = 0; i < nall; i++)
		if (all[i].kind == OCB_BACKUP_NATIVE &&
		    !strcmp(all[i].name, native))
			return migrated_before(m, ref, &all[i]);
	r = ocb_ctx_open_backup(ctx, ref, NULL, OCB_OPEN_STREAM, &a);
	if (r < 0)
		return ocb_fail(r, "open %s", ref->name);
	created = ocb_archive_info(a)->created;
	ocb_fileio_mkdirs(ctx->cfg->state_dir);	/* a fresh machine has none */
	snprintf(tmp, sizeof(tmp), "%s/migrate-XXXXXX", ctx->cfg->state_dir);
	if (!mkdtemp(tmp)) {
		r = ocb_fail(-errno, "temporary directory in %s",
			     ctx->cfg->state_dir);
		ocb_archive_free(a);
		return r;
	}
	ro.target = tmp;
	r = ocb_restore_run(a, &ro, &rr);
	ocb_archive_free(a);
	if (r < 0) {
		r = ocb_fail(r, "unpack %s into %s", ref->name, tmp);
		goto out;
	}
	r = sources_of(ctx->cfg, tmp, &src, &orig, &nsrc);
	if (r < 0 || nsrc == 0) {
		r = ocb_fail(r < 0 ? r : -ENOENT, "%s holds nothing", ref->name);
		goto out;
	}
	j.sources = (const char *const *)src;
	j.nsources = nsrc;
	j.source_paths = (const char *const *)orig;
	j.created = created;
	r = ocb_backup_job_run(ctx->store, ctx->cfg, m->kp, &j, &br);
	if (r < 0) {
		r = ocb_fail(r, "back up %s", ref->name);
		goto out;
	}
	r = verify_new(m, br.key, rr.files);
	if (r < 0) {
		/* a new backup that is not right is not kept */
		ctx->store->ops->del(ctx->store, br.key);
		r = ocb_fail(r, "verify the new backup of %s (deleted again; "
			     "the old one is kept)", ref->name);
		goto out;
	}
	printf("migrated %s -> %s: %" PRIu64 " files, %s, verified", ref->name,
	       br.name, rr.files, ocb_human_size(rr.bytes, sz, sizeof(sz)));
	if (m->delete_original) {
		r = ctx->store->ops->del(ctx->store, ref->key);
		if (r < 0) {
			printf("\n");
			r = ocb_fail(r, "delete %s", ref->key);
			goto out;
		}
		printf("; original deleted");
	}
	printf("\n");
out:
	ocb_rm_rf(tmp);
	free_strv(src, nsrc);
	free_strv(orig, nsrc);
	return r;
}

static int migrate_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "delete-original", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct mig m = { .ctx = ctx };
	struct ocb_backup_ref *v = NULL;
	size_t n = 0, i;
	int c, r, all = 0, done = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'd': m.delete_original = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_migrate);
		}
	}
	if (all == (optind < argc))
		return ocb_usage(&ocb_cmd_migrate);
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_ctx_keyprov(ctx, &m.kp);
	if (r)
		return r;
	r = ocb_inventory_list(ctx->store, ctx->cfg->prefix, &v, &n);
	if (r < 0) {
		r = ocb_fail(r, "list %s", ctx->cfg->prefix);
		goto out;
	}
	if (all) {
		/* an old-tool backup is unauthenticated: --all takes only
		 * those dated before this instance's first native backup (the
		 * old tool was in use then) and not in the future; a later one
		 * may have been planted by whoever can write the bucket, and
		 * is migrated only when named */
		int64_t first_native = INT64_MAX, t, now = (int64_t)time(NULL);
		int lab;

		for (i = 0; i < n; i++)
			if (v[i].kind == OCB_BACKUP_NATIVE &&
			    ocb_backup_name_time(v[i].name, &t, &lab) == 0 &&
			    t < first_native && !is_migration(v, n, t))
				first_native = t;
		for (i = 0; i < n && r == 0 && !ocb_interrupted; i++) {
			char esc[300];

			if (v[i].kind != OCB_BACKUP_LEGACY)
				continue;
			if (ocb_backup_name_time(v[i].name, &t, &lab) < 0 ||
			    t >= first_native || t > now + OCB_RET_FUTURE_SKEW) {
				fprintf(stderr, "ocb: %s is dated after this "
					"instance's first native backup (or in "
					"the future): skipped by --all; name it "
					"to migrate it\n", ocb_log_escape(esc,
					sizeof(esc), v[i].name));
				continue;
			}
			r = migrate_one(&m, &v[i], v, n);
			done++;
		}
		if (r == 0 && !done)
			printf("no old-tool backups under %s\n", ctx->cfg->prefix);
		goto out;
	}
	for (; optind < argc && r == 0 && !ocb_interrupted; optind++) {
		struct ocb_backup_ref ref;

		r = ocb_inventory_find(ctx->store, ctx->cfg->prefix, argv[optind],
				     &ref);
		if (r < 0) {
			r = ocb_exit_code(r);
			break;
		}
		if (ref.kind != OCB_BACKUP_LEGACY) {
			fprintf(stderr, "ocb: %s is already a native backup\n",
				ref.name);
			r = OCB_EXIT_USAGE;
			break;
		}
		r = migrate_one(&m, &ref, v, n);
	}
out:
	if (r == 0 && ocb_interrupted)
		r = OCB_EXIT_INTERRUPTED;
	free(v);
	ocb_keyprov_free(m.kp);
	return r;
}

const struct ocb_cmd ocb_cmd_migrate = {
	.name = "migrate",
	.summary = "rewrite old-tool .tar.gz backups as native ones",
	.usage = usage,
	.exec = migrate_exec,
};
