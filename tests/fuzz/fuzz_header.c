/* libFuzzer target: the header decoder (the first 512 bytes of a backup,
 * read before anything is authenticated).  What it accepts must encode
 * back to a header that decodes the same. */
#include "format.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t in[OCB_HEADER_SIZE] = { 0 }, again[OCB_HEADER_SIZE];
	struct ocb_header h, h2;

	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));
	if (ocb_header_decode(in, &h) != 0)
		return 0;
	if (h.key.wrapped_len > OCB_WRAPPED_MAX ||
	    h.frame_size > OCB_FRAME_SIZE_MAX)
		__builtin_trap();
	ocb_header_encode(&h, again);
	if (ocb_header_decode(again, &h2) != 0 || h2.version != h.version ||
	    h2.frame_size != h.frame_size || h2.created != h.created ||
	    memcmp(h2.backup_id, h.backup_id, 16) != 0 ||
	    h2.key.type != h.key.type ||
	    h2.key.wrapped_len != h.key.wrapped_len ||
	    memcmp(h2.key.wrapped, h.key.wrapped, h.key.wrapped_len) != 0)
		__builtin_trap();
	return 0;
}
