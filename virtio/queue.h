/* Virtqueues, device side (virtio 1.2 §2.7 split, §2.8 packed): turn what a
 * driver made available into iovecs over guest RAM, give chains back as used
 * and decide when the driver wants an interrupt. One API for both formats;
 * q->packed picks the implementation (split in queue.c, packed in packed.c).
 *
 * The guest writes the rings while we read them, so every guest-controlled
 * field is loaded exactly once into a local and only that copy is checked
 * and used. A driver that breaks a ring rule gets the queue marked broken:
 * virtq_pop then fails until virtq_init runs again (device reset), and the
 * VMM lives on. Not thread-safe: one thread serves one queue. */
#ifndef TERN_VIRTIO_QUEUE_H
#define TERN_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX, VIRTIO_F_RING_PACKED: bit
 * numbers in the negotiated feature word. */
#include "virtio/device.h"

struct guest_mem;

#define VIRTQ_MAX_SIZE 1024	/* largest queue we accept */
#define VIRTQ_MAX_SEGS 1024	/* IOV_MAX: segments per chain incl. indirect */

/* Guest-memory layouts (all fields little-endian). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* num entries, then le16 used_event */
};
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];	/* num entries, then le16 avail_event */
};
#define VIRTQ_USED_F_NO_NOTIFY 1

struct pvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
#define VIRTQ_DESC_F_AVAIL (1 << 7)
#define VIRTQ_DESC_F_USED (1 << 15)

struct pvirtq_event_suppress {
	uint16_t off_wrap;	/* bits 0-14 descriptor offset, bit 15 wrap */
	uint16_t flags;
};
#define RING_EVENT_FLAGS_ENABLE 0
#define RING_EVENT_FLAGS_DISABLE 1
#define RING_EVENT_FLAGS_DESC 2

struct virtq_chain {
	uint16_t head;		/* id to give back to virtq_push */
	uint16_t ndesc;		/* ring descriptors consumed (packed needs it) */
	unsigned int nr_out, nr_in; /* device-readable segments first, then device-writable */
	uint32_t out_len, in_len;   /* byte totals */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

struct virtq {
	const char *name;	/* "virtio-blk0 q1", kept by pointer: every log line names it */
	const struct guest_mem *mem;
	uint16_t num;
	bool packed, event_idx, indirect;

	/* Host addresses of the ring parts, checked once by virtq_init: the
	 * driver cannot move a live queue, so they stay valid until reset. */
	struct virtq_desc *desc;		/* split */
	struct virtq_avail *avail;
	struct virtq_used *used;
	struct pvirtq_desc *pdesc;		/* packed */
	struct pvirtq_event_suppress *driver_evt, *device_evt;

	/* Split: free-running 16-bit indices like the ring's own.
	 * Packed: last_avail and used_idx are slots (0..num-1) and the wrap
	 * counters say which lap of the ring they are on. */
	uint16_t last_avail;	/* next chain to pop */
	uint16_t avail_idx;	/* split: avail->idx as last read */
	uint16_t used_idx;	/* next used entry to write */
	uint16_t signalled_used;/* split: used_idx at the last need_notify */
	uint16_t avail_event;	/* split: what we last wrote to avail_event */
	uint16_t used_pending;	/* packed: descriptors used since the last
				 * need_notify, saturating at num */
	bool avail_wrap, used_wrap;
	bool kicks_enabled;

	bool broken;		/* set on the first rule violation; the device then needs reset */
	const char *why;	/* the rule broken, as in the log line */
};

/* Validates ring placement (alignment per spec, sizes incl. event fields, all
 * inside RAM, num a power of 2 for split, 1..VIRTQ_MAX_SIZE) and sets up.
 * -EINVAL with a log line naming the queue and the rule. `features` are the
 * negotiated feature bits (VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC,
 * VIRTIO_F_RING_PACKED count here). `start_idx` is where popping and pushing
 * start: 0 for a fresh queue, else a virtq_last_avail() value (see
 * virtq_base_from_vhost for vhost's encoding). Split: the avail/used index.
 * Packed: bits 0-14 the slot, bit 15 set on odd laps (wrap counter 0). Leaves
 * kicks enabled. */
int virtq_init(struct virtq *q, const char *name, const struct guest_mem *mem,
	       uint16_t num, uint64_t desc_gpa, uint64_t driver_gpa,
	       uint64_t device_gpa, uint64_t features, uint16_t start_idx);

/* Next available chain: 1 popped, 0 none available, -EINVAL on a rule
 * violation (q->broken set, logged once with the queue name and the rule).
 * Reads at most num ring descriptors plus one indirect table. iov_base
 * points into guest RAM; a zero-length descriptor gives a zero-length
 * segment. */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Split rings only, for vhost-user inflight recovery (vhost/user_backend.c):
 * the chain starting at descriptor HEAD, walked with virtq_pop's checks,
 * without reading the available ring or moving any index. 1 popped, or
 * -EINVAL (head out of range, a packed ring, or a rule violation: q->broken
 * set and logged). */
int virtq_pop_head(struct virtq *q, struct virtq_chain *c, uint16_t head);

/* Returns a chain as used with `len` bytes written into its device-writable
 * part. Reads only c->head and c->ndesc, so a device may keep just those two
 * of a popped chain and complete it later. len must not exceed the chain's
 * in_len: the driver trusts it (spec §2.7.8). The chain must have been popped
 * from q since the last virtq_init. */
void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t len);

/* One used buffer for virtq_push_batch: what virtq_push reads of a chain,
 * and its length. */
struct virtq_used_buf {
	uint16_t head, ndesc;
	uint32_t len;
};

/* Returns n chains as used so that the driver sees all or none of them:
 * split writes the n used entries and then used->idx once; packed writes
 * the first slot's flags after the others. For buffers that belong
 * together (virtio-net's mergeable receive buffers: the first one's
 * num_buffers promises the driver the rest). */
void virtq_push_batch(struct virtq *q, const struct virtq_used_buf *u,
		      unsigned int n);

/* After a batch of pushes: does the driver want an interrupt? (EVENT_IDX:
 * used_event; else VIRTQ_AVAIL_F_NO_INTERRUPT; packed: driver event
 * suppression). Call once per batch; it tracks what was signalled. */
bool virtq_need_notify(struct virtq *q);

/* Notification suppression toward the driver while the device is polling:
 * disable = "don't kick me"; enable re-arms and returns true if more buffers
 * arrived meanwhile (so the caller must pop again to avoid a lost wakeup). */
void virtq_disable_kicks(struct virtq *q);
bool virtq_enable_kicks(struct virtq *q);

/* For vhost: the index a restarted backend resumes from, in virtq_init's
 * start_idx encoding. */
uint16_t virtq_last_avail(const struct virtq *q);

/* Where a stopped queue continues so that every chain it took and did
 * not return is offered again, in virtq_init's start_idx encoding: the
 * position after the last chain pushed. Right when chains are returned in
 * the order they were taken (net), or when none is outstanding (blk after
 * its drain, whatever the order). Equal to virtq_last_avail() when
 * nothing is outstanding. */
uint16_t virtq_used_base(const struct virtq *q);

/* vhost (GET/SET_VRING_BASE) encodes a packed ring's base with the wrap
 * counter itself in bit 15, so a fresh packed queue is 0x8000 there; ours
 * keeps 0 for fresh in both formats. Split bases are the same in both. */
static inline uint16_t virtq_base_to_vhost(bool packed, uint16_t base)
{
	return packed ? base ^ 0x8000 : base;
}

static inline uint16_t virtq_base_from_vhost(bool packed, uint16_t base)
{
	return packed ? base ^ 0x8000 : base;
}

#endif
