/* The pc machine's slow-path devices through core/device.h on a fake
 * machine (buses, an IRQ recorder, guest RAM, no KVM): the PIIX chipset,
 * the PIIX IDE function (its drive thread on an image file) and the
 * e1000 (its receive thread on a SOCK_SEQPACKET socketpair for the tap).
 * For each: realize, reset, pause and resume (the threads take no work
 * while paused), save -> load into a fresh instance -> save again -> the
 * same bytes, the loaded one answering the guest as the saved one did
 * and carrying on (a PIO read half done finishes on the new IDE; the
 * e1000's receive ring continues), and hostile records refused with
 * nothing changed. */
#include "block/ide.h"
#include "core/bus.h"
#include "core/bytes.h"
#include "core/device.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/pci.h"
#include "core/state.h"
#include "net/e1000.h"
#include "platform/piix.h"
#include "tests/unit/check.h"
#include "tests/unit/fake_machine.h"
#include "tests/unit/state_check.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RAM (4ULL << 20)
#define QUIET_MS 100
#define WAIT_MS 3000

static struct guest_mem mem;

static uint32_t in(struct fake_machine *m, uint16_t port, uint32_t len)
{
	uint8_t d[4] = { 0 };

	CHECK(bus_read(&m->pio, port, d, len));
	return (uint32_t)bus_get(d, len);
}

static void out(struct fake_machine *m, uint16_t port, uint32_t len,
		uint32_t v)
{
	uint8_t d[4];

	bus_put(d, len, v);
	CHECK(bus_write(&m->pio, port, d, len));
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* --- PIIX ------------------------------------------------------------- */

#define ISA PIIX_DEVFN_ISA
#define PM PIIX_PM_BASE

static void test_piix(void)
{
	struct fake_machine m1, m2;
	struct piix_device *p1 = calloc(1, sizeof(*p1));
	struct piix_device *p2 = calloc(1, sizeof(*p2));
	static const uint8_t fns[] = { 0, PIIX_DEVFN_ISA, PIIX_DEVFN_IDE,
				       PIIX_DEVFN_PM };
	struct state_writer w;
	struct irq_line intx;
	uint32_t tmr;

	machine_init(&m1, &mem);
	machine_init(&m2, &mem);
	piix_device_init(p1, "piix");
	CHECK_EQ(device_realize(&p1->dev, &m1.host), 0);
	CHECK_EQ(pci_cfg_read(&m1.pci, ISA, 0x60, 1), 10);
	pci_cfg_write(&m1.pci, ISA, 0x60, 1, 0x0b);
	out(&m1, PM + 2, 2, 0x0121);			/* PM1_EN */
	CHECK_EQ(in(&m1, PM + 2, 2), 0x0121);
	CHECK_EQ(device_reset(&p1->dev), 0);
	CHECK_EQ(pci_cfg_read(&m1.pci, ISA, 0x60, 1), 10);
	CHECK_EQ(in(&m1, PM + 2, 2), 0);
	CHECK_EQ(device_pause(&p1->dev), 0);
	CHECK_EQ(device_resume(&p1->dev), 0);

	/* The guest's routing, IDE timing, PM enables; then a transfer. */
	pci_cfg_write(&m1.pci, ISA, 0x63, 1, 0x05);	/* PIRQD -> IRQ 5 */
	pci_cfg_write(&m1.pci, PIIX_DEVFN_IDE, 0x44, 1, 0x33);
	out(&m1, PM + 2, 2, 0x0020);
	out(&m1, PM + 4, 2, 0x0400);			/* PM1_CNT: no SLP_EN */
	tmr = in(&m1, PM + 8, 4);
	CHECK_EQ(device_pause(&p1->dev), 0);
	save(&p1->dev, &w);
	piix_device_init(p2, "piix");
	CHECK_EQ(device_realize(&p2->dev, &m2.host), 0);
	CHECK_EQ(device_pause(&p2->dev), 0);
	load_and_compare(&p2->dev, &w);
	CHECK_EQ(device_resume(&p1->dev), 0);
	for (size_t f = 0; f < sizeof(fns); f++)
		for (unsigned int off = 0; off < 256; off += 4)
			CHECK_EQ(pci_cfg_read(&m2.pci, fns[f], off, 4),
				 pci_cfg_read(&m1.pci, fns[f], off, 4));
	for (uint16_t off = 0; off < 6; off += 2)
		CHECK_EQ(in(&m2, PM + off, 2), in(&m1, PM + off, 2));

	/* Hostile: the ISA bridge's vendor ID (read-only); SLP_EN held in
	 * PM1_CNT. Refused, nothing changed. */
	refuse_field(&p2->dev, &w, 2, 0, 0x87);
	refuse_field(&p2->dev, &w, 7, 1, 0x24);
	CHECK_EQ(device_resume(&p2->dev), 0);
	/* Resumed, the PM timer counts on from the count saved (read
	 * while paused it would count from p2's own start). */
	CHECK(in(&m2, PM + 8, 4) - tmr < 0x80000000u);

	/* The loaded routing drives the loaded PIRQs: slot 3 INTA is PIRQD,
	 * which the guest sent to IRQ 5. */
	intx = piix_intx_line(&p2->piix, 3 << 3, 0);
	CHECK_EQ(irq_line_set(&intx, 1), 0);
	CHECK_EQ(m2.level[5], 1);
	CHECK_EQ(irq_line_set(&intx, 0), 0);
	CHECK_EQ(m2.level[5], 0);

	state_writer_free(&w);
	device_destroy(&p1->dev);
	device_destroy(&p2->dev);
	CHECK_EQ(pci_cfg_read(&m1.pci, ISA, 0, 4), 0xffffffff);	/* gone */
	CHECK(!bus_read(&m1.pio, PM, (uint8_t[2]){ 0 }, 2));
	free(p1);
	free(p2);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- IDE -------------------------------------------------------------- */

#define SECTORS 64
#define ST_BSY 0x80
#define ST_DRQ 0x08

static char image[64];

static void make_image(void)
{
	uint8_t sec[512];
	int fd;

	snprintf(image, sizeof(image), "/tmp/tern-legacy-lc-XXXXXX");
	fd = mkstemp(image);
	CHECK(fd >= 0);
	for (unsigned int s = 0; s < SECTORS; s++) {
		for (unsigned int i = 0; i < sizeof(sec); i++)
			sec[i] = (uint8_t)(s * 7 + i);
		CHECK_EQ(write(fd, sec, sizeof(sec)), (ssize_t)sizeof(sec));
	}
	close(fd);
}

/* The primary channel's ports, as the PIIX puts them. */
static void ide_ports(struct fake_machine *m, struct ide *ide)
{
	CHECK_EQ(bus_register(&m->pio, 0x1f0, 8, &ide_cmd_ops, &ide->chan[0],
			      "ide0"), 0);
	CHECK_EQ(bus_register(&m->pio, 0x3f6, 1, &ide_ctl_ops, &ide->chan[0],
			      "ide0-ctl"), 0);
}

static uint8_t wait_not_busy(struct fake_machine *m)
{
	uint8_t st = 0xff;

	for (int i = 0; i < WAIT_MS && ((st = (uint8_t)in(m, 0x3f6, 1)) & ST_BSY);
	     i++)
		sleep_ms(1);
	return st;
}

/* Reads N words of the data port; checks them against sector S from
 * byte OFF. */
static void read_words(struct fake_machine *m, unsigned int s,
		       unsigned int off, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t v = (uint16_t)in(m, 0x1f0, 2);
		unsigned int b = off + 2 * i;

		CHECK_EQ(v, (uint16_t)((uint8_t)(s * 7 + b) |
				       (uint8_t)(s * 7 + b + 1) << 8));
	}
}

static void test_ide(void)
{
	static const uint32_t gsi[IDE_CHANNELS] = { 14, 15 };
	struct fake_machine m1, m2;
	struct ide_device *d1 = calloc(1, sizeof(*d1));
	struct ide_device *d2 = calloc(1, sizeof(*d2));
	struct blk_image img1, img2;
	struct blk_image *drives1[IDE_DRIVES] = { &img1 };
	struct blk_image *drives2[IDE_DRIVES] = { &img2 };
	struct state_writer w;

	machine_init(&m1, &mem);
	machine_init(&m2, &mem);
	/* Read-only: both instances hold the image (a shared lock). */
	CHECK_EQ(blk_image_open(&img1, image, true, false), 0);
	CHECK_EQ(blk_image_open(&img2, image, true, false), 0);
	ide_device_init(d1, "ide0", drives1, gsi);
	CHECK_EQ(device_realize(&d1->dev, &m1.host), 0);
	CHECK_EQ(ide_start(&d1->ide), 0);
	ide_ports(&m1, &d1->ide);

	/* SET MULTIPLE 4, then reset puts it back (16) and the signature. */
	out(&m1, 0x1f6, 1, 0xe0);
	out(&m1, 0x1f2, 1, 4);
	out(&m1, 0x1f7, 1, 0xc6);
	CHECK_EQ(wait_not_busy(&m1) & 0x01, 0);
	out(&m1, 0x1f2, 1, 9);
	CHECK_EQ(device_reset(&d1->dev), 0);
	CHECK_EQ(in(&m1, 0x1f2, 1), 1);			/* signature */
	CHECK_EQ(in(&m1, 0x1f3, 1), 1);

	/* READ SECTORS 5..7, one sector per DRQ block: half of sector 5
	 * read when the device pauses. */
	out(&m1, 0x1f6, 1, 0xe0);
	out(&m1, 0x1f2, 1, 3);
	out(&m1, 0x1f3, 1, 5);
	out(&m1, 0x1f4, 1, 0);
	out(&m1, 0x1f5, 1, 0);
	out(&m1, 0x1f7, 1, 0x20);
	CHECK(wait_not_busy(&m1) & ST_DRQ);
	read_words(&m1, 5, 0, 128);
	CHECK_EQ(device_pause(&d1->dev), 0);
	CHECK_EQ(device_resume(&d1->dev), 0);
	read_words(&m1, 5, 256, 64);
	CHECK_EQ(device_pause(&d1->dev), 0);
	save(&d1->dev, &w);
	ide_device_init(d2, "ide0", drives2, gsi);
	CHECK_EQ(device_realize(&d2->dev, &m2.host), 0);
	CHECK_EQ(ide_start(&d2->ide), 0);
	ide_ports(&m2, &d2->ide);
	CHECK_EQ(device_pause(&d2->dev), 0);
	load_and_compare(&d2->dev, &w);
	CHECK_EQ(m2.level[14], m1.level[14]);
	for (uint16_t port = 0x1f1; port < 0x1f7; port++)
		CHECK_EQ(in(&m2, port, 1), in(&m1, port, 1));
	CHECK_EQ(in(&m2, 0x3f6, 1), in(&m1, 0x3f6, 1));

	/* Hostile: a busy channel (nothing can be out while paused); a
	 * multiple block SET MULTIPLE refuses; other drives present. */
	refuse_field(&d2->dev, &w, 2, 11, ST_BSY | 0x50);
	refuse_field(&d2->dev, &w, 2, 56, 3);
	refuse_field(&d2->dev, &w, 1, 0, 0x03);
	/* Sectors read ahead past the buffer; a CD-ROM where a disk is. */
	refuse_field(&d2->dev, &w, 6, 3, 0x01);
	refuse_field(&d2->dev, &w, 6, 16, 1);
	device_destroy(&d1->dev);
	free(d1);

	/* The rest of sector 5 and sectors 6 and 7 on the loaded one: its
	 * own drive thread reads them. */
	CHECK_EQ(device_resume(&d2->dev), 0);
	read_words(&m2, 5, 384, 64);
	CHECK(wait_not_busy(&m2) & ST_DRQ);
	read_words(&m2, 6, 0, 256);
	CHECK(wait_not_busy(&m2) & ST_DRQ);
	read_words(&m2, 7, 0, 256);
	CHECK_EQ(wait_not_busy(&m2) & (ST_DRQ | 0x01), 0);
	state_writer_free(&w);
	device_destroy(&d2->dev);
	free(d2);
	blk_image_close(&img1);
	blk_image_close(&img2);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- e1000 ------------------------------------------------------------ */

#define E_BAR 0xfebc0000ULL
#define RING_GPA 0x10000ULL
#define BUF_GPA 0x20000ULL
#define NDESC 8

struct nic {
	int sv[2];
	struct e1000_device d;
};

static uint32_t rd32(struct fake_machine *m, uint32_t reg)
{
	uint8_t d[4] = { 0 };

	bus_read(&m->mmio, E_BAR + reg, d, 4);
	return get_le32(d);
}

static void wr32(struct fake_machine *m, uint32_t reg, uint32_t v)
{
	uint8_t d[4];

	put_le32(d, v);
	bus_write(&m->mmio, E_BAR + reg, d, 4);
}

static void nic_init(struct nic *n, struct fake_machine *m)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x11, 0x22, 0x33 };

	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, n->sv),
		 0);
	CHECK_EQ(fcntl(n->sv[0], F_SETFL, O_NONBLOCK), 0);
	e1000_device_init(&n->d, "net0", mac, n->sv[0], 0, 3 << 3,
			  (struct irq_line){ fake_set_irq, m, 11 });
}

static void nic_close(struct nic *n)
{
	close(n->sv[0]);
	close(n->sv[1]);
}

/* BAR 0 where the guest puts it, memory decoding on. */
static void place(struct fake_machine *m)
{
	pci_cfg_write(&m->pci, 3 << 3, 0x10, 4, (uint32_t)E_BAR);
	pci_cfg_write(&m->pci, 3 << 3, 0x04, 2, 0x7);
}

/* A receive ring of NDESC descriptors with 2 KiB buffers, all free. */
static void rx_ring(struct fake_machine *m)
{
	uint8_t *ring = guest_mem_ptr(&mem, RING_GPA, 16 * NDESC);

	memset(ring, 0, 16 * NDESC);
	for (unsigned int i = 0; i < NDESC; i++)
		put_le64(ring + 16 * i, BUF_GPA + 2048ULL * i);
	wr32(m, 0x2800, (uint32_t)RING_GPA);
	wr32(m, 0x2804, 0);
	wr32(m, 0x2808, 16 * NDESC);
	wr32(m, 0x2810, 0);
	wr32(m, 0x2818, NDESC - 1);
	wr32(m, 0x00d0, 0x80);				/* IMS: RXT0 */
	wr32(m, 0x0100, 0x2 | 0x8 | 0x8000);		/* EN, UPE, BAM */
}

/* A frame from the wire lands in descriptor I (its DD bit set). */
static bool landed(unsigned int i)
{
	uint8_t *d = guest_mem_ptr(&mem, RING_GPA + 16 * i, 16);

	for (int t = 0; t < WAIT_MS; t++) {
		if (__atomic_load_n(&d[12], __ATOMIC_ACQUIRE) & 1)
			return true;
		sleep_ms(1);
	}
	return false;
}

static void send_frame(struct nic *n, uint8_t tag)
{
	uint8_t f[60];

	memset(f, 0xff, 6);				/* broadcast */
	memset(f + 6, tag, sizeof(f) - 6);
	CHECK_EQ(send(n->sv[1], f, sizeof(f), 0), (ssize_t)sizeof(f));
}

static void test_e1000(void)
{
	static const uint32_t regs[] = { 0x0, 0x8, 0x100, 0x400, 0x2800,
					 0x2808, 0x2810, 0x2818, 0xd0,
					 0x5400, 0x5404 };
	struct fake_machine m1, m2;
	struct nic *n1 = calloc(1, sizeof(*n1)), *n2 = calloc(1, sizeof(*n2));
	struct state_writer w;

	machine_init(&m1, &mem);
	machine_init(&m2, &mem);
	nic_init(n1, &m1);
	CHECK_EQ(device_realize(&n1->d.dev, &m1.host), 0);
	CHECK_EQ(e1000_start(&n1->d.e), 0);
	place(&m1);
	wr32(&m1, 0x00d0, 0x80);
	CHECK_EQ(rd32(&m1, 0x00d0), 0x80);
	CHECK_EQ(device_reset(&n1->d.dev), 0);
	CHECK_EQ(rd32(&m1, 0x00d0), 0);

	rx_ring(&m1);
	wr32(&m1, 0x0, rd32(&m1, 0x0) | 0x40);		/* CTRL.SLU */
	send_frame(n1, 1);
	CHECK(landed(0));
	CHECK_EQ(m1.level[11], 1);
	CHECK_EQ(rd32(&m1, 0x00c0) & 0x80, 0x80);	/* ICR read clears */
	CHECK_EQ(m1.level[11], 0);

	/* Paused: the receive thread takes nothing; resumed, it does. */
	CHECK_EQ(device_pause(&n1->d.dev), 0);
	send_frame(n1, 2);
	sleep_ms(QUIET_MS);
	CHECK_EQ(rd32(&m1, 0x2810), 1);
	CHECK_EQ(device_resume(&n1->d.dev), 0);
	CHECK(landed(1));
	CHECK_EQ(rd32(&m1, 0x00c0) & 0x80, 0x80);

	/* RDTR 65535 (67 ms) holds RXT0; pause raises it, so the record
	 * holds no timer. */
	wr32(&m1, 0x2820, 0xffff);
	send_frame(n1, 4);
	CHECK(landed(2));
	CHECK_EQ(m1.level[11], 0);
	CHECK_EQ(device_pause(&n1->d.dev), 0);
	CHECK_EQ(m1.level[11], 1);
	CHECK_EQ(n1->d.e.rdtr_at, 0);
	CHECK_EQ(device_resume(&n1->d.dev), 0);
	CHECK_EQ(rd32(&m1, 0x00c0) & 0x80, 0x80);
	CHECK_EQ(rd32(&m1, 0x2820), 0xffff);
	wr32(&m1, 0x2820, 0);

	/* Save, load into a fresh instance with its own tap. */
	CHECK_EQ(device_pause(&n1->d.dev), 0);
	save(&n1->d.dev, &w);
	nic_init(n2, &m2);
	CHECK_EQ(device_realize(&n2->d.dev, &m2.host), 0);
	CHECK_EQ(e1000_start(&n2->d.e), 0);
	CHECK_EQ(device_pause(&n2->d.dev), 0);
	load_and_compare(&n2->d.dev, &w);
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		CHECK_EQ(rd32(&m2, regs[i]), rd32(&m1, regs[i]));
	CHECK_EQ(m2.level[11], m1.level[11]);

	/* Hostile: RDLEN not a multiple of 128; another EEPROM. */
	refuse_field(&n2->d.dev, &w, 2, 11 * 4, 0x81);
	refuse_field(&n2->d.dev, &w, 8, 0, 0x99);
	device_destroy(&n1->d.dev);
	nic_close(n1);
	free(n1);

	/* The ring continues on the loaded one, from its RDH. */
	CHECK_EQ(device_resume(&n2->d.dev), 0);
	send_frame(n2, 3);
	CHECK(landed(3));
	CHECK_EQ(rd32(&m2, 0x2810), 4);
	state_writer_free(&w);
	device_destroy(&n2->d.dev);
	CHECK(!bus_read(&m2.mmio, E_BAR, (uint8_t[4]){ 0 }, 4));	/* gone */
	nic_close(n2);
	free(n2);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

int main(void)
{
	struct mem_config mc = { .size = RAM, .numa_node = -1 };

	log_set_level(LOG_ERR);
	if (guest_mem_create(&mem, &mc))
		return 1;
	make_image();
	test_piix();
	test_ide();
	test_e1000();
	unlink(image);
	guest_mem_destroy(&mem);
	return check_done("test_legacy_lifecycle");
}
