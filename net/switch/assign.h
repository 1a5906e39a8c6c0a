/* Which worker lcore polls which RX queue of a port: the documented rule.
 *
 *   1. A port's `lcores` list, when given, decides: queue q goes to
 *      lcores[q % n]. Every id must be a worker lcore.
 *   2. Otherwise each queue in turn goes to the worker with the fewest RX
 *      queues so far among those on the port's NUMA node (its `numa`
 *      option, else the device's: the node of a vhost guest's RAM, of an
 *      ethdev's device); ties go to the lowest lcore id. When the node is
 *      unknown or has no worker, all workers are candidates (and the
 *      caller says so in its log).
 * Loads count RX queues only: a queue's TX side follows the lcores that
 * forward into it. Plain C: tests/unit/test_switch_assign.c runs it. */
#ifndef TERN_NET_SWITCH_ASSIGN_H
#define TERN_NET_SWITCH_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sw_assign_lcore {
	uint16_t id;		/* lcore id */
	int node;		/* its NUMA node */
	uint32_t load;		/* RX queues it polls (updated) */
};

/* Picks a worker for each of NQ queues of a port on NODE (-1: unknown)
 * with OVERRIDE[0..NOVERRIDE) (NOVERRIDE 0: the rule). OUT[q] is an index
 * into LC; loads grow by what was assigned. *OFF_NODE says the rule had
 * to leave the node. 0, or -EINVAL with ERR naming a bad override. */
int sw_assign(struct sw_assign_lcore *lc, unsigned int nlc, int node,
	      const uint16_t *override, unsigned int noverride,
	      unsigned int nq, uint16_t *out, bool *off_node, char *err,
	      size_t errlen);

#endif
