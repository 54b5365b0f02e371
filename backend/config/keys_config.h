/*
 * keys_config.h - the key provider a configuration names.
 */
#ifndef OCB_KEYS_CONFIG_H
#define OCB_KEYS_CONFIG_H

#include "config.h"
#include "keys.h"

/*
 * none, keyfile (encryption.keyFile) or passphrase, read from the file
 * descriptor in $OCB_PASSPHRASE_FD, else encryption.passphraseFile (mode
 * 0600), else (if interactive) a prompt on /dev/tty.  Never from argv.
 * Returns 0, -ENOKEY (no passphrase available), -EACCES/-ENOENT/-EINVAL
 * (key file), -EOPNOTSUPP (kms in this build); the reason is logged.
 */
int ocb_keyprov_from_config(const struct ocb_config *cfg, int interactive,
			    struct ocb_keyprov **out);

#endif
