/* libFuzzer target: trailer and header decoders.  Input: trailer (64
 * bytes) || object size (u64 LE) || header (512 bytes); missing bytes are
 * zero, so the magic numbers and the size are found independently. */
#include "format.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t in[OCB_TRAILER_SIZE + 8 + OCB_HEADER_SIZE] = { 0 };
	struct ocb_trailer t;
	struct ocb_header h;
	uint64_t objsize;

	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));
	objsize = ocb_get64(in + OCB_TRAILER_SIZE);
	if (ocb_trailer_decode(in, objsize, &t) == 0) {
		/* what a reader relies on before anything is authenticated */
		if (t.header_off + OCB_HEADER_SIZE + OCB_TRAILER_SIZE != objsize ||
		    t.catalog_off + t.catalog_len != t.header_off ||
		    t.catalog_len > OCB_SEALED_BOUND(OCB_CATALOG_MAX))
			__builtin_trap();
	}
	if (ocb_header_decode(in + OCB_TRAILER_SIZE + 8, &h) == 0 &&
	    h.key.wrapped_len > OCB_WRAPPED_MAX)
		__builtin_trap();
	return 0;
}
