/* The unit tests' fake guest and virtio driver: guest RAM (core/memory.c),
 * a bump allocator for buffers in it, and queues laid out there for the
 * driver of tests/fake_ring_core.h: lay out the rings, offer chains of
 * descriptors, kick, and take back what the device used, each step
 * checked. One copy for every test that drives a device through its
 * rings; a test includes it once. */
#ifndef TERN_TESTS_FAKE_RING_H
#define TERN_TESTS_FAKE_RING_H

#include "check.h"
#include "core/memory.h"
#include "tests/fake_ring_core.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* Queue `index`, fresh, at its place in the ring area; its eventfds are
 * made on first use and emptied after. */
static inline void fq_init(struct fq *q, unsigned int index, uint16_t num,
			   bool packed)
{
	uint64_t base = RING_GPA + index * RING_STRIDE;

	if (q->kick_fd <= 0)
		CHECK_EQ(fq_fds_open(q), 0);
	memset(gp(base), 0, RING_STRIDE);
	q->desc_gpa = base;
	q->drv_gpa = base + 0x2000;
	q->dev_gpa = base + 0x4000;
	CHECK_EQ(fq_attach(q, num, packed, gp(q->desc_gpa), gp(q->drv_gpa),
			   gp(q->dev_gpa), 0), 0);
	fq_fds_drain(q);
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

/* fq_offer, then a kick (whether the device asked for kicks or not). */
static inline uint16_t fq_add(struct fq *q, const struct seg *s,
			       unsigned int n)
{
	int head = fq_offer(q, s, n);

	CHECK(head >= 0);
	kick(q->kick_fd);
	return (uint16_t)head;
}

/* Takes a used entry: false when there is none. */
static inline bool fq_used(struct fq *q, uint32_t *id, uint32_t *len)
{
	int ret = fq_take_used(q, id, len, NULL);

	CHECK(ret >= 0);
	return ret == 1;
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
