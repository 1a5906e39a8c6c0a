#include "core/memory.h"

#include "config.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <pthread.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if HAVE_NUMA
#include <numa.h>
#endif

#define HUGE_2M (2ULL << 20)

static int mem_bind_node(struct guest_mem *mem)
{
#if HAVE_NUMA
	if (numa_available() < 0) {
		log_err("memory", "numa-node=%d: NUMA is not available here",
			mem->numa_node);
		return -ENODEV;
	}
	if (mem->numa_node > numa_max_node()) {
		log_err("memory", "numa-node=%d: this host has nodes 0..%d",
			mem->numa_node, numa_max_node());
		return -EINVAL;
	}
	/* Before the first touch, so every page is allocated on the node. */
	numa_tonode_memory(mem->base, mem->size, mem->numa_node);
	return 0;
#else
	log_err("memory", "numa-node=%d: tern was built without libnuma",
		mem->numa_node);
	return -ENOTSUP;
#endif
}

int thread_stacks_small(void)
{
	pthread_attr_t attr;
	int ret;

	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_attr_setstacksize(&attr, 1u << 20);
	if (!ret)
		ret = pthread_setattr_default_np(&attr);
	pthread_attr_destroy(&attr);
	return -ret;
}

/* mmap at a 2 MiB-aligned address. KVM maps guest memory with 2 MiB
 * nested page-table entries only where guest-physical and host-virtual
 * addresses agree modulo 2 MiB, and a 6.1 host aligns no mapping of its
 * own accord: unaligned, every guest page costs a nested-paging fault
 * (a booting guest took 26k exits). Reserves 2 MiB more, maps over the
 * aligned part and returns the slack. MAP_FAILED with errno on failure. */
static void *mmap_2m_aligned(size_t size, int flags, int fd)
{
	uint8_t *area, *at;
	size_t head;

	area = mmap(NULL, size + HUGE_2M, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)area + HUGE_2M - 1) & ~(HUGE_2M - 1));
	if (mmap(at, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0) ==
	    MAP_FAILED) {
		int e = errno;

		munmap(area, size + HUGE_2M);
		errno = e;
		return MAP_FAILED;
	}
	head = (size_t)(at - area);
	if (head)
		munmap(area, head);
	munmap(at + size, HUGE_2M - head);	/* head < 2 MiB: never empty */
	return at;
}

/* Whoever holds the fd (a vhost-user back-end gets it) can neither shrink
 * it, which would make our next touch of guest RAM die of SIGBUS, nor
 * grow it, nor add seals of its own (F_SEAL_FUTURE_WRITE would stop a
 * back-end that reconnects from mapping it writable). */
#define RAM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

#define SHMEM_THP_PATH "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

bool shmem_thp_allowed(const char *text)
{
	const char *open_br = strchr(text, '['), *close_br;
	size_t n;

	if (!open_br || !(close_br = strchr(open_br, ']')))
		return false;
	n = (size_t)(close_br - open_br - 1);
	if ((n == 5 && !strncmp(open_br + 1, "never", 5)) ||
	    (n == 4 && !strncmp(open_br + 1, "deny", 4)))
		return false;
	return n > 0;
}

/* Says when shared guest RAM without hugetlbfs will be in 4 KiB pages.
 * A host without the file (no THP at all) is told the same. */
static void shmem_thp_hint(void)
{
	char text[128] = "", *word = NULL;
	FILE *f = fopen(SHMEM_THP_PATH, "re");

	if (f) {
		if (!fgets(text, sizeof(text), f))
			text[0] = '\0';
		fclose(f);
	}
	if (shmem_thp_allowed(text))
		return;
	if ((word = strchr(text, '[')) != NULL) {
		word++;
		word[strcspn(word, "]")] = '\0';
	}
	log_info("memory", "shared guest RAM will be in 4 KiB pages (%s: %s): "
		 "a vhost-user back-end's large requests run slower on them; "
		 "set it to advise, or use hugepages=on", SHMEM_THP_PATH,
		 !f ? "absent" : word ? word : "unreadable");
}

static int mem_map_shared(struct guest_mem *mem, const struct mem_config *cfg)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int ret;

	if (cfg->hugepages)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	mem->fd = memfd_create("tern-ram", flags);
	if (mem->fd < 0) {
		ret = -errno;
		log_err("memory", "memfd_create%s: %s",
			cfg->hugepages ? " (hugetlb)" : "", strerror(-ret));
		return ret;
	}
	if (ftruncate(mem->fd, (off_t)cfg->size) < 0) {
		ret = -errno;
		log_err("memory", "sizing guest RAM to %llu bytes%s: %s",
			(unsigned long long)cfg->size,
			cfg->hugepages ? " of huge pages" : "", strerror(-ret));
		return ret;
	}
	if (fcntl(mem->fd, F_ADD_SEALS, RAM_SEALS) < 0) {
		ret = -errno;
		log_err("memory", "sealing guest RAM: %s", strerror(-ret));
		return ret;
	}
	/* Huge pages are reserved at the mapping, so that too few of them
	 * fail here, with ENOMEM, rather than as a SIGBUS at the guest's
	 * first touch of a page the pool no longer has. (The reservation
	 * is host-wide: a numa_node binding still needs the pages on that
	 * node.) */
	mem->base = mmap_2m_aligned(cfg->size, MAP_SHARED |
				    (cfg->hugepages ? 0 : MAP_NORESERVE),
				    mem->fd);
	if (mem->base == MAP_FAILED) {
		ret = -errno;
		mem->base = NULL;
		log_err("memory", "mapping %llu bytes of guest RAM%s: %s",
			(unsigned long long)cfg->size,
			cfg->hugepages ? " on huge pages (are that many free? "
					 "/proc/sys/vm/nr_hugepages)" : "",
			strerror(-ret));
		return ret;
	}
	if (!cfg->hugepages)
		shmem_thp_hint();
	return 0;
}

int guest_mem_create(struct guest_mem *mem, const struct mem_config *cfg)
{
	uint64_t low;
	int ret;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->size = cfg->size;
	mem->hugepages = cfg->hugepages;
	mem->numa_node = cfg->numa_node;
	if (cfg->hugepages && cfg->size % HUGE_2M)
		return -EINVAL;
	if (cfg->shared || cfg->hugepages) {
		ret = mem_map_shared(mem, cfg);
		if (ret)
			goto err;
	} else {
		mem->base = mmap_2m_aligned(cfg->size, MAP_PRIVATE |
					    MAP_ANONYMOUS | MAP_NORESERVE, -1);
		if (mem->base == MAP_FAILED) {
			ret = -errno;
			mem->base = NULL;
			log_err("memory", "mapping %llu bytes of guest RAM: %s",
				(unsigned long long)cfg->size, strerror(-ret));
			goto err;
		}
	}
	if (cfg->numa_node >= 0) {
		ret = mem_bind_node(mem);
		if (ret)
			goto err;
	}
	/* 2 MiB pages cut the nested-paging faults of a booting guest by
	 * 512x; shmem honours this only where the host allows it. Guest RAM
	 * is not worth a core dump and must not follow a fork. */
	if (!cfg->hugepages)
		madvise(mem->base, cfg->size, MADV_HUGEPAGE);
	madvise(mem->base, cfg->size, MADV_DONTDUMP);
	madvise(mem->base, cfg->size, MADV_DONTFORK);

	low = cfg->size < MEM_HOLE_START ? cfg->size : MEM_HOLE_START;
	mem->regions[0] = (struct mem_region){ 0, low, 0, mem->base };
	mem->nregions = 1;
	if (cfg->size > low) {
		mem->regions[1] = (struct mem_region){
			MEM_4G, cfg->size - low, low, mem->base + low };
		mem->nregions = 2;
	}
	return 0;

err:
	guest_mem_destroy(mem);
	return ret;
}

void guest_mem_destroy(struct guest_mem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	mem->base = NULL;
	mem->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct mem_region *r = &mem->regions[i];

		/* Written so that no sum can wrap. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t guest_mem_low_size(const struct guest_mem *mem)
{
	return mem->regions[0].size;
}

uint64_t mem_pci64_base(uint64_t ram_size)
{
	uint64_t low = ram_size < MEM_HOLE_START ? ram_size : MEM_HOLE_START;

	return (MEM_4G + ram_size - low + (1ULL << 30)) & ~((1ULL << 30) - 1);
}

uint64_t mem_phys_top(uint64_t ram_size)
{
	return mem_pci64_base(ram_size) + MEM_PCI64_SIZE;
}

unsigned int mem_phys_bits(uint64_t top)
{
	return top > 1 ? 64 - (unsigned int)__builtin_clzll(top - 1) : 1;
}

void mem_phys_describe(uint64_t ram_size, char *buf, size_t len)
{
	uint64_t top = mem_phys_top(ram_size);

	snprintf(buf, len, "the guest's addresses reach 0x%llx (%llu MiB of "
		 "RAM, then %llu GiB of 64-bit PCI window), which takes %u "
		 "bits", (unsigned long long)top - 1,
		 (unsigned long long)(ram_size >> 20),
		 (unsigned long long)(MEM_PCI64_SIZE >> 30),
		 mem_phys_bits(top));
}
