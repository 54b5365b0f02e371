/*
 * openclaw.h - what OpenClaw itself would back up.  When the `openclaw`
 * command is installed, `openclaw backup create --dry-run --json` names
 * its state directory, its config with the files it includes, the
 * workspaces and the agent directories configured outside the state
 * directory ("assets"); ocb backs up the same paths when the config names
 * no sources.
 */
#ifndef OCB_OPENCLAW_H
#define OCB_OPENCLAW_H

#include <stddef.h>

#define OCB_OPENCLAW_TIMEOUT 120	/* seconds for its dry run */
#define OCB_OPENCLAW_OUT_MAX (1u << 20)	/* of its output; more: ignored */

/*
 * The absolute paths of its assets, in its order: 0 and *out (*n
 * malloc'ed strings, free with ocb_openclaw_free()), -ENOENT when no
 * `openclaw` is on PATH, or another negative errno (it failed, timed out,
 * or printed nothing usable; logged).
 */
int ocb_openclaw_sources(char ***out, size_t *n);

void ocb_openclaw_free(char **v, size_t n);

#endif
