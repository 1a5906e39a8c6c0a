/* sw-peer: a stand-in for VMs on tern-switch. A DPDK program whose ports
 * are the EAL's --vdev net_virtio_user devices (each connected to one of
 * the switch's vhost-user sockets); it sends and counts frames on the
 * commands it reads, one per line, on stdin, answering each with one line
 * on stdout ("ok ..." or "err ..."). All in the main lcore: RX on every
 * port runs between commands and while a command waits.
 *
 *   mac P                      ok MAC            port P's address
 *   send P DST N LEN [SRC]     ok sent N         N frames of LEN bytes to
 *                                                DST (from SRC, default P's)
 *   count P                    ok count N        frames P got since the
 *                                                last count (then zero)
 *   wait P N MS                ok count N        until P has N, or MS pass
 *   pause P / resume P         ok                stop / start reading P
 *   stream P DST PPS LEN       ok                send PPS frames/s to DST
 *   stream P stop              ok sent N         ... until this
 *   rate P DST PPS MS LEN Q    ok sent N recv M refused R skipped S
 *                                                paced for MS from P,
 *                                                counting what Q receives
 *                                                (and 200 ms after); R of
 *                                                the N the TX ring refused,
 *                                                S never offered (behind
 *                                                after losing the CPU)
 *   quit                       ok
 * DST/SRC are MAC addresses (xx:xx:xx:xx:xx:xx). Frames carry ethertype
 * 0x88b5 (local experimental); only those are counted. LEN may be below
 * 14 (a runt) or above the MTU (one segment up to the pool's room).
 * Exit 0 after quit or end of input, 1 if set-up failed. */
#include <errno.h>
#include <poll.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PORTS 8
#define BURST 32
#define ETHERTYPE 0x88b5

struct peer_port {
	struct rte_ether_addr mac;
	uint64_t count;
	bool paused;
	/* A background stream. */
	bool streaming;
	struct rte_ether_addr dst;
	uint64_t pps, sent, start_tsc;
	uint16_t len;
};

static struct rte_mempool *mp;
static struct peer_port ports[MAX_PORTS];
static uint16_t nports;
static uint64_t hz;

static void rx_all(void)
{
	struct rte_mbuf *m[BURST];

	for (uint16_t p = 0; p < nports; p++) {
		uint16_t n;

		if (ports[p].paused)
			continue;
		n = rte_eth_rx_burst(p, 0, m, BURST);
		for (uint16_t i = 0; i < n; i++) {
			const uint8_t *d = rte_pktmbuf_mtod(m[i], const uint8_t *);

			if (m[i]->data_len >= 14 &&
			    (d[12] << 8 | d[13]) == ETHERTYPE)
				ports[p].count++;
		}
		rte_pktmbuf_free_bulk(m, n);
	}
}

static struct rte_mbuf *make(uint16_t p, const struct rte_ether_addr *dst,
			     const struct rte_ether_addr *src, uint16_t len,
			     uint64_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	uint8_t *d;

	if (!m)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, len);
	if (!d) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(d, 0, len);
	if (len >= 6)
		memcpy(d, dst, 6);
	if (len >= 12)
		memcpy(d + 6, src ? src : &ports[p].mac, 6);
	if (len >= 14) {
		d[12] = ETHERTYPE >> 8;
		d[13] = ETHERTYPE & 0xff;
	}
	if (len >= 22)
		memcpy(d + 14, &seq, 8);
	return m;
}

/* Up to K frames of LEN bytes to DST from P, allocated in one go and with
 * only the header and a sequence number written (the rate command's fast
 * path). How many were made. */
static uint16_t make_bulk(uint16_t p, const struct rte_ether_addr *dst,
			  uint16_t len, uint64_t seq, struct rte_mbuf **m,
			  uint16_t k)
{
	if (rte_pktmbuf_alloc_bulk(mp, m, k))
		return 0;
	for (uint16_t i = 0; i < k; i++) {
		uint8_t *d = (uint8_t *)rte_pktmbuf_append(m[i], len);

		if (!d || len < 14) {
			rte_pktmbuf_free_bulk(m + i, (unsigned int)(k - i));
			return i;
		}
		memcpy(d, dst, 6);
		memcpy(d + 6, ports[p].mac.addr_bytes, 6);
		d[12] = ETHERTYPE >> 8;
		d[13] = ETHERTYPE & 0xff;
		if (len >= 22) {
			uint64_t sq = seq + i;

			memcpy(d + 14, &sq, 8);
		}
	}
	return k;
}

/* Counts (and frees) what port Q received, the rate command's fast path. */
static void rx_one(uint16_t q)
{
	struct rte_mbuf *m[BURST];
	uint16_t n = rte_eth_rx_burst(q, 0, m, BURST);

	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *d = rte_pktmbuf_mtod(m[i], const uint8_t *);

		if (m[i]->data_len >= 14 && (d[12] << 8 | d[13]) == ETHERTYPE)
			ports[q].count++;
	}
	if (n)
		rte_pktmbuf_free_bulk(m, n);
}

/* Sends what it can of N frames within 2 s (RX keeps running). */
static uint64_t send_n(uint16_t p, const struct rte_ether_addr *dst,
		       const struct rte_ether_addr *src, uint64_t n,
		       uint16_t len)
{
	uint64_t sent = 0, deadline = rte_rdtsc() + 2 * hz;

	while (sent < n && rte_rdtsc() < deadline) {
		struct rte_mbuf *m[BURST];
		uint16_t k = 0, got;

		while (k < BURST && sent + k < n &&
		       (m[k] = make(p, dst, src, len, sent + k)))
			k++;
		got = rte_eth_tx_burst(p, 0, m, k);
		if (got < k)
			rte_pktmbuf_free_bulk(m + got, (unsigned int)(k - got));
		sent += got;
		rx_all();
	}
	return sent;
}

/* Background streams: each sends what its rate owes by now. */
static void streams(void)
{
	uint64_t now = rte_rdtsc();

	for (uint16_t p = 0; p < nports; p++) {
		struct peer_port *s = &ports[p];
		uint64_t owed;
		struct rte_mbuf *m[BURST];
		uint16_t k = 0, got;

		if (!s->streaming)
			continue;
		owed = (now - s->start_tsc) * s->pps / hz;
		while (k < BURST && s->sent + k < owed &&
		       (m[k] = make(p, &s->dst, NULL, s->len, s->sent + k)))
			k++;
		if (!k)
			continue;
		got = rte_eth_tx_burst(p, 0, m, k);
		if (got < k)
			rte_pktmbuf_free_bulk(m + got, (unsigned int)(k - got));
		/* Frames the ring would not take are skipped, not owed. */
		s->sent += k;
	}
}

static int port_arg(const char *s, uint16_t *p)
{
	char *end;
	unsigned long v = strtoul(s ? s : "", &end, 10);

	if (!s || end == s || *end || v >= nports)
		return -1;
	*p = (uint16_t)v;
	return 0;
}

static int mac_arg(const char *s, struct rte_ether_addr *mac)
{
	return s && !rte_ether_unformat_addr(s, mac) ? 0 : -1;
}

static int num_arg(const char *s, uint64_t *v)
{
	char *end;

	if (!s)
		return -1;
	*v = strtoull(s, &end, 10);
	return end == s || *end ? -1 : 0;
}

static void command(char *line)
{
	char *argv[10] = { 0 }, *save = NULL;
	int argc = 0;
	struct rte_ether_addr dst, src;
	uint64_t n, len, ms, pps;
	uint16_t p, q;

	for (char *t = strtok_r(line, " \t\r\n", &save); t && argc < 10;
	     t = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = t;
	if (!argc)
		return;
#define IS(c) (!strcmp(argv[0], c))
	if (IS("quit")) {
		printf("ok\n");
		fflush(stdout);
		exit(0);
	} else if (IS("mac") && !port_arg(argv[1], &p)) {
		char buf[RTE_ETHER_ADDR_FMT_SIZE];

		rte_ether_format_addr(buf, sizeof(buf), &ports[p].mac);
		printf("ok %s\n", buf);
	} else if (IS("send") && !port_arg(argv[1], &p) &&
		   !mac_arg(argv[2], &dst) && !num_arg(argv[3], &n) &&
		   !num_arg(argv[4], &len) && len <= 9000 &&
		   (argc < 6 || !mac_arg(argv[5], &src))) {
		printf("ok sent %lu\n", send_n(p, &dst, argc < 6 ? NULL : &src,
					       n, (uint16_t)len));
	} else if (IS("count") && !port_arg(argv[1], &p)) {
		rx_all();
		printf("ok count %lu\n", ports[p].count);
		ports[p].count = 0;
	} else if (IS("wait") && !port_arg(argv[1], &p) &&
		   !num_arg(argv[2], &n) && !num_arg(argv[3], &ms)) {
		uint64_t deadline = rte_rdtsc() + ms * hz / 1000;

		while (ports[p].count < n && rte_rdtsc() < deadline) {
			rx_all();
			streams();
		}
		printf("ok count %lu\n", ports[p].count);
		ports[p].count = 0;
	} else if ((IS("pause") || IS("resume")) && !port_arg(argv[1], &p)) {
		ports[p].paused = IS("pause");
		printf("ok\n");
	} else if (IS("stream") && !port_arg(argv[1], &p) && argv[2] &&
		   !strcmp(argv[2], "stop")) {
		ports[p].streaming = false;
		printf("ok sent %lu\n", ports[p].sent);
	} else if (IS("stream") && !port_arg(argv[1], &p) &&
		   !mac_arg(argv[2], &dst) && !num_arg(argv[3], &pps) &&
		   !num_arg(argv[4], &len) && pps && len >= 14 && len <= 9000) {
		ports[p].dst = dst;
		ports[p].pps = pps;
		ports[p].len = (uint16_t)len;
		ports[p].sent = 0;
		ports[p].start_tsc = rte_rdtsc();
		ports[p].streaming = true;
		printf("ok\n");
	} else if (IS("rate") && !port_arg(argv[1], &p) &&
		   !mac_arg(argv[2], &dst) && !num_arg(argv[3], &pps) &&
		   !num_arg(argv[4], &ms) && !num_arg(argv[5], &len) &&
		   !port_arg(argv[6], &q) && pps && len >= 14 && len <= 9000) {
		uint64_t t0 = rte_rdtsc(), end = t0 + ms * hz / 1000;
		uint64_t sent = 0, skipped = 0, refused = 0, tail;

		rx_all();
		ports[q].count = 0;
		for (uint32_t it = 0; rte_rdtsc() < end; it++) {
			uint64_t owed = (rte_rdtsc() - t0) * pps / hz;
			struct rte_mbuf *m[BURST];
			uint16_t k, got;

			/* Behind by more than two bursts (this process lost
			 * its CPU): those frames are not offered at all, as a
			 * paced source would not send them in one gulp. */
			if (owed > sent + skipped + 2 * BURST)
				skipped = owed - sent - BURST;
			k = (uint16_t)RTE_MIN((uint64_t)BURST,
					      owed - sent - skipped);
			k = k ? make_bulk(p, &dst, (uint16_t)len, sent, m, k) : 0;
			got = k ? rte_eth_tx_burst(p, 0, m, k) : 0;
			if (got < k)
				rte_pktmbuf_free_bulk(m + got,
						      (unsigned int)(k - got));
			/* Offered means offered: a frame the switch's ring
			 * would not take is lost. */
			sent += k;
			refused += (uint64_t)(k - got);
			rx_one(q);
			if (!(it & 15))
				rx_all();
		}
		tail = rte_rdtsc() + hz / 5;
		while (rte_rdtsc() < tail)
			rx_all();
		printf("ok sent %lu recv %lu refused %lu skipped %lu\n", sent,
		       ports[q].count, refused, skipped);
		ports[q].count = 0;
	} else {
		printf("err %s: unknown command or bad arguments\n", argv[0]);
	}
#undef IS
	fflush(stdout);
}

static int port_init(uint16_t p)
{
	struct rte_eth_conf conf = { 0 };
	int ret;

	ret = rte_eth_dev_configure(p, 1, 1, &conf);
	if (!ret)
		ret = rte_eth_rx_queue_setup(p, 0, 512,
					     (unsigned int)rte_socket_id(), NULL,
					     mp);
	if (!ret)
		ret = rte_eth_tx_queue_setup(p, 0, 512,
					     (unsigned int)rte_socket_id(),
					     NULL);
	if (!ret)
		ret = rte_eth_dev_start(p);
	if (!ret)
		ret = rte_eth_macaddr_get(p, &ports[p].mac);
	return ret;
}

int main(int argc, char **argv)
{
	char line[512];
	size_t have = 0;
	int ret = rte_eal_init(argc, argv);

	if (ret < 0) {
		fprintf(stderr, "sw-peer: EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	hz = rte_get_tsc_hz();
	nports = rte_eth_dev_count_avail();
	if (!nports || nports > MAX_PORTS) {
		fprintf(stderr, "sw-peer: %u ports (want 1..%d net_virtio_user "
			"vdevs)\n", nports, MAX_PORTS);
		return 1;
	}
	mp = rte_pktmbuf_pool_create("peer", 8191, 256, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE,
				     (int)rte_socket_id());
	if (!mp) {
		fprintf(stderr, "sw-peer: mbuf pool: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	for (uint16_t p = 0; p < nports; p++)
		if (port_init(p)) {
			fprintf(stderr, "sw-peer: port %u would not start\n", p);
			return 1;
		}
	printf("ok ready %u\n", nports);
	fflush(stdout);
	/* Commands arrive whole lines at a time; RX and streams run between. */
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		char *nl;
		ssize_t r;

		rx_all();
		streams();
		if (poll(&pfd, 1, 0) <= 0)
			continue;
		r = read(0, line + have, sizeof(line) - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		line[have] = '\0';
		while ((nl = strchr(line, '\n'))) {
			size_t used = (size_t)(nl - line) + 1;

			*nl = '\0';
			command(line);
			memmove(line, line + used, have - used + 1);
			have -= used;
		}
		if (have == sizeof(line) - 1)
			have = 0;	/* a line too long: dropped */
	}
	for (uint16_t p = 0; p < nports; p++) {
		rte_eth_dev_stop(p);
		rte_eth_dev_close(p);
	}
	rte_eal_cleanup();
	return 0;
}
