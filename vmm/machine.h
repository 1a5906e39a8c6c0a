/* The platforms a VM is built on, the part of a machine that is not a
 * --disk or a --net: virt (tern's own: a PCI host bridge, the 16550, RTC,
 * i8042, hardware-reduced ACPI with its sleep registers, virtio only) and
 * pc (the i440FX/PIIX3 chipset with its PM function and IDE, for guests
 * that need a 1996 PC), and the ACPI tables that describe them; and the
 * assembly of a whole VM from its configuration: guest RAM, the tables
 * and the kernel, the platform, every --disk and --net (through
 * vm_device_add_config, the path a device added at run time takes), the
 * vCPUs. Every device goes on the VM's device list. */
#ifndef TERN_VMM_MACHINE_H
#define TERN_VMM_MACHINE_H

#include "vmm/vm.h"

/* Builds the VM of CFG on the heap (*vmp) and loads the kernel; vCPUs are
 * created but not started, and no thread exists yet (the caller may lock
 * the process down between vm_create and vm_run). Serial output goes to
 * `out`. Returns 0 or -errno (logged; nothing left allocated). */
int vm_create(struct vm **vmp, const struct vm_config *cfg,
	      struct serial_output out, struct loop *loop);

/* The physical address width a VM with RAM_SIZE bytes of RAM is told on a
 * host whose CPUs give guests HOST bits, when WANT is asked (0: the
 * host's): *told, 0 meaning the host's (a WANT above it is the host's).
 * -ERANGE when RAM and the 64-bit PCI window do not lie below it. */
int machine_phys_bits(uint64_t ram_size, unsigned int host,
		      unsigned int want, unsigned int *told);

#endif
