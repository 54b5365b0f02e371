/* Unit tests: the retry policy, and the retry layer over a store that
 * fails on purpose (resumed gets never duplicate bytes). */
#include "t.h"
#include "buf.h"
#include "file_store.h"
#include "log.h"
#include "retry_store.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void test_policy(void)
{
	int a;

	CHECK(ocb_retry_is_transient(-EAGAIN));
	CHECK(ocb_retry_is_transient(-ETIMEDOUT));
	CHECK(ocb_retry_is_transient(-ECONNRESET));
	CHECK(ocb_retry_is_transient(-ECONNREFUSED));
	CHECK(!ocb_retry_is_transient(-EACCES));
	CHECK(!ocb_retry_is_transient(-ENOENT));
	CHECK(!ocb_retry_is_transient(-EINVAL));
	CHECK(!ocb_retry_is_transient(-ESTALE));
	for (a = 1; a < 20; a++) {
		unsigned ceiling = 100u << (a - 1 < 10 ? a - 1 : 10);

		if (ceiling > 5000)
			ceiling = 5000;
		CHECK(ocb_retry_delay_ms(a, 100, 5000, 0) == 0);
		CHECK_INT(ocb_retry_delay_ms(a, 100, 5000, UINT32_MAX), ceiling);
		CHECK(ocb_retry_delay_ms(a, 100, 5000, 0x80000000u) <= ceiling / 2 + 1);
	}
}

/* a store layer that fails the first n gets after delivering k bytes */
struct flaky {
	struct ocb_store *inner;
	int fail_gets;
	size_t cut_after;
	int fail_err;
	int calls;
};

struct cut {
	ocb_sink_fn sink;
	void *arg;
	size_t left;
};

static int cut_sink(void *arg, const void *p, size_t n)
{
	struct cut *c = arg;

	if (n > c->left) {
		if (c->left)
			c->sink(c->arg, p, c->left);
		c->left = 0;
		return -ECONNRESET;
	}
	c->left -= n;
	return c->sink(c->arg, p, n);
}

static int flaky_get(struct ocb_store *s, const struct ocb_get_req *g,
		     ocb_sink_fn sink, void *arg, struct ocb_obj_head *h)
{
	struct flaky *f = s->priv;

	f->calls++;
	if (f->fail_gets > 0) {
		struct cut c = { sink, arg, f->cut_after };
		int r;

		f->fail_gets--;
		if (f->fail_err)
			return f->fail_err;
		r = f->inner->ops->get(f->inner, g, cut_sink, &c, h);
		return r ? r : -ECONNRESET;
	}
	return f->inner->ops->get(f->inner, g, sink, arg, h);
}

static int flaky_head(struct ocb_store *s, const char *k, struct ocb_obj_head *h)
{
	struct flaky *f = s->priv;

	return f->inner->ops->head(f->inner, k, h);
}

static void flaky_stats(struct ocb_store *s, struct ocb_buf *b)
{
}

static void flaky_destroy(struct ocb_store *s)
{
	struct flaky *f = s->priv;

	ocb_store_free(f->inner);
	free(s);
}

static const struct ocb_store_ops flaky_ops = {
	.name = "flaky", .get = flaky_get, .head = flaky_head,
	.stats = flaky_stats, .destroy = flaky_destroy,
};

static void test_resume(void)
{
	char dir[] = "/tmp/ocb-retry-XXXXXX";
	struct ocb_store *fs, *r;
	struct ocb_store flaky_store = { .ops = &flaky_ops };
	struct flaky f = { 0 };
	struct ocb_retry_opts o = { .base_ms = 1, .cap_ms = 2 };
	struct ocb_buf b;
	char data[100000];
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	if (!mkdtemp(dir) || ocb_file_store_new(dir, &fs) < 0)
		return;
	CHECK_INT(ocb_store_put_mem(fs, "obj", data, sizeof(data), NULL), 0);
	f.inner = fs;
	flaky_store.priv = &f;
	/* the retry layer owns its inner store: give it a copy on the heap */
	{
		struct ocb_store *heap = malloc(sizeof(*heap));

		*heap = flaky_store;
		CHECK_INT(ocb_retry_store_new(heap, &o, &r), 0);
	}
	/* two cuts mid-body: the caller sees every byte exactly once */
	f.fail_gets = 2;
	f.cut_after = 30000;
	ocb_buf_init(&b, 1 << 20);
	CHECK_INT(ocb_store_get_buf(r, "obj", &b, NULL), 0);
	CHECK_INT(b.len, sizeof(data));
	CHECK(b.len == sizeof(data) && memcmp(b.data, data, sizeof(data)) == 0);
	CHECK_INT(f.calls, 3);
	ocb_buf_release(&b);
	/* a 4xx-class error is final at once */
	f.calls = 0;
	f.fail_gets = 5;
	f.fail_err = -EACCES;
	ocb_buf_init(&b, 1 << 20);
	CHECK_INT(ocb_store_get_buf(r, "obj", &b, NULL), -EACCES);
	CHECK_INT(f.calls, 1);
	ocb_buf_release(&b);
	/* transient forever: exhausted, reported as EIO */
	f.calls = 0;
	f.fail_gets = 100;
	f.fail_err = -EAGAIN;
	ocb_buf_init(&b, 1 << 20);
	CHECK_INT(ocb_store_get_buf(r, "obj", &b, NULL), -EIO);
	CHECK_INT(f.calls, 6);
	ocb_buf_release(&b);
	ocb_store_free(r);
}

int main(void)
{
	ocb_log_set_level(OCB_LOG_ERR);
	test_policy();
	test_resume();
	return T_DONE();
}
