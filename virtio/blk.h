/* virtio-blk (virtio 1.2 §5.2) on io_uring: one I/O thread per queue, each
 * with its own ring that reads the queue's kick eventfd, moves the data
 * and signals the call eventfd. The model knows nothing of PCI. */
#ifndef TERN_VIRTIO_BLK_H
#define TERN_VIRTIO_BLK_H

#include "block/image.h"
#include "core/memory.h"
#include "virtio/device.h"

#include <pthread.h>
#include <stdbool.h>

#define BLK_DEFAULT_QUEUE_SIZE 256
#define BLK_SEG_MAX 126			/* data segments per request */
#define BLK_SERIAL_LEN 20		/* VIRTIO_BLK_ID_BYTES */

struct blk_config {
	const char *path;
	unsigned int queues;
	bool direct, readonly, packed;
	uint16_t queue_size;
	char serial[BLK_SERIAL_LEN + 1];
	int numa_node;			/* pin I/O threads near it; -1 none */
};

struct blk_queue;

struct virtio_blk {
	char name[24];			/* "virtio-blk0" */
	struct blk_config cfg;
	struct blk_image img;
	const struct guest_mem *mem;
	struct virtio_bus bus;
	uint64_t features;		/* offered */
	unsigned int nrunning;
	struct blk_queue *queues;	/* cfg.queues of them */
};

extern const struct virtio_dev_ops virtio_blk_ops;

/* Opens the image (exclusive lock) and prepares the queues. */
int virtio_blk_create(struct virtio_blk *b, const char *name,
		      const struct blk_config *cfg,
		      const struct guest_mem *mem);
/* The transport is created after the device: it hands over its bus. */
void virtio_blk_set_bus(struct virtio_blk *b, struct virtio_bus bus);
void virtio_blk_destroy(struct virtio_blk *b);

#endif
