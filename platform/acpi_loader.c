/* The table-loader script: see platform/acpi_loader.h. */
#include "platform/acpi_loader.h"

#include "core/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TABLES_CAP (64u << 10)
#define MAX_CMDS 16

struct script {
	unsigned int n;
	uint8_t cmd[MAX_CMDS][ACPI_LOADER_ENTRY_LEN];
};

static uint8_t *next(struct script *s, uint32_t command)
{
	uint8_t *e = s->cmd[s->n++];

	memset(e, 0, ACPI_LOADER_ENTRY_LEN);
	put_le32(e, command);
	return e + 4;
}

static void allocate(struct script *s, const char *file, uint32_t align,
		     uint8_t zone)
{
	uint8_t *e = next(s, ACPI_LOADER_ALLOCATE);

	strncpy((char *)e, file, ACPI_LOADER_FILE_LEN - 1);
	put_le32(e + ACPI_LOADER_FILE_LEN, align);
	e[ACPI_LOADER_FILE_LEN + 4] = zone;
}

static void pointer(struct script *s, const char *dest, const char *src,
		    uint32_t offset, uint8_t size)
{
	uint8_t *e = next(s, ACPI_LOADER_ADD_POINTER);

	strncpy((char *)e, dest, ACPI_LOADER_FILE_LEN - 1);
	strncpy((char *)e + ACPI_LOADER_FILE_LEN, src, ACPI_LOADER_FILE_LEN - 1);
	put_le32(e + 2 * ACPI_LOADER_FILE_LEN, offset);
	e[2 * ACPI_LOADER_FILE_LEN + 4] = size;
}

static void checksum(struct script *s, const char *file, uint32_t offset,
		     uint32_t start, uint32_t length)
{
	uint8_t *e = next(s, ACPI_LOADER_ADD_CHECKSUM);

	strncpy((char *)e, file, ACPI_LOADER_FILE_LEN - 1);
	put_le32(e + ACPI_LOADER_FILE_LEN, offset);
	put_le32(e + ACPI_LOADER_FILE_LEN + 4, start);
	put_le32(e + ACPI_LOADER_FILE_LEN + 8, length);
}

static void table_checksum(struct script *s, size_t at, size_t len)
{
	checksum(s, ACPI_LOADER_TABLES, (uint32_t)(at + ACPI_HDR_CHECKSUM),
		 (uint32_t)at, (uint32_t)len);
}

int acpi_loader_install(struct fw_cfg *f, const struct acpi_config *cfg)
{
	const char *T = ACPI_LOADER_TABLES, *R = ACPI_LOADER_RSDP;
	struct acpi_layout l;
	struct script s = { 0 };
	uint8_t *buf, rsdp[ACPI_RSDP_LEN];
	ssize_t n;
	int ret;

	buf = calloc(1, TABLES_CAP);
	if (!buf)
		return -ENOMEM;
	/* At address 0 every pointer is an offset in the buffer, which is
	 * the tables file: the RSDP's 36 bytes at its head are copied out
	 * and zeroed (the firmware scans for the one it installs). */
	n = acpi_build_layout(buf, TABLES_CAP, 0, cfg, &l);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	memcpy(rsdp, buf, sizeof(rsdp));
	memset(buf, 0, ACPI_RSDP_LEN);

	allocate(&s, T, 64, ACPI_LOADER_ZONE_HIGH);
	allocate(&s, R, 16, ACPI_LOADER_ZONE_FSEG);
	pointer(&s, R, T, ACPI_RSDP_XSDT, 8);
	pointer(&s, T, T, (uint32_t)(l.xsdt + ACPI_HDR_LEN), 8);
	pointer(&s, T, T, (uint32_t)(l.xsdt + ACPI_HDR_LEN + 8), 8);
	pointer(&s, T, T, (uint32_t)(l.fadt + ACPI_FADT_DSDT), 4);
	pointer(&s, T, T, (uint32_t)(l.fadt + ACPI_FADT_X_DSDT), 8);
	if (l.facs)
		pointer(&s, T, T, (uint32_t)(l.fadt + ACPI_FADT_FIRMWARE_CTRL),
			4);
	table_checksum(&s, l.xsdt, get_le32(buf + l.xsdt + 4));
	table_checksum(&s, l.fadt, get_le32(buf + l.fadt + 4));
	table_checksum(&s, l.madt, l.madt_len);
	table_checksum(&s, l.dsdt, l.dsdt_len);
	/* RSDP: the ACPI 1.0 checksum over the first 20 bytes, then the
	 * extended one over all 36 (which covers the first). */
	checksum(&s, R, 8, 0, 20);
	checksum(&s, R, 32, 0, ACPI_RSDP_LEN);

	ret = fw_cfg_add_file(f, T, buf, (uint32_t)l.total);
	ret = ret ?: fw_cfg_add_file(f, R, rsdp, sizeof(rsdp));
	ret = ret ?: fw_cfg_add_file(f, ACPI_LOADER_SCRIPT, s.cmd,
				     s.n * ACPI_LOADER_ENTRY_LEN);
out:
	free(buf);
	return ret;
}
