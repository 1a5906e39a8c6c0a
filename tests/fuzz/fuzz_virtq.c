/* libFuzzer target: virtqueue parsing (split and packed) over guest RAM the
 * input fills. The input picks the ring format, features, size, start index
 * and ring placement, fills the first 32 KiB of a 1 MiB guest with ring
 * contents, and scripts a sequence of pop / pop_head (inflight resubmission)
 * / push / push_batch / need_notify / kick
 * suppression calls, with guest writes between them. Every chain popped is
 * checked: segments inside guest RAM, counts and byte totals consistent,
 * limits kept; a violation must leave the queue broken. Guard pages around
 * the guest turn any access past it into a crash.
 *
 * Input layout (little-endian):
 *   0      mode: bit 0 packed, 1 EVENT_IDX, 2 INDIRECT_DESC, 3 raw ring
 *          addresses, 4 raw queue size
 *   1..2   queue size selector
 *   3..4   start index
 *   5..16  desc, driver, device guest addresses (raw mode only)
 *   17..31 op script, one byte per step, cycled
 *   32..   copied to guest address 0 (at most 32 KiB)
 *
 * Build with libFuzzer (see tests/fuzz/README), or with -DFUZZ_STANDALONE
 * for a main() that runs files or directories named on the command line. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core/memory.h"
#include "virtio/queue.h"
#include "tests/fuzz/fuzz.h"

#define RAM_SIZE (1ULL << 20)
#define HDR 32
#define RING_AREA 0x8000	/* input lands here; the rest stays zero */
#define STEPS 64
#define PENDING 4
#define TOUCH 64		/* bytes read/written per segment */

/* A fuzz target keeps its fixture across runs: creating 1 MiB of guest
 * memory per input would dominate the run time. */
static struct guest_mem fz_mem;
static struct virtq_chain fz_chain[PENDING];
/* For the standalone summary: proof the inputs reach the parser. */
static struct {
	unsigned long inits, chains, refused, batches, heads;
} fz_stats;

/* Moves guest RAM between two PROT_NONE pages: a read or write past either
 * end then faults instead of landing in whatever the allocator put next to
 * it (ASan does not watch mmap memory). */
static void fz_setup(void)
{
	struct mem_config cfg = { .size = RAM_SIZE, .numa_node = -1 };
	uint8_t *win;
	void *p;

	FZ_NEVER(guest_mem_create(&fz_mem, &cfg));
	win = mmap(NULL, RAM_SIZE + 2 * 4096, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FZ_NEVER(win == MAP_FAILED);
	p = mremap(fz_mem.base, RAM_SIZE, RAM_SIZE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, win + 4096);
	FZ_NEVER(p != win + 4096);
	fz_mem.base = p;
	fz_mem.regions[0].hva = p;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}


/* What a device may rely on for every chain virtq_pop hands out. */
static void fz_check_chain(const struct virtq *q, struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;
	unsigned int n = c->nr_out + c->nr_in;
	volatile uint8_t sink = 0;

	FZ_ASSERT(n <= VIRTQ_MAX_SEGS);
	FZ_ASSERT(c->ndesc >= 1 && c->ndesc <= q->num);
	if (!q->packed)
		FZ_ASSERT(c->head < q->num);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *b = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;

		FZ_ASSERT(b >= fz_mem.base && b <= fz_mem.base + RAM_SIZE);
		FZ_ASSERT(len <= (size_t)(fz_mem.base + RAM_SIZE - b));
		if (i < c->nr_out)
			out += len;
		else
			in += len;
		/* Touch the segment as a device would: read the readable
		 * part, write the writable part (which may be the rings). */
		for (size_t j = 0; j < len && j < TOUCH; j++) {
			if (i < c->nr_out)
				sink += b[j];
			else
				b[j] = (uint8_t)(0xa5 ^ j);
		}
	}
	(void)sink;
	FZ_ASSERT(out == c->out_len && in == c->in_len);
	FZ_ASSERT(out + in <= UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq q;
	uint64_t features = 0, desc = 0, drv = 0x4000, dev = 0x5000;
	unsigned int npend = 0, first = 0;
	const uint8_t *ops, *payload;
	size_t plen;
	uint16_t num;
	uint8_t mode;
	int ret;

	if (size < HDR)
		return 0;
	if (!fz_mem.base)
		fz_setup();
	mode = data[0];
	ops = data + 17;
	payload = data + HDR;
	plen = size - HDR < RING_AREA ? size - HDR : RING_AREA;

	if (mode & 1)
		features |= 1ULL << VIRTIO_F_RING_PACKED;
	if (mode & 2)
		features |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (mode & 4)
		features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	if (mode & 8) {
		desc = rd32(data + 5);
		drv = rd32(data + 9);
		dev = rd32(data + 13);
	}
	/* Mostly sizes virtq_init takes, so the fuzzer spends its time in
	 * the rings rather than in the size check. */
	num = rd16(data + 1);
	if (!(mode & 16))
		num = (mode & 1) ? num % VIRTQ_MAX_SIZE + 1
				 : (uint16_t)(1u << (num % 11));

	memset(fz_mem.base, 0, RING_AREA);
	memcpy(fz_mem.base, payload, plen);
	ret = virtq_init(&q, "fuzz q0", &fz_mem, num, desc, drv, dev,
			 features, rd16(data + 3));
	fz_stats.inits += !ret;
	if (ret) {
		FZ_ASSERT(ret == -EINVAL && q.broken);
		FZ_ASSERT(virtq_pop(&q, &fz_chain[0]) == -EINVAL);
		return 0;
	}

	for (unsigned int step = 0; step < STEPS; step++) {
		uint8_t op = ops[step % 15] + (uint8_t)(step / 15);
		struct virtq_chain *c;

		switch (op & 7) {
		case 0: case 1: case 2:
			if (npend == PENDING) {
				virtq_push(&q, &fz_chain[first],
					   fz_chain[first].in_len);
				first = (first + 1) % PENDING;
				npend--;
			}
			c = &fz_chain[(first + npend) % PENDING];
			ret = virtq_pop(&q, c);
			FZ_ASSERT(ret >= -EINVAL && ret <= 1);
			if (ret == 1) {
				FZ_ASSERT(!q.broken);
				fz_check_chain(&q, c);
				fz_stats.chains++;
				npend++;
			} else if (ret < 0) {
				FZ_ASSERT(ret == -EINVAL && q.broken && q.why);
				fz_stats.refused++;
				FZ_ASSERT(virtq_pop(&q, c) == -EINVAL);
			}
			break;
		case 3:
			if (npend && (op & 0x40)) {
				/* All pending at once (virtio-net's mergeable
				 * receive buffers). */
				struct virtq_used_buf u[PENDING];

				for (unsigned int i = 0; i < npend; i++) {
					struct virtq_chain *p =
						&fz_chain[(first + i) % PENDING];
					uint32_t len = (uint32_t)(op >> 3) * 331 * (i + 1);

					u[i] = (struct virtq_used_buf){
						p->head, p->ndesc,
						len < p->in_len ? len : p->in_len };
				}
				virtq_push_batch(&q, u, npend);
				fz_stats.batches++;
				first = (first + npend) % PENDING;
				npend = 0;
			} else if (npend) {
				struct virtq_chain *p = &fz_chain[first];
				uint32_t len = (uint32_t)(op >> 3) * 997;

				virtq_push(&q, p, len < p->in_len ? len : p->in_len);
				first = (first + 1) % PENDING;
				npend--;
			}
			break;
		case 4:
			(void)virtq_need_notify(&q);
			(void)virtq_last_avail(&q);
			break;
		case 5:
			if (!(op & 0x08)) {
				virtq_disable_kicks(&q);
				break;
			}
			/* Inflight resubmission: a chain named by its head,
			 * from the input (split only; packed must refuse). */
			if (npend == PENDING)
				break;
			c = &fz_chain[(first + npend) % PENDING];
			ret = virtq_pop_head(&q, c,
					     plen >= 2 ? rd16(payload + op % (plen - 1))
						       : op);
			FZ_ASSERT(ret == 1 || ret == -EINVAL);
			if (ret == 1) {
				FZ_ASSERT(!q.broken && !q.packed && c->head < q.num);
				fz_check_chain(&q, c);
				fz_stats.heads++;
				npend++;
			} else {
				FZ_ASSERT(q.broken && q.why);
				fz_stats.refused++;
			}
			break;
		case 6:
			(void)virtq_enable_kicks(&q);
			break;
		case 7:
			/* The guest rewrites 16 bytes of its rings between
			 * our calls, from elsewhere in the input. */
			if (plen >= 32) {
				size_t from = (size_t)op * 131 % (plen - 16);
				size_t to = (size_t)op * 61 % (RING_AREA - 16);

				memcpy(fz_mem.base + to, payload + from, 16);
			}
			break;
		}
	}
	while (npend) {
		virtq_push(&q, &fz_chain[first], fz_chain[first].in_len);
		first = (first + 1) % PENDING;
		npend--;
	}
	(void)virtq_need_notify(&q);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr,
		"fuzz_virtq: %u inputs ran clean (%lu queues set up, %lu chains popped, %lu by head, %lu pops refused as rule violations, %lu batches pushed)\n",
		runs, fz_stats.inits, fz_stats.chains, fz_stats.heads,
		fz_stats.refused, fz_stats.batches);
}
#include "replay.h"
#endif
