/*
 * fs_tree.c - instances and backups as the mount shows them; lazily
 * opened archives with a bound on how many stay open unused.
 *
 * The listing is replaced wholesale under a write lock by the refresher;
 * readers take the read lock only for name lookups and listings, never
 * across I/O.  Each backup slot has its own mutex for opening its archive.
 */
#include "fs_tree.h"
#include "backup_open.h"
#include "buf.h"
#include "log.h"
#include "ocb_archive.h"
#include "parallel.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct inst {
	char *prefix;		/* "<root>/instance-x" */
	char *name;		/* shown name: "x" */
	int gone;
};

/* one backup of the tree, and its archive while open */
struct backup_slot {
	struct ocb_backup_ref ref;
	uint32_t inst;
	int gone;
	pthread_mutex_t lock;	/* opening/closing the archive */
	struct ocb_archive *a;
	uint64_t aid;
	unsigned users;		/* gets without puts */
	uint64_t cost;		/* catalog entries while open */
	uint64_t last_used;
	int bad;		/* a backup that cannot be opened (damaged,
				 * refused, GPG, sparse): this errno */
};

struct fs_tree {
	struct fs_tree_opts o;
	pthread_rwlock_t lock;	/* the arrays below (not the archives) */
	struct inst *inst;
	uint32_t ninst;
	struct backup_slot **b;	/* stable pointers: slots never move */
	uint32_t nb, capb;
	int64_t newest;

	pthread_mutex_t open_lock;	/* LRU bookkeeping of open archives */
	unsigned nopen;
	uint64_t open_entries;	/* sum of the open archives' costs */
	uint64_t clock;
	atomic_uint_fast64_t next_aid;
	atomic_uint_fast64_t opens, open_failures, refreshes, refresh_failures;
	atomic_uint_fast64_t legacy_built, legacy_bytes;
	/* bytes read from referenced objects by archives closed since */
	atomic_uint_fast64_t ref_bytes_closed;

	pthread_t thread;
	int running;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;
};

/* ---- inode numbers ----------------------------------------------------------- */

enum fs_node fs_tree_node(uint64_t ino, uint32_t *slot, uint32_t *entry)
{
	if (ino == FS_INO_ROOT)
		return FS_NODE_ROOT;
	if (ino == FS_INO_LATEST)
		return FS_NODE_LATEST;
	if (ino == FS_INO_CTL)
		return FS_NODE_CTL;
	if (ino == FS_INO_STATS)
		return FS_NODE_STATS;
	if (ino == FS_INO_SNAPS)
		return FS_NODE_SNAPS;
	if (ino == FS_INO_GROUPS)
		return FS_NODE_GROUPS;
	if (ino >= FS_INO_GROUP && ino < FS_INO_GROUP_END) {
		*slot = (uint32_t)((ino - FS_INO_GROUP) / 1024);
		*entry = (uint32_t)((ino - FS_INO_GROUP) % 1024);
		return FS_NODE_GROUP;
	}
	if (ino >= FS_INO_SNAP && ino < FS_INO_SNAP_END) {
		*slot = (uint32_t)((ino - FS_INO_SNAP) / 8);
		*entry = (uint32_t)((ino - FS_INO_SNAP) % 8);
		return FS_NODE_SNAP;
	}
	if (ino >= FS_INO_INST && ino < FS_INO_INST_END) {
		*slot = (uint32_t)((ino - FS_INO_INST) / 2);
		return (ino - FS_INO_INST) % 2 ? FS_NODE_INST_LATEST :
			FS_NODE_INST;
	}
	if (ino >> 32) {
		*slot = (uint32_t)(ino >> 32) - 1;
		*entry = (uint32_t)(ino & 0xffffffffu) - 1;
		return FS_NODE_BACKUP;
	}
	return FS_NODE_NONE;
}

uint64_t fs_tree_backup_ino(uint32_t slot, uint32_t entry)
{
	return ((uint64_t)slot + 1) << 32 | ((uint64_t)entry + 1);
}

uint64_t fs_tree_group_ino(uint32_t slot, uint32_t m)
{
	uint64_t ino = FS_INO_GROUP + 1024ull * slot + m;

	return m < 1024 && ino < FS_INO_GROUP_END ? ino : 0;
}

uint64_t fs_tree_snap_ino(uint32_t id, uint32_t file)
{
	uint64_t ino = FS_INO_SNAP + 8ull * id + file;

	return ino < FS_INO_SNAP_END ? ino : 0;
}

/* ---- listing ---------------------------------------------------------------- */

const char *fs_tree_inst_name(const char *prefix)
{
	const char *base = strrchr(prefix, '/');

	base = base ? base + 1 : prefix;
	if (!strncmp(base, "instance-", 9) && base[9])
		base += 9;
	return base;
}

/* find or add an instance slot (write lock held) */
static int inst_slot(struct fs_tree *t, const char *prefix, uint32_t *slot)
{
	struct inst *ni;
	uint32_t i;

	for (i = 0; i < t->ninst; i++)
		if (!strcmp(t->inst[i].prefix, prefix)) {
			t->inst[i].gone = 0;
			*slot = i;
			return 0;
		}
	if ((uint64_t)FS_INO_INST + 2ull * (t->ninst + 1) >= FS_INO_INST_END)
		return -ENOSPC;
	ni = realloc(t->inst, (t->ninst + 1) * sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	t->inst = ni;
	ni[t->ninst].prefix = strdup(prefix);
	ni[t->ninst].name = strdup(fs_tree_inst_name(prefix));
	ni[t->ninst].gone = 0;
	if (!ni[t->ninst].prefix || !ni[t->ninst].name)
		return -ENOMEM;
	*slot = t->ninst++;
	return 0;
}

static int backup_slot(struct fs_tree *t, uint32_t inst,
		       const struct ocb_backup_ref *ref)
{
	struct backup_slot *b;
	uint32_t i;

	for (i = 0; i < t->nb; i++)
		if (t->b[i]->inst == inst && !strcmp(t->b[i]->ref.key, ref->key)) {
			t->b[i]->gone = 0;
			return 0;
		}
	if (t->nb == t->capb) {
		struct backup_slot **nb;

		if (t->capb >= 0x7fffffffu / 2)
			return -ENOSPC;
		t->capb = t->capb ? t->capb * 2 : 64;
		nb = realloc(t->b, t->capb * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		t->b = nb;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ref = *ref;
	b->inst = inst;
	pthread_mutex_init(&b->lock, NULL);
	t->b[t->nb++] = b;
	return 0;
}

static void close_unused(struct fs_tree *t);
static void check_latest(struct fs_tree *t);
static int64_t configured_inst(struct fs_tree *t);

/*
 * A refresh's listings, made together: the instances and, at once, the
 * configured instance's backups (its prefix is known: opening its latest
 * backup need not wait for the instances listing); then the other
 * instances' backups, in parallel.
 */
struct listing {
	struct fs_tree *t;
	char **prefixes;
	size_t np;
	struct ocb_backup_ref **refs;	/* [i]: prefixes[i]'s backups */
	size_t *nrefs;
	int *rs;
	struct ocb_backup_ref *own;	/* the configured instance's */
	size_t nown;
	int r_inst, r_own;
};

static void listing_first(void *arg, size_t i)
{
	struct listing *l = arg;
	struct fs_tree *t = l->t;

	if (i == 0)
		l->r_inst = ocb_inventory_instances(t->o.store, t->o.root,
						    &l->prefixes, &l->np);
	else
		l->r_own = ocb_inventory_list(t->o.store, t->o.prefix, &l->own,
					      &l->nown);
}

static void listing_inst(void *arg, size_t i)
{
	struct listing *l = arg;
	struct fs_tree *t = l->t;

	if (t->o.prefix && !strcmp(l->prefixes[i], t->o.prefix) &&
	    l->r_own == 0) {
		l->refs[i] = l->own;	/* listed already */
		l->nrefs[i] = l->nown;
		l->own = NULL;
		return;
	}
	l->rs[i] = ocb_inventory_list(t->o.store, l->prefixes[i], &l->refs[i],
				      &l->nrefs[i]);
}

#define LISTING_WORKERS 8	/* instances listed at once */

/* see struct listing: 0, or the first failure */
static int listing_run(struct listing *l)
{
	size_t i;

	ocb_parallel_for(l->t->o.prefix ? 2 : 1, 2, listing_first, l, NULL);
	if (l->r_inst < 0)
		return l->r_inst;
	l->refs = calloc(l->np + 1, sizeof(*l->refs));
	l->nrefs = calloc(l->np + 1, sizeof(*l->nrefs));
	l->rs = calloc(l->np + 1, sizeof(*l->rs));
	if (!l->refs || !l->nrefs || !l->rs)
		return -ENOMEM;
	ocb_parallel_for(l->np, LISTING_WORKERS, listing_inst, l, NULL);
	for (i = 0; i < l->np; i++)
		if (l->rs[i] < 0)
			return l->rs[i];
	return 0;
}

static void listing_release(struct listing *l)
{
	size_t i;

	for (i = 0; l->refs && i < l->np; i++)
		free(l->refs[i]);
	free(l->refs);
	free(l->nrefs);
	free(l->rs);
	free(l->own);
	ocb_inventory_instances_free(l->prefixes, l->np);
}

/* after a listing: the configured instance's latest opened, and the
 * daemon's hook (groups/: another listing), together */
static void after_listing(void *arg, size_t i)
{
	struct fs_tree *t = arg;

	if (i == 0)
		check_latest(t);
	else if (t->o.on_refresh)
		t->o.on_refresh(t->o.on_refresh_arg);
}

int fs_tree_refresh(struct fs_tree *t)
{
	struct listing l = { .t = t };
	char **prefixes;
	struct ocb_backup_ref **refs;
	size_t *nrefs, np, i, j;
	int r;

	atomic_fetch_add(&t->refreshes, 1);
	/* all I/O first, without the lock */
	r = listing_run(&l);
	if (r < 0)
		goto out;
	prefixes = l.prefixes;
	np = l.np;
	refs = l.refs;
	nrefs = l.nrefs;

	pthread_rwlock_wrlock(&t->lock);
	for (i = 0; i < t->ninst; i++)
		t->inst[i].gone = 1;
	for (i = 0; i < t->nb; i++)
		t->b[i]->gone = 1;
	t->newest = 0;
	for (i = 0; i < np && r == 0; i++) {
		uint32_t slot;

		r = inst_slot(t, prefixes[i], &slot);
		for (j = 0; r == 0 && j < nrefs[i]; j++) {
			r = backup_slot(t, slot, &refs[i][j]);
			if (refs[i][j].mtime > t->newest)
				t->newest = refs[i][j].mtime;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	/* memory of backups that went away goes with them */
	close_unused(t);
	ocb_parallel_for(2, 2, after_listing, t, NULL);
out:
	if (r < 0) {
		atomic_fetch_add(&t->refresh_failures, 1);
		ocb_warn("listing %s failed: %s (keeping the previous listing)",
			 t->o.store->desc, ocb_store_strerror(r));
	}
	listing_release(&l);
	return r;
}

static void *refresher(void *arg)
{
	struct fs_tree *t = arg;

	pthread_mutex_lock(&t->stop_lock);
	while (!t->stopping) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += t->o.refresh;
		pthread_cond_timedwait(&t->stop_cond, &t->stop_lock, &ts);
		if (t->stopping)
			break;
		pthread_mutex_unlock(&t->stop_lock);
		fs_tree_refresh(t);
		pthread_mutex_lock(&t->stop_lock);
	}
	pthread_mutex_unlock(&t->stop_lock);
	return NULL;
}

int fs_tree_start(struct fs_tree *t)
{
	if (t->o.refresh == 0 || t->running)
		return 0;
	if (pthread_create(&t->thread, NULL, refresher, t) != 0)
		return -EAGAIN;
	t->running = 1;
	return 0;
}

void fs_tree_stop(struct fs_tree *t)
{
	if (!t->running)
		return;
	pthread_mutex_lock(&t->stop_lock);
	t->stopping = 1;
	pthread_cond_broadcast(&t->stop_cond);
	pthread_mutex_unlock(&t->stop_lock);
	pthread_join(t->thread, NULL);
	t->running = 0;
}

int fs_tree_new(const struct fs_tree_opts *o, struct fs_tree **out)
{
	struct fs_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->o = *o;
	if (!t->o.max_open)
		t->o.max_open = 16;
	if (!t->o.max_entries)
		t->o.max_entries = 1u << 20;
	pthread_rwlock_init(&t->lock, NULL);
	pthread_mutex_init(&t->open_lock, NULL);
	pthread_mutex_init(&t->stop_lock, NULL);
	pthread_cond_init(&t->stop_cond, NULL);
	atomic_init(&t->next_aid, 1);
	fs_tree_refresh(t);
	*out = t;
	return 0;
}

void fs_tree_free(struct fs_tree *t)
{
	uint32_t i;

	if (!t)
		return;
	fs_tree_stop(t);
	for (i = 0; i < t->nb; i++) {
		ocb_archive_free(t->b[i]->a);
		pthread_mutex_destroy(&t->b[i]->lock);
		free(t->b[i]);
	}
	free(t->b);
	for (i = 0; i < t->ninst; i++) {
		free(t->inst[i].prefix);
		free(t->inst[i].name);
	}
	free(t->inst);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->open_lock);
	free(t);
}

/* ---- lookups and listings -------------------------------------------------------- */

/* backups are immutable: a failure to open one that is not the network's
 * is remembered, so that each ls does not pay for it again */
static int open_failure_kept(int r)
{
	return r == -EBADMSG || r == -ENOKEY || r == -EOPNOTSUPP ||
	       r == -EPROTO;
}

/* the newest live backup of instance slot, or -1 (read lock held): one
 * that failed to open (damaged, forged) never is; an old-tool backup
 * (unauthenticated, its time only a name) only when there is no native one */
static int64_t latest_of(struct fs_tree *t, uint32_t inst)
{
	int64_t best = -1;
	uint32_t i;
	int native, best_native = 0;

	for (i = 0; i < t->nb; i++) {
		if (t->b[i]->inst != inst || t->b[i]->gone || t->b[i]->bad)
			continue;
		native = t->b[i]->ref.kind == OCB_BACKUP_NATIVE;
		if (best < 0 || native > best_native ||
		    (native == best_native &&
		     strcmp(t->b[i]->ref.name, t->b[best]->ref.name) > 0)) {
			best = i;
			best_native = native;
		}
	}
	return best;
}

/* `latest` of the configured instance is opened once it is new, so that
 * a backup that fails (damaged, or refused: see ocb_keyprov_unwrap) is
 * remembered as bad and `latest` moves to the newest one that opens (other
 * instances' `latest` moves once a use of it has failed) */
static void check_latest(struct fs_tree *t)
{
	struct ocb_archive *a;
	uint64_t aid;
	uint32_t tries;
	int64_t i, s;
	int r;

	if (!t->o.check_latest)
		return;
	for (tries = 0; tries < 64; tries++) {
		pthread_rwlock_rdlock(&t->lock);
		i = configured_inst(t);
		s = i >= 0 ? latest_of(t, (uint32_t)i) : -1;
		if (s >= 0 && t->b[s]->ref.kind != OCB_BACKUP_NATIVE)
			s = -1;	/* old backups are indexed on use */
		pthread_rwlock_unlock(&t->lock);
		if (s < 0)
			break;
		r = fs_tree_archive_get(t, (uint32_t)s, &a, &aid);
		if (r == 0)
			fs_tree_archive_put(t, (uint32_t)s);
		if (r == 0 || !open_failure_kept(r))
			break;
	}
}

static int64_t configured_inst(struct fs_tree *t)
{
	uint32_t i;

	for (i = 0; i < t->ninst; i++)
		if (!t->inst[i].gone && t->o.prefix &&
		    !strcmp(t->inst[i].prefix, t->o.prefix))
			return i;
	return -1;
}

int fs_tree_lookup_root(struct fs_tree *t, const char *name, uint64_t *ino)
{
	uint32_t i;
	int r = -ENOENT;

	if (!strcmp(name, ".ocbfs")) {
		*ino = FS_INO_CTL;
		return 0;
	}
	if (t->o.snapshots && !strcmp(name, "snapshots")) {
		*ino = FS_INO_SNAPS;
		return 0;
	}
	if (t->o.groups && !strcmp(name, "groups")) {
		*ino = FS_INO_GROUPS;
		return 0;
	}
	pthread_rwlock_rdlock(&t->lock);
	if (!strcmp(name, "latest")) {
		int64_t ci = configured_inst(t);

		if (ci >= 0 && latest_of(t, (uint32_t)ci) >= 0) {
			*ino = FS_INO_LATEST;
			r = 0;
		}
	} else {
		for (i = 0; i < t->ninst; i++)
			if (!t->inst[i].gone && !strcmp(t->inst[i].name, name)) {
				*ino = FS_INO_INST + 2ull * i;
				r = 0;
				break;
			}
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int fs_tree_lookup_inst(struct fs_tree *t, uint32_t slot, const char *name,
			uint64_t *ino)
{
	uint32_t i;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	if (slot >= t->ninst || t->inst[slot].gone) {
		r = -ENOENT;
	} else if (!strcmp(name, "latest")) {
		if (latest_of(t, slot) >= 0) {
			*ino = FS_INO_INST + 2ull * slot + 1;
			r = 0;
		}
	} else {
		for (i = 0; i < t->nb; i++)
			if (t->b[i]->inst == slot && !t->b[i]->gone &&
			    !strcmp(t->b[i]->ref.name, name)) {
				*ino = fs_tree_backup_ino(i, 0);
				r = 0;
				break;
			}
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int fs_tree_list_root(struct fs_tree *t, off_t off, fs_tree_dir_fn cb,
		      void *arg)
{
	off_t k = 0;
	uint32_t i;
	int64_t ci;

	pthread_rwlock_rdlock(&t->lock);
	ci = configured_inst(t);
	for (i = 0; i < t->ninst; i++) {
		if (t->inst[i].gone)
			continue;
		if (k++ >= off && cb(arg, t->inst[i].name, FS_INO_INST + 2ull * i,
				     S_IFDIR, k))
			goto out;
	}
	if (ci >= 0 && latest_of(t, (uint32_t)ci) >= 0 &&
	    k++ >= off && cb(arg, "latest", FS_INO_LATEST, S_IFLNK, k))
		goto out;
	if (k++ >= off && cb(arg, ".ocbfs", FS_INO_CTL, S_IFDIR, k))
		goto out;
	if (t->o.groups && k++ >= off && cb(arg, "groups", FS_INO_GROUPS,
					    S_IFDIR, k))
		goto out;
	if (t->o.snapshots && k++ >= off)
		cb(arg, "snapshots", FS_INO_SNAPS, S_IFDIR, k);
out:
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

int fs_tree_list_inst(struct fs_tree *t, uint32_t slot, off_t off,
		      fs_tree_dir_fn cb, void *arg)
{
	off_t k = 0;
	uint32_t i;
	int r = 0;

	pthread_rwlock_rdlock(&t->lock);
	if (slot >= t->ninst) {
		r = -ENOENT;
		goto out;
	}
	for (i = 0; i < t->nb; i++) {
		if (t->b[i]->inst != slot || t->b[i]->gone)
			continue;
		if (k++ >= off && cb(arg, t->b[i]->ref.name,
				     fs_tree_backup_ino(i, 0), S_IFDIR, k))
			goto out;
	}
	if (latest_of(t, slot) >= 0 && k++ >= off)
		cb(arg, "latest", FS_INO_INST + 2ull * slot + 1, S_IFLNK, k);
out:
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int fs_tree_readlink(struct fs_tree *t, uint64_t ino, char *buf, size_t size)
{
	uint32_t slot = 0, e;
	enum fs_node k = fs_tree_node(ino, &slot, &e);
	int64_t ci, b;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	if (k == FS_NODE_LATEST) {
		ci = configured_inst(t);
		if (ci >= 0 && latest_of(t, (uint32_t)ci) >= 0) {
			snprintf(buf, size, "%s/latest", t->inst[ci].name);
			r = 0;
		}
	} else if (k == FS_NODE_INST_LATEST && slot < t->ninst) {
		b = latest_of(t, slot);
		if (b >= 0) {
			snprintf(buf, size, "%s", t->b[b]->ref.name);
			r = 0;
		}
	} else {
		r = -EINVAL;
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int fs_tree_backup_ref(struct fs_tree *t, uint32_t slot,
		       struct ocb_backup_ref *out)
{
	int r = -ENOENT;

	pthread_rwlock_rdlock(&t->lock);
	if (slot < t->nb) {
		*out = t->b[slot]->ref;
		r = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int64_t fs_tree_mtime(struct fs_tree *t)
{
	int64_t m;

	pthread_rwlock_rdlock(&t->lock);
	m = t->newest;
	pthread_rwlock_unlock(&t->lock);
	return m;
}

void fs_tree_totals(struct fs_tree *t, uint64_t *backups, uint64_t *bytes)
{
	uint64_t n = 0, sum = 0;
	uint32_t i;

	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->nb; i++)
		if (!t->b[i]->gone) {
			n++;
			sum += t->b[i]->ref.size;
		}
	pthread_rwlock_unlock(&t->lock);
	*backups = n;
	*bytes = sum;
}

/* ---- archives ------------------------------------------------------------------- */

/* over the bound on open archives (open_lock held) */
static int over_bound(const struct fs_tree *t)
{
	return t->nopen > t->o.max_open || t->open_entries > t->o.max_entries;
}

/* close unused archives of backups no longer listed (deleted, pruned),
 * then unused ones beyond the bound, least recently used first; an
 * archive in use stays open even when it alone is over the bound */
static void close_unused(struct fs_tree *t)
{
	for (;;) {
		struct backup_slot *victim = NULL, *gone = NULL;
		uint32_t i, n;

		pthread_mutex_lock(&t->open_lock);
		pthread_rwlock_rdlock(&t->lock);
		n = t->nb;
		for (i = 0; i < n; i++) {
			struct backup_slot *b = t->b[i];

			if (!b->a || b->users != 0)
				continue;
			if (b->gone)
				gone = b;
			if (!victim || b->last_used < victim->last_used)
				victim = b;
		}
		pthread_rwlock_unlock(&t->lock);
		if (gone)
			victim = gone;
		else if (!over_bound(t))
			victim = NULL;
		if (!victim) {
			pthread_mutex_unlock(&t->open_lock);
			return;
		}
		/* lock order: slot lock, then open_lock */
		pthread_mutex_unlock(&t->open_lock);
		pthread_mutex_lock(&victim->lock);
		pthread_mutex_lock(&t->open_lock);
		if (victim->a && victim->users == 0) {
			if (t->o.on_close)
				t->o.on_close(t->o.on_close_arg, victim->aid);
			atomic_fetch_add(&t->ref_bytes_closed,
					 ocb_archive_ref_bytes_read(victim->a));
			ocb_archive_free(victim->a);
			victim->a = NULL;
			t->nopen--;
			t->open_entries -= victim->cost;
			victim->cost = 0;
		}
		pthread_mutex_unlock(&t->open_lock);
		pthread_mutex_unlock(&victim->lock);
	}
}

int fs_tree_archive_get(struct fs_tree *t, uint32_t slot,
			struct ocb_archive **a, uint64_t *aid)
{
	struct backup_slot *b;
	int r = 0;

	pthread_rwlock_rdlock(&t->lock);
	b = slot < t->nb ? t->b[slot] : NULL;
	pthread_rwlock_unlock(&t->lock);
	if (!b)
		return -ENOENT;
	pthread_mutex_lock(&b->lock);
	if (b->bad) {
		/* backups are immutable: a damaged old one is not streamed
		 * whole again at each access */
		r = b->bad;
	} else if (!b->a) {
		struct ocb_archive *na = NULL;

		/* b->a changes under both b->lock and open_lock: the LRU scan
		 * reads it under open_lock alone.  The first open of an old
		 * backup streams it once to index it (only this backup's
		 * lookups wait: the slot lock); the index is cached for the
		 * next mount */
		struct ocb_backup_open_opts oo = {
			.kp = t->o.kp,
			.old = { .index = 1, .cache_dir = t->o.cache_dir,
				 .bytes_indexed = &t->legacy_bytes },
			.old_store = t->o.legacy_store,
			.phys = t->o.phys,
			/* the SHA-256s only for user.ocb.sha256 */
			.flags = OCB_ARCHIVE_LAZY_DETAILS,
		};

		r = ocb_backup_open(t->o.store, b->ref.key, &oo, &na);
		if (r == 0 && ocb_archive_is_legacy(na))
			atomic_fetch_add(&t->legacy_built, 1);
		atomic_fetch_add(&t->opens, 1);
		if (open_failure_kept(r))
			b->bad = r;
		if (r < 0) {
			atomic_fetch_add(&t->open_failures, 1);
		} else {
			b->aid = atomic_fetch_add(&t->next_aid, 1);
			pthread_mutex_lock(&t->open_lock);
			b->a = na;
			b->cost = ocb_archive_count(na);
			t->nopen++;
			t->open_entries += b->cost;
			pthread_mutex_unlock(&t->open_lock);
		}
	}
	if (r == 0) {
		pthread_mutex_lock(&t->open_lock);
		b->users++;
		b->last_used = ++t->clock;
		pthread_mutex_unlock(&t->open_lock);
		*a = b->a;
		*aid = b->aid;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

void fs_tree_archive_put(struct fs_tree *t, uint32_t slot)
{
	struct backup_slot *b;
	int over;

	pthread_rwlock_rdlock(&t->lock);
	b = slot < t->nb ? t->b[slot] : NULL;
	pthread_rwlock_unlock(&t->lock);
	if (!b)
		return;
	pthread_mutex_lock(&t->open_lock);
	b->users--;
	over = over_bound(t);
	pthread_mutex_unlock(&t->open_lock);
	if (over)
		close_unused(t);
}

void fs_tree_stats(struct fs_tree *t, struct ocb_buf *out)
{
	uint32_t i, live = 0;
	uint64_t ref;

	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->nb; i++)
		live += !t->b[i]->gone;
	ocb_buf_printf(out, "backups %u\ninstances %u\n", live, t->ninst);
	pthread_rwlock_unlock(&t->lock);
	/* bytes read from referenced objects: of the archives closed, and
	 * of those open (b->a is read under open_lock alone, as the LRU
	 * scan does; lock order: open_lock, then the arrays) */
	pthread_mutex_lock(&t->open_lock);
	ref = atomic_load(&t->ref_bytes_closed);
	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->nb; i++)
		if (t->b[i]->a)
			ref += ocb_archive_ref_bytes_read(t->b[i]->a);
	pthread_rwlock_unlock(&t->lock);
	ocb_buf_printf(out, "archives_open %u\narchive_entries_open %" PRIu64
		       "\nref_bytes_read %" PRIu64 "\n", t->nopen,
		       t->open_entries, ref);
	pthread_mutex_unlock(&t->open_lock);
	ocb_buf_printf(out,
		       "archive_opens %" PRIuFAST64 "\n"
		       "archive_open_failures %" PRIuFAST64 "\n"
		       "listings %" PRIuFAST64 "\n"
		       "listing_failures %" PRIuFAST64 "\n"
		       "legacy_indexes_opened %" PRIuFAST64 "\n"
		       "legacy_bytes_indexed %" PRIuFAST64 "\n",
		       atomic_load(&t->opens), atomic_load(&t->open_failures),
		       atomic_load(&t->refreshes),
		       atomic_load(&t->refresh_failures),
		       atomic_load(&t->legacy_built),
		       atomic_load(&t->legacy_bytes));
}
