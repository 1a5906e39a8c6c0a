/* ACPI tables for a firmware boot: the tables core/acpi.c builds, handed
 * to the BIOS through fw_cfg with QEMU's table-loader script
 * ("etc/table-loader"), so the firmware places them where its own memory
 * map allows and installs the RSDP itself. Three files:
 *   etc/acpi/tables  XSDT, FADT, MADT, DSDT (and the FACS for pc), built
 *                    as if at address 0: every pointer holds an offset
 *                    into this file;
 *   etc/acpi/rsdp    the RSDP, its XSDT pointer also an offset;
 *   etc/table-loader 128-byte commands: ALLOCATE both files (tables
 *                    anywhere in high memory, 64-byte aligned for the
 *                    FACS; the RSDP in the 0xF0000 segment, 16-byte
 *                    aligned), ADD_POINTER for each pointer (the loader
 *                    adds the file's address), then ADD_CHECKSUM for each
 *                    table and both RSDP checksums. */
#ifndef TERN_PLATFORM_ACPI_LOADER_H
#define TERN_PLATFORM_ACPI_LOADER_H

#include "core/acpi.h"
#include "platform/fw_cfg.h"

#include <stdint.h>

#define ACPI_LOADER_ENTRY_LEN 128
#define ACPI_LOADER_FILE_LEN 56
#define ACPI_LOADER_ALLOCATE 1
#define ACPI_LOADER_ADD_POINTER 2
#define ACPI_LOADER_ADD_CHECKSUM 3
#define ACPI_LOADER_ZONE_HIGH 1
#define ACPI_LOADER_ZONE_FSEG 2

#define ACPI_LOADER_TABLES "etc/acpi/tables"
#define ACPI_LOADER_RSDP "etc/acpi/rsdp"
#define ACPI_LOADER_SCRIPT "etc/table-loader"

/* Builds the tables for `cfg` and adds the three files to `f`. Returns 0
 * or -errno (acpi_build's, or fw_cfg's). */
int acpi_loader_install(struct fw_cfg *f, const struct acpi_config *cfg);

#endif
