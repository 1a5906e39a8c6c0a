/* --net: virtio-net behind the virtio-pci transport, its queues moved by
 * one of three backends: vhost-net in the kernel over a tap (vhost=on, or
 * auto where /dev/vhost-net opens), the userspace datapath over a tap
 * (vhost=off, or auto without vhost-net), or another process over
 * vhost-user (vhost-user=SOCKET, no tap). */
#include "vmm/devices.h"

#include "core/log.h"
#include "core/opts.h"
#include "core/sandbox.h"
#include "net/uspace.h"
#include "vhost/kernel.h"
#include "vhost/user_net.h"
#include "virtio/pci.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum vnet_backend { BE_VHOST, BE_USPACE, BE_VHOST_USER };

struct vnet {
	enum vnet_backend be;
	struct tap tap;			/* all but BE_VHOST_USER */
	union {
		struct vhost_net vh;
		struct net_uspace us;
		struct vu_net vun;
	};
	struct virtio_net dev;
	struct virtio_pci t;
	char socket[DEV_SOCKET_MAX + 1];
};

static bool vnet_selects(const struct dev_config *c)
{
	return c->net.model == NET_MODEL_VIRTIO;
}

static int vnet_check(const struct dev_config *c, const char *arg, FILE *err)
{
	const struct net_words *n = &c->net;

	if (n->socket[0] && (n->tap[0] || n->vhost == VHOST_ON ||
			     n->dev.packed))
		return opts_error(err, "net", "'%s': vhost-user= takes mac=, "
				  "queues=, queue-size=, mtu= (no tap, model, "
				  "vhost or packed)", arg);
	return 0;
}

static unsigned int vnet_needs(const struct dev_config *c, int numa_node)
{
	if (c->net.socket[0])
		return SANDBOX_NEED_VHOST_USER;
	return SANDBOX_NEED_TAP |
	       (c->net.vhost != VHOST_OFF ? SANDBOX_NEED_VHOST_NET : 0);
}

static bool vnet_shared(const struct dev_config *c)
{
	return c->net.socket[0];
}

static void vnet_set_bus(void *owner, struct virtio_bus bus)
{
	struct vnet *v = owner;

	virtio_net_set_bus(&v->dev, bus);
	if (v->be == BE_USPACE)
		net_uspace_set_bus(&v->us, bus);
}

static void backend_destroy(struct vnet *v)
{
	switch (v->be) {
	case BE_VHOST:
		vhost_net_destroy(&v->vh);
		break;
	case BE_USPACE:
		net_uspace_destroy(&v->us);
		break;
	case BE_VHOST_USER:
		vu_net_destroy(&v->vun);
		return;		/* no tap */
	}
	tap_close(&v->tap);
}

static void vnet_release(void *owner)
{
	struct vnet *v = owner;

	virtio_net_destroy(&v->dev);
	backend_destroy(v);
	free(v);
}

/* The tap, then vhost-net (or the userspace datapath when vhost is off,
 * or unavailable and auto). */
static int tap_backend(struct vnet *v, const char *id,
		       const struct net_words *n)
{
	int ret = tap_open(&v->tap, n->tap, n->dev.pairs);

	if (ret)
		return ret;
	if (n->vhost != VHOST_OFF) {
		ret = vhost_net_create(&v->vh, id, &v->tap);
		if (!ret) {
			v->be = BE_VHOST;
			return 0;
		}
		if (n->vhost == VHOST_ON) {
			tap_close(&v->tap);
			return ret;
		}
		log_info(id, "no vhost-net (%s): userspace datapath",
			 strerror(-ret));
	}
	ret = net_uspace_create(&v->us, id, v->tap.fds, n->dev.pairs);
	if (ret) {
		tap_close(&v->tap);
		return ret;
	}
	v->be = BE_USPACE;
	return 0;
}

static int vnet_create(const struct dev_config *c, const char *id,
		       const struct dev_env *env, struct device **d)
{
	static const char *const be_ops_name[] = { "vhost-net",
						   "userspace datapath",
						   "vhost-user" };
	const struct net_backend_ops *ops;
	struct net_config dc = c->net.dev;
	struct vnet *v = calloc(1, sizeof(*v));
	void *be;
	int ret;

	if (!v)
		return -ENOMEM;
	if (c->net.socket[0]) {
		unsigned int max;

		memcpy(v->socket, c->net.socket, sizeof(v->socket));
		ret = vu_net_create(&v->vun, id, v->socket, env->host->loop);
		if (ret)
			goto err_free;
		v->vun.front.events = env->host->events;
		v->be = BE_VHOST_USER;
		/* One pair unless asked: DPDK answers GET_QUEUE_NUM with
		 * what it could serve (128), not what it polls, so more
		 * pairs by default would leave the guest's traffic on rings
		 * nobody reads. */
		max = vu_net_max_pairs(&v->vun);
		if (!c->net.pairs_set)
			dc.pairs = 1;
		if (dc.pairs > max) {
			log_err(id, "queues=%u, but %s offers %u pair(s)",
				dc.pairs, v->socket, max);
			ret = -EINVAL;
			goto err_be;
		}
		ops = &vu_net_ops;
		be = &v->vun;
	} else {
		ret = tap_backend(v, id, &c->net);
		if (ret)
			goto err_free;
		ops = v->be == BE_VHOST ? &vhost_net_ops : &net_uspace_ops;
		be = v->be == BE_VHOST ? (void *)&v->vh : (void *)&v->us;
	}
	ret = virtio_net_create(&v->dev, id, &dc, env->host->mem, ops, be);
	if (ret)
		goto err_be;
	virtio_pci_device_init(&v->t, id, &(struct virtio_pci_model){
		.ops = &virtio_net_ops, .dev = &v->dev,
		.nqueues = 2 * dc.pairs + 1, .queue_size = dc.queue_size,
		.set_bus = vnet_set_bus, .release = vnet_release, .owner = v });
	if (v->be == BE_VHOST_USER)
		log_info(id, "vhost-user %s, %u queue pair(s)", v->socket,
			 dc.pairs);
	else
		log_info(id, "tap %s, %u queue pair(s), %s", v->tap.name,
			 dc.pairs, be_ops_name[v->be]);
	*d = &v->t.device;
	return 0;
err_be:
	backend_destroy(v);
err_free:
	log_err(id, "%s", strerror(-ret));
	free(v);
	return ret;
}

/* The userspace datapath's per pair ("pair0.rx_packets") and sums
 * ("rx_packets", "errors"); vhost-net and vhost-user move packets where
 * tern cannot count them. */
static void vnet_counters(struct device *d, dev_counter_fn *put, void *ctx)
{
	const struct vnet *v = (const struct vnet *)((char *)d -
		offsetof(struct vnet, t.device));
	struct net_uspace_stats sum = { 0 };

	if (v->be != BE_USPACE)
		return;
	for (unsigned int q = 0; q < v->us.npairs; q++) {
		struct net_uspace_stats st;

		net_uspace_stats(&v->us, q, &st);
		const struct {
			const char *name;
			uint64_t val, *acc;
		} f[] = {
			{ "rx_packets", st.rx_packets, &sum.rx_packets },
			{ "rx_bytes", st.rx_bytes, &sum.rx_bytes },
			{ "rx_dropped", st.rx_dropped, &sum.rx_dropped },
			{ "rx_errors", st.rx_errors, &sum.rx_errors },
			{ "tx_packets", st.tx_packets, &sum.tx_packets },
			{ "tx_bytes", st.tx_bytes, &sum.tx_bytes },
			{ "tx_dropped", st.tx_dropped, &sum.tx_dropped },
			{ "tx_errors", st.tx_errors, &sum.tx_errors },
		};
		char key[48];

		for (unsigned int k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			snprintf(key, sizeof(key), "pair%u.%s", q, f[k].name);
			put(ctx, key, f[k].val);
			*f[k].acc += f[k].val;
		}
	}
	put(ctx, "rx_packets", sum.rx_packets);
	put(ctx, "rx_bytes", sum.rx_bytes);
	put(ctx, "tx_packets", sum.tx_packets);
	put(ctx, "tx_bytes", sum.tx_bytes);
	put(ctx, "errors", sum.rx_dropped + sum.rx_errors + sum.tx_dropped +
	    sum.tx_errors);
}

const struct device_kind dev_kind_virtio_net = {
	.name = "virtio-net",
	.option = "net",
	.max = VM_MAX_NETS,
	.hotplug = true,
	.selects = vnet_selects,
	.check = vnet_check,
	.sandbox_needs = vnet_needs,
	.shared_memory = vnet_shared,
	.create = vnet_create,
	.counters = vnet_counters,
};
