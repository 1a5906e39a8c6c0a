/* How a VM's vCPUs are grouped: threads in cores, cores in dies, dies in
 * packages. Each level takes whole bits of the xAPIC id, the thread in the
 * lowest ones (Intel SDM vol. 3, "Identifying the Processor Topology";
 * AMD APM vol. 3, CPUID Fn8000_0008 ApicIdSize), so a count that is not a
 * power of two leaves ids unused. vCPU i is thread i % threads of its
 * core, the cores of a die are consecutive, and so on up. */
#ifndef TERN_CORE_TOPOLOGY_H
#define TERN_CORE_TOPOLOGY_H

#include <stdbool.h>

/* xAPIC ids are 8 bits: 255 is the broadcast id and the I/O APIC takes
 * the id above the last vCPU's, so vCPU ids end at 253. */
#define TOPOLOGY_APIC_ID_MAX 253

struct cpu_topology {
	unsigned int threads;		/* per core */
	unsigned int cores;		/* per die */
	unsigned int dies;		/* per package */
	unsigned int packages;
};

/* N single-thread cores in one die of one package: tern's default. */
static inline struct cpu_topology topology_flat(unsigned int n)
{
	return (struct cpu_topology){ 1, n, 1, 1 };
}

/* Bits of the APIC id below each level: the thread's, the core's and the
 * die's; pkg_shift is all three. */
struct topology_bits {
	unsigned int thread, core, die, pkg_shift;
};
struct topology_bits topology_bits(const struct cpu_topology *t);

/* vCPUs in all (0 if a level is 0 or the product passes 65535). */
unsigned int topology_count(const struct cpu_topology *t);

/* The APIC id of vCPU INDEX (below topology_count). */
unsigned int topology_apic_id(const struct cpu_topology *t,
			      unsigned int index);

/* One past the last vCPU's APIC id: where the I/O APIC's id goes, and the
 * bound firmware scans ids below. */
unsigned int topology_apic_limit(const struct cpu_topology *t);

/* Whether every level is at least 1 and the last vCPU's APIC id is at
 * most TOPOLOGY_APIC_ID_MAX; *last gets that id (when the count is
 * sane). */
bool topology_valid(const struct cpu_topology *t, unsigned int *last);

#endif
