/* The userspace virtio-net datapath (net/uspace.c) end to end: the fake
 * driver (fake_ring.h) lays out split or packed rings in guest RAM, a
 * SOCK_SEQPACKET socketpair stands in for the tap (one record per packet,
 * header included); then the device and datapath together, and a real tap
 * in a network namespace of its own. */
#include "net/uspace.h"
#include "virtio/net.h"
#include "virtio/queue.h"

#include "check.h"
#include "vnet_env.h"

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
		fprintf(stderr, "test_uspace: real tap: skipped (no "
			"/dev/net/tun or network namespace here)\n");
	else if (WEXITSTATUS(status))
		CHECK_FAIL_AT(__FILE__, __LINE__, "real tap: failures above");
}


int main(void)
{
	struct mem_config mc = { .size = RAM_SIZE, .numa_node = -1 };

	if (guest_mem_create(&mem, &mc))
		return CHECK_EXIT_SKIP;
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
	return check_done("test_uspace");
}
