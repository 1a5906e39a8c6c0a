/* A small AML (ACPI Machine Language) encoder: just enough to write tern's
 * DSDT. Encodings follow ACPI 6.x chapter 20 (AML grammar) and section 6.4
 * (resource descriptors).
 *
 * Errors are sticky: the first failure (-ENOMEM, -EINVAL) is kept in
 * `err`, later calls do nothing and return it. So a table can be written
 * straight through and checked once at the end; every call also returns
 * 0 or that -errno for callers that want to stop early. */
#ifndef TERN_CORE_AML_H
#define TERN_CORE_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *data;
	size_t len, cap;
	int err;
};

void aml_init(struct aml *b);
void aml_free(struct aml *b);

int aml_bytes(struct aml *b, const void *p, size_t n);
int aml_byte(struct aml *b, uint8_t v);

/* Emits the PkgLength encoding of `total`, a length that counts the
 * encoding's own 1-4 bytes. -EINVAL above 2^28 - 1. */
int aml_pkglength(struct aml *b, size_t total);

/* "\\_SB_.PCI0", "PCI0", "_S5_": optional root prefix, then dot-separated
 * segments of 1-4 characters (padded with '_'). -EINVAL if malformed. */
int aml_namestring(struct aml *b, const char *path);

/* ZeroOp, OneOp, or the smallest of Byte/Word/DWord/QWord constants. */
int aml_integer(struct aml *b, uint64_t v);
int aml_string(struct aml *b, const char *s);
/* "PNP0A03" -> 0x030AD041. -EINVAL unless 3 letters A-Z + 4 hex digits. */
int aml_eisaid_value(const char *id, uint32_t *out);
/* EISAID as a DWordConst, the form ASL compilers emit. */
int aml_eisaid(struct aml *b, const char *id);

/* Name(name, <object>): emits NameOp and the name; the object follows. */
int aml_name(struct aml *b, const char *name);

/* Objects whose PkgLength depends on what is inside. Each opener returns
 * a mark (the body's start); aml_close(b, mark) then inserts the PkgLength
 * in front of everything written since. Close inner objects first. */
size_t aml_scope(struct aml *b, const char *name);
size_t aml_device(struct aml *b, const char *name);
size_t aml_package(struct aml *b, uint8_t nelems);
int aml_close(struct aml *b, size_t mark);

/* Method(name, nargs, Serialized|NotSerialized){...}: closed with
 * aml_close. -EINVAL (sticky) above 7 arguments. */
size_t aml_method(struct aml *b, const char *name, unsigned int nargs,
		  bool serialized);
/* If(predicate){...}: the predicate is written right after the opener,
 * then the body; aml_close ends both. */
size_t aml_if(struct aml *b);

/* Expression opcodes (20.2.5): AML is prefix notation, so a caller writes
 * the opcode and then its operands, e.g. Store(FLD0, Local0) is
 * aml_byte(AML_OP_STORE), aml_namestring("FLD0"), aml_local(0); a Target
 * left empty is AML_OP_NULL_NAME. */
enum {
	AML_OP_NULL_NAME = 0x00,
	AML_OP_STORE = 0x70,
	AML_OP_AND = 0x7B,
	AML_OP_NOTIFY = 0x86,
};
/* Local0-7, Arg0-6: -EINVAL (sticky) out of range. */
int aml_local(struct aml *b, unsigned int n);
int aml_arg(struct aml *b, unsigned int n);

/* OperationRegion(name, SystemIO, port, len). */
int aml_opregion_io(struct aml *b, const char *name, uint16_t port,
		    uint16_t len);
/* Field(region, DWordAcc, NoLock, WriteAsZeros){...}: each entry a
 * 4-character name and its width in bits (aml_field_entry; name NULL:
 * an unnamed gap), closed with aml_close. */
size_t aml_field_dword(struct aml *b, const char *region);
int aml_field_entry(struct aml *b, const char *name, uint32_t bits);

/* Buffer(){bytes}: a resource template is built in its own struct aml,
 * then put here whole. */
int aml_buffer(struct aml *b, const void *data, size_t n);

/* Resource descriptors (ACPI 6.x 6.4). The address-space ones describe a
 * bridge's windows: producer, positive decode, fixed min and max, so
 * length = max - min + 1 and granularity 0 as the spec requires for a
 * fixed-size fixed-location window. */
int aml_res_word_bus(struct aml *b, uint16_t min, uint16_t max);
int aml_res_word_io(struct aml *b, uint16_t min, uint16_t max);
int aml_res_dword_mem(struct aml *b, uint32_t min, uint32_t max);
int aml_res_qword_mem(struct aml *b, uint64_t min, uint64_t max);
/* IO(Decode16, base, base, 1, len): a fixed range the device consumes. */
int aml_res_io(struct aml *b, uint16_t base, uint8_t len);
/* IRQNoFlags(){irq}: ISA style, edge triggered, active high. */
int aml_res_irq(struct aml *b, uint8_t irq);
/* Interrupt(ResourceConsumer, Level|Edge, ActiveHigh, Exclusive){gsi}:
 * the extended interrupt descriptor (6.4.3.6), any GSI. */
int aml_res_interrupt(struct aml *b, uint32_t gsi, bool edge);
/* End tag; checksum 0 tells OSPM not to verify the template. */
int aml_res_end(struct aml *b);

#endif
