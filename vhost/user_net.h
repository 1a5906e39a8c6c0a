/* virtio-net's data queues served by a vhost-user backend
 * (`--net vhost-user=SOCKET`): a net backend (virtio/net_backend.h) like
 * vhost-net's, so the virtio-net device model, its control queue and
 * feature rules stay tern's (virtio/net.c) and only the receive/transmit
 * rings go to the other process (DPDK, a switch, ...). Queue pair i is
 * rings 2i and 2i+1 on the backend too; VIRTIO_NET_CTRL_MQ becomes
 * SET_VRING_ENABLE. GET_QUEUE_NUM is read as queue pairs, as DPDK means
 * it. */
#ifndef TERN_VHOST_USER_NET_H
#define TERN_VHOST_USER_NET_H

#include "vhost/user_front.h"
#include "virtio/net_backend.h"

struct vu_net {
	struct vu_front front;
	unsigned int npairs;		/* started */
};

int vu_net_create(struct vu_net *v, const char *name, const char *socket,
		  struct loop *loop);
void vu_net_destroy(struct vu_net *v);

/* Queue pairs the backend offers. */
unsigned int vu_net_max_pairs(const struct vu_net *v);

extern const struct net_backend_ops vu_net_ops;

#endif
