/*
 * gzip_index_i.h - random access into a gzip stream (the zran technique, on zlib).
 *
 * gzip has no random access: to start decompressing in the middle one
 * needs the bit position of a deflate block boundary and the 32 KiB of
 * output before it (the window back-references may reach).  Building the
 * index decompresses the whole stream once (every member's CRC and length
 * checked) and keeps such a restart point at the last block boundary at
 * or before each multiple of `span` bytes of output; the start of a member
 * is a restart point that needs no window.  Reading bytes [off, off + len)
 * then starts at the nearest point at or before off and needs only the
 * compressed bytes up to the next point at or after off + len: one range
 * request of at most about one span plus the bytes wanted, and for reads
 * of whole span-aligned pieces, one deflate block more than those.
 *
 * Streams of several members (pigz, concatenated files) are one stream.
 * Bytes after the last member that are not a gzip member are ignored with
 * a warning, as gzip -d does.
 */
#ifndef OCB_GZIP_INDEX_I_H
#define OCB_GZIP_INDEX_I_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

struct ocb_buf;
struct ocb_gzip_index;	/* an index: restart points, sizes */
struct ocb_gzip_index_build;	/* an index being built */
struct ocb_gzip_index_reader;	/* one extraction in progress */

#define OCB_ZRAN_SPAN_DEFAULT (4u << 20)

/* Next compressed bytes, in order: their length with *data valid until the
 * next call, 0 at the end of the input, or a negative errno. */
typedef ssize_t (*ocb_gzip_index_src_fn)(void *arg, const void **data);

/* ---- building (one pass over the whole stream) --------------------------- */

int ocb_gzip_index_build_new(uint64_t span, ocb_gzip_index_src_fn src, void *arg,
		       struct ocb_gzip_index_build **out);
/*
 * Decompress the next bytes: their length with *data valid until the next
 * call, 0 at the end of the stream (the last member's CRC and length
 * checked), -EBADMSG for corrupt or truncated data (ocb_gzip_index_build_error
 * says which, and where), or an error of src.
 */
ssize_t ocb_gzip_index_build_read(struct ocb_gzip_index_build *b, const void **data);
/* What went wrong, for the log ("" if nothing). */
const char *ocb_gzip_index_build_error(const struct ocb_gzip_index_build *b);
/* Compressed bytes consumed so far (progress). */
uint64_t ocb_gzip_index_build_in(const struct ocb_gzip_index_build *b);
/* Once read returned 0: the index (taken; the builder is then spent). */
int ocb_gzip_index_build_finish(struct ocb_gzip_index_build *b, struct ocb_gzip_index **out);
void ocb_gzip_index_build_free(struct ocb_gzip_index_build *b);

void ocb_gzip_index_free(struct ocb_gzip_index *z);
uint64_t ocb_gzip_index_out_size(const struct ocb_gzip_index *z);	/* decompressed */
uint64_t ocb_gzip_index_in_size(const struct ocb_gzip_index *z);	/* compressed, used */
uint32_t ocb_gzip_index_npoints(const struct ocb_gzip_index *z);
/* Memory the index holds (windows are kept zstd-compressed). */
size_t ocb_gzip_index_mem(const struct ocb_gzip_index *z);

/* ---- reading ---------------------------------------------------------- */

/*
 * Prepare the extraction of output bytes [off, off + len) (within
 * out_size): *in_off and *in_end receive the compressed range to fetch and
 * feed, in order, to ocb_gzip_index_reader_feed(); the output goes to sink.
 * 0, -EINVAL past the end, -ENOMEM.
 */
int ocb_gzip_index_reader_new(const struct ocb_gzip_index *z, uint64_t off, uint64_t len,
			ocb_sink_fn sink, void *arg,
			struct ocb_gzip_index_reader **out, uint64_t *in_off,
			uint64_t *in_end);
/* Compressed bytes: 0 (further input after the last wanted byte is
 * ignored), -EBADMSG corrupt data, or the sink's error. */
int ocb_gzip_index_reader_feed(struct ocb_gzip_index_reader *rd, const void *in,
			 size_t len);
/* 0 when every wanted byte went to the sink, else -EBADMSG. */
int ocb_gzip_index_reader_done(const struct ocb_gzip_index_reader *rd);
void ocb_gzip_index_reader_free(struct ocb_gzip_index_reader *rd);

/* ---- the index as bytes (for the disk cache) ------------------------------ */

int ocb_gzip_index_encode(const struct ocb_gzip_index *z, struct ocb_buf *out);
/* 0 or -EBADMSG (hostile input is checked). */
int ocb_gzip_index_decode(const void *p, size_t len, struct ocb_gzip_index **out);

#endif
