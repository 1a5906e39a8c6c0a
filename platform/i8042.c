#include "platform/i8042.h"

#include "core/state.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/log.h"

#define STATUS_OBF 0x01		/* a byte waits at port 0x60 */
#define STATUS_SYS 0x04		/* self test passed (warm boot) */
#define STATUS_UNLOCKED 0x10	/* keyboard not inhibited by the keylock */
#define STATUS_TIMEOUT 0x40	/* the last byte sent to a device got no answer */

#define CTR_KBD_INT 0x01
#define CTR_SYS 0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE 0x40

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_AUX_LOOP 0xd3	/* next data byte comes back as if from the mouse */
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_WRITE_OUTPORT 0xd1

#define SELF_TEST_OK 0x55
#define KBD_TEST_OK 0x00
#define AUX_TEST_CLOCK_LOW 0x01	/* "clock line stuck low": no mouse port */
#define OUTPORT_RESET 0x01	/* CPU reset line, active low */
#define KBD_NAK 0xfe		/* "resend": what a byte to no keyboard gets */

static void put_out(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->obf = true;
	k->timeout = false;
}

/* Returns true when the command resets the machine. */
static bool command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;		/* a command cancels an unfinished one */
	switch (cmd) {
	case CMD_READ_CTR:
		put_out(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_AUX_LOOP:
		k->pending = cmd;
		break;
	case CMD_AUX_TEST:
		/* There is no mouse port: say so at once rather than let a
		 * probe wait out its timeouts (Linux lost 2 s of boot). */
		put_out(k, AUX_TEST_CLOCK_LOW);
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= (uint8_t)~CTR_AUX_DISABLE;
		break;
	case CMD_SELF_TEST:
		put_out(k, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
		put_out(k, KBD_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~CTR_KBD_DISABLE;
		break;
	default:
		/* 0xF0-0xFF pulse output-port lines 0-3 low where the
		 * command's bit is clear; line 0 is the CPU reset (0xFE is
		 * the usual one). */
		if ((cmd & 0xf0) == 0xf0 && !(cmd & OUTPORT_RESET))
			return true;
		log_debug("i8042", "command 0x%02x ignored", cmd);
		break;
	}
	return false;
}

/* Returns true when the data byte resets the machine. */
static bool data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = v;
		return false;
	case CMD_WRITE_OUTPORT:
		/* Bit 1 is the A20 gate: always open here. */
		return !(v & OUTPORT_RESET);
	case CMD_AUX_LOOP:
		/* Echoed, but not flagged as mouse data (status bit 5): the
		 * loop test fails without a timeout, as with no mouse port. */
		put_out(k, v);
		return false;
	default:
		/* For the keyboard: there is none. The byte times out, as on
		 * an 8042 with nothing on its keyboard port, and the answer
		 * is a NAK at once, so a firmware waiting for the keyboard's
		 * ACK gives up now instead of at its timeout (SeaBIOS polled
		 * for 1 s of every firmware boot). */
		put_out(k, KBD_NAK);
		k->timeout = true;
		return false;
	}
}

static void request_reset(struct i8042 *k)
{
	log_info("i8042", "guest reset");
	/* Without the lock: the VM may reset devices in response. */
	vm_control_request(&k->ctl, VM_REQ_RESET);
}

static void data_read(void *opaque, uint64_t off, uint8_t *d, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = 0;

	pthread_mutex_lock(&k->lock);
	if (k->obf) {
		v = k->out;
		k->obf = false;
		k->timeout = false;
	}
	pthread_mutex_unlock(&k->lock);
	memset(d, 0xff, len);
	d[0] = v;
}

static void data_write(void *opaque, uint64_t off, const uint8_t *d,
		       uint32_t len)
{
	struct i8042 *k = opaque;
	bool reset;

	pthread_mutex_lock(&k->lock);
	reset = data(k, d[0]);
	pthread_mutex_unlock(&k->lock);
	if (reset)
		request_reset(k);
}

static void cmd_read(void *opaque, uint64_t off, uint8_t *d, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = STATUS_SYS | STATUS_UNLOCKED;

	pthread_mutex_lock(&k->lock);
	if (k->obf)
		v |= STATUS_OBF;
	if (k->timeout)
		v |= STATUS_TIMEOUT;
	pthread_mutex_unlock(&k->lock);
	memset(d, 0xff, len);
	d[0] = v;
}

static void cmd_write(void *opaque, uint64_t off, const uint8_t *d,
		      uint32_t len)
{
	struct i8042 *k = opaque;
	bool reset;

	pthread_mutex_lock(&k->lock);
	reset = command(k, d[0]);
	pthread_mutex_unlock(&k->lock);
	if (reset)
		request_reset(k);
}

const struct bus_ops i8042_data_ops = {
	.read = data_read,
	.write = data_write,
};

const struct bus_ops i8042_cmd_ops = {
	.read = cmd_read,
	.write = cmd_write,
};

int i8042_init(struct i8042 *k, struct vm_control ctl)
{
	int err;

	if (!k)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	err = pthread_mutex_init(&k->lock, NULL);
	if (err)
		return -err;
	k->ctl = ctl;
	/* What firmware leaves: keyboard interrupt on, system flag,
	 * scancode translation. Nothing ever interrupts here. */
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

/* --- lifecycle ------------------------------------------------------ */

#define I8042_STATE_VERSION 1
#define I8042_PORT_DATA 0x60
#define I8042_PORT_CMD 0x64

enum { TAG_CTR = 1, TAG_OUT, TAG_OBF, TAG_PENDING, TAG_TIMEOUT };

static struct i8042 *to_i8042(struct device *d)
{
	return (struct i8042 *)((char *)d - offsetof(struct i8042, dev));
}

int i8042_device_init(struct i8042 *k, const char *id)
{
	int ret = i8042_init(k, (struct vm_control){ 0 });

	if (ret)
		return ret;
	device_init(&k->dev, &i8042_device_ops, id);
	return 0;
}

static int i8042_realize(struct device *d, const struct machine_host *h)
{
	struct i8042 *k = to_i8042(d);
	int ret;

	k->ctl = h->ctl;
	ret = bus_register(h->pio, I8042_PORT_DATA, 1, &i8042_data_ops, k,
			   "i8042-data");
	if (ret)
		return ret;
	ret = bus_register(h->pio, I8042_PORT_CMD, 1, &i8042_cmd_ops, k,
			   "i8042-cmd");
	if (ret) {
		bus_unregister(h->pio, I8042_PORT_DATA);
		return ret;
	}
	k->pio = h->pio;
	return 0;
}

static void i8042_unrealize(struct device *d)
{
	struct i8042 *k = to_i8042(d);

	if (!k->pio)
		return;
	bus_unregister(k->pio, I8042_PORT_DATA);
	bus_unregister(k->pio, I8042_PORT_CMD);
	k->pio = NULL;
}

static void i8042_reset(struct device *d)
{
	struct i8042 *k = to_i8042(d);

	pthread_mutex_lock(&k->lock);
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE;
	k->out = 0;
	k->obf = false;
	k->timeout = false;
	k->pending = 0;
	pthread_mutex_unlock(&k->lock);
}

static int i8042_save(struct device *d, struct state_writer *w)
{
	struct i8042 *k = to_i8042(d);

	pthread_mutex_lock(&k->lock);
	state_put_u8(w, TAG_CTR, k->ctr);
	state_put_u8(w, TAG_OUT, k->out);
	state_put_u8(w, TAG_OBF, k->obf);
	state_put_u8(w, TAG_PENDING, k->pending);
	state_put_u8(w, TAG_TIMEOUT, k->timeout);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int i8042_load(struct device *d, struct state_reader *r)
{
	struct i8042 *k = to_i8042(d);
	uint8_t ctr, out, obf, pending, timeout;
	int ret;

	ret = state_get_u8(r, TAG_CTR, &ctr);
	ret = ret ?: state_get_u8(r, TAG_OUT, &out);
	ret = ret ?: state_get_u8(r, TAG_OBF, &obf);
	ret = ret ?: state_get_u8(r, TAG_PENDING, &pending);
	if (ret)
		return ret == -ENOENT ? state_bad(d->id, "ctr/out/obf/pending",
						  0, "missing") : ret;
	ret = state_get_u8(r, TAG_TIMEOUT, &timeout);
	if (ret == -ENOENT)
		timeout = 0;	/* saved before the flag existed */
	else if (ret)
		return ret;
	if (obf > 1)
		return state_bad(d->id, "obf", obf, "not a flag");
	if (timeout > 1 || (timeout && !obf))
		return state_bad(d->id, "timeout", timeout,
				 "not a flag, or set with no byte to read");
	/* Only commands that wait for a data byte leave one pending. */
	if (pending && pending != CMD_WRITE_CTR &&
	    pending != CMD_WRITE_OUTPORT && pending != CMD_AUX_LOOP)
		return state_bad(d->id, "pending", pending,
				 "no command waits for data");
	pthread_mutex_lock(&k->lock);
	k->ctr = ctr;
	k->out = out;
	k->obf = obf;
	k->timeout = timeout;
	k->pending = pending;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_device_destroy(struct device *d)
{
	i8042_destroy(to_i8042(d));
}

const struct device_ops i8042_device_ops = {
	.kind = "i8042",
	.state_version = I8042_STATE_VERSION,
	.realize = i8042_realize,
	.unrealize = i8042_unrealize,
	.reset = i8042_reset,
	.save = i8042_save,
	.load = i8042_load,
	.destroy = i8042_device_destroy,
};
