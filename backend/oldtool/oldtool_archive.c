/*
 * oldtool_archive.c - old-tool .tar.gz backups: streaming, indexing, range reads.
 *
 * The object is streamed by one GET in a thread that writes into a pipe
 * (through `gpg --decrypt` for GPG backups); the reading side inflates it
 * (gzip_index.c, which also places the restart points) and hands the tar stream
 * to libarchive's tar reader, which names each member and its data offset.
 * Fetching and inflating so overlap on two cores, as `curl | gzip -d`.
 */
#include "oldtool_archive.h"
#include "buf.h"
#include "catalog.h"
#include "config.h"
#include "crypto.h"
#include "fileio.h"
#include "format.h"
#include "log.h"
#include "backup_name.h"
#include "gzip_index_i.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PIPE_CHUNK (1u << 20)
#define INDEX_FILE_MAX (1u << 30)
/* An index costs about 500 bytes of memory per entry while it is built.
 * A genuine old backup spends well over 16 compressed bytes per member (a
 * tar header of its own name and times); a hostile one of identical empty
 * members spends a few.  So entries are bounded by the object's size, and
 * absolutely: past that the backup is not browsed (it still restores,
 * streamed). */
#define INDEX_ENTRIES_BASE 10000u
#define INDEX_BYTES_PER_ENTRY 16u
#define INDEX_ENTRIES_MAX 2000000u
#define INDEX_MAGIC "OCBLIDX1"
/* the catalog's (virtual) frames are the restart span: a frame read
 * starts at most one deflate block before the frame */
#define FRAME OCB_ZRAN_SPAN_DEFAULT

struct ocb_oldtool {
	struct ocb_store *s;
	char *key;
	char etag[OCB_ETAG_MAX];
	int gpg;
	int may_gpg;
	struct ocb_gzip_index *z;
	struct ocb_oldtool_info info;
};

const struct ocb_oldtool_info *ocb_oldtool_info(const struct ocb_oldtool *old)
{
	return &old->info;
}

void ocb_oldtool_free(struct ocb_oldtool *old)
{
	if (!old)
		return;
	ocb_gzip_index_free(old->z);
	free(old->key);
	free(old);
}

static void log_bad(const struct ocb_oldtool *old, const char *what)
{
	char esc[512];

	ocb_err("old backup %s: %s",
		ocb_log_escape(esc, sizeof(esc), old->key), what);
}

/* ---- paths ------------------------------------------------------------ */

int ocb_oldtool_map_path(const char *name, const char *path, char *out,
			size_t size)
{
	size_t o = 0, nl = strlen(name);
	const char *p = path;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > size)
				return -EINVAL;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	/* the top directory "<name>" is the backup's root */
	if (!strncmp(out, name, nl) && (out[nl] == '\0' || out[nl] == '/'))
		memmove(out, out + nl + (out[nl] == '/'),
			o - nl - (out[nl] == '/') + 1);
	return 0;
}

/* ---- the byte source: one GET into a pipe, maybe through gpg -------------- */

struct feed {
	struct ocb_store *s;
	const char *key;
	const char *etag;
	int fd;			/* write end */
	int err;
	pthread_t th;
	int started;
};

struct source {
	struct feed f;
	int rfd;		/* read end */
	pid_t gpg;
	uint8_t *buf;
	int ended;
	int err;
	atomic_uint_fast64_t *count;
};

static int feed_sink(void *arg, const void *data, size_t len)
{
	struct feed *f = arg;

	return ocb_fileio_write_all(f->fd, data, len);
}

static void *feed_main(void *arg)
{
	struct feed *f = arg;
	struct ocb_get_req g = { .key = f->key, .len = OCB_TO_END,
				 .if_match = f->etag[0] ? f->etag : NULL };

	f->err = f->s->ops->get(f->s, &g, feed_sink, f, NULL);
	close(f->fd);
	return NULL;
}

/* start `gpg --batch --decrypt`: *in receives its stdin, *out its stdout */
static int gpg_start(int *in, int *out, pid_t *pid)
{
	int a[2], b[2];
	pid_t p;

	if (pipe2(a, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(b, O_CLOEXEC) < 0) {
		close(a[0]);
		close(a[1]);
		return -errno;
	}
	p = fork();
	if (p < 0) {
		int e = -errno;

		close(a[0]); close(a[1]); close(b[0]); close(b[1]);
		return e;
	}
	if (p == 0) {
		dup2(a[0], 0);
		dup2(b[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execlp("gpg", "gpg", "--batch", "--quiet", "--decrypt",
		       (char *)NULL);
		_exit(127);
	}
	close(a[0]);
	close(b[1]);
	*in = a[1];
	*out = b[0];
	*pid = p;
	return 0;
}

static int source_start(struct source *src, struct ocb_oldtool *old,
			atomic_uint_fast64_t *count)
{
	int p[2], r;

	memset(src, 0, sizeof(*src));
	src->rfd = -1;
	src->gpg = -1;
	src->count = count;
	src->buf = malloc(PIPE_CHUNK);
	if (!src->buf)
		return -ENOMEM;
	src->f.s = old->s;
	src->f.key = old->key;
	src->f.etag = old->etag;
	if (old->gpg) {
		r = gpg_start(&src->f.fd, &src->rfd, &src->gpg);
		if (r < 0)
			return r;
	} else {
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		src->rfd = p[0];
		src->f.fd = p[1];
		fcntl(p[1], F_SETPIPE_SZ, PIPE_CHUNK);
	}
	if (pthread_create(&src->f.th, NULL, feed_main, &src->f) != 0) {
		close(src->f.fd);
		return -EAGAIN;
	}
	src->f.started = 1;
	return 0;
}

/* stop (early or at the end): the feeder and gpg are reaped; returns the
 * first error of either */
static int source_stop(struct source *src)
{
	int r = 0, st;

	if (src->rfd >= 0)
		close(src->rfd);	/* a feeder blocked on write gets EPIPE */
	src->rfd = -1;
	if (src->f.started) {
		pthread_join(src->f.th, NULL);
		src->f.started = 0;
		if (src->f.err && src->f.err != -EPIPE)
			r = src->f.err;
	}
	if (src->gpg > 0) {
		while (waitpid(src->gpg, &st, 0) < 0 && errno == EINTR)
			;
		if (r == 0 && src->ended &&
		    (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			ocb_err("gpg could not decrypt the backup (exit %d): "
				"see its message above; the secret key must be "
				"in the keyring of this user (GNUPGHOME)",
				WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			r = -ENOKEY;
		}
		src->gpg = -1;
	}
	free(src->buf);
	src->buf = NULL;
	return r;
}

static ssize_t source_read(void *arg, const void **data)
{
	struct source *src = arg;
	ssize_t n;

	if (src->ended)
		return src->err;
	do
		n = read(src->rfd, src->buf, PIPE_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		/* the end, or the feeder (or gpg) failed: say which */
		src->ended = 1;
		src->err = source_stop(src);
		return src->err;
	}
	if (src->count)
		atomic_fetch_add(src->count, (uint64_t)n);
	*data = src->buf;
	return n;
}

/* ---- the index: a catalog built from the tar members -------------------- */

struct seen_path {		/* a path seen, for parents and hardlinks */
	char *path;
	uint32_t seq;
	int dir;
};

struct scan {
	struct ocb_gzip_index_build *b;
	struct ocb_catb *cb;
	struct seen_path *t;		/* open addressing, cap a power of 2 */
	size_t cap, n;
	uint64_t pos;		/* tar bytes handed to libarchive */
	int err;
	const char *name;
	int64_t created;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static struct seen_path *find(struct scan *sc, const char *path)
{
	size_t i = hash(path) & (sc->cap - 1);

	while (sc->t[i].path && strcmp(sc->t[i].path, path))
		i = (i + 1) & (sc->cap - 1);
	return &sc->t[i];
}

static int remember(struct scan *sc, const char *path, uint32_t seq, int dir)
{
	struct seen_path *e;

	if ((sc->n + 1) * 2 > sc->cap) {
		struct seen_path *prev = sc->t;
		size_t oc = sc->cap, i;

		sc->cap = oc ? oc * 2 : 1024;
		sc->t = calloc(sc->cap, sizeof(*sc->t));
		if (!sc->t)
			return -ENOMEM;
		for (i = 0; i < oc; i++)
			if (prev[i].path)
				*find(sc, prev[i].path) = prev[i];
		free(prev);
	}
	e = find(sc, path);
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->seq = seq;
	e->dir = dir;
	sc->n++;
	return 0;
}

static void scan_release(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->cap; i++)
		free(sc->t[i].path);
	free(sc->t);
	ocb_catb_free(sc->cb);
}

/* the seq of directory path, created (with its parents) if missing */
static int parent_seq(struct scan *sc, char *path, uint32_t *seq)
{
	struct ocb_catb_entry e = { 0 };
	struct seen_path *p;
	char *slash;
	uint32_t up;
	int r;

	if (!*path) {
		*seq = 0;
		return 0;
	}
	p = find(sc, path);
	if (p->path) {
		if (!p->dir)
			return -ENOTDIR;
		*seq = p->seq;
		return 0;
	}
	slash = strrchr(path, '/');
	if (slash) {
		*slash = '\0';
		r = parent_seq(sc, path, &up);
		*slash = '/';
		if (r < 0)
			return r;
	} else {
		up = 0;
	}
	e.parent = up;
	e.name = slash ? slash + 1 : path;
	e.type = OCB_ENTRY_DIR;
	e.mode = S_IFDIR | 0755;
	e.mtime = sc->created;
	e.link_to = OCB_NOLINK;
	r = ocb_catb_add(sc->cb, &e, seq);
	return r < 0 ? r : remember(sc, path, *seq, 1);
}

/* up to XATTRS_MAX xattrs of a member, as a catalog entry takes them */
#define XATTRS_MAX 64
struct member_xattrs {
	const char *name[XATTRS_MAX];
	const void *value[XATTRS_MAX];
	size_t len[XATTRS_MAX];
};

/* the catalog path of member ae into rel: 1, or 0 to skip the member
 * (warned), or -EOPNOTSUPP for a member that makes the backup unbrowsable */
static int member_path(const struct scan *sc, struct archive_entry *ae,
		       char *rel, size_t size)
{
	const char *path = archive_entry_pathname(ae);
	char esc[512];

	if (!path || ocb_oldtool_map_path(sc->name, path, rel, size) < 0) {
		ocb_warn("old backup %s: member %s skipped (unsafe or too long "
			 "a path)", sc->name, ocb_log_escape(esc, sizeof(esc),
			 path ? path : "(none)"));
		return 0;
	}
	if (archive_entry_sparse_count(ae) > 0) {
		ocb_err("old backup %s: %s is a GNU sparse member: this backup "
			"cannot be browsed; `ocb restore` restores it",
			sc->name, ocb_log_escape(esc, sizeof(esc), rel));
		return -EOPNOTSUPP;
	}
	return 1;
}

/* the parent directory of rel into e->parent (made if missing): 1, or 0
 * to skip the member (warned), or an error */
static int member_parent(struct scan *sc, const char *rel,
			 struct ocb_catb_entry *e)
{
	char up[4096], esc[512], *base;
	int r;

	snprintf(up, sizeof(up), "%s", rel);
	base = strrchr(up, '/');
	if (base)
		*base = '\0';
	else
		up[0] = '\0';
	r = parent_seq(sc, up, &e->parent);
	if (r < 0) {
		ocb_warn("old backup %s: %s skipped: its parent is not a "
			 "directory", sc->name, ocb_log_escape(esc, sizeof(esc),
			 rel));
		return r == -ENOTDIR ? 0 : r;
	}
	return 1;
}

/* the member's attributes into e; data_off is where its headers ended */
static void member_attrs(struct archive *ar, struct archive_entry *ae,
			 int hardlink, struct ocb_catb_entry *e)
{
	e->mode = (uint32_t)archive_entry_mode(ae);
	if (hardlink)
		e->mode = S_IFREG | (e->mode & 07777);
	e->uid = (uint32_t)archive_entry_uid(ae);
	e->gid = (uint32_t)archive_entry_gid(ae);
	e->mtime = archive_entry_mtime(ae);
	e->mtime_nsec = (uint32_t)archive_entry_mtime_nsec(ae);
	if (e->type == OCB_ENTRY_SYMLINK)
		e->target = archive_entry_symlink(ae) ?
			archive_entry_symlink(ae) : "";
	if (e->type == OCB_ENTRY_FILE && !hardlink) {
		e->size = (uint64_t)archive_entry_size(ae);
		/* the member's data starts where its headers ended */
		e->data_off = (uint64_t)archive_filter_bytes(ar, 0);
	}
}

/* the file a hardlink member hl (at rel) points to, into e->link_to: 1,
 * or 0 to skip the member (warned) */
static int member_link(struct scan *sc, const char *hl, const char *rel,
		       struct ocb_catb_entry *e)
{
	struct seen_path *p;
	char target[4096], esc[512];

	if (ocb_oldtool_map_path(sc->name, hl, target, sizeof(target)) < 0 ||
	    !(p = find(sc, target))->path || p->dir) {
		ocb_warn("old backup %s: hardlink %s to a missing file "
			 "skipped", sc->name,
			 ocb_log_escape(esc, sizeof(esc), rel));
		return 0;
	}
	e->link_to = p->seq;
	return 1;
}

/* the member's xattrs (those a catalog can hold) into x and e */
static void member_xattrs(struct archive_entry *ae, struct member_xattrs *x,
			  struct ocb_catb_entry *e)
{
	const char *xname;
	const void *xval;
	size_t xlen, nx = 0;

	archive_entry_xattr_reset(ae);
	while (nx < XATTRS_MAX &&
	       archive_entry_xattr_next(ae, &xname, &xval, &xlen) == ARCHIVE_OK)
		if (xname && *xname && strlen(xname) <= OCB_NAME_MAX &&
		    xlen <= OCB_XATTR_VALUE_MAX) {
			x->name[nx] = xname;
			x->value[nx] = xval;
			x->len[nx++] = xlen;
		}
	e->nxattrs = nx;
	e->xnames = x->name;
	e->xvalues = x->value;
	e->xlens = x->len;
}

/* one tar member into the catalog (or skipped with a warning) */
static int add_member(struct scan *sc, struct archive *ar,
		      struct archive_entry *ae)
{
	struct ocb_catb_entry e = { .link_to = OCB_NOLINK };
	struct member_xattrs x;
	const char *hl = archive_entry_hardlink(ae);
	char rel[4096], esc[512];
	uint32_t seq;
	int r;

	r = member_path(sc, ae, rel, sizeof(rel));
	if (r <= 0)
		return r;
	e.type = hl ? OCB_ENTRY_FILE :
		ocb_catalog_entry_type(archive_entry_filetype(ae));
	if (!e.type) {
		ocb_warn("old backup %s: member %s of unknown type skipped",
			 sc->name, ocb_log_escape(esc, sizeof(esc), rel));
		return 0;
	}
	if (!*rel) {		/* the top directory: the root's facts */
		if (e.type == OCB_ENTRY_DIR)
			ocb_catb_root(sc->cb, (uint32_t)archive_entry_mode(ae),
				      archive_entry_mtime(ae));
		return 0;
	}
	if (find(sc, rel)->path) {
		ocb_warn("old backup %s: %s appears twice; the first is shown",
			 sc->name, ocb_log_escape(esc, sizeof(esc), rel));
		return 0;
	}
	r = member_parent(sc, rel, &e);
	if (r <= 0)
		return r;
	e.name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	member_attrs(ar, ae, hl != NULL, &e);
	if (hl && member_link(sc, hl, rel, &e) == 0)
		return 0;
	member_xattrs(ae, &x, &e);
	r = ocb_catb_add(sc->cb, &e, &seq);
	if (r < 0)
		return r;
	return remember(sc, rel, seq, e.type == OCB_ENTRY_DIR);
}

static la_ssize_t ar_read(struct archive *ar, void *arg, const void **buf)
{
	struct scan *sc = arg;
	ssize_t n = ocb_gzip_index_build_read(sc->b, buf);

	if (n < 0) {
		sc->err = (int)n;
		archive_set_error(ar, EIO, "input failed");
		return -1;
	}
	sc->pos += (uint64_t)n;
	return n;
}

/* why the tar or gzip stream was refused: the gzip reader's error, else
 * libarchive's */
static void log_bad_stream(const struct ocb_oldtool *old,
			   const struct scan *sc, struct archive *ar)
{
	char msg[300];

	if (ocb_gzip_index_build_error(sc->b)[0])
		snprintf(msg, sizeof(msg), "%s: the backup is damaged",
			 ocb_gzip_index_build_error(sc->b));
	else
		snprintf(msg, sizeof(msg), "not a valid tar stream (%s): "
			 "the backup is damaged",
			 ar && archive_error_string(ar) ?
			 archive_error_string(ar) : "unreadable");
	log_bad(old, msg);
}

/* a scan reading src, its catalog holding the root */
static int scan_init(struct scan *sc, struct source *src,
		     const struct ocb_oldtool *old)
{
	int r;

	sc->t = calloc(1024, sizeof(*sc->t));
	if (!sc->t)
		return -ENOMEM;
	sc->cap = 1024;
	r = ocb_gzip_index_build_new(FRAME, source_read, src, &sc->b);
	if (r == 0)
		r = ocb_catb_new(&sc->cb);
	if (r == 0)
		ocb_catb_root(sc->cb, S_IFDIR | 0755, old->info.created);
	return r;
}

/* every member into the catalog (at most max_entries) */
static int scan_members(struct scan *sc, struct archive *ar,
			const struct ocb_oldtool *old, uint64_t max_entries,
			int *stream_bad)
{
	struct archive_entry *ae;
	int r, ar_r;

	while ((ar_r = archive_read_next_header(ar, &ae)) == ARCHIVE_OK ||
	       ar_r == ARCHIVE_WARN) {
		if (ocb_catb_nentries(sc->cb) >= max_entries) {
			ocb_err("old backup %s: more than %" PRIu64 " entries for "
				"%" PRIu64 " bytes: not browsed (a memory bound); "
				"`ocb restore` restores it", sc->name, max_entries,
				old->info.object_size);
			return -EOPNOTSUPP;
		}
		r = add_member(sc, ar, ae);
		if (r < 0)
			return r;
		if (archive_read_data_skip(ar) != ARCHIVE_OK)
			break;
	}
	if (ar_r != ARCHIVE_EOF) {	/* a bad header, or data not skipped */
		*stream_bad = 1;
		return sc->err ? sc->err : -EBADMSG;
	}
	return 0;
}

/* the tar stream through libarchive into the catalog, then the rest of the
 * gzip stream (its CRCs checked too); a damaged stream is logged */
static int scan_tar(struct scan *sc, const struct ocb_oldtool *old,
		    uint64_t max_entries)
{
	struct archive *ar = archive_read_new();
	const void *d;
	ssize_t n;
	int r, stream_bad = 0;

	if (!ar)
		return -ENOMEM;
	archive_read_support_format_tar(ar);
	archive_read_set_options(ar, "hdrcharset=BINARY");
	if (archive_read_open(ar, sc, NULL, ar_read, NULL) != ARCHIVE_OK) {
		r = sc->err ? sc->err : -EBADMSG;
		stream_bad = 1;
	} else {
		r = scan_members(sc, ar, old, max_entries, &stream_bad);
	}
	while (r == 0 && (n = ocb_gzip_index_build_read(sc->b, &d)) != 0) {
		if (n < 0) {
			r = (int)n;
			stream_bad = 1;
		} else {
			sc->pos += (uint64_t)n;
		}
	}
	if (stream_bad && r == -EBADMSG)
		log_bad_stream(old, sc, ar);
	archive_read_free(ar);
	return r;
}

/* the frame table describes virtual frames (FRAME-byte cuts of the tar
 * stream, stored as they are): the format's reader checks that frames
 * cover the stream, the legacy reader never reads them */
static int scan_add_frames(struct scan *sc)
{
	uint64_t nf = (sc->pos + FRAME - 1) / FRAME, i;
	int r = 0;

	for (i = 0; i < nf && r == 0; i++) {
		uint32_t len = (uint32_t)(i + 1 < nf ? FRAME :
					  sc->pos - i * FRAME);
		struct ocb_frame_rec f = { .off = OCB_HEADER_SIZE + i * FRAME,
					   .sealed_len = len,
					   .plain_len = len };

		r = ocb_catb_add_frame(sc->cb, &f);
	}
	return r;
}

/* one pass: the catalog blob and the restart points */
static int build_index(struct ocb_oldtool *old, const struct ocb_oldtool_opts *o,
		       uint8_t **blob, size_t *bloblen)
{
	struct scan sc = { .name = old->info.name, .created = old->info.created };
	struct source src;
	uint64_t max_entries;
	int r, e;

	max_entries = INDEX_ENTRIES_BASE +
		      old->info.object_size / INDEX_BYTES_PER_ENTRY;
	if (max_entries > INDEX_ENTRIES_MAX)
		max_entries = INDEX_ENTRIES_MAX;
	r = source_start(&src, old, o->bytes_indexed);
	if (r == 0)
		r = scan_init(&sc, &src, old);
	if (r == 0)
		r = scan_tar(&sc, old, max_entries);
	if (r == 0)
		r = ocb_gzip_index_build_finish(sc.b, &old->z);
	if (r == 0)
		r = scan_add_frames(&sc);
	if (r == 0) {
		struct ocb_catb_info ci = {
			.name = old->info.name, .instance = old->info.instance,
			.host = "", .label = "",
			.key_provider = old->info.encryption,
			.created = old->info.created, .frame_size = FRAME,
			.stream_size = sc.pos,
		};

		r = ocb_catb_encode(sc.cb, &ci, blob, bloblen);
	}
	e = src.buf || src.f.started ? source_stop(&src) : 0;
	if (r == 0 && e < 0)
		r = e;
	ocb_gzip_index_build_free(sc.b);
	scan_release(&sc);
	return r;
}

/* ---- the index on disk -------------------------------------------------- */

static int cache_paths(const char *dir, const struct ocb_oldtool *old,
		       char *keyf, char *idxf, size_t size)
{
	struct ocb_buf b;
	uint8_t h[32];
	char hex[65];

	ocb_buf_init(&b, 4096);
	if (ocb_buf_printf(&b, "%s\n%s", old->key, old->etag) < 0) {
		ocb_buf_release(&b);
		return -ENOMEM;
	}
	ocb_crypto_sha256(b.data, b.len, h);
	ocb_buf_release(&b);
	ocb_crypto_hex(h, 32, hex);
	if (snprintf(keyf, size, "%s/legacy/key", dir) >= (int)size ||
	    snprintf(idxf, size, "%s/legacy/%s.idx", dir, hex) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int read_file(const char *path, size_t max, struct ocb_buf *b)
{
	char chunk[65536];
	int fd, r = 0;
	ssize_t n;

	ocb_buf_init(b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if ((r = ocb_buf_append(b, chunk, (size_t)n)) < 0)
			break;
	if (n < 0)
		r = -errno;
	close(fd);
	return r;
}

static int write_file(const char *path, const void *p, size_t len, int excl)
{
	char tmp[4200];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, p, len) != (ssize_t)len || fsync(fd) < 0)
		r = -EIO;
	close(fd);
	/* the key must never be replaced: link() fails if it exists */
	if (r == 0 && (excl ? link(tmp, path) : rename(tmp, path)) < 0)
		r = -errno;
	unlink(tmp);
	return r;
}

/* the local cache key: created once, 0600 */
static int cache_key(const char *keyf, uint8_t *key)
{
	struct ocb_buf b;
	uint8_t fresh[OCB_KEY_LEN];
	int r;

	for (int tries = 0; tries < 2; tries++) {
		r = read_file(keyf, 64, &b);
		if (r == 0 && b.len == OCB_KEY_LEN)
			memcpy(key, b.data, OCB_KEY_LEN);
		else if (r == 0)
			r = -EBADMSG;
		ocb_buf_release_secret(&b);
		if (r != -ENOENT)
			return r;
		if ((r = ocb_crypto_random(fresh, sizeof(fresh))) < 0)
			return r;
		r = write_file(keyf, fresh, sizeof(fresh), 1);
		memset(fresh, 0, sizeof(fresh));
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return r;
}

static void cache_aad(const struct ocb_oldtool *old, struct ocb_buf *aad)
{
	ocb_buf_init(aad, 8192);
	ocb_buf_printf(aad, "%s\n%s\n%s", INDEX_MAGIC, old->key, old->etag);
}

/* file: magic, nonce, sealed(u64 bloblen, blob, zran), tag */
static int cache_load(const char *dir, struct ocb_oldtool *old, uint8_t **blob,
		      size_t *bloblen)
{
	char keyf[4096], idxf[4096];
	uint8_t *key = ocb_crypto_key_new();
	struct ocb_buf f, aad;
	uint8_t *plain = NULL;
	size_t plen;
	uint64_t bl;
	int r;

	if (!key)
		return -ENOMEM;
	r = cache_paths(dir, old, keyf, idxf, sizeof(idxf));
	if (r == 0)
		r = read_file(idxf, INDEX_FILE_MAX, &f);
	if (r < 0) {
		ocb_crypto_key_free(key);
		return r;
	}
	r = cache_key(keyf, key);
	cache_aad(old, &aad);
	if (r == 0 && (f.len < 8 + OCB_NONCE_LEN + OCB_TAG_LEN + 8 ||
		       memcmp(f.data, INDEX_MAGIC, 8)))
		r = -EBADMSG;
	if (r == 0) {
		plen = f.len - 8 - OCB_NONCE_LEN - OCB_TAG_LEN;
		plain = malloc(plen);
		r = plain ? ocb_crypto_open(key, (uint8_t *)f.data + 8,
					    aad.data, aad.len,
					    f.data + 8 + OCB_NONCE_LEN, plen,
					    plain) : -ENOMEM;
	}
	if (r == 0) {
		memcpy(&bl, plain, 8);
		if (bl > plen - 8)
			r = -EBADMSG;
	}
	if (r == 0)
		r = ocb_gzip_index_decode(plain + 8 + bl, plen - 8 - bl, &old->z);
	if (r == 0) {
		*blob = malloc(bl ? bl : 1);
		if (!*blob)
			r = -ENOMEM;
		else
			memcpy(*blob, plain + 8, bl);
		*bloblen = bl;
	}
	if (r < 0 && r != -ENOENT) {
		ocb_warn("old backup index %s: unusable (%s); building it again",
			 idxf, strerror(-r));
		unlink(idxf);
	}
	ocb_buf_release(&aad);
	ocb_buf_release(&f);
	free(plain);
	ocb_crypto_key_free(key);
	return r;
}

static void cache_store(const char *dir, struct ocb_oldtool *old,
			const uint8_t *blob, size_t bloblen)
{
	char keyf[4096], idxf[4096], sub[4100];
	uint8_t *key = ocb_crypto_key_new();
	struct ocb_buf p, aad;
	uint8_t *out = NULL;
	uint64_t bl = bloblen;
	int r;

	ocb_buf_init(&p, (size_t)INDEX_FILE_MAX);
	cache_aad(old, &aad);
	r = key ? cache_paths(dir, old, keyf, idxf, sizeof(idxf)) : -ENOMEM;
	if (r == 0) {
		snprintf(sub, sizeof(sub), "%s/legacy", dir);
		mkdir(dir, 0700);
		if (mkdir(sub, 0700) < 0 && errno != EEXIST)
			r = -errno;
	}
	if (r == 0)
		r = cache_key(keyf, key);
	if (r == 0 && (r = ocb_buf_append(&p, &bl, 8)) == 0 &&
	    (r = ocb_buf_append(&p, blob, bloblen)) == 0)
		r = ocb_gzip_index_encode(old->z, &p);
	if (r == 0) {
		size_t total = 8 + OCB_NONCE_LEN + p.len + OCB_TAG_LEN;

		out = malloc(total);
		r = out ? 0 : -ENOMEM;
		if (r == 0) {
			memcpy(out, INDEX_MAGIC, 8);
			r = ocb_crypto_random(out + 8, OCB_NONCE_LEN);
		}
		if (r == 0)
			r = ocb_crypto_seal(key, out + 8, aad.data, aad.len,
					    p.data, p.len,
					    out + 8 + OCB_NONCE_LEN);
		if (r == 0)
			r = write_file(idxf, out, total, 0);
	}
	if (r < 0)
		ocb_warn("old backup index not cached in %s: %s", dir,
			 strerror(-r));
	ocb_buf_release(&aad);
	ocb_buf_release(&p);
	free(out);
	ocb_crypto_key_free(key);
}

/* ---- open --------------------------------------------------------------- */

static int looks_gpg(struct ocb_oldtool *old)
{
	uint8_t b[2] = { 0 };
	struct ocb_buf buf;
	struct ocb_get_req g = { .key = old->key, .off = 0, .len = 2 };
	int r;

	ocb_buf_init(&buf, 2);
	r = old->s->ops->get(old->s, &g, (ocb_sink_fn)ocb_buf_append, &buf, NULL);
	if (r == 0 && buf.len == 2)
		memcpy(b, buf.data, 2);
	ocb_buf_release(&buf);
	if (r < 0)
		return r;
	if (b[0] == 0x1f && b[1] == 0x8b)
		return 0;
	/* an OpenPGP packet tag has its top bit set; or ASCII armour */
	return (b[0] & 0x80) || (b[0] == '-' && b[1] == '-');
}

/* facts from the object's name and HEAD: its name, ETag, size, instance
 * and time */
static int oldtool_read_head(struct ocb_oldtool *old, struct ocb_obj_head *h)
{
	const char *key = old->key, *base = strrchr(key, '/'), *m;
	size_t bl;
	int r, labelled;

	base = base ? base + 1 : key;
	bl = strlen(base);
	if (bl > 7 && !strcmp(base + bl - 7, ".tar.gz"))
		bl -= 7;
	snprintf(old->info.name, sizeof(old->info.name), "%.*s", (int)bl, base);
	r = old->s->ops->head(old->s, key, h);
	if (r < 0)
		return r;
	snprintf(old->etag, sizeof(old->etag), "%s", h->etag);
	old->info.object_size = h->size;
	old->info.created = h->mtime;
	/* the same instance id as a native backup's: the old tool's
	 * instance-id metadata, else the one its prefix names */
	if ((m = ocb_meta_get(&h->meta, "instance-id")) && *m)
		snprintf(old->info.instance, sizeof(old->info.instance), "%s", m);
	else
		ocb_config_prefix_instance(key, (size_t)(base - key) -
					   (base > key), old->info.instance,
					   sizeof(old->info.instance));
	if (ocb_backup_name_time(old->info.name, &old->info.created,
				 &labelled) < 0 &&
	    (m = ocb_meta_get(&h->meta, "timestamp"))) {
		struct tm tm = { 0 };

		if (strptime(m, "%Y-%m-%dT%H:%M:%S", &tm))
			old->info.created = timegm(&tm);
	}
	return 0;
}

/* GPG or gzip, as the bytes say, not the tag: the old tool tagged backups
 * "encryption-method: gpg" and uploaded them as plain gzip */
static int oldtool_detect_encryption(struct ocb_oldtool *old,
				     const struct ocb_obj_head *h)
{
	const char *m = ocb_meta_get(&h->meta, "encryption-method");
	char esc[512];
	int r;

	r = looks_gpg(old);
	if (r < 0)
		return r;
	old->gpg = r;
	if (!old->gpg && m && !strcmp(m, "gpg"))
		ocb_warn("old backup %s is tagged encryption-method gpg but is "
			 "plain gzip: the old tool never encrypted it",
			 ocb_log_escape(esc, sizeof(esc), old->key));
	snprintf(old->info.encryption, sizeof(old->info.encryption), "%s",
		 old->gpg ? "gpg" : m && !strcmp(m, "gpg") ? "none (tagged gpg)" :
		 (m && !strcmp(m, "kms")) ||
		 ocb_meta_get(&h->meta, "x-amz-server-side-encryption") ?
		 "sse-kms" : "none");
	return 0;
}

/* the index into *cat: loaded from the cache, else built (and cached) */
static int oldtool_index(struct ocb_oldtool *old,
			 const struct ocb_oldtool_opts *o,
			 struct ocb_catalog **cat)
{
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int r;

	/* a GPG backup's index lists it but cannot serve ranges: never
	 * cached */
	r = o->cache_dir && !old->gpg ?
		cache_load(o->cache_dir, old, &blob, &bloblen) : -ENOENT;
	old->info.from_cache = r == 0;
	if (r < 0) {
		r = build_index(old, o, &blob, &bloblen);
		if (r < 0) {
			free(blob);
			return r;
		}
		if (o->cache_dir && !old->gpg)
			cache_store(o->cache_dir, old, blob, bloblen);
	}
	r = ocb_catalog_decode(blob, bloblen, cat);
	if (r < 0) {
		log_bad(old, "its index does not decode");
		return r;
	}
	old->info.stream_size = ocb_gzip_index_out_size(old->z);
	old->info.npoints = ocb_gzip_index_npoints(old->z);
	if ((*cat)->stream_size != old->info.stream_size) {
		ocb_catalog_free(*cat);
		*cat = NULL;
		return -EBADMSG;
	}
	return 0;
}

int ocb_oldtool_open(struct ocb_store *s, const char *key,
		    const struct ocb_oldtool_opts *o, struct ocb_oldtool **out,
		    struct ocb_catalog **cat)
{
	struct ocb_oldtool *old = calloc(1, sizeof(*old));
	struct ocb_obj_head h = { 0 };
	char esc[512];
	int r;

	if (!old)
		return -ENOMEM;
	old->s = s;
	old->key = strdup(key);
	r = old->key ? oldtool_read_head(old, &h) : -ENOMEM;
	if (r == 0)
		r = oldtool_detect_encryption(old, &h);
	ocb_obj_head_release(&h);
	if (r == 0 && old->gpg && !o->gpg) {
		ocb_err("old backup %s is encrypted with GPG: it cannot be "
			"browsed; `ocb restore` restores it, decrypting it "
			"through the gpg program",
			ocb_log_escape(esc, sizeof(esc), key));
		r = -ENOKEY;
	}
	if (r == 0 && o->index)
		r = oldtool_index(old, o, cat);
	if (r < 0) {
		ocb_oldtool_free(old);
		return r;
	}
	old->may_gpg = o->gpg;
	*out = old;
	return 0;
}

/* ---- reading ---------------------------------------------------------- */

static int feed_reader(void *arg, const void *data, size_t len)
{
	return ocb_gzip_index_reader_feed(arg, data, len);
}

int ocb_oldtool_read(struct ocb_oldtool *old, uint64_t off, uint64_t len,
		    ocb_sink_fn sink, void *arg)
{
	struct ocb_gzip_index_reader *rd;
	uint64_t a, e;
	int r;

	if (old->gpg)
		return -ENOKEY;	/* offsets of the decrypted stream */
	if (!old->z)
		return -EINVAL;
	if (len == 0)
		return 0;
	r = ocb_gzip_index_reader_new(old->z, off, len, sink, arg, &rd, &a, &e);
	if (r < 0)
		return r;
	{
		struct ocb_get_req g = { .key = old->key, .off = a,
					 .len = e - a,
					 .if_match = old->etag[0] ? old->etag : NULL };

		r = old->s->ops->get(old->s, &g, feed_reader, rd, NULL);
	}
	if (r == 0)
		r = ocb_gzip_index_reader_done(rd);
	if (r == -EBADMSG)
		log_bad(old, "corrupt gzip data in a range read");
	else if (r == -ESTALE)
		log_bad(old, "the object changed since it was indexed");
	ocb_gzip_index_reader_free(rd);
	return r;
}

int ocb_oldtool_cat(struct ocb_oldtool *old, ocb_sink_fn sink, void *arg)
{
	struct ocb_gzip_index_build *b = NULL;
	struct source src;
	const void *d;
	ssize_t n = 0;
	int r;

	if (old->gpg && !old->may_gpg)
		return -ENOKEY;
	r = source_start(&src, old, NULL);
	if (r == 0)
		r = ocb_gzip_index_build_new(UINT64_MAX, source_read, &src, &b);
	while (r == 0 && (n = ocb_gzip_index_build_read(b, &d)) > 0)
		r = sink(arg, d, (size_t)n);
	if (r == 0 && n < 0) {
		r = (int)n;
		if (r == -EBADMSG) {
			char msg[300];

			snprintf(msg, sizeof(msg), "%s: the backup is damaged",
				 ocb_gzip_index_build_error(b));
			log_bad(old, msg);
		}
	}
	{
		int e = src.buf || src.f.started ? source_stop(&src) : 0;

		if (r == 0 && e < 0)
			r = e;
	}
	ocb_gzip_index_build_free(b);
	return r;
}
