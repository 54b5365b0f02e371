/*
 * sse_report.h - one line on the bucket's SSE-KMS default encryption,
 * as `ocb doctor` and `ocb setup` print it.
 */
#ifndef OCB_SSE_REPORT_H
#define OCB_SSE_REPORT_H

struct ocb_config;

/*
 * Check (with set: first give a bucket without one) the SSE-KMS default
 * a libcurl that cannot sign the key id needs (sse_default.h), and print
 * its line on stdout after ok_tag when it is the key, after warn_tag when
 * uploads do not get the key; nothing when no default is needed.
 */
void sse_report_print(const struct ocb_config *cfg, int set,
		      const char *ok_tag, const char *warn_tag);

#endif
