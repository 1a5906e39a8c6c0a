/* PCI hotplug on virt: see vmm/vm.h (vm_hotplug_*). The devices come and
 * go through vm_device_add_config and vm_device_remove, the same path as
 * at boot; this file tells the guest (the controller's UP/DOWN bits and
 * the GED's event) and finishes a removal when the guest ejects, or gives
 * it up at the deadline. */
#include "vmm/vm.h"

#include "core/log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int vm_device_slot(struct vm *vm, const char *id)
{
	int slot = -ENOENT;

	pthread_mutex_lock(&vm->pci.lock);
	for (unsigned int devfn = 0; devfn < 256; devfn += 8) {
		const struct pci_dev *p = vm->pci.devs[devfn];

		if (p && p->name && !strcmp(p->name, id)) {
			slot = (int)(devfn >> 3);
			break;
		}
	}
	pthread_mutex_unlock(&vm->pci.lock);
	return slot;
}

/* The timer goes off at the first deadline, or is disarmed. */
static void arm_timer(struct vm_hotplug *hp)
{
	struct itimerspec its = { 0 };
	uint64_t first = 0;

	for (unsigned int s = 0; s < PCI_HOTPLUG_SLOTS; s++)
		if (hp->removing[s].id[0] &&
		    (!first || hp->removing[s].deadline_ms < first))
			first = hp->removing[s].deadline_ms;
	if (first) {
		its.it_value.tv_sec = (time_t)(first / 1000);
		its.it_value.tv_nsec = (long)(first % 1000) * 1000000;
	}
	if (timerfd_settime(hp->timer_fd, TFD_TIMER_ABSTIME, &its, NULL))
		log_err("pci-hotplug", "arming the eject timer: %s",
			strerror(errno));
}

static void removed(struct vm_hotplug *hp, const char *id, int result)
{
	if (hp->removed)
		hp->removed(hp->removed_opaque, id, result);
}

static void timer_ready(struct loop_watch *w, uint32_t events)
{
	struct vm *vm = w->opaque;
	struct vm_hotplug *hp = &vm->hotplug;
	uint64_t v, now = now_ms();

	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("pci-hotplug", "reading the eject timer: %s",
			strerror(errno));
	/* An eject the guest wrote before the deadline counts, even if the
	 * loop has not served it yet. */
	pci_hotplug_service(&hp->ctl);
	for (unsigned int s = 0; s < PCI_HOTPLUG_SLOTS; s++) {
		char id[DEV_ID_LEN];

		if (!hp->removing[s].id[0] || hp->removing[s].deadline_ms > now)
			continue;
		memcpy(id, hp->removing[s].id, DEV_ID_LEN);
		hp->removing[s].id[0] = '\0';
		pci_hotplug_cancel(&hp->ctl, s);
		log_err(id, "removal: the guest did not eject slot %u in %u ms; "
			"the device stays", s, hp->timeout_ms);
		removed(hp, id, -ETIMEDOUT);
	}
	arm_timer(hp);
}

/* The controller's notify: the GED's hotplug event. */
static void hp_notify(void *opaque)
{
	struct vm *vm = opaque;

	ged_raise(&vm->hotplug.ged, GED_EVENT_PCI_HOTPLUG);
}

/* Removes ID with no vCPU inside a device handler: the device's
 * registers are unregistered and its memory freed. (A paused VM's vCPUs
 * are out already, and stay so.) */
static int remove_now(struct vm *vm, const char *id)
{
	bool hold = !vm->paused && vm->vcpus;
	int ret;

	for (unsigned int i = 0; hold && i < vm->ncpus; i++)
		vcpu_pause(&vm->vcpus[i]);
	ret = vm_device_remove(vm, id);
	for (unsigned int i = vm->ncpus; hold && i--;)
		vcpu_resume(&vm->vcpus[i]);
	return ret;
}

/* The controller's eject, on the main loop: the guest let go of SLOT. */
static void hp_eject(void *opaque, unsigned int slot)
{
	struct vm *vm = opaque;
	struct vm_hotplug *hp = &vm->hotplug;
	char id[DEV_ID_LEN];
	int ret;

	if (slot >= PCI_HOTPLUG_SLOTS || !hp->removing[slot].id[0])
		return;			/* the controller takes no other */
	memcpy(id, hp->removing[slot].id, DEV_ID_LEN);
	hp->removing[slot].id[0] = '\0';
	arm_timer(hp);
	ret = remove_now(vm, id);
	if (ret)
		log_err(id, "removal after the guest's eject: %s",
			strerror(-ret));
	else
		log_info(id, "removed (slot %u ejected by the guest)", slot);
	removed(hp, id, ret);
}

int vm_hotplug_setup(struct vm *vm)
{
	struct vm_hotplug *hp = &vm->hotplug;
	int ret;

	hp->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				      TFD_CLOEXEC | TFD_NONBLOCK);
	if (hp->timer_fd < 0)
		return -errno;
	hp->timeout_ms = VM_HOTPLUG_TIMEOUT_MS;
	if (vm->host.loop) {
		ret = loop_add(vm->host.loop, &hp->timer_watch, hp->timer_fd,
			       EPOLLIN, timer_ready, vm);
		if (ret)
			goto err;
		hp->loop = vm->host.loop;
	}
	ged_init(&hp->ged, "ged", VM_PORT_GED, VM_GSI_GED);
	ret = vm_add_device(vm, &hp->ged.dev);
	if (ret)
		goto err;
	pci_hotplug_init(&hp->ctl, "pci-hotplug", VM_PORT_PCI_HOTPLUG,
			 hp_notify, hp_eject, vm);
	ret = vm_add_device(vm, &hp->ctl.dev);
	if (ret)
		goto err;	/* the GED is on the list: vm_destroy */
	hp->ready = true;
	return 0;
err:
	log_err("pci-hotplug", "setting up: %s", strerror(-ret));
	return ret;
}

void vm_hotplug_teardown(struct vm *vm)
{
	struct vm_hotplug *hp = &vm->hotplug;

	if (hp->loop)
		loop_del(hp->loop, &hp->timer_watch);
	hp->loop = NULL;
	if (hp->timer_fd >= 0)
		close(hp->timer_fd);
	hp->timer_fd = -1;
	hp->ready = false;
}

void vm_hotplug_on_removed(struct vm *vm, vm_removed_fn *fn, void *opaque)
{
	vm->hotplug.removed = fn;
	vm->hotplug.removed_opaque = opaque;
}

const char *vm_hotplug_refusal(const struct vm *vm,
			       const struct dev_config *c)
{
	if (!vm->hotplug.ready)
		return "this machine has no PCI hotplug (virt has it, pc not)";
	if (!c->kind->hotplug)
		return "this device kind is not hotplugged";
	/* A vhost-user backend maps guest RAM: only a shared memfd. */
	if (c->kind->shared_memory && c->kind->shared_memory(c) &&
	    !vm->mem_cfg.shared)
		return "its backend maps guest RAM, and this VM's is not "
		       "shared (--memory shared=on)";
	return NULL;
}

int vm_hotplug_add(struct vm *vm, const struct dev_config *c,
		   char id[DEV_ID_LEN])
{
	const char *why = vm_hotplug_refusal(vm, c);
	char got[DEV_ID_LEN];
	int ret, slot;

	if (why) {
		log_err("vm", "a %s is not added: %s", c->kind->name, why);
		return -ENOTSUP;
	}
	ret = vm_device_add_config(vm, c, got);
	if (ret)
		return ret;
	slot = vm_device_slot(vm, got);
	if (slot < 0) {
		log_err(got, "no PCI function: not hotplugged");
		vm_device_remove(vm, got);
		return -ENOTSUP;
	}
	ret = pci_hotplug_plug(&vm->hotplug.ctl, (unsigned int)slot);
	if (ret) {
		log_err(got, "announcing slot %d: %s", slot, strerror(-ret));
		remove_now(vm, got);
		return ret;
	}
	log_info(got, "hotplugged in slot %d", slot);
	if (id)
		memcpy(id, got, DEV_ID_LEN);
	return 0;
}

int vm_hotplug_remove(struct vm *vm, const char *id)
{
	struct vm_hotplug *hp = &vm->hotplug;
	struct device *d = device_list_find(&vm->devices, id);
	int slot, ret;

	if (!d)
		return -ENOENT;
	if (!hp->ready || !d->kind || !d->kind->hotplug)
		return -ENOTSUP;
	slot = vm_device_slot(vm, id);
	if (slot <= 0)
		return -ENOTSUP;
	if (hp->removing[slot].id[0])
		return -EALREADY;
	if (!vm->started) {
		/* No guest to ask. */
		ret = vm_device_remove(vm, id);
		if (!ret)
			removed(hp, id, 0);
		return ret;
	}
	ret = pci_hotplug_unplug(&hp->ctl, (unsigned int)slot);
	if (ret)
		return ret;
	snprintf(hp->removing[slot].id, DEV_ID_LEN, "%s", id);
	hp->removing[slot].deadline_ms = now_ms() + hp->timeout_ms;
	arm_timer(hp);
	log_info(id, "removal asked (slot %d): waiting for the guest's eject",
		 slot);
	return 0;
}
