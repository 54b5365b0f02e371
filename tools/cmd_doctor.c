/*
 * cmd_doctor.c - `ocb doctor`: check config, credentials, endpoint, clock
 * and bucket access, and say how to fix what is wrong.
 */
#include "cmd.h"
#include "creds.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: ocb doctor\n"
	"\n"
	"Checks the configuration, credentials, endpoint reachability, clock\n"
	"skew against the server, bucket access (put, get and delete of a small\n"
	"probe object under the instance prefix) and the key file.  Prints one\n"
	"line per check; exits non-zero with the code of the first failure.\n";

static int first_fail;

static void report(int ok, int code, const char *what, const char *fix)
{
	printf("%-8s %s%s%s\n", ok ? "ok" : "FAILED", what,
	       !ok && fix ? "\n         fix: " : "", !ok && fix ? fix : "");
	if (!ok && !first_fail)
		first_fail = code;
}

static size_t date_header(char *line, size_t size, size_t n, void *arg)
{
	if (size * n > 5 && !strncasecmp(line, "date:", 5)) {
		char *d = arg;

		snprintf(d, 64, "%.*s", (int)(size * n - 5), line + 5);
	}
	return size * n;
}

/* reachability and clock skew with a plain unsigned request */
static void check_endpoint(const struct ocb_config *cfg)
{
	char url[512], date[64] = "", msg[600];
	CURL *c = curl_easy_init();
	CURLcode cc;

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
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, date_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)date);
	if (cfg->insecure_tls)
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "endpoint %s: %s", url,
			 curl_easy_strerror(cc));
		report(0, OCB_EXIT_NETWORK, msg,
		       "check s3.endpoint / AWS_ENDPOINT_URL and the network");
		return;
	}
	snprintf(msg, sizeof(msg), "endpoint %s answers", url);
	report(1, 0, msg, NULL);
	if (date[0]) {
		time_t server = curl_getdate(date, NULL);
		long skew = server > 0 ? (long)(time(NULL) - server) : 0;

		snprintf(msg, sizeof(msg), "clock skew %+ld s against the server",
			 skew);
		report(skew < 300 && skew > -300, OCB_EXIT_ACCESS, msg,
		       "set the clock (e.g. enable NTP): requests signed more "
		       "than 5 minutes off are refused");
	}
}

static void check_key(const struct ocb_config *cfg)
{
	struct stat st;
	char msg[600];

	if (strcmp(cfg->key_provider, "keyfile") != 0) {
		snprintf(msg, sizeof(msg), "key provider %s", cfg->key_provider);
		report(1, 0, msg, NULL);
		return;
	}
	if (stat(cfg->key_file, &st) < 0) {
		snprintf(msg, sizeof(msg), "key file %s: %s", cfg->key_file,
			 strerror(errno));
		report(0, OCB_EXIT_CONFIG, msg, "create one: ocb key generate");
		return;
	}
	snprintf(msg, sizeof(msg), "key file %s (mode %03o, %lld bytes)",
		 cfg->key_file, st.st_mode & 0777, (long long)st.st_size);
	report(!(st.st_mode & 077) && st.st_size == 32, OCB_EXIT_CONFIG, msg,
	       "the key file must be 32 bytes and mode 0600 (chmod 600)");
}

static void check_store(struct ocb_ctx *ctx)
{
	struct ocb_store *s = ctx->store;
	char key[1200], msg[1400], buf[64];
	struct ocb_obj_head h = { 0 };
	int r;

	snprintf(key, sizeof(key), "%s/.ocb-doctor-%ld", ctx->cfg->prefix,
		 (long)getpid());
	r = ocb_store_put_mem(s, key, "ocb doctor probe\n", 17, NULL);
	if (r == 0)
		r = ocb_store_read(s, key, 0, sizeof(buf), buf) == 17 ? 0 : -EIO;
	if (r == 0)
		r = s->ops->head(s, key, &h);
	ocb_obj_head_release(&h);
	if (r == 0)
		r = s->ops->del(s, key);
	snprintf(msg, sizeof(msg), "put, get and delete in %s under %s%s%s",
		 s->desc, ctx->cfg->prefix, r ? ": " : "",
		 r ? ocb_store_strerror(r) : "");
	report(r == 0, ocb_exit_code(r), msg,
	       r == -ENOENT ? "create the bucket (ocb setup, or aws s3 mb)" :
	       r == -EACCES ? "check the credentials and the bucket policy" :
	       "check the endpoint and that the server runs");
}

static int doctor_exec(struct ocb_ctx *ctx, int argc, char **argv)
{
	struct ocb_creds_value v;
	struct ocb_creds *cr;
	char msg[600];
	int r;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			printf("%s", usage);
			return 0;
		}
		return ocb_usage(&ocb_cmd_doctor);
	}
	first_fail = 0;
	r = ocb_ctx_config(ctx);
	snprintf(msg, sizeof(msg), "config %s", ctx->cfg && ctx->cfg->path ?
		 ctx->cfg->path : ctx->cfg ? "(built-in defaults)" :
		 "could not be loaded");
	report(r == 0, r, msg, "see the message above");
	if (r)
		return r;
	snprintf(msg, sizeof(msg), "store %s, instance %s, prefix %s",
		 ctx->cfg->store_url, ctx->cfg->instance_id, ctx->cfg->prefix);
	report(1, 0, msg, NULL);
	if (!strncmp(ctx->cfg->store_url, "s3://", 5)) {
		r = ocb_creds_new(ctx->cfg->profile, &cr);
		if (r == 0) {
			r = ocb_creds_get(cr, &v);
			if (r == 0) {
				snprintf(msg, sizeof(msg),
					 "credentials from %s (access key %.4s...)",
					 v.source, v.access_key);
				ocb_creds_value_clear(&v);
			}
			ocb_creds_free(cr);
		}
		if (r < 0)
			snprintf(msg, sizeof(msg), "credentials: none found");
		report(r == 0, OCB_EXIT_ACCESS, msg,
		       "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile "
		       "in ~/.aws/credentials, or an instance role");
		if (r < 0)
			return first_fail;
		check_endpoint(ctx->cfg);
		if (first_fail)
			return first_fail;
	}
	r = ocb_ctx_store(ctx, NULL);
	if (r)
		return r;
	check_store(ctx);
	check_key(ctx->cfg);
	return first_fail;
}

const struct ocb_cmd ocb_cmd_doctor = {
	.name = "doctor",
	.summary = "check configuration, credentials and store access",
	.usage = usage,
	.exec = doctor_exec,
};
