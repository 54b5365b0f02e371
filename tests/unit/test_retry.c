/* Unit tests: the retry policy and its clock (retry.h), and the retry layer over the local store
 * behind the fault layer (resumed gets never duplicate bytes, puts re-read
 * their source, only transient errors are retried, deadlines hold), and the
 * frame of every layer (what a layer leaves out reaches the inner store). */
#include "t.h"
#include "buf.h"
#include "fault_store.h"
#include "file_store.h"
#include "log.h"
#include "retry_store.h"
#include "store_layer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void test_policy(void)
{
	uint32_t x = 12345;
	int a, i, ok = 1;

	CHECK(ocb_retry_is_transient(-EAGAIN));
	CHECK(ocb_retry_is_transient(-ETIMEDOUT));
	CHECK(ocb_retry_is_transient(-ECONNRESET));
	CHECK(ocb_retry_is_transient(-ECONNREFUSED));
	CHECK(ocb_retry_is_transient(-EHOSTUNREACH));
	CHECK(!ocb_retry_is_transient(-EACCES));
	CHECK(!ocb_retry_is_transient(-ENOENT));
	CHECK(!ocb_retry_is_transient(-EINVAL));
	CHECK(!ocb_retry_is_transient(-ESTALE));
	CHECK(!ocb_retry_is_transient(-EEXIST));
	CHECK(!ocb_retry_is_transient(-ERANGE));
	CHECK(!ocb_retry_is_transient(-EIO));
	CHECK(!ocb_retry_is_transient(0));
	for (a = 1; a < 20; a++) {
		unsigned ceiling = 100u << (a - 1 < 10 ? a - 1 : 10);

		if (ceiling > 5000)
			ceiling = 5000;
		CHECK(ocb_retry_delay_ms(a, 100, 5000, 0) == 0);
		CHECK_INT(ocb_retry_delay_ms(a, 100, 5000, UINT32_MAX), ceiling);
		CHECK(ocb_retry_delay_ms(a, 100, 5000, 0x80000000u) <= ceiling / 2 + 1);
	}
	/* full jitter: any random value stays within [0, ceiling] */
	for (a = 1; a < 40; a++)
		for (i = 0; i < 1000; i++) {
			uint64_t ceiling = (uint64_t)250 << (a - 1 < 30 ? a - 1 : 30);

			x = x * 1664525u + 1013904223u;
			if (ceiling > 3000)
				ceiling = 3000;
			if (ocb_retry_delay_ms(a, 250, 3000, x) > ceiling)
				ok = 0;
		}
	CHECK(ok);
	/* huge attempt numbers do not overflow; base above cap is capped */
	CHECK_INT(ocb_retry_delay_ms(100000, 100, 5000, UINT32_MAX), 5000);
	CHECK_INT(ocb_retry_delay_ms(1, 9000, 5000, UINT32_MAX), 5000);
}

/* ---- the layer --------------------------------------------------------------- */

static char root[] = "/tmp/ocb-retry-XXXXXX";
static char data[100000];

struct stack {
	struct ocb_store *file;	/* bottom, owned by fault */
	struct ocb_store *fault;	/* owned by retry */
	struct ocb_store *retry;	/* the top */
};

static uint32_t rnd_zero(void *arg)
{
	(void)arg;
	return 0;
}

static uint32_t rnd_max(void *arg)
{
	(void)arg;
	return UINT32_MAX;
}

/* the clock of one operation (retry.h), without a store: the bound in
 * force moves from the refused deadline to the whole deadline at the
 * first failure that was not a refusal; a final error ends at once */
static void test_clock(void)
{
	struct ocb_retry_opts o = { .base_ms = 1, .cap_ms = 1,
		.deadline_ms = 600000, .refused_ms = 300000,
		.random = rnd_max };
	struct ocb_retry t;

	ocb_retry_start(&t, &o);
	CHECK(ocb_retry_refused_bound(&t));
	CHECK(ocb_retry_end_ms(&t) == t.start + 300000);
	CHECK_INT(ocb_retry_failed(&t, -ECONNREFUSED), 1);
	CHECK(ocb_retry_refused_bound(&t));
	CHECK_INT(ocb_retry_failed(&t, -ETIMEDOUT), 1);
	CHECK(!ocb_retry_refused_bound(&t));
	CHECK(ocb_retry_end_ms(&t) == t.start + 600000);
	/* a refusal after a silence does not shorten the bound again */
	CHECK_INT(ocb_retry_failed(&t, -ECONNREFUSED), 1);
	CHECK(!ocb_retry_refused_bound(&t));
	CHECK_INT(ocb_retry_failed(&t, -EACCES), -1);
	CHECK_INT(t.n, 4);
	/* defaults; max_attempts; a delay past the end is final */
	ocb_retry_start(&t, NULL);
	CHECK_INT(t.o.base_ms, 100);
	CHECK_INT(t.o.deadline_ms, 60000);
	CHECK_INT(t.o.refused_ms, 20000);
	o.max_attempts = 2;
	ocb_retry_start(&t, &o);
	CHECK_INT(ocb_retry_failed(&t, -EAGAIN), 1);
	CHECK_INT(ocb_retry_failed(&t, -EAGAIN), -1);
	o.max_attempts = 0;
	o.base_ms = o.cap_ms = 5000;
	o.deadline_ms = o.refused_ms = 4000;
	ocb_retry_start(&t, &o);
	CHECK_INT(ocb_retry_failed(&t, -EAGAIN), -1);
}

static int stack_new(struct stack *k, const struct ocb_retry_opts *o)
{
	struct ocb_retry_opts fast = { .max_attempts = 6, .random = rnd_zero };

	memset(k, 0, sizeof(*k));
	if (ocb_file_store_new(root, &k->file) < 0 ||
	    ocb_fault_store_new(k->file, &k->fault) < 0 ||
	    ocb_retry_store_new(k->fault, o ? o : &fast, &k->retry) < 0)
		return -1;
	return 0;
}

#define CALLS(op) ocb_fault_calls(k.fault, OCB_FAULT_##op)

struct sink {
	struct ocb_buf b;
	struct stack *k;	/* replace the object after the first chunk */
	int calls;
	int fail;		/* return this from the sink */
	struct ocb_obj_head *head;	/* the caller's head ... */
	int head_ready;		/* ... was filled before the first byte */
};

static int sink_fn(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;

	if (s->fail)
		return s->fail;
	if (s->calls == 0 && s->head)
		s->head_ready = s->head->etag[0] && s->head->size;
	if (s->calls++ == 0 && s->k) {
		/* the object changes between the attempts */
		if (ocb_store_put_mem(s->k->file, "obj", "new", 3, NULL) < 0)
			return -EIO;
	}
	return ocb_buf_append(&s->b, p, n);
}

static int get(struct stack *k, const struct ocb_get_req *g, struct sink *s,
	       struct ocb_obj_head *h)
{
	ocb_buf_reset(&s->b);
	return k->retry->ops->get(k->retry, g, sink_fn, s, h);
}

static void test_resume(void)
{
	struct stack k;
	struct ocb_fault_rule cut = { .count = 2, .err = -ECONNRESET,
				      .late = 1, .cut_after = 30000 };
	struct ocb_get_req whole = { .key = "obj", .len = OCB_TO_END };
	struct ocb_get_req range = { .key = "obj", .off = 1000, .len = 50000 };
	struct ocb_get_req suffix = { .key = "obj", .len = 40000, .suffix = 1 };
	struct ocb_obj_head h = { 0 }, ref = { 0 };
	struct sink s = { 0 };

	if (stack_new(&k, NULL) < 0)
		return;
	ocb_buf_init(&s.b, 1 << 20);
	CHECK_INT(ocb_store_put_mem(k.retry, "obj", data, sizeof(data), NULL), 0);
	CHECK_INT(k.retry->ops->head(k.retry, "obj", &ref), 0);

	/* two cuts mid-body: the caller sees every byte exactly once, and the
	 * head of the first attempt */
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_GET, &cut), 0);
	s.head = &h;
	CHECK_INT(get(&k, &whole, &s, &h), 0);
	CHECK(s.head_ready);
	s.head = NULL;
	CHECK_INT(s.b.len, sizeof(data));
	CHECK(s.b.len == sizeof(data) && !memcmp(s.b.data, data, sizeof(data)));
	CHECK_INT(CALLS(GET), 3);
	CHECK_STR(h.etag, ref.etag);
	CHECK_INT(h.size, sizeof(data));
	ocb_obj_head_release(&h);

	/* a range, cut twice after 7000 bytes */
	cut.cut_after = 7000;
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_GET, &cut), 0);
	CHECK_INT(get(&k, &range, &s, NULL), 0);
	CHECK(s.b.len == 50000 && !memcmp(s.b.data, data + 1000, 50000));
	CHECK_INT(CALLS(GET), 6);

	/* a suffix, cut once */
	cut.count = 1;
	cut.cut_after = 5000;
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_GET, &cut), 0);
	CHECK_INT(get(&k, &suffix, &s, NULL), 0);
	CHECK(s.b.len == 40000 &&
	      !memcmp(s.b.data, data + sizeof(data) - 40000, 40000));
	CHECK_INT(CALLS(GET), 8);

	/* cut before any byte: a plain retry */
	cut.cut_after = 0;
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_GET, &cut), 0);
	CHECK_INT(get(&k, &whole, &s, NULL), 0);
	CHECK_INT(s.b.len, sizeof(data));

	/* the caller's sink says stop: no retry, its value */
	s.fail = -ECANCELED;
	CHECK_INT(get(&k, &whole, &s, NULL), -ECANCELED);
	CHECK_INT(CALLS(GET), 11);
	s.fail = 0;

	/* the object changed between attempts: the resumed get is refused
	 * (If-Match) instead of mixing two versions */
	cut.cut_after = 1000;
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_GET, &cut), 0);
	s.k = &k;
	s.calls = 0;
	CHECK_INT(get(&k, &whole, &s, NULL), -ESTALE);
	CHECK(s.b.len <= 1000);
	s.k = NULL;

	ocb_obj_head_release(&ref);
	ocb_buf_release(&s.b);
	ocb_store_free(k.retry);
}

static void test_final_errors(void)
{
	static const struct {
		int err, attempts, result;
	} cases[] = {
		{ -EACCES, 1, -EACCES },
		{ -ENOENT, 1, -ENOENT },
		{ -EINVAL, 1, -EINVAL },
		{ -ESTALE, 1, -ESTALE },
		{ -EAGAIN, 6, -EIO },
		{ -ECONNRESET, 6, -EIO },
		{ -ETIMEDOUT, 6, -ETIMEDOUT },
		{ -ECONNREFUSED, 6, -ECONNREFUSED },
		{ -EHOSTUNREACH, 6, -EHOSTUNREACH },
	};
	struct ocb_obj_head h = { 0 };
	struct stack k;
	size_t i;

	if (stack_new(&k, NULL) < 0)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int64_t before = CALLS(HEAD);

		CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_HEAD, 100,
					 cases[i].err), 0);
		CHECK_INT(k.retry->ops->head(k.retry, "obj", &h),
			  cases[i].result);
		CHECK_INT(CALLS(HEAD) - before, cases[i].attempts);
	}
	/* transient then fine */
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_HEAD, 2, -EAGAIN), 0);
	CHECK_INT(k.retry->ops->head(k.retry, "obj", &h), 0);
	ocb_obj_head_release(&h);
	/* deletes, lists and the rest go through the same rule */
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_DEL, 3, -EHOSTUNREACH), 0);
	CHECK_INT(k.retry->ops->del(k.retry, "nothing"), 0);
	CHECK_INT(CALLS(DEL), 4);
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_DEL, 1, -EACCES), 0);
	CHECK_INT(k.retry->ops->del(k.retry, "nothing"), -EACCES);
	CHECK_INT(CALLS(DEL), 5);
	ocb_store_free(k.retry);

	/* fewer attempts when asked */
	{
		struct ocb_retry_opts o = { .max_attempts = 3,
					    .random = rnd_zero };

		if (stack_new(&k, &o) < 0)
			return;
		CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_HEAD, -1, -EAGAIN), 0);
		CHECK_INT(k.retry->ops->head(k.retry, "obj", &h), -EIO);
		CHECK_INT(CALLS(HEAD), 3);
		ocb_store_free(k.retry);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* what a busy machine may add to a wait (a sleep ends late, a thread is
 * scheduled late): upper bounds of times allow it; the attempt counts
 * say where the policy stopped */
#define SLACK_MS 1000

static void test_deadline(void)
{
	/* delays 100, 200, 400 ms (the top of the jitter): the second retry
	 * would end past the 250 ms deadline, so it is not made */
	struct ocb_retry_opts o = { .base_ms = 100, .cap_ms = 1000,
				    .deadline_ms = 250, .random = rnd_max };
	struct ocb_obj_head h = { 0 };
	struct stack k;
	uint64_t t0, spent;

	if (stack_new(&k, &o) < 0)
		return;
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_HEAD, -1, -ETIMEDOUT), 0);
	t0 = now_ms();
	CHECK_INT(k.retry->ops->head(k.retry, "obj", &h), -ETIMEDOUT);
	spent = now_ms() - t0;
	CHECK_INT(CALLS(HEAD), 2);
	CHECK(spent >= 100 && spent < 250 + SLACK_MS);
	ocb_store_free(k.retry);
}

/*
 * A HEAD against a server refusing every connection is retried for
 * span ms (spent at least span - 20, at most span + SLACK_MS; more than min_calls
 * attempts); once the store has been unreachable for a whole span since
 * that operation began, the next one makes a single attempt, at once.
 */
static void check_refused(struct stack *k, uint64_t span, int64_t min_calls)
{
	struct ocb_obj_head h = { 0 };
	uint64_t t0, spent;
	int64_t before = ocb_fault_calls(k->fault, OCB_FAULT_HEAD);

	CHECK_INT(ocb_fault_fail(k->fault, OCB_FAULT_HEAD, -1, -ECONNREFUSED), 0);
	t0 = now_ms();
	CHECK_INT(k->retry->ops->head(k->retry, "obj", &h), -ECONNREFUSED);
	spent = now_ms() - t0;
	CHECK(ocb_fault_calls(k->fault, OCB_FAULT_HEAD) - before > min_calls);
	CHECK(spent >= span - 20 && spent < span + SLACK_MS);
	/* the time since the first failing operation began is the rule */
	while (now_ms() - t0 < span + 20) {
		struct timespec ts = { 0, 5000000 };

		nanosleep(&ts, NULL);
	}
	before = ocb_fault_calls(k->fault, OCB_FAULT_HEAD);
	t0 = now_ms();
	CHECK_INT(k->retry->ops->head(k->retry, "obj", &h), -ECONNREFUSED);
	CHECK_INT(ocb_fault_calls(k->fault, OCB_FAULT_HEAD) - before, 1);
	CHECK(now_ms() - t0 < SLACK_MS);
	/* until one reaches the store; then outages are waited out again */
	CHECK_INT(ocb_fault_set(k->fault, OCB_FAULT_HEAD, NULL), 0);
	CHECK_INT(k->retry->ops->head(k->retry, "absent", &h), -ENOENT);
}

static void test_by_time(void)
{
	/* no count: a refused connection is retried until the deadline,
	 * a server refusing for a while is waited for */
	struct ocb_retry_opts o = { .base_ms = 5, .cap_ms = 20,
				    .deadline_ms = 300, .random = rnd_max };
	struct ocb_obj_head h = { 0 };
	struct stack k;

	if (stack_new(&k, &o) < 0)
		return;
	check_refused(&k, 300, 10);
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_HEAD, 12, -ECONNREFUSED), 0);
	CHECK_INT(k.retry->ops->head(k.retry, "absent", &h), -ENOENT);
	ocb_store_free(k.retry);
}

static void test_refused_deadline(void)
{
	/* every attempt refused (nothing listens): retries stop after
	 * refused_ms; a server that times out keeps the whole deadline */
	struct ocb_retry_opts o = { .base_ms = 5, .cap_ms = 20,
				    .deadline_ms = 600, .refused_ms = 150,
				    .random = rnd_max };
	struct ocb_obj_head h = { 0 };
	struct stack k;
	uint64_t t0, spent;

	if (stack_new(&k, &o) < 0)
		return;
	check_refused(&k, 150, 5);
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_HEAD, -1, -ETIMEDOUT), 0);
	t0 = now_ms();
	CHECK_INT(k.retry->ops->head(k.retry, "obj", &h), -ETIMEDOUT);
	spent = now_ms() - t0;
	CHECK(spent >= 560 && spent < 600 + SLACK_MS);
	ocb_store_free(k.retry);
}

struct src {
	const char *p;
	size_t len;
	int zero_reads;		/* calls at offset 0 */
};

static ssize_t src_fn(void *arg, uint64_t off, void *buf, size_t len)
{
	struct src *s = arg;
	size_t n = s->len - off < len ? s->len - off : len;

	if (off == 0)
		s->zero_reads++;
	memcpy(buf, s->p + off, n);
	return (ssize_t)n;
}

static int count_entry(void *arg, const struct ocb_list_entry *e)
{
	int *seen = arg;
	int i = atoi(e->key + 5);	/* "list/NNN" */

	if (i >= 0 && i < 50)
		seen[i]++;
	return 0;
}

static void test_writes_and_lists(void)
{
	struct ocb_fault_rule lost = { .count = 1, .err = -ECONNRESET,
				       .late = 1 };
	struct src src = { data, sizeof(data), 0 };
	struct ocb_buf b, stats;
	struct ocb_part part = { .no = 1 };
	struct stack k;
	char *id = NULL, back[1000];
	int seen[50] = { 0 }, i, once = 1;

	if (stack_new(&k, NULL) < 0)
		return;
	/* a put whose response was lost: sent again from its source */
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_PUT, &lost), 0);
	CHECK_INT(k.retry->ops->put(k.retry, "put", sizeof(data), src_fn, &src,
				    NULL), 0);
	CHECK_INT(src.zero_reads, 2);
	CHECK_INT(CALLS(PUT), 2);
	ocb_buf_init(&b, 1 << 20);
	CHECK_INT(ocb_store_get_buf(k.retry, "put", &b, NULL), 0);
	CHECK(b.len == sizeof(data) && !memcmp(b.data, data, sizeof(data)));
	ocb_buf_release(&b);

	/* a part retried from its buffer */
	CHECK_INT(k.retry->ops->mpu_create(k.retry, "mpu", NULL, &id), 0);
	CHECK_INT(ocb_fault_fail(k.fault, OCB_FAULT_MPU_PART, 2, -EAGAIN), 0);
	CHECK_INT(k.retry->ops->mpu_part(k.retry, "mpu", id, 1, data, 1000,
					 part.etag), 0);
	CHECK_INT(CALLS(MPU_PART), 3);
	CHECK_INT(k.retry->ops->mpu_complete(k.retry, "mpu", id, &part, 1), 0);
	CHECK_INT(ocb_store_read(k.retry, "mpu", 0, sizeof(back), back), 1000);
	CHECK(!memcmp(back, data, sizeof(back)));
	free(id);

	/* a listing cut after 20 entries resumes after the last one */
	for (i = 0; i < 50; i++) {
		char key[32];

		snprintf(key, sizeof(key), "list/%03d", i);
		CHECK_INT(ocb_store_put_mem(k.retry, key, "x", 1, NULL), 0);
	}
	lost.err = -ETIMEDOUT;
	lost.cut_after = 20;
	CHECK_INT(ocb_fault_set(k.fault, OCB_FAULT_LIST, &lost), 0);
	CHECK_INT(k.retry->ops->list(k.retry, "list/", NULL, NULL, count_entry,
				     seen), 0);
	CHECK_INT(CALLS(LIST), 2);
	for (i = 0; i < 50; i++)
		if (seen[i] != 1)
			once = 0;
	CHECK(once);

	/* counters: this layer's, then the inner layers' */
	ocb_buf_init(&stats, 4096);
	k.retry->ops->stats(k.retry, &stats);
	CHECK(stats.data && strstr(stats.data, "retry_requests "));
	CHECK(stats.data && strstr(stats.data, "retry_retries 4\n"));
	CHECK(stats.data && strstr(stats.data, "retry_failures 0\n"));
	CHECK(stats.data && strstr(stats.data, "retry_bytes_in "));
	CHECK(stats.data && strstr(stats.data, "retry_bytes_out "));
	CHECK(stats.data && strstr(stats.data, "fault_calls_put 52\n"));
	ocb_buf_release(&stats);
	ocb_store_free(k.retry);
}

/* ---- the frame every layer is built on ---------------------------------------- */

struct seen_calls {
	int n[OCB_STORE_NOPS];
	char key[64];
	int heads;
};

static int count_around(struct ocb_store *s, struct ocb_store_call *c)
{
	struct seen_calls *sc = s->priv;

	sc->n[c->op]++;
	snprintf(sc->key, sizeof(sc->key), "%s", c->key);
	return ocb_store_layer_pass(s, c);
}

static int own_head(struct ocb_store *s, const char *key,
		    struct ocb_obj_head *out)
{
	struct ocb_store *in = ocb_store_layer_inner(s);

	((struct seen_calls *)s->priv)->heads++;
	return in->ops->head(in, key, out);
}

static int count_any(void *arg, const struct ocb_list_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

static const struct ocb_store_layer_ops counting_ops = {
	.ops = { .name = "counting", .head = own_head },
	.around = count_around,
};

static const struct ocb_store_layer_ops bare_ops = {
	.ops = { .name = "bare" },
};

static void test_layer_frame(void)
{
	struct seen_calls sc = { 0 };
	struct ocb_store *file, *bare, *top;
	struct ocb_obj_head h = { 0 };
	const char *keys[] = { "frame/b", "frame/c" };
	struct ocb_buf stats;
	char back[4];
	int listed = 0;

	if (ocb_file_store_new(root, &file) < 0 ||
	    ocb_store_layer_new(&bare_ops, NULL, file, &bare) < 0 ||
	    ocb_store_layer_new(&counting_ops, &sc, bare, &top) < 0) {
		CHECK(0);
		return;
	}
	CHECK(!strcmp(top->desc, file->desc));
	CHECK(!strcmp(top->ops->name, "counting"));
	CHECK(ocb_store_layer_inner(top) == bare);
	CHECK(ocb_store_layer_priv(top, &counting_ops) == &sc);
	CHECK(ocb_store_layer_priv(top, &bare_ops) == NULL);
	CHECK(ocb_store_layer_priv(file, &bare_ops) == NULL);
	CHECK_INT(ocb_fault_calls(top, OCB_FAULT_GET), -EINVAL);

	/* what the layer leaves out goes through around, then down */
	CHECK_INT(ocb_store_put_mem(top, "frame/a", "abc", 3, NULL), 0);
	CHECK_INT(sc.n[OCB_STORE_OP_PUT], 1);
	CHECK(!strcmp(sc.key, "frame/a"));
	CHECK_INT(ocb_store_read(top, "frame/a", 1, 2, back), 2);
	CHECK(!memcmp(back, "bc", 2));
	CHECK_INT(sc.n[OCB_STORE_OP_GET], 1);
	/* a hook the layer has is called instead */
	CHECK_INT(top->ops->head(top, "frame/a", &h), 0);
	CHECK_INT((int)h.size, 3);
	ocb_obj_head_release(&h);
	CHECK_INT(sc.heads, 1);
	CHECK_INT(sc.n[OCB_STORE_OP_HEAD], 0);
	CHECK_INT(top->ops->list(top, "frame/", NULL, NULL, count_any,
				 &listed), 0);
	CHECK_INT(listed, 1);
	CHECK_INT(sc.n[OCB_STORE_OP_LIST], 1);
	CHECK(!strcmp(sc.key, "frame/"));
	CHECK_INT(ocb_store_put_mem(top, "frame/b", "b", 1, NULL), 0);
	CHECK_INT(ocb_store_put_mem(top, "frame/c", "c", 1, NULL), 0);
	CHECK_INT(top->ops->del_many(top, keys, 2), 0);
	CHECK_INT(sc.n[OCB_STORE_OP_DEL_MANY], 1);
	CHECK(!strcmp(sc.key, "frame/b"));
	CHECK_INT(top->ops->del(top, "frame/a"), 0);
	CHECK_INT(ocb_store_read(file, "frame/a", 0, 1, back), -ENOENT);
	CHECK_INT(ocb_store_read(file, "frame/b", 0, 1, back), -ENOENT);

	/* no stats of their own: the inner store's lines alone */
	ocb_buf_init(&stats, 4096);
	top->ops->stats(top, &stats);
	CHECK(stats.len == 0 || !strstr(stats.data, "retry_"));
	ocb_buf_release(&stats);
	ocb_store_free(top);	/* frees bare and file: LSan checks */
}

int main(void)
{
	char cmd[600];
	size_t i;

	ocb_log_set_level(OCB_LOG_ERR);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + i / 251);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_policy();
	test_clock();
	test_resume();
	test_final_errors();
	test_deadline();
	test_by_time();
	test_refused_deadline();
	test_writes_and_lists();
	test_layer_frame();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return T_DONE();
}
