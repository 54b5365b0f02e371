/*
 * sse_report.c - the SSE-KMS default line that doctor and setup share
 * (each with its own tags).
 */
#include "sse_report.h"
#include "sse_default.h"

#include <stdio.h>

void sse_report_print(const struct ocb_config *cfg, int set,
		      const char *ok_tag, const char *warn_tag)
{
	char msg[2048];
	enum ocb_sse_default_state st =
		ocb_sse_default_check(cfg, set, msg, sizeof(msg));

	if (st == OCB_SSE_DEFAULT_OK)
		printf("%s%s\n", ok_tag, msg);
	else if (st != OCB_SSE_DEFAULT_NOT_NEEDED)
		printf("%s%s\n", warn_tag, msg);
}
