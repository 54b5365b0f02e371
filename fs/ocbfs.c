/*
 * ocbfs.c - mount a backup store: every backup a read-only directory.
 *
 *   ocbfs [-o option,...] [-f] [-d] MOUNTPOINT
 *
 * Options: fs_opts.c; the namespace: fs_tree.c; the FUSE operations:
 * fs_ops.c; counters: fs_stats.c.  This file wires the layers together:
 * config, store stack (S3 or directory, under the disk cache), keys,
 * frame cache, namespace, session.
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

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl = { 0 };
	struct fs_opts o = { 0 };
	struct fs_settings set = { 0 };
	struct daemon d = { 0 };
	struct ocb_config *cfg = NULL;
	struct ocb_keyprov *kp = NULL;
	struct fuse_session *se = NULL;
	struct fs_tree_opts to = { 0 };
	struct stopper stop = { 0 };
	struct ocb_group_settings gs = { 0 };
	sigset_t sigs;
	int detach = -1;
	int r, rc = 2;

	prctl(PR_SET_DUMPABLE, 0);	/* keys live in this process */
	/* before any thread exists, so that every thread inherits it */
	stop_signals(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* many FUSE threads: without a cap each gets its own malloc arena,
	 * and freed frame buffers stay resident per arena */
	mallopt(M_ARENA_MAX, 2);
	/* frame-sized buffers come and go all the time: keep them in the
	 * heap instead of mapping (and zero-filling) fresh pages each time */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	ocb_log_set_prog("ocbfs");
	if (fs_opts_parse(&args, &o) < 0)
		goto out;
	if (o.show_help) {
		fs_opts_usage(argv[0]);
		rc = 0;
		goto out;
	}
	if (o.show_version) {
		printf("ocbfs %s (libfuse %s)\n", OCB_VERSION, fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &cl) != 0)
		goto out;
	if (!cl.mountpoint) {
		fprintf(stderr, "ocbfs: no mountpoint (see ocbfs --help)\n");
		goto out;
	}
	ocb_log_set_level(cl.debug ? OCB_LOG_DEBUG : OCB_LOG_WARN);
	/* detach now, while this is the only thread: the caller waits for
	 * the mount (or its failure) and exits with our status */
	if (!cl.foreground) {
		r = fs_daemon_start(&detach);
		if (r < 0) {
			fprintf(stderr, "ocbfs: cannot detach: %s\n",
				strerror(-r));
			goto out;
		}
	}
	/* in OpenSSL's locked secure heap, best effort; after the fork,
	 * which would drop the lock */
	if (ocb_crypto_secure_heap_init() != 0)
		ocb_debug("secure heap not locked: keys are mlock'ed one by one");
	rc = 3;
	if (ocb_config_load(o.config, &cfg) < 0)
		goto out;
	rc = 2;
	if (fs_opts_settings(&o, cfg, &set) < 0)
		goto out;
	rc = 3;
	if (ocb_keyprov_from_config(cfg, cl.foreground, &kp) < 0)
		goto out;
	rc = 1;
	r = ocb_store_open(cfg, &d.store);
	if (r < 0) {
		fprintf(stderr, "ocbfs: cannot open store %s: %s\n",
			cfg->store_url, ocb_store_strerror(r));
		goto out;
	}
	to.legacy_store = d.store;	/* below the disk cache */
	to.cache_dir = set.cache_dir;
	if (set.cache_dir) {
		r = ocb_cache_store_new(d.store, set.cache_dir, set.cache_size,
					&d.store);
		if (r < 0) {
			d.store = NULL;		/* freed by the failed layer */
			goto out;
		}
	}
	if (ocb_frame_cache_new(set.ram_cache, &d.ctx.fc) < 0 ||
	    fs_stats_new(&d.ctx.st) < 0)
		goto out;
	to.store = d.store;
	to.kp = kp;
	to.root = cfg->root;
	to.prefix = set.prefix;
	to.check_latest = 1;
	to.refresh = set.refresh;
	to.on_close = forget_frames;
	to.on_close_arg = d.ctx.fc;
	to.snapshots = set.snapshots;
	if (fs_groups_new(d.store, cfg->root, &d.ctx.groups) < 0)
		goto out;
	to.groups = 1;
	to.on_refresh = on_refresh;
	to.on_refresh_arg = &d;
	if (ocb_group_settings_load(cfg, &gs) < 0) {
		rc = 3;
		goto out;
	}
	if (fs_tree_new(&to, &d.ctx.tree) < 0)
		goto out;
	pthread_mutex_init(&d.notify_lock, NULL);
	if (set.snapshots) {
		struct fs_snap_opts so = {
			.store = d.store,
			.cfg = cfg,
			.kp = kp,
			.inst_name = fs_tree_inst_name(cfg->prefix ? cfg->prefix : ""),
			.keep = set.snapshot_keep,
			.gs = &gs,
			.on_new_backup = new_backup,
			.on_new_backup_arg = &d,
		};

		d.snap_prefix = cfg->prefix;
		if (fs_snap_new(&so, &d.ctx.snap) < 0)
			goto out;
	}
	d.ctx.uid = getuid();
	d.ctx.gid = getgid();
	d.ctx.started = time(NULL);
	d.ctx.stats = daemon_stats;
	d.ctx.init_done = on_init;
	d.ctx.priv = &d;
	d.mountpoint = cl.mountpoint;

	if (fs_opts_mount_args(&o, &args) < 0)
		goto out;
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &d.ctx);
	if (!se)
		goto out;
	d.se = se;
	if (fuse_session_mount(se, cl.mountpoint) != 0)
		goto out;
	if (fs_daemon_ready(&detach) < 0)
		goto out_unmount;
	if (!cl.foreground) {
		openlog("ocbfs", LOG_PID, LOG_DAEMON);
		ocb_log_set_sink(syslog_sink, NULL);
	}
	if (stopper_start(&stop, se, cl.mountpoint) < 0)
		goto out_unmount;
	fs_tree_start(d.ctx.tree);
	if (cl.singlethread) {
		r = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(lc, cl.clone_fd);
		fuse_loop_cfg_set_max_threads(lc, cl.max_threads &&
					      cl.max_threads <= 1000 ?
					      cl.max_threads : 16);
		if (cl.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc, cl.max_idle_threads);
		r = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fs_tree_stop(d.ctx.tree);
	rc = r < 0 && !atomic_load(&stop.signal) ? 1 : 0;
out_unmount:
	pthread_mutex_lock(&d.notify_lock);
	d.se = NULL;
	pthread_mutex_unlock(&d.notify_lock);
	fuse_session_unmount(se);
	stopper_stop(&stop);
	/* the loop's workers are joined: tune_started is settled */
	if (d.tune_started)
		pthread_join(d.tune, NULL);
out:
	if (se)
		fuse_session_destroy(se);
	/* a running snapshot is cancelled (its upload aborted); requests it
	 * had in flight on the mount failed when the session closed */
	fs_snap_free(d.ctx.snap);
	/* read-ahead workers use archives: stop them before the tree goes */
	ocb_frame_cache_free(d.ctx.fc);
	fs_tree_free(d.ctx.tree);
	fs_groups_free(d.ctx.groups);
	fs_stats_free(d.ctx.st);
	ocb_store_free(d.store);
	ocb_keyprov_free(kp);
	ocb_group_settings_release(&gs);
	ocb_config_free(cfg);
	fs_settings_release(&set);
	fs_opts_release(&o);
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	fs_daemon_fail(&detach, rc);	/* when it failed before ready */
	return rc;
}
