/*
 * archive.c - struct ocb_archive: one opened backup of any kind
 * (archive_ops.h).  What every kind shares lives here: the catalog of
 * entries (lookups, paths, sources), the facts, and file content read
 * through frames; what differs is handed to the kind's operations.
 */
#include "archive_ops.h"
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_FRAMES_MAX 64	/* frames per range request */

struct ocb_archive {
	const struct ocb_archive_ops *ops;
	void *impl;
	const struct ocb_catalog *cat;	/* NULL: a backup only streamed */
	struct ocb_archive_info info;
};

int ocb_archive_new(const struct ocb_archive_ops *ops, void *impl,
		    const struct ocb_catalog *cat,
		    const struct ocb_archive_info *info,
		    struct ocb_archive **out)
{
	struct ocb_archive *a = calloc(1, sizeof(*a));

	if (!a) {
		ops->free(impl);
		return -ENOMEM;
	}
	a->ops = ops;
	a->impl = impl;
	a->cat = cat;
	a->info = *info;
	if (!a->info.stored_size)	/* every kind before format 3 stores it all */
		a->info.stored_size = a->info.stream_size;
	*out = a;
	return 0;
}

void *ocb_archive_impl(const struct ocb_archive *a)
{
	return a->impl;
}

void ocb_archive_free(struct ocb_archive *a)
{
	if (!a)
		return;
	a->ops->free(a->impl);
	free(a);
}

const char *ocb_archive_strerror(int err)
{
	switch (-err) {
	case EBADMSG:
		return "refused: it fails authentication (forged, key provider "
		       "none under another, renamed, rolled back, copied from "
		       "another instance, or damaged)";
	case ENOKEY:
	case EKEYREJECTED:
		return "refused: its data key does not unwrap with the "
		       "configured key";
	case EKEYREVOKED:
		return "the KMS key is missing, disabled or pending deletion";
	case EPROTO:
		return "unknown format version (made by a newer ocb?)";
	case EOPNOTSUPP:
		return "not browsable (an old-tool backup too large to index, "
		       "or encrypted in a way this reader cannot open)";
	default:
		return ocb_store_strerror(err);
	}
}

int ocb_archive_is_legacy(const struct ocb_archive *a)
{
	return a->ops->old_tool;
}

int ocb_archive_map_path(const struct ocb_archive *a, const char *path,
			 char *out, size_t size)
{
	return a->ops->map_path(a, path, out, size);
}

const struct ocb_archive_info *ocb_archive_info(const struct ocb_archive *a)
{
	return &a->info;
}

int ocb_archive_ref(const struct ocb_archive *a, uint32_t i,
		    const char **name, const uint8_t **id)
{
	/* format 3 adds references; no earlier kind has any */
	if (!a->cat || i >= a->cat->nrefs)
		return -ENOENT;
	*name = a->cat->refs[i].name;
	*id = a->cat->refs[i].id;
	return 0;
}

int ocb_archive_segment(const struct ocb_archive *a, uint32_t i,
			struct ocb_archive_segment *out)
{
	const struct ocb_segment *g;

	if (!a->cat || i >= a->cat->nseg)
		return -ENOENT;
	g = &a->cat->seg[i];
	out->loff = g->loff;
	out->len = g->len;
	out->poff = g->poff;
	out->source = g->source;
	return 0;
}

int ocb_archive_ref_stored(const struct ocb_archive *a, uint32_t i,
			   uint64_t *bytes)
{
	if (!a->cat || i >= a->cat->nrefs)
		return -ENOENT;
	*bytes = a->cat->refs[i].stream_size;
	return 0;
}

uint32_t ocb_archive_own_frames(const struct ocb_archive *a)
{
	return a->cat ? a->cat->nf : 0;
}

int ocb_archive_own_frame(const struct ocb_archive *a, uint32_t i,
			  uint32_t *sealed_len, uint32_t *plain_len)
{
	if (!a->cat || i >= a->cat->nf)
		return -ENOENT;
	*sealed_len = a->cat->f[i].sealed_len;
	*plain_len = a->cat->f[i].plain_len;
	return 0;
}

uint64_t ocb_archive_ref_bytes_read(const struct ocb_archive *a)
{
	return a->ops->ref_bytes ? a->ops->ref_bytes(a) : 0;
}

const struct ocb_catalog *ocb_archive_catalog(const struct ocb_archive *a)
{
	return a->cat;
}

const uint8_t *ocb_archive_backup_id(const struct ocb_archive *a)
{
	return a->ops->backup_id(a);
}

uint32_t ocb_archive_count(const struct ocb_archive *a)
{
	return a->cat ? a->cat->n : 0;
}

const struct ocb_entry *ocb_archive_entry(const struct ocb_archive *a,
					  uint32_t idx)
{
	return a->cat && idx < a->cat->n ? &a->cat->e[idx] : NULL;
}

const struct ocb_xattr *ocb_archive_xattr(const struct ocb_archive *a,
					  uint32_t xidx)
{
	return a->cat && xidx < a->cat->nx ? &a->cat->x[xidx] : NULL;
}

uint32_t ocb_archive_nsources(const struct ocb_archive *a)
{
	return a->cat ? a->cat->nsrc : 0;
}

int ocb_archive_source(const struct ocb_archive *a, uint32_t i,
		       uint32_t *entry, const char **path)
{
	if (i >= ocb_archive_nsources(a))
		return -ENOENT;
	*entry = a->cat->src[i].entry;
	*path = a->cat->src[i].path;
	return 0;
}

int ocb_archive_lookup(const struct ocb_archive *a, uint32_t dir,
		       const char *name, uint32_t *idx)
{
	const struct ocb_entry *d = ocb_archive_entry(a, dir);
	uint32_t lo, hi;

	if (!d)
		return -ENOENT;
	if (d->type != OCB_ENTRY_DIR)
		return -ENOTDIR;
	lo = d->first_child;
	hi = d->first_child + d->nchildren;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, a->cat->e[mid].name);

		if (c == 0) {
			*idx = mid;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

int ocb_archive_resolve(const struct ocb_archive *a, const char *path,
			uint32_t *idx)
{
	char name[OCB_NAME_MAX + 1];
	uint32_t cur = OCB_ROOT;

	while (*path) {
		size_t n = strcspn(path, "/");
		int r;

		if (n == 0) {
			path++;
			continue;
		}
		if (n > OCB_NAME_MAX)
			return -ENOENT;
		memcpy(name, path, n);
		name[n] = '\0';
		r = ocb_archive_lookup(a, cur, name, &cur);
		if (r < 0)
			return r;
		path += n;
	}
	*idx = cur;
	return 0;
}

ssize_t ocb_archive_path(const struct ocb_archive *a, uint32_t idx, char *buf,
			 size_t size)
{
	size_t len = 0, pos;
	uint32_t i;

	if (idx >= ocb_archive_count(a))
		return -ENOENT;
	/* parents always have smaller indexes (validated): this ends */
	for (i = idx; i != OCB_ROOT; i = a->cat->e[i].parent)
		len += strlen(a->cat->e[i].name) + 1;
	if (len)
		len--;
	if (len + 1 > size)
		return -ENAMETOOLONG;
	buf[len] = '\0';
	pos = len;
	for (i = idx; i != OCB_ROOT; i = a->cat->e[i].parent) {
		size_t n = strlen(a->cat->e[i].name);

		pos -= n;
		memcpy(buf + pos, a->cat->e[i].name, n);
		if (pos)
			buf[--pos] = '/';
	}
	return (ssize_t)len;
}

/* ---- content ------------------------------------------------------------- */

int ocb_archive_read_frames(struct ocb_archive *a, uint32_t first,
			    uint32_t n, ocb_frame_fn cb, void *arg)
{
	return ocb_archive_read_frames_net(a, first, n, cb, arg, NULL);
}

int ocb_archive_read_frames_net(struct ocb_archive *a, uint32_t first,
				uint32_t n, ocb_frame_fn cb, void *arg,
				int *net)
{
	if (net)
		*net = 0;
	if (n == 0)
		return 0;
	if (!a->cat || first >= a->cat->nlf || n > a->cat->nlf - first)
		return -EINVAL;
	return a->ops->read_frames(a, first, n, cb, arg, net);
}

int ocb_archive_frame(const struct ocb_archive *a, uint32_t i, uint64_t *off,
		      uint32_t *sealed_len)
{
	return a->ops->frame_location(a, i, off, sealed_len);
}

uint64_t ocb_archive_wire_bytes(const struct ocb_archive *a, uint32_t first,
				uint32_t n)
{
	if (!n || !a->cat || first >= a->cat->nlf || n > a->cat->nlf - first)
		return 0;
	return a->ops->wire_bytes ? a->ops->wire_bytes(a, first, n) :
	       (uint64_t)n * a->info.frame_size;
}

int ocb_archive_cat_range(struct ocb_archive *a, uint64_t off, uint64_t len,
			  ocb_sink_fn sink, void *arg)
{
	return a->ops->cat_range(a, off, len, sink, arg);
}

int ocb_archive_cat(struct ocb_archive *a, ocb_sink_fn sink, void *arg)
{
	return a->ops->cat(a, sink, arg);
}

int ocb_archive_details(struct ocb_archive *a)
{
	return a->ops->details ? a->ops->details(a) : 0;
}

int ocb_archive_verify(struct ocb_archive *a, struct ocb_verify_result *res)
{
	int r = ocb_archive_details(a);

	memset(res, 0, sizeof(*res));
	return r < 0 ? r : a->ops->verify(a, res);
}

struct pread_ctx {
	uint64_t want_start;	/* stream offsets */
	uint64_t want_end;
	uint32_t frame_size;
	uint8_t *buf;
};

static int pread_cb(void *arg, uint32_t frame, const void *data, size_t len)
{
	struct pread_ctx *p = arg;
	uint64_t fstart = (uint64_t)frame * p->frame_size;
	uint64_t s = p->want_start > fstart ? p->want_start : fstart;
	uint64_t e = p->want_end < fstart + len ? p->want_end : fstart + len;

	if (s < e)
		memcpy(p->buf + (s - p->want_start),
		       (const uint8_t *)data + (s - fstart), e - s);
	return 0;
}

ssize_t ocb_archive_pread(struct ocb_archive *a, uint32_t idx, void *buf,
			  size_t len, uint64_t off)
{
	const struct ocb_entry *e = ocb_archive_entry(a, idx);
	struct pread_ctx p;
	uint32_t first, last;
	int r;

	if (!e)
		return -ENOENT;
	if (e->type != OCB_ENTRY_FILE)
		return -EISDIR;
	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	if (len == 0)
		return 0;
	p.want_start = e->data_off + off;
	p.want_end = p.want_start + len;
	p.frame_size = a->cat->frame_size;
	p.buf = buf;
	first = (uint32_t)(p.want_start / p.frame_size);
	last = (uint32_t)((p.want_end - 1) / p.frame_size);
	while (first <= last) {
		uint32_t n = last - first + 1;

		if (n > READ_FRAMES_MAX)
			n = READ_FRAMES_MAX;
		r = ocb_archive_read_frames(a, first, n, pread_cb, &p);
		if (r < 0)
			return r;
		first += n;
	}
	return (ssize_t)len;
}
