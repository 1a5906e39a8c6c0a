/* virtio-pci transport against a fake KVM (irq_ops) and a fake device:
 * capabilities, BAR placement and ioeventfds, feature negotiation, queue
 * setup and start, MSI-X routing, masking with pending bits, reset, and
 * DEVICE_NEEDS_RESET through the error eventfd. */
#include "core/events.h"
#include "core/loop.h"
#include "virtio/pci.h"

#include "check.h"

#include <sys/epoll.h>
#include <unistd.h>

#define NQ 2
#define BAR 0xc0000000ULL

/* --- fake KVM ---------------------------------------------------------- */

static struct {
	uint32_t next_gsi;
	bool route_valid[64];
	uint64_t route_addr[64];
	uint32_t route_data[64];
	int irqfd_gsi[1024];		/* by fd: -1 none */
	uint64_t ioev_addr[1024];	/* by fd: 0 none */
	int signals;
	uint32_t last_signal_data;
} k;

static int f_alloc(void *kvm, uint32_t *gsi)
{
	*gsi = 24 + k.next_gsi++;
	return 0;
}

static void f_free(void *kvm, uint32_t gsi)
{
}

static int f_route(void *kvm, uint32_t gsi, bool valid, uint64_t addr,
		   uint32_t data)
{
	k.route_valid[gsi - 24] = valid;
	k.route_addr[gsi - 24] = addr;
	k.route_data[gsi - 24] = data;
	return 0;
}

static int f_signal(void *kvm, uint64_t addr, uint32_t data)
{
	k.signals++;
	k.last_signal_data = data;
	return 0;
}

static int f_irqfd(void *kvm, int fd, uint32_t gsi, bool assign)
{
	k.irqfd_gsi[fd] = assign ? (int)gsi : -1;
	return 0;
}

static int f_ioeventfd(void *kvm, int fd, uint64_t addr, uint32_t len,
		       bool assign)
{
	k.ioev_addr[fd] = assign ? addr : 0;
	return 0;
}

static const struct irq_ops fake_ops = {
	f_alloc, f_free, f_route, f_signal, f_irqfd, f_ioeventfd,
};

/* --- fake device ------------------------------------------------------- */

static struct {
	int starts, stops;
	uint64_t features;
	struct virtio_queue_io q[NQ];
	uint8_t config[8];
} dev;

static uint64_t d_features(void *d)
{
	return 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX | 1 << 3;
}

static void d_cfg_read(void *d, uint32_t off, uint8_t *data, uint32_t len)
{
	memcpy(data, dev.config + off, len);
}

static int d_start(void *d, uint64_t features, const struct virtio_queue_io *q,
		   unsigned int nq)
{
	dev.starts++;
	dev.features = features;
	memcpy(dev.q, q, nq * sizeof(*q));
	return 0;
}

static void d_stop(void *d)
{
	dev.stops++;
}

static const struct virtio_dev_ops dops = {
	.device_id = 2,
	.config_size = sizeof(dev.config),
	.features = d_features,
	.config_read = d_cfg_read,
	.start = d_start,
	.stop = d_stop,
};

/* --- guest-side accessors ---------------------------------------------- */

static struct pci_bus pci;
static struct bus mmio;

static uint64_t rd(uint64_t off, uint32_t len)
{
	uint8_t d[8];

	bus_read(&mmio, BAR + off, d, len);
	return bus_get(d, len);
}

static void wr(uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t d[8];

	bus_put(d, len, v);
	bus_write(&mmio, BAR + off, d, len);
}

static uint8_t devfn;

static void cfgw(uint32_t off, uint32_t len, uint32_t v)
{
	pci_cfg_write(&pci, devfn, off, len, v);
}

static uint32_t cfgr(uint32_t off, uint32_t len)
{
	return pci_cfg_read(&pci, devfn, off, len);
}

/* Finds a vendor capability of the given cfg_type; returns its offset. */
static int find_cap(uint8_t id, int type)
{
	for (int off = cfgr(0x34, 1); off; off = cfgr(off + 1, 1))
		if (cfgr(off, 1) == id && (type < 0 || cfgr(off + 3, 1) == (uint32_t)type))
			return off;
	return -1;
}

/* --- rules a guest must not get around ---------------------------------- */

/* A fresh transport on fresh buses: BAR at BAR, VERSION_1 accepted, both
 * queues (size 64) on vector `vec`, DRIVER_OK, MSI-X on and vectors 0..2
 * programmed (data 0x40 + n) and unmasked. */
static void started(struct virtio_pci *t, struct loop *loop, uint16_t vec)
{
	struct virtio_pci_host host = { .irq = &fake_ops, .mmio = &mmio,
					.pci = &pci, .loop = loop,
					.ioeventfd_any_len = true };
	int msix;

	CHECK_EQ(bus_init(&mmio, "mmio"), 0);
	CHECK_EQ(pci_bus_init(&pci, (struct vm_control){ 0 }), 0);
	CHECK_EQ(virtio_pci_create(t, &host, "vblk", &dops, NULL, NQ, 128), 0);
	devfn = t->pci.devfn;
	cfgw(0x10, 4, (uint32_t)BAR);
	cfgw(0x14, 4, 0);
	cfgw(0x04, 2, 0x6);
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);					/* VERSION_1 */
	wr(0x14, 1, 1 | 2 | 8);
	for (uint16_t q = 0; q < NQ; q++) {
		wr(0x16, 2, q);
		wr(0x18, 2, 64);
		wr(0x1a, 2, vec);
		wr(0x20, 4, 0x10000 * (q + 1u));
		wr(0x28, 4, 0x10000 * (q + 1u) + 0x2000);
		wr(0x30, 4, 0x10000 * (q + 1u) + 0x3000);
		wr(0x1c, 2, 1);
	}
	wr(0x14, 1, 1 | 2 | 8 | 4);
	msix = find_cap(0x11, -1);
	for (unsigned int v = 0; v <= NQ; v++) {
		wr(0x4000 + 16 * v, 4, 0xfee00000);
		wr(0x4000 + 16 * v + 8, 4, 0x40 + v);
		wr(0x4000 + 16 * v + 12, 4, 0);
	}
	cfgw(msix + 2, 2, 0x8000);
}

static void finished(struct virtio_pci *t)
{
	cfgw(0x04, 2, 0);
	virtio_pci_destroy(t);
	pci_bus_destroy(&pci);
	bus_destroy(&mmio);
}

/* A status can only gain bits; only a write of 0 takes them away (virtio
 * 1.2 §2.1.1, 4.1.4.3.2). A write that would clear DRIVER_OK without a
 * reset is refused and marks the device DEVICE_NEEDS_RESET: the transport
 * stays started, so the queue registers stay frozen. It used to unfreeze
 * them, and a queue vector of 0xffff then made the reset read t->gsi[65535]. */
static void test_status_rules(void)
{
	struct virtio_pci t;
	struct loop loop;
	int call;

	CHECK_EQ(loop_init(&loop), 0);
	dev.starts = dev.stops = 0;
	started(&t, &loop, 1);
	call = t.q[0].io.call_fd;
	CHECK_EQ(dev.starts, 1);
	CHECK_EQ(k.irqfd_gsi[call], (int)t.gsi[1]);
	wr(0x14, 1, 1 | 2 | 8);				/* 0x0b */
	CHECK_EQ(rd(0x14, 1), 1 | 2 | 4 | 8 | 0x40);
	CHECK_EQ(dev.stops, 0);
	wr(0x16, 2, 0);
	wr(0x18, 2, 32);				/* still frozen */
	CHECK_EQ(rd(0x18, 2), 64);
	/* Whatever the vector becomes, the irqfd is never left behind. */
	wr(0x1a, 2, 0xffff);
	CHECK_EQ(rd(0x1a, 2), 0xffff);
	CHECK_EQ(k.irqfd_gsi[call], -1);
	/* Other bits may not go either, FEATURES_OK among them. */
	wr(0x14, 1, 1 | 2 | 4);
	CHECK_EQ(rd(0x14, 1), 1 | 2 | 4 | 8 | 0x40);
	/* A reset, and the device starts again. */
	wr(0x14, 1, 0);
	CHECK_EQ(dev.stops, 1);
	CHECK_EQ(rd(0x14, 1), 0);
	CHECK_EQ(k.irqfd_gsi[call], -1);
	wr(0x14, 1, 1);
	wr(0x14, 1, 1 | 2);
	CHECK_EQ(rd(0x14, 1), 1 | 2);
	finished(&t);
	loop_destroy(&loop);
}

/* queue_msix_vector may change while the device runs (the driver reads it
 * back to see the mapping took): the queue's irqfd moves to the new
 * vector's GSI with it, or comes off for NO_VECTOR or a masked vector. */
static void test_vector_move(void)
{
	struct virtio_pci t;
	struct loop loop;
	int call;

	CHECK_EQ(loop_init(&loop), 0);
	started(&t, &loop, 1);
	call = t.q[0].io.call_fd;
	CHECK_EQ(k.irqfd_gsi[call], (int)t.gsi[1]);
	wr(0x16, 2, 0);
	wr(0x1a, 2, 2);
	CHECK_EQ(rd(0x1a, 2), 2);
	CHECK_EQ(k.irqfd_gsi[call], (int)t.gsi[2]);
	CHECK_EQ(k.irqfd_gsi[t.q[1].io.call_fd], (int)t.gsi[1]);
	/* Out of range reads back NO_VECTOR, and no GSI keeps the irqfd. */
	wr(0x1a, 2, 77);
	CHECK_EQ(rd(0x1a, 2), 0xffff);
	CHECK_EQ(k.irqfd_gsi[call], -1);
	/* To a masked vector: no irqfd; a signal waits in the PBA until the
	 * vector is unmasked. */
	wr(0x4000 + 16 * 0 + 12, 4, 1);
	wr(0x1a, 2, 0);
	CHECK_EQ(k.irqfd_gsi[call], -1);
	k.signals = 0;
	CHECK_EQ(write(call, &(uint64_t){ 1 }, 8), 8);
	CHECK_EQ(rd(0x6000, 8), 1);
	wr(0x4000 + 16 * 0 + 12, 4, 0);
	CHECK_EQ(k.signals, 1);
	CHECK_EQ(k.last_signal_data, 0x40);
	CHECK_EQ(k.irqfd_gsi[call], (int)t.gsi[0]);
	/* Reset: every irqfd comes off the GSI it is on. */
	wr(0x14, 1, 0);
	CHECK_EQ(k.irqfd_gsi[call], -1);
	CHECK_EQ(k.irqfd_gsi[t.q[1].io.call_fd], -1);
	finished(&t);
	loop_destroy(&loop);
}

/* Another device's range, for a BAR to collide with. */
static int other_reads;

static void other_read(void *opaque, uint64_t off, uint8_t *data,
		       uint32_t len)
{
	other_reads++;
	memset(data, 0x5a, len);
}

static void other_write(void *opaque, uint64_t off, const uint8_t *data,
			uint32_t len)
{
}

static const struct bus_ops other_ops = { other_read, other_write };

/* A BAR moved onto another device's range cannot take it: the transport
 * keeps decoding at its old address, with its ioeventfds there, and a
 * later move leaves the other device alone (it used to record the failed
 * address as its own and unregister whoever sat there). */
static void test_bar_collision(void)
{
	const uint64_t other = BAR + 0x100000;
	struct virtio_pci t;
	struct loop loop;

	CHECK_EQ(loop_init(&loop), 0);
	started(&t, &loop, 1);
	CHECK_EQ(bus_register(&mmio, other, 0x1000, &other_ops, NULL,
			      "other"), 0);
	cfgw(0x10, 4, (uint32_t)other);
	CHECK_EQ(rd(0x12, 2), NQ);			/* still at BAR */
	CHECK_EQ(k.ioev_addr[t.q[0].io.kick_fd], BAR + 0x3000);
	other_reads = 0;
	{
		uint8_t d[4];

		CHECK(bus_read(&mmio, other, d, 4));
		CHECK_EQ(d[0], 0x5a);
	}
	CHECK_EQ(other_reads, 1);
	/* Moved on: the other range stays where it was. */
	cfgw(0x10, 4, (uint32_t)(BAR + 0x200000));
	CHECK_EQ(k.ioev_addr[t.q[0].io.kick_fd], BAR + 0x203000);
	{
		uint8_t d[4];

		CHECK(bus_read(&mmio, other, d, 4));
		CHECK_EQ(other_reads, 2);
		CHECK(!bus_read(&mmio, BAR, d, 4));
		CHECK(bus_read(&mmio, BAR + 0x200000 + 0x12, d, 2));
		CHECK_EQ(d[0], NQ);
	}
	/* Decoding off: nothing of ours is left on the bus. */
	cfgw(0x04, 2, 0);
	CHECK_EQ(k.ioev_addr[t.q[0].io.kick_fd], 0);
	{
		uint8_t d[4];

		CHECK(!bus_read(&mmio, BAR + 0x200000, d, 4));
		CHECK(bus_read(&mmio, other, d, 4));
	}
	bus_unregister(&mmio, other);
	finished(&t);
	loop_destroy(&loop);
}

int main(void)
{
	struct virtio_pci t;
	struct loop loop;
	struct virtio_pci_host host = { .irq = &fake_ops, .mmio = &mmio,
					.pci = &pci, .loop = &loop,
					.ioeventfd_any_len = true };
	struct virtio_bus vbus;
	int evp[2];
	char evbuf[512];
	ssize_t evn;
	int common, notify, msix;
	uint64_t one = 1;

	memset(k.irqfd_gsi, 0xff, sizeof(k.irqfd_gsi));
	/* The event monitor sees the device break. */
	CHECK_EQ(pipe(evp), 0);
	CHECK_EQ(events_open(&host.events, NULL, evp[1]), 0);
	CHECK_EQ(loop_init(&loop), 0);
	CHECK_EQ(bus_init(&mmio, "mmio"), 0);
	CHECK_EQ(pci_bus_init(&pci, (struct vm_control){ 0 }), 0);
	CHECK_EQ(virtio_pci_create(&t, &host, "vblk", &dops, NULL, NQ, 128), 0);
	devfn = t.pci.devfn;

	/* Identity and capabilities. */
	CHECK_EQ(cfgr(0, 2), 0x1af4);
	CHECK_EQ(cfgr(2, 2), 0x1042);
	common = find_cap(0x09, 1);
	notify = find_cap(0x09, 2);
	msix = find_cap(0x11, -1);
	CHECK(common > 0 && notify > 0 && msix > 0);
	CHECK(find_cap(0x09, 3) > 0 && find_cap(0x09, 4) > 0);
	CHECK_EQ(cfgr(notify + 16, 4), 4);		/* notify_off_multiplier */
	CHECK_EQ(cfgr(msix + 2, 2) & 0x7ff, NQ);	/* NQ + 1 vectors */

	/* BAR placement: the BAR appears on the bus, ioeventfds follow. */
	cfgw(0x10, 4, (uint32_t)BAR);
	cfgw(0x14, 4, 0);
	cfgw(0x04, 2, 0x6);				/* memory + master */
	CHECK_EQ(k.ioev_addr[t.q[0].io.kick_fd], BAR + 0x3000);
	CHECK_EQ(k.ioev_addr[t.q[1].io.kick_fd], BAR + 0x3004);
	CHECK_EQ(rd(0x12, 2), NQ);			/* num_queues */

	/* Features: a bit we did not offer makes FEATURES_OK not stick. */
	wr(0x14, 1, 1 | 2);
	wr(0x00, 4, 1);
	CHECK_EQ(rd(0x04, 4), 1);			/* VERSION_1 */
	wr(0x08, 4, 0);
	wr(0x0c, 4, 1 << 3 | 1 << 5);			/* 5 not offered */
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);
	wr(0x14, 1, 1 | 2 | 8);
	CHECK_EQ(rd(0x14, 1) & 8, 0);
	wr(0x08, 4, 0);
	wr(0x0c, 4, 1 << 3);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 0);					/* no VERSION_1 */
	wr(0x14, 1, 1 | 2 | 8);
	CHECK_EQ(rd(0x14, 1) & 8, 0);
	wr(0x0c, 4, 1);
	wr(0x14, 1, 1 | 2 | 8);
	CHECK_EQ(rd(0x14, 1) & 8, 8);

	/* Queues: sizes are capped, vectors out of range read NO_VECTOR. */
	wr(0x16, 2, 0);
	CHECK_EQ(rd(0x18, 2), 128);
	wr(0x18, 2, 4096);
	CHECK_EQ(rd(0x18, 2), 128);
	wr(0x18, 2, 64);
	wr(0x1a, 2, 1);
	wr(0x20, 4, 0x1000);
	wr(0x24, 4, 0x1);
	wr(0x28, 4, 0x2000);
	wr(0x30, 4, 0x3000);
	wr(0x1c, 2, 1);
	CHECK_EQ(rd(0x20, 4), 0x1000);
	CHECK_EQ(rd(0x24, 4), 1);
	wr(0x16, 2, 1);
	wr(0x1a, 2, 77);
	CHECK_EQ(rd(0x1a, 2), 0xffff);
	wr(0x1a, 2, 2);
	wr(0x1c, 2, 1);
	wr(0x16, 2, 9);					/* no such queue */
	CHECK_EQ(rd(0x18, 2), 0);
	wr(0x10, 2, 0);					/* config vector 0 */

	/* DRIVER_OK starts the device with what the driver wrote. */
	wr(0x14, 1, 1 | 2 | 8 | 4);
	CHECK_EQ(dev.starts, 1);
	CHECK_EQ(dev.features, 1ULL << 32 | 1 << 3);
	CHECK_EQ(dev.q[0].size, 64);
	CHECK_EQ(dev.q[0].desc, 0x100001000ULL);
	CHECK(dev.q[0].enabled && dev.q[1].enabled);
	/* Frozen now. */
	wr(0x16, 2, 0);
	wr(0x18, 2, 32);
	CHECK_EQ(rd(0x18, 2), 64);

	/* MSI-X disabled: no irqfd yet. */
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], -1);
	/* Program vector 1 and enable MSI-X; entries start masked. */
	wr(0x4000 + 16 * 1 + 0, 4, 0xfee00000);
	wr(0x4000 + 16 * 1 + 8, 4, 0x41);
	cfgw(msix + 2, 2, 0x8000);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], -1);
	CHECK(!k.route_valid[1]);
	/* Unmask: route and irqfd. */
	wr(0x4000 + 16 * 1 + 12, 4, 0);
	CHECK(k.route_valid[1]);
	CHECK_EQ(k.route_data[1], 0x41);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], (int)t.gsi[1]);
	/* Mask: irqfd off; a signal then waits in the PBA. */
	wr(0x4000 + 16 * 1 + 12, 4, 1);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], -1);
	CHECK_EQ(rd(0x6000, 8), 0);
	CHECK_EQ(write(t.q[0].io.call_fd, &one, 8), 8);
	CHECK_EQ(rd(0x6000, 8), 1 << 1);
	/* Unmask: the pending interrupt is delivered, the bit clears. */
	k.signals = 0;
	wr(0x4000 + 16 * 1 + 12, 4, 0);
	CHECK_EQ(k.signals, 1);
	CHECK_EQ(k.last_signal_data, 0x41);
	CHECK_EQ(rd(0x6000, 8), 0);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], (int)t.gsi[1]);
	/* The function mask takes every vector down. */
	cfgw(msix + 2, 2, 0xc000);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], -1);
	CHECK(!k.route_valid[1]);
	cfgw(msix + 2, 2, 0x8000);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], (int)t.gsi[1]);
	/* The PBA's end: a read past the pending bits gives 0, not memory
	 * beyond them. */
	CHECK_EQ(rd(0x6000 + 120, 8), 0);
	CHECK_EQ(rd(0x6000 + 12, 8), 0);
	/* Out-of-range table access is ignored. */
	wr(0x4000 + 16 * 40, 4, 0x1234);
	CHECK_EQ(rd(0x4000 + 16 * 40, 4), 0);

	/* The device breaks: DEVICE_NEEDS_RESET and a config interrupt. */
	wr(0x4000 + 16 * 0 + 8, 4, 0x40);
	wr(0x4000 + 16 * 0 + 12, 4, 0);
	k.signals = 0;
	vbus = virtio_pci_bus(&t);
	virtio_bus_needs_reset(&vbus);
	{
		struct epoll_event ev;

		CHECK_EQ(epoll_wait(loop.epfd, &ev, 1, 1000), 1);
		((struct loop_watch *)ev.data.ptr)->cb(ev.data.ptr, ev.events);
	}
	CHECK_EQ(rd(0x14, 1) & 0x40, 0x40);
	CHECK_EQ(k.signals, 1);
	CHECK_EQ(k.last_signal_data, 0x40);
	CHECK_EQ(rd(0x1000, 1) & 2, 2);			/* ISR config bit */
	CHECK_EQ(rd(0x1000, 1), 0);			/* read clears */
	evn = read(evp[0], evbuf, sizeof(evbuf) - 1);
	CHECK(evn > 0);
	evbuf[evn > 0 ? evn : 0] = '\0';
	CHECK(strstr(evbuf, "\"source\":\"virtio-device\",\"event\":"
			    "\"needs-reset\"") != NULL);
	CHECK(strstr(evbuf, t.name) != NULL);

	/* Reset: the device stops, irqfds go, queues are clean. */
	wr(0x14, 1, 0);
	CHECK_EQ(dev.stops, 1);
	CHECK_EQ(rd(0x14, 1), 0);
	CHECK_EQ(k.irqfd_gsi[t.q[0].io.call_fd], -1);
	wr(0x16, 2, 0);
	CHECK_EQ(rd(0x1c, 2), 0);
	CHECK_EQ(rd(0x20, 4), 0);
	CHECK_EQ(rd(0x1a, 2), 0xffff);
	/* A stale error signal after the reset changes nothing. */
	virtio_bus_needs_reset(&vbus);
	wr(0x14, 1, 0);
	CHECK_EQ(rd(0x14, 1) & 0x40, 0);

	/* The BAR moves: ioeventfds follow. */
	cfgw(0x10, 4, (uint32_t)(BAR + 0x10000));
	CHECK_EQ(k.ioev_addr[t.q[0].io.kick_fd], BAR + 0x13000);
	cfgw(0x04, 2, 0);
	CHECK_EQ(k.ioev_addr[t.q[0].io.kick_fd], 0);

	virtio_pci_destroy(&t);
	pci_bus_destroy(&pci);
	bus_destroy(&mmio);
	loop_destroy(&loop);
	events_close(host.events);
	close(evp[0]);

	test_status_rules();
	test_vector_move();
	test_bar_collision();
	return check_done("test_vpci");
}
