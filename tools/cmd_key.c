/*
 * cmd_key.c - `ocb key generate`: a new random 32-byte master key file.
 */
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: ocb key generate [PATH]\n"
	"\n"
	"Write a new random 256-bit master key (mode 0600) to PATH (default:\n"
	"the config's encryption.keyFile, ~/.config/ocb/key).  Never overwrites\n"
	"an existing file.  Keep a copy somewhere safe: backups made with a key\n"
	"cannot be read without it.\n";

static int key_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	const char *path;
	int r;

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
	r = ocb_key_file_generate(path);
	if (r == -EEXIST) {
		fprintf(stderr, "ocb: %s exists; not overwriting a key\n", path);
		return OCB_EXIT_FAIL;
	}
	if (r < 0)
		return ocb_fail(r, "%s", path);
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
