#include "virtio/net.h"

#include "core/bytes.h"
#include "core/iov.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/state.h"
#include "virtio/queue.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define F(bit) (1ULL << (bit))

/* Commands taken per kick before the control thread looks at its stop fd
 * again; the rest waits for the next turn (the kick is re-posted). */
#define CTRL_KICK_BUDGET 64

struct net_ctrl {
	struct virtio_net *n;
	char name[40];			/* "virtio-net0 q2" */
	struct virtq vq;
	struct virtio_queue_io io;
	int stop_fd;
	pthread_t thread;
	unsigned int index;		/* its queue */
	bool running, broken;
	struct virtq_chain chain;	/* scratch for virtq_pop and push */
};

/* --- header rules ------------------------------------------------------ */

uint64_t virtio_net_features_fixup(uint64_t f)
{
	static const struct {
		uint8_t bit;
		uint64_t needs;		/* any one of these */
	} req[] = {
		/* Order matters: ECN looks at the TSO bits left standing. */
		{ VIRTIO_NET_F_GUEST_TSO4, F(VIRTIO_NET_F_GUEST_CSUM) },
		{ VIRTIO_NET_F_GUEST_TSO6, F(VIRTIO_NET_F_GUEST_CSUM) },
		{ VIRTIO_NET_F_GUEST_UFO, F(VIRTIO_NET_F_GUEST_CSUM) },
		{ VIRTIO_NET_F_GUEST_ECN, F(VIRTIO_NET_F_GUEST_TSO4) |
					  F(VIRTIO_NET_F_GUEST_TSO6) },
		{ VIRTIO_NET_F_HOST_TSO4, F(VIRTIO_NET_F_CSUM) },
		{ VIRTIO_NET_F_HOST_TSO6, F(VIRTIO_NET_F_CSUM) },
		{ VIRTIO_NET_F_HOST_UFO, F(VIRTIO_NET_F_CSUM) },
		{ VIRTIO_NET_F_HOST_ECN, F(VIRTIO_NET_F_HOST_TSO4) |
					 F(VIRTIO_NET_F_HOST_TSO6) },
		{ VIRTIO_NET_F_CTRL_RX, F(VIRTIO_NET_F_CTRL_VQ) },
		{ VIRTIO_NET_F_CTRL_VLAN, F(VIRTIO_NET_F_CTRL_VQ) },
		{ VIRTIO_NET_F_CTRL_RX_EXTRA, F(VIRTIO_NET_F_CTRL_VQ) },
		{ VIRTIO_NET_F_GUEST_ANNOUNCE, F(VIRTIO_NET_F_CTRL_VQ) },
		{ VIRTIO_NET_F_MQ, F(VIRTIO_NET_F_CTRL_VQ) },
		{ VIRTIO_NET_F_CTRL_MAC_ADDR, F(VIRTIO_NET_F_CTRL_VQ) },
		{ VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, F(VIRTIO_NET_F_CTRL_VQ) },
	};

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if ((f & F(req[i].bit)) && !(f & req[i].needs))
			f &= ~F(req[i].bit);
	return f;
}

int virtio_net_tx_hdr_check(uint8_t hdr[VIRTIO_NET_HDR_LEN], uint32_t payload,
			    uint64_t features)
{
	uint8_t flags = hdr[VIRTIO_NET_HDR_FLAGS];
	uint8_t gso = hdr[VIRTIO_NET_HDR_GSO_TYPE];
	uint8_t type = gso & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool csum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;

	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (gso & VIRTIO_NET_HDR_GSO_ECN)
			return -EINVAL;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(features & F(VIRTIO_NET_F_HOST_TSO4)))
			return -EINVAL;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(features & F(VIRTIO_NET_F_HOST_TSO6)))
			return -EINVAL;
		break;
	default:	/* UDP (UFO), UDP_L4 (USO): never offered */
		return -EINVAL;
	}
	if ((gso & VIRTIO_NET_HDR_GSO_ECN) &&
	    !(features & F(VIRTIO_NET_F_HOST_ECN)))
		return -EINVAL;
	if (type != VIRTIO_NET_HDR_GSO_NONE &&
	    (!csum || get_le16(hdr + VIRTIO_NET_HDR_GSO_SIZE) == 0))
		return -EINVAL;
	if (csum) {
		uint32_t start = get_le16(hdr + VIRTIO_NET_HDR_CSUM_START);
		uint32_t off = get_le16(hdr + VIRTIO_NET_HDR_CSUM_OFFSET);

		if (!(features & F(VIRTIO_NET_F_CSUM)) ||
		    start + off + 2 > payload)
			return -EINVAL;
	}
	/* Flags we do not know are ignored (§5.1.6.2.2), DATA_VALID is the
	 * driver's to leave clear: neither reaches the tap. */
	hdr[VIRTIO_NET_HDR_FLAGS] = csum ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0;
	hdr[VIRTIO_NET_HDR_NUM_BUFFERS] = 0;
	hdr[VIRTIO_NET_HDR_NUM_BUFFERS + 1] = 0;
	return 0;
}

int virtio_net_rx_hdr_fix(uint8_t hdr[VIRTIO_NET_HDR_LEN], uint64_t features)
{
	uint8_t flags = hdr[VIRTIO_NET_HDR_FLAGS];
	uint8_t gso = hdr[VIRTIO_NET_HDR_GSO_TYPE];
	uint8_t type = gso & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool csum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;

	if (features & F(VIRTIO_NET_F_GUEST_CSUM)) {
		flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM |
			 VIRTIO_NET_HDR_F_DATA_VALID;
	} else {
		/* A partial checksum this driver cannot finish. */
		if (csum)
			return -EINVAL;
		flags = 0;
	}
	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		gso = VIRTIO_NET_HDR_GSO_NONE;	/* ECN means nothing here */
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(features & F(VIRTIO_NET_F_GUEST_TSO4)))
			return -EINVAL;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(features & F(VIRTIO_NET_F_GUEST_TSO6)))
			return -EINVAL;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (!(features & F(VIRTIO_NET_F_GUEST_UFO)))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (type != VIRTIO_NET_HDR_GSO_NONE &&
	    (!csum || ((gso & VIRTIO_NET_HDR_GSO_ECN) &&
		       !(features & F(VIRTIO_NET_F_GUEST_ECN)))))
		return -EINVAL;
	hdr[VIRTIO_NET_HDR_FLAGS] = flags;
	hdr[VIRTIO_NET_HDR_GSO_TYPE] = gso;
	return 0;
}

/* --- control commands --------------------------------------------------- */

static bool mac_is_unicast(const uint8_t *mac)
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, 6);
}

static uint8_t ctrl_rx(struct virtio_net *n, uint8_t cmd,
		       struct iov_reader *r)
{
	bool *mode[] = {
		[VIRTIO_NET_CTRL_RX_PROMISC] = &n->rx.promisc,
		[VIRTIO_NET_CTRL_RX_ALLMULTI] = &n->rx.allmulti,
		[VIRTIO_NET_CTRL_RX_ALLUNI] = &n->rx.alluni,
		[VIRTIO_NET_CTRL_RX_NOMULTI] = &n->rx.nomulti,
		[VIRTIO_NET_CTRL_RX_NOUNI] = &n->rx.nouni,
		[VIRTIO_NET_CTRL_RX_NOBCAST] = &n->rx.nobcast,
	};
	uint8_t on;

	/* ALLUNI..NOBCAST belong to CTRL_RX_EXTRA, which we do not offer;
	 * a driver that sends them anyway gets them recorded all the same,
	 * they cost nothing. */
	if (!(n->negotiated & F(VIRTIO_NET_F_CTRL_RX)) ||
	    cmd >= sizeof(mode) / sizeof(mode[0]) || r->left != 1 ||
	    !iov_reader_take(r, &on, 1) || on > 1)
		return VIRTIO_NET_ERR;
	*mode[cmd] = on;
	return VIRTIO_NET_OK;
}

/* One table of MAC_TABLE_SET: le32 entries, then entries * 6 bytes. */
static bool mac_table(struct iov_reader *r, struct net_rx_filter *f, bool multi)
{
	uint8_t le[4];
	uint32_t count;

	if (!iov_reader_take(r, le, 4))
		return false;
	count = le[0] | le[1] << 8 | le[2] << 16 | (uint32_t)le[3] << 24;
	if ((uint64_t)count * 6 > r->left)
		return false;
	if (multi)
		f->n_multi = count;
	else
		f->n_uni = count;
	for (uint32_t i = 0; i < count; i++) {
		if (f->n_kept == NET_MAC_TABLE_MAX) {
			if (multi)
				f->multi_overflow = true;
			else
				f->uni_overflow = true;
			return iov_reader_take(r, NULL, (uint64_t)(count - i) * 6);
		}
		if (!iov_reader_take(r, f->macs[f->n_kept++], 6))
			return false;
	}
	return true;
}

static uint8_t ctrl_mac(struct virtio_net *n, uint8_t cmd, struct iov_reader *r)
{
	struct net_rx_filter f;
	uint8_t mac[6];

	switch (cmd) {
	case VIRTIO_NET_CTRL_MAC_TABLE_SET:
		if (!(n->negotiated & F(VIRTIO_NET_F_CTRL_RX)))
			return VIRTIO_NET_ERR;
		/* All or nothing: the table changes only if both halves
		 * are well formed and nothing trails them. */
		f = n->rx;
		f.n_kept = 0;
		f.uni_overflow = f.multi_overflow = false;
		if (!mac_table(r, &f, false) || !mac_table(r, &f, true) ||
		    r->left)
			return VIRTIO_NET_ERR;
		n->rx = f;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC_ADDR_SET:
		if (!(n->negotiated & F(VIRTIO_NET_F_CTRL_MAC_ADDR)) ||
		    r->left != 6 || !iov_reader_take(r, mac, 6) || !mac_is_unicast(mac))
			return VIRTIO_NET_ERR;
		/* Config space shows it before the command is used. */
		pthread_mutex_lock(&n->lock);
		memcpy(n->mac, mac, 6);
		pthread_mutex_unlock(&n->lock);
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static uint8_t ctrl_mq(struct virtio_net *n, uint8_t cmd, struct iov_reader *r)
{
	uint8_t le[2];
	unsigned int pairs;
	int ret;

	if (!(n->negotiated & F(VIRTIO_NET_F_MQ)) ||
	    cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || r->left != 2 ||
	    !iov_reader_take(r, le, 2))
		return VIRTIO_NET_ERR;
	pairs = get_le16(le);
	/* Beyond max_virtqueue_pairs, or pairs the driver did not enable
	 * before DRIVER_OK (it MUST configure queues before using them). */
	if (pairs < 1 || pairs > n->cfg.pairs || pairs > n->pairs_started)
		return VIRTIO_NET_ERR;
	if (pairs == n->pairs_active)
		return VIRTIO_NET_OK;
	ret = n->be_ops->set_pairs(n->be, pairs);
	if (ret) {
		log_warn(n->name, "%u queue pairs: %s", pairs, strerror(-ret));
		return VIRTIO_NET_ERR;
	}
	n->pairs_active = pairs;
	return VIRTIO_NET_OK;
}

static uint8_t ctrl_offloads(struct virtio_net *n, uint8_t cmd,
			     struct iov_reader *r)
{
	uint8_t le[8];
	uint64_t v = 0;

	if (!(n->negotiated & F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) ||
	    cmd != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || r->left != 8 ||
	    !iov_reader_take(r, le, 8))
		return VIRTIO_NET_ERR;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | le[i];
	/* Only offloads negotiated at FEATURES_OK may be switched on. */
	if (v & ~(n->negotiated & VIRTIO_NET_GUEST_OFFLOADS))
		return VIRTIO_NET_ERR;
	n->guest_offloads = v;
	return VIRTIO_NET_OK;
}

int virtio_net_ctrl(struct virtio_net *n, const struct virtq_chain *c,
		    uint8_t *ack)
{
	const struct iovec *in = c->iov + c->nr_out;
	uint8_t *ackp = NULL, hdr[2], status = VIRTIO_NET_ERR;
	struct iov_reader r;

	for (unsigned int i = 0; i < c->nr_in && !ackp; i++)
		if (in[i].iov_len)
			ackp = in[i].iov_base;
	if (!ackp)
		return -EINVAL;
	iov_reader_init(&r, c->iov, c->nr_out);
	if (iov_reader_take(&r, hdr, 2)) {
		switch (hdr[0]) {
		case VIRTIO_NET_CTRL_RX:
			status = ctrl_rx(n, hdr[1], &r);
			break;
		case VIRTIO_NET_CTRL_MAC:
			status = ctrl_mac(n, hdr[1], &r);
			break;
		case VIRTIO_NET_CTRL_MQ:
			status = ctrl_mq(n, hdr[1], &r);
			break;
		case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
			status = ctrl_offloads(n, hdr[1], &r);
			break;
		default:	/* VLAN, ANNOUNCE, ...: not offered */
			break;
		}
	}
	*ackp = status;
	*ack = status;
	return 0;
}

/* --- the control queue thread ------------------------------------------ */

static void net_broken(struct virtio_net *n)
{
	if (n->bus.broken)
		virtio_bus_needs_reset(&n->bus);
	else
		log_err(n->name, "device needs reset, but no bus to say so");
}

/* Answers what the driver made available, up to a budget. */
static void ctrl_process(struct net_ctrl *c)
{
	unsigned int budget = CTRL_KICK_BUDGET;
	bool pushed = false;
	uint64_t one = 1;
	uint8_t ack;

	while (!c->broken) {
		int ret = 0;

		virtq_disable_kicks(&c->vq);
		while (budget && (ret = virtq_pop(&c->vq, &c->chain)) > 0) {
			budget--;
			if (virtio_net_ctrl(c->n, &c->chain, &ack) < 0) {
				log_warn(c->name, "command without an ack byte "
					 "(%u bytes, nothing writable)",
					 c->chain.out_len);
				ret = -EINVAL;
				break;
			}
			virtq_push(&c->vq, &c->chain, 1);
			pushed = true;
		}
		if (ret < 0) {
			/* virtq_pop logged the rule, or we did above. */
			c->broken = true;
			net_broken(c->n);
			break;
		}
		if (!budget) {
			/* More may wait: come back after a look at stop. */
			if (write(c->io.kick_fd, &one, sizeof(one)) < 0)
				log_warn(c->name, "re-kick: %s", strerror(errno));
			break;
		}
		if (!virtq_enable_kicks(&c->vq))
			break;
	}
	if (pushed && virtq_need_notify(&c->vq) &&
	    write(c->io.call_fd, &one, sizeof(one)) < 0)
		log_warn(c->name, "interrupt: %s", strerror(errno));
}

static void *ctrl_thread(void *arg)
{
	struct net_ctrl *c = arg;
	uint64_t v;

	pthread_setname_np(pthread_self(), "tern-net-ctrl");
	sandbox_enter(SANDBOX_NET_CTRL);

	/* Commands may have been made available before the thread ran. */
	ctrl_process(c);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->stop_fd, .events = POLLIN },
			{ .fd = c->io.kick_fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err(c->name, "control thread stops: %s",
				strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			if (read(c->io.kick_fd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				log_warn(c->name, "kick: %s", strerror(errno));
			ctrl_process(c);
		}
	}
	return NULL;
}

static void ctrl_stop(struct virtio_net *n)
{
	struct net_ctrl *c = n->ctrl;
	uint64_t one = 1;

	if (!c || !c->running)
		return;
	if (write(c->stop_fd, &one, sizeof(one)) < 0)
		log_err(c->name, "stopping: %s", strerror(errno));
	pthread_join(c->thread, NULL);
	c->running = false;
}

static int ctrl_start(struct virtio_net *n, unsigned int index,
		      const struct virtio_queue_io *io, uint16_t base)
{
	struct net_ctrl *c = n->ctrl;
	uint64_t v;
	int ret;

	snprintf(c->name, sizeof(c->name), "%s q%u", n->name, index);
	c->io = *io;
	c->index = index;
	c->broken = false;
	ret = virtq_init(&c->vq, c->name, n->mem, io->size, io->desc,
			 io->driver, io->device, n->negotiated, base);
	if (ret)
		return ret;
	while (read(c->stop_fd, &v, sizeof(v)) > 0)
		;
	ret = -pthread_create(&c->thread, NULL, ctrl_thread, c);
	if (ret)
		return ret;
	c->running = true;
	return 0;
}

/* --- the device --------------------------------------------------------- */

static uint64_t net_features(void *dev)
{
	return ((struct virtio_net *)dev)->features;
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	struct virtio_net *n = dev;
	uint8_t cfg[NET_CONFIG_SIZE];
	uint16_t v;

	pthread_mutex_lock(&n->lock);
	memcpy(cfg, n->mac, 6);
	pthread_mutex_unlock(&n->lock);
	v = htole16(VIRTIO_NET_S_LINK_UP);
	memcpy(cfg + 6, &v, 2);
	v = htole16((uint16_t)n->cfg.pairs);
	memcpy(cfg + 8, &v, 2);
	v = htole16(n->cfg.mtu);
	memcpy(cfg + 10, &v, 2);
	if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
		memcpy(data, cfg + off, len);
}

/* The whole config space is read-only under VERSION_1 (§5.1.4.2); the
 * legacy way of setting the MAC is gone, MAC_ADDR_SET replaces it. */
static void net_config_write(void *dev, uint32_t off, const uint8_t *data,
			     uint32_t len)
{
	struct virtio_net *n = dev;

	log_debug(n->name, "config write at %u (%u bytes) ignored", off, len);
}

/* Back to what reset promises: the configured MAC, an empty filter table
 * (promiscuous, as the tap behaves), one pair. */
static void net_reset_state(struct virtio_net *n)
{
	pthread_mutex_lock(&n->lock);
	memcpy(n->mac, n->cfg.mac, 6);
	pthread_mutex_unlock(&n->lock);
	memset(&n->rx, 0, sizeof(n->rx));
	n->rx.promisc = true;
	n->pairs_active = 1;
	n->pairs_started = 0;
	n->guest_offloads = n->negotiated & VIRTIO_NET_GUEST_OFFLOADS;
}

static void net_stop(void *dev)
{
	struct virtio_net *n = dev;

	ctrl_stop(n);
	if (n->be_running)
		n->be_ops->stop(n->be);
	n->be_running = false;
	net_reset_state(n);
}

/* Starts the backend and the control queue from BASE (NULL: fresh rings,
 * after reset) with the driver-side state as it is (reset, or loaded). */
static int net_run(struct virtio_net *n, uint64_t features,
		   const struct virtio_queue_io *q, unsigned int nq,
		   const uint16_t *base)
{
	struct net_pair_io pairs[NET_MAX_PAIRS];
	unsigned int max, np, ctrl;
	int ret;

	n->negotiated = features;
	max = (features & F(VIRTIO_NET_F_MQ)) ? n->cfg.pairs : 1;
	for (np = 0; np < max && 2 * np + 1 < nq && q[2 * np].enabled &&
		     q[2 * np + 1].enabled;
	     np++)
		pairs[np] = (struct net_pair_io){ q[2 * np], q[2 * np + 1] };
	if (!np) {
		log_err(n->name, "receiveq1 or transmitq1 not enabled");
		return -EINVAL;
	}
	if (np < max)
		log_info(n->name, "driver enabled %u of %u queue pairs", np,
			 max);
	if (n->pairs_active > np) {
		log_err(n->name, "%u queue pairs in use, %u enabled",
			n->pairs_active, np);
		return -EINVAL;
	}
	ret = base ? n->be_ops->resume(n->be, n->mem, features, pairs, np,
				       base)
		   : n->be_ops->start(n->be, n->mem, features, pairs, np);
	if (ret) {
		log_err(n->name, "starting the %s backend: %s",
			n->be_ops->name, strerror(-ret));
		return ret;
	}
	n->be_running = true;
	n->pairs_started = np;
	/* Only pair 1 is in use after reset, whatever the backend serves;
	 * after a pause what the driver had asked for. */
	if (np > 1 && (ret = n->be_ops->set_pairs(n->be, n->pairs_active))) {
		log_err(n->name, "one queue pair: %s", strerror(-ret));
		goto err;
	}
	if (!(features & F(VIRTIO_NET_F_CTRL_VQ)))
		return 0;
	ctrl = 2 * max;
	if (ctrl >= nq || !q[ctrl].enabled) {
		log_warn(n->name, "control queue q%u not enabled", ctrl);
		return 0;
	}
	ret = ctrl_start(n, ctrl, &q[ctrl], base ? base[ctrl] : 0);
	if (ret) {
		log_err(n->name, "q%u: cannot start: %s", ctrl, strerror(-ret));
		goto err;
	}
	return 0;
err:
	net_stop(n);
	return ret;
}

static int net_start(void *dev, uint64_t features,
		     const struct virtio_queue_io *q, unsigned int nq)
{
	struct virtio_net *n = dev;

	n->negotiated = features;
	net_reset_state(n);
	return net_run(n, features, q, nq, NULL);
}

static int net_resume(void *dev, uint64_t features,
		      const struct virtio_queue_io *q, unsigned int nq,
		      const uint16_t *base)
{
	struct virtio_net *n = dev;

	if (!n->be_ops->resume)
		return -ENOTSUP;
	return net_run(n, features, q, nq, base);
}

/* The backend stops its rings and says where they stand; the control
 * thread stops between commands. The driver-side state (MAC, filter,
 * pairs in use, offloads) stays for resume or save. */
static int net_pause(void *dev, uint16_t *base)
{
	struct virtio_net *n = dev;
	struct net_ctrl *c = n->ctrl;
	int ret;

	memset(base, 0, sizeof(*base) * (2 * n->cfg.pairs + 1));
	if (n->be_running) {
		if (!n->be_ops->pause)
			return -ENOTSUP;
		ret = n->be_ops->pause(n->be, base);
		if (ret)
			return ret;
		n->be_running = false;
	}
	if (c->running) {
		ctrl_stop(n);
		base[c->index] = virtq_used_base(&c->vq);
	}
	return 0;
}

enum {
	TAG_MAC = VIRTIO_STATE_MODEL_TAG,
	TAG_PAIRS_ACTIVE,
	TAG_GUEST_OFFLOADS,
	TAG_RX_FLAGS,
	TAG_RX_COUNTS,
	TAG_RX_MACS,
};

#define RX_FLAG_BITS 8		/* promisc .. multi_overflow */

static void net_save(void *dev, struct state_writer *w)
{
	struct virtio_net *n = dev;
	const struct net_rx_filter *rx = &n->rx;
	uint8_t mac[6], counts[12];
	uint8_t flags = rx->promisc | rx->allmulti << 1 | rx->alluni << 2 |
			rx->nomulti << 3 | rx->nouni << 4 | rx->nobcast << 5 |
			rx->uni_overflow << 6 | rx->multi_overflow << 7;

	virtio_net_get_mac(n, mac);
	put_le32(counts, rx->n_uni);
	put_le32(counts + 4, rx->n_multi);
	put_le32(counts + 8, rx->n_kept);
	state_put_bytes(w, TAG_MAC, mac, 6);
	state_put_u32(w, TAG_PAIRS_ACTIVE, n->pairs_active);
	state_put_u64(w, TAG_GUEST_OFFLOADS, n->guest_offloads);
	state_put_u8(w, TAG_RX_FLAGS, flags);
	state_put_bytes(w, TAG_RX_COUNTS, counts, sizeof(counts));
	state_put_bytes(w, TAG_RX_MACS, rx->macs, 6 * rx->n_kept);
}

static int net_load(void *dev, struct state_reader *r)
{
	struct virtio_net *n = dev;
	struct net_rx_filter rx = { 0 };
	uint8_t mac[6], counts[12], flags;
	uint32_t pairs, kept_len;
	uint64_t offloads;
	int ret;

	ret = state_get_bytes(r, TAG_MAC, mac, 6);
	ret = ret ?: state_get_u32(r, TAG_PAIRS_ACTIVE, &pairs);
	ret = ret ?: state_get_u64(r, TAG_GUEST_OFFLOADS, &offloads);
	ret = ret ?: state_get_u8(r, TAG_RX_FLAGS, &flags);
	ret = ret ?: state_get_bytes(r, TAG_RX_COUNTS, counts, sizeof(counts));
	ret = ret ?: state_get_blob(r, TAG_RX_MACS, rx.macs, sizeof(rx.macs),
				    &kept_len);
	if (ret)
		return ret == -ENOENT ? state_bad(n->name, "virtio-net", 0,
						  "a field is missing")
				      : ret;
	if (pairs < 1 || pairs > n->cfg.pairs)
		return state_bad(n->name, "pairs in use", pairs,
				 "more than the device has, or none");
	if (offloads & ~VIRTIO_NET_GUEST_OFFLOADS)
		return state_bad(n->name, "guest offloads", offloads,
				 "not an offload the driver may set");
	rx.n_uni = get_le32(counts);
	rx.n_multi = get_le32(counts + 4);
	rx.n_kept = get_le32(counts + 8);
	if (rx.n_kept > NET_MAC_TABLE_MAX || kept_len != 6 * rx.n_kept)
		return state_bad(n->name, "kept MACs", rx.n_kept,
				 "not what the table holds");
	rx.promisc = flags & 1;
	rx.allmulti = flags >> 1 & 1;
	rx.alluni = flags >> 2 & 1;
	rx.nomulti = flags >> 3 & 1;
	rx.nouni = flags >> 4 & 1;
	rx.nobcast = flags >> 5 & 1;
	rx.uni_overflow = flags >> 6 & 1;
	rx.multi_overflow = flags >> 7 & 1;
	/* The transport read its fields first: anything left unknown
	 * refuses the record before this applies. */
	ret = state_reader_close(r, n->name);
	if (ret)
		return ret;
	pthread_mutex_lock(&n->lock);
	memcpy(n->mac, mac, 6);
	pthread_mutex_unlock(&n->lock);
	n->rx = rx;
	n->pairs_active = pairs;
	n->guest_offloads = offloads;
	return 0;
}

const struct virtio_dev_ops virtio_net_ops = {
	.device_id = 1,
	.config_size = NET_CONFIG_SIZE,
	.features = net_features,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.start = net_start,
	.stop = net_stop,
	.pause = net_pause,
	.resume = net_resume,
	.save = net_save,
	.load = net_load,
};

int virtio_net_create(struct virtio_net *n, const char *name,
		      const struct net_config *cfg, const struct guest_mem *mem,
		      const struct net_backend_ops *be_ops, void *be)
{
	uint64_t own, theirs;
	int ret;

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->cfg = *cfg;
	n->mem = mem;
	n->be_ops = be_ops;
	n->be = be;
	if (!cfg->pairs || cfg->pairs > NET_MAX_PAIRS ||
	    2 * cfg->pairs + 1 > VIRTIO_MAX_QUEUES || !cfg->queue_size ||
	    cfg->queue_size > VIRTQ_MAX_SIZE ||
	    (cfg->queue_size & (cfg->queue_size - 1)) ||
	    (cfg->mtu && cfg->mtu < 68)) {
		log_err(name, "bad configuration: %u pairs, queue size %u, "
			"mtu %u", cfg->pairs, cfg->queue_size, cfg->mtu);
		return -EINVAL;
	}
	own = F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |
	      F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_NET_F_MRG_RXBUF) |
	      VIRTIO_NET_OFFLOAD_FEATURES |
	      (VIRTIO_NET_CTRL_FEATURES & ~(F(VIRTIO_NET_F_MAC) |
					    F(VIRTIO_NET_F_MTU)));
	/* Not offered: CTRL_GUEST_OFFLOADS (the backend contract has no way
	 * to pass a change on to the tap), GUEST/HOST_UFO, CTRL_VLAN. */
	if (cfg->packed)
		own |= F(VIRTIO_F_RING_PACKED);
	if (mac_is_unicast(cfg->mac))
		own |= F(VIRTIO_NET_F_MAC);
	if (cfg->mtu)
		own |= F(VIRTIO_NET_F_MTU);
	if (cfg->pairs > 1)
		own |= F(VIRTIO_NET_F_MQ);
	theirs = be_ops->features(be) | VIRTIO_NET_CTRL_FEATURES;
	n->features = virtio_net_features_fixup(own & theirs);
	if (!(n->features & F(VIRTIO_F_VERSION_1))) {
		log_err(name, "the %s backend does not do VERSION_1",
			be_ops->name);
		return -ENOTSUP;
	}
	ret = pthread_mutex_init(&n->lock, NULL);
	if (ret)
		return -ret;
	n->ctrl = calloc(1, sizeof(*n->ctrl));
	if (!n->ctrl) {
		ret = -ENOMEM;
		goto err;
	}
	n->ctrl->n = n;
	n->ctrl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->ctrl->stop_fd < 0) {
		ret = -errno;
		goto err;
	}
	net_reset_state(n);
	return 0;
err:
	free(n->ctrl);
	n->ctrl = NULL;
	pthread_mutex_destroy(&n->lock);
	return ret;
}

void virtio_net_set_bus(struct virtio_net *n, struct virtio_bus bus)
{
	n->bus = bus;
}

void virtio_net_get_mac(struct virtio_net *n, uint8_t mac[6])
{
	pthread_mutex_lock(&n->lock);
	memcpy(mac, n->mac, 6);
	pthread_mutex_unlock(&n->lock);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n->ctrl)
		return;		/* create failed or destroyed already */
	net_stop(n);
	close(n->ctrl->stop_fd);
	free(n->ctrl);
	n->ctrl = NULL;
	pthread_mutex_destroy(&n->lock);
}
