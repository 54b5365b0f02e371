/*
 * s3_store.c - the S3 store over libcurl with its built-in SigV4.
 *
 * One function, s3_perform(), runs every request: it takes a handle from
 * the pool, builds URL and headers, signs through CURLOPT_AWS_SIGV4, and
 * maps the outcome to the store error convention in ocb_s3_map_error().  The
 * libcurl 7.88 rules that signatures depend on:
 *  - x-amz-content-sha256 is always sent by us (curl would sign the hash
 *    of an empty body otherwise);
 *  - the query string is already canonical (s3_url_query);
 *  - keys are percent-encoded in the path, '/' kept;
 *  - no empty "Name:" headers (they are signed, then dropped);
 *  - PUT always has a Content-Length (INFILESIZE_LARGE).
 */
#include "s3_store.h"
#include "buf.h"
#include "creds.h"
#include "log.h"
#include "s3_url.h"
#include "s3_xml_i.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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
/*
 * A put's x-amz-content-sha256: up to this size the positional source is
 * read once to hash it and again to send it (the signature then covers the
 * body, as for parts and POSTs); larger puts, which the writer normally
 * sends as multipart uploads anyway, are sent as UNSIGNED-PAYLOAD so that
 * the source is read once.
 */
#define HASHED_PUT_MAX (64ull * 1024 * 1024)
/* keys per DeleteObjects request: AWS takes 1000, but Swift's s3api deletes
 * them two at a time before it answers anything, and 1000 take longer than
 * the stall timeout there */
#define DELETE_BATCH 200

enum s3_kind { K_GET, K_HEAD, K_PUT, K_LIST, K_DELETE, K_MPU, K_NKINDS };
static const char *const kind_names[K_NKINDS] = {
	"get", "head", "put", "list", "delete", "multipart",
};

struct s3 {
	char *bucket;
	char *region;
	char *scheme_host;	/* "http://127.0.0.1:7480" */
	int path_style;
	int insecure;
	long connect_ms;
	long stall_ms;
	char sigv4[128];
	struct ocb_creds *creds;

	pthread_mutex_t pool_lock;
	CURL **pool;
	int npool;
	int max_handles;

	atomic_uint_fast64_t requests[K_NKINDS];
	atomic_uint_fast64_t errors, bytes_in, bytes_out;
	atomic_uint_fast64_t connects;	/* new connections (the rest reused) */
	/* does the server honour If-None-Match: * on PUT?  learnt from the
	 * first conditional put: COND_UNKNOWN, then COND_NATIVE or
	 * COND_EMULATED (it answered 501 NotImplemented) */
	atomic_int cond_put;
	/* the hints log_hint() gave (a bit each): each is said once, however
	 * many requests fail for the same cause */
	atomic_uint hints_said;
};

enum { COND_UNKNOWN, COND_NATIVE, COND_EMULATED };

/* one request, as s3_perform() takes it */
struct s3_req {
	enum s3_kind kind;
	const char *method;	/* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *key;	/* NULL: the bucket itself */
	const char *query;	/* canonical, or NULL */
	/* parameters s3_perform() adds to the query in canonical form
	 * (sorted in place); with query, they come after it */
	struct s3_url_param *params;
	size_t nparams;
	struct curl_slist *headers;	/* extra, signed */
	/* request body: memory, or a positional source */
	const void *body;
	size_t body_len;
	ocb_source_fn src;
	void *src_arg;
	uint64_t src_size;
	const char *payload_hash;	/* NULL: hash of the memory body */
	int precondition_is_create;	/* 412 means EEXIST (else ESTALE) */
	int probe;		/* a 501 is expected, not worth a warning */
	const char *what;	/* names a bucket request in messages
				 * (default: its kind) */
	/* response */
	ocb_sink_fn sink;	/* 2xx body of a GET */
	void *sink_arg;
	struct ocb_buf *out;	/* 2xx body (XML); capped */
	struct ocb_obj_head *head;
	const struct ocb_get_req *range;	/* a GET's range, or NULL */
	/* filled by s3_perform */
	long status;
	char code[64];		/* S3 error code of a failure, or "" */
	char date[64];
};

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

/* append one header line: 0 or -ENOMEM (the list is kept either way) */
static int add_header(struct curl_slist **h, const char *line)
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
			 q->what ? q->what : kind_names[q->kind]);
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
	r = add_header(h, line);
	if (r == 0 && cv->session_token[0]) {
		snprintf(line, sizeof(line), "x-amz-security-token: %s",
			 cv->session_token);
		r = add_header(h, line);
		OPENSSL_cleanse(line, sizeof(line));
	}
	for (it = q->headers; r == 0 && it; it = it->next)
		r = add_header(h, it->data);
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

static int s3_perform(struct s3 *s3, struct s3_req *q)
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

/* ---- hooks ---------------------------------------------------------------------- */

static int s3_head(struct ocb_store *s, const char *key,
		   struct ocb_obj_head *out);

static int s3_get(struct ocb_store *s, const struct ocb_get_req *g,
		  ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct s3 *s3 = s->priv;
	struct ocb_obj_head tmp = { 0 };
	struct s3_req q = {
		.kind = K_GET, .method = "GET", .key = g->key,
		.sink = sink, .sink_arg = arg, .head = head ? head : &tmp,
	};
	char line[OCB_ETAG_MAX + 32];
	int r = 0;

	if (g->suffix) {
		if (g->len == 0)
			return 0;
		snprintf(line, sizeof(line), "Range: bytes=-%" PRIu64, g->len);
		r = add_header(&q.headers, line);
		q.range = g;
	} else if (g->off || g->len != OCB_TO_END) {
		if (g->len == 0)
			return 0;
		if (g->len == OCB_TO_END || g->len > UINT64_MAX - g->off)
			snprintf(line, sizeof(line), "Range: bytes=%" PRIu64 "-",
				 g->off);
		else
			snprintf(line, sizeof(line),
				 "Range: bytes=%" PRIu64 "-%" PRIu64, g->off,
				 g->off + g->len - 1);
		r = add_header(&q.headers, line);
		q.range = g;
	}
	if (r == 0 && g->if_match) {
		snprintf(line, sizeof(line), "If-Match: \"%s\"", g->if_match);
		r = add_header(&q.headers, line);
	}
	if (r == 0)
		r = s3_perform(s3, &q);
	curl_slist_free_all(q.headers);
	ocb_obj_head_release(&tmp);
	/*
	 * A range from 0, or any suffix, is unsatisfiable (416) only for an
	 * empty object, where store.h wants an empty read.  The 416 names no
	 * version, so a HEAD does.
	 */
	if (r == -ERANGE && (g->suffix || g->off == 0)) {
		struct ocb_obj_head eh = { 0 };

		r = s3_head(s, g->key, &eh);
		if (r == 0 && eh.size != 0)
			r = -EAGAIN;	/* written meanwhile: try again */
		if (r == 0 && g->if_match && strcmp(eh.etag, g->if_match) != 0)
			r = -ESTALE;
		if (r == 0 && head) {
			ocb_obj_head_release(head);
			*head = eh;
		} else {
			ocb_obj_head_release(&eh);
		}
	}
	return r;
}

static int s3_head(struct ocb_store *s, const char *key,
		   struct ocb_obj_head *out)
{
	struct ocb_obj_head h = { 0 };
	struct s3_req q = { .kind = K_HEAD, .method = "HEAD", .key = key,
			    .head = &h };
	int r = s3_perform(s->priv, &q);

	if (r < 0) {
		ocb_obj_head_release(&h);
		return r;
	}
	*out = h;
	return 0;
}

/*
 * A value that can go into a header as it is: printable ASCII, not empty
 * (curl drops an empty header after signing it), no CR/LF (injection).
 */
static int header_value_ok(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

int ocb_s3_sse_key_signable(void)
{
	/* libcurl before 8.10.0 sorts the canonical headers as whole
	 * "name:value" lines, which puts x-amz-server-side-encryption-aws-
	 * kms-key-id before x-amz-server-side-encryption ('-' < ':'): S3
	 * sorts by name and answers SignatureDoesNotMatch (curl commit
	 * cf3e3d93d1, "aws_sigv4: fix canon order for headers with same
	 * prefix") */
	return curl_version_info(CURLVERSION_NOW)->version_num >= 0x080a00;
}

/* headers of a put / create-multipart: metadata, type, condition, SSE;
 * -EINVAL for a value that cannot be sent */
static int put_headers(const struct ocb_put_opts *o, int with_condition,
		       struct curl_slist **out)
{
	struct curl_slist *h = NULL;
	char line[OCB_META_VALUE_MAX + 200];
	const char *type = o && o->content_type ? o->content_type :
		"application/octet-stream";
	size_t i;
	int r = -EINVAL;

	if (!header_value_ok(type))
		goto out;
	snprintf(line, sizeof(line), "Content-Type: %s", type);
	r = add_header(&h, line);
	for (i = 0; r == 0 && o && o->meta && i < o->meta->n; i++) {
		if (!header_value_ok(o->meta->kv[i].value)) {
			char esc[64];

			ocb_err("S3: metadata %s: the value must be printable "
				"ASCII and not empty",
				ocb_log_escape(esc, sizeof(esc),
					       o->meta->kv[i].name));
			r = -EINVAL;
			break;
		}
		snprintf(line, sizeof(line), "x-amz-meta-%s: %s",
			 o->meta->kv[i].name, o->meta->kv[i].value);
		r = add_header(&h, line);
	}
	if (r == 0 && o && with_condition && o->if_none_match)
		r = add_header(&h, "If-None-Match: *");
	if (r == 0 && o && o->sse && o->sse_kms_key_id &&
	    !ocb_s3_sse_key_signable()) {
		/* the key comes from the bucket's default encryption: sent
		 * alone, x-amz-server-side-encryption: aws:kms would mean
		 * AWS's own aws/s3 key (RGW refuses it) */
	} else if (r == 0 && o && o->sse) {
		if (!header_value_ok(o->sse) ||
		    (o->sse_kms_key_id && !header_value_ok(o->sse_kms_key_id))) {
			r = -EINVAL;
			goto out;
		}
		snprintf(line, sizeof(line), "x-amz-server-side-encryption: %s",
			 o->sse);
		r = add_header(&h, line);
		if (r == 0 && o->sse_kms_key_id) {
			snprintf(line, sizeof(line),
				 "x-amz-server-side-encryption-aws-kms-key-id: %s",
				 o->sse_kms_key_id);
			r = add_header(&h, line);
		}
	}
out:
	if (r < 0) {
		curl_slist_free_all(h);
		return r;
	}
	*out = h;
	return 0;
}

static int hash_source(ocb_source_fn src, void *arg, uint64_t size,
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

/* one PUT; with_condition sends the opts' If-None-Match; etag (or NULL)
 * receives the stored object's ETag */
static int put_once(struct ocb_store *s, const char *key, uint64_t size,
		    ocb_source_fn src, void *arg,
		    const struct ocb_put_opts *opts, int with_condition,
		    char etag[OCB_ETAG_MAX], struct s3_req *q)
{
	struct ocb_obj_head h = { 0 };
	char hash[65];
	int r;

	*q = (struct s3_req){
		.kind = K_PUT, .method = "PUT", .key = key, .src = src,
		.src_arg = arg, .src_size = size,
		.precondition_is_create = 1, .head = &h,
		.probe = with_condition && opts && opts->if_none_match &&
			atomic_load(&((struct s3 *)s->priv)->cond_put) ==
			COND_UNKNOWN,
	};
	if (size <= HASHED_PUT_MAX) {
		r = hash_source(src, arg, size, hash);
		if (r < 0)
			return r;
		q->payload_hash = hash;
	} else {
		q->payload_hash = "UNSIGNED-PAYLOAD";
	}
	r = put_headers(opts, with_condition, &q->headers);
	if (r < 0)
		return r;
	r = s3_perform(s->priv, q);
	curl_slist_free_all(q->headers);
	q->headers = NULL;
	q->head = NULL;
	if (r == 0 && etag)
		memcpy(etag, h.etag, OCB_ETAG_MAX);
	ocb_obj_head_release(&h);
	return r;
}

/*
 * Create-only put on a server without conditional PUTs (docs/FORMAT.md,
 * "Create-only writes"): HEAD first (-EEXIST if the key is there), put,
 * then HEAD again: an ETag other than ours means another writer's put
 * replaced ours after our HEAD, so this one lost the name (-EEXIST).
 * The remaining race: a writer whose HEAD came before our put and whose
 * put comes after our second HEAD replaces ours unseen.
 */
static int put_emulated(struct ocb_store *s, const char *key, uint64_t size,
			ocb_source_fn src, void *arg,
			const struct ocb_put_opts *opts)
{
	struct ocb_obj_head h = { 0 };
	char mine[OCB_ETAG_MAX] = "";
	struct s3_req q;
	int r;

	r = s3_head(s, key, &h);
	ocb_obj_head_release(&h);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	r = put_once(s, key, size, src, arg, opts, 0, mine, &q);
	if (r < 0 || !mine[0])
		return r;	/* no ETag to compare: the HEAD was all */
	memset(&h, 0, sizeof(h));
	r = s3_head(s, key, &h);
	if (r == 0 && strcmp(h.etag, mine) != 0) {
		char k[256];

		ocb_info("S3 PUT %s: replaced by another writer at once; "
			 "this one lost the name",
			 ocb_log_escape(k, sizeof(k), key));
		r = -EEXIST;
	}
	ocb_obj_head_release(&h);
	return r;
}

/* the server's answer to a PUT with If-None-Match: * that means "not
 * supported" (Swift's s3api: 501 NotImplemented) */
static int cond_unsupported(const struct s3_req *q)
{
	return q->status == 501 || !strcmp(q->code, "NotImplemented");
}

static int s3_put(struct ocb_store *s, const char *key, uint64_t size,
		  ocb_source_fn src, void *arg, const struct ocb_put_opts *opts)
{
	struct s3 *s3 = s->priv;
	int create = opts && opts->if_none_match, r;
	struct s3_req q;

	if (create && atomic_load(&s3->cond_put) == COND_EMULATED)
		return put_emulated(s, key, size, src, arg, opts);
	r = put_once(s, key, size, src, arg, opts, 1, NULL, &q);
	if (create && r == -EINVAL && cond_unsupported(&q)) {
		ocb_info("S3: %s does not support conditional PUTs (HTTP %ld "
			 "%s); create-only writes are emulated with HEAD "
			 "before and after the PUT", s->desc, q.status,
			 q.code[0] ? q.code : "");
		atomic_store(&s3->cond_put, COND_EMULATED);
		return put_emulated(s, key, size, src, arg, opts);
	}
	if (create && (r == 0 || r == -EEXIST))
		atomic_store(&s3->cond_put, COND_NATIVE);
	return r;
}

static int s3_mpu_create(struct ocb_store *s, const char *key,
			 const struct ocb_put_opts *opts, char **upload_id)
{
	struct ocb_buf out;
	struct s3_req q = { .kind = K_MPU, .method = "POST", .key = key,
			    .query = "uploads=", .out = &out };
	int r;

	r = put_headers(opts, 0, &q.headers);
	if (r < 0)
		return r;
	ocb_buf_init(&out, S3_XML_MAX);
	r = s3_perform(s->priv, &q);
	if (r == 0)
		r = s3_xml_parse_upload_id(out.data, out.len, upload_id);
	curl_slist_free_all(q.headers);
	ocb_buf_release(&out);
	return r;
}

static int s3_mpu_part(struct ocb_store *s, const char *key,
		       const char *upload_id, int no, const void *data,
		       size_t len, char etag[OCB_ETAG_MAX])
{
	struct ocb_obj_head h = { 0 };
	char nbuf[16];
	struct s3_url_param p[2] = {
		{ "partNumber", nbuf }, { "uploadId", upload_id },
	};
	struct s3_req q = { .kind = K_MPU, .method = "PUT", .key = key,
			    .params = p, .nparams = 2,
			    .body = data, .body_len = len, .head = &h };
	int r;

	snprintf(nbuf, sizeof(nbuf), "%d", no);
	r = s3_perform(s->priv, &q);
	if (r == 0 && !h.etag[0])
		r = -EPROTO;
	if (r == 0)
		memcpy(etag, h.etag, OCB_ETAG_MAX);
	ocb_obj_head_release(&h);
	return r;
}

static int s3_mpu_complete(struct ocb_store *s, const char *key,
			   const char *upload_id,
			   const struct ocb_part *parts, size_t nparts)
{
	struct ocb_buf body, out;
	struct s3_url_param p[1] = { { "uploadId", upload_id } };
	struct s3_req q = { .kind = K_MPU, .method = "POST", .key = key,
			    .params = p, .nparams = 1, .out = &out };
	struct s3_xml_error e;
	size_t i;
	int r;

	ocb_buf_init(&body, 1024 + nparts * 128);
	ocb_buf_init(&out, S3_XML_MAX);
	r = ocb_buf_printf(&body, "<CompleteMultipartUpload>");
	for (i = 0; i < nparts && r == 0; i++)
		r = ocb_buf_printf(&body,
				   "<Part><PartNumber>%d</PartNumber>"
				   "<ETag>\"%s\"</ETag></Part>",
				   parts[i].no, parts[i].etag);
	if (r == 0)
		r = ocb_buf_printf(&body, "</CompleteMultipartUpload>");
	if (r < 0)
		goto out;
	q.body = body.data;
	q.body_len = body.len;
	r = add_header(&q.headers, "Content-Type: application/xml");
	if (r == 0)
		r = s3_perform(s->priv, &q);
	curl_slist_free_all(q.headers);
	/* a 200 can still carry an error (AWS: "InternalError" mid-way) */
	if (r == 0 && s3_xml_complete_failed(out.data, out.len, &e) > 0) {
		char code[80], id[140];

		ocb_info("S3 CompleteMultipartUpload: HTTP 200 with error %s "
			 "(request id %s)",
			 ocb_log_escape(code, sizeof(code), e.code),
			 ocb_log_escape(id, sizeof(id), e.request_id));
		r = ocb_s3_map_error(CURLE_OK, 500, e.code, 0);
	}
out:
	ocb_buf_release(&body);
	ocb_buf_release(&out);
	return r;
}

static int s3_mpu_abort(struct ocb_store *s, const char *key,
			const char *upload_id)
{
	struct s3_url_param p[1] = { { "uploadId", upload_id } };
	struct s3_req q = { .kind = K_MPU, .method = "DELETE", .key = key,
			    .params = p, .nparams = 1 };
	int r = s3_perform(s->priv, &q);

	/* already gone (RGW says NoSuchKey after an abort): fine */
	return r == -ENOENT ? 0 : r;
}

static int s3_mpu_list(struct ocb_store *s, const char *prefix,
		       ocb_upload_fn cb, void *arg)
{
	char *key_marker = NULL, *id_marker = NULL;
	int r;

	for (;;) {
		struct s3_url_param p[4];
		struct ocb_buf out;
		struct s3_xml_uploads u = { 0 };
		struct s3_req q = { .kind = K_LIST, .method = "GET",
				    .what = "list uploads" };
		size_t n = 0, i;

		p[n++] = (struct s3_url_param){ "uploads", NULL };
		if (prefix && *prefix)
			p[n++] = (struct s3_url_param){ "prefix", prefix };
		if (key_marker)
			p[n++] = (struct s3_url_param){ "key-marker", key_marker };
		if (id_marker)
			p[n++] = (struct s3_url_param){ "upload-id-marker", id_marker };
		ocb_buf_init(&out, S3_XML_MAX);
		q.params = p;
		q.nparams = n;
		q.out = &out;
		r = s3_perform(s->priv, &q);
		if (r == 0)
			r = s3_xml_parse_uploads(out.data, out.len, &u);
		for (i = 0; r == 0 && i < u.n; i++)
			r = cb(arg, u.u[i].key, u.u[i].upload_id,
			       u.u[i].initiated);
		ocb_buf_release(&out);
		free(key_marker);
		free(id_marker);
		key_marker = id_marker = NULL;
		if (r == 0 && u.truncated && u.next_key) {
			key_marker = u.next_key;
			id_marker = u.next_upload_id;
			u.next_key = u.next_upload_id = NULL;
		}
		s3_xml_uploads_release(&u);
		if (r < 0 || !key_marker)
			break;
	}
	free(key_marker);
	free(id_marker);
	return r;
}

static int s3_list(struct ocb_store *s, const char *prefix,
		   const char *delimiter, const char *start_after,
		   ocb_list_fn cb, void *arg)
{
	char *token = NULL;
	int r;

	for (;;) {
		struct s3_url_param p[5];
		struct ocb_buf out;
		struct s3_xml_list l = { 0 };
		struct s3_req q = { .kind = K_LIST, .method = "GET" };
		size_t n = 0, i;

		p[n++] = (struct s3_url_param){ "list-type", "2" };
		if (prefix && *prefix)
			p[n++] = (struct s3_url_param){ "prefix", prefix };
		if (delimiter && *delimiter)
			p[n++] = (struct s3_url_param){ "delimiter", delimiter };
		if (token)
			p[n++] = (struct s3_url_param){ "continuation-token", token };
		else if (start_after && *start_after)
			p[n++] = (struct s3_url_param){ "start-after", start_after };
		ocb_buf_init(&out, S3_XML_MAX);
		q.params = p;
		q.nparams = n;
		q.out = &out;
		r = s3_perform(s->priv, &q);
		if (r == 0)
			r = s3_xml_parse_list(out.data, out.len, &l);
		for (i = 0; r == 0 && i < l.n; i++)
			r = cb(arg, &l.e[i]);
		ocb_buf_release(&out);
		free(token);
		token = NULL;
		if (r == 0 && l.truncated) {
			token = l.next_token;
			l.next_token = NULL;
		}
		s3_xml_list_release(&l);
		if (r < 0 || !token)
			break;
	}
	free(token);
	return r;
}

static int s3_del(struct ocb_store *s, const char *key)
{
	struct s3_req q = { .kind = K_DELETE, .method = "DELETE", .key = key };
	int r = s3_perform(s->priv, &q);

	return r == -ENOENT ? 0 : r;
}

static int xml_escape(struct ocb_buf *b, const char *s)
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

/* Content-Type and Content-MD5 (S3 requires it of Delete and lifecycle
 * bodies) of an XML request body */
static int xml_body_headers(struct curl_slist **h, const struct ocb_buf *body)
{
	unsigned char md5[16];
	char b64[32], line[64];
	int r;

	EVP_Digest(body->data, body->len, md5, NULL, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)b64, md5, sizeof(md5));
	snprintf(line, sizeof(line), "Content-MD5: %s", b64);
	r = add_header(h, "Content-Type: application/xml");
	return r ? r : add_header(h, line);
}

static int s3_del_batch(struct ocb_store *s, const char *const *keys, size_t n)
{
	struct ocb_buf body, out;
	struct s3_req q = { .kind = K_DELETE, .method = "POST",
			    .query = "delete=", .out = &out };
	struct s3_xml_error e;
	size_t i, nerr = 0;
	int r;

	/* a key of 1024 bytes of '&' escapes to 5120 */
	ocb_buf_init(&body, (size_t)n * (OCB_KEY_MAX * 5 + 40) + 256);
	ocb_buf_init(&out, S3_XML_MAX);
	r = ocb_buf_printf(&body, "<Delete><Quiet>true</Quiet>");
	for (i = 0; i < n && r == 0; i++) {
		r = ocb_buf_printf(&body, "<Object><Key>");
		if (r == 0)
			r = xml_escape(&body, keys[i]);
		if (r == 0)
			r = ocb_buf_printf(&body, "</Key></Object>");
	}
	if (r == 0)
		r = ocb_buf_printf(&body, "</Delete>");
	if (r < 0)
		goto out;
	r = xml_body_headers(&q.headers, &body);
	q.body = body.data;
	q.body_len = body.len;
	if (r == 0)
		r = s3_perform(s->priv, &q);
	curl_slist_free_all(q.headers);
	/* per-key failures come in a 200; NoSuchKey is not one of them */
	if (r == 0 && s3_xml_parse_delete(out.data, out.len, &nerr, &e) == 0 &&
	    nerr) {
		char esc[256], code[80];

		ocb_warn("S3 DeleteObjects: %zu keys not deleted, first: %s %s",
			 nerr, ocb_log_escape(code, sizeof(code), e.code),
			 ocb_log_escape(esc, sizeof(esc), e.message));
		r = ocb_s3_map_error(CURLE_OK, 500, e.code, 0);
	}
out:
	ocb_buf_release(&body);
	ocb_buf_release(&out);
	return r;
}

static int s3_del_many(struct ocb_store *s, const char *const *keys, size_t n)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i += DELETE_BATCH)
		r = s3_del_batch(s, keys + i,
				 n - i > DELETE_BATCH ? DELETE_BATCH : n - i);
	return r;
}

static void s3_stats(struct ocb_store *s, struct ocb_buf *out)
{
	struct s3 *s3 = s->priv;
	int k;

	for (k = 0; k < K_NKINDS; k++)
		ocb_buf_printf(out, "s3_requests_%s %" PRIuFAST64 "\n",
			       kind_names[k], atomic_load(&s3->requests[k]));
	ocb_buf_printf(out,
		       "s3_connects %" PRIuFAST64 "\n"
		       "s3_errors %" PRIuFAST64 "\n"
		       "s3_bytes_in %" PRIuFAST64 "\n"
		       "s3_bytes_out %" PRIuFAST64 "\n"
		       "s3_conditional_put_native %d\n"
		       "s3_conditional_put_emulated %d\n",
		       atomic_load(&s3->connects),
		       atomic_load(&s3->errors), atomic_load(&s3->bytes_in),
		       atomic_load(&s3->bytes_out),
		       atomic_load(&s3->cond_put) == COND_NATIVE,
		       atomic_load(&s3->cond_put) == COND_EMULATED);
}

static void s3_destroy(struct ocb_store *s)
{
	struct s3 *s3 = s->priv;

	while (s3->npool)
		curl_easy_cleanup(s3->pool[--s3->npool]);
	free(s3->pool);
	pthread_mutex_destroy(&s3->pool_lock);
	ocb_creds_free(s3->creds);
	free(s3->bucket);
	free(s3->region);
	free(s3->scheme_host);
	free(s3);
	free(s);
}

static const struct ocb_store_ops s3_ops = {
	.name = "s3",
	.get = s3_get,
	.head = s3_head,
	.put = s3_put,
	.mpu_create = s3_mpu_create,
	.mpu_part = s3_mpu_part,
	.mpu_complete = s3_mpu_complete,
	.mpu_abort = s3_mpu_abort,
	.mpu_list = s3_mpu_list,
	.list = s3_list,
	.del = s3_del,
	.del_many = s3_del_many,
	.stats = s3_stats,
	.destroy = s3_destroy,
};

/* "http(s)://host[:port][/]" → scheme_host without a trailing '/' */
static int parse_endpoint(const char *ep, char **scheme_host, char *host,
			  size_t hostsize)
{
	const char *h, *end;
	size_t n;

	if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
		return -EINVAL;
	h = strstr(ep, "://") + 3;
	end = h + strcspn(h, "/?#");
	if (end == h || (*end && strcmp(end, "/") != 0))
		return -EINVAL;	/* a path in the endpoint is not supported */
	*scheme_host = strndup(ep, (size_t)(end - ep));
	if (!*scheme_host)
		return -ENOMEM;
	/* host without the port; IPv6 literals keep their brackets */
	if (*h == '[') {
		const char *rb = strchr(h, ']');

		n = rb && rb < end ? (size_t)(rb - h) + 1 : (size_t)(end - h);
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));

		n = colon ? (size_t)(colon - h) : (size_t)(end - h);
	}
	if (n >= hostsize)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

int ocb_s3_store_new(const struct ocb_s3_opts *o, struct ocb_creds *creds,
		     struct ocb_store **out)
{
	struct ocb_store *s = calloc(1, sizeof(*s));
	struct s3 *s3 = calloc(1, sizeof(*s3));
	char host[256], def[300], esc[256];
	const char *ep;
	int r = -ENOMEM;

	if (!s || !s3)
		goto fail;
	if (!o->bucket || !*o->bucket || strchr(o->bucket, '/')) {
		ocb_err("S3: a bucket name is required (no '/')");
		r = -EINVAL;
		goto fail;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s3->bucket = strdup(o->bucket);
	s3->region = strdup(o->region && *o->region ? o->region : "us-east-1");
	if (!s3->bucket || !s3->region)
		goto fail;
	snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com", s3->region);
	ep = o->endpoint && *o->endpoint ? o->endpoint : def;
	r = parse_endpoint(ep, &s3->scheme_host, host, sizeof(host));
	if (r < 0) {
		ocb_err("S3: bad endpoint %s (expected http(s)://host[:port])",
			ocb_log_escape(esc, sizeof(esc), ep));
		goto fail;
	}
	switch (o->addressing) {
	case OCB_S3_ADDR_PATH:
		s3->path_style = 1;
		break;
	case OCB_S3_ADDR_VHOST:
		s3->path_style = 0;
		break;
	default:
		/* as AWS tools: IPs and localhost cannot take a bucket label;
		 * dotted names break TLS wildcard certificates, and names
		 * that are no DNS label (upper case, '_') cannot be one */
		s3->path_style = s3_url_host_is_ip(host) ||
			strchr(s3->bucket, '.') != NULL ||
			s3->bucket[strspn(s3->bucket,
					  "abcdefghijklmnopqrstuvwxyz0123456789-")];
	}
	s3->insecure = o->insecure_tls;
	if (s3->insecure && !strncmp(ep, "https", 5))
		ocb_warn("TLS certificate verification is OFF for %s",
			 ocb_log_escape(esc, sizeof(esc), ep));
	s3->stall_ms = o->stall_timeout_ms > 0 ? o->stall_timeout_ms : 30000;
	/* a connection is not waited for longer than a stalled transfer */
	s3->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms :
		s3->stall_ms < 5000 ? s3->stall_ms : 5000;
	s3->max_handles = o->max_handles > 0 ? o->max_handles : 16;
	s3->pool = calloc((size_t)s3->max_handles, sizeof(CURL *));
	if (!s3->pool) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(s3->sigv4, sizeof(s3->sigv4), "aws:amz:%s:s3", s3->region);
	pthread_mutex_init(&s3->pool_lock, NULL);
	s3->creds = creds;
	s->ops = &s3_ops;
	s->priv = s3;
	snprintf(s->desc, sizeof(s->desc), "s3://%.200s", s3->bucket);
	*out = s;
	return 0;
fail:
	if (s3) {
		free(s3->bucket);
		free(s3->region);
		free(s3->scheme_host);
		free(s3->pool);
	}
	free(s3);
	free(s);
	ocb_creds_free(creds);
	return r;
}

int ocb_s3_enable_versioning(struct ocb_store *s)
{
	static const char body[] =
		"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
		"2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>";
	struct s3 *s3 = s->priv;
	struct s3_url_param p[1] = { { "versioning", NULL } };
	struct s3_req q = { .kind = K_PUT, .method = "PUT", .params = p,
			    .nparams = 1 };

	if (strcmp(s->ops->name, "s3") != 0)
		return -EINVAL;
	q.body = body;
	q.body_len = sizeof(body) - 1;
	return s3_perform(s3, &q);
}

int ocb_s3_create_bucket(struct ocb_store *s)
{
	struct s3 *s3 = s->priv;
	struct ocb_buf body;
	struct s3_req q = { .kind = K_PUT, .method = "PUT" };
	char esc[128];
	int r;

	if (strcmp(s->ops->name, "s3") != 0)
		return -EINVAL;
	/* there and reachable: nothing to create (a CreateBucket of an
	 * existing bucket is refused by servers whose zones do not match
	 * the LocationConstraint, such as RGW) */
	{
		struct s3_req h = { .kind = K_HEAD, .method = "HEAD" };

		r = s3_perform(s3, &h);
		if (r != -ENOENT)
			return r;
	}
	ocb_buf_init(&body, 1024);
	if (strcmp(s3->region, "us-east-1") != 0)
		ocb_buf_printf(&body,
			       "<CreateBucketConfiguration><LocationConstraint>"
			       "%s</LocationConstraint></CreateBucketConfiguration>",
			       s3->region);
	q.body = body.data ? body.data : "";
	q.body_len = body.len;
	r = s3_perform(s3, &q);
	ocb_buf_release(&body);
	/* a 409 BucketAlreadyOwnedByYou (AWS outside us-east-1; RGW and
	 * us-east-1 answer 200): the bucket is there and ours */
	if (r == -EEXIST && strcmp(q.code, "BucketAlreadyOwnedByYou") == 0)
		return 0;
	if (r == -EEXIST)
		ocb_err("S3: bucket name %s is taken by another account",
			ocb_log_escape(esc, sizeof(esc), s3->bucket));
	return r;
}

/*
 * GET of a bucket subresource ("versioning", "lifecycle", "encryption"):
 * its XML body (capped) goes to parse, whose result is returned.  A
 * failure with the S3 error code absent (NULL: none), or a 404, says the
 * bucket has no such configuration: 0.
 */
static int bucket_get(struct ocb_store *s, const char *what,
		      const char *absent,
		      int (*parse)(const struct ocb_buf *xml, void *arg),
		      void *arg)
{
	struct s3_url_param p[1] = { { what, NULL } };
	struct ocb_buf out;
	struct s3_req q = { .kind = K_GET, .method = "GET", .params = p,
			    .nparams = 1, .out = &out };
	int r;

	if (strcmp(s->ops->name, "s3") != 0)
		return -EINVAL;
	ocb_buf_init(&out, S3_XML_MAX);
	r = s3_perform(s->priv, &q);
	if (r == 0)
		r = parse(&out, arg);
	ocb_buf_release(&out);
	if (absent && (r == -ENOENT || !strcmp(q.code, absent)))
		return 0;
	return r;
}

static int parse_versioning(const struct ocb_buf *xml, void *arg)
{
	(void)arg;
	return s3_xml_versioning_enabled(xml->data, xml->len);
}

int ocb_s3_versioning(struct ocb_store *s)
{
	return bucket_get(s, "versioning", NULL, parse_versioning, NULL);
}

static int parse_exists(const struct ocb_buf *xml, void *arg)
{
	(void)xml;
	(void)arg;
	return 1;
}

int ocb_s3_lifecycle_exists(struct ocb_store *s)
{
	/* NoSuchLifecycleConfiguration is a 404 */
	return bucket_get(s, "lifecycle", "NoSuchLifecycleConfiguration",
			  parse_exists, NULL);
}

/* PUT of a bucket subresource's XML configuration (with Content-MD5,
 * which S3 requires of lifecycle and encryption); frees body */
static int bucket_put_xml(struct ocb_store *s, const char *what,
			  struct ocb_buf *body, int r)
{
	struct s3_url_param p[1] = { { what, NULL } };
	struct s3_req q = { .kind = K_PUT, .method = "PUT", .params = p,
			    .nparams = 1 };

	if (r == 0)
		r = xml_body_headers(&q.headers, body);
	q.body = body->data;
	q.body_len = body->len;
	if (r == 0)
		r = s3_perform(s->priv, &q);
	curl_slist_free_all(q.headers);
	ocb_buf_release(body);
	return r;
}

struct kms_key {
	char *key;
	size_t size;
};

static int parse_kms_default(const struct ocb_buf *xml, void *arg)
{
	struct kms_key *k = arg;

	return s3_xml_kms_default(xml->data, xml->len, k->key, k->size);
}

int ocb_s3_kms_default(struct ocb_store *s, char *key, size_t size)
{
	struct kms_key k = { key, size };

	return bucket_get(s, "encryption",
			  "ServerSideEncryptionConfigurationNotFoundError",
			  parse_kms_default, &k);
}

int ocb_s3_set_kms_default(struct ocb_store *s, const char *key)
{
	struct ocb_buf body;
	int r;

	if (strcmp(s->ops->name, "s3") != 0)
		return -EINVAL;
	ocb_buf_init(&body, 4096);
	r = ocb_buf_printf(&body, "<ServerSideEncryptionConfiguration xmlns=\""
			   "http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>"
			   "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>"
			   "aws:kms</SSEAlgorithm><KMSMasterKeyID>");
	if (r == 0)
		r = xml_escape(&body, key);
	if (r == 0)
		r = ocb_buf_printf(&body, "</KMSMasterKeyID></ApplyServerSide"
				   "EncryptionByDefault></Rule></ServerSide"
				   "EncryptionConfiguration>");
	return bucket_put_xml(s, "encryption", &body, r);
}

int ocb_s3_set_noncurrent_expiry(struct ocb_store *s, const char *prefix,
				 int days)
{
	struct ocb_buf body;
	int r;

	if (strcmp(s->ops->name, "s3") != 0 || days < 1)
		return -EINVAL;
	ocb_buf_init(&body, 4096);
	r = ocb_buf_printf(&body, "<LifecycleConfiguration xmlns=\"http://s3."
			   "amazonaws.com/doc/2006-03-01/\"><Rule><ID>ocb-old-"
			   "versions</ID><Filter><Prefix>");
	if (r == 0)
		r = xml_escape(&body, prefix);
	if (r == 0)
		r = ocb_buf_printf(&body, "</Prefix></Filter><Status>Enabled"
				   "</Status><NoncurrentVersionExpiration>"
				   "<NoncurrentDays>%d</NoncurrentDays>"
				   "</NoncurrentVersionExpiration>"
				   "<AbortIncompleteMultipartUpload>"
				   "<DaysAfterInitiation>7</DaysAfterInitiation>"
				   "</AbortIncompleteMultipartUpload></Rule>"
				   "</LifecycleConfiguration>", days);
	return bucket_put_xml(s, "lifecycle", &body, r);
}
