#include "core/boot.h"

#include "core/errbuf.h"
#include "core/log.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_FLAG_MAGIC 0xaa55
#define HDRS_MAGIC 0x53726448	/* "HdrS" */
#define SETUP_HDR_OFF 0x1f1
#define BOOT_ENTRY_64 0x200	/* into the protected-mode part */

/* A message for the caller's buffer, and -ENOEXEC. */
#define fail(err, errlen, ...) errbuf_fail(-ENOEXEC, err, errlen, __VA_ARGS__)

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage *bz,
		  char *err, size_t errlen)
{
	const struct setup_header *h;
	size_t setup_sects, kernel_bytes;

	if (len < 0x264)
		return fail(err, errlen, "%zu bytes is too short for a bzImage",
			    len);
	h = (const struct setup_header *)(img + SETUP_HDR_OFF);
	if (h->boot_flag != BOOT_FLAG_MAGIC)
		return fail(err, errlen, "no boot flag 0xAA55 at 0x1fe: not a "
			    "Linux kernel image");
	if (h->header != HDRS_MAGIC)
		return fail(err, errlen, "no \"HdrS\" magic at 0x202: not a "
			    "bzImage");
	if (h->version < 0x0206)
		return fail(err, errlen, "boot protocol %u.%02u is older than "
			    "2.06", h->version >> 8, h->version & 0xff);
	if (!(h->loadflags & LOADED_HIGH))
		return fail(err, errlen, "zImage (loaded low) is not supported");
	if (h->version >= 0x020c && !(h->xloadflags & XLF_KERNEL_64))
		return fail(err, errlen, "kernel has no 64-bit entry point");
	/* A kernel that is not relocatable is still loaded where it asks
	 * (pref_address), which is where tern always loads. */
	setup_sects = h->setup_sects ? h->setup_sects : 4;
	bz->setup_len = (setup_sects + 1) * 512;
	if (bz->setup_len >= len)
		return fail(err, errlen, "truncated: %zu setup bytes but the "
			    "file has %zu", bz->setup_len, len);
	kernel_bytes = (size_t)h->syssize * 16;
	if (kernel_bytes > len - bz->setup_len)
		return fail(err, errlen, "truncated: header says %zu kernel "
			    "bytes, file has %zu", kernel_bytes,
			    len - bz->setup_len);
	bz->setup = img;
	bz->kernel = img + bz->setup_len;
	bz->kernel_len = len - bz->setup_len;
	bz->version = h->version;
	bz->load_addr = h->version >= 0x020a ? h->pref_address
					     : BOOT_HIGH_START;
	bz->init_size = h->version >= 0x020a ? h->init_size : 0;
	if (bz->init_size < bz->kernel_len)
		bz->init_size = (uint32_t)bz->kernel_len;
	bz->initrd_addr_max = h->initrd_addr_max;
	bz->cmdline_size = h->cmdline_size;
	if (bz->load_addr < BOOT_HIGH_START)
		return fail(err, errlen, "load address 0x%llx is below 1 MiB",
			    (unsigned long long)bz->load_addr);
	/* tern loads below 4 GiB, where the header asks; the sum is
	 * checked before it is formed (pref_address is any 64-bit value). */
	if (bz->load_addr > MEM_4G || bz->init_size > MEM_4G - bz->load_addr)
		return fail(err, errlen, "load address 0x%llx with init_size "
			    "0x%x reaches past 4 GiB",
			    (unsigned long long)bz->load_addr, bz->init_size);
	if (bz->kernel_len <= BOOT_ENTRY_64)
		return fail(err, errlen, "the kernel's %zu bytes end before "
			    "its 64-bit entry point at 0x%x", bz->kernel_len,
			    BOOT_ENTRY_64);
	return 0;
}

int vmlinux_parse(const uint8_t *img, size_t len, struct vmlinux *vm,
		  char *err, size_t errlen)
{
	bool entry_loaded = false;
	unsigned int loads = 0;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (len < sizeof(eh) || memcmp(img, ELFMAG, SELFMAG))
		return fail(err, errlen, "not an ELF file");
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return fail(err, errlen, "ELF is not 64-bit little-endian "
			    "x86-64");
	if (eh.e_type != ET_EXEC)
		return fail(err, errlen, "ELF type %u is not an executable "
			    "(vmlinux is ET_EXEC)", eh.e_type);
	if (eh.e_phentsize != sizeof(ph) || !eh.e_phnum ||
	    eh.e_phoff > len || (len - eh.e_phoff) / sizeof(ph) < eh.e_phnum)
		return fail(err, errlen, "ELF program headers (%u at 0x%llx) "
			    "are not inside the %zu-byte file", eh.e_phnum,
			    (unsigned long long)eh.e_phoff, len);
	vm->entry = eh.e_entry;
	vm->phoff = eh.e_phoff;
	vm->phnum = eh.e_phnum;
	vm->start = UINT64_MAX;
	vm->end = 0;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		loads++;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return fail(err, errlen, "ELF segment %u (%llu bytes "
				    "at 0x%llx) runs past the end of the file",
				    i, (unsigned long long)ph.p_filesz,
				    (unsigned long long)ph.p_offset);
		if (ph.p_filesz > ph.p_memsz)
			return fail(err, errlen, "ELF segment %u has more file "
				    "bytes than memory bytes", i);
		if (ph.p_paddr < BOOT_HIGH_START ||
		    ph.p_memsz > UINT64_MAX - ph.p_paddr ||
		    ph.p_paddr + ph.p_memsz > (1ULL << 32))
			return fail(err, errlen, "ELF segment %u at physical "
				    "0x%llx+0x%llx is not between 1 MiB and "
				    "4 GiB", i, (unsigned long long)ph.p_paddr,
				    (unsigned long long)ph.p_memsz);
		if (ph.p_paddr < vm->start)
			vm->start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > vm->end)
			vm->end = ph.p_paddr + ph.p_memsz;
		if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_paddr &&
		    eh.e_entry < ph.p_paddr + ph.p_memsz)
			entry_loaded = true;
	}
	if (!loads)
		return fail(err, errlen, "ELF has no loadable segment");
	if (!entry_loaded)
		return fail(err, errlen, "ELF entry 0x%llx is not in an "
			    "executable loaded segment",
			    (unsigned long long)eh.e_entry);
	return 0;
}

static void e820_add(struct e820_map *map, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	if (size && map->n < E820_MAX_ENTRIES_ZEROPAGE)
		map->e[map->n++] = (struct boot_e820_entry){ addr, size, type };
}

void e820_build(struct e820_map *map, const struct guest_mem *mem)
{
	uint64_t low = guest_mem_low_size(mem);

	map->n = 0;
	e820_add(map, 0, BOOT_EBDA, E820_TYPE_RAM);
	e820_add(map, BOOT_EBDA, 0xa0000 - BOOT_EBDA, E820_TYPE_RESERVED);
	e820_add(map, BOOT_BIOS_START, BOOT_HIGH_START - BOOT_BIOS_START,
		 E820_TYPE_RESERVED);
	e820_add(map, BOOT_HIGH_START, low - BOOT_HIGH_START, E820_TYPE_RAM);
	if (mem->nregions > 1)
		e820_add(map, mem->regions[1].gpa, mem->regions[1].size,
			 E820_TYPE_RAM);
}

/* Maps a file read-only; returns 0 or -errno with the reason logged. */
static int map_file(const char *what, const char *path, const uint8_t **data,
		    size_t *len)
{
	struct stat st;
	int fd, ret = 0;
	void *p;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_err("boot", "%s %s: %s", what, path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		ret = -EINVAL;
		log_err("boot", "%s %s: not a regular non-empty file", what,
			path);
		goto out;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	*data = p;
	*len = (size_t)st.st_size;
out:
	if (ret && ret != -EINVAL)
		log_err("boot", "%s %s: %s", what, path, strerror(-ret));
	close(fd);
	return ret;
}

/* Identity map of 0..4 GiB with 2 MiB pages: covers the kernel, zero page
 * and command line wherever they are below 4 GiB. */
static void write_page_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, BOOT_PML4, 0x1000);
	uint64_t *pdpt = guest_mem_ptr(mem, BOOT_PML4 + 0x1000, 0x1000);
	uint64_t *pd = guest_mem_ptr(mem, BOOT_PML4 + 0x2000, 0x4000);

	memset(pml4, 0, 0x6000);
	pml4[0] = (BOOT_PML4 + 0x1000) | 0x3;		/* present, rw */
	for (int i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PML4 + 0x2000 + 0x1000 * i) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;		/* 2 MiB page */
}

static void write_gdt(struct guest_mem *mem)
{
	uint64_t *gdt = guest_mem_ptr(mem, BOOT_GDT_ADDR, 5 * 8);

	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffULL;	/* 0x10 __BOOT_CS: 64-bit code */
	gdt[3] = 0x00cf93000000ffffULL;	/* 0x18 __BOOT_DS: flat data */
	gdt[4] = 0x00008b0000000067ULL;	/* 0x20: a busy TSS for TR */
}

/* The reset vector (F000:FFF0). Linux on hardware-reduced ACPI reboots
 * through "EFI", and without EFI falls back to a real-mode jump here, as
 * it would into a PC BIOS. Ours asks for a reset through port 0xCF9:
 *   mov dx, 0xcf9; mov al, 6; out dx, al; 1: hlt; jmp 1b */
static void write_reset_vector(struct guest_mem *mem)
{
	static const uint8_t stub[] = { 0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee,
					0xf4, 0xeb, 0xfd };

	memcpy(guest_mem_ptr(mem, BOOT_RESET_VECTOR, sizeof(stub)), stub,
	       sizeof(stub));
}

/* Where the kernel is and what it takes, from either kind of image. */
struct kernel_info {
	uint64_t entry;			/* 64-bit entry point */
	uint64_t end;			/* the initrd goes above this */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;		/* longest command line, NUL not
					 * counted */
};

static int load_initrd(struct guest_mem *mem, const struct kernel_info *k,
		       const char *path, struct boot_params *zp)
{
	const uint8_t *data;
	uint64_t top, addr;
	size_t len;
	int ret;

	ret = map_file("initramfs", path, &data, &len);
	if (ret)
		return ret;
	top = guest_mem_low_size(mem);
	if (k->initrd_addr_max && (uint64_t)k->initrd_addr_max + 1 < top)
		top = (uint64_t)k->initrd_addr_max + 1;
	if (len > top || ((top - len) & ~0xfffULL) < k->end) {
		log_err("boot", "initramfs %s: %zu MiB does not fit between the "
			"kernel (ends at %llu MiB) and %llu MiB: give more "
			"--memory", path, len >> 20,
			(unsigned long long)k->end >> 20,
			(unsigned long long)top >> 20);
		ret = -E2BIG;
		goto out;
	}
	addr = (top - len) & ~0xfffULL;
	memcpy(guest_mem_ptr(mem, addr, len), data, len);
	zp->hdr.ramdisk_image = (uint32_t)addr;
	zp->hdr.ramdisk_size = (uint32_t)len;
	zp->ext_ramdisk_image = (uint32_t)(addr >> 32);
	zp->ext_ramdisk_size = (uint32_t)((uint64_t)len >> 32);
out:
	munmap((void *)data, len);
	return ret;
}

static int too_big(const char *path, uint64_t end)
{
	log_err("boot", "kernel %s needs memory up to %llu MiB: give more "
		"--memory", path, (unsigned long long)end >> 20);
	return -E2BIG;
}

/* bzImage: the protected-mode part at its preferred address, the setup
 * header copied into the zero page. */
static int load_bzimage(struct guest_mem *mem, const char *path,
			const uint8_t *img, size_t len, struct boot_params *zp,
			struct kernel_info *k)
{
	struct bzimage bz;
	size_t hdr_len;
	char err[160];

	if (bzimage_parse(img, len, &bz, err, sizeof(err))) {
		log_err("boot", "kernel %s: %s", path, err);
		return -ENOEXEC;
	}
	if (bz.load_addr + bz.init_size > guest_mem_low_size(mem))
		return too_big(path, bz.load_addr + bz.init_size);
	memcpy(guest_mem_ptr(mem, bz.load_addr, bz.kernel_len), bz.kernel,
	       bz.kernel_len);
	/* The header runs from 0x1f1 to 0x202 plus the byte at 0x201. */
	hdr_len = 0x202 + img[0x201] - SETUP_HDR_OFF;
	if (hdr_len > sizeof(zp->hdr))
		hdr_len = sizeof(zp->hdr);
	memcpy(&zp->hdr, img + SETUP_HDR_OFF, hdr_len);
	k->entry = bz.load_addr + BOOT_ENTRY_64;
	k->end = bz.load_addr + bz.init_size;
	k->initrd_addr_max = bz.initrd_addr_max;
	k->cmdline_size = bz.cmdline_size;
	return 0;
}

/* ELF vmlinux: each PT_LOAD at its physical address (bss zeroed: a guest
 * restart reloads into used RAM), and a setup header written by tern with
 * what the kernel's own header.S would say: boot protocol 2.15, 64-bit,
 * initrd below 2 GiB, x86's 2048-byte command line. */
static int load_vmlinux(struct guest_mem *mem, const char *path,
			const uint8_t *img, size_t len, struct boot_params *zp,
			struct kernel_info *k)
{
	struct vmlinux vm;
	Elf64_Phdr ph;
	char err[160];
	uint8_t *dst;

	if (vmlinux_parse(img, len, &vm, err, sizeof(err))) {
		log_err("boot", "kernel %s: %s", path, err);
		return -ENOEXEC;
	}
	if (vm.end > guest_mem_low_size(mem))
		return too_big(path, vm.end);
	for (unsigned int i = 0; i < vm.phnum; i++) {
		memcpy(&ph, img + vm.phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		dst = guest_mem_ptr(mem, ph.p_paddr, ph.p_memsz);
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	zp->hdr.boot_flag = BOOT_FLAG_MAGIC;
	zp->hdr.header = HDRS_MAGIC;
	zp->hdr.version = 0x020f;
	zp->hdr.loadflags = LOADED_HIGH;
	zp->hdr.xloadflags = XLF_KERNEL_64;
	zp->hdr.kernel_alignment = 0x200000;
	zp->hdr.pref_address = vm.start;
	zp->hdr.initrd_addr_max = 0x7fffffff;
	zp->hdr.cmdline_size = 2047;
	k->entry = vm.entry;
	k->end = vm.end;
	k->initrd_addr_max = zp->hdr.initrd_addr_max;
	k->cmdline_size = zp->hdr.cmdline_size;
	return 0;
}

int boot_load_linux(struct guest_mem *mem, const struct boot_config *cfg,
		    uint64_t *entry_rip)
{
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	size_t cmdlen = strlen(cmdline) + 1;
	struct kernel_info k = { 0 };
	struct boot_params *zp;
	struct e820_map map;
	const uint8_t *img;
	size_t len;
	int ret;

	ret = map_file("kernel", cfg->kernel, &img, &len);
	if (ret)
		return ret;
	zp = guest_mem_ptr(mem, BOOT_ZERO_PAGE, sizeof(*zp));
	memset(zp, 0, sizeof(*zp));
	if (len >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG))
		ret = load_vmlinux(mem, cfg->kernel, img, len, zp, &k);
	else
		ret = load_bzimage(mem, cfg->kernel, img, len, zp, &k);
	if (ret)
		goto out;
	if (cmdlen > BOOT_CMDLINE_MAX ||
	    (k.cmdline_size && cmdlen > (size_t)k.cmdline_size + 1)) {
		log_err("boot", "--cmdline is %zu bytes; this kernel takes %u",
			cmdlen - 1, k.cmdline_size);
		ret = -E2BIG;
		goto out;
	}
	memcpy(guest_mem_ptr(mem, BOOT_CMDLINE, cmdlen), cmdline, cmdlen);
	zp->hdr.type_of_loader = 0xff;
	zp->hdr.cmd_line_ptr = BOOT_CMDLINE;
	zp->hdr.vid_mode = 0xffff;
	zp->acpi_rsdp_addr = cfg->rsdp_addr;
	if (cfg->initramfs) {
		ret = load_initrd(mem, &k, cfg->initramfs, zp);
		if (ret)
			goto out;
	}
	e820_build(&map, mem);
	memcpy(zp->e820_table, map.e, map.n * sizeof(map.e[0]));
	zp->e820_entries = (uint8_t)map.n;

	write_gdt(mem);
	write_page_tables(mem);
	write_reset_vector(mem);
	*entry_rip = k.entry;
out:
	munmap((void *)img, len);
	return ret;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

void boot_cpu_state(uint64_t entry_rip, struct kvm_regs *regs,
		    struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry_rip;
	regs->rsi = BOOT_ZERO_PAGE;
	regs->rsp = BOOT_STACK_TOP;
	regs->rbp = BOOT_STACK_TOP;
	regs->rflags = 0x2;

	flat_segment(&sregs->cs, 0x10, 0xb);
	sregs->cs.db = 0;
	sregs->cs.l = 1;
	flat_segment(&sregs->ds, 0x18, 0x3);
	sregs->es = sregs->fs = sregs->gs = sregs->ss = sregs->ds;
	sregs->tr = (struct kvm_segment){ .selector = 0x20, .limit = 0x67,
					  .type = 0xb, .present = 1 };
	sregs->ldt = (struct kvm_segment){ .type = 0x2, .present = 1,
					   .limit = 0xffff };
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = 5 * 8 - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->cr0 = 0x80000033;	/* PG, NE, ET, MP, PE */
	sregs->cr3 = BOOT_PML4;
	sregs->cr4 = 0x20;		/* PAE */
	sregs->efer = 0x500;		/* LMA, LME */
}
