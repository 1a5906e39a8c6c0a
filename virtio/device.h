/* The contract between a virtio device model (blk, net) and its transport
 * (virtio/pci.c). A device knows queues only as "ring addresses, a kick
 * eventfd to wait on, a call eventfd to signal"; it never sees PCI, MSI-X,
 * KVM or the bus. Both tables are const and written by nobody at run time. */
#ifndef TERN_VIRTIO_DEVICE_H
#define TERN_VIRTIO_DEVICE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

struct state_reader;
struct state_writer;

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_RING_PACKED 34

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_MAX_QUEUES 64

struct virtio_queue_io {
	bool enabled;
	uint16_t size;
	uint64_t desc, driver, device;	/* guest-physical ring areas */
	int kick_fd;			/* eventfd: the driver kicked */
	int call_fd;			/* eventfd: write 1 to interrupt */
};

/* What a device may ask of its transport: "the guest broke a rule, mark
 * me DEVICE_NEEDS_RESET and tell the driver". Like vhost's VRING_ERR, an
 * eventfd the main loop serves, so an I/O thread never waits on a lock a
 * resetting vCPU holds while it waits for that thread. */
struct virtio_bus {
	atomic_bool *broken;
	int err_fd;
};

static inline void virtio_bus_needs_reset(const struct virtio_bus *b)
{
	uint64_t one = 1;

	atomic_store(b->broken, true);
	if (write(b->err_fd, &one, sizeof(one)) < 0)
		return;		/* a counter at its limit is still set */
}

struct virtio_dev_ops {
	uint16_t device_id;		/* 1 net, 2 block */
	uint32_t config_size;
	uint64_t (*features)(void *dev);
	void (*config_read)(void *dev, uint32_t off, uint8_t *data,
			    uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data,
			     uint32_t len);
	/* DRIVER_OK: serve the queues with the negotiated features. */
	int (*start)(void *dev, uint64_t features,
		     const struct virtio_queue_io *q, unsigned int nq);
	/* Device reset: on return nothing of the device touches guest
	 * memory or the eventfds any more. */
	void (*stop)(void *dev);

	/* The device lifecycle (core/device.h), which the transport
	 * implements for any model and calls these for the model's part.
	 * pause and resume are called only on a started device (between
	 * start and stop), from a thread that holds no vCPU: pause quiesces
	 * the queues (no new chain is taken, the ones taken finish and are
	 * returned used, the driver interrupted if it asks), records in
	 * base[i] where queue i continues (virtq_init's start_idx: the
	 * position after the last chain returned, a packed ring's wrap
	 * counter in bit 15), and on return nothing of the device touches
	 * guest memory or the eventfds. resume continues from base[] with
	 * the negotiated features and the queues as at start; after a load
	 * into a fresh instance it is the device's first start. A model
	 * without pause cannot be paused while started (-ENOTSUP). */
	int (*pause)(void *dev, uint16_t *base);
	int (*resume)(void *dev, uint64_t features,
		      const struct virtio_queue_io *q, unsigned int nq,
		      const uint16_t *base);
	/* The model's own state as fields of the transport's record (tags
	 * VIRTIO_STATE_MODEL_TAG and up), only while paused; load checks
	 * every value before it applies any (-EINVAL, logged), and calls
	 * state_reader_close before applying (the transport has read its
	 * fields by then, so an unknown one refuses the record). NULL: the
	 * model has no state of its own beyond its queues. */
	void (*save)(void *dev, struct state_writer *w);
	int (*load)(void *dev, struct state_reader *r);
};

/* The first state tag a model's own fields may use. */
#define VIRTIO_STATE_MODEL_TAG 0x100

#endif
