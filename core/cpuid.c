#include "core/cpuid.h"

#include <string.h>

#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)

/* Leaf 0xB/0x1F level types (ECX[15:8]). */
#define LEVEL_SMT 1
#define LEVEL_CORE 2
#define LEVEL_DIE 5

static bool is_amd(const struct kvm_cpuid2 *c)
{
	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0)
			return c->entries[i].ebx == 0x68747541; /* "Auth" */
	return false;
}

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

/* One level of leaf 0xB or 0x1F: the shift to the next level's id, the
 * logical processors at this level, its type. */
static void level(struct kvm_cpuid_entry2 *e, unsigned int shift,
		  unsigned int count, unsigned int type)
{
	e->eax = shift;
	e->ebx = count & 0xffff;
	e->ecx = (e->index & 0xff) | type << 8;
}

/* Leaf 0xB has SMT and core levels only, the core's shift reaching the
 * package; 0x1F adds the die between them. */
static void extended_topology(struct kvm_cpuid_entry2 *e,
			      const struct cpu_topology *t,
			      const struct topology_bits *b, bool dies)
{
	unsigned int per_core = t->threads, per_die = per_core * t->cores;

	if (e->index == 0) {
		level(e, b->thread, per_core, LEVEL_SMT);
	} else if (e->index == 1) {
		level(e, dies ? b->thread + b->core : b->pkg_shift,
		      dies ? per_die : per_die * t->dies, LEVEL_CORE);
	} else if (e->index == 2 && dies) {
		level(e, b->pkg_shift, per_die * t->dies, LEVEL_DIE);
	} else {
		e->eax = e->ebx = 0;
		e->ecx = e->index & 0xff;	/* type 0: no more levels */
	}
}

void cpuid_patch(struct kvm_cpuid2 *c, const struct cpu_topology *t,
		 unsigned int index, bool tsc_deadline)
{
	struct topology_bits b = topology_bits(t);
	unsigned int apic_id = topology_apic_id(t, index);
	/* Logical processors a package has room for, and has. */
	unsigned int pkg_ids = 1U << b.pkg_shift;
	unsigned int per_pkg = t->threads * t->cores * t->dies;
	bool amd = is_amd(c);

	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		unsigned int cache_level = (e->eax >> 5) & 7;

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (apic_id << 24) |
				 (min_u(pkg_ids, 255) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (pkg_ids > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Intel's caches: the core ids a package has room
			 * for, and the ids that share each cache: L1 and
			 * L2 a core's threads, L3 the package. */
			if (amd || !(e->eax & 0x1f))
				break;
			e->eax &= 0x3fff;
			e->eax |= min_u((1U << (b.core + b.die)) - 1, 63) << 26;
			e->eax |= ((cache_level >= 3 ? pkg_ids :
				    1U << b.thread) - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			e->edx = apic_id;
			extended_topology(e, t, &b, e->function == 0x1f);
			break;
		case 0x80000008:
			/* AMD: the APIC id bits below the package, and
			 * the threads in it less one. */
			if (amd)
				e->ecx = (e->ecx & ~0xf0ffU) |
					 (b.pkg_shift & 0xf) << 12 |
					 ((per_pkg - 1) & 0xff);
			break;
		case 0x8000001d:
			/* AMD's caches: the threads sharing each, less
			 * one: L1 and L2 a core's, L3 a die's. */
			if (amd && (e->eax & 0x1f)) {
				e->eax &= ~(0xfffU << 14);
				e->eax |= ((cache_level >= 3 ?
					    t->threads * t->cores :
					    t->threads) - 1) << 14;
			}
			break;
		case 0x8000001e:
			/* AMD: the extended APIC id; threads per core less
			 * one and the core's id; dies per package less one
			 * and the die's (node's) id across the VM. */
			if (amd) {
				e->eax = apic_id;
				e->ebx = (t->threads - 1) << 8 |
					 ((apic_id >> b.thread) & 0xff);
				e->ecx = min_u(t->dies - 1, 7) << 8 |
					 ((apic_id >> (b.thread + b.core)) &
					  0xff);
				e->edx = 0;
			}
			break;
		default:
			break;
		}
	}
}
