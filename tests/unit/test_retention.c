/*
 * test_retention.c - retention plans against tables of dates: each policy,
 * week numbers across a year end, months of different lengths, ties in
 * one second, labels, pins, the newest, an empty policy; the times in
 * backup names; a repack's replacements and the backup they replace
 * counted as one.  Reachability: chains, diamonds, a kept backup referencing
 * a refused one, references to a missing or replaced backup.
 */
#include "t.h"
#include "backup_name.h"
#include "retention.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXN 64

/* names from "YYYY-MM-DDTHH-MM-SS[Z][-label]" tails */
struct table {
	const char *tail;
	int pinned;
	int keep;		/* expected */
};

static void run(const char *what, struct table *t, size_t n,
		const struct ocb_ret_policy *p)
{
	struct ocb_ret_item v[MAXN];
	char names[MAXN][96];
	size_t i;

	memset(v, 0, sizeof(v));
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "openclaw-aws-backup-%s",
			 t[i].tail);
		v[i].name = names[i];
		CHECK_INT(ocb_backup_name_time(names[i], &v[i].time,
						  &v[i].labelled), 0);
		v[i].pinned = t[i].pinned;
	}
	CHECK_INT(ocb_retention_plan(v, n, p), 0);
	for (i = 0; i < n; i++)
		if (v[i].keep != t[i].keep) {
			t_failed++;
			fprintf(stderr, "%s: %s: keep %d, expected %d (%s)\n",
				what, names[i], v[i].keep, t[i].keep, v[i].why);
		}
	t_checked++;
}

static void test_last(void)
{
	struct table t[] = {
		{ "2026-11-01T00-00-00Z", 0, 0 },
		{ "2026-11-02T00-00-00Z", 0, 0 },
		{ "2026-11-03T00-00-00Z", 0, 1 },
		{ "2026-11-04T00-00-00Z", 0, 1 },
		{ "2026-11-05T00-00-00Z", 0, 1 },
	};
	struct ocb_ret_policy p = { .last = 3 };

	run("last", t, 5, &p);
}

static void test_daily(void)
{
	/* two a day on some days: the newest of each of the newest 3 days */
	struct table t[] = {
		{ "2026-11-01T10-00-00Z", 0, 0 },
		{ "2026-11-02T08-00-00Z", 0, 0 },
		{ "2026-11-02T20-00-00Z", 0, 1 },
		{ "2026-11-04T01-00-00Z", 0, 0 },
		{ "2026-11-04T23-59-59Z", 0, 1 },
		{ "2026-11-05T00-00-00Z", 0, 1 },
	};
	struct ocb_ret_policy p = { .daily = 3 };

	run("daily", t, 6, &p);
}

static void test_weekly_across_the_year_end(void)
{
	/* ISO weeks: 2026-12-28 (Mon) .. 2027-01-03 (Sun) is 2026-W53;
	 * 2027-01-04 starts 2027-W01 */
	struct table t[] = {
		{ "2026-12-20T12-00-00Z", 0, 0 },	/* 2026-W51 */
		{ "2026-12-27T12-00-00Z", 0, 1 },	/* 2026-W52, newest */
		{ "2026-12-28T12-00-00Z", 0, 0 },	/* 2026-W53 */
		{ "2027-01-03T12-00-00Z", 0, 1 },	/* 2026-W53, newest */
		{ "2027-01-04T12-00-00Z", 0, 1 },	/* 2027-W01 */
	};
	struct ocb_ret_policy p = { .weekly = 3 };

	run("weekly", t, 5, &p);
}

static void test_monthly_and_yearly(void)
{
	struct table t[] = {
		{ "2025-06-30T00-00-00Z", 0, 1 },	/* yearly 2025 */
		{ "2026-01-31T00-00-00Z", 0, 0 },
		{ "2026-02-28T23-00-00Z", 0, 1 },	/* monthly 2026-02 */
		{ "2026-03-01T00-00-00Z", 0, 0 },
		{ "2026-03-31T23-59-59Z", 0, 1 },	/* monthly 2026-03 */
		{ "2026-04-30T00-00-00Z", 0, 1 },	/* monthly, yearly 2026 */
	};
	struct ocb_ret_policy p = { .monthly = 3, .yearly = 2 };

	run("monthly+yearly", t, 6, &p);
}

static void test_within_labels_pins(void)
{
	struct table t[] = {
		{ "2026-10-01T00-00-00Z-before-upgrade", 0, 0 },	/* label: counted */
		{ "2026-10-02T00-00-00Z", 1, 1 },			/* pin */
		{ "2026-10-03T00-00-00Z", 0, 0 },
		{ "2026-11-20T00-00-00Z", 0, 0 },	/* 10 days + 1 s before */
		{ "2026-11-20T00-00-01Z", 0, 1 },	/* exactly 10 days */
		{ "2026-11-30T00-00-01Z", 0, 1 },	/* newest */
	};
	struct ocb_ret_policy p = { .within = 10 * 86400 };

	run("within", t, 6, &p);
}

static void test_old_tool_names_and_ties(void)
{
	/* old names have no Z; two backups in one second: by name */
	struct table t[] = {
		{ "2026-11-01T00-00-00", 0, 0 },
		{ "2026-11-02T00-00-00", 0, 1 },
		{ "2026-11-02T00-00-00Z", 0, 1 },
	};
	struct ocb_ret_policy p = { .last = 2 };

	run("old+ties", t, 3, &p);
}

static void test_empty_policy_and_newest(void)
{
	struct table all[] = {
		{ "2026-11-01T00-00-00Z", 0, 1 },
		{ "2026-11-02T00-00-00Z", 0, 1 },
	};
	struct table one[] = {
		{ "2026-11-01T00-00-00Z", 0, 0 },
		{ "2026-11-02T00-00-00Z", 0, 1 },	/* newest, always */
	};
	struct ocb_ret_policy none = { 0 };
	struct ocb_ret_policy tiny = { .within = 3600 };

	CHECK(ocb_ret_policy_empty(&none));
	run("empty", all, 2, &none);
	run("newest", one, 2, &tiny);
	CHECK_INT(ocb_retention_plan(NULL, 0, &tiny), 0);
}

static void test_parsing(void)
{
	int64_t t = 0;
	int lab = -1;

	CHECK_INT(ocb_backup_name_time(
		"openclaw-aws-backup-2026-11-23T01-02-03Z", &t, &lab), 0);
	CHECK(t == 1795395723 && lab == 0);
	CHECK_INT(ocb_backup_name_time(
		"openclaw-aws-backup-2026-11-23T01-02-03Z-x", &t, &lab), 0);
	CHECK(lab == 1);
	CHECK_INT(ocb_backup_name_time(
		"openclaw-aws-backup-2026-11-23T01-02-03", &t, &lab), 0);
	CHECK(t == 1795395723 && lab == 0);
	CHECK_INT(ocb_backup_name_time("other-2026", &t, &lab), -EINVAL);
	CHECK_INT(ocb_backup_name_time(
		"openclaw-aws-backup-2026-11-23", &t, &lab), -EINVAL);
}

/* items named openclaw-aws-backup-<tail>, times from their names */
static void items_of(struct ocb_ret_item *v, char (*names)[96],
		     const char *const *tails, size_t n)
{
	size_t i;

	memset(v, 0, n * sizeof(*v));
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "openclaw-aws-backup-%s",
			 tails[i]);
		v[i].name = names[i];
		CHECK_INT(ocb_backup_name_time(names[i], &v[i].time,
						  &v[i].labelled), 0);
	}
}

/* untrusted items (a planted old-tool name, a future date) are never
 * "newest", never the anchor of "within" and never take a "last" slot
 * ahead of a native backup: the genuine backups are kept */
static void test_untrusted(void)
{
	const char *tails[] = {
		"2026-11-01T00-00-00Z", "2026-11-02T00-00-00Z",
		"2026-11-03T00-00-00Z",
		"2027-01-01T00-00-00",		/* old-tool name, newer */
		"2099-01-01T00-00-00Z",		/* future-dated native */
	};
	struct ocb_ret_item v[5];
	char names[5][96];
	struct ocb_ret_policy p = { .last = 2, .within = 86400 };

	items_of(v, names, tails, 5);
	v[3].untrusted = 1;
	v[4].untrusted = v[4].future = 1;
	CHECK_INT(ocb_retention_plan(v, 5, &p), 0);
	CHECK_INT(v[0].keep, 0);
	CHECK_INT(v[1].keep, 1);
	CHECK_INT(v[2].keep, 1);
	CHECK(strstr(v[2].why, "newest") != NULL);
	CHECK(strstr(v[1].why, "within") != NULL);	/* anchored on [2] */
	CHECK_INT(v[3].keep, 0);	/* past the 2 trusted, "last" is full */
	CHECK_INT(v[4].keep, 1);
	CHECK_STR(v[4].why, "future-dated");
}

/* a refused item (it failed to open) takes no one's place: the genuine
 * ones are counted as if it were not there; it is kept unless the policy
 * deletes refused ones */
static void test_refused(void)
{
	const char *tails[] = {
		"2026-11-01T00-00-00Z", "2026-11-02T00-00-00Z",
		"2026-11-03T00-00-00Z",		/* forged: refused */
	};
	struct ocb_ret_item v[3];
	char names[3][96];
	struct ocb_ret_policy p = { .last = 2, .within = 3600 };

	items_of(v, names, tails, 3);
	v[2].refused = 1;
	CHECK_INT(ocb_retention_plan(v, 3, &p), 0);
	CHECK_INT(v[0].keep, 1);
	CHECK_INT(v[1].keep, 1);
	CHECK(strstr(v[1].why, "newest") != NULL);
	CHECK(strstr(v[1].why, "within") != NULL);	/* anchored on [1] */
	CHECK(strstr(v[0].why, "last 2") != NULL);
	CHECK_STR(v[2].why, "refused");
	p.delete_refused = 1;
	CHECK_INT(ocb_retention_plan(v, 3, &p), 0);
	CHECK_INT(v[2].keep, 0);
	CHECK_INT(v[0].keep, 1);
	v[0].refused = v[1].refused = 1;	/* none opens */
	CHECK_INT(ocb_retention_plan(v, 3, &p), 0);
	CHECK_INT(v[0].keep + v[1].keep + v[2].keep, 0);
}

/* the backup just taken is kept although two newer names exist (a clock
 * stepped back, or a backup named later finished first) */
static void test_just_taken(void)
{
	const char *tails[] = {
		"2026-11-03T00-00-00Z", "2026-11-03T00-00-01Z",
		"2026-11-03T00-00-02Z",
	};
	struct ocb_ret_item v[3];
	char names[3][96];
	struct ocb_ret_policy p = { .last = 1 };

	items_of(v, names, tails, 3);
	v[0].just_taken = 1;
	CHECK_INT(ocb_retention_plan(v, 3, &p), 0);
	CHECK_INT(v[0].keep, 1);
	CHECK_STR(v[0].why, "just taken");
	CHECK_INT(v[1].keep, 0);
	CHECK_INT(v[2].keep, 1);
}

/* a repack killed between a replacement's commit and the deletion of
 * the backup it replaces: K and K' (and K'') are one backup for every
 * rule, kept or dropped together, so no older backup loses its place */
static void test_replacements_count_once(void)
{
	const char *tails[] = {
		"2026-11-01T00-00-00Z",			/* A */
		"2026-11-02T00-00-00Z-snapshot",	/* B, labelled */
		"2026-11-02T00-00-00Z-repack1",		/* B' */
		"2026-11-03T00-00-00Z",			/* C */
		"2026-11-03T00-00-00Z-repack1",		/* C' */
		"2026-11-03T00-00-00Z-repack2",		/* C'' */
		"2026-11-04T00-00-00Z-repack1",		/* D' (D deleted) */
	};
	struct ocb_ret_item v[7];
	char names[7][96];
	struct ocb_ret_policy p = { .last = 3 };
	size_t i;

	items_of(v, names, tails, 7);
	CHECK_INT(ocb_retention_plan(v, 7, &p), 0);
	CHECK_INT(v[0].keep, 0);
	for (i = 1; i < 7; i++)
		CHECK_INT(v[i].keep, 1);
	CHECK_STR(v[1].why, "last 3");
	CHECK_STR(v[2].why, "last 3");
	CHECK_STR(v[3].why, v[5].why);
	p.last = 2;				/* B and B' go together */
	CHECK_INT(ocb_retention_plan(v, 7, &p), 0);
	CHECK_INT(v[0].keep + v[1].keep + v[2].keep, 0);
	CHECK_INT(v[3].keep + v[4].keep + v[5].keep + v[6].keep, 4);
	p.last = 4;
	CHECK_INT(ocb_retention_plan(v, 7, &p), 0);
	CHECK_INT(v[0].keep, 1);

	/* the periods: the newest of a day is the whole backup */
	memset(&p, 0, sizeof(p));
	p.daily = 2;
	CHECK_INT(ocb_retention_plan(v, 7, &p), 0);
	CHECK_INT(v[0].keep + v[1].keep + v[2].keep, 0);
	CHECK_INT(v[3].keep + v[4].keep + v[5].keep, 3);
	CHECK_STR(v[3].why, "daily 2026-11-03");

	/* a refused replacement takes no one's place and joins nothing */
	p.daily = 0;
	p.last = 3;
	v[4].refused = v[5].refused = 1;
	p.delete_refused = 1;
	CHECK_INT(ocb_retention_plan(v, 7, &p), 0);
	CHECK_INT(v[4].keep + v[5].keep, 0);
	CHECK_INT(v[1].keep + v[2].keep + v[3].keep + v[6].keep, 4);
	CHECK_INT(v[0].keep, 0);
}

/* only "<time>Z-repack<n>", n from 1, of the same time is a replacement;
 * two labelled backups of one second stay two */
static void test_replacement_names(void)
{
	const char *tails[] = {
		"2026-11-01T00-00-00Z",
		"2026-11-02T00-00-00Z",
		"2026-11-02T00-00-00Z-repack0",
		"2026-11-02T00-00-00Z-repacked1",
		"2026-11-02T00-00-00Z-repack",
		"2026-11-02T00-00-00Z-repack1x",
	};
	struct ocb_ret_item v[6];
	char names[6][96];
	struct ocb_ret_policy p = { .last = 5 };

	items_of(v, names, tails, 6);
	CHECK_INT(ocb_retention_plan(v, 6, &p), 0);
	CHECK_INT(v[0].keep, 0);
	CHECK_INT(ocb_backup_name_is_replacement(
			"openclaw-aws-backup-2026-11-02T00-00-00Z-repack12"), 1);
	CHECK_INT(ocb_backup_name_is_replacement(
			"openclaw-aws-backup-2026-11-02T00-00-00-repack1"), 0);
	CHECK_INT(ocb_backup_name_is_replacement("other-2026Z-repack1"), 0);
	CHECK_INT((int)ocb_backup_name_stem(
			"openclaw-aws-backup-2026-11-02T00-00-00Z-x"),
		  (int)strlen("openclaw-aws-backup-2026-11-02T00-00-00Z"));
	CHECK_INT((int)ocb_backup_name_stem(
			"openclaw-aws-backup-2026-11-02T00-00-00"), 0);
}

/* ---- reachability --------------------------------------------------------- */

/* a store of n native backups, item i of id {i + 1, ...}, all opened */
struct graph {
	struct ocb_ret_item v[8];
	char names[8][96];
	struct ocb_ret_ref refs[8][8];
	size_t n;
	int problems[5];	/* count by enum ocb_ret_problem */
	char last_problem[256];
};

static void graph_init(struct graph *g, size_t n)
{
	char tails[8][48];
	const char *tp[8];
	size_t i;

	memset(g, 0, sizeof(*g));
	g->n = n;
	for (i = 0; i < n; i++) {
		snprintf(tails[i], sizeof(tails[i]), "2026-11-0%zuT00-00-00Z",
			 i + 1);
		tp[i] = tails[i];
	}
	items_of(g->v, g->names, tp, n);
	for (i = 0; i < n; i++) {
		g->v[i].native = 1;
		g->v[i].open = OCB_RET_OPENED;
		g->v[i].id[0] = (uint8_t)(i + 1);
		g->v[i].refs = g->refs[i];
	}
}

/* from references to (by name, with to's id unless id is given) */
static void graph_ref(struct graph *g, size_t from, size_t to, int id)
{
	struct ocb_ret_ref *r = &g->refs[from][g->v[from].nrefs++];

	r->name = g->names[to];
	memcpy(r->id, g->v[to].id, sizeof(r->id));
	if (id)
		r->id[0] = (uint8_t)id;
}

static void on_problem(void *arg, const struct ocb_ret_item *from,
		       const struct ocb_ret_ref *ref, enum ocb_ret_problem what,
		       const struct ocb_ret_item *to)
{
	struct graph *g = arg;

	g->problems[what]++;
	snprintf(g->last_problem, sizeof(g->last_problem), "%s -> %s (%s)",
		 from->name, ref ? ref->name : "?", to ? to->name : "missing");
}

static int plan_and_reach(struct graph *g, const struct ocb_ret_policy *p)
{
	CHECK_INT(ocb_retention_plan(g->v, g->n, p), 0);
	return ocb_retention_reach(g->v, g->n, on_problem, g);
}

/* B3 (kept) builds on B2 on B1; B3 references both (the objects that
 * hold the bytes), B2 references B1: all stay, B0 (unrelated) goes */
static void test_reach_chain(void)
{
	struct ocb_ret_policy p = { .last = 1 };
	struct graph g;

	graph_init(&g, 4);
	graph_ref(&g, 3, 2, 0);
	graph_ref(&g, 3, 1, 0);
	graph_ref(&g, 2, 1, 0);
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[0].keep, 0);
	CHECK_INT(g.v[1].keep, 1);
	CHECK_INT(g.v[2].keep, 1);
	CHECK_INT(g.v[3].keep, 1);
	CHECK_STR(g.v[2].why, "needed by openclaw-aws-backup-2026-11-04T00-00-00Z");
	CHECK_STR(g.v[1].why, "needed by openclaw-aws-backup-2026-11-04T00-00-00Z");
	CHECK_INT(g.v[1].needed + g.v[2].needed, 2);
	CHECK_INT(g.v[3].needed, 0);
	CHECK_STR(g.v[3].why, "newest, last 1");
	CHECK_INT(g.problems[1] + g.problems[2] + g.problems[3], 0);

	/* transitively: a kept-for-another backup is complete too (B3 only
	 * names B2, B2 names B1) */
	graph_init(&g, 4);
	graph_ref(&g, 3, 2, 0);
	graph_ref(&g, 2, 1, 0);
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[1].keep, 1);
	CHECK_STR(g.v[1].why, "needed by openclaw-aws-backup-2026-11-03T00-00-00Z");
	CHECK_INT(g.v[0].keep, 0);

	/* a backup a rule keeps anyway gets no "needed by" */
	graph_init(&g, 3);
	graph_ref(&g, 2, 1, 0);
	p.last = 2;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_STR(g.v[1].why, "last 2");
	CHECK_INT(g.v[1].needed, 0);
	CHECK_INT(g.v[0].keep, 0);
}

/* two kept backups share a base through two middles; and a cycle (never
 * written, but hostile catalogs may say so) ends */
static void test_reach_diamond_and_cycle(void)
{
	struct ocb_ret_policy p = { .last = 1 };
	struct graph g;

	graph_init(&g, 5);
	g.v[3].pinned = 1;
	graph_ref(&g, 4, 2, 0);
	graph_ref(&g, 3, 1, 0);
	graph_ref(&g, 2, 0, 0);
	graph_ref(&g, 1, 0, 0);
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[0].keep && g.v[1].keep && g.v[2].keep, 1);
	CHECK(strstr(g.v[0].why, "needed by") != NULL);
	CHECK(strchr(g.v[0].why, ',') == NULL);	/* told once */

	graph_init(&g, 3);
	graph_ref(&g, 2, 1, 0);
	graph_ref(&g, 1, 0, 0);
	graph_ref(&g, 0, 1, 0);
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[0].keep + g.v[1].keep + g.v[2].keep, 3);
}

/* a referenced backup that does not open is kept (its frames may still
 * serve), even under --delete-refused; a refused one no kept backup
 * references goes with --delete-refused */
static void test_reach_refused(void)
{
	struct ocb_ret_policy p = { .last = 1, .delete_refused = 1 };
	struct graph g;

	graph_init(&g, 3);
	graph_ref(&g, 2, 1, 0);
	g.v[1].refused = 1;
	g.v[1].open = OCB_RET_FAILED;
	g.v[0].refused = 1;
	g.v[0].open = OCB_RET_FAILED;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[1].keep, 1);
	CHECK_STR(g.v[1].why, "needed by openclaw-aws-backup-2026-11-03T00-00-00Z");
	CHECK_INT(g.v[0].keep, 0);
	CHECK_INT(g.problems[OCB_RET_REF_UNVERIFIED], 1);

	/* without --delete-refused it is kept as refused: no "needed by" */
	graph_init(&g, 3);
	graph_ref(&g, 2, 1, 0);
	g.v[1].refused = 1;
	g.v[1].open = OCB_RET_FAILED;
	p.delete_refused = 0;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_STR(g.v[1].why, "refused");
	CHECK_INT(g.problems[OCB_RET_REF_UNVERIFIED], 1);
}

/* a reference to a backup that is gone, or to one of that name with
 * another id: warned, the referencing backup kept, the other one not
 * kept on its account; an old-tool item of that name is not it */
static void test_reach_missing_and_replaced(void)
{
	struct ocb_ret_policy p = { .last = 1 };
	struct graph g;

	graph_init(&g, 3);
	graph_ref(&g, 2, 1, 0x77);	/* B1 replaced: another id */
	g.refs[2][1].name = "openclaw-aws-backup-2026-10-01T00-00-00Z";
	g.refs[2][1].id[0] = 9;
	g.v[2].nrefs = 2;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[2].keep, 1);
	CHECK_INT(g.v[1].keep, 0);
	CHECK_INT(g.v[0].keep, 0);
	CHECK_INT(g.problems[OCB_RET_REF_OTHER], 1);
	CHECK_INT(g.problems[OCB_RET_REF_MISSING], 1);
	CHECK_STR(g.last_problem, "openclaw-aws-backup-2026-11-03T00-00-00Z -> "
		  "openclaw-aws-backup-2026-10-01T00-00-00Z (missing)");

	graph_init(&g, 3);
	graph_ref(&g, 2, 1, 0);
	g.v[1].native = 0;
	g.v[1].open = OCB_RET_UNOPENED;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[1].keep, 0);
	CHECK_INT(g.problems[OCB_RET_REF_MISSING], 1);
}

/* what is not known yet is asked for first, without reports; the keeps
 * the first pass made stand through the second */
static void test_reach_asks_to_open(void)
{
	struct ocb_ret_policy p = { .last = 1 };
	struct graph g;

	graph_init(&g, 4);
	graph_ref(&g, 3, 2, 0);
	graph_ref(&g, 2, 1, 0);
	graph_ref(&g, 3, 0, 0x55);	/* not B0 once opened */
	g.v[2].open = OCB_RET_UNOPENED;
	g.v[0].open = OCB_RET_UNOPENED;
	CHECK_INT(plan_and_reach(&g, &p), 2);
	CHECK_INT(g.v[2].want_open + g.v[0].want_open, 2);
	CHECK_INT(g.v[1].want_open + g.v[3].want_open, 0);
	CHECK_INT(g.problems[1] + g.problems[2] + g.problems[3], 0);
	g.v[2].open = OCB_RET_OPENED;
	g.v[0].open = OCB_RET_OPENED;
	CHECK_INT(ocb_retention_reach(g.v, g.n, on_problem, &g), 0);
	CHECK_INT(g.v[2].keep + g.v[1].keep, 2);
	CHECK_INT(g.v[0].keep, 0);
	CHECK_INT(g.problems[OCB_RET_REF_OTHER], 1);

	/* a kept backup whose references are unknown (future-dated, never
	 * opened by the plan) is asked for too; an old-tool one is not */
	graph_init(&g, 2);
	g.v[0].pinned = 1;
	g.v[0].open = OCB_RET_UNOPENED;
	CHECK_INT(plan_and_reach(&g, &p), 1);
	CHECK_INT(g.v[0].want_open, 1);
	g.v[0].native = 0;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(ocb_retention_reach(g.v, 0, NULL, NULL), 0);
}

/* a kept backup of a format this tool cannot read may reference any
 * older backup: all of them are kept ("may be needed by"), reported once;
 * a newer one is not; one that failed authentication keeps nothing older,
 * and neither does an unreadable one --delete-refused deletes */
static void test_reach_unreadable(void)
{
	struct ocb_ret_policy p = { .last = 1 };
	struct graph g;

	graph_init(&g, 5);
	g.v[2].refused = 1;
	g.v[2].open = OCB_RET_UNREADABLE;
	g.v[2].nrefs = 0;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_STR(g.v[4].why, "newest, last 1");
	CHECK_STR(g.v[2].why, "refused");
	CHECK_STR(g.v[1].why, "may be needed by "
		  "openclaw-aws-backup-2026-11-03T00-00-00Z, which did not open");
	CHECK_INT(g.v[0].keep && g.v[0].needed && g.v[1].needed, 1);
	CHECK_INT(g.v[3].keep, 0);
	CHECK_INT(g.problems[OCB_RET_REFS_UNKNOWN], 1);
	CHECK_STR(g.last_problem, "openclaw-aws-backup-2026-11-03T00-00-00Z -> "
		  "? (missing)");

	/* what the older ones reference is followed too, and they are
	 * asked to open first when unknown */
	graph_init(&g, 4);
	g.v[2].refused = 1;
	g.v[2].open = OCB_RET_UNREADABLE;
	g.v[1].open = OCB_RET_UNOPENED;
	CHECK_INT(plan_and_reach(&g, &p), 1);
	CHECK_INT(g.v[1].want_open, 1);
	CHECK_INT(g.problems[OCB_RET_REFS_UNKNOWN], 0);	/* not yet told */
	g.v[1].open = OCB_RET_OPENED;
	CHECK_INT(ocb_retention_reach(g.v, g.n, on_problem, &g), 0);
	CHECK_INT(g.v[0].keep + g.v[1].keep, 2);
	CHECK_INT(g.problems[OCB_RET_REFS_UNKNOWN], 1);

	/* a referenced one that is unreadable is kept unverified, and keeps
	 * what is older than it */
	graph_init(&g, 4);
	graph_ref(&g, 3, 2, 0);
	g.v[2].open = OCB_RET_UNREADABLE;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[0].keep + g.v[1].keep + g.v[2].keep, 3);
	CHECK_STR(g.v[2].why, "needed by openclaw-aws-backup-2026-11-04T00-00-00Z");
	CHECK_INT(g.problems[OCB_RET_REF_UNVERIFIED], 1);
	CHECK_INT(g.problems[OCB_RET_REFS_UNKNOWN], 1);

	/* failed authentication (forged, another key): nothing older kept */
	graph_init(&g, 3);
	g.v[2].refused = 1;
	g.v[2].open = OCB_RET_FAILED;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[1].keep && !g.v[0].keep, 1);
	CHECK_INT(g.problems[OCB_RET_REFS_UNKNOWN], 0);

	/* --delete-refused deletes the unreadable one: nothing kept for it */
	graph_init(&g, 3);
	g.v[2].refused = 1;
	g.v[2].open = OCB_RET_UNREADABLE;
	p.delete_refused = 1;
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[1].keep && !g.v[0].keep && !g.v[2].keep, 1);
	CHECK_INT(g.problems[OCB_RET_REFS_UNKNOWN], 0);
}

/* K and its replacement K' kept together each keep what they read: K
 * reads the old object, K' the moved bytes; an older backup nothing
 * reads goes */
static void test_reach_replacement(void)
{
	struct ocb_ret_policy p = { .last = 1 };
	struct graph g;

	graph_init(&g, 4);	/* 0: unrelated, 1: old full, 2: moved, 3: K */
	snprintf(g.names[2], sizeof(g.names[2]), "%s",
		 "openclaw-aws-backup-2026-11-04T00-00-00Z-repack1");
	g.v[2].time = g.v[3].time;
	graph_ref(&g, 3, 1, 0);		/* K reads the old full */
	graph_ref(&g, 2, 0, 0);		/* K' reads where bytes were moved */
	CHECK_INT(plan_and_reach(&g, &p), 0);
	CHECK_INT(g.v[3].keep && g.v[2].keep, 1);
	CHECK_INT(g.v[2].needed + g.v[3].needed, 0);
	CHECK_INT(g.v[1].keep && g.v[1].needed, 1);
	CHECK_INT(g.v[0].keep && g.v[0].needed, 1);
	CHECK_STR(g.v[0].why,
		  "needed by openclaw-aws-backup-2026-11-04T00-00-00Z-repack1");
	CHECK_STR(g.v[2].why, "newest, last 1");
	CHECK_STR(g.v[3].why, "newest, last 1");
}

int main(void)
{
	test_last();
	test_daily();
	test_weekly_across_the_year_end();
	test_monthly_and_yearly();
	test_within_labels_pins();
	test_old_tool_names_and_ties();
	test_empty_policy_and_newest();
	test_parsing();
	test_untrusted();
	test_refused();
	test_just_taken();
	test_replacements_count_once();
	test_replacement_names();
	test_reach_chain();
	test_reach_diamond_and_cycle();
	test_reach_refused();
	test_reach_missing_and_replaced();
	test_reach_asks_to_open();
	test_reach_unreadable();
	test_reach_replacement();
	return T_DONE();
}
