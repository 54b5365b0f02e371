/*
 * fs_stats.c - the daemon's counters and the stats file.
 */
#include "fs_stats.h"
#include "buf.h"
#include "frame_cache.h"
#include "fs_tree.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

enum err_kind { ERR_IO, ERR_TIMEOUT, ERR_ROFS, ERR_ACCESS, ERR_OTHER, ERR_N };

struct fs_stats {
	struct timespec started;	/* CLOCK_MONOTONIC */
	atomic_uint_fast64_t ops[FS_STATS_NOPS];
	atomic_uint_fast64_t read_bytes;
	atomic_uint_fast64_t errors[ERR_N];
};

static const char *const op_names[FS_STATS_NOPS] = {
	[FS_STATS_LOOKUP] = "lookup",
	[FS_STATS_GETATTR] = "getattr",
	[FS_STATS_READDIR] = "readdir",
	[FS_STATS_READLINK] = "readlink",
	[FS_STATS_OPEN] = "open",
	[FS_STATS_READ] = "read",
	[FS_STATS_XATTR] = "xattr",
};

static const char *const err_names[ERR_N] = {
	[ERR_IO] = "io",
	[ERR_TIMEOUT] = "timeout",
	[ERR_ROFS] = "rofs",
	[ERR_ACCESS] = "access",
	[ERR_OTHER] = "other",
};

int fs_stats_new(struct fs_stats **out)
{
	struct fs_stats *s = calloc(1, sizeof(*s));
	int i;

	if (!s)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	for (i = 0; i < FS_STATS_NOPS; i++)
		atomic_init(&s->ops[i], 0);
	for (i = 0; i < ERR_N; i++)
		atomic_init(&s->errors[i], 0);
	atomic_init(&s->read_bytes, 0);
	*out = s;
	return 0;
}

void fs_stats_free(struct fs_stats *s)
{
	free(s);
}

void fs_stats_op(struct fs_stats *s, enum fs_stats_op op)
{
	if (s && op >= 0 && op < FS_STATS_NOPS)
		atomic_fetch_add_explicit(&s->ops[op], 1, memory_order_relaxed);
}

void fs_stats_read_bytes(struct fs_stats *s, size_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->read_bytes, n,
					  memory_order_relaxed);
}

void fs_stats_error(struct fs_stats *s, int err)
{
	enum err_kind k;

	if (!s || err == 0)
		return;
	switch (err < 0 ? -err : err) {
	case EIO:
		k = ERR_IO;
		break;
	case ETIMEDOUT:
		k = ERR_TIMEOUT;
		break;
	case EROFS:
		k = ERR_ROFS;
		break;
	case EACCES:
	case EPERM:
		k = ERR_ACCESS;
		break;
	default:
		k = ERR_OTHER;
		break;
	}
	atomic_fetch_add_explicit(&s->errors[k], 1, memory_order_relaxed);
}

void fs_stats_print(struct fs_stats *s, struct ocb_buf *out)
{
	struct timespec now;
	uint64_t total = 0, v;
	int i;

	if (!s)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ocb_buf_printf(out, "uptime_seconds %" PRId64 "\n",
		       (int64_t)(now.tv_sec - s->started.tv_sec));
	for (i = 0; i < FS_STATS_NOPS; i++)
		ocb_buf_printf(out, "fuse_%s %" PRIuFAST64 "\n", op_names[i],
			       atomic_load(&s->ops[i]));
	ocb_buf_printf(out, "fuse_read_bytes %" PRIuFAST64 "\n",
		       atomic_load(&s->read_bytes));
	for (i = 0; i < ERR_N; i++)
		total += atomic_load(&s->errors[i]);
	ocb_buf_printf(out, "fuse_errors %" PRIu64 "\n", total);
	for (i = 0; i < ERR_N; i++) {
		v = atomic_load(&s->errors[i]);
		ocb_buf_printf(out, "fuse_errors_%s %" PRIu64 "\n",
			       err_names[i], v);
	}
}

void fs_stats_report(struct fs_stats *s, struct fs_tree *t,
		     struct ocb_frame_cache *fc, struct ocb_store *store,
		     struct ocb_buf *out)
{
	fs_stats_print(s, out);
	if (t)
		fs_tree_stats(t, out);
	if (fc)
		ocb_frame_cache_stats(fc, out);
	if (store && store->ops->stats)
		store->ops->stats(store, out);
}
