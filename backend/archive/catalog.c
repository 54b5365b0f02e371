/*
 * catalog.c - build, encode, decode and validate the catalog.
 *
 * Why fixed-size records and one string table: opening a 200,000-entry
 * backup is then one decompression and one linear validation pass, with no
 * per-entry allocation, and a directory listing is a slice of the array.
 */
#include "catalog.h"
#include "backup_name.h"
#include "buf.h"
#include "crypto.h"
#include "format.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <zstd.h>

#define HDR_LEN_V1 104
#define ENT_LEN_V1 120
#define HDR_LEN_V2 112
#define HDR_LEN_V3 184
#define HDR_LEN 208		/* version 4: the index */
#define ENT_LEN 128
#define ENT_LEN_V4 96		/* without the SHA-256 (in the details) */
#define SHA_OFF 88		/* of a 128-byte record */
#define GROUP 4096		/* version 4: entries transposed per group */
#define NINFO_V1 5
#define NINFO 6
#define XAT_LEN 24
#define FRM_LEN 24
#define SRC_LEN 16
#define REF_LEN 64
#define SEG_LEN 32
#define STAT_LEN 32
#define BH_LEN 24		/* block-hash record */
#define SEG_MAX OCB_CATALOG_MAX_ENTRIES
#define NO_TARGET UINT32_MAX
#define ARENA_MAX (4ull << 30)
#define HASH_AREA_MAX (256ull << 20)	/* the builder's block hashes */
#define HASH_LEN 32

/* ---- building -------------------------------------------------------------- */

struct brec {
	uint32_t parent, type, mode, uid, gid, mtime_nsec, link_to;
	uint32_t name_off, target_off, target_len, xattr_first, nxattrs;
	uint32_t flags;
	int64_t mtime;
	uint64_t size, data_off;
	uint8_t sha[32];
	uint64_t ino;		/* what the writer saw (format 3) */
	int64_t ctime;
	uint32_t ctime_nsec;
	uint32_t hdr_len;		/* its tar headers (format 3) */
	uint8_t hdr_mac[OCB_HDR_MAC_LEN];
	uint32_t bh_size, bh_count;	/* block hashes (format 3) */
	uint64_t bh_first;		/* in b->hashes, in HASH_LEN units */
};

struct bref {
	struct ocb_ref_rec rec;	/* name unused: name_off */
	uint32_t name_off, name_len;
	struct ocb_frame_rec *f;
};

struct bxat {
	uint32_t name_off, name_len;
	uint64_t value_off;
	uint32_t value_len;
};

struct bsrc {
	uint32_t seq;
	uint32_t path_off, path_len;
};

struct ocb_catb {
	struct brec *r;
	uint32_t n, cap;
	struct bxat *x;
	uint32_t nx, capx;
	struct ocb_frame_rec *f;
	uint32_t nf, capf;
	struct bsrc *s;
	uint32_t ns;
	struct bref *refs;
	uint32_t nrefs;
	uint64_t nref_frames;
	struct ocb_segment *seg;
	uint32_t nseg, capseg;
	struct ocb_buf str;	/* NUL-terminated strings */
	struct ocb_buf xdata;	/* xattr values */
	struct ocb_buf hashes;	/* block hashes, HASH_LEN each */
};

static int grow(void **p, uint32_t *cap, uint32_t n, size_t size)
{
	void *np;
	uint32_t nc;

	if (n < *cap)
		return 0;
	if (*cap >= OCB_CATALOG_MAX_ENTRIES)
		return -EFBIG;
	nc = *cap ? *cap * 2 : 256;
	np = realloc(*p, (size_t)nc * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}

static int add_str(struct ocb_catb *b, const char *s, size_t len,
		   uint32_t *off)
{
	int r;

	if (b->str.len > UINT32_MAX - len - 1)
		return -EFBIG;
	*off = (uint32_t)b->str.len;
	r = ocb_buf_append(&b->str, s, len);
	return r ? r : ocb_buf_append(&b->str, "", 1);
}

int ocb_catb_new(struct ocb_catb **out)
{
	struct ocb_catb *b = calloc(1, sizeof(*b));
	struct ocb_catb_entry root = {
		.name = "", .type = OCB_ENTRY_DIR, .mode = S_IFDIR | 0755,
		.link_to = OCB_NOLINK,
	};
	uint32_t seq;
	int r;

	if (!b)
		return -ENOMEM;
	ocb_buf_init(&b->str, ARENA_MAX);
	ocb_buf_init(&b->xdata, ARENA_MAX);
	ocb_buf_init(&b->hashes, HASH_AREA_MAX);
	r = ocb_catb_add(b, &root, &seq);
	if (r < 0) {
		ocb_catb_free(b);
		return r;
	}
	*out = b;
	return 0;
}

void ocb_catb_free(struct ocb_catb *b)
{
	if (!b)
		return;
	free(b->r);
	free(b->x);
	free(b->f);
	free(b->s);
	for (uint32_t i = 0; i < b->nrefs; i++)
		free(b->refs[i].f);
	free(b->refs);
	free(b->seg);
	ocb_buf_release(&b->str);
	ocb_buf_release(&b->xdata);
	ocb_buf_release(&b->hashes);
	free(b);
}

void ocb_catb_root(struct ocb_catb *b, uint32_t mode, int64_t mtime)
{
	b->r[0].mode = S_IFDIR | (mode & 07777);
	b->r[0].mtime = mtime;
}

int ocb_catb_root_xattr(struct ocb_catb *b, const char *name,
			const void *value, size_t len)
{
	struct bxat *x;
	int err;

	/* the root's xattrs are one run: before any other entry's */
	if (b->nx != b->r[0].xattr_first + b->r[0].nxattrs || len > 65536)
		return -EINVAL;
	err = grow((void **)&b->x, &b->capx, b->nx, sizeof(*b->x));
	if (err < 0)
		return err;
	x = &b->x[b->nx];
	x->name_len = (uint32_t)strlen(name);
	err = add_str(b, name, x->name_len, &x->name_off);
	if (err < 0)
		return err;
	x->value_off = b->xdata.len;
	x->value_len = (uint32_t)len;
	err = ocb_buf_append(&b->xdata, value, len);
	if (err < 0)
		return err;
	b->nx++;
	b->r[0].nxattrs++;
	return 0;
}

int ocb_catb_add(struct ocb_catb *b, const struct ocb_catb_entry *e,
		 uint32_t *seq)
{
	struct brec *r;
	size_t i;
	int err;

	err = grow((void **)&b->r, &b->cap, b->n, sizeof(*b->r));
	if (err < 0)
		return err;
	r = &b->r[b->n];
	memset(r, 0, sizeof(*r));
	r->parent = e->parent;
	r->type = e->type;
	r->mode = e->mode;
	r->uid = e->uid;
	r->gid = e->gid;
	r->mtime = e->mtime;
	r->mtime_nsec = e->mtime_nsec;
	r->size = e->size;
	r->data_off = e->data_off;
	r->link_to = e->link_to;
	if (e->sha256)
		memcpy(r->sha, e->sha256, 32);
	err = add_str(b, e->name, strlen(e->name), &r->name_off);
	if (err < 0)
		return err;
	r->target_off = NO_TARGET;
	if (e->target) {
		r->target_len = (uint32_t)strlen(e->target);
		err = add_str(b, e->target, r->target_len, &r->target_off);
		if (err < 0)
			return err;
	}
	r->xattr_first = b->nx;
	for (i = 0; i < e->nxattrs; i++) {
		struct bxat *x;

		err = grow((void **)&b->x, &b->capx, b->nx, sizeof(*b->x));
		if (err < 0)
			return err;
		x = &b->x[b->nx];
		x->name_len = (uint32_t)strlen(e->xnames[i]);
		err = add_str(b, e->xnames[i], x->name_len, &x->name_off);
		if (err < 0)
			return err;
		x->value_off = b->xdata.len;
		x->value_len = (uint32_t)e->xlens[i];
		err = ocb_buf_append(&b->xdata, e->xvalues[i], e->xlens[i]);
		if (err < 0)
			return err;
		b->nx++;
		r->nxattrs++;
	}
	*seq = b->n++;
	return 0;
}

void ocb_catb_set_flags(struct ocb_catb *b, uint32_t seq, uint32_t flags)
{
	b->r[seq].flags = flags;
}

void ocb_catb_set_copy(struct ocb_catb *b, uint32_t seq, uint64_t data_off,
		       int64_t mtime, uint32_t mtime_nsec)
{
	b->r[seq].data_off = data_off;
	b->r[seq].hdr_len = 0;
	b->r[seq].mtime = mtime;
	b->r[seq].mtime_nsec = mtime_nsec;
}

void ocb_catb_set_content(struct ocb_catb *b, uint32_t seq, uint64_t size,
			  const uint8_t sha256[32])
{
	b->r[seq].size = size;
	memcpy(b->r[seq].sha, sha256, 32);
}

int ocb_catb_add_source(struct ocb_catb *b, uint32_t seq, const char *path)
{
	struct bsrc *ns = realloc(b->s, (b->ns + 1) * sizeof(*b->s));
	int r;

	if (!ns)
		return -ENOMEM;
	b->s = ns;
	b->s[b->ns].seq = seq;
	b->s[b->ns].path_len = (uint32_t)strlen(path);
	r = add_str(b, path, b->s[b->ns].path_len, &b->s[b->ns].path_off);
	if (r == 0)
		b->ns++;
	return r;
}

int ocb_catb_add_frame(struct ocb_catb *b, const struct ocb_frame_rec *f)
{
	int r = grow((void **)&b->f, &b->capf, b->nf, sizeof(*b->f));

	if (r < 0)
		return r;
	b->f[b->nf++] = *f;
	return 0;
}

uint32_t ocb_catb_nentries(const struct ocb_catb *b)
{
	return b->n;
}

void ocb_catb_set_stat(struct ocb_catb *b, uint32_t seq, uint64_t ino,
		       int64_t ctime, uint32_t ctime_nsec)
{
	b->r[seq].ino = ino;
	b->r[seq].ctime = ctime;
	b->r[seq].ctime_nsec = ctime_nsec;
}

void ocb_catb_set_header(struct ocb_catb *b, uint32_t seq, uint32_t len,
			 const uint8_t mac[OCB_HDR_MAC_LEN])
{
	b->r[seq].hdr_len = len;
	memcpy(b->r[seq].hdr_mac, mac, OCB_HDR_MAC_LEN);
}

int ocb_catb_add_ref(struct ocb_catb *b, const struct ocb_ref_rec *ref,
		     const struct ocb_frame_rec *frames, uint32_t *index)
{
	struct bref *nr, *x;
	uint32_t i;
	int r;

	for (i = 0; i < b->nrefs; i++)
		if (!memcmp(b->refs[i].rec.id, ref->id, 16)) {
			*index = i;
			return 0;
		}
	if (b->nrefs >= OCB_CATALOG_MAX_REFS ||
	    b->nref_frames + ref->nframes > OCB_CATALOG_MAX_ENTRIES)
		return -EFBIG;
	nr = realloc(b->refs, (b->nrefs + 1) * sizeof(*b->refs));
	if (!nr)
		return -ENOMEM;
	b->refs = nr;
	x = &b->refs[b->nrefs];
	memset(x, 0, sizeof(*x));
	x->rec = *ref;
	x->rec.name = NULL;
	x->f = malloc((ref->nframes ? ref->nframes : 1) * sizeof(*x->f));
	if (!x->f)
		return -ENOMEM;
	memcpy(x->f, frames, ref->nframes * sizeof(*x->f));
	x->name_len = (uint32_t)strlen(ref->name);
	r = add_str(b, ref->name, x->name_len, &x->name_off);
	if (r < 0) {
		free(x->f);
		return r;
	}
	b->nref_frames += ref->nframes;
	*index = b->nrefs++;
	return 0;
}

int ocb_catb_add_segment(struct ocb_catb *b, uint64_t loff, uint64_t len,
			 uint64_t poff, uint32_t source)
{
	struct ocb_segment *last = b->nseg ? &b->seg[b->nseg - 1] : NULL;
	int r;

	if (!len)
		return 0;
	if (last && last->source == source && last->loff + last->len == loff &&
	    last->poff + last->len == poff) {
		last->len += len;
		return 0;
	}
	if (b->nseg >= SEG_MAX)
		return -EFBIG;
	r = grow((void **)&b->seg, &b->capseg, b->nseg, sizeof(*b->seg));
	if (r < 0)
		return r;
	b->seg[b->nseg++] = (struct ocb_segment){ .loff = loff, .len = len,
						  .poff = poff,
						  .source = source };
	return 0;
}

uint32_t ocb_catb_nsegments(const struct ocb_catb *b)
{
	return b->nseg;
}

/* seq's hashes are the last ones added */
static int blocks_at_end(const struct ocb_catb *b, const struct brec *x)
{
	return (x->bh_first + x->bh_count) * HASH_LEN == b->hashes.len;
}

int ocb_catb_blocks_begin(struct ocb_catb *b, uint32_t seq,
			  uint32_t block_size)
{
	struct brec *x;

	if (seq >= b->n || block_size < 4096 ||
	    block_size > OCB_FRAME_SIZE_MAX || (block_size & (block_size - 1)))
		return -EINVAL;
	x = &b->r[seq];
	if (x->bh_size && blocks_at_end(b, x))
		b->hashes.len = x->bh_first * HASH_LEN;	/* stored again */
	x->bh_size = block_size;
	x->bh_first = b->hashes.len / HASH_LEN;
	x->bh_count = 0;
	return 0;
}

int ocb_catb_blocks_add(struct ocb_catb *b, uint32_t seq,
			const uint8_t hash[32])
{
	struct brec *x = seq < b->n ? &b->r[seq] : NULL;
	int r;

	if (!x || !x->bh_size || !blocks_at_end(b, x) ||
	    x->bh_count == UINT32_MAX)
		return -EINVAL;
	r = ocb_buf_append(&b->hashes, hash, HASH_LEN);
	if (r == 0)
		x->bh_count++;
	return r;
}

int ocb_catb_set_blocks(struct ocb_catb *b, uint32_t seq,
			const struct ocb_block_hashes *h)
{
	int r = ocb_catb_blocks_begin(b, seq, h->block_size);

	if (r == 0)
		r = ocb_buf_append(&b->hashes, h->hash,
				   (size_t)h->count * HASH_LEN);
	if (r == 0)
		b->r[seq].bh_count = h->count;
	return r;
}

uint64_t ocb_catb_hash_bytes(const struct ocb_catb *b)
{
	return b->hashes.len;
}

/* children sort: by name bytes */
static int child_cmp(const void *a, const void *bb, void *arg)
{
	const struct ocb_catb *b = arg;
	const char *na = b->str.data + b->r[*(const uint32_t *)a].name_off;
	const char *nb = b->str.data + b->r[*(const uint32_t *)bb].name_off;

	return strcmp(na, nb);
}

/*
 * The encoder writes the plaintext through a small staging buffer into a
 * sink (a growing buffer, or a zstd stream), so a large catalog is never
 * held twice in memory while it is written.
 */
struct emit {
	int (*sink)(void *arg, const void *p, size_t n);
	void *arg;
	size_t len;
	int err;
	uint8_t buf[64 * 1024];
};

static void emit_flush(struct emit *em)
{
	if (em->len && !em->err)
		em->err = em->sink(em->arg, em->buf, em->len);
	em->len = 0;
}

/* n (<= sizeof(buf)) zeroed bytes to fill in */
static uint8_t *emit_room(struct emit *em, size_t n)
{
	uint8_t *p;

	if (em->len + n > sizeof(em->buf))
		emit_flush(em);
	p = em->buf + em->len;
	memset(p, 0, n);
	em->len += n;
	return p;
}

static void emit_bytes(struct emit *em, const void *data, size_t n)
{
	emit_flush(em);
	if (n && !em->err)
		em->err = em->sink(em->arg, data, n);
}

/*
 * The order entries are written in, computed before writing: children of
 * a directory contiguous, sorted by name, numbered breadth-first after
 * their parent.  Arrays of b->n (children_start: b->n + 1), indexed by
 * the builder's sequence numbers unless said otherwise.
 */
struct catb_layout {
	uint32_t *children_start;	/* children of s: children[
					 * children_start[s] ..
					 * children_start[s + 1]) */
	uint32_t *children;		/* sorted by name */
	uint32_t *filled;		/* children placed so far */
	uint32_t *order;		/* new index -> seq */
	uint32_t *new_index;		/* seq -> new index */
	uint32_t *inode;		/* link set (its first seq) -> the new
					 * index of its member numbered first */
	uint32_t *links;		/* hardlinks to s, or subdirectories */
};

static void catb_layout_release(struct catb_layout *l)
{
	free(l->children_start);
	free(l->children);
	free(l->filled);
	free(l->order);
	free(l->new_index);
	free(l->inode);
	free(l->links);
}

static int catb_layout_alloc(struct catb_layout *l, uint32_t n)
{
	l->children_start = calloc((size_t)n + 1, sizeof(uint32_t));
	l->children = calloc(n ? n : 1, sizeof(uint32_t));
	l->filled = calloc((size_t)n + 1, sizeof(uint32_t));
	l->order = calloc(n, sizeof(uint32_t));
	l->new_index = calloc(n, sizeof(uint32_t));
	l->inode = calloc(n, sizeof(uint32_t));
	l->links = calloc(n, sizeof(uint32_t));
	if (!l->children_start || !l->children || !l->filled || !l->order ||
	    !l->new_index || !l->inode || !l->links)
		return -ENOMEM;
	return 0;
}

/* children lists (CSR), each sorted by name */
static void catb_layout_children(struct catb_layout *l, struct ocb_catb *b)
{
	uint32_t *start = l->children_start, n = b->n, i;

	for (i = 1; i < n; i++)
		start[b->r[i].parent + 1]++;
	for (i = 0; i < n; i++)
		start[i + 1] += start[i];
	for (i = 1; i < n; i++) {
		uint32_t parent = b->r[i].parent;

		l->children[start[parent] + l->filled[parent]++] = i;
	}
	for (i = 0; i < n; i++)
		if (start[i + 1] - start[i] > 1)
			qsort_r(l->children + start[i], start[i + 1] - start[i],
				sizeof(*l->children), child_cmp, b);
}

/* breadth-first numbering: children contiguous, after the parent;
 * -EINVAL for an entry whose parent was never added */
static int catb_layout_number(struct catb_layout *l, uint32_t n)
{
	uint32_t head = 0, tail = 1;

	l->order[0] = 0;
	l->new_index[0] = 0;
	while (head < tail) {
		uint32_t s = l->order[head++], k;

		for (k = l->children_start[s]; k < l->children_start[s + 1];
		     k++) {
			l->new_index[l->children[k]] = tail;
			l->order[tail++] = l->children[k];
		}
	}
	return tail == n ? 0 : -EINVAL;
}

/* a link set's inode is its member numbered first; link counts */
static void catb_layout_links(struct catb_layout *l,
			      const struct ocb_catb *b)
{
	uint32_t n = b->n, i;

	for (i = 0; i < n; i++)
		l->inode[i] = UINT32_MAX;
	for (i = 0; i < n; i++) {
		uint32_t set = b->r[i].link_to != OCB_NOLINK ?
			       b->r[i].link_to : i;

		if (b->r[i].type == OCB_ENTRY_FILE &&
		    l->new_index[i] < l->inode[set])
			l->inode[set] = l->new_index[i];
	}
	for (i = 0; i < n; i++) {
		const struct brec *x = &b->r[i];

		if (x->link_to != OCB_NOLINK)
			l->links[x->link_to]++;
		else if (x->type == OCB_ENTRY_DIR && i)
			l->links[x->parent]++;
	}
}

/* what the encoder adds to the builder for one catalog */
struct catb_plain {
	uint32_t version, hdr_len;
	uint32_t info_off[NINFO], info_len[NINFO];
	uint32_t base_off, base_len;
	struct ocb_segment whole;	/* no segments added: source 0 */
	const struct ocb_segment *seg;
	uint32_t nseg;
	uint32_t nbh;			/* block-hash records written */
	uint64_t nhash;			/* ... and their hashes */
	uint64_t details_plain;		/* format 4: the details' length */
};

static void emit_header(struct emit *em, const struct ocb_catb *b,
			const struct ocb_catb_info *info,
			const struct catb_plain *cp)
{
	uint8_t *p = emit_room(em, cp->hdr_len);
	uint64_t stored = info->stored_size ? info->stored_size :
			  info->stream_size;
	uint32_t i;

	memcpy(p, cp->version == 2 ? OCB_CATALOG_MAGIC_V2 :
	       cp->version == 3 ? OCB_CATALOG_MAGIC_V3 : OCB_CATALOG_MAGIC, 8);
	ocb_put32(p + 8, b->n);
	ocb_put32(p + 12, b->nx);
	ocb_put32(p + 16, b->nf);
	ocb_put32(p + 20, b->ns);
	ocb_put64(p + 24, b->str.len);
	ocb_put64(p + 32, b->xdata.len);
	ocb_put64(p + 40, cp->version == 2 ? info->stream_size : stored);
	ocb_put64(p + 48, (uint64_t)info->created);
	ocb_put32(p + 56, info->frame_size);
	ocb_put32(p + 60, info->warnings);
	for (i = 0; i < NINFO; i++) {
		ocb_put32(p + 64 + 8 * i, cp->info_off[i]);
		ocb_put32(p + 68 + 8 * i, cp->info_len[i]);
	}
	if (cp->version == 2)
		return;
	ocb_put64(p + 112, info->stream_size);
	ocb_put32(p + 120, b->nrefs);
	ocb_put32(p + 124, cp->nseg);
	ocb_put32(p + 128, cp->nbh);
	ocb_put32(p + 132, (uint32_t)b->nref_frames);
	ocb_put64(p + 136, cp->nhash * HASH_LEN);
	ocb_put32(p + 144, cp->base_off);
	ocb_put32(p + 148, cp->base_len);
	ocb_put32(p + 152, info->depth);
	ocb_put64(p + 160, (uint64_t)(info->full_created ?
				      info->full_created : info->created));
	if (info->header_key)
		memcpy(p + 168, info->header_key, OCB_HDR_KEY_LEN);
	if (cp->version < 4)
		return;
	ocb_put64(p + 184, info->details_off);
	ocb_put64(p + 192, info->details_len);
	ocb_put64(p + 200, cp->details_plain);
}

/* the file whose content entry x has (itself, or the first link) */
static const struct brec *data_of(const struct ocb_catb *b,
				  const struct brec *x)
{
	return x->link_to != OCB_NOLINK ? &b->r[x->link_to] : x;
}

/* the record (ENT_LEN zeroed bytes at p) of the entry numbered i
 * (builder's seq l->order[i]) */
static void entry_record(const struct ocb_catb *b,
			 const struct catb_layout *l, uint32_t i, uint8_t *p)
{
	uint32_t s = l->order[i], nl;
	const struct brec *x = &b->r[s];
	const struct brec *data = data_of(b, x);
	const uint32_t *start = l->children_start;

	if (x->type == OCB_ENTRY_DIR)
		nl = 2 + l->links[s];
	else if (x->link_to != OCB_NOLINK)
		nl = 1 + l->links[x->link_to];
	else
		nl = 1 + l->links[s];
	ocb_put32(p + 0, i ? l->new_index[x->parent] : 0);
	ocb_put32(p + 4, x->type);
	ocb_put32(p + 8, x->mode);
	ocb_put32(p + 12, x->uid);
	ocb_put32(p + 16, x->gid);
	ocb_put32(p + 20, nl);
	ocb_put32(p + 24, x->type != OCB_ENTRY_FILE ? i :
		  l->inode[x->link_to != OCB_NOLINK ? x->link_to : s]);
	if (x->type == OCB_ENTRY_DIR && start[s + 1] > start[s]) {
		ocb_put32(p + 28, l->new_index[l->children[start[s]]]);
		ocb_put32(p + 32, start[s + 1] - start[s]);
	}
	ocb_put32(p + 36, x->xattr_first);
	ocb_put32(p + 40, x->nxattrs);
	ocb_put32(p + 44, x->mtime_nsec);
	ocb_put64(p + 48, (uint64_t)x->mtime);
	ocb_put64(p + 56, data->size);
	ocb_put64(p + 64, data->data_off);
	ocb_put32(p + 72, x->name_off);
	ocb_put32(p + 76, (uint32_t)strlen(b->str.data + x->name_off));
	ocb_put32(p + 80, x->target_off);
	ocb_put32(p + 84, x->target_len);
	memcpy(p + SHA_OFF, data->sha, 32);
	ocb_put32(p + 120, x->flags);
}

/* a record's bytes without the SHA-256 (version 4): byte k of 96 */
static size_t v4_byte(size_t k)
{
	return k < SHA_OFF ? k : k + 32;
}

/*
 * The entries: versions 1-3 one record after another; version 4 without
 * their SHA-256s, in groups of GROUP entries (the last may be shorter),
 * each group transposed: byte k of the group's entry j at k * g + j.
 * Like bytes of neighbouring entries then lie side by side (parents,
 * offsets, times), which zstd compresses about three times better.
 */
static int emit_entries(struct emit *em, const struct ocb_catb *b,
			const struct catb_layout *l, uint32_t version)
{
	uint8_t rec[ENT_LEN], *grp;
	uint32_t i, j, g;
	size_t k;

	if (version < 4) {
		for (i = 0; i < b->n; i++) {
			entry_record(b, l, i, emit_room(em, ENT_LEN));
		}
		return 0;
	}
	grp = malloc((size_t)GROUP * ENT_LEN_V4);
	if (!grp)
		return -ENOMEM;
	for (i = 0; i < b->n; i += g) {
		g = b->n - i < GROUP ? b->n - i : GROUP;
		for (j = 0; j < g; j++) {
			memset(rec, 0, sizeof(rec));
			entry_record(b, l, i + j, rec);
			for (k = 0; k < ENT_LEN_V4; k++)
				grp[k * g + j] = rec[v4_byte(k)];
		}
		emit_bytes(em, grp, (size_t)g * ENT_LEN_V4);
	}
	free(grp);
	return 0;
}

static void emit_frame(struct emit *em, const struct ocb_frame_rec *f)
{
	uint8_t *p = emit_room(em, FRM_LEN);

	ocb_put64(p, f->off);
	ocb_put32(p + 8, f->sealed_len);
	ocb_put32(p + 12, f->plain_len);
	ocb_put32(p + 16, f->flags);
}

/* the xattr, frame and source tables */
static void emit_tables(struct emit *em, const struct ocb_catb *b,
			const struct catb_layout *l)
{
	uint8_t *p;
	uint32_t i, k;

	for (i = 0; i < b->nx; i++) {
		p = emit_room(em, XAT_LEN);
		ocb_put32(p, b->x[i].name_off);
		ocb_put32(p + 4, b->x[i].name_len);
		ocb_put64(p + 8, b->x[i].value_off);
		ocb_put32(p + 16, b->x[i].value_len);
	}
	for (i = 0; i < b->nf; i++)
		emit_frame(em, &b->f[i]);
	for (i = 0; i < b->nrefs; i++)
		for (k = 0; k < b->refs[i].rec.nframes; k++)
			emit_frame(em, &b->refs[i].f[k]);
	for (i = 0; i < b->ns; i++) {
		p = emit_room(em, SRC_LEN);
		ocb_put32(p, l->new_index[b->s[i].seq]);
		ocb_put32(p + 4, b->s[i].path_off);
		ocb_put32(p + 8, b->s[i].path_len);
	}
}

/* a file's block hashes are written when they cover its final content */
static int blocks_kept(const struct brec *x)
{
	return x->bh_size && x->type == OCB_ENTRY_FILE &&
		x->link_to == OCB_NOLINK && x->size &&
		x->bh_count == (x->size + x->bh_size - 1) / x->bh_size;
}

/* format 3: block-hash records in entry order, then the hash area */
static void emit_blocks(struct emit *em, const struct ocb_catb *b,
			const struct catb_layout *l)
{
	uint64_t first = 0;
	uint32_t i;
	uint8_t *p;

	for (i = 0; i < b->n; i++) {
		const struct brec *x = &b->r[l->order[i]];

		if (!blocks_kept(x))
			continue;
		p = emit_room(em, BH_LEN);
		ocb_put32(p, i);
		ocb_put32(p + 4, x->bh_size);
		ocb_put64(p + 8, first);
		ocb_put32(p + 16, x->bh_count);
		first += x->bh_count;
	}
	for (i = 0; i < b->n; i++) {
		const struct brec *x = &b->r[l->order[i]];

		if (blocks_kept(x))
			emit_bytes(em, b->hashes.data + x->bh_first * HASH_LEN,
				   (size_t)x->bh_count * HASH_LEN);
	}
}

/* format 3: refs, their headers, segments */
static void emit_tables_v3(struct emit *em, const struct ocb_catb *b,
			   const struct catb_plain *cp)
{
	uint32_t i, first = b->nf;
	uint8_t *p;

	for (i = 0; i < b->nrefs; i++) {
		const struct bref *x = &b->refs[i];

		p = emit_room(em, REF_LEN);
		memcpy(p, x->rec.id, 16);
		ocb_put64(p + 16, (uint64_t)x->rec.created);
		ocb_put32(p + 24, x->name_off);
		ocb_put32(p + 28, x->name_len);
		ocb_put32(p + 32, x->rec.frame_size);
		ocb_put32(p + 36, first);
		ocb_put32(p + 40, x->rec.nframes);
		ocb_put64(p + 48, x->rec.stream_size);
		first += x->rec.nframes;
	}
	for (i = 0; i < b->nrefs; i++)
		memcpy(emit_room(em, OCB_HEADER_SIZE), b->refs[i].rec.header,
		       OCB_HEADER_SIZE);
	for (i = 0; i < cp->nseg; i++) {
		p = emit_room(em, SEG_LEN);
		ocb_put64(p, cp->seg[i].loff);
		ocb_put64(p + 8, cp->seg[i].len);
		ocb_put64(p + 16, cp->seg[i].poff);
		ocb_put32(p + 24, cp->seg[i].source);
	}
}

/* format 3: entry stats, block hashes; format 4 (the details): the
 * entries' SHA-256s before them */
static void emit_details(struct emit *em, const struct ocb_catb *b,
			 const struct catb_layout *l, uint32_t version)
{
	uint32_t i;
	uint8_t *p;

	for (i = 0; version >= 4 && i < b->n; i++)
		memcpy(emit_room(em, 32), data_of(b, &b->r[l->order[i]])->sha,
		       32);
	for (i = 0; i < b->n; i++) {
		const struct brec *x = &b->r[l->order[i]];

		p = emit_room(em, STAT_LEN);
		ocb_put64(p, x->ino);
		ocb_put64(p + 8, (uint64_t)x->ctime);
		ocb_put32(p + 16, x->ctime_nsec);
		if (x->hdr_len) {
			ocb_put32(p + 20, x->hdr_len);
			memcpy(p + 24, x->hdr_mac, OCB_HDR_MAC_LEN);
		}
	}
	emit_blocks(em, b, l);
}

/* the plaintext lengths of the part that holds everything (formats 1-3)
 * or of version 4's index (*total) and details (cp->details_plain) */
static uint64_t catb_plain_len(const struct ocb_catb *b,
			       const struct catb_plain *cp)
{
	uint64_t total, details = 0;

	total = cp->hdr_len + (uint64_t)b->n * ENT_LEN +
		(uint64_t)b->nx * XAT_LEN +
		((uint64_t)b->nf + b->nref_frames) * FRM_LEN +
		(uint64_t)b->ns * SRC_LEN + b->str.len + b->xdata.len;
	if (cp->version >= 3) {
		total += (uint64_t)b->nrefs * (REF_LEN + OCB_HEADER_SIZE) +
			 (uint64_t)cp->nseg * SEG_LEN;
		details = (uint64_t)b->n * STAT_LEN +
			  (uint64_t)cp->nbh * BH_LEN + cp->nhash * HASH_LEN;
	}
	if (cp->version < 4)
		return total + details;
	return total - (uint64_t)b->n * (ENT_LEN - ENT_LEN_V4);
}

/* the strings of the header, and the segments (one for a stream with
 * none added) */
static int catb_plain_init(struct ocb_catb *b, const struct ocb_catb_info *info,
			   struct catb_plain *cp)
{
	const char *istr[NINFO] = { info->name, info->instance, info->host,
				    info->label, info->key_provider,
				    info->prefix };
	const char *base = info->base ? info->base : "";
	uint32_t i;
	int r;

	if (cp->version < 2 || cp->version > OCB_CATALOG_VERSION ||
	    (cp->version < 4 && info->details))
		return -EINVAL;
	if (cp->version == 2 && (b->nrefs || b->nseg))
		return -EINVAL;
	for (i = 0; cp->version >= 3 && i < b->n; i++)
		if (blocks_kept(&b->r[i])) {
			cp->nbh++;
			cp->nhash += b->r[i].bh_count;
		}
	cp->hdr_len = cp->version == 2 ? HDR_LEN_V2 :
		      cp->version == 3 ? HDR_LEN_V3 : HDR_LEN;
	for (i = 0; !info->details && i < NINFO; i++) {
		const char *s = istr[i] ? istr[i] : "";

		cp->info_len[i] = (uint32_t)strlen(s);
		r = add_str(b, s, cp->info_len[i], &cp->info_off[i]);
		if (r < 0)
			return r;
	}
	if (cp->version >= 3 && !info->details) {
		cp->base_len = (uint32_t)strlen(base);
		r = add_str(b, base, cp->base_len, &cp->base_off);
		if (r < 0)
			return r;
	}
	cp->seg = b->seg;
	cp->nseg = b->nseg;
	if (!b->nseg && info->stream_size) {
		cp->whole = (struct ocb_segment){ .len = info->stream_size };
		cp->seg = &cp->whole;
		cp->nseg = 1;
	}
	cp->details_plain = (uint64_t)b->n * (32 + STAT_LEN) +
			    (uint64_t)cp->nbh * BH_LEN + cp->nhash * HASH_LEN;
	return 0;
}

/*
 * Write the catalog's plaintext to sink: lay the entries out, then the
 * header, entries and tables through a staging buffer (version 4: the
 * index, or the details when info->details).  *total_out (may be NULL)
 * receives its length.
 */
static int catb_write_plain(struct ocb_catb *b,
			    const struct ocb_catb_info *info,
			    int (*sink)(void *arg, const void *p, size_t n),
			    void *arg, uint64_t *total_out)
{
	struct catb_layout l = { 0 };
	struct catb_plain cp = { .version = info->version ? info->version :
				 OCB_CATALOG_VERSION_WHOLE };
	uint64_t total;
	struct emit *em = NULL;
	int r;

	r = catb_plain_init(b, info, &cp);
	if (r < 0)
		return r;
	em = malloc(sizeof(*em));
	r = catb_layout_alloc(&l, b->n);
	if (!em)
		r = -ENOMEM;
	if (r < 0)
		goto out;
	*em = (struct emit){ .sink = sink, .arg = arg };
	catb_layout_children(&l, b);
	r = catb_layout_number(&l, b->n);
	if (r < 0)
		goto out;
	catb_layout_links(&l, b);
	total = info->details ? cp.details_plain : catb_plain_len(b, &cp);
	if (total > OCB_CATALOG_MAX) {
		r = -EFBIG;
		goto out;
	}
	if (total_out)
		*total_out = total;
	if (info->details) {
		emit_details(em, b, &l, cp.version);
	} else {
		emit_header(em, b, info, &cp);
		r = emit_entries(em, b, &l, cp.version);
		if (r < 0)
			goto out;
		emit_tables(em, b, &l);
		if (cp.version >= 3)
			emit_tables_v3(em, b, &cp);
		if (cp.version == 3)
			emit_details(em, b, &l, cp.version);
		emit_bytes(em, b->str.data, b->str.len);
		emit_bytes(em, b->xdata.data, b->xdata.len);
	}
	emit_flush(em);
	r = em->err;
out:
	if (em)		/* the header key went through it */
		OPENSSL_cleanse(em, sizeof(*em));
	free(em);
	catb_layout_release(&l);
	return r;
}

static int buf_sink(void *arg, const void *p, size_t n)
{
	return ocb_buf_append(arg, p, n);
}

int ocb_catb_encode(struct ocb_catb *b, const struct ocb_catb_info *info,
		    uint8_t **blob, size_t *len)
{
	struct ocb_buf out;
	int r;

	ocb_buf_init(&out, OCB_CATALOG_MAX);
	r = catb_write_plain(b, info, buf_sink, &out, NULL);
	if (r < 0) {
		ocb_buf_release(&out);
		return r;
	}
	*blob = (uint8_t *)ocb_buf_detach(&out, len);
	return 0;
}

struct zsink {
	ZSTD_CCtx *cctx;
	struct ocb_buf *out;
	const uint64_t *total;	/* known before the first byte comes */
	int started;
};

/* compress what comes in, growing out as the compressed bytes need */
static int zstd_sink(void *arg, const void *p, size_t n)
{
	struct zsink *z = arg;
	ZSTD_inBuffer in = { p, n, 0 };

	/* the content size goes into the zstd frame header: readers check
	 * it against the trailer before decompressing */
	if (!z->started &&
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(z->cctx, *z->total)))
		return -EIO;
	z->started = 1;
	while (in.pos < in.size) {
		ZSTD_outBuffer o;
		size_t rc;
		int r = ocb_buf_reserve(z->out, 128 * 1024);

		if (r < 0)
			return r;
		o.dst = z->out->data;
		o.size = z->out->cap;
		o.pos = z->out->len;
		rc = ZSTD_compressStream2(z->cctx, &o, &in, ZSTD_e_continue);
		z->out->len = o.pos;
		if (ZSTD_isError(rc))
			return -EIO;
	}
	return 0;
}

int ocb_catb_encode_zstd(struct ocb_catb *b, const struct ocb_catb_info *info,
			 int level, size_t room, uint8_t **z, size_t *zlen,
			 uint64_t *plain_len)
{
	struct ocb_buf out;
	uint64_t total = 0;
	struct zsink zs = { .out = &out, .total = &total };
	size_t rc = 1;
	int r = 0;

	ocb_buf_init(&out, OCB_SEALED_BOUND(OCB_CATALOG_MAX) + room);
	zs.cctx = ZSTD_createCCtx();
	if (!zs.cctx)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(zs.cctx,
						ZSTD_c_compressionLevel, level)))
		r = -EINVAL;
	if (r == 0)
		r = catb_write_plain(b, info, zstd_sink, &zs, &total);
	while (r == 0 && rc != 0) {
		ZSTD_inBuffer in = { NULL, 0, 0 };
		ZSTD_outBuffer o;

		r = ocb_buf_reserve(&out, 128 * 1024);
		if (r < 0)
			break;
		o.dst = out.data;
		o.size = out.cap;
		o.pos = out.len;
		rc = ZSTD_compressStream2(zs.cctx, &o, &in, ZSTD_e_end);
		out.len = o.pos;
		if (ZSTD_isError(rc))
			r = -EIO;
	}
	ZSTD_freeCCtx(zs.cctx);
	if (r == 0)
		r = ocb_buf_reserve(&out, room);
	if (r < 0) {
		ocb_buf_release(&out);
		return r;
	}
	*plain_len = total;
	*z = (uint8_t *)ocb_buf_detach(&out, zlen);
	return 0;
}

/* ---- decoding ---------------------------------------------------------------- */

uint32_t ocb_catalog_entry_type(unsigned int mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return OCB_ENTRY_FILE;
	case S_IFDIR: return OCB_ENTRY_DIR;
	case S_IFLNK: return OCB_ENTRY_SYMLINK;
	case S_IFCHR: return OCB_ENTRY_CHR;
	case S_IFBLK: return OCB_ENTRY_BLK;
	case S_IFIFO: return OCB_ENTRY_FIFO;
	case S_IFSOCK: return OCB_ENTRY_SOCK;
	}
	return 0;
}

/* log why the catalog is refused (debug level) and refuse it */
#define BAD(...) do { ocb_debug("catalog: " __VA_ARGS__); return -EBADMSG; } while (0)

/* a string of the table: in range, NUL-terminated right at len */
static const char *str_at(const uint8_t *strtab, uint64_t strlen_, uint32_t off,
			  uint32_t len)
{
	if ((uint64_t)off + len >= strlen_ || strtab[(uint64_t)off + len] != 0)
		return NULL;
	if (memchr(strtab + off, 0, len))
		return NULL;
	return (const char *)strtab + off;
}

/* a backup name: a file name that carries a backup's time */
static int backup_name_ok(const char *s)
{
	int64_t t;
	int lab;

	return strlen(s) <= OCB_NAME_MAX && !strchr(s, '/') &&
	       ocb_backup_name_time(s, &t, &lab) == 0;
}

static int name_ok(const char *s, uint32_t len)
{
	if (len == 0 || len > OCB_NAME_MAX || memchr(s, '/', len))
		return 0;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	return 1;
}

/* where the decoder is in the blob, and what its header says */
struct catalog_reader {
	const uint8_t *blob;
	size_t len;
	uint32_t hdr_len, ent_len, ninfo;	/* by version */
	uint64_t strtab_len, xdata_len;
	uint32_t nbh, nref_frames;		/* format 3 */
	uint64_t hash_len;
	const uint8_t *strtab, *xdata;		/* in c->blob */
	const uint8_t *p;			/* the next record */
};

/*
 * Format 4: where the details lie and how long they are: exactly what the
 * counts say (64 bytes an entry, the block-hash records and their area),
 * sealed in no more than zstd's worst case and no less than a real one
 * (the bounds of the trailer's catalog), so that a reader fetches and
 * allocates no more than the index says before anything is opened.
 */
static int decode_head_v4(struct ocb_catalog *c, struct catalog_reader *rd)
{
	const uint8_t *blob = rd->blob;
	uint64_t p, sealed;

	c->details_off = ocb_get64(blob + 184);
	c->details_len = sealed = ocb_get64(blob + 192);
	c->details_plain = p = ocb_get64(blob + 200);
	c->details_nbh = rd->nbh;
	c->details_hash_len = rd->hash_len;
	if (p != (uint64_t)c->n * (32 + STAT_LEN) +
		 (uint64_t)rd->nbh * BH_LEN + rd->hash_len ||
	    p > OCB_CATALOG_MAX || sealed < OCB_TAG_LEN ||
	    sealed > OCB_SEALED_BOUND(p) || p > 1024 * sealed + (1 << 20) ||
	    c->details_off < OCB_HEADER_SIZE ||
	    c->details_off > UINT64_MAX - sealed)
		BAD("details out of range");
	c->details_pending = 1;
	return 0;
}

/* the magic (so the version), the counts, and sizes that add up */
static int decode_head(struct ocb_catalog *c, struct catalog_reader *rd)
{
	const uint8_t *blob = rd->blob;
	uint64_t need;

	rd->ent_len = ENT_LEN;
	rd->ninfo = NINFO;
	if (rd->len >= HDR_LEN && memcmp(blob, OCB_CATALOG_MAGIC, 8) == 0) {
		c->version = 4;
		rd->hdr_len = HDR_LEN;
		rd->ent_len = ENT_LEN_V4;
	} else if (rd->len >= HDR_LEN_V3 &&
		   memcmp(blob, OCB_CATALOG_MAGIC_V3, 8) == 0) {
		c->version = 3;
		rd->hdr_len = HDR_LEN_V3;
	} else if (rd->len >= HDR_LEN_V2 &&
		   memcmp(blob, OCB_CATALOG_MAGIC_V2, 8) == 0) {
		c->version = 2;
		rd->hdr_len = HDR_LEN_V2;
	} else if (rd->len >= HDR_LEN_V1 &&
		   memcmp(blob, OCB_CATALOG_MAGIC_V1, 8) == 0) {
		c->version = 1;
		rd->hdr_len = HDR_LEN_V1;
		rd->ent_len = ENT_LEN_V1;
		rd->ninfo = NINFO_V1;
	} else {
		BAD("bad magic");
	}
	if (c->version >= 2)
		c->warnings = ocb_get32(blob + 60);
	c->n = ocb_get32(blob + 8);
	c->nx = ocb_get32(blob + 12);
	c->nf = ocb_get32(blob + 16);
	c->nsrc = ocb_get32(blob + 20);
	rd->strtab_len = ocb_get64(blob + 24);
	rd->xdata_len = ocb_get64(blob + 32);
	c->stored_size = c->stream_size = ocb_get64(blob + 40);
	c->created = (int64_t)ocb_get64(blob + 48);
	c->frame_size = ocb_get32(blob + 56);
	if (c->n == 0 || c->n > OCB_CATALOG_MAX_ENTRIES ||
	    c->nx > OCB_CATALOG_MAX_ENTRIES || c->nf > OCB_CATALOG_MAX_ENTRIES ||
	    c->nsrc > 4096 || rd->strtab_len > rd->len ||
	    rd->xdata_len > rd->len || c->frame_size < 4096 ||
	    c->frame_size > OCB_FRAME_SIZE_MAX)
		BAD("counts out of range");
	need = rd->hdr_len + (uint64_t)c->n * rd->ent_len +
	       (uint64_t)c->nx * XAT_LEN + (uint64_t)c->nf * FRM_LEN +
	       (uint64_t)c->nsrc * SRC_LEN + rd->strtab_len + rd->xdata_len;
	if (c->version >= 3) {
		c->stream_size = ocb_get64(blob + 112);
		c->nrefs = ocb_get32(blob + 120);
		c->nseg = ocb_get32(blob + 124);
		rd->nbh = ocb_get32(blob + 128);
		rd->nref_frames = ocb_get32(blob + 132);
		rd->hash_len = ocb_get64(blob + 136);
		c->depth = ocb_get32(blob + 152);
		c->full_created = (int64_t)ocb_get64(blob + 160);
		memcpy(c->header_key, blob + 168, OCB_HDR_KEY_LEN);
		if (c->nrefs > OCB_CATALOG_MAX_REFS ||
		    c->nseg > SEG_MAX || rd->nbh > OCB_CATALOG_MAX_ENTRIES ||
		    rd->nref_frames > OCB_CATALOG_MAX_ENTRIES ||
		    rd->hash_len > OCB_CATALOG_MAX || rd->hash_len % 32 ||
		    ocb_get32(blob + 156) != 0)
			BAD("format 3 counts out of range");
		need += (uint64_t)rd->nref_frames * FRM_LEN +
			(uint64_t)c->nrefs * (REF_LEN + OCB_HEADER_SIZE) +
			(uint64_t)c->nseg * SEG_LEN;
		if (c->version == 3)
			need += (uint64_t)c->n * STAT_LEN +
				(uint64_t)rd->nbh * BH_LEN + rd->hash_len;
	}
	if (c->version >= 4 && decode_head_v4(c, rd) < 0)
		return -EBADMSG;
	if (need != rd->len)
		BAD("sizes do not add up (%llu != %zu)",
		    (unsigned long long)need, rd->len);
	c->nlf = (uint32_t)((c->stream_size + c->frame_size - 1) /
			    c->frame_size);
	if (c->version < 3)
		c->nlf = c->nf;
	else if (c->stream_size / c->frame_size >= OCB_CATALOG_MAX_ENTRIES)
		BAD("logical stream too large");
	rd->p = blob + rd->hdr_len;
	return 0;
}

/*
 * Only the strings and xattr values stay referenced once the records are
 * decoded into c->e: keep a copy of those (c->blob), so that an open
 * catalog costs its decoded entries plus its strings.
 */
static int keep_strings(struct ocb_catalog *c, struct catalog_reader *rd)
{
	uint64_t n = rd->strtab_len + rd->xdata_len;

	c->blob = malloc(n ? n : 1);
	if (!c->blob)
		return -ENOMEM;
	memcpy(c->blob, rd->blob + rd->len - n, n);
	rd->strtab = c->blob;
	rd->xdata = c->blob + rd->strtab_len;
	return 0;
}

static int decode_info(struct ocb_catalog *c, const struct catalog_reader *rd)
{
	const char **dst[NINFO] = { &c->name, &c->instance, &c->host,
				    &c->label, &c->key_provider, &c->prefix };
	uint32_t i;

	c->prefix = "";
	for (i = 0; i < rd->ninfo; i++) {
		*dst[i] = str_at(rd->strtab, rd->strtab_len,
				 ocb_get32(rd->blob + 64 + 8 * i),
				 ocb_get32(rd->blob + 68 + 8 * i));
		if (!*dst[i])
			BAD("info string %u", i);
	}
	c->base = "";
	if (c->version >= 3) {
		c->base = str_at(rd->strtab, rd->strtab_len,
				 ocb_get32(rd->blob + 144),
				 ocb_get32(rd->blob + 148));
		if (!c->base || (*c->base && !backup_name_ok(c->base)))
			BAD("base name");
	}
	return 0;
}

static int alloc_tables(struct ocb_catalog *c, const struct catalog_reader *rd)
{
	size_t nfr = (size_t)c->nf + rd->nref_frames;

	c->e = calloc(c->n, sizeof(*c->e));
	c->x = calloc(c->nx ? c->nx : 1, sizeof(*c->x));
	c->f = calloc(nfr ? nfr : 1, sizeof(*c->f));
	c->src = calloc(c->nsrc ? c->nsrc : 1, sizeof(*c->src));
	if (!c->e || !c->x || !c->f || !c->src)
		return -ENOMEM;
	if (c->version < 3)
		return 0;
	c->refs = calloc(c->nrefs ? c->nrefs : 1, sizeof(*c->refs));
	c->seg = calloc(c->nseg ? c->nseg : 1, sizeof(*c->seg));
	if (c->version == 3)
		c->st = calloc(c->n, sizeof(*c->st));
	return c->refs && c->seg && (c->st || c->version > 3) ? 0 : -ENOMEM;
}

/* entry i's record p into c->e[i]: its fields, its flags and its name */
static int read_entry(struct ocb_catalog *c, const struct catalog_reader *rd,
		      uint32_t i, const uint8_t *p)
{
	struct ocb_entry *e = &c->e[i];
	uint32_t name_off = ocb_get32(p + 72), name_len = ocb_get32(p + 76);

	e->parent = ocb_get32(p);
	e->type = ocb_get32(p + 4);
	e->mode = ocb_get32(p + 8);
	e->uid = ocb_get32(p + 12);
	e->gid = ocb_get32(p + 16);
	e->nlink = ocb_get32(p + 20);
	e->ino = ocb_get32(p + 24);
	e->first_child = ocb_get32(p + 28);
	e->nchildren = ocb_get32(p + 32);
	e->xattr_first = ocb_get32(p + 36);
	e->nxattrs = ocb_get32(p + 40);
	e->mtime_nsec = ocb_get32(p + 44);
	e->mtime = (int64_t)ocb_get64(p + 48);
	e->size = ocb_get64(p + 56);
	e->data_off = ocb_get64(p + 64);
	memcpy(e->sha256, p + 88, 32);
	if (c->version >= 2) {
		e->flags = ocb_get32(p + 120);
		if (e->flags & ~OCB_ENTRY_FLAGS_KNOWN)
			BAD("entry %u: unknown flags", i);
	}
	e->name = str_at(rd->strtab, rd->strtab_len, name_off, name_len);
	if (!e->name)
		BAD("entry %u: name out of range", i);
	if (i == 0 ? name_len != 0 : !name_ok(e->name, name_len))
		BAD("entry %u: bad name", i);
	return 0;
}

/* entry i's type against its mode, link target (record p), size and
 * hardlink */
static int check_entry_kind(struct ocb_catalog *c,
			    const struct catalog_reader *rd, uint32_t i,
			    const uint8_t *p)
{
	static const uint32_t fmt[] = { 0, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR,
					S_IFBLK, S_IFIFO, S_IFSOCK };
	struct ocb_entry *e = &c->e[i];
	uint32_t toff = ocb_get32(p + 80), tlen = ocb_get32(p + 84);

	if (e->type < OCB_ENTRY_FILE || e->type > OCB_ENTRY_SOCK)
		BAD("entry %u: bad type", i);
	if (e->mtime_nsec >= 1000000000u)
		BAD("entry %u: bad mtime", i);
	/* the type bits of mode must agree with the type */
	if ((e->mode & S_IFMT) != fmt[e->type])
		BAD("entry %u: mode does not match type", i);
	if (e->type == OCB_ENTRY_SYMLINK) {
		if (toff == NO_TARGET || tlen == 0 || tlen > OCB_TARGET_MAX)
			BAD("entry %u: bad link target", i);
		e->target = str_at(rd->strtab, rd->strtab_len, toff, tlen);
		if (!e->target)
			BAD("entry %u: link target out of range", i);
		e->size = tlen;
	} else if (toff != NO_TARGET) {
		BAD("entry %u: target on a non-link", i);
	}
	if (e->type == OCB_ENTRY_FILE) {
		if (e->size > c->stream_size ||
		    e->data_off > c->stream_size - e->size)
			BAD("entry %u: data outside the stream", i);
		if (e->ino > i || (e->ino < i && c->e[e->ino].ino != e->ino))
			BAD("entry %u: bad hardlink", i);
		if (e->ino < i && (c->e[e->ino].type != OCB_ENTRY_FILE ||
				   c->e[e->ino].size != e->size ||
				   c->e[e->ino].data_off != e->data_off))
			BAD("entry %u: hardlink to a different file", i);
	} else if (e->ino != i || (e->type != OCB_ENTRY_SYMLINK && e->size)) {
		BAD("entry %u: size or ino on a non-file", i);
	}
	return 0;
}

/* entry i's children and xattrs in range, and its place among its
 * parent's children */
static int check_entry_place(const struct ocb_catalog *c, uint32_t i)
{
	const struct ocb_entry *e = &c->e[i], *pa;

	if (e->type == OCB_ENTRY_DIR) {
		if (e->nchildren && (e->first_child <= i ||
				     e->first_child > c->n ||
				     e->nchildren > c->n - e->first_child))
			BAD("entry %u: children out of range", i);
	} else if (e->nchildren || e->first_child) {
		BAD("entry %u: children on a non-directory", i);
	}
	if (e->xattr_first > c->nx || e->nxattrs > c->nx - e->xattr_first)
		BAD("entry %u: xattrs out of range", i);
	if (i == 0) {
		if (e->parent != 0 || e->type != OCB_ENTRY_DIR)
			BAD("root is not a directory");
		return 0;
	}
	if (e->parent >= i)
		BAD("entry %u: parent after child", i);
	pa = &c->e[e->parent];
	if (pa->type != OCB_ENTRY_DIR || i < pa->first_child ||
	    i >= pa->first_child + pa->nchildren)
		BAD("entry %u: not among its parent's children", i);
	if (i > pa->first_child && strcmp(c->e[i - 1].name, e->name) >= 0)
		BAD("entry %u: children not sorted", i);
	return 0;
}

/*
 * Every entry of a child range must name that directory as its parent,
 * so no entry is listed in two directories.  Linear: each entry passes
 * this check for one directory only (its parent), and the first entry
 * that fails ends the decoding.
 */
static int check_child_ranges(const struct ocb_catalog *c)
{
	uint32_t i, k;

	for (i = 0; i < c->n; i++) {
		const struct ocb_entry *e = &c->e[i];

		for (k = 0; k < e->nchildren; k++)
			if (c->e[e->first_child + k].parent != i)
				BAD("entry %u: child range mismatch", i);
	}
	return 0;
}

/* entry i's record: in the blob (formats 1-3), or put together from its
 * transposed group at rd->p (format 4; its SHA-256 zero) into rec */
static const uint8_t *entry_at(const struct ocb_catalog *c,
			       const struct catalog_reader *rd, uint32_t i,
			       uint8_t rec[ENT_LEN])
{
	uint32_t j = i % GROUP, g = c->n - (i - j) < GROUP ?
				    c->n - (i - j) : GROUP;
	size_t k;

	if (c->version < 4)
		return rd->p;
	memset(rec, 0, ENT_LEN);
	for (k = 0; k < ENT_LEN_V4; k++)
		rec[v4_byte(k)] = rd->p[k * g + j];
	return rec;
}

static int decode_entries(struct ocb_catalog *c, struct catalog_reader *rd)
{
	uint8_t rec[ENT_LEN];
	uint32_t i;
	int r = 0;

	for (i = 0; i < c->n && r == 0; i++) {
		const uint8_t *p = entry_at(c, rd, i, rec);

		r = read_entry(c, rd, i, p);
		if (r == 0)
			r = check_entry_kind(c, rd, i, p);
		if (r == 0)
			r = check_entry_place(c, i);
		/* format 4: the group's bytes once its last entry is read */
		if (c->version < 4)
			rd->p += rd->ent_len;
		else if ((i + 1) % GROUP == 0 || i + 1 == c->n)
			rd->p += (size_t)rd->ent_len * (i % GROUP + 1);
	}
	return r < 0 ? r : check_child_ranges(c);
}

static int decode_xattrs(struct ocb_catalog *c, struct catalog_reader *rd)
{
	uint32_t i;

	for (i = 0; i < c->nx; i++, rd->p += XAT_LEN) {
		const uint8_t *p = rd->p;
		uint32_t noff = ocb_get32(p), nlen = ocb_get32(p + 4);
		uint64_t voff = ocb_get64(p + 8);
		uint32_t vlen = ocb_get32(p + 16);

		c->x[i].name = str_at(rd->strtab, rd->strtab_len, noff, nlen);
		if (!c->x[i].name || nlen == 0 || nlen > OCB_NAME_MAX ||
		    vlen > OCB_XATTR_VALUE_MAX || voff > rd->xdata_len ||
		    vlen > rd->xdata_len - voff)
			BAD("xattr %u out of range", i);
		c->x[i].value = rd->xdata + voff;
		c->x[i].len = vlen;
	}
	return 0;
}

/* frame records [first, first + n) follow one another from the header
 * on, each frame_size plain bytes but the last, and cover size bytes */
static int check_frames(const struct ocb_frame_rec *f, uint32_t n,
			uint32_t frame_size, uint64_t size)
{
	uint64_t expect_off = OCB_HEADER_SIZE, sum = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (f[i].off != expect_off || f[i].sealed_len < 16 ||
		    f[i].plain_len == 0 || f[i].plain_len > frame_size ||
		    (i + 1 < n && f[i].plain_len != frame_size) ||
		    f[i].sealed_len > f[i].plain_len + (f[i].plain_len >> 7) +
		    1024)
			BAD("frame %u out of range", i);
		expect_off += f[i].sealed_len;
		sum += f[i].plain_len;
	}
	if (sum != size)
		BAD("frames do not cover the stream");
	return 0;
}

/* this object's frames (checked), then the refs' (checked with them) */
static int decode_frames(struct ocb_catalog *c, struct catalog_reader *rd)
{
	uint64_t i, nfr = (uint64_t)c->nf + rd->nref_frames;

	for (i = 0; i < nfr; i++, rd->p += FRM_LEN) {
		struct ocb_frame_rec *f = &c->f[i];

		f->off = ocb_get64(rd->p);
		f->sealed_len = ocb_get32(rd->p + 8);
		f->plain_len = ocb_get32(rd->p + 12);
		f->flags = ocb_get32(rd->p + 16);
	}
	return check_frames(c->f, c->nf, c->frame_size, c->stored_size);
}

static int decode_sources(struct ocb_catalog *c, struct catalog_reader *rd)
{
	uint32_t i;

	for (i = 0; i < c->nsrc; i++, rd->p += SRC_LEN) {
		struct ocb_source_rec *src = &c->src[i];

		src->entry = ocb_get32(rd->p);
		src->path = str_at(rd->strtab, rd->strtab_len,
				   ocb_get32(rd->p + 4), ocb_get32(rd->p + 8));
		if (src->entry == 0 || src->entry >= c->n ||
		    c->e[src->entry].parent != 0 || !src->path ||
		    src->path[0] != '/')
			BAD("source %u out of range", i);
	}
	return 0;
}

/* format 3: the refs, each with its header copy and frames */
static int decode_refs(struct ocb_catalog *c, struct catalog_reader *rd)
{
	const uint8_t *hp = rd->p + (size_t)c->nrefs * REF_LEN;
	uint64_t first = c->nf;
	uint32_t i, k;

	for (i = 0; i < c->nrefs; i++, rd->p += REF_LEN) {
		struct ocb_ref_rec *x = &c->refs[i];
		struct ocb_header h;

		memcpy(x->id, rd->p, 16);
		x->created = (int64_t)ocb_get64(rd->p + 16);
		x->name = str_at(rd->strtab, rd->strtab_len,
				 ocb_get32(rd->p + 24), ocb_get32(rd->p + 28));
		x->frame_size = ocb_get32(rd->p + 32);
		x->first_frame = ocb_get32(rd->p + 36);
		x->nframes = ocb_get32(rd->p + 40);
		x->stream_size = ocb_get64(rd->p + 48);
		memcpy(x->header, hp + (size_t)i * OCB_HEADER_SIZE,
		       OCB_HEADER_SIZE);
		if (!x->name || !backup_name_ok(x->name))
			BAD("ref %u: bad name", i);
		if (x->frame_size < 4096 || x->frame_size > OCB_FRAME_SIZE_MAX ||
		    x->first_frame != first ||
		    x->nframes > c->nf + (uint64_t)rd->nref_frames - first ||
		    ocb_get32(rd->p + 44) || ocb_get64(rd->p + 56))
			BAD("ref %u: frames out of range", i);
		if (check_frames(c->f + first, x->nframes, x->frame_size,
				 x->stream_size) < 0)
			BAD("ref %u: frames do not cover its stream", i);
		first += x->nframes;
		if (ocb_header_decode(x->header, &h) < 0 ||
		    memcmp(h.backup_id, x->id, 16) ||
		    h.frame_size != x->frame_size || h.created != x->created)
			BAD("ref %u: header is not the ref's", i);
		for (k = 0; k < i; k++)
			if (!memcmp(c->refs[k].id, x->id, 16))
				BAD("ref %u: listed twice", i);
	}
	if (first != c->nf + (uint64_t)rd->nref_frames)
		BAD("ref frames do not add up");
	rd->p = hp + (size_t)c->nrefs * OCB_HEADER_SIZE;
	return 0;
}

/* format 3: segments in order, contiguous, covering the logical stream,
 * each inside its source's physical stream */
static int decode_segments(struct ocb_catalog *c, struct catalog_reader *rd)
{
	uint64_t at = 0;
	uint32_t i;

	for (i = 0; i < c->nseg; i++, rd->p += SEG_LEN) {
		struct ocb_segment *g = &c->seg[i];
		uint64_t psize;

		g->loff = ocb_get64(rd->p);
		g->len = ocb_get64(rd->p + 8);
		g->poff = ocb_get64(rd->p + 16);
		g->source = ocb_get32(rd->p + 24);
		if (g->loff != at || g->len == 0 ||
		    g->len > c->stream_size - at || g->source > c->nrefs ||
		    ocb_get32(rd->p + 28))
			BAD("segment %u out of order or range", i);
		psize = g->source ? c->refs[g->source - 1].stream_size :
			c->stored_size;
		if (g->poff > psize || g->len > psize - g->poff)
			BAD("segment %u outside its source", i);
		at += g->len;
	}
	if (at != c->stream_size)
		BAD("segments do not cover the stream");
	return 0;
}

/* format 3: entry stats; block-hash records (sorted by entry) and the
 * hash area, kept */
static int decode_stats(struct ocb_catalog *c, struct catalog_reader *rd)
{
	static const uint8_t zero_mac[OCB_HDR_MAC_LEN];
	uint64_t nhash = rd->hash_len / HASH_LEN;
	const uint8_t *recs;
	uint32_t i;

	for (i = 0; i < c->n; i++, rd->p += STAT_LEN) {
		c->st[i].ino = ocb_get64(rd->p);
		c->st[i].ctime = (int64_t)ocb_get64(rd->p + 8);
		c->st[i].ctime_nsec = ocb_get32(rd->p + 16);
		c->st[i].hdr_len = ocb_get32(rd->p + 20);
		memcpy(c->st[i].hdr_mac, rd->p + 24, OCB_HDR_MAC_LEN);
		if (c->st[i].ctime_nsec >= 1000000000u)
			BAD("entry %u: bad stat record", i);
		/* whole tar blocks before the entry's data; none: no hash */
		if (c->st[i].hdr_len % 512 || c->st[i].hdr_len > c->e[i].data_off ||
		    (!c->st[i].hdr_len && memcmp(c->st[i].hdr_mac,
						 zero_mac, OCB_HDR_MAC_LEN)))
			BAD("entry %u: bad header record", i);
	}
	recs = rd->p;
	rd->p += (size_t)rd->nbh * BH_LEN;
	c->hashes = malloc(rd->hash_len ? rd->hash_len : 1);
	c->bh = calloc(rd->nbh ? rd->nbh : 1, sizeof(*c->bh));
	if (!c->hashes || !c->bh)
		return -ENOMEM;
	memcpy(c->hashes, rd->p, rd->hash_len);
	for (i = 0; i < rd->nbh; i++, recs += BH_LEN) {
		uint32_t ent = ocb_get32(recs), bs = ocb_get32(recs + 4);
		uint64_t fh = ocb_get64(recs + 8);
		uint32_t cnt = ocb_get32(recs + 16);

		if (ent >= c->n || c->e[ent].type != OCB_ENTRY_FILE ||
		    (i && ent <= c->bh[i - 1].entry) ||
		    bs < 4096 || bs > OCB_FRAME_SIZE_MAX || (bs & (bs - 1)) ||
		    cnt != (c->e[ent].size + bs - 1) / bs || fh > nhash ||
		    cnt > nhash - fh || ocb_get32(recs + 20))
			BAD("block-hash record %u out of range", i);
		c->bh[i] = (struct ocb_block_hashes){
			.entry = ent, .block_size = bs, .count = cnt,
			.hash = c->hashes + fh * HASH_LEN };
	}
	c->nbh = rd->nbh;
	rd->p += rd->hash_len;
	return 0;
}

const struct ocb_block_hashes *ocb_catalog_blocks(const struct ocb_catalog *c,
						 uint32_t entry)
{
	uint32_t lo = 0, hi = c->nbh;

	while (lo < hi) {
		uint32_t m = lo + (hi - lo) / 2;

		if (c->bh[m].entry < entry)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < c->nbh && c->bh[lo].entry == entry ? &c->bh[lo] : NULL;
}

static int decode_v3(struct ocb_catalog *c, struct catalog_reader *rd)
{
	int r;

	if (c->version < 3)
		return 0;
	r = decode_refs(c, rd);
	if (r == 0)
		r = decode_segments(c, rd);
	if (r == 0 && c->version == 3)
		r = decode_stats(c, rd);
	return r;
}

int ocb_catalog_decode(uint8_t *blob, size_t len, struct ocb_catalog **out)
{
	struct catalog_reader rd = { .blob = blob, .len = len };
	struct ocb_catalog *c = calloc(1, sizeof(*c));
	int r = c ? 0 : -ENOMEM;

	if (r == 0)
		r = decode_head(c, &rd);
	if (r == 0)
		r = keep_strings(c, &rd);
	if (r == 0)
		r = decode_info(c, &rd);
	if (r == 0)
		r = alloc_tables(c, &rd);
	if (r == 0)
		r = decode_entries(c, &rd);
	if (r == 0)
		r = decode_xattrs(c, &rd);
	if (r == 0)
		r = decode_frames(c, &rd);
	if (r == 0)
		r = decode_sources(c, &rd);
	if (r == 0)
		r = decode_v3(c, &rd);
	free(blob);
	if (r < 0) {
		ocb_catalog_free(c);
		return r;
	}
	*out = c;
	return 0;
}

/* what the details (or format 3's catalog) decoded: entry stats, block
 * hashes, the hash area; c keeps the rest */
static void details_release(struct ocb_catalog *c)
{
	free(c->st);
	free(c->bh);
	free(c->hashes);
	c->st = NULL;
	c->bh = NULL;
	c->hashes = NULL;
	c->nbh = 0;
}

int ocb_catalog_decode_details(struct ocb_catalog *c, uint8_t *blob,
			       size_t len)
{
	struct catalog_reader rd = { .blob = blob, .len = len,
				     .nbh = c->details_nbh,
				     .hash_len = c->details_hash_len };
	uint32_t i;
	int r = 0;

	if (!c->details_pending || len != c->details_plain) {
		ocb_debug("catalog: details of the wrong length");
		r = -EBADMSG;
		goto out;
	}
	c->st = calloc(c->n, sizeof(*c->st));
	if (!c->st) {
		r = -ENOMEM;
		goto out;
	}
	rd.p = blob + (size_t)c->n * 32;
	r = decode_stats(c, &rd);
	if (r < 0) {
		details_release(c);
		goto out;
	}
	for (i = 0; i < c->n; i++)
		memcpy(c->e[i].sha256, blob + (size_t)i * 32, 32);
	c->details_pending = 0;
out:
	free(blob);
	return r;
}

void ocb_catalog_free(struct ocb_catalog *c)
{
	if (!c)
		return;
	free(c->e);
	free(c->x);
	free(c->f);
	free(c->src);
	free(c->refs);
	free(c->seg);
	details_release(c);
	free(c->blob);
	OPENSSL_cleanse(c->header_key, sizeof(c->header_key));
	free(c);
}
