/*
 * frame_cache.h - the mount's RAM cache of decrypted frames, with
 * read-ahead for sequential readers.
 *
 * Frames are keyed by (archive id, frame index), bounded by bytes (LRU).
 * A frame being fetched is an entry in state "loading" that other readers
 * wait for, so reads that arrive out of order (kernel read-ahead) never
 * fetch a frame twice.  Missing adjacent frames are fetched with one range
 * request.  No lock is held while fetching.
 */
#ifndef OCB_FRAME_CACHE_H
#define OCB_FRAME_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ocb_archive;
struct ocb_buf;
struct ocb_frame_cache;

/* Per open file: zero-initialise.  Tracks sequential access. */
struct ocb_read_state {
	uint64_t next_off;	/* where a sequential read would continue */
	uint32_t window;	/* read-ahead in frames, 0 = none yet */
};

int ocb_frame_cache_new(size_t ram_bytes, struct ocb_frame_cache **out);
void ocb_frame_cache_free(struct ocb_frame_cache *fc);

/*
 * Read len bytes at off of file entry idx of archive a, whose cache id is
 * aid (unique per opened archive, never reused).  Returns the byte count
 * (short only at end of file) or a negative errno (-EBADMSG: a frame
 * failed verification; nothing of it was cached or returned).
 */
ssize_t ocb_frame_cache_pread(struct ocb_frame_cache *fc,
			      struct ocb_archive *a, uint64_t aid,
			      uint32_t idx, void *buf, size_t len,
			      uint64_t off, struct ocb_read_state *rs);

/* Drop every frame of archive aid and wait for read-ahead still using it:
 * call before the archive is freed. */
void ocb_frame_cache_forget(struct ocb_frame_cache *fc, uint64_t aid);

/* "name value\n" counter lines. */
void ocb_frame_cache_stats(struct ocb_frame_cache *fc, struct ocb_buf *out);

#endif
