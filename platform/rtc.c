#include "platform/rtc.h"

#include "core/state.h"

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>

/* CMOS bytes with a meaning to the clock. */
enum {
	RTC_SEC = 0x00,
	RTC_SEC_ALARM = 0x01,
	RTC_MIN = 0x02,
	RTC_MIN_ALARM = 0x03,
	RTC_HOUR = 0x04,
	RTC_HOUR_ALARM = 0x05,
	RTC_WDAY = 0x06,
	RTC_MDAY = 0x07,
	RTC_MON = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32,	/* IBM PC convention, not the chip's */
};

#define A_UIP 0x80		/* update in progress */
#define B_SET 0x80		/* updates stopped, guest is setting the time */
#define B_DM 0x04		/* binary, not BCD */
#define B_24H 0x02
#define D_VRT 0x80		/* valid RAM and time: the battery is fine */
#define HOUR_PM 0x80		/* in 12-hour mode */

static time_t host_now(void *opaque)
{
	return time(NULL);
}

static bool is_time_reg(unsigned int idx)
{
	switch (idx) {
	case RTC_SEC:
	case RTC_MIN:
	case RTC_HOUR:
	case RTC_WDAY:
	case RTC_MDAY:
	case RTC_MON:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

static uint8_t to_reg(const struct rtc *r, int v)
{
	if (r->cmos[RTC_REG_B] & B_DM)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static int from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & B_DM)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

/* Copies the running clock into the time registers, in the format that
 * register B asks for. */
static void latch_time(struct rtc *r)
{
	time_t t = (time_t)(r->now(r->now_opaque) + r->offset);
	struct tm tm;
	int year;

	if (!gmtime_r(&t, &tm))
		return;		/* out of range: keep the last values */
	year = tm.tm_year + 1900;
	r->cmos[RTC_SEC] = to_reg(r, tm.tm_sec);
	r->cmos[RTC_MIN] = to_reg(r, tm.tm_min);
	if (r->cmos[RTC_REG_B] & B_24H) {
		r->cmos[RTC_HOUR] = to_reg(r, tm.tm_hour);
	} else {
		/* 12, 1..11 AM then 12, 1..11 PM */
		int h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;

		r->cmos[RTC_HOUR] = to_reg(r, h) |
				    (tm.tm_hour >= 12 ? HOUR_PM : 0);
	}
	r->cmos[RTC_WDAY] = to_reg(r, tm.tm_wday + 1);	/* Sunday is 1 */
	r->cmos[RTC_MDAY] = to_reg(r, tm.tm_mday);
	r->cmos[RTC_MON] = to_reg(r, tm.tm_mon + 1);
	r->cmos[RTC_YEAR] = to_reg(r, year % 100);
	r->cmos[RTC_CENTURY] = to_reg(r, year / 100);
}

/* Moves the offset so that the clock now reads what the time registers
 * say. The day of the week follows from the date: the chip counts it
 * separately, but guests write the matching value. */
static void take_time(struct rtc *r)
{
	uint8_t hour = r->cmos[RTC_HOUR];
	struct tm tm = { 0 };
	time_t t;

	tm.tm_sec = from_reg(r, r->cmos[RTC_SEC]);
	tm.tm_min = from_reg(r, r->cmos[RTC_MIN]);
	tm.tm_hour = from_reg(r, hour & (uint8_t)~HOUR_PM);
	if (!(r->cmos[RTC_REG_B] & B_24H))
		tm.tm_hour = tm.tm_hour % 12 + (hour & HOUR_PM ? 12 : 0);
	tm.tm_mday = from_reg(r, r->cmos[RTC_MDAY]);
	tm.tm_mon = from_reg(r, r->cmos[RTC_MON]) - 1;
	tm.tm_year = from_reg(r, r->cmos[RTC_CENTURY]) * 100 +
		     from_reg(r, r->cmos[RTC_YEAR]) - 1900;
	/* Out-of-range fields (month 13...) are normalised by timegm. */
	t = timegm(&tm);
	r->offset = (int64_t)t - (int64_t)r->now(r->now_opaque);
}

static uint8_t data_read(struct rtc *r)
{
	unsigned int idx = r->index;
	uint8_t v;

	if (is_time_reg(idx)) {
		/* While SET is on the registers hold what the guest wrote. */
		if (!(r->cmos[RTC_REG_B] & B_SET))
			latch_time(r);
		return r->cmos[idx];
	}
	switch (idx) {
	case RTC_REG_A:
		/* Reads are served from a consistent snapshot, so an update
		 * is never in progress. */
		return r->cmos[RTC_REG_A] & (uint8_t)~A_UIP;
	case RTC_REG_C:
		v = r->cmos[RTC_REG_C];	/* interrupt flags: read clears */
		r->cmos[RTC_REG_C] = 0;
		return v;
	case RTC_REG_D:
		return D_VRT;
	default:
		return r->cmos[idx];	/* alarms and CMOS RAM */
	}
}

static void data_write(struct rtc *r, uint8_t v)
{
	unsigned int idx = r->index;
	uint8_t old_b;

	if (is_time_reg(idx)) {
		if (r->cmos[RTC_REG_B] & B_SET) {
			r->cmos[idx] = v;	/* taken when SET clears */
		} else {
			/* A running clock counts from the new value at
			 * once; the other fields keep counting. */
			latch_time(r);
			r->cmos[idx] = v;
			take_time(r);
		}
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = v & (uint8_t)~A_UIP;	/* UIP is read-only */
		break;
	case RTC_REG_B:
		old_b = r->cmos[RTC_REG_B];
		/* Setting SET freezes the registers at the current time, so
		 * fields the guest does not write keep their value. */
		if ((v & B_SET) && !(old_b & B_SET))
			latch_time(r);
		r->cmos[RTC_REG_B] = v;
		if (!(v & B_SET) && (old_b & B_SET))
			take_time(r);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break;		/* read-only */
	default:
		/* Alarms are kept for the guest to read back; no alarm
		 * interrupt is ever raised. */
		r->cmos[idx] = v;
		break;
	}
}

static void rtc_bus_read(void *opaque, uint64_t off, uint8_t *data,
			 uint32_t len)
{
	struct rtc *r = opaque;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++)
		/* The index port is write-only on PCs. */
		data[i] = off + i == 1 ? data_read(r) : 0xff;
	pthread_mutex_unlock(&r->lock);
}

static void rtc_bus_write(void *opaque, uint64_t off, const uint8_t *data,
			  uint32_t len)
{
	struct rtc *r = opaque;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0)
			r->index = data[i] & 0x7f;	/* bit 7 masks NMI */
		else if (off + i == 1)
			data_write(r, data[i]);
	}
	pthread_mutex_unlock(&r->lock);
}

const struct bus_ops rtc_bus_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
};

int rtc_init(struct rtc *r, time_t (*now)(void *opaque), void *opaque)
{
	int err;

	if (!r)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	err = pthread_mutex_init(&r->lock, NULL);
	if (err)
		return -err;
	r->now = now ? now : host_now;
	r->now_opaque = opaque;
	r->cmos[RTC_REG_A] = 0x26;	/* 32.768 kHz time base, 1024 Hz rate */
	r->cmos[RTC_REG_B] = B_24H;	/* BCD, 24-hour, as PC firmware sets it */
	return 0;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* --- lifecycle ------------------------------------------------------ */

#define RTC_STATE_VERSION 1
/* A loaded clock reads a date from 0000-01-01 to 9999-12-31 (UTC), as a
 * guest setting the CMOS would: the registers hold no other years, and a
 * negative one is no BCD at all. */
#define RTC_MIN_TIME (-62167219200LL)
#define RTC_MAX_TIME 253402300799LL

enum { TAG_OFFSET = 1, TAG_INDEX, TAG_CMOS };

static struct rtc *to_rtc(struct device *d)
{
	return (struct rtc *)((char *)d - offsetof(struct rtc, dev));
}

int rtc_device_init(struct rtc *r, const char *id, uint16_t base)
{
	int ret = rtc_init(r, NULL, NULL);

	if (ret)
		return ret;
	device_init(&r->dev, &rtc_device_ops, id);
	r->base = base;
	return 0;
}

static int rtc_realize(struct device *d, const struct machine_host *h)
{
	struct rtc *r = to_rtc(d);
	int ret = bus_register(h->pio, r->base, 2, &rtc_bus_ops, r, d->id);

	if (!ret)
		r->pio = h->pio;
	return ret;
}

static void rtc_unrealize(struct device *d)
{
	struct rtc *r = to_rtc(d);

	if (r->pio)
		bus_unregister(r->pio, r->base);
	r->pio = NULL;
}

/* The clock keeps running across a reset, as a battery-backed one does;
 * the index and the interrupt flags go back to power-on. */
static void rtc_reset(struct device *d)
{
	struct rtc *r = to_rtc(d);

	pthread_mutex_lock(&r->lock);
	r->index = 0;
	r->cmos[RTC_REG_C] = 0;
	pthread_mutex_unlock(&r->lock);
}

static int rtc_save(struct device *d, struct state_writer *w)
{
	struct rtc *r = to_rtc(d);

	pthread_mutex_lock(&r->lock);
	state_put_u64(w, TAG_OFFSET, (uint64_t)r->offset);
	state_put_u8(w, TAG_INDEX, r->index);
	state_put_bytes(w, TAG_CMOS, r->cmos, RTC_CMOS_LEN);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int rtc_load(struct device *d, struct state_reader *sr)
{
	struct rtc *r = to_rtc(d);
	uint8_t cmos[RTC_CMOS_LEN], index;
	uint64_t off;
	int64_t now;
	int ret;

	ret = state_get_u64(sr, TAG_OFFSET, &off);
	ret = ret ?: state_get_u8(sr, TAG_INDEX, &index);
	ret = ret ?: state_get_bytes(sr, TAG_CMOS, cmos, RTC_CMOS_LEN);
	if (ret)
		return ret == -ENOENT ? state_bad(d->id, "offset/index/cmos", 0,
						  "missing") : ret;
	now = (int64_t)r->now(r->now_opaque);
	if ((int64_t)off > RTC_MAX_TIME - now ||
	    (int64_t)off < RTC_MIN_TIME - now)
		return state_bad(d->id, "offset", off,
				 "puts the clock outside the years 0 to 9999");
	if (index >= RTC_CMOS_LEN)
		return state_bad(d->id, "index", index, "past the CMOS");
	if (cmos[RTC_REG_A] & A_UIP)
		return state_bad(d->id, "cmos[A]", cmos[RTC_REG_A],
				 "UIP is never stored");
	pthread_mutex_lock(&r->lock);
	r->offset = (int64_t)off;
	r->index = index;
	memcpy(r->cmos, cmos, RTC_CMOS_LEN);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rtc_device_destroy(struct device *d)
{
	rtc_destroy(to_rtc(d));
}

const struct device_ops rtc_device_ops = {
	.kind = "rtc",
	.state_version = RTC_STATE_VERSION,
	.realize = rtc_realize,
	.unrealize = rtc_unrealize,
	.reset = rtc_reset,
	.save = rtc_save,
	.load = rtc_load,
	.destroy = rtc_device_destroy,
};

void rtc_cmos_write(struct rtc *r, uint8_t idx, uint8_t v)
{
	/* Clock and status registers are the clock's own. */
	if (idx < 0x0e || idx >= RTC_CMOS_LEN || idx == RTC_CENTURY)
		return;
	pthread_mutex_lock(&r->lock);
	r->cmos[idx] = v;
	pthread_mutex_unlock(&r->lock);
}
