/* libFuzzer target: fw_cfg (platform/fw_cfg.c) port accesses and DMA
 * descriptors in guest RAM the input fills, with the files a firmware
 * boot has (ACPI tables and the table-loader script among them). Checked:
 * no crash or sanitizer report, guest RAM touched only inside (guard pages
 * around it), the items never change (nothing is writable), and a
 * completed descriptor's control word is 0 or ERROR.
 *
 * Input layout:
 *   0..1   n (little endian): bytes for guest RAM, at most 16 KiB
 *   2..    those n bytes, copied to guest address 0; then steps of 8:
 *          0     op: 0 select (value), 1 data reads (value & 0xff of
 *                them), 2 DMA address high, 3 DMA address low (starts a
 *                transfer), 4 a descriptor at value written from the next
 *                16 bytes of RAM at 0x3000 and run, 5 any port access
 *                (byte 1 offset 0..15, byte 2 width 1..4, bit 7 of byte 1
 *                a write), 6 poke the value into RAM at byte 1 * 64
 *          1..3  arguments as above
 *          4..7  value (little endian)
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "platform/acpi_loader.h"
#include "core/bytes.h"
#include "platform/fw_cfg.h"
#include "core/memory.h"
#include "tests/fuzz/fuzz.h"

#define RAM_SIZE (64u << 10)
#define RAM_FILL (16u << 10)
#define HDR 2
#define STEP 8
#define MAX_STEPS 1024

static struct guest_mem fz_mem;
static struct fw_cfg fz_fw;
static uint8_t *fz_snapshot[FW_CFG_MAX_ITEMS];
static struct {
	unsigned long inputs, steps, dma_ok, dma_error;
} fz_stats;

/* Guest RAM between two PROT_NONE pages, as in fuzz_virtq.c; the items a
 * firmware boot carries, kept for the whole run (a fresh selection per
 * input). */
static void fz_setup(void)
{
	struct mem_config cfg = { .size = RAM_SIZE, .numa_node = -1 };
	struct acpi_config acfg = {
		.cpus = { 1, 2, 1, 1 }, .ioapic_addr = 0xfec00000, .ioapic_id = 2,
		.sleep_ctl_port = 0x600, .sleep_sts_port = 0x601,
		.reset_port = 0xcf9, .reset_value = 6,
		.pci_mmio32_base = 0xc0000000, .pci_mmio32_size = 0x3ec00000,
		.pci_slots = 32, .pci_intx_gsi_base = 16,
		.rtc_century_index = 0x32, .pc = 1, .pm_base = 0x600,
		.sci_irq = 9, .pirq_irq = { 10, 10, 11, 11 },
	};
	uint8_t e820[40] = { 0 }, v[4];
	uint8_t *win;
	void *p;

	FZ_ASSERT(guest_mem_create(&fz_mem, &cfg) == 0);
	win = mmap(NULL, RAM_SIZE + 2 * 4096, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FZ_ASSERT(win != MAP_FAILED);
	p = mremap(fz_mem.base, RAM_SIZE, RAM_SIZE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, win + 4096);
	FZ_ASSERT(p == win + 4096);
	fz_mem.base = p;
	fz_mem.regions[0].hva = p;

	FZ_ASSERT(fw_cfg_init(&fz_fw, "fw_cfg", &fz_mem) == 0);
	put_le64(e820 + 8, RAM_SIZE);
	put_le32(e820 + 16, 1);
	FZ_ASSERT(fw_cfg_add_file(&fz_fw, "etc/e820", e820, 20) == 0);
	FZ_ASSERT(acpi_loader_install(&fz_fw, &acfg) == 0);
	put_le32(v, 2);
	FZ_ASSERT(fw_cfg_add_item(&fz_fw, FW_CFG_NB_CPUS, v, 2) == 0);
	FZ_ASSERT(fw_cfg_add_file(&fz_fw, "etc/boot-fail-wait", v, 4) == 0);
	FZ_ASSERT(fw_cfg_add_file(&fz_fw, "empty", NULL, 0) == 0);
	for (unsigned int i = 0; i < fz_fw.nitems; i++) {
		fz_snapshot[i] = malloc(fz_fw.items[i].len + 1);
		FZ_ASSERT(fz_snapshot[i]);
		if (fz_fw.items[i].len)
			memcpy(fz_snapshot[i], fz_fw.items[i].data,
			       fz_fw.items[i].len);
	}
}

static void fz_check(void)
{
	for (unsigned int i = 0; i < fz_fw.nitems; i++)
		FZ_ASSERT(!fz_fw.items[i].len ||
			  !memcmp(fz_snapshot[i], fz_fw.items[i].data,
				  fz_fw.items[i].len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n, steps;
	uint8_t v[4];

	if (!fz_mem.base)
		fz_setup();
	fz_stats.inputs++;
	if (size < HDR)
		return 0;
	n = get_le16(data);
	if (n > RAM_FILL)
		n = RAM_FILL;
	if (n > size - HDR)
		n = size - HDR;
	memset(fz_mem.base, 0, RAM_SIZE);
	memcpy(fz_mem.base, data + HDR, n);
	data += HDR + n;
	size -= HDR + n;
	/* A fresh selection and DMA address per input. */
	fw_cfg_ops.write(&fz_fw, 0, (uint8_t[]){ 0xff, 0xff }, 2);
	fz_fw.dma_addr = 0;

	steps = size / STEP;
	if (steps > MAX_STEPS)
		steps = MAX_STEPS;
	for (size_t s = 0; s < steps; s++, data += STEP) {
		uint32_t val = get_le32(data + 4);

		switch (data[0] % 7) {
		case 0:
			put_le16(v, (uint16_t)val);
			fw_cfg_ops.write(&fz_fw, 0, v, 2);
			break;
		case 1:
			for (uint32_t i = 0; i < (val & 0xff); i++)
				fw_cfg_ops.read(&fz_fw, 1, v, 1);
			break;
		case 2:
		case 3:
			put_be32(v, val);
			fw_cfg_ops.write(&fz_fw, data[0] % 7 == 2 ? 4 : 8, v, 4);
			break;
		case 4: {
			uint64_t at = val % (RAM_SIZE + 64);
			uint8_t *d = guest_mem_ptr(&fz_mem, at, 16);
			int ret;

			/* The descriptor may overlap the template it is
			 * copied from. */
			if (d)
				memmove(d, (uint8_t *)fz_mem.base + 0x3000, 16);
			ret = fw_cfg_dma(&fz_fw, at);
			if (d) {
				uint32_t ctl = get_be32(d);

				FZ_ASSERT(ctl == 0 || ctl == FW_CFG_DMA_ERROR);
				FZ_ASSERT((ret != 0) == (ctl != 0));
			}
			if (ret)
				fz_stats.dma_error++;
			else
				fz_stats.dma_ok++;
			break;
		}
		case 5: {
			uint32_t off = data[1] & 15, len = 1 + data[2] % 4;
			uint8_t buf[4];

			put_le32(buf, val);
			if (data[1] & 0x80)
				fw_cfg_ops.write(&fz_fw, off, buf, len);
			else
				fw_cfg_ops.read(&fz_fw, off, buf, len);
			break;
		}
		case 6: {
			uint32_t at = (uint32_t)data[1] * 64;

			put_le32((uint8_t *)fz_mem.base + at, val);
			break;
		}
		}
	}
	fz_stats.steps += steps;
	fz_check();
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_fw_cfg: %u inputs ran clean (%lu steps, %lu "
		"transfers done, %lu ended in ERROR)\n", runs, fz_stats.steps,
		fz_stats.dma_ok, fz_stats.dma_error);
}
#include "replay.h"
#endif
