/*
 * t.h - the smallest unit-test harness: CHECK() records a failure and goes
 * on; T_DONE() prints a summary line and returns the exit status.
 */
#ifndef OCB_T_H
#define OCB_T_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int t_failed, t_checked;

#define CHECK(cond) do { \
	t_checked++; \
	if (!(cond)) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			__LINE__, #cond); \
	} \
} while (0)

#define CHECK_INT(a, b) do { \
	long long t_a = (long long)(a), t_b = (long long)(b); \
	t_checked++; \
	if (t_a != t_b) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
			__FILE__, __LINE__, #a, t_a, #b, t_b); \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *t_a = (a), *t_b = (b); \
	t_checked++; \
	if (!t_a || !t_b || strcmp(t_a, t_b) != 0) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
			__FILE__, __LINE__, #a, t_a ? t_a : "(null)", \
			t_b ? t_b : "(null)"); \
	} \
} while (0)

static int t_rm_fn(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf path (a test's temporary directory); "" does nothing */
__attribute__((unused)) static void t_rm_rf(const char *path)
{
	if (*path)
		nftw(path, t_rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

#define T_DONE() (printf("%d checks, %d failed\n", t_checked, t_failed), \
		  t_failed ? 1 : 0)

#endif
