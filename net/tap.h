/* A Linux tap device as the wire of a virtio-net device: one file
 * descriptor per queue pair, each carrying frames prefixed by a virtio-net
 * header the kernel reads and writes (IFF_VNET_HDR), so checksum and
 * segmentation offloads pass straight between guest and host stack. Both
 * net backends sit on it: vhost-net hands the fds to the kernel, the
 * userspace backend reads and writes them itself.
 * (Documentation/networking/tuntap.rst, linux/if_tun.h.) */
#ifndef TERN_NET_TAP_H
#define TERN_NET_TAP_H

#include "virtio/net.h"
#include "virtio/net_backend.h"

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* The virtio-net header as a tap with IFF_VNET_HDR reads and writes it:
 * struct virtio_net_hdr (10 bytes) plus num_buffers when the driver
 * negotiated VERSION_1 or MRG_RXBUF (12 bytes). */
#define TAP_VNET_HDR_LEN 12
#define TAP_VNET_HDR_LEN_LEGACY 10

/* What a vnet-header tap serves, whichever backend moves the frames, is
 * VIRTIO_NET_OFFLOAD_FEATURES (virtio/net.h): the tap accepts any checksum
 * or TSO request the guest sends and, once told by tap_set_offload, hands
 * over partial checksums and TSO frames the guest said it can take. */

struct tap {
	char name[IFNAMSIZ];
	unsigned int nqueues;
	int fds[NET_MAX_PAIRS];		/* -1 when closed */
	bool created;			/* it did not exist before tap_open */
	bool multi_queue;		/* IFF_MULTI_QUEUE */
	bool attached[NET_MAX_PAIRS];	/* TUNSETQUEUE state per queue */
	int vnet_hdr_len;		/* TUNSETVNETHDRSZ */
	unsigned int offload;		/* TUN_F_* last set */
};

/* Opens tap NAME with `nqueues` queues (1..NET_MAX_PAIRS), creating it
 * when absent: IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, plus IFF_MULTI_QUEUE when
 * nqueues > 1 or when NAME already is a multi-queue tap. NULL or "" lets
 * the kernel pick a name (t->name has it on return). Every fd is
 * O_NONBLOCK|O_CLOEXEC and the header is TAP_VNET_HDR_LEN bytes. A tap
 * tern created vanishes when the last fd closes; a persistent one stays.
 * Errors, each with a log line naming the tap: -ENOENT no /dev/net/tun,
 * -EPERM or -EACCES not allowed, -EINVAL a bad name or NAME exists as
 * something else (not a tap; a single-queue tap when several queues are
 * asked), -EBUSY a single-queue tap already in use. */
int tap_open(struct tap *t, const char *name, unsigned int nqueues);
void tap_close(struct tap *t);

/* TUNSETOFFLOAD from negotiated virtio-net features: the flags say what
 * the tap may hand us, i.e. what the guest can receive: TUN_F_CSUM if
 * GUEST_CSUM, TUN_F_TSO4/6 if GUEST_TSO4/6, TUN_F_TSO_ECN if GUEST_ECN
 * (the TSO ones only with GUEST_CSUM, as the spec requires of a driver). */
int tap_set_offload(struct tap *t, uint64_t virtio_features);

/* TUNSETVNETHDRSZ: TAP_VNET_HDR_LEN, or TAP_VNET_HDR_LEN_LEGACY for a
 * legacy driver that negotiated neither VERSION_1 nor MRG_RXBUF. Like the
 * offloads it is one setting for the whole tap. */
int tap_set_vnet_hdr_len(struct tap *t, int len);

/* Attaches or detaches queue q (TUNSETQUEUE IFF_ATTACH_QUEUE or
 * IFF_DETACH_QUEUE): a detached queue gets no frames from the host and
 * refuses writes, which is what VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET needs.
 * Idempotent. A single-queue tap's queue 0 is always attached: enabling it
 * succeeds, disabling it is -EINVAL. */
int tap_queue_enable(struct tap *t, unsigned int q, bool on);

/* Sets or clears IFF_UP on the interface (SIOCSIFFLAGS). */
int tap_set_up(struct tap *t, bool up);

#endif
