/*
 * sqlite_state_i.h - what a database's committed content is made of on
 * disk (its file, -wal and -journal, and the WAL-index header in its
 * -shm; an empty -wal and the -shm beside it count as none), as one keyed
 * fingerprint: a backup whose database has the base's
 * fingerprint references the base's snapshot instead of taking another
 * (docs/FORMAT.md, "What a writer references").
 */
#ifndef OCB_SQLITE_STATE_I_H
#define OCB_SQLITE_STATE_I_H

#include "hdr_mac.h"

#include <stdint.h>
#include <sys/stat.h>

/*
 * The fingerprint of the database at path, whose file's metadata is db:
 * 0 and *state, or a negative errno.  *state is 0 (no database has it)
 * when the state cannot stand for the content: a -journal with content
 * (a transaction in progress or a hot journal), or the file changed
 * (ctime), or its -wal or -journal was written (mtime), at or after
 * racy_ns (CLOCK_REALTIME ns), where a later change could leave their
 * metadata as they are.  content (may be NULL): the same without the
 * sidecars' ctimes, which opening the database may move (a snapshot
 * compares it before and after).
 */
int ocb_sqlite_state(struct ocb_hdr_mac *m, const char *path,
		     const struct stat *db, int64_t racy_ns, uint64_t *state,
		     uint64_t *content);

#endif
