/*
 * s3_store.c - the S3 store: the hooks of struct ocb_store (get, head,
 * put, multipart uploads, list, delete, stats) and its construction.
 *
 * Each hook turns its call into requests (struct s3_req) that
 * s3_request.c performs and maps to errno; the bucket-level calls that
 * the store interface leaves out are in s3_bucket.c.
 */
#include "s3_store_i.h"
#include "creds.h"
#include "log.h"
#include "s3_xml_i.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		r = s3_request_add_header(&q.headers, line);
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
		r = s3_request_add_header(&q.headers, line);
		q.range = g;
	}
	if (r == 0 && g->if_match) {
		snprintf(line, sizeof(line), "If-Match: \"%s\"", g->if_match);
		r = s3_request_add_header(&q.headers, line);
	}
	if (r == 0)
		r = s3_request_perform(s3, &q);
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
	int r = s3_request_perform(s->priv, &q);

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
	r = s3_request_add_header(&h, line);
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
		r = s3_request_add_header(&h, line);
	}
	if (r == 0 && o && with_condition && o->if_none_match)
		r = s3_request_add_header(&h, "If-None-Match: *");
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
		r = s3_request_add_header(&h, line);
		if (r == 0 && o->sse_kms_key_id) {
			snprintf(line, sizeof(line),
				 "x-amz-server-side-encryption-aws-kms-key-id: %s",
				 o->sse_kms_key_id);
			r = s3_request_add_header(&h, line);
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
		r = s3_request_hash_source(src, arg, size, hash);
		if (r < 0)
			return r;
		q->payload_hash = hash;
	} else {
		q->payload_hash = "UNSIGNED-PAYLOAD";
	}
	r = put_headers(opts, with_condition, &q->headers);
	if (r < 0)
		return r;
	r = s3_request_perform(s->priv, q);
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
	r = s3_request_perform(s->priv, &q);
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
	r = s3_request_perform(s->priv, &q);
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
	r = s3_request_add_header(&q.headers, "Content-Type: application/xml");
	if (r == 0)
		r = s3_request_perform(s->priv, &q);
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
	int r = s3_request_perform(s->priv, &q);

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
		r = s3_request_perform(s->priv, &q);
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
		r = s3_request_perform(s->priv, &q);
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
	int r = s3_request_perform(s->priv, &q);

	return r == -ENOENT ? 0 : r;
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
			r = s3_request_xml_escape(&body, keys[i]);
		if (r == 0)
			r = ocb_buf_printf(&body, "</Key></Object>");
	}
	if (r == 0)
		r = ocb_buf_printf(&body, "</Delete>");
	if (r < 0)
		goto out;
	r = s3_request_xml_headers(&q.headers, &body);
	q.body = body.data;
	q.body_len = body.len;
	if (r == 0)
		r = s3_request_perform(s->priv, &q);
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
			       s3_request_kind_name(k),
			       atomic_load(&s3->requests[k]));
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
