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

/* ---- keys ------------------------------------------------------------------ */

#include "keys.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>

static int read_pass_fd(int fd, char *buf, size_t size, size_t *len)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = n;
	return n ? 0 : -EINVAL;
}

static int prompt_pass(char *buf, size_t size, size_t *len)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), r;

	if (fd < 0)
		return -ENOKEY;
	if (write(fd, "ocb passphrase: ", 16) < 0) {
		close(fd);
		return -EIO;
	}
	tcgetattr(fd, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	r = read_pass_fd(fd, buf, size, len);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		r = r ? r : -EIO;
	close(fd);
	return r;
}

int ocb_ctx_keyprov(struct ocb_ctx *ctx, struct ocb_keyprov **out)
{
	const char *kp;
	int r = ocb_ctx_config(ctx);

	if (r)
		return r;
	kp = ctx->cfg->key_provider;
	if (!strcmp(kp, "none")) {
		r = ocb_keyprov_none_new(out);
	} else if (!strcmp(kp, "keyfile")) {
		r = ocb_keyprov_keyfile_new(ctx->cfg->key_file, out);
		if (r == -EACCES || r == -EINVAL || r == -ENOENT)
			return OCB_EXIT_CONFIG;
	} else if (!strcmp(kp, "passphrase")) {
		char pass[1025];
		size_t len = 0;
		const char *fdenv = getenv("OCB_PASSPHRASE_FD");

		if (fdenv) {
			r = read_pass_fd(atoi(fdenv), pass, sizeof(pass), &len);
		} else if (ctx->cfg->passphrase_file) {
			int fd = open(ctx->cfg->passphrase_file,
				      O_RDONLY | O_CLOEXEC);
			struct stat st;

			r = fd < 0 ? -errno : 0;
			if (r == 0 && fstat(fd, &st) == 0 && (st.st_mode & 077)) {
				fprintf(stderr, "ocb: passphrase file %s is "
					"accessible by others: chmod 600 it\n",
					ctx->cfg->passphrase_file);
				r = -EACCES;
			}
			if (r == 0)
				r = read_pass_fd(fd, pass, sizeof(pass), &len);
			if (fd >= 0)
				close(fd);
		} else {
			r = prompt_pass(pass, sizeof(pass), &len);
		}
		if (r == 0)
			r = ocb_keyprov_passphrase_new(pass, len, out);
		OPENSSL_cleanse(pass, sizeof(pass));
		if (r < 0)
			return ocb_fail(r, "passphrase (set OCB_PASSPHRASE_FD, "
					"encryption.passphraseFile, or run on a "
					"terminal)");
	} else {
		fprintf(stderr, "ocb: key provider %s is not available in this "
			"build (use keyfile, passphrase or none)\n", kp);
		return OCB_EXIT_CONFIG;
	}
	return r < 0 ? ocb_fail(r, "key provider %s", kp) : 0;
}

int ocb_skip_paths(const struct ocb_config *cfg, char ***out, size_t *n)
{
	char **v = calloc(64, sizeof(char *)), line[8192];
	size_t k = 0;
	FILE *f;

	if (!v)
		return -ENOMEM;
	if (cfg->cache_dir)
		v[k++] = strdup(cfg->cache_dir);
	f = fopen("/proc/self/mountinfo", "re");
	while (f && k < 63 && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts ... - fstype source */
		char *mp, *dash, *save = NULL;
		int i;

		dash = strstr(line, " - ");
		if (!dash || strncmp(dash + 3, "fuse.ocbfs ", 11) != 0)
			continue;
		mp = strtok_r(line, " ", &save);
		for (i = 0; i < 4 && mp; i++)
			mp = strtok_r(NULL, " ", &save);
		if (mp)
			v[k++] = strdup(mp);
	}
	if (f)
		fclose(f);
	*out = v;
	*n = k;
	return 0;
}

void ocb_skip_paths_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
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
