/*
 * cache_store.h - an on-disk cache of immutable objects, as a store layer.
 *
 * Caches the bytes of backup objects (keys ending in ".ocb", which never
 * change once written) in 1 MiB blocks under a directory, plus the exact
 * suffix reads that open a backup.  What is cached is what the store holds:
 * ciphertext; nothing decrypted reaches the disk.  The cache survives
 * remounts and is shared safely by concurrent processes (files are written
 * to a temporary name and renamed into place).  It is bounded by max_bytes:
 * least recently used blocks go first.  A full disk stops caching (logged
 * once) without failing reads.  Every other operation passes through.
 *
 * Layout: DIR/<first 32 hex of sha256(key)>/{meta, b<block>, s<length>}.
 */
#ifndef OCB_CACHE_STORE_H
#define OCB_CACHE_STORE_H

#include <stdint.h>

#include "store.h"

/* Wrap inner (owned from now on, also on failure); dir is created 0700. */
int ocb_cache_store_new(struct ocb_store *inner, const char *dir,
			uint64_t max_bytes, struct ocb_store **out);

#endif
