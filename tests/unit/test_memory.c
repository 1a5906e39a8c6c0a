/* Guest RAM (core/memory.c): a shared guest RAM memfd is sealed against
 * shrinking and growing, so a vhost-user back-end that holds it (it gets
 * the fd with SET_MEM_TABLE) cannot truncate it under tern, whose next
 * touch of guest RAM would die of SIGBUS; guest RAM on huge pages is
 * refused at creation when the pool cannot hold it, not a SIGBUS later;
 * and guest_mem_ptr takes only ranges wholly inside one region. */
#include "core/memory.h"

#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define SIZE (4ULL << 20)
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

static void test_sealed(void)
{
	struct mem_config mc = { .size = SIZE, .shared = true,
				 .numa_node = -1 };
	struct guest_mem m;
	int seals;

	CHECK_EQ(guest_mem_create(&m, &mc), 0);
	CHECK(m.fd >= 0);
	seals = fcntl(m.fd, F_GET_SEALS);
	CHECK(seals >= 0);
	CHECK_EQ(seals & SEALS, SEALS);
	/* Whoever holds the fd: no shrinking, no growing, and no seals
	 * added behind our back (F_SEAL_FUTURE_WRITE would stop a back-end
	 * that reconnects from mapping it writable). */
	CHECK_EQ(ftruncate(m.fd, SIZE / 2), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(ftruncate(m.fd, 2 * SIZE), -1);
	CHECK_EQ(errno, EPERM);
	CHECK_EQ(fallocate(m.fd, 0, SIZE, 4096), -1);
	CHECK_EQ(fcntl(m.fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	CHECK_EQ(lseek(m.fd, 0, SEEK_END), (off_t)SIZE);
	/* Guest RAM is all still there. */
	m.base[SIZE - 1] = 0x5a;
	CHECK_EQ(*(uint8_t *)guest_mem_ptr(&m, SIZE - 1, 1), 0x5a);
	guest_mem_destroy(&m);
}

static void test_private(void)
{
	struct mem_config mc = { .size = SIZE, .numa_node = -1 };
	struct guest_mem m;

	CHECK_EQ(guest_mem_create(&m, &mc), 0);
	CHECK_EQ(m.fd, -1);
	CHECK(guest_mem_ptr(&m, 0, SIZE) == m.base);
	CHECK(guest_mem_ptr(&m, 1, SIZE) == NULL);
	CHECK(guest_mem_ptr(&m, SIZE, 1) == NULL);
	CHECK(guest_mem_ptr(&m, UINT64_MAX, 2) == NULL);
	guest_mem_destroy(&m);
}

/* A number from /proc/meminfo or /proc/sys, -1 when unreadable. */
static long read_number(const char *path, const char *key)
{
	char line[128];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			sscanf(line, "%ld", &v);
			break;
		}
		if (!strncmp(line, key, strlen(key))) {
			sscanf(line + strlen(key), "%ld", &v);
			break;
		}
	}
	fclose(f);
	return v;
}

/* More 2 MiB pages than the pool has free: refused at once, never
 * handed out to die of SIGBUS at the page the pool lacks. (With surplus
 * pages allowed the kernel may grow the pool, so nothing is asserted.) */
static void test_hugepages_short(void)
{
	long free_pages = read_number("/proc/meminfo", "HugePages_Free:");
	long overcommit = read_number("/proc/sys/vm/nr_overcommit_hugepages",
				      NULL);
	struct mem_config mc = { .hugepages = true, .numa_node = -1 };
	struct guest_mem m;

	if (free_pages < 0 || overcommit != 0) {
		printf("test_memory: huge page pool unreadable or may grow "
		       "(free %ld, overcommit %ld): short pool not checked\n",
		       free_pages, overcommit);
		return;
	}
	/* 1 GiB past what is free, so that pages another test frees
	 * meanwhile cannot make up the difference. */
	mc.size = (uint64_t)(free_pages + 512) << 21;
	CHECK_EQ(guest_mem_create(&m, &mc), -ENOMEM);
}

/* The host's shmem THP setting, as sysfs words it: the bracketed word. */
static void test_shmem_thp_allowed(void)
{
	CHECK(!shmem_thp_allowed("always within_size advise [never] deny force\n"));
	CHECK(!shmem_thp_allowed("always within_size advise never [deny] force"));
	CHECK(shmem_thp_allowed("always within_size [advise] never deny force"));
	CHECK(shmem_thp_allowed("[always] within_size advise never deny force"));
	CHECK(shmem_thp_allowed("always [within_size] advise never deny force"));
	CHECK(shmem_thp_allowed("always within_size advise never deny [force]"));
	/* Older kernels' list, without within_size and deny. */
	CHECK(shmem_thp_allowed("always [advise] never"));
	CHECK(!shmem_thp_allowed("always advise [never]"));
	/* No setting in it: a missing or unreadable file, or garbage. */
	CHECK(!shmem_thp_allowed(""));
	CHECK(!shmem_thp_allowed("advise"));
	CHECK(!shmem_thp_allowed("[advise"));
	CHECK(!shmem_thp_allowed("[]"));
}

/* The top of the guest-physical layout: RAM below the hole, the rest
 * above 4 GiB, then the 64-bit PCI window, 1 GiB aligned, 64 GiB long. */
static void test_phys_top(void)
{
	/* 512 MiB: all below the hole; the window at 5 GiB, to 69 GiB. */
	CHECK_EQ(mem_pci64_base(512ULL << 20), 5ULL << 30);
	CHECK_EQ(mem_phys_top(512ULL << 20), 69ULL << 30);
	CHECK_EQ(mem_phys_bits(69ULL << 30), 37);
	/* 3 GiB fill the low part; 4 GiB put 1 GiB above 4 GiB. */
	CHECK_EQ(mem_pci64_base(3ULL << 30), 5ULL << 30);
	CHECK_EQ(mem_pci64_base(4ULL << 30), 6ULL << 30);
	CHECK_EQ(mem_pci64_base((4ULL << 30) + 1), 6ULL << 30);
	/* 960 GiB: RAM to 961 GiB, the window from 962 to 1026 GiB: 41 bits. */
	CHECK_EQ(mem_phys_top(960ULL << 30), 1026ULL << 30);
	CHECK_EQ(mem_phys_bits(1026ULL << 30), 41);
	/* Exactly a power of two needs no extra bit. */
	CHECK_EQ(mem_phys_bits(1ULL << 40), 40);
	CHECK_EQ(mem_phys_bits((1ULL << 40) + 1), 41);
}

int main(void)
{
	test_phys_top();
	test_sealed();
	test_private();
	test_hugepages_short();
	test_shmem_thp_allowed();
	return check_done("test_memory");
}
