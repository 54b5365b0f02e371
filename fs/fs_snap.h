/*
 * fs_snap.h - the snapshots/ control directory of the mount: `mkdir
 * snapshots/now` (or snapshots/<label>) starts a backup in the daemon, and
 * the entry's files tell how it goes.  No FUSE in here: fs_ns_snaps.c maps
 * these calls onto requests.
 *
 * At most one backup runs at a time (a second start gets -EBUSY).  Each
 * entry has an id that is never reused, so inode numbers built from it
 * stay valid; finished entries are forgotten after `keep` seconds, or by
 * fs_snap_remove().
 */
#ifndef OCB_FS_SNAP_H
#define OCB_FS_SNAP_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct ocb_store;
struct ocb_config;
struct ocb_keyprov;
struct ocb_buf;
struct ocb_group_settings;
struct fs_snap;

/* the files of an entry's directory, in listing order */
enum fs_snap_file {
	FS_SNAP_DIR = 0,	/* the entry's directory itself */
	FS_SNAP_STATUS,		/* running | cancelling | done | failed |
				 * cancelled | incomplete (a group backup
				 * some agent missed) */
	FS_SNAP_PROGRESS,	/* "key value" lines: entries, bytes, rate, ETA */
	FS_SNAP_LOG,		/* start, warnings, the result or the error */
	FS_SNAP_WAIT,		/* read blocks until the end, gives the status */
	FS_SNAP_BACKUP,		/* symlink to the new backup (a group's:
				 * to groups/<id>), once done */
	FS_SNAP_NFILES,
};

struct fs_snap_opts {
	struct ocb_store *store;	/* not owned; outlive the fs_snap */
	const struct ocb_config *cfg;
	struct ocb_keyprov *kp;
	const char *inst_name;		/* the instance's directory in the
					 * mount, for the backup symlink */
	const struct ocb_group_settings *gs;	/* role, members, timeout;
					 * may be NULL */
	unsigned keep;			/* seconds a finished entry stays */
	/* a new backup is stored: called from the backup's thread before
	 * the entry shows "done" (refresh the listing there) */
	void (*on_new_backup)(void *arg);
	void *on_new_backup_arg;
};

int fs_snap_new(const struct fs_snap_opts *o, struct fs_snap **out);
/* Cancels a running backup (nothing is left in the store) and waits. */
void fs_snap_free(struct fs_snap *s);

/*
 * Start a backup named "now" (no label) or by its label; "group-<id>"
 * starts a coordinated group backup: the request object for the fleet
 * (group.h), this agent's tagged backup, a wait of up to group.timeout
 * for the other agents' parts, then the manifest (status done, or
 * incomplete with the missing agents in the log).  0 and *id, or -EINVAL
 * (name not [A-Za-z0-9._-]{1,64}), -EEXIST (an entry has that name),
 * -EBUSY (a backup is running), -ENOMEM, -EAGAIN (no thread).
 */
int fs_snap_start(struct fs_snap *s, const char *name, uint32_t *id);
/*
 * Answer the group requests pending for this instance (unless
 * group.answerRequests is false): the first is started as entry
 * "group-<id>", this agent's tagged backup, acknowledged once stored.
 * Called at each refresh of the listing.  0 or a store error.
 */
int fs_snap_answer_requests(struct fs_snap *s);
/* Forget a finished entry; a running one is cancelled first (returns once
 * the backup has stopped and its upload is aborted).  0 or -ENOENT. */
int fs_snap_remove(struct fs_snap *s, const char *name);

/* Entry name -> id: 0 or -ENOENT. */
int fs_snap_lookup(struct fs_snap *s, const char *name, uint32_t *id);
/* Entries in id order through cb (stops when cb returns non-zero); off
 * counts entries. */
typedef int (*fs_snap_dir_fn)(void *arg, const char *name, uint32_t id,
			      off_t next);
void fs_snap_list(struct fs_snap *s, off_t off, fs_snap_dir_fn cb, void *arg);
/* Does file f of entry id exist now (the backup link only once done)?
 * 0 or -ENOENT; *started is the entry's start time. */
int fs_snap_stat(struct fs_snap *s, uint32_t id, enum fs_snap_file f,
		 time_t *started);
/* Name of file f, for lookups and listings. */
const char *fs_snap_file_name(enum fs_snap_file f);

/* Current content of a file of entry id (for the backup link: its target)
 * appended to out.  0 or -ENOENT. */
int fs_snap_render(struct fs_snap *s, uint32_t id, enum fs_snap_file f,
		   struct ocb_buf *out);

/*
 * Block until the backup of entry id has ended, then append its final
 * status line to out.  *interrupted is checked under the lock whenever the
 * waiter is woken (see fs_snap_interrupt).  0, -ENOENT, -EINTR, or -EBUSY
 * when too many waiters block already (each holds a FUSE thread).
 */
int fs_snap_wait(struct fs_snap *s, uint32_t id, const int *interrupted,
		 struct ocb_buf *out);
/* Set *flag and wake the waiters (from a FUSE interrupt callback). */
void fs_snap_interrupt(struct fs_snap *s, int *flag);

#endif
