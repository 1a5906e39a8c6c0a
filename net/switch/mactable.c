/* tern-switch's learning table (see mactable.h). */
#include "net/switch/mactable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t buckets_for(uint32_t entries)
{
	uint32_t n = 2;

	while (n * MT_WAYS < entries)
		n <<= 1;
	return n;
}

/* splitmix64's finaliser: any seed, even a small one, gives a multiplier
 * with bits all over. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

size_t mt_mem_size(uint32_t entries)
{
	return (size_t)buckets_for(entries) * sizeof(struct mt_bucket);
}

int mt_init(struct mactable *t, uint32_t entries, uint32_t aging,
	    uint64_t seed, void *mem)
{
	uint32_t n;

	if (entries < MT_MIN_ENTRIES || entries > MT_MAX_ENTRIES ||
	    aging < 1 || aging > MT_MAX_AGING)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	n = buckets_for(entries);
	t->nbuckets = n;
	t->shift = 64 - (unsigned int)__builtin_ctz(n);
	t->mult = mix(seed) | 1;
	t->aging = aging;
	t->need = calloc(n, 1);
	if (!t->need)
		return -ENOMEM;
	if (mem) {
		t->b = mem;
	} else {
		t->b = aligned_alloc(64, mt_mem_size(entries));
		if (!t->b) {
			free(t->need);
			return -ENOMEM;
		}
		memset(t->b, 0, mt_mem_size(entries));
		t->own_mem = true;
	}
	return 0;
}

void mt_destroy(struct mactable *t)
{
	if (t->own_mem)
		free(t->b);
	free(t->need);
	t->b = NULL;
	t->need = NULL;
}

static bool wlock_try(struct mactable *t)
{
	uint32_t expect = 0;

	return __atomic_compare_exchange_n(&t->wlock, &expect, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void wlock_take(struct mactable *t)
{
	while (!wlock_try(t))
		mt_cpu_relax();
}

static void wlock_drop(struct mactable *t)
{
	__atomic_store_n(&t->wlock, 0, __ATOMIC_RELEASE);
}

/* A writer's change of bucket B: the count goes odd before any field
 * changes and even after all did; see mt_lookup for the reader's side. */
static void mt_wbegin(struct mt_bucket *b)
{
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELAXED);
	/* Orders the odd count before the field stores that follow; pairs
	 * with the reader's acquire fence before its second load of seq. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void mt_wend(struct mt_bucket *b)
{
	/* Pairs with the reader's acquire load of seq: the field stores
	 * above are visible once the even count is. */
	__atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
}

static void bump(uint64_t *c)
{
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

/* Under wlock: where KEY is, as bucket index and way; false if absent. */
static bool find_locked(const struct mactable *t, uint64_t key, uint32_t *bi,
			int *way)
{
	uint32_t i = mt_home(t, key);

	for (int probe = 0; probe < MT_MAX_PROBE; probe++) {
		const struct mt_bucket *b = &t->b[i];

		for (int w = 0; w < MT_WAYS; w++)
			if (b->key[w] == key) {
				*bi = i;
				*way = w;
				return true;
			}
		if (!b->overflow)
			return false;
		i = (i + 1) & (t->nbuckets - 1);
	}
	return false;
}

enum mt_learn_result mt_learn(struct mactable *t, uint64_t key,
			      uint16_t port, uint16_t now)
{
	enum mt_learn_result res;
	struct mt_bucket *b;
	uint32_t i, home;
	int way;

	if (!wlock_try(t)) {
		/* Racy by design: an estimate for the operator. */
		__atomic_fetch_add(&t->st.busy, 1, __ATOMIC_RELAXED);
		return MT_BUSY;
	}
	if (find_locked(t, key, &i, &way)) {
		b = &t->b[i];
		if (b->port[way] == port) {
			__atomic_store_n(&b->seen[way], now, __ATOMIC_RELAXED);
			res = MT_KNOWN;
			goto out;
		}
		mt_wbegin(b);
		__atomic_store_n(&b->port[way], port, __ATOMIC_RELAXED);
		__atomic_store_n(&b->seen[way], now, __ATOMIC_RELAXED);
		mt_wend(b);
		bump(&t->st.moved);
		res = MT_MOVED;
		goto out;
	}
	home = i = mt_home(t, key);
	for (int probe = 0; probe < MT_MAX_PROBE; probe++) {
		b = &t->b[i];
		for (way = 0; way < MT_WAYS; way++)
			if (!b->key[way])
				break;
		if (way < MT_WAYS) {
			/* Mark the buckets passed before the key appears, so
			 * a reader that finds it also finds the way there. */
			for (uint32_t j = home; j != i;
			     j = (j + 1) & (t->nbuckets - 1)) {
				if (t->b[j].overflow)
					continue;
				mt_wbegin(&t->b[j]);
				__atomic_store_n(&t->b[j].overflow, 1,
						 __ATOMIC_RELAXED);
				mt_wend(&t->b[j]);
			}
			mt_wbegin(b);
			__atomic_store_n(&b->port[way], port, __ATOMIC_RELAXED);
			__atomic_store_n(&b->seen[way], now, __ATOMIC_RELAXED);
			__atomic_store_n(&b->key[way], key, __ATOMIC_RELAXED);
			mt_wend(b);
			__atomic_store_n(&t->count, t->count + 1,
					 __ATOMIC_RELAXED);
			bump(&t->st.learned);
			res = MT_LEARNED;
			goto out;
		}
		i = (i + 1) & (t->nbuckets - 1);
	}
	bump(&t->st.full);
	res = MT_FULL;
out:
	wlock_drop(t);
	return res;
}

/* Under wlock: removes the entries KEEP says no to, then sets every
 * bucket's overflow mark to what the remaining entries need. */
static uint32_t sweep_locked(struct mactable *t,
			     bool (*keep)(const struct mactable *t,
					  const struct mt_bucket *b, int way,
					  uintptr_t arg),
			     uintptr_t arg)
{
	uint32_t gone = 0;

	memset(t->need, 0, t->nbuckets);
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct mt_bucket *b = &t->b[i];

		for (int w = 0; w < MT_WAYS; w++) {
			if (!b->key[w])
				continue;
			if (!keep(t, b, w, arg)) {
				mt_wbegin(b);
				__atomic_store_n(&b->key[w], 0,
						 __ATOMIC_RELAXED);
				mt_wend(b);
				gone++;
				continue;
			}
			for (uint32_t j = mt_home(t, b->key[w]); j != i;
			     j = (j + 1) & (t->nbuckets - 1))
				t->need[j] = 1;
		}
	}
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct mt_bucket *b = &t->b[i];

		if (b->overflow == t->need[i])
			continue;
		mt_wbegin(b);
		__atomic_store_n(&b->overflow, t->need[i], __ATOMIC_RELAXED);
		mt_wend(b);
	}
	__atomic_store_n(&t->count, t->count - gone, __ATOMIC_RELAXED);
	return gone;
}

static bool keep_young(const struct mactable *t, const struct mt_bucket *b,
		       int way, uintptr_t now)
{
	uint16_t seen = __atomic_load_n(&b->seen[way], __ATOMIC_RELAXED);

	return (uint16_t)((uint16_t)now - seen) <= t->aging;
}

static bool keep_other_port(const struct mactable *t,
			    const struct mt_bucket *b, int way, uintptr_t port)
{
	return b->port[way] != port;
}

static bool keep_none(const struct mactable *t, const struct mt_bucket *b,
		      int way, uintptr_t arg)
{
	return false;
}

uint32_t mt_age(struct mactable *t, uint16_t now)
{
	uint32_t n;

	wlock_take(t);
	n = sweep_locked(t, keep_young, now);
	__atomic_store_n(&t->st.aged, t->st.aged + n, __ATOMIC_RELAXED);
	wlock_drop(t);
	return n;
}

uint32_t mt_flush_port(struct mactable *t, uint16_t port)
{
	uint32_t n;

	wlock_take(t);
	n = sweep_locked(t, keep_other_port, port);
	__atomic_store_n(&t->st.flushed, t->st.flushed + n, __ATOMIC_RELAXED);
	wlock_drop(t);
	return n;
}

uint32_t mt_flush(struct mactable *t)
{
	uint32_t n;

	wlock_take(t);
	n = sweep_locked(t, keep_none, 0);
	__atomic_store_n(&t->st.flushed, t->st.flushed + n, __ATOMIC_RELAXED);
	wlock_drop(t);
	return n;
}

int mt_walk(struct mactable *t, uint16_t now,
	    int (*fn)(void *opaque, uint64_t key, uint16_t port, uint16_t age),
	    void *opaque)
{
	int ret = 0;

	wlock_take(t);
	for (uint32_t i = 0; i < t->nbuckets && !ret; i++) {
		const struct mt_bucket *b = &t->b[i];

		for (int w = 0; w < MT_WAYS && !ret; w++) {
			uint16_t seen;

			if (!b->key[w])
				continue;
			seen = __atomic_load_n(&b->seen[w], __ATOMIC_RELAXED);
			ret = fn(opaque, b->key[w], b->port[w],
				 (uint16_t)(now - seen));
		}
	}
	wlock_drop(t);
	return ret;
}

void mt_get_stats(const struct mactable *t, struct mt_stats *st,
		  uint32_t *count)
{
	st->learned = __atomic_load_n(&t->st.learned, __ATOMIC_RELAXED);
	st->moved = __atomic_load_n(&t->st.moved, __ATOMIC_RELAXED);
	st->aged = __atomic_load_n(&t->st.aged, __ATOMIC_RELAXED);
	st->flushed = __atomic_load_n(&t->st.flushed, __ATOMIC_RELAXED);
	st->full = __atomic_load_n(&t->st.full, __ATOMIC_RELAXED);
	st->busy = __atomic_load_n(&t->st.busy, __ATOMIC_RELAXED);
	if (count)
		*count = __atomic_load_n(&t->count, __ATOMIC_RELAXED);
}
