/* core/topology and core/cpuid: APIC ids by topology, and the CPUID
 * leaves that tell a guest its vCPU's place (Intel's leaves 1, 4, 0xB,
 * 0x1F; AMD's 1, 0xB, 0x80000008, 0x8000001D, 0x8000001E). */
#include "check.h"
#include "core/cpuid.h"
#include "core/topology.h"

#include <string.h>

#define AMD 0x68747541			/* "Auth" */
#define INTEL 0x756e6547		/* "Genu" */

static void test_apic_ids(void)
{
	struct cpu_topology flat = topology_flat(4);
	struct cpu_topology odd = { 1, 3, 1, 2 };	/* 2 bits per core */
	struct cpu_topology all = { 2, 3, 3, 2 };	/* 1, 2, 2 bits */
	struct topology_bits b = topology_bits(&all);
	unsigned int last;

	for (unsigned int i = 0; i < 4; i++)
		CHECK_EQ(topology_apic_id(&flat, i), i);
	CHECK_EQ(topology_count(&odd), 6);
	CHECK_EQ(topology_apic_id(&odd, 2), 2);
	CHECK_EQ(topology_apic_id(&odd, 3), 4);	/* package 1, core 0 */
	CHECK_EQ(topology_apic_id(&odd, 5), 6);
	CHECK_EQ(topology_apic_limit(&odd), 7);
	CHECK_EQ(b.thread, 1);
	CHECK_EQ(b.core, 2);
	CHECK_EQ(b.die, 2);
	CHECK_EQ(b.pkg_shift, 5);
	/* vCPU 35: thread 1 of core 2 (17 / 1 % 3 = 2) of die 2 (17 / 3 %
	 * 3 = 2) of package 1 (35 / 18 = 1). */
	CHECK_EQ(topology_apic_id(&all, 35), 1u << 5 | 2 << 3 | 2 << 1 | 1);
	CHECK(topology_valid(&all, &last));
	CHECK_EQ(last, 53);

	CHECK(topology_valid(&(struct cpu_topology){ 1, 254, 1, 1 }, &last));
	CHECK_EQ(last, 253);
	CHECK(!topology_valid(&(struct cpu_topology){ 1, 255, 1, 1 }, &last));
	/* 3 cores take 2 bits: 64 packages would end at id 255. */
	CHECK(topology_valid(&(struct cpu_topology){ 1, 3, 1, 63 }, &last));
	CHECK_EQ(last, 250);
	CHECK(!topology_valid(&(struct cpu_topology){ 1, 3, 1, 64 }, &last));
	CHECK(!topology_valid(&(struct cpu_topology){ 0, 1, 1, 1 }, &last));
	CHECK(!topology_valid(&(struct cpu_topology){ 1, 1, 1, 0 }, &last));
	CHECK_EQ(topology_count(&(struct cpu_topology){ 255, 255, 2, 1 }), 0);
}

/* A CPUID table as KVM hands it out, vendor VENDOR. */
enum { L0, L1, L4_L1D, L4_L3, L4_END, LB0, LB1, LB2, L1F0, L1F1, L1F2, L1F3,
       L88, L1D_L1, L1D_L3, L1E, NENT };
union table {
	struct kvm_cpuid2 h;
	uint8_t room[sizeof(struct kvm_cpuid2) +
		     NENT * sizeof(struct kvm_cpuid_entry2)];
};

static void fill(union table *u, unsigned int vendor)
{
	struct kvm_cpuid_entry2 *e = u->h.entries;

	memset(u, 0, sizeof(*u));
	u->h.nent = NENT;
	e[L0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x1f,
					   .ebx = vendor };
	e[L1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0800,
					   .edx = 1 << 28 };
	/* Type 1 (data) level 1, type 3 (unified) level 3, the end. */
	e[L4_L1D] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0,
					       .eax = 1 | 1 << 5 };
	e[L4_L3] = (struct kvm_cpuid_entry2){ .function = 4, .index = 1,
					      .eax = 3 | 3 << 5 };
	e[L4_END] = (struct kvm_cpuid_entry2){ .function = 4, .index = 2 };
	for (unsigned int i = 0; i < 3; i++)
		e[LB0 + i] = (struct kvm_cpuid_entry2){ .function = 0xb,
							.index = i };
	for (unsigned int i = 0; i < 4; i++)
		e[L1F0 + i] = (struct kvm_cpuid_entry2){ .function = 0x1f,
							 .index = i };
	e[L88] = (struct kvm_cpuid_entry2){ .function = 0x80000008,
					    .ecx = 0x300ff };
	e[L1D_L1] = (struct kvm_cpuid_entry2){ .function = 0x8000001d,
					       .index = 0,
					       .eax = 1 | 1 << 5 | 7 << 14 };
	e[L1D_L3] = (struct kvm_cpuid_entry2){ .function = 0x8000001d,
					       .index = 3,
					       .eax = 3 | 3 << 5 | 7 << 14 };
	e[L1E] = (struct kvm_cpuid_entry2){ .function = 0x8000001e,
					    .ebx = 0x1ff, .ecx = 0x7ff,
					    .edx = 5 };
}

/* Four single-thread cores, vCPU 3: what tern always told guests. */
static void test_flat(void)
{
	struct cpu_topology t = topology_flat(4);
	union table u;
	struct kvm_cpuid_entry2 *e = u.h.entries;

	fill(&u, AMD);
	cpuid_patch(&u.h, &t, 3, true);
	CHECK_EQ(e[L1].ebx >> 24, 3);
	CHECK_EQ((e[L1].ebx >> 16) & 0xff, 4);
	CHECK_EQ(e[L1].ebx & 0xffff, 0x0800);
	CHECK(e[L1].ecx & (1U << 31));		/* hypervisor */
	CHECK(e[L1].ecx & (1U << 24));		/* TSC deadline */
	CHECK(e[L1].edx & (1U << 28));		/* HTT */
	CHECK_EQ(e[LB0].edx, 3);
	CHECK_EQ(e[LB0].eax, 0);
	CHECK_EQ(e[LB0].ebx, 1);
	CHECK_EQ(e[LB0].ecx, 1 << 8);
	CHECK_EQ(e[LB1].eax, 2);
	CHECK_EQ(e[LB1].ebx, 4);
	CHECK_EQ(e[LB1].ecx, 1 | 2 << 8);
	CHECK_EQ(e[LB2].ecx, 2);		/* type 0: the end */
	CHECK_EQ(e[L88].ecx, 0x30000 | 2 << 12 | 3);	/* bits 17:16 kept */
	CHECK_EQ(e[L4_L1D].eax, 1 | 1 << 5);	/* AMD: leaf 4 untouched */
	CHECK_EQ(e[L1E].eax, 3);
	CHECK_EQ(e[L1E].ebx, 3);		/* 1 thread; core 3 */
	CHECK_EQ(e[L1E].ecx, 0);		/* 1 die; node 0 */
	CHECK_EQ(e[L1E].edx, 0);

	fill(&u, INTEL);
	t = topology_flat(1);
	cpuid_patch(&u.h, &t, 0, false);
	CHECK_EQ(e[L1].ebx >> 24, 0);
	CHECK_EQ((e[L1].ebx >> 16) & 0xff, 1);
	CHECK(!(e[L1].edx & (1U << 28)));
	CHECK(!(e[L1].ecx & (1U << 24)));
	CHECK_EQ(e[L4_L1D].eax >> 26, 0);
	CHECK_EQ(e[L1E].ebx, 0x1ff);		/* Intel: AMD's leaves kept */
	CHECK_EQ(e[L88].ecx, 0x300ff);
}

/* Two threads per core, three cores per die, two dies per package, two
 * packages: 24 vCPUs; thread bit 0, core bits 1-2, die bit 3, package
 * from bit 4. */
static const struct cpu_topology big = { 2, 3, 2, 2 };

static void test_intel(void)
{
	union table u;
	struct kvm_cpuid_entry2 *e = u.h.entries;
	/* vCPU 21: thread 1, core 1 (10 % 3), die 1 (3 % 2), package 1. */
	unsigned int id = 1 << 4 | 1 << 3 | 1 << 1 | 1;

	fill(&u, INTEL);
	cpuid_patch(&u.h, &big, 21, false);
	CHECK_EQ(id, topology_apic_id(&big, 21));
	CHECK_EQ(e[L1].ebx >> 24, id);
	CHECK_EQ((e[L1].ebx >> 16) & 0xff, 16);	/* ids per package */
	CHECK(e[L1].edx & (1U << 28));
	/* Leaf 4: 8 core ids per package (2 + 1 bits); L1 shared by a
	 * core's 2 thread ids, L3 by the package's 16. */
	CHECK_EQ(e[L4_L1D].eax >> 26, 7);
	CHECK_EQ((e[L4_L1D].eax >> 14) & 0xfff, 1);
	CHECK_EQ(e[L4_L1D].eax & 0x3fff, 1 | 1 << 5);
	CHECK_EQ((e[L4_L3].eax >> 14) & 0xfff, 15);
	CHECK_EQ(e[L4_END].eax, 0);		/* no cache: left alone */
	/* 0xB: SMT, then the core level shifting to the package. */
	CHECK_EQ(e[LB0].eax, 1);
	CHECK_EQ(e[LB0].ebx, 2);
	CHECK_EQ(e[LB1].eax, 4);
	CHECK_EQ(e[LB1].ebx, 12);
	CHECK_EQ(e[LB1].ecx, 1 | 2 << 8);
	CHECK_EQ(e[LB2].eax, 0);
	CHECK_EQ(e[LB2].ecx, 2);
	for (unsigned int i = LB0; i <= LB2; i++)
		CHECK_EQ(e[i].edx, id);
	/* 0x1F: SMT, core (to the die), die (to the package), the end. */
	CHECK_EQ(e[L1F0].ecx, 0 | 1 << 8);
	CHECK_EQ(e[L1F1].eax, 3);
	CHECK_EQ(e[L1F1].ebx, 6);
	CHECK_EQ(e[L1F1].ecx, 1 | 2 << 8);
	CHECK_EQ(e[L1F2].eax, 4);
	CHECK_EQ(e[L1F2].ebx, 12);
	CHECK_EQ(e[L1F2].ecx, 2 | 5 << 8);
	CHECK_EQ(e[L1F3].ecx, 3);
	CHECK_EQ(e[L1F3].ebx, 0);
	CHECK_EQ(e[L1F3].edx, id);
}

static void test_amd(void)
{
	union table u;
	struct kvm_cpuid_entry2 *e = u.h.entries;
	unsigned int id = topology_apic_id(&big, 21);

	fill(&u, AMD);
	cpuid_patch(&u.h, &big, 21, false);
	/* 0x80000008: 4 id bits below the package, 12 threads in it. */
	CHECK_EQ(e[L88].ecx, 0x30000 | 4 << 12 | 11);
	/* 0x8000001D: L1 shared by a core's 2 threads, L3 by a die's 6. */
	CHECK_EQ((e[L1D_L1].eax >> 14) & 0xfff, 1);
	CHECK_EQ(e[L1D_L1].eax & 0x3fff, 1 | 1 << 5);
	CHECK_EQ((e[L1D_L3].eax >> 14) & 0xfff, 5);
	/* 0x8000001E: the id; 2 threads per core, core id id >> 1; 2 dies
	 * per package, node id id >> 3 (package 1 die 1: 3). */
	CHECK_EQ(e[L1E].eax, id);
	CHECK_EQ(e[L1E].ebx, 1 << 8 | id >> 1);
	CHECK_EQ(e[L1E].ecx, 1 << 8 | 3);
	CHECK_EQ(e[L4_L3].eax, 3 | 3 << 5);	/* leaf 4 untouched */
}

int main(void)
{
	test_apic_ids();
	test_flat();
	test_intel();
	test_amd();
	return check_done("test_topology");
}
