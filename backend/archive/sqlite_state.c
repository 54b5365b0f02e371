/*
 * sqlite_state.c - the fingerprint of a database's state on disk
 * (sqlite_state_i.h).
 *
 * A database's committed content is its file, the frames of its -wal up
 * to the last commit the WAL-index (the header at the start of -shm)
 * names, or, in rollback mode, the file alone when no -journal holds a
 * transaction.  Every write to the file or the -wal moves their ctime;
 * a commit moves the WAL-index header (its change counter and frame
 * count), also when the writer wrote its frames before the snapshot
 * and publishes them only after.  So equal fingerprints mean the same
 * committed content, as long as no file was written in the tick its
 * ctime shows (racy_ns).
 */
#include "sqlite_state_i.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WAL_INDEX_HDR 96	/* the WAL-index header, both copies */

/* what the fingerprint covers of one file (zeros: it does not exist) */
struct file_state {
	uint64_t dev, ino, size;
	int64_t mtime, mtime_ns, ctime, ctime_ns;
};

struct db_state {
	char tag[16];
	struct file_state db, wal, journal;
	uint32_t shm_len;
	uint8_t shm[WAL_INDEX_HDR];
};

static int64_t stat_ctime(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

static void file_state(struct file_state *f, const struct stat *st)
{
	f->dev = (uint64_t)st->st_dev;
	f->ino = (uint64_t)st->st_ino;
	f->size = (uint64_t)st->st_size;
	f->mtime = st->st_mtim.tv_sec;
	f->mtime_ns = st->st_mtim.tv_nsec;
	f->ctime = st->st_ctim.tv_sec;
	f->ctime_ns = st->st_ctim.tv_nsec;
}

/* path + sfx's state: 1 it exists (*st), 0 it does not, or a negative
 * errno */
static int sidecar(const char *path, const char *sfx, struct stat *st)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s%s", path, sfx) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	if (lstat(p, st) == 0)
		return S_ISREG(st->st_mode) ? 1 : -EINVAL;
	return errno == ENOENT ? 0 : -errno;
}

/* the WAL-index header, as far as -shm holds it (none: length 0) */
static int shm_header(const char *path, struct db_state *s)
{
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	if (snprintf(p, sizeof(p), "%s-shm", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = pread(fd, s->shm, sizeof(s->shm), 0);
	close(fd);
	if (n < 0)
		return -EIO;
	s->shm_len = (uint32_t)n;
	return 0;
}

static int64_t stat_mtime(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

static int mac64(struct ocb_hdr_mac *m, const struct db_state *s,
		 uint64_t *out)
{
	uint8_t mac[OCB_HDR_MAC_LEN];
	int r = ocb_hdr_mac(m, s, sizeof(*s), mac);

	if (r < 0)
		return r;
	memcpy(out, mac, sizeof(*out));
	if (!*out)
		*out = 1;
	return 0;
}

int ocb_sqlite_state(struct ocb_hdr_mac *m, const char *path,
		     const struct stat *db, int64_t racy_ns, uint64_t *state,
		     uint64_t *content)
{
	struct db_state s;
	struct stat wal, jr;
	int has_wal, has_jr, r;

	*state = 0;
	if (content)
		*content = 0;
	memset(&s, 0, sizeof(s));
	memcpy(s.tag, "ocb-sqlite-st2", 14);
	has_wal = sidecar(path, "-wal", &wal);
	has_jr = sidecar(path, "-journal", &jr);
	if (has_wal < 0 || has_jr < 0 || (has_jr && jr.st_size > 0))
		return 0;
	/* an empty -wal holds no frame (a writer writes its header first):
	 * the content is the file's alone, whatever a -shm says, as when
	 * there is no -wal.  The snapshot's own read-only connection leaves
	 * an empty -wal and a -shm behind where a closed database had none,
	 * and its next backup read the database again for that alone. */
	if (has_wal && wal.st_size == 0)
		has_wal = 0;
	/* the sidecars' mtimes: SQLite, as root, chowns them to the
	 * database's owner when it opens them, the snapshot's read-only
	 * connection too, which moves their ctime but not their content */
	if (stat_ctime(db) >= racy_ns || (has_wal && stat_mtime(&wal) >= racy_ns) ||
	    (has_jr && stat_mtime(&jr) >= racy_ns))
		return 0;
	file_state(&s.db, db);
	if (has_wal)
		file_state(&s.wal, &wal);
	if (has_jr)
		file_state(&s.journal, &jr);
	if (has_wal && shm_header(path, &s) < 0)
		return 0;
	if (content) {
		struct db_state c = s;

		c.wal.ctime = c.wal.ctime_ns = 0;
		c.journal.ctime = c.journal.ctime_ns = 0;
		r = mac64(m, &c, content);
		if (r < 0)
			return r;
	}
	return mac64(m, &s, state);
}
