/* core/hostcpu: CPU lists, affinity pairs, and a thread's move. */
#include "check.h"
#include "config.h"
#include "core/hostcpu.h"

#include <pthread.h>

static void test_text(void)
{
	cpu_set_t set;
	char buf[64], small[8];

	CPU_ZERO(&set);
	CHECK_STR(hostcpu_text(&set, buf, sizeof(buf)), "");
	CPU_SET(0, &set);
	CPU_SET(2, &set);
	CPU_SET(3, &set);
	CPU_SET(4, &set);
	CPU_SET(9, &set);
	CHECK_STR(hostcpu_text(&set, buf, sizeof(buf)), "0,2-4,9");
	CPU_SET(1000, &set);
	CPU_SET(1002, &set);
	CHECK_STR(hostcpu_text(&set, buf, sizeof(buf)), "0,2-4,9,1000,1002");
	/* Cut after a whole item, the cut marked. */
	CHECK_STR(hostcpu_text(&set, small, sizeof(small)), "0,...");
	CHECK_STR(hostcpu_text(&set, small, 4), "...");
	CHECK_STR(hostcpu_text(&set, small, 2), "");
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	CPU_SET(2, &set);
	CHECK_STR(hostcpu_text(&set, small, 4), "1-2");
}

static void test_pairs(void)
{
	struct cpu_affinity a[4];
	unsigned int n = 99;
	cpu_set_t set;

	CHECK_EQ(hostcpu_affinity_parse("[]", a, 4, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(hostcpu_affinity_set(a, n, 0, &set), 0);
#if HAVE_NUMA
	/* CPU 0 is on every machine. */
	CHECK_EQ(hostcpu_affinity_parse("[3@[0],1@[0-0],3@[0]]", a, 4, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(a[0].index, 3);
	CHECK_EQ(a[1].index, 1);
	CHECK_EQ(hostcpu_affinity_set(a, n, 3, &set), 1);
	CHECK(CPU_ISSET(0, &set));
	CHECK_EQ(hostcpu_affinity_set(a, n, 2, &set), 0);
	/* More pairs than room: refused, not cut. */
	CHECK_EQ(hostcpu_affinity_parse("[0@[0],1@[0],2@[0]]", a, 2, &n),
		 -EINVAL);
	CHECK_EQ(hostcpu_affinity_parse("[0@[0],1@[0]]", a, 2, &n), 0);
	/* Indexes up to 65535; the caller names one past its own count. */
	CHECK_EQ(hostcpu_affinity_parse("[65535@[0]]", a, 4, &n), 0);
	CHECK_EQ(a[0].index, 65535);
	CHECK_EQ(hostcpu_affinity_parse("[65536@[0]]", a, 4, &n), -EINVAL);
	CHECK_EQ(hostcpu_affinity_parse("[0@[0]]]", a, 4, &n), -EINVAL);
	{
		uint16_t cpu[4];

		CHECK_EQ(hostcpu_list("0", cpu, 4, &n), 0);
		CHECK_EQ(n, 1);
		CHECK_EQ(cpu[0], 0);
		CHECK_EQ(hostcpu_list("0,", cpu, 4, &n), -EINVAL);
		CHECK_EQ(hostcpu_list("+0", cpu, 4, &n), -EINVAL);
		CHECK_EQ(hostcpu_list("99999", cpu, 4, &n), -EINVAL);
	}
#else
	CHECK_EQ(hostcpu_affinity_parse("[0@[0]]", a, 4, &n), -EINVAL);
#endif
}

/* A thread moves onto the set and says where it landed; one outside
 * what it may use says so and stays where it was. */
static void *mover(void *arg)
{
	cpu_set_t *want = arg, got, landed;
	intptr_t bad = 0;

	CPU_ZERO(&landed);
	if (hostcpu_move("test", want, &landed) || !CPU_EQUAL(&landed, want))
		bad |= 1;
	sched_getaffinity(0, sizeof(got), &got);
	if (!CPU_EQUAL(&got, want))
		bad |= 2;
	CPU_ZERO(&got);
	CPU_SET(CPU_SETSIZE - 1, &got);	/* no machine here has it */
	if (hostcpu_move("test", &got, NULL) != -EINVAL)
		bad |= 4;
	sched_getaffinity(0, sizeof(got), &got);
	if (!CPU_EQUAL(&got, want))
		bad |= 8;
	return (void *)bad;
}

static void test_move(void)
{
	cpu_set_t mine, want;
	pthread_t t;
	void *bad = (void *)-1;
	int last = -1;

	CHECK_EQ(sched_getaffinity(0, sizeof(mine), &mine), 0);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &mine))
			last = c;
	CHECK(last >= 0);
	CPU_ZERO(&want);
	CPU_SET(last, &want);
	CHECK_EQ(pthread_create(&t, NULL, mover, &want), 0);
	pthread_join(t, &bad);
	CHECK_EQ((intptr_t)bad, 0);
}

int main(void)
{
	test_text();
	test_pairs();
	test_move();
	return check_done("test_hostcpu");
}
