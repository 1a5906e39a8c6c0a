/* tern-switch's MAC table (net/switch/mactable.c): learning, moves,
 * lookups that refresh only sources, aging with a wrapping clock, port
 * flushes, full chains and the overflow marks that send lookups past a
 * full bucket, the try-lock that never waits, and readers racing a writer
 * that never pair a key with another key's port. */
#include "net/switch/mactable.h"
#include "tests/unit/check.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

static uint64_t key_n(uint32_t n, uint16_t vlan)
{
	uint8_t mac[6] = { 0x02, 0x00, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			   (uint8_t)(n >> 8), (uint8_t)n };

	return mt_key(mac, vlan);
}

static void test_keys(void)
{
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint8_t back[6];
	uint64_t k = mt_key(mac, 4094);

	mt_key_mac(k, back);
	CHECK_MEM(back, mac, 6);
	CHECK_EQ(mt_key_vlan(k), 4094);
	CHECK(k & MT_KEY_VALID);
	CHECK_NE(mt_key(mac, 1), mt_key(mac, 2));
	/* A VLAN out of range is cut to 12 bits, never into the MAC. */
	CHECK_EQ(mt_key_vlan(mt_key(mac, 0x1001)), 1);
}

static void test_init_limits(void)
{
	struct mactable t;

	CHECK_EQ(mt_init(&t, MT_MIN_ENTRIES - 1, 300, 1, NULL), -EINVAL);
	CHECK_EQ(mt_init(&t, MT_MAX_ENTRIES + 1, 300, 1, NULL), -EINVAL);
	CHECK_EQ(mt_init(&t, 64, 0, 1, NULL), -EINVAL);
	CHECK_EQ(mt_init(&t, 64, MT_MAX_AGING + 1, 1, NULL), -EINVAL);
	CHECK_EQ(mt_init(&t, 100, 300, 2, NULL), 0);
	/* Rounded up to a power of two buckets of MT_WAYS; odd multiplier. */
	CHECK_EQ(t.nbuckets, 32);
	CHECK(t.mult & 1);
	CHECK_EQ(mt_mem_size(100), 32 * sizeof(struct mt_bucket));
	mt_destroy(&t);
}

static void test_learn_lookup(void)
{
	struct mactable t;
	struct mt_stats st;
	uint32_t count;
	uint64_t a = key_n(1, 0), b = key_n(2, 0), a10 = key_n(1, 10);

	CHECK_EQ(mt_init(&t, 1024, 300, 0x1234567, NULL), 0);
	CHECK_EQ(mt_lookup(&t, a, 0, false), -1);
	CHECK_EQ(mt_learn(&t, a, 3, 5), MT_LEARNED);
	CHECK_EQ(mt_learn(&t, b, 4, 5), MT_LEARNED);
	CHECK_EQ(mt_lookup(&t, a, 5, false), 3);
	CHECK_EQ(mt_lookup(&t, b, 5, false), 4);
	/* The same MAC in another VLAN is another station. */
	CHECK_EQ(mt_lookup(&t, a10, 5, false), -1);
	CHECK_EQ(mt_learn(&t, a10, 7, 5), MT_LEARNED);
	CHECK_EQ(mt_lookup(&t, a10, 5, false), 7);
	CHECK_EQ(mt_lookup(&t, a, 5, false), 3);
	/* Seen again on its port: known; on another: moved. */
	CHECK_EQ(mt_learn(&t, a, 3, 6), MT_KNOWN);
	CHECK_EQ(mt_learn(&t, a, 9, 6), MT_MOVED);
	CHECK_EQ(mt_lookup(&t, a, 6, false), 9);
	mt_get_stats(&t, &st, &count);
	CHECK_EQ(count, 3);
	CHECK_EQ(st.learned, 3);
	CHECK_EQ(st.moved, 1);
	CHECK_EQ(mt_flush(&t), 3);
	CHECK_EQ(mt_lookup(&t, a, 6, false), -1);
	mt_get_stats(&t, &st, &count);
	CHECK_EQ(count, 0);
	CHECK_EQ(st.flushed, 3);
	mt_destroy(&t);
}

struct walk_seen {
	int n;
	uint64_t key[8];
	uint16_t port[8], age[8];
};

static int walk_fn(void *opaque, uint64_t key, uint16_t port, uint16_t age)
{
	struct walk_seen *w = opaque;

	if (w->n < 8) {
		w->key[w->n] = key;
		w->port[w->n] = port;
		w->age[w->n] = age;
	}
	w->n++;
	return 0;
}

static void test_aging(void)
{
	struct mactable t;
	struct walk_seen w = { 0 };
	uint64_t src = key_n(1, 0), dst = key_n(2, 0);

	CHECK_EQ(mt_init(&t, 64, 10, 99, NULL), 0);
	/* Near the wrap of the 16-bit clock on purpose. */
	CHECK_EQ(mt_learn(&t, src, 1, 65530), MT_LEARNED);
	CHECK_EQ(mt_learn(&t, dst, 2, 65530), MT_LEARNED);
	/* A lookup as a destination does not keep dst alive... */
	CHECK_EQ(mt_lookup(&t, dst, 4, false), 2);
	/* ...a source refresh keeps src alive. */
	CHECK_EQ(mt_lookup(&t, src, 4, true), 1);
	CHECK_EQ(mt_age(&t, 5), 1);	/* 11 s after 65530: dst goes */
	CHECK_EQ(mt_lookup(&t, dst, 5, false), -1);
	CHECK_EQ(mt_lookup(&t, src, 5, false), 1);
	mt_walk(&t, 9, walk_fn, &w);
	CHECK_EQ(w.n, 1);
	CHECK_EQ(w.key[0], src);
	CHECK_EQ(w.port[0], 1);
	CHECK_EQ(w.age[0], 5);
	CHECK_EQ(mt_age(&t, 14), 0);	/* exactly `aging` old: stays */
	CHECK_EQ(mt_age(&t, 15), 1);
	CHECK_EQ(mt_lookup(&t, src, 15, false), -1);
	mt_destroy(&t);
}

static void test_flush_port(void)
{
	struct mactable t;

	CHECK_EQ(mt_init(&t, 256, 300, 7, NULL), 0);
	for (uint32_t i = 0; i < 30; i++)
		CHECK_EQ(mt_learn(&t, key_n(i, 0), (uint16_t)(i % 3), 1),
			 MT_LEARNED);
	CHECK_EQ(mt_flush_port(&t, 1), 10);
	for (uint32_t i = 0; i < 30; i++)
		CHECK_EQ(mt_lookup(&t, key_n(i, 0), 1, false),
			 i % 3 == 1 ? -1 : (int)(i % 3));
	mt_destroy(&t);
}

/* With 2 buckets, every key's chain covers the whole table: it fills,
 * lookups cross buckets through the overflow marks, and removals clear
 * the marks again. */
static void test_full_and_overflow(void)
{
	struct mactable t;
	struct mt_stats st;
	int learned = 0;

	CHECK_EQ(mt_init(&t, MT_MIN_ENTRIES, 300, 3, NULL), 0);
	CHECK_EQ(t.nbuckets, 2);
	for (uint32_t i = 0; i < 8; i++)
		learned += mt_learn(&t, key_n(i, 0), (uint16_t)i, 1) ==
			   MT_LEARNED;
	CHECK_EQ(learned, 8);
	CHECK_EQ(mt_learn(&t, key_n(100, 0), 100, 1), MT_FULL);
	mt_get_stats(&t, &st, NULL);
	CHECK_EQ(st.full, 1);
	/* Every key found wherever it went. */
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ(mt_lookup(&t, key_n(i, 0), 1, false), (int)i);
	CHECK(t.b[0].overflow || t.b[1].overflow);
	/* Remove all but the keys that live at home: marks go away. */
	for (uint16_t i = 0; i < 8; i++) {
		uint64_t k = key_n(i, 0);
		uint32_t home = mt_home(&t, k);
		bool at_home = false;

		for (int w = 0; w < MT_WAYS; w++)
			at_home |= t.b[home].key[w] == k;
		if (!at_home)
			CHECK_EQ(mt_flush_port(&t, i), 1);
	}
	CHECK(!t.b[0].overflow && !t.b[1].overflow);
	mt_destroy(&t);
}

static void test_busy(void)
{
	struct mactable t;
	struct mt_stats st;

	CHECK_EQ(mt_init(&t, 64, 300, 5, NULL), 0);
	t.wlock = 1;	/* another writer inside */
	CHECK_EQ(mt_learn(&t, key_n(1, 0), 1, 1), MT_BUSY);
	CHECK_EQ(mt_lookup(&t, key_n(1, 0), 1, false), -1);
	mt_get_stats(&t, &st, NULL);
	CHECK_EQ(st.busy, 1);
	t.wlock = 0;
	CHECK_EQ(mt_learn(&t, key_n(1, 0), 1, 1), MT_LEARNED);
	mt_destroy(&t);
}

/* Readers look up keys whose port is a function of the key while a writer
 * moves them between ports that keep that property, adds and removes
 * others: a reader must never see a port that is not one of its key's. */
#define RACE_KEYS 64
#define RACE_ROUNDS 20000

struct race {
	struct mactable t;
	bool stop;
	unsigned long wrong, hits, passes;
};

/* Key i is always on port i or i + 1000 (a move flips between them). */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	unsigned long wrong = 0, hits = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		for (uint32_t i = 0; i < RACE_KEYS; i++) {
			int p = mt_lookup(&r->t, key_n(i, 0), 1, true);

			if (p < 0)
				continue;
			hits++;
			if (p != (int)i && p != (int)i + 1000)
				wrong++;
		}
		__atomic_fetch_add(&r->passes, 1, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&r->wrong, wrong, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->hits, hits, __ATOMIC_RELAXED);
	return NULL;
}

static void test_race(void)
{
	struct race r = { 0 };
	pthread_t th[2];

	/* A small table: keys share buckets and chains overflow. */
	CHECK_EQ(mt_init(&r.t, 64, 300, 11, NULL), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, race_reader, &r), 0);
	/* Until both readers have had a fair share of the writer's time. */
	for (uint32_t round = 0; round < RACE_ROUNDS ||
	     __atomic_load_n(&r.passes, __ATOMIC_RELAXED) < 2000; round++) {
		uint32_t i = round % RACE_KEYS;

		while (mt_learn(&r.t, key_n(i, 0),
				(uint16_t)(i + (round / RACE_KEYS % 2) * 1000),
				1) == MT_BUSY)
			;
		if (round % 97 == 0)
			mt_flush_port(&r.t, (uint16_t)(round % RACE_KEYS));
		if (round % 1001 == 0)
			mt_flush(&r.t);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(r.wrong, 0);
	CHECK(r.hits > 0);
	mt_destroy(&r.t);
}

/* A reader that meets a bucket in the middle of a write waits for the
 * writer and then sees the finished entry, never the half-written one. */
struct waiter {
	const struct mactable *t;
	uint64_t key;
	int port;
	bool done;
};

static void *wait_lookup(void *arg)
{
	struct waiter *w = arg;

	w->port = mt_lookup(w->t, w->key, 1, false);
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void test_reader_waits_for_writer(void)
{
	struct mactable t;
	struct waiter wt = { .t = &t, .key = key_n(7, 0) };
	struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
	struct mt_bucket *b;
	pthread_t th;
	int way = -1;

	CHECK_EQ(mt_init(&t, 64, 300, 13, NULL), 0);
	CHECK_EQ(mt_learn(&t, wt.key, 1, 1), MT_LEARNED);
	b = &t.b[mt_home(&t, wt.key)];
	for (int w = 0; w < MT_WAYS; w++)
		if (b->key[w] == wt.key)
			way = w;
	CHECK(way >= 0);
	if (way < 0)
		return;
	/* A writer inside (count odd) has written half of a move. */
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
	b->port[way] = 999;
	CHECK_EQ(pthread_create(&th, NULL, wait_lookup, &wt), 0);
	nanosleep(&ts, NULL);
	CHECK(!__atomic_load_n(&wt.done, __ATOMIC_ACQUIRE));
	b->port[way] = 2;
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_EQ(wt.port, 2);
	mt_destroy(&t);
}

int main(void)
{
	test_keys();
	test_init_limits();
	test_learn_lookup();
	test_aging();
	test_flush_port();
	test_full_and_overflow();
	test_busy();
	test_reader_waits_for_writer();
	test_race();
	return check_done("test_switch_mactable");
}
