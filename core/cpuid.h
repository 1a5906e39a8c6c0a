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
 * added. PHYS_BITS, when not 0 and below the host's, is the physical
 * address width the guest is told (leaf 0x80000008). */
void cpuid_patch(struct kvm_cpuid2 *c, const struct cpu_topology *t,
		 unsigned int index, bool tsc_deadline, unsigned int phys_bits);

/* The physical address width C (KVM's supported leaves) gives guests:
 * leaf 0x80000008's (EAX bits 7:0, or 23:16 where KVM says it maps less),
 * or 36 without that leaf. */
unsigned int cpuid_phys_bits(const struct kvm_cpuid2 *c);

#endif
