/* Just enough of the 8042 keyboard controller for the CPU reset line and
 * for a guest's probe to behave: no keyboard (a byte sent to it is
 * answered with a NAK and the timeout bit), no mouse, no interrupts.
 * The machine registers i8042_data_ops at port 0x60 and i8042_cmd_ops at
 * port 0x64, one byte each. */
#ifndef TERN_PLATFORM_I8042_H
#define TERN_PLATFORM_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/device.h"
#include "core/lifecycle.h"

struct i8042 {
	struct device dev;
	struct bus *pio;	/* where realize put it: 0x60 and 0x64 */
	pthread_mutex_t lock;	/* everything below */
	struct vm_control ctl;
	uint8_t ctr;		/* controller command byte */
	uint8_t out;		/* output buffer, valid while obf */
	bool obf;
	bool timeout;		/* status bit 6: out is a NAK for no device */
	uint8_t pending;	/* command awaiting its data byte, or 0 */
};

/* Port 0x60: read the output buffer, write data (for a pending command). */
extern const struct bus_ops i8042_data_ops;
/* Port 0x64: read status, write a command. */
extern const struct bus_ops i8042_cmd_ops;

/* Reset requests go to `ctl` as VM_REQ_RESET. Returns 0 or -errno. */
int i8042_init(struct i8042 *k, struct vm_control ctl);
void i8042_destroy(struct i8042 *k);

/* The controller as a device (core/device.h) at ports 0x60 and 0x64;
 * reset requests go to the host's ctl. Nothing runs on its own. */
int i8042_device_init(struct i8042 *k, const char *id);
extern const struct device_ops i8042_device_ops;

#endif
