/* The unit tests' fake machine for devices of the lifecycle
 * (core/device.h): the PIO and MMIO buses, a PCI bus, a main loop, an
 * IRQ-line recorder by GSI and the irq_ops of tests/unit/fake_irq.h,
 * offered as the struct machine_host a device realizes on. No KVM. */
#ifndef TERN_TESTS_FAKE_MACHINE_H
#define TERN_TESTS_FAKE_MACHINE_H

#include "core/bus.h"
#include "core/device.h"
#include "core/loop.h"
#include "core/pci.h"
#include "tests/unit/check.h"
#include "tests/unit/fake_irq.h"

#include <string.h>

struct fake_machine {
	struct bus pio, mmio;
	struct pci_bus pci;
	struct loop loop;
	int level[32];			/* by GSI, as the devices set them */
	struct machine_host host;
};

static inline int fake_set_irq(void *opaque, uint32_t gsi, int level)
{
	struct fake_machine *m = opaque;

	if (gsi < 32)
		__atomic_store_n(&m->level[gsi], level, __ATOMIC_SEQ_CST);
	return 0;
}

/* MEM: guest RAM for the devices, or NULL. */
static inline void machine_init(struct fake_machine *m,
				const struct guest_mem *mem)
{
	memset(m, 0, sizeof(*m));
	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	pci_bus_init(&m->pci, (struct vm_control){ 0 });
	CHECK_EQ(loop_init(&m->loop), 0);
	m->host = (struct machine_host){
		.pio = &m->pio, .mmio = &m->mmio, .pci = &m->pci,
		.mem = (struct guest_mem *)mem, .loop = &m->loop,
		.irq = &fake_irq_ops,
		.set_irq = fake_set_irq, .set_irq_opaque = m,
	};
}

static inline void machine_destroy(struct fake_machine *m)
{
	loop_destroy(&m->loop);
	pci_bus_destroy(&m->pci);
	bus_destroy(&m->pio);
	bus_destroy(&m->mmio);
}

#endif
