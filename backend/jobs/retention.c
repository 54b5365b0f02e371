/*
 * retention.c - retention plans (retention.h).
 */
#include "retention.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ocb_ret_policy_empty(const struct ocb_ret_policy *p)
{
	return p->last <= 0 && p->daily <= 0 && p->weekly <= 0 &&
		p->monthly <= 0 && p->yearly <= 0 && p->within <= 0;
}

static void add_why(struct ocb_ret_item *it, const char *why)
{
	size_t len = strlen(it->why);

	snprintf(it->why + len, sizeof(it->why) - len, "%s%s", len ? ", " : "",
		 why);
	it->keep = 1;
}

static int newest_first(const void *x, const void *y)
{
	const struct ocb_ret_item *a = *(struct ocb_ret_item *const *)x;
	const struct ocb_ret_item *b = *(struct ocb_ret_item *const *)y;

	if (a->untrusted != b->untrusted)
		return a->untrusted ? 1 : -1;
	if (a->time != b->time)
		return a->time > b->time ? -1 : 1;
	return strcmp(b->name, a->name);	/* same second: by name */
}

/* the newest backup of each of the newest `count` periods */
static void keep_periods(struct ocb_ret_item **s, size_t n, int count,
			 const char *fmt, const char *rule)
{
	char last[32] = "", key[32], why[64];
	int kept = 0;
	size_t i;

	for (i = 0; i < n && kept < count; i++) {
		time_t t = (time_t)s[i]->time;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(key, sizeof(key), fmt, &tm);
		if (!strcmp(key, last))
			continue;
		snprintf(last, sizeof(last), "%s", key);
		kept++;
		snprintf(why, sizeof(why), "%s %s", rule, key);
		add_why(s[i], why);
	}
}

int ocb_retention_plan(struct ocb_ret_item *v, size_t n,
		       const struct ocb_ret_policy *p)
{
	struct ocb_ret_item **s;
	size_t i, all = n;

	for (i = 0; i < all; i++) {
		v[i].keep = 0;
		v[i].why[0] = '\0';
	}
	if (!all)
		return 0;
	s = malloc(all * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (i = 0, n = 0; i < all; i++) {
		if (!v[i].refused) {
			s[n++] = &v[i];
			continue;
		}
		/* not ranked: it takes no one's place */
		if (v[i].pinned)
			add_why(&v[i], "pinned");
		if (!p->delete_refused)
			add_why(&v[i], "refused");
		if (ocb_ret_policy_empty(p))
			add_why(&v[i], "no policy");
	}
	if (!n) {
		free(s);
		return 0;
	}
	qsort(s, n, sizeof(*s), newest_first);
	add_why(s[0], s[0]->untrusted ? "newest (none trusted)" : "newest");
	for (i = 0; i < n; i++) {
		char why[64];

		if (s[i]->pinned)
			add_why(s[i], "pinned");
		if (s[i]->foreign)
			add_why(s[i], "name not made by ocb");
		if (s[i]->future)
			add_why(s[i], "future-dated");
		if (s[i]->just_taken)
			add_why(s[i], "just taken");
		if (p->last > 0 && i < (size_t)p->last) {
			snprintf(why, sizeof(why), "last %d", p->last);
			add_why(s[i], why);
		}
		if (p->within > 0 && !s[i]->untrusted &&
		    s[i]->time >= s[0]->time - p->within) {
			char d[32];

			if (p->within % 86400 == 0)
				snprintf(d, sizeof(d), "%lldd",
					 (long long)(p->within / 86400));
			else
				snprintf(d, sizeof(d), "%lldh",
					 (long long)(p->within / 3600));
			snprintf(why, sizeof(why), "within %s", d);
			add_why(s[i], why);
		}
		if (ocb_ret_policy_empty(p))
			add_why(s[i], "no policy");
	}
	if (p->daily > 0)
		keep_periods(s, n, p->daily, "%Y-%m-%d", "daily");
	if (p->weekly > 0)
		keep_periods(s, n, p->weekly, "%G-W%V", "weekly");
	if (p->monthly > 0)
		keep_periods(s, n, p->monthly, "%Y-%m", "monthly");
	if (p->yearly > 0)
		keep_periods(s, n, p->yearly, "%Y", "yearly");
	free(s);
	return 0;
}
