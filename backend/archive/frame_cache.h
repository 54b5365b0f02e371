/*
 * frame_cache.h - the mount's RAM cache of decrypted frames, with
 * read-ahead for sequential readers.
 *
 * Frames are keyed by (archive id, frame index), bounded by bytes (LRU;
 * at least 8 MiB).  A frame being fetched is an entry in state "loading"
 * that other readers wait for (at most 120 s), so reads that arrive out of
 * order (kernel read-ahead) never fetch a frame twice.  Missing adjacent
 * frames are fetched with one range request.  No lock is held while
 * fetching or copying.  Every function may be called from many threads.
 *
 * Read-ahead: a read that continues where the previous read of the same
 * ocb_read_state ended (give or take the reordering of parallel FUSE
 * reads) doubles the window, 1, 2, 4 ... frames past the read, up to eight
 * requests' worth; worker threads fetch it in parallel with the reader,
 * each request on its own connection and sized from the measured
 * round-trip time and per-connection throughput (twice their product, at
 * least 8 frames).  When the store is far (a round trip of 20 ms or more)
 * the window counts in requests instead of frames, up to twelve of them
 * in flight: each connection is then slow, and only more of them fill the
 * link.  Any other read resets the window: random reads never read ahead.
 * Unread read-ahead holds at most half the cache, and frames a reader is
 * copying are never evicted.  The buffers of evicted frames take the
 * frames fetched next.
 */
#ifndef OCB_FRAME_CACHE_H
#define OCB_FRAME_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ocb_archive;
struct ocb_buf;
struct ocb_frame_cache;
struct iovec;

/* Per open file: zero-initialise.  Tracks sequential access. */
struct ocb_read_state {
	uint64_t next_off;	/* where a sequential read would continue */
	uint32_t window;	/* read-ahead in frames, 0 = none yet */
};

/* Account a read of len bytes at off to rs: the read-ahead window in
 * frames it earns (0 for a read that does not continue the stream).  The
 * caller serialises the steps of one state; the read itself need not be. */
uint32_t ocb_read_state_step(struct ocb_read_state *rs, uint64_t off,
			     size_t len);

int ocb_frame_cache_new(size_t ram_bytes, struct ocb_frame_cache **out);
void ocb_frame_cache_free(struct ocb_frame_cache *fc);

/*
 * Read len bytes at off of file entry idx of archive a, whose cache id is
 * aid (unique per opened archive, never reused; not 0).  rs may be NULL (no
 * read-ahead).  Returns the byte count (short only at end of file) or a
 * negative errno: -EBADMSG a frame failed verification (nothing of it was
 * cached or returned; the next read tries the store again), -EISDIR not a
 * file, -ETIMEDOUT another reader's fetch of a needed frame took too long,
 * store errors.
 */
ssize_t ocb_frame_cache_pread(struct ocb_frame_cache *fc,
			      struct ocb_archive *a, uint64_t aid,
			      uint32_t idx, void *buf, size_t len,
			      uint64_t off, struct ocb_read_state *rs);

/* As ocb_frame_cache_pread, with the window from ocb_read_state_step
 * taken by the caller (under its own lock, before a read that may block:
 * reads of one file run in parallel). */
ssize_t ocb_frame_cache_pread_ahead(struct ocb_frame_cache *fc,
				    struct ocb_archive *a, uint64_t aid,
				    uint32_t idx, void *buf, size_t len,
				    uint64_t off, uint32_t window);

/* The bytes of a read, as pieces of frames held for the call: 0 or a
 * negative errno, which the read returns. */
typedef int (*ocb_frame_cache_iov_fn)(void *arg, const struct iovec *iov,
				      int n);

/* As ocb_frame_cache_pread_ahead, handing the bytes to fn (once, unless
 * the read fails first or is empty) as pieces of the cached frames instead
 * of copying them: a FUSE reply writes them to the kernel from there. */
ssize_t ocb_frame_cache_read_iov(struct ocb_frame_cache *fc,
				 struct ocb_archive *a, uint64_t aid,
				 uint32_t idx, size_t len, uint64_t off,
				 uint32_t window, ocb_frame_cache_iov_fn fn,
				 void *arg);

/* Drop every frame of archive aid and wait for read-ahead still using it:
 * call before the archive is freed. */
void ocb_frame_cache_forget(struct ocb_frame_cache *fc, uint64_t aid);

/* "name value\n" counter lines: cache_ram_bytes, cache_ram_limit,
 * cache_ram_peak_bytes (most held at once: frames in use by readers are
 * not evicted, so it may pass the limit by those),
 * cache_ram_readahead_bytes (fetched ahead, not read yet), cache_frame_hits,
 * cache_frame_misses (needed frames not cached nor in flight),
 * cache_frames_fetched, cache_frames_readahead (claimed for read-ahead),
 * cache_fetch_requests (range requests), cache_bytes_decoded, cache_waits
 * (reads that waited for another's fetch), cache_wait_timeouts,
 * cache_evictions, cache_readahead_unused_evicted, cache_fetch_failures,
 * cache_link_rtt_us and cache_link_bytes_per_s (the link as measured, 0
 * until known), cache_readahead_run_frames (frames per read-ahead
 * request), cache_buffers_reused (frames decoded into the buffer of an
 * evicted one); then the phys_cache_* lines of ocb_frame_cache_phys(). */
void ocb_frame_cache_stats(struct ocb_frame_cache *fc, struct ocb_buf *out);

/* The cache of physical frames (phys_cache.h) that incremental backups
 * read through this cache should use (ocb_archive_set_phys_cache()): a
 * quarter of the bound at most, counted in it, so that every decoded
 * frame the mount holds stays within ram_bytes. */
struct ocb_phys_cache *ocb_frame_cache_phys(struct ocb_frame_cache *fc);

#endif
