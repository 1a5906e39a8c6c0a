/* tern-switch's learning table: (MAC, VLAN) -> port, with aging. Plain C
 * (no DPDK), so the unit tests and the fuzzers use it as the switch does.
 *
 * Layout: buckets of MT_WAYS entries, one cache line each, holding the
 * keys, their ports and when each was last seen (seconds, mod 2^16). A
 * key hashes (multiply-shift with a secret odd multiplier, so a guest
 * cannot aim its source addresses at one bucket) to its home bucket; when
 * that is full it goes to one of the next MT_MAX_PROBE - 1 buckets and the
 * buckets it passed are marked `overflow`, so lookups go on past a bucket
 * only when it overflowed. A table whose chain is full learns nothing more
 * for that key (counted as `full`): frames to it are flooded, as by any
 * switch whose table is full, until entries age out.
 *
 * Concurrency: any number of readers (the forwarding lcores: mt_lookup)
 * run beside one writer at a time. Each bucket has a sequence count, odd
 * while a writer changes it; a reader that saw it change reads the bucket
 * again, so it never pairs one key with another key's port. Writers take
 * `wlock`: mt_learn only tries it (a forwarding lcore never waits; the
 * next frame from that address learns again), mt_age, mt_flush_port and
 * mt_flush (control thread) spin on it. A reader that finds its key
 * refreshes `seen` itself (a plain store, at most once a second per
 * entry); should the writer have reused that slot meanwhile, the newcomer
 * looks a little younger, nothing worse. */
#ifndef TERN_NET_SWITCH_MACTABLE_H
#define TERN_NET_SWITCH_MACTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_WAYS 4
#define MT_MAX_PROBE 4		/* buckets a key may live in */
#define MT_KEY_VALID (1ULL << 63)
#define MT_MIN_ENTRIES 8
#define MT_MAX_ENTRIES (1U << 24)
#define MT_MAX_AGING 3600	/* seconds; `seen` wraps at 2^16 */

struct mt_bucket {
	uint32_t seq;			/* odd while a writer is inside */
	uint8_t overflow;		/* a key homed here lives further on */
	uint8_t pad0[3];
	uint64_t key[MT_WAYS];		/* 0: free */
	uint16_t port[MT_WAYS];
	uint16_t seen[MT_WAYS];
	uint8_t pad1[8];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct mt_bucket) == 64, "one cache line a bucket");

struct mt_stats {
	uint64_t learned;	/* new keys */
	uint64_t moved;		/* a known key seen on another port */
	uint64_t aged;		/* removed by mt_age */
	uint64_t flushed;	/* removed by mt_flush_port/mt_flush */
	uint64_t full;		/* keys not learned: their chain was full */
	uint64_t busy;		/* mt_learn found another writer inside */
};

struct mactable {
	struct mt_bucket *b;
	uint32_t nbuckets;
	unsigned int shift;	/* 64 - log2(nbuckets) */
	uint64_t mult;		/* odd, from the seed */
	uint32_t aging;		/* seconds */
	uint32_t count;		/* live entries (writers only) */
	uint8_t *need;		/* mt_age's scratch: overflow flags to be */
	uint32_t wlock;		/* atomic: 1 while a writer is inside */
	struct mt_stats st;	/* writers only; read with relaxed loads */
	bool own_mem;
};

/* Bytes of bucket memory for ENTRIES (rounded up to a power of two
 * buckets): callers may hand mt_init their own (cache-line aligned,
 * zeroed) memory, e.g. hugepage memory on the lcores' NUMA node. */
size_t mt_mem_size(uint32_t entries);

/* ENTRIES in [MT_MIN_ENTRIES, MT_MAX_ENTRIES], AGING seconds in [1,
 * MT_MAX_AGING], SEED any (mixed into the odd hash multiplier). MEM: NULL
 * (allocated here) or mt_mem_size(ENTRIES) zeroed bytes aligned to 64.
 * 0 or -EINVAL/-ENOMEM. */
int mt_init(struct mactable *t, uint32_t entries, uint32_t aging,
	    uint64_t seed, void *mem);
/* Frees what mt_init allocated (not caller-given memory). */
void mt_destroy(struct mactable *t);

/* The key of MAC (6 bytes, network order) in VLAN (0..4095). */
static inline uint64_t mt_key(const uint8_t *mac, uint16_t vlan)
{
	return MT_KEY_VALID | (uint64_t)(vlan & 0xfff) << 48 |
	       (uint64_t)mac[0] << 40 | (uint64_t)mac[1] << 32 |
	       (uint64_t)mac[2] << 24 | (uint64_t)mac[3] << 16 |
	       (uint64_t)mac[4] << 8 | mac[5];
}

static inline void mt_key_mac(uint64_t key, uint8_t *mac)
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(key >> (40 - 8 * i));
}

static inline uint16_t mt_key_vlan(uint64_t key)
{
	return (uint16_t)(key >> 48) & 0xfff;
}

static inline void mt_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline uint32_t mt_home(const struct mactable *t, uint64_t key)
{
	return (uint32_t)((key * t->mult) >> t->shift);
}

/* The port KEY was last seen on, or -1. With REFRESH (KEY is a frame's
 * source), stores NOW as the entry's `seen` when it differs: only
 * sources keep an entry alive. Lock-free; any thread. */
static inline int mt_lookup(const struct mactable *t, uint64_t key,
			    uint16_t now, bool refresh)
{
	uint32_t i = mt_home(t, key);

	for (int probe = 0; probe < MT_MAX_PROBE; probe++) {
		struct mt_bucket *b = &t->b[i];
		uint32_t s1, s2;
		int port = -1, way = -1;
		bool more = false;

		do {
			/* Pairs with the release stores of seq in mt_wbegin/
			 * mt_wend: a count seen even and unchanged around the
			 * reads below means no writer touched them. */
			s1 = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
			if (s1 & 1) {
				mt_cpu_relax();
				s2 = s1 + 1;
				continue;
			}
			port = -1;
			way = -1;
			for (int w = 0; w < MT_WAYS; w++)
				if (__atomic_load_n(&b->key[w],
						    __ATOMIC_RELAXED) == key) {
					port = __atomic_load_n(&b->port[w],
							       __ATOMIC_RELAXED);
					way = w;
					break;
				}
			more = __atomic_load_n(&b->overflow, __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(&b->seq, __ATOMIC_RELAXED);
		} while (s1 != s2);
		if (way >= 0) {
			if (refresh && __atomic_load_n(&b->seen[way],
						       __ATOMIC_RELAXED) != now)
				__atomic_store_n(&b->seen[way], now,
						 __ATOMIC_RELAXED);
			return port;
		}
		if (!more)
			break;
		i = (i + 1) & (t->nbuckets - 1);
	}
	return -1;
}

enum mt_learn_result {
	MT_KNOWN,	/* already there on PORT (seen refreshed) */
	MT_LEARNED,	/* new entry */
	MT_MOVED,	/* was on another port, now PORT */
	MT_BUSY,	/* another writer was inside: nothing done */
	MT_FULL,	/* no room in the key's chain */
};

/* KEY is on PORT as of NOW. Never waits (see MT_BUSY). */
enum mt_learn_result mt_learn(struct mactable *t, uint64_t key,
			      uint16_t port, uint16_t now);

/* Removes entries not seen for more than t->aging seconds by NOW and
 * recomputes the overflow marks. Returns how many went. Waits for the
 * writer lock. Call at least every few minutes (`seen` wraps at 2^16 s). */
uint32_t mt_age(struct mactable *t, uint16_t now);
/* Removes PORT's entries (the port went away). Returns how many. */
uint32_t mt_flush_port(struct mactable *t, uint16_t port);
/* Removes every entry. Returns how many. */
uint32_t mt_flush(struct mactable *t);

/* Calls FN for every live entry (AGE in seconds as of NOW), holding the
 * writer lock; FN returning non-zero stops the walk. Returns FN's last
 * result. */
int mt_walk(struct mactable *t, uint16_t now,
	    int (*fn)(void *opaque, uint64_t key, uint16_t port, uint16_t age),
	    void *opaque);

/* A copy of the counters (relaxed loads: any thread). */
void mt_get_stats(const struct mactable *t, struct mt_stats *st,
		  uint32_t *count);

#endif
