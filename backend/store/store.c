/*
 * store.c - helpers shared by every store implementation and its callers.
 */
#include "store.h"
#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ocb_meta_set(struct ocb_meta *m, const char *name, const char *value)
{
	size_t i, nlen = strlen(name);
	char *v;

	if (nlen == 0 || nlen > 128 || strlen(value) > OCB_META_VALUE_MAX)
		return -EINVAL;
	for (i = 0; i < nlen; i++)
		if (!(islower((unsigned char)name[i]) ||
		      isdigit((unsigned char)name[i]) || name[i] == '-' ||
		      name[i] == '_'))
			return -EINVAL;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < m->n; i++) {
		if (strcmp(m->kv[i].name, name) == 0) {
			free(m->kv[i].value);
			m->kv[i].value = v;
			return 0;
		}
	}
	if (m->n == OCB_META_MAX) {
		free(v);
		return -E2BIG;
	}
	m->kv[m->n].name = strdup(name);
	if (!m->kv[m->n].name) {
		free(v);
		return -ENOMEM;
	}
	m->kv[m->n].value = v;
	m->n++;
	return 0;
}

const char *ocb_meta_get(const struct ocb_meta *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->kv[i].name, name) == 0)
			return m->kv[i].value;
	return NULL;
}

void ocb_meta_release(struct ocb_meta *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->kv[i].name);
		free(m->kv[i].value);
	}
	m->n = 0;
}

void ocb_obj_head_release(struct ocb_obj_head *h)
{
	if (h)
		ocb_meta_release(&h->meta);
}

void ocb_store_free(struct ocb_store *s)
{
	if (s)
		s->ops->destroy(s);
}

struct mem_sink {
	char *buf;
	size_t len;
	size_t got;
};

static int mem_sink_fn(void *arg, const void *data, size_t len)
{
	struct mem_sink *m = arg;

	if (len > m->len - m->got)
		return -EFBIG;	/* the store sent more than the range */
	memcpy(m->buf + m->got, data, len);
	m->got += len;
	return 0;
}

ssize_t ocb_store_read_req(struct ocb_store *s, const struct ocb_get_req *req,
			   void *buf)
{
	struct mem_sink m = { .buf = buf, .len = req->len };
	int r;

	if (req->len == 0)
		return 0;
	r = s->ops->get(s, req, mem_sink_fn, &m, NULL);
	return r < 0 ? r : (ssize_t)m.got;
}

ssize_t ocb_store_read(struct ocb_store *s, const char *key, uint64_t off,
		       size_t len, void *buf)
{
	struct ocb_get_req req = { .key = key, .off = off, .len = len };

	return ocb_store_read_req(s, &req, buf);
}

ssize_t ocb_store_read_suffix(struct ocb_store *s, const char *key,
			      size_t len, void *buf, uint64_t *objsize)
{
	struct ocb_get_req req = { .key = key, .len = len, .suffix = 1 };
	struct mem_sink m = { .buf = buf, .len = len };
	struct ocb_obj_head h = { 0 };
	int r;

	r = s->ops->get(s, &req, mem_sink_fn, &m, &h);
	ocb_obj_head_release(&h);
	if (r < 0)
		return r;
	if (objsize)
		*objsize = h.size;
	return (ssize_t)m.got;
}

static int buf_sink_fn(void *arg, const void *data, size_t len)
{
	return ocb_buf_append(arg, data, len);
}

int ocb_store_get_buf(struct ocb_store *s, const char *key,
		      struct ocb_buf *out, struct ocb_obj_head *head)
{
	struct ocb_get_req req = { .key = key, .len = OCB_TO_END };

	return s->ops->get(s, &req, buf_sink_fn, out, head);
}

struct mem_src {
	const char *p;
	size_t len;
};

static ssize_t mem_src_fn(void *arg, uint64_t off, void *buf, size_t len)
{
	struct mem_src *m = arg;

	if (off > m->len)
		return -EINVAL;
	if (len > m->len - off)
		len = m->len - off;
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

int ocb_store_put_mem(struct ocb_store *s, const char *key, const void *p,
		      size_t len, const struct ocb_put_opts *opts)
{
	struct mem_src m = { .p = p, .len = len };

	return s->ops->put(s, key, len, mem_src_fn, &m, opts);
}

const char *ocb_store_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case ENOENT: return "no such object or bucket";
	case EACCES: return "access denied (check credentials and bucket policy)";
	case EPERM: return "denied by the credentials' policy";
	case EEXIST: return "object already exists";
	case ESTALE: return "object changed during the operation";
	case ERANGE: return "range outside the object";
	case EFBIG: return "response larger than allowed";
	case EPROTO: return "unexpected response from the server";
	case EAGAIN: return "server busy (retry later)";
	case ETIMEDOUT: return "timed out";
	case ECONNRESET: return "connection reset";
	case ECONNREFUSED: return "connection refused (is the server running?)";
	case EHOSTUNREACH: return "host unreachable";
	case EIO: return "I/O error (retries exhausted)";
	default: return strerror(err < 0 ? -err : err);
	}
}
