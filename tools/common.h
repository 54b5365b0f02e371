/*
 * common.h - what every `ocb` subcommand shares: the context (config,
 * store), exit codes, and the one translation from errno to exit code.
 */
#ifndef OCB_TOOLS_COMMON_H
#define OCB_TOOLS_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/* Exit codes of `ocb` (documented in docs/ocb.1.md). */
enum ocb_exit {
	OCB_EXIT_OK = 0,
	OCB_EXIT_FAIL = 1,		/* other failure */
	OCB_EXIT_USAGE = 2,		/* bad command line */
	OCB_EXIT_CONFIG = 3,		/* bad or unsafe config or key file */
	OCB_EXIT_ACCESS = 4,		/* credentials missing or refused */
	OCB_EXIT_NOTFOUND = 5,		/* no such backup, object or bucket */
	OCB_EXIT_NETWORK = 6,		/* store unreachable, timeouts */
	OCB_EXIT_DAMAGED = 7,		/* data failed verification */
	OCB_EXIT_WARNINGS = 8,		/* done, with warnings */
	OCB_EXIT_KMS = 9,		/* KMS key missing or disabled */
	OCB_EXIT_INTERRUPTED = 130,	/* SIGINT/SIGTERM */
};

struct ocb_ctx {
	const char *config_path;	/* --config, or NULL */
	struct ocb_config *cfg;		/* after ocb_ctx_config() */
	struct ocb_store *store;	/* after ocb_ctx_store() */
	/* physical frames incremental backups opened through ctx share
	 * across their reads (made by the first open) */
	struct ocb_phys_cache *phys;
	int verbose;
	int quiet;
};

/* The exit code for a negative errno. */
int ocb_exit_code(int err);

/* Print "ocb: <what>: <reason>" for err and return its exit code. */
int ocb_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Load the config into ctx->cfg: 0, or an exit code (message printed). */
int ocb_ctx_config(struct ocb_ctx *ctx);
/* "sources (from WHERE): PATH...": what a backup with cfg takes (the
 * config's sources, else OpenClaw's own list), cut to size */
void ocb_sources_describe(const struct ocb_config *cfg, char *msg,
			  size_t size);
/* Open ctx->store (url NULL: the configured store): 0 or an exit code. */
int ocb_ctx_store(struct ocb_ctx *ctx, const char *url);
void ocb_ctx_release(struct ocb_ctx *ctx);

/* Set by SIGINT/SIGTERM once ocb_signals_install() ran. */
extern volatile int ocb_interrupted;
void ocb_signals_install(void);

/* Print usage of cmd to stderr; return OCB_EXIT_USAGE. */
struct ocb_cmd;
int ocb_usage(const struct ocb_cmd *cmd);

struct ocb_keyprov;
/* The key provider the config names (passphrase: $OCB_PASSPHRASE_FD, the
 * config's passphraseFile, or a prompt on the terminal): 0 or exit code. */
int ocb_ctx_keyprov(struct ocb_ctx *ctx, struct ocb_keyprov **out);
/* The config's group settings (release them): 0 or an exit code. */
struct ocb_group_settings;
int ocb_ctx_group(struct ocb_ctx *ctx, struct ocb_group_settings *gs);

struct ocb_backup_ref;
struct ocb_archive;
enum ocb_open_how {
	OCB_OPEN_INDEX,		/* browse: old backups' index from the cache */
	OCB_OPEN_REFS,		/* as INDEX, a native backup's catalog details
				 * left unread until ocb_archive_details()
				 * (prune: what a backup references is in
				 * the index; restore --target: read beside
				 * the stream) */
	OCB_OPEN_CHECK,		/* old backups' index built afresh (verify) */
	OCB_OPEN_STREAM,	/* streamed only (restore, cat): old backups
				 * read once, front to back; a native
				 * backup's details left unread (the stream
				 * needs none of them; a restore reads them
				 * beside it) */
};
/* Open a backup, native or old-tool (GPG ones through the gpg program):
 * 0 or a negative errno. */
int ocb_ctx_open_backup(struct ocb_ctx *ctx, const struct ocb_backup_ref *ref,
			struct ocb_keyprov *kp, enum ocb_open_how how,
			struct ocb_archive **a);
/* The same in two halves, for opening many at once: the open (safe from
 * several threads at once), then, from one thread, the note of a native
 * backup that opened in this machine's high-water mark (highwater.h),
 * with the warning when `latest` went back in time. */
int ocb_ctx_open_backup_unnoted(struct ocb_ctx *ctx,
				const struct ocb_backup_ref *ref,
				struct ocb_keyprov *kp, enum ocb_open_how how,
				struct ocb_archive **a);
struct ocb_archive_info;
void ocb_ctx_note_opened(struct ocb_ctx *ctx, const struct ocb_backup_ref *ref,
			 const struct ocb_archive_info *in);
/* How many backups the tools open at once (prune, list --open). */
#define OCB_OPEN_PARALLEL 8

/* Print s as a JSON string (quoted, escaped) on stdout. */
void ocb_json_str(const char *s);

/* Human size "12.3 MiB" into buf. */
const char *ocb_human_size(uint64_t n, char *buf, size_t size);

/* A new random 32-byte master key at path (mode 0600, parents 0700);
 * never overwrites: 0, -EEXIST, or -errno (nothing left on failure). */
int ocb_key_file_generate(const char *path);

/* retention.autoClean: prune with the configured policy (nothing when
 * the config sets no rule), kp authenticating what it counts, keeping the
 * backup just_taken (its name, or NULL) whatever its name's time.  An exit
 * code. */
int ocb_prune_configured(struct ocb_ctx *ctx, struct ocb_keyprov *kp,
			 const char *just_taken);

/* rm -rf path (never following symlinks): a directory ocb made itself. */
void ocb_rm_rf(const char *path);

/* the missing directories above path (0700): 0 or a negative errno */
int ocb_mkdir_parents(const char *path);

#endif
