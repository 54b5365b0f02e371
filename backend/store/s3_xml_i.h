/*
 * s3_xml_i.h - parsing of S3 XML responses (libxml2), network-free.
 *
 * Every function takes a response body (capped by the caller) and returns
 * 0 or -EPROTO for a body it cannot understand.  Nothing is fetched:
 * XML_PARSE_NONET, no entity substitution, no DTD loading.
 */
#ifndef OCB_S3_XML_I_H
#define OCB_S3_XML_I_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define S3_XML_MAX (16u * 1024 * 1024)	/* cap on any XML body */

/* One ListObjectsV2 page: objects and common prefixes merged in order. */
struct s3_xml_list {
	struct ocb_list_entry *e;	/* strings owned by the struct */
	size_t n;
	int truncated;
	char *next_token;		/* NextContinuationToken or NULL */
};
int s3_xml_parse_list(const char *xml, size_t len, struct s3_xml_list *out);
void s3_xml_list_release(struct s3_xml_list *l);

/* <Error>: code, message, request id (each "" when absent). */
struct s3_xml_error {
	char code[64];
	char message[256];
	char request_id[128];
};
int s3_xml_parse_error(const char *xml, size_t len, struct s3_xml_error *out);

/* InitiateMultipartUploadResult: *upload_id malloc'ed. */
int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id);

/* CompleteMultipartUploadResult may carry an <Error> inside a 200. */
int s3_xml_complete_failed(const char *xml, size_t len,
			   struct s3_xml_error *err);

/* ListMultipartUploadsResult page. */
struct s3_xml_upload {
	char *key;
	char *upload_id;
	int64_t initiated;
};
struct s3_xml_uploads {
	struct s3_xml_upload *u;
	size_t n;
	int truncated;
	char *next_key;
	char *next_upload_id;
};
int s3_xml_parse_uploads(const char *xml, size_t len,
			 struct s3_xml_uploads *out);
void s3_xml_uploads_release(struct s3_xml_uploads *u);

/* DeleteResult: number of <Error> elements other than NoSuchKey (a key
 * already gone is deleted); the first of them into *err. */
int s3_xml_parse_delete(const char *xml, size_t len, size_t *nerrors,
			struct s3_xml_error *err);

/* ISO 8601 "2026-11-24T09:00:00.000Z" → seconds; -1 when malformed. */
int64_t s3_xml_parse_time(const char *s);

/* 1 when a GetBucketVersioning answer says Enabled, 0 otherwise, -EPROTO
 * for a body that is not one */
int s3_xml_versioning_enabled(const char *xml, size_t len);

/* GetBucketEncryption: 1 when a rule's default is SSE-KMS (its
 * KMSMasterKeyID, "" when none, into key), 0 when no rule is, -EPROTO for
 * a body that is not one */
int s3_xml_kms_default(const char *xml, size_t len, char *key, size_t size);

#endif
