#include "vmm/vm.h"

#include "core/log.h"
#include "core/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

void vm_request(struct vm *vm, enum vm_request req)
{
	int none = VM_REQ_NONE;
	uint64_t one = 1;

	/* The first request decides how the VM ends. */
	if (atomic_compare_exchange_strong(&vm->request, &none, (int)req))
		if (write(vm->request_fd, &one, sizeof(one)) < 0)
			log_err("vm", "signalling the main loop: %s",
				strerror(errno));
}

static void vm_control_cb(void *opaque, enum vm_request req)
{
	vm_request(opaque, req);
}

struct vm_control vm_control(struct vm *vm)
{
	return (struct vm_control){ vm_control_cb, vm };
}

int vm_add_device(struct vm *vm, struct device *d)
{
	int ret = device_realize(d, &vm->host);

	if (ret) {
		device_destroy(d);
		return ret;
	}
	device_list_add(&vm->devices, d);
	return 0;
}

/* The first free "OPTIONn". */
static void next_id(struct vm *vm, const char *option, char id[DEV_ID_LEN])
{
	for (unsigned int n = 0;; n++) {
		snprintf(id, DEV_ID_LEN, "%s%u", option, n);
		if (!device_list_find(&vm->devices, id))
			return;
	}
}

int vm_device_add_config(struct vm *vm, const struct dev_config *c,
			 char id[DEV_ID_LEN])
{
	const struct device_kind *kind = c->kind;
	struct dev_config dc;
	struct dev_env env = {
		.host = &vm->host,
		.pc = vm->cfg->machine == MACHINE_PC,
		.piix = vm->cfg->machine == MACHINE_PC ? &vm->piix.piix : NULL,
		.ncpus = vm->ncpus,
		.numa_node = vm->cfg->mem.numa_node,
	};
	static const char *const mac[] = { "mac", NULL };
	struct device *d = NULL;
	unsigned int n = 0;
	int ret;

	dev_config_copy(&dc, c);
	if (vm->started && !kind->hotplug) {
		log_err("vm", "a %s is not added to a running VM", kind->name);
		return -ENOTSUP;
	}
	for (struct device *o = vm->devices.head; o; o = o->next)
		n += o->kind == kind;
	if (n >= kind->max) {
		log_err("vm", "more than %u %s devices", kind->max, kind->name);
		return -ENOSPC;
	}
	if (dc.id[0] && device_list_find(&vm->devices, dc.id)) {
		log_err("vm", "id %s is taken", dc.id);
		return -EEXIST;
	}
	if (!dc.id[0])
		next_id(vm, kind->option, dc.id);
	/* The default MAC ends in the --net's index. */
	if (!strcmp(kind->option, "net") && !devices_first_seen(&dc, mac))
		dc.net.dev.mac[5] = (uint8_t)vm->nnets;
	ret = kind->create(&dc, dc.id, &env, &d);
	if (ret)
		return ret;
	d->kind = kind;
	ret = vm_add_device(vm, d);
	if (!ret && vm->started)
		ret = device_start(d);	/* on the list: vm_destroy frees it */
	if (ret)
		return ret;
	if (!strcmp(kind->option, "net"))
		vm->nnets++;
	if (id)
		memcpy(id, dc.id, DEV_ID_LEN);
	return 0;
}

int vm_device_add(struct vm *vm, const char *option, const char *words,
		  char id[DEV_ID_LEN])
{
	struct dev_config *c = malloc(sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	ret = devices_parse(option, words, c, stderr);
	ret = ret ?: vm_device_add_config(vm, c, id);
	free(c);
	return ret;
}

int vm_device_remove(struct vm *vm, const char *id)
{
	struct device *d = device_list_find(&vm->devices, id);

	if (!d)
		return -ENOENT;
	device_list_remove(&vm->devices, d);
	device_destroy(d);
	return 0;
}

int vm_write_stats(struct vm *vm)
{
	struct vcpu_stats s[VM_MAX_CPUS];
	char tmp[4096];
	FILE *f;
	int ret = 0;

	if (!vm->cfg->stats_path || !vm->vcpus)
		return 0;
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].stats_fd < 0 ||
		    stats_read(vm->vcpus[i].stats_fd, &s[i]))
			memset(&s[i], 0, sizeof(s[i]));
	snprintf(tmp, sizeof(tmp), "%s.tmp", vm->cfg->stats_path);
	f = fopen(tmp, "w");
	if (!f) {
		ret = -errno;
		log_warn("vm", "--stats %s: %s", tmp, strerror(-ret));
		return ret;
	}
	stats_write_json(f, s, vm->ncpus);
	if (fclose(f) || rename(tmp, vm->cfg->stats_path)) {
		ret = -errno;
		log_warn("vm", "--stats %s: %s", vm->cfg->stats_path,
			 strerror(-ret));
	}
	return ret;
}

/* The threads vm_create left for later: device control first (vCPUs
 * post to it), the devices' own (IDE drives, e1000 receive), then the
 * vCPUs. */
static int vm_start_threads(struct vm *vm)
{
	int ret;

	ret = worker_start(&vm->devctl, "tern-devctl", SANDBOX_DEVCTL);
	ret = ret ?: device_list_start(&vm->devices);
	if (ret)
		return ret;
	vm->started = true;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->pinned = hostcpu_affinity_set(vm->cfg->cpu_affinity,
						 vm->cfg->ncpu_affinity, i,
						 &v->cpus) > 0;
		ret = vcpu_start(v);
		if (ret)
			return ret;
	}
	return 0;
}

unsigned int vm_sandbox_needs(const struct vm_config *cfg)
{
	unsigned int needs = 0;

	if (cfg->machine == MACHINE_PC)
		needs |= SANDBOX_NEED_PC;
	if (cfg->firmware)
		needs |= SANDBOX_NEED_FIRMWARE;
	if (cfg->on_reboot == ON_REBOOT_RESTART)
		needs |= SANDBOX_NEED_RESTART;
	if (cfg->stats_path)
		needs |= SANDBOX_NEED_STATS;
	if (cfg->ncpu_affinity)
		needs |= SANDBOX_NEED_VCPU_PIN;
	for (unsigned int i = 0; i < cfg->ndevs; i++)
		needs |= cfg->devs[i].kind->sandbox_needs(&cfg->devs[i],
							  cfg->mem.numa_node);
	return needs;
}

static void request_ready(struct loop_watch *w, uint32_t events)
{
	uint64_t v;

	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("vm", "reading request eventfd: %s", strerror(errno));
	loop_stop(w->opaque);
}

enum vm_request vm_run(struct vm *vm, struct loop *loop)
{
	struct loop_watch request_watch;
	enum vm_request req;
	int ret;

	ret = loop_add(loop, &request_watch, vm->request_fd, EPOLLIN,
		       request_ready, loop);
	if (ret) {
		log_err("vm", "watching requests: %s", strerror(-ret));
		return VM_REQ_ERROR;
	}
	if (vm_start_threads(vm))
		vm_request(vm, VM_REQ_ERROR);
	/* Its threads started, the main thread narrows to its own role
	 * (once: a restart finds it there) before serving the loop. */
	sandbox_enter(SANDBOX_MAIN);
	loop->stop = false;
	while (atomic_load(&vm->request) == VM_REQ_NONE) {
		ret = loop_run(loop);
		if (ret) {
			log_err("vm", "main loop: %s", strerror(-ret));
			vm_request(vm, VM_REQ_ERROR);
		}
		loop->stop = false;
	}
	req = atomic_load(&vm->request);

	vm_write_stats(vm);
	atomic_store(&vm->kvm.stopping, true);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		vcpu_resume(&vm->vcpus[i]);	/* a paused one waits */
		vcpu_kick(&vm->vcpus[i]);
	}
	for (unsigned int i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	worker_stop(&vm->devctl);
	loop_del(loop, &request_watch);
	return req;
}

int vm_pause(struct vm *vm)
{
	int ret;

	for (unsigned int i = 0; i < vm->ncpus; i++)
		vcpu_pause(&vm->vcpus[i]);
	ret = device_list_pause(&vm->devices);
	if (ret) {
		for (unsigned int i = 0; i < vm->ncpus; i++)
			vcpu_resume(&vm->vcpus[i]);
		return ret;
	}
	/* kvmclock stands still while paused, as the guest's other clocks
	 * do: the guest must not see the paused time pass. */
	vm->clock_held = !ioctl(vm->kvm.vm_fd, KVM_GET_CLOCK, &vm->clock);
	if (!vm->clock_held)
		log_warn("vm", "KVM_GET_CLOCK: %s: the guest's clock will jump "
			 "by the paused time", strerror(errno));
	vm->paused = true;
	return 0;
}

int vm_resume(struct vm *vm)
{
	int ret;

	if (vm->clock_held) {
		struct kvm_clock_data c = { .clock = vm->clock.clock };

		if (ioctl(vm->kvm.vm_fd, KVM_SET_CLOCK, &c))
			log_warn("vm", "KVM_SET_CLOCK: %s", strerror(errno));
		vm->clock_held = false;
	}
	ret = device_list_resume(&vm->devices);

	for (unsigned int i = vm->ncpus; i--;)
		vcpu_resume(&vm->vcpus[i]);
	vm->paused = false;
	return ret;
}

void vm_destroy(struct vm *vm)
{
	if (vm->vcpus) {
		for (unsigned int i = 0; i < vm->ncpus; i++) {
			vcpu_kick(&vm->vcpus[i]);
			vcpu_join(&vm->vcpus[i]);
			vcpu_destroy(&vm->vcpus[i]);
		}
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	worker_stop(&vm->devctl);
	vm_hotplug_teardown(vm);
	/* Devices after the vCPUs, before the VM fd they use, last to
	 * first: each takes what it composed (model, backend, tap, images)
	 * with it. */
	device_list_destroy(&vm->devices);
	pci_bus_destroy(&vm->pci);
	kvm_destroy(&vm->kvm);
	guest_mem_destroy(&vm->mem);
	bios_destroy(&vm->bios);	/* after the VM fd: slots pointed here */
	if (vm->request_fd >= 0)
		close(vm->request_fd);
	vm->request_fd = -1;
	free(vm);
}
