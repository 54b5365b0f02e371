/*
 * store.h - the one object-store interface of ocbfs.
 *
 * Implemented by the S3 store (s3_store.c) and the local-directory store
 * (file_store.c); layers such as retry (retry_store.c) wrap an inner store
 * and own it.  Everything above this line (archive reader/writer, mount,
 * tools) sees only this interface.
 *
 * LAYERS are built on store_layer.h: a layer implements only the hooks it
 * changes (or one around hook that sees every call, described), and every
 * other call reaches the inner store unchanged.  Seen from outside, a
 * layer is a store like any other: its stats are its lines then the inner
 * store's, and freeing it frees the inner store.
 *
 * ERROR CONVENTION (whole project): functions return 0 (or a non-negative
 * count) on success and a negative errno on failure.  Output parameters are
 * written only on success unless a hook says otherwise.  For stores:
 *   -ENOENT      no such key (S3 404 NoSuchKey), or no such bucket (NoSuchBucket,
 *                logged as such)
 *   -EACCES      refused (403: bad credentials, signature, policy)
 *   -EEXIST      conditional create failed (412 on If-None-Match: *)
 *   -ESTALE      If-Match failed (412): the object changed under us
 *   -ERANGE      range starts past the end of the object (416)
 *   -EINVAL      request the server called malformed (other 4xx)
 *   -EFBIG       a response exceeded its size cap
 *   -EPROTO      response we could not understand (bad XML, missing header)
 *   -ECANCELED   a sink or source callback asked to stop (its own negative
 *                value is returned instead when it returns one)
 * Transient failures, the only ones the retry layer retries:
 *   -EAGAIN      5xx, 503 SlowDown, 429
 *   -ETIMEDOUT   connect or transfer timeout
 *   -ECONNRESET  connection reset or closed early (short body)
 *   -ECONNREFUSED, -EHOSTUNREACH  server down / unreachable
 * When retries are exhausted the retry layer returns -EIO for -EAGAIN and
 * -ECONNRESET, and the original value for the others.
 *
 * THREADS: every hook may be called concurrently from many threads on the
 * same store.  Keys are full object keys (no leading '/'), at most 1024
 * bytes of UTF-8.
 */
#ifndef OCB_STORE_H
#define OCB_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ocb_buf;

#define OCB_KEY_MAX 1024
#define OCB_ETAG_MAX 80
#define OCB_META_MAX 16		/* user metadata pairs per object */
#define OCB_META_VALUE_MAX 1024
#define OCB_TO_END UINT64_MAX	/* ocb_get_req.len: up to the end */

/* User metadata: names are lower case, without the "x-amz-meta-" prefix. */
struct ocb_meta {
	size_t n;
	struct {
		char *name;
		char *value;
	} kv[OCB_META_MAX];
};

/* Set (add or replace) name=value: 0, -E2BIG when full, -EINVAL, -ENOMEM. */
int ocb_meta_set(struct ocb_meta *m, const char *name, const char *value);
/* Value of name, or NULL. */
const char *ocb_meta_get(const struct ocb_meta *m, const char *name);
void ocb_meta_release(struct ocb_meta *m);

struct ocb_obj_head {
	uint64_t size;		/* size of the whole object */
	int64_t mtime;		/* Last-Modified, seconds since the epoch */
	char etag[OCB_ETAG_MAX];	/* without quotes */
	struct ocb_meta meta;
};

void ocb_obj_head_release(struct ocb_obj_head *h);

/* Receives object bytes in order: 0 to go on, negative errno to abort
 * (that value is returned by the hook). */
typedef int (*ocb_sink_fn)(void *arg, const void *data, size_t len);

/* Positional source of bytes for a put: copy up to len bytes of the object
 * starting at off into buf.  Returns the count (> 0 until size is reached)
 * or a negative errno.  May be called again for the same offsets when a
 * request is retried. */
typedef ssize_t (*ocb_source_fn)(void *arg, uint64_t off, void *buf,
				 size_t len);

struct ocb_get_req {
	const char *key;
	uint64_t off;		/* first byte wanted */
	uint64_t len;		/* bytes wanted, or OCB_TO_END */
	int suffix;		/* if set: the last len bytes; off is ignored */
	const char *if_match;	/* NULL, or the etag the object must have */
	/* NULL, or where a caching layer adds the bytes of this request it
	 * answered without a request of its own to the store below it (from
	 * its disk, or from another request's transfer): a request none of
	 * whose bytes were counted there went to the store as a whole */
	uint64_t *local_bytes;
	/* set: bytes of this range a caching layer gave before failed a
	 * check above it (a damaged cache file): it drops what it holds of
	 * the range and answers from the store below (others ignore it) */
	int refetch;
};

struct ocb_put_opts {
	const struct ocb_meta *meta;	/* NULL for none */
	const char *content_type;	/* NULL: application/octet-stream */
	int if_none_match;		/* create only: -EEXIST if key exists */
	const char *sse;		/* NULL, "AES256" or "aws:kms" */
	const char *sse_kms_key_id;	/* with "aws:kms": key id/alias/ARN */
};

struct ocb_part {
	int no;			/* 1..10000 */
	char etag[OCB_ETAG_MAX];
};

struct ocb_list_entry {
	const char *key;	/* full key, or the common prefix */
	int is_prefix;		/* a common prefix (ends with the delimiter) */
	uint64_t size;		/* objects only */
	int64_t mtime;		/* objects only */
	const char *etag;	/* objects only; may be "" */
};

/* One listed entry: 0 to go on, negative errno to stop (returned). */
typedef int (*ocb_list_fn)(void *arg, const struct ocb_list_entry *e);

/* One unfinished multipart upload. */
typedef int (*ocb_upload_fn)(void *arg, const char *key,
			     const char *upload_id, int64_t initiated);

struct ocb_store;

struct ocb_store_ops {
	const char *name;	/* "s3", "file", "retry", ... */

	/*
	 * Read the range req describes and feed it to sink, in order, in
	 * chunks of any size.  The range is clipped at the end of the object.
	 * A range starting at or past the end gives -ERANGE, except off 0 of
	 * an empty object, which delivers nothing and returns 0.  A suffix
	 * longer than the object delivers the whole object.
	 * head may be NULL; otherwise it is filled (size of the whole object,
	 * mtime, etag, metadata) BEFORE the first sink call, so that a caller
	 * can resume an interrupted transfer with if_match.  On failure the
	 * caller must still ocb_obj_head_release(head).
	 */
	int (*get)(struct ocb_store *s, const struct ocb_get_req *req,
		   ocb_sink_fn sink, void *arg, struct ocb_obj_head *head);

	/* Size, mtime, etag and user metadata of key: 0 or -ENOENT, ... */
	int (*head)(struct ocb_store *s, const char *key,
		    struct ocb_obj_head *out);

	/*
	 * Store size bytes read from src as key, atomically: readers see the
	 * old object or the whole new one.  Intended for objects up to a
	 * part size or so; larger ones go through the multipart uploader (multipart.h).
	 */
	int (*put)(struct ocb_store *s, const char *key, uint64_t size,
		   ocb_source_fn src, void *arg,
		   const struct ocb_put_opts *opts);

	/* Multipart upload.  Nothing is visible under key until complete
	 * succeeds; abort discards the parts (and tolerates an upload that is
	 * already gone: 0).  *upload_id is malloc'ed, free() it. */
	int (*mpu_create)(struct ocb_store *s, const char *key,
			  const struct ocb_put_opts *opts, char **upload_id);
	/* Upload part no (1..10000); etag receives the part's etag. */
	int (*mpu_part)(struct ocb_store *s, const char *key,
			const char *upload_id, int no, const void *data,
			size_t len, char etag[OCB_ETAG_MAX]);
	/* parts in ascending order of no. */
	int (*mpu_complete)(struct ocb_store *s, const char *key,
			    const char *upload_id,
			    const struct ocb_part *parts, size_t nparts);
	int (*mpu_abort)(struct ocb_store *s, const char *key,
			 const char *upload_id);
	/* Unfinished uploads whose key starts with prefix, all pages. */
	int (*mpu_list)(struct ocb_store *s, const char *prefix,
			ocb_upload_fn cb, void *arg);

	/*
	 * Every key starting with prefix (may be ""), in ascending byte order,
	 * all pages.  With a delimiter (NULL or "/"), keys holding it after
	 * the prefix are rolled up into one is_prefix entry each, reported
	 * in order among the objects.  start_after (NULL or a key) skips keys
	 * up to and including it.
	 */
	int (*list)(struct ocb_store *s, const char *prefix,
		    const char *delimiter, const char *start_after,
		    ocb_list_fn cb, void *arg);

	/* Delete key; deleting a missing key succeeds (0). */
	int (*del)(struct ocb_store *s, const char *key);
	/* Delete n keys (batched as the store allows); 0 or first error. */
	int (*del_many)(struct ocb_store *s, const char *const *keys,
			size_t n);

	/* Append "name value\n" counter lines (this layer, then inner). */
	void (*stats)(struct ocb_store *s, struct ocb_buf *out);

	/* Free this layer and the inner store it owns.  NULL-safe wrapper:
	 * ocb_store_free(). */
	void (*destroy)(struct ocb_store *s);
};

struct ocb_store {
	const struct ocb_store_ops *ops;
	void *priv;		/* the implementation's state */
	char desc[256];		/* "s3://bucket", "file:///dir": for messages */
};

/* Convenience wrappers over the hooks. */
void ocb_store_free(struct ocb_store *s);

/* Read [off, off+len) of key into buf (exactly len bytes unless the
 * object ends first).  Returns the byte count or a negative errno. */
ssize_t ocb_store_read(struct ocb_store *s, const char *key, uint64_t off,
		       size_t len, void *buf);
/* Read the range req describes (req->len bytes at most, not a suffix)
 * into buf.  Returns the byte count or a negative errno. */
ssize_t ocb_store_read_req(struct ocb_store *s, const struct ocb_get_req *req,
			   void *buf);
/* Read the last len bytes of key into buf; *objsize gets the object's
 * size.  Returns the byte count (< len for a shorter object). */
ssize_t ocb_store_read_suffix(struct ocb_store *s, const char *key,
			      size_t len, void *buf, uint64_t *objsize);
/* Whole object into out (out->max caps it: -EFBIG past it). */
int ocb_store_get_buf(struct ocb_store *s, const char *key,
		      struct ocb_buf *out, struct ocb_obj_head *head);
/* Put a memory buffer. */
int ocb_store_put_mem(struct ocb_store *s, const char *key, const void *p,
		      size_t len, const struct ocb_put_opts *opts);

/* Human text for a store error (strerror plus store-specific wording). */
const char *ocb_store_strerror(int err);

#endif
