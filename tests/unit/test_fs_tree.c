/*
 * test_fs_tree.c - the mount's namespace over real backups in a
 * local-directory store: listings, lookups, `latest`, inode numbers that
 * stay put across refreshes, and the bound on open archives.
 */
#include "t.h"
#include "buf.h"
#include "crypto.h"
#include "file_store.h"
#include "fs_tree.h"
#include "keys.h"
#include "ocb_archive.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
	struct ocb_store *s;
	struct ocb_keyprov *kp;
	char store[64], src[64];
	unsigned closes;
};

static int fx_open(struct fx *x)
{
	char path[128], kpath[128];
	uint8_t key[32];
	int fd;

	memset(x, 0, sizeof(*x));
	snprintf(x->store, sizeof(x->store), "/tmp/ocb-tree-store-XXXXXX");
	snprintf(x->src, sizeof(x->src), "/tmp/ocb-tree-src-XXXXXX");
	if (!mkdtemp(x->src) || !mkdtemp(x->store))
		return -1;
	snprintf(path, sizeof(path), "%s/f", x->src);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	CHECK_INT(write(fd, "hello\n", 6), 6);
	close(fd);
	snprintf(kpath, sizeof(kpath), "%s.key", x->store);
	fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ocb_crypto_random(key, sizeof(key));
	CHECK_INT(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
	close(fd);
	if (ocb_keyprov_keyfile_new(kpath, &x->kp) < 0 ||
	    ocb_file_store_new(x->store, &x->s) < 0)
		return -1;
	unlink(kpath);
	return 0;
}

static void fx_close(struct fx *x)
{
	ocb_store_free(x->s);
	ocb_keyprov_free(x->kp);
	t_rm_rf(x->src);
	t_rm_rf(x->store);
}

static int backup(struct fx *x, const char *inst, const char *label,
		  struct ocb_backup_result *res)
{
	const char *sources[1] = { x->src };
	struct ocb_archive_write_opts o = { 0 };
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "top/instance-%s", inst);
	o.sources = sources;
	o.nsources = 1;
	o.prefix = prefix;
	o.instance = inst;
	o.label = label;
	o.kp = x->kp;
	return ocb_archive_write(x->s, &o, res);
}

static void on_close(void *arg, uint64_t aid)
{
	struct fx *x = arg;

	(void)aid;
	x->closes++;
}

/* a listing as "name:type name:type ..." */
struct listing {
	char text[1024];
	uint64_t ino[16];
	int n, stop_after;
};

static int collect(void *arg, const char *name, uint64_t ino, mode_t type,
		   off_t next)
{
	struct listing *l = arg;
	size_t len = strlen(l->text);

	(void)next;
	snprintf(l->text + len, sizeof(l->text) - len, "%s%s:%c",
		 len ? " " : "", name, S_ISDIR(type) ? 'd' : S_ISLNK(type) ?
		 'l' : '?');
	if (l->n < 16)
		l->ino[l->n] = ino;
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

static void test_inode_numbers(void)
{
	uint32_t slot = 99, entry = 99;

	CHECK_INT(fs_tree_node(FS_INO_ROOT, &slot, &entry), FS_NODE_ROOT);
	CHECK_INT(fs_tree_node(FS_INO_LATEST, &slot, &entry), FS_NODE_LATEST);
	CHECK_INT(fs_tree_node(FS_INO_CTL, &slot, &entry), FS_NODE_CTL);
	CHECK_INT(fs_tree_node(FS_INO_STATS, &slot, &entry), FS_NODE_STATS);
	CHECK_INT(fs_tree_node(FS_INO_INST + 6, &slot, &entry), FS_NODE_INST);
	CHECK_INT(slot, 3);
	CHECK_INT(fs_tree_node(FS_INO_INST + 7, &slot, &entry),
		  FS_NODE_INST_LATEST);
	CHECK_INT(slot, 3);
	CHECK_INT(fs_tree_node(fs_tree_backup_ino(5, 0), &slot, &entry),
		  FS_NODE_BACKUP);
	CHECK(slot == 5 && entry == 0);
	CHECK_INT(fs_tree_node(fs_tree_backup_ino(0, 0xfffffffeu), &slot,
			       &entry), FS_NODE_BACKUP);
	CHECK(slot == 0 && entry == 0xfffffffeu);
	/* no backup inode collides with the fixed ones or instances */
	CHECK(fs_tree_backup_ino(0, 0) >= FS_INO_INST_END);
	CHECK_INT(fs_tree_node(7, &slot, &entry), FS_NODE_NONE);
	/* snapshots/ and its entries: between instances and backups */
	CHECK_INT(fs_tree_node(FS_INO_SNAPS, &slot, &entry), FS_NODE_SNAPS);
	CHECK_INT(fs_tree_node(fs_tree_snap_ino(7, 3), &slot, &entry),
		  FS_NODE_SNAP);
	CHECK(slot == 7 && entry == 3);
	CHECK(fs_tree_snap_ino(0, 0) >= FS_INO_INST_END);
	CHECK(fs_tree_snap_ino((1u << 27) - 1, 7) != 0);
	CHECK(fs_tree_snap_ino((1u << 27) - 1, 7) < FS_INO_GROUP);
	CHECK(fs_tree_snap_ino(1u << 27, 0) == 0);
	/* groups/: after the snapshots, before the backups */
	CHECK_INT(fs_tree_node(FS_INO_GROUPS, &slot, &entry), FS_NODE_GROUPS);
	CHECK_INT(fs_tree_node(fs_tree_group_ino(9, 5), &slot, &entry),
		  FS_NODE_GROUP);
	CHECK(slot == 9 && entry == 5);
	CHECK(fs_tree_group_ino((1u << 20) - 1, 1023) < fs_tree_backup_ino(0, 0));
	CHECK(fs_tree_group_ino(1u << 20, 0) == 0);
	CHECK(fs_tree_group_ino(0, 1024) == 0);
}

static void test_tree(struct fx *x)
{
	struct ocb_backup_result a1, b1, a2;
	struct fs_tree_opts o = { 0 };
	struct fs_tree *t = NULL;
	struct listing l;
	uint64_t ino, inst_a, inst_b, bk_a1, bk_b1;
	uint32_t slot_a, slot_b, sa1, sb1, entry;
	struct ocb_archive *arc, *arc2;
	uint64_t aid, aid2;
	struct ocb_buf st;
	char target[300], path[600];

	CHECK_INT(backup(x, "a", "one", &a1), 0);
	CHECK_INT(backup(x, "b", "bee", &b1), 0);
	o.store = x->s;
	o.kp = x->kp;
	o.root = "top";
	o.prefix = "top/instance-a";
	o.refresh = 0;
	o.max_open = 1;
	o.on_close = on_close;
	o.on_close_arg = x;
	CHECK_INT(fs_tree_new(&o, &t), 0);

	/* the root: instances, latest, .ocbfs; offsets resume listings */
	memset(&l, 0, sizeof(l));
	CHECK_INT(fs_tree_list_root(t, 0, collect, &l), 0);
	CHECK_STR(l.text, "a:d b:d latest:l .ocbfs:d");
	memset(&l, 0, sizeof(l));
	CHECK_INT(fs_tree_list_root(t, 2, collect, &l), 0);
	CHECK_STR(l.text, "latest:l .ocbfs:d");
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	CHECK_INT(fs_tree_list_root(t, 1, collect, &l), 0);
	CHECK_STR(l.text, "b:d");

	CHECK_INT(fs_tree_lookup_root(t, "a", &inst_a), 0);
	CHECK_INT(fs_tree_lookup_root(t, "b", &inst_b), 0);
	CHECK(inst_a != inst_b);
	CHECK_INT(fs_tree_node(inst_a, &slot_a, &entry), FS_NODE_INST);
	CHECK_INT(fs_tree_node(inst_b, &slot_b, &entry), FS_NODE_INST);
	CHECK_INT(fs_tree_lookup_root(t, "c", &ino), -ENOENT);
	CHECK_INT(fs_tree_lookup_root(t, "instance-a", &ino), -ENOENT);
	CHECK_INT(fs_tree_lookup_root(t, ".ocbfs", &ino), 0);
	CHECK_INT(ino, FS_INO_CTL);
	CHECK_INT(fs_tree_lookup_root(t, "latest", &ino), 0);
	CHECK_INT(fs_tree_readlink(t, ino, target, sizeof(target)), 0);
	CHECK_STR(target, "a/latest");

	/* an instance: its backups and latest */
	memset(&l, 0, sizeof(l));
	CHECK_INT(fs_tree_list_inst(t, slot_a, 0, collect, &l), 0);
	snprintf(path, sizeof(path), "%s:d latest:l", a1.name);
	CHECK_STR(l.text, path);
	CHECK_INT(fs_tree_lookup_inst(t, slot_a, a1.name, &bk_a1), 0);
	CHECK_INT(fs_tree_lookup_inst(t, slot_b, b1.name, &bk_b1), 0);
	CHECK_INT(fs_tree_lookup_inst(t, slot_b, a1.name, &ino), -ENOENT);
	CHECK_INT(fs_tree_node(bk_a1, &sa1, &entry), FS_NODE_BACKUP);
	CHECK_INT(entry, 0);
	CHECK_INT(fs_tree_node(bk_b1, &sb1, &entry), FS_NODE_BACKUP);
	CHECK(sa1 != sb1);
	CHECK_INT(fs_tree_lookup_inst(t, slot_a, "latest", &ino), 0);
	CHECK_INT(fs_tree_readlink(t, ino, target, sizeof(target)), 0);
	CHECK_STR(target, a1.name);
	{
		struct ocb_backup_ref ref;

		CHECK_INT(fs_tree_backup_ref(t, sa1, &ref), 0);
		CHECK_STR(ref.name, a1.name);
		CHECK_STR(ref.key, a1.key);
		CHECK_INT(ref.kind, OCB_BACKUP_NATIVE);
		CHECK_INT(fs_tree_backup_ref(t, 1000, &ref), -ENOENT);
	}

	/* archives: opened on first use, at most max_open kept unused */
	CHECK_INT(fs_tree_archive_get(t, sa1, &arc, &aid), 0);
	CHECK(ocb_archive_count(arc) >= 2);
	CHECK_INT(fs_tree_archive_get(t, sa1, &arc2, &aid2), 0);
	CHECK(arc == arc2 && aid == aid2);	/* opened once */
	CHECK_INT(fs_tree_archive_get(t, sb1, &arc2, &aid2), 0);
	CHECK(aid != aid2);
	fs_tree_archive_put(t, sb1);	/* a1 in use: b1 is the one closed */
	CHECK_INT(x->closes, 1);
	fs_tree_archive_put(t, sa1);
	fs_tree_archive_put(t, sa1);	/* one open, within the bound */
	CHECK_INT(x->closes, 1);
	CHECK_INT(fs_tree_archive_get(t, sb1, &arc2, &aid2), 0);
	fs_tree_archive_put(t, sb1);	/* now a1 is the least recent */
	CHECK_INT(x->closes, 2);
	CHECK_INT(fs_tree_archive_get(t, 1000, &arc2, &aid2), -ENOENT);
	ocb_buf_init(&st, 1 << 16);
	fs_tree_stats(t, &st);
	CHECK(strstr(st.data, "backups 2\n") != NULL);
	CHECK(strstr(st.data, "instances 2\n") != NULL);
	CHECK(strstr(st.data, "archives_open 1\n") != NULL);
	CHECK(strstr(st.data, "ref_bytes_read 0\n") != NULL);
	CHECK(strstr(st.data, "archive_opens 3\n") != NULL);
	ocb_buf_release(&st);

	/* a new backup and a new instance appear with a refresh; what was
	 * there keeps its inode numbers; latest moves */
	CHECK_INT(backup(x, "a", "two", &a2), 0);
	CHECK_INT(backup(x, "c", "cee", &b1), 0);
	CHECK_INT(fs_tree_refresh(t), 0);
	CHECK_INT(fs_tree_lookup_root(t, "a", &ino), 0);
	CHECK_INT(ino, inst_a);
	CHECK_INT(fs_tree_lookup_root(t, "c", &ino), 0);
	CHECK_INT(fs_tree_lookup_inst(t, slot_a, a1.name, &ino), 0);
	CHECK_INT(ino, bk_a1);
	CHECK_INT(fs_tree_lookup_inst(t, slot_a, a2.name, &ino), 0);
	CHECK(ino != bk_a1 && ino != bk_b1);
	CHECK_INT(fs_tree_lookup_inst(t, slot_a, "latest", &ino), 0);
	CHECK_INT(fs_tree_readlink(t, ino, target, sizeof(target)), 0);
	CHECK_STR(target, a2.name);
	memset(&l, 0, sizeof(l));
	CHECK_INT(fs_tree_list_root(t, 0, collect, &l), 0);
	CHECK_STR(l.text, "a:d b:d c:d latest:l .ocbfs:d");
	{
		uint64_t n, bytes;

		fs_tree_totals(t, &n, &bytes);
		CHECK_INT(n, 4);
		CHECK(bytes >= a1.bytes_stored + a2.bytes_stored);
	}

	/* a deleted backup goes from the listing */
	CHECK_INT(x->s->ops->del(x->s, a1.key), 0);
	CHECK_INT(fs_tree_refresh(t), 0);
	CHECK_INT(fs_tree_lookup_inst(t, slot_a, a1.name, &ino), -ENOENT);
	memset(&l, 0, sizeof(l));
	CHECK_INT(fs_tree_list_inst(t, slot_a, 0, collect, &l), 0);
	snprintf(path, sizeof(path), "%s:d latest:l", a2.name);
	CHECK_STR(l.text, path);

	fs_tree_free(t);
	fs_tree_free(NULL);
}

/* a configured instance with no backups: no root `latest` */
static void test_no_latest(struct fx *x)
{
	struct fs_tree_opts o = { 0 };
	struct fs_tree *t = NULL;
	struct listing l;
	uint64_t ino;

	o.store = x->s;
	o.kp = x->kp;
	o.root = "top";
	o.prefix = "top/instance-zzz";
	CHECK_INT(fs_tree_new(&o, &t), 0);
	CHECK_INT(fs_tree_lookup_root(t, "latest", &ino), -ENOENT);
	CHECK_INT(fs_tree_readlink(t, FS_INO_LATEST, (char[64]){ 0 }, 64),
		  -ENOENT);
	memset(&l, 0, sizeof(l));
	CHECK_INT(fs_tree_list_root(t, 0, collect, &l), 0);
	CHECK(strstr(l.text, "latest") == NULL);
	CHECK(strstr(l.text, ".ocbfs:d") != NULL);
	fs_tree_free(t);
}

/* the memory bound: catalog entries of open archives in total */
static void test_entry_bound(struct fx *x)
{
	struct fs_tree_opts o = { 0 };
	struct fs_tree *t = NULL;
	struct ocb_archive *a;
	uint64_t aid, ino;
	uint32_t sb, sc, inst, e;
	struct ocb_buf st;
	char name[300];

	o.store = x->s;
	o.kp = x->kp;
	o.root = "top";
	o.max_open = 100;
	o.on_close = on_close;
	o.on_close_arg = x;
	o.max_entries = 1;		/* smaller than any catalog */
	x->closes = 0;
	CHECK_INT(fs_tree_new(&o, &t), 0);
	CHECK_INT(fs_tree_lookup_root(t, "b", &ino), 0);
	fs_tree_node(ino, &inst, &e);
	CHECK_INT(fs_tree_lookup_inst(t, inst, "latest", &ino), 0);
	CHECK_INT(fs_tree_readlink(t, ino, name, sizeof(name)), 0);
	CHECK_INT(fs_tree_lookup_inst(t, inst, name, &ino), 0);
	fs_tree_node(ino, &sb, &e);
	CHECK_INT(fs_tree_lookup_root(t, "c", &ino), 0);
	fs_tree_node(ino, &inst, &e);
	CHECK_INT(fs_tree_lookup_inst(t, inst, "latest", &ino), 0);
	CHECK_INT(fs_tree_readlink(t, ino, name, sizeof(name)), 0);
	CHECK_INT(fs_tree_lookup_inst(t, inst, name, &ino), 0);
	fs_tree_node(ino, &sc, &e);

	/* in use, an archive stays open over the bound */
	CHECK_INT(fs_tree_archive_get(t, sb, &a, &aid), 0);
	CHECK_INT(fs_tree_archive_get(t, sc, &a, &aid), 0);
	CHECK_INT(x->closes, 0);
	fs_tree_archive_put(t, sb);
	CHECK_INT(x->closes, 1);	/* b unused: closed */
	fs_tree_archive_put(t, sc);
	CHECK_INT(x->closes, 2);
	ocb_buf_init(&st, 1 << 16);
	fs_tree_stats(t, &st);
	CHECK(strstr(st.data, "archives_open 0\n") != NULL);
	CHECK(strstr(st.data, "archive_entries_open 0\n") != NULL);
	ocb_buf_release(&st);
	fs_tree_free(t);

	/* a bound that fits: both stay open */
	o.max_entries = 0;
	x->closes = 0;
	CHECK_INT(fs_tree_new(&o, &t), 0);
	CHECK_INT(fs_tree_archive_get(t, sb, &a, &aid), 0);
	fs_tree_archive_put(t, sb);
	CHECK_INT(fs_tree_archive_get(t, sc, &a, &aid), 0);
	fs_tree_archive_put(t, sc);
	CHECK_INT(x->closes, 0);
	ocb_buf_init(&st, 1 << 16);
	fs_tree_stats(t, &st);
	CHECK(strstr(st.data, "archives_open 2\n") != NULL);
	ocb_buf_release(&st);
	fs_tree_free(t);
}

/* many threads getting and putting archives over a tight bound while
 * listings are redone: every get sees a whole archive, nothing leaks */
struct hammer {
	struct fs_tree *t;
	uint32_t slots[4];
	int nslots;
	int bad;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	int i;

	for (i = 0; i < 300; i++) {
		uint32_t slot = h->slots[rand_r(&seed) % h->nslots];
		struct ocb_archive *a;
		uint64_t aid;
		uint32_t idx;

		if (fs_tree_archive_get(h->t, slot, &a, &aid) < 0) {
			__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (ocb_archive_count(a) < 2 || ocb_archive_lookup(a, 0,
		    strrchr(ocb_archive_entry(a, 1)->name, '/') ?
		    strrchr(ocb_archive_entry(a, 1)->name, '/') + 1 :
		    ocb_archive_entry(a, 1)->name, &idx) < 0)
			__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
		fs_tree_archive_put(h->t, slot);
	}
	return NULL;
}

static void *refresh_main(void *arg)
{
	struct hammer *h = arg;
	int i;

	for (i = 0; i < 20; i++)
		fs_tree_refresh(h->t);
	return NULL;
}

static void test_concurrent(struct fx *x)
{
	struct fs_tree_opts o = { 0 };
	struct hammer h = { 0 };
	pthread_t th[9];
	const char *names[] = { "a", "b", "c" };
	uint64_t ino;
	uint32_t inst, e;
	char name[300];
	int i;

	o.store = x->s;
	o.kp = x->kp;
	o.root = "top";
	o.max_open = 1;
	CHECK_INT(fs_tree_new(&o, &h.t), 0);
	for (i = 0; i < 3; i++) {
		CHECK_INT(fs_tree_lookup_root(h.t, names[i], &ino), 0);
		fs_tree_node(ino, &inst, &e);
		CHECK_INT(fs_tree_lookup_inst(h.t, inst, "latest", &ino), 0);
		CHECK_INT(fs_tree_readlink(h.t, ino, name, sizeof(name)), 0);
		CHECK_INT(fs_tree_lookup_inst(h.t, inst, name, &ino), 0);
		fs_tree_node(ino, &h.slots[h.nslots++], &e);
	}
	for (i = 0; i < 8; i++)
		CHECK_INT(pthread_create(&th[i], NULL, hammer_main, &h), 0);
	CHECK_INT(pthread_create(&th[8], NULL, refresh_main, &h), 0);
	for (i = 0; i < 9; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(h.bad, 0);
	fs_tree_free(h.t);
}

int main(void)
{
	struct fx x;

	test_inode_numbers();
	if (fx_open(&x) < 0) {
		fprintf(stderr, "fixture failed\n");
		return 1;
	}
	test_tree(&x);
	test_no_latest(&x);
	test_entry_bound(&x);
	test_concurrent(&x);
	fx_close(&x);
	return T_DONE();
}
