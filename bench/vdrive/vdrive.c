/* vdrive's engine: guest RAM, the queues, the request loop, the figures.
 * See vdrive.h for what a run is. */
#include "bench/vdrive/vdrive.h"

#include "bench/vdrive/vring.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define HUGE_2M (2ULL << 20)
#define HDR_LEN 16
#define STATUS_OFF 512		/* in a slot's header page */
#define FILL_BS (128u << 10)	/* fill and read-back request size */
#define WATCH_NS (100ULL * 1000000ULL)

/* Latency histogram: log-linear, 64 buckets per power of two (1.6% wide),
 * exact below 128 ns; up to 2^40 ns. */
#define H_SUB 64u
#define H_BUCKETS (H_SUB * 36u)

enum state { ST_RAMP, ST_MEASURE, ST_STOP };
enum phase { PH_FILL, PH_WORK, PH_READBACK };

struct run;
struct queue;

struct req {
	struct queue *q;
	uint64_t hdr_gpa, data_gpa, status_gpa;
	uint8_t *hdr, *data;
	volatile uint8_t *status;
	uint64_t sector;
	uint32_t len;
	bool write;
	uint8_t gen;			/* written, or expected when read */
	uint64_t t0;
};

struct queue {
	struct run *run;
	unsigned int index;
	struct vdq vq;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd, call_fd;
	struct req *reqs;
	struct req **free;
	unsigned int nfree;
	pthread_t thread;
	bool thread_live;
	clockid_t cpu_clock;
	uint64_t cpu_final;		/* the thread's CPU time at its end */

	/* This phase. */
	enum phase phase;
	uint64_t rng;
	uint64_t seq_next, seq_end, seq_start;	/* sequential, in bytes */
	uint64_t issued, limit;		/* requests issued / to issue (0: no
					 * limit) this phase */
	bool kick_pending;

	/* Counted by the thread, read by the main thread. */
	_Atomic uint64_t done;		/* completions, all phases */
	uint64_t win_ios, win_bytes, lat_sum;
	uint64_t calls, win_calls, win_kicks;
	uint64_t reads, writes, fill_ios, readback_ios;
	uint64_t verified, verify_errors, status_errors, len_errors;
	bool dead;
	_Atomic bool finished;		/* the thread is done with the phase */
	char error[160];
	uint64_t hist[H_BUCKETS];
	uint8_t *scratch;		/* verify: expected data */
} __attribute__((aligned(64)));

struct run {
	const struct vd_config *cfg;
	struct guest_mem mem;
	bool mem_live;
	uint64_t disk_sectors;		/* of the range used */
	uint64_t seed;
	uint32_t slot_data;		/* data bytes per slot */
	uint8_t *gen;			/* per sector, verify only */
	unsigned int nq;
	struct queue *q;
	_Atomic int state;
	_Atomic bool stalled;
	int done_fd;			/* eventfd: a queue thread finished */
};

/* --- helpers -------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void set_error(char *dst, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (dst[0])
		return;
	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

/* --- the pattern ---------------------------------------------------------- */

static void sector_pattern(uint64_t *w, uint64_t sector, uint8_t gen,
			   uint64_t seed)
{
	uint64_t s = seed ^ (sector * 0x9e3779b97f4a7c15ULL) ^
		     ((uint64_t)gen << 56);

	w[0] = htole64(sector);
	w[1] = htole64(seed ^ gen);
	for (unsigned int i = 2; i < VD_SECTOR / 8; i++)
		w[i] = splitmix(&s);
}

void vd_pattern(uint8_t *buf, size_t len, uint64_t sector, uint8_t gen,
		uint64_t seed)
{
	for (size_t off = 0; off + VD_SECTOR <= len; off += VD_SECTOR)
		sector_pattern((uint64_t *)(buf + off), sector++, gen, seed);
}

long vd_pattern_check(const uint8_t *buf, size_t len, uint64_t sector,
		      uint8_t gen, uint64_t seed)
{
	uint64_t want[VD_SECTOR / 8];

	for (size_t off = 0; off + VD_SECTOR <= len; off += VD_SECTOR) {
		sector_pattern(want, sector + off / VD_SECTOR, gen, seed);
		if (memcmp(buf + off, want, VD_SECTOR))
			return (long)(off / VD_SECTOR);
	}
	return -1;
}

/* --- CPU time ------------------------------------------------------------- */

uint64_t vd_cpu_process_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	if (pid == 0) {
		struct rusage ru;

		/* Threads live and dead, io_uring's workers included. */
		if (getrusage(RUSAGE_SELF, &ru))
			return 0;
		return ((uint64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
			       1000000000ULL +
		       ((uint64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) *
			       1000ULL;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command may hold spaces and parentheses: fields count from
	 * the last ')'. utime and stime are fields 14 and 15. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ULL / (uint64_t)hz);
}

/* --- histogram ------------------------------------------------------------ */

static unsigned int hist_index(uint64_t v)
{
	unsigned int m, idx;

	if (v < 2 * H_SUB)
		return (unsigned int)v;
	m = 63u - (unsigned int)__builtin_clzll(v);
	idx = H_SUB * (m - 5) + (unsigned int)((v >> (m - 6)) - H_SUB);
	return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

static double hist_value(unsigned int idx)
{
	unsigned int m, shift;
	uint64_t low;

	if (idx < 2 * H_SUB)
		return idx;
	m = idx / H_SUB + 5;
	shift = m - 6;
	low = (uint64_t)(idx % H_SUB + H_SUB) << shift;
	return (double)low + (double)(1ULL << shift) / 2;
}

static double hist_pct(const uint64_t *h, uint64_t total, double pct)
{
	uint64_t want = (uint64_t)(pct / 100.0 * (double)total), seen = 0;

	if (!total)
		return 0;
	if (want >= total)
		want = total - 1;
	for (unsigned int i = 0; i < H_BUCKETS; i++) {
		seen += h[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(H_BUCKETS - 1);
}

/* --- requests ------------------------------------------------------------- */

/* The next request of this queue's phase: false when it has no more. */
static bool next_io(struct queue *q, uint64_t *sector, uint32_t *len,
		    bool *write)
{
	const struct vd_config *cfg = q->run->cfg;
	uint64_t bytes = q->run->disk_sectors * VD_SECTOR;

	if (q->limit && q->issued >= q->limit)
		return false;
	if (q->phase != PH_WORK) {
		if (q->seq_next >= q->seq_end)
			return false;
		*len = (uint32_t)(q->seq_end - q->seq_next < FILL_BS ?
				  q->seq_end - q->seq_next : FILL_BS);
		*sector = q->seq_next / VD_SECTOR;
		*write = q->phase == PH_FILL;
		q->seq_next += *len;
		q->issued++;
		return true;
	}
	if (atomic_load_explicit(&q->run->state, memory_order_relaxed) ==
	    ST_STOP)
		return false;
	*len = cfg->bs;
	*write = cfg->rw == VD_RANDWRITE || cfg->rw == VD_WRITE;
	if (cfg->rw == VD_RANDREAD || cfg->rw == VD_RANDWRITE) {
		*sector = splitmix(&q->rng) % (bytes / cfg->bs) * cfg->bs /
			  VD_SECTOR;
	} else {
		if (q->seq_next + cfg->bs > q->seq_end)
			q->seq_next = q->seq_start;
		*sector = q->seq_next / VD_SECTOR;
		q->seq_next += cfg->bs;
	}
	q->issued++;
	return true;
}

static int post(struct queue *q, struct req *r, uint64_t sector, uint32_t len,
		bool write)
{
	struct run *run = q->run;
	struct vdq_buf b[3];
	uint32_t type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	int ret;

	r->sector = sector;
	r->len = len;
	r->write = write;
	memcpy(r->hdr, &(uint32_t){ htole32(type) }, 4);
	memset(r->hdr + 4, 0, 4);
	memcpy(r->hdr + 8, &(uint64_t){ htole64(sector) }, 8);
	*r->status = 0xff;		/* a device that never answers shows */
	if (run->gen) {
		if (write) {
			r->gen = q->phase == PH_FILL ? 1 : 2;
			vd_pattern(r->data, len, sector, r->gen, run->seed);
			memset(run->gen + sector, r->gen, len / VD_SECTOR);
		}
	}
	b[0] = (struct vdq_buf){ r->hdr_gpa, HDR_LEN };
	b[1] = (struct vdq_buf){ r->data_gpa, len };
	b[2] = (struct vdq_buf){ r->status_gpa, 1 };
	r->t0 = now_ns();
	ret = vdq_add(&q->vq, b, write ? 2 : 1, write ? 1 : 2, r);
	if (ret < 0)
		return ret;
	q->kick_pending = true;
	return 0;
}

/* Posts requests while slots are free and the phase has more. */
static int refill(struct queue *q)
{
	uint64_t sector;
	uint32_t len;
	bool write;
	int ret;

	while (q->nfree && next_io(q, &sector, &len, &write)) {
		ret = post(q, q->free[--q->nfree], sector, len, write);
		if (ret) {
			set_error(q->error, sizeof(q->error),
				  "q%u: no descriptors for a request (%s)",
				  q->index, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void verify_read(struct queue *q, struct req *r)
{
	struct run *run = q->run;
	uint64_t n = r->len / VD_SECTOR;

	for (uint64_t i = 0; i < n; i++) {
		uint8_t gen = __atomic_load_n(&run->gen[r->sector + i],
					      __ATOMIC_RELAXED);
		long bad;

		if (!gen)
			continue;	/* never written in this run */
		bad = vd_pattern_check(r->data + i * VD_SECTOR, VD_SECTOR,
				       r->sector + i, gen, run->seed);
		if (bad >= 0) {
			q->verify_errors++;
			set_error(q->error, sizeof(q->error),
				  "q%u: sector %" PRIu64 " read back wrong "
				  "(want generation %u)",
				  q->index, r->sector + i, gen);
		} else {
			q->verified += VD_SECTOR;
		}
	}
}

static void complete(struct queue *q, struct req *r, uint32_t len, uint64_t t)
{
	uint8_t status = *r->status;

	if (status != VIRTIO_BLK_S_OK) {
		q->status_errors++;
		set_error(q->error, sizeof(q->error),
			  "q%u: %s of sector %" PRIu64 ": status %u", q->index,
			  r->write ? "write" : "read", r->sector, status);
	} else if (!r->write && len != r->len + 1) {
		q->len_errors++;
		set_error(q->error, sizeof(q->error),
			  "q%u: read of %u bytes used %u bytes, want %u",
			  q->index, r->len, len, r->len + 1);
	} else if (!r->write && q->run->gen) {
		verify_read(q, r);
	}
	if (r->write)
		q->writes++;
	else
		q->reads++;
	if (q->phase == PH_FILL)
		q->fill_ios++;
	else if (q->phase == PH_READBACK)
		q->readback_ios++;
	else if (atomic_load_explicit(&q->run->state, memory_order_relaxed) ==
		 ST_MEASURE) {
		uint64_t lat = t - r->t0;

		q->win_ios++;
		q->win_bytes += r->len;
		q->lat_sum += lat;
		q->hist[hist_index(lat)]++;
	}
	atomic_store_explicit(&q->done, atomic_load_explicit(
				&q->done, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	q->free[q->nfree++] = r;
}

/* Takes every used chain, reposting as slots free up. Returns how many,
 * or -EPROTO when the device broke the ring. */
static int reap(struct queue *q)
{
	void *cookie;
	uint32_t len;
	int n = 0, ret;

	while ((ret = vdq_get(&q->vq, &cookie, &len)) > 0) {
		complete(q, cookie, len, now_ns());
		n++;
		ret = refill(q);
		if (ret)
			return ret;
	}
	if (ret < 0) {
		set_error(q->error, sizeof(q->error), "q%u: device error: %s",
			  q->index, q->vq.why);
		return ret;
	}
	return n;
}

static int kick(struct queue *q)
{
	uint64_t one = 1;

	if (!q->kick_pending)
		return 0;
	q->kick_pending = false;
	if (vdq_kick_prepare(&q->vq) &&
	    write(q->kick_fd, &one, sizeof(one)) != sizeof(one)) {
		set_error(q->error, sizeof(q->error), "q%u: kick: %s",
			  q->index, strerror(errno));
		return -errno;
	}
	return 0;
}

/* How long a device may hold requests without completing any. */
static uint64_t stall_ns(const struct vd_config *cfg)
{
	return cfg->stall_s > 0 ? (uint64_t)(cfg->stall_s * 1e9) :
				  5ULL * 1000000000ULL;
}

static bool stalled(struct queue *q)
{
	return atomic_load_explicit(&q->run->stalled, memory_order_relaxed);
}

/* Call mode: interrupts stay enabled (as Linux's virtio-blk keeps them);
 * with nothing used, sleep in read() on the call eventfd. */
static int loop_call(struct queue *q)
{
	uint64_t n;
	int ret;

	for (;;) {
		ret = reap(q);
		if (ret < 0)
			return ret;
		ret = kick(q);
		if (ret)
			return ret;
		if (!vdq_inflight(&q->vq))
			return 0;
		if (stalled(q))
			return -ETIMEDOUT;
		if (vdq_enable_cb(&q->vq))
			continue;
		/* The eventfd's file description is shared with the device,
		 * which may have made it non-blocking (libvhost-user does):
		 * poll, then read, for every device alike. */
		if (poll(&(struct pollfd){ .fd = q->call_fd, .events = POLLIN },
			 1, -1) < 0 && errno != EINTR) {
			set_error(q->error, sizeof(q->error),
				  "q%u: poll: %s", q->index, strerror(errno));
			return -errno;
		}
		if (read(q->call_fd, &n, sizeof(n)) != sizeof(n)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			set_error(q->error, sizeof(q->error),
				  "q%u: call eventfd: %s", q->index,
				  strerror(errno));
			return -errno;
		}
		q->calls++;
	}
}

/* Poll mode: no interrupts; spin on the used ring. */
static int loop_poll(struct queue *q)
{
	int ret;

	vdq_disable_cb(&q->vq);
	for (;;) {
		ret = reap(q);
		if (ret < 0)
			return ret;
		if (kick(q))
			return -EIO;
		if (!vdq_inflight(&q->vq))
			return 0;
		if (!ret) {
			if (stalled(q))
				return -ETIMEDOUT;
			__builtin_ia32_pause();
		}
	}
}

static void *queue_thread(void *arg)
{
	struct queue *q = arg;
	int ret;

	ret = refill(q);
	if (!ret)
		ret = q->run->cfg->complete == VD_COMPLETE_POLL ? loop_poll(q)
							      : loop_call(q);
	if (ret) {
		q->dead = true;
		if (ret == -ETIMEDOUT)
			set_error(q->error, sizeof(q->error),
				  "q%u: no completion for %.1f s with %u "
				  "request(s) in flight", q->index,
				  (double)stall_ns(q->run->cfg) / 1e9,
				  vdq_inflight(&q->vq));
	}
	q->cpu_final = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	atomic_store(&q->finished, true);
	if (write(q->run->done_fd, &(uint64_t){ 1 }, 8) < 0)
		q->dead = true;
	return NULL;
}

/* --- set-up --------------------------------------------------------------- */

static uint64_t ring_bytes(uint16_t num)
{
	return align_up(VDQ_DESC_BYTES(num), PAGE) +
	       align_up(VDQ_AVAIL_BYTES(num), PAGE) +
	       align_up(VDQ_USED_BYTES(num), PAGE);
}

static uint64_t queue_bytes(const struct vd_config *cfg, uint32_t slot_data)
{
	return ring_bytes(cfg->queue_size) +
	       (uint64_t)cfg->qd * (PAGE + align_up(slot_data, PAGE));
}

static void *ptr(struct run *run, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(&run->mem, gpa, len);
}

static int queue_setup(struct run *run, struct queue *q, unsigned int i,
		       uint64_t base, bool event_idx)
{
	const struct vd_config *cfg = run->cfg;
	uint16_t num = cfg->queue_size;
	uint64_t slots, slot_size = PAGE + align_up(run->slot_data, PAGE);
	int ret;

	q->run = run;
	q->index = i;
	q->kick_fd = eventfd(0, EFD_CLOEXEC);
	q->call_fd = eventfd(0, EFD_CLOEXEC);
	if (q->kick_fd < 0 || q->call_fd < 0)
		return -errno;
	q->desc_gpa = base;
	q->avail_gpa = q->desc_gpa + align_up(VDQ_DESC_BYTES(num), PAGE);
	q->used_gpa = q->avail_gpa + align_up(VDQ_AVAIL_BYTES(num), PAGE);
	slots = q->used_gpa + align_up(VDQ_USED_BYTES(num), PAGE);
	ret = vdq_init(&q->vq, num, event_idx,
		       ptr(run, q->desc_gpa, VDQ_DESC_BYTES(num)),
		       ptr(run, q->avail_gpa, VDQ_AVAIL_BYTES(num)),
		       ptr(run, q->used_gpa, VDQ_USED_BYTES(num)));
	if (ret)
		return ret;
	q->reqs = calloc(cfg->qd, sizeof(*q->reqs));
	q->free = calloc(cfg->qd, sizeof(*q->free));
	if (!q->reqs || !q->free)
		return -ENOMEM;
	if (run->gen) {
		q->scratch = malloc(run->slot_data);
		if (!q->scratch)
			return -ENOMEM;
	}
	for (unsigned int k = 0; k < cfg->qd; k++) {
		struct req *r = &q->reqs[k];
		uint64_t at = slots + k * slot_size;

		r->q = q;
		r->hdr_gpa = at;
		r->status_gpa = at + STATUS_OFF;
		r->data_gpa = at + PAGE;
		r->hdr = ptr(run, r->hdr_gpa, HDR_LEN);
		r->status = ptr(run, r->status_gpa, 1);
		r->data = ptr(run, r->data_gpa, run->slot_data);
		if (!r->hdr || !r->status || !r->data)
			return -EFAULT;
	}
	return 0;
}

static void queue_teardown(struct queue *q)
{
	if (q->kick_fd > 0)
		close(q->kick_fd);
	if (q->call_fd > 0)
		close(q->call_fd);
	vdq_destroy(&q->vq);
	free(q->reqs);
	free(q->free);
	free(q->scratch);
}

/* Each queue's share of [0, bytes) in whole units of UNIT. */
static void slice(uint64_t bytes, uint64_t unit, unsigned int nq,
		  unsigned int i, uint64_t *start, uint64_t *end)
{
	uint64_t units = bytes / unit, per = units / nq;

	*start = per * i * unit;
	*end = i + 1 == nq ? units * unit : per * (i + 1) * unit;
}

static void phase_reset(struct run *run, struct queue *q, enum phase ph)
{
	const struct vd_config *cfg = run->cfg;
	uint64_t bytes = run->disk_sectors * VD_SECTOR;

	q->phase = ph;
	q->issued = 0;
	q->limit = ph == PH_WORK ? cfg->ios : 0;
	q->nfree = 0;
	for (unsigned int k = 0; k < cfg->qd; k++)
		q->free[q->nfree++] = &q->reqs[cfg->qd - 1 - k];
	if (ph == PH_WORK)
		slice(bytes, cfg->bs, run->nq, q->index, &q->seq_start,
		      &q->seq_end);
	else
		slice(bytes, VD_SECTOR, run->nq, q->index, &q->seq_start,
		      &q->seq_end);
	q->seq_next = q->seq_start;
	q->rng = run->seed ^ (0x1000193ULL * (q->index + 1)) ^ ph;
}

static int threads_start(struct run *run, enum phase ph, char *err, size_t n)
{
	int ret;

	for (unsigned int i = 0; i < run->nq; i++) {
		struct queue *q = &run->q[i];

		phase_reset(run, q, ph);
		atomic_store(&q->finished, false);
		ret = -pthread_create(&q->thread, NULL, queue_thread, q);
		if (ret) {
			set_error(err, n, "thread: %s", strerror(-ret));
			return ret;
		}
		q->thread_live = true;
		pthread_setname_np(q->thread, "vdrive-q");
		if (pthread_getcpuclockid(q->thread, &q->cpu_clock))
			q->cpu_clock = (clockid_t)-1;
	}
	return 0;
}

static uint64_t driver_cpu_ns(struct run *run)
{
	uint64_t ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);	/* this thread */

	for (unsigned int i = 0; i < run->nq; i++) {
		struct queue *q = &run->q[i];

		if (!q->thread_live)
			continue;
		/* A finished thread's clock may be gone already. */
		if (atomic_load(&q->finished))
			ns += q->cpu_final;
		else if (q->cpu_clock != (clockid_t)-1)
			ns += clock_ns(q->cpu_clock);
	}
	return ns;
}

static bool threads_all_done(struct run *run)
{
	for (unsigned int i = 0; i < run->nq; i++)
		if (!atomic_load(&run->q[i].finished))
			return false;
	return true;
}

/* Sleeps until DEADLINE (0: until the threads finish), watching for a
 * device that stops completing. */
static void watch(struct run *run, uint64_t deadline)
{
	uint64_t last = 0, since = now_ns(), stall = stall_ns(run->cfg);

	for (;;) {
		uint64_t done = 0, t = now_ns();
		bool busy = false;

		if (deadline && t >= deadline)
			return;
		if (!deadline && threads_all_done(run))
			return;
		for (unsigned int i = 0; i < run->nq; i++) {
			done += atomic_load(&run->q[i].done);
			busy |= vdq_inflight(&run->q[i].vq) != 0;
		}
		if (done != last || !busy) {
			last = done;
			since = t;
		} else if (t - since > stall) {
			uint64_t one = 1;

			atomic_store(&run->stalled, true);
			for (unsigned int i = 0; i < run->nq; i++)
				if (write(run->q[i].call_fd, &one, 8) < 0)
					break;
			return;
		}
		t = now_ns();
		{
			uint64_t left = deadline && deadline - t < WATCH_NS ?
					deadline - t : WATCH_NS, n;
			struct pollfd p = { .fd = run->done_fd,
					    .events = POLLIN };

			/* Woken early when a thread finishes. */
			if (poll(&p, 1, (int)((left + 999999) / 1000000)) > 0 &&
			    read(run->done_fd, &n, sizeof(n)) < 0)
				return;
		}
	}
}

static void threads_join(struct run *run)
{
	for (unsigned int i = 0; i < run->nq; i++) {
		if (!run->q[i].thread_live)
			continue;
		pthread_join(run->q[i].thread, NULL);
		run->q[i].thread_live = false;
	}
}

static bool any_dead(struct run *run)
{
	for (unsigned int i = 0; i < run->nq; i++)
		if (run->q[i].dead)
			return true;
	return false;
}

/* Fill or read-back: every queue its slice, to the end. */
static int run_seq_phase(struct run *run, enum phase ph, struct vd_result *r)
{
	int ret = threads_start(run, ph, r->error, sizeof(r->error));

	if (!ret)
		watch(run, 0);
	threads_join(run);
	return ret ? ret : any_dead(run) ? -EIO : 0;
}

struct snap {
	uint64_t t, driver, backend;
	bool backend_ok;
	uint64_t kicks;
	uint64_t calls;
};

static void snapshot(struct run *run, const struct vd_backend_ops *ops,
		     void *ctx, struct snap *s)
{
	uint64_t ns = 0;

	s->t = now_ns();
	s->driver = driver_cpu_ns(run);
	s->backend_ok = ops->cpu_ns && ops->cpu_ns(ctx, s->driver, &ns) == 0;
	s->backend = ns;
	s->kicks = s->calls = 0;
	for (unsigned int i = 0; i < run->nq; i++) {
		s->kicks += __atomic_load_n(&run->q[i].vq.stats.kicks,
					    __ATOMIC_RELAXED);
		s->calls += __atomic_load_n(&run->q[i].calls, __ATOMIC_RELAXED);
	}
}

static int run_work(struct run *run, const struct vd_backend_ops *ops,
		    void *ctx, struct vd_result *r)
{
	const struct vd_config *cfg = run->cfg;
	struct snap a, b;
	uint64_t t;
	int ret;

	atomic_store(&run->state, cfg->ios ? ST_MEASURE : ST_RAMP);
	ret = threads_start(run, PH_WORK, r->error, sizeof(r->error));
	if (ret) {
		atomic_store(&run->state, ST_STOP);
		threads_join(run);
		return ret;
	}
	if (cfg->ios) {
		snapshot(run, ops, ctx, &a);
		watch(run, 0);
		snapshot(run, ops, ctx, &b);
	} else {
		t = now_ns();
		watch(run, t + (uint64_t)(cfg->ramp_s * 1e9));
		snapshot(run, ops, ctx, &a);
		atomic_store(&run->state, ST_MEASURE);
		watch(run, a.t + (uint64_t)(cfg->runtime_s * 1e9));
		atomic_store(&run->state, ST_STOP);
		snapshot(run, ops, ctx, &b);
		watch(run, 0);
	}
	threads_join(run);
	r->window_s = (double)(b.t - a.t) / 1e9;
	r->driver_cpu_s = (double)(b.driver - a.driver) / 1e9;
	r->backend_cpu_s = a.backend_ok && b.backend_ok ?
			   (double)(b.backend - a.backend) / 1e9 : -1;
	r->kicks_per_io = (double)(b.kicks - a.kicks);
	r->calls_per_io = (double)(b.calls - a.calls);
	return any_dead(run) ? -EIO : 0;
}

static void results(struct run *run, struct vd_result *r)
{
	uint64_t *hist = calloc(H_BUCKETS, sizeof(*hist));
	uint64_t lat_sum = 0, max = 0;

	if (!hist) {
		set_error(r->error, sizeof(r->error), "out of memory");
		return;
	}
	for (unsigned int i = 0; i < run->nq; i++) {
		struct queue *q = &run->q[i];

		r->ios += q->win_ios;
		r->bytes += q->win_bytes;
		lat_sum += q->lat_sum;
		r->total_reads += q->reads;
		r->total_writes += q->writes;
		r->fill_ios += q->fill_ios;
		r->readback_ios += q->readback_ios;
		r->verified_bytes += q->verified;
		r->verify_errors += q->verify_errors;
		r->status_errors += q->status_errors;
		r->len_errors += q->len_errors;
		if (q->vq.dead)
			r->device_errors++;
		if (q->error[0])
			set_error(r->error, sizeof(r->error), "%s", q->error);
		for (unsigned int k = 0; k < H_BUCKETS; k++) {
			hist[k] += q->hist[k];
			if (q->hist[k] && k > max)
				max = k;
		}
	}
	r->total_ios = r->total_reads + r->total_writes;
	if (atomic_load(&run->stalled))
		r->stalls++;
	if (r->window_s > 0) {
		r->iops = (double)r->ios / r->window_s;
		r->mbps = (double)r->bytes / r->window_s / 1e6;
	}
	if (r->ios) {
		r->lat.mean_us = (double)lat_sum / (double)r->ios / 1e3;
		r->lat.p50_us = hist_pct(hist, r->ios, 50) / 1e3;
		r->lat.p99_us = hist_pct(hist, r->ios, 99) / 1e3;
		r->lat.p999_us = hist_pct(hist, r->ios, 99.9) / 1e3;
		r->lat.max_us = hist_value((unsigned int)max) / 1e3;
		r->driver_us_per_io = r->driver_cpu_s * 1e6 / (double)r->ios;
		r->backend_us_per_io = r->backend_cpu_s < 0 ? -1 :
			r->backend_cpu_s * 1e6 / (double)r->ios;
		r->kicks_per_io /= (double)r->ios;
		r->calls_per_io /= (double)r->ios;
	}
	free(hist);
}

static int negotiate(struct run *run, const struct vd_backend_ops *ops,
		     void *ctx, struct vd_result *r)
{
	const struct vd_config *cfg = run->cfg;
	uint64_t offered = 0, want, bytes = 0;
	int ret;

	ret = ops->features(ctx, &offered);
	if (ret) {
		set_error(r->error, sizeof(r->error), "features: %s",
			  strerror(-ret));
		return ret;
	}
	if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
		set_error(r->error, sizeof(r->error),
			  "the device does not offer VIRTIO_F_VERSION_1");
		return -ENOTSUP;
	}
	want = 1ULL << VIRTIO_F_VERSION_1;
	if (cfg->event_idx)
		want |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (cfg->queues > 1) {
		if (!(offered & (1ULL << VIRTIO_BLK_F_MQ))) {
			set_error(r->error, sizeof(r->error),
				  "%u queues: the device does not offer "
				  "VIRTIO_BLK_F_MQ", cfg->queues);
			return -ENOTSUP;
		}
		want |= 1ULL << VIRTIO_BLK_F_MQ;
	}
	r->features = want & offered;
	ret = ops->capacity(ctx, &bytes);
	if (ret) {
		set_error(r->error, sizeof(r->error), "capacity: %s",
			  strerror(-ret));
		return ret;
	}
	r->disk_bytes = bytes;
	if (cfg->size > bytes) {
		set_error(r->error, sizeof(r->error),
			  "size %" PRIu64 " is larger than the disk (%" PRIu64
			  " bytes)", cfg->size, bytes);
		return -EINVAL;
	}
	bytes = cfg->size ? cfg->size : bytes;
	bytes -= bytes % (cfg->bs > VD_SECTOR ? cfg->bs : VD_SECTOR);
	if (bytes < (uint64_t)cfg->bs * cfg->queues) {
		set_error(r->error, sizeof(r->error),
			  "the disk is too small for %u-byte requests on %u "
			  "queue(s)", cfg->bs, cfg->queues);
		return -EINVAL;
	}
	run->disk_sectors = bytes / VD_SECTOR;
	return 0;
}

static int check_config(const struct vd_config *cfg, struct vd_result *r)
{
	const char *bad = NULL;

	if (!cfg->bs || cfg->bs % VD_SECTOR || cfg->bs > (64u << 20))
		bad = "bs must be a multiple of 512 up to 64 MiB";
	else if (!cfg->queues || cfg->queues > VD_MAX_QUEUES)
		bad = "queues must be 1..16";
	else if (!cfg->queue_size || cfg->queue_size > 1024 ||
		 (cfg->queue_size & (cfg->queue_size - 1)))
		bad = "queue size must be a power of 2 up to 1024";
	else if (!cfg->qd || cfg->qd * 3 > cfg->queue_size)
		bad = "qd must be 1..queue_size/3 (3 descriptors a request)";
	else if (!cfg->ios && cfg->runtime_s <= 0)
		bad = "a run needs a runtime or an I/O count";
	if (bad)
		set_error(r->error, sizeof(r->error), "%s", bad);
	return bad ? -EINVAL : 0;
}

int vd_run(const struct vd_config *cfg, const struct vd_backend_ops *ops,
	   void *ctx, struct vd_result *r)
{
	struct run run = { .cfg = cfg, .done_fd = -1 };
	struct virtio_queue_io io[VD_MAX_QUEUES];
	struct mem_config mc = { .numa_node = -1, .shared = cfg->shared_mem,
				 .hugepages = cfg->hugepages };
	bool started = false;
	uint64_t per_queue;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = check_config(cfg, r);
	if (ret)
		return ret;
	run.seed = cfg->seed ? cfg->seed : now_ns() ^ ((uint64_t)getpid() << 32);
	r->seed = run.seed;
	run.nq = cfg->queues;
	run.slot_data = cfg->verify && cfg->bs < FILL_BS ? FILL_BS : cfg->bs;
	ret = negotiate(&run, ops, ctx, r);
	if (ret)
		return ret;

	per_queue = align_up(queue_bytes(cfg, run.slot_data), PAGE);
	mc.size = align_up(per_queue * run.nq, HUGE_2M);
	if (cfg->mem_bytes > mc.size)
		mc.size = align_up(cfg->mem_bytes, HUGE_2M);
	if (mc.size > MEM_HOLE_START) {
		set_error(r->error, sizeof(r->error),
			  "%" PRIu64 " MiB of guest RAM needed: too much",
			  mc.size >> 20);
		return -E2BIG;
	}
	ret = guest_mem_create(&run.mem, &mc);
	if (ret) {
		set_error(r->error, sizeof(r->error), "guest RAM: %s%s",
			  strerror(-ret), cfg->hugepages ?
			  " (are 2 MiB huge pages reserved and free? "
			  "/proc/sys/vm/nr_hugepages)" : "");
		return ret;
	}
	run.mem_live = true;
	run.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (run.done_fd < 0) {
		ret = -errno;
		goto out;
	}
	if (cfg->verify) {
		run.gen = calloc(run.disk_sectors, 1);
		if (!run.gen) {
			ret = -ENOMEM;
			goto out;
		}
	}
	run.q = aligned_alloc(64, sizeof(*run.q) * run.nq);
	if (!run.q) {
		ret = -ENOMEM;
		goto out;
	}
	memset(run.q, 0, sizeof(*run.q) * run.nq);
	for (unsigned int i = 0; i < run.nq; i++)
		run.q[i].kick_fd = run.q[i].call_fd = -1;
	for (unsigned int i = 0; i < run.nq; i++) {
		struct queue *q = &run.q[i];

		ret = queue_setup(&run, q, i, per_queue * i,
				  r->features & (1ULL << VIRTIO_F_EVENT_IDX));
		if (ret) {
			set_error(r->error, sizeof(r->error), "queue %u: %s",
				  i, strerror(-ret));
			goto out;
		}
		io[i] = (struct virtio_queue_io){
			.enabled = true, .size = cfg->queue_size,
			.desc = q->desc_gpa, .driver = q->avail_gpa,
			.device = q->used_gpa, .kick_fd = q->kick_fd,
			.call_fd = q->call_fd };
	}
	ret = ops->start(ctx, &run.mem, r->features, io, run.nq);
	if (ret) {
		set_error(r->error, sizeof(r->error), "%s: start: %s",
			  ops->name, strerror(-ret));
		goto out;
	}
	started = true;
	if (cfg->verify) {
		ret = run_seq_phase(&run, PH_FILL, r);
		if (ret)
			goto out;
	}
	ret = run_work(&run, ops, ctx, r);
	if (ret)
		goto out;
	if (cfg->verify)
		ret = run_seq_phase(&run, PH_READBACK, r);
out:
	if (started) {
		ops->stop(ctx);
		if (ops->engine_stats)
			ops->engine_stats(ctx, &r->engine);
	}
	if (run.q) {
		results(&run, r);
		for (unsigned int i = 0; i < run.nq; i++)
			queue_teardown(&run.q[i]);
	}
	if (ret == -EIO && !r->error[0])
		set_error(r->error, sizeof(r->error), "a queue failed");
	free(run.q);
	free(run.gen);
	if (run.done_fd >= 0)
		close(run.done_fd);
	if (run.mem_live)
		guest_mem_destroy(&run.mem);
	return ret;
}

bool vd_result_ok(const struct vd_result *r)
{
	return !r->verify_errors && !r->status_errors && !r->len_errors &&
	       !r->device_errors && !r->stalls;
}

void vd_config_defaults(struct vd_config *cfg)
{
	*cfg = (struct vd_config){
		.rw = VD_RANDREAD,
		.bs = 4096,
		.qd = 32,
		.queues = 1,
		.queue_size = 256,
		.ramp_s = 1,
		.runtime_s = 5,
		.complete = VD_COMPLETE_CALL,
		.event_idx = true,
	};
}

static const char *const rw_names[] = {
	[VD_RANDREAD] = "randread",
	[VD_RANDWRITE] = "randwrite",
	[VD_READ] = "read",
	[VD_WRITE] = "write",
};

const char *vd_rw_name(enum vd_rw rw)
{
	return rw_names[rw];
}

int vd_rw_parse(const char *s, enum vd_rw *rw)
{
	for (unsigned int i = 0; i < sizeof(rw_names) / sizeof(rw_names[0]);
	     i++) {
		if (!strcmp(s, rw_names[i])) {
			*rw = (enum vd_rw)i;
			return 0;
		}
	}
	return -EINVAL;
}
