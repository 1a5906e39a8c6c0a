/* Per-vCPU CPUID: KVM's supported leaves with the vCPU's APIC id and the
 * VM's topology (core/topology.h) in the leaves that describe them. */
#ifndef TERN_CORE_CPUID_H
#define TERN_CORE_CPUID_H

#include "core/topology.h"

#include <linux/kvm.h>
#include <stdbool.h>

/* Patches C for vCPU INDEX of topology T. */
void cpuid_patch(struct kvm_cpuid2 *c, const struct cpu_topology *t,
		 unsigned int index, bool tsc_deadline);

#endif
