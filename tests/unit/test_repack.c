/*
 * test_repack.c - repack plans against small tables: live bytes as the
 * union of what kept backups read, the live share and minimum rule, the
 * kept backups replaced (transitively), a plan not worth making, and a
 * kept backup whose reads are unknown, a pinned reader, and files a
 * newer full backup holds, which do not keep the old full (rule 3), a
 * small backup kept for its bytes reading a repacked one.
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
	CHECK_INT((int)(t.dead / MiB), 85);
	CHECK_INT((int)(t.written / MiB), 15 + 3 + 2);
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

int main(void)
{
	test_needed_reader();
	test_chain();
	test_not_worth();
	test_held();
	return T_DONE();
}
