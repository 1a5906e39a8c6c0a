/* vm_device_add and vm_device_remove (vmm/vm.h), the one path a device
 * takes at boot and at run time, on a VM with no KVM: a fake machine
 * (buses, a PCI bus, guest RAM, irq_ops that route nothing) under a
 * struct vm. The words select the kind; ids are given or assigned and
 * unique; a kind's limit holds; a kind the machine lacks is refused; the
 * device is realized (its PCI function answers) and on the list, where
 * vm_pause reaches it; removed, it is gone and its id free again. */
#include "core/bus.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/pci.h"
#include "tests/unit/check.h"
#include "tests/unit/fake_irq.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <unistd.h>

static struct guest_mem mem;
static struct loop loop;
static struct vm_config cfg;
static char image[64], words[128];

static struct vm *vm_fake(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	cfg = (struct vm_config){ .machine = MACHINE_VIRT,
				  .mem = { .numa_node = -1 } };
	vm->cfg = &cfg;
	vm->ncpus = 0;		/* no vCPU threads to pause */
	bus_init(&vm->kvm.pio, "pio");
	bus_init(&vm->kvm.mmio, "mmio");
	pci_bus_init(&vm->pci, (struct vm_control){ 0 });
	vm->host = (struct machine_host){
		.pio = &vm->kvm.pio, .mmio = &vm->kvm.mmio, .pci = &vm->pci,
		.mem = &mem, .loop = &loop, .irq = &fake_irq_ops,
	};
	return vm;
}

static void vm_fake_free(struct vm *vm)
{
	device_list_destroy(&vm->devices);
	pci_bus_destroy(&vm->pci);
	bus_destroy(&vm->kvm.pio);
	bus_destroy(&vm->kvm.mmio);
	free(vm);
}

/* The virtio functions on the bus. */
static unsigned int virtio_functions(struct vm *vm)
{
	unsigned int n = 0;

	for (unsigned int devfn = 0; devfn < 256; devfn += 8)
		n += pci_cfg_read(&vm->pci, (uint8_t)devfn, 0, 2) == 0x1af4;
	return n;
}

static const char *disk(const char *more)
{
	snprintf(words, sizeof(words), "path=%s,readonly=on%s", image, more);
	return words;
}

int main(void)
{
	struct mem_config mc = { .size = 4 << 20, .numa_node = -1 };
	struct vm *vm;
	char id[DEV_ID_LEN];
	struct device *d;
	int fd;

	log_set_level(LOG_ERR);
	CHECK_EQ(guest_mem_create(&mem, &mc), 0);
	CHECK_EQ(loop_init(&loop), 0);
	snprintf(image, sizeof(image), "/tmp/tern-devices-XXXXXX");
	fd = mkstemp(image);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	vm = vm_fake();

	/* Assigned ids, the option and the first free index. */
	CHECK_EQ(vm_device_add(vm, "disk", disk(""), id), 0);
	CHECK_STR(id, "disk0");
	CHECK_EQ(vm_device_add(vm, "disk", disk(",queues=2"), id), 0);
	CHECK_STR(id, "disk1");
	CHECK_EQ(vm_device_add(vm, "disk", disk(",id=data"), id), 0);
	CHECK_STR(id, "data");
	CHECK_EQ(virtio_functions(vm), 3);
	d = device_list_find(&vm->devices, "disk1");
	CHECK(d && d->state == DEVICE_REALIZED);
	CHECK(d && d->kind == &dev_kind_virtio_blk);
	CHECK_EQ(vm->devices.n, 3);

	/* Refused: a taken id, words no kind takes, a bad word, a kind the
	 * virt machine has not (e1000, IDE). Nothing added. */
	CHECK_EQ(vm_device_add(vm, "disk", disk(",id=disk0"), id), -EEXIST);
	CHECK_EQ(vm_device_add(vm, "disk", "queues=2", id), -EINVAL);
	CHECK_EQ(vm_device_add(vm, "disk", disk(",queues=0"), id), -EINVAL);
	CHECK_EQ(vm_device_add(vm, "tape", "path=x", id), -EINVAL);
	CHECK_EQ(vm_device_add(vm, "net", "model=e1000", id), -ENOTSUP);
	CHECK_EQ(vm_device_add(vm, "disk", disk(",if=ide"), id), -ENOTSUP);
	CHECK_EQ(vm->devices.n, 3);
	CHECK_EQ(virtio_functions(vm), 3);

	/* The VM's pause and resume reach them. */
	CHECK_EQ(vm_pause(vm), 0);
	CHECK_EQ(d->state, DEVICE_PAUSED);
	CHECK_EQ(vm_resume(vm), 0);
	CHECK_EQ(d->state, DEVICE_REALIZED);

	/* Removed: off the list and the bus; its id is free again. */
	CHECK_EQ(vm_device_remove(vm, "disk1"), 0);
	CHECK(!device_list_find(&vm->devices, "disk1"));
	CHECK_EQ(vm_device_remove(vm, "disk1"), -ENOENT);
	CHECK_EQ(virtio_functions(vm), 2);
	CHECK_EQ(vm_device_add(vm, "disk", disk(""), id), 0);
	CHECK_STR(id, "disk1");

	/* The kind's limit. */
	for (unsigned int i = 3; i < VM_MAX_DISKS; i++)
		CHECK_EQ(vm_device_add(vm, "disk", disk(""), id), 0);
	CHECK_EQ(vm_device_add(vm, "disk", disk(""), id), -ENOSPC);
	CHECK_EQ(vm->devices.n, VM_MAX_DISKS);

	/* Not added to a running VM: a kind that is fixed at boot. */
	vm->started = true;
	CHECK_EQ(vm_device_add(vm, "disk", disk(",if=ide"), id), -ENOTSUP);
	vm->started = false;

	vm_fake_free(vm);
	unlink(image);
	loop_destroy(&loop);
	guest_mem_destroy(&mem);
	return check_done("test_devices");
}
