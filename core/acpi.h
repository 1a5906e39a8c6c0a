/* ACPI tables. The default machine is a hardware-reduced x86 platform
 * (ACPI 6.x 4.1): no PM1/GPE blocks, no SCI, no 8259; power off through
 * the FADT's sleep control register and reset through its reset register.
 * `--machine pc` (cfg->pc) gets the classic fixed hardware instead, what
 * pre-ACPI-5 guests need: PM1a event/control blocks and a PM timer in the
 * PIIX4 PM function, an SCI, a FACS, an 8259 (PCAT_COMPAT) and ISA
 * devices, and PCI INTx on the ISA IRQs the PIRQ registers route to.
 * Linux finds the RSDP by scanning 0xE0000-0xFFFFF (or via
 * boot_params.acpi_rsdp_addr). */
#ifndef TERN_CORE_ACPI_H
#define TERN_CORE_ACPI_H

#include "core/topology.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct acpi_config {
	struct cpu_topology cpus;      /* a LAPIC per vCPU, enabled, its id by topology_apic_id */
	uint64_t ioapic_addr;          /* 0xFEC00000 */
	uint8_t ioapic_id;             /* above the last LAPIC id */
	uint16_t sleep_ctl_port;       /* hw-reduced SLEEP_CONTROL_REG, 1 byte, I/O */
	uint16_t sleep_sts_port;       /* SLEEP_STATUS_REG, 1 byte, I/O */
	uint16_t reset_port;           /* 0xCF9 */
	uint8_t reset_value;           /* 0x06 */
	uint64_t pci_mmio32_base, pci_mmio32_size;   /* e.g. 0xC0000000, 0x3EC00000 (ends below IOAPIC) */
	uint64_t pci_mmio64_base, pci_mmio64_size;   /* may be 0 size: then omitted */
	unsigned int pci_slots;        /* _PRT entries for slots 1..pci_slots-1, INTA..INTD */
	uint32_t pci_intx_gsi_base;    /* _PRT: slot s pin p -> GSI base + ((s + p) % 4), e.g. 16 */
	uint8_t rtc_century_index;     /* 0x32 */
	/* virt: a Generic Event Device (ACPI0013) with its event register
	 * at ged_port (platform/ged.h) and a level, active-high interrupt
	 * on ged_gsi; 0: none. PCI hotplug (platform/pci_hotplug.h): its
	 * registers at pci_hotplug_port (0: none; needs the GED), slots
	 * S01..Snn under PCI0 for slots 1..pci_slots-1, each with _ADR,
	 * _SUN and an _EJ0 that writes the slot to the eject register, and
	 * PCI0.PCNT, which the GED's hotplug event runs. */
	uint16_t ged_port;
	uint32_t ged_gsi;
	uint16_t pci_hotplug_port;
	/* --machine pc: the sleep ports above are unused, these are. */
	bool pc;
	uint16_t pm_base;              /* PM1a_EVT at +0 (4), PM1a_CNT +4 (2), PM_TMR +8 (4) */
	uint8_t sci_irq;               /* 9 */
	uint8_t pirq_irq[4];           /* _PRT: slot s pin p -> pirq_irq[(s + p) % 4] */
};

#define ACPI_RSDP_ADDR 0xE0000  /* in the legacy BIOS area Linux scans */

/* Builds RSDP, XSDT, FADT (rev 6, hw-reduced unless pc), DSDT, MADT (and a FACS for pc)
   into `mem`, a host buffer that the guest sees at guest-physical `gpa`
   (the RSDP goes first, at `gpa`). Returns the number of bytes used, or
   -ENOSPC if `cap` is too small, -EINVAL on a bad config (0 cpus, >255 cpus). */
ssize_t acpi_build(void *mem, size_t cap, uint64_t gpa, const struct acpi_config *cfg);

/* Where acpi_build put each table, as offsets from `mem` (0: absent).
 * The firmware's table loader (platform/acpi_loader.c) needs them to relocate
 * the pointers and redo the checksums. */
struct acpi_layout {
	size_t xsdt, fadt, madt, madt_len, dsdt, dsdt_len, facs, total;
};

/* acpi_build, also filling `out` when it is not NULL. */
ssize_t acpi_build_layout(void *mem, size_t cap, uint64_t gpa,
			  const struct acpi_config *cfg,
			  struct acpi_layout *out);

/* ACPI table header and FADT/XSDT/RSDP offsets the loader patches. */
#define ACPI_HDR_LEN 36
#define ACPI_HDR_CHECKSUM 9
#define ACPI_RSDP_LEN 36
#define ACPI_RSDP_XSDT 24
#define ACPI_FADT_FIRMWARE_CTRL 36
#define ACPI_FADT_DSDT 40
#define ACPI_FADT_X_DSDT 140

/* Other -EINVAL cases: `gpa` not 16-byte aligned (the RSDP scan only looks
 * at 16-byte boundaries); a topology with a level of 0 or LAPIC ids past
 * TOPOLOGY_APIC_ID_MAX; ioapic_id not above them; IOAPIC above 4 GiB; a zero
 * sleep or reset port (Linux then offers no poweroff / ACPI reset); more
 * than 32 slots; an empty or >4 GiB 32-bit window; a wrapping 64-bit one;
 * INTx GSIs beyond the IOAPIC's 24 pins; a GED GSI beyond them or on an
 * INTx GSI; a GED or PCI hotplug on pc, or PCI hotplug without a GED. -ENOMEM if the DSDT cannot be
 * built. On error `mem` is left untouched. */

#endif
