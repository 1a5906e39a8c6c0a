/* PIIX IDE: two ATA channels (primary and secondary, each with a master
 * and a slave position) and the SFF-8038i bus-master DMA engine, for
 * Linux's ata_piix on the legacy slow path. Disks, and CD-ROMs over ATAPI
 * (ide_set_atapi; the PACKET protocol in PIO, the commands in
 * block/atapi.c). A CD-ROM shares a channel badly with a disk: the task
 * file is one per channel, so after a reset it shows the master's
 * signature; put a CD-ROM alone on its channel (as the secondary master).
 *
 * The model knows nothing of PCI or port numbers. The machine registers
 * ide_cmd_ops over each channel's 8-port command block (0x1F0 / 0x170),
 * ide_ctl_ops over its control port (0x3F6 / 0x376) and ide_bm_ops over
 * its 8 bytes of the bus-master BAR (primary at +0, secondary at +8), all
 * with &ide->chan[n] as the opaque, and hands over one interrupt line per
 * channel (IRQ 14 and 15 in legacy mode).
 *
 * Data moves through block/uring.c: each present drive has an I/O thread
 * with its own ring (an engine serves one image). The vCPU thread that
 * writes a command hands the request over through an eventfd the ring
 * watches; the completion finishes the command under the channel lock and
 * raises the interrupt. One command per channel is in flight at a time. */
#ifndef TERN_BLOCK_IDE_H
#define TERN_BLOCK_IDE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/atapi.h"
#include "block/image.h"
#include "block/uring.h"
#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"
#include "core/memory.h"

#define IDE_CHANNELS 2
#define IDE_DRIVES 4		/* primary master, slave, secondary master,
				 * slave */
#define IDE_SECTOR 512u
#define IDE_MAX_MULT 16		/* sectors per DRQ block, READ MULTIPLE */
/* PIO-in reads ahead this many sectors per request to the I/O thread and
 * serves the DRQ blocks from the buffer: a BIOS reads one sector per DRQ
 * block, and a round trip to the thread per sector would keep the guest
 * polling BSY (an exit per poll). */
#define IDE_PIO_AHEAD 128
/* A PRD table may not cross a 64 KiB boundary (SFF-8038i), so it holds at
 * most 8192 entries: the bound on a table without an end-of-table bit. */
#define IDE_PRD_MAX 8192

struct ide_host {
	const struct guest_mem *mem;
	struct irq_line irq[IDE_CHANNELS];
};

struct ide_chan;

struct ide_drive {
	struct ide_chan *chan;
	struct blk_image *img;		/* NULL: nothing in this position */
	char name[40];			/* "ide0 primary master" */
	char serial[21], model[41];
	uint64_t sectors;
	/* Settings the guest changes; back to defaults on VM reset. */
	uint8_t mult;			/* READ/WRITE MULTIPLE block, 0: off */
	uint8_t xfer_mode;		/* SET FEATURES 03h value */
	uint8_t heads, spt;		/* INITIALIZE DEVICE PARAMETERS */
	bool atapi;			/* a CD-ROM: PACKET commands */
	struct atapi cd;		/* its medium and sense */

	/* The I/O thread; only it touches eng after ide_start. */
	struct uring_engine eng;
	bool eng_on;			/* eng made by ide_create */
	int kick_fd, stop_fd;		/* eventfds, -1 when unused */
	pthread_t thread;
	bool running;
};

/* What the channel's command is doing with its data. */
enum ide_xfer { IDE_XFER_NONE, IDE_XFER_PIO, IDE_XFER_DMA, IDE_XFER_FLUSH };

struct ide_chan {
	pthread_mutex_t lock;		/* everything below but the fixed
					 * fields (ide, index, name, irq,
					 * drive[].img and the I/O parts) */
	struct ide *ide;
	unsigned int index;
	char name[24];			/* "ide0 primary" */
	struct irq_line irq;
	struct ide_drive drive[2];
	pthread_cond_t idle;		/* io_busy went false */
	bool ready;			/* lock and idle initialised */
	int irq_level;			/* last level given to irq_line_set */
	unsigned int logged;		/* guest and I/O errors logged */

	/* Task file. Both positions see every write, so one copy serves
	 * both; hob_* hold the previous write of each register (48-bit). */
	uint8_t feature, nsect, lbal, lbam, lbah, device;
	uint8_t hob_feature, hob_nsect, hob_lbal, hob_lbam, hob_lbah;
	uint8_t status, error, ctl;
	bool intrq;			/* the device asserts its interrupt */

	/* The command in progress. */
	uint8_t cmd;
	struct ide_drive *cur;		/* the drive running it */
	enum ide_xfer xfer;
	bool write;
	uint64_t lba;			/* next sector to move */
	uint32_t left;			/* sectors still to move */
	uint32_t block;			/* sectors per DRQ block (PIO) */
	uint32_t nio;			/* sectors in the request out */
	uint8_t *buf;			/* PIO data, IDE_PIO_AHEAD sectors */
	uint32_t pos, len;		/* data port position; len 0: no data */
	uint32_t ahead, ahead_at;	/* PIO-in: sectors read but not yet
					 * shown, from byte ahead_at of buf */
	bool packet;			/* PACKET: the command bytes come */
	uint32_t abytes;		/* PACKET data-in: bytes read but not
					 * yet shown, from ahead_at */
	bool dma_wait;			/* DMA command waits for the engine */
	bool dma_longer;		/* PRD table longer than the transfer */

	/* The request handed to cur's I/O thread. */
	struct blk_req req;
	struct iovec *iov;		/* IDE_PRD_MAX entries */
	bool io_busy;			/* handed over, done() not yet run */
	bool io_queued;			/* not yet taken by the thread */
	bool discard;			/* reset while out: drop the result */
	bool reset_pending;		/* SRST ended while out: finish the
					 * reset when it returns */

	/* Bus master registers. */
	uint8_t bm_cmd, bm_status;
	uint32_t prd_addr;
};

struct ide {
	char name[16];			/* "ide0" */
	const struct guest_mem *mem;
	struct ide_chan chan[IDE_CHANNELS];
};

/* DRIVES: primary master, primary slave, secondary master, secondary
 * slave; NULL for an empty position. The images stay the caller's (opened
 * and locked by it, closed after ide_destroy); a direct image needs 512-byte
 * logical blocks. NAME ("ide0") is copied. Prepares each drive's io_uring
 * engine; ide_start starts their I/O threads (a VM creates no thread until
 * its sandbox is in place). Returns 0 or -errno (-EINVAL, -ENOMEM, or the
 * engine's -ENOSYS / -EPERM when io_uring is unavailable); on failure
 * nothing is left to destroy. */
int ide_create(struct ide *ide, const char *name, const struct ide_host *host,
	       struct blk_image *const drives[IDE_DRIVES]);
/* One I/O thread per drive. 0 or -errno (logged); ide_destroy stops what
 * started. */
int ide_start(struct ide *ide);
/* Makes drive `n` (0..3, as in ide_create) a CD-ROM on its read-only
 * image (a partial last block is not shown): before ide_start. -EINVAL
 * if nothing is there or the image holds no whole block, -EROFS if it is
 * writable, -EFBIG from 2 TiB up. */
int ide_set_atapi(struct ide *ide, unsigned int n);
/* Stops the threads after the requests out have landed. */
void ide_destroy(struct ide *ide);
/* VM reset: every setting back to its default and the reset signature.
 * Waits for a request already with the kernel (its result is dropped), so
 * no DMA lands in guest RAM after the reset; if one takes over 30 s, it
 * logs and leaves the channel BSY until it is back. Call with the vCPUs
 * stopped. */
void ide_reset(struct ide *ide);

/* Opaque: &ide->chan[n]. Command block: offset 0 is the data port (2- and
 * 4-byte accesses), 1..7 byte registers (wider accesses are split).
 * Control: offset 0 only. Bus master: offsets 0..7 of the channel's part. */
extern const struct bus_ops ide_cmd_ops, ide_ctl_ops, ide_bm_ops;

/* The IDE function's model as a device of the lifecycle (core/device.h):
 * realize is ide_create with the machine's guest RAM and IRQ lines GSI[0]
 * and GSI[1] (the ports are the PIIX's to register: piix_attach_ide);
 * the drive threads start with the lifecycle's start (ide_start: a VM
 * starts threads once its sandbox is in place). pause waits for the request each channel
 * has out, so the drive threads have nothing to do (the vCPUs, paused
 * first, hand them nothing new); save and load carry every channel's task
 * file, command in progress (a PIO transfer half read continues), bus
 * master registers and each drive's settings; reset is ide_reset. The
 * images stay the caller's. */
struct ide_device {
	struct device dev;
	struct ide ide;
	struct blk_image *drives[IDE_DRIVES];
	uint32_t gsi[IDE_CHANNELS];
	bool created;
	/* destroy: frees what holds the device (and the images), or NULL. */
	void (*release)(void *owner);
	void *owner;
};

void ide_device_init(struct ide_device *d, const char *id,
		     struct blk_image *const drives[IDE_DRIVES],
		     const uint32_t gsi[IDE_CHANNELS]);

#endif
