/* Per-queue counters a device keeps for vm.counters: requests, bytes,
 * errors, notifications. Each queue's counters have one writer (the
 * thread serving the queue) and any number of readers (the main loop
 * answering the API): relaxed atomics, no lock, no read-modify-write on
 * the fast path. A reader sees each value at some recent moment, not the
 * four at one instant. */
#ifndef TERN_CORE_COUNTERS_H
#define TERN_CORE_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

enum {
	CTR_REQUESTS,		/* requests completed (any status) */
	CTR_BYTES,		/* data bytes moved by them */
	CTR_ERRORS,		/* completed with an error status */
	CTR_NOTIFICATIONS,	/* kicks from the driver */
	CTR_N
};

#define CTR_NAMES { "requests", "bytes", "errors", "notifications" }

struct queue_counters {
	_Atomic uint64_t v[CTR_N];
};

/* The writer's add: a load and a store, both relaxed (one writer). */
static inline void ctr_add(struct queue_counters *c, unsigned int i,
			   uint64_t n)
{
	atomic_store_explicit(&c->v[i],
			      atomic_load_explicit(&c->v[i],
						   memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t ctr_get(const struct queue_counters *c, unsigned int i)
{
	return atomic_load_explicit(&((struct queue_counters *)c)->v[i],
				    memory_order_relaxed);
}

#endif
