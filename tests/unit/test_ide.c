/* The PIIX IDE model against a fake host: guest RAM from guest_mem_create,
 * interrupt lines that record their levels, sparse temporary images, and
 * the register sequences libata uses (device probing, soft reset,
 * IDENTIFY, PIO sector and multiple transfers, LBA48, bus-master DMA with
 * PRD tables, flush). Then what a hostile guest can do: PRD entries and
 * tables outside RAM, odd counts, tables without an end or shorter than
 * the transfer, sectors past the end, unknown commands, data port accesses
 * without DRQ or of odd widths, writes to a read-only disk, a host I/O
 * error. The I/O threads are real: completions are awaited by polling the
 * alternate status, bounded. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/ide.h"
#include "core/memory.h"
#include "tests/unit/check.h"

#define RAM_SIZE (4u << 20)
#define BIG_SECTORS ((1ULL << 28) + 2048)	/* past LBA28's reach */
#define SMALL_SECTORS 4096ULL
#define RO_SECTORS 256ULL

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_READY 0x50
#define ST_BSY 0x80
#define ERR_ABRT 0x04
#define ERR_IDNF 0x10
#define ERR_UNC 0x40
#define BM_ACTIVE 0x01
#define BM_ERR 0x02
#define BM_INTR 0x04

struct irq_rec {
	int level[2];
	unsigned int rises[2];
};

struct fx {
	struct guest_mem mem;
	struct blk_image img[3];	/* big, small, read-only */
	struct ide ide;
	struct irq_rec irq;
	struct ide_chan *pri, *sec;
};

static int rec_set(void *opaque, uint32_t gsi, int level)
{
	struct irq_rec *r = opaque;
	unsigned int i = gsi - 14;

	if (i > 1)
		return -EINVAL;
	if (level && !__atomic_load_n(&r->level[i], __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&r->rises[i], 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->level[i], level, __ATOMIC_SEQ_CST);
	return 0;
}

static int level(struct fx *f, unsigned int ch)
{
	return __atomic_load_n(&f->irq.level[ch], __ATOMIC_SEQ_CST);
}

static unsigned int rises(struct fx *f, unsigned int ch)
{
	return __atomic_load_n(&f->irq.rises[ch], __ATOMIC_SEQ_CST);
}

/* --- port access -------------------------------------------------------- */

static uint8_t in8(struct ide_chan *c, unsigned int off)
{
	uint8_t v;

	ide_cmd_ops.read(c, off, &v, 1);
	return v;
}

static void out8(struct ide_chan *c, unsigned int off, uint8_t v)
{
	ide_cmd_ops.write(c, off, &v, 1);
}

static uint16_t in16(struct ide_chan *c)
{
	uint8_t b[2];

	ide_cmd_ops.read(c, 0, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void out16(struct ide_chan *c, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	ide_cmd_ops.write(c, 0, b, 2);
}

static uint8_t alt(struct ide_chan *c)
{
	uint8_t v;

	ide_ctl_ops.read(c, 0, &v, 1);
	return v;
}

static void devctl(struct ide_chan *c, uint8_t v)
{
	ide_ctl_ops.write(c, 0, &v, 1);
}

static uint8_t bm_in(struct ide_chan *c, unsigned int off)
{
	uint8_t v;

	ide_bm_ops.read(c, off, &v, 1);
	return v;
}

static void bm_out(struct ide_chan *c, unsigned int off, uint8_t v)
{
	ide_bm_ops.write(c, off, &v, 1);
}

static void bm_out32(struct ide_chan *c, unsigned int off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	ide_bm_ops.write(c, off, b, 4);
}

/* Polls the alternate status until BSY clears; at most 10 s. */
static uint8_t wait_ready(struct ide_chan *c)
{
	struct timespec ts = { 0, 200000 };
	uint8_t st = 0xff;

	for (int i = 0; i < 50000; i++) {
		st = alt(c);
		if (!(st & ST_BSY))
			return st;
		nanosleep(&ts, NULL);
	}
	CHECK_FAIL_AT(__FILE__, __LINE__, "still busy after 10 s (0x%02x)",
		      st);
	return st;
}

/* Task file for DEV (0 master, 1 slave), LBA addressing. */
static void task(struct ide_chan *c, unsigned int dev, uint64_t lba,
		 uint32_t count, bool ext)
{
	if (ext) {
		out8(c, 2, (uint8_t)(count >> 8));
		out8(c, 3, (uint8_t)(lba >> 24));
		out8(c, 4, (uint8_t)(lba >> 32));
		out8(c, 5, (uint8_t)(lba >> 40));
		out8(c, 6, (uint8_t)(0x40 | dev << 4));
	} else {
		out8(c, 6, (uint8_t)(0xe0 | dev << 4 | ((lba >> 24) & 0x0f)));
	}
	out8(c, 2, (uint8_t)count);
	out8(c, 3, (uint8_t)lba);
	out8(c, 4, (uint8_t)(lba >> 8));
	out8(c, 5, (uint8_t)(lba >> 16));
}

/* A non-data command: waits, checks one interrupt, acknowledges it by
 * reading status, returns that status (error register in *err). */
static uint8_t nodata(struct fx *f, struct ide_chan *c, uint8_t cmd,
		      uint8_t *err)
{
	unsigned int ch = c->index, r = rises(f, ch);
	uint8_t st;

	out8(c, 7, cmd);
	wait_ready(c);
	CHECK_EQ(rises(f, ch), r + 1);
	CHECK_EQ(level(f, ch), 1);
	st = in8(c, 7);
	CHECK_EQ(level(f, ch), 0);
	if (err)
		*err = in8(c, 1);
	return st;
}

static void pattern(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 9) + seed * 7 + 1);
}

static void read_image(struct fx *f, unsigned int img, uint64_t lba,
		       void *buf, size_t len)
{
	ssize_t n = pread(f->img[img].fd, buf, len, (off_t)(lba * 512));

	CHECK_EQ(n, (ssize_t)len);
}

static void write_image(struct fx *f, unsigned int img, uint64_t lba,
			const void *buf, size_t len)
{
	ssize_t n = pwrite(f->img[img].fd, buf, len, (off_t)(lba * 512));

	CHECK_EQ(n, (ssize_t)len);
}

static uint8_t *ram(struct fx *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&f->mem, gpa, len);

	if (!p)
		abort();
	return p;
}

static void prd(struct fx *f, uint64_t table, unsigned int i, uint32_t addr,
		uint32_t count, bool eot)
{
	uint8_t *e = ram(f, table + 8 * i, 8);

	e[0] = (uint8_t)addr;
	e[1] = (uint8_t)(addr >> 8);
	e[2] = (uint8_t)(addr >> 16);
	e[3] = (uint8_t)(addr >> 24);
	e[4] = (uint8_t)count;
	e[5] = (uint8_t)(count >> 8);
	e[6] = 0;
	e[7] = eot ? 0x80 : 0;
}

/* --- tests -------------------------------------------------------------- */

/* libata's presence check (nsect/lbal patterns), the absent slave on the
 * secondary channel, and a controller without drives. */
static void test_probe(struct fx *f)
{
	struct ide_host host = { .mem = &f->mem };
	struct blk_image *none[IDE_DRIVES] = { NULL };
	struct ide empty;

	out8(f->pri, 6, 0xa0);
	out8(f->pri, 2, 0x55);
	out8(f->pri, 3, 0xaa);
	out8(f->pri, 2, 0xaa);
	out8(f->pri, 3, 0x55);
	out8(f->pri, 2, 0x55);
	out8(f->pri, 3, 0xaa);
	CHECK_EQ(in8(f->pri, 2), 0x55);
	CHECK_EQ(in8(f->pri, 3), 0xaa);
	CHECK_EQ(in8(f->pri, 7), ST_READY);
	CHECK_EQ(alt(f->pri), ST_READY);
	CHECK_EQ(in8(f->pri, 6), 0xa0);

	/* Secondary slave is absent: its status reads 00h, the master
	 * answers the shadow registers, and commands go nowhere. */
	out8(f->sec, 6, 0xb0);
	CHECK_EQ(in8(f->sec, 7), 0);
	CHECK_EQ(alt(f->sec), 0);
	out8(f->sec, 2, 0x55);
	CHECK_EQ(in8(f->sec, 2), 0x55);
	out8(f->sec, 7, 0xec);
	CHECK_EQ(alt(f->sec), 0);
	CHECK_EQ(rises(f, 1), 0);
	out8(f->sec, 6, 0xa0);
	CHECK_EQ(in8(f->sec, 7), ST_READY);

	/* Nothing on either channel: the bus floats high. */
	CHECK_EQ(ide_create(&empty, "ide9", &host, none), 0);
	out8(&empty.chan[0], 2, 0x55);
	CHECK_EQ(in8(&empty.chan[0], 2), 0xff);
	CHECK_EQ(in8(&empty.chan[0], 7), 0xff);
	CHECK_EQ(alt(&empty.chan[1]), 0xff);
	CHECK_EQ(in16(&empty.chan[1]), 0xffff);
	ide_destroy(&empty);
}

static void test_reset(struct fx *f)
{
	struct ide_chan *c = f->sec;
	unsigned int r = rises(f, 1);

	out8(c, 2, 0x12);
	out8(c, 3, 0x34);
	out8(c, 6, 0xa0);
	devctl(c, 0x04);			/* SRST */
	CHECK_EQ(alt(c) & ST_BSY, ST_BSY);
	devctl(c, 0x00);
	CHECK_EQ(wait_ready(c), ST_READY);
	CHECK_EQ(in8(c, 2), 1);
	CHECK_EQ(in8(c, 3), 1);
	CHECK_EQ(in8(c, 4), 0);
	CHECK_EQ(in8(c, 5), 0);
	CHECK_EQ(in8(c, 1), 1);			/* diagnostics passed */
	CHECK_EQ(in8(c, 6), 0);
	CHECK_EQ(rises(f, 1), r);		/* no interrupt */

	/* Reset while a read is under way: the result is dropped and the
	 * signature shows once it is back. */
	task(f->pri, 0, 50, 16, false);
	out8(f->pri, 7, 0x20);
	devctl(f->pri, 0x04);
	devctl(f->pri, 0x00);
	CHECK_EQ(wait_ready(f->pri), ST_READY);
	CHECK_EQ(in8(f->pri, 2), 1);
	CHECK_EQ(in8(f->pri, 1), 1);
	CHECK_EQ(level(f, 0), 0);
}

static void read_identify(struct fx *f, struct ide_chan *c, unsigned int dev,
			  uint16_t *w)
{
	unsigned int r = rises(f, c->index);

	out8(c, 6, (uint8_t)(0xa0 | dev << 4));
	out8(c, 7, 0xec);
	CHECK_EQ(wait_ready(c), ST_READY | ST_DRQ);
	CHECK_EQ(rises(f, c->index), r + 1);
	CHECK_EQ(level(f, c->index), 1);
	CHECK_EQ(alt(c), ST_READY | ST_DRQ);
	CHECK_EQ(level(f, c->index), 1);	/* alt status leaves it */
	CHECK_EQ(in8(c, 7), ST_READY | ST_DRQ);
	CHECK_EQ(level(f, c->index), 0);
	/* Words with 16-bit reads, pairs with 32-bit ones. */
	for (int i = 0; i < 256;) {
		if (i % 3 == 0 && i < 255) {
			uint8_t b[4];

			ide_cmd_ops.read(c, 0, b, 4);
			w[i++] = (uint16_t)(b[0] | b[1] << 8);
			w[i++] = (uint16_t)(b[2] | b[3] << 8);
		} else {
			w[i++] = in16(c);
		}
	}
	CHECK_EQ(alt(c), ST_READY);
}

static void ata_string(const uint16_t *w, unsigned int words, char *out)
{
	for (unsigned int i = 0; i < words; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)w[i];
	}
	out[2 * words] = 0;
}

static void test_identify(struct fx *f)
{
	uint16_t w[256];
	char s[41];
	uint8_t sum = 0;

	read_identify(f, f->pri, 0, w);
	CHECK_EQ(w[0], 0x0040);
	CHECK_EQ(w[47], 0x8000 | IDE_MAX_MULT);
	CHECK_EQ(w[49] & 0x0300, 0x0300);	/* LBA, DMA */
	CHECK_EQ(w[53] & 0x0006, 0x0006);
	CHECK_EQ(w[59], 0x0100 | IDE_MAX_MULT);
	CHECK_EQ(w[60] | (uint32_t)w[61] << 16, 0x0fffffff);
	CHECK_EQ(w[63] & 0x0007, 0x0007);
	CHECK_EQ(w[83] & 0xc400, 0x4400);	/* 48-bit */
	CHECK_EQ(w[83] & 0x3000, 0x3000);	/* FLUSH CACHE (EXT) */
	CHECK_EQ(w[86] & 0x3400, 0x3400);
	CHECK_EQ(w[88] & 0x003f, 0x003f);
	CHECK_EQ(w[100] | (uint64_t)w[101] << 16 | (uint64_t)w[102] << 32 |
		 (uint64_t)w[103] << 48, BIG_SECTORS);
	ata_string(w + 27, 20, s);
	CHECK_STR(s, "TERN ATA DISK                           ");
	ata_string(w + 10, 10, s);
	CHECK_STR(s, "test-0              ");
	CHECK_EQ(w[255] & 0xff, 0xa5);
	for (int i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (w[i] & 0xff) + (w[i] >> 8));
	CHECK_EQ(sum, 0);

	read_identify(f, f->pri, 1, w);
	CHECK_EQ(w[60] | (uint32_t)w[61] << 16, SMALL_SECTORS);
	CHECK_EQ(w[100] | (uint64_t)w[101] << 16, SMALL_SECTORS);
	ata_string(w + 10, 10, s);
	CHECK_STR(s, "test-1              ");
	out8(f->pri, 6, 0xa0);
}

/* nIEN keeps the line low; clearing it with an interrupt pending raises
 * the line; the bus master's interrupt bit latches the rise and is write
 * one to clear. */
static void test_nien(struct fx *f)
{
	struct ide_chan *c = f->pri;
	unsigned int r = rises(f, 0);

	bm_out(c, 2, BM_INTR | BM_ERR);
	CHECK_EQ(bm_in(c, 2) & BM_INTR, 0);
	devctl(c, 0x02);
	out8(c, 6, 0xa0);
	out8(c, 7, 0xe1);			/* IDLE IMMEDIATE */
	CHECK_EQ(wait_ready(c), ST_READY);
	CHECK_EQ(level(f, 0), 0);
	CHECK_EQ(rises(f, 0), r);
	CHECK_EQ(bm_in(c, 2) & BM_INTR, 0);
	devctl(c, 0x00);
	CHECK_EQ(level(f, 0), 1);
	CHECK_EQ(rises(f, 0), r + 1);
	CHECK_EQ(bm_in(c, 2) & BM_INTR, BM_INTR);
	bm_out(c, 2, BM_INTR);
	CHECK_EQ(bm_in(c, 2) & BM_INTR, 0);
	CHECK_EQ(in8(c, 7), ST_READY);
	CHECK_EQ(level(f, 0), 0);
	/* Setting nIEN lowers a raised line. */
	out8(c, 7, 0xe1);
	wait_ready(c);
	CHECK_EQ(level(f, 0), 1);
	devctl(c, 0x02);
	CHECK_EQ(level(f, 0), 0);
	in8(c, 7);
	devctl(c, 0x00);
	CHECK_EQ(level(f, 0), 0);
}

/* One PIO-in data phase: waits for DRQ, checks that exactly one interrupt
 * came since R (the count before whatever started the block), moves LEN
 * bytes in 16- or 32-bit units. Returns the count before the last data
 * read, which starts the next block. */
static unsigned int pio_in(struct fx *f, struct ide_chan *c, uint8_t *buf,
			   size_t len, bool wide, unsigned int r)
{
	CHECK_EQ(wait_ready(c), ST_READY | ST_DRQ);
	CHECK_EQ(rises(f, c->index), r + 1);
	CHECK_EQ(in8(c, 7), ST_READY | ST_DRQ);
	r = rises(f, c->index);
	for (size_t i = 0; i < len; i += wide ? 4 : 2)
		ide_cmd_ops.read(c, 0, buf + i, wide ? 4 : 2);
	return r;
}

static void pio_out(struct ide_chan *c, const uint8_t *buf, size_t len,
		    bool wide)
{
	CHECK_EQ(alt(c), ST_READY | ST_DRQ);
	for (size_t i = 0; i < len; i += wide ? 4 : 2)
		ide_cmd_ops.write(c, 0, buf + i, wide ? 4 : 2);
}

/* After the last PIO-out block: the completion interrupt. */
static void pio_out_end(struct fx *f, struct ide_chan *c, unsigned int r)
{
	CHECK_EQ(wait_ready(c), ST_READY);
	CHECK_EQ(rises(f, c->index), r + 1);
	CHECK_EQ(in8(c, 7), ST_READY);
}

static void test_pio(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint8_t data[3 * 512], back[3 * 512], img[3 * 512];
	unsigned int r;

	pattern(data, sizeof(data), 1);
	task(c, 0, 10, 3, false);
	r = rises(f, 0);
	out8(c, 7, 0x30);			/* WRITE SECTORS */
	CHECK_EQ(alt(c), ST_READY | ST_DRQ);
	CHECK_EQ(rises(f, 0), r);		/* no interrupt for the first */
	pio_out(c, data, 512, false);
	for (int s = 1; s < 3; s++) {
		CHECK_EQ(wait_ready(c), ST_READY | ST_DRQ);
		CHECK_EQ(rises(f, 0), r + 1);
		CHECK_EQ(in8(c, 7), ST_READY | ST_DRQ);
		r = rises(f, 0);
		pio_out(c, data + 512 * s, 512, s == 2);
	}
	pio_out_end(f, c, r);
	read_image(f, 0, 10, img, sizeof(img));
	CHECK_MEM(img, data, sizeof(data));
	/* Neighbours untouched (the image was zero). */
	read_image(f, 0, 9, img, 512);
	CHECK_EQ(img[0] | img[511], 0);
	read_image(f, 0, 13, img, 512);
	CHECK_EQ(img[0] | img[511], 0);

	task(c, 0, 10, 3, false);
	r = rises(f, 0);
	out8(c, 7, 0x20);			/* READ SECTORS */
	for (int s = 0; s < 3; s++)
		r = pio_in(f, c, back + 512 * s, 512, s == 1, r);
	CHECK_EQ(alt(c), ST_READY);
	CHECK_EQ(rises(f, 0), r);		/* none after the last block */
	CHECK_MEM(back, data, sizeof(data));

	/* Count 0 means 256 sectors. */
	pattern(img, 512, 9);
	write_image(f, 0, 1000 + 255, img, 512);
	task(c, 0, 1000, 0, false);
	r = rises(f, 0);
	out8(c, 7, 0x20);
	for (int s = 0; s < 256; s++)
		r = pio_in(f, c, back, 512, true, r);
	CHECK_MEM(back, img, 512);
	CHECK_EQ(alt(c), ST_READY);
}

static void test_multiple(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint8_t data[10 * 512], back[10 * 512], err;
	static const unsigned int blocks[] = { 4, 4, 2 };
	uint16_t w[256];
	unsigned int r = 0, off = 0;

	out8(c, 6, 0xa0);
	out8(c, 2, 4);
	CHECK_EQ(nodata(f, c, 0xc6, NULL), ST_READY);
	read_identify(f, c, 0, w);
	CHECK_EQ(w[59], 0x0104);
	out8(c, 2, 3);				/* not a power of two */
	CHECK_EQ(nodata(f, c, 0xc6, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);

	pattern(data, sizeof(data), 2);
	task(c, 0, 100, 10, false);
	out8(c, 7, 0xc5);			/* WRITE MULTIPLE */
	for (int b = 0; b < 3; b++) {
		if (b) {
			CHECK_EQ(wait_ready(c), ST_READY | ST_DRQ);
			CHECK_EQ(rises(f, 0), r + 1);
			in8(c, 7);
		}
		r = rises(f, 0);
		pio_out(c, data + off, blocks[b] * 512, b == 1);
		off += blocks[b] * 512;
	}
	pio_out_end(f, c, r);
	read_image(f, 0, 100, back, sizeof(back));
	CHECK_MEM(back, data, sizeof(data));

	memset(back, 0, sizeof(back));
	task(c, 0, 100, 10, true);
	r = rises(f, 0);
	out8(c, 7, 0x29);			/* READ MULTIPLE EXT */
	off = 0;
	for (int b = 0; b < 3; b++) {
		r = pio_in(f, c, back + off, blocks[b] * 512, b == 0, r);
		off += blocks[b] * 512;
	}
	CHECK_EQ(alt(c), ST_READY);
	CHECK_EQ(rises(f, 0), r);
	CHECK_MEM(back, data, sizeof(data));

	/* Multiple mode off: the commands abort. */
	out8(c, 2, 0);
	CHECK_EQ(nodata(f, c, 0xc6, NULL), ST_READY);
	task(c, 0, 100, 1, false);
	CHECK_EQ(nodata(f, c, 0xc4, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	out8(c, 2, IDE_MAX_MULT);
	CHECK_EQ(nodata(f, c, 0xc6, NULL), ST_READY);
}

static void test_lba48(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint64_t lba = (1ULL << 28) + 5;
	uint8_t data[2 * 512], back[2 * 512];
	unsigned int r;

	/* HOB reads return the older byte of each register. */
	task(c, 0, 0x0a0b0c0d0e0fULL, 0x0102, true);
	devctl(c, 0x80);
	CHECK_EQ(in8(c, 2), 0x01);
	CHECK_EQ(in8(c, 3), 0x0c);
	CHECK_EQ(in8(c, 4), 0x0b);
	CHECK_EQ(in8(c, 5), 0x0a);
	devctl(c, 0x00);
	CHECK_EQ(in8(c, 2), 0x02);
	CHECK_EQ(in8(c, 3), 0x0f);
	devctl(c, 0x80);
	out8(c, 2, 0x02);			/* a write clears HOB */
	CHECK_EQ(in8(c, 3), 0x0f);

	pattern(data, sizeof(data), 3);
	task(c, 0, lba, 2, true);
	r = rises(f, 0);
	out8(c, 7, 0x34);			/* WRITE SECTORS EXT */
	pio_out(c, data, 512, true);
	CHECK_EQ(wait_ready(c), ST_READY | ST_DRQ);
	in8(c, 7);
	r = rises(f, 0);
	pio_out(c, data + 512, 512, true);
	pio_out_end(f, c, r);
	read_image(f, 0, lba, back, sizeof(back));
	CHECK_MEM(back, data, sizeof(data));

	memset(back, 0, sizeof(back));
	task(c, 0, lba, 2, true);
	r = rises(f, 0);
	out8(c, 7, 0x24);			/* READ SECTORS EXT */
	r = pio_in(f, c, back, 512, false, r);
	r = pio_in(f, c, back + 512, 512, true, r);
	CHECK_MEM(back, data, sizeof(data));
	CHECK_EQ(alt(c), ST_READY);

	/* The last sector is reachable, the one after is not. */
	task(c, 0, BIG_SECTORS - 1, 1, true);
	r = rises(f, 0);
	out8(c, 7, 0x24);
	pio_in(f, c, back, 512, true, r);
	CHECK_EQ(alt(c), ST_READY);
}

/* A DMA command through the bus master: DIR_TO_MEM for reads. Starts the
 * engine before or after the command. Returns the final status. */
static uint8_t dma(struct fx *f, struct ide_chan *c, uint8_t cmd,
		   uint32_t table, bool to_mem, bool start_first)
{
	unsigned int r = rises(f, c->index);
	uint8_t dir = to_mem ? 0x08 : 0x00, st;

	bm_out(c, 0, 0);
	bm_out(c, 2, BM_INTR | BM_ERR);
	bm_out32(c, 4, table);
	bm_out(c, 0, dir);
	if (start_first)
		bm_out(c, 0, dir | 1);
	out8(c, 7, cmd);
	if (!start_first) {
		CHECK_EQ(alt(c) & ST_BSY, ST_BSY);	/* waits for it */
		bm_out(c, 0, dir | 1);
	}
	wait_ready(c);
	CHECK_EQ(rises(f, c->index), r + 1);
	CHECK_EQ(bm_in(c, 2) & BM_INTR, BM_INTR);
	st = in8(c, 7);
	CHECK_EQ(level(f, c->index), 0);
	return st;
}

static void dma_stop(struct ide_chan *c)
{
	bm_out(c, 0, bm_in(c, 0) & ~1);
	CHECK_EQ(bm_in(c, 2) & BM_ACTIVE, 0);
	bm_out(c, 2, BM_INTR | BM_ERR);
}

static void test_dma(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint8_t data[4 * 512], back[4 * 512], *big;
	uint32_t table = 0x1000;

	/* Write 4 sectors from three pieces: 512, 1024 and 512 bytes. */
	pattern(data, sizeof(data), 4);
	memcpy(ram(f, 0x10000, 512), data, 512);
	memcpy(ram(f, 0x20002, 1024), data + 512, 1024);
	memcpy(ram(f, 0x30000, 512), data + 1536, 512);
	prd(f, table, 0, 0x10000, 512, false);
	prd(f, table, 1, 0x20002, 1024, false);
	prd(f, table, 2, 0x30000, 512, true);
	task(c, 0, 200, 4, false);
	CHECK_EQ(dma(f, c, 0xca, table, false, false), ST_READY);
	CHECK_EQ(bm_in(c, 2) & (BM_ACTIVE | BM_ERR), 0);
	CHECK_EQ(bm_in(c, 4) | bm_in(c, 5) << 8, table);
	dma_stop(c);
	read_image(f, 0, 200, back, sizeof(back));
	CHECK_MEM(back, data, sizeof(data));

	/* Read back with the engine started first, through a table longer
	 * than the transfer: the engine stays active at the interrupt. */
	memset(ram(f, 0x40000, 0x3000), 0, 0x3000);
	prd(f, table, 0, 0x40000, 1536, false);
	prd(f, table, 1, 0x41000, 1024, false);
	prd(f, table, 2, 0x42000, 512, true);
	task(c, 0, 200, 4, true);
	CHECK_EQ(dma(f, c, 0x25, table, true, true), ST_READY);
	CHECK_EQ(bm_in(c, 2) & (BM_ACTIVE | BM_ERR), BM_ACTIVE);
	CHECK_MEM(ram(f, 0x40000, 1536), data, 1536);
	CHECK_MEM(ram(f, 0x41000, 512), data + 1536, 512);
	CHECK_EQ(ram(f, 0x41000, 1024)[512], 0);	/* past the transfer */
	dma_stop(c);

	/* A count of 0 is 64 KiB: 128 sectors in one entry, LBA48 high. */
	big = ram(f, 0x100000, 0x10000);
	pattern(big, 0x10000, 5);
	prd(f, table, 0, 0x100000, 0, true);
	task(c, 0, (1ULL << 28) + 100, 128, true);
	CHECK_EQ(dma(f, c, 0x35, table, false, false), ST_READY);
	dma_stop(c);
	memset(big, 0, 0x10000);
	task(c, 0, (1ULL << 28) + 100, 128, true);
	CHECK_EQ(dma(f, c, 0x25, table, true, false), ST_READY);
	CHECK_EQ(bm_in(c, 2) & BM_ACTIVE, 0);
	dma_stop(c);
	pattern(data, 512, 5);
	CHECK_MEM(big, data, 512);
	read_image(f, 0, (1ULL << 28) + 100 + 127, back, 512);
	CHECK_MEM(back, big + 127 * 512, 512);
}

static void test_flush(struct fx *f)
{
	uint8_t err;

	out8(f->pri, 6, 0xa0);
	CHECK_EQ(nodata(f, f->pri, 0xe7, &err), ST_READY);
	CHECK_EQ(err, 0);
	out8(f->pri, 6, 0xb0);
	CHECK_EQ(nodata(f, f->pri, 0xea, &err), ST_READY);
	CHECK_EQ(err, 0);
	out8(f->pri, 6, 0xa0);
}

/* A READ DMA (or WRITE DMA) of SECTORS at LBA 0 through TABLE that must
 * fail: ERR/ABRT in the task file, ERR in the bus master, engine stopped,
 * an interrupt, and the image untouched for writes. */
static void bad_dma(struct fx *f, uint32_t table, uint32_t sectors,
		    bool write, bool to_mem)
{
	struct ide_chan *c = f->pri;
	uint8_t before[512], after[512];

	read_image(f, 0, 0, before, 512);
	task(c, 0, 0, sectors, false);
	CHECK_EQ(dma(f, c, write ? 0xca : 0xc8, table, to_mem, false),
		 ST_READY | ST_ERR);
	CHECK_EQ(in8(c, 1), ERR_ABRT);
	CHECK_EQ(bm_in(c, 2) & (BM_ACTIVE | BM_ERR), BM_ERR);
	dma_stop(c);
	read_image(f, 0, 0, after, 512);
	CHECK_MEM(before, after, 512);
}

static void test_bad_dma(struct fx *f)
{
	uint32_t table = 0x2000, end_table = RAM_SIZE - 64;

	pattern(ram(f, 0x50000, 0x1000), 0x1000, 6);
	/* An entry pointing outside RAM. */
	prd(f, table, 0, 0x80000000u, 512, true);
	bad_dma(f, table, 1, true, false);
	/* Straddling the end of RAM. */
	prd(f, table, 0, RAM_SIZE - 256, 512, true);
	bad_dma(f, table, 1, false, true);
	/* Odd count, odd address. */
	prd(f, table, 0, 0x50000, 511, false);
	prd(f, table, 1, 0x51000, 1, true);
	bad_dma(f, table, 1, true, false);
	prd(f, table, 0, 0x50001, 512, true);
	bad_dma(f, table, 1, false, true);
	/* The table ends before the transfer does. */
	prd(f, table, 0, 0x50000, 256, true);
	bad_dma(f, table, 1, true, false);
	prd(f, table, 0, 0x50000, 512, false);
	prd(f, table, 1, 0x51000, 512, true);
	bad_dma(f, table, 3, false, true);
	/* No end-of-table bit, running off the end of RAM. */
	for (unsigned int i = 0; i < 8; i++)
		prd(f, end_table, i, 0x50000, 2, false);
	bad_dma(f, end_table, 1, true, false);
	/* The table itself outside RAM. */
	bad_dma(f, 0xfffff000u, 1, false, true);
	/* No end in 8192 entries (16 KiB of 2-byte pieces, 64 sectors). */
	for (unsigned int i = 0; i < IDE_PRD_MAX; i++)
		prd(f, 0x200000, i, 0x50000, 2, false);
	prd(f, 0x200000, IDE_PRD_MAX, 0x50000, 0, true);
	bad_dma(f, 0x200000, 64, false, true);
	/* The engine set for the wrong direction. */
	prd(f, table, 0, 0x50000, 512, true);
	bad_dma(f, table, 1, true, true);
	bad_dma(f, table, 1, false, false);
}

static void test_bad_cmds(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint8_t err, b[8];
	unsigned int r;

	/* Past the end, and running over it. */
	task(c, 1, SMALL_SECTORS, 1, false);
	CHECK_EQ(nodata(f, c, 0x20, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_IDNF);
	task(c, 1, SMALL_SECTORS - 1, 2, false);
	CHECK_EQ(nodata(f, c, 0x30, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_IDNF);
	CHECK_EQ(alt(c) & ST_DRQ, 0);
	task(c, 0, BIG_SECTORS - 1, 2, true);
	CHECK_EQ(nodata(f, c, 0x25, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_IDNF);
	task(c, 0, 0xffffffffffffULL, 0, true);
	CHECK_EQ(nodata(f, c, 0x35, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_IDNF);
	task(c, 0, BIG_SECTORS, 1, true);
	CHECK_EQ(nodata(f, c, 0x42, &err), ST_READY | ST_ERR);	/* VERIFY */
	CHECK_EQ(err, ERR_IDNF);
	task(c, 0, BIG_SECTORS - 1, 1, true);
	CHECK_EQ(nodata(f, c, 0x42, &err), ST_READY);

	/* CHS addressing is refused. */
	out8(c, 6, 0xa0);
	CHECK_EQ(nodata(f, c, 0x20, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);

	/* Unknown commands: NOP, IDENTIFY PACKET DEVICE, vendor ones. */
	CHECK_EQ(nodata(f, c, 0x00, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	CHECK_EQ(nodata(f, c, 0xa1, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	CHECK_EQ(nodata(f, c, 0xff, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	/* A good command after an error clears it. */
	CHECK_EQ(nodata(f, c, 0xe5, &err), ST_READY);	/* CHECK POWER */
	CHECK_EQ(err, 0);
	CHECK_EQ(in8(c, 2), 0xff);

	/* Data port without DRQ: all ones, writes go nowhere. */
	CHECK_EQ(in16(c), 0xffff);
	out16(c, 0x1234);
	CHECK_EQ(alt(c), ST_READY);
	CHECK_EQ(level(f, 0), 0);

	/* Odd widths on the data port end the transfer with an error. */
	out8(c, 7, 0xec);
	CHECK_EQ(wait_ready(c), ST_READY | ST_DRQ);
	in8(c, 7);
	in16(c);
	CHECK_EQ(in8(c, 0), 0xff);
	CHECK_EQ(alt(c), ST_READY | ST_ERR);
	CHECK_EQ(in8(c, 1), ERR_ABRT);
	CHECK_EQ(level(f, 0), 1);
	in8(c, 7);
	ide_cmd_ops.read(c, 0, b, 8);
	CHECK_EQ(b[0] & b[7], 0xff);
	/* Wide accesses to the byte registers are split: an 8-byte read at
	 * 1 covers registers 1..7 and one byte past the block. */
	task(c, 0, 0x030201, 0x44, false);
	ide_cmd_ops.read(c, 1, b, 8);
	CHECK_EQ(b[1], 0x44);
	CHECK_EQ(b[2], 0x01);
	CHECK_EQ(b[4], 0x03);
	CHECK_EQ(b[6], ST_READY | ST_ERR);	/* still from the abort */
	CHECK_EQ(b[7], 0xff);

	/* Read-only disk (secondary master): writes abort, reads work. */
	task(f->sec, 0, 0, 1, false);
	CHECK_EQ(nodata(f, f->sec, 0x30, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	task(f->sec, 0, 0, 1, false);
	CHECK_EQ(nodata(f, f->sec, 0xca, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	task(f->sec, 0, RO_SECTORS - 1, 1, false);
	r = rises(f, 1);
	out8(f->sec, 7, 0x20);
	pio_in(f, f->sec, (uint8_t[512]){ 0 }, 512, true, r);
	CHECK_EQ(alt(f->sec), ST_READY);

	/* Transfer modes: multiword DMA 1 is taken, mode 7 refused. */
	out8(c, 6, 0xa0);
	out8(c, 1, 0x03);
	out8(c, 2, 0x21);
	CHECK_EQ(nodata(f, c, 0xef, NULL), ST_READY);
	{
		uint16_t w[256];

		read_identify(f, c, 0, w);
		CHECK_EQ(w[63], 0x0207);
	}
	out8(c, 1, 0x03);
	out8(c, 2, 0x27);
	CHECK_EQ(nodata(f, c, 0xef, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_ABRT);
	out8(c, 1, 0x82);			/* write cache off: refused */
	CHECK_EQ(nodata(f, c, 0xef, &err), ST_READY | ST_ERR);

	/* A busy channel ignores the command block: a DMA command waits
	 * for the engine, IDENTIFY goes nowhere, a soft reset ends it. */
	bm_out(c, 0, 0);
	bm_out(c, 2, BM_INTR | BM_ERR);
	task(c, 0, 0, 1, false);
	out8(c, 7, 0xc8);
	CHECK_EQ(alt(c) & ST_BSY, ST_BSY);
	out8(c, 7, 0xec);
	out8(c, 2, 0x99);
	CHECK_EQ(alt(c) & (ST_BSY | ST_DRQ), ST_BSY);
	CHECK_EQ(in8(c, 2), 1);
	devctl(c, 0x04);
	devctl(c, 0x00);
	CHECK_EQ(wait_ready(c), ST_READY);
	bm_out(c, 0, 0x09);			/* the old command is gone */
	CHECK_EQ(alt(c), ST_READY);
	CHECK_EQ(bm_in(c, 2) & BM_INTR, 0);
	bm_out(c, 0, 0);
}

static void test_misc(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint16_t w[256];
	uint8_t err;

	/* EXECUTE DEVICE DIAGNOSTIC: signature and an interrupt. */
	out8(c, 2, 0x77);
	out8(c, 6, 0xb0);
	CHECK_EQ(nodata(f, c, 0x90, &err), ST_READY);
	CHECK_EQ(err, 1);
	CHECK_EQ(in8(c, 2), 1);
	CHECK_EQ(in8(c, 3), 1);
	CHECK_EQ(in8(c, 6) & 0x10, 0);
	/* INITIALIZE DEVICE PARAMETERS shows in the current geometry. */
	out8(c, 6, 0xa7);			/* 8 heads */
	out8(c, 2, 32);
	CHECK_EQ(nodata(f, c, 0x91, NULL), ST_READY);
	read_identify(f, c, 0, w);
	CHECK_EQ(w[55], 8);
	CHECK_EQ(w[56], 32);
	CHECK_EQ(w[54], 65535);

	/* VM reset: defaults back, bus master cleared but for the drive
	 * DMA-capable bits. */
	bm_out32(c, 4, 0x12343);		/* dword aligned */
	CHECK_EQ(bm_in(c, 4), 0x40);
	CHECK_EQ(bm_in(c, 5), 0x23);
	out8(c, 2, 2);
	CHECK_EQ(nodata(f, c, 0xc6, NULL), ST_READY);
	devctl(c, 0x02);
	ide_reset(&f->ide);
	CHECK_EQ(wait_ready(c), ST_READY);
	CHECK_EQ(bm_in(c, 4), 0);
	CHECK_EQ(bm_in(c, 0), 0);
	CHECK_EQ(bm_in(c, 2), 0x60);
	CHECK_EQ(bm_in(f->sec, 2), 0x20);
	read_identify(f, c, 0, w);		/* nIEN off again */
	CHECK_EQ(w[59], 0x0100 | IDE_MAX_MULT);
	CHECK_EQ(w[55], 16);

	/* VM reset with a 32 MiB DMA read out (512 entries of 64 KiB, all
	 * at one buffer): it returns once the read has landed, ready. */
	for (unsigned int i = 0; i < 512; i++)
		prd(f, 0x4000, i, 0x100000, 0, i == 511);
	task(c, 0, 0, 0, true);
	bm_out32(c, 4, 0x4000);
	bm_out(c, 0, 0x09);
	out8(c, 7, 0x25);
	/* Until the thread has taken it (a queued one is simply dropped). */
	for (int i = 0; i < 10000; i++) {
		bool queued;

		pthread_mutex_lock(&c->lock);
		queued = c->io_queued;
		pthread_mutex_unlock(&c->lock);
		if (!queued)
			break;
		usleep(100);
	}
	ide_reset(&f->ide);
	CHECK_EQ(alt(c), ST_READY);
	pthread_mutex_lock(&c->lock);
	CHECK(!c->io_busy);
	pthread_mutex_unlock(&c->lock);
	CHECK_EQ(bm_in(c, 0), 0);
	CHECK_EQ(level(f, 0), 0);
}

/* The image shrinks underneath (another program truncated it): reads past
 * the new end fail in the host, the guest sees UNC. */
static void test_io_error(struct fx *f)
{
	struct ide_chan *c = f->pri;
	uint32_t table = 0x3000;
	uint8_t err;

	CHECK_EQ(ftruncate(f->img[1].fd, 1 << 20), 0);
	task(c, 1, 3000, 1, false);
	CHECK_EQ(nodata(f, c, 0x20, &err), ST_READY | ST_ERR);
	CHECK_EQ(err, ERR_UNC);
	CHECK_EQ(alt(c) & ST_DRQ, 0);

	prd(f, table, 0, 0x60000, 1024, true);
	task(c, 1, 3000, 2, false);
	CHECK_EQ(dma(f, c, 0xc8, table, true, false), ST_READY | ST_ERR);
	CHECK_EQ(in8(c, 1), ERR_UNC);
	CHECK_EQ(bm_in(c, 2) & (BM_ACTIVE | BM_ERR), 0);
	dma_stop(c);
	CHECK_EQ(ftruncate(f->img[1].fd, (off_t)(SMALL_SECTORS * 512)), 0);
	/* And it works again. */
	task(c, 1, 3000, 2, false);
	CHECK_EQ(dma(f, c, 0xc8, table, true, false), ST_READY);
	dma_stop(c);
}

/* --- fixture ------------------------------------------------------------ */

static int open_image(struct blk_image *img, uint64_t sectors, bool ro)
{
	const char *dir = getenv("TMPDIR");
	char path[160];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/tern-ide-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(sectors * 512)) < 0)
		ret = -errno;
	close(fd);
	if (!ret)
		ret = blk_image_open(img, path, ro, false);
	unlink(path);
	return ret;
}

int main(void)
{
	struct mem_config cfg = { .size = RAM_SIZE, .numa_node = -1 };
	struct fx *f = calloc(1, sizeof(*f));
	struct blk_image *drives[IDE_DRIVES];
	struct ide_host host;
	int ret;

	if (!f || guest_mem_create(&f->mem, &cfg)) {
		fprintf(stderr, "test_ide: no guest memory\n");
		return CHECK_EXIT_SKIP;
	}
	for (int i = 0; i < 3; i++)
		f->img[i].fd = -1;
	if (open_image(&f->img[0], BIG_SECTORS, false) ||
	    open_image(&f->img[1], SMALL_SECTORS, false) ||
	    open_image(&f->img[2], RO_SECTORS, true)) {
		fprintf(stderr, "test_ide: cannot make the images\n");
		return 1;
	}
	host = (struct ide_host){
		.mem = &f->mem,
		.irq = { { .set = rec_set, .opaque = &f->irq, .gsi = 14 },
			 { .set = rec_set, .opaque = &f->irq, .gsi = 15 } },
	};
	drives[0] = &f->img[0];
	drives[1] = &f->img[1];
	drives[2] = &f->img[2];
	drives[3] = NULL;
	ret = ide_create(&f->ide, "test", &host, drives);
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "test_ide: no io_uring here\n");
		return CHECK_EXIT_SKIP;
	}
	CHECK_EQ(ret, 0);
	if (ret)
		return check_done("test_ide");
	CHECK_EQ(ide_start(&f->ide), 0);
	f->pri = &f->ide.chan[0];
	f->sec = &f->ide.chan[1];

	test_probe(f);
	test_reset(f);
	test_identify(f);
	test_nien(f);
	test_pio(f);
	test_multiple(f);
	test_lba48(f);
	test_dma(f);
	test_flush(f);
	test_bad_dma(f);
	test_bad_cmds(f);
	test_misc(f);
	test_io_error(f);

	ide_destroy(&f->ide);
	for (int i = 0; i < 3; i++)
		blk_image_close(&f->img[i]);
	guest_mem_destroy(&f->mem);
	free(f);
	return check_done("test_ide");
}
