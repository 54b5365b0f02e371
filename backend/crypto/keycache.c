/*
 * keycache.c - a bounded LRU of 32-byte keys by 32-byte digest, for the
 * key providers (keys.c).
 *
 * A linear scan: the caches are small (hundreds of entries at most) and
 * a lookup stands in for a network call or a 128 MiB KDF, so a table
 * buys nothing.  Each id is compared in full with CRYPTO_memcmp, and the
 * scan does not stop at the first match, so its time does not tell which
 * entry (if any) matched.  The ids are digests of public bytes (headers);
 * only the keys are secret and they alone go to key memory, one
 * ocb_crypto_key_new() each, freed (zeroed) on eviction.
 */
#include "keycache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

struct slot {
	uint8_t id[32];
	uint8_t *key;		/* NULL: the slot is free */
	uint64_t used;		/* tick of the last get or put */
};

struct ocb_keycache {
	pthread_mutex_t lock;
	size_t cap;
	uint64_t tick;
	struct ocb_keycache_stats st;
	struct slot slots[];
};

int ocb_keycache_new(size_t cap, struct ocb_keycache **out)
{
	struct ocb_keycache *c;

	if (cap == 0 || cap > 65536)
		return -EINVAL;
	c = calloc(1, sizeof(*c) + cap * sizeof(c->slots[0]));
	if (!c)
		return -ENOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return -ENOMEM;
	}
	c->cap = cap;
	*out = c;
	return 0;
}

void ocb_keycache_free(struct ocb_keycache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->cap; i++)
		ocb_crypto_key_free(c->slots[i].key);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* the slot holding id, or NULL; under the lock */
static struct slot *find(struct ocb_keycache *c, const uint8_t id[32])
{
	struct slot *hit = NULL;
	size_t i;

	for (i = 0; i < c->cap; i++) {
		struct slot *s = &c->slots[i];
		int same = CRYPTO_memcmp(s->id, id, 32) == 0;

		if (s->key && same)
			hit = s;
	}
	return hit;
}

int ocb_keycache_get(struct ocb_keycache *c, const uint8_t id[32],
		     uint8_t out[OCB_KEY_LEN])
{
	struct slot *s;

	pthread_mutex_lock(&c->lock);
	s = find(c, id);
	if (s) {
		memcpy(out, s->key, OCB_KEY_LEN);
		s->used = ++c->tick;
		c->st.hits++;
	} else {
		c->st.misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return s != NULL;
}

/* where a new id goes: a free slot, else the least recently used one,
 * whose key is zeroed and freed first; under the lock */
static struct slot *take(struct ocb_keycache *c)
{
	struct slot *lru = &c->slots[0];
	size_t i;

	for (i = 0; i < c->cap; i++) {
		if (!c->slots[i].key)
			return &c->slots[i];
		if (c->slots[i].used < lru->used)
			lru = &c->slots[i];
	}
	ocb_crypto_key_free(lru->key);
	lru->key = NULL;
	c->st.evictions++;
	c->st.entries--;
	return lru;
}

void ocb_keycache_put(struct ocb_keycache *c, const uint8_t id[32],
		      const uint8_t key[OCB_KEY_LEN])
{
	struct slot *s;

	pthread_mutex_lock(&c->lock);
	s = find(c, id);
	if (!s) {
		s = take(c);
		s->key = ocb_crypto_key_new();
		if (!s->key)
			goto out;
		memcpy(s->id, id, 32);
		c->st.entries++;
	}
	memcpy(s->key, key, OCB_KEY_LEN);
	s->used = ++c->tick;
out:
	pthread_mutex_unlock(&c->lock);
}

void ocb_keycache_stats(struct ocb_keycache *c,
			struct ocb_keycache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	pthread_mutex_unlock(&c->lock);
}
