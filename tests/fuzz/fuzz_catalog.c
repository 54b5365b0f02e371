/* libFuzzer target: the catalog decoder (hostile input by design). */
#include "catalog.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocb_catalog *c = NULL;
	uint8_t *blob = malloc(size ? size : 1);

	ocb_log_set_level(OCB_LOG_ERR);
	memcpy(blob, data, size);
	if (ocb_catalog_decode(blob, size, &c) == 0) {
		(void)strlen(c->prefix);
		/* walk what was accepted: every index must be usable */
		for (uint32_t i = 0; i < c->n; i++) {
			const struct ocb_entry *e = &c->e[i];

			if (e->nchildren)
				(void)strlen(c->e[e->first_child + e->nchildren - 1].name);
			(void)strlen(e->name);
			for (uint32_t x = 0; x < e->nxattrs; x++)
				(void)strlen(c->x[e->xattr_first + x].name);
		}
		ocb_catalog_free(c);
	}
	return 0;
}
