/* tern-switch's fast path: a worker's loop and what it does with a burst
 * (see sw.h for who may touch what, frame.h for the drop causes). */
#ifdef SW_FWD_WITH_PREFETCH
/* bench/switch_micro.c's copy with the prefetch, under other names. */
#define sw_fwd sw_fwd_prefetch
#define sw_worker_main sw_worker_main_prefetch
#define SW_FWD_PREFETCH 1
#endif
/* Prefetch the next frame's header while one is judged? Off: measured
 * (bench/switch_micro.c, the bench's loop) it gains nothing on vhost ports,
 * whose frames rte_vhost has just copied into the cache, and costs ~2
 * cycles a frame. Uplinks on NICs (DMA) were not measured here. */
#ifndef SW_FWD_PREFETCH
#define SW_FWD_PREFETCH 0
#endif
#include "net/switch/sw.h"

#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <time.h>

/* Empty loops before a worker with --idle-sleep naps: few, since that
 * option is for a worker that shares its CPU (with VMs' vCPUs, say), and
 * every empty loop is CPU time they do not get. */
#define SW_IDLE_LOOPS 4

static inline void txbuf_add(struct sw_lcore *lc, uint16_t port,
			     struct rte_mbuf *m)
{
	struct sw_txbuf *tb = &lc->tx[port];

	if (!tb->n)
		lc->dirty[lc->ndirty++] = (uint8_t)port;
	tb->m[tb->n++] = m;
}

/* Sends what the burst queued for each port and counts it against the
 * port's TX side. */
static void flush(struct sw_lcore *lc, const struct sw_conf *conf)
{
	for (uint16_t i = 0; i < lc->ndirty; i++) {
		uint16_t idx = lc->dirty[i];
		struct sw_txbuf *tb = &lc->tx[idx];
		struct sw_port *p = conf->port[idx];
		uint32_t len[SW_MAX_BURST];
		uint64_t bytes = 0;
		uint16_t txq = 0, n = tb->n;
		struct sw_counters *c;
		int sent;

		tb->n = 0;
		for (uint16_t k = 0; k < n; k++)
			len[k] = tb->m[k]->pkt_len;
		sent = p->ops->tx(p, lc->w, tb->m, n, &txq);
		c = &p->txc[lc->w][txq];
		if (sent < 0) {
			sw_count(&c->drops[SW_DROP_DOWN], n);
			continue;
		}
		for (int k = 0; k < sent; k++)
			bytes += len[k];
		sw_count(&c->pkts, (uint64_t)sent);
		sw_count(&c->bytes, bytes);
		if (sent < n)
			sw_count(&c->drops[SW_DROP_TX_FULL], n - (uint64_t)sent);
	}
	lc->ndirty = 0;
}

/* Queues M for every other port in IN's VLAN (one reference each, every
 * segment: a chained frame's tail is shared as well); false if there is
 * none. */
static inline bool flood(struct sw_lcore *lc, const struct sw_conf *conf,
			 uint16_t in, struct rte_mbuf *m)
{
	uint8_t nf = conf->nflood[in];

	if (!nf)
		return false;
	if (nf > 1)
		for (struct rte_mbuf *s = m; s; s = s->next)
			rte_mbuf_refcnt_update(s, (int16_t)(nf - 1));
	for (uint8_t j = 0; j < nf; j++)
		txbuf_add(lc, conf->flood[in][j], m);
	return true;
}

void sw_fwd(struct sw *sw, struct sw_lcore *lc, const struct sw_conf *conf,
	    struct sw_port *in, uint16_t rxq, struct rte_mbuf **pkts,
	    uint16_t n)
{
	uint16_t now = __atomic_load_n(&sw->now, __ATOMIC_RELAXED);
	uint32_t drops[SW_DROP_MAX] = { 0 };
	struct sw_counters *rc = &in->rxc[rxq];
	uint16_t me = in->idx;
	uint64_t bytes = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct sw_frame f;
		int cause, dst;

		if (SW_FWD_PREFETCH && i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		bytes += m->pkt_len;
		cause = sw_classify(rte_pktmbuf_mtod(m, const uint8_t *),
				    m->data_len, m->pkt_len, sw->opt.mtu,
				    in->spec.vlan, &f);
		if (unlikely(cause != SW_FRAME_OK)) {
			drops[cause]++;
			rte_pktmbuf_free(m);
			continue;
		}
		/* Learning: a known source on its port costs one lookup. */
		if (unlikely(mt_lookup(&sw->mt, f.src, now, true) != me))
			mt_learn(&sw->mt, f.src, me, now);
		if (likely(!f.group)) {
			dst = mt_lookup(&sw->mt, f.dst, now, false);
			if (dst == me) {
				drops[SW_DROP_LOCAL]++;
				rte_pktmbuf_free(m);
				continue;
			}
			if (likely(dst >= 0 && conf->port[dst])) {
				txbuf_add(lc, (uint16_t)dst, m);
				continue;
			}
		}
		if (!flood(lc, conf, me, m)) {
			drops[SW_DROP_LOCAL]++;
			rte_pktmbuf_free(m);
		}
	}
	sw_count(&rc->pkts, n);
	sw_count(&rc->bytes, bytes);
	for (int d = 0; d < SW_DROP_MAX; d++)
		if (drops[d])
			sw_count(&rc->drops[d], drops[d]);
	flush(lc, conf);
}

int sw_worker_main(void *arg)
{
	struct sw_lcore *lc = arg;
	struct sw *sw = lc->sw;
	struct rte_mbuf *pkts[SW_MAX_BURST];
	uint16_t burst = sw->opt.burst;
	uint32_t empty = 0;
	uint64_t t0 = rte_rdtsc();

	rte_rcu_qsbr_thread_register(sw->qs, lc->w);
	rte_rcu_qsbr_thread_online(sw->qs, lc->w);
	while (!__atomic_load_n(&sw->stop, __ATOMIC_RELAXED)) {
		/* Pair with the release stores in sw_publish_conf and
		 * sw_poll_*: what the pointers lead to is complete. */
		const struct sw_conf *conf =
			__atomic_load_n(&sw->conf, __ATOMIC_ACQUIRE);
		const struct sw_poll *poll =
			__atomic_load_n(&lc->poll, __ATOMIC_ACQUIRE);
		uint64_t got = 0, t1;

		for (uint16_t i = 0; poll && i < poll->n; i++) {
			struct sw_port *p = poll->e[i].port;
			uint16_t q = poll->e[i].q;
			uint16_t nb = p->ops->rx(p, q, lc->mp, pkts, burst);

			if (nb) {
				sw_fwd(sw, lc, conf, p, q, pkts, nb);
				got += nb;
			}
		}
		rte_rcu_qsbr_quiescent(sw->qs, lc->w);
		if (got) {
			empty = 0;
			sw_count(&lc->rx_pkts, got);
		} else if (sw->opt.idle_sleep_us && ++empty >= SW_IDLE_LOOPS) {
			struct timespec ts = {
				.tv_nsec = (long)sw->opt.idle_sleep_us * 1000,
			};

			/* Asleep, the worker holds nothing: no need for
			 * sw_sync to wait for it. */
			rte_rcu_qsbr_thread_offline(sw->qs, lc->w);
			nanosleep(&ts, NULL);
			rte_rcu_qsbr_thread_online(sw->qs, lc->w);
		}
		t1 = rte_rdtsc();
		sw_count(got ? &lc->busy_cycles : &lc->idle_cycles, t1 - t0);
		sw_count(&lc->loops, 1);
		t0 = t1;
	}
	rte_rcu_qsbr_thread_offline(sw->qs, lc->w);
	rte_rcu_qsbr_thread_unregister(sw->qs, lc->w);
	return 0;
}
