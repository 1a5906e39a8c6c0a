/* PIIX IDE: ATA disks behind the legacy command and control blocks, and
 * the bus-master DMA engine (ATA/ATAPI-7 for the device, SFF-8038i and the
 * PIIX datasheet for the bus master).
 *
 * What it touches: guest RAM only through guest_mem_ptr on PRD entries and
 * the regions they name; the images only through each drive's io_uring
 * engine and only inside [0, size); the channel's interrupt line. The vCPU
 * threads (bus handlers) and the I/O threads (completions) share a channel
 * through its lock; nothing else is shared.
 *
 * Every register, PRD entry and address comes from the guest: a bad one
 * ends the command with ERR (and the bus master's error bit where the
 * bus master is at fault) and a rate-limited log line, never a host access
 * outside guest RAM or the image. */
#include "block/ide.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "core/bytes.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/state.h"

/* Command block offsets; reads and writes differ at 1 and 7. */
enum {
	REG_DATA = 0,
	REG_ERROR_FEATURE = 1,
	REG_NSECT = 2,
	REG_LBAL = 3,
	REG_LBAM = 4,
	REG_LBAH = 5,
	REG_DEVICE = 6,
	REG_STATUS_CMD = 7,
	REG_COUNT = 8,
};

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ST_READY (ST_DRDY | ST_DSC)

#define ERR_DIAG_OK 0x01	/* after reset or diagnostics: passed */
#define ERR_ABRT 0x04
#define ERR_IDNF 0x10
#define ERR_UNC 0x40

#define DEV_DEV 0x10		/* device 1 selected */
#define DEV_LBA 0x40

#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80

/* Bus master: command at 0, status at 2, PRD table address at 4..7. */
enum { BM_CMD = 0, BM_STATUS = 2, BM_PRD = 4, BM_COUNT = 8 };

#define BM_CMD_START 0x01
#define BM_CMD_TO_MEM 0x08	/* the device reads, the engine writes RAM */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERR 0x02
#define BM_ST_INTR 0x04
#define BM_ST_DMA0 0x20		/* drive 0 DMA capable (set by software) */
#define BM_ST_DMA1 0x40

#define PRD_EOT 0x80		/* in the entry's last byte */

/* Commands that are not reads or writes. */
enum {
	CMD_DEVICE_RESET = 0x08,
	CMD_DIAGNOSE = 0x90,
	CMD_INIT_PARAMS = 0x91,
	CMD_STANDBY_IMM_OLD = 0x94,
	CMD_CHECK_POWER_OLD = 0x98,
	CMD_SET_MULTIPLE = 0xc6,
	CMD_STANDBY_IMM = 0xe0,
	CMD_IDLE_IMM = 0xe1,
	CMD_STANDBY = 0xe2,
	CMD_IDLE = 0xe3,
	CMD_CHECK_POWER = 0xe5,
	CMD_FLUSH = 0xe7,
	CMD_FLUSH_EXT = 0xea,
	CMD_PACKET = 0xa0,
	CMD_IDENTIFY_PACKET = 0xa1,
	CMD_IDENTIFY = 0xec,
	CMD_SET_FEATURES = 0xef,
};

#define LBA28_MAX 0x0fffffffULL
#define DEFAULT_XFER_MODE 0x22	/* multiword DMA 2: what PIIX3 runs */
#define DEFAULT_HEADS 16
#define DEFAULT_SPT 63
#define MODEL "TERN ATA DISK"
#define MODEL_CD "TERN DVD-ROM"
/* ATAPI: the signature in LBA mid/high, the interrupt reason in the
 * sector count (CoD: command bytes, IO: to the host). */
#define ATAPI_SIG_MID 0x14
#define ATAPI_SIG_HIGH 0xeb
#define IREASON_COD 0x01
#define IREASON_IO 0x02
/* Guest errors and host I/O errors logged per channel before silence. */
#define IDE_LOG_MAX 16

/* How a read/write command moves its data. */
enum { RW_PIO, RW_MULT, RW_DMA, RW_VERIFY };

static const struct rw_cmd {
	uint8_t cmd, how;
	bool ext, write;
} rw_cmds[] = {
	{ 0x20, RW_PIO, false, false },		/* READ SECTORS */
	{ 0x21, RW_PIO, false, false },		/* ... without retry */
	{ 0x24, RW_PIO, true, false },		/* READ SECTORS EXT */
	{ 0x25, RW_DMA, true, false },		/* READ DMA EXT */
	{ 0x29, RW_MULT, true, false },		/* READ MULTIPLE EXT */
	{ 0x30, RW_PIO, false, true },		/* WRITE SECTORS */
	{ 0x31, RW_PIO, false, true },		/* ... without retry */
	{ 0x34, RW_PIO, true, true },		/* WRITE SECTORS EXT */
	{ 0x35, RW_DMA, true, true },		/* WRITE DMA EXT */
	{ 0x39, RW_MULT, true, true },		/* WRITE MULTIPLE EXT */
	{ 0x40, RW_VERIFY, false, false },	/* READ VERIFY SECTORS */
	{ 0x41, RW_VERIFY, false, false },	/* ... without retry */
	{ 0x42, RW_VERIFY, true, false },	/* READ VERIFY SECTORS EXT */
	{ 0xc4, RW_MULT, false, false },	/* READ MULTIPLE */
	{ 0xc5, RW_MULT, false, true },		/* WRITE MULTIPLE */
	{ 0xc8, RW_DMA, false, false },		/* READ DMA */
	{ 0xc9, RW_DMA, false, false },		/* ... without retry */
	{ 0xca, RW_DMA, false, true },		/* WRITE DMA */
	{ 0xcb, RW_DMA, false, true },		/* ... without retry */
};

static const char *const chan_names[IDE_CHANNELS] = { "primary",
						      "secondary" };
static const char *const pos_names[2] = { "master", "slave" };

/* --- helpers ------------------------------------------------------------ */

/* A guest mistake or a host I/O error, logged while the channel's budget
 * lasts: a guest can make these as fast as it can write registers. Caller
 * holds the lock. */
#define chan_log(c, ...)                                                       \
	log_limited(&(c)->logged, IDE_LOG_MAX, (c)->name,                      \
		    "errors on this channel", __VA_ARGS__)

static bool chan_empty(const struct ide_chan *c)
{
	return !c->drive[0].img && !c->drive[1].img;
}

static struct ide_drive *selected(struct ide_chan *c)
{
	return &c->drive[(c->device & DEV_DEV) ? 1 : 0];
}

/* "master" or "slave", for log lines that already name the channel. */
static const char *pos(const struct ide_chan *c, const struct ide_drive *d)
{
	return pos_names[d == &c->drive[1]];
}

/* --- interrupts --------------------------------------------------------- */

/* The device asserts INTRQ (c->intrq) when a PIO-in block is ready, after
 * each PIO-out block but the first, and when a non-data or DMA command
 * ends or fails; a status read, a new command or a reset deasserts it.
 * nIEN disconnects the device from the line without forgetting INTRQ, so
 * clearing nIEN with an interrupt pending raises the line. The line is a
 * level (IRQ 14/15 are edge-triggered at the PIC: the rise is what counts,
 * and the status read that acknowledges lowers it for the next one). The
 * bus master's interrupt bit latches each rise of the line (PIIX: IDEINTS
 * is set on the assertion edge and stays until written with a 1). Called
 * at the end of every access and completion, still under the lock, so two
 * threads cannot deliver levels in the wrong order. */
static void update_irq(struct ide_chan *c)
{
	int level = c->intrq && !(c->ctl & CTL_NIEN);
	int err;

	if (level == c->irq_level)
		return;
	c->irq_level = level;
	if (level)
		c->bm_status |= BM_ST_INTR;
	err = irq_line_set(&c->irq, level);
	if (err)
		log_warn(c->name, "setting irq to %d: %s", level,
			 strerror(-err));
}

/* --- command state ------------------------------------------------------ */

static void cmd_done(struct ide_chan *c)
{
	c->status = ST_READY;
	c->xfer = IDE_XFER_NONE;
	c->len = c->pos = 0;
	c->intrq = true;
}

static void cmd_fail(struct ide_chan *c, uint8_t err)
{
	c->status = ST_READY | ST_ERR;
	c->error = err;
	c->xfer = IDE_XFER_NONE;
	c->len = c->pos = 0;
	c->dma_wait = false;
	c->intrq = true;
}

/* What a device shows after power-on, reset or diagnostics: the ATA
 * signature in the task file and "passed" in the error register. */
static void set_signature(struct ide_chan *c)
{
	c->nsect = c->lbal = 1;
	c->lbam = c->lbah = 0;
	c->feature = c->device = 0;
	if (c->drive[0].atapi) {	/* device 0 is selected now */
		c->lbam = ATAPI_SIG_MID;
		c->lbah = ATAPI_SIG_HIGH;
	}
	c->hob_feature = c->hob_nsect = c->hob_lbal = 0;
	c->hob_lbam = c->hob_lbah = 0;
	c->error = ERR_DIAG_OK;
	c->status = ST_READY;
	c->xfer = IDE_XFER_NONE;
	c->len = c->pos = 0;
}

/* Drops the command in progress. A request still waiting for its thread is
 * taken back; one the thread already has runs to its end and its result is
 * dropped (discard): until then the channel stays busy, because the
 * request's buffers are the channel's. */
static void abort_cmd(struct ide_chan *c)
{
	c->dma_wait = false;
	c->xfer = IDE_XFER_NONE;
	c->len = c->pos = 0;
	c->ahead = c->ahead_at = 0;
	c->packet = false;
	c->abytes = 0;
	c->intrq = false;
	if (c->io_queued)
		c->io_queued = c->io_busy = false;
	else if (c->io_busy)
		c->discard = true;
}

/* --- IDENTIFY DEVICE ---------------------------------------------------- */

/* ATA strings: two characters a word, the first in the high byte, padded
 * with spaces. */
static void put_string(uint16_t *w, const char *s, unsigned int words)
{
	size_t n = strlen(s);

	for (unsigned int i = 0; i < 2 * words; i++) {
		uint8_t ch = i < n ? (uint8_t)s[i] : ' ';

		if (i % 2 == 0)
			w[i / 2] = (uint16_t)(ch << 8);
		else
			w[i / 2] |= ch;
	}
}

static uint32_t cylinders(uint64_t sectors, unsigned int heads,
			  unsigned int spt, uint32_t max)
{
	uint64_t cyl = sectors / ((uint64_t)heads * spt);

	return cyl < max ? (uint32_t)cyl : max;
}

/* The IDENTIFY data in c->buf: one PIO-in block, with its interrupt. */
static void identify_show(struct ide_chan *c)
{
	c->xfer = IDE_XFER_PIO;
	c->write = false;
	c->left = 0;
	c->len = IDE_SECTOR;
	c->status = ST_READY | ST_DRQ;
	c->intrq = true;
}

static void identify(struct ide_chan *c, struct ide_drive *d)
{
	uint64_t lba28 = d->sectors < LBA28_MAX ? d->sectors : LBA28_MAX;
	uint32_t cur_cyl = cylinders(d->sectors, d->heads, d->spt, 65535);
	uint32_t cur_cap = cur_cyl * d->heads * d->spt;
	uint16_t w[256];
	uint8_t sum = 0xa5;

	memset(w, 0, sizeof(w));
	w[0] = 0x0040;				/* fixed disk, ATA */
	w[1] = (uint16_t)cylinders(d->sectors, DEFAULT_HEADS, DEFAULT_SPT,
				   16383);
	w[3] = DEFAULT_HEADS;
	w[6] = DEFAULT_SPT;
	put_string(w + 10, d->serial, 10);
	put_string(w + 23, TERN_VERSION, 4);
	put_string(w + 27, d->model, 20);
	w[47] = 0x8000 | IDE_MAX_MULT;
	w[49] = 1 << 11 | 1 << 9 | 1 << 8;	/* IORDY, LBA, DMA */
	w[50] = 0x4000;
	w[53] = 0x0007;				/* 54-58, 64-70, 88 valid */
	w[54] = (uint16_t)cur_cyl;
	w[55] = d->heads;
	w[56] = d->spt;
	w[57] = (uint16_t)cur_cap;
	w[58] = (uint16_t)(cur_cap >> 16);
	w[59] = 0x0100 | d->mult;		/* setting valid, current */
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[63] = 0x0007;				/* multiword DMA 0-2 */
	if (d->xfer_mode >= 0x20 && d->xfer_mode <= 0x22)
		w[63] |= 1 << (8 + d->xfer_mode - 0x20);
	w[64] = 0x0003;				/* PIO 3 and 4 */
	w[65] = w[66] = w[67] = w[68] = 120;	/* cycle times, ns */
	w[80] = 0x00f0;				/* ATA/ATAPI-4 to -7 */
	/* Write cache (on: writes reach the image file, FLUSH CACHE makes
	 * them durable), 48-bit addresses, FLUSH CACHE and its EXT. */
	w[82] = 1 << 5;
	w[83] = 0x4000 | 1 << 13 | 1 << 12 | 1 << 10;
	w[84] = 0x4000;
	w[85] = 1 << 5;
	w[86] = 1 << 13 | 1 << 12 | 1 << 10;
	w[87] = 0x4000;
	w[88] = 0x003f;				/* Ultra DMA 0-5 */
	if (d->xfer_mode >= 0x40 && d->xfer_mode <= 0x45)
		w[88] |= 1 << (8 + d->xfer_mode - 0x40);
	/* Hardware reset result: numbered by jumper, diagnostics passed,
	 * 80-conductor cable. */
	w[93] = d == &c->drive[0] ? 0x600b : 0x6300;
	for (int i = 0; i < 4; i++)
		w[100 + i] = (uint16_t)(d->sectors >> (16 * i));
	for (int i = 0; i < 255; i++) {
		c->buf[2 * i] = (uint8_t)w[i];
		c->buf[2 * i + 1] = (uint8_t)(w[i] >> 8);
		sum = (uint8_t)(sum + c->buf[2 * i] + c->buf[2 * i + 1]);
	}
	/* Integrity word: signature A5h and a checksum making the 512
	 * bytes sum to zero. */
	c->buf[510] = 0xa5;
	c->buf[511] = (uint8_t)-sum;
}

/* IDENTIFY PACKET DEVICE: a removable CD-ROM speaking 12-byte packets,
 * PIO only (no DMA bit: the host moves packet data through the data
 * port), DRQ within 50 us of PACKET. */
static void identify_packet(struct ide_chan *c, struct ide_drive *d)
{
	uint16_t w[256];

	memset(w, 0, sizeof(w));
	w[0] = 0x8000 | 0x05 << 8 | 1 << 7 | 2 << 5;
	put_string(w + 10, d->serial, 10);
	put_string(w + 23, TERN_VERSION, 4);
	put_string(w + 27, d->model, 20);
	w[49] = 1 << 9;				/* LBA */
	w[53] = 0x0002;				/* 64-70 valid */
	w[64] = 0x0003;				/* PIO 3 and 4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0x00f0;				/* ATA/ATAPI-4 to -7 */
	w[82] = 1 << 14 | 1 << 4;		/* NOP, PACKET */
	w[83] = 0x4000;
	w[84] = 0x4000;
	w[85] = 1 << 14 | 1 << 4;
	w[87] = 0x4000;
	w[93] = d == &c->drive[0] ? 0x600b : 0x6300;
	for (int i = 0; i < 256; i++) {
		c->buf[2 * i] = (uint8_t)w[i];
		c->buf[2 * i + 1] = (uint8_t)(w[i] >> 8);
	}
}

/* --- ATAPI PACKET ------------------------------------------------------- */

/* The command ends: status with or without CHECK CONDITION, interrupt
 * reason "to the host, command", and the interrupt. */
static void atapi_done(struct ide_chan *c, bool check)
{
	c->status = ST_READY | (check ? ST_ERR : 0);
	c->error = check ? atapi_error(&c->cur->cd) : 0;
	c->nsect = IREASON_IO | IREASON_COD;
	c->xfer = IDE_XFER_NONE;
	c->len = c->pos = 0;
	c->abytes = 0;
	c->intrq = true;
}

/* Shows the next piece of data-in: at most the byte count the host set
 * with PACKET (0 means the most an even 16-bit count holds), that many
 * bytes in LBA mid/high, DRQ and an interrupt. */
static void atapi_show(struct ide_chan *c)
{
	uint32_t limit = (uint32_t)(c->hob_lbam | c->hob_lbah << 8) & ~1u;
	uint32_t n;

	if (!limit)
		limit = 0xfffe;
	n = c->abytes < limit ? c->abytes : limit;
	c->pos = c->ahead_at;
	c->len = c->ahead_at + n;
	c->ahead_at += n;
	c->abytes -= n;
	c->lbam = (uint8_t)n;
	c->lbah = (uint8_t)(n >> 8);
	c->nsect = IREASON_IO;
	c->status = ST_READY | ST_DRQ;
	c->intrq = true;
}

static void pio_read_next(struct ide_chan *c);

/* The 12 command bytes are in: run them. */
static void atapi_exec(struct ide_chan *c)
{
	struct ide_drive *d = c->cur;
	uint8_t cdb[ATAPI_CDB_LEN];
	struct atapi_result r;

	memcpy(cdb, c->buf, sizeof(cdb));
	atapi_command(&d->cd, cdb, c->buf, &r);
	c->write = false;
	c->ahead_at = 0;
	c->left = 0;
	switch (r.act) {
	case ATAPI_DATA_IN:
		c->abytes = r.len;
		atapi_show(c);
		break;
	case ATAPI_READ:
		/* In 512-byte sectors for the I/O path: the medium is far
		 * below 2 TiB (ide_set_atapi), so this fits. */
		c->lba = r.lba * (ATAPI_BLOCK / IDE_SECTOR);
		c->left = r.count * (ATAPI_BLOCK / IDE_SECTOR);
		c->abytes = 0;
		pio_read_next(c);
		break;
	case ATAPI_CHECK:
		atapi_done(c, true);
		break;
	default:
		atapi_done(c, false);
		break;
	}
}

/* PACKET: DRQ for the command bytes (no interrupt: DRQ comes at once).
 * The byte count limit the host wrote to LBA mid/high is kept aside
 * (hob_lbam/hob_lbah are free: PACKET is not a 48-bit command). */
static void packet_start(struct ide_chan *c, struct ide_drive *d)
{
	if (c->feature & 0x01) {	/* DMA: not offered in IDENTIFY */
		chan_log(c, "%s: PACKET with DMA (not offered)", pos(c, d));
		cmd_fail(c, ERR_ABRT);
		return;
	}
	c->hob_lbam = c->lbam;
	c->hob_lbah = c->lbah;
	c->xfer = IDE_XFER_PIO;
	c->write = true;
	c->packet = true;
	c->len = ATAPI_CDB_LEN;
	c->pos = 0;
	c->nsect = IREASON_COD;
	c->status = ST_READY | ST_DRQ;
}

/* --- handing requests to the I/O thread --------------------------------- */

/* Queues c->req (over c->iov[0..niov)) for the current drive's thread and
 * shows BSY until io_done. */
static void submit(struct ide_chan *c, enum blk_op op, unsigned int niov)
{
	uint64_t one = 1;

	c->req = (struct blk_req){ .op = op, .offset = c->lba * IDE_SECTOR,
				   .iov = c->iov, .niov = niov,
				   .opaque = c };
	c->len = c->pos = 0;
	c->status = ST_BSY | ST_READY;
	c->io_busy = c->io_queued = true;
	if (write(c->cur->kick_fd, &one, sizeof(one)) == sizeof(one))
		return;
	chan_log(c, "%s: cannot wake the I/O thread: %s", pos(c, c->cur),
		 strerror(errno));
	c->io_busy = c->io_queued = false;
	cmd_fail(c, ERR_ABRT);
}

/* Shows the next DRQ block of what was read ahead, with its interrupt. */
static void pio_read_show(struct ide_chan *c)
{
	uint32_t n = c->ahead < c->block ? c->ahead : c->block;

	c->pos = c->ahead_at;
	c->len = c->ahead_at + n * IDE_SECTOR;
	c->ahead_at = c->len;
	c->ahead -= n;
	c->status = ST_READY | ST_DRQ;
	c->intrq = true;
}

/* The next PIO-in block: from what was read ahead, or read up to
 * IDE_PIO_AHEAD sectors into the buffer (BSY), DRQ when they are there.
 * `left` counts the sectors not yet read from the image. */
static void pio_read_next(struct ide_chan *c)
{
	if (c->ahead) {
		pio_read_show(c);
		return;
	}
	c->nio = c->left < IDE_PIO_AHEAD ? c->left : IDE_PIO_AHEAD;
	c->iov[0] = (struct iovec){ c->buf, (size_t)c->nio * IDE_SECTOR };
	submit(c, BLK_READ, 1);
}

/* The next PIO-out block: DRQ for the guest to fill the buffer. */
static void pio_write_next(struct ide_chan *c)
{
	uint32_t n = c->left < c->block ? c->left : c->block;

	c->len = n * IDE_SECTOR;
	c->pos = 0;
	c->status = ST_READY | ST_DRQ;
}

/* Runs in the drive's I/O thread, from its engine. */
static void drive_kicked(void *ctx)
{
	struct ide_drive *d = ctx;
	struct ide_chan *c = d->chan;

	pthread_mutex_lock(&c->lock);
	if (c->io_queued && c->cur == d) {
		c->io_queued = false;
		uring_engine_queue(&d->eng, &c->req);
	}
	pthread_mutex_unlock(&c->lock);
}

static void io_error(struct ide_chan *c, int res)
{
	static const char *const ops[] = { "read", "write", "flush" };
	unsigned int op = c->req.op < 3 ? c->req.op : 0;

	chan_log(c, "%s: %s of %u sectors at %llu failed: %s", pos(c, c->cur),
		 ops[op], c->req.op == BLK_FLUSH ? 0 : c->nio,
		 (unsigned long long)c->lba, strerror(-res));
	if (c->xfer == IDE_XFER_DMA)
		c->bm_status &= (uint8_t)~BM_ST_ACTIVE;
	if (c->cmd == CMD_PACKET) {
		/* MEDIUM ERROR, UNRECOVERED READ ERROR */
		c->cur->cd.key = 0x03;
		c->cur->cd.asc = 0x11;
		c->cur->cd.ascq = 0;
		atapi_done(c, true);
		return;
	}
	/* Only reads report an uncorrectable error; writes and flushes
	 * have no better word for it than "aborted". */
	cmd_fail(c, c->req.op == BLK_READ ? ERR_UNC : ERR_ABRT);
}

/* Runs in the drive's I/O thread, from its engine. */
static void io_done(void *ctx, struct blk_req *req, int res)
{
	struct ide_chan *c = req->opaque;

	pthread_mutex_lock(&c->lock);
	c->io_busy = false;
	pthread_cond_broadcast(&c->idle);
	if (c->discard) {
		c->discard = false;
		if (c->reset_pending && !(c->ctl & CTL_SRST)) {
			c->reset_pending = false;
			set_signature(c);
		}
		goto out;
	}
	if (res < 0) {
		io_error(c, res);
		goto out;
	}
	switch (c->xfer) {
	case IDE_XFER_PIO:
		c->lba += c->nio;
		c->left -= c->nio;
		if (!c->write && c->cmd == CMD_PACKET) {
			c->abytes = c->nio * IDE_SECTOR;
			c->ahead_at = 0;
			atapi_show(c);
		} else if (!c->write) {
			c->ahead = c->nio;
			c->ahead_at = 0;
			pio_read_show(c);
		} else if (c->left) {
			pio_write_next(c);
			c->intrq = true;
		} else {
			cmd_done(c);
		}
		break;
	case IDE_XFER_DMA:
		/* A table longer than the transfer leaves the engine active
		 * (SFF-8038i: interrupt with Active still set). */
		if (!c->dma_longer)
			c->bm_status &= (uint8_t)~BM_ST_ACTIVE;
		cmd_done(c);
		break;
	default:
		cmd_done(c);
		break;
	}
out:
	update_irq(c);
	pthread_mutex_unlock(&c->lock);
}

static void *drive_thread(void *arg)
{
	struct ide_drive *d = arg;
	int ret;

	pthread_setname_np(pthread_self(), "tern-ide");
	sandbox_enter(SANDBOX_BLK_IO);
	while ((ret = uring_engine_run_once(&d->eng)) == 0)
		;
	if (ret < 0)
		log_err(d->name, "I/O thread stops: %s", strerror(-ret));
	/* A request the kernel still has writes guest RAM or the PIO buffer:
	 * it lands before anything is freed. */
	while (uring_engine_pending(&d->eng) &&
	       uring_engine_run_once(&d->eng) >= 0)
		;
	return NULL;
}

/* --- bus master DMA ----------------------------------------------------- */

/* Walks the PRD table at c->prd_addr into c->iov until BYTES are covered.
 * Each entry: a 32-bit address, a 16-bit byte count (0 is 64 KiB), the
 * end-of-table bit in its last byte. Entries and the regions they name
 * must lie in guest RAM, addresses and counts be even. Returns the number
 * of segments, or -errno after logging: -EFAULT (outside RAM), -EINVAL
 * (odd), -ENOSPC (the table ends before the transfer does), -E2BIG (no end
 * in IDE_PRD_MAX entries). Sets c->dma_longer when the table goes on past
 * the transfer. */
static int prd_build(struct ide_chan *c, uint64_t bytes)
{
	const struct guest_mem *mem = c->ide->mem;
	uint64_t left = bytes;
	unsigned int i;

	for (i = 0; i < IDE_PRD_MAX; i++) {
		uint64_t gpa = (uint64_t)c->prd_addr + 8ULL * i;
		const uint8_t *e = guest_mem_ptr(mem, gpa, 8);
		uint32_t addr, count, take;
		bool eot;
		void *p;

		if (!e) {
			chan_log(c, "PRD entry %u at 0x%llx is not in RAM", i,
				 (unsigned long long)gpa);
			return -EFAULT;
		}
		/* Read once: the guest may rewrite the table meanwhile. */
		addr = get_le32(e);
		count = (uint32_t)(e[4] | e[5] << 8);
		eot = e[7] & PRD_EOT;
		if (!count)
			count = 0x10000;
		if ((addr | count) & 1) {
			chan_log(c, "PRD entry %u: odd address 0x%x or count "
				 "%u", i, addr, count);
			return -EINVAL;
		}
		take = count < left ? count : (uint32_t)left;
		p = guest_mem_ptr(mem, addr, take);
		if (!p) {
			chan_log(c, "PRD entry %u: 0x%x + %u is not in RAM", i,
				 addr, take);
			return -EFAULT;
		}
		c->iov[i] = (struct iovec){ p, take };
		left -= take;
		if (!left) {
			c->dma_longer = take < count || !eot;
			return (int)i + 1;
		}
		if (eot) {
			chan_log(c, "PRD table at 0x%x ends after %llu of "
				 "%llu bytes", c->prd_addr,
				 (unsigned long long)(bytes - left),
				 (unsigned long long)bytes);
			return -ENOSPC;
		}
	}
	chan_log(c, "PRD table at 0x%x: no end-of-table bit in %u entries",
		 c->prd_addr, IDE_PRD_MAX);
	return -E2BIG;
}

/* The command and the engine are both ready: move the data. */
static void dma_start(struct ide_chan *c)
{
	bool to_mem = c->bm_cmd & BM_CMD_TO_MEM;
	int n;

	c->dma_wait = false;
	if (to_mem == c->write) {
		chan_log(c, "%s DMA with the bus master set to %s memory",
			 c->write ? "write" : "read",
			 to_mem ? "write" : "read");
		n = -EINVAL;
	} else {
		n = prd_build(c, (uint64_t)c->left * IDE_SECTOR);
	}
	if (n < 0) {
		c->bm_status = (uint8_t)((c->bm_status & ~BM_ST_ACTIVE) |
					 BM_ST_ERR);
		cmd_fail(c, ERR_ABRT);
		return;
	}
	c->nio = c->left;
	submit(c, c->write ? BLK_WRITE : BLK_READ, (unsigned int)n);
}

/* --- commands ----------------------------------------------------------- */

static void rw_command(struct ide_chan *c, struct ide_drive *d,
		       const struct rw_cmd *rw)
{
	uint64_t lba;
	uint32_t count;

	if (rw->ext) {
		lba = (uint64_t)c->hob_lbah << 40 | (uint64_t)c->hob_lbam << 32 |
		      (uint64_t)c->hob_lbal << 24 | (uint32_t)c->lbah << 16 |
		      (uint32_t)c->lbam << 8 | c->lbal;
		count = (uint32_t)c->hob_nsect << 8 | c->nsect;
		if (!count)
			count = 65536;
	} else {
		if (!(c->device & DEV_LBA)) {
			chan_log(c, "%s: command %02xh with CHS addressing "
				 "(unsupported)", pos(c, d), rw->cmd);
			cmd_fail(c, ERR_ABRT);
			return;
		}
		lba = (uint32_t)(c->device & 0x0f) << 24 |
		      (uint32_t)c->lbah << 16 | (uint32_t)c->lbam << 8 |
		      c->lbal;
		count = c->nsect ? c->nsect : 256;
	}
	if (lba > d->sectors || count > d->sectors - lba) {
		chan_log(c, "%s: command %02xh for sectors %llu+%u, beyond "
			 "the disk's %llu", pos(c, d), rw->cmd,
			 (unsigned long long)lba, count,
			 (unsigned long long)d->sectors);
		cmd_fail(c, ERR_IDNF);
		return;
	}
	if ((rw->write && d->img->readonly) ||
	    (rw->how == RW_MULT && !d->mult)) {
		chan_log(c, "%s: command %02xh refused (%s)", pos(c, d), rw->cmd,
			 rw->write && d->img->readonly ?
			 "read-only disk" : "multiple mode off");
		cmd_fail(c, ERR_ABRT);
		return;
	}
	c->lba = lba;
	c->left = count;
	c->write = rw->write;
	switch (rw->how) {
	case RW_VERIFY:
		cmd_done(c);
		return;
	case RW_DMA:
		c->xfer = IDE_XFER_DMA;
		c->status = ST_BSY | ST_READY;
		c->dma_wait = true;
		if (c->bm_status & BM_ST_ACTIVE)
			dma_start(c);
		return;
	default:
		c->xfer = IDE_XFER_PIO;
		c->block = rw->how == RW_MULT ? d->mult : 1;
		if (c->write)
			pio_write_next(c);
		else
			pio_read_next(c);
		return;
	}
}

static bool xfer_mode_ok(uint8_t m)
{
	return m <= 0x01 ||			/* PIO default */
	       (m >= 0x08 && m <= 0x0c) ||	/* PIO 0-4 */
	       (m >= 0x20 && m <= 0x22) ||	/* multiword DMA 0-2 */
	       (m >= 0x40 && m <= 0x45);	/* Ultra DMA 0-5 */
}

static void set_features(struct ide_chan *c, struct ide_drive *d)
{
	switch (c->feature) {
	case 0x03:		/* set transfer mode */
		if (!xfer_mode_ok(c->nsect))
			goto refuse;
		if (c->nsect >= 0x20)
			d->xfer_mode = c->nsect;
		break;
	case 0x02:		/* enable write cache: always on */
	case 0x55:		/* read look-ahead off, on */
	case 0xaa:
	case 0x66:		/* power-on defaults: keep, revert */
	case 0xcc:
		break;
	default:		/* 82h (write cache off) among others */
		goto refuse;
	}
	cmd_done(c);
	return;
refuse:
	chan_log(c, "%s: SET FEATURES %02xh (count %02xh) refused", pos(c, d),
		 c->feature, c->nsect);
	cmd_fail(c, ERR_ABRT);
}

static void command(struct ide_chan *c, uint8_t cmd)
{
	struct ide_drive *d = selected(c);

	c->intrq = false;
	/* An absent device ignores commands, but diagnostics go to both
	 * devices and the present one answers. */
	if (!d->img && cmd != CMD_DIAGNOSE)
		return;
	/* A new command ends any PIO data phase. */
	c->len = c->pos = 0;
	c->ahead = c->ahead_at = 0;
	c->packet = false;
	c->abytes = 0;
	c->xfer = IDE_XFER_NONE;
	c->cmd = cmd;
	c->cur = d;
	c->error = 0;
	if (d->atapi) {
		switch (cmd) {
		case CMD_PACKET:
			packet_start(c, d);
			return;
		case CMD_IDENTIFY_PACKET:
			identify_packet(c, d);
			identify_show(c);
			return;
		case CMD_DEVICE_RESET:
			set_signature(c);
			c->device = d == &c->drive[1] ? DEV_DEV : 0;
			return;
		case CMD_IDENTIFY:
			/* An ATAPI device aborts it and shows its signature:
			 * how a host tells it from a disk. */
			c->nsect = c->lbal = 1;
			c->lbam = ATAPI_SIG_MID;
			c->lbah = ATAPI_SIG_HIGH;
			cmd_fail(c, ERR_ABRT);
			return;
		case CMD_DIAGNOSE:
		case CMD_SET_FEATURES:
		case CMD_CHECK_POWER:
		case CMD_CHECK_POWER_OLD:
		case CMD_IDLE_IMM:
		case CMD_STANDBY_IMM:
			break;			/* as a disk does, below */
		default:
			cmd_fail(c, ERR_ABRT);	/* no ATA reads or writes */
			return;
		}
	}
	for (size_t i = 0; i < sizeof(rw_cmds) / sizeof(rw_cmds[0]); i++) {
		if (rw_cmds[i].cmd == cmd) {
			rw_command(c, d, &rw_cmds[i]);
			return;
		}
	}
	switch (cmd) {
	case CMD_IDENTIFY:
		identify(c, d);
		identify_show(c);
		break;
	case CMD_FLUSH:
	case CMD_FLUSH_EXT:
		c->xfer = IDE_XFER_FLUSH;
		c->nio = 0;
		submit(c, BLK_FLUSH, 0);
		break;
	case CMD_SET_FEATURES:
		set_features(c, d);
		break;
	case CMD_SET_MULTIPLE:
		/* 0 turns multiple mode off; else a power of two we hold. */
		if (c->nsect > IDE_MAX_MULT || (c->nsect & (c->nsect - 1))) {
			chan_log(c, "%s: SET MULTIPLE MODE %u refused", pos(c, d),
				 c->nsect);
			cmd_fail(c, ERR_ABRT);
			break;
		}
		d->mult = c->nsect;
		cmd_done(c);
		break;
	case CMD_INIT_PARAMS:
		/* Only recorded (IDENTIFY words 54-58): CHS I/O is refused. */
		if (!c->nsect) {
			cmd_fail(c, ERR_ABRT);
			break;
		}
		d->spt = c->nsect;
		d->heads = (uint8_t)((c->device & 0x0f) + 1);
		cmd_done(c);
		break;
	case CMD_DIAGNOSE:
		set_signature(c);
		c->intrq = true;
		break;
	case CMD_CHECK_POWER:
	case CMD_CHECK_POWER_OLD:
		c->nsect = 0xff;	/* active or idle */
		cmd_done(c);
		break;
	case CMD_STANDBY_IMM:
	case CMD_IDLE_IMM:
	case CMD_STANDBY:
	case CMD_IDLE:
	case CMD_STANDBY_IMM_OLD:
	case CMD_STANDBY_IMM_OLD + 1:	/* IDLE IMMEDIATE */
	case CMD_STANDBY_IMM_OLD + 2:	/* STANDBY */
	case CMD_STANDBY_IMM_OLD + 3:	/* IDLE */
		cmd_done(c);		/* the disk never spins down */
		break;
	case CMD_IDENTIFY_PACKET:
	case CMD_PACKET:
		/* A disk aborts them: that is how a BIOS or a driver tells
		 * an ATA device from an ATAPI one. Not worth a log line. */
		cmd_fail(c, ERR_ABRT);
		break;
	default:
		chan_log(c, "%s: unsupported command %02xh", pos(c, d), cmd);
		cmd_fail(c, ERR_ABRT);
		break;
	}
}

/* --- the data port ------------------------------------------------------ */

/* The data port moves 16 or 32 bits; any other width ends the transfer in
 * progress with an error. Without DRQ (or in the wrong direction) reads
 * give all ones and writes go nowhere. */
static bool data_access_ok(struct ide_chan *c, uint32_t len, bool write)
{
	if (len != 2 && len != 4) {
		chan_log(c, "%u-byte data port %s", len,
			 write ? "write" : "read");
		if (c->status & ST_DRQ)
			cmd_fail(c, ERR_ABRT);
		return false;
	}
	if (!(c->status & ST_DRQ) || c->write != write) {
		chan_log(c, "data port %s without a transfer", write ?
			 "write" : "read");
		return false;
	}
	return true;
}

static void data_read(struct ide_chan *c, uint8_t *data, uint32_t len)
{
	memset(data, 0xff, len);
	if (!data_access_ok(c, len, false))
		return;
	for (uint32_t i = 0; i < len && c->pos < c->len; i++)
		data[i] = c->buf[c->pos++];
	if (c->pos < c->len)
		return;
	c->len = c->pos = 0;
	/* PACKET data: the next piece, the next read, or the end (with its
	 * interrupt). */
	if (c->cmd == CMD_PACKET && c->xfer == IDE_XFER_PIO) {
		if (c->abytes)
			atapi_show(c);
		else if (c->left)
			pio_read_next(c);
		else
			atapi_done(c, false);
		return;
	}
	/* The block is read: the next one, or the end (no interrupt). */
	if (c->left || c->ahead) {
		pio_read_next(c);
	} else {
		c->status = ST_READY;
		c->xfer = IDE_XFER_NONE;
	}
}

static void data_write(struct ide_chan *c, const uint8_t *data, uint32_t len)
{
	if (!data_access_ok(c, len, true))
		return;
	for (uint32_t i = 0; i < len && c->pos < c->len; i++)
		c->buf[c->pos++] = data[i];
	if (c->pos < c->len)
		return;
	if (c->packet) {
		c->packet = false;
		c->len = c->pos = 0;
		atapi_exec(c);
		return;
	}
	c->nio = c->len / IDE_SECTOR;
	c->iov[0] = (struct iovec){ c->buf, c->len };
	submit(c, BLK_WRITE, 1);
}

/* --- registers ---------------------------------------------------------- */

static uint8_t reg_read(struct ide_chan *c, unsigned int reg)
{
	bool hob = c->ctl & CTL_HOB;

	switch (reg) {
	case REG_ERROR_FEATURE:
		return c->error;
	case REG_NSECT:
		return hob ? c->hob_nsect : c->nsect;
	case REG_LBAL:
		return hob ? c->hob_lbal : c->lbal;
	case REG_LBAM:
		return hob ? c->hob_lbam : c->lbam;
	case REG_LBAH:
		return hob ? c->hob_lbah : c->lbah;
	case REG_DEVICE:
		return c->device;
	default:
		/* Reading status acknowledges the interrupt. With an absent
		 * device selected, the other one answers 00h for it. */
		c->intrq = false;
		return selected(c)->img ? c->status : 0;
	}
}

/* Each register is a two-deep FIFO for 48-bit commands: the older value
 * moves to hob_*. */
static void fifo_write(uint8_t *cur, uint8_t *hob, uint8_t v)
{
	*hob = *cur;
	*cur = v;
}

static void reg_write(struct ide_chan *c, unsigned int reg, uint8_t v)
{
	/* A busy device ignores the command block. */
	if (c->status & ST_BSY)
		return;
	c->ctl &= (uint8_t)~CTL_HOB;
	switch (reg) {
	case REG_ERROR_FEATURE:
		fifo_write(&c->feature, &c->hob_feature, v);
		break;
	case REG_NSECT:
		fifo_write(&c->nsect, &c->hob_nsect, v);
		break;
	case REG_LBAL:
		fifo_write(&c->lbal, &c->hob_lbal, v);
		break;
	case REG_LBAM:
		fifo_write(&c->lbam, &c->hob_lbam, v);
		break;
	case REG_LBAH:
		fifo_write(&c->lbah, &c->hob_lbah, v);
		break;
	case REG_DEVICE:
		c->device = v;
		break;
	default:
		command(c, v);
		break;
	}
}

static void ctl_write(struct ide_chan *c, uint8_t v)
{
	uint8_t old = c->ctl;

	c->ctl = v & (CTL_NIEN | CTL_SRST | CTL_HOB);
	if ((v & CTL_SRST) && !(old & CTL_SRST)) {
		/* Reset asserted: everything stops, BSY until released. */
		abort_cmd(c);
		c->reset_pending = false;
		c->status = ST_BSY;
	} else if (!(v & CTL_SRST) && (old & CTL_SRST)) {
		if (c->io_busy)
			c->reset_pending = true;
		else
			set_signature(c);
	}
}

static void cmd_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct ide_chan *c = opaque;

	if (chan_empty(c)) {
		memset(data, 0xff, len);	/* nothing drives the bus */
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (off == REG_DATA)
		data_read(c, data, len);
	else
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < REG_COUNT ? reg_read(c, off + i)
						       : 0xff;
	update_irq(c);
	pthread_mutex_unlock(&c->lock);
}

static void cmd_write(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
	struct ide_chan *c = opaque;

	if (chan_empty(c))
		return;
	pthread_mutex_lock(&c->lock);
	if (off == REG_DATA)
		data_write(c, data, len);
	else
		for (uint32_t i = 0; i < len; i++)
			if (off + i < REG_COUNT)
				reg_write(c, off + i, data[i]);
	update_irq(c);
	pthread_mutex_unlock(&c->lock);
}

/* Alternate status: status without acknowledging the interrupt. */
static void ctl_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct ide_chan *c = opaque;

	memset(data, 0xff, len);
	if (chan_empty(c) || off != 0)
		return;
	pthread_mutex_lock(&c->lock);
	data[0] = selected(c)->img ? c->status : 0;
	pthread_mutex_unlock(&c->lock);
}

static void ctl_bus_write(void *opaque, uint64_t off, const uint8_t *data,
			  uint32_t len)
{
	struct ide_chan *c = opaque;

	if (chan_empty(c) || off != 0)
		return;
	pthread_mutex_lock(&c->lock);
	ctl_write(c, data[0]);
	update_irq(c);
	pthread_mutex_unlock(&c->lock);
}

static uint8_t bm_reg_read(struct ide_chan *c, unsigned int off)
{
	switch (off) {
	case BM_CMD:
		return c->bm_cmd;
	case BM_STATUS:
		return c->bm_status;
	case BM_PRD:
	case BM_PRD + 1:
	case BM_PRD + 2:
	case BM_PRD + 3:
		return (uint8_t)(c->prd_addr >> (8 * (off - BM_PRD)));
	default:
		return 0;
	}
}

static void bm_reg_write(struct ide_chan *c, unsigned int off, uint8_t v)
{
	unsigned int shift;
	bool start;

	switch (off) {
	case BM_CMD:
		start = (v & BM_CMD_START) && !(c->bm_cmd & BM_CMD_START);
		/* The direction must not change while the engine runs. */
		if (c->bm_status & BM_ST_ACTIVE)
			v = (uint8_t)((v & ~BM_CMD_TO_MEM) |
				      (c->bm_cmd & BM_CMD_TO_MEM));
		c->bm_cmd = v & (BM_CMD_START | BM_CMD_TO_MEM);
		if (!(v & BM_CMD_START)) {
			/* Stopped. A transfer the thread already has still
			 * completes: the data lands in guest RAM either
			 * way, and the command ends normally. */
			c->bm_status &= (uint8_t)~BM_ST_ACTIVE;
		} else if (start) {
			c->bm_status |= BM_ST_ACTIVE;
			if (c->dma_wait)
				dma_start(c);
		}
		break;
	case BM_STATUS:
		c->bm_status &= (uint8_t)~(v & (BM_ST_ERR | BM_ST_INTR));
		c->bm_status = (uint8_t)((c->bm_status &
					  ~(BM_ST_DMA0 | BM_ST_DMA1)) |
					 (v & (BM_ST_DMA0 | BM_ST_DMA1)));
		break;
	case BM_PRD:
	case BM_PRD + 1:
	case BM_PRD + 2:
	case BM_PRD + 3:
		/* Dword aligned: bits 1:0 read as zero. */
		shift = 8 * (off - BM_PRD);
		c->prd_addr = (c->prd_addr & ~(0xffu << shift)) |
			      (uint32_t)v << shift;
		c->prd_addr &= ~3u;
		break;
	default:
		break;
	}
}

static void bm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct ide_chan *c = opaque;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < BM_COUNT ? bm_reg_read(c, off + i) : 0xff;
	pthread_mutex_unlock(&c->lock);
}

static void bm_write(void *opaque, uint64_t off, const uint8_t *data,
		     uint32_t len)
{
	struct ide_chan *c = opaque;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < len; i++)
		if (off + i < BM_COUNT)
			bm_reg_write(c, off + i, data[i]);
	update_irq(c);
	pthread_mutex_unlock(&c->lock);
}

const struct bus_ops ide_cmd_ops = { .read = cmd_read, .write = cmd_write };
const struct bus_ops ide_ctl_ops = { .read = ctl_read,
				     .write = ctl_bus_write };
const struct bus_ops ide_bm_ops = { .read = bm_read, .write = bm_write };

/* --- life cycle --------------------------------------------------------- */

/* Power-on state of a channel: defaults, the signature, the engine idle.
 * There is no BIOS to set the DMA-capable bits, so they start set for the
 * drives present. Caller holds the lock. */
static void chan_reset(struct ide_chan *c)
{
	abort_cmd(c);
	c->ctl = 0;
	c->reset_pending = false;
	c->bm_cmd = 0;
	c->prd_addr = 0;
	c->bm_status = (c->drive[0].img ? BM_ST_DMA0 : 0) |
		       (c->drive[1].img ? BM_ST_DMA1 : 0);
	for (int i = 0; i < 2; i++) {
		c->drive[i].mult = IDE_MAX_MULT;
		c->drive[i].xfer_mode = DEFAULT_XFER_MODE;
		c->drive[i].heads = DEFAULT_HEADS;
		c->drive[i].spt = DEFAULT_SPT;
	}
	if (c->io_busy) {
		c->reset_pending = true;
		c->status = ST_BSY;
	} else {
		set_signature(c);
	}
	update_irq(c);
}

/* Eventfds and the engine; the thread comes with drive_run. */
static int drive_prepare(struct ide_drive *d)
{
	int ret;

	d->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->kick_fd < 0 || d->stop_fd < 0)
		return -errno;
	/* One request at a time per channel. */
	ret = uring_engine_init(&d->eng, d->name, d->img, 2, io_done, d);
	if (ret)
		return ret;
	ret = uring_engine_watch_fd(&d->eng, d->kick_fd, drive_kicked, d);
	ret = ret ?: uring_engine_set_stop_fd(&d->eng, d->stop_fd);
	if (ret) {
		uring_engine_destroy(&d->eng);
		return ret;
	}
	d->eng_on = true;
	return 0;
}

static int drive_run(struct ide_drive *d)
{
	int ret;

	if (!d->eng_on || d->running)
		return 0;
	ret = -pthread_create(&d->thread, NULL, drive_thread, d);
	if (ret)
		return ret;
	d->running = true;
	return 0;
}

static void drive_stop(struct ide_drive *d)
{
	uint64_t one = 1;

	if (d->running) {
		if (write(d->stop_fd, &one, sizeof(one)) < 0)
			log_err(d->name, "stopping: %s", strerror(errno));
		pthread_join(d->thread, NULL);
		d->running = false;
	}
	if (d->eng_on)
		uring_engine_destroy(&d->eng);
	d->eng_on = false;
	if (d->kick_fd >= 0)
		close(d->kick_fd);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	d->kick_fd = d->stop_fd = -1;
}

static int chan_init(struct ide *ide, unsigned int n,
		     const struct ide_host *host,
		     struct blk_image *const drives[IDE_DRIVES])
{
	struct ide_chan *c = &ide->chan[n];
	char base[sizeof(ide->name)];
	int ret;

	/* A copy: GCC sees ide->name and the strings written from it in one
	 * object and warns about overlap. */
	memcpy(base, ide->name, sizeof(base));
	c->ide = ide;
	c->index = n;
	c->irq = host->irq[n];
	snprintf(c->name, sizeof(c->name), "%s %s", base, chan_names[n]);
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &c->drive[i];

		d->chan = c;
		d->kick_fd = d->stop_fd = -1;
		d->img = drives[2 * n + i];
		snprintf(d->name, sizeof(d->name), "%s %s", c->name,
			 pos_names[i]);
	}
	ret = -pthread_mutex_init(&c->lock, NULL);
	if (ret)
		return ret;
	ret = -pthread_cond_init(&c->idle, NULL);
	if (ret) {
		pthread_mutex_destroy(&c->lock);
		return ret;
	}
	c->ready = true;
	c->iov = calloc(IDE_PRD_MAX, sizeof(*c->iov));
	/* Aligned for images opened with O_DIRECT. */
	if (!c->iov || posix_memalign((void **)&c->buf, 4096,
				      IDE_PIO_AHEAD * IDE_SECTOR))
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		struct ide_drive *d = &c->drive[i];

		if (!d->img)
			continue;
		if (d->img->fd < 0 || d->img->size < IDE_SECTOR ||
		    d->img->logical_block > IDE_SECTOR) {
			log_err(d->name, "%s: unusable as an ATA disk (%s)",
				d->img->path ? d->img->path : "image",
				d->img->logical_block > IDE_SECTOR ?
				"logical blocks over 512 bytes" :
				"closed or empty");
			return -EINVAL;
		}
		d->sectors = d->img->size / IDE_SECTOR;
		snprintf(d->serial, sizeof(d->serial), "%s-%u", base, 2 * n + i);
		snprintf(d->model, sizeof(d->model), "%s", MODEL);
		ret = drive_prepare(d);
		if (ret) {
			log_err(d->name, "cannot set up the I/O engine: %s",
				strerror(-ret));
			return ret;
		}
	}
	pthread_mutex_lock(&c->lock);
	chan_reset(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int ide_create(struct ide *ide, const char *name, const struct ide_host *host,
	       struct blk_image *const drives[IDE_DRIVES])
{
	int ret = 0;

	if (!ide || !name || !host || !host->mem || !drives)
		return -EINVAL;
	memset(ide, 0, sizeof(*ide));
	snprintf(ide->name, sizeof(ide->name), "%s", name);
	ide->mem = host->mem;
	for (unsigned int n = 0; n < IDE_CHANNELS && !ret; n++)
		ret = chan_init(ide, n, host, drives);
	if (ret)
		ide_destroy(ide);
	return ret;
}

int ide_start(struct ide *ide)
{
	for (unsigned int n = 0; n < IDE_CHANNELS; n++) {
		for (int i = 0; i < 2; i++) {
			struct ide_drive *d = &ide->chan[n].drive[i];
			int ret = drive_run(d);

			if (ret) {
				log_err(d->name, "cannot start the I/O thread: "
					"%s", strerror(-ret));
				return ret;
			}
		}
	}
	return 0;
}

int ide_set_atapi(struct ide *ide, unsigned int n)
{
	struct ide_chan *c;
	struct ide_drive *d;

	if (n >= IDE_DRIVES)
		return -EINVAL;
	c = &ide->chan[n / 2];
	d = &c->drive[n % 2];
	if (!d->img || d->img->size < ATAPI_BLOCK)
		return -EINVAL;
	if (!d->img->readonly)
		return -EROFS;
	if (d->img->size / ATAPI_BLOCK > UINT32_MAX / (ATAPI_BLOCK / IDE_SECTOR))
		return -EFBIG;		/* sector counts must fit 32 bits */
	d->atapi = true;
	d->cd = (struct atapi){ .blocks = d->img->size / ATAPI_BLOCK };
	d->sectors = d->cd.blocks * (ATAPI_BLOCK / IDE_SECTOR);
	snprintf(d->model, sizeof(d->model), "%s", MODEL_CD);
	pthread_mutex_lock(&c->lock);
	if (n % 2 == 0 && !c->io_busy)
		set_signature(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void ide_destroy(struct ide *ide)
{
	for (unsigned int n = 0; n < IDE_CHANNELS; n++) {
		struct ide_chan *c = &ide->chan[n];

		/* Threads first: their completions take the lock. */
		for (int i = 0; i < 2; i++)
			if (c->drive[i].chan)
				drive_stop(&c->drive[i]);
		free(c->iov);
		free(c->buf);
		c->iov = NULL;
		c->buf = NULL;
		if (c->ready) {
			pthread_cond_destroy(&c->idle);
			pthread_mutex_destroy(&c->lock);
		}
		c->ready = false;
	}
}

void ide_reset(struct ide *ide)
{
	for (unsigned int n = 0; n < IDE_CHANNELS; n++) {
		struct ide_chan *c = &ide->chan[n];
		struct timespec end;
		int err = 0;

		clock_gettime(CLOCK_REALTIME, &end);
		end.tv_sec += 30;
		pthread_mutex_lock(&c->lock);
		abort_cmd(c);
		while (c->io_busy && err != ETIMEDOUT)
			err = pthread_cond_timedwait(&c->idle, &c->lock, &end);
		if (c->io_busy)
			log_err(c->name, "a request is still out after 30 s; "
				"resetting without it");
		chan_reset(c);
		pthread_mutex_unlock(&c->lock);
	}
}

/* --- the device lifecycle (core/device.h) ------------------------------ */

/* 2: the PIO buffer is IDE_PIO_AHEAD sectors, and each channel has an
 * EXT record (read-ahead, PACKET, the drives' ATAPI sense). */
#define IDE_STATE_VERSION 2
#define CHAN_REC_LEN 64
#define EXT_REC_LEN 32
#define PIO_BUF_LEN (IDE_PIO_AHEAD * IDE_SECTOR)
#define NO_DRIVE 0xff

enum {
	TAG_PRESENT = 1,	/* which positions hold a drive */
	TAG_CHAN0,		/* CHAN_REC_LEN bytes per channel */
	TAG_CHAN1,
	TAG_BUF0,		/* the PIO buffer per channel */
	TAG_BUF1,
	TAG_EXT0,		/* EXT_REC_LEN bytes per channel */
	TAG_EXT1,
};

static struct ide_device *to_ide(struct device *d)
{
	return (struct ide_device *)((char *)d -
				     offsetof(struct ide_device, dev));
}

static const struct device_ops ide_device_ops;

void ide_device_init(struct ide_device *d, const char *id,
		     struct blk_image *const drives[IDE_DRIVES],
		     const uint32_t gsi[IDE_CHANNELS])
{
	memset(d, 0, sizeof(*d));
	device_init(&d->dev, &ide_device_ops, id);
	memcpy(d->drives, drives, sizeof(d->drives));
	memcpy(d->gsi, gsi, sizeof(d->gsi));
}

static int ide_realize(struct device *dev, const struct machine_host *h)
{
	struct ide_device *d = to_ide(dev);
	struct ide_host host = { .mem = h->mem };
	int ret;

	for (unsigned int n = 0; n < IDE_CHANNELS; n++)
		host.irq[n] = (struct irq_line){ h->set_irq, h->set_irq_opaque,
						 d->gsi[n] };
	ret = ide_create(&d->ide, dev->id, &host, d->drives);
	d->created = !ret;
	return ret;
}

static void ide_unrealize(struct device *dev)
{
	struct ide_device *d = to_ide(dev);

	if (d->created)
		ide_destroy(&d->ide);
	d->created = false;
}

static int ide_device_start(struct device *dev)
{
	return ide_start(&to_ide(dev)->ide);
}

static void ide_device_destroy(struct device *dev)
{
	struct ide_device *d = to_ide(dev);

	if (d->release)
		d->release(d->owner);
}

static void ide_device_reset(struct device *dev)
{
	ide_reset(&to_ide(dev)->ide);
}

/* The request each channel has out lands; with the vCPUs paused nothing
 * hands the drive threads another. */
static int ide_pause(struct device *dev)
{
	struct ide *ide = &to_ide(dev)->ide;

	for (unsigned int n = 0; n < IDE_CHANNELS; n++) {
		struct ide_chan *c = &ide->chan[n];

		pthread_mutex_lock(&c->lock);
		while (c->io_busy)
			pthread_cond_wait(&c->idle, &c->lock);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

static uint8_t present(const struct ide *ide)
{
	uint8_t m = 0;

	for (unsigned int i = 0; i < IDE_DRIVES; i++)
		if (ide->chan[i / 2].drive[i % 2].img)
			m |= (uint8_t)(1u << i);
	return m;
}

static void chan_rec(const struct ide_chan *c, uint8_t *p)
{
	const uint8_t r[] = {
		c->feature, c->nsect, c->lbal, c->lbam, c->lbah, c->device,
		c->hob_feature, c->hob_nsect, c->hob_lbal, c->hob_lbam,
		c->hob_lbah, c->status, c->error, c->ctl, c->intrq, c->cmd,
		c->cur ? (uint8_t)(c->cur - c->drive) : NO_DRIVE,
		(uint8_t)c->xfer, c->write, c->dma_wait, c->dma_longer,
		c->bm_cmd, c->bm_status,
	};

	memset(p, 0, CHAN_REC_LEN);
	memcpy(p, r, sizeof(r));
	put_le64(p + 24, c->lba);
	put_le32(p + 32, c->left);
	put_le32(p + 36, c->block);
	put_le32(p + 40, c->nio);
	put_le32(p + 44, c->pos);
	put_le32(p + 48, c->len);
	put_le32(p + 52, c->prd_addr);
	for (int i = 0; i < 2; i++) {
		p[56 + 4 * i] = c->drive[i].mult;
		p[57 + 4 * i] = c->drive[i].xfer_mode;
		p[58 + 4 * i] = c->drive[i].heads;
		p[59 + 4 * i] = c->drive[i].spt;
	}
}

/* What PIO read-ahead and ATAPI add: sectors read ahead and where they
 * start, the PACKET phase and its bytes read ahead, and per drive whether
 * it is a CD-ROM and its sense (what REQUEST SENSE answers next). */
static void ext_rec(const struct ide_chan *c, uint8_t *p)
{
	memset(p, 0, EXT_REC_LEN);
	put_le32(p, c->ahead);
	put_le32(p + 4, c->ahead_at);
	put_le32(p + 8, c->abytes);
	p[12] = c->packet;
	for (int i = 0; i < 2; i++) {
		p[16 + 4 * i] = c->drive[i].atapi;
		p[17 + 4 * i] = c->drive[i].cd.key;
		p[18 + 4 * i] = c->drive[i].cd.asc;
		p[19 + 4 * i] = c->drive[i].cd.ascq;
	}
}

static int ext_check(const struct ide_chan *c, const uint8_t *p)
{
	const char *who = c->name;
	uint32_t ahead = get_le32(p), at = get_le32(p + 4);
	uint32_t abytes = get_le32(p + 8);

	if (at > PIO_BUF_LEN || ahead > (PIO_BUF_LEN - at) / IDE_SECTOR)
		return state_bad(who, "read-ahead", ahead,
				 "more than the buffer holds");
	if (abytes > PIO_BUF_LEN - at)
		return state_bad(who, "packet bytes", abytes,
				 "more than the buffer holds");
	if (p[12] > 1)
		return state_bad(who, "packet", p[12], "not 0 or 1");
	for (int i = 0; i < 2; i++)
		if (p[16 + 4 * i] != c->drive[i].atapi)
			return state_bad(who, "CD-ROM", p[16 + 4 * i],
					 "not this drive's kind");
	return 0;
}

static void ext_apply(struct ide_chan *c, const uint8_t *p)
{
	c->ahead = get_le32(p);
	c->ahead_at = get_le32(p + 4);
	c->abytes = get_le32(p + 8);
	c->packet = p[12];
	for (int i = 0; i < 2; i++) {
		c->drive[i].cd.key = p[17 + 4 * i];
		c->drive[i].cd.asc = p[18 + 4 * i];
		c->drive[i].cd.ascq = p[19 + 4 * i];
	}
}

static int ide_save(struct device *dev, struct state_writer *w)
{
	struct ide *ide = &to_ide(dev)->ide;

	state_put_u8(w, TAG_PRESENT, present(ide));
	for (unsigned int n = 0; n < IDE_CHANNELS; n++) {
		struct ide_chan *c = &ide->chan[n];
		uint8_t rec[CHAN_REC_LEN];

		pthread_mutex_lock(&c->lock);
		chan_rec(c, rec);
		state_put_bytes(w, (uint16_t)(TAG_CHAN0 + n), rec, sizeof(rec));
		state_put_bytes(w, (uint16_t)(TAG_BUF0 + n), c->buf,
				PIO_BUF_LEN);
		ext_rec(c, rec);
		state_put_bytes(w, (uint16_t)(TAG_EXT0 + n), rec, EXT_REC_LEN);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

/* One channel's record against what the channel could hold while idle. */
static int chan_check(const struct ide_chan *c, const uint8_t *p)
{
	const char *who = c->name;
	uint8_t cur = p[16], xfer = p[17], ctl = p[13], status = p[11];
	uint64_t lba = get_le64(p + 24);
	uint32_t left = get_le32(p + 32), block = get_le32(p + 36);
	uint32_t nio = get_le32(p + 40), pos = get_le32(p + 44);
	uint32_t len = get_le32(p + 48);

	if (status & ST_BSY)
		return state_bad(who, "status", status,
				 "busy: a paused channel has nothing out");
	if (ctl & ~(CTL_NIEN | CTL_SRST | CTL_HOB))
		return state_bad(who, "device control", ctl, "unknown bits");
	for (int i = 14; i <= 20; i++)
		if (i != 15 && i != 16 && i != 17 && p[i] > 1)
			return state_bad(who, "flag", p[i], "not 0 or 1");
	if (cur != NO_DRIVE && (cur > 1 || !c->drive[cur].img))
		return state_bad(who, "drive", cur, "no drive there");
	if (xfer > IDE_XFER_FLUSH)
		return state_bad(who, "transfer", xfer, "no such kind");
	if (xfer != IDE_XFER_NONE && cur == NO_DRIVE)
		return state_bad(who, "transfer", xfer, "without a drive");
	if (p[19] && xfer != IDE_XFER_DMA)
		return state_bad(who, "DMA wait", p[19], "not a DMA command");
	if (block > IDE_MAX_MULT || nio > IDE_MAX_MULT)
		return state_bad(who, "block", block > nio ? block : nio,
				 "more sectors than the buffer holds");
	if (len > PIO_BUF_LEN || pos > len)
		return state_bad(who, "data port", pos,
				 "outside the transfer");
	if (cur != NO_DRIVE &&
	    (lba > c->drive[cur].sectors || left > c->drive[cur].sectors - lba))
		return state_bad(who, "lba", lba, "past the end of the disk");
	if (p[21] & ~(BM_CMD_START | BM_CMD_TO_MEM))
		return state_bad(who, "bus master command", p[21],
				 "unknown bits");
	if (p[22] & ~(BM_ST_ACTIVE | BM_ST_ERR | BM_ST_INTR | BM_ST_DMA0 |
		      BM_ST_DMA1))
		return state_bad(who, "bus master status", p[22],
				 "unknown bits");
	if (get_le32(p + 52) & 3)
		return state_bad(who, "PRD address", get_le32(p + 52),
				 "not 4-byte aligned");
	for (int i = 0; i < 2; i++) {
		uint8_t mult = p[56 + 4 * i], mode = p[57 + 4 * i];
		uint8_t heads = p[58 + 4 * i];

		if (mult > IDE_MAX_MULT || (mult & (mult - 1)))
			return state_bad(who, "multiple", mult,
					 "not a block SET MULTIPLE takes");
		if (!xfer_mode_ok(mode))
			return state_bad(who, "transfer mode", mode,
					 "not a mode SET FEATURES takes");
		if (heads < 1 || heads > 16)
			return state_bad(who, "heads", heads, "not 1 to 16");
	}
	return 0;
}

static void chan_apply(struct ide_chan *c, const uint8_t *p,
		       const uint8_t *buf)
{
	int level;

	c->feature = p[0];
	c->nsect = p[1];
	c->lbal = p[2];
	c->lbam = p[3];
	c->lbah = p[4];
	c->device = p[5];
	c->hob_feature = p[6];
	c->hob_nsect = p[7];
	c->hob_lbal = p[8];
	c->hob_lbam = p[9];
	c->hob_lbah = p[10];
	c->status = p[11];
	c->error = p[12];
	c->ctl = p[13];
	c->intrq = p[14];
	c->cmd = p[15];
	c->cur = p[16] == NO_DRIVE ? NULL : &c->drive[p[16]];
	c->xfer = (enum ide_xfer)p[17];
	c->write = p[18];
	c->dma_wait = p[19];
	c->dma_longer = p[20];
	c->bm_cmd = p[21];
	c->bm_status = p[22];
	c->lba = get_le64(p + 24);
	c->left = get_le32(p + 32);
	c->block = get_le32(p + 36);
	c->nio = get_le32(p + 40);
	c->pos = get_le32(p + 44);
	c->len = get_le32(p + 48);
	c->prd_addr = get_le32(p + 52);
	for (int i = 0; i < 2; i++) {
		c->drive[i].mult = p[56 + 4 * i];
		c->drive[i].xfer_mode = p[57 + 4 * i];
		c->drive[i].heads = p[58 + 4 * i];
		c->drive[i].spt = p[59 + 4 * i];
	}
	memcpy(c->buf, buf, PIO_BUF_LEN);
	c->io_busy = c->io_queued = c->discard = c->reset_pending = false;
	/* The line as the record left it; the bus master's interrupt bit
	 * is the record's, not latched again. */
	level = c->intrq && !(c->ctl & CTL_NIEN);
	c->irq_level = level;
	if (irq_line_set(&c->irq, level))
		log_warn(c->name, "setting irq to %d", level);
}

static int ide_load(struct device *dev, struct state_reader *r)
{
	struct ide *ide = &to_ide(dev)->ide;
	uint8_t rec[IDE_CHANNELS][CHAN_REC_LEN], mask;
	uint8_t ext[IDE_CHANNELS][EXT_REC_LEN];
	uint8_t *buf = malloc(IDE_CHANNELS * PIO_BUF_LEN);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = state_get_u8(r, TAG_PRESENT, &mask);
	for (unsigned int n = 0; !ret && n < IDE_CHANNELS; n++) {
		ret = state_get_bytes(r, (uint16_t)(TAG_CHAN0 + n), rec[n],
				      CHAN_REC_LEN);
		ret = ret ?: state_get_bytes(r, (uint16_t)(TAG_BUF0 + n),
					     buf + n * PIO_BUF_LEN,
					     PIO_BUF_LEN);
		ret = ret ?: state_get_bytes(r, (uint16_t)(TAG_EXT0 + n),
					     ext[n], EXT_REC_LEN);
	}
	if (ret == -ENOENT)
		ret = state_bad(ide->name, "ide", 0, "a field is missing");
	if (!ret && mask != present(ide))
		ret = state_bad(ide->name, "drives present", mask,
				"another set of drives than this machine's");
	for (unsigned int n = 0; !ret && n < IDE_CHANNELS; n++)
		ret = chan_check(&ide->chan[n], rec[n]) ?:
		      ext_check(&ide->chan[n], ext[n]);
	ret = ret ?: state_reader_close(r, ide->name);
	for (unsigned int n = 0; !ret && n < IDE_CHANNELS; n++) {
		struct ide_chan *c = &ide->chan[n];

		pthread_mutex_lock(&c->lock);
		chan_apply(c, rec[n], buf + n * PIO_BUF_LEN);
		ext_apply(c, ext[n]);
		pthread_mutex_unlock(&c->lock);
	}
	free(buf);
	return ret;
}

static const struct device_ops ide_device_ops = {
	.kind = "ide",
	.state_version = IDE_STATE_VERSION,
	.realize = ide_realize,
	.start = ide_device_start,
	.unrealize = ide_unrealize,
	.reset = ide_device_reset,
	.pause = ide_pause,
	.save = ide_save,
	.load = ide_load,
	.destroy = ide_device_destroy,
};
