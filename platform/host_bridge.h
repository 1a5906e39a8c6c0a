/* The virt machine's PCI host bridge at 00.0: a function with no BARs
 * whose presence Linux's type-1 probe looks for (vendor 1b36, device
 * 0008, class 0x0600, as QEMU's generic PCIe host bridge is known to
 * guests). A device (core/device.h) on the host's PCI bus; its state is
 * its config space, loaded only where the guest could have written it.
 * The pc machine's bridge is the i440FX in platform/piix.c. */
#ifndef TERN_PLATFORM_HOST_BRIDGE_H
#define TERN_PLATFORM_HOST_BRIDGE_H

#include "core/device.h"
#include "core/pci.h"

struct host_bridge {
	struct device dev;
	struct pci_dev pci;
	struct pci_bus *bus;		/* where realize put it */
};

void host_bridge_init(struct host_bridge *b, const char *id);
extern const struct device_ops host_bridge_ops;

#endif
