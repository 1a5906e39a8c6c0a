#include "platform/serial.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/state.h"

/* Register offsets. With LCR.DLAB set, 0 and 1 are the divisor latch. */
enum {
	REG_RBR_THR = 0,	/* DLL */
	REG_IER = 1,		/* DLM */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
	REG_COUNT = 8,
};

#define IER_RDI 0x01	/* received data available */
#define IER_THRI 0x02	/* transmitter holding register empty */
#define IER_RLSI 0x04	/* receiver line status */
#define IER_MSI 0x08	/* modem status */

/* IIR bits 0-3, highest priority first; bits 6-7 say FIFOs are on. */
#define IIR_RLSI 0x06
#define IIR_RDI 0x04
#define IIR_THRI 0x02
#define IIR_MSI 0x00
#define IIR_NONE 0x01
#define IIR_FIFO 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* Bits 0-3 are the change flags of bits 4-7. */
#define MSR_TERI 0x04
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

static unsigned int fifo_cap(const struct serial *s)
{
	return (s->fcr & FCR_ENABLE) ? SERIAL_FIFO_LEN : 1;
}

/* A byte arrives from the wire (host input or, in loopback, THR). */
static void rx_push(struct serial *s, uint8_t b)
{
	if (s->fifo_count == fifo_cap(s)) {
		/* Overrun: what the FIFO holds stays and the new byte is
		 * lost, as a 16550 in FIFO mode does. */
		s->lsr_err |= LSR_OE;
		return;
	}
	s->fifo[(s->fifo_head + s->fifo_count) % SERIAL_FIFO_LEN] = b;
	s->fifo_count++;
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t b;

	if (!s->fifo_count)
		return 0;
	b = s->fifo[s->fifo_head];
	s->fifo_head = (s->fifo_head + 1) % SERIAL_FIFO_LEN;
	s->fifo_count--;
	return b;
}

/* Moves host input into the FIFO as far as it has room, so host input
 * never overruns: serial_receive pushes back instead. In loopback the
 * receiver hears only the transmitter and host input waits. */
static void rx_refill(struct serial *s)
{
	if (s->mcr & MCR_LOOP)
		return;
	while (s->in_count && s->fifo_count < fifo_cap(s)) {
		rx_push(s, s->inbuf[s->in_head]);
		s->in_head = (s->in_head + 1) % SERIAL_INBUF_LEN;
		s->in_count--;
	}
}

/* Modem status inputs. In loopback they are wired to our own outputs;
 * otherwise the line looks connected (CTS, DSR, DCD) so that guests which
 * wait for carrier or clear-to-send still talk. */
static uint8_t msr_lines(uint8_t mcr)
{
	uint8_t m = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	if (mcr & MCR_RTS)
		m |= MSR_CTS;
	if (mcr & MCR_DTR)
		m |= MSR_DSR;
	if (mcr & MCR_OUT1)
		m |= MSR_RI;
	if (mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static void set_mcr(struct serial *s, uint8_t v)
{
	uint8_t before = msr_lines(s->mcr), after, changed;

	s->mcr = v & 0x1f;
	after = msr_lines(s->mcr);
	changed = (uint8_t)((before ^ after) >> 4);
	/* RI reports only its trailing edge. */
	if (after & MSR_RI)
		changed &= (uint8_t)~MSR_TERI;
	s->msr_delta |= changed;
	rx_refill(s);		/* leaving loopback lets host input in */
}

static uint8_t iir_id(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && s->lsr_err)
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->fifo_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && s->msr_delta)
		return IIR_MSI;
	return IIR_NONE;
}

/* The IRQ line follows "an interrupt is pending". The PC gates it with
 * MCR.OUT2; we do not, because guests that enable IER set OUT2 anyway
 * (Linux does) and an ungated line cannot hide an interrupt. The level is
 * computed once per access, so a THR write while THRE is already pending
 * makes no new edge: ISA guests loop on IIR until it reads "none", which
 * lowers the line before their handler returns. */
static void update_irq(struct serial *s)
{
	int level = iir_id(s) != IIR_NONE;
	int err;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	/* Still under the lock, so two vCPUs cannot deliver levels in the
	 * wrong order. */
	err = irq_line_set(&s->irq, level);
	if (err)
		log_warn(s->name, "setting irq to %d: %s", level, strerror(-err));
}

static uint8_t reg_read(struct serial *s, unsigned int reg)
{
	uint8_t v;

	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		v = rx_pop(s);
		rx_refill(s);
		return v;
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR:
		v = iir_id(s);
		/* Reading IIR acknowledges THRE, and only when it says so. */
		if (v == IIR_THRI)
			s->thr_ipending = false;
		return v | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		v = s->lsr_err | LSR_THRE | LSR_TEMT;
		if (s->fifo_count)
			v |= LSR_DR;
		s->lsr_err = 0;
		return v;
	case REG_MSR:
		v = msr_lines(s->mcr) | s->msr_delta;
		s->msr_delta = 0;
		return v;
	default:
		return s->scr;
	}
}

/* Bytes for the output are collected in tx[] and written after unlock. */
static void reg_write(struct serial *s, unsigned int reg, uint8_t v,
		      uint8_t *tx, unsigned int *ntx)
{
	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		/* Writing THR acknowledges THRE, but the byte leaves at
		 * once and THR is empty again: pending again. */
		s->thr_ipending = true;
		if (s->mcr & MCR_LOOP)
			rx_push(s, v);	/* the transmitter is not on the wire */
		else
			tx[(*ntx)++] = v;
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI while THR is empty (always) raises THRE;
		 * drivers probe for a working UART this way. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thr_ipending = true;
		s->ier = v & 0x0f;
		break;
	case REG_IIR_FCR:
		/* Switching FIFO mode empties the FIFO, as does the clear
		 * bit. Host input behind it is still "on the wire". */
		if (((v ^ s->fcr) & FCR_ENABLE) || (v & FCR_CLEAR_RX))
			s->fifo_head = s->fifo_count = 0;
		s->fcr = v & (uint8_t)~(FCR_CLEAR_RX | FCR_CLEAR_TX);
		rx_refill(s);
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		set_mcr(s, v);
		break;
	case REG_LSR:
	case REG_MSR:
		break;		/* read-only */
	default:
		s->scr = v;
		break;
	}
}

/* After a guest access: was the input buffer drained while the loop waits
 * for room? Then the loop is told, once. */
static bool take_rx_ready(struct serial *s)
{
	if (!s->rx_stalled || s->in_count)
		return false;
	s->rx_stalled = false;
	return s->rx_ready != NULL;
}

static void serial_bus_read(void *opaque, uint64_t off, uint8_t *data,
			    uint32_t len)
{
	struct serial *s = opaque;
	void (*cb)(void *opaque);
	void *cb_opaque;
	bool ready;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < REG_COUNT ? reg_read(s, off + i) : 0xff;
	update_irq(s);
	ready = take_rx_ready(s);
	cb = s->rx_ready;
	cb_opaque = s->rx_ready_opaque;
	pthread_mutex_unlock(&s->lock);
	if (ready)
		cb(cb_opaque);
}

static void serial_bus_write(void *opaque, uint64_t off, const uint8_t *data,
			     uint32_t len)
{
	struct serial *s = opaque;
	void (*cb)(void *opaque);
	void *cb_opaque;
	uint8_t tx[8];
	unsigned int ntx = 0;
	bool ready;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len && i < sizeof(tx); i++)
		if (off + i < REG_COUNT)
			reg_write(s, off + i, data[i], tx, &ntx);
	update_irq(s);
	ready = take_rx_ready(s);
	cb = s->rx_ready;
	cb_opaque = s->rx_ready_opaque;
	pthread_mutex_unlock(&s->lock);

	/* out is fixed at init, so it is read without the lock. The UART
	 * cannot report a failed write to the guest: the output's owner
	 * reports its own errors. */
	if (ntx && s->out.write)
		s->out.write(s->out.opaque, tx, ntx);
	if (ready)
		cb(cb_opaque);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

int serial_init(struct serial *s, const char *name, struct irq_line irq,
		struct serial_output out)
{
	int err;

	if (!s || !name)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		return -err;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->irq = irq;
	s->out = out;
	/* Reset state: everything zero (no interrupts, FIFOs off, THR
	 * empty but THRE not pending until IER.THRI is enabled). */
	return 0;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n, i;

	pthread_mutex_lock(&s->lock);
	n = s->paused ? 0 : SERIAL_INBUF_LEN - s->in_count;
	if (n > len)
		n = len;
	for (i = 0; i < n; i++)
		s->inbuf[(s->in_head + s->in_count + i) % SERIAL_INBUF_LEN] =
			buf[i];
	s->in_count += n;
	if (n < len)
		s->rx_stalled = true;
	rx_refill(s);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = s->paused ? 0 : SERIAL_INBUF_LEN - s->in_count;
	/* A caller told "full" stops reading: it must hear when room
	 * comes back, as after a short serial_receive. */
	if (!room)
		s->rx_stalled = true;
	pthread_mutex_unlock(&s->lock);
	return room;
}

void serial_set_rx_ready(struct serial *s, void (*cb)(void *opaque),
			 void *opaque)
{
	pthread_mutex_lock(&s->lock);
	s->rx_ready = cb;
	s->rx_ready_opaque = opaque;
	pthread_mutex_unlock(&s->lock);
}

/* --- lifecycle ------------------------------------------------------ */

#define SERIAL_STATE_VERSION 1

enum {
	TAG_IER = 1, TAG_FCR, TAG_LCR, TAG_MCR, TAG_SCR, TAG_DLL, TAG_DLM,
	TAG_LSR_ERR, TAG_MSR_DELTA, TAG_THR_IPENDING, TAG_FIFO, TAG_INBUF,
};

static struct serial *to_serial(struct device *d)
{
	return (struct serial *)((char *)d - offsetof(struct serial, dev));
}

int serial_device_init(struct serial *s, const char *id, uint16_t base,
		       uint32_t gsi, struct serial_output out)
{
	int ret = serial_init(s, id, (struct irq_line){ 0 }, out);

	if (ret)
		return ret;
	device_init(&s->dev, &serial_device_ops, id);
	s->base = base;
	s->gsi = gsi;
	return 0;
}

static int serial_realize(struct device *d, const struct machine_host *h)
{
	struct serial *s = to_serial(d);
	int ret;

	s->irq = (struct irq_line){ h->set_irq, h->set_irq_opaque, s->gsi };
	ret = bus_register(h->pio, s->base, REG_COUNT, &serial_bus_ops, s,
			   s->name);
	if (ret)
		return ret;
	s->pio = h->pio;
	return 0;
}

static void serial_unrealize(struct device *d)
{
	struct serial *s = to_serial(d);

	if (s->pio)
		bus_unregister(s->pio, s->base);
	s->pio = NULL;
}

static void serial_reset(struct device *d)
{
	struct serial *s = to_serial(d);

	pthread_mutex_lock(&s->lock);
	s->ier = s->fcr = s->lcr = s->mcr = s->scr = s->dll = s->dlm = 0;
	s->lsr_err = s->msr_delta = 0;
	s->thr_ipending = false;
	s->fifo_head = s->fifo_count = 0;
	rx_refill(s);		/* host input stays on the wire */
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static int serial_pause(struct device *d)
{
	struct serial *s = to_serial(d);

	pthread_mutex_lock(&s->lock);
	s->paused = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int serial_resume(struct device *d)
{
	struct serial *s = to_serial(d);
	void (*cb)(void *opaque);
	void *cb_opaque;
	bool ready;

	pthread_mutex_lock(&s->lock);
	s->paused = false;
	/* Input held during the pause may come now. */
	ready = s->rx_stalled && s->in_count < SERIAL_INBUF_LEN &&
		s->rx_ready;
	if (ready)
		s->rx_stalled = false;
	cb = s->rx_ready;
	cb_opaque = s->rx_ready_opaque;
	pthread_mutex_unlock(&s->lock);
	if (ready)
		cb(cb_opaque);
	return 0;
}

static int serial_save(struct device *d, struct state_writer *w)
{
	struct serial *s = to_serial(d);
	uint8_t fifo[SERIAL_FIFO_LEN];
	uint8_t *in = malloc(SERIAL_INBUF_LEN);

	if (!in)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < s->fifo_count; i++)
		fifo[i] = s->fifo[(s->fifo_head + i) % SERIAL_FIFO_LEN];
	for (size_t i = 0; i < s->in_count; i++)
		in[i] = s->inbuf[(s->in_head + i) % SERIAL_INBUF_LEN];
	state_put_u8(w, TAG_IER, s->ier);
	state_put_u8(w, TAG_FCR, s->fcr);
	state_put_u8(w, TAG_LCR, s->lcr);
	state_put_u8(w, TAG_MCR, s->mcr);
	state_put_u8(w, TAG_SCR, s->scr);
	state_put_u8(w, TAG_DLL, s->dll);
	state_put_u8(w, TAG_DLM, s->dlm);
	state_put_u8(w, TAG_LSR_ERR, s->lsr_err);
	state_put_u8(w, TAG_MSR_DELTA, s->msr_delta);
	state_put_u8(w, TAG_THR_IPENDING, s->thr_ipending);
	state_put_bytes(w, TAG_FIFO, fifo, s->fifo_count);
	state_put_bytes(w, TAG_INBUF, in, (uint32_t)s->in_count);
	pthread_mutex_unlock(&s->lock);
	free(in);
	return 0;
}

static int serial_load(struct device *d, struct state_reader *r)
{
	struct serial *s = to_serial(d);
	static const struct { uint16_t tag; const char *name; uint8_t mask; }
	regs[] = {
		{ TAG_IER, "ier", 0x0f },
		{ TAG_FCR, "fcr", (uint8_t)~(FCR_CLEAR_RX | FCR_CLEAR_TX) },
		{ TAG_LCR, "lcr", 0xff },
		{ TAG_MCR, "mcr", 0x1f },
		{ TAG_SCR, "scr", 0xff },
		{ TAG_DLL, "dll", 0xff },
		{ TAG_DLM, "dlm", 0xff },
		{ TAG_LSR_ERR, "lsr_err", LSR_OE },
		{ TAG_MSR_DELTA, "msr_delta", 0x0f },
		{ TAG_THR_IPENDING, "thr_ipending", 0x01 },
	};
	uint8_t v[sizeof(regs) / sizeof(regs[0])];
	uint8_t fifo[SERIAL_FIFO_LEN];
	uint8_t *in = NULL;
	uint32_t nfifo, nin;
	int ret;

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		ret = state_get_u8(r, regs[i].tag, &v[i]);
		if (ret)
			return ret == -ENOENT ? state_bad(s->name, regs[i].name,
							  0, "missing")
					      : ret;
		if (v[i] & (uint8_t)~regs[i].mask)
			return state_bad(s->name, regs[i].name, v[i],
					 "bits this UART does not hold");
	}
	in = malloc(SERIAL_INBUF_LEN);
	if (!in)
		return -ENOMEM;
	ret = state_get_blob(r, TAG_FIFO, fifo, SERIAL_FIFO_LEN, &nfifo);
	ret = ret ?: state_get_blob(r, TAG_INBUF, in, SERIAL_INBUF_LEN, &nin);
	if (ret == -ENOENT)
		ret = state_bad(s->name, "fifo/inbuf", 0, "missing");
	/* v[1] is FCR: one byte deep while FIFOs are off. */
	else if (!ret && nfifo > ((v[1] & FCR_ENABLE) ? SERIAL_FIFO_LEN : 1u))
		ret = state_bad(s->name, "fifo", nfifo,
				"more bytes than the receive FIFO holds");
	if (ret) {
		free(in);
		return ret;
	}

	pthread_mutex_lock(&s->lock);
	s->ier = v[0];
	s->fcr = v[1];
	s->lcr = v[2];
	s->mcr = v[3];
	s->scr = v[4];
	s->dll = v[5];
	s->dlm = v[6];
	s->lsr_err = v[7];
	s->msr_delta = v[8];
	s->thr_ipending = v[9];
	memcpy(s->fifo, fifo, nfifo);
	s->fifo_head = 0;
	s->fifo_count = nfifo;
	memcpy(s->inbuf, in, nin);
	s->in_head = 0;
	s->in_count = nin;
	s->irq_level = -1;	/* drive the line to what the state says */
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	free(in);
	return 0;
}

static void serial_device_destroy(struct device *d)
{
	serial_destroy(to_serial(d));
}

const struct device_ops serial_device_ops = {
	.kind = "serial",
	.state_version = SERIAL_STATE_VERSION,
	.realize = serial_realize,
	.unrealize = serial_unrealize,
	.reset = serial_reset,
	.pause = serial_pause,
	.resume = serial_resume,
	.save = serial_save,
	.load = serial_load,
	.destroy = serial_device_destroy,
};
