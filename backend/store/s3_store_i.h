/*
 * s3_store_i.h - what the S3 store's files share, private to the store
 * library: the store's state (struct s3), one request (struct s3_req), and
 * the request helpers of s3_request.c that the hooks (s3_store.c) and the
 * bucket-level calls (s3_bucket.c) build their requests with.
 */
#ifndef OCB_S3_STORE_I_H
#define OCB_S3_STORE_I_H

#include "buf.h"
#include "s3_store.h"
#include "s3_url.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum s3_kind { K_GET, K_HEAD, K_PUT, K_LIST, K_DELETE, K_MPU, K_NKINDS };

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
	/* the hints log_hint() (s3_request.c) gave, a bit each: each is
	 * said once, however many requests fail for the same cause */
	atomic_uint hints_said;
};

enum { COND_UNKNOWN, COND_NATIVE, COND_EMULATED };

/* one request, as s3_request_perform() takes it */
struct s3_req {
	enum s3_kind kind;
	const char *method;	/* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *key;	/* NULL: the bucket itself */
	const char *query;	/* canonical, or NULL */
	/* parameters s3_request_perform() adds to the query in canonical form
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
	/* filled by s3_request_perform */
	long status;
	char code[64];		/* S3 error code of a failure, or "" */
	char date[64];
};

/* the kind's name in the stats and in messages ("get", "multipart") */
const char *s3_request_kind_name(enum s3_kind k);

/*
 * Run q: take a handle from the pool, build URL and headers, sign, perform,
 * and map the outcome (ocb_s3_map_error()).  Fills q->status, q->code and
 * q->date.  Returns 0 or a negative errno; failures are counted and logged.
 */
int s3_request_perform(struct s3 *s3, struct s3_req *q);

/* append one header line: 0 or -ENOMEM (the list is kept either way) */
int s3_request_add_header(struct curl_slist **h, const char *line);

/* the SHA-256 of size bytes of src as 64 hex digits (x-amz-content-sha256) */
int s3_request_hash_source(ocb_source_fn src, void *arg, uint64_t size,
			   char out[65]);

/* append s with XML's five special characters escaped */
int s3_request_xml_escape(struct ocb_buf *b, const char *s);

/* Content-Type and Content-MD5 (S3 requires it of Delete and lifecycle
 * bodies) of an XML request body */
int s3_request_xml_headers(struct curl_slist **h, const struct ocb_buf *body);

#endif
