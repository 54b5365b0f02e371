/*
 * cmd_doctor.c - `ocb doctor`: check config, credentials, endpoint, clock
 * and bucket access, and say how to fix what is wrong.
 *
 * The clock check needs the server's Date header, which the store
 * interface does not expose: a plain unsigned curl HEAD of the endpoint
 * gives it (any answer, even 403, carries a Date), and tells at the same
 * time whether the endpoint is reachable at all.
 */
#include "buf.h"
#include "cmd.h"
#include "creds.h"
#include "crypto.h"
#include "keys.h"
#include "keys_config.h"
#include "kms.h"
#include "log.h"
#include "openclaw.h"
#include "bucket.h"
#include "sse_report.h"
#include "store_open.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SKEW_MAX 300	/* seconds; SigV4 refuses requests 15 min off, AWS
			 * warns at 5: be strict */

static const char usage[] =
	"usage: ocb doctor\n"
	"\n"
	"Checks, one line each (ok or FAILED with how to fix it):\n"
	"  config       which file was read (or the built-in defaults), parsed,\n"
	"               not writable by others and owned by you (a note when\n"
	"               others can read it)\n"
	"  sources      what a backup takes: the config's sources, or without\n"
	"               any, what `openclaw backup create --dry-run` names\n"
	"               (else ~/.openclaw)\n"
	"  credentials  for S3: which source (environment, profile, instance\n"
	"               role); secrets are never printed\n"
	"  endpoint     reachable, with the server's clock within 5 minutes\n"
	"               of ours (signed requests fail otherwise)\n"
	"  store        put, get, head, list and delete of a small probe object\n"
	"               under the instance prefix, naming the denied action\n"
	"               (s3:PutObject, GetObject, ListBucket, DeleteObject);\n"
	"               for a local store: the directory exists and is writable\n"
	"  create-only  a create-only put of the existing probe object is\n"
	"               refused: native (If-None-Match: *) or emulated (the\n"
	"               server answered 501; see docs/FORMAT.md)\n"
	"  uploads      for S3: listing and aborting multipart uploads is\n"
	"               allowed (a warning naming the permission otherwise)\n"
	"  versioning   for S3: a warning when versioning is on without a\n"
	"               lifecycle rule\n"
	"  sse          for SSE-KMS with a key (s3.sse aws:kms) and a libcurl\n"
	"               older than 8.10, which cannot sign the key id header:\n"
	"               whether the bucket's default encryption is that key\n"
	"               (a warning otherwise)\n"
	"  key          the key file exists, is 32 bytes and mode 0600; for\n"
	"               kms: a GenerateDataKey and Decrypt round trip, naming\n"
	"               the denied one (kms:ViaService policies deny both)\n"
	"Exits 0 when every check passes, else with the exit code of the first\n"
	"failure (3 config, 4 credentials or access, 5 bucket missing,\n"
	"6 network, 9 KMS key missing or disabled).\n";

struct doctor {
	int first_fail;		/* exit code of the first failed check */
};

static void report(struct doctor *d, int ok, int code, const char *what,
		   const char *fix)
{
	printf("%-8s %s\n", ok ? "ok" : "FAILED", what);
	if (!ok && fix)
		printf("         fix: %s\n", fix);
	fflush(stdout);
	if (!ok && !d->first_fail)
		d->first_fail = code ? code : OCB_EXIT_FAIL;
}

static size_t date_header(char *line, size_t size, size_t n, void *arg)
{
	size_t len = size * n;

	if (len > 5 && !strncasecmp(line, "date:", 5)) {
		char *d = arg;
		int l = (int)(len - 5);

		/* header lines end in CRLF; curl_getdate ignores the rest */
		snprintf(d, 64, "%.*s", l > 63 ? 63 : l, line + 5);
	}
	return len;
}

/* reachability and clock skew with a plain unsigned request */
static void check_endpoint(struct doctor *d, const struct ocb_config *cfg)
{
	char url[512], date[64] = "", msg[700];
	CURL *c = curl_easy_init();
	CURLcode cc;

	if (!c) {
		report(d, 0, OCB_EXIT_FAIL, "endpoint: out of memory", NULL);
		return;
	}
	if (cfg->endpoint)
		snprintf(url, sizeof(url), "%s/", cfg->endpoint);
	else
		snprintf(url, sizeof(url), "https://s3.%s.amazonaws.com/",
			 cfg->region);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, date_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)date);
	if (cfg->insecure_tls) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "endpoint %s: %s", url,
			 curl_easy_strerror(cc));
		report(d, 0, OCB_EXIT_NETWORK, msg,
		       cc == CURLE_PEER_FAILED_VERIFICATION ?
		       "the server's TLS certificate is not trusted: install "
		       "its CA, or set s3.insecureTls (not on the Internet)" :
		       "check s3.endpoint (or AWS_ENDPOINT_URL_S3, "
		       "AWS_ENDPOINT_URL, the profile's endpoint_url), that the "
		       "server runs, and the network");
		return;
	}
	snprintf(msg, sizeof(msg), "endpoint %s answers", url);
	report(d, 1, 0, msg, NULL);
	if (date[0]) {
		time_t server = curl_getdate(date, NULL);
		long skew = server > 0 ? (long)(time(NULL) - server) : 0;

		snprintf(msg, sizeof(msg), "clock skew %+ld s against the server",
			 skew);
		report(d, server > 0 && skew < SKEW_MAX && skew > -SKEW_MAX,
		       OCB_EXIT_ACCESS, msg,
		       "set the clock (e.g. enable NTP: timedatectl "
		       "set-ntp true); requests signed more than a few minutes "
		       "off are refused");
	} else {
		report(d, 1, 0, "clock skew not checked (no Date header)", NULL);
	}
}

/* what ocb does with the old tool's settings it keeps but does not act on */
static void note_old_fields(const struct ocb_config *cfg)
{
	char *v = NULL;

	if (ocb_config_extra(cfg, "memoryProtection.enabled", &v) == 0 &&
	    !strcmp(v, "true"))
		printf("note     memoryProtection: kept, not acted on: ocb leaves "
		       "the agent's service, its swap and its memory limits as "
		       "they are; ocb's own backup service runs with "
		       "MemoryMax=256M\n");
	free(v);
	v = NULL;
	if (cfg->enc_enabled && cfg->enc_method &&
	    !strcmp(cfg->enc_method, "gpg") &&
	    ocb_config_extra(cfg, "encryption.keyProvider", &v) < 0)
		printf("note     encryption.method gpg: the old tool never "
		       "applied it (its backups are plain gzip); ocb encrypts "
		       "new backups with the key file %s\n", cfg->key_file);
	free(v);
}

static void check_config(struct doctor *d, struct ocb_ctx *ctx, int r)
{
	char msg[700];
	struct stat st = { 0 };

	if (r) {
		report(d, 0, r, "config could not be used",
		       "see the message above");
		return;
	}
	if (!ctx->cfg->path) {
		report(d, 1, 0, "config: none found, built-in defaults (a local "
		       "store under ~/.local/share/ocb/store)", NULL);
		return;
	}
	if (stat(ctx->cfg->path, &st) == 0)
		snprintf(msg, sizeof(msg), "config %s (mode %03o, owner uid %u)",
			 ctx->cfg->path, st.st_mode & 0777, st.st_uid);
	else
		snprintf(msg, sizeof(msg), "config %s", ctx->cfg->path);
	report(d, 1, 0, msg, NULL);
	if (S_ISREG(st.st_mode) && (st.st_mode & 044))
		printf("note     config %s is readable by group or others: it "
		       "holds no secrets, but chmod 600 keeps bucket and key "
		       "names private\n", ctx->cfg->path);
	note_old_fields(ctx->cfg);
}

/* 0 when credentials were found */
static int check_creds(struct doctor *d, const struct ocb_config *cfg)
{
	struct ocb_creds_value v;
	struct ocb_creds *cr = NULL;
	char msg[700];
	int r;

	r = ocb_creds_new(cfg->profile, &cr);
	if (r == 0)
		r = ocb_creds_get(cr, &v);
	ocb_creds_free(cr);
	if (r == 0) {
		/* the access key id is not secret; its first 4 characters
		 * tell which key it is without printing it */
		snprintf(msg, sizeof(msg), "credentials from %s (access key %.4s...)",
			 v.source, v.access_key);
		ocb_creds_value_clear(&v);
		report(d, 1, 0, msg, NULL);
		return 0;
	}
	snprintf(msg, sizeof(msg), "credentials: %s", r == -ENOKEY ?
		 "none found" : ocb_store_strerror(r));
	report(d, 0, OCB_EXIT_ACCESS, msg,
	       "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile in "
	       "~/.aws/credentials (s3.profile or AWS_PROFILE), or an "
	       "instance role");
	return r;
}

/* how the store layers did create-only puts: the s3 stats lines */
static const char *cond_put_mode(struct ocb_store *s)
{
	static const char *const modes[] = { "native", "emulated" };
	struct ocb_buf st;
	const char *m = NULL;
	char line[64];
	size_t i;

	ocb_buf_init(&st, 1 << 16);
	s->ops->stats(s, &st);
	for (i = 0; st.data && i < 2; i++) {
		snprintf(line, sizeof(line), "s3_conditional_put_%s 1\n",
			 modes[i]);
		if (strstr(st.data, line))
			m = modes[i];
	}
	ocb_buf_release(&st);
	return m;
}

/* a create-only put of the existing key must be refused */
static void check_create(struct doctor *d, struct ocb_store *s,
			 const char *key)
{
	struct ocb_put_opts po = { .if_none_match = 1 };
	const char *mode;
	char msg[600];
	int r;

	r = ocb_store_put_mem(s, key, "ocb doctor probe 2\n", 19, &po);
	mode = cond_put_mode(s);
	if (r == -EEXIST) {
		snprintf(msg, sizeof(msg), "create-only writes: %s",
			 !mode ? "refused over an existing object" :
			 !strcmp(mode, "native") ?
			 "native (If-None-Match: * answered 412)" :
			 "emulated (the server answered 501 to If-None-Match: "
			 "*): HEAD before and after each PUT, see "
			 "docs/FORMAT.md");
		report(d, 1, 0, msg, NULL);
		return;
	}
	if (r == 0) {
		/* a warning, not a failure: RGW does this on a versioned
		 * bucket, where the replaced object stays as an older
		 * version */
		printf("%-8s create-only writes: the server ignored "
		       "If-None-Match: * and replaced an existing object\n"
		       "         note: on a versioned bucket the replaced "
		       "object stays as an older version; otherwise two "
		       "writers of one instance in the same second could "
		       "replace one another (see docs/FORMAT.md)\n",
		       "WARNING");
		fflush(stdout);
		return;
	}
	snprintf(msg, sizeof(msg), "create-only writes: %s",
		 ocb_store_strerror(r));
	report(d, 0, ocb_exit_code(r), msg,
	       "check the endpoint and that the server runs");
}

static int count_entry(void *arg, const struct ocb_list_entry *e)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static void check_store(struct doctor *d, struct ocb_ctx *ctx)
{
	const struct ocb_config *cfg = ctx->cfg;
	struct ocb_obj_head h = { 0 };
	char key[1200], msg[1600], buf[64];
	struct ocb_store *s;
	const char *fix, *step;
	int r, n = 0, local = !strncmp(cfg->store_url, "file://", 7);

	r = ocb_store_open(cfg, &ctx->store);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "store %s: %s", cfg->store_url,
			 ocb_store_strerror(r));
		report(d, 0, ocb_exit_code(r), msg, local ?
		       "create the directory (mkdir -p), or fix store in the "
		       "config" : "fix store / s3.bucket in the config");
		return;
	}
	s = ctx->store;
	snprintf(key, sizeof(key), "%s/.ocb-doctor-%ld-%ld", cfg->prefix,
		 (long)getpid(), (long)time(NULL));
	step = "s3:PutObject";
	r = ocb_store_put_mem(s, key, "ocb doctor probe\n", 17, NULL);
	if (r == 0) {
		ssize_t got;

		step = "s3:GetObject";
		got = ocb_store_read(s, key, 0, sizeof(buf), buf);
		r = got < 0 ? (int)got : got == 17 &&
			!memcmp(buf, "ocb doctor probe\n", 17) ? 0 : -EIO;
	}
	if (r == 0)
		r = s->ops->head(s, key, &h);
	ocb_obj_head_release(&h);
	if (r == 0) {
		step = "s3:ListBucket";
		r = s->ops->list(s, key, NULL, NULL, count_entry, &n);
		if (r == 0 && n != 1)
			r = -EIO;
	}
	if (r == 0) {
		step = "s3:DeleteObject";
		r = s->ops->del(s, key);
	} else {
		s->ops->del(s, key);	/* best effort: leave nothing */
	}
	snprintf(msg, sizeof(msg), "put, get, head, list and delete in %s under "
		 "%s%s%s%s%s", s->desc, cfg->prefix, r ? ": " : "",
		 r == -EACCES && !local ? step : "",
		 r == -EACCES && !local ? " is denied: " : "",
		 r ? ocb_store_strerror(r) : "");
	if (local)
		fix = "make the store directory writable by you";
	else if (r == -ENOENT)
		fix = "create the bucket (aws s3 mb s3://BUCKET) or fix s3.bucket";
	else if (r == -EACCES)
		fix = "check the secret key, the clock, and the bucket policy "
		      "(s3:PutObject, s3:GetObject, s3:DeleteObject, "
		      "s3:ListBucket on the prefix)";
	else
		fix = "check the endpoint and that the server runs";
	report(d, r == 0, ocb_exit_code(r), msg, fix);
	if (r == 0) {	/* again, for the create-only probe */
		r = ocb_store_put_mem(s, key, "ocb doctor probe\n", 17, NULL);
		if (r == 0)
			check_create(d, s, key);
		s->ops->del(s, key);
	}
}

/* versioning on without a lifecycle configuration: pruned backups stay
 * as noncurrent versions forever (a warning, not a failure) */
static void check_versions(const struct ocb_config *cfg)
{
	struct ocb_store *bare = NULL;
	int v, lc = 1;

	if (ocb_store_open_bare(cfg->store_url, cfg, &bare) < 0)
		return;
	v = ocb_bucket_versioning(bare);
	if (v > 0)
		lc = ocb_bucket_lifecycle_exists(bare);
	ocb_store_free(bare);
	if (v == -EACCES || lc == -EACCES)
		printf("warning  s3:%s is denied: whether pruned backups stay "
		       "as noncurrent versions cannot be checked\n"
		       "         fix: allow it on the bucket (docs/iam/)\n",
		       v == -EACCES ? "GetBucketVersioning" :
		       "GetLifecycleConfiguration");
	else if (v > 0 && lc == 0)
		printf("warning  bucket versioning is on without a lifecycle "
		       "rule: pruned backups stay as noncurrent versions "
		       "forever\n         fix: a rule expiring noncurrent "
		       "versions (NoncurrentVersionExpiration), e.g. ocb setup "
		       "--force sets one\n");
	else if (v > 0)
		printf("ok       bucket versioning on, with a lifecycle "
		       "configuration\n");
}


static int count_upload(void *arg, const char *key, const char *id,
			int64_t initiated)
{
	(void)key;
	(void)id;
	(void)initiated;
	(*(int *)arg)++;
	return 0;
}

/*
 * The permissions the stale-upload cleanup needs, which the old tool's IAM
 * policy lacks: listing uploads, and aborting one (an upload id that does
 * not exist: "no such upload" when allowed).  Denied: a warning naming the
 * action (backups still work, without the cleanup).
 */
static void check_uploads(struct ocb_store *s, const char *prefix)
{
	char key[1200];
	int n = 0, r;

	snprintf(key, sizeof(key), "%s/", prefix);
	r = s->ops->mpu_list(s, key, count_upload, &n);
	if (r == -EACCES)
		printf("warning  s3:ListBucketMultipartUploads is denied: uploads "
		       "left by killed backups are not cleaned up\n"
		       "         fix: allow it on the bucket (docs/iam/)\n");
	snprintf(key, sizeof(key), "%s/.ocb-doctor-abort", prefix);
	r = s->ops->mpu_abort(s, key, "ocb-doctor-no-such-upload");
	if (r == -EACCES)
		printf("warning  s3:AbortMultipartUpload is denied: uploads "
		       "left by killed backups are not cleaned up\n"
		       "         fix: allow it on the bucket's objects "
		       "(docs/iam/)\n");
}

/* KMS: a real GenerateDataKey, then Decrypt of its blob */
static void check_kms(struct doctor *d, struct ocb_ctx *ctx)
{
	const struct ocb_config *cfg = ctx->cfg;
	struct ocb_key_ctx kc = { .name = ".ocb-doctor",
				  .instance = cfg->instance_id };
	struct ocb_keyprov *kp = NULL;
	struct ocb_key_block blk;
	uint8_t id[16], *dk = NULL, *back = NULL;
	char msg[900];
	int r;

	const char *step = "kms:GenerateDataKey";

	r = ocb_keyprov_from_config(cfg, 1, &kp);
	if (r == 0)
		r = ocb_crypto_random(id, sizeof(id));
	if (r == 0)
		r = ocb_keyprov_wrap(kp, id, &kc, &dk, &blk);
	if (r == 0) {
		step = "kms:Decrypt";
		r = ocb_keyprov_unwrap(kp, id, &blk, &back);
	}
	if (r == 0 && CRYPTO_memcmp(dk, back, 32) != 0)
		r = -ENOKEY;
	ocb_crypto_key_free(dk);
	ocb_crypto_key_free(back);
	ocb_keyprov_free(kp);
	snprintf(msg, sizeof(msg), "KMS key %s: GenerateDataKey and Decrypt%s%s%s",
		 cfg->kms_key_id ? cfg->kms_key_id :
		 cfg->kms_key_alias ? cfg->kms_key_alias : "(none)",
		 r ? ": " : " round trip",
		 r == -EKEYREVOKED ? "the key is missing, disabled or pending "
		 "deletion" : r == -EPERM ? step : r ? ocb_store_strerror(r) : "",
		 r == -EPERM ? " is denied (a policy allowing KMS only "
		 "through S3, kms:ViaService, as the old tool's, does not "
		 "allow ocb's own calls)" : "");
	report(d, r == 0, ocb_exit_code(r), msg,
	       r == -EKEYREVOKED ? "fix encryption.kmsKeyId (a key id, ARN or "
	       "alias/NAME of an enabled key in this region)" :
	       r == -EPERM ? "add to the role " OCB_KMS_POLICY_FIX :
	       r == -EACCES ? "check the credentials (KMS refused the "
	       "signature)" : "check the KMS endpoint and region");
}

static void check_key(struct doctor *d, struct ocb_ctx *ctx)
{
	const struct ocb_config *cfg = ctx->cfg;
	struct stat st;
	char msg[700];

	if (!strcmp(cfg->key_provider, "kms")) {
		check_kms(d, ctx);
		return;
	}
	if (strcmp(cfg->key_provider, "keyfile") != 0) {
		snprintf(msg, sizeof(msg), "key provider %s", cfg->key_provider);
		report(d, 1, 0, msg, NULL);
		return;
	}
	if (stat(cfg->key_file, &st) < 0) {
		snprintf(msg, sizeof(msg), "key file %s: %s", cfg->key_file,
			 strerror(errno));
		report(d, 0, OCB_EXIT_CONFIG, msg,
		       errno == ENOENT ? "create one: ocb key generate" :
		       "make it readable by you");
		return;
	}
	snprintf(msg, sizeof(msg), "key file %s (mode %03o, %lld bytes)",
		 cfg->key_file, st.st_mode & 0777, (long long)st.st_size);
	report(d, !(st.st_mode & 077) && st.st_size == 32 &&
	       st.st_uid == geteuid(), OCB_EXIT_CONFIG, msg,
	       "the key file must be yours, 32 bytes and mode 0600 "
	       "(chmod 600)");
}

/* what a backup takes: the config's sources, or OpenClaw's own list */
static void check_sources(struct doctor *d, const struct ocb_config *cfg)
{
	char msg[1400];

	ocb_sources_describe(cfg, msg, sizeof(msg));
	report(d, 1, 0, msg, NULL);
}

static int doctor_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct doctor d = { 0 };
	char msg[1400];
	int r;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			printf("%s", usage);
			return 0;
		}
		return ocb_usage(&ocb_cmd_doctor);
	}
	r = ocb_ctx_config(ctx);
	check_config(&d, ctx, r);
	if (r)
		return d.first_fail;
	snprintf(msg, sizeof(msg), "store %s, instance %s, prefix %s",
		 ctx->cfg->store_url, ctx->cfg->instance_id, ctx->cfg->prefix);
	report(&d, 1, 0, msg, NULL);
	check_sources(&d, ctx->cfg);
	if (!strncmp(ctx->cfg->store_url, "s3://", 5)) {
		if (check_creds(&d, ctx->cfg) < 0)
			return d.first_fail;
		check_endpoint(&d, ctx->cfg);
		if (d.first_fail)
			return d.first_fail;
	}
	check_store(&d, ctx);
	if (!d.first_fail && !strncmp(ctx->cfg->store_url, "s3://", 5)) {
		check_uploads(ctx->store, ctx->cfg->prefix);
		check_versions(ctx->cfg);
		/* SSE-KMS with a key the running libcurl cannot sign:
		 * the bucket's default encryption must carry it (a
		 * warning when it does not) */
		sse_report_print(ctx->cfg, 0, "ok       ", "warning  ");
	}
	check_key(&d, ctx);
	return d.first_fail;
}

const struct ocb_cmd ocb_cmd_doctor = {
	.name = "doctor",
	.summary = "check configuration, credentials and store access",
	.usage = usage,
	.exec = doctor_exec,
};
