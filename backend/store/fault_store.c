/*
 * fault_store.c - deterministic fault injection between two store layers.
 *
 * Why rules count calls instead of using probabilities or time: a test
 * must fail the same way on every run, and on a loaded machine too.
 * A store layer (store_layer.h) with one around hook: every operation
 * passes the same gate, rule and counters, indexed by its operation.
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

static const struct ocb_store_layer_ops fault_ops;

static struct fault *fault_of(struct ocb_store *s)
{
	return ocb_store_layer_priv(s, &fault_ops);
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

/* ---- late faults: after the inner store did the work ----------------------- */

/* get: cut after some bytes */
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

static int cut_get(struct ocb_store *s, struct ocb_store_call *call,
		   const struct verdict *v)
{
	struct cut c = { call->u.get.sink, call->u.get.arg, v->cut_after,
			 v->err, 0 };
	int r;

	call->u.get.sink = cut_sink;
	call->u.get.arg = &c;
	r = ocb_store_layer_pass(s, call);
	return c.hit || r == 0 ? v->err : r;
}

/* list: cut after some entries */
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

static int cut_list(struct ocb_store *s, struct ocb_store_call *call,
		    const struct verdict *v)
{
	struct list_cut c = { call->u.list.cb, call->u.list.arg, v->cut_after,
			      v->err, 0 };
	int r;

	call->u.list.cb = list_cut_fn;
	call->u.list.arg = &c;
	r = ocb_store_layer_pass(s, call);
	return c.hit || r == 0 ? v->err : r;
}

/*
 * The operations with output parameters: those are written only on
 * success, also when a late fault turns the inner store's success into a
 * failure (a lost response: an upload created then stays behind).
 */
static int guarded(struct ocb_store *s, struct ocb_store_call *c, int err)
{
	struct ocb_obj_head h = { 0 }, *head = NULL;
	char *id = NULL, **upload_id = NULL;
	char e[OCB_ETAG_MAX], *etag = NULL;
	int r;

	if (c->op == OCB_STORE_OP_HEAD) {
		head = c->u.head.out;
		c->u.head.out = &h;
	} else if (c->op == OCB_STORE_OP_MPU_CREATE) {
		upload_id = c->u.mpu_create.upload_id;
		c->u.mpu_create.upload_id = &id;
	} else {
		etag = c->u.mpu_part.etag;
		c->u.mpu_part.etag = e;
	}
	r = ocb_store_layer_pass(s, c);
	if (r == 0 && err) {
		ocb_obj_head_release(&h);
		free(id);
		r = err;
	}
	if (r < 0)
		return r;
	if (head)
		*head = h;
	else if (upload_id)
		*upload_id = id;
	else
		memcpy(etag, e, OCB_ETAG_MAX);
	return r;
}

/* every operation: fail before the inner call, or after it */
static int fault_around(struct ocb_store *s, struct ocb_store_call *c)
{
	struct fault *f = s->priv;
	struct verdict v = enter(f, (enum ocb_fault_op)c->op);
	int r;

	if (v.err && !v.late)
		return leave(f, (enum ocb_fault_op)c->op, v.err);
	switch (c->op) {
	case OCB_STORE_OP_GET:
		r = v.err ? cut_get(s, c, &v) : ocb_store_layer_pass(s, c);
		break;
	case OCB_STORE_OP_LIST:
		r = v.err ? cut_list(s, c, &v) : ocb_store_layer_pass(s, c);
		break;
	case OCB_STORE_OP_HEAD:
	case OCB_STORE_OP_MPU_CREATE:
	case OCB_STORE_OP_MPU_PART:
		r = guarded(s, c, v.err);
		break;
	default:
		r = ocb_store_layer_pass(s, c);
		if (v.err && r == 0)
			r = v.err;
		break;
	}
	return leave(f, (enum ocb_fault_op)c->op, r);
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
}

static void fault_free(struct fault *f)
{
	pthread_cond_destroy(&f->gate);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static void fault_destroy(struct ocb_store *s)
{
	fault_free(s->priv);
}

static const struct ocb_store_layer_ops fault_ops = {
	.ops = {
		.name = "fault",
		.stats = fault_stats,
		.destroy = fault_destroy,
	},
	.around = fault_around,
};

int ocb_fault_store_new(struct ocb_store *inner, struct ocb_store **out)
{
	struct fault *f = calloc(1, sizeof(*f));
	int r;

	if (!f) {
		ocb_store_free(inner);
		return -ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->gate, NULL);
	r = ocb_store_layer_new(&fault_ops, f, inner, out);
	if (r < 0)
		fault_free(f);
	return r;
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
