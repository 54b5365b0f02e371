/*
 * phys_arena.h - memory for the kept frames of a command's phys_cache.h:
 * one reservation, marked for transparent huge pages, handed out in
 * 64 KiB granules.
 *
 * Why: a restore of an incremental backup keeps tens of MiB of decoded
 * frames (a month of days' frames behind a large file), and each fresh
 * 4 KiB page of them cost a page fault (measured: a third of the faults
 * of the newest backup of a 30-deep series, 16,000 of them); a huge page
 * faults once per 2 MiB.  Pages once used stay resident until the arena
 * is freed: for a command's cache, whose memory is its own, not for a
 * mount's, whose frame cache shares one bound with it.
 *
 * Every function may be called from many threads; a may be NULL (then
 * ocb_buf_big_alloc and free: a mount's fetches of several MiB, fresh
 * memory each, faulted per 4 KiB from malloc).
 */
#ifndef OCB_PHYS_ARENA_H
#define OCB_PHYS_ARENA_H

#include <stddef.h>

struct ocb_phys_arena;

/* An arena of bytes (rounded up to 2 MiB): 0, or -ENOMEM. */
int ocb_phys_arena_new(size_t bytes, struct ocb_phys_arena **out);
/* Accepts NULL.  Whatever it handed out is gone with it. */
void ocb_phys_arena_free(struct ocb_phys_arena *a);

/* len bytes: from the arena when a run of free granules holds them,
 * else from ocb_buf_big_alloc; NULL when out of memory. */
void *ocb_phys_arena_alloc(struct ocb_phys_arena *a, size_t len);
/* Give back p (NULL: nothing), which ocb_phys_arena_alloc(a, len) gave. */
void ocb_phys_arena_dealloc(struct ocb_phys_arena *a, void *p, size_t len);

#endif
