/* vhost-user net backend: see vhost/user_net.h. */
#include "vhost/user_net.h"

#include "virtio/net.h"

#include <errno.h>

#define F(b) (1ULL << (b))

static uint64_t vun_features(void *be)
{
	struct vu_net *v = be;

	/* Dirty logging and protocol negotiation are the front-end's. */
	return v->front.backend_features &
	       ~(F(VU_F_PROTOCOL_FEATURES) | F(VU_F_LOG_ALL));
}

static int vun_resume(void *be, const struct guest_mem *mem,
		      uint64_t features, const struct net_pair_io *pairs,
		      unsigned int npairs, const uint16_t *base)
{
	struct vu_net *v = be;
	struct virtio_queue_io q[2 * NET_MAX_PAIRS];
	int ret;

	if (!npairs || npairs > vu_net_max_pairs(v))
		return -EINVAL;
	for (unsigned int i = 0; i < npairs; i++) {
		q[2 * i] = pairs[i].rx;
		q[2 * i + 1] = pairs[i].tx;
	}
	/* The control plane (config space: MAC, status, MTU; the control
	 * queue) is tern's device model, offered to the driver whatever the
	 * backend does: those bits are not the backend's to hear about (DPDK
	 * refuses SET_FEATURES with a bit it did not offer, and it offers
	 * neither MAC nor STATUS). */
	features &= ~VIRTIO_NET_CTRL_FEATURES;
	/* The positions are in guest RAM, where the backend reads them. */
	ret = base ? vu_front_resume(&v->front, mem, features, q, 2 * npairs)
		   : vu_front_start(&v->front, mem, features, q, 2 * npairs);
	if (!ret)
		v->npairs = npairs;
	return ret;
}

static int vun_start(void *be, const struct guest_mem *mem, uint64_t features,
		     const struct net_pair_io *pairs, unsigned int npairs)
{
	return vun_resume(be, mem, features, pairs, npairs, NULL);
}

static int vun_pause(void *be, uint16_t *base)
{
	struct vu_net *v = be;
	int ret = vu_front_pause(&v->front, base);

	if (!ret)
		v->npairs = 0;
	return ret;
}

static void vun_stop(void *be)
{
	struct vu_net *v = be;

	vu_front_stop(&v->front);
	v->npairs = 0;
}

static int vun_set_pairs(void *be, unsigned int n)
{
	struct vu_net *v = be;
	int ret = 0;

	if (!n || n > v->npairs)
		return -EINVAL;
	for (unsigned int i = 0; i < v->npairs && !ret; i++) {
		ret = vu_front_enable(&v->front, 2 * i, i < n);
		ret = ret ?: vu_front_enable(&v->front, 2 * i + 1, i < n);
	}
	return ret;
}

const struct net_backend_ops vu_net_ops = {
	.name = "vhost-user",
	.features = vun_features,
	.start = vun_start,
	.stop = vun_stop,
	.set_pairs = vun_set_pairs,
	.pause = vun_pause,
	.resume = vun_resume,
};

unsigned int vu_net_max_pairs(const struct vu_net *v)
{
	unsigned int n = v->front.queue_num;

	if (n > NET_MAX_PAIRS)
		n = NET_MAX_PAIRS;
	return n ? n : 1;
}

int vu_net_create(struct vu_net *v, const char *name, const char *socket,
		  struct loop *loop)
{
	v->npairs = 0;
	return vu_front_init(&v->front, name, socket, loop);
}

void vu_net_destroy(struct vu_net *v)
{
	vu_front_stop(&v->front);
	vu_front_destroy(&v->front);
}
