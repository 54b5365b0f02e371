/*
 * file_store.h - the local-directory store (file:///path).
 *
 * The embedded default (demo, offline use, a NAS or an external disk).
 * Same semantics as S3 for every hook of store.h.
 *
 * Layout under root:
 *   <key>                      each object, as a plain file at its key path
 *   .ocb-store/meta/<key>      user metadata of <key> (JSON), when it has any
 *   .ocb-store/tmp/            temporary files, renamed into place
 *   .ocb-store/uploads/<id>/   unfinished multipart uploads (parts, key, meta)
 * Writes are atomic (temporary file + fsync + rename); a conditional create
 * links the temporary file into place, so of two racing creators exactly
 * one wins.  The etag is derived from inode, size and mtime (it changes with
 * every put, since every put creates a new inode).  Keys must be relative
 * paths without empty, "." or ".." components and must not start with
 * ".ocb-store/"; others give -EINVAL.
 */
#ifndef OCB_FILE_STORE_H
#define OCB_FILE_STORE_H

#include "store.h"

/* root must exist and be a directory: 0, -ENOENT, -ENOTDIR, -ENOMEM. */
int ocb_file_store_new(const char *root, struct ocb_store **out);

#endif
