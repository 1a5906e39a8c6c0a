/* virtio-net (virtio 1.2 §5.1): config space, feature negotiation and the
 * control queue. The data queues belong to a backend (virtio/net_backend.h):
 * vhost-net in the kernel or the userspace datapath (net/uspace.c). The
 * model knows nothing of PCI.
 *
 * Queues: pair i is virtqueues 2i (receive) and 2i+1 (transmit); the
 * control queue follows the last pair the driver may use: index 2N with
 * N = pairs when VIRTIO_NET_F_MQ is negotiated, else N = 1 (§5.1.2). The
 * transport is created with 2 * pairs + 1 queues.
 *
 * Multiqueue: at DRIVER_OK the backend is started on every pair the driver
 * enabled (the longest run from pair 0 with both queues enabled), then told
 * set_pairs(1): after reset only receiveq1/transmitq1 are in use (§5.1.6.5.5)
 * until VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, which goes to set_pairs(n). */
#ifndef TERN_VIRTIO_NET_H
#define TERN_VIRTIO_NET_H

#include "core/memory.h"
#include "virtio/device.h"
#include "virtio/net_backend.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Feature bits (§5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_CTRL_RX_EXTRA 20
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* Offloads a vnet-header tap serves, whichever backend moves the packets
 * (UFO/USO left out: Linux guests no longer send UFO, taps learned USO
 * only in 6.2). */
#define VIRTIO_NET_OFFLOAD_FEATURES                                            \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |  \
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN))

/* The control plane: the device's own whatever the backend (vhost-net
 * reports only datapath bits). */
#define VIRTIO_NET_CTRL_FEATURES                                               \
	((1ULL << VIRTIO_NET_F_MTU) | (1ULL << VIRTIO_NET_F_MAC) |             \
	 (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_CTRL_VQ) |      \
	 (1ULL << VIRTIO_NET_F_CTRL_RX) | (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR))

#define VIRTIO_NET_S_LINK_UP 1

/* The header before every packet: struct virtio_net_hdr with num_buffers,
 * 12 bytes under VERSION_1 whether MRG_RXBUF is negotiated or not. All
 * fields little-endian. */
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN 0x80
/* Byte offsets in the header. */
#define VIRTIO_NET_HDR_FLAGS 0
#define VIRTIO_NET_HDR_GSO_TYPE 1
#define VIRTIO_NET_HDR_HDR_LEN 2
#define VIRTIO_NET_HDR_GSO_SIZE 4
#define VIRTIO_NET_HDR_CSUM_START 6
#define VIRTIO_NET_HDR_CSUM_OFFSET 8
#define VIRTIO_NET_HDR_NUM_BUFFERS 10

/* Control queue (§5.1.6.5): class, command, data | ack. */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_RX_ALLUNI 2
#define VIRTIO_NET_CTRL_RX_NOMULTI 3
#define VIRTIO_NET_CTRL_RX_NOUNI 4
#define VIRTIO_NET_CTRL_RX_NOBCAST 5
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_VLAN 2
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS 5
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET 0

#define NET_CONFIG_SIZE 12		/* mac, status, max pairs, mtu */
#define NET_DEFAULT_QUEUE_SIZE 256
#define NET_MAC_TABLE_MAX 64		/* entries kept of MAC_TABLE_SET */

struct net_config {
	unsigned int pairs;		/* 1..NET_MAX_PAIRS */
	uint8_t mac[6];			/* offered (F_MAC) unless all zero */
	uint16_t mtu;			/* offered (F_MTU) unless 0; 68.. */
	uint16_t queue_size;		/* for the transport: power of 2 */
	bool packed;
};

/* What the driver asked of receive filtering (VIRTIO_NET_CTRL_RX and
 * MAC_TABLE_SET). Recorded, not applied: the tap hands the guest every
 * frame the host bridges to it, and filtering is best-effort by the spec
 * ("unwanted packets could still arrive"). */
struct net_rx_filter {
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	uint32_t n_uni, n_multi;	/* as the driver sent them */
	bool uni_overflow, multi_overflow; /* more than NET_MAC_TABLE_MAX */
	unsigned int n_kept;		/* uni first, then multi */
	uint8_t macs[NET_MAC_TABLE_MAX][6];
};

struct net_ctrl;

struct virtio_net {
	char name[24];			/* "virtio-net0" */
	struct net_config cfg;
	const struct guest_mem *mem;
	const struct net_backend_ops *be_ops;
	void *be;
	struct virtio_bus bus;
	uint64_t features;		/* offered */
	uint64_t negotiated;		/* at the last start */
	bool be_running;
	unsigned int pairs_started;	/* handed to the backend */
	unsigned int pairs_active;	/* VQ_PAIRS_SET */
	uint64_t guest_offloads;	/* GUEST_OFFLOADS_SET */
	struct net_rx_filter rx;	/* control thread only */
	/* mac[] is read by config reads (vCPU threads) and written by
	 * MAC_ADDR_SET (control thread) and reset. */
	pthread_mutex_t lock;
	uint8_t mac[6];
	struct net_ctrl *ctrl;
};

extern const struct virtio_dev_ops virtio_net_ops;

/* Checks the configuration and works out the features to offer: the
 * device's own; the datapath ones (ring formats, offloads, MRG_RXBUF, MQ)
 * only as far as the backend serves them, the control plane (MAC, MTU,
 * STATUS, CTRL_*) whatever the backend says; then prerequisites (§5.1.3.1).
 * The backend is not started until the driver says DRIVER_OK. */
int virtio_net_create(struct virtio_net *n, const char *name,
		      const struct net_config *cfg, const struct guest_mem *mem,
		      const struct net_backend_ops *be_ops, void *be);
/* The transport is created after the device: it hands over its bus. */
void virtio_net_set_bus(struct virtio_net *n, struct virtio_bus bus);
void virtio_net_destroy(struct virtio_net *n);

/* The MAC the driver uses now (config space), for tests and the API. */
void virtio_net_get_mac(struct virtio_net *n, uint8_t mac[6]);

struct virtq_chain;

/* Executes one control command (exposed for tests and fuzzing): reads the
 * chain's device-readable part, writes VIRTIO_NET_OK or VIRTIO_NET_ERR
 * into the ack byte (the first device-writable byte) and into *ack.
 * -EINVAL when the chain has no device-writable byte at all: the driver
 * broke the protocol and the device needs a reset. */
int virtio_net_ctrl(struct virtio_net *n, const struct virtq_chain *c,
		    uint8_t *ack);

/* Feature bits the driver may enable with GUEST_OFFLOADS_SET. */
#define VIRTIO_NET_GUEST_OFFLOADS                                              \
	(1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |   \
	 1ULL << VIRTIO_NET_F_GUEST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_ECN |    \
	 1ULL << VIRTIO_NET_F_GUEST_UFO)

/* Drops the features whose prerequisites are missing (§5.1.3.1): e.g.
 * HOST_TSO4 without CSUM, MQ without CTRL_VQ. */
uint64_t virtio_net_features_fixup(uint64_t f);

/* Datapath header rules, shared by the backends that see headers.
 *
 * Transmit: `hdr` is a private copy of the driver's header and `payload`
 * the frame length after it. 0 if the header asks only what `features`
 * allow (gso types, ECN, checksum offload with csum_start/offset inside
 * the frame); the flags are then reduced to NEEDS_CSUM and num_buffers
 * cleared, so what goes on to the tap is exactly what was checked.
 * -EINVAL: drop the packet. */
int virtio_net_tx_hdr_check(uint8_t hdr[VIRTIO_NET_HDR_LEN], uint32_t payload,
			    uint64_t features);
/* Receive: a header from the tap made fit for a driver with `features`
 * (flags cleared without GUEST_CSUM, gso types only as negotiated).
 * -EINVAL: the packet cannot be given to this driver; drop it. */
int virtio_net_rx_hdr_fix(uint8_t hdr[VIRTIO_NET_HDR_LEN], uint64_t features);

#endif
