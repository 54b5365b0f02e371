/*
 * fs_fh.c - open file handles: one tagged union for every kind of open
 * file, and the list that frees the handles whose release the kernel
 * never sent (at unmount).
 */
#include "fs_fh.h"
#include "fs_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fs_fh *fs_fh_new(enum fs_fh_kind k)
{
	struct fs_fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = k;
	pthread_mutex_init(&h->lock, NULL);
	if (k != FS_FH_BACKUP_FILE)
		ocb_buf_init(&h->u.text.buf, 1 << 20);
	return h;
}

void fs_fh_free(struct fs_ctx *c, struct fs_fh *h)
{
	if (h->kind == FS_FH_BACKUP_FILE)
		fs_tree_archive_put(c->tree, h->u.file.slot);
	else
		ocb_buf_release(&h->u.text.buf);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void fs_fh_track(struct fs_ctx *c, struct fs_fh *h)
{
	pthread_mutex_lock(&c->fh_lock);
	h->next = c->open_fh;
	h->prev = NULL;
	if (c->open_fh)
		((struct fs_fh *)c->open_fh)->prev = h;
	c->open_fh = h;
	pthread_mutex_unlock(&c->fh_lock);
}

void fs_fh_untrack(struct fs_ctx *c, struct fs_fh *h)
{
	pthread_mutex_lock(&c->fh_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		c->open_fh = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&c->fh_lock);
}

void fs_fh_free_all(struct fs_ctx *c)
{
	while (c->open_fh) {
		struct fs_fh *h = c->open_fh;

		fs_fh_untrack(c, h);
		fs_fh_free(c, h);
	}
}

int fs_fh_read_text(fuse_req_t req, struct fs_ctx *c, struct fs_fh *h,
		    size_t size, off_t off)
{
	/* reply from a copy: once the kernel has the reply, the reader may
	 * close and the release free the buffer while this thread is still
	 * returning from the write to /dev/fuse */
	const struct ocb_buf *b = &h->u.text.buf;
	size_t len = b->len, part = 0;
	char *copy;

	if ((size_t)off < len)
		part = len - (size_t)off < size ? len - (size_t)off : size;
	copy = malloc(part ? part : 1);
	if (!copy)
		return -ENOMEM;
	if (part)
		memcpy(copy, b->data + off, part);
	fuse_reply_buf(req, copy, part);
	free(copy);
	return 0;
}
