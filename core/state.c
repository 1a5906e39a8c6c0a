#include "core/state.h"

#include "core/bytes.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(STATE_MAGIC) == 8, "magic is 8 bytes with its NUL");

#define OFF_FORMAT 8
#define OFF_KIND 12
#define OFF_ID (OFF_KIND + STATE_KIND_LEN)
#define OFF_VERSION (OFF_ID + STATE_ID_LEN)
#define OFF_LENGTH (OFF_VERSION + 4)

void state_writer_init(struct state_writer *w)
{
	*w = (struct state_writer){ 0 };
}

void state_writer_free(struct state_writer *w)
{
	free(w->buf);
	*w = (struct state_writer){ 0 };
}

/* Room for n more bytes; sets w->err on failure. */
static uint8_t *grow(struct state_writer *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 256;
	uint8_t *p;

	if (w->err)
		return NULL;
	if (n > STATE_MAX_RECORD || w->len - w->start + n > STATE_MAX_RECORD) {
		w->err = -E2BIG;
		return NULL;
	}
	while (cap < w->len + n)
		cap *= 2;
	if (cap != w->cap) {
		p = realloc(w->buf, cap);
		if (!p) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->buf = p;
		w->cap = cap;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

void state_begin(struct state_writer *w, const char *kind, const char *id,
		 uint32_t version)
{
	uint8_t *h;

	w->start = w->len;
	h = grow(w, STATE_HEADER_LEN);
	if (!h)
		return;
	memset(h, 0, STATE_HEADER_LEN);
	memcpy(h, STATE_MAGIC, 8);
	put_le32(h + OFF_FORMAT, STATE_FORMAT);
	strncpy((char *)h + OFF_KIND, kind, STATE_KIND_LEN - 1);
	strncpy((char *)h + OFF_ID, id, STATE_ID_LEN - 1);
	put_le32(h + OFF_VERSION, version);
}

static void put(struct state_writer *w, uint16_t tag, uint8_t type,
		const void *v, uint32_t len)
{
	uint8_t *p = grow(w, STATE_FIELD_HDR_LEN + (size_t)len);

	if (!p)
		return;
	put_le16(p, tag);
	p[2] = type;
	put_le32(p + 3, len);
	if (len)
		memcpy(p + STATE_FIELD_HDR_LEN, v, len);
}

void state_put_u8(struct state_writer *w, uint16_t tag, uint8_t v)
{
	put(w, tag, STATE_U8, &v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t tag, uint16_t v)
{
	uint8_t b[2];

	put_le16(b, v);
	put(w, tag, STATE_U16, b, 2);
}

void state_put_u32(struct state_writer *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	put(w, tag, STATE_U32, b, 4);
}

void state_put_u64(struct state_writer *w, uint16_t tag, uint64_t v)
{
	uint8_t b[8];

	put_le64(b, v);
	put(w, tag, STATE_U64, b, 8);
}

void state_put_bytes(struct state_writer *w, uint16_t tag, const void *p,
		     uint32_t len)
{
	put(w, tag, STATE_BYTES, p, len);
}

int state_end(struct state_writer *w)
{
	if (w->err)
		return w->err;
	put_le64(w->buf + w->start + OFF_LENGTH,
		 w->len - w->start - STATE_HEADER_LEN);
	return 0;
}

static int bad(const char *who, const char *what)
{
	log_warn(who, "state record: %s", what);
	return -EINVAL;
}

static uint32_t type_len(uint8_t type)
{
	switch (type) {
	case STATE_U8: return 1;
	case STATE_U16: return 2;
	case STATE_U32: return 4;
	case STATE_U64: return 8;
	default: return 0;
	}
}

/* A NUL-padded name field: a NUL within, nothing but NULs after it. */
static bool name_ok(const uint8_t *p, size_t len, char *out)
{
	size_t n = strnlen((const char *)p, len);

	if (n == len)
		return false;
	for (size_t i = n; i < len; i++)
		if (p[i])
			return false;
	memcpy(out, p, n + 1);
	return true;
}

int state_reader_open(struct state_reader *r, const void *buf, size_t len,
		      const char *kind, const char *who)
{
	const uint8_t *h = buf;
	uint64_t plen;
	size_t off;

	r->nfields = 0;
	if (len < STATE_HEADER_LEN)
		return bad(who, "shorter than its header");
	if (memcmp(h, STATE_MAGIC, 8))
		return bad(who, "no TERNDEV magic");
	if (get_le32(h + OFF_FORMAT) != STATE_FORMAT) {
		log_warn(who, "state record: format %u, this tern reads %u",
			 get_le32(h + OFF_FORMAT), STATE_FORMAT);
		return -EINVAL;
	}
	if (!name_ok(h + OFF_KIND, STATE_KIND_LEN, r->kind) ||
	    !name_ok(h + OFF_ID, STATE_ID_LEN, r->id))
		return bad(who, "kind or id is not a NUL-padded name");
	if (strcmp(r->kind, kind)) {
		log_warn(who, "state record: of a %s, not a %s", r->kind, kind);
		return -EINVAL;
	}
	r->version = get_le32(h + OFF_VERSION);
	plen = get_le64(h + OFF_LENGTH);
	if (plen > len - STATE_HEADER_LEN || plen > STATE_MAX_RECORD)
		return bad(who, "length runs past the end");
	r->buf = h + STATE_HEADER_LEN;
	r->len = (size_t)plen;
	r->record_len = STATE_HEADER_LEN + r->len;
	for (off = 0; off < r->len;) {
		struct state_field *f;
		uint32_t flen, want;
		uint16_t tag;
		uint8_t type;

		if (r->len - off < STATE_FIELD_HDR_LEN)
			return bad(who, "a field header runs past the end");
		tag = get_le16(r->buf + off);
		type = r->buf[off + 2];
		flen = get_le32(r->buf + off + 3);
		off += STATE_FIELD_HDR_LEN;
		if (flen > r->len - off) {
			log_warn(who, "state field 0x%x: %u bytes run past the "
				 "end", tag, flen);
			return -EINVAL;
		}
		want = type_len(type);
		if (type != STATE_BYTES && (!want || want != flen)) {
			log_warn(who, "state field 0x%x: type %u with %u bytes",
				 tag, type, flen);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < r->nfields; i++)
			if (r->fields[i].tag == tag) {
				log_warn(who, "state field 0x%x twice", tag);
				return -EINVAL;
			}
		if (r->nfields == STATE_MAX_FIELDS)
			return bad(who, "more fields than any device has");
		f = &r->fields[r->nfields++];
		*f = (struct state_field){ .tag = tag, .type = type,
					   .len = flen,
					   .value = r->buf + off };
		off += flen;
	}
	return 0;
}

/* The field TAG of type TYPE: 0, -ENOENT, or -EINVAL (another type). */
static int find(struct state_reader *r, uint16_t tag, uint8_t type,
		const struct state_field **out)
{
	for (unsigned int i = 0; i < r->nfields; i++) {
		struct state_field *f = &r->fields[i];

		if (f->tag != tag)
			continue;
		f->used = true;
		if (f->type != type) {
			log_warn(r->id, "state field 0x%x: type %u, expected %u",
				 tag, f->type, type);
			return -EINVAL;
		}
		*out = f;
		return 0;
	}
	return -ENOENT;
}

int state_get_u8(struct state_reader *r, uint16_t tag, uint8_t *v)
{
	const struct state_field *f;
	int ret = find(r, tag, STATE_U8, &f);

	if (!ret)
		*v = f->value[0];
	return ret;
}

int state_get_u16(struct state_reader *r, uint16_t tag, uint16_t *v)
{
	const struct state_field *f;
	int ret = find(r, tag, STATE_U16, &f);

	if (!ret)
		*v = get_le16(f->value);
	return ret;
}

int state_get_u32(struct state_reader *r, uint16_t tag, uint32_t *v)
{
	const struct state_field *f;
	int ret = find(r, tag, STATE_U32, &f);

	if (!ret)
		*v = get_le32(f->value);
	return ret;
}

int state_get_u64(struct state_reader *r, uint16_t tag, uint64_t *v)
{
	const struct state_field *f;
	int ret = find(r, tag, STATE_U64, &f);

	if (!ret)
		*v = get_le64(f->value);
	return ret;
}

int state_get_bytes(struct state_reader *r, uint16_t tag, void *p,
		    uint32_t len)
{
	const struct state_field *f;
	int ret = find(r, tag, STATE_BYTES, &f);

	if (ret)
		return ret;
	if (f->len != len) {
		log_warn(r->id, "state field 0x%x: %u bytes, expected %u", tag,
			 f->len, len);
		return -EINVAL;
	}
	memcpy(p, f->value, len);
	return 0;
}

int state_get_blob(struct state_reader *r, uint16_t tag, void *p,
		   uint32_t max, uint32_t *len)
{
	const struct state_field *f;
	int ret = find(r, tag, STATE_BYTES, &f);

	if (ret)
		return ret;
	if (f->len > max) {
		log_warn(r->id, "state field 0x%x: %u bytes, at most %u", tag,
			 f->len, max);
		return -EINVAL;
	}
	memcpy(p, f->value, f->len);
	*len = f->len;
	return 0;
}

int state_reader_close(struct state_reader *r, const char *who)
{
	for (unsigned int i = 0; i < r->nfields; i++) {
		const struct state_field *f = &r->fields[i];

		if (!f->used && f->tag < STATE_TAG_OPTIONAL) {
			log_warn(who, "state field 0x%x: unknown to this tern "
				 "and not optional", f->tag);
			return -EINVAL;
		}
	}
	return 0;
}

int state_bad(const char *who, const char *name, uint64_t v, const char *why)
{
	log_warn(who, "state field %s: value %llu (0x%llx): %s", name,
		 (unsigned long long)v, (unsigned long long)v, why);
	return -EINVAL;
}
