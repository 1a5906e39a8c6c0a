/* switch-micro: tern-switch's per-frame costs without the vhost copies,
 * for its design decisions (bench/README.md, "The switch scenario").
 *
 *	switch-micro [EAL options] [-- ROUNDS]
 *
 * 1. MAC lookups, cycles each, with 2, 64 and 4096 stations learned:
 *    tern-switch's table (net/switch/mactable.h: mt_lookup), and DPDK's
 *    rte_hash (lock-free readers, CRC32 hash) one key at a time and in
 *    bulks of 32 (rte_hash_lookup_bulk_data).
 * 2. sw_fwd (net/switch/fwd.c) on bursts of pre-built 60-byte frames
 *    between two ports whose TX counts and keeps the mbufs (so the same
 *    frames run again): cycles per frame for bursts of 8, 32 and 64, with
 *    fwd.c as built (no prefetch) and, from the copy of fwd.c built with
 *    -DSW_FWD_WITH_PREFETCH, with the next frame's header prefetched.
 * Each figure is the median of ROUNDS (default 7) timed rounds, printed as
 * "name cycles" lines. Runs on the main lcore; pin it (-l N) and keep the
 * machine quiet. */
#include "net/switch/sw.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same fast path with the prefetch (fwd.c built again). */
void sw_fwd_prefetch(struct sw *sw, struct sw_lcore *lc,
		       const struct sw_conf *conf, struct sw_port *in,
		       uint16_t rxq, struct rte_mbuf **pkts, uint16_t n);

#define LOOKUPS 4096
#define MAX_ROUNDS 31

static int rounds = 7;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static uint64_t key_n(uint32_t n)
{
	uint8_t mac[6] = { 0x02, 0x11, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			   (uint8_t)(n >> 8), (uint8_t)n };

	return mt_key(mac, 0);
}

static volatile int sink;

static void bench_lookups(uint32_t stations)
{
	static uint64_t keys[LOOKUPS];
	const void *kp[32];
	void *data[32];
	double v[3][MAX_ROUNDS];
	struct mactable t;
	struct rte_hash_parameters hp = {
		.name = "micro", .entries = 16384, .key_len = sizeof(uint64_t),
		.hash_func = rte_hash_crc, .socket_id = (int)rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct rte_hash *h = rte_hash_create(&hp);
	char name[64];

	if (!h || mt_init(&t, 16384, 300, 42, NULL)) {
		fprintf(stderr, "switch-micro: no tables\n");
		exit(1);
	}
	for (uint32_t i = 0; i < stations; i++) {
		uint64_t k = key_n(i);

		mt_learn(&t, k, (uint16_t)(i % 64), 1);
		rte_hash_add_key_data(h, &k, (void *)(uintptr_t)(i % 64 + 1));
	}
	srand(7);
	for (int i = 0; i < LOOKUPS; i++)
		keys[i] = key_n((uint32_t)rand() % stations);
	for (int r = 0; r < rounds; r++) {
		uint64_t t0 = rte_rdtsc_precise(), acc = 0;

		for (int i = 0; i < LOOKUPS; i++)
			acc += (uint64_t)mt_lookup(&t, keys[i], 1, false);
		v[0][r] = (double)(rte_rdtsc_precise() - t0) / LOOKUPS;
		t0 = rte_rdtsc_precise();
		for (int i = 0; i < LOOKUPS; i++) {
			void *d = NULL;

			rte_hash_lookup_data(h, &keys[i], &d);
			acc += (uintptr_t)d;
		}
		v[1][r] = (double)(rte_rdtsc_precise() - t0) / LOOKUPS;
		t0 = rte_rdtsc_precise();
		for (int i = 0; i < LOOKUPS; i += 32) {
			uint64_t hits = 0;

			for (int k = 0; k < 32; k++)
				kp[k] = &keys[i + k];
			rte_hash_lookup_bulk_data(h, kp, 32, &hits, data);
			acc += hits + (uintptr_t)data[0];
		}
		v[2][r] = (double)(rte_rdtsc_precise() - t0) / LOOKUPS;
		sink = (int)acc;
	}
	snprintf(name, sizeof(name), "lookup_%u_stations", stations);
	printf("%s_mactable %.1f\n", name, median(v[0], rounds));
	printf("%s_rte_hash %.1f\n", name, median(v[1], rounds));
	printf("%s_rte_hash_bulk32 %.1f\n", name, median(v[2], rounds));
	rte_hash_free(h);
	mt_destroy(&t);
}

/* Two ports; TX counts and keeps the mbufs for the next round. */
static uint64_t tx_count;

static uint16_t keep_rx(struct sw_port *p, uint16_t q, struct rte_mempool *m,
			struct rte_mbuf **pkts, uint16_t n)
{
	return 0;
}

static int keep_tx(struct sw_port *p, unsigned int w, struct rte_mbuf **pkts,
		   uint16_t n, uint16_t *txq)
{
	*txq = 0;
	tx_count += n;
	return n;
}

static const struct sw_port_ops keep_ops = { .rx = keep_rx, .tx = keep_tx };

static void bench_fwd(struct rte_mempool *mp)
{
	static struct sw sw;
	static struct sw_conf conf;
	struct sw_lcore *lc = aligned_alloc(64, sizeof(*lc));
	struct sw_port *port[2];
	struct rte_mbuf *m[SW_MAX_BURST];
	static const uint8_t src[6] = { 2, 0, 0, 0, 0, 1 }, dst[6] = { 2, 0, 0, 0, 0, 2 };
	const int bursts[] = { 8, 32, 64 };

	memset(lc, 0, sizeof(*lc));
	sw_default_options(&sw.opt);
	sw.nworkers = 1;
	if (mt_init(&sw.mt, 16384, 300, 42, NULL))
		exit(1);
	lc->sw = &sw;
	for (int i = 0; i < 2; i++) {
		size_t sz = (sizeof(struct sw_port) + 63) & ~(size_t)63;

		port[i] = aligned_alloc(64, sz);
		memset(port[i], 0, sz);
		port[i]->idx = (uint16_t)i;
		port[i]->ops = &keep_ops;
		port[i]->txc = aligned_alloc(64, sizeof(*port[i]->txc));
		memset(port[i]->txc, 0, sizeof(*port[i]->txc));
		conf.port[i] = port[i];
		conf.nflood[i] = 1;
		conf.flood[i][0] = (uint8_t)(1 - i);
	}
	/* dst is learned on port 1: frames from port 0 go there. */
	mt_learn(&sw.mt, mt_key(dst, 0), 1, 1);
	for (int i = 0; i < SW_MAX_BURST; i++) {
		uint8_t *d;

		m[i] = rte_pktmbuf_alloc(mp);
		d = (uint8_t *)rte_pktmbuf_append(m[i], 60);
		memset(d, 0, 60);
		memcpy(d, dst, 6);
		memcpy(d + 6, src, 6);
		d[12] = 0x08;
	}
	for (size_t b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++) {
		uint16_t n = (uint16_t)bursts[b];
		double v[2][MAX_ROUNDS];

		for (int r = 0; r < rounds; r++) {
			uint64_t t0 = rte_rdtsc_precise();

			for (int i = 0; i < LOOKUPS; i += n)
				sw_fwd(&sw, lc, &conf, port[0], 0, m, n);
			v[0][r] = (double)(rte_rdtsc_precise() - t0) / LOOKUPS;
			t0 = rte_rdtsc_precise();
			for (int i = 0; i < LOOKUPS; i += n)
				sw_fwd_prefetch(&sw, lc, &conf, port[0], 0, m, n);
			v[1][r] = (double)(rte_rdtsc_precise() - t0) / LOOKUPS;
		}
		printf("fwd_burst%d %.1f\n", n, median(v[0], rounds));
		printf("fwd_burst%d_prefetch %.1f\n", n, median(v[1], rounds));
	}
	if (!tx_count)
		exit(1);
}

int main(int argc, char **argv)
{
	struct rte_mempool *mp;
	int n = rte_eal_init(argc, argv);

	if (n < 0) {
		fprintf(stderr, "switch-micro: EAL would not start\n");
		return 1;
	}
	argc -= n;
	argv += n;
	if (argc > 1)
		rounds = atoi(argv[1]);
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 7;
	mp = rte_pktmbuf_pool_create("micro", 1023, 0, 0,
				     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!mp)
		return 1;
	printf("tsc_hz %lu\n", rte_get_tsc_hz());
	bench_lookups(2);
	bench_lookups(64);
	bench_lookups(4096);
	bench_fwd(mp);
	rte_eal_cleanup();
	return 0;
}
