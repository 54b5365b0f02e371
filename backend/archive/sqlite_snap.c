/*
 * sqlite_snap.c - SQLite databases captured with the online backup
 * (sqlite_snap.h).
 */
#include "sqlite_snap.h"
#include "spool_i.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#define SNAP_PAGES 1024		/* pages copied per step */
#define SNAP_BUSY_MS 10000	/* waiting for a lock held by a writer */
/* whole copies tried while the database answers "locked": a busy reader
 * in WAL mode can be refused without its busy handler being called
 * (while a writer restarts the log or recovers it) */
#define SNAP_TRIES 3

static const char sqlite_magic[16] = "SQLite format 3";	/* and its NUL */

int ocb_sqlite_snap_is_db(int fd)
{
	char h[16];

	return pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		memcmp(h, sqlite_magic, sizeof(h)) == 0;
}

unsigned ocb_sqlite_snap_page_size(int fd)
{
	unsigned char h[18];
	unsigned ps;

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h, sqlite_magic, 16) != 0)
		return 0;
	ps = (unsigned)h[16] << 8 | h[17];
	if (ps == 1)
		ps = 65536;
	return ps >= 512 && ps <= 65536 && !(ps & (ps - 1)) ? ps : 0;
}

int ocb_sqlite_snap_sidecar(const char *name, size_t *base_len)
{
	static const char *const sfx[] = { "-wal", "-shm", "-journal" };
	size_t n = strlen(name), i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t k = strlen(sfx[i]);

		if (n > k && strcmp(name + n - k, sfx[i]) == 0) {
			*base_len = n - k;
			return 1;
		}
	}
	return 0;
}

static int fail(sqlite3 *db, int rc, const char *what, char *why, size_t size)
{
	snprintf(why, size, "%s: %s", what,
		 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	switch (rc & 0xff) {
	case SQLITE_NOMEM:	return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:	return -EBUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:	return -EBADMSG;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_READONLY:	return -EACCES;
	default:		return -EIO;
	}
}

static int snap_once(const char *path, const char *tmpdir,
		     const volatile int *cancel, int *fd, char *why,
		     size_t size)
{
	char tmp[PATH_MAX];
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *bk = NULL;
	int f = -1, named = 0, in_txn = 0, rc, r;

	*fd = -1;
	r = ocb_spool_new(tmpdir, &f, tmp, sizeof(tmp));
	if (r < 0) {
		snprintf(why, size, "no temporary file in %s: %s", tmpdir,
			 strerror(-r));
		return r;
	}
	named = 1;
	rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = fail(src, rc, "open", why, size);
		goto out;
	}
	sqlite3_busy_timeout(src, SNAP_BUSY_MS);
	sqlite3_extended_result_codes(src, 1);
	/* one read transaction for the whole copy: the steps below see one
	 * committed state, whatever writers do meanwhile */
	rc = sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_schema;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = fail(src, rc, "read", why, size);
		goto out;
	}
	in_txn = 1;
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode=OFF; "
				  "PRAGMA synchronous=OFF; "
				  "PRAGMA cache_size=-2048; "
				  "PRAGMA locking_mode=EXCLUSIVE;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = fail(dst, rc, "temporary copy", why, size);
		goto out;
	}
	bk = sqlite3_backup_init(dst, "main", src, "main");
	if (!bk) {
		r = fail(dst, sqlite3_errcode(dst), "backup", why, size);
		goto out;
	}
	do {
		if (cancel && *cancel) {
			snprintf(why, size, "cancelled");
			r = -ECANCELED;
			goto out;
		}
		rc = sqlite3_backup_step(bk, SNAP_PAGES);
	} while (rc == SQLITE_OK);
	rc = sqlite3_backup_finish(bk);
	bk = NULL;
	if (rc != SQLITE_OK) {
		r = fail(dst, rc, "backup", why, size);
		goto out;
	}
	rc = sqlite3_close(dst);
	dst = NULL;
	if (rc != SQLITE_OK) {
		r = fail(NULL, rc, "temporary copy", why, size);
		goto out;
	}
	if (lseek(f, 0, SEEK_SET) < 0) {
		r = -errno;
		snprintf(why, size, "temporary copy: %s", strerror(-r));
		goto out;
	}
	*fd = f;
	f = -1;
	r = 0;
out:
	if (bk)
		sqlite3_backup_finish(bk);
	sqlite3_close(dst);
	if (in_txn)
		sqlite3_exec(src, "COMMIT;", NULL, NULL, NULL);
	sqlite3_close(src);	/* read-only: never checkpoints the source */
	if (named)
		ocb_spool_unlink(tmp);
	if (f >= 0)
		close(f);
	return r;
}

int ocb_sqlite_snap_take(const char *path, const char *tmpdir,
			 const volatile int *cancel, int *fd, char *why,
			 size_t size)
{
	int r = -EBUSY, i;

	for (i = 0; i < SNAP_TRIES && r == -EBUSY; i++)
		r = snap_once(path, tmpdir, cancel, fd, why, size);
	return r;
}
