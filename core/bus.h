/* PIO and MMIO buses: address ranges dispatched to slow-path device handlers
 * from the vCPU thread that trapped. The fast path (virtio queue kicks)
 * never comes here: those end in ioeventfds inside KVM. */
#ifndef TERN_CORE_BUS_H
#define TERN_CORE_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A device's handlers. `off` is relative to the range's base; `len` is
 * 1, 2, 4 or 8. A read fills data[0..len) (little endian). Handlers run in
 * vCPU threads, possibly several at once: devices lock what they share.
 * No bus lock is held while a handler runs, so it may register or
 * unregister ranges (a config write moving an I/O BAR). */
struct bus_ops {
	void (*read)(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len);
};

struct bus_range {
	uint64_t base, len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
	bool posted;			/* some of its writes are posted */
};

/* Posted writes. The owner of a bus that can hold writes back (KVM's
 * coalesced MMIO: the guest's write is queued in a ring shared with us,
 * with no exit) sets `post`. A device may then name spans of its range
 * whose writes it can take late: they reach its handler in the order the
 * guest made them, on a vCPU thread, before that vCPU handles its next
 * exit. A read of any register therefore sees every write made before it;
 * what a posted write starts (a receive ring refilled, say) starts only at
 * the vCPU's next exit. Only for registers no other thread waits on. */
struct bus_poster {
	int (*post)(void *opaque, uint64_t base, uint64_t len);
	void (*unpost)(void *opaque, uint64_t base, uint64_t len);
	void *opaque;
};

#define BUS_MAX_RANGES 64

struct bus {
	const char *name;		/* "pio" or "mmio" */
	pthread_rwlock_t lock;		/* writers: registration, BAR moves */
	unsigned int n;
	struct bus_range ranges[BUS_MAX_RANGES];	/* sorted by base */
	struct bus_poster poster;	/* .post NULL: every write exits */
};

int bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);
/* -EEXIST on overlap, -ENOSPC when full, -EINVAL on an empty range. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name);
/* Also withdraws the range's posted spans. */
int bus_unregister(struct bus *bus, uint64_t base);
/* Writes to [base, base + len) may be posted. The span must lie inside one
 * registered range: -ENOENT otherwise. 0 when the bus cannot post (the
 * writes then exit as before); -errno from the poster. */
int bus_post_writes(struct bus *bus, uint64_t base, uint64_t len);
/* Returns false when nothing claims the address (reads then give all ones). */
bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data,
	       uint32_t len);

/* Little-endian helpers for handlers. */
static inline uint64_t bus_get(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;
	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static inline void bus_put(uint8_t *data, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

#endif
