/* vhost-net: the kernel serves a virtio-net device's data queues. tern
 * opens one /dev/vhost-net per queue pair (a vhost-net instance serves
 * exactly one receive and one transmit queue, its vrings 0 and 1), points
 * it at guest RAM and the rings, hands it the queue's ioeventfd as KICK and
 * irqfd as CALL, and binds the pair's tap queue as the backend. From then
 * on a guest kick wakes a kernel worker (vhost-<pid>) that moves frames
 * between the rings and the tap and injects the interrupt itself: no exit
 * to tern, no tern thread.
 *
 * Features, who owns which bit:
 *  - this backend, features(): the ring and transport bits vhost reports
 *    and tern can use (VIRTIO_F_INDIRECT_DESC 28, VIRTIO_F_EVENT_IDX 29,
 *    VIRTIO_F_VERSION_1 32, VIRTIO_F_RING_PACKED 34 when a kernel offers
 *    it, VIRTIO_NET_F_MRG_RXBUF 15), plus VIRTIO_NET_OFFLOAD_FEATURES
 *    (virtio/net.h: CSUM, GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, HOST_TSO4/6, HOST_ECN),
 *    which the tap serves, plus VIRTIO_NET_F_MQ 22 when the tap has more
 *    than one queue (a capacity: one tap queue per pair). vhost bits tern
 *    must not pass on are dropped: VHOST_F_LOG_ALL 26 (migration, set by vhost_net_set_log), bit 27 (for
 *    vhost it is VHOST_NET_F_VIRTIO_NET_HDR, "vhost adds the header"; the
 *    tap does that here), VIRTIO_F_NOTIFY_ON_EMPTY 24 (legacy only),
 *    VIRTIO_F_ACCESS_PLATFORM 33 (no vIOMMU) and VIRTIO_F_RING_RESET 40
 *    (needs a per-queue reset op the backend contract does not have).
 *  - the device, backend-independent: the control plane it implements
 *    itself whatever moves the frames: VIRTIO_NET_F_MTU 3, MAC 5,
 *    STATUS 16, CTRL_VQ 17, CTRL_RX 18, CTRL_VLAN 19, CTRL_RX_EXTRA 20,
 *    GUEST_ANNOUNCE 21, CTRL_MAC_ADDR 23, SPEED_DUPLEX 63. The device
 *    offers own & (features() | those), never a ring or offload bit the
 *    backend did not report, and MQ only if features() has it. With
 *    vhost, CTRL_RX/CTRL_VLAN/CTRL_MAC_ADDR filters cannot be enforced (the
 *    tap delivers everything; the spec lets a device deliver more) and MTU
 *    is the device's to set on the tap. VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
 *    must not be offered: changing offloads at run time needs an op the
 *    contract lacks (it would call tap_set_offload).
 *
 * Queue pairs: start() gets every pair the driver set up and configures
 * them all, but attaches (binds the tap queue and the vhost backend) only
 * pair 0 when VIRTIO_NET_F_MQ was negotiated, as the spec wants until the
 * driver sends VQ_PAIRS_SET (virtio 1.2 §5.1.6.5.5); set_pairs(n) then
 * attaches pairs < n and detaches the rest. Without MQ every pair given is
 * attached (there is one). Tap queues of pairs that are not attached are
 * detached too, so the host stack never steers frames to a queue nobody
 * reads.
 *
 * Not thread-safe: the device serialises its calls (start, stop,
 * set_pairs, set_log). */
#ifndef TERN_VHOST_KERNEL_H
#define TERN_VHOST_KERNEL_H

#include "net/tap.h"
#include "virtio/net_backend.h"

#include <stdbool.h>
#include <stdint.h>

struct vhost_net_pair {
	int fd;				/* /dev/vhost-net */
	bool configured;		/* memory and rings set by start */
	bool attached;			/* backend bound to the tap queue */
	struct net_pair_io io;		/* as given to start */
	/* Readable when vhost met a guest error on that queue (vq_err): the
	 * owner may poll these and mark the device NEEDS_RESET. Index 0 rx,
	 * 1 tx. */
	int err_fd[2];
	uint32_t last_base[2];		/* VHOST_GET_VRING_BASE at stop: the
					 * avail index, and a packed ring's
					 * used index in the high half */
};

struct vhost_net {
	char name[24];			/* "virtio-net0" */
	struct tap *tap;		/* not owned */
	unsigned int npairs;		/* tap->nqueues */
	struct vhost_net_pair pairs[NET_MAX_PAIRS];
	uint64_t vhost_features;	/* VHOST_GET_FEATURES */
	uint64_t acked;			/* last VHOST_SET_FEATURES */
	const struct guest_mem *mem;	/* while started */
	unsigned int nconfigured;	/* pairs set up by start */
	unsigned int nattached;		/* pairs 0..nattached-1 bound */
	/* Dirty logging (vhost_net_set_log). */
	bool logging;
	uint64_t log_base, log_size;
	int log_fd;			/* eventfd vhost signals on log writes */
};

extern const struct net_backend_ops vhost_net_ops;

/* Opens one /dev/vhost-net per tap queue, VHOST_SET_OWNER (the kernel
 * starts a worker thread per instance) and VHOST_GET_FEATURES. -ENOENT
 * with a log line when /dev/vhost-net is missing, -EACCES when it may not
 * be opened: the caller may then fall back to the userspace backend
 * (vhost=auto). `tap` must outlive v. */
int vhost_net_create(struct vhost_net *v, const char *name, struct tap *tap);
void vhost_net_destroy(struct vhost_net *v);

/* Dirty-page logging for live migration: vhost sets bit (gpa / 4096) of the
 * bitmap at log_base for every guest page it writes (used rings included)
 * and signals v->log_fd. log_base must stay mapped, be 8-byte aligned and
 * hold one bit per 4 KiB page up to the top of guest RAM (`size` bytes are
 * checked against that once RAM is known). Takes effect at once on a
 * running device (VHOST_SET_LOG_BASE, VHOST_SET_LOG_FD, VHOST_F_LOG_ALL,
 * VHOST_VRING_F_LOG on each ring) and at every later start. NULL turns
 * logging off. -ENOTSUP if vhost does not offer VHOST_F_LOG_ALL.
 * Not wired to anything yet: tern has no migration. */
int vhost_net_set_log(struct vhost_net *v, void *log_base, uint64_t size);

#endif
