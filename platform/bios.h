/* A BIOS image (SeaBIOS, from --firmware) and the memory it lives in:
 *   - the whole image, read-only, just below 4 GiB, where the reset vector
 *     (0xFFFFFFF0) finds its last 16 bytes;
 *   - its last 128 KiB (all of it when smaller) below 1 MiB, ending at
 *     0xFFFFF, as a PC's chipset decodes it after reset;
 *   - the i440FX PAM registers (config 0x59-0x5F of the host bridge),
 *     which choose for each 16 KiB of 0xC0000-0xEFFFF and for the 64 KiB
 *     at 0xF0000 whether reads come from RAM (RE) or from the ROM/PCI
 *     side, and whether writes go to RAM (WE) or nowhere. The firmware
 *     copies itself to RAM with RE|WE, then locks it with RE only.
 *
 * KVM memory slots do it: a chunk that reads RAM maps the RAM (read-only
 * unless WE); one that reads ROM maps the ROM read-only, or nothing in
 * 0xC0000-0xDFFFF (no ROM there). Writes that hit a read-only slot, and
 * accesses with no slot, come to bios_low_ops on the MMIO bus: a write
 * reaches RAM only with WE, a read follows RE. The slots go through a
 * callback so tests can record them.
 *
 * The CMOS fields a BIOS reads for memory size and CPU count are filled
 * by bios_cmos_fill; the rest of the firmware's inputs come by fw_cfg. */
#ifndef TERN_PLATFORM_BIOS_H
#define TERN_PLATFORM_BIOS_H

#include "core/bus.h"
#include "platform/rtc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIOS_DEFAULT_PATH "/usr/share/seabios/bios.bin"
#define BIOS_MIN_SIZE (64u << 10)
/* Above 256 KiB the image would reach KVM's TSS pages (0xFFFBD000). */
#define BIOS_MAX_SIZE (256u << 10)
#define BIOS_LOW_MAX (128u << 10)	/* what appears below 1 MiB */

#define BIOS_SHADOW_START 0xC0000ULL
#define BIOS_SHADOW_END 0x100000ULL
#define BIOS_PAM0 0x59			/* host bridge config */
#define BIOS_PAM_REGS 7
#define BIOS_CHUNKS 13			/* 12 x 16 KiB, then 64 KiB at F0000 */
#define BIOS_PAM_RE 1
#define BIOS_PAM_WE 2

/* KVM slot ids the BIOS uses (tern's RAM slots come first, below 8). */
#define BIOS_SLOT_BASE 16
#define BIOS_SLOT_RAM_LOW (BIOS_SLOT_BASE + 0)	/* 0 .. 0xC0000 */
#define BIOS_SLOT_RAM_HIGH (BIOS_SLOT_BASE + 1)	/* 1 MiB .. end of low RAM */
#define BIOS_SLOT_ROM (BIOS_SLOT_BASE + 2)	/* below 4 GiB */
#define BIOS_SLOT_CHUNK0 (BIOS_SLOT_BASE + 3)

/* Maps (size != 0) or removes (size 0) KVM slot `slot`. */
struct bios_slot_ops {
	int (*set)(void *opaque, uint32_t slot, uint64_t gpa, uint64_t size,
		   void *hva, bool readonly);
	void *opaque;
};

struct bios {
	uint8_t *rom;			/* the image, mmap'ed */
	size_t rom_len;
	uint8_t *ram;			/* host address of guest address 0 */
	uint64_t low_size;		/* RAM below 4 GiB */
	struct bios_slot_ops slots;
	pthread_mutex_t lock;		/* mode[] and slot changes */
	uint8_t mode[BIOS_CHUNKS];	/* RE/WE now in effect */
	bool mapped[BIOS_CHUNKS];	/* the chunk's slot exists */
	unsigned long slot_errors;
};

/* Reads the image at `path`: a regular file of 64 to 256 KiB, a multiple
 * of 64 KiB. On error returns -errno and writes a sentence naming the
 * file and the problem into err. */
int bios_load(struct bios *b, const char *path, char *err, size_t errlen);
/* The same from a buffer (tests, fuzzing). */
int bios_load_mem(struct bios *b, const void *img, size_t len, char *err,
		  size_t errlen);
/* Safe after a failed load, and twice. */
void bios_destroy(struct bios *b);

/* Maps low RAM around the shadow area, the ROM below 4 GiB and the
 * chunks as after reset (every PAM 0: ROM reads, writes go nowhere).
 * `ram` is the host address of guest RAM at 0, `low_size` its length
 * (more than 1 MiB). Returns 0 or -errno. */
int bios_map(struct bios *b, uint8_t *ram, uint64_t low_size,
	     struct bios_slot_ops slots);

/* The host bridge's PAM registers changed: pam[0] is PAM0 (0x59). */
void bios_pam_update(struct bios *b, const uint8_t pam[BIOS_PAM_REGS]);

/* The RE/WE bits PAM registers give chunk i (0..12). */
uint8_t bios_pam_mode(const uint8_t pam[BIOS_PAM_REGS], unsigned int chunk);
uint64_t bios_chunk_gpa(unsigned int chunk);
uint64_t bios_chunk_size(unsigned int chunk);

/* On the MMIO bus over [BIOS_SHADOW_START, BIOS_SHADOW_END), and over the
 * ROM below 4 GiB (writes dropped), opaque the struct bios. */
extern const struct bus_ops bios_low_ops;
extern const struct bus_ops bios_rom_ops;

/* CMOS: base memory (640 KiB), memory above 1 MiB (KiB, 0x17/0x30) and
 * above 16 MiB (64 KiB units, 0x34), above 4 GiB (64 KiB units,
 * 0x5B-0x5D), the CPU count less one (0x5F) and the boot order (hard
 * disk, then CD-ROM). */
void bios_cmos_fill(struct rtc *r, uint64_t low_size, uint64_t high_size,
		    unsigned int ncpus);

#endif
