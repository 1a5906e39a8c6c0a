/* Bus registration and dispatch, posted writes and the ring KVM posts
 * them in; guest_mem_ptr bounds; per-vCPU CPUID. */
#include "core/bus.h"
#include "core/kvm.h"
#include "core/memory.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t wrote_off, wrote_val;

static void rd(void *opaque, uint64_t off, uint8_t *d, uint32_t len)
{
	bus_put(d, len, 0x1000 + off);
}

static void wr(void *opaque, uint64_t off, const uint8_t *d, uint32_t len)
{
	wrote_off = off;
	wrote_val = bus_get(d, len);
}

static const struct bus_ops ops = { rd, wr };

static void test_bus(void)
{
	struct bus bus;
	uint8_t d[8];

	CHECK_EQ(bus_init(&bus, "test"), 0);
	CHECK_EQ(bus_register(&bus, 0x100, 0x10, &ops, NULL, "a"), 0);
	CHECK_EQ(bus_register(&bus, 0x10, 0x8, &ops, NULL, "b"), 0);
	CHECK_EQ(bus_register(&bus, 0x108, 0x10, &ops, NULL, "c"), -EEXIST);
	CHECK_EQ(bus_register(&bus, 0xf8, 0x10, &ops, NULL, "c"), -EEXIST);
	CHECK_EQ(bus_register(&bus, 0x0, 0, &ops, NULL, "c"), -EINVAL);
	CHECK_EQ(bus_register(&bus, ~0ULL, 2, &ops, NULL, "c"), -EINVAL);
	CHECK_EQ(bus_register(&bus, 0x110, 0x10, &ops, NULL, "d"), 0);

	CHECK(bus_read(&bus, 0x104, d, 2));
	CHECK_EQ(bus_get(d, 2), 0x1004);
	CHECK(bus_read(&bus, 0x111, d, 1));
	CHECK_EQ(bus_get(d, 1), 0x01);
	CHECK(bus_write(&bus, 0x14, (const uint8_t *)"\x34\x12", 2));
	CHECK_EQ(wrote_off, 4);
	CHECK_EQ(wrote_val, 0x1234);
	/* Nobody there: all ones. A straddling access belongs to nobody. */
	CHECK(!bus_read(&bus, 0x50, d, 4));
	CHECK_EQ(bus_get(d, 4), 0xffffffff);
	CHECK(!bus_read(&bus, 0x10e, d, 4));
	CHECK(!bus_write(&bus, 0x17, d, 2));

	CHECK_EQ(bus_unregister(&bus, 0x100), 0);
	CHECK(!bus_read(&bus, 0x104, d, 1));
	CHECK_EQ(bus_unregister(&bus, 0x100), -ENOENT);
	for (int i = 0; i < BUS_MAX_RANGES; i++)
		bus_register(&bus, 0x10000 + i * 4, 4, &ops, NULL, "f");
	CHECK_EQ(bus_register(&bus, 0x90000, 4, &ops, NULL, "g"), -ENOSPC);
	bus_destroy(&bus);
}

/* A poster that records what it was asked. */
static struct {
	int posts, unposts, fail;
	uint64_t base, len;
} poster;

static int rec_post(void *opaque, uint64_t base, uint64_t len)
{
	if (poster.fail)
		return poster.fail;
	poster.posts++;
	poster.base = base;
	poster.len = len;
	return 0;
}

static void rec_unpost(void *opaque, uint64_t base, uint64_t len)
{
	poster.unposts++;
	poster.base = base;
	poster.len = len;
}

static void test_post(void)
{
	struct bus bus;

	CHECK_EQ(bus_init(&bus, "test"), 0);
	CHECK_EQ(bus_register(&bus, 0x1000, 0x100, &ops, NULL, "a"), 0);
	CHECK_EQ(bus_register(&bus, 0x2000, 0x100, &ops, NULL, "b"), 0);
	/* A bus that cannot post says yes and changes nothing. */
	CHECK_EQ(bus_post_writes(&bus, 0x1000, 0x10), 0);
	CHECK_EQ(bus_unregister(&bus, 0x1000), 0);
	CHECK_EQ(poster.unposts, 0);
	CHECK_EQ(bus_register(&bus, 0x1000, 0x100, &ops, NULL, "a"), 0);

	bus.poster = (struct bus_poster){ rec_post, rec_unpost, NULL };
	CHECK_EQ(bus_post_writes(&bus, 0x1010, 0x20), 0);
	CHECK_EQ(poster.posts, 1);
	CHECK_EQ(poster.base, 0x1010);
	CHECK_EQ(poster.len, 0x20);
	/* Only inside one range. */
	CHECK_EQ(bus_post_writes(&bus, 0x10f0, 0x20), -ENOENT);
	CHECK_EQ(bus_post_writes(&bus, 0x1800, 4), -ENOENT);
	CHECK_EQ(bus_post_writes(&bus, 0x1000, 0), -EINVAL);
	CHECK_EQ(bus_post_writes(&bus, ~0ULL - 1, 4), -EINVAL);
	CHECK_EQ(poster.posts, 1);
	/* A refusal leaves the range as it was: no withdrawal later. */
	poster.fail = -ENOSPC;
	CHECK_EQ(bus_post_writes(&bus, 0x2000, 4), -ENOSPC);
	poster.fail = 0;
	CHECK_EQ(bus_unregister(&bus, 0x2000), 0);
	CHECK_EQ(poster.unposts, 0);
	/* Unregistering withdraws the whole range's posted spans. */
	CHECK_EQ(bus_unregister(&bus, 0x1000), 0);
	CHECK_EQ(poster.unposts, 1);
	CHECK_EQ(poster.base, 0x1000);
	CHECK_EQ(poster.len, 0x100);
	bus_destroy(&bus);
}

/* What a recorder device saw, in order. */
static struct {
	int n;
	uint64_t off[8], val[8];
	uint32_t len[8];
} seen;

static void rec_wr(void *opaque, uint64_t off, const uint8_t *d, uint32_t len)
{
	if (seen.n < 8) {
		seen.off[seen.n] = off;
		seen.val[seen.n] = bus_get(d, len);
		seen.len[seen.n] = len;
	}
	seen.n++;
}

static const struct bus_ops rec_ops = { rd, rec_wr };

static void put_entry(struct kvm_coalesced_mmio_ring *r, uint32_t i,
		      uint64_t addr, uint32_t len, uint64_t v, bool pio)
{
	struct kvm_coalesced_mmio *e = &r->coalesced_mmio[i];

	memset(e, 0, sizeof(*e));
	e->phys_addr = addr;
	e->len = len;
	e->pio = pio;
	bus_put(e->data, len > 8 ? 8 : len, v);
}

/* The ring KVM fills, drained as a vCPU drains it: in order, across the
 * wrap, to the bus each entry names, nothing read past the ring. */
static void test_posted_drain(void)
{
	struct kvm k;
	struct kvm_coalesced_mmio_ring *r = calloc(1, 4096);

	CHECK(r != NULL);
	kvm_init(&k, topology_flat(1), (struct vm_control){ 0 });
	k.posted_max = (4096 - sizeof(*r)) / sizeof(r->coalesced_mmio[0]);
	CHECK_EQ(bus_register(&k.mmio, 0xfe000000, 0x1000, &rec_ops, NULL,
			      "dev"), 0);
	CHECK_EQ(bus_register(&k.pio, 0x60, 4, &rec_ops, NULL, "port"), 0);

	/* Empty: nothing happens. */
	kvm_posted_drain(&k, r);
	CHECK_EQ(seen.n, 0);

	/* Three entries across the wrap, one of them for a port. */
	r->first = k.posted_max - 2;
	put_entry(r, k.posted_max - 2, 0xfe002818 - 0x2000, 4, 17, false);
	put_entry(r, k.posted_max - 1, 0x61, 1, 0x5a, true);
	put_entry(r, 0, 0xfe000100, 8, 0x1122334455667788ULL, false);
	r->last = 1;
	kvm_posted_drain(&k, r);
	CHECK_EQ(seen.n, 3);
	CHECK_EQ(seen.off[0], 0x818);
	CHECK_EQ(seen.val[0], 17);
	CHECK_EQ(seen.off[1], 1);
	CHECK_EQ(seen.val[1], 0x5a);
	CHECK_EQ(seen.len[1], 1);
	CHECK_EQ(seen.off[2], 0x100);
	CHECK_EQ(seen.val[2], 0x1122334455667788ULL);
	CHECK_EQ(r->first, 1);

	/* Nobody at the address: skipped (logged), the rest delivered; a
	 * length over 8 is cut to the entry's 8 bytes. */
	seen.n = 0;
	put_entry(r, 1, 0xfd000000, 4, 1, false);
	put_entry(r, 2, 0xfe000010, 12, 0x0102030405060708ULL, false);
	r->last = 3;
	kvm_posted_drain(&k, r);
	CHECK_EQ(seen.n, 1);
	CHECK_EQ(seen.off[0], 0x10);
	CHECK_EQ(seen.len[0], 8);
	CHECK_EQ(r->first, 3);

	/* Indices past the ring: not followed. */
	seen.n = 0;
	r->last = k.posted_max + 5;
	kvm_posted_drain(&k, r);
	CHECK_EQ(seen.n, 0);
	CHECK_EQ(r->first, 3);
	r->first = k.posted_max;
	r->last = 0;
	kvm_posted_drain(&k, r);
	CHECK_EQ(seen.n, 0);

	kvm_destroy(&k);
	free(r);
}

static void test_mem(void)
{
	struct mem_config cfg = { .size = 4ULL << 30, .shared = true,
				  .numa_node = -1 };
	struct guest_mem mem;
	uint8_t *p;

	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	CHECK_EQ(mem.nregions, 2);
	CHECK_EQ(guest_mem_low_size(&mem), MEM_HOLE_START);
	CHECK(guest_mem_ptr(&mem, 0, 4096) == mem.base);
	CHECK(guest_mem_ptr(&mem, MEM_HOLE_START - 8, 8) != NULL);
	CHECK(guest_mem_ptr(&mem, MEM_HOLE_START - 8, 9) == NULL);
	CHECK(guest_mem_ptr(&mem, MEM_HOLE_START, 1) == NULL);	/* hole */
	p = guest_mem_ptr(&mem, MEM_4G, 1);
	CHECK(p == mem.base + MEM_HOLE_START);
	CHECK(guest_mem_ptr(&mem, MEM_4G + (1ULL << 30) - 1, 1) != NULL);
	CHECK(guest_mem_ptr(&mem, MEM_4G + (1ULL << 30), 1) == NULL);
	/* Sums that would wrap around 2^64. */
	CHECK(guest_mem_ptr(&mem, 0x1000, ~0ULL) == NULL);
	CHECK(guest_mem_ptr(&mem, ~0ULL - 1, 4) == NULL);
	CHECK(guest_mem_ptr(&mem, MEM_4G, ~0ULL - MEM_4G + 2) == NULL);
	/* Shared mapping: writes show through the memfd. */
	p[0] = 0xab;
	{
		uint8_t b = 0;

		CHECK_EQ(pread(mem.fd, &b, 1, MEM_HOLE_START), 1);
		CHECK_EQ(b, 0xab);
	}
	guest_mem_destroy(&mem);

	/* Private (the default): no fd for others to map. */
	cfg.shared = false;
	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	CHECK_EQ(mem.fd, -1);
	CHECK(guest_mem_ptr(&mem, MEM_4G, 1) == mem.base + MEM_HOLE_START);
	guest_mem_destroy(&mem);

	cfg.size = 3ULL << 20;
	cfg.hugepages = true;
	CHECK_EQ(guest_mem_create(&mem, &cfg), -EINVAL);	/* not 2M */
}

/* A handler that moves a range on the bus it was reached through, as a
 * PCI config write does for an I/O BAR: must not deadlock. */
static struct bus *reentrant_bus;
static int moved_reads;

static void moved_read(void *opaque, uint64_t off, uint8_t *d, uint32_t len)
{
	moved_reads++;
	memset(d, 0x5a, len);
}

static const struct bus_ops moved_ops = { .read = moved_read };

static void mover_write(void *opaque, uint64_t off, const uint8_t *d,
			uint32_t len)
{
	bus_unregister(reentrant_bus, 0x1000);
	bus_register(reentrant_bus, 0x2000, 8, &moved_ops, NULL, "moved");
}

static const struct bus_ops mover_ops = { .write = mover_write };

static void test_reentrant(void)
{
	struct bus b;
	uint8_t v = 1;

	CHECK_EQ(bus_init(&b, "pio"), 0);
	reentrant_bus = &b;
	CHECK_EQ(bus_register(&b, 0xcf8, 8, &mover_ops, NULL, "cfg"), 0);
	CHECK_EQ(bus_register(&b, 0x1000, 8, &moved_ops, NULL, "bar"), 0);
	CHECK(bus_write(&b, 0xcfc, &v, 1));
	CHECK(!bus_read(&b, 0x1000, &v, 1));
	CHECK(bus_read(&b, 0x2004, &v, 1));
	CHECK_EQ(v, 0x5a);
	CHECK_EQ(moved_reads, 1);
	bus_destroy(&b);
}

int main(void)
{
	test_bus();
	test_reentrant();
	test_post();
	test_posted_drain();
	test_mem();
	return check_done("test_bus");
}
