/* The virtio devices through core/device.h on a fake machine (buses, a
 * fake KVM irq_ops, guest RAM from core/memory.c, no KVM): virtio-blk
 * in-process (io_uring on an image file) and virtio-net over the
 * userspace datapath (a SOCK_SEQPACKET socketpair stands in for the tap),
 * split and packed rings, each behind the virtio-pci transport's
 * lifecycle. For each: realize, a guest driver brings it up through the
 * BAR and moves data; reset; pause (nothing moves, the ring waits) and
 * resume (it continues from where it stood, not a fresh ring); save ->
 * load into a fresh instance -> save again -> the same bytes; the loaded
 * one reads the same to the driver and continues the queues; hostile
 * records refused with nothing changed.
 *
 * vhost-net needs /dev/vhost-net and vhost-user a peer process: their
 * pause and resume run in the test host (tests/host), not here. */
#include "core/bus.h"
#include "core/log.h"
#include "core/bytes.h"
#include "core/device.h"
#include "core/loop.h"
#include "core/pci.h"
#include "core/state.h"
#include "net/uspace.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/pci.h"

#include "tests/unit/check.h"
#include "tests/unit/fake_machine.h"
#include "tests/unit/fake_ring.h"
#include "tests/unit/proc_threads.h"
#include "tests/unit/state_check.h"

#include <fcntl.h>
#include <sys/socket.h>

#define BAR 0xc0000000ULL
#define QSIZE 64

/* --- the guest driver, through the BAR --------------------------------- */

static uint64_t rd(struct fake_machine *m, uint64_t off, uint32_t len)
{
	uint8_t d[8] = { 0 };

	bus_read(&m->mmio, BAR + off, d, len);
	return bus_get(d, len);
}

static void wr(struct fake_machine *m, uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t d[8];

	bus_put(d, len, v);
	bus_write(&m->mmio, BAR + off, d, len);
}

/* BAR 0 at BAR, memory decoding on. */
static void place_bar(struct fake_machine *m, const struct virtio_pci *t)
{
	pci_cfg_write(&m->pci, t->pci.devfn, 0x10, 4, (uint32_t)BAR | 0x4);
	pci_cfg_write(&m->pci, t->pci.devfn, 0x14, 4, 0);
	pci_cfg_write(&m->pci, t->pci.devfn, 0x04, 2, 0x6);
}

/* Brings the device up with FEATURES on queues q[0..nq) (laid out by
 * fq_init): the driver's side of §3.1.1. */
static void driver_up(struct fake_machine *m, struct fq *q, unsigned int nq,
		      uint64_t features)
{
	wr(m, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(m, 0x08, 4, 0);
	wr(m, 0x0c, 4, (uint32_t)features);
	wr(m, 0x08, 4, 1);
	wr(m, 0x0c, 4, (uint32_t)(features >> 32));
	wr(m, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		       VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < nq; i++) {
		wr(m, 0x16, 2, i);
		wr(m, 0x18, 2, q[i].num);
		wr(m, 0x20, 8, q[i].desc_gpa);
		wr(m, 0x28, 8, q[i].drv_gpa);
		wr(m, 0x30, 8, q[i].dev_gpa);
		wr(m, 0x1a, 2, i);		/* MSI-X vector i */
		wr(m, 0x1c, 2, 1);
	}
	wr(m, 0x10, 2, nq);			/* config vector */
	wr(m, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void notify(struct fake_machine *m, unsigned int q)
{
	wr(m, 0x3000 + 4 * q, 2, q);
}

/* What the driver reads of the common configuration and queue i's
 * registers: the same on two devices that are the same. */
static void same_common(struct fake_machine *a, struct fake_machine *b,
			unsigned int nq)
{
	static const uint8_t regs[][2] = {
		{ 0x10, 2 }, { 0x12, 2 }, { 0x14, 1 }, { 0x15, 1 },
	};

	for (unsigned int sel = 0; sel < 2; sel++) {
		wr(a, 0x08, 4, sel);
		wr(b, 0x08, 4, sel);
		CHECK_EQ(rd(b, 0x0c, 4), rd(a, 0x0c, 4));
		wr(a, 0x00, 4, sel);
		wr(b, 0x00, 4, sel);
		CHECK_EQ(rd(b, 0x04, 4), rd(a, 0x04, 4));
	}
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		CHECK_EQ(rd(b, regs[i][0], regs[i][1]),
			 rd(a, regs[i][0], regs[i][1]));
	for (unsigned int i = 0; i < nq; i++) {
		wr(a, 0x16, 2, i);
		wr(b, 0x16, 2, i);
		for (unsigned int off = 0x18; off < 0x38; off += 2)
			CHECK_EQ(rd(b, off, 2), rd(a, off, 2));
	}
}

/* --- state records ------------------------------------------------------ */

/* The transport's tags (virtio/pci.c). */
#define TAG_DRIVER_FEATURES 4
#define TAG_CONFIG_VECTOR 7
#define TAG_STATUS 9
#define TAG_QUEUES 13
#define TAG_PAIRS_ACTIVE (VIRTIO_STATE_MODEL_TAG + 1)

/* --- virtio-blk --------------------------------------------------------- */

#define SECTORS 64

static char image[64];

static void make_image(void)
{
	uint8_t sec[512];
	int fd;

	snprintf(image, sizeof(image), "/tmp/tern-vpci-lc-XXXXXX");
	fd = mkstemp(image);
	CHECK(fd >= 0);
	for (unsigned int s = 0; s < SECTORS; s++) {
		memset(sec, (int)s, sizeof(sec));
		CHECK_EQ(write(fd, sec, sizeof(sec)), (ssize_t)sizeof(sec));
	}
	close(fd);
}

struct disk {
	struct virtio_blk blk;
	struct virtio_pci t;
};

static void disk_set_bus(void *owner, struct virtio_bus bus)
{
	virtio_blk_set_bus(&((struct disk *)owner)->blk, bus);
}

static void disk_release(void *owner)
{
	virtio_blk_destroy(&((struct disk *)owner)->blk);
}

/* The last CPU this process may run on: where the disk's queue goes. */
static int last_cpu(void)
{
	cpu_set_t s;
	int last = -1;

	if (!sched_getaffinity(0, sizeof(s), &s))
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &s))
				last = c;
	return last;
}

static void disk_init(struct disk *d, bool packed)
{
	struct blk_config cfg = {
		/* Read-only: both instances hold the image at once (its
		 * lock is shared then), as source and destination would. */
		.path = image, .queues = 1, .queue_size = QSIZE, .readonly = true,
		.packed = packed, .numa_node = -1,
		.affinity = { { 0, (uint16_t)last_cpu() } }, .naffinity = 1,
	};

	CHECK_EQ(virtio_blk_create(&d->blk, "disk0", &cfg, &mem), 0);
	virtio_pci_device_init(&d->t, "disk0", &(struct virtio_pci_model){
		.ops = &virtio_blk_ops, .dev = &d->blk, .nqueues = 1,
		.queue_size = QSIZE, .set_bus = disk_set_bus,
		.release = disk_release, .owner = d });
}

/* Offers a read of sector S (one sector) on q; returns its data gpa. */
static uint64_t offer_read(struct fq *q, uint64_t s)
{
	uint64_t hdr = galloc(16), data = galloc(512), st = galloc(1);
	struct seg segs[3] = {
		{ hdr, 16, false }, { data, 512, true }, { st, 1, true },
	};

	put_le32(gp(hdr), 0);		/* VIRTIO_BLK_T_IN */
	put_le32(gp(hdr + 4), 0);
	put_le64(gp(hdr + 8), s);
	memset(gp(data), 0xee, 512);
	*(uint8_t *)gp(st) = 0xff;
	fq_offer(q, segs, 3);
	return data;
}

/* The read offered at DATA completed with sector S's bytes. */
static void check_read(struct fq *q, uint64_t data, uint8_t s)
{
	uint32_t id, len;
	uint8_t want[512];

	CHECK(fq_wait(q, &id, &len));
	CHECK_EQ(len, 513);
	memset(want, s, sizeof(want));
	CHECK_MEM(gp(data), want, sizeof(want));
	CHECK_EQ(*(uint8_t *)gp(data + 512 + 0) == 0xee, false);
}

static void test_blk(bool packed)
{
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1 |
			    1ULL << VIRTIO_F_EVENT_IDX |
			    (packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
	struct fake_machine m1, m2;
	struct disk *d1 = calloc(1, sizeof(*d1)), *d2 = calloc(1, sizeof(*d2));
	struct state_writer w;
	struct fq q = { 0 };
	uint32_t id, len;
	uint64_t data;

	machine_init(&m1, &mem);
	machine_init(&m2, &mem);
	disk_init(d1, packed);
	CHECK_EQ(d1->t.device.state, DEVICE_CREATED);
	CHECK_EQ(device_realize(&d1->t.device, &m1.host), 0);
	place_bar(&m1, &d1->t);
	fq_init(&q, 0, QSIZE, packed);
	driver_up(&m1, &q, 1, features);
	CHECK(rd(&m1, 0x14, 1) & VIRTIO_STATUS_DRIVER_OK);
	data = offer_read(&q, 3);
	notify(&m1, 0);
	check_read(&q, data, 3);
	/* The queue's thread answered from the CPU its affinity names (a
	 * process held to one CPU cannot tell pinned from not). */
	CHECK_EQ(queue_threads_on(getpid(), last_cpu()), 1);
	{
		cpu_set_t s;

		if (!sched_getaffinity(0, sizeof(s), &s) && CPU_COUNT(&s) < 2)
			fprintf(stderr, "test_vpci_lifecycle: one CPU: the "
				"queue's placement is not told apart\n");
	}

	/* Reset: the driver finds a device at status 0 and starts over. */
	CHECK_EQ(device_reset(&d1->t.device), 0);
	CHECK(!bus_read(&m1.mmio, BAR, (uint8_t[4]){ 0 }, 4)); /* not decoded */
	place_bar(&m1, &d1->t);
	CHECK_EQ(rd(&m1, 0x14, 1), 0);
	fq_init(&q, 0, QSIZE, packed);
	driver_up(&m1, &q, 1, features);
	for (uint8_t s = 0; s < 5; s++) {
		data = offer_read(&q, s);
		notify(&m1, 0);
		check_read(&q, data, s);
	}

	/* Paused: a request the driver offers waits in the ring; resumed,
	 * the device takes it from where it stood. */
	CHECK_EQ(device_pause(&d1->t.device), 0);
	CHECK_EQ(device_reset(&d1->t.device), -EBUSY);
	data = offer_read(&q, 7);
	notify(&m1, 0);
	sleep_ms(QUIET_MS);
	CHECK(!fq_used(&q, &id, &len));
	CHECK_EQ(device_resume(&d1->t.device), 0);
	check_read(&q, data, 7);

	/* Save, load into a fresh instance on another machine (the same
	 * guest RAM, as after a migration), save again. */
	CHECK_EQ(device_pause(&d1->t.device), 0);
	save(&d1->t.device, &w);
	disk_init(d2, packed);
	CHECK_EQ(device_realize(&d2->t.device, &m2.host), 0);
	CHECK_EQ(device_load(&d2->t.device, w.buf, w.len, NULL), -EBUSY);
	CHECK_EQ(device_pause(&d2->t.device), 0);
	load_and_compare(&d2->t.device, &w);
	/* The driver reads the same device on both (the loaded one decodes
	 * its BAR where the saved one did). */
	same_common(&m1, &m2, 1);
	CHECK_EQ(d2->t.bar, BAR);

	/* Hostile records: a queue vector past the MSI-X table, a driver
	 * feature never offered, a queue size the ring rules refuse, status
	 * bits that do not exist. Each refused, nothing changed. */
	refuse_field(&d2->t.device, &w, TAG_QUEUES, 2, 0x40);
	refuse_field(&d2->t.device, &w, TAG_DRIVER_FEATURES, 5, 0x80);
	refuse_field(&d2->t.device, &w, TAG_QUEUES, 4, packed ? 0xff : 3);
	refuse_field(&d2->t.device, &w, TAG_STATUS, 0, 0x30);
	refuse_field(&d2->t.device, &w, TAG_CONFIG_VECTOR, 1, 0x20);
	if (packed)	/* a position past the ring */
		refuse_field(&d2->t.device, &w, TAG_QUEUES, 6, QSIZE);

	/* The saved one goes away (the source after a migration); the
	 * loaded one continues the queue. */
	device_destroy(&d1->t.device);
	free(d1);
	CHECK_EQ(device_resume(&d2->t.device), 0);
	for (uint8_t s = 9; s < 12; s++) {
		data = offer_read(&q, s);
		notify(&m2, 0);
		check_read(&q, data, s);
	}
	state_writer_free(&w);
	device_destroy(&d2->t.device);
	CHECK(!bus_read(&m2.mmio, BAR, (uint8_t[4]){ 0 }, 4)); /* unrealized */
	free(d2);
	fq_close(&q);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- virtio-net over the userspace datapath ---------------------------- */

struct nic {
	int sv[2];			/* sv[0] the "tap", sv[1] the wire */
	struct net_uspace us;
	struct virtio_net net;
	struct virtio_pci t;
};

static void nic_set_bus(void *owner, struct virtio_bus bus)
{
	struct nic *n = owner;

	virtio_net_set_bus(&n->net, bus);
	net_uspace_set_bus(&n->us, bus);
}

static void nic_release(void *owner)
{
	struct nic *n = owner;

	virtio_net_destroy(&n->net);
	net_uspace_destroy(&n->us);
	close(n->sv[0]);
	close(n->sv[1]);
}

static void nic_init(struct nic *n, bool packed)
{
	struct net_config cfg = {
		.pairs = 1, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.queue_size = QSIZE, .packed = packed,
	};

	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, n->sv),
		 0);
	CHECK_EQ(net_uspace_create(&n->us, "net0", &n->sv[0], 1), 0);
	CHECK_EQ(virtio_net_create(&n->net, "net0", &cfg, &mem,
				   &net_uspace_ops, &n->us), 0);
	virtio_pci_device_init(&n->t, "net0", &(struct virtio_pci_model){
		.ops = &virtio_net_ops, .dev = &n->net, .nqueues = 3,
		.queue_size = QSIZE, .set_bus = nic_set_bus,
		.release = nic_release, .owner = n });
}

/* A frame from the wire reaches the guest in the receive buffer at RX. */
static void wire_to_guest(struct fake_machine *m, struct nic *n, struct fq *q,
			  uint8_t tag)
{
	uint8_t frame[VIRTIO_NET_HDR_LEN + 60] = { 0 };	/* the tap's header */
	uint32_t id, len;
	uint16_t bid;
	uint64_t buf = rx_buf(q, 1526, &bid);

	notify(m, 0);
	memset(frame + VIRTIO_NET_HDR_LEN, tag, 60);
	CHECK_EQ(send(n->sv[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	CHECK(fq_wait(q, &id, &len));
	CHECK_EQ(id, bid);
	CHECK_EQ(len, sizeof(frame));
	CHECK_MEM((uint8_t *)gp(buf) + VIRTIO_NET_HDR_LEN,
		  frame + VIRTIO_NET_HDR_LEN, 60);
}

/* The guest transmits a frame of TAG bytes on q; it reaches the wire. */
static void guest_to_wire(struct fake_machine *m, struct nic *n, struct fq *q,
			  uint8_t tag)
{
	uint64_t g = galloc(VIRTIO_NET_HDR_LEN + 60);
	struct seg s = { g, VIRTIO_NET_HDR_LEN + 60, false };
	uint8_t got[128], want[60];
	uint32_t id, len;

	memset(gp(g), 0, VIRTIO_NET_HDR_LEN);
	memset((uint8_t *)gp(g) + VIRTIO_NET_HDR_LEN, tag, 60);
	fq_offer(q, &s, 1);
	notify(m, 1);
	CHECK(wait_fd(n->sv[1], WAIT_MS));
	CHECK_EQ(recv(n->sv[1], got, sizeof(got), MSG_DONTWAIT),
		 VIRTIO_NET_HDR_LEN + 60);
	memset(want, tag, sizeof(want));
	CHECK_MEM(got + VIRTIO_NET_HDR_LEN, want, sizeof(want));
	CHECK(fq_wait(q, &id, &len));
}

/* VIRTIO_NET_CTRL_MAC_ADDR_SET on the control queue. */
static void set_mac(struct fake_machine *m, struct fq *q, const uint8_t *mac)
{
	uint64_t g = galloc(8), ack = galloc(1);
	struct seg s[2] = { { g, 8, false }, { ack, 1, true } };
	uint8_t *p = gp(g);
	uint32_t id, len;

	p[0] = VIRTIO_NET_CTRL_MAC;
	p[1] = VIRTIO_NET_CTRL_MAC_ADDR_SET;
	memcpy(p + 2, mac, 6);
	*(uint8_t *)gp(ack) = 0xff;
	fq_offer(q, s, 2);
	notify(m, 2);
	CHECK(fq_wait(q, &id, &len));
	CHECK_EQ(*(uint8_t *)gp(ack), VIRTIO_NET_OK);
}

static void read_mac(struct fake_machine *m, uint8_t *mac)
{
	for (unsigned int i = 0; i < 6; i++)
		mac[i] = (uint8_t)rd(m, 0x2000 + i, 1);
}

static void test_net(bool packed)
{
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1 |
			    1ULL << VIRTIO_F_EVENT_IDX |
			    1ULL << VIRTIO_NET_F_MAC |
			    1ULL << VIRTIO_NET_F_CTRL_VQ |
			    1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR |
			    (packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
	static const uint8_t mac2[6] = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef };
	struct fake_machine m1, m2;
	struct nic *n1 = calloc(1, sizeof(*n1)), *n2 = calloc(1, sizeof(*n2));
	struct state_writer w;
	struct fq q[3] = { { 0 } };
	uint8_t mac[6], mac_b[6], frame[VIRTIO_NET_HDR_LEN + 60] = { 0 };
	uint32_t id, len;
	uint16_t bid;

	machine_init(&m1, &mem);
	machine_init(&m2, &mem);
	nic_init(n1, packed);
	CHECK_EQ(device_realize(&n1->t.device, &m1.host), 0);
	place_bar(&m1, &n1->t);
	for (unsigned int i = 0; i < 3; i++)
		fq_init(&q[i], i, QSIZE, packed);
	driver_up(&m1, q, 3, features);
	wire_to_guest(&m1, n1, &q[0], 1);
	guest_to_wire(&m1, n1, &q[1], 2);
	set_mac(&m1, &q[2], mac2);
	read_mac(&m1, mac);
	CHECK_MEM(mac, mac2, 6);

	/* Reset: the configured MAC again, the rings fresh. */
	CHECK_EQ(device_reset(&n1->t.device), 0);
	place_bar(&m1, &n1->t);
	read_mac(&m1, mac);
	CHECK_EQ(mac[5], 0x56);
	for (unsigned int i = 0; i < 3; i++)
		fq_init(&q[i], i, QSIZE, packed);
	driver_up(&m1, q, 3, features);
	set_mac(&m1, &q[2], mac2);
	wire_to_guest(&m1, n1, &q[0], 3);
	guest_to_wire(&m1, n1, &q[1], 4);

	/* Paused: a frame from the wire waits in the "tap"; resumed, it
	 * arrives in the buffer the driver offered meanwhile. */
	CHECK_EQ(device_pause(&n1->t.device), 0);
	rx_buf(&q[0], 1526, &bid);
	notify(&m1, 0);
	CHECK_EQ(send(n1->sv[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	sleep_ms(QUIET_MS);
	CHECK(!fq_used(&q[0], &id, &len));
	CHECK_EQ(device_resume(&n1->t.device), 0);
	CHECK(fq_wait(&q[0], &id, &len));
	CHECK_EQ(id, bid);

	/* Save, load into a fresh instance with its own tap, save again. */
	CHECK_EQ(device_pause(&n1->t.device), 0);
	save(&n1->t.device, &w);
	nic_init(n2, packed);
	CHECK_EQ(device_realize(&n2->t.device, &m2.host), 0);
	CHECK_EQ(device_pause(&n2->t.device), 0);
	load_and_compare(&n2->t.device, &w);
	same_common(&m1, &m2, 3);
	read_mac(&m1, mac);
	read_mac(&m2, mac_b);
	CHECK_MEM(mac_b, mac, 6);
	CHECK_MEM(mac_b, mac2, 6);		/* the driver's, not the config */

	/* Hostile: more pairs in use than the device has; a bad status. */
	refuse_field(&n2->t.device, &w, TAG_PAIRS_ACTIVE, 0, 2);
	refuse_field(&n2->t.device, &w, TAG_STATUS, 0, 0x20);

	device_destroy(&n1->t.device);
	free(n1);
	CHECK_EQ(device_resume(&n2->t.device), 0);
	/* The queues continue on the new instance, both ways. */
	wire_to_guest(&m2, n2, &q[0], 5);
	guest_to_wire(&m2, n2, &q[1], 6);
	read_mac(&m2, mac);
	CHECK_MEM(mac, mac2, 6);
	state_writer_free(&w);
	device_destroy(&n2->t.device);
	free(n2);
	for (unsigned int i = 0; i < 3; i++)
		fq_close(&q[i]);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

int main(void)
{
	struct mem_config mc = { .size = RAM_SIZE, .numa_node = -1 };

	log_set_level(LOG_WARN);
	if (guest_mem_create(&mem, &mc))
		return 1;
	make_image();
	test_blk(false);
	test_blk(true);
	test_net(false);
	test_net(true);
	unlink(image);
	guest_mem_destroy(&mem);
	return check_done("test_vpci_lifecycle");
}
