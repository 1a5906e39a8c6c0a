/* tern-switch's lcore assignment rule (net/switch/assign.c): the port's
 * node first, the least loaded there, ties to the lowest id; every worker
 * when the node has none; the override list, and its refusal of an lcore
 * that is not a worker. */
#include "net/switch/assign.h"
#include "tests/unit/check.h"

static void test_rule(void)
{
	/* Workers 1, 2 on node 0; 3, 4 on node 1. Worker 2 is busy. */
	struct sw_assign_lcore lc[] = {
		{ .id = 4, .node = 1 }, { .id = 2, .node = 0, .load = 3 },
		{ .id = 1, .node = 0, .load = 1 }, { .id = 3, .node = 1 },
	};
	uint16_t out[8];
	bool off;
	char err[128];

	/* Node 1: 3 and 4 alternate, 3 first (lowest id on a tie). */
	CHECK_EQ(sw_assign(lc, 4, 1, NULL, 0, 4, out, &off, err, sizeof(err)),
		 0);
	CHECK_EQ(off, false);
	CHECK_EQ(lc[out[0]].id, 3);
	CHECK_EQ(lc[out[1]].id, 4);
	CHECK_EQ(lc[out[2]].id, 3);
	CHECK_EQ(lc[out[3]].id, 4);
	CHECK_EQ(lc[0].load, 2);
	CHECK_EQ(lc[3].load, 2);
	/* Node 0: the least loaded (1, load 1) until it catches up with 2. */
	CHECK_EQ(sw_assign(lc, 4, 0, NULL, 0, 4, out, &off, err, sizeof(err)),
		 0);
	CHECK_EQ(lc[out[0]].id, 1);
	CHECK_EQ(lc[out[1]].id, 1);
	CHECK_EQ(lc[out[2]].id, 1);	/* 1 and 2 both at 3: 1 */
	CHECK_EQ(lc[out[3]].id, 2);
	/* A node with no worker, or none known: every worker competes. */
	CHECK_EQ(sw_assign(lc, 4, 7, NULL, 0, 1, out, &off, err, sizeof(err)),
		 0);
	CHECK_EQ(off, true);
	CHECK_EQ(lc[out[0]].id, 3);	/* 3 and 4 at 2: 3 */
	CHECK_EQ(sw_assign(lc, 4, -1, NULL, 0, 1, out, &off, err,
			   sizeof(err)), 0);
	CHECK_EQ(lc[out[0]].id, 4);
}

static void test_override(void)
{
	struct sw_assign_lcore lc[] = {
		{ .id = 1, .node = 0 }, { .id = 2, .node = 0 },
		{ .id = 5, .node = 1 },
	};
	const uint16_t pick[] = { 5, 1 };
	const uint16_t bad[] = { 1, 3 };
	uint16_t out[8];
	bool off;
	char err[128];

	/* Queue q on pick[q % 2], whatever the node says. */
	CHECK_EQ(sw_assign(lc, 3, 0, pick, 2, 3, out, &off, err, sizeof(err)),
		 0);
	CHECK_EQ(lc[out[0]].id, 5);
	CHECK_EQ(lc[out[1]].id, 1);
	CHECK_EQ(lc[out[2]].id, 5);
	CHECK_EQ(lc[2].load, 2);
	CHECK_EQ(lc[0].load, 1);
	CHECK_EQ(sw_assign(lc, 3, 0, bad, 2, 2, out, &off, err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "3 is not a worker") != NULL);
	/* Nothing assigned by a refused override. */
	CHECK_EQ(lc[0].load, 1);
	CHECK_EQ(sw_assign(lc, 0, 0, NULL, 0, 1, out, &off, err, sizeof(err)),
		 -EINVAL);
}

int main(void)
{
	test_rule();
	test_override();
	return check_done("test_switch_assign");
}
