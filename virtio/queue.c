/* Split virtqueues (virtio 1.2 §2.7), device side, plus what both ring
 * dispatch to packed.c by the queue's format.
 *
 * Design choices the spec leaves open:
 * - A zero-length descriptor is accepted (the spec does not forbid it and no
 *   byte of it is touched); its address must still lie in RAM, and it
 *   becomes a zero-length iovec so segments keep the driver's order.
 * - A chain of normal descriptors ending in one indirect descriptor is
 *   accepted (split: the spec says a device MUST handle it; packed: the
 *   driver must not do it, but it costs nothing to serve).
 * - The byte total of a chain (readable plus writable) must fit in 32 bits,
 *   since the used length is 32 bits and the spec forbids longer chains. */
#include "virtio/queue.h"
#include "virtio/ring_internal.h"

#include "core/log.h"
#include "core/memory.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(VIRTIO_F_INDIRECT_DESC == 28 && VIRTIO_F_EVENT_IDX == 29 &&
	       VIRTIO_F_RING_PACKED == 34,
	       "virtio/device.h feature macros must be bit numbers");
_Static_assert(sizeof(struct virtq_desc) == 16, "split descriptor layout");
_Static_assert(sizeof(struct pvirtq_desc) == 16, "packed descriptor layout");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "used element layout");

/* Descriptor field offsets: descriptors in an indirect table may sit at any
 * address, so they are read through byte pointers, never struct pointers. */
#define DESC_ADDR 0
#define DESC_LEN 8
#define DESC_FLAGS 12
#define DESC_NEXT 14

static uint16_t *split_used_event(const struct virtq *q)
{
	return &q->avail->ring[q->num];
}

static uint16_t *split_avail_event(const struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->num];
}

static int split_init(struct virtq *q, uint64_t desc_gpa, uint64_t driver_gpa,
		      uint64_t device_gpa, uint16_t start_idx)
{
	uint64_t num = q->num;

	if (driver_gpa % 2)
		return virtq_violation(q, "misaligned ring part",
				       "available ring at 0x%llx is not 2-byte aligned",
				       (unsigned long long)driver_gpa);
	if (device_gpa % 4)
		return virtq_violation(q, "misaligned ring part",
				       "used ring at 0x%llx is not 4-byte aligned",
				       (unsigned long long)device_gpa);
	/* Sizes from the spec's table, event fields included: a driver
	 * without EVENT_IDX still owns them, and checking them always keeps
	 * one rule. */
	q->desc = guest_mem_ptr(q->mem, desc_gpa, 16 * num);
	if (!q->desc)
		return virtq_violation(q, "ring outside guest RAM",
				       "descriptor table 0x%llx+0x%llx is not inside guest RAM",
				       (unsigned long long)desc_gpa,
				       (unsigned long long)(16 * num));
	q->avail = guest_mem_ptr(q->mem, driver_gpa, 6 + 2 * num);
	if (!q->avail)
		return virtq_violation(q, "ring outside guest RAM",
				       "available ring 0x%llx+0x%llx is not inside guest RAM",
				       (unsigned long long)driver_gpa,
				       (unsigned long long)(6 + 2 * num));
	q->used = guest_mem_ptr(q->mem, device_gpa, 6 + 8 * num);
	if (!q->used)
		return virtq_violation(q, "ring outside guest RAM",
				       "used ring 0x%llx+0x%llx is not inside guest RAM",
				       (unsigned long long)device_gpa,
				       (unsigned long long)(6 + 8 * num));
	q->last_avail = q->avail_idx = start_idx;
	q->used_idx = q->signalled_used = start_idx;
	q->avail_event = start_idx;
	/* Kicks start enabled: the driver must notify for the first buffer. */
	__atomic_store_n(&q->used->flags, 0, __ATOMIC_RELAXED);
	if (q->event_idx)
		__atomic_store_n(split_avail_event(q), htole16(start_idx),
				 __ATOMIC_RELAXED);
	return 0;
}

int virtq_init(struct virtq *q, const char *name, const struct guest_mem *mem,
	       uint16_t num, uint64_t desc_gpa, uint64_t driver_gpa,
	       uint64_t device_gpa, uint64_t features, uint16_t start_idx)
{
	int ret;

	/* Until the checks pass the queue is unusable: memset leaves every
	 * ring pointer NULL, and a failed check sets broken. */
	memset(q, 0, sizeof(*q));
	q->name = name ? name : "virtq";
	q->mem = mem;
	q->num = num;
	q->packed = features & (1ULL << VIRTIO_F_RING_PACKED);
	q->event_idx = features & (1ULL << VIRTIO_F_EVENT_IDX);
	q->indirect = features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	q->kicks_enabled = true;

	/* Split indices run mod 2^16 and index the ring mod num, which only
	 * agree for a power of 2; packed rings have no such need. */
	if (!num || num > VIRTQ_MAX_SIZE || (!q->packed && (num & (num - 1))))
		return virtq_violation(q, "bad queue size",
				       "queue size %u: must be 1..%d%s", num,
				       VIRTQ_MAX_SIZE,
				       q->packed ? "" : " and a power of 2");
	if (desc_gpa % 16)
		return virtq_violation(q, "misaligned ring part",
				       "descriptor %s at 0x%llx is not 16-byte aligned",
				       q->packed ? "ring" : "table",
				       (unsigned long long)desc_gpa);
	if (q->packed)
		ret = virtq_packed_init(q, desc_gpa, driver_gpa, device_gpa,
					start_idx);
	else
		ret = split_init(q, desc_gpa, driver_gpa, device_gpa,
				 start_idx);
	if (ret) {
		/* Keeps push and need_notify off half-checked rings. */
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		q->pdesc = NULL;
		q->driver_evt = q->device_evt = NULL;
		return ret;
	}
	q->broken = false;
	q->why = NULL;
	return 0;
}

/* Rings checked by a successful virtq_init: a queue broken by the driver
 * still has them, so completions of chains already popped go out. */
static bool virtq_has_rings(const struct virtq *q)
{
	return q->packed ? q->pdesc != NULL : q->used != NULL;
}

/* Loads avail->idx after the last one was used up. 1 more chains, 0 none. */
static int split_fetch_avail(struct virtq *q)
{
	uint16_t idx;

	if (q->event_idx && q->kicks_enabled &&
	    q->avail_event != q->last_avail) {
		/* Ask for a kick at the next buffer before concluding there
		 * is none, so that a device that just pops until empty never
		 * sleeps through one. */
		q->avail_event = q->last_avail;
		__atomic_store_n(split_avail_event(q), htole16(q->last_avail),
				 __ATOMIC_RELAXED);
		/* Full barrier: the avail_event store above must be visible
		 * before the avail->idx load below. Pairs with the driver's
		 * full barrier between publishing avail->idx and reading
		 * avail_event: one of us sees the other's write. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	/* Acquire: ring entries and descriptors read after this load were
	 * written before the idx; pairs with the driver's write barrier
	 * before it publishes avail->idx. */
	idx = le16toh(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE));
	if ((uint16_t)(idx - q->last_avail) > q->num)
		return virtq_violation(q, "avail idx jumped",
				       "avail idx went from %u to %u, more than the queue size %u ahead",
				       q->last_avail, idx, q->num);
	q->avail_idx = idx;
	return idx != q->last_avail;
}

struct split_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* One load per field: the copy is what gets checked and used. */
static void split_read_desc(const uint8_t *p, struct split_desc *d)
{
	d->addr = virtq_ld64(p + DESC_ADDR);
	d->len = virtq_ld32(p + DESC_LEN);
	d->flags = virtq_ld16(p + DESC_FLAGS);
	d->next = virtq_ld16(p + DESC_NEXT);
}

static int split_walk(struct virtq *q, struct virtq_chain *c, uint16_t head)
{
	const uint8_t *table = (const uint8_t *)q->desc;
	unsigned int size = q->num, i = head, seen = 0;
	bool in_indirect = false;
	struct split_desc d;
	int ret;

	virtq_chain_reset(c);
	c->head = head;
	for (;;) {
		split_read_desc(table + 16 * (size_t)i, &d);
		seen++;
		if (!in_indirect)
			c->ndesc++;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (in_indirect)
				return virtq_violation(q, "nested indirect",
						       "chain %u: indirect table entry %u points to another table",
						       head, i);
			if (!q->indirect)
				return virtq_violation(q, "indirect not negotiated",
						       "chain %u: descriptor %u is indirect without VIRTIO_F_INDIRECT_DESC",
						       head, i);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return virtq_violation(q, "indirect with next",
						       "chain %u: descriptor %u has both INDIRECT and NEXT",
						       head, i);
			table = virtq_indirect_table(q, d.addr, d.len, &size);
			if (!table)
				return -EINVAL;
			in_indirect = true;
			i = 0;
			seen = 0;
			continue;
		}
		ret = virtq_chain_add(q, c, d.addr, d.len,
				      d.flags & VIRTQ_DESC_F_WRITE);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= size)
			return virtq_violation(q, "next index out of range",
					       "chain %u: descriptor %u links to %u, %s has %u",
					       head, i, d.next,
					       in_indirect ? "indirect table" : "queue",
					       size);
		/* A chain cannot hold more descriptors than its table: one
		 * that tries has looped. */
		if (seen == size)
			return virtq_violation(q, "descriptor chain loops",
					       "chain %u: more than the %u descriptors of its %s",
					       head, size,
					       in_indirect ? "indirect table" : "queue");
		i = d.next;
	}
}

static int split_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t head;
	int ret;

	if (q->last_avail == q->avail_idx) {
		ret = split_fetch_avail(q);
		if (ret <= 0)
			return ret;
	}
	/* Ordered after the avail->idx acquire in split_fetch_avail. */
	head = le16toh(__atomic_load_n(&q->avail->ring[q->last_avail &
						       (q->num - 1)],
				       __ATOMIC_RELAXED));
	if (head >= q->num)
		return virtq_violation(q, "head index out of range",
				       "avail entry %u names descriptor %u, queue size %u",
				       q->last_avail, head, q->num);
	ret = split_walk(q, c, head);
	if (ret)
		return ret;
	q->last_avail++;
	return 1;
}

static void split_push(struct virtq *q, const struct virtq_chain *c,
		       uint32_t len)
{
	struct virtq_used_elem *e = &q->used->ring[q->used_idx & (q->num - 1)];

	__atomic_store_n(&e->id, htole32(c->head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(len), __ATOMIC_RELAXED);
	q->used_idx++;
	/* Release: the element above and the data written into the buffers
	 * are visible before the new idx; pairs with the driver's read
	 * barrier after it reads used->idx. */
	__atomic_store_n(&q->used->idx, htole16(q->used_idx),
			 __ATOMIC_RELEASE);
}

static bool split_need_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx, ev, flags;

	if (old == now)
		return false;
	q->signalled_used = now;
	/* Full barrier: our used->idx store must be visible before we read
	 * used_event / avail flags. Pairs with the driver's full barrier
	 * between updating used_event (or clearing NO_INTERRUPT) and
	 * re-reading used->idx: otherwise it could sleep on the old idx
	 * while we read its old wish and stay silent. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx) {
		ev = le16toh(__atomic_load_n(split_used_event(q),
					     __ATOMIC_RELAXED));
		/* Did idx step over used_event in (old, now]? */
		return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
	}
	flags = le16toh(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED));
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static void split_disable_kicks(struct virtq *q)
{
	q->kicks_enabled = false;
	/* With EVENT_IDX there is nothing to write: the driver kicks only
	 * when its idx passes avail_event, which we stop moving, so at most
	 * one more kick comes. */
	if (!q->event_idx)
		__atomic_store_n(&q->used->flags,
				 htole16(VIRTQ_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
}

static bool split_enable_kicks(struct virtq *q)
{
	uint16_t idx;

	q->kicks_enabled = true;
	if (q->event_idx) {
		q->avail_event = q->last_avail;
		__atomic_store_n(split_avail_event(q), htole16(q->last_avail),
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&q->used->flags, 0, __ATOMIC_RELAXED);
	}
	/* Full barrier: the re-arm above must be visible before the
	 * avail->idx load below. Pairs with the driver's full barrier between
	 * publishing avail->idx and reading used flags / avail_event: either
	 * it sees the re-arm and kicks, or we see its buffer here. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Relaxed: only compared here; virtq_pop loads it again with
	 * acquire before reading what it covers. */
	idx = le16toh(__atomic_load_n(&q->avail->idx, __ATOMIC_RELAXED));
	return idx != q->last_avail;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	if (q->broken)
		return -EINVAL;
	return q->packed ? virtq_packed_pop(q, c) : split_pop(q, c);
}

int virtq_pop_head(struct virtq *q, struct virtq_chain *c, uint16_t head)
{
	int ret;

	if (q->broken)
		return -EINVAL;
	if (q->packed)
		return virtq_violation(q, "resubmission on a packed ring",
				       "chain %u: only split rings resubmit by head",
				       head);
	if (head >= q->num)
		return virtq_violation(q, "head index out of range",
				       "resubmitted chain names descriptor %u, queue size %u",
				       head, q->num);
	ret = split_walk(q, c, head);
	return ret ? ret : 1;
}

void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t len)
{
	if (!virtq_has_rings(q))
		return;
	if (q->packed)
		virtq_packed_push(q, c, len);
	else
		split_push(q, c, len);
}

static void split_push_batch(struct virtq *q, const struct virtq_used_buf *u,
			     unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct virtq_used_elem *e =
			&q->used->ring[(uint16_t)(q->used_idx + i) & (q->num - 1)];

		__atomic_store_n(&e->id, htole32(u[i].head), __ATOMIC_RELAXED);
		__atomic_store_n(&e->len, htole32(u[i].len), __ATOMIC_RELAXED);
	}
	q->used_idx += (uint16_t)n;
	/* Release: all n elements and their data before the one idx store
	 * that shows them; pairs with the driver's read barrier after it
	 * reads used->idx. */
	__atomic_store_n(&q->used->idx, htole16(q->used_idx),
			 __ATOMIC_RELEASE);
}

void virtq_push_batch(struct virtq *q, const struct virtq_used_buf *u,
		      unsigned int n)
{
	if (!virtq_has_rings(q) || !n)
		return;
	if (q->packed)
		virtq_packed_push_batch(q, u, n);
	else
		split_push_batch(q, u, n);
}

bool virtq_need_notify(struct virtq *q)
{
	if (!virtq_has_rings(q))
		return false;
	return q->packed ? virtq_packed_need_notify(q) : split_need_notify(q);
}

void virtq_disable_kicks(struct virtq *q)
{
	if (q->broken)
		return;
	if (q->packed)
		virtq_packed_disable_kicks(q);
	else
		split_disable_kicks(q);
}

bool virtq_enable_kicks(struct virtq *q)
{
	/* A broken queue has no more work to offer, whatever the ring says. */
	if (q->broken)
		return false;
	return q->packed ? virtq_packed_enable_kicks(q) : split_enable_kicks(q);
}

uint16_t virtq_used_base(const struct virtq *q)
{
	if (q->packed)
		return q->used_idx | (q->used_wrap ? 0 : 0x8000);
	return q->used_idx;
}

uint16_t virtq_last_avail(const struct virtq *q)
{
	if (q->packed)
		return q->last_avail | (q->avail_wrap ? 0 : 0x8000);
	return q->last_avail;
}
