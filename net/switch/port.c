/* tern-switch's ports: vhost-user (rte_vhost, server or client mode) and
 * any DPDK ethdev from devargs (see sw.h for the threading rules).
 *
 * vhost: the guest's transmit queue 2q+1 is our RX queue q, its receive
 * queue 2q our TX queue q. A device comes and goes (new_device /
 * destroy_device, on DPDK's vhost thread) while the port stays: without a
 * device its RX queues are not polled and frames for it count as `down`.
 * The socket stays too (server mode listens again, client mode retries
 * every second), so a VM that restarts finds its port and traffic resumes.
 * Offloads are switched off (no checksum, TSO or UFO): the switch neither
 * segments nor finishes checksums, so guests send whole frames. */
#include "net/switch/sw.h"
#include "core/log.h"
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/virtio_net.h>
#if HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_vhost.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define WHO "tern-switch"

/* DPDK's vhost callbacks carry only a device id: this is how they find
 * the switch (set by the first vhost port, never changed after). */
static struct sw *vhost_sw;

#define SW_VHOST_OFFLOADS                                                      \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO))

/* rte_vhost moves at most this many frames per call. */
#define VHOST_CALL_MAX 32

bool sw_port_up(const struct sw_port *p)
{
	if (p->spec.type == SW_PORT_VHOST)
		return __atomic_load_n(&p->vid, __ATOMIC_RELAXED) >= 0;
	return p->started;
}

struct sw_port *sw_port_find(struct sw *sw, const char *name)
{
	for (int i = 0; i < SW_MAX_PORTS; i++)
		if (sw->ports[i] && !strcmp(sw->ports[i]->spec.name, name))
			return sw->ports[i];
	return NULL;
}

/* ---- vhost fast path ---- */

static uint16_t vhost_rx(struct sw_port *p, uint16_t q,
			 struct rte_mempool *mp, struct rte_mbuf **pkts,
			 uint16_t n)
{
	/* Pairs with the release store in vhost_new_device. */
	int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
	uint16_t got = 0, k;

	if (vid < 0)
		return 0;
	do {
		k = rte_vhost_dequeue_burst(vid, (uint16_t)(2 * q + 1), mp,
					    pkts + got, (uint16_t)(n - got));
		got = (uint16_t)(got + k);
	} while (k == VHOST_CALL_MAX && got < n);
	return got;
}

static int vhost_tx(struct sw_port *p, unsigned int w, struct rte_mbuf **pkts,
		    uint16_t n, uint16_t *txq)
{
	int vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
	uint16_t sent = 0, k, q;

	if (vid < 0 || !__atomic_load_n(&p->tx_ready, __ATOMIC_ACQUIRE)) {
		rte_pktmbuf_free_bulk(pkts, n);
		return -ENOTCONN;
	}
	q = __atomic_load_n(&p->txq_of[w], __ATOMIC_RELAXED);
	*txq = q;
	do {
		uint16_t want = (uint16_t)(n - sent);

		k = rte_vhost_enqueue_burst(vid, (uint16_t)(2 * q), pkts + sent,
					    want);
		sent = (uint16_t)(sent + k);
		if (k < want && k < VHOST_CALL_MAX)
			break;		/* the guest's ring is full */
	} while (sent < n);
	/* rte_vhost copied what it took: every mbuf is still ours. */
	rte_pktmbuf_free_bulk(pkts, n);
	return sent;
}

static const struct sw_port_ops vhost_ops = {
	.rx = vhost_rx,
	.tx = vhost_tx,
};

/* ---- eth fast path ---- */

static uint16_t eth_rx(struct sw_port *p, uint16_t q, struct rte_mempool *mp,
		       struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(p->eth_id, q, pkts, n);
}

static int eth_tx(struct sw_port *p, unsigned int w, struct rte_mbuf **pkts,
		  uint16_t n, uint16_t *txq)
{
	uint16_t q = p->txq_of[w], sent;

	*txq = q;
	if (p->tx_shared)
		rte_spinlock_lock(&p->txlock[q]);
	sent = rte_eth_tx_burst(p->eth_id, q, pkts, n);
	if (p->tx_shared)
		rte_spinlock_unlock(&p->txlock[q]);
	if (sent < n)
		rte_pktmbuf_free_bulk(pkts + sent, (unsigned int)(n - sent));
	return sent;
}

static const struct sw_port_ops eth_ops = {
	.rx = eth_rx,
	.tx = eth_tx,
};

/* ---- vhost control ---- */

/* Under sw->lock: the vhost port whose socket is vid's. */
static struct sw_port *vhost_port_of(struct sw *sw, int vid)
{
	char path[PATH_MAX];

	if (rte_vhost_get_ifname(vid, path, sizeof(path)))
		return NULL;
	for (int i = 0; i < SW_MAX_PORTS; i++) {
		struct sw_port *p = sw->ports[i];

		if (p && p->spec.type == SW_PORT_VHOST &&
		    !strcmp(p->spec.path, path))
			return p;
	}
	return NULL;
}

/* Under sw->lock: which TX queue each worker uses, from the guest's
 * enabled receive queues (spread over them). */
static void vhost_tx_map(struct sw *sw, struct sw_port *p)
{
	uint8_t ready[SW_MAX_QUEUES];
	unsigned int n = 0;

	for (unsigned int q = 0; q < SW_MAX_QUEUES; q++)
		if (p->vq_ready & (1U << (2 * q)))
			ready[n++] = (uint8_t)q;
	for (unsigned int w = 0; w < sw->nworkers; w++)
		__atomic_store_n(&p->txq_of[w], n ? ready[w % n] : 0,
				 __ATOMIC_RELAXED);
	/* Pairs with vhost_tx's acquire load: the map is in place first. */
	__atomic_store_n(&p->tx_ready, n > 0, __ATOMIC_RELEASE);
}

/* The NUMA node of the guest's RAM (libnuma), -1 if unknown. */
static int vhost_node(int vid)
{
	int node = rte_vhost_get_numa_node(vid);

#if HAVE_NUMA
	struct rte_vhost_memory *mem = NULL;

	if (node >= 0 || numa_available() < 0)
		return node;
	if (rte_vhost_get_mem_table(vid, &mem) || !mem || !mem->nregions) {
		free(mem);
		return -1;
	}
	if (get_mempolicy(&node, NULL, 0,
			  (void *)(uintptr_t)mem->regions[0].host_user_addr,
			  MPOL_F_NODE | MPOL_F_ADDR))
		node = -1;
	free(mem);
#endif
	return node;
}

static int vhost_new_device(int vid)
{
	struct sw *sw = vhost_sw;
	struct sw_port *p;
	char err[128];
	uint16_t nvr;
	int ret = 0;

	pthread_mutex_lock(&sw->lock);
	p = vhost_port_of(sw, vid);
	if (!p) {
		ret = -1;
		goto out;
	}
	nvr = rte_vhost_get_vring_num(vid);
	/* The workers poll: the guest need not kick (no exit per batch). */
	for (uint16_t q = 0; q < nvr && q < 2 * SW_MAX_QUEUES; q++)
		rte_vhost_enable_guest_notification(vid, q, 0);
	p->node = p->spec.numa >= 0 ? p->spec.numa : vhost_node(vid);
	vhost_tx_map(sw, p);
	/* Pairs with the acquire loads in vhost_rx/vhost_tx. */
	__atomic_store_n(&p->vid, vid, __ATOMIC_RELEASE);
	for (uint16_t q = 0; q < SW_MAX_QUEUES; q++) {
		if (!(p->vq_ready & (1U << (2 * q + 1))))
			continue;
		if (sw_poll_add(sw, p, q, 1, err, sizeof(err)))
			log_err(p->spec.name, "rx queue %u: %s", q, err);
	}
	p->connects++;
	log_info(p->spec.name, "guest connected (device %d, %u vrings, NUMA "
		 "node %d)", vid, nvr, p->node);
out:
	pthread_mutex_unlock(&sw->lock);
	return ret;
}

static void vhost_destroy_device(int vid)
{
	struct sw *sw = vhost_sw;
	struct sw_port *p;

	pthread_mutex_lock(&sw->lock);
	p = vhost_port_of(sw, vid);
	if (!p || __atomic_load_n(&p->vid, __ATOMIC_RELAXED) != vid)
		goto out;
	__atomic_store_n(&p->tx_ready, false, __ATOMIC_RELAXED);
	__atomic_store_n(&p->vid, -1, __ATOMIC_RELAXED);
	while (sw_poll_remove(sw, p) == -ENOMEM)
		usleep(1000);
	/* No worker sends to or polls the device after this. */
	sw_sync(sw);
	p->disconnects++;
	log_info(p->spec.name, "guest gone (device %d); the port waits for "
		 "it", vid);
out:
	pthread_mutex_unlock(&sw->lock);
}

static int vhost_vring_state(int vid, uint16_t qid, int enable)
{
	struct sw *sw = vhost_sw;
	struct sw_port *p;
	char err[128];

	pthread_mutex_lock(&sw->lock);
	p = vhost_port_of(sw, vid);
	if (!p)
		goto out;
	if (qid >= 2 * SW_MAX_QUEUES || qid >= 2 * p->spec.queues) {
		if (enable)
			log_err(p->spec.name, "the guest enabled vring %u: "
				"more than the port's %u queue pairs, not "
				"served", qid, p->spec.queues);
		goto out;
	}
	if (enable)
		p->vq_ready |= 1U << qid;
	else
		p->vq_ready &= ~(1U << qid);
	if (__atomic_load_n(&p->vid, __ATOMIC_RELAXED) != vid)
		goto out;	/* new_device picks it up */
	if (enable)
		rte_vhost_enable_guest_notification(vid, qid, 0);
	if (!(qid & 1))
		vhost_tx_map(sw, p);
	else if (enable && sw_poll_add(sw, p, qid / 2, 1, err, sizeof(err)))
		log_err(p->spec.name, "rx queue %u: %s", qid / 2, err);
out:
	pthread_mutex_unlock(&sw->lock);
	return 0;
}

static void vhost_destroy_connection(int vid)
{
	struct sw *sw = vhost_sw;
	struct sw_port *p;

	pthread_mutex_lock(&sw->lock);
	p = vhost_port_of(sw, vid);
	if (p)
		p->vq_ready = 0;
	pthread_mutex_unlock(&sw->lock);
}

static const struct rte_vhost_device_ops vhost_dev_ops = {
	.new_device = vhost_new_device,
	.destroy_device = vhost_destroy_device,
	.vring_state_changed = vhost_vring_state,
	.destroy_connection = vhost_destroy_connection,
};

/* A socket file at PATH nobody accepts on: a server that died. */
static bool stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	bool stale;
	int fd;

	if (lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	stale = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
		errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int vhost_open(struct sw *sw, struct sw_port *p, char *err,
		      size_t errlen)
{
	const char *path = p->spec.path;
	uint64_t flags = p->spec.client ? RTE_VHOST_USER_CLIENT : 0;

	vhost_sw = sw;
	if (!p->spec.client && stale_socket(path)) {
		log_info(p->spec.name, "removing stale socket %s", path);
		unlink(path);
	}
	if (rte_vhost_driver_register(path, flags)) {
		snprintf(err, errlen, "%s: rte_vhost would not take the socket "
			 "(in use, or its directory is missing?)", path);
		return -EINVAL;
	}
	p->registered = true;
	if (rte_vhost_driver_disable_features(path, SW_VHOST_OFFLOADS) ||
	    rte_vhost_driver_callback_register(path, &vhost_dev_ops)) {
		snprintf(err, errlen, "%s: rte_vhost set-up failed", path);
		return -EINVAL;
	}
	if (rte_vhost_driver_start(path)) {
		snprintf(err, errlen, "%s: rte_vhost would not %s", path,
			 p->spec.client ? "start connecting" : "listen");
		return -EINVAL;
	}
	/* rte_vhost creates it under the umask: keep others out. */
	if (!p->spec.client && chmod(path, 0660))
		log_warn(p->spec.name, "chmod %s: %s", path, strerror(errno));
	log_info(p->spec.name, "vhost-user %s on %s, up to %u queue pair(s)",
		 p->spec.client ? "client" : "server", path, p->spec.queues);
	return 0;
}

/* ---- eth control ---- */

static int eth_open(struct sw *sw, struct sw_port *p, char *err,
		    size_t errlen)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t nrxd = sw->opt.ring_size, ntxd = sw->opt.ring_size;
	size_t nlen = strcspn(p->spec.devargs, ",");
	int ret;

	if (nlen >= sizeof(p->eth_name)) {
		snprintf(err, errlen, "devargs: device name too long");
		return -EINVAL;
	}
	memcpy(p->eth_name, p->spec.devargs, nlen);
	p->eth_name[nlen] = '\0';
	if (!rte_eth_dev_get_port_by_name(p->eth_name, &p->eth_id)) {
		snprintf(err, errlen, "devargs: %s is already a port",
			 p->eth_name);
		return -EEXIST;
	}
	ret = rte_dev_probe(p->spec.devargs);
	if (ret) {
		snprintf(err, errlen, "devargs %s: DPDK would not probe it "
			 "(%s)", p->spec.devargs, rte_strerror(-ret));
		return -EINVAL;
	}
	p->probed = true;
	if (rte_eth_dev_get_port_by_name(p->eth_name, &p->eth_id)) {
		snprintf(err, errlen, "devargs %s: probed, but no ethdev "
			 "called %s", p->spec.devargs, p->eth_name);
		return -ENODEV;
	}
	ret = rte_eth_dev_info_get(p->eth_id, &info);
	if (ret) {
		snprintf(err, errlen, "%s: no device info (%s)", p->eth_name,
			 rte_strerror(-ret));
		return ret;
	}
	p->nrxq = p->spec.queues;
	if (p->nrxq > info.max_rx_queues) {
		snprintf(err, errlen, "queues=%u: %s has at most %u", p->nrxq,
			 p->eth_name, info.max_rx_queues);
		return -EINVAL;
	}
	/* A TX queue per worker where the device has them: no lock. */
	p->ntxq = (uint16_t)RTE_MAX(p->nrxq, sw->nworkers);
	p->ntxq = (uint16_t)RTE_MIN(p->ntxq, info.max_tx_queues);
	ret = rte_eth_dev_configure(p->eth_id, p->nrxq, p->ntxq, &conf);
	if (ret && p->ntxq != p->nrxq) {
		p->ntxq = p->nrxq;
		ret = rte_eth_dev_configure(p->eth_id, p->nrxq, p->ntxq, &conf);
	}
	if (ret) {
		snprintf(err, errlen, "%s: configure %u/%u queues: %s",
			 p->eth_name, p->nrxq, p->ntxq, rte_strerror(-ret));
		return ret;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(p->eth_id, &nrxd, &ntxd);
	if (p->spec.numa < 0) {
		p->node = rte_eth_dev_socket_id(p->eth_id);
		if (p->node == SOCKET_ID_ANY)
			p->node = -1;
	}
	/* Each RX queue's mbufs come from its worker's node; the workers
	 * start polling once the port is in place (sw_port_add). */
	for (uint16_t q = 0; q < p->nrxq; q++) {
		struct sw_lcore *lc;

		ret = sw_poll_assign(sw, p, q, 1, err, errlen);
		if (ret)
			return ret;
		lc = sw->lcores[p->rxq_worker[q]];
		ret = rte_eth_rx_queue_setup(p->eth_id, q, nrxd, (unsigned int)
					     (lc->node < 0 ? 0 : lc->node),
					     NULL, lc->mp);
		if (ret) {
			snprintf(err, errlen, "%s: rx queue %u: %s",
				 p->eth_name, q, rte_strerror(-ret));
			return ret;
		}
	}
	for (uint16_t q = 0; q < p->ntxq; q++) {
		ret = rte_eth_tx_queue_setup(p->eth_id, q, ntxd,
					     (unsigned int)(p->node < 0 ? 0 :
							    p->node), NULL);
		if (ret) {
			snprintf(err, errlen, "%s: tx queue %u: %s",
				 p->eth_name, q, rte_strerror(-ret));
			return ret;
		}
		rte_spinlock_init(&p->txlock[q]);
	}
	p->tx_shared = p->ntxq < sw->nworkers;
	for (unsigned int w = 0; w < sw->nworkers; w++)
		p->txq_of[w] = (uint8_t)(w % p->ntxq);
	if (sw->opt.mtu != 1500) {
		ret = rte_eth_dev_set_mtu(p->eth_id, (uint16_t)sw->opt.mtu);
		if (ret)
			log_warn(p->spec.name, "%s: mtu %u: %s", p->eth_name,
				 sw->opt.mtu, rte_strerror(-ret));
	}
	ret = rte_eth_dev_start(p->eth_id);
	if (ret) {
		snprintf(err, errlen, "%s: start: %s", p->eth_name,
			 rte_strerror(-ret));
		return ret;
	}
	p->started = true;
	ret = rte_eth_promiscuous_enable(p->eth_id);
	if (ret)
		log_warn(p->spec.name, "%s: promiscuous mode: %s (frames for "
			 "the VMs' addresses may not arrive)", p->eth_name,
			 rte_strerror(-ret));
	log_info(p->spec.name, "ethdev %s (port %u), %u rx / %u tx queue(s)%s",
		 p->eth_name, p->eth_id, p->nrxq, p->ntxq,
		 p->tx_shared ? ", tx queues shared by workers (locked)" : "");
	return 0;
}

static void eth_close(struct sw_port *p)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;

	if (!p->probed)
		return;
	if (!rte_eth_dev_get_port_by_name(p->eth_name, &p->eth_id)) {
		if (!rte_eth_dev_info_get(p->eth_id, &info))
			dev = info.device;
		if (p->started)
			rte_eth_dev_stop(p->eth_id);
		rte_eth_dev_close(p->eth_id);
	}
	if (dev && rte_dev_remove(dev))
		log_warn(p->spec.name, "%s: not removed from DPDK", p->eth_name);
}

static void port_close(struct sw_port *p)
{
	if (p->spec.type == SW_PORT_VHOST && p->registered) {
		/* In server mode this removes the socket file too. */
		if (rte_vhost_driver_unregister(p->spec.path))
			log_warn(p->spec.name, "rte_vhost kept %s",
				 p->spec.path);
	} else if (p->spec.type == SW_PORT_ETH) {
		eth_close(p);
	}
}

static void port_free(struct sw_port *p)
{
	if (!p)
		return;
	rte_free(p->txc);
	rte_free(p);
}

/* ---- add and remove ---- */

static int check_spec(struct sw *sw, const struct sw_port_spec *s, char *err,
		      size_t errlen)
{
	for (int i = 0; i < s->nlcores; i++)
		if (!sw_worker(sw, s->lcores[i])) {
			snprintf(err, errlen, "lcores: %u is not a worker "
				 "lcore", s->lcores[i]);
			return -EINVAL;
		}
#if HAVE_NUMA
	if (s->numa >= 0 && numa_available() >= 0 && s->numa > numa_max_node()) {
		snprintf(err, errlen, "numa=%d: the highest node is %d",
			 s->numa, numa_max_node());
		return -EINVAL;
	}
#endif
	if (s->type != SW_PORT_VHOST && s->type != SW_PORT_ETH) {
		snprintf(err, errlen, "type: vhost or eth");
		return -EINVAL;
	}
	if (sw_port_find(sw, s->name)) {
		snprintf(err, errlen, "%s: a port has that name", s->name);
		return -EEXIST;
	}
	for (int i = 0; s->type == SW_PORT_VHOST && i < SW_MAX_PORTS; i++) {
		struct sw_port *o = sw->ports[i];

		if (o && o->spec.type == SW_PORT_VHOST &&
		    !strcmp(o->spec.path, s->path)) {
			snprintf(err, errlen, "%s: port %s has that socket",
				 s->path, o->spec.name);
			return -EEXIST;
		}
	}
	return 0;
}

int sw_port_add(struct sw *sw, const struct sw_port_spec *spec, char *err,
		size_t errlen)
{
	struct sw_port *p = NULL;
	int idx, ret;

	pthread_mutex_lock(&sw->lock);
	ret = check_spec(sw, spec, err, errlen);
	if (ret)
		goto out;
	for (idx = 0; idx < SW_MAX_PORTS && sw->ports[idx]; idx++)
		;
	if (idx == SW_MAX_PORTS) {
		snprintf(err, errlen, "%d ports already", SW_MAX_PORTS);
		ret = -ENOSPC;
		goto out;
	}
	p = rte_zmalloc("sw_port", sizeof(*p), RTE_CACHE_LINE_SIZE);
	if (p)
		p->txc = rte_zmalloc("sw_txc", sw->nworkers * sizeof(*p->txc),
				     RTE_CACHE_LINE_SIZE);
	if (!p || !p->txc) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	p->spec = *spec;
	p->idx = (uint16_t)idx;
	p->sw = sw;
	p->vid = -1;
	p->node = spec->numa;
	for (int q = 0; q < SW_MAX_QUEUES; q++)
		p->rxq_worker[q] = SW_NO_LCORE;
	if (spec->type == SW_PORT_VHOST) {
		p->ops = &vhost_ops;
		ret = vhost_open(sw, p, err, errlen);
	} else {
		p->ops = &eth_ops;
		ret = eth_open(sw, p, err, errlen);
	}
	if (ret)
		goto fail;
	/* The mactable is cleared of idx when a port leaves. */
	sw->ports[idx] = p;
	ret = sw_publish_conf(sw);
	if (!ret)
		ret = sw_poll_publish(sw);
	if (ret) {
		sw->ports[idx] = NULL;
		while (sw_publish_conf(sw) == -ENOMEM)
			usleep(1000);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	log_info(p->spec.name, "added as port %d (vlan %u)", idx,
		 spec->vlan);
	pthread_mutex_unlock(&sw->lock);
	return 0;

fail:
	if (p) {
		while (sw_poll_remove(sw, p) == -ENOMEM)
			usleep(1000);
		pthread_mutex_unlock(&sw->lock);
		port_close(p);
		port_free(p);
		return ret;
	}
out:
	pthread_mutex_unlock(&sw->lock);
	return ret;
}

int sw_port_remove(struct sw *sw, const char *name)
{
	struct sw_port *p;
	uint32_t n;

	pthread_mutex_lock(&sw->lock);
	p = sw_port_find(sw, name);
	if (!p) {
		pthread_mutex_unlock(&sw->lock);
		return -ENOENT;
	}
	sw->ports[p->idx] = NULL;
	while (sw_publish_conf(sw) == -ENOMEM)
		usleep(1000);
	while (sw_poll_remove(sw, p) == -ENOMEM)
		usleep(1000);
	sw_sync(sw);
	/* No worker holds the port now, and none learns on it any more. */
	n = mt_flush_port(&sw->mt, p->idx);
	__atomic_store_n(&p->vid, -1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sw->lock);
	/* rte_vhost may call back (destroy_device) while unregistering:
	 * the callbacks take sw->lock and no longer find the port. */
	port_close(p);
	log_info(name, "removed (%u MAC entries with it)", n);
	port_free(p);
	return 0;
}
