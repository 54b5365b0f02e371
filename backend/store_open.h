/*
 * store_open.h - build the store stack a configuration describes:
 * S3 (or local directory) wrapped by the retry layer.
 */
#ifndef OCB_STORE_OPEN_H
#define OCB_STORE_OPEN_H

#include "config.h"
#include "store.h"

/* The configured store.  Returns 0 or a negative errno (logged). */
int ocb_store_open(const struct ocb_config *cfg, struct ocb_store **out);

/* The store at url ("s3://bucket", "file:///dir"), with cfg's endpoint,
 * region and credentials settings. */
int ocb_store_open_url(const char *url, const struct ocb_config *cfg,
		       struct ocb_store **out);

#endif
