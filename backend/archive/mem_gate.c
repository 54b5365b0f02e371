/*
 * mem_gate.c - a byte bound on working memory held at once (see
 * mem_gate.h).  One mutex and one condition variable: entries and leaves
 * are a few per range read, never per frame.
 */
#include "mem_gate.h"
#include "buf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

struct ocb_mem_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t max, held, peak;
	uint64_t waits;
};

int ocb_mem_gate_new(size_t max_bytes, struct ocb_mem_gate **out)
{
	struct ocb_mem_gate *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->max = max_bytes;
	*out = g;
	return 0;
}

void ocb_mem_gate_free(struct ocb_mem_gate *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}

/* lock held */
static void hold(struct ocb_mem_gate *g, size_t bytes)
{
	g->held += bytes;
	if (g->held > g->peak)
		g->peak = g->held;
}

void ocb_mem_gate_enter(struct ocb_mem_gate *g, size_t bytes)
{
	int counted = 0;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	while (g->max && g->held && g->held + bytes > g->max) {
		if (!counted++)
			g->waits++;
		pthread_cond_wait(&g->cond, &g->lock);
	}
	hold(g, bytes);
	pthread_mutex_unlock(&g->lock);
}

void ocb_mem_gate_take(struct ocb_mem_gate *g, size_t bytes)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	hold(g, bytes);
	pthread_mutex_unlock(&g->lock);
}

void ocb_mem_gate_leave(struct ocb_mem_gate *g, size_t bytes)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->held -= bytes;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

void ocb_mem_gate_stats(struct ocb_mem_gate *g, const char *prefix,
			struct ocb_buf *out)
{
	pthread_mutex_lock(&g->lock);
	ocb_buf_printf(out,
		       "%s_bytes %zu\n"
		       "%s_limit %zu\n"
		       "%s_peak_bytes %zu\n"
		       "%s_waits %" PRIu64 "\n",
		       prefix, g->held, prefix, g->max, prefix, g->peak,
		       prefix, g->waits);
	pthread_mutex_unlock(&g->lock);
}
