/* The virt machine's hotplug platform devices on a fake machine: the GED
 * (platform/ged.h: event latch, the level line, clear on a full read,
 * save/load) and the PCI hotplug controller (platform/pci_hotplug.h: UP
 * and DOWN with write-1-to-clear, the eject register taking only slots
 * being removed, ejects handed over on the main loop, cancel, reset,
 * save/load and hostile records). */
#include "core/log.h"
#include "platform/ged.h"
#include "platform/pci_hotplug.h"
#include "tests/unit/check.h"
#include "tests/unit/fake_machine.h"
#include "tests/unit/state_check.h"

#include <sys/epoll.h>

#define GED_PORT 0x610
#define GED_GSI 20
#define HP_PORT 0x620

static uint32_t rd32(struct fake_machine *m, uint64_t port)
{
	uint8_t b[4];

	CHECK(bus_read(&m->pio, port, b, 4));
	return (uint32_t)bus_get(b, 4);
}

static void wr32(struct fake_machine *m, uint64_t port, uint32_t v)
{
	uint8_t b[4];

	bus_put(b, 4, v);
	CHECK(bus_write(&m->pio, port, b, 4));
}

static void test_ged(void)
{
	struct fake_machine m;
	struct state_writer w;
	struct ged g;
	uint8_t b[2];

	machine_init(&m, NULL);
	ged_init(&g, "ged", GED_PORT, GED_GSI);
	CHECK_EQ(device_realize(&g.dev, &m.host), 0);
	CHECK_EQ(m.level[GED_GSI], 0);
	CHECK_EQ(rd32(&m, GED_PORT), 0);

	ged_raise(&g, GED_EVENT_PCI_HOTPLUG);
	CHECK_EQ(m.level[GED_GSI], 1);
	ged_raise(&g, GED_EVENT_PWRBTN);
	ged_raise(&g, 7);			/* no such event: ignored */
	CHECK_EQ(g.pending, 3);
	/* A narrow read sees the bits and leaves them; writes do nothing. */
	CHECK(bus_read(&m.pio, GED_PORT, b, 2));
	CHECK_EQ(b[0], 3);
	wr32(&m, GED_PORT, 0);
	CHECK_EQ(m.level[GED_GSI], 1);
	/* The full read takes them and lowers the line. */
	CHECK_EQ(rd32(&m, GED_PORT), 3);
	CHECK_EQ(m.level[GED_GSI], 0);
	CHECK_EQ(rd32(&m, GED_PORT), 0);

	/* Save with one pending; load into a fresh one sets its line. */
	ged_raise(&g, GED_EVENT_PCI_HOTPLUG);
	CHECK_EQ(device_pause(&g.dev), 0);
	save(&g.dev, &w);
	load_and_compare(&g.dev, &w);
	refuse_field(&g.dev, &w, 1, 0, 0x04);	/* bit 2: no event */
	refuse_field(&g.dev, &w, 1, 3, 0x80);
	CHECK_EQ(device_reset(&g.dev), -EBUSY);	/* not while paused */
	CHECK_EQ(device_resume(&g.dev), 0);
	device_reset(&g.dev);
	CHECK_EQ(g.pending, 0);
	CHECK_EQ(m.level[GED_GSI], 0);
	CHECK_EQ(device_pause(&g.dev), 0);
	CHECK_EQ(device_load(&g.dev, w.buf, w.len, NULL), 0);
	CHECK_EQ(m.level[GED_GSI], 1);
	CHECK_EQ(g.pending, 1u << GED_EVENT_PCI_HOTPLUG);
	state_writer_free(&w);

	device_destroy(&g.dev);
	/* Unrealized: the port is free again. */
	CHECK(!bus_read(&m.pio, GED_PORT, b, 1));
	machine_destroy(&m);
}

struct owner {
	unsigned int notified;
	uint32_t ejected;
	unsigned int nejects;
};

static void on_notify(void *opaque)
{
	((struct owner *)opaque)->notified++;
}

static void on_eject(void *opaque, unsigned int slot)
{
	struct owner *o = opaque;

	o->ejected |= 1u << slot;
	o->nejects++;
}

/* One turn of the fake main loop, waiting at most MS. */
static void loop_turn(struct fake_machine *m, int ms)
{
	struct epoll_event ev[4];
	int n = epoll_wait(m->loop.epfd, ev, 4, ms);

	for (int i = 0; i < n; i++) {
		struct loop_watch *w = ev[i].data.ptr;

		w->cb(w, ev[i].events);
	}
}

static void test_controller(void)
{
	struct fake_machine m;
	struct pci_hotplug hp;
	struct owner o = { 0 };
	struct state_writer w;
	uint8_t b[4];

	machine_init(&m, NULL);
	pci_hotplug_init(&hp, "pci-hotplug", HP_PORT, on_notify, on_eject, &o);
	CHECK_EQ(device_realize(&hp.dev, &m.host), 0);

	CHECK_EQ(pci_hotplug_plug(&hp, 0), -EINVAL);
	CHECK_EQ(pci_hotplug_plug(&hp, 32), -EINVAL);
	CHECK_EQ(o.notified, 0);
	CHECK_EQ(pci_hotplug_plug(&hp, 3), 0);
	CHECK_EQ(pci_hotplug_plug(&hp, 5), 0);
	CHECK_EQ(o.notified, 2);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_UP), 0x28);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN), 0);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ), 0);
	/* Byte reads see the same registers. */
	CHECK(bus_read(&m.pio, HP_PORT, b, 1));
	CHECK_EQ(b[0], 0x28);
	/* Write 1 to clear: only the bits written. */
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_UP, 0x08);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_UP), 0x20);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_UP, 0xffffffff);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_UP), 0);

	/* An eject nobody asked for does nothing. */
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 3);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 0);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 1000);
	loop_turn(&m, 0);
	CHECK_EQ(o.nejects, 0);

	/* Removal: DOWN set, a second ask refused, plug refused meanwhile. */
	CHECK_EQ(pci_hotplug_unplug(&hp, 3), 0);
	CHECK_EQ(o.notified, 3);
	CHECK_EQ(pci_hotplug_unplug(&hp, 3), -EALREADY);
	CHECK_EQ(pci_hotplug_plug(&hp, 3), -EBUSY);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN), 0x08);
	/* The guest clears DOWN (PCNT) and later ejects: handed over on the
	 * main loop, not in the vCPU's write. */
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN, 0x08);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN), 0);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 3);
	CHECK_EQ(o.nejects, 0);
	loop_turn(&m, 1000);
	CHECK_EQ(o.nejects, 1);
	CHECK_EQ(o.ejected, 0x08);
	/* A second eject of the same slot: nothing is being removed. */
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 3);
	loop_turn(&m, 0);
	CHECK_EQ(o.nejects, 1);
	CHECK_EQ(pci_hotplug_plug(&hp, 3), 0);

	/* Cancel (the timeout): DOWN cleared, a late eject ignored. */
	CHECK_EQ(pci_hotplug_unplug(&hp, 7), 0);
	pci_hotplug_cancel(&hp, 7);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN), 0);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 7);
	loop_turn(&m, 0);
	CHECK_EQ(o.nejects, 1);

	/* Odd widths and offsets change nothing. */
	CHECK_EQ(pci_hotplug_unplug(&hp, 9), 0);
	b[0] = 9;
	CHECK(bus_write(&m.pio, HP_PORT + PCI_HOTPLUG_REG_EJ, b, 1));
	CHECK(bus_write(&m.pio, HP_PORT + 1, b, 2));
	loop_turn(&m, 0);
	CHECK_EQ(o.nejects, 1);

	/* Save: UP (slot 3), DOWN and removing (slot 9), an eject of slot 9
	 * written and not yet handed over. */
	CHECK_EQ(device_pause(&hp.dev), 0);
	save(&hp.dev, &w);
	load_and_compare(&hp.dev, &w);
	refuse_field(&hp.dev, &w, 1, 0, 0x09);	/* slot 0 */
	refuse_field(&hp.dev, &w, 2, 0, 0x0a);	/* DOWN without removal */
	refuse_field(&hp.dev, &w, 4, 1, 0x02);	/* ejected and removing */
	state_writer_free(&w);
	CHECK_EQ(device_resume(&hp.dev), 0);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_EJ, 9);
	CHECK_EQ(device_pause(&hp.dev), 0);
	save(&hp.dev, &w);
	CHECK_EQ(device_resume(&hp.dev), 0);
	loop_turn(&m, 1000);
	CHECK_EQ(o.nejects, 2);
	/* A load with the eject pending hands it over again. */
	CHECK_EQ(device_pause(&hp.dev), 0);
	CHECK_EQ(device_load(&hp.dev, w.buf, w.len, NULL), 0);
	CHECK_EQ(device_resume(&hp.dev), 0);
	loop_turn(&m, 1000);
	CHECK_EQ(o.nejects, 3);
	CHECK_EQ(o.ejected, 0x208);
	state_writer_free(&w);

	/* Reset: nothing to announce, removals asked again. */
	CHECK_EQ(pci_hotplug_unplug(&hp, 4), 0);
	wr32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN, 0xffffffff);
	device_reset(&hp.dev);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_UP), 0);
	CHECK_EQ(rd32(&m, HP_PORT + PCI_HOTPLUG_REG_DOWN), 0x10);

	device_destroy(&hp.dev);
	CHECK(!bus_read(&m.pio, HP_PORT, b, 1));
	machine_destroy(&m);
}

int main(void)
{
	log_set_level(LOG_ERR);
	test_ged();
	test_controller();
	return check_done("test_pci_hotplug");
}
