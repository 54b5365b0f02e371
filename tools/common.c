/*
 * common.c - context, exit codes, signals for the `ocb` subcommands.
 */
#include "common.h"
#include "cmd.h"
#include "log.h"
#include "store_open.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
		return OCB_EXIT_ACCESS;
	case ENOENT:
		return OCB_EXIT_NOTFOUND;
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case EAGAIN:
	case EIO:
		return OCB_EXIT_NETWORK;
	case EBADMSG:
		return OCB_EXIT_DAMAGED;
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
	if (r < 0)
		return ocb_fail(r, "cannot open store %s", url ? url :
				ctx->cfg->store_url);
	return 0;
}

void ocb_ctx_release(struct ocb_ctx *ctx)
{
	ocb_store_free(ctx->store);
	ocb_config_free(ctx->cfg);
	ctx->store = NULL;
	ctx->cfg = NULL;
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
