/* Unit tests: the fingerprint of a database's state on disk, which tells
 * the next backup that a database's snapshot would be the base's: what
 * moves it (the file, the -wal, a commit published in the -shm header, a
 * -journal) and what does not (the -shm's read marks, the sidecars'
 * ctime alone, for the content), and when there is none. */
#include "t.h"
#include "sqlite_state_i.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char db[256];

static void put(const char *sfx, off_t at, const char *bytes)
{
	char p[300];
	int fd;

	snprintf(p, sizeof(p), "%s%s", db, sfx);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0 && pwrite(fd, bytes, strlen(bytes), at) ==
	      (ssize_t)strlen(bytes));
	close(fd);
}

static void drop(const char *sfx)
{
	char p[300];

	snprintf(p, sizeof(p), "%s%s", db, sfx);
	unlink(p);
}

/* the state and content now, racy from `racy` (ns) */
static void now_state(struct ocb_hdr_mac *m, int64_t racy, uint64_t *s,
		      uint64_t *c)
{
	struct stat st;

	CHECK_INT(stat(db, &st), 0);
	CHECK_INT(ocb_sqlite_state(m, db, &st, racy, s, c), 0);
}

int main(void)
{
	uint8_t key[OCB_HDR_KEY_LEN] = { 1, 2, 3 };
	struct ocb_hdr_mac *m = NULL, *m2 = NULL;
	char dir[] = "/tmp/ocb-sqlite-state-XXXXXX";
	uint64_t s0, c0, s1, c1, s2, c2;
	struct timespec t;
	int64_t later;
	char shm[200];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(db, sizeof(db), "%s/state.sqlite", dir);
	CHECK_INT(ocb_hdr_mac_new(key, &m), 0);
	key[0] = 9;
	CHECK_INT(ocb_hdr_mac_new(key, &m2), 0);
	clock_gettime(CLOCK_REALTIME, &t);
	/* every file here was written before this: none is racy */
	later = ((int64_t)t.tv_sec + 60) * 1000000000LL;

	put("", 0, "SQLite format 3");
	now_state(m, later, &s0, &c0);
	CHECK(s0 != 0 && c0 != 0);
	now_state(m, later, &s1, &c1);
	CHECK(s1 == s0 && c1 == c0);		/* stable */

	/* a -wal appears, then a commit is appended to it */
	put("-wal", 0, "frames");
	memset(shm, 'a', sizeof(shm));
	shm[sizeof(shm) - 1] = 0;
	put("-shm", 0, shm);
	now_state(m, later, &s1, &c1);
	CHECK(s1 != s0 && c1 != c0);
	put("-wal", 6, "more");
	now_state(m, later, &s2, &c2);
	CHECK(s2 != s1 && c2 != c1);

	/* a commit published in the WAL-index header only (its frames
	 * written before): another state; read marks after the header:
	 * the same */
	put("-shm", 40, "b");
	now_state(m, later, &s1, &c1);
	CHECK(s1 != s2 && c1 != c2);
	put("-shm", 120, "c");
	now_state(m, later, &s2, &c2);
	CHECK(s2 == s1 && c2 == c1);

	/* the -wal's ctime alone (a chown, as SQLite's own open does as
	 * root): the state moves, the content does not */
	{
		char p[300];

		snprintf(p, sizeof(p), "%s-wal", db);
		usleep(20000);
		CHECK_INT(chmod(p, 0600), 0);
	}
	now_state(m, later, &s1, &c1);
	CHECK(s1 != s2 && c1 == c2);

	/* another key: another fingerprint */
	{
		struct stat st;

		CHECK_INT(stat(db, &st), 0);
		CHECK_INT(ocb_sqlite_state(m2, db, &st, later, &s2, &c2), 0);
		CHECK(s2 != s1 && c2 != c1);
	}

	/* a -journal: empty (TRUNCATE mode, between transactions) is a
	 * state; with content (a transaction, or a hot journal) none */
	put("-journal", 0, "");
	now_state(m, later, &s2, &c2);
	CHECK(s2 != 0 && s2 != s1);
	put("-journal", 0, "hot");
	now_state(m, later, &s2, &c2);
	CHECK_INT(s2, 0);
	CHECK_INT(c2, 0);
	drop("-journal");

	/* the file changed within the racy window: none */
	now_state(m, (int64_t)t.tv_sec * 1000000000LL - 1000000000LL, &s2,
		  &c2);
	CHECK_INT(s2, 0);
	CHECK_INT(c2, 0);

	/* the database file written: another state */
	now_state(m, later, &s1, &c1);
	put("", 100, "page");
	now_state(m, later, &s2, &c2);
	CHECK(s2 != s1 && c2 != c1);

	ocb_hdr_mac_free(m);
	ocb_hdr_mac_free(m2);
	t_rm_rf(dir);
	return T_DONE();
}
