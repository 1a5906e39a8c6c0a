/* The per-queue io_uring engine.
 *
 * One engine serves one virtio-blk queue (or one vhost-user-blk queue) and
 * belongs to one I/O thread: nothing here locks, and every call but
 * init/destroy must come from that thread. The thread's whole loop is
 *
 *	while ((ret = uring_engine_run_once(e)) == 0)
 *		;
 *
 * run_once submits whatever was queued since the last call, waits in the
 * same io_uring_enter for at least one completion, and calls back: done()
 * for every finished request, then kicked() when the queue's ioeventfd
 * fired (the ring itself reads the eventfd, so there is no epoll). Requests
 * queued from those callbacks go to the kernel with the next run_once, one
 * system call per loop turn, except while requests go to a device
 * (below).
 *
 * Submitting early: the block layer plugs a submission of more than two
 * requests, so none of them reaches the device before the kernel has
 * prepared the last, and a burst sent as one comes back as one: the
 * device idles while the burst is prepared, then the driver's refill
 * arrives as the next burst, and the queue runs in lockstep (4k O_DIRECT
 * at QD32: ~0.8x the IOPS of fio, which submits as it reaps). So, within a
 * turn, uring_engine_queue hands the SQ to the kernel as soon as it holds
 * URING_EAGER_BATCH entries, unplugged. Requests the kernel completes
 * inside that very submission (cached pages, buffered writes) gain
 * nothing from it and cost a system call each pair: when the pair just
 * submitted is already in the CQ, the rest of the turn is batched as
 * before. Each turn starts eager again, so one probe per turn is all a
 * cached workload pays.
 *
 * Semantics (see block/uring.c for the reasons):
 * - READ/WRITE: preadv/pwritev at offset through IORING_OP_READV/WRITEV,
 *   or IORING_OP_READ_FIXED/WRITE_FIXED when the data is one segment inside
 *   memory given to uring_engine_use_memory (guest RAM). A short transfer
 *   is resubmitted for the rest, walking the caller's iovec by index and
 *   offset without writing to it. A read or write that moves 0 bytes
 *   before the end (a read past the end of the image) ends
 *   with -EIO: the device checks ranges against the image size first, so
 *   this only happens if the image shrank underneath.
 * - -EAGAIN and -EINTR results are resubmitted (bounded, then reported).
 * - FLUSH: fdatasync (IORING_OP_FSYNC, IORING_FSYNC_DATASYNC).
 * - DISCARD: fallocate(PUNCH_HOLE | KEEP_SIZE); -EOPNOTSUPP is reported
 *   and the device decides (discard is only a hint).
 * - WRITE_ZEROES: fallocate(ZERO_RANGE | KEEP_SIZE); when the file system
 *   answers -EOPNOTSUPP (tmpfs does) the engine switches for good to
 *   PUNCH_HOLE | KEEP_SIZE, which also reads back as zeros but deallocates;
 *   when that is unsupported too, -EOPNOTSUPP for the device to report as
 *   VIRTIO_BLK_S_UNSUPP. No zero-buffer writes: a device that cannot zero
 *   cheaply should not offer VIRTIO_BLK_F_WRITE_ZEROES.
 * - The image is never grown: fallocate uses KEEP_SIZE.
 * - done(ctx, req, res): res is 0 or -errno (-EIO, -ENOSPC, -EFBIG,
 *   -EOPNOTSUPP, -EBADF for a write to a read-only image, ...).
 * - Ordering: the engine submits in FIFO order but the kernel completes in
 *   any order; a FLUSH covers the writes whose done() ran before it was
 *   queued, which is exactly what virtio-blk promises.
 */
#ifndef TERN_BLOCK_URING_H
#define TERN_BLOCK_URING_H

#include <liburing.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/image.h"

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_DISCARD, BLK_WRITE_ZEROES };

struct blk_req {
	enum blk_op op;
	uint64_t offset;		/* bytes from the start of the image */
	uint64_t len;			/* bytes, DISCARD and WRITE_ZEROES */
	const struct iovec *iov;	/* READ/WRITE: the caller's, untouched,
					 * and must stay valid until done() */
	unsigned int niov;
	void *opaque;			/* the caller's */

	/* Engine-private; the caller need not initialise it. */
	struct {
		uint64_t done;		/* bytes transferred so far */
		unsigned int idx;	/* iov[idx] is the next segment ... */
		size_t skip;		/* ... from this byte on */
		struct iovec part;	/* what is submitted of a split
					 * segment */
		unsigned int retries;	/* -EAGAIN/-EINTR without progress */
		int mode;		/* fallocate mode submitted */
		struct blk_req *next;	/* overflow list */
	} priv;
};

/* res: 0 or -errno. Called from uring_engine_run_once, never from queue.
 * It may queue new requests (they go out with the next run_once) but must
 * not call run_once or destroy. */
typedef void (*blk_complete_fn)(void *ctx, struct blk_req *req, int res);
typedef void (*uring_kick_fn)(void *ctx);

/* An eventfd the ring reads (IORING_OP_READ, re-armed after each read). */
struct uring_watch {
	int fd;			/* -1 when unused */
	uint64_t count;		/* the eventfd counter lands here */
	uring_kick_fn fn;
	void *ctx;
	bool armed;		/* a read is in the SQ or in the kernel */
	bool fired;		/* read completed, callback not yet run */
	bool broken;		/* read failed hard: no longer watched */
};

struct uring_engine_stats {
	uint64_t submitted;	/* request SQEs, resubmissions included */
	uint64_t fixed;		/* of those, READ_FIXED/WRITE_FIXED */
	uint64_t fixed_chunks;	/* chunks of memory registered */
	uint64_t completed;	/* done() calls */
	uint64_t resubmitted;	/* short transfers, -EAGAIN, -EINTR */
	uint64_t overflowed;	/* requests that waited on the overflow list */
	uint64_t kicks;		/* kicked() calls */
	uint64_t enters;	/* io_uring_enter calls asked for (submit,
				 * wait, get events) */
	uint64_t eager;		/* of those, early submissions (see the
				 * top of this file) */
};

/* SQ entries at which a turn's queued requests go to the kernel at once:
 * two, the most the block layer submits without plugging. */
#define URING_EAGER_BATCH 2u

/* Memory registered for fixed buffers, in chunks of 1 << chunk_shift bytes
 * (the last of a region may be shorter), each a slot of the ring's sparse
 * buffer table registered the first time a request's data lies in it. */
#define URING_MEM_REGIONS 8
struct uring_mem_region {
	uint8_t *hva;
	uint64_t size;
	unsigned int slot0;	/* slot of its first chunk */
};

enum { CHUNK_NEW, CHUNK_FIXED, CHUNK_REFUSED };

struct uring_engine {
	char name[48];			/* "virtio-blk0 q1" */
	struct io_uring ring;
	struct blk_image *img;
	int fd;				/* image fd, or 0: its fixed-file slot */
	uint8_t sqe_flags;		/* IOSQE_FIXED_FILE when registered */
	bool disabled;			/* made IORING_SETUP_R_DISABLED: the
					 * first thread to submit enables it */
	unsigned int setup_flags;	/* what io_uring_setup accepted */
	unsigned int cap;		/* most request SQEs out at once */
	unsigned int inflight;		/* request SQEs in the SQ or kernel */
	int zero_mode;			/* fallocate mode for WRITE_ZEROES,
					 * 0 once known unsupported */
	size_t limit;			/* test knob: bytes per READ/WRITE
					 * SQE, 0 = no limit */
	blk_complete_fn done;
	void *ctx;
	struct blk_req *ovf_head, *ovf_tail;	/* waiting for SQ/CQ room */
	struct uring_watch kick, stop;
	struct uring_engine_stats stats;
	bool eager;			/* this turn submits early */
	unsigned int neager;		/* requests queued since the last
					 * submission, up to the batch */
	struct blk_req *eager_req[URING_EAGER_BATCH];

	struct uring_mem_region mem[URING_MEM_REGIONS];
	unsigned int nmem;
	unsigned int chunk_shift;
	unsigned int nslots;
	uint8_t *chunk;			/* CHUNK_* per slot; NULL: no fixed
					 * buffers */
};

/* DEPTH is the SQ size (clamped to 4096; the overflow list holds the
 * rest). The CQ gets 2 * DEPTH + 2 entries, rounded up to a power of two,
 * and the engine keeps at most CQ size - 2 requests out so the CQ never
 * overflows (the two spare entries are for the kick and stop reads).
 * May be called on any
 * thread: the ring starts disabled (IORING_SETUP_R_DISABLED, with
 * SINGLE_ISSUER when the kernel takes it) and is enabled by the first
 * thread that flushes or runs it. Before that it is restricted
 * (IORING_REGISTER_RESTRICTIONS) to the operations the engine submits:
 * io_uring's work is not seen by seccomp, so a ring that could do more
 * would get round the I/O thread's filter. No ring is made unrestricted:
 * a kernel without R_DISABLED gets -EINVAL.
 * NAME names the engine in log lines. Returns 0 or -errno (-ENOSYS,
 * -EPERM: no io_uring here; -EINVAL: a kernel before 5.10). */
int uring_engine_init(struct uring_engine *e, const char *name,
		      struct blk_image *img, unsigned int depth,
		      blk_complete_fn done, void *ctx);

/* Choices a user makes about the engine; zeroed is the default. */
struct uring_engine_opts {
	/* IORING_SETUP_SQPOLL: a kernel thread per engine takes requests off
	 * the SQ, spinning for sqpoll_idle_ms after the last one before it
	 * sleeps (0: the kernel's default, 1 s). It costs a CPU while it
	 * spins; when the kernel refuses it the engine runs without. */
	bool sqpoll;
	unsigned int sqpoll_idle_ms;
};

/* As uring_engine_init, with OPTS (NULL: the defaults). */
int uring_engine_init_opts(struct uring_engine *e, const char *name,
			   struct blk_image *img, unsigned int depth,
			   blk_complete_fn done, void *ctx,
			   const struct uring_engine_opts *opts);

/* Tears the ring down. Requests still out are cancelled without done();
 * the kernel may still write their buffers for a while, so drain first
 * (run_once until uring_engine_pending() is 0). */
void uring_engine_destroy(struct uring_engine *e);

/* Takes REQ (its engine-private part is reset here). It goes into the SQ,
 * or, when the SQ is full or CQ_SIZE - 2 requests are out, onto a FIFO
 * overflow list that later flushes and run_once calls drain as room frees.
 * Before the ring's first flush or run_once nothing reaches the kernel;
 * afterwards the SQ may be submitted here (submitting early, above). */
void uring_engine_queue(struct uring_engine *e, struct blk_req *req);

/* Submits the SQ and as much of the overflow list as fits. Returns 0 (also
 * when the kernel is short of resources: what it did not take goes with
 * the next run_once) or -errno. */
int uring_engine_flush(struct uring_engine *e);

/* Serve eventfd FD through the ring: KICKED(CTX) runs from run_once after
 * each time it was written (several writes may make one call). One watch
 * per engine: -EBUSY for a second. FD stays the caller's. */
int uring_engine_watch_fd(struct uring_engine *e, int fd,
			  uring_kick_fn kicked, void *ctx);

/* Lets READ/WRITE requests whose data is one segment inside one of the N
 * REGIONS (guest RAM: at most URING_MEM_REGIONS, each mapped for as long
 * as the engine lives) go to the kernel as READ_FIXED/WRITE_FIXED, which
 * saves pinning the pages of every request (O_DIRECT) and copying its
 * iovec. Memory is registered lazily, a chunk of at least 2 MiB the first
 * time a request's data lies in it: registering pins its pages (and
 * allocates any the guest never touched), so only RAM that takes part in
 * I/O gets pinned, and stays pinned until uring_engine_destroy. A chunk
 * the kernel refuses (RLIMIT_MEMLOCK, an old kernel) is served by
 * READV/WRITEV as before. Returns 0, or -errno when the kernel has no
 * sparse buffer table (Linux < 5.19): the engine goes on without, or
 * -EBUSY once the ring is enabled. Call after uring_engine_init and before
 * the first flush or run_once: the table is registered while the ring is
 * still disabled (a restricted ring takes no table afterwards); the chunks
 * are registered later by the thread that runs the engine
 * (IORING_REGISTER_BUFFERS_UPDATE, the one register operation the ring's
 * restrictions let through). */
int uring_engine_use_memory(struct uring_engine *e, const struct iovec *regions,
			    unsigned int n);

/* An eventfd another thread writes to make run_once return 1. */
int uring_engine_set_stop_fd(struct uring_engine *e, int fd);

/* Submits what is queued, waits for at least one completion, handles all
 * that are there. Returns 0, 1 when the stop fd fired (the engine stays
 * usable), -EDEADLK when there is nothing it could ever wait for (no
 * request out and no watch), or another -errno from io_uring_enter. */
int uring_engine_run_once(struct uring_engine *e);

/* run_once without the wait, for a thread that polls: submits what is
 * queued, collects completions the kernel has ready (entering it only when
 * the ring says completion work waits, or to submit), handles them and the
 * eventfd reads as run_once does. *EVENTS is how many completions (of
 * requests and eventfd reads) it handled. Returns as run_once. */
int uring_engine_poll(struct uring_engine *e, unsigned int *events);

/* Requests queued, in flight or waiting for resubmission. */
unsigned int uring_engine_pending(const struct uring_engine *e);

/* Tests only: split every READ/WRITE submission to at most BYTES (0: no
 * limit), so the short-transfer path runs for real. */
void uring_engine_test_limit(struct uring_engine *e, size_t bytes);

/* Pins the calling thread to the CPUs of NUMA node NODE (libnuma). Returns
 * 0, -EINVAL for a node that does not exist, or -ENOSYS when built without
 * libnuma or the machine has no NUMA support. */
int blk_thread_pin_node(int node);
/* The CPUs of NUMA node NODE into SET, for an I/O thread to move to later
 * with sched_setaffinity (libnuma reads sysfs, which a sandboxed thread
 * cannot). Errors as blk_thread_pin_node. */
int blk_node_cpus(int node, cpu_set_t *set);

#endif
