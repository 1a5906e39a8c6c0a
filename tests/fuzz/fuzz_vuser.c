/* Fuzz target: the vhost-user backend library (vhost/user_proto.c,
 * vhost/user_backend.c) reading a hostile front-end's byte stream.
 * Input: byte 0 flags (bit 0: before the stream, the harness installs a
 * one-region memory table backed by a memfd, the only way an fd gets in),
 * bytes 1-2 the stream length L (little-endian), then L bytes written to
 * the socket as they are, then the rest copied into guest memory at gpa 0
 * (rings and buffers for queues the stream starts). The socket's write
 * side is shut after the stream; vu_dispatch runs until it fails. Checked:
 * no crash, no fd left open, every segment of every chain a started
 * queue pops lies inside the mapped region.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "vhost/user_backend.h"
#include "vhost/user_proto.h"
#include "virtio/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define FZ_MEM_SIZE (64u << 10)
#define FZ_UADDR 0x7f0000000000ULL
#define FZ_MAX_DISPATCH 4096
#define FZ_MAX_POPS 64

static struct {
	unsigned long inputs, messages, starts, chains, broken;
} fz_stats;

struct fz_dev {
	struct vu_dev *d;
	struct virtq_chain chain;
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
	abort();
}

static int fz_start(void *opaque, unsigned int q, struct virtq *vq,
		    int kick_fd, int call_fd)
{
	struct fz_dev *f = opaque;
	struct virtq_chain *c = &f->chain;

	fz_stats.starts++;
	for (int n = 0; n < FZ_MAX_POPS; n++) {
		/* Through the inflight wrappers, as tern-blk takes chains. */
		int ret = vu_queue_pop(&f->d->queues[q], c);

		if (ret < 0)
			fz_stats.broken++;
		if (ret != 1)
			break;
		fz_stats.chains++;
		for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++)
			fz_check_iov(f->d, &c->iov[i]);
		vu_queue_push(&f->d->queues[q], c, 0);
	}
	virtq_need_notify(vq);
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

static int fz_install_mem(int fe, int memfd)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = VU_SET_MEM_TABLE;
	m.hdr.flags = VU_FLAG_VERSION;
	m.hdr.size = VU_MEM_TABLE_HDR + sizeof(struct vu_mem_region);
	m.p.mem.nregions = 1;
	m.p.mem.regions[0] = (struct vu_mem_region){ 0, FZ_MEM_SIZE,
						     FZ_UADDR, 0 };
	return vu_msg_send(fe, &m, &memfd, 1);
}

/* Which of fds 0..63 are open: a leak shows as a new bit. */
static uint64_t fz_open_fds(void)
{
	uint64_t open = 0;

	for (int fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			open |= 1ULL << fd;
	return open;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_dev f;
	static struct vu_dev d;
	static int memfd = -1;
	static uint8_t zero[FZ_MEM_SIZE];
	size_t len, rest;
	uint64_t open_before;
	int sv[2], ret;

	if (size < 3)
		return 0;
	len = (size_t)data[1] | (size_t)data[2] << 8;
	if (len > size - 3)
		len = size - 3;
	rest = size - 3 - len;
	if (rest > FZ_MEM_SIZE)
		rest = FZ_MEM_SIZE;
	if (memfd < 0) {
		/* Sealed: the backend maps no region fd that could be
		 * shrunk under it. */
		memfd = memfd_create("fuzz-vuser",
				     MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (memfd < 0 || ftruncate(memfd, FZ_MEM_SIZE) ||
		    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
			abort();
	}
	if (pwrite(memfd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero) ||
	    (rest && pwrite(memfd, data + 3 + len, rest, 0) != (ssize_t)rest))
		abort();
	open_before = fz_open_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	f.d = &d;
	if (vu_dev_init(&d, "fuzz-vuser", sv[0], &fz_ops, &f))
		abort();
	if ((data[0] & 1) && fz_install_mem(sv[1], memfd))
		abort();
	for (size_t off = 0; off < len;) {
		ssize_t n = send(sv[1], data + 3 + off, len - off,
				 MSG_NOSIGNAL);

		if (n <= 0)
			abort();	/* 64 KiB fits the socket buffer */
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	fz_stats.inputs++;
	for (int i = 0; i < FZ_MAX_DISPATCH; i++) {
		ret = vu_dispatch(&d);
		fz_drain(sv[1]);
		if (ret < 0)
			break;
		fz_stats.messages++;
	}
	vu_dev_close(&d);
	close(sv[1]);
	/* Every fd the connection brought in is gone again. */
	if (fz_open_fds() != open_before)
		abort();
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_vuser: %u inputs ran clean (%lu messages "
		"handled, %lu queue starts, %lu chains, %lu broken rings)\n",
		runs, fz_stats.messages, fz_stats.starts, fz_stats.chains,
		fz_stats.broken);
}
#include "replay.h"
#endif
