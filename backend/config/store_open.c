/*
 * store_open.c - configuration → store stack.
 *
 * The stack is the S3 store (or the local-directory store) wrapped by the
 * retry layer.  The cache layer is the mount's business and added there.
 */
#include "store_open.h"
#include "fileio.h"
#include "creds.h"
#include "file_store.h"
#include "log.h"
#include "retry_store.h"
#include "s3_store.h"
#include "s3_url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int open_s3(const char *url, const struct ocb_config *cfg,
		   struct ocb_store **out)
{
	const char *b = url + 5;
	size_t n = strcspn(b, "/");
	struct ocb_creds *c = NULL;
	char *bucket, esc[256];
	int r;

	if (n == 0 || (b[n] == '/' && b[n + 1] != '\0')) {
		ocb_err("store %s: expected s3://BUCKET (the key prefix is "
			"s3.prefix)", ocb_log_escape(esc, sizeof(esc), url));
		return -EINVAL;
	}
	bucket = strndup(b, n);
	if (!bucket)
		return -ENOMEM;
	if (cfg->endpoint && s3_url_http_off_host(cfg->endpoint))
		ocb_warn("WARNING: S3 endpoint %s is plain http to another "
			 "machine: requests, credentials' signatures and "
			 "metadata travel in clear (backups stay encrypted); "
			 "use https", ocb_log_escape(esc, sizeof(esc),
						     cfg->endpoint));
	r = ocb_creds_new(cfg->profile, &c);
	if (r == 0) {
		struct ocb_s3_opts o = {
			.bucket = bucket,
			.region = cfg->region,
			.endpoint = cfg->endpoint,
			.addressing = cfg->addressing,
			.insecure_tls = cfg->insecure_tls,
			.stall_timeout_ms = cfg->timeout_ms,
		};

		r = ocb_s3_store_new(&o, c, out);	/* owns c from now on */
	}
	free(bucket);
	return r;
}

int ocb_store_open_url(const char *url, const struct ocb_config *cfg,
		       struct ocb_store **out)
{
	struct ocb_retry_opts ro = { .deadline_ms = cfg->deadline_ms,
				     .refused_ms = cfg->refused_ms };
	struct ocb_store *s = NULL;
	int r = ocb_store_open_bare(url, cfg, &s);

	if (r < 0)
		return r;
	r = ocb_retry_store_new(s, &ro, &s);	/* owns s, also on failure */
	if (r < 0)
		return r;
	*out = s;
	return 0;
}

int ocb_store_open_bare(const char *url, const struct ocb_config *cfg,
			struct ocb_store **out)
{
	struct ocb_store *s = NULL;
	char esc[256];
	int r;

	if (strncmp(url, "file://", 7) == 0) {
		if (url[7] != '/') {
			ocb_err("store %s: expected file:///ABSOLUTE/DIR",
				ocb_log_escape(esc, sizeof(esc), url));
			return -EINVAL;
		}
		r = ocb_file_store_new(url + 7, &s);
	} else if (strncmp(url, "s3://", 5) == 0) {
		r = open_s3(url, cfg, &s);
	} else {
		ocb_err("unknown store %s (expected s3://BUCKET or file:///DIR)",
			ocb_log_escape(esc, sizeof(esc), url));
		return -EINVAL;
	}
	if (r < 0)
		return r;
	*out = s;
	return 0;
}

int ocb_store_open(const struct ocb_config *cfg, struct ocb_store **out)
{
	/* the built-in default store is created on first use; a configured
	 * directory is not (an unmounted disk must not become a new store) */
	if (!cfg->path && strncmp(cfg->store_url, "file:///", 8) == 0) {
		int r = ocb_fileio_mkdirs(cfg->store_url + 7);

		if (r < 0) {
			ocb_err("store directory %s: %s", cfg->store_url + 7,
				strerror(-r));
			return r;
		}
	}
	return ocb_store_open_url(cfg->store_url, cfg, out);
}
