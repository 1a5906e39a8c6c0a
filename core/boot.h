/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit
 * entry: bzImage checks, zero page, command line, initrd, e820, identity
 * page tables and a GDT, and the vCPU state at the entry point. The kernel
 * is a bzImage or the uncompressed ELF vmlinux inside it, which spares the
 * guest the decompressor (the ELF entry is startup_64, the same 64-bit
 * entry the bzImage's decompressor ends in). */
#ifndef TERN_CORE_BOOT_H
#define TERN_CORE_BOOT_H

#include "core/memory.h"

#include <asm/bootparam.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* Low-memory layout, all below the EBDA. */
#define BOOT_GDT_ADDR 0x500
#define BOOT_ZERO_PAGE 0x7000
#define BOOT_STACK_TOP 0x8ff0
#define BOOT_PML4 0x9000	/* PML4, PDPT, then 4 PDs: 0..4 GiB in 2 MiB */
#define BOOT_CMDLINE 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define BOOT_EBDA 0x9fc00
#define BOOT_BIOS_START 0xe0000	/* ACPI tables live here */
#define BOOT_HIGH_START 0x100000
#define BOOT_RESET_VECTOR 0xffff0	/* 16 bytes: see write_reset_vector */

/* e820 entry types (ACPI address range types). */
#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2

struct bzimage {
	const uint8_t *setup;		/* the image; header at 0x1f1 */
	size_t setup_len;		/* (setup_sects + 1) * 512 */
	const uint8_t *kernel;		/* protected-mode part */
	size_t kernel_len;
	uint16_t version;
	uint64_t load_addr;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
};

/* Checks a bzImage in memory. On error returns -ENOEXEC and writes a
 * sentence naming what is wrong into err. */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage *bz,
		  char *err, size_t errlen);

struct vmlinux {
	uint64_t entry;			/* e_entry: physical, 64-bit code */
	uint64_t start, end;		/* lowest and highest PT_LOAD bytes */
	uint64_t phoff;			/* program headers (read with memcpy:
					 * the file gives no alignment) */
	unsigned int phnum;
};

/* Checks an x86-64 ELF vmlinux in memory: header, every PT_LOAD inside the
 * file, above 1 MiB, no overflow, the entry in a loaded segment. On error
 * returns -ENOEXEC and writes a sentence naming what is wrong into err. */
int vmlinux_parse(const uint8_t *img, size_t len, struct vmlinux *vm,
		  char *err, size_t errlen);

struct e820_map {
	unsigned int n;
	struct boot_e820_entry e[E820_MAX_ENTRIES_ZEROPAGE];
};

void e820_build(struct e820_map *map, const struct guest_mem *mem);

struct boot_config {
	const char *kernel;
	const char *initramfs;		/* NULL: none */
	const char *cmdline;
	uint64_t rsdp_addr;
};

/* Loads kernel, initrd and command line into guest RAM and writes the
 * zero page, GDT and page tables. Errors name the file and the problem. */
int boot_load_linux(struct guest_mem *mem, const struct boot_config *cfg,
		    uint64_t *entry_rip);

/* The boot vCPU's registers at the 64-bit entry point. */
void boot_cpu_state(uint64_t entry_rip, struct kvm_regs *regs,
		    struct kvm_sregs *sregs);

#endif
