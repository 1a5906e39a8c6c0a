/* Checks on state records (core/state.h) shared by the lifecycle tests:
 * save a paused device, load a record and save again expecting the same
 * bytes, find a field's value in a record, and refuse a record with one
 * byte of a field changed. Uses tests/unit/check.h's CHECK macros. */
#ifndef TERN_TESTS_STATE_CHECK_H
#define TERN_TESTS_STATE_CHECK_H

#include "core/device.h"
#include "core/state.h"
#include "core/bytes.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <string.h>

/* Saves D (paused) into W, fresh. */
static inline void save(struct device *d, struct state_writer *w)
{
	state_writer_init(w);
	CHECK_EQ(device_save(d, w), 0);
}

/* Loads W into D and saves D again: the bytes must be W's. */
static inline void load_and_compare(struct device *d,
				    const struct state_writer *w)
{
	struct state_writer again;
	size_t used = 0;

	CHECK_EQ(device_load(d, w->buf, w->len, &used), 0);
	CHECK_EQ(used, w->len);
	save(d, &again);
	CHECK_EQ(again.len, w->len);
	if (again.len == w->len)
		CHECK_MEM(again.buf, w->buf, w->len);
	state_writer_free(&again);
}

/* The value of field TAG in record W (which must have it). */
static inline uint8_t *field(struct state_writer *w, uint16_t tag)
{
	size_t off = STATE_HEADER_LEN;

	while (off + STATE_FIELD_HDR_LEN <= w->len) {
		uint32_t len = get_le32(w->buf + off + 3);

		if (get_le16(w->buf + off) == tag)
			return w->buf + off + STATE_FIELD_HDR_LEN;
		off += STATE_FIELD_HDR_LEN + len;
	}
	abort();
}

/* A copy of W with byte OFF of field TAG's value set to V must be refused
 * by D (paused), which must then save as before. */
static inline void refuse_field(struct device *d, const struct state_writer *w,
		   uint16_t tag, size_t off, uint8_t v)
{
	struct state_writer bad, before, after;

	save(d, &before);
	state_writer_init(&bad);
	bad.buf = malloc(w->len);
	memcpy(bad.buf, w->buf, w->len);
	bad.len = bad.cap = w->len;
	field(&bad, tag)[off] = v;
	CHECK_EQ(device_load(d, bad.buf, bad.len, NULL), -EINVAL);
	save(d, &after);
	CHECK_EQ(after.len, before.len);
	if (after.len == before.len)
		CHECK_MEM(after.buf, before.buf, before.len);
	state_writer_free(&before);
	state_writer_free(&after);
	state_writer_free(&bad);
}

#endif
