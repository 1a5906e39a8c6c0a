#include "platform/host_bridge.h"

#include "core/state.h"

#include <stddef.h>
#include <string.h>

#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define HOST_BRIDGE_CLASS 0x060000
#define HOST_BRIDGE_DEVFN 0
#define HOST_BRIDGE_STATE_VERSION 1
#define PCI_COMMAND 0x04
#define PCI_INTERRUPT_LINE 0x3c

enum { TAG_CONFIG = 1 };

static struct host_bridge *to_bridge(struct device *d)
{
	return (struct host_bridge *)((char *)d -
				      offsetof(struct host_bridge, dev));
}

void host_bridge_init(struct host_bridge *b, const char *id)
{
	memset(b, 0, sizeof(*b));
	device_init(&b->dev, &host_bridge_ops, id);
	pci_dev_init(&b->pci, b->dev.id, HOST_BRIDGE_VENDOR,
		     HOST_BRIDGE_DEVICE, HOST_BRIDGE_CLASS, 0);
}

static int bridge_realize(struct device *d, const struct machine_host *h)
{
	struct host_bridge *b = to_bridge(d);
	int ret = pci_bus_add(h->pci, &b->pci, HOST_BRIDGE_DEVFN);

	if (!ret)
		b->bus = h->pci;
	return ret;
}

static void bridge_unrealize(struct device *d)
{
	struct host_bridge *b = to_bridge(d);

	if (b->bus)
		pci_bus_remove(b->bus, &b->pci);
	b->bus = NULL;
}

/* What a guest can write here: the command register and the interrupt
 * line; power-on has both zero. */
static void bridge_reset(struct device *d)
{
	struct host_bridge *b = to_bridge(d);

	pci_cfg_write(b->bus, b->pci.devfn, PCI_COMMAND, 2, 0);
	pci_cfg_write(b->bus, b->pci.devfn, PCI_INTERRUPT_LINE, 1, 0);
}

static int bridge_save(struct device *d, struct state_writer *w)
{
	pci_dev_save(&to_bridge(d)->pci, w, TAG_CONFIG);
	return 0;
}

static int bridge_load(struct device *d, struct state_reader *r)
{
	struct host_bridge *b = to_bridge(d);

	return pci_dev_load(b->bus, &b->pci, r, TAG_CONFIG);
}

const struct device_ops host_bridge_ops = {
	.kind = "host-bridge",
	.state_version = HOST_BRIDGE_STATE_VERSION,
	.realize = bridge_realize,
	.unrealize = bridge_unrealize,
	.reset = bridge_reset,
	.save = bridge_save,
	.load = bridge_load,
};
