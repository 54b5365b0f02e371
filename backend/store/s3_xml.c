/*
 * s3_xml.c - S3 XML responses into structs, with libxml2's tree API.
 *
 * S3 documents are small (a list page is at most 1000 keys), so a tree is
 * simpler than a SAX parser and the caller's cap bounds it.
 */
#include "s3_xml_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

/*
 * S3 never sends a DOCTYPE.  A document with one is refused outright: the
 * tree keeps entity references unexpanded (no XML_PARSE_NOENT), but
 * reading an element's text would expand them ("billion laughs"), and
 * external ones are never fetched (XML_PARSE_NONET).
 */
static xmlDocPtr parse(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (!xml || len == 0 || len > S3_XML_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)len, "s3.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOBLANKS |
			    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int is(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (is(n, name))
			return n;
	return NULL;
}

/* text of the named child, malloc'ed; NULL when absent */
static char *child_text(xmlNodePtr n, const char *name)
{
	xmlNodePtr c = child(n, name);
	xmlChar *t;
	char *s;

	if (!c)
		return NULL;
	t = xmlNodeGetContent(c);
	s = strdup(t ? (const char *)t : "");
	xmlFree(t);
	return s;
}

/* is the named child's text "true"? */
static int child_true(xmlNodePtr n, const char *name)
{
	char *t = child_text(n, name);
	int v = t && strcmp(t, "true") == 0;

	free(t);
	return v;
}

static void copy_text(xmlNodePtr n, const char *name, char *out, size_t size)
{
	char *t = child_text(n, name);

	snprintf(out, size, "%s", t ? t : "");
	free(t);
}

int64_t s3_xml_parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end;

	if (!s)
		return -1;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	return (int64_t)timegm(&tm);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ocb_list_entry *)a)->key,
		      ((const struct ocb_list_entry *)b)->key);
}

/*
 * Room for one more element in *arr (n used of *cap, each size bytes):
 * the capacity doubles from first.  0, -EPROTO past 100000 elements (far
 * beyond any page the server may send), or -ENOMEM.
 */
static int grow(void **arr, size_t *cap, size_t n, size_t first, size_t size)
{
	size_t c = *cap ? *cap * 2 : first;
	void *p;

	if (n < *cap)
		return 0;
	if (c > 100000)
		return -EPROTO;
	p = realloc(*arr, c * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* size, mtime and etag (without quotes; "" when absent) of a Contents */
static void fill_object(xmlNodePtr n, struct ocb_list_entry *e)
{
	char *t;

	t = child_text(n, "Size");
	e->size = t ? strtoull(t, NULL, 10) : 0;
	free(t);
	t = child_text(n, "LastModified");
	e->mtime = s3_xml_parse_time(t);
	free(t);
	t = child_text(n, "ETag");
	if (t && t[0] == '"') {
		size_t tl = strlen(t);

		memmove(t, t + 1, tl);
		if (tl >= 2 && t[tl - 2] == '"')
			t[tl - 2] = '\0';
	}
	e->etag = t ? t : strdup("");
}

int s3_xml_parse_list(const char *xml, size_t len, struct s3_xml_list *out)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root, n;
	struct s3_xml_list l = { 0 };
	size_t cap = 0;
	int r = -EPROTO, g;

	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "ListBucketResult"))
		goto out;
	for (n = root->children; n; n = n->next) {
		struct ocb_list_entry *e;

		if (!is(n, "Contents") && !is(n, "CommonPrefixes"))
			continue;
		g = grow((void **)&l.e, &cap, l.n, 64, sizeof(*l.e));
		if (g < 0) {
			r = g;
			goto out;
		}
		e = &l.e[l.n];
		memset(e, 0, sizeof(*e));
		e->key = is(n, "Contents") ? child_text(n, "Key") :
			child_text(n, "Prefix");
		if (!e->key)
			goto out;
		l.n++;
		if (is(n, "CommonPrefixes")) {
			e->is_prefix = 1;
			continue;
		}
		fill_object(n, e);
	}
	if (l.n > 1)
		qsort(l.e, l.n, sizeof(*l.e), entry_cmp);
	l.truncated = child_true(root, "IsTruncated");
	l.next_token = child_text(root, "NextContinuationToken");
	if (l.truncated && !l.next_token)
		goto out;
	*out = l;
	memset(&l, 0, sizeof(l));
	r = 0;
out:
	s3_xml_list_release(&l);
	xmlFreeDoc(doc);
	return r;
}

void s3_xml_list_release(struct s3_xml_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free((char *)l->e[i].key);
		free((char *)l->e[i].etag);
	}
	free(l->e);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

static void fill_error(xmlNodePtr n, struct s3_xml_error *out)
{
	copy_text(n, "Code", out->code, sizeof(out->code));
	copy_text(n, "Message", out->message, sizeof(out->message));
	copy_text(n, "RequestId", out->request_id, sizeof(out->request_id));
}

int s3_xml_parse_error(const char *xml, size_t len, struct s3_xml_error *out)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root;

	memset(out, 0, sizeof(*out));
	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "Error")) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	fill_error(root, out);
	xmlFreeDoc(doc);
	return 0;
}

int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root;
	char *id;

	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	id = root && is(root, "InitiateMultipartUploadResult") ?
		child_text(root, "UploadId") : NULL;
	xmlFreeDoc(doc);
	if (!id || !*id) {
		free(id);
		return -EPROTO;
	}
	*upload_id = id;
	return 0;
}

int s3_xml_complete_failed(const char *xml, size_t len,
			   struct s3_xml_error *err)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root;
	int failed = 0;

	memset(err, 0, sizeof(*err));
	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (root && is(root, "Error")) {
		fill_error(root, err);
		failed = 1;
	} else if (!root || !is(root, "CompleteMultipartUploadResult")) {
		failed = -EPROTO;
	}
	xmlFreeDoc(doc);
	return failed;
}

int s3_xml_parse_uploads(const char *xml, size_t len,
			 struct s3_xml_uploads *out)
{
	xmlDocPtr doc = parse(xml, len);
	struct s3_xml_uploads u = { 0 };
	xmlNodePtr root, n;
	size_t cap = 0;
	char *t;
	int r = -EPROTO, g;

	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "ListMultipartUploadsResult"))
		goto out;
	for (n = root->children; n; n = n->next) {
		struct s3_xml_upload *x;

		if (!is(n, "Upload"))
			continue;
		g = grow((void **)&u.u, &cap, u.n, 16, sizeof(*u.u));
		if (g < 0) {
			r = g;
			goto out;
		}
		x = &u.u[u.n];
		x->key = child_text(n, "Key");
		x->upload_id = child_text(n, "UploadId");
		t = child_text(n, "Initiated");
		x->initiated = s3_xml_parse_time(t);
		free(t);
		u.n++;
		if (!x->key || !x->upload_id)
			goto out;
	}
	u.truncated = child_true(root, "IsTruncated");
	u.next_key = child_text(root, "NextKeyMarker");
	u.next_upload_id = child_text(root, "NextUploadIdMarker");
	*out = u;
	memset(&u, 0, sizeof(u));
	r = 0;
out:
	s3_xml_uploads_release(&u);
	xmlFreeDoc(doc);
	return r;
}

void s3_xml_uploads_release(struct s3_xml_uploads *u)
{
	size_t i;

	for (i = 0; i < u->n; i++) {
		free(u->u[i].key);
		free(u->u[i].upload_id);
	}
	free(u->u);
	free(u->next_key);
	free(u->next_upload_id);
	memset(u, 0, sizeof(*u));
}

int s3_xml_parse_delete(const char *xml, size_t len, size_t *nerrors,
			struct s3_xml_error *err)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root, n;
	size_t ne = 0;

	memset(err, 0, sizeof(*err));
	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "DeleteResult")) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	for (n = root->children; n; n = n->next) {
		char code[64];

		if (!is(n, "Error"))
			continue;
		/* a key that is already gone counts as deleted */
		copy_text(n, "Code", code, sizeof(code));
		if (strcmp(code, "NoSuchKey") == 0)
			continue;
		if (ne == 0) {
			fill_error(n, err);
			/* keep the key in the message for the log */
			if (!err->message[0])
				copy_text(n, "Key", err->message,
					  sizeof(err->message));
		}
		ne++;
	}
	xmlFreeDoc(doc);
	*nerrors = ne;
	return 0;
}

int s3_xml_versioning_enabled(const char *xml, size_t len)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root;
	char *st;
	int r;

	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "VersioningConfiguration")) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	st = child_text(root, "Status");
	r = st && !strcmp(st, "Enabled");
	free(st);
	xmlFreeDoc(doc);
	return r;
}

int s3_xml_kms_default(const char *xml, size_t len, char *key, size_t size)
{
	xmlDocPtr doc = parse(xml, len);
	xmlNodePtr root, rule, def;
	int r = 0;

	if (!doc)
		return -EPROTO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "ServerSideEncryptionConfiguration")) {
		xmlFreeDoc(doc);
		return -EPROTO;
	}
	for (rule = root->children; rule && r == 0; rule = rule->next) {
		char *alg;

		if (!is(rule, "Rule"))
			continue;
		def = child(rule, "ApplyServerSideEncryptionByDefault");
		if (!def)
			continue;
		alg = child_text(def, "SSEAlgorithm");
		if (alg && !strcmp(alg, "aws:kms")) {
			copy_text(def, "KMSMasterKeyID", key, size);
			r = 1;
		}
		free(alg);
	}
	xmlFreeDoc(doc);
	return r;
}
