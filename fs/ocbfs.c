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
#include "buf.h"
#include "cache_store.h"
#include "config.h"
#include "frame_cache.h"
#include "fs_opts.h"
#include "fs_stats.h"
#include "fs_tree.h"
#include "keys.h"
#include "keys_config.h"
#include "log.h"
#include "store_open.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
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
	pthread_t t;

	if (pthread_create(&t, NULL, tune_readahead, d) == 0)
		pthread_detach(t);
}

static void forget_frames(void *arg, uint64_t aid)
{
	ocb_frame_cache_forget(arg, aid);
}

/* a stop asked for by a signal is a clean stop, whatever the loop's
 * worker threads report while the device goes away */
static struct fuse_session *stop_se;
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
	if (stop_se)
		fuse_session_exit(stop_se);
}

static void install_stop_signals(struct fuse_session *se)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	stop_se = se;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
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
	int r, rc = 2;

	prctl(PR_SET_DUMPABLE, 0);	/* keys live in this process */
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
	to.refresh = set.refresh;
	to.on_close = forget_frames;
	to.on_close_arg = d.ctx.fc;
	if (fs_tree_new(&to, &d.ctx.tree) < 0)
		goto out;
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
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	install_stop_signals(se);
	if (fuse_session_mount(se, cl.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cl.foreground);
	if (!cl.foreground) {
		openlog("ocbfs", LOG_PID, LOG_DAEMON);
		ocb_log_set_sink(syslog_sink, NULL);
	}
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
	fuse_session_unmount(se);
	/* a positive value is the signal that ended the loop: a clean stop */
	rc = r < 0 && !stop_signal ? 1 : 0;
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	/* read-ahead workers use archives: stop them before the tree goes */
	ocb_frame_cache_free(d.ctx.fc);
	fs_tree_free(d.ctx.tree);
	fs_stats_free(d.ctx.st);
	ocb_store_free(d.store);
	ocb_keyprov_free(kp);
	ocb_config_free(cfg);
	fs_settings_release(&set);
	fs_opts_release(&o);
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
