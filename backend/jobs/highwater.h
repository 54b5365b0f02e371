/*
 * highwater.h - the newest authenticated backup this client has seen of
 * an instance prefix, kept in the cache directory, so that a `latest` that
 * goes back in time (the newest backups deleted, or the store rolled back
 * by someone who can write it) is noticed and said loudly.
 */
#ifndef OCB_HIGHWATER_H
#define OCB_HIGHWATER_H

#include <stddef.h>
#include <stdint.h>

/* The mark of prefix under cache_dir: 0 and *t, name (may be truncated);
 * -ENOENT when there is none yet. */
int ocb_highwater_get(const char *cache_dir, const char *prefix, int64_t *t,
		      char *name, size_t size);

/* Raise the mark of prefix to (t, name) if t is newer; best effort
 * (written whole, mode 0600): 0 or negative errno. */
int ocb_highwater_note(const char *cache_dir, const char *prefix, int64_t t,
		       const char *name);

#endif
