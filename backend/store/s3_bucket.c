/*
 * s3_bucket.c - requests on the bucket itself, which the store interface
 * leaves out: creating it, its versioning, its lifecycle (noncurrent
 * versions' expiry) and its default encryption (SSE-KMS), for ocb setup
 * and ocb doctor (config/bucket.c, config/sse_default.c).
 */
#include "s3_store_i.h"
#include "log.h"
#include "s3_xml_i.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
	return s3_request_perform(s3, &q);
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

		r = s3_request_perform(s3, &h);
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
	r = s3_request_perform(s3, &q);
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
	r = s3_request_perform(s->priv, &q);
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
		r = s3_request_xml_headers(&q.headers, body);
	q.body = body->data;
	q.body_len = body->len;
	if (r == 0)
		r = s3_request_perform(s->priv, &q);
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
		r = s3_request_xml_escape(&body, key);
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
		r = s3_request_xml_escape(&body, prefix);
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
