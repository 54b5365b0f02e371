/*
 * archive_rewrite.h - writing the replacement of a kept backup when a
 * repack removes objects it reads from (docs/FORMAT.md, "Repacking").
 *
 * The replacement K' of a backup K holds K's logical stream and catalog
 * (entries, data offsets, SHA-256s, block hashes, entry stats, sources,
 * root xattrs) under a new backup id, a data key of its own and its own
 * name.  Each byte is taken, in this order, from: (1) where K reads it,
 * when that object stays; (2) where a replacement written earlier in the
 * same repack stored the same bytes of the same object (the map below);
 * (3) a file's data: where a backup that stays holds a file of the same
 * SHA-256 and size (struct ocb_rewrite_held: its header and frame records
 * taken from that backup's authenticated catalog, the object checked
 * before it is named); (4) else K' stores it in frames of its own, read
 * through K (every frame authenticated under K's catalog).
 *
 * Nothing here deletes: the caller opens the replacement, checks it
 * (ocb_rewrite_check), and only then lets later replacements build on it
 * (ocb_rewrite_map_commit) and deletes K.
 */
#ifndef OCB_ARCHIVE_REWRITE_H
#define OCB_ARCHIVE_REWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "ocb_archive.h"

/* Where the replacements of one repack stored the bytes of the objects
 * it removes: per object, physical ranges -> (replacement, offset). */
struct ocb_rewrite_map;

int ocb_rewrite_map_new(struct ocb_rewrite_map **out);
void ocb_rewrite_map_free(struct ocb_rewrite_map *m);

/* The files of backups that stay, by content, and the objects holding
 * them (rule 3). */
struct ocb_rewrite_held;

int ocb_rewrite_held_new(struct ocb_rewrite_held **out);
void ocb_rewrite_held_free(struct ocb_rewrite_held *h);
/* Add the files whose whole data a (opened under our key) stores or
 * reads in one object that stays (stays(arg, name)).  0 or -ENOMEM. */
int ocb_rewrite_held_add(struct ocb_rewrite_held *h,
			 const struct ocb_archive *a,
			 int (*stays)(void *arg, const char *name), void *arg);

struct ocb_rewrite_opts {
	const char *prefix;		/* "<prefix>/<name>.ocb" */
	const char *name;		/* the replacement's name */
	const char *base;		/* recorded as its base (a hint) */
	struct ocb_keyprov *kp;
	const struct ocb_put_opts *put;	/* SSE; may be NULL */
	int zstd_level;			/* 0: 3 */
	/* 1 when object name stays (K' may read it where K does) */
	int (*stays)(void *arg, const char *name);
	void *arg;
	const struct ocb_rewrite_held *held;	/* rule 3; NULL: none */
	const volatile int *cancel;	/* -ECANCELED, nothing stored */
};

struct ocb_rewrite_result {
	char key[OCB_KEY_MAX];
	uint64_t bytes_stored;	/* object size */
	uint64_t bytes_new;	/* stream bytes stored in it */
	uint64_t bytes_moved;	/* of those, bytes of removed objects */
	uint64_t bytes_kept;	/* logical bytes still read where K does */
	uint64_t bytes_mapped;	/* ... read from earlier replacements */
	uint64_t bytes_held;	/* ... read where a backup that stays holds
				 * the same file */
	uint32_t owner;		/* its number in the map */
};

/*
 * Write the replacement of k (a format 3 backup opened with o->kp),
 * create-only under "<prefix>/<name>.ocb".  Every object it keeps reading
 * where k does is checked first (its header as k's catalog copied it,
 * long enough).  0 (res filled), -EEXIST (the name is taken), -EINVAL
 * (k is not format 3), -EBADMSG (a source failed authentication), or a
 * store error; nothing is stored on failure.  The bytes it stored are
 * recorded in m as its own, usable by later replacements only after
 * ocb_rewrite_map_commit.
 */
int ocb_archive_rewrite(struct ocb_store *s, struct ocb_archive *k,
			const struct ocb_rewrite_opts *o,
			struct ocb_rewrite_map *m,
			struct ocb_rewrite_result *res);

/*
 * Is r (the replacement, opened) the same backup as k: the same logical
 * stream size, entries (every field, name, target, xattr), sources,
 * block hashes and entry stats?  0, or -EBADMSG (logged).
 */
int ocb_rewrite_check(const struct ocb_archive *k,
		      const struct ocb_archive *r);

/* The replacement owner, opened and checked: later replacements may
 * read the bytes it stored (its header and frame table taken from r).
 * 0 or -ENOMEM. */
int ocb_rewrite_map_commit(struct ocb_rewrite_map *m, uint32_t owner,
			   const struct ocb_archive *r);
/* Forget what replacement owner stored (it failed its check). */
void ocb_rewrite_map_drop(struct ocb_rewrite_map *m, uint32_t owner);

#endif
