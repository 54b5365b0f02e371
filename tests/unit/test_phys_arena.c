/* Unit tests: the kept frames' memory (phys_arena.h): what it hands out
 * lies inside it, granule-aligned, never overlapping what is still out;
 * what is given back is handed out again; a request no run of free
 * granules holds comes from malloc, and is given back to free; no arena:
 * malloc and free. */
#include "t.h"
#include "phys_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1u << 20)
#define GRANULE (64u << 10)

int main(void)
{
	struct ocb_phys_arena *a = NULL;
	uint8_t *p[40], *q, *r, *lo = NULL, *hi = NULL;
	int i, j, inside = 0;

	CHECK_INT(ocb_phys_arena_new(3 * MiB, &a), 0);	/* rounded: 4 MiB */
	/* 1 MiB + 1 takes 17 granules: three fit in 64 */
	for (i = 0; i < 4; i++) {
		p[i] = ocb_phys_arena_alloc(a, MiB + 1);
		CHECK(p[i] != NULL);
		memset(p[i], 0x40 + i, MiB + 1);
	}
	for (i = 0; i < 3; i++) {
		if (!lo || p[i] < lo)
			lo = p[i];
		if (!hi || p[i] > hi)
			hi = p[i];
	}
	CHECK((uintptr_t)lo % (2 * MiB) == 0);		/* huge-page aligned */
	CHECK_INT((int)(hi - lo), 2 * 17 * (int)GRANULE);
	/* the fourth did not fit: from malloc, outside */
	CHECK(p[3] < lo || p[3] >= lo + 4 * MiB);
	for (i = 0; i < 4; i++)
		for (j = 0; j < (int)(MiB + 1); j += 4093)
			CHECK_INT(p[i][j], 0x40 + i);	/* nothing overlapped */
	/* the middle one back: a run of its size fits there again */
	ocb_phys_arena_dealloc(a, p[1], MiB + 1);
	q = ocb_phys_arena_alloc(a, 100);
	CHECK(q == p[1]);
	r = ocb_phys_arena_alloc(a, 16 * GRANULE);	/* the rest of the hole */
	CHECK(r == p[1] + GRANULE);
	ocb_phys_arena_dealloc(a, q, 100);
	ocb_phys_arena_dealloc(a, r, 16 * GRANULE);
	ocb_phys_arena_dealloc(a, p[3], MiB + 1);	/* malloc's: freed */
	/* many small ones: 64 granules, then malloc */
	for (i = 0; i < 40; i++) {
		p[i] = ocb_phys_arena_alloc(a, GRANULE);
		inside += p[i] >= lo && p[i] < lo + 4 * MiB;
	}
	CHECK_INT(inside, 64 - 2 * 17);			/* around the two */
	for (i = 0; i < 40; i++)
		ocb_phys_arena_dealloc(a, p[i], GRANULE);
	ocb_phys_arena_dealloc(a, NULL, 0);		/* nothing */
	/* larger than the arena: malloc */
	q = ocb_phys_arena_alloc(a, 5 * MiB);
	CHECK(q && (q < lo || q >= lo + 4 * MiB));
	ocb_phys_arena_dealloc(a, q, 5 * MiB);
	ocb_phys_arena_free(a);

	/* no arena */
	q = ocb_phys_arena_alloc(NULL, 1000);
	CHECK(q != NULL);
	ocb_phys_arena_dealloc(NULL, q, 1000);
	ocb_phys_arena_free(NULL);
	return T_DONE();
}
