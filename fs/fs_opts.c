/*
 * fs_opts.c - ocbfs's option table, help text and settings.
 *
 * Values are taken as strings and checked here, so a bad one is reported
 * with the option's name before anything is mounted (fuse_opt's %d would
 * take "-5" or stop at "10x").
 */
#define FUSE_USE_VERSION 314
#include "fs_opts.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT_STR(t, p) { t, offsetof(struct fs_opts, p), 0 }
#define OPT_FLAG(t, p) { t, offsetof(struct fs_opts, p), 1 }

static const struct fuse_opt opt_spec[] = {
	OPT_STR("config=%s", config),
	OPT_STR("instance=%s", instance),
	OPT_STR("cache_dir=%s", cache_dir),
	OPT_STR("cache_size=%s", cache_size),
	OPT_STR("ram_cache=%s", ram_cache),
	OPT_STR("refresh=%s", refresh),
	OPT_STR("snapshot_keep=%s", snapshot_keep),
	OPT_FLAG("nosnapshots", no_snapshots),
	OPT_FLAG("allow_other", allow_other),
	OPT_FLAG("-h", show_help),
	OPT_FLAG("--help", show_help),
	OPT_FLAG("-V", show_version),
	OPT_FLAG("--version", show_version),
	FUSE_OPT_END
};

int fs_opts_parse(struct fuse_args *args, struct fs_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (fuse_opt_parse(args, o, opt_spec, NULL) < 0)
		return -EINVAL;
	return 0;
}

void fs_opts_release(struct fs_opts *o)
{
	if (!o)
		return;
	free(o->config);
	free(o->instance);
	free(o->cache_dir);
	free(o->cache_size);
	free(o->ram_cache);
	free(o->refresh);
	free(o->snapshot_keep);
	memset(o, 0, sizeof(*o));
}

void fs_opts_usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "\n"
	       "Mount the configured backup store read-only: one directory per\n"
	       "instance, one per backup, read lazily and verified.\n"
	       "\n"
	       "    MOUNTPOINT/<instance>/<backup>/...   the files of a backup\n"
	       "    MOUNTPOINT/<instance>/latest         -> its newest backup\n"
	       "    MOUNTPOINT/latest                    -> <instance>/latest\n"
	       "    MOUNTPOINT/.ocbfs/stats              runtime counters\n"
	       "    mkdir MOUNTPOINT/snapshots/now       take a backup now (also\n"
	       "                                         snapshots/LABEL)\n"
	       "\n"
	       "ocbfs options (defaults from the configuration file; the\n"
	       "command line wins):\n"
	       "    -o config=PATH       configuration file (default: $OCB_CONFIG,\n"
	       "                         ~/.config/ocb/config.json, /etc/ocb/config.json)\n"
	       "    -o instance=ID       the instance whose newest backup `latest`\n"
	       "                         shows (default: the config's instanceId)\n"
	       "    -o ram_cache=SIZE    decrypted frames kept in RAM (config\n"
	       "                         cache.ram, default 256M)\n"
	       "    -o cache_dir=DIR     on-disk cache of encrypted bytes (config\n"
	       "                         cache.dir, default ~/.cache/ocbfs; empty: off)\n"
	       "    -o cache_size=SIZE   on-disk cache bound (config cache.size,\n"
	       "                         default 2G; 0 turns the disk cache off)\n"
	       "    -o refresh=SECONDS   how often new backups are looked for (config\n"
	       "                         mount.refresh, default 30; 0: never)\n"
	       "    -o snapshot_keep=SECONDS  how long finished snapshots/ entries\n"
	       "                         stay listed (default 86400)\n"
	       "    -o nosnapshots       no snapshots/ directory; the mount is then\n"
	       "                         flagged read-only\n"
	       "    -o allow_other       let other users in (then default_permissions\n"
	       "                         enforces the backed-up modes)\n"
	       "    -f                   stay in the foreground (log to stderr;\n"
	       "                         else to syslog)\n"
	       "    -d, -o debug         debug output (implies -f)\n"
	       "    -h, --help           this text\n"
	       "    -V, --version        print the version\n"
	       "SIZE: a number of bytes with an optional K, M, G or T suffix.\n"
	       "\n"
	       "Everything but mkdir and rmdir in snapshots/ is read-only (writes\n"
	       "fail with EROFS).  Unmount with\n"
	       "fusermount3 -u MOUNTPOINT, or stop ocbfs with SIGTERM.\n"
	       "\n"
	       "libfuse options:\n", prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* an instance id becomes one path component of the store's keys */
static int instance_ok(const char *id)
{
	const char *p;

	if (!*id || !strcmp(id, ".") || !strcmp(id, "..") || strlen(id) > 200)
		return 0;
	for (p = id; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int parse_seconds(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > FS_REFRESH_MAX)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* the daemon has not detached yet: straight to stderr */
static int bad(const char *opt, const char *value)
{
	char esc[128];

	fprintf(stderr, "ocbfs: bad value for -o %s: \"%s\" (see ocbfs --help)\n",
		opt, ocb_log_escape(esc, sizeof(esc), value));
	return -EINVAL;
}

int fs_opts_settings(const struct fs_opts *o, const struct ocb_config *cfg,
		     struct fs_settings *out)
{
	struct fs_settings s = { 0 };
	const char *dir;
	int r = -ENOMEM;

	s.ram_cache = cfg->ram_cache;
	s.cache_size = cfg->cache_size;
	s.refresh = cfg->refresh;
	if (o->ram_cache && (ocb_config_parse_size(o->ram_cache, &s.ram_cache) < 0 ||
			     s.ram_cache == 0)) {
		r = bad("ram_cache", o->ram_cache);
		goto out;
	}
	if (o->cache_size && ocb_config_parse_size(o->cache_size, &s.cache_size) < 0) {
		r = bad("cache_size", o->cache_size);
		goto out;
	}
	if (o->refresh && parse_seconds(o->refresh, &s.refresh) < 0) {
		r = bad("refresh", o->refresh);
		goto out;
	}
	s.snapshots = !o->no_snapshots;
	s.snapshot_keep = 86400;
	if (o->snapshot_keep && parse_seconds(o->snapshot_keep,
					      &s.snapshot_keep) < 0) {
		r = bad("snapshot_keep", o->snapshot_keep);
		goto out;
	}
	if (o->instance) {
		const char *id = o->instance;
		const char *root = cfg->root ? cfg->root : "";

		if (!strncmp(id, "instance-", 9))
			id += 9;
		if (!instance_ok(id)) {
			r = bad("instance", o->instance);
			goto out;
		}
		if (asprintf(&s.prefix, "%s%sinstance-%s", root, *root ? "/" : "",
			     id) < 0) {
			s.prefix = NULL;
			goto out;
		}
	} else if (cfg->prefix) {
		s.prefix = strdup(cfg->prefix);
		if (!s.prefix)
			goto out;
	}
	dir = o->cache_dir ? o->cache_dir : cfg->cache_dir;
	if (dir && *dir && s.cache_size) {
		s.cache_dir = strdup(dir);
		if (!s.cache_dir)
			goto out;
	} else {
		s.cache_size = 0;
	}
	*out = s;
	return 0;
out:
	fs_settings_release(&s);
	return r;
}

void fs_settings_release(struct fs_settings *s)
{
	if (!s)
		return;
	free(s->prefix);
	free(s->cache_dir);
	memset(s, 0, sizeof(*s));
}

int fs_opts_mount_args(const struct fs_opts *o, struct fuse_args *args)
{
	if (fuse_opt_add_arg(args, "-ofsname=ocbfs") ||
	    fuse_opt_add_arg(args, "-osubtype=ocbfs") ||
	    (o->no_snapshots && fuse_opt_add_arg(args, "-oro")))
		return -ENOMEM;
	if (o->allow_other &&
	    (fuse_opt_add_arg(args, "-oallow_other") ||
	     fuse_opt_add_arg(args, "-odefault_permissions")))
		return -ENOMEM;
	return 0;
}
