/*
 * s3_request.c - one S3 request, from its parts to an errno: the URL,
 * the signed headers, the curl handle and its callbacks, the pool of
 * handles, and the outcome mapped to the store error convention
 * (store.h) in one place, ocb_s3_map_error(), with the failure logged.
 *
 * s3_request_perform() runs every request of the store (s3_store.c) and
 * of the bucket-level calls (s3_bucket.c): it takes a handle from the
 * pool, builds URL and headers, and signs through CURLOPT_AWS_SIGV4.  The
 * libcurl 7.88 rules that signatures depend on:
 *  - x-amz-content-sha256 is always sent by us (curl would sign the hash
 *    of an empty body otherwise);
 *  - the query string is already canonical (s3_url_query);
 *  - keys are percent-encoded in the path, '/' kept;
 *  - no empty "Name:" headers (they are signed, then dropped);
 *  - PUT always has a Content-Length (INFILESIZE_LARGE).
 */
#include "s3_store_i.h"
#include "creds.h"
#include "log.h"
#include "s3_xml_i.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERR_BODY_MAX (64 * 1024)

static const char *const kind_names[K_NKINDS] = {
	"get", "head", "put", "list", "delete", "multipart",
};

const char *s3_request_kind_name(enum s3_kind k)
{
	return kind_names[k];
}

/* per-transfer state for the callbacks */
struct xfer {
	struct s3 *s3;
	struct s3_req *req;
	CURL *c;
	long status;
	int status_known;
	long hdr_status;	/* from the status line, while headers arrive */
	struct ocb_buf err_body;
	int cb_err;		/* a sink/source/cap error */
	uint64_t src_off;
	uint64_t body_len;	/* 2xx body bytes received */
	uint64_t want_len;	/* what the headers announce, if has_want */
	int has_want;
	char request_id[128];
};

/* ---- errors: the one place HTTP and curl meet errno -------------------------- */

/* S3 error codes whose meaning does not follow from the status alone */
static const struct {
	const char *code;
	int err;
} code_errors[] = {
	{ "SlowDown", -EAGAIN },		/* 503 */
	{ "ServiceUnavailable", -EAGAIN },
	{ "InternalError", -EAGAIN },		/* also inside a 200 */
	{ "RequestTimeout", -EAGAIN },		/* a 400 that is transient */
	{ "OperationAborted", -EAGAIN },	/* 409: a conflicting request */
	{ "NoSuchBucket", -ENOENT },
	{ "NoSuchKey", -ENOENT },
	{ "NoSuchUpload", -ENOENT },
	{ "AccessDenied", -EACCES },
	{ "SignatureDoesNotMatch", -EACCES },
	{ "InvalidAccessKeyId", -EACCES },
	{ "RequestTimeTooSkewed", -EACCES },	/* 403: the local clock */
	{ "ExpiredToken", -EACCES },		/* 400 */
	{ "InvalidToken", -EACCES },		/* 400 */
	{ "TokenRefreshRequired", -EACCES },	/* 400 */
	{ "InvalidRange", -ERANGE },
	{ "BucketAlreadyExists", -EEXIST },
	{ "BucketAlreadyOwnedByYou", -EEXIST },
};

static int curl_error(int cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:	/* fewer bytes than Content-Length */
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int ocb_s3_map_error(int cc, long status, const char *code,
		     int precondition_is_create)
{
	size_t i;

	if (cc != CURLE_OK)
		return curl_error(cc);
	if (status >= 200 && status < 300)
		return 0;
	if (status == 412)	/* the code is always PreconditionFailed */
		return precondition_is_create ? -EEXIST : -ESTALE;
	for (i = 0; code && i < sizeof(code_errors) / sizeof(code_errors[0]);
	     i++)
		if (strcmp(code, code_errors[i].code) == 0)
			return code_errors[i].err;
	switch (status) {
	case 301: case 307: case 400:
		return -EINVAL;	/* wrong region or endpoint; malformed */
	case 401: case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 416:
		return -ERANGE;
	case 429:
		return -EAGAIN;
	case 501:
		return -EINVAL;	/* NotImplemented: retrying will not help */
	default:
		if (status >= 500)
			return -EAGAIN;
		return status ? -EINVAL : -EPROTO;
	}
}

/* ---- curl callbacks ---------------------------------------------------------- */

static void header_value(const char *p, size_t n, char *out, size_t size)
{
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
		p++;
		n -= 2;
	}
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static int hdr_is(const char *line, size_t n, const char *name, size_t *vlen,
		  const char **val)
{
	size_t l = strlen(name);

	if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
		return 0;
	*val = line + l + 1;
	*vlen = n - l - 1;
	return 1;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	struct ocb_obj_head *h = x->req->head;
	size_t n = size * nitems, vl;
	const char *v;
	char val[1200];

	if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (after 100-continue): forget the old one */
		const char *sp = memchr(line, ' ', n);

		x->status_known = 0;
		x->hdr_status = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (h) {
			ocb_meta_release(&h->meta);
			memset(h, 0, sizeof(*h));
		}
		return n;
	}
	if (hdr_is(line, n, "x-amz-request-id", &vl, &v)) {
		header_value(v, vl, x->request_id, sizeof(x->request_id));
	} else if (hdr_is(line, n, "date", &vl, &v)) {
		header_value(v, vl, x->req->date, sizeof(x->req->date));
	} else if (x->hdr_status == 200 &&
		   hdr_is(line, n, "content-length", &vl, &v)) {
		header_value(v, vl, val, sizeof(val));
		x->want_len = strtoull(val, NULL, 10);
		x->has_want = 1;
	} else if (x->hdr_status == 206 &&
		   hdr_is(line, n, "content-range", &vl, &v)) {
		unsigned long long a, b;

		header_value(v, vl, val, sizeof(val));
		if (sscanf(val, "bytes %llu-%llu/", &a, &b) == 2 && b >= a) {
			x->want_len = b - a + 1;
			x->has_want = 1;
		}
	}
	if (!h)
		return n;
	if (hdr_is(line, n, "content-length", &vl, &v)) {
		header_value(v, vl, val, sizeof(val));
		if (x->hdr_status == 200)	/* 206: Content-Range has it */
			h->size = strtoull(val, NULL, 10);
	} else if (hdr_is(line, n, "content-range", &vl, &v)) {
		char *slash;

		header_value(v, vl, val, sizeof(val));
		slash = strrchr(val, '/');
		if (slash && slash[1] != '*')
			h->size = strtoull(slash + 1, NULL, 10);
	} else if (hdr_is(line, n, "etag", &vl, &v)) {
		header_value(v, vl, h->etag, sizeof(h->etag));
	} else if (hdr_is(line, n, "last-modified", &vl, &v)) {
		header_value(v, vl, val, sizeof(val));
		h->mtime = (int64_t)curl_getdate(val, NULL);
	} else if (n > 11 && strncasecmp(line, "x-amz-meta-", 11) == 0) {
		const char *colon = memchr(line, ':', n);
		char name[129];
		size_t nl;

		if (!colon)
			return n;
		nl = (size_t)(colon - line) - 11;
		if (nl == 0 || nl >= sizeof(name))
			return n;
		for (size_t i = 0; i < nl; i++)
			name[i] = (char)tolower((unsigned char)line[11 + i]);
		name[nl] = '\0';
		header_value(colon + 1, n - (size_t)(colon + 1 - line), val,
			     sizeof(val));
		ocb_meta_set(&h->meta, name, val);	/* over the cap: dropped */
	}
	return n;
}

/* May a 200 (the whole object) answer this request's Range? */
static int whole_object_wanted(const struct s3_req *q)
{
	uint64_t size = q->head ? q->head->size : 0;

	if (!q->range)
		return 1;
	if (q->range->suffix)
		return q->range->len >= size;
	return q->range->off == 0 &&
	       (q->range->len == OCB_TO_END || q->range->len >= size);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	int r;

	if (!x->status_known) {
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->status);
		x->status_known = 1;
		if (x->status == 200 && !whole_object_wanted(x->req)) {
			/* the Range was ignored (a proxy?): these bytes are
			 * not the ones asked for */
			x->cb_err = -EPROTO;
			return CURL_WRITEFUNC_ERROR;
		}
	}
	atomic_fetch_add(&x->s3->bytes_in, n);
	if (x->status < 200 || x->status >= 300) {
		/* error body: keep the first 64 KiB for the message */
		ocb_buf_append(&x->err_body, p, n);
		return n;
	}
	x->body_len += n;
	if (x->req->sink) {
		r = x->req->sink(x->req->sink_arg, p, n);
	} else if (x->req->out) {
		r = ocb_buf_append(x->req->out, p, n);
	} else {
		return n;
	}
	if (r < 0) {
		x->cb_err = r;
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct s3_req *q = x->req;
	size_t want = size * nmemb;
	uint64_t total = q->src ? q->src_size : q->body_len;
	ssize_t n;

	if (x->src_off >= total)
		return 0;
	if (want > total - x->src_off)
		want = (size_t)(total - x->src_off);
	if (q->src) {
		n = q->src(q->src_arg, x->src_off, p, want);
		if (n <= 0) {
			x->cb_err = n < 0 ? (int)n : -EINVAL;
			return CURL_READFUNC_ABORT;
		}
	} else {
		memcpy(p, (const char *)q->body + x->src_off, want);
		n = (ssize_t)want;
	}
	x->src_off += (uint64_t)n;
	atomic_fetch_add(&x->s3->bytes_out, (uint64_t)n);
	return (size_t)n;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || off < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	x->src_off = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- handles ------------------------------------------------------------------- */

static CURL *handle_get(struct s3 *s3)
{
	CURL *c = NULL;

	pthread_mutex_lock(&s3->pool_lock);
	if (s3->npool)
		c = s3->pool[--s3->npool];
	pthread_mutex_unlock(&s3->pool_lock);
	if (c) {
		curl_easy_reset(c);	/* keeps the connection cache */
		return c;
	}
	return curl_easy_init();
}

static void handle_put(struct s3 *s3, CURL *c)
{
	pthread_mutex_lock(&s3->pool_lock);
	if (s3->npool < s3->max_handles) {
		s3->pool[s3->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s3->pool_lock);
	if (c)
		curl_easy_cleanup(c);
}

/* ---- the request ---------------------------------------------------------------- */

int s3_request_add_header(struct curl_slist **h, const char *line)
{
	struct curl_slist *n = curl_slist_append(*h, line);

	if (!n)
		return -ENOMEM;
	*h = n;
	return 0;
}

static int build_url(struct s3 *s3, const char *key, const char *query,
		     struct s3_url_param *params, size_t nparams,
		     struct ocb_buf *url)
{
	const char *host = strstr(s3->scheme_host, "://") + 3;
	int r;

	if (s3->path_style) {
		r = ocb_buf_printf(url, "%s/", s3->scheme_host);
		if (r == 0)
			r = s3_url_encode(url, s3->bucket, 0);
		if (r == 0 && key)
			r = ocb_buf_append(url, "/", 1);
	} else {
		r = ocb_buf_printf(url, "%.*s%s.%s/",
				   (int)(host - s3->scheme_host),
				   s3->scheme_host, s3->bucket, host);
	}
	if (r == 0 && key)
		r = s3_url_encode(url, key, 1);
	if (r == 0 && query && *query)
		r = ocb_buf_printf(url, "?%s", query);
	if (r == 0 && nparams) {
		r = ocb_buf_append(url, query && *query ? "&" : "?", 1);
		if (r == 0)
			r = s3_url_query(url, params, nparams);
	}
	return r;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = h[d[i] >> 4];
		out[2 * i + 1] = h[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* a line a user can act on, for the failures that have an obvious cause;
 * each once per store (every later request fails for the same cause, and
 * its own line says so) */
static void log_hint(struct s3 *s3, long status, const char *code)
{
	enum { NO_BUCKET, SIGNATURE, KEY_ID, CLOCK, EXPIRED, REGION, NONE } h;
	char b[128];
	unsigned bit;

	if (!strcmp(code, "NoSuchBucket"))
		h = NO_BUCKET;
	else if (!strcmp(code, "SignatureDoesNotMatch"))
		h = SIGNATURE;
	else if (!strcmp(code, "InvalidAccessKeyId"))
		h = KEY_ID;
	else if (!strcmp(code, "RequestTimeTooSkewed"))
		h = CLOCK;
	else if (!strcmp(code, "ExpiredToken"))
		h = EXPIRED;
	else if (!strcmp(code, "AuthorizationHeaderMalformed") ||
		 !strcmp(code, "PermanentRedirect") || status == 301 ||
		 status == 307)
		h = REGION;
	else
		h = NONE;
	bit = 1u << h;
	if (h == NONE || (atomic_fetch_or(&s3->hints_said, bit) & bit))
		return;
	switch (h) {
	case NO_BUCKET:
		ocb_err("S3: no such bucket: %s",
			ocb_log_escape(b, sizeof(b), s3->bucket));
		break;
	case SIGNATURE:
		ocb_err("S3: signature does not match (wrong secret key?)");
		break;
	case KEY_ID:
		ocb_err("S3: the access key id is not known to the server");
		break;
	case CLOCK:
		ocb_err("S3: the local clock is too far from the server's");
		break;
	case EXPIRED:
		ocb_err("S3: the session token has expired");
		break;
	default:
		ocb_err("S3: bucket %s is not served by this endpoint and "
			"region (%s): check the region",
			ocb_log_escape(b, sizeof(b), s3->bucket), s3->region);
	}
}

/*
 * Expected answers (missing key, failed condition, range past the end) at
 * debug; transient ones, which the retry layer retries and reports, at
 * info; the rest at warn.  Everything from the server is escaped.
 */
static void log_failure(struct s3_req *q, struct xfer *x, CURLcode cc,
			const struct s3_xml_error *e, int err)
{
	char k[256], m[256], code[80], id[140];
	enum ocb_log_level lvl = OCB_LOG_WARN;

	if (err == -ENOENT || err == -EEXIST || err == -ESTALE ||
	    err == -ERANGE || (q->probe && x->status == 501))
		lvl = OCB_LOG_DEBUG;
	else if (err == -EAGAIN || err == -ETIMEDOUT || err == -ECONNRESET ||
		 err == -ECONNREFUSED || err == -EHOSTUNREACH)
		lvl = OCB_LOG_INFO;
	/* a request on the bucket itself (list, multi-delete) names the
	 * bucket and what was asked, never an empty key */
	if (q->key) {
		ocb_log_escape(k, sizeof(k), q->key);
	} else {
		char bk[128];

		snprintf(k, sizeof(k), "bucket %s (%s)",
			 ocb_log_escape(bk, sizeof(bk), x->s3->bucket),
			 q->what ? q->what : s3_request_kind_name(q->kind));
	}
	if (cc != CURLE_OK) {
		ocb_log(lvl, "S3 %s %s: %s", q->method, k, curl_easy_strerror(cc));
		return;
	}
	ocb_log_escape(m, sizeof(m), e->message);
	ocb_log_escape(code, sizeof(code), e->code);
	/* the x-amz-request-id header, else the body's <RequestId> */
	ocb_log_escape(id, sizeof(id),
		       x->request_id[0] ? x->request_id : e->request_id);
	ocb_log(lvl, "S3 %s %s: HTTP %ld %s%s%s (request id %s)", q->method, k,
		x->status, code, m[0] ? ": " : "", m, id[0] ? id : "none");
	log_hint(x->s3, x->status, e->code);
}

/* the signed headers of q: payload hash, session token, q's own */
static int perform_headers(const struct s3_req *q,
			   const struct ocb_creds_value *cv,
			   struct curl_slist **h)
{
	struct curl_slist *it;
	char line[4200], hash[65];
	int r;

	/* payload hash: signed by curl as the header value we give */
	if (q->payload_hash) {
		snprintf(hash, sizeof(hash), "%s", q->payload_hash);
	} else if (q->body) {
		unsigned char d[SHA256_DIGEST_LENGTH];

		SHA256(q->body, q->body_len, d);
		hex(d, sizeof(d), hash);
	} else {
		snprintf(hash, sizeof(hash), "%s", EMPTY_SHA256);
	}
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
	r = s3_request_add_header(h, line);
	if (r == 0 && cv->session_token[0]) {
		snprintf(line, sizeof(line), "x-amz-security-token: %s",
			 cv->session_token);
		r = s3_request_add_header(h, line);
		OPENSSL_cleanse(line, sizeof(line));
	}
	for (it = q->headers; r == 0 && it; it = it->next)
		r = s3_request_add_header(h, it->data);
	return r;
}

/* what every request sets on its handle: address, signing, timeouts,
 * callbacks */
static void perform_setup(struct s3 *s3, CURL *c, const char *url,
			  const struct ocb_creds_value *cv,
			  struct curl_slist *h, struct xfer *x)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, cv->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, cv->secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* bucket access logs and the provider's support see who asked */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ocb/" OCB_VERSION);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s3->connect_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
			 (s3->stall_ms + 999) / 1000);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "169.254.169.254");
	if (s3->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
}

/* the method, and the body the method sends */
static void perform_method(CURL *c, const struct s3_req *q, struct xfer *x)
{
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(q->method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(q->src ? q->src_size : q->body_len));
	} else if (!strcmp(q->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)q->body_len);
	} else if (strcmp(q->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	}
}

/*
 * The outcome of a performed transfer: fills q->status and q->code,
 * returns 0 or the mapped error.  *c is cleaned up and set to NULL when
 * the connection must not go back into the pool.
 */
static int perform_outcome(struct s3 *s3, struct s3_req *q, struct xfer *x,
			   CURLcode cc, CURL **c)
{
	struct s3_xml_error e = { 0 };
	long nc = 0;
	int r;

	curl_easy_getinfo(*c, CURLINFO_NUM_CONNECTS, &nc);
	atomic_fetch_add(&s3->connects, (uint64_t)(nc > 0 ? nc : 0));
	curl_easy_getinfo(*c, CURLINFO_RESPONSE_CODE, &x->status);
	q->status = x->status;
	q->code[0] = '\0';
	if (x->cb_err)
		return x->cb_err;
	if (cc == CURLE_OK && (x->status < 200 || x->status >= 300))
		s3_xml_parse_error(x->err_body.data, x->err_body.len, &e);
	snprintf(q->code, sizeof(q->code), "%s", e.code);
	r = ocb_s3_map_error(cc, x->status, e.code[0] ? e.code : NULL,
			     q->precondition_is_create);
	/* a body shorter or longer than its headers say (a wrong
	 * Content-Length from a proxy, a connection mixed up): the bytes the
	 * sink has are a prefix at best, so this is a broken transfer, which
	 * the retry layer resumes after them */
	if (r == 0 && q->kind == K_GET && x->has_want &&
	    x->body_len != x->want_len) {
		ocb_log(OCB_LOG_INFO, "S3 GET: a body of %" PRIu64 " bytes, "
			"%" PRIu64 " announced", x->body_len, x->want_len);
		r = -ECONNRESET;
		atomic_fetch_add(&s3->errors, 1);
		curl_easy_cleanup(*c);
		*c = NULL;
	}
	if (r < 0) {
		atomic_fetch_add(&s3->errors, 1);
		log_failure(q, x, cc, &e, r);
		/* a dead connection must not go back into the pool */
		if (cc != CURLE_OK && *c) {
			curl_easy_cleanup(*c);
			*c = NULL;
		}
	}
	return r;
}

int s3_request_perform(struct s3 *s3, struct s3_req *q)
{
	struct ocb_creds_value cv;
	struct xfer x = { .s3 = s3, .req = q };
	struct curl_slist *h = NULL, *it;
	struct ocb_buf url;
	CURLcode cc;
	CURL *c;
	int r;

	atomic_fetch_add(&s3->requests[q->kind], 1);
	r = ocb_creds_get(s3->creds, &cv);
	if (r < 0)
		return r;
	ocb_buf_init(&url, 8192);
	ocb_buf_init(&x.err_body, ERR_BODY_MAX);
	c = handle_get(s3);
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	x.c = c;
	r = build_url(s3, q->key, q->query, q->params, q->nparams, &url);
	if (r < 0)
		goto out;
	r = perform_headers(q, &cv, &h);
	if (r < 0)
		goto out;
	perform_setup(s3, c, url.data, &cv, h, &x);
	perform_method(c, q, &x);
	cc = curl_easy_perform(c);
	r = perform_outcome(s3, q, &x, cc, &c);
out:
	ocb_creds_value_clear(&cv);
	for (it = h; it; it = it->next)	/* one holds the session token */
		OPENSSL_cleanse(it->data, strlen(it->data));
	curl_slist_free_all(h);
	if (c)
		handle_put(s3, c);
	ocb_buf_release(&url);
	ocb_buf_release(&x.err_body);
	return r;
}

/* ---- bodies ------------------------------------------------------------------ */

int s3_request_hash_source(ocb_source_fn src, void *arg, uint64_t size,
			   char out[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char d[SHA256_DIGEST_LENGTH];
	char *chunk = malloc(256 * 1024);
	uint64_t off = 0;
	int r = 0;

	if (!ctx || !chunk || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto out;
	}
	while (off < size) {
		size_t want = size - off > 256 * 1024 ? 256 * 1024 :
			(size_t)(size - off);
		ssize_t n = src(arg, off, chunk, want);

		if (n <= 0) {
			r = n < 0 ? (int)n : -EINVAL;
			goto out;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, d, NULL);
	hex(d, sizeof(d), out);
out:
	free(chunk);
	EVP_MD_CTX_free(ctx);
	return r;
}


int s3_request_xml_escape(struct ocb_buf *b, const char *s)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		switch (*s) {
		case '&': r = ocb_buf_append(b, "&amp;", 5); break;
		case '<': r = ocb_buf_append(b, "&lt;", 4); break;
		case '>': r = ocb_buf_append(b, "&gt;", 4); break;
		case '"': r = ocb_buf_append(b, "&quot;", 6); break;
		case '\'': r = ocb_buf_append(b, "&apos;", 6); break;
		default: r = ocb_buf_append(b, s, 1);
		}
	}
	return r;
}

int s3_request_xml_headers(struct curl_slist **h, const struct ocb_buf *body)
{
	unsigned char md5[16];
	char b64[32], line[64];
	int r;

	EVP_Digest(body->data, body->len, md5, NULL, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)b64, md5, sizeof(md5));
	snprintf(line, sizeof(line), "Content-MD5: %s", b64);
	r = s3_request_add_header(h, "Content-Type: application/xml");
	return r ? r : s3_request_add_header(h, line);
}
