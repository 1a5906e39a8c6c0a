/* The PC chipset of `--machine pc`, for guests that only know 1996's PC:
 * an i440FX host bridge at 00.0 and a PIIX3 at 01.x (ISA bridge with the
 * PIRQ routing registers, IDE function, and the PIIX4-style ACPI power
 * management function old ACPI guests look for). Slow path only: nothing
 * here is touched per virtio I/O.
 *
 * What it owns: the four PCI functions' config space, the PCI INTx -> ISA
 * IRQ routing through PIRQRC[A-D], and the ACPI PM1 event/control blocks
 * and PM timer. What it does not: the ATA channels themselves (block/ide.c;
 * piix_attach_ide puts their register handlers on the legacy ports and on
 * BAR4) and the IOAPIC (KVM's). */
#ifndef TERN_PLATFORM_PIIX_H
#define TERN_PLATFORM_PIIX_H

#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"
#include "core/lifecycle.h"
#include "core/pci.h"

#include <pthread.h>
#include <stdint.h>

#define PIIX_DEVFN_ISA 0x08		/* 01.0 */
#define PIIX_DEVFN_IDE 0x09		/* 01.1 */
#define PIIX_DEVFN_PM 0x0B		/* 01.3 */

/* ACPI PM I/O block (PMBA) as firmware leaves it: PM1a_EVT at +0 (4
 * bytes), PM1a_CNT at +4 (2), PM timer at +8 (4). 0x600 is where SeaBIOS
 * puts it when the VMM hands it ACPI tables (platform/acpi_loader.h): the
 * FADT and the firmware's PM timer then agree. */
#define PIIX_PM_BASE 0x600
#define PIIX_PM_LEN 16
#define PIIX_SCI_IRQ 9

/* What the ISA IRQs of PIRQA..D are after reset, as a BIOS programs them
 * (the DSDT's _PRT states the same). */
extern const uint8_t piix_pirq_default[4];

/* PCI slot s, pin p (0 = INTA) is wired to PIRQ (s + p) % 4: adjacent
 * slots' INTA land on different PIRQs. The _PRT uses the same rule. */
static inline unsigned int piix_pirq_of(unsigned int slot, unsigned int pin)
{
	return (slot + pin) % 4;
}

struct piix {
	struct pci_dev host, isa, ide, pm;
	struct pci_bus *pci_bus;	/* the lifecycle's: where they are */
	struct bus *pio;
	/* Sets an ISA IRQ's level (gsi = IRQ 0..15). */
	struct irq_line isa_irq;
	struct vm_control ctl;

	pthread_mutex_t lock;		/* routing and PM state */
	uint8_t intx_level[256];	/* by devfn: pins asserted (bit per pin) */
	unsigned int pirq_src[4];	/* asserted INTx sources per PIRQ */
	uint8_t pirq_irq[4];		/* ISA IRQ driven now, 0 = none */

	uint16_t pm1_sts, pm1_en, pm1_cnt;
	bool sci_level;			/* the SCI as last driven */
	uint64_t tmr_origin_ns;		/* PM timer counts from here */
	uint64_t tmr_paused_ns;		/* paused: what it had counted */

	/* IDE handlers from piix_attach_ide. */
	const struct bus_ops *ide_bm_ops;
	void *ide_chan[2];
	uint64_t ide_bm_addr;		/* BAR4 as registered, 0 = none */
	unsigned int guest_logged;	/* guest mistakes logged (p->lock) */

	/* Told of every write to the PAM registers (firmware boot). */
	void (*pam_changed)(void *opaque, const uint8_t *pam);
	void *pam_opaque;
};

/* i440FX PAM0..PAM6 (shadow RAM control, platform/bios.h). */
#define PIIX_PAM0 0x59
#define PIIX_PAM_REGS 7

/* Builds the functions and plugs them into `pci`; registers the PM block
 * on `pio`. isa_irq.set drives ISA IRQs (isa_irq.gsi is ignored). */
int piix_init(struct piix *p, struct pci_bus *pci, struct bus *pio,
	      struct irq_line isa_irq, struct vm_control ctl);
void piix_destroy(struct piix *p);

/* The line a PCI function at `devfn` drives for interrupt pin `pin`
 * (0 = INTA): it goes through PIRQRC to an ISA IRQ, ORed with the other
 * functions on the same PIRQ; a disabled PIRQ (bit 7) drops it. */
struct irq_line piix_intx_line(struct piix *p, uint8_t devfn, unsigned int pin);

/* The power button is pressed: PWRBTN_STS is set in PM1_STS, and the
 * SCI (IRQ 9) is raised while PWRBTN_EN is set, until the guest clears
 * the status (ACPI 6.5 §4.8.3.1, the fixed power button). Any thread. */
void piix_power_button(struct piix *p);

/* Calls `fn` with the 7 PAM bytes after each write that touches them
 * (from the vCPU thread, with the PCI bus lock held). */
void piix_watch_pam(struct piix *p, void (*fn)(void *opaque, const uint8_t *pam),
		    void *opaque);

/* Firmware's last step: every function with an interrupt pin gets the
 * ISA IRQ its PIRQ routes to in Interrupt Line (0x3C). */
void piix_firmware_route(struct piix *p, struct pci_bus *pci);

/* Puts ATA channel handlers on the compatibility ports (0x1F0/0x3F6,
 * 0x170/0x376) and, once the guest places BAR4, the bus-master block
 * (channel 0 at +0, channel 1 at +8). chan[i] is each handler's opaque. */
int piix_attach_ide(struct piix *p, const struct bus_ops *cmd,
		    const struct bus_ops *ctl, const struct bus_ops *bm,
		    void *chan0, void *chan1);

/* The chipset as a device of the lifecycle (core/device.h): realize is
 * piix_init on the machine's PCI bus and ports, ISA IRQs through its
 * set_irq; unrealize takes the four functions, the PM block and the IDE
 * ports off the buses. Nothing runs on its own, so pause has nothing to
 * do but stop the PM timer (a paused machine's time stands). save and
 * load carry the four functions' config space (PIRQ
 * routing, IDE timing and BAR4, the host bridge's PAM and SMRAM bytes)
 * and the PM1 registers with the PM timer's count; the INTx levels are
 * the devices' (they set their lines again when they load). reset puts
 * the routing, the IDE timing and the PM registers back to power-on. */
struct piix_device {
	struct device dev;
	struct piix piix;
	bool created;
};

void piix_device_init(struct piix_device *d, const char *id);

#endif
