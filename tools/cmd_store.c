/*
 * cmd_store.c - `ocb store`: low-level object operations, for operators
 * and tests.  Bytes go through the same store stack as everything else.
 */
#include "cmd.h"
#include "fileio.h"
#include "log.h"
#include "multipart.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb store [--store URL] ls [-r|--recursive] [PREFIX]\n"
	"       ocb store [--store URL] get KEY [FILE|-]\n"
	"       ocb store [--store URL] put FILE|- KEY\n"
	"       ocb store [--store URL] head KEY\n"
	"       ocb store [--store URL] rm KEY...\n"
	"\n"
	"Low-level access to the objects of the configured store.\n"
	"  --store URL      use this store instead (s3://BUCKET, file:///DIR);\n"
	"                   endpoint, region and credentials as configured\n"
	"  -r, --recursive  ls: every key below PREFIX, not one level\n"
	"ls prints \"DATE TIME SIZE KEY\" per object and \"PRE PREFIX/\" per common\n"
	"prefix (control characters, backslashes and invalid UTF-8 in keys as\n"
	"\\xNN); get writes KEY to FILE (complete or not at all) or stdout;\n"
	"put streams FILE or stdin with bounded memory (multipart above 8 MiB);\n"
	"head prints size, etag, mtime and metadata.  Options may also follow\n"
	"the operation; \"--\" ends them (for keys starting with '-').\n";

static int fd_sink(void *arg, const void *data, size_t len)
{
	if (ocb_interrupted)
		return -ECANCELED;
	return ocb_fileio_write_all(*(int *)arg, data, len);
}

static int ls_fn(void *arg, const struct ocb_list_entry *e)
{
	char t[32] = "", key[OCB_KEY_MAX * 4 + 8];

	(void)arg;
	/* keys come from the store: never let them drive the terminal */
	ocb_log_escape(key, sizeof(key), e->key);
	if (e->is_prefix) {
		printf("%29s %s\n", "PRE", key);
	} else {
		time_t mt = (time_t)e->mtime;
		struct tm tm;

		gmtime_r(&mt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s %10" PRIu64 " %s\n", t, e->size, key);
	}
	return ocb_interrupted ? -ECANCELED : 0;
}

static int do_ls(struct ocb_store *s, int argc, char **argv, int recursive)
{
	const char *prefix = "";
	int r;

	if (argc > 2)
		return -EINVAL;
	if (argc == 2)
		prefix = argv[1];
	r = s->ops->list(s, prefix, recursive ? NULL : "/", NULL, ls_fn, NULL);
	return r < 0 ? ocb_fail(r, "list %s", *prefix ? prefix :
				"(the whole bucket)") : 0;
}

static int do_get(struct ocb_store *s, int argc, char **argv)
{
	struct ocb_get_req g = { .len = OCB_TO_END };
	const char *out = argc > 2 ? argv[2] : "-";
	char tmp[4096];
	int fd = STDOUT_FILENO, r;

	if (argc < 2 || argc > 3)
		return -EINVAL;
	g.key = argv[1];
	if (strcmp(out, "-")) {
		if (!strcmp(out, "/dev/null")) {
			snprintf(tmp, sizeof(tmp), "%s", out);
			fd = open(out, O_WRONLY | O_CLOEXEC);
		} else {
			/* write beside the target, rename when complete */
			snprintf(tmp, sizeof(tmp), "%s.ocb-part", out);
			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				  0644);
		}
		if (fd < 0)
			return ocb_fail(-errno, "%s", out);
	}
	r = s->ops->get(s, &g, fd_sink, &fd, NULL);
	if (fd != STDOUT_FILENO) {
		if (r == 0 && strcmp(out, "/dev/null") && fsync(fd) < 0)
			r = -errno;
		close(fd);
		if (strcmp(out, "/dev/null")) {
			if (r == 0 && rename(tmp, out) < 0)
				r = -errno;
			if (r < 0)
				unlink(tmp);
		}
	}
	return r < 0 ? ocb_fail(r, "get %s", g.key) : 0;
}

static int do_put(struct ocb_store *s, int argc, char **argv)
{
	struct ocb_multipart *w = NULL;
	char *buf = NULL;
	int fd = STDIN_FILENO, r;

	if (argc != 3)
		return -EINVAL;
	if (strcmp(argv[1], "-")) {
		fd = open(argv[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return ocb_fail(-errno, "%s", argv[1]);
	}
	buf = malloc(1 << 20);
	r = buf ? ocb_multipart_new(s, argv[2], NULL, NULL, &w) : -ENOMEM;
	while (r == 0) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR && !ocb_interrupted)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (ocb_interrupted) {
			r = -ECANCELED;
			break;
		}
		if (n == 0) {
			r = ocb_multipart_commit(w);
			break;
		}
		r = ocb_multipart_write(w, buf, (size_t)n);
	}
	ocb_multipart_free(w);
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return r < 0 ? ocb_fail(r, "put %s", argv[2]) : 0;
}

static int do_head(struct ocb_store *s, int argc, char **argv)
{
	struct ocb_obj_head h = { 0 };
	char a[OCB_META_VALUE_MAX * 4 + 8], b[OCB_META_VALUE_MAX * 4 + 8];
	size_t i;
	int r;

	if (argc != 2)
		return -EINVAL;
	r = s->ops->head(s, argv[1], &h);
	if (r < 0)
		return ocb_fail(r, "head %s", argv[1]);
	printf("size %" PRIu64 "\netag %s\nmtime %" PRId64 "\n", h.size,
	       ocb_log_escape(a, sizeof(a), h.etag), h.mtime);
	for (i = 0; i < h.meta.n; i++)
		printf("meta %s %s\n",
		       ocb_log_escape(a, sizeof(a), h.meta.kv[i].name),
		       ocb_log_escape(b, sizeof(b), h.meta.kv[i].value));
	ocb_obj_head_release(&h);
	return 0;
}

static int do_rm(struct ocb_store *s, int argc, char **argv)
{
	int i, r;

	if (argc < 2)
		return -EINVAL;
	for (i = 1; i < argc; i++) {
		r = s->ops->del(s, argv[i]);
		if (r < 0)
			return ocb_fail(r, "rm %s", argv[i]);
	}
	return 0;
}

static int store_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "recursive", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL;
	int c, r, recursive = 0;

	/* options anywhere ("ocb store ls -r x" and "ocb store -r ls x") */
	while ((c = getopt_long(argc, argv, "rh", opts, NULL)) != -1) {
		switch (c) {
		case 's': url = optarg; break;
		case 'r': recursive = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_store);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (recursive && strcmp(argv[0], "ls")))
		return ocb_usage(&ocb_cmd_store);
	if (strcmp(argv[0], "ls") && strcmp(argv[0], "get") &&
	    strcmp(argv[0], "put") && strcmp(argv[0], "head") &&
	    strcmp(argv[0], "rm"))
		return ocb_usage(&ocb_cmd_store);
	r = ocb_ctx_store(ctx, url);
	if (r)
		return r;
	if (!strcmp(argv[0], "ls"))
		r = do_ls(ctx->store, argc, argv, recursive);
	else if (!strcmp(argv[0], "get"))
		r = do_get(ctx->store, argc, argv);
	else if (!strcmp(argv[0], "put"))
		r = do_put(ctx->store, argc, argv);
	else if (!strcmp(argv[0], "head"))
		r = do_head(ctx->store, argc, argv);
	else
		r = do_rm(ctx->store, argc, argv);
	return r == -EINVAL ? ocb_usage(&ocb_cmd_store) : r;
}

const struct ocb_cmd ocb_cmd_store = {
	.name = "store",
	.summary = "low-level object operations (ls, get, put, head, rm)",
	.usage = usage,
	.exec = store_exec,
};
