/*
 * test_fs_opts.c - ocbfs's options: the table, precedence over the config
 * file, refused values, the mount options always added.
 */
#define FUSE_USE_VERSION 314
#include "t.h"
#include "config.h"
#include "fs_opts.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>

static struct ocb_config base_cfg(void)
{
	struct ocb_config c;

	memset(&c, 0, sizeof(c));
	c.root = "top";
	c.prefix = "top/instance-me";
	c.cache_dir = "/var/cache/x";
	c.cache_size = 1000;
	c.ram_cache = 2000;
	c.refresh = 30;
	return c;
}

static int has_arg(const struct fuse_args *a, const char *s)
{
	int i;

	for (i = 0; i < a->argc; i++)
		if (!strcmp(a->argv[i], s))
			return 1;
	return 0;
}

static void test_parse(void)
{
	char *argv[] = { "ocbfs", "-o", "config=/c.json,instance=abc,refresh=5",
			 "-o", "allow_other,ram_cache=64M,max_read=131072",
			 "-f", "/mnt", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(7, argv);
	struct fuse_cmdline_opts cl = { 0 };
	struct fs_opts o;

	CHECK_INT(fs_opts_parse(&args, &o), 0);
	CHECK_STR(o.config, "/c.json");
	CHECK_STR(o.instance, "abc");
	CHECK_STR(o.refresh, "5");
	CHECK_STR(o.ram_cache, "64M");
	CHECK(o.cache_dir == NULL && o.cache_size == NULL);
	CHECK_INT(o.allow_other, 1);
	CHECK_INT(o.show_help, 0);
	/* ours are taken out; libfuse's own stay for it */
	CHECK_INT(fuse_parse_cmdline(&args, &cl), 0);
	CHECK_STR(cl.mountpoint, "/mnt");
	CHECK_INT(cl.foreground, 1);
	CHECK_INT(fs_opts_mount_args(&o, &args), 0);
	CHECK(!has_arg(&args, "-oro"));		/* snapshots/ takes mkdir */
	CHECK(has_arg(&args, "-ofsname=ocbfs"));
	CHECK(has_arg(&args, "-osubtype=ocbfs"));
	CHECK(has_arg(&args, "-oallow_other"));
	CHECK(has_arg(&args, "-odefault_permissions"));
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	fs_opts_release(&o);
	fs_opts_release(NULL);
}

static void test_flags(void)
{
	char *argv1[] = { "ocbfs", "--help", NULL };
	char *argv2[] = { "ocbfs", "-V", "/mnt", NULL };
	char *argv3[] = { "ocbfs", "/mnt", NULL };
	struct fuse_args a1 = FUSE_ARGS_INIT(2, argv1);
	struct fuse_args a2 = FUSE_ARGS_INIT(3, argv2);
	struct fuse_args a3 = FUSE_ARGS_INIT(2, argv3);
	struct fs_opts o;

	CHECK_INT(fs_opts_parse(&a1, &o), 0);
	CHECK_INT(o.show_help, 1);
	fs_opts_release(&o);
	CHECK_INT(fs_opts_parse(&a2, &o), 0);
	CHECK_INT(o.show_version, 1);
	fs_opts_release(&o);
	/* without allow_other: no default_permissions either */
	CHECK_INT(fs_opts_parse(&a3, &o), 0);
	CHECK_INT(fs_opts_mount_args(&o, &a3), 0);
	CHECK(!has_arg(&a3, "-oallow_other"));
	CHECK(!has_arg(&a3, "-odefault_permissions"));
	CHECK(!has_arg(&a3, "-oro"));
	fs_opts_release(&o);
	/* without snapshots/ the mount is flagged read-only */
	{
		char *argv4[] = { "ocbfs", "-o", "nosnapshots", "/mnt", NULL };
		struct fuse_args a4 = FUSE_ARGS_INIT(4, argv4);

		CHECK_INT(fs_opts_parse(&a4, &o), 0);
		CHECK_INT(o.no_snapshots, 1);
		CHECK_INT(fs_opts_mount_args(&o, &a4), 0);
		CHECK(has_arg(&a4, "-oro"));
		fs_opts_release(&o);
		fuse_opt_free_args(&a4);
	}
	fuse_opt_free_args(&a1);
	fuse_opt_free_args(&a2);
	fuse_opt_free_args(&a3);
}

/* settings from o over the base config; NULL when refused */
static int settle(struct fs_opts *o, struct ocb_config *c,
		  struct fs_settings *s)
{
	memset(s, 0x5a, sizeof(*s));
	return fs_opts_settings(o, c, s);
}

static void test_settings(void)
{
	struct ocb_config c = base_cfg();
	struct fs_opts o = { 0 };
	struct fs_settings s;

	/* the config alone */
	CHECK_INT(settle(&o, &c, &s), 0);
	CHECK_STR(s.prefix, "top/instance-me");
	CHECK_STR(s.cache_dir, "/var/cache/x");
	CHECK_INT(s.cache_size, 1000);
	CHECK_INT(s.ram_cache, 2000);
	CHECK_INT(s.refresh, 30);
	fs_settings_release(&s);

	/* the command line wins */
	o.instance = "abc";
	o.cache_dir = "/elsewhere";
	o.cache_size = "2G";
	o.ram_cache = "64M";
	o.refresh = "0";
	CHECK_INT(settle(&o, &c, &s), 0);
	CHECK_STR(s.prefix, "top/instance-abc");
	CHECK_STR(s.cache_dir, "/elsewhere");
	CHECK_INT(s.cache_size, 2ull << 30);
	CHECK_INT(s.ram_cache, 64ull << 20);
	CHECK_INT(s.refresh, 0);
	fs_settings_release(&s);
	fs_settings_release(NULL);

	/* instance given with its prefix word; a config without a root */
	o.instance = "instance-abc";
	c.root = "";
	CHECK_INT(settle(&o, &c, &s), 0);
	CHECK_STR(s.prefix, "instance-abc");
	fs_settings_release(&s);
	c = base_cfg();

	/* the disk cache off: an empty dir or a zero size */
	memset(&o, 0, sizeof(o));
	o.cache_dir = "";
	CHECK_INT(settle(&o, &c, &s), 0);
	CHECK(s.cache_dir == NULL && s.cache_size == 0);
	fs_settings_release(&s);
	o.cache_dir = NULL;
	o.cache_size = "0";
	CHECK_INT(settle(&o, &c, &s), 0);
	CHECK(s.cache_dir == NULL && s.cache_size == 0);
	fs_settings_release(&s);
}

static void test_refused(void)
{
	static const char *const bad_refresh[] = {
		"", "-5", "5x", " 5", "604801", "99999999999999999999", NULL };
	static const char *const bad_instance[] = {
		"", "a/b", "..", ".", "instance-", "instance-..", "x\ny", NULL };
	struct ocb_config c = base_cfg();
	struct fs_opts o = { 0 };
	struct fs_settings s;
	int i;

	for (i = 0; bad_refresh[i]; i++) {
		o.refresh = (char *)bad_refresh[i];
		CHECK_INT(settle(&o, &c, &s), -EINVAL);
	}
	o.refresh = "604800";		/* a week is the most */
	CHECK_INT(settle(&o, &c, &s), 0);
	CHECK_INT(s.refresh, 604800);
	fs_settings_release(&s);
	o.refresh = NULL;
	for (i = 0; bad_instance[i]; i++) {
		o.instance = (char *)bad_instance[i];
		CHECK_INT(settle(&o, &c, &s), -EINVAL);
	}
	o.instance = NULL;
	o.ram_cache = "0";
	CHECK_INT(settle(&o, &c, &s), -EINVAL);
	o.ram_cache = "lots";
	CHECK_INT(settle(&o, &c, &s), -EINVAL);
	o.ram_cache = NULL;
	o.cache_size = "-1";
	CHECK_INT(settle(&o, &c, &s), -EINVAL);
}

int main(void)
{
	test_parse();
	test_flags();
	test_settings();
	test_refused();
	return T_DONE();
}
