/* Fuzz target: the vhost-user backend library (vhost/user_proto.c,
 * vhost/user_backend.c) reading a hostile front-end: its byte stream, the
 * fds it passes, and the memory behind them.
 *
 * Input: byte 0 flags (bit 0: before the script, a one-region memory
 * table backed by a sealed memfd; bit 1: a queue that starts gives no
 * chains, only pop frames take them), bytes 1-2 the script length L
 * (little-endian), then L bytes of script, then the rest: the contents of
 * every memfd the script makes (rings and buffers at offset 0). Script
 * frames, each an op byte (op % 8) and its arguments:
 *  0 raw     len (2 bytes), then len bytes written to the socket as they
 *            are
 *  1 memory  SET_MEM_TABLE of 1 + (op >> 3) % 8 regions with real fds,
 *            3 bytes per region: where (gpa: apart, overlapping the
 *            previous, wrapping past 2^64, or raw pages), shape (size:
 *            whole fd, a page, 0, past the fd; mmap_offset: 0, a page,
 *            the fd's end, near 2^64; uaddr: apart, all alike, wrapping),
 *            fd (kind % 6, see fz_memfd; bit 7 the previous region's fd)
 *  2 inflight SET_INFLIGHT_FD: queues (1), queue size (2), shape (1:
 *            mmap_size exact, short or huge; mmap_offset 0, a page or
 *            near 2^64), fd kind (1), then len (2) and len bytes written
 *            at the area's start (region headers, descriptor states)
 *  3 sync    the backend handles every message that arrived
 *  4 resize  memfd (byte % made), size (byte: shrink to half, to 0, grow
 *            by a page): as far as its seals let the front-end
 *  5 pop     each started queue gives up to (b % 16) chains through the
 *            inflight wrappers; bit 4 of b keeps them in flight (the next
 *            start resubmits them), else they are pushed back
 *  6 memory  off (2), len (1), then len bytes written into every memfd
 *            (the guest changes its rings)
 *  7 vring fd a (1 byte): SET_VRING_KICK, CALL or ERR (a % 3) for queue
 *            (a >> 2) % 8 (4 and up: no such queue), with a fresh
 *            eventfd (its counter filled, so that a write to it would
 *            block, when bit 5 is set), or a memfd when bit 6 is set
 *            (not an eventfd: to be refused), or with the no-fd flag
 *            when bit 7 is set
 * After the script the socket's write side is shut and vu_dispatch runs
 * until it fails. Checked: no crash (a SIGBUS is a region the backend
 * mapped that could shrink), no fd left open, every segment of every
 * chain popped lies inside a mapped region, a memfd sealed against
 * shrinking never shrinks.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "vhost/user_backend.h"
#include "vhost/user_proto.h"
#include "virtio/queue.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_MEM_SIZE (64u << 10)
#define FZ_UADDR 0x7f0000000000ULL
#define FZ_MAX_DISPATCH 4096
#define FZ_MAX_POPS 64
#define FZ_MAX_FDS 16

static struct {
	unsigned long inputs, messages, starts, chains, broken, tables,
		inflights, resubmitted, held, resized;
} fz_stats;

struct fz_dev {
	struct vu_dev *d;
	struct virtq_chain chain;
	bool dead;			/* vu_dispatch failed: no more */
	bool lazy;			/* starting pops nothing */
	int nfds;			/* memfds (and others) made */
	int fds[FZ_MAX_FDS];
	int seals[FZ_MAX_FDS];		/* -1: not a memfd */
};

static void fz_check_iov(const struct vu_dev *d, const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	for (unsigned int i = 0; i < d->nregions; i++) {
		const struct vu_region *r = &d->regions[i];

		if (p >= r->hva && (uint64_t)(p - r->hva) <= r->size &&
		    v->iov_len <= r->size - (uint64_t)(p - r->hva))
			return;
	}
	fz_broken(__FILE__, __LINE__, "invariant broken",
		  "an iovec within one region");
}

/* Up to max chains from queue q, each checked; pushed back unless held
 * (then they stay marked in flight for the next start to resubmit). */
static void fz_pop(struct fz_dev *f, unsigned int q, unsigned int max,
		   bool hold)
{
	struct virtq_chain *c = &f->chain;
	struct vu_queue *vq = &f->d->queues[q];

	for (unsigned int n = 0; n < max; n++) {
		bool resub = vq->resubmitted < vq->nresubmit;
		int ret = vu_queue_pop(vq, c);

		if (ret < 0)
			fz_stats.broken++;
		if (ret != 1)
			break;
		fz_stats.chains++;
		fz_stats.resubmitted += resub;
		for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++)
			fz_check_iov(f->d, &c->iov[i]);
		if (hold)
			fz_stats.held++;
		else
			vu_queue_push(vq, c, 0);
	}
	virtq_need_notify(&vq->vq);
}

static int fz_start(void *opaque, unsigned int q, struct virtq *vq,
		    int kick_fd, int call_fd)
{
	struct fz_dev *f = opaque;

	fz_stats.starts++;
	if (!f->lazy)
		fz_pop(f, q, FZ_MAX_POPS, false);
	return 0;
}

static void fz_stop(void *opaque, unsigned int q)
{
}

static int fz_get_config(void *opaque, uint32_t off, uint8_t *buf,
			 uint32_t len)
{
	if (off > 64 || len > 64 - off)
		return -EINVAL;
	memset(buf, 0x5a, len);
	return 0;
}

static int fz_set_config(void *opaque, uint32_t off, const uint8_t *buf,
			 uint32_t len, uint32_t flags)
{
	return (off > 64 || len > 64 - off) ? -EINVAL : 0;
}

static const struct vu_backend_ops fz_ops = {
	.features = (1ULL << VIRTIO_F_VERSION_1) |
		    (1ULL << VIRTIO_F_EVENT_IDX) |
		    (1ULL << VIRTIO_F_INDIRECT_DESC) |
		    (1ULL << VIRTIO_F_RING_PACKED),
	.protocol_features = VU_BACKEND_PROTOCOL_FEATURES,
	.max_queues = 4,
	.queue_start = fz_start,
	.queue_stop = fz_stop,
	.get_config = fz_get_config,
	.set_config = fz_set_config,
};

static void fz_drain(int fe)
{
	char buf[4096];

	while (recv(fe, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* A memfd of one of six kinds for the front-end to pass: 0 sealed
 * against shrinking and growing, 1 not sealable, 2 sealed but half the
 * size asked, 3 sealed against shrinking only, 4 sealed against growing
 * only, 5 not a file at all (an eventfd). Filled with the memory bytes.
 * Its fd, or -1 when the table is full. */
static int fz_memfd(struct fz_dev *f, unsigned int kind, uint64_t size,
		    const uint8_t *mem, size_t mlen)
{
	static const int seals[] = { F_SEAL_SHRINK | F_SEAL_GROW, -1,
				     F_SEAL_SHRINK | F_SEAL_GROW, F_SEAL_SHRINK,
				     F_SEAL_GROW };
	int fd;

	if (f->nfds == FZ_MAX_FDS)
		return -1;
	kind %= 6;
	if (kind == 5) {
		fd = eventfd(0, EFD_CLOEXEC);
		FZ_NEVER(fd < 0);
		f->seals[f->nfds] = -1;
		f->fds[f->nfds++] = fd;
		return fd;
	}
	fd = memfd_create("fuzz-vuser", MFD_CLOEXEC |
			  (kind == 1 ? 0 : MFD_ALLOW_SEALING));
	if (kind == 2)
		size /= 2;
	FZ_NEVER(fd < 0 || ftruncate(fd, (off_t)size));
	if (mlen > size)
		mlen = (size_t)size;
	FZ_NEVER(mlen && pwrite(fd, mem, mlen, 0) != (ssize_t)mlen);
	FZ_NEVER(kind != 1 && fcntl(fd, F_ADD_SEALS, seals[kind]));
	f->seals[f->nfds] = kind == 1 ? 0 : seals[kind];
	f->fds[f->nfds++] = fd;
	return fd;
}

/* Handles every message that has arrived. */
static void fz_sync(struct fz_dev *f, int fe)
{
	for (int i = 0; i < FZ_MAX_DISPATCH && !f->dead; i++) {
		int ret = vu_dispatch(f->d);

		fz_drain(fe);
		if (ret == -EAGAIN)
			break;
		if (ret < 0)
			f->dead = true;
		else
			fz_stats.messages++;
	}
}

static void fz_send(struct fz_dev *f, int fe, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (size_t off = 0; off < len;) {
		ssize_t n = send(fe, b + off, len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0) {
			/* Full: let the backend read (or it is dead). */
			if (f->dead)
				return;
			fz_sync(f, fe);
			if (f->dead)
				return;
			continue;
		}
		off += (size_t)n;
	}
}

static void fz_msg(struct fz_dev *f, int fe, const struct vu_msg *m,
		   const int *fds, size_t nfds)
{
	if (f->dead)
		return;
	if (vu_msg_send(fe, m, fds, nfds)) {
		fz_sync(f, fe);
		if (!f->dead && vu_msg_send(fe, m, fds, nfds))
			f->dead = true;
	}
}

static void fz_mem_table(struct fz_dev *f, int fe, uint8_t op,
			 const uint8_t *a, const uint8_t *mem, size_t mlen)
{
	static const uint64_t sizes[4] = { FZ_MEM_SIZE, 0x1000, 0,
					   4ULL * FZ_MEM_SIZE };
	static const uint64_t offs[4] = { 0, 0x1000, FZ_MEM_SIZE,
					  UINT64_MAX & ~0xfffULL };
	unsigned int n = 1 + (op >> 3) % VU_MAX_REGIONS;
	int fds[VU_MAX_REGIONS];
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = VU_SET_MEM_TABLE;
	m.hdr.flags = VU_FLAG_VERSION;
	m.hdr.size = VU_MEM_TABLE_HDR + n * sizeof(struct vu_mem_region);
	m.p.mem.nregions = n;
	for (unsigned int i = 0; i < n; i++, a += 3) {
		struct vu_mem_region *r = &m.p.mem.regions[i];
		const struct vu_mem_region *prev = i ? r - 1 : NULL;

		r->size = sizes[a[1] % 4];
		r->mmap_offset = offs[(a[1] >> 2) % 4];
		switch (a[0] % 4) {
		case 0:
			r->gpa = (uint64_t)i * 4 * FZ_MEM_SIZE;
			break;
		case 1:
			r->gpa = prev ? prev->gpa + 0x1000 : 0;
			break;
		case 2:
			r->gpa = UINT64_MAX - 0xfff;
			break;
		default:
			r->gpa = (uint64_t)(a[0] >> 2) << 12;
			break;
		}
		switch ((a[1] >> 4) % 4) {
		case 0:
			r->uaddr = FZ_UADDR + r->gpa;
			break;
		case 1:
			r->uaddr = FZ_UADDR;
			break;
		case 2:
			r->uaddr = UINT64_MAX - 0xfff;
			break;
		default:
			r->uaddr = FZ_UADDR + (uint64_t)i * 4 * FZ_MEM_SIZE;
			break;
		}
		if ((a[2] & 0x80) && i)
			fds[i] = fds[i - 1];
		else
			fds[i] = fz_memfd(f, a[2], FZ_MEM_SIZE, mem, mlen);
		if (fds[i] < 0)
			return;
	}
	fz_stats.tables++;
	fz_msg(f, fe, &m, fds, n);
}

static void fz_vring_fd(struct fz_dev *f, int fe, uint8_t a)
{
	static const uint32_t req[] = { VU_SET_VRING_KICK, VU_SET_VRING_CALL,
					VU_SET_VRING_ERR };
	struct vu_msg m;
	int fd = -1;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req[a % 3];
	m.hdr.flags = VU_FLAG_VERSION;
	m.hdr.size = sizeof(m.p.u64);
	m.p.u64 = (a >> 2) % 8;
	if (a & 0x80)
		m.p.u64 |= VU_VRING_NOFD;
	else if ((fd = fz_memfd(f, a & 0x40 ? 0 : 5, 0x1000, NULL, 0)) < 0)
		return;
	else if ((a & 0x60) == 0x20)
		FZ_NEVER(write(fd, &(uint64_t){ 0xfffffffffffffffeULL }, 8) !=
			 8);
	fz_msg(f, fe, &m, &fd, fd < 0 ? 0 : 1);
}

static void fz_inflight(struct fz_dev *f, int fe, const uint8_t *a,
			const uint8_t *fill, size_t flen)
{
	struct vu_msg m;
	uint16_t qs = (uint16_t)(a[1] | a[2] << 8);
	uint64_t rsize = (sizeof(struct vu_inflight_region) +
			  (uint64_t)qs * sizeof(struct vu_desc_state) + 63) & ~63ULL;
	uint64_t need = rsize * a[0], fdsize;
	uint8_t *area;
	int fd;

	memset(&m, 0, sizeof(m));
	m.hdr.request = VU_SET_INFLIGHT_FD;
	m.hdr.flags = VU_FLAG_VERSION;
	m.hdr.size = VU_INFLIGHT_WIRE_SIZE;
	m.p.inflight.num_queues = a[0];
	m.p.inflight.queue_size = qs;
	m.p.inflight.mmap_size = (a[3] & 3) == 0 ? need :
				 (a[3] & 3) == 1 ? need - 1 : UINT64_MAX;
	m.p.inflight.mmap_offset = (a[3] >> 2) % 3 == 0 ? 0 :
				   (a[3] >> 2) % 3 == 1 ? 0x1000 :
				   UINT64_MAX & ~0xfffULL;
	fdsize = need + (m.p.inflight.mmap_offset == 0x1000 ? 0x1000 : 0);
	if (fdsize > (1u << 20))
		fdsize = 1u << 20;
	/* The area's contents: the input's bytes at the region start. */
	area = calloc(1, fdsize ? fdsize : 1);
	FZ_NEVER(!area);
	if (m.p.inflight.mmap_offset == 0x1000) {
		if (flen > fdsize - 0x1000)
			flen = (size_t)(fdsize - 0x1000);
		memcpy(area + 0x1000, fill, flen);
	} else {
		if (flen > fdsize)
			flen = (size_t)fdsize;
		memcpy(area, fill, flen);
	}
	fd = fz_memfd(f, a[4], fdsize, area, (size_t)fdsize);
	free(area);
	if (fd < 0)
		return;
	fz_stats.inflights++;
	fz_msg(f, fe, &m, &fd, 1);
}

static void fz_resize(struct fz_dev *f, const uint8_t *a)
{
	unsigned int i;
	struct stat st;
	off_t to;
	int ret;

	if (!f->nfds)
		return;
	i = a[0] % f->nfds;
	if (f->seals[i] < 0 || fstat(f->fds[i], &st))
		return;
	to = a[1] % 3 == 0 ? st.st_size / 2 : a[1] % 3 == 1 ? 0 :
	     st.st_size + 0x1000;
	ret = ftruncate(f->fds[i], to);
	if (!ret)
		fz_stats.resized++;
	/* The seals hold: what the backend maps can never shrink. */
	FZ_NEVER(to < st.st_size && (f->seals[i] & F_SEAL_SHRINK) && ret == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_dev f;
	static struct vu_dev d;
	const uint8_t *p, *end, *mem;
	size_t len, mlen;
	uint64_t open_before;
	int sv[2];

	if (size < 3)
		return 0;
	len = (size_t)data[1] | (size_t)data[2] << 8;
	if (len > size - 3)
		len = size - 3;
	mem = data + 3 + len;
	mlen = size - 3 - len;
	if (mlen > FZ_MEM_SIZE)
		mlen = FZ_MEM_SIZE;
	open_before = fz_open_fds();
	FZ_NEVER(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	memset(&f, 0, sizeof(f));
	f.d = &d;
	f.lazy = data[0] & 2;
	FZ_NEVER(vu_dev_init(&d, "fuzz-vuser", sv[0], &fz_ops, &f));
	fz_stats.inputs++;
	if (data[0] & 1) {
		static const uint8_t whole[3] = { 0, 0, 0 };

		fz_mem_table(&f, sv[1], 1, whole, mem, mlen);
	}
	p = data + 3;
	end = data + 3 + len;
	while (p < end && !f.dead) {
		uint8_t op = *p++;
		size_t left = (size_t)(end - p), n;

		switch (op % 8) {
		case 0:
			if (left < 2)
				goto out;
			n = (size_t)p[0] | (size_t)p[1] << 8;
			p += 2;
			if (n > left - 2)
				n = left - 2;
			fz_send(&f, sv[1], p, n);
			p += n;
			break;
		case 1:
			n = 3 * (1 + (op >> 3) % VU_MAX_REGIONS);
			if (left < n)
				goto out;
			fz_mem_table(&f, sv[1], op, p, mem, mlen);
			p += n;
			break;
		case 2:
			if (left < 7)
				goto out;
			n = (size_t)p[5] | (size_t)p[6] << 8;
			if (n > left - 7)
				n = left - 7;
			fz_inflight(&f, sv[1], p, p + 7, n);
			p += 7 + n;
			break;
		case 4:
			if (left < 2)
				goto out;
			fz_sync(&f, sv[1]);
			fz_resize(&f, p);
			p += 2;
			break;
		case 5:
			if (left < 1)
				goto out;
			fz_sync(&f, sv[1]);
			for (unsigned int q = 0; q < fz_ops.max_queues; q++)
				if (d.queues[q].started)
					fz_pop(&f, q, p[0] % 16, p[0] & 0x10);
			p++;
			break;
		case 6:
			if (left < 3)
				goto out;
			n = p[2];
			if (n > left - 3)
				n = left - 3;
			/* A file too small takes what fits, or nothing. */
			for (int i = 0; i < f.nfds; i++)
				if (f.seals[i] >= 0 &&
				    pwrite(f.fds[i], p + 3, n,
					   (off_t)(p[0] | p[1] << 8)) < 0)
					continue;
			p += 3 + n;
			break;
		case 7:
			if (left < 1)
				goto out;
			fz_vring_fd(&f, sv[1], p[0]);
			p++;
			break;
		default:
			fz_sync(&f, sv[1]);
			break;
		}
	}
out:
	shutdown(sv[1], SHUT_WR);
	fz_sync(&f, sv[1]);
	vu_dev_close(&d);
	close(sv[1]);
	for (int i = 0; i < f.nfds; i++)
		close(f.fds[i]);
	/* Every fd the connection brought in is gone again. */
	FZ_NEVER(fz_open_fds() != open_before);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_vuser: %u inputs ran clean (%lu messages "
		"handled, %lu memory tables and %lu inflight areas with fds, "
		"%lu fds resized, %lu queue starts, %lu chains, %lu of them "
		"resubmitted, %lu held in flight, %lu broken rings)\n",
		runs, fz_stats.messages, fz_stats.tables, fz_stats.inflights,
		fz_stats.resized, fz_stats.starts, fz_stats.chains,
		fz_stats.resubmitted, fz_stats.held, fz_stats.broken);
}
#include "replay.h"
#endif
