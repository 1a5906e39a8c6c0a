#include "core/acpi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/aml.h"
#include "core/bytes.h"

/* Layout: RSDP at offset 0, then XSDT, FADT, MADT, DSDT, each on a
 * 16-byte boundary (not required by the spec; it keeps dumps readable). */
#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

#define HDR_LEN 36			/* common table header (5.2.6) */
#define RSDP_LEN 36
#define XSDT_LEN (HDR_LEN + 2 * 8)	/* FADT, MADT */
#define FADT_LEN 276			/* revision 6 */
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12
#define MADT_ISO_LEN 10			/* interrupt source override */
#define FACS_LEN 64

/* KVM's in-kernel IOAPIC (KVM_IOAPIC_NUM_PINS), GSI base 0. */
#define IOAPIC_PINS 24

/* FADT field offsets (ACPI 6.5 table 5.9). */
enum {
	FADT_FIRMWARE_CTRL = 36,
	FADT_DSDT = 40,
	FADT_SCI_INT = 46,
	FADT_PM1A_EVT_BLK = 56,
	FADT_PM1A_CNT_BLK = 64,
	FADT_PM_TMR_BLK = 76,
	FADT_PM1_EVT_LEN = 88,
	FADT_PM1_CNT_LEN = 89,
	FADT_PM_TMR_LEN = 91,
	FADT_CENTURY = 108,
	FADT_IAPC_BOOT_ARCH = 109,
	FADT_FLAGS = 112,
	FADT_RESET_REG = 116,
	FADT_RESET_VALUE = 128,
	FADT_MINOR_VERSION = 131,
	FADT_X_FIRMWARE_CTRL = 132,
	FADT_X_DSDT = 140,
	FADT_X_PM1A_EVT_BLK = 148,
	FADT_X_PM1A_CNT_BLK = 172,
	FADT_X_PM_TMR_BLK = 208,
	FADT_SLEEP_CONTROL_REG = 244,
	FADT_SLEEP_STATUS_REG = 256,
	FADT_HYPERVISOR_ID = 268,
};

#define FADT_WBINVD (1u << 0)
#define FADT_PWR_BUTTON (1u << 4)	/* no fixed power button */
#define FADT_SLP_BUTTON (1u << 5)	/* no fixed sleep button */
#define FADT_TMR_VAL_EXT (1u << 8)	/* 32-bit PM timer */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2)

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void put_header(uint8_t *t, const char sig[4], uint32_t len,
		       uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "TERN  ", 6);	/* OEM ID */
	memcpy(t + 16, "TERNVM  ", 8);	/* OEM table ID */
	put_le32(t + 24, 1);		/* OEM revision */
	memcpy(t + 28, "TERN", 4);	/* creator ID */
	put_le32(t + 32, 1);		/* creator revision */
	t[9] = 0;
	t[9] = checksum(t, len);	/* last: covers the whole table */
}

/* Generic Address Structure (5.2.3.2): a register in I/O space. */
static void put_gas_io(uint8_t *p, uint16_t port, uint8_t bytes)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = (uint8_t)(8 * bytes);	/* register bit width */
	p[2] = 0;	/* bit offset */
	p[3] = bytes == 4 ? 3 : bytes == 2 ? 2 : GAS_ACCESS_BYTE;
	put_le64(p + 4, port);
}

static void put_gas_io8(uint8_t *p, uint16_t port)
{
	put_gas_io(p, port, 1);
}

static int check_config(uint64_t gpa, const struct acpi_config *cfg)
{
	const uint64_t four_gib = 1ull << 32;
	unsigned int last;

	if (!topology_valid(&cfg->cpus, &last) || cfg->ioapic_id <= last)
		return -EINVAL;
	if (gpa % 16 || cfg->ioapic_addr >= four_gib)
		return -EINVAL;
	if (!cfg->reset_port)
		return -EINVAL;
	if (cfg->pc ? !cfg->pm_base || cfg->sci_irq > 15
		    : !cfg->sleep_ctl_port || !cfg->sleep_sts_port)
		return -EINVAL;
	for (int i = 0; cfg->pc && i < 4; i++)
		if (cfg->pirq_irq[i] > 15)
			return -EINVAL;
	if (cfg->pci_slots > 32 || cfg->pci_intx_gsi_base > IOAPIC_PINS - 4)
		return -EINVAL;
	if (cfg->ged_port &&
	    (cfg->pc || cfg->ged_gsi >= IOAPIC_PINS ||
	     (cfg->ged_gsi >= cfg->pci_intx_gsi_base &&
	      cfg->ged_gsi < cfg->pci_intx_gsi_base + 4)))
		return -EINVAL;
	if (cfg->pci_hotplug_port && !cfg->ged_port)
		return -EINVAL;
	if (!cfg->pci_mmio32_size || cfg->pci_mmio32_base >= four_gib ||
	    cfg->pci_mmio32_size > four_gib - cfg->pci_mmio32_base)
		return -EINVAL;
	if (cfg->pci_mmio64_size &&
	    cfg->pci_mmio64_size - 1 > UINT64_MAX - cfg->pci_mmio64_base)
		return -EINVAL;
	return 0;
}

/* Name(name, ResourceTemplate(){...}): ends `res` and frees it. */
static int name_template(struct aml *b, const char *name, struct aml *res)
{
	int err = aml_res_end(res);

	if (!err) {
		aml_name(b, name);
		err = aml_buffer(b, res->data, res->len);
	}
	aml_free(res);
	return err;
}

static int pci_crs(struct aml *b, const struct acpi_config *cfg)
{
	struct aml res;

	aml_init(&res);
	aml_res_word_bus(&res, 0, 0);
	/* The config ports are the bridge's own; Linux drops this range
	 * from the windows it hands to devices. */
	aml_res_io(&res, 0xCF8, 8);
	aml_res_word_io(&res, 0x0000, 0x0CF7);
	aml_res_word_io(&res, 0x0D00, 0xFFFF);
	aml_res_dword_mem(&res, (uint32_t)cfg->pci_mmio32_base,
			  (uint32_t)(cfg->pci_mmio32_base +
				     cfg->pci_mmio32_size - 1));
	if (cfg->pci_mmio64_size)
		aml_res_qword_mem(&res, cfg->pci_mmio64_base,
				  cfg->pci_mmio64_base +
					  cfg->pci_mmio64_size - 1);
	return name_template(b, "_CRS", &res);
}

/* _PRT: routes each slot's INTA-D straight to IOAPIC GSIs (source Zero,
 * so the last field is the GSI), rotated by slot so that single-function
 * devices, which all use INTA, spread over the four GSIs. For pc the GSI
 * is the ISA IRQ the PIRQ registers route that pin to after reset (see
 * platform/piix.h); a guest that reprograms PIRQRC without ACPI (it has no
 * link devices to do it through here) moves the interrupt with it. */
static int pci_prt(struct aml *b, const struct acpi_config *cfg)
{
	unsigned int slots = cfg->pci_slots > 1 ? cfg->pci_slots - 1 : 0;
	size_t prt;

	aml_name(b, "_PRT");
	prt = aml_package(b, (uint8_t)(4 * slots));
	for (unsigned int s = 1; s <= slots; s++) {
		for (unsigned int pin = 0; pin < 4; pin++) {
			size_t e = aml_package(b, 4);

			/* _ADR form: device in the high word, any function. */
			aml_integer(b, ((uint64_t)s << 16) | 0xFFFF);
			aml_integer(b, pin);
			aml_integer(b, 0);
			aml_integer(b, cfg->pc ? cfg->pirq_irq[(s + pin) % 4]
					       : cfg->pci_intx_gsi_base +
							 (s + pin) % 4);
			aml_close(b, e);
		}
	}
	return aml_close(b, prt);
}

/* GED event bits (platform/ged.h) and the hotplug registers' offsets
 * (platform/pci_hotplug.h): the contract between the AML and the
 * devices, checked by tests/unit/test_acpi.c. */
#define GED_EVENT_PWRBTN_SHIFT 0
#define GED_EVENT_BIT_PCI_HOTPLUG (1u << 1)
#define NOTIFY_DEVICE_CHECK 1
#define NOTIFY_EJECT_REQUEST 3
#define NOTIFY_BUTTON_PRESSED 0x80	/* ACPI 6.5 §4.8.3.1.2 */

/* If(And(Local<n>, 1 << slot, Zero)) { Notify(Sxx, code) } */
static void notify_if_bit(struct aml *b, unsigned int local,
			  unsigned int slot, const char *dev, uint8_t code)
{
	size_t m = aml_if(b);

	aml_byte(b, AML_OP_AND);
	aml_local(b, local);
	aml_integer(b, 1ull << slot);
	aml_byte(b, AML_OP_NULL_NAME);
	aml_byte(b, AML_OP_NOTIFY);
	aml_namestring(b, dev);
	aml_integer(b, code);
	aml_close(b, m);
}

/* Inside PCI0: the controller's registers, a device per slot and PCNT. */
static void pci_hotplug_slots(struct aml *b, const struct acpi_config *cfg)
{
	size_t m;

	aml_opregion_io(b, "PHPR", cfg->pci_hotplug_port, 12);
	m = aml_field_dword(b, "PHPR");
	aml_field_entry(b, "PCIU", 32);	/* +0 UP, write 1 to clear */
	aml_field_entry(b, "PCID", 32);	/* +4 DOWN, write 1 to clear */
	aml_field_entry(b, "PCEJ", 32);	/* +8 eject: a slot number */
	aml_close(b, m);

	for (unsigned int s = 1; s < cfg->pci_slots; s++) {
		char name[5];
		size_t dev, ej;

		snprintf(name, sizeof(name), "S%02X", s & 0xff);
		dev = aml_device(b, name);
		aml_name(b, "_ADR");
		aml_integer(b, (uint64_t)s << 16);
		aml_name(b, "_SUN");
		aml_integer(b, s);
		ej = aml_method(b, "_EJ0", 1, false);
		aml_byte(b, AML_OP_STORE);
		aml_integer(b, s);
		aml_namestring(b, "PCEJ");
		aml_close(b, ej);
		aml_close(b, dev);
	}

	/* Read both bitmaps, clear what was read (a bit set meanwhile stays
	 * for the next event), then tell the guest about each slot. */
	m = aml_method(b, "PCNT", 0, true);
	aml_byte(b, AML_OP_STORE);
	aml_namestring(b, "PCIU");
	aml_local(b, 0);
	aml_byte(b, AML_OP_STORE);
	aml_namestring(b, "PCID");
	aml_local(b, 1);
	aml_byte(b, AML_OP_STORE);
	aml_local(b, 0);
	aml_namestring(b, "PCIU");
	aml_byte(b, AML_OP_STORE);
	aml_local(b, 1);
	aml_namestring(b, "PCID");
	for (unsigned int s = 1; s < cfg->pci_slots; s++) {
		char name[5];

		snprintf(name, sizeof(name), "S%02X", s & 0xff);
		notify_if_bit(b, 0, s, name, NOTIFY_DEVICE_CHECK);
		notify_if_bit(b, 1, s, name, NOTIFY_EJECT_REQUEST);
	}
	aml_close(b, m);
}

/* \_SB.GED0: the Generic Event Device; _EVT reads (and so clears) the
 * event register and runs what each bit asks. */
static int ged_device(struct aml *b, const struct acpi_config *cfg)
{
	struct aml res;
	size_t dev, m, evt, cond;
	int err;

	dev = aml_device(b, "GED0");
	aml_name(b, "_HID");
	aml_string(b, "ACPI0013");
	aml_name(b, "_UID");
	aml_integer(b, 0);
	aml_init(&res);
	aml_res_interrupt(&res, cfg->ged_gsi, false);
	err = name_template(b, "_CRS", &res);
	if (err)
		return err;
	aml_opregion_io(b, "GEDR", cfg->ged_port, 4);
	m = aml_field_dword(b, "GEDR");
	aml_field_entry(b, "GEVT", 32);
	aml_close(b, m);
	evt = aml_method(b, "_EVT", 1, true);
	aml_byte(b, AML_OP_STORE);
	aml_namestring(b, "GEVT");
	aml_local(b, 0);
	notify_if_bit(b, 0, GED_EVENT_PWRBTN_SHIFT, "\\_SB_.PWRB",
		      NOTIFY_BUTTON_PRESSED);
	if (cfg->pci_hotplug_port) {
		cond = aml_if(b);
		aml_byte(b, AML_OP_AND);
		aml_local(b, 0);
		aml_integer(b, GED_EVENT_BIT_PCI_HOTPLUG);
		aml_byte(b, AML_OP_NULL_NAME);
		aml_namestring(b, "\\_SB_.PCI0.PCNT");
		aml_close(b, cond);
	}
	aml_close(b, evt);
	return aml_close(b, dev);
}

static int dsdt_body(struct aml *b, const struct acpi_config *cfg)
{
	struct aml res;
	size_t sb, dev;
	int err;

	sb = aml_scope(b, "\\_SB_");

	/* Without a PNP0A03 host bridge Linux (with ACPI) scans no PCI. */
	dev = aml_device(b, "PCI0");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0A03");
	/* The spec says a device "should not" have both _HID and _ADR;
	 * _ADR 0 on the root bridge is common practice and harmless. */
	aml_name(b, "_ADR");
	aml_integer(b, 0);
	aml_name(b, "_UID");
	aml_integer(b, 0);
	aml_name(b, "_SEG");
	aml_integer(b, 0);
	aml_name(b, "_BBN");
	aml_integer(b, 0);
	err = pci_crs(b, cfg);
	if (err)
		return err;
	pci_prt(b, cfg);
	if (cfg->pci_hotplug_port)
		pci_hotplug_slots(b, cfg);
	aml_close(b, dev);

	/* After PCI0: _EVT calls PCI0.PCNT. The power button is a
	 * control-method one (PNP0C0C), which _EVT notifies: hw-reduced
	 * ACPI has no fixed one. */
	if (cfg->ged_port) {
		dev = aml_device(b, "PWRB");
		aml_name(b, "_HID");
		aml_eisaid(b, "PNP0C0C");
		aml_name(b, "_UID");
		aml_integer(b, 0);
		aml_close(b, dev);
		err = ged_device(b, cfg);
		if (err)
			return err;
	}

	/* In hw-reduced mode Linux maps no ISA IRQs by itself (no legacy
	 * PIC, nr_legacy_irqs() == 0), so ttyS0 gets IRQ 4 only through
	 * this _CRS; without it opening the port fails. */
	dev = aml_device(b, "COM1");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0501");
	aml_init(&res);
	aml_res_io(&res, 0x3F8, 8);
	aml_res_irq(&res, 4);
	err = name_template(b, "_CRS", &res);
	if (err)
		return err;
	aml_close(b, dev);

	/* CMOS RTC, no IRQ: the VMM raises no RTC interrupts. */
	dev = aml_device(b, "RTC_");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0B00");
	aml_init(&res);
	aml_res_io(&res, 0x70, 2);
	err = name_template(b, "_CRS", &res);
	if (err)
		return err;
	aml_close(b, dev);

	aml_close(b, sb);

	/* S5 sleep type 5: Linux writes (5 << 2) | SLP_EN = 0x34 to the
	 * sleep control register. Top level of the DSDT is the root scope. */
	aml_name(b, "_S5_");
	dev = aml_package(b, 4);
	aml_integer(b, 5);
	aml_integer(b, 0);
	aml_integer(b, 0);
	aml_integer(b, 0);
	return aml_close(b, dev);
}

static void build_fadt(uint8_t *t, uint64_t dsdt_gpa, uint64_t facs_gpa,
		       const struct acpi_config *cfg)
{
	/* Both DSDT pointers, as asked; the 32-bit one only if it fits. */
	if (dsdt_gpa <= UINT32_MAX)
		put_le32(t + FADT_DSDT, (uint32_t)dsdt_gpa);
	put_le64(t + FADT_X_DSDT, dsdt_gpa);
	t[FADT_CENTURY] = cfg->rtc_century_index;
	/* Not setting the 8042 bit tells Linux there is no i8042. */
	put_le16(t + FADT_IAPC_BOOT_ARCH, IAPC_VGA_NOT_PRESENT);
	put_le32(t + FADT_FLAGS, FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP |
				      FADT_PWR_BUTTON | FADT_SLP_BUTTON);
	put_gas_io8(t + FADT_RESET_REG, cfg->reset_port);
	t[FADT_RESET_VALUE] = cfg->reset_value;
	t[FADT_MINOR_VERSION] = 5;	/* ACPI 6.5 */
	if (cfg->pc) {
		/* Fixed hardware: SMI_CMD stays 0, so the platform is always
		 * in ACPI mode (SCI_EN reads as 1). No GPE block. */
		put_le16(t + FADT_IAPC_BOOT_ARCH, IAPC_LEGACY_DEVICES | IAPC_8042 |
						      IAPC_VGA_NOT_PRESENT);
		/* The fixed power button: PWRBTN_STS/EN in PM1 (piix). */
		put_le32(t + FADT_FLAGS, FADT_WBINVD | FADT_TMR_VAL_EXT |
					      FADT_RESET_REG_SUP |
					      FADT_SLP_BUTTON);
		put_le32(t + FADT_FIRMWARE_CTRL, (uint32_t)facs_gpa);
		put_le64(t + FADT_X_FIRMWARE_CTRL, 0); /* one of the two, not both */
		put_le16(t + FADT_SCI_INT, cfg->sci_irq);
		put_le32(t + FADT_PM1A_EVT_BLK, cfg->pm_base);
		put_le32(t + FADT_PM1A_CNT_BLK, cfg->pm_base + 4u);
		put_le32(t + FADT_PM_TMR_BLK, cfg->pm_base + 8u);
		t[FADT_PM1_EVT_LEN] = 4;
		t[FADT_PM1_CNT_LEN] = 2;
		t[FADT_PM_TMR_LEN] = 4;
		put_gas_io(t + FADT_X_PM1A_EVT_BLK, cfg->pm_base, 4);
		put_gas_io(t + FADT_X_PM1A_CNT_BLK, (uint16_t)(cfg->pm_base + 4), 2);
		put_gas_io(t + FADT_X_PM_TMR_BLK, (uint16_t)(cfg->pm_base + 8), 4);
	} else {
		put_gas_io8(t + FADT_SLEEP_CONTROL_REG, cfg->sleep_ctl_port);
		put_gas_io8(t + FADT_SLEEP_STATUS_REG, cfg->sleep_sts_port);
	}
	memcpy(t + FADT_HYPERVISOR_ID, "TERN    ", 8);
	/* Everything else stays 0: hw-reduced has no FACS (allowed there),
	 * SCI, SMI, PM1/PM2/PM timer/GPE blocks; pc has no SMI, PM2, GPE. */
	put_header(t, "FACP", FADT_LEN, 6);
}

/* No Interrupt Source Overrides: hw-reduced Linux skips the PIT/HPET
 * timer setup and the 8259, and maps no ISA IRQs 0-15 by default, so an
 * IRQ0 -> GSI 2 override would describe a timer nobody uses. Devices get
 * their GSIs from the DSDT instead. No LAPIC NMI entries either: Linux
 * wires LINT1 as NMI on the boot CPU by default. */
static void build_madt(uint8_t *t, size_t len, const struct acpi_config *cfg)
{
	uint8_t *e = t + HDR_LEN + 8;
	unsigned int ncpus = topology_count(&cfg->cpus);

	put_le32(t + 36, 0xFEE00000);	/* local APIC address */
	/* PCAT_COMPAT for pc: KVM's 8259 is there for such guests. */
	put_le32(t + 40, cfg->pc ? 1 : 0);
	for (unsigned int i = 0; i < ncpus; i++, e += MADT_LAPIC_LEN) {
		e[0] = 0;		/* Processor Local APIC */
		e[1] = MADT_LAPIC_LEN;
		e[2] = (uint8_t)i;	/* ACPI processor UID */
		e[3] = (uint8_t)topology_apic_id(&cfg->cpus, i);
		put_le32(e + 4, 1);	/* Enabled */
	}
	e[0] = 1;			/* I/O APIC */
	e[1] = MADT_IOAPIC_LEN;
	e[2] = cfg->ioapic_id;
	put_le32(e + 4, (uint32_t)cfg->ioapic_addr);
	put_le32(e + 8, 0);		/* GSI base */
	if (cfg->pc) {
		/* The SCI is level triggered, active high (as the PM
		 * function drives it), unlike an ISA IRQ's default. */
		e += MADT_IOAPIC_LEN;
		e[0] = 2;		/* Interrupt Source Override */
		e[1] = MADT_ISO_LEN;
		e[2] = 0;		/* ISA bus */
		e[3] = cfg->sci_irq;
		put_le32(e + 4, cfg->sci_irq);
		put_le16(e + 8, 0x000d);	/* active high, level triggered */
	}
	/* Revision 5 (ACPI 6.3+). All entries are Enabled, so the Online
	 * Capable bit that revision brought in does not matter. */
	put_header(t, "APIC", (uint32_t)len, 5);
}

static void build_xsdt(uint8_t *t, uint64_t fadt_gpa, uint64_t madt_gpa)
{
	put_le64(t + HDR_LEN, fadt_gpa);
	put_le64(t + HDR_LEN + 8, madt_gpa);
	put_header(t, "XSDT", XSDT_LEN, 1);
}

static void build_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, "TERN  ", 6);
	p[15] = 2;			/* ACPI 2.0+: use the XSDT */
	put_le32(p + 16, 0);		/* no RSDT */
	put_le32(p + 20, RSDP_LEN);
	put_le64(p + 24, xsdt_gpa);
	p[8] = checksum(p, 20);		/* ACPI 1.0 part */
	p[32] = checksum(p, RSDP_LEN);	/* whole structure */
}

ssize_t acpi_build(void *mem, size_t cap, uint64_t gpa,
		   const struct acpi_config *cfg)
{
	return acpi_build_layout(mem, cap, gpa, cfg, NULL);
}

ssize_t acpi_build_layout(void *mem, size_t cap, uint64_t gpa,
			  const struct acpi_config *cfg,
			  struct acpi_layout *out)
{
	static const uint8_t no_header[HDR_LEN];
	size_t xsdt, fadt, madt, madt_len, dsdt, facs = 0, total;
	struct aml aml;
	uint8_t *m = mem;
	int err;

	err = check_config(gpa, cfg);
	if (err)
		return err;

	/* The DSDT goes through the growable encoder, header space first. */
	aml_init(&aml);
	aml_bytes(&aml, no_header, HDR_LEN);
	err = dsdt_body(&aml, cfg);
	if (!err)
		err = aml.err;
	if (err) {
		aml_free(&aml);
		return err;
	}

	xsdt = ALIGN16(RSDP_LEN);
	fadt = ALIGN16(xsdt + XSDT_LEN);
	madt = ALIGN16(fadt + FADT_LEN);
	madt_len = HDR_LEN + 8 + topology_count(&cfg->cpus) * MADT_LAPIC_LEN +
		   MADT_IOAPIC_LEN + (cfg->pc ? MADT_ISO_LEN : 0);
	dsdt = ALIGN16(madt + madt_len);
	total = dsdt + aml.len;
	if (cfg->pc) {			/* the FACS is 64-byte aligned */
		facs = (total + 63) & ~(size_t)63;
		total = facs + FACS_LEN;
	}
	if (total > cap) {
		aml_free(&aml);
		return -ENOSPC;
	}

	memset(m, 0, total);
	build_rsdp(m, gpa + xsdt);
	build_xsdt(m + xsdt, gpa + fadt, gpa + madt);
	build_fadt(m + fadt, gpa + dsdt, gpa + facs, cfg);
	if (cfg->pc) {
		/* FACS (5.2.10): no checksum, no waking vector, no lock use. */
		memcpy(m + facs, "FACS", 4);
		put_le32(m + facs + 4, FACS_LEN);
		m[facs + 32] = 2;	/* version */
	}
	build_madt(m + madt, madt_len, cfg);
	memcpy(m + dsdt, aml.data, aml.len);
	put_header(m + dsdt, "DSDT", (uint32_t)aml.len, 2); /* 64-bit ints */
	if (out)
		*out = (struct acpi_layout){ .xsdt = xsdt, .fadt = fadt,
					     .madt = madt, .madt_len = madt_len,
					     .dsdt = dsdt, .dsdt_len = aml.len,
					     .facs = facs, .total = total };
	aml_free(&aml);
	return (ssize_t)total;
}
