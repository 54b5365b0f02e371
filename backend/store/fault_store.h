/*
 * fault_store.h - a store layer that fails on purpose, for tests.
 *
 * Wraps an inner store (owned) and passes every call through, except that
 * a rule per operation can make chosen calls fail with a chosen errno,
 * before they reach the inner store or after it did the work (a lost
 * response), cut a get after some bytes, or delay every call.  Calls are
 * counted, and so is the largest number of calls of one operation running
 * at once.  Calls of an operation can also be held at a gate until the
 * test lets them go.  Deterministic: rules count calls, never time.
 *
 * The control functions take the fault layer itself (the pointer that
 * ocb_fault_store_new() returned, even when another layer now owns it) and
 * return -EINVAL for any other store.  Thread-safe.
 */
#ifndef OCB_FAULT_STORE_H
#define OCB_FAULT_STORE_H

#include <stdint.h>

#include "store_layer.h"

/* the operations of store_layer.h, by the same numbers */
enum ocb_fault_op {
	OCB_FAULT_GET = OCB_STORE_OP_GET,
	OCB_FAULT_HEAD = OCB_STORE_OP_HEAD,
	OCB_FAULT_PUT = OCB_STORE_OP_PUT,
	OCB_FAULT_MPU_CREATE = OCB_STORE_OP_MPU_CREATE,
	OCB_FAULT_MPU_PART = OCB_STORE_OP_MPU_PART,
	OCB_FAULT_MPU_COMPLETE = OCB_STORE_OP_MPU_COMPLETE,
	OCB_FAULT_MPU_ABORT = OCB_STORE_OP_MPU_ABORT,
	OCB_FAULT_MPU_LIST = OCB_STORE_OP_MPU_LIST,
	OCB_FAULT_LIST = OCB_STORE_OP_LIST,
	OCB_FAULT_DEL = OCB_STORE_OP_DEL,
	OCB_FAULT_DEL_MANY = OCB_STORE_OP_DEL_MANY,
	OCB_FAULT_NOPS = OCB_STORE_NOPS
};

struct ocb_fault_rule {
	int skip;		/* let this many calls through first */
	int count;		/* then fail this many (-1: every later call) */
	int err;		/* with this negative errno */
	int late;		/* fail after the inner store did the work; for
				 * a get: after cut_after bytes reached the sink,
				 * for a list: after cut_after entries */
	uint64_t cut_after;	/* get or list with late: delivered before err */
	unsigned delay_ms;	/* every call of the op waits this long first */
};

/* Wrap inner (owned from now on, also on failure): 0 or -ENOMEM. */
int ocb_fault_store_new(struct ocb_store *inner, struct ocb_store **out);

/* Replace the rule of op (NULL: no faults for op, counters kept). */
int ocb_fault_set(struct ocb_store *s, enum ocb_fault_op op,
		  const struct ocb_fault_rule *rule);

/* Shorthand: the next n calls of op fail with err before the inner store. */
int ocb_fault_fail(struct ocb_store *s, enum ocb_fault_op op, int n, int err);

/* Calls of op so far (failed ones included), or a negative errno. */
int64_t ocb_fault_calls(struct ocb_store *s, enum ocb_fault_op op);

/* Hold (on != 0) or let go (0) every call of op: held calls wait before
 * reaching the inner store until the hold is lifted.  0 or -EINVAL. */
int ocb_fault_hold(struct ocb_store *s, enum ocb_fault_op op, int on);
/* Block until at least n calls of op are being held.  0 or -EINVAL. */
int ocb_fault_wait_held(struct ocb_store *s, enum ocb_fault_op op, int n);
/* Most calls of op that were running at the same time, or negative errno. */
int64_t ocb_fault_max_active(struct ocb_store *s, enum ocb_fault_op op);

#endif
