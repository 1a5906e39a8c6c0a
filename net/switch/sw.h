/* tern-switch: the switch object, its ports and its polling lcores.
 *
 * Threads and what they own:
 *   - worker lcores (EAL workers) poll RX queues and forward (fwd.c).
 *     They take no lock: what they read of the configuration (`conf`:
 *     the ports and the flood lists; each lcore's `poll` list) is
 *     published whole by pointer and freed only after every worker has
 *     passed a quiescent state (rte_rcu_qsbr, once per poll loop). Each
 *     counter has one writer. The MAC table has its own scheme
 *     (mactable.h).
 *   - the control thread (main lcore: the HTTP API, the clock, aging)
 *     and DPDK's vhost thread (device callbacks) change the
 *     configuration, one at a time under `lock`, and wait for the
 *     workers (sw_sync) before freeing what they replaced.
 * A port lives in `ports[idx]` from sw_port_add to sw_port_remove;
 * its index is also its number in the MAC table. A removed port's index
 * is reused only after its MAC entries are gone and no worker can hold
 * it. The only global is port.c's pointer to the switch for DPDK's
 * vhost callbacks, which carry no context. */
#ifndef TERN_NET_SWITCH_SW_H
#define TERN_NET_SWITCH_SW_H

#include "net/switch/frame.h"
#include "net/switch/mactable.h"
#include "net/switch/spec.h"

#include <pthread.h>
#include <rte_dev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>
#include <stdbool.h>
#include <stdint.h>

#define SW_MAX_PORTS 64
#define SW_MAX_LCORES 16		/* workers */
#define SW_MAX_BURST 64
#define SW_DEFAULT_BURST 32
#define SW_MAX_NODES 8			/* NUMA nodes with a pool */
#define SW_NO_LCORE 0xffff

/* One queue's (or one worker's share of a queue's) counters. One writer;
 * readers use relaxed loads. */
struct sw_counters {
	uint64_t pkts, bytes;
	uint64_t drops[SW_DROP_MAX];
} __rte_cache_aligned;

static inline void sw_count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

struct sw_port;

/* A port type's fast path (const tables in port.c; tests make their own). */
struct sw_port_ops {
	/* Up to N frames from RX queue Q into PKTS, new mbufs from MP. */
	uint16_t (*rx)(struct sw_port *p, uint16_t q, struct rte_mempool *mp,
		       struct rte_mbuf **pkts, uint16_t n);
	/* Sends PKTS[0..N) for worker W, frees all N mbufs (whether sent or
	 * not) and returns how many went, in order, on TX queue *TXQ; or
	 * -ENOTCONN when the port has no peer (none went). */
	int (*tx)(struct sw_port *p, unsigned int w, struct rte_mbuf **pkts,
		  uint16_t n, uint16_t *txq);
};

struct sw;

struct sw_port {
	struct sw_port_spec spec;
	uint16_t idx;
	const struct sw_port_ops *ops;
	struct sw *sw;
	int node;			/* NUMA node in use; -1 unknown */

	/* RX counters by queue (written by the worker polling it) and TX
	 * counters by worker and queue (written by that worker). */
	struct sw_counters rxc[SW_MAX_QUEUES];
	struct sw_counters (*txc)[SW_MAX_QUEUES];

	/* Under sw->lock: the worker (index) polling each RX queue. */
	uint16_t rxq_worker[SW_MAX_QUEUES];
	/* The TX queue each worker uses (atomic, changes with the guest's
	 * enabled queues) and whether any is ready (atomic). */
	uint8_t txq_of[SW_MAX_LCORES];
	bool tx_ready;
	bool tx_shared;			/* eth: fewer TX queues than workers */
	rte_spinlock_t txlock[SW_MAX_QUEUES];

	/* vhost */
	int vid;			/* atomic; -1: no device */
	bool registered;
	uint32_t vq_ready;		/* bit per vring (sw->lock) */
	uint32_t connects, disconnects;

	/* eth */
	uint16_t eth_id;
	uint16_t nrxq, ntxq;
	bool probed, started;
	char eth_name[RTE_DEV_NAME_MAX_LEN];
};

/* What the workers read of the configuration, replaced whole. */
struct sw_conf {
	struct sw_port *port[SW_MAX_PORTS];	/* NULL: no such port */
	uint8_t nflood[SW_MAX_PORTS];		/* by ingress port */
	uint8_t flood[SW_MAX_PORTS][SW_MAX_PORTS];
};

struct sw_poll {
	uint16_t n;
	struct sw_poll_entry {
		struct sw_port *port;
		uint16_t q;
	} e[];
};

struct sw_txbuf {
	uint16_t n;
	struct rte_mbuf *m[SW_MAX_BURST];
};

struct sw_lcore {
	unsigned int id;		/* EAL lcore id */
	unsigned int w;			/* worker index, also its RCU id */
	int node;
	struct sw *sw;
	struct sw_poll *poll;		/* atomic, RCU */
	struct rte_mempool *mp;
	uint32_t nrxq;			/* RX queues assigned (sw->lock) */

	/* Load: written by the worker only. */
	uint64_t busy_cycles, idle_cycles, rx_pkts, loops;

	uint16_t ndirty;
	uint8_t dirty[SW_MAX_PORTS];
	struct sw_txbuf tx[SW_MAX_PORTS];
} __rte_cache_aligned;

struct sw_options {
	uint32_t mtu;			/* default 1500 */
	uint16_t burst;			/* RX burst, 1..SW_MAX_BURST */
	uint32_t mac_entries;		/* MAC table size */
	uint32_t aging;			/* seconds */
	uint32_t mbufs;			/* per NUMA node's pool */
	uint32_t idle_sleep_us;		/* 0: busy-poll always */
	uint16_t ring_size;		/* eth RX/TX descriptors */
};

struct sw {
	struct sw_options opt;
	struct mactable mt;
	uint16_t now;			/* seconds since start (atomic) */
	uint64_t hz;
	bool stop;			/* atomic: workers return */

	struct sw_conf *conf;		/* atomic, RCU */
	struct rte_rcu_qsbr *qs;
	unsigned int nworkers;
	struct sw_lcore *lcores[SW_MAX_LCORES];
	struct rte_mempool *pool[SW_MAX_NODES];

	pthread_mutex_t lock;		/* configuration (not the workers) */
	struct sw_port *ports[SW_MAX_PORTS];
	uint64_t started_tsc;
};

/* --- sw.c: the object and its configuration --- */

void sw_default_options(struct sw_options *o);
/* Sets up the table, pools, RCU and a worker per EAL worker lcore
 * (none: -EINVAL). 0 or -errno, logged. */
int sw_init(struct sw *sw, const struct sw_options *o);
/* Starts the workers (rte_eal_remote_launch). */
int sw_start(struct sw *sw);
/* Stops and joins the workers, removes every port, frees everything. */
void sw_fini(struct sw *sw);

/* Under sw->lock: publishes a new conf from sw->ports, waits for the
 * workers, frees the old one. 0 or -ENOMEM. */
int sw_publish_conf(struct sw *sw);
/* Under sw->lock: assigns RX queues [FIRST, FIRST+N) of P that have no
 * worker yet (assign.h). 0 or -EINVAL with ERR. */
int sw_poll_assign(struct sw *sw, struct sw_port *p, uint16_t first,
		   uint16_t n, char *err, size_t errlen);
/* Under sw->lock: every worker's poll list from the assignments of the
 * ports in sw->ports; returns once the workers use them. 0 or -ENOMEM. */
int sw_poll_publish(struct sw *sw);
/* Both of the above. */
int sw_poll_add(struct sw *sw, struct sw_port *p, uint16_t first,
		uint16_t n, char *err, size_t errlen);
/* Under sw->lock: P's queues leave the poll lists; returns after no
 * worker polls them. */
int sw_poll_remove(struct sw *sw, struct sw_port *p);
/* Waits until every worker passed a quiescent state. */
void sw_sync(struct sw *sw);

/* Every second on the control thread: the clock and aging. */
void sw_tick(struct sw *sw);

/* The worker owning lcore id LCORE (NULL: none). */
struct sw_lcore *sw_worker(struct sw *sw, unsigned int lcore);

/* --- port.c: vhost and eth ports --- */

/* Adds a port (validated against the running switch). 0, or -errno with
 * ERR naming what was wrong (-EEXIST: the name or socket is taken). */
int sw_port_add(struct sw *sw, const struct sw_port_spec *spec, char *err,
		size_t errlen);
/* Removes port NAME: traffic stops, its MAC entries go. 0 or -ENOENT. */
int sw_port_remove(struct sw *sw, const char *name);
/* Under sw->lock: the port called NAME or NULL. */
struct sw_port *sw_port_find(struct sw *sw, const char *name);
/* Whether P has a peer now (vhost: a running device; eth: started). */
bool sw_port_up(const struct sw_port *p);

/* --- fwd.c: the fast path --- */

/* Forwards N frames that came from queue RXQ of port IN (a worker's
 * burst): checks, learning, lookup, flooding, then sends and counts. */
void sw_fwd(struct sw *sw, struct sw_lcore *lc, const struct sw_conf *conf,
	    struct sw_port *in, uint16_t rxq, struct rte_mbuf **pkts,
	    uint16_t n);
/* A worker's loop (rte_eal_remote_launch's function; ARG its sw_lcore). */
int sw_worker_main(void *arg);

#endif
