/*
 * retention.c - retention plans and what kept backups need
 * (retention.h).
 */
#include "retention.h"
#include "backup_name.h"

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

/* One backup for the rules: a repack's replacement K' (named "<K's
 * time>Z-repack<n>") and the backup K it replaces, and several
 * replacements of one K.  Counted apart, a repack killed between K''s
 * commit and K's deletion would make them two backups for "last" and the
 * periods, and a plain prune would drop an older backup the user expects
 * to keep.  By name: every ranked item of the same time and stem as a
 * replacement is one with it (two backups of the same second beside a
 * replacement are one too: that only keeps more).  lead[i] is the first
 * of s[i]'s backup in s (s sorted newest first, so they are adjacent). */
static void same_backups(struct ocb_ret_item **s, size_t n, size_t *lead)
{
	size_t lo = 0, hi, i;

	while (lo < n) {
		size_t stem = ocb_backup_name_stem(s[lo]->name);
		int any = 0;

		for (hi = lo; hi < n; hi++) {
			if (!stem || s[hi]->time != s[lo]->time ||
			    s[hi]->untrusted != s[lo]->untrusted ||
			    ocb_backup_name_stem(s[hi]->name) != stem ||
			    strncmp(s[hi]->name, s[lo]->name, stem))
				break;
			any |= ocb_backup_name_is_replacement(s[hi]->name);
		}
		if (hi == lo)
			hi = lo + 1;
		for (i = lo; i < hi; i++)
			lead[i] = any ? lo : i;
		lo = hi;
	}
}

/* the newest backup of each of the newest `count` periods */
static void keep_periods(struct ocb_ret_item **s, const size_t *lead,
			 size_t n, int count, const char *fmt, const char *rule)
{
	char last[32] = "", key[32], why[64];
	int kept = 0;
	size_t i;

	for (i = 0; i < n && kept < count; i++) {
		time_t t = (time_t)s[i]->time;
		struct tm tm;

		if (lead[i] != i)
			continue;	/* counted with its first */
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

/* kept or dropped together: what keeps one member of a backup keeps
 * every member (so each keeps, by reachability, what it reads) */
static void keep_together(struct ocb_ret_item **s, const size_t *lead,
			  size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lead[i] != i && s[i]->keep &&
		    !strstr(s[lead[i]]->why, s[i]->why))
			add_why(s[lead[i]], s[i]->why);
	for (i = 0; i < n; i++)
		if (lead[i] != i && s[lead[i]]->keep) {
			snprintf(s[i]->why, sizeof(s[i]->why), "%s",
				 s[lead[i]]->why);
			s[i]->keep = 1;
		}
}

int ocb_retention_plan(struct ocb_ret_item *v, size_t n,
		       const struct ocb_ret_policy *p)
{
	struct ocb_ret_item **s;
	size_t *lead, i, rank, all = n;

	for (i = 0; i < all; i++) {
		v[i].keep = 0;
		v[i].needed = 0;
		v[i].why[0] = '\0';
	}
	if (!all)
		return 0;
	s = malloc(all * sizeof(*s));
	lead = malloc(all * sizeof(*lead));
	if (!s || !lead) {
		free(s);
		free(lead);
		return -ENOMEM;
	}
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
		free(lead);
		return 0;
	}
	qsort(s, n, sizeof(*s), newest_first);
	same_backups(s, n, lead);
	add_why(s[0], s[0]->untrusted ? "newest (none trusted)" : "newest");
	for (i = 0, rank = 0; i < n; i++) {
		char why[64];

		if (s[i]->pinned)
			add_why(s[i], "pinned");
		if (s[i]->foreign)
			add_why(s[i], "name not made by ocb");
		if (s[i]->future)
			add_why(s[i], "future-dated");
		if (s[i]->just_taken)
			add_why(s[i], "just taken");
		if (lead[i] != i)
			continue;	/* the rules count it with its first */
		rank++;			/* backups counted so far, this one in */
		if (p->last > 0 && rank <= (size_t)p->last) {
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
		keep_periods(s, lead, n, p->daily, "%Y-%m-%d", "daily");
	if (p->weekly > 0)
		keep_periods(s, lead, n, p->weekly, "%G-W%V", "weekly");
	if (p->monthly > 0)
		keep_periods(s, lead, n, p->monthly, "%Y-%m", "monthly");
	if (p->yearly > 0)
		keep_periods(s, lead, n, p->yearly, "%Y", "yearly");
	keep_together(s, lead, n);
	free(s);
	free(lead);
	return 0;
}

/* ---- reachability --------------------------------------------------------- */

struct reach {
	struct ocb_ret_item *v;
	size_t n;
	size_t *byname;		/* native items, sorted by name */
	size_t nnative;
	size_t *queue;		/* kept items whose references to follow */
	unsigned char *queued;
	size_t head, tail;
};

static int byname_cmp(const void *x, const void *y, void *arg)
{
	const struct ocb_ret_item *v = arg;

	return strcmp(v[*(const size_t *)x].name, v[*(const size_t *)y].name);
}

/* the native item named name, or NULL */
static struct ocb_ret_item *reach_find(const struct reach *r, const char *name)
{
	size_t lo = 0, hi = r->nnative;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, r->v[r->byname[mid]].name);

		if (!c)
			return &r->v[r->byname[mid]];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void reach_push(struct reach *r, const struct ocb_ret_item *it)
{
	size_t i = (size_t)(it - r->v);

	if (!r->queued[i]) {
		r->queued[i] = 1;
		r->queue[r->tail++] = i;
	}
}

static size_t want(struct ocb_ret_item *it)
{
	if (it->want_open)
		return 0;
	it->want_open = 1;
	return 1;
}

/* keep it (and follow it) for from, which needs it: "<how> <from>" */
static void reach_keep(struct reach *r, struct ocb_ret_item *to,
		       const struct ocb_ret_item *from, const char *how,
		       const char *tail)
{
	char why[300];

	if (!to->keep) {
		snprintf(why, sizeof(why), "%s %s%s", how, from->name, tail);
		add_why(to, why);
		to->needed = 1;
	}
	reach_push(r, to);
}

/* from did not open, yet may be genuine: it may reference any native
 * backup as old as it or older (a base is always taken before) */
static void keep_older(struct reach *r, const struct ocb_ret_item *from)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct ocb_ret_item *to = &r->v[i];

		if (to != from && to->native && to->time <= from->time)
			reach_keep(r, to, from, "may be needed by",
				   ", which did not open");
	}
}

/* Follow the references of every kept item, keeping what they need: the
 * count of items to open first (then fn is not called), else 0. */
static size_t reach_walk(struct reach *r, ocb_ret_problem_fn fn, void *arg)
{
	size_t i, k, wants = 0;

	r->head = r->tail = 0;
	memset(r->queued, 0, r->n);
	for (i = 0; i < r->n; i++) {
		r->v[i].want_open = 0;
		if (r->v[i].keep)
			reach_push(r, &r->v[i]);
	}
	while (r->head < r->tail) {
		struct ocb_ret_item *from = &r->v[r->queue[r->head++]];

		if (from->native && from->open == OCB_RET_UNOPENED) {
			wants += want(from);	/* what does it reference? */
			continue;
		}
		if (from->native && from->open == OCB_RET_UNREADABLE) {
			keep_older(r, from);
			if (fn)
				fn(arg, from, NULL, OCB_RET_REFS_UNKNOWN, NULL);
		}
		for (k = 0; k < from->nrefs; k++) {
			const struct ocb_ret_ref *ref = &from->refs[k];
			struct ocb_ret_item *to = reach_find(r, ref->name);
			enum ocb_ret_problem bad = 0;

			if (!to) {
				bad = OCB_RET_REF_MISSING;
			} else if (to->open == OCB_RET_UNOPENED) {
				wants += want(to);	/* is it the one? */
				continue;
			} else if (to->open == OCB_RET_OPENED &&
				   memcmp(to->id, ref->id, sizeof(to->id))) {
				bad = OCB_RET_REF_OTHER;
			} else if (to->open == OCB_RET_FAILED ||
				   to->open == OCB_RET_UNREADABLE) {
				bad = OCB_RET_REF_UNVERIFIED;
			}
			if (bad && fn)
				fn(arg, from, ref, bad, to);
			if (bad == OCB_RET_REF_MISSING || bad == OCB_RET_REF_OTHER)
				continue;
			reach_keep(r, to, from, "needed by", "");
		}
	}
	return wants;
}

int ocb_retention_reach(struct ocb_ret_item *v, size_t n,
			ocb_ret_problem_fn fn, void *arg)
{
	struct reach r = { .v = v, .n = n };
	size_t i, wants;
	int ret = -ENOMEM;

	if (!n)
		return 0;
	r.byname = malloc(n * sizeof(*r.byname));
	r.queue = malloc(n * sizeof(*r.queue));
	r.queued = malloc(n);
	if (!r.byname || !r.queue || !r.queued)
		goto out;
	for (i = 0; i < n; i++)
		if (v[i].native)
			r.byname[r.nnative++] = i;
	qsort_r(r.byname, r.nnative, sizeof(*r.byname), byname_cmp, v);
	/* first without reports: problems are told once, of the complete
	 * closure; what this walk kept was checked and stands */
	wants = reach_walk(&r, NULL, NULL);
	if (!wants)
		reach_walk(&r, fn, arg);
	ret = wants > INT32_MAX ? INT32_MAX : (int)wants;
out:
	free(r.byname);
	free(r.queue);
	free(r.queued);
	return ret;
}
