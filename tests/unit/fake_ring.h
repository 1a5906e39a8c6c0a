/* The unit tests' fake guest and virtio driver: guest RAM (core/memory.c),
 * a bump allocator for buffers in it, and a driver's view of one split or
 * packed queue: lay out the rings, offer chains of descriptors, kick, and
 * take back what the device used. One copy for every test that drives a
 * device through its rings; a test includes it once. */
#ifndef TERN_TESTS_FAKE_RING_H
#define TERN_TESTS_FAKE_RING_H

#include "core/memory.h"
#include "virtio/device.h"
#include "virtio/queue.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (16ULL << 20)
#define RING_GPA 0x10000ULL	/* queue i: RING_GPA + i * RING_STRIDE */
#define RING_STRIDE 0x8000ULL
#define DATA_GPA 0x100000ULL
#define DATA_END (RAM_SIZE - 0x100000ULL)
#define WAIT_MS 3000		/* for what must happen */
#define QUIET_MS 100		/* for what must not */

/* --- fake guest and driver ---------------------------------------------- */

static struct guest_mem mem;
static uint64_t next_data = DATA_GPA;

static inline void *gp(uint64_t gpa)
{
	void *p = guest_mem_ptr(&mem, gpa, 1);

	if (!p)
		abort();
	return p;
}

static inline uint64_t galloc(uint32_t len)
{
	uint64_t g = next_data;

	next_data = (next_data + len + 63) & ~63ULL;
	if (next_data >= DATA_END) {
		next_data = DATA_GPA;
		g = galloc(len);
	}
	return g;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* The driver's view of one queue, split or packed. */
struct fq {
	unsigned int index;
	uint16_t num;
	bool packed;
	uint64_t desc_gpa, drv_gpa, dev_gpa;
	int kick_fd, call_fd;
	/* split */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx, last_used, next_desc;
	/* packed */
	struct pvirtq_desc *pdesc;
	uint16_t pnext, pused;
	bool avail_wrap, used_wrap;
	uint16_t sgs[VIRTQ_MAX_SIZE];
};

static inline void fq_init(struct fq *q, unsigned int index, uint16_t num,
			   bool packed)
{
	uint64_t base = RING_GPA + index * RING_STRIDE;

	if (q->kick_fd <= 0) {
		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	memset(gp(base), 0, RING_STRIDE);
	q->index = index;
	q->num = num;
	q->packed = packed;
	q->desc_gpa = base;
	q->drv_gpa = base + 0x2000;
	q->dev_gpa = base + 0x4000;
	q->desc = gp(q->desc_gpa);
	q->avail = gp(q->drv_gpa);
	q->used = gp(q->dev_gpa);
	q->pdesc = gp(q->desc_gpa);
	q->avail_idx = q->last_used = q->next_desc = 0;
	q->pnext = q->pused = 0;
	q->avail_wrap = q->used_wrap = true;
	for (uint64_t v; read(q->kick_fd, &v, 8) > 0 || read(q->call_fd, &v, 8) > 0;)
		;
}

static inline struct virtio_queue_io fq_io(const struct fq *q)
{
	return (struct virtio_queue_io){
		.enabled = true, .size = q->num, .desc = q->desc_gpa,
		.driver = q->drv_gpa, .device = q->dev_gpa,
		.kick_fd = q->kick_fd, .call_fd = q->call_fd,
	};
}

static inline void fq_close(struct fq *q)
{
	if (q->kick_fd > 0) {
		close(q->kick_fd);
		close(q->call_fd);
	}
	q->kick_fd = q->call_fd = 0;
}

static inline void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, 8) != 8)
		abort();
}

static inline uint64_t ev_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

/* Offers a chain of fresh descriptors; returns its id. */
static inline uint16_t fq_offer(struct fq *q, const struct seg *s,
				 unsigned int n)
{
	uint16_t head;

	if (q->packed) {
		uint16_t first = q->pnext, first_flags = 0;

		head = first;
		for (unsigned int i = 0; i < n; i++) {
			struct pvirtq_desc *e = &q->pdesc[q->pnext];
			uint16_t f = (s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
				     (q->avail_wrap ? VIRTQ_DESC_F_AVAIL
						    : VIRTQ_DESC_F_USED);

			e->addr = s[i].gpa;
			e->len = s[i].len;
			e->id = head;
			if (i)
				e->flags = f;
			else
				first_flags = f;
			if (++q->pnext == q->num) {
				q->pnext = 0;
				q->avail_wrap = !q->avail_wrap;
			}
		}
		q->sgs[head] = (uint16_t)n;
		__atomic_store_n(&q->pdesc[first].flags, first_flags,
				 __ATOMIC_RELEASE);
	} else {
		head = q->next_desc;
		for (unsigned int i = 0; i < n; i++) {
			uint16_t me = q->next_desc;

			q->next_desc = (uint16_t)((q->next_desc + 1) % q->num);
			q->desc[me] = (struct virtq_desc){
				s[i].gpa, s[i].len,
				(uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				q->next_desc };
		}
		q->avail->ring[q->avail_idx % q->num] = head;
		q->avail_idx++;
		__atomic_store_n(&q->avail->idx, q->avail_idx,
				 __ATOMIC_RELEASE);
	}
	return head;
}

/* The same, then kicks (whether the device asked for kicks or not). */
static inline uint16_t fq_add(struct fq *q, const struct seg *s,
			       unsigned int n)
{
	uint16_t head = fq_offer(q, s, n);

	kick(q->kick_fd);
	return head;
}

static inline bool fq_used(struct fq *q, uint32_t *id, uint32_t *len)
{
	if (q->packed) {
		struct pvirtq_desc *e = &q->pdesc[q->pused];
		uint16_t f = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

		if (!!(f & VIRTQ_DESC_F_USED) != q->used_wrap ||
		    !!(f & VIRTQ_DESC_F_AVAIL) != q->used_wrap)
			return false;
		*id = e->id;
		*len = e->len;
		q->pused += q->sgs[*id];
		if (q->pused >= q->num) {
			q->pused -= q->num;
			q->used_wrap = !q->used_wrap;
		}
		return true;
	}
	if (q->last_used == __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE))
		return false;
	*id = q->used->ring[q->last_used % q->num].id;
	*len = q->used->ring[q->last_used % q->num].len;
	q->last_used++;
	return true;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline bool fq_wait(struct fq *q, uint32_t *id, uint32_t *len)
{
	*id = *len = 0;		/* defined when nothing comes */
	for (int i = 0; i < WAIT_MS; i++) {
		if (fq_used(q, id, len))
			return true;
		sleep_ms(1);
	}
	return false;
}

/* One device-writable buffer of len bytes, offered; returns its gpa. */
static inline uint64_t rx_buf(struct fq *q, uint32_t len, uint16_t *id)
{
	struct seg s = { galloc(len), len, true };

	memset(gp(s.gpa), 0xee, len);
	*id = fq_add(q, &s, 1);
	return s.gpa;
}


static inline bool wait_fd(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1;
}

#endif
