/*
 * log.h - the one logging sink of ocbfs and ocb.
 *
 * Library code logs through ocb_log(); programs choose where lines go with
 * ocb_log_set_sink() once at start-up (stderr by default, syslog for a
 * daemonised mount).  Lines below the configured level are dropped before
 * formatting.  Untrusted strings (object keys, file names, server messages)
 * must go through ocb_log_escape() or the "%s" of ocb_log_untrusted().
 * Secrets are never passed to the logger.
 */
#ifndef OCB_LOG_H
#define OCB_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum ocb_log_level {
	OCB_LOG_ERR = 0,
	OCB_LOG_WARN,
	OCB_LOG_INFO,
	OCB_LOG_DEBUG,
};

typedef void (*ocb_log_sink_fn)(void *arg, enum ocb_log_level level,
				const char *line);

/* Set the sink (NULL restores stderr) and the most verbose level shown.
 * Call before starting threads. */
void ocb_log_set_sink(ocb_log_sink_fn fn, void *arg);
void ocb_log_set_level(enum ocb_log_level level);
enum ocb_log_level ocb_log_get_level(void);
/* Prefix for stderr lines, e.g. "ocb" or "ocbfs". */
void ocb_log_set_prog(const char *prog);

void ocb_log(enum ocb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ocb_vlog(enum ocb_log_level level, const char *fmt, va_list ap);

#define ocb_err(...)   ocb_log(OCB_LOG_ERR, __VA_ARGS__)
#define ocb_warn(...)  ocb_log(OCB_LOG_WARN, __VA_ARGS__)
#define ocb_info(...)  ocb_log(OCB_LOG_INFO, __VA_ARGS__)
#define ocb_debug(...) ocb_log(OCB_LOG_DEBUG, __VA_ARGS__)

/*
 * Copy s into out (size outsz, always NUL-terminated), replacing control
 * characters, backslash and non-UTF-8 bytes by \xNN escapes and truncating
 * with "..." when it does not fit.  Returns out.
 */
char *ocb_log_escape(char *out, size_t outsz, const char *s);

#endif
