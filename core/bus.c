#include "core/bus.h"

#include <errno.h>
#include <string.h>

int bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	return -pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	pthread_rwlock_destroy(&bus->lock);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name)
{
	unsigned int i;
	int ret = 0;

	if (!len || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	if (bus->n == BUS_MAX_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	for (i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len) {
			ret = -EEXIST;
			goto out;
		}
		if (r->base > base)
			break;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i],
		(bus->n - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct bus_range){ base, len, ops, opaque, name,
					     false };
	bus->n++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (unsigned int i = 0; i < bus->n; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (r->base != base)
			continue;
		if (r->posted && bus->poster.unpost)
			bus->poster.unpost(bus->poster.opaque, r->base, r->len);
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->n - i - 1) * sizeof(bus->ranges[0]));
		bus->n--;
		ret = 0;
		break;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr,
					uint32_t len);

int bus_post_writes(struct bus *bus, uint64_t base, uint64_t len)
{
	struct bus_range *r;
	int ret = 0;

	if (!len || len > UINT32_MAX || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	r = (struct bus_range *)bus_find(bus, base, (uint32_t)len);
	if (!r)
		ret = -ENOENT;
	else if (bus->poster.post)
		ret = bus->poster.post(bus->poster.opaque, base, len);
	if (!ret && r && bus->poster.post)
		r->posted = true;
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* Binary search; caller holds the read lock. An access must fit in one
 * range: one that straddles two is nobody's. */
static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr,
					uint32_t len)
{
	unsigned int lo = 0, hi = bus->n;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return addr - r->base + len <= r->len ? r : NULL;
	}
	return NULL;
}

/* The range is copied out and the lock dropped before the handler runs:
 * a handler may change the bus it was reached through (a PCI config write
 * on the PIO bus that moves an I/O BAR registers on that same bus). A
 * handler can thus run just after its range went away on another vCPU;
 * devices outlive the vCPU threads, so it still finds its device. */
static bool bus_lookup(struct bus *bus, uint64_t addr, uint32_t len,
		       struct bus_range *out)
{
	const struct bus_range *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = bus_find(bus, addr, len);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&bus->lock);
	return r != NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len)
{
	struct bus_range r;
	bool found = bus_lookup(bus, addr, len, &r);

	if (found && r.ops->read)
		r.ops->read(r.opaque, addr - r.base, data, len);
	else
		memset(data, 0xff, len);
	return found;
}

bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data,
	       uint32_t len)
{
	struct bus_range r;
	bool found = bus_lookup(bus, addr, len, &r);

	if (found && r.ops->write)
		r.ops->write(r.opaque, addr - r.base, data, len);
	return found;
}
