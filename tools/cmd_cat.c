/*
 * cmd_cat.c - `ocb cat`: the decrypted tar stream of a backup on stdout,
 * so standard tools work: `ocb cat latest | tar -t`.
 */
#include "cmd.h"
#include "fileio.h"
#include "inventory.h"
#include "keys.h"
#include "ocb_archive.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb cat BACKUP|latest\n"
	"\n"
	"Write the backup's verified, decrypted tar stream (POSIX pax) to\n"
	"stdout.  Every frame is verified before a byte of it is written.\n"
	"An old-tool .tar.gz backup: its tar stream, gzip CRCs checked.\n";

static int out_sink(void *arg, const void *data, size_t len)
{
	(void)arg;
	if (ocb_interrupted)
		return -ECANCELED;
	return ocb_fileio_write_all(STDOUT_FILENO, data, len);
}

static int cat_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct ocb_backup_ref ref;
	struct ocb_keyprov *kp = NULL;
	struct ocb_archive *a = NULL;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("%s", usage);
		return 0;
	}
	if (argc != 2)
		return ocb_usage(&ocb_cmd_cat);
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	r = ocb_inventory_find(ctx->store, ctx->cfg->prefix, argv[1], &ref);
	if (r < 0)
		return ocb_exit_code(r);
	r = ocb_ctx_keyprov(ctx, &kp);
	if (r)
		return r;
	r = ocb_ctx_open_backup(ctx, &ref, kp, OCB_OPEN_STREAM, &a);
	if (r == 0)
		r = ocb_archive_cat(a, out_sink, NULL);
	ocb_archive_free(a);
	ocb_keyprov_free(kp);
	return r < 0 ? ocb_fail(r, "cat %s", ref.name) : 0;
}

const struct ocb_cmd ocb_cmd_cat = {
	.name = "cat",
	.summary = "write a backup's tar stream to stdout",
	.usage = usage,
	.exec = cat_exec,
};
