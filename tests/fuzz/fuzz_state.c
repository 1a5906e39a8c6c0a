/* The state-stream loader: a snapshot is hostile input. Each input is fed
 * to every device kind's load on a realized, paused instance (the first
 * byte picks which kinds go first, so the corpus can steer), and must
 * never crash, read out of bounds or leave a device that misbehaves: after
 * a load, accepted or not, the device is resumed and its registers read,
 * and a save of it must load back. */
#include "block/ide.h"
#include "core/bus.h"
#include "core/device.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/pci.h"
#include "core/state.h"
#include "net/e1000.h"
#include "platform/acpi_sleep.h"
#include "platform/fw_cfg.h"
#include "platform/ged.h"
#include "platform/host_bridge.h"
#include "platform/i8042.h"
#include "platform/pci_hotplug.h"
#include "platform/piix.h"
#include "platform/rtc.h"
#include "platform/serial.h"
#include "tests/fuzz/fuzz.h"
#include "tests/unit/fake_irq.h"
#include "virtio/net.h"
#include "virtio/pci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct guest_mem ram;

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

static struct ged ged;

static struct device *make_ged(struct machine_host *h)
{
	ged_init(&ged, "ged", 0x610, 20);
	return &ged.dev;
}

static void poke_ged(struct machine_host *h)
{
	uint8_t v[4];

	bus_read(h->pio, 0x610, v, 4);
	FZ_ASSERT(ged.pending == 0);
	ged_raise(&ged, GED_EVENT_PCI_HOTPLUG);
	bus_read(h->pio, 0x610, v, 4);
	FZ_ASSERT(v[0] == 1u << GED_EVENT_PCI_HOTPLUG);
}

static struct pci_hotplug hotplug;
static uint32_t hotplug_ejected;

static void hotplug_notify(void *opaque)
{
}

static void hotplug_eject(void *opaque, unsigned int slot)
{
	FZ_ASSERT(slot > 0 && slot < PCI_HOTPLUG_SLOTS);
	hotplug_ejected |= 1u << slot;
}

static struct device *make_hotplug(struct machine_host *h)
{
	pci_hotplug_init(&hotplug, "pci-hotplug", 0x620, hotplug_notify,
			 hotplug_eject, NULL);
	return &hotplug.dev;
}

/* Ejects of every slot: only those being removed are handed over, and
 * none twice. */
static void poke_hotplug(struct machine_host *h)
{
	uint32_t removing = hotplug.removing, ejected = hotplug.ejected;
	uint8_t v[4];

	hotplug_ejected = 0;
	for (uint32_t s = 0; s < 40; s++) {
		bus_put(v, 4, s);
		bus_write(h->pio, 0x620 + PCI_HOTPLUG_REG_EJ, v, 4);
	}
	pci_hotplug_service(&hotplug);
	FZ_ASSERT(hotplug_ejected == (removing | ejected));
	FZ_ASSERT(!hotplug.removing && !hotplug.down);
	bus_read(h->pio, 0x620, v, 4);
}

static struct fw_cfg fwc;

/* No guest RAM here: the poke never starts a DMA transfer. */
static struct device *make_fw_cfg(struct machine_host *h)
{
	static const char text[] = "/pci@i0cf8/ide@1,1/drive@0/disk@0";

	if (fw_cfg_init(&fwc, "fw_cfg", NULL))
		return NULL;
	if (fw_cfg_add_file(&fwc, "bootorder", text, sizeof(text))) {
		fw_cfg_destroy(&fwc);
		return NULL;
	}
	return &fwc.dev;
}

static void poke_fw_cfg(struct machine_host *h)
{
	struct bus *pio = h->pio;
	uint8_t v[4];

	for (int i = 0; i < 40; i++)
		bus_read(pio, FW_CFG_PORT_SEL + 1, v, 1);
	bus_read(pio, FW_CFG_PORT_DMA, v, 4);
	v[0] = FW_CFG_FILE_DIR;
	v[1] = 0;
	bus_write(pio, FW_CFG_PORT_SEL, v, 2);
	bus_read(pio, FW_CFG_PORT_SEL + 1, v, 1);
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

/* The virtio-pci transport's loader with virtio-net's fields behind it,
 * over a backend that moves nothing: a loaded running device resumes
 * (its control queue served on whatever rings the record names). */
static uint64_t be_features(void *be)
{
	return 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX |
	       1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_RING_PACKED |
	       1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_NET_F_MQ;
}

static int be_start(void *be, const struct guest_mem *mem, uint64_t features,
		    const struct net_pair_io *pairs, unsigned int npairs)
{
	return 0;
}

static void be_stop(void *be)
{
}

static int be_set_pairs(void *be, unsigned int n)
{
	return 0;
}

static int be_pause(void *be, uint16_t *base)
{
	return 0;
}

static int be_resume(void *be, const struct guest_mem *mem,
		     uint64_t features, const struct net_pair_io *pairs,
		     unsigned int npairs, const uint16_t *base)
{
	return 0;
}

static const struct net_backend_ops fz_backend = {
	.name = "fuzz", .features = be_features, .start = be_start,
	.stop = be_stop, .set_pairs = be_set_pairs, .pause = be_pause,
	.resume = be_resume,
};

static struct {
	struct virtio_net net;
	struct virtio_pci t;
} vnic;

static void vnic_set_bus(void *owner, struct virtio_bus bus)
{
	virtio_net_set_bus(&vnic.net, bus);
}

static void vnic_release(void *owner)
{
	virtio_net_destroy(&vnic.net);
}

static struct device *make_vnet(struct machine_host *h)
{
	struct net_config cfg = { .pairs = 2, .queue_size = 256,
				  .mac = { 0x52, 0x54, 0, 1, 2, 3 } };

	h->mem = &ram;
	if (virtio_net_create(&vnic.net, "net0", &cfg, &ram, &fz_backend,
			      NULL))
		return NULL;
	virtio_pci_device_init(&vnic.t, "net0", &(struct virtio_pci_model){
		.ops = &virtio_net_ops, .dev = &vnic.net, .nqueues = 5,
		.queue_size = 256, .set_bus = vnic_set_bus,
		.release = vnic_release });
	return &vnic.t.device;
}

/* The function's config space, and its BAR where the record put it. */
static void poke_vnet(struct machine_host *h)
{
	uint8_t v[4];

	for (unsigned int off = 0; off < 256; off += 4)
		pci_cfg_read(h->pci, vnic.t.pci.devfn, off, 4);
	if (vnic.t.bar)
		for (unsigned int off = 0; off < 0x3c; off += 4)
			bus_read(h->mmio, vnic.t.bar + off, v, 4);
}

/* The pc machine's chipset, IDE function (one drive on a small image)
 * and e1000 (a socketpair for its tap). */
static struct piix_device piix;

static struct device *make_piix(struct machine_host *h)
{
	piix_device_init(&piix, "piix");
	return &piix.dev;
}

static void poke_piix(struct machine_host *h)
{
	static const uint8_t fns[] = { 0, PIIX_DEVFN_ISA, PIIX_DEVFN_IDE,
				       PIIX_DEVFN_PM };
	uint8_t v[4];

	for (size_t f = 0; f < sizeof(fns); f++)
		for (unsigned int off = 0; off < 256; off += 4)
			pci_cfg_read(h->pci, fns[f], off, 4);
	for (unsigned int off = 0; off < 12; off += 2)
		bus_read(h->pio, PIIX_PM_BASE + off, v, 2);
	if (piix.piix.ide_bm_addr)
		bus_read(h->pio, piix.piix.ide_bm_addr, v, 1);
}

static struct ide_device ide;
static struct blk_image ide_img = { .fd = -1 };

static struct device *make_ide(struct machine_host *h)
{
	static const uint32_t gsi[IDE_CHANNELS] = { 14, 15 };
	struct blk_image *drives[IDE_DRIVES] = { &ide_img };

	if (ide_img.fd < 0) {
		char path[] = "/tmp/tern-fuzz-state-XXXXXX";
		int fd = mkstemp(path);

		FZ_ASSERT(fd >= 0 && ftruncate(fd, 64 * 512) == 0);
		close(fd);
		FZ_ASSERT(blk_image_open(&ide_img, path, true, false) == 0);
		unlink(path);
	}
	h->mem = &ram;
	ide_device_init(&ide, "ide0", drives, gsi);
	return &ide.dev;
}

/* Registers on both channels, the data port of a transfer in progress
 * included. */
static void poke_ide(struct machine_host *h)
{
	uint8_t v[2];

	for (unsigned int n = 0; n < IDE_CHANNELS; n++) {
		for (unsigned int off = 0; off < 8; off++)
			ide_cmd_ops.read(&ide.ide.chan[n], off, v, 1);
		for (unsigned int i = 0; i < 16; i++)
			ide_cmd_ops.read(&ide.ide.chan[n], 0, v, 2);
		ide_ctl_ops.read(&ide.ide.chan[n], 0, v, 1);
		for (unsigned int off = 0; off < 8; off++)
			ide_bm_ops.read(&ide.ide.chan[n], off, v, 1);
	}
}

static struct e1000_device nic;
static int nic_sv[2] = { -1, -1 };

static struct device *make_e1000(struct machine_host *h)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 4 };

	if (nic_sv[0] < 0) {
		FZ_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				     nic_sv) == 0);
		FZ_ASSERT(fcntl(nic_sv[0], F_SETFL, O_NONBLOCK) == 0);
	}
	h->mem = &ram;
	e1000_device_init(&nic, "net1", mac, nic_sv[0], 0, 3 << 3,
			  (struct irq_line){ no_irq, NULL, 11 });
	return &nic.dev;
}

/* Every register through the handlers, and a frame received and one
 * sent on whatever rings the record set up. */
static void poke_e1000(struct machine_host *h)
{
	uint8_t v[4], frame[64] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	for (unsigned int off = 0; off < 0x6000; off += 4)
		e1000_mmio_ops.read(&nic.e, off, v, 4);
	e1000_receive(&nic.e, frame, sizeof(frame));
	v[0] = v[1] = v[2] = v[3] = 0;
	e1000_mmio_ops.read(&nic.e, 0x3818, v, 4);	/* TDT */
	e1000_mmio_ops.write(&nic.e, 0x3818, v, 4);
}

static const struct kind kinds[] = {
	{ "piix", make_piix, poke_piix },
	{ "ide", make_ide, poke_ide },
	{ "e1000", make_e1000, poke_e1000 },
	{ "virtio-net", make_vnet, poke_vnet },
	{ "serial", make_serial, poke_serial },
	{ "rtc", make_rtc, poke_rtc },
	{ "i8042", make_i8042, poke_i8042 },
	{ "acpi-sleep", make_sleep, poke_sleep },
	{ "host-bridge", make_bridge, poke_bridge },
	{ "fw_cfg", make_fw_cfg, poke_fw_cfg },
	{ "ged", make_ged, poke_ged },
	{ "pci-hotplug", make_hotplug, poke_hotplug },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void one(const struct kind *k, const uint8_t *data, size_t size)
{
	struct bus pio, mmio;
	struct pci_bus pci;
	struct loop loop;
	struct machine_host h = { .pio = &pio, .mmio = &mmio, .pci = &pci,
				  .set_irq = no_irq, .loop = &loop,
				  .irq = &fake_irq_ops };
	struct state_writer w;
	struct device *d;
	size_t used = 0;
	int ret;

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	pci_bus_init(&pci, (struct vm_control){ 0 });
	FZ_ASSERT(loop_init(&loop) == 0);
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
	loop_destroy(&loop);
	pci_bus_destroy(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int first = size ? data[0] % NKINDS : 0;

	log_set_level(LOG_ERR);		/* rejections are expected */
	if (!ram.size) {
		struct mem_config mc = { .size = 2 << 20, .numa_node = -1 };

		FZ_ASSERT(guest_mem_create(&ram, &mc) == 0);
	}
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
