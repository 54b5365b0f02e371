/*
 * file_list.c - the listing of the local-directory store (file_store.c):
 * its directories walked in the byte order of the keys they hold, with
 * S3's prefix, "/" delimiter and start-after, as store.h's list() has it.
 * A directory that holds no object (left by a delete) is never listed as
 * a common prefix.
 */
#include "file_store_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_ent *)a)->sortkey,
		      ((const struct name_ent *)b)->sortkey);
}

int file_list_sorted(int rootfd, const char *rel, struct name_ent **out,
		     size_t *nout)
{
	struct name_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	*out = NULL;
	*nout = 0;
	fd = openat(rootfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 :
			file_store_err();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return file_store_err();
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int is_dir;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!*rel && !strcmp(de->d_name, HIDDEN))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;
		is_dir = S_ISDIR(st.st_mode);
		if (n == cap) {
			struct name_ent *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (asprintf(&v[n].sortkey, "%s%s", de->d_name,
			     is_dir ? "/" : "") < 0) {
			r = -ENOMEM;
			break;
		}
		v[n].is_dir = is_dir;
		n++;
	}
	closedir(d);
	if (r < 0) {
		while (n)
			free(v[--n].sortkey);
		free(v);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	*nout = n;
	return 0;
}

void file_list_free(struct name_ent *v, size_t n)
{
	while (n)
		free(v[--n].sortkey);
	free(v);
}

struct walk {
	int rootfd;
	const char *prefix;
	size_t plen;
	const char *delim;
	const char *start_after;
	ocb_list_fn cb;
	void *arg;
};

/* does directory rel hold at least one object (recursively)? */
static int dir_has_objects(int rootfd, const char *rel)
{
	struct name_ent *v;
	size_t n, i;
	int found = 0;

	if (file_list_sorted(rootfd, rel, &v, &n) < 0)
		return 0;
	for (i = 0; i < n && !found; i++) {
		char sub[PATH_MAX];

		if (!v[i].is_dir) {
			found = 1;
			break;
		}
		snprintf(sub, sizeof(sub), "%s/%s", rel, v[i].sortkey);
		sub[strlen(sub) - 1] = '\0';
		found = dir_has_objects(rootfd, sub);
	}
	file_list_free(v, n);
	return found;
}

/*
 * Walk directory dir (key prefix form: "" or "a/b/"), emitting every key
 * that starts with the prefix, in byte order.
 */
static int walk_dir(struct walk *w, const char *dir)
{
	struct name_ent *v;
	size_t n, i, dlen = strlen(dir);
	int r;

	r = file_list_sorted(w->rootfd, dlen ? dir : "", &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		char key[PATH_MAX];
		size_t klen, cmp;

		klen = (size_t)snprintf(key, sizeof(key), "%s%s", dir,
					v[i].sortkey);
		if (klen >= sizeof(key))
			continue;
		/* compare with the prefix as far as both go */
		cmp = klen < w->plen ? klen : w->plen;
		if (strncmp(key, w->prefix, cmp) != 0)
			continue;
		if (v[i].is_dir) {
			const char *rest;

			/* every key below sorts before start_after */
			if (w->start_after && strcmp(key, w->start_after) < 0 &&
			    strncmp(key, w->start_after, klen) != 0)
				continue;
			if (klen < w->plen) {	/* prefix goes deeper */
				r = walk_dir(w, key);
				if (r < 0)
					break;
				continue;
			}
			rest = key + w->plen;
			if (w->delim && strchr(rest, w->delim[0])) {
				/* roll up: key is "<prefix>...<delim>" */
				struct ocb_list_entry e = { .key = key,
							    .is_prefix = 1 };
				char *cut = strchr(rest, w->delim[0]);

				cut[1] = '\0';
				if (w->start_after &&
				    strcmp(key, w->start_after) <= 0)
					continue;
				key[strlen(key) - 1] = '\0';
				if (!dir_has_objects(w->rootfd, key))
					continue;
				key[strlen(key)] = '/';
				r = w->cb(w->arg, &e);
				if (r < 0)
					break;
				continue;
			}
			r = walk_dir(w, key);
			if (r < 0)
				break;
		} else {
			struct stat st;
			char etag[OCB_ETAG_MAX];
			struct ocb_list_entry e = { .key = key, .etag = etag };

			if (klen < w->plen)
				continue;
			if (w->start_after && strcmp(key, w->start_after) <= 0)
				continue;
			if (fstatat(w->rootfd, key, &st, 0) < 0)
				continue;	/* deleted meanwhile */
			e.size = (uint64_t)st.st_size;
			e.mtime = st.st_mtim.tv_sec;
			file_store_etag(&st, etag);
			r = w->cb(w->arg, &e);
			if (r < 0)
				break;
		}
	}
	file_list_free(v, n);
	return r;
}

int file_list_walk(int rootfd, const char *prefix, const char *delimiter,
		   const char *start_after, ocb_list_fn cb, void *arg)
{
	struct walk w = {
		.rootfd = rootfd, .prefix = prefix ? prefix : "",
		.delim = delimiter && *delimiter ? delimiter : NULL,
		.start_after = start_after, .cb = cb, .arg = arg,
	};

	if (w.delim && strcmp(w.delim, "/") != 0)
		return -EINVAL;	/* only "/" maps onto directories */
	w.plen = strlen(w.prefix);
	return walk_dir(&w, "");
}
