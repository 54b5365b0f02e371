/*
 * backup_job.c - the config turned into one backup, hooks to auto-prune
 * (backup_job.h).
 */
#include "backup_job.h"
#include "backup_name.h"
#include "inventory.h"
#include "config.h"
#include "group.h"
#include "highwater.h"
#include "fileio.h"
#include "log.h"
#include "openclaw.h"
#include "retry.h"
#include "sse_default.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKIP_MAX 64

/* mountpoints of ocbfs daemons (from /proc/self/mountinfo) and the cache
 * directory: paths a backup never enters.  *n paths, malloc'ed. */
static int skip_paths(const struct ocb_config *cfg, char **v, size_t *n)
{
	char line[8192];
	size_t k = 0;
	FILE *f;

	if (!(v[k++] = strdup(cfg->state_dir)))	/* the cache's too */
		return -ENOMEM;
	f = fopen("/proc/self/mountinfo", "re");
	while (f && k < SKIP_MAX && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts ... - fstype source */
		char *mp, *dash, *save = NULL;
		int i;

		dash = strstr(line, " - ");
		if (!dash || strncmp(dash + 3, "fuse.ocbfs ", 11) != 0)
			continue;
		mp = strtok_r(line, " ", &save);
		for (i = 0; i < 4 && mp; i++)
			mp = strtok_r(NULL, " ", &save);
		if (mp && !(v[k++] = strdup(mp)))
			break;
	}
	if (f)
		fclose(f);
	*n = k;
	return k && !v[k - 1] ? -ENOMEM : 0;
}

/* uploads left by a killed backup aborted, and the SSE default checked:
 * 0, or a negative errno when the store is not there at all */
static int before_stream(struct ocb_store *s, const struct ocb_config *cfg,
			 struct ocb_backup_job *j)
{
	char msg[2048];
	enum ocb_sse_default_state st;
	int r;

	r = ocb_inventory_abort_stale(s, cfg->prefix, cfg->stale_upload_age);
	j->stale_aborted = r > 0 ? r : 0;
	/* no bucket, or no server: the backup would fail the same way at
	 * its first request (and say so a second time); anything else
	 * (denied, not supported) is only the cleanup's */
	if (r == -ENOENT || r == -EIO || ocb_retry_is_transient(r))
		return r;
	st = ocb_sse_default_check(cfg, 0, msg, sizeof(msg));
	if (st != OCB_SSE_DEFAULT_NOT_NEEDED && st != OCB_SSE_DEFAULT_OK)
		ocb_warn("%s", msg);
	return 0;
}

/* the sources: the job's own (`ocb migrate`), the config's, or when the
 * config names none what OpenClaw names (*oc, *noc: that list) */
static int job_sources(const struct ocb_config *cfg, struct ocb_backup_job *j,
		       struct ocb_archive_write_opts *o, char ***oc,
		       size_t *noc)
{
	size_t i;
	int r;

	j->from_openclaw = 0;
	j->sources_from = "the config";
	if (!j->sources && cfg->sources_default && cfg->nsources == 1) {
		r = ocb_openclaw_resolve(cfg->sources[0], oc, noc,
					 &j->sources_from);
		if (r < 0)
			return r;
		o->sources = (const char *const *)*oc;
		o->nsources = *noc;
		j->from_openclaw = !strcmp(j->sources_from,
					   OCB_OPENCLAW_FROM_COMMAND);
		for (i = 0; i < *noc; i++)
			ocb_info("source (from %s): %s", j->sources_from,
				 (*oc)[i]);
	}
	if (j->sources) {
		o->sources = j->sources;
		o->nsources = j->nsources;
		o->source_paths = j->source_paths;
		o->excludes = NULL;
		o->nexcludes = 0;
		o->created = j->created;
	}
	return 0;
}

int ocb_backup_job_run(struct ocb_store *s, const struct ocb_config *cfg,
		       struct ocb_keyprov *kp, struct ocb_backup_job *j,
		       struct ocb_backup_result *res)
{
	struct ocb_archive_write_opts o = { 0 };
	struct ocb_put_opts put = { 0 };
	char *skip[SKIP_MAX + 1] = { 0 };
	char **oc = NULL;		/* openclaw's own list */
	size_t nskip = 0, noc = 0, i;
	int r;

	r = skip_paths(cfg, skip, &nskip);
	if (r == 0 && !j->plan)
		r = before_stream(s, cfg, j);
	if (r < 0)
		goto out;
	put.sse = cfg->sse;
	put.sse_kms_key_id = cfg->sse_kms_key_id;
	o.sources = (const char *const *)cfg->sources;
	o.nsources = cfg->nsources;
	o.excludes = (const char *const *)cfg->excludes;
	o.nexcludes = cfg->nexcludes;
	o.skip = (const char *const *)skip;
	o.nskip = nskip;
	o.prefix = cfg->prefix;
	o.instance = cfg->instance_id;
	o.label = j->label;
	o.group = j->group;
	o.role = j->role;
	/* recorded when the file is there (the preBackup hook wrote it) */
	o.state_snapshot = j->state_snapshot ? j->state_snapshot :
		cfg->state_snapshot;
	if (o.state_snapshot && access(o.state_snapshot, F_OK) != 0) {
		ocb_warn("state snapshot %s does not exist: not recorded",
			 o.state_snapshot);
		o.state_snapshot = NULL;
	}
	o.kp = kp;
	o.put = &put;
	o.count_first = j->count_first;
	o.progress = j->progress;
	o.progress_arg = j->progress_arg;
	o.warning = j->warning;
	o.warning_arg = j->warning_arg;
	o.cancel = j->cancel;
	o.tmp_dir = cfg->state_dir;
	o.full = j->full || j->sources;	/* `ocb migrate`: another tree */
	o.full_every = (uint32_t)cfg->full_every;
	o.full_after_days = (uint32_t)cfg->full_after_days;
	/* where SQLite snapshots are spooled: a fresh machine may have no
	 * ~/.cache either (a failure shows as the snapshot's own warning) */
	if (o.tmp_dir && *o.tmp_dir && !j->plan &&
	    (r = ocb_fileio_mkdirs(o.tmp_dir)) < 0)
		ocb_warn("cache directory %s: %s", o.tmp_dir, strerror(-r));
	r = job_sources(cfg, j, &o, &oc, &noc);
	if (r == 0)
		r = j->plan ? ocb_archive_write_plan(&o, j->plan, j->plan_arg,
						     res) :
			ocb_archive_write(s, &o, res);
out:
	ocb_openclaw_free(oc, noc);
	for (i = 0; i < nskip; i++)
		free(skip[i]);
	return r;
}

/* ---- the whole backup ------------------------------------------------------- */

static const struct ocb_backup_job_report no_report;

/* a stored backup's group request answered, if there is one */
static void answer_group(struct ocb_store *s, const struct ocb_config *cfg,
			 struct ocb_backup_job *j)
{
	const struct ocb_backup_job_report *rep = j->report;
	int a;

	if (!j->group)
		return;
	a = ocb_group_ack(s, cfg->root, j->group, cfg->instance_id);
	if (a < 0 && rep->ack_failed)
		rep->ack_failed(rep->arg, a);
}

static void post_hook(const struct ocb_config *cfg, struct ocb_backup_job *j,
		      const struct ocb_backup_result *res)
{
	const struct ocb_backup_job_report *rep = j->report;

	if (!ocb_hook_run(cfg, "postBackup", res->name, NULL, OCB_HOOK_TIMEOUT,
			  rep->hook_line, rep->arg))
		return;
	j->post_hook_failed = 1;
	if (rep->post_hook_failed)
		rep->post_hook_failed(rep->arg, res);
}

/* after the stream stored the backup: the mark, the group request, the
 * postBackup hook, the auto-prune */
static void after_stored(struct ocb_store *s, const struct ocb_config *cfg,
			 struct ocb_backup_job *j,
			 const struct ocb_backup_result *res)
{
	const struct ocb_backup_job_report *rep = j->report;
	int64_t t;
	int lab;

	/* this machine's own backup: the newest it has seen */
	if (j->note_highwater &&
	    ocb_backup_name_time(res->name, &t, &lab) == 0)
		ocb_highwater_note(cfg->state_dir, cfg->prefix, t, res->name);
	if (j->post_hook_first) {
		post_hook(cfg, j, res);
		answer_group(s, cfg, j);
		if (rep->stored)
			rep->stored(rep->arg, res);
	} else {
		answer_group(s, cfg, j);
		if (rep->stored)
			rep->stored(rep->arg, res);
		post_hook(cfg, j, res);
	}
	/* retention.autoClean: the old tool's cleanup after a backup */
	if (!j->post_hook_failed && cfg->auto_clean && rep->auto_prune)
		j->pruned = rep->auto_prune(rep->arg, res->name);
}

int ocb_backup_job_take(struct ocb_store *s, const struct ocb_config *cfg,
			struct ocb_keyprov *kp, struct ocb_backup_job *j,
			struct ocb_backup_result *res)
{
	const struct ocb_backup_job_report *rep;
	int r;

	if (!j->report)
		j->report = &no_report;
	rep = j->report;
	j->pre_hook_failed = j->post_hook_failed = j->pruned = 0;
	/* hooks.preBackup: e.g. the agent writing its state down first */
	r = ocb_hook_run(cfg, "preBackup", NULL, NULL, OCB_HOOK_TIMEOUT,
			 rep->hook_line, rep->arg);
	if (r) {
		j->pre_hook_failed = 1;
		return r < 0 ? r : -ECHILD;
	}
	if (rep->stream_begins)
		rep->stream_begins(rep->arg);
	r = ocb_backup_job_run(s, cfg, kp, j, res);
	if (rep->stream_ended)
		rep->stream_ended(rep->arg, r);
	if (r == 0)
		after_stored(s, cfg, j, res);
	return r;
}
