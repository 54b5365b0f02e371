/*
 * restore_plan.c - a backup subtree against a disk directory
 * (restore_plan.h).  Both sides are walked in name order (the catalog
 * keeps children sorted by strcmp; disk names are sorted the same way),
 * so each directory is one merge.
 */
#include "restore_plan.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct plan {
	struct ocb_archive *a;
	ocb_change_fn cb;
	void *arg;
	struct ocb_plan_counts *n;
};

static int report(struct plan *p, enum ocb_change what, const char *rel,
		  const char *why)
{
	if (what == OCB_CHANGE_NEW)
		p->n->added++;
	else if (what == OCB_CHANGE_CHANGED)
		p->n->changed++;
	else
		p->n->deleted++;
	return p->cb(p->arg, what, rel, why);
}

static int join(char *out, size_t size, const char *a, const char *b)
{
	return snprintf(out, size, "%s%s%s", a, *a ? "/" : "", b) >= (int)size ?
		-ENAMETOOLONG : 0;
}

/* everything below the backup's directory idx is new */
static int all_new(struct plan *p, uint32_t idx, const char *rel)
{
	const struct ocb_entry *e = ocb_archive_entry(p->a, idx);
	uint32_t k;
	int r = report(p, OCB_CHANGE_NEW, rel, NULL);

	for (k = 0; r == 0 && e->type == OCB_ENTRY_DIR && k < e->nchildren; k++) {
		const struct ocb_entry *c = ocb_archive_entry(p->a, e->first_child + k);
		char crel[PATH_MAX];

		r = join(crel, sizeof(crel), rel, c->name);
		if (r == 0)
			r = all_new(p, e->first_child + k, crel);
	}
	return r;
}

/* everything below the disk directory dirfd/name is deleted */
static int all_deleted(struct plan *p, int pfd, const char *name,
		       const char *rel, int is_dir)
{
	struct dirent *de;
	DIR *d;
	int fd, r = report(p, OCB_CHANGE_DELETED, rel, NULL);

	if (r < 0 || !is_dir)
		return r;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char crel[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		r = join(crel, sizeof(crel), rel, de->d_name);
		if (r == 0)
			r = all_deleted(p, dirfd(d), de->d_name, crel,
					S_ISDIR(st.st_mode));
	}
	closedir(d);
	return r;
}

/* how entry e differs from what st describes (NULL: the same) */
static const char *differs(struct plan *p, const struct ocb_entry *e,
			   int pfd, const char *name, const struct stat *st)
{
	if ((mode_t)(e->mode & S_IFMT) != (st->st_mode & S_IFMT))
		return "type";
	if (e->type == OCB_ENTRY_FILE && (uint64_t)st->st_size != e->size)
		return "size";
	if (e->type == OCB_ENTRY_SYMLINK) {
		char t[PATH_MAX];
		ssize_t n = readlinkat(pfd, name, t, sizeof(t) - 1);

		if (n < 0 || (size_t)n != strlen(e->target) ||
		    memcmp(t, e->target, (size_t)n) != 0)
			return "link target";
		return NULL;
	}
	if ((e->mode & 07777) != (st->st_mode & 07777))
		return "mode";
	if (e->type == OCB_ENTRY_FILE &&
	    (st->st_mtim.tv_sec != e->mtime ||
	     (uint32_t)st->st_mtim.tv_nsec != e->mtime_nsec))
		return "mtime";
	(void)p;
	return NULL;
}

static int compare_entry(struct plan *p, uint32_t idx, int pfd,
			 const char *name, const char *rel);

static int compare_dir(struct plan *p, uint32_t idx, int fd, const char *rel)
{
	const struct ocb_entry *e = ocb_archive_entry(p->a, idx);
	char **names = NULL;
	size_t n = 0, i = 0;
	uint32_t k = 0;
	DIR *d = fdopendir(fd);
	int r = 0;

	if (!d) {
		close(fd);
		return 0;
	}
	r = ocb_fileio_dir_names(d, &names, &n);
	/* merge the two sorted lists */
	while (r == 0 && (k < e->nchildren || i < n)) {
		uint32_t ci = e->first_child + k;
		const struct ocb_entry *c = k < e->nchildren ?
			ocb_archive_entry(p->a, ci) : NULL;
		int cmp = !c ? 1 : i >= n ? -1 : strcmp(c->name, names[i]);
		char crel[PATH_MAX];
		struct stat st;

		r = join(crel, sizeof(crel), rel, cmp <= 0 ? c->name : names[i]);
		if (r < 0)
			break;
		if (cmp < 0) {
			r = all_new(p, ci, crel);
			k++;
		} else if (cmp > 0) {
			if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
				r = all_deleted(p, dirfd(d), names[i], crel,
						S_ISDIR(st.st_mode));
			i++;
		} else {
			r = compare_entry(p, ci, dirfd(d), names[i], crel);
			k++;
			i++;
		}
	}
	ocb_fileio_names_free(names, n);
	closedir(d);
	return r;
}

static int compare_entry(struct plan *p, uint32_t idx, int pfd,
			 const char *name, const char *rel)
{
	const struct ocb_entry *e = ocb_archive_entry(p->a, idx);
	const char *why;
	struct stat st;
	int fd;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return all_new(p, idx, rel);
	why = differs(p, e, pfd, name, &st);
	if (why && strcmp(why, "type") == 0)	/* replaced whole */
		return report(p, OCB_CHANGE_CHANGED, rel, why);
	if (why) {
		int r = report(p, OCB_CHANGE_CHANGED, rel, why);

		if (r < 0 || e->type != OCB_ENTRY_DIR)
			return r;
	} else {
		p->n->same++;
	}
	if (e->type != OCB_ENTRY_DIR)
		return 0;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return report(p, OCB_CHANGE_CHANGED, rel, "unreadable directory");
	return compare_dir(p, idx, fd, rel);
}

int ocb_restore_plan(struct ocb_archive *a, uint32_t idx, const char *dir,
		     ocb_change_fn cb, void *arg, struct ocb_plan_counts *n)
{
	struct plan p = { .a = a, .cb = cb, .arg = arg, .n = n };

	memset(n, 0, sizeof(*n));
	return compare_entry(&p, idx, AT_FDCWD, dir, "");
}
