/* vdrive (bench/vdrive) against a trivial device, so that its figures can
 * be trusted: a RAM disk served by one thread per queue with tern's
 * device-side virtqueue code, which counts every request and checks every
 * byte written against vdrive's pattern. The counts must match what vdrive
 * reports, in every workload and completion mode, and a device that
 * corrupts a byte, fails a request, reports a wrong length, returns a
 * chain it never got, never completes a request or acknowledges a write it
 * did not store must each be caught and named. */
#include "tests/unit/check.h"

#include "bench/vdrive/vdrive.h"
#include "bench/vdrive/vring.h"
#include "virtio/queue.h"

#include <endian.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DISK_BYTES (4u << 20)
#define SEED 0x5eed1234abcdULL

enum fault {
	F_NONE,
	F_FLIP,		/* one byte of a read's data flipped */
	F_STATUS,	/* a request answered with an error status */
	F_LEN,		/* a read's used length short */
	F_BAD_ID,	/* a chain returned that was never made available */
	F_DROP,		/* a request taken and never returned */
	F_LOSE,		/* a write acknowledged, its data not stored */
};

struct tq {
	struct memdisk *d;
	unsigned int index;
	struct virtq vq;
	struct virtq_chain chain;
	char name[32];
	int kick, call, stop;
	pthread_t thread;
};

struct memdisk {
	uint8_t *data;
	enum fault fault;
	uint64_t fault_at;		/* the fault hits this request (all
					 * queues, counted from 1; F_LOSE:
					 * the first write from it on) */
	_Atomic bool fault_done;
	_Atomic uint64_t dropped;	/* F_DROP: requests never returned */
	_Atomic uint64_t lost_writes;	/* F_LOSE: writes not stored */
	_Atomic uint64_t requests;
	_Atomic uint64_t reads, writes, others;
	_Atomic uint64_t read_bytes, write_bytes;
	_Atomic uint64_t bad_write_sectors;	/* not vdrive's pattern */
	_Atomic uint64_t max_avail;	/* most chains available at once */
	unsigned int nq;
	struct tq q[VD_MAX_QUEUES];
};

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Copies between the chain's data segments and the disk. */
static void move(struct memdisk *d, const struct iovec *iov, unsigned int n,
		 uint64_t off, bool to_disk)
{
	for (unsigned int i = 0; i < n; i++) {
		if (to_disk)
			memcpy(d->data + off, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, d->data + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
}

/* Every sector written must be vdrive's pattern of generation 1 or 2. */
static void check_written(struct memdisk *d, uint64_t sector, uint64_t len)
{
	for (uint64_t s = 0; s < len / VD_SECTOR; s++) {
		const uint8_t *p = d->data + (sector + s) * VD_SECTOR;
		uint64_t gen = le64_at(p + 8) ^ SEED;

		if ((gen != 1 && gen != 2) ||
		    vd_pattern_check(p, VD_SECTOR, sector + s, (uint8_t)gen,
				     SEED) >= 0)
			d->bad_write_sectors++;
	}
}

/* One request: 1 served, 0 the device "lost" it (bad-id or drop fault). */
static int serve(struct tq *q, struct virtq_chain *c)
{
	struct memdisk *d = q->d;
	uint64_t nr = ++d->requests;
	const struct iovec *in = c->iov + c->nr_out;
	uint8_t hdr[16], *status;
	uint32_t type, used;
	uint64_t sector, len, off;

	/* vdrive's layout: header | data | status, one segment each. */
	CHECK_EQ(c->nr_out + c->nr_in, 3);
	CHECK_EQ(c->iov[0].iov_len, 16);
	if (c->nr_out + c->nr_in != 3 || c->iov[0].iov_len != 16)
		return 1;
	memcpy(hdr, c->iov[0].iov_base, 16);
	type = le32toh(*(uint32_t *)hdr);
	sector = le64_at(hdr + 8);
	status = (uint8_t *)in[c->nr_in - 1].iov_base;
	CHECK_EQ(in[c->nr_in - 1].iov_len, 1);
	off = sector * VD_SECTOR;
	used = 1;
	if (type == VIRTIO_BLK_T_IN && c->nr_in == 2) {
		len = in[0].iov_len;
		CHECK(off + len <= DISK_BYTES);
		move(d, in, 1, off, false);
		d->reads++;
		d->read_bytes += len;
		used = (uint32_t)len + 1;
		if (d->fault == F_FLIP && nr == d->fault_at)
			((uint8_t *)in[0].iov_base)[len / 2] ^= 0x10;
	} else if (type == VIRTIO_BLK_T_OUT && c->nr_out == 2) {
		len = c->iov[1].iov_len;
		CHECK(off + len <= DISK_BYTES);
		if (d->fault == F_LOSE && nr >= d->fault_at &&
		    !atomic_exchange(&d->fault_done, true)) {
			d->lost_writes++;
		} else {
			move(d, c->iov + 1, 1, off, true);
			check_written(d, sector, len);
		}
		d->writes++;
		d->write_bytes += len;
	} else {
		d->others++;
	}
	*status = VIRTIO_BLK_S_OK;
	if (d->fault == F_STATUS && nr == d->fault_at)
		*status = 1;
	if (d->fault == F_LEN && nr == d->fault_at)
		used = 1;
	if (d->fault == F_DROP && nr == d->fault_at) {
		d->dropped++;
		return 0;
	}
	if (d->fault == F_BAD_ID && nr == d->fault_at) {
		c->head = (uint16_t)(q->vq.num + 3);
		virtq_push(&q->vq, c, used);
		return 0;
	}
	virtq_push(&q->vq, c, used);
	return 1;
}

static void *tq_thread(void *arg)
{
	struct tq *q = arg;
	struct pollfd p[2] = { { .fd = q->kick, .events = POLLIN },
			       { .fd = q->stop, .events = POLLIN } };
	uint64_t n;

	for (;;) {
		int ret;

		if (poll(p, 2, -1) < 0 || p[1].revents)
			break;
		if (read(q->kick, &n, 8) != 8)
			continue;
		do {
			virtq_disable_kicks(&q->vq);
			while ((ret = virtq_pop(&q->vq, &q->chain)) > 0) {
				uint16_t avail = (uint16_t)(q->vq.avail_idx -
							    q->vq.used_idx);

				if (avail > q->d->max_avail)
					q->d->max_avail = avail;
				serve(q, &q->chain);
			}
			CHECK_EQ(ret, 0);
		} while (virtq_enable_kicks(&q->vq));
		if (virtq_need_notify(&q->vq) &&
		    write(q->call, &(uint64_t){ 1 }, 8) != 8)
			break;
	}
	return NULL;
}

/* --- the backend ops ------------------------------------------------------ */

static int md_features(void *ctx, uint64_t *f)
{
	*f = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX |
	     1ULL << VIRTIO_BLK_F_MQ;
	return 0;
}

static int md_capacity(void *ctx, uint64_t *bytes)
{
	*bytes = DISK_BYTES;
	return 0;
}

static int md_start(void *ctx, const struct guest_mem *mem, uint64_t features,
		    const struct virtio_queue_io *io, unsigned int nq)
{
	struct memdisk *d = ctx;

	CHECK(features & (1ULL << VIRTIO_F_VERSION_1));
	d->nq = nq;
	for (unsigned int i = 0; i < nq; i++) {
		struct tq *q = &d->q[i];

		q->d = d;
		q->index = i;
		snprintf(q->name, sizeof(q->name), "memdisk q%u", i);
		if (virtq_init(&q->vq, q->name, mem, io[i].size, io[i].desc,
			       io[i].driver, io[i].device, features, 0))
			return -EINVAL;
		q->kick = io[i].kick_fd;
		q->call = io[i].call_fd;
		q->stop = eventfd(0, EFD_CLOEXEC);
		if (q->stop < 0 || pthread_create(&q->thread, NULL, tq_thread, q))
			return -EIO;
	}
	return 0;
}

static void md_stop(void *ctx)
{
	struct memdisk *d = ctx;

	for (unsigned int i = 0; i < d->nq; i++) {
		CHECK_EQ(write(d->q[i].stop, &(uint64_t){ 1 }, 8), 8);
		pthread_join(d->q[i].thread, NULL);
		close(d->q[i].stop);
	}
}

static const struct vd_backend_ops md_ops = {
	.name = "memdisk",
	.features = md_features,
	.capacity = md_capacity,
	.start = md_start,
	.stop = md_stop,
};

static struct memdisk *md_new(enum fault fault, uint64_t at)
{
	struct memdisk *d = calloc(1, sizeof(*d));

	if (!d)
		abort();
	d->data = calloc(1, DISK_BYTES);
	if (!d->data)
		abort();
	d->fault = fault;
	d->fault_at = at;
	return d;
}

static void md_free(struct memdisk *d)
{
	free(d->data);
	free(d);
}

/* --- the tests ------------------------------------------------------------ */

static void base_config(struct vd_config *cfg)
{
	vd_config_defaults(cfg);
	cfg->seed = SEED;
	cfg->ios = 400;
	cfg->qd = 8;
	cfg->queue_size = 32;
	cfg->quiet = true;
}

/* A clean run: what vdrive says it did is what the device saw. */
static void clean_run(enum vd_rw rw, uint32_t bs, unsigned int queues,
		      enum vd_complete mode, bool event_idx)
{
	struct memdisk *d = md_new(F_NONE, 0);
	struct vd_config cfg;
	struct vd_result r;
	uint64_t fill_ios, rb_ios;
	bool writes = rw == VD_RANDWRITE || rw == VD_WRITE;
	int ret;

	base_config(&cfg);
	cfg.rw = rw;
	cfg.bs = bs;
	cfg.queues = queues;
	cfg.complete = mode;
	cfg.event_idx = event_idx;
	cfg.verify = true;
	ret = vd_run(&cfg, &md_ops, d, &r);
	CHECK_EQ(ret, 0);
	CHECK(vd_result_ok(&r));
	if (ret || !vd_result_ok(&r))
		fprintf(stderr, "%s bs %u q %u: %s\n", vd_rw_name(rw), bs,
			queues, r.error);
	CHECK_EQ(!!(r.features & (1ULL << VIRTIO_F_EVENT_IDX)), event_idx);
	/* Fill and read-back go in 128 KiB requests over the whole disk. */
	fill_ios = DISK_BYTES / (128u << 10);
	rb_ios = fill_ios;
	CHECK_EQ(r.fill_ios, fill_ios);
	CHECK_EQ(r.readback_ios, rb_ios);
	CHECK_EQ(r.ios, (uint64_t)cfg.ios * queues);
	CHECK_EQ(r.bytes, (uint64_t)cfg.ios * queues * bs);
	CHECK_EQ(r.total_ios, r.fill_ios + r.readback_ios + r.ios);
	/* The device's counts, request by request. */
	CHECK_EQ(d->requests, r.total_ios);
	CHECK_EQ(d->reads, r.total_reads);
	CHECK_EQ(d->writes, r.total_writes);
	CHECK_EQ(d->others, 0);
	CHECK_EQ(d->writes, fill_ios + (writes ? r.ios : 0));
	CHECK_EQ(d->reads, rb_ios + (writes ? 0 : r.ios));
	CHECK_EQ(d->write_bytes, DISK_BYTES + (writes ? r.bytes : 0));
	CHECK_EQ(d->read_bytes, DISK_BYTES + (writes ? 0 : r.bytes));
	CHECK_EQ(d->bad_write_sectors, 0);
	/* Every byte read was checked: the workload's reads and the whole
	 * disk again at the end. */
	CHECK_EQ(r.verified_bytes, d->read_bytes);
	/* The queue depth in flight, never more. */
	CHECK_EQ(d->max_avail, cfg.qd);
	CHECK(r.iops > 0);
	CHECK(r.lat.p50_us > 0 && r.lat.p50_us <= r.lat.p99_us &&
	      r.lat.p99_us <= r.lat.p999_us &&
	      r.lat.p999_us <= r.lat.max_us * 1.02);
	md_free(d);
}

/* A device that misbehaves once is caught, and the run still ends. */
static void fault_run(enum fault fault, enum vd_rw rw, uint64_t at)
{
	struct memdisk *d = md_new(fault, at);
	struct vd_config cfg;
	struct vd_result r;
	int ret;

	base_config(&cfg);
	cfg.rw = rw;
	cfg.verify = true;
	cfg.stall_s = 0.5;
	ret = vd_run(&cfg, &md_ops, d, &r);
	CHECK(!vd_result_ok(&r));
	CHECK(r.error[0] != 0);
	switch (fault) {
	case F_FLIP:
		CHECK_EQ(ret, 0);
		CHECK_EQ(r.verify_errors, 1);
		CHECK(strstr(r.error, "read back wrong") != NULL);
		break;
	case F_STATUS:
		CHECK_EQ(ret, 0);
		CHECK_EQ(r.status_errors, 1);
		CHECK(strstr(r.error, "status 1") != NULL);
		break;
	case F_LEN:
		CHECK_EQ(ret, 0);
		CHECK_EQ(r.len_errors, 1);
		break;
	case F_BAD_ID:
		CHECK_EQ(ret, -EIO);
		CHECK_EQ(r.device_errors, 1);
		CHECK(strstr(r.error, "not a chain in flight") != NULL);
		break;
	case F_DROP:
		/* The one request never comes back: the run gives up. */
		CHECK_EQ(d->dropped, 1);
		CHECK_EQ(r.stalls, 1);
		CHECK(strstr(r.error, "no completion for 0.5 s") != NULL);
		break;
	case F_LOSE:
		/* The sector keeps its old data, which reads find. */
		CHECK_EQ(ret, 0);
		CHECK_EQ(d->lost_writes, 1);
		CHECK(r.verify_errors >= 1);
		CHECK(strstr(r.error, "read back wrong") != NULL);
		break;
	default:
		break;
	}
	md_free(d);
}

/* The pattern: every byte of a sector matters, and so do its number, its
 * generation and the seed. */
static void test_pattern(void)
{
	uint8_t buf[4 * VD_SECTOR];

	vd_pattern(buf, sizeof(buf), 100, 1, SEED);
	CHECK_EQ(vd_pattern_check(buf, sizeof(buf), 100, 1, SEED), -1);
	CHECK_EQ(vd_pattern_check(buf, sizeof(buf), 101, 1, SEED), 0);
	CHECK_EQ(vd_pattern_check(buf, sizeof(buf), 100, 2, SEED), 0);
	CHECK_EQ(vd_pattern_check(buf, sizeof(buf), 100, 1, SEED + 1), 0);
	for (unsigned int i = 0; i < sizeof(buf); i += 37) {
		buf[i] ^= 1;
		CHECK_EQ(vd_pattern_check(buf, sizeof(buf), 100, 1, SEED),
			 (long)(i / VD_SECTOR));
		buf[i] ^= 1;
	}
}

/* The driver ring alone: a device writing nonsense to the used ring. */
static void test_vring(void)
{
	static uint8_t mem[3 * 4096] __attribute__((aligned(4096)));
	struct vdq q;
	struct vdq_buf b[2] = { { 0x1000, 16 }, { 0x2000, 512 } };
	uint8_t *used = mem + 8192;
	void *cookie;
	uint32_t len;
	int h;

	CHECK_EQ(vdq_init(&q, 6, true, mem, mem + 4096, used), -EINVAL);
	CHECK_EQ(vdq_init(&q, 8, true, mem, mem + 4096, used), 0);
	h = vdq_add(&q, b, 1, 1, &q);
	CHECK_EQ(h, 0);
	CHECK_EQ(vdq_add(&q, b, 0, 0, NULL), -EINVAL);
	/* avail_event 0: the first buffer wants a kick. */
	CHECK(vdq_kick_prepare(&q));
	CHECK(!vdq_kick_prepare(&q));	/* nothing new */
	CHECK_EQ(vdq_get(&q, &cookie, &len), 0);
	/* Used: id 0, len 600 > the 512 writable bytes. */
	memcpy(used + 4, &(uint32_t){ htole32(0) }, 4);
	memcpy(used + 8, &(uint32_t){ htole32(600) }, 4);
	__atomic_store_n((uint16_t *)(used + 2), htole16(1), __ATOMIC_RELEASE);
	CHECK_EQ(vdq_get(&q, &cookie, &len), -EPROTO);
	CHECK(q.dead);
	vdq_destroy(&q);

	CHECK_EQ(vdq_init(&q, 8, false, mem, mem + 4096, used), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(vdq_add(&q, b, 1, 1, NULL), 2 * i);
	CHECK_EQ(vdq_add(&q, b, 1, 1, NULL), -ENOSPC);
	/* Without EVENT_IDX the device's NO_NOTIFY flag rules. */
	memcpy(used, &(uint16_t){ htole16(VD_USED_F_NO_NOTIFY) }, 2);
	CHECK(!vdq_kick_prepare(&q));
	/* The used idx may not run past what is in flight. */
	__atomic_store_n((uint16_t *)(used + 2), htole16(5), __ATOMIC_RELEASE);
	CHECK_EQ(vdq_get(&q, &cookie, &len), -EPROTO);
	vdq_destroy(&q);
}

int main(void)
{
	test_pattern();
	test_vring();
	clean_run(VD_RANDWRITE, 4096, 1, VD_COMPLETE_CALL, true);
	clean_run(VD_RANDREAD, 4096, 2, VD_COMPLETE_CALL, true);
	clean_run(VD_READ, 128u << 10, 2, VD_COMPLETE_CALL, false);
	clean_run(VD_WRITE, 8192, 1, VD_COMPLETE_POLL, true);
	clean_run(VD_RANDREAD, 4096, 1, VD_COMPLETE_POLL, false);
	fault_run(F_FLIP, VD_RANDREAD, 50);
	fault_run(F_STATUS, VD_RANDWRITE, 50);
	fault_run(F_LEN, VD_RANDREAD, 50);
	fault_run(F_BAD_ID, VD_RANDREAD, 50);
	fault_run(F_DROP, VD_RANDREAD, 50);
	fault_run(F_DROP, VD_RANDWRITE, 50);
	/* A write of the fill (requests 1-32 here) and one of the workload. */
	fault_run(F_LOSE, VD_RANDREAD, 10);
	fault_run(F_LOSE, VD_RANDWRITE, 50);
	return check_done("test_vdrive");
}
