/* ATAPI: the CD-ROM commands on their own (block/atapi.c: every command,
 * allocation lengths, sense after errors, reads at and past the end, MSF
 * addresses, mode pages, profiles), then the PACKET protocol through the
 * IDE ports with a real I/O thread (block/ide.c): the signature after
 * reset and after IDENTIFY DEVICE, IDENTIFY PACKET DEVICE, interrupt
 * reasons and byte counts, INQUIRY, READ(10) across several buffer fills
 * cut to the host's byte count limit, CHECK CONDITION with REQUEST SENSE,
 * a READ(12) past the end, PACKET with DMA refused, ATA reads refused, and
 * a disk that refuses PACKET. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "block/atapi.h"
#include "block/ide.h"
#include "core/memory.h"
#include "tests/unit/check.h"

#define CD_BLOCKS 100u

static void cdb10(uint8_t *c, uint8_t op, uint32_t lba, uint16_t count)
{
	memset(c, 0, ATAPI_CDB_LEN);
	c[0] = op;
	c[2] = (uint8_t)(lba >> 24);
	c[3] = (uint8_t)(lba >> 16);
	c[4] = (uint8_t)(lba >> 8);
	c[5] = (uint8_t)lba;
	c[7] = (uint8_t)(count >> 8);
	c[8] = (uint8_t)count;
}

static void test_commands(void)
{
	struct atapi a = { .blocks = CD_BLOCKS };
	struct atapi_result r;
	uint8_t cdb[ATAPI_CDB_LEN] = { 0 }, b[ATAPI_RESP_MAX];

	atapi_command(&a, cdb, b, &r);			/* TEST UNIT READY */
	CHECK_EQ(r.act, ATAPI_GOOD);

	cdb[0] = 0x12;					/* INQUIRY */
	cdb[4] = 96;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_DATA_IN);
	CHECK_EQ(r.len, 36);
	CHECK_EQ(b[0], 0x05);
	CHECK_EQ(b[1], 0x80);
	CHECK_MEM(b + 8, "TERN    ", 8);
	cdb[4] = 5;					/* cut to 5 */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 5);
	cdb[1] = 1;					/* VPD: refused */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);
	CHECK_EQ(atapi_error(&a), 0x54);

	memset(cdb, 0, sizeof(cdb));			/* REQUEST SENSE */
	cdb[0] = 0x03;
	cdb[4] = 18;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 18);
	CHECK_EQ(b[0], 0x70);
	CHECK_EQ(b[2], ATAPI_SENSE_ILLEGAL_REQUEST);
	CHECK_EQ(b[12], ATAPI_ASC_INVALID_FIELD);
	atapi_command(&a, cdb, b, &r);			/* cleared by then */
	CHECK_EQ(b[2], 0);

	memset(cdb, 0, sizeof(cdb));			/* READ CAPACITY */
	cdb[0] = 0x25;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 8);
	CHECK_EQ(b[3], CD_BLOCKS - 1);
	CHECK_EQ(b[6] << 8 | b[7], 2048);

	cdb10(cdb, 0x28, 10, 5);			/* READ(10) */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_READ);
	CHECK_EQ(r.lba, 10);
	CHECK_EQ(r.count, 5);
	cdb10(cdb, 0x28, CD_BLOCKS - 1, 1);		/* the last block */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_READ);
	cdb10(cdb, 0x28, CD_BLOCKS - 1, 2);		/* one past */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);
	CHECK_EQ(a.asc, ATAPI_ASC_LBA_OUT_OF_RANGE);
	cdb10(cdb, 0x28, 0xffffffff, 1);
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);
	cdb10(cdb, 0x28, 3, 0);				/* nothing to read */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_GOOD);
	memset(cdb, 0, sizeof(cdb));			/* READ(12), huge */
	cdb[0] = 0xa8;
	cdb[6] = cdb[7] = cdb[8] = cdb[9] = 0xff;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);

	memset(cdb, 0, sizeof(cdb));			/* READ TOC, LBA */
	cdb[0] = 0x43;
	cdb[8] = 0xff;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 20);
	CHECK_EQ(b[1], 18);
	CHECK_EQ(b[14], 0xaa);
	CHECK_EQ(b[19], CD_BLOCKS);			/* lead-out */
	cdb[1] = 2;					/* MSF */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(b[9], 0);				/* 00:02:00 */
	CHECK_EQ(b[10], 2);
	CHECK_EQ(b[11], 0);
	CHECK_EQ(b[18], (CD_BLOCKS + 150) / 75 % 60);
	CHECK_EQ(b[19], (CD_BLOCKS + 150) % 75);
	cdb[2] = 1;					/* session info */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 12);
	cdb[2] = 2;					/* raw: refused */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);

	memset(cdb, 0, sizeof(cdb));			/* MODE SENSE(10) */
	cdb[0] = 0x5a;
	cdb[2] = 0x2a;
	cdb[8] = 0xff;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 30);
	CHECK_EQ(b[8], 0x2a);
	CHECK_EQ(b[1], 28);
	cdb[2] = 0x3f;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 38);
	cdb[2] = 0x05;					/* absent page */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);
	cdb[2] = 0xea;					/* saved values */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(a.asc, ATAPI_ASC_SAVING_NOT_SUPPORTED);

	memset(cdb, 0, sizeof(cdb));			/* GET CONFIGURATION */
	cdb[0] = 0x46;
	cdb[8] = 0xff;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 16);
	CHECK_EQ(b[7], 0x08);				/* CD-ROM profile */
	CHECK_EQ(b[13], 0x08);
	a.blocks = 2u << 20;				/* 4 GiB: a DVD */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(b[7], 0x10);
	a.blocks = CD_BLOCKS;

	memset(cdb, 0, sizeof(cdb));			/* GET EVENT STATUS */
	cdb[0] = 0x4a;
	cdb[8] = 8;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);			/* not polled */
	cdb[1] = 1;
	cdb[4] = 0x10;
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.len, 8);
	CHECK_EQ(b[5], 0x02);				/* media present */

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xbd;					/* MECHANISM STATUS */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_CHECK);
	CHECK_EQ(a.asc, ATAPI_ASC_INVALID_OPCODE);
	cdb[0] = 0x1b;					/* START STOP */
	atapi_command(&a, cdb, b, &r);
	CHECK_EQ(r.act, ATAPI_GOOD);
	CHECK_EQ(a.key, 0);				/* good clears sense */
}

/* --- the PACKET protocol through the ports --------------------------------- */

struct irq_rec {
	int level;
	unsigned int rises;
};

static int rec_set(void *opaque, uint32_t gsi, int level)
{
	struct irq_rec *r = opaque;

	if (level && !__atomic_load_n(&r->level, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&r->rises, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->level, level, __ATOMIC_SEQ_CST);
	return 0;
}

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

static uint8_t alt(struct ide_chan *c)
{
	uint8_t v;

	ide_ctl_ops.read(c, 0, &v, 1);
	return v;
}

static uint8_t wait_ready(struct ide_chan *c)
{
	struct timespec ts = { 0, 200000 };
	uint8_t st = 0xff;

	for (int i = 0; i < 50000; i++) {
		st = alt(c);
		if (!(st & 0x80))
			return st;
		nanosleep(&ts, NULL);
	}
	CHECK_FAIL_AT(__FILE__, __LINE__, "still busy (0x%02x)", st);
	return st;
}

/* PACKET with byte count limit `bcl`, then the 12 bytes. */
static void packet(struct ide_chan *c, const uint8_t *cdb, uint16_t bcl,
		   uint8_t feature)
{
	out8(c, 6, 0);
	out8(c, 1, feature);
	out8(c, 4, (uint8_t)bcl);
	out8(c, 5, (uint8_t)(bcl >> 8));
	out8(c, 7, 0xa0);
	if (feature & 1)
		return;
	CHECK_EQ(wait_ready(c) & 0x08, 0x08);		/* DRQ */
	CHECK_EQ(in8(c, 2) & 3, 1);			/* CoD, to device */
	for (int i = 0; i < ATAPI_CDB_LEN; i += 2) {
		uint8_t w[2] = { cdb[i], cdb[i + 1] };

		ide_cmd_ops.write(c, 0, w, 2);
	}
}

/* Reads data-in pieces until the command ends; returns the bytes read,
 * each piece's size in sizes[] (at most 64). */
static size_t data_in(struct irq_rec *irq, struct ide_chan *c, uint8_t *buf,
		      size_t cap, unsigned int *pieces, uint32_t *sizes)
{
	size_t got = 0;

	*pieces = 0;
	for (int guard = 0; guard < 100000; guard++) {
		unsigned int r = irq->rises;
		uint8_t st = wait_ready(c);
		uint32_t n;

		(void)r;
		if (!(st & 0x08))
			return got;
		(void)in8(c, 7);	/* acknowledge, as a host's handler does */
		CHECK_EQ(in8(c, 2) & 3, 2);		/* IO, data */
		n = in8(c, 4) | in8(c, 5) << 8;
		if (*pieces < 64)
			sizes[*pieces] = n;
		(*pieces)++;
		for (uint32_t i = 0; i < n; i += 2) {
			uint16_t w = in16(c);

			if (got + 2 <= cap) {
				buf[got] = (uint8_t)w;
				buf[got + 1] = (uint8_t)(w >> 8);
			}
			got += 2;
		}
	}
	CHECK_FAIL_AT(__FILE__, __LINE__, "data-in never ended");
	return got;
}

static void test_protocol(void)
{

	struct mem_config cfg = { .size = 1u << 20, .numa_node = -1 };
	struct guest_mem mem;
	struct blk_image img[2], *drives[IDE_DRIVES] = { NULL };
	struct irq_rec irq = { 0 };
	struct ide_host host;
	struct ide ide;
	struct ide_chan *c;
	char path[] = "/tmp/tern-atapi-XXXXXX";
	char path2[] = "/tmp/tern-atapi-disk-XXXXXX";
	uint8_t *want, *got, cdb[ATAPI_CDB_LEN];
	uint32_t sizes[64];
	unsigned int pieces;
	uint16_t id[256];
	size_t n;
	int fd, ret;

	want = malloc(CD_BLOCKS * ATAPI_BLOCK);
	got = malloc(CD_BLOCKS * ATAPI_BLOCK + 4096);
	for (size_t i = 0; i < CD_BLOCKS * ATAPI_BLOCK; i++)
		want[i] = (uint8_t)(i * 29 + (i >> 11));
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, want, CD_BLOCKS * ATAPI_BLOCK),
		 (ssize_t)(CD_BLOCKS * ATAPI_BLOCK));
	close(fd);
	CHECK_EQ(blk_image_open(&img[0], path, true, false), 0);
	unlink(path);
	fd = mkstemp(path2);				/* the disk */
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	CHECK_EQ(blk_image_open(&img[1], path2, false, false), 0);
	unlink(path2);
	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	host = (struct ide_host){ .mem = &mem,
				  .irq = { { rec_set, &irq, 14 },
					   { rec_set, &irq, 15 } } };
	drives[0] = &img[1];		/* a disk on the primary */
	drives[2] = &img[0];		/* the CD alone on the secondary */
	ret = ide_create(&ide, "t", &host, drives);
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "test_atapi: no io_uring here\n");
		goto out;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(ide_set_atapi(&ide, 0), -EROFS);	/* writable image */
	CHECK_EQ(ide_set_atapi(&ide, 3), -EINVAL);	/* nothing there */
	CHECK_EQ(ide_set_atapi(&ide, 2), 0);
	CHECK_EQ(ide_start(&ide), 0);
	c = &ide.chan[1];

	/* The signature, after ide_set_atapi and after IDENTIFY DEVICE. */
	CHECK_EQ(in8(c, 4), 0x14);
	CHECK_EQ(in8(c, 5), 0xeb);
	out8(c, 6, 0);
	out8(c, 7, 0xec);
	CHECK_EQ(wait_ready(c) & 1, 1);
	CHECK_EQ(in8(c, 1), 0x04);
	CHECK_EQ(in8(c, 4), 0x14);
	CHECK_EQ(in8(c, 5), 0xeb);
	/* ... and a disk does not speak PACKET. */
	out8(&ide.chan[0], 6, 0);
	out8(&ide.chan[0], 7, 0xa0);
	CHECK_EQ(wait_ready(&ide.chan[0]) & 1, 1);

	/* IDENTIFY PACKET DEVICE: ATAPI CD-ROM, removable, no DMA. */
	out8(c, 6, 0);
	out8(c, 7, 0xa1);
	CHECK_EQ(wait_ready(c) & 0x08, 0x08);
	for (int i = 0; i < 256; i++)
		id[i] = in16(c);
	CHECK_EQ(id[0] >> 14, 2);
	CHECK_EQ((id[0] >> 8) & 0x1f, 5);
	CHECK(id[0] & 0x80);
	CHECK_EQ(id[49] & (1 << 8), 0);
	CHECK_EQ(alt(c) & 0x08, 0);

	/* INQUIRY: one piece, then the end with its interrupt. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x12;
	cdb[4] = 36;
	irq.rises = 0;
	packet(c, cdb, 0x100, 0);
	n = data_in(&irq, c, got, 4096, &pieces, sizes);
	CHECK_EQ(n, 36);
	CHECK_EQ(pieces, 1);
	CHECK_MEM(got + 16, "DVD-ROM", 7);
	CHECK_EQ(in8(c, 2) & 3, 3);			/* IO|CoD: status */
	CHECK_EQ(alt(c) & 0x89, 0);
	CHECK(irq.rises >= 2);

	/* READ(10) of 70 blocks (140 KiB: three fills of the buffer) with a
	 * byte count limit of 6000: pieces of 6000 bytes or less, the data
	 * as in the image. */
	cdb10(cdb, 0x28, 7, 70);
	packet(c, cdb, 6001, 0);			/* odd: taken as 6000 */
	n = data_in(&irq, c, got, CD_BLOCKS * ATAPI_BLOCK, &pieces, sizes);
	CHECK_EQ(n, 70 * ATAPI_BLOCK);
	CHECK_MEM(got, want + 7 * ATAPI_BLOCK, 70 * ATAPI_BLOCK);
	for (unsigned int i = 0; i < pieces && i < 64; i++)
		CHECK(sizes[i] <= 6000 && sizes[i] > 0);
	CHECK_EQ(alt(c) & 0x01, 0);

	/* Byte count 0: the most a 16-bit even count holds. */
	cdb10(cdb, 0x28, 0, CD_BLOCKS);
	packet(c, cdb, 0, 0);
	n = data_in(&irq, c, got, CD_BLOCKS * ATAPI_BLOCK, &pieces, sizes);
	CHECK_EQ(n, CD_BLOCKS * ATAPI_BLOCK);
	CHECK_MEM(got, want, CD_BLOCKS * ATAPI_BLOCK);
	CHECK(sizes[0] <= 0xfffe);

	/* Past the end: CHECK CONDITION; REQUEST SENSE says why. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xa8;
	cdb[5] = CD_BLOCKS - 1;
	cdb[9] = 2;
	packet(c, cdb, 2048, 0);
	CHECK_EQ(wait_ready(c) & 0x09, 0x01);
	CHECK_EQ(in8(c, 1), 0x54);			/* ILLEGAL REQUEST */
	CHECK_EQ(in8(c, 2) & 3, 3);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x03;
	cdb[4] = 18;
	packet(c, cdb, 2048, 0);
	n = data_in(&irq, c, got, 4096, &pieces, sizes);
	CHECK_EQ(n, 18);
	CHECK_EQ(got[2], 5);
	CHECK_EQ(got[12], 0x21);

	/* PACKET asking for DMA, and an ATA read: refused. */
	packet(c, cdb, 2048, 1);
	CHECK_EQ(wait_ready(c) & 0x09, 0x01);
	out8(c, 6, 0xe0);
	out8(c, 2, 1);
	out8(c, 7, 0x20);
	CHECK_EQ(wait_ready(c) & 0x09, 0x01);
	/* A data port read with nothing to read: all ones. */
	CHECK_EQ(in16(c), 0xffff);

	ide_destroy(&ide);
out:
	blk_image_close(&img[0]);
	blk_image_close(&img[1]);
	guest_mem_destroy(&mem);
	free(want);
	free(got);
}

int main(void)
{
	test_commands();
	test_protocol();
	return check_done("test_atapi");
}
