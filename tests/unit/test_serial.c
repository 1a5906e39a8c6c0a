/* 16550A: transmit, interrupt identification and the IRQ level, receive
 * through the FIFO and the input buffer, loopback, divisor latch, overrun.
 * Everything goes through serial_bus_ops as a guest would. */
#include <pthread.h>

#include "platform/serial.h"
#include "tests/unit/check.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2,
       LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct fake_out {
	uint8_t buf[256];
	size_t len;
};

static ssize_t fake_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct fake_out *o = opaque;

	for (size_t i = 0; i < len && o->len < sizeof(o->buf); i++)
		o->buf[o->len++] = buf[i];
	return (ssize_t)len;
}

/* Every call to the irq line, in order. */
struct fake_irq {
	int levels[64];
	int n;
	uint32_t gsi;
};

static int fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fake_irq *f = opaque;

	f->gsi = gsi;
	if (f->n < 64)
		f->levels[f->n] = level;
	f->n++;
	return 0;
}

static int last_level(const struct fake_irq *f)
{
	return f->n ? f->levels[f->n - 1] : 0;
}

static uint8_t rd(struct serial *s, unsigned int reg)
{
	uint8_t v = 0;

	serial_bus_ops.read(s, reg, &v, 1);
	return v;
}

static void wr(struct serial *s, unsigned int reg, uint8_t v)
{
	serial_bus_ops.write(s, reg, &v, 1);
}

static void setup(struct serial *s, struct fake_out *o, struct fake_irq *f)
{
	struct irq_line irq = { fake_irq_set, f, 4 };
	struct serial_output out = { fake_write, o };

	memset(o, 0, sizeof(*o));
	memset(f, 0, sizeof(*f));
	CHECK_EQ(serial_init(s, "serial0", irq, out), 0);
}

static void test_transmit(void)
{
	struct serial s;
	struct fake_out o;
	struct fake_irq f;

	setup(&s, &o, &f);
	CHECK_EQ(rd(&s, LSR) & 0x60, 0x60);	/* THRE | TEMT */
	wr(&s, THR, 'h');
	wr(&s, THR, 'i');
	CHECK_EQ(o.len, 2);
	CHECK_MEM(o.buf, "hi", 2);
	CHECK_EQ(f.n, 0);			/* IER = 0: no interrupt */
	CHECK_EQ(rd(&s, IIR), 0x01);
	serial_destroy(&s);

	/* No output: bytes are dropped, nothing breaks. */
	struct serial_output none = { NULL, NULL };
	struct irq_line noirq = { NULL, NULL, 0 };
	CHECK_EQ(serial_init(&s, "serial1", noirq, none), 0);
	wr(&s, THR, 'x');
	CHECK_EQ(rd(&s, LSR) & 0x60, 0x60);
	serial_destroy(&s);
}

static void test_thre_interrupt(void)
{
	struct serial s;
	struct fake_out o;
	struct fake_irq f;

	setup(&s, &o, &f);
	wr(&s, IER, 0x02);		/* enabling THRI while empty raises THRE */
	CHECK_EQ(f.n, 1);
	CHECK_EQ(last_level(&f), 1);
	CHECK_EQ(f.gsi, 4);
	CHECK_EQ(rd(&s, IIR), 0x02);	/* ... and reading it acknowledges */
	CHECK_EQ(f.n, 2);
	CHECK_EQ(last_level(&f), 0);
	CHECK_EQ(rd(&s, IIR), 0x01);
	CHECK_EQ(f.n, 2);		/* no change, no call */

	wr(&s, THR, 'a');		/* THR empties again: pending again */
	CHECK_EQ(f.n, 3);
	CHECK_EQ(last_level(&f), 1);
	wr(&s, THR, 'b');		/* still pending: no new call */
	CHECK_EQ(f.n, 3);
	CHECK_EQ(rd(&s, IIR), 0x02);
	CHECK_EQ(last_level(&f), 0);

	/* Re-enabling THRI re-arms it; disabling it lowers the line. */
	wr(&s, IER, 0x00);
	wr(&s, IER, 0x02);
	CHECK_EQ(f.n, 5);
	CHECK_EQ(last_level(&f), 1);
	wr(&s, IER, 0x00);
	CHECK_EQ(f.n, 6);
	CHECK_EQ(last_level(&f), 0);
	CHECK_EQ(rd(&s, IIR), 0x01);

	/* FIFOs on: IIR bits 6-7 say so. */
	wr(&s, FCR, 0x07);
	CHECK_EQ(rd(&s, IIR), 0xc1);
	wr(&s, IER, 0x02);
	CHECK_EQ(rd(&s, IIR), 0xc2);
	CHECK_EQ(rd(&s, IIR), 0xc1);
	CHECK_EQ(o.len, 2);
	serial_destroy(&s);
}

static void test_receive(void)
{
	struct serial s;
	struct fake_out o;
	struct fake_irq f;

	setup(&s, &o, &f);
	wr(&s, FCR, 0x01);
	wr(&s, IER, 0x01);
	CHECK_EQ(f.n, 0);
	CHECK_EQ(rd(&s, LSR) & 0x01, 0);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"abc", 3), 3);
	CHECK_EQ(f.n, 1);
	CHECK_EQ(last_level(&f), 1);
	CHECK_EQ(rd(&s, LSR) & 0x01, 1);
	CHECK_EQ(rd(&s, IIR), 0xc4);
	CHECK_EQ(rd(&s, RBR), 'a');
	CHECK_EQ(rd(&s, RBR), 'b');
	CHECK_EQ(last_level(&f), 1);	/* still data: still pending */
	CHECK_EQ(rd(&s, LSR) & 0x01, 1);
	CHECK_EQ(rd(&s, RBR), 'c');
	CHECK_EQ(rd(&s, LSR) & 0x01, 0);
	CHECK_EQ(f.n, 2);
	CHECK_EQ(last_level(&f), 0);
	CHECK_EQ(rd(&s, IIR), 0xc1);

	/* Priority: received data before THRE, THRE once data is gone. */
	wr(&s, IER, 0x03);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"z", 1), 1);
	CHECK_EQ(rd(&s, IIR), 0xc4);
	CHECK_EQ(rd(&s, RBR), 'z');
	CHECK_EQ(last_level(&f), 1);
	CHECK_EQ(rd(&s, IIR), 0xc2);
	CHECK_EQ(last_level(&f), 0);

	/* FIFOs off: one byte at a time, the rest waits in the buffer. */
	wr(&s, FCR, 0x00);
	CHECK_EQ(serial_receive(&s, (const uint8_t *)"xy", 2), 2);
	CHECK_EQ(rd(&s, IIR), 0x04);
	CHECK_EQ(rd(&s, RBR), 'x');
	CHECK_EQ(rd(&s, LSR) & 0x03, 0x01);	/* next byte, no overrun */
	CHECK_EQ(rd(&s, RBR), 'y');
	CHECK_EQ(rd(&s, LSR) & 0x01, 0);
	serial_destroy(&s);
}

struct ready {
	struct serial *s;
	int calls;
	int lock_was_free;
};

static void on_ready(void *opaque)
{
	struct ready *r = opaque;

	r->calls++;
	/* The device lock must not be held: the loop may call back in. */
	if (pthread_mutex_trylock(&r->s->lock) == 0) {
		r->lock_was_free = 1;
		pthread_mutex_unlock(&r->s->lock);
	}
}

static void test_buffer_full(void)
{
	enum { TOTAL = SERIAL_INBUF_LEN + SERIAL_FIFO_LEN };
	static uint8_t in[TOTAL + 100];
	struct serial s;
	struct fake_out o;
	struct fake_irq f;
	struct ready r = { &s, 0, 0 };
	size_t n, got = 0, ready_at = 0;
	int bad = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i % 251);
	setup(&s, &o, &f);
	serial_set_rx_ready(&s, on_ready, &r);
	wr(&s, FCR, 0x01);
	CHECK_EQ(serial_rx_room(&s), SERIAL_INBUF_LEN);

	/* The buffer takes 4 KiB; 16 bytes move on into the FIFO. */
	n = serial_receive(&s, in, sizeof(in));
	CHECK_EQ(n, SERIAL_INBUF_LEN);
	CHECK_EQ(serial_rx_room(&s), SERIAL_FIFO_LEN);
	n += serial_receive(&s, in + n, sizeof(in) - n);
	CHECK_EQ(n, TOTAL);
	/* Full (not asking serial_rx_room here: that is the other path). */
	CHECK_EQ(serial_receive(&s, in + n, sizeof(in) - n), 0);
	CHECK_EQ(r.calls, 0);

	/* The guest drains it all, in order; the loop hears once, when the
	 * buffer is empty and only the FIFO still holds bytes. */
	while (rd(&s, LSR) & 0x01) {
		if (rd(&s, RBR) != in[got])
			bad++;
		got++;
		if (r.calls && !ready_at)
			ready_at = got;
	}
	CHECK_EQ(got, TOTAL);
	CHECK_EQ(bad, 0);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(ready_at, TOTAL - SERIAL_FIFO_LEN);
	CHECK_EQ(r.lock_was_free, 1);
	CHECK_EQ(serial_rx_room(&s), SERIAL_INBUF_LEN);

	/* Filled exactly (never short), then told "no room" by
	 * serial_rx_room: the loop stops reading and must hear too. */
	CHECK_EQ(serial_receive(&s, in, SERIAL_INBUF_LEN), SERIAL_INBUF_LEN);
	CHECK_EQ(serial_receive(&s, in, SERIAL_FIFO_LEN), SERIAL_FIFO_LEN);
	CHECK_EQ(serial_rx_room(&s), 0);
	got = 0;
	while (rd(&s, LSR) & 0x01) {
		rd(&s, RBR);
		got++;
	}
	CHECK_EQ(got, TOTAL);
	CHECK_EQ(r.calls, 2);
	serial_destroy(&s);
}

static void test_loopback(void)
{
	struct serial s;
	struct fake_out o;
	struct fake_irq f;

	setup(&s, &o, &f);
	/* Not in loopback the line looks connected: CTS, DSR, DCD. */
	CHECK_EQ(rd(&s, MSR), 0xb0);

	wr(&s, MCR, 0x10);			/* loopback, all outputs off */
	CHECK_EQ(rd(&s, MSR), 0x0b);		/* CTS, DSR, DCD fell */
	CHECK_EQ(rd(&s, MSR), 0x00);		/* deltas cleared by the read */
	wr(&s, MCR, 0x1a);			/* RTS -> CTS, OUT2 -> DCD */
	CHECK_EQ(rd(&s, MSR), 0x99);
	CHECK_EQ(rd(&s, MSR) & 0xf0, 0x90);
	wr(&s, MCR, 0x15);			/* DTR -> DSR, OUT1 -> RI */
	CHECK_EQ(rd(&s, MSR) & 0xf0, 0x60);
	wr(&s, MCR, 0x11);			/* RI trailing edge */
	CHECK_EQ(rd(&s, MSR), 0x24);

	/* Modem status interrupt, lowest priority, cleared by MSR read. */
	wr(&s, IER, 0x08);
	wr(&s, MCR, 0x13);
	CHECK_EQ(rd(&s, IIR), 0x00);
	CHECK_EQ(last_level(&f), 1);
	rd(&s, MSR);
	CHECK_EQ(rd(&s, IIR), 0x01);
	CHECK_EQ(last_level(&f), 0);
	wr(&s, IER, 0x00);

	/* What goes out THR comes back in, and not to the output. */
	serial_receive(&s, (const uint8_t *)"H", 1);	/* host input waits */
	CHECK_EQ(rd(&s, LSR) & 0x01, 0);
	wr(&s, THR, 'L');
	CHECK_EQ(o.len, 0);
	CHECK_EQ(rd(&s, LSR) & 0x01, 1);
	CHECK_EQ(rd(&s, RBR), 'L');
	CHECK_EQ(rd(&s, LSR) & 0x01, 0);

	/* Out of loopback: host input arrives, THR reaches the output. */
	wr(&s, MCR, 0x0b);
	CHECK_EQ(rd(&s, MSR) & 0xf0, 0xb0);
	CHECK_EQ(rd(&s, RBR), 'H');
	wr(&s, THR, 'o');
	CHECK_EQ(o.len, 1);
	CHECK_EQ(o.buf[0], 'o');
	serial_destroy(&s);
}

static void test_divisor(void)
{
	struct serial s;
	struct fake_out o;
	struct fake_irq f;

	setup(&s, &o, &f);
	wr(&s, IER, 0x05);
	wr(&s, LCR, 0x83);			/* DLAB, 8N1 */
	wr(&s, DLL, 0x0c);			/* 9600 baud */
	wr(&s, DLM, 0x00);
	CHECK_EQ(o.len, 0);			/* DLL write is not THR */
	CHECK_EQ(rd(&s, DLL), 0x0c);
	CHECK_EQ(rd(&s, DLM), 0x00);
	wr(&s, DLM, 0x01);
	CHECK_EQ(rd(&s, DLM), 0x01);
	CHECK_EQ(rd(&s, LCR), 0x83);
	wr(&s, LCR, 0x03);
	CHECK_EQ(rd(&s, IER), 0x05);		/* IER untouched */
	wr(&s, THR, 'k');
	CHECK_EQ(o.len, 1);
	wr(&s, LCR, 0x83);
	CHECK_EQ(rd(&s, DLL), 0x0c);		/* divisor untouched by THR */
	CHECK_EQ(rd(&s, DLM), 0x01);
	wr(&s, LCR, 0x03);

	wr(&s, SCR, 0x5a);
	CHECK_EQ(rd(&s, SCR), 0x5a);
	serial_destroy(&s);
}

static void test_overrun(void)
{
	struct serial s;
	struct fake_out o;
	struct fake_irq f;
	int bad = 0;

	setup(&s, &o, &f);
	wr(&s, FCR, 0x01);
	wr(&s, MCR, 0x10);
	wr(&s, IER, 0x04);			/* line status only */
	for (int i = 0; i < SERIAL_FIFO_LEN; i++)
		wr(&s, THR, (uint8_t)('A' + i));
	CHECK_EQ(rd(&s, IIR), 0xc1);
	CHECK_EQ(last_level(&f), 0);
	wr(&s, THR, '!');			/* 17th byte: no room */
	CHECK_EQ(last_level(&f), 1);
	CHECK_EQ(rd(&s, IIR), 0xc6);
	CHECK_EQ(rd(&s, LSR) & 0x03, 0x03);	/* OE | DR, OE cleared by read */
	CHECK_EQ(rd(&s, LSR) & 0x03, 0x01);
	CHECK_EQ(last_level(&f), 0);
	for (int i = 0; i < SERIAL_FIFO_LEN; i++)
		if (rd(&s, RBR) != 'A' + i)
			bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(rd(&s, LSR) & 0x01, 0);

	/* FIFOs off: the second unread byte overruns. */
	wr(&s, FCR, 0x00);
	wr(&s, THR, '1');
	CHECK_EQ(rd(&s, LSR) & 0x02, 0);
	wr(&s, THR, '2');
	CHECK_EQ(rd(&s, LSR) & 0x03, 0x03);
	CHECK_EQ(rd(&s, RBR), '1');
	serial_destroy(&s);
}

int main(void)
{
	test_transmit();
	test_thre_interrupt();
	test_receive();
	test_buffer_full();
	test_loopback();
	test_divisor();
	test_overrun();
	return check_done("test_serial");
}
