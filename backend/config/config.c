/*
 * config.c - read the JSON configuration with cJSON, validate every field
 * against one table, fill defaults, resolve endpoint and region the way
 * AWS's own tools do.
 */
#include "config.h"
#include "fileio.h"
#include "buf.h"
#include "creds.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX (1024 * 1024)
#define CACHE_DEFAULT "~/.cache/ocbfs"

enum ftype { T_STR, T_BOOL, T_INT, T_SIZE, T_STRARRAY, T_OBJ, T_STRMAP, T_ANY };

/* every field a config file may hold: "a.b" names a field of object a */
static const struct field {
	const char *name;
	enum ftype type;
} fields[] = {
	/* the old openclaw-aws-backup tool's fields */
	{ "instanceId", T_STR },
	{ "region", T_STR },
	{ "backupFrequency", T_STR },
	{ "customCron", T_STR },
	{ "version", T_ANY },
	{ "createdAt", T_ANY },
	{ "updatedAt", T_ANY },
	{ "s3", T_OBJ },
	{ "s3.bucket", T_STR },
	{ "s3.prefix", T_STR },
	{ "s3.region", T_STR },
	{ "encryption", T_OBJ },
	{ "encryption.enabled", T_BOOL },
	{ "encryption.method", T_STR },
	{ "encryption.kmsKeyAlias", T_STR },
	{ "encryption.gpgRecipient", T_STR },
	/* setup's swap and systemd limits for the agent's own service: kept,
	 * not acted on (docs/ocb-config.5.md) */
	{ "memoryProtection", T_OBJ },
	{ "memoryProtection.enabled", T_BOOL },
	{ "memoryProtection.swap", T_STR },
	{ "memoryProtection.memoryMax", T_STR },
	{ "memoryProtection.memoryHigh", T_STR },
	{ "retention", T_OBJ },
	{ "retention.keep", T_INT },
	{ "retention.autoClean", T_BOOL },
	/* ocbfs */
	{ "store", T_STR },
	{ "s3.endpoint", T_STR },
	{ "s3.addressing", T_STR },
	{ "s3.profile", T_STR },
	{ "s3.insecureTls", T_BOOL },
	{ "s3.sse", T_STR },
	{ "s3.sseKmsKeyId", T_STR },
	{ "s3.timeout", T_INT },
	{ "s3.retryDeadline", T_INT },
	{ "s3.refusedDeadline", T_INT },
	{ "encryption.keyProvider", T_STR },
	{ "encryption.keyFile", T_STR },
	{ "encryption.passphraseFile", T_STR },
	{ "encryption.kmsKeyId", T_STR },
	{ "encryption.kmsEndpoint", T_STR },
	{ "sources", T_STRARRAY },
	{ "excludes", T_STRARRAY },
	{ "cache", T_OBJ },
	{ "cache.dir", T_STR },
	{ "cache.size", T_SIZE },
	{ "cache.ram", T_SIZE },
	{ "mount", T_OBJ },
	{ "mount.refresh", T_INT },
	{ "retention.keepDaily", T_INT },
	{ "retention.keepWeekly", T_INT },
	{ "retention.keepMonthly", T_INT },
	{ "retention.keepYearly", T_INT },
	{ "retention.keepWithin", T_STR },
	{ "retention.staleUploadHours", T_INT },
	{ "retention.repackLivePercent", T_INT },
	{ "retention.repackMinDeadMB", T_INT },
	{ "backup", T_OBJ },
	{ "backup.fullEvery", T_INT },
	{ "backup.fullAfterDays", T_INT },
	{ "hooks", T_STRMAP },
	{ "roles", T_ANY },
	{ "group", T_OBJ },
	{ "group.members", T_STRARRAY },
	{ "group.timeout", T_INT },
	{ "group.project", T_STR },
	{ "group.answerRequests", T_BOOL },
	{ "group.priorities", T_STRMAP },
	{ "role", T_STR },
	{ "stateSnapshot", T_STR },
};

/* ocb-config(5) gives each one's reason; the last two are what
 * `openclaw backup create` leaves out of its state directory as
 * regenerable (a top-level source's "<top>/tmp", not any "tmp") */
static const char *const default_excludes[] = {
	"node_modules", ".cache", "*.tmp", "*.swp", ".DS_Store",
	"*/plugin-skills", "*/tmp",
};

static const struct field *field_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static const char *type_name(enum ftype t)
{
	switch (t) {
	case T_STR: return "a string";
	case T_BOOL: return "true or false";
	case T_INT: return "a whole number";
	case T_SIZE: return "a size (number of bytes, or a string like \"2G\")";
	case T_STRARRAY: return "an array of strings";
	case T_OBJ: return "an object";
	case T_STRMAP: return "an object of strings";
	default: return "a value";
	}
}

static int type_ok(const cJSON *v, enum ftype t)
{
	const cJSON *it;

	switch (t) {
	case T_STR: return cJSON_IsString(v);
	case T_BOOL: return cJSON_IsBool(v);
	case T_INT:
		return cJSON_IsNumber(v) && v->valuedouble >= 0 &&
		       v->valuedouble < 1e9 &&
		       v->valuedouble == (double)(long)v->valuedouble;
	case T_SIZE: return (cJSON_IsNumber(v) && v->valuedouble >= 0) ||
			cJSON_IsString(v);
	case T_STRARRAY:
		if (!cJSON_IsArray(v))
			return 0;
		cJSON_ArrayForEach(it, v)
			if (!cJSON_IsString(it))
				return 0;
		return 1;
	case T_OBJ: return cJSON_IsObject(v);
	case T_STRMAP:
		if (!cJSON_IsObject(v))
			return 0;
		cJSON_ArrayForEach(it, v)
			if (!cJSON_IsString(it))
				return 0;
		return 1;
	default: return 1;
	}
}

/* check every member of obj (named prefix) against the table */
static int validate(const cJSON *obj, const char *prefix, const char *file)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, obj) {
		char name[256], esc[256];
		const struct field *f;

		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
			 it->string);
		f = field_find(name);
		if (!f) {
			ocb_err("config %s: unknown field %s", file,
				ocb_log_escape(esc, sizeof(esc), name));
			return -EINVAL;
		}
		if (cJSON_IsNull(it))
			continue;	/* null: not set (the old tool writes it) */
		if (!type_ok(it, f->type)) {
			ocb_err("config %s: field %s: expected %s", file, name,
				type_name(f->type));
			return -EINVAL;
		}
		if (f->type == T_OBJ && !*prefix) {
			int r = validate(it, name, file);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

static const cJSON *get(const cJSON *root, const char *obj, const char *name)
{
	if (obj)
		root = cJSON_GetObjectItemCaseSensitive(root, obj);
	return root ? cJSON_GetObjectItemCaseSensitive(root, name) : NULL;
}

static const char *get_str(const cJSON *root, const char *obj, const char *name)
{
	const cJSON *v = get(root, obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int get_bool(const cJSON *root, const char *obj, const char *name,
		    int def)
{
	const cJSON *v = get(root, obj, name);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static char *home_dir(void)
{
	const char *h = secure_getenv("HOME");

	return strdup(h && *h ? h : "/root");
}

/* "~/x" → "$HOME/x"; others copied */
static char *expand(const char *p)
{
	char *h, *out = NULL;

	if (!p)
		return NULL;
	if (p[0] != '~' || (p[1] != '/' && p[1] != '\0'))
		return strdup(p);
	h = home_dir();
	if (h && asprintf(&out, "%s%s", h, p + 1) < 0)
		out = NULL;
	free(h);
	return out;
}

char *ocb_config_expand_home(const char *p)
{
	return expand(p);
}

int ocb_config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mul = 1;

	if (!s || !*s)
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || v < 0)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = 1ull << 10; break;
	case 'M': mul = 1ull << 20; break;
	case 'G': mul = 1ull << 30; break;
	case 'T': mul = 1ull << 40; break;
	default: return -EINVAL;
	}
	if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
	    !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' && !end[3]))
		return -EINVAL;
	if (v * (double)mul > 1.8e19)
		return -EINVAL;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

int ocb_config_parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t unit;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v <= 0 || v > 100000)
		return -EINVAL;
	switch (*end) {
	case 'h': unit = 3600; break;
	case '\0':
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	case 'm': unit = 30 * 86400; break;
	case 'y': unit = 365 * 86400; break;
	default: return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	*out = (int64_t)v * unit;
	return 0;
}

static int get_size(const cJSON *root, const char *obj, const char *name,
		    uint64_t def, uint64_t *out, const char *file)
{
	const cJSON *v = get(root, obj, name);

	*out = def;
	if (!v)
		return 0;
	if (cJSON_IsNumber(v)) {
		*out = (uint64_t)v->valuedouble;
		return 0;
	}
	if (ocb_config_parse_size(v->valuestring, out) < 0) {
		ocb_err("config %s: field %s.%s: not a size: %.64s", file, obj,
			name, v->valuestring);
		return -EINVAL;
	}
	return 0;
}

static int str_array(const cJSON *v, char ***out, size_t *n, int expand_home)
{
	const cJSON *it;
	size_t i = 0;

	*n = (size_t)cJSON_GetArraySize(v);
	*out = calloc(*n + 1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	cJSON_ArrayForEach(it, v) {
		(*out)[i] = expand_home ? expand(it->valuestring) :
			strdup(it->valuestring);
		if (!(*out)[i])
			return -ENOMEM;
		i++;
	}
	return 0;
}

static char *dup_or(const char *v, const char *def)
{
	return v ? strdup(v) : def ? strdup(def) : NULL;
}

/* endpoint: config, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, profile */
static char *resolve_endpoint(const char *cfg, const char *profile,
			      unsigned *from_env)
{
	const char *e;
	char *v = NULL;

	if (cfg && *cfg)
		return strdup(cfg);
	*from_env |= OCB_CONFIG_FROM_ENV_ENDPOINT;
	e = secure_getenv("AWS_ENDPOINT_URL_S3");
	if (e && *e)
		return strdup(e);
	e = secure_getenv("AWS_ENDPOINT_URL");
	if (e && *e)
		return strdup(e);
	if (ocb_aws_config_value(profile, "endpoint_url", &v) == 0)
		return v;
	return NULL;
}

static char *resolve_region(const char *cfg, const char *profile,
			    unsigned *from_env)
{
	const char *e;
	char *v = NULL;

	if (cfg && *cfg)
		return strdup(cfg);
	*from_env |= OCB_CONFIG_FROM_ENV_REGION;
	e = secure_getenv("AWS_REGION");
	if (e && *e)
		return strdup(e);
	e = secure_getenv("AWS_DEFAULT_REGION");
	if (e && *e)
		return strdup(e);
	if (ocb_aws_config_value(profile, "region", &v) == 0)
		return v;
	return strdup("us-east-1");
}

static int check_name(const char *what, const char *v, const char *file)
{
	size_t i;

	if (!*v || strlen(v) > 128)
		goto bad;
	for (i = 0; v[i]; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("-_.", v[i]))
			goto bad;
	return 0;
bad:
	ocb_err("config %s: %s must be 1-128 characters of A-Z a-z 0-9 - _ .",
		file, what);
	return -EINVAL;
}

/* instanceId (default local-<hostname>) and backupFrequency */
static int read_identity(struct ocb_config *c, const cJSON *root,
			 const char *file)
{
	const char *inst = get_str(root, NULL, "instanceId");
	char host[256] = "localhost";
	char *p;

	if (!inst) {
		gethostname(host, sizeof(host) - 1);
		if (asprintf(&c->instance_id, "local-%s", host) < 0)
			return -ENOMEM;
		for (p = c->instance_id; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
				*p = '-';
	} else {
		c->instance_id = strdup(inst);
	}
	if (!c->instance_id)
		return -ENOMEM;
	c->backup_frequency = dup_or(get_str(root, NULL, "backupFrequency"), NULL);
	return check_name("instanceId", c->instance_id, file);
}

/* seconds (at least 1) of an s3.* field as milliseconds, else def */
static unsigned get_ms(const cJSON *root, const char *name, unsigned def)
{
	const cJSON *a = get(root, "s3", name);

	return cJSON_IsNumber(a) && a->valuedouble >= 1 ?
		(unsigned)a->valuedouble * 1000 : def;
}

/* s3.*: the profile, region, endpoint, bucket, addressing, TLS, timeouts */
static int read_s3(struct ocb_config *c, const cJSON *root, const char *file)
{
	const char *v;

	c->profile = dup_or(get_str(root, "s3", "profile"), NULL);
	v = get_str(root, "s3", "region");
	c->region = resolve_region(get_str(root, NULL, "region") ?
				   get_str(root, NULL, "region") : v, c->profile,
				   &c->from_env);
	c->endpoint = resolve_endpoint(get_str(root, "s3", "endpoint"), c->profile,
				       &c->from_env);
	c->bucket = dup_or(get_str(root, "s3", "bucket"), NULL);
	v = get_str(root, "s3", "addressing");
	if (!v || !strcmp(v, "auto")) {
		c->addressing = OCB_S3_ADDR_AUTO;
	} else if (!strcmp(v, "path")) {
		c->addressing = OCB_S3_ADDR_PATH;
	} else if (!strcmp(v, "virtual")) {
		c->addressing = OCB_S3_ADDR_VHOST;
	} else {
		ocb_err("config %s: field s3.addressing: expected auto, path or "
			"virtual", file);
		return -EINVAL;
	}
	c->insecure_tls = get_bool(root, "s3", "insecureTls", 0);
	c->timeout_ms = get_ms(root, "timeout", 30000);
	c->deadline_ms = get_ms(root, "retryDeadline", 60000);
	c->refused_ms = get_ms(root, "refusedDeadline", 20000);
	return 0;
}

/* store: explicit URL, else the bucket, else the local default */
static int read_store_url(struct ocb_config *c, const cJSON *root,
			  const char *file)
{
	const char *v;

	if ((v = get_str(root, NULL, "store")) != NULL) {
		size_t n = strncmp(v, "s3://", 5) ? 0 : strcspn(v + 5, "/");

		if (strncmp(v, "s3://", 5) == 0 ?
		    n == 0 || (v[5 + n] == '/' && v[6 + n] != '\0') :
		    strncmp(v, "file:///", 8) && strncmp(v, "file://~/", 9)) {
			ocb_err("config %s: field store: expected s3://BUCKET or "
				"file:///ABSOLUTE/DIR (the key prefix is s3.prefix)",
				file);
			return -EINVAL;
		}
		if (!strncmp(v, "file://~", 8)) {
			char *e = expand(v + 7);

			if (e && asprintf(&c->store_url, "file://%s", e) < 0)
				c->store_url = NULL;
			free(e);
		} else if (n) {
			c->store_url = strndup(v, 5 + n);	/* no trailing '/' */
		} else {
			c->store_url = strdup(v);
		}
		if (c->store_url && !strncmp(v, "s3://", 5) && !c->bucket)
			c->bucket = strndup(v + 5, strcspn(v + 5, "/"));
	} else if (c->bucket) {
		if (asprintf(&c->store_url, "s3://%s", c->bucket) < 0)
			c->store_url = NULL;
	} else {
		char *h = home_dir();

		if (h && asprintf(&c->store_url, "file://%s/.local/share/ocb/store",
				  h) < 0)
			c->store_url = NULL;
		free(h);
	}
	if (!c->store_url)
		return -ENOMEM;
	return 0;
}

/* s3.prefix (default openclaw-aws-backups/instance-<id>) and its root */
static int read_prefix(struct ocb_config *c, const cJSON *root,
		       const char *file)
{
	const char *v;

	v = get_str(root, "s3", "prefix");
	if (v) {
		size_t n = strlen(v);

		while (n && v[n - 1] == '/')
			n--;
		while (n && *v == '/') {
			v++;
			n--;
		}
		c->prefix = strndup(v, n);
	} else if (asprintf(&c->prefix, "openclaw-aws-backups/instance-%s",
			    c->instance_id) < 0) {
		c->prefix = NULL;
	}
	if (!c->prefix)
		return -ENOMEM;
	if (!*c->prefix) {
		ocb_err("config %s: field s3.prefix must not be empty", file);
		return -EINVAL;
	}
	return ocb_config_prefix_root(c->prefix, &c->root);
}

/* encryption.*, and the SSE of objects uploaded */
static int read_encryption(struct ocb_config *c, const cJSON *root,
			   const char *file)
{
	const char *v;

	c->enc_enabled = get_bool(root, "encryption", "enabled", 1);
	c->enc_method = dup_or(get_str(root, "encryption", "method"), NULL);
	c->kms_key_alias = dup_or(get_str(root, "encryption", "kmsKeyAlias"), NULL);
	c->kms_key_id = dup_or(get_str(root, "encryption", "kmsKeyId"),
			       c->kms_key_alias);
	v = get_str(root, "encryption", "kmsEndpoint");
	if (!v)
		c->from_env |= OCB_CONFIG_FROM_ENV_KMS_ENDPOINT;
	if (!v)
		v = secure_getenv("AWS_ENDPOINT_URL_KMS");
	if (!v || !*v)
		v = secure_getenv("AWS_ENDPOINT_URL");
	c->kms_endpoint = v && *v ? strdup(v) : NULL;
	v = get_str(root, "encryption", "keyProvider");
	if (!v) {
		if (!c->enc_enabled)
			v = "none";
		else if (c->enc_method && !strcmp(c->enc_method, "kms"))
			v = "kms";
		else
			v = "keyfile";
	}
	if (strcmp(v, "none") && strcmp(v, "keyfile") &&
	    strcmp(v, "passphrase") && strcmp(v, "kms")) {
		ocb_err("config %s: field encryption.keyProvider: expected none, "
			"keyfile, passphrase or kms", file);
		return -EINVAL;
	}
	c->key_provider = strdup(v);
	c->key_file = expand(get_str(root, "encryption", "keyFile") ?
			     get_str(root, "encryption", "keyFile") :
			     "~/.config/ocb/key");
	c->passphrase_file = expand(get_str(root, "encryption", "passphraseFile"));
	/* the old tool's SSE-KMS, kept for objects we upload */
	c->sse = dup_or(get_str(root, "s3", "sse"),
			c->enc_method && !strcmp(c->enc_method, "kms") &&
			c->enc_enabled ? "aws:kms" : NULL);
	c->sse_kms_key_id = dup_or(get_str(root, "s3", "sseKmsKeyId"),
				   c->sse ? c->kms_key_alias : NULL);

	return 0;
}

static int get_int(const cJSON *root, const char *obj, const char *name,
		   int def)
{
	const cJSON *a = get(root, obj, name);

	return cJSON_IsNumber(a) ? (int)a->valuedouble : def;
}

/* retention.*: what `ocb prune` and retention.autoClean keep */
static int read_retention(struct ocb_config *c, const cJSON *root,
			  const char *file)
{
	const char *within = get_str(root, "retention", "keepWithin");

	c->keep = get_int(root, "retention", "keep", 0);
	c->keep_daily = get_int(root, "retention", "keepDaily", 0);
	c->keep_weekly = get_int(root, "retention", "keepWeekly", 0);
	c->keep_monthly = get_int(root, "retention", "keepMonthly", 0);
	c->keep_yearly = get_int(root, "retention", "keepYearly", 0);
	c->auto_clean = get_bool(root, "retention", "autoClean", 0);
	c->stale_upload_age = (int64_t)get_int(root, "retention",
					       "staleUploadHours", 24) * 3600;
	c->repack_live_percent = get_int(root, "retention",
					 "repackLivePercent", 50);
	c->repack_min_dead_mb = get_int(root, "retention", "repackMinDeadMB", 4);
	if (c->repack_live_percent < 0 || c->repack_live_percent > 100 ||
	    c->repack_min_dead_mb < 0) {
		ocb_err("config %s: retention.repackLivePercent is 0 to 100 and "
			"retention.repackMinDeadMB 0 or more", file);
		return -EINVAL;
	}
	/* no full backup by count, one a quarter by age: docs/ocb-config.5.md,
	 * "Full backups" */
	c->full_every = get_int(root, "backup", "fullEvery", 0);
	c->full_after_days = get_int(root, "backup", "fullAfterDays", 90);
	if (c->full_every < 0 || c->full_after_days < 0) {
		ocb_err("config %s: backup.fullEvery and backup.fullAfterDays "
			"are 0 (never) or more", file);
		return -EINVAL;
	}
	if (within && ocb_config_parse_duration(within, &c->keep_within) < 0) {
		ocb_err("config %s: retention.keepWithin \"%.64s\": use e.g. "
			"\"30d\", \"12h\", \"2w\"", file, within);
		return -EINVAL;
	}
	return 0;
}

/* a string array field, else the default list */
static int read_list(const cJSON *root, const char *name,
		     const char *const *def, size_t ndef, int expand_home,
		     char ***out, size_t *n)
{
	const cJSON *a = get(root, NULL, name);
	cJSON *d;
	int r;

	if (a)
		return str_array(a, out, n, expand_home);
	d = cJSON_CreateStringArray(def, (int)ndef);
	r = d ? str_array(d, out, n, expand_home) : -ENOMEM;
	cJSON_Delete(d);
	return r;
}

/* sources (absolute, default ~/.openclaw) and excludes */
static int read_sources(struct ocb_config *c, const cJSON *root,
			const char *file)
{
	static const char *const default_sources[] = { "~/.openclaw" };
	int r;

	c->sources_default = !get(root, NULL, "sources");
	r = read_list(root, "sources", default_sources, 1, 1, &c->sources,
		      &c->nsources);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->nsources; i++) {
		if (c->sources[i][0] != '/') {
			ocb_err("config %s: sources: %.200s is not an absolute path",
				file, c->sources[i]);
			return -EINVAL;
		}
	}
	return read_list(root, "excludes", default_excludes,
			 sizeof(default_excludes) / sizeof(default_excludes[0]),
			 0, &c->excludes, &c->nexcludes);
}

/* cache.*, mount.refresh and stateSnapshot */
static int read_local(struct ocb_config *c, const cJSON *root,
		      const char *file)
{
	const cJSON *a;
	int r;

	c->cache_dir = expand(get_str(root, "cache", "dir") ?
			      get_str(root, "cache", "dir") : CACHE_DEFAULT);
	c->state_dir = c->cache_dir && *c->cache_dir ? strdup(c->cache_dir) :
		expand(CACHE_DEFAULT);
	r = get_size(root, "cache", "size", 2ull << 30, &c->cache_size, file);
	if (r == 0)
		r = get_size(root, "cache", "ram", 256ull << 20, &c->ram_cache, file);
	if (r < 0)
		return r;
	a = get(root, "mount", "refresh");
	c->refresh = cJSON_IsNumber(a) ? (unsigned)a->valuedouble : 30;
	if (get_str(root, NULL, "stateSnapshot")) {
		c->state_snapshot = expand(get_str(root, NULL, "stateSnapshot"));
		if (c->state_snapshot && c->state_snapshot[0] != '/') {
			ocb_err("config %s: stateSnapshot: %.200s is not an "
				"absolute path", file, c->state_snapshot);
			return -EINVAL;
		}
		if (!c->state_snapshot)
			return -ENOMEM;
	}
	return 0;
}

/* The settings of a parsed (and validated) config file, defaults filled
 * in, one group of fields after the other: 0 or a negative errno (the
 * reason logged, naming file). */
static int settings_from_json(struct ocb_config *c, const cJSON *root,
			      const char *file)
{
	int (*const steps[])(struct ocb_config *, const cJSON *, const char *) = {
		read_identity, read_s3, read_store_url, read_prefix,
		read_encryption, read_retention, read_sources, read_local,
	};
	size_t i;
	int r;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		r = steps[i](c, root, file);
		if (r < 0)
			return r;
	}
	if (!c->region || !c->key_provider || !c->key_file || !c->cache_dir ||
	    !c->state_dir || !c->root)
		return -ENOMEM;
	return 0;
}

/* refuse files others can change (they could redirect the backups) or that
 * belong to someone else; readable by others is accepted: credentials never
 * live in the file (the old tool writes it 0644; `ocb doctor` notes it) */
static int check_perms(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		ocb_err("config %s is owned by uid %u, not by you (uid %u): "
			"refusing it", path, st.st_uid, geteuid());
		return -EACCES;
	}
	if (st.st_mode & 022) {
		ocb_err("config %s is writable by group or others (mode %03o): "
			"refusing it; fix with: chmod 600 %s", path,
			st.st_mode & 0777, path);
		return -EACCES;
	}
	return 0;
}

static int read_file(const char *path, struct ocb_buf *b)
{
	char chunk[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = check_perms(fd, path);
	while (r == 0) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		r = ocb_buf_append(b, chunk, (size_t)n);
		if (r == -EFBIG)
			ocb_err("config %s is larger than 1 MiB", path);
	}
	close(fd);
	return r;
}

static char *find_path(void)
{
	const char *e = secure_getenv("OCB_CONFIG");
	char *h, *p = NULL;

	if (e && *e)
		return strdup(e);
	h = home_dir();
	if (h && asprintf(&p, "%s/.config/ocb/config.json", h) >= 0 &&
	    access(p, F_OK) == 0) {
		free(h);
		return p;
	}
	free(h);
	free(p);
	if (access("/etc/ocb/config.json", F_OK) == 0)
		return strdup("/etc/ocb/config.json");
	return NULL;
}

/* text (len bytes) as the config file `name`: into c; the reason of a
 * failure is logged */
static int parse(struct ocb_config *c, const char *text, size_t len,
		 const char *name)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	int r;

	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		long line = 1;

		for (const char *p = text; p && at && p < at && p < text + len; p++)
			line += *p == '\n';
		ocb_err("config %s: not valid JSON (near line %ld)", name, line);
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		ocb_err("config %s: expected a JSON object", name);
		r = -EINVAL;
		goto out;
	}
	r = validate(root, "", name);
	if (r < 0)
		goto out;
	c->doc_json = cJSON_PrintUnformatted(root);
	if (!c->doc_json) {
		r = -ENOMEM;
		goto out;
	}
	r = settings_from_json(c, root, name);
out:
	cJSON_Delete(root);
	return r;
}

int ocb_config_parse(const char *text, size_t len, const char *name,
		     struct ocb_config **out)
{
	struct ocb_config *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	if (len > CONFIG_MAX) {
		ocb_err("config %s: larger than %d bytes", name, CONFIG_MAX);
		r = -EFBIG;
	} else {
		r = parse(c, text, len, name);
	}
	if (r < 0) {
		ocb_config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int ocb_config_load(const char *path, struct ocb_config **out)
{
	struct ocb_config *c = calloc(1, sizeof(*c));
	struct ocb_buf b;
	char *found = NULL;
	int r;

	if (!c)
		return -ENOMEM;
	ocb_buf_init(&b, CONFIG_MAX);
	found = path ? strdup(path) : find_path();
	if (found) {
		r = read_file(found, &b);
		if (r < 0) {
			if (r == -ENOENT)
				ocb_err("config %s: no such file", found);
			else if (r != -EACCES && r != -EFBIG)
				ocb_err("config %s: %s", found, strerror(-r));
			goto out;
		}
		c->path = found;
		found = NULL;
		r = parse(c, b.data ? b.data : "", b.len, c->path);
	} else {
		cJSON *root = cJSON_CreateObject();

		r = root ? settings_from_json(c, root, "(built-in defaults)") : -ENOMEM;
		cJSON_Delete(root);
	}
out:
	ocb_buf_release(&b);
	free(found);
	if (r < 0) {
		ocb_config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

static void free_array(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void ocb_config_free(struct ocb_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->instance_id);
	free(c->region);
	free(c->backup_frequency);
	free(c->store_url);
	free(c->bucket);
	free(c->prefix);
	free(c->root);
	free(c->endpoint);
	free(c->profile);
	free(c->sse);
	free(c->sse_kms_key_id);
	free(c->enc_method);
	free(c->kms_key_alias);
	free(c->key_provider);
	free(c->key_file);
	free(c->passphrase_file);
	free(c->kms_key_id);
	free(c->kms_endpoint);
	free_array(c->sources, c->nsources);
	free_array(c->excludes, c->nexcludes);
	free(c->cache_dir);
	free(c->state_dir);
	free(c->state_snapshot);
	if (c->doc_json)
		cJSON_free(c->doc_json);
	free(c);
}

/* ---- instance prefixes ---------------------------------------------------- */

int ocb_config_prefix_root(const char *prefix, char **out)
{
	const char *p, *cut = NULL;
	char *r;

	if (strncmp(prefix, "instance-", 9) == 0)
		cut = prefix;
	for (p = strstr(prefix, "/instance-"); p; p = strstr(p + 1, "/instance-"))
		cut = p;
	if (!cut)
		cut = strrchr(prefix, '/');
	r = cut ? strndup(prefix, (size_t)(cut - prefix)) : strdup("");
	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}

void ocb_config_prefix_instance(const char *prefix, size_t len, char *out,
				size_t size)
{
	const char *p = memrchr(prefix, '/', len);

	p = p ? p + 1 : prefix;
	len -= (size_t)(p - prefix);
	if (len > 9 && strncmp(p, "instance-", 9) == 0) {
		p += 9;
		len -= 9;
	}
	snprintf(out, size, "%.*s", (int)len, p);
}

int ocb_config_instance_prefix(const char *root, const char *instance_id,
			       char **out)
{
	char *r;

	if (!*instance_id || strchr(instance_id, '/'))
		return -EINVAL;
	if (asprintf(&r, "%s%sinstance-%s", root, *root ? "/" : "",
		     instance_id) < 0)
		return -ENOMEM;
	*out = r;
	return 0;
}

/* ---- fields kept as read -------------------------------------------------- */

int ocb_config_extra(const struct ocb_config *c, const char *name, char **out)
{
	const cJSON *v = NULL;
	cJSON *doc;
	char obj[64];
	const char *dot = strchr(name, '.');
	char *text;

	if (!c->doc_json)
		return -ENOENT;
	doc = cJSON_Parse(c->doc_json);
	if (!doc)
		return -ENOMEM;
	if (dot && (size_t)(dot - name) < sizeof(obj)) {
		snprintf(obj, sizeof(obj), "%.*s", (int)(dot - name), name);
		v = get(doc, obj, dot + 1);
	} else if (!dot) {
		v = get(doc, NULL, name);
	}
	text = v ? cJSON_PrintUnformatted(v) : NULL;
	cJSON_Delete(doc);
	if (!v)
		return -ENOENT;
	if (!text)
		return -ENOMEM;
	/* cJSON allocates with malloc unless hooks say otherwise; copy to be
	 * sure the caller's free() matches */
	*out = strdup(text);
	cJSON_free(text);
	return *out ? 0 : -ENOMEM;
}

/* ---- writing -------------------------------------------------------------- */

/* obj.name = v (v NULL: remove obj.name); v is owned from now on */
static int put_item(cJSON *obj, const char *name, cJSON *v, int want)
{
	if (!want) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
		return 0;
	}
	if (!v)
		return -ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, name) ?
	    cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v) :
	    cJSON_AddItemToObject(obj, name, v))
		return 0;
	cJSON_Delete(v);
	return -ENOMEM;
}

static int put_str(cJSON *obj, const char *name, const char *v)
{
	return put_item(obj, name, v ? cJSON_CreateString(v) : NULL, v != NULL);
}

static int put_num(cJSON *obj, const char *name, double v)
{
	return put_item(obj, name, cJSON_CreateNumber(v), 1);
}

static int put_bool(cJSON *obj, const char *name, int v)
{
	return put_item(obj, name, cJSON_CreateBool(v), 1);
}

static int put_array(cJSON *obj, const char *name, char **v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);

		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return -ENOMEM;
		}
	}
	return put_item(obj, name, a, 1);
}

/* the sub-object name of root, created when missing */
static cJSON *sub(cJSON *root, const char *name)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(root, name);

	if (cJSON_IsObject(o))
		return o;
	o = cJSON_CreateObject();
	if (o && put_item(root, name, o, 1) < 0)
		return NULL;
	return o;
}

static const char *addressing_name(enum ocb_s3_addressing a)
{
	return a == OCB_S3_ADDR_PATH ? "path" :
		a == OCB_S3_ADDR_VHOST ? "virtual" : "auto";
}

static int doc_fill(cJSON *root, const struct ocb_config *c)
{
	cJSON *s3 = sub(root, "s3"), *enc = sub(root, "encryption"),
	      *ret = sub(root, "retention"), *cache = sub(root, "cache"),
	      *mnt = sub(root, "mount");
	int r = 0;

	if (!s3 || !enc || !ret || !cache || !mnt)
		return -ENOMEM;
	r |= put_str(root, "instanceId", c->instance_id);
	r |= put_str(root, "region", c->from_env & OCB_CONFIG_FROM_ENV_REGION ?
		     NULL : c->region);
	if (c->from_env & OCB_CONFIG_FROM_ENV_REGION)
		r |= put_str(s3, "region", NULL);
	r |= put_str(root, "backupFrequency", c->backup_frequency);
	r |= put_str(root, "store", c->store_url);
	r |= put_array(root, "sources", c->sources, c->nsources);
	r |= put_array(root, "excludes", c->excludes, c->nexcludes);
	r |= put_str(root, "stateSnapshot", c->state_snapshot);

	r |= put_str(s3, "bucket", c->bucket);
	r |= put_str(s3, "prefix", c->prefix);
	r |= put_str(s3, "endpoint", c->from_env & OCB_CONFIG_FROM_ENV_ENDPOINT ?
		     NULL : c->endpoint);
	r |= put_str(s3, "addressing", addressing_name(c->addressing));
	r |= put_str(s3, "profile", c->profile);
	r |= put_bool(s3, "insecureTls", c->insecure_tls);
	r |= put_str(s3, "sse", c->sse);
	r |= put_str(s3, "sseKmsKeyId", c->sse_kms_key_id);
	r |= put_num(s3, "timeout", c->timeout_ms / 1000);
	r |= put_num(s3, "retryDeadline", c->deadline_ms / 1000);
	r |= put_num(s3, "refusedDeadline", c->refused_ms / 1000);

	r |= put_bool(enc, "enabled", c->enc_enabled);
	r |= put_str(enc, "method", c->enc_method);
	r |= put_str(enc, "kmsKeyAlias", c->kms_key_alias);
	r |= put_str(enc, "keyProvider", c->key_provider);
	r |= put_str(enc, "keyFile", c->key_file);
	r |= put_str(enc, "passphraseFile", c->passphrase_file);
	r |= put_str(enc, "kmsKeyId", c->kms_key_id);
	r |= put_str(enc, "kmsEndpoint",
		     c->from_env & OCB_CONFIG_FROM_ENV_KMS_ENDPOINT ?
		     NULL : c->kms_endpoint);

	r |= put_num(ret, "keep", c->keep);
	r |= put_bool(ret, "autoClean", c->auto_clean);
	r |= put_num(ret, "staleUploadHours", (double)(c->stale_upload_age / 3600));

	r |= put_str(cache, "dir", c->cache_dir);
	r |= put_num(cache, "size", (double)c->cache_size);
	r |= put_num(cache, "ram", (double)c->ram_cache);
	r |= put_num(mnt, "refresh", c->refresh);
	return r ? -ENOMEM : 0;
}

/* the directory part of path ("." when none), created 0700 if missing */
static int parent_dir(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	char *d = slash == path ? strdup("/") :
		slash ? strndup(path, (size_t)(slash - path)) : strdup(".");

	if (!d)
		return -ENOMEM;
	if (mkdir(d, 0700) < 0 && errno != EEXIST) {
		int r = -errno;

		free(d);
		return r;
	}
	*out = d;
	return 0;
}

int ocb_config_write(const struct ocb_config *c, const char *path)
{
	cJSON *root = NULL;
	char *text = NULL, *tmp = NULL, *dir = NULL;
	int fd = -1, dfd, r;

	root = c->doc_json ? cJSON_Parse(c->doc_json) : cJSON_CreateObject();
	r = root ? doc_fill(root, c) : -ENOMEM;
	if (r < 0)
		goto out;
	text = cJSON_Print(root);
	r = text ? parent_dir(path, &dir) : -ENOMEM;
	if (r < 0)
		goto out;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);	/* mode 0600 */
	if (fd < 0) {
		r = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = ocb_fileio_write_all(fd, text, strlen(text));
	if (r == 0)
		r = ocb_fileio_write_all(fd, "\n", 1);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		goto out;
	free(tmp);
	tmp = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (text)
		cJSON_free(text);
	cJSON_Delete(root);
	free(dir);
	return r;
}
