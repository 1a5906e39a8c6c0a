/* KVM's own per-vCPU statistics (KVM_GET_STATS_FD, api.rst "binary
 * statistics"): how tern proves a fast path costs no exits to userspace. */
#ifndef TERN_CORE_STATS_H
#define TERN_CORE_STATS_H

#include <stdint.h>
#include <stdio.h>

/* The counters tern reports; names as KVM spells them. */
#define STATS_NAMES { "exits", "io_exits", "mmio_exits", "halt_exits", \
		      "irq_exits", "signal_exits" }
#define STATS_N 6

struct vcpu_stats {
	uint64_t v[STATS_N];
	uint32_t found;			/* bit i: KVM has counter i */
};

/* Opens a vCPU's statistics (once); -errno where KVM has none. */
int stats_open(int vcpu_fd);
/* Reads the counters from an fd stats_open gave. */
int stats_read(int stats_fd, struct vcpu_stats *s);
/* {"vcpu0": {"exits": N, ...}, ...} with a total. */
void stats_write_json(FILE *f, const struct vcpu_stats *s, unsigned int n);

#endif
