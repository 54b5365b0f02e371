/*
 * common.c - context, exit codes, signals for the `ocb` subcommands.
 */
#include "common.h"
#include "group.h"
#include "inventory.h"
#include "backup_open.h"
#include "ocb_archive.h"
#include "phys_cache.h"
#include "buf.h"
#include "cmd.h"
#include "log.h"
#include "store_open.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "highwater.h"
#include "openclaw.h"

/* what the physical frames kept across the reads of one command (cat,
 * restore, verify of an incremental backup) may hold: enough for the
 * frames of a month of objects behind one stretch of a large file */
#define TOOL_PHYS_BYTES (32u << 20)
/* what they may grow to when a stream's segment map says it keeps more
 * at once (a large file changed a little every day of a long series) */
#define TOOL_PHYS_CAP (96u << 20)
/* what those reads may hold at once while they run (fetched frames,
 * decode buffers): as much as the cat pipeline's decoded batches
 * (CAT_BYTES), so its workers rarely wait, and no more */
#define TOOL_WORK_BYTES (64u << 20)

/* the one place that turns an errno into an exit code */
int ocb_exit_code(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return OCB_EXIT_OK;
	case EINVAL:
	case ENOTDIR:
		return OCB_EXIT_FAIL;
	case EACCES:
	case EPERM:
	case ENOKEY:
	case EKEYREJECTED:
	case EKEYEXPIRED:
		return OCB_EXIT_ACCESS;
	case ENOENT:
		return OCB_EXIT_NOTFOUND;
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case EAGAIN:
	case EIO:
		return OCB_EXIT_NETWORK;
	case EBADMSG:
		return OCB_EXIT_DAMAGED;
	case EKEYREVOKED:
		return OCB_EXIT_KMS;
	case ECANCELED:
	case EINTR:
		return OCB_EXIT_INTERRUPTED;
	default:
		return OCB_EXIT_FAIL;
	}
}

int ocb_fail(int err, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	const char *why;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	switch (-err) {
	case EBADMSG: why = "data damaged or tampered with (verification failed)"; break;
	case ENOKEY: why = "no usable key or credentials"; break;
	case EKEYREVOKED: why = "the KMS key is missing, disabled or pending "
		"deletion (KMS's answer is above)"; break;
	case ECANCELED: why = "interrupted"; break;
	default: why = ocb_store_strerror(err);
	}
	fprintf(stderr, "ocb: %s: %s\n", what, why);
	return ocb_exit_code(err);
}

int ocb_ctx_config(struct ocb_ctx *ctx)
{
	int r;

	if (ctx->cfg)
		return 0;
	r = ocb_config_load(ctx->config_path, &ctx->cfg);
	if (r < 0) {
		/* the reason is already printed by the config loader */
		return r == -ENOMEM ? OCB_EXIT_FAIL : OCB_EXIT_CONFIG;
	}
	return 0;
}

int ocb_ctx_store(struct ocb_ctx *ctx, const char *url)
{
	int r = ocb_ctx_config(ctx);

	if (r)
		return r;
	if (ctx->store)
		return 0;
	r = url ? ocb_store_open_url(url, ctx->cfg, &ctx->store) :
		ocb_store_open(ctx->cfg, &ctx->store);
	/* a malformed URL is already explained: --store is a usage error */
	if (r == -EINVAL)
		return url ? OCB_EXIT_USAGE : OCB_EXIT_CONFIG;
	if (r == -ENOENT && !strncmp(url ? url : ctx->cfg->store_url, "file:", 5)) {
		fprintf(stderr, "ocb: cannot open store %s: no such directory\n",
			url ? url : ctx->cfg->store_url);
		return OCB_EXIT_NOTFOUND;
	}
	if (r < 0)
		return ocb_fail(r, "cannot open store %s", url ? url :
				ctx->cfg->store_url);
	/* made here, before any backup is opened (prune and list open them
	 * from several threads); without it, nothing is kept: every read
	 * fetches and decodes */
	if (!ctx->phys &&
	    ocb_phys_cache_new(TOOL_PHYS_BYTES, TOOL_WORK_BYTES,
			       &ctx->phys) == 0) {
		ocb_phys_cache_set_cap(ctx->phys, TOOL_PHYS_CAP);
		ocb_phys_cache_reserve(ctx->phys);
	}
	return 0;
}

void ocb_ctx_release(struct ocb_ctx *ctx)
{
	/* -vv: what the frames kept across reads did (hits, evictions) */
	if (ctx->phys && ocb_log_get_level() >= OCB_LOG_DEBUG) {
		struct ocb_buf b;

		ocb_buf_init(&b, 4096);
		ocb_phys_cache_stats(ctx->phys, &b);
		if (b.len)
			ocb_debug("frames kept across reads:\n%s", b.data);
		ocb_buf_release(&b);
	}
	ocb_store_free(ctx->store);
	ocb_config_free(ctx->cfg);
	ocb_phys_cache_free(ctx->phys);
	ctx->store = NULL;
	ctx->cfg = NULL;
	ctx->phys = NULL;
}

volatile int ocb_interrupted;

static void on_signal(int sig)
{
	(void)sig;
	ocb_interrupted = 1;
}

void ocb_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int ocb_usage(const struct ocb_cmd *cmd)
{
	fprintf(stderr, "%s", cmd->usage);
	return OCB_EXIT_USAGE;
}

/* ---- keys ------------------------------------------------------------------ */

#include "keys_config.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

int ocb_ctx_group(struct ocb_ctx *ctx, struct ocb_group_settings *gs)
{
	int r = ocb_group_settings_load(ctx->cfg, gs);

	if (r == -ENOMEM)
		return ocb_fail(r, "config");
	return r < 0 ? OCB_EXIT_CONFIG : 0;	/* the reason is logged */
}

int ocb_ctx_keyprov(struct ocb_ctx *ctx, struct ocb_keyprov **out)
{
	int r = ocb_ctx_config(ctx);

	if (r)
		return r;
	r = ocb_keyprov_from_config(ctx->cfg, 1, out);
	if (r == -EACCES || r == -EINVAL || r == -ENOENT || r == -EOPNOTSUPP)
		return OCB_EXIT_CONFIG;
	return r < 0 ? ocb_fail(r, "key provider %s", ctx->cfg->key_provider) : 0;
}

const char *ocb_human_size(uint64_t n, char *buf, size_t size)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

void ocb_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

int ocb_mkdir_parents(const char *path)
{
	char tmp[4096], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = strchr(tmp + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int ocb_key_file_generate(const char *path)
{
	unsigned char key[32];
	int fd, r;

	r = ocb_mkdir_parents(path);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key) ? 0 : -EIO;
	if (r == 0) {
		ssize_t w = write(fd, key, sizeof(key));

		/* a short write to a regular file means the disk is full */
		if (w < 0)
			r = -errno;
		else if (w != (ssize_t)sizeof(key))
			r = -ENOSPC;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	OPENSSL_cleanse(key, sizeof(key));
	close(fd);
	if (r < 0)
		unlink(path);
	return r;
}

static int rm_fn(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void ocb_rm_rf(const char *path)
{
	nftw(path, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

/* the newest authenticated backup seen here: `latest` older than it means
 * newer backups went away (deleted, or the store rolled back) */
void ocb_ctx_note_opened(struct ocb_ctx *ctx, const struct ocb_backup_ref *ref,
			 const struct ocb_archive_info *in)
{
	char seen[256], e1[300], e2[300];
	int64_t t;

	if (ocb_highwater_get(ctx->cfg->state_dir, ctx->cfg->prefix, &t, seen,
			      sizeof(seen)) == 0 && ref->latest &&
	    in->created < t)
		fprintf(stderr, "ocb: WARNING: latest is %s, older than %s, "
			"which this machine has seen: newer backups were "
			"deleted or the store was rolled back\n",
			ocb_log_escape(e1, sizeof(e1), ref->name),
			ocb_log_escape(e2, sizeof(e2), seen));
	ocb_highwater_note(ctx->cfg->state_dir, ctx->cfg->prefix, in->created,
			   in->name);
}

int ocb_ctx_open_backup_unnoted(struct ocb_ctx *ctx,
				const struct ocb_backup_ref *ref,
				struct ocb_keyprov *kp, enum ocb_open_how how,
				struct ocb_archive **a)
{
	struct ocb_backup_open_opts oo = {
		.kp = kp,
		.old = { .index = how != OCB_OPEN_STREAM,
			 .cache_dir = (how == OCB_OPEN_INDEX ||
				       how == OCB_OPEN_REFS) &&
				      *ctx->cfg->cache_dir ?
				      ctx->cfg->cache_dir : NULL,
			 .gpg = 1 },
		.flags = how == OCB_OPEN_REFS || how == OCB_OPEN_STREAM ?
			 OCB_ARCHIVE_LAZY_DETAILS : 0,
	};

	oo.phys = ctx->phys;
	return ocb_backup_open(ctx->store, ref->key, &oo, a);
}

int ocb_ctx_open_backup(struct ocb_ctx *ctx, const struct ocb_backup_ref *ref,
			struct ocb_keyprov *kp, enum ocb_open_how how,
			struct ocb_archive **a)
{
	int r = ocb_ctx_open_backup_unnoted(ctx, ref, kp, how, a);

	if (r == 0 && !ocb_archive_is_legacy(*a))
		ocb_ctx_note_opened(ctx, ref, ocb_archive_info(*a));
	return r;
}

void ocb_sources_describe(const struct ocb_config *cfg, char *msg,
			  size_t size)
{
	char **oc = NULL;
	const char *from = "the config";
	char *const *v = cfg->sources;
	size_t n = cfg->nsources, i, len;

	if (cfg->sources_default && cfg->nsources == 1) {
		if (ocb_openclaw_resolve(cfg->sources[0], &oc, &n, &from) == 0) {
			v = oc;
		} else {
			n = cfg->nsources;
			from = "the default";
		}
	}
	len = (size_t)snprintf(msg, size, "sources (from %s):", from);
	for (i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(msg + len, size - len, " %s", v[i]);
	if (oc)
		ocb_openclaw_free(oc, n);
}
