/*
 * openclaw.h - what OpenClaw itself would back up.  When the `openclaw`
 * command is installed, `openclaw backup create --dry-run --json` names
 * its state directory, its config with the files it includes, the
 * workspaces and the agent directories configured outside the state
 * directory ("assets"); ocb backs up the same paths when the config names
 * no sources.
 */
#ifndef OCB_OPENCLAW_H
#define OCB_OPENCLAW_H

#include <stddef.h>

/* reads a config file for restore_sources below: 0 and *text (malloc'ed,
 * NUL-terminated, at most OCB_OPENCLAW_OUT_MAX bytes), 1: read it from
 * the disk, or a negative errno */
struct ocb_openclaw_reader {
	int (*read)(void *arg, const char *path, char **text);
	void *arg;
};

#define OCB_OPENCLAW_TIMEOUT 120	/* seconds for its dry run */
#define OCB_OPENCLAW_OUT_MAX (1u << 20)	/* of its output; more: ignored */

/*
 * The absolute paths of its assets, in its order: 0 and *out (*n
 * malloc'ed strings, free with ocb_openclaw_free()), -ENOENT when no
 * `openclaw` is on PATH, or another negative errno (it failed, timed out,
 * or printed nothing usable; logged).
 */
int ocb_openclaw_sources(char ***out, size_t *n);

/* ocb_openclaw_config_sources() with missing paths kept (missing) and
 * files read through rd (may be NULL) */
int ocb_openclaw_config_paths(const char *state_dir, int missing,
			      const struct ocb_openclaw_reader *rd,
			      char ***out, size_t *n);

/*
 * Without the command: the state directory state_dir, then what its
 * openclaw.json (and the files it "$include"s) names outside it that
 * exists: the included files, agents' workspaces and agent directories.
 * 0 and *out (*n >= 1), or -ENOMEM; a config that cannot be read is
 * logged and gives the state directory alone.
 */
int ocb_openclaw_config_sources(const char *state_dir, char ***out,
				size_t *n);

/*
 * The sources of a backup whose config names none: the command's list,
 * else the config file's.  0, *out, *n and *from (what they came from, for
 * messages: OCB_OPENCLAW_FROM_COMMAND, or a phrase naming openclaw.json
 * and why), or -ENOMEM.
 */
#define OCB_OPENCLAW_FROM_COMMAND "openclaw backup create --dry-run"
int ocb_openclaw_resolve(const char *state_dir, char ***out, size_t *n,
			 const char **from);

/*
 * Where a restore in place may put sources back: as ocb_openclaw_resolve(),
 * and also the paths the command or the config names that do not exist
 * (a wiped workspace; the command's "skipped" entries with reason
 * "missing").  With rd (a dry run: nothing restored yet), the command is
 * not run and the config files are read through rd, which gives what the
 * restore would have put there.
 */
int ocb_openclaw_restore_sources(const char *state_dir,
				 const struct ocb_openclaw_reader *rd,
				 char ***out, size_t *n, const char **from);

void ocb_openclaw_free(char **v, size_t n);

#endif
