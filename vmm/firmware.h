/* Firmware boot of --machine pc (--firmware, or pc without --kernel): the
 * BIOS image and shadow RAM (platform/bios.h), fw_cfg with the files the
 * firmware reads (platform/fw_cfg.h, platform/acpi_loader.h), the CMOS
 * fields, and the boot order the disks' bootindex= gives. vm_create
 * (vmm/machine.c) calls these in its order: read the image (before KVM,
 * like a kernel), map it and shadow RAM (after the RAM slots), note each
 * bootable disk as it is added, then fw_cfg (on the device list), CMOS
 * and the PAM hook once every device is there. The image and fw_cfg are
 * the VM's (struct vm: bios, fw_cfg; vm_destroy frees them). Each returns
 * 0 or -errno (logged). */
#ifndef TERN_VMM_FIRMWARE_H
#define TERN_VMM_FIRMWARE_H


#define VM_FW_MAX_BOOT 12		/* VM_MAX_DISKS + VM_MAX_IDE */
#define VM_FW_PATH_LEN 64

struct vm;
struct dev_config;
struct acpi_config;

/* The disks a bootindex= names, as vm_create adds them. */
struct vm_boot_list {
	unsigned int n;
	struct {
		unsigned int prio;	/* bootindex + 1 */
		char path[VM_FW_PATH_LEN];	/* OpenFirmware device path */
	} e[VM_FW_MAX_BOOT];
};

int vm_firmware_load(struct vm *vm);
int vm_firmware_map(struct vm *vm);
/* Disk C (bootindex= given, else nothing happens) was added as device ID;
 * IDE_POS is its IDE position (0..3) for an IDE drive. */
int vm_firmware_boot_disk(struct vm *vm, struct vm_boot_list *boot,
			  const struct dev_config *c, const char *id,
			  unsigned int ide_pos);
/* fw_cfg (on the device list) with the tables ACFG describes and BOOT's
 * order, the CMOS, the PAM hook, the ports a BIOS probes. */
int vm_firmware_setup(struct vm *vm, const struct acpi_config *acfg,
		      const struct vm_boot_list *boot);

#endif
