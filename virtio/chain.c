/* What both ring formats do with a chain (virtio 1.2 §2.7.5, §2.8.6):
 * rule violations that break the queue, a descriptor's bytes as an iovec
 * over guest RAM, and the bounds of an indirect table. */
#include "virtio/queue.h"
#include "virtio/ring_internal.h"

#include "core/log.h"
#include "core/memory.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int virtq_violation(struct virtq *q, const char *rule, const char *fmt, ...)
{
	char detail[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	q->broken = true;
	q->why = rule;
	log_err(q->name, "%s: %s; queue stopped until device reset", rule,
		detail);
	return -EINVAL;
}

void virtq_chain_reset(struct virtq_chain *c)
{
	c->head = 0;
	c->ndesc = 0;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
}

int virtq_chain_add(struct virtq *q, struct virtq_chain *c, uint64_t addr,
		    uint32_t len, bool writable)
{
	unsigned int n = c->nr_out + c->nr_in;
	void *p;

	/* Devices find a request's header in the readable part and its
	 * status in the writable part; an interleaved chain has no meaning. */
	if (!writable && c->nr_in)
		return virtq_violation(q, "readable after writable",
				       "buffer %u (0x%llx+0x%x) is device-readable but follows a device-writable one",
				       n, (unsigned long long)addr, len);
	if (n == VIRTQ_MAX_SEGS)
		return virtq_violation(q, "too many segments",
				       "chain has more than %d buffers",
				       VIRTQ_MAX_SEGS);
	p = guest_mem_ptr(q->mem, addr, len);
	if (!p)
		return virtq_violation(q, "buffer outside guest RAM",
				       "buffer %u (0x%llx+0x%x) is not inside guest RAM",
				       n, (unsigned long long)addr, len);
	if ((uint64_t)c->out_len + c->in_len + len > UINT32_MAX)
		return virtq_violation(q, "chain length overflows 32 bits",
				       "buffer %u (0x%x bytes) takes the chain past 4 GiB",
				       n, len);
	c->iov[n].iov_base = p;
	c->iov[n].iov_len = len;
	if (writable) {
		c->nr_in++;
		c->in_len += len;
	} else {
		c->nr_out++;
		c->out_len += len;
	}
	return 0;
}

const void *virtq_indirect_table(struct virtq *q, uint64_t addr, uint32_t len,
				 unsigned int *entries)
{
	const void *t;

	if (!len || len % 16 || len / 16 > VIRTQ_MAX_SEGS) {
		virtq_violation(q, "bad indirect table length",
				"indirect table of %u bytes: needs 1..%d whole 16-byte descriptors",
				len, VIRTQ_MAX_SEGS);
		return NULL;
	}
	t = guest_mem_ptr(q->mem, addr, len);
	if (!t) {
		virtq_violation(q, "indirect table outside guest RAM",
				"indirect table 0x%llx+0x%x is not inside guest RAM",
				(unsigned long long)addr, len);
		return NULL;
	}
	*entries = len / 16;
	return t;
}

