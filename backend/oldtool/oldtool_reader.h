/*
 * oldtool_reader.h - the old tool's .tar.gz backups behind the archive
 * interface (archive_ops.h), so the mount and the tools read them as they
 * read native backups.
 */
#ifndef OCB_OLDTOOL_READER_H
#define OCB_OLDTOOL_READER_H

#include "ocb_archive.h"
#include "oldtool_archive.h"

/*
 * Open the old-tool backup at key as an archive.  With o->index it has the
 * catalog of the tar's entries (built, or loaded from o->cache_dir) and
 * reads ranges; without, it is streamed only (no entries, ranges give
 * -EINVAL).  Errors as ocb_oldtool_open().
 */
int ocb_oldtool_reader_open(struct ocb_store *s, const char *key,
			    const struct ocb_oldtool_opts *o,
			    struct ocb_archive **out);

#endif
