/* The userspace virtio-net datapath (vhost=off): one thread per queue pair,
 * each over its own tap queue fd. Every packet on a tap fd starts with the
 * 12-byte virtio_net_hdr_v1 (the tap is opened with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR and TUNSETVNETHDRSZ 12, little-endian on x86), which is the
 * driver's own header under VERSION_1: transmit writes the driver's frame
 * to the tap as it is after checking and copying the header; receive reads
 * one packet into a bounce buffer and scatters it over the driver's
 * buffers (several with MRG_RXBUF, num_buffers in the first).
 *
 * The tap fds stay the caller's (net/tap.c opens and closes them); start
 * makes them non-blocking, sets TUNSETOFFLOAD from the negotiated GUEST_*
 * features and set_pairs attaches/detaches tap queues (TUNSETQUEUE) so the
 * kernel steers only to pairs in use. Neither ioctl is needed for a non-tap
 * fd (the tests use SOCK_SEQPACKET socketpairs): ENOTTY is taken quietly.
 * The tap's MTU is the caller's to set to the device's mtu. */
#ifndef TERN_NET_USPACE_H
#define TERN_NET_USPACE_H

#include "virtio/device.h"
#include "virtio/net_backend.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Packets (and returned buffers) per direction per wakeup: one busy
 * direction cannot starve the other, nor stop. */
#define NET_USPACE_BUDGET 64
/* One packet from the tap: header, the largest frame the spec allows
 * (65589 bytes: Ethernet, IPv6, 64 KiB payload) and a VLAN tag, rounded.
 * A read that fills it whole may have been cut: dropped. Transmit drops a
 * chain longer than this. */
#define NET_USPACE_BOUNCE (12 + 65536 + 128)

/* Counters, per pair. Written by the pair's thread only; read with
 * net_uspace_stats from anywhere. */
struct net_uspace_stats {
	uint64_t tx_packets, tx_bytes;	/* bytes: frames, headers not counted */
	uint64_t tx_dropped;		/* driver header short or refused */
	uint64_t tx_errors;		/* the tap refused the write */
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_dropped;		/* did not fit the driver's buffers,
					 * or a header it cannot take */
	uint64_t rx_errors;		/* reading the tap failed */
};

struct net_uspace_pair;

struct net_uspace {
	char name[24];			/* the device's: "virtio-net0" */
	unsigned int npairs;		/* tap fds we were given */
	int tap_fds[NET_MAX_PAIRS];
	bool attached[NET_MAX_PAIRS];	/* tap queue state (TUNSETQUEUE) */
	struct virtio_bus bus;
	const struct guest_mem *mem;
	uint64_t features;		/* negotiated, at start */
	unsigned int nrunning;		/* pairs with a thread */
	struct net_uspace_pair *pairs;	/* npairs of them */
};

extern const struct net_backend_ops net_uspace_ops;

/* `name` names the device in log lines ("virtio-net0 q3: ..."). One tap
 * queue fd per pair, all attached (as TUNSETIFF with IFF_MULTI_QUEUE
 * leaves them). */
int net_uspace_create(struct net_uspace *u, const char *name,
		      const int *tap_fds, unsigned int npairs);
/* How a ring violation reaches the transport (DEVICE_NEEDS_RESET): the
 * same bus the device got from virtio_net_set_bus. Until it is set a
 * violation only stops the queue and logs. */
void net_uspace_set_bus(struct net_uspace *u, struct virtio_bus bus);
void net_uspace_destroy(struct net_uspace *u);

/* The counters of pair `pair` (zero for a pair out of range). */
void net_uspace_stats(const struct net_uspace *u, unsigned int pair,
		      struct net_uspace_stats *out);

/* TUN_F_* offloads for a tap whose reader is a driver with `features`
 * (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, GUEST_UFO). */
unsigned int net_uspace_tun_offloads(uint64_t features);

#endif
