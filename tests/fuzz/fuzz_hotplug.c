/* The virt machine's hotplug registers (platform/ged.c,
 * platform/pci_hotplug.c) as a guest can drive them: each input is a
 * script of 4-byte steps, [op, a, b, c]:
 *
 *   op % 8 == 0  guest read at GED or controller offset (a), width (b)
 *   op % 8 == 1  guest write of c at offset (a), width (b)
 *   op % 8 == 2  guest eject of slot a (a 4-byte EJ write)
 *   op % 8 == 3  host plug of slot a
 *   op % 8 == 4  host unplug of slot a
 *   op % 8 == 5  host cancel of slot a (the deadline)
 *   op % 8 == 6  the main loop hands the ejects over
 *   op % 8 == 7  the host raises GED event a % 2
 *
 * Invariants after every step: the GED's line is high exactly when an
 * event is pending; DOWN holds only slots being removed; no slot is both
 * ejected and being removed; the eject callback hears only slots the host
 * asked out (and did not cancel), and each once per removal. */
#include "core/bus.h"
#include "core/log.h"
#include "core/loop.h"
#include "platform/ged.h"
#include "platform/pci_hotplug.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define GED_PORT 0x610
#define HP_PORT 0x620
#define GSI 20

static int line;
static uint32_t asked;			/* the host's view: being removed */
static uint32_t heard;			/* ejects the callback heard */

static int set_irq(void *opaque, uint32_t gsi, int level)
{
	FZ_ASSERT(gsi == GSI);
	line = level;
	return 0;
}

static void notify(void *opaque)
{
}

static void eject(void *opaque, unsigned int slot)
{
	FZ_ASSERT(slot > 0 && slot < PCI_HOTPLUG_SLOTS);
	FZ_ASSERT(asked & (1u << slot));
	asked &= ~(1u << slot);
	heard |= 1u << slot;
}

static const uint32_t widths[] = { 1, 2, 4, 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bus pio, mmio;
	struct ged g;
	struct pci_hotplug hp;
	struct machine_host h = { .pio = &pio, .mmio = &mmio,
				  .set_irq = set_irq };

	log_set_level(LOG_ERR);		/* the guest's mistakes are warnings */
	line = 0;
	asked = heard = 0;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	ged_init(&g, "ged", GED_PORT, GSI);
	pci_hotplug_init(&hp, "pci-hotplug", HP_PORT, notify, eject, NULL);
	FZ_ASSERT(device_realize(&g.dev, &h) == 0);
	FZ_ASSERT(device_realize(&hp.dev, &h) == 0);

	for (size_t i = 0; i + 4 <= size; i += 4) {
		const uint8_t *st = data + i;
		unsigned int slot = st[1];
		uint32_t len = widths[st[2] % 4];
		uint64_t port = (st[1] & 0x80 ? GED_PORT : HP_PORT) +
				(st[1] & 0x0f);
		uint8_t buf[8];
		int ret;

		memset(buf, st[3], sizeof(buf));
		switch (st[0] % 8) {
		case 0:
			bus_read(&pio, port, buf, len);
			break;
		case 1:
			bus_write(&pio, port, buf, len);
			break;
		case 2:
			bus_put(buf, 4, slot % 40);
			bus_write(&pio, HP_PORT + PCI_HOTPLUG_REG_EJ, buf, 4);
			break;
		case 3:
			ret = pci_hotplug_plug(&hp, slot % 40);
			FZ_ASSERT(ret == 0 || ret == -EINVAL || ret == -EBUSY);
			break;
		case 4:
			ret = pci_hotplug_unplug(&hp, slot % 40);
			FZ_ASSERT(ret == 0 || ret == -EINVAL ||
				  ret == -EALREADY);
			if (!ret)
				asked |= 1u << (slot % 40);
			break;
		case 5:
			pci_hotplug_cancel(&hp, slot % 40);
			if (slot % 40 < 32)
				asked &= ~(1u << (slot % 40)) |
					 (hp.ejected & (1u << (slot % 40)));
			break;
		case 6:
			pci_hotplug_service(&hp);
			FZ_ASSERT(!hp.ejected);
			break;
		case 7:
			ged_raise(&g, slot % 2);
			break;
		}
		FZ_ASSERT(line == (g.pending != 0));
		FZ_ASSERT(!(g.pending & ~GED_EVENTS_MASK));
		FZ_ASSERT(!(hp.down & ~hp.removing));
		FZ_ASSERT(!(hp.ejected & hp.removing));
		FZ_ASSERT(!((hp.removing | hp.ejected | hp.up) &
			    ~PCI_HOTPLUG_SLOT_MASK));
		FZ_ASSERT((hp.removing | hp.ejected) == asked);
	}
	pci_hotplug_service(&hp);
	FZ_ASSERT(!asked || hp.removing == asked);
	device_destroy(&hp.dev);
	device_destroy(&g.dev);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_hotplug: %u inputs ran clean\n", runs);
}
#include "replay.h"
#endif
