/* The pc chipset: the functions a guest enumerates, PCI INTx through the
 * PIRQ registers to ISA IRQs (shared, disabled, reprogrammed, reserved
 * values), the ACPI PM block (S5 only powers off, SCI_EN, PM timer) and
 * the IDE bus-master block following BAR4. */
#include "platform/piix.h"

#include "check.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static int irq_level[16], irq_calls, poweroffs, other_requests;

static int fake_irq(void *opaque, uint32_t gsi, int level)
{
	if (gsi < 16)
		irq_level[gsi] = level;
	irq_calls++;
	return 0;
}

static void request(void *opaque, enum vm_request req)
{
	if (req == VM_REQ_POWEROFF)
		poweroffs++;
	else
		other_requests++;
}

static int bm_writes;
static void *bm_last;

static void bm_write(void *opaque, uint64_t off, const uint8_t *d,
		     uint32_t len)
{
	bm_writes++;
	bm_last = opaque;
}

static const struct bus_ops fake_bm = { .write = bm_write };
static const struct bus_ops fake_cmd = { 0 }, fake_ctl = { 0 };

static uint64_t pio_read(struct bus *b, uint64_t addr, uint32_t len)
{
	uint8_t d[8];

	CHECK(bus_read(b, addr, d, len));
	return bus_get(d, len);
}

static void pio_write(struct bus *b, uint64_t addr, uint32_t len, uint64_t v)
{
	uint8_t d[8];

	bus_put(d, len, v);
	CHECK(bus_write(b, addr, d, len));
}

struct rig {
	struct pci_bus pci;
	struct bus pio;
	struct piix p;
};

static void setup(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	memset(irq_level, 0, sizeof(irq_level));
	irq_calls = poweroffs = other_requests = bm_writes = 0;
	CHECK_EQ(bus_init(&r->pio, "pio"), 0);
	CHECK_EQ(pci_bus_init(&r->pci, (struct vm_control){ request, NULL }), 0);
	CHECK_EQ(piix_init(&r->p, &r->pci, &r->pio,
			   (struct irq_line){ fake_irq, NULL, 0 },
			   (struct vm_control){ request, NULL }),
		 0);
}

static void teardown(struct rig *r)
{
	piix_destroy(&r->p);
	pci_bus_destroy(&r->pci);
	bus_destroy(&r->pio);
}

static void test_functions(void)
{
	struct rig r;

	setup(&r);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x00, 0, 4), 0x12378086);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x08, 0, 4), 0x70008086);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x08, 0x0e, 1) & 0x80, 0x80);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x09, 0, 4), 0x70108086);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x09, 0x09, 1), 0x80); /* compat + BM */
	/* ata_piix skips channels whose IDETIM decode bit is clear. */
	CHECK_EQ(pci_cfg_read(&r.pci, 0x09, 0x41, 1) & 0x80, 0x80);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x09, 0x43, 1) & 0x80, 0x80);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x0b, 0, 4), 0x71138086);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x0b, 0x40, 4), PIIX_PM_BASE | 1);
	/* The PIRQ registers as firmware leaves them. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pci_cfg_read(&r.pci, 0x08, 0x60 + i, 1),
			 piix_pirq_default[i]);
	teardown(&r);
}

static void test_intx_routing(void)
{
	struct rig r;
	/* Slot 2 INTA is PIRQ (2 + 0) % 4 = C -> IRQ 11 by default; slot 3
	 * INTA is PIRQ D -> 11 as well; slot 4 INTA is PIRQ A -> 10. */
	struct irq_line s2 = piix_intx_line(&r.p, 0x10, 0);
	struct irq_line s3 = piix_intx_line(&r.p, 0x18, 0);
	struct irq_line s4 = piix_intx_line(&r.p, 0x20, 0);

	setup(&r);
	irq_line_set(&s2, 1);
	CHECK_EQ(irq_level[11], 1);
	CHECK_EQ(irq_level[10], 0);
	irq_line_set(&s3, 1);
	irq_line_set(&s2, 0);
	CHECK_EQ(irq_level[11], 1);		/* s3 still holds the line */
	irq_line_set(&s3, 0);
	CHECK_EQ(irq_level[11], 0);
	irq_line_set(&s4, 1);
	CHECK_EQ(irq_level[10], 1);
	irq_line_set(&s4, 1);			/* a repeat counts once */
	irq_line_set(&s4, 0);
	CHECK_EQ(irq_level[10], 0);

	/* The guest reprograms PIRQA to IRQ 5 while the line is up: the
	 * level moves with it. */
	irq_line_set(&s4, 1);
	pci_cfg_write(&r.pci, 0x08, 0x60, 1, 5);
	CHECK_EQ(irq_level[10], 0);
	CHECK_EQ(irq_level[5], 1);
	/* Disabled (bit 7): nothing is driven. */
	pci_cfg_write(&r.pci, 0x08, 0x60, 1, 0x85);
	CHECK_EQ(irq_level[5], 0);
	/* Reserved IRQs (0-2, 8, 13) route nowhere either. */
	pci_cfg_write(&r.pci, 0x08, 0x60, 1, 0x08);
	CHECK_EQ(irq_level[8], 0);
	pci_cfg_write(&r.pci, 0x08, 0x60, 1, 0x02);
	CHECK_EQ(irq_level[2], 0);
	pci_cfg_write(&r.pci, 0x08, 0x60, 1, 0x0a);
	CHECK_EQ(irq_level[10], 1);
	/* Bits 6:4 are reserved: a write of 0xff keeps only 0x8f. */
	pci_cfg_write(&r.pci, 0x08, 0x61, 1, 0xff);
	CHECK_EQ(pci_cfg_read(&r.pci, 0x08, 0x61, 1), 0x8f);
	irq_line_set(&s4, 0);
	CHECK_EQ(irq_level[10], 0);
	teardown(&r);
}

static void test_firmware_route(void)
{
	struct rig r;
	struct pci_dev nic;

	setup(&r);
	pci_dev_init(&nic, "nic", 0x8086, 0x100e, 0x020000, 0);
	nic.cfg[0x3d] = 1;				/* INTA */
	CHECK_EQ(pci_bus_add(&r.pci, &nic, 0x18), 0);
	piix_firmware_route(&r.p, &r.pci);
	CHECK_EQ(nic.cfg[0x3c], piix_pirq_default[piix_pirq_of(3, 0)]);
	teardown(&r);
}

static void test_pm(void)
{
	struct rig r;
	uint32_t t0, t1;
	struct timespec ms = { 0, 20 * 1000 * 1000 };

	setup(&r);
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE + 4, 2) & 1, 1); /* SCI_EN */
	/* S1 (type 1) is refused: no request. */
	pio_write(&r.pio, PIIX_PM_BASE + 4, 2, (1 << 10) | (1 << 13));
	CHECK_EQ(poweroffs + other_requests, 0);
	/* Sleep type without SLP_EN: nothing yet. */
	pio_write(&r.pio, PIIX_PM_BASE + 4, 2, 5 << 10);
	CHECK_EQ(poweroffs, 0);
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE + 4, 2) & 0x1c00, 5 << 10);
	pio_write(&r.pio, PIIX_PM_BASE + 4, 2, (5 << 10) | (1 << 13));
	CHECK_EQ(poweroffs, 1);
	/* SLP_EN is write-only. */
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE + 4, 2) & (1 << 13), 0);

	/* PM1_EN keeps what is written; PM1_STS is write-1-to-clear. */
	pio_write(&r.pio, PIIX_PM_BASE + 2, 2, 0x0100);
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE + 2, 2), 0x0100);
	pio_write(&r.pio, PIIX_PM_BASE, 2, 0xffff);
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE, 2), 0);

	/* The PM timer runs at 3.579545 MHz: 20 ms is ~71600 ticks. */
	t0 = (uint32_t)pio_read(&r.pio, PIIX_PM_BASE + 8, 4);
	nanosleep(&ms, NULL);
	t1 = (uint32_t)pio_read(&r.pio, PIIX_PM_BASE + 8, 4);
	CHECK((uint32_t)(t1 - t0) >= 70000);
	CHECK((uint32_t)(t1 - t0) < 3579545);	/* under a second */
	teardown(&r);
}

/* The fixed power button: PWRBTN_STS latches; the SCI (IRQ 9) is up
 * while the status and PWRBTN_EN are both set, and goes when the guest
 * clears either; a PIRQ routed to IRQ 9 shares the line (an OR). */
static void test_power_button(void)
{
	struct rig r;
	struct irq_line s4 = piix_intx_line(&r.p, 0x20, 0);	/* PIRQA */

	setup(&r);
	piix_power_button(&r.p);
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE, 2) & 0x0100, 0x0100);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 0);		/* not enabled */
	pio_write(&r.pio, PIIX_PM_BASE + 2, 2, 0x0100);	/* PWRBTN_EN */
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 1);
	pio_write(&r.pio, PIIX_PM_BASE, 2, 0x0100);	/* clear the status */
	CHECK_EQ(pio_read(&r.pio, PIIX_PM_BASE, 2) & 0x0100, 0);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 0);
	piix_power_button(&r.p);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 1);
	pio_write(&r.pio, PIIX_PM_BASE + 2, 2, 0);	/* disabled: down */
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 0);
	pio_write(&r.pio, PIIX_PM_BASE + 2, 2, 0x0100);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 1);

	/* PIRQA on IRQ 9 with the SCI: the line stays up until both go. */
	pci_cfg_write(&r.pci, 0x08, 0x60, 1, PIIX_SCI_IRQ);
	irq_line_set(&s4, 1);
	pio_write(&r.pio, PIIX_PM_BASE, 2, 0x0100);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 1);		/* the PIRQ holds it */
	irq_line_set(&s4, 0);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 0);
	piix_power_button(&r.p);
	irq_line_set(&s4, 1);
	irq_line_set(&s4, 0);
	CHECK_EQ(irq_level[PIIX_SCI_IRQ], 1);		/* the SCI holds it */

	teardown(&r);
}

static void test_ide_bar(void)
{
	struct rig r;
	int c0, c1;

	setup(&r);
	CHECK_EQ(piix_attach_ide(&r.p, &fake_cmd, &fake_ctl, &fake_bm, &c0,
				 &c1),
		 0);
	/* The compatibility ports are taken now. */
	CHECK_EQ(bus_register(&r.pio, 0x1f0, 1, &fake_cmd, NULL, "x"), -EEXIST);
	CHECK_EQ(bus_register(&r.pio, 0x376, 1, &fake_cmd, NULL, "x"), -EEXIST);
	/* BAR4 placed and I/O decoding on: each channel's 8 bytes. */
	pci_cfg_write(&r.pci, 0x09, 0x20, 4, 0xc000);
	pci_cfg_write(&r.pci, 0x09, 0x04, 2, 0x0005);
	pio_write(&r.pio, 0xc000, 1, 1);
	CHECK_EQ(bm_writes, 1);
	CHECK(bm_last == &c0);
	pio_write(&r.pio, 0xc008, 1, 1);
	CHECK(bm_last == &c1);
	/* Moved: the old range is gone, the new one answers. */
	pci_cfg_write(&r.pci, 0x09, 0x20, 4, 0xd000);
	CHECK(!bus_write(&r.pio, 0xc000, (uint8_t[]){ 0 }, 1));
	pio_write(&r.pio, 0xd00c, 1, 1);
	CHECK_EQ(bm_writes, 3);
	/* Decoding off: unregistered. */
	pci_cfg_write(&r.pci, 0x09, 0x04, 2, 0x0000);
	CHECK(!bus_write(&r.pio, 0xd000, (uint8_t[]){ 0 }, 1));
	teardown(&r);
}

/* Lines a guest can make the chipset log: a sleep type it does not have,
 * over and over, and bus master moves onto the IDE ports. At most 16
 * lines, and a move that fails keeps the block where it was. */
static void test_guest_bounds(void)
{
	struct rig r;
	int c0, c1, saved, lines = 0, ch;
	FILE *log = tmpfile();

	CHECK(log != NULL);
	if (!log)
		return;
	setup(&r);
	CHECK_EQ(piix_attach_ide(&r.p, &fake_cmd, &fake_ctl, &fake_bm, &c0,
				 &c1),
		 0);
	pci_cfg_write(&r.pci, 0x09, 0x20, 4, 0xc000);
	pci_cfg_write(&r.pci, 0x09, 0x04, 2, 0x0005);
	bm_writes = 0;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(log), STDERR_FILENO);
	for (int i = 0; i < 1000; i++)
		pio_write(&r.pio, PIIX_PM_BASE + 4, 2, (3 << 10) | (1 << 13));
	for (int i = 0; i < 100; i++)
		pci_cfg_write(&r.pci, 0x09, 0x20, 4, i & 1 ? 0x170 : 0x1f0);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	rewind(log);
	while ((ch = fgetc(log)) != EOF)
		lines += ch == '\n';
	fclose(log);
	CHECK(lines >= 2 && lines <= 16);
	if (lines > 16)
		fprintf(stderr, "%d lines logged\n", lines);
	CHECK_EQ(poweroffs, 0);
	/* The block still answers at 0xc000, for both channels. */
	CHECK(bus_write(&r.pio, 0xc000, (uint8_t[]){ 1 }, 1));
	CHECK(bus_write(&r.pio, 0xc008, (uint8_t[]){ 1 }, 1));
	CHECK_EQ(bm_writes, 2);
	CHECK(bm_last == &c1);
	/* And moves on from there once the guest picks a free place. */
	pci_cfg_write(&r.pci, 0x09, 0x20, 4, 0xd000);
	CHECK(!bus_write(&r.pio, 0xc000, (uint8_t[]){ 0 }, 1));
	CHECK(bus_write(&r.pio, 0xd000, (uint8_t[]){ 1 }, 1));
	teardown(&r);
}

int main(void)
{
	test_functions();
	test_intx_routing();
	test_firmware_route();
	test_pm();
	test_power_button();
	test_ide_bar();
	test_guest_bounds();
	return check_done("test_piix");
}
