/* Firmware boot of --machine pc (vmm/firmware.h): the BIOS image, shadow
 * RAM, fw_cfg and the CMOS fields (see platform/bios.h, platform/fw_cfg.h,
 * platform/acpi_loader.h).
 * What the firmware is told:
 *   etc/e820          RAM below the PCI hole and above 4 GiB, and KVM's
 *                     TSS and identity-map pages as reserved;
 *   etc/acpi/tables, etc/acpi/rsdp, etc/table-loader: tern's ACPI tables;
 *   NB_CPUS, MAX_CPUS (and CMOS 0x5F)  the vCPU count;
 *   etc/boot-fail-wait  how long it waits before a reboot when nothing
 *                     boots;
 *   etc/sercon-port   COM1: its screen output (menus, boot loaders that
 *                     print through the BIOS) goes to tern's serial. */
#include "vmm/firmware.h"

#include "core/acpi.h"
#include "core/boot.h"
#include "core/bytes.h"
#include "core/log.h"
#include "platform/acpi_loader.h"
#include "virtio/pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define VM_KVM_PRIVATE_ADDR 0xfffbc000ULL	/* identity map + TSS */
#define VM_KVM_PRIVATE_LEN 0x4000
#define BOOT_FAIL_WAIT_MS 5000
#define E820_ENTRY_LEN 20

int vm_firmware_load(struct vm *vm)
{
	char err[256];
	int ret;

	if (vm->cfg->machine != MACHINE_PC) {
		log_err("bios", "--firmware needs --machine pc");
		return -EINVAL;
	}
	ret = bios_load(&vm->bios, vm->cfg->firmware, err, sizeof(err));
	if (ret) {
		log_err("bios", "%s", err);
		return ret;
	}
	if (guest_mem_low_size(&vm->mem) <= BIOS_SHADOW_END) {
		log_err("bios", "guest RAM below 4 GiB is too small");
		return -EINVAL;
	}
	log_info("bios", "%s, %zu KiB", vm->cfg->firmware,
		 vm->bios.rom_len >> 10);
	return 0;
}

static int set_slot(void *opaque, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *hva, bool readonly)
{
	struct vm *vm = opaque;
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return ioctl(vm->kvm.vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno
									: 0;
}

/* RAM below 4 GiB is memory slot 0 (kvm_map_memory); a firmware boot
 * takes it out and maps it around the shadow area itself. */
int vm_firmware_map(struct vm *vm)
{
	const struct mem_region *low = &vm->mem.regions[0];
	int ret;

	if (ioctl(vm->kvm.kvm_fd, KVM_CHECK_EXTENSION,
		  KVM_CAP_READONLY_MEM) <= 0) {
		log_err("bios", "KVM cannot map read-only memory "
			"(KVM_CAP_READONLY_MEM): no firmware boot");
		return -ENOTSUP;
	}
	if (low->gpa != 0)
		return -EINVAL;
	ret = set_slot(vm, 0, 0, 0, low->hva, false);
	if (ret) {
		log_err("bios", "taking out RAM slot 0: %s", strerror(-ret));
		return ret;
	}
	ret = bios_map(&vm->bios, low->hva, low->size,
		       (struct bios_slot_ops){ set_slot, vm });
	if (ret)
		log_err("bios", "mapping the image and shadow RAM: %s",
			strerror(-ret));
	return ret;
}

static void pam_changed(void *opaque, const uint8_t *pam)
{
	bios_pam_update(opaque, pam);
}

static void e820_put(uint8_t *e, uint64_t addr, uint64_t len, uint32_t type)
{
	put_le64(e, addr);
	put_le64(e + 8, len);
	put_le32(e + 16, type);
}

/* Absent ports (opaque NULL) read 0xff; the A20 gate (port 0x92, opaque
 * set) reads A20 on. Writes change nothing (A20 is always on under KVM). */
static void fw_port_read(void *opaque, uint64_t off, uint8_t *data,
			 uint32_t len)
{
	memset(data, opaque ? 0x02 : 0xff, len);
}

static void fw_port_write(void *opaque, uint64_t off, const uint8_t *data,
			  uint32_t len)
{
}

static const struct bus_ops fw_port_ops = {
	.read = fw_port_read,
	.write = fw_port_write,
};

/* Ports a BIOS and the systems it boots probe for hardware tern does not
 * have: they read as nothing there, writes are dropped, no log line. */
static const struct {
	uint16_t port, len;
	const char *name;
} absent_ports[] = {
	{ 0x00, 16, "isa-dma1" },
	{ 0xc0, 32, "isa-dma2" },
	{ 0xf0, 2, "fpu-error" },
	{ 0x278, 3, "lpt2" },
	{ 0x378, 3, "lpt1" },
	{ 0x3d4, 2, "vga-crtc" },
	{ 0x402, 1, "bios-debug" },	/* 0xff: the BIOS keeps quiet */
};

/* "bootorder": the OpenFirmware paths of the disks with a bootindex, the
 * lowest first, one a line, as the firmware matches them against the
 * devices it finds (IDE: channel and position on the PIIX function 01.1;
 * virtio-blk: its PCI slot and function). */
int vm_firmware_boot_disk(struct vm *vm, struct vm_boot_list *boot,
			  const struct dev_config *c, const char *id,
			  unsigned int ide_pos)
{
	char *path;

	if (!c->disk.boot_prio)
		return 0;
	if (boot->n == VM_FW_MAX_BOOT)
		return -ENOSPC;
	path = boot->e[boot->n].path;
	if (c->kind == &dev_kind_ide) {
		snprintf(path, VM_FW_PATH_LEN,
			 "/pci@i0cf8/ide@1,1/drive@%u/disk@%u", ide_pos / 2,
			 ide_pos % 2);
	} else if (c->kind == &dev_kind_virtio_blk) {
		struct device *d = device_list_find(&vm->devices, id);
		const struct virtio_pci *t;
		uint8_t devfn;

		if (!d)
			return -ENOENT;
		t = (const struct virtio_pci *)((const char *)d -
					       offsetof(struct virtio_pci,
							device));
		devfn = t->pci.devfn;
		if (devfn & 7)
			snprintf(path, VM_FW_PATH_LEN,
				 "/pci@i0cf8/scsi@%x,%x/disk@0,0", devfn >> 3,
				 devfn & 7);
		else
			snprintf(path, VM_FW_PATH_LEN,
				 "/pci@i0cf8/scsi@%x/disk@0,0", devfn >> 3);
	} else {
		return 0;	/* the parser refuses bootindex= elsewhere */
	}
	boot->e[boot->n++].prio = c->disk.boot_prio;
	return 0;
}

static int bootorder_add(struct vm *vm, const struct vm_boot_list *boot)
{
	struct vm_boot_list b = *boot;
	char text[VM_FW_MAX_BOOT * VM_FW_PATH_LEN];
	size_t len = 0;

	if (!b.n)
		return 0;
	for (unsigned int i = 1; i < b.n; i++)	/* insertion sort by prio */
		for (unsigned int j = i; j && b.e[j - 1].prio > b.e[j].prio;
		     j--) {
			__typeof__(b.e[0]) t = b.e[j];

			b.e[j] = b.e[j - 1];
			b.e[j - 1] = t;
		}
	for (unsigned int i = 0; i < b.n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s",
					i ? "\n" : "", b.e[i].path);
	log_info("bios", "boot order: %s", b.e[0].path);
	return fw_cfg_add_file(&vm->fw_cfg, "bootorder", text,
			       (uint32_t)len + 1);
}

int vm_firmware_setup(struct vm *vm, const struct acpi_config *acfg,
		      const struct vm_boot_list *boot)
{
	uint64_t low = guest_mem_low_size(&vm->mem);
	uint64_t high = vm->mem.size - low;
	uint8_t e820[3 * E820_ENTRY_LEN], n = 0, v16[2], v32[4];
	struct fw_cfg *f = &vm->fw_cfg;
	int ret;

	ret = fw_cfg_init(&vm->fw_cfg, "fw_cfg", &vm->mem);
	if (ret)
		goto out;

	e820_put(e820 + n++ * E820_ENTRY_LEN, 0, low, E820_TYPE_RAM);
	e820_put(e820 + n++ * E820_ENTRY_LEN, VM_KVM_PRIVATE_ADDR,
		 VM_KVM_PRIVATE_LEN, E820_TYPE_RESERVED);
	if (high)
		e820_put(e820 + n++ * E820_ENTRY_LEN, MEM_4G, high,
			 E820_TYPE_RAM);
	ret = fw_cfg_add_file(f, "etc/e820", e820, n * E820_ENTRY_LEN);
	ret = ret ?: acpi_loader_install(f, acfg);
	put_le16(v16, (uint16_t)vm->ncpus);
	ret = ret ?: fw_cfg_add_item(f, FW_CFG_NB_CPUS, v16, 2);
	/* Not a count: one past the highest APIC id. */
	put_le16(v16, (uint16_t)topology_apic_limit(&vm->kvm.topo));
	ret = ret ?: fw_cfg_add_item(f, FW_CFG_MAX_CPUS, v16, 2);
	put_le32(v32, BOOT_FAIL_WAIT_MS);
	ret = ret ?: fw_cfg_add_file(f, "etc/boot-fail-wait", v32, 4);
	put_le16(v16, 0x3f8);
	ret = ret ?: fw_cfg_add_file(f, "etc/sercon-port", v16, 2);
	ret = ret ?: bootorder_add(vm, boot);
	if (ret) {
		fw_cfg_destroy(f);
		goto out;
	}
	/* Realized on the ports, and the list's from here (destroyed on
	 * failure too). */
	ret = vm_add_device(vm, &vm->fw_cfg.dev);
	if (ret)
		goto out;

	bios_cmos_fill(&vm->rtc, low, high, vm->ncpus);
	piix_watch_pam(&vm->piix.piix, pam_changed, &vm->bios);

	for (size_t i = 0; !ret && i < sizeof(absent_ports) /
					  sizeof(absent_ports[0]); i++)
		ret = bus_register(&vm->kvm.pio, absent_ports[i].port,
				   absent_ports[i].len, &fw_port_ops, NULL,
				   absent_ports[i].name);
	ret = ret ?: bus_register(&vm->kvm.pio, 0x92, 1, &fw_port_ops, vm,
				  "a20");
	ret = ret ?: bus_register(&vm->kvm.mmio, BIOS_SHADOW_START,
				  BIOS_SHADOW_END - BIOS_SHADOW_START,
				  &bios_low_ops, &vm->bios, "bios-shadow");
	ret = ret ?: bus_register(&vm->kvm.mmio, MEM_4G - vm->bios.rom_len,
				  vm->bios.rom_len, &bios_rom_ops, &vm->bios,
				  "bios-rom");
out:
	if (ret)
		log_err("bios", "firmware configuration: %s", strerror(-ret));
	return ret;
}

