/* libFuzzer target: trailer and header decoders. */
#include "format.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocb_trailer t;
	struct ocb_header h;
	uint8_t buf[OCB_HEADER_SIZE] = { 0 };
	uint64_t objsize = 0;

	if (size >= 8)
		memcpy(&objsize, data, 8);
	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	ocb_trailer_decode(buf, objsize, &t);
	ocb_header_decode(buf, &h);
	return 0;
}
