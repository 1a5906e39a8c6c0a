#include "vhost/user_backend.h"

#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* struct guest_mem holds this many regions; more are refused until
 * core/memory.h grows its array to VU_MAX_REGIONS. */
#define GM_CAP (sizeof(((struct guest_mem *)0)->regions) /                     \
		sizeof(((struct guest_mem *)0)->regions[0]))

/* Bytes of one queue's inflight region, a cache line multiple. */
#define INFLIGHT_ALIGN 64u

_Static_assert(sizeof(struct vu_desc_state) == 16, "inflight descriptor");
_Static_assert(sizeof(struct vu_inflight_region) == 16, "inflight header");
_Static_assert(sizeof(struct vu_inflight) == 24, "inflight message");

static uint64_t offered_features(const struct vu_dev *d)
{
	return d->ops->features | (1ULL << VU_F_PROTOCOL_FEATURES);
}

static uint64_t offered_protocol(const struct vu_dev *d)
{
	return d->ops->protocol_features & VU_BACKEND_PROTOCOL_FEATURES;
}

static bool has_pf(const struct vu_dev *d, unsigned int bit)
{
	return d->protocol_features & (1ULL << bit);
}

static bool packed(const struct vu_dev *d)
{
	return d->features & (1ULL << VIRTIO_F_RING_PACKED);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int vu_uaddr_to_gpa(const struct vu_dev *d, uint64_t uaddr, uint64_t len,
		    uint64_t *gpa)
{
	for (unsigned int i = 0; i < d->nregions; i++) {
		const struct vu_region *r = &d->regions[i];

		/* Written so that no sum can wrap. */
		if (uaddr >= r->uaddr && uaddr - r->uaddr <= r->size &&
		    len <= r->size - (uaddr - r->uaddr)) {
			*gpa = r->gpa + (uaddr - r->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

/* Stops q if it runs and keeps the index it reached. */
static void q_stop(struct vu_dev *d, unsigned int i)
{
	struct vu_queue *q = &d->queues[i];

	if (!q->started)
		return;
	d->ops->queue_stop(d->opaque, i);
	q->base = virtq_last_avail(&q->vq);
	q->started = false;
	q->inf = NULL;
	free(q->resubmit);
	q->resubmit = NULL;
	q->nresubmit = q->resubmitted = 0;
}

static size_t inflight_region_size(uint16_t queue_size)
{
	size_t n = sizeof(struct vu_inflight_region) +
		   (size_t)queue_size * sizeof(struct vu_desc_state);

	return (n + INFLIGHT_ALIGN - 1) & ~(size_t)(INFLIGHT_ALIGN - 1);
}

struct inflight_head {
	uint64_t counter;
	uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
	const struct inflight_head *x = a, *y = b;

	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

/* Picks up queue i's inflight region before the ring starts: finishes a
 * push the previous back-end was cut off in, lists the heads still in
 * flight (oldest first) for vu_queue_pop to hand out again, and says
 * where the ring stands: *used is used->idx as the driver sees it, *base
 * the next available entry (every entry before it is used or listed).
 * The area is the front-end's memory: every field is loaded once and
 * checked. 0 or -errno. */
static int inflight_prepare(struct vu_dev *d, unsigned int i,
			    uint64_t used_gpa, uint16_t *base, uint16_t *used)
{
	struct vu_inflight_area *a = &d->inflight;
	struct vu_queue *q = &d->queues[i];
	struct vu_inflight_region *r;
	struct inflight_head *list = NULL;
	const uint16_t *ring;
	uint16_t rused, head;
	uint64_t next_counter = 0;
	unsigned int n = 0, cap;

	if (i >= a->num_queues || q->num > a->queue_size) {
		log_err(q->name, "inflight area holds %u queues of %u, not "
			"queue %u of %u", a->num_queues, a->queue_size, i,
			q->num);
		return -EINVAL;
	}
	ring = guest_mem_ptr(&d->mem, used_gpa, 4);
	if (!ring)
		return -EFAULT;
	*used = le16toh(__atomic_load_n(&ring[1], __ATOMIC_ACQUIRE));
	r = (struct vu_inflight_region *)(a->base + i * a->region_size);
	if (__atomic_load_n(&r->version, __ATOMIC_RELAXED) != 1) {
		/* A fresh (zeroed) area: nothing was in flight. */
		memset(r, 0, a->region_size);
		r->desc_num = a->queue_size;
		r->used_idx = *used;
		__atomic_store_n(&r->version, 1, __ATOMIC_RELEASE);
	}
	rused = __atomic_load_n(&r->used_idx, __ATOMIC_RELAXED);
	if (rused != *used) {
		/* Cut off between publishing used->idx and noting it: the
		 * heads of that last batch were used, clear them. */
		uint16_t batch = (uint16_t)(*used - rused);

		if (batch > q->num) {
			log_err(q->name, "inflight area: used idx %u, ring "
				"says %u", rused, *used);
			return -EINVAL;
		}
		head = __atomic_load_n(&r->last_batch_head, __ATOMIC_RELAXED);
		for (uint16_t k = 0; k < batch && head < q->num; k++) {
			__atomic_store_n(&r->desc[head].inflight, 0,
					 __ATOMIC_RELAXED);
			head = __atomic_load_n(&r->desc[head].next,
					       __ATOMIC_RELAXED);
		}
		__atomic_store_n(&r->used_idx, *used, __ATOMIC_RELEASE);
	}
	for (unsigned int h = 0; h < q->num; h++)
		n += __atomic_load_n(&r->desc[h].inflight, __ATOMIC_RELAXED) != 0;
	if (n) {
		list = calloc(n, sizeof(*list));
		q->resubmit = calloc(n, sizeof(*q->resubmit));
		if (!list || !q->resubmit) {
			free(list);
			free(q->resubmit);
			q->resubmit = NULL;
			return -ENOMEM;
		}
		cap = n;
		n = 0;
		for (unsigned int h = 0; h < q->num; h++) {
			uint64_t c;

			if (!__atomic_load_n(&r->desc[h].inflight,
					     __ATOMIC_RELAXED))
				continue;
			/* The front-end may flip marks meanwhile: the list
			 * never outgrows what was counted. */
			if (n == cap)
				break;
			c = __atomic_load_n(&r->desc[h].counter,
					    __ATOMIC_RELAXED);
			list[n++] = (struct inflight_head){ c, (uint16_t)h };
			if (c >= next_counter)
				next_counter = c + 1;
		}
		qsort(list, n, sizeof(*list), by_counter);
		for (unsigned int k = 0; k < n; k++)
			q->resubmit[k] = list[k].head;
		free(list);
		log_info(q->name, "%u request(s) left in flight by the last "
			 "back-end: resubmitting", n);
	}
	q->nresubmit = n;
	q->resubmitted = 0;
	q->counter = next_counter;
	q->inf = r;
	*base = (uint16_t)(*used + n);
	return 0;
}

/* Starts q if it has all it needs: 0 when started or not ready yet. */
static int q_try_start(struct vu_dev *d, unsigned int i)
{
	struct vu_queue *q = &d->queues[i];
	bool enabled = (d->features & (1ULL << VU_F_PROTOCOL_FEATURES)) ?
			       q->enabled : true;
	uint64_t desc, avail, used;
	uint16_t base = q->base, used_idx = 0;
	bool tracked;
	int ret;

	if (q->started || !q->num_set || !q->addr_set || !q->kick_set ||
	    !enabled)
		return 0;
	if (vu_uaddr_to_gpa(d, q->desc_ua, 1, &desc) ||
	    vu_uaddr_to_gpa(d, q->avail_ua, 1, &avail) ||
	    vu_uaddr_to_gpa(d, q->used_ua, 1, &used)) {
		log_err(q->name, "ring addresses outside the memory table");
		return -EFAULT;
	}
	tracked = d->inflight.map && !packed(d);
	if (d->inflight.map && packed(d))
		log_warn(q->name, "inflight tracking covers split rings only: "
			 "this packed ring runs untracked");
	if (tracked) {
		ret = inflight_prepare(d, i, used, &base, &used_idx);
		if (ret)
			goto untrack;
	}
	ret = virtq_init(&q->vq, q->name, &d->mem, q->num, desc, avail, used,
			 d->features, base);
	if (ret)
		goto untrack;
	if (tracked) {
		/* Popping resumes after the chains in flight, pushing where
		 * the driver's used ring stands. */
		q->vq.used_idx = q->vq.signalled_used = used_idx;
	}
	ret = d->ops->queue_start(d->opaque, i, &q->vq, q->kick_fd,
				  q->call_fd);
	if (ret) {
		log_err(q->name, "device refused to start: %s", strerror(-ret));
		goto untrack;
	}
	q->started = true;
	log_debug(q->name, "started, size %u base %u", q->num, base);
	return 0;

untrack:
	q->inf = NULL;
	free(q->resubmit);
	q->resubmit = NULL;
	q->nresubmit = 0;
	return ret;
}

int vu_queue_pop(struct vu_queue *q, struct virtq_chain *c)
{
	struct vu_desc_state *s;
	int ret;

	if (q->resubmitted < q->nresubmit)
		return virtq_pop_head(&q->vq, c, q->resubmit[q->resubmitted++]);
	ret = virtq_pop(&q->vq, c);
	if (ret != 1 || !q->inf)
		return ret;
	/* Split heads are below num, and num fits the region. */
	s = &q->inf->desc[c->head];
	__atomic_store_n(&s->counter, q->counter++, __ATOMIC_RELAXED);
	/* Release: a counter read with the mark belongs to this chain. */
	__atomic_store_n(&s->inflight, 1, __ATOMIC_RELEASE);
	return 1;
}

void vu_queue_push(struct vu_queue *q, const struct virtq_chain *c,
		   uint32_t len)
{
	struct vu_inflight_region *r = q->inf;

	if (!r) {
		virtq_push(&q->vq, c, len);
		return;
	}
	/* The spec's order, a batch of one: link the head into the last
	 * batch, publish used->idx, clear the mark, note used->idx. A new
	 * back-end that finds the two indices apart clears the batch's
	 * marks; one that finds them equal trusts the marks. The stores go
	 * to a shared mapping that outlives us, so program order (release)
	 * is all a crash can observe. */
	__atomic_store_n(&r->desc[c->head].next, r->last_batch_head,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&r->last_batch_head, c->head, __ATOMIC_RELEASE);
	virtq_push(&q->vq, c, len);
	__atomic_store_n(&r->desc[c->head].inflight, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&r->used_idx, q->vq.used_idx, __ATOMIC_RELEASE);
}

static void q_forget(struct vu_dev *d, unsigned int i)
{
	struct vu_queue *q = &d->queues[i];

	q_stop(d, i);
	close_fd(&q->kick_fd);
	close_fd(&q->call_fd);
	close_fd(&q->err_fd);
	memset(&q->vq, 0, sizeof(q->vq));
	q->num = q->base = 0;
	q->desc_ua = q->avail_ua = q->used_ua = 0;
	q->num_set = q->addr_set = q->kick_set = q->enabled = false;
}

static void unmap_regions(struct vu_region *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		munmap(r[i].map, r[i].map_len);
}

static void inflight_unmap(struct vu_inflight_area *a)
{
	if (a->map)
		munmap(a->map, a->map_len);
	memset(a, 0, sizeof(*a));
}

static void reset_device(struct vu_dev *d)
{
	for (unsigned int i = 0; i < d->ops->max_queues; i++)
		q_forget(d, i);
	/* A reset device starts over: the front-end fetches a new area. */
	inflight_unmap(&d->inflight);
	d->features = 0;
	if (d->ops->reset)
		d->ops->reset(d->opaque);
}

int vu_dev_init(struct vu_dev *d, const char *name, int sock,
		const struct vu_backend_ops *ops, void *opaque)
{
	if (!ops || !ops->queue_start || !ops->queue_stop ||
	    !ops->max_queues || ops->max_queues > VU_MAX_QUEUES || sock < 0)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->sock = sock;
	d->ops = ops;
	d->opaque = opaque;
	d->mem.fd = -1;
	d->mem.numa_node = -1;
	for (unsigned int i = 0; i < VU_MAX_QUEUES; i++) {
		struct vu_queue *q = &d->queues[i];

		snprintf(q->name, sizeof(q->name), "%s q%u", name, i);
		q->kick_fd = q->call_fd = q->err_fd = -1;
	}
	return 0;
}

void vu_dev_close(struct vu_dev *d)
{
	for (unsigned int i = 0; i < d->ops->max_queues; i++)
		q_forget(d, i);
	unmap_regions(d->regions, d->nregions);
	d->nregions = 0;
	d->mem.nregions = 0;
	inflight_unmap(&d->inflight);
	close_fd(&d->sock);
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Ends are known not to wrap. */
	return a < b + blen && b < a + alen;
}

static int check_regions(struct vu_dev *d, const struct vu_mem_table *t)
{
	for (unsigned int i = 0; i < t->nregions; i++) {
		const struct vu_mem_region *r = &t->regions[i];

		if (!r->size || r->gpa > UINT64_MAX - r->size ||
		    r->uaddr > UINT64_MAX - r->size ||
		    r->mmap_offset > UINT64_MAX - r->size ||
		    r->mmap_offset + r->size > (uint64_t)INT64_MAX) {
			log_err(d->name, "memory region %u: size 0x%" PRIx64
				" at gpa 0x%" PRIx64 " uaddr 0x%" PRIx64
				" offset 0x%" PRIx64 " is empty or wraps", i,
				r->size, r->gpa, r->uaddr, r->mmap_offset);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			const struct vu_mem_region *o = &t->regions[j];

			if (overlap(r->gpa, r->size, o->gpa, o->size) ||
			    overlap(r->uaddr, r->size, o->uaddr, o->size)) {
				log_err(d->name, "memory regions %u and %u "
					"overlap", j, i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* A front-end's fd we are to map: sealed against shrinking, or the
 * front-end (or anyone it shares the fd with) could truncate it and our
 * next touch of the mapping would be SIGBUS. Seals are never lifted, so
 * a size read after this check holds for good. 0 or -EINVAL (logged). */
static int check_sealed(struct vu_dev *d, int fd, const char *what)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return 0;
	log_err(d->name, "%s: fd not sealed against shrinking (a memfd "
		"with F_SEAL_SHRINK is needed)", what);
	return -EINVAL;
}

static int map_region(struct vu_dev *d, unsigned int i,
		      const struct vu_mem_region *r, int fd,
		      struct vu_region *out)
{
	struct stat st;
	uint64_t align, off, delta;
	long page = sysconf(_SC_PAGESIZE);
	char what[24];
	void *p;
	int ret;

	snprintf(what, sizeof(what), "memory region %u", i);
	ret = check_sealed(d, fd, what);
	if (ret)
		return ret;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size < r->mmap_offset + r->size) {
		/* Touching a mapping past the end of the file would SIGBUS. */
		log_err(d->name, "memory region %u: fd is not a file of at "
			"least 0x%" PRIx64 " bytes", i,
			r->mmap_offset + r->size);
		return -EINVAL;
	}
	/* hugetlbfs reports its page size as the block size. */
	align = (uint64_t)page;
	if (st.st_blksize > page && !(st.st_blksize & (st.st_blksize - 1)))
		align = (uint64_t)st.st_blksize;
	off = r->mmap_offset & ~(align - 1);
	delta = r->mmap_offset - off;
	if (r->size > SIZE_MAX - delta)
		return -EINVAL;
	p = mmap(NULL, (size_t)(r->size + delta), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED) {
		ret = -errno;
		log_err(d->name, "memory region %u: mmap 0x%" PRIx64
			" bytes: %s", i, r->size, strerror(-ret));
		return ret;
	}
	out->gpa = r->gpa;
	out->size = r->size;
	out->uaddr = r->uaddr;
	out->map = p;
	out->map_len = (size_t)(r->size + delta);
	out->hva = (uint8_t *)p + delta;
	return 0;
}

static int set_mem_table(struct vu_dev *d, const struct vu_mem_table *t,
			 int *fds)
{
	struct vu_region nr[VU_MAX_REGIONS];
	bool was[VU_MAX_QUEUES];
	unsigned int n = t->nregions, mapped;
	int ret, first = 0;

	if (n > GM_CAP) {
		log_err(d->name, "memory table of %u regions: only %zu "
			"supported", n, (size_t)GM_CAP);
		return -E2BIG;
	}
	ret = check_regions(d, t);
	if (ret)
		return ret;
	for (mapped = 0; mapped < n; mapped++) {
		ret = map_region(d, mapped, &t->regions[mapped], fds[mapped],
				 &nr[mapped]);
		if (ret)
			goto unmap;
	}

	/* Rings hold host pointers into the old mappings: stop, swap,
	 * restart from where they were. */
	for (unsigned int i = 0; i < d->ops->max_queues; i++) {
		was[i] = d->queues[i].started;
		q_stop(d, i);
	}
	unmap_regions(d->regions, d->nregions);
	memcpy(d->regions, nr, n * sizeof(nr[0]));
	d->nregions = n;
	memset(&d->mem, 0, sizeof(d->mem));
	d->mem.fd = -1;
	d->mem.numa_node = -1;
	d->mem.nregions = n;
	for (unsigned int i = 0; i < n; i++) {
		d->mem.regions[i].gpa = nr[i].gpa;
		d->mem.regions[i].size = nr[i].size;
		d->mem.regions[i].fd_offset = t->regions[i].mmap_offset;
		d->mem.regions[i].hva = nr[i].hva;
		d->mem.size += nr[i].size;
	}
	log_debug(d->name, "memory table: %u regions", n);
	for (unsigned int i = 0; i < d->ops->max_queues; i++) {
		if (!was[i])
			continue;
		ret = q_try_start(d, i);
		if (ret && !first)
			first = ret;
	}
	return first;

unmap:
	unmap_regions(nr, mapped);
	return ret;
}

/* Ring index from a vring-state payload, checked against max_queues. */
static int ring_index(struct vu_dev *d, uint32_t idx, const char *req)
{
	if (idx >= d->ops->max_queues) {
		log_err(d->name, "%s: queue %u beyond %u queues", req, idx,
			d->ops->max_queues);
		return -ERANGE;
	}
	return 0;
}

/* Kick, call and error fds are eventfds (the specification's word). An
 * eventfd is an anonymous inode, whose mode has no file type; a pipe, a
 * socket, a terminal or a file has one, and a write to it (the queue
 * thread writes the call fd per completion) could block the thread that
 * makes it, or reach whatever the front-end opened. */
static bool is_eventfd_like(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && !(st.st_mode & S_IFMT);
}

static int set_vring_fd(struct vu_dev *d, const struct vu_msg *m, int *fds)
{
	unsigned int i = m->p.u64 & VU_VRING_IDX_MASK;
	int fd = (m->p.u64 & VU_VRING_NOFD) ? -1 : fds[0];
	struct vu_queue *q;
	int ret;

	ret = ring_index(d, i, vu_req_name(m->hdr.request));
	if (ret)
		return ret;
	if (fd >= 0 && !is_eventfd_like(fd)) {
		log_err(d->name, "%s: queue %u: the fd is not an eventfd",
			vu_req_name(m->hdr.request), i);
		return -EINVAL;
	}
	q = &d->queues[i];
	if (fd >= 0)
		fds[0] = -1;	/* ours now */
	/* A front-end may replace a running queue's call fd: the new
	 * eventfd takes the old one's number, which the device keeps
	 * writing, with no stop; the device interrupts once on it (see
	 * call_replaced). */
	if (m->hdr.request == VU_SET_VRING_CALL && q->started && fd >= 0 &&
	    q->call_fd >= 0) {
		ret = dup3(fd, q->call_fd, O_CLOEXEC) < 0 ? -errno : 0;
		close(fd);
		if (ret) {
			log_err(q->name, "new call fd: %s", strerror(-ret));
			return ret;
		}
		if (d->ops->call_replaced)
			d->ops->call_replaced(d->opaque, i);
		return 0;
	}
	/* The device holds the three fds while the queue runs. */
	q_stop(d, i);
	switch (m->hdr.request) {
	case VU_SET_VRING_ERR:
		close_fd(&q->err_fd);
		q->err_fd = fd;
		break;
	case VU_SET_VRING_KICK:
		close_fd(&q->kick_fd);
		q->kick_fd = fd;
		q->kick_set = true;
		break;
	default:
		close_fd(&q->call_fd);
		q->call_fd = fd;
		break;
	}
	return q_try_start(d, i);
}

static int set_vring_addr(struct vu_dev *d, const struct vu_vring_addr *a)
{
	struct vu_queue *q;
	uint64_t gpa;
	int ret;

	ret = ring_index(d, a->index, "SET_VRING_ADDR");
	if (ret)
		return ret;
	q = &d->queues[a->index];
	if (q->started) {
		log_err(q->name, "SET_VRING_ADDR on a running queue");
		return -EBUSY;
	}
	if ((a->flags & ~VU_VRING_F_LOG) ||
	    ((a->flags & VU_VRING_F_LOG) &&
	     !(d->features & (1ULL << VU_F_LOG_ALL)))) {
		log_err(q->name, "ring flags 0x%x not supported", a->flags);
		return -EINVAL;
	}
	if (vu_uaddr_to_gpa(d, a->desc, 1, &gpa) ||
	    vu_uaddr_to_gpa(d, a->avail, 1, &gpa) ||
	    vu_uaddr_to_gpa(d, a->used, 1, &gpa)) {
		log_err(q->name, "ring at 0x%" PRIx64 "/0x%" PRIx64
			"/0x%" PRIx64 " outside the memory table",
			a->desc, a->avail, a->used);
		return -EFAULT;
	}
	q->desc_ua = a->desc;
	q->avail_ua = a->avail;
	q->used_ua = a->used;
	q->addr_set = true;
	return 0;
}

static int set_vring_state(struct vu_dev *d, const struct vu_msg *m)
{
	const struct vu_vring_state *s = &m->p.state;
	struct vu_queue *q;
	int ret;

	ret = ring_index(d, s->index, vu_req_name(m->hdr.request));
	if (ret)
		return ret;
	q = &d->queues[s->index];
	if (m->hdr.request == VU_SET_VRING_ENABLE) {
		if (!(d->features & (1ULL << VU_F_PROTOCOL_FEATURES)) ||
		    s->num > 1) {
			log_err(q->name, "bad SET_VRING_ENABLE %u", s->num);
			return -EINVAL;
		}
		if (!s->num) {
			q_stop(d, s->index);
			q->enabled = false;
			return 0;
		}
		q->enabled = true;
		return q_try_start(d, s->index);
	}
	if (q->started) {
		log_err(q->name, "%s on a running queue",
			vu_req_name(m->hdr.request));
		return -EBUSY;
	}
	if (m->hdr.request == VU_SET_VRING_NUM) {
		if (!s->num || s->num > VIRTQ_MAX_SIZE) {
			log_err(q->name, "queue size %u", s->num);
			return -EINVAL;
		}
		q->num = (uint16_t)s->num;
		q->num_set = true;
		return 0;
	}
	/* SET_VRING_BASE */
	if (s->num > UINT16_MAX) {
		log_err(q->name, "base 0x%x", s->num);
		return -EINVAL;
	}
	q->base = virtq_base_from_vhost(packed(d), (uint16_t)s->num);
	return 0;
}

static int get_vring_base(struct vu_dev *d, struct vu_msg *m)
{
	unsigned int i = m->p.state.index;
	struct vu_queue *q;
	int ret;

	ret = ring_index(d, i, "GET_VRING_BASE");
	if (ret)
		return ret;
	q = &d->queues[i];
	q_stop(d, i);
	/* Stopped until the next SET_VRING_KICK. */
	close_fd(&q->kick_fd);
	q->kick_set = false;
	m->p.state.num = virtq_base_to_vhost(packed(d), q->base);
	m->hdr.size = sizeof(m->p.state);
	return 0;
}

static int set_features(struct vu_dev *d, uint64_t f)
{
	int ret;

	if (f & ~offered_features(d)) {
		log_err(d->name, "SET_FEATURES 0x%" PRIx64 ": bits 0x%" PRIx64
			" were not offered", f, f & ~offered_features(d));
		return -EINVAL;
	}
	for (unsigned int i = 0; i < d->ops->max_queues; i++) {
		if (d->queues[i].started && f != d->features) {
			log_err(d->name, "SET_FEATURES while q%u runs", i);
			return -EBUSY;
		}
	}
	if (d->ops->set_features) {
		ret = d->ops->set_features(d->opaque, f);
		if (ret)
			return ret;
	}
	d->features = f;
	return 0;
}

static bool any_started(const struct vu_dev *d)
{
	for (unsigned int i = 0; i < d->ops->max_queues; i++)
		if (d->queues[i].started)
			return true;
	return false;
}

/* Checks an inflight description's queue count and size: 0 or -EINVAL,
 * -EBUSY while a queue runs on the current area. */
static int inflight_check(struct vu_dev *d, const struct vu_inflight *in,
			  const char *req)
{
	if (!in->num_queues || in->num_queues > d->ops->max_queues ||
	    !in->queue_size || in->queue_size > VIRTQ_MAX_SIZE) {
		log_err(d->name, "%s: %u queues of %u entries (at most %u "
			"of %u)", req, in->num_queues, in->queue_size,
			d->ops->max_queues, VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	if (any_started(d)) {
		log_err(d->name, "%s while queues run", req);
		return -EBUSY;
	}
	return 0;
}

static void inflight_install(struct vu_dev *d, void *map, size_t map_len,
			     size_t delta, const struct vu_inflight *in)
{
	struct vu_inflight_area *a = &d->inflight;

	inflight_unmap(a);
	a->map = map;
	a->map_len = map_len;
	a->base = (uint8_t *)map + delta;
	a->num_queues = in->num_queues;
	a->queue_size = in->queue_size;
	a->region_size = inflight_region_size(in->queue_size);
}

/* GET_INFLIGHT_FD: a new zeroed area with every region initialised,
 * installed as the current one and its fd sent with the reply. */
static int get_inflight_fd(struct vu_dev *d, struct vu_msg *m,
			   int *reply_fd)
{
	struct vu_inflight *in = &m->p.inflight;
	size_t rsize, len;
	void *p;
	int fd, ret;

	ret = inflight_check(d, in, "GET_INFLIGHT_FD");
	if (ret)
		return ret;
	rsize = inflight_region_size(in->queue_size);
	len = rsize * in->num_queues;
	fd = memfd_create("tern-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sealed: the front-end keeps it and hands it to the back-end that
	 * follows us, which refuses one it could be shrunk under. */
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		goto fail;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	for (unsigned int i = 0; i < in->num_queues; i++) {
		struct vu_inflight_region *r =
			(void *)((uint8_t *)p + i * rsize);

		r->version = 1;
		r->desc_num = in->queue_size;
	}
	inflight_install(d, p, len, 0, in);
	in->mmap_size = len;
	in->mmap_offset = 0;
	m->hdr.size = sizeof(*in);
	*reply_fd = fd;
	log_debug(d->name, "inflight area: %u queues of %u, %zu bytes",
		  in->num_queues, in->queue_size, len);
	return 0;

fail:
	log_err(d->name, "GET_INFLIGHT_FD: %s", strerror(-ret));
	close(fd);
	return ret;
}

/* SET_INFLIGHT_FD: map the area the front-end kept (maybe across our
 * crash). The fd stays the caller's to close: the mapping is enough. */
static int set_inflight_fd(struct vu_dev *d, const struct vu_inflight *in,
			   int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t need, off, delta;
	struct stat st;
	void *p;
	int ret;

	ret = inflight_check(d, in, "SET_INFLIGHT_FD");
	if (ret)
		return ret;
	need = (uint64_t)inflight_region_size(in->queue_size) *
	       in->num_queues;
	if (in->mmap_size < need || in->mmap_offset > (uint64_t)INT64_MAX - need) {
		log_err(d->name, "SET_INFLIGHT_FD: 0x%" PRIx64 " bytes at 0x%"
			PRIx64 " for %u queues of %u (0x%" PRIx64 " needed)",
			in->mmap_size, in->mmap_offset, in->num_queues,
			in->queue_size, need);
		return -EINVAL;
	}
	ret = check_sealed(d, fd, "SET_INFLIGHT_FD");
	if (ret)
		return ret;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size < in->mmap_offset + need) {
		/* Past the end of the file a touch would SIGBUS. */
		log_err(d->name, "SET_INFLIGHT_FD: fd is not a file of at "
			"least 0x%" PRIx64 " bytes", in->mmap_offset + need);
		return -EINVAL;
	}
	off = in->mmap_offset & ~((uint64_t)page - 1);
	delta = in->mmap_offset - off;
	p = mmap(NULL, (size_t)(need + delta), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED) {
		ret = -errno;
		log_err(d->name, "SET_INFLIGHT_FD: mmap: %s", strerror(-ret));
		return ret;
	}
	inflight_install(d, p, (size_t)(need + delta), (size_t)delta, in);
	log_debug(d->name, "inflight area set: %u queues of %u",
		  in->num_queues, in->queue_size);
	return 0;
}

static int get_config(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_config *c = &m->p.config;
	int ret = -EOPNOTSUPP;

	if (d->ops->get_config)
		ret = d->ops->get_config(d->opaque, c->offset, c->data,
					 c->size);
	if (ret) {
		/* The spec's error answer: an empty payload. */
		log_warn(d->name, "GET_CONFIG 0x%x+%u: %s", c->offset, c->size,
			 strerror(-ret));
		m->hdr.size = 0;
	}
	return 0;
}

/* Handles a checked message. Requests with their own reply leave it in m
 * (the header is fixed up by the caller) and an fd to send with it in
 * *reply_fd, which the caller closes after sending. fds the handler keeps
 * are set to -1; the caller closes the rest. */
static int handle(struct vu_dev *d, struct vu_msg *m, int *fds,
		  int *reply_fd)
{
	switch (m->hdr.request) {
	case VU_GET_FEATURES:
		m->p.u64 = offered_features(d);
		m->hdr.size = sizeof(m->p.u64);
		return 0;
	case VU_SET_FEATURES:
		return set_features(d, m->p.u64);
	case VU_GET_PROTOCOL_FEATURES:
		m->p.u64 = offered_protocol(d);
		m->hdr.size = sizeof(m->p.u64);
		return 0;
	case VU_SET_PROTOCOL_FEATURES:
		if (m->p.u64 & ~offered_protocol(d)) {
			log_err(d->name, "SET_PROTOCOL_FEATURES 0x%" PRIx64
				": not offered", m->p.u64);
			return -EINVAL;
		}
		d->protocol_features = m->p.u64;
		return 0;
	case VU_SET_OWNER:
		d->owner = true;
		return 0;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		reset_device(d);
		return 0;
	case VU_SET_MEM_TABLE:
		return set_mem_table(d, &m->p.mem, fds);
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		return set_vring_state(d, m);
	case VU_SET_VRING_ADDR:
		return set_vring_addr(d, &m->p.addr);
	case VU_GET_VRING_BASE:
		return get_vring_base(d, m);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return set_vring_fd(d, m, fds);
	case VU_GET_QUEUE_NUM:
		m->p.u64 = d->ops->max_queues;
		m->hdr.size = sizeof(m->p.u64);
		return 0;
	case VU_GET_CONFIG:
		return get_config(d, m);
	case VU_SET_CONFIG:
		if (!d->ops->set_config)
			return -EOPNOTSUPP;
		return d->ops->set_config(d->opaque, m->p.config.offset,
					  m->p.config.data, m->p.config.size,
					  m->p.config.flags);
	case VU_GET_INFLIGHT_FD:
		return get_inflight_fd(d, m, reply_fd);
	case VU_SET_INFLIGHT_FD:
		return set_inflight_fd(d, &m->p.inflight, fds[0]);
	default:
		/* Table entries gated by features never offered (log) end
		 * here only if the gate is lifted. */
		return -ENOSYS;
	}
}

int vu_dispatch(struct vu_dev *d)
{
	struct vu_msg m;
	int fds[VU_MAX_FDS];
	size_t nfds = 0;
	const struct vu_req_info *ri;
	bool ack;
	int ret, sret, reply_fd = -1;

	ret = vu_msg_recv(d->sock, &m, fds, &nfds);
	if (ret == -EAGAIN || ret == -ECONNRESET)
		return ret;
	if (ret && ret != -E2BIG) {
		log_err(d->name, "receiving a message: %s", strerror(-ret));
		return ret == -EMSGSIZE ? -EPROTO : ret;
	}
	ri = vu_req_info(m.hdr.request);
	/* NEED_REPLY counts only once REPLY_ACK is negotiated, and requests
	 * with their own reply answer with that. */
	ack = (m.hdr.flags & VU_FLAG_NEED_REPLY) && has_pf(d, VU_PF_REPLY_ACK) &&
	      !(ri && ri->has_reply);
	if (ret == -E2BIG) {
		log_err(d->name, "%s: more than %u fds", vu_req_name(m.hdr.request),
			VU_MAX_FDS);
		goto done;
	}
	ret = vu_msg_check(&m, nfds);
	if (ret) {
		log_err(d->name, "malformed %s (request %u, flags 0x%x, "
			"size %u, %zu fds)", vu_req_name(m.hdr.request),
			m.hdr.request, m.hdr.flags, m.hdr.size, nfds);
		goto done;
	}
	if (ri->pfeature >= 0 && !has_pf(d, (unsigned int)ri->pfeature)) {
		log_err(d->name, "%s without protocol feature %d", ri->name,
			ri->pfeature);
		ret = -EOPNOTSUPP;
		goto done;
	}
	log_debug(d->name, "%s size %u fds %zu", ri->name, m.hdr.size, nfds);
	ret = handle(d, &m, fds, &reply_fd);

done:
	vu_close_fds(fds, &nfds);
	if (ri && ri->has_reply) {
		if (ret)
			return -EPROTO;	/* no answer the front-end would parse */
		m.hdr.flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
		sret = vu_msg_send(d->sock, &m, reply_fd >= 0 ? &reply_fd : NULL,
				   reply_fd >= 0);
		close_fd(&reply_fd);
		if (sret)
			log_err(d->name, "%s reply: %s", ri->name,
				strerror(-sret));
		return sret;
	}
	if (ack) {
		m.hdr.flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
		m.hdr.size = sizeof(m.p.u64);
		m.p.u64 = ret ? (uint64_t)-ret : 0;
		sret = vu_msg_send(d->sock, &m, NULL, 0);
		if (sret)
			log_err(d->name, "%s ack: %s",
				vu_req_name(m.hdr.request), strerror(-sret));
		return sret;
	}
	return ret ? -EPROTO : 0;
}
