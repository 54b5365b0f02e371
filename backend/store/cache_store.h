/*
 * cache_store.h - an on-disk cache of immutable objects, as a store layer.
 *
 * Caches the bytes of backup objects (keys ending in ".ocb", which never
 * change once written) under a directory, in 1 MiB blocks and 64 KiB
 * pieces: a read fetches the range it asks for rounded to pieces, never
 * more, and files the blocks the request holds whole as blocks, the rest
 * as pieces (pieces that make a whole block become one); reads under
 * 512 KiB (a frame, the suffix that opens a backup) fetch only the pieces
 * they lack and file pieces only; plus the exact suffix reads (up to
 * 4 MiB) of a process that does not know the object's size yet.  What is cached is what the store
 * holds: ciphertext; nothing decrypted reaches the disk.  Cached files
 * are checked for their size only (a wrong one is dropped and fetched
 * again); their bytes are authenticated where they are decrypted.
 *
 * Staleness: cached bytes are filed under the object's key AND etag, and
 * are served only once the store has told this process the object's
 * current etag and size: by a LIST passing through this layer (the mount
 * lists before it opens: a remount then makes no request at all), a HEAD,
 * or the first GET of the object (fetched from the store, and cached).
 * An object deleted and re-created under the same key is never served
 * from the old bytes.  A get with if_match that differs from the etag the
 * store last gave gives -ESTALE, as S3 would.  A head served from the
 * cache (get's head argument) has size and etag only.
 *
 * The cache survives remounts and is shared safely by concurrent threads
 * and processes (files are written to a temporary name and renamed into
 * place; readers never see partial files).  It is bounded by max_bytes
 * (0: 2 GiB): least recently used files go first, down to 90%; temporary
 * files of a writer killed an hour or more before go at the next start.  A full
 * disk stops caching (logged once, counted) without failing reads.  Every
 * other operation passes through.
 *
 * Layout: DIR/<first 32 hex of sha256(key "\n" etag)>/{b<block>, g<piece>,
 * s<length>}.
 * Counters (stats): disk_cache_hits, _misses (requests made for cacheable
 * keys), _bytes_served, _bytes_written, _bytes, _limit, _evictions,
 * _write_errors, _write_failed (0/1), _versions_learned, _flight_waits
 * (reads that waited for a block another thread was fetching),
 * _writes_inline (block fetches written by the reader: the queue was full);
 * then the inner's.  Small reads never wait for another reader's fetch,
 * and write their pieces themselves.  Fetched bytes are written to disk behind the reader (at most
 * 16 MiB queued); stats first waits for them, so its counters are settled,
 * and destroy writes them all.
 */
#ifndef OCB_CACHE_STORE_H
#define OCB_CACHE_STORE_H

#include <stdint.h>

#include "store.h"

/* Wrap inner (owned from now on, also on failure); dir is created 0700
 * (with its parents).  0, or -ENOTDIR, -ENAMETOOLONG, -ENOMEM, mkdir's. */
int ocb_cache_store_new(struct ocb_store *inner, const char *dir,
			uint64_t max_bytes, struct ocb_store **out);

#endif
