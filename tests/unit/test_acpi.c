/* ACPI tables and the AML encoder: table structure and checksums, the
 * fields Linux relies on, and exact AML bytes from the ACPI 6.x grammar.
 * Decoding here is written independently of core/aml.c on purpose. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/acpi.h"
#include "core/aml.h"
#include "check.h"

#define GPA ACPI_RSDP_ADDR
#define CAP 0x20000	/* 0xE0000-0xFFFFF */

static uint8_t mem[CAP];

static struct acpi_config default_config(void)
{
	return (struct acpi_config){
		.cpus = { 1, 4, 1, 1 },
		.ioapic_addr = 0xFEC00000,
		.ioapic_id = 4,
		.sleep_ctl_port = 0x3C0,
		.sleep_sts_port = 0x3C1,
		.reset_port = 0xCF9,
		.reset_value = 0x06,
		.pci_mmio32_base = 0xC0000000,
		.pci_mmio32_size = 0x3EC00000,
		.pci_mmio64_base = 0x4000000000ull,
		.pci_mmio64_size = 0x1000000000ull,
		.pci_slots = 32,
		.pci_intx_gsi_base = 16,
		.rtc_century_index = 0x32,
	};
}

static uint64_t get(const uint8_t *p, unsigned int width)
{
	uint64_t v = 0;

	if (width > 8)		/* no wider integer to read it into */
		abort();
	for (unsigned int i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The table at guest address `addr`, or NULL unless its header and its
 * whole length lie inside the `n` built bytes. */
static const uint8_t *table_at(uint64_t addr, size_t n)
{
	uint64_t off = addr - GPA, len;

	if (addr < GPA || off > n || n - off < 36)
		return NULL;
	len = get(mem + off + 4, 4);
	if (len < 36 || len > n - off)
		return NULL;
	return mem + off;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle,
			   size_t len)
{
	return memmem(hay, n, needle, len);
}

/* PkgLength per ACPI 6.x 20.2.4; returns the bytes it occupies. */
static size_t pkglen_decode(const uint8_t *p, size_t *value)
{
	size_t n = (p[0] >> 6) + 1, v;

	if (n == 1) {
		*value = p[0] & 0x3F;
		return 1;
	}
	v = p[0] & 0x0F;
	for (size_t i = 1; i < n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	*value = v;
	return n;
}

/* ComputationalData integers; returns bytes used, 0 if not an integer. */
static size_t int_decode(const uint8_t *p, uint64_t *v)
{
	switch (p[0]) {
	case 0x00: *v = 0; return 1;
	case 0x01: *v = 1; return 1;
	case 0x0A: *v = get(p + 1, 1); return 2;
	case 0x0B: *v = get(p + 1, 2); return 3;
	case 0x0C: *v = get(p + 1, 4); return 5;
	case 0x0E: *v = get(p + 1, 8); return 9;
	}
	return 0;
}

struct tables {
	ssize_t n;
	const uint8_t *xsdt, *fadt, *madt, *dsdt;
};

static struct tables build(const struct acpi_config *cfg)
{
	struct tables t = { 0 };
	const uint8_t *x;

	memset(mem, 0xAA, sizeof(mem));
	t.n = acpi_build(mem, sizeof(mem), GPA, cfg);
	CHECK(t.n > 0);
	if (t.n <= 0)
		return t;
	t.xsdt = table_at(get(mem + 24, 8), (size_t)t.n);
	CHECK(t.xsdt);
	if (!t.xsdt)
		return t;
	x = t.xsdt;
	for (uint32_t i = 36; i + 8 <= get(x + 4, 4); i += 8) {
		const uint8_t *tb = table_at(get(x + i, 8), (size_t)t.n);

		CHECK(tb);
		if (tb && !memcmp(tb, "FACP", 4))
			t.fadt = tb;
		if (tb && !memcmp(tb, "APIC", 4))
			t.madt = tb;
	}
	if (t.fadt)
		t.dsdt = table_at(get(t.fadt + 140, 8), (size_t)t.n);
	return t;
}

static void check_header(const uint8_t *t, const char *sig, uint8_t rev)
{
	uint32_t len = (uint32_t)get(t + 4, 4);

	CHECK_MEM(t, sig, 4);
	CHECK_EQ(t[8], rev);
	CHECK_EQ(sum(t, len), 0);
	CHECK_MEM(t + 10, "TERN  ", 6);
	CHECK_MEM(t + 16, "TERNVM  ", 8);
	CHECK_MEM(t + 28, "TERN", 4);
}

static void test_rsdp(void)
{
	struct acpi_config cfg = default_config();
	struct tables t = build(&cfg);

	CHECK_MEM(mem, "RSD PTR ", 8);
	CHECK_EQ(sum(mem, 20), 0);
	CHECK_EQ(sum(mem, 36), 0);
	CHECK_EQ(mem[15], 2);
	CHECK_EQ(get(mem + 20, 4), 36);
	CHECK_MEM(mem + 9, "TERN  ", 6);
	CHECK(t.xsdt);
	/* Bytes after the tables are not ours. */
	if (t.n > 0 && t.n < CAP)
		CHECK_EQ(mem[t.n], 0xAA);
}

static void test_tables(void)
{
	struct acpi_config cfg = default_config();
	struct tables t = build(&cfg);

	if (!t.xsdt || !t.fadt || !t.madt || !t.dsdt) {
		CHECK(!"missing table");
		return;
	}
	check_header(t.xsdt, "XSDT", 1);
	CHECK_EQ(get(t.xsdt + 4, 4), 36 + 2 * 8);
	CHECK(t.xsdt != t.fadt && t.fadt != t.madt);
	check_header(t.fadt, "FACP", 6);
	check_header(t.madt, "APIC", 5);
	check_header(t.dsdt, "DSDT", 2);
}

static void test_fadt(void)
{
	struct acpi_config cfg = default_config();
	struct tables t = build(&cfg);
	const uint8_t *f = t.fadt;
	uint64_t dsdt;

	if (!f || !t.dsdt) {
		CHECK(!"missing FADT or DSDT");
		return;
	}
	dsdt = GPA + (uint64_t)(t.dsdt - mem);
	CHECK_EQ(get(f + 4, 4), 276);
	CHECK_EQ(f[131], 5);			/* minor version */
	CHECK_EQ(get(f + 140, 8), dsdt);	/* X_DSDT */
	CHECK_EQ(get(f + 40, 4), dsdt);		/* DSDT */
	CHECK_EQ(get(f + 36, 4), 0);		/* no FACS */
	CHECK_EQ(get(f + 132, 8), 0);
	CHECK_EQ(get(f + 46, 2), 0);		/* no SCI */
	/* HW_REDUCED_ACPI | RESET_REG_SUP | SLP_BUTTON | PWR_BUTTON */
	CHECK_EQ(get(f + 112, 4), (1u << 20) | (1u << 10) | (1u << 5) |
					 (1u << 4));
	CHECK_EQ(get(f + 109, 2), 1u << 2);	/* VGA not present, no 8042 */
	CHECK_EQ(f[108], 0x32);			/* CENTURY */

	/* RESET_REG and the two sleep registers: one byte in I/O space. */
	static const struct { unsigned int off; uint16_t port; } gas[] = {
		{ 116, 0xCF9 }, { 244, 0x3C0 }, { 256, 0x3C1 },
	};
	for (size_t i = 0; i < sizeof(gas) / sizeof(gas[0]); i++) {
		const uint8_t *g = f + gas[i].off;

		CHECK_EQ(g[0], 1);	/* System I/O */
		CHECK_EQ(g[1], 8);	/* bit width */
		CHECK_EQ(g[2], 0);	/* bit offset */
		CHECK_EQ(g[3], 1);	/* byte access */
		CHECK_EQ(get(g + 4, 8), gas[i].port);
	}
	CHECK_EQ(f[128], 0x06);			/* RESET_VALUE */
	/* Legacy PM blocks must be absent in hw-reduced mode. */
	for (unsigned int off = 56; off < 88; off++)
		CHECK_EQ(f[off], 0);
	CHECK_MEM(f + 268, "TERN", 4);		/* hypervisor vendor */
}

/* The MADT of NCPUS vCPUs laid out as TOPO: LAPIC i has APIC id ID(i),
 * the I/O APIC the id after the last. */
static void check_madt(struct cpu_topology topo, unsigned int ncpus,
		       unsigned int (*id)(unsigned int))
{
	struct acpi_config cfg = default_config();
	unsigned int lapics = 0, ioapics = 0;
	const uint8_t *m, *e, *end;
	struct tables t;

	cfg.cpus = topo;
	cfg.ioapic_id = (uint8_t)(id(ncpus - 1) + 1);
	t = build(&cfg);
	m = t.madt;
	if (!m) {
		CHECK(!"missing MADT");
		return;
	}
	CHECK_EQ(get(m + 36, 4), 0xFEE00000);
	CHECK_EQ(get(m + 40, 4), 0);		/* no PCAT_COMPAT */
	end = m + get(m + 4, 4);
	for (e = m + 44; e + 2 <= end && e[1] >= 2; e += e[1]) {
		CHECK(e + e[1] <= end);
		if (e[0] == 0) {
			CHECK_EQ(e[1], 8);
			CHECK_EQ(e[2], lapics);	/* processor UID */
			CHECK_EQ(e[3], id(lapics));	/* APIC ID */
			CHECK_EQ(get(e + 4, 4), 1);	/* Enabled */
			lapics++;
		} else if (e[0] == 1) {
			CHECK_EQ(e[1], 12);
			CHECK_EQ(e[2], id(ncpus - 1) + 1);
			CHECK_EQ(get(e + 4, 4), 0xFEC00000);
			CHECK_EQ(get(e + 8, 4), 0);	/* GSI base */
			ioapics++;
		} else {
			CHECK_EQ(e[0], 0);	/* nothing else expected */
		}
	}
	CHECK(e == end);
	CHECK_EQ(lapics, ncpus);
	CHECK_EQ(ioapics, 1);
}

static unsigned int same(unsigned int i)
{
	return i;
}

/* Two packages of three single-thread cores: a core takes two bits, so
 * the second package starts at APIC id 4. */
static unsigned int two_by_three(unsigned int i)
{
	return i < 3 ? i : i + 1;
}

/* Two threads per core, three cores per die, two dies: thread bit 0,
 * core bits 1-2, die bit 3. */
static unsigned int smt_dies(unsigned int i)
{
	return (i / 6) << 3 | (i / 2 % 3) << 1 | i % 2;
}

static void test_madt(void)
{
	check_madt(topology_flat(1), 1, same);
	check_madt(topology_flat(4), 4, same);
	check_madt(topology_flat(254), 254, same);
	check_madt((struct cpu_topology){ 1, 3, 1, 2 }, 6, two_by_three);
	check_madt((struct cpu_topology){ 2, 3, 2, 1 }, 12, smt_dies);
}

/* Name(_PRT, Package(n){Package(4){addr, pin, Zero, gsi}...}): decodes
 * every entry against the swizzle; returns n or -1 if malformed. */
static int check_prt(const uint8_t *dsdt, const struct acpi_config *cfg)
{
	static const uint8_t name[] = { 0x08, '_', 'P', 'R', 'T', 0x12 };
	uint32_t len = (uint32_t)get(dsdt + 4, 4);
	const uint8_t *p = find(dsdt, len, name, sizeof(name));
	size_t pkg, used, n;

	if (!p)
		return -1;
	p += sizeof(name);
	used = pkglen_decode(p, &pkg);
	if (p + pkg > dsdt + len)
		return -1;
	n = p[used];
	p += used + 1;
	for (size_t i = 0; i < n; i++) {
		unsigned int slot = 1 + i / 4, pin = i % 4;
		uint64_t v[4];
		size_t elen, k;

		if (p[0] != 0x12)
			return -1;
		k = 1 + pkglen_decode(p + 1, &elen);
		if (p[k] != 4)
			return -1;
		k++;
		for (int j = 0; j < 4; j++) {
			size_t used_j = int_decode(p + k, &v[j]);

			if (!used_j)
				return -1;
			k += used_j;
		}
		CHECK_EQ(k, 1 + elen);
		CHECK_EQ(v[0], ((uint64_t)slot << 16) | 0xFFFF);
		CHECK_EQ(v[1], pin);
		CHECK_EQ(v[2], 0);
		CHECK_EQ(v[3], cfg->pc ? cfg->pirq_irq[(slot + pin) % 4]
				       : cfg->pci_intx_gsi_base + (slot + pin) % 4);
		p += k;
	}
	return (int)n;
}

/* The PCI0 _CRS: returns the descriptor tags in order (up to 15) and
 * checks the memory windows' fields. */
static size_t check_pci_crs(const uint8_t *dsdt, const struct acpi_config *cfg,
			    uint8_t tags[16])
{
	static const uint8_t name[] = { 0x08, '_', 'C', 'R', 'S', 0x11 };
	uint32_t len = (uint32_t)get(dsdt + 4, 4);
	const uint8_t *p = find(dsdt, len, name, sizeof(name)), *end;
	size_t pkg, used, ntags = 0;
	uint64_t bufsize;

	if (!p)
		return 0;
	p += sizeof(name);
	used = pkglen_decode(p, &pkg);
	end = p + pkg;
	p += used;
	p += int_decode(p, &bufsize);
	CHECK_EQ((uint64_t)(end - p), bufsize);
	while (p < end && ntags < 15) {
		uint8_t tag = p[0];
		size_t dlen = tag & 0x80 ? 3 + (size_t)get(p + 1, 2)
					 : 1 + (size_t)(tag & 7);

		tags[ntags++] = tag;
		if (tag == 0x87) {	/* DWordMemory */
			CHECK_EQ(dlen, 26);
			CHECK_EQ(p[3], 0);	/* memory */
			CHECK_EQ(p[4], 0x0C);	/* producer, MIF, MAF */
			CHECK_EQ(get(p + 10, 4), cfg->pci_mmio32_base);
			CHECK_EQ(get(p + 14, 4), cfg->pci_mmio32_base +
							 cfg->pci_mmio32_size - 1);
			CHECK_EQ(get(p + 22, 4), cfg->pci_mmio32_size);
		}
		if (tag == 0x8A) {	/* QWordMemory */
			CHECK_EQ(dlen, 46);
			CHECK_EQ(get(p + 14, 8), cfg->pci_mmio64_base);
			CHECK_EQ(get(p + 22, 8), cfg->pci_mmio64_base +
							 cfg->pci_mmio64_size - 1);
			CHECK_EQ(get(p + 38, 8), cfg->pci_mmio64_size);
		}
		if (tag == 0x88 && p[3] == 1)	/* WordIO: length = max-min+1 */
			CHECK_EQ(get(p + 14, 2),
				 get(p + 10, 2) - get(p + 8, 2) + 1);
		p += dlen;
	}
	CHECK(p == end);
	return ntags;
}

static void test_dsdt(void)
{
	/* Name(_S5_, Package(){5, 0, 0, 0}) */
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07,
				      0x04, 0x0A, 0x05, 0x00, 0x00, 0x00 };
	/* Name(_HID, EISAID("PNP0A03")) */
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D',
				       0x0C, 0x41, 0xD0, 0x0A, 0x03 };
	static const uint8_t scope_sb[] = { '\\', '_', 'S', 'B', '_' };
	static const uint8_t tags64[] = { 0x88, 0x47, 0x88, 0x88, 0x87, 0x8A,
					  0x79 };
	struct acpi_config cfg = default_config();
	struct tables t = build(&cfg);
	uint8_t tags[16];
	uint32_t len;

	if (!t.dsdt) {
		CHECK(!"missing DSDT");
		return;
	}
	len = (uint32_t)get(t.dsdt + 4, 4);
	CHECK(find(t.dsdt, len, s5, sizeof(s5)));
	CHECK(find(t.dsdt, len, hid, sizeof(hid)));
	CHECK_EQ(t.dsdt[36], 0x10);		/* ScopeOp first */
	CHECK(find(t.dsdt, len, scope_sb, sizeof(scope_sb)));
	CHECK_EQ(check_prt(t.dsdt, &cfg), 4 * 31);
	CHECK_EQ(check_pci_crs(t.dsdt, &cfg, tags), sizeof(tags64));
	CHECK_MEM(tags, tags64, sizeof(tags64));

	/* Fewer slots; no 64-bit window. */
	cfg.pci_slots = 3;
	cfg.pci_mmio64_size = 0;
	t = build(&cfg);
	if (!t.dsdt) {
		CHECK(!"missing DSDT");
		return;
	}
	CHECK_EQ(check_prt(t.dsdt, &cfg), 8);
	CHECK_EQ(check_pci_crs(t.dsdt, &cfg, tags), 6);
	CHECK_MEM(tags, "\x88\x47\x88\x88\x87\x79", 6);

	cfg.pci_slots = 1;	/* only the host bridge: empty _PRT */
	t = build(&cfg);
	if (t.dsdt)
		CHECK_EQ(check_prt(t.dsdt, &cfg), 0);
}

static void test_errors(void)
{
	struct acpi_config cfg = default_config();
	uint8_t small[64];
	ssize_t n;

	n = acpi_build(mem, sizeof(mem), GPA, &cfg);
	CHECK(n > 0);
	memset(small, 0xAA, sizeof(small));
	CHECK_EQ(acpi_build(small, sizeof(small), GPA, &cfg), -ENOSPC);
	CHECK_EQ(small[0], 0xAA);		/* untouched */
	CHECK_EQ(acpi_build(mem, 0, GPA, &cfg), -ENOSPC);
	if (n > 0) {
		CHECK_EQ(acpi_build(mem, (size_t)n - 1, GPA, &cfg), -ENOSPC);
		CHECK_EQ(acpi_build(mem, (size_t)n, GPA, &cfg), n);
	}

	cfg.cpus = topology_flat(0);
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.cpus = topology_flat(255);		/* APIC id 254 */
	cfg.ioapic_id = 255;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.cpus = (struct cpu_topology){ 1, 3, 1, 2 };	/* ids to 6 */
	cfg.ioapic_id = 6;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.ioapic_id = 7;
	CHECK(acpi_build(mem, sizeof(mem), GPA, &cfg) > 0);
	cfg = default_config();
	cfg.ioapic_id = 2;			/* clashes with a LAPIC id */
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg = default_config();
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA + 8, &cfg), -EINVAL);
	cfg.sleep_ctl_port = 0;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg = default_config();
	cfg.pci_mmio32_size = 0x40000001;	/* crosses 4 GiB */
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg = default_config();
	cfg.pci_slots = 33;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
}

/* Runs `emit`, which writes into the fresh encoder `enc`, and compares
 * everything it wrote with the listed bytes. */
#define CHECK_AML(emit, ...)                                                   \
	do {                                                                   \
		static const uint8_t want_[] = { __VA_ARGS__ };                \
		struct aml enc;                                                 \
		aml_init(&enc);                                                 \
		CHECK_EQ(emit, 0);                                             \
		CHECK_EQ(enc.len, sizeof(want_));                               \
		if (enc.len == sizeof(want_))                                   \
			CHECK_MEM(enc.data, want_, sizeof(want_));              \
		aml_free(&enc);                                                 \
	} while (0)

static void test_pkglength(void)
{
	CHECK_AML(aml_pkglength(&enc, 63), 0x3F);
	CHECK_AML(aml_pkglength(&enc, 64), 0x40, 0x04);
	CHECK_AML(aml_pkglength(&enc, 4095), 0x4F, 0xFF);
	CHECK_AML(aml_pkglength(&enc, 4096), 0x80, 0x00, 0x01);
	CHECK_AML(aml_pkglength(&enc, 0xFFFFF), 0x8F, 0xFF, 0xFF);
	CHECK_AML(aml_pkglength(&enc, 0x100000), 0xC0, 0x00, 0x00, 0x01);
	CHECK_AML(aml_pkglength(&enc, 0xFFFFFFF), 0xCF, 0xFF, 0xFF, 0xFF);

	struct aml b;
	aml_init(&b);
	CHECK_EQ(aml_pkglength(&b, 0x10000000), -EINVAL);
	aml_free(&b);

	/* Closing picks the size that also counts itself. */
	static const struct { size_t body; uint8_t enc[3]; size_t n; } c[] = {
		{ 62, { 0x3F }, 1 },		/* 62 + 1 = 63 */
		{ 63, { 0x41, 0x04 }, 2 },	/* 63 + 2 = 65 */
		{ 4093, { 0x4F, 0xFF }, 2 },	/* 4093 + 2 = 4095 */
		{ 4094, { 0x81, 0x00, 0x01 }, 3 },	/* 4094 + 3 = 4097 */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t mark;

		aml_init(&b);
		mark = aml_package(&b, 0);	/* 0x12, then NumElements */
		for (size_t k = 1; k < c[i].body; k++)
			aml_byte(&b, (uint8_t)k);
		CHECK_EQ(aml_close(&b, mark), 0);
		CHECK_EQ(b.len, 1 + c[i].n + c[i].body);
		if (b.len == 1 + c[i].n + c[i].body) {
			CHECK_EQ(b.data[0], 0x12);
			CHECK_MEM(b.data + 1, c[i].enc, c[i].n);
			CHECK_EQ(b.data[1 + c[i].n], 0);	/* body moved */
			CHECK_EQ(b.data[b.len - 1],
				 (uint8_t)(c[i].body - 1));
		}
		aml_free(&b);
	}
}

static void test_integer(void)
{
	CHECK_AML(aml_integer(&enc, 0), 0x00);
	CHECK_AML(aml_integer(&enc, 1), 0x01);
	CHECK_AML(aml_integer(&enc, 2), 0x0A, 0x02);
	CHECK_AML(aml_integer(&enc, 0xFF), 0x0A, 0xFF);
	CHECK_AML(aml_integer(&enc, 0x100), 0x0B, 0x00, 0x01);
	CHECK_AML(aml_integer(&enc, 0xFFFF), 0x0B, 0xFF, 0xFF);
	CHECK_AML(aml_integer(&enc, 0x10000), 0x0C, 0x00, 0x00, 0x01, 0x00);
	CHECK_AML(aml_integer(&enc, 0xFFFFFFFF), 0x0C, 0xFF, 0xFF, 0xFF, 0xFF);
	CHECK_AML(aml_integer(&enc, 1ull << 32), 0x0E, 0, 0, 0, 0, 1, 0, 0, 0);
	CHECK_AML(aml_string(&enc, "ab"), 0x0D, 'a', 'b', 0x00);
}

static void test_eisaid(void)
{
	uint32_t v = 0;

	CHECK_EQ(aml_eisaid_value("PNP0A03", &v), 0);
	CHECK_EQ(v, 0x030AD041);
	CHECK_EQ(aml_eisaid_value("PNP0501", &v), 0);
	CHECK_EQ(v, 0x0105D041);
	CHECK_EQ(aml_eisaid_value("pnp0A03", &v), -EINVAL);
	CHECK_EQ(aml_eisaid_value("PNP0A0", &v), -EINVAL);
	CHECK_EQ(aml_eisaid_value("PNP0A0G", &v), -EINVAL);
	CHECK_AML(aml_eisaid(&enc, "PNP0B00"), 0x0C, 0x41, 0xD0, 0x0B, 0x00);
}

static void test_names(void)
{
	CHECK_AML(aml_namestring(&enc, "\\_SB_"), 0x5C, '_', 'S', 'B', '_');
	CHECK_AML(aml_namestring(&enc, "RTC"), 'R', 'T', 'C', '_');
	CHECK_AML(aml_namestring(&enc, "_SB_.PCI0"), 0x2E, '_', 'S', 'B', '_',
		  'P', 'C', 'I', '0');
	CHECK_AML(aml_namestring(&enc, "\\_SB_.PCI0.COM1"), 0x5C, 0x2F, 3,
		  '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'C', 'O', 'M', '1');
	CHECK_AML(aml_namestring(&enc, "\\"), 0x5C, 0x00);
	CHECK_AML(aml_name(&enc, "_UID"), 0x08, '_', 'U', 'I', 'D');

	static const char *const bad[] = { "", "1ABC", "ABCDE", "A..B", "A.",
					   "a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aml b;

		aml_init(&b);
		CHECK_EQ(aml_namestring(&b, bad[i]), -EINVAL);
		/* Sticky: later calls fail the same way and add nothing. */
		size_t len = b.len;
		CHECK_EQ(aml_integer(&b, 5), -EINVAL);
		CHECK_EQ(b.len, len);
		aml_free(&b);
	}
}

static int empty_device(struct aml *b)
{
	return aml_close(b, aml_device(b, "PCI0"));
}

static int scope_with_name(struct aml *b)
{
	size_t mark = aml_scope(b, "\\_SB_");

	aml_name(b, "_UID");
	aml_integer(b, 0);
	return aml_close(b, mark);
}

static int two_byte_buffer(struct aml *b)
{
	static const uint8_t end[] = { 0x79, 0x00 };

	return aml_buffer(b, end, sizeof(end));
}

static void test_objects(void)
{
	CHECK_AML(empty_device(&enc), 0x5B, 0x82, 0x05, 'P', 'C', 'I', '0');
	CHECK_AML(scope_with_name(&enc), 0x10, 0x0C, 0x5C, '_', 'S', 'B', '_',
		  0x08, '_', 'U', 'I', 'D', 0x00);
	CHECK_AML(two_byte_buffer(&enc), 0x11, 0x05, 0x0A, 0x02, 0x79, 0x00);
}

static void test_resources(void)
{
	CHECK_AML(aml_res_io(&enc, 0xCF8, 8), 0x47, 0x01, 0xF8, 0x0C, 0xF8,
		  0x0C, 0x01, 0x08);
	CHECK_AML(aml_res_irq(&enc, 4), 0x22, 0x10, 0x00);
	CHECK_AML(aml_res_end(&enc), 0x79, 0x00);
	/* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode,
	 * 0, 0, 0, 0, 1) */
	CHECK_AML(aml_res_word_bus(&enc, 0, 0), 0x88, 0x0D, 0x00, 0x02, 0x0C,
		  0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00);
	/* WordIO(..., EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300) */
	CHECK_AML(aml_res_word_io(&enc, 0x0D00, 0xFFFF), 0x88, 0x0D, 0x00, 0x01,
		  0x0C, 0x03, 0, 0, 0x00, 0x0D, 0xFF, 0xFF, 0, 0, 0x00, 0xF3);
	/* DWordMemory(..., NonCacheable, ReadWrite, 0, 0xC0000000,
	 * 0xFEBFFFFF, 0, 0x3EC00000) */
	CHECK_AML(aml_res_dword_mem(&enc, 0xC0000000, 0xFEBFFFFF), 0x87, 0x17,
		  0x00, 0x00, 0x0C, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xC0,
		  0xFF, 0xFF, 0xBF, 0xFE, 0, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3E);
	CHECK_AML(aml_res_qword_mem(&enc, 1ull << 36, (1ull << 37) - 1), 0x8A,
		  0x2B, 0x00, 0x00, 0x0C, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
		  0, 0, 0, 0, 0x10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0, 0,
		  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0);

	struct aml b;
	aml_init(&b);
	CHECK_EQ(aml_res_irq(&b, 16), -EINVAL);
	aml_free(&b);
	aml_init(&b);
	CHECK_EQ(aml_res_qword_mem(&b, 0, UINT64_MAX), -EINVAL);
	aml_free(&b);
}

static int method_store(struct aml *b)
{
	size_t m = aml_method(b, "_EJ0", 1, false);

	aml_byte(b, AML_OP_STORE);
	aml_integer(b, 5);
	aml_namestring(b, "PCEJ");
	return aml_close(b, m);
}

static int if_and_notify(struct aml *b)
{
	size_t m = aml_if(b);

	aml_byte(b, AML_OP_AND);
	aml_local(b, 1);
	aml_integer(b, 1u << 5);
	aml_byte(b, AML_OP_NULL_NAME);
	aml_byte(b, AML_OP_NOTIFY);
	aml_namestring(b, "S05");
	aml_integer(b, 3);
	return aml_close(b, m);
}

static int field3(struct aml *b)
{
	size_t m = aml_field_dword(b, "PHPR");

	aml_field_entry(b, "PCIU", 32);
	aml_field_entry(b, NULL, 64);
	aml_field_entry(b, "PCEJ", 32);
	return aml_close(b, m);
}

/* The control-flow and register objects the hotplug AML is made of,
 * byte for byte from ACPI 6.5 20.2.5. */
static void test_methods(void)
{
	struct aml b;

	/* Method(_EJ0, 1, NotSerialized) { Store(5, PCEJ) } */
	CHECK_AML(method_store(&enc), 0x14, 0x0D, '_', 'E', 'J', '0', 0x01,
		  0x70, 0x0A, 0x05, 'P', 'C', 'E', 'J');
	/* If(And(Local1, 0x20, Zero)) { Notify(S05, 3) } */
	CHECK_AML(if_and_notify(&enc), 0xA0, 0x0D, 0x7B, 0x61, 0x0A, 0x20,
		  0x00, 0x86, 'S', '0', '5', '_', 0x0A, 0x03);
	/* OperationRegion(PHPR, SystemIO, 0x620, 12) */
	CHECK_AML(aml_opregion_io(&enc, "PHPR", 0x620, 12), 0x5B, 0x80, 'P',
		  'H', 'P', 'R', 0x01, 0x0B, 0x20, 0x06, 0x0A, 0x0C);
	/* Field(PHPR, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32,
	 * Offset(12), PCEJ, 32 } */
	CHECK_AML(field3(&enc), 0x5B, 0x81, 0x13, 'P', 'H', 'P', 'R', 0x43,
		  'P', 'C', 'I', 'U', 0x20, 0x00, 0x40, 0x04, 'P', 'C', 'E',
		  'J', 0x20);
	/* Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive){20};
	 * and Edge. */
	CHECK_AML(aml_res_interrupt(&enc, 20, false), 0x89, 0x06, 0x00, 0x01,
		  0x01, 0x14, 0x00, 0x00, 0x00);
	CHECK_AML(aml_res_interrupt(&enc, 300, true), 0x89, 0x06, 0x00, 0x03,
		  0x01, 0x2C, 0x01, 0x00, 0x00);
	CHECK_AML(aml_local(&enc, 7), 0x67);
	CHECK_AML(aml_arg(&enc, 6), 0x6E);

	aml_init(&b);
	CHECK_EQ(aml_local(&b, 8), -EINVAL);
	aml_free(&b);
	aml_init(&b);
	CHECK_EQ(aml_arg(&b, 7), -EINVAL);
	aml_free(&b);
	aml_init(&b);
	aml_method(&b, "M", 8, false);
	CHECK_EQ(b.err, -EINVAL);
	aml_free(&b);
	aml_init(&b);
	CHECK_EQ(aml_field_entry(&b, "AB", 8), -EINVAL);	/* not a NameSeg */
	aml_free(&b);
}

/* The slot S<slot> in DSDT: Device(Sxx) { Name(_ADR, slot << 16),
 * Name(_SUN, slot), Method(_EJ0, 1) { Store(slot, PCEJ) } }, checked as
 * bytes; 1 if it is there. */
static int has_slot(const uint8_t *dsdt, uint32_t len, unsigned int slot)
{
	uint8_t want[64];
	struct aml b;
	char name[5];
	size_t n;
	int found;

	snprintf(name, sizeof(name), "S%02X", slot & 0xff);
	aml_init(&b);
	aml_name(&b, "_ADR");
	aml_integer(&b, (uint64_t)slot << 16);
	if (b.err || b.len > 16) {
		aml_free(&b);
		return 0;
	}
	n = b.len;
	memcpy(want, name, 3);
	want[3] = '_';
	memcpy(want + 4, b.data, n);
	aml_free(&b);
	n += 4;
	/* Name(_SUN, slot) */
	want[n++] = 0x08;
	memcpy(want + n, "_SUN", 4);
	n += 4;
	want[n++] = slot == 1 ? 0x01 : 0x0A;
	if (slot != 1)
		want[n++] = (uint8_t)slot;
	/* Method(_EJ0, 1) { Store(slot, PCEJ) } */
	want[n++] = 0x14;
	want[n++] = slot == 1 ? 0x0C : 0x0D;
	memcpy(want + n, "_EJ0", 4);
	n += 4;
	want[n++] = 0x01;
	want[n++] = 0x70;
	want[n++] = slot == 1 ? 0x01 : 0x0A;
	if (slot != 1)
		want[n++] = (uint8_t)slot;
	memcpy(want + n, "PCEJ", 4);
	n += 4;
	found = find(dsdt, len, want, n) != NULL;
	/* DeviceOp and a one-byte PkgLength right before the name. */
	if (found) {
		const uint8_t *p = find(dsdt, len, want, n);

		found = p - dsdt >= 3 && p[-3] == 0x5B && p[-2] == 0x82 &&
			p[-1] == n + 1;
	}
	return found;
}

/* virt with a GED and PCI hotplug: the GED device, its interrupt and
 * event register, _EVT calling PCI0.PCNT on bit 1, the hotplug registers,
 * a slot device per slot and PCNT's notifications. */
static void test_hotplug_dsdt(void)
{
	static const uint8_t ged_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0D,
					   'A', 'C', 'P', 'I', '0', '0', '1',
					   '3', 0x00 };
	/* Name(_CRS, Buffer(){Interrupt(..., Level, ActiveHigh,
	 * Exclusive){20}, EndTag}) */
	static const uint8_t ged_crs[] = { 0x08, '_', 'C', 'R', 'S', 0x11,
					   0x0E, 0x0A, 0x0B, 0x89, 0x06, 0x00,
					   0x01, 0x01, 0x14, 0x00, 0x00, 0x00,
					   0x79, 0x00 };
	static const uint8_t ged_reg[] = { 0x5B, 0x80, 'G', 'E', 'D', 'R',
					   0x01, 0x0B, 0x10, 0x06, 0x0A, 0x04 };
	/* Store(GEVT, Local0)
	 * If(And(Local0, 1, Zero)) { Notify(\_SB.PWRB, 0x80) }
	 * If(And(Local0, 2, Zero)) { \_SB.PCI0.PCNT } */
	static const uint8_t evt[] = { 0x70, 'G', 'E', 'V', 'T', 0x60, 0xA0,
				       0x12, 0x7B, 0x60, 0x01, 0x00, 0x86,
				       0x5C, 0x2E, '_', 'S', 'B', '_', 'P',
				       'W', 'R', 'B', 0x0A, 0x80, 0xA0,
				       0x15, 0x7B, 0x60, 0x0A, 0x02, 0x00,
				       0x5C, 0x2F, 0x03, '_', 'S', 'B', '_',
				       'P', 'C', 'I', '0', 'P', 'C', 'N',
				       'T' };
	/* Device(PWRB) { Name(_HID, EisaId("PNP0C0C")) Name(_UID, 0) } */
	static const uint8_t pwrb[] = { 0x5B, 0x82, 0x15, 'P', 'W', 'R', 'B',
					0x08, '_', 'H', 'I', 'D', 0x0C, 0x41,
					0xD0, 0x0C, 0x0C, 0x08, '_', 'U', 'I',
					'D', 0x00 };
	static const uint8_t hp_reg[] = { 0x5B, 0x80, 'P', 'H', 'P', 'R', 0x01,
					  0x0B, 0x20, 0x06, 0x0A, 0x0C };
	static const uint8_t hp_field[] = { 'P', 'H', 'P', 'R', 0x43, 'P', 'C',
					    'I', 'U', 0x20, 'P', 'C', 'I', 'D',
					    0x20, 'P', 'C', 'E', 'J', 0x20 };
	/* PCNT: both registers read into Local0/1 and written back. */
	static const uint8_t pcnt[] = { 'P', 'C', 'N', 'T', 0x08, 0x70, 'P',
					'C', 'I', 'U', 0x60, 0x70, 'P', 'C',
					'I', 'D', 0x61, 0x70, 0x60, 'P', 'C',
					'I', 'U', 0x70, 0x61, 'P', 'C', 'I',
					'D' };
	/* Slot 0x1F: If(And(Local0, 0x80000000, Zero)) { Notify(S1F, 1) } */
	static const uint8_t check31[] = { 0xA0, 0x0F, 0x7B, 0x60, 0x0C, 0x00,
					   0x00, 0x00, 0x80, 0x00, 0x86, 'S',
					   '1', 'F', '_', 0x01 };
	static const uint8_t eject2[] = { 0xA0, 0x0D, 0x7B, 0x61, 0x0A, 0x04,
					  0x00, 0x86, 'S', '0', '2', '_', 0x0A,
					  0x03 };
	struct acpi_config cfg = default_config();
	struct tables t;
	uint32_t len;
	unsigned int slots = 0;

	cfg.ged_port = 0x610;
	cfg.ged_gsi = 20;
	cfg.pci_hotplug_port = 0x620;
	t = build(&cfg);
	if (!t.dsdt) {
		CHECK(!"missing DSDT");
		return;
	}
	len = (uint32_t)get(t.dsdt + 4, 4);
	CHECK_EQ(sum(t.dsdt, len), 0);
	CHECK(find(t.dsdt, len, ged_hid, sizeof(ged_hid)));
	CHECK(find(t.dsdt, len, ged_crs, sizeof(ged_crs)));
	CHECK(find(t.dsdt, len, ged_reg, sizeof(ged_reg)));
	CHECK(find(t.dsdt, len, evt, sizeof(evt)));
	CHECK(find(t.dsdt, len, pwrb, sizeof(pwrb)));
	CHECK(find(t.dsdt, len, hp_reg, sizeof(hp_reg)));
	CHECK(find(t.dsdt, len, hp_field, sizeof(hp_field)));
	CHECK(find(t.dsdt, len, pcnt, sizeof(pcnt)));
	CHECK(find(t.dsdt, len, check31, sizeof(check31)));
	CHECK(find(t.dsdt, len, eject2, sizeof(eject2)));
	for (unsigned int s = 0; s < 32; s++)
		slots += has_slot(t.dsdt, len, s);
	CHECK_EQ(slots, 31);
	CHECK(!has_slot(t.dsdt, len, 0));
	CHECK_EQ(check_prt(t.dsdt, &cfg), 4 * 31);
	/* PCNT is defined before GED0's _EVT names it. */
	CHECK(find(t.dsdt, len, pcnt, sizeof(pcnt)) <
	      find(t.dsdt, len, ged_hid, sizeof(ged_hid)));

	/* A GED with no hotplug: _EVT only takes the events. */
	cfg.pci_hotplug_port = 0;
	t = build(&cfg);
	if (t.dsdt) {
		len = (uint32_t)get(t.dsdt + 4, 4);
		CHECK(find(t.dsdt, len, ged_hid, sizeof(ged_hid)));
		CHECK(find(t.dsdt, len, pwrb, sizeof(pwrb)));
		CHECK(!find(t.dsdt, len, "PCNT", 4));
		CHECK(!find(t.dsdt, len, "PHPR", 4));
		CHECK_EQ(has_slot(t.dsdt, len, 1), 0);
	}
	/* Neither: no GED0 (the default machine's DSDT above). */
	cfg.ged_port = 0;
	t = build(&cfg);
	if (t.dsdt) {
		len = (uint32_t)get(t.dsdt + 4, 4);
		CHECK(!find(t.dsdt, len, "GED0", 4));
		CHECK(!find(t.dsdt, len, "PWRB", 4));
	}

	/* Refused: hotplug without a GED, a GED on pc, its GSI on an INTx
	 * GSI or past the IOAPIC. */
	cfg = default_config();
	cfg.pci_hotplug_port = 0x620;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.ged_port = 0x610;
	cfg.ged_gsi = 17;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.ged_gsi = 24;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.ged_gsi = 20;
	CHECK(acpi_build(mem, sizeof(mem), GPA, &cfg) > 0);
	cfg.pc = true;
	cfg.pm_base = 0x600;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
}

/* --machine pc: fixed hardware (PM1a blocks, PM timer, SCI, FACS), an
 * 8259 and ISA devices, PCI INTx on the PIRQ-routed ISA IRQs. */
static void test_pc(void)
{
	struct acpi_config cfg = default_config();
	struct tables t;
	const uint8_t *f, *m, *e, *facs;
	uint64_t facs_addr;
	unsigned int overrides = 0;

	cfg.pc = true;
	cfg.sleep_ctl_port = cfg.sleep_sts_port = 0;	/* unused for pc */
	cfg.pm_base = 0xB000;
	cfg.sci_irq = 9;
	memcpy(cfg.pirq_irq, (uint8_t[]){ 10, 10, 11, 11 }, 4);
	t = build(&cfg);
	if (!t.fadt || !t.madt || !t.dsdt) {
		CHECK(!"missing FADT, MADT or DSDT");
		return;
	}
	f = t.fadt;
	check_header(f, "FACP", 6);
	CHECK_EQ(get(f + 112, 4) & (1u << 20), 0);	/* not hw-reduced */
	CHECK(get(f + 112, 4) & (1u << 8));		/* 32-bit PM timer */
	CHECK_EQ(get(f + 112, 4) & (1u << 4), 0);	/* fixed power button */
	CHECK_EQ(get(f + 46, 2), 9);			/* SCI_INT */
	CHECK_EQ(get(f + 48, 4), 0);			/* no SMI_CMD */
	CHECK_EQ(get(f + 56, 4), 0xB000);		/* PM1a_EVT_BLK */
	CHECK_EQ(get(f + 64, 4), 0xB004);		/* PM1a_CNT_BLK */
	CHECK_EQ(get(f + 76, 4), 0xB008);		/* PM_TMR_BLK */
	CHECK_EQ(f[88], 4);
	CHECK_EQ(f[89], 2);
	CHECK_EQ(f[91], 4);
	CHECK_EQ(f[92], 0);				/* no GPE0 */
	CHECK_EQ(f[148], 1);				/* X_PM1a_EVT: I/O */
	CHECK_EQ(f[149], 32);
	CHECK_EQ(get(f + 152, 8), 0xB000);
	CHECK_EQ(f[173], 16);				/* X_PM1a_CNT */
	CHECK_EQ(get(f + 176, 8), 0xB004);
	CHECK_EQ(f[209], 32);				/* X_PM_TMR */
	CHECK_EQ(get(f + 212, 8), 0xB008);
	/* No sleep registers: SLEEP_CONTROL_REG and SLEEP_STATUS_REG, 12
	 * bytes each (get() reads at most 8). */
	CHECK_MEM(f + 244, (const uint8_t[24]){ 0 }, 24);
	CHECK_EQ(get(f + 109, 2), 7);	/* legacy devices, 8042, no VGA */
	facs_addr = get(f + 36, 4);
	CHECK_EQ(get(f + 132, 8), 0);	/* X_FIRMWARE_CTRL: one, not both */
	CHECK_EQ(facs_addr % 64, 0);
	CHECK(facs_addr >= GPA && facs_addr + 64 <= GPA + (uint64_t)t.n);
	facs = mem + (facs_addr - GPA);
	CHECK_MEM(facs, "FACS", 4);
	CHECK_EQ(get(facs + 4, 4), 64);

	m = t.madt;
	check_header(m, "APIC", 5);
	CHECK_EQ(get(m + 40, 4), 1);			/* PCAT_COMPAT */
	for (e = m + 44; e + 2 <= m + get(m + 4, 4) && e[1]; e += e[1]) {
		if (e[0] != 2)
			continue;
		overrides++;
		CHECK_EQ(e[1], 10);
		CHECK_EQ(e[2], 0);				/* ISA */
		CHECK_EQ(e[3], 9);				/* IRQ 9 ... */
		CHECK_EQ(get(e + 4, 4), 9);			/* ... GSI 9 */
		CHECK_EQ(get(e + 8, 2), 0x0d);		/* level, high */
	}
	CHECK_EQ(overrides, 1);
	CHECK_EQ(check_prt(t.dsdt, &cfg), 4 * 31);

	/* pc needs its PM block and ISA IRQs; the hw-reduced ports not. */
	cfg.pm_base = 0;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
	cfg.pm_base = 0xB000;
	cfg.pirq_irq[2] = 16;
	CHECK_EQ(acpi_build(mem, sizeof(mem), GPA, &cfg), -EINVAL);
}

int main(void)
{
	test_rsdp();
	test_tables();
	test_fadt();
	test_madt();
	test_dsdt();
	test_pc();
	test_errors();
	test_pkglength();
	test_integer();
	test_eisaid();
	test_names();
	test_objects();
	test_resources();
	test_methods();
	test_hotplug_dsdt();
	return check_done("test_acpi");
}
