/* Per-vCPU CPUID: KVM's supported leaves with the vCPU's APIC id and the
 * VM's topology (core/topology.h) in the leaves that describe them. */
#ifndef TERN_CORE_CPUID_H
#define TERN_CORE_CPUID_H

#include "core/topology.h"

#include <linux/kvm.h>
#include <stdbool.h>

/* Entries cpuid_patch may add: KVM hands out leaves 0xB and 0x1F with
 * subleaf 0 only (zeroed), so tern writes them whole: 0xB's SMT and core
 * levels and its end, 0x1F's SMT, core and die levels and its end. */
#define CPUID_PATCH_EXTRA 7

/* Patches C for vCPU INDEX of topology T. C must have room for
 * CPUID_PATCH_EXTRA entries past c->nent; c->nent grows by what was
 * added. */
void cpuid_patch(struct kvm_cpuid2 *c, const struct cpu_topology *t,
		 unsigned int index, bool tsc_deadline);

#endif
