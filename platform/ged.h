/* The virt machine's Generic Event Device (ACPI 6.5 §5.6.9, _HID
 * ACPI0013): one interrupt, level-triggered and active high, and one
 * 32-bit event register at BASE that says which events are pending (bit
 * GED_EVENT_*). The DSDT's GED0 lists the interrupt in _CRS; Linux's evged
 * driver calls GED0._EVT when it fires, and _EVT reads the register (the
 * read returns the pending bits and clears them, which lowers the line)
 * and dispatches each bit to its AML (core/acpi.c).
 *
 * ged_raise() latches an event and raises the line; it may be called from
 * any thread. Writes to the register are ignored; only a 4-byte-wide read
 * at offset 0 clears. Saved: the pending bits; a load sets the line to
 * match them. */
#ifndef TERN_PLATFORM_GED_H
#define TERN_PLATFORM_GED_H

#include "core/bus.h"
#include "core/device.h"

#include <pthread.h>
#include <stdint.h>

/* Event bits of the register. */
#define GED_EVENT_PWRBTN 0		/* the power button (Notify 0x80) */
#define GED_EVENT_PCI_HOTPLUG 1		/* PCI0.PCNT: the slots changed */
#define GED_EVENTS_MASK 0x3u		/* the events defined */
#define GED_REG_LEN 4

struct ged {
	struct device dev;
	uint16_t base;
	uint32_t gsi;
	struct bus *pio;		/* where realize put it */
	int (*set_irq)(void *opaque, uint32_t gsi, int level);
	void *set_irq_opaque;
	pthread_mutex_t lock;		/* pending and the line's level */
	uint32_t pending;
};

/* A device (core/device.h) at port BASE, interrupting on GSI. */
void ged_init(struct ged *g, const char *id, uint16_t base, uint32_t gsi);
/* Latches EVENT (GED_EVENT_*) and raises the interrupt. */
void ged_raise(struct ged *g, unsigned int event);
extern const struct device_ops ged_ops;

#endif
