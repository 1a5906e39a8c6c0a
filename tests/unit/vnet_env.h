/* What test_vnet.c (the virtio-net device) and test_uspace.c (its
 * userspace datapath) share: the driver's features, MACs, a device config,
 * the bus a device reports errors on, and a control command sent through
 * the fake driver (fake_ring.h). */
#ifndef TERN_TESTS_VNET_ENV_H
#define TERN_TESTS_VNET_ENV_H

#include "fake_ring.h"
#include "virtio/net.h"

#include <stdatomic.h>

#define F(bit) (1ULL << (bit))
#define MAXQ (2 * 2 + 1)
#define HDR VIRTIO_NET_HDR_LEN

static const uint8_t MAC1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t MAC2[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };

/* Everything the datapath offers, as a driver would take it. */
#define DRV_FEATURES                                                           \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |                       \
	 F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_NET_F_CSUM) |                    \
	 F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |              \
	 F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |                        \
	 F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |                   \
	 F(VIRTIO_NET_F_CTRL_MAC_ADDR))
#define F_MRG F(VIRTIO_NET_F_MRG_RXBUF)

#define OK VIRTIO_NET_OK

static inline struct net_config config(unsigned int pairs)
{
	struct net_config c = { .pairs = pairs, .mtu = 1500,
				.queue_size = 256 };

	memcpy(c.mac, MAC1, 6);
	return c;
}


struct bus_env {
	atomic_bool broken;
	int err_fd;
};

static inline struct virtio_bus bus_init(struct bus_env *b)
{
	atomic_init(&b->broken, false);
	b->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return (struct virtio_bus){ &b->broken, b->err_fd };
}

/* Puts a command on the control queue: the command bytes readable, then
 * `in_len` writable bytes; waits until it is used. Returns the ack. */
static inline int ctrl_send(struct fq *q, const void *out, size_t len,
			    size_t in_len, uint32_t *used_len)
{
	struct seg s[2] = { { galloc((uint32_t)len), (uint32_t)len, false },
			    { galloc(8), (uint32_t)in_len, true } };
	uint32_t id, l;
	uint16_t head;

	memcpy(gp(s[0].gpa), out, len);
	*(uint8_t *)gp(s[1].gpa) = 0xaa;
	head = fq_add(q, s, in_len ? 2 : 1);
	if (!fq_wait(q, &id, &l))
		return -ETIMEDOUT;
	if (id != head)
		return -EPROTO;
	*used_len = l;
	return *(uint8_t *)gp(s[1].gpa);
}



#endif
