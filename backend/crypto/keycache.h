/*
 * keycache.h - a small bounded cache of 32-byte keys, found by a 32-byte
 * digest of what the key was made from, so that a key provider does the
 * costly step (a KMS call, an scrypt run) once per key and process.
 *
 * Keys live in key memory (ocb_crypto_key_new: the locked secure heap)
 * and are zeroed when evicted and when the cache is freed.  At most cap
 * entries; the least recently used goes first.  Every call is
 * thread-safe.
 */
#ifndef OCB_KEYCACHE_H
#define OCB_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct ocb_keycache;

struct ocb_keycache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;
	size_t entries;
};

/* A cache of at most cap (>= 1) keys: 0, -EINVAL or -ENOMEM. */
int ocb_keycache_new(size_t cap, struct ocb_keycache **out);
/* Zero and free every key, then the cache.  NULL-safe. */
void ocb_keycache_free(struct ocb_keycache *c);

/* The key stored under id into out: 1 (found; it becomes the most
 * recently used), 0 (not there: out untouched).  ids are compared in
 * constant time. */
int ocb_keycache_get(struct ocb_keycache *c, const uint8_t id[32],
		     uint8_t out[OCB_KEY_LEN]);
/* Store key under id (replacing what id held), evicting the least
 * recently used key when full.  Best effort: when no key memory is left
 * nothing is stored (the cache only saves work). */
void ocb_keycache_put(struct ocb_keycache *c, const uint8_t id[32],
		      const uint8_t key[OCB_KEY_LEN]);

void ocb_keycache_stats(struct ocb_keycache *c,
			struct ocb_keycache_stats *out);

#endif
