/* Guest RAM. Shared (a memfd, or a hugetlbfs memfd, mapped MAP_SHARED, its
 * size sealed: F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL) when another
 * process must map it (vhost-user backends); otherwise anonymous
 * memory with transparent huge pages, which hosts give by default where
 * they do not for shmem (Debian: THP "always", shmem THP "never"). Below
 * 4 GiB RAM stops at the PCI hole; the rest sits above 4 GiB. */
#ifndef TERN_CORE_MEMORY_H
#define TERN_CORE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEM_4G (1ULL << 32)
#define MEM_HOLE_START 0xC0000000ULL	/* 32-bit PCI MMIO, IOAPIC, LAPIC */
/* 64-bit PCI BARs go above RAM, 1 GiB aligned, in a window this long. */
#define MEM_PCI64_SIZE (64ULL << 30)
/* tern's own RAM uses 2 (below the hole, above 4 GiB); a vhost-user
 * backend maps what its frontend sends: up to 8 (the protocol's limit). */
#define GUEST_MEM_MAX_REGIONS 8

struct mem_region {
	uint64_t gpa, size;
	uint64_t fd_offset;	/* offset in the memfd */
	uint8_t *hva;
};

struct guest_mem {
	int fd;			/* -1 unless shared */
	uint64_t size;		/* total RAM */
	uint8_t *base;		/* whole memfd mapped here */
	unsigned int nregions;
	struct mem_region regions[GUEST_MEM_MAX_REGIONS];
	bool hugepages;
	int numa_node;		/* -1: no binding */
};

struct mem_config {
	uint64_t size;
	bool shared;		/* memfd, for vhost-user backends */
	bool hugepages;		/* hugetlbfs (implies shared) */
	int numa_node;		/* -1 for none */
};

/* Makes every thread created from now on get a 1 MiB stack instead of 8:
 * no thread of tern's needs more, and on a host with transparent huge
 * pages always on, an 8 MiB stack may take a 2 MiB page of RSS per thread.
 * Returns 0 or -errno. */
int thread_stacks_small(void);

int guest_mem_create(struct guest_mem *mem, const struct mem_config *cfg);

/* Whether shmem may get transparent huge pages for a mapping that asks
 * (MADV_HUGEPAGE), given the text of the host's
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled ("always within_size
 * advise [never] deny force": the bracketed word is the setting). False
 * for never and deny, and for text with no setting in it. Where it is
 * false, shared guest RAM lives in 4 KiB pages, and guest_mem_create
 * says so: a vhost-user back-end's 128 KiB O_DIRECT reads measured 1.4x
 * to 1.7x slower on such RAM than on huge pages. */
bool shmem_thp_allowed(const char *shmem_enabled);
void guest_mem_destroy(struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one RAM region,
 * else NULL. Safe against overflow: every guest-supplied range goes here. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* RAM below the hole and above 4 GiB. */
uint64_t guest_mem_low_size(const struct guest_mem *mem);

/* Where the 64-bit PCI window of a VM with RAM_SIZE bytes of RAM starts,
 * and one past the highest guest-physical address the VM uses (the
 * window's end). */
uint64_t mem_pci64_base(uint64_t ram_size);
uint64_t mem_phys_top(uint64_t ram_size);
/* Physical address bits that reach every address below TOP. */
unsigned int mem_phys_bits(uint64_t top);
/* Into BUF: where RAM_SIZE bytes of RAM and the 64-bit PCI window reach
 * and the bits that takes, for a refusal ("the guest's addresses reach
 * 0x113fffffff (512 MiB of RAM, then 64 GiB of 64-bit PCI window), which
 * takes 37 bits"). */
void mem_phys_describe(uint64_t ram_size, char *buf, size_t len);

#endif
