/*
 * fs_snap.c - the snapshots/ control directory: backups started by mkdir
 * (fs_snap.h).
 *
 * The backup runs in a thread of its own through backup_job.c, the same
 * path as `ocb backup`.  Its progress and warnings land in the entry under
 * the lock; readers render them on demand.  Cancelling sets the flag the
 * backup engine polls: it stops, the writer aborts the upload, and nothing
 * is left in the store.
 */
#include "fs_snap.h"
#include "backup_job.h"
#include "inventory.h"
#include "buf.h"
#include "config.h"
#include "group.h"
#include "hooks.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MAX (64u << 10)	/* of an entry's log; later lines dropped */
#define WAITERS_MAX 8		/* blocked readers of `wait` files */

enum snap_state { SNAP_RUNNING, SNAP_DONE, SNAP_FAILED, SNAP_CANCELLED,
		  SNAP_INCOMPLETE, SNAP_WARNINGS };

static const char *const state_name[] = {
	"running", "done", "failed", "cancelled", "incomplete",
	"done-with-warnings",	/* stored; `ocb backup` exits 8 */
};

enum snap_kind {
	SNAP_PLAIN,		/* snapshots/now, snapshots/<label> */
	SNAP_COORDINATE,	/* snapshots/group-<id>: request, own part,
				 * wait for the others, manifest */
	SNAP_ANSWER,		/* this agent's part of a requested group */
};

#define GROUP_PREFIX "group-"

struct snap {
	uint32_t id;
	char name[72];
	int labelled;			/* name is the label ("now" is not) */
	enum snap_kind kind;
	char group[72];			/* the group id, for group entries */
	enum snap_state state;
	time_t started, ended;
	struct timespec t0;		/* monotonic start, for the rate */
	double seconds;			/* when ended */
	struct ocb_backup_progress prog;
	struct ocb_buf log;
	int log_full;
	char backup[512];		/* link target below the root, once done */
	unsigned pins;			/* readers of `wait` blocked on it: it
					 * is neither expired nor freed under
					 * them */
	int removing;			/* an rmdir waits for it to end */
};

struct fs_snap {
	struct fs_snap_opts o;
	pthread_mutex_t lock;
	pthread_cond_t changed;		/* an entry ended, or a waiter was
					 * interrupted */
	struct snap **v;		/* by id */
	size_t n;
	uint32_t next_id;
	struct snap *running;		/* owned through v */
	pthread_t thread;
	int joinable;
	volatile int cancel;
	unsigned waiters;
};

/* ---- entries (lock held) ------------------------------------------------------ */

static void snap_free(struct snap *e)
{
	ocb_buf_release(&e->log);
	free(e);
}

static void log_line(struct snap *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_line(struct snap *e, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (e->log_full)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (e->log.len + strlen(line) + 64 > LOG_MAX) {
		ocb_buf_printf(&e->log, "(more lines not kept)\n");
		e->log_full = 1;
		return;
	}
	ocb_buf_printf(&e->log, "%s\n", line);
}

static void stamp(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* forget finished entries older than keep seconds */
static void expire(struct fs_snap *s)
{
	time_t now = time(NULL);
	size_t i, k = 0;

	for (i = 0; i < s->n; i++) {
		struct snap *e = s->v[i];

		if (e->state != SNAP_RUNNING && !e->pins && !e->removing &&
		    now - e->ended >= (time_t)s->o.keep)
			snap_free(e);
		else
			s->v[k++] = e;
	}
	s->n = k;
}

static struct snap *by_id(struct fs_snap *s, uint32_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {	/* v is sorted by id */
		size_t mid = (lo + hi) / 2;

		if (s->v[mid]->id == id)
			return s->v[mid];
		if (s->v[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct snap *by_name(struct fs_snap *s, const char *name, size_t *at)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->v[i]->name, name)) {
			if (at)
				*at = i;
			return s->v[i];
		}
	return NULL;
}

/* what status shows: a running backup being cancelled says so */
static const char *state_word(const struct fs_snap *s, const struct snap *e)
{
	if (e->state == SNAP_RUNNING && s->cancel)
		return "cancelling";
	return state_name[e->state];
}

/* ---- the backup thread -------------------------------------------------------- */

static void on_progress(void *arg, const struct ocb_backup_progress *p)
{
	struct fs_snap *s = arg;

	pthread_mutex_lock(&s->lock);
	if (s->running)
		s->running->prog = *p;
	pthread_mutex_unlock(&s->lock);
}

/* a line in the running entry's log (none when it has ended) */
static void log_running(struct fs_snap *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_running(struct fs_snap *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->lock);
	if (s->running)
		log_line(s->running, "%s", line);
	pthread_mutex_unlock(&s->lock);
}

static void on_warning(void *arg, const char *path, const char *what)
{
	char esc[512];

	ocb_log_escape(esc, sizeof(esc), path);
	log_running(arg, "warning: %s: %s", esc, what);
}

static void on_hook_line(void *arg, const char *event, const char *line)
{
	char esc[OCB_HOOK_LINE_MAX * 4 + 1];

	ocb_log_escape(esc, sizeof(esc), line);
	log_running(arg, "%s: %s", event, esc);
}

/* the other agents' parts, then the manifest: 1 complete, 0 not, errno */
static int coordinate(struct fs_snap *s, const char *id)
{
	const struct ocb_group_settings *gs = s->o.gs;
	struct ocb_group_finalize f = { 0 };
	int r;

	f.root = s->o.cfg->root;
	f.id = id;
	f.project = gs && gs->project[0] ? gs->project : NULL;
	f.finalizer = s->o.cfg->instance_id;
	f.store_desc = s->o.store->desc;
	f.expect = gs ? (const char *const *)gs->members : NULL;
	f.nexpect = gs ? gs->nmembers : 0;
	f.expect_all = !f.nexpect;
	f.timeout = gs ? gs->timeout : OCB_GROUP_TIMEOUT;
	f.cancel = &s->cancel;
	log_running(s, "waiting up to %u s for the other agents (%s)",
		    f.timeout, f.expect_all ? "every instance under the root" :
		    "group.members");
	r = ocb_group_finalize(s->o.store, &f);
	if (r < 0)
		return r;
	if (s->cancel)
		log_running(s, "cancelled while waiting: manifest written as "
			    "it stood");
	log_running(s, "manifest: %zu agent%s, %s%s%s", f.nagents,
		    f.nagents == 1 ? "" : "s",
		    f.complete ? "complete" : "incomplete",
		    f.missing[0] ? "; missing: " : "", f.missing);
	r = ocb_group_request_remove(s->o.store, f.root, id);
	if (r < 0)
		log_running(s, "warning: the request was not removed: %s",
			    ocb_store_strerror(r));
	return f.complete;
}

static void on_stream_ended(void *arg, int r)
{
	struct fs_snap *s = arg;

	if (r == 0 && s->o.on_new_backup)
		s->o.on_new_backup(s->o.on_new_backup_arg);
}

static void on_post_hook_failed(void *arg, const struct ocb_backup_result *res)
{
	(void)res;
	log_running(arg, "warning: the backup is stored, but the postBackup "
		    "hook failed");
}

static void on_ack_failed(void *arg, int err)
{
	log_running(arg, "warning: the group request was not acknowledged: %s",
		    ocb_store_strerror(err));
}

/* the backup job, told in the entry: 0 when stored, else a negative
 * errno (j->pre_hook_failed: the preBackup hook's) */
static int take_backup(struct fs_snap *s, const char *label,
		       const char *group, struct ocb_backup_job *j,
		       struct ocb_backup_result *res)
{
	const struct ocb_group_settings *gs = s->o.gs;
	const struct ocb_backup_job_report report = {
		.hook_line = on_hook_line,
		.stream_ended = on_stream_ended,
		.ack_failed = on_ack_failed,
		.post_hook_failed = on_post_hook_failed,
		.arg = s,
	};
	int r;

	j->label = label[0] ? label : NULL;
	j->group = group[0] ? group : NULL;
	j->role = !group[0] ? NULL : gs && gs->role[0] ? gs->role : "worker";
	j->count_first = 1;
	j->progress = on_progress;
	j->progress_arg = s;
	j->warning = on_warning;
	j->warning_arg = s;
	j->cancel = &s->cancel;
	j->report = &report;
	/* the mount's order: the postBackup hook, then the group request;
	 * no auto-prune */
	j->post_hook_first = 1;
	r = ocb_backup_job_take(s->o.store, s->o.cfg, s->o.kp, j, res);
	j->report = NULL;
	return r;
}

/* how it ended, in the entry (lock held) */
static void record_end(struct fs_snap *s, struct snap *e, int r,
		       const struct ocb_backup_job *j,
		       const struct ocb_backup_result *res, int complete)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	e->ended = time(NULL);
	e->seconds = (double)(t1.tv_sec - e->t0.tv_sec) +
		(double)(t1.tv_nsec - e->t0.tv_nsec) / 1e9;
	if (j->stale_aborted)
		log_line(e, "aborted %d unfinished upload(s) of earlier backups",
			 j->stale_aborted);
	if (j->pre_hook_failed) {
		e->state = SNAP_FAILED;
		log_line(e, "failed: the preBackup hook failed; no backup taken");
	} else if (r == 0) {
		e->state = !complete ? SNAP_INCOMPLETE :
			res->warnings ? SNAP_WARNINGS : SNAP_DONE;
		e->prog.bytes_stored = res->bytes_stored;
		if (e->kind == SNAP_COORDINATE)
			snprintf(e->backup, sizeof(e->backup), "groups/%s",
				 e->group);
		else
			snprintf(e->backup, sizeof(e->backup), "%s/%s",
				 s->o.inst_name, res->name);
		log_line(e, "done: %s, %" PRIu64 " entries, %" PRIu64
			 " bytes read, %" PRIu64 " bytes stored, %.1f s%s",
			 res->name, res->entries, res->bytes_in,
			 res->bytes_stored, res->seconds,
			 res->warnings ? ", with warnings" : "");
		log_line(e, "SQLite snapshots %" PRIu64 ", changed while read %"
			 PRIu64 ", databases copied raw %" PRIu64 ", warnings %"
			 PRIu64, res->snapshots, res->torn, res->fell_back,
			 res->warnings);
	} else if (r == -ECANCELED) {
		e->state = SNAP_CANCELLED;
		log_line(e, "cancelled: nothing was stored");
	} else {
		e->state = SNAP_FAILED;
		log_line(e, "failed: %s (store %s); nothing was stored",
			 ocb_store_strerror(r), s->o.store->desc);
	}
}

static void *backup_main(void *arg)
{
	struct fs_snap *s = arg;
	struct ocb_backup_result res = { 0 };
	struct ocb_backup_job j = { 0 };
	struct snap *e;
	char label[72] = "", group[72] = "";
	enum snap_kind kind;
	int r = 0, complete = 1;

	pthread_mutex_lock(&s->lock);
	e = s->running;
	if (e->labelled)
		snprintf(label, sizeof(label), "%s", e->name);
	snprintf(group, sizeof(group), "%s", e->group);
	kind = e->kind;
	pthread_mutex_unlock(&s->lock);

	if (kind == SNAP_COORDINATE) {
		/* the other agents' mounts see it at their next refresh */
		r = ocb_group_request(s->o.store, s->o.cfg->root, group,
				      s->o.cfg->instance_id,
				      OCB_GROUP_REQUEST_TTL);
		if (r == 0)
			log_running(s, "requested group backup %s of the fleet",
				    group);
	}
	/* the same job as `ocb backup` */
	if (r == 0)
		r = take_backup(s, label, group, &j, &res);
	if (r == 0 && kind == SNAP_COORDINATE) {
		int c = coordinate(s, group);

		if (c < 0)
			log_running(s, "the manifest was not written: %s",
				    ocb_store_strerror(c));
		complete = c == 1;
		if (c >= 0 && s->o.on_new_backup)	/* groups/<id> shows */
			s->o.on_new_backup(s->o.on_new_backup_arg);
	}
	pthread_mutex_lock(&s->lock);
	record_end(s, e, r, &j, &res, complete);
	ocb_info("snapshot %s: %s", e->name, state_name[e->state]);
	/* from here on e may be expired or removed at any time */
	s->running = NULL;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- the interface ------------------------------------------------------------- */

int fs_snap_new(const struct fs_snap_opts *o, struct fs_snap **out)
{
	struct fs_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->o = *o;
	s->next_id = 1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	*out = s;
	return 0;
}

void fs_snap_free(struct fs_snap *s)
{
	size_t i;

	if (!s)
		return;
	s->cancel = 1;
	if (s->joinable)
		pthread_join(s->thread, NULL);
	for (i = 0; i < s->n; i++)
		snap_free(s->v[i]);
	free(s->v);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int start(struct fs_snap *s, const char *name, enum snap_kind kind,
		 const char *group, uint32_t *id)
{
	struct snap *e = NULL, **nv;
	char ts[32];
	int r = 0;

	pthread_mutex_lock(&s->lock);
	expire(s);
	if (by_name(s, name, NULL)) {
		r = -EEXIST;
		goto out;
	}
	if (s->running) {
		r = -EBUSY;
		goto out;
	}
	if (s->joinable) {		/* the last one has ended: reap it */
		pthread_join(s->thread, NULL);
		s->joinable = 0;
	}
	e = calloc(1, sizeof(*e));
	nv = e ? realloc(s->v, (s->n + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		r = -ENOMEM;
		goto out;
	}
	s->v = nv;
	e->id = s->next_id++;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->labelled = kind == SNAP_PLAIN && strcmp(name, "now") != 0;
	e->kind = kind;
	if (group)
		snprintf(e->group, sizeof(e->group), "%s", group);
	e->state = SNAP_RUNNING;
	e->started = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &e->t0);
	ocb_buf_init(&e->log, LOG_MAX);
	stamp(e->started, ts, sizeof(ts));
	log_line(e, "started %s", ts);
	s->cancel = 0;
	s->running = e;
	if (pthread_create(&s->thread, NULL, backup_main, s) != 0) {
		s->running = NULL;
		snap_free(e);
		e = NULL;
		r = -EAGAIN;
		goto out;
	}
	s->joinable = 1;
	s->v[s->n++] = e;
	if (id)
		*id = e->id;
	e = NULL;
out:
	pthread_mutex_unlock(&s->lock);
	free(e);
	return r;
}

int fs_snap_start(struct fs_snap *s, const char *name, uint32_t *id)
{
	size_t gl = strlen(GROUP_PREFIX);

	if (!strncmp(name, GROUP_PREFIX, gl)) {
		if (!ocb_inventory_label_ok(name + gl) ||
		    strlen(name) >= sizeof(((struct snap *)0)->name))
			return -EINVAL;
		return start(s, name, SNAP_COORDINATE, name + gl, id);
	}
	if (strcmp(name, "now") != 0 && !ocb_inventory_label_ok(name))
		return -EINVAL;
	return start(s, name, SNAP_PLAIN, NULL, id);
}

static int answer_one(void *arg, const char *group)
{
	struct fs_snap *s = arg;
	char name[sizeof(((struct snap *)0)->name)];
	int r;

	if (snprintf(name, sizeof(name), GROUP_PREFIX "%s", group) >=
	    (int)sizeof(name))
		return 0;
	r = start(s, name, SNAP_ANSWER, group, NULL);
	if (r == 0)
		ocb_info("group backup %s requested through the store: started",
			 group);
	/* -EEXIST: answered already (or failed; retried once it expires);
	 * -EBUSY: a backup runs, the next refresh tries again */
	return r == -EBUSY;		/* one at a time: stop */
}

int fs_snap_answer_requests(struct fs_snap *s)
{
	int busy;

	if (s->o.gs && !s->o.gs->answer_requests)
		return 0;
	pthread_mutex_lock(&s->lock);
	busy = s->running != NULL;
	pthread_mutex_unlock(&s->lock);
	if (busy)		/* no request could start now: no listing */
		return 0;
	return ocb_group_pending(s->o.store, s->o.cfg->root,
				 s->o.cfg->instance_id, answer_one, s);
}

int fs_snap_remove(struct fs_snap *s, const char *name)
{
	struct snap *e;
	size_t at;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	e = by_name(s, name, &at);
	if (!e) {
		r = -ENOENT;
		goto out;
	}
	if (e->removing) {		/* another rmdir has it */
		r = -ENOENT;
		goto out;
	}
	e->removing = 1;
	if (e->state == SNAP_RUNNING)
		s->cancel = 1;
	/* until the backup has stopped and no reader of `wait` holds it */
	while (e->state == SNAP_RUNNING || e->pins)
		pthread_cond_wait(&s->changed, &s->lock);
	by_name(s, name, &at);
	memmove(&s->v[at], &s->v[at + 1], (s->n - at - 1) * sizeof(*s->v));
	s->n--;
	snap_free(e);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

int fs_snap_lookup(struct fs_snap *s, const char *name, uint32_t *id)
{
	struct snap *e;
	int r = -ENOENT;

	pthread_mutex_lock(&s->lock);
	expire(s);
	e = by_name(s, name, NULL);
	if (e) {
		*id = e->id;
		r = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void fs_snap_list(struct fs_snap *s, off_t off, fs_snap_dir_fn cb, void *arg)
{
	struct { char name[72]; uint32_t id; } *v = NULL;
	size_t i, n = 0, first = (size_t)(off > 0 ? off : 0);

	/* copied out: cb may call back in (attributes for readdirplus) */
	pthread_mutex_lock(&s->lock);
	expire(s);
	if (first < s->n)
		v = malloc((s->n - first) * sizeof(*v));
	for (i = first; v && i < s->n; i++, n++) {
		memcpy(v[n].name, s->v[i]->name, sizeof(v[n].name));
		v[n].id = s->v[i]->id;
	}
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++)
		if (cb(arg, v[i].name, v[i].id, (off_t)(first + i + 1)))
			break;
	free(v);
}

const char *fs_snap_file_name(enum fs_snap_file f)
{
	static const char *const names[FS_SNAP_NFILES] = {
		"", "status", "progress", "log", "wait", "backup",
	};

	return f > FS_SNAP_DIR && f < FS_SNAP_NFILES ? names[f] : NULL;
}

int fs_snap_stat(struct fs_snap *s, uint32_t id, enum fs_snap_file f,
		 time_t *started)
{
	struct snap *e;
	int r = -ENOENT;

	pthread_mutex_lock(&s->lock);
	e = by_id(s, id);
	if (e && f < FS_SNAP_NFILES && (f != FS_SNAP_BACKUP || e->backup[0])) {
		*started = e->started;
		r = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void render_progress(const struct fs_snap *s, const struct snap *e,
			    struct ocb_buf *out)
{
	const struct ocb_backup_progress *p = &e->prog;
	struct timespec now;
	double secs = e->seconds, rate;

	if (e->state == SNAP_RUNNING) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		secs = (double)(now.tv_sec - e->t0.tv_sec) +
			(double)(now.tv_nsec - e->t0.tv_nsec) / 1e9;
	}
	rate = secs > 0 ? (double)p->bytes_done / secs : 0;
	ocb_buf_printf(out, "state %s\n", state_word(s, e));
	ocb_buf_printf(out, "entries_done %" PRIu64 "\nentries_total %" PRIu64
		       "\n", p->files_done, p->files_total);
	ocb_buf_printf(out, "bytes_done %" PRIu64 "\nbytes_total %" PRIu64
		       "\nbytes_stored %" PRIu64 "\n", p->bytes_done,
		       p->bytes_total, p->bytes_stored);
	ocb_buf_printf(out, "warnings %" PRIu64 "\n", p->warnings);
	ocb_buf_printf(out, "elapsed_seconds %.1f\nrate_bytes_per_second %.0f\n",
		       secs, rate);
	if (e->state != SNAP_RUNNING)
		ocb_buf_printf(out, "eta_seconds 0\n");
	else if (rate > 0 && p->bytes_total >= p->bytes_done)
		ocb_buf_printf(out, "eta_seconds %.0f\n",
			       (double)(p->bytes_total - p->bytes_done) / rate);
	else
		ocb_buf_printf(out, "eta_seconds unknown\n");
}

int fs_snap_render(struct fs_snap *s, uint32_t id, enum fs_snap_file f,
		   struct ocb_buf *out)
{
	struct snap *e;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	e = by_id(s, id);
	if (!e) {
		r = -ENOENT;
		goto out;
	}
	switch (f) {
	case FS_SNAP_STATUS:
		ocb_buf_printf(out, "%s\n", state_word(s, e));
		break;
	case FS_SNAP_PROGRESS:
		render_progress(s, e, out);
		break;
	case FS_SNAP_LOG:
		ocb_buf_append(out, e->log.data, e->log.len);
		break;
	case FS_SNAP_BACKUP:
		if (!e->backup[0])
			r = -ENOENT;
		else
			ocb_buf_printf(out, "../../%s", e->backup);
		break;
	default:
		r = -EINVAL;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

int fs_snap_wait(struct fs_snap *s, uint32_t id, const int *interrupted,
		 struct ocb_buf *out)
{
	struct snap *e;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	e = by_id(s, id);
	if (!e) {
		r = -ENOENT;
		goto out;
	}
	if (e->state == SNAP_RUNNING) {
		if (s->waiters >= WAITERS_MAX) {
			r = -EBUSY;
			goto out;
		}
		s->waiters++;
		e->pins++;
		while (e->state == SNAP_RUNNING && !*interrupted)
			pthread_cond_wait(&s->changed, &s->lock);
		s->waiters--;
		e->pins--;
		pthread_cond_broadcast(&s->changed);	/* for a remover */
		if (e->state == SNAP_RUNNING) {
			r = -EINTR;
			goto out;
		}
	}
	ocb_buf_printf(out, "%s\n", state_name[e->state]);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

void fs_snap_interrupt(struct fs_snap *s, int *flag)
{
	pthread_mutex_lock(&s->lock);
	*flag = 1;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}
