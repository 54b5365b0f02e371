/*
 * fs_opts.h - the options of ocbfs: one fuse_opt table, the help text,
 * and the settings that follow from them.  Precedence: built-in defaults
 * < the config file < the command line.
 */
#ifndef OCB_FS_OPTS_H
#define OCB_FS_OPTS_H

#include <stdint.h>

struct fuse_args;
struct ocb_config;

/* ocbfs's own -o options as given (NULL / 0: not given) */
struct fs_opts {
	char *config;		/* config=PATH */
	char *instance;		/* instance=ID ("x" or "instance-x") */
	char *cache_dir;	/* cache_dir=DIR ("" turns the disk cache off) */
	char *cache_size;	/* cache_size=SIZE */
	char *ram_cache;	/* ram_cache=SIZE */
	char *refresh;		/* refresh=SECONDS */
	char *snapshot_keep;	/* snapshot_keep=SECONDS */
	int no_snapshots;	/* nosnapshots */
	int allow_other;
	int show_help;		/* -h, --help */
	int show_version;	/* -V, --version */
};

/*
 * Take ocbfs's options out of args; what is left (mountpoint, -f, -d,
 * libfuse's own -o options) is for fuse_parse_cmdline().  Fills *o (to be
 * released with fs_opts_release even on failure).  0 or -EINVAL (libfuse
 * printed why).
 */
int fs_opts_parse(struct fuse_args *args, struct fs_opts *o);
void fs_opts_release(struct fs_opts *o);

/* Print the whole --help text (ours, then libfuse's) to stdout. */
void fs_opts_usage(const char *prog);

/* What the daemon runs with, after merging the config file in. */
struct fs_settings {
	char *prefix;		/* the instance `latest` follows:
				 * "<root>/instance-<id>" */
	char *cache_dir;	/* NULL: no disk cache */
	uint64_t cache_size;	/* bytes; 0: no disk cache */
	uint64_t ram_cache;	/* bytes of decrypted frames */
	unsigned refresh;	/* seconds between listings; 0: never */
	int snapshots;		/* the snapshots/ control directory */
	unsigned snapshot_keep;	/* seconds finished entries stay listed */
};

#define FS_REFRESH_MAX (7u * 24 * 3600)

/*
 * Merge o over cfg into *out (released with fs_settings_release).
 * Returns 0, -EINVAL for a bad value (a message naming the option on
 * stderr: the daemon has not detached yet), -ENOMEM.
 */
int fs_opts_settings(const struct fs_opts *o, const struct ocb_config *cfg,
		     struct fs_settings *out);
void fs_settings_release(struct fs_settings *s);

/*
 * Append the mount options ocbfs always uses to args: fsname, subtype,
 * ro (unless snapshots/ takes mkdir), and allow_other together with
 * default_permissions (the backed-up modes are then enforced by the
 * kernel).  0 or -ENOMEM.
 */
int fs_opts_mount_args(const struct fs_opts *o, struct fuse_args *args);

#endif
