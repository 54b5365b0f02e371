/*
 * phys_cache.h - decoded physical frames of format 3 backups, kept across
 * reads: an incremental backup's logical frames are assembled from the
 * frames of this object and of older ones, and the same older frame (a
 * day's changed blocks of a large file) serves many logical frames, read
 * by different calls, workers, and backups of one series.
 *
 * A frame is keyed by the id of the backup whose object physically holds
 * it and its index there, and is kept only after it was opened (its tag
 * checked with that backup's key and id, as its own reader would).  A hit
 * must also match the frame record the asking catalog holds (offset,
 * lengths, flags), so a frame is never handed out for a record other than
 * the one it was verified against.  Plaintext lives in RAM only, bounded
 * by bytes (LRU; by next use for a sequential read's frames).  Every
 * function may be called from many threads.
 *
 * Reads running at once (a pipeline's workers, read-ahead) need the same
 * frames at the ends of their ranges: the first to ask claims a frame
 * (ocb_phys_cache_claim) and fetches it, the others wait for it
 * (ocb_phys_cache_get_wait) instead of fetching it too.
 *
 * A sequential read fetches with its own frames those of the same object
 * that the rest of the stream needs later (one request, not two), and says
 * of each frame it keeps or reads when it will use it next
 * (ocb_phys_cache_put_due, ocb_phys_cache_set_due): the frames used
 * soonest stay.
 *
 * The reads that share the kept frames share a bound on their working
 * memory too (mem_gate.h): each read of an incremental backup holds its
 * fetched frames and its decode buffers until it ends, and many run at
 * once (a mount's readers and read-ahead workers, a command's pipeline).
 */
#ifndef OCB_PHYS_CACHE_H
#define OCB_PHYS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct ocb_buf;
struct ocb_frame_rec;	/* catalog.h */
struct ocb_phys_cache;

/* At most max_bytes of frames (0: the cache keeps nothing), and reads
 * holding at most work_bytes at once (0: no bound). */
int ocb_phys_cache_new(size_t max_bytes, size_t work_bytes,
		       struct ocb_phys_cache **out);
/* Accepts NULL. */
void ocb_phys_cache_free(struct ocb_phys_cache *pc);

/* What the bound on frames may grow to at a read's request
 * (ocb_phys_cache_want): cap_bytes, never less than max_bytes (the
 * default: no growth). */
void ocb_phys_cache_set_cap(struct ocb_phys_cache *pc, size_t cap_bytes);
/* The frames' memory, and the working memory of the reads sharing pc,
 * from one reservation of the cap's and the work bound's bytes in huge
 * pages (phys_arena.h; for a command's cache, not a mount's), made when
 * first needed.  When it cannot be made: malloc, as without it. */
void ocb_phys_cache_reserve(struct ocb_phys_cache *pc);
/* len bytes of a read's working memory (fetched frames, decode buffers):
 * from the reservation when there is one and room in it, else malloc;
 * NULL when out of memory (pc may be NULL). */
void *ocb_phys_cache_mem_alloc(struct ocb_phys_cache *pc, size_t len);
/* Give back what ocb_phys_cache_mem_alloc(pc, len) gave (p NULL: nothing). */
void ocb_phys_cache_mem_free(struct ocb_phys_cache *pc, void *p, size_t len);
/* A read will keep bytes of frames at once (a sequential read of a
 * stream whose segments spread over many objects): the bound grows to
 * them, within the cap, and stays (pc NULL: nothing). */
void ocb_phys_cache_want(struct ocb_phys_cache *pc, size_t bytes);

/* Is frame (id, frame) with record rec cached?  (A hint: it may be
 * evicted before it is read.)  pc may be NULL: no. */
int ocb_phys_cache_has(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame, const struct ocb_frame_rec *rec);

/* ocb_phys_cache_has(), or is another read bringing it (claimed, or being
 * kept)?  What ocb_phys_cache_claim() would find KEPT or COMING, as a
 * hint. */
int ocb_phys_cache_near(struct ocb_phys_cache *pc, const uint8_t id[16],
			uint32_t frame, const struct ocb_frame_rec *rec);

/* Copy frame (id, frame) with record rec, rec->plain_len bytes, to out:
 * 0, or -ENOENT when it is not cached (pc NULL: never). */
int ocb_phys_cache_get(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame, const struct ocb_frame_rec *rec,
		       void *out);

/* ocb_phys_cache_get() (wait: ocb_phys_cache_get_wait()) without the
 * copy: *data is the kept plaintext, which stays (even if evicted) until
 * ocb_phys_cache_unpin(pc, *pinned); -ENOENT when it is not cached. */
int ocb_phys_cache_pin(struct ocb_phys_cache *pc, const uint8_t id[16],
		       uint32_t frame, const struct ocb_frame_rec *rec,
		       int wait, const void **data, void **pinned);
/* Done with what ocb_phys_cache_pin() gave (pinned NULL: nothing). */
void ocb_phys_cache_unpin(struct ocb_phys_cache *pc, void *pinned);

/* What a read about to fetch frame (id, frame) with record rec should
 * do: OCB_PHYS_KEPT (cached: take it from here), OCB_PHYS_COMING (another
 * read claimed it and will put it: wait for it), OCB_PHYS_MINE (claimed
 * now: fetch it, then ocb_phys_cache_put() or ocb_phys_cache_unclaim()
 * it, before waiting on anything), OCB_PHYS_MISS (fetch it; nothing to
 * resolve: pc NULL, kept under another record, or coming while the frames
 * reads hold fill the cache, so that it may not be kept).  A frame KEPT or
 * COMING is held for the caller, not evicted, until its
 * ocb_phys_cache_unhold().  They are hints still: a claim may be dropped,
 * or the frame kept under another record, before it is read. */
enum { OCB_PHYS_MISS, OCB_PHYS_MINE, OCB_PHYS_KEPT, OCB_PHYS_COMING };
int ocb_phys_cache_claim(struct ocb_phys_cache *pc, const uint8_t id[16],
			 uint32_t frame, const struct ocb_frame_rec *rec);

/* The caller is done with frame (id, frame), which ocb_phys_cache_claim()
 * found KEPT or COMING (pc NULL: nothing). */
void ocb_phys_cache_unhold(struct ocb_phys_cache *pc, const uint8_t id[16],
			   uint32_t frame);

/* Drop the claim on frame (id, frame) when it was not put (the fetch
 * failed, or the put kept nothing); waiters wake and miss.  Nothing when
 * the frame is kept, being kept, or not claimed (pc NULL too). */
void ocb_phys_cache_unclaim(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame);

/* ocb_phys_cache_get(), after waiting while the frame is claimed or being
 * kept by another read. */
int ocb_phys_cache_get_wait(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame, const struct ocb_frame_rec *rec,
			    void *out);

/* Keep a copy of frame (id, frame), verified against rec, whose
 * plaintext is data (rec->plain_len bytes); fills a claim on it.  Best
 * effort: nothing is kept when memory is short or pc is NULL. */
void ocb_phys_cache_put(struct ocb_phys_cache *pc, const uint8_t id[16],
			uint32_t frame, const struct ocb_frame_rec *rec,
			const void *data);

/* ocb_phys_cache_put() of a frame no other read is known to need (inside
 * a read's run of a large file): kept as the least recently used, the
 * first to be evicted. */
void ocb_phys_cache_put_cold(struct ocb_phys_cache *pc, const uint8_t id[16],
			     uint32_t frame, const struct ocb_frame_rec *rec,
			     const void *data);

/* A frame's next use by a sequential read now at logical offset now:
 * the logical offset due (OCB_PHYS_NEVER: it will not use it again);
 * ahead: fetched for that use only (counted). */
#define OCB_PHYS_NEVER UINT64_MAX
struct ocb_phys_due {
	uint64_t now, due;
	int ahead;
};

/* ocb_phys_cache_put() of a frame with its next use d: frames go by their
 * next use, those not used again (or long ago) first, then those put
 * without one (LRU), then the one used last; nothing is kept when every
 * kept frame is used before it (or it is not used again) and the cache is
 * full. */
void ocb_phys_cache_put_due(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame, const struct ocb_frame_rec *rec,
			    const void *data, const struct ocb_phys_due *d);

/* The next use of frame (id, frame), if kept, is d (after a read of it). */
void ocb_phys_cache_set_due(struct ocb_phys_cache *pc, const uint8_t id[16],
			    uint32_t frame, const struct ocb_phys_due *d);

/* The bound on the working memory of the reads sharing pc (NULL when
 * pc is NULL: none). */
struct ocb_mem_gate *ocb_phys_cache_gate(struct ocb_phys_cache *pc);

/* Bytes held now (for a cache sharing one memory bound with it). */
size_t ocb_phys_cache_bytes(struct ocb_phys_cache *pc);

/* "name value\n" counter lines: phys_cache_bytes, phys_cache_limit,
 * phys_cache_hits, phys_cache_misses (lookups of frames not cached),
 * phys_cache_evictions, phys_cache_claim_waits (reads that waited for a
 * frame another read fetched), phys_cache_ahead_bytes (fetched ahead,
 * not read yet), phys_cache_ahead_kept, phys_cache_ahead_used (of those,
 * read later); then the reads' working memory: phys_work_bytes,
 * phys_work_limit, phys_work_peak_bytes, phys_work_waits. */
void ocb_phys_cache_stats(struct ocb_phys_cache *pc, struct ocb_buf *out);

#endif
