/* Virtqueues (split and packed) against a fake driver that lays out rings in
 * guest RAM the way the spec tells a driver to: chains of every shape, each
 * ring rule broken on its own (the queue must stay broken until virtq_init),
 * ring placement checks, interrupt suppression (flags, EVENT_IDX, packed
 * event suppression), kick suppression and its re-arm race, 16-bit index
 * wrap-around, and a two-thread run where a lost wakeup shows as a timeout. */
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/memory.h"
#include "virtio/queue.h"
#include "tests/fake_ring_core.h"
#include "tests/unit/check.h"

#define RAM_SIZE (64ULL << 20)
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x20000ULL
#define USED_GPA 0x30000ULL
#define IND_GPA 0x40000ULL	/* indirect tables: up to 0x4400 bytes each */
#define IND2_GPA 0x48000ULL
#define DATA_GPA 0x100000ULL
#define DATA_END 0x800000ULL
#define MAX_CHAIN 8		/* segments of a chain built from a list */

#define F_IND (1ULL << VIRTIO_F_INDIRECT_DESC)
#define F_EVT (1ULL << VIRTIO_F_EVENT_IDX)
#define F_PACKED (1ULL << VIRTIO_F_RING_PACKED)

/* The fake driver: guest RAM and one queue in it. A segment's gpa 0
 * asks for a fresh buffer. */
struct drv {
	struct guest_mem mem;
	struct fq q;
	uint16_t start;
	uint64_t features;
	uint64_t next_data;
};

static void *gp(struct drv *d, uint64_t gpa)
{
	void *p = guest_mem_ptr(&d->mem, gpa, 1);

	if (!p)
		abort();
	return p;
}

/* Fresh rings: what a driver sets up before DRIVER_OK. */
static void drv_reset(struct drv *d, uint16_t num, uint64_t features,
		      uint16_t start)
{
	memset(gp(d, DESC_GPA), 0, DATA_GPA - DESC_GPA);
	d->start = start;
	d->features = features;
	d->next_data = DATA_GPA;
	CHECK_EQ(fq_attach(&d->q, num, features & F_PACKED, gp(d, DESC_GPA),
			   gp(d, AVAIL_GPA), gp(d, USED_GPA), start), 0);
	d->q.avail->idx = start;
	d->q.used->idx = start;
}

static int q_init(struct drv *d, struct virtq *q)
{
	return virtq_init(q, "test q0", &d->mem, d->q.num, DESC_GPA, AVAIL_GPA,
			  USED_GPA, d->features, d->start);
}

static void setup(struct drv *d, struct virtq *q, uint16_t num,
		  uint64_t features, uint16_t start)
{
	drv_reset(d, num, features, start);
	CHECK_EQ(q_init(d, q), 0);
	CHECK(!q->broken);
}

/* A data buffer filled with a pattern derived from its address. */
static uint64_t buf(struct drv *d, uint32_t len)
{
	uint64_t g = d->next_data;
	uint8_t *p = gp(d, g);

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(g + i * 7);
	d->next_data = (d->next_data + len + 15) & ~15ULL;
	if (d->next_data >= DATA_END)
		d->next_data = DATA_GPA;
	return g;
}

static void sdesc(struct drv *d, uint16_t i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	fq_put_desc(d->q.desc, i, addr, len, flags, next);
}

/* Descriptor i of an indirect table at gpa t. */
static void idesc(struct drv *d, uint64_t t, unsigned int i, uint64_t addr,
		  uint32_t len, uint16_t flags, uint16_t next)
{
	fq_put_desc(gp(d, t), i, addr, len, flags, next);
}

/* s copied to out, with a fresh buffer for each segment at gpa 0; every
 * segment's gpa to gpas too (when not NULL). */
static struct seg *fresh(struct drv *d, const struct seg *s, unsigned int n,
			 struct seg *out, uint64_t *gpas)
{
	if (n > MAX_CHAIN)
		abort();
	for (unsigned int i = 0; i < n; i++) {
		out[i] = s[i];
		if (!out[i].gpa)
			out[i].gpa = buf(d, s[i].len);
		if (gpas)
			gpas[i] = out[i].gpa;
	}
	return out;
}

/* Lays out n segments as a chain of fresh descriptors and offers it. */
static uint16_t add_chain(struct drv *d, const struct seg *s, unsigned int n,
			  uint64_t *gpas)
{
	struct seg f[MAX_CHAIN];
	int head = fq_offer(&d->q, fresh(d, s, n, f, gpas), n);

	CHECK(head >= 0);
	return (uint16_t)head;
}

/* Packed: offers n segments as buffer id, with head_flags on the first. */
static void padd(struct drv *d, const struct seg *s, unsigned int n,
		 uint16_t id, uint16_t head_flags)
{
	struct seg f[MAX_CHAIN];

	CHECK_EQ(fq_packed(&d->q, fresh(d, s, n, f, NULL), n, id, head_flags),
		 id);
}

/* Takes the next used entry, either format: true when there was one. */
static bool get_used(struct drv *d, uint32_t *id, uint32_t *len,
		     uint16_t *flags)
{
	return fq_take_used(&d->q, id, len, flags) == 1;
}

static const struct seg out_in[] = { { 0, 16, false }, { 0, 8, true } };

/* One out+in chain in whichever format the queue uses. */
static void offer_simple(struct drv *d)
{
	if (d->features & F_PACKED)
		padd(d, out_in, 2, 0, 0);
	else
		add_chain(d, out_in, 2, NULL);
}

/* Broken queue: pop fails with the rule named, keeps failing, and a new
 * virtq_init over sane rings recovers. */
static void expect_broken(struct drv *d, struct virtq *q, const char *rule,
			  int line)
{
	struct virtq_chain *c = malloc(sizeof(*c));
	int ret = virtq_pop(q, c);

	if (ret != -EINVAL || !q->broken || !q->why || strcmp(q->why, rule))
		CHECK_FAIL_AT(__FILE__, line,
			      "expected \"%s\": pop %d broken %d why \"%s\"",
			      rule, ret, q->broken, q->why ? q->why : "");
	/* Stays broken, whatever the driver does next. */
	drv_reset(d, d->q.num, d->features, d->start);
	offer_simple(d);
	if (virtq_pop(q, c) != -EINVAL || virtq_enable_kicks(q))
		CHECK_FAIL_AT(__FILE__, line, "\"%s\": queue recovered by itself",
			      rule);
	/* Device reset, driver sets up again. */
	drv_reset(d, d->q.num, d->features, d->start);
	offer_simple(d);
	if (q_init(d, q) || virtq_pop(q, c) != 1 || c->nr_out != 1 ||
	    c->nr_in != 1)
		CHECK_FAIL_AT(__FILE__, line, "\"%s\": virtq_init did not recover",
			      rule);
	free(c);
}
#define EXPECT_BROKEN(d, q, rule) expect_broken(d, q, rule, __LINE__)

static void test_simple(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;
	uint64_t g[2];
	uint32_t id = 0, len = 0;
	uint16_t head;

	setup(d, &q, 8, 0, 0);
	CHECK_EQ(virtq_pop(&q, c), 0);
	head = add_chain(d, out_in, 2, g);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->head, head);
	CHECK_EQ(c->ndesc, 2);
	CHECK_EQ(c->nr_out, 1);
	CHECK_EQ(c->nr_in, 1);
	CHECK_EQ(c->out_len, 16);
	CHECK_EQ(c->in_len, 8);
	CHECK(c->iov[0].iov_base == gp(d, g[0]));
	CHECK_EQ(c->iov[0].iov_len, 16);
	CHECK(c->iov[1].iov_base == gp(d, g[1]));
	CHECK_EQ(c->iov[1].iov_len, 8);
	CHECK_EQ(((uint8_t *)c->iov[0].iov_base)[3], (uint8_t)(g[0] + 21));
	memcpy(c->iov[1].iov_base, "written", 8);
	CHECK_EQ(get_used(d, &id, &len, NULL), false);
	virtq_push(&q, c, 8);
	CHECK_EQ(get_used(d, &id, &len, NULL), true);
	CHECK_EQ(id, head);
	CHECK_EQ(len, 8);
	CHECK_STR((char *)gp(d, g[1]), "written");
	CHECK_EQ(d->q.used->idx, 1);
	CHECK_EQ(virtq_pop(&q, c), 0);
	CHECK_EQ(virtq_last_avail(&q), 1);
}

static void test_several(struct drv *d, struct virtq_chain *c)
{
	static const struct seg a[] = { { 0, 4, false } };
	static const struct seg b[] = { { 0, 32, true } };
	static const struct seg e[] = { { 0, 2, false }, { 0, 3, false },
					{ 0, 1, true }, { 0, 5, true } };
	struct virtq_chain *cs = malloc(3 * sizeof(*cs));
	struct virtq q;
	uint16_t h[3];
	uint32_t id = 0, len = 0;

	setup(d, &q, 8, 0, 0);
	h[0] = add_chain(d, a, 1, NULL);
	h[1] = add_chain(d, b, 1, NULL);
	h[2] = add_chain(d, e, 4, NULL);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(virtq_pop(&q, &cs[i]), 1);
		CHECK_EQ(cs[i].head, h[i]);
	}
	CHECK_EQ(virtq_pop(&q, c), 0);
	CHECK_EQ(cs[0].nr_out, 1);
	CHECK_EQ(cs[0].nr_in, 0);
	CHECK_EQ(cs[1].nr_out, 0);
	CHECK_EQ(cs[1].nr_in, 1);
	CHECK_EQ(cs[1].in_len, 32);
	CHECK_EQ(cs[2].ndesc, 4);
	CHECK_EQ(cs[2].nr_out, 2);
	CHECK_EQ(cs[2].nr_in, 2);
	CHECK_EQ(cs[2].out_len, 5);
	CHECK_EQ(cs[2].in_len, 6);
	CHECK_EQ(cs[2].iov[2].iov_len, 1);
	/* Completion out of order; push needs only head and ndesc, as a
	 * device that keeps just those (virtio-blk does) relies on. */
	virtq_push(&q, &cs[2], 6);
	virtq_push(&q, &cs[0], 0);
	{
		struct virtq_chain *k = malloc(sizeof(*k));

		memset(k, 0xff, sizeof(*k));
		k->head = cs[1].head;
		k->ndesc = cs[1].ndesc;
		virtq_push(&q, k, 32);
		free(k);
	}
	CHECK(get_used(d, &id, &len, NULL));
	CHECK_EQ(id, h[2]);
	CHECK_EQ(len, 6);
	CHECK(get_used(d, &id, &len, NULL));
	CHECK_EQ(id, h[0]);
	CHECK_EQ(len, 0);
	CHECK(get_used(d, &id, &len, NULL));
	CHECK_EQ(id, h[1]);
	CHECK_EQ(len, 32);
	CHECK(!get_used(d, &id, &len, NULL));
	free(cs);
}

static void test_indirect(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;
	uint64_t b0, b1, b2;

	setup(d, &q, 8, F_IND, 0);
	b0 = buf(d, 10);
	b1 = buf(d, 20);
	b2 = buf(d, 30);
	/* Table order 0 -> 2 -> 1: next links count, not table order. */
	idesc(d, IND_GPA, 0, b0, 10, VIRTQ_DESC_F_NEXT, 2);
	idesc(d, IND_GPA, 2, b1, 20, VIRTQ_DESC_F_NEXT, 1);
	idesc(d, IND_GPA, 1, b2, 30, VIRTQ_DESC_F_WRITE, 0);
	/* WRITE on the indirect descriptor itself must be ignored. */
	sdesc(d, 5, IND_GPA, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	fq_publish(&d->q, 5);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->head, 5);
	CHECK_EQ(c->ndesc, 1);
	CHECK_EQ(c->nr_out, 2);
	CHECK_EQ(c->nr_in, 1);
	CHECK(c->iov[0].iov_base == gp(d, b0));
	CHECK(c->iov[1].iov_base == gp(d, b1));
	CHECK(c->iov[2].iov_base == gp(d, b2));
	CHECK_EQ(c->out_len, 30);
	CHECK_EQ(c->in_len, 30);

	/* Direct descriptors, then one indirect at the end (spec: MUST
	 * handle). A zero-length descriptor is a zero-length segment. */
	/* Indirect tables have no alignment promised: this one is odd. */
	idesc(d, IND2_GPA + 1, 0, b2, 7, VIRTQ_DESC_F_WRITE, 0);
	sdesc(d, 1, b0, 0, VIRTQ_DESC_F_NEXT, 2);
	sdesc(d, 2, b1, 3, VIRTQ_DESC_F_NEXT, 3);
	sdesc(d, 3, IND2_GPA + 1, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 1);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->head, 1);
	CHECK_EQ(c->ndesc, 3);
	CHECK_EQ(c->nr_out, 2);
	CHECK_EQ(c->nr_in, 1);
	CHECK_EQ(c->iov[0].iov_len, 0);
	CHECK_EQ(c->out_len, 3);
	CHECK_EQ(c->in_len, 7);
}

/* The largest chains we take: VIRTQ_MAX_SEGS segments, 2^32-1 bytes. */
static void test_limits(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;

	setup(d, &q, 2, F_IND, 0);
	for (unsigned int i = 0; i < VIRTQ_MAX_SEGS; i++)
		idesc(d, IND_GPA, i, DATA_GPA, 1,
		      i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	sdesc(d, 0, IND_GPA, 16 * VIRTQ_MAX_SEGS, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->nr_out, VIRTQ_MAX_SEGS);

	setup(d, &q, 2, F_IND, 0);
	for (unsigned int i = 0; i < 64; i++)
		idesc(d, IND_GPA, i, 0,
		      i == 63 ? RAM_SIZE - 1 : RAM_SIZE,
		      i < 63 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	sdesc(d, 0, IND_GPA, 16 * 64, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->out_len, UINT32_MAX);
}

/* Each rule virtq_pop enforces, broken on its own. */
static void test_rules(struct drv *d)
{
	struct virtq q;

	setup(d, &q, 8, 0, 0);
	d->q.avail->idx = 9;
	EXPECT_BROKEN(d, &q, "avail idx jumped");

	/* Going backwards is a jump of almost 2^16. */
	setup(d, &q, 8, 0, 0);
	d->q.avail->idx = 0xffff;
	EXPECT_BROKEN(d, &q, "avail idx jumped");

	setup(d, &q, 8, 0, 0);
	fq_publish(&d->q, 8);
	EXPECT_BROKEN(d, &q, "head index out of range");

	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 8);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "next index out of range");

	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	sdesc(d, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "descriptor chain loops");

	setup(d, &q, 2, 0, 0);
	sdesc(d, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 0);	/* itself */
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "descriptor chain loops");

	/* Crosses the end of RAM; starts past it; addr+len wraps 2^64. */
	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, RAM_SIZE - 4, 8, 0, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "buffer outside guest RAM");
	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, RAM_SIZE, 1, 0, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "buffer outside guest RAM");
	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, ~0ULL - 3, 8, VIRTQ_DESC_F_WRITE, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "buffer outside guest RAM");
	/* The last byte of RAM is fine. */
	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, RAM_SIZE - 1, 1, 0, 0);
	fq_publish(&d->q, 0);
	{
		struct virtq_chain *c = malloc(sizeof(*c));

		CHECK_EQ(virtq_pop(&q, c), 1);
		free(c);
	}

	setup(d, &q, 8, 0, 0);
	sdesc(d, 0, DATA_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	sdesc(d, 1, DATA_GPA, 4, 0, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "readable after writable");

	setup(d, &q, 8, 0, 0);
	idesc(d, IND_GPA, 0, DATA_GPA, 4, 0, 0);
	sdesc(d, 0, IND_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "indirect not negotiated");

	setup(d, &q, 8, F_IND, 0);
	idesc(d, IND_GPA, 0, DATA_GPA, 4, 0, 0);
	sdesc(d, 0, IND_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	sdesc(d, 1, DATA_GPA, 4, 0, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "indirect with next");

	static const uint32_t bad_len[] = { 0, 24, 8, 16 * (VIRTQ_MAX_SEGS + 1) };
	for (unsigned int i = 0; i < 4; i++) {
		setup(d, &q, 8, F_IND, 0);
		sdesc(d, 0, IND_GPA, bad_len[i], VIRTQ_DESC_F_INDIRECT, 0);
		fq_publish(&d->q, 0);
		EXPECT_BROKEN(d, &q, "bad indirect table length");
	}

	setup(d, &q, 8, F_IND, 0);
	sdesc(d, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "indirect table outside guest RAM");

	setup(d, &q, 8, F_IND, 0);
	idesc(d, IND_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	idesc(d, IND_GPA, 1, IND2_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	idesc(d, IND2_GPA, 0, DATA_GPA, 4, 0, 0);
	sdesc(d, 0, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "nested indirect");

	/* next and loops are checked against the indirect table's size. */
	setup(d, &q, 8, F_IND, 0);
	idesc(d, IND_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
	sdesc(d, 0, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "next index out of range");
	setup(d, &q, 8, F_IND, 0);
	idesc(d, IND_GPA, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	idesc(d, IND_GPA, 1, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
	sdesc(d, 0, IND_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "descriptor chain loops");

	/* One direct segment plus a full indirect table: one too many. */
	setup(d, &q, 2, F_IND, 0);
	for (unsigned int i = 0; i < VIRTQ_MAX_SEGS; i++)
		idesc(d, IND_GPA, i, DATA_GPA, 1,
		      i + 1 < VIRTQ_MAX_SEGS ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	sdesc(d, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	sdesc(d, 1, IND_GPA, 16 * VIRTQ_MAX_SEGS, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "too many segments");

	/* 64 buffers of all RAM each: 2^32 bytes, one too many. */
	setup(d, &q, 2, F_IND, 0);
	for (unsigned int i = 0; i < 64; i++)
		idesc(d, IND_GPA, i, 0, RAM_SIZE,
		      i < 63 ? VIRTQ_DESC_F_NEXT : VIRTQ_DESC_F_WRITE, i + 1);
	sdesc(d, 0, IND_GPA, 16 * 64, VIRTQ_DESC_F_INDIRECT, 0);
	fq_publish(&d->q, 0);
	EXPECT_BROKEN(d, &q, "chain length overflows 32 bits");

	/* A violation after good chains: those stay popped, the rest is
	 * refused. */
	setup(d, &q, 8, 0, 0);
	{
		struct virtq_chain *c = malloc(sizeof(*c));

		add_chain(d, out_in, 2, NULL);
		fq_publish(&d->q, 9);
		CHECK_EQ(virtq_pop(&q, c), 1);
		virtq_push(&q, c, 8);
		CHECK_EQ(virtq_pop(&q, c), -EINVAL);
		CHECK_STR(q.why, "head index out of range");
		CHECK_EQ(virtq_last_avail(&q), 1);
		free(c);
	}
}

static void expect_init_fails(struct drv *d, uint16_t num, uint64_t desc,
			      uint64_t drv_area, uint64_t dev_area,
			      uint64_t features, uint16_t start,
			      const char *rule, int line)
{
	struct virtq q;
	struct virtq_chain *c = malloc(sizeof(*c));
	int ret = virtq_init(&q, "test q0", &d->mem, num, desc, drv_area,
			     dev_area, features, start);

	if (ret != -EINVAL || !q.broken || !q.why || strcmp(q.why, rule))
		CHECK_FAIL_AT(__FILE__, line,
			      "init: expected \"%s\": ret %d why \"%s\"", rule,
			      ret, q.why ? q.why : "");
	/* A queue that failed init is inert. */
	if (virtq_pop(&q, c) != -EINVAL || virtq_need_notify(&q) ||
	    virtq_enable_kicks(&q))
		CHECK_FAIL_AT(__FILE__, line, "init failed but queue works");
	c->head = 0;
	c->ndesc = 1;
	c->in_len = 0;
	virtq_push(&q, c, 0);
	virtq_disable_kicks(&q);
	free(c);
}
#define EXPECT_INIT_FAILS(d, num, a, b, e, f, s, rule)                         \
	expect_init_fails(d, num, a, b, e, f, s, rule, __LINE__)

static void test_init_rules(struct drv *d)
{
	struct virtq q;

	drv_reset(d, 8, 0, 0);
	EXPECT_INIT_FAILS(d, 0, DESC_GPA, AVAIL_GPA, USED_GPA, 0, 0,
			  "bad queue size");
	EXPECT_INIT_FAILS(d, 3, DESC_GPA, AVAIL_GPA, USED_GPA, 0, 0,
			  "bad queue size");
	EXPECT_INIT_FAILS(d, 2048, DESC_GPA, AVAIL_GPA, USED_GPA, 0, 0,
			  "bad queue size");
	EXPECT_INIT_FAILS(d, 2048, DESC_GPA, AVAIL_GPA, USED_GPA, F_PACKED, 0,
			  "bad queue size");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0, 0,
			  "misaligned ring part");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, 0, 0,
			  "misaligned ring part");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, 0, 0,
			  "misaligned ring part");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, AVAIL_GPA + 2, USED_GPA, F_PACKED, 0,
			  "misaligned ring part");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, F_PACKED, 0,
			  "misaligned ring part");
	EXPECT_INIT_FAILS(d, 8, RAM_SIZE - 112, AVAIL_GPA, USED_GPA, 0, 0,
			  "ring outside guest RAM");
	/* Sizes include used_event / avail_event, EVENT_IDX or not. */
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, RAM_SIZE - 20, USED_GPA, 0, 0,
			  "ring outside guest RAM");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, AVAIL_GPA, RAM_SIZE - 68, 0, 0,
			  "ring outside guest RAM");
	EXPECT_INIT_FAILS(d, 8, ~0ULL - 15, AVAIL_GPA, USED_GPA, 0, 0,
			  "ring outside guest RAM");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, RAM_SIZE, USED_GPA, F_PACKED, 0,
			  "ring outside guest RAM");
	EXPECT_INIT_FAILS(d, 8, DESC_GPA, AVAIL_GPA, USED_GPA, F_PACKED, 8,
			  "bad start index");
	/* The exact fits pass. */
	CHECK_EQ(virtq_init(&q, "test q0", &d->mem, 8, RAM_SIZE - 128,
			    AVAIL_GPA, USED_GPA, 0, 0), 0);
	CHECK_EQ(virtq_init(&q, "test q0", &d->mem, 8, DESC_GPA,
			    RAM_SIZE - 22, USED_GPA, 0, 0), 0);
	CHECK_EQ(virtq_init(&q, "test q0", &d->mem, 8, DESC_GPA, AVAIL_GPA,
			    RAM_SIZE - 72, F_EVT, 0), 0);
	CHECK_EQ(virtq_init(&q, "test q0", &d->mem, 8, DESC_GPA,
			    RAM_SIZE - 4, RAM_SIZE - 8, F_PACKED, 0), 0);
	CHECK_EQ(virtq_init(&q, "test q0", &d->mem, VIRTQ_MAX_SIZE, DESC_GPA,
			    AVAIL_GPA, USED_GPA, 0, 0), 0);
	CHECK_EQ(virtq_init(&q, "test q0", &d->mem, 3, DESC_GPA, AVAIL_GPA,
			    USED_GPA, F_PACKED, 0x8002), 0);
	drv_reset(d, 8, 0, 0);
}

/* Interrupt suppression without EVENT_IDX: VIRTQ_AVAIL_F_NO_INTERRUPT. */
static void test_no_interrupt(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;

	setup(d, &q, 8, 0, 0);
	CHECK(!virtq_need_notify(&q));	/* nothing used yet */
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);
	CHECK(virtq_need_notify(&q));
	CHECK(!virtq_need_notify(&q));	/* already told */
	d->q.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);
	CHECK(!virtq_need_notify(&q));
	/* used_event means nothing without EVENT_IDX. */
	d->q.avail->flags = 0;
	*fq_used_event(&d->q) = 100;
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);
	CHECK(virtq_need_notify(&q));
}

/* EVENT_IDX: notify exactly when used->idx steps over used_event. */
static void test_event_idx(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;

	setup(d, &q, 8, F_EVT, 0);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	d->q.avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*fq_used_event(&d->q) = 0;
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);		/* used idx 0 -> 1 */
	CHECK(virtq_need_notify(&q));
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);		/* 1 -> 2, used_event 0 passed */
	CHECK(!virtq_need_notify(&q));
	*fq_used_event(&d->q) = 2;
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);		/* 2 -> 3 */
	CHECK(virtq_need_notify(&q));
	/* A batch of three (3 -> 6) covers used_event 4 but not 10. */
	*fq_used_event(&d->q) = 4;
	for (int i = 0; i < 3; i++) {
		add_chain(d, out_in, 2, NULL);
		CHECK_EQ(virtq_pop(&q, c), 1);
		virtq_push(&q, c, 0);
	}
	CHECK(virtq_need_notify(&q));
	*fq_used_event(&d->q) = 10;
	for (int i = 0; i < 3; i++) {
		add_chain(d, out_in, 2, NULL);
		CHECK_EQ(virtq_pop(&q, c), 1);
		virtq_push(&q, c, 0);
	}
	CHECK(!virtq_need_notify(&q));	/* 6 -> 9 */
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);		/* 9 -> 10: not yet past 10 */
	CHECK(!virtq_need_notify(&q));
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 0);		/* 10 -> 11 */
	CHECK(virtq_need_notify(&q));
}

/* Kick suppression and the race on re-arming it, without EVENT_IDX. */
static void test_kicks_flags(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;

	setup(d, &q, 8, 0, 0);
	d->q.used->flags = 0xffff;
	CHECK_EQ(q_init(d, &q), 0);
	CHECK_EQ(d->q.used->flags, 0);
	virtq_disable_kicks(&q);
	CHECK_EQ(d->q.used->flags, VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!virtq_enable_kicks(&q));
	CHECK_EQ(d->q.used->flags, 0);
	virtq_disable_kicks(&q);
	add_chain(d, out_in, 2, NULL);	/* arrives while kicks are off */
	CHECK(virtq_enable_kicks(&q));	/* so the caller pops again */
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK(!virtq_enable_kicks(&q));
	/* Buffers seen but not popped yet also count. */
	add_chain(d, out_in, 2, NULL);
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK(virtq_enable_kicks(&q));
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK(!virtq_enable_kicks(&q));
}

/* The same with EVENT_IDX: avail_event is the re-arm. */
static void test_kicks_event_idx(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;
	uint16_t old, *avail_event;

	setup(d, &q, 8, F_EVT, 0);
	avail_event = fq_avail_event(&d->q);
	CHECK_EQ(*avail_event, 0);
	add_chain(d, out_in, 2, NULL);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(virtq_pop(&q, c), 0);
	/* Found the ring empty: asks for a kick at the next buffer. */
	CHECK_EQ(*avail_event, 1);
	CHECK_EQ(d->q.used->flags, 0);

	virtq_disable_kicks(&q);
	old = d->q.avail_idx;
	add_chain(d, out_in, 2, NULL);
	/* The driver still kicks this once: avail_event was armed. */
	CHECK(fq_need_event(*avail_event, d->q.avail_idx, old));
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(virtq_pop(&q, c), 0);
	CHECK_EQ(*avail_event, 1);	/* not moved while disabled */
	old = d->q.avail_idx;
	add_chain(d, out_in, 2, NULL);
	/* No kick. */
	CHECK(!fq_need_event(*avail_event, d->q.avail_idx, old));
	CHECK(virtq_enable_kicks(&q));	/* and no lost wakeup */
	CHECK_EQ(*avail_event, 2);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK(!virtq_enable_kicks(&q));
	CHECK_EQ(*avail_event, 3);
	old = d->q.avail_idx;
	add_chain(d, out_in, 2, NULL);
	/* A kick. */
	CHECK(fq_need_event(*avail_event, d->q.avail_idx, old));
}

/* Indices wrap at 2^16: start near the top and run across it. */
static void test_wrap(struct drv *d)
{
	struct virtq_chain *c = malloc(3 * sizeof(*c));
	struct virtq q;
	uint16_t idx = 65533, h[2];
	uint32_t id = 0, len = 0;

	setup(d, &q, 4, F_EVT, 65533);
	for (int round = 0; round < 10; round++) {
		h[0] = add_chain(d, out_in, 2, NULL);
		h[1] = add_chain(d, out_in, 2, NULL);
		CHECK_EQ(virtq_pop(&q, &c[0]), 1);
		CHECK_EQ(virtq_pop(&q, &c[1]), 1);
		CHECK_EQ(virtq_pop(&q, &c[2]), 0);
		/* Odd rounds want an interrupt at the second push. */
		*fq_used_event(&d->q) = (uint16_t)(idx + (round & 1 ? 1 : 5));
		virtq_push(&q, &c[0], 3);
		virtq_push(&q, &c[1], 4);
		CHECK_EQ(virtq_need_notify(&q), round & 1);
		idx += 2;
		CHECK_EQ(d->q.used->idx, idx);
		CHECK_EQ(virtq_last_avail(&q), idx);
		CHECK(get_used(d, &id, &len, NULL));
		CHECK_EQ(id, h[0]);
		CHECK_EQ(len, 3);
		CHECK(get_used(d, &id, &len, NULL));
		CHECK_EQ(id, h[1]);
		CHECK_EQ(len, 4);
	}
	CHECK_EQ(idx, 17);
	/* Near the wrap a jump is still a jump. */
	setup(d, &q, 4, 0, 65534);
	d->q.avail->idx = 3;	/* 5 ahead of 65534 */
	EXPECT_BROKEN(d, &q, "avail idx jumped");
	setup(d, &q, 4, 0, 65534);
	d->q.avail->idx = 2;	/* 4 ahead: fine */
	CHECK_EQ(virtq_pop(&q, &c[0]), 1);
	free(c);
}

/* ---- packed ring ---- */

static void test_packed_basic(struct drv *d, struct virtq_chain *c)
{
	const struct seg two[] = { { 0, 8, false }, { 0, 8, true } };
	struct virtq q;
	uint16_t flags;
	uint32_t id, len;

	setup(d, &q, 5, F_PACKED, 0);
	CHECK_EQ(d->q.dev_evt->flags, RING_EVENT_FLAGS_ENABLE);
	CHECK_EQ(virtq_pop(&q, c), 0);
	padd(d, two, 2, 3, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->head, 3);
	CHECK_EQ(c->ndesc, 2);
	CHECK_EQ(c->nr_out, 1);
	CHECK_EQ(c->nr_in, 1);
	CHECK(c->iov[0].iov_base == gp(d, d->q.pdesc[0].addr));
	CHECK(c->iov[1].iov_base == gp(d, d->q.pdesc[1].addr));
	CHECK_EQ(virtq_pop(&q, c), 0);
	CHECK(!get_used(d, &id, &len, &flags));
	virtq_push(&q, c, 8);
	CHECK(get_used(d, &id, &len, &flags));
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 8);
	CHECK_EQ(flags, VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED |
			VIRTQ_DESC_F_WRITE);
	CHECK(virtq_need_notify(&q));
	CHECK(!virtq_need_notify(&q));
	CHECK_EQ(virtq_last_avail(&q), 2);

	/* Laps around an odd-sized ring: lists of 1..3 descriptors, two in
	 * flight, completed out of order; wrap counters must follow. */
	struct virtq_chain *cs = malloc(2 * sizeof(*cs));
	unsigned int popped = 0;

	for (int round = 0; round < 40; round++) {
		unsigned int n0 = 1 + round % 3, n1 = 1 + (round + 1) % 2;
		struct seg s[3] = { { 0, 4, false }, { 0, 5, false },
				    { 0, 6, true } };

		padd(d, s + 3 - n0, n0, (uint16_t)(2 * round % 5), 0);
		padd(d, s + 3 - n1, n1, (uint16_t)((2 * round + 1) % 5), 0);
		CHECK_EQ(virtq_pop(&q, &cs[0]), 1);
		CHECK_EQ(virtq_pop(&q, &cs[1]), 1);
		CHECK_EQ(virtq_pop(&q, c), 0);
		CHECK_EQ(cs[0].ndesc, n0);
		CHECK_EQ(cs[1].ndesc, n1);
		CHECK_EQ(cs[0].head, 2 * round % 5);
		CHECK_EQ(cs[1].in_len, 6);
		popped += n0 + n1;
		virtq_push(&q, &cs[1], 1);
		virtq_push(&q, &cs[0], 6);
		CHECK(get_used(d, &id, &len, NULL));
		CHECK_EQ(id, (2 * round + 1) % 5);
		CHECK_EQ(len, 1);
		CHECK(get_used(d, &id, &len, NULL));
		CHECK_EQ(id, 2 * round % 5);
		CHECK_EQ(len, 6);
		CHECK(!get_used(d, &id, &len, NULL));
	}
	CHECK_EQ(d->q.pused, d->q.pnext);
	CHECK_EQ(d->q.used_wrap, d->q.avail_wrap);
	CHECK_EQ(virtq_last_avail(&q),
		 ((2 + popped) % 5) | (((2 + popped) / 5) % 2 ? 0x8000 : 0));
	free(cs);
}

static void test_packed_indirect(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;
	uint64_t b;

	setup(d, &q, 4, F_PACKED | F_IND, 0);
	b = buf(d, 64);
	/* At an odd address; NEXT is reserved in a table and ignored. */
	struct pvirtq_desc t[3] = {
		{ b, 10, 0, VIRTQ_DESC_F_NEXT },
		{ b + 10, 20, 0, 0 },
		{ b + 30, 30, 0, VIRTQ_DESC_F_WRITE },
	};
	memcpy(gp(d, IND_GPA + 3), t, sizeof(t));
	padd(d, (struct seg[]){ { IND_GPA + 3, 48, false } }, 1, 2,
	     VIRTQ_DESC_F_INDIRECT);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(c->head, 2);
	CHECK_EQ(c->ndesc, 1);
	CHECK_EQ(c->nr_out, 2);
	CHECK_EQ(c->nr_in, 1);
	CHECK_EQ(c->out_len, 30);
	CHECK(c->iov[2].iov_base == gp(d, b + 30));
}

static void test_packed_rules(struct drv *d)
{
	const struct seg one = { 0, 4, false };
	const struct seg table[] = { { IND_GPA, 16, false }, one };
	struct virtq q;

	setup(d, &q, 4, F_PACKED, 0);
	padd(d, table, 1, 0, VIRTQ_DESC_F_INDIRECT);
	EXPECT_BROKEN(d, &q, "indirect not negotiated");

	setup(d, &q, 4, F_PACKED | F_IND, 0);
	padd(d, table, 2, 0, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT);
	EXPECT_BROKEN(d, &q, "indirect with next");

	setup(d, &q, 4, F_PACKED | F_IND, 0);
	padd(d, (struct seg[]){ { IND_GPA, 40, false } }, 1, 0,
	     VIRTQ_DESC_F_INDIRECT);
	EXPECT_BROKEN(d, &q, "bad indirect table length");

	setup(d, &q, 4, F_PACKED | F_IND, 0);
	((struct pvirtq_desc *)gp(d, IND_GPA))[1].flags = VIRTQ_DESC_F_INDIRECT;
	padd(d, (struct seg[]){ { IND_GPA, 32, false } }, 1, 0,
	     VIRTQ_DESC_F_INDIRECT);
	EXPECT_BROKEN(d, &q, "nested indirect");

	setup(d, &q, 4, F_PACKED, 0);
	padd(d, (struct seg[]){ { 0, 4, true }, one }, 2, 0, 0);
	EXPECT_BROKEN(d, &q, "readable after writable");

	setup(d, &q, 4, F_PACKED, 0);
	padd(d, (struct seg[]){ { RAM_SIZE - 2, 4, false } }, 1, 0, 0);
	EXPECT_BROKEN(d, &q, "buffer outside guest RAM");

	/* All four slots say NEXT: the list never ends. */
	setup(d, &q, 4, F_PACKED, 0);
	padd(d, (struct seg[]){ one, one, one, one }, 4, 0, 0);
	d->q.pdesc[3].flags |= VIRTQ_DESC_F_NEXT;
	EXPECT_BROKEN(d, &q, "chain longer than queue");

	/* A list of exactly num descriptors is fine. */
	setup(d, &q, 4, F_PACKED, 0);
	padd(d, (struct seg[]){ one, one, one, one }, 4, 0, 0);
	{
		struct virtq_chain *c = malloc(sizeof(*c));

		CHECK_EQ(virtq_pop(&q, c), 1);
		CHECK_EQ(c->ndesc, 4);
		free(c);
	}

	/* The first slot is available, the second is not. */
	setup(d, &q, 4, F_PACKED, 0);
	padd(d, (struct seg[]){ one, one }, 2, 0, 0);
	d->q.pdesc[1].flags &= ~VIRTQ_DESC_F_AVAIL;
	EXPECT_BROKEN(d, &q, "chain runs into unavailable descriptor");
}

static void test_packed_notify(struct drv *d, struct virtq_chain *c)
{
	const struct seg one = { 0, 4, true };
	struct virtq q;
	uint32_t id, len;

	setup(d, &q, 4, F_PACKED | F_EVT, 0);
	d->q.drv_evt->flags = RING_EVENT_FLAGS_DISABLE;
	padd(d, &one, 1, 0, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);			/* slot 0 */
	CHECK(!virtq_need_notify(&q));
	d->q.drv_evt->flags = RING_EVENT_FLAGS_ENABLE;
	CHECK(!virtq_need_notify(&q));		/* nothing new */
	padd(d, &one, 1, 1, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);			/* slot 1 */
	CHECK(virtq_need_notify(&q));

	/* DESC: interrupt when slot 3 of this lap (wrap 1) is used. */
	d->q.drv_evt->off_wrap = 3 | 0x8000;
	d->q.drv_evt->flags = RING_EVENT_FLAGS_DESC;
	padd(d, &one, 1, 2, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);			/* slot 2 */
	CHECK(!virtq_need_notify(&q));
	padd(d, &one, 1, 3, 0);
	padd(d, &one, 1, 0, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);			/* slot 3 */
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);			/* slot 0, next lap */
	CHECK(virtq_need_notify(&q));
	/* Slot 3 of the previous lap is behind us now. */
	padd(d, &one, 1, 1, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);			/* slot 1, wrap 0 */
	CHECK(!virtq_need_notify(&q));
	/* Slot 2 on wrap 0 is the next one. */
	d->q.drv_evt->off_wrap = 2;
	padd(d, &one, 1, 2, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);
	CHECK(virtq_need_notify(&q));
	/* DESC without EVENT_IDX negotiated: we notify rather than guess. */
	setup(d, &q, 4, F_PACKED, 0);
	d->q.drv_evt->off_wrap = 3 | 0x8000;
	d->q.drv_evt->flags = RING_EVENT_FLAGS_DESC;
	padd(d, &one, 1, 0, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	virtq_push(&q, c, 4);
	CHECK(virtq_need_notify(&q));
	while (get_used(d, &id, &len, NULL))
		;

	/* Kick suppression and its re-arm race. */
	virtq_disable_kicks(&q);
	CHECK_EQ(d->q.dev_evt->flags, RING_EVENT_FLAGS_DISABLE);
	CHECK(!virtq_enable_kicks(&q));
	CHECK_EQ(d->q.dev_evt->flags, RING_EVENT_FLAGS_ENABLE);
	virtq_disable_kicks(&q);
	padd(d, &one, 1, 1, 0);
	CHECK(virtq_enable_kicks(&q));
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK(!virtq_enable_kicks(&q));
}

/* Only AVAIL == wrap counter != USED means available: a slot with both
 * bits equal is used (or zeroed), whatever lap we are on. */
static void test_packed_not_avail(struct drv *d, struct virtq_chain *c)
{
	struct virtq q;

	setup(d, &q, 4, F_PACKED, 0);
	d->q.pdesc[0] = (struct pvirtq_desc){ DATA_GPA, 4, 0,
		VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED };
	CHECK_EQ(virtq_pop(&q, c), 0);
	CHECK(!virtq_enable_kicks(&q));
	/* Odd lap (wrap counter 0) over a zeroed ring: nothing offered. */
	setup(d, &q, 4, F_PACKED, 0x8000);
	CHECK_EQ(virtq_pop(&q, c), 0);
	CHECK(!virtq_enable_kicks(&q));
	d->q.pdesc[0].flags = VIRTQ_DESC_F_USED;	/* AVAIL 0, USED 1 */
	CHECK(virtq_enable_kicks(&q));
	CHECK_EQ(virtq_pop(&q, c), 1);
}

/* Resuming from a saved index, packed: odd lap, slot 2. */
static void test_packed_start(struct drv *d, struct virtq_chain *c)
{
	const struct seg one = { 0, 4, false };
	struct virtq q;
	uint16_t flags;
	uint32_t id, len;

	setup(d, &q, 3, F_PACKED, 0x8002);
	CHECK(!d->q.avail_wrap);
	padd(d, &one, 1, 7, 0);
	CHECK_EQ(virtq_pop(&q, c), 1);
	CHECK_EQ(virtq_last_avail(&q), 0);	/* slot 0, even lap */
	virtq_push(&q, c, 0);
	CHECK(get_used(d, &id, &len, &flags));
	CHECK_EQ(flags, 0);			/* wrap 0: AVAIL=USED=0 */
	CHECK_EQ(virtq_base_to_vhost(true, 0x8002), 0x0002);
	CHECK_EQ(virtq_base_from_vhost(true, 0x8000), 0);
	CHECK_EQ(virtq_base_to_vhost(false, 0x8002), 0x8002);
}

/* ---- two threads: a lost wakeup hangs, so it shows as a timeout ---- */

#define STRESS_N 200000
#define STRESS_TIMEOUT_MS 5000

struct stress {
	struct drv *d;
	struct virtq q;
	int kick, call;
	bool event_idx, packed;
	const char *fail;	/* first failure; both threads read it */
	uint32_t done, kicks, calls;
};

static void set_fail(struct stress *s, const char *why)
{
	const char *none = NULL;

	__atomic_compare_exchange_n(&s->fail, &none, why, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static bool failed(struct stress *s)
{
	return __atomic_load_n(&s->fail, __ATOMIC_SEQ_CST) != NULL;
}

static bool wait_fd(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint64_t v;

	if (poll(&p, 1, STRESS_TIMEOUT_MS) != 1)
		return false;
	return read(fd, &v, sizeof(v)) == sizeof(v);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static void *stress_device(void *arg)
{
	struct stress *s = arg;
	struct virtq_chain *c = malloc(sizeof(*c));
	uint32_t expect = 0;
	int ret;

	while (expect < STRESS_N && !failed(s)) {
		if (!wait_fd(s->kick)) {
			set_fail(s, "device: no kick (lost wakeup)");
			break;
		}
		do {
			virtq_disable_kicks(&s->q);
			while ((ret = virtq_pop(&s->q, c)) == 1) {
				uint32_t v;

				memcpy(&v, c->iov[0].iov_base, 4);
				if (v != expect++ || c->nr_in != 1) {
					set_fail(s, "device: wrong buffer");
					goto out;
				}
				v = ~v;
				memcpy(c->iov[1].iov_base, &v, 4);
				virtq_push(&s->q, c, 4);
			}
			if (ret < 0) {
				set_fail(s, "device: queue broke");
				goto out;
			}
			if (virtq_need_notify(&s->q))
				signal_fd(s->call);
		} while (virtq_enable_kicks(&s->q));
	}
out:
	free(c);
	return NULL;
}

/* Driver: gathers used buffers; false when none. */
static bool stress_reap(struct stress *s, uint32_t *done)
{
	struct drv *d = s->d;
	bool any = false;
	uint32_t id, len, v;
	int ret;

	while ((ret = fq_take_used(&d->q, &id, &len, NULL)) == 1) {
		if (s->packed)
			id *= 2;
		memcpy(&v, gp(d, DATA_GPA + 8 * id + 4), 4);
		if (len != 4 || v != ~*done) {
			set_fail(s, "driver: wrong completion");
			return false;
		}
		++*done;
		any = true;
	}
	if (ret < 0) {
		set_fail(s, "driver: used id not in flight");
		return false;
	}
	return any;
}

static void *stress_driver(void *arg)
{
	struct stress *s = arg;
	struct drv *d = s->d;
	uint16_t inflight_max = d->q.num / 2;
	uint16_t *avail_event = fq_avail_event(&d->q);
	uint32_t sent = 0, done = 0;

	while (done < STRESS_N && !failed(s)) {
		bool kick = false;

		/* Add what fits; in-order completion lets the slot pair of
		 * chain k be 2k mod num. */
		while (sent < STRESS_N && sent - done < inflight_max) {
			uint16_t pair = (uint16_t)(sent % inflight_max);
			uint64_t g = DATA_GPA + 16ULL * pair;
			const struct seg io[] = { { g, 4, false },
						  { g + 4, 4, true } };

			memcpy(gp(d, g), &sent, 4);
			if (s->packed) {
				fq_packed(&d->q, io, 2, pair, 0);
			} else {
				uint16_t old = d->q.avail_idx;

				fq_chain(&d->q, io, 2, (uint16_t[]){
					 2 * pair, 2 * pair + 1 });
				fq_publish(&d->q, 2 * pair);
				/* Full barrier between publishing idx and
				 * reading avail_event / flags. */
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				if (s->event_idx)
					kick |= fq_need_event(__atomic_load_n(
						avail_event, __ATOMIC_RELAXED),
						d->q.avail_idx, old);
				else
					kick |= !(__atomic_load_n(
						&d->q.used->flags,
						__ATOMIC_RELAXED) &
						VIRTQ_USED_F_NO_NOTIFY);
			}
			if (s->packed) {
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				kick |= __atomic_load_n(&d->q.dev_evt->flags,
							__ATOMIC_RELAXED) !=
					RING_EVENT_FLAGS_DISABLE;
			}
			sent++;
		}
		if (kick) {
			signal_fd(s->kick);
			s->kicks++;
		}
		if (stress_reap(s, &done))
			continue;
		/* Ask for an interrupt, then look again before sleeping. */
		if (s->packed)
			__atomic_store_n(&d->q.drv_evt->flags,
					 RING_EVENT_FLAGS_ENABLE,
					 __ATOMIC_RELAXED);
		else if (s->event_idx)
			__atomic_store_n(fq_used_event(&d->q), d->q.last_used,
					 __ATOMIC_RELAXED);
		else
			__atomic_store_n(&d->q.avail->flags, 0,
					 __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!stress_reap(s, &done) && !failed(s)) {
			if (!wait_fd(s->call)) {
				set_fail(s, "driver: no interrupt (lost wakeup)");
				break;
			}
			s->calls++;
		}
		if (s->packed)
			__atomic_store_n(&d->q.drv_evt->flags,
					 RING_EVENT_FLAGS_DISABLE,
					 __ATOMIC_RELAXED);
		else if (!s->event_idx)
			__atomic_store_n(&d->q.avail->flags,
					 VIRTQ_AVAIL_F_NO_INTERRUPT,
					 __ATOMIC_RELAXED);
	}
	s->done = done;
	return NULL;
}

static void test_stress(struct drv *d, bool event_idx, bool packed)
{
	struct stress s = { .d = d, .event_idx = event_idx, .packed = packed };
	pthread_t dev, drv;

	setup(d, &s.q, 64,
	      (event_idx ? F_EVT : 0) | (packed ? F_PACKED : 0), 0);
	s.kick = eventfd(0, EFD_CLOEXEC);
	s.call = eventfd(0, EFD_CLOEXEC);
	CHECK(s.kick >= 0 && s.call >= 0);
	CHECK_EQ(pthread_create(&dev, NULL, stress_device, &s), 0);
	CHECK_EQ(pthread_create(&drv, NULL, stress_driver, &s), 0);
	pthread_join(drv, NULL);
	if (s.fail)	/* unblock a device waiting for a kick that won't come */
		signal_fd(s.kick);
	pthread_join(dev, NULL);
	if (s.fail)
		CHECK_FAIL_AT(__FILE__, __LINE__, "stress%s%s: %s",
			      event_idx ? " event_idx" : "",
			      packed ? " packed" : "", s.fail);
	CHECK_EQ(s.done, STRESS_N);
	fprintf(stderr, "test_virtq: stress%s%s: %u buffers, %u kicks, %u interrupt waits\n",
		event_idx ? " event_idx" : "", packed ? " packed" : "",
		s.done, s.kicks, s.calls);
	close(s.kick);
	close(s.call);
}

int main(void)
{
	struct mem_config cfg = { .size = RAM_SIZE, .numa_node = -1 };
	struct drv *d = calloc(1, sizeof(*d));
	struct virtq_chain *c = malloc(sizeof(*c));

	if (guest_mem_create(&d->mem, &cfg)) {
		fprintf(stderr, "test_virtq: no guest memory\n");
		return CHECK_EXIT_SKIP;
	}
	test_simple(d, c);
	test_several(d, c);
	test_indirect(d, c);
	test_limits(d, c);
	test_rules(d);
	test_init_rules(d);
	test_no_interrupt(d, c);
	test_event_idx(d, c);
	test_kicks_flags(d, c);
	test_kicks_event_idx(d, c);
	test_wrap(d);
	test_packed_basic(d, c);
	test_packed_indirect(d, c);
	test_packed_rules(d);
	test_packed_notify(d, c);
	test_packed_not_avail(d, c);
	test_packed_start(d, c);
	test_stress(d, false, false);
	test_stress(d, true, false);
	test_stress(d, false, true);
	guest_mem_destroy(&d->mem);
	free(c);
	free(d);
	return check_done("test_virtq");
}
