/* MC146818 CMOS real-time clock: port 0x70 selects a byte of the 128-byte
 * CMOS (bit 7, the NMI mask, is ignored), port 0x71 reads or writes it.
 * The machine registers rtc_bus_ops over 2 bytes.
 *
 * The time registers (0, 2, 4, 6-9 and the century at 0x32) are the host
 * clock (UTC) plus an offset; the guest moves the offset by setting the
 * time. There are no interrupts: alarms and the periodic rate are stored
 * only, and register C never reports a flag. */
#ifndef TERN_PLATFORM_RTC_H
#define TERN_PLATFORM_RTC_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/bus.h"
#include "core/device.h"

#define RTC_CMOS_LEN 128

struct rtc {
	struct device dev;
	uint16_t base;		/* ports base, base+1 (realize) */
	struct bus *pio;
	pthread_mutex_t lock;	/* everything below */
	time_t (*now)(void *opaque);
	void *now_opaque;
	int64_t offset;		/* guest time minus host time, seconds */
	uint8_t index;		/* selected CMOS byte */
	uint8_t cmos[RTC_CMOS_LEN];
};

/* Offset 0: index (write only), 1: data. */
extern const struct bus_ops rtc_bus_ops;

/* `now` gives the host time (seconds since the epoch, UTC); NULL means
 * time(NULL). Returns 0 or -errno. */
int rtc_init(struct rtc *r, time_t (*now)(void *opaque), void *opaque);
void rtc_destroy(struct rtc *r);
/* Sets a CMOS RAM byte (not a clock register) as firmware setup would. */
void rtc_cmos_write(struct rtc *r, uint8_t idx, uint8_t v);

/* The RTC as a device (core/device.h) at ports BASE and BASE+1. Nothing
 * runs on its own, so pause has nothing to stop; its state is the CMOS,
 * the selected index and the guest's offset from host time (so a loaded
 * clock keeps the time the guest set, on the new host's clock). */
int rtc_device_init(struct rtc *r, const char *id, uint16_t base);
extern const struct device_ops rtc_device_ops;

#endif
