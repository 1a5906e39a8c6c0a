/* Fuzz target: the pc machine's legacy platform as a guest drives it, each
 * device realized through the lifecycle as the machine does: the 16550
 * (platform/serial.c), the RTC (platform/rtc.c), the i8042
 * (platform/i8042.c), PCI configuration through 0xCF8/0xCFC (core/pci.c)
 * reaching the i440FX and PIIX3 functions (platform/piix.c: PIRQ routing,
 * the PM block, IDE timing and its bus-master BAR, the PAM registers), a
 * plain device with an I/O and a memory BAR, and the BIOS shadow area and
 * ROM (platform/bios.c) that the PAM registers map.
 *
 * Input: byte 0: the ROM's size, (1 + b % 4) * 64 KiB. Then 8-byte steps
 * [op, sel, off, wid, v0, v1, v2, v3], v little-endian, width 1 << wid % 4
 * (8-byte accesses too, which no device takes):
 *   op % 8 == 0  port write of v at ports[sel % N] + off % its length;
 *                sel >= 0xf0: at port v >> 16 (anywhere)
 *   op % 8 == 1  port read, the same places
 *   op % 8 == 2  config write of v, function devfns[sel % 6] (the last:
 *                sel itself), register off, through 0xCF8 and 0xCFC
 *   op % 8 == 3  config read, the same
 *   op % 8 == 4  MMIO write of v in the shadow area (address from sel,
 *                off: 0xC0000 + (sel << 8 | off) * 4 % 256 KiB), or with
 *                wid bit 2 in the ROM below 4 GiB
 *   op % 8 == 5  MMIO read, the same
 *   op % 8 == 6  the host's side: wid bit 2 clear, input on the serial
 *                line (v's wid % 4 + 1 bytes); set, v % 4: 0-1 the plain
 *                function's INTx pin (sel % 4) to that level, 2 the
 *                power button
 *   op % 8 == 7  every device reset, as the VM's reset does it
 *
 * Checked after every step: interrupt lines only ISA IRQs 0-15 at level
 * 0 or 1; only power-off and reset requested; the serial line's output
 * at most 8 bytes per access; every KVM slot the BIOS asks for inside
 * guest RAM or the ROM, read-only unless it is RAM with writes enabled,
 * and the shadow chunks' slots as the host bridge's PAM registers say
 * (read back through config space); a shadow read shows RAM where reads
 * are enabled, the ROM (or all ones) where not; the ROM never changes. */
#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/pci.h"
#include "platform/bios.h"
#include "platform/i8042.h"
#include "platform/piix.h"
#include "platform/rtc.h"
#include "platform/serial.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_RAM (2u << 20)		/* low RAM: just past the shadow area */
#define FZ_SLOTS 64

static const struct {
	uint16_t port, len;
} ports[] = {
	{ 0x3f8, 8 },			/* serial */
	{ 0x70, 2 },			/* RTC */
	{ 0x60, 1 }, { 0x64, 1 },	/* i8042 */
	{ PCI_PORT_CONFIG, 8 },
	{ PIIX_PM_BASE, PIIX_PM_LEN },
	{ 0x1f0, 8 }, { 0x3f6, 1 },	/* IDE, the fake channel */
	{ 0xc000, 16 },			/* where BARs tend to go */
	{ 0xd000, 16 },
};

static const uint8_t devfns[] = { 0x00, PIIX_DEVFN_ISA, PIIX_DEVFN_IDE,
				  PIIX_DEVFN_PM, 0x18 /* the plain one */ };

struct fz_slot {
	uint64_t gpa, size;
	bool readonly;
	uint8_t *hva;
};

static struct {
	uint8_t *ram, *rom_copy;
	struct bios bios;
	struct fz_slot slot[FZ_SLOTS];
	bool plain_on[2];		/* the plain function's BARs placed */
	unsigned long requests, irqs, out_bytes;
} fz;

static int set_irq(void *opaque, uint32_t gsi, int level)
{
	FZ_ASSERT(gsi < 16);
	FZ_ASSERT(level == 0 || level == 1);
	fz.irqs++;
	return 0;
}

static void request(void *opaque, enum vm_request req)
{
	FZ_ASSERT(req == VM_REQ_POWEROFF || req == VM_REQ_RESET);
	fz.requests++;
}

static ssize_t out_write(void *opaque, const uint8_t *buf, size_t len)
{
	FZ_ASSERT(len >= 1 && len <= 8);
	fz.out_bytes += len;
	return (ssize_t)len;
}

/* The BIOS's KVM slots, kept as KVM would keep them. */
static int set_slot(void *opaque, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *hva, bool readonly)
{
	const uint8_t *p = hva;

	FZ_ASSERT(slot >= BIOS_SLOT_BASE && slot < BIOS_SLOT_BASE + FZ_SLOTS);
	if (size) {
		bool in_ram = p >= fz.ram && p + size <= fz.ram + FZ_RAM;
		bool in_rom = p >= fz.bios.rom &&
			      p + size <= fz.bios.rom + fz.bios.rom_len;

		FZ_ASSERT(in_ram || in_rom);
		FZ_ASSERT(in_ram || readonly);
		/* RAM is mapped where it is. */
		FZ_ASSERT(!in_ram || (uint64_t)(p - fz.ram) == gpa);
	}
	fz.slot[slot - BIOS_SLOT_BASE].gpa = gpa;
	fz.slot[slot - BIOS_SLOT_BASE].size = size;
	fz.slot[slot - BIOS_SLOT_BASE].hva = hva;
	fz.slot[slot - BIOS_SLOT_BASE].readonly = readonly;
	return 0;
}

static void pam_changed(void *opaque, const uint8_t *pam)
{
	bios_pam_update(opaque, pam);
}

/* The IDE channel's handlers: the PIIX only places them. */
static void ide_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
}

static void ide_write(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
}

static const struct bus_ops ide_ops = { .read = ide_read,
					.write = ide_write };

/* A plain function with an I/O and a memory BAR, as e1000 has. */
static struct bus *fz_pio, *fz_mmio;

static void plain_bar_update(struct pci_dev *d, int bar, uint64_t old_addr,
			     uint64_t new_addr)
{
	struct bus *b = bar == 0 ? fz_mmio : fz_pio;

	if (fz.plain_on[bar])
		bus_unregister(b, old_addr);
	/* Onto a range another device has: not decoded, as e1000 does. */
	fz.plain_on[bar] = new_addr && !bus_register(b, new_addr,
						     d->bar_size[bar],
						     &ide_ops, d, "plain");
}

static const struct pci_dev_ops plain_ops = { .bar_update = plain_bar_update };

/* The ROM's last 128 KiB (or all of a smaller one) show below 1 MiB:
 * where GPA's byte comes from, or NULL. */
static uint8_t *rom_at(uint64_t gpa)
{
	size_t low = fz.bios.rom_len < BIOS_LOW_MAX ? fz.bios.rom_len
						    : BIOS_LOW_MAX;

	if (gpa < BIOS_SHADOW_END - low || gpa >= BIOS_SHADOW_END)
		return NULL;
	return fz.bios.rom + fz.bios.rom_len - (BIOS_SHADOW_END - gpa);
}

/* The chunks' slots as the PAM registers (read back through config
 * space) say, and the ROM untouched. */
static void check_shadow(struct pci_bus *pci)
{
	uint8_t pam[BIOS_PAM_REGS];

	for (unsigned int i = 0; i < BIOS_PAM_REGS; i++)
		pam[i] = (uint8_t)pci_cfg_read(pci, 0, BIOS_PAM0 + i, 1);
	for (unsigned int i = 0; i < BIOS_CHUNKS; i++) {
		uint8_t mode = bios_pam_mode(pam, i);
		const struct fz_slot *s =
			&fz.slot[BIOS_SLOT_CHUNK0 - BIOS_SLOT_BASE + i];
		uint64_t gpa = bios_chunk_gpa(i);

		FZ_ASSERT(fz.bios.mode[i] == mode);
		if (mode & BIOS_PAM_RE) {
			FZ_ASSERT(s->size == bios_chunk_size(i) &&
				  s->gpa == gpa && s->hva == fz.ram + gpa);
			FZ_ASSERT(s->readonly == !(mode & BIOS_PAM_WE));
		} else if (rom_at(gpa)) {
			FZ_ASSERT(s->size == bios_chunk_size(i) &&
				  s->gpa == gpa && s->hva == rom_at(gpa) &&
				  s->readonly);
		} else {
			FZ_ASSERT(s->size == 0);
		}
	}
	FZ_ASSERT(!memcmp(fz.bios.rom, fz.rom_copy, fz.bios.rom_len));
}

/* A shadow read shows RAM where reads are enabled, else the ROM's
 * last 128 KiB or all ones. */
static void check_shadow_read(uint64_t gpa, const uint8_t *d, uint32_t len)
{
	for (uint32_t k = 0; k < len; k++) {
		uint64_t a = gpa + k;
		unsigned int chunk;
		uint8_t want;

		if (a >= BIOS_SHADOW_END) {
			FZ_ASSERT(d[k] == 0xff);
			continue;
		}
		chunk = a < 0xF0000 ? (unsigned int)((a - 0xC0000) >> 14) : 12;
		if (fz.bios.mode[chunk] & BIOS_PAM_RE)
			want = fz.ram[a];
		else if (rom_at(a))
			want = *rom_at(a);
		else
			want = 0xff;
		FZ_ASSERT(d[k] == want);
	}
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bus pio, mmio;
	struct pci_bus pci;
	struct serial serial;
	struct rtc rtc;
	struct i8042 kbd;
	struct piix_device piix;
	struct pci_dev plain;
	struct device *devs[4] = { &serial.dev, &rtc.dev, &kbd.dev, &piix.dev };
	struct vm_control ctl = { request, NULL };
	struct machine_host h = { .pio = &pio, .mmio = &mmio, .pci = &pci,
				  .set_irq = set_irq, .ctl = ctl };
	size_t rom_len;
	char err[160];

	if (size < 1)
		return 0;
	log_set_level(LOG_ERR);		/* the guest's mistakes are warnings */
	memset(&fz.slot, 0, sizeof(fz.slot));
	memset(&fz.plain_on, 0, sizeof(fz.plain_on));
	if (!fz.ram) {
		fz.ram = calloc(1, FZ_RAM);
		fz.rom_copy = malloc(BIOS_MAX_SIZE);
		FZ_ASSERT(fz.ram && fz.rom_copy);
		for (size_t i = 0; i < BIOS_MAX_SIZE; i++)
			fz.rom_copy[i] = (uint8_t)(i * 7 + (i >> 12));
	}
	rom_len = (1 + data[0] % 4) * BIOS_MIN_SIZE;
	FZ_NEVER(bios_load_mem(&fz.bios, fz.rom_copy, rom_len, err,
			       sizeof(err)));
	FZ_NEVER(bus_init(&pio, "pio") || bus_init(&mmio, "mmio") ||
		 pci_bus_init(&pci, ctl));
	fz_pio = &pio;
	fz_mmio = &mmio;
	FZ_NEVER(serial_device_init(&serial, "serial0", 0x3f8, 4,
				    (struct serial_output){ out_write, NULL }));
	FZ_NEVER(rtc_device_init(&rtc, "rtc", 0x70));
	FZ_NEVER(i8042_device_init(&kbd, "i8042"));
	piix_device_init(&piix, "piix");
	for (int i = 0; i < 4; i++)
		FZ_NEVER(device_realize(devs[i], &h));
	FZ_NEVER(piix_attach_ide(&piix.piix, &ide_ops, &ide_ops, &ide_ops,
				 NULL, NULL));
	pci_dev_init(&plain, "plain", 0x1234, 0x5678, 0x020000, 0);
	plain.ops = &plain_ops;
	FZ_NEVER(pci_dev_set_bar(&plain, 0, PCI_BAR_MEM32, 0x1000) ||
		 pci_dev_set_bar(&plain, 1, PCI_BAR_IO, 0x10) ||
		 pci_bus_add(&pci, &plain, devfns[4]));
	FZ_NEVER(bus_register(&pio, PCI_PORT_CONFIG, 8, &pci_config_ops, &pci,
			      "pci-config"));
	FZ_NEVER(bus_register(&mmio, BIOS_SHADOW_START,
			      BIOS_SHADOW_END - BIOS_SHADOW_START,
			      &bios_low_ops, &fz.bios, "bios-shadow") ||
		 bus_register(&mmio, MEM_4G - rom_len, rom_len, &bios_rom_ops,
			      &fz.bios, "bios-rom"));
	FZ_NEVER(bios_map(&fz.bios, fz.ram, FZ_RAM,
			  (struct bios_slot_ops){ set_slot, NULL }));
	piix_watch_pam(&piix.piix, pam_changed, &fz.bios);

	for (size_t at = 1; at + 8 <= size; at += 8) {
		const uint8_t *s = data + at;
		uint8_t op = s[0] % 8, sel = s[1], off = s[2];
		uint32_t len = 1u << (s[3] % 4), v = le32(s + 4);
		uint8_t d[8] = { 0 };
		uint64_t addr;

		switch (op) {
		case 0:
		case 1:
			if (sel >= 0xf0) {
				addr = v >> 16;
			} else {
				unsigned int p = sel % (sizeof(ports) /
							sizeof(ports[0]));

				addr = ports[p].port + off % ports[p].len;
			}
			bus_put(d, len > 4 ? 4 : len, v);
			if (op == 0)
				bus_write(&pio, addr, d, len);
			else
				bus_read(&pio, addr, d, len);
			break;
		case 2:
		case 3: {
			uint8_t devfn = sel % 6 < 5 ? devfns[sel % 6] : sel;
			uint8_t a[4];

			bus_put(a, 4, 0x80000000u | (uint32_t)devfn << 8 |
					      (off & 0xfc));
			bus_write(&pio, PCI_PORT_CONFIG, a, 4);
			bus_put(d, len > 4 ? 4 : len, v);
			addr = PCI_PORT_CONFIG + 4 + off % 4;
			if (op == 2)
				bus_write(&pio, addr, d, len);
			else
				bus_read(&pio, addr, d, len);
			break;
		}
		case 4:
		case 5:
			if (s[3] & 4)
				addr = MEM_4G - rom_len +
				       ((uint32_t)(sel << 8 | off) * 4) % rom_len;
			else
				addr = BIOS_SHADOW_START +
				       ((uint32_t)(sel << 8 | off) * 4) %
					       (BIOS_SHADOW_END -
						BIOS_SHADOW_START);
			bus_put(d, len > 4 ? 4 : len, v);
			if (op == 4) {
				bus_write(&mmio, addr, d, len);
			} else if (bus_read(&mmio, addr, d, len) &&
				   addr < BIOS_SHADOW_END) {
				check_shadow_read(addr, d, len);
			}
			break;
		case 6:
			if (!(s[3] & 4)) {
				bus_put(d, 4, v);
				serial_receive(&serial, d, s[3] % 4 + 1);
			} else if (v % 4 < 2) {
				struct irq_line l = piix_intx_line(
					&piix.piix, devfns[4], sel % 4);

				irq_line_set(&l, (int)(v % 4));
			} else if (v % 4 == 2) {
				piix_power_button(&piix.piix);
			}
			break;
		case 7:
			for (int i = 0; i < 4; i++)
				FZ_NEVER(device_reset(devs[i]));
			break;
		}
		check_shadow(&pci);
	}

	pci_bus_remove(&pci, &plain);
	plain_bar_update(&plain, 0, plain.bar_addr[0], 0);
	plain_bar_update(&plain, 1, plain.bar_addr[1], 0);
	for (int i = 3; i >= 0; i--)
		device_destroy(devs[i]);
	bus_destroy(&mmio);
	bus_destroy(&pio);
	pci_bus_destroy(&pci);
	bios_destroy(&fz.bios);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr,
		"fuzz_platform: %u inputs ran clean (%lu interrupt changes, "
		"%lu requests, %lu bytes out)\n",
		runs, fz.irqs, fz.requests, fz.out_bytes);
}
#include "replay.h"
#endif
