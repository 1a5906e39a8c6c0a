/* The contract between the virtio-net device model (virtio/net.c) and what
 * moves its packets: vhost-net in the kernel (vhost/kernel.c) or a
 * userspace thread per queue pair (net/uspace.c), both over a tap
 * (net/tap.c). The device owns config space, feature negotiation and the
 * control queue; a backend owns the data queues once started. A const ops
 * table per backend kind, written by nobody at run time. */
#ifndef TERN_VIRTIO_NET_BACKEND_H
#define TERN_VIRTIO_NET_BACKEND_H

#include "core/memory.h"
#include "virtio/device.h"

#include <stdint.h>

#define NET_MAX_PAIRS 16

/* Queue pair i is virtqueues 2i (receive) and 2i+1 (transmit). */
struct net_pair_io {
	struct virtio_queue_io rx, tx;
};

struct net_backend_ops {
	const char *name;		/* "vhost", "userspace" */
	/* Virtio feature bits this backend can serve (a vhost-net fd
	 * answers VHOST_GET_FEATURES; userspace knows its own). */
	uint64_t (*features)(void *be);
	/* Serve `npairs` pairs with the negotiated features. Guest RAM is
	 * `mem`; the kick fds are KVM ioeventfds and the call fds KVM irqfds:
	 * a backend waits on kick and writes call, nothing more. */
	int (*start)(void *be, const struct guest_mem *mem, uint64_t features,
		     const struct net_pair_io *pairs, unsigned int npairs);
	/* Stop serving (device reset, driver unbind): on return nothing
	 * touches guest memory or the fds; the next start is a fresh one. */
	void (*stop)(void *be);
	/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: the driver uses `n` pairs now. */
	int (*set_pairs)(void *be, unsigned int n);
	/* The device lifecycle's pause (core/device.h): stop serving as stop
	 * does, and record in base[2i] and base[2i + 1] where pair i's
	 * receive and transmit rings continue (virtio_dev_ops.pause's
	 * encoding): the position after the last chain returned, so a
	 * chain taken and not returned is offered again. */
	int (*pause)(void *be, uint16_t *base);
	/* start, from those positions (after a load: the record's). */
	int (*resume)(void *be, const struct guest_mem *mem, uint64_t features,
		      const struct net_pair_io *pairs, unsigned int npairs,
		      const uint16_t *base);
};

#endif
