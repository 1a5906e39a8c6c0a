/* The virt machine's PCI hotplug controller: the registers the DSDT's
 * slot methods use (core/acpi.c) to learn which slots of PCI bus 0
 * changed and to eject a device. Three 32-bit registers at BASE, one bit
 * per slot (bit s: device s, function 0):
 *
 *   +0 UP    slots that gained a device the guest has not looked at yet;
 *            write 1 to clear (PCI0.PCNT reads it, writes back what it
 *            read and then sends Notify(Sxx, 1), device check)
 *   +4 DOWN  slots whose device the host wants out; write 1 to clear
 *            (PCNT sends Notify(Sxx, 3), eject request)
 *   +8 EJ    write a slot number: the guest let go of that slot's device
 *            (Sxx._EJ0); reads 0
 *
 * An eject is taken only for a slot with a removal in progress (the host
 * asked, pci_hotplug_unplug); any other is logged and ignored, so a guest
 * cannot remove a device the host did not offer. Accepted ejects are
 * handed to the owner's `eject` callback on the main loop (an eventfd
 * the vCPU writes), never on the vCPU thread: removing a device means
 * pausing the vCPUs.
 *
 * `notify` is the owner's way to raise the guest event that makes it run
 * PCNT (the GED's GED_EVENT_PCI_HOTPLUG on virt). Saved: UP, DOWN, the
 * slots being removed and the ejects not yet handed over (a load hands
 * them over at the next loop turn). */
#ifndef TERN_PLATFORM_PCI_HOTPLUG_H
#define TERN_PLATFORM_PCI_HOTPLUG_H

#include "core/bus.h"
#include "core/device.h"
#include "core/loop.h"

#include <pthread.h>
#include <stdint.h>

#define PCI_HOTPLUG_REG_UP 0
#define PCI_HOTPLUG_REG_DOWN 4
#define PCI_HOTPLUG_REG_EJ 8
#define PCI_HOTPLUG_LEN 12
#define PCI_HOTPLUG_SLOTS 32
/* Slot 0 is the host bridge: never hotplugged. */
#define PCI_HOTPLUG_SLOT_MASK 0xfffffffeu

struct pci_hotplug {
	struct device dev;
	uint16_t base;
	struct bus *pio;		/* where realize put it */
	void (*notify)(void *opaque);
	void (*eject)(void *opaque, unsigned int slot);
	void *opaque;
	int efd;			/* eventfd: ejects to hand over */
	struct loop *loop;
	struct loop_watch watch;
	pthread_mutex_t lock;		/* the bitmaps below */
	uint32_t up, down;		/* the registers */
	uint32_t removing;		/* slots the host asked to remove */
	uint32_t ejected;		/* ejects not yet handed over */
	unsigned int errors_logged;	/* rate limit of the guest's errors */
};

/* A device (core/device.h) at port BASE. NOTIFY and EJECT get OPAQUE. */
void pci_hotplug_init(struct pci_hotplug *hp, const char *id, uint16_t base,
		      void (*notify)(void *opaque),
		      void (*eject)(void *opaque, unsigned int slot),
		      void *opaque);
extern const struct device_ops pci_hotplug_ops;

/* A device now sits in SLOT: UP set, then notify. -EINVAL for slot 0 or
 * beyond 31, -EBUSY while the slot's device is being removed (or its
 * eject is not yet handed over). */
int pci_hotplug_plug(struct pci_hotplug *hp, unsigned int slot);
/* Asks the guest to let go of SLOT's device: DOWN set, then notify. The
 * eject callback follows when the guest writes EJ. -EINVAL as above,
 * -EALREADY if a removal is already in progress or its eject not yet
 * handed over. */
int pci_hotplug_unplug(struct pci_hotplug *hp, unsigned int slot);
/* Gives up a removal (the guest did not eject in time): DOWN and the
 * slot's removal cleared; a later eject of it is ignored. An eject the
 * guest already wrote is still handed over: call pci_hotplug_service
 * first to take it. */
void pci_hotplug_cancel(struct pci_hotplug *hp, unsigned int slot);
/* Hands the ejects written so far to the eject callback (the main loop's
 * watch calls it; so may a test). */
void pci_hotplug_service(struct pci_hotplug *hp);

#endif
