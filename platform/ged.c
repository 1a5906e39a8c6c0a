#include "platform/ged.h"

#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define GED_STATE_VERSION 1

enum { TAG_PENDING = 1 };

static struct ged *to_ged(struct device *d)
{
	return (struct ged *)((char *)d - offsetof(struct ged, dev));
}

/* With g->lock held: the line follows the pending bits. */
static void update_line(struct ged *g)
{
	if (g->set_irq)
		g->set_irq(g->set_irq_opaque, g->gsi, g->pending != 0);
}

static void ged_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct ged *g = opaque;
	uint32_t v = 0;

	memset(data, 0, len);
	/* The AML reads the whole register (DWordAcc): only that read takes
	 * the events. A narrower or misaligned read sees them and leaves
	 * them. */
	pthread_mutex_lock(&g->lock);
	if (off < GED_REG_LEN)
		v = g->pending >> (8 * off);
	if (off == 0 && len == GED_REG_LEN) {
		g->pending = 0;
		update_line(g);
	}
	pthread_mutex_unlock(&g->lock);
	bus_put(data, len, v);
}

static void ged_write(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
	/* Read-only: the guest clears events by reading them. */
}

static const struct bus_ops ged_bus_ops = {
	.read = ged_read,
	.write = ged_write,
};

void ged_init(struct ged *g, const char *id, uint16_t base, uint32_t gsi)
{
	memset(g, 0, sizeof(*g));
	device_init(&g->dev, &ged_ops, id);
	g->base = base;
	g->gsi = gsi;
	pthread_mutex_init(&g->lock, NULL);
}

void ged_raise(struct ged *g, unsigned int event)
{
	if (event >= 32 || !((1u << event) & GED_EVENTS_MASK)) {
		log_err(g->dev.id, "no event %u", event);
		return;
	}
	pthread_mutex_lock(&g->lock);
	g->pending |= 1u << event;
	update_line(g);
	pthread_mutex_unlock(&g->lock);
}

static int ged_realize(struct device *d, const struct machine_host *h)
{
	struct ged *g = to_ged(d);
	int ret;

	g->set_irq = h->set_irq;
	g->set_irq_opaque = h->set_irq_opaque;
	ret = bus_register(h->pio, g->base, GED_REG_LEN, &ged_bus_ops, g,
			   d->id);
	if (!ret)
		g->pio = h->pio;
	return ret;
}

static void ged_unrealize(struct device *d)
{
	struct ged *g = to_ged(d);

	if (g->pio)
		bus_unregister(g->pio, g->base);
	g->pio = NULL;
}

static void ged_reset(struct device *d)
{
	struct ged *g = to_ged(d);

	pthread_mutex_lock(&g->lock);
	g->pending = 0;
	update_line(g);
	pthread_mutex_unlock(&g->lock);
}

static int ged_save(struct device *d, struct state_writer *w)
{
	struct ged *g = to_ged(d);

	pthread_mutex_lock(&g->lock);
	state_put_u32(w, TAG_PENDING, g->pending);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int ged_load(struct device *d, struct state_reader *r)
{
	struct ged *g = to_ged(d);
	uint32_t pending;
	int ret = state_get_u32(r, TAG_PENDING, &pending);

	if (ret)
		return ret == -ENOENT ? state_bad(d->id, "pending", 0,
						  "missing")
				      : ret;
	if (pending & ~GED_EVENTS_MASK)
		return state_bad(d->id, "pending", pending,
				 "bits with no event are reserved");
	pthread_mutex_lock(&g->lock);
	g->pending = pending;
	update_line(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void ged_destroy(struct device *d)
{
	pthread_mutex_destroy(&to_ged(d)->lock);
}

const struct device_ops ged_ops = {
	.kind = "ged",
	.state_version = GED_STATE_VERSION,
	.realize = ged_realize,
	.unrealize = ged_unrealize,
	.reset = ged_reset,
	.save = ged_save,
	.load = ged_load,
	.destroy = ged_destroy,
};
