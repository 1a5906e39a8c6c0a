/* Checks on state records (core/state.h) shared by the lifecycle tests:
 * save a paused device, and load a record and save again expecting the
 * same bytes. Uses tests/unit/check.h's CHECK macros. */
#ifndef TERN_TESTS_STATE_CHECK_H
#define TERN_TESTS_STATE_CHECK_H

#include "core/device.h"
#include "core/state.h"
#include "tests/unit/check.h"

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

#endif
