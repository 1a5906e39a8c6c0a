/* libFuzzer target: the e1000 (net/e1000.c) driven by a hostile guest.
 * The input is a script of register reads and writes (any offset, any
 * width, MMIO and I/O space), guest-memory writes that lay out descriptor
 * rings and buffers, and frames injected from the wire. Guest RAM is a
 * malloc'd 256 KiB ASan watches, so any access outside it is a crash; the
 * checks below hold after every step.
 *
 * Each input starts from a VM reset of one device kept across runs (with
 * RAM zeroed). Input: a sequence of steps, each an opcode byte (% 8):
 *   0 write   reg selector, le32 value
 *   1 read    reg selector
 *   2 access  width byte (1 << b % 4), le24 offset, le64 value; then a
 *             read and a write of that width at that offset
 *   3 memory  le24 guest address (% RAM), length byte, that many bytes
 *   4 desc    ring byte (bit 0: rx), index byte, 16 bytes: a descriptor
 *             at that index of the ring the registers point at (if in RAM)
 *   5 frame   le16 length (% 17000); bytes from the input, then a pattern
 *   6 io      offset byte (% 64), le32 value: an I/O-space write, then a
 *             read
 *   7 reset   e1000_reset
 * A reg selector byte below 0xf0 picks one of fz_regs[], else le16 * 4
 * follows (any dword of the 128 KiB).
 * Op 7: with an odd next byte, time passes (le16 us) and the moderation
 * timers that are due fire (the device runs on the target's clock); else
 * a reset.
 * Checked: no crash, no access outside RAM, the IRQ line is exactly
 * ((ICR & IMS) != 0) unless ITR holds the edge, ring indexes stay in their 16 bits, each frame sent
 * fits the largest frame (TSO segments included).
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "core/bus.h"
#include "core/pci.h"
#include "net/e1000.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM_SIZE (256u << 10)
#define MAX_STEPS 512

static const uint32_t fz_regs[] = {
	0x0000, 0x0008, 0x0010, 0x0014, 0x0020, 0x0038, 0x00c0, 0x00c4,
	0x00c8, 0x00d0, 0x00d8, 0x0100, 0x0400, 0x2800, 0x2804, 0x2808,
	0x2810, 0x2818, 0x3800, 0x3804, 0x3808, 0x3810, 0x3818, 0x3828,
	0x4010, 0x4074, 0x4088, 0x408c, 0x40f8, 0x5200, 0x5400, 0x5404,
	0x5600, 0x1fffc, 0x2820, 0x282c, 0x3820, 0x382c, 0x5000,
};

/* Kept across runs: building the device per input would dominate. */
static struct {
	bool ready;
	uint8_t *ram;
	struct guest_mem mem;
	struct bus mmio, pio;
	struct pci_bus pci;
	struct e1000 dev;
	int sock[2];
	int level;
	uint64_t now;			/* the device's clock, in ns */
	uint8_t frame[E1000_TX_MAX];
} fz;

static uint64_t fz_clock(void *opaque)
{
	return fz.now;
}

static struct {
	unsigned long steps, frames_out, frames_in, missed;
} fz_stats;

static int fz_irq(void *opaque, uint32_t gsi, int level)
{
	fz.level = level;
	return 0;
}

static void fz_setup(void)
{
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct e1000_host host = {
		.mmio = &fz.mmio, .pio = &fz.pio, .pci = &fz.pci,
		.mem = &fz.mem, .intx = { fz_irq, NULL, 11 },
	};

	fz.ram = malloc(RAM_SIZE);
	FZ_ASSERT(fz.ram);
	fz.mem = (struct guest_mem){
		.fd = -1, .size = RAM_SIZE, .base = fz.ram, .nregions = 1,
		.regions = { { 0, RAM_SIZE, 0, fz.ram } }, .numa_node = -1,
	};
	FZ_ASSERT(!bus_init(&fz.mmio, "mmio") && !bus_init(&fz.pio, "pio"));
	FZ_ASSERT(!pci_bus_init(&fz.pci, (struct vm_control){ 0 }));
	FZ_ASSERT(!socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0,
			      fz.sock));
	FZ_ASSERT(!e1000_create(&fz.dev, "e1000-fuzz", &host, mac, fz.sock[0],
				0, -1));
	fz.now = 1000000000ULL;
	fz.dev.clock = fz_clock;
	fz.ready = true;
}

static uint32_t ld(const uint8_t *p, int n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* Every frame the device sent since the last step. */
static void fz_drain(void)
{
	ssize_t n;

	while ((n = recv(fz.sock[1], fz.frame, sizeof(fz.frame), 0)) >= 0) {
		FZ_ASSERT(n <= E1000_FRAME_MAX + 4);
		fz_stats.frames_out++;
	}
	FZ_ASSERT(errno == EAGAIN);
}

static void fz_check(void)
{
	struct e1000 *e = &fz.dev;

	pthread_mutex_lock(&e->lock);
	/* The line follows ICR & IMS, except that ITR may hold a rising
	 * edge (itr_at armed) until its interval has passed. */
	FZ_ASSERT(fz.level == ((e->icr & e->ims) != 0) ||
		  (!fz.level && e->itr_at));
	/* An armed deadline lies within the longest delay the registers
	 * give (65535 x 1.024 us). */
	FZ_ASSERT(e->rdtr_at <= fz.now + 65535 * 1024ULL);
	FZ_ASSERT(e->tadv_at <= fz.now + 65535 * 1024ULL);
	FZ_ASSERT(e->rdh <= 0xffff && e->rdt <= 0xffff);
	FZ_ASSERT(e->tdh <= 0xffff && e->tdt <= 0xffff);
	FZ_ASSERT(e->tx_len <= E1000_TX_MAX);
	pthread_mutex_unlock(&e->lock);
	fz_drain();
}

/* Host address of descriptor i of a ring, when the ring is in RAM. */
static uint8_t *fz_desc(bool rx, unsigned int i)
{
	struct e1000 *e = &fz.dev;
	uint64_t base;
	uint32_t len;
	uint8_t *p;

	pthread_mutex_lock(&e->lock);
	base = rx ? (uint64_t)e->rdbah << 32 | e->rdbal
		  : (uint64_t)e->tdbah << 32 | e->tdbal;
	len = rx ? e->rdlen : e->tdlen;
	pthread_mutex_unlock(&e->lock);
	if (!len)
		return NULL;
	p = guest_mem_ptr(&fz.mem, base + 16ULL * (i % (len / 16)), 16);
	return p;
}

static uint32_t fz_reg(const uint8_t **p, const uint8_t *end)
{
	uint8_t b;

	if (*p >= end)
		return 0;
	b = *(*p)++;
	if (b < 0xf0)
		return fz_regs[b % (sizeof(fz_regs) / sizeof(fz_regs[0]))];
	if (end - *p < 2)
		return 0;
	*p += 2;
	return (ld(*p - 2, 2) * 4) & (E1000_MMIO_SIZE - 4);
}

static void fz_write(uint32_t off, uint32_t v)
{
	uint8_t d[4];

	bus_put(d, 4, v);
	e1000_mmio_ops.write(&fz.dev, off, d, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	uint8_t d[8], *q;
	uint32_t off, len;

	if (!fz.ready)
		fz_setup();
	memset(fz.ram, 0, RAM_SIZE);
	e1000_reset(&fz.dev);
	fz_check();

	for (unsigned int step = 0; step < MAX_STEPS && p < end; step++) {
		uint8_t op = *p++ % 8;

		fz_stats.steps++;
		switch (op) {
		case 0:
			off = fz_reg(&p, end);
			if (end - p < 4)
				return 0;
			fz_write(off, ld(p, 4));
			p += 4;
			break;
		case 1:
			e1000_mmio_ops.read(&fz.dev, fz_reg(&p, end), d, 4);
			break;
		case 2:
			if (end - p < 12)
				return 0;
			len = 1u << (p[0] % 4);
			off = ld(p + 1, 3);
			memcpy(d, p + 4, 8);
			p += 12;
			e1000_mmio_ops.read(&fz.dev, off, d, len);
			e1000_mmio_ops.write(&fz.dev, off, d, len);
			break;
		case 3:
			if (end - p < 4)
				return 0;
			off = ld(p, 3) % RAM_SIZE;
			len = p[3];
			p += 4;
			if (len > (size_t)(end - p))
				len = (uint32_t)(end - p);
			if (len > RAM_SIZE - off)
				len = RAM_SIZE - off;
			memcpy(fz.ram + off, p, len);
			p += len;
			break;
		case 4:
			if (end - p < 18)
				return 0;
			q = fz_desc(p[0] & 1, p[1]);
			if (q)
				memcpy(q, p + 2, 16);
			p += 18;
			break;
		case 5:
			if (end - p < 2)
				return 0;
			len = ld(p, 2) % 17000;
			p += 2;
			for (uint32_t i = 0; i < len; i++)
				fz.frame[i] = p + i < end ? p[i]
							  : (uint8_t)(i * 13);
			p += (size_t)(end - p) < len ? (size_t)(end - p) : len;
			fz_stats.frames_in++;
			fz_stats.missed += e1000_receive(&fz.dev, fz.frame,
							 len) == -ENOBUFS;
			break;
		case 6:
			if (end - p < 5)
				return 0;
			off = p[0] % E1000_IO_SIZE;
			bus_put(d, 4, ld(p + 1, 4));
			p += 5;
			e1000_io_ops.write(&fz.dev, off, d, 4);
			e1000_io_ops.read(&fz.dev, off, d, 4);
			break;
		default:
			/* Time passes (odd byte: up to 65 ms), the timers
			 * that are due fire; or a reset. */
			if (p < end && (*p & 1) && end - p >= 3) {
				fz.now += ld(p + 1, 2) * 1000ULL;
				p += 3;
				e1000_tick(&fz.dev);
			} else {
				e1000_reset(&fz.dev);
			}
			break;
		}
		fz_check();
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_e1000: %u inputs ran clean (%lu steps, %lu "
		"frames sent, %lu injected, %lu found no room)\n", runs,
		fz_stats.steps, fz_stats.frames_out, fz_stats.frames_in,
		fz_stats.missed);
}
#include "replay.h"
#endif
