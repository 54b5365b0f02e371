/* Unit tests: the link estimate (round trip, per-connection throughput)
 * from timed requests, and the request size it asks for. */
#include "t.h"
#include "link_est.h"

#include <stdint.h>

int main(void)
{
	struct ocb_link_est *l = NULL;
	uint64_t rtt, rate;
	int i;

	CHECK_INT(ocb_link_est_new(&l), 0);
	/* not measured yet: the floor */
	CHECK_INT(ocb_link_est_units(l, 500000, 8, 32), 8);
	ocb_link_est_get(l, &rtt, &rate);
	CHECK_INT(rtt, 0);
	CHECK_INT(rate, 0);

	/* 30 ms away, 40 MB/s per connection: a small request is nearly
	 * all round trip, 4 MB take 30 + 100 ms */
	ocb_link_est_sample(l, 100000, 30000);
	for (i = 0; i < 20; i++)
		ocb_link_est_sample(l, 4000000, 130000);
	ocb_link_est_get(l, &rtt, &rate);
	CHECK(rtt >= 30000 && rtt < 40000);
	CHECK(rate > 35000000 && rate < 45000000);
	/* 2 x BDP = ~2.4 MB: 5 frames of 0.5 MB, or the floor, or the cap */
	CHECK(ocb_link_est_units(l, 500000, 1, 32) >= 4 &&
	      ocb_link_est_units(l, 500000, 1, 32) <= 6);
	CHECK_INT(ocb_link_est_units(l, 500000, 8, 32), 8);
	CHECK_INT(ocb_link_est_units(l, 10000, 8, 32), 32);

	/* 100 ms away: the request grows with the product */
	ocb_link_est_free(l);
	CHECK_INT(ocb_link_est_new(&l), 0);
	ocb_link_est_sample(l, 100000, 100000);
	for (i = 0; i < 20; i++)
		ocb_link_est_sample(l, 8000000, 300000);
	CHECK(ocb_link_est_units(l, 500000, 8, 32) >= 14 &&
	      ocb_link_est_units(l, 500000, 8, 32) <= 18);
	ocb_link_est_free(l);
	ocb_link_est_free(NULL);
	return T_DONE();
}
