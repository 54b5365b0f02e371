/*
 * file_store_i.h - what the local-directory store's files share, private
 * to the store library: the hidden directory's name, the helpers of
 * file_store.c that its listing needs, and the listing (file_list.c) that
 * the store's list() and its multipart uploads' listing use.
 */
#ifndef OCB_FILE_STORE_I_H
#define OCB_FILE_STORE_I_H

#include "store.h"

#include <stddef.h>
#include <sys/stat.h>

#define HIDDEN ".ocb-store"

/* the negative errno of a failed call (-EIO when errno says nothing) */
int file_store_err(void);

/* the ETag of the file st: inode, size and modification time */
void file_store_etag(const struct stat *st, char etag[OCB_ETAG_MAX]);

struct name_ent {
	char *sortkey;	/* name, plus "/" for directories */
	int is_dir;
};

/* the sorted entries (directories and regular files) of directory rel of
 * rootfd ("" = the root, its hidden directory left out); a missing one
 * has none.  0 or a negative errno; free them with file_list_free(). */
int file_list_sorted(int rootfd, const char *rel, struct name_ent **out,
		     size_t *nout);
void file_list_free(struct name_ent *v, size_t n);

/* store.h's list() over the directory rootfd: only "/" as delimiter
 * (-EINVAL for another) */
int file_list_walk(int rootfd, const char *prefix, const char *delimiter,
		   const char *start_after, ocb_list_fn cb, void *arg);

#endif
