/* The virt machine's ACPI sleep registers (hardware-reduced ACPI, ACPI 6
 * §4.8.3.7): SLEEP_CONTROL_REG at BASE and SLEEP_STATUS_REG at BASE+1,
 * one byte each, as the FADT names them. Writing SLP_EN with sleep type
 * 5 (S5) asks the VM to power off; other sleep states are refused with a
 * log line, once (the guest may write it in a loop). The status register's WAK_STS is write-1-to-clear; nothing
 * here sets it (the guest never sleeps). */
#ifndef TERN_PLATFORM_ACPI_SLEEP_H
#define TERN_PLATFORM_ACPI_SLEEP_H

#include "core/bus.h"
#include "core/device.h"
#include "core/lifecycle.h"

#include <stdbool.h>
#include <stdint.h>

struct acpi_sleep {
	struct device dev;
	uint16_t base;
	struct bus *pio;		/* where realize put it */
	struct vm_control ctl;		/* power-off requests */
	uint8_t sts;			/* SLEEP_STATUS_REG, atomic */
	bool warned;			/* an unknown sleep type, atomic */
};

/* A device (core/device.h) at ports BASE and BASE+1. */
void acpi_sleep_init(struct acpi_sleep *s, const char *id, uint16_t base);
extern const struct device_ops acpi_sleep_ops;

#endif
