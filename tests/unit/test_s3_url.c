/* Unit tests: S3 key and query encoding in SigV4's canonical form. */
#include "t.h"
#include "buf.h"
#include "s3_url.h"

#include <errno.h>
#include <stdlib.h>

/* s encoded into a fresh buffer; the caller frees the result */
static char *enc(const char *s, int keep_slash)
{
	struct ocb_buf b;
	char *out;

	ocb_buf_init(&b, 1 << 16);
	if (s3_url_encode(&b, s, keep_slash) < 0) {
		ocb_buf_release(&b);
		return strdup("(error)");
	}
	out = b.data ? ocb_buf_detach(&b, NULL) : strdup("");
	return out;
}

#define CHECK_ENC(s, slash, want) do { \
	char *t_e = enc(s, slash); \
	CHECK_STR(t_e, want); \
	free(t_e); \
} while (0)

static void test_keys(void)
{
	/* paths: '/' kept, everything outside the unreserved set %XX, upper case */
	CHECK_ENC("a/b c+d", 1, "a/b%20c%2Bd");
	CHECK_ENC("backups/i-1/2026-11-24T09:00:00Z.ocb", 1,
		  "backups/i-1/2026-11-24T09%3A00%3A00Z.ocb");
	CHECK_ENC("~-._AZaz09", 1, "~-._AZaz09");
	CHECK_ENC("caf\xc3\xa9", 1, "caf%C3%A9");
	CHECK_ENC("\xff\x01", 1, "%FF%01");
	CHECK_ENC("a//b/", 1, "a//b/");
	CHECK_ENC("%", 1, "%25");
	CHECK_ENC("", 1, "");
	/* query values: '/' encoded too */
	CHECK_ENC("a/b", 0, "a%2Fb");
	CHECK_ENC("=&?#", 0, "%3D%26%3F%23");
	CHECK_ENC("a b", 0, "a%20b");	/* never '+' for a space */
}

static void test_query(void)
{
	struct ocb_buf b;
	struct s3_url_param list[] = {
		{ "prefix", "a b/c" }, { "list-type", "2" },
		{ "continuation-token", "1/x=+y" }, { "delimiter", "/" },
		{ "start-after", "k~1" },
	};
	struct s3_url_param part[] = {
		{ "uploadId", "2~PeBM/h+L=" }, { "partNumber", "10" },
	};
	struct s3_url_param uploads[] = {
		{ "uploads", NULL }, { "prefix", "" },
	};

	/* sorted by name, each name=value, values fully encoded */
	ocb_buf_init(&b, 4096);
	CHECK_INT(s3_url_query(&b, list, 5), 0);
	CHECK_STR(b.data, "continuation-token=1%2Fx%3D%2By&delimiter=%2F&"
		  "list-type=2&prefix=a%20b%2Fc&start-after=k~1");
	ocb_buf_release(&b);
	/* upper-case names sort before lower case (byte order) */
	ocb_buf_init(&b, 4096);
	CHECK_INT(s3_url_query(&b, part, 2), 0);
	CHECK_STR(b.data, "partNumber=10&uploadId=2~PeBM%2Fh%2BL%3D");
	ocb_buf_release(&b);
	/* NULL and "" values: "name=" */
	ocb_buf_init(&b, 4096);
	CHECK_INT(s3_url_query(&b, uploads, 2), 0);
	CHECK_STR(b.data, "prefix=&uploads=");
	ocb_buf_release(&b);
	/* the cap holds */
	ocb_buf_init(&b, 10);
	CHECK_INT(s3_url_query(&b, list, 5), -EFBIG);
	ocb_buf_release(&b);
}

static void test_decode(void)
{
	char d[] = "caf%C3%A9%20x+y";
	char bad[] = "%zz", shortesc[] = "ab%4", nul[] = "a%00b";
	char all[256], *e;
	int i;

	CHECK_INT(s3_url_decode(d), 0);
	CHECK_STR(d, "caf\xc3\xa9 x y");	/* encoding-type=url: '+' is ' ' */
	CHECK_INT(s3_url_decode(bad), -EINVAL);
	CHECK_INT(s3_url_decode(shortesc), -EINVAL);
	CHECK_INT(s3_url_decode(nul), -EINVAL);	/* no NUL inside a key */
	/* every byte round-trips */
	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	e = enc(all, 0);
	CHECK(strchr(e, '+') == NULL);
	CHECK_INT(s3_url_decode(e), 0);
	CHECK_STR(e, all);
	free(e);
}

static void test_hosts(void)
{
	CHECK(s3_url_host_is_ip("127.0.0.1"));
	CHECK(s3_url_host_is_ip("10.1.2.3"));
	CHECK(s3_url_host_is_ip("localhost"));
	CHECK(s3_url_host_is_ip("[::1]"));
	CHECK(s3_url_host_is_ip("::1"));
	CHECK(!s3_url_host_is_ip("s3.us-east-1.amazonaws.com"));
	CHECK(!s3_url_host_is_ip("minio.local"));
	CHECK(!s3_url_host_is_ip("127.0.0.1.nip.io"));
	CHECK(!s3_url_host_is_ip("[::1"));
	CHECK(!s3_url_host_is_ip(""));
}

/* plain http to another machine: refused for KMS, warned about for S3 */
static void test_http_off_host(void)
{
	CHECK_INT(s3_url_http_off_host("https://kms.us-east-1.amazonaws.com"), 0);
	CHECK_INT(s3_url_http_off_host("http://127.0.0.1:8000"), 0);
	CHECK_INT(s3_url_http_off_host("http://localhost"), 0);
	CHECK_INT(s3_url_http_off_host("http://localhost:80/x"), 0);
	CHECK_INT(s3_url_http_off_host("http://[::1]:80"), 0);
	CHECK_INT(s3_url_http_off_host("HTTP://10.0.0.5:8000"), 1);
	CHECK_INT(s3_url_http_off_host("http://localhost.evil.example"), 1);
	CHECK_INT(s3_url_http_off_host("http://127.0.0.1.evil.example"), 1);
	CHECK_INT(s3_url_http_off_host("http://127.3.0.1/"), 0);
}

int main(void)
{
	test_http_off_host();
	test_keys();
	test_query();
	test_decode();
	test_hosts();
	return T_DONE();
}
