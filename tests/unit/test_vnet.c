/* virtio-net: feature negotiation (the device's own bits as far as the
 * backend serves them, prerequisites dropped), config space, every control
 * command well and badly formed, and the control thread (acks, DEVICE_
 * NEEDS_RESET on a command without an ack byte, the control queue's index
 * with and without MQ), against a fake backend. The userspace datapath is
 * test_uspace.c's. */
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
	guest_mem_destroy(&mem);
	return check_done("test_vnet");
}
