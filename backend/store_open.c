/*
 * store_open.c - configuration → store stack.
 */
#include "store_open.h"
#include "creds.h"
#include "file_store.h"
#include "log.h"
#include "retry_store.h"
#include "s3_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ocb_store_open_url(const char *url, const struct ocb_config *cfg,
		       struct ocb_store **out)
{
	struct ocb_store *s = NULL;
	char esc[256];
	int r;

	if (strncmp(url, "file://", 7) == 0) {
		r = ocb_file_store_new(url + 7, &s);
	} else if (strncmp(url, "s3://", 5) == 0) {
		char *bucket = strndup(url + 5, strcspn(url + 5, "/"));
		struct ocb_s3_opts o = {
			.bucket = bucket,
			.region = cfg->region,
			.endpoint = cfg->endpoint,
			.addressing = cfg->addressing,
			.insecure_tls = cfg->insecure_tls,
			.stall_timeout_ms = cfg->timeout_ms,
		};
		struct ocb_creds *c = NULL;
		r = bucket ? ocb_creds_new(cfg->profile, &c) : -ENOMEM;
		if (r == 0)
			r = ocb_s3_store_new(&o, c, &s);
		free(bucket);
	} else {
		ocb_err("unknown store %s (expected s3://BUCKET or file:///DIR)",
			ocb_log_escape(esc, sizeof(esc), url));
		return -EINVAL;
	}
	if (r < 0)
		return r;
	{
		struct ocb_retry_opts ro = { .deadline_ms = cfg->deadline_ms };

		r = ocb_retry_store_new(s, &ro, &s);
	}
	if (r < 0)
		return r;
	*out = s;
	return 0;
}

int ocb_store_open(const struct ocb_config *cfg, struct ocb_store **out)
{
	return ocb_store_open_url(cfg->store_url, cfg, out);
}
