/*
 * test_repack.c - repack plans against small tables: live bytes as the
 * union of what kept backups read, the live share and minimum rule, the
 * kept backups replaced (transitively), a plan not worth making, and a
 * kept backup whose reads are unknown, a pinned reader, and files a
 * newer full backup holds, which do not keep the old full (rule 3), a
 * small backup kept for its bytes reading a repacked one; bytes in the
 * store (frame by frame; the catalog dead), small objects repacked
 * together (the daily chain pruned), and the former per-object rule
 * when it frees more.
 */
#include "t.h"
#include "repack.h"

#include <string.h>

#define MiB (1ull << 20)

static const struct ocb_repack_policy pol = { 50, 4 * MiB };

/* old: 100 MiB full; mid: 10 MiB; new1, new2 kept, reading from them */
static void test_chain(void)
{
	const char *r_new1[] = { "old", "mid" }, *r_new2[] = { "new1", "old" };
	struct ocb_repack_seg s_new1[] = {
		{ 0, 0, 10 * MiB }, { 0, 5 * MiB, 10 * MiB },	/* 15 MiB */
		{ 1, 0, 8 * MiB },
	};
	struct ocb_repack_seg s_new2[] = { { 0, 0, MiB }, { 1, 0, 2 * MiB } };
	struct ocb_repack_item v[] = {
		{ .name = "old", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 100 * MiB, .object_size = 40 * MiB },
		{ .name = "mid", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 10 * MiB, .object_size = 4 * MiB },
		{ .name = "new1", .native = 1, .keep = 1, .opened = 1,
		  .stored = 3 * MiB, .object_size = MiB, .ref_names = r_new1,
		  .nrefs = 2, .seg = s_new1, .nseg = 3 },
		{ .name = "new2", .native = 1, .keep = 1, .opened = 1,
		  .stored = 2 * MiB, .object_size = MiB, .ref_names = r_new2,
		  .nrefs = 2, .seg = s_new2, .nseg = 2 },
		{ .name = "gone", .native = 1, .opened = 1, .stored = 9 * MiB },
	};
	struct ocb_repack_totals t;

	CHECK_INT(ocb_repack_plan(v, 5, &pol, &t), 0);
	CHECK_INT((int)(v[0].live / MiB), 15);	/* 0-15 MiB, once */
	CHECK_INT(v[0].repack, 1);
	CHECK_INT((int)(v[1].live / MiB), 8);
	CHECK_INT(v[1].repack, 0);		/* 80% live */
	CHECK_INT(v[2].rewrite, 1);
	CHECK_INT(v[3].rewrite, 1);		/* reads old and new1 */
	CHECK_INT(v[4].repack + v[4].rewrite, 0);
	CHECK_INT((int)t.repacked, 1);
	CHECK_INT((int)t.rewritten, 2);
	/* in the store: old's 15 MiB live take 6 of its 40 MiB */
	CHECK_INT((int)(v[0].live_object / MiB), 6);
	CHECK_INT((int)(t.dead / MiB), 40 - 6);
	CHECK_INT((int)(t.written / MiB), 6 + 1 + 1);
	CHECK_INT((int)(t.object_bytes / MiB), 42);
	CHECK_INT(t.worth, 1);

	/* under the minimum: nothing */
	{
		struct ocb_repack_policy big = { 50, 100 * MiB };

		CHECK_INT(ocb_repack_plan(v, 5, &big, &t), 0);
		CHECK_INT(t.worth, 0);
		CHECK_INT(v[0].repack + v[2].rewrite, 0);
	}
	/* a kept backup that did not open: what it reads is unknown */
	v[3].opened = 0;
	CHECK_INT(ocb_repack_plan(v, 5, &pol, &t), 0);
	CHECK_INT(t.repacked, 0);
	v[3].opened = 1;
	/* new1 pinned: never replaced, so old (which it reads) stays, and
	 * nothing is worth repacking */
	v[2].pinned = 1;
	CHECK_INT(ocb_repack_plan(v, 5, &pol, &t), 0);
	CHECK_INT(v[0].repack + v[2].rewrite + v[3].rewrite, 0);
	CHECK_INT(t.repacked, 0);
	v[2].pinned = 0;
	/* 0%: repacking is off */
	{
		struct ocb_repack_policy off = { 0, 0 };

		CHECK_INT(ocb_repack_plan(v, 5, &off, &t), 0);
		CHECK_INT(t.repacked, 0);
	}
}

/* mostly dead, yet the kept backup replaced stores more than it frees */
static void test_not_worth(void)
{
	const char *refs[] = { "old" };
	struct ocb_repack_seg seg[] = { { 0, 0, 4 * MiB } };
	struct ocb_repack_item v[] = {
		{ .name = "old", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 10 * MiB },
		{ .name = "new", .native = 1, .keep = 1, .opened = 1,
		  .stored = 90 * MiB, .ref_names = refs, .nrefs = 1,
		  .seg = seg, .nseg = 1 },
	};
	struct ocb_repack_totals t;
	struct ocb_repack_policy p = { 50, MiB };

	CHECK_INT(ocb_repack_plan(v, 2, &p, &t), 0);
	CHECK_INT((int)(t.dead / MiB), 6);
	CHECK_INT((int)(t.written / MiB), 94);
	CHECK_INT(t.worth, 0);
	CHECK_INT(v[0].repack + v[1].rewrite, 0);
}

/* old full (20 MiB, 16 MiB of one file a kept incremental reads); new:
 * a newer full kept by the rule, storing the same file: old is read only
 * for 1 MiB of headers, so it goes and inc's replacement reads the file
 * in new; not so when new is kept only because a kept one reads it */
static void test_held(void)
{
	static const uint8_t key_a[OCB_REPACK_KEY_LEN] = { 'a' };
	static const uint8_t key_b[OCB_REPACK_KEY_LEN] = { 'b' };
	const char *r_inc[] = { "old" };
	struct ocb_repack_seg s_inc[] = { { 0, 0, MiB }, { 0, MiB, 16 * MiB },
					  { 0, 17 * MiB, MiB } };
	const uint8_t *k_inc[] = { NULL, key_a, key_b };
	struct ocb_repack_seg s_new[] = { { OCB_REPACK_SELF, 4 * MiB,
					    16 * MiB } };
	const uint8_t *k_new[] = { key_a };
	struct ocb_repack_item v[] = {
		{ .name = "old", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 20 * MiB, .object_size = 20 * MiB },
		{ .name = "inc", .native = 1, .keep = 1, .opened = 1,
		  .stored = MiB, .object_size = MiB, .ref_names = r_inc,
		  .nrefs = 1, .seg = s_inc, .nseg = 3, .seg_key = k_inc },
		{ .name = "new", .native = 1, .keep = 1, .opened = 1,
		  .stored = 30 * MiB, .object_size = 30 * MiB, .seg = s_new,
		  .nseg = 1, .seg_key = k_new },
	};
	struct ocb_repack_totals t;

	CHECK_INT(ocb_repack_plan(v, 3, &pol, &t), 0);
	CHECK_INT(v[2].holds, 1);
	CHECK_INT(v[1].holds, 0);		/* reads a needed one */
	CHECK_INT((int)(v[0].live / MiB), 2);	/* key_b is held nowhere */
	CHECK_INT(v[0].repack, 1);
	CHECK_INT(v[1].rewrite, 1);
	CHECK_INT((int)(t.written / MiB), 2 + 1);
	CHECK_INT(t.worth, 1);

	/* new kept only for its bytes: it does not hold, old is 90% live */
	v[2].needed = 1;
	CHECK_INT(ocb_repack_plan(v, 3, &pol, &t), 0);
	CHECK_INT(v[2].holds, 0);
	CHECK_INT(v[0].repack + v[1].rewrite, 0);
}

/* a small incremental kept only for its bytes, reading the repacked full:
 * it goes either way, so it is repacked (its live bytes moved) rather
 * than replaced (its whole stream written again) */
static void test_needed_reader(void)
{
	const char *r_mid[] = { "old" }, *r_new[] = { "old", "mid" };
	struct ocb_repack_seg s_mid[] = { { 0, 0, MiB } };
	struct ocb_repack_seg s_new[] = { { 0, 0, MiB }, { 1, 0, MiB } };
	struct ocb_repack_item v[] = {
		{ .name = "old", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 20 * MiB },
		{ .name = "mid", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 3 * MiB, .ref_names = r_mid,
		  .nrefs = 1, .seg = s_mid, .nseg = 1 },
		{ .name = "new", .native = 1, .keep = 1, .opened = 1,
		  .stored = MiB, .ref_names = r_new, .nrefs = 2,
		  .seg = s_new, .nseg = 2 },
	};
	struct ocb_repack_totals t;

	CHECK_INT(ocb_repack_plan(v, 3, &pol, &t), 0);
	CHECK_INT(v[0].repack, 1);
	CHECK_INT(v[1].repack, 1);
	CHECK_INT(v[1].rewrite, 0);
	CHECK_INT(v[2].rewrite, 1);
	CHECK_INT((int)(v[1].live / MiB), 1);
	CHECK_INT((int)(t.written / MiB), 1 + 1 + 1);
}

#define KiB 1024ull
#define DAYS 24
#define KEPT 7

/* a full backup (35 MiB in the store, 74% of its stream read) and DAYS
 * daily objects of dropped backups, each 2355 KiB of which its two
 * frames take 400 KiB and its catalog the rest, kept because the KEPT
 * daily backups read 384 KiB of each stream (100 KiB of the frames):
 * no object frees 4 MiB on its own, together they free 24 x 2255 KiB */
static void test_daily_together(void)
{
	static const struct ocb_repack_frame fr[] = {
		{ 300 * KiB, 1024 * KiB }, { 100 * KiB, 512 * KiB },
	};
	static char names[DAYS][16];
	const char *refs[DAYS + 2];
	struct ocb_repack_seg seg[2 * DAYS + 2];
	struct ocb_repack_item v[1 + DAYS + KEPT];
	struct ocb_repack_totals t;
	size_t i, n = 1 + DAYS + KEPT;

	memset(v, 0, sizeof(v));
	v[0] = (struct ocb_repack_item){ .name = "full", .native = 1,
		.keep = 1, .needed = 1, .opened = 1, .stored = 100 * MiB,
		.object_size = 35 * MiB };
	refs[0] = "full";
	seg[0] = (struct ocb_repack_seg){ 0, 0, 74 * MiB };
	for (i = 1; i <= DAYS; i++) {
		snprintf(names[i - 1], sizeof(names[0]), "day%02zu", i);
		v[i] = (struct ocb_repack_item){ .name = names[i - 1],
			.native = 1, .keep = 1, .needed = 1, .opened = 1,
			.stored = 1536 * KiB, .object_size = 2355 * KiB,
			.frames = fr, .nframes = 2 };
		refs[i] = names[i - 1];
		/* 256 KiB of frame 0, 128 KiB of frame 1 */
		seg[2 * i - 1] = (struct ocb_repack_seg){ (uint32_t)i,
			512 * KiB, 256 * KiB };
		seg[2 * i] = (struct ocb_repack_seg){ (uint32_t)i,
			1024 * KiB, 128 * KiB };
	}
	refs[DAYS + 1] = "kept0";
	seg[2 * DAYS + 1] = (struct ocb_repack_seg){ DAYS + 1, 0, 64 * KiB };
	for (i = 0; i < KEPT; i++) {
		static char kn[KEPT][16];

		snprintf(kn[i], sizeof(kn[0]), "kept%zu", i);
		/* the first reads the full and the days, the others kept0
		 * too */
		v[1 + DAYS + i] = (struct ocb_repack_item){ .name = kn[i],
			.native = 1, .keep = 1, .opened = 1,
			.stored = MiB, .object_size = 2355 * KiB,
			.ref_names = refs, .nrefs = i ? DAYS + 2 : DAYS + 1,
			.seg = seg, .nseg = i ? 2 * DAYS + 2 : 2 * DAYS + 1 };
	}
	CHECK_INT(ocb_repack_plan(v, n, &pol, &t), 0);
	CHECK_INT(v[0].repack, 0);		/* 74% live */
	for (i = 1; i <= DAYS; i++) {
		CHECK_INT(v[i].repack, 1);
		CHECK_INT((int)(v[i].live / KiB), 384);
		CHECK_INT((int)(v[i].live_object / KiB), 75 + 25);
	}
	for (i = 0; i < KEPT; i++)
		CHECK_INT(v[1 + DAYS + i].rewrite, 1);
	CHECK_INT(t.worth, 1);
	CHECK_INT(t.together, 1);
	CHECK_INT((int)(t.dead / KiB), DAYS * 2255);
	CHECK_INT((int)(t.written / KiB), DAYS * 100 + KEPT * 2355);

	/* the plan's minimum not reached: nothing */
	{
		struct ocb_repack_policy big = { 50, 64 * MiB };

		CHECK_INT(ocb_repack_plan(v, n, &big, &t), 0);
		CHECK_INT(t.worth, 0);
		CHECK_INT(v[1].repack + v[1 + DAYS].rewrite, 0);
	}
	/* without the frames, a day's stream would be its whole object:
	 * 384 KiB of 1536 live take 25% of it, still repacked */
	for (i = 1; i <= DAYS; i++)
		v[i].frames = NULL;
	CHECK_INT(ocb_repack_plan(v, n, &pol, &t), 0);
	CHECK_INT((int)(v[1].live_object / KiB), 2355 / 4);
	CHECK_INT(v[1].repack, 1);
	CHECK_INT(t.worth, 1);
}

/* big: mostly dead, read by a; small: mostly dead, read by b, whose
 * replacement costs more than small frees: the former rule's plan (big
 * alone) frees more net, and stands */
static void test_alone_better(void)
{
	const char *r_a[] = { "big" }, *r_b[] = { "small" };
	struct ocb_repack_seg s_a[] = { { 0, 0, MiB } };
	struct ocb_repack_seg s_b[] = { { 0, 0, 100 * KiB } };
	struct ocb_repack_item v[] = {
		{ .name = "big", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 20 * MiB, .object_size = 20 * MiB },
		{ .name = "small", .native = 1, .keep = 1, .needed = 1,
		  .opened = 1, .stored = 2 * MiB, .object_size = 2 * MiB },
		{ .name = "a", .native = 1, .keep = 1, .opened = 1,
		  .stored = MiB, .object_size = MiB, .ref_names = r_a,
		  .nrefs = 1, .seg = s_a, .nseg = 1 },
		{ .name = "b", .native = 1, .keep = 1, .opened = 1,
		  .stored = 10 * MiB, .object_size = 10 * MiB,
		  .ref_names = r_b, .nrefs = 1, .seg = s_b, .nseg = 1 },
	};
	struct ocb_repack_totals t;

	CHECK_INT(ocb_repack_plan(v, 4, &pol, &t), 0);
	CHECK_INT(t.worth, 1);
	CHECK_INT(t.together, 0);
	CHECK_INT(v[0].repack, 1);
	CHECK_INT(v[1].repack, 0);
	CHECK_INT(v[2].rewrite, 1);
	CHECK_INT(v[3].rewrite, 0);
	CHECK_INT((int)(t.dead / MiB), 19);
	CHECK_INT((int)(t.written / MiB), 2);
}

int main(void)
{
	test_daily_together();
	test_alone_better();
	test_needed_reader();
	test_chain();
	test_not_worth();
	test_held();
	return T_DONE();
}
