/* A struct vm with no KVM for the tests of the device paths (vm_device_add,
 * vm_hotplug_*): buses, a PCI bus, guest RAM, a main loop and irq_ops that
 * route nothing, and a 1 MiB image for --disk words. One copy for
 * test_devices.c and test_hotplug.c; a test includes it once. */
#ifndef TERN_TESTS_FAKE_VM_H
#define TERN_TESTS_FAKE_VM_H

#include "core/bus.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/pci.h"
#include "tests/unit/check.h"
#include "tests/unit/fake_irq.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct guest_mem mem;
static struct loop loop;
static struct vm_config cfg;
static char image[64], words[160];

/* Guest RAM, the loop and the image (named after TEST). */
static inline void fake_env_init(const char *test)
{
	struct mem_config mc = { .size = 4 << 20, .numa_node = -1 };
	int fd;

	CHECK_EQ(guest_mem_create(&mem, &mc), 0);
	CHECK_EQ(loop_init(&loop), 0);
	snprintf(image, sizeof(image), "/tmp/tern-%s-XXXXXX", test);
	fd = mkstemp(image);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
}

static inline void fake_env_destroy(void)
{
	unlink(image);
	loop_destroy(&loop);
	guest_mem_destroy(&mem);
}

/* A virt VM on the fake machine; SET_IRQ (may be NULL) hears GSI levels. */
static inline struct vm *vm_fake_new(int (*set_irq)(void *opaque,
						    uint32_t gsi, int level))
{
	struct vm *vm = calloc(1, sizeof(*vm));

	cfg = (struct vm_config){ .machine = MACHINE_VIRT,
				  .mem = { .numa_node = -1 } };
	vm->cfg = &cfg;
	vm->ncpus = 0;		/* no vCPU threads to pause */
	vm->hotplug.timer_fd = -1;
	bus_init(&vm->kvm.pio, "pio");
	bus_init(&vm->kvm.mmio, "mmio");
	pci_bus_init(&vm->pci, (struct vm_control){ 0 });
	vm->host = (struct machine_host){
		.pio = &vm->kvm.pio, .mmio = &vm->kvm.mmio, .pci = &vm->pci,
		.mem = &mem, .loop = &loop, .irq = &fake_irq_ops,
		.set_irq = set_irq,
	};
	return vm;
}

static inline void vm_fake_delete(struct vm *vm)
{
	device_list_destroy(&vm->devices);
	pci_bus_destroy(&vm->pci);
	bus_destroy(&vm->kvm.pio);
	bus_destroy(&vm->kvm.mmio);
	free(vm);
}

/* --disk words on the image, with MORE after them. */
static inline const char *disk(const char *more)
{
	snprintf(words, sizeof(words), "path=%s,readonly=on%s", image, more);
	return words;
}

#endif
