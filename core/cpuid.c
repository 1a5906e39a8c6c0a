#include "core/cpuid.h"

#include <string.h>

#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)

static unsigned int order(unsigned int n)
{
	unsigned int bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

static bool is_amd(const struct kvm_cpuid2 *c)
{
	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0)
			return c->entries[i].ebx == 0x68747541; /* "Auth" */
	return false;
}

void cpuid_patch(struct kvm_cpuid2 *c, unsigned int apic_id,
		 unsigned int ncpus, bool tsc_deadline)
{
	unsigned int core_bits = order(ncpus);
	bool amd = is_amd(c);

	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (apic_id << 24) |
				 ((ncpus & 0xff) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Cores per package, and who shares each cache:
			 * L1/L2 per core, L3 by all. */
			if (amd)
				break;
			e->eax &= 0x3fff;
			e->eax |= (ncpus - 1) << 26;
			if (((e->eax >> 5) & 7) >= 3)
				e->eax |= (ncpus - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			/* Level 0: one thread per core; level 1: cores. */
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 1 << 8;
			} else if (e->index == 1) {
				e->eax = core_bits;
				e->ebx = ncpus;
				e->ecx = 1 | 2 << 8;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			if (amd)
				e->ecx = (core_bits << 12) | (ncpus - 1);
			break;
		default:
			break;
		}
	}
}
