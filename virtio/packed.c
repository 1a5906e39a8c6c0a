/* Packed virtqueues (virtio 1.2 §2.8), device side. One descriptor ring
 * both sides write: the driver marks a descriptor available by making its
 * AVAIL bit equal and its USED bit unequal to the driver's wrap counter; we
 * mark the first slot of a finished chain used by setting both bits to our
 * own wrap counter, then skip the chain's other slots. Chains are in ring
 * order (NEXT flag), and an indirect table is a plain array.
 *
 * Choices beyond the spec's device requirements:
 * - Every descriptor of a chain, not only the first, must be available: a
 *   chain running into a slot the driver did not offer is a driver bug we
 *   report rather than read stale descriptors from (the spec says a device
 *   MUST NOT use a descriptor it has not seen made available).
 * - INDIRECT inside an indirect table is reported as "nested indirect"
 *   although the spec calls the bit reserved there: a driver setting it
 *   meant something we do not do. NEXT there is ignored, as the spec says.
 * - Toward the driver, kicks are on (ENABLE) or off (DISABLE); we never ask
 *   for a kick at a given descriptor, which EVENT_IDX would allow. */
#include "virtio/queue.h"
#include "virtio/ring_internal.h"

#include "core/memory.h"

#include <errno.h>

#define DESC_ADDR 0
#define DESC_LEN 8
#define DESC_ID 12
#define DESC_FLAGS 14

static bool desc_is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VIRTQ_DESC_F_AVAIL) == wrap &&
	       !!(flags & VIRTQ_DESC_F_USED) != wrap;
}

int virtq_packed_init(struct virtq *q, uint64_t desc_gpa, uint64_t driver_gpa,
		      uint64_t device_gpa, uint16_t start_idx)
{
	uint16_t slot = start_idx & 0x7fff;

	if (driver_gpa % 4 || device_gpa % 4)
		return virtq_violation(q, "misaligned ring part",
				       "event suppression at 0x%llx / 0x%llx is not 4-byte aligned",
				       (unsigned long long)driver_gpa,
				       (unsigned long long)device_gpa);
	q->pdesc = guest_mem_ptr(q->mem, desc_gpa, 16 * (uint64_t)q->num);
	if (!q->pdesc)
		return virtq_violation(q, "ring outside guest RAM",
				       "descriptor ring 0x%llx+0x%x is not inside guest RAM",
				       (unsigned long long)desc_gpa, 16 * q->num);
	q->driver_evt = guest_mem_ptr(q->mem, driver_gpa, 4);
	q->device_evt = guest_mem_ptr(q->mem, device_gpa, 4);
	if (!q->driver_evt || !q->device_evt)
		return virtq_violation(q, "ring outside guest RAM",
				       "event suppression at 0x%llx / 0x%llx is not inside guest RAM",
				       (unsigned long long)driver_gpa,
				       (unsigned long long)device_gpa);
	if (slot >= q->num)
		return virtq_violation(q, "bad start index",
				       "start slot %u is past the ring of %u",
				       slot, q->num);
	/* Both wrap counters start at 1 (spec §2.8.1); bit 15 of start_idx
	 * counts odd laps so that 0 stays "fresh". */
	q->last_avail = q->used_idx = slot;
	q->avail_wrap = q->used_wrap = !(start_idx & 0x8000);
	q->used_pending = 0;
	__atomic_store_n(&q->device_evt->off_wrap, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&q->device_evt->flags,
			 htole16(RING_EVENT_FLAGS_ENABLE), __ATOMIC_RELAXED);
	return 0;
}

static int packed_indirect(struct virtq *q, struct virtq_chain *c,
			   uint16_t slot, uint16_t flags, uint64_t addr,
			   uint32_t len)
{
	const uint8_t *t;
	unsigned int n;
	int ret;

	if (!q->indirect)
		return virtq_violation(q, "indirect not negotiated",
				       "slot %u is indirect without VIRTIO_F_INDIRECT_DESC",
				       slot);
	if (flags & VIRTQ_DESC_F_NEXT)
		return virtq_violation(q, "indirect with next",
				       "slot %u has both INDIRECT and NEXT", slot);
	t = virtq_indirect_table(q, addr, len, &n);
	if (!t)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *e = t + 16 * (size_t)i;
		uint64_t ea = virtq_ld64(e + DESC_ADDR);
		uint32_t el = virtq_ld32(e + DESC_LEN);
		uint16_t ef = virtq_ld16(e + DESC_FLAGS);

		if (ef & VIRTQ_DESC_F_INDIRECT)
			return virtq_violation(q, "nested indirect",
					       "slot %u: indirect table entry %u is indirect too",
					       slot, i);
		ret = virtq_chain_add(q, c, ea, el, ef & VIRTQ_DESC_F_WRITE);
		if (ret)
			return ret;
	}
	return 0;
}

int virtq_packed_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t slot = q->last_avail, n = 0, id, flags;
	bool wrap = q->avail_wrap;
	const uint8_t *d = (const uint8_t *)&q->pdesc[slot];
	int ret;

	/* Acquire: the chain's other descriptors and any indirect table were
	 * written before these flags; pairs with the driver's write barrier
	 * before it sets the first descriptor's flags. */
	flags = le16toh(__atomic_load_n(&q->pdesc[slot].flags,
					__ATOMIC_ACQUIRE));
	if (!desc_is_avail(flags, wrap))
		return 0;
	virtq_chain_reset(c);
	for (;;) {
		uint64_t addr = virtq_ld64(d + DESC_ADDR);
		uint32_t len = virtq_ld32(d + DESC_LEN);

		/* The buffer id counts only in the chain's last descriptor. */
		id = virtq_ld16(d + DESC_ID);
		n++;
		if (flags & VIRTQ_DESC_F_INDIRECT) {
			ret = packed_indirect(q, c, slot, flags, addr, len);
			if (ret)
				return ret;
			break;
		}
		ret = virtq_chain_add(q, c, addr, len,
				      flags & VIRTQ_DESC_F_WRITE);
		if (ret)
			return ret;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			break;
		if (n == q->num)
			return virtq_violation(q, "chain longer than queue",
					       "chain at slot %u goes on past all %u descriptors",
					       q->last_avail, q->num);
		if (++slot == q->num) {
			slot = 0;
			wrap = !wrap;
		}
		d = (const uint8_t *)&q->pdesc[slot];
		/* Ordered by the acquire on the first descriptor's flags. */
		flags = virtq_ld16(d + DESC_FLAGS);
		if (!desc_is_avail(flags, wrap))
			return virtq_violation(q, "chain runs into unavailable descriptor",
					       "chain at slot %u: slot %u (flags 0x%x) is not available",
					       q->last_avail, slot, flags);
	}
	if (++slot == q->num) {
		slot = 0;
		wrap = !wrap;
	}
	q->last_avail = slot;
	q->avail_wrap = wrap;
	c->head = id;
	c->ndesc = n;
	return 1;
}

void virtq_packed_push(struct virtq *q, const struct virtq_chain *c,
		       uint32_t len)
{
	struct pvirtq_desc *d = &q->pdesc[q->used_idx];
	uint16_t flags = len ? VIRTQ_DESC_F_WRITE : 0;
	unsigned int pending;

	if (q->used_wrap)
		flags |= VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	__atomic_store_n(&d->id, htole16(c->head), __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, htole32(len), __ATOMIC_RELAXED);
	/* Release: id, len and the data written into the buffers are visible
	 * before the flags that mark the slot used; pairs with the driver's
	 * read barrier after it sees the USED bit flip. */
	__atomic_store_n(&d->flags, htole16(flags), __ATOMIC_RELEASE);
	/* Slots of the chain after its first are used implicitly. */
	q->used_idx += c->ndesc;
	if (q->used_idx >= q->num) {
		q->used_idx -= q->num;
		q->used_wrap = !q->used_wrap;
	}
	pending = q->used_pending + c->ndesc;
	q->used_pending = pending > q->num ? q->num : pending;
}

void virtq_packed_push_batch(struct virtq *q, const struct virtq_used_buf *u,
			     unsigned int n)
{
	struct pvirtq_desc *first = &q->pdesc[q->used_idx];
	uint16_t first_flags = 0;
	unsigned int pending = q->used_pending;

	for (unsigned int i = 0; i < n; i++) {
		struct pvirtq_desc *d = &q->pdesc[q->used_idx];
		uint16_t flags = u[i].len ? VIRTQ_DESC_F_WRITE : 0;

		if (q->used_wrap)
			flags |= VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
		__atomic_store_n(&d->id, htole16(u[i].head), __ATOMIC_RELAXED);
		__atomic_store_n(&d->len, htole32(u[i].len), __ATOMIC_RELAXED);
		if (i)
			/* Release: this slot's id and len before its flags;
			 * the driver cannot reach it before the first. */
			__atomic_store_n(&d->flags, htole16(flags),
					 __ATOMIC_RELEASE);
		else
			first_flags = flags;
		q->used_idx += u[i].ndesc;
		if (q->used_idx >= q->num) {
			q->used_idx -= q->num;
			q->used_wrap = !q->used_wrap;
		}
		pending += u[i].ndesc;
	}
	/* Release: every slot of the batch, and the data, before the first
	 * slot's flags, which the driver reads first. */
	__atomic_store_n(&first->flags, htole16(first_flags), __ATOMIC_RELEASE);
	q->used_pending = pending > q->num ? q->num : pending;
}

bool virtq_packed_need_notify(struct virtq *q)
{
	unsigned int n = q->used_pending;
	uint16_t flags, off_wrap;
	int rel;

	if (!n)
		return false;
	q->used_pending = 0;
	/* Full barrier: the used flags stores must be visible before we read
	 * the driver's event suppression. Pairs with the driver's full
	 * barrier between writing its event suppression and re-checking the
	 * next used slot: otherwise it could sleep on a stale slot while we
	 * read its stale wish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = virtq_ld16(&q->driver_evt->flags) & 3;
	off_wrap = virtq_ld16(&q->driver_evt->off_wrap);
	if (flags == RING_EVENT_FLAGS_DISABLE)
		return false;
	/* ENABLE, or a mode we cannot honour (DESC without EVENT_IDX, the
	 * reserved 3): an interrupt too many beats a hung driver. */
	if (flags != RING_EVENT_FLAGS_DESC || !q->event_idx || n >= q->num)
		return true;
	/* Where the wished-for slot lies relative to our next used slot, in
	 * slots; the last n slots were used since the last call. A wrap bit
	 * unlike ours means the previous lap. */
	rel = (int)(off_wrap & 0x7fff) - (int)q->used_idx;
	if (!!(off_wrap & 0x8000) != q->used_wrap)
		rel -= q->num;
	return rel < 0 && rel >= -(int)n;
}

void virtq_packed_disable_kicks(struct virtq *q)
{
	q->kicks_enabled = false;
	__atomic_store_n(&q->device_evt->flags,
			 htole16(RING_EVENT_FLAGS_DISABLE), __ATOMIC_RELAXED);
}

bool virtq_packed_enable_kicks(struct virtq *q)
{
	uint16_t flags;

	q->kicks_enabled = true;
	__atomic_store_n(&q->device_evt->flags,
			 htole16(RING_EVENT_FLAGS_ENABLE), __ATOMIC_RELAXED);
	/* Full barrier: the re-arm above must be visible before we look at
	 * the next slot. Pairs with the driver's full barrier between making
	 * a descriptor available and reading device event suppression:
	 * either it sees ENABLE and kicks, or we see its descriptor here. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = le16toh(__atomic_load_n(&q->pdesc[q->last_avail].flags,
					__ATOMIC_RELAXED));
	return desc_is_avail(flags, q->avail_wrap);
}
