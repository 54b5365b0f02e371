/*
 * archive_ops.h - the archive interface: what a kind of backup implements
 * so that the mount and the tools read it through struct ocb_archive.
 *
 * Two implementations: native ocb backups (archive_read.c, this library)
 * and the old tool's .tar.gz backups (backend/oldtool/oldtool_reader.c).
 * backup_open.h (oldtool library) opens either, chosen by the object's
 * name.  Like libarchive's format readers, each implementation is a table
 * of operations plus its own state; the generic layer (archive.c) holds
 * what both share: the catalog (entries, lookups, paths, sources), the
 * facts (struct ocb_archive_info), and reading file content through
 * frames.
 *
 * Errors: every operation returns 0 (or a count) or a negative errno.
 */
#ifndef OCB_ARCHIVE_OPS_H
#define OCB_ARCHIVE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ocb_archive.h"

struct ocb_catalog;	/* catalog.h */

struct ocb_archive_ops {
	/* An old-tool backup: no content hashes, tar member paths mapped
	 * (ocb_archive_is_legacy()). */
	int old_tool;
	/* Free the implementation's state (what ocb_archive_new() took);
	 * accepts a half-opened state. */
	void (*free)(void *impl);
	/* Frames [first, first + n) of the tar stream (frame i covers stream
	 * bytes [i * frame_size, (i + 1) * frame_size)), each handed to cb in
	 * order, none of a frame failing verification (-EBADMSG).  The
	 * caller checked that the range lies within the catalog's frames.
	 * net is NULL, or 0 to be set to 1 when a request of the read went
	 * to the store itself (ocb_archive_read_frames_net()).
	 * Thread-safe. */
	int (*read_frames)(struct ocb_archive *a, uint32_t first, uint32_t n,
			   ocb_frame_fn cb, void *arg, int *net);
	/* Where sealed frame i lies in the object: 0, or -EINVAL when there
	 * is no such frame or the kind has no sealed frames. */
	int (*frame_location)(const struct ocb_archive *a, uint32_t i,
			      uint64_t *off, uint32_t *sealed_len);
	/* Tar stream bytes [off, off + len) to sink, in order; -EINVAL beyond
	 * the stream's end or when the kind cannot read ranges (an old
	 * backup opened to be streamed). */
	int (*cat_range)(struct ocb_archive *a, uint64_t off, uint64_t len,
			 ocb_sink_fn sink, void *arg);
	/* The whole tar stream to sink, front to back, every check made. */
	int (*cat)(struct ocb_archive *a, ocb_sink_fn sink, void *arg);
	/* What ocb_archive_verify() does for this kind (res zeroed by the
	 * caller): 0, -EBADMSG (res says what), or a store error. */
	int (*verify)(struct ocb_archive *a, struct ocb_verify_result *res);
	/* The catalog path of a tar member path of this backup: 0 and out
	 * ("" is the root), or -EINVAL for a path never to be restored. */
	int (*map_path)(const struct ocb_archive *a, const char *path,
			char *out, size_t size);
	/* The backup's 16-byte id (zeros when the kind has none). */
	const uint8_t *(*backup_id)(const struct ocb_archive *a);
	/* Sealed bytes read so far from other objects (format 3 refs);
	 * NULL: the kind reads none. */
	uint64_t (*ref_bytes)(const struct ocb_archive *a);
	/* The sealed bytes frames [first, first + n) (within the catalog's
	 * frames) travel as; NULL: n frame sizes. */
	uint64_t (*wire_bytes)(const struct ocb_archive *a, uint32_t first,
			       uint32_t n);
	/* Make the entries' SHA-256s, stats and block hashes of the catalog
	 * available if they are not yet (format 4 opened lazily): 0, or a
	 * store error or -EBADMSG.  NULL: always there.  Thread-safe. */
	int (*details)(struct ocb_archive *a);
};

/*
 * An archive of kind ops around impl, which it owns from now on (also when
 * this fails: ops->free(impl)).  cat is the catalog of its entries, owned
 * by impl (NULL: none, a backup opened only to be streamed); info is
 * copied.  0 or -ENOMEM.
 */
int ocb_archive_new(const struct ocb_archive_ops *ops, void *impl,
		    const struct ocb_catalog *cat,
		    const struct ocb_archive_info *info,
		    struct ocb_archive **out);
/* The implementation's state given to ocb_archive_new(). */
void *ocb_archive_impl(const struct ocb_archive *a);
/* Its catalog (NULL: a backup only streamed), for the writer that builds
 * on it. */
const struct ocb_catalog *ocb_archive_catalog(const struct ocb_archive *a);
/* A native backup's 512-byte header as stored: 0, or -EINVAL for another
 * kind (archive_read.c). */
int ocb_archive_native_header(const struct ocb_archive *a, uint8_t out[512]);
/* Stream bytes [poff, poff + len) of the physical stream of source src of
 * a native backup (0: its own object, r + 1: its ref r), fetching only
 * the frames that hold them, with one range request, each frame opened
 * and authenticated exactly as a read of the logical stream opens it (its
 * source's key and id, its index, the frame records this catalog holds).
 * For a repack's replacement, which copies only the bytes it moves.
 * 0, -EINVAL (another kind, no such source, outside its stream), -EBADMSG
 * (a frame failed authentication) or a store error.  Thread-safe. */
int ocb_archive_read_source(struct ocb_archive *a, uint32_t src,
			    uint64_t poff, uint64_t len, ocb_sink_fn sink,
			    void *arg);

/* A verify operation for kinds whose catalog holds content hashes: read
 * the whole stream (ops->cat) and hash every file against the catalog. */
int ocb_archive_verify_hashes(struct ocb_archive *a,
			      struct ocb_verify_result *res);

#endif
