/* The BIOS image and shadow RAM: image size checks (from memory and from
 * files, each error naming the problem), the slots after reset (ROM below
 * 4 GiB and at 0xE0000-0xFFFFF, nothing at 0xC0000-0xDFFFF, RAM around),
 * PAM decoding for all 13 chunks, the remaps the firmware's own sequence
 * causes (unlock RE|WE, lock RE), exits in each mode (write-only shadow
 * reads ROM and writes RAM; off drops writes), and the CMOS fields. */
#include "platform/bios.h"

#include "check.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROM_LEN (128u << 10)
#define LOW (32u << 20)

struct slot {
	bool on, ro;
	uint64_t gpa, size;
	void *hva;
};

static struct slot slots[64];
static int slot_calls, fail_slot = -1;

static int fake_set(void *opaque, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *hva, bool readonly)
{
	CHECK(slot < 64);
	slot_calls++;
	if ((int)slot == fail_slot && size)
		return -EINVAL;
	if (!size) {
		CHECK(slots[slot].on);	/* only existing slots are removed */
		slots[slot].on = false;
		return 0;
	}
	CHECK(!slots[slot].on);		/* KVM: a slot changes by removal */
	slots[slot] = (struct slot){ true, readonly, gpa, size, hva };
	return 0;
}

static uint8_t *ram, rom_img[ROM_LEN];

static void test_load(void)
{
	struct bios b;
	char err[256], path[] = "/tmp/tern-test-bios-XXXXXX";
	int fd;

	for (unsigned int i = 0; i < ROM_LEN; i++)
		rom_img[i] = (uint8_t)(i * 7 + 3);
	CHECK_EQ(bios_load_mem(&b, rom_img, 0, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "64 KiB") != NULL);
	bios_destroy(&b);
	CHECK_EQ(bios_load_mem(&b, rom_img, 100000, err, sizeof(err)), -EINVAL);
	bios_destroy(&b);
	CHECK_EQ(bios_load_mem(&b, rom_img, 512u << 10, err, sizeof(err)),
		 -EINVAL);
	bios_destroy(&b);
	CHECK_EQ(bios_load(&b, "/nonexistent/bios.bin", err, sizeof(err)),
		 -ENOENT);
	CHECK(strstr(err, "/nonexistent/bios.bin") != NULL);
	bios_destroy(&b);
	CHECK_EQ(bios_load(&b, "/tmp", err, sizeof(err)), -EINVAL);
	bios_destroy(&b);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, rom_img, 4096), 4096);	/* too small */
	CHECK_EQ(bios_load(&b, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, path) && strstr(err, "4096 bytes"));
	bios_destroy(&b);
	CHECK_EQ(pwrite(fd, rom_img, ROM_LEN, 0), (ssize_t)ROM_LEN);
	CHECK_EQ(bios_load(&b, path, err, sizeof(err)), 0);
	CHECK_EQ(b.rom_len, ROM_LEN);
	CHECK_MEM(b.rom, rom_img, ROM_LEN);
	bios_destroy(&b);
	bios_destroy(&b);		/* twice is fine */
	close(fd);
	unlink(path);
}

static void test_pam_decode(void)
{
	uint8_t pam[BIOS_PAM_REGS] = { 0x10, 0x21, 0x03, 0x30, 0x12, 0x00, 0x31 };

	CHECK_EQ(bios_pam_mode(pam, 12), 1);	/* 0xF0000: PAM0 high */
	CHECK_EQ(bios_pam_mode(pam, 0), 1);	/* 0xC0000: PAM1 low */
	CHECK_EQ(bios_pam_mode(pam, 1), 2);	/* 0xC4000: PAM1 high */
	CHECK_EQ(bios_pam_mode(pam, 2), 3);
	CHECK_EQ(bios_pam_mode(pam, 3), 0);
	CHECK_EQ(bios_pam_mode(pam, 5), 3);
	CHECK_EQ(bios_pam_mode(pam, 6), 2);
	CHECK_EQ(bios_pam_mode(pam, 7), 1);
	CHECK_EQ(bios_pam_mode(pam, 10), 1);	/* 0xE8000: PAM6 low */
	CHECK_EQ(bios_pam_mode(pam, 11), 3);
	CHECK_EQ(bios_chunk_gpa(0), 0xC0000);
	CHECK_EQ(bios_chunk_gpa(11), 0xEC000);
	CHECK_EQ(bios_chunk_gpa(12), 0xF0000);
	CHECK_EQ(bios_chunk_size(12), 0x10000);
	CHECK_EQ(bios_chunk_size(3), 0x4000);
}

static void mmio_write(struct bios *b, uint64_t gpa, uint8_t v)
{
	bios_low_ops.write(b, gpa - BIOS_SHADOW_START, &v, 1);
}

static uint8_t mmio_read(struct bios *b, uint64_t gpa)
{
	uint8_t v;

	bios_low_ops.read(b, gpa - BIOS_SHADOW_START, &v, 1);
	return v;
}

static void test_shadow(void)
{
	struct bios b;
	char err[256];
	uint8_t pam[BIOS_PAM_REGS] = { 0 };
	uint8_t *rom;

	ram = calloc(1, LOW);
	CHECK_EQ(bios_load_mem(&b, rom_img, ROM_LEN, err, sizeof(err)), 0);
	rom = b.rom;
	CHECK_EQ(bios_map(&b, ram, 1u << 20, (struct bios_slot_ops){ fake_set,
								    NULL }),
		 -EINVAL);		/* no RAM above 1 MiB */
	memset(slots, 0, sizeof(slots));
	CHECK_EQ(bios_map(&b, ram, LOW, (struct bios_slot_ops){ fake_set, NULL }),
		 0);
	/* RAM around the shadow area, the image below 4 GiB. */
	CHECK(slots[BIOS_SLOT_RAM_LOW].on && !slots[BIOS_SLOT_RAM_LOW].ro);
	CHECK_EQ(slots[BIOS_SLOT_RAM_LOW].size, 0xC0000);
	CHECK(slots[BIOS_SLOT_RAM_HIGH].hva == ram + 0x100000);
	CHECK_EQ(slots[BIOS_SLOT_RAM_HIGH].size, LOW - 0x100000);
	CHECK(slots[BIOS_SLOT_ROM].ro && slots[BIOS_SLOT_ROM].hva == rom);
	CHECK_EQ(slots[BIOS_SLOT_ROM].gpa, (1ULL << 32) - ROM_LEN);
	/* After reset: C/D segments empty, E/F the image's last 128 KiB. */
	for (unsigned int i = 0; i < BIOS_CHUNKS; i++) {
		struct slot *s = &slots[BIOS_SLOT_CHUNK0 + i];

		if (i < 8) {
			CHECK(!s->on);
		} else {
			CHECK(s->on && s->ro);
			CHECK(s->hva == rom + (bios_chunk_gpa(i) - 0xE0000));
		}
	}
	/* Writes go nowhere, reads give the ROM (or float). */
	mmio_write(&b, 0xF0010, 0x5a);
	CHECK_EQ(ram[0xF0010], 0);
	CHECK_EQ(mmio_read(&b, 0xF0010), rom[0x10010]);
	CHECK_EQ(mmio_read(&b, 0xC8000), 0xff);
	mmio_write(&b, 0xC8000, 1);
	CHECK_EQ(ram[0xC8000], 0);

	/* Unlock as the firmware does: RAM read/write everywhere. */
	memset(pam, 0x33, sizeof(pam));
	pam[0] = 0x30;
	bios_pam_update(&b, pam);
	for (unsigned int i = 0; i < BIOS_CHUNKS; i++) {
		struct slot *s = &slots[BIOS_SLOT_CHUNK0 + i];

		CHECK(s->on && !s->ro && s->hva == ram + bios_chunk_gpa(i));
	}
	/* Nothing changed: no slot calls. */
	slot_calls = 0;
	bios_pam_update(&b, pam);
	CHECK_EQ(slot_calls, 0);

	/* Lock: RE only -> read-only RAM; an exit's write is dropped. */
	ram[0xF0020] = 0x77;
	memset(pam, 0x11, sizeof(pam));
	pam[0] = 0x10;
	bios_pam_update(&b, pam);
	CHECK(slots[BIOS_SLOT_CHUNK0 + 12].ro &&
	      slots[BIOS_SLOT_CHUNK0 + 12].hva == ram + 0xF0000);
	mmio_write(&b, 0xF0020, 0x99);
	CHECK_EQ(ram[0xF0020], 0x77);
	CHECK_EQ(mmio_read(&b, 0xF0020), 0x77);

	/* Write-only (WE): reads from ROM, writes reach RAM. */
	pam[0] = 0x20;
	bios_pam_update(&b, pam);
	CHECK(slots[BIOS_SLOT_CHUNK0 + 12].hva == rom + 0x10000);
	mmio_write(&b, 0xF0030, 0x42);
	CHECK_EQ(ram[0xF0030], 0x42);
	CHECK_EQ(mmio_read(&b, 0xF0030), rom[0x10030]);
	/* ... and in the C segment, with no ROM: no slot, reads float. */
	pam[1] = 0x02;
	bios_pam_update(&b, pam);
	CHECK(!slots[BIOS_SLOT_CHUNK0 + 0].on);
	mmio_write(&b, 0xC0001, 0x24);
	CHECK_EQ(ram[0xC0001], 0x24);
	CHECK_EQ(mmio_read(&b, 0xC0001), 0xff);

	/* A slot KVM refuses: counted, the mode still followed. */
	fail_slot = BIOS_SLOT_CHUNK0 + 12;
	pam[0] = 0x30;
	bios_pam_update(&b, pam);
	CHECK_EQ(b.slot_errors, 1);
	mmio_write(&b, 0xF0040, 0x11);
	CHECK_EQ(ram[0xF0040], 0x11);
	CHECK_EQ(mmio_read(&b, 0xF0040), 0x11);
	fail_slot = -1;
	bios_pam_update(&b, pam);	/* retried: mapped now */
	CHECK(slots[BIOS_SLOT_CHUNK0 + 12].on);

	/* Past the area (an 8-byte access at its last byte): floats. */
	{
		uint8_t d[2];

		bios_low_ops.read(&b, 0x3ffff, d, 2);
		CHECK_EQ(d[1], 0xff);
	}
	bios_destroy(&b);
	free(ram);
}

static uint8_t cmos(struct rtc *r, uint8_t idx)
{
	uint8_t v;

	rtc_bus_ops.write(r, 0, &idx, 1);
	rtc_bus_ops.read(r, 1, &v, 1);
	return v;
}

static void test_cmos(void)
{
	struct rtc r;

	CHECK_EQ(rtc_init(&r, NULL, NULL), 0);
	bios_cmos_fill(&r, 512ULL << 20, 0, 4);
	CHECK_EQ(cmos(&r, 0x15) | cmos(&r, 0x16) << 8, 640);
	CHECK_EQ(cmos(&r, 0x30) | cmos(&r, 0x31) << 8, 0xffff); /* capped */
	CHECK_EQ(cmos(&r, 0x34) | cmos(&r, 0x35) << 8, (512 - 16) * 16);
	CHECK_EQ(cmos(&r, 0x5b) | cmos(&r, 0x5c) << 8 | cmos(&r, 0x5d) << 16, 0);
	CHECK_EQ(cmos(&r, 0x5f), 3);
	bios_cmos_fill(&r, 0xC0000000ULL, 5ULL << 30, 1);
	CHECK_EQ(cmos(&r, 0x5b) | cmos(&r, 0x5c) << 8 | cmos(&r, 0x5d) << 16,
		 (5ULL << 30) >> 16);
	CHECK_EQ(cmos(&r, 0x5f), 0);
	/* rtc_cmos_write leaves the clock's registers alone. */
	rtc_cmos_write(&r, 0x0b, 0xff);
	CHECK(cmos(&r, 0x0b) != 0xff);
	rtc_destroy(&r);
}

int main(void)
{
	test_load();
	test_pam_decode();
	test_shadow();
	test_cmos();
	return check_done("test_bios");
}
