/*
 * restore_disk_i.h - the disk side of a restore: entries created relative to
 * one directory descriptor, never through a symlink.
 *
 * The destination is opened once (ocb_rdisk_open); every entry is then
 * created by openat/mkdirat/symlinkat/linkat/renameat, component by
 * component with O_NOFOLLOW, so no path component supplied by a backup
 * is ever followed as a symlink, and nothing on the way to the
 * destination (the user's own symlinks) is replaced or deleted.  Regular
 * files are written without a name (O_TMPFILE) and linked into place
 * only after their content was checked; symlinks and links (and files
 * where the file system has no O_TMPFILE) are created under a temporary
 * name (".ocb-part-N") in their directory and renamed into place only
 * when committed.  Directory modes and times are applied at the end
 * (ocb_rdisk_finish), deepest first.
 */
#ifndef OCB_RESTORE_DISK_I_H
#define OCB_RESTORE_DISK_I_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ocb_rdisk;

enum {
	OCB_RDISK_OWNER = 1,	/* restore uid/gid (running as root) */
	OCB_RDISK_SPECIAL = 2,	/* keep setuid/setgid bits, device nodes
				 * and xattrs outside user.* */
};

struct ocb_rdisk_meta {
	mode_t mode;		/* full st_mode */
	uid_t uid;
	gid_t gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	dev_t rdev;		/* device nodes */
	size_t nxattrs;
	const char *const *xnames;
	const void *const *xvalues;
	const size_t *xlens;
};

/*
 * The xattr arrays a meta points into, and who owns them: init sizes
 * them (n zeroed entries) for the caller to fill with borrowed names and
 * values; copy fills them with copies of another meta's; attach points a
 * meta at them; release frees the arrays (and the copies).  0 or -ENOMEM;
 * release also after a failure.
 */
struct ocb_rdisk_xattrs {
	const char **names;
	const void **values;
	size_t *lens;
	size_t n;
	int copies;		/* names and values are owned copies */
};
int ocb_rdisk_xattrs_init(struct ocb_rdisk_xattrs *x, size_t n);
int ocb_rdisk_xattrs_copy(struct ocb_rdisk_xattrs *x,
			  const struct ocb_rdisk_meta *from);
void ocb_rdisk_xattrs_attach(const struct ocb_rdisk_xattrs *x,
			     struct ocb_rdisk_meta *m);
void ocb_rdisk_xattrs_release(struct ocb_rdisk_xattrs *x);

/* Open dir (an existing directory; the user's path, symlinks in it are
 * followed once, here) as the root of a restore.  0 or negative errno. */
int ocb_rdisk_open(const char *dir, unsigned flags, struct ocb_rdisk **out);
/* Another handle on the root of d, for another thread: entries may be
 * created through d and its clones at once (not the same entry twice;
 * a hardlink only to an entry already committed).  Directory records go
 * to d, whose ocb_rdisk_finish covers them; free the clones first. */
int ocb_rdisk_clone(struct ocb_rdisk *d, struct ocb_rdisk **out);
/* (d, or a clone) */
void ocb_rdisk_free(struct ocb_rdisk *d);

/* The entries below take rel, a path relative to the root with no
 * empty, "." or ".." component and no leading '/' (else -EINVAL).
 * Missing parent directories are created (0700 until finish gives them
 * the default 0755, or what ocb_rdisk_mkdir later says).  -ELOOP: a
 * component on the way is a symlink (or not a directory). */

/* A directory (an existing one is kept); mode and time at finish. */
int ocb_rdisk_mkdir(struct ocb_rdisk *d, const char *rel,
		    const struct ocb_rdisk_meta *m);
/* A regular file that will get metadata m (NULL: not known yet): returns
 * a descriptor to write its content to (>= 0), or negative errno.  Then
 * ocb_rdisk_file_end, always.  Until then the file has no name (or a
 * temporary one where the file system cannot do without). */
int ocb_rdisk_file_begin(struct ocb_rdisk *d, const char *rel,
			 const struct ocb_rdisk_meta *m);
/* ok: apply m and put the file in place under rel; !ok: remove it.
 * Closes fd.  0 or negative errno. */
int ocb_rdisk_file_end(struct ocb_rdisk *d, int fd, const char *rel,
		       const struct ocb_rdisk_meta *m, int ok);
int ocb_rdisk_symlink(struct ocb_rdisk *d, const char *rel,
		      const char *target, const struct ocb_rdisk_meta *m);
/* rel as a hard link to the already restored entry to. */
int ocb_rdisk_hardlink(struct ocb_rdisk *d, const char *rel, const char *to);
/* A fifo or (with OCB_RDISK_SPECIAL only) a device node. */
int ocb_rdisk_special(struct ocb_rdisk *d, const char *rel,
		      const struct ocb_rdisk_meta *m);

/* What a restore keeps of a mode: without OCB_RDISK_SPECIAL, no setuid
 * or setgid bit; with it, only for files owned by whoever runs the
 * restore (or by the restored owner when ownership is restored). */
mode_t ocb_rdisk_mode(const struct ocb_rdisk *d,
		      const struct ocb_rdisk_meta *m);
/* Would the xattr name be restored? */
int ocb_rdisk_xattr_ok(const struct ocb_rdisk *d, const char *name);

/* Directory modes and times, deepest first.  0 or the first error. */
int ocb_rdisk_finish(struct ocb_rdisk *d);

#endif
