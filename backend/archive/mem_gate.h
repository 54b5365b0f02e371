/*
 * mem_gate.h - a bound on the working memory of operations that run at
 * once (the range reads of incremental backups: their fetched frames and
 * decode buffers, held for the whole read): an operation says up front
 * how much it will hold, and waits while others hold too much for it to
 * fit.  One that finds the gate empty always goes ahead, so an operation
 * larger than the bound still runs (alone), and nothing waits forever for
 * memory no one holds.  An operation must not wait on another while it
 * holds its share (no operation does: the reads only fetch and decode).
 * Every function may be called from many threads.
 */
#ifndef OCB_MEM_GATE_H
#define OCB_MEM_GATE_H

#include <stddef.h>

struct ocb_buf;
struct ocb_mem_gate;

/* At most max_bytes held at once (0: no bound). */
int ocb_mem_gate_new(size_t max_bytes, struct ocb_mem_gate **out);
/* Accepts NULL. */
void ocb_mem_gate_free(struct ocb_mem_gate *g);

/* Hold bytes, waiting until they fit (g NULL: at once). */
void ocb_mem_gate_enter(struct ocb_mem_gate *g, size_t bytes);
/* Hold bytes more at once, without waiting: what an operation that
 * entered with an estimate finds it needs past it once it may no longer
 * wait (others wait on it); the bound is exceeded by what the estimate
 * missed (g NULL: nothing). */
void ocb_mem_gate_take(struct ocb_mem_gate *g, size_t bytes);
/* Give back what ocb_mem_gate_enter() or _take() took, or part of it
 * (g NULL: nothing). */
void ocb_mem_gate_leave(struct ocb_mem_gate *g, size_t bytes);

/* "name value\n" counter lines, each name after prefix: _bytes (held
 * now), _limit, _peak_bytes, _waits (entries that had to wait). */
void ocb_mem_gate_stats(struct ocb_mem_gate *g, const char *prefix,
			struct ocb_buf *out);

#endif
