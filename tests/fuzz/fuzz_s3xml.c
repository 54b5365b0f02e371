/* libFuzzer target: every S3 XML response parser. */
#include "s3_xml_i.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *x = (const char *)data;
	struct s3_xml_list l;
	struct s3_xml_uploads u;
	struct s3_xml_error e;
	char *id = NULL;
	size_t ne;

	if (s3_xml_parse_list(x, size, &l) == 0)
		s3_xml_list_release(&l);
	if (s3_xml_parse_uploads(x, size, &u) == 0)
		s3_xml_uploads_release(&u);
	s3_xml_parse_error(x, size, &e);
	if (s3_xml_parse_upload_id(x, size, &id) == 0)
		free(id);
	s3_xml_complete_failed(x, size, &e);
	s3_xml_parse_delete(x, size, &ne, &e);
	return 0;
}
