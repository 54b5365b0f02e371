/*
 * cmd_setup.c - `ocb setup`: write a configuration, prepare the store and
 * the key, prove it works with a tiny backup and restore, and install the
 * schedule.
 *
 * On a terminal it asks each question with a default; with --yes (or
 * without a terminal) every answer comes from the options, the imported
 * old config (--import) and the defaults.  The config is written with
 * cJSON, then loaded back by the one config reader, which validates it.
 */
#include "cmd.h"
#include "inventory.h"
#include "creds.h"
#include "keys.h"
#include "keys_config.h"
#include "log.h"
#include "ocb_archive.h"
#include "bucket.h"
#include "schedule.h"
#include "sse_report.h"
#include "store_open.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMPORT_MAX (1 << 20)	/* bytes of an old config */
#define LIST_MAX 32		/* sources, excludes */

static const char usage[] =
	"usage: ocb setup [--yes] [--import PATH] [--store URL] [--bucket NAME]\n"
	"                 [--endpoint URL] [--region REGION] [--prefix PREFIX]\n"
	"                 [--instance ID] [--key-provider keyfile|passphrase|kms|none]\n"
	"                 [--key-file PATH] [--passphrase-file PATH] [--kms-key-id ID]\n"
	"                 [--source PATH]... [--exclude GLOB]... [--role ROLE]\n"
	"                 [--schedule hourly|6h|daily|weekly|manual]\n"
	"                 [--schedule custom --cron 'M H DOM MON DOW'] [--keep N]\n"
	"                 [--versioning] [--force] [--no-test] [--no-schedule]\n"
	"                 [--print-schedule]\n"
	"\n"
	"Write the configuration (--config, else ~/.config/ocb/config.json;\n"
	"mode 0600), create the bucket if missing, generate the key file,\n"
	"check everything with the `ocb doctor` probes, take a tiny test backup\n"
	"and restore it, and install the schedule (a systemd timer when systemd\n"
	"runs, else a crontab line).  On a terminal each setting is asked for;\n"
	"--yes takes the options and defaults without asking.\n"
	"\n"
	"  --import PATH     start from an old openclaw-aws-backup\n"
	"                    backup-config.json (its fields and its schedule\n"
	"                    are kept; the region, when it has none, is the\n"
	"                    instance's)\n"
	"  --role ROLE       manager, librarian (daily), worker-stateful or\n"
	"                    worker, access-service (weekly), worker-ephemeral\n"
	"                    (manual): sets the default schedule; asked for on\n"
	"                    a terminal, else none is written\n"
	"  --cron EXPR       the schedule custom: a 5-field cron expression\n"
	"  --keep N          keep the newest N backups (default 30)\n"
	"  --versioning      enable bucket versioning when creating it\n"
	"  --force           overwrite an existing config\n"
	"  --print-schedule  print the schedule that would be installed, and\n"
	"                    change nothing\n";

struct answers {
	char store[PATH_MAX], bucket[256], endpoint[512], region[64];
	char prefix[512], instance[128], provider[16], key_file[PATH_MAX];
	char pass_file[PATH_MAX], kms_key[256], role[32], schedule[16];
	char cron[128];
	char *sources[LIST_MAX], *excludes[LIST_MAX];
	size_t nsources, nexcludes;
	int keep;
};

/* ---- questions --------------------------------------------------------------- */

/* ask on the terminal, the default in brackets; empty keeps it */
static void ask(int tty, const char *q, char *val, size_t size)
{
	char line[1024];
	size_t n;

	if (!tty)
		return;
	fprintf(stderr, "%s [%s]: ", q, val);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n >= size)
		fprintf(stderr, "ocb: too long (at most %zu characters); keeping "
			"%s\n", size - 1, val);
	else if (n)
		memcpy(val, line, n + 1);
}

static const char *role_schedule(const char *role)
{
	if (!strcmp(role, "worker") || !strcmp(role, "worker-stateful") ||
	    !strcmp(role, "access") || !strcmp(role, "access-service"))
		return "weekly";
	if (!strcmp(role, "ephemeral") || !strcmp(role, "worker-ephemeral"))
		return "manual";
	return "daily";		/* manager, librarian, and anything else */
}

static void default_instance(char *out, size_t size)
{
	char host[256] = "";

	/* on EC2 the instance id, as the old tool did; else local-<host> */
	if (ocb_imds_get("meta-data/instance-id", out, size) == 0 &&
	    ocb_inventory_label_ok(out))
		return;
	gethostname(host, sizeof(host) - 1);
	snprintf(out, size, "local-%s", *host ? host : "host");
}

/* the region when none is given: the environment, else the instance's
 * (IMDSv2), else us-east-1 */
static void default_region(char *out, size_t size)
{
	const char *e = getenv("AWS_REGION");

	if (!e || !*e)
		e = getenv("AWS_DEFAULT_REGION");
	if (e && *e)
		snprintf(out, size, "%s", e);
	else if (ocb_imds_get("meta-data/placement/region", out, size) < 0 ||
		 !*out)
		snprintf(out, size, "us-east-1");
}

static char *json_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* defaults taken from an imported old config */
static void from_import(struct answers *an, const cJSON *doc)
{
	const cJSON *keep = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "retention"), "keep");
	const char *v;

	if ((v = json_str(doc, "s3", "bucket")))
		snprintf(an->bucket, sizeof(an->bucket), "%s", v);
	if ((v = json_str(doc, "s3", "region")) || (v = json_str(doc, "region", NULL)))
		snprintf(an->region, sizeof(an->region), "%s", v);
	if ((v = json_str(doc, "s3", "prefix")))
		snprintf(an->prefix, sizeof(an->prefix), "%s", v);
	if ((v = json_str(doc, "instanceId", NULL)))
		snprintf(an->instance, sizeof(an->instance), "%s", v);
	if (cJSON_IsNumber(keep))
		an->keep = keep->valueint;
	if ((v = json_str(doc, "customCron", NULL)))
		snprintf(an->cron, sizeof(an->cron), "%s", v);
	if ((v = json_str(doc, "role", NULL)))
		snprintf(an->role, sizeof(an->role), "%s", v);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(doc, "memoryProtection"),
		    "enabled")))
		printf("memoryProtection: kept in the config, not acted on: ocb "
		       "leaves the agent's service, swap and memory limits as "
		       "they are\n");
	/* the old tool's encryption: off, or KMS with a key alias (gpg
	 * backups stay readable through `ocb restore`; new ones use a key
	 * file) */
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(doc, "encryption"),
		    "enabled")))
		snprintf(an->provider, sizeof(an->provider), "none");
	else if ((v = json_str(doc, "encryption", "method")) &&
		 !strcmp(v, "kms")) {
		snprintf(an->provider, sizeof(an->provider), "kms");
		if ((v = json_str(doc, "encryption", "kmsKeyAlias")))
			snprintf(an->kms_key, sizeof(an->kms_key), "%s", v);
	}
	if ((v = json_str(doc, "backupFrequency", NULL))) {
		struct ocb_sched known = { .schedule = v };

		if (!strcmp(v, "custom") || !ocb_sched_check(&known))
			snprintf(an->schedule, sizeof(an->schedule), "%s", v);
		else if (strstr(v, "eekly"))
			snprintf(an->schedule, sizeof(an->schedule), "weekly");
		else if (strstr(v, "ourly"))
			snprintf(an->schedule, sizeof(an->schedule), "hourly");
		else if (strstr(v, "anual"))
			snprintf(an->schedule, sizeof(an->schedule), "manual");
		else
			snprintf(an->schedule, sizeof(an->schedule), "daily");
	}
}

static int read_file(const char *path, char **out)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > IMPORT_MAX) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* ---- the config document ---------------------------------------------------- */

static cJSON *obj(cJSON *parent, const char *name)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, name);

	if (!cJSON_IsObject(o)) {
		cJSON_DeleteItemFromObjectCaseSensitive(parent, name);
		o = cJSON_AddObjectToObject(parent, name);
	}
	return o;
}

static void set_str(cJSON *o, const char *name, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, name);
	if (v && *v)
		cJSON_AddStringToObject(o, name, v);
}

static void set_list(cJSON *o, const char *name, char **v, size_t n)
{
	cJSON *a;
	size_t i;

	cJSON_DeleteItemFromObjectCaseSensitive(o, name);
	a = cJSON_AddArrayToObject(o, name);
	for (i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

static void build(cJSON *doc, const struct answers *an)
{
	cJSON *s3, *enc, *ret;
	int s3_store = !strncmp(an->store, "s3://", 5);

	set_str(doc, "instanceId", an->instance);
	set_str(doc, "role", an->role);
	set_str(doc, "backupFrequency", an->schedule);
	set_str(doc, "customCron", !strcmp(an->schedule, "custom") ?
		an->cron : NULL);
	set_str(doc, "region", an->region);
	set_str(doc, "store", s3_store ? NULL : an->store);
	s3 = obj(doc, "s3");
	set_str(s3, "bucket", s3_store ? an->bucket : NULL);
	set_str(s3, "endpoint", an->endpoint);
	set_str(s3, "prefix", an->prefix);
	cJSON_DeleteItemFromObjectCaseSensitive(s3, "region");
	if (!cJSON_GetArraySize(s3))
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "s3");
	enc = obj(doc, "encryption");
	set_str(enc, "keyProvider", an->provider);
	set_str(enc, "keyFile", !strcmp(an->provider, "keyfile") ?
		an->key_file : NULL);
	set_str(enc, "passphraseFile", !strcmp(an->provider, "passphrase") ?
		an->pass_file : NULL);
	set_str(enc, "kmsKeyId", !strcmp(an->provider, "kms") ? an->kms_key : NULL);
	ret = obj(doc, "retention");
	cJSON_DeleteItemFromObjectCaseSensitive(ret, "keep");
	cJSON_AddNumberToObject(ret, "keep", an->keep);
	if (an->nsources)
		set_list(doc, "sources", (char **)an->sources, an->nsources);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(doc, "sources");
	if (an->nexcludes)
		set_list(doc, "excludes", (char **)an->excludes, an->nexcludes);
}

/* write text to path atomically, mode 0600 (parents 0700) */
static int write_private(const char *path, const char *text)
{
	char tmp[PATH_MAX + 16], dir[PATH_MAX], *p;
	size_t len = strlen(text);
	int fd, r = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		r = errno ? -errno : -ENOSPC;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* ---- proof: a tiny backup, read back, then deleted -------------------------- */

static int test_roundtrip(struct ocb_ctx *ctx, struct ocb_keyprov *kp)
{
	struct ocb_archive_write_opts o = { 0 };
	struct ocb_backup_result res = { 0 };
	struct ocb_archive *a = NULL;
	char dir[] = "/tmp/ocb-setup-XXXXXX", file[64], prefix[OCB_KEY_MAX];
	const char *src[1] = { dir };
	static const char text[] = "ocb setup test\n";
	char back[sizeof(text)] = "";
	uint32_t idx;
	FILE *f;
	int r;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(file, sizeof(file), "%s/test.txt", dir);
	f = fopen(file, "w");
	if (!f) {
		r = -errno;
		goto out;
	}
	fputs(text, f);
	fclose(f);
	snprintf(prefix, sizeof(prefix), "%s/.setup-test", ctx->cfg->prefix);
	o.sources = src;
	o.nsources = 1;
	o.prefix = prefix;
	o.instance = ctx->cfg->instance_id;
	o.label = "setup-test";
	o.kp = kp;
	r = ocb_archive_write(ctx->store, &o, &res);
	if (r < 0)
		goto out;
	r = ocb_archive_open(ctx->store, res.key, kp, &a);
	if (r == 0) {
		char rel[128];

		/* the source's top-level directory is its base name */
		snprintf(rel, sizeof(rel), "%s/test.txt", strrchr(dir, '/') + 1);
		r = ocb_archive_resolve(a, rel, &idx);
	}
	if (r == 0 && ocb_archive_pread(a, idx, back, sizeof(back) - 1, 0) !=
	    (ssize_t)(sizeof(text) - 1))
		r = -EIO;
	if (r == 0 && memcmp(back, text, sizeof(text) - 1) != 0)
		r = -EBADMSG;
	ocb_archive_free(a);
	ctx->store->ops->del(ctx->store, res.key);
out:
	unlink(file);
	rmdir(dir);
	return r;
}

/* ---- versioned buckets ------------------------------------------------------- */

/* a bucket request the credentials' policy denies (the old tool's allows
 * none of these): a warning naming the action, and setup goes on */
static int denied(const char *action, const char *consequence)
{
	printf("bucket: WARNING: s3:%s is denied: %s\n"
	       "         fix: allow s3:%s on the bucket (docs/iam/)\n",
	       action, consequence, action);
	return 0;
}

/*
 * With versioning on (turned on now, or found on), pruned backups live on
 * as noncurrent versions: without a lifecycle configuration, set one that
 * expires them after keep days (30 when keeping all) and aborts stale
 * uploads, as the old tool's setup did; an existing one is left alone.
 * *on tells whether versioning is on.
 */
static int versions_expire(struct ocb_store *bare, const char *prefix,
			   int keep, int *on)
{
	char p[OCB_KEY_MAX];
	int r = ocb_bucket_versioning(bare);

	if (r == -EACCES)
		return denied("GetBucketVersioning", "whether versioning is "
			      "on is not known; if it is, pruned backups stay "
			      "as noncurrent versions unless a lifecycle rule "
			      "expires them");
	if (r <= 0)
		return r == -EPROTO ? 0 : r;
	*on = 1;
	r = ocb_bucket_lifecycle_exists(bare);
	if (r > 0) {
		printf("bucket: versioning on, keeping its lifecycle "
		       "configuration (check that it expires noncurrent "
		       "versions)\n");
		return 0;
	}
	if (r == -EACCES)
		return denied("GetLifecycleConfiguration", "versioning is on "
			      "and no lifecycle rule was checked or set: "
			      "pruned backups may stay as noncurrent versions");
	if (r < 0)
		return r;
	snprintf(p, sizeof(p), "%s/", prefix);
	r = ocb_bucket_expire_noncurrent(bare, p, keep > 0 ? keep : 30);
	if (r == -EACCES)
		return denied("PutLifecycleConfiguration", "versioning is on "
			      "without a lifecycle rule: pruned backups stay "
			      "as noncurrent versions");
	if (r == 0)
		printf("bucket: lifecycle rule: noncurrent versions under %s "
		       "expire after %d days, unfinished uploads after 7\n", p,
		       keep > 0 ? keep : 30);
	return r;
}

/* ---- the command ------------------------------------------------------------ */

static int add_item(char **v, size_t *n, const char *s)
{
	if (*n >= LIST_MAX)
		return -E2BIG;
	v[*n] = strdup(s);
	if (!v[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static void answers_release(struct answers *an)
{
	size_t i;

	for (i = 0; i < an->nsources; i++)
		free(an->sources[i]);
	for (i = 0; i < an->nexcludes; i++)
		free(an->excludes[i]);
}

/* what the options ask for beside the settings */
struct setup_opts {
	const char *import;	/* --import PATH */
	int yes, versioning, force, notest, nosched, print;
};

#define GO_ON (-1)	/* setup_options(): the options are good */

/* the settings given as options into given, the rest into so: GO_ON, or
 * the exit code to return now */
static int setup_options(int argc, char **argv, struct answers *given,
			 struct setup_opts *so)
{
	enum { O_IMPORT = 256, O_STORE, O_BUCKET, O_ENDPOINT, O_REGION,
	       O_PREFIX, O_INSTANCE, O_PROVIDER, O_KEYFILE, O_PASSFILE,
	       O_KMSKEY, O_SOURCE, O_EXCLUDE, O_ROLE, O_SCHEDULE, O_KEEP,
	       O_VERSIONING, O_FORCE, O_NOTEST, O_NOSCHED, O_PRINT, O_CRON };
	static const struct option opts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "import", required_argument, NULL, O_IMPORT },
		{ "store", required_argument, NULL, O_STORE },
		{ "bucket", required_argument, NULL, O_BUCKET },
		{ "endpoint", required_argument, NULL, O_ENDPOINT },
		{ "region", required_argument, NULL, O_REGION },
		{ "prefix", required_argument, NULL, O_PREFIX },
		{ "instance", required_argument, NULL, O_INSTANCE },
		{ "key-provider", required_argument, NULL, O_PROVIDER },
		{ "key-file", required_argument, NULL, O_KEYFILE },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "kms-key-id", required_argument, NULL, O_KMSKEY },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "exclude", required_argument, NULL, O_EXCLUDE },
		{ "role", required_argument, NULL, O_ROLE },
		{ "schedule", required_argument, NULL, O_SCHEDULE },
		{ "cron", required_argument, NULL, O_CRON },
		{ "keep", required_argument, NULL, O_KEEP },
		{ "versioning", no_argument, NULL, O_VERSIONING },
		{ "force", no_argument, NULL, O_FORCE },
		{ "no-test", no_argument, NULL, O_NOTEST },
		{ "no-schedule", no_argument, NULL, O_NOSCHED },
		{ "print-schedule", no_argument, NULL, O_PRINT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "yh", opts, NULL)) != -1) {
		switch (c) {
		case 'y': so->yes = 1; break;
		case O_IMPORT: so->import = optarg; break;
#define GIVE(o, f) case o: snprintf(given->f, sizeof(given->f), "%s", optarg); break
		GIVE(O_STORE, store);
		GIVE(O_BUCKET, bucket);
		GIVE(O_ENDPOINT, endpoint);
		GIVE(O_REGION, region);
		GIVE(O_PREFIX, prefix);
		GIVE(O_INSTANCE, instance);
		GIVE(O_PROVIDER, provider);
		GIVE(O_KEYFILE, key_file);
		GIVE(O_PASSFILE, pass_file);
		GIVE(O_KMSKEY, kms_key);
		GIVE(O_ROLE, role);
		GIVE(O_SCHEDULE, schedule);
		GIVE(O_CRON, cron);
#undef GIVE
		case O_SOURCE:
			if (add_item(given->sources, &given->nsources, optarg) < 0)
				return ocb_usage(&ocb_cmd_setup);
			break;
		case O_EXCLUDE:
			if (add_item(given->excludes, &given->nexcludes, optarg) < 0)
				return ocb_usage(&ocb_cmd_setup);
			break;
		case O_KEEP: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' || *end || v > 100000) {
				fprintf(stderr, "ocb: --keep takes a number "
					"(0 keeps all)\n");
				return OCB_EXIT_USAGE;
			}
			given->keep = (int)v;
			break;
		}
		case O_VERSIONING: so->versioning = 1; break;
		case O_FORCE: so->force = 1; break;
		case O_NOTEST: so->notest = 1; break;
		case O_NOSCHED: so->nosched = 1; break;
		case O_PRINT: so->print = 1; break;
		case 'h': printf("%s", usage); return 0;
		default: return ocb_usage(&ocb_cmd_setup);
		}
	}
	if (optind != argc)
		return ocb_usage(&ocb_cmd_setup);
	return GO_ON;
}

/* where the config goes: --config, else $OCB_CONFIG, else the default */
static void config_path(const struct ocb_ctx *ctx, const char *home,
			char *out, size_t size)
{
	if (ctx->config_path)
		snprintf(out, size, "%s", ctx->config_path);
	else if (getenv("OCB_CONFIG"))
		snprintf(out, size, "%s", getenv("OCB_CONFIG"));
	else
		snprintf(out, size, "%s/.config/ocb/config.json",
			 home ? home : "");
}

/*
 * The answers before any question: the defaults, then the old config
 * (--import, whose document *doc becomes; else an empty one), then the
 * options.  0 or the exit code.
 */
static int start_answers(struct answers *an, const struct answers *given,
			 const char *import, const char *home, cJSON **doc)
{
	char *text = NULL;
	int r;

	snprintf(an->provider, sizeof(an->provider), "keyfile");
	snprintf(an->key_file, sizeof(an->key_file), "%s/.config/ocb/key",
		 home ? home : "");
	if (import) {
		r = read_file(import, &text);
		if (r < 0)
			return ocb_fail(r, "--import %s", import);
		*doc = cJSON_Parse(text);
		free(text);
		if (!cJSON_IsObject(*doc)) {
			fprintf(stderr, "ocb: --import %s: not a JSON object\n",
				import);
			return OCB_EXIT_CONFIG;
		}
		from_import(an, *doc);
	} else {
		*doc = cJSON_CreateObject();
	}
	if (!an->instance[0])
		default_instance(an->instance, sizeof(an->instance));
	if (!an->region[0])
		default_region(an->region, sizeof(an->region));
#define TAKE(f) if (given->f[0]) snprintf(an->f, sizeof(an->f), "%s", given->f)
	TAKE(store); TAKE(bucket); TAKE(endpoint); TAKE(region); TAKE(prefix);
	TAKE(instance); TAKE(provider); TAKE(key_file); TAKE(pass_file);
	TAKE(kms_key); TAKE(role); TAKE(schedule); TAKE(cron);
#undef TAKE
	if (given->keep >= 0)
		an->keep = given->keep;
	return 0;
}

/* the store (and for S3 its endpoint and region): 0 or -EINVAL */
static int ask_store(int tty, struct answers *an)
{
	if (!an->store[0])
		snprintf(an->store, sizeof(an->store), "%s%s", an->bucket[0] ?
			 "s3://" : "file://~/.local/share/ocb/store",
			 an->bucket);
	ask(tty, "Store (s3://BUCKET or file:///DIR)", an->store,
	    sizeof(an->store));
	if (!strncmp(an->store, "s3://", 5)) {
		snprintf(an->bucket, sizeof(an->bucket), "%.*s",
			 (int)strcspn(an->store + 5, "/"), an->store + 5);
		ask(tty, "S3 endpoint (empty: AWS)", an->endpoint,
		    sizeof(an->endpoint));
		ask(tty, "Region", an->region, sizeof(an->region));
	} else if (strncmp(an->store, "file://", 7) != 0) {
		fprintf(stderr, "ocb: store %s: use s3://BUCKET or file:///DIR\n",
			an->store);
		return -EINVAL;
	}
	return 0;
}

/* the key provider and what it needs: 0 or -EINVAL */
static int ask_key(int tty, struct answers *an)
{
	ask(tty, "Key provider (keyfile, passphrase, kms, none)", an->provider,
	    sizeof(an->provider));
	if (!strcmp(an->provider, "keyfile"))
		ask(tty, "Key file", an->key_file, sizeof(an->key_file));
	else if (!strcmp(an->provider, "kms"))
		ask(tty, "KMS key id or alias", an->kms_key, sizeof(an->kms_key));
	else if (!strcmp(an->provider, "passphrase"))
		ask(tty, "Passphrase file (empty: ask at each backup)",
		    an->pass_file, sizeof(an->pass_file));
	else if (strcmp(an->provider, "none") != 0) {
		fprintf(stderr, "ocb: key provider %s: use keyfile, "
			"passphrase, kms or none\n", an->provider);
		return -EINVAL;
	}
	return 0;
}

/* what to back up: the --source options, else the one directory asked
 * for; and the --exclude options */
static void ask_sources(int tty, struct answers *an,
			const struct answers *given, const char *home)
{
	size_t i;

	for (i = 0; i < given->nsources; i++)
		add_item(an->sources, &an->nsources, given->sources[i]);
	if (!an->nsources) {
		char s[PATH_MAX], def[PATH_MAX];

		snprintf(def, sizeof(def), "%s/.openclaw", home ? home : "");
		snprintf(s, sizeof(s), "%s", def);
		ask(tty, "Directory to back up", s, sizeof(s));
		/* the default is not written: the config then takes what
		 * OpenClaw itself backs up (with what lies outside it) */
		if (strcmp(s, def) != 0)
			add_item(an->sources, &an->nsources, s);
	}
	for (i = 0; i < given->nexcludes; i++)
		add_item(an->excludes, &an->nexcludes, given->excludes[i]);
}

/* the role, the schedule (by default the role's) and how many to keep */
static void ask_schedule(int tty, struct answers *an)
{
	char keep[16];

	ask(tty, "Agent role (manager, librarian, worker-stateful, "
	    "worker-ephemeral, access-service)",
	    an->role, sizeof(an->role));
	if (!an->schedule[0])
		snprintf(an->schedule, sizeof(an->schedule), "%s",
			 role_schedule(an->role));
	ask(tty, "Schedule (hourly, 6h, daily, weekly, custom, manual)",
	    an->schedule, sizeof(an->schedule));
	if (!strcmp(an->schedule, "custom"))
		ask(tty, "Cron expression (M H DOM MON DOW)", an->cron,
		    sizeof(an->cron));
	snprintf(keep, sizeof(keep), "%d", an->keep);
	ask(tty, "Backups to keep (0: all)", keep, sizeof(keep));
	an->keep = atoi(keep);
}

/* every question, in order: 0 or -EINVAL (an answer not understood) */
static int ask_all(int tty, struct answers *an, const struct answers *given,
		   const char *home)
{
	int r = ask_store(tty, an);

	if (r < 0)
		return r;
	ask(tty, "Instance id", an->instance, sizeof(an->instance));
	r = ask_key(tty, an);
	if (r < 0)
		return r;
	ask_sources(tty, an, given, home);
	ask_schedule(tty, an);
	return 0;
}

/* the answers into doc, written to cfgpath: 0 or the exit code */
static int write_config(cJSON *doc, const struct answers *an,
			const char *cfgpath)
{
	char *out;
	int r;

	build(doc, an);
	out = cJSON_Print(doc);
	if (!out)
		return ocb_fail(-ENOMEM, "config");
	r = write_private(cfgpath, out);
	free(out);
	if (r < 0)
		return ocb_fail(r, "writing %s", cfgpath);
	printf("config: %s (mode 0600)\n", cfgpath);
	return 0;
}

/* the key file, generated unless it exists: 0 or the exit code */
static int setup_key_file(const struct ocb_config *cfg)
{
	int r = ocb_key_file_generate(cfg->key_file);

	if (r == 0)
		printf("key: new key file %s (mode 0600): keep a copy "
		       "somewhere safe\n", cfg->key_file);
	else if (r == -EEXIST)
		printf("key: using the existing key file %s\n", cfg->key_file);
	else
		return ocb_fail(r, "key file %s", cfg->key_file);
	return 0;
}

/* the bucket, created when missing, its versioning (turned on with
 * versioning) and lifecycle, and its SSE-KMS default: 0 or the exit code */
static int setup_bucket(const struct ocb_config *cfg, int versioning,
			int keep)
{
	struct ocb_store *bare = NULL;
	int r = ocb_store_open_bare(cfg->store_url, cfg, &bare);

	if (r == 0)
		r = ocb_bucket_create(bare);
	if (r == 0 && versioning) {
		r = ocb_bucket_enable_versioning(bare);
		if (r == -EACCES)
			fprintf(stderr, "ocb: s3:PutBucketVersioning is "
				"denied: allow it on the bucket "
				"(docs/iam/), or leave out "
				"--versioning\n");
	}
	if (r == 0)
		r = versions_expire(bare, cfg->prefix, keep, &versioning);
	ocb_store_free(bare);
	if (r < 0)
		return ocb_fail(r, "bucket %s", cfg->bucket);
	printf("bucket: %s ready%s\n", cfg->bucket,
	       versioning ? ", versioning on" : "");
	/* SSE-KMS with a key the running libcurl cannot sign: the bucket's
	 * default encryption set to it when the bucket has none */
	sse_report_print(cfg, 1, "bucket: ", "bucket: WARNING: ");
	return 0;
}

/* the same probes as `ocb doctor`, on the config just written */
static int run_doctor(const char *cfgpath, int quiet)
{
	char *dargv[] = { "doctor", NULL };
	struct ocb_ctx d = { .config_path = cfgpath, .quiet = quiet };
	int rc = ocb_cmd_doctor.exec(&d, 1, dargv);

	ocb_ctx_release(&d);
	return rc;
}

/* a tiny backup written, read back and deleted: 0 or the exit code */
static int run_test(struct ocb_ctx *probe)
{
	struct ocb_keyprov *kp = NULL;
	int r, rc = ocb_ctx_keyprov(probe, &kp);

	if (rc)
		return rc;
	r = test_roundtrip(probe, kp);
	ocb_keyprov_free(kp);
	if (r < 0)
		return ocb_fail(r, "test backup and restore");
	printf("test: a backup was written, read back and deleted\n");
	return 0;
}

/*
 * From the config just written: the key, the store (and bucket), the
 * doctor's probes, the test backup, and the schedule sch installed.
 * 0 or the exit code.
 */
static int setup_apply(struct ocb_ctx *ctx, const struct answers *an,
		       const struct setup_opts *so, struct ocb_sched *sch)
{
	struct ocb_ctx probe = { .config_path = sch->config,
				 .quiet = ctx->quiet };
	char msg[1400], num[16];
	int rc = ocb_ctx_config(&probe);

	if (rc)
		goto out;
	ocb_sources_describe(probe.cfg, msg, sizeof(msg));
	printf("%s\n", msg);
	if (!strcmp(an->provider, "keyfile")) {
		rc = setup_key_file(probe.cfg);
		if (rc)
			goto out;
	}
	rc = ocb_ctx_store(&probe, NULL);
	if (rc == 0 && probe.cfg->bucket)
		rc = setup_bucket(probe.cfg, so->versioning, an->keep);
	if (rc == 0)
		rc = run_doctor(sch->config, ctx->quiet);
	if (rc == 0 && !so->notest)
		rc = run_test(&probe);
	if (rc)
		goto out;
	if (!so->nosched && strcmp(an->schedule, "manual") != 0 &&
	    ocb_sched_install(sch) < 0) {
		fprintf(stderr, "ocb: the schedule is not installed "
			"(see above, and `ocb setup --print-schedule`); "
			"everything else is set up\n");
		rc = OCB_EXIT_FAIL;
		goto out;
	}
	snprintf(num, sizeof(num), "%d", an->keep);
	printf("ready: instance %s, %s backups, keeping %s\n",
	       probe.cfg->instance_id, an->schedule, an->keep ? num : "all");
out:
	ocb_ctx_release(&probe);
	return rc;
}

static int setup_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct answers an = { .keep = 30 };
	struct answers given = { .keep = -1 };
	struct setup_opts so = { 0 };
	struct ocb_sched sch = { 0 };
	const char *home = getenv("HOME");
	char cfgpath[PATH_MAX];
	cJSON *doc = NULL;
	struct stat st;
	int r, rc;

	rc = setup_options(argc, argv, &given, &so);
	if (rc != GO_ON)
		goto out;
	config_path(ctx, home, cfgpath, sizeof(cfgpath));
	if (!so.print && !so.force && stat(cfgpath, &st) == 0) {
		fprintf(stderr, "ocb: %s exists; use --force to replace it (or "
			"--print-schedule to only see the schedule)\n", cfgpath);
		rc = OCB_EXIT_CONFIG;
		goto out;
	}
	rc = start_answers(&an, &given, so.import, home, &doc);
	if (rc)
		goto out;
	sch.schedule = an.schedule;
	sch.cron = an.cron;
	sch.config = cfgpath;
	if (ask_all(!so.yes && isatty(STDIN_FILENO), &an, &given, home) < 0 ||
	    ocb_sched_check(&sch) < 0) {
		rc = OCB_EXIT_USAGE;
		goto out;
	}
	if (so.print) {
		r = ocb_sched_print(&sch, stdout);
		rc = r < 0 ? ocb_fail(r, "schedule") : 0;
		goto out;
	}
	rc = write_config(doc, &an, cfgpath);
	if (rc == 0)
		rc = setup_apply(ctx, &an, &so, &sch);
out:
	answers_release(&an);
	answers_release(&given);
	cJSON_Delete(doc);
	return rc;
}

const struct ocb_cmd ocb_cmd_setup = {
	.name = "setup",
	.summary = "configure ocb: store, key, test backup, schedule",
	.usage = usage,
	.exec = setup_exec,
};
