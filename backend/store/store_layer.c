/*
 * store_layer.c - the frame of store layers: forwarders for the hooks a
 * layer leaves out, so that a layer holds only what it changes.
 *
 * Each layer gets its own copy of the hook table, the layer's hooks with
 * the gaps filled by the forwarders below.  A forwarder finds the frame
 * from the ocb_store it is called with (the frame holds it), describes
 * the call as a struct ocb_store_call, and hands it to the layer's around
 * hook or straight to the inner store; ocb_store_layer_pass() is the one
 * place that turns a described call back into a hook call.
 */
#include "store_layer.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

struct layer {
	struct ocb_store store;		/* what callers hold */
	struct ocb_store *inner;	/* owned */
	const struct ocb_store_layer_ops *lops;
	struct ocb_store_ops ops;	/* lops->ops, gaps filled */
};

static struct layer *layer_of(struct ocb_store *s)
{
	return (struct layer *)((char *)s - offsetof(struct layer, store));
}

struct ocb_store *ocb_store_layer_inner(struct ocb_store *s)
{
	return layer_of(s)->inner;
}

int ocb_store_layer_pass(struct ocb_store *s, const struct ocb_store_call *c)
{
	struct ocb_store *in = layer_of(s)->inner;
	const struct ocb_store_ops *o = in->ops;

	switch (c->op) {
	case OCB_STORE_OP_GET:
		return o->get(in, c->u.get.req, c->u.get.sink, c->u.get.arg,
			      c->u.get.head);
	case OCB_STORE_OP_HEAD:
		return o->head(in, c->key, c->u.head.out);
	case OCB_STORE_OP_PUT:
		return o->put(in, c->key, c->u.put.size, c->u.put.src,
			      c->u.put.arg, c->u.put.opts);
	case OCB_STORE_OP_MPU_CREATE:
		return o->mpu_create(in, c->key, c->u.mpu_create.opts,
				     c->u.mpu_create.upload_id);
	case OCB_STORE_OP_MPU_PART:
		return o->mpu_part(in, c->key, c->u.mpu_part.upload_id,
				   c->u.mpu_part.no, c->u.mpu_part.data,
				   c->u.mpu_part.len, c->u.mpu_part.etag);
	case OCB_STORE_OP_MPU_COMPLETE:
		return o->mpu_complete(in, c->key, c->u.mpu_complete.upload_id,
				       c->u.mpu_complete.parts,
				       c->u.mpu_complete.nparts);
	case OCB_STORE_OP_MPU_ABORT:
		return o->mpu_abort(in, c->key, c->u.mpu_abort.upload_id);
	case OCB_STORE_OP_MPU_LIST:
		return o->mpu_list(in, c->key, c->u.mpu_list.cb,
				   c->u.mpu_list.arg);
	case OCB_STORE_OP_LIST:
		return o->list(in, c->key, c->u.list.delimiter,
			       c->u.list.start_after, c->u.list.cb,
			       c->u.list.arg);
	case OCB_STORE_OP_DEL:
		return o->del(in, c->key);
	case OCB_STORE_OP_DEL_MANY:
		return o->del_many(in, c->u.del_many.keys, c->u.del_many.n);
	case OCB_STORE_NOPS:
		break;
	}
	return -EINVAL;
}

/* a hook the layer left out: its around hook, or the inner store */
static int forward(struct ocb_store *s, struct ocb_store_call *c)
{
	struct layer *l = layer_of(s);

	if (l->lops->around)
		return l->lops->around(s, c);
	return ocb_store_layer_pass(s, c);
}

static int fwd_get(struct ocb_store *s, const struct ocb_get_req *req,
		   ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_GET, .key = req->key,
				    .u.get = { req, sink, arg, head } };

	return forward(s, &c);
}

static int fwd_head(struct ocb_store *s, const char *key,
		    struct ocb_obj_head *out)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_HEAD, .key = key,
				    .u.head = { out } };

	return forward(s, &c);
}

static int fwd_put(struct ocb_store *s, const char *key, uint64_t size,
		   ocb_source_fn src, void *arg,
		   const struct ocb_put_opts *opts)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_PUT, .key = key,
				    .u.put = { size, src, arg, opts } };

	return forward(s, &c);
}

static int fwd_mpu_create(struct ocb_store *s, const char *key,
			  const struct ocb_put_opts *opts, char **upload_id)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_MPU_CREATE, .key = key,
				    .u.mpu_create = { opts, upload_id } };

	return forward(s, &c);
}

static int fwd_mpu_part(struct ocb_store *s, const char *key,
			const char *upload_id, int no, const void *data,
			size_t len, char etag[OCB_ETAG_MAX])
{
	struct ocb_store_call c = {
		.op = OCB_STORE_OP_MPU_PART, .key = key,
		.u.mpu_part = { upload_id, no, data, len, etag } };

	return forward(s, &c);
}

static int fwd_mpu_complete(struct ocb_store *s, const char *key,
			    const char *upload_id,
			    const struct ocb_part *parts, size_t nparts)
{
	struct ocb_store_call c = {
		.op = OCB_STORE_OP_MPU_COMPLETE, .key = key,
		.u.mpu_complete = { upload_id, parts, nparts } };

	return forward(s, &c);
}

static int fwd_mpu_abort(struct ocb_store *s, const char *key,
			 const char *upload_id)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_MPU_ABORT, .key = key,
				    .u.mpu_abort = { upload_id } };

	return forward(s, &c);
}

static int fwd_mpu_list(struct ocb_store *s, const char *prefix,
			ocb_upload_fn cb, void *arg)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_MPU_LIST, .key = prefix,
				    .u.mpu_list = { cb, arg } };

	return forward(s, &c);
}

static int fwd_list(struct ocb_store *s, const char *prefix,
		    const char *delimiter, const char *start_after,
		    ocb_list_fn cb, void *arg)
{
	struct ocb_store_call c = {
		.op = OCB_STORE_OP_LIST, .key = prefix,
		.u.list = { delimiter, start_after, cb, arg } };

	return forward(s, &c);
}

static int fwd_del(struct ocb_store *s, const char *key)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_DEL, .key = key };

	return forward(s, &c);
}

static int fwd_del_many(struct ocb_store *s, const char *const *keys,
			size_t n)
{
	struct ocb_store_call c = { .op = OCB_STORE_OP_DEL_MANY,
				    .key = n ? keys[0] : "",
				    .u.del_many = { keys, n } };

	return forward(s, &c);
}

/* this layer's lines, then the inner store's */
static void layer_stats(struct ocb_store *s, struct ocb_buf *out)
{
	struct layer *l = layer_of(s);

	if (l->lops->ops.stats)
		l->lops->ops.stats(s, out);
	l->inner->ops->stats(l->inner, out);
}

/* this layer's state, then the inner store, then the frame */
static void layer_destroy(struct ocb_store *s)
{
	struct layer *l = layer_of(s);

	if (l->lops->ops.destroy)
		l->lops->ops.destroy(s);
	ocb_store_free(l->inner);
	free(l);
}

#define FILL(hook) (o->hook = lops->ops.hook ? lops->ops.hook : fwd_##hook)

int ocb_store_layer_new(const struct ocb_store_layer_ops *lops, void *priv,
			struct ocb_store *inner, struct ocb_store **out)
{
	struct layer *l = calloc(1, sizeof(*l));
	struct ocb_store_ops *o;

	if (!l) {
		ocb_store_free(inner);
		return -ENOMEM;
	}
	l->inner = inner;
	l->lops = lops;
	o = &l->ops;
	o->name = lops->ops.name;
	FILL(get);
	FILL(head);
	FILL(put);
	FILL(mpu_create);
	FILL(mpu_part);
	FILL(mpu_complete);
	FILL(mpu_abort);
	FILL(mpu_list);
	FILL(list);
	FILL(del);
	FILL(del_many);
	o->stats = layer_stats;
	o->destroy = layer_destroy;
	l->store.ops = o;
	l->store.priv = priv;
	snprintf(l->store.desc, sizeof(l->store.desc), "%s", inner->desc);
	*out = &l->store;
	return 0;
}

void *ocb_store_layer_priv(struct ocb_store *s,
			   const struct ocb_store_layer_ops *lops)
{
	if (!s || s->ops->destroy != layer_destroy ||
	    layer_of(s)->lops != lops)
		return NULL;
	return s->priv;
}
