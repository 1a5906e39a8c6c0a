/* virtio-net: feature negotiation (the device's own bits as far as the
 * backend serves them, prerequisites dropped), config space, every control
 * command well and badly formed, the control thread (acks, DEVICE_NEEDS_
 * RESET on a command without an ack byte, the control queue's index with
 * and without MQ), and the userspace datapath end to end: a fake driver
 * lays out split or packed rings in guest RAM, a SOCK_SEQPACKET socketpair
 * stands in for the tap (one record per packet, header included). */
#include "net/uspace.h"
#include "virtio/net.h"
#include "virtio/queue.h"

#include "check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F(bit) (1ULL << (bit))
#define RAM_SIZE (16ULL << 20)
#define RING_GPA 0x10000ULL	/* queue i: RING_GPA + i * RING_STRIDE */
#define RING_STRIDE 0x8000ULL
#define DATA_GPA 0x100000ULL
#define DATA_END (RAM_SIZE - 0x100000ULL)
#define MAXQ (2 * 2 + 1)
#define HDR VIRTIO_NET_HDR_LEN
#define WAIT_MS 3000		/* for what must happen */
#define QUIET_MS 100		/* for what must not */

static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t MAC2[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };

/* Everything the datapath offers, as a driver would take it. */
#define DRV_FEATURES                                                           \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |                       \
	 F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_NET_F_CSUM) |                    \
	 F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |              \
	 F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |                        \
	 F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |                   \
	 F(VIRTIO_NET_F_CTRL_MAC_ADDR))
#define F_MRG F(VIRTIO_NET_F_MRG_RXBUF)

/* --- fake guest and driver ---------------------------------------------- */

static struct guest_mem mem;
static uint64_t next_data = DATA_GPA;

static void *gp(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	if (!p)
		abort();
	return p;
}

static uint64_t galloc(uint32_t len)
{
	uint64_t g = next_data;

	next_data = (next_data + len + 63) & ~63ULL;
	if (next_data >= DATA_END) {
		next_data = DATA_GPA;
		g = galloc(len);
	}
	return g;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* The driver's view of one queue, split or packed. */
struct fq {
	unsigned int index;
	uint16_t num;
	bool packed;
	uint64_t desc_gpa, drv_gpa, dev_gpa;
	int kick_fd, call_fd;
	/* split */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx, last_used, next_desc;
	/* packed */
	struct pvirtq_desc *pdesc;
	uint16_t pnext, pused;
	bool avail_wrap, used_wrap;
	uint16_t sgs[VIRTQ_MAX_SIZE];
};

static void fq_init(struct fq *q, unsigned int index, uint16_t num,
		    bool packed)
{
	uint64_t base = RING_GPA + index * RING_STRIDE;

	if (q->kick_fd <= 0) {
		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	memset(gp(base), 0, RING_STRIDE);
	q->index = index;
	q->num = num;
	q->packed = packed;
	q->desc_gpa = base;
	q->drv_gpa = base + 0x2000;
	q->dev_gpa = base + 0x4000;
	q->desc = gp(q->desc_gpa);
	q->avail = gp(q->drv_gpa);
	q->used = gp(q->dev_gpa);
	q->pdesc = gp(q->desc_gpa);
	q->avail_idx = q->last_used = q->next_desc = 0;
	q->pnext = q->pused = 0;
	q->avail_wrap = q->used_wrap = true;
	for (uint64_t v; read(q->kick_fd, &v, 8) > 0 || read(q->call_fd, &v, 8) > 0;)
		;
}

static struct virtio_queue_io fq_io(const struct fq *q)
{
	return (struct virtio_queue_io){
		.enabled = true, .size = q->num, .desc = q->desc_gpa,
		.driver = q->drv_gpa, .device = q->dev_gpa,
		.kick_fd = q->kick_fd, .call_fd = q->call_fd,
	};
}

static void fq_close(struct fq *q)
{
	if (q->kick_fd > 0) {
		close(q->kick_fd);
		close(q->call_fd);
	}
	q->kick_fd = q->call_fd = 0;
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, 8) != 8)
		abort();
}

static uint64_t ev_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

/* Offers a chain of fresh descriptors; returns its id. */
static uint16_t fq_offer(struct fq *q, const struct seg *s, unsigned int n)
{
	uint16_t head;

	if (q->packed) {
		uint16_t first = q->pnext, first_flags = 0;

		head = first;
		for (unsigned int i = 0; i < n; i++) {
			struct pvirtq_desc *e = &q->pdesc[q->pnext];
			uint16_t f = (s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
				     (q->avail_wrap ? VIRTQ_DESC_F_AVAIL
						    : VIRTQ_DESC_F_USED);

			e->addr = s[i].gpa;
			e->len = s[i].len;
			e->id = head;
			if (i)
				e->flags = f;
			else
				first_flags = f;
			if (++q->pnext == q->num) {
				q->pnext = 0;
				q->avail_wrap = !q->avail_wrap;
			}
		}
		q->sgs[head] = (uint16_t)n;
		__atomic_store_n(&q->pdesc[first].flags, first_flags,
				 __ATOMIC_RELEASE);
	} else {
		head = q->next_desc;
		for (unsigned int i = 0; i < n; i++) {
			uint16_t me = q->next_desc;

			q->next_desc = (uint16_t)((q->next_desc + 1) % q->num);
			q->desc[me] = (struct virtq_desc){
				s[i].gpa, s[i].len,
				(uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				q->next_desc };
		}
		q->avail->ring[q->avail_idx % q->num] = head;
		q->avail_idx++;
		__atomic_store_n(&q->avail->idx, q->avail_idx,
				 __ATOMIC_RELEASE);
	}
	return head;
}

/* The same, then kicks (whether the device asked for kicks or not). */
static uint16_t fq_add(struct fq *q, const struct seg *s, unsigned int n)
{
	uint16_t head = fq_offer(q, s, n);

	kick(q->kick_fd);
	return head;
}

static bool fq_used(struct fq *q, uint32_t *id, uint32_t *len)
{
	if (q->packed) {
		struct pvirtq_desc *e = &q->pdesc[q->pused];
		uint16_t f = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

		if (!!(f & VIRTQ_DESC_F_USED) != q->used_wrap ||
		    !!(f & VIRTQ_DESC_F_AVAIL) != q->used_wrap)
			return false;
		*id = e->id;
		*len = e->len;
		q->pused += q->sgs[*id];
		if (q->pused >= q->num) {
			q->pused -= q->num;
			q->used_wrap = !q->used_wrap;
		}
		return true;
	}
	if (q->last_used == __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE))
		return false;
	*id = q->used->ring[q->last_used % q->num].id;
	*len = q->used->ring[q->last_used % q->num].len;
	q->last_used++;
	return true;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool fq_wait(struct fq *q, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < WAIT_MS; i++) {
		if (fq_used(q, id, len))
			return true;
		sleep_ms(1);
	}
	return false;
}

/* One device-writable buffer of len bytes, offered; returns its gpa. */
static uint64_t rx_buf(struct fq *q, uint32_t len, uint16_t *id)
{
	struct seg s = { galloc(len), len, true };

	memset(gp(s.gpa), 0xee, len);
	*id = fq_add(q, &s, 1);
	return s.gpa;
}

/* --- fake backend ------------------------------------------------------- */

struct fake_be {
	uint64_t features;
	int start_ret, set_pairs_ret;
	int starts, stops, set_pairs_calls;
	unsigned int npairs, last_pairs;
	uint64_t start_features;
	struct net_pair_io pairs[NET_MAX_PAIRS];
};

static uint64_t fb_features(void *be)
{
	return ((struct fake_be *)be)->features;
}

static int fb_start(void *be, const struct guest_mem *m, uint64_t features,
		    const struct net_pair_io *pairs, unsigned int npairs)
{
	struct fake_be *b = be;

	b->starts++;
	b->start_features = features;
	b->npairs = npairs;
	memcpy(b->pairs, pairs, npairs * sizeof(*pairs));
	return b->start_ret;
}

static void fb_stop(void *be)
{
	((struct fake_be *)be)->stops++;
}

static int fb_set_pairs(void *be, unsigned int n)
{
	struct fake_be *b = be;

	b->set_pairs_calls++;
	b->last_pairs = n;
	return b->set_pairs_ret;
}

static const struct net_backend_ops fake_ops = {
	.name = "fake",
	.features = fb_features,
	.start = fb_start,
	.stop = fb_stop,
	.set_pairs = fb_set_pairs,
};

static struct net_config config(unsigned int pairs)
{
	struct net_config c = { .pairs = pairs, .mtu = 1500,
				.queue_size = 256 };

	memcpy(c.mac, MAC1, 6);
	return c;
}

/* --- features and config space ------------------------------------------ */

static void test_features(void)
{
	const uint64_t base =
		F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |
		F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_NET_F_CSUM) |
		F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_MTU) |
		F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_GUEST_TSO4) |
		F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN) |
		F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
		F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_MRG_RXBUF) |
		F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CTRL_VQ) |
		F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_CTRL_MAC_ADDR);
	static const struct {
		unsigned int pairs;
		bool packed, nomac, nomtu;
		uint64_t be_remove;	/* from all bits */
		uint64_t want_remove;	/* from base */
		uint64_t want_add;
	} t[] = {
		{ 1, false, false, false, 0, 0, 0 },
		{ 2, false, false, false, 0, 0, F(VIRTIO_NET_F_MQ) },
		{ 16, true, false, false, 0, 0,
		  F(VIRTIO_NET_F_MQ) | F(VIRTIO_F_RING_PACKED) },
		{ 1, false, true, true, 0,
		  F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MTU), 0 },
		/* The control plane is the device's own: a backend that
		 * does not list it (vhost-net) does not take it away. */
		{ 4, false, false, false, F(VIRTIO_NET_F_CTRL_VQ) |
		  F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_MAC) |
		  F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_STATUS) |
		  F(VIRTIO_NET_F_CTRL_MAC_ADDR), 0, F(VIRTIO_NET_F_MQ) },
		/* Datapath bits the backend lacks go, and so does what
		 * needs them. */
		{ 4, false, false, false, F(VIRTIO_NET_F_MQ), 0, 0 },
		{ 1, false, false, false, F(VIRTIO_NET_F_CSUM),
		  F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
		  F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN), 0 },
		{ 1, false, false, false, F(VIRTIO_NET_F_GUEST_CSUM),
		  F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
		  F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN), 0 },
		{ 1, false, false, false,
		  F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6),
		  F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
		  F(VIRTIO_NET_F_GUEST_ECN), 0 },
		{ 1, false, false, false, F(VIRTIO_F_EVENT_IDX) |
		  F(VIRTIO_NET_F_MRG_RXBUF),
		  F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_NET_F_MRG_RXBUF), 0 },
		/* Never offered, whatever the backend says. */
		{ 1, false, false, false, 0, 0, 0 },
	};
	struct fake_be be = { 0 };
	struct virtio_net n;
	struct net_uspace u;
	int fds[2] = { 0, 1 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct net_config c = config(t[i].pairs);
		uint64_t want = (base & ~t[i].want_remove) | t[i].want_add;

		c.packed = t[i].packed;
		if (t[i].nomac)
			memset(c.mac, 0, 6);
		if (t[i].nomtu)
			c.mtu = 0;
		be.features = ~0ULL & ~t[i].be_remove;
		CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem,
					   &fake_ops, &be), 0);
		if (n.features != want)
			CHECK_FAIL_AT(__FILE__, __LINE__, "row %zu: features "
				      "0x%llx, want 0x%llx (diff 0x%llx)", i,
				      (unsigned long long)n.features,
				      (unsigned long long)want,
				      (unsigned long long)(n.features ^ want));
		CHECK_EQ(virtio_net_ops.features(&n), n.features);
		virtio_net_destroy(&n);
	}

	/* No VERSION_1 from the backend: no device. */
	struct net_config c = config(1);

	be.features = ~F(VIRTIO_F_VERSION_1);
	CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem, &fake_ops,
				   &be), -ENOTSUP);
	virtio_net_destroy(&n);

	/* Bad configurations. */
	be.features = ~0ULL;
	static const struct { unsigned int pairs; uint16_t qs, mtu; } bad[] = {
		{ 0, 256, 1500 }, { 17, 256, 1500 }, { 1, 0, 1500 },
		{ 1, 3, 1500 }, { 1, 2048, 1500 }, { 1, 256, 67 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = config(bad[i].pairs);
		c.queue_size = bad[i].qs;
		c.mtu = bad[i].mtu;
		CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem,
					   &fake_ops, &be), -EINVAL);
		virtio_net_destroy(&n);
	}

	/* The userspace datapath: MQ only with more than one tap queue. */
	CHECK_EQ(net_uspace_create(&u, "virtio-net0", fds, 1), 0);
	c = config(1);
	CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem, &net_uspace_ops,
				   &u), 0);
	CHECK_EQ(n.features, base);
	virtio_net_destroy(&n);
	net_uspace_destroy(&u);
	CHECK_EQ(net_uspace_create(&u, "virtio-net0", fds, 2), 0);
	c = config(2);
	CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem, &net_uspace_ops,
				   &u), 0);
	CHECK_EQ(n.features, base | F(VIRTIO_NET_F_MQ));
	virtio_net_destroy(&n);
	net_uspace_destroy(&u);

	/* Prerequisites on their own. */
	CHECK_EQ(virtio_net_features_fixup(F(VIRTIO_NET_F_GUEST_ECN) |
					   F(VIRTIO_NET_F_GUEST_CSUM)),
		 F(VIRTIO_NET_F_GUEST_CSUM));
	CHECK_EQ(virtio_net_features_fixup(F(VIRTIO_NET_F_HOST_ECN) |
					   F(VIRTIO_NET_F_HOST_TSO6) |
					   F(VIRTIO_NET_F_CSUM)),
		 F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_HOST_TSO6) |
		 F(VIRTIO_NET_F_CSUM));
	CHECK_EQ(virtio_net_features_fixup(F(VIRTIO_NET_F_MQ)), 0);
	CHECK_EQ(virtio_net_features_fixup(F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
					   F(VIRTIO_NET_F_CTRL_VQ)),
		 F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | F(VIRTIO_NET_F_CTRL_VQ));

	/* TUN offloads follow the GUEST_* bits. */
	CHECK_EQ(net_uspace_tun_offloads(F(VIRTIO_NET_F_GUEST_TSO4)), 0);
	CHECK_EQ(net_uspace_tun_offloads(F(VIRTIO_NET_F_GUEST_CSUM) |
					 F(VIRTIO_NET_F_GUEST_TSO4) |
					 F(VIRTIO_NET_F_GUEST_ECN)),
		 0x01 | 0x02 | 0x08);
}

static void test_config(void)
{
	struct fake_be be = { .features = ~0ULL };
	struct net_config c = config(4);
	struct virtio_net n;
	uint8_t buf[16];

	c.mtu = 9000;
	CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem, &fake_ops,
				   &be), 0);
	CHECK_EQ(virtio_net_ops.device_id, 1);
	CHECK_EQ(virtio_net_ops.config_size, 12);
	memset(buf, 0x77, sizeof(buf));
	virtio_net_ops.config_read(&n, 0, buf, 12);
	CHECK_MEM(buf, MAC1, 6);
	CHECK_EQ(buf[6] | buf[7] << 8, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(buf[8] | buf[9] << 8, 4);
	CHECK_EQ(buf[10] | buf[11] << 8, 9000);
	CHECK_EQ(buf[12], 0x77);
	/* Narrow reads at any offset. */
	for (uint32_t off = 0; off < 12; off++) {
		uint8_t b = 0;
		uint8_t all[12];

		virtio_net_ops.config_read(&n, 0, all, 12);
		virtio_net_ops.config_read(&n, off, &b, 1);
		CHECK_EQ(b, all[off]);
	}
	memset(buf, 0x77, sizeof(buf));
	virtio_net_ops.config_read(&n, 8, buf, 2);
	CHECK_EQ(buf[0], 4);
	CHECK_EQ(buf[2], 0x77);
	/* Past the end: nothing copied. */
	virtio_net_ops.config_read(&n, 11, buf, 2);
	virtio_net_ops.config_read(&n, 12, buf, 1);
	CHECK_EQ(buf[0], 4);
	/* The MAC is read-only: a legacy-style write changes nothing. */
	virtio_net_ops.config_write(&n, 0, MAC2, 6);
	virtio_net_ops.config_read(&n, 0, buf, 6);
	CHECK_MEM(buf, MAC1, 6);
	virtio_net_destroy(&n);
}

/* --- header rules --------------------------------------------------------- */

static void test_hdr_rules(void)
{
	const uint64_t all = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
			     F(VIRTIO_NET_F_HOST_TSO6) |
			     F(VIRTIO_NET_F_HOST_ECN);
	const uint64_t gall = F(VIRTIO_NET_F_GUEST_CSUM) |
			      F(VIRTIO_NET_F_GUEST_TSO4) |
			      F(VIRTIO_NET_F_GUEST_TSO6) |
			      F(VIRTIO_NET_F_GUEST_ECN);
	static const struct {
		uint8_t flags, gso;
		uint16_t gso_size, start, off;
		uint32_t payload;
		bool tx_ok, all_features;
		uint8_t tx_flags;	/* after the check */
	} tx[] = {
		{ 0, 0, 0, 0, 0, 0, true, false, 0 },
		{ 0xfe, 0, 0, 0, 0, 60, true, false, 0 },	/* unknown */
		{ 1, 0, 0, 0, 0, 60, false, false, 0 },		/* no CSUM */
		{ 1, 0, 0, 34, 16, 52, true, true, 1 },		/* fits */
		{ 1, 0, 0, 34, 16, 51, false, true, 0 },	/* one over */
		{ 1, 0, 0, 0xffff, 0xffff, 1000, false, true, 0 },
		{ 3, 0, 0, 34, 16, 52, true, true, 1 },		/* DATA_VALID */
		{ 1, 1, 1448, 34, 16, 9000, true, true, 1 },	/* TSO4 */
		{ 1, 1, 1448, 34, 16, 9000, false, false, 0 },
		{ 0, 1, 1448, 0, 0, 9000, false, true, 0 },	/* no csum */
		{ 1, 1, 0, 34, 16, 9000, false, true, 0 },	/* no mss */
		{ 1, 4, 1448, 54, 16, 9000, true, true, 1 },	/* TSO6 */
		{ 1, 0x81, 1448, 34, 16, 9000, true, true, 1 },	/* ECN */
		{ 0, 0x80, 0, 0, 0, 60, false, true, 0 },	/* ECN, no gso */
		{ 1, 3, 1448, 34, 6, 9000, false, true, 0 },	/* UFO */
		{ 1, 5, 1448, 34, 6, 9000, false, true, 0 },	/* USO */
		{ 1, 2, 1448, 34, 6, 9000, false, true, 0 },
		{ 1, 0x7f, 1448, 34, 6, 9000, false, true, 0 },
	};
	static const struct {
		uint8_t flags, gso;
		uint64_t features;
		bool ok;
		uint8_t flags_after, gso_after;
	} rx[] = {
		{ 0, 0, 0, true, 0, 0 },
		{ 2, 0, 0, true, 0, 0 },		/* DATA_VALID cleared */
		{ 2, 0, F(VIRTIO_NET_F_GUEST_CSUM), true, 2, 0 },
		{ 0xf3, 0, F(VIRTIO_NET_F_GUEST_CSUM), true, 3, 0 },
		{ 1, 0, 0, false, 0, 0 },		/* partial csum */
		{ 1, 0, F(VIRTIO_NET_F_GUEST_CSUM), true, 1, 0 },
		{ 1, 1, F(VIRTIO_NET_F_GUEST_CSUM), false, 0, 0 },
		{ 1, 1, gall, true, 1, 1 },
		{ 0, 1, gall, false, 0, 0 },		/* gso, no csum */
		{ 1, 4, gall & ~F(VIRTIO_NET_F_GUEST_TSO6), false, 0, 0 },
		{ 1, 0x84, gall, true, 1, 0x84 },
		{ 1, 0x84, gall & ~F(VIRTIO_NET_F_GUEST_ECN), false, 0, 0 },
		{ 0, 0x80, 0, true, 0, 0 },		/* ECN alone: dropped */
		{ 1, 3, gall, false, 0, 0 },		/* UFO */
		{ 1, 5, gall, false, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(tx) / sizeof(tx[0]); i++) {
		uint8_t h[HDR] = { tx[i].flags, tx[i].gso,
				   0x36, 0,
				   (uint8_t)tx[i].gso_size,
				   (uint8_t)(tx[i].gso_size >> 8),
				   (uint8_t)tx[i].start,
				   (uint8_t)(tx[i].start >> 8),
				   (uint8_t)tx[i].off, (uint8_t)(tx[i].off >> 8),
				   5, 6 };
		int ret = virtio_net_tx_hdr_check(h, tx[i].payload,
						  tx[i].all_features ? all : 0);

		if ((ret == 0) != tx[i].tx_ok ||
		    (ret == 0 && (h[0] != tx[i].tx_flags || h[10] || h[11] ||
				  h[1] != tx[i].gso || h[2] != 0x36)))
			CHECK_FAIL_AT(__FILE__, __LINE__, "tx row %zu: %d, "
				      "flags %#x", i, ret, h[0]);
	}
	for (size_t i = 0; i < sizeof(rx) / sizeof(rx[0]); i++) {
		uint8_t h[HDR] = { rx[i].flags, rx[i].gso, 1, 2, 3, 4,
				   5, 6, 7, 8, 9, 10 };
		int ret = virtio_net_rx_hdr_fix(h, rx[i].features);

		if ((ret == 0) != rx[i].ok ||
		    (ret == 0 && (h[0] != rx[i].flags_after ||
				  h[1] != rx[i].gso_after || h[2] != 1 ||
				  h[11] != 10)))
			CHECK_FAIL_AT(__FILE__, __LINE__, "rx row %zu: %d, "
				      "flags %#x gso %#x", i, ret, h[0], h[1]);
	}
}

/* --- control commands, parsed on their own ------------------------------ */

struct ctrl_env {
	struct fake_be be;
	struct virtio_net n;
};

static void ctrl_env_init(struct ctrl_env *e, uint64_t negotiated)
{
	struct net_config c = config(4);

	memset(e, 0, sizeof(*e));
	e->be.features = ~0ULL;
	if (virtio_net_create(&e->n, "virtio-net0", &c, &mem, &fake_ops,
			      &e->be))
		abort();
	e->n.negotiated = negotiated;
	e->n.pairs_started = 4;
}

/* Runs one command: `out` cut into segments at the offsets in cuts[]
 * (ascending, 0-terminated), then `in_len` writable bytes (0xaa) in
 * one segment, or none. Returns virtio_net_ctrl's result; *ack gets what
 * landed in the ack byte (0xaa if nothing). */
static int ctrl_cmd_cut(struct virtio_net *n, const void *out, size_t out_len,
			const size_t *cuts, size_t in_len, uint8_t *ack)
{
	static struct virtq_chain c;
	uint8_t *copy = malloc(out_len + 1);
	uint8_t *in = malloc(in_len + 1);
	uint8_t a = 0x55;
	size_t from = 0;
	int ret;

	memcpy(copy, out, out_len);
	memset(in, 0xaa, in_len + 1);
	memset(&c, 0, sizeof(c));
	for (unsigned int i = 0;; i++) {
		size_t to = cuts && cuts[i] ? cuts[i] : out_len;

		c.iov[c.nr_out++] = (struct iovec){ copy + from, to - from };
		from = to;
		if (to == out_len)
			break;
	}
	c.out_len = (uint32_t)out_len;
	if (in_len) {
		c.iov[c.nr_out] = (struct iovec){ in, in_len };
		c.nr_in = 1;
		c.in_len = (uint32_t)in_len;
	}
	ret = virtio_net_ctrl(n, &c, &a);
	*ack = in[0];
	if (ret == 0 && a != in[0])
		CHECK_FAIL_AT(__FILE__, __LINE__, "ack %u returned, %u written",
			      a, in[0]);
	if (in_len > 1 && in[1] != 0xaa)
		CHECK_FAIL_AT(__FILE__, __LINE__, "wrote past the ack byte");
	free(copy);
	free(in);
	return ret;
}

static uint8_t cmd(struct virtio_net *n, const void *out, size_t len)
{
	uint8_t ack = 0xaa;

	if (ctrl_cmd_cut(n, out, len, NULL, 1, &ack))
		return 0xff;
	return ack;
}

#define OK VIRTIO_NET_OK
#define ERR VIRTIO_NET_ERR

static void test_ctrl_rx(void)
{
	struct ctrl_env e;
	struct virtio_net *n = &e.n;

	ctrl_env_init(&e, DRV_FEATURES);
	CHECK(n->rx.promisc);	/* reset state: everything goes through */
	CHECK_EQ(cmd(n, "\0\0\0", 3), OK);
	CHECK(!n->rx.promisc);
	CHECK_EQ(cmd(n, "\0\0\1", 3), OK);
	CHECK(n->rx.promisc);
	CHECK_EQ(cmd(n, "\0\1\1", 3), OK);
	CHECK(n->rx.allmulti);
	CHECK_EQ(cmd(n, "\0\2\1", 3), OK);
	CHECK_EQ(cmd(n, "\0\3\1", 3), OK);
	CHECK_EQ(cmd(n, "\0\4\1", 3), OK);
	CHECK_EQ(cmd(n, "\0\5\1", 3), OK);
	CHECK(n->rx.alluni && n->rx.nomulti && n->rx.nouni && n->rx.nobcast);
	CHECK_EQ(cmd(n, "\0\5\0", 3), OK);
	CHECK(!n->rx.nobcast);
	/* Malformed. */
	CHECK_EQ(cmd(n, "\0\6\1", 3), ERR);	/* no such command */
	CHECK_EQ(cmd(n, "\0\xff\1", 3), ERR);
	CHECK_EQ(cmd(n, "\0\0", 2), ERR);	/* no data */
	CHECK_EQ(cmd(n, "\0\0\1\1", 4), ERR);	/* too much */
	CHECK_EQ(cmd(n, "\0\0\2", 3), ERR);	/* neither on nor off */
	CHECK(n->rx.promisc);
	CHECK_EQ(cmd(n, "\0", 1), ERR);		/* no command byte */
	CHECK_EQ(cmd(n, "", 0), ERR);
	/* Without CTRL_RX negotiated. */
	n->negotiated &= ~F(VIRTIO_NET_F_CTRL_RX);
	CHECK_EQ(cmd(n, "\0\0\0", 3), ERR);
	CHECK(n->rx.promisc);
	virtio_net_destroy(n);
}

static size_t mac_table_cmd(uint8_t *b, uint32_t nu, uint32_t nm,
			    uint32_t claim_u, uint32_t claim_m)
{
	size_t o = 0;

	b[o++] = VIRTIO_NET_CTRL_MAC;
	b[o++] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
	memcpy(b + o, &claim_u, 4);
	o += 4;
	for (uint32_t i = 0; i < nu; i++, o += 6)
		memcpy(b + o, (uint8_t[6]){ 2, 0, 0, 0, (uint8_t)(i >> 8),
					    (uint8_t)i }, 6);
	memcpy(b + o, &claim_m, 4);
	o += 4;
	for (uint32_t i = 0; i < nm; i++, o += 6)
		memcpy(b + o, (uint8_t[6]){ 1, 0, 0x5e, 0, 0, (uint8_t)i }, 6);
	return o;
}

static void test_ctrl_mac(void)
{
	static uint8_t b[2 + 8 + 200 * 6];
	static const size_t cuts[] = { 1, 3, 7, 11, 12, 25, 0 };
	struct ctrl_env e;
	struct virtio_net *n = &e.n;
	uint8_t mac[6], ack;
	size_t len;

	ctrl_env_init(&e, DRV_FEATURES);
	len = mac_table_cmd(b, 2, 3, 2, 3);
	CHECK_EQ(cmd(n, b, len), OK);
	CHECK_EQ(n->rx.n_uni, 2);
	CHECK_EQ(n->rx.n_multi, 3);
	CHECK_EQ(n->rx.n_kept, 5);
	CHECK_MEM(n->rx.macs[1], ((uint8_t[6]){ 2, 0, 0, 0, 0, 1 }), 6);
	CHECK_MEM(n->rx.macs[4], ((uint8_t[6]){ 1, 0, 0x5e, 0, 0, 2 }), 6);
	/* The same cut into odd pieces. */
	len = mac_table_cmd(b, 1, 2, 1, 2);
	CHECK_EQ(ctrl_cmd_cut(n, b, len, cuts, 1, &ack), 0);
	CHECK_EQ(ack, OK);
	CHECK_EQ(n->rx.n_kept, 3);
	CHECK_MEM(n->rx.macs[2], ((uint8_t[6]){ 1, 0, 0x5e, 0, 0, 1 }), 6);
	/* Both tables empty. */
	len = mac_table_cmd(b, 0, 0, 0, 0);
	CHECK_EQ(cmd(n, b, len), OK);
	CHECK_EQ(n->rx.n_kept, 0);
	/* More than we keep: accepted, overflow noted. */
	len = mac_table_cmd(b, 150, 40, 150, 40);
	CHECK_EQ(cmd(n, b, len), OK);
	CHECK_EQ(n->rx.n_uni, 150);
	CHECK_EQ(n->rx.n_multi, 40);
	CHECK_EQ(n->rx.n_kept, NET_MAC_TABLE_MAX);
	CHECK(n->rx.uni_overflow && n->rx.multi_overflow);

	/* Malformed: nothing changes. */
	len = mac_table_cmd(b, 1, 1, 1, 1);
	CHECK_EQ(cmd(n, b, len), OK);
	/* A count whose byte size wraps 32 bits: 0x2aaaaaab * 6 = 2. */
	len = mac_table_cmd(b, 0, 1, 0x2aaaaaabU, 1);
	CHECK_EQ(cmd(n, b, len), ERR);
	len = mac_table_cmd(b, 0, 0, 0xffffffffU, 0);
	CHECK_EQ(cmd(n, b, len), ERR);
	/* Counts beyond the buffer. */
	len = mac_table_cmd(b, 2, 1, 3, 1);
	CHECK_EQ(cmd(n, b, len), ERR);
	len = mac_table_cmd(b, 2, 1, 2, 2);
	CHECK_EQ(cmd(n, b, len), ERR);
	len = mac_table_cmd(b, 2, 2, 2, 1);	/* trailing bytes */
	CHECK_EQ(cmd(n, b, len), ERR);
	len = mac_table_cmd(b, 2, 0, 2, 0);
	CHECK_EQ(cmd(n, b, len - 4), ERR);	/* no second table */
	CHECK_EQ(cmd(n, b, len - 5), ERR);
	CHECK_EQ(cmd(n, b, 5), ERR);		/* short first count */
	CHECK_EQ(n->rx.n_kept, 2);
	CHECK_EQ(n->rx.n_uni, 1);
	CHECK(!n->rx.uni_overflow);

	/* MAC_ADDR_SET: config space follows. */
	b[0] = VIRTIO_NET_CTRL_MAC;
	b[1] = VIRTIO_NET_CTRL_MAC_ADDR_SET;
	memcpy(b + 2, MAC2, 6);
	CHECK_EQ(cmd(n, b, 8), OK);
	virtio_net_ops.config_read(n, 0, mac, 6);
	CHECK_MEM(mac, MAC2, 6);
	virtio_net_get_mac(n, mac);
	CHECK_MEM(mac, MAC2, 6);
	memcpy(b + 2, MAC1, 6);
	CHECK_EQ(cmd(n, b, 7), ERR);		/* short */
	CHECK_EQ(cmd(n, b, 9), ERR);		/* long */
	b[2] = 0x01;				/* multicast */
	CHECK_EQ(cmd(n, b, 8), ERR);
	memset(b + 2, 0, 6);			/* zero */
	CHECK_EQ(cmd(n, b, 8), ERR);
	b[1] = 2;				/* no such command */
	CHECK_EQ(cmd(n, b, 8), ERR);
	virtio_net_get_mac(n, mac);
	CHECK_MEM(mac, MAC2, 6);
	/* Not negotiated. */
	n->negotiated &= ~F(VIRTIO_NET_F_CTRL_MAC_ADDR);
	b[1] = VIRTIO_NET_CTRL_MAC_ADDR_SET;
	memcpy(b + 2, MAC1, 6);
	CHECK_EQ(cmd(n, b, 8), ERR);
	n->negotiated &= ~F(VIRTIO_NET_F_CTRL_RX);
	len = mac_table_cmd(b, 0, 0, 0, 0);
	CHECK_EQ(cmd(n, b, len), ERR);
	virtio_net_get_mac(n, mac);
	CHECK_MEM(mac, MAC2, 6);
	/* Reset puts the configured MAC back. */
	virtio_net_ops.stop(n);
	virtio_net_get_mac(n, mac);
	CHECK_MEM(mac, MAC1, 6);
	CHECK_EQ(n->rx.n_kept, 0);
	virtio_net_destroy(n);
}

static void test_ctrl_mq(void)
{
	struct ctrl_env e;
	struct virtio_net *n = &e.n;

	ctrl_env_init(&e, DRV_FEATURES | F(VIRTIO_NET_F_MQ));
	CHECK_EQ(cmd(n, "\4\0\2\0", 4), OK);
	CHECK_EQ(e.be.set_pairs_calls, 1);
	CHECK_EQ(e.be.last_pairs, 2);
	CHECK_EQ(n->pairs_active, 2);
	CHECK_EQ(cmd(n, "\4\0\4\0", 4), OK);
	CHECK_EQ(e.be.last_pairs, 4);
	CHECK_EQ(cmd(n, "\4\0\1\0", 4), OK);
	CHECK_EQ(e.be.last_pairs, 1);
	CHECK_EQ(e.be.set_pairs_calls, 3);
	CHECK_EQ(cmd(n, "\4\0\1\0", 4), OK);	/* no change: not passed on */
	CHECK_EQ(e.be.set_pairs_calls, 3);
	/* Malformed or out of range. */
	CHECK_EQ(cmd(n, "\4\0\0\0", 4), ERR);
	CHECK_EQ(cmd(n, "\4\0\5\0", 4), ERR);	/* > max_virtqueue_pairs */
	CHECK_EQ(cmd(n, "\4\0\0\1", 4), ERR);	/* 256 */
	CHECK_EQ(cmd(n, "\4\0\xff\xff", 4), ERR);
	CHECK_EQ(cmd(n, "\4\0\2", 3), ERR);
	CHECK_EQ(cmd(n, "\4\0\2\0\0", 5), ERR);
	CHECK_EQ(cmd(n, "\4\1\2\0", 4), ERR);	/* RSS: not offered */
	CHECK_EQ(cmd(n, "\4\2\2\0", 4), ERR);
	n->pairs_started = 2;			/* driver enabled two */
	CHECK_EQ(cmd(n, "\4\0\3\0", 4), ERR);
	CHECK_EQ(cmd(n, "\4\0\2\0", 4), OK);
	e.be.set_pairs_ret = -EIO;		/* backend refuses */
	CHECK_EQ(cmd(n, "\4\0\1\0", 4), ERR);
	CHECK_EQ(n->pairs_active, 2);
	e.be.set_pairs_ret = 0;
	CHECK_EQ(e.be.set_pairs_calls, 5);
	n->negotiated &= ~F(VIRTIO_NET_F_MQ);
	CHECK_EQ(cmd(n, "\4\0\1\0", 4), ERR);
	CHECK_EQ(e.be.set_pairs_calls, 5);
	virtio_net_destroy(n);
}

static void test_ctrl_other(void)
{
	struct ctrl_env e;
	struct virtio_net *n = &e.n;
	uint8_t b[16], ack;
	uint64_t v;
	struct virtq_chain *c = calloc(1, sizeof(*c));
	uint8_t out[3] = { 0, 0, 1 }, in[2] = { 0xaa, 0xaa };

	ctrl_env_init(&e, DRV_FEATURES);
	/* GUEST_OFFLOADS_SET: not negotiated, so ERR. */
	b[0] = VIRTIO_NET_CTRL_GUEST_OFFLOADS;
	b[1] = VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET;
	v = htole64(F(VIRTIO_NET_F_GUEST_CSUM));
	memcpy(b + 2, &v, 8);
	CHECK_EQ(cmd(n, b, 10), ERR);
	/* As if negotiated (it is not offered while the backend contract
	 * cannot pass it on). */
	n->negotiated |= F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
			 F(VIRTIO_NET_F_GUEST_TSO4);
	CHECK_EQ(cmd(n, b, 10), OK);
	CHECK_EQ(n->guest_offloads, F(VIRTIO_NET_F_GUEST_CSUM));
	v = htole64(0);
	memcpy(b + 2, &v, 8);
	CHECK_EQ(cmd(n, b, 10), OK);
	CHECK_EQ(n->guest_offloads, 0);
	v = htole64(F(VIRTIO_NET_F_GUEST_TSO6));	/* not negotiated */
	memcpy(b + 2, &v, 8);
	CHECK_EQ(cmd(n, b, 10), ERR);
	v = htole64(F(VIRTIO_NET_F_MRG_RXBUF));		/* no offload */
	memcpy(b + 2, &v, 8);
	CHECK_EQ(cmd(n, b, 10), ERR);
	CHECK_EQ(cmd(n, b, 9), ERR);
	b[1] = 1;
	CHECK_EQ(cmd(n, b, 10), ERR);
	CHECK_EQ(n->guest_offloads, 0);

	/* Unknown and unoffered classes. */
	for (unsigned int cl = 2; cl < 256; cl++) {
		if (cl == VIRTIO_NET_CTRL_MQ ||
		    cl == VIRTIO_NET_CTRL_GUEST_OFFLOADS)
			continue;
		b[0] = (uint8_t)cl;
		b[1] = 0;
		b[2] = 1;
		b[3] = 0;
		if (cmd(n, b, 4) != ERR)
			CHECK_FAIL_AT(__FILE__, __LINE__, "class %u not ERR",
				      cl);
	}

	/* No ack byte: no writable part, or only empty writable segments. */
	CHECK_EQ(ctrl_cmd_cut(n, "\0\0\1", 3, NULL, 0, &ack), -EINVAL);
	c->iov[0] = (struct iovec){ out, 3 };
	c->iov[1] = (struct iovec){ in, 0 };
	c->iov[2] = (struct iovec){ in + 1, 0 };
	c->nr_out = 1;
	c->nr_in = 2;
	c->out_len = 3;
	CHECK_EQ(virtio_net_ctrl(n, c, &ack), -EINVAL);
	CHECK_EQ(in[0], 0xaa);
	/* An empty segment first: the ack is the first writable byte. */
	c->iov[2] = (struct iovec){ in + 1, 1 };
	c->in_len = 1;
	CHECK_EQ(virtio_net_ctrl(n, c, &ack), 0);
	CHECK_EQ(ack, OK);
	CHECK_EQ(in[1], OK);
	CHECK_EQ(in[0], 0xaa);
	/* No readable part at all, an ack byte: ERR. */
	c->nr_out = 0;
	c->out_len = 0;
	c->iov[0] = (struct iovec){ in + 1, 1 };
	c->nr_in = 1;
	CHECK_EQ(virtio_net_ctrl(n, c, &ack), 0);
	CHECK_EQ(ack, ERR);
	CHECK_EQ(in[1], ERR);
	free(c);
	virtio_net_destroy(n);
}

/* --- the device started: control thread ---------------------------------- */

struct bus_env {
	atomic_bool broken;
	int err_fd;
};

static struct virtio_bus bus_init(struct bus_env *b)
{
	atomic_init(&b->broken, false);
	b->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return (struct virtio_bus){ &b->broken, b->err_fd };
}

/* Puts a command on the control queue: the command bytes readable, then
 * `in_len` writable bytes; waits until it is used. Returns the ack. */
static int ctrl_send(struct fq *q, const void *out, size_t len, size_t in_len,
		     uint32_t *used_len)
{
	struct seg s[2] = { { galloc((uint32_t)len), (uint32_t)len, false },
			    { galloc(8), (uint32_t)in_len, true } };
	uint32_t id, l;
	uint16_t head;

	memcpy(gp(s[0].gpa), out, len);
	*(uint8_t *)gp(s[1].gpa) = 0xaa;
	head = fq_add(q, s, in_len ? 2 : 1);
	if (!fq_wait(q, &id, &l))
		return -ETIMEDOUT;
	if (id != head)
		return -EPROTO;
	*used_len = l;
	return *(uint8_t *)gp(s[1].gpa);
}

static bool wait_fd(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1;
}

static void test_ctrl_thread(void)
{
	struct fq q[MAXQ] = { 0 };
	struct virtio_queue_io io[MAXQ];
	struct fake_be be = { .features = ~0ULL };
	struct net_config c = config(2);
	struct bus_env bus;
	struct virtio_net n;
	uint64_t feat = DRV_FEATURES | F(VIRTIO_NET_F_MQ);
	uint8_t mac[6], b[8];
	uint32_t used_len = 0;

	CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem, &fake_ops, &be),
		 0);
	virtio_net_set_bus(&n, bus_init(&bus));
	for (unsigned int i = 0; i < MAXQ; i++) {
		fq_init(&q[i], i, i == 4 ? 256 : 16, false);
		io[i] = fq_io(&q[i]);
	}
	/* MQ: both pairs to the backend, then back to one; control at 4. */
	CHECK_EQ(virtio_net_ops.start(&n, feat, io, MAXQ), 0);
	CHECK_EQ(be.starts, 1);
	CHECK_EQ(be.npairs, 2);
	CHECK_EQ(be.start_features, feat);
	CHECK_EQ(be.pairs[1].tx.desc, q[3].desc_gpa);
	CHECK_EQ(be.set_pairs_calls, 1);
	CHECK_EQ(be.last_pairs, 1);
	b[0] = VIRTIO_NET_CTRL_MAC;
	b[1] = VIRTIO_NET_CTRL_MAC_ADDR_SET;
	memcpy(b + 2, MAC2, 6);
	CHECK_EQ(ctrl_send(&q[4], b, 8, 1, &used_len), OK);
	CHECK_EQ(used_len, 1);
	CHECK(ev_take(q[4].call_fd) > 0);
	virtio_net_get_mac(&n, mac);
	CHECK_MEM(mac, MAC2, 6);
	CHECK_EQ(ctrl_send(&q[4], "\4\0\2\0", 4, 1, &used_len), OK);
	CHECK_EQ(be.last_pairs, 2);
	CHECK_EQ(ctrl_send(&q[4], "\4\0\3\0", 4, 1, &used_len), ERR);
	CHECK_EQ(ctrl_send(&q[4], "\7\0", 2, 1, &used_len), ERR);
	/* Many at once: every one answered, more than one budget. */
	{
		uint64_t acks[100];
		uint32_t id, l;

		for (int i = 0; i < 100; i++) {
			struct seg s[2] = { { galloc(3), 3, false },
					    { galloc(1), 1, true } };

			memcpy(gp(s[0].gpa), "\0\1\1", 3);
			*(uint8_t *)gp(s[1].gpa) = 0xaa;
			acks[i] = s[1].gpa;
			fq_add(&q[4], s, 2);
		}
		for (int i = 0; i < 100; i++)
			if (!fq_wait(&q[4], &id, &l) ||
			    *(uint8_t *)gp(acks[i]) != OK || l != 1) {
				CHECK_FAIL_AT(__FILE__, __LINE__, "command %d",
					      i);
				break;
			}
	}
	CHECK(!atomic_load(&bus.broken));
	/* No ack byte: the driver broke the protocol. */
	{
		struct seg s = { galloc(3), 3, false };
		uint32_t id, l;

		memcpy(gp(s.gpa), "\0\0\1", 3);
		fq_add(&q[4], &s, 1);
		CHECK(wait_fd(bus.err_fd, WAIT_MS));
		CHECK(atomic_load(&bus.broken));
		CHECK(!fq_used(&q[4], &id, &l));
	}
	/* Reset. */
	virtio_net_ops.stop(&n);
	CHECK_EQ(be.stops, 1);
	virtio_net_get_mac(&n, mac);
	CHECK_MEM(mac, MAC1, 6);

	/* Without MQ the control queue is q2 (N = 1), whatever the pairs. */
	for (unsigned int i = 0; i < MAXQ; i++) {
		fq_init(&q[i], i, 16, false);
		io[i] = fq_io(&q[i]);
	}
	atomic_store(&bus.broken, false);
	CHECK_EQ(virtio_net_ops.start(&n, DRV_FEATURES, io, MAXQ), 0);
	CHECK_EQ(be.npairs, 1);
	CHECK_EQ(be.set_pairs_calls, 2);	/* none this time */
	CHECK_EQ(ctrl_send(&q[2], "\0\0\0", 3, 1, &used_len), OK);
	CHECK(!n.rx.promisc);
	CHECK_EQ(ctrl_send(&q[2], "\4\0\1\0", 4, 1, &used_len), ERR);
	virtio_net_ops.stop(&n);
	CHECK(n.rx.promisc);
	CHECK_EQ(be.stops, 2);

	/* Packed control queue. */
	for (unsigned int i = 0; i < MAXQ; i++) {
		fq_init(&q[i], i, 16, true);
		io[i] = fq_io(&q[i]);
	}
	CHECK_EQ(virtio_net_ops.start(&n, DRV_FEATURES |
				      F(VIRTIO_F_RING_PACKED), io, MAXQ), 0);
	CHECK_EQ(ctrl_send(&q[2], "\0\1\1", 3, 1, &used_len), OK);
	CHECK(n.rx.allmulti);
	virtio_net_ops.stop(&n);

	/* The first pair not enabled: no start. The control queue not
	 * enabled: data only. The backend failing: the device fails. */
	io[1].enabled = false;
	CHECK_EQ(virtio_net_ops.start(&n, DRV_FEATURES, io, MAXQ), -EINVAL);
	io[1].enabled = true;
	io[2].enabled = false;
	CHECK_EQ(virtio_net_ops.start(&n, DRV_FEATURES, io, MAXQ), 0);
	virtio_net_ops.stop(&n);
	io[2].enabled = true;
	/* MQ, second pair half enabled: one pair only, no set_pairs. */
	io[3].enabled = false;
	CHECK_EQ(virtio_net_ops.start(&n, feat, io, MAXQ), 0);
	CHECK_EQ(be.npairs, 1);
	CHECK_EQ(be.set_pairs_calls, 2);
	virtio_net_ops.stop(&n);
	io[3].enabled = true;
	be.start_ret = -EIO;
	CHECK_EQ(virtio_net_ops.start(&n, feat, io, MAXQ), -EIO);
	be.start_ret = 0;
	virtio_net_destroy(&n);
	for (unsigned int i = 0; i < MAXQ; i++)
		fq_close(&q[i]);
	close(bus.err_fd);
}

/* --- the userspace datapath --------------------------------------------- */

struct dp {
	unsigned int npairs;
	int sv[2][2];			/* [pair][0] backend's, [1] the test's */
	struct fq q[4];
	struct net_uspace u;
	struct bus_env bus;
	uint64_t features;
};

static void dp_start(struct dp *d, uint64_t features, uint16_t num,
		     bool packed)
{
	struct net_pair_io io[2];

	d->features = features;
	for (unsigned int i = 0; i < 2 * d->npairs; i++)
		fq_init(&d->q[i], i, num, packed);
	for (unsigned int i = 0; i < d->npairs; i++)
		io[i] = (struct net_pair_io){ fq_io(&d->q[2 * i]),
					      fq_io(&d->q[2 * i + 1]) };
	if (net_uspace_ops.start(&d->u, &mem, features, io, d->npairs))
		abort();
}

static void dp_init(struct dp *d, unsigned int npairs)
{
	int fds[2];

	memset(d, 0, sizeof(*d));
	d->npairs = npairs;
	for (unsigned int i = 0; i < npairs; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
			       d->sv[i]))
			abort();
		fds[i] = d->sv[i][0];
	}
	if (net_uspace_create(&d->u, "virtio-net0", fds, npairs))
		abort();
	net_uspace_set_bus(&d->u, bus_init(&d->bus));
}

static void dp_destroy(struct dp *d)
{
	net_uspace_destroy(&d->u);
	for (unsigned int i = 0; i < d->npairs; i++) {
		close(d->sv[i][0]);
		close(d->sv[i][1]);
	}
	for (unsigned int i = 0; i < 4; i++)
		fq_close(&d->q[i]);
	close(d->bus.err_fd);
}

/* A frame of len bytes after a header: hdr then a pattern from seed. */
static void frame(uint8_t *b, size_t len, uint8_t seed)
{
	memset(b, 0, HDR);
	for (size_t i = 0; i < len; i++)
		b[HDR + i] = (uint8_t)(seed + i * 13);
}

/* Receives one record from the test's end within the wait. */
static ssize_t sock_recv(int fd, void *buf, size_t len, int ms)
{
	if (!wait_fd(fd, ms))
		return -ETIMEDOUT;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/* Transmits header + frame in `pieces` readable descriptors. */
static uint16_t tx_pkt(struct fq *q, const uint8_t *pkt, size_t len,
		       unsigned int pieces)
{
	struct seg s[8];
	size_t at = 0;

	for (unsigned int i = 0; i < pieces; i++) {
		size_t l = i + 1 < pieces ? len / pieces : len - at;

		s[i] = (struct seg){ galloc((uint32_t)l), (uint32_t)l, false };
		memcpy(gp(s[i].gpa), pkt + at, l);
		at += l;
	}
	return fq_add(q, s, pieces);
}

static void tx_pkt_nokick(struct fq *q, const uint8_t *pkt, size_t len)
{
	struct seg s = { galloc((uint32_t)len), (uint32_t)len, false };

	memcpy(gp(s.gpa), pkt, len);
	fq_offer(q, &s, 1);
}

static void test_uspace_tx(bool packed)
{
	static uint8_t pkt[2000], got[4000];
	struct dp d;
	struct net_uspace_stats st;
	uint32_t id, len;
	uint16_t head;
	ssize_t n;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES | F_MRG | (packed ? F(VIRTIO_F_RING_PACKED) : 0),
		 64, packed);
	/* Header alone, frame in two pieces. */
	frame(pkt, 1000, 1);
	head = tx_pkt(&d.q[1], pkt, HDR, 1);
	{
		struct seg s[3];

		s[0] = (struct seg){ galloc(HDR), HDR, false };
		memcpy(gp(s[0].gpa), pkt, HDR);
		s[1] = (struct seg){ galloc(300), 300, false };
		memcpy(gp(s[1].gpa), pkt + HDR, 300);
		s[2] = (struct seg){ galloc(700), 700, false };
		memcpy(gp(s[2].gpa), pkt + HDR + 300, 700);
		/* the lone header above is a packet with no frame */
		CHECK(fq_wait(&d.q[1], &id, &len));
		CHECK_EQ(id, head);
		head = fq_add(&d.q[1], s, 3);
	}
	n = sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS);
	CHECK_EQ(n, HDR);		/* the empty frame */
	n = sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS);
	CHECK_EQ(n, HDR + 1000);
	CHECK_MEM(got, pkt, HDR + 1000);
	CHECK(fq_wait(&d.q[1], &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 0);
	CHECK(wait_fd(d.q[1].call_fd, WAIT_MS));

	/* A header split across descriptors, with junk the tap must not
	 * see: DATA_VALID, an unknown flag, num_buffers. */
	frame(pkt, 60, 2);
	pkt[0] = VIRTIO_NET_HDR_F_DATA_VALID | 0x40;
	pkt[10] = 7;
	tx_pkt(&d.q[1], pkt, HDR + 60, 5);
	n = sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS);
	CHECK_EQ(n, HDR + 60);
	CHECK_EQ(got[0], 0);
	CHECK_EQ(got[10], 0);
	CHECK_MEM(got + HDR, pkt + HDR, 60);
	CHECK(fq_wait(&d.q[1], &id, &len));

	/* Checksum offload: negotiated CSUM, offsets inside the frame. */
	frame(pkt, 100, 3);
	pkt[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	pkt[6] = 34;	/* csum_start */
	pkt[8] = 16;	/* csum_offset */
	tx_pkt(&d.q[1], pkt, HDR + 100, 2);
	n = sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS);
	CHECK_EQ(n, HDR + 100);
	CHECK_EQ(got[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK(fq_wait(&d.q[1], &id, &len));

	/* Refused: short of a header; csum past the end; TSO6 and UFO not
	 * negotiated; TSO4 without NEEDS_CSUM. Used, nothing sent. */
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.tx_dropped, 0);
	tx_pkt(&d.q[1], pkt, HDR - 1, 1);
	pkt[6] = 90;
	tx_pkt(&d.q[1], pkt, HDR + 100, 1);
	pkt[6] = 34;
	pkt[1] = VIRTIO_NET_HDR_GSO_TCPV6;
	pkt[4] = 0x40;
	tx_pkt(&d.q[1], pkt, HDR + 100, 1);
	pkt[1] = VIRTIO_NET_HDR_GSO_UDP;
	tx_pkt(&d.q[1], pkt, HDR + 100, 1);
	pkt[1] = VIRTIO_NET_HDR_GSO_TCPV4;
	pkt[0] = 0;
	tx_pkt(&d.q[1], pkt, HDR + 100, 1);
	for (int i = 0; i < 5; i++) {
		CHECK(fq_wait(&d.q[1], &id, &len));
		CHECK_EQ(len, 0);
	}
	/* ... and a good TSO4 one after them. */
	pkt[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	tx_pkt(&d.q[1], pkt, HDR + 100, 1);
	n = sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS);
	CHECK_EQ(n, HDR + 100);
	CHECK_EQ(got[1], VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK(fq_wait(&d.q[1], &id, &len));
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.tx_dropped, 5);
	CHECK_EQ(st.tx_packets, 5);
	CHECK_EQ(st.tx_bytes, 0 + 1000 + 60 + 100 + 100);
	CHECK_EQ(sock_recv(d.sv[0][1], got, sizeof(got), 0), -ETIMEDOUT);
	CHECK(!atomic_load(&d.bus.broken));
	dp_destroy(&d);
}

/* A driver that honours kick suppression: 200 packets, one kick. The
 * thread must come back for what its budget left. */
static void test_uspace_tx_budget(void)
{
	static uint8_t pkt[HDR + 20], got[64];
	struct dp d;
	uint32_t id, len;
	int used = 0, recvd = 0;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES, 256, false);
	sleep_ms(10);		/* the thread has looked once and waits */
	for (int i = 0; i < 200; i++) {
		frame(pkt, 20, (uint8_t)i);
		tx_pkt_nokick(&d.q[1], pkt, sizeof(pkt));
	}
	kick(d.q[1].kick_fd);
	for (int t = 0; t < WAIT_MS && (used < 200 || recvd < 200); t++) {
		while (fq_used(&d.q[1], &id, &len))
			used++;
		while (recv(d.sv[0][1], got, sizeof(got), MSG_DONTWAIT) > 0)
			if (got[HDR] != (uint8_t)recvd++)
				CHECK_FAIL_AT(__FILE__, __LINE__, "order");
		sleep_ms(1);
	}
	CHECK_EQ(used, 200);
	CHECK_EQ(recvd, 200);
	dp_destroy(&d);
}

/* A transmit chain longer than any packet (header, 64 KiB of frame and a
 * VLAN tag, as on receive): dropped, counted, given back, never written
 * to the tap, and the next packet goes out. */
static void test_uspace_tx_oversize(void)
{
	static uint8_t pkt[NET_USPACE_BOUNCE + 1], got[64];
	struct net_uspace_stats st;
	struct dp d;
	uint32_t id, len;
	uint16_t head;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES, 64, false);
	frame(pkt, sizeof(pkt) - HDR, 1);
	head = tx_pkt(&d.q[1], pkt, sizeof(pkt), 4);
	CHECK(fq_wait(&d.q[1], &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(sock_recv(d.sv[0][1], got, sizeof(got), QUIET_MS),
		 -ETIMEDOUT);
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.tx_dropped, 1);
	CHECK_EQ(st.tx_packets, 0);
	/* The largest that is taken. */
	frame(pkt, NET_USPACE_BOUNCE - HDR, 2);
	tx_pkt(&d.q[1], pkt, NET_USPACE_BOUNCE, 4);
	CHECK(fq_wait(&d.q[1], &id, &len));
	CHECK_EQ(sock_recv(d.sv[0][1], pkt, sizeof(pkt), WAIT_MS),
		 NET_USPACE_BOUNCE);
	CHECK(!atomic_load(&d.bus.broken));
	dp_destroy(&d);
}

/* The tap (here the socket) full: the chain waits, then goes out. */
static void test_uspace_tx_blocked(void)
{
	static uint8_t pkt[HDR + 1000], got[2000];
	struct dp d;
	int sndbuf = 4096, count = 0;
	uint32_t id, len;
	bool blocked = false;

	dp_init(&d, 1);
	setsockopt(d.sv[0][0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	dp_start(&d, DRV_FEATURES, 64, false);
	for (int i = 0; i < 40; i++) {
		frame(pkt, 1000, (uint8_t)i);
		tx_pkt(&d.q[1], pkt, sizeof(pkt), 1);
	}
	/* Not all can be in the socket: used stops short of 40. */
	for (int quiet = 0; count < 40 && quiet < QUIET_MS * 2; quiet++) {
		if (fq_used(&d.q[1], &id, &len)) {
			count++;
			quiet = 0;
		}
		sleep_ms(1);
	}
	blocked = count < 40;
	CHECK(blocked);
	for (int i = 0; i < 40; i++) {
		ssize_t n = sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS);

		frame(pkt, 1000, (uint8_t)i);
		if (n != (ssize_t)sizeof(pkt) || memcmp(got, pkt, sizeof(pkt))) {
			CHECK_FAIL_AT(__FILE__, __LINE__, "packet %d: %zd", i,
				      n);
			break;
		}
	}
	for (; count < 40 && fq_wait(&d.q[1], &id, &len); count++)
		;
	CHECK_EQ(count, 40);
	dp_destroy(&d);
}

/* Receives a header + `len`-byte frame sent with `seed` from the socket
 * into the buffers at gpas[], their lengths lens[]; checks the used
 * entries (ids, lengths), num_buffers and the bytes. */
static void check_rx(struct dp *d, unsigned int pair, const uint64_t *gpas,
		     const uint16_t *ids, const uint32_t *lens,
		     unsigned int nbufs, size_t len, uint8_t seed, int line)
{
	static uint8_t pkt[70000], got[70000];
	size_t total = HDR + len, at = 0;
	struct fq *q = &d->q[2 * pair];

	frame(pkt, len, seed);
	for (unsigned int i = 0; i < nbufs && at < total; i++) {
		uint32_t id, l;

		if (!fq_wait(q, &id, &l)) {
			CHECK_FAIL_AT(__FILE__, line, "buffer %u not used", i);
			return;
		}
		if (id != ids[i] || l != (lens[i] < total - at ? lens[i]
							      : total - at))
			CHECK_FAIL_AT(__FILE__, line, "buffer %u: id %u len %u,"
				      " want %u", i, id, l, ids[i]);
		memcpy(got + at, gp(gpas[i]), l);
		at += l;
	}
	if (at != total)
		CHECK_FAIL_AT(__FILE__, line, "%zu bytes of %zu", at, total);
	if ((got[10] | got[11] << 8) != (int)nbufs)
		CHECK_FAIL_AT(__FILE__, line, "num_buffers %u, want %u",
			      got[10] | got[11] << 8, nbufs);
	if (memcmp(got + HDR, pkt + HDR, len) || got[0] || got[1])
		CHECK_FAIL_AT(__FILE__, line, "bytes differ");
}

static void sock_send(int fd, size_t len, uint8_t seed)
{
	static uint8_t pkt[70000];

	frame(pkt, len, seed);
	if (send(fd, pkt, HDR + len, 0) != (ssize_t)(HDR + len))
		abort();
}

static void test_uspace_rx(bool packed)
{
	struct dp d;
	struct net_uspace_stats st;
	uint64_t g[8];
	uint16_t ids[8];
	uint32_t lens[8], id, len;
	uint64_t pf = packed ? F(VIRTIO_F_RING_PACKED) : 0;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES | F_MRG | pf, 64, packed);
	/* Three 100-byte buffers, a 262-byte packet: num_buffers 3. */
	for (int i = 0; i < 3; i++) {
		g[i] = rx_buf(&d.q[0], 100, &ids[i]);
		lens[i] = 100;
	}
	sock_send(d.sv[0][1], 250, 9);
	check_rx(&d, 0, g, ids, lens, 3, 250, 9, __LINE__);
	CHECK(wait_fd(d.q[0].call_fd, WAIT_MS));
	/* Fits one: num_buffers 1. */
	g[0] = rx_buf(&d.q[0], 1514, &ids[0]);
	lens[0] = 1514;
	sock_send(d.sv[0][1], 60, 10);
	check_rx(&d, 0, g, ids, lens, 1, 60, 10, __LINE__);
	/* A buffer spread over descriptors, header cut in the middle. */
	{
		struct seg s[3] = { { galloc(5), 5, true },
				    { galloc(20), 20, true },
				    { galloc(100), 100, true } };
		uint8_t got[HDR + 80];

		ids[0] = fq_add(&d.q[0], s, 3);
		sock_send(d.sv[0][1], 80, 11);
		CHECK(fq_wait(&d.q[0], &id, &len));
		CHECK_EQ(id, ids[0]);
		CHECK_EQ(len, HDR + 80);
		memcpy(got, gp(s[0].gpa), 5);
		memcpy(got + 5, gp(s[1].gpa), 20);
		memcpy(got + 25, gp(s[2].gpa), HDR + 80 - 25);
		CHECK_EQ(got[10], 1);
		CHECK_EQ(got[11], 0);
		CHECK_EQ(got[HDR + 1], (uint8_t)(11 + 13));
	}
	/* A 64 KiB packet over 4 KiB buffers: 17 of them. */
	for (int i = 0; i < 17; i++)
		rx_buf(&d.q[0], 4096, &ids[0]);
	sock_send(d.sv[0][1], 65536 - HDR + 100, 12);
	for (int i = 0; i < 17; i++) {
		CHECK(fq_wait(&d.q[0], &id, &len));
		CHECK_EQ(len, i < 16 ? 4096 : 100);
	}
	/* Buffers smaller than a header are given back empty (the packet
	 * waits for proper ones). */
	g[0] = rx_buf(&d.q[0], 8, &ids[0]);
	sock_send(d.sv[0][1], 40, 13);
	CHECK(fq_wait(&d.q[0], &id, &len));
	CHECK_EQ(id, ids[0]);
	CHECK_EQ(len, 0);
	g[0] = rx_buf(&d.q[0], 200, &ids[0]);
	lens[0] = 200;
	check_rx(&d, 0, g, ids, lens, 1, 40, 13, __LINE__);
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.rx_packets, 5);
	CHECK_EQ(st.rx_bytes, 250 + 60 + 80 + 65536 - HDR + 100 + 40);
	CHECK_EQ(st.rx_dropped, 0);
	CHECK(!atomic_load(&d.bus.broken));
	dp_destroy(&d);

	/* Without MRG_RXBUF: one buffer per packet, num_buffers 1, too big
	 * a packet dropped and its buffer given back unused. */
	dp_init(&d, 1);
	dp_start(&d, (DRV_FEATURES & ~F(VIRTIO_NET_F_GUEST_CSUM)) | pf, 64,
		 packed);
	g[0] = rx_buf(&d.q[0], 64, &ids[0]);
	sock_send(d.sv[0][1], 100, 14);
	CHECK(fq_wait(&d.q[0], &id, &len));
	CHECK_EQ(id, ids[0]);
	CHECK_EQ(len, 0);
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.rx_dropped, 1);
	g[0] = rx_buf(&d.q[0], 1526, &ids[0]);
	lens[0] = 1526;
	sock_send(d.sv[0][1], 100, 15);
	check_rx(&d, 0, g, ids, lens, 1, 100, 15, __LINE__);
	/* Headers a driver without GUEST_CSUM cannot take: dropped; a
	 * DATA_VALID flag is cleared. */
	{
		uint8_t p[HDR + 50] = { VIRTIO_NET_HDR_F_NEEDS_CSUM };
		uint8_t *b;

		g[0] = rx_buf(&d.q[0], 1526, &ids[0]);
		CHECK_EQ(send(d.sv[0][1], p, sizeof(p), 0), (ssize_t)sizeof(p));
		p[0] = VIRTIO_NET_HDR_F_DATA_VALID;
		p[1] = VIRTIO_NET_HDR_GSO_TCPV4;
		CHECK_EQ(send(d.sv[0][1], p, sizeof(p), 0), (ssize_t)sizeof(p));
		p[1] = 0;
		p[HDR] = 0x42;
		CHECK_EQ(send(d.sv[0][1], p, sizeof(p), 0), (ssize_t)sizeof(p));
		CHECK(fq_wait(&d.q[0], &id, &len));
		CHECK_EQ(len, sizeof(p));
		b = gp(g[0]);
		CHECK_EQ(b[0], 0);
		CHECK_EQ(b[HDR], 0x42);
		/* Shorter than a header: dropped too. */
		CHECK_EQ(send(d.sv[0][1], p, 5, 0), 5);
		g[0] = rx_buf(&d.q[0], 1526, &ids[0]);
		sock_send(d.sv[0][1], 30, 16);
		check_rx(&d, 0, g, ids, lens, 1, 30, 16, __LINE__);
		net_uspace_stats(&d.u, 0, &st);
		CHECK_EQ(st.rx_dropped, 4);
	}
	dp_destroy(&d);
}

/* No buffers: the thread waits, reads nothing, delivers once the driver
 * adds some; a packet bigger than the whole ring is dropped. */
static void test_uspace_rx_wait(void)
{
	struct dp d;
	struct net_uspace_stats st;
	uint64_t g[4];
	uint16_t ids[4];
	uint32_t lens[4] = { 64, 64, 64, 64 }, id, len;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES | F_MRG, 4, false);
	sock_send(d.sv[0][1], 100, 20);
	sock_send(d.sv[0][1], 20, 21);
	sleep_ms(QUIET_MS);
	CHECK(!fq_used(&d.q[0], &id, &len));
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.rx_dropped, 0);
	/* One buffer: the first packet starts, and waits for more. */
	g[0] = rx_buf(&d.q[0], 64, &ids[0]);
	sleep_ms(QUIET_MS);
	CHECK(!fq_used(&d.q[0], &id, &len));
	g[1] = rx_buf(&d.q[0], 64, &ids[1]);
	check_rx(&d, 0, g, ids, lens, 2, 100, 20, __LINE__);
	g[0] = rx_buf(&d.q[0], 64, &ids[0]);
	check_rx(&d, 0, g, ids, lens, 1, 20, 21, __LINE__);
	/* 4 descriptors of 64 bytes cannot hold 300: the buffers come back
	 * empty and the packet is counted. */
	sock_send(d.sv[0][1], 300, 22);
	for (int i = 0; i < 4; i++)
		rx_buf(&d.q[0], 64, &ids[i]);
	for (int i = 0; i < 4; i++) {
		CHECK(fq_wait(&d.q[0], &id, &len));
		CHECK_EQ(id, ids[i]);
		CHECK_EQ(len, 0);
	}
	net_uspace_stats(&d.u, 0, &st);
	CHECK_EQ(st.rx_dropped, 1);
	/* And the next one goes through. */
	g[0] = rx_buf(&d.q[0], 64, &ids[0]);
	sock_send(d.sv[0][1], 30, 23);
	check_rx(&d, 0, g, ids, lens, 1, 30, 23, __LINE__);
	dp_destroy(&d);
}

/* A driver that keeps posting receive buffers while one packet is being
 * scattered over them (MRG_RXBUF) must not get more taken for that packet
 * than its ring has descriptors: the packet holds its buffers until it is
 * whole, so the driver has made more available than it owns. A 1024-entry
 * ring: the first buffer (64 bytes) takes the start of a 3000-byte packet
 * and the device waits for more; then all 1024 entries name one 1-byte
 * buffer. The 1025th buffer for one packet breaks the ring (it used to be
 * written past the end of the device's list of held buffers). */
static void test_uspace_rx_flood(void)
{
	enum { NUM = VIRTQ_MAX_SIZE };
	struct net_pair_io io;
	struct seg first = { galloc(64), 64, true };
	uint64_t one = galloc(1);
	volatile uint16_t *avail_event;
	struct fq *q;
	struct dp d;
	int t;

	dp_init(&d, 1);
	d.features = DRV_FEATURES | F_MRG;
	fq_init(&d.q[0], 0, NUM, false);
	fq_init(&d.q[1], 1, 64, false);
	/* Room for a 1024-entry ring outside the fixed ring area. */
	q = &d.q[0];
	q->desc_gpa = galloc(16 * NUM);
	q->drv_gpa = galloc(6 + 2 * NUM);
	q->dev_gpa = galloc(6 + 8 * NUM);
	q->desc = gp(q->desc_gpa);
	q->avail = gp(q->drv_gpa);
	q->used = gp(q->dev_gpa);
	memset(q->desc, 0, 16 * NUM);
	memset(q->avail, 0, 6 + 2 * NUM);
	memset(q->used, 0, 6 + 8 * NUM);
	avail_event = (volatile uint16_t *)&q->used->ring[NUM];
	io = (struct net_pair_io){ fq_io(&d.q[0]), fq_io(&d.q[1]) };
	if (net_uspace_ops.start(&d.u, &mem, d.features, &io, 1))
		abort();

	/* The packet first: with no buffer the device leaves it in the
	 * socket. Then one buffer: the header and 52 bytes go in, and the
	 * device, out of buffers, asks for a kick at entry 1. */
	sock_send(d.sv[0][1], 3000, 40);
	fq_add(q, &first, 1);
	for (t = 0; t < WAIT_MS && *avail_event != 1; t++)
		sleep_ms(1);
	CHECK_EQ(*avail_event, 1);
	/* Entries 1..1024, all the same 1-byte buffer (descriptor 1). */
	q->desc[1] = (struct virtq_desc){ one, 1, VIRTQ_DESC_F_WRITE, 0 };
	for (unsigned int i = 1; i <= NUM; i++)
		q->avail->ring[i % NUM] = 1;
	__atomic_store_n(&q->avail->idx, NUM + 1, __ATOMIC_RELEASE);
	kick(q->kick_fd);
	CHECK(wait_fd(d.bus.err_fd, WAIT_MS));
	CHECK(atomic_load(&d.bus.broken));
	dp_destroy(&d);
}

/* Both directions busy at once: everything arrives, in order. */
static void test_uspace_busy(void)
{
	static uint8_t pkt[HDR + 200], got[HDR + 200];
	enum { N = 300 };
	struct dp d;
	uint64_t g[N];
	uint16_t ids[N];
	uint32_t id, len;
	int rx_done = 0, tx_done = 0, sent = 0, recvd = 0;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES | F_MRG | F(VIRTIO_F_EVENT_IDX), 256, false);
	for (int i = 0; i < 200; i++)
		g[i] = rx_buf(&d.q[0], 256, &ids[i]);
	for (int i = 0; i < 150; i++)
		sock_send(d.sv[0][1], 200, (uint8_t)i);
	for (int i = 0; i < 200; i++) {
		frame(pkt, 200, (uint8_t)(i + 100));
		tx_pkt(&d.q[1], pkt, sizeof(pkt), 1);
		sent++;
	}
	for (int t = 0; t < WAIT_MS && (rx_done < 150 || tx_done < 200 ||
					recvd < 200); t++) {
		while (rx_done < 150 && fq_used(&d.q[0], &id, &len)) {
			uint8_t *b = gp(g[rx_done]);

			if (id != ids[rx_done] || len != HDR + 200 ||
			    b[HDR] != (uint8_t)rx_done)
				CHECK_FAIL_AT(__FILE__, __LINE__, "rx %d",
					      rx_done);
			rx_done++;
		}
		while (tx_done < 200 && fq_used(&d.q[1], &id, &len))
			tx_done++;
		while (recvd < 200 &&
		       recv(d.sv[0][1], got, sizeof(got), MSG_DONTWAIT) > 0) {
			if (got[HDR] != (uint8_t)(recvd + 100))
				CHECK_FAIL_AT(__FILE__, __LINE__, "tx %d",
					      recvd);
			recvd++;
		}
		sleep_ms(1);
	}
	CHECK_EQ(rx_done, 150);
	CHECK_EQ(tx_done, sent);
	CHECK_EQ(recvd, 200);
	dp_destroy(&d);
}

/* A ring rule broken: DEVICE_NEEDS_RESET through the bus. */
static void test_uspace_broken(void)
{
	struct dp d;
	uint32_t id, len;

	dp_init(&d, 1);
	dp_start(&d, DRV_FEATURES, 8, false);
	d.q[1].avail->ring[0] = 9;	/* head out of range */
	__atomic_store_n(&d.q[1].avail->idx, 1, __ATOMIC_RELEASE);
	kick(d.q[1].kick_fd);
	CHECK(wait_fd(d.bus.err_fd, WAIT_MS));
	CHECK(atomic_load(&d.bus.broken));
	/* The other queue of the pair still works until the reset. */
	{
		uint64_t g;
		uint16_t ids[1];
		uint32_t lens[1] = { 200 };

		g = rx_buf(&d.q[0], 200, &ids[0]);
		sock_send(d.sv[0][1], 50, 30);
		check_rx(&d, 0, &g, ids, lens, 1, 50, 30, __LINE__);
	}
	net_uspace_ops.stop(&d.u);
	/* Reset and start again: works. */
	atomic_store(&d.bus.broken, false);
	dp_start(&d, DRV_FEATURES, 8, false);
	{
		uint8_t pkt[HDR + 10], got[64];

		frame(pkt, 10, 31);
		tx_pkt(&d.q[1], pkt, sizeof(pkt), 1);
		CHECK_EQ(sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS),
			 (ssize_t)sizeof(pkt));
		CHECK(fq_wait(&d.q[1], &id, &len));
	}
	/* A receive ring broken the same way. */
	d.q[0].avail->ring[0] = 200;
	__atomic_store_n(&d.q[0].avail->idx, 1, __ATOMIC_RELEASE);
	kick(d.q[0].kick_fd);
	CHECK(wait_fd(d.bus.err_fd, WAIT_MS));
	dp_destroy(&d);
}

/* Stop and start again and again, with traffic in flight. */
static void test_uspace_cycles(void)
{
	struct dp d;
	uint32_t id, len;

	dp_init(&d, 1);
	for (int round = 0; round < 20; round++) {
		uint8_t pkt[HDR + 40], got[128];
		uint64_t g;
		uint16_t ids[1];
		uint32_t lens[1] = { 100 };
		bool packed = round & 1;

		dp_start(&d, DRV_FEATURES | (round & 2 ? F_MRG : 0) |
			 (packed ? F(VIRTIO_F_RING_PACKED) : 0), 16, packed);
		frame(pkt, 40, (uint8_t)round);
		tx_pkt(&d.q[1], pkt, sizeof(pkt), 2);
		if (sock_recv(d.sv[0][1], got, sizeof(got), WAIT_MS) !=
			    (ssize_t)sizeof(pkt) ||
		    memcmp(got, pkt, sizeof(pkt)))
			CHECK_FAIL_AT(__FILE__, __LINE__, "round %d tx", round);
		CHECK(fq_wait(&d.q[1], &id, &len));
		g = rx_buf(&d.q[0], 100, &ids[0]);
		sock_send(d.sv[0][1], 40, (uint8_t)round);
		check_rx(&d, 0, &g, ids, lens, 1, 40, (uint8_t)round,
			 __LINE__);
		/* Left in flight at stop: a packet in the socket, buffers
		 * and transmits not yet looked at. */
		sock_send(d.sv[0][1], 40, 99);
		tx_pkt(&d.q[1], pkt, sizeof(pkt), 1);
		net_uspace_ops.stop(&d.u);
		while (recv(d.sv[0][1], got, sizeof(got), MSG_DONTWAIT) > 0)
			;
		while (recv(d.sv[0][0], got, sizeof(got), MSG_DONTWAIT) > 0)
			;
	}
	net_uspace_ops.stop(&d.u);	/* twice: harmless */
	dp_destroy(&d);
}

/* Two pairs: only pair 1 receives until set_pairs(2). */
static void test_uspace_pairs(void)
{
	struct dp d;
	uint64_t g[2];
	uint16_t ids[2];
	uint32_t lens[2] = { 200, 200 }, id, len;

	dp_init(&d, 2);
	dp_start(&d, DRV_FEATURES | F(VIRTIO_NET_F_MQ), 16, false);
	CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 1), 0);
	CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 0), -EINVAL);
	CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 3), -EINVAL);
	g[0] = rx_buf(&d.q[0], 200, &ids[0]);
	g[1] = rx_buf(&d.q[2], 200, &ids[1]);
	sock_send(d.sv[1][1], 50, 40);
	sleep_ms(QUIET_MS);
	CHECK(!fq_used(&d.q[2], &id, &len));
	/* Transmit works on any pair. */
	{
		uint8_t pkt[HDR + 10], got[64];

		frame(pkt, 10, 41);
		tx_pkt(&d.q[3], pkt, sizeof(pkt), 1);
		CHECK_EQ(sock_recv(d.sv[1][1], got, sizeof(got), WAIT_MS),
			 (ssize_t)sizeof(pkt));
	}
	CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 2), 0);
	check_rx(&d, 1, &g[1], &ids[1], &lens[1], 1, 50, 40, __LINE__);
	sock_send(d.sv[0][1], 50, 42);
	check_rx(&d, 0, &g[0], &ids[0], &lens[0], 1, 50, 42, __LINE__);
	CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 1), 0);
	g[1] = rx_buf(&d.q[2], 200, &ids[1]);
	sock_send(d.sv[1][1], 50, 43);
	sleep_ms(QUIET_MS);
	CHECK(!fq_used(&d.q[2], &id, &len));
	/* More pairs than tap queues: refused. */
	net_uspace_ops.stop(&d.u);
	{
		struct net_pair_io io[3] = { 0 };

		CHECK_EQ(net_uspace_ops.start(&d.u, &mem, DRV_FEATURES, io, 3),
			 -EINVAL);
		CHECK_EQ(net_uspace_ops.start(&d.u, &mem, DRV_FEATURES &
					      ~F(VIRTIO_F_VERSION_1), io, 1),
			 -EINVAL);
	}
	dp_destroy(&d);
}

/* The device over the userspace datapath, as the VMM wires it. */
static void test_device_uspace(void)
{
	struct fq q[3] = { 0 };
	struct virtio_queue_io io[3];
	struct net_config c = config(1);
	struct bus_env bus;
	struct virtio_net n;
	struct net_uspace u;
	struct virtio_bus b;
	int sv[2];
	uint8_t pkt[HDR + 64], got[128];
	uint32_t id, len, used_len;
	uint64_t g;
	uint16_t ids[1];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(net_uspace_create(&u, "virtio-net0", &sv[0], 1), 0);
	CHECK_EQ(virtio_net_create(&n, "virtio-net0", &c, &mem, &net_uspace_ops,
				   &u), 0);
	b = bus_init(&bus);
	virtio_net_set_bus(&n, b);
	net_uspace_set_bus(&u, b);
	for (int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < 3; i++) {
			fq_init(&q[i], i, 32, false);
			io[i] = fq_io(&q[i]);
		}
		CHECK_EQ(virtio_net_ops.start(&n, n.features & ~F(VIRTIO_NET_F_MTU),
					      io, 3), 0);
		frame(pkt, 64, 50);
		tx_pkt(&q[1], pkt, sizeof(pkt), 1);
		CHECK_EQ(sock_recv(sv[1], got, sizeof(got), WAIT_MS),
			 (ssize_t)sizeof(pkt));
		CHECK(fq_wait(&q[1], &id, &len));
		g = rx_buf(&q[0], 2048, &ids[0]);
		CHECK_EQ(send(sv[1], pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
		CHECK(fq_wait(&q[0], &id, &len));
		CHECK_EQ(len, sizeof(pkt));
		CHECK_EQ(((uint8_t *)gp(g))[10], 1);
		CHECK_EQ(ctrl_send(&q[2], "\0\0\0", 3, 1, &used_len), OK);
		virtio_net_ops.stop(&n);
	}
	CHECK(!atomic_load(&bus.broken));
	virtio_net_destroy(&n);
	net_uspace_destroy(&u);
	for (unsigned int i = 0; i < 3; i++)
		fq_close(&q[i]);
	close(sv[0]);
	close(sv[1]);
	close(bus.err_fd);
}

/* --- a real tap, in a network namespace of its own ----------------------- */

#define ETH_TEST 0x88b5		/* IEEE local experimental ethertype */

static int tap_open(const char *name, int *ifindex)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), hdr = HDR;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		close(fd);
		return -1;
	}
	*ifindex = (int)if_nametoindex(name);
	return fd;
}

static bool link_up(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_UP;
	ok = s >= 0 && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

/* An Ethernet frame of our test type, `len` bytes in all. */
static void eth_frame(uint8_t *f, size_t len, uint8_t seed)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, MAC1, 6);
	f[12] = ETH_TEST >> 8;
	f[13] = ETH_TEST & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i);
}

/* Frames of our type seen on the interface, or -ETIMEDOUT. */
static ssize_t pkt_recv(int ps, uint8_t *buf, size_t len)
{
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);

	for (;;) {
		ssize_t n;

		if (!wait_fd(ps, WAIT_MS))
			return -ETIMEDOUT;
		n = recvfrom(ps, buf, len, MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
		if (n < 0 || from.sll_pkttype != PACKET_OUTGOING)
			return n;
		/* our own transmits show up as outgoing: skip them */
	}
}

static int real_tap_child(void)
{
	static uint8_t f[2000], got[2000];
	struct dp d;
	int fds[2], ifindex = 0, ps;
	struct sockaddr_ll to = { .sll_family = AF_PACKET }, to_ip;
	uint32_t id, len;
	uint64_t g[3];
	uint16_t ids[3];
	int per_pair[2] = { 0, 0 };

	struct mem_config mc = { .size = RAM_SIZE, .numa_node = -1 };

	/* Guest RAM is not inherited (MADV_DONTFORK): map our own. */
	if (guest_mem_create(&mem, &mc))
		return 1;
	next_data = DATA_GPA;
	if (unshare(CLONE_NEWNET) < 0)
		return CHECK_EXIT_SKIP;
	fds[0] = tap_open("vnet0", &ifindex);
	fds[1] = fds[0] >= 0 ? tap_open("vnet0", &ifindex) : -1;
	if (fds[1] < 0)
		return CHECK_EXIT_SKIP;
	/* No IPv6 on it: no MLD or router solicitations amid our frames. */
	ps = open("/proc/sys/net/ipv6/conf/vnet0/disable_ipv6", O_WRONLY);
	if (ps >= 0) {
		if (write(ps, "1", 1) != 1)
			return CHECK_EXIT_SKIP;
		close(ps);
	}
	if (!link_up("vnet0"))
		return CHECK_EXIT_SKIP;
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_TEST));
	to.sll_protocol = htons(ETH_TEST);
	to.sll_ifindex = ifindex;
	to.sll_halen = 6;
	memset(to.sll_addr, 0xff, 6);
	if (ps < 0 || bind(ps, (struct sockaddr *)&to, sizeof(to)) < 0)
		return CHECK_EXIT_SKIP;

	memset(&d, 0, sizeof(d));
	d.npairs = 2;
	CHECK_EQ(net_uspace_create(&d.u, "virtio-net0", fds, 2), 0);
	net_uspace_set_bus(&d.u, bus_init(&d.bus));
	dp_start(&d, DRV_FEATURES | F_MRG | F(VIRTIO_NET_F_MQ) |
		 F(VIRTIO_NET_F_GUEST_TSO4), 64, false);
	CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 1), 0);

	/* Guest to host: the frame comes out of the tap as it was sent. */
	memset(f, 0, HDR);
	eth_frame(f + HDR, 200, 1);
	tx_pkt(&d.q[1], f, HDR + 200, 2);
	CHECK_EQ(pkt_recv(ps, got, sizeof(got)), 200);
	CHECK_MEM(got, f + HDR, 200);
	CHECK(fq_wait(&d.q[1], &id, &len));

	/* Host to guest over three merged buffers: header, num_buffers. */
	for (int i = 0; i < 3; i++)
		g[i] = rx_buf(&d.q[0], 512, &ids[i]);
	eth_frame(f, 1200, 2);
	CHECK_EQ(sendto(ps, f, 1200, 0, (struct sockaddr *)&to, sizeof(to)),
		 1200);
	{
		size_t at = 0;

		for (int i = 0; i < 3; i++) {
			if (!fq_wait(&d.q[0], &id, &len)) {
				CHECK_FAIL_AT(__FILE__, __LINE__, "rx %d", i);
				break;
			}
			CHECK_EQ(id, ids[i]);
			memcpy(got + at, gp(g[i]), len);
			at += len;
		}
		CHECK_EQ(at, HDR + 1200);
		CHECK_EQ(got[10], 3);
		CHECK_EQ(got[1], VIRTIO_NET_HDR_GSO_NONE);
		CHECK_MEM(got + HDR, f, 1200);
	}

	/* One pair in use: the kernel steers everything to queue 0. Then
	 * two: every frame still arrives, some on each pair. */
	to_ip = to;
	to_ip.sll_protocol = htons(0x0800);	/* so the tap hashes flows */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 32; i++) {
			rx_buf(&d.q[0], 2048, &ids[0]);
			rx_buf(&d.q[2], 2048, &ids[0]);
		}
		for (int i = 0; i < 16; i++) {
			/* IPv4/UDP, 16 flows: the tap hashes them over its
			 * attached queues. */
			eth_frame(f, 100, (uint8_t)i);
			f[12] = 0x08;
			f[13] = 0x00;
			memcpy(f + 14, "\x45\0\0\x56\0\0\0\0\x40\x11\0\0"
			       "\x0a\0\0\x01\x0a\0\0\x02", 20);
			f[34] = 0x80;		/* source port 0x80xx */
			f[35] = (uint8_t)(i * 37);
			f[36] = 0x13;		/* destination port */
			f[37] = 0x88;
			f[38] = 0;		/* UDP length 66 */
			f[39] = 66;
			if (sendto(ps, f, 100, 0, (struct sockaddr *)&to_ip,
				   sizeof(to_ip)) != 100)
				CHECK_FAIL_AT(__FILE__, __LINE__, "send");
		}
		per_pair[0] = per_pair[1] = 0;
		for (int t = 0; t < WAIT_MS && per_pair[0] + per_pair[1] < 16;
		     t++) {
			while (fq_used(&d.q[0], &id, &len))
				per_pair[0]++;
			while (fq_used(&d.q[2], &id, &len))
				per_pair[1]++;
			sleep_ms(1);
		}
		CHECK_EQ(per_pair[0] + per_pair[1], 16);
		if (round == 0)
			CHECK_EQ(per_pair[1], 0);
		else
			CHECK(per_pair[1] > 0 && per_pair[0] > 0);
		CHECK_EQ(net_uspace_ops.set_pairs(&d.u, 2), 0);
	}
	CHECK(!atomic_load(&d.bus.broken));
	net_uspace_destroy(&d.u);
	close(fds[0]);
	close(fds[1]);
	close(ps);
	return check_failures ? 1 : 0;
}

static void test_uspace_real_tap(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0)
		_exit(real_tap_child());
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status)) {
		CHECK_FAIL_AT(__FILE__, __LINE__, "real tap child died");
		return;
	}
	if (WEXITSTATUS(status) == CHECK_EXIT_SKIP)
		fprintf(stderr, "test_vnet: real tap: skipped (no "
			"/dev/net/tun or network namespace here)\n");
	else if (WEXITSTATUS(status))
		CHECK_FAIL_AT(__FILE__, __LINE__, "real tap: failures above");
}

int main(void)
{
	struct mem_config mc = { .size = RAM_SIZE, .numa_node = -1 };

	if (guest_mem_create(&mem, &mc))
		return CHECK_EXIT_SKIP;
	test_features();
	test_config();
	test_hdr_rules();
	test_ctrl_rx();
	test_ctrl_mac();
	test_ctrl_mq();
	test_ctrl_other();
	test_ctrl_thread();
	test_uspace_tx(false);
	test_uspace_tx(true);
	test_uspace_tx_budget();
	test_uspace_tx_blocked();
	test_uspace_tx_oversize();
	test_uspace_rx(false);
	test_uspace_rx(true);
	test_uspace_rx_wait();
	test_uspace_rx_flood();
	test_uspace_busy();
	test_uspace_broken();
	test_uspace_cycles();
	test_uspace_pairs();
	test_device_uspace();
	test_uspace_real_tap();
	guest_mem_destroy(&mem);
	return check_done("test_vnet");
}
