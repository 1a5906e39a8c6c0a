/* The CD-ROM side of ATAPI: the SCSI/MMC commands a BIOS and Linux's sr
 * send in a PACKET, answered from a read-only image of 2048-byte blocks.
 * Pure: the PACKET protocol (task file, DRQ, interrupts) is block/ide.c's,
 * the reads are its I/O thread's; this file decodes a 12-byte command and
 * says what to do.
 *
 * Commands: TEST UNIT READY, REQUEST SENSE, INQUIRY (standard data only),
 * START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL (accepted, nothing
 * moves), READ CAPACITY, READ(10), READ(12), SEEK(10), SET CD SPEED, READ
 * TOC (formats 0 and 1, LBA or MSF), MODE SENSE(10) (pages 01h, 2Ah, 3Fh),
 * GET CONFIGURATION (current profile, profile list), GET EVENT STATUS
 * NOTIFICATION (polled, media class). Anything else, and any field out of
 * range, is CHECK CONDITION with ILLEGAL REQUEST and the sense data saying
 * why; a read beyond the medium is LOGICAL BLOCK ADDRESS OUT OF RANGE. */
#ifndef TERN_BLOCK_ATAPI_H
#define TERN_BLOCK_ATAPI_H

#include <stddef.h>
#include <stdint.h>

#define ATAPI_BLOCK 2048u
#define ATAPI_CDB_LEN 12
#define ATAPI_RESP_MAX 256		/* the longest answer, in bytes */

#define ATAPI_SENSE_NONE 0x00
#define ATAPI_SENSE_NOT_READY 0x02
#define ATAPI_SENSE_ILLEGAL_REQUEST 0x05
#define ATAPI_ASC_INVALID_OPCODE 0x20
#define ATAPI_ASC_LBA_OUT_OF_RANGE 0x21
#define ATAPI_ASC_INVALID_FIELD 0x24
#define ATAPI_ASC_SAVING_NOT_SUPPORTED 0x39

struct atapi {
	uint64_t blocks;		/* medium size in 2048-byte blocks */
	uint8_t key, asc, ascq;		/* sense of the last command */
};

enum atapi_action {
	ATAPI_GOOD,			/* no data, success */
	ATAPI_DATA_IN,			/* `len` bytes in the buffer */
	ATAPI_READ,			/* `count` blocks from `lba` */
	ATAPI_CHECK,			/* failed: sense set, see atapi_error */
};

struct atapi_result {
	enum atapi_action act;
	uint32_t len;
	uint64_t lba;
	uint32_t count;
};

/* Decodes and runs `cdb`; answers go to buf (ATAPI_RESP_MAX bytes),
 * already cut to the command's allocation length. */
void atapi_command(struct atapi *a, const uint8_t cdb[ATAPI_CDB_LEN],
		   uint8_t *buf, struct atapi_result *r);

/* The ATA error register after CHECK CONDITION: sense key and ABRT. */
static inline uint8_t atapi_error(const struct atapi *a)
{
	return (uint8_t)(a->key << 4 | 0x04);
}

#endif
