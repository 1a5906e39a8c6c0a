#include "block/uring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "core/log.h"

#if HAVE_NUMA
#include <numa.h>
#endif

/* Kernel ABI values, for liburing headers older than the running kernel. */
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif

#define DEPTH_MAX 4096u
/* CQ entries kept free for the kick and stop reads. */
#define WATCH_SLOTS 2u
/* -EAGAIN/-EINTR resubmissions of one request without progress before the
 * error is reported rather than retried forever. */
#define RETRY_MAX 100u
/* Fixed-buffer chunks: at least 2 MiB, at most 1 GiB (the kernel's limit
 * for one registered buffer), and no more slots than its table takes. */
#define CHUNK_SHIFT_MIN 21u
#define CHUNK_SHIFT_MAX 30u
#define SLOTS_MAX 16384u
/* CQEs copied out per io_uring_cq_advance. */
#define REAP_BATCH 32u

#define ZERO_RANGE_MODE (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)
#define PUNCH_MODE (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)

/* Setup flags, best first. SINGLE_ISSUER lets the kernel skip locking on
 * submission and COOP_TASKRUN runs completion work when the thread enters
 * the kernel anyway instead of interrupting it; both suit one thread that
 * always waits in io_uring_enter. TASKRUN_FLAG makes the kernel say in the
 * SQ ring's flags when such work waits, so a polling thread enters only
 * then (uring_engine_poll). SINGLE_ISSUER binds the ring to the thread that
 * creates it, and engines are created before their I/O thread exists, so
 * the ring starts disabled and the first submitter enables it (and so
 * becomes its issuer). A disabled ring also takes restrictions (see
 * restrict_ring). A kernel that does not know a flag answers -EINVAL and
 * the next set is tried. Every set has R_DISABLED: a kernel without it
 * (before 5.10) cannot restrict a ring, and the engine refuses to make an
 * unrestricted one (-EINVAL) rather than run I/O that seccomp cannot see
 * and nothing else limits.
 * (DEFER_TASKRUN was measured here and left out: it woke the thread on the
 * first completion of a burst, 2.5x the interrupts to the driver, for no
 * CPU saved.) */
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif
static const unsigned int setup_tries[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED |
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_R_DISABLED | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_R_DISABLED | IORING_SETUP_COOP_TASKRUN,
	IORING_SETUP_R_DISABLED,
};

/* With SQPOLL a kernel thread submits and completes: the flags about
 * interrupting the issuing thread do not apply (the kernel refuses them).
 * The ring starts disabled as the others do, so that it is restricted
 * before its SQ thread takes the first entry; the SQ thread waits for the
 * enable. If the kernel refuses SQPOLL (before 5.11 it needs privilege),
 * the engine goes on without. */
static const unsigned int sqpoll_tries[] = {
	IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER |
		IORING_SETUP_R_DISABLED,
	IORING_SETUP_SQPOLL | IORING_SETUP_R_DISABLED,
};

/* io_uring operations bypass seccomp: a ring could open or send what the
 * thread's filter forbids. Restricted before it is enabled, the ring takes
 * only the operations the engine submits, fixed files as the only SQE flag
 * (fixed buffers need none), and once enabled one register operation:
 * IORING_REGISTER_BUFFERS_UPDATE, with which the I/O thread registers a
 * chunk of guest RAM the first time a request lands in it (see
 * uring_engine_use_memory). It can only name memory the thread may read
 * and write anyway, so it gives the ring no reach beyond its filter. */
static const uint8_t ring_ops[] = {
	IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
	IORING_OP_FALLOCATE, IORING_OP_READ, IORING_OP_READ_FIXED,
	IORING_OP_WRITE_FIXED,
};

static int restrict_ring(struct uring_engine *e)
{
	struct io_uring_restriction res[sizeof(ring_ops) + 2];
	size_t n = 0;

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(ring_ops); i++, n++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n].sqe_op = ring_ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_REGISTER_BUFFERS_UPDATE;
	/* Debian's liburing 2.3 does not export the helper either. */
	if (syscall(__NR_io_uring_register, e->ring.ring_fd,
		    IORING_REGISTER_RESTRICTIONS, res, (unsigned int)n) < 0)
		return -errno;
	return 0;
}

static void park(struct uring_engine *e, struct blk_req *req, bool front)
{
	e->stats.overflowed++;
	if (front) {
		req->priv.next = e->ovf_head;
		e->ovf_head = req;
		if (!e->ovf_tail)
			e->ovf_tail = req;
		return;
	}
	req->priv.next = NULL;
	if (e->ovf_tail)
		e->ovf_tail->priv.next = req;
	else
		e->ovf_head = req;
	e->ovf_tail = req;
}

static struct blk_req *unpark(struct uring_engine *e)
{
	struct blk_req *req = e->ovf_head;

	e->ovf_head = req->priv.next;
	if (!e->ovf_head)
		e->ovf_tail = NULL;
	req->priv.next = NULL;
	return req;
}

/* The part of a READ/WRITE still to do, as an iovec array for one SQE:
 * either whole segments of the caller's array from priv.idx, or, when the
 * next segment was partly done (or alone exceeds the test limit), the rest
 * of that one segment through priv.part. Never writes to req->iov. */
static unsigned int rw_piece(const struct uring_engine *e, struct blk_req *req,
			     const struct iovec **out)
{
	size_t max = e->limit ? e->limit : SIZE_MAX, sum = 0;
	const struct iovec *v;
	unsigned int n = 0;

	*out = NULL;
	if (req->priv.idx >= req->niov)
		return 0;
	v = &req->iov[req->priv.idx];
	if (req->priv.skip || v->iov_len > max) {
		size_t left = v->iov_len - req->priv.skip;

		req->priv.part.iov_base = (char *)v->iov_base + req->priv.skip;
		req->priv.part.iov_len = left < max ? left : max;
		*out = &req->priv.part;
		return 1;
	}
	/* readv takes at most IOV_MAX segments; the rest goes as a short
	 * transfer would. */
	while (req->priv.idx + n < req->niov && n < IOV_MAX &&
	       v[n].iov_len <= max - sum) {
		sum += v[n].iov_len;
		n++;
	}
	*out = v;
	return n;
}

/* Moves the position forward by N bytes; true when the request is done.
 * Zero-length segments are stepped over. */
static bool rw_advance(struct blk_req *req, size_t n)
{
	req->priv.done += n;
	while (req->priv.idx < req->niov) {
		size_t left = req->iov[req->priv.idx].iov_len - req->priv.skip;

		if (n < left) {
			req->priv.skip += n;
			return false;
		}
		n -= left;
		req->priv.idx++;
		req->priv.skip = 0;
	}
	return true;
}

/* Registers chunk SLOT of region R. */
static void chunk_register(struct uring_engine *e,
			   const struct uring_mem_region *r, unsigned int slot)
{
	uint64_t off = (uint64_t)(slot - r->slot0) << e->chunk_shift;
	uint64_t len = r->size - off;
	struct iovec iov;
	int ret;

	if (len > 1ULL << e->chunk_shift)
		len = 1ULL << e->chunk_shift;
	iov = (struct iovec){ r->hva + off, (size_t)len };
	ret = io_uring_register_buffers_update_tag(&e->ring, slot, &iov, NULL,
						   1);
	if (ret == 1) {
		e->chunk[slot] = CHUNK_FIXED;
		e->stats.fixed_chunks++;
		return;
	}
	e->chunk[slot] = CHUNK_REFUSED;
	log_debug(e->name, "cannot register %llu bytes of memory at %p as a "
		  "fixed buffer (%s): its requests stay vectored",
		  (unsigned long long)len, iov.iov_base,
		  strerror(ret < 0 ? -ret : EIO));
}

/* The fixed-buffer slot V lies wholly in (registering it now if it never
 * was), or -1. */
static int fixed_slot(struct uring_engine *e, const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	if (!e->chunk || !v->iov_len)
		return -1;
	for (unsigned int i = 0; i < e->nmem; i++) {
		const struct uring_mem_region *r = &e->mem[i];
		uint64_t off;
		unsigned int slot;

		if (p < r->hva || (uint64_t)(p - r->hva) >= r->size)
			continue;
		off = (uint64_t)(p - r->hva);
		if (v->iov_len > r->size - off ||
		    off >> e->chunk_shift !=
			    (off + v->iov_len - 1) >> e->chunk_shift)
			return -1;
		slot = r->slot0 + (unsigned int)(off >> e->chunk_shift);
		if (e->chunk[slot] == CHUNK_NEW)
			chunk_register(e, r, slot);
		return e->chunk[slot] == CHUNK_FIXED ? (int)slot : -1;
	}
	return -1;
}

static void prep(struct uring_engine *e, struct blk_req *req,
		 struct io_uring_sqe *sqe)
{
	uint64_t pos = req->offset + req->priv.done;
	const struct iovec *v;
	unsigned int n;
	int slot;

	switch (req->op) {
	case BLK_READ:
		n = rw_piece(e, req, &v);
		slot = n == 1 ? fixed_slot(e, v) : -1;
		if (slot >= 0)
			io_uring_prep_read_fixed(sqe, e->fd, v->iov_base,
						 (unsigned int)v->iov_len, pos,
						 slot);
		else
			io_uring_prep_readv(sqe, e->fd, v, n, pos);
		break;
	case BLK_WRITE:
		n = rw_piece(e, req, &v);
		slot = n == 1 ? fixed_slot(e, v) : -1;
		if (slot >= 0)
			io_uring_prep_write_fixed(sqe, e->fd, v->iov_base,
						  (unsigned int)v->iov_len, pos,
						  slot);
		else
			io_uring_prep_writev(sqe, e->fd, v, n, pos);
		break;
	case BLK_FLUSH:
		io_uring_prep_fsync(sqe, e->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_DISCARD:
		req->priv.mode = PUNCH_MODE;
		io_uring_prep_fallocate(sqe, e->fd, PUNCH_MODE,
					(off_t)req->offset, (off_t)req->len);
		break;
	case BLK_WRITE_ZEROES:
		req->priv.mode = e->zero_mode;
		if (req->priv.mode) {
			io_uring_prep_fallocate(sqe, e->fd, req->priv.mode,
						(off_t)req->offset,
						(off_t)req->len);
			break;
		}
		/* Known unsupported: a NOP carries it to the completion path,
		 * which answers -EOPNOTSUPP. */
		io_uring_prep_nop(sqe);
		break;
	default:
		/* Fails with -EINVAL on completion, like a bad opcode would. */
		io_uring_prep_nop(sqe);
		break;
	}
	if (sqe->opcode != IORING_OP_NOP)
		sqe->flags |= e->sqe_flags;
	io_uring_sqe_set_data(sqe, req);
	e->inflight++;
	e->stats.submitted++;
	if (sqe->opcode == IORING_OP_READ_FIXED ||
	    sqe->opcode == IORING_OP_WRITE_FIXED)
		e->stats.fixed++;
}

/* Into the SQ if FIFO order and the in-flight cap allow, else parked;
 * FRONT for a request that was already out once (it is older than
 * anything on the list). */
static bool submit_or_park(struct uring_engine *e, struct blk_req *req,
			   bool front)
{
	struct io_uring_sqe *sqe = NULL;

	if (!e->ovf_head && e->inflight < e->cap)
		sqe = io_uring_get_sqe(&e->ring);
	if (sqe)
		prep(e, req, sqe);
	else
		park(e, req, front);
	return sqe != NULL;
}

/* Whether the completion of each of the N requests REQS is in the CQ. */
static bool all_posted(struct uring_engine *e, struct blk_req *const *reqs,
		       unsigned int n)
{
	struct io_uring_cqe *cqe;
	unsigned int head, found = 0;

	io_uring_for_each_cqe(&e->ring, head, cqe) {
		void *data = io_uring_cqe_get_data(cqe);

		for (unsigned int i = 0; i < n; i++)
			found += data == reqs[i];
	}
	return found == n;
}

/* Submitting early (block/uring.h): REQ went into the SQ during an eager
 * turn; at URING_EAGER_BATCH entries the SQ goes to the kernel now. When
 * it did not all go, or the kernel completed the requests inside the
 * submission (nothing waits on a device), the turn's own submission takes
 * the rest. */
static void eager_note(struct uring_engine *e, struct blk_req *req)
{
	int ret;

	if (!e->eager)
		return;
	e->eager_req[e->neager++] = req;
	if (e->neager < URING_EAGER_BATCH &&
	    io_uring_sq_ready(&e->ring) < URING_EAGER_BATCH)
		return;
	e->stats.enters++;
	e->stats.eager++;
	ret = io_uring_submit(&e->ring);
	/* An error stays for the turn's submission to see and report. */
	if (ret < 0 || io_uring_sq_ready(&e->ring) ||
	    all_posted(e, e->eager_req, e->neager))
		e->eager = false;
	e->neager = 0;
}

/* Moves parked requests into the SQ while there is room. */
static void refill(struct uring_engine *e)
{
	struct io_uring_sqe *sqe;

	while (e->ovf_head && e->inflight < e->cap) {
		sqe = io_uring_get_sqe(&e->ring);
		if (!sqe)
			break;
		prep(e, unpark(e), sqe);
	}
}

static void finish(struct uring_engine *e, struct blk_req *req, int res)
{
	e->stats.completed++;
	e->done(e->ctx, req, res);
}

static void resubmit(struct uring_engine *e, struct blk_req *req)
{
	e->stats.resubmitted++;
	submit_or_park(e, req, true);
}

static void zero_fallback(struct uring_engine *e, struct blk_req *req)
{
	if (req->priv.mode == ZERO_RANGE_MODE &&
	    e->zero_mode == ZERO_RANGE_MODE) {
		e->zero_mode = PUNCH_MODE;
		log_info(e->name, "%s: no FALLOC_FL_ZERO_RANGE; write-zeroes "
			 "punches holes instead", e->img->path);
	} else if (req->priv.mode == PUNCH_MODE && e->zero_mode == PUNCH_MODE) {
		e->zero_mode = 0;
		log_info(e->name, "%s: the file system can neither zero nor "
			 "punch ranges; write-zeroes is unsupported",
			 e->img->path);
	}
}

static void req_complete(struct uring_engine *e, struct blk_req *req, int res)
{
	e->inflight--;
	if (res == -EAGAIN || res == -EINTR) {
		if (++req->priv.retries <= RETRY_MAX) {
			resubmit(e, req);
			return;
		}
		log_debug(e->name, "request at %llu: %s %u times, giving up",
			  (unsigned long long)req->offset, strerror(-res),
			  RETRY_MAX);
		goto out;
	}
	if (res == -EOPNOTSUPP && req->op == BLK_WRITE_ZEROES &&
	    req->priv.mode) {
		zero_fallback(e, req);
		if (e->zero_mode) {
			resubmit(e, req);
			return;
		}
		goto out;
	}
	if (res < 0)
		goto out;

	switch (req->op) {
	case BLK_READ:
	case BLK_WRITE:
		if (rw_advance(req, (size_t)res)) {
			res = 0;
			break;
		}
		if (res == 0) {
			/* Nothing moved yet bytes are left: end of file. */
			log_debug(e->name, "%s at %llu: end of image after "
				  "%llu bytes",
				  req->op == BLK_READ ? "read" : "write",
				  (unsigned long long)req->offset,
				  (unsigned long long)req->priv.done);
			res = -EIO;
			break;
		}
		req->priv.retries = 0;
		resubmit(e, req);
		return;
	case BLK_FLUSH:
	case BLK_DISCARD:
		res = 0;
		break;
	case BLK_WRITE_ZEROES:
		res = req->priv.mode ? 0 : -EOPNOTSUPP;
		break;
	default:
		res = -EINVAL;
		break;
	}
out:
	finish(e, req, res);
}

static const char *watch_name(const struct uring_engine *e,
			      const struct uring_watch *w)
{
	return w == &e->kick ? "kick" : "stop";
}

static void watch_complete(struct uring_engine *e, struct uring_watch *w,
			   int res)
{
	w->armed = false;
	if (res > 0) {
		w->fired = true;
		return;
	}
	/* Re-armed by the next run_once. */
	if (res == -EAGAIN || res == -EINTR)
		return;
	w->broken = true;
	log_err(e->name, "%s fd %d: %s; no longer watched", watch_name(e, w),
		w->fd, res ? strerror(-res) : "end of file");
}

/* Queues the eventfd read. The SQ may be full of requests queued by
 * callbacks: then it is submitted first to make room. */
static int watch_arm(struct uring_engine *e, struct uring_watch *w)
{
	struct io_uring_sqe *sqe;
	int ret = 0;

	if (w->fd < 0 || w->armed || w->broken)
		goto out;
	sqe = io_uring_get_sqe(&e->ring);
	if (!sqe) {
		e->stats.enters++;
		do
			ret = io_uring_submit(&e->ring);
		while (ret == -EINTR);	/* a signal to this thread */
		if (ret < 0)
			goto out;
		ret = 0;
		sqe = io_uring_get_sqe(&e->ring);
		if (!sqe) {
			ret = -EBUSY;
			goto out;
		}
	}
	io_uring_prep_read(sqe, w->fd, &w->count, sizeof(w->count), 0);
	io_uring_sqe_set_data(sqe, w);
	w->armed = true;
out:
	return ret;
}

static void dispatch(struct uring_engine *e, void *data, int res)
{
	if (data == &e->kick || data == &e->stop)
		watch_complete(e, data, res);
	else
		req_complete(e, data, res);
}

/* Copies CQEs out and releases their slots before any callback runs, so a
 * callback that queues (or flushes) never finds the CQ fuller than the
 * in-flight count says. */
static unsigned int reap(struct uring_engine *e)
{
	struct {
		void *data;
		int res;
	} batch[REAP_BATCH];
	struct io_uring_cqe *cqe;
	unsigned int head, n, total = 0;

	do {
		n = 0;
		io_uring_for_each_cqe(&e->ring, head, cqe) {
			batch[n].data = io_uring_cqe_get_data(cqe);
			batch[n].res = cqe->res;
			if (++n == REAP_BATCH)
				break;
		}
		io_uring_cq_advance(&e->ring, n);
		for (unsigned int i = 0; i < n; i++)
			dispatch(e, batch[i].data, batch[i].res);
		total += n;
	} while (n == REAP_BATCH);
	return total;
}

static int engine_enable(struct uring_engine *e)
{
	int ret;

	if (!e->disabled)
		return 0;
	/* Debian's liburing 2.3 shared library does not export
	 * io_uring_enable_rings (it is missing from its symbol map), so the
	 * register call is made directly; it reports through errno. */
	if (syscall(__NR_io_uring_register, e->ring.ring_fd,
		    IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		ret = -errno;
		log_err(e->name, "cannot enable the ring: %s", strerror(-ret));
		return ret;
	}
	e->disabled = false;
	return 0;
}

/* Creates the ring with the first of TRIES (N of them) the kernel takes:
 * its index, or -errno. */
static int ring_setup(struct uring_engine *e, unsigned int depth,
		      const unsigned int *tries, unsigned int n,
		      unsigned int sqpoll_idle_ms, struct io_uring_params *p)
{
	int ret = -EINVAL;

	for (unsigned int i = 0; i < n; i++) {
		memset(p, 0, sizeof(*p));
		/* Twice the SQ plus the watch reads, rounded up by the kernel. */
		p->flags = tries[i] | IORING_SETUP_CQSIZE;
		p->cq_entries = 2 * depth + WATCH_SLOTS;
		p->sq_thread_idle = sqpoll_idle_ms;
		ret = io_uring_queue_init_params(depth, &e->ring, p);
		if (ret == 0)
			return (int)i;
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

int uring_engine_init(struct uring_engine *e, const char *name,
		      struct blk_image *img, unsigned int depth,
		      blk_complete_fn done, void *ctx)
{
	return uring_engine_init_opts(e, name, img, depth, done, ctx, NULL);
}

int uring_engine_init_opts(struct uring_engine *e, const char *name,
			   struct blk_image *img, unsigned int depth,
			   blk_complete_fn done, void *ctx,
			   const struct uring_engine_opts *opts)
{
	struct io_uring_params p;
	unsigned int flags = 0;
	int ret, i = -1;

	memset(e, 0, sizeof(*e));
	e->ring.ring_fd = -1;
	e->kick.fd = -1;
	e->stop.fd = -1;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "uring");
	if (!depth || !img || img->fd < 0 || !done) {
		ret = -EINVAL;
		goto err;
	}
	/* A virtqueue may be larger (up to 32768): the overflow list holds
	 * what the rings do not. */
	if (depth > DEPTH_MAX)
		depth = DEPTH_MAX;
	e->img = img;
	e->done = done;
	e->ctx = ctx;
	e->zero_mode = ZERO_RANGE_MODE;

	if (opts && opts->sqpoll) {
		i = ring_setup(e, depth, sqpoll_tries,
			       sizeof(sqpoll_tries) / sizeof(sqpoll_tries[0]),
			       opts->sqpoll_idle_ms, &p);
		if (i < 0)
			log_warn(e->name, "no SQPOLL ring here (%s): the I/O "
				 "thread submits itself", strerror(-i));
		else
			flags = sqpoll_tries[i];
	}
	if (i < 0) {
		i = ring_setup(e, depth, setup_tries,
			       sizeof(setup_tries) / sizeof(setup_tries[0]), 0,
			       &p);
		if (i >= 0)
			flags = setup_tries[i];
	}
	if (i < 0) {
		ret = i;
		log_err(e->name, "io_uring_queue_init: %s%s", strerror(-ret),
			ret == -ENOSYS || ret == -EPERM ?
			" (io_uring disabled on this host?)" :
			ret == -EINVAL ? " (no IORING_SETUP_R_DISABLED: a ring "
			"cannot be restricted before Linux 5.10)" : "");
		goto err_ring;
	}
	e->setup_flags = flags;
	e->disabled = flags & IORING_SETUP_R_DISABLED;
	e->cap = p.cq_entries - WATCH_SLOTS;

	/* A registered file saves a file reference per request; fall back to
	 * the plain descriptor if registration is refused. */
	ret = io_uring_register_files(&e->ring, &img->fd, 1);
	if (ret == 0) {
		e->fd = 0;
		e->sqe_flags = IOSQE_FIXED_FILE;
	} else {
		log_debug(e->name, "cannot register the image fd (%s)",
			  strerror(-ret));
		e->fd = img->fd;
	}
	ret = restrict_ring(e);
	if (ret) {
		log_err(e->name, "io_uring restrictions: %s", strerror(-ret));
		goto err_exit;
	}
	log_debug(e->name, "io_uring: sq %u cq %u, setup flags 0x%x, %s file",
		  p.sq_entries, p.cq_entries, e->setup_flags,
		  e->sqe_flags ? "fixed" : "plain");
	return 0;

err_exit:
	io_uring_queue_exit(&e->ring);

err_ring:
	e->ring.ring_fd = -1;
err:
	return ret;
}

void uring_engine_destroy(struct uring_engine *e)
{
	unsigned int n;

	if (e->ring.ring_fd < 0)
		return;
	n = uring_engine_pending(e);
	if (n) {
		log_warn(e->name, "destroyed with %u request(s) pending", n);
		/* The kernel may still write the file: its lock must last
		 * until the ring's teardown lets go of it. */
		e->img->io_left = true;
	}
	log_debug(e->name, "%llu request SQEs (%llu fixed, %llu chunks "
		  "registered), %llu resubmitted, %llu kicks, %llu enters "
		  "(%llu early submissions)",
		  (unsigned long long)e->stats.submitted,
		  (unsigned long long)e->stats.fixed,
		  (unsigned long long)e->stats.fixed_chunks,
		  (unsigned long long)e->stats.resubmitted,
		  (unsigned long long)e->stats.kicks,
		  (unsigned long long)e->stats.enters,
		  (unsigned long long)e->stats.eager);
	io_uring_queue_exit(&e->ring);
	e->ring.ring_fd = -1;
	e->ovf_head = e->ovf_tail = NULL;
	e->inflight = 0;
	free(e->chunk);
	e->chunk = NULL;
	e->nmem = 0;
}

void uring_engine_queue(struct uring_engine *e, struct blk_req *req)
{
	memset(&req->priv, 0, sizeof(req->priv));
	if (submit_or_park(e, req, false))
		eager_note(e, req);
}

int uring_engine_flush(struct uring_engine *e)
{
	int ret;

	ret = engine_enable(e);
	if (ret)
		goto out;
	for (;;) {
		refill(e);
		if (!io_uring_sq_ready(&e->ring))
			break;
		e->stats.enters++;
		ret = io_uring_submit(&e->ring);
		if (ret == -EAGAIN || ret == -EBUSY || ret == -EINTR) {
			/* Still in the SQ: the next run_once retries. */
			ret = 0;
			break;
		}
		if (ret < 0) {
			log_err(e->name, "io_uring_submit: %s", strerror(-ret));
			break;
		}
		ret = 0;
		e->neager = 0;
		/* Stop when the kernel left entries behind or nothing more
		 * can go in; else the freed SQ takes parked requests. */
		if (io_uring_sq_ready(&e->ring) || !e->ovf_head ||
		    e->inflight >= e->cap)
			break;
	}
out:
	return ret;
}

int uring_engine_use_memory(struct uring_engine *e, const struct iovec *regions,
			    unsigned int n)
{
	unsigned int shift = CHUNK_SHIFT_MIN, slots;
	uint64_t total;
	int ret;

	if (!n || n > URING_MEM_REGIONS || e->chunk)
		return -EINVAL;
	/* A restricted ring takes its buffer table only while disabled. */
	if ((e->setup_flags & IORING_SETUP_R_DISABLED) && !e->disabled)
		return -EBUSY;
	/* The smallest chunk that keeps the table within the kernel's. */
	for (;; shift++) {
		total = 0;
		for (unsigned int i = 0; i < n; i++)
			total += (regions[i].iov_len + (1ULL << shift) - 1) >>
				 shift;
		if (total <= SLOTS_MAX || shift == CHUNK_SHIFT_MAX)
			break;
	}
	if (!total || total > SLOTS_MAX)
		return -E2BIG;
	slots = (unsigned int)total;
	e->chunk = calloc(slots, 1);
	if (!e->chunk)
		return -ENOMEM;
	ret = io_uring_register_buffers_sparse(&e->ring, slots);
	if (ret) {
		log_debug(e->name, "no sparse fixed-buffer table (%s): "
			  "requests stay vectored", strerror(-ret));
		free(e->chunk);
		e->chunk = NULL;
		return ret;
	}
	e->chunk_shift = shift;
	e->nslots = slots;
	e->nmem = n;
	for (unsigned int i = 0, slot = 0; i < n; i++) {
		e->mem[i] = (struct uring_mem_region){
			.hva = regions[i].iov_base,
			.size = regions[i].iov_len,
			.slot0 = slot };
		slot += (unsigned int)((regions[i].iov_len +
					(1ULL << shift) - 1) >> shift);
	}
	log_debug(e->name, "fixed buffers: %u region(s) in %u chunks of %u "
		  "MiB, registered on first use", n, slots,
		  1u << (shift - 20));
	return 0;
}

int uring_engine_watch_fd(struct uring_engine *e, int fd,
			  uring_kick_fn kicked, void *ctx)
{
	if (fd < 0 || !kicked)
		return -EINVAL;
	if (e->kick.fd >= 0)
		return -EBUSY;
	e->kick = (struct uring_watch){ .fd = fd, .fn = kicked, .ctx = ctx };
	return 0;
}

int uring_engine_set_stop_fd(struct uring_engine *e, int fd)
{
	if (fd < 0)
		return -EINVAL;
	if (e->stop.fd >= 0)
		return -EBUSY;
	e->stop = (struct uring_watch){ .fd = fd };
	return 0;
}

/* The callbacks of the eventfd reads that completed: 1 when the stop fd
 * fired, else 0. */
static int fire_watches(struct uring_engine *e)
{
	int ret = 0;

	if (e->kick.fired) {
		e->kick.fired = false;
		e->stats.kicks++;
		e->kick.fn(e->kick.ctx);
	}
	if (e->stop.fired) {
		e->stop.fired = false;
		ret = 1;
	}
	return ret;
}

/* The start of every turn, waiting or polling: the ring enabled by its
 * first submitter, both eventfd reads armed, the overflow list moved into
 * the ring as far as it has room. */
static int turn_start(struct uring_engine *e)
{
	int ret = engine_enable(e);

	if (ret)
		return ret;
	/* An SQPOLL ring's thread takes the SQ as it fills anyway. */
	e->eager = !(e->setup_flags & IORING_SETUP_SQPOLL);
	e->neager = 0;
	ret = watch_arm(e, &e->kick);
	if (!ret)
		ret = watch_arm(e, &e->stop);
	if (ret) {
		log_err(e->name, "cannot arm the eventfd reads: %s",
			strerror(-ret));
		return ret;
	}
	refill(e);
	return 0;
}

int uring_engine_run_once(struct uring_engine *e)
{
	int ret;

	ret = turn_start(e);
	if (ret)
		goto out;
	if (!e->inflight && !e->kick.armed && !e->stop.armed) {
		ret = -EDEADLK;
		goto out;
	}

	/* Completions already posted need no system call when nothing waits
	 * to be submitted. */
	if (io_uring_sq_ready(&e->ring) || !io_uring_cq_ready(&e->ring)) {
		e->stats.enters++;
		ret = io_uring_submit_and_wait(&e->ring, 1);
		if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
			ret = 0;	/* reap what is there, try again */
		if (ret < 0) {
			log_err(e->name, "io_uring_enter: %s", strerror(-ret));
			goto out;
		}
	}
	reap(e);
	ret = fire_watches(e);
out:
	return ret;
}

/* Is completion work waiting for this thread to enter the kernel? With
 * TASKRUN_FLAG the SQ ring says so; without it, assume there is. An SQPOLL
 * ring's own thread does that work. */
static bool taskrun_pending(const struct uring_engine *e)
{
	if (e->setup_flags & IORING_SETUP_SQPOLL)
		return false;
	if (!(e->setup_flags & IORING_SETUP_TASKRUN_FLAG))
		return true;
	return __atomic_load_n(e->ring.sq.kflags, __ATOMIC_RELAXED) &
	       IORING_SQ_TASKRUN;
}

int uring_engine_poll(struct uring_engine *e, unsigned int *events)
{
	int ret;

	*events = 0;
	ret = turn_start(e);
	if (ret)
		goto out;
	if (io_uring_sq_ready(&e->ring)) {
		e->stats.enters++;
		ret = io_uring_submit(&e->ring);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			log_err(e->name, "io_uring_submit: %s", strerror(-ret));
			goto out;
		}
	} else if (!io_uring_cq_ready(&e->ring) && taskrun_pending(e)) {
		e->stats.enters++;
		ret = io_uring_get_events(&e->ring);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			log_err(e->name, "io_uring_enter: %s", strerror(-ret));
			goto out;
		}
	}
	*events = reap(e);
	ret = fire_watches(e);
out:
	return ret;
}

unsigned int uring_engine_pending(const struct uring_engine *e)
{
	unsigned int n = e->inflight;

	for (const struct blk_req *r = e->ovf_head; r; r = r->priv.next)
		n++;
	return n;
}

void uring_engine_test_limit(struct uring_engine *e, size_t bytes)
{
	e->limit = bytes;
}

#if HAVE_NUMA
int blk_node_cpus(int node, cpu_set_t *set)
{
	struct bitmask *cpus;
	int ret = 0;

	if (numa_available() < 0)
		return -ENOSYS;
	if (node < 0 || node > numa_max_node())
		return -EINVAL;
	cpus = numa_allocate_cpumask();
	if (!cpus)
		return -ENOMEM;
	/* libnuma reports through errno. */
	if (numa_node_to_cpus(node, cpus) < 0) {
		ret = -errno;
		goto out;
	}
	CPU_ZERO(set);
	for (unsigned int c = 0; c < cpus->size && c < CPU_SETSIZE; c++)
		if (numa_bitmask_isbitset(cpus, c))
			CPU_SET(c, set);
	if (!CPU_COUNT(set))
		ret = -EINVAL;
out:
	numa_free_cpumask(cpus);
	return ret;
}

#else
int blk_node_cpus(int node, cpu_set_t *set)
{
	return -ENOSYS;
}

#endif

int blk_thread_pin_node(int node)
{
	cpu_set_t set;
	int ret = blk_node_cpus(node, &set);

	if (ret)
		return ret;
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}
