/*
 * hooks.h - the commands the config names around backups and restores
 * (config "hooks": {"preBackup": "...", "postBackup": "...",
 * "postRestore": "..."}), run with /bin/sh -c, a timeout, and the facts
 * of the event in OCB_* environment variables (never a secret).
 */
#ifndef OCB_HOOKS_H
#define OCB_HOOKS_H

struct ocb_config;

#define OCB_HOOK_TIMEOUT 300	/* seconds */

/*
 * Run hook `event` if the config has one: 0 when there is none or it
 * exited 0; else a message on stderr and 1 (non-zero exit), or -ETIMEDOUT
 * (killed after `timeout` seconds, with its process group), or -errno.
 * Its stdout goes to stderr, so that ocb's own output stays clean.
 * name (the backup) and path (the restored directory) may be NULL.
 */
int ocb_hook_run(const struct ocb_config *cfg, const char *event,
		 const char *name, const char *path, unsigned timeout);

#endif
