#include "core/topology.h"

static unsigned int order(unsigned int n)
{
	unsigned int bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

struct topology_bits topology_bits(const struct cpu_topology *t)
{
	struct topology_bits b = {
		.thread = order(t->threads),
		.core = order(t->cores),
		.die = order(t->dies),
	};

	b.pkg_shift = b.thread + b.core + b.die;
	return b;
}

unsigned int topology_count(const struct cpu_topology *t)
{
	unsigned long long n = 1;
	const unsigned int level[] = { t->threads, t->cores, t->dies,
				       t->packages };

	for (unsigned int i = 0; i < sizeof(level) / sizeof(level[0]); i++) {
		if (!level[i] || level[i] > 65535)
			return 0;
		n *= level[i];
		if (n > 65535)
			return 0;
	}
	return (unsigned int)n;
}

unsigned int topology_apic_id(const struct cpu_topology *t,
			      unsigned int index)
{
	struct topology_bits b = topology_bits(t);
	unsigned int thread = index % t->threads;
	unsigned int core = index / t->threads % t->cores;
	unsigned int die = index / t->threads / t->cores % t->dies;
	unsigned int pkg = index / t->threads / t->cores / t->dies;

	return pkg << b.pkg_shift | die << (b.thread + b.core) |
	       core << b.thread | thread;
}

unsigned int topology_apic_limit(const struct cpu_topology *t)
{
	return topology_apic_id(t, topology_count(t) - 1) + 1;
}

bool topology_valid(const struct cpu_topology *t, unsigned int *last)
{
	unsigned int n = topology_count(t);

	if (!n)
		return false;
	/* Rounding each level up to a power of two at most doubles it, so
	 * with the product under 2^16 every id stays under 2^19. */
	*last = topology_apic_id(t, n - 1);
	return *last <= TOPOLOGY_APIC_ID_MAX;
}
