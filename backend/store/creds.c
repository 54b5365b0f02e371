/*
 * creds.c - the AWS credential chain: environment, shared profile files,
 * EC2 instance role through IMDSv2.
 *
 * Why the IMDS timeouts are short: on a laptop nothing answers at
 * 169.254.169.254 and `ocb` must say "no credentials" quickly, not hang.
 */
#include "creds.h"
#include "buf.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>

#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_BODY_MAX (16 * 1024)
#define INI_MAX (1024 * 1024)
#define REFRESH_BEFORE 300	/* seconds before expiry */
#define REFRESH_RETRY 10	/* seconds between failed refreshes */

struct ocb_creds {
	pthread_mutex_t lock;
	char *profile;
	int is_static;
	int resolved;		/* source chosen */
	struct ocb_creds_value v;
	time_t expires;		/* 0: never (env, profile, static) */
	time_t last_refresh;	/* last attempt to refresh from IMDS */
	int told;		/* "no credentials" already logged */
};

void ocb_creds_value_clear(struct ocb_creds_value *v)
{
	if (v)
		OPENSSL_cleanse(v, sizeof(*v));
}

static int set_value(struct ocb_creds_value *v, const char *ak,
		     const char *sk, const char *tok, const char *source)
{
	if (!ak || !sk || !*ak || !*sk)
		return -ENOKEY;
	if (strlen(ak) >= sizeof(v->access_key) ||
	    strlen(sk) >= sizeof(v->secret_key) ||
	    (tok && strlen(tok) >= sizeof(v->session_token)))
		return -EINVAL;
	snprintf(v->access_key, sizeof(v->access_key), "%s", ak);
	snprintf(v->secret_key, sizeof(v->secret_key), "%s", sk);
	snprintf(v->session_token, sizeof(v->session_token), "%s",
		 tok ? tok : "");
	snprintf(v->source, sizeof(v->source), "%s", source);
	return 0;
}

static const char *env(const char *name)
{
	const char *v = secure_getenv(name);

	return v && *v ? v : NULL;
}

static const char *profile_name(const char *profile)
{
	if (profile && *profile)
		return profile;
	if (env("AWS_PROFILE"))
		return env("AWS_PROFILE");
	return "default";
}

/* ---- INI files ------------------------------------------------------------ */

static char *default_path(const char *envname, const char *leaf)
{
	const char *p = env(envname), *home = env("HOME");
	char *out = NULL;

	if (p)
		return strdup(p);
	if (!home)
		return NULL;
	if (asprintf(&out, "%s/.aws/%s", home, leaf) < 0)
		return NULL;
	return out;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * Look up key in section of an INI file.  Nested sub-sections ("s3 =" with
 * indented lines below) are matched as "s3.endpoint_url".  Returns 0 with
 * *out malloc'ed, -ENOENT when absent.  key NULL: 0 when the section
 * exists (out unused).
 */
static int ini_lookup(const char *path, const char *section, const char *key,
		      char **out)
{
	struct ocb_buf b;
	char *line, *save = NULL, sub[64] = "";
	int in = 0, r = -ENOENT;
	FILE *f;

	if (!path)
		return -ENOENT;
	f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	ocb_buf_init(&b, INI_MAX);
	for (;;) {
		char chunk[4096];
		size_t n = fread(chunk, 1, sizeof(chunk), f);

		if (n == 0)
			break;
		if (ocb_buf_append(&b, chunk, n) < 0) {
			fclose(f);
			ocb_buf_release_secret(&b);
			return -EFBIG;
		}
	}
	fclose(f);
	if (!b.data)
		return -ENOENT;
	for (line = strtok_r(b.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int indented = isspace((unsigned char)line[0]);
		char *t = trim(line), *eq;

		if (!*t || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			char *end = strchr(t, ']');

			if (!end)
				continue;
			*end = '\0';
			in = strcmp(trim(t + 1), section) == 0;
			sub[0] = '\0';
			if (in && !key) {	/* only asked whether it exists */
				r = 0;
				break;
			}
			continue;
		}
		if (!in || !(eq = strchr(t, '=')))
			continue;
		*eq = '\0';
		{
			char *k = trim(t), *v = trim(eq + 1), full[160];

			if (!indented)
				sub[0] = '\0';
			if (!indented && !*v) {	/* "s3 =" opens a sub-section */
				snprintf(sub, sizeof(sub), "%s", k);
				continue;
			}
			snprintf(full, sizeof(full), "%s%s%s", indented && *sub ?
				 sub : "", indented && *sub ? "." : "", k);
			if (strcmp(full, key) == 0) {
				*out = strdup(v);
				r = *out ? 0 : -ENOMEM;
				break;
			}
		}
	}
	ocb_buf_release_secret(&b);
	return r;
}

/* the config file names sections "[profile NAME]", except "[default]" */
static void config_section(const char *name, char *out, size_t size)
{
	if (strcmp(name, "default") == 0)
		snprintf(out, size, "default");
	else
		snprintf(out, size, "profile %s", name);
}

int ocb_aws_config_value(const char *profile, const char *key, char **out)
{
	const char *name = profile_name(profile);
	char *path = default_path("AWS_CONFIG_FILE", "config");
	char section[300];
	int r;

	config_section(name, section, sizeof(section));
	r = ini_lookup(path, section, key, out);
	if (r == -ENOENT && strcmp(key, "endpoint_url") == 0)
		/* service-specific: "s3 =" then "  endpoint_url = ..." */
		r = ini_lookup(path, section, "s3.endpoint_url", out);
	free(path);
	return r;
}

/* Does the profile exist in either file? */
static int profile_exists(const char *name)
{
	char *cpath = default_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *fpath = default_path("AWS_CONFIG_FILE", "config");
	char section[300];
	int found;

	config_section(name, section, sizeof(section));
	found = ini_lookup(cpath, name, NULL, NULL) == 0 ||
		ini_lookup(fpath, section, NULL, NULL) == 0;
	free(cpath);
	free(fpath);
	return found;
}

/* Keys of the profile: 0, -ENOKEY (profile without keys), -ENOENT (no
 * such profile), -EINVAL. */
static int from_profile(const char *profile, struct ocb_creds_value *v)
{
	const char *name = profile_name(profile);
	char *path = default_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *ak = NULL, *sk = NULL, *tok = NULL, source[40];
	int r;

	ini_lookup(path, name, "aws_access_key_id", &ak);
	ini_lookup(path, name, "aws_secret_access_key", &sk);
	ini_lookup(path, name, "aws_session_token", &tok);
	if (!ak || !sk) {
		/* keys may also live in the config file */
		free(ak);
		if (sk)
			OPENSSL_cleanse(sk, strlen(sk));
		free(sk);
		if (tok)
			OPENSSL_cleanse(tok, strlen(tok));
		free(tok);
		ak = sk = tok = NULL;
		ocb_aws_config_value(profile, "aws_access_key_id", &ak);
		ocb_aws_config_value(profile, "aws_secret_access_key", &sk);
		ocb_aws_config_value(profile, "aws_session_token", &tok);
	}
	snprintf(source, sizeof(source), "profile:%.30s", name);
	r = set_value(v, ak, sk, tok, source);
	if (r == -ENOKEY && !profile_exists(name))
		r = -ENOENT;
	if (sk)
		OPENSSL_cleanse(sk, strlen(sk));
	if (tok)
		OPENSSL_cleanse(tok, strlen(tok));
	free(ak);
	free(sk);
	free(tok);
	free(path);
	return r;
}

/* ---- IMDSv2 ------------------------------------------------------------------ */

static size_t imds_write(char *p, size_t size, size_t n, void *arg)
{
	return ocb_buf_append(arg, p, size * n) < 0 ? 0 : size * n;
}

/* one IMDS request: method PUT (token) or GET; body into out */
static int imds_request(const char *url, const char *token, int put,
			struct ocb_buf *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char hdr[1200];
	long status = 0;
	CURLcode cc;

	if (!c)
		return -ENOMEM;
	if (put) {
		h = curl_slist_append(h, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	} else if (token) {
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", token);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, imds_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT)
		return -ETIMEDOUT;
	if (cc != CURLE_OK)
		return -EIO;
	if (status == 404)
		return -ENOENT;
	if (status != 200)
		return -EACCES;
	return 0;
}

/* IAM role names: [A-Za-z0-9+=,.@_-]{1,64}; anything else is not put
 * into a URL */
static int role_name_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789+=,.@_-");

	return n > 0 && n <= 64 && s[n] == '\0';
}

/* the IMDS base URL without trailing '/': its length, -ENOKEY when IMDS is
 * disabled, -EINVAL for an unusable endpoint */
static int imds_base(const char **base)
{
	size_t len;

	if (env("AWS_EC2_METADATA_DISABLED") &&
	    strcasecmp(env("AWS_EC2_METADATA_DISABLED"), "true") == 0)
		return -ENOKEY;
	*base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!*base)
		*base = IMDS_DEFAULT;
	len = strlen(*base);
	while (len && (*base)[len - 1] == '/')
		len--;
	return len > 256 ? -EINVAL : (int)len;
}

int ocb_imds_get(const char *path, char *out, size_t size)
{
	struct ocb_buf tok, body;
	const char *base;
	char url[512];
	int baselen = imds_base(&base), r;

	if (baselen < 0)
		return baselen;
	ocb_buf_init(&tok, IMDS_BODY_MAX);
	ocb_buf_init(&body, IMDS_BODY_MAX);
	snprintf(url, sizeof(url), "%.*s/latest/api/token", baselen, base);
	r = imds_request(url, NULL, 1, &tok);
	if (r == 0 && (!tok.data || strlen(path) > 200))
		r = -EPROTO;
	if (r == 0) {
		snprintf(url, sizeof(url), "%.*s/latest/%s", baselen, base, path);
		r = imds_request(url, tok.data, 0, &body);
	}
	if (r == 0 && (!body.data || body.len >= size))
		r = -EPROTO;
	if (r == 0)
		snprintf(out, size, "%.*s", (int)body.len, body.data);
	ocb_buf_release_secret(&tok);
	ocb_buf_release(&body);
	return r;
}

static int from_imds(struct ocb_creds_value *v, time_t *expires)
{
	const char *base;
	struct ocb_buf tok, role, body;
	char url[512];
	cJSON *j = NULL, *ak, *sk, *st, *exp;
	int baselen = imds_base(&base), r;

	if (baselen < 0)
		return baselen;
	ocb_buf_init(&tok, IMDS_BODY_MAX);
	ocb_buf_init(&role, IMDS_BODY_MAX);
	ocb_buf_init(&body, IMDS_BODY_MAX);
	snprintf(url, sizeof(url), "%.*s/latest/api/token", baselen, base);
	r = imds_request(url, NULL, 1, &tok);
	if (r < 0)
		goto out;
	snprintf(url, sizeof(url),
		 "%.*s/latest/meta-data/iam/security-credentials/",
		 baselen, base);
	r = imds_request(url, tok.data, 0, &role);
	if (r < 0 || !role.data || !*role.data) {
		r = r < 0 ? r : -ENOKEY;
		goto out;
	}
	*strchrnul(role.data, '\n') = '\0';
	if (!role_name_ok(role.data)) {
		r = -EPROTO;
		goto out;
	}
	snprintf(url, sizeof(url),
		 "%.*s/latest/meta-data/iam/security-credentials/%s",
		 baselen, base, role.data);
	r = imds_request(url, tok.data, 0, &body);
	if (r < 0)
		goto out;
	j = cJSON_ParseWithLength(body.data, body.len);
	ak = cJSON_GetObjectItemCaseSensitive(j, "AccessKeyId");
	sk = cJSON_GetObjectItemCaseSensitive(j, "SecretAccessKey");
	st = cJSON_GetObjectItemCaseSensitive(j, "Token");
	exp = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
	if (!cJSON_IsString(ak) || !cJSON_IsString(sk)) {
		r = -EPROTO;
		goto out;
	}
	r = set_value(v, ak->valuestring, sk->valuestring,
		      cJSON_IsString(st) ? st->valuestring : NULL, "imds");
	if (r == 0) {
		struct tm tm = { 0 };

		*expires = time(NULL) + 3600;
		if (cJSON_IsString(exp) &&
		    strptime(exp->valuestring, "%Y-%m-%dT%H:%M:%S", &tm))
			*expires = timegm(&tm);
	}
	if (sk && cJSON_IsString(sk))
		OPENSSL_cleanse(sk->valuestring, strlen(sk->valuestring));
	if (st && cJSON_IsString(st))
		OPENSSL_cleanse(st->valuestring, strlen(st->valuestring));
out:
	cJSON_Delete(j);
	ocb_buf_release_secret(&tok);
	ocb_buf_release(&role);
	ocb_buf_release_secret(&body);
	return r;
}

/* ---- the provider -------------------------------------------------------------- */

int ocb_creds_new(const char *profile, struct ocb_creds **out)
{
	struct ocb_creds *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (profile && !(c->profile = strdup(profile))) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

int ocb_creds_new_static(const char *access_key, const char *secret_key,
			 const char *session_token, struct ocb_creds **out)
{
	struct ocb_creds *c;
	int r = ocb_creds_new(NULL, &c);

	if (r < 0)
		return r;
	r = set_value(&c->v, access_key, secret_key, session_token, "static");
	if (r < 0) {
		ocb_creds_free(c);
		return r;
	}
	c->is_static = 1;
	c->resolved = 1;
	*out = c;
	return 0;
}

static int resolve(struct ocb_creds *c)
{
	struct ocb_creds_value v = { 0 };
	time_t expires = 0;
	int r;

	/* as AWS's tools: the environment counts only with both keys */
	r = set_value(&v, env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
		      env("AWS_SESSION_TOKEN"), "env");
	if (r == -ENOKEY && (env("AWS_ACCESS_KEY_ID") ||
			     env("AWS_SECRET_ACCESS_KEY")))
		ocb_warn("only one of AWS_ACCESS_KEY_ID and "
			 "AWS_SECRET_ACCESS_KEY is set: ignored");
	if (r == -ENOKEY)
		r = from_profile(c->profile, &v);
	if (r == -ENOENT && strcmp(profile_name(c->profile), "default") != 0) {
		/* a profile asked for by name must exist (as for aws) */
		ocb_log(c->told ? OCB_LOG_DEBUG : OCB_LOG_ERR,
			"AWS profile %.64s not found in ~/.aws/credentials or "
			"~/.aws/config", profile_name(c->profile));
		c->told = 1;
		return -ENOKEY;
	}
	if (r == -ENOENT)
		r = -ENOKEY;
	if (r == -ENOKEY) {
		r = from_imds(&v, &expires);
		if (r < 0 && r != -ENOKEY) {
			/* not on EC2, or no role: nothing more to try */
			ocb_debug("instance metadata: %s", strerror(-r));
			r = -ENOKEY;
		}
	}
	if (r < 0) {
		ocb_creds_value_clear(&v);
		if (r == -ENOKEY) {
			/* said once; later calls look again, quietly */
			ocb_log(c->told ? OCB_LOG_DEBUG : OCB_LOG_ERR,
				"no AWS credentials: looked in the environment "
				"(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), in "
				"~/.aws/credentials and ~/.aws/config (profile "
				"%.64s), and at the EC2 instance metadata service",
				profile_name(c->profile));
			c->told = 1;
			return -ENOKEY;
		}
		return r;
	}
	ocb_creds_value_clear(&c->v);
	c->v = v;
	ocb_creds_value_clear(&v);
	c->expires = expires;
	c->last_refresh = time(NULL);
	c->resolved = 1;
	ocb_debug("AWS credentials from %s", c->v.source);
	return 0;
}

/*
 * Instance-role credentials again, before they expire.  A failed refresh
 * keeps the current credentials while they are valid (warned, tried again
 * at most every REFRESH_RETRY seconds); once they have expired the IMDS
 * error is returned.
 */
static int refresh(struct ocb_creds *c, time_t now)
{
	struct ocb_creds_value v = { 0 };
	time_t expires = 0;
	int r;

	if (now < c->expires && now - c->last_refresh < REFRESH_RETRY)
		return 0;
	c->last_refresh = now;
	r = from_imds(&v, &expires);
	if (r == 0) {
		ocb_creds_value_clear(&c->v);
		c->v = v;
		c->expires = expires;
		ocb_debug("AWS credentials refreshed from %s", c->v.source);
	} else if (now < c->expires) {
		ocb_warn("instance role credentials: refresh failed (%s); the "
			 "current ones expire in %lld s", strerror(-r),
			 (long long)(c->expires - now));
		r = 0;
	} else {
		ocb_err("instance role credentials expired and could not be "
			"refreshed: %s", strerror(-r));
	}
	ocb_creds_value_clear(&v);
	return r;
}

int ocb_creds_get(struct ocb_creds *c, struct ocb_creds_value *out)
{
	time_t now = time(NULL);
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->resolved)
		r = resolve(c);
	else if (c->expires && now > c->expires - REFRESH_BEFORE)
		r = refresh(c, now);
	if (r == 0)
		*out = c->v;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void ocb_creds_free(struct ocb_creds *c)
{
	if (!c)
		return;
	ocb_creds_value_clear(&c->v);
	pthread_mutex_destroy(&c->lock);
	free(c->profile);
	free(c);
}
