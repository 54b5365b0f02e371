/*
 * store_open.h - build the store stack a configuration describes:
 * S3 (or local directory) wrapped by the retry layer.
 */
#ifndef OCB_STORE_OPEN_H
#define OCB_STORE_OPEN_H

#include "config.h"
#include "store.h"

/*
 * The configured store.  Returns 0 or a negative errno (logged).  With the
 * built-in defaults (no config file) the local store directory is created
 * (mode 0700) when missing; a configured directory must exist (-ENOENT).
 * No network I/O: credentials and the bucket are first used by a request.
 */
int ocb_store_open(const struct ocb_config *cfg, struct ocb_store **out);

/* The store at url ("s3://bucket", "file:///dir"), with cfg's endpoint,
 * region, addressing, profile and timeout settings.  -EINVAL (logged) for
 * any other form of URL, e.g. "s3://bucket/path" or "file://relative". */
int ocb_store_open_url(const char *url, const struct ocb_config *cfg,
		       struct ocb_store **out);

/* The same store without the retry layer: for one-off requests that are
 * not in the store interface (bucket creation, versioning). */
int ocb_store_open_bare(const char *url, const struct ocb_config *cfg,
			struct ocb_store **out);

#endif
