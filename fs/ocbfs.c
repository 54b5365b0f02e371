/*
 * ocbfs.c - mount a backup store: every backup a read-only directory.
 *
 *   ocbfs [-o option,...] [-f] [-d] MOUNTPOINT
 *
 * Options: fs_opts.c; the namespace: fs_tree.c; the FUSE operations:
 * fs_ops.c, which routes them to the namespaces (fs_ns.h); counters:
 * fs_stats.c.  This file wires the layers together, in named steps:
 * command line, config and keys, store stack (S3 or directory, under the
 * disk cache), frame cache, namespace, session.
 */
#include "fs_ops.h"
#include "fs_daemon.h"
#include "buf.h"
#include "cache_store.h"
#include "config.h"
#include "crypto.h"
#include "frame_cache.h"
#include "fs_opts.h"
#include "fs_groups.h"
#include "fs_snap.h"
#include "fs_stats.h"
#include "fs_tree.h"
#include "keys.h"
#include "keys_config.h"
#include "group.h"
#include "log.h"
#include "store_open.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

struct daemon {
	struct fs_ctx ctx;
	struct fs_opts opts;		/* -o options */
	struct fuse_cmdline_opts cl;	/* FUSE's own: mountpoint, -f, -d */
	struct fs_settings set;		/* options and config together */
	struct ocb_config *cfg;
	struct ocb_keyprov *kp;
	struct ocb_group_settings gs;
	struct ocb_store *store;
	char *mountpoint;
	/* kernel notifications from the snapshot thread, until the session
	 * goes away */
	pthread_mutex_t notify_lock;
	struct fuse_session *se;	/* NULL once stopping */
	const char *snap_prefix;	/* where snapshots store backups */
	pthread_t tune;		/* read-ahead tuning, joined at exit */
	int tune_started;
};

static void daemon_stats(struct fs_ctx *c, struct ocb_buf *out)
{
	struct daemon *d = c->priv;

	fs_stats_report(c->st, c->tree, c->fc, d->store, out);
}

/* raise the kernel's read-ahead for this mount: best effort, from a
 * thread, since stat() of our own mountpoint needs the session running */
static void *tune_readahead(void *arg)
{
	struct daemon *d = arg;
	struct stat st;
	char path[128];
	int fd;

	if (stat(d->mountpoint, &st) < 0)
		return NULL;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1024", 4) < 0)
			ocb_debug("read_ahead_kb: %s", strerror(errno));
		close(fd);
	}
	return NULL;
}

static void on_init(struct fs_ctx *c)
{
	struct daemon *d = c->priv;

	if (pthread_create(&d->tune, NULL, tune_readahead, d) == 0)
		d->tune_started = 1;
}

/* a snapshot stored a new backup: list again, so that it shows at once,
 * and have the kernel drop what it keeps of the changed names */
static void new_backup(void *arg)
{
	struct daemon *d = arg;
	const char *inst = NULL;
	uint64_t ino;

	fs_tree_refresh(d->ctx.tree);
	pthread_mutex_lock(&d->notify_lock);
	if (d->se) {
		fuse_lowlevel_notify_inval_entry(d->se, FS_INO_ROOT, "latest", 6);
		fuse_lowlevel_notify_inval_inode(d->se, FS_INO_LATEST, 0, 0);
		if (d->snap_prefix)
			inst = fs_tree_inst_name(d->snap_prefix);
		if (inst && fs_tree_lookup_root(d->ctx.tree, inst, &ino) == 0) {
			fuse_lowlevel_notify_inval_inode(d->se, ino, 0, 0);
			fuse_lowlevel_notify_inval_entry(d->se, ino, "latest", 6);
			fuse_lowlevel_notify_inval_inode(d->se, ino + 1, 0, 0);
		}
	}
	pthread_mutex_unlock(&d->notify_lock);
}

/* after each listing: groups/, and the group backups the fleet asks of
 * this agent through the store */
static void on_refresh(void *arg)
{
	struct daemon *d = arg;
	int r;

	fs_groups_refresh(d->ctx.groups);
	if (d->ctx.snap) {
		r = fs_snap_answer_requests(d->ctx.snap);
		if (r < 0)
			ocb_warn("group requests: %s", ocb_store_strerror(r));
	}
}

static void forget_frames(void *arg, uint64_t aid)
{
	ocb_frame_cache_forget(arg, aid);
}

/*
 * Stopping on SIGTERM, SIGINT, SIGHUP without a signal handler (and so
 * without the global state a handler needs): the signals are blocked in
 * every thread from the start of main(), and one thread takes them with
 * sigwait().  It marks the session exited, then looks up a name that
 * cannot be cached in the mount: the worker serving that request sees the
 * exit and wakes the loop.  A stop by signal is a clean stop (status 0)
 * whatever the workers report while the device goes away.
 */
struct stopper {
	struct fuse_session *se;
	const char *mountpoint;
	sigset_t set;
	pthread_t thread;
	int started;
	atomic_int signal;	/* the signal that stopped the mount, or 0 */
	atomic_int done;	/* the loop has returned: just leave */
};

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

static void *stopper_main(void *arg)
{
	struct stopper *s = arg;
	char path[PATH_MAX];
	struct timespec ts;
	struct stat st;
	int sig;

	while (sigwait(&s->set, &sig) != 0)
		;
	if (atomic_load(&s->done))
		return NULL;
	atomic_store(&s->signal, sig);
	fuse_session_exit(s->se);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(path, sizeof(path), "%s/.ocbfs-stop-%ld-%ld", s->mountpoint,
		 (long)ts.tv_sec, ts.tv_nsec);
	/* answered ENOENT by a worker, which then leaves its loop; if the
	 * loop is already gone, the unmount in main() ends the wait */
	stat(path, &st);
	return NULL;
}

/* once mounted (and detached) */
static int stopper_start(struct stopper *s, struct fuse_session *se,
			 const char *mountpoint)
{
	s->se = se;
	s->mountpoint = mountpoint;
	stop_signals(&s->set);
	atomic_init(&s->signal, 0);
	atomic_init(&s->done, 0);
	if (pthread_create(&s->thread, NULL, stopper_main, s) != 0)
		return -EAGAIN;
	s->started = 1;
	return 0;
}

/* once the loop has returned and the mount is gone */
static void stopper_stop(struct stopper *s)
{
	if (!s->started)
		return;
	atomic_store(&s->done, 1);
	pthread_kill(s->thread, SIGTERM);	/* taken by its sigwait */
	pthread_join(s->thread, NULL);
	s->started = 0;
}

static void syslog_sink(void *arg, enum ocb_log_level level, const char *line)
{
	static const int pri[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	(void)arg;
	syslog(pri[level], "%s", line);
}

/* what every thread inherits: set before the first one exists */
static void process_setup(void)
{
	sigset_t sigs;

	prctl(PR_SET_DUMPABLE, 0);	/* keys live in this process */
	stop_signals(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* many FUSE threads: without a cap each gets its own malloc arena,
	 * and freed frame buffers stay resident per arena.  One arena, not
	 * two: memory freed in one arena is not reused by the threads of
	 * the other, so each grows to its own peak; reading an incremental
	 * backup (buffers of many sizes, freed on other threads) the heap
	 * held 58-60 MiB for 41-43 MiB in use with two, 46-48 with one
	 * (peak RSS 70-73 -> 55-60 MiB, ram_cache 16M).  The allocations
	 * contended for are a few per frame, not per byte. */
	mallopt(M_ARENA_MAX, 1);
	/* frame-sized buffers come and go all the time: keep them in the
	 * heap instead of mapping (and zero-filling) fresh pages each time;
	 * larger ones are mappings of their own (buf.h) */
	mallopt(M_MMAP_THRESHOLD, OCB_BUF_HUGE_MIN);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	ocb_log_set_prog("ocbfs");
}

#define GO_ON (-1)	/* a step's "no exit status yet: go on" */

/* The command line; detaches unless -f.  GO_ON or the exit status (0
 * after --help and --version). */
static int read_command_line(struct daemon *d, struct fuse_args *args,
			     int *detach)
{
	int r;

	if (fs_opts_parse(args, &d->opts) < 0)
		return 2;
	if (d->opts.show_help) {
		fs_opts_usage(args->argv[0]);
		return 0;
	}
	if (d->opts.show_version) {
		printf("ocbfs %s (libfuse %s)\n", OCB_VERSION, fuse_pkgversion());
		return 0;
	}
	if (fuse_parse_cmdline(args, &d->cl) != 0)
		return 2;
	if (!d->cl.mountpoint) {
		fprintf(stderr, "ocbfs: no mountpoint (see ocbfs --help)\n");
		return 2;
	}
	ocb_log_set_level(d->cl.debug ? OCB_LOG_DEBUG : OCB_LOG_WARN);
	/* detach now, while this is the only thread: the caller waits for
	 * the mount (or its failure) and exits with our status */
	if (!d->cl.foreground) {
		r = fs_daemon_start(detach);
		if (r < 0) {
			fprintf(stderr, "ocbfs: cannot detach: %s\n",
				strerror(-r));
			return 2;
		}
	}
	/* in OpenSSL's locked secure heap, best effort; after the fork,
	 * which would drop the lock */
	if (ocb_crypto_secure_heap_init() != 0)
		ocb_debug("secure heap not locked: keys are mlock'ed one by one");
	return GO_ON;
}

/* config, settings, keys: GO_ON or the exit status */
static int load_config(struct daemon *d)
{
	if (ocb_config_load(d->opts.config, &d->cfg) < 0)
		return 3;
	if (fs_opts_settings(&d->opts, d->cfg, &d->set) < 0)
		return 2;
	if (ocb_keyprov_from_config(d->cfg, d->cl.foreground, &d->kp) < 0)
		return 3;
	return GO_ON;
}

/* the store (S3 or directory) under the disk cache, the frame cache and
 * the counters; old-tool backups are read below the disk cache */
static int open_store_stack(struct daemon *d, struct fs_tree_opts *to)
{
	int r = ocb_store_open(d->cfg, &d->store);

	if (r < 0) {
		fprintf(stderr, "ocbfs: cannot open store %s: %s\n",
			d->cfg->store_url, ocb_store_strerror(r));
		return -1;
	}
	to->legacy_store = d->store;
	to->cache_dir = d->set.cache_dir;
	if (d->set.cache_dir) {
		r = ocb_cache_store_new(d->store, d->set.cache_dir,
					d->set.cache_size, &d->store);
		if (r < 0) {
			d->store = NULL;	/* freed by the failed layer */
			return -1;
		}
	}
	if (ocb_frame_cache_new(d->set.ram_cache, &d->ctx.fc) < 0 ||
	    fs_stats_new(&d->ctx.st) < 0)
		return -1;
	return 0;
}

/* the namespace: the tree of instances and backups, groups/, and
 * snapshots/ when on.  GO_ON or the exit status. */
static int open_namespace(struct daemon *d, struct fs_tree_opts *to)
{
	to->store = d->store;
	to->kp = d->kp;
	to->root = d->cfg->root;
	to->prefix = d->set.prefix;
	to->check_latest = 1;
	to->refresh = d->set.refresh;
	to->on_close = forget_frames;
	to->on_close_arg = d->ctx.fc;
	to->phys = ocb_frame_cache_phys(d->ctx.fc);
	to->snapshots = d->set.snapshots;
	if (fs_groups_new(d->store, d->cfg->root, &d->ctx.groups) < 0)
		return 1;
	to->groups = 1;
	to->on_refresh = on_refresh;
	to->on_refresh_arg = d;
	if (ocb_group_settings_load(d->cfg, &d->gs) < 0)
		return 3;
	if (fs_tree_new(to, &d->ctx.tree) < 0)
		return 1;
	pthread_mutex_init(&d->notify_lock, NULL);
	if (d->set.snapshots) {
		struct fs_snap_opts so = {
			.store = d->store,
			.cfg = d->cfg,
			.kp = d->kp,
			.inst_name = fs_tree_inst_name(d->cfg->prefix ?
						       d->cfg->prefix : ""),
			.keep = d->set.snapshot_keep,
			.gs = &d->gs,
			.on_new_backup = new_backup,
			.on_new_backup_arg = d,
		};

		d->snap_prefix = d->cfg->prefix;
		if (fs_snap_new(&so, &d->ctx.snap) < 0)
			return 1;
	}
	return GO_ON;
}

/* every layer below the session: GO_ON or the exit status */
static int open_layers(struct daemon *d)
{
	struct fs_tree_opts to = { 0 };
	int rc = load_config(d);

	if (rc != GO_ON)
		return rc;
	if (open_store_stack(d, &to) < 0)
		return 1;
	rc = open_namespace(d, &to);
	if (rc != GO_ON)
		return rc;
	d->ctx.uid = getuid();
	d->ctx.gid = getgid();
	d->ctx.started = time(NULL);
	d->ctx.stats = daemon_stats;
	d->ctx.init_done = on_init;
	d->ctx.priv = d;
	d->mountpoint = d->cl.mountpoint;
	return GO_ON;
}

/* serve requests until unmounted or stopped: the loop's result */
static int serve_requests(struct daemon *d, struct fuse_session *se)
{
	struct fuse_loop_config *lc;
	int r;

	if (d->cl.singlethread)
		return fuse_session_loop(se);
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, d->cl.clone_fd);
	fuse_loop_cfg_set_max_threads(lc, d->cl.max_threads &&
				      d->cl.max_threads <= 1000 ?
				      d->cl.max_threads : 16);
	if (d->cl.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(lc, d->cl.max_idle_threads);
	r = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return r;
}

/* mount, tell the waiting parent, serve, unmount: the exit status */
static int run_mount(struct daemon *d, struct fuse_args *args, int *detach)
{
	struct stopper stop = { 0 };
	struct fuse_session *se;
	int r, rc = 1;

	if (fs_opts_mount_args(&d->opts, args) < 0)
		return 1;
	se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), &d->ctx);
	if (!se)
		return 1;
	d->se = se;
	if (fuse_session_mount(se, d->cl.mountpoint) != 0)
		goto out;
	if (fs_daemon_ready(detach) < 0)
		goto out_unmount;
	if (!d->cl.foreground) {
		openlog("ocbfs", LOG_PID, LOG_DAEMON);
		ocb_log_set_sink(syslog_sink, NULL);
	}
	if (stopper_start(&stop, se, d->cl.mountpoint) < 0)
		goto out_unmount;
	fs_tree_start(d->ctx.tree);
	r = serve_requests(d, se);
	fs_tree_stop(d->ctx.tree);
	rc = r < 0 && !atomic_load(&stop.signal) ? 1 : 0;
out_unmount:
	pthread_mutex_lock(&d->notify_lock);
	d->se = NULL;
	pthread_mutex_unlock(&d->notify_lock);
	fuse_session_unmount(se);
	stopper_stop(&stop);
	/* the loop's workers are joined: tune_started is settled */
	if (d->tune_started)
		pthread_join(d->tune, NULL);
out:
	fuse_session_destroy(se);
	return rc;
}

static void daemon_release(struct daemon *d)
{
	/* a running snapshot is cancelled (its upload aborted); requests it
	 * had in flight on the mount failed when the session closed */
	fs_snap_free(d->ctx.snap);
	/* read-ahead workers use archives: stop them before the tree goes */
	ocb_frame_cache_free(d->ctx.fc);
	fs_tree_free(d->ctx.tree);
	fs_groups_free(d->ctx.groups);
	fs_stats_free(d->ctx.st);
	ocb_store_free(d->store);
	ocb_keyprov_free(d->kp);
	ocb_group_settings_release(&d->gs);
	ocb_config_free(d->cfg);
	fs_settings_release(&d->set);
	fs_opts_release(&d->opts);
	free(d->cl.mountpoint);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daemon d = { 0 };
	int detach = -1;
	int rc;

	process_setup();
	rc = read_command_line(&d, &args, &detach);
	if (rc == GO_ON)
		rc = open_layers(&d);
	if (rc == GO_ON)
		rc = run_mount(&d, &args, &detach);
	daemon_release(&d);
	fuse_opt_free_args(&args);
	fs_daemon_fail(&detach, rc);	/* when it failed before ready */
	return rc;
}
