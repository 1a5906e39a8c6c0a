/* PCI hotplug through the VM (vmm/hotplug.c) on a VM with no KVM, as
 * tests/unit/test_devices.c builds it, with the virt platform's host
 * bridge, GED and hotplug controller: vm_hotplug_add realizes the device
 * in a free slot and tells the guest (UP bit, the GED's line and event
 * bit); vm_hotplug_remove asks (DOWN bit) and the device goes only when
 * the guest writes the eject register, on the main loop, or stays when
 * the deadline passes (-ETIMEDOUT); the refusals; and ten add/remove
 * cycles of a disk (and of a NIC on a tap, where /dev/net/tun opens)
 * leave the process's fds and threads as they were. */
#include "core/log.h"
#include "tests/unit/fake_vm.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

static int level[32];

static int set_irq(void *opaque, uint32_t gsi, int lvl)
{
	if (gsi < 32)
		level[gsi] = lvl;
	return 0;
}

/* The fake VM with the virt platform's host bridge, GED and hotplug
 * controller. */
static struct vm *vm_fake(void)
{
	struct vm *vm = vm_fake_new(set_irq);

	host_bridge_init(&vm->host_bridge, "host-bridge");
	CHECK_EQ(vm_add_device(vm, &vm->host_bridge.dev), 0);
	CHECK_EQ(vm_hotplug_setup(vm), 0);
	return vm;
}

static void vm_fake_free(struct vm *vm)
{
	vm_hotplug_teardown(vm);
	vm_fake_delete(vm);
}

static uint32_t rd32(struct vm *vm, uint64_t port)
{
	uint8_t b[4] = { 0 };

	CHECK(bus_read(&vm->kvm.pio, port, b, 4));
	return (uint32_t)bus_get(b, 4);
}

static void wr32(struct vm *vm, uint64_t port, uint32_t v)
{
	uint8_t b[4];

	bus_put(b, 4, v);
	CHECK(bus_write(&vm->kvm.pio, port, b, 4));
}

/* What the guest's GED0._EVT and PCI0.PCNT do: take the GED's events,
 * then read and clear UP and DOWN. Returns the events. */
static uint32_t guest_event(struct vm *vm, uint32_t *up, uint32_t *down)
{
	uint32_t ev = rd32(vm, VM_PORT_GED);

	*up = rd32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_UP);
	*down = rd32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_DOWN);
	wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_UP, *up);
	wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_DOWN, *down);
	return ev;
}

static void loop_turn(int ms)
{
	struct epoll_event ev[4];
	int n = epoll_wait(loop.epfd, ev, 4, ms);

	for (int i = 0; i < n; i++) {
		struct loop_watch *w = ev[i].data.ptr;

		w->cb(w, ev[i].events);
	}
}

static char last_id[DEV_ID_LEN];
static int last_result = 1;
static unsigned int nremoved;

static void on_removed(void *opaque, const char *id, int result)
{
	snprintf(last_id, sizeof(last_id), "%s", id);
	last_result = result;
	nremoved++;
}

static int add(struct vm *vm, const char *option, const char *w,
	       char id[DEV_ID_LEN])
{
	struct dev_config c;
	int ret = devices_parse(option, w, &c, stderr);

	return ret ?: vm_hotplug_add(vm, &c, id);
}

static unsigned int count_dir(const char *path)
{
	DIR *d = opendir(path);
	unsigned int n = 0;

	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Adds and removes through the guest's eject, N times. */
static void cycles(struct vm *vm, const char *option, const char *w,
		   unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		char id[DEV_ID_LEN];
		uint32_t up, down;
		int slot;

		CHECK_EQ(add(vm, option, w, id), 0);
		slot = vm_device_slot(vm, id);
		CHECK(slot > 0);
		guest_event(vm, &up, &down);
		CHECK_EQ(vm_hotplug_remove(vm, id), 0);
		guest_event(vm, &up, &down);
		CHECK_EQ(down, 1u << slot);
		wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_EJ,
		     (uint32_t)slot);
		loop_turn(1000);
		CHECK(!device_list_find(&vm->devices, id));
	}
}

int main(void)
{
	unsigned int fds, threads, removed_before;
	uint32_t up, down;
	char id[DEV_ID_LEN];
	struct vm *vm;
	int slot, tap;

	log_set_level(LOG_ERR);
	fake_env_init("hotplug");
	vm = vm_fake();
	vm->started = true;		/* a guest to ask */
	vm_hotplug_on_removed(vm, on_removed, NULL);

	/* Added: slot 1 (the host bridge has 0), UP, the GED's line and its
	 * hotplug event; the guest's read takes both. */
	CHECK_EQ(add(vm, "disk", disk(""), id), 0);
	CHECK_STR(id, "disk0");
	slot = vm_device_slot(vm, "disk0");
	CHECK_EQ(slot, 1);
	CHECK_EQ(pci_cfg_read(&vm->pci, 8, 0, 2), 0x1af4);
	CHECK_EQ(level[VM_GSI_GED], 1);
	CHECK_EQ(guest_event(vm, &up, &down), 1u << GED_EVENT_PCI_HOTPLUG);
	CHECK_EQ(up, 0x2);
	CHECK_EQ(down, 0);
	CHECK_EQ(level[VM_GSI_GED], 0);
	CHECK_EQ(rd32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_UP), 0);
	CHECK_EQ(add(vm, "disk", disk(",id=data"), id), 0);
	CHECK_EQ(vm_device_slot(vm, "data"), 2);

	/* Refused: no such device, a platform device, a kind not hotplugged
	 * (IDE: -ENOTSUP before anything is made). */
	CHECK_EQ(vm_hotplug_remove(vm, "nope"), -ENOENT);
	CHECK_EQ(vm_hotplug_remove(vm, "ged"), -ENOTSUP);
	CHECK_EQ(vm_hotplug_remove(vm, "host-bridge"), -ENOTSUP);
	CHECK_EQ(add(vm, "disk", disk(",if=ide"), id), -ENOTSUP);
	CHECK_EQ(add(vm, "disk", disk(",id=data"), id), -EEXIST);
	/* vhost-user needs guest RAM it can map: not this VM's. */
	CHECK_EQ(add(vm, "disk", "vhost-user=/nonexistent.sock", id), -ENOTSUP);
	CHECK_EQ(add(vm, "net", "vhost-user=/nonexistent.sock", id), -ENOTSUP);
	CHECK_EQ(vm_device_slot(vm, "nope"), -ENOENT);

	/* Removal: asked, the device stays until the eject. */
	CHECK_EQ(vm_hotplug_remove(vm, "disk0"), 0);
	CHECK_EQ(vm_hotplug_remove(vm, "disk0"), -EALREADY);
	CHECK_EQ(guest_event(vm, &up, &down), 1u << GED_EVENT_PCI_HOTPLUG);
	CHECK_EQ(down, 0x2);
	loop_turn(0);
	CHECK(device_list_find(&vm->devices, "disk0"));
	CHECK_EQ(nremoved, 0);
	/* An eject of another slot changes nothing. */
	wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_EJ, 2);
	loop_turn(0);
	CHECK(device_list_find(&vm->devices, "data"));
	/* The guest's _EJ0: the device goes on the main loop. */
	wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_EJ, 1);
	CHECK(device_list_find(&vm->devices, "disk0"));
	loop_turn(1000);
	CHECK(!device_list_find(&vm->devices, "disk0"));
	CHECK_EQ(pci_cfg_read(&vm->pci, 8, 0, 2), 0xffff);
	CHECK_EQ(nremoved, 1);
	CHECK_STR(last_id, "disk0");
	CHECK_EQ(last_result, 0);

	/* The slot is free again: the next device takes it. */
	CHECK_EQ(add(vm, "disk", disk(""), id), 0);
	CHECK_STR(id, "disk0");
	CHECK_EQ(vm_device_slot(vm, "disk0"), 1);

	/* A guest that never ejects: at the deadline the device stays, the
	 * request is withdrawn and the callback hears -ETIMEDOUT. */
	vm->hotplug.timeout_ms = 50;
	CHECK_EQ(vm_hotplug_remove(vm, "data"), 0);
	loop_turn(2000);
	CHECK_EQ(nremoved, 2);
	CHECK_STR(last_id, "data");
	CHECK_EQ(last_result, -ETIMEDOUT);
	CHECK(device_list_find(&vm->devices, "data"));
	CHECK_EQ(rd32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_DOWN), 0);
	/* A late eject is ignored; asking again works. */
	wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_EJ, 2);
	loop_turn(0);
	CHECK(device_list_find(&vm->devices, "data"));
	vm->hotplug.timeout_ms = VM_HOTPLUG_TIMEOUT_MS;
	CHECK_EQ(vm_hotplug_remove(vm, "data"), 0);
	wr32(vm, VM_PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_EJ, 2);
	loop_turn(1000);
	CHECK(!device_list_find(&vm->devices, "data"));
	CHECK_EQ(last_result, 0);

	/* Ten cycles leak no fd and no thread. One cycle first, so what
	 * is made once (and kept) is made before counting. */
	cycles(vm, "disk", disk(",queues=2"), 1);
	fds = count_dir("/proc/self/fd");
	threads = count_dir("/proc/self/task");
	removed_before = nremoved;
	cycles(vm, "disk", disk(",queues=2"), 10);
	CHECK_EQ(nremoved - removed_before, 10);
	CHECK_EQ(count_dir("/proc/self/fd"), fds);
	CHECK_EQ(count_dir("/proc/self/task"), threads);

	tap = open("/dev/net/tun", O_RDWR);
	if (tap >= 0) {
		close(tap);
		cycles(vm, "net", "vhost=off", 1);
		fds = count_dir("/proc/self/fd");
		threads = count_dir("/proc/self/task");
		cycles(vm, "net", "vhost=off", 10);
		CHECK_EQ(count_dir("/proc/self/fd"), fds);
		CHECK_EQ(count_dir("/proc/self/task"), threads);
	} else {
		fprintf(stderr, "test_hotplug: no /dev/net/tun, NIC cycles "
				"not run\n");
	}

	/* Before the VM runs there is no guest to ask: gone at once. */
	vm->started = false;
	CHECK_EQ(vm_hotplug_remove(vm, "disk0"), 0);
	CHECK(!device_list_find(&vm->devices, "disk0"));
	CHECK_STR(last_id, "disk0");

	vm_fake_free(vm);
	fake_env_destroy();
	return check_done("test_hotplug");
}
