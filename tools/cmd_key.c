/*
 * cmd_key.c - `ocb key generate`: a new random 32-byte master key file.
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

static const char usage[] =
	"usage: ocb key generate [PATH]\n"
	"\n"
	"Write a new random 256-bit master key (mode 0600) to PATH (default:\n"
	"the config's encryption.keyFile, ~/.config/ocb/key).  Never overwrites\n"
	"an existing file.  Keep a copy somewhere safe: backups made with a key\n"
	"cannot be read without it.\n";

static int mkdir_parents(const char *path)
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

static int key_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	unsigned char key[32];
	const char *path;
	int fd, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s", usage);
			return 0;
		}
	}
	/* a PATH starting with '-' is a mistyped option, not a file name */
	if (argc < 2 || argc > 3 || strcmp(argv[1], "generate") ||
	    (argc == 3 && argv[2][0] == '-'))
		return ocb_usage(&ocb_cmd_key);
	if (argc == 3) {
		path = argv[2];
	} else {
		r = ocb_ctx_config(ctx);
		if (r)
			return r;
		path = ctx->cfg->key_file;
	}
	r = mkdir_parents(path);
	if (r < 0)
		return ocb_fail(r, "%s", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			fprintf(stderr, "ocb: %s exists; not overwriting a key\n",
				path);
			return OCB_EXIT_FAIL;
		}
		return ocb_fail(-errno, "%s", path);
	}
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
	if (r < 0) {
		unlink(path);
		return ocb_fail(r, "%s", path);
	}
	if (!ctx->quiet)
		printf("%s\n", path);
	return 0;
}

const struct ocb_cmd ocb_cmd_key = {
	.name = "key",
	.summary = "generate a master key file",
	.usage = usage,
	.exec = key_exec,
};
