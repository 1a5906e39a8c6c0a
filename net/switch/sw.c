/* tern-switch's object: workers, pools, the published configuration
 * (see sw.h for the threading rules). */
#include "net/switch/assign.h"
#include "net/switch/sw.h"
#include "core/log.h"

#include <errno.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define WHO "tern-switch"

void sw_default_options(struct sw_options *o)
{
	*o = (struct sw_options){
		.mtu = 1500,
		.burst = SW_DEFAULT_BURST,
		.mac_entries = 16384,
		.aging = 300,
		.mbufs = 32768,
		.idle_sleep_us = 0,
		.ring_size = 1024,
	};
}

struct sw_lcore *sw_worker(struct sw *sw, unsigned int lcore)
{
	for (unsigned int w = 0; w < sw->nworkers; w++)
		if (sw->lcores[w]->id == lcore)
			return sw->lcores[w];
	return NULL;
}

void sw_sync(struct sw *sw)
{
	rte_rcu_qsbr_synchronize(sw->qs, RTE_QSBR_THRID_INVALID);
}

static struct rte_mempool *pool_for(struct sw *sw, int node)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	uint32_t room = sw->opt.mtu + SW_ETH_HLEN + 2 * SW_VLAN_HLEN +
			RTE_PKTMBUF_HEADROOM;

	if (node < 0 || node >= SW_MAX_NODES)
		node = 0;
	if (sw->pool[node])
		return sw->pool[node];
	if (room < RTE_MBUF_DEFAULT_BUF_SIZE)
		room = RTE_MBUF_DEFAULT_BUF_SIZE;
	snprintf(name, sizeof(name), "sw_mbuf_node%d", node);
	sw->pool[node] = rte_pktmbuf_pool_create(name, sw->opt.mbufs, 256, 0,
						 (uint16_t)room, node);
	if (!sw->pool[node])
		/* A node without memory of its own: any will do. */
		sw->pool[node] = rte_pktmbuf_pool_create(name, sw->opt.mbufs,
							 256, 0,
							 (uint16_t)room,
							 SOCKET_ID_ANY);
	if (!sw->pool[node])
		log_err(WHO, "mbuf pool for node %d (%u mbufs of %u bytes): %s",
			node, sw->opt.mbufs, room, rte_strerror(rte_errno));
	return sw->pool[node];
}

int sw_init(struct sw *sw, const struct sw_options *o)
{
	unsigned int lcore;
	uint64_t seed = 0;
	size_t sz;
	void *mem;
	int ret;

	memset(sw, 0, sizeof(*sw));
	sw->opt = *o;
	pthread_mutex_init(&sw->lock, NULL);
	sw->hz = rte_get_tsc_hz();
	sw->started_tsc = rte_rdtsc();

	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct sw_lcore *lc;

		if (sw->nworkers == SW_MAX_LCORES) {
			log_err(WHO, "more than %d worker lcores",
				SW_MAX_LCORES);
			ret = -EINVAL;
			goto fail;
		}
		lc = rte_zmalloc_socket("sw_lcore", sizeof(*lc),
					RTE_CACHE_LINE_SIZE,
					(int)rte_lcore_to_socket_id(lcore));
		if (!lc)
			lc = rte_zmalloc("sw_lcore", sizeof(*lc),
					 RTE_CACHE_LINE_SIZE);
		if (!lc) {
			ret = -ENOMEM;
			goto fail;
		}
		lc->id = lcore;
		lc->w = sw->nworkers;
		lc->node = (int)rte_lcore_to_socket_id(lcore);
		lc->sw = sw;
		sw->lcores[sw->nworkers++] = lc;
		lc->mp = pool_for(sw, lc->node);
		if (!lc->mp) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	if (!sw->nworkers) {
		log_err(WHO, "no worker lcore: give the EAL two or more "
			"(e.g. -l 0,1: the first is the control thread)");
		ret = -EINVAL;
		goto fail;
	}

	sz = rte_rcu_qsbr_get_memsize(sw->nworkers);
	sw->qs = rte_zmalloc("sw_rcu", sz, RTE_CACHE_LINE_SIZE);
	if (!sw->qs || rte_rcu_qsbr_init(sw->qs, sw->nworkers)) {
		ret = -ENOMEM;
		goto fail;
	}

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = rte_rdtsc() * 0x9e3779b97f4a7c15ULL;
	mem = rte_zmalloc_socket("sw_mac", mt_mem_size(o->mac_entries),
				 RTE_CACHE_LINE_SIZE,
				 sw->lcores[0]->node);
	if (!mem)
		mem = rte_zmalloc("sw_mac", mt_mem_size(o->mac_entries),
				  RTE_CACHE_LINE_SIZE);
	if (!mem) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = mt_init(&sw->mt, o->mac_entries, o->aging, seed, mem);
	if (ret) {
		rte_free(mem);
		goto fail;
	}
	sw->conf = rte_zmalloc("sw_conf", sizeof(*sw->conf), 0);
	if (!sw->conf) {
		ret = -ENOMEM;
		goto fail_mt;
	}
	log_info(WHO, "%u worker lcore(s), MAC table of %u entries aging "
		 "after %u s, burst %u, mtu %u", sw->nworkers,
		 sw->mt.nbuckets * MT_WAYS, o->aging, o->burst, o->mtu);
	return 0;

fail_mt:
	rte_free(sw->mt.b);
	mt_destroy(&sw->mt);
fail:
	rte_free(sw->qs);
	for (unsigned int w = 0; w < sw->nworkers; w++)
		rte_free(sw->lcores[w]);
	for (int n = 0; n < SW_MAX_NODES; n++)
		rte_mempool_free(sw->pool[n]);
	pthread_mutex_destroy(&sw->lock);
	return ret;
}

int sw_start(struct sw *sw)
{
	for (unsigned int w = 0; w < sw->nworkers; w++) {
		int ret = rte_eal_remote_launch(sw_worker_main, sw->lcores[w],
						sw->lcores[w]->id);

		if (ret) {
			log_err(WHO, "lcore %u would not start: %s",
				sw->lcores[w]->id, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void sw_fini(struct sw *sw)
{
	__atomic_store_n(&sw->stop, true, __ATOMIC_RELAXED);
	rte_eal_mp_wait_lcore();
	for (int i = 0; i < SW_MAX_PORTS; i++) {
		char name[SW_NAME_LEN];

		pthread_mutex_lock(&sw->lock);
		if (!sw->ports[i]) {
			pthread_mutex_unlock(&sw->lock);
			continue;
		}
		memcpy(name, sw->ports[i]->spec.name, sizeof(name));
		pthread_mutex_unlock(&sw->lock);
		sw_port_remove(sw, name);
	}
	for (unsigned int w = 0; w < sw->nworkers; w++) {
		rte_free(sw->lcores[w]->poll);
		rte_free(sw->lcores[w]);
	}
	rte_free(sw->conf);
	rte_free(sw->qs);
	rte_free(sw->mt.b);
	mt_destroy(&sw->mt);
	for (int n = 0; n < SW_MAX_NODES; n++)
		rte_mempool_free(sw->pool[n]);
	pthread_mutex_destroy(&sw->lock);
}

int sw_publish_conf(struct sw *sw)
{
	struct sw_conf *c = rte_zmalloc("sw_conf", sizeof(*c), 0), *old;

	if (!c)
		return -ENOMEM;
	for (int i = 0; i < SW_MAX_PORTS; i++)
		c->port[i] = sw->ports[i];
	for (int i = 0; i < SW_MAX_PORTS; i++) {
		if (!c->port[i])
			continue;
		for (int j = 0; j < SW_MAX_PORTS; j++)
			if (j != i && c->port[j] &&
			    c->port[j]->spec.vlan == c->port[i]->spec.vlan)
				c->flood[i][c->nflood[i]++] = (uint8_t)j;
	}
	old = sw->conf;
	/* Pairs with the workers' acquire load of sw->conf. */
	__atomic_store_n(&sw->conf, c, __ATOMIC_RELEASE);
	sw_sync(sw);
	rte_free(old);
	return 0;
}

/* Under sw->lock: every worker's poll list from the ports' assignments. */
static int republish_polls(struct sw *sw)
{
	struct sw_poll *fresh[SW_MAX_LCORES] = { 0 };
	int ret = 0;

	for (unsigned int w = 0; w < sw->nworkers; w++) {
		uint16_t n = 0;

		fresh[w] = rte_zmalloc("sw_poll", sizeof(struct sw_poll) +
				       SW_MAX_PORTS * SW_MAX_QUEUES *
					       sizeof(struct sw_poll_entry),
				       RTE_CACHE_LINE_SIZE);
		if (!fresh[w]) {
			ret = -ENOMEM;
			goto fail;
		}
		for (int i = 0; i < SW_MAX_PORTS; i++) {
			struct sw_port *p = sw->ports[i];

			for (uint16_t q = 0; p && q < SW_MAX_QUEUES; q++)
				if (p->rxq_worker[q] == w) {
					fresh[w]->e[n].port = p;
					fresh[w]->e[n++].q = q;
				}
		}
		fresh[w]->n = n;
	}
	for (unsigned int w = 0; w < sw->nworkers; w++) {
		struct sw_poll *old = sw->lcores[w]->poll;

		/* Pairs with the worker's acquire load of its poll list. */
		__atomic_store_n(&sw->lcores[w]->poll, fresh[w],
				 __ATOMIC_RELEASE);
		fresh[w] = old;
	}
	sw_sync(sw);
fail:
	for (unsigned int w = 0; w < sw->nworkers; w++)
		rte_free(fresh[w]);
	return ret;
}

int sw_poll_assign(struct sw *sw, struct sw_port *p, uint16_t first,
		   uint16_t n, char *err, size_t errlen)
{
	struct sw_assign_lcore lc[SW_MAX_LCORES];
	uint16_t out[SW_MAX_QUEUES], want[SW_MAX_QUEUES];
	uint16_t nwant = 0;
	bool off_node;
	int ret;

	for (uint16_t q = first; q < first + n && q < SW_MAX_QUEUES; q++)
		if (p->rxq_worker[q] == SW_NO_LCORE)
			want[nwant++] = q;
	if (!nwant)
		return 0;
	for (unsigned int w = 0; w < sw->nworkers; w++)
		lc[w] = (struct sw_assign_lcore){
			.id = (uint16_t)sw->lcores[w]->id,
			.node = sw->lcores[w]->node,
			.load = sw->lcores[w]->nrxq,
		};
	if (p->spec.nlcores) {
		/* The override maps queue numbers, not the order they came. */
		uint16_t all[SW_MAX_QUEUES];

		ret = sw_assign(lc, sw->nworkers, p->node, p->spec.lcores,
				p->spec.nlcores, SW_MAX_QUEUES, all, &off_node,
				err, errlen);
		for (uint16_t k = 0; !ret && k < nwant; k++)
			out[k] = all[want[k]];
	} else {
		ret = sw_assign(lc, sw->nworkers, p->node, NULL, 0, nwant, out,
				&off_node, err, errlen);
	}
	if (ret)
		return ret;
	if (off_node && p->node >= 0)
		log_warn(p->spec.name, "no worker lcore on NUMA node %d: "
			 "polled from another node", p->node);
	for (uint16_t k = 0; k < nwant; k++) {
		p->rxq_worker[want[k]] = out[k];
		sw->lcores[out[k]]->nrxq++;
		log_info(p->spec.name, "rx queue %u polled by lcore %u",
			 want[k], sw->lcores[out[k]]->id);
	}
	return 0;
}

int sw_poll_publish(struct sw *sw)
{
	return republish_polls(sw);
}

int sw_poll_add(struct sw *sw, struct sw_port *p, uint16_t first,
		uint16_t n, char *err, size_t errlen)
{
	int ret = sw_poll_assign(sw, p, first, n, err, errlen);

	if (ret)
		return ret;
	ret = republish_polls(sw);
	if (ret)
		snprintf(err, errlen, "out of memory");
	return ret;
}

int sw_poll_remove(struct sw *sw, struct sw_port *p)
{
	bool any = false;

	for (int q = 0; q < SW_MAX_QUEUES; q++) {
		if (p->rxq_worker[q] == SW_NO_LCORE)
			continue;
		sw->lcores[p->rxq_worker[q]]->nrxq--;
		p->rxq_worker[q] = SW_NO_LCORE;
		any = true;
	}
	return any ? republish_polls(sw) : 0;
}

void sw_tick(struct sw *sw)
{
	uint16_t now = (uint16_t)((rte_rdtsc() - sw->started_tsc) / sw->hz);
	uint32_t n;

	__atomic_store_n(&sw->now, now, __ATOMIC_RELAXED);
	n = mt_age(&sw->mt, now);
	if (n)
		log_debug(WHO, "%u MAC entries aged out", n);
}
