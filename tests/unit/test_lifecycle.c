/* Every device kind through core/device.h on a fake machine (buses and
 * an IRQ recorder, no KVM): create, realize, reset, pause, resume, and
 * save -> load into a fresh instance -> save again -> the same bytes,
 * with a guest-visible check that the loaded instance answers as the
 * original does, and a hostile record refused without a change. */
#include "core/bus.h"
#include "core/bytes.h"
#include "core/device.h"
#include "core/pci.h"
#include "core/state.h"
#include "platform/acpi_sleep.h"
#include "platform/fw_cfg.h"
#include "platform/host_bridge.h"
#include "platform/i8042.h"
#include "platform/rtc.h"
#include "platform/serial.h"
#include "tests/unit/check.h"
#include "tests/unit/fake_machine.h"
#include "tests/unit/state_check.h"

static uint8_t inb(struct fake_machine *m, uint16_t port)
{
	uint8_t v = 0xee;

	CHECK(bus_read(&m->pio, port, &v, 1));
	return v;
}

static void outb(struct fake_machine *m, uint16_t port, uint8_t v)
{
	CHECK(bus_write(&m->pio, port, &v, 1));
}

/* --- 16550 ------------------------------------------------------------ */

#define COM1 0x3f8

static void test_serial(void)
{
	struct fake_machine m1, m2;
	struct serial s1, s2;
	struct state_writer w;
	uint8_t byte = 'x';

	machine_init(&m1, NULL);
	machine_init(&m2, NULL);
	CHECK_EQ(serial_device_init(&s1, "serial0", COM1, 4,
				    (struct serial_output){ 0 }), 0);
	CHECK_EQ(s1.dev.state, DEVICE_CREATED);
	CHECK_EQ(device_pause(&s1.dev), -EBUSY);	/* not realized */
	CHECK_EQ(device_realize(&s1.dev, &m1.host), 0);
	CHECK_EQ(device_realize(&s1.dev, &m1.host), -EBUSY);

	/* Guest state: FIFOs on, THRE and RDI enabled, a byte received. */
	outb(&m1, COM1 + 2, 0x01);
	outb(&m1, COM1 + 1, 0x03);
	outb(&m1, COM1 + 7, 0x5a);
	outb(&m1, COM1 + 3, 0x03);
	CHECK_EQ(serial_receive(&s1, (const uint8_t *)"hi", 2), 2);
	CHECK_EQ(m1.level[4], 1);

	/* Reset: power-on registers, the receive FIFO emptied. */
	CHECK_EQ(device_reset(&s1.dev), 0);
	CHECK_EQ(inb(&m1, COM1 + 1), 0);
	CHECK_EQ(inb(&m1, COM1 + 7), 0);
	CHECK_EQ(m1.level[4], 0);
	CHECK_EQ(inb(&m1, COM1 + 5) & 1, 0);		/* DR */
	outb(&m1, COM1 + 2, 0x01);
	outb(&m1, COM1 + 1, 0x01);
	outb(&m1, COM1 + 7, 0xa5);

	/* Pause: host input is held; resume lets it in. */
	CHECK_EQ(device_pause(&s1.dev), 0);
	CHECK_EQ(device_reset(&s1.dev), -EBUSY);
	CHECK_EQ(serial_receive(&s1, &byte, 1), 0);
	CHECK_EQ(device_resume(&s1.dev), 0);
	CHECK_EQ(serial_receive(&s1, &byte, 1), 1);

	/* Save, load into a fresh one, save again. */
	CHECK_EQ(device_pause(&s1.dev), 0);
	save(&s1.dev, &w);
	CHECK_EQ(serial_device_init(&s2, "serial0", COM1, 4,
				    (struct serial_output){ 0 }), 0);
	CHECK_EQ(device_realize(&s2.dev, &m2.host), 0);
	CHECK_EQ(device_load(&s2.dev, w.buf, w.len, NULL), -EBUSY);
	CHECK_EQ(device_pause(&s2.dev), 0);
	load_and_compare(&s2.dev, &w);
	CHECK_EQ(device_resume(&s1.dev), 0);
	CHECK_EQ(device_resume(&s2.dev), 0);
	/* The guest sees the same UART: IER, SCR, IIR, LSR, the bytes. */
	CHECK_EQ(m2.level[4], m1.level[4]);
	CHECK_EQ(inb(&m2, COM1 + 1), inb(&m1, COM1 + 1));
	CHECK_EQ(inb(&m2, COM1 + 7), inb(&m1, COM1 + 7));
	CHECK_EQ(inb(&m2, COM1 + 2), inb(&m1, COM1 + 2));
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(inb(&m2, COM1 + 5), inb(&m1, COM1 + 5));
		CHECK_EQ(inb(&m2, COM1), inb(&m1, COM1));
	}

	/* Hostile: IER with bits a 16550 does not have. Nothing changes. */
	CHECK_EQ(device_pause(&s2.dev), 0);
	w.buf[STATE_HEADER_LEN + STATE_FIELD_HDR_LEN] = 0xf1;	/* IER */
	CHECK_EQ(device_load(&s2.dev, w.buf, w.len, NULL), -EINVAL);
	CHECK_EQ(device_resume(&s2.dev), 0);
	CHECK_EQ(inb(&m2, COM1 + 1), 0x01);
	state_writer_free(&w);

	device_destroy(&s1.dev);
	device_destroy(&s2.dev);
	CHECK(!bus_read(&m1.pio, COM1, &byte, 1));	/* unrealized */
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* d1 (realized on m1, running) saved and loaded into d2 (realized on
 * m2): both end running, d2's record the same bytes as d1's. */
static void transfer(struct device *d1, struct device *d2,
		     struct fake_machine *m2)
{
	struct state_writer w;

	CHECK_EQ(device_pause(d1), 0);
	save(d1, &w);
	CHECK_EQ(device_realize(d2, &m2->host), 0);
	CHECK_EQ(device_pause(d2), 0);
	load_and_compare(d2, &w);
	CHECK_EQ(device_resume(d1), 0);
	CHECK_EQ(device_resume(d2), 0);
	state_writer_free(&w);
}

/* A record of D (paused, then resumed) with byte OFF of its fields set to
 * V must be refused, and D must answer port PORT as before. */
static void refuse(struct device *d, struct fake_machine *m, size_t off,
		   uint8_t v, uint16_t port)
{
	struct state_writer w;
	uint8_t before = inb(m, port);

	CHECK_EQ(device_pause(d), 0);
	save(d, &w);
	w.buf[STATE_HEADER_LEN + off] = v;
	CHECK_EQ(device_load(d, w.buf, w.len, NULL), -EINVAL);
	CHECK_EQ(device_resume(d), 0);
	CHECK_EQ(inb(m, port), before);
	state_writer_free(&w);
}

/* --- RTC -------------------------------------------------------------- */

static uint8_t cmos_rd(struct fake_machine *m, uint8_t idx)
{
	outb(m, 0x70, idx);
	return inb(m, 0x71);
}

static void cmos_wr(struct fake_machine *m, uint8_t idx, uint8_t v)
{
	outb(m, 0x70, idx);
	outb(m, 0x71, v);
}

static void test_rtc(void)
{
	struct fake_machine m1, m2;
	struct rtc r1, r2;

	machine_init(&m1, NULL);
	machine_init(&m2, NULL);
	CHECK_EQ(rtc_device_init(&r1, "rtc0", 0x70), 0);
	CHECK_EQ(rtc_device_init(&r2, "rtc0", 0x70), 0);
	CHECK_EQ(device_realize(&r1.dev, &m1.host), 0);
	/* The guest sets the year to 2077 and keeps a byte in CMOS RAM. */
	cmos_wr(&m1, 0x0b, 0x82);		/* SET, 24h, BCD */
	cmos_wr(&m1, 0x09, 0x77);
	cmos_wr(&m1, 0x32, 0x20);
	cmos_wr(&m1, 0x0b, 0x02);
	cmos_wr(&m1, 0x40, 0xab);
	cmos_wr(&m1, 0x01, 0x59);		/* an alarm */
	CHECK_EQ(device_reset(&r1.dev), 0);
	CHECK_EQ(cmos_rd(&m1, 0x09), 0x77);	/* the clock survives reset */
	CHECK_EQ(device_pause(&r1.dev), 0);
	CHECK_EQ(device_resume(&r1.dev), 0);
	transfer(&r1.dev, &r2.dev, &m2);
	CHECK_EQ(cmos_rd(&m2, 0x09), 0x77);
	CHECK_EQ(cmos_rd(&m2, 0x32), 0x20);
	CHECK_EQ(cmos_rd(&m2, 0x40), 0xab);
	CHECK_EQ(cmos_rd(&m2, 0x01), 0x59);
	CHECK_EQ(cmos_rd(&m2, 0x0b), cmos_rd(&m1, 0x0b));
	/* Hostile: an offset that puts the clock before year 0 (a BCD year
	 * register cannot say that) or after 9999. */
	{
		struct state_writer w;
		int64_t before0 = -62167219200LL - 400LL * 86400 -
				  (int64_t)time(NULL);
		uint8_t *off;

		CHECK_EQ(device_pause(&r2.dev), 0);
		save(&r2.dev, &w);
		off = w.buf + STATE_HEADER_LEN + STATE_FIELD_HDR_LEN;
		put_le64(off, (uint64_t)before0);
		CHECK_EQ(device_load(&r2.dev, w.buf, w.len, NULL), -EINVAL);
		put_le64(off, (uint64_t)(253402300800LL - (int64_t)time(NULL)));
		CHECK_EQ(device_load(&r2.dev, w.buf, w.len, NULL), -EINVAL);
		CHECK_EQ(device_resume(&r2.dev), 0);
		CHECK_EQ(cmos_rd(&m2, 0x09), 0x77);
		state_writer_free(&w);
	}
	/* Hostile: an index past the CMOS (field 2's value byte). */
	outb(&m2, 0x70, 0x40);
	refuse(&r2.dev, &m2, STATE_FIELD_HDR_LEN + 8 + STATE_FIELD_HDR_LEN,
	       0x80, 0x71);
	device_destroy(&r1.dev);
	device_destroy(&r2.dev);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- i8042 ------------------------------------------------------------ */

static enum vm_request last_req;

static void record_req(void *opaque, enum vm_request req)
{
	last_req = req;
}

static void test_i8042(void)
{
	struct fake_machine m1, m2;
	struct i8042 k1, k2;
	struct state_writer w;

	machine_init(&m1, NULL);
	machine_init(&m2, NULL);
	m1.host.ctl = m2.host.ctl = (struct vm_control){ record_req, NULL };
	CHECK_EQ(i8042_device_init(&k1, "i8042"), 0);
	CHECK_EQ(i8042_device_init(&k2, "i8042"), 0);
	CHECK_EQ(device_realize(&k1.dev, &m1.host), 0);
	outb(&m1, 0x64, 0x60);			/* write CTR: pending */
	outb(&m1, 0x60, 0x45);
	outb(&m1, 0x64, 0x20);			/* read CTR: OBF */
	CHECK_EQ(inb(&m1, 0x64) & 1, 1);
	CHECK_EQ(device_reset(&k1.dev), 0);
	CHECK_EQ(inb(&m1, 0x64) & 1, 0);	/* OBF cleared */
	outb(&m1, 0x64, 0x60);
	outb(&m1, 0x60, 0x61);
	outb(&m1, 0x64, 0x20);
	outb(&m1, 0x64, 0xd1);			/* write output port: pending */
	transfer(&k1.dev, &k2.dev, &m2);
	CHECK_EQ(inb(&m2, 0x64), inb(&m1, 0x64));
	CHECK_EQ(inb(&m2, 0x60), inb(&m1, 0x60));	/* the CTR, 0x61 */
	/* The pending output-port write carries over: bit 0 low resets. */
	last_req = VM_REQ_NONE;
	outb(&m2, 0x60, 0xfe);
	CHECK_EQ(last_req, VM_REQ_RESET);
	/* Hostile: OBF = 2; the timeout bit with no byte to read. */
	refuse(&k2.dev, &m2, 2 * (STATE_FIELD_HDR_LEN + 1) +
	       STATE_FIELD_HDR_LEN, 2, 0x64);
	refuse(&k2.dev, &m2, 4 * (STATE_FIELD_HDR_LEN + 1) +
	       STATE_FIELD_HDR_LEN, 1, 0x64);
	/* A NAK waiting for the guest, with its timeout bit, carries over. */
	outb(&m1, 0x64, 0xae);			/* ends k1's pending 0xd1 */
	outb(&m1, 0x60, 0xff);
	CHECK_EQ(device_pause(&k1.dev), 0);
	save(&k1.dev, &w);
	CHECK_EQ(device_pause(&k2.dev), 0);
	load_and_compare(&k2.dev, &w);
	CHECK_EQ(device_resume(&k1.dev), 0);
	CHECK_EQ(device_resume(&k2.dev), 0);
	state_writer_free(&w);
	CHECK_EQ(inb(&m2, 0x64), 0x55);
	CHECK_EQ(inb(&m2, 0x60), 0xfe);
	CHECK_EQ(inb(&m2, 0x64), 0x14);
	device_destroy(&k1.dev);
	device_destroy(&k2.dev);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- ACPI sleep registers ------------------------------------------- */

static void test_acpi_sleep(void)
{
	struct fake_machine m1, m2;
	struct acpi_sleep a1, a2;
	struct state_writer w;

	machine_init(&m1, NULL);
	machine_init(&m2, NULL);
	m1.host.ctl = m2.host.ctl = (struct vm_control){ record_req, NULL };
	acpi_sleep_init(&a1, "acpi-sleep", 0x600);
	acpi_sleep_init(&a2, "acpi-sleep", 0x600);
	CHECK_EQ(device_realize(&a1.dev, &m1.host), 0);
	last_req = VM_REQ_NONE;
	outb(&m1, 0x600, 0x20 | 3 << 2);		/* S3: refused */
	CHECK_EQ(last_req, VM_REQ_NONE);
	outb(&m1, 0x600, 0x20 | 5 << 2);		/* S5: power off */
	CHECK_EQ(last_req, VM_REQ_POWEROFF);
	CHECK_EQ(inb(&m1, 0x601), 0);
	/* A record with WAK_STS set loads, reads back, clears by writing 1. */
	CHECK_EQ(device_realize(&a2.dev, &m2.host), 0);
	CHECK_EQ(device_pause(&a2.dev), 0);
	save(&a2.dev, &w);
	w.buf[w.len - 1] = 0x80;
	load_and_compare(&a2.dev, &w);
	CHECK_EQ(device_resume(&a2.dev), 0);
	CHECK_EQ(inb(&m2, 0x601), 0x80);
	outb(&m2, 0x601, 0x80);
	CHECK_EQ(inb(&m2, 0x601), 0);
	CHECK_EQ(device_reset(&a2.dev), 0);
	CHECK_EQ(inb(&m2, 0x601), 0);
	/* The powered-off one into a fresh instance. */
	device_destroy(&a2.dev);
	acpi_sleep_init(&a2, "acpi-sleep", 0x600);
	transfer(&a1.dev, &a2.dev, &m2);
	/* Hostile: a reserved status bit. */
	refuse(&a2.dev, &m2, STATE_FIELD_HDR_LEN, 0x01, 0x601);
	state_writer_free(&w);
	device_destroy(&a1.dev);
	device_destroy(&a2.dev);
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- fw_cfg ------------------------------------------------------------ */

static void fw_cfg_make(struct fw_cfg *f, const uint8_t *data, uint32_t len)
{
	CHECK_EQ(fw_cfg_init(f, "fw_cfg", NULL), 0);
	CHECK_EQ(fw_cfg_add_file(f, "etc/test", data, len), 0);
}

/* Half through an item, the DMA register's high half written: the loaded
 * one reads on from the same byte. */
static void test_fw_cfg(void)
{
	static const uint8_t data[10] = "0123456789";
	static const uint8_t key[2] = { FW_CFG_FILE_FIRST, 0 };
	static const uint8_t hi[4] = { 0, 0, 0, 1 };	/* big endian */
	struct fake_machine m1, m2;
	struct fw_cfg f1, f2;
	struct state_writer w;

	machine_init(&m1, NULL);
	machine_init(&m2, NULL);
	fw_cfg_make(&f1, data, sizeof(data));
	fw_cfg_make(&f2, data, sizeof(data));
	CHECK_EQ(device_realize(&f1.dev, &m1.host), 0);
	CHECK_EQ(device_realize(&f2.dev, &m2.host), 0);
	CHECK(bus_write(&m1.pio, FW_CFG_PORT_SEL, key, 2));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(inb(&m1, FW_CFG_PORT_SEL + 1), data[i]);
	CHECK(bus_write(&m1.pio, FW_CFG_PORT_DMA, hi, 4));
	CHECK_EQ(f1.dma_addr, 1ULL << 32);
	CHECK_EQ(device_pause(&f1.dev), 0);
	save(&f1.dev, &w);
	CHECK_EQ(device_pause(&f2.dev), 0);
	load_and_compare(&f2.dev, &w);
	/* Hostile: not a flag, no such key, past the item, a low half. */
	refuse_field(&f2.dev, &w, 1, 0, 2);
	refuse_field(&f2.dev, &w, 2, 0, 0x7f);
	refuse_field(&f2.dev, &w, 3, 0, 11);
	refuse_field(&f2.dev, &w, 4, 0, 1);
	CHECK_EQ(device_resume(&f2.dev), 0);
	CHECK_EQ(f2.dma_addr, 1ULL << 32);
	for (int i = 3; i < 10; i++)
		CHECK_EQ(inb(&m2, FW_CFG_PORT_SEL + 1), data[i]);
	CHECK_EQ(inb(&m2, FW_CFG_PORT_SEL + 1), 0);	/* past the end */
	/* Reset: nothing selected. */
	CHECK_EQ(device_reset(&f2.dev), 0);
	CHECK_EQ(inb(&m2, FW_CFG_PORT_SEL + 1), 0);
	CHECK_EQ(f2.sel, -1);
	state_writer_free(&w);
	device_destroy(&f1.dev);
	device_destroy(&f2.dev);
	/* Unrealized: the ports are gone. */
	CHECK(!bus_read(&m1.pio, FW_CFG_PORT_SEL + 1, (uint8_t[1]){ 0 }, 1));
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- the virt machine's host bridge --------------------------------- */

static void test_host_bridge(void)
{
	struct fake_machine m1, m2;
	struct host_bridge b1, b2;
	struct state_writer w;

	machine_init(&m1, NULL);
	machine_init(&m2, NULL);
	host_bridge_init(&b1, "host-bridge");
	host_bridge_init(&b2, "host-bridge");
	CHECK_EQ(device_realize(&b1.dev, &m1.host), 0);
	CHECK_EQ(pci_cfg_read(&m1.pci, 0, 0, 4), 0x00081b36);
	pci_cfg_write(&m1.pci, 0, 0x04, 2, 0x0006);	/* memory, master */
	pci_cfg_write(&m1.pci, 0, 0x3c, 1, 0x0b);
	CHECK_EQ(device_reset(&b1.dev), 0);
	CHECK_EQ(pci_cfg_read(&m1.pci, 0, 0x04, 2), 0);
	CHECK_EQ(pci_cfg_read(&m1.pci, 0, 0x3c, 1), 0);
	pci_cfg_write(&m1.pci, 0, 0x04, 2, 0x0406);
	pci_cfg_write(&m1.pci, 0, 0x3c, 1, 0x0a);
	transfer(&b1.dev, &b2.dev, &m2);
	for (unsigned int off = 0; off < 256; off += 4)
		CHECK_EQ(pci_cfg_read(&m2.pci, 0, off, 4),
			 pci_cfg_read(&m1.pci, 0, off, 4));
	/* Hostile: another vendor ID (read-only). */
	CHECK_EQ(device_pause(&b2.dev), 0);
	save(&b2.dev, &w);
	w.buf[STATE_HEADER_LEN + STATE_FIELD_HDR_LEN] ^= 1;
	CHECK_EQ(device_load(&b2.dev, w.buf, w.len, NULL), -EINVAL);
	CHECK_EQ(device_resume(&b2.dev), 0);
	CHECK_EQ(pci_cfg_read(&m2.pci, 0, 0, 2), 0x1b36);
	state_writer_free(&w);
	device_destroy(&b1.dev);
	device_destroy(&b2.dev);
	CHECK_EQ(pci_cfg_read(&m1.pci, 0, 0, 4), 0xffffffff);	/* gone */
	machine_destroy(&m1);
	machine_destroy(&m2);
}

/* --- the device list ------------------------------------------------- */

static char trail[64];		/* what the fakes did, in order */

struct fake_dev {
	struct device dev;
	char tag;
	int pause_ret;
};

static void note(struct device *d, char what)
{
	size_t n = strlen(trail);

	if (n + 2 < sizeof(trail)) {
		trail[n] = what;
		trail[n + 1] = ((struct fake_dev *)d)->tag;
		trail[n + 2] = 0;
	}
}

static int fake_pause(struct device *d)
{
	note(d, 'p');
	return ((struct fake_dev *)d)->pause_ret;
}

static int fake_resume(struct device *d)
{
	note(d, 'r');
	return 0;
}

static void fake_unrealize(struct device *d)
{
	note(d, 'u');
}

static void fake_destroy(struct device *d)
{
	note(d, 'd');
}

static const struct device_ops fake_dev_ops = {
	.kind = "fake",
	.pause = fake_pause,
	.resume = fake_resume,
	.unrealize = fake_unrealize,
	.destroy = fake_destroy,
};

static void test_device_list(void)
{
	struct fake_machine m;
	struct fake_dev f[3];
	struct device_list l = { 0 };

	machine_init(&m, NULL);
	for (int i = 0; i < 3; i++) {
		device_init(&f[i].dev, &fake_dev_ops, "fake");
		f[i].tag = (char)('a' + i);
		f[i].pause_ret = 0;
		CHECK_EQ(device_realize(&f[i].dev, &m.host), 0);
		device_list_add(&l, &f[i].dev);
	}
	snprintf(f[1].dev.id, sizeof(f[1].dev.id), "middle");
	CHECK(device_list_find(&l, "middle") == &f[1].dev);
	CHECK(device_list_find(&l, "none") == NULL);
	/* Pause first to last, resume last to first. */
	trail[0] = 0;
	CHECK_EQ(device_list_pause(&l), 0);
	CHECK_EQ(device_list_resume(&l), 0);
	CHECK_STR(trail, "papbpcrcrbra");
	/* c refuses: b and a run again, in that order, and nothing stays
	 * paused. */
	f[2].pause_ret = -EIO;
	trail[0] = 0;
	CHECK_EQ(device_list_pause(&l), -EIO);
	CHECK_STR(trail, "papbpcrbra");
	for (int i = 0; i < 3; i++)
		CHECK_EQ(f[i].dev.state, DEVICE_REALIZED);
	/* A paused device is resumed before it is unrealized; destroy goes
	 * last to first. */
	CHECK_EQ(device_pause(&f[0].dev), 0);
	trail[0] = 0;
	device_list_destroy(&l);
	CHECK_STR(trail, "ucdcubdbrauada");
	CHECK_EQ(l.n, 0);
	CHECK(l.head == NULL && l.tail == NULL);
	machine_destroy(&m);
}

int main(void)
{
	test_serial();
	test_rtc();
	test_i8042();
	test_acpi_sleep();
	test_host_bridge();
	test_fw_cfg();
	test_device_list();
	return check_done("test_lifecycle");
}
