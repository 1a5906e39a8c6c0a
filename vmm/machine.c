/* The two platforms' fixed devices: see vmm/machine.h. */
#include "vmm/machine.h"

#include "core/acpi.h"
#include "core/boot.h"
#include "core/cpuid.h"
#include "core/log.h"
#include "vmm/firmware.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VM_GSI_SERIAL 4
#define VM_PORT_COM1 0x3f8
#define VM_PORT_RTC 0x70
#define VM_PCI_SLOTS 32
#define VM_PCI_INTX_GSI 16

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

static int machine_platform(struct vm *vm, struct serial_output out)
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
		piix_device_init(&vm->piix, "piix");
		ret = vm_add_device(vm, &vm->piix.dev);
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
		ret = ret ?: vm_hotplug_setup(vm);
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

static void machine_acpi_config(const struct vm *vm,
				struct acpi_config *acfg)
{
	*acfg = (struct acpi_config){
		.cpus = vm->kvm.topo,
		.ioapic_addr = VM_IOAPIC_ADDR,
		.ioapic_id = (uint8_t)topology_apic_limit(&vm->kvm.topo),
		.sleep_ctl_port = VM_PORT_SLEEP_CTL,
		.sleep_sts_port = VM_PORT_SLEEP_STS,
		.reset_port = PCI_PORT_CONFIG + 1,
		.reset_value = 0x06,
		.pci_mmio32_base = MEM_HOLE_START,
		.pci_mmio32_size = VM_IOAPIC_ADDR - MEM_HOLE_START,
		.pci_mmio64_base = mem_pci64_base(vm->mem.size),
		.pci_mmio64_size = MEM_PCI64_SIZE,
		.pci_slots = VM_PCI_SLOTS,
		.pci_intx_gsi_base = VM_PCI_INTX_GSI,
		.rtc_century_index = 0x32,
		.pc = vm->cfg->machine == MACHINE_PC,
		.pm_base = PIIX_PM_BASE,
		.sci_irq = PIIX_SCI_IRQ,
	};
	if (vm->cfg->machine == MACHINE_VIRT) {
		acfg->ged_port = VM_PORT_GED;
		acfg->ged_gsi = VM_GSI_GED;
		acfg->pci_hotplug_port = VM_PORT_PCI_HOTPLUG;
	}
	memcpy(acfg->pirq_irq, piix_pirq_default, sizeof(acfg->pirq_irq));
}

static int machine_acpi(struct vm *vm)
{
	struct acpi_config acfg;
	size_t cap = BOOT_RESET_VECTOR - ACPI_RSDP_ADDR;
	ssize_t n;

	machine_acpi_config(vm, &acfg);
	n = acpi_build(guest_mem_ptr(&vm->mem, ACPI_RSDP_ADDR, cap), cap,
		       ACPI_RSDP_ADDR, &acfg);
	if (n < 0) {
		log_err("acpi", "building tables: %s", strerror((int)-n));
		return (int)n;
	}
	return 0;
}

/* pc: the IDE function and its drives, the images it owns. */
struct ide_ctrl {
	struct ide_device d;
	struct blk_image img[VM_MAX_IDE];
};

static void ide_release(void *owner)
{
	struct ide_ctrl *c = owner;

	for (unsigned int i = 0; i < VM_MAX_IDE; i++)
		blk_image_close(&c->img[i]);
	free(c);
}

static int machine_ide(struct vm *vm, struct vm_boot_list *boot)
{
	static const uint32_t gsi[IDE_CHANNELS] = { 14, 15 };
	struct blk_image *drives[IDE_DRIVES] = { NULL };
	struct ide_ctrl *c = calloc(1, sizeof(*c));
	unsigned int n = 0, pos[VM_MAX_IDE];
	int ret = 0;

	if (!c)
		return -ENOMEM;
	for (unsigned int i = 0; i < VM_MAX_IDE; i++)
		c->img[i].fd = -1;
	for (unsigned int i = 0; i < vm->cfg->ndevs && !ret; i++) {
		const struct dev_config *dc = &vm->cfg->devs[i];

		if (dc->kind != &dev_kind_ide)
			continue;
		ret = blk_image_open(&c->img[n], dc->disk.path,
				     dc->disk.d.readonly, dc->disk.d.direct);
		drives[n] = &c->img[n];
		if (!ret)
			log_info("ide0", "%s %s: %s%s",
				 n < 2 ? "primary" : "secondary",
				 n % 2 ? "slave" : "master", dc->disk.path,
				 dc->disk.media == DISK_MEDIA_CDROM ?
					 " (CD-ROM)" : "");
		pos[n++] = i;
	}
	if (ret) {
		log_err("ide0", "%s", strerror(-ret));
		ide_release(c);
		return ret;
	}
	ide_device_init(&c->d, "ide0", drives, gsi);
	c->d.release = ide_release;
	c->d.owner = c;
	for (unsigned int i = 0; i < n && !ret && vm->cfg->firmware; i++)
		ret = vm_firmware_boot_disk(vm, boot, &vm->cfg->devs[pos[i]],
					    "", i);
	if (ret) {
		ide_release(c);
		return ret;
	}
	ret = vm_add_device(vm, &c->d.dev);
	if (ret)
		return ret;	/* vm_add_device destroyed it */
	/* A CD-ROM once the drives exist (realize); on the list, so
	 * vm_destroy frees the function if this fails. */
	for (unsigned int i = 0; i < n; i++) {
		const struct dev_config *dc = &vm->cfg->devs[pos[i]];

		if (dc->disk.media != DISK_MEDIA_CDROM)
			continue;
		ret = ide_set_atapi(&c->d.ide, i);
		if (ret) {
			log_err("ide0", "%s: not a CD-ROM image: %s",
				dc->disk.path, strerror(-ret));
			return ret;
		}
	}
	return piix_attach_ide(&vm->piix.piix, &ide_cmd_ops, &ide_ctl_ops,
			       &ide_bm_ops, &c->d.ide.chan[0],
			       &c->d.ide.chan[1]);
}

static void machine_firmware(struct vm *vm)
{
	/* As a BIOS would: Interrupt Line holds each INTx function's IRQ. */
	if (vm->cfg->machine == MACHINE_PC)
		piix_firmware_route(&vm->piix.piix, &vm->pci);
}

/* Every --disk and --net: the disks first, then the NICs, each in
 * command-line order (PCI slots in that order, so the guest's names
 * follow the command line). */
static int devices_setup(struct vm *vm)
{
	static const char *const order[] = { "disk", "net" };
	struct vm_boot_list boot = { 0 };
	struct acpi_config acfg;
	int ret;

	ret = kvm_irq_init(&vm->kvm);
	if (ret)
		return ret;
	if (vm->cfg->machine == MACHINE_PC) {
		ret = machine_ide(vm, &boot);
		if (ret)
			return ret;
	}
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
		for (unsigned int i = 0; i < vm->cfg->ndevs; i++) {
			const struct dev_config *c = &vm->cfg->devs[i];
			char id[DEV_ID_LEN];

			if (strcmp(c->kind->option, order[o]) ||
			    c->kind == &dev_kind_ide)
				continue;
			ret = vm_device_add_config(vm, c, id);
			if (!ret && vm->cfg->firmware)
				ret = vm_firmware_boot_disk(vm, &boot, c, id, 0);
			if (ret)
				return ret;
		}
	machine_firmware(vm);
	if (!vm->cfg->firmware)
		return 0;
	machine_acpi_config(vm, &acfg);
	return vm_firmware_setup(vm, &acfg, &boot);
}

int vm_power_button(struct vm *vm)
{
	if (vm->cfg->machine == MACHINE_PC) {
		piix_power_button(&vm->piix.piix);
		return 0;
	}
	if (!vm->hotplug.ready)
		return -ENOTSUP;
	ged_raise(&vm->hotplug.ged, GED_EVENT_PWRBTN);
	return 0;
}

int machine_phys_bits(uint64_t ram_size, unsigned int host,
		      unsigned int want, unsigned int *told)
{
	*told = want && want < host ? want : 0;
	return mem_phys_bits(mem_phys_top(ram_size)) > (*told ? *told : host) ?
		       -ERANGE : 0;
}

/* The width the vCPUs are told (the command line checked max-phys-bits
 * against RAM and the window; the host's width is known only here). */
static int machine_set_phys_bits(struct vm *vm)
{
	unsigned int host = cpuid_phys_bits(vm->kvm.cpuid);
	unsigned int want = vm->cfg->max_phys_bits;
	char what[160];

	if (machine_phys_bits(vm->mem.size, host, want, &vm->kvm.phys_bits)) {
		mem_phys_describe(vm->mem.size, what, sizeof(what));
		log_err("vm", "--memory: %s; this host's CPUs give guests %u",
			what, host);
		return -EINVAL;
	}
	if (want > host)
		log_info("vm", "max-phys-bits=%u: this host gives guests %u "
			 "bits, and the guest is told %u", want, host, host);
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
	uint64_t entry = 0;
	int ret;

	*vmp = NULL;
	if (!vm)
		return -ENOMEM;
	vm->cfg = cfg;
	vm->request_fd = -1;
	vm->hotplug.timer_fd = -1;
	vm->mem.fd = -1;
	vm->ncpus = cfg->cpus;
	kvm_init(&vm->kvm, cfg->topology.threads ? cfg->topology :
			   topology_flat(cfg->cpus), vm_control(vm));
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
	for (unsigned int i = 0; i < cfg->ndevs; i++)
		vm->mem_cfg.shared |= cfg->devs[i].kind->shared_memory &&
				      cfg->devs[i].kind->shared_memory(&cfg->devs[i]);
	if (vm->mem_cfg.shared && !cfg->mem.shared)
		log_info("vm", "guest RAM is a shared memfd: a vhost-user "
			 "backend maps it");
	ret = guest_mem_create(&vm->mem, &vm->mem_cfg);
	if (ret)
		goto err;
	if (cfg->firmware) {
		ret = vm_firmware_load(vm);
	} else {
		ret = machine_acpi(vm);
		ret = ret ?: boot_load_linux(&vm->mem, &boot, &entry);
	}
	if (ret)
		goto err;
	ret = kvm_open(&vm->kvm);
	if (ret)
		goto err;
	ret = machine_set_phys_bits(vm);
	if (ret)
		goto err;
	ret = kvm_map_memory(&vm->kvm, &vm->mem);
	if (!ret && cfg->firmware)
		ret = vm_firmware_map(vm);
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
	ret = machine_platform(vm, out);
	if (ret)
		goto err;
	ret = devices_setup(vm);
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
	/* APs wait for INIT/SIPI in the in-kernel LAPIC. A firmware boot
	 * starts where KVM's reset state is: the reset vector, real mode. */
	if (!cfg->firmware) {
		ret = vcpu_set_boot_state(&vm->vcpus[0], entry);
		if (ret)
			goto err;
	}
	*vmp = vm;
	return 0;
err:
	vm_destroy(vm);
	return ret;
}
