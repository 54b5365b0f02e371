/*
 * test_fs_ns.c - the routing of inodes to the mount's namespaces (each
 * kind of node to the one namespace that owns it, with the inode decoded
 * once), the shape of their op tables, and the open-file handles.
 */
#include "t.h"
#include "fs_fh.h"
#include "fs_ns.h"

#include <errno.h>
#include <string.h>

static const struct fs_ns_ops *route(uint64_t ino, struct fs_ns_node *n)
{
	return fs_ns_route(ino, n);
}

static void test_routes(void)
{
	struct fs_ns_node n;

	CHECK(route(FS_INO_ROOT, &n) == &fs_ns_root);
	CHECK(route(FS_INO_LATEST, &n) == &fs_ns_root);
	CHECK(route(FS_INO_CTL, &n) == &fs_ns_root);
	CHECK(route(FS_INO_STATS, &n) == &fs_ns_root);
	CHECK_INT(n.kind, FS_NODE_STATS);
	CHECK(n.ino == FS_INO_STATS);
	CHECK(route(FS_INO_INST + 6, &n) == &fs_ns_backup);
	CHECK(n.kind == FS_NODE_INST && n.slot == 3);
	CHECK(route(FS_INO_INST + 7, &n) == &fs_ns_backup);
	CHECK_INT(n.kind, FS_NODE_INST_LATEST);
	CHECK(route(fs_tree_backup_ino(5, 9), &n) == &fs_ns_backup);
	CHECK(n.kind == FS_NODE_BACKUP && n.slot == 5 && n.entry == 9);
	CHECK(route(FS_INO_SNAPS, &n) == &fs_ns_snaps);
	CHECK(route(fs_tree_snap_ino(7, 3), &n) == &fs_ns_snaps);
	CHECK(n.kind == FS_NODE_SNAP && n.slot == 7 && n.entry == 3);
	CHECK(route(FS_INO_GROUPS, &n) == &fs_ns_groups);
	CHECK(route(fs_tree_group_ino(9, 2), &n) == &fs_ns_groups);
	CHECK(n.kind == FS_NODE_GROUP && n.slot == 9 && n.entry == 2);
}

/* an inode of no namespace: every op left to the router's answer */
static void test_no_namespace(void)
{
	const struct fs_ns_ops *ns;
	struct fs_ns_node n;
	struct stat st;
	double ttl = 0;

	ns = route(7, &n);
	CHECK_INT(n.kind, FS_NODE_NONE);
	CHECK(ns && !ns->lookup && !ns->getattr && !ns->readlink &&
	      !ns->readdir && !ns->open && !ns->read && !ns->opendir &&
	      !ns->getxattr && !ns->listxattr && !ns->mkdir && !ns->rmdir);
	CHECK_INT(fs_ns_attr(NULL, 7, &st, &ttl), -ENOENT);
	CHECK(ttl == FS_NS_TTL_LISTING);
	CHECK(route(0, &n) == ns);
}

/* what each namespace implements: every one that opens files reads
 * them; only snapshots/ takes mkdir and rmdir; only backups have
 * extended attributes and keep directories in the kernel */
static void test_tables(void)
{
	const struct fs_ns_ops *all[] = {
		&fs_ns_root, &fs_ns_backup, &fs_ns_snaps, &fs_ns_groups,
	};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		CHECK(all[i]->name && all[i]->lookup && all[i]->getattr &&
		      all[i]->readdir && all[i]->readlink);
		CHECK(!all[i]->open == !all[i]->read);
		CHECK(!all[i]->mkdir == (all[i] != &fs_ns_snaps));
		CHECK(!all[i]->rmdir == (all[i] != &fs_ns_snaps));
		CHECK(!all[i]->getxattr == (all[i] != &fs_ns_backup));
		CHECK(!all[i]->opendir == (all[i] != &fs_ns_backup));
	}
}

/* text handles: an empty capped buffer; the open list frees what the
 * kernel never released */
static void test_handles(void)
{
	struct fs_ctx c;
	struct fs_fh *a, *b, *d;

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.fh_lock, NULL);
	a = fs_fh_new(FS_FH_TEXT);
	b = fs_fh_new(FS_FH_SNAP_FILE);
	d = fs_fh_new(FS_FH_SNAP_WAIT);
	CHECK(a && b && d);
	CHECK_INT(a->kind, FS_FH_TEXT);
	CHECK(a->u.text.buf.len == 0 && a->u.text.buf.max == 1 << 20);
	CHECK_INT(ocb_buf_append(&b->u.text.buf, "running\n", 8), 0);
	fs_fh_track(&c, a);
	fs_fh_track(&c, b);
	fs_fh_track(&c, d);
	fs_fh_untrack(&c, b);	/* released: out of the list */
	fs_fh_free(&c, b);
	CHECK(c.open_fh == d && d->next == a && a->prev == d && !a->next);
	fs_fh_free_all(&c);
	CHECK(c.open_fh == NULL);
	pthread_mutex_destroy(&c.fh_lock);
}

int main(void)
{
	test_routes();
	test_no_namespace();
	test_tables();
	test_handles();
	return T_DONE();
}
