/*
 * s3_url.c - percent-encoding in the form SigV4 canonicalises to.
 */
#include "s3_url.h"
#include "buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

int s3_url_encode(struct ocb_buf *out, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	int r;

	for (p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			r = ocb_buf_append(out, p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			r = ocb_buf_append(out, e, 3);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int param_cmp(const void *a, const void *b)
{
	return strcmp(((const struct s3_url_param *)a)->name,
		      ((const struct s3_url_param *)b)->name);
}

int s3_url_query(struct ocb_buf *out, struct s3_url_param *params, size_t n)
{
	size_t i;
	int r = 0;

	qsort(params, n, sizeof(*params), param_cmp);
	for (i = 0; i < n && r == 0; i++) {
		if (i)
			r = ocb_buf_append(out, "&", 1);
		if (r == 0)
			r = s3_url_encode(out, params[i].name, 0);
		if (r == 0)
			r = ocb_buf_append(out, "=", 1);
		if (r == 0 && params[i].value)
			r = s3_url_encode(out, params[i].value, 0);
	}
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int s3_url_decode(char *s)
{
	char *o = s;

	while (*s) {
		if (*s == '%') {
			int h = hexval(s[1]), l = h < 0 ? -1 : hexval(s[2]);

			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -EINVAL;
			*o++ = (char)(h * 16 + l);
			s += 3;
		} else if (*s == '+') {
			*o++ = ' ';
			s++;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return 0;
}

int s3_url_host_is_ip(const char *host)
{
	unsigned char addr[16];
	char tmp[64];
	size_t n = strlen(host);

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	return inet_pton(AF_INET, host, addr) == 1 ||
	       inet_pton(AF_INET6, host, addr) == 1;
}

int s3_url_http_off_host(const char *url)
{
	char host[256];
	struct in_addr a;
	size_t n;

	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	url += 7;
	n = url[0] == '[' ? strcspn(url, "]") + 1 : strcspn(url, ":/");
	if (n >= sizeof(host))
		return 1;
	memcpy(host, url, n);
	host[n] = '\0';
	if (!strcasecmp(host, "localhost") || !strcmp(host, "[::1]"))
		return 0;
	/* 127.0.0.0/8 */
	return !(inet_pton(AF_INET, host, &a) == 1 &&
		 (ntohl(a.s_addr) >> 24) == 127);
}
