/* virtio-blk served by a vhost-user backend (`--disk vhost-user=SOCKET`):
 * the device model the guest sees, over the virtio-pci transport, with
 * the backend's config space (capacity, segment limits, ...) and its
 * features, and its queues handed to the backend whole through
 * vhost/user_front.c. tern never touches a request. */
#ifndef TERN_VHOST_USER_BLK_DEV_H
#define TERN_VHOST_USER_BLK_DEV_H

#include "core/loop.h"
#include "core/memory.h"
#include "vhost/user_front.h"
#include "virtio/device.h"

#define VU_BLK_CONFIG_SIZE 60		/* virtio_blk_config through
					 * write_zeroes_may_unmap + pad */

struct vu_blk_dev {
	char name[32];
	struct vu_front front;
	const struct guest_mem *mem;
	uint64_t features;		/* offered to the driver */
	unsigned int nq;
	uint8_t config[VU_BLK_CONFIG_SIZE];	/* read at create */
};

/* Connects to the backend at SOCKET. QUEUES 0: what the backend offers
 * (GET_QUEUE_NUM) capped by MAX_QUEUES (the vCPU count); otherwise
 * exactly QUEUES, which the backend must offer. 0 or -errno, logged. */
int vu_blk_dev_create(struct vu_blk_dev *d, const char *name,
		      const char *socket, unsigned int queues,
		      unsigned int max_queues, const struct guest_mem *mem,
		      struct loop *loop);
void vu_blk_dev_destroy(struct vu_blk_dev *d);

extern const struct virtio_dev_ops vu_blk_dev_ops;

#endif
