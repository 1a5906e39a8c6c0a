/* MC146818: time registers from an injected clock in BCD, binary and
 * 12-hour formats; setting the time moves the offset; index masking;
 * status registers A, C, D; CMOS RAM. */
#include "platform/rtc.h"
#include "tests/unit/check.h"

/* 2026-11-23 15:04:05 UTC, a Monday. */
#define T0 ((time_t)1795446245)

enum { SEC = 0, MIN = 2, HOUR = 4, WDAY = 6, MDAY = 7, MON = 8, YEAR = 9,
       REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
       CENTURY = 0x32 };

static time_t fake_now(void *opaque)
{
	return *(const time_t *)opaque;
}

static uint8_t rd(struct rtc *r, uint8_t idx)
{
	uint8_t v = 0;

	rtc_bus_ops.write(r, 0, &idx, 1);
	rtc_bus_ops.read(r, 1, &v, 1);
	return v;
}

static void wr(struct rtc *r, uint8_t idx, uint8_t v)
{
	rtc_bus_ops.write(r, 0, &idx, 1);
	rtc_bus_ops.write(r, 1, &v, 1);
}

static void test_bcd_and_binary(void)
{
	time_t now = T0;
	struct rtc r;

	CHECK_EQ(timegm(&(struct tm){ .tm_year = 126, .tm_mon = 10,
				      .tm_mday = 23, .tm_hour = 15,
				      .tm_min = 4, .tm_sec = 5 }), T0);
	CHECK_EQ(rtc_init(&r, fake_now, &now), 0);
	CHECK_EQ(rd(&r, REG_B), 0x02);		/* BCD, 24-hour */
	CHECK_EQ(rd(&r, SEC), 0x05);
	CHECK_EQ(rd(&r, MIN), 0x04);
	CHECK_EQ(rd(&r, HOUR), 0x15);
	CHECK_EQ(rd(&r, WDAY), 0x02);		/* Monday; Sunday is 1 */
	CHECK_EQ(rd(&r, MDAY), 0x23);
	CHECK_EQ(rd(&r, MON), 0x11);
	CHECK_EQ(rd(&r, YEAR), 0x26);
	CHECK_EQ(rd(&r, CENTURY), 0x20);

	now += 60 * 60 + 55;			/* the clock runs */
	CHECK_EQ(rd(&r, SEC), 0x00);
	CHECK_EQ(rd(&r, MIN), 0x05);
	CHECK_EQ(rd(&r, HOUR), 0x16);

	now = T0;
	wr(&r, REG_B, 0x06);			/* binary, 24-hour */
	CHECK_EQ(rd(&r, SEC), 5);
	CHECK_EQ(rd(&r, MIN), 4);
	CHECK_EQ(rd(&r, HOUR), 15);
	CHECK_EQ(rd(&r, WDAY), 2);
	CHECK_EQ(rd(&r, MDAY), 23);
	CHECK_EQ(rd(&r, MON), 11);
	CHECK_EQ(rd(&r, YEAR), 26);
	CHECK_EQ(rd(&r, CENTURY), 20);
	rtc_destroy(&r);

	/* No clock given: the host's. */
	CHECK_EQ(rtc_init(&r, NULL, NULL), 0);
	wr(&r, REG_B, 0x06);
	CHECK_EQ(rd(&r, CENTURY), 20);
	rtc_destroy(&r);
}

static void test_12_hour(void)
{
	time_t now = T0;
	struct rtc r;

	CHECK_EQ(rtc_init(&r, fake_now, &now), 0);
	wr(&r, REG_B, 0x00);			/* BCD, 12-hour */
	CHECK_EQ(rd(&r, HOUR), 0x83);		/* 3 PM */
	wr(&r, REG_B, 0x04);			/* binary, 12-hour */
	CHECK_EQ(rd(&r, HOUR), 0x83);
	now = T0 - 15 * 3600 + 30 * 60;		/* 00:34 */
	CHECK_EQ(rd(&r, HOUR), 12);		/* 12 AM */
	now = T0 - 3 * 3600;			/* 12:04 */
	CHECK_EQ(rd(&r, HOUR), 0x80 | 12);	/* 12 PM */
	wr(&r, REG_B, 0x00);
	now = T0 - 5 * 3600;			/* 10:04 */
	CHECK_EQ(rd(&r, HOUR), 0x10);
	now = T0 + 8 * 3600;			/* 23:04 */
	CHECK_EQ(rd(&r, HOUR), 0x91);
	rtc_destroy(&r);
}

static void test_set_time(void)
{
	time_t now = T0;
	struct rtc r;

	CHECK_EQ(rtc_init(&r, fake_now, &now), 0);
	/* As Linux does: SET, write the fields, clear SET. */
	wr(&r, REG_B, 0x82);
	wr(&r, YEAR, 0x30);
	wr(&r, MON, 0x01);
	wr(&r, MDAY, 0x02);
	wr(&r, HOUR, 0x03);
	wr(&r, MIN, 0x04);
	/* SEC not written: it keeps the value frozen by SET (05). */
	now += 100;				/* stopped while SET */
	CHECK_EQ(rd(&r, YEAR), 0x30);
	CHECK_EQ(rd(&r, SEC), 0x05);
	CHECK_EQ(rd(&r, CENTURY), 0x20);
	wr(&r, REG_B, 0x02);
	/* Now 2030-01-02 03:04:05, a Wednesday, counting from here. */
	CHECK_EQ(r.offset, (int64_t)1893553445 - (int64_t)now);
	CHECK_EQ(rd(&r, SEC), 0x05);
	CHECK_EQ(rd(&r, MIN), 0x04);
	CHECK_EQ(rd(&r, HOUR), 0x03);
	CHECK_EQ(rd(&r, WDAY), 0x04);
	CHECK_EQ(rd(&r, MDAY), 0x02);
	CHECK_EQ(rd(&r, MON), 0x01);
	CHECK_EQ(rd(&r, YEAR), 0x30);
	CHECK_EQ(rd(&r, CENTURY), 0x20);
	now += 10;
	CHECK_EQ(rd(&r, SEC), 0x15);
	CHECK_EQ(rd(&r, YEAR), 0x30);

	/* In 12-hour binary mode: 11 PM on 1999-12-31. */
	wr(&r, REG_B, 0x84);
	wr(&r, HOUR, 0x80 | 11);
	wr(&r, MIN, 59);
	wr(&r, SEC, 58);
	wr(&r, MDAY, 31);
	wr(&r, MON, 12);
	wr(&r, YEAR, 99);
	wr(&r, CENTURY, 19);
	wr(&r, REG_B, 0x04);
	CHECK_EQ(rd(&r, HOUR), 0x80 | 11);
	wr(&r, REG_B, 0x06);			/* reads follow B's format */
	CHECK_EQ(rd(&r, HOUR), 23);
	CHECK_EQ(rd(&r, YEAR), 99);
	now += 2;				/* across the century */
	CHECK_EQ(rd(&r, YEAR), 0);
	CHECK_EQ(rd(&r, CENTURY), 20);
	CHECK_EQ(rd(&r, MON), 1);
	CHECK_EQ(rd(&r, HOUR), 0);

	/* A write to a running clock takes effect at once. */
	wr(&r, MIN, 30);
	CHECK_EQ(rd(&r, MIN), 30);
	CHECK_EQ(rd(&r, YEAR), 0);
	CHECK_EQ(rd(&r, SEC), 0);
	rtc_destroy(&r);
}

static void test_index_and_status(void)
{
	time_t now = T0;
	struct rtc r;
	uint8_t v;

	CHECK_EQ(rtc_init(&r, fake_now, &now), 0);
	CHECK_EQ(rd(&r, 0x80 | SEC), 0x05);	/* NMI mask bit ignored */
	CHECK_EQ(rd(&r, 0x80 | MON), 0x11);
	wr(&r, 0x80 | 0x40, 0x5a);		/* CMOS RAM byte 0x40 */
	CHECK_EQ(rd(&r, 0x40), 0x5a);
	CHECK_EQ(rd(&r, 0xc0), 0x5a);
	wr(&r, 0x7f, 0xa5);
	CHECK_EQ(rd(&r, 0xff), 0xa5);
	CHECK_EQ(rd(&r, 0x40), 0x5a);

	/* The index port reads as nothing. */
	rtc_bus_ops.read(&r, 0, &v, 1);
	CHECK_EQ(v, 0xff);

	CHECK_EQ(rd(&r, REG_A), 0x26);		/* UIP clear */
	wr(&r, REG_A, 0xa6);			/* UIP is not writable */
	CHECK_EQ(rd(&r, REG_A), 0x26);
	wr(&r, REG_A, 0x2f);
	CHECK_EQ(rd(&r, REG_A), 0x2f);
	CHECK_EQ(rd(&r, REG_C), 0x00);
	CHECK_EQ(rd(&r, REG_D), 0x80);
	wr(&r, REG_D, 0x00);
	CHECK_EQ(rd(&r, REG_D), 0x80);

	/* Alarms are stored, and do not disturb the time. */
	wr(&r, 0x01, 0x30);
	wr(&r, 0x03, 0xc0);
	wr(&r, 0x05, 0x07);
	CHECK_EQ(rd(&r, 0x01), 0x30);
	CHECK_EQ(rd(&r, 0x03), 0xc0);
	CHECK_EQ(rd(&r, 0x05), 0x07);
	CHECK_EQ(rd(&r, SEC), 0x05);
	CHECK_EQ(rd(&r, HOUR), 0x15);
	rtc_destroy(&r);
}

int main(void)
{
	test_bcd_and_binary();
	test_12_hour();
	test_set_time();
	test_index_and_status();
	return check_done("test_rtc");
}
