/*
 * ocb.c - the `ocb` command: global options, then a subcommand from the
 * table below.
 */
#include "cmd.h"
#include "common.h"
#include "crypto.h"
#include "buf.h"
#include "log.h"

#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

static const struct ocb_cmd *const commands[] = {
	&ocb_cmd_backup,
	&ocb_cmd_list,
	&ocb_cmd_cat,
	&ocb_cmd_restore,
	&ocb_cmd_migrate,
	&ocb_cmd_setup,
	&ocb_cmd_prune,
	&ocb_cmd_pin,
	&ocb_cmd_group,
	&ocb_cmd_verify,
	&ocb_cmd_store,
	&ocb_cmd_key,
	&ocb_cmd_doctor,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void help(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: ocb [--config PATH] [-v] [-q] COMMAND [ARGS...]\n"
		"\n"
		"Backups of an agent's state directory, browsable with ocbfs.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f,
		"\n"
		"Options:\n"
		"  --config PATH  configuration file (default: $OCB_CONFIG,\n"
		"                 ~/.config/ocb/config.json, /etc/ocb/config.json)\n"
		"  -v, --verbose  more messages (twice: debug)\n"
		"  -q, --quiet    errors only\n"
		"  --help         this text; `ocb help COMMAND` for a command\n"
		"  --version      print the version\n"
		"\n"
		"Exit codes: 0 ok, 1 failure, 2 usage, 3 config, 4 access denied or\n"
		"no credentials, 5 not found, 6 network, 7 data damaged, 8 done with\n"
		"warnings, 9 KMS key missing or disabled, 130 interrupted.  See\n"
		"ocb(1).\n");
}

static const struct ocb_cmd *find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ocb_ctx ctx = { 0 };
	const struct ocb_cmd *cmd;
	int c, rc;

	/* no core dumps: memory may hold keys */
	prctl(PR_SET_DUMPABLE, 0);
	/* keys in OpenSSL's locked secure heap (else mlock'ed where they
	 * lie): best effort, as ocb_crypto_key_new() falls back */
	ocb_crypto_secure_heap_init();
	/* large buffers: mappings of their own (buf.h) */
	mallopt(M_MMAP_THRESHOLD, OCB_BUF_HUGE_MIN);
	ocb_log_set_prog("ocb");
	while ((c = getopt_long(argc, argv, "+vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ctx.config_path = optarg; break;
		case 'v': ctx.verbose++; break;
		case 'q': ctx.quiet = 1; break;
		case 'h': help(stdout); return 0;
		case 'V': printf("ocb %s\n", OCB_VERSION); return 0;
		default: help(stderr); return OCB_EXIT_USAGE;
		}
	}
	ocb_log_set_level(ctx.quiet ? OCB_LOG_ERR :
			  ctx.verbose >= 2 ? OCB_LOG_DEBUG :
			  ctx.verbose ? OCB_LOG_INFO : OCB_LOG_WARN);
	if (optind >= argc) {
		help(stderr);
		return OCB_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			help(stdout);
			return 0;
		}
		cmd = find(argv[optind + 1]);
		if (!cmd) {
			fprintf(stderr, "ocb: help: unknown command '%s' (see ocb "
				"--help)\n", argv[optind + 1]);
			return OCB_EXIT_USAGE;
		}
		printf("%s", cmd->usage);
		return 0;
	}
	cmd = find(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "ocb: unknown command '%s' (see ocb --help)\n",
			argv[optind]);
		return OCB_EXIT_USAGE;
	}
	ocb_signals_install();
	argc -= optind;
	argv += optind;
	optind = 0;	/* reset getopt for the subcommand */
	rc = cmd->exec(&ctx, argc, argv);
	ocb_ctx_release(&ctx);
	return rc;
}
