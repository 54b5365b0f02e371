/*
 * oldtool_archive.h - the old tool's backups: "<prefix>/<name>.tar.gz", a gzip'ed
 * tar of "<name>/openclaw-config/..." and "<name>/workspace/...", as
 * `tar -czf` (or pigz, or GNU tar with other options) wrote it.
 *
 * Two ways in:
 *  - streamed (restore, verify, cat, migrate): the object is read once,
 *    front to back, gzip CRCs checked; nothing is built.
 *  - indexed (the mount, restore --dry-run): one streaming pass builds a
 *    catalog of every entry (with the stream offset of its data) and zran
 *    restart points (gzip_index_i.h); later reads are range requests from the
 *    nearest point.  The index is cached on disk, sealed with AES-256-GCM
 *    under a random key kept beside it (see docs/FORMAT.md, "Old-tool
 *    backups"), keyed by object key and ETag: a remount reads no byte of
 *    the object to list it.
 *
 * Paths: leading "/" and "./" are dropped and the top directory "<name>/"
 * is stripped, so a backup shows openclaw-config/ and workspace/ at its
 * root.  ".." components make an entry invalid (skipped with a warning).
 *
 * GPG: decided by the object's first bytes, never by its metadata (the
 * old tool tagged plain gzip "encryption-method: gpg": such an object is
 * read like any other, its encryption shown as "none (tagged gpg)").  An
 * object holding OpenPGP data (or ASCII armour) where gzip was expected is read
 * through the `gpg --decrypt` program, front to back, and only when the
 * caller allows it (the tools; never the mount): streamed, or indexed for
 * its listing (never cached; ranges give -ENOKEY).  Otherwise opening it
 * fails with -ENOKEY and a message pointing at `ocb restore`.
 */
#ifndef OCB_OLDTOOL_ARCHIVE_H
#define OCB_OLDTOOL_ARCHIVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct ocb_catalog;
struct ocb_oldtool;

struct ocb_oldtool_opts {
	int index;			/* build (or load) the index */
	const char *cache_dir;		/* NULL: the index is not cached */
	int gpg;			/* may stream through `gpg --decrypt` */
	atomic_uint_fast64_t *bytes_indexed;	/* NULL, or counts compressed
						 * bytes as they are indexed */
};

/* Facts from the object's metadata and name. */
struct ocb_oldtool_info {
	char name[256];			/* object base name without .tar.gz */
	char instance[128];		/* metadata instance-id, or "" */
	char encryption[32];		/* "none", "sse-kms", "gpg" */
	int64_t created;		/* from the name, else metadata, else
					 * Last-Modified */
	uint64_t object_size;
	uint64_t stream_size;		/* tar bytes (indexed only) */
	uint32_t npoints;		/* restart points (indexed only) */
	int from_cache;			/* the index came from the disk cache */
};

/*
 * Open key.  With o->index: *cat receives the catalog (built or loaded).
 * Errors: store errors; -EBADMSG corrupt or truncated gzip or tar (logged
 * with what and where); -ENOKEY a GPG-encrypted backup that may not be
 * streamed; -EOPNOTSUPP an index was asked of a backup with GNU sparse
 * members (it can still be restored).
 */
int ocb_oldtool_open(struct ocb_store *s, const char *key,
		    const struct ocb_oldtool_opts *o, struct ocb_oldtool **out,
		    struct ocb_catalog **cat);
void ocb_oldtool_free(struct ocb_oldtool *old);
const struct ocb_oldtool_info *ocb_oldtool_info(const struct ocb_oldtool *old);

/* Tar stream bytes [off, off + len) to sink, with one range request
 * (indexed only; -EINVAL otherwise or past the end). */
int ocb_oldtool_read(struct ocb_oldtool *old, uint64_t off, uint64_t len,
		    ocb_sink_fn sink, void *arg);
/* The whole tar stream to sink, front to back, every gzip CRC checked. */
int ocb_oldtool_cat(struct ocb_oldtool *old, ocb_sink_fn sink, void *arg);

/*
 * The catalog path of a tar member path of backup name: 0 and out ("" is
 * the backup's root), or -EINVAL (".." or too long: never restored).
 */
int ocb_oldtool_map_path(const char *name, const char *path, char *out,
			size_t size);

#endif
