/* The tests' fake virtio driver, ring part: what a driver writes into a
 * split or packed queue and reads back from it (virtio 1.2 §2.7, §2.8),
 * over rings the caller placed in its own guest memory. One copy for the
 * unit tests (tests/unit/fake_ring.h adds guest RAM and checks) and the
 * fuzz targets, so it has no globals and no assertions: functions return
 * a value or -errno.
 *
 * The caller may pick where a chain goes: the descriptors of a split chain
 * (fq_chain), the buffer id of a packed one (fq_packed), for a free list
 * of its own or a chain that breaks a rule on purpose; fq_offer picks the
 * simple way (the next descriptors in ring order; the first slot as id). */
#ifndef TERN_TESTS_FAKE_RING_CORE_H
#define TERN_TESTS_FAKE_RING_CORE_H

#include "virtio/device.h"
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* One buffer of a chain: device-writable or not. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* The driver's view of one queue, split or packed. */
struct fq {
	uint16_t num;
	bool packed;
	uint64_t desc_gpa, drv_gpa, dev_gpa;	/* what the device is told */
	int kick_fd, call_fd;
	/* split */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx, last_used, next_desc;
	/* packed: the same three areas */
	struct pvirtq_desc *pdesc;
	struct pvirtq_event_suppress *drv_evt, *dev_evt;
	uint16_t pnext, pused;
	bool avail_wrap, used_wrap;
	uint16_t sgs[VIRTQ_MAX_SIZE];	/* by buffer id: its descriptors */
};

/* The driver's state for num entries over rings at host addresses desc,
 * drv and dev, from `start` on (virtq_init's start_idx: 0 for a fresh
 * queue). Touches neither the rings nor the gpa and fd fields.
 * 0, or -EINVAL for a size no queue has. */
static inline int fq_attach(struct fq *q, uint16_t num, bool packed,
			    void *desc, void *drv, void *dev, uint16_t start)
{
	if (!num || num > VIRTQ_MAX_SIZE)
		return -EINVAL;
	q->num = num;
	q->packed = packed;
	q->desc = desc;
	q->pdesc = desc;
	q->avail = drv;
	q->drv_evt = drv;
	q->used = dev;
	q->dev_evt = dev;
	q->avail_idx = q->last_used = start;
	q->next_desc = 0;
	q->pnext = q->pused = start & 0x7fff;
	q->avail_wrap = q->used_wrap = !(start & 0x8000);
	memset(q->sgs, 0, sizeof(q->sgs));
	return 0;
}

/* What a transport tells the device about the queue. */
static inline struct virtio_queue_io fq_io(const struct fq *q)
{
	return (struct virtio_queue_io){
		.enabled = true, .size = q->num, .desc = q->desc_gpa,
		.driver = q->drv_gpa, .device = q->dev_gpa,
		.kick_fd = q->kick_fd, .call_fd = q->call_fd,
	};
}

/* Kick and call eventfds, non-blocking. 0 or -errno. */
static inline int fq_fds_open(struct fq *q)
{
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return q->kick_fd < 0 || q->call_fd < 0 ? -errno : 0;
}

/* Forgets kicks and interrupts of an earlier run. */
static inline void fq_fds_drain(struct fq *q)
{
	for (uint64_t v; read(q->kick_fd, &v, 8) > 0 ||
			 read(q->call_fd, &v, 8) > 0;)
		;
}

static inline void fq_close(struct fq *q)
{
	if (q->kick_fd > 0) {
		close(q->kick_fd);
		close(q->call_fd);
	}
	q->kick_fd = q->call_fd = 0;
}

/* The driver notifies the device. 0 or -errno. */
static inline int fq_kick(const struct fq *q)
{
	uint64_t one = 1;

	return write(q->kick_fd, &one, 8) == 8 ? 0 : -EIO;
}

/* Descriptor i of the split table at t: the ring's own (q->desc) or an
 * indirect table, which may sit at any address. Any values at all. */
static inline void fq_put_desc(void *t, unsigned int i, uint64_t addr,
			       uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc e = { htole64(addr), htole32(len), htole16(flags),
				htole16(next) };

	memcpy((uint8_t *)t + sizeof(e) * i, &e, sizeof(e));
}

static inline uint16_t fq_seg_flags(const struct seg *s, bool more)
{
	return (uint16_t)((s->write ? VIRTQ_DESC_F_WRITE : 0) |
			  (more ? VIRTQ_DESC_F_NEXT : 0));
}

/* Split: segments s[0..n) into descriptors d[0..n), linked in that order,
 * not yet available. The head d[0], or -EINVAL. */
static inline int fq_chain(struct fq *q, const struct seg *s, unsigned int n,
			   const uint16_t *d)
{
	if (!n || n > q->num)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		fq_put_desc(q->desc, d[i], s[i].gpa, s[i].len,
			    fq_seg_flags(&s[i], i + 1 < n),
			    i + 1 < n ? d[i + 1] : 0);
	if (d[0] < VIRTQ_MAX_SIZE)
		q->sgs[d[0]] = (uint16_t)n;
	return d[0];
}

/* Split: the next available entry names head (any value), unseen by the
 * device until fq_avail_flush. */
static inline void fq_avail_put(struct fq *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % q->num] = htole16(head);
	q->avail_idx++;
}

/* Split: the device may see every entry put so far. */
static inline void fq_avail_flush(struct fq *q)
{
	__atomic_store_n(&q->avail->idx, htole16(q->avail_idx),
			 __ATOMIC_RELEASE);
}

/* Split: makes the chain at head available. */
static inline void fq_publish(struct fq *q, uint16_t head)
{
	fq_avail_put(q, head);
	fq_avail_flush(q);
}

/* Packed: segments s[0..n) in the next slots as buffer id, available at
 * once (the first slot's flags written last); head_flags go on the first
 * descriptor too (VIRTQ_DESC_F_INDIRECT: s[0] is a table). id, or
 * -EINVAL. */
static inline int fq_packed(struct fq *q, const struct seg *s,
			    unsigned int n, uint16_t id, uint16_t head_flags)
{
	uint16_t first = q->pnext, first_flags = 0;

	if (!n || n > q->num || id >= VIRTQ_MAX_SIZE)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct pvirtq_desc *e = &q->pdesc[q->pnext];
		uint16_t f = fq_seg_flags(&s[i], i + 1 < n) |
			     (i ? 0 : head_flags) |
			     (q->avail_wrap ? VIRTQ_DESC_F_AVAIL
					    : VIRTQ_DESC_F_USED);

		e->addr = htole64(s[i].gpa);
		e->len = htole32(s[i].len);
		e->id = htole16(id);
		if (i)
			e->flags = htole16(f);
		else
			first_flags = f;
		if (++q->pnext == q->num) {
			q->pnext = 0;
			q->avail_wrap = !q->avail_wrap;
		}
	}
	q->sgs[id] = (uint16_t)n;
	__atomic_store_n(&q->pdesc[first].flags, htole16(first_flags),
			 __ATOMIC_RELEASE);
	return id;
}

/* Either format, placed the simple way: split in the next n descriptors in
 * ring order, packed with the first slot as buffer id. The id, or
 * -EINVAL. */
static inline int fq_offer(struct fq *q, const struct seg *s, unsigned int n)
{
	uint16_t d[VIRTQ_MAX_SIZE];
	int head;

	if (q->packed)
		return fq_packed(q, s, n, q->pnext, 0);
	if (!n || n > q->num)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		d[i] = (uint16_t)((q->next_desc + i) % q->num);
	q->next_desc = (uint16_t)((q->next_desc + n) % q->num);
	head = fq_chain(q, s, n, d);
	fq_publish(q, (uint16_t)head);
	return head;
}

/* The next used entry, left in place: 1, or 0 when there is none. flags
 * (packed: the slot's) may be NULL. */
static inline int fq_peek_used(const struct fq *q, uint32_t *id,
			       uint32_t *len, uint16_t *flags)
{
	if (q->packed) {
		const struct pvirtq_desc *e = &q->pdesc[q->pused];
		uint16_t f = le16toh(__atomic_load_n(&e->flags,
						     __ATOMIC_ACQUIRE));

		if (!!(f & VIRTQ_DESC_F_USED) != q->used_wrap ||
		    !!(f & VIRTQ_DESC_F_AVAIL) != q->used_wrap)
			return 0;
		*id = le16toh(e->id);
		*len = le32toh(e->len);
		if (flags)
			*flags = f;
		return 1;
	}
	if (q->last_used == le16toh(__atomic_load_n(&q->used->idx,
						    __ATOMIC_ACQUIRE)))
		return 0;
	*id = le32toh(q->used->ring[q->last_used % q->num].id);
	*len = le32toh(q->used->ring[q->last_used % q->num].len);
	if (flags)
		*flags = 0;
	return 1;
}

/* Steps past the entry fq_peek_used gave, buffer id `id`. 0, or -EINVAL
 * when a packed id names no buffer in flight (its length is unknown). */
static inline int fq_next_used(struct fq *q, uint32_t id)
{
	uint16_t n;

	if (!q->packed) {
		if (id < VIRTQ_MAX_SIZE)
			q->sgs[id] = 0;
		q->last_used++;
		return 0;
	}
	if (id >= VIRTQ_MAX_SIZE || !q->sgs[id])
		return -EINVAL;
	n = q->sgs[id];
	q->sgs[id] = 0;
	q->pused += n;
	if (q->pused >= q->num) {
		q->pused -= q->num;
		q->used_wrap = !q->used_wrap;
	}
	return 0;
}

/* Takes the next used entry: 1, 0 when there is none, or fq_next_used's
 * -EINVAL. */
static inline int fq_take_used(struct fq *q, uint32_t *id, uint32_t *len,
			       uint16_t *flags)
{
	int ret = fq_peek_used(q, id, len, flags);

	return ret == 1 && fq_next_used(q, *id) ? -EINVAL : ret;
}

/* Split: the device's used index. */
static inline uint16_t fq_used_idx(const struct fq *q)
{
	return le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
}

/* Split with EVENT_IDX: the driver's used_event, the device's
 * avail_event. */
static inline uint16_t *fq_used_event(const struct fq *q)
{
	return &q->avail->ring[q->num];
}

static inline uint16_t *fq_avail_event(const struct fq *q)
{
	return (uint16_t *)&q->used->ring[q->num];
}

/* EVENT_IDX, the driver's side: did the index step over event in
 * (old, now]? */
static inline bool fq_need_event(uint16_t event, uint16_t now, uint16_t old)
{
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

#endif
