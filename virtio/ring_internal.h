/* Ring internals shared by virtio/chain.c (what both ring formats do with a
 * chain: rule violations, iovecs, indirect tables), virtio/queue.c (split
 * rings and the format dispatch) and virtio/packed.c (packed rings). Not
 * for device models: they use virtio/queue.h. queue.c calls packed.c and
 * both call chain.c, never the other way. */
#ifndef TERN_VIRTIO_RING_INTERNAL_H
#define TERN_VIRTIO_RING_INTERNAL_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>

/* virtio/queue.h's, which every includer has included first. */
struct virtq;
struct virtq_chain;
struct virtq_used_buf;

int virtq_violation(struct virtq *q, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void virtq_chain_reset(struct virtq_chain *c);
int virtq_chain_add(struct virtq *q, struct virtq_chain *c, uint64_t addr,
		    uint32_t len, bool writable);
const void *virtq_indirect_table(struct virtq *q, uint64_t addr, uint32_t len,
				 unsigned int *entries);
int virtq_packed_init(struct virtq *q, uint64_t desc_gpa, uint64_t driver_gpa,
		      uint64_t device_gpa, uint16_t start_idx);
int virtq_packed_pop(struct virtq *q, struct virtq_chain *c);
void virtq_packed_push(struct virtq *q, const struct virtq_chain *c,
		       uint32_t len);
void virtq_packed_push_batch(struct virtq *q, const struct virtq_used_buf *u,
			     unsigned int n);
bool virtq_packed_need_notify(struct virtq *q);
void virtq_packed_disable_kicks(struct virtq *q);
bool virtq_packed_enable_kicks(struct virtq *q);

/* Single loads of guest fields that may sit at any alignment (indirect
 * tables have none promised): volatile so the compiler reads once and never
 * re-reads, packed so an odd address is no undefined behaviour. */
struct virtq_u16_ { uint16_t v; } __attribute__((packed, may_alias));
struct virtq_u32_ { uint32_t v; } __attribute__((packed, may_alias));
struct virtq_u64_ { uint64_t v; } __attribute__((packed, may_alias));

static inline uint16_t virtq_ld16(const void *p)
{
	return le16toh(((const volatile struct virtq_u16_ *)p)->v);
}

static inline uint32_t virtq_ld32(const void *p)
{
	return le32toh(((const volatile struct virtq_u32_ *)p)->v);
}

static inline uint64_t virtq_ld64(const void *p)
{
	return le64toh(((const volatile struct virtq_u64_ *)p)->v);
}

#endif
