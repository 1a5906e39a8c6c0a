#include "core/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* AML opcodes and prefixes used here (ACPI 6.x 20.3). */
enum {
	AML_ZERO = 0x00,
	AML_ONE = 0x01,
	AML_NAME = 0x08,
	AML_BYTE = 0x0A,
	AML_WORD = 0x0B,
	AML_DWORD = 0x0C,
	AML_STRING = 0x0D,
	AML_QWORD = 0x0E,
	AML_SCOPE = 0x10,
	AML_METHOD = 0x14,
	AML_LOCAL0 = 0x60,
	AML_ARG0 = 0x68,
	AML_IF = 0xA0,
	AML_BUFFER = 0x11,
	AML_PACKAGE = 0x12,
	AML_DUAL_NAME = 0x2E,
	AML_MULTI_NAME = 0x2F,
	AML_EXT = 0x5B,
	AML_ROOT = 0x5C,
	AML_EXT_OPREGION = 0x80,
	AML_EXT_FIELD = 0x81,
	AML_EXT_DEVICE = 0x82,
};

#define REGION_SYSTEM_IO 0x01
/* FieldFlags (20.2.5.2): AccessType DWordAcc (3) in bits 0-3, LockRule
 * NoLock (bit 4 clear), UpdateRule WriteAsZeros (2) in bits 5-6. */
#define FIELD_DWORD_NOLOCK_ZEROS 0x43

/* Resource descriptor tags (ACPI 6.x 6.4.2, 6.4.3). */
enum {
	RES_IRQ_NOFLAGS = 0x22,	/* small, type 4, 2 data bytes */
	RES_IO = 0x47,		/* small, type 8, 7 data bytes */
	RES_END = 0x79,		/* small, type 15, 1 data byte */
	RES_DWORD = 0x87,
	RES_WORD = 0x88,
	RES_EXT_IRQ = 0x89,
	RES_QWORD = 0x8A,
};

void aml_init(struct aml *b)
{
	memset(b, 0, sizeof(*b));
}

void aml_free(struct aml *b)
{
	free(b->data);
	aml_init(b);
}

static int fail(struct aml *b, int err)
{
	if (!b->err)
		b->err = err;
	return b->err;
}

static int reserve(struct aml *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->err)
		return b->err;
	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return fail(b, -ENOMEM);
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return fail(b, -ENOMEM);
	b->data = p;
	b->cap = cap;
	return 0;
}

int aml_bytes(struct aml *b, const void *p, size_t n)
{
	int err = reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int aml_byte(struct aml *b, uint8_t v)
{
	return aml_bytes(b, &v, 1);
}

static int le(struct aml *b, uint64_t v, unsigned int width)
{
	uint8_t out[8];

	for (unsigned int i = 0; i < width; i++)
		out[i] = (uint8_t)(v >> (8 * i));
	return aml_bytes(b, out, width);
}

/* PkgLength (20.2.4): one byte holds up to 63; otherwise bits 7-6 of the
 * lead byte count the 1-3 bytes that follow, its low nibble holds bits
 * 0-3, and each following byte the next 8 bits. Returns the size, or 0
 * if `total` does not fit in 28 bits. */
static unsigned int pkglength_encode(uint8_t out[4], size_t total)
{
	unsigned int n;

	if (total <= 0x3F) {
		out[0] = (uint8_t)total;
		return 1;
	}
	if (total <= 0xFFF)
		n = 2;
	else if (total <= 0xFFFFF)
		n = 3;
	else if (total <= 0xFFFFFFF)
		n = 4;
	else
		return 0;
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xF));
	for (unsigned int i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

int aml_pkglength(struct aml *b, size_t total)
{
	uint8_t enc[4];
	unsigned int n = pkglength_encode(enc, total);

	if (b->err)
		return b->err;
	if (!n)
		return fail(b, -EINVAL);
	return aml_bytes(b, enc, n);
}

int aml_close(struct aml *b, size_t mark)
{
	uint8_t enc[4];
	size_t body;
	unsigned int n;

	if (b->err)
		return b->err;
	if (mark > b->len)
		return fail(b, -EINVAL);
	body = b->len - mark;
	/* The PkgLength counts its own bytes, so its size depends on itself:
	 * take the first size whose encoding of body + size is that size. */
	for (n = 1; n <= 4; n++)
		if (pkglength_encode(enc, body + n) == n)
			break;
	if (n > 4)
		return fail(b, -EINVAL);
	if (reserve(b, n))
		return b->err;
	memmove(b->data + mark + n, b->data + mark, body);
	memcpy(b->data + mark, enc, n);
	b->len += n;
	return 0;
}

static int is_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
	return is_lead_char(c) || (c >= '0' && c <= '9');
}

/* Checks one segment, up to the next '.' or the end; returns its length or
 * 0 if invalid. */
static size_t segment_len(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != '.') {
		if (n == 4 || !(n ? is_name_char(s[n]) : is_lead_char(s[n])))
			return 0;
		n++;
	}
	return n;
}

int aml_namestring(struct aml *b, const char *path)
{
	unsigned int nseg = 0;
	const char *p;
	size_t n;

	if (b->err)
		return b->err;
	if (*path == '\\') {
		aml_byte(b, AML_ROOT);
		path++;
		if (!*path)	/* the root itself: "\" then NullName */
			return aml_byte(b, 0x00);
	}
	for (p = path;; p += n + 1) {
		n = segment_len(p);
		if (!n || nseg == 255)
			return fail(b, -EINVAL);
		nseg++;
		if (!p[n])
			break;
	}
	if (nseg == 2) {
		aml_byte(b, AML_DUAL_NAME);
	} else if (nseg > 2) {
		aml_byte(b, AML_MULTI_NAME);
		aml_byte(b, (uint8_t)nseg);
	}
	for (p = path; nseg--; p += n + 1) {
		char seg[4] = { '_', '_', '_', '_' };

		n = segment_len(p);
		memcpy(seg, p, n);
		aml_bytes(b, seg, 4);
	}
	return b->err;
}

int aml_integer(struct aml *b, uint64_t v)
{
	if (v == 0)
		return aml_byte(b, AML_ZERO);
	if (v == 1)
		return aml_byte(b, AML_ONE);
	if (v <= UINT8_MAX) {
		aml_byte(b, AML_BYTE);
		return le(b, v, 1);
	}
	if (v <= UINT16_MAX) {
		aml_byte(b, AML_WORD);
		return le(b, v, 2);
	}
	if (v <= UINT32_MAX) {
		aml_byte(b, AML_DWORD);
		return le(b, v, 4);
	}
	aml_byte(b, AML_QWORD);
	return le(b, v, 8);
}

int aml_string(struct aml *b, const char *s)
{
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c > 0x7F)	/* AsciiCharList is 0x01-0x7F */
			return fail(b, -EINVAL);
	aml_byte(b, AML_STRING);
	return aml_bytes(b, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int aml_eisaid_value(const char *id, uint32_t *out)
{
	uint32_t v = 0;

	if (strlen(id) != 7)
		return -EINVAL;
	/* Three letters in 5 bits each ('A' = 1), then four hex digits. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		v = (v << 5) | (uint32_t)(id[i] - 0x40);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0)
			return -EINVAL;
		v = (v << 4) | (uint32_t)d;
	}
	/* The compressed ID is stored most significant byte first, so as a
	 * little-endian integer its bytes are swapped. */
	*out = __builtin_bswap32(v);
	return 0;
}

int aml_eisaid(struct aml *b, const char *id)
{
	uint32_t v;
	int err = aml_eisaid_value(id, &v);

	if (err)
		return fail(b, err);
	aml_byte(b, AML_DWORD);
	return le(b, v, 4);
}

int aml_name(struct aml *b, const char *name)
{
	aml_byte(b, AML_NAME);
	return aml_namestring(b, name);
}

size_t aml_scope(struct aml *b, const char *name)
{
	size_t mark;

	aml_byte(b, AML_SCOPE);
	mark = b->len;
	aml_namestring(b, name);
	return mark;
}

size_t aml_device(struct aml *b, const char *name)
{
	size_t mark;

	aml_byte(b, AML_EXT);
	aml_byte(b, AML_EXT_DEVICE);
	mark = b->len;
	aml_namestring(b, name);
	return mark;
}

size_t aml_package(struct aml *b, uint8_t nelems)
{
	size_t mark;

	aml_byte(b, AML_PACKAGE);
	mark = b->len;
	aml_byte(b, nelems);
	return mark;
}

size_t aml_method(struct aml *b, const char *name, unsigned int nargs,
		  bool serialized)
{
	size_t mark;

	aml_byte(b, AML_METHOD);
	mark = b->len;
	aml_namestring(b, name);
	if (nargs > 7)
		fail(b, -EINVAL);
	/* MethodFlags: ArgCount in bits 0-2, SerializeFlag bit 3, SyncLevel
	 * 0. */
	aml_byte(b, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

size_t aml_if(struct aml *b)
{
	aml_byte(b, AML_IF);
	return b->len;
}

int aml_local(struct aml *b, unsigned int n)
{
	if (n > 7)
		return fail(b, -EINVAL);
	return aml_byte(b, (uint8_t)(AML_LOCAL0 + n));
}

int aml_arg(struct aml *b, unsigned int n)
{
	if (n > 6)
		return fail(b, -EINVAL);
	return aml_byte(b, (uint8_t)(AML_ARG0 + n));
}

int aml_opregion_io(struct aml *b, const char *name, uint16_t port,
		    uint16_t len)
{
	aml_byte(b, AML_EXT);
	aml_byte(b, AML_EXT_OPREGION);
	aml_namestring(b, name);
	aml_byte(b, REGION_SYSTEM_IO);
	aml_integer(b, port);
	return aml_integer(b, len);
}

size_t aml_field_dword(struct aml *b, const char *region)
{
	size_t mark;

	aml_byte(b, AML_EXT);
	aml_byte(b, AML_EXT_FIELD);
	mark = b->len;
	aml_namestring(b, region);
	aml_byte(b, FIELD_DWORD_NOLOCK_ZEROS);
	return mark;
}

int aml_field_entry(struct aml *b, const char *name, uint32_t bits)
{
	/* NamedField: a NameSeg (exactly 4 characters) then the width as a
	 * PkgLength; ReservedField: 0x00 then the width. */
	if (name) {
		if (strlen(name) != 4 || segment_len(name) != 4)
			return fail(b, -EINVAL);
		aml_bytes(b, name, 4);
	} else {
		aml_byte(b, 0x00);
	}
	return aml_pkglength(b, bits);
}

int aml_buffer(struct aml *b, const void *data, size_t n)
{
	size_t mark;

	aml_byte(b, AML_BUFFER);
	mark = b->len;
	aml_integer(b, n);
	aml_bytes(b, data, n);
	return aml_close(b, mark);
}

/* Word/DWord/QWord address space descriptors share one layout; only the
 * width of the five numeric fields differs. */
static int addr_space(struct aml *b, uint8_t tag, uint8_t type,
		      uint8_t type_flags, unsigned int width, uint64_t min,
		      uint64_t max)
{
	/* Producer (bit 0 = 0), positive decode, _MIF and _MAF set. */
	const uint8_t general_flags = 0x0C;
	uint64_t len = max - min + 1;

	if (max < min || len == 0)	/* len == 0: a 2^64 window */
		return fail(b, -EINVAL);
	aml_byte(b, tag);
	le(b, 3 + 5 * width, 2);
	aml_byte(b, type);
	aml_byte(b, general_flags);
	aml_byte(b, type_flags);
	le(b, 0, width);	/* granularity */
	le(b, min, width);
	le(b, max, width);
	le(b, 0, width);	/* translation offset */
	return le(b, len, width);
}

enum { SPACE_MEM = 0, SPACE_IO = 1, SPACE_BUS = 2 };

/* Memory: read-write, non-cacheable. Linux only tells prefetchable
 * windows apart (they refuse non-prefetchable BARs); these take any BAR. */
#define MEM_FLAGS 0x01
/* I/O: both ISA and non-ISA ranges (_RNG = 3). */
#define IO_FLAGS 0x03

int aml_res_word_bus(struct aml *b, uint16_t min, uint16_t max)
{
	return addr_space(b, RES_WORD, SPACE_BUS, 0, 2, min, max);
}

int aml_res_word_io(struct aml *b, uint16_t min, uint16_t max)
{
	return addr_space(b, RES_WORD, SPACE_IO, IO_FLAGS, 2, min, max);
}

int aml_res_dword_mem(struct aml *b, uint32_t min, uint32_t max)
{
	return addr_space(b, RES_DWORD, SPACE_MEM, MEM_FLAGS, 4, min, max);
}

int aml_res_qword_mem(struct aml *b, uint64_t min, uint64_t max)
{
	return addr_space(b, RES_QWORD, SPACE_MEM, MEM_FLAGS, 8, min, max);
}

int aml_res_io(struct aml *b, uint16_t base, uint8_t len)
{
	aml_byte(b, RES_IO);
	aml_byte(b, 0x01);	/* decodes 16 address bits */
	le(b, base, 2);		/* minimum */
	le(b, base, 2);		/* maximum = minimum: fixed */
	aml_byte(b, 1);		/* alignment */
	return aml_byte(b, len);
}

int aml_res_irq(struct aml *b, uint8_t irq)
{
	if (irq > 15)
		return fail(b, -EINVAL);
	aml_byte(b, RES_IRQ_NOFLAGS);
	return le(b, 1u << irq, 2);
}

int aml_res_interrupt(struct aml *b, uint32_t gsi, bool edge)
{
	aml_byte(b, RES_EXT_IRQ);
	le(b, 6, 2);		/* flags, count, one DWORD */
	/* Consumer (bit 0), edge or level (bit 1), active high (bit 2
	 * clear), exclusive (bit 3 clear), not a wake source. */
	aml_byte(b, (uint8_t)(0x01 | (edge ? 0x02 : 0)));
	aml_byte(b, 1);
	return le(b, gsi, 4);
}

int aml_res_end(struct aml *b)
{
	aml_byte(b, RES_END);
	return aml_byte(b, 0);
}
