#include "virtio/blk.h"

#include "block/uring.h"
#include "core/bytes.h"
#include "core/iov.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "virtio/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_WZ_F_UNMAP 1

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR 512ULL
#define BLK_HDR_LEN 16
#define BLK_CONFIG_SIZE 60
/* Chains taken per kick before the thread lets completions in: the rest
 * waits for the next turn (the kick is re-posted to our own eventfd). */
#define BLK_KICK_BUDGET 64
#define BLK_LOG_ERRORS 8


struct blk_queue {
	struct virtio_blk *blk;
	char name[40];			/* "virtio-blk0 q1" */
	unsigned int index;
	struct virtq own;		/* the PCI transport's ring */
	struct blk_ring ring;		/* what is served: own or another's */
	struct uring_engine eng;
	int stop_fd;			/* wakes the thread: a stop when
					 * stop_asked, else a look at
					 * call_replaced */
	bool stop_asked, call_replaced;	/* set by others, atomically */
	bool in_ring_write;		/* in (or entering) a write to one of
					 * the ring's fds, which a stop may
					 * have to interrupt (blk_join_peer) */
	pthread_t thread;
	bool running, starved, signal, broken, stopping;
	bool polling;			/* in blk_poll: kicks are off */
	bool pausing;			/* the stop is a pause: the driver
					 * hears of the last completions */
	unsigned int errors_logged;
	struct blk_io *ios, *free;
	struct virtq_chain chain;	/* scratch for virtq_pop and push */
	struct queue_counters ctr;	/* this thread writes, vm.counters
					 * reads */
};

/* --- requests ----------------------------------------------------------- */

static void blk_log_error(struct blk_queue *q, const char *fmt, const char *a,
			  int err)
{
	log_limited(&q->errors_logged, BLK_LOG_ERRORS, q->name,
		    "request errors", fmt, a, strerror(err));
}

static void blk_finish(struct blk_queue *q, struct blk_io *io, uint8_t status,
		       uint32_t used_len)
{
	ctr_add(&q->ctr, CTR_REQUESTS, 1);
	if (status != VIRTIO_BLK_S_OK)
		ctr_add(&q->ctr, CTR_ERRORS, 1);
	*io->status = status;
	q->chain.head = io->head;
	q->chain.ndesc = io->ndesc;
	if (q->ring.ops)
		q->ring.ops->push(q->ring.ctx, &q->chain, used_len);
	else
		virtq_push(q->ring.vq, &q->chain, used_len);
	q->signal = true;
	io->next_free = q->free;
	q->free = io;
}

static void blk_done(void *ctx, struct blk_req *req, int res)
{
	struct blk_io *io = req->opaque;
	struct blk_queue *q = io->q;
	static const char *const ops[] = { "read", "write", "flush",
					   "discard", "write-zeroes" };

	if (res == 0) {
		uint64_t bytes = 0;

		for (unsigned int i = 0; i < req->niov; i++)
			bytes += req->iov[i].iov_len;
		ctr_add(&q->ctr, CTR_BYTES, bytes);
		blk_finish(q, io, VIRTIO_BLK_S_OK, io->used_len);
	} else if (res == -EOPNOTSUPP) {
		blk_finish(q, io, VIRTIO_BLK_S_UNSUPP, 1);
	} else {
		blk_log_error(q, "%s failed: %s", ops[req->op], -res);
		blk_finish(q, io, VIRTIO_BLK_S_IOERR, 1);
	}
}

/* Checks [sector, sector + bytes) against the image. */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector,
			 uint64_t bytes)
{
	uint64_t sectors = b->img.size / SECTOR;

	return bytes % SECTOR == 0 && sector <= sectors &&
	       bytes / SECTOR <= sectors - sector;
}

/* Decodes one chain: into io->req for the engine (returns 0), or into an
 * answer to give at once (returns 1, io->answer and io->used_len set).
 * -EINVAL when the chain has no room even for a status byte: the driver
 * broke the protocol and the device needs a reset. Touches guest memory
 * only through the chain's iovecs (GET_ID writes the serial). */
int virtio_blk_decode(const struct virtio_blk *b, const struct virtq_chain *c,
		      struct blk_io *io)
{
	const struct iovec *in = c->iov + c->nr_out;
	uint8_t hdr[BLK_HDR_LEN], seg[16];
	uint64_t sector, data_len;
	uint32_t type;
	int n;

	if (c->in_len < 1 || c->out_len < BLK_HDR_LEN || c->nr_in == 0)
		return -EINVAL;
	io->head = c->head;
	io->ndesc = c->ndesc;
	io->status = NULL;
	/* The status byte is the last device-writable byte. */
	for (unsigned int i = c->nr_in; i-- > 0 && !io->status;)
		if (in[i].iov_len)
			io->status = (uint8_t *)in[i].iov_base + in[i].iov_len - 1;
	iov_to_buf(c->iov, c->nr_out, 0, hdr, BLK_HDR_LEN);
	type = get_le32(hdr);
	sector = get_le64(hdr + 8);
	io->req = (struct blk_req){ .opaque = io, .iov = io->iov };
	io->used_len = 1;
	io->answer = VIRTIO_BLK_S_IOERR;

	switch (type) {
	case VIRTIO_BLK_T_IN:
		data_len = c->in_len - 1;
		n = iov_slice(in, c->nr_in, 0, data_len, io->iov, BLK_IOV_MAX);
		io->req.op = BLK_READ;
		break;
	case VIRTIO_BLK_T_OUT:
		if (b->cfg.readonly)
			return 1;
		data_len = c->out_len - BLK_HDR_LEN;
		n = iov_slice(c->iov, c->nr_out, BLK_HDR_LEN, data_len, io->iov,
			      BLK_IOV_MAX);
		io->req.op = BLK_WRITE;
		break;
	case VIRTIO_BLK_T_FLUSH:
		io->req.op = BLK_FLUSH;
		return 0;
	case VIRTIO_BLK_T_GET_ID: {
		size_t len = c->in_len - 1, off = 0;

		if (len > BLK_SERIAL_LEN)
			len = BLK_SERIAL_LEN;
		n = iov_slice(in, c->nr_in, 0, len, io->iov, BLK_IOV_MAX);
		for (int i = 0; i < n; off += io->iov[i].iov_len, i++)
			memcpy(io->iov[i].iov_base, b->cfg.serial + off,
			       io->iov[i].iov_len);
		io->answer = VIRTIO_BLK_S_OK;
		io->used_len = (uint32_t)len + 1;
		return 1;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		uint32_t flags, nsect;

		/* One segment: max_discard_seg and max_write_zeroes_seg
		 * say so. */
		if (b->cfg.readonly || c->out_len - BLK_HDR_LEN != sizeof(seg))
			return 1;
		iov_to_buf(c->iov, c->nr_out, BLK_HDR_LEN, seg, sizeof(seg));
		sector = get_le64(seg);
		nsect = get_le32(seg + 8);
		flags = get_le32(seg + 12);
		if (type == VIRTIO_BLK_T_DISCARD ? flags != 0
						 : (flags & ~VIRTIO_BLK_WZ_F_UNMAP)) {
			io->answer = VIRTIO_BLK_S_UNSUPP;
			return 1;
		}
		if (!blk_range_ok(b, sector, (uint64_t)nsect * SECTOR))
			return 1;
		io->req.op = type == VIRTIO_BLK_T_DISCARD ? BLK_DISCARD
							  : BLK_WRITE_ZEROES;
		io->req.offset = sector * SECTOR;
		io->req.len = (uint64_t)nsect * SECTOR;
		return 0;
	}
	default:
		io->answer = VIRTIO_BLK_S_UNSUPP;
		return 1;
	}
	/* READ and WRITE. */
	if (n < 0 || !blk_range_ok(b, sector, data_len))
		return 1;
	io->req.niov = (unsigned int)n;
	io->req.offset = sector * SECTOR;
	if (io->req.op == BLK_READ)
		io->used_len = (uint32_t)data_len + 1;
	return 0;
}

static int blk_request(struct blk_queue *q, const struct virtq_chain *c)
{
	struct blk_io *io = q->free;
	int ret = virtio_blk_decode(q->blk, c, io);

	if (ret < 0) {
		log_warn(q->name, "request without header or status byte "
			 "(%u out, %u in bytes)", c->out_len, c->in_len);
		return ret;
	}
	q->free = io->next_free;
	io->q = q;
	if (ret == 0)
		uring_engine_queue(&q->eng, &io->req);
	else
		blk_finish(q, io, io->answer, io->used_len);
	return 0;
}

static int blk_pop(struct blk_queue *q)
{
	if (q->ring.ops)
		return q->ring.ops->pop(q->ring.ctx, &q->chain);
	return virtq_pop(q->ring.vq, &q->chain);
}

/* Adds 1 to FD, one of the ring's eventfds, which another process may
 * hold full (peer_fds): 0 or -errno. */
static int blk_ring_write(struct blk_queue *q, int fd)
{
	uint64_t one = 1;
	ssize_t n;

	__atomic_store_n(&q->in_ring_write, true, __ATOMIC_RELAXED);
	n = write(fd, &one, sizeof(one));
	__atomic_store_n(&q->in_ring_write, false, __ATOMIC_RELAXED);
	return n < 0 ? -errno : 0;
}

/* The ring is broken: tell whoever resets it. */
static void blk_broken(struct blk_queue *q)
{
	int ret;

	if (q->ring.err_fd >= 0) {
		ret = blk_ring_write(q, q->ring.err_fd);
		if (ret)
			log_warn(q->name, "error notification: %s",
				 strerror(-ret));
	} else if (q->blk->bus.broken) {
		virtio_bus_needs_reset(&q->blk->bus);
	}
}

/* Takes what the driver made available, up to a budget. */
static void blk_process(struct blk_queue *q)
{
	unsigned int budget = BLK_KICK_BUDGET;

	if (q->broken)
		return;
	for (;;) {
		int ret = 0;

		virtq_disable_kicks(q->ring.vq);
		while (budget && q->free && (ret = blk_pop(q)) > 0) {
			budget--;
			if (blk_request(q, &q->chain) < 0) {
				ret = -EINVAL;
				break;
			}
		}
		if (ret < 0) {
			/* virtq_pop logged the rule, or blk_request did. */
			q->broken = true;
			blk_broken(q);
			return;
		}
		if (!q->free) {
			q->starved = true;	/* blk_done frees and we go on */
			return;
		}
		if (!budget) {
			/* More may wait: come back after the completions. */
			if (blk_ring_write(q, q->ring.kick_fd))
				q->starved = true;
			return;
		}
		if (!virtq_enable_kicks(q->ring.vq))
			return;
	}
}

static void blk_kicked(void *ctx)
{
	struct blk_queue *q = ctx;

	ctr_add(&q->ctr, CTR_NOTIFICATIONS, 1);
	/* A poller looks at the ring itself and keeps kicks off. */
	if (!q->stopping && !q->polling)
		blk_process(q);
}

/* Interrupts the driver if a push since the last call asks for it, or
 * once after its call eventfd was replaced. */
static void blk_notify(struct blk_queue *q)
{
	bool replaced = false, need;
	int ret;

	if (__atomic_load_n(&q->call_replaced, __ATOMIC_RELAXED))
		replaced = __atomic_exchange_n(&q->call_replaced, false,
					       __ATOMIC_ACQUIRE);
	if (!q->signal && !replaced)
		return;
	need = q->signal && virtq_need_notify(q->ring.vq);
	q->signal = false;
	if ((need || replaced) && q->ring.call_fd >= 0 &&
	    (ret = blk_ring_write(q, q->ring.call_fd)))
		log_warn(q->name, "interrupt: %s", strerror(-ret));
}

/* The engine's 1 (the stop fd fired) is a stop only when one was asked
 * for; otherwise the wake was for blk_notify's look at call_replaced. */
static int blk_stop_asked(struct blk_queue *q, int ret)
{
	if (ret == 1 && !__atomic_load_n(&q->stop_asked, __ATOMIC_ACQUIRE))
		return 0;
	return ret;
}

/* Takes what the driver made available while polling, up to the budget,
 * leaving kicks off: the poll loop looks again. Returns chains taken. */
static unsigned int blk_take(struct blk_queue *q)
{
	unsigned int n = 0;
	int ret = 0;

	if (q->broken)
		return 0;
	while (n < BLK_KICK_BUDGET && q->free && (ret = blk_pop(q)) > 0) {
		n++;
		if (blk_request(q, &q->chain) < 0) {
			ret = -EINVAL;
			break;
		}
	}
	if (ret < 0) {
		q->broken = true;
		blk_broken(q);
	} else if (!q->free) {
		q->starved = true;
	}
	return n;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Adaptive polling (cfg.poll_us): after a turn that did work the thread
 * keeps looking at the available ring and the completion queue, with the
 * driver's kicks off, until poll_us pass without either, so a request that
 * follows soon costs the driver no kick and this thread no wake-up; then
 * it re-arms kicks and sleeps in run_once again. Every completion and
 * every request taken restarts the clock: the CPU it burns is at most
 * poll_us after the last of them. Returns as uring_engine_run_once. */
static int blk_poll(struct blk_queue *q)
{
	uint64_t span = (uint64_t)q->blk->cfg.poll_us * 1000, now, end;
	unsigned int events, taken;
	int ret;

	if (q->broken)
		return 0;
	q->polling = true;
	virtq_disable_kicks(q->ring.vq);
	end = mono_ns() + span;
	for (;;) {
		ret = blk_stop_asked(q, uring_engine_poll(&q->eng, &events));
		if (ret)
			break;
		if (q->starved && q->free)
			q->starved = false;
		taken = blk_take(q);
		blk_notify(q);
		if (q->broken)
			break;
		now = mono_ns();
		if (events || taken)
			end = now + span;
		else if (now >= end)
			break;
		else
			cpu_relax();
	}
	q->polling = false;
	/* Kicks back on, taking what arrived since the last look. */
	if (!ret)
		blk_process(q);
	return ret;
}

/* Onto the CPUs the device's affinity pairs give the queue, else onto its
 * NUMA node's CPUs when it has one. */
static void blk_thread_place(struct blk_queue *q)
{
	const struct blk_config *cfg = &q->blk->cfg;
	cpu_set_t set;

	if (hostcpu_affinity_set(cfg->affinity, cfg->naffinity, q->index,
				 &set)) {
		hostcpu_move(q->name, &set, NULL);
		return;
	}
	if (q->blk->cpus_set &&
	    sched_setaffinity(0, sizeof(q->blk->cpus), &q->blk->cpus))
		log_warn(q->name, "cannot move to NUMA node %d: %s",
			 cfg->numa_node, strerror(errno));
}

static void *blk_thread(void *arg)
{
	struct blk_queue *q = arg;
	sigset_t stop;
	int ret;

	pthread_setname_np(pthread_self(), "tern-blk");
	if (q->ring.peer_fds) {
		sigemptyset(&stop);
		sigaddset(&stop, BLK_STOP_SIGNAL);
		pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
	}
	sandbox_enter(SANDBOX_BLK_IO);
	blk_thread_place(q);
	/* Chains may have been made available before the thread ran. */
	blk_process(q);
	while ((ret = blk_stop_asked(q, uring_engine_run_once(&q->eng))) ==
	       0) {
		if (q->starved && q->free) {
			q->starved = false;
			blk_process(q);
		}
		blk_notify(q);
		if (q->blk->cfg.poll_us && (ret = blk_poll(q)) != 0)
			break;
	}
	if (ret < 0)
		log_err(q->name, "I/O thread stops: %s", strerror(-ret));
	/* Reset: requests the kernel still works on may write guest memory
	 * and must land before the device says it has stopped. */
	q->stopping = true;
	while (uring_engine_pending(&q->eng) &&
	       uring_engine_run_once(&q->eng) >= 0)
		;
	/* A ring that lives on after the stop (vhost-user: the front-end
	 * resumes it) must not lose the interrupt for those last requests;
	 * a reset PCI device has no driver left to tell. */
	if (q->ring.vq != &q->own || q->pausing)
		blk_notify(q);
	return NULL;
}

/* --- the device --------------------------------------------------------- */

static uint64_t blk_features(void *dev)
{
	return ((struct virtio_blk *)dev)->features;
}

static void blk_config_read(void *dev, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	struct virtio_blk *b = dev;
	uint8_t cfg[BLK_CONFIG_SIZE] = { 0 };
	uint64_t sectors = b->img.size / SECTOR;
	uint32_t max_sectors = 0x3fffff;	/* one request: under 2 GiB */

	for (int i = 0; i < 8; i++)
		cfg[i] = (uint8_t)(sectors >> (8 * i));
	memcpy(cfg + 12, &(uint32_t){ BLK_SEG_MAX }, 4);
	memcpy(cfg + 20, &(uint32_t){ b->img.logical_block }, 4);
	memcpy(cfg + 34, &(uint16_t){ (uint16_t)b->cfg.queues }, 2);
	memcpy(cfg + 36, &max_sectors, 4);		/* max_discard_sectors */
	memcpy(cfg + 40, &(uint32_t){ 1 }, 4);		/* max_discard_seg */
	memcpy(cfg + 44, &(uint32_t){ 1 }, 4);		/* alignment */
	memcpy(cfg + 48, &max_sectors, 4);		/* max_write_zeroes */
	memcpy(cfg + 52, &(uint32_t){ 1 }, 4);		/* its segments */
	cfg[56] = 1;					/* may unmap */
	if (off < sizeof(cfg) && len <= sizeof(cfg) - off)
		memcpy(data, cfg + off, len);
}

static void blk_stop_handler(int sig)
{
	(void)sig;	/* only ends a blocked write */
}

int virtio_blk_stop_signal_init(void)
{
	struct sigaction sa = { .sa_handler = blk_stop_handler };
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, BLK_STOP_SIGNAL);
	if (sigaction(BLK_STOP_SIGNAL, &sa, NULL))
		return -errno;
	return -pthread_sigmask(SIG_BLOCK, &stop, NULL);
}

/* Joins the I/O thread of a ring whose fds a peer holds: each
 * BLK_STOP_WAIT_MS that it has not ended while it writes one of them, the
 * signal ends that write. A thread still draining requests is left to. */
static void blk_join_peer(struct blk_queue *q)
{
	bool told = false;
	struct timespec t;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t);
	for (;;) {
		t.tv_nsec += BLK_STOP_WAIT_MS * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		ret = pthread_clockjoin_np(q->thread, NULL, CLOCK_MONOTONIC,
					   &t);
		if (!ret)
			return;
		if (ret != ETIMEDOUT) {
			pthread_join(q->thread, NULL);
			return;
		}
		if (!__atomic_load_n(&q->in_ring_write, __ATOMIC_RELAXED))
			continue;
		if (!told)
			log_warn(q->name, "stop: a write to an eventfd of the "
				 "front-end's blocks (its counter full): "
				 "interrupting it");
		told = true;
		pthread_kill(q->thread, BLK_STOP_SIGNAL);
	}
}

static void blk_queue_stop(struct blk_queue *q)
{
	uint64_t one = 1;

	if (!q->running)
		return;
	__atomic_store_n(&q->stop_asked, true, __ATOMIC_RELEASE);
	if (write(q->stop_fd, &one, sizeof(one)) < 0)
		log_err(q->name, "stopping: %s", strerror(errno));
	if (q->ring.peer_fds)
		blk_join_peer(q);
	else
		pthread_join(q->thread, NULL);
	uring_engine_destroy(&q->eng);
	q->running = false;
	q->blk->nrunning--;
}

static void blk_stop(void *dev)
{
	struct virtio_blk *b = dev;

	for (unsigned int i = 0; i < b->cfg.queues; i++)
		blk_queue_stop(&b->queues[i]);
}

/* Guest RAM, where every request's data lies, as the engine's fixed
 * buffers; without them requests go vectored, so a refusal is no error. */
static void blk_fixed_buffers(struct blk_queue *q)
{
	const struct guest_mem *mem = q->ring.vq->mem;
	struct iovec r[GUEST_MEM_MAX_REGIONS];
	unsigned int n = mem ? mem->nregions : 0;

	for (unsigned int i = 0; i < n; i++)
		r[i] = (struct iovec){ mem->regions[i].hva,
				       (size_t)mem->regions[i].size };
	if (n)
		uring_engine_use_memory(&q->eng, r, n);
}

/* Serves q->ring (set by the caller) with a new engine and thread. */
static int blk_queue_run(struct virtio_blk *b, struct blk_queue *q)
{
	uint16_t size = q->ring.vq->num;
	uint64_t n;
	int ret;

	q->broken = q->starved = q->signal = q->stopping = false;
	q->stop_asked = q->call_replaced = false;
	q->errors_logged = 0;
	q->free = NULL;
	for (unsigned int i = size; i-- > 0;) {
		q->ios[i].q = q;
		q->ios[i].next_free = q->free;
		q->free = &q->ios[i];
	}
	while (read(q->stop_fd, &n, sizeof(n)) > 0)
		;
	ret = uring_engine_init_opts(&q->eng, q->name, &b->img, size, blk_done,
				     q, &(struct uring_engine_opts){
					     .sqpoll = b->cfg.sqpoll,
					     .sqpoll_idle_ms =
						     b->cfg.sqpoll_idle_ms });
	if (ret)
		return ret;
	if (!b->cfg.no_fixed_buffers)
		blk_fixed_buffers(q);
	ret = uring_engine_watch_fd(&q->eng, q->ring.kick_fd, blk_kicked, q);
	ret = ret ?: uring_engine_set_stop_fd(&q->eng, q->stop_fd);
	if (ret)
		goto err;
	ret = -pthread_create(&q->thread, NULL, blk_thread, q);
	if (ret)
		goto err;
	q->running = true;
	b->nrunning++;
	return 0;
err:
	uring_engine_destroy(&q->eng);
	return ret;
}

static int blk_queue_start(struct virtio_blk *b, struct blk_queue *q,
			   uint64_t features, const struct virtio_queue_io *io,
			   uint16_t base)
{
	int ret;

	ret = virtq_init(&q->own, q->name, b->mem, io->size, io->desc,
			 io->driver, io->device, features, base);
	if (ret)
		return ret;
	q->ring = (struct blk_ring){ .vq = &q->own, .kick_fd = io->kick_fd,
				     .call_fd = io->call_fd, .err_fd = -1 };
	return blk_queue_run(b, q);
}

int virtio_blk_queue_start(struct virtio_blk *b, unsigned int i,
			   const struct blk_ring *r)
{
	struct blk_queue *q;

	if (i >= b->cfg.queues || !r->vq || r->kick_fd < 0 ||
	    !r->vq->num || r->vq->num > b->cfg.queue_size ||
	    (r->ops && (!r->ops->pop || !r->ops->push)))
		return -EINVAL;
	q = &b->queues[i];
	if (q->running)
		return -EBUSY;
	q->ring = *r;
	return blk_queue_run(b, q);
}

void virtio_blk_queue_stats(const struct virtio_blk *b, unsigned int i,
			    struct uring_engine_stats *s)
{
	if (i < b->cfg.queues && !b->queues[i].running)
		*s = b->queues[i].eng.stats;
	else
		memset(s, 0, sizeof(*s));
}

void virtio_blk_queue_counters(const struct virtio_blk *b, unsigned int i,
			       uint64_t out[CTR_N])
{
	for (unsigned int k = 0; k < CTR_N; k++)
		out[k] = i < b->cfg.queues ? ctr_get(&b->queues[i].ctr, k) : 0;
}

void virtio_blk_queue_call_replaced(struct virtio_blk *b, unsigned int i)
{
	struct blk_queue *q;
	uint64_t one = 1;

	if (i >= b->cfg.queues || !b->queues[i].running)
		return;
	q = &b->queues[i];
	__atomic_store_n(&q->call_replaced, true, __ATOMIC_RELEASE);
	if (write(q->stop_fd, &one, sizeof(one)) < 0)
		log_warn(q->name, "waking for the new call fd: %s",
			 strerror(errno));
}

void virtio_blk_queue_stop(struct virtio_blk *b, unsigned int i)
{
	if (i < b->cfg.queues)
		blk_queue_stop(&b->queues[i]);
}

/* Serves the enabled queues from BASE (NULL: fresh rings). */
static int blk_resume(void *dev, uint64_t features,
		      const struct virtio_queue_io *io, unsigned int nq,
		      const uint16_t *base)
{
	struct virtio_blk *b = dev;
	int ret = 0;

	for (unsigned int i = 0; i < nq && i < b->cfg.queues; i++) {
		if (!io[i].enabled)
			continue;
		ret = blk_queue_start(b, &b->queues[i], features, &io[i],
				      base ? base[i] : 0);
		if (ret) {
			log_err(b->queues[i].name, "cannot start: %s",
				strerror(-ret));
			blk_stop(b);
			return ret;
		}
	}
	return 0;
}

static int blk_start(void *dev, uint64_t features,
		     const struct virtio_queue_io *io, unsigned int nq)
{
	return blk_resume(dev, features, io, nq, NULL);
}

/* Each queue thread stops taking chains; those it took finish, go back
 * used and interrupt the driver if it asks (blk_thread's drain), so the
 * position is one index: where the next chain will be taken. */
static int blk_pause(void *dev, uint16_t *base)
{
	struct virtio_blk *b = dev;

	for (unsigned int i = 0; i < b->cfg.queues; i++) {
		struct blk_queue *q = &b->queues[i];

		base[i] = 0;
		if (!q->running || q->ring.vq != &q->own)
			continue;
		q->pausing = true;
		blk_queue_stop(q);
		q->pausing = false;
		base[i] = virtq_used_base(&q->own);
	}
	return 0;
}

const struct virtio_dev_ops virtio_blk_ops = {
	.device_id = 2,
	.config_size = BLK_CONFIG_SIZE,
	.features = blk_features,
	.config_read = blk_config_read,
	.start = blk_start,
	.stop = blk_stop,
	.pause = blk_pause,
	.resume = blk_resume,
};

int virtio_blk_create(struct virtio_blk *b, const char *name,
		      const struct blk_config *cfg,
		      const struct guest_mem *mem)
{
	int ret;

	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->cfg = *cfg;
	b->mem = mem;
	if (!cfg->queues || cfg->queues > VIRTIO_MAX_QUEUES ||
	    !cfg->queue_size || cfg->queue_size > VIRTQ_MAX_SIZE ||
	    (cfg->queue_size & (cfg->queue_size - 1)) ||
	    cfg->naffinity > BLK_MAX_AFFINITY)
		return -EINVAL;
	for (unsigned int i = 0; i < cfg->naffinity; i++)
		if (cfg->affinity[i].index >= cfg->queues ||
		    cfg->affinity[i].cpu >= CPU_SETSIZE) {
			log_err(name, "affinity: queue %u on CPU %u: the "
				"device has %u queues, a CPU set %d CPUs",
				cfg->affinity[i].index, cfg->affinity[i].cpu,
				cfg->queues, CPU_SETSIZE);
			return -EINVAL;
		}
	ret = blk_image_open(&b->img, cfg->path, cfg->readonly, cfg->direct);
	if (ret)
		return ret;
	b->features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX |
		      1ULL << VIRTIO_F_INDIRECT_DESC |
		      1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
		      1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_MQ;
	if (cfg->readonly)
		b->features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		b->features |= 1ULL << VIRTIO_BLK_F_DISCARD |
			       1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	if (cfg->packed)
		b->features |= 1ULL << VIRTIO_F_RING_PACKED;
	if (cfg->numa_node >= 0) {
		ret = blk_node_cpus(cfg->numa_node, &b->cpus);
		b->cpus_set = !ret;
		if (ret == -EINVAL)
			log_warn(name, "I/O threads stay unpinned: no NUMA node "
				 "%d", cfg->numa_node);
		else if (ret)
			log_debug(name, "I/O threads stay unpinned: %s",
				  strerror(-ret));
	}

	b->queues = calloc(cfg->queues, sizeof(*b->queues));
	if (!b->queues) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned int i = 0; i < cfg->queues; i++) {
		struct blk_queue *q = &b->queues[i];

		q->blk = b;
		q->index = i;
		snprintf(q->name, sizeof(q->name), "%s q%u", name, i);
		q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->ios = calloc(cfg->queue_size, sizeof(*q->ios));
		if (q->stop_fd < 0 || !q->ios) {
			ret = q->stop_fd < 0 ? -errno : -ENOMEM;
			goto err;
		}
	}
	return 0;
err:
	virtio_blk_destroy(b);
	return ret;
}

void virtio_blk_set_bus(struct virtio_blk *b, struct virtio_bus bus)
{
	b->bus = bus;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	blk_stop(b);
	for (unsigned int i = 0; b->queues && i < b->cfg.queues; i++) {
		if (b->queues[i].stop_fd > 0)
			close(b->queues[i].stop_fd);
		free(b->queues[i].ios);
	}
	free(b->queues);
	b->queues = NULL;
	blk_image_close(&b->img);
}
