/*
 * keys_config.c - configuration → key provider, passphrase sources.
 */
#include "keys_config.h"
#include "creds.h"
#include "log.h"
#include "s3_url.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>

#define PASS_MAX 1024

static int read_pass_fd(int fd, char *buf, size_t size, size_t *len)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = n;
	return n ? 0 : -ENOKEY;
}

static int prompt_pass(char *buf, size_t size, size_t *len)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), r;

	if (fd < 0)
		return -ENOKEY;
	if (write(fd, "ocb passphrase: ", 16) < 0) {
		close(fd);
		return -EIO;
	}
	tcgetattr(fd, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	r = read_pass_fd(fd, buf, size, len);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0 && r == 0)
		r = -EIO;
	close(fd);
	return r;
}

static int passphrase(const struct ocb_config *cfg, int interactive,
		      struct ocb_keyprov **out)
{
	const char *fdenv = secure_getenv("OCB_PASSPHRASE_FD");
	char pass[PASS_MAX + 1];
	size_t len = 0;
	int r;

	if (fdenv) {
		r = read_pass_fd(atoi(fdenv), pass, sizeof(pass), &len);
	} else if (cfg->passphrase_file) {
		int fd = open(cfg->passphrase_file, O_RDONLY | O_CLOEXEC);
		struct stat st;

		r = fd < 0 ? -errno : 0;
		if (r == 0 && fstat(fd, &st) == 0 &&
		    ((st.st_mode & 077) ||
		     (st.st_uid != geteuid() && st.st_uid != 0))) {
			/* the same rule as for key files: another user could
			 * have written the passphrase of their choice */
			ocb_err("passphrase file %s is accessible by others or "
				"not yours (nor root's): chmod 600 it, owned by "
				"you", cfg->passphrase_file);
			r = -EACCES;
		}
		if (r == 0)
			r = read_pass_fd(fd, pass, sizeof(pass), &len);
		if (fd >= 0)
			close(fd);
	} else if (interactive) {
		r = prompt_pass(pass, sizeof(pass), &len);
	} else {
		r = -ENOKEY;
	}
	if (r == 0)
		r = ocb_keyprov_passphrase_new(pass, len, out);
	else if (r == -ENOKEY)
		ocb_err("no passphrase: set OCB_PASSPHRASE_FD, "
			"encryption.passphraseFile, or run on a terminal");
	OPENSSL_cleanse(pass, sizeof(pass));
	return r;
}

int ocb_keyprov_from_config(const struct ocb_config *cfg, int interactive,
			    struct ocb_keyprov **out)
{
	const char *kp = cfg->key_provider;

	if (!strcmp(kp, "none"))
		return ocb_keyprov_none_new(out);
	if (!strcmp(kp, "keyfile"))
		return ocb_keyprov_keyfile_new(cfg->key_file, out);
	if (!strcmp(kp, "passphrase"))
		return passphrase(cfg, interactive, out);
	if (!strcmp(kp, "kms")) {
		struct ocb_creds *c;
		int r;

		if (!cfg->kms_key_id) {
			ocb_err("key provider kms needs encryption.kmsKeyId (or "
				"the old tool's encryption.kmsKeyAlias)");
			return -EINVAL;
		}
		if (cfg->kms_endpoint && s3_url_http_off_host(cfg->kms_endpoint)) {
			ocb_err("KMS endpoint %s is plain http to another "
				"machine: a KMS reply carries the data key, use "
				"https", cfg->kms_endpoint);
			return -EINVAL;
		}
		r = ocb_creds_new(cfg->profile, &c);
		if (r < 0)
			return r;
		/* KMS calls wait as long as the store's requests would */
		return ocb_keyprov_kms_new(&(struct ocb_kms) {
				.endpoint = cfg->kms_endpoint,
				.region = cfg->region,
				.key_id = cfg->kms_key_id,
				.insecure_tls = cfg->insecure_tls,
				.deadline_ms = cfg->deadline_ms,
				.refused_ms = cfg->refused_ms,
				.timeout_ms = cfg->timeout_ms,
			}, c, out);
	}
	ocb_err("unknown key provider %s", kp);
	return -EINVAL;
}
