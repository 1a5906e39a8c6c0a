/* vm_device_add and vm_device_remove (vmm/vm.h), the one path a device
 * takes at boot and at run time, on a VM with no KVM: a fake machine
 * (buses, a PCI bus, guest RAM, irq_ops that route nothing) under a
 * struct vm. The words select the kind; ids are given or assigned and
 * unique; a kind's limit holds; a kind the machine lacks is refused; the
 * device is realized (its PCI function answers) and on the list, where
 * vm_pause reaches it; removed, it is gone and its id free again. */
#include "core/log.h"
#include "tests/unit/fake_vm.h"

/* The virtio functions on the bus. */
static unsigned int virtio_functions(struct vm *vm)
{
	unsigned int n = 0;

	for (unsigned int devfn = 0; devfn < 256; devfn += 8)
		n += pci_cfg_read(&vm->pci, (uint8_t)devfn, 0, 2) == 0x1af4;
	return n;
}

int main(void)
{
	struct vm *vm;
	char id[DEV_ID_LEN];
	struct device *d;

	log_set_level(LOG_ERR);
	fake_env_init("devices");
	vm = vm_fake_new(NULL);

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

	vm_fake_delete(vm);
	fake_env_destroy();
	return check_done("test_devices");
}
