/*
 * phys_arena.c - kept frames' memory in huge pages (see phys_arena.h).
 *
 * One allocation in huge pages (ocb_buf_big_alloc), and a bitmap of its
 * 64 KiB granules: a request takes the first run of free granules long
 * enough (first fit; a few thousand bits), and falls back to
 * ocb_buf_big_alloc when none is, or with no arena (the mount's reads:
 * huge pages for their fetches of several MiB too).  Frames are a MiB or
 * less, so a run is at most 16 granules and the waste at most a granule's
 * rest.
 */
#include "phys_arena.h"
#include "buf.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define GRANULE (64u << 10)
#define HUGE_PAGE (2u << 20)	/* the arena's size: whole huge pages */
#define WORD 64

struct ocb_phys_arena {
	pthread_mutex_t lock;
	uint8_t *base;
	size_t bytes;
	size_t ngran;
	uint64_t *used;		/* a bit per granule */
};

int ocb_phys_arena_new(size_t bytes, struct ocb_phys_arena **out)
{
	struct ocb_phys_arena *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	/* huge pages from the one helper that makes them (buf.h); pages
	 * come as they are first written */
	a->bytes = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
	a->ngran = a->bytes / GRANULE;
	a->used = calloc((a->ngran + WORD - 1) / WORD, sizeof(*a->used));
	a->base = ocb_buf_big_alloc(a->bytes);
	if (!a->used || !a->base) {
		free(a->base);
		free(a->used);
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void ocb_phys_arena_free(struct ocb_phys_arena *a)
{
	if (!a)
		return;
	free(a->base);
	pthread_mutex_destroy(&a->lock);
	free(a->used);
	free(a);
}

static int used(const struct ocb_phys_arena *a, size_t g)
{
	return (a->used[g / WORD] >> (g % WORD)) & 1;
}

static void mark(struct ocb_phys_arena *a, size_t g, size_t n, int on)
{
	for (; n; n--, g++) {
		if (on)
			a->used[g / WORD] |= 1ull << (g % WORD);
		else
			a->used[g / WORD] &= ~(1ull << (g % WORD));
	}
}

static size_t granules(size_t len)
{
	return (len + GRANULE - 1) / GRANULE;
}

void *ocb_phys_arena_alloc(struct ocb_phys_arena *a, size_t len)
{
	size_t n = granules(len), g, run = 0;
	void *p = NULL;

	if (!a || len == 0 || n > a->ngran)
		return ocb_buf_big_alloc(len ? len : 1);
	pthread_mutex_lock(&a->lock);
	for (g = 0; g < a->ngran; g++) {
		if (used(a, g)) {
			run = 0;
			continue;
		}
		if (++run == n) {
			mark(a, g + 1 - n, n, 1);
			p = a->base + (g + 1 - n) * GRANULE;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return p ? p : ocb_buf_big_alloc(len);
}

void ocb_phys_arena_dealloc(struct ocb_phys_arena *a, void *p, size_t len)
{
	uint8_t *q = p;

	if (!a || !q || q < a->base || q >= a->base + a->bytes) {
		free(p);
		return;
	}
	pthread_mutex_lock(&a->lock);
	mark(a, (size_t)(q - a->base) / GRANULE, granules(len), 0);
	pthread_mutex_unlock(&a->lock);
}
