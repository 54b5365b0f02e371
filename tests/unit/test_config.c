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

static const char *write_cfg(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
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
	setenv("AWS_ENDPOINT_URL_S3", "http://s3.local:1", 1);
	CHECK_INT(ocb_config_load(p, &c), 0);
	if (c)
		CHECK_STR(c->endpoint, "http://s3.local:1");
	ocb_config_free(c);
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
}

static void test_bad_files(void)
{
	struct ocb_config *c = NULL;

	CHECK_INT(ocb_config_load(write_cfg("loose.json", "{}", 0644), &c), -EACCES);
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
	CHECK_INT(ocb_config_load("/nonexistent/config.json", &c), -ENOENT);
	CHECK(c == NULL);
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

int main(void)
{
	ocb_log_set_level(OCB_LOG_ERR);
	if (!mkdtemp(dir))
		return 1;
	test_old_tool_file();
	test_defaults_and_expansion();
	test_bad_files();
	test_sizes();
	return T_DONE();
}
