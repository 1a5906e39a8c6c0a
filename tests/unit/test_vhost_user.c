/* vhost-user backend library against a fake front-end over a socketpair:
 * a full handshake with a memfd-backed guest memory and a ring the
 * front-end fills, then one hostile message per case, each checked to end
 * in an error reply or a clean close with no fd left open. */
#include "tests/fake_ring_core.h"
#include "tests/unit/check.h"
#include "tests/unit/vu_fe.h"

#include "vhost/user_backend.h"
#include "vhost/user_proto.h"
#include "virtio/queue.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MEM_SIZE (2u << 20)
#define REG_SIZE (1u << 20)
#define UA0 0x7f0000000000ULL		/* the fake front-end's "addresses" */
#define UA1 0x7f0000200000ULL
#define GPA1 0x100000000ULL
#define QSIZE 8
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define OUT_GPA 0x10000
#define IN_GPA (GPA1 + 0x100)

#define GM_CAP (sizeof(((struct guest_mem *)0)->regions) /                     \
		sizeof(((struct guest_mem *)0)->regions[0]))

struct fake_dev {
	int starts, stops, resets, replaced;
	unsigned int q;
	int kick_fd, call_fd;
	int popped;
	uint32_t out_len, in_len;
	char out[17];
	uint16_t start_avail;
	struct virtq_chain *chain;
};

static int fake_start(void *opaque, unsigned int q, struct virtq *vq,
		      int kick_fd, int call_fd)
{
	struct fake_dev *f = opaque;
	struct virtq_chain *c = f->chain;

	f->starts++;
	f->q = q;
	f->kick_fd = kick_fd;
	f->call_fd = call_fd;
	f->start_avail = vq->last_avail;
	if (virtq_pop(vq, c) == 1) {
		f->popped++;
		f->out_len = c->out_len;
		f->in_len = c->in_len;
		if (c->nr_out == 1 && c->iov[0].iov_len <= 16)
			memcpy(f->out, c->iov[0].iov_base, c->iov[0].iov_len);
		if (c->nr_in == 1)
			memset(c->iov[c->nr_out].iov_base, 0xab,
			       c->iov[c->nr_out].iov_len);
		virtq_push(vq, c, c->in_len);
		if (virtq_need_notify(vq) && call_fd >= 0) {
			uint64_t one = 1;

			if (write(call_fd, &one, sizeof(one)) != sizeof(one))
				return -EIO;
		}
	}
	return 0;
}

static void fake_stop(void *opaque, unsigned int q)
{
	struct fake_dev *f = opaque;

	f->stops++;
}

static void fake_call_replaced(void *opaque, unsigned int q)
{
	struct fake_dev *f = opaque;

	f->replaced++;
}

static int fake_get_config(void *opaque, uint32_t off, uint8_t *buf,
			   uint32_t len)
{
	if (off > 16 || len > 16 - off)
		return -EINVAL;
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(0x40 + off + i);
	return 0;
}

static void fake_reset(void *opaque)
{
	struct fake_dev *f = opaque;

	f->resets++;
}

static const struct vu_backend_ops fake_ops = {
	.features = 1ULL << VIRTIO_F_VERSION_1,
	.protocol_features = (1ULL << VU_PF_MQ) | (1ULL << VU_PF_REPLY_ACK) |
			     (1ULL << VU_PF_CONFIG) |
			     (1ULL << VU_PF_RESET_DEVICE) |
			     (1ULL << VU_PF_INFLIGHT_SHMFD),
	.max_queues = 2,
	.queue_start = fake_start,
	.queue_stop = fake_stop,
	.get_config = fake_get_config,
	.reset = fake_reset,
	.call_replaced = fake_call_replaced,
};

/* One connection: backend d on one end, the fake front-end on fe. */
struct conn {
	struct vu_dev *d;
	struct fake_dev f;
	int fe;
	int memfd;
	uint8_t *mem;			/* the front-end's own mapping */
};

static int conn_open(struct conn *c)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	c->fe = c->memfd = -1;
	c->f.chain = malloc(sizeof(*c->f.chain));
	c->d = malloc(sizeof(*c->d));
	if (!c->f.chain || !c->d)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	c->fe = sv[1];
	/* Sealed the way tern seals guest RAM: the back-end takes no
	 * region fd a front-end could shrink. */
	c->memfd = memfd_create("vu-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (c->memfd < 0 || ftruncate(c->memfd, MEM_SIZE) ||
	    fcntl(c->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return -errno;
	c->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->memfd, 0);
	if (c->mem == MAP_FAILED)
		return -errno;
	return vu_dev_init(c->d, "vu-test", sv[0], &fake_ops, &c->f);
}

static void conn_close(struct conn *c)
{
	vu_dev_close(c->d);
	munmap(c->mem, MEM_SIZE);
	close(c->memfd);
	close(c->fe);
	free(c->d);
	free(c->f.chain);
}

static void *gpa_ptr(struct conn *c, uint64_t gpa)
{
	return gpa >= GPA1 ? c->mem + REG_SIZE + (gpa - GPA1) : c->mem + gpa;
}

static int fe_send(struct conn *c, uint32_t req, uint32_t flags,
		   const void *p, uint32_t size, const int *fds, size_t nfds)
{
	return vu_fe_send(c->fe, req, flags, p, size, fds, nfds);
}

static int fe_u64(struct conn *c, uint32_t req, uint32_t flags, uint64_t v,
		  const int *fds, size_t nfds)
{
	return fe_send(c, req, flags, &v, sizeof(v), fds, nfds);
}

static int fe_state(struct conn *c, uint32_t req, uint32_t flags,
		    uint32_t idx, uint32_t num)
{
	struct vu_vring_state s = { idx, num };

	return fe_send(c, req, flags, &s, sizeof(s), NULL, 0);
}

/* The reply waiting on the front-end's end: 0, or -EAGAIN for none. */
static int fe_reply(struct conn *c, struct vu_msg *m)
{
	int fds[VU_MAX_FDS];
	size_t nfds;
	int ret = vu_msg_recv(c->fe, m, fds, &nfds);

	vu_close_fds(fds, &nfds);
	return ret;
}

/* Sends nothing; dispatches one message and returns the u64 ack. */
static int64_t ack(struct conn *c)
{
	struct vu_msg m;
	int ret = vu_dispatch(c->d);

	if (ret)
		return ret;
	ret = fe_reply(c, &m);
	if (ret)
		return ret;
	if (m.hdr.flags != (VU_FLAG_VERSION | VU_FLAG_REPLY) ||
	    m.hdr.size != 8)
		return -1000;
	return (int64_t)m.p.u64;
}

static void mem_table(struct vu_mem_table *t, unsigned int n)
{
	memset(t, 0, sizeof(*t));
	t->nregions = n;
	t->regions[0] = (struct vu_mem_region){ 0, REG_SIZE, UA0, 0 };
	if (n > 1)
		t->regions[1] = (struct vu_mem_region){ GPA1, REG_SIZE, UA1,
							REG_SIZE };
}

static int send_table(struct conn *c, const struct vu_mem_table *t,
		      unsigned int nfds)
{
	int fds[VU_MAX_FDS + 2];

	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = c->memfd;
	/* Fds go raw through vu_msg_send's cmsg: more than 8 need sendmsg
	 * directly. */
	if (nfds > VU_MAX_FDS) {
		union {
			char b[CMSG_SPACE(sizeof(int) * (VU_MAX_FDS + 2))];
			struct cmsghdr align;
		} cbuf;
		struct vu_hdr h = { VU_SET_MEM_TABLE,
				    VU_FLAG_VERSION | VU_FLAG_NEED_REPLY,
				    VU_MEM_TABLE_HDR +
					    t->nregions * 32 };
		struct iovec iov[2] = { { &h, sizeof(h) },
					{ (void *)t, h.size } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2,
				     .msg_control = cbuf.b,
				     .msg_controllen =
					     CMSG_SPACE(sizeof(int) * nfds) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		return sendmsg(c->fe, &mh, 0) < 0 ? -errno : 0;
	}
	return fe_send(c, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, t,
		       VU_MEM_TABLE_HDR + t->nregions * 32, fds, nfds);
}

/* GET/SET_FEATURES with protocol features, then REPLY_ACK & co. */
static void negotiate(struct conn *c)
{
	struct vu_msg m;

	CHECK_EQ(fe_u64(c, VU_SET_FEATURES, 0,
			(1ULL << VIRTIO_F_VERSION_1) |
				(1ULL << VU_F_PROTOCOL_FEATURES),
			NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c->d), 0);
	CHECK_EQ(fe_send(c, VU_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c->d), 0);
	CHECK_EQ(fe_reply(c, &m), 0);
	CHECK_EQ(m.p.u64, VU_BACKEND_PROTOCOL_FEATURES);
	CHECK_EQ(fe_u64(c, VU_SET_PROTOCOL_FEATURES, 0, m.p.u64, NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c->d), 0);
}

/* One chain on a fresh ring: 16 bytes out, 32 in (in region 1). */
static void place_chain(struct conn *c)
{
	const struct seg s[] = { { OUT_GPA, 16, false }, { IN_GPA, 32, true } };
	struct fq q;

	memcpy(gpa_ptr(c, OUT_GPA), "hello, backend!", 16);
	CHECK_EQ(fq_attach(&q, QSIZE, false, gpa_ptr(c, DESC_GPA),
			   gpa_ptr(c, AVAIL_GPA), gpa_ptr(c, USED_GPA), 0), 0);
	CHECK_EQ(fq_offer(&q, s, 2), 0);
}

static void test_handshake(void)
{
	int base = fd_count();
	struct vu_mem_table t;
	struct vu_vring_addr a = { 0, 0, UA0 + DESC_GPA, UA0 + USED_GPA,
				   UA0 + AVAIL_GPA, 0 };
	struct virtq_used *used;
	struct vu_config cfg = { 4, 8, 0, { 0 } };
	struct vu_msg m;
	struct conn c;
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	int call2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint8_t want[32];
	uint64_t cnt = 0;

	CHECK_EQ(conn_open(&c), 0);
	CHECK_EQ(fe_send(&c, VU_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_send(&c, VU_GET_FEATURES, 0, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_reply(&c, &m), 0);
	CHECK_EQ(m.hdr.request, VU_GET_FEATURES);
	CHECK_EQ(m.hdr.flags, VU_FLAG_VERSION | VU_FLAG_REPLY);
	CHECK_EQ(m.p.u64, (1ULL << VIRTIO_F_VERSION_1) |
				  (1ULL << VU_F_PROTOCOL_FEATURES));
	negotiate(&c);
	CHECK_EQ(fe_send(&c, VU_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_reply(&c, &m), 0);
	CHECK_EQ(m.p.u64, 2);

	mem_table(&t, 2);
	CHECK_EQ(send_table(&c, &t, 2), 0);
	CHECK_EQ(ack(&c), 0);
	place_chain(&c);
	CHECK_EQ(fe_state(&c, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, QSIZE),
		 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_state(&c, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, 0, 0), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_send(&c, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a,
			 sizeof(a), NULL, 0), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, &call,
			1), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, &kick,
			1), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.starts, 0);	/* still disabled */
	CHECK_EQ(fe_state(&c, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 1),
		 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.starts, 1);
	CHECK_EQ(c.f.q, 0);
	CHECK_NE(c.f.kick_fd, -1);
	CHECK_NE(c.f.call_fd, -1);
	CHECK_EQ(c.f.popped, 1);
	CHECK_EQ(c.f.out_len, 16);
	CHECK_EQ(c.f.in_len, 32);
	CHECK_STR(c.f.out, "hello, backend!");
	used = gpa_ptr(&c, USED_GPA);
	CHECK_EQ(le16toh(used->idx), 1);
	CHECK_EQ(le32toh(used->ring[0].id), 0);
	CHECK_EQ(le32toh(used->ring[0].len), 32);
	memset(want, 0xab, sizeof(want));
	CHECK_MEM(gpa_ptr(&c, IN_GPA), want, 32);
	CHECK_EQ(read(call, &cnt, sizeof(cnt)), 8);
	CHECK_EQ(cnt, 1);

	/* A new call fd for the running queue: no stop, the device's fd
	 * number now reaches the new eventfd, the old hears no more, and
	 * the device is told (it interrupts once, from its own thread:
	 * the library writes nothing). */
	CHECK_NE(call2, -1);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, &call2,
			1), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.stops, 0);
	CHECK_EQ(c.f.starts, 1);
	CHECK_EQ(c.f.replaced, 1);
	CHECK_EQ(read(call2, &cnt, sizeof(cnt)), -1);
	cnt = 5;
	CHECK_EQ(write(c.f.call_fd, &cnt, sizeof(cnt)), 8);
	CHECK_EQ(read(call2, &cnt, sizeof(cnt)), 8);
	CHECK_EQ(cnt, 5);
	{
		int fl = fcntl(call, F_GETFL);

		CHECK_EQ(fcntl(call, F_SETFL, fl | O_NONBLOCK), 0);
		CHECK_EQ(read(call, &cnt, sizeof(cnt)), -1);
		CHECK_EQ(errno, EAGAIN);
		CHECK_EQ(fcntl(c.f.call_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	}
	/* A third, blocking, with its counter full: the swap is made and
	 * nothing blocks the dispatching thread. */
	{
		uint64_t full = 0xfffffffffffffffeULL;
		int call3 = eventfd(0, EFD_CLOEXEC);

		CHECK_EQ(write(call3, &full, sizeof(full)), 8);
		alarm(10);
		CHECK_EQ(fe_u64(&c, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0,
				&call3, 1), 0);
		CHECK_EQ(ack(&c), 0);
		alarm(0);
		CHECK_EQ(c.f.stops, 0);
		CHECK_EQ(c.f.replaced, 2);
		CHECK_EQ(read(call3, &cnt, sizeof(cnt)), 8);
		CHECK_EQ(cnt, full);
		cnt = 2;
		CHECK_EQ(write(c.f.call_fd, &cnt, sizeof(cnt)), 8);
		CHECK_EQ(read(call3, &cnt, sizeof(cnt)), 8);
		CHECK_EQ(cnt, 2);
		close(call3);
	}

	CHECK_EQ(fe_send(&c, VU_GET_CONFIG, 0, &cfg, VU_CONFIG_HDR_SIZE + 8,
			 NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_reply(&c, &m), 0);
	CHECK_EQ(m.hdr.size, VU_CONFIG_HDR_SIZE + 8);
	CHECK_EQ(m.p.config.data[0], 0x44);
	CHECK_EQ(m.p.config.data[7], 0x4b);
	cfg.offset = 12;		/* 12 + 8 > 16: refused, empty reply */
	CHECK_EQ(fe_send(&c, VU_GET_CONFIG, 0, &cfg, VU_CONFIG_HDR_SIZE + 8,
			 NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_reply(&c, &m), 0);
	CHECK_EQ(m.hdr.size, 0);

	/* A new memory table while running: stop, remap, restart where it
	 * was (nothing more to pop). */
	CHECK_EQ(send_table(&c, &t, 2), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.stops, 1);
	CHECK_EQ(c.f.starts, 2);
	CHECK_EQ(c.f.start_avail, 1);
	CHECK_EQ(c.f.popped, 1);

	CHECK_EQ(fe_state(&c, VU_GET_VRING_BASE, 0, 0, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_reply(&c, &m), 0);
	CHECK_EQ(m.hdr.request, VU_GET_VRING_BASE);
	CHECK_EQ(m.p.state.index, 0);
	CHECK_EQ(m.p.state.num, 1);
	CHECK_EQ(c.f.stops, 2);

	/* Resume: base, then a kick starts it again at that index. */
	CHECK_EQ(fe_state(&c, VU_SET_VRING_BASE, VU_FLAG_NEED_REPLY, 0, 1), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY,
			VU_VRING_NOFD, NULL, 0), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.starts, 3);
	CHECK_EQ(c.f.start_avail, 1);
	CHECK_EQ(c.f.kick_fd, -1);

	CHECK_EQ(fe_send(&c, VU_RESET_DEVICE, VU_FLAG_NEED_REPLY, NULL, 0,
			 NULL, 0), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.stops, 3);
	CHECK_EQ(c.f.resets, 1);

	/* The front-end hangs up. */
	shutdown(c.fe, SHUT_WR);
	CHECK_EQ(vu_dispatch(c.d), -ECONNRESET);
	conn_close(&c);
	close(kick);
	close(call);
	close(call2);
	CHECK_EQ(fd_count(), base);
}

/* Without VU_F_PROTOCOL_FEATURES rings start enabled: the kick starts. */
static void test_legacy_enable(void)
{
	int base = fd_count();
	struct vu_mem_table t;
	struct vu_vring_addr a = { 1, 0, UA0 + DESC_GPA, UA0 + USED_GPA,
				   UA0 + AVAIL_GPA, 0 };
	struct conn c;

	CHECK_EQ(conn_open(&c), 0);
	CHECK_EQ(fe_u64(&c, VU_SET_FEATURES, 0, 1ULL << VIRTIO_F_VERSION_1,
			NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	mem_table(&t, 1);
	CHECK_EQ(send_table(&c, &t, 1), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);	/* no REPLY_ACK: no answer */
	place_chain(&c);
	CHECK_EQ(fe_state(&c, VU_SET_VRING_NUM, 0, 1, QSIZE), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_send(&c, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0), 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_KICK, 0, 1 | VU_VRING_NOFD, NULL, 0),
		 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(c.f.starts, 1);
	CHECK_EQ(c.f.q, 1);
	/* The second descriptor is in region 1, not mapped: broken chain. */
	CHECK_EQ(c.f.popped, 0);
	CHECK_EQ(c.f.call_fd, -1);
	{
		struct vu_msg m;

		CHECK_EQ(fe_reply(&c, &m), -EAGAIN);
	}
	conn_close(&c);
	CHECK_EQ(fd_count(), base);
}

/* GET_INFLIGHT_FD answers with a memfd laid out as the spec says;
 * SET_VRING_ERR, like KICK (and a CALL that adds or drops the fd),
 * restarts a running queue so the device never holds a closed fd. */
static void test_inflight_and_err(void)
{
	int base = fd_count();
	struct vu_inflight in = { 0, 0, 2, QSIZE };
	struct vu_mem_table t;
	struct vu_vring_addr a = { 0, 0, UA0 + DESC_GPA, UA0 + USED_GPA,
				   UA0 + AVAIL_GPA, 0 };
	struct vu_inflight_region *r;
	struct vu_msg m;
	struct conn c;
	int fds[VU_MAX_FDS], kick = eventfd(0, EFD_CLOEXEC);
	int err = eventfd(0, EFD_CLOEXEC);
	size_t nfds = 0;

	CHECK_EQ(conn_open(&c), 0);
	negotiate(&c);
	CHECK_EQ(fe_send(&c, VU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0),
		 0);
	CHECK_EQ(vu_dispatch(c.d), 0);
	CHECK_EQ(vu_msg_recv(c.fe, &m, fds, &nfds), 0);
	CHECK_EQ(m.hdr.request, VU_GET_INFLIGHT_FD);
	CHECK_EQ(m.hdr.size, sizeof(in));
	CHECK_EQ(nfds, 1);
	CHECK_EQ(m.p.inflight.num_queues, 2);
	CHECK_EQ(m.p.inflight.queue_size, QSIZE);
	/* The front-end keeps the area across our restarts: it cannot
	 * shrink it under the one that maps it next. */
	if (nfds == 1)
		CHECK_EQ(fcntl(fds[0], F_GET_SEALS) &
			 (F_SEAL_SHRINK | F_SEAL_GROW),
			 F_SEAL_SHRINK | F_SEAL_GROW);
	CHECK(m.p.inflight.mmap_size >= 2 * (16 + 16 * QSIZE));
	if (nfds == 1 && m.p.inflight.mmap_size >= 2 * (16 + 16 * QSIZE)) {
		r = mmap(NULL, m.p.inflight.mmap_size, PROT_READ, MAP_SHARED,
			 fds[0], 0);
		CHECK(r != MAP_FAILED);
		if (r != MAP_FAILED) {
			CHECK_EQ(r->version, 1);
			CHECK_EQ(r->desc_num, QSIZE);
			CHECK_EQ(r->desc[0].inflight, 0);
			munmap(r, m.p.inflight.mmap_size);
		}
	}
	vu_close_fds(fds, &nfds);
	/* More queues than the device has: refused, the connection ends. */
	in.num_queues = 3;
	CHECK_EQ(fe_send(&c, VU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0),
		 0);
	CHECK_EQ(vu_dispatch(c.d), -EPROTO);
	conn_close(&c);

	CHECK_EQ(conn_open(&c), 0);
	negotiate(&c);
	mem_table(&t, 2);
	CHECK_EQ(send_table(&c, &t, 2), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_state(&c, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, QSIZE),
		 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_send(&c, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a,
			 sizeof(a), NULL, 0), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, &kick,
			1), 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(fe_state(&c, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 1),
		 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.starts, 1);
	CHECK_EQ(fe_u64(&c, VU_SET_VRING_ERR, VU_FLAG_NEED_REPLY, 0, &err, 1),
		 0);
	CHECK_EQ(ack(&c), 0);
	CHECK_EQ(c.f.stops, 1);
	CHECK_EQ(c.f.starts, 2);
	CHECK(c.d->queues[0].err_fd >= 0);
	conn_close(&c);
	close(kick);
	close(err);
	CHECK_EQ(fd_count(), base);
}

/* --- message shapes, straight against vu_msg_check and friends ---------- */

/* Payload sizes from vhost-user.rst, written out here rather than taken
 * from the library's table, so a wrong entry there fails: size, and how
 * many fds the request carries (with payload 0 where the payload names a
 * ring). GET/SET_INFLIGHT_FD: 20 bytes on the wire; 24 is the same with
 * the struct's tail padding, which front-ends send too. */
static const struct {
	uint32_t req;
	uint16_t min, max;
	uint8_t fds;
} wire[] = {
	{ VU_GET_FEATURES, 0, 0, 0 },
	{ VU_SET_FEATURES, 8, 8, 0 },
	{ VU_SET_OWNER, 0, 0, 0 },
	{ VU_RESET_OWNER, 0, 0, 0 },
	{ VU_SET_LOG_BASE, 16, 16, 1 },
	{ VU_SET_LOG_FD, 0, 0, 1 },
	{ VU_SET_VRING_NUM, 8, 8, 0 },
	{ VU_SET_VRING_ADDR, 40, 40, 0 },
	{ VU_SET_VRING_BASE, 8, 8, 0 },
	{ VU_GET_VRING_BASE, 8, 8, 0 },
	{ VU_SET_VRING_KICK, 8, 8, 1 },
	{ VU_SET_VRING_CALL, 8, 8, 1 },
	{ VU_SET_VRING_ERR, 8, 8, 1 },
	{ VU_GET_PROTOCOL_FEATURES, 0, 0, 0 },
	{ VU_SET_PROTOCOL_FEATURES, 8, 8, 0 },
	{ VU_GET_QUEUE_NUM, 0, 0, 0 },
	{ VU_SET_VRING_ENABLE, 8, 8, 0 },
	{ VU_GET_INFLIGHT_FD, 20, 24, 0 },
	{ VU_SET_INFLIGHT_FD, 20, 24, 1 },
	{ VU_RESET_DEVICE, 0, 0, 0 },
};

static int check_shape(uint32_t req, uint32_t size, size_t nfds)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr = (struct vu_hdr){ req, VU_FLAG_VERSION, size };
	return vu_msg_check(&m, nfds);
}

static int check_table(uint32_t nregions, uint32_t size, size_t nfds)
{
	struct vu_msg m;

	memset(&m, 0xee, sizeof(m));	/* what lies past size is junk */
	m.hdr = (struct vu_hdr){ VU_SET_MEM_TABLE, VU_FLAG_VERSION, size };
	m.p.mem.nregions = nregions;
	return vu_msg_check(&m, nfds);
}

static int check_config(uint32_t req, uint32_t cfg_size, uint32_t size)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr = (struct vu_hdr){ req, VU_FLAG_VERSION, size };
	m.p.config.size = cfg_size;
	return vu_msg_check(&m, 0);
}

/* One message of `size` payload bytes (of junk) on a fresh socketpair,
 * through vu_msg_recv. */
static int recv_size(uint32_t size)
{
	static uint8_t junk[sizeof(union vu_payload) + 64];
	struct vu_hdr h = { VU_SET_FEATURES, VU_FLAG_VERSION, size };
	struct vu_msg m;
	int sv[2], fds[VU_MAX_FDS], ret;
	size_t nfds;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (write(sv[1], &h, sizeof(h)) != sizeof(h) ||
	    write(sv[1], junk, size < sizeof(junk) ? size : sizeof(junk)) < 0)
		ret = -EIO;
	else
		ret = vu_msg_recv(sv[0], &m, fds, &nfds);
	if (!ret)
		vu_close_fds(fds, &nfds);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

/* Every size and fd-count rule of vhost/user_proto.c, removed on its own,
 * fails this test (or the hostile cases below), bar three that other
 * rules imply, so that no message can tell them apart: nregions <= 8
 * (the table's largest size and 8 + 32 * nregions bytes), config.size <=
 * 256 (the largest size and 12 + config.size bytes, in 32-bit arithmetic
 * whose wrap the smallest size catches), and the least sizes of
 * SET_MEM_TABLE and GET/SET_CONFIG (the same two rules). */
static void test_msg_shapes(void)
{
	const size_t region = sizeof(struct vu_mem_region);
	struct vu_msg m;
	int sv[2];

	for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
		uint32_t r = wire[i].req;
		size_t f = wire[i].fds;

		if (check_shape(r, wire[i].min, f) ||
		    check_shape(r, wire[i].max, f))
			CHECK_FAIL_AT(__FILE__, __LINE__, "%s: %u..%u bytes "
				      "refused", vu_req_name(r), wire[i].min,
				      wire[i].max);
		if ((wire[i].min && check_shape(r, wire[i].min - 1u, f) !=
					    -EINVAL) ||
		    check_shape(r, wire[i].max + 1u, f) != -EINVAL)
			CHECK_FAIL_AT(__FILE__, __LINE__, "%s: a size outside "
				      "%u..%u taken", vu_req_name(r),
				      wire[i].min, wire[i].max);
		if (check_shape(r, wire[i].min, f + 1) != -EINVAL)
			CHECK_FAIL_AT(__FILE__, __LINE__, "%s: %zu fds taken",
				      vu_req_name(r), f + 1);
	}
	/* SET_MEM_TABLE: 8 bytes, then 32 per region, one fd each; the
	 * regions must all be in the message (what follows it is not). */
	for (uint32_t n = 0; n <= VU_MAX_REGIONS; n++) {
		CHECK_EQ(check_table(n, VU_MEM_TABLE_HDR + n * region, n), 0);
		if (n)
			CHECK_EQ(check_table(n, VU_MEM_TABLE_HDR +
						     (n - 1) * region, n),
				 -EINVAL);
	}
	CHECK_EQ(check_table(2, VU_MEM_TABLE_HDR + region + 31, 2), -EINVAL);
	CHECK_EQ(check_table(1, VU_MEM_TABLE_HDR + 2 * region, 1), 0);
	CHECK_EQ(check_table(VU_MAX_REGIONS + 1, sizeof(struct vu_mem_table),
			     VU_MAX_REGIONS), -EINVAL);
	CHECK_EQ(check_table(UINT32_MAX, sizeof(struct vu_mem_table),
			     VU_MAX_REGIONS), -EINVAL);
	CHECK_EQ(check_table(1, VU_MEM_TABLE_HDR - 1, 1), -EINVAL);
	CHECK_EQ(check_table(1, sizeof(struct vu_mem_table) + 1, 1), -EINVAL);
	/* GET/SET_CONFIG: 12 bytes of offset, size, flags, then exactly
	 * size bytes, at most 256 of them. */
	for (uint32_t r = VU_GET_CONFIG; r <= VU_SET_CONFIG; r++) {
		CHECK_EQ(check_config(r, 0, VU_CONFIG_HDR_SIZE), 0);
		CHECK_EQ(check_config(r, 8, VU_CONFIG_HDR_SIZE + 8), 0);
		CHECK_EQ(check_config(r, VU_CONFIG_MAX,
				      VU_CONFIG_HDR_SIZE + VU_CONFIG_MAX), 0);
		CHECK_EQ(check_config(r, 8, VU_CONFIG_HDR_SIZE + 4), -EINVAL);
		CHECK_EQ(check_config(r, 4, VU_CONFIG_HDR_SIZE + 8), -EINVAL);
		CHECK_EQ(check_config(r, VU_CONFIG_MAX + 1,
				      VU_CONFIG_HDR_SIZE + VU_CONFIG_MAX + 1),
			 -EINVAL);
		CHECK_EQ(check_config(r, UINT32_MAX - 11, 0), -EINVAL);
		CHECK_EQ(check_config(r, 0, VU_CONFIG_HDR_SIZE - 1), -EINVAL);
	}
	/* Framing: a size beyond the payload union is refused before a
	 * byte of it is read; exactly the union is read whole. */
	CHECK_EQ(recv_size(sizeof(union vu_payload) + 1), -EMSGSIZE);
	CHECK_EQ(recv_size(sizeof(union vu_payload)), 0);
	CHECK_EQ(recv_size(UINT32_MAX), -EMSGSIZE);
	/* And the same on the way out. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&m, 0, sizeof(m));
	m.hdr = (struct vu_hdr){ VU_GET_FEATURES, VU_FLAG_VERSION,
				 sizeof(m.p) + 1 };
	CHECK_EQ(vu_msg_send(sv[0], &m, NULL, 0), -EINVAL);
	m.hdr.size = sizeof(m.p);
	CHECK_EQ(vu_msg_send(sv[0], &m, NULL, 0), 0);
	m.hdr.size = 0;
	{
		int many[VU_MAX_FDS + 1];

		for (size_t i = 0; i < VU_MAX_FDS + 1; i++)
			many[i] = sv[0];
		CHECK_EQ(vu_msg_send(sv[0], &m, many, VU_MAX_FDS + 1),
			 -EINVAL);
	}
	close(sv[0]);
	close(sv[1]);
}

/* A hostile message. want > 0: dispatch answers with that errno as the
 * ack; want == 0: dispatch fails and the connection is closed, no reply. */
typedef int (*bad_fn)(struct conn *c);
#define ACK_OK (-2)	/* want: an ack of 0 */

static void bad_case(const char *name, bad_fn send, bool nego, int64_t want)
{
	int base = fd_count();
	struct conn c;
	struct vu_msg m;
	int ret;

	CHECK_EQ(conn_open(&c), 0);
	if (nego)
		negotiate(&c);
	ret = send(&c);
	if (ret) {
		fprintf(stderr, "%s: send: %s\n", name, strerror(-ret));
		check_failures++;
	}
	if (want > 0 || want == ACK_OK) {
		int64_t got = ack(&c);

		if (want == ACK_OK)
			want = 0;
		if (got != want) {
			fprintf(stderr, "FAIL %s: ack %" PRId64 ", want %" PRId64
				"\n", name, got, want);
			check_failures++;
		}
	} else {
		ret = vu_dispatch(c.d);
		if (ret >= 0 || ret == -EAGAIN) {
			fprintf(stderr, "FAIL %s: dispatch %d, want close\n",
				name, ret);
			check_failures++;
		}
		if (fe_reply(&c, &m) != -EAGAIN) {
			fprintf(stderr, "FAIL %s: a reply came\n", name);
			check_failures++;
		}
	}
	conn_close(&c);
	if (fd_count() != base) {
		fprintf(stderr, "FAIL %s: fds %d -> %d\n", name, base,
			fd_count());
		check_failures++;
	}
}

static int short_header(struct conn *c)
{
	if (write(c->fe, "\x01\0\0\0\x01", 5) != 5)
		return -EIO;
	return shutdown(c->fe, SHUT_WR) ? -errno : 0;
}

static int stalled_header(struct conn *c)
{
	return write(c->fe, "\x01\0\0\0\x01", 5) == 5 ? 0 : -EIO;
}

static int short_payload(struct conn *c)
{
	struct vu_hdr h = { VU_SET_FEATURES, VU_FLAG_VERSION, 8 };

	if (write(c->fe, &h, sizeof(h)) != sizeof(h) ||
	    write(c->fe, "abc", 3) != 3)
		return -EIO;
	return shutdown(c->fe, SHUT_WR) ? -errno : 0;
}

static int huge_size(struct conn *c)
{
	struct vu_hdr h = { VU_SET_MEM_TABLE, VU_FLAG_VERSION, 0x10000 };

	return write(c->fe, &h, sizeof(h)) == sizeof(h) ? 0 : -EIO;
}

static int bad_version(struct conn *c)
{
	return fe_send(c, VU_SET_OWNER, 0x2 ^ VU_FLAG_VERSION, NULL, 0, NULL,
		       0);
}

static int reply_flag(struct conn *c)
{
	return fe_send(c, VU_SET_OWNER, VU_FLAG_REPLY, NULL, 0, NULL, 0);
}

static int wrong_size(struct conn *c)
{
	uint32_t v = 1;

	return fe_send(c, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, &v, 4, NULL, 0);
}

static int mem_missing_fd(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 2);
	return send_table(c, &t, 1);
}

static int mem_extra_fd(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	return send_table(c, &t, 2);
}

static int too_many_fds(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	return send_table(c, &t, VU_MAX_FDS + 2);
}

static int fd_on_get(struct conn *c)
{
	return fe_send(c, VU_GET_FEATURES, 0, NULL, 0, &c->memfd, 1);
}

static int mem_overlap_gpa(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 2);
	t.regions[1].gpa = REG_SIZE - 4096;
	return send_table(c, &t, 2);
}

static int mem_overlap_uaddr(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 2);
	t.regions[1].uaddr = UA0 + 4096;
	return send_table(c, &t, 2);
}

static int mem_gpa_wrap(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	t.regions[0].gpa = UINT64_MAX - 4095;
	return send_table(c, &t, 1);
}

static int mem_uaddr_wrap(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	t.regions[0].uaddr = UINT64_MAX - 4095;
	return send_table(c, &t, 1);
}

static int mem_offset_wrap(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	t.regions[0].mmap_offset = UINT64_MAX - 4095;
	return send_table(c, &t, 1);
}

static int mem_past_file(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	t.regions[0].mmap_offset = MEM_SIZE - 4096;	/* would SIGBUS */
	return send_table(c, &t, 1);
}

static int mem_zero_size(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 1);
	t.regions[0].size = 0;
	return send_table(c, &t, 1);
}

static int mem_nine(struct conn *c)
{
	struct vu_mem_table t;
	int fds[VU_MAX_FDS];

	mem_table(&t, 1);
	t.nregions = 9;
	for (unsigned int i = 0; i < VU_MAX_FDS; i++)
		fds[i] = c->memfd;
	return fe_send(c, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
		       sizeof(t), fds, VU_MAX_FDS);
}

static int mem_not_file(struct conn *c)
{
	struct vu_mem_table t;
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret;

	mem_table(&t, 1);
	ret = fe_send(c, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
		      VU_MEM_TABLE_HDR + 32, &efd, 1);
	close(efd);
	return ret;
}

/* Three distinct regions: refused while struct guest_mem holds fewer. */
static int mem_three(struct conn *c)
{
	struct vu_mem_table t;

	mem_table(&t, 2);
	t.nregions = 3;
	t.regions[0].size = t.regions[1].size = 4096;
	/* Clear of regions 0 and 1 in both address spaces (UA1 is
	 * UA0 + 2 MiB). */
	t.regions[2] = (struct vu_mem_region){ 0x200000, 4096, UA0 + 0x400000,
					       8192 };
	return send_table(c, &t, 3);
}

/* A memfd of MEM_SIZE with `seals`; -1 (errno set) on failure. */
static int sealed_memfd(unsigned int seals)
{
	int fd = memfd_create("vu-test-unsealed",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, MEM_SIZE) ||
	    (seals && fcntl(fd, F_ADD_SEALS, seals))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A region fd the front-end could still shrink: the back-end's next
 * touch past the new end would be SIGBUS. Refused, even with growing
 * sealed. */
static int mem_fd_with(struct conn *c, unsigned int seals)
{
	struct vu_mem_table t;
	int fd = sealed_memfd(seals), ret;

	if (fd < 0)
		return -errno;
	mem_table(&t, 1);
	ret = fe_send(c, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
		      VU_MEM_TABLE_HDR + 32, &fd, 1);
	close(fd);
	return ret;
}

static int mem_unsealed(struct conn *c)
{
	return mem_fd_with(c, 0);
}

static int mem_grow_sealed(struct conn *c)
{
	return mem_fd_with(c, F_SEAL_GROW);
}

static int mem_shrink_sealed(struct conn *c)
{
	return mem_fd_with(c, F_SEAL_SHRINK);
}

/* The same for the inflight area a front-end hands back. */
static int inflight_fd_with(struct conn *c, unsigned int seals)
{
	struct vu_inflight in = { 4096, 0, 2, QSIZE };
	int fd = sealed_memfd(seals), ret;

	if (fd < 0)
		return -errno;
	ret = fe_send(c, VU_SET_INFLIGHT_FD, VU_FLAG_NEED_REPLY, &in,
		      sizeof(in), &fd, 1);
	close(fd);
	return ret;
}

static int inflight_unsealed(struct conn *c)
{
	return inflight_fd_with(c, F_SEAL_GROW);
}

static int inflight_sealed(struct conn *c)
{
	return inflight_fd_with(c, F_SEAL_SHRINK | F_SEAL_GROW);
}

static int unknown_request(struct conn *c)
{
	return fe_send(c, 99, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0);
}

static int vring_num_range(struct conn *c)
{
	return fe_state(c, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 5, QSIZE);
}

static int vring_base_get_range(struct conn *c)
{
	return fe_state(c, VU_GET_VRING_BASE, 0, 2, 0);
}

static int vring_kick_range(struct conn *c)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret = fe_u64(c, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 7, &efd, 1);

	close(efd);
	return ret;
}

static int vring_kick_nofd_with_fd(struct conn *c)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret = fe_u64(c, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY,
			 VU_VRING_NOFD, &efd, 1);

	close(efd);
	return ret;
}

/* A pipe for a call fd: a write to it could block the queue thread. */
static int vring_call_pipe(struct conn *c)
{
	int p[2], ret;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	ret = fe_u64(c, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, &p[1], 1);
	close(p[0]);
	close(p[1]);
	return ret;
}

/* A memory fd for a kick fd. */
static int vring_kick_memfd(struct conn *c)
{
	return fe_u64(c, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, &c->memfd,
		      1);
}

static int vring_kick_high_bits(struct conn *c)
{
	return fe_u64(c, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY,
		      VU_VRING_NOFD | 0x200, NULL, 0);
}

static int vring_addr_outside(struct conn *c)
{
	struct vu_mem_table t;
	struct vu_vring_addr a = { 0, 0, UA0 + DESC_GPA, UA1 + 0x3000,
				   UA0 + AVAIL_GPA, 0 };
	int ret;

	mem_table(&t, 1);
	ret = send_table(c, &t, 1);
	if (ret || ack(c) != 0)
		return -EIO;
	return fe_send(c, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a,
		       sizeof(a), NULL, 0);
}

static int vring_addr_no_table(struct conn *c)
{
	struct vu_vring_addr a = { 0, 0, UA0, UA0, UA0, 0 };

	return fe_send(c, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, &a,
		       sizeof(a), NULL, 0);
}

static int vring_num_zero(struct conn *c)
{
	return fe_state(c, VU_SET_VRING_NUM, VU_FLAG_NEED_REPLY, 0, 0);
}

static int features_not_offered(struct conn *c)
{
	return fe_u64(c, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, 1ULL << 63, NULL,
		      0);
}

static int protocol_not_offered(struct conn *c)
{
	return fe_u64(c, VU_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY,
		      1ULL << VU_PF_LOG_SHMFD, NULL, 0);
}

static int gated_queue_num(struct conn *c)
{
	return fe_send(c, VU_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0);
}

static int inflight_refused(struct conn *c)
{
	struct vu_inflight in = { 0 };

	return fe_send(c, VU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
}

static int config_oversize(struct conn *c)
{
	struct vu_config cfg = { 0, 300, 0, { 0 } };

	return fe_send(c, VU_GET_CONFIG, 0, &cfg, VU_CONFIG_HDR_SIZE + 8, NULL,
		       0);
}

static int enable_bad(struct conn *c)
{
	return fe_state(c, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 2);
}

static int set_config_refused(struct conn *c)
{
	struct vu_config cfg = { 0, 4, 0, { 0 } };

	return fe_send(c, VU_SET_CONFIG, VU_FLAG_NEED_REPLY, &cfg,
		       VU_CONFIG_HDR_SIZE + 4, NULL, 0);
}

int main(void)
{
	test_handshake();
	test_legacy_enable();
	test_inflight_and_err();
	test_msg_shapes();

	bad_case("short header", short_header, false, 0);
	bad_case("stalled header", stalled_header, false, 0);
	bad_case("short payload", short_payload, false, 0);
	bad_case("size beyond payload", huge_size, false, 0);
	bad_case("bad version", bad_version, false, 0);
	bad_case("reply flag in request", reply_flag, false, 0);
	bad_case("wrong size, no REPLY_ACK", wrong_size, false, 0);
	bad_case("wrong size", wrong_size, true, EINVAL);
	bad_case("mem table missing fd", mem_missing_fd, true, EINVAL);
	bad_case("mem table extra fd", mem_extra_fd, true, EINVAL);
	bad_case("more than 8 fds", too_many_fds, true, E2BIG);
	bad_case("more than 8 fds, no REPLY_ACK", too_many_fds, false, 0);
	bad_case("fd on GET_FEATURES", fd_on_get, true, 0);
	bad_case("regions overlap (gpa)", mem_overlap_gpa, true, EINVAL);
	bad_case("regions overlap (uaddr)", mem_overlap_uaddr, true, EINVAL);
	bad_case("region gpa wraps", mem_gpa_wrap, true, EINVAL);
	bad_case("region uaddr wraps", mem_uaddr_wrap, true, EINVAL);
	bad_case("region offset wraps", mem_offset_wrap, true, EINVAL);
	bad_case("region past end of file", mem_past_file, true, EINVAL);
	bad_case("region size 0", mem_zero_size, true, EINVAL);
	bad_case("9 regions", mem_nine, true, EINVAL);
	bad_case("region fd not a file", mem_not_file, true, EINVAL);
	bad_case("region fd not sealed", mem_unsealed, true, EINVAL);
	bad_case("region fd sealed against growing only", mem_grow_sealed,
		 true, EINVAL);
	bad_case("region fd sealed against shrinking", mem_shrink_sealed,
		 true, ACK_OK);
	bad_case("inflight fd not sealed against shrinking",
		 inflight_unsealed, true, EINVAL);
	bad_case("inflight fd sealed", inflight_sealed, true, ACK_OK);
	if (GM_CAP < 3)
		bad_case("3 regions (struct guest_mem too small)", mem_three,
			 true, E2BIG);
	else
		bad_case("3 regions", mem_three, true, ACK_OK);
	bad_case("unknown request", unknown_request, true, ENOSYS);
	bad_case("unknown request, no REPLY_ACK", unknown_request, false, 0);
	bad_case("SET_VRING_NUM queue 5", vring_num_range, true, ERANGE);
	bad_case("GET_VRING_BASE queue 2", vring_base_get_range, true, 0);
	bad_case("SET_VRING_KICK queue 7", vring_kick_range, true, ERANGE);
	bad_case("SET_VRING_CALL NOFD with fd", vring_kick_nofd_with_fd, true,
		 EINVAL);
	bad_case("SET_VRING_KICK high bits", vring_kick_high_bits, true,
		 EINVAL);
	bad_case("SET_VRING_CALL with a pipe", vring_call_pipe, true, EINVAL);
	bad_case("SET_VRING_KICK with a memfd", vring_kick_memfd, true,
		 EINVAL);
	bad_case("SET_VRING_ADDR outside regions", vring_addr_outside, true,
		 EFAULT);
	bad_case("SET_VRING_ADDR before memory", vring_addr_no_table, true,
		 EFAULT);
	bad_case("SET_VRING_NUM 0", vring_num_zero, true, EINVAL);
	bad_case("SET_VRING_ENABLE 2", enable_bad, true, EINVAL);
	bad_case("features not offered", features_not_offered, true, EINVAL);
	bad_case("protocol features not offered", protocol_not_offered, true,
		 EINVAL);
	bad_case("GET_QUEUE_NUM without MQ", gated_queue_num, false, 0);
	bad_case("GET_INFLIGHT_FD for 0 queues", inflight_refused, true, 0);
	bad_case("GET_CONFIG size 300", config_oversize, true, 0);
	bad_case("SET_CONFIG without set_config", set_config_refused, true,
		 EOPNOTSUPP);
	return check_done("test_vhost_user");
}
