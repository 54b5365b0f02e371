/* Unit tests: configuration files, the old tool's included. */
#include "t.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/ocb-config-XXXXXX";
static char last_err[1024];

/* keep the last error line, to check what the user is told */
static void sink(void *arg, enum ocb_log_level level, const char *line)
{
	(void)arg;
	if (level == OCB_LOG_ERR)
		snprintf(last_err, sizeof(last_err), "%s", line);
}

static int err_has(const char *s)
{
	return strstr(last_err, s) != NULL;
}

static const char *write_cfg(const char *name, const char *text, mode_t mode)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];	/* several may be live at once */
	FILE *f;

	snprintf(path, sizeof(paths[0]), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void test_old_tool_file(void)
{
	struct ocb_config *c = NULL;
	const char *p = write_cfg("old.json",
		"{\n"
		"  \"instanceId\": \"i-0abc\",\n"
		"  \"region\": \"eu-west-1\",\n"
		"  \"backupFrequency\": \"daily\",\n"
		"  \"s3\": { \"bucket\": \"my-backups\",\n"
		"          \"prefix\": \"openclaw-aws-backups/instance-i-0abc\" },\n"
		"  \"encryption\": { \"enabled\": true, \"method\": \"kms\",\n"
		"                  \"kmsKeyAlias\": \"alias/openclaw\" },\n"
		"  \"retention\": { \"keep\": 30, \"autoClean\": true },\n"
		"  \"version\": \"2.0\", \"createdAt\": \"2026-02-20\"\n"
		"}\n", 0600);

	CHECK_INT(ocb_config_load(p, &c), 0);
	if (!c)
		return;
	CHECK_STR(c->instance_id, "i-0abc");
	CHECK_STR(c->region, "eu-west-1");
	CHECK_STR(c->store_url, "s3://my-backups");
	CHECK_STR(c->prefix, "openclaw-aws-backups/instance-i-0abc");
	CHECK_STR(c->root, "openclaw-aws-backups");
	CHECK_STR(c->key_provider, "kms");
	CHECK_STR(c->sse, "aws:kms");
	CHECK_STR(c->sse_kms_key_id, "alias/openclaw");
	CHECK_INT(c->keep, 30);
	CHECK_INT(c->auto_clean, 1);
	CHECK_INT(c->nsources, 1);
	ocb_config_free(c);
	c = NULL;
}

static void test_defaults_and_expansion(void)
{
	struct ocb_config *c = NULL;
	const char *p;

	setenv("HOME", "/home/agent", 1);
	unsetenv("AWS_ENDPOINT_URL_S3");
	setenv("AWS_ENDPOINT_URL", "http://10.0.0.1:9000", 1);
	p = write_cfg("min.json",
		      "{\"instanceId\": \"x\", \"sources\": [\"~/.openclaw\", \"/srv/a\"],"
		      " \"cache\": {\"ram\": \"64M\", \"size\": 1000}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (!c)
		return;
	CHECK_STR(c->sources[0], "/home/agent/.openclaw");
	CHECK_STR(c->sources[1], "/srv/a");
	CHECK_STR(c->prefix, "openclaw-aws-backups/instance-x");
	CHECK_STR(c->store_url, "file:///home/agent/.local/share/ocb/store");
	CHECK_STR(c->endpoint, "http://10.0.0.1:9000");
	CHECK_STR(c->key_provider, "keyfile");
	CHECK_STR(c->key_file, "/home/agent/.config/ocb/key");
	CHECK_INT(c->ram_cache, 64 << 20);
	CHECK_INT(c->cache_size, 1000);
	CHECK_INT(c->refresh, 30);
	CHECK(c->nexcludes > 0);
	ocb_config_free(c);
	c = NULL;
	setenv("AWS_ENDPOINT_URL_S3", "http://s3.local:1", 1);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c)
		CHECK_STR(c->endpoint, "http://s3.local:1");
	ocb_config_free(c);
	c = NULL;
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
}

static void test_bad_files(void)
{
	struct ocb_config *c = NULL;

	CHECK_INT(ocb_config_load(write_cfg("loose.json", "{}", 0664), &c), -EACCES);
	CHECK_INT(ocb_config_load(write_cfg("others.json", "{}", 0602), &c), -EACCES);
	/* readable by others (the old tool's 0644): accepted */
	CHECK_INT(ocb_config_load(write_cfg("read.json", "{}", 0644), &c), 0);
	ocb_config_free(c);
	c = NULL;
	/* the old tool's nulls and its own fields; typos still named */
	CHECK_INT(ocb_config_load(write_cfg("nulls.json", "{\"encryption\": "
		"{\"enabled\": false, \"method\": null, \"kmsKeyAlias\": null, "
		"\"gpgRecipient\": null}, \"customCron\": null, "
		"\"memoryProtection\": {\"enabled\": true, \"swap\": \"2G\", "
		"\"memoryMax\": \"1200M\", \"memoryHigh\": \"1000M\"}}", 0600), &c), 0);
	CHECK(c && c->enc_method == NULL && !strcmp(c->key_provider, "none"));
	ocb_config_free(c);
	c = NULL;
	CHECK_INT(ocb_config_load(write_cfg("typo.json", "{\"memoryProtection\": "
					    "{\"swapp\": null}}", 0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("unk.json", "{\"s3\": {\"bukket\": \"b\"}}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("type.json", "{\"retention\": "
					    "{\"keep\": \"30\"}}", 0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("json.json", "{\"a\": ", 0600), &c),
		  -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("arr.json", "[]", 0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("src.json", "{\"sources\": [\"rel\"]}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("inst.json", "{\"instanceId\": \"a/b\"}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("kp.json", "{\"encryption\": "
					    "{\"keyProvider\": \"rot13\"}}", 0600), &c),
		  -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("st1.json", "{\"store\": \"s3://b/p\"}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("st2.json", "{\"store\": \"s3://\"}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("st3.json", "{\"store\": \"file://rel\"}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load(write_cfg("st4.json", "{\"store\": \"ftp://x\"}",
					    0600), &c), -EINVAL);
	CHECK_INT(ocb_config_load("/nonexistent/config.json", &c), -ENOENT);
	CHECK(c == NULL);
}

static void test_messages(void)
{
	struct ocb_config *c = NULL;
	const char *p;

	p = write_cfg("msg1.json", "{\"s3\": {\"bucket\": 7}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("field s3.bucket: expected a string"));
	CHECK(err_has(p));
	p = write_cfg("msg2.json", "{\"version\": 2, \"colour\": \"red\"}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("unknown field colour"));
	p = write_cfg("msg3.json", "{\"hooks\": [\"a\"]}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("field hooks: expected an object of strings"));
	p = write_cfg("msg3g.json", "{\"group\": {\"members\": \"w1\"}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("field group.members: expected an array of strings"));
	p = write_cfg("msg3h.json", "{\"group\": {\"size\": 3}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("unknown field group.size"));
	p = write_cfg("msg3s.json", "{\"stateSnapshot\": \"rel/x.json\"}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("stateSnapshot: rel/x.json is not an absolute path"));
	p = write_cfg("msg4.json", "{\"cache\": {\"ram\": \"lots\"}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("cache.ram"));
	p = write_cfg("msg5.json", "{\n\"a\": 1,\n\"b\": }\n", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("not valid JSON (near line 3)"));
	p = write_cfg("msg6.json", "{}", 0660);
	CHECK_INT(ocb_config_load(p, &c), -EACCES);
	CHECK(err_has("writable by group or others"));
	CHECK(err_has("chmod 600"));
	CHECK(c == NULL);
}

static void test_owner(void)
{
	struct ocb_config *c = NULL;
	const char *p = write_cfg("owner.json", "{\"instanceId\": \"o\"}", 0600);

	if (geteuid() != 0) {
		printf("test_owner: skipped (needs root to give a file away)\n");
		return;
	}
	/* root reads its own file */
	CHECK_INT(ocb_config_load(p, &c), 0);
	ocb_config_free(c);
	c = NULL;
	CHECK_INT(chown(p, 4242, 4242), 0);
	CHECK_INT(ocb_config_load(p, &c), -EACCES);
	CHECK(err_has("owned by uid 4242"));
	CHECK(c == NULL);
}

static void test_prefixes(void)
{
	struct ocb_config *c = NULL;
	char *s = NULL;
	const char *p;

	CHECK_INT(ocb_config_prefix_root("openclaw-aws-backups/instance-i-1", &s), 0);
	CHECK_STR(s, "openclaw-aws-backups");
	free(s);
	CHECK_INT(ocb_config_prefix_root("a/b/instance-x/instance-y", &s), 0);
	CHECK_STR(s, "a/b/instance-x");
	free(s);
	CHECK_INT(ocb_config_prefix_root("instance-x", &s), 0);
	CHECK_STR(s, "");
	free(s);
	CHECK_INT(ocb_config_prefix_root("team/backups", &s), 0);
	CHECK_STR(s, "team");
	free(s);
	CHECK_INT(ocb_config_prefix_root("flat", &s), 0);
	CHECK_STR(s, "");
	free(s);
	CHECK_INT(ocb_config_instance_prefix("root/x", "i-9", &s), 0);
	CHECK_STR(s, "root/x/instance-i-9");
	free(s);
	CHECK_INT(ocb_config_instance_prefix("", "i-9", &s), 0);
	CHECK_STR(s, "instance-i-9");
	free(s);
	s = NULL;
	CHECK_INT(ocb_config_instance_prefix("r", "a/b", &s), -EINVAL);
	CHECK_INT(ocb_config_instance_prefix("r", "", &s), -EINVAL);
	CHECK(s == NULL);

	p = write_cfg("pfx.json", "{\"instanceId\": \"i-7\", \"s3\": "
		      "{\"bucket\": \"b\", \"prefix\": \"/fleet/eu/instance-i-7/\"}}",
		      0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (!c)
		return;
	CHECK_STR(c->prefix, "fleet/eu/instance-i-7");
	CHECK_STR(c->root, "fleet/eu");
	CHECK_STR(c->store_url, "s3://b");
	CHECK_INT(ocb_config_instance_prefix(c->root, c->instance_id, &s), 0);
	CHECK_STR(s, c->prefix);
	free(s);
	ocb_config_free(c);
	c = NULL;
	/* an explicit store URL: its bucket, the trailing '/' dropped; ~ */
	p = write_cfg("st5.json", "{\"instanceId\": \"i-7\", \"store\": "
		      "\"s3://other/\"}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (!c)
		return;
	CHECK_STR(c->store_url, "s3://other");
	CHECK_STR(c->bucket, "other");
	ocb_config_free(c);
	c = NULL;
	p = write_cfg("st6.json", "{\"store\": \"file://~/bk\"}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (!c)
		return;
	CHECK_STR(c->store_url, "file:///home/agent/bk");
	CHECK(c->bucket == NULL);
	CHECK(!strncmp(c->instance_id, "local-", 6));
	CHECK_INT(ocb_config_instance_prefix(c->root, c->instance_id, &s), 0);
	CHECK_STR(s, c->prefix);
	free(s);
	ocb_config_free(c);
	c = NULL;
}

static void test_region_and_endpoint(void)
{
	struct ocb_config *c = NULL;
	const char *p, *aws;
	char awsdir[300];

	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_PROFILE");
	snprintf(awsdir, sizeof(awsdir), "%s/nonexistent-aws-config", dir);
	setenv("AWS_CONFIG_FILE", awsdir, 1);
	p = write_cfg("reg.json", "{\"instanceId\": \"r\"}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_STR(c->region, "us-east-1");
		CHECK(c->endpoint == NULL);
		CHECK(c->from_env & OCB_CONFIG_FROM_ENV_REGION);
		CHECK(c->from_env & OCB_CONFIG_FROM_ENV_ENDPOINT);
	}
	ocb_config_free(c);
	c = NULL;

	/* the profile's region and endpoint_url (also in its "s3 =" part) */
	aws = write_cfg("aws-config", "[default]\nregion = eu-north-1\n\n"
			"[profile lab]\nregion = ap-south-2\ns3 =\n"
			"    endpoint_url = http://rgw.lab:7480\n", 0600);
	setenv("AWS_CONFIG_FILE", aws, 1);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c)
		CHECK_STR(c->region, "eu-north-1");
	ocb_config_free(c);
	c = NULL;
	p = write_cfg("prof.json", "{\"instanceId\": \"r\", \"s3\": "
		      "{\"profile\": \"lab\"}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_STR(c->region, "ap-south-2");
		CHECK_STR(c->endpoint, "http://rgw.lab:7480");
	}
	ocb_config_free(c);
	c = NULL;

	/* environment beats the profile, the file beats the environment */
	setenv("AWS_DEFAULT_REGION", "sa-east-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://generic:1", 1);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_STR(c->region, "sa-east-1");
		CHECK_STR(c->endpoint, "http://generic:1");
	}
	ocb_config_free(c);
	c = NULL;
	setenv("AWS_REGION", "ca-central-1", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://s3only:2", 1);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_STR(c->region, "ca-central-1");
		CHECK_STR(c->endpoint, "http://s3only:2");
	}
	ocb_config_free(c);
	c = NULL;
	p = write_cfg("own.json", "{\"region\": \"me-south-1\", \"s3\": "
		      "{\"profile\": \"lab\", \"endpoint\": \"https://mine\"}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_STR(c->region, "me-south-1");
		CHECK_STR(c->endpoint, "https://mine");
		CHECK_INT(c->from_env & (OCB_CONFIG_FROM_ENV_REGION |
					 OCB_CONFIG_FROM_ENV_ENDPOINT), 0);
	}
	ocb_config_free(c);
	c = NULL;
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_CONFIG_FILE");
}

static void test_search_order(void)
{
	struct ocb_config *c = NULL;
	char home[300], path[400];
	const char *p;

	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(path, sizeof(path), "%s/.config", home);
	mkdir(home, 0700);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.config/ocb", home);
	mkdir(path, 0700);
	setenv("HOME", home, 1);
	unsetenv("OCB_CONFIG");
	if (access("/etc/ocb/config.json", F_OK) != 0) {
		CHECK_INT(ocb_config_load(NULL, &c), 0);
		if (c) {
			CHECK(c->path == NULL);
			CHECK(c->doc_json == NULL);
			CHECK(!strncmp(c->store_url, "file:///", 8));
			CHECK(strstr(c->store_url, "/home/.local/share/ocb/store") != NULL);
			CHECK_INT(c->nsources, 1);
			CHECK(strstr(c->sources[0], "/home/.openclaw") != NULL);
		}
		ocb_config_free(c);
		c = NULL;
	}
	snprintf(path, sizeof(path), "%s/.config/ocb/config.json", home);
	p = write_cfg("home/.config/ocb/config.json", "{\"instanceId\": \"home\"}",
		      0600);
	CHECK_INT(ocb_config_load(NULL, &c), 0);
	if (c) {
		CHECK_STR(c->path, path);
		CHECK_STR(c->instance_id, "home");
	}
	ocb_config_free(c);
	c = NULL;
	p = write_cfg("env.json", "{\"instanceId\": \"env\"}", 0600);
	setenv("OCB_CONFIG", p, 1);
	CHECK_INT(ocb_config_load(NULL, &c), 0);
	if (c)
		CHECK_STR(c->instance_id, "env");
	ocb_config_free(c);
	c = NULL;
	/* an explicit path beats $OCB_CONFIG */
	CHECK_INT(ocb_config_load(path, &c), 0);
	if (c)
		CHECK_STR(c->instance_id, "home");
	ocb_config_free(c);
	c = NULL;
	/* $OCB_CONFIG naming a missing file is an error, not the defaults */
	setenv("OCB_CONFIG", "/nonexistent/ocb.json", 1);
	c = NULL;
	CHECK_INT(ocb_config_load(NULL, &c), -ENOENT);
	CHECK(c == NULL);
	unsetenv("OCB_CONFIG");
	setenv("HOME", "/home/agent", 1);
}

static void test_write_roundtrip(void)
{
	struct ocb_config *a = NULL, *b = NULL;
	char out[300], *x = NULL;
	struct stat st;
	const char *p;

	setenv("AWS_ENDPOINT_URL", "http://from-env:9", 1);
	p = write_cfg("rt.json",
		"{ \"instanceId\": \"i-rt\", \"region\": \"eu-west-3\",\n"
		"  \"backupFrequency\": \"hourly\", \"version\": \"2.1\",\n"
		"  \"createdAt\": \"2026-02-20T00:00:00.000Z\",\n"
		"  \"s3\": { \"bucket\": \"bk\", \"addressing\": \"path\",\n"
		"          \"prefix\": \"root/instance-i-rt\" },\n"
		"  \"encryption\": { \"enabled\": true, \"method\": \"gpg\",\n"
		"                  \"keyFile\": \"~/k\" },\n"
		"  \"retention\": { \"keep\": 7, \"keepDaily\": 3 },\n"
		"  \"hooks\": { \"preBackup\": \"echo pre\" },\n"
		"  \"roles\": [ \"writer\", { \"x\": 1 } ], \"group\": {\n"
		"    \"members\": [\"i-rt\", \"w1\"], \"timeout\": 9 },\n"
		"  \"cache\": { \"size\": \"1G\", \"ram\": 1048576 },\n"
		"  \"mount\": { \"refresh\": 5 }, \"sources\": [\"/srv/a\"] }\n", 0600);
	CHECK_INT(ocb_config_load(p, &a), 0);
	if (!a)
		return;
	CHECK_STR(a->endpoint, "http://from-env:9");
	CHECK_INT(ocb_config_extra(a, "hooks", &x), 0);
	CHECK_STR(x, "{\"preBackup\":\"echo pre\"}");
	free(x);
	CHECK_INT(ocb_config_extra(a, "group.members", &x), 0);
	CHECK_STR(x, "[\"i-rt\",\"w1\"]");
	free(x);
	CHECK_INT(ocb_config_extra(a, "retention.keepDaily", &x), 0);
	CHECK_STR(x, "3");
	free(x);
	x = NULL;
	CHECK_INT(ocb_config_extra(a, "retention.keepWeekly", &x), -ENOENT);
	CHECK_INT(ocb_config_extra(a, "nope", &x), -ENOENT);
	CHECK(x == NULL);

	snprintf(out, sizeof(out), "%s/newdir/config.json", dir);
	CHECK_INT(ocb_config_write(a, out), 0);
	CHECK_INT(stat(out, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	/* the endpoint came from the environment: not pinned in the file */
	unsetenv("AWS_ENDPOINT_URL");
	CHECK_INT(ocb_config_load(out, &b), 0);
	if (b) {
		CHECK(b->endpoint == NULL);
		CHECK_STR(b->instance_id, a->instance_id);
		CHECK_STR(b->region, "eu-west-3");
		CHECK_STR(b->backup_frequency, "hourly");
		CHECK_STR(b->store_url, a->store_url);
		CHECK_STR(b->bucket, "bk");
		CHECK_STR(b->prefix, a->prefix);
		CHECK_STR(b->root, "root");
		CHECK_INT(b->addressing, OCB_S3_ADDR_PATH);
		CHECK_STR(b->enc_method, "gpg");
		CHECK_STR(b->key_provider, a->key_provider);
		CHECK_STR(b->key_file, "/home/agent/k");
		CHECK_INT(b->keep, 7);
		CHECK_INT(b->cache_size, 1ull << 30);
		CHECK_INT(b->ram_cache, 1048576);
		CHECK_INT(b->refresh, 5);
		CHECK_INT(b->timeout_ms, a->timeout_ms);
		CHECK_INT(b->deadline_ms, a->deadline_ms);
		CHECK_INT(b->refused_ms, a->refused_ms);
		CHECK_INT(b->stale_upload_age, a->stale_upload_age);
		CHECK_INT(b->nsources, 1);
		CHECK_STR(b->sources[0], "/srv/a");
		CHECK_INT(b->nexcludes, a->nexcludes);
		CHECK_INT(ocb_config_extra(b, "version", &x), 0);
		CHECK_STR(x, "\"2.1\"");
		free(x);
		CHECK_INT(ocb_config_extra(b, "roles", &x), 0);
		CHECK_STR(x, "[\"writer\",{\"x\":1}]");
		free(x);
		CHECK_INT(ocb_config_extra(b, "group.timeout", &x), 0);
		CHECK_STR(x, "9");
		free(x);
		CHECK_INT(ocb_config_extra(b, "retention.keepDaily", &x), 0);
		CHECK_STR(x, "3");
		free(x);
	}
	ocb_config_free(b);
	b = NULL;
	/* overwriting keeps the mode and leaves no temporary file behind */
	CHECK_INT(chmod(out, 0600), 0);
	CHECK_INT(ocb_config_write(a, out), 0);
	CHECK_INT(ocb_config_load(out, &b), 0);
	ocb_config_free(b);
	snprintf(out, sizeof(out), "%s/newdir", dir);
	{
		char cmd[400];
		FILE *f;
		int n = 0;

		snprintf(cmd, sizeof(cmd), "ls -A %s", out);
		f = popen(cmd, "r");
		while (f && fgets(cmd, sizeof(cmd), f))
			n++;
		if (f)
			pclose(f);
		CHECK_INT(n, 1);
	}
	/* unwritable place: an error, nothing written */
	CHECK_INT(ocb_config_write(a, "/proc/ocb-config-test/config.json") < 0, 1);
	ocb_config_free(a);
}

static void test_sizes(void)
{
	uint64_t v = 0;

	CHECK_INT(ocb_config_parse_size("123", &v), 0);
	CHECK_INT(v, 123);
	CHECK_INT(ocb_config_parse_size("2G", &v), 0);
	CHECK_INT(v, 2ll << 30);
	CHECK_INT(ocb_config_parse_size("256MiB", &v), 0);
	CHECK_INT(v, 256 << 20);
	CHECK_INT(ocb_config_parse_size("1.5K", &v), 0);
	CHECK_INT(v, 1536);
	CHECK_INT(ocb_config_parse_size("12Q", &v), -EINVAL);
	CHECK_INT(ocb_config_parse_size("-1", &v), -EINVAL);
	CHECK_INT(ocb_config_parse_size("", &v), -EINVAL);
}

static void test_durations(void)
{
	int64_t d = 0;

	CHECK_INT(ocb_config_parse_duration("30d", &d), 0);
	CHECK(d == 30 * 86400);
	CHECK_INT(ocb_config_parse_duration("12h", &d), 0);
	CHECK(d == 12 * 3600);
	CHECK_INT(ocb_config_parse_duration("2w", &d), 0);
	CHECK(d == 14 * 86400);
	CHECK_INT(ocb_config_parse_duration("1y", &d), 0);
	CHECK(d == 365 * 86400);
	CHECK_INT(ocb_config_parse_duration("7", &d), 0);
	CHECK(d == 7 * 86400);
	CHECK_INT(ocb_config_parse_duration("", &d), -EINVAL);
	CHECK_INT(ocb_config_parse_duration("-1d", &d), -EINVAL);
	CHECK_INT(ocb_config_parse_duration("0d", &d), -EINVAL);
	CHECK_INT(ocb_config_parse_duration("3dd", &d), -EINVAL);
	CHECK_INT(ocb_config_parse_duration("5x", &d), -EINVAL);
}

/* retention.*: every rule in the settings; a bad duration refused */
static void test_retention(void)
{
	struct ocb_config *c = NULL;
	const char *p;

	p = write_cfg("ret.json", "{\"retention\": {\"keep\": 4, "
		      "\"keepDaily\": 7, \"keepWeekly\": 5, \"keepMonthly\": 3, "
		      "\"keepYearly\": 2, \"keepWithin\": \"2w\", "
		      "\"autoClean\": true, \"staleUploadHours\": 6}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_INT(c->keep, 4);
		CHECK_INT(c->keep_daily, 7);
		CHECK_INT(c->keep_weekly, 5);
		CHECK_INT(c->keep_monthly, 3);
		CHECK_INT(c->keep_yearly, 2);
		CHECK(c->keep_within == 14 * 86400);
		CHECK_INT(c->auto_clean, 1);
		CHECK(c->stale_upload_age == 6 * 3600);
		ocb_config_free(c);
		c = NULL;
	}
	p = write_cfg("ret0.json", "{}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_INT(c->keep_daily + c->keep_weekly + c->keep_monthly +
			  c->keep_yearly, 0);
		CHECK(c->keep_within == 0 && c->stale_upload_age == 24 * 3600);
		CHECK_INT(c->repack_live_percent, 50);
		CHECK_INT(c->repack_min_dead_mb, 4);
		/* no full backup by count, one a quarter by age */
		CHECK_INT(c->full_every, 0);
		CHECK_INT(c->full_after_days, 90);
		ocb_config_free(c);
		c = NULL;
	}
	p = write_cfg("ret1.json", "{\"retention\": {\"keepWithin\": \"3q\"}}",
		      0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("retention.keepWithin \"3q\": use e.g. \"30d\""));
	p = write_cfg("ret2.json", "{\"retention\": {\"keepDaily\": -1}}",
		      0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("retention.keepDaily"));
	CHECK(c == NULL);
	p = write_cfg("ret3.json", "{\"retention\": {\"repackLivePercent\": "
		      "30, \"repackMinDeadMB\": 0}, \"backup\": "
		      "{\"fullEvery\": 0, \"fullAfterDays\": 0}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c) {
		CHECK_INT(c->repack_live_percent, 30);
		CHECK_INT(c->repack_min_dead_mb, 0);
		CHECK_INT(c->full_every + c->full_after_days, 0);
		ocb_config_free(c);
		c = NULL;
	}
	p = write_cfg("ret4.json", "{\"retention\": {\"repackLivePercent\": "
		      "101}}", 0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("retention.repackLivePercent is 0 to 100"));
	p = write_cfg("full1.json", "{\"backup\": {\"fullEvery\": -1}}",
		      0600);
	CHECK_INT(ocb_config_load(p, &c), -EINVAL);
	CHECK(err_has("field backup.fullEvery: expected a whole number"));
}

int main(void)
{
	ocb_log_set_level(OCB_LOG_ERR);
	ocb_log_set_sink(sink, NULL);
	if (!mkdtemp(dir))
		return 1;
	test_old_tool_file();
	test_defaults_and_expansion();
	test_bad_files();
	test_messages();
	test_owner();
	test_prefixes();
	test_region_and_endpoint();
	test_search_order();
	test_write_roundtrip();
	test_sizes();
	test_durations();
	test_retention();
	return T_DONE();
}
