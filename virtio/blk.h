/* virtio-blk (virtio 1.2 §5.2) on io_uring: one I/O thread per queue, each
 * with its own ring that reads the queue's kick eventfd, moves the data
 * and signals the call eventfd. The model knows nothing of PCI. */
#ifndef TERN_VIRTIO_BLK_H
#define TERN_VIRTIO_BLK_H

#include "block/image.h"
#include "block/uring.h"
#include "core/counters.h"
#include "core/hostcpu.h"
#include "core/memory.h"
#include "virtio/device.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#define BLK_DEFAULT_QUEUE_SIZE 256
#define BLK_SEG_MAX 126			/* data segments per request */
#define BLK_SERIAL_LEN 20		/* VIRTIO_BLK_ID_BYTES */
#define BLK_MAX_AFFINITY 256		/* (queue, CPU) pairs of a device */
#define BLK_POLL_US_MAX 1000000		/* the longest poll_us asked for */

struct blk_config {
	const char *path;
	unsigned int queues;
	bool direct, readonly, packed;
	uint16_t queue_size;
	char serial[BLK_SERIAL_LEN + 1];
	int numa_node;			/* pin I/O threads near it; -1 none */
	/* Where the queues' threads run: queue q on the CPUs of the pairs
	 * that name q; a queue that none names near numa_node, if set. */
	struct cpu_affinity affinity[BLK_MAX_AFFINITY]; /* (queue, CPU) */
	unsigned int naffinity;
	bool no_fixed_buffers;		/* never register guest RAM with
					 * io_uring (uring_engine_use_memory) */
	unsigned int poll_us;		/* adaptive polling: after work, the
					 * I/O thread polls the ring and the
					 * completions this long before it
					 * sleeps; 0 off */
	bool sqpoll;			/* io_uring SQPOLL (struct
					 * uring_engine_opts) */
	unsigned int sqpoll_idle_ms;
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
	cpu_set_t cpus;			/* cfg.numa_node's, if cpus_set */
	bool cpus_set;
};

extern const struct virtio_dev_ops virtio_blk_ops;

/* Opens the image (exclusive lock) and prepares the queues. */
int virtio_blk_create(struct virtio_blk *b, const char *name,
		      const struct blk_config *cfg,
		      const struct guest_mem *mem);
/* The transport is created after the device: it hands over its bus. */
void virtio_blk_set_bus(struct virtio_blk *b, struct virtio_bus bus);
void virtio_blk_destroy(struct virtio_blk *b);

/* How a queue takes chains and gives them back: virtq_pop/virtq_push, or
 * a vhost-user backend's wrappers that track chains in flight. Both run on
 * the queue's I/O thread. */
struct blk_ring_ops {
	int (*pop)(void *ctx, struct virtq_chain *c);	/* as virtq_pop */
	void (*push)(void *ctx, const struct virtq_chain *c, uint32_t len);
};

/* A ring set up by someone else (vhost/user_blk.c): served by the same
 * I/O thread, engine and request handling as the PCI transport's rings. */
struct blk_ring {
	struct virtq *vq;		/* initialised; stays put until stop */
	int kick_fd;			/* eventfd the driver's kicks arrive on */
	int call_fd;			/* eventfd to interrupt; -1 none */
	int err_fd;			/* eventfd written when the ring breaks;
					 * -1 none (then the bus, if set) */
	const struct blk_ring_ops *ops;	/* NULL: virtq_pop/virtq_push */
	void *ctx;			/* for ops */
	bool peer_fds;			/* the fds are another process's:
					 * see BLK_STOP_SIGNAL */
};

/* A ring's call, error and kick fds may belong to another process (a
 * vhost-user front-end), which owns their flags and can fill an eventfd's
 * counter so that the I/O thread's write to it blocks. The stop of a
 * peer_fds ring whose thread is still in such a write after
 * BLK_STOP_WAIT_MS interrupts it with BLK_STOP_SIGNAL: the write fails
 * (EINTR) and the thread sees the stop. virtio_blk_stop_signal_init gives the signal a handler that
 * does nothing and does not restart system calls, and blocks it in the
 * calling thread (threads it starts inherit that; the I/O threads of
 * peer_fds rings unblock it). Call it before any such ring starts and
 * before seccomp. 0 or -errno. */
#define BLK_STOP_SIGNAL SIGUSR1
#define BLK_STOP_WAIT_MS 100
int virtio_blk_stop_signal_init(void);

/* Serves queue I of B on ring R with an I/O thread of its own. R's vq
 * may hold at most cfg.queue_size entries. The fds stay the caller's and
 * must stay open until virtio_blk_queue_stop returns. 0 or -errno
 * (-EBUSY: already running, -EINVAL: bad index, size or kick fd). */
int virtio_blk_queue_start(struct virtio_blk *b, unsigned int i,
			   const struct blk_ring *r);

/* Stops queue I: requests already taken finish and are pushed (and the
 * driver is interrupted if it asks) before this returns; nothing touches
 * the ring or its fds afterwards. Harmless on a queue not running. */
void virtio_blk_queue_stop(struct virtio_blk *b, unsigned int i);

/* Queue I's call eventfd was replaced in place (the same fd number now
 * reaches another eventfd): its I/O thread interrupts once on it, which
 * covers a completion signalled to the old eventfd just before. The write
 * is the thread's, so a blocking one is one its stop can end (see
 * BLK_STOP_SIGNAL). Harmless on a queue not running. */
void virtio_blk_queue_call_replaced(struct virtio_blk *b, unsigned int i);

/* The engine counters of queue I as its thread left them: call after
 * virtio_blk_queue_stop (or the device's stop), before the next start. */
void virtio_blk_queue_stats(const struct virtio_blk *b, unsigned int i,
			    struct uring_engine_stats *s);

/* Queue I's counters now (core/counters.h), from any thread. */
void virtio_blk_queue_counters(const struct virtio_blk *b, unsigned int i,
			       uint64_t out[CTR_N]);

/* Decodes one chain (exposed for tests and fuzzing): 0 = io->req is ready
 * for the engine, 1 = answer at once with io->answer and io->used_len,
 * -EINVAL = no header or status byte (the device needs a reset). */
int virtio_blk_decode(const struct virtio_blk *b, const struct virtq_chain *c,
		      struct blk_io *io);

#endif
