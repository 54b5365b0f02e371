/*
 * hdr_mac.h - the keyed hash a format 3 catalog records of each entry's
 * tar headers, so the next backup can tell that the headers it writes are
 * byte for byte the ones its base holds, and reference them instead of
 * storing them again (docs/FORMAT.md, "What a writer references").
 */
#ifndef OCB_HDR_MAC_H
#define OCB_HDR_MAC_H

#include "catalog.h"

#include <stddef.h>
#include <stdint.h>

struct ocb_hdr_mac;

/* A hasher under key (OCB_HDR_KEY_LEN bytes, copied).  0 or -ENOMEM. */
int ocb_hdr_mac_new(const uint8_t key[OCB_HDR_KEY_LEN],
		    struct ocb_hdr_mac **out);
void ocb_hdr_mac_free(struct ocb_hdr_mac *m);
/* out = HMAC-SHA256(key, p[0, n)), its first OCB_HDR_MAC_LEN bytes.
 * 0 or -EIO. */
int ocb_hdr_mac(struct ocb_hdr_mac *m, const void *p, size_t n,
		uint8_t out[OCB_HDR_MAC_LEN]);

#endif
