/* The device state stream: what a paused device saves and loads (snapshot,
 * and later migration). One record per device:
 *
 *   header   "TERNDEV\0"        8 bytes magic
 *            u32 format         STATE_FORMAT (this layout)
 *            char kind[24]      the device kind, NUL-padded ("serial")
 *            char id[32]        the device's id, NUL-padded ("serial0")
 *            u32 version        the device's own state version
 *            u64 length         bytes of fields that follow
 *   fields   u16 tag, u8 type, u32 length, then length bytes of value
 *
 * All integers little-endian. Types are u8, u16, u32, u64 (length 1, 2, 4,
 * 8) and bytes (any length). A loaded record is hostile input: the reader
 * checks the magic, the format, the kind, that the length is exactly what
 * follows, every field's type and length, and that no tag appears twice,
 * before the device sees any value; the device then checks each value
 * against its own rules. Tags below STATE_TAG_OPTIONAL must be understood:
 * a record with one the device did not ask for is rejected. Tags from
 * STATE_TAG_OPTIONAL up may be skipped by a device that does not know
 * them (state a newer tern may add without breaking older loaders). */
#ifndef TERN_CORE_STATE_H
#define TERN_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_MAGIC "TERNDEV"		/* and its NUL: 8 bytes */
#define STATE_FORMAT 1
#define STATE_KIND_LEN 24
#define STATE_ID_LEN 32
#define STATE_HEADER_LEN (8 + 4 + STATE_KIND_LEN + STATE_ID_LEN + 4 + 8)
#define STATE_FIELD_HDR_LEN 7		/* tag, type, length */
#define STATE_MAX_FIELDS 512
#define STATE_MAX_RECORD (16u << 20)	/* a record larger is refused */
#define STATE_TAG_OPTIONAL 0x8000

enum state_type {
	STATE_U8 = 1,
	STATE_U16 = 2,
	STATE_U32 = 3,
	STATE_U64 = 4,
	STATE_BYTES = 5,
};

/* Writes one record into a buffer it grows. The first failure (-ENOMEM,
 * -E2BIG past STATE_MAX_RECORD) sticks: later puts do nothing and
 * state_writer_end returns it, so a save need not check every put. */
struct state_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t start;			/* of the current record's header */
	int err;
};

void state_writer_init(struct state_writer *w);
void state_writer_free(struct state_writer *w);
/* Starts a record. kind and id are cut to their field sizes less one. */
void state_begin(struct state_writer *w, const char *kind, const char *id,
		 uint32_t version);
void state_put_u8(struct state_writer *w, uint16_t tag, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t tag, uint16_t v);
void state_put_u32(struct state_writer *w, uint16_t tag, uint32_t v);
void state_put_u64(struct state_writer *w, uint16_t tag, uint64_t v);
void state_put_bytes(struct state_writer *w, uint16_t tag, const void *p,
		     uint32_t len);
/* Closes the record (fills in its length). 0 or the first error. */
int state_end(struct state_writer *w);

/* Reads one record, checked whole by state_reader_open. */
struct state_reader {
	const uint8_t *buf;		/* the fields */
	size_t len;
	char kind[STATE_KIND_LEN], id[STATE_ID_LEN];
	uint32_t version;		/* the device's */
	size_t record_len;		/* header and fields */
	unsigned int nfields;
	struct state_field {
		uint16_t tag;
		uint8_t type;
		bool used;
		uint32_t len;
		const uint8_t *value;
	} fields[STATE_MAX_FIELDS];
};

/* Checks the record at the start of buf[0..len): header, each field's
 * header and the tag rule; the record may be followed by others (the next
 * starts at record_len). KIND must match the record's. -EINVAL with a log
 * line naming WHO and what is wrong. */
int state_reader_open(struct state_reader *r, const void *buf, size_t len,
		      const char *kind, const char *who);
/* A field's value: 0, -ENOENT if the record has no such tag, -EINVAL
 * (logged) if it has another type or (bytes) another length. */
int state_get_u8(struct state_reader *r, uint16_t tag, uint8_t *v);
int state_get_u16(struct state_reader *r, uint16_t tag, uint16_t *v);
int state_get_u32(struct state_reader *r, uint16_t tag, uint32_t *v);
int state_get_u64(struct state_reader *r, uint16_t tag, uint64_t *v);
int state_get_bytes(struct state_reader *r, uint16_t tag, void *p,
		    uint32_t len);
/* A bytes field of at most max bytes: its length in *len. */
int state_get_blob(struct state_reader *r, uint16_t tag, void *p,
		   uint32_t max, uint32_t *len);
/* Every field below STATE_TAG_OPTIONAL was read: 0, else -EINVAL naming
 * the first one left (an unknown, mandatory piece of state). */
int state_reader_close(struct state_reader *r, const char *who);

/* A device's complaint about a value: logs "WHO: state field NAME: value
 * V: WHY" and returns -EINVAL. */
int state_bad(const char *who, const char *name, uint64_t v, const char *why);

#endif
