/*
 * restore_pool_i.h - small restored files written by worker threads.
 *
 * A restore of many small files spends its time creating, writing,
 * hashing and renaming them one by one; handed to a few workers (each
 * with its own handle on the destination, restore_disk.h) this overlaps
 * with fetching, decoding and parsing the stream.  Each file is checked
 * against its SHA-256 and put in place exactly as a file written by the
 * caller.  Memory: the queued files' content, at most max_bytes.
 */
#ifndef OCB_RESTORE_POOL_I_H
#define OCB_RESTORE_POOL_I_H

#include <stddef.h>
#include <stdint.h>

#include "restore_disk_i.h"

struct ocb_rpool;

/* workers threads writing through clones of d (ocb_rdisk_clone).
 * 0 or negative errno. */
int ocb_rpool_new(struct ocb_rdisk *d, unsigned workers, size_t max_bytes,
		  struct ocb_rpool **out);

/* Queue the file rel with content data[0..len) (taken over, freed by the
 * pool, even on error), metadata m (copied) and expected SHA-256 sha
 * (NULL: not checked).  Blocks while the queue is full.  0, or the first
 * error a worker met (-EBADMSG for a path through a symlink): the
 * caller stops. */
int ocb_rpool_put(struct ocb_rpool *p, const char *rel,
		  const struct ocb_rdisk_meta *m, const uint8_t *sha,
		  void *data, size_t len);

/* Wait until every queued file is written or refused.  0 or the first
 * error. */
int ocb_rpool_drain(struct ocb_rpool *p);

/* Files whose content did not match their SHA-256 (not written; each
 * logged). */
uint64_t ocb_rpool_bad(struct ocb_rpool *p);

/* Drops what is still queued and stops the workers. */
void ocb_rpool_free(struct ocb_rpool *p);

#endif
