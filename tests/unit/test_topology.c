/* core/topology and core/cpuid: APIC ids by topology, and the CPUID
 * leaves that tell a guest its vCPU's place (Intel's leaves 1, 4, 0xB,
 * 0x1F; AMD's 1, 0xB, 0x80000008, 0x8000001D, 0x8000001E). */
#include "check.h"
#include "core/cpuid.h"
#include "core/topology.h"

#include <string.h>

#define AMD 0x68747541			/* "Auth" */
#define INTEL 0x756e6547		/* "Genu" */
#define HYGON 0x6f677948		/* "Hygo" */

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

/* A CPUID table as KVM hands it out, VENDOR's, basic leaves up to MAX:
 * leaves 0xB and 0x1F as today's KVM gives them (subleaf 0, zeroed), or
 * as older kernels did (the host's levels, OLD). Room for the patch. */
union table {
	struct kvm_cpuid2 h;
	uint8_t room[sizeof(struct kvm_cpuid2) +
		     (32 + CPUID_PATCH_EXTRA) * sizeof(struct kvm_cpuid_entry2)];
};

static void add(union table *u, struct kvm_cpuid_entry2 e)
{
	u->h.entries[u->h.nent++] = e;
}

static void fill(union table *u, unsigned int vendor, unsigned int max,
		 bool old)
{
	memset(u, 0, sizeof(*u));
	add(u, (struct kvm_cpuid_entry2){ .function = 0, .eax = max,
					  .ebx = vendor });
	add(u, (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0800,
					  .edx = 1 << 28 });
	/* Type 1 (data) level 1, type 3 (unified) level 3, the end. */
	add(u, (struct kvm_cpuid_entry2){ .function = 4, .index = 0,
					  .eax = 1 | 1 << 5 });
	add(u, (struct kvm_cpuid_entry2){ .function = 4, .index = 1,
					  .eax = 3 | 3 << 5 });
	add(u, (struct kvm_cpuid_entry2){ .function = 4, .index = 2 });
	for (unsigned int f = 0xb; f <= max; f += 0x1f - 0xb)
		for (unsigned int i = 0; i < (old ? 3 : 1); i++)
			add(u, (struct kvm_cpuid_entry2){
				.function = f, .index = i, .flags = 1,
				.eax = old ? 4 : 0, .ebx = old ? 8 : 0,
				.ecx = old ? i | 1 << 8 : 0, .edx = 9 });
	add(u, (struct kvm_cpuid_entry2){ .function = 0x80000008,
					  .ecx = 0x300ff });
	add(u, (struct kvm_cpuid_entry2){ .function = 0x8000001d, .index = 0,
					  .eax = 1 | 1 << 5 | 7 << 14 });
	add(u, (struct kvm_cpuid_entry2){ .function = 0x8000001d, .index = 3,
					  .eax = 3 | 3 << 5 | 7 << 14 });
	add(u, (struct kvm_cpuid_entry2){ .function = 0x8000001e,
					  .ebx = 0x1ff, .ecx = 0x7ff,
					  .edx = 5 });
}

/* The one entry for FUNCTION, INDEX, or an all-zero one (as KVM answers
 * a subleaf its table lacks); a second one is a failure. */
static struct kvm_cpuid_entry2 get(union table *u, unsigned int function,
				   unsigned int index)
{
	struct kvm_cpuid_entry2 found = { 0 };
	unsigned int n = 0;

	for (unsigned int i = 0; i < u->h.nent; i++)
		if (u->h.entries[i].function == function &&
		    u->h.entries[i].index == index) {
			found = u->h.entries[i];
			n++;
		}
	CHECK(n <= 1);
	return found;
}

/* Leaf F's subleaf I: shift, count, level type, and the APIC id. */
static void check_level(union table *u, unsigned int f, unsigned int i,
			unsigned int shift, unsigned int count,
			unsigned int type, unsigned int id)
{
	struct kvm_cpuid_entry2 e = get(u, f, i);

	CHECK_EQ(e.eax, shift);
	CHECK_EQ(e.ebx, count);
	CHECK_EQ(e.ecx, i | type << 8);
	CHECK_EQ(e.edx, id);
	CHECK_EQ(e.flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
}

/* Four single-thread cores, vCPU 3: what tern always told guests, now
 * with 0xB's core level, which today's KVM no longer hands out. */
static void test_flat(void)
{
	struct cpu_topology t = topology_flat(4);
	union table u;

	fill(&u, AMD, 0xd, false);
	cpuid_patch(&u.h, &t, 3, true, 0);
	CHECK_EQ(get(&u, 1, 0).ebx >> 24, 3);
	CHECK_EQ((get(&u, 1, 0).ebx >> 16) & 0xff, 4);
	CHECK_EQ(get(&u, 1, 0).ebx & 0xffff, 0x0800);
	CHECK(get(&u, 1, 0).ecx & (1U << 31));		/* hypervisor */
	CHECK(get(&u, 1, 0).ecx & (1U << 24));		/* TSC deadline */
	CHECK(get(&u, 1, 0).edx & (1U << 28));		/* HTT */
	check_level(&u, 0xb, 0, 0, 1, 1, 3);
	check_level(&u, 0xb, 1, 2, 4, 2, 3);
	check_level(&u, 0xb, 2, 0, 0, 0, 3);		/* the end */
	CHECK_EQ(get(&u, 0x1f, 0).ecx, 0);		/* AMD: max 0xD */
	CHECK_EQ(get(&u, 0x80000008, 0).ecx, 0x30000 | 2 << 12 | 3);
	CHECK_EQ(get(&u, 4, 0).eax, 1 | 1 << 5);	/* AMD: untouched */
	CHECK_EQ(get(&u, 0x8000001e, 0).eax, 3);
	CHECK_EQ(get(&u, 0x8000001e, 0).ebx, 3);	/* 1 thread; core 3 */
	CHECK_EQ(get(&u, 0x8000001e, 0).ecx, 0);	/* 1 node; node 0 */
	CHECK_EQ(get(&u, 0x8000001e, 0).edx, 0);

	fill(&u, INTEL, 0x1f, false);
	t = topology_flat(1);
	cpuid_patch(&u.h, &t, 0, false, 0);
	CHECK_EQ(get(&u, 1, 0).ebx >> 24, 0);
	CHECK_EQ((get(&u, 1, 0).ebx >> 16) & 0xff, 1);
	CHECK(!(get(&u, 1, 0).edx & (1U << 28)));
	CHECK(!(get(&u, 1, 0).ecx & (1U << 24)));
	CHECK_EQ(get(&u, 4, 0).eax >> 26, 0);
	check_level(&u, 0x1f, 1, 0, 1, 2, 0);		/* no die level */
	check_level(&u, 0x1f, 2, 0, 0, 0, 0);
	CHECK_EQ(get(&u, 0x8000001e, 0).ebx, 0x1ff);	/* AMD's kept */
	CHECK_EQ(get(&u, 0x80000008, 0).ecx, 0x300ff);
}

/* Two threads per core, three cores per die, two dies per package, two
 * packages: 24 vCPUs; thread bit 0, core bits 1-2, die bit 3, package
 * from bit 4. */
static const struct cpu_topology big = { 2, 3, 2, 2 };

static void check_intel_big(union table *u, unsigned int id)
{
	CHECK_EQ(get(u, 1, 0).ebx >> 24, id);
	CHECK_EQ((get(u, 1, 0).ebx >> 16) & 0xff, 16);	/* ids per package */
	CHECK(get(u, 1, 0).edx & (1U << 28));
	/* Leaf 4: 8 core ids per package (2 + 1 bits); L1 shared by a
	 * core's 2 thread ids, L3 by the package's 16. */
	CHECK_EQ(get(u, 4, 0).eax >> 26, 7);
	CHECK_EQ((get(u, 4, 0).eax >> 14) & 0xfff, 1);
	CHECK_EQ(get(u, 4, 0).eax & 0x3fff, 1 | 1 << 5);
	CHECK_EQ((get(u, 4, 1).eax >> 14) & 0xfff, 15);
	CHECK_EQ(get(u, 4, 2).eax, 0);			/* no cache: as is */
	/* 0xB: SMT, then the core level shifting to the package. */
	check_level(u, 0xb, 0, 1, 2, 1, id);
	check_level(u, 0xb, 1, 4, 12, 2, id);
	check_level(u, 0xb, 2, 0, 0, 0, id);
	/* 0x1F: SMT, core (to the die), die (to the package), the end. */
	check_level(u, 0x1f, 0, 1, 2, 1, id);
	check_level(u, 0x1f, 1, 3, 6, 2, id);
	check_level(u, 0x1f, 2, 4, 12, 5, id);
	check_level(u, 0x1f, 3, 0, 0, 0, id);
}

static void test_intel(void)
{
	union table u;
	/* vCPU 21: thread 1, core 1 (10 % 3), die 1 (3 % 2), package 1. */
	unsigned int id = 1 << 4 | 1 << 3 | 1 << 1 | 1;
	struct cpu_topology two = { 1, 2, 1, 2 };

	CHECK_EQ(id, topology_apic_id(&big, 21));
	fill(&u, INTEL, 0x1f, false);
	cpuid_patch(&u.h, &big, 21, false, 0);
	check_intel_big(&u, id);
	/* An older KVM's host levels are replaced, not added to. */
	fill(&u, INTEL, 0x1f, true);
	cpuid_patch(&u.h, &big, 21, false, 0);
	check_intel_big(&u, id);
	/* A table that ends below 0x1F grows to it for the dies... */
	fill(&u, INTEL, 0xd, false);
	cpuid_patch(&u.h, &big, 21, false, 0);
	CHECK_EQ(get(&u, 0, 0).eax, 0x1f);
	check_intel_big(&u, id);
	/* ...and only for them. */
	fill(&u, INTEL, 0xd, false);
	cpuid_patch(&u.h, &two, 3, false, 0);
	CHECK_EQ(get(&u, 0, 0).eax, 0xd);
	check_level(&u, 0xb, 1, 1, 2, 2, 3);
	CHECK_EQ(get(&u, 0x1f, 0).ecx, 0);
	/* 254 cores: leaf 1 says 255 for 256 ids; leaf 4 stops at 63. */
	two = (struct cpu_topology){ 1, 254, 1, 1 };
	fill(&u, INTEL, 0x1f, false);
	cpuid_patch(&u.h, &two, 253, false, 0);
	CHECK_EQ((get(&u, 1, 0).ebx >> 16) & 0xff, 255);
	CHECK_EQ(get(&u, 1, 0).ebx >> 24, 253);
	CHECK_EQ(get(&u, 4, 0).eax >> 26, 63);
	check_level(&u, 0xb, 1, 8, 254, 2, 253);
	/* One vCPU per package: no HTT. */
	two = (struct cpu_topology){ 1, 1, 1, 2 };
	fill(&u, INTEL, 0x1f, false);
	cpuid_patch(&u.h, &two, 1, false, 0);
	CHECK(!(get(&u, 1, 0).edx & (1U << 28)));
	check_level(&u, 0xb, 1, 0, 1, 2, 1);
}

static void test_amd(void)
{
	union table u;
	unsigned int id = topology_apic_id(&big, 21);
	struct cpu_topology odd = { 3, 5, 1, 1 };	/* 2 + 3 bits */

	fill(&u, AMD, 0xd, false);
	cpuid_patch(&u.h, &big, 21, false, 0);
	/* 0x80000008: 4 id bits below the package, 12 threads in it. */
	CHECK_EQ(get(&u, 0x80000008, 0).ecx, 0x30000 | 4 << 12 | 11);
	/* 0x8000001D: L1 shared by a core's 2 ids, L3 by a die's 8 (3
	 * cores take 2 bits). */
	CHECK_EQ((get(&u, 0x8000001d, 0).eax >> 14) & 0xfff, 1);
	CHECK_EQ(get(&u, 0x8000001d, 0).eax & 0x3fff, 1 | 1 << 5);
	CHECK_EQ((get(&u, 0x8000001d, 3).eax >> 14) & 0xfff, 7);
	/* 0x8000001E: the id; 2 threads per core, core id id >> 1; 2 dies
	 * per package, node id id >> 3 (package 1 die 1: 3). */
	CHECK_EQ(get(&u, 0x8000001e, 0).eax, id);
	CHECK_EQ(get(&u, 0x8000001e, 0).ebx, 1 << 8 | id >> 1);
	CHECK_EQ(get(&u, 0x8000001e, 0).ecx, 1 << 8 | 3);
	CHECK_EQ(get(&u, 4, 1).eax, 3 | 3 << 5);	/* leaf 4 untouched */
	/* 0xB for guests that read it (TOPOEXT): SMT, then the package. */
	check_level(&u, 0xb, 0, 1, 2, 1, id);
	check_level(&u, 0xb, 1, 4, 12, 2, id);
	CHECK_EQ(get(&u, 0, 0).eax, 0xd);		/* no 0x1F on AMD */
	CHECK_EQ(get(&u, 0x1f, 0).ecx, 0);
	/* Sharing counts ids, as the layout does: 3 threads take 2 bits,
	 * 5 cores 3, so a die's L3 spans 32 ids. */
	fill(&u, AMD, 0xd, false);
	cpuid_patch(&u.h, &odd, 14, false, 0);
	CHECK_EQ((get(&u, 0x8000001d, 0).eax >> 14) & 0xfff, 3);
	CHECK_EQ((get(&u, 0x8000001d, 3).eax >> 14) & 0xfff, 31);
	/* Hygon is AMD's. */
	fill(&u, HYGON, 0xd, false);
	cpuid_patch(&u.h, &big, 21, false, 0);
	CHECK_EQ(get(&u, 0x8000001e, 0).eax, id);
}

/* The physical address width: leaf 0x80000008's EAX bits 7:0 and AMD's
 * nested-guest width (23:16) come down to max-phys-bits, never up. */
static void test_phys_bits(void)
{
	struct cpu_topology t = topology_flat(1);
	union table u;

	fill(&u, AMD, 0xd, false);
	CHECK_EQ(cpuid_phys_bits(&u.h), 36);		/* no width given */
	for (unsigned int i = 0; i < u.h.nent; i++)
		if (u.h.entries[i].function == 0x80000008)
			u.h.entries[i].eax = 48 | 48 << 8 | 48 << 16;
	CHECK_EQ(cpuid_phys_bits(&u.h), 48);
	cpuid_patch(&u.h, &t, 0, false, 39);
	CHECK_EQ(get(&u, 0x80000008, 0).eax, 39 | 48 << 8 | 39 << 16);
	CHECK_EQ(get(&u, 0x80000008, 0).ecx, 0x30000);	/* topology kept */

	fill(&u, INTEL, 0xd, false);
	for (unsigned int i = 0; i < u.h.nent; i++)
		if (u.h.entries[i].function == 0x80000008)
			u.h.entries[i].eax = 46 | 57 << 8;
	cpuid_patch(&u.h, &t, 0, false, 0);		/* 0: the host's */
	CHECK_EQ(get(&u, 0x80000008, 0).eax, 46 | 57 << 8);
	cpuid_patch(&u.h, &t, 0, false, 52);		/* never up */
	CHECK_EQ(get(&u, 0x80000008, 0).eax, 46 | 57 << 8);
	cpuid_patch(&u.h, &t, 0, false, 40);		/* 23:16 stays 0 */
	CHECK_EQ(get(&u, 0x80000008, 0).eax, 40 | 57 << 8);
	/* KVM says in 23:16 when it maps less than 7:0 (a 52-bit host
	 * without 5-level paging): that is the host's width for guests. */
	for (unsigned int i = 0; i < u.h.nent; i++)
		if (u.h.entries[i].function == 0x80000008)
			u.h.entries[i].eax = 52 | 57 << 8 | 48 << 16;
	CHECK_EQ(cpuid_phys_bits(&u.h), 48);
}

int main(void)
{
	test_phys_bits();
	test_apic_ids();
	test_flat();
	test_intel();
	test_amd();
	return check_done("test_topology");
}
