/*
 * file_store.c - the local-directory store: objects are files.
 *
 * Why this shape: a user looking at the store directory sees the same key
 * layout as in the bucket, so a NAS copy stays understandable; and all the
 * atomicity comes from rename(2)/link(2) within one file system, which is
 * why temporary files live under root and never in /tmp.  The listing
 * walk is file_list.c.
 */
#include "file_store.h"
#include "file_store_i.h"
#include "fileio.h"
#include "buf.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_DIR HIDDEN "/meta"
#define META_MAX (64 * 1024)
#define IO_CHUNK (256 * 1024)
#define KEY_LOCKS 64		/* stripes of per-key locks */
#define PUBLISH_TRIES 8		/* a racing del may prune our parent dirs */

struct fstore {
	char root[PATH_MAX];
	int rootfd;
	/* held while an object and its metadata change together, so that
	 * two threads writing one key cannot pair one's object with the
	 * other's metadata; readers never lock */
	pthread_mutex_t key_lock[KEY_LOCKS];
};

static pthread_mutex_t *key_lock(struct fstore *f, const char *key)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return &f->key_lock[h % KEY_LOCKS];
}

int file_store_err(void)
{
	return errno ? -errno : -EIO;
}

/* ---- keys and paths ----------------------------------------------------- */

static int key_ok(const char *key)
{
	size_t len = strlen(key);
	const char *p = key, *slash;

	if (len == 0 || len > OCB_KEY_MAX || key[0] == '/')
		return 0;
	if (strncmp(key, HIDDEN, strlen(HIDDEN)) == 0 &&
	    (key[strlen(HIDDEN)] == '/' || key[strlen(HIDDEN)] == '\0'))
		return 0;
	for (;;) {
		size_t n;

		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.') || n > NAME_MAX)
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

/* mkdir -p of the parent directories of rel (relative to dirfd) */
static int make_parents(int dirfd, const char *rel)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", rel) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = strchr(tmp, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdirat(dirfd, tmp, 0755) < 0 && errno != EEXIST)
			return file_store_err();
		*p = '/';
	}
	return 0;
}

/* remove empty parent directories of rel, keeping the first keep bytes
 * (0: up to the root; strlen(META_DIR): up to the metadata dir) */
static void prune_parents(int dirfd, const char *rel, size_t keep)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", rel) >= (int)sizeof(tmp))
		return;
	while ((p = strrchr(tmp, '/')) != NULL && (size_t)(p - tmp) > keep) {
		*p = '\0';
		if (unlinkat(dirfd, tmp, AT_REMOVEDIR) < 0)
			return;
	}
}

void file_store_etag(const struct stat *st, char etag[OCB_ETAG_MAX])
{
	snprintf(etag, OCB_ETAG_MAX, "%" PRIx64 "-%" PRIx64 "-%" PRIx64 "%09ld",
		 (uint64_t)st->st_ino, (uint64_t)st->st_size,
		 (uint64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

static int random_name(char *out, size_t size, const char *prefix)
{
	unsigned char r[12];
	size_t i, o;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	o = (size_t)snprintf(out, size, "%s", prefix);
	for (i = 0; i < sizeof(r) && o + 2 < size; i++, o += 2)
		snprintf(out + o, size - o, "%02x", r[i]);
	return 0;
}

/* ---- metadata sidecars --------------------------------------------------- */

static int meta_path(const char *key, char *out, size_t size)
{
	if (snprintf(out, size, META_DIR "/%s", key) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* metadata as JSON; etag (NULL: none) names the object it belongs to */
static int meta_encode(const struct ocb_put_opts *o, const char *etag,
		       struct ocb_buf *out)
{
	cJSON *root = cJSON_CreateObject(), *m;
	char *s = NULL;
	size_t i;
	int r = -ENOMEM;

	if (!root)
		return -ENOMEM;
	m = cJSON_AddObjectToObject(root, "meta");
	if (!m)
		goto out;
	for (i = 0; o && o->meta && i < o->meta->n; i++)
		if (!cJSON_AddStringToObject(m, o->meta->kv[i].name,
					     o->meta->kv[i].value))
			goto out;
	if (o && o->content_type &&
	    !cJSON_AddStringToObject(root, "content_type", o->content_type))
		goto out;
	if (etag && !cJSON_AddStringToObject(root, "etag", etag))
		goto out;
	s = cJSON_PrintUnformatted(root);
	if (!s)
		goto out;
	r = ocb_buf_append(out, s, strlen(s));
out:
	free(s);
	cJSON_Delete(root);
	return r;
}

static int read_small_file(int dirfd, const char *rel, struct ocb_buf *out)
{
	char chunk[4096];
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return file_store_err();
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			r = file_store_err();
			break;
		}
		if (n == 0)
			break;
		r = ocb_buf_append(out, chunk, (size_t)n);
		if (r < 0)
			break;
	}
	close(fd);
	return r;
}

/*
 * Metadata of the object whose etag is etag.  A sidecar written for
 * another version of the key (a put in progress, a crash) is ignored.
 */
static int meta_load(struct fstore *f, const char *key, const char *etag,
		     struct ocb_meta *m)
{
	char path[PATH_MAX];
	struct ocb_buf b;
	cJSON *root = NULL, *meta, *it, *tag;
	int r;

	r = meta_path(key, path, sizeof(path));
	if (r < 0)
		return r;
	ocb_buf_init(&b, META_MAX);
	r = read_small_file(f->rootfd, path, &b);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	root = cJSON_ParseWithLength(b.data, b.len);
	meta = root ? cJSON_GetObjectItemCaseSensitive(root, "meta") : NULL;
	if (!cJSON_IsObject(meta)) {
		r = -EPROTO;
		goto out;
	}
	tag = cJSON_GetObjectItemCaseSensitive(root, "etag");
	if (!cJSON_IsString(tag) || strcmp(tag->valuestring, etag) != 0)
		goto out;	/* not this version's */
	cJSON_ArrayForEach(it, meta) {
		if (cJSON_IsString(it)) {
			r = ocb_meta_set(m, it->string, it->valuestring);
			if (r < 0)
				goto out;
		}
	}
out:
	cJSON_Delete(root);
	ocb_buf_release(&b);
	return r;
}

/* ---- temporary files ----------------------------------------------------- */

/* create a temp file under .ocb-store/tmp; *fd open for writing */
static int tmp_create(struct fstore *f, char *rel, size_t size, int *fd)
{
	char name[64];
	int i, r;

	r = random_name(name, sizeof(name), "t.");
	if (r < 0)
		return r;
	if (snprintf(rel, size, HIDDEN "/tmp/%s", name) >= (int)size)
		return -ENAMETOOLONG;
	for (i = 0; i < PUBLISH_TRIES; i++) {
		*fd = openat(f->rootfd, rel,
			     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (*fd >= 0)
			return 0;
		if (errno != ENOENT)
			return file_store_err();
		r = make_parents(f->rootfd, rel);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return -ENOENT;
}

/* flush and close fd; st (may be NULL) gets its final stat */
static int tmp_finish(int fd, struct stat *st)
{
	int r = 0;

	if (fsync(fd) < 0)
		r = file_store_err();
	if (r == 0 && st && fstat(fd, st) < 0)
		r = file_store_err();
	if (close(fd) < 0 && r == 0)
		r = file_store_err();
	return r;
}

/* A new temporary file named into tmp holding the n bytes at p, synced
 * (st: its stat, or NULL); on failure nothing is left behind. */
static int tmp_write(struct fstore *f, char *tmp, size_t size, const void *p,
		     size_t n, struct stat *st)
{
	int fd, r;

	r = tmp_create(f, tmp, size, &fd);
	if (r < 0)
		return r;
	r = ocb_fileio_write_all(fd, p, n);
	if (r == 0)
		r = tmp_finish(fd, st);
	else
		close(fd);
	if (r < 0)
		unlinkat(f->rootfd, tmp, 0);
	return r;
}

/*
 * Move tmp into place as rel; with excl, link instead, failing with
 * -EEXIST if rel exists.  A concurrent del may prune the parent
 * directories between our mkdir and rename: then we make them again.
 */
static int tmp_publish(struct fstore *f, const char *tmp, const char *rel,
		       int excl)
{
	int i, r;

	for (i = 0; i < PUBLISH_TRIES; i++) {
		r = make_parents(f->rootfd, rel);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		r = excl ? linkat(f->rootfd, tmp, f->rootfd, rel, 0) :
			renameat(f->rootfd, tmp, f->rootfd, rel);
		if (r == 0) {
			if (excl)
				unlinkat(f->rootfd, tmp, 0);
			return 0;
		}
		if (errno != ENOENT)
			return file_store_err();
	}
	return -ENOENT;
}

static int has_meta(const struct ocb_put_opts *o)
{
	return o && ((o->meta && o->meta->n) || o->content_type);
}

/* write the metadata sidecar of key for the version etag */
static int meta_write(struct fstore *f, const char *key,
		      const struct ocb_put_opts *o, const char *etag)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct ocb_buf b;
	int r;

	r = meta_path(key, path, sizeof(path));
	if (r < 0)
		return r;
	ocb_buf_init(&b, META_MAX);
	r = meta_encode(o, etag, &b);
	if (r < 0)
		goto out;
	r = tmp_write(f, tmp, sizeof(tmp), b.data, b.len, NULL);
	if (r < 0)
		goto out;
	r = tmp_publish(f, tmp, path, 0);
	if (r < 0)
		unlinkat(f->rootfd, tmp, 0);
out:
	ocb_buf_release(&b);
	return r;
}

static void meta_remove(struct fstore *f, const char *key)
{
	char path[PATH_MAX];

	if (meta_path(key, path, sizeof(path)) == 0 &&
	    unlinkat(f->rootfd, path, 0) == 0)
		prune_parents(f->rootfd, path, strlen(META_DIR));
}

/*
 * Make the finished temporary file tmp (version etag) the object key,
 * with the metadata of o.  The sidecar names the version it belongs to, so
 * a reader never pairs an object with another version's metadata; at worst
 * it sees the new object without metadata for a moment.  A plain put
 * writes the sidecar first; a conditional create only after it won, so
 * that a loser cannot replace the winner's metadata.
 */
static int publish_obj(struct fstore *f, const char *tmp, const char *key,
		       const struct ocb_put_opts *o, const char *etag)
{
	pthread_mutex_t *l = key_lock(f, key);
	int r;

	pthread_mutex_lock(l);
	if (o && o->if_none_match) {
		r = tmp_publish(f, tmp, key, 1);
		if (r == 0 && has_meta(o)) {
			r = meta_write(f, key, o, etag);
			if (r < 0) {	/* all or nothing */
				unlinkat(f->rootfd, key, 0);
				prune_parents(f->rootfd, key, 0);
			}
		} else if (r == 0) {
			meta_remove(f, key);
		}
	} else if (has_meta(o)) {
		r = meta_write(f, key, o, etag);
		if (r == 0)
			r = tmp_publish(f, tmp, key, 0);
	} else {
		r = tmp_publish(f, tmp, key, 0);
		if (r == 0)
			meta_remove(f, key);
	}
	pthread_mutex_unlock(l);
	return r;
}

/* ---- hooks ---------------------------------------------------------------- */

static int stat_obj(struct fstore *f, const char *key, struct stat *st)
{
	if (!key_ok(key))
		return -EINVAL;
	if (fstatat(f->rootfd, key, st, 0) < 0)
		return errno == ENOTDIR ? -ENOENT : file_store_err();
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	return 0;
}

static int fill_head(struct fstore *f, const char *key, const struct stat *st,
		     struct ocb_obj_head *h)
{
	h->size = (uint64_t)st->st_size;
	h->mtime = st->st_mtim.tv_sec;
	file_store_etag(st, h->etag);
	return meta_load(f, key, h->etag, &h->meta);
}

static int fstore_head(struct ocb_store *s, const char *key,
		       struct ocb_obj_head *out)
{
	struct fstore *f = s->priv;
	struct ocb_obj_head h = { 0 };
	struct stat st;
	int r = stat_obj(f, key, &st);

	if (r < 0)
		return r;
	r = fill_head(f, key, &st, &h);
	if (r < 0) {
		ocb_obj_head_release(&h);
		return r;
	}
	*out = h;
	return 0;
}

static int fstore_get(struct ocb_store *s, const struct ocb_get_req *req,
		      ocb_sink_fn sink, void *arg, struct ocb_obj_head *head)
{
	struct fstore *f = s->priv;
	struct stat st;
	char etag[OCB_ETAG_MAX];
	uint64_t off, end, size;
	char *chunk = NULL;
	int fd, r;

	if (!key_ok(req->key))
		return -EINVAL;
	if (req->len == 0)
		return 0;	/* as the S3 store: no request at all */
	/* the open file is one version: a put renamed over it later does
	 * not change what this get reads */
	fd = openat(f->rootfd, req->key, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR || errno == EISDIR ? -ENOENT :
			file_store_err();
	if (fstat(fd, &st) < 0) {
		r = file_store_err();
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -ENOENT;
		goto out;
	}
	file_store_etag(&st, etag);
	if (req->if_match && strcmp(req->if_match, etag) != 0) {
		r = -ESTALE;
		goto out;
	}
	size = (uint64_t)st.st_size;
	if (req->suffix) {
		off = req->len >= size ? 0 : size - req->len;
		end = size;
	} else {
		off = req->off;
		if (off >= size && !(off == 0 && size == 0)) {
			r = -ERANGE;
			goto out;
		}
		end = req->len == OCB_TO_END || req->len > size - off ?
			size : off + req->len;
	}
	if (head) {
		r = fill_head(f, req->key, &st, head);
		if (r < 0)
			goto out;
	}
	chunk = malloc(IO_CHUNK);
	if (!chunk) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
	while (off < end) {
		size_t want = end - off > IO_CHUNK ? IO_CHUNK : (size_t)(end - off);
		ssize_t n = pread(fd, chunk, want, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = file_store_err();
			break;
		}
		if (n == 0) {	/* truncated by someone outside the store */
			r = -ECONNRESET;
			break;
		}
		r = sink(arg, chunk, (size_t)n);
		if (r < 0)
			break;
		off += (uint64_t)n;
	}
out:
	free(chunk);
	close(fd);
	return r;
}

/* copy size bytes from src into fd */
static int copy_source(int fd, uint64_t size, ocb_source_fn src, void *arg)
{
	char *chunk = malloc(IO_CHUNK);
	uint64_t off = 0;
	int r = 0;

	if (!chunk)
		return -ENOMEM;
	while (off < size) {
		size_t want = size - off > IO_CHUNK ? IO_CHUNK : (size_t)(size - off);
		ssize_t n = src(arg, off, chunk, want);

		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0 || (size_t)n > want) {
			r = -EINVAL;	/* source shorter than announced */
			break;
		}
		r = ocb_fileio_write_all(fd, chunk, (size_t)n);
		if (r < 0)
			break;
		off += (uint64_t)n;
	}
	free(chunk);
	return r;
}

static int fstore_put(struct ocb_store *s, const char *key, uint64_t size,
		      ocb_source_fn src, void *arg,
		      const struct ocb_put_opts *opts)
{
	struct fstore *f = s->priv;
	char tmp[PATH_MAX], etag[OCB_ETAG_MAX];
	struct stat st;
	int fd, r;

	if (!key_ok(key))
		return -EINVAL;
	/* only saves the copy: the link in publish_obj decides */
	if (opts && opts->if_none_match && fstatat(f->rootfd, key, &st, 0) == 0)
		return -EEXIST;
	r = tmp_create(f, tmp, sizeof(tmp), &fd);
	if (r < 0)
		return r;
	r = copy_source(fd, size, src, arg);
	if (r == 0)
		r = tmp_finish(fd, &st);
	else
		close(fd);
	if (r == 0) {
		file_store_etag(&st, etag);
		r = publish_obj(f, tmp, key, opts, etag);
	}
	if (r < 0)
		unlinkat(f->rootfd, tmp, 0);
	return r;
}

static int fstore_del(struct ocb_store *s, const char *key)
{
	struct fstore *f = s->priv;
	pthread_mutex_t *l;
	int r = 0;

	if (!key_ok(key))
		return -EINVAL;
	l = key_lock(f, key);
	pthread_mutex_lock(l);
	if (unlinkat(f->rootfd, key, 0) == 0) {
		prune_parents(f->rootfd, key, 0);
		meta_remove(f, key);
	} else if (errno != ENOENT && errno != ENOTDIR && errno != EISDIR) {
		r = file_store_err();	/* (a directory is no object) */
	}
	pthread_mutex_unlock(l);
	return r;
}

static int fstore_del_many(struct ocb_store *s, const char *const *keys,
			   size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = fstore_del(s, keys[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- listing (the walk is file_list.c) ---------------------------------- */

static int fstore_list(struct ocb_store *s, const char *prefix,
		       const char *delimiter, const char *start_after,
		       ocb_list_fn cb, void *arg)
{
	struct fstore *f = s->priv;

	return file_list_walk(f->rootfd, prefix, delimiter, start_after, cb,
			      arg);
}

/* ---- multipart ------------------------------------------------------------- */

#define UPLOADS HIDDEN "/uploads"

static int upload_dir(const char *id, char *out, size_t size)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f') || id[i] == '.' ||
		      id[i] == 'u'))
			return -ENOENT;	/* not one of ours */
	if (i == 0 || snprintf(out, size, UPLOADS "/%s", id) >= (int)size)
		return -ENOENT;
	return 0;
}

/* write a whole file at rel (whose directory must exist), atomically;
 * st (may be NULL) gets the stat of the new file */
static int write_file_at(struct fstore *f, const char *rel, const void *p,
			 size_t n, struct stat *st)
{
	char tmp[PATH_MAX];
	int r;

	r = tmp_write(f, tmp, sizeof(tmp), p, n, st);
	if (r < 0)
		return r;
	if (renameat(f->rootfd, tmp, f->rootfd, rel) < 0) {
		r = file_store_err();
		unlinkat(f->rootfd, tmp, 0);
	}
	return r;
}

/*
 * Remove an upload directory.  It is first renamed into tmp/, atomically,
 * so that a part arriving meanwhile finds no upload (-ENOENT) instead of
 * leaving a part in a half-removed directory.
 */
static void remove_upload(struct fstore *f, const char *dir)
{
	char trash[PATH_MAX], name[64];
	struct dirent *de;
	DIR *d;
	int fd;

	if (random_name(name, sizeof(name), "d.") < 0 ||
	    snprintf(trash, sizeof(trash), HIDDEN "/tmp/%s", name) >=
	    (int)sizeof(trash) ||
	    renameat(f->rootfd, dir, f->rootfd, trash) < 0)
		return;
	fd = openat(f->rootfd, trash, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	unlinkat(f->rootfd, trash, AT_REMOVEDIR);
}

static int fstore_mpu_create(struct ocb_store *s, const char *key,
			     const struct ocb_put_opts *opts, char **upload_id)
{
	struct fstore *f = s->priv;
	char id[64], dir[PATH_MAX], path[PATH_MAX + 16];
	struct ocb_buf b;
	cJSON *root = NULL;
	char *txt = NULL, *copy = NULL;
	int r;

	if (!key_ok(key))
		return -EINVAL;
	r = random_name(id, sizeof(id), "u.");
	if (r < 0)
		return r;
	upload_dir(id, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/x", dir);
	r = make_parents(f->rootfd, path);
	if (r < 0)
		return r;
	ocb_buf_init(&b, META_MAX);
	r = meta_encode(opts, NULL, &b);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	root = cJSON_Parse(b.data);
	if (!root || !cJSON_AddStringToObject(root, "key", key) ||
	    !cJSON_AddNumberToObject(root, "initiated", (double)time(NULL)) ||
	    !cJSON_AddBoolToObject(root, "if_none_match",
				   opts && opts->if_none_match))
		goto out;
	txt = cJSON_PrintUnformatted(root);
	copy = strdup(id);
	if (!txt || !copy)
		goto out;
	snprintf(path, sizeof(path), "%s/info", dir);
	r = write_file_at(f, path, txt, strlen(txt), NULL);
out:
	if (r == 0) {
		*upload_id = copy;
		copy = NULL;
	} else {
		remove_upload(f, dir);
	}
	free(copy);
	free(txt);
	cJSON_Delete(root);
	ocb_buf_release(&b);
	return r;
}

static int upload_info(struct fstore *f, const char *id, cJSON **out)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct ocb_buf b;
	int r;

	r = upload_dir(id, dir, sizeof(dir));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/info", dir);
	ocb_buf_init(&b, META_MAX);
	r = read_small_file(f->rootfd, path, &b);
	if (r == 0) {
		*out = cJSON_ParseWithLength(b.data, b.len);
		if (!*out)
			r = -EPROTO;
	}
	ocb_buf_release(&b);
	return r;
}

static int fstore_mpu_part(struct ocb_store *s, const char *key,
			   const char *upload_id, int no, const void *data,
			   size_t len, char etag[OCB_ETAG_MAX])
{
	struct fstore *f = s->priv;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct stat st;
	int r;

	(void)key;
	if (no < 1 || no > 10000)
		return -EINVAL;
	r = upload_dir(upload_id, dir, sizeof(dir));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/part-%05d", dir, no);
	/* a part uploaded again replaces the earlier one, as in S3 */
	r = write_file_at(f, path, data, len, &st);
	if (r == -ENOTDIR)
		r = -ENOENT;
	if (r < 0)
		return r;
	file_store_etag(&st, etag);
	return 0;
}

/* append part file rel to fd, checking it is the version etag */
static int append_part(struct fstore *f, int fd, const char *rel,
		       const char *etag, char *chunk)
{
	char have[OCB_ETAG_MAX];
	struct stat st;
	int pfd, r = 0;

	pfd = openat(f->rootfd, rel, O_RDONLY | O_CLOEXEC);
	if (pfd < 0)
		return -EINVAL;	/* S3: InvalidPart */
	if (fstat(pfd, &st) < 0) {
		r = file_store_err();
		goto out;
	}
	file_store_etag(&st, have);
	if (strcmp(have, etag) != 0) {
		r = -EINVAL;	/* InvalidPart: not the part named */
		goto out;
	}
	for (;;) {
		ssize_t n = read(pfd, chunk, IO_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				r = file_store_err();
			break;
		}
		r = ocb_fileio_write_all(fd, chunk, (size_t)n);
		if (r < 0)
			break;
	}
out:
	close(pfd);
	return r;
}

static int fstore_mpu_complete(struct ocb_store *s, const char *key,
			       const char *upload_id,
			       const struct ocb_part *parts, size_t nparts)
{
	struct fstore *f = s->priv;
	char dir[PATH_MAX], path[PATH_MAX + 16], tmp[PATH_MAX];
	char etag[OCB_ETAG_MAX];
	struct ocb_put_opts po = { 0 };
	struct ocb_meta meta = { 0 };
	cJSON *info = NULL, *m, *it, *ct;
	char *chunk = NULL;
	struct stat st;
	size_t i;
	int fd = -1, r;

	r = upload_dir(upload_id, dir, sizeof(dir));
	if (r < 0)
		return r;
	r = upload_info(f, upload_id, &info);
	if (r < 0)
		return r;
	it = cJSON_GetObjectItemCaseSensitive(info, "key");
	if (!cJSON_IsString(it) || strcmp(it->valuestring, key) != 0 ||
	    nparts == 0) {
		r = -EINVAL;
		goto out;
	}
	m = cJSON_GetObjectItemCaseSensitive(info, "meta");
	cJSON_ArrayForEach(it, m) {
		if (!cJSON_IsString(it))
			continue;
		r = ocb_meta_set(&meta, it->string, it->valuestring);
		if (r < 0)
			goto out;
	}
	ct = cJSON_GetObjectItemCaseSensitive(info, "content_type");
	po.meta = &meta;
	po.content_type = cJSON_IsString(ct) ? ct->valuestring : NULL;
	po.if_none_match = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(info, "if_none_match"));
	chunk = malloc(IO_CHUNK);
	if (!chunk) {
		r = -ENOMEM;
		goto out;
	}
	r = tmp_create(f, tmp, sizeof(tmp), &fd);
	if (r < 0)
		goto out;
	for (i = 0; i < nparts && r == 0; i++) {
		if (i > 0 && parts[i].no <= parts[i - 1].no) {
			r = -EINVAL;	/* S3: InvalidPartOrder */
			break;
		}
		snprintf(path, sizeof(path), "%s/part-%05d", dir, parts[i].no);
		r = append_part(f, fd, path, parts[i].etag, chunk);
	}
	if (r == 0)
		r = tmp_finish(fd, &st);
	else
		close(fd);
	if (r == 0) {
		file_store_etag(&st, etag);
		r = publish_obj(f, tmp, key, &po, etag);
	}
	if (r < 0)
		unlinkat(f->rootfd, tmp, 0);
	else
		remove_upload(f, dir);
out:
	free(chunk);
	ocb_meta_release(&meta);
	cJSON_Delete(info);
	return r;
}

static int fstore_mpu_abort(struct ocb_store *s, const char *key,
			    const char *upload_id)
{
	struct fstore *f = s->priv;
	char dir[PATH_MAX];

	(void)key;
	if (upload_dir(upload_id, dir, sizeof(dir)) < 0)
		return 0;
	remove_upload(f, dir);
	return 0;
}

static int fstore_mpu_list(struct ocb_store *s, const char *prefix,
			   ocb_upload_fn cb, void *arg)
{
	struct fstore *f = s->priv;
	struct name_ent *v;
	size_t n, i;
	int r;

	r = file_list_sorted(f->rootfd, UPLOADS, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		cJSON *info = NULL, *k, *t;
		char id[128];

		if (!v[i].is_dir)
			continue;
		snprintf(id, sizeof(id), "%s", v[i].sortkey);
		id[strlen(id) - 1] = '\0';
		if (upload_info(f, id, &info) < 0)
			continue;
		k = cJSON_GetObjectItemCaseSensitive(info, "key");
		t = cJSON_GetObjectItemCaseSensitive(info, "initiated");
		if (cJSON_IsString(k) &&
		    strncmp(k->valuestring, prefix ? prefix : "",
			    strlen(prefix ? prefix : "")) == 0)
			r = cb(arg, k->valuestring, id,
			       cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0);
		cJSON_Delete(info);
	}
	file_list_free(v, n);
	return r;
}

static void fstore_stats(struct ocb_store *s, struct ocb_buf *out)
{
	(void)s;
	(void)out;
}

static void fstore_destroy(struct ocb_store *s)
{
	struct fstore *f = s->priv;
	int i;

	for (i = 0; i < KEY_LOCKS; i++)
		pthread_mutex_destroy(&f->key_lock[i]);
	close(f->rootfd);
	free(f);
	free(s);
}

static const struct ocb_store_ops fstore_ops = {
	.name = "file",
	.get = fstore_get,
	.head = fstore_head,
	.put = fstore_put,
	.mpu_create = fstore_mpu_create,
	.mpu_part = fstore_mpu_part,
	.mpu_complete = fstore_mpu_complete,
	.mpu_abort = fstore_mpu_abort,
	.mpu_list = fstore_mpu_list,
	.list = fstore_list,
	.del = fstore_del,
	.del_many = fstore_del_many,
	.stats = fstore_stats,
	.destroy = fstore_destroy,
};

int ocb_file_store_new(const char *root, struct ocb_store **out)
{
	struct ocb_store *s = NULL;
	struct fstore *f = NULL;
	struct stat st;
	char esc[256];
	int i, r;

	if (stat(root, &st) < 0) {
		r = file_store_err();
		ocb_err("store directory %s: %s",
			ocb_log_escape(esc, sizeof(esc), root), strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		ocb_err("store path %s is not a directory",
			ocb_log_escape(esc, sizeof(esc), root));
		return -ENOTDIR;
	}
	s = calloc(1, sizeof(*s));
	f = calloc(1, sizeof(*f));
	if (!s || !f) {
		r = -ENOMEM;
		goto fail;
	}
	if (!realpath(root, f->root)) {
		r = file_store_err();
		goto fail;
	}
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->rootfd < 0) {
		r = file_store_err();
		ocb_err("store directory %s: %s",
			ocb_log_escape(esc, sizeof(esc), root), strerror(-r));
		goto fail;
	}
	for (i = 0; i < KEY_LOCKS; i++)
		pthread_mutex_init(&f->key_lock[i], NULL);
	s->ops = &fstore_ops;
	s->priv = f;
	snprintf(s->desc, sizeof(s->desc), "file://%.240s", f->root);
	*out = s;
	return 0;
fail:
	free(s);
	free(f);
	return r;
}
