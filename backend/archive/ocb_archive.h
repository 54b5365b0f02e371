/*
 * ocb_archive.h - reading and writing ocb backups (one object per backup).
 *
 * The one implementation of the on-store format (docs/FORMAT.md), shared
 * by the mount (fs/), `ocb backup`, `ocb restore`, `ocb verify`, `ocb cat`.
 *
 * Every kind of backup (archive_ops.h: native, old-tool .tar.gz) is read
 * through struct ocb_archive.  A native backup holds a POSIX pax tar
 * stream cut into frames of a fixed uncompressed size; frame i covers
 * stream bytes [i * frame_size, (i + 1) * frame_size).  Each frame is zstd-compressed and sealed with
 * AES-256-GCM (or only checksummed for key provider "none").  The catalog
 * at the end describes every entry, with the stream offset of its data.
 */
#ifndef OCB_OCB_ARCHIVE_H
#define OCB_OCB_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

struct ocb_keyprov;	/* keys.h */
struct ocb_archive;	/* an opened backup: catalog in memory */

enum ocb_entry_type {
	OCB_ENTRY_FILE = 1,
	OCB_ENTRY_DIR,
	OCB_ENTRY_SYMLINK,
	OCB_ENTRY_CHR,
	OCB_ENTRY_BLK,
	OCB_ENTRY_FIFO,
	OCB_ENTRY_SOCK,
};

#define OCB_ROOT 0u	/* entry index of the backup's root directory */

/* One catalog entry.  Strings point into the archive's memory and live as
 * long as the struct ocb_archive. */
struct ocb_entry {
	uint32_t parent;	/* index of the parent directory (root: 0) */
	uint32_t type;		/* enum ocb_entry_type */
	uint32_t mode;		/* full st_mode, type bits included */
	uint32_t uid, gid;
	int64_t mtime;		/* seconds */
	uint32_t mtime_nsec;
	uint32_t nlink;
	uint32_t ino;		/* hardlinks share it: the index of the first
				 * entry of the link set (else own index) */
	uint64_t size;		/* file content bytes; symlink: target length */
	uint64_t data_off;	/* stream offset of the content (files) */
	uint32_t first_child;	/* directories: children are the entries
				 * [first_child, first_child + nchildren),
				 * sorted by name (strcmp) */
	uint32_t nchildren;
	uint32_t xattr_first;	/* xattrs: [xattr_first, +nxattrs) */
	uint32_t nxattrs;
	const char *name;	/* base name ("" for the root) */
	const char *target;	/* symlink target, else NULL */
	uint8_t sha256[32];	/* of the content (files) */
	uint32_t flags;		/* OCB_ENTRY_* flags (format 2; else 0) */
};

/* how an entry was captured (format 2) */
#define OCB_ENTRY_SQLITE_SNAPSHOT 0x1u	/* SQLite online-backup snapshot */
#define OCB_ENTRY_TORN 0x2u		/* the file changed while read */
#define OCB_ENTRY_SQLITE_RAW 0x4u	/* snapshot failed: raw copy */
#define OCB_ENTRY_FLAGS_KNOWN 0x7u

struct ocb_xattr {
	const char *name;
	const void *value;
	size_t len;
};

/* Root-directory xattrs a backup carries about itself (format 2) */
#define OCB_XATTR_GROUP "user.ocb.group"
#define OCB_XATTR_ROLE "user.ocb.role"

/* Facts about a backup (header + catalog). */
struct ocb_archive_info {
	uint32_t format_version;
	char name[256];		/* backup name, e.g. openclaw-aws-backup-2026-...Z */
	char instance[128];
	char host[256];
	char label[128];
	char key_provider[32];	/* "none", "keyfile", "passphrase", "kms" */
	int64_t created;	/* seconds since the epoch */
	/* format 2 binds the name, the key's prefix and the creation time
	 * into the authenticated catalog (checked when opened); format 1
	 * binds the name only: "unbound" */
	int bound;
	uint32_t warnings;	/* entries captured with a warning (format 2) */
	char group[128];	/* the group backup it belongs to, as its
				 * catalog says (root xattr user.ocb.group);
				 * "" for none */
	char role[32];		/* its role in that group (user.ocb.role) */
	uint64_t entries;
	uint64_t stream_size;	/* bytes of the plaintext tar stream (format
				 * 3: the logical stream, as a full backup
				 * would hold it) */
	/* format 3 (incremental): what this object stores itself, the
	 * backup it was built on and how many backups since the last full
	 * one; earlier formats: stored_size = stream_size, base "" and
	 * depth 0 (every backup is full) */
	uint64_t stored_size;	/* plaintext stream bytes in this object */
	char base[256];		/* name of the backup it builds on, or "" */
	uint32_t depth;		/* 0: a full backup */
	uint32_t nrefs;		/* objects it takes bytes from (ocb_archive_ref) */
	uint64_t object_size;	/* bytes stored */
	uint32_t frame_size;	/* uncompressed bytes per frame */
	uint32_t nframes;
};

/*
 * Open the native backup stored at key ("<prefix>/<name>.ocb"; any kind:
 * ocb_backup_open(), backup_open.h): one suffix Range read for the trailer
 * and one for the catalog (fewer when the store caches).  kp unwraps the
 * data key (may be NULL for provider "none"; kept by reference, must
 * outlive the archive).  Errors: store errors, -EBADMSG for a damaged or
 * tampered object (logged with what failed), -ENOKEY when kp cannot unwrap
 * the key, -EPROTO for an unknown format version.
 */
int ocb_archive_open(struct ocb_store *s, const char *key,
		     struct ocb_keyprov *kp, struct ocb_archive **out);
/* The same with flags: OCB_ARCHIVE_LAZY_DETAILS leaves a format 4
 * catalog's details (entries' SHA-256s, what the next backup's writer
 * reads) unread unless the suffix read holds them; ocb_archive_details()
 * reads them when needed.  Until then every entry's sha256 is zero. */
#define OCB_ARCHIVE_LAZY_DETAILS 1u
int ocb_archive_open_ex(struct ocb_store *s, const char *key,
			struct ocb_keyprov *kp, unsigned int flags,
			struct ocb_archive **out);
/* Make the entries' SHA-256s (and the rest of a format 4 catalog's
 * details) available: 0 (also when they were), or a store error or
 * -EBADMSG (damaged).  Thread-safe. */
int ocb_archive_details(struct ocb_archive *a);
/* Referenced object i of a format-3 backup, i < info->nrefs: the name
 * of the backup whose object holds bytes this backup reads (its key is
 * "<prefix>/<name>.ocb", the same prefix) and its backup id (16 bytes).
 * 0, or -ENOENT past the last. */
int ocb_archive_ref(const struct ocb_archive *a, uint32_t i,
		    const char **name, const uint8_t **id);
/* Where a piece of a backup's logical stream is stored: logical bytes
 * [loff, loff + len) are bytes [poff, poff + len) of the physical stream
 * of source (0: this object; r + 1: referenced object r). */
struct ocb_archive_segment {
	uint64_t loff, len, poff;
	uint32_t source;
};
/* Segment i of a format-3 backup, in logical order: 0, or -ENOENT past
 * the last.  Earlier kinds have none (their stream is all their own). */
int ocb_archive_segment(const struct ocb_archive *a, uint32_t i,
			struct ocb_archive_segment *out);
/* The frames of a backup's own physical stream (those its object
 * stores: format 3, not the referenced objects'; earlier formats, all):
 * how many, and of own frame i the bytes it takes in the object (sealed)
 * and its plaintext bytes: 0, or -ENOENT past the last.  For sizing what
 * an object's bytes take in the store (the repack plan). */
uint32_t ocb_archive_own_frames(const struct ocb_archive *a);
int ocb_archive_own_frame(const struct ocb_archive *a, uint32_t i,
			  uint32_t *sealed_len, uint32_t *plain_len);
/* Referenced object i's physical stream size (bytes it stores), as this
 * backup's authenticated catalog records it: 0, or -ENOENT. */
int ocb_archive_ref_stored(const struct ocb_archive *a, uint32_t i,
			   uint64_t *bytes);
/* Bytes this archive has read from the objects of other backups (format
 * 3 references), for the mount's stats: a counter that only grows while
 * the archive is open.  0 for every earlier kind. */
uint64_t ocb_archive_ref_bytes_read(const struct ocb_archive *a);
/* Keep the physical frames a format-3 backup's reads open in pc
 * (phys_cache.h), shared with every other archive given pc, so that a
 * frame of an older object is fetched and decoded once for all of them
 * while it stays there; pc must outlive the archive.  Other kinds ignore
 * it.  Call before the archive is read. */
struct ocb_phys_cache;
void ocb_archive_set_phys_cache(struct ocb_archive *a,
				struct ocb_phys_cache *pc);
/* Closes a backup of any kind; accepts NULL. */
void ocb_archive_free(struct ocb_archive *a);
/* Why opening failed with err, in words for users (the mount's
 * user.ocb.error, `ocb list --open`); the log has the details. */
const char *ocb_archive_strerror(int err);

/* An old-tool "<name>.tar.gz" (oldtool_archive.h says how it is read): no
 * content hashes; the info's format_version is 0, key_provider "none",
 * "sse-kms" or "gpg".  Opened to be streamed only, it has no entries
 * (ocb_archive_cat works, reading ranges gives -EINVAL). */
int ocb_archive_is_legacy(const struct ocb_archive *a);
/* The catalog path of a tar member path of this backup (old backups:
 * without "./" and the top directory; native: as is).  0 and out ("" is
 * the root), or -EINVAL for a path never to be restored. */
int ocb_archive_map_path(const struct ocb_archive *a, const char *path,
			 char *out, size_t size);

const struct ocb_archive_info *ocb_archive_info(const struct ocb_archive *a);
/* Number of entries; valid indexes are [0, count). */
uint32_t ocb_archive_count(const struct ocb_archive *a);
const struct ocb_entry *ocb_archive_entry(const struct ocb_archive *a,
					  uint32_t idx);
const struct ocb_xattr *ocb_archive_xattr(const struct ocb_archive *a,
					  uint32_t xidx);
/* Child of directory dir named name: 0 and *idx, or -ENOENT/-ENOTDIR.
 * Binary search, no I/O. */
int ocb_archive_lookup(const struct ocb_archive *a, uint32_t dir,
		       const char *name, uint32_t *idx);
/* Entry at a relative path ("a/b/c", "" = root): 0 or -ENOENT. */
int ocb_archive_resolve(const struct ocb_archive *a, const char *path,
			uint32_t *idx);
/* Relative path of idx into buf: length, or -ENAMETOOLONG. */
ssize_t ocb_archive_path(const struct ocb_archive *a, uint32_t idx,
			 char *buf, size_t size);

/* Sources: the top-level directory entry and original absolute path of
 * source i, for restoring to the original place. */
uint32_t ocb_archive_nsources(const struct ocb_archive *a);
int ocb_archive_source(const struct ocb_archive *a, uint32_t i,
		       uint32_t *entry, const char **path);
/* The backup's random 16-byte id. */
const uint8_t *ocb_archive_backup_id(const struct ocb_archive *a);

/* Receives one verified, decompressed frame (len == frame_size except for
 * the last frame).  0 to go on, negative errno to stop. */
typedef int (*ocb_frame_fn)(void *arg, uint32_t frame, const void *data,
			    size_t len);
/*
 * Fetch frames [first, first + n) with ONE range request, verify each
 * (tag, position, backup binding) and decompress it, then call cb for each
 * in order.  A frame failing verification stops with -EBADMSG and a log
 * line naming the backup and the frame; no byte of it reaches cb.
 * Thread-safe (many reads in parallel on one archive).
 */
int ocb_archive_read_frames(struct ocb_archive *a, uint32_t first,
			    uint32_t n, ocb_frame_fn cb, void *arg);
/* As ocb_archive_read_frames; *net (not NULL) says whether a request of
 * it went to the store itself, for timing the link: 0 when every byte
 * came from what a cache layer held (its disk, another request's
 * transfer) or from physical frames kept across reads, whose time says
 * nothing about the store's distance. */
int ocb_archive_read_frames_net(struct ocb_archive *a, uint32_t first,
				uint32_t n, ocb_frame_fn cb, void *arg,
				int *net);
/* Bytes [off, off + len) of an incremental backup's logical stream
 * (format 3 with references) to sink, in order, fetching only the physical
 * frames of the segments that hold them (each verified as a read of the
 * logical frames verifies it, and kept across reads as they are): for a
 * cold small read, whose logical frame may also hold bytes of other
 * objects.  -EINVAL for other kinds or beyond the stream's end. */
int ocb_archive_read_bytes(struct ocb_archive *a, uint64_t off, uint64_t len,
			   ocb_sink_fn sink, void *arg);

/* Where sealed frame i lies in the object (for `ocb verify` and tests):
 * 0, or -EINVAL when i >= nframes or frame i is not stored as such (format
 * 3 backups with references assemble their frames). */
int ocb_archive_frame(const struct ocb_archive *a, uint32_t i, uint64_t *off,
		      uint32_t *sealed_len);

/* The sealed bytes frames [first, first + n) travel as when read: exact
 * for frames stored as such, else an estimate from the frames the backup
 * is made of (for sizing requests to the link). */
uint64_t ocb_archive_wire_bytes(const struct ocb_archive *a, uint32_t first,
				uint32_t n);

/* Read file content of entry idx (uncached; for tools): count or errno. */
ssize_t ocb_archive_pread(struct ocb_archive *a, uint32_t idx, void *buf,
			  size_t len, uint64_t off);

/* Stream the whole decrypted tar stream to sink (`ocb cat`). */
int ocb_archive_cat(struct ocb_archive *a, ocb_sink_fn sink, void *arg);
/* Stream bytes [off, off + len) of it, fetching only the frames that hold
 * them (selective restore).  -EINVAL beyond the stream's end. */
int ocb_archive_cat_range(struct ocb_archive *a, uint64_t off, uint64_t len,
			  ocb_sink_fn sink, void *arg);

/* What ocb_archive_verify() checked. */
struct ocb_verify_result {
	uint64_t files;		/* files whose content was hashed */
	uint64_t bad_files;	/* SHA-256 not as the catalog says */
	uint64_t bytes;		/* stream bytes read and verified */
	uint32_t frames;
	char first_bad[1024];	/* path of the first bad file, or "" */
};

/* Read every frame (each tag checked) and hash every file against the
 * catalog.  0, -EBADMSG (res says what), or a store error. */
int ocb_archive_verify(struct ocb_archive *a, struct ocb_verify_result *res);

/* A spot check: each file is picked with probability percent/100 (at
 * least one file), read through only the frames holding it (each tag
 * checked) and hashed.  res->frames is the backup's frame count, not the
 * number read.  0, -EBADMSG, or a store error. */
int ocb_archive_verify_sample(struct ocb_archive *a, unsigned percent,
			      struct ocb_verify_result *res);

/* ---- writing ------------------------------------------------------------ */

struct ocb_backup_progress {
	uint64_t files_done, files_total;	/* entries; total 0 while
						 * unknown (see count_first) */
	uint64_t bytes_done, bytes_total;
	uint64_t bytes_stored;
	uint64_t warnings;
};

typedef void (*ocb_progress_fn)(void *arg,
				const struct ocb_backup_progress *p);

struct ocb_archive_write_opts {
	const char *const *sources;	/* absolute paths; each becomes a
					 * top-level directory of the backup
					 * named by its base name */
	size_t nsources;
	const char *const *excludes;	/* fnmatch globs on base names and
					 * relative paths */
	size_t nexcludes;
	const char *const *skip;	/* absolute paths never entered (the
					 * mountpoint, the cache dir) */
	size_t nskip;
	const char *prefix;		/* key prefix: "<prefix>/<name>.ocb" */
	const char *instance;
	const char *label;		/* NULL or validated [A-Za-z0-9._-] */
	const char *group;		/* NULL, or the group backup this one
					 * belongs to (validated like a label) */
	const char *role;		/* NULL, or the agent's role in it */
	const char *state_snapshot;	/* NULL, or an absolute path below a
					 * source: recorded (as its path in
					 * the backup) in the metadata
					 * "state-snapshot" */
	struct ocb_keyprov *kp;
	const struct ocb_put_opts *put;	/* SSE etc.; may be NULL */
	int zstd_level;			/* 0: 3 */
	ocb_progress_fn progress;	/* may be NULL; called often */
	void *progress_arg;
	const volatile int *cancel;	/* when *cancel becomes non-zero the
					 * backup stops: -ECANCELED, nothing
					 * left in the store */
	int count_first;		/* walk the sources once before, for
					 * files_total and bytes_total */
	/* each warning (a file changed, vanished, unreadable) besides the
	 * log line; may be NULL */
	void (*warning)(void *arg, const char *path, const char *what);
	void *warning_arg;
	/* where each source is restored to in place (NULL: the sources) */
	const char *const *source_paths;
	int64_t created;		/* the backup's time; 0: now */
	const char *tmp_dir;		/* NULL, or where SQLite snapshots and
					 * copies of files changing while read
					 * are spooled (the cache directory);
					 * NULL: every file is read in place */
	/* Incremental (format 3): a backup builds on the newest backup of
	 * the prefix that opens with kp (files unchanged since it are not
	 * read but referenced where that backup's catalog says their bytes
	 * are), unless full, or that backup is full_every - 1 backups past
	 * the last full one, or the last full one is older than
	 * full_after_days days (0: never, each), or that backup reads from
	 * too many others (archive_write.c, REFS_FULL) */
	int full;
	uint32_t full_every;
	uint32_t full_after_days;
};

struct ocb_backup_result {
	char name[256];		/* backup name */
	char key[OCB_KEY_MAX];	/* object key */
	uint64_t entries;
	uint64_t bytes_in;	/* source bytes read */
	uint64_t bytes_stored;	/* object size */
	uint64_t bytes_catalog;	/* ... of it the catalog's (index, details,
				 * header copy, trailer): the rest is frames */
	uint64_t bytes_new;	/* stream bytes stored in this object */
	uint64_t bytes_total;	/* stream bytes, as a full backup holds them */
	char base[256];		/* the backup it builds on, "" for a full one */
	uint64_t warnings;	/* files that changed, vanished, unreadable */
	uint64_t snapshots;	/* SQLite databases stored as snapshots */
	uint64_t snapshots_unchanged;	/* ... of them, unchanged since the
					 * base: its snapshot referenced */
	uint64_t torn;		/* files stored while they changed */
	uint64_t fell_back;	/* databases that could not be snapshotted,
				 * copied raw */
	double seconds;
};

/* a dry run's report of one entry: its path in the backup, what it would
 * be ("file", "directory", "SQLite database, stored as a snapshot",
 * "excluded by \"<glob>\"", ...) and its size */
typedef void (*ocb_plan_fn)(void *arg, const char *path, const char *what,
			    uint64_t size);

/*
 * What a backup with o would hold, reading metadata and file headers only
 * (no store): fn for each entry, res->entries and res->bytes_in the
 * totals.  0 or a negative errno.
 */
int ocb_archive_write_plan(const struct ocb_archive_write_opts *o,
			   ocb_plan_fn fn, void *arg,
			   struct ocb_backup_result *res);

/*
 * Take a backup: walk the sources, write the pax stream through frames,
 * compression and encryption into a streaming writer; the object becomes
 * visible only when complete.  Memory is bounded whatever the size.
 * Returns 0 (res filled; res->warnings may be non-zero) or negative errno.
 */
int ocb_archive_write(struct ocb_store *s,
		      const struct ocb_archive_write_opts *o,
		      struct ocb_backup_result *res);

#endif
