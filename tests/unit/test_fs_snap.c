/*
 * test_fs_snap.c - the snapshots/ state machine without FUSE: start, busy,
 * wait, interrupt, cancel by remove, expiry, files and names.  The store
 * is a local directory behind the fault layer, whose gate holds the
 * backup's upload so that "running" lasts exactly as long as the test
 * wants.
 */
#include "t.h"
#include "buf.h"
#include "config.h"
#include "fault_store.h"
#include "file_store.h"
#include "fs_snap.h"
#include "keys.h"
#include "keys_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64], cfgpath[128];
	struct ocb_config *cfg;
	struct ocb_keyprov *kp;
	struct ocb_store *fault;	/* the store, a fault layer */
	struct fs_snap *snap;
	int new_backups;
};

static void on_new(void *arg)
{
	((struct fx *)arg)->new_backups++;
}

static void fx_open(struct fx *x, unsigned keep)
{
	struct fs_snap_opts o = { 0 };
	struct ocb_store *fs = NULL;
	char path[160];
	FILE *f;

	memset(x, 0, sizeof(*x));
	snprintf(x->dir, sizeof(x->dir), "/tmp/ocb-snap-XXXXXX");
	CHECK(mkdtemp(x->dir) != NULL);
	snprintf(path, sizeof(path), "%s/src", x->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/src/f", x->dir);
	f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/store", x->dir);
	mkdir(path, 0755);
	snprintf(x->cfgpath, sizeof(x->cfgpath), "%s/config.json", x->dir);
	f = fopen(x->cfgpath, "w");
	fprintf(f, "{\"store\": \"file://%s/store\", \"instanceId\": \"t\", "
		"\"sources\": [\"%s/src\"], \"cache\": {\"dir\": \"\"}, "
		"\"encryption\": {\"keyProvider\": \"none\"}}\n", x->dir, x->dir);
	fclose(f);
	chmod(x->cfgpath, 0600);
	CHECK_INT(ocb_config_load(x->cfgpath, &x->cfg), 0);
	CHECK_INT(ocb_keyprov_from_config(x->cfg, 0, &x->kp), 0);
	CHECK_INT(ocb_file_store_new(path, &fs), 0);
	CHECK_INT(ocb_fault_store_new(fs, &x->fault), 0);
	o.store = x->fault;
	o.cfg = x->cfg;
	o.kp = x->kp;
	o.inst_name = "t";
	o.keep = keep;
	o.on_new_backup = on_new;
	o.on_new_backup_arg = x;
	CHECK_INT(fs_snap_new(&o, &x->snap), 0);
}

static void fx_close(struct fx *x)
{
	fs_snap_free(x->snap);
	ocb_store_free(x->fault);
	ocb_keyprov_free(x->kp);
	ocb_config_free(x->cfg);
	t_rm_rf(x->dir);
}

static char *render(struct fx *x, uint32_t id, enum fs_snap_file f,
		    char *out, size_t size)
{
	struct ocb_buf b;

	ocb_buf_init(&b, 1 << 16);
	out[0] = '\0';
	if (fs_snap_render(x->snap, id, f, &b) == 0)
		snprintf(out, size, "%.*s", (int)b.len, b.data ? b.data : "");
	ocb_buf_release(&b);
	return out;
}

static int wait_status(struct fx *x, uint32_t id, const int *intr, char *out,
		       size_t size)
{
	struct ocb_buf b;
	int r;

	ocb_buf_init(&b, 64);
	r = fs_snap_wait(x->snap, id, intr, &b);
	snprintf(out, size, "%.*s", (int)b.len, b.data ? b.data : "");
	ocb_buf_release(&b);
	return r;
}

/* ---- a waiter in a thread, interrupted from the test ------------------------- */

struct waiter {
	struct fx *x;
	uint32_t id;
	int flag;
	int r;
	char status[32];
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;

	w->r = wait_status(w->x, w->id, &w->flag, w->status, sizeof(w->status));
	return NULL;
}

struct remover {
	struct fx *x;
	int r;
};

static void *remove_main(void *arg)
{
	struct remover *rm = arg;

	rm->r = fs_snap_remove(rm->x->snap, "now");
	return NULL;
}

static int count_entries(void *arg, const char *name, uint32_t id, off_t next)
{
	(void)name;
	(void)id;
	(void)next;
	(*(int *)arg)++;
	return 0;
}

static void test_done_and_names(void)
{
	struct fx x;
	uint32_t id = 0, id2 = 0, look = 0;
	char s[512];
	time_t t;
	int intr = 0, n = 0;

	fx_open(&x, 3600);
	CHECK_INT(fs_snap_start(x.snap, "bad name", &id), -EINVAL);
	CHECK_INT(fs_snap_start(x.snap, "", &id), -EINVAL);
	CHECK_INT(fs_snap_start(x.snap, "now", &id), 0);
	CHECK_INT(wait_status(&x, id, &intr, s, sizeof(s)), 0);
	CHECK_STR(s, "done\n");
	CHECK_INT(x.new_backups, 1);
	CHECK_STR(render(&x, id, FS_SNAP_STATUS, s, sizeof(s)), "done\n");
	CHECK(!strncmp(render(&x, id, FS_SNAP_BACKUP, s, sizeof(s)),
		       "../../t/openclaw-aws-backup-", 28));
	CHECK_INT(fs_snap_stat(x.snap, id, FS_SNAP_BACKUP, &t), 0);
	CHECK(strstr(render(&x, id, FS_SNAP_LOG, s, sizeof(s)), "\ndone: ") != NULL);
	CHECK(strstr(render(&x, id, FS_SNAP_PROGRESS, s, sizeof(s)),
		     "entries_total 2\n") != NULL);
	/* the name is taken; a label is another entry */
	CHECK_INT(fs_snap_start(x.snap, "now", &id2), -EEXIST);
	CHECK_INT(fs_snap_start(x.snap, "before-upgrade", &id2), 0);
	CHECK(id2 > id);
	CHECK_INT(wait_status(&x, id2, &intr, s, sizeof(s)), 0);
	CHECK_STR(s, "done\n");
	CHECK(strstr(render(&x, id2, FS_SNAP_BACKUP, s, sizeof(s)),
		     "-before-upgrade") != NULL);
	fs_snap_list(x.snap, 0, count_entries, &n);
	CHECK_INT(n, 2);
	CHECK_INT(fs_snap_lookup(x.snap, "before-upgrade", &look), 0);
	CHECK_INT(look, id2);
	/* forgetting a finished entry */
	CHECK_INT(fs_snap_remove(x.snap, "now"), 0);
	CHECK_INT(fs_snap_lookup(x.snap, "now", &look), -ENOENT);
	CHECK_INT(fs_snap_remove(x.snap, "now"), -ENOENT);
	CHECK_INT(fs_snap_stat(x.snap, id, FS_SNAP_DIR, &t), -ENOENT);
	fx_close(&x);
}

static int count_keys(void *arg, const struct ocb_list_entry *e)
{
	if (!e->is_prefix && strstr(e->key, ".ocb"))
		(*(int *)arg)++;
	return 0;
}

static int backups_stored(struct fx *x)
{
	int n = 0;

	CHECK_INT(x->fault->ops->list(x->fault, "", NULL, NULL, count_keys, &n), 0);
	return n;
}

static void test_busy_interrupt_cancel(void)
{
	struct fx x;
	struct waiter w = { 0 };
	struct remover rm = { 0 };
	pthread_t wt, rt;
	uint32_t id = 0, id2 = 0;
	char s[512];
	time_t t;

	fx_open(&x, 3600);
	/* the backup's first listing (is its second taken?) waits */
	ocb_fault_hold(x.fault, OCB_FAULT_LIST, 1);
	CHECK_INT(fs_snap_start(x.snap, "now", &id), 0);
	CHECK_INT(ocb_fault_wait_held(x.fault, OCB_FAULT_LIST, 1), 0);
	CHECK_STR(render(&x, id, FS_SNAP_STATUS, s, sizeof(s)), "running\n");
	CHECK_INT(fs_snap_stat(x.snap, id, FS_SNAP_BACKUP, &t), -ENOENT);
	CHECK_INT(fs_snap_start(x.snap, "other", &id2), -EBUSY);
	/* a waiter, interrupted: EINTR, the backup goes on */
	w.x = &x;
	w.id = id;
	CHECK_INT(pthread_create(&wt, NULL, wait_main, &w), 0);
	fs_snap_interrupt(x.snap, &w.flag);
	pthread_join(wt, NULL);
	CHECK_INT(w.r, -EINTR);
	CHECK_STR(render(&x, id, FS_SNAP_STATUS, s, sizeof(s)), "running\n");
	/* remove cancels: status says so while the backup is held */
	rm.x = &x;
	CHECK_INT(pthread_create(&rt, NULL, remove_main, &rm), 0);
	while (strcmp(render(&x, id, FS_SNAP_STATUS, s, sizeof(s)),
		      "cancelling\n") != 0)
		usleep(1000);	/* polls the state; the gate keeps it there */
	ocb_fault_hold(x.fault, OCB_FAULT_LIST, 0);
	pthread_join(rt, NULL);
	CHECK_INT(rm.r, 0);
	CHECK_INT(fs_snap_stat(x.snap, id, FS_SNAP_DIR, &t), -ENOENT);
	CHECK_INT(x.new_backups, 0);
	CHECK_INT(backups_stored(&x), 0);
	/* the next one runs */
	w.flag = 0;
	CHECK_INT(fs_snap_start(x.snap, "now", &id2), 0);
	CHECK_INT(wait_status(&x, id2, &w.flag, s, sizeof(s)), 0);
	CHECK_STR(s, "done\n");
	CHECK_INT(backups_stored(&x), 1);
	fx_close(&x);
}

static void test_expiry_and_failure(void)
{
	struct fx x;
	uint32_t id = 0, look = 0;
	char s[512];
	int intr = 0, n = 0;

	fx_open(&x, 0);		/* finished entries go at once */
	ocb_fault_fail(x.fault, OCB_FAULT_PUT, 1, -EACCES);
	CHECK_INT(fs_snap_start(x.snap, "now", &id), 0);
	CHECK_INT(wait_status(&x, id, &intr, s, sizeof(s)), 0);
	CHECK_STR(s, "failed\n");
	CHECK_INT(x.new_backups, 0);
	CHECK_INT(fs_snap_lookup(x.snap, "now", &look), -ENOENT);
	fs_snap_list(x.snap, 0, count_entries, &n);
	CHECK_INT(n, 0);
	CHECK_INT(backups_stored(&x), 0);
	fx_close(&x);
}

int main(void)
{
	test_done_and_names();
	test_busy_interrupt_cancel();
	test_expiry_and_failure();
	return T_DONE();
}
