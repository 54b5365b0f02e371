/*
 * store_layer.h - the frame every store layer is built on: a layer wraps
 * an inner store and implements only the hooks it changes; every other
 * operation goes to the inner store unchanged.
 *
 * A layer is described by a struct ocb_store_layer_ops and made with
 * ocb_store_layer_new().  The frame owns the inner store and the layer's
 * ocb_store; the layer's own state is priv.  For each operation hook
 * (get ... del_many):
 *   - set in ops: called, as for any store; it reaches the inner store
 *     through ocb_store_layer_inner();
 *   - NULL, with an around hook: the call is described as a struct
 *     ocb_store_call and handed to around, which may change the copy it
 *     gets and pass it on (any number of times) with ocb_store_layer_pass();
 *   - NULL, no around: the call goes to the inner store as it is.
 * stats, if set, appends this layer's lines only: the frame appends the
 * inner store's after them.  destroy, if set, frees priv only: the frame
 * frees the inner store after it, then itself.  name must be set.
 * The layer's desc is the inner store's.
 */
#ifndef OCB_STORE_LAYER_H
#define OCB_STORE_LAYER_H

#include "store.h"

/* The operations of struct ocb_store_ops, in its order. */
enum ocb_store_op {
	OCB_STORE_OP_GET,
	OCB_STORE_OP_HEAD,
	OCB_STORE_OP_PUT,
	OCB_STORE_OP_MPU_CREATE,
	OCB_STORE_OP_MPU_PART,
	OCB_STORE_OP_MPU_COMPLETE,
	OCB_STORE_OP_MPU_ABORT,
	OCB_STORE_OP_MPU_LIST,
	OCB_STORE_OP_LIST,
	OCB_STORE_OP_DEL,
	OCB_STORE_OP_DEL_MANY,
	OCB_STORE_NOPS
};

/* One call of an operation hook, with its arguments (store.h says what
 * they mean). */
struct ocb_store_call {
	enum ocb_store_op op;
	/* the key; the prefix of list and mpu_list; for del_many the first
	 * key or "" (for messages only: del_many passes keys) */
	const char *key;
	union {
		struct {
			const struct ocb_get_req *req;	/* req->key == key */
			ocb_sink_fn sink;
			void *arg;
			struct ocb_obj_head *head;
		} get;
		struct {
			struct ocb_obj_head *out;
		} head;
		struct {
			uint64_t size;
			ocb_source_fn src;
			void *arg;
			const struct ocb_put_opts *opts;
		} put;
		struct {
			const struct ocb_put_opts *opts;
			char **upload_id;
		} mpu_create;
		struct {
			const char *upload_id;
			int no;
			const void *data;
			size_t len;
			char *etag;	/* OCB_ETAG_MAX bytes */
		} mpu_part;
		struct {
			const char *upload_id;
			const struct ocb_part *parts;
			size_t nparts;
		} mpu_complete;
		struct {
			const char *upload_id;
		} mpu_abort;
		struct {
			ocb_upload_fn cb;
			void *arg;
		} mpu_list;
		struct {
			const char *delimiter;
			const char *start_after;
			ocb_list_fn cb;
			void *arg;
		} list;
		struct {
			const char *const *keys;
			size_t n;
		} del_many;
	} u;
};

struct ocb_store_layer_ops {
	struct ocb_store_ops ops;
	/* NULL, or every operation whose hook is NULL in ops, described */
	int (*around)(struct ocb_store *s, struct ocb_store_call *c);
};

/* A layer over inner (owned from now on, also on failure) with the hooks
 * of lops (kept, not copied: static) and state priv (s->priv).  0, or
 * -ENOMEM (priv is then still the caller's). */
int ocb_store_layer_new(const struct ocb_store_layer_ops *lops, void *priv,
			struct ocb_store *inner, struct ocb_store **out);

/* The store that layer s wraps. */
struct ocb_store *ocb_store_layer_inner(struct ocb_store *s);

/* s->priv if s is a layer made with lops, else NULL. */
void *ocb_store_layer_priv(struct ocb_store *s,
			   const struct ocb_store_layer_ops *lops);

/* Make call c on the store that layer s wraps: the hook's result. */
int ocb_store_layer_pass(struct ocb_store *s, const struct ocb_store_call *c);

#endif
