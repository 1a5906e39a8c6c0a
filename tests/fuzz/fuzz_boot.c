/* Fuzz target: the direct kernel boot's loader (core/boot.c) on a kernel
 * file of any content: bzImage setup headers (boot protocol 2.06 and
 * later) and ELF vmlinux program headers, loaded into 64 MiB of guest RAM
 * with a 64 KiB initramfs and a short command line, as --kernel and
 * --initramfs do it. The input is the kernel file.
 *
 * Checked: no crash or access outside the file or guest RAM (ASan); the
 * load succeeds or fails with -ENOEXEC (not a kernel tern boots, said
 * why) or -E2BIG (does not fit); after a success the entry point, the
 * initramfs and the command line are inside guest RAM and the zero page
 * says where the initramfs is. */
#include "core/boot.h"
#include "core/log.h"
#include "core/memory.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FZ_RAM (64u << 20)
#define FZ_INITRD (64u << 10)

static struct {
	bool ready;
	struct guest_mem mem;
	int kernel_fd, initrd_fd;
	char kernel[32], initrd[32];
	unsigned long loaded, refused, too_big;
} fz;

static void fz_setup(void)
{
	struct mem_config mc = { .size = FZ_RAM, .numa_node = -1 };
	static uint8_t initrd[FZ_INITRD];

	FZ_NEVER(guest_mem_create(&fz.mem, &mc));
	fz.kernel_fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	fz.initrd_fd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	FZ_NEVER(fz.kernel_fd < 0 || fz.initrd_fd < 0);
	memset(initrd, 0x17, sizeof(initrd));
	FZ_NEVER(write(fz.initrd_fd, initrd, sizeof(initrd)) !=
		 sizeof(initrd));
	snprintf(fz.kernel, sizeof(fz.kernel), "/proc/self/fd/%d",
		 fz.kernel_fd);
	snprintf(fz.initrd, sizeof(fz.initrd), "/proc/self/fd/%d",
		 fz.initrd_fd);
	fz.ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_config cfg = { .initramfs = NULL,
				   .cmdline = "console=ttyS0",
				   .rsdp_addr = 0xe0000 };
	const struct boot_params *zp;
	uint64_t low, rip = 0;
	int ret;

	if (!size)
		return 0;		/* an empty file: refused before parsing */
	log_set_level(LOG_ERR);
	if (!fz.ready)
		fz_setup();
	FZ_NEVER(ftruncate(fz.kernel_fd, 0) ||
		 pwrite(fz.kernel_fd, data, size, 0) != (ssize_t)size);
	cfg.kernel = fz.kernel;
	cfg.initramfs = fz.initrd;
	ret = boot_load_linux(&fz.mem, &cfg, &rip);
	FZ_ASSERT(ret == 0 || ret == -ENOEXEC || ret == -E2BIG);
	if (ret) {
		fz.refused += ret == -ENOEXEC;
		fz.too_big += ret == -E2BIG;
		return 0;
	}
	fz.loaded++;
	low = guest_mem_low_size(&fz.mem);
	zp = guest_mem_ptr(&fz.mem, BOOT_ZERO_PAGE, sizeof(*zp));
	FZ_ASSERT(rip >= BOOT_HIGH_START && rip < low);
	FZ_ASSERT(zp->hdr.ramdisk_size == FZ_INITRD &&
		  zp->hdr.ramdisk_image >= BOOT_HIGH_START &&
		  (uint64_t)zp->hdr.ramdisk_image + FZ_INITRD <= low);
	FZ_ASSERT(!strcmp(guest_mem_ptr(&fz.mem, BOOT_CMDLINE, 14),
			  "console=ttyS0"));
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr,
		"fuzz_boot: %u inputs ran clean (%lu loaded, %lu refused, "
		"%lu too big)\n",
		runs, fz.loaded, fz.refused, fz.too_big);
}
#include "replay.h"
#endif
