/*
 * restore_disk.c - fd-relative creation of restored entries, and the
 * xattr arrays of their metadata (restore_disk_i.h).
 *
 * Why not libarchive's archive_write_disk: it walks absolute paths, and
 * with its "secure symlinks" check plus unlink it *deletes* a symlink it
 * finds on the way (the user's `--target linkdir/t`, a symlinked home)
 * and puts an empty directory in its place.  Here the destination is
 * resolved once, and below it nothing is ever followed: each component is
 * opened with O_NOFOLLOW | O_DIRECTORY, so a symlink, whoever made it,
 * stops the entry (-ELOOP) instead of redirecting it.
 *
 * A regular file is written as an unnamed file (O_TMPFILE) in its
 * directory and linked under its name once checked: one directory
 * operation per file instead of a create and a rename, no lock on the
 * directory while its inode is allocated (the workers of restore_pool.c
 * create files in one directory at once), and a killed restore leaves
 * nothing behind.  Where the file system has no O_TMPFILE (or the process
 * cannot link one: no /proc), it is written under a temporary name and
 * renamed, as other entries are.
 */
#include "restore_disk_i.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NO_TIME INT64_MIN

/* a directory's mode and time, applied at finish */
struct dirmeta {
	char *rel;
	size_t seq;		/* later records win */
	mode_t mode;
	int64_t mtime;		/* NO_TIME: leave the time */
	uint32_t mtime_nsec;
};

struct ocb_rdisk {
	struct ocb_rdisk *owner;	/* itself, or what it was cloned from */
	int root;
	unsigned flags;
	uid_t euid;
	int unnamed;		/* files may be written unnamed (O_TMPFILE) */
	char cpath[PATH_MAX];	/* the cached parent directory */
	int cfd;		/* its descriptor, or -1 */
	char tmp[32];		/* the file being written; "": unnamed */
	/* the owner's only, shared by its clones: */
	pthread_mutex_t lock;	/* dirs */
	unsigned long seq;	/* temporary names (atomic) */
	struct dirmeta *dirs;
	size_t ndirs, cap;
};

int ocb_rdisk_open(const char *dir, unsigned flags, struct ocb_rdisk **out)
{
	struct ocb_rdisk *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root < 0) {
		int e = -errno;

		free(d);
		return e;
	}
	d->owner = d;
	d->flags = flags;
	d->euid = geteuid();
	/* linked by AT_EMPTY_PATH (root) or through /proc/self/fd */
	d->unnamed = d->euid == 0 || access("/proc/self/fd", F_OK) == 0;
	d->cfd = -1;
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	return 0;
}

int ocb_rdisk_clone(struct ocb_rdisk *d, struct ocb_rdisk **out)
{
	struct ocb_rdisk *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->root = fcntl(d->root, F_DUPFD_CLOEXEC, 0);
	if (c->root < 0) {
		int e = -errno;

		free(c);
		return e;
	}
	c->owner = d->owner;
	c->flags = d->flags;
	c->euid = d->euid;
	c->unnamed = d->unnamed;
	c->cfd = -1;
	*out = c;
	return 0;
}

void ocb_rdisk_free(struct ocb_rdisk *d)
{
	size_t i;

	if (!d)
		return;
	if (d->cfd >= 0)
		close(d->cfd);
	close(d->root);
	if (d->owner == d) {
		for (i = 0; i < d->ndirs; i++)
			free(d->dirs[i].rel);
		free(d->dirs);
		pthread_mutex_destroy(&d->lock);
	}
	free(d);
}

/* no empty, ".", ".." component, no leading '/', fits PATH_MAX */
static int rel_ok(const char *rel)
{
	const char *p = rel, *s;

	if (!*rel || *rel == '/' || strlen(rel) >= PATH_MAX)
		return 0;
	for (;;) {
		size_t n;

		s = strchr(p, '/');
		n = s ? (size_t)(s - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!s)
			return 1;
		p = s + 1;
	}
}

/* recorded in the owner (clones included) */
static int remember_dir(struct ocb_rdisk *d, const char *rel, mode_t mode,
			int64_t mtime, uint32_t nsec)
{
	struct dirmeta *m;
	int r = 0;

	d = d->owner;
	pthread_mutex_lock(&d->lock);
	if (d->ndirs == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct dirmeta *n = realloc(d->dirs, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		d->dirs = n;
		d->cap = cap;
	}
	m = &d->dirs[d->ndirs];
	if (!(m->rel = strdup(rel))) {
		r = -ENOMEM;
		goto out;
	}
	m->seq = d->ndirs++;
	m->mode = mode;
	m->mtime = mtime;
	m->mtime_nsec = nsec;
out:
	pthread_mutex_unlock(&d->lock);
	return r;
}

/*
 * The descriptor of the directory rel[0..n) (n == 0: the root), creating
 * missing components when create is set; borrowed (the last one is
 * cached: entries come directory by directory), valid until the next
 * call.  Never follows a symlink: -ELOOP when a component is one (or is
 * not a directory).
 */
static int open_dir(struct ocb_rdisk *d, const char *rel, size_t n, int create)
{
	char path[PATH_MAX];
	char *comp, *save = NULL;
	int cur = d->root, r;

	if (n == 0)
		return d->root;
	if (d->cfd >= 0 && strlen(d->cpath) == n && !memcmp(d->cpath, rel, n))
		return d->cfd;
	memcpy(path, rel, n);
	path[n] = '\0';
	for (comp = strtok_r(path, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		int next = openat(cur, comp, O_RDONLY | O_DIRECTORY |
				  O_NOFOLLOW | O_CLOEXEC);

		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0700) < 0 && errno != EEXIST) {
				r = -errno;
				goto fail;
			}
			/* the default mode, unless the backup says more;
			 * path ends at comp here */
			r = remember_dir(d, path, S_IFDIR | 0755, NO_TIME, 0);
			if (r < 0)
				goto fail;
			next = openat(cur, comp, O_RDONLY | O_DIRECTORY |
				      O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			r = errno == ENOTDIR || errno == ELOOP ? -ELOOP : -errno;
			goto fail;
		}
		if (cur != d->root)
			close(cur);
		cur = next;
		if (save && *save)
			save[-1] = '/';	/* strtok_r cut here: mend path */
	}
	if (d->cfd >= 0)
		close(d->cfd);
	d->cfd = cur;
	memcpy(d->cpath, rel, n);
	d->cpath[n] = '\0';
	return cur;
fail:
	if (cur != d->root)
		close(cur);
	return r;
}

/* the parent's descriptor and the base name of rel */
static int parent_of(struct ocb_rdisk *d, const char *rel, const char **base)
{
	const char *s;

	if (!rel_ok(rel))
		return -EINVAL;
	s = strrchr(rel, '/');
	*base = s ? s + 1 : rel;
	return open_dir(d, rel, s ? (size_t)(s - rel) : 0, 1);
}

mode_t ocb_rdisk_mode(const struct ocb_rdisk *d, const struct ocb_rdisk_meta *m)
{
	mode_t mode = m->mode & 07777;

	if ((mode & 06000) && (!(d->flags & OCB_RDISK_SPECIAL) ||
			       (!(d->flags & OCB_RDISK_OWNER) &&
				m->uid != d->euid)))
		mode &= ~(mode_t)06000;
	return mode;
}

int ocb_rdisk_xattr_ok(const struct ocb_rdisk *d, const char *name)
{
	return !strncmp(name, "user.", 5) || (d->flags & OCB_RDISK_SPECIAL);
}

static void set_times(struct timespec ts[2], const struct ocb_rdisk_meta *m)
{
	ts[0].tv_sec = ts[1].tv_sec = (time_t)m->mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = (long)m->mtime_nsec;
}

/* owner, xattrs, and with times also mode and times, on an open file or
 * directory; st: what it is now (NULL: unknown), an owner or a mode it
 * already has is not set again */
static int apply_fd(struct ocb_rdisk *d, int fd, const struct ocb_rdisk_meta *m,
		    int times, const struct stat *st)
{
	struct timespec ts[2];
	mode_t mode = ocb_rdisk_mode(d, m);
	int chowned = 0;
	size_t i;

	if ((d->flags & OCB_RDISK_OWNER) &&
	    (!st || st->st_uid != m->uid || st->st_gid != m->gid)) {
		if (fchown(fd, m->uid, m->gid) < 0)
			return -errno;
		chowned = 1;	/* may have cleared setuid/setgid bits */
	}
	for (i = 0; i < m->nxattrs; i++) {
		if (!ocb_rdisk_xattr_ok(d, m->xnames[i]))
			continue;
		if (fsetxattr(fd, m->xnames[i], m->xvalues[i], m->xlens[i], 0) < 0 &&
		    errno != ENOTSUP && errno != EPERM)
			return -errno;
	}
	if (!times)
		return 0;
	if ((chowned || !st || (st->st_mode & 07777) != mode) &&
	    fchmod(fd, mode) < 0)
		return -errno;
	set_times(ts, m);
	return futimens(fd, ts) < 0 ? -errno : 0;
}

/* a new temporary name in pfd, made by mk (0 or -errno; -EEXIST: retry) */
static int make_tmp(struct ocb_rdisk *d, int pfd,
		    int (*mk)(int pfd, const char *name, void *arg), void *arg)
{
	for (int tries = 0; tries < 1000; tries++) {
		int r;

		snprintf(d->tmp, sizeof(d->tmp), ".ocb-part-%lu",
			 __atomic_fetch_add(&d->owner->seq, 1,
					    __ATOMIC_RELAXED));
		r = mk(pfd, d->tmp, arg);
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

/* the temporary name into place */
static int put_in_place(struct ocb_rdisk *d, int pfd, const char *base)
{
	if (renameat(pfd, d->tmp, pfd, base) < 0) {
		int r = -errno;

		unlinkat(pfd, d->tmp, 0);
		return r;
	}
	return 0;
}

int ocb_rdisk_mkdir(struct ocb_rdisk *d, const char *rel,
		    const struct ocb_rdisk_meta *m)
{
	const char *base;
	struct stat st;
	int pfd = parent_of(d, rel, &base), fd = -1, r;

	if (pfd < 0)
		return pfd;
	if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = errno == ENOTDIR || errno == ELOOP ? -ELOOP : -errno;
		goto out;
	}
	r = apply_fd(d, fd, m, 0, &st);
	if (r == 0)
		r = remember_dir(d, rel, m->mode, m->mtime, m->mtime_nsec);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int mk_file(int pfd, const char *name, void *arg)
{
	int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	*(int *)arg = fd;
	return 0;
}

int ocb_rdisk_file_begin(struct ocb_rdisk *d, const char *rel,
			 const struct ocb_rdisk_meta *m)
{
	const char *base;
	int pfd = parent_of(d, rel, &base), fd = -1, r;

	if (pfd < 0)
		return pfd;
	if (d->unnamed) {
		/* nameless until linked: its final permission bits at once
		 * (less the umask; set again if they differ) */
		fd = openat(pfd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC,
			    m ? ocb_rdisk_mode(d, m) & 0777 : 0600);
		if (fd >= 0) {
			d->tmp[0] = '\0';
			return fd;
		}
		/* no O_TMPFILE here (or an error the named way reports):
		 * named files from now on */
		d->unnamed = 0;
	}
	r = make_tmp(d, pfd, mk_file, &fd);
	return r < 0 ? r : fd;
}

/* a name in pfd for the unnamed file fd (0 or -errno, -EEXIST: taken) */
static int link_unnamed(int fd, int pfd, const char *name)
{
	char proc[64];

	if (linkat(fd, "", pfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, pfd, name, AT_SYMLINK_FOLLOW) < 0 ?
		-errno : 0;
}

static int mk_unnamed_link(int pfd, const char *name, void *arg)
{
	return link_unnamed(*(int *)arg, pfd, name);
}

/* the checked unnamed file fd under its name: linked there, or where an
 * entry has the name (a later copy of it in the stream), linked under a
 * temporary name and renamed over it */
static int name_unnamed(struct ocb_rdisk *d, int fd, int pfd, const char *base)
{
	int r = link_unnamed(fd, pfd, base);

	if (r != -EEXIST)
		return r;
	r = make_tmp(d, pfd, mk_unnamed_link, &fd);
	return r < 0 ? r : put_in_place(d, pfd, base);
}

int ocb_rdisk_file_end(struct ocb_rdisk *d, int fd, const char *rel,
		       const struct ocb_rdisk_meta *m, int ok)
{
	const char *base;
	struct stat st;
	int pfd = parent_of(d, rel, &base), r = 0, unnamed = !d->tmp[0];

	if (pfd < 0) {
		close(fd);
		return pfd;
	}
	if (ok)
		r = apply_fd(d, fd, m, 1, fstat(fd, &st) == 0 ? &st : NULL);
	if (ok && r == 0 && unnamed) {
		r = name_unnamed(d, fd, pfd, base);
		if (close(fd) < 0 && r == 0) {
			r = -errno;	/* its bytes may not be there */
			unlinkat(pfd, base, 0);
		}
		return r;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;	/* a delayed write error (NFS, quota) */
	if (unnamed)
		return r;	/* refused: gone with its descriptor */
	if (ok && r == 0)
		return put_in_place(d, pfd, base);
	unlinkat(pfd, d->tmp, 0);
	return r;
}

/* owner and times of the temporary pfd/d->tmp (never followed), then into
 * place */
static int finish_link(struct ocb_rdisk *d, int pfd, const char *base,
		       const struct ocb_rdisk_meta *m)
{
	struct timespec ts[2];

	set_times(ts, m);
	if (((d->flags & OCB_RDISK_OWNER) &&
	     fchownat(pfd, d->tmp, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    utimensat(pfd, d->tmp, ts, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = -errno;

		unlinkat(pfd, d->tmp, 0);
		return r;
	}
	return put_in_place(d, pfd, base);
}

static int mk_symlink(int pfd, const char *name, void *arg)
{
	return symlinkat(arg, pfd, name) < 0 ? -errno : 0;
}

int ocb_rdisk_symlink(struct ocb_rdisk *d, const char *rel,
		      const char *target, const struct ocb_rdisk_meta *m)
{
	const char *base;
	int pfd = parent_of(d, rel, &base), r;

	if (pfd < 0)
		return pfd;
	r = make_tmp(d, pfd, mk_symlink, (void *)target);
	if (r == 0)
		r = finish_link(d, pfd, base, m);
	return r;
}

struct link_from {
	int fd;
	const char *base;
};

static int mk_link(int pfd, const char *name, void *arg)
{
	struct link_from *f = arg;

	return linkat(f->fd, f->base, pfd, name, 0) < 0 ? -errno : 0;
}

int ocb_rdisk_hardlink(struct ocb_rdisk *d, const char *rel, const char *to)
{
	struct link_from f;
	const char *base;
	int pfd, r;

	f.fd = parent_of(d, to, &f.base);
	if (f.fd < 0)
		return f.fd;
	f.fd = fcntl(f.fd, F_DUPFD_CLOEXEC, 0);	/* the next call replaces it */
	if (f.fd < 0)
		return -errno;
	pfd = parent_of(d, rel, &base);
	if (pfd < 0) {
		close(f.fd);
		return pfd;
	}
	r = make_tmp(d, pfd, mk_link, &f);
	if (r == 0) {
		r = put_in_place(d, pfd, base);
		/* two links of one file already: rename did nothing */
		unlinkat(pfd, d->tmp, 0);
	}
	close(f.fd);
	return r;
}

struct node {
	mode_t mode;
	dev_t rdev;
};

static int mk_node(int pfd, const char *name, void *arg)
{
	struct node *n = arg;

	return mknodat(pfd, name, n->mode, n->rdev) < 0 ? -errno : 0;
}

int ocb_rdisk_special(struct ocb_rdisk *d, const char *rel,
		      const struct ocb_rdisk_meta *m)
{
	struct node n = { .mode = (m->mode & S_IFMT) | 0600, .rdev = m->rdev };
	const char *base;
	int pfd, r;

	if (!S_ISFIFO(m->mode) && !((S_ISCHR(m->mode) || S_ISBLK(m->mode)) &&
				    (d->flags & OCB_RDISK_SPECIAL)))
		return -EPERM;
	pfd = parent_of(d, rel, &base);
	if (pfd < 0)
		return pfd;
	r = make_tmp(d, pfd, mk_node, &n);
	/* the node is ours, just made: chmod cannot be redirected */
	if (r == 0 && fchmodat(pfd, d->tmp, ocb_rdisk_mode(d, m), 0) < 0) {
		r = -errno;
		unlinkat(pfd, d->tmp, 0);
	}
	if (r == 0)
		r = finish_link(d, pfd, base, m);
	return r;
}

/* deepest first (a child's path sorts after its parent's: descending
 * order), and for one path the latest record first */
static int dir_cmp(const void *x, const void *y)
{
	const struct dirmeta *a = x, *b = y;
	int c = strcmp(b->rel, a->rel);

	return c ? c : (a->seq < b->seq) - (a->seq > b->seq);
}

int ocb_rdisk_finish(struct ocb_rdisk *d)
{
	const char *last = NULL;
	size_t i;
	int r = 0;

	if (d->ndirs)
		qsort(d->dirs, d->ndirs, sizeof(*d->dirs), dir_cmp);
	for (i = 0; i < d->ndirs; i++) {
		struct dirmeta *m = &d->dirs[i];
		struct ocb_rdisk_meta mm = { .mode = m->mode, .uid = d->euid,
					     .mtime = m->mtime,
					     .mtime_nsec = m->mtime_nsec };
		struct timespec ts[2];
		int fd;

		if (last && !strcmp(last, m->rel))
			continue;	/* an older record of the same */
		last = m->rel;
		fd = open_dir(d, m->rel, strlen(m->rel), 0);
		if (fd < 0) {
			r = r ? r : fd;
			continue;
		}
		if (fchmod(fd, ocb_rdisk_mode(d, &mm)) < 0 && !r)
			r = -errno;
		set_times(ts, &mm);
		if (m->mtime != NO_TIME && futimens(fd, ts) < 0 && !r)
			r = -errno;
	}
	return r;
}

int ocb_rdisk_xattrs_init(struct ocb_rdisk_xattrs *x, size_t n)
{
	memset(x, 0, sizeof(*x));
	if (!n)
		return 0;
	x->names = calloc(n, sizeof(*x->names));
	x->values = calloc(n, sizeof(*x->values));
	x->lens = calloc(n, sizeof(*x->lens));
	if (!x->names || !x->values || !x->lens)
		return -ENOMEM;
	x->n = n;
	return 0;
}

int ocb_rdisk_xattrs_copy(struct ocb_rdisk_xattrs *x,
			  const struct ocb_rdisk_meta *from)
{
	int r = ocb_rdisk_xattrs_init(x, from->nxattrs);
	size_t i;

	x->copies = 1;	/* release frees what was copied */
	for (i = 0; r == 0 && i < x->n; i++) {
		void *v = malloc(from->xlens[i] ? from->xlens[i] : 1);

		x->values[i] = v;
		x->names[i] = strdup(from->xnames[i]);
		if (!x->names[i] || !v)
			return -ENOMEM;
		memcpy(v, from->xvalues[i], from->xlens[i]);
		x->lens[i] = from->xlens[i];
	}
	return r;
}

void ocb_rdisk_xattrs_attach(const struct ocb_rdisk_xattrs *x,
			     struct ocb_rdisk_meta *m)
{
	m->nxattrs = x->n;
	m->xnames = x->names;
	m->xvalues = x->values;
	m->xlens = x->lens;
}

void ocb_rdisk_xattrs_release(struct ocb_rdisk_xattrs *x)
{
	size_t i;

	for (i = 0; x->copies && i < x->n; i++) {
		free((void *)x->names[i]);
		free((void *)x->values[i]);
	}
	free(x->names);
	free((void *)x->values);
	free(x->lens);
	memset(x, 0, sizeof(*x));
}
