/*
 * cmd.h - the subcommand interface of `ocb`.
 *
 * Each subcommand is one file, tools/cmd_<name>.c, exporting one
 * `const struct ocb_cmd ocb_cmd_<name>`, listed in the table in ocb.c.
 * exec() gets argv with argv[0] = the subcommand's name, parses its own
 * options (getopt_long; --help prints usage and returns 0) and returns an
 * exit code from enum ocb_exit (common.h).
 */
#ifndef OCB_CMD_H
#define OCB_CMD_H

#include "common.h"

struct ocb_cmd {
	const char *name;
	const char *summary;	/* one line for `ocb --help` */
	const char *usage;	/* full help text, starting with "usage:" */
	int (*exec)(struct ocb_ctx *ctx, int argc, char **argv);
};

extern const struct ocb_cmd ocb_cmd_store;
extern const struct ocb_cmd ocb_cmd_doctor;
extern const struct ocb_cmd ocb_cmd_key;
extern const struct ocb_cmd ocb_cmd_backup;
extern const struct ocb_cmd ocb_cmd_list;
extern const struct ocb_cmd ocb_cmd_cat;
extern const struct ocb_cmd ocb_cmd_verify;
extern const struct ocb_cmd ocb_cmd_restore;
extern const struct ocb_cmd ocb_cmd_setup;
extern const struct ocb_cmd ocb_cmd_prune;
extern const struct ocb_cmd ocb_cmd_pin;
extern const struct ocb_cmd ocb_cmd_group;
extern const struct ocb_cmd ocb_cmd_migrate;

#endif
