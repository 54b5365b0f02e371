/*
 * fault_store.c - deterministic fault injection between two store layers.
 *
 * Why rules count calls instead of using probabilities or time: a test
 * must fail the same way on every run, and on a loaded machine too.
 */
#include "fault_store.h"
#include "buf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[OCB_FAULT_NOPS] = {
	"get", "head", "put", "mpu_create", "mpu_part", "mpu_complete",
	"mpu_abort", "mpu_list", "list", "del", "del_many",
};

struct op_state {
	struct ocb_fault_rule rule;
	int hold;		/* calls wait in enter() while set */
	int64_t held;		/* calls waiting now */
	int64_t calls;
	int64_t active;
	int64_t max_active;
};

struct fault {
	struct ocb_store *inner;
	pthread_mutex_t lock;
	pthread_cond_t gate;	/* a hold was lifted, or a call arrived */
	struct op_state op[OCB_FAULT_NOPS];
};

/* what one call must do, decided when it enters */
struct verdict {
	int err;		/* 0: pass through */
	int late;
	uint64_t cut_after;
};

static const struct ocb_store_ops fault_ops;

static struct fault *fault_of(struct ocb_store *s)
{
	return s && s->ops == &fault_ops ? s->priv : NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static struct verdict enter(struct fault *f, enum ocb_fault_op op)
{
	struct op_state *o = &f->op[op];
	struct verdict v = { 0 };
	unsigned delay;

	pthread_mutex_lock(&f->lock);
	o->calls++;
	o->active++;
	if (o->active > o->max_active)
		o->max_active = o->active;
	if (o->rule.skip > 0) {
		o->rule.skip--;
	} else if (o->rule.count != 0 && o->rule.err < 0) {
		if (o->rule.count > 0)
			o->rule.count--;
		v.err = o->rule.err;
		v.late = o->rule.late;
		v.cut_after = o->rule.cut_after;
	}
	delay = o->rule.delay_ms;
	if (o->hold) {
		o->held++;
		pthread_cond_broadcast(&f->gate);
		while (o->hold)
			pthread_cond_wait(&f->gate, &f->lock);
		o->held--;
	}
	pthread_mutex_unlock(&f->lock);
	if (delay)
		sleep_ms(delay);
	return v;
}

static int leave(struct fault *f, enum ocb_fault_op op, int r)
{
	pthread_mutex_lock(&f->lock);
	f->op[op].active--;
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* ---- get: optionally cut after some bytes --------------------------------- */

struct cut {
	ocb_sink_fn sink;
	void *arg;
	uint64_t left;
	int err;
	int hit;
};

static int cut_sink(void *arg, const void *data, size_t len)
{
	struct cut *c = arg;
	int r;

	if (len > c->left) {
		if (c->left) {
			r = c->sink(c->arg, data, (size_t)c->left);
			if (r < 0)
				return r;
		}
		c->left = 0;
		c->hit = 1;
		return c->err;
	}
	c->left -= len;
	return c->sink(c->arg, data, len);
}

static int fault_get(struct ocb_store *s, const struct ocb_get_req *req,
		     ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct fault *f = s->priv;
	struct verdict v = enter(f, OCB_FAULT_GET);
	struct cut c = { sink, arg, v.cut_after, v.err, 0 };
	int r;

	if (v.err && !v.late)
		return leave(f, OCB_FAULT_GET, v.err);
	if (!v.err)
		return leave(f, OCB_FAULT_GET,
			     f->inner->ops->get(f->inner, req, sink, arg, head));
	r = f->inner->ops->get(f->inner, req, cut_sink, &c, head);
	if (c.hit || r == 0)
		r = v.err;
	return leave(f, OCB_FAULT_GET, r);
}

/* ---- the others: fail before or after the inner call ----------------------- */

#define PASS(op, call) do { \
	struct verdict v = enter(f, (op)); \
	int r; \
	if (v.err && !v.late) \
		return leave(f, (op), v.err); \
	r = (call); \
	return leave(f, (op), v.err && r == 0 ? v.err : r); \
} while (0)

static int fault_head(struct ocb_store *s, const char *key,
		      struct ocb_obj_head *out)
{
	struct fault *f = s->priv;
	struct ocb_obj_head h = { 0 };
	struct verdict v = enter(f, OCB_FAULT_HEAD);
	int r;

	/* output parameters are written only on success, also when late */
	if (v.err && !v.late)
		return leave(f, OCB_FAULT_HEAD, v.err);
	r = f->inner->ops->head(f->inner, key, &h);
	if (r == 0 && v.err) {
		ocb_obj_head_release(&h);
		r = v.err;
	}
	if (r == 0)
		*out = h;
	return leave(f, OCB_FAULT_HEAD, r);
}

static int fault_put(struct ocb_store *s, const char *key, uint64_t size,
		     ocb_source_fn src, void *arg,
		     const struct ocb_put_opts *opts)
{
	struct fault *f = s->priv;

	PASS(OCB_FAULT_PUT,
	     f->inner->ops->put(f->inner, key, size, src, arg, opts));
}

static int fault_mpu_create(struct ocb_store *s, const char *key,
			    const struct ocb_put_opts *opts, char **upload_id)
{
	struct fault *f = s->priv;
	struct verdict v = enter(f, OCB_FAULT_MPU_CREATE);
	char *id = NULL;
	int r;

	if (v.err && !v.late)
		return leave(f, OCB_FAULT_MPU_CREATE, v.err);
	r = f->inner->ops->mpu_create(f->inner, key, opts, &id);
	if (r == 0 && v.err) {
		free(id);	/* lost response: the upload stays behind */
		r = v.err;
	}
	if (r == 0)
		*upload_id = id;
	return leave(f, OCB_FAULT_MPU_CREATE, r);
}

static int fault_mpu_part(struct ocb_store *s, const char *key,
			  const char *upload_id, int no, const void *data,
			  size_t len, char etag[OCB_ETAG_MAX])
{
	struct fault *f = s->priv;
	char e[OCB_ETAG_MAX];
	struct verdict v = enter(f, OCB_FAULT_MPU_PART);
	int r;

	if (v.err && !v.late)
		return leave(f, OCB_FAULT_MPU_PART, v.err);
	r = f->inner->ops->mpu_part(f->inner, key, upload_id, no, data, len, e);
	if (r == 0 && v.err)
		r = v.err;
	if (r == 0)
		memcpy(etag, e, OCB_ETAG_MAX);
	return leave(f, OCB_FAULT_MPU_PART, r);
}

static int fault_mpu_complete(struct ocb_store *s, const char *key,
			      const char *upload_id,
			      const struct ocb_part *parts, size_t nparts)
{
	struct fault *f = s->priv;

	PASS(OCB_FAULT_MPU_COMPLETE,
	     f->inner->ops->mpu_complete(f->inner, key, upload_id, parts,
					 nparts));
}

static int fault_mpu_abort(struct ocb_store *s, const char *key,
			   const char *upload_id)
{
	struct fault *f = s->priv;

	PASS(OCB_FAULT_MPU_ABORT,
	     f->inner->ops->mpu_abort(f->inner, key, upload_id));
}

static int fault_mpu_list(struct ocb_store *s, const char *prefix,
			  ocb_upload_fn cb, void *arg)
{
	struct fault *f = s->priv;

	PASS(OCB_FAULT_MPU_LIST,
	     f->inner->ops->mpu_list(f->inner, prefix, cb, arg));
}

struct list_cut {
	ocb_list_fn cb;
	void *arg;
	uint64_t left;
	int err;
	int hit;
};

static int list_cut_fn(void *arg, const struct ocb_list_entry *e)
{
	struct list_cut *c = arg;

	if (c->left == 0) {
		c->hit = 1;
		return c->err;
	}
	c->left--;
	return c->cb(c->arg, e);
}

static int fault_list(struct ocb_store *s, const char *prefix,
		      const char *delimiter, const char *start_after,
		      ocb_list_fn cb, void *arg)
{
	struct fault *f = s->priv;
	struct verdict v = enter(f, OCB_FAULT_LIST);
	struct list_cut c = { cb, arg, v.cut_after, v.err, 0 };
	int r;

	if (v.err && !v.late)
		return leave(f, OCB_FAULT_LIST, v.err);
	if (!v.err)
		return leave(f, OCB_FAULT_LIST,
			     f->inner->ops->list(f->inner, prefix, delimiter,
						 start_after, cb, arg));
	r = f->inner->ops->list(f->inner, prefix, delimiter, start_after,
				list_cut_fn, &c);
	if (c.hit || r == 0)
		r = v.err;
	return leave(f, OCB_FAULT_LIST, r);
}

static int fault_del(struct ocb_store *s, const char *key)
{
	struct fault *f = s->priv;

	PASS(OCB_FAULT_DEL, f->inner->ops->del(f->inner, key));
}

static int fault_del_many(struct ocb_store *s, const char *const *keys,
			  size_t n)
{
	struct fault *f = s->priv;

	PASS(OCB_FAULT_DEL_MANY, f->inner->ops->del_many(f->inner, keys, n));
}

static void fault_stats(struct ocb_store *s, struct ocb_buf *out)
{
	struct fault *f = s->priv;
	int i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < OCB_FAULT_NOPS; i++)
		if (f->op[i].calls)
			ocb_buf_printf(out, "fault_calls_%s %" PRId64 "\n",
				       op_names[i], f->op[i].calls);
	pthread_mutex_unlock(&f->lock);
	f->inner->ops->stats(f->inner, out);
}

static void fault_destroy(struct ocb_store *s)
{
	struct fault *f = s->priv;

	ocb_store_free(f->inner);
	pthread_cond_destroy(&f->gate);
	pthread_mutex_destroy(&f->lock);
	free(f);
	free(s);
}

static const struct ocb_store_ops fault_ops = {
	.name = "fault",
	.get = fault_get,
	.head = fault_head,
	.put = fault_put,
	.mpu_create = fault_mpu_create,
	.mpu_part = fault_mpu_part,
	.mpu_complete = fault_mpu_complete,
	.mpu_abort = fault_mpu_abort,
	.mpu_list = fault_mpu_list,
	.list = fault_list,
	.del = fault_del,
	.del_many = fault_del_many,
	.stats = fault_stats,
	.destroy = fault_destroy,
};

int ocb_fault_store_new(struct ocb_store *inner, struct ocb_store **out)
{
	struct ocb_store *s = calloc(1, sizeof(*s));
	struct fault *f = calloc(1, sizeof(*f));

	if (!s || !f) {
		free(s);
		free(f);
		ocb_store_free(inner);
		return -ENOMEM;
	}
	f->inner = inner;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->gate, NULL);
	s->ops = &fault_ops;
	s->priv = f;
	memcpy(s->desc, inner->desc, sizeof(s->desc));
	*out = s;
	return 0;
}

int ocb_fault_set(struct ocb_store *s, enum ocb_fault_op op,
		  const struct ocb_fault_rule *rule)
{
	struct fault *f = fault_of(s);
	static const struct ocb_fault_rule none;

	if (!f || (unsigned)op >= OCB_FAULT_NOPS ||
	    (rule && rule->count != 0 && rule->err >= 0))
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	f->op[op].rule = rule ? *rule : none;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int ocb_fault_fail(struct ocb_store *s, enum ocb_fault_op op, int n, int err)
{
	struct ocb_fault_rule r = { .count = n, .err = err };

	return ocb_fault_set(s, op, &r);
}

int64_t ocb_fault_calls(struct ocb_store *s, enum ocb_fault_op op)
{
	struct fault *f = fault_of(s);
	int64_t n;

	if (!f || (unsigned)op >= OCB_FAULT_NOPS)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	n = f->op[op].calls;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int64_t ocb_fault_max_active(struct ocb_store *s, enum ocb_fault_op op)
{
	struct fault *f = fault_of(s);
	int64_t n;

	if (!f || (unsigned)op >= OCB_FAULT_NOPS)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	n = f->op[op].max_active;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int ocb_fault_hold(struct ocb_store *s, enum ocb_fault_op op, int on)
{
	struct fault *f = fault_of(s);

	if (!f || op >= OCB_FAULT_NOPS)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	f->op[op].hold = on;
	pthread_cond_broadcast(&f->gate);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int ocb_fault_wait_held(struct ocb_store *s, enum ocb_fault_op op, int n)
{
	struct fault *f = fault_of(s);

	if (!f || op >= OCB_FAULT_NOPS)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	while (f->op[op].held < n)
		pthread_cond_wait(&f->gate, &f->lock);
	pthread_mutex_unlock(&f->lock);
	return 0;
}
