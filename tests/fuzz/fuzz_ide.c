/* libFuzzer target: register sequences on the PIIX IDE model (block/ide.c)
 * with its real I/O threads, two small images and a guest whose RAM the
 * input fills (PRD tables, data). Each input gets a fresh controller; its
 * threads are joined before the next one, so nothing outlives an input.
 * Checked: no crash or sanitizer report, guest RAM accessed only inside
 * (guard pages around it), the images never grow, and no host I/O error
 * (UNC) ever reaches the guest: the images are intact, so one would mean
 * the model asked for something past their end.
 *
 * Input layout:
 *   0      drive layout: bits 0-1 the position of image A, bits 2-3 that
 *          of image B (the same position: B is left out); bit 4: B is a
 *          CD-ROM (ATAPI, PACKET commands) on a read-only image
 *   1..2   n (little endian): bytes for guest RAM, at most 16 KiB
 *   3..    those n bytes, copied to guest address 0; then steps of 6:
 *          0     bits 0-1 block (0 command, 1 control, 2 bus master,
 *                3 special), bit 2 channel, bits 3-5 offset, bit 6 write
 *          1..4  value (little endian)
 *          5     bits 0-1 width (1, 2, 4, 8 bytes), bits 2-7 repeat - 1
 *   special: offset 0 waits (bounded) until the channel is not busy,
 *   1 is a VM reset, 2 writes the value to guest RAM at 4 KiB * byte 5.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/ide.h"
#include "core/memory.h"
#include "tests/fuzz/fuzz.h"

#define RAM_SIZE (1ULL << 20)
#define RAM_FILL (16u << 10)
#define IMG_SECTORS 128
#define HDR 3
#define STEP 6
#define MAX_STEPS 512

static struct guest_mem fz_mem;
static struct blk_image fz_img[3];	/* disks A, B; C a CD-ROM */
static struct {
	unsigned long inputs, steps, waits_timed_out;
} fz_stats;


/* A 64 KiB image, unlinked at once: it lives as long as the process. */
static void fz_image(struct blk_image *img, bool ro)
{
	const char *dir = getenv("TMPDIR");
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/tern-fuzz-ide-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	FZ_ASSERT(fd >= 0);
	FZ_ASSERT(ftruncate(fd, IMG_SECTORS * 512) == 0);
	close(fd);
	FZ_ASSERT(blk_image_open(img, path, ro, false) == 0);
	unlink(path);
}

/* Guest RAM between two PROT_NONE pages, as in fuzz_virtq.c. */
static void fz_setup(void)
{
	struct mem_config cfg = { .size = RAM_SIZE, .numa_node = -1 };
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
	fz_image(&fz_img[0], false);
	fz_image(&fz_img[1], false);
	fz_image(&fz_img[2], true);
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Up to ~5 ms for the channel to stop being busy (0xff: nothing there). */
static void fz_wait(struct ide_chan *c)
{
	struct timespec ts = { 0, 50000 };
	uint8_t st;

	for (int i = 0; i < 100; i++) {
		ide_ctl_ops.read(c, 0, &st, 1);
		if (!(st & 0x80) || st == 0xff)
			return;
		nanosleep(&ts, NULL);
	}
	fz_stats.waits_timed_out++;
}

static void fz_check(struct ide *ide)
{
	for (int n = 0; n < IDE_CHANNELS; n++) {
		struct ide_chan *c = &ide->chan[n];
		uint8_t err, key = 0;
		bool packet;

		pthread_mutex_lock(&c->lock);
		err = c->error;
		packet = c->cur && c->cur->atapi && c->cmd == 0xa0;
		for (int i = 0; i < 2; i++)
			if (c->drive[i].atapi && c->drive[i].cd.key == 0x03)
				key = 0x03;
		pthread_mutex_unlock(&c->lock);
		/* UNC, and an ATAPI MEDIUM ERROR, only come from a failed
		 * host read. (After PACKET the error register holds a sense
		 * key: ILLEGAL REQUEST sets the same bit as UNC.) */
		FZ_ASSERT(packet || !(err & 0x40));
		FZ_ASSERT(key != 0x03);
	}
}

static void fz_step(struct ide *ide, const uint8_t *s)
{
	struct ide_chan *c = &ide->chan[(s[0] >> 2) & 1];
	unsigned int block = s[0] & 3, off = (s[0] >> 3) & 7;
	bool write = s[0] & 0x40;
	uint32_t len = 1u << (s[5] & 3), value = rd32(s + 1);
	unsigned int repeat = (s[5] >> 2) + 1u;
	const struct bus_ops *ops;
	uint8_t buf[8];

	if (block == 3) {
		if (off == 1)
			ide_reset(ide);
		else if (off == 2)
			memcpy(fz_mem.base + (uint64_t)s[5] * 4096, s + 1, 4);
		else
			fz_wait(c);
		return;
	}
	ops = block == 0 ? &ide_cmd_ops : block == 1 ? &ide_ctl_ops
						     : &ide_bm_ops;
	for (unsigned int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(value >> (8 * (i % 4)));
	for (unsigned int i = 0; i < repeat; i++) {
		if (write)
			ops->write(c, off, buf, len);
		else
			ops->read(c, off, buf, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ide_host host = { .mem = &fz_mem };
	struct blk_image *drives[IDE_DRIVES] = { NULL };
	static struct ide ide;
	unsigned int a, b, steps = 0;
	size_t n, pos;
	struct stat st;

	if (!fz_mem.base)
		fz_setup();
	if (size < HDR)
		return 0;
	a = data[0] & 3;
	b = (data[0] >> 2) & 3;
	drives[a] = &fz_img[0];
	if (b != a)
		drives[b] = &fz_img[(data[0] & 0x10) ? 2 : 1];
	n = (size_t)(data[1] | data[2] << 8);
	if (n > RAM_FILL)
		n = RAM_FILL;
	if (n > size - HDR)
		n = size - HDR;
	memset(fz_mem.base, 0, RAM_FILL);
	memcpy(fz_mem.base, data + HDR, n);

	FZ_NEVER(ide_create(&ide, "fuzz", &host, drives));
	FZ_NEVER(b != a && (data[0] & 0x10) && ide_set_atapi(&ide, b));
	FZ_NEVER(ide_start(&ide));
	fz_stats.inputs++;
	for (pos = HDR + n; pos + STEP <= size && steps < MAX_STEPS;
	     pos += STEP, steps++) {
		fz_step(&ide, data + pos);
		fz_check(&ide);
	}
	fz_stats.steps += steps;
	/* Let what is out finish before the last check; destroy drains
	 * whatever a guest left waiting longer. */
	fz_wait(&ide.chan[0]);
	fz_wait(&ide.chan[1]);
	fz_check(&ide);
	ide_destroy(&ide);
	for (int i = 0; i < 2; i++) {
		FZ_ASSERT(fstat(fz_img[i].fd, &st) == 0);
		FZ_ASSERT(st.st_size == IMG_SECTORS * 512);
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_ide: %u inputs ran clean (%lu steps, %lu "
		"bounded waits ran out)\n", runs, fz_stats.steps,
		fz_stats.waits_timed_out);
}
#include "replay.h"
#endif
