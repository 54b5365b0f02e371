/*
 * creds.h - AWS credentials, found the way AWS's own tools find them:
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
 * then the profile (AWS_PROFILE or "default") in ~/.aws/credentials and
 * ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), then the
 * EC2 instance role through IMDSv2 (refreshed before expiry).
 *
 * Secrets live only in memory owned by this module or in an
 * ocb_creds_value the caller clears; they are never logged.
 */
#ifndef OCB_CREDS_H
#define OCB_CREDS_H

#include <stddef.h>
#include <stdint.h>

struct ocb_creds;

struct ocb_creds_value {
	char access_key[256];
	char secret_key[256];
	char session_token[4096];	/* "" when none */
	char source[32];		/* "env", "profile:NAME", "imds" */
};

/*
 * A credential provider.  profile NULL: $AWS_PROFILE or "default".
 * Does no network I/O; the chain is resolved on the first ocb_creds_get().
 */
int ocb_creds_new(const char *profile, struct ocb_creds **out);

/* Fixed credentials (tests, tools given keys explicitly). */
int ocb_creds_new_static(const char *access_key, const char *secret_key,
			 const char *session_token, struct ocb_creds **out);

/*
 * Current credentials into *out (refreshing instance-role credentials when
 * they expire within 5 minutes).  Thread-safe.  Returns 0, or -ENOKEY when
 * no source has credentials (a message naming the places looked is
 * logged), or -EACCES/-ETIMEDOUT from IMDS.  Clear *out with
 * ocb_creds_value_clear() after use.
 */
int ocb_creds_get(struct ocb_creds *c, struct ocb_creds_value *out);

void ocb_creds_value_clear(struct ocb_creds_value *v);
void ocb_creds_free(struct ocb_creds *c);

/*
 * A value from the AWS shared config for profile (NULL: $AWS_PROFILE or
 * "default"): ~/.aws/config section "[profile NAME]" ("[default]"), e.g.
 * "region" or "endpoint_url" (also the "s3 =" sub-section's endpoint_url).
 * *out is malloc'ed.  Returns 0 or -ENOENT.
 */
int ocb_aws_config_value(const char *profile, const char *key, char **out);

/*
 * One value of the EC2 instance metadata through IMDSv2 (a token, then the
 * GET of "latest/<path>", e.g. "meta-data/instance-id") into out.  Short
 * timeouts: off EC2 it fails within about a second.  0, -ENOKEY when
 * AWS_EC2_METADATA_DISABLED is true, -ETIMEDOUT, -ENOENT, -EPROTO.
 */
int ocb_imds_get(const char *path, char *out, size_t size);

#endif
