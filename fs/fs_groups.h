/*
 * fs_groups.h - groups/ in the mount: one directory per group backup
 * manifest ("<root>/.manifests/<id>.json"), holding manifest.json and one
 * symlink per agent to that agent's backup directory, so that a fleet's
 * state at one moment is browsed and diffed with ordinary tools.
 */
#ifndef OCB_FS_GROUPS_H
#define OCB_FS_GROUPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ocb_store;
struct ocb_buf;
struct fs_groups;

#define FS_GROUPS_MEMBERS_MAX 1000	/* agents shown per group */

/* store (not owned) and root as the tree's; no I/O until refreshed */
int fs_groups_new(struct ocb_store *s, const char *root, struct fs_groups **out);
void fs_groups_free(struct fs_groups *g);

/* List the manifests again, fetching new or changed ones (each capped at
 * 1 MiB; a manifest that does not parse is skipped with a warning). */
int fs_groups_refresh(struct fs_groups *g);

/* Names -> numbers: a group's slot (stable for the mount's life), and in
 * a group directory 1 for manifest.json, 2 + k for agent k. */
int fs_groups_lookup(struct fs_groups *g, const char *name, uint32_t *slot);
int fs_groups_lookup_in(struct fs_groups *g, uint32_t slot, const char *name,
			uint32_t *m);
/* Does (slot, m) exist now?  m 0 is the group's directory. */
int fs_groups_exists(struct fs_groups *g, uint32_t slot, uint32_t m);

typedef int (*fs_groups_fn)(void *arg, const char *name, uint32_t slot,
			    uint32_t m, off_t next);
void fs_groups_list(struct fs_groups *g, off_t off, fs_groups_fn cb, void *arg);
void fs_groups_list_in(struct fs_groups *g, uint32_t slot, off_t off,
		       fs_groups_fn cb, void *arg);

/* manifest.json's text, appended to out; an agent's link target. */
int fs_groups_manifest(struct fs_groups *g, uint32_t slot, struct ocb_buf *out);
int fs_groups_readlink(struct fs_groups *g, uint32_t slot, uint32_t m,
		       char *buf, size_t size);
/* The group id of slot and what its manifest says of agent m (2 + k):
 * its instance and backup name.  0 or -ENOENT. */
int fs_groups_member(struct fs_groups *g, uint32_t slot, uint32_t m,
		     char id[72], char instance[128], char backup[256]);

#endif
