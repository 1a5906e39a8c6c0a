/* Fuzz target: the virtio-pci transport (virtio/pci.c) as a guest drives
 * it: common-config sequences (status, feature selects, queue select,
 * size, vector, addresses, enable), the MSI-X table and PBA, the ISR and
 * device-config regions, config-space writes (BARs moved anywhere, the
 * command register, the MSI-X enable and function-mask bits), and the
 * device reporting a broken ring. KVM is a fake irq_ops that checks every
 * call it gets; the device is a fake that records start and stop.
 *
 * Input: byte 0 = queues (1 + b % 4) and whether the device refuses to
 * start (bit 7). Then ops, each an opcode byte and its arguments:
 *  op % 8 = 0  common config write: off (byte % 0x40), len selector,
 *              value (4 bytes)
 *           1  status write: value (byte)
 *           2  queue setup: select (byte), size (2), vector (2),
 *              enable (byte): written in that order
 *           3  BAR write anywhere: off (2 bytes % BAR size), len
 *              selector, value (8 bytes)
 *           4  BAR read: off (2), len selector
 *           5  config space write: off (byte), len selector, value (4)
 *           6  MSI-X entry write: entry (byte), word (byte % 4), value (4)
 *           7  the device breaks (virtio_bus_needs_reset), then the main
 *              loop serves it
 * A len selector picks 1, 2, 4 or 8 bytes (config space: 1, 2, 4).
 * Checked after every op: KVM is only asked about GSIs the transport
 * allocated and still holds; a queue's irqfd sits on the GSI of its own
 * vector, which is below the table size; a started transport has
 * DRIVER_OK and FEATURES_OK; the device runs exactly while the transport
 * says started; the neighbouring device on the MMIO bus still answers at
 * its address whatever the BAR did.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "core/bus.h"
#include "core/loop.h"
#include "core/pci.h"
#include "virtio/pci.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define FZ_GSI0 24
#define FZ_MAX_GSI 128
#define FZ_MAX_FD 4096
#define FZ_NEIGHBOUR 0xd0000000ULL	/* another device's page */
#define FZ_MAGIC 0x5a
#define FZ_QUEUE_SIZE 256

static struct {
	bool allocated[FZ_MAX_GSI];
	uint32_t next;
	int irqfd_gsi[FZ_MAX_FD];	/* by fd: -1 none */
	uint64_t ioev[FZ_MAX_FD];	/* by fd: 0 none */
	bool refuse_start;
	bool dev_running;
	unsigned long signals, routes;
} k;

static struct {
	unsigned long ops, starts, resets, bar_moves, needs_reset;
} fz_stats;

static bool gsi_ok(uint32_t gsi)
{
	return gsi >= FZ_GSI0 && gsi < FZ_GSI0 + FZ_MAX_GSI &&
	       k.allocated[gsi - FZ_GSI0];
}

static int f_alloc(void *kvm, uint32_t *gsi)
{
	for (uint32_t i = 0; i < FZ_MAX_GSI; i++)
		if (!k.allocated[i]) {
			k.allocated[i] = true;
			*gsi = FZ_GSI0 + i;
			return 0;
		}
	return -ENOSPC;
}

static void f_free(void *kvm, uint32_t gsi)
{
	FZ_ASSERT(gsi_ok(gsi));
	k.allocated[gsi - FZ_GSI0] = false;
}

static int f_route(void *kvm, uint32_t gsi, bool valid, uint64_t addr,
		   uint32_t data)
{
	FZ_ASSERT(gsi_ok(gsi));
	k.routes++;
	return 0;
}

static int f_signal(void *kvm, uint64_t addr, uint32_t data)
{
	k.signals++;
	return 0;
}

static int f_irqfd(void *kvm, int fd, uint32_t gsi, bool assign)
{
	FZ_ASSERT(fd >= 0 && fd < FZ_MAX_FD && gsi_ok(gsi));
	/* Assign onto a free fd; deassign from the GSI it is on. */
	if (assign)
		FZ_ASSERT(k.irqfd_gsi[fd] == -1);
	else
		FZ_ASSERT(k.irqfd_gsi[fd] == (int)gsi);
	k.irqfd_gsi[fd] = assign ? (int)gsi : -1;
	return 0;
}

static int f_ioeventfd(void *kvm, int fd, uint64_t addr, uint32_t len,
		       bool assign)
{
	FZ_ASSERT(fd >= 0 && fd < FZ_MAX_FD);
	k.ioev[fd] = assign ? addr : 0;
	return 0;
}

static const struct irq_ops fz_irq = {
	f_alloc, f_free, f_route, f_signal, f_irqfd, f_ioeventfd,
};

/* --- the device ---------------------------------------------------------- */

static uint8_t fz_config[12];

static uint64_t d_features(void *d)
{
	return 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX |
	       1ULL << VIRTIO_F_RING_PACKED | 1ULL << 3;
}

static void d_cfg_read(void *d, uint32_t off, uint8_t *data, uint32_t len)
{
	FZ_ASSERT(off + len <= sizeof(fz_config));
	memcpy(data, fz_config + off, len);
}

static int d_start(void *d, uint64_t features, const struct virtio_queue_io *q,
		   unsigned int nq)
{
	FZ_ASSERT(!k.dev_running);
	FZ_ASSERT(features & (1ULL << VIRTIO_F_VERSION_1));
	FZ_ASSERT(!(features & ~d_features(d)));
	if (k.refuse_start)
		return -EIO;
	/* Sizes are capped at the maximum; the ring rules (a power of two,
	 * not 0) are the device's to check when it sets the queue up. */
	for (unsigned int i = 0; i < nq; i++)
		FZ_ASSERT(q[i].size <= FZ_QUEUE_SIZE);
	k.dev_running = true;
	fz_stats.starts++;
	return 0;
}

static void d_stop(void *d)
{
	FZ_ASSERT(k.dev_running);
	k.dev_running = false;
}

static const struct virtio_dev_ops fz_dev = {
	.device_id = 2,
	.config_size = sizeof(fz_config),
	.features = d_features,
	.config_read = d_cfg_read,
	.start = d_start,
	.stop = d_stop,
};

/* --- a neighbour on the MMIO bus ---------------------------------------- */

static void nb_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, FZ_MAGIC, len);
}

static void nb_write(void *opaque, uint64_t off, const uint8_t *data,
		     uint32_t len)
{
}

static const struct bus_ops nb_ops = { nb_read, nb_write };

/* --- the run ------------------------------------------------------------ */

struct fz {
	struct virtio_pci t;
	struct bus mmio;
	struct pci_bus pci;
	struct loop loop;
	uint8_t devfn;
	const uint8_t *p, *end;
};

static bool take(struct fz *f, void *dst, size_t n)
{
	if ((size_t)(f->end - f->p) < n)
		return false;
	memcpy(dst, f->p, n);
	f->p += n;
	return true;
}

static uint64_t le(const uint8_t *b, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | b[n];
	return v;
}

static void bar_wr(struct fz *f, uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t d[8];

	if (!f->t.bar)
		return;
	bus_put(d, len, v);
	bus_write(&f->mmio, f->t.bar + off, d, len);
}

static void fz_check(struct fz *f)
{
	struct virtio_pci *t = &f->t;
	uint8_t d[4];

	FZ_ASSERT(t->started == k.dev_running);
	if (t->started)
		FZ_ASSERT((t->status & VIRTIO_STATUS_DRIVER_OK) &&
			  (t->status & VIRTIO_STATUS_FEATURES_OK));
	for (unsigned int i = 0; i < t->nqueues; i++) {
		const struct vpci_queue *q = &t->q[i];
		int fd = q->io.call_fd;

		FZ_ASSERT(fd >= 0 && fd < FZ_MAX_FD);
		if (q->irqfd_on) {
			FZ_ASSERT(t->started && q->vector < t->nvec);
			FZ_ASSERT(k.irqfd_gsi[fd] == (int)t->gsi[q->vector]);
		} else {
			FZ_ASSERT(k.irqfd_gsi[fd] == -1);
		}
	}
	FZ_ASSERT(bus_read(&f->mmio, FZ_NEIGHBOUR + 8, d, 4));
	FZ_ASSERT(le(d, 4) == 0x5a5a5a5aU);
}

static void fz_op(struct fz *f)
{
	struct virtio_pci *t = &f->t;
	static const uint32_t lens[4] = { 1, 2, 4, 8 };
	uint8_t op, b[12];

	if (!take(f, &op, 1))
		return;
	fz_stats.ops++;
	switch (op % 8) {
	case 0:
		if (take(f, b, 6))
			bar_wr(f, b[0] % 0x40, lens[b[1] % 3], le(b + 2, 4));
		break;
	case 1:
		if (take(f, b, 1)) {
			if (!b[0])
				fz_stats.resets++;
			bar_wr(f, 0x14, 1, b[0]);
		}
		break;
	case 2:
		if (take(f, b, 6)) {
			bar_wr(f, 0x16, 2, b[0]);
			bar_wr(f, 0x18, 2, le(b + 1, 2));
			bar_wr(f, 0x1a, 2, le(b + 3, 2));
			bar_wr(f, 0x1c, 2, b[5] & 1);
		}
		break;
	case 3:
		if (take(f, b, 11))
			bar_wr(f, le(b, 2) % VPCI_BAR_SIZE, lens[b[2] % 4],
			       le(b + 3, 8));
		break;
	case 4:
		if (take(f, b, 3) && t->bar) {
			uint8_t d[8];

			bus_read(&f->mmio, t->bar + le(b, 2) % VPCI_BAR_SIZE, d,
				 lens[b[2] % 4]);
		}
		break;
	case 5:
		if (take(f, b, 6)) {
			/* BAR 0 lands on a few places: the neighbour among
			 * them, so moves collide. */
			uint32_t off = b[0], v = (uint32_t)le(b + 2, 4);

			if (off >= 0x10 && off < 0x14 && (b[1] & 0x80))
				v = (uint32_t)(b[1] & 1 ? FZ_NEIGHBOUR :
						       0xc0000000 + 0x8000 * (b[1] & 6));
			fz_stats.bar_moves += off >= 0x10 && off < 0x18;
			pci_cfg_write(&f->pci, f->devfn, off, lens[b[1] % 3], v);
		}
		break;
	case 6:
		if (take(f, b, 6))
			bar_wr(f, 0x4000 + 16 * (b[0] % (t->nvec + 1)) +
					  4 * (b[1] % 4),
			       4, le(b + 2, 4));
		break;
	case 7: {
		struct virtio_bus vb = virtio_pci_bus(t);

		virtio_bus_needs_reset(&vb);
		t->err_watch.cb(&t->err_watch, 1);
		fz_stats.needs_reset++;
		break;
	}
	}
	fz_check(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	struct virtio_pci_host host = { .irq = &fz_irq, .mmio = &f.mmio,
					.pci = &f.pci, .loop = &f.loop,
					.ioeventfd_any_len = true };

	if (size < 1)
		return 0;
	memset(&k, 0, sizeof(k));
	memset(k.irqfd_gsi, 0xff, sizeof(k.irqfd_gsi));
	k.refuse_start = data[0] & 0x80;
	f.p = data + 1;
	f.end = data + size;
	FZ_NEVER(loop_init(&f.loop));
	FZ_NEVER(bus_init(&f.mmio, "mmio") ||
		 pci_bus_init(&f.pci, (struct vm_control){ 0 }) ||
		 bus_register(&f.mmio, FZ_NEIGHBOUR, 0x1000, &nb_ops, NULL,
			      "nb") ||
		 virtio_pci_create(&f.t, &host, "virtio-fuzz", &fz_dev, NULL,
				   1 + data[0] % 4, FZ_QUEUE_SIZE));
	f.devfn = f.t.pci.devfn;
	/* The firmware's part: BAR 0 placed, memory decoding on. Every input
	 * starts with a transport the guest can reach. */
	pci_cfg_write(&f.pci, f.devfn, 0x10, 4, 0xc0000000);
	pci_cfg_write(&f.pci, f.devfn, 0x14, 4, 0);
	pci_cfg_write(&f.pci, f.devfn, 0x04, 2, 0x6);
	fz_check(&f);
	while (f.p < f.end)
		fz_op(&f);
	pci_cfg_write(&f.pci, f.devfn, 0x04, 2, 0);
	virtio_pci_destroy(&f.t);
	FZ_ASSERT(!k.dev_running);
	for (unsigned int i = 0; i < FZ_MAX_GSI; i++)
		FZ_ASSERT(!k.allocated[i]);
	pci_bus_destroy(&f.pci);
	bus_destroy(&f.mmio);
	loop_destroy(&f.loop);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_vpci: %u inputs ran clean (%lu ops, %lu device "
		"starts, %lu resets, %lu BAR writes, %lu device breaks)\n",
		runs, fz_stats.ops, fz_stats.starts, fz_stats.resets,
		fz_stats.bar_moves, fz_stats.needs_reset);
}
#include "replay.h"
#endif
