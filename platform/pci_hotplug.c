#include "platform/pci_hotplug.h"

#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PCI_HOTPLUG_STATE_VERSION 1
#define LOG_ERRORS 8			/* guest errors logged per device */

enum { TAG_UP = 1, TAG_DOWN, TAG_REMOVING, TAG_EJECTED };

static struct pci_hotplug *to_hp(struct device *d)
{
	return (struct pci_hotplug *)((char *)d -
				      offsetof(struct pci_hotplug, dev));
}

static bool slot_ok(unsigned int slot)
{
	return slot < PCI_HOTPLUG_SLOTS && ((1u << slot) & PCI_HOTPLUG_SLOT_MASK);
}

static void kick(struct pci_hotplug *hp)
{
	uint64_t one = 1;

	if (hp->efd >= 0 && write(hp->efd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		log_err(hp->dev.id, "signalling the main loop: %s",
			strerror(errno));
}

static void hp_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_hotplug *hp = opaque;
	uint32_t regs[3];

	memset(data, 0, len);
	if (off >= PCI_HOTPLUG_LEN || len > PCI_HOTPLUG_LEN - off)
		return;
	pthread_mutex_lock(&hp->lock);
	regs[0] = hp->up;
	regs[1] = hp->down;
	regs[2] = 0;
	pthread_mutex_unlock(&hp->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(regs[(off + i) / 4] >> (8 * ((off + i) % 4)));
}

static void hp_write(void *opaque, uint64_t off, const uint8_t *data,
		     uint32_t len)
{
	struct pci_hotplug *hp = opaque;
	uint32_t v = (uint32_t)bus_get(data, len);
	bool handed = false;

	pthread_mutex_lock(&hp->lock);
	/* Whole registers only, as the DSDT's DWordAcc fields write them. */
	if (len != 4 || off % 4 || off >= PCI_HOTPLUG_LEN) {
		log_limited(&hp->errors_logged, LOG_ERRORS, hp->dev.id,
			    "register errors", "%u-byte write at +%llu ignored",
			    len, (unsigned long long)off);
	} else if (off == PCI_HOTPLUG_REG_UP) {
		hp->up &= ~v;
	} else if (off == PCI_HOTPLUG_REG_DOWN) {
		hp->down &= ~v;
	} else if (slot_ok(v) && (hp->removing & (1u << v))) {
		hp->removing &= ~(1u << v);
		hp->down &= ~(1u << v);
		hp->ejected |= 1u << v;
		handed = true;
	} else {
		log_limited(&hp->errors_logged, LOG_ERRORS, hp->dev.id,
			    "register errors",
			    "eject of slot %u ignored: no removal asked", v);
	}
	pthread_mutex_unlock(&hp->lock);
	if (handed)
		kick(hp);
}

static const struct bus_ops hp_bus_ops = {
	.read = hp_read,
	.write = hp_write,
};

void pci_hotplug_service(struct pci_hotplug *hp)
{
	uint32_t ejected;

	pthread_mutex_lock(&hp->lock);
	ejected = hp->ejected;
	hp->ejected = 0;
	pthread_mutex_unlock(&hp->lock);
	for (unsigned int s = 0; s < PCI_HOTPLUG_SLOTS; s++)
		if (ejected & (1u << s))
			hp->eject(hp->opaque, s);
}

static void hp_ready(struct loop_watch *w, uint32_t events)
{
	uint64_t v;

	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("pci-hotplug", "reading its eventfd: %s",
			strerror(errno));
	pci_hotplug_service(w->opaque);
}

void pci_hotplug_init(struct pci_hotplug *hp, const char *id, uint16_t base,
		      void (*notify)(void *opaque),
		      void (*eject)(void *opaque, unsigned int slot),
		      void *opaque)
{
	memset(hp, 0, sizeof(*hp));
	device_init(&hp->dev, &pci_hotplug_ops, id);
	hp->base = base;
	hp->notify = notify;
	hp->eject = eject;
	hp->opaque = opaque;
	hp->efd = -1;
	pthread_mutex_init(&hp->lock, NULL);
}

int pci_hotplug_plug(struct pci_hotplug *hp, unsigned int slot)
{
	int ret = 0;

	if (!slot_ok(slot))
		return -EINVAL;
	pthread_mutex_lock(&hp->lock);
	if ((hp->removing | hp->ejected) & (1u << slot))
		ret = -EBUSY;
	else
		hp->up |= 1u << slot;
	pthread_mutex_unlock(&hp->lock);
	if (!ret)
		hp->notify(hp->opaque);
	return ret;
}

int pci_hotplug_unplug(struct pci_hotplug *hp, unsigned int slot)
{
	int ret = 0;

	if (!slot_ok(slot))
		return -EINVAL;
	pthread_mutex_lock(&hp->lock);
	if ((hp->removing | hp->ejected) & (1u << slot)) {
		ret = -EALREADY;
	} else {
		hp->removing |= 1u << slot;
		hp->down |= 1u << slot;
		hp->up &= ~(1u << slot);
	}
	pthread_mutex_unlock(&hp->lock);
	if (!ret)
		hp->notify(hp->opaque);
	return ret;
}

void pci_hotplug_cancel(struct pci_hotplug *hp, unsigned int slot)
{
	if (!slot_ok(slot))
		return;
	pthread_mutex_lock(&hp->lock);
	hp->removing &= ~(1u << slot);
	hp->down &= ~(1u << slot);
	pthread_mutex_unlock(&hp->lock);
}

static int hp_realize(struct device *d, const struct machine_host *h)
{
	struct pci_hotplug *hp = to_hp(d);
	int ret;

	hp->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (hp->efd < 0)
		return -errno;
	if (h->loop) {
		ret = loop_add(h->loop, &hp->watch, hp->efd, EPOLLIN, hp_ready,
			       hp);
		if (ret)
			goto err;
		hp->loop = h->loop;
	}
	ret = bus_register(h->pio, hp->base, PCI_HOTPLUG_LEN, &hp_bus_ops, hp,
			   d->id);
	if (ret)
		goto err;
	hp->pio = h->pio;
	return 0;
err:
	if (hp->loop)
		loop_del(hp->loop, &hp->watch);
	hp->loop = NULL;
	close(hp->efd);
	hp->efd = -1;
	return ret;
}

static void hp_unrealize(struct device *d)
{
	struct pci_hotplug *hp = to_hp(d);

	if (hp->pio)
		bus_unregister(hp->pio, hp->base);
	hp->pio = NULL;
	if (hp->loop)
		loop_del(hp->loop, &hp->watch);
	hp->loop = NULL;
	if (hp->efd >= 0)
		close(hp->efd);
	hp->efd = -1;
}

static void hp_reset(struct device *d)
{
	struct pci_hotplug *hp = to_hp(d);

	/* A reset machine starts with what is plugged now: nothing to
	 * announce. Removals in progress stay (the host still wants the
	 * device out: the guest is asked again at its next event). */
	pthread_mutex_lock(&hp->lock);
	hp->up = 0;
	hp->down = hp->removing;
	pthread_mutex_unlock(&hp->lock);
}

static int hp_save(struct device *d, struct state_writer *w)
{
	struct pci_hotplug *hp = to_hp(d);

	pthread_mutex_lock(&hp->lock);
	state_put_u32(w, TAG_UP, hp->up);
	state_put_u32(w, TAG_DOWN, hp->down);
	state_put_u32(w, TAG_REMOVING, hp->removing);
	state_put_u32(w, TAG_EJECTED, hp->ejected);
	pthread_mutex_unlock(&hp->lock);
	return 0;
}

static int get(struct device *d, struct state_reader *r, uint16_t tag,
	       const char *name, uint32_t *v)
{
	int ret = state_get_u32(r, tag, v);

	if (ret)
		return ret == -ENOENT ? state_bad(d->id, name, 0, "missing")
				      : ret;
	if (*v & ~PCI_HOTPLUG_SLOT_MASK)
		return state_bad(d->id, name, *v,
				 "slot 0 (the host bridge) is not hotplugged");
	return 0;
}

static int hp_load(struct device *d, struct state_reader *r)
{
	struct pci_hotplug *hp = to_hp(d);
	uint32_t up, down, removing, ejected;
	int ret;

	ret = get(d, r, TAG_UP, "up", &up);
	ret = ret ?: get(d, r, TAG_DOWN, "down", &down);
	ret = ret ?: get(d, r, TAG_REMOVING, "removing", &removing);
	ret = ret ?: get(d, r, TAG_EJECTED, "ejected", &ejected);
	if (ret)
		return ret;
	if (down & ~removing)
		return state_bad(d->id, "down", down,
				 "a slot asked out with no removal");
	if (ejected & removing)
		return state_bad(d->id, "ejected", ejected,
				 "a slot both ejected and being removed");
	pthread_mutex_lock(&hp->lock);
	hp->up = up;
	hp->down = down;
	hp->removing = removing;
	hp->ejected = ejected;
	pthread_mutex_unlock(&hp->lock);
	if (ejected)
		kick(hp);
	return 0;
}

static void hp_destroy(struct device *d)
{
	pthread_mutex_destroy(&to_hp(d)->lock);
}

const struct device_ops pci_hotplug_ops = {
	.kind = "pci-hotplug",
	.state_version = PCI_HOTPLUG_STATE_VERSION,
	.realize = hp_realize,
	.unrealize = hp_unrealize,
	.reset = hp_reset,
	.save = hp_save,
	.load = hp_load,
	.destroy = hp_destroy,
};
