/*
 * oldtool_reader.c - the archive operations (archive_ops.h) of an old-tool
 * .tar.gz backup, on top of oldtool_archive.c: its "frames" are frame_size
 * cuts of the tar stream, read with one range request from the nearest
 * gzip restart point; it has no sealed frames and no content hashes.
 */
#include "oldtool_reader.h"
#include "archive_ops.h"
#include "catalog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the old-tool implementation's state */
struct oldtool_reader {
	struct ocb_oldtool *old;
	struct ocb_catalog *cat;	/* NULL: streamed only */
};

static const struct ocb_archive_ops oldtool_reader_ops;

static void oldtool_reader_free(void *impl)
{
	struct oldtool_reader *rd = impl;

	if (!rd)
		return;
	ocb_catalog_free(rd->cat);
	ocb_oldtool_free(rd->old);
	free(rd);
}

/* the stream cut into frames of frame_size, each handed on when full */
struct frame_cutter {
	ocb_frame_fn cb;
	void *arg;
	uint32_t frame;		/* the frame being filled */
	uint8_t *buf;
	size_t len, frame_size;
};

static int frame_cutter_sink(void *arg, const void *data, size_t len)
{
	struct frame_cutter *fc = arg;
	const uint8_t *p = data;
	int r;

	while (len) {
		size_t k = fc->frame_size - fc->len < len ?
			   fc->frame_size - fc->len : len;

		memcpy(fc->buf + fc->len, p, k);
		fc->len += k;
		p += k;
		len -= k;
		if (fc->len == fc->frame_size) {
			r = fc->cb(fc->arg, fc->frame++, fc->buf, fc->len);
			fc->len = 0;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int oldtool_reader_read_frames(struct ocb_archive *a, uint32_t first,
				      uint32_t n, ocb_frame_fn cb, void *arg,
				      int *net)
{
	const struct oldtool_reader *rd = ocb_archive_impl(a);
	struct frame_cutter fc = { .cb = cb, .arg = arg, .frame = first,
				   .frame_size = rd->cat->frame_size };
	uint64_t off = (uint64_t)first * fc.frame_size;
	uint64_t end = (uint64_t)(first + n) * fc.frame_size;
	int r;

	if (net)
		*net = 1;	/* read below the disk cache */
	if (end > rd->cat->stream_size)
		end = rd->cat->stream_size;
	fc.buf = malloc(fc.frame_size);
	if (!fc.buf)
		return -ENOMEM;
	r = ocb_oldtool_read(rd->old, off, end - off, frame_cutter_sink, &fc);
	if (r == 0 && fc.len)
		r = cb(arg, fc.frame, fc.buf, fc.len);
	free(fc.buf);
	return r;
}

static int oldtool_reader_frame_location(const struct ocb_archive *a,
					 uint32_t i, uint64_t *off,
					 uint32_t *sealed_len)
{
	(void)a, (void)i, (void)off, (void)sealed_len;
	return -EINVAL;	/* nothing sealed */
}

static int oldtool_reader_cat_range(struct ocb_archive *a, uint64_t off,
				    uint64_t len, ocb_sink_fn sink, void *arg)
{
	const struct oldtool_reader *rd = ocb_archive_impl(a);

	/* one range request; -EINVAL when not indexed */
	return ocb_oldtool_read(rd->old, off, len, sink, arg);
}

static int oldtool_reader_cat(struct ocb_archive *a, ocb_sink_fn sink,
			      void *arg)
{
	const struct oldtool_reader *rd = ocb_archive_impl(a);

	return ocb_oldtool_cat(rd->old, sink, arg);
}

/* an old backup has no hashes: opening it with its index built (not
 * loaded) read it whole, every gzip CRC and the tar structure checked */
static int oldtool_reader_verify(struct ocb_archive *a,
				 struct ocb_verify_result *res)
{
	uint32_t i, n = ocb_archive_count(a);

	for (i = 0; i < n; i++)
		res->files += ocb_archive_entry(a, i)->type ==
			OCB_ENTRY_FILE && ocb_archive_entry(a, i)->ino == i;
	res->bytes = ocb_archive_info(a)->stream_size;
	return n ? 0 : -EINVAL;
}

static int oldtool_reader_map_path(const struct ocb_archive *a,
				   const char *path, char *out, size_t size)
{
	return ocb_oldtool_map_path(ocb_archive_info(a)->name, path, out,
				    size);
}

static const uint8_t *oldtool_reader_backup_id(const struct ocb_archive *a)
{
	static const uint8_t none[16];

	(void)a;
	return none;
}

static const struct ocb_archive_ops oldtool_reader_ops = {
	.old_tool = 1,
	.free = oldtool_reader_free,
	.read_frames = oldtool_reader_read_frames,
	.frame_location = oldtool_reader_frame_location,
	.cat_range = oldtool_reader_cat_range,
	.cat = oldtool_reader_cat,
	.verify = oldtool_reader_verify,
	.map_path = oldtool_reader_map_path,
	.backup_id = oldtool_reader_backup_id,
};

static void oldtool_reader_fill_info(const struct oldtool_reader *rd,
				     struct ocb_archive_info *in)
{
	const struct ocb_oldtool_info *oi = ocb_oldtool_info(rd->old);

	memset(in, 0, sizeof(*in));
	in->format_version = 0;
	snprintf(in->name, sizeof(in->name), "%s", oi->name);
	snprintf(in->instance, sizeof(in->instance), "%s", oi->instance);
	snprintf(in->key_provider, sizeof(in->key_provider), "%s",
		 oi->encryption);
	in->created = oi->created;
	in->object_size = oi->object_size;
	if (rd->cat) {
		in->entries = rd->cat->n;
		in->stream_size = rd->cat->stream_size;
		in->frame_size = rd->cat->frame_size;
		in->nframes = rd->cat->nf;
	}
}

int ocb_oldtool_reader_open(struct ocb_store *s, const char *key,
			    const struct ocb_oldtool_opts *o,
			    struct ocb_archive **out)
{
	struct oldtool_reader *rd = calloc(1, sizeof(*rd));
	struct ocb_archive_info info;
	int r;

	if (!rd)
		return -ENOMEM;
	r = ocb_oldtool_open(s, key, o, &rd->old, o->index ? &rd->cat : NULL);
	if (r < 0) {
		oldtool_reader_free(rd);
		return r;
	}
	oldtool_reader_fill_info(rd, &info);
	return ocb_archive_new(&oldtool_reader_ops, rd, rd->cat, &info, out);
}
