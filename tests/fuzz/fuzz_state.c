/* The state-stream loader: a snapshot is hostile input. Each input is fed
 * to every device kind's load on a realized, paused instance (the first
 * byte picks which kinds go first, so the corpus can steer), and must
 * never crash, read out of bounds or leave a device that misbehaves: after
 * a load, accepted or not, the device is resumed and its registers read,
 * and a save of it must load back. */
#include "core/bus.h"
#include "core/device.h"
#include "core/log.h"
#include "core/pci.h"
#include "core/state.h"
#include "platform/acpi_sleep.h"
#include "platform/host_bridge.h"
#include "platform/i8042.h"
#include "platform/rtc.h"
#include "platform/serial.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static int no_irq(void *opaque, uint32_t gsi, int level)
{
	return 0;
}

struct kind {
	const char *name;
	struct device *(*make)(struct machine_host *h);
	void (*poke)(struct machine_host *h);	/* guest reads after load */
};

static struct serial serial;

static struct device *make_serial(struct machine_host *h)
{
	if (serial_device_init(&serial, "serial0", 0x3f8, 4,
			       (struct serial_output){ 0 }))
		return NULL;
	return &serial.dev;
}

static void poke_serial(struct machine_host *h)
{
	struct bus *pio = h->pio;
	uint8_t v;

	for (uint16_t p = 0x3f8; p < 0x400; p++)
		bus_read(pio, p, &v, 1);
}

static struct rtc rtc;

static struct device *make_rtc(struct machine_host *h)
{
	return rtc_device_init(&rtc, "rtc0", 0x70) ? NULL : &rtc.dev;
}

/* Every CMOS byte, through the index port. */
static void poke_rtc(struct machine_host *h)
{
	struct bus *pio = h->pio;
	uint8_t v;

	for (unsigned int i = 0; i < 128; i++) {
		v = (uint8_t)i;
		bus_write(pio, 0x70, &v, 1);
		bus_read(pio, 0x71, &v, 1);
	}
}

static struct i8042 kbd;

static struct device *make_i8042(struct machine_host *h)
{
	return i8042_device_init(&kbd, "i8042") ? NULL : &kbd.dev;
}

static void poke_i8042(struct machine_host *h)
{
	struct bus *pio = h->pio;
	uint8_t v = 0x20;

	bus_read(pio, 0x64, &v, 1);
	bus_read(pio, 0x60, &v, 1);
	v = 0x20;			/* read CTR */
	bus_write(pio, 0x64, &v, 1);
	bus_read(pio, 0x60, &v, 1);
}

static struct acpi_sleep sleep_regs;

static struct device *make_sleep(struct machine_host *h)
{
	acpi_sleep_init(&sleep_regs, "acpi-sleep", 0x600);
	return &sleep_regs.dev;
}

static void poke_sleep(struct machine_host *h)
{
	struct bus *pio = h->pio;
	uint8_t v;

	bus_read(pio, 0x601, &v, 1);
	bus_write(pio, 0x601, &v, 1);
}

static struct host_bridge bridge;

static struct device *make_bridge(struct machine_host *h)
{
	host_bridge_init(&bridge, "host-bridge");
	return &bridge.dev;
}

static void poke_bridge(struct machine_host *h)
{
	for (unsigned int off = 0; off < 256; off += 4)
		pci_cfg_read(h->pci, 0, off, 4);
}

static const struct kind kinds[] = {
	{ "serial", make_serial, poke_serial },
	{ "rtc", make_rtc, poke_rtc },
	{ "i8042", make_i8042, poke_i8042 },
	{ "acpi-sleep", make_sleep, poke_sleep },
	{ "host-bridge", make_bridge, poke_bridge },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void one(const struct kind *k, const uint8_t *data, size_t size)
{
	struct bus pio, mmio;
	struct pci_bus pci;
	struct machine_host h = { .pio = &pio, .mmio = &mmio, .pci = &pci,
				  .set_irq = no_irq };
	struct state_writer w;
	struct device *d;
	size_t used = 0;
	int ret;

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	pci_bus_init(&pci, (struct vm_control){ 0 });
	d = k->make(&h);
	FZ_ASSERT(d);
	FZ_ASSERT(device_realize(d, &h) == 0);
	FZ_ASSERT(device_pause(d) == 0);
	ret = device_load(d, data, size, &used);
	FZ_ASSERT(ret == 0 || ret == -EINVAL);
	FZ_ASSERT(ret || (used >= STATE_HEADER_LEN && used <= size));
	/* Whatever was loaded must save and load again. */
	state_writer_init(&w);
	FZ_ASSERT(device_save(d, &w) == 0);
	FZ_ASSERT(device_load(d, w.buf, w.len, NULL) == 0);
	state_writer_free(&w);
	FZ_ASSERT(device_resume(d) == 0);
	k->poke(&h);
	device_destroy(d);
	pci_bus_destroy(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int first = size ? data[0] % NKINDS : 0;

	log_set_level(LOG_ERR);		/* rejections are expected */
	for (unsigned int i = 0; i < NKINDS; i++)
		one(&kinds[(first + i) % NKINDS], data, size);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_state: %u inputs ran clean\n", runs);
}
#include "replay.h"
#endif
