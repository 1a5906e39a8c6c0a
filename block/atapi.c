/* ATAPI CD-ROM commands: see block/atapi.h. Field layouts follow SPC-3
 * (INQUIRY, REQUEST SENSE, MODE SENSE) and MMC-5 (READ TOC, GET
 * CONFIGURATION, GET EVENT STATUS NOTIFICATION, the capabilities page). */
#include "block/atapi.h"

#include <string.h>

enum {
	OP_TEST_UNIT_READY = 0x00,
	OP_REQUEST_SENSE = 0x03,
	OP_INQUIRY = 0x12,
	OP_START_STOP = 0x1b,
	OP_PREVENT_ALLOW = 0x1e,
	OP_READ_CAPACITY = 0x25,
	OP_READ_10 = 0x28,
	OP_SEEK_10 = 0x2b,
	OP_READ_TOC = 0x43,
	OP_GET_CONFIGURATION = 0x46,
	OP_GET_EVENT_STATUS = 0x4a,
	OP_MODE_SENSE_10 = 0x5a,
	OP_READ_12 = 0xa8,
	OP_SET_CD_SPEED = 0xbb,
};

#define PROFILE_CDROM 0x0008
#define PROFILE_DVDROM 0x0010
#define CD_MAX_BLOCKS (80u * 60 * 75)	/* an 80-minute CD */
#define MSF_OFFSET 150			/* LBA 0 is 00:02:00 */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static void check(struct atapi *a, struct atapi_result *r, uint8_t key,
		  uint8_t asc)
{
	a->key = key;
	a->asc = asc;
	a->ascq = 0;
	r->act = ATAPI_CHECK;
}

static void data(struct atapi_result *r, uint32_t len, uint32_t alloc)
{
	r->act = ATAPI_DATA_IN;
	r->len = len < alloc ? len : alloc;
}

/* An address as READ TOC gives it: LBA, or minute/second/frame. */
static void put_addr(uint8_t *p, uint64_t lba, int msf)
{
	if (!msf) {
		put32(p, (uint32_t)lba);
		return;
	}
	lba += MSF_OFFSET;
	p[0] = 0;
	p[1] = (uint8_t)(lba / (60 * 75));
	p[2] = (uint8_t)(lba / 75 % 60);
	p[3] = (uint8_t)(lba % 75);
}

static int read_toc(struct atapi *a, const uint8_t *cdb, uint8_t *b)
{
	int msf = cdb[1] & 2;
	unsigned int format = cdb[2] & 0x0f;

	if (!format && (cdb[9] & 0xc0))
		format = cdb[9] >> 6;		/* the older field */
	switch (format) {
	case 0:					/* TOC: track 1, lead-out */
		if (cdb[6] > 1 && cdb[6] != 0xaa)
			return -1;
		put16(b, 18);
		b[2] = b[3] = 1;
		b[5] = 0x14;			/* data track, ADR 1 */
		b[6] = 1;
		put_addr(b + 8, 0, msf);
		b[13] = 0x14;
		b[14] = 0xaa;
		put_addr(b + 16, a->blocks, msf);
		return 20;
	case 1:					/* session information */
		put16(b, 10);
		b[2] = b[3] = 1;
		b[5] = 0x14;
		b[6] = 1;
		put_addr(b + 8, 0, msf);
		return 12;
	default:
		return -1;
	}
}

/* Mode pages: error recovery (01h) and capabilities (2Ah). */
static int mode_sense(struct atapi *a, const uint8_t *cdb, uint8_t *b)
{
	unsigned int page = cdb[2] & 0x3f, pc = cdb[2] >> 6, n = 8;

	if (pc == 3)
		return -2;			/* saved values: none */
	if (page == 0x01 || page == 0x3f) {
		b[n] = 0x01;
		b[n + 1] = 6;
		n += 8;
	}
	if (page == 0x2a || page == 0x3f) {
		uint8_t *p = b + n;

		p[0] = 0x2a;
		p[1] = 0x14;
		if (pc != 1) {			/* changeable: all zero */
			p[2] = 0x3b;		/* reads CD-R/RW, DVD-ROM... */
			p[4] = 0x71;		/* audio, multi-session... */
			p[6] = 0x29;		/* tray, eject, lock */
			put16(p + 8, 706);	/* max speed, kB/s (4x) */
			put16(p + 10, 256);	/* volume levels */
			put16(p + 12, 512);	/* buffer, KiB */
			put16(p + 14, 706);	/* current speed */
		}
		n += 22;
	}
	if (n == 8)
		return -1;
	put16(b, n - 2);
	b[2] = 0x70;				/* medium: door closed */
	return (int)n;
}

static int get_configuration(struct atapi *a, const uint8_t *cdb, uint8_t *b)
{
	unsigned int rt = cdb[1] & 3, start = be16(cdb + 2), n = 8;
	uint16_t profile = a->blocks > CD_MAX_BLOCKS ? PROFILE_DVDROM
						     : PROFILE_CDROM;

	if (rt == 3)
		return -1;
	put16(b + 6, profile);
	/* Feature 0, the profile list: the one profile we are. */
	if (start == 0) {
		b[n + 2] = 0x03;		/* persistent, current */
		b[n + 3] = 4;
		put16(b + n + 4, profile);
		b[n + 6] = 1;			/* current */
		n += 8;
	}
	put32(b, n - 4);
	return (int)n;
}

static int event_status(const uint8_t *cdb, uint8_t *b)
{
	if (!(cdb[1] & 1))
		return -1;			/* asynchronous: not offered */
	b[3] = 0x10;				/* supported: media class */
	if (!(cdb[4] & 0x10)) {
		b[2] = 0x80;			/* no event available */
		return 4;
	}
	put16(b, 6);
	b[2] = 0x04;				/* media class */
	b[5] = 0x02;				/* media present, no change */
	return 8;
}

void atapi_command(struct atapi *a, const uint8_t cdb[ATAPI_CDB_LEN],
		   uint8_t *b, struct atapi_result *r)
{
	uint8_t key = a->key, asc = a->asc, ascq = a->ascq;
	int n;

	memset(r, 0, sizeof(*r));
	memset(b, 0, ATAPI_RESP_MAX);
	/* A command's own sense replaces the last one. */
	a->key = a->asc = a->ascq = 0;
	r->act = ATAPI_GOOD;
	switch (cdb[0]) {
	case OP_TEST_UNIT_READY:
	case OP_START_STOP:
	case OP_PREVENT_ALLOW:
	case OP_SET_CD_SPEED:
		break;
	case OP_SEEK_10:
		if (be32(cdb + 2) >= a->blocks)
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      ATAPI_ASC_LBA_OUT_OF_RANGE);
		break;
	case OP_REQUEST_SENSE:
		b[0] = 0x70;			/* current, fixed format */
		b[2] = key;
		b[7] = 10;
		b[12] = asc;
		b[13] = ascq;
		data(r, 18, cdb[4]);
		break;
	case OP_INQUIRY:
		if (cdb[1] & 1) {		/* vital product data: none */
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      ATAPI_ASC_INVALID_FIELD);
			break;
		}
		b[0] = 0x05;			/* CD/DVD device */
		b[1] = 0x80;			/* removable */
		b[2] = 0x05;			/* SPC-3 */
		b[3] = 0x32;			/* ATAPI, response format 2 */
		b[4] = 31;
		memcpy(b + 8, "TERN    ", 8);
		memcpy(b + 16, "DVD-ROM         ", 16);
		memcpy(b + 32, "1.0 ", 4);
		data(r, 36, be16(cdb + 3));
		break;
	case OP_READ_CAPACITY:
		put32(b, a->blocks ? (uint32_t)(a->blocks - 1) : 0);
		put32(b + 4, ATAPI_BLOCK);
		data(r, 8, 8);
		break;
	case OP_READ_10:
	case OP_READ_12: {
		uint64_t lba = be32(cdb + 2);
		uint32_t count = cdb[0] == OP_READ_10 ? be16(cdb + 7)
						      : be32(cdb + 6);

		if (lba > a->blocks || count > a->blocks - lba) {
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      ATAPI_ASC_LBA_OUT_OF_RANGE);
			break;
		}
		if (count) {
			r->act = ATAPI_READ;
			r->lba = lba;
			r->count = count;
		}
		break;
	}
	case OP_READ_TOC:
		n = read_toc(a, cdb, b);
		if (n < 0)
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      ATAPI_ASC_INVALID_FIELD);
		else
			data(r, (uint32_t)n, be16(cdb + 7));
		break;
	case OP_MODE_SENSE_10:
		n = mode_sense(a, cdb, b);
		if (n < 0)
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      n == -2 ? ATAPI_ASC_SAVING_NOT_SUPPORTED
				      : ATAPI_ASC_INVALID_FIELD);
		else
			data(r, (uint32_t)n, be16(cdb + 7));
		break;
	case OP_GET_CONFIGURATION:
		n = get_configuration(a, cdb, b);
		if (n < 0)
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      ATAPI_ASC_INVALID_FIELD);
		else
			data(r, (uint32_t)n, be16(cdb + 7));
		break;
	case OP_GET_EVENT_STATUS:
		n = event_status(cdb, b);
		if (n < 0)
			check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
			      ATAPI_ASC_INVALID_FIELD);
		else
			data(r, (uint32_t)n, be16(cdb + 7));
		break;
	default:
		check(a, r, ATAPI_SENSE_ILLEGAL_REQUEST,
		      ATAPI_ASC_INVALID_OPCODE);
		break;
	}
	if (r->act == ATAPI_DATA_IN && !r->len)
		r->act = ATAPI_GOOD;		/* allocation length 0 */
}
