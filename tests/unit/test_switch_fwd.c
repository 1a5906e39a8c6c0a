/* tern-switch's forwarding decisions (net/switch/fwd.c: sw_fwd) on mbufs
 * built here, through test ports that record what they were given:
 * learning, flooding of unknown and broadcast destinations within a VLAN,
 * unicast to learned ports, moves, local filtering, the drop causes
 * (runt, oversize, malformed, vlan, tx_full, down) and their counters,
 * and that every mbuf (flooded chains included) goes back to its pool.
 * Needs the EAL (in memory, no hugepages): exit 77 if it will not start. */
#include "net/switch/sw.h"
#include "tests/unit/check.h"

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <stdalign.h>

#define NPORTS 5
#define POOL 1023

struct test_port {
	struct sw_port p;
	int sent_max;		/* -1: all; else at most this many per call */
	bool down;
	int got;		/* frames recorded */
	uint8_t frame[64][64];	/* first bytes of each */
	uint32_t len[64];
};

static struct rte_mempool *mp;
static struct sw sw;
static struct sw_conf conf;
static struct sw_lcore *lc;
static struct test_port *tp[NPORTS];

static uint16_t test_rx(struct sw_port *p, uint16_t q, struct rte_mempool *m,
			struct rte_mbuf **pkts, uint16_t n)
{
	return 0;
}

static int test_tx(struct sw_port *p, unsigned int w, struct rte_mbuf **pkts,
		   uint16_t n, uint16_t *txq)
{
	struct test_port *t = (struct test_port *)p;
	int sent = t->sent_max < 0 || t->sent_max > n ? n : t->sent_max;

	*txq = 0;
	if (t->down) {
		rte_pktmbuf_free_bulk(pkts, n);
		return -ENOTCONN;
	}
	for (int i = 0; i < sent; i++) {
		if (t->got < 64) {
			uint32_t k = RTE_MIN(pkts[i]->pkt_len, 64u);
			const void *d = rte_pktmbuf_read(pkts[i], 0, k,
							 t->frame[t->got]);

			if (d != t->frame[t->got])
				memcpy(t->frame[t->got], d, k);
			t->len[t->got] = pkts[i]->pkt_len;
		}
		t->got++;
	}
	rte_pktmbuf_free_bulk(pkts, n);
	return sent;
}

static const struct sw_port_ops test_ops = { .rx = test_rx, .tx = test_tx };

static const uint8_t A[6] = { 0x02, 0, 0, 0, 0, 0xa };
static const uint8_t B[6] = { 0x02, 0, 0, 0, 0, 0xb };
static const uint8_t C[6] = { 0x02, 0, 0, 0, 0, 0xc };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t ZERO[6] = { 0 };
static const uint8_t MCAST[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

/* A frame DST <- SRC of LEN bytes, ETHERTYPE, byte 14 on = SEQ. With
 * SEGS = 2 the payload's second half is a chained segment. */
static struct rte_mbuf *frame(const uint8_t *dst, const uint8_t *src,
			      uint16_t type, uint32_t len, uint8_t seq,
			      int segs)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp), *tail;
	uint32_t first = segs == 2 ? len / 2 : len;
	uint8_t *d;

	if (!m)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)first);
	if (!d)
		return NULL;
	memset(d, seq, first);
	if (first >= 6)
		memcpy(d, dst, 6);
	if (first >= 12)
		memcpy(d + 6, src, 6);
	if (first >= 14) {
		d[12] = (uint8_t)(type >> 8);
		d[13] = (uint8_t)type;
	}
	if (segs == 2) {
		tail = rte_pktmbuf_alloc(mp);
		d = (uint8_t *)rte_pktmbuf_append(tail, (uint16_t)(len - first));
		memset(d, seq, len - first);
		if (rte_pktmbuf_chain(m, tail))
			return NULL;
	}
	return m;
}

static void reset_got(void)
{
	for (int i = 0; i < NPORTS; i++)
		tp[i]->got = 0;
}

/* Sends one frame in from port IN. */
static void in1(int in, struct rte_mbuf *m)
{
	CHECK(m != NULL);
	if (m)
		sw_fwd(&sw, lc, &conf, &tp[in]->p, 0, &m, 1);
}

static uint64_t rxdrop(int port, enum sw_drop d)
{
	return tp[port]->p.rxc[0].drops[d];
}

static uint64_t txdrop(int port, enum sw_drop d)
{
	return tp[port]->p.txc[0][0].drops[d];
}

/* Who got something since reset_got(), as a bit per port. */
static unsigned int receivers(void)
{
	unsigned int bits = 0;

	for (int i = 0; i < NPORTS; i++)
		if (tp[i]->got)
			bits |= 1U << i;
	return bits;
}

static void rebuild_conf(void)
{
	memset(&conf, 0, sizeof(conf));
	for (int i = 0; i < NPORTS; i++)
		conf.port[i] = &tp[i]->p;
	for (int i = 0; i < NPORTS; i++)
		for (int j = 0; j < NPORTS; j++)
			if (i != j && tp[j]->p.spec.vlan == tp[i]->p.spec.vlan)
				conf.flood[i][conf.nflood[i]++] = (uint8_t)j;
}

static int setup(void)
{
	char *argv[] = { "test_switch_fwd", "--no-huge", "-m", "64",
			 "--no-pci", "--no-shconf", "--log-level=error",
			 "-l", "0", NULL };

	if (rte_eal_init(9, argv) < 0)
		return -1;
	mp = rte_pktmbuf_pool_create("test", POOL, 0, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!mp)
		return -1;
	sw_default_options(&sw.opt);
	sw.nworkers = 1;
	CHECK_EQ(mt_init(&sw.mt, 1024, 300, 0x5eed, NULL), 0);
	sw.now = 1;
	lc = aligned_alloc(64, sizeof(*lc));
	memset(lc, 0, sizeof(*lc));
	lc->sw = &sw;
	lc->mp = mp;
	for (int i = 0; i < NPORTS; i++) {
		size_t sz = (sizeof(struct test_port) + 63) & ~(size_t)63;

		tp[i] = aligned_alloc(64, sz);
		memset(tp[i], 0, sz);
		tp[i]->p.idx = (uint16_t)i;
		tp[i]->p.ops = &test_ops;
		tp[i]->p.spec.type = SW_PORT_TEST;
		snprintf(tp[i]->p.spec.name, sizeof(tp[i]->p.spec.name),
			 "t%d", i);
		tp[i]->p.txc = aligned_alloc(64, sizeof(*tp[i]->p.txc));
		memset(tp[i]->p.txc, 0, sizeof(*tp[i]->p.txc));
		tp[i]->sent_max = -1;
	}
	/* Ports 0-2 untagged, 3 and 4 access ports of VLAN 10. */
	tp[3]->p.spec.vlan = 10;
	tp[4]->p.spec.vlan = 10;
	rebuild_conf();
	return 0;
}

static void test_learn_flood_unicast(void)
{
	/* A (port 0) to unknown B: flooded to 1 and 2, not to VLAN 10. */
	reset_got();
	in1(0, frame(B, A, 0x0800, 60, 1, 1));
	CHECK_EQ(receivers(), 0x6);
	CHECK_MEM(tp[1]->frame[0], B, 6);
	CHECK_EQ(tp[1]->len[0], 60);
	CHECK_EQ(mt_lookup(&sw.mt, mt_key(A, 0), 1, false), 0);
	/* B (port 1) answers A: unicast to 0 only; B learned on 1. */
	reset_got();
	in1(1, frame(A, B, 0x0800, 60, 2, 1));
	CHECK_EQ(receivers(), 0x1);
	CHECK_EQ(tp[0]->frame[0][14], 2);
	CHECK_EQ(mt_lookup(&sw.mt, mt_key(B, 0), 1, false), 1);
	/* A to B now goes to 1 only. */
	reset_got();
	in1(0, frame(B, A, 0x0800, 100, 3, 1));
	CHECK_EQ(receivers(), 0x2);
	/* Broadcast and multicast from C (port 2): every other untagged. */
	reset_got();
	in1(2, frame(BCAST, C, 0x0806, 42, 4, 1));
	CHECK_EQ(receivers(), 0x3);
	CHECK_EQ(tp[0]->len[0], 42);	/* short frames are fine */
	reset_got();
	in1(2, frame(MCAST, C, 0x0800, 60, 5, 1));
	CHECK_EQ(receivers(), 0x3);
	/* To A from port 0 itself: filtered (local). */
	reset_got();
	in1(0, frame(A, C, 0x0800, 60, 6, 1));
	CHECK_EQ(receivers(), 0);
	CHECK_EQ(rxdrop(0, SW_DROP_LOCAL), 1);
	/* ...and C moved to port 0 by that frame. */
	CHECK_EQ(mt_lookup(&sw.mt, mt_key(C, 0), 1, false), 0);
	reset_got();
	in1(1, frame(C, B, 0x0800, 60, 7, 1));
	CHECK_EQ(receivers(), 0x1);
}

static void test_vlans(void)
{
	/* VLAN 10: A also lives there, on port 4; VLAN 0's A stays on 0. */
	reset_got();
	in1(4, frame(BCAST, A, 0x0800, 60, 8, 1));
	CHECK_EQ(receivers(), 0x8);
	CHECK_EQ(mt_lookup(&sw.mt, mt_key(A, 10), 1, false), 4);
	CHECK_EQ(mt_lookup(&sw.mt, mt_key(A, 0), 1, false), 0);
	reset_got();
	in1(3, frame(A, B, 0x0800, 60, 9, 1));
	CHECK_EQ(receivers(), 0x10);
	/* B is known in VLAN 0 (port 1), not in 10: flooded within 10. */
	reset_got();
	in1(4, frame(B, A, 0x0800, 60, 10, 1));
	CHECK_EQ(receivers(), 0x8);
	/* A tagged frame from an access port is dropped. */
	reset_got();
	in1(3, frame(A, B, 0x8100, 64, 11, 1));
	CHECK_EQ(receivers(), 0);
	CHECK_EQ(rxdrop(3, SW_DROP_VLAN), 1);
	/* On an untagged port a tag is payload, and buys 4 bytes. */
	reset_got();
	in1(1, frame(A, B, 0x8100, 1518, 12, 1));
	CHECK_EQ(receivers(), 0x1);
	reset_got();
	in1(1, frame(A, B, 0x8100, 1519, 13, 1));
	CHECK_EQ(receivers(), 0);
	CHECK_EQ(rxdrop(1, SW_DROP_OVERSIZE), 1);
}

static void test_bad_frames(void)
{
	uint64_t before = tp[2]->p.rxc[0].pkts;

	reset_got();
	in1(2, frame(A, C, 0x0800, 13, 20, 1));
	CHECK_EQ(rxdrop(2, SW_DROP_RUNT), 1);
	in1(2, frame(A, C, 0x8100, 16, 21, 1));	/* a tag claimed, cut */
	CHECK_EQ(rxdrop(2, SW_DROP_RUNT), 2);
	in1(2, frame(A, C, 0x0800, 1515, 22, 1));
	CHECK_EQ(rxdrop(2, SW_DROP_OVERSIZE), 1);
	in1(2, frame(A, BCAST, 0x0800, 60, 23, 1));
	CHECK_EQ(rxdrop(2, SW_DROP_MALFORMED), 1);
	in1(2, frame(A, ZERO, 0x0800, 60, 24, 1));
	CHECK_EQ(rxdrop(2, SW_DROP_MALFORMED), 2);
	/* A header split over two segments. */
	in1(2, frame(A, C, 0x0800, 20, 25, 2));
	CHECK_EQ(rxdrop(2, SW_DROP_MALFORMED), 3);
	CHECK_EQ(receivers(), 0);
	/* Counted as received all the same, and nothing learned from them. */
	CHECK_EQ(tp[2]->p.rxc[0].pkts, before + 6);
	CHECK_EQ(mt_lookup(&sw.mt, mt_key(BCAST, 0), 1, false), -1);
	/* 1514 bytes: the largest untagged frame at MTU 1500. */
	in1(2, frame(A, C, 0x0800, 1514, 26, 1));
	CHECK_EQ(receivers(), 0x1);
}

static void test_tx_full_and_down(void)
{
	struct rte_mbuf *m[8];
	uint64_t pk0 = tp[0]->p.txc[0][0].pkts, by0 = tp[0]->p.txc[0][0].bytes;

	/* Port 0 takes 3 of a burst of 8: 5 counted as tx_full. */
	tp[0]->sent_max = 3;
	reset_got();
	for (int i = 0; i < 8; i++)
		m[i] = frame(A, B, 0x0800, 100, (uint8_t)(30 + i), 1);
	sw_fwd(&sw, lc, &conf, &tp[1]->p, 0, m, 8);
	CHECK_EQ(tp[0]->got, 3);
	CHECK_EQ(tp[0]->frame[2][14], 32);	/* in order */
	CHECK_EQ(txdrop(0, SW_DROP_TX_FULL), 5);
	CHECK_EQ(tp[0]->p.txc[0][0].pkts, pk0 + 3);
	CHECK_EQ(tp[0]->p.txc[0][0].bytes, by0 + 300);
	tp[0]->sent_max = -1;
	/* Port 2 has no peer: a flood counts `down` there, reaches 0. */
	tp[2]->down = true;
	reset_got();
	in1(1, frame(BCAST, B, 0x0800, 60, 40, 1));
	CHECK_EQ(receivers(), 0x1);
	CHECK_EQ(txdrop(2, SW_DROP_DOWN), 1);
	tp[2]->down = false;
}

static void test_chains_and_gone_ports(void)
{
	/* A chained frame flooded to two ports: both get all of it. */
	reset_got();
	in1(0, frame(BCAST, A, 0x0800, 400, 50, 2));
	CHECK_EQ(receivers(), 0x6);
	CHECK_EQ(tp[1]->len[0], 400);
	CHECK_EQ(tp[2]->len[0], 400);
	CHECK_EQ(tp[2]->frame[0][63], 50);
	/* B's port leaves the configuration (as during a removal): frames
	 * for B flood instead of going to a port that is not there. */
	conf.port[1] = NULL;
	conf.nflood[0] = 1;
	conf.flood[0][0] = 2;
	reset_got();
	in1(0, frame(B, A, 0x0800, 60, 51, 1));
	CHECK_EQ(receivers(), 0x4);
	rebuild_conf();
	/* Alone in its VLAN, a port's unknown frames go nowhere: local. */
	tp[4]->p.spec.vlan = 20;
	rebuild_conf();
	reset_got();
	in1(3, frame(BCAST, C, 0x0800, 60, 52, 1));
	CHECK_EQ(receivers(), 0);
	CHECK_EQ(rxdrop(3, SW_DROP_LOCAL), 1);
	tp[4]->p.spec.vlan = 10;
	rebuild_conf();
}

static void test_big_burst(void)
{
	struct rte_mbuf *m[SW_MAX_BURST];

	/* A full burst of broadcasts: every frame to both other ports. */
	reset_got();
	for (int i = 0; i < SW_MAX_BURST; i++)
		m[i] = frame(BCAST, C, 0x0800, 60, (uint8_t)i, 1);
	sw_fwd(&sw, lc, &conf, &tp[2]->p, 0, m, SW_MAX_BURST);
	CHECK_EQ(tp[0]->got, SW_MAX_BURST);
	CHECK_EQ(tp[1]->got, SW_MAX_BURST);
	CHECK_EQ(tp[0]->frame[SW_MAX_BURST - 1][14], SW_MAX_BURST - 1);
}

int main(void)
{
	if (setup()) {
		fprintf(stderr, "test_switch_fwd: the EAL would not start\n");
		return CHECK_EXIT_SKIP;
	}
	test_learn_flood_unicast();
	test_vlans();
	test_bad_frames();
	test_tx_full_and_down();
	test_chains_and_gone_ports();
	test_big_burst();
	/* Every mbuf came back: flooded references and chains included. */
	CHECK_EQ(rte_mempool_avail_count(mp), POOL);
	mt_destroy(&sw.mt);
	rte_eal_cleanup();
	return check_done("test_switch_fwd");
}
