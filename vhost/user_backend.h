/* vhost-user backend library: serves one front-end connection for a device
 * model. It owns no event loop and no thread: the owner watches the socket
 * and calls vu_dispatch when it is readable; the library calls back into
 * the device through a const ops table when a queue can start or must stop.
 *
 * A queue starts (queue_start) once it has a size, ring addresses, a
 * SET_VRING_KICK and is enabled (rings begin disabled when
 * VU_F_PROTOCOL_FEATURES was negotiated, enabled otherwise), with memory
 * mapped. It stops (queue_stop) on GET_VRING_BASE, SET_VRING_ENABLE 0,
 * RESET_OWNER/RESET_DEVICE, vu_dev_close, and briefly around a new memory
 * table or a new kick/call/err fd (stop, swap, start again at the index it
 * reached). Not thread-safe: the owner serialises vu_dispatch, and the
 * device must be done with a queue when queue_stop returns.
 *
 * Inflight I/O tracking (INFLIGHT_SHMFD, vhost-user.rst "Inflight I/O
 * tracking"), split rings: GET_INFLIGHT_FD makes a memfd with one region
 * per queue in the spec's layout, SET_INFLIGHT_FD maps the one the
 * front-end kept across a back-end crash. A device that takes chains with
 * vu_queue_pop and gives them back with vu_queue_push has every chain
 * marked there while it is in flight; a queue that starts on an area with
 * chains still marked hands those out again first, oldest first, and
 * resumes the ring after them. Packed rings run untracked.
 *
 * Not supported yet: dirty logging (LOG_SHMFD, SET_LOG_BASE/FD), the
 * backend request channel, CONFIGURE_MEM_SLOTS, STATUS, inflight tracking
 * of packed rings. Those requests are refused. */
#ifndef TERN_VHOST_USER_BACKEND_H
#define TERN_VHOST_USER_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "core/memory.h"
#include "vhost/user_proto.h"
#include "virtio/queue.h"

#define VU_MAX_QUEUES 64

/* Protocol features this library implements; ops->protocol_features is
 * masked with it. */
#define VU_BACKEND_PROTOCOL_FEATURES                                           \
	((1ULL << VU_PF_MQ) | (1ULL << VU_PF_REPLY_ACK) |                      \
	 (1ULL << VU_PF_CONFIG) | (1ULL << VU_PF_RESET_DEVICE) |               \
	 (1ULL << VU_PF_INFLIGHT_SHMFD))

/* The inflight area's per-descriptor state and per-queue region header,
 * as vhost-user.rst lays them out for split rings (little-endian host
 * order: the area never leaves this machine). */
struct vu_desc_state {
	uint8_t inflight;		/* head descriptor in flight */
	uint8_t padding[5];
	uint16_t next;			/* the last batch of used heads */
	uint64_t counter;		/* order the heads were taken in */
};

struct vu_inflight_region {
	uint64_t features;		/* 0 */
	uint16_t version;		/* 1; 0 means not initialised */
	uint16_t desc_num;		/* entries in desc[] */
	uint16_t last_batch_head;
	uint16_t used_idx;		/* used->idx after the last push */
	struct vu_desc_state desc[];
};

/* The area from GET/SET_INFLIGHT_FD, mapped. */
struct vu_inflight_area {
	uint8_t *map;			/* NULL: none */
	size_t map_len;
	uint8_t *base;			/* queue 0's region */
	uint16_t num_queues, queue_size;
	size_t region_size;		/* bytes per queue */
};

struct vu_backend_ops {
	uint64_t features;		/* virtio features offered (bit 30 is added) */
	uint64_t protocol_features;	/* wanted, masked by the above */
	unsigned int max_queues;	/* 1..VU_MAX_QUEUES */
	/* Serve queue q. vq is initialised (virtq_init at the front-end's
	 * base, negotiated features) and stays put until queue_stop.
	 * kick_fd/call_fd belong to the library and stay open until
	 * queue_stop returns; -1 means none (poll the ring / no interrupt).
	 * 0 or -errno (the front-end gets the error). */
	int (*queue_start)(void *opaque, unsigned int q, struct virtq *vq,
			   int kick_fd, int call_fd);
	/* Stop serving q; on return nothing touches vq or its fds, and
	 * every chain popped was pushed: the index the library keeps (and
	 * GET_VRING_BASE reports, and a restart resumes at) is
	 * virtq_last_avail, so in-flight requests must be finished first. */
	void (*queue_stop)(void *opaque, unsigned int q);
	/* Config space (VU_PF_CONFIG); NULL refuses. 0 or -errno. len is at
	 * most VU_CONFIG_MAX; offset is the front-end's, unchecked: the
	 * device checks offset + len against its own config size. */
	int (*get_config)(void *opaque, uint32_t offset, uint8_t *buf,
			  uint32_t len);
	int (*set_config)(void *opaque, uint32_t offset, const uint8_t *buf,
			  uint32_t len, uint32_t flags);
	/* Optional: features were acked (after the library's checks). */
	int (*set_features)(void *opaque, uint64_t features);
	/* Optional: RESET_OWNER/RESET_DEVICE, after every queue stopped. */
	void (*reset)(void *opaque);
	/* Optional: running queue q's call fd was replaced in place (the
	 * number given to queue_start now reaches the front-end's new
	 * eventfd). The device interrupts once on it, to cover a completion
	 * signalled to the old eventfd just before, from a thread of its
	 * own: the front-end may have filled the new eventfd, and a write
	 * that blocks must not block the thread serving the socket. */
	void (*call_replaced)(void *opaque, unsigned int q);
};

/* One mapped region from SET_MEM_TABLE. */
struct vu_region {
	uint64_t gpa, size, uaddr;
	uint8_t *map;			/* mmap'd base (page-aligned) */
	size_t map_len;
	uint8_t *hva;			/* guest byte gpa lives at hva */
};

struct vu_queue {
	char name[48];			/* "<dev> q<n>", for logs and the virtq */
	struct virtq vq;
	uint16_t num;
	uint16_t base;			/* virtq start_idx encoding */
	uint64_t desc_ua, avail_ua, used_ua;
	int kick_fd, call_fd, err_fd;	/* -1: none */
	bool num_set, addr_set, kick_set, enabled, started;

	/* Inflight tracking while started; touched by the device's thread
	 * through vu_queue_pop/vu_queue_push only. */
	struct vu_inflight_region *inf;	/* NULL: untracked */
	uint64_t counter;		/* next head's counter */
	uint16_t *resubmit;		/* heads to hand out again, in order */
	unsigned int nresubmit, resubmitted;
};

struct vu_dev {
	const char *name;		/* kept by pointer; every log line names it */
	int sock;			/* owned: vu_dev_close closes it */
	const struct vu_backend_ops *ops;
	void *opaque;

	uint64_t features;		/* acked virtio features */
	uint64_t protocol_features;	/* acked protocol features */
	bool owner;

	unsigned int nregions;
	struct vu_region regions[VU_MAX_REGIONS];
	struct guest_mem mem;		/* gpa -> hva for the rings */

	struct vu_queue queues[VU_MAX_QUEUES];
	struct vu_inflight_area inflight;
};

/* Takes ownership of sock (a connected SOCK_STREAM UNIX socket). ops and
 * name must outlive d. 0 or -EINVAL (bad ops). */
int vu_dev_init(struct vu_dev *d, const char *name, int sock,
		const struct vu_backend_ops *ops, void *opaque);

/* Reads and handles one message. 0: handled (an error the front-end was
 * told about with a reply counts as handled); -EAGAIN: nothing was
 * pending. Anything else means the connection is dead: -ECONNRESET the
 * peer hung up, -EPROTO it broke the protocol (logged), other -errno an
 * I/O error. The owner then stops watching the socket and calls
 * vu_dev_close. */
int vu_dispatch(struct vu_dev *d);

/* Stops every queue, unmaps memory, closes all fds and the socket. */
void vu_dev_close(struct vu_dev *d);

/* For the device, on queue q's own thread while it runs: the next chain
 * (as virtq_pop: 1, 0 none, -EINVAL broken), chains left in flight by a
 * previous back-end first. */
int vu_queue_pop(struct vu_queue *q, struct virtq_chain *c);

/* Gives a chain back (as virtq_push) and clears its inflight mark in the
 * spec's order, so a crash at any point leaves the area telling the truth
 * to the next back-end. */
void vu_queue_push(struct vu_queue *q, const struct virtq_chain *c,
		   uint32_t len);

/* Front-end virtual address -> guest-physical, if [uaddr, uaddr+len)
 * lies in one region. 0 or -EFAULT. */
int vu_uaddr_to_gpa(const struct vu_dev *d, uint64_t uaddr, uint64_t len,
		    uint64_t *gpa);

#endif
