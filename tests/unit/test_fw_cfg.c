/* fw_cfg: the selector/data ports (signature, ID, directory, files, reads
 * past the end, unknown keys, odd widths), the DMA interface (select,
 * read, skip, zero fill past the end, writes refused, descriptors and
 * buffers outside RAM, the signature register), and the ACPI table-loader
 * files: the script is run here as a BIOS runs it (allocate, add pointers,
 * checksums) and the tables it leaves must chain RSDP -> XSDT -> FADT ->
 * DSDT/FACS, MADT with every checksum right. */
#include "platform/acpi_loader.h"
#include "core/bytes.h"
#include "platform/fw_cfg.h"

#include "check.h"

#include <string.h>

#define RAM (1u << 20)

static struct guest_mem mem;
static struct fw_cfg fw;

static void out16(uint64_t port, uint16_t v)
{
	uint8_t d[2];

	put_le16(d, v);
	fw_cfg_ops.write(&fw, port - FW_CFG_PORT_SEL, d, 2);
}

static uint8_t in8(void)
{
	uint8_t v;

	fw_cfg_ops.read(&fw, 1, &v, 1);
	return v;
}

static void read_item(uint16_t key, void *buf, size_t len)
{
	out16(FW_CFG_PORT_SEL, key);
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = in8();
}

/* Writes a descriptor at gpa `at` and starts it through the ports, the
 * way a guest does (be32 halves, the low one last). */
static uint32_t dma(uint64_t at, uint32_t control, uint32_t length,
		    uint64_t addr)
{
	uint8_t *d = guest_mem_ptr(&mem, at, 16), v[4];

	put_be32(d, control);
	put_be32(d + 4, length);
	put_be32(d + 8, (uint32_t)(addr >> 32));
	put_be32(d + 12, (uint32_t)addr);
	put_be32(v, (uint32_t)(at >> 32));
	fw_cfg_ops.write(&fw, 4, v, 4);
	put_be32(v, (uint32_t)at);
	fw_cfg_ops.write(&fw, 8, v, 4);
	return get_be32(d);
}

static void setup(void)
{
	struct mem_config cfg = { .size = 64u << 20, .numa_node = -1 };

	CHECK_EQ(guest_mem_create(&mem, &cfg), 0);
	CHECK_EQ(fw_cfg_init(&fw, "fw_cfg", &mem), 0);
}

static void teardown(void)
{
	fw_cfg_destroy(&fw);
	guest_mem_destroy(&mem);
}

static void test_ports(void)
{
	char sig[5] = { 0 };
	uint8_t id[4], cnt[4], ent[64], data[8], sigreg[8];
	uint8_t hello[] = { 'h', 'i', '!' };

	setup();
	read_item(FW_CFG_SIGNATURE, sig, 4);
	CHECK_STR(sig, "QEMU");
	read_item(FW_CFG_ID, id, 4);
	CHECK_EQ(get_le32(id), 3);	/* traditional + DMA */

	CHECK_EQ(fw_cfg_add_file(&fw, "etc/hello", hello, 3), 0);
	CHECK_EQ(fw_cfg_add_file(&fw, "etc/hello", hello, 3), -EEXIST);
	CHECK_EQ(fw_cfg_add_file(&fw, "", hello, 3), -EINVAL);
	{
		char longname[80];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[79] = 0;
		CHECK_EQ(fw_cfg_add_file(&fw, longname, hello, 3), -EINVAL);
	}
	CHECK_EQ(fw_cfg_add_item(&fw, FW_CFG_FILE_DIR, hello, 3), -EINVAL);
	CHECK_EQ(fw_cfg_add_item(&fw, FW_CFG_SIGNATURE, hello, 3), -EEXIST);

	/* Directory: count, then size, select, name. */
	out16(FW_CFG_PORT_SEL, FW_CFG_FILE_DIR);
	for (int i = 0; i < 4; i++)
		cnt[i] = in8();
	CHECK_EQ(get_be32(cnt), 1);
	for (int i = 0; i < 64; i++)
		ent[i] = in8();
	CHECK_EQ(get_be32(ent), 3);
	CHECK_EQ(get_be16(ent + 4), FW_CFG_FILE_FIRST);
	CHECK_STR((char *)ent + 8, "etc/hello");

	/* The file, then zeros past its end; a reselect starts over. */
	read_item(FW_CFG_FILE_FIRST, data, 5);
	CHECK_MEM(data, "hi!\0\0", 5);
	read_item(FW_CFG_FILE_FIRST, data, 2);
	CHECK_MEM(data, "hi", 2);
	/* Unknown key: zeros. Odd widths: ignored (selection kept). */
	read_item(0x1234, data, 4);
	CHECK_EQ(get_le32(data), 0);
	out16(FW_CFG_PORT_SEL, FW_CFG_SIGNATURE);
	fw_cfg_ops.write(&fw, 0, (uint8_t[]){ 1 }, 1);	/* 8-bit select */
	CHECK_EQ(in8(), 'Q');
	fw_cfg_ops.read(&fw, 1, data, 2);		/* 16-bit data */
	CHECK_EQ(get_le16(data), 0);
	CHECK_EQ(in8(), 'E');
	fw_cfg_ops.read(&fw, 2, data, 1);		/* reserved port */
	CHECK_EQ(data[0], 0);
	/* The DMA register reads back "QEMU CFG". */
	fw_cfg_ops.read(&fw, 4, sigreg, 4);
	fw_cfg_ops.read(&fw, 8, sigreg + 4, 4);
	CHECK_MEM(sigreg, "QEMU CFG", 8);
	teardown();
}

static void test_dma(void)
{
	uint8_t *buf;
	uint8_t blob[300];

	setup();
	for (unsigned int i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;
	CHECK_EQ(fw_cfg_add_file(&fw, "etc/blob", blob, sizeof(blob)), 0);
	buf = guest_mem_ptr(&mem, 0x2000, 4096);

	/* Select + read 100, skip 100, read 150: the last 50 are zeros. */
	memset(buf, 0xaa, 4096);
	CHECK_EQ(dma(0x1000, (uint32_t)FW_CFG_FILE_FIRST << 16 |
				     FW_CFG_DMA_SELECT | FW_CFG_DMA_READ,
		     100, 0x2000), 0);
	CHECK_MEM(buf, blob, 100);
	CHECK_EQ(buf[100], 0xaa);
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_SKIP, 100, 0), 0);
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_READ, 150, 0x2000), 0);
	CHECK_MEM(buf, blob + 200, 100);
	for (int i = 100; i < 150; i++)
		CHECK_EQ(buf[i], 0);
	CHECK_EQ(buf[150], 0xaa);
	/* A zero-length read and a no-op control complete. */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_READ, 0, 0xffffffffffffULL), 0);
	CHECK_EQ(dma(0x1000, 0, 4096, 0), 0);
	CHECK_EQ(fw.dma_errors, 0);

	/* Hostile: a buffer past RAM, one that wraps, a write. Each ends
	 * with ERROR and touches nothing. */
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 16,
		     (64u << 20) - 8), FW_CFG_DMA_ERROR);
	CHECK_EQ(dma(0x1000, FW_CFG_DMA_READ, 16, ~0ULL - 4), FW_CFG_DMA_ERROR);
	memset(buf, 0x55, 16);
	CHECK_EQ(dma(0x1000, (uint32_t)FW_CFG_FILE_FIRST << 16 |
				     FW_CFG_DMA_SELECT | FW_CFG_DMA_WRITE,
		     16, 0x2000), FW_CFG_DMA_ERROR);
	CHECK_EQ(buf[0], 0x55);
	CHECK_EQ(fw.dma_errors, 3);
	/* The file is unchanged by the write attempt. */
	CHECK_MEM(fw_cfg_find_file(&fw, "etc/blob")->data, blob, sizeof(blob));
	/* A descriptor outside RAM (or straddling its end): nothing to
	 * report to, nothing done. */
	CHECK_EQ(fw_cfg_dma(&fw, (64u << 20) - 8), -EFAULT);
	CHECK_EQ(fw_cfg_dma(&fw, ~0ULL - 7), -EFAULT);
	CHECK_EQ(fw.dma_errors, 5);
	teardown();
}

/* --- the table loader, run as a BIOS runs it ------------------------------ */

struct placed {
	char name[56];
	uint8_t *data;
	uint32_t len;
	uint64_t gpa;
};

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static struct placed *find(struct placed *p, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strncmp(p[i].name, name, 56))
			return &p[i];
	return NULL;
}

static void test_table_loader(int pc)
{
	struct acpi_config cfg = {
		.cpus = { 1, 2, 1, 1 }, .ioapic_addr = 0xfec00000, .ioapic_id = 2,
		.sleep_ctl_port = 0x600, .sleep_sts_port = 0x601,
		.reset_port = 0xcf9, .reset_value = 6,
		.pci_mmio32_base = 0xc0000000, .pci_mmio32_size = 0x3ec00000,
		.pci_slots = 32, .pci_intx_gsi_base = 16,
		.rtc_century_index = 0x32, .pc = pc, .pm_base = 0x600,
		.sci_irq = 9, .pirq_irq = { 10, 10, 11, 11 },
	};
	const struct fw_cfg_item *script;
	struct placed files[2];
	uint64_t next_high = 0x100000, rsdp_gpa = 0, xsdt, fadt, madt, dsdt;
	uint8_t *x, *f;
	int nf = 0;

	setup();
	CHECK_EQ(acpi_loader_install(&fw, &cfg), 0);
	script = fw_cfg_find_file(&fw, ACPI_LOADER_SCRIPT);
	CHECK(script && script->len % ACPI_LOADER_ENTRY_LEN == 0);
	if (!script)
		goto out;
	for (uint32_t o = 0; o < script->len; o += ACPI_LOADER_ENTRY_LEN) {
		const uint8_t *e = script->data + o, *a = e + 4;
		uint32_t cmd = get_le32(e);

		if (cmd == ACPI_LOADER_ALLOCATE) {
			const struct fw_cfg_item *it =
				fw_cfg_find_file(&fw, (const char *)a);
			uint32_t align = get_le32(a + 56);
			struct placed *p = &files[nf++];

			CHECK(it != NULL);
			CHECK(align && !(align & (align - 1)));
			if (!it)
				goto out;
			memcpy(p->name, a, 56);
			p->len = it->len;
			if (a[60] == ACPI_LOADER_ZONE_FSEG) {
				p->gpa = 0xf5000;
			} else {
				CHECK_EQ(a[60], ACPI_LOADER_ZONE_HIGH);
				p->gpa = (next_high + align - 1) & ~(uint64_t)(align - 1);
				next_high = p->gpa + p->len;
			}
			p->data = guest_mem_ptr(&mem, p->gpa, p->len);
			memcpy(p->data, it->data, it->len);
		} else if (cmd == ACPI_LOADER_ADD_POINTER) {
			struct placed *d = find(files, nf, (const char *)a);
			struct placed *s = find(files, nf, (const char *)a + 56);
			uint32_t off = get_le32(a + 112);
			uint8_t size = a[116];
			uint64_t v = 0;

			CHECK(d && s && (size == 4 || size == 8));
			if (!d || !s || off + size > d->len)
				goto out;
			memcpy(&v, d->data + off, size);	/* little endian */
			CHECK(v < s->len);	/* an offset into the source */
			v += s->gpa;
			memcpy(d->data + off, &v, size);
		} else if (cmd == ACPI_LOADER_ADD_CHECKSUM) {
			struct placed *d = find(files, nf, (const char *)a);
			uint32_t off = get_le32(a + 56), start = get_le32(a + 60);
			uint32_t len = get_le32(a + 64);

			CHECK(d && off < d->len && start + len <= d->len &&
			      off >= start && off < start + len);
			if (!d)
				goto out;
			d->data[off] = (uint8_t)(d->data[off] -
						 sum(d->data + start, len));
		} else {
			CHECK_EQ(cmd, 0);
		}
	}
	CHECK_EQ(nf, 2);
	rsdp_gpa = find(files, nf, ACPI_LOADER_RSDP)->gpa;
	/* The chain from the RSDP, every checksum right. */
	{
		uint8_t *r = guest_mem_ptr(&mem, rsdp_gpa, 36);

		CHECK_MEM(r, "RSD PTR ", 8);
		CHECK_EQ(sum(r, 20), 0);
		CHECK_EQ(sum(r, 36), 0);
		xsdt = get_le64(r + 24);
	}
	x = guest_mem_ptr(&mem, xsdt, 52);
	CHECK(x && !memcmp(x, "XSDT", 4));
	if (!x)
		goto out;
	CHECK_EQ(sum(x, get_le32(x + 4)), 0);
	fadt = get_le64(x + 36);
	madt = get_le64(x + 44);
	f = guest_mem_ptr(&mem, fadt, 276);
	CHECK(f && !memcmp(f, "FACP", 4));
	if (!f)
		goto out;
	CHECK_EQ(sum(f, get_le32(f + 4)), 0);
	dsdt = get_le64(f + 140);
	CHECK_EQ(get_le32(f + 40), dsdt);
	CHECK(!memcmp(guest_mem_ptr(&mem, dsdt, 4), "DSDT", 4));
	CHECK_EQ(sum(guest_mem_ptr(&mem, dsdt, 36),
		     get_le32(guest_mem_ptr(&mem, dsdt + 4, 4))) , 0);
	CHECK(!memcmp(guest_mem_ptr(&mem, madt, 4), "APIC", 4));
	CHECK_EQ(sum(guest_mem_ptr(&mem, madt, 36),
		     get_le32(guest_mem_ptr(&mem, madt + 4, 4))), 0);
	if (pc) {
		uint32_t facs = get_le32(f + 36);

		CHECK(facs % 64 == 0);
		CHECK(!memcmp(guest_mem_ptr(&mem, facs, 4), "FACS", 4));
	} else {
		CHECK_EQ(get_le32(f + 36), 0);
	}
	/* The copy in the tables file has no RSDP left in it. */
	CHECK(memcmp(fw_cfg_find_file(&fw, ACPI_LOADER_TABLES)->data,
		     "RSD PTR ", 8));
out:
	teardown();
}

int main(void)
{
	test_ports();
	test_dma();
	test_table_loader(1);
	test_table_loader(0);
	return check_done("test_fw_cfg");
}
