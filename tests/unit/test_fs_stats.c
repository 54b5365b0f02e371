/*
 * test_fs_stats.c - the daemon's counters: kinds, errors by kind, exact
 * totals under concurrent counting, the stats file's lines.
 */
#include "t.h"
#include "buf.h"
#include "fs_stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the value of "name value" in text, or -1 */
static long long value_of(const struct ocb_buf *b, const char *name)
{
	size_t n = strlen(name);
	const char *p = b->data, *end = b->data + b->len;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if ((size_t)(end - p) > n + 1 && !strncmp(p, name, n) &&
		    p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p = nl ? nl + 1 : NULL;
	}
	return -1;
}

static void test_counts(void)
{
	struct fs_stats *s = NULL;
	struct ocb_buf b;

	CHECK_INT(fs_stats_new(&s), 0);
	fs_stats_op(s, FS_STATS_LOOKUP);
	fs_stats_op(s, FS_STATS_LOOKUP);
	fs_stats_op(s, FS_STATS_READ);
	fs_stats_op(s, FS_STATS_NOPS);		/* out of range: ignored */
	fs_stats_read_bytes(s, 4096);
	fs_stats_read_bytes(s, 10);
	fs_stats_error(s, EIO);
	fs_stats_error(s, -EIO);
	fs_stats_error(s, ETIMEDOUT);
	fs_stats_error(s, EROFS);
	fs_stats_error(s, EACCES);
	fs_stats_error(s, ENOTDIR);
	fs_stats_error(s, 0);			/* not an error */
	ocb_buf_init(&b, 1 << 16);
	fs_stats_print(s, &b);
	CHECK_INT(value_of(&b, "fuse_lookup"), 2);
	CHECK_INT(value_of(&b, "fuse_read"), 1);
	CHECK_INT(value_of(&b, "fuse_getattr"), 0);
	CHECK_INT(value_of(&b, "fuse_readdir"), 0);
	CHECK_INT(value_of(&b, "fuse_readlink"), 0);
	CHECK_INT(value_of(&b, "fuse_open"), 0);
	CHECK_INT(value_of(&b, "fuse_xattr"), 0);
	CHECK_INT(value_of(&b, "fuse_read_bytes"), 4106);
	CHECK_INT(value_of(&b, "fuse_errors"), 6);
	CHECK_INT(value_of(&b, "fuse_errors_io"), 2);
	CHECK_INT(value_of(&b, "fuse_errors_timeout"), 1);
	CHECK_INT(value_of(&b, "fuse_errors_rofs"), 1);
	CHECK_INT(value_of(&b, "fuse_errors_access"), 1);
	CHECK_INT(value_of(&b, "fuse_errors_other"), 1);
	CHECK(value_of(&b, "uptime_seconds") >= 0);
	/* the report without other layers is our lines alone */
	{
		struct ocb_buf b2;

		ocb_buf_init(&b2, 1 << 16);
		fs_stats_report(s, NULL, NULL, NULL, &b2);
		CHECK_INT(b2.len, b.len);
		ocb_buf_release(&b2);
	}
	ocb_buf_release(&b);
	fs_stats_free(s);
}

static void test_null(void)
{
	struct ocb_buf b;

	fs_stats_op(NULL, FS_STATS_READ);
	fs_stats_read_bytes(NULL, 1);
	fs_stats_error(NULL, EIO);
	ocb_buf_init(&b, 1024);
	fs_stats_print(NULL, &b);
	CHECK_INT(b.len, 0);
	ocb_buf_release(&b);
	fs_stats_free(NULL);
}

#define THREADS 8
#define ROUNDS 100000

static void *counter(void *arg)
{
	struct fs_stats *s = arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		fs_stats_op(s, FS_STATS_READ);
		fs_stats_read_bytes(s, 3);
		if (i % 10 == 0)
			fs_stats_error(s, EIO);
	}
	return NULL;
}

static void test_concurrent(void)
{
	struct fs_stats *s = NULL;
	pthread_t t[THREADS];
	struct ocb_buf b;
	int i;

	CHECK_INT(fs_stats_new(&s), 0);
	for (i = 0; i < THREADS; i++)
		CHECK_INT(pthread_create(&t[i], NULL, counter, s), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ocb_buf_init(&b, 1 << 16);
	fs_stats_print(s, &b);
	CHECK_INT(value_of(&b, "fuse_read"), THREADS * ROUNDS);
	CHECK_INT(value_of(&b, "fuse_read_bytes"), 3ll * THREADS * ROUNDS);
	CHECK_INT(value_of(&b, "fuse_errors_io"), THREADS * (ROUNDS / 10));
	ocb_buf_release(&b);
	fs_stats_free(s);
}

int main(void)
{
	test_counts();
	test_null();
	test_concurrent();
	return T_DONE();
}
