/* Unit tests: the multipart uploader (a streaming writer) over the local store behind the fault
 * layer: single put vs multipart, abort on free and on errors, errors
 * sticky, part-size growth, and memory bounded by (max_inflight + 1)
 * parts (large allocations are counted by wrapping malloc and free, see
 * tests/meson.build). */
#include "t.h"
#include "buf.h"
#include "fault_store.h"
#include "file_store.h"
#include "log.h"
#include "multipart.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- counting large allocations ------------------------------------------- */

#define BIG (64 * 1024)
#define SLOTS 4096

void *__real_malloc(size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void __wrap_free(void *p);

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static void *big_ptr[SLOTS];
static size_t big_size[SLOTS];
static size_t big_live, big_peak;

void *__wrap_malloc(size_t n)
{
	void *p = __real_malloc(n);
	size_t i;

	if (!p || n < BIG)
		return p;
	pthread_mutex_lock(&mem_lock);
	for (i = 0; i < SLOTS; i++)
		if (!big_ptr[i]) {
			big_ptr[i] = p;
			big_size[i] = n;
			big_live += n;
			if (big_live > big_peak)
				big_peak = big_live;
			break;
		}
	pthread_mutex_unlock(&mem_lock);
	return p;
}

void __wrap_free(void *p)
{
	size_t i;

	if (p) {
		pthread_mutex_lock(&mem_lock);
		for (i = 0; i < SLOTS; i++)
			if (big_ptr[i] == p) {
				big_ptr[i] = NULL;
				big_live -= big_size[i];
				break;
			}
		pthread_mutex_unlock(&mem_lock);
	}
	__real_free(p);
}

static void peak_reset(void)
{
	pthread_mutex_lock(&mem_lock);
	big_peak = big_live;
	pthread_mutex_unlock(&mem_lock);
}

static size_t peak_above(size_t base)
{
	size_t p;

	pthread_mutex_lock(&mem_lock);
	p = big_peak;
	pthread_mutex_unlock(&mem_lock);
	return p > base ? p - base : 0;
}

static size_t live(void)
{
	size_t n;

	pthread_mutex_lock(&mem_lock);
	n = big_live;
	pthread_mutex_unlock(&mem_lock);
	return n;
}

/* ---- helpers ------------------------------------------------------------------ */

static char root[] = "/tmp/ocb-writer-XXXXXX";

static struct ocb_store *fresh_store(struct ocb_store **fault)
{
	struct ocb_store *fs = NULL, *s = NULL;

	if (ocb_file_store_new(root, &fs) < 0 ||
	    ocb_fault_store_new(fs, &s) < 0)
		return NULL;
	*fault = s;
	return s;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13);
}

/* write size pattern bytes in chunks of chunk: 0 or the first error */
static int write_pattern(struct ocb_multipart *w, uint64_t size, size_t chunk)
{
	uint8_t *buf = __real_malloc(chunk);
	uint64_t off = 0;
	int r = 0;

	while (off < size && r == 0) {
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk, i;

		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		r = ocb_multipart_write(w, buf, n);
		off += n;
	}
	__real_free(buf);
	return r;
}

static int check_pattern(struct ocb_store *s, const char *key, uint64_t size)
{
	struct ocb_buf b;
	uint64_t i;
	int ok;

	ocb_buf_init(&b, 64 << 20);
	ok = ocb_store_get_buf(s, key, &b, NULL) == 0 && b.len == size;
	for (i = 0; ok && i < size; i++)
		ok = (uint8_t)b.data[i] == pattern(i);
	ocb_buf_release(&b);
	return ok;
}

static int count_upload(void *arg, const char *key, const char *id,
			int64_t initiated)
{
	(void)key;
	(void)id;
	(void)initiated;
	(*(int *)arg)++;
	return 0;
}

static int uploads(struct ocb_store *s)
{
	int n = 0;

	if (s->ops->mpu_list(s, "", count_upload, &n) < 0)
		return -1;
	return n;
}

static int exists(struct ocb_store *s, const char *key)
{
	struct ocb_obj_head h = { 0 };
	int r = s->ops->head(s, key, &h);

	ocb_obj_head_release(&h);
	return r == 0;
}

#define CALLS(op) ocb_fault_calls(f, OCB_FAULT_##op)

/* ---- tests ------------------------------------------------------------------- */

static void test_single_put(void)
{
	struct ocb_store *f, *s = fresh_store(&f);
	struct ocb_multipart_opts wo = { .part_size = 64 * 1024 };
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m };
	struct ocb_obj_head h = { 0 };
	struct ocb_multipart *w = NULL;

	if (!s)
		return;
	ocb_meta_set(&m, "kind", "small");
	/* a few bytes */
	CHECK_INT(ocb_multipart_new(s, "w/small", &po, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 1000, 333), 0);
	CHECK_INT(ocb_multipart_offset(w), 1000);
	CHECK(!exists(s, "w/small"));
	CHECK_INT(ocb_multipart_commit(w), 0);
	CHECK_INT(ocb_multipart_write(w, "x", 1), -EINVAL);
	ocb_multipart_free(w);
	CHECK(check_pattern(s, "w/small", 1000));
	CHECK_INT(s->ops->head(s, "w/small", &h), 0);
	CHECK_STR(ocb_meta_get(&h.meta, "kind"), "small");
	ocb_obj_head_release(&h);
	/* exactly one part is still one put */
	CHECK_INT(ocb_multipart_new(s, "w/onepart", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 64 * 1024, 64 * 1024), 0);
	CHECK_INT(ocb_multipart_commit(w), 0);
	ocb_multipart_free(w);
	CHECK(check_pattern(s, "w/onepart", 64 * 1024));
	/* nothing at all: an empty object */
	CHECK_INT(ocb_multipart_new(s, "w/empty", NULL, &wo, &w), 0);
	CHECK_INT(ocb_multipart_commit(w), 0);
	ocb_multipart_free(w);
	CHECK(check_pattern(s, "w/empty", 0));
	CHECK_INT(CALLS(PUT), 3);
	CHECK_INT(CALLS(MPU_CREATE), 0);
	ocb_meta_release(&m);
	ocb_store_free(s);
}

static void test_multipart(void)
{
	struct ocb_store *f, *s = fresh_store(&f);
	struct ocb_multipart_opts wo = { .part_size = 64 * 1024,
				      .max_inflight = 3 };
	struct ocb_meta m = { 0 };
	struct ocb_put_opts po = { .meta = &m };
	struct ocb_obj_head h = { 0 };
	struct ocb_multipart *w = NULL;
	uint64_t size = 10 * 64 * 1024 + 12345;

	if (!s)
		return;
	ocb_meta_set(&m, "kind", "big");
	CHECK_INT(ocb_multipart_new(s, "w/big", &po, &wo, &w), 0);
	CHECK_INT(write_pattern(w, size, 7777), 0);
	CHECK(!exists(s, "w/big"));
	CHECK_INT(ocb_multipart_commit(w), 0);
	CHECK_INT(ocb_multipart_commit(w), -EINVAL);
	ocb_multipart_free(w);
	CHECK(check_pattern(s, "w/big", size));
	CHECK_INT(s->ops->head(s, "w/big", &h), 0);
	CHECK_STR(ocb_meta_get(&h.meta, "kind"), "big");
	ocb_obj_head_release(&h);
	CHECK_INT(CALLS(PUT), 0);
	CHECK_INT(CALLS(MPU_CREATE), 1);
	CHECK_INT(CALLS(MPU_PART), 11);
	CHECK_INT(CALLS(MPU_COMPLETE), 1);
	CHECK_INT(CALLS(MPU_ABORT), 0);
	CHECK_INT(uploads(s), 0);
	/* one part and one byte: two parts */
	CHECK_INT(ocb_multipart_new(s, "w/two", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 64 * 1024 + 1, 64 * 1024 + 1), 0);
	CHECK_INT(ocb_multipart_commit(w), 0);
	ocb_multipart_free(w);
	CHECK(check_pattern(s, "w/two", 64 * 1024 + 1));
	CHECK_INT(CALLS(MPU_PART), 13);
	ocb_meta_release(&m);
	ocb_store_free(s);
}

static void test_abort_on_free(void)
{
	struct ocb_store *f, *s = fresh_store(&f);
	struct ocb_multipart_opts wo = { .part_size = 64 * 1024 };
	struct ocb_multipart *w = NULL;

	if (!s)
		return;
	CHECK_INT(ocb_multipart_new(s, "w/abandoned", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 5 * 64 * 1024 + 10, 50000), 0);
	CHECK_INT(uploads(s), 1);
	ocb_multipart_free(w);
	CHECK_INT(uploads(s), 0);
	CHECK(!exists(s, "w/abandoned"));
	CHECK_INT(CALLS(MPU_ABORT), 1);
	CHECK_INT(CALLS(MPU_COMPLETE), 0);
	/* abandoned before any part: nothing was created */
	CHECK_INT(ocb_multipart_new(s, "w/abandoned2", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 100, 100), 0);
	ocb_multipart_free(w);
	CHECK(!exists(s, "w/abandoned2"));
	CHECK_INT(CALLS(PUT), 0);
	ocb_multipart_free(NULL);
	ocb_store_free(s);
}

static void test_errors(void)
{
	struct ocb_store *f, *s = fresh_store(&f);
	struct ocb_multipart_opts wo = { .part_size = 64 * 1024 };
	struct ocb_fault_rule third_part = { .skip = 2, .count = -1,
					     .err = -EACCES };
	struct ocb_multipart *w = NULL;
	int r;

	if (!s)
		return;
	/* a part fails: the writer reports it from then on, and aborts */
	CHECK_INT(ocb_fault_set(f, OCB_FAULT_MPU_PART, &third_part), 0);
	CHECK_INT(ocb_multipart_new(s, "w/failing", NULL, &wo, &w), 0);
	r = write_pattern(w, 40 * 64 * 1024, 64 * 1024);
	CHECK_INT(r, -EACCES);
	CHECK_INT(ocb_multipart_write(w, "x", 1), -EACCES);
	CHECK_INT(ocb_multipart_commit(w), -EACCES);
	CHECK_INT(ocb_multipart_commit(w), -EACCES);
	CHECK_INT(uploads(s), 0);	/* aborted at the error already */
	CHECK(CALLS(MPU_PART) < 40);
	ocb_multipart_free(w);
	CHECK_INT(uploads(s), 0);
	CHECK(!exists(s, "w/failing"));
	CHECK_INT(CALLS(MPU_ABORT), 1);
	CHECK_INT(ocb_fault_set(f, OCB_FAULT_MPU_PART, NULL), 0);

	/* complete fails */
	CHECK_INT(ocb_fault_fail(f, OCB_FAULT_MPU_COMPLETE, 1, -EIO), 0);
	CHECK_INT(ocb_multipart_new(s, "w/nocomplete", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 3 * 64 * 1024, 10000), 0);
	CHECK_INT(ocb_multipart_commit(w), -EIO);
	CHECK_INT(ocb_multipart_write(w, "x", 1), -EIO);
	CHECK_INT(uploads(s), 0);
	ocb_multipart_free(w);
	CHECK(!exists(s, "w/nocomplete"));

	/* create fails */
	CHECK_INT(ocb_fault_fail(f, OCB_FAULT_MPU_CREATE, 1, -ENOENT), 0);
	CHECK_INT(ocb_multipart_new(s, "w/nocreate", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 3 * 64 * 1024, 10000), -ENOENT);
	CHECK_INT(ocb_multipart_commit(w), -ENOENT);
	ocb_multipart_free(w);
	CHECK(!exists(s, "w/nocreate"));

	/* the single put fails */
	CHECK_INT(ocb_fault_fail(f, OCB_FAULT_PUT, 1, -EACCES), 0);
	CHECK_INT(ocb_multipart_new(s, "w/noput", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 100, 100), 0);
	CHECK_INT(ocb_multipart_commit(w), -EACCES);
	CHECK_INT(ocb_multipart_commit(w), -EACCES);
	ocb_multipart_free(w);
	CHECK(!exists(s, "w/noput"));

	/* a conditional create that loses */
	{
		struct ocb_put_opts excl = { .if_none_match = 1 };

		CHECK_INT(ocb_multipart_new(s, "w/nocomplete", &excl, &wo, &w), 0);
		CHECK_INT(ocb_multipart_commit(w), 0);
		ocb_multipart_free(w);
		CHECK_INT(ocb_multipart_new(s, "w/nocomplete", &excl, &wo, &w), 0);
		CHECK_INT(write_pattern(w, 3 * 64 * 1024, 10000), 0);
		CHECK_INT(ocb_multipart_commit(w), -EEXIST);
		ocb_multipart_free(w);
		CHECK(check_pattern(s, "w/nocomplete", 0));
		CHECK_INT(uploads(s), 0);
	}
	CHECK_INT(ocb_multipart_new(s, "", NULL, &wo, &w), -EINVAL);
	ocb_store_free(s);
}

static void test_memory_bound(void)
{
	struct ocb_store *f, *s = fresh_store(&f);
	const size_t part = 256 * 1024;
	struct ocb_multipart_opts wo = { .part_size = part, .max_inflight = 2 };
	struct ocb_fault_rule slow = { .delay_ms = 2 };
	struct ocb_multipart *w = NULL;
	size_t base;

	if (!s)
		return;
	/* slow parts: the caller must wait for them, not buffer more */
	CHECK_INT(ocb_fault_set(f, OCB_FAULT_MPU_PART, &slow), 0);
	base = live();
	peak_reset();
	CHECK_INT(ocb_multipart_new(s, "w/bounded", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, 40 * part + 1, 100000), 0);
	CHECK_INT(ocb_multipart_commit(w), 0);
	ocb_multipart_free(w);
	CHECK_INT(live(), base);
	if (peak_above(base) > 3 * part)
		fprintf(stderr, "peak %zu bytes\n", peak_above(base));
	CHECK(peak_above(base) <= 3 * part);
	CHECK(peak_above(base) >= 2 * part);	/* the count does see them */
	CHECK(ocb_fault_max_active(f, OCB_FAULT_MPU_PART) <= 2);
	CHECK_INT(CALLS(MPU_PART), 41);
	CHECK(check_pattern(s, "w/bounded", 40 * part + 1));
	ocb_store_free(s);
}

static void test_part_growth(void)
{
	struct ocb_store *f, *s = fresh_store(&f);
	/* 1000 parts of 512 bytes, then parts of 1 KiB */
	struct ocb_multipart_opts wo = { .part_size = 512, .max_inflight = 4 };
	struct ocb_multipart *w = NULL;
	uint64_t size = 1000 * 512 + 3 * 1024 + 100;

	if (!s)
		return;
	CHECK_INT(ocb_multipart_new(s, "w/grown", NULL, &wo, &w), 0);
	CHECK_INT(write_pattern(w, size, 3000), 0);
	CHECK_INT(ocb_multipart_commit(w), 0);
	ocb_multipart_free(w);
	CHECK_INT(CALLS(MPU_PART), 1004);
	CHECK(check_pattern(s, "w/grown", size));
	ocb_store_free(s);
}

int main(void)
{
	char cmd[600];

	ocb_log_set_level(OCB_LOG_ERR);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_single_put();
	test_multipart();
	test_abort_on_free();
	test_errors();
	test_memory_bound();
	test_part_growth();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return T_DONE();
}
