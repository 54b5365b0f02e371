/*
 * config.h - the configuration file (JSON), also the old
 * openclaw-aws-backup tool's backup-config.json, read unchanged.
 *
 * Found as: the path given, else $OCB_CONFIG, else ~/.config/ocb/config.json,
 * else /etc/ocb/config.json, else built-in defaults (a local-directory
 * store under ~/.local/share/ocb/store, source ~/.openclaw).
 * A file writable by group or others, or owned by another user, is
 * refused (one they can only read is accepted: it holds no secrets).
 * Unknown fields and wrong types are errors naming the field and the file;
 * null means "not set", as the old tool writes it.  Every field is documented in docs/ocb-config.5.md.
 */
#ifndef OCB_CONFIG_H
#define OCB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "s3_store.h"

struct ocb_config {
	char *path;		/* the file read; NULL: built-in defaults */
	char *instance_id;	/* instanceId; default local-<hostname> */
	char *region;		/* resolved: config, env, profile, us-east-1 */
	char *backup_frequency;	/* backupFrequency, informational */

	/* where backups live */
	char *store_url;	/* "s3://bucket" or "file:///dir" */
	char *bucket;		/* s3.bucket, NULL for a file store */
	char *prefix;		/* s3.prefix: "<root>/instance-<id>" */
	char *root;		/* the prefix's parent ("" if none) */
	char *endpoint;		/* resolved endpoint, NULL: AWS default */
	enum ocb_s3_addressing addressing;
	char *profile;		/* s3.profile (AWS profile name) or NULL */
	int insecure_tls;
	char *sse;		/* server-side encryption on upload, or NULL */
	char *sse_kms_key_id;
	unsigned timeout_ms;	/* s3.timeout: a stalled request fails after it */
	unsigned deadline_ms;	/* s3.retryDeadline: retries give up after it */
	unsigned refused_ms;	/* s3.refusedDeadline: the same while every
				 * attempt was refused */

	/* encryption of backups (envelope encryption, docs/FORMAT.md) */
	int enc_enabled;	/* encryption.enabled (old tool) */
	char *enc_method;	/* encryption.method: kms, gpg, none (old tool) */
	char *kms_key_alias;	/* encryption.kmsKeyAlias */
	char *key_provider;	/* none, keyfile, passphrase, kms */
	char *key_file;		/* encryption.keyFile */
	char *passphrase_file;	/* encryption.passphraseFile or NULL */
	char *kms_key_id;	/* encryption.kmsKeyId or NULL */
	char *kms_endpoint;	/* encryption.kmsEndpoint, AWS_ENDPOINT_URL_KMS,
				 * AWS_ENDPOINT_URL, or NULL: AWS */

	/* retention */
	int keep;		/* retention.keep; 0: keep all */
	int keep_daily;		/* retention.keepDaily ... keepYearly: the */
	int keep_weekly;	/* newest of each of the newest N days, ISO */
	int keep_monthly;	/* weeks, months, years; 0: no such rule */
	int keep_yearly;
	int64_t keep_within;	/* retention.keepWithin, seconds; 0: none */
	int auto_clean;		/* retention.autoClean */
	int64_t stale_upload_age;	/* retention.staleUploadHours, seconds */
	int repack_live_percent;	/* retention.repackLivePercent: an object
					 * kept only for the bytes kept backups
					 * read is mostly dead when they take
					 * under this share of it (0: never) */
	int repack_min_dead_mb;		/* retention.repackMinDeadMB: and the
					 * plan frees at least this many MiB */
	int full_every;		/* backup.fullEvery: a full backup when the
				 * chain since the last reaches it (1: always;
				 * 0, the default: never) */
	int full_after_days;	/* backup.fullAfterDays: ... when the last is
				 * older than this many days (0: never) */

	/* what to back up */
	char **sources;		/* absolute paths, ~ expanded */
	size_t nsources;
	int sources_default;	/* the config names none: ~/.openclaw, or
				 * what `openclaw` reports (openclaw.h) */
	char **excludes;	/* fnmatch globs */
	size_t nexcludes;
	char *state_snapshot;	/* stateSnapshot: a file below a source that
				 * the preBackup hook writes, or NULL */

	/* cache and mount */
	char *cache_dir;	/* cache.dir: the disk cache; "": none */
	char *state_dir;	/* this machine's own files: high-water marks,
				 * the spool of SQLite snapshots, temporary
				 * trees: cache.dir, or its default when
				 * cache.dir is "" (the disk cache off) */
	uint64_t cache_size;	/* bytes of encrypted data cached on disk */
	uint64_t ram_cache;	/* bytes of decrypted frames in RAM */
	unsigned refresh;	/* seconds between listings in the mount */

	/* OCB_CONFIG_FROM_ENV_* bits: values resolved from the environment,
	 * the AWS profile or a built-in default rather than from the file;
	 * ocb_config_write() leaves them out */
	unsigned from_env;
	/* the file as read (compact JSON text), NULL for built-in defaults;
	 * ocb_config_extra() and ocb_config_write() keep the fields ocb
	 * accepts without interpreting (version, createdAt, hooks, roles...) */
	char *doc_json;
};

#define OCB_CONFIG_FROM_ENV_REGION	0x1u
#define OCB_CONFIG_FROM_ENV_ENDPOINT	0x2u
#define OCB_CONFIG_FROM_ENV_KMS_ENDPOINT 0x4u

/*
 * Load the configuration (path NULL: the search order above).  Returns 0,
 * -ENOENT when an explicitly named file does not exist, -EACCES for unsafe
 * permissions, -EINVAL for a bad file (the reason is logged).
 */
int ocb_config_load(const char *path, struct ocb_config **out);
/* The same from memory (name is for messages; no permission check, no
 * file): for tests and the fuzz target.  0, -EINVAL, -EFBIG, -ENOMEM. */
int ocb_config_parse(const char *text, size_t len, const char *name,
		     struct ocb_config **out);
void ocb_config_free(struct ocb_config *c);

/*
 * Write c to path as JSON, mode 0600, atomically (a temporary file in the
 * same directory, fsync, rename; the directory is created, mode 0700, when
 * missing).  Every setting of c is written except those marked in
 * c->from_env; fields of c->doc_json that ocb does not interpret are kept.
 * ocb_config_load() of the result gives the same settings.  0 or -errno.
 */
int ocb_config_write(const struct ocb_config *c, const char *path);

/*
 * The JSON text (malloc'ed) of a field as the file holds it ("name" or
 * "object.name"); meant for the fields ocb accepts without interpreting:
 * "hooks", "roles", "group.members", "role", "version", "createdAt"...
 * 0, or -ENOENT when absent (or no file).
 */
int ocb_config_extra(const struct ocb_config *c, const char *name, char **out);

/*
 * Instance prefixes.  An instance's backups live under
 * "<root>/instance-<id>" (just "instance-<id>" when root is "").
 * ocb_config_prefix_root(): the root of a prefix, the part before its last
 * "/instance-" (the old tool's layout, "openclaw-aws-backups/instance-ID"
 * → "openclaw-aws-backups"); a prefix starting "instance-" has root "";
 * any other prefix's root is its parent ("a/b" → "a", "a" → "").
 * Both return 0 and a malloc'ed *out, or -ENOMEM; instance_prefix returns
 * -EINVAL for an id that is empty or holds a '/'.
 */
int ocb_config_prefix_root(const char *prefix, char **out);
/* The instance id of the prefix made of the first len bytes of prefix: its
 * last component without "instance-" ("openclaw-aws-backups/instance-x1"
 * → "x1"), copied into out (truncated to size). */
void ocb_config_prefix_instance(const char *prefix, size_t len, char *out,
				size_t size);
int ocb_config_instance_prefix(const char *root, const char *instance_id,
			       char **out);

/* Parse size strings "123", "64K", "256M", "2G", "1T": 0 or -EINVAL. */
int ocb_config_parse_size(const char *s, uint64_t *out);

/* Parse durations "30d", "12h", "2w", "6m" (months of 30 days), "1y" (365
 * days), "90" (seconds would be a trap: a bare number is days) into
 * seconds: 0 or -EINVAL. */
int ocb_config_parse_duration(const char *s, int64_t *out);

/* "~/x" → "$HOME/x", others copied: malloc'ed, NULL when out of memory
 * (p NULL gives NULL) */
char *ocb_config_expand_home(const char *p);

#endif
