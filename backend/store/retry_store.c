/*
 * retry_store.c - retry transient store failures, count everything.
 *
 * A store layer (store_layer.h) with one around hook: every operation is
 * run by the policy its row of retry_table names.
 */
#include "retry_store.h"
#include "store_layer.h"
#include "buf.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rstore {
	struct ocb_retry_opts o;
	atomic_uint_fast64_t requests, retries, failures, bytes_in, bytes_out;
	/* the start (ms) of the first operation that failed for good in
	 * the current outage; 0: the last operation reached the store */
	atomic_uint_fast64_t outage_since;
	/* how long that operation tried (its deadline; 0 until known):
	 * after as long, new operations make a single attempt */
	atomic_uint_fast64_t outage_span;
};

/* one operation's bookkeeping */
struct attempt {
	struct rstore *r;
	struct ocb_retry t;	/* the policy's clock (retry.h) */
	int n;			/* attempts made */
	int probe;		/* one attempt only: see attempt_init() */
	const char *what;
	const char *key;
};

static void attempt_init(struct attempt *a, struct rstore *r,
			 const char *what, const char *key)
{
	uint64_t since = atomic_load(&r->outage_since);
	uint64_t span = atomic_load(&r->outage_span);

	a->r = r;
	a->n = 0;
	ocb_retry_start(&a->t, &r->o);
	/* the store has been unreachable for a whole deadline already: a
	 * single attempt, until one reaches it.  A read through the mount
	 * that the kernel asks again after an error then fails at once
	 * instead of waiting out another deadline. */
	a->probe = since &&
		a->t.start - since >= (span ? span : r->o.deadline_ms);
	a->what = what;
	a->key = key;
}

/* the key or prefix a message names: never empty (a listing of the
 * whole bucket has the empty prefix) */
static const char *key_name(const struct attempt *a, char *esc, size_t size)
{
	if (!a->key || !*a->key)
		return "(the whole bucket)";
	return ocb_log_escape(esc, size, a->key);
}

/*
 * After a failed attempt with err: sleep and return 1 to try again, or
 * return 0 when err is final.
 */
static int attempt_again(struct attempt *a, int err)
{
	long delay;
	char esc[256];

	a->n++;
	delay = ocb_retry_failed(&a->t, err);
	if (delay < 0 || a->probe)
		return 0;
	atomic_fetch_add(&a->r->retries, 1);
	ocb_debug("%s %s: %s, retry %d in %ld ms", a->what,
		  key_name(a, esc, sizeof(esc)),
		  ocb_store_strerror(err), a->n, delay);
	if (delay)
		ocb_retry_sleep_ms((unsigned)delay);
	atomic_fetch_add(&a->r->requests, 1);
	return 1;
}

static int attempt_final(struct attempt *a, int err)
{
	if (err < 0 && ocb_retry_is_transient(err)) {
		uint_fast64_t none = 0;

		if (atomic_compare_exchange_strong(&a->r->outage_since, &none,
						   a->t.start ? a->t.start : 1))
			atomic_store(&a->r->outage_span,
				     ocb_retry_end_ms(&a->t) - a->t.start);
	} else {
		atomic_store(&a->r->outage_since, 0);
		atomic_store(&a->r->outage_span, 0);
	}
	if (err < 0) {
		atomic_fetch_add(&a->r->failures, 1);
		if (ocb_retry_is_transient(err) && a->n > 1) {
			char esc[256];

			ocb_warn("%s %s: %s after %d attempts", a->what,
				 key_name(a, esc, sizeof(esc)),
				 ocb_store_strerror(err), a->n);
		}
		if (err == -EAGAIN || err == -ECONNRESET)
			return -EIO;
	}
	return err;
}

/* ---- the retry policies ------------------------------------------------------ */

/* Each runs one call with its attempts; a is initialised, the first
 * request not yet counted. */
typedef int (*policy_fn)(struct ocb_store *s, struct attempt *a,
			 struct ocb_store_call *c);

/* the same call again, as long as a transient error allows */
static int plain(struct ocb_store *s, struct attempt *a,
		 struct ocb_store_call *c)
{
	int err;

	atomic_fetch_add(&a->r->requests, 1);
	do {
		err = ocb_store_layer_pass(s, c);
	} while (err < 0 && attempt_again(a, err));
	return attempt_final(a, err);
}

/* put: count the bytes read from the source (again on each attempt) */
struct count_src {
	struct rstore *r;
	ocb_source_fn src;
	void *arg;
};

static ssize_t count_src_fn(void *arg, uint64_t off, void *buf, size_t len)
{
	struct count_src *c = arg;
	ssize_t n = c->src(c->arg, off, buf, len);

	if (n > 0)
		atomic_fetch_add(&c->r->bytes_out, (uint64_t)n);
	return n;
}

static int counted_put(struct ocb_store *s, struct attempt *a,
		       struct ocb_store_call *c)
{
	struct count_src cs = { a->r, c->u.put.src, c->u.put.arg };

	c->u.put.src = count_src_fn;
	c->u.put.arg = &cs;
	/* a retried conditional create may find its own first attempt */
	return plain(s, a, c);
}

/* mpu_part: count the part's bytes once it is stored */
static int counted_part(struct ocb_store *s, struct attempt *a,
			struct ocb_store_call *c)
{
	int err = plain(s, a, c);

	if (err == 0)
		atomic_fetch_add(&a->r->bytes_out, c->u.mpu_part.len);
	return err;
}

/* ---- get: resume where the previous attempt stopped ----------------------- */

struct resume {
	struct rstore *r;
	ocb_sink_fn sink;
	void *arg;
	uint64_t delivered;
	int sink_err;		/* the caller's sink said stop */
};

static int resume_sink(void *arg, const void *data, size_t len)
{
	struct resume *rs = arg;
	int r = rs->sink(rs->arg, data, len);

	if (r < 0) {
		rs->sink_err = r;
		return r;
	}
	rs->delivered += len;
	atomic_fetch_add(&rs->r->bytes_in, len);
	return 0;
}

/* the rest of req after the sink got delivered bytes of the object
 * whose first attempt said its size and etag */
static void resume_req(struct ocb_get_req *cur, const struct ocb_get_req *req,
		       uint64_t delivered, uint64_t size, const char *etag)
{
	if (req->suffix) {
		uint64_t start = req->len >= size ? 0 : size - req->len;

		cur->suffix = 0;
		cur->off = start + delivered;
		cur->len = req->len >= size ? size - delivered :
			req->len - delivered;
	} else {
		cur->off = req->off + delivered;
		cur->len = req->len == OCB_TO_END ? OCB_TO_END :
			req->len - delivered;
	}
	cur->if_match = etag[0] ? etag : req->if_match;
}

static int resumed_get(struct ocb_store *s, struct attempt *a,
		       struct ocb_store_call *c)
{
	struct ocb_store *inner = ocb_store_layer_inner(s);
	const struct ocb_get_req *req = c->u.get.req;
	struct ocb_obj_head *head = c->u.get.head;
	struct resume rs = { .r = a->r, .sink = c->u.get.sink,
			     .arg = c->u.get.arg };
	struct ocb_obj_head h = { 0 }, first = { 0 };
	struct ocb_get_req cur = *req;
	char etag[OCB_ETAG_MAX] = "";
	int have_first = 0, err;

	atomic_fetch_add(&a->r->requests, 1);
	for (;;) {
		/* until an attempt has named the object, attempts fill the
		 * caller's head themselves: it is there before the first sink
		 * call, as store.h promises */
		struct ocb_obj_head *hp = head && !have_first ? head : &h;

		if (hp == head && a->n > 0) {
			ocb_obj_head_release(head);
			memset(head, 0, sizeof(*head));
		}
		err = inner->ops->get(inner, &cur, resume_sink, &rs, hp);
		if (!have_first && (hp->etag[0] || hp->size)) {
			/* the first attempt's head is the caller's; its etag
			 * pins the version for resumed attempts */
			snprintf(etag, sizeof(etag), "%s", hp->etag);
			if (hp == &h) {
				first = h;
				memset(&h, 0, sizeof(h));
			} else {
				first.size = head->size;
			}
			have_first = 1;
		} else if (hp == &h) {
			ocb_obj_head_release(&h);
			memset(&h, 0, sizeof(h));
		}
		if (err == 0 || rs.sink_err)
			break;
		if (!attempt_again(a, err))
			break;
		if (rs.delivered) {
			/* resume after the bytes the sink already has */
			if (!have_first)
				break;
			resume_req(&cur, req, rs.delivered, first.size, etag);
		}
	}
	if (!head)
		ocb_obj_head_release(&first);
	if (rs.sink_err)
		return rs.sink_err;
	return attempt_final(a, err);
}

/*
 * Listing callbacks are not idempotent for the caller, so a list is retried
 * only while nothing has been delivered; after that it resumes with
 * start_after = the last key delivered.
 */
struct list_resume {
	ocb_list_fn cb;
	void *arg;
	char last[OCB_KEY_MAX + 1];
	int cb_err;
};

static int list_resume_fn(void *arg, const struct ocb_list_entry *e)
{
	struct list_resume *lr = arg;
	int r = lr->cb(lr->arg, e);

	if (r < 0) {
		lr->cb_err = r;
		return r;
	}
	snprintf(lr->last, sizeof(lr->last), "%s", e->key);
	return 0;
}

static int resumed_list(struct ocb_store *s, struct attempt *a,
			struct ocb_store_call *c)
{
	struct list_resume lr = { .cb = c->u.list.cb, .arg = c->u.list.arg };
	const char *start_after = c->u.list.start_after;
	int err;

	c->u.list.cb = list_resume_fn;
	c->u.list.arg = &lr;
	atomic_fetch_add(&a->r->requests, 1);
	do {
		c->u.list.start_after = lr.last[0] ? lr.last : start_after;
		err = ocb_store_layer_pass(s, c);
	} while (err < 0 && !lr.cb_err && attempt_again(a, err));
	if (lr.cb_err)
		return lr.cb_err;
	return attempt_final(a, err);
}

/* ---- the table: how each operation is retried ---------------------------------- */

/*
 * Every operation is safe to repeat: reads and deletes are idempotent, a
 * put or a part replaces what an earlier attempt stored, a completed
 * upload makes the same object, and callers of mpu_list only abort
 * uploads (seeing one twice is fine).  What differs is how an attempt
 * that already delivered something resumes, and what is counted.
 */
static const struct {
	const char *what;	/* the request, for messages */
	policy_fn run;
} retry_table[OCB_STORE_NOPS] = {
	[OCB_STORE_OP_GET] = { "GET", resumed_get },
	[OCB_STORE_OP_HEAD] = { "HEAD", plain },
	[OCB_STORE_OP_PUT] = { "PUT", counted_put },
	[OCB_STORE_OP_MPU_CREATE] = { "CreateMultipartUpload", plain },
	[OCB_STORE_OP_MPU_PART] = { "UploadPart", counted_part },
	[OCB_STORE_OP_MPU_COMPLETE] = { "CompleteMultipartUpload", plain },
	[OCB_STORE_OP_MPU_ABORT] = { "AbortMultipartUpload", plain },
	[OCB_STORE_OP_MPU_LIST] = { "ListMultipartUploads", plain },
	[OCB_STORE_OP_LIST] = { "LIST", resumed_list },
	[OCB_STORE_OP_DEL] = { "DELETE", plain },
	[OCB_STORE_OP_DEL_MANY] = { "DeleteObjects", plain },
};

static int rstore_around(struct ocb_store *s, struct ocb_store_call *c)
{
	struct attempt a;

	attempt_init(&a, s->priv, retry_table[c->op].what, c->key);
	return retry_table[c->op].run(s, &a, c);
}

static void rstore_stats(struct ocb_store *s, struct ocb_buf *out)
{
	struct rstore *r = s->priv;

	ocb_buf_printf(out,
		       "retry_requests %" PRIuFAST64 "\n"
		       "retry_retries %" PRIuFAST64 "\n"
		       "retry_failures %" PRIuFAST64 "\n"
		       "retry_bytes_in %" PRIuFAST64 "\n"
		       "retry_bytes_out %" PRIuFAST64 "\n",
		       atomic_load(&r->requests), atomic_load(&r->retries),
		       atomic_load(&r->failures), atomic_load(&r->bytes_in),
		       atomic_load(&r->bytes_out));
}

static void rstore_destroy(struct ocb_store *s)
{
	free(s->priv);
}

static const struct ocb_store_layer_ops rstore_ops = {
	.ops = {
		.name = "retry",
		.stats = rstore_stats,
		.destroy = rstore_destroy,
	},
	.around = rstore_around,
};

int ocb_retry_store_new(struct ocb_store *inner,
			const struct ocb_retry_opts *o, struct ocb_store **out)
{
	struct rstore *r = calloc(1, sizeof(*r));
	int err;

	if (!r) {
		ocb_store_free(inner);
		return -ENOMEM;
	}
	if (o)
		r->o = *o;
	ocb_retry_opts_fill(&r->o);
	err = ocb_store_layer_new(&rstore_ops, r, inner, out);
	if (err < 0)
		free(r);
	return err;
}
