/*
 * log.c - one sink, levels, escaping of untrusted text.
 *
 * The sink and level are process-wide by nature (like fuse_log): they are
 * set once before threads start and only read afterwards.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static ocb_log_sink_fn log_sink;
static void *log_sink_arg;
static enum ocb_log_level log_level = OCB_LOG_WARN;
static const char *log_prog = "ocb";

void ocb_log_set_sink(ocb_log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

void ocb_log_set_level(enum ocb_log_level level)
{
	log_level = level;
}

enum ocb_log_level ocb_log_get_level(void)
{
	return log_level;
}

void ocb_log_set_prog(const char *prog)
{
	log_prog = prog ? prog : "ocb";
}

static const char *level_name(enum ocb_log_level level)
{
	switch (level) {
	case OCB_LOG_ERR: return "error";
	case OCB_LOG_WARN: return "warning";
	case OCB_LOG_INFO: return "info";
	default: return "debug";
	}
}

void ocb_vlog(enum ocb_log_level level, const char *fmt, va_list ap)
{
	char line[2048];

	if (level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_sink) {
		log_sink(log_sink_arg, level, line);
		return;
	}
	/* one write() per line so concurrent threads do not interleave */
	char out[2200];
	int n = snprintf(out, sizeof(out), "%s: %s: %s\n", log_prog,
			 level_name(level), line);
	if (n > (int)sizeof(out) - 1)
		n = sizeof(out) - 1;
	if (n > 0 && write(STDERR_FILENO, out, (size_t)n) < 0)
		return;
}

void ocb_log(enum ocb_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ocb_vlog(level, fmt, ap);
	va_end(ap);
}

/* length of a valid UTF-8 sequence starting at s, or 0 */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

char *ocb_log_escape(char *out, size_t outsz, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	size_t o = 0;

	if (outsz == 0)
		return out;
	while (*p) {
		size_t n = utf8_len(p);
		char esc[5];
		const char *src;
		size_t len;

		if (n == 1 && (*p < 0x20 || *p == 0x7f || *p == '\\')) {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
			src = esc;
			len = 4;
			n = 1;
		} else if (n == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
			src = esc;
			len = 4;
			n = 1;
		} else {
			src = (const char *)p;
			len = n;
		}
		if (o + len + 4 > outsz) {
			if (outsz >= 4) {
				o = o < outsz - 4 ? o : outsz - 4;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, src, len);
		o += len;
		p += n;
	}
	out[o < outsz ? o : outsz - 1] = '\0';
	return out;
}
