/*
 * repack.h - which objects `ocb prune` would repack: a pure function of
 * what retention kept and of what each kept backup reads from which
 * object (no I/O), so that every plan can be checked against a table.
 *
 * After retention (retention.h), some objects are kept only because kept
 * backups read a few of their bytes ("needed by").  Such an object's live
 * bytes are the union of the ranges of its physical stream the segments
 * of kept backups name; what they take in the store is, frame by frame,
 * their share of the frame's sealed bytes.  Everything else of the object
 * is dead: its frames no kept backup reads, the rest of the read ones,
 * its catalog (its backup is dropped), its header copies and trailer.
 * It is mostly dead when its live bytes take under live_percent of the
 * object.  The mostly dead are repacked together, whatever their size:
 * min_dead applies to what the whole plan frees (many small objects of
 * daily backups each free little; together they free a lot, and their
 * readers are replaced once for all of them).  When that plan is not
 * worth it, or frees less net than the former rule would (each object
 * freeing min_dead on its own), that rule's plan is taken.  So is
 * repacked, whatever its size, an object kept only for its bytes that
 * would otherwise be replaced.  Repacking it means: its live bytes are written once
 * into a replacement of the oldest kept backup reading them, every kept
 * backup that reads from a repacked object (or from a replaced one) is
 * replaced by a backup with the same logical content whose references
 * point at objects that stay, and then the repacked objects and the
 * replaced backups are deleted (docs/FORMAT.md, "Repacking").
 *
 * Bytes of a file that a backup kept by a rule holds (in an object that
 * is neither repacked nor replaced) are not live elsewhere: replacements
 * read such a file where that backup does (rule 3).
 *
 * The rule, in bytes in the store: the plan is made when the bytes it
 * frees (the dead bytes of the repacked objects: by that much the store
 * shrinks) are at least min_dead and exceed the bytes it writes (their
 * live bytes, written once, plus each replaced backup's object: its own
 * frames and the replacement's catalog); else nothing is repacked.
 */
#ifndef OCB_REPACK_H
#define OCB_REPACK_H

#include <stddef.h>
#include <stdint.h>

struct ocb_repack_policy {
	unsigned live_percent;	/* repack under this share of live bytes;
				 * 0: never repack */
	uint64_t min_dead;	/* and only when the plan frees at least
				 * this (or each object, the former rule) */
};

/* A frame of an object's own physical stream, in stream order. */
struct ocb_repack_frame {
	uint32_t sealed;	/* bytes it takes in the object */
	uint32_t plain;		/* bytes of the stream it holds */
};

/* What a backup reads from the physical stream of one object it
 * references: bytes [poff, poff + len) of its ref number ref
 * (OCB_REPACK_SELF: of its own stream, listed only with a key below). */
#define OCB_REPACK_SELF UINT32_MAX
struct ocb_repack_seg {
	uint32_t ref;
	uint64_t poff, len;
};

struct ocb_repack_item {
	const char *name;
	int native;		/* a native backup (others read from none) */
	int keep;		/* retention keeps it (ocb_ret_item.keep) */
	int needed;		/* ... only because a kept one reads from it */
	int pinned;		/* never replaced: what it reads stays */
	int opened;		/* authenticated: the fields below are known */
	uint64_t stored;	/* its own physical stream (bytes it stores) */
	uint64_t object_size;	/* bytes in the store (0: unknown, stored
				 * taken instead) */
	const struct ocb_repack_frame *frames;	/* its own frames; NULL:
				 * unknown (object_size prorated over its
				 * stream, the catalog too) */
	size_t nframes;
	const char *const *ref_names;	/* the objects it reads from */
	size_t nrefs;
	const struct ocb_repack_seg *seg;	/* what it reads from them */
	size_t nseg;
	/* per seg: when it is all of a file's data, the file's content
	 * (OCB_REPACK_KEY_LEN bytes: SHA-256, size), else NULL; NULL: none */
	const uint8_t *const *seg_key;
	/* out */
	uint64_t live;		/* bytes of its stream kept backups read
				 * (needed ones only; else 0) */
	uint64_t live_object;	/* ... the bytes they take in the store */
	int repack;		/* mostly dead: moved, then deleted */
	int rewrite;		/* kept, reads from a repacked or replaced
				 * object: replaced */
	int holds;		/* kept by a rule, reading only from such:
				 * never repacked nor replaced, so its
				 * files may be read in place (rule 3) */
};

struct ocb_repack_totals {
	size_t repacked, rewritten;
	uint64_t dead;		/* bytes in the store the plan frees */
	uint64_t written;	/* bytes in the store it writes */
	uint64_t object_bytes;	/* bytes in the store of the objects it
				 * deletes (the repacked and the replaced) */
	int worth;		/* dead > written and dead >= min_dead:
				 * the plan stands */
	int together;		/* small objects judged together (else
				 * each freeing min_dead on its own) */
	int blocked;		/* no plan: a kept backup could not be
				 * read, so any object may hold its bytes */
};

/* The defaults: live under 50%, the plan freeing at least 4 MiB. */
#define OCB_REPACK_LIVE_PERCENT 50u
#define OCB_REPACK_MIN_DEAD (4ull << 20)
#define OCB_REPACK_KEY_LEN 40

/*
 * Decide live, live_object, repack and rewrite of every item (after
 * ocb_retention_reach), and the totals.  A backup a replaced one reads
 * from stays unless it is repacked itself; references of repacked items
 * do not count towards anyone's live bytes (they go), so the decision is
 * repeated until it holds.  When the plan is not worth it (totals->worth
 * 0), no item is marked repack or rewrite; nor when a kept native item
 * did not open (what it reads is unknown).  A kept pinned item is never
 * replaced: the objects it reads from are never repacked, nor those
 * they read from.  A seg with a key does not count towards the live
 * bytes of the object it reads when an item that holds (out field holds)
 * reads a whole file of that content from another object, or stores
 * it: its replacement reads it there (rule 3).  0 or -ENOMEM.
 */
int ocb_repack_plan(struct ocb_repack_item *v, size_t n,
		    const struct ocb_repack_policy *p,
		    struct ocb_repack_totals *t);

#endif
