/* 16550A UART, the PC's COM port (COM1: 0x3F8, IRQ 4). The device knows
 * nothing of ports: the machine registers serial_bus_ops over 8 bytes.
 *
 * Transmission is instant: the transmitter is always empty (LSR.THRE and
 * TEMT set) and every byte written to THR goes straight to the output.
 * Host input goes into a 4 KiB buffer that feeds the 16-byte receive FIFO,
 * so pasted text waits there instead of overrunning the FIFO. */
#ifndef TERN_PLATFORM_SERIAL_H
#define TERN_PLATFORM_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"

#define SERIAL_FIFO_LEN 16
#define SERIAL_INBUF_LEN 4096

/* Where transmitted bytes go. A NULL write discards them. The write runs
 * in the vCPU thread that wrote THR, without the device lock held, so a
 * blocking write (stdout, a file) only stalls that vCPU. */
struct serial_output {
	ssize_t (*write)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
};

struct serial {
	struct device dev;	/* lifecycle; dev.id is the name */
	uint16_t base;		/* I/O ports base..base+7 (realize) */
	uint32_t gsi;
	struct bus *pio;	/* where realize registered it */
	pthread_mutex_t lock;	/* everything below */
	bool paused;		/* host input held */
	char name[32];
	struct irq_line irq;
	struct serial_output out;
	void (*rx_ready)(void *opaque);
	void *rx_ready_opaque;
	bool rx_stalled;	/* serial_receive came up short */
	int irq_level;		/* last level given to irq_line_set */

	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr_err;	/* OE until the guest reads LSR */
	uint8_t msr_delta;	/* MSR bits 0-3 until the guest reads MSR */
	bool thr_ipending;	/* THRE interrupt not yet acknowledged */

	/* Receive FIFO; one byte deep while FIFOs are disabled. */
	uint8_t fifo[SERIAL_FIFO_LEN];
	unsigned int fifo_head, fifo_count;
	/* Host input not yet on the wire. */
	uint8_t inbuf[SERIAL_INBUF_LEN];
	size_t in_head, in_count;
};

/* Offsets 0..7 from the base; byte accesses (wider ones are split). */
extern const struct bus_ops serial_bus_ops;

/* `name` is copied (for log lines). Returns 0 or -errno. */
int serial_init(struct serial *s, const char *name, struct irq_line irq,
		struct serial_output out);
void serial_destroy(struct serial *s);

/* The 16550 as a device (core/device.h): serial_init, then realize puts
 * it at ports BASE..BASE+7 on the host's PIO bus with interrupt GSI.
 * Pause holds host input (serial_receive takes nothing, and the rx_ready
 * callback comes after resume); reset is the power-on register state
 * with host input kept. */
int serial_device_init(struct serial *s, const char *id, uint16_t base,
		       uint32_t gsi, struct serial_output out);
extern const struct device_ops serial_device_ops;

/* Main-loop side: queue host input for the guest. Returns how many bytes
 * were taken (0 when the buffer is full); keep the rest and wait for the
 * rx_ready callback. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Free bytes in the input buffer. */
size_t serial_rx_room(struct serial *s);
/* `cb` runs once, in a vCPU thread and without the device lock held, when
 * the guest has drained the input buffer after serial_receive returned
 * short or serial_rx_room returned 0, so the loop can start reading its
 * input again. */
void serial_set_rx_ready(struct serial *s, void (*cb)(void *opaque),
			 void *opaque);

#endif
