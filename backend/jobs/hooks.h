/*
 * hooks.h - the commands the config names around backups and restores
 * (config "hooks": {"preBackup": "...", "postBackup": "...",
 * "postRestore": "..."}), run with /bin/sh -c, a timeout, and the facts
 * of the event in OCB_* environment variables (never a secret).  Used by
 * `ocb backup`, `ocb restore` and the mount's snapshots/.
 */
#ifndef OCB_HOOKS_H
#define OCB_HOOKS_H

struct ocb_config;

#define OCB_HOOK_TIMEOUT 300	/* seconds */
#define OCB_HOOK_LINE_MAX 1024	/* longer output lines are cut */

/* one line of a hook's output (stdout and stderr), without its newline */
typedef void (*ocb_hook_out_fn)(void *arg, const char *event,
				const char *line);

/*
 * Run hook `event` if the config has one: 0 when there is none or it
 * exited 0; else 1 (non-zero exit or a signal), -ETIMEDOUT (killed after
 * `timeout` seconds, with its process group), or -errno; each failure is
 * logged.  Its output goes line by line to out, or to stderr when out is
 * NULL (so ocb's own stdout stays clean).  name (the backup) and path
 * (the restored directory) may be NULL.  Safe in a threaded process: the
 * child only calls execve().
 */
int ocb_hook_run(const struct ocb_config *cfg, const char *event,
		 const char *name, const char *path, unsigned timeout,
		 ocb_hook_out_fn out, void *out_arg);

/*
 * Run the program file (an absolute path) with argv in ocb's own
 * environment, the same way: its output (stdout and stderr) line by line
 * to out (event: argv[0]), killed after timeout seconds.  Same returns.
 */
int ocb_hook_exec(const char *file, char *const argv[], unsigned timeout,
		  ocb_hook_out_fn out, void *out_arg);

#endif
