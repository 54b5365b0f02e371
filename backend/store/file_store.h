/*
 * file_store.h - the local-directory store (file:///path).
 *
 * The embedded default (demo, offline use, a NAS or an external disk).
 * Same semantics as S3 for every hook of store.h.
 *
 * Layout under root:
 *   <key>                      each object, as a plain file at its key path
 *   .ocb-store/meta/<key>      user metadata of <key> (JSON: "meta",
 *                              "content_type" and the "etag" of the version
 *                              it belongs to), when it has any
 *   .ocb-store/tmp/            temporary files, renamed into place
 *   .ocb-store/uploads/<id>/   unfinished multipart uploads: "info" (key,
 *                              metadata, start time) and part-NNNNN files
 * .ocb-store is never listed, and keys under it are refused.
 *
 * Writes are atomic (temporary file + fsync + rename): a reader sees the
 * old object or the whole new one.  A conditional create links the
 * temporary file into place, so of two racing creators exactly one wins.
 * The etag is "<inode>-<size>-<mtime sec><mtime nsec>" in hex: every put
 * makes a new inode with a new mtime, so the etag changes with the content.
 * Metadata belongs to one etag: a reader may see a new object without its
 * metadata for a moment, never with another version's.
 *
 * Keys must be relative paths without empty, "." or ".." components (so
 * no trailing '/') and must not start with ".ocb-store/"; others give
 * -EINVAL.  A file system cannot hold both "a" and "a/b": the second put
 * fails with -ENOTDIR or -EISDIR.  Deleting prunes directories left empty.
 */
#ifndef OCB_FILE_STORE_H
#define OCB_FILE_STORE_H

#include "store.h"

/* root must exist and be a directory: 0, -ENOENT, -ENOTDIR, -ENOMEM. */
int ocb_file_store_new(const char *root, struct ocb_store **out);

#endif
