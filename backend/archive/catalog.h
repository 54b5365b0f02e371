/*
 * catalog.h - the catalog of a backup: building it while writing, and
 * decoding + validating it (hostile input) when reading.  Layout in
 * docs/FORMAT.md.
 *
 * Order: entry 0 is the root directory; the children of every directory
 * are contiguous, sorted by name, and come after their parent
 * (breadth-first), so a lookup is a binary search and a listing a slice.
 */
#ifndef OCB_CATALOG_H
#define OCB_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "ocb_archive.h"

#define OCB_CATALOG_MAGIC "OCBCAT04"
#define OCB_CATALOG_MAGIC_V3 "OCBCAT03"
#define OCB_CATALOG_MAGIC_V2 "OCBCAT02"
#define OCB_CATALOG_MAGIC_V1 "OCBCAT01"
#define OCB_CATALOG_VERSION 4	/* written into backups: index + details */
#define OCB_CATALOG_VERSION_WHOLE 3	/* the newest in one blob */
#define OCB_CATALOG_MAX_REFS 4096u
#define OCB_CATALOG_MAX_ENTRIES 50000000u
#define OCB_NAME_MAX 255
#define OCB_TARGET_MAX 4095
#define OCB_XATTR_VALUE_MAX 65536
#define OCB_NOLINK UINT32_MAX

struct ocb_frame_rec {
	uint64_t off;		/* object offset of the sealed frame */
	uint32_t sealed_len;
	uint32_t plain_len;
	uint32_t flags;
};

struct ocb_source_rec {
	uint32_t entry;		/* top-level directory of this source */
	const char *path;	/* original absolute path */
};

/*
 * Format 3: an object whose bytes this backup reads (a "ref").  Its frames
 * are the catalog's frame records [first_frame, first_frame + nframes),
 * after this object's own; header is its 512-byte header, copied.
 */
struct ocb_ref_rec {
	uint8_t id[16];
	int64_t created;
	const char *name;	/* key: "<prefix>/<name>.ocb" */
	uint32_t frame_size;
	uint32_t first_frame, nframes;
	uint64_t stream_size;	/* its physical stream */
	uint8_t header[512];
};

/* Format 3: logical bytes [loff, loff + len) are bytes [poff, poff + len)
 * of the physical stream of source (0: this object; r + 1: ref r). */
struct ocb_segment {
	uint64_t loff, len, poff;
	uint32_t source;
};

/* Format 3: what the writer compares to call a file unchanged, and to
 * reference the entry's tar headers: the hdr_len bytes before its
 * data_off (0: none recorded) have the keyed hash hdr_mac */
#define OCB_HDR_MAC_LEN 8
#define OCB_HDR_KEY_LEN 16
struct ocb_entry_stat {
	uint64_t ino;
	int64_t ctime;
	uint32_t ctime_nsec;
	uint32_t hdr_len;
	uint8_t hdr_mac[OCB_HDR_MAC_LEN];
};

/* Format 3: the SHA-256 of each block of a file's content, blocks of
 * block_size aligned at offset 0 (the last may be shorter) */
struct ocb_block_hashes {
	uint32_t entry;		/* the file's entry index */
	uint32_t block_size;	/* a power of two, 4 KiB - 16 MiB */
	uint32_t count;		/* ceil(size / block_size) */
	const uint8_t *hash;	/* count x 32 bytes */
};

/* decoded, validated catalog */
struct ocb_catalog {
	struct ocb_entry *e;
	uint32_t n;
	struct ocb_xattr *x;
	uint32_t nx;
	struct ocb_frame_rec *f;	/* own frames, then the refs' */
	uint32_t nf;			/* own frames (the trailer's count) */
	uint32_t nlf;			/* logical frames: frame_size cuts
					 * of the logical stream */
	struct ocb_source_rec *src;
	uint32_t nsrc;
	uint64_t stream_size;	/* the logical stream */
	uint64_t stored_size;	/* this object's physical stream (before
				 * format 3: stream_size) */
	struct ocb_ref_rec *refs;	/* format 3, else none */
	uint32_t nrefs;
	struct ocb_segment *seg;	/* format 3, else none */
	uint32_t nseg;
	struct ocb_entry_stat *st;	/* format 3: one per entry, else NULL */
	struct ocb_block_hashes *bh;	/* format 3: by entry index */
	uint32_t nbh;
	uint8_t *hashes;		/* format 3: the hash area, or NULL */
	const char *base;	/* format 3: the backup built on, or "" */
	uint32_t depth;		/* format 3: backups since the last full */
	int64_t full_created;	/* format 3: that full backup's time */
	uint8_t header_key[OCB_HDR_KEY_LEN];	/* format 3: the key of the
					 * entries' hdr_mac, one per chain */
	int64_t created;
	uint32_t frame_size;
	const char *name, *instance, *host, *label, *key_provider;
	const char *prefix;	/* format 2: the key's prefix; else "" */
	uint32_t version;	/* 1, 2 or 3, from the magic */
	uint32_t warnings;	/* format 2; else 0 */
	uint8_t *blob;		/* the string table and xattr values */
	/* format 4: where the details (SHA-256s, entry stats, block hashes)
	 * lie in the object, sealed; pending until they are decoded
	 * (ocb_catalog_decode_details()): until then every sha256 is zero,
	 * st NULL and nbh 0 */
	uint64_t details_off, details_len, details_plain;
	int details_pending;
	uint32_t details_nbh;		/* what the index says they hold */
	uint64_t details_hash_len;
};

/* The entry type of an st_mode (type bits), 0 for none known. */
uint32_t ocb_catalog_entry_type(unsigned int mode);

/* Decode blob (taken over: freed, also on failure; the catalog keeps only
 * a copy of its strings).  A format 4 blob is the index: the details are
 * pending.  Returns 0 or -EBADMSG (the reason is logged at debug level). */
int ocb_catalog_decode(uint8_t *blob, size_t len, struct ocb_catalog **out);
/* Format 4: decode the details blob (taken over: freed) into c, whose
 * details are pending: 0 (no longer pending), or -EBADMSG / -ENOMEM with
 * c unchanged. */
int ocb_catalog_decode_details(struct ocb_catalog *c, uint8_t *blob,
			       size_t len);
void ocb_catalog_free(struct ocb_catalog *c);
/* The block hashes of entry, or NULL. */
const struct ocb_block_hashes *ocb_catalog_blocks(const struct ocb_catalog *c,
						 uint32_t entry);

/* ---- building ------------------------------------------------------------ */

struct ocb_catb;

/* what the writer knows about one entry */
struct ocb_catb_entry {
	uint32_t parent;	/* seq of the parent directory (root: 0) */
	const char *name;	/* base name */
	uint32_t type, mode, uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint64_t size;
	uint64_t data_off;
	const uint8_t *sha256;	/* NULL: zeros */
	const char *target;	/* symlink target or NULL */
	uint32_t link_to;	/* hardlink: seq of the first entry, else OCB_NOLINK */
	size_t nxattrs;
	const char *const *xnames;
	const void *const *xvalues;
	const size_t *xlens;
};

/* A builder holding the root directory (seq 0). */
int ocb_catb_new(struct ocb_catb **out);
void ocb_catb_free(struct ocb_catb *b);
/* Set the root directory's attributes. */
void ocb_catb_root(struct ocb_catb *b, uint32_t mode, int64_t mtime);
/* Add an entry; *seq receives its number (for children and links). */
int ocb_catb_add(struct ocb_catb *b, const struct ocb_catb_entry *e,
		 uint32_t *seq);
/* An xattr of the root directory (what the backup says of itself: the
 * group it belongs to, format 2): only before any other entry has
 * xattrs.  0, -EINVAL, -ENOMEM, -EFBIG. */
int ocb_catb_root_xattr(struct ocb_catb *b, const char *name,
			const void *value, size_t len);
/* Update content facts of a file entry after its data was written. */
void ocb_catb_set_content(struct ocb_catb *b, uint32_t seq, uint64_t size,
			  const uint8_t sha256[32]);
/* A file stored again later in the stream (it changed while read): its
 * content now starts at data_off, with this modification time. */
void ocb_catb_set_copy(struct ocb_catb *b, uint32_t seq, uint64_t data_off,
		       int64_t mtime, uint32_t mtime_nsec);
/* Set the capture flags (OCB_ENTRY_*) of an entry. */
void ocb_catb_set_flags(struct ocb_catb *b, uint32_t seq, uint32_t flags);
int ocb_catb_add_source(struct ocb_catb *b, uint32_t seq, const char *path);
int ocb_catb_add_frame(struct ocb_catb *b, const struct ocb_frame_rec *f);
uint32_t ocb_catb_nentries(const struct ocb_catb *b);

/* Format 3.  What the writer saw of entry seq (for the next backup's
 * "unchanged" test). */
void ocb_catb_set_stat(struct ocb_catb *b, uint32_t seq, uint64_t ino,
		       int64_t ctime, uint32_t ctime_nsec);
/* The len bytes of tar headers right before entry seq's data_off have the
 * keyed hash mac (ocb_catb_set_copy forgets it: another header). */
void ocb_catb_set_header(struct ocb_catb *b, uint32_t seq, uint32_t len,
			 const uint8_t mac[OCB_HDR_MAC_LEN]);
/* A referenced object (the record's name and header copied; frames: its
 * nframes frame records): *index its number (sources count it + 1).  The
 * same id again gives the index it has.  0, -ENOMEM, -EFBIG past
 * OCB_CATALOG_MAX_REFS. */
int ocb_catb_add_ref(struct ocb_catb *b, const struct ocb_ref_rec *ref,
		     const struct ocb_frame_rec *frames, uint32_t *index);
/* Logical bytes [loff, loff + len) come from source's physical stream at
 * poff; segments are added in logical order, and one continuing the
 * previous in both streams extends it.  With none added, one segment of
 * source 0 covers the stream.  0, -ENOMEM, -EFBIG. */
int ocb_catb_add_segment(struct ocb_catb *b, uint64_t loff, uint64_t len,
			 uint64_t poff, uint32_t source);
uint32_t ocb_catb_nsegments(const struct ocb_catb *b);
/* The SHA-256s of file seq's blocks of block_size (a power of two, 4 KiB
 * - 16 MiB), added in order from block 0.  begin forgets what seq had
 * (a file stored again); the catalog records them only when their count
 * matches the file's final size.  0, -EINVAL, -ENOMEM, -EFBIG. */
int ocb_catb_blocks_begin(struct ocb_catb *b, uint32_t seq,
			  uint32_t block_size);
int ocb_catb_blocks_add(struct ocb_catb *b, uint32_t seq,
			const uint8_t hash[32]);
/* All of seq's block hashes at once (copied from a base's entry). */
int ocb_catb_set_blocks(struct ocb_catb *b, uint32_t seq,
			const struct ocb_block_hashes *h);
/* Bytes of block hashes added so far (dead ones included). */
uint64_t ocb_catb_hash_bytes(const struct ocb_catb *b);

struct ocb_catb_info {
	const char *name, *instance, *host, *label, *key_provider;
	const char *prefix;	/* where the object is stored: "<prefix>/<name>.ocb" */
	int64_t created;
	uint32_t frame_size;
	uint32_t warnings;	/* entries captured with a warning */
	uint64_t stream_size;	/* the logical stream */
	/* format 3 */
	uint64_t stored_size;	/* own physical stream; 0: stream_size */
	const char *base;	/* NULL or "": a full backup */
	uint32_t depth;
	int64_t full_created;	/* 0: created */
	const uint8_t *header_key;	/* OCB_HDR_KEY_LEN bytes; NULL: zeros */
	uint32_t version;	/* 0: OCB_CATALOG_VERSION_WHOLE (one blob);
				 * 2 for tests; 4: the part below */
	/* format 4: which part is encoded, and for the index where the
	 * sealed details lie */
	int details;		/* 1: the details, 0: the index */
	uint64_t details_off, details_len, details_plain;
};
/* Sort, number and encode: *blob malloc'ed.  0, -EFBIG past
 * OCB_CATALOG_MAX, -ENOMEM. */
int ocb_catb_encode(struct ocb_catb *b, const struct ocb_catb_info *info,
		    uint8_t **blob, size_t *len);
/* The same, compressed as it is encoded into one zstd frame (content size
 * recorded), so the plaintext is never held whole: *z malloc'ed with room
 * spare bytes after its *zlen (for the seal's tag); *plain_len gets the
 * plaintext length. */
int ocb_catb_encode_zstd(struct ocb_catb *b, const struct ocb_catb_info *info,
			 int level, size_t room, uint8_t **z, size_t *zlen,
			 uint64_t *plain_len);

#endif
