/* Per-vCPU CPUID: KVM's supported leaves with APIC id and topology set for
 * `ncpus` single-thread cores in one package. */
#ifndef TERN_CORE_CPUID_H
#define TERN_CORE_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

void cpuid_patch(struct kvm_cpuid2 *c, unsigned int apic_id,
		 unsigned int ncpus, bool tsc_deadline);

#endif
