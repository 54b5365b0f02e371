/* libFuzzer target: a catalog that authenticates but is hostile (written
 * by someone who holds the key).  Input: the plaintext length the trailer
 * claims (u32 LE, capped) || the zstd bytes.  They are sealed with a
 * fixed key, then opened and decoded as a reader would: the compressed
 * stream and the catalog inside are all the attacker's. */
#include "catalog.h"
#include "crypto.h"
#include "frame_i.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define PLAIN_CAP (8u << 20)	/* keeps each run fast */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[OCB_KEY_LEN] = { 7 };
	static const uint8_t id[16] = { 1 };
	uint8_t trailer[OCB_TRAILER_SIZE] = { 0 }, header[OCB_HEADER_SIZE] = { 0 };
	struct ocb_catalog *c = NULL;
	uint8_t *z, *plain = NULL;
	uint32_t plain_len;
	size_t zlen;

	if (size < 4)
		return 0;
	ocb_log_set_level(OCB_LOG_ERR);
	plain_len = ocb_get32(data) % PLAIN_CAP;
	zlen = size - 4;
	z = malloc(zlen + OCB_TAG_LEN);
	if (!z)
		return 0;
	memcpy(z, data + 4, zlen);
	if (ocb_catalog_seal_compressed(key, id, trailer, header, z, zlen) == 0 &&
	    ocb_catalog_open(key, id, trailer, header, z, zlen + OCB_TAG_LEN,
			     plain_len, &plain) == 0) {
		/* plain is taken over, also on failure */
		if (ocb_catalog_decode(plain, plain_len, &c) == 0)
			ocb_catalog_free(c);
	}
	free(z);
	return 0;
}
