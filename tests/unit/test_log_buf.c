/* Unit tests: log escaping and capped buffers. */
#include "t.h"
#include "buf.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>

static void test_escape(void)
{
	char out[64];

	CHECK_STR(ocb_log_escape(out, sizeof(out), "plain"), "plain");
	CHECK_STR(ocb_log_escape(out, sizeof(out), "a\nb"), "a\\x0ab");
	CHECK_STR(ocb_log_escape(out, sizeof(out), "caf\xc3\xa9"), "caf\xc3\xa9");
	CHECK_STR(ocb_log_escape(out, sizeof(out), "bad\xff"), "bad\\xff");
	CHECK_STR(ocb_log_escape(out, 8, "0123456789"), "0123...");
}

static void test_buf(void)
{
	struct ocb_buf b;
	size_t len;
	char *p;

	ocb_buf_init(&b, 10);
	CHECK_INT(ocb_buf_append(&b, "hello", 5), 0);
	CHECK_INT(ocb_buf_printf(&b, "%d", 12345), 0);
	CHECK_INT(b.len, 10);
	CHECK_INT(ocb_buf_append(&b, "x", 1), -EFBIG);
	CHECK_INT(b.len, 10);
	CHECK_STR(b.data, "hello12345");
	p = ocb_buf_detach(&b, &len);
	CHECK_INT(len, 10);
	CHECK(b.data == NULL);
	free(p);
	ocb_buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		CHECK_INT(ocb_buf_append(&b, "0123456789", 10), 0);
	CHECK_INT(b.len, 10000);
	ocb_buf_release_secret(&b);
}

int main(void)
{
	test_escape();
	test_buf();
	return T_DONE();
}
