/* BIOS image, shadow RAM and CMOS fields: see platform/bios.h. PAM register
 * meanings follow Intel's 82441FX (i440FX) datasheet: PAM0 bits 5:4 cover
 * 0xF0000-0xFFFFF; PAM1..PAM6 cover 0xC0000-0xEFFFF, 16 KiB per nibble,
 * the low nibble first; in each, bit 0 read enable, bit 1 write enable. */
#include "platform/bios.h"

#include "core/log.h"
#include "core/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_SMALL (16u << 10)

uint64_t bios_chunk_gpa(unsigned int chunk)
{
	return BIOS_SHADOW_START + (uint64_t)chunk * CHUNK_SMALL;
}

uint64_t bios_chunk_size(unsigned int chunk)
{
	return chunk == BIOS_CHUNKS - 1 ? 0x10000 : CHUNK_SMALL;
}

uint8_t bios_pam_mode(const uint8_t pam[BIOS_PAM_REGS], unsigned int chunk)
{
	if (chunk == BIOS_CHUNKS - 1)
		return (pam[0] >> 4) & 3;
	return (pam[1 + chunk / 2] >> (chunk % 2 ? 4 : 0)) & 3;
}

static int fail(char *err, size_t errlen, int ret, const char *fmt,
		const char *what, unsigned long long n)
{
	snprintf(err, errlen, fmt, what, n);
	return ret;
}

int bios_load_mem(struct bios *b, const void *img, size_t len, char *err,
		  size_t errlen)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	if (len < BIOS_MIN_SIZE || len > BIOS_MAX_SIZE || len % BIOS_MIN_SIZE)
		return fail(err, errlen, -EINVAL,
			    "%s is %llu bytes; a BIOS image is 64 KiB to "
			    "256 KiB, a multiple of 64 KiB", "the image",
			    (unsigned long long)len);
	b->rom = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->rom == MAP_FAILED) {
		b->rom = NULL;
		return fail(err, errlen, -ENOMEM, "%s: no memory for %llu bytes",
			    "the image", (unsigned long long)len);
	}
	memcpy(b->rom, img, len);
	b->rom_len = len;
	return 0;
}

int bios_load(struct bios *b, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t got = 0;
	int fd, ret;

	memset(b, 0, sizeof(*b));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < BIOS_MIN_SIZE ||
	    st.st_size > BIOS_MAX_SIZE || st.st_size % BIOS_MIN_SIZE) {
		ret = fail(err, errlen, -EINVAL,
			   "%s is %llu bytes; a BIOS image is a file of 64 KiB "
			   "to 256 KiB, a multiple of 64 KiB", path,
			   (unsigned long long)st.st_size);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	while (got < st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)(st.st_size - got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "%s: %s", path,
				 n < 0 ? strerror(-ret) : "shorter than it was");
			goto out;
		}
		got += n;
	}
	ret = bios_load_mem(b, buf, (size_t)st.st_size, err, errlen);
	if (ret)
		snprintf(err, errlen, "%s: cannot hold the image", path);
out:
	free(buf);
	close(fd);
	return ret;
}

void bios_destroy(struct bios *b)
{
	if (!b->rom_len)
		return;		/* never loaded */
	munmap(b->rom, b->rom_len);
	b->rom = NULL;
	b->rom_len = 0;
	pthread_mutex_destroy(&b->lock);
}

/* The ROM byte the chipset shows at a low address, or NULL (no ROM). */
static uint8_t *rom_low(const struct bios *b, uint64_t gpa)
{
	size_t low = b->rom_len < BIOS_LOW_MAX ? b->rom_len : BIOS_LOW_MAX;
	uint64_t start = BIOS_SHADOW_END - low;

	if (gpa < start || gpa >= BIOS_SHADOW_END)
		return NULL;
	return b->rom + b->rom_len - low + (gpa - start);
}

/* With the lock held: puts chunk i's slot in line with its mode. */
static int chunk_apply(struct bios *b, unsigned int i, uint8_t mode)
{
	uint64_t gpa = bios_chunk_gpa(i), size = bios_chunk_size(i);
	uint32_t slot = BIOS_SLOT_CHUNK0 + i;
	void *rom = rom_low(b, gpa);
	int ret = 0;

	if (b->mapped[i]) {
		ret = b->slots.set(b->slots.opaque, slot, gpa, 0, NULL, false);
		if (ret)
			return ret;
		b->mapped[i] = false;
	}
	b->mode[i] = mode;
	if (mode & BIOS_PAM_RE)
		ret = b->slots.set(b->slots.opaque, slot, gpa, size,
				   b->ram + gpa, !(mode & BIOS_PAM_WE));
	else if (rom)
		ret = b->slots.set(b->slots.opaque, slot, gpa, size, rom, true);
	else
		return 0;	/* reads float, writes come to bios_low_ops */
	if (!ret)
		b->mapped[i] = true;
	return ret;
}

int bios_map(struct bios *b, uint8_t *ram, uint64_t low_size,
	     struct bios_slot_ops slots)
{
	int ret;

	if (low_size <= BIOS_SHADOW_END)
		return -EINVAL;
	b->ram = ram;
	b->low_size = low_size;
	b->slots = slots;
	ret = slots.set(slots.opaque, BIOS_SLOT_RAM_LOW, 0, BIOS_SHADOW_START,
			ram, false);
	ret = ret ?: slots.set(slots.opaque, BIOS_SLOT_RAM_HIGH,
			       BIOS_SHADOW_END, low_size - BIOS_SHADOW_END,
			       ram + BIOS_SHADOW_END, false);
	ret = ret ?: slots.set(slots.opaque, BIOS_SLOT_ROM,
			       MEM_4G - b->rom_len, b->rom_len, b->rom, true);
	pthread_mutex_lock(&b->lock);
	for (unsigned int i = 0; !ret && i < BIOS_CHUNKS; i++)
		ret = chunk_apply(b, i, 0);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

void bios_pam_update(struct bios *b, const uint8_t pam[BIOS_PAM_REGS])
{
	pthread_mutex_lock(&b->lock);
	for (unsigned int i = 0; i < BIOS_CHUNKS; i++) {
		uint8_t mode = bios_pam_mode(pam, i);

		if (mode == b->mode[i] && (b->mapped[i] ||
					   !(mode & BIOS_PAM_RE)))
			continue;
		if (chunk_apply(b, i, mode)) {
			/* The access path still follows mode[]: exits are
			 * served as the registers say, only slower. */
			b->slot_errors++;
			log_warn("bios", "shadow 0x%llx: cannot remap",
				 (unsigned long long)bios_chunk_gpa(i));
		}
	}
	pthread_mutex_unlock(&b->lock);
}

static unsigned int chunk_of(uint64_t gpa)
{
	unsigned int i = (unsigned int)((gpa - BIOS_SHADOW_START) / CHUNK_SMALL);

	return i < BIOS_CHUNKS ? i : BIOS_CHUNKS - 1;
}

/* Exits in the shadow area: byte by byte, as the registers say. */
static void low_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bios *b = opaque;

	pthread_mutex_lock(&b->lock);
	for (uint32_t k = 0; k < len; k++) {
		uint64_t gpa = BIOS_SHADOW_START + off + k;
		uint8_t *rom;

		if (gpa >= BIOS_SHADOW_END) {
			data[k] = 0xff;
			continue;
		}
		rom = rom_low(b, gpa);
		if (b->mode[chunk_of(gpa)] & BIOS_PAM_RE)
			data[k] = b->ram[gpa];
		else
			data[k] = rom ? *rom : 0xff;
	}
	pthread_mutex_unlock(&b->lock);
}

static void low_write(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
	struct bios *b = opaque;

	pthread_mutex_lock(&b->lock);
	for (uint32_t k = 0; k < len; k++) {
		uint64_t gpa = BIOS_SHADOW_START + off + k;

		if (gpa < BIOS_SHADOW_END &&
		    (b->mode[chunk_of(gpa)] & BIOS_PAM_WE))
			b->ram[gpa] = data[k];
	}
	pthread_mutex_unlock(&b->lock);
}

const struct bus_ops bios_low_ops = { .read = low_read, .write = low_write };

/* The ROM below 4 GiB is read-only: only writes exit here. */
static void rom_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bios *b = opaque;

	for (uint32_t k = 0; k < len; k++)
		data[k] = off + k < b->rom_len ? b->rom[off + k] : 0xff;
}

static void rom_write(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
}

const struct bus_ops bios_rom_ops = { .read = rom_read, .write = rom_write };

static void cmos16(struct rtc *r, uint8_t idx, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	rtc_cmos_write(r, idx, (uint8_t)v);
	rtc_cmos_write(r, (uint8_t)(idx + 1), (uint8_t)(v >> 8));
}

void bios_cmos_fill(struct rtc *r, uint64_t low_size, uint64_t high_size,
		    unsigned int ncpus)
{
	uint64_t ext = (low_size - BIOS_SHADOW_END) >> 10;	/* KiB */
	uint64_t above16 = low_size > (16ULL << 20) ?
				   (low_size - (16ULL << 20)) >> 16 : 0;
	uint64_t above4g = high_size >> 16;

	cmos16(r, 0x15, 640);		/* base memory, KiB */
	cmos16(r, 0x17, ext);
	cmos16(r, 0x30, ext);
	cmos16(r, 0x34, above16);
	rtc_cmos_write(r, 0x5b, (uint8_t)above4g);
	rtc_cmos_write(r, 0x5c, (uint8_t)(above4g >> 8));
	rtc_cmos_write(r, 0x5d, (uint8_t)(above4g >> 16));
	rtc_cmos_write(r, 0x5f, (uint8_t)(ncpus - 1));
	/* Boot order nibbles: 2 hard disk, 3 CD-ROM, 1 floppy. */
	rtc_cmos_write(r, 0x3d, 0x32);
	rtc_cmos_write(r, 0x38, 0x10);
}
