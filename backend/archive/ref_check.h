/*
 * ref_check.h - is an object a format 3 catalog references still the
 * object it names?  The writer asks before it builds on a backup: a
 * backup built on a damaged chain would be damaged from the start.
 */
#ifndef OCB_REF_CHECK_H
#define OCB_REF_CHECK_H

#include "catalog.h"
#include "store.h"

#include <stdint.h>

/*
 * Ref k of catalog c, stored at "<prefix>/<name>.ocb": one range GET of
 * its first 512 bytes, which must equal the header the catalog copied,
 * and an object size that reaches the end of the ref's last frame.
 * Returns 0, -ENOENT when the object is gone, -EBADMSG when it is another
 * object (other header, or too short), or another store error.
 */
int ocb_ref_check(struct ocb_store *s, const char *prefix,
		  const struct ocb_catalog *c, uint32_t k);
/* The same for a ref record and its nframes frame records. */
int ocb_ref_check_rec(struct ocb_store *s, const char *prefix,
		      const struct ocb_ref_rec *ref,
		      const struct ocb_frame_rec *f);

#endif
