/* Split virtqueue, driver side: see vring.h. */
#include "bench/vdrive/vring.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Offsets inside the available and used rings. */
#define RING_FLAGS 0
#define RING_IDX 2
#define RING_ENTRIES 4

static uint16_t *avail_field(const struct vdq *q, size_t off)
{
	return (uint16_t *)(q->avail + off);
}

static uint16_t *used_field(const struct vdq *q, size_t off)
{
	return (uint16_t *)(q->used + off);
}

static uint16_t *used_event(const struct vdq *q)
{
	return avail_field(q, RING_ENTRIES + 2 * (size_t)q->num);
}

static uint16_t *avail_event(const struct vdq *q)
{
	return used_field(q, RING_ENTRIES + 8 * (size_t)q->num);
}

static void st16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

static uint16_t ld16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

int vdq_init(struct vdq *q, uint16_t num, bool event_idx, void *desc,
	     void *avail, void *used)
{
	memset(q, 0, sizeof(*q));
	if (!num || (num & (num - 1)) || (uintptr_t)desc % 16 ||
	    (uintptr_t)avail % 2 || (uintptr_t)used % 4)
		return -EINVAL;
	q->num = num;
	q->event_idx = event_idx;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->next = calloc(num, sizeof(*q->next));
	q->chain_len = calloc(num, sizeof(*q->chain_len));
	q->in_len = calloc(num, sizeof(*q->in_len));
	q->cookie = calloc(num, sizeof(*q->cookie));
	if (!q->next || !q->chain_len || !q->in_len || !q->cookie) {
		vdq_destroy(q);
		return -ENOMEM;
	}
	memset(desc, 0, VDQ_DESC_BYTES(num));
	memset(avail, 0, VDQ_AVAIL_BYTES(num));
	memset(used, 0, VDQ_USED_BYTES(num));
	for (unsigned int i = 0; i < num; i++)
		q->next[i] = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = num;
	q->cb_enabled = true;
	return 0;
}

void vdq_destroy(struct vdq *q)
{
	free(q->next);
	free(q->chain_len);
	free(q->in_len);
	free(q->cookie);
	q->next = q->chain_len = NULL;
	q->in_len = NULL;
	q->cookie = NULL;
}

int vdq_add(struct vdq *q, const struct vdq_buf *bufs, unsigned int nout,
	    unsigned int nin, void *cookie)
{
	unsigned int n = nout + nin;
	uint16_t head = q->free_head, i = head, last = head;
	uint32_t in_len = 0;

	if (!n)
		return -EINVAL;
	if (n > q->nfree || q->dead)
		return -ENOSPC;
	for (unsigned int k = 0; k < n; k++) {
		uint16_t flags = k + 1 < n ? VD_DESC_F_NEXT : 0;

		if (k >= nout) {
			flags |= VD_DESC_F_WRITE;
			in_len += bufs[k].len;
		}
		q->desc[i] = (struct vd_desc){
			.addr = htole64(bufs[k].gpa),
			.len = htole32(bufs[k].len),
			.flags = htole16(flags),
			.next = htole16(k + 1 < n ? q->next[i] : 0),
		};
		last = i;
		i = q->next[i];
	}
	q->free_head = i;
	q->nfree -= (uint16_t)n;
	q->next[last] = q->num;		/* end of this chain */
	q->chain_len[head] = (uint16_t)n;
	q->in_len[head] = in_len;
	q->cookie[head] = cookie;
	st16(avail_field(q, RING_ENTRIES + 2 * (size_t)(q->avail_idx &
							 (q->num - 1))),
	     head);
	q->avail_idx++;
	q->stats.added++;
	return head;
}

bool vdq_kick_prepare(struct vdq *q)
{
	uint16_t old = q->kicked_idx, now = q->avail_idx, ev;
	bool kick;

	if (old == now)
		return false;
	/* Release: the descriptors and ring entries written by vdq_add are
	 * visible before the new idx; pairs with the device's acquire load
	 * of avail->idx. */
	__atomic_store_n(avail_field(q, RING_IDX), htole16(now),
			 __ATOMIC_RELEASE);
	/* Full barrier: the idx store above before the avail_event / flags
	 * load below. Pairs with the device's full barrier between writing
	 * avail_event (or clearing NO_NOTIFY) and re-reading avail->idx:
	 * either it sees our idx, or we see its wish for a kick. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->kicked_idx = now;
	q->stats.kick_checks++;
	if (q->event_idx) {
		ev = ld16(avail_event(q));
		/* Did the idx step over avail_event in (old, now]? */
		kick = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
	} else {
		kick = !(ld16(used_field(q, RING_FLAGS)) & VD_USED_F_NO_NOTIFY);
	}
	if (kick)
		q->stats.kicks++;
	return kick;
}

static int broken(struct vdq *q, const char *why)
{
	q->dead = true;
	q->why = why;
	return -EPROTO;
}

int vdq_get(struct vdq *q, void **cookie, uint32_t *len)
{
	uint16_t idx, slot;
	uint32_t id, l;
	const uint8_t *e;
	unsigned int n;
	uint16_t i;

	if (q->dead)
		return -EPROTO;
	/* Acquire: the used entry and the data the device wrote are read
	 * after the idx; pairs with the device's release store of used->idx. */
	idx = le16toh(__atomic_load_n(used_field(q, RING_IDX),
				      __ATOMIC_ACQUIRE));
	if (idx == q->last_used)
		return 0;
	if ((uint16_t)(idx - q->last_used) > vdq_inflight(q))
		return broken(q, "used idx ran past the chains in flight");
	slot = q->last_used & (q->num - 1);
	e = q->used + RING_ENTRIES + 8 * (size_t)slot;
	id = le32toh(__atomic_load_n((const uint32_t *)e, __ATOMIC_RELAXED));
	l = le32toh(__atomic_load_n((const uint32_t *)(e + 4),
				    __ATOMIC_RELAXED));
	if (id >= q->num || !q->chain_len[id])
		return broken(q, "used id is not a chain in flight");
	if (l > q->in_len[id])
		return broken(q, "used len exceeds the chain's writable bytes");
	*cookie = q->cookie[id];
	*len = l;
	/* Back to the free list, in the order the chain had. */
	n = q->chain_len[id];
	i = id;
	while (--n)
		i = q->next[i];
	q->next[i] = q->free_head;
	q->free_head = (uint16_t)id;
	q->nfree += q->chain_len[id];
	q->chain_len[id] = 0;
	q->cookie[id] = NULL;
	q->last_used++;
	q->stats.used++;
	if (q->cb_enabled && q->event_idx) {
		/* Still wanting interrupts: ask for the next entry. Full
		 * barrier: this store before the next used->idx load; pairs
		 * with the device's full barrier between its used->idx store
		 * and its used_event load. */
		st16(used_event(q), q->last_used);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return 1;
}

bool vdq_enable_cb(struct vdq *q)
{
	q->cb_enabled = true;
	if (q->event_idx)
		st16(used_event(q), q->last_used);
	else
		st16(avail_field(q, RING_FLAGS), 0);
	/* Full barrier: the re-arm before the used->idx load; pairs with the
	 * device's full barrier between publishing used->idx and reading
	 * used_event / the avail flags. Either it interrupts, or we see the
	 * entry here. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ld16(used_field(q, RING_IDX)) != q->last_used;
}

void vdq_disable_cb(struct vdq *q)
{
	q->cb_enabled = false;
	/* With EVENT_IDX nothing to write: used_event stays where it was,
	 * and the device, which interrupts only when used->idx steps over
	 * it, will not again for the next 65536 entries. */
	if (!q->event_idx)
		st16(avail_field(q, RING_FLAGS), VD_AVAIL_F_NO_INTERRUPT);
}
