/* virtio-blk (virtio 1.2 §5.2) on io_uring: one I/O thread per queue, each
 * with its own ring that reads the queue's kick eventfd, moves the data
 * and signals the call eventfd. The model knows nothing of PCI. */
#ifndef TERN_VIRTIO_BLK_H
#define TERN_VIRTIO_BLK_H

#include "block/image.h"
#include "block/uring.h"
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
struct virtq_chain;

#define BLK_IOV_MAX (BLK_SEG_MAX + 2)

/* One request in flight: the engine's request and where its answer goes. */
struct blk_io {
	struct blk_req req;
	struct blk_queue *q;
	uint16_t head, ndesc;
	uint8_t *status;		/* in guest memory */
	uint8_t answer;			/* VIRTIO_BLK_S_* when answered at once */
	uint32_t used_len;		/* on success */
	struct blk_io *next_free;
	struct iovec iov[BLK_IOV_MAX];
};


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

/* Decodes one chain (exposed for tests and fuzzing): 0 = io->req is ready
 * for the engine, 1 = answer at once with io->answer and io->used_len,
 * -EINVAL = no header or status byte (the device needs a reset). */
int virtio_blk_decode(const struct virtio_blk *b, const struct virtq_chain *c,
		      struct blk_io *io);

#endif
