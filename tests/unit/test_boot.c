/* bzImage and ELF vmlinux checks on crafted images, e820, and full loads
 * into in-memory guest RAM. */
#include "core/boot.h"

#include "check.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define IMG_LEN (1024 + 4096)

static void make_image(uint8_t *img)
{
	struct setup_header *h = (struct setup_header *)(img + 0x1f1);

	memset(img, 0, IMG_LEN);
	h->setup_sects = 1;			/* setup = 2 sectors */
	h->boot_flag = 0xaa55;
	h->header = 0x53726448;
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->xloadflags = XLF_KERNEL_64;
	h->relocatable_kernel = 1;
	h->pref_address = 0x1000000;
	h->init_size = 0x400000;
	h->syssize = 4096 / 16;
	h->cmdline_size = 2047;
	h->initrd_addr_max = 0x7fffffff;
	img[0x201] = 0x6a;			/* header ends at 0x26c */
	for (int i = 0; i < 4096; i++)
		img[1024 + i] = (uint8_t)(i * 7);
}

static int parse(const uint8_t *img, size_t len, struct bzimage *bz)
{
	char err[160] = "";
	int ret = bzimage_parse(img, len, bz, err, sizeof(err));

	if (ret)
		fprintf(stderr, "  (rejected: %s)\n", err);
	CHECK(ret == 0 || err[0]);	/* every rejection says why */
	return ret;
}

static void test_parse(void)
{
	static uint8_t img[IMG_LEN];
	struct bzimage bz;

	make_image(img);
	CHECK_EQ(parse(img, IMG_LEN, &bz), 0);
	CHECK_EQ(bz.setup_len, 1024);
	CHECK_EQ(bz.kernel_len, 4096);
	CHECK_EQ(bz.load_addr, 0x1000000);
	CHECK_EQ(bz.init_size, 0x400000);

	CHECK_EQ(parse(img, 0x200, &bz), -ENOEXEC);	/* too short */
	CHECK_EQ(parse(img, 1024 + 100, &bz), -ENOEXEC); /* truncated */

	make_image(img);
	img[0x1fe] = 0;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* boot flag */
	make_image(img);
	img[0x202] = 'X';
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* HdrS */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->version = 0x0205;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* too old */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->loadflags = 0;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* zImage */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->xloadflags = 0;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* no 64-bit */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->setup_sects = 200;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* setup > file */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->pref_address = 0x1000;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);	/* below 1 MiB */
	/* An address whose sum with init_size wraps past 2^64 (it used to
	 * pass the RAM check and crash the load), or just reaches 4 GiB. */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->pref_address =
		0xffffffff01000000ULL;
	((struct setup_header *)(img + 0x1f1))->init_size = 0xffffffff;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->pref_address = 0xfff00000;
	CHECK_EQ(parse(img, IMG_LEN, &bz), -ENOEXEC);
	/* A protected-mode part too short to hold the 64-bit entry. */
	make_image(img);
	((struct setup_header *)(img + 0x1f1))->syssize = 0x200 / 16;
	CHECK_EQ(parse(img, 1024 + 0x200, &bz), -ENOEXEC);
}

/* A vmlinux-shaped ELF: text at 16 MiB (entry there), data with a bss
 * tail at 18 MiB, and a note segment that is not loaded. */
#define ELF_LEN 0x3000
static void make_elf(uint8_t *img)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	memset(img, 0, ELF_LEN);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = 0x1000000;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 3;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
			      .p_offset = 0x1000, .p_vaddr = 0xffffffff81000000,
			      .p_paddr = 0x1000000, .p_filesz = 0x1000,
			      .p_memsz = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
			      .p_offset = 0x2000, .p_paddr = 0x1200000,
			      .p_filesz = 0x800, .p_memsz = 0x3000 };
	ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x2800,
			      .p_filesz = 0x10 };
	for (int i = 0x1000; i < ELF_LEN; i++)
		img[i] = (uint8_t)(i * 13 + 1);
}

static int parse_elf(const uint8_t *img, size_t len, struct vmlinux *vm)
{
	char err[160] = "";
	int ret = vmlinux_parse(img, len, vm, err, sizeof(err));

	if (ret)
		fprintf(stderr, "  (rejected: %s)\n", err);
	CHECK(ret == 0 || err[0]);
	return ret;
}

static void test_parse_elf(void)
{
	static uint8_t img[ELF_LEN];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	struct vmlinux vm;

	make_elf(img);
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), 0);
	CHECK_EQ(vm.entry, 0x1000000);
	CHECK_EQ(vm.start, 0x1000000);
	CHECK_EQ(vm.end, 0x1203000);

	/* Each rule on its own. */
	CHECK_EQ(parse_elf(img, 40, &vm), -ENOEXEC);		/* short */
	make_elf(img);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	eh->e_machine = EM_386;
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	eh->e_type = ET_DYN;
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	eh->e_phoff = ELF_LEN - 8;				/* headers cut */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	eh->e_phoff = UINT64_MAX - 8;				/* wraps */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	eh->e_phnum = 0;
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[1].p_filesz = 0x1001;			/* past the file end */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[1].p_offset = UINT64_MAX;
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[1].p_memsz = 0x400;				/* memsz < filesz */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[0].p_paddr = 0x7000;				/* over the zero page */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[1].p_memsz = UINT64_MAX - 0x100000;		/* wraps */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[1].p_paddr = 0xfffff000;			/* above 4 GiB */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	eh->e_entry = 0x1200000;			/* not executable */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
	make_elf(img);
	ph[0].p_type = PT_NULL;
	ph[1].p_type = PT_NULL;				/* nothing to load */
	CHECK_EQ(parse_elf(img, ELF_LEN, &vm), -ENOEXEC);
}

static void test_e820(void)
{
	struct mem_config cfg = { .size = 5ULL << 30, .numa_node = -1 };
	struct guest_mem mem;
	struct e820_map map;

	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	e820_build(&map, &mem);
	CHECK_EQ(map.n, 5);
	CHECK_EQ(map.e[0].addr, 0);
	CHECK_EQ(map.e[0].size, BOOT_EBDA);
	CHECK_EQ(map.e[0].type, E820_TYPE_RAM);
	CHECK_EQ(map.e[2].addr, BOOT_BIOS_START);
	CHECK_EQ(map.e[2].type, E820_TYPE_RESERVED);
	CHECK_EQ(map.e[3].addr, BOOT_HIGH_START);
	CHECK_EQ(map.e[3].addr + map.e[3].size, MEM_HOLE_START);
	CHECK_EQ(map.e[4].addr, MEM_4G);
	CHECK_EQ(map.e[4].size, (5ULL << 30) - MEM_HOLE_START);
	/* RAM in the map adds up to what was asked for, less the legacy
	 * holes below 1 MiB. */
	CHECK_EQ(map.e[0].size + map.e[3].size + map.e[4].size,
		 (5ULL << 30) - (BOOT_HIGH_START - BOOT_EBDA));
	guest_mem_destroy(&mem);

	cfg.size = 256ULL << 20;
	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	e820_build(&map, &mem);
	CHECK_EQ(map.n, 4);
	CHECK_EQ(map.e[3].addr + map.e[3].size, 256ULL << 20);
	guest_mem_destroy(&mem);
}

/* Guest RAM starts on a 2 MiB boundary, anonymous or a shared memfd, so
 * KVM can map it with 2 MiB nested pages; the slack after it is given
 * back (the page past its end is not mapped). */
static void test_ram_alignment(void)
{
	struct mem_config cfg = { .size = (64ULL << 20) + 4096,
				  .numa_node = -1 };
	struct guest_mem mem;
	uint8_t *p;

	for (int shared = 0; shared < 2; shared++) {
		cfg.shared = shared;
		for (int i = 0; i < 4; i++) {
			CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
			p = mem.base;
			CHECK_EQ((uintptr_t)p & ((2u << 20) - 1), 0);
			p[0] = 1;
			p[cfg.size - 1] = 2;
			CHECK(msync(p + ((cfg.size + 4095) & ~4095ULL), 4096,
				    MS_ASYNC) < 0 && errno == ENOMEM);
			guest_mem_destroy(&mem);
		}
	}
}

static char *write_tmp(const void *data, size_t len)
{
	char *path = strdup("/tmp/tern-test-XXXXXX");
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_load(void)
{
	static uint8_t img[IMG_LEN];
	struct mem_config cfg = { .size = 128ULL << 20, .numa_node = -1 };
	struct boot_config boot = { .cmdline = "console=ttyS0 quiet",
				    .rsdp_addr = 0xe0000 };
	static uint8_t initrd[3 << 20];
	struct boot_params *zp;
	struct guest_mem mem;
	char *kpath, *ipath, *bigpath;
	uint64_t rip = 0;
	static char longcmd[4096];

	make_image(img);
	memset(initrd, 0x5a, sizeof(initrd));
	kpath = write_tmp(img, IMG_LEN);
	ipath = write_tmp(initrd, sizeof(initrd));
	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);

	boot.kernel = kpath;
	boot.initramfs = ipath;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), 0);
	CHECK_EQ(rip, 0x1000200);
	CHECK_MEM(guest_mem_ptr(&mem, 0x1000000, 4096), img + 1024, 4096);
	zp = guest_mem_ptr(&mem, BOOT_ZERO_PAGE, sizeof(*zp));
	CHECK_EQ(zp->hdr.type_of_loader, 0xff);
	CHECK_EQ(zp->hdr.cmd_line_ptr, BOOT_CMDLINE);
	CHECK_STR((char *)guest_mem_ptr(&mem, BOOT_CMDLINE, 1),
		  "console=ttyS0 quiet");
	CHECK_EQ(zp->acpi_rsdp_addr, 0xe0000);
	CHECK_EQ(zp->hdr.ramdisk_size, sizeof(initrd));
	CHECK_EQ(zp->hdr.ramdisk_image & 0xfff, 0);
	CHECK(zp->hdr.ramdisk_image >= 0x1000000 + 0x400000);
	CHECK(zp->hdr.ramdisk_image + sizeof(initrd) <= (128u << 20));
	CHECK_MEM(guest_mem_ptr(&mem, zp->hdr.ramdisk_image, sizeof(initrd)),
		  initrd, sizeof(initrd));
	CHECK_EQ(zp->e820_entries, 4);
	/* Identity map: PML4[0] -> PDPT, PD entry 8 maps 16 MiB. */
	CHECK_EQ(*(uint64_t *)guest_mem_ptr(&mem, BOOT_PML4, 8),
		 (BOOT_PML4 + 0x1000) | 3);
	CHECK_EQ(*(uint64_t *)guest_mem_ptr(&mem, BOOT_PML4 + 0x2000 + 8 * 8, 8),
		 (8ULL << 21) | 0x83);

	/* The reset vector asks for a reset through 0xCF9. */
	CHECK_MEM(guest_mem_ptr(&mem, BOOT_RESET_VECTOR, 6),
		  "\xba\xf9\x0c\xb0\x06\xee", 6);

	/* Command line longer than the kernel takes. */
	memset(longcmd, 'a', sizeof(longcmd) - 1);
	boot.cmdline = longcmd;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -E2BIG);
	boot.cmdline = "";

	/* Missing files. */
	boot.kernel = "/nonexistent/bzImage";
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -ENOENT);
	boot.kernel = kpath;
	boot.initramfs = "/nonexistent/initrd";
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -ENOENT);

	/* An initrd that cannot fit above the kernel in 128 MiB. */
	{
		static uint8_t big[110 << 20];

		bigpath = write_tmp(big, sizeof(big));
		boot.initramfs = bigpath;
		CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -E2BIG);
		unlink(bigpath);
		free(bigpath);
	}
	/* A kernel whose init_size does not fit in RAM. */
	((struct setup_header *)(img + 0x1f1))->init_size = 200 << 20;
	unlink(kpath);
	free(kpath);
	kpath = write_tmp(img, IMG_LEN);
	boot.kernel = kpath;
	boot.initramfs = NULL;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -E2BIG);
	/* Not a kernel at all. */
	boot.kernel = ipath;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -ENOEXEC);

	guest_mem_destroy(&mem);
	unlink(kpath);
	unlink(ipath);
	free(kpath);
	free(ipath);
}

static void test_load_elf(void)
{
	static uint8_t img[ELF_LEN];
	struct mem_config cfg = { .size = 64ULL << 20, .numa_node = -1 };
	struct boot_config boot = { .cmdline = "console=ttyS0" };
	static uint8_t initrd[1 << 20];
	struct boot_params *zp;
	struct guest_mem mem;
	char *kpath, *ipath;
	uint64_t rip = 0;
	static char longcmd[2100];
	uint8_t *bss;

	make_elf(img);
	memset(initrd, 0x3c, sizeof(initrd));
	kpath = write_tmp(img, ELF_LEN);
	ipath = write_tmp(initrd, sizeof(initrd));
	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	/* The bss must come back zero on a reload into used RAM. */
	memset(guest_mem_ptr(&mem, 0x1200000, 0x3000), 0xee, 0x3000);

	boot.kernel = kpath;
	boot.initramfs = ipath;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), 0);
	CHECK_EQ(rip, 0x1000000);			/* e_entry, no +0x200 */
	CHECK_MEM(guest_mem_ptr(&mem, 0x1000000, 0x1000), img + 0x1000, 0x1000);
	CHECK_MEM(guest_mem_ptr(&mem, 0x1200000, 0x800), img + 0x2000, 0x800);
	bss = guest_mem_ptr(&mem, 0x1200800, 0x2800);
	CHECK(bss[0] == 0 && !memcmp(bss, bss + 1, 0x2800 - 1));
	zp = guest_mem_ptr(&mem, BOOT_ZERO_PAGE, sizeof(*zp));
	CHECK_EQ(zp->hdr.boot_flag, 0xaa55);
	CHECK_EQ(zp->hdr.header, 0x53726448);
	CHECK_EQ(zp->hdr.version, 0x020f);
	CHECK_EQ(zp->hdr.type_of_loader, 0xff);
	CHECK_EQ(zp->hdr.loadflags & LOADED_HIGH, LOADED_HIGH);
	CHECK_EQ(zp->hdr.cmd_line_ptr, BOOT_CMDLINE);
	CHECK_STR((char *)guest_mem_ptr(&mem, BOOT_CMDLINE, 1), "console=ttyS0");
	CHECK_EQ(zp->hdr.ramdisk_size, sizeof(initrd));
	CHECK(zp->hdr.ramdisk_image >= 0x1203000);
	CHECK(zp->hdr.ramdisk_image + sizeof(initrd) <= (64u << 20));
	CHECK_MEM(guest_mem_ptr(&mem, zp->hdr.ramdisk_image, sizeof(initrd)),
		  initrd, sizeof(initrd));
	CHECK_EQ(zp->e820_entries, 4);

	/* x86's command line is 2048 bytes with its NUL. */
	memset(longcmd, 'b', 2048);
	boot.cmdline = longcmd;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -E2BIG);
	longcmd[2047] = 0;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), 0);
	boot.cmdline = "";

	/* An ELF that is not a vmlinux is refused with -ENOEXEC. */
	((Elf64_Ehdr *)img)->e_machine = EM_AARCH64;
	unlink(kpath);
	free(kpath);
	kpath = write_tmp(img, ELF_LEN);
	boot.kernel = kpath;
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -ENOEXEC);
	guest_mem_destroy(&mem);

	/* A kernel that ends above RAM. */
	make_elf(img);
	unlink(kpath);
	free(kpath);
	kpath = write_tmp(img, ELF_LEN);
	boot.kernel = kpath;
	boot.initramfs = NULL;
	cfg.size = 16ULL << 20;
	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	CHECK_EQ(boot_load_linux(&mem, &boot, &rip), -E2BIG);
	guest_mem_destroy(&mem);

	unlink(kpath);
	unlink(ipath);
	free(kpath);
	free(ipath);
}

static void test_cpu_state(void)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	memset(&s, 0, sizeof(s));
	boot_cpu_state(0x1000200, &r, &s);
	CHECK_EQ(r.rip, 0x1000200);
	CHECK_EQ(r.rsi, BOOT_ZERO_PAGE);
	CHECK_EQ(s.cs.selector, 0x10);	/* __BOOT_CS */
	CHECK_EQ(s.cs.l, 1);
	CHECK_EQ(s.ds.selector, 0x18);	/* __BOOT_DS */
	CHECK_EQ(s.efer & 0x500, 0x500);
	CHECK_EQ(s.cr0 & 0x80000001, 0x80000001);
}

int main(void)
{
	test_parse();
	test_parse_elf();
	test_e820();
	test_ram_alignment();
	test_load();
	test_load_elf();
	test_cpu_state();
	return check_done("test_boot");
}
