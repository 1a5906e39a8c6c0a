/* 8042: reset by pulse (0xFE) and by output port (0xD1), self and
 * interface tests, command byte, status OBF. */
#include <pthread.h>

#include "platform/i8042.h"
#include "tests/unit/check.h"

struct fake_ctl {
	struct i8042 *k;
	int resets, others;
	int lock_was_free;
};

static void fake_request(void *opaque, enum vm_request req)
{
	struct fake_ctl *c = opaque;

	if (req == VM_REQ_RESET)
		c->resets++;
	else
		c->others++;
	/* Called without the device lock: the VM may touch the device. */
	if (pthread_mutex_trylock(&c->k->lock) == 0) {
		c->lock_was_free++;
		pthread_mutex_unlock(&c->k->lock);
	}
}

static uint8_t status(struct i8042 *k)
{
	uint8_t v = 0;

	i8042_cmd_ops.read(k, 0, &v, 1);
	return v;
}

static uint8_t rd_data(struct i8042 *k)
{
	uint8_t v = 0;

	i8042_data_ops.read(k, 0, &v, 1);
	return v;
}

static void cmd(struct i8042 *k, uint8_t v)
{
	i8042_cmd_ops.write(k, 0, &v, 1);
}

static void wr_data(struct i8042 *k, uint8_t v)
{
	i8042_data_ops.write(k, 0, &v, 1);
}

static void setup(struct i8042 *k, struct fake_ctl *c)
{
	memset(c, 0, sizeof(*c));
	c->k = k;
	CHECK_EQ(i8042_init(k, (struct vm_control){ fake_request, c }), 0);
}

static void test_reset(void)
{
	struct i8042 k;
	struct fake_ctl c;

	setup(&k, &c);
	cmd(&k, 0xfe);
	CHECK_EQ(c.resets, 1);
	CHECK_EQ(c.lock_was_free, 1);

	/* Output port with the reset line high: nothing happens. */
	cmd(&k, 0xd1);
	wr_data(&k, 0x03);
	CHECK_EQ(c.resets, 1);
	/* ... and low: reset. */
	cmd(&k, 0xd1);
	wr_data(&k, 0xfe);
	CHECK_EQ(c.resets, 2);
	CHECK_EQ(c.lock_was_free, 2);

	/* A data byte with no command pending is not an output port
	 * write, nor is one after the command was replaced. */
	wr_data(&k, 0xfe);
	cmd(&k, 0xd1);
	cmd(&k, 0xae);
	wr_data(&k, 0x00);
	CHECK_EQ(c.resets, 2);
	CHECK_EQ(rd_data(&k), 0xfe);	/* both went to the keyboard */

	/* Pulsing other lines (bit 0 set) is not a reset. */
	cmd(&k, 0xff);
	CHECK_EQ(c.resets, 2);
	CHECK_EQ(c.others, 0);
	CHECK_EQ(status(&k) & 0x01, 0);
	i8042_destroy(&k);
}

static void test_replies_and_status(void)
{
	struct i8042 k;
	struct fake_ctl c;

	setup(&k, &c);
	CHECK_EQ(status(&k), 0x14);		/* SYS, unlocked, nothing waiting */
	CHECK_EQ(rd_data(&k), 0x00);

	cmd(&k, 0xaa);
	CHECK_EQ(status(&k), 0x15);		/* OBF */
	CHECK_EQ(status(&k), 0x15);		/* status reads do not clear */
	CHECK_EQ(rd_data(&k), 0x55);
	CHECK_EQ(status(&k), 0x14);
	CHECK_EQ(rd_data(&k), 0x00);

	cmd(&k, 0xab);
	CHECK_EQ(status(&k) & 0x01, 1);
	CHECK_EQ(rd_data(&k), 0x00);
	CHECK_EQ(status(&k) & 0x01, 0);

	/* No mouse port, answered at once: the AUX loop echoes without the
	 * AUX data bit, the AUX interface test reports a stuck clock. */
	cmd(&k, 0xd3);
	wr_data(&k, 0x5a);
	CHECK_EQ(status(&k) & 0x21, 0x01);
	CHECK_EQ(rd_data(&k), 0x5a);
	cmd(&k, 0xa9);
	CHECK_EQ(status(&k) & 0x01, 1);
	CHECK_EQ(rd_data(&k), 0x01);

	/* Command byte: read, write, and the enable/disable commands. */
	cmd(&k, 0x20);
	CHECK_EQ(status(&k) & 0x01, 1);
	CHECK_EQ(rd_data(&k), 0x45);
	cmd(&k, 0x60);
	CHECK_EQ(status(&k) & 0x01, 0);
	wr_data(&k, 0x47);
	cmd(&k, 0x20);
	CHECK_EQ(rd_data(&k), 0x47);
	cmd(&k, 0xad);
	cmd(&k, 0xa7);
	CHECK_EQ(status(&k) & 0x01, 0);
	cmd(&k, 0x20);
	CHECK_EQ(rd_data(&k), 0x77);
	cmd(&k, 0xae);
	cmd(&k, 0xa8);
	cmd(&k, 0x20);
	CHECK_EQ(rd_data(&k), 0x47);
	CHECK_EQ(c.resets, 0);
	i8042_destroy(&k);
}

/* Bytes for the keyboard (port 0x60 with no command waiting for one):
 * there is no keyboard, so each is answered at once with a NAK and the
 * timeout bit, which the next read or controller reply clears. */
static void test_no_keyboard(void)
{
	struct i8042 k;
	struct fake_ctl c;

	setup(&k, &c);
	wr_data(&k, 0xff);			/* keyboard reset */
	CHECK_EQ(status(&k), 0x55);		/* timeout, SYS, unlocked, OBF */
	CHECK_EQ(rd_data(&k), 0xfe);
	CHECK_EQ(status(&k), 0x14);
	CHECK_EQ(rd_data(&k), 0x00);

	/* A controller reply replaces an unread NAK, and its bit. */
	wr_data(&k, 0xf2);
	cmd(&k, 0x20);
	CHECK_EQ(status(&k), 0x15);
	CHECK_EQ(rd_data(&k), 0x45);

	/* A data byte a command waits for is the command's, not the
	 * keyboard's. */
	cmd(&k, 0x60);
	wr_data(&k, 0x45);
	CHECK_EQ(status(&k), 0x14);
	CHECK_EQ(c.resets, 0);
	i8042_destroy(&k);
}

int main(void)
{
	test_reset();
	test_replies_and_status();
	test_no_keyboard();
	return check_done("test_i8042");
}
