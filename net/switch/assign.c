/* The lcore assignment rule (see assign.h). */
#include "net/switch/assign.h"

#include <errno.h>
#include <stdio.h>

int sw_assign(struct sw_assign_lcore *lc, unsigned int nlc, int node,
	      const uint16_t *override, unsigned int noverride,
	      unsigned int nq, uint16_t *out, bool *off_node, char *err,
	      size_t errlen)
{
	bool any_on_node = false;

	*off_node = false;
	if (!nlc) {
		snprintf(err, errlen, "no worker lcores");
		return -EINVAL;
	}
	if (noverride) {
		for (unsigned int q = 0; q < nq; q++) {
			uint16_t want = override[q % noverride];
			unsigned int i;

			for (i = 0; i < nlc && lc[i].id != want; i++)
				;
			if (i == nlc) {
				snprintf(err, errlen, "lcores: %u is not a "
					 "worker lcore", want);
				return -EINVAL;
			}
			out[q] = (uint16_t)i;
		}
		for (unsigned int q = 0; q < nq; q++)
			lc[out[q]].load++;
		return 0;
	}
	for (unsigned int i = 0; i < nlc && node >= 0; i++)
		any_on_node |= lc[i].node == node;
	*off_node = !any_on_node;
	for (unsigned int q = 0; q < nq; q++) {
		int best = -1;

		for (unsigned int i = 0; i < nlc; i++) {
			if (any_on_node && lc[i].node != node)
				continue;
			if (best < 0 || lc[i].load < lc[best].load ||
			    (lc[i].load == lc[best].load &&
			     lc[i].id < lc[best].id))
				best = (int)i;
		}
		out[q] = (uint16_t)best;
		lc[best].load++;
	}
	return 0;
}
