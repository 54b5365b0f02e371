/*
 * file_pieces.h - where the content of each file of a format 3 backup
 * lies physically: its segments cut at the files' data, each piece of a
 * file's data named by the file's content (SHA-256 and size).  A repack
 * matches files by content with it (docs/FORMAT.md, "Repacking", rule 3):
 * the plan to count what a kept backup holds elsewhere, the rewriter to
 * point at it.
 */
#ifndef OCB_FILE_PIECES_H
#define OCB_FILE_PIECES_H

#include <stdint.h>

#include "ocb_archive.h"

#define OCB_FILE_KEY_LEN 40	/* SHA-256 of the content, size (u64 LE) */
#define OCB_FILE_PIECES_MIN 1024u	/* smaller files are not named */

struct ocb_file_piece {
	/* logical bytes [loff, loff + len) are bytes [poff, ...) of the
	 * physical stream of source (0: the backup's object; r + 1: its
	 * referenced object r) */
	uint64_t loff, len, poff;
	uint32_t source;
	/* the file whose data holds the piece (a regular file of at least
	 * OCB_FILE_PIECES_MIN bytes, its first link), else NULL */
	const uint8_t *key;	/* OCB_FILE_KEY_LEN bytes */
	uint64_t data_off;	/* the file's data in the logical stream */
	int whole;		/* the piece is all of the file's data */
};

/*
 * Call fn for every piece of a's logical stream, in logical order (a
 * format 3 backup, opened; earlier kinds: nothing).  The piece and its
 * key are valid during the call.  0, -ENOMEM, or what fn returned
 * (stopping at the first non-zero).
 */
int ocb_file_pieces(const struct ocb_archive *a,
		    int (*fn)(void *arg, const struct ocb_file_piece *p),
		    void *arg);

/* The content key of a file of size bytes with SHA-256 sha256. */
void ocb_file_key(uint8_t key[OCB_FILE_KEY_LEN], const uint8_t sha256[32],
		  uint64_t size);

#endif
