/* Unit tests: the bound on working memory held at once: entries within
 * it go ahead, one that does not fit waits for a leave, one larger than
 * the bound goes ahead alone, and no gate bounds nothing. */
#include "t.h"
#include "buf.h"
#include "mem_gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct waiter {
	struct ocb_mem_gate *g;
	size_t bytes;
	atomic_int in;
};

static void *enter_thread(void *arg)
{
	struct waiter *w = arg;

	ocb_mem_gate_enter(w->g, w->bytes);
	atomic_store(&w->in, 1);
	return NULL;
}

/* w enters on a thread of its own: did it get in within a while? */
static int got_in(struct waiter *w, int wait_ms)
{
	for (; wait_ms > 0 && !atomic_load(&w->in); wait_ms -= 10)
		usleep(10000);
	return atomic_load(&w->in);
}

int main(void)
{
	struct ocb_mem_gate *g = NULL;
	struct waiter w = { 0 };
	struct ocb_buf st;
	pthread_t th;

	CHECK_INT(ocb_mem_gate_new(100, &g), 0);
	ocb_mem_gate_enter(g, 60);
	ocb_mem_gate_enter(g, 40);		/* fits exactly */
	w.g = g;
	w.bytes = 1;
	CHECK_INT(pthread_create(&th, NULL, enter_thread, &w), 0);
	CHECK_INT(got_in(&w, 200), 0);		/* full: it waits */
	ocb_mem_gate_leave(g, 40);
	CHECK_INT(got_in(&w, 5000), 1);
	pthread_join(th, NULL);
	ocb_mem_gate_leave(g, 1);

	/* larger than the bound: waits for the others, then goes alone */
	atomic_store(&w.in, 0);
	w.bytes = 500;
	CHECK_INT(pthread_create(&th, NULL, enter_thread, &w), 0);
	CHECK_INT(got_in(&w, 200), 0);
	ocb_mem_gate_leave(g, 60);
	CHECK_INT(got_in(&w, 5000), 1);
	pthread_join(th, NULL);

	ocb_buf_init(&st, 4096);
	ocb_mem_gate_stats(g, "w", &st);
	CHECK(st.data && strstr((char *)st.data, "w_bytes 500\n"));
	CHECK(st.data && strstr((char *)st.data, "w_limit 100\n"));
	CHECK(st.data && strstr((char *)st.data, "w_peak_bytes 500\n"));
	CHECK(st.data && strstr((char *)st.data, "w_waits 2\n"));
	ocb_buf_release(&st);
	/* taken without waiting, past the bound: the next waits for it */
	ocb_mem_gate_take(g, 50);
	atomic_store(&w.in, 0);
	w.bytes = 60;
	CHECK_INT(pthread_create(&th, NULL, enter_thread, &w), 0);
	CHECK_INT(got_in(&w, 200), 0);
	ocb_mem_gate_leave(g, 500);
	CHECK_INT(got_in(&w, 200), 0);		/* 50 + 60 > 100 */
	ocb_mem_gate_leave(g, 50);
	CHECK_INT(got_in(&w, 5000), 1);
	pthread_join(th, NULL);
	ocb_mem_gate_leave(g, 60);
	ocb_mem_gate_take(NULL, 5);
	ocb_mem_gate_free(g);

	/* no bound, and no gate: everything goes ahead at once */
	CHECK_INT(ocb_mem_gate_new(0, &g), 0);
	ocb_mem_gate_enter(g, 1u << 30);
	ocb_mem_gate_enter(g, 1u << 30);
	ocb_mem_gate_leave(g, 2u << 30);
	ocb_mem_gate_free(g);
	ocb_mem_gate_enter(NULL, 5);
	ocb_mem_gate_leave(NULL, 5);
	ocb_mem_gate_free(NULL);
	return T_DONE();
}
