/* Fuzz target: virtio-net control commands (virtio_net_ctrl) on chains of
 * any shape, one after another on one device, and the datapath header rules
 * (virtio_net_tx_hdr_check, virtio_net_rx_hdr_fix).
 *
 * Input: byte 0 bit 7 set: the userspace datapath, see dp_run below.
 * Otherwise byte 0 picks the mode (% 3).
 *  0 control: byte 1 = negotiated feature selector (bit i switches on
 *    sel[i] below), byte 2 = pairs the driver enabled (1 + b % 4), then up
 *    to 16 commands, each: nout byte (% 9 readable segments), nin byte
 *    (% 5 writable segments), one length byte per segment, then the bytes
 *    of the readable segments in order (writable ones are filled with
 *    0xaa, not taken from the input).
 *  1 transmit header / 2 receive header: bytes 1-8 the negotiated features
 *    (le64), 9-12 the frame length after the header (le32), 13-24 the
 *    header.
 * Checked: no crash, no access outside the segments (each is cut from a
 * malloc'd copy ASan watches), the ack lands in the first writable byte and
 * nowhere else, -EINVAL exactly when there is no writable byte, the device
 * state stays within its rules (pairs, MAC, filter table, offloads), and a
 * header that passes obeys what the features allow.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "core/memory.h"
#include "net/uspace.h"
#include "virtio/net.h"
#include "virtio/queue.h"
#include "tests/fake_ring_core.h"
#include "tests/fuzz/fuzz.h"

#include <poll.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(bit) (1ULL << (bit))
#define FZ_MAX_SEGS 8
#define FZ_MAX_IN 4
#define FZ_MAX_CMDS 16
#define FZ_PAIRS 4

static struct {
	unsigned long cmds, ok, err, no_ack, tx_ok, tx_refused, rx_ok,
		rx_refused;
} fz_stats;

struct fz_be {
	unsigned int pairs;
};

static uint64_t fz_features(void *be)
{
	return ~0ULL;
}

static int fz_start(void *be, const struct guest_mem *mem, uint64_t features,
		    const struct net_pair_io *pairs, unsigned int npairs)
{
	return 0;
}

static void fz_stop(void *be)
{
}

static int fz_set_pairs(void *be, unsigned int n)
{
	struct fz_be *b = be;

	FZ_NEVER(n < 1 || n > FZ_PAIRS);
	/* A backend may refuse: pairs that end in 3, say. */
	if (n == 3)
		return -EIO;
	b->pairs = n;
	return 0;
}

static const struct net_backend_ops fz_ops = {
	.name = "fuzz",
	.features = fz_features,
	.start = fz_start,
	.stop = fz_stop,
	.set_pairs = fz_set_pairs,
};

static const uint8_t fz_sel[8] = {
	VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_MQ,
	VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, VIRTIO_NET_F_GUEST_CSUM,
	VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
	VIRTIO_NET_F_GUEST_ECN,
};

static uint64_t ld(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* One command cut from *p; false when the input is used up. */
static bool fz_cmd(struct virtio_net *n, struct fz_be *be, const uint8_t **p,
		   const uint8_t *end)
{
	static struct virtq_chain c;
	unsigned int nout, nin, nseg;
	const uint8_t *lens, *src;
	uint8_t *buf, *q, *ackp = NULL, ack = 0x55, mac_before[6], mac[6];
	size_t avail, total = 0;
	int ret;

	if (end - *p < 2)
		return false;
	nout = (*p)[0] % (FZ_MAX_SEGS + 1);
	nin = (*p)[1] % (FZ_MAX_IN + 1);
	nseg = nout + nin;
	*p += 2;
	if ((size_t)(end - *p) < nseg)
		return false;
	memset(&c, 0, sizeof(c));
	/* Readable bytes come from the input, writable ones are ours. */
	lens = *p;
	src = *p + nseg;
	avail = (size_t)(end - src);
	for (unsigned int i = 0; i < nseg; i++)
		total += lens[i];
	buf = malloc(total + 1);
	q = buf;
	for (unsigned int i = 0; i < nseg; i++) {
		size_t len = lens[i];

		if (i < nout) {
			if (len > avail)
				len = avail;
			memcpy(q, src, len);
			src += len;
			avail -= len;
			c.out_len += (uint32_t)len;
		} else {
			memset(q, 0xaa, len);
			c.in_len += (uint32_t)len;
			if (len && !ackp)
				ackp = q;
		}
		c.iov[i] = (struct iovec){ q, len };
		q += len;
	}
	*p = src;
	c.nr_out = nout;
	c.nr_in = nin;
	/* Each segment its own block: an overrun past one is caught. */
	for (unsigned int i = 0; i < nseg; i++) {
		void *own = malloc(c.iov[i].iov_len ? c.iov[i].iov_len : 1);

		memcpy(own, c.iov[i].iov_base, c.iov[i].iov_len);
		if (c.iov[i].iov_base == ackp && c.iov[i].iov_len)
			ackp = own;
		c.iov[i].iov_base = own;
	}
	free(buf);

	virtio_net_get_mac(n, mac_before);
	ret = virtio_net_ctrl(n, &c, &ack);
	fz_stats.cmds++;
	if (ret == -EINVAL) {
		fz_stats.no_ack++;
		FZ_NEVER(ackp);
	} else {
		FZ_NEVER(ret || !ackp || *ackp != ack ||
			 (ack != VIRTIO_NET_OK && ack != VIRTIO_NET_ERR));
		if (ack == VIRTIO_NET_OK)
			fz_stats.ok++;
		else
			fz_stats.err++;
	}
	/* Nothing writable touched but the ack byte. */
	for (unsigned int i = nout; i < nseg; i++) {
		const uint8_t *b = c.iov[i].iov_base;

		for (size_t k = 0; k < c.iov[i].iov_len; k++)
			FZ_NEVER(b + k != ackp && b[k] != 0xaa);
	}
	/* The device's rules. */
	virtio_net_get_mac(n, mac);
	FZ_NEVER(memcmp(mac, mac_before, 6) &&
		 (ack != VIRTIO_NET_OK || (mac[0] & 1) ||
		  !(n->negotiated & F(VIRTIO_NET_F_CTRL_MAC_ADDR))));
	FZ_NEVER(n->pairs_active < 1 || n->pairs_active > n->pairs_started ||
		 (n->pairs_active != 1 && n->pairs_active != be->pairs));
	FZ_NEVER(n->rx.n_kept > NET_MAC_TABLE_MAX ||
		 n->rx.n_kept > (uint64_t)n->rx.n_uni + n->rx.n_multi);
	FZ_NEVER(n->guest_offloads &
		 ~(n->negotiated & VIRTIO_NET_GUEST_OFFLOADS));
	for (unsigned int i = 0; i < nseg; i++)
		free(c.iov[i].iov_base);
	return true;
}

static void fz_ctrl(const uint8_t *data, size_t size)
{
	static struct virtio_net n;
	struct net_config cfg = { .pairs = FZ_PAIRS, .mtu = 1500,
				  .queue_size = 256,
				  .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
	struct fz_be be = { .pairs = 1 };
	const uint8_t *p = data + 3, *end = data + size;

	if (size < 3 ||
	    virtio_net_create(&n, "virtio-net0", &cfg, NULL, &fz_ops, &be))
		return;
	n.negotiated = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CTRL_VQ);
	for (int i = 0; i < 8; i++)
		if (data[1] & (1 << i))
			n.negotiated |= F(fz_sel[i]);
	n.pairs_started = 1 + data[2] % FZ_PAIRS;
	n.guest_offloads = n.negotiated & VIRTIO_NET_GUEST_OFFLOADS;
	for (int i = 0; i < FZ_MAX_CMDS && fz_cmd(&n, &be, &p, end); i++)
		;
	virtio_net_destroy(&n);
}

static void fz_hdr(bool tx, const uint8_t *data, size_t size)
{
	uint8_t h[VIRTIO_NET_HDR_LEN], before[VIRTIO_NET_HDR_LEN];
	uint64_t f;
	uint32_t payload;
	uint8_t type;

	if (size < 13 + VIRTIO_NET_HDR_LEN)
		return;
	f = ld(data + 1, 8);
	payload = (uint32_t)ld(data + 9, 4);
	memcpy(h, data + 13, sizeof(h));
	memcpy(before, h, sizeof(h));
	type = h[1] & 0x7f;
	if (tx) {
		if (virtio_net_tx_hdr_check(h, payload, f) < 0) {
			fz_stats.tx_refused++;
			return;
		}
		fz_stats.tx_ok++;
		FZ_NEVER(h[0] > VIRTIO_NET_HDR_F_NEEDS_CSUM || h[10] || h[11] ||
			 memcmp(h + 1, before + 1, 9));
		FZ_NEVER(h[0] && (!(f & F(VIRTIO_NET_F_CSUM)) ||
				  ld(h + 6, 2) + ld(h + 8, 2) + 2 > payload));
		FZ_NEVER((type == 1 && !(f & F(VIRTIO_NET_F_HOST_TSO4))) ||
			 (type == 4 && !(f & F(VIRTIO_NET_F_HOST_TSO6))) ||
			 (type != 0 && type != 1 && type != 4) ||
			 (type && (!h[0] || !ld(h + 4, 2))) ||
			 ((h[1] & 0x80) &&
			  (!type || !(f & F(VIRTIO_NET_F_HOST_ECN)))));
	} else {
		if (virtio_net_rx_hdr_fix(h, f) < 0) {
			fz_stats.rx_refused++;
			return;
		}
		fz_stats.rx_ok++;
		FZ_NEVER(h[0] & ~3 ||
			 (!(f & F(VIRTIO_NET_F_GUEST_CSUM)) && h[0]) ||
			 memcmp(h + 2, before + 2, 10));
		FZ_NEVER((type == 1 && !(f & F(VIRTIO_NET_F_GUEST_TSO4))) ||
			 (type == 4 && !(f & F(VIRTIO_NET_F_GUEST_TSO6))) ||
			 (type == 3 && !(f & F(VIRTIO_NET_F_GUEST_UFO))) ||
			 (type != 0 && type != 1 && type != 3 && type != 4) ||
			 (type && !(h[0] & 1)) || (!type && h[1]) ||
			 ((h[1] & 0x80) && !(f & F(VIRTIO_NET_F_GUEST_ECN))));
	}
}


/* --- the userspace datapath (net/uspace.c) ------------------------------
 *
 * A virtio-net device on the userspace backend with its threads (the
 * pair's receive/transmit thread and the control-queue thread), a
 * SOCK_SEQPACKET socketpair for the tap, and a guest driver scripted by
 * the input. Byte 1 picks features (bit 0 MRG_RXBUF, 1 RING_PACKED, 2
 * EVENT_IDX, 3 GUEST_* offloads, 4 HOST_* offloads, 5 the control queue
 * with RX, MAC_ADDR, MQ and GUEST_OFFLOADS, 6 INDIRECT_DESC); byte 2 the
 * receive ring's size (1 << b % 11), byte 3 the transmit ring's (low
 * nibble) and the control ring's (high nibble), 1 << n % 9. Then up to 64
 * ops, op % 8: 0 receive buffers (count, size, 1-3 segments), 1 a packet
 * arrives on the tap (length, 12-byte header), 2 a transmit chain (1-8
 * segments, lengths scaled by 64 or, bit 6, in bytes, header; bit 7 adds
 * a writable segment), 3 a control
 * command (length, bytes), 4-5 let the threads run, 6 take the tap's
 * packets, 7 up to 121 one-byte receive buffers at once: buffers appear
 * while a packet is being scattered (bit 7, split: a hostile guest makes
 * a ring's worth of entries available at once, whatever is in flight, all
 * naming one descriptor). Used entries are taken after every
 * op. Checked: every used entry names a chain in flight with a length
 * within its writable bytes (transmit: 0), every packet on the tap a
 * header and at most the bounce buffer, and no crash or overrun in the
 * threads (ASan). */

#define DP_RAM (8ULL << 20)
#define DP_RING 0x10000ULL	/* queue i's rings at DP_RING + i * 0x8000 */
#define DP_DATA 0x100000ULL	/* buffers from here, reused in a circle */
#define DP_Q 3			/* receiveq1, transmitq1, controlq */
#define DP_MAX_OPS 64

/* The guest's side of one queue, split or packed (the shared fake ring,
 * tests/fake_ring_core.h, with a free list): a well-behaved driver that
 * never offers more descriptors than are free. */
struct dp_q {
	struct fq r;			/* r.sgs: by id, descriptors in flight */
	bool hostile;			/* entries name descriptors in use:
					 * used ones are no longer checked */
	unsigned int free;		/* descriptors not in flight */
	unsigned int nids;		/* split: free descriptors; packed:
					 * free buffer ids */
	uint16_t ids[VIRTQ_MAX_SIZE];
	uint32_t in_bytes[VIRTQ_MAX_SIZE]; /* by id: writable bytes */
};

static struct {
	struct guest_mem mem;
	uint64_t next;			/* bump allocator over DP_DATA.. */
	struct dp_q q[DP_Q];
	int sv[2];			/* [0] the "tap", [1] the world */
	bool ready;
	unsigned long runs, rx_posted, rx_used, tx_sent, tx_seen, ctrl_used,
		tap_sent;
} dp;

static uint8_t *dp_gp(uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&dp.mem, gpa, len ? len : 1);

	FZ_NEVER(!p);
	return p;
}

static uint64_t dp_alloc(uint32_t len)
{
	uint64_t g;

	if (dp.next + len > DP_RAM)
		dp.next = DP_DATA;
	g = dp.next;
	dp.next = (dp.next + len + 15) & ~15ULL;
	return g;
}

static void dp_q_init(struct dp_q *q, unsigned int i, uint16_t num,
		      bool packed)
{
	uint64_t base = DP_RING + i * 0x8000;

	memset(dp_gp(base, 0x8000), 0, 0x8000);
	q->r.desc_gpa = base;
	q->r.drv_gpa = base + 0x4000;
	q->r.dev_gpa = base + 0x5000;
	FZ_NEVER(fq_attach(&q->r, num, packed, dp_gp(q->r.desc_gpa, 16),
			   dp_gp(q->r.drv_gpa, 4), dp_gp(q->r.dev_gpa, 4), 0));
	q->free = num;
	q->hostile = false;
	q->nids = num;
	for (unsigned int k = 0; k < num; k++)
		q->ids[k] = (uint16_t)(num - 1 - k);
	memset(q->in_bytes, 0, sizeof(q->in_bytes));
	fq_fds_drain(&q->r);
}

/* Offers a chain and kicks; false when the ring has no room. */
static bool dp_offer(struct dp_q *q, const struct seg *s, unsigned int n)
{
	uint16_t d[VIRTQ_MAX_SIZE];
	uint32_t in = 0;
	int head;

	if (!n || n > q->free || q->hostile)
		return false;
	q->free -= n;
	for (unsigned int i = 0; i < n; i++)
		in += s[i].write ? s[i].len : 0;
	if (q->r.packed) {
		/* Slots go in ring order; the buffer id is any free one. */
		head = fq_packed(&q->r, s, n, q->ids[--q->nids], 0);
	} else {
		/* Descriptors from the free list, linked in order. */
		for (unsigned int i = 0; i < n; i++)
			d[i] = q->ids[--q->nids];
		head = fq_chain(&q->r, s, n, d);
		if (head >= 0)
			fq_publish(&q->r, (uint16_t)head);
	}
	FZ_NEVER(head < 0 || fq_kick(&q->r));
	q->in_bytes[head] = in;
	return true;
}

/* One used entry, checked against what was offered under its id. */
static bool dp_used(struct dp_q *q, uint32_t *id, uint32_t *len)
{
	struct fq *r = &q->r;

	if (!fq_peek_used(r, id, len, NULL))
		return false;
	if (q->hostile) {
		/* The device still names only heads below the ring size. */
		FZ_NEVER(*id >= r->num);
		fq_next_used(r, *id);
		return true;
	}
	if (*id >= r->num || !r->sgs[*id] || *len > q->in_bytes[*id]) {
		char why[128];

		snprintf(why, sizeof(why),
			 "queue %d: used id %u len %u (last used %u, "
			 "avail %u): %s",
			 (int)(q - dp.q), *id, *len, r->last_used, r->avail_idx,
			 *id >= r->num ? "id past the ring" :
			 !r->sgs[*id]  ? "not in flight" :
					 "more than its writable bytes");
		fz_broken(__FILE__, __LINE__, "bad used entry", why);
	}
	q->free += r->sgs[*id];
	if (r->packed) {
		q->ids[q->nids++] = (uint16_t)*id;
	} else {
		/* The chain's descriptors back on the free list. */
		uint16_t d = (uint16_t)*id;

		for (unsigned int i = 0; i < r->sgs[*id]; i++) {
			q->ids[q->nids++] = d;
			d = r->desc[d].next;
		}
	}
	FZ_NEVER(fq_next_used(r, *id));
	return true;
}

/* Takes every used entry (dp_used checks each against its chain). */
static void dp_reap(void)
{
	uint32_t id, len;

	while (dp_used(&dp.q[0], &id, &len))
		dp.rx_used++;
	while (dp_used(&dp.q[1], &id, &len))
		FZ_NEVER(len);	/* transmit writes nothing */
	while (dp_used(&dp.q[2], &id, &len))
		dp.ctrl_used++;
}

static void dp_settle(void)
{
	struct pollfd p[4] = { { dp.q[0].r.call_fd, POLLIN, 0 },
			       { dp.q[1].r.call_fd, POLLIN, 0 },
			       { dp.q[2].r.call_fd, POLLIN, 0 },
			       { dp.sv[1], POLLIN, 0 } };
	uint64_t v;

	if (poll(p, 4, 1) <= 0)
		return;
	/* Interrupts taken: the counter's value does not matter. */
	for (int i = 0; i < 3; i++)
		if (p[i].revents && read(p[i].fd, &v, 8) != 8)
			v = 0;
}

static void dp_tap_drain(void)
{
	static uint8_t buf[NET_USPACE_BOUNCE + 64];
	ssize_t n;

	while ((n = recv(dp.sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		FZ_NEVER(n < VIRTIO_NET_HDR_LEN || n > NET_USPACE_BOUNCE);
		dp.tx_seen++;
	}
}

static void dp_setup(void)
{
	struct mem_config mc = { .size = DP_RAM, .numa_node = -1 };

	FZ_NEVER(guest_mem_create(&dp.mem, &mc));
	for (int i = 0; i < DP_Q; i++)
		FZ_NEVER(fq_fds_open(&dp.q[i].r));
	dp.next = DP_DATA;
	dp.ready = true;
}

static void dp_run(const uint8_t *data, size_t size)
{
	static struct virtio_net n;
	static struct net_uspace u;
	static uint8_t pkt[65536 + VIRTIO_NET_HDR_LEN];
	struct net_config cfg = { .pairs = 1, .mtu = 1500, .queue_size = 1024,
				  .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
	struct virtio_queue_io io[DP_Q];
	const uint8_t *p = data + 4, *end = data + size;
	atomic_bool broken;
	int err_fd;
	uint64_t f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) |
		     F(VIRTIO_NET_F_STATUS);
	uint8_t sel;

	if (size < 4)
		return;
	sel = data[1];
	if (!dp.ready)
		dp_setup();
	if (sel & 1)
		f |= F(VIRTIO_NET_F_MRG_RXBUF);
	if (sel & 2)
		f |= F(VIRTIO_F_RING_PACKED);
	if (sel & 4)
		f |= F(VIRTIO_F_EVENT_IDX);
	if (sel & 8)
		f |= F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
		     F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN);
	if (sel & 16)
		f |= F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
		     F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN);
	if (sel & 32)
		f |= F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
		     F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_MQ) |
		     F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
	if (sel & 64)
		f |= F(VIRTIO_F_INDIRECT_DESC);
	FZ_NEVER(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, dp.sv));
	err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&broken, false);
	FZ_NEVER(err_fd < 0 ||
		 net_uspace_create(&u, "virtio-net-fuzz", dp.sv, 1) ||
		 virtio_net_create(&n, "virtio-net-fuzz", &cfg, &dp.mem,
				   &net_uspace_ops, &u));
	net_uspace_set_bus(&u, (struct virtio_bus){ &broken, err_fd });
	virtio_net_set_bus(&n, (struct virtio_bus){ &broken, err_fd });
	f &= virtio_net_ops.features(&n);
	/* Ring sizes: receive 1 << (b % 11), transmit and control 1 << (b'
	 * % 9); the control queue only when negotiated. */
	dp_q_init(&dp.q[0], 0, (uint16_t)(1u << (data[2] % 11)), sel & 2);
	dp_q_init(&dp.q[1], 1, (uint16_t)(1u << (data[3] % 9)), sel & 2);
	dp_q_init(&dp.q[2], 2, (uint16_t)(1u << (data[3] >> 4) % 9), sel & 2);
	for (int i = 0; i < DP_Q; i++)
		io[i] = fq_io(&dp.q[i].r);
	io[2].enabled = f & F(VIRTIO_NET_F_CTRL_VQ);
	dp.runs++;
	if (virtio_net_ops.start(&n, f, io, DP_Q))
		goto out;
	for (int op = 0; op < DP_MAX_OPS && p < end; op++) {
		uint8_t o = *p++;
		size_t left = (size_t)(end - p);

		switch (o % 8) {
		case 0: {
			/* Receive buffers: count, size (up to 4 KiB), each
			 * in 1-3 segments, the first at least a header. */
			uint32_t cnt, len;
			unsigned int nseg;

			if (left < 3)
				goto stop;
			cnt = 1 + p[0] % 32;
			nseg = 1 + (p[0] >> 5) % 3;
			len = (uint32_t)(p[1] | p[2] << 8) % 4097;
			p += 3;
			for (uint32_t i = 0; i < cnt; i++) {
				struct seg s[3];

				for (unsigned int k = 0; k < nseg; k++) {
					uint32_t l = k + 1 < nseg ? len / nseg
								  : len - (nseg - 1) * (len / nseg);

					s[k] = (struct seg){ dp_alloc(l), l, true };
				}
				if (!dp_offer(&dp.q[0], s, nseg))
					break;
				dp.rx_posted++;
			}
			break;
		}
		case 1: {
			/* A packet from the tap: length, then the header. */
			size_t len;

			if (left < 2 + VIRTIO_NET_HDR_LEN)
				goto stop;
			len = (size_t)(p[0] | p[1] << 8);
			memcpy(pkt, p + 2, VIRTIO_NET_HDR_LEN);
			memset(pkt + VIRTIO_NET_HDR_LEN, o, len);
			p += 2 + VIRTIO_NET_HDR_LEN;
			if (send(dp.sv[1], pkt, VIRTIO_NET_HDR_LEN + len,
				 MSG_DONTWAIT) > 0)
				dp.tap_sent++;
			break;
		}
		case 2: {
			/* A transmit chain: segments (1 + o/8 % 8), each a
			 * length byte, the header first from the input;
			 * bit 7: one writable segment too. */
			struct seg s[9];
			unsigned int nseg = 1 + (o >> 3) % 8, k;
			size_t at = 0;

			if (left < nseg + VIRTIO_NET_HDR_LEN)
				goto stop;
			for (k = 0; k < nseg; k++) {
				/* Bit 6: lengths in bytes, headers cut short. */
				uint32_t l = o & 0x40 ? p[k] :
					     (uint32_t)p[k] * 64 + (k ? 0 : 12);

				s[k] = (struct seg){ dp_alloc(l), l, false };
				memset(dp_gp(s[k].gpa, l), 0x33, l);
			}
			for (k = 0; k < nseg && at < VIRTIO_NET_HDR_LEN; k++) {
				size_t c = s[k].len < VIRTIO_NET_HDR_LEN - at ?
						   s[k].len : VIRTIO_NET_HDR_LEN - at;

				memcpy(dp_gp(s[k].gpa, c), p + nseg + at, c);
				at += c;
			}
			p += nseg + VIRTIO_NET_HDR_LEN;
			if (o & 0x80)
				s[nseg++] = (struct seg){ dp_alloc(64), 64, true };
			if (dp_offer(&dp.q[1], s, nseg))
				dp.tx_sent++;
			break;
		}
		case 3: {
			/* A control command: length, bytes, a 1-byte ack. */
			struct seg s[2];
			size_t len;

			if (left < 1 || !io[2].enabled)
				goto stop;
			len = p[0];
			if (len > left - 1)
				len = left - 1;
			s[0] = (struct seg){ dp_alloc((uint32_t)len),
						(uint32_t)len, false };
			memcpy(dp_gp(s[0].gpa, len), p + 1, len);
			s[1] = (struct seg){ dp_alloc(1), 1, true };
			p += 1 + len;
			dp_offer(&dp.q[2], s, 2);
			break;
		}
		case 4:
		case 5:
			dp_settle();
			break;
		case 6:
			dp_reap();
			dp_tap_drain();
			break;
		case 7: {
			/* Many 1-byte receive buffers at once (the guest
			 * that posts while a packet is scattered). Bit 7,
			 * split rings: a hostile guest's, every available
			 * entry naming the same descriptor, as many as the
			 * ring takes. */
			unsigned int cnt = 1 + ((o >> 3) & 15) * 8;
			struct dp_q *q = &dp.q[0];

			if ((o & 0x80) && !q->r.packed && q->nids) {
				uint16_t d = q->ids[q->nids - 1];
				/* A full ring's worth, whatever is still in
				 * flight, made available at once. */
				uint16_t room = q->r.num;

				fq_put_desc(q->r.desc, d, dp_alloc(1), 1,
					    VIRTQ_DESC_F_WRITE, 0);
				for (uint16_t i = 0; i < room; i++)
					fq_avail_put(&q->r, d);
				fq_avail_flush(&q->r);
				q->hostile = true;
				dp.rx_posted += room;
				FZ_NEVER(fq_kick(&q->r));
				break;
			}
			for (unsigned int i = 0; i < cnt; i++) {
				struct seg s = { dp_alloc(1), 1, true };

				if (!dp_offer(q, &s, 1))
					break;
				dp.rx_posted++;
			}
			break;
		}
		}
		dp_reap();
	}
stop:
	dp_settle();
	virtio_net_ops.stop(&n);
	dp_reap();
	dp_tap_drain();
out:
	virtio_net_destroy(&n);
	net_uspace_destroy(&u);
	close(dp.sv[0]);
	close(dp.sv[1]);
	close(err_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		dp_run(data, size);
		return 0;
	}
	switch (data[0] % 3) {
	case 0:
		fz_ctrl(data, size);
		break;
	case 1:
		fz_hdr(true, data, size);
		break;
	default:
		fz_hdr(false, data, size);
		break;
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_vnet: %u inputs ran clean (%lu commands: %lu ok, "
		"%lu err, %lu without an ack byte; tx headers %lu passed, %lu "
		"refused; rx headers %lu passed, %lu refused)\n", runs,
		fz_stats.cmds, fz_stats.ok, fz_stats.err, fz_stats.no_ack,
		fz_stats.tx_ok, fz_stats.tx_refused, fz_stats.rx_ok,
		fz_stats.rx_refused);
	fprintf(stderr, "fuzz_vnet: datapath: %lu runs, %lu receive buffers "
		"posted, %lu used, %lu packets from the tap, %lu transmit "
		"chains, %lu reached the tap, %lu control commands used\n",
		dp.runs, dp.rx_posted, dp.rx_used, dp.tap_sent, dp.tx_sent,
		dp.tx_seen, dp.ctrl_used);
}
#include "replay.h"
#endif
