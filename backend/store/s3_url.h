/*
 * s3_url.h - percent-encoding for S3 request paths and query strings.
 *
 * SigV4 in libcurl 7.88 signs the path and query exactly as written, so
 * both must already be in canonical form: unreserved characters
 * (A-Z a-z 0-9 - . _ ~) as they are, everything else %XX with upper-case
 * hex; '/' kept in paths (object keys), encoded in query values.
 */
#ifndef OCB_S3_URL_H
#define OCB_S3_URL_H

#include <stddef.h>

struct ocb_buf;

/* Append s percent-encoded; keep_slash keeps '/' (paths).  0 or -EFBIG/-ENOMEM. */
int s3_url_encode(struct ocb_buf *out, const char *s, int keep_slash);

/* A canonical query string: name/value pairs sorted by name, encoded,
 * joined with '&', "name=" for an empty or NULL value. */
struct s3_url_param {
	const char *name;
	const char *value;	/* NULL: "name=" */
};
/* Sorts params in place; appends the query (without '?') to out. */
int s3_url_query(struct ocb_buf *out, struct s3_url_param *params, size_t n);

/* Is url plain http to another machine (not 127.x, localhost, [::1])?
 * Requests and replies to it travel in clear: refused for KMS (a reply
 * carries a data key), warned about for S3. */
int s3_url_http_off_host(const char *url);

/* Decode %XX escapes in place (for encoding-type=url listings): 0 or -EINVAL. */
int s3_url_decode(char *s);

/* Is host (no port) an IPv4/IPv6 literal or "localhost"? */
int s3_url_host_is_ip(const char *host);

#endif
