/*
 * test_group.c - the group request protocol on a directory store: an ack
 * written while the request is open stays until the request is removed;
 * an ack that races the removal (its PUT lands after the remover listed
 * the acks) takes itself back; an ack of no request writes nothing.
 */
#include "t.h"
#include "file_store.h"
#include "group.h"
#include "store_layer.h"

#include <stdlib.h>
#include <string.h>

#define ROOT "fleet"

/* a layer that removes request "r1" just before the first ack PUT passes */
struct race {
	int armed;
};

static int race_put(struct ocb_store *s, const char *key, uint64_t size,
		    ocb_source_fn src, void *arg,
		    const struct ocb_put_opts *opts)
{
	struct race *r = s->priv;
	struct ocb_store *in = ocb_store_layer_inner(s);

	if (r->armed && strstr(key, "/.requests/r1/")) {
		r->armed = 0;
		CHECK_INT(ocb_group_request_remove(in, ROOT, "r1"), 0);
	}
	return in->ops->put(in, key, size, src, arg, opts);
}

static const struct ocb_store_layer_ops race_ops = {
	.ops = { .name = "race", .put = race_put },
};

static int count_fn(void *arg, const struct ocb_list_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

/* keys under <root>/.requests/ */
static int request_keys(struct ocb_store *s)
{
	int n = 0;

	CHECK_INT(s->ops->list(s, ROOT "/.requests/", NULL, NULL, count_fn, &n),
		  0);
	return n;
}

int main(void)
{
	char root[] = "/tmp/ocb-test-group-XXXXXX";
	struct ocb_store *fs = NULL, *s = NULL;
	struct race race = { 0 };

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK_INT(ocb_file_store_new(root, &fs), 0);
	CHECK_INT(ocb_store_layer_new(&race_ops, &race, fs, &s), 0);

	/* no request: nothing is written */
	CHECK_INT(ocb_group_ack(s, ROOT, "r1", "w1"), 0);
	CHECK_INT(request_keys(s), 0);

	/* open: the ack stays; removal takes the request and its acks */
	CHECK_INT(ocb_group_request(s, ROOT, "r1", "mgr", 60), 0);
	CHECK_INT(ocb_group_ack(s, ROOT, "r1", "w1"), 0);
	CHECK_INT(request_keys(s), 2);
	CHECK_INT(ocb_group_request_remove(s, ROOT, "r1"), 0);
	CHECK_INT(request_keys(s), 0);

	/* the removal runs between the ack's look and its PUT */
	CHECK_INT(ocb_group_request(s, ROOT, "r1", "mgr", 60), 0);
	race.armed = 1;
	CHECK_INT(ocb_group_ack(s, ROOT, "r1", "w1"), 0);
	CHECK_INT(race.armed, 0);
	CHECK_INT(request_keys(s), 0);

	ocb_store_free(s);
	t_rm_rf(root);
	return T_DONE();
}
