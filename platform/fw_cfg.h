/* The firmware configuration device (fw_cfg) as QEMU documents it
 * (docs/specs/fw_cfg.rst): how a BIOS reads what the VMM tells it. Items
 * are byte blobs selected by a 16-bit key; named items ("files") are also
 * listed in the file directory (key 0x19) with their key and size.
 *
 * x86 ports: 0x510 selector (16-bit write), 0x511 data (8-bit read, the
 * selected item's next byte; 0 past its end), 0x514 DMA address (64-bit,
 * big endian: a 32-bit write to 0x514 holds the high half, one to 0x518
 * the low half and starts the transfer). A DMA descriptor is 16 bytes of
 * guest RAM: control (be32), length (be32), address (be64). Control bits:
 * ERROR 0x01, READ 0x02, SKIP 0x04, SELECT 0x08 (key in bits 31:16),
 * WRITE 0x10. When done the device writes control back as 0, or with only
 * ERROR set.
 *
 * Guest input is hostile: a descriptor or a buffer that is not wholly
 * inside guest RAM, an unknown key or a write (nothing here is writable)
 * ends the transfer with ERROR and touches nothing else; odd port widths
 * and unknown offsets are ignored. Reads run on the vCPU thread that
 * trapped; a lock serialises vCPUs. The items are fixed before the guest
 * runs (fw_cfg_add_* are not for vCPU threads).
 *
 * The device lifecycle (core/device.h): realize registers the ports on the
 * machine's PIO bus; pause has nothing to stop (a transfer runs within
 * one port write, on the vCPU that made it); the state record holds what
 * the guest can see change: the selected key, the read offset in it and
 * the DMA address register's high half. The items are the
 * configuration's, built the same by the VM that loads the record. */
#ifndef TERN_PLATFORM_FW_CFG_H
#define TERN_PLATFORM_FW_CFG_H

#include "core/bus.h"
#include "core/device.h"
#include "core/memory.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DMA 0x514
#define FW_CFG_PORTS 12			/* 0x510..0x51b */

/* Keys of the fixed items. */
#define FW_CFG_SIGNATURE 0x00		/* "QEMU" */
#define FW_CFG_ID 0x01			/* bit 0 traditional, bit 1 DMA */
#define FW_CFG_NB_CPUS 0x05		/* le16 */
#define FW_CFG_MAX_CPUS 0x0f		/* le16 */
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20		/* files get keys from here */
#define FW_CFG_MAX_FILES 32
#define FW_CFG_NAME_LEN 56		/* with the NUL */

#define FW_CFG_DMA_ERROR 0x01
#define FW_CFG_DMA_READ 0x02
#define FW_CFG_DMA_SKIP 0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE 0x10
/* Read from the DMA address register: "QEMU CFG" as a be64. */
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL

struct fw_cfg_item {
	uint16_t key;
	char name[FW_CFG_NAME_LEN];	/* "" for the fixed keys */
	uint8_t *data;			/* owned */
	uint32_t len;
};

#define FW_CFG_MAX_ITEMS (FW_CFG_MAX_FILES + 8)

struct fw_cfg {
	struct device dev;		/* fw_cfg_init */
	struct bus *pio;		/* realized on */
	const char *name;
	const struct guest_mem *mem;
	pthread_mutex_t lock;		/* selection, offset, DMA address */
	unsigned int nitems, nfiles;
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	uint8_t *dir;			/* FW_CFG_FILE_DIR, rebuilt on add */
	uint32_t dir_len;
	int sel;			/* index in items[], -1: none */
	uint32_t off;			/* read position in the selected item */
	uint64_t dma_addr;
	/* Counts, for tests and logs. */
	unsigned long dma_errors;
};

/* The signature, ID (with DMA) and an empty file directory; the device
 * (CREATED, named `name`) for the VM's list. `mem` is the guest RAM DMA
 * reads and writes. Returns 0 or -errno. */
int fw_cfg_init(struct fw_cfg *f, const char *name,
		const struct guest_mem *mem);
void fw_cfg_destroy(struct fw_cfg *f);

/* Adds (a copy of) a fixed-key item; -EEXIST if the key is taken. */
int fw_cfg_add_item(struct fw_cfg *f, uint16_t key, const void *data,
		    uint32_t len);
/* Adds (a copy of) a named file and lists it in the directory; -EINVAL
 * for an empty or too long name, -EEXIST for a name already there,
 * -ENOSPC when full. */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data,
		    uint32_t len);
/* The item a file name selects, or NULL. */
const struct fw_cfg_item *fw_cfg_find_file(const struct fw_cfg *f,
					   const char *name);

/* Register over FW_CFG_PORTS ports at FW_CFG_PORT_SEL (realize does). */
extern const struct bus_ops fw_cfg_ops;
extern const struct device_ops fw_cfg_device_ops;

/* Runs the DMA descriptor at guest address `desc` (what a write to the low
 * half of the DMA register does). Returns 0, or -EFAULT / -EINVAL / -ENOENT
 * for a transfer that ended with ERROR (already reported to the guest,
 * when the descriptor itself was reachable). */
int fw_cfg_dma(struct fw_cfg *f, uint64_t desc);

#endif
