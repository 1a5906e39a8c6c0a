#include "vmm/vm.h"

#include "core/acpi.h"
#include "core/boot.h"
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

#define VM_GSI_SERIAL 4
#define VM_PORT_COM1 0x3f8
#define VM_PORT_RTC 0x70
#define VM_PCI_SLOTS 32
#define VM_PCI_INTX_GSI 16

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

/* Ports Linux pokes that mean nothing here: reads float high, writes go
 * nowhere, and none of it is worth a log line. */
static void quiet_read(void *opaque, uint64_t off, uint8_t *data,
		       uint32_t len)
{
	memset(data, 0xff, len);
}

static const struct bus_ops quiet_ops = { .read = quiet_read };

static const struct {
	uint16_t port, len;
	const char *name;
} quiet_ports[] = {
	{ 0x80, 1, "post" },		/* POST codes, I/O delay */
	{ 0x87, 1, "dma-page" },	/* DMA page register: no ISA DMA */
	{ 0xed, 1, "io-delay" },
	{ 0x2e, 2, "superio" },		/* Super I/O probes: none here */
	{ 0x4e, 2, "superio2" },
	{ 0x2e8, 8, "com4" },		/* absent UARTs read as 0xff */
	{ 0x2f8, 8, "com2" },
	{ 0x3e8, 8, "com3" },
};

/* Realizes a created device on the VM and puts it on the list. */
static int vm_add_device(struct vm *vm, struct device *d)
{
	int ret = device_realize(d, &vm->host);

	if (ret) {
		device_destroy(d);
		return ret;
	}
	device_list_add(&vm->devices, d);
	return 0;
}

static int platform_setup(struct vm *vm, struct serial_output out)
{
	int ret;

	ret = serial_device_init(&vm->serial, "serial0", VM_PORT_COM1,
				 VM_GSI_SERIAL, out);
	ret = ret ?: vm_add_device(vm, &vm->serial.dev);
	ret = ret ?: rtc_device_init(&vm->rtc, "rtc", VM_PORT_RTC);
	ret = ret ?: vm_add_device(vm, &vm->rtc.dev);
	ret = ret ?: i8042_device_init(&vm->i8042, "i8042");
	ret = ret ?: vm_add_device(vm, &vm->i8042.dev);
	if (ret)
		return ret;
	ret = pci_bus_init(&vm->pci, vm->kvm.ctl);
	if (ret)
		return ret;
	if (vm->cfg->machine == MACHINE_PC) {
		ret = piix_init(&vm->piix, &vm->pci, &vm->kvm.pio,
				kvm_irq_line(&vm->kvm, 0), vm->kvm.ctl);
	} else {
		/* A host bridge at 00.0: Linux's type-1 probe looks for one. */
		host_bridge_init(&vm->host_bridge, "host-bridge");
		ret = vm_add_device(vm, &vm->host_bridge.dev);
	}
	if (ret)
		return ret;

	ret = bus_register(&vm->kvm.pio, PCI_PORT_CONFIG, 8,
				  &pci_config_ops, &vm->pci, "pci-config");
	if (!ret && vm->cfg->machine == MACHINE_VIRT) {
		acpi_sleep_init(&vm->sleep, "acpi-sleep", VM_PORT_SLEEP_CTL);
		ret = vm_add_device(vm, &vm->sleep.dev);
	}
	for (size_t i = 0; !ret && i < sizeof(quiet_ports) / sizeof(quiet_ports[0]);
	     i++)
		ret = bus_register(&vm->kvm.pio, quiet_ports[i].port,
				   quiet_ports[i].len, &quiet_ops, NULL,
				   quiet_ports[i].name);
	if (ret)
		log_err("vm", "registering platform ports: %s", strerror(-ret));
	return ret;
}

static int acpi_setup(struct vm *vm)
{
	uint64_t low = guest_mem_low_size(&vm->mem);
	struct acpi_config acfg = {
		.ncpus = vm->ncpus,
		.ioapic_addr = VM_IOAPIC_ADDR,
		.ioapic_id = (uint8_t)vm->ncpus,
		.sleep_ctl_port = VM_PORT_SLEEP_CTL,
		.sleep_sts_port = VM_PORT_SLEEP_STS,
		.reset_port = PCI_PORT_CONFIG + 1,
		.reset_value = 0x06,
		.pci_mmio32_base = MEM_HOLE_START,
		.pci_mmio32_size = VM_IOAPIC_ADDR - MEM_HOLE_START,
		/* 64-bit BARs go above RAM, 1 GiB aligned, 64 GiB of room. */
		.pci_mmio64_base = (MEM_4G + vm->mem.size - low + (1ULL << 30)) &
				   ~((1ULL << 30) - 1),
		.pci_mmio64_size = 64ULL << 30,
		.pci_slots = VM_PCI_SLOTS,
		.pci_intx_gsi_base = VM_PCI_INTX_GSI,
		.rtc_century_index = 0x32,
		.pc = vm->cfg->machine == MACHINE_PC,
		.pm_base = PIIX_PM_BASE,
		.sci_irq = PIIX_SCI_IRQ,
	};
	size_t cap = BOOT_RESET_VECTOR - ACPI_RSDP_ADDR;
	ssize_t n;

	memcpy(acfg.pirq_irq, piix_pirq_default, sizeof(acfg.pirq_irq));
	n = acpi_build(guest_mem_ptr(&vm->mem, ACPI_RSDP_ADDR, cap), cap,
		       ACPI_RSDP_ADDR, &acfg);
	if (n < 0) {
		log_err("acpi", "building tables: %s", strerror((int)-n));
		return (int)n;
	}
	return 0;
}

/* pc: an e1000 over a single-queue tap, INTA through the PIIX routing. */
static int e1000_setup(struct vm *vm, unsigned int i)
{
	const struct vm_net_config *nc = &vm->cfg->nets[i];
	struct vm_net *n = &vm->nets[i];
	struct e1000_host host = { .mmio = &vm->kvm.mmio, .pio = &vm->kvm.pio,
				   .pci = &vm->pci, .mem = &vm->mem };
	char name[32];
	int devfn, ret;

	snprintf(name, sizeof(name), "e1000-%u", i);
	devfn = pci_bus_free_devfn(&vm->pci);
	if (devfn < 0) {
		log_err(name, "no free PCI slot");
		return devfn;
	}
	host.intx = piix_intx_line(&vm->piix, (uint8_t)devfn, 0);
	ret = tap_open(&n->tap, nc->tap, 1);
	if (ret)
		return ret;
	ret = e1000_create(&n->e1000, name, &host, nc->dev.mac, n->tap.fds[0],
			   n->tap.vnet_hdr_len, devfn);
	if (ret)
		goto err_tap;
	n->kind = VM_NET_E1000;	/* its receive thread starts in vm_run */
	log_info(name, "tap %s, 00:%02x.0", n->tap.name, devfn >> 3);
	return 0;
err_tap:
	tap_close(&n->tap);
	log_err(name, "%s", strerror(-ret));
	return ret;
}

/* A virtio-net whose rings a vhost-user backend serves: no tap here. */
static int vu_net_setup(struct vm *vm, unsigned int i,
			const struct virtio_pci_host *host)
{
	const struct vm_net_config *nc = &vm->cfg->nets[i];
	struct vm_net *n = &vm->nets[i];
	struct net_config dc = nc->dev;
	unsigned int max;
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "virtio-net%u", i);
	ret = vu_net_create(&n->vun, name, nc->vhost_user, host->loop);
	if (ret)
		return ret;
	n->vun.front.events = vm->cfg->events;
	/* One pair unless asked: DPDK answers GET_QUEUE_NUM with what it
	 * could serve (128), not what it polls, so more pairs by default
	 * would leave the guest's traffic on rings nobody reads. */
	max = vu_net_max_pairs(&n->vun);
	if (!nc->pairs_set)
		dc.pairs = 1;
	if (dc.pairs > max) {
		log_err(name, "queues=%u, but %s offers %u pair(s)", dc.pairs,
			nc->vhost_user, max);
		ret = -EINVAL;
		goto err_vu;
	}
	ret = virtio_net_create(&n->dev, name, &dc, &vm->mem, &vu_net_ops,
				&n->vun);
	if (ret)
		goto err_vu;
	ret = virtio_pci_create(&n->pci, host, name, &virtio_net_ops, &n->dev,
				2 * dc.pairs + 1, dc.queue_size);
	if (ret) {
		virtio_net_destroy(&n->dev);
		goto err_vu;
	}
	virtio_net_set_bus(&n->dev, virtio_pci_bus(&n->pci));
	n->kind = VM_NET_VHOST_USER;
	log_info(name, "vhost-user %s, %u queue pair(s)", nc->vhost_user,
		 dc.pairs);
	return 0;
err_vu:
	vu_net_destroy(&n->vun);
	return ret;
}

/* One virtio-net: tap, then vhost-net (or the userspace datapath when
 * vhost is off, or unavailable and auto), then device and transport. */
static int net_setup(struct vm *vm, unsigned int i,
		     const struct virtio_pci_host *host)
{
	const struct vm_net_config *nc = &vm->cfg->nets[i];
	struct vm_net *n = &vm->nets[i];
	const struct net_backend_ops *ops;
	bool vhost = false;
	char name[32];
	void *be;
	int ret;

	if (nc->model == NET_MODEL_E1000)
		return e1000_setup(vm, i);
	if (nc->vhost_user)
		return vu_net_setup(vm, i, host);
	snprintf(name, sizeof(name), "virtio-net%u", i);
	ret = tap_open(&n->tap, nc->tap, nc->dev.pairs);
	if (ret)
		return ret;
	if (nc->vhost != VHOST_OFF) {
		ret = vhost_net_create(&n->vh, name, &n->tap);
		if (ret && nc->vhost == VHOST_ON)
			goto err_tap;
		vhost = !ret;
		if (ret)
			log_info(name, "no vhost-net (%s): userspace datapath",
				 strerror(-ret));
	}
	if (vhost) {
		ops = &vhost_net_ops;
		be = &n->vh;
	} else {
		ret = net_uspace_create(&n->us, name, n->tap.fds, nc->dev.pairs);
		if (ret)
			goto err_tap;
		ops = &net_uspace_ops;
		be = &n->us;
	}
	ret = virtio_net_create(&n->dev, name, &nc->dev, &vm->mem, ops, be);
	if (ret)
		goto err_be;
	ret = virtio_pci_create(&n->pci, host, name, &virtio_net_ops, &n->dev,
				2 * nc->dev.pairs + 1, nc->dev.queue_size);
	if (ret)
		goto err_dev;
	virtio_net_set_bus(&n->dev, virtio_pci_bus(&n->pci));
	if (!vhost)
		net_uspace_set_bus(&n->us, virtio_pci_bus(&n->pci));
	n->kind = vhost ? VM_NET_VHOST : VM_NET_USPACE;
	log_info(name, "tap %s, %u queue pair(s), %s", n->tap.name,
		 nc->dev.pairs, vhost ? "vhost-net" : "userspace datapath");
	return 0;
err_dev:
	virtio_net_destroy(&n->dev);
err_be:
	if (vhost)
		vhost_net_destroy(&n->vh);
	else
		net_uspace_destroy(&n->us);
err_tap:
	tap_close(&n->tap);
	log_err(name, "%s", strerror(-ret));
	return ret;
}

static void net_teardown(struct vm_net *n)
{
	if (n->kind == VM_NET_E1000) {
		e1000_destroy(&n->e1000);
		tap_close(&n->tap);
		return;
	}
	virtio_pci_destroy(&n->pci);
	virtio_net_destroy(&n->dev);
	switch (n->kind) {
	case VM_NET_VHOST:
		vhost_net_destroy(&n->vh);
		break;
	case VM_NET_USPACE:
		net_uspace_destroy(&n->us);
		break;
	default:
		vu_net_destroy(&n->vun);
		return;		/* no tap */
	}
	tap_close(&n->tap);
}

/* pc: the PIIX IDE function's channels, with the --disk if=ide images in
 * order (primary master, primary slave, secondary master, slave). The
 * controller is there with no disks too, as on the real board. */
static int ide_setup(struct vm *vm)
{
	struct ide_host host = {
		.mem = &vm->mem,
		.irq = { kvm_irq_line(&vm->kvm, 14), kvm_irq_line(&vm->kvm, 15) },
	};
	struct blk_image *drives[IDE_DRIVES] = { NULL };
	int ret = 0;

	for (unsigned int i = 0; i < VM_MAX_IDE; i++)
		vm->ide_img[i].fd = -1;
	for (unsigned int i = 0; i < vm->cfg->nide && !ret; i++) {
		const struct vm_ide_config *c = &vm->cfg->ide[i];

		ret = blk_image_open(&vm->ide_img[i], c->path, c->readonly,
				     c->direct);
		drives[i] = &vm->ide_img[i];
	}
	ret = ret ?: ide_create(&vm->ide, "ide0", &host, drives);
	if (ret)
		goto err;
	vm->ide_on = true;
	ret = piix_attach_ide(&vm->piix, &ide_cmd_ops, &ide_ctl_ops,
			      &ide_bm_ops, &vm->ide.chan[0], &vm->ide.chan[1]);
	if (ret)
		return ret;	/* vm_destroy tears down what is on */
	for (unsigned int i = 0; i < vm->cfg->nide; i++)
		log_info("ide0", "%s %s: %s", i < 2 ? "primary" : "secondary",
			 i % 2 ? "slave" : "master", vm->cfg->ide[i].path);
	return 0;
err:
	for (unsigned int i = 0; i < VM_MAX_IDE; i++)
		blk_image_close(&vm->ide_img[i]);
	log_err("ide0", "%s", strerror(-ret));
	return ret;
}

static int devices_setup(struct vm *vm, struct loop *loop)
{
	struct virtio_pci_host host = {
		.irq = &irq_kvm_ops,
		.kvm = &vm->kvm.irq,
		.ioeventfd_any_len = vm->kvm.ioeventfd_any_len,
		.mmio = &vm->kvm.mmio,
		.pci = &vm->pci,
		.loop = loop,
		.ctl = &vm->devctl,
		.events = vm->cfg->events,
	};
	int ret;

	ret = kvm_irq_init(&vm->kvm);
	if (ret)
		return ret;
	if (vm->cfg->machine == MACHINE_PC) {
		ret = ide_setup(vm);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < vm->cfg->ndisks; i++) {
		struct blk_config disk = vm->cfg->disks[i];
		const struct blk_config *bc = &disk;
		char name[32];

		/* I/O threads run near the guest's memory unless told. */
		if (disk.numa_node < 0)
			disk.numa_node = vm->cfg->mem.numa_node;
		snprintf(name, sizeof(name), "virtio-blk%u", i);
		ret = virtio_blk_create(&vm->blk[i], name, bc, &vm->mem);
		if (ret) {
			log_err(name, "%s: %s", bc->path, strerror(-ret));
			return ret;
		}
		ret = virtio_pci_create(&vm->blk_pci[i], &host, name,
					&virtio_blk_ops, &vm->blk[i],
					bc->queues, bc->queue_size);
		if (ret) {
			virtio_blk_destroy(&vm->blk[i]);
			return ret;
		}
		virtio_blk_set_bus(&vm->blk[i], virtio_pci_bus(&vm->blk_pci[i]));
		vm->ndisks++;
	}
	for (unsigned int i = 0; i < vm->cfg->nvudisks; i++) {
		const struct vm_vu_disk_config *c = &vm->cfg->vudisks[i];
		struct vm_vu_disk *vd = &vm->vudisks[i];
		char name[32];

		snprintf(name, sizeof(name), "vhost-user-blk%u", i);
		ret = vu_blk_dev_create(&vd->dev, name, c->socket, c->queues,
					vm->ncpus, &vm->mem, loop);
		if (ret)
			return ret;
		vd->dev.front.events = vm->cfg->events;
		ret = virtio_pci_create(&vd->pci, &host, name, &vu_blk_dev_ops,
					&vd->dev, vd->dev.nq,
					BLK_DEFAULT_QUEUE_SIZE);
		if (ret) {
			vu_blk_dev_destroy(&vd->dev);
			return ret;
		}
		vm->nvudisks++;
	}
	for (unsigned int i = 0; i < vm->cfg->nnets; i++) {
		ret = net_setup(vm, i, &host);
		if (ret)
			return ret;
		vm->nnets++;
	}
	/* As a BIOS would: Interrupt Line holds each INTx function's IRQ. */
	if (vm->cfg->machine == MACHINE_PC)
		piix_firmware_route(&vm->piix, &vm->pci);
	return 0;
}

int vm_create(struct vm **vmp, const struct vm_config *cfg,
	      struct serial_output out, struct loop *loop)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct boot_config boot = {
		.kernel = cfg->kernel,
		.initramfs = cfg->initramfs,
		.cmdline = cfg->cmdline,
		.rsdp_addr = ACPI_RSDP_ADDR,
	};
	uint64_t entry;
	int ret;

	*vmp = NULL;
	if (!vm)
		return -ENOMEM;
	vm->cfg = cfg;
	vm->request_fd = -1;
	vm->mem.fd = -1;
	vm->ncpus = cfg->cpus;
	kvm_init(&vm->kvm, cfg->cpus, (struct vm_control){ vm_control_cb, vm });
	atomic_init(&vm->request, VM_REQ_NONE);

	vm->request_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->request_fd < 0) {
		ret = -errno;
		goto err;
	}
	/* Guest RAM, firmware tables and the kernel first: a bad image is
	 * reported the same with or without a working /dev/kvm. */
	/* A vhost-user backend maps guest RAM: it must be a shared memfd. */
	vm->mem_cfg = cfg->mem;
	for (unsigned int i = 0; i < cfg->nnets; i++)
		vm->mem_cfg.shared |= cfg->nets[i].vhost_user != NULL;
	vm->mem_cfg.shared |= cfg->nvudisks > 0;
	if (vm->mem_cfg.shared && !cfg->mem.shared)
		log_info("vm", "guest RAM is a shared memfd: a vhost-user "
			 "backend maps it");
	ret = guest_mem_create(&vm->mem, &vm->mem_cfg);
	if (ret)
		goto err;
	ret = acpi_setup(vm);
	if (ret)
		goto err;
	ret = boot_load_linux(&vm->mem, &boot, &entry);
	if (ret)
		goto err;
	ret = kvm_open(&vm->kvm);
	if (ret)
		goto err;
	ret = kvm_map_memory(&vm->kvm, &vm->mem);
	if (ret)
		goto err;
	vm->host = (struct machine_host){
		.kvm = &vm->kvm,
		.pio = &vm->kvm.pio,
		.mmio = &vm->kvm.mmio,
		.pci = &vm->pci,
		.mem = &vm->mem,
		.loop = loop,
		.devctl = &vm->devctl,
		.irq = &irq_kvm_ops,
		.irq_ctx = &vm->kvm.irq,
		.set_irq = kvm_set_irq,
		.set_irq_opaque = &vm->kvm,
		.ctl = vm->kvm.ctl,
		.events = cfg->events,
	};
	ret = platform_setup(vm, out);
	if (ret)
		goto err;
	ret = devices_setup(vm, loop);
	if (ret)
		goto err;

	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned int i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		ret = vcpu_create(&vm->vcpus[i], &vm->kvm, i);
		if (ret)
			goto err;
	}
	/* APs wait for INIT/SIPI in the in-kernel LAPIC. */
	ret = vcpu_set_boot_state(&vm->vcpus[0], entry);
	if (ret)
		goto err;
	*vmp = vm;
	return 0;
err:
	vm_destroy(vm);
	return ret;
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
 * post to it), the slow-path devices' own, then the vCPUs. */
static int vm_start_threads(struct vm *vm)
{
	int ret;

	ret = worker_start(&vm->devctl, "tern-devctl", SANDBOX_DEVCTL);
	if (ret)
		return ret;
	if (vm->ide_on) {
		ret = ide_start(&vm->ide);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < vm->nnets; i++) {
		if (vm->nets[i].kind != VM_NET_E1000)
			continue;
		ret = e1000_start(&vm->nets[i].e1000);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret)
			return ret;
	}
	return 0;
}

unsigned int vm_sandbox_needs(const struct vm_config *cfg)
{
	unsigned int needs = 0;

	if (cfg->ndisks || cfg->nide)
		needs |= SANDBOX_NEED_DISK;
	if (cfg->nvudisks)
		needs |= SANDBOX_NEED_VHOST_USER;
	if (cfg->machine == MACHINE_PC)
		needs |= SANDBOX_NEED_PC;
	if (cfg->on_reboot == ON_REBOOT_RESTART)
		needs |= SANDBOX_NEED_RESTART;
	if (cfg->stats_path)
		needs |= SANDBOX_NEED_STATS;
	/* Disks' I/O threads follow guest RAM's node unless told. */
	for (unsigned int i = 0; i < cfg->ndisks; i++)
		if (cfg->disks[i].numa_node >= 0 || cfg->mem.numa_node >= 0)
			needs |= SANDBOX_NEED_NUMA;
	for (unsigned int i = 0; i < cfg->nnets; i++) {
		const struct vm_net_config *n = &cfg->nets[i];

		if (n->vhost_user) {
			needs |= SANDBOX_NEED_VHOST_USER;
			continue;
		}
		needs |= SANDBOX_NEED_TAP;
		if (n->model == NET_MODEL_VIRTIO && n->vhost != VHOST_OFF)
			needs |= SANDBOX_NEED_VHOST_NET;
	}
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
	/* Devices after the vCPUs, before the VM fd they use. */
	while (vm->nnets)
		net_teardown(&vm->nets[--vm->nnets]);
	while (vm->nvudisks) {
		vm->nvudisks--;
		virtio_pci_destroy(&vm->vudisks[vm->nvudisks].pci);
		vu_blk_dev_destroy(&vm->vudisks[vm->nvudisks].dev);
	}
	while (vm->ndisks) {
		vm->ndisks--;
		virtio_pci_destroy(&vm->blk_pci[vm->ndisks]);
		virtio_blk_destroy(&vm->blk[vm->ndisks]);
	}
	if (vm->ide_on) {
		ide_destroy(&vm->ide);
		vm->ide_on = false;
		for (unsigned int i = 0; i < VM_MAX_IDE; i++)
			blk_image_close(&vm->ide_img[i]);
	}
	device_list_destroy(&vm->devices);
	if (vm->cfg && vm->cfg->machine == MACHINE_PC && vm->piix.pio)
		piix_destroy(&vm->piix);
	pci_bus_destroy(&vm->pci);
	kvm_destroy(&vm->kvm);
	guest_mem_destroy(&vm->mem);
	if (vm->request_fd >= 0)
		close(vm->request_fd);
	vm->request_fd = -1;
	free(vm);
}
