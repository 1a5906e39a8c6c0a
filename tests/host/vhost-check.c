/* vhost-check: vhost/kernel.c against the kernel's vhost-net, without KVM.
 * Run inside the test host (tests/host/run -- build/tests/host/vhost-check),
 * as root: a tiny fake driver lays out split rings (256 entries) in a
 * 16 MiB fake guest RAM, plain eventfds stand in for the ioeventfd and
 * irqfd, and frames are checked on an AF_PACKET socket bound to the tap:
 *   - a TX buffer (12-byte header + frame) kicked into the ring leaves
 *     through the tap;
 *   - a frame sent into the tap lands in an RX buffer, header and all,
 *     and the call eventfd fires;
 *   - after stop() vhost leaves the rings alone; start() again works;
 *   - bad rings are refused and leave nothing behind;
 *   - dirty logging marks the pages vhost wrote;
 *   - with 2 pairs and MQ only pair 0 runs until set_pairs(2), and
 *     set_pairs(1) detaches pair 1 again (its tap queue too).
 * Prints one line per check; exits 0 pass, 1 fail, 77 no /dev/vhost-net. */
#include "tests/unit/frames.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/memory.h"
#include "net/tap.h"
#include "vhost/kernel.h"
#include "virtio/queue.h"
#include "tests/unit/check.h"

#define RAM (16ULL << 20)
#define NUM 256
#define RING_GPA(qi) (0x100000ULL + (qi) * 0x10000ULL)
#define BUF_GPA(qi) (0x400000ULL + (qi) * 0x80000ULL)
#define BUF_LEN 2048
#define HDR TAP_VNET_HDR_LEN
#define WAIT_MS 5000		/* TCG is slow */
#define QUIET_MS 500		/* "nothing happens" */

#define F(b) (1ULL << (b))
#define MRG_RXBUF 15
#define MQ 22

/* The fake driver's side of one split queue. */
struct fq {
	uint16_t num, avail_idx, last_used;
	unsigned int qi;
	uint64_t desc_gpa, avail_gpa, used_gpa, buf_gpa;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	int kick, call;
};

struct rig {
	const char *ifname;
	struct guest_mem mem;
	struct tap tap;
	struct vhost_net v;
	unsigned int npairs;
	struct fq q[4];			/* rx0 tx0 rx1 tx1 */
	struct net_pair_io io[2];
	int ps;				/* AF_PACKET on the tap */
	uint64_t features;
	enum { RIG_NONE, RIG_MEM, RIG_TAP, RIG_VHOST, RIG_RINGS } stage;
};

static void step(const char *what, bool ok)
{
	printf("%s %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	if (!ok)
		check_failures++;
}

static void *gp(struct rig *r, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&r->mem, gpa, len);

	if (!p)
		abort();
	return p;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* --- fake driver -------------------------------------------------------- */

static void fq_reset(struct rig *r, struct fq *q)
{
	memset(q->desc, 0, 16 * NUM);
	memset(q->avail, 0, 6 + 2 * NUM);
	memset(q->used, 0, 6 + 8 * NUM);
	q->avail_idx = q->last_used = 0;
}

static void fq_init(struct rig *r, struct fq *q, unsigned int qi)
{
	q->qi = qi;
	q->num = NUM;
	q->desc_gpa = RING_GPA(qi);
	q->avail_gpa = RING_GPA(qi) + 0x1000;
	q->used_gpa = RING_GPA(qi) + 0x2000;
	q->buf_gpa = BUF_GPA(qi);
	q->desc = gp(r, q->desc_gpa, 16 * NUM);
	q->avail = gp(r, q->avail_gpa, 6 + 2 * NUM);
	q->used = gp(r, q->used_gpa, 6 + 8 * NUM);
	q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fq_reset(r, q);
}

static void fq_io(const struct fq *q, struct virtio_queue_io *io)
{
	*io = (struct virtio_queue_io){
		.enabled = true, .size = q->num, .desc = q->desc_gpa,
		.driver = q->avail_gpa, .device = q->used_gpa,
		.kick_fd = q->kick, .call_fd = q->call };
}

/* Buffer n of the queue: one descriptor, one avail entry. */
static void fq_add(struct fq *q, uint16_t n, uint32_t len, bool writable)
{
	uint16_t slot = q->avail_idx % q->num;

	q->desc[slot] = (struct virtq_desc){
		.addr = htole64(q->buf_gpa + (uint64_t)n * BUF_LEN),
		.len = htole32(len),
		.flags = htole16(writable ? VIRTQ_DESC_F_WRITE : 0) };
	q->avail->ring[slot] = htole16(slot);
	q->avail_idx++;
	/* Pairs with vhost's read barrier after it loads avail->idx: the
	 * descriptor and ring entry are visible before the new index. */
	__atomic_store_n(&q->avail->idx, htole16(q->avail_idx),
			 __ATOMIC_RELEASE);
}

static void fq_kick(struct fq *q)
{
	uint64_t one = 1;

	if (write(q->kick, &one, sizeof(one)) != sizeof(one))
		abort();
}

static uint16_t fq_used_idx(const struct fq *q)
{
	/* Pairs with vhost's write barrier before it updates used->idx. */
	return le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
}

/* Waits until used->idx moves past last_used (or the time is up). */
static bool fq_wait_used(const struct fq *q, long ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (fq_used_idx(q) == q->last_used) {
		if (ms_since(&t0) >= ms)
			return false;
		usleep(1000);
	}
	return true;
}

/* Reads the call eventfd: was an interrupt raised (within ms)? */
static bool fq_called(const struct fq *q, long ms)
{
	struct pollfd p = { .fd = q->call, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, (int)ms) != 1)
		return false;
	return read(q->call, &n, sizeof(n)) == sizeof(n) && n > 0;
}

static void fq_post_rx(struct fq *q, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++)
		fq_add(q, (uint16_t)i, BUF_LEN, true);
}

/* --- frames ------------------------------------------------------------- */


static void packet_send(struct rig *r, uint8_t src_last, const char *marker)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = (int)if_nametoindex(r->tap.name),
		.sll_halen = ETH_ALEN,
	};
	uint8_t f[64];
	size_t len = make_frame(f, src_last, marker);

	memset(sll.sll_addr, 0xff, ETH_ALEN);
	if (sendto(r->ps, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) !=
	    (ssize_t)len)
		perror("sendto");
}

/* A frame with `marker` seen on the packet socket within ms? */
static bool packet_seen(struct rig *r, const char *marker, long ms)
{
	struct timespec t0;
	uint8_t buf[2048];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < ms) {
		struct pollfd p = { .fd = r->ps, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) != 1)
			continue;
		while ((n = recv(r->ps, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			if (is_frame(buf, (size_t)n, marker))
				return true;
	}
	return false;
}

/* Transmit: header + frame in buffer n of the tx queue, kick. */
static void tx_frame(struct rig *r, struct fq *tx, uint16_t n,
		     uint8_t src_last, const char *marker)
{
	uint8_t *b = gp(r, tx->buf_gpa + (uint64_t)n * BUF_LEN, BUF_LEN);
	size_t len;

	memset(b, 0, HDR);	/* no offload asked */
	len = make_frame(b + HDR, src_last, marker);
	fq_add(tx, n, (uint32_t)(HDR + len), false);
	fq_kick(tx);
}

/* Looks through the rx queue's new used entries for `marker`; checks the
 * header and length of the one found. Consumes what it looked at. */
static int rx_find(struct rig *r, struct fq *rx, const char *marker,
		   bool check_hdr)
{
	uint16_t end = fq_used_idx(rx);
	int found = 0;

	for (; rx->last_used != end; rx->last_used++) {
		struct virtq_used_elem e = rx->used->ring[rx->last_used % NUM];
		uint32_t id = le32toh(e.id), len = le32toh(e.len);
		uint64_t gpa = le64toh(rx->desc[id % NUM].addr);
		uint8_t *b = gp(r, gpa, BUF_LEN);

		if (len < HDR || !is_frame(b + HDR, len - HDR, marker))
			continue;
		found++;
		if (check_hdr) {
			uint16_t nbuf = (uint16_t)(b[10] | b[11] << 8);

			CHECK_EQ(len, HDR + sizeof(struct ether_header) + 46);
			CHECK_EQ(b[0], 0);		/* flags */
			CHECK_EQ(b[1], 0);		/* gso_type NONE */
			CHECK_EQ(nbuf, 1);		/* num_buffers */
		}
	}
	return found;
}

/* Waits until `want` frames with marker prefix arrived over the given rx
 * queues; returns how many each got. */
static int rx_wait(struct rig *r, struct fq **rxs, int nrx, const char *marker,
		   bool check_hdr, int want, int *got)
{
	struct timespec t0;
	int total = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nrx; i++)
		got[i] = 0;
	while (total < want && ms_since(&t0) < WAIT_MS) {
		for (int i = 0; i < nrx; i++) {
			int n = rx_find(r, rxs[i], marker, check_hdr);

			got[i] += n;
			total += n;
		}
		if (total < want)
			usleep(2000);
	}
	return total;
}

/* --- rigs --------------------------------------------------------------- */

/* 0, 77 (no vhost-net) or 1. */
static int rig_open(struct rig *r, const char *ifname, unsigned int npairs)
{
	struct mem_config mc = { .size = RAM, .numa_node = -1 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int ret;

	memset(r, 0, sizeof(*r));
	r->ifname = ifname;
	r->npairs = npairs;
	r->ps = -1;
	if (guest_mem_create(&r->mem, &mc))
		return 1;
	r->stage = RIG_MEM;
	if (tap_open(&r->tap, ifname, npairs))
		return 1;
	r->stage = RIG_TAP;
	no_ipv6(ifname);
	if (tap_set_up(&r->tap, true))
		return 1;
	ret = vhost_net_create(&r->v, "virtio-net0", &r->tap);
	if (ret == -ENOENT)
		return CHECK_EXIT_SKIP;
	if (ret)
		return 1;
	r->stage = RIG_VHOST;
	for (unsigned int i = 0; i < 2 * npairs; i++)
		fq_init(r, &r->q[i], i);
	r->stage = RIG_RINGS;
	for (unsigned int i = 0; i < npairs; i++) {
		fq_io(&r->q[2 * i], &r->io[i].rx);
		fq_io(&r->q[2 * i + 1], &r->io[i].tx);
	}
	r->ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (r->ps < 0 || bind(r->ps, (struct sockaddr *)&sll, sizeof(sll))) {
		perror("AF_PACKET");
		return 1;
	}
	return 0;
}

static void rig_close(struct rig *r)
{
	if (r->ps >= 0)
		close(r->ps);
	if (r->stage >= RIG_RINGS)
		for (unsigned int i = 0; i < 2 * r->npairs; i++) {
			close(r->q[i].kick);
			close(r->q[i].call);
		}
	if (r->stage >= RIG_VHOST)
		vhost_net_destroy(&r->v);
	if (r->stage >= RIG_TAP)
		tap_close(&r->tap);
	if (r->stage >= RIG_MEM)
		guest_mem_destroy(&r->mem);
	r->stage = RIG_NONE;
}

static bool err_fds_quiet(struct rig *r)
{
	for (unsigned int i = 0; i < r->npairs; i++)
		for (int t = 0; t < 2; t++) {
			struct pollfd p = { .fd = r->v.pairs[i].err_fd[t],
					    .events = POLLIN };

			if (poll(&p, 1, 0) != 0)
				return false;
		}
	return true;
}

/* TX and RX through pair 0; `tag` keeps the runs apart. */
static void traffic_pair0(struct rig *r, const char *tag)
{
	struct fq *rx = &r->q[0], *tx = &r->q[1];
	char what[96], marker[32];
	int got;

	snprintf(marker, sizeof(marker), "tx-%s", tag);
	tx_frame(r, tx, 0, 1, marker);
	snprintf(what, sizeof(what), "%s: TX buffer leaves through the tap",
		 tag);
	step(what, packet_seen(r, marker, WAIT_MS));
	snprintf(what, sizeof(what), "%s: TX buffer used and interrupt sent",
		 tag);
	step(what, fq_wait_used(tx, WAIT_MS) && fq_called(tx, WAIT_MS));
	tx->last_used = fq_used_idx(tx);

	snprintf(marker, sizeof(marker), "rx-%s", tag);
	packet_send(r, 2, marker);
	snprintf(what, sizeof(what), "%s: RX interrupt", tag);
	step(what, fq_called(rx, WAIT_MS));
	snprintf(what, sizeof(what), "%s: frame in an RX buffer with its "
		 "12-byte header", tag);
	{
		struct fq *rxs[1] = { rx };
		int before = check_failures;

		rx_wait(r, rxs, 1, marker, true, 1, &got);
		step(what, got == 1 && check_failures == before);
	}
}

static void check_single(void)
{
	struct fq *rx, *tx;
	struct rig r;
	uint64_t offered;
	uint16_t used_before;
	int ret;

	ret = rig_open(&r, "tvc0", 1);
	if (ret) {
		if (ret == CHECK_EXIT_SKIP) {
			printf("skip: no /dev/vhost-net here\n");
			rig_close(&r);
			exit(CHECK_EXIT_SKIP);
		}
		step("setup (memory, tap, vhost-net, rings)", false);
		rig_close(&r);
		return;
	}
	rx = &r.q[0];
	tx = &r.q[1];
	offered = vhost_net_ops.features(&r.v);
	printf("vhost GET_FEATURES 0x%llx, backend offers 0x%llx\n",
	       (unsigned long long)r.v.vhost_features,
	       (unsigned long long)offered);
	step("backend offers VERSION_1, MRG_RXBUF and the tap offloads",
	     (offered & (F(VIRTIO_F_VERSION_1) | F(MRG_RXBUF))) ==
		     (F(VIRTIO_F_VERSION_1) | F(MRG_RXBUF)) &&
		     (offered & VIRTIO_NET_OFFLOAD_FEATURES) == VIRTIO_NET_OFFLOAD_FEATURES);
	step("bit 27 (VHOST_NET_F_VIRTIO_NET_HDR), LOG_ALL and (1 pair) MQ "
	     "not offered", !(offered & (F(27) | F(26) | F(MQ))));
	r.features = F(VIRTIO_F_VERSION_1) | F(MRG_RXBUF) | F(1) | F(7);

	/* Refused rings leave nothing configured. */
	r.io[0].tx.desc = RAM - 0x800;
	ret = vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 1);
	step("ring outside RAM refused", ret == -EINVAL &&
	     r.v.nconfigured == 0);
	fq_io(tx, &r.io[0].tx);
	r.io[0].rx.size = 100;
	ret = vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 1);
	step("ring size 100 refused", ret == -EINVAL && r.v.nconfigured == 0);
	fq_io(rx, &r.io[0].rx);
	r.io[0].tx.desc += 8;
	ret = vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 1);
	step("misaligned descriptor table refused", ret == -EINVAL);
	fq_io(tx, &r.io[0].tx);
	r.io[0].tx.enabled = false;
	ret = vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 1);
	step("half-enabled pair refused", ret == -EINVAL);
	fq_io(tx, &r.io[0].tx);
	step("refused starts touched neither tap nor vhost",
	     r.tap.offload == 0 && r.v.nconfigured == 0 && !r.v.mem);

	fq_post_rx(rx, 64);
	ret = vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 1);
	step("start 1 pair", ret == 0 && r.v.nattached == 1);
	step("tap offloads follow GUEST_CSUM|GUEST_TSO4",
	     r.tap.offload == 0x3);
	traffic_pair0(&r, "first");

	/* Dirty logging while running: the pages vhost writes get bits. */
	{
		uint64_t bitmap[RAM / 4096 / 64] = { 0 };
		uint64_t used_page = rx->used_gpa / 4096;
		uint64_t buf_page = rx->buf_gpa / 4096;

		ret = vhost_net_set_log(&r.v, bitmap, sizeof(bitmap));
		step("dirty log on", ret == 0);
		packet_send(&r, 3, "rx-logged");
		{
			struct fq *rxs[1] = { rx };
			int got;

			rx_wait(&r, rxs, 1, "rx-logged", false, 1, &got);
			step("logged RX frame arrives", got == 1);
		}
		step("used ring page marked dirty",
		     bitmap[used_page / 64] & (1ULL << (used_page % 64)));
		step("RX buffer page marked dirty",
		     bitmap[buf_page / 64] & (1ULL << (buf_page % 64)));
		step("dirty log off", vhost_net_set_log(&r.v, NULL, 0) == 0);
	}

	vhost_net_ops.stop(&r.v);
	step("stop", r.v.nconfigured == 0);
	used_before = fq_used_idx(tx);
	tx_frame(&r, tx, 1, 4, "tx-after-stop");
	step("after stop a kicked TX buffer stays put",
	     !packet_seen(&r, "tx-after-stop", QUIET_MS) &&
		     fq_used_idx(tx) == used_before);
	used_before = fq_used_idx(rx);
	packet_send(&r, 5, "rx-after-stop");
	usleep(QUIET_MS * 1000);
	step("after stop RX buffers stay untouched",
	     fq_used_idx(rx) == used_before);
	step("no ring errors reported", err_fds_quiet(&r));

	/* Device reset: the driver starts over with fresh rings. */
	fq_reset(&r, rx);
	fq_reset(&r, tx);
	fq_post_rx(rx, 64);
	while (fq_called(rx, 0) || fq_called(tx, 0))
		;
	ret = vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 1);
	step("start again after stop", ret == 0);
	traffic_pair0(&r, "again");
	vhost_net_ops.stop(&r.v);
	rig_close(&r);
}

static void check_two_pairs(void)
{
	struct fq *rx0, *tx1;
	struct fq *rxs[2];
	uint64_t bitmap[RAM / 4096 / 64] = { 0 };
	struct rig r;
	int got[2], n;

	if (rig_open(&r, "tvc1", 2)) {
		step("setup with 2 pairs", false);
		rig_close(&r);
		return;
	}
	rx0 = &r.q[0];
	tx1 = &r.q[3];
	rxs[0] = rx0;
	rxs[1] = &r.q[2];
	step("2 pairs: MQ offered",
	     vhost_net_ops.features(&r.v) & F(MQ));
	r.features = F(VIRTIO_F_VERSION_1) | F(MRG_RXBUF) | F(MQ);
	fq_post_rx(rxs[0], 64);
	fq_post_rx(rxs[1], 64);
	/* Logging asked before vhost ever saw a memory table. */
	step("dirty log on before the first start",
	     vhost_net_set_log(&r.v, bitmap, sizeof(bitmap)) == 0);
	step("start 2 pairs with MQ: pair 0 served",
	     vhost_net_ops.start(&r.v, &r.mem, r.features, r.io, 2) == 0 &&
		     r.v.nattached == 1 && r.v.pairs[0].attached &&
		     !r.v.pairs[1].attached && !r.tap.attached[1]);
	step("dirty log off", vhost_net_set_log(&r.v, NULL, 0) == 0);

	tx_frame(&r, tx1, 0, 6, "tx-pair1-early");
	step("pair 1 idle before VQ_PAIRS_SET",
	     !packet_seen(&r, "tx-pair1-early", QUIET_MS) &&
		     fq_used_idx(tx1) == 0);

	step("set_pairs(2)", vhost_net_ops.set_pairs(&r.v, 2) == 0 &&
	     r.v.pairs[1].attached && r.tap.attached[1]);
	fq_kick(tx1);
	step("pair 1 transmits the waiting buffer",
	     packet_seen(&r, "tx-pair1-early", WAIT_MS) &&
		     fq_wait_used(tx1, WAIT_MS));
	tx1->last_used = fq_used_idx(tx1);
	tx_frame(&r, tx1, 1, 7, "tx-pair1");
	step("pair 1 transmits", packet_seen(&r, "tx-pair1", WAIT_MS));

	for (uint8_t i = 0; i < 16; i++)
		packet_send(&r, (uint8_t)(0x20 + i), "rx-mq");
	n = rx_wait(&r, rxs, 2, "rx-mq", false, 16, got);
	printf("16 frames over 2 pairs: %d on pair 0, %d on pair 1\n", got[0],
	       got[1]);
	step("2 pairs: every frame reaches the guest", n == 16);

	step("set_pairs(1)", vhost_net_ops.set_pairs(&r.v, 1) == 0 &&
	     !r.v.pairs[1].attached && !r.tap.attached[1]);
	for (uint8_t i = 0; i < 16; i++)
		packet_send(&r, (uint8_t)(0x40 + i), "rx-one");
	n = rx_wait(&r, rxs, 2, "rx-one", false, 16, got);
	step("1 pair: every frame lands on pair 0", n == 16 && got[0] == 16);
	tx_frame(&r, tx1, 2, 8, "tx-pair1-late");
	step("pair 1 idle again",
	     !packet_seen(&r, "tx-pair1-late", QUIET_MS));
	fprintf(stderr, "-- expected errors:\n");
	step("set_pairs(0) and set_pairs(3) refused",
	     vhost_net_ops.set_pairs(&r.v, 0) == -EINVAL &&
		     vhost_net_ops.set_pairs(&r.v, 3) == -EINVAL);
	fprintf(stderr, "-- end of expected errors\n");
	step("no ring errors reported", err_fds_quiet(&r));
	vhost_net_ops.stop(&r.v);
	rig_close(&r);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "-v"))
		log_set_level(LOG_DEBUG);
	if (geteuid() != 0) {
		printf("skip: needs root\n");
		return CHECK_EXIT_SKIP;
	}
	check_single();
	check_two_pairs();
	return check_done("vhost-check");
}
