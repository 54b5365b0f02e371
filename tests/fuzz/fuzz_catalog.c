/*
 * libFuzzer target: the catalog decoder (hostile input by design).  The
 * input is decoded as one catalog; and, for format 4's two parts, as
 * u32 n || index (n bytes, n taken modulo what is left) || details.
 */
#include "catalog.h"
#include "format.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *copy(const uint8_t *p, size_t n)
{
	uint8_t *m = malloc(n ? n : 1);

	memcpy(m, p, n);
	return m;
}

/* the index, then its details: what a reader may then use */
static void two_parts(const uint8_t *data, size_t size)
{
	struct ocb_catalog *c = NULL;
	size_t n;

	if (size < 4)
		return;
	n = ocb_get32(data) % (size - 3);
	if (ocb_catalog_decode(copy(data + 4, n), n, &c) < 0)
		return;
	if (c->details_pending &&
	    ocb_catalog_decode_details(c, copy(data + 4 + n, size - 4 - n),
				       size - 4 - n) == 0) {
		for (uint32_t i = 0; i < c->n; i++)
			(void)ocb_catalog_blocks(c, i);
		for (uint32_t i = 0; i < c->nbh; i++)
			(void)c->bh[i].hash[(size_t)c->bh[i].count * 32 - 1];
	}
	ocb_catalog_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocb_catalog *c = NULL;
	uint8_t *blob = copy(data, size);

	ocb_log_set_level(OCB_LOG_ERR);
	two_parts(data, size);
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
