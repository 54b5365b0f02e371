/*
 * sqlite_snap.h - a SQLite database captured as of one committed
 * transaction, with SQLite's online backup, instead of copied byte by byte
 * (a live database in WAL mode copied raw is torn: its committed content is
 * split between the file and its -wal).
 */
#ifndef OCB_SQLITE_SNAP_H
#define OCB_SQLITE_SNAP_H

#include <stddef.h>

/* 1 when the file open as fd starts with the SQLite header, else 0 */
int ocb_sqlite_snap_is_db(int fd);

/* The page size the SQLite header of the file open as fd records (bytes
 * 16-17; 1 stands for 65536), or 0 when it holds no valid one */
unsigned ocb_sqlite_snap_page_size(int fd);

/* 1 when name is a SQLite sidecar ("<db>-wal", "-shm", "-journal"); *base_len
 * then is the length of "<db>" */
int ocb_sqlite_snap_sidecar(const char *name, size_t *base_len);

/*
 * Snapshot the database at path into a spool file in tmpdir (spool_i.h): 0
 * and *fd (unnamed, at offset 0) with the consistent database, or a
 * negative errno with the reason (SQLite's message) in why[size].  The
 * source is opened read-only and read in one read transaction, in steps,
 * so memory stays bounded; *cancel (may be NULL) stops it: -ECANCELED.
 */
int ocb_sqlite_snap_take(const char *path, const char *tmpdir,
			 const volatile int *cancel, int *fd, char *why,
			 size_t size);

#endif
