/* vdrive's split virtqueue, driver side (virtio 1.2 §2.7): what a guest's
 * virtio driver does to a queue, written from the spec for a benchmark
 * and test tool. It shares no code with tern's device side
 * (virtio/queue.c) on purpose: two readings of the spec meet at the ring.
 *
 * The driver owns the descriptor table and the available ring and keeps
 * its own copy of everything it needs to know about a chain (free list,
 * lengths, cookies), so nothing the device writes can mislead it: a used
 * entry naming a descriptor that is not in flight, or a length larger than
 * the chain's writable part, is a device error (vdq_get returns -EPROTO
 * and the queue is dead).
 *
 * Not thread-safe: one thread drives one queue. */
#ifndef TERN_BENCH_VDRIVE_VRING_H
#define TERN_BENCH_VDRIVE_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ring layouts as the spec gives them; every field little-endian. */
struct vd_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VD_DESC_F_NEXT 1
#define VD_DESC_F_WRITE 2

#define VD_AVAIL_F_NO_INTERRUPT 1
#define VD_USED_F_NO_NOTIFY 1

#define VDQ_MAX_SIZE 32768

/* Bytes of each ring part for NUM entries, event fields included. */
#define VDQ_DESC_BYTES(num) (16u * (num))
#define VDQ_AVAIL_BYTES(num) (6u + 2u * (num))
#define VDQ_USED_BYTES(num) (6u + 8u * (num))

/* One buffer of a chain: guest-physical address and length. */
struct vdq_buf {
	uint64_t gpa;
	uint32_t len;
};

struct vdq_stats {
	uint64_t added;		/* chains made available */
	uint64_t used;		/* chains taken back */
	uint64_t kicks;		/* vdq_kick_prepare said "notify" */
	uint64_t kick_checks;	/* times it was asked */
};

struct vdq {
	uint16_t num;
	bool event_idx;		/* VIRTIO_F_EVENT_IDX negotiated */
	bool dead;		/* the device broke a rule: see why */
	const char *why;

	/* Host views of the three parts, inside guest RAM. */
	struct vd_desc *desc;
	uint8_t *avail;		/* flags, idx, ring[num], used_event */
	uint8_t *used;		/* flags, idx, ring[num], avail_event */

	uint16_t free_head;	/* first free descriptor, num when none */
	uint16_t nfree;
	uint16_t avail_idx;	/* next avail->idx to publish */
	uint16_t kicked_idx;	/* avail->idx at the last kick decision */
	uint16_t last_used;	/* next used entry to take */
	bool cb_enabled;	/* we want interrupts */

	/* The driver's own copy, indexed by head. */
	uint16_t *next;		/* free list links */
	uint16_t *chain_len;	/* descriptors of the chain at a head; 0 free */
	uint32_t *in_len;	/* its device-writable bytes */
	void **cookie;

	struct vdq_stats stats;
};

/* Lays out an empty queue of NUM entries (a power of 2, 1..VDQ_MAX_SIZE)
 * over the three parts at DESC (16-byte aligned), AVAIL (2) and USED (4),
 * which the caller has placed in guest RAM. Interrupts start enabled.
 * 0, -EINVAL (bad size or alignment) or -ENOMEM. */
int vdq_init(struct vdq *q, uint16_t num, bool event_idx, void *desc,
	     void *avail, void *used);
void vdq_destroy(struct vdq *q);

/* Makes a chain of NOUT device-readable then NIN device-writable buffers
 * available (not yet visible to the device: see vdq_kick_prepare). COOKIE
 * comes back from vdq_get. Returns the head, or -ENOSPC when too few
 * descriptors are free, -EINVAL for an empty chain. */
int vdq_add(struct vdq *q, const struct vdq_buf *bufs, unsigned int nout,
	    unsigned int nin, void *cookie);

/* Publishes what vdq_add queued (avail->idx) and says whether the device
 * wants a notification for it (EVENT_IDX: avail_event; else the used
 * ring's NO_NOTIFY flag). The caller then writes the kick eventfd. */
bool vdq_kick_prepare(struct vdq *q);

/* The next used chain: 1 with *cookie and *len set, 0 when none, -EPROTO
 * when the device wrote a bad entry (q->dead, q->why say which). */
int vdq_get(struct vdq *q, void **cookie, uint32_t *len);

/* Interrupt suppression. enable returns true if used entries arrived that
 * the device may not interrupt for: take them before sleeping. */
bool vdq_enable_cb(struct vdq *q);
void vdq_disable_cb(struct vdq *q);

/* Chains the device holds. */
static inline unsigned int vdq_inflight(const struct vdq *q)
{
	return (unsigned int)(q->stats.added - q->stats.used);
}

#endif
