#include "core/cpuid.h"

#include <string.h>

#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)

/* Leaf 0xB/0x1F level types (ECX[15:8]). */
#define LEVEL_END 0
#define LEVEL_SMT 1
#define LEVEL_CORE 2
#define LEVEL_DIE 5

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c,
				     unsigned int function)
{
	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function == function)
			return &c->entries[i];
	return NULL;
}

/* AMD's leaves, and Hygon's (the same family of parts). */
static bool is_amd(struct kvm_cpuid2 *c)
{
	const struct kvm_cpuid_entry2 *e = find(c, 0);

	return e && (e->ebx == 0x68747541 ||	/* "Auth"enticAMD */
		     e->ebx == 0x6f677948);	/* "Hygo"nGenuine */
}

/* Leaf FUNCTION (0xB or 0x1F) whole: one subleaf per level, from the SMT
 * level up, each with the shift to the next level's id and the logical
 * processors up to it; then the end. KVM's own entries for it (subleaf 0,
 * zeroed; older kernels copied the host's levels) were dropped first. */
static void extended_topology(struct kvm_cpuid2 *c, unsigned int function,
			      const struct cpu_topology *t,
			      const struct topology_bits *b,
			      unsigned int apic_id)
{
	unsigned int per_core = t->threads, per_die = per_core * t->cores;
	bool die = function == 0x1f && t->dies > 1;
	struct { unsigned int shift, count, type; } level[] = {
		{ b->thread, per_core, LEVEL_SMT },
		{ die ? b->thread + b->core : b->pkg_shift,
		  die ? per_die : per_die * t->dies, LEVEL_CORE },
		{ b->pkg_shift, per_die * t->dies, LEVEL_DIE },
		{ 0, 0, LEVEL_END },
	};

	for (unsigned int i = 0; i < 4; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
		unsigned int l = i < 2 || die ? i : 3;

		*e = (struct kvm_cpuid_entry2){
			.function = function,
			.index = i,
			.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.eax = level[l].shift,
			.ebx = level[l].count & 0xffff,
			.ecx = i | level[l].type << 8,
			.edx = apic_id,
		};
		if (level[l].type == LEVEL_END)
			break;
	}
}

void cpuid_patch(struct kvm_cpuid2 *c, const struct cpu_topology *t,
		 unsigned int index, bool tsc_deadline, unsigned int phys_bits)
{
	struct topology_bits b = topology_bits(t);
	unsigned int apic_id = topology_apic_id(t, index);
	/* Logical processors a package has room for, and has. */
	unsigned int pkg_ids = 1U << b.pkg_shift;
	unsigned int per_pkg = t->threads * t->cores * t->dies;
	struct kvm_cpuid_entry2 *leaf0 = find(c, 0);
	unsigned int max_basic = leaf0 ? leaf0->eax : 0, n = 0;
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
			 * for, less one (6 bits: 63 at most, so past 64
			 * core ids only leaf 0xB tells them), and the ids
			 * that share each cache, less one: L1 and L2 a
			 * core's threads, L3 the package. */
			if (amd || !(e->eax & 0x1f))
				break;
			e->eax &= 0x3fff;
			e->eax |= min_u((1U << (b.core + b.die)) - 1, 63) << 26;
			e->eax |= ((cache_level >= 3 ? pkg_ids :
				    1U << b.thread) - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			continue;		/* written whole below */
		case 0x80000008:
			/* The physical address width (EAX bits 7:0), and
			 * the guest-physical width (23:16: what KVM can
			 * map, on Intel too; 0: the same), down to
			 * PHYS_BITS. */
			if (phys_bits && phys_bits < (e->eax & 0xff))
				e->eax = (e->eax & ~0xffU) | phys_bits;
			if (phys_bits && phys_bits < ((e->eax >> 16) & 0xff))
				e->eax = (e->eax & ~0xff0000U) | phys_bits << 16;
			/* AMD: the APIC id bits below the package, and
			 * the threads in it less one. */
			if (amd)
				e->ecx = (e->ecx & ~0xf0ffU) |
					 (b.pkg_shift & 0xf) << 12 |
					 ((per_pkg - 1) & 0xff);
			break;
		case 0x8000001d:
			/* AMD's caches: the ids sharing each, less one: L1
			 * and L2 a core's, L3 a die's (Linux takes the
			 * cache's id as the APIC id shifted by the order
			 * of this count, so it counts ids, not threads). */
			if (amd && (e->eax & 0x1f)) {
				e->eax &= ~(0xfffU << 14);
				e->eax |= ((1U << (cache_level >= 3 ?
						   b.thread + b.core :
						   b.thread)) - 1) << 14;
			}
			break;
		case 0x8000001e:
			/* AMD: the extended APIC id; threads per core less
			 * one and the core's id; nodes (dies) per package
			 * less one (3 bits) and the node's id across the
			 * VM. */
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
		c->entries[n++] = *e;
	}
	c->nent = n;
	leaf0 = find(c, 0);
	/* Dies are told only by leaf 0x1F: an Intel host's table may end
	 * below it (AMD guests learn them from 0x8000001E). */
	if (!amd && t->dies > 1 && leaf0 && max_basic < 0x1f)
		leaf0->eax = max_basic = 0x1f;
	if (max_basic >= 0xb)
		extended_topology(c, 0xb, t, &b, apic_id);
	if (max_basic >= 0x1f)
		extended_topology(c, 0x1f, t, &b, apic_id);
}

unsigned int cpuid_phys_bits(const struct kvm_cpuid2 *c)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		unsigned int eax = c->entries[i].eax;
		unsigned int phys = eax & 0xff, gpa = (eax >> 16) & 0xff;

		if (c->entries[i].function == 0x80000008 && phys)
			return gpa && gpa < phys ? gpa : phys;
	}
	return 36;
}
