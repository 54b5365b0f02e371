/*
 * ocbfs.c - mount a backup store: every backup a read-only directory.
 *
 *   ocbfs [-o option,...] [-f] [-d] MOUNTPOINT
 *
 * Options come from one table (fuse_opt); defaults from the config file,
 * the command line wins.
 */
#include "fs_ops.h"
#include "buf.h"
#include "cache_store.h"
#include "config.h"
#include "frame_cache.h"
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

struct opts {
	char *config;
	char *instance;
	char *cache_dir;
	char *cache_size;
	char *ram_cache;
	int refresh;
	int allow_other;
	int show_help;
	int show_version;
};

#define OPT(t, p) { t, offsetof(struct opts, p), 1 }
static const struct fuse_opt opt_spec[] = {
	OPT("config=%s", config),
	OPT("instance=%s", instance),
	OPT("cache_dir=%s", cache_dir),
	OPT("cache_size=%s", cache_size),
	OPT("ram_cache=%s", ram_cache),
	OPT("refresh=%d", refresh),
	{ "allow_other", offsetof(struct opts, allow_other), 1 },
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "\n"
	       "Mount the configured backup store read-only: one directory per\n"
	       "instance, one per backup, read lazily and verified.\n"
	       "\n"
	       "ocbfs options:\n"
	       "    -o config=PATH       configuration file (default: $OCB_CONFIG,\n"
	       "                         ~/.config/ocb/config.json, /etc/ocb/config.json)\n"
	       "    -o instance=ID       the instance whose backups `latest` shows\n"
	       "    -o ram_cache=SIZE    decrypted frames kept in RAM (default 256M)\n"
	       "    -o cache_dir=DIR     on-disk cache of encrypted bytes (default\n"
	       "                         ~/.cache/ocbfs; cache_size=0 turns it off)\n"
	       "    -o cache_size=SIZE   on-disk cache bound (default 2G)\n"
	       "    -o refresh=SECONDS   how often new backups are looked for (30)\n"
	       "    -o allow_other       let other users in (then default_permissions\n"
	       "                         enforces the backed-up modes)\n"
	       "    -f                   stay in the foreground\n"
	       "    -d, -o debug         debug output (implies -f)\n"
	       "    -V, --version        print the version\n"
	       "\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n"
	       "\n", prog);
	fuse_lowlevel_help();
}

struct daemon {
	struct fs_ctx ctx;
	struct ocb_store *store;
	char *mountpoint;
};

static void daemon_stats(struct fs_ctx *c, struct ocb_buf *out)
{
	struct daemon *d = c->priv;

	ocb_buf_printf(out, "uptime_seconds %ld\n", (long)(time(NULL) - c->started));
	fs_tree_stats(c->tree, out);
	ocb_frame_cache_stats(c->fc, out);
	d->store->ops->stats(d->store, out);
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
	struct opts o = { .refresh = -1 };
	struct daemon d = { 0 };
	struct ocb_config *cfg = NULL;
	struct ocb_keyprov *kp = NULL;
	struct fuse_session *se = NULL;
	struct fs_tree_opts to = { 0 };
	char *prefix = NULL;
	uint64_t ram;
	int r, rc = 1;

	prctl(PR_SET_DUMPABLE, 0);	/* keys live in this process */
	/* many FUSE threads: without a cap each gets its own malloc arena,
	 * and freed frame buffers stay resident per arena */
	mallopt(M_ARENA_MAX, 2);
	/* frame-sized buffers come and go all the time: keep them in the
	 * heap instead of mapping (and zero-filling) fresh pages each time */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	ocb_log_set_prog("ocbfs");
	if (fuse_opt_parse(&args, &o, opt_spec, NULL) < 0)
		return 2;
	if (o.show_help) {
		usage(argv[0]);
		return 0;
	}
	if (o.show_version) {
		printf("ocbfs %s (libfuse %s)\n", OCB_VERSION, fuse_pkgversion());
		return 0;
	}
	if (fuse_parse_cmdline(&args, &cl) != 0)
		return 2;
	if (!cl.mountpoint) {
		fprintf(stderr, "ocbfs: no mountpoint (see ocbfs --help)\n");
		goto out;
	}
	if (cl.debug)
		ocb_log_set_level(OCB_LOG_DEBUG);
	else
		ocb_log_set_level(OCB_LOG_WARN);
	r = ocb_config_load(o.config, &cfg);
	if (r < 0) {
		rc = 3;
		goto out;
	}
	if (o.instance) {
		if (asprintf(&prefix, "%s%s%s", cfg->root, *cfg->root ? "/" : "",
			     !strncmp(o.instance, "instance-", 9) ? o.instance :
			     "") < 0 || !prefix)
			goto out;
		if (strncmp(o.instance, "instance-", 9)) {
			free(prefix);
			if (asprintf(&prefix, "%s%sinstance-%s", cfg->root,
				     *cfg->root ? "/" : "", o.instance) < 0)
				goto out;
		}
	}
	ram = cfg->ram_cache;
	if (o.ram_cache && ocb_config_parse_size(o.ram_cache, &ram) < 0) {
		fprintf(stderr, "ocbfs: bad ram_cache size %s\n", o.ram_cache);
		rc = 2;
		goto out;
	}
	r = ocb_keyprov_from_config(cfg, cl.foreground, &kp);
	if (r < 0) {
		rc = 3;
		goto out;
	}
	r = ocb_store_open(cfg, &d.store);
	if (r < 0) {
		fprintf(stderr, "ocbfs: cannot open store %s: %s\n",
			cfg->store_url, ocb_store_strerror(r));
		goto out;
	}
	{
		const char *cdir = o.cache_dir ? o.cache_dir : cfg->cache_dir;
		uint64_t csize = cfg->cache_size;

		if (o.cache_size && ocb_config_parse_size(o.cache_size, &csize) < 0) {
			fprintf(stderr, "ocbfs: bad cache_size %s\n", o.cache_size);
			rc = 2;
			goto out;
		}
		if (cdir && *cdir && csize) {
			r = ocb_cache_store_new(d.store, cdir, csize, &d.store);
			if (r < 0) {
				d.store = NULL;
				goto out;
			}
		}
	}
	r = ocb_frame_cache_new(ram, &d.ctx.fc);
	if (r < 0)
		goto out;
	to.store = d.store;
	to.kp = kp;
	to.root = cfg->root;
	to.prefix = prefix ? prefix : cfg->prefix;
	to.refresh = o.refresh >= 0 ? (unsigned)o.refresh : cfg->refresh;
	to.on_close = forget_frames;
	to.on_close_arg = d.ctx.fc;
	r = fs_tree_new(&to, &d.ctx.tree);
	if (r < 0)
		goto out;
	d.ctx.uid = getuid();
	d.ctx.gid = getgid();
	d.ctx.started = time(NULL);
	d.ctx.stats = daemon_stats;
	d.ctx.init_done = on_init;
	d.ctx.priv = &d;
	pthread_mutex_init(&d.ctx.fh_lock, NULL);
	d.mountpoint = cl.mountpoint;

	fuse_opt_add_arg(&args, "-ofsname=ocbfs");
	fuse_opt_add_arg(&args, "-osubtype=ocbfs");
	fuse_opt_add_arg(&args, "-oro");
	if (o.allow_other) {
		fuse_opt_add_arg(&args, "-oallow_other");
		fuse_opt_add_arg(&args, "-odefault_permissions");
	}
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
	ocb_store_free(d.store);
	ocb_keyprov_free(kp);
	ocb_config_free(cfg);
	free(prefix);
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	free(o.config);
	free(o.instance);
	free(o.cache_dir);
	free(o.cache_size);
	free(o.ram_cache);
	return rc;
}
