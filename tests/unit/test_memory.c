/* Guest RAM (core/memory.c): a shared guest RAM memfd is sealed against
 * shrinking and growing, so a vhost-user back-end that holds it (it gets
 * the fd with SET_MEM_TABLE) cannot truncate it under tern, whose next
 * touch of guest RAM would die of SIGBUS; and guest_mem_ptr takes only
 * ranges wholly inside one region. */
#include "core/memory.h"

#include "check.h"

#include <fcntl.h>
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

int main(void)
{
	test_sealed();
	test_private();
	test_shmem_thp_allowed();
	return check_done("test_memory");
}
