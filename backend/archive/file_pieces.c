/*
 * file_pieces.c - a backup's segments cut at its files' data, each piece
 * named by its file's content (file_pieces.h).
 */
#include "file_pieces.h"
#include "archive_ops.h"
#include "catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fdata {
	uint64_t off, size;
	uint32_t entry;
};

static int fdata_cmp(const void *x, const void *y)
{
	const struct fdata *a = x, *b = y;

	if (a->off != b->off)
		return a->off < b->off ? -1 : 1;
	return 0;
}

void ocb_file_key(uint8_t key[OCB_FILE_KEY_LEN], const uint8_t sha256[32],
		  uint64_t size)
{
	int i;

	memcpy(key, sha256, 32);
	for (i = 0; i < 8; i++)
		key[32 + i] = (uint8_t)(size >> (8 * i));
}

/* the named files' data, in logical order (disjoint in a tar stream) */
static int files_of(const struct ocb_catalog *c, struct fdata **out,
		    size_t *n)
{
	struct fdata *v = malloc((c->n ? c->n : 1) * sizeof(*v));
	uint32_t i;
	size_t m = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		const struct ocb_entry *e = &c->e[i];

		if (e->type != OCB_ENTRY_FILE || e->ino != i ||
		    e->size < OCB_FILE_PIECES_MIN ||
		    e->data_off + e->size > c->stream_size)
			continue;
		v[m++] = (struct fdata){ e->data_off, e->size, i };
	}
	qsort(v, m, sizeof(*v), fdata_cmp);
	*out = v;
	*n = m;
	return 0;
}

int ocb_file_pieces(const struct ocb_archive *a,
		    int (*fn)(void *arg, const struct ocb_file_piece *p),
		    void *arg)
{
	const struct ocb_catalog *c = ocb_archive_catalog(a);
	struct fdata *f = NULL;
	uint8_t key[OCB_FILE_KEY_LEN];
	size_t nf = 0, at = 0;
	uint32_t s;
	int r;

	if (!c || c->version < 3)
		return 0;
	r = files_of(c, &f, &nf);
	for (s = 0; r == 0 && s < c->nseg; s++) {
		const struct ocb_segment *g = &c->seg[s];
		uint64_t lo = g->loff, end = g->loff + g->len;

		while (r == 0 && lo < end) {
			struct ocb_file_piece p = { .loff = lo,
						    .source = g->source };
			uint64_t stop = end;

			while (at < nf && f[at].off + f[at].size <= lo)
				at++;
			if (at < nf && f[at].off <= lo) {
				const struct fdata *d = &f[at];

				if (d->off + d->size < stop)
					stop = d->off + d->size;
				ocb_file_key(key, c->e[d->entry].sha256,
					     d->size);
				p.key = key;
				p.data_off = d->off;
				p.whole = lo == d->off &&
					  stop == d->off + d->size;
			} else if (at < nf && f[at].off < stop) {
				stop = f[at].off;
			}
			p.len = stop - lo;
			p.poff = g->poff + (lo - g->loff);
			r = fn(arg, &p);
			lo = stop;
		}
	}
	free(f);
	return r;
}
