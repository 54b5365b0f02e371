/* libFuzzer target: the config reader (JSON, the old tool's fields,
 * validation, defaults) on arbitrary text.  Whatever it accepts must
 * come back the same through ocb_config_write()'s serialisation rules:
 * here, that the accepted settings are sane. */
#include "config.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *arg, enum ocb_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	(void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocb_config *c = NULL;

	ocb_log_set_sink(quiet, NULL);
	setenv("HOME", "/nonexistent-home", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	if (ocb_config_parse((const char *)data, size, "fuzz", &c) == 0) {
		/* what the rest of ocb relies on once a config is accepted */
		if (!c->instance_id || !c->prefix || !c->store_url ||
		    !c->key_provider || strchr(c->instance_id, '/'))
			__builtin_trap();
		for (size_t i = 0; i < c->nsources; i++)
			if (c->sources[i][0] != '/')
				__builtin_trap();
		ocb_config_free(c);
	}
	return 0;
}
