/*
 * Unit tests: the credential chain (environment, profile files) and the
 * AWS config lookups, with temporary files named by AWS_CONFIG_FILE and
 * AWS_SHARED_CREDENTIALS_FILE.  The instance metadata service is either
 * disabled or pointed at a closed loopback port: nothing leaves the host.
 */
#include "t.h"
#include "creds.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/ocb-creds-XXXXXX";
static char cred_path[64], conf_path[64];
static char last_line[512];

static void capture(void *arg, enum ocb_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	snprintf(last_line, sizeof(last_line), "%s", line);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void clear_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
	setenv("AWS_CONFIG_FILE", conf_path, 1);
}

/* resolve a fresh provider for profile; v receives the result */
static int get(const char *profile, struct ocb_creds_value *v)
{
	struct ocb_creds *c = NULL;
	int r = ocb_creds_new(profile, &c);

	if (r == 0)
		r = ocb_creds_get(c, v);
	ocb_creds_free(c);
	return r;
}

static const char credentials[] =
	"# comment\n"
	"[default]\n"
	"aws_access_key_id = AKDEFAULT\n"
	"aws_secret_access_key = default/secret+x=\n"
	"\n"
	"; another comment\n"
	"[bench]\r\n"
	"aws_access_key_id=AKBENCH\r\n"
	"  aws_secret_access_key   =   bench-secret   \r\n"
	"aws_session_token = TOKEN123\r\n"
	"[profile bench]\n"	/* the config file's form: not this file's */
	"aws_access_key_id = WRONG\n"
	"aws_secret_access_key = WRONG\n"
	"[nokeys]\n"
	"region = eu-west-1\n";

static const char config[] =
	"[default]\n"
	"region = us-east-1\n"
	"[profile bench]\n"
	"region = eu-central-1\n"
	"s3 =\n"
	"    endpoint_url = http://127.0.0.1:7480\n"
	"    addressing_style = path\n"
	"output = json\n"
	"[profile top]\n"
	"endpoint_url = http://top:1\n"
	"s3 =\n"
	"  endpoint_url = http://s3-only:2\n"
	"[profile cfgonly]\n"
	"aws_access_key_id = AKCFG\n"
	"aws_secret_access_key = cfg-secret\n"
	"[bench]\n"	/* the credentials file's form: not this file's */
	"region = WRONG\n";

static void test_env(void)
{
	struct ocb_creds_value v;

	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
	setenv("AWS_SESSION_TOKEN", "env-token", 1);
	CHECK_INT(get(NULL, &v), 0);
	CHECK_STR(v.source, "env");
	CHECK_STR(v.access_key, "AKENV");
	CHECK_STR(v.secret_key, "env-secret");
	CHECK_STR(v.session_token, "env-token");
	/* the environment wins over a named profile, as with aws */
	CHECK_INT(get("bench", &v), 0);
	CHECK_STR(v.source, "env");
	ocb_creds_value_clear(&v);
	CHECK_STR(v.secret_key, "");

	/* only one of the pair: ignored, the profile is used */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	CHECK_INT(get(NULL, &v), 0);
	CHECK_STR(v.source, "profile:default");
	CHECK_STR(v.access_key, "AKDEFAULT");
	ocb_creds_value_clear(&v);
	/* empty values count as unset */
	setenv("AWS_SECRET_ACCESS_KEY", "", 1);
	CHECK_INT(get(NULL, &v), 0);
	CHECK_STR(v.source, "profile:default");
	ocb_creds_value_clear(&v);
}

static void test_profiles(void)
{
	struct ocb_creds_value v;

	clear_env();
	CHECK_INT(get(NULL, &v), 0);
	CHECK_STR(v.source, "profile:default");
	CHECK_STR(v.access_key, "AKDEFAULT");
	CHECK_STR(v.secret_key, "default/secret+x=");
	CHECK_STR(v.session_token, "");

	/* by name, and through AWS_PROFILE; CRLF and spaces trimmed */
	CHECK_INT(get("bench", &v), 0);
	CHECK_STR(v.source, "profile:bench");
	CHECK_STR(v.access_key, "AKBENCH");
	CHECK_STR(v.secret_key, "bench-secret");
	CHECK_STR(v.session_token, "TOKEN123");
	setenv("AWS_PROFILE", "bench", 1);
	CHECK_INT(get(NULL, &v), 0);
	CHECK_STR(v.access_key, "AKBENCH");
	/* an explicit profile beats AWS_PROFILE */
	CHECK_INT(get("default", &v), 0);
	CHECK_STR(v.access_key, "AKDEFAULT");
	unsetenv("AWS_PROFILE");

	/* keys in the config file's [profile NAME] */
	CHECK_INT(get("cfgonly", &v), 0);
	CHECK_STR(v.source, "profile:cfgonly");
	CHECK_STR(v.access_key, "AKCFG");

	/* a profile asked for by name that exists nowhere: a clear error */
	last_line[0] = '\0';
	CHECK_INT(get("nosuch", &v), -ENOKEY);
	CHECK(strstr(last_line, "profile nosuch not found") != NULL);
	/* one that exists but has no keys (IMDS disabled): no credentials */
	CHECK_INT(get("nokeys", &v), -ENOKEY);
	CHECK(strstr(last_line, "no AWS credentials") != NULL);
	ocb_creds_value_clear(&v);
}

static void test_no_files(void)
{
	struct ocb_creds_value v;
	char missing[128];

	clear_env();
	snprintf(missing, sizeof(missing), "%s/none", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", missing, 1);
	setenv("AWS_CONFIG_FILE", missing, 1);
	last_line[0] = '\0';
	CHECK_INT(get(NULL, &v), -ENOKEY);
	CHECK(strstr(last_line, "no AWS credentials") != NULL);
	CHECK(strstr(last_line, "profile default") != NULL);
}

static void test_oversized_file(void)
{
	struct ocb_creds_value v;
	char big_path[128];
	FILE *f;
	int i;

	clear_env();
	snprintf(big_path, sizeof(big_path), "%s/big", dir);
	f = fopen(big_path, "w");
	fputs("[default]\naws_access_key_id = AKBIG\n"
	      "aws_secret_access_key = big\n", f);
	for (i = 0; i < 40000; i++)
		fputs("# padding padding padding padding\n", f);
	fclose(f);
	setenv("AWS_SHARED_CREDENTIALS_FILE", big_path, 1);
	setenv("AWS_CONFIG_FILE", big_path, 1);
	/* over the 1 MiB cap: not read at all */
	CHECK_INT(get(NULL, &v), -ENOKEY);
	unlink(big_path);
}

/* IMDS at a loopback port nobody listens on: fails fast, no credentials */
static void test_imds_unreachable(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct ocb_creds_value v;
	socklen_t al = sizeof(a);
	char url[64];
	time_t t0;
	int fd;

	clear_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	t0 = time(NULL);
	CHECK_INT(get(NULL, &v), -ENOKEY);
	CHECK(time(NULL) - t0 <= 3);
	/* "true" in any case disables it */
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	CHECK_INT(get(NULL, &v), -ENOKEY);
}

static void test_config_values(void)
{
	char *s = NULL;

	clear_env();
	CHECK_INT(ocb_aws_config_value(NULL, "region", &s), 0);
	CHECK_STR(s, "us-east-1");
	free(s);
	CHECK_INT(ocb_aws_config_value("bench", "region", &s), 0);
	CHECK_STR(s, "eu-central-1");
	free(s);
	/* the "s3 =" sub-section's endpoint_url */
	CHECK_INT(ocb_aws_config_value("bench", "endpoint_url", &s), 0);
	CHECK_STR(s, "http://127.0.0.1:7480");
	free(s);
	CHECK_INT(ocb_aws_config_value("bench", "output", &s), 0);
	CHECK_STR(s, "json");	/* after the sub-section, top level again */
	free(s);
	/* a top-level endpoint_url wins */
	CHECK_INT(ocb_aws_config_value("top", "endpoint_url", &s), 0);
	CHECK_STR(s, "http://top:1");
	free(s);
	setenv("AWS_PROFILE", "bench", 1);
	CHECK_INT(ocb_aws_config_value(NULL, "region", &s), 0);
	CHECK_STR(s, "eu-central-1");
	free(s);
	unsetenv("AWS_PROFILE");
	s = NULL;
	CHECK_INT(ocb_aws_config_value("bench", "addressing_style", &s), -ENOENT);
	CHECK_INT(ocb_aws_config_value("nosuch", "region", &s), -ENOENT);
	CHECK_INT(ocb_aws_config_value(NULL, "endpoint_url", &s), -ENOENT);
	CHECK(s == NULL);
	setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
	CHECK_INT(ocb_aws_config_value(NULL, "region", &s), -ENOENT);
}

static void test_static(void)
{
	struct ocb_creds *c = NULL;
	struct ocb_creds_value v;
	char longkey[300];

	clear_env();
	CHECK_INT(ocb_creds_new_static("AK", "SK", NULL, &c), 0);
	CHECK_INT(ocb_creds_get(c, &v), 0);
	CHECK_STR(v.source, "static");
	CHECK_STR(v.secret_key, "SK");
	CHECK_STR(v.session_token, "");
	ocb_creds_value_clear(&v);
	ocb_creds_free(c);
	c = NULL;
	CHECK_INT(ocb_creds_new_static("AK", "", NULL, &c), -ENOKEY);
	CHECK(c == NULL);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	CHECK_INT(ocb_creds_new_static(longkey, "SK", NULL, &c), -EINVAL);
	CHECK(c == NULL);
	ocb_creds_free(NULL);
	ocb_creds_value_clear(NULL);
}

struct thr {
	struct ocb_creds *c;
	int bad;
};

static void *getter(void *arg)
{
	struct thr *t = arg;
	struct ocb_creds_value v;
	int i;

	for (i = 0; i < 200; i++) {
		if (ocb_creds_get(t->c, &v) != 0 ||
		    strcmp(v.access_key, "AKBENCH") != 0)
			t->bad++;
		ocb_creds_value_clear(&v);
	}
	return NULL;
}

/* one provider shared by threads: resolved once, same answer for all */
static void test_threads(void)
{
	struct ocb_creds *c = NULL;
	pthread_t th[8];
	struct thr t[8];
	int i, bad = 0;

	clear_env();
	CHECK_INT(ocb_creds_new("bench", &c), 0);
	for (i = 0; i < 8; i++) {
		t[i] = (struct thr){ .c = c };
		pthread_create(&th[i], NULL, getter, &t[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		bad += t[i].bad;
	}
	CHECK_INT(bad, 0);
	ocb_creds_free(c);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(cred_path, sizeof(cred_path), "%s/credentials", dir);
	snprintf(conf_path, sizeof(conf_path), "%s/config", dir);
	write_file(cred_path, credentials);
	write_file(conf_path, config);
	ocb_log_set_sink(capture, NULL);

	test_env();
	test_profiles();
	test_no_files();
	test_oversized_file();
	test_imds_unreachable();
	test_config_values();
	test_static();
	test_threads();

	unlink(cred_path);
	unlink(conf_path);
	rmdir(dir);
	ocb_log_set_sink(NULL, NULL);
	return T_DONE();
}
