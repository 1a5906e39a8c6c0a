/* tern-blk's device glue (vhost/user_blk.c) against a fake front-end over a
 * socketpair: guest memory is a memfd, the test lays out a split ring and
 * virtio-blk requests in it, kicks, and checks what reached the image file
 * and what the device wrote back. Then reconnects (the ring resumes at
 * GET_VRING_BASE's index), an inflight area left by a "crashed" back-end
 * (its marked chains are served again first), hostile messages (an error
 * reply or a closed connection, and the device takes the next front-end),
 * and the daemon's command line (argv[1] is the tern-blk executable). */
#include "config.h"
#include "tests/fake_ring_core.h"
#include "tests/unit/check.h"
#include "tests/unit/proc_threads.h"
#include "tests/unit/vu_fe.h"

#include "vhost/user_blk.h"
#include "vhost/user_proto.h"
#include "virtio/queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MEM_SIZE (1u << 20)
#define UA0 0x7f0000000000ULL
#define QSIZE 16
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define SLOT_GPA(k) (0x10000 + (k) * 0x2000)	/* header, data at +0x100 */
#define IMG_SIZE (1u << 20)
#define SERIAL "tern-test-serial"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

struct fe {
	struct vu_blk *vb;
	int sock;			/* the front-end's end */
	int memfd;
	uint8_t *mem;
	struct fq q;			/* ring 0, its kick and call */
};

static void *gpa(struct fe *f, uint64_t a)
{
	return f->mem + a;
}

static int send_msg(struct fe *f, uint32_t req, uint32_t flags, const void *p,
		    uint32_t size, const int *fds, size_t nfds)
{
	return vu_fe_send(f->sock, req, flags, p, size, fds, nfds);
}

/* The reply waiting for the front-end; an fd that came with it goes to
 * *fd (or is closed). 0 or -errno (-EAGAIN: none). */
static int reply(struct fe *f, struct vu_msg *m, int *fd)
{
	int fds[VU_MAX_FDS];
	size_t nfds;
	int ret;

	/* A back-end in another process answers when it answers. */
	if (!f->vb)
		poll(&(struct pollfd){ .fd = f->sock, .events = POLLIN }, 1,
		     5000);
	ret = vu_msg_recv(f->sock, m, fds, &nfds);

	if (fd)
		*fd = -1;
	if (!ret && fd && nfds) {
		*fd = fds[0];
		fds[0] = -1;
	}
	vu_close_fds(fds, &nfds);
	return ret;
}

/* Sends with NEED_REPLY, dispatches, returns the ack (0 or errno), or a
 * negative value when the exchange itself failed. */
static int64_t call_ack(struct fe *f, uint32_t req, const void *p,
			uint32_t size, const int *fds, size_t nfds)
{
	struct vu_msg m;
	int ret;

	ret = send_msg(f, req, VU_FLAG_NEED_REPLY, p, size, fds, nfds);
	if (!ret && f->vb)
		ret = vu_blk_dispatch(f->vb);
	if (!ret)
		ret = reply(f, &m, NULL);
	if (ret)
		return ret;
	if (m.hdr.request != req || m.hdr.size != 8)
		return -1000;
	return (int64_t)m.p.u64;
}

/* A request with its own reply: sends, dispatches, reads the reply. */
static int call_get(struct fe *f, uint32_t req, const void *p, uint32_t size,
		    struct vu_msg *m, int *fd)
{
	int ret = send_msg(f, req, 0, p, size, NULL, 0);

	if (!ret && f->vb)
		ret = vu_blk_dispatch(f->vb);
	return ret ? ret : reply(f, m, fd);
}

static int64_t state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vu_vring_state s = { idx, num };

	return call_ack(f, req, &s, sizeof(s), NULL, 0);
}

/* The driver's side of ring 0, fresh; no fd or socket yet. */
static void fe_init(struct fe *f, struct vu_blk *vb, int memfd, uint8_t *mem)
{
	memset(f, 0, sizeof(*f));
	f->vb = vb;
	f->memfd = memfd;
	f->mem = mem;
	fq_attach(&f->q, QSIZE, false, gpa(f, DESC_GPA), gpa(f, AVAIL_GPA),
		  gpa(f, USED_GPA), 0);
}

static int fe_open(struct fe *f, struct vu_blk *vb, int memfd, uint8_t *mem)
{
	int sv[2];

	fe_init(f, vb, memfd, mem);
	if (fq_fds_open(&f->q) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	f->sock = sv[1];
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	return vu_blk_connect(vb, sv[0]);
}

static void fe_close(struct fe *f)
{
	close(f->sock);
	fq_close(&f->q);
}

/* Features, protocol features, memory. */
static void fe_negotiate(struct fe *f, uint64_t pf)
{
	struct vu_mem_table t = { .nregions = 1 };
	struct vu_msg m;

	CHECK_EQ(send_msg(f, VU_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
	CHECK_EQ(call_get(f, VU_GET_FEATURES, NULL, 0, &m, NULL), 0);
	CHECK(m.p.u64 & (1ULL << VIRTIO_F_VERSION_1));
	CHECK(m.p.u64 & (1ULL << VIRTIO_F_EVENT_IDX));
	CHECK(m.p.u64 & (1ULL << VIRTIO_F_INDIRECT_DESC));
	CHECK(m.p.u64 & (1ULL << VIRTIO_F_RING_PACKED));
	CHECK(m.p.u64 & (1ULL << 9));		/* FLUSH */
	CHECK(m.p.u64 & (1ULL << 12));		/* MQ */
	CHECK(m.p.u64 & (1ULL << 13));		/* DISCARD */
	CHECK(!(m.p.u64 & (1ULL << 5)));	/* not RO */
	CHECK(m.p.u64 & (1ULL << VU_F_PROTOCOL_FEATURES));
	m.p.u64 = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VU_F_PROTOCOL_FEATURES);
	CHECK_EQ(send_msg(f, VU_SET_FEATURES, 0, &m.p.u64, 8, NULL, 0), 0);
	CHECK_EQ(call_get(f, VU_GET_PROTOCOL_FEATURES, NULL, 0, &m, NULL), 0);
	CHECK_EQ(m.p.u64 & pf, pf);
	CHECK_EQ(send_msg(f, VU_SET_PROTOCOL_FEATURES, 0, &pf, 8, NULL, 0), 0);
	if (f->vb)
		CHECK_EQ(vu_blk_dispatch(f->vb), 0);
	t.regions[0] = (struct vu_mem_region){ 0, MEM_SIZE, UA0, 0 };
	CHECK_EQ(call_ack(f, VU_SET_MEM_TABLE, &t, VU_MEM_TABLE_HDR + 32,
			  &f->memfd, 1), 0);
}

/* Ring 0 at base, kick and call, enabled: the queue runs. */
static void fe_start_ring(struct fe *f, uint16_t base)
{
	struct vu_vring_addr a = { 0, 0, UA0 + DESC_GPA, UA0 + USED_GPA,
				   UA0 + AVAIL_GPA, 0 };

	CHECK_EQ(state(f, VU_SET_VRING_NUM, 0, QSIZE), 0);
	CHECK_EQ(state(f, VU_SET_VRING_BASE, 0, base), 0);
	CHECK_EQ(call_ack(f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	CHECK_EQ(call_ack(f, VU_SET_VRING_CALL, &(uint64_t){ 0 }, 8,
			  &f->q.call_fd, 1), 0);
	CHECK_EQ(call_ack(f, VU_SET_VRING_KICK, &(uint64_t){ 0 }, 8,
			  &f->q.kick_fd, 1), 0);
	CHECK_EQ(state(f, VU_SET_VRING_ENABLE, 0, 1), 0);
	if (f->vb)
		CHECK(f->vb->vu.queues[0].started);
}

/* Lays out request k (head 3k: header, data, status) without making it
 * available; data_len 0 leaves the data descriptor out. */
static uint16_t build(struct fe *f, unsigned int k, uint32_t type,
		      uint64_t sector, uint32_t data_len)
{
	uint64_t base = SLOT_GPA(k);
	uint16_t h = (uint16_t)(3 * k);
	uint8_t *hdr = gpa(f, base);
	bool dev_writes = type == T_IN || type == T_GET_ID;
	struct seg s[3] = { { base, 16, false },
			    { base + 0x100, data_len, dev_writes },
			    { base + 0x1f00, 1, true } };

	memset(hdr, 0, 16);
	memcpy(hdr, &(uint32_t){ htole32(type) }, 4);
	memcpy(hdr + 8, &(uint64_t){ htole64(sector) }, 8);
	*(uint8_t *)gpa(f, base + 0x1f00) = 0xff;
	if (data_len)
		return (uint16_t)fq_chain(&f->q, s, 3, (uint16_t[]){ h, h + 1,
								   h + 2 });
	s[1] = s[2];
	return (uint16_t)fq_chain(&f->q, s, 2, (uint16_t[]){ h, h + 2 });
}

/* Waits on the call eventfd until used->idx reaches want (a bound so a
 * broken device fails the test instead of hanging it). */
static bool wait_used(struct fe *f, uint16_t want)
{
	for (int i = 0; i < 100 && fq_used_idx(&f->q) != want; i++) {
		struct pollfd p = { .fd = f->q.call_fd, .events = POLLIN };
		uint64_t n;

		if (poll(&p, 1, 100) > 0 && read(f->q.call_fd, &n, 8) != 8)
			break;
	}
	return fq_used_idx(&f->q) == want;
}

static uint8_t status(struct fe *f, unsigned int k)
{
	return *(volatile uint8_t *)gpa(f, SLOT_GPA(k) + 0x1f00);
}

/* One request, start to end: its status byte, 0xff if it never came. */
static uint8_t run_req(struct fe *f, unsigned int k, uint32_t type,
		       uint64_t sector, uint32_t len)
{
	fq_publish(&f->q, build(f, k, type, sector, len));
	CHECK_EQ(fq_kick(&f->q), 0);
	if (!wait_used(f, f->q.avail_idx))
		return 0xff;
	return status(f, k);
}

static int make_image(char *path)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, IMG_SIZE)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int create(struct vu_blk *vb, const char *path, unsigned int queues)
{
	struct blk_config cfg = { .path = path, .queues = queues,
				  .numa_node = -1 };

	snprintf(cfg.serial, sizeof(cfg.serial), "%s", SERIAL);
	return vu_blk_create(vb, "tern-blk-test", &cfg);
}

static void test_io_and_reconnect(struct vu_blk *vb, int img, int memfd,
				  uint8_t *mem)
{
	struct vu_config cfg = { 0, 60, 0, { 0 } };
	struct virtq_used *u = (void *)(mem + USED_GPA);
	uint8_t pat[1024], back[1024];
	struct vu_msg m;
	struct fe f;
	uint64_t v64;
	uint32_t v32;
	uint16_t v16, head;

	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	fe_negotiate(&f, (1ULL << VU_PF_MQ) | (1ULL << VU_PF_REPLY_ACK) |
				 (1ULL << VU_PF_CONFIG));
	CHECK_EQ(call_get(&f, VU_GET_QUEUE_NUM, NULL, 0, &m, NULL), 0);
	CHECK_EQ(m.p.u64, 2);
	CHECK_EQ(call_get(&f, VU_GET_CONFIG, &cfg, VU_CONFIG_HDR_SIZE + 60, &m,
			  NULL), 0);
	CHECK_EQ(m.hdr.size, VU_CONFIG_HDR_SIZE + 60);
	memcpy(&v64, m.p.config.data, 8);
	CHECK_EQ(le64toh(v64), IMG_SIZE / 512);		/* capacity */
	memcpy(&v32, m.p.config.data + 12, 4);
	CHECK_EQ(le32toh(v32), 126);			/* seg_max */
	memcpy(&v32, m.p.config.data + 20, 4);
	CHECK_EQ(le32toh(v32), 512);			/* blk_size */
	memcpy(&v16, m.p.config.data + 34, 2);
	CHECK_EQ(le16toh(v16), 2);			/* num_queues */
	/* Newer front-ends ask for more: the rest reads as zero. */
	cfg = (struct vu_config){ 56, 40, 0, { 0 } };
	CHECK_EQ(call_get(&f, VU_GET_CONFIG, &cfg, VU_CONFIG_HDR_SIZE + 40, &m,
			  NULL), 0);
	CHECK_EQ(m.hdr.size, VU_CONFIG_HDR_SIZE + 40);
	CHECK_EQ(m.p.config.data[0], 1);		/* wz may unmap */
	CHECK_EQ(m.p.config.data[39], 0);

	fe_start_ring(&f, 0);
	for (unsigned int i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 7 + 3);
	memcpy(mem + SLOT_GPA(0) + 0x100, pat, sizeof(pat));
	CHECK_EQ(run_req(&f, 0, T_OUT, 4, sizeof(pat)), S_OK);
	CHECK_EQ(pread(img, back, sizeof(back), 4 * 512), (ssize_t)sizeof(back));
	CHECK_MEM(back, pat, sizeof(pat));
	CHECK_EQ(le32toh(u->ring[0].id), 0);

	/* Read the image's bytes (written behind the device's back). */
	for (unsigned int i = 0; i < sizeof(pat); i++)
		pat[i] ^= 0x5a;
	CHECK_EQ(pwrite(img, pat, 512, 10 * 512), 512);
	CHECK_EQ(run_req(&f, 1, T_IN, 10, 512), S_OK);
	CHECK_MEM(mem + SLOT_GPA(1) + 0x100, pat, 512);
	CHECK_EQ(le32toh(u->ring[1].id), 3);
	CHECK_EQ(le32toh(u->ring[1].len), 513);

	CHECK_EQ(run_req(&f, 2, T_FLUSH, 0, 0), S_OK);
	/* Out of range, and straddling the end. */
	CHECK_EQ(run_req(&f, 3, T_IN, IMG_SIZE / 512, 512), S_IOERR);
	CHECK_EQ(run_req(&f, 4, T_OUT, IMG_SIZE / 512 - 1, 1024), S_IOERR);
	CHECK_EQ(run_req(&f, 0, 99, 0, 0), S_UNSUPP);
	CHECK_EQ(run_req(&f, 1, T_GET_ID, 0, 20), S_OK);
	CHECK(!memcmp(mem + SLOT_GPA(1) + 0x100, SERIAL, strlen(SERIAL)));

	/* The front-end stops the ring: GET_VRING_BASE says where. */
	m.p.state = (struct vu_vring_state){ 0, 0 };
	CHECK_EQ(call_get(&f, VU_GET_VRING_BASE, &m.p.state, 8, &m, NULL), 0);
	CHECK_EQ(m.p.state.num, 7);
	CHECK(!vb->vu.queues[0].started);
	/* It hangs up; the next connection resumes the ring there. */
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	CHECK(!vb->connected);

	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	f.q.avail_idx = 7;
	fe_negotiate(&f, (1ULL << VU_PF_MQ) | (1ULL << VU_PF_REPLY_ACK));
	fe_start_ring(&f, 7);
	memset(mem + SLOT_GPA(2) + 0x100, 0xc3, 512);
	head = build(&f, 2, T_OUT, 0, 512);
	fq_publish(&f.q, head);
	CHECK_EQ(fq_kick(&f.q), 0);
	CHECK(wait_used(&f, 8));
	CHECK_EQ(le32toh(u->ring[7].id), head);
	CHECK_EQ(status(&f, 2), S_OK);
	CHECK_EQ(pread(img, back, 512, 0), 512);
	memset(pat, 0xc3, 512);
	CHECK_MEM(back, pat, 512);
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
}

/* A back-end "crashed" with chains 6 and 3 in flight (taken in that order)
 * and chain 0 completed but cut off before noting it: the new back-end
 * clears 0, serves 6 and 3 again, and then takes the next new chain. */
static void test_inflight(struct vu_blk *vb, int img, int memfd, uint8_t *mem)
{
	struct vu_inflight in = { 0, 0, 2, QSIZE };
	struct vu_inflight_region *r, *r1;
	struct virtq_used *u = (void *)(mem + USED_GPA);
	struct vu_msg m;
	struct fe f;
	uint8_t back[512], want[512];
	size_t len;
	int ifd;

	memset(mem, 0, MEM_SIZE);
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	fe_negotiate(&f, (1ULL << VU_PF_REPLY_ACK) |
				 (1ULL << VU_PF_INFLIGHT_SHMFD));
	CHECK_EQ(call_get(&f, VU_GET_INFLIGHT_FD, &in, sizeof(in), &m, &ifd), 0);
	CHECK_EQ(m.hdr.size, sizeof(in));
	CHECK(ifd >= 0);
	if (ifd < 0)
		return;
	len = m.p.inflight.mmap_size;
	CHECK(len >= 2 * (16 + 16 * QSIZE));
	r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ifd,
		 (off_t)m.p.inflight.mmap_offset);
	CHECK(r != MAP_FAILED);
	if (r == MAP_FAILED)
		return;
	CHECK_EQ(r->version, 1);
	CHECK_EQ(r->desc_num, QSIZE);
	r1 = (void *)((uint8_t *)r + len / 2);
	CHECK_EQ(r1->version, 1);

	/* What the previous back-end left: four chains made available (0,
	 * 3, 6 and then 9), 0 pushed (used->idx 1) but used_idx not yet
	 * noted, 3 and 6 in flight, 9 not yet taken. */
	memset(mem + SLOT_GPA(1) + 0x100, 0x31, 512);
	memset(mem + SLOT_GPA(2) + 0x100, 0x62, 512);
	memset(mem + SLOT_GPA(3) + 0x100, 0x93, 512);
	fq_publish(&f.q, build(&f, 0, T_FLUSH, 0, 0));
	fq_publish(&f.q, build(&f, 1, T_OUT, 1, 512));
	fq_publish(&f.q, build(&f, 2, T_OUT, 2, 512));
	fq_publish(&f.q, build(&f, 3, T_OUT, 3, 512));
	u->ring[0] = (struct virtq_used_elem){ 0, 1 };
	u->idx = htole16(1);
	r->desc[0] = (struct vu_desc_state){ .inflight = 1, .counter = 1,
					     .next = 0 };
	r->desc[3] = (struct vu_desc_state){ .inflight = 1, .counter = 5 };
	r->desc[6] = (struct vu_desc_state){ .inflight = 1, .counter = 2 };
	r->last_batch_head = 0;
	r->used_idx = 0;

	/* The new back-end: SET_INFLIGHT_FD, then the ring at the base the
	 * front-end restores after a crash (its used idx). */
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	f.q.avail_idx = 4;
	fe_negotiate(&f, (1ULL << VU_PF_REPLY_ACK) |
				 (1ULL << VU_PF_INFLIGHT_SHMFD));
	m.p.inflight = (struct vu_inflight){ len, 0, 2, QSIZE };
	CHECK_EQ(call_ack(&f, VU_SET_INFLIGHT_FD, &m.p.inflight,
			  sizeof(m.p.inflight), &ifd, 1), 0);
	/* A hostile area description is refused. */
	m.p.inflight = (struct vu_inflight){ len, 0, 2, 2 * QSIZE };
	CHECK_EQ(call_ack(&f, VU_SET_INFLIGHT_FD, &m.p.inflight,
			  sizeof(m.p.inflight), &ifd, 1), EINVAL);
	m.p.inflight = (struct vu_inflight){ len, 1ULL << 40, 2, QSIZE };
	CHECK_EQ(call_ack(&f, VU_SET_INFLIGHT_FD, &m.p.inflight,
			  sizeof(m.p.inflight), &ifd, 1), EINVAL);
	m.p.inflight = (struct vu_inflight){ len, 0, 3, QSIZE };
	CHECK_EQ(call_ack(&f, VU_SET_INFLIGHT_FD, &m.p.inflight,
			  sizeof(m.p.inflight), &ifd, 1), EINVAL);
	fe_start_ring(&f, 1);
	CHECK_EQ(vb->vu.queues[0].nresubmit, 2);
	if (vb->vu.queues[0].nresubmit == 2) {
		CHECK_EQ(vb->vu.queues[0].resubmit[0], 6);
		CHECK_EQ(vb->vu.queues[0].resubmit[1], 3);
	}
	CHECK_EQ(fq_kick(&f.q), 0);
	CHECK(wait_used(&f, 4));
	CHECK_EQ(status(&f, 1), S_OK);
	CHECK_EQ(status(&f, 2), S_OK);
	CHECK_EQ(status(&f, 3), S_OK);
	for (unsigned int k = 1; k <= 3; k++) {
		CHECK_EQ(pread(img, back, 512, k * 512), 512);
		memset(want, 0x31 * k, 512);
		CHECK_MEM(back, want, 512);
	}
	/* 6 and 3 in either completion order, then 9. */
	CHECK_EQ(le32toh(u->ring[1].id) + le32toh(u->ring[2].id), 9);
	CHECK_EQ(le32toh(u->ring[3].id), 9);
	for (unsigned int h = 0; h < QSIZE; h++)
		CHECK_EQ(r->desc[h].inflight, 0);
	CHECK_EQ(r->used_idx, 4);
	CHECK_EQ(r->desc[9].counter, 6);	/* after the highest left */
	m.p.state = (struct vu_vring_state){ 0, 0 };
	CHECK_EQ(call_get(&f, VU_GET_VRING_BASE, &m.p.state, 8, &m, NULL), 0);
	CHECK_EQ(m.p.state.num, 4);
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	munmap(r, len);
	close(ifd);
}

/* A broken ring stops the queue and writes the err fd. */
static void test_broken_ring(struct vu_blk *vb, int memfd, uint8_t *mem)
{
	struct fe f;
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t n = 0;

	memset(mem, 0, MEM_SIZE);
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	fe_negotiate(&f, 1ULL << VU_PF_REPLY_ACK);
	CHECK_EQ(call_ack(&f, VU_SET_VRING_ERR, &(uint64_t){ 0 }, 8, &err, 1),
		 0);
	fe_start_ring(&f, 0);
	fq_publish(&f.q, 200);		/* head beyond the queue */
	CHECK_EQ(fq_kick(&f.q), 0);
	for (int i = 0; i < 100; i++) {
		struct pollfd p = { .fd = err, .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			break;
	}
	CHECK_EQ(read(err, &n, 8), 8);
	CHECK_EQ(n, 1);
	CHECK_EQ(fq_used_idx(&f.q), 0);
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	close(err);
}

/* A new call fd for a running queue: no restart, the queue thread
 * interrupts once on it; one whose counter the front-end filled (a
 * blocking eventfd) is taken without blocking the thread serving the
 * socket, and the queue still stops at the disconnect. */
static void test_call_replaced(struct vu_blk *vb, int memfd, uint8_t *mem)
{
	uint64_t full = 0xfffffffffffffffeULL, n = 0;
	int call2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int call3 = eventfd(0, EFD_CLOEXEC);
	struct pollfd p = { .fd = call2, .events = POLLIN };
	struct fe f;

	memset(mem, 0, MEM_SIZE);
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	fe_negotiate(&f, 1ULL << VU_PF_REPLY_ACK);
	fe_start_ring(&f, 0);
	CHECK_EQ(run_req(&f, 0, T_IN, 0, 512), S_OK);
	CHECK_EQ(call_ack(&f, VU_SET_VRING_CALL, &(uint64_t){ 0 }, 8, &call2,
			  1), 0);
	CHECK_EQ(poll(&p, 1, 2000), 1);
	CHECK_EQ(read(call2, &n, 8), 8);
	CHECK_EQ(n, 1);
	CHECK(vb->vu.queues[0].started);

	CHECK_EQ(write(call3, &full, 8), 8);
	alarm(20);
	CHECK_EQ(call_ack(&f, VU_SET_VRING_CALL, &(uint64_t){ 0 }, 8, &call3,
			  1), 0);
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	alarm(0);
	CHECK(!vb->vu.queues[0].started);
	CHECK_EQ(read(call3, &n, 8), 8);
	CHECK_EQ(n, full);
	close(call2);
	close(call3);
}

/* A front-end that fills its call eventfd's counter (a blocking eventfd:
 * the flags are the front-end's) blocks the I/O thread's interrupt write.
 * The disconnect still stops the queue, and the next front-end is
 * served. Unfixed, vu_blk_dispatch never returns and the alarm ends the
 * test. */
static void test_full_call_counter(struct vu_blk *vb, int img, int memfd,
				   uint8_t *mem)
{
	uint64_t full = 0xfffffffffffffffeULL, n = 0;
	int call = eventfd(0, EFD_CLOEXEC);
	struct fe f;

	memset(mem, 0, MEM_SIZE);
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	CHECK_NE(call, -1);
	close(f.q.call_fd);
	f.q.call_fd = dup(call);	/* fe_close closes it */
	CHECK_EQ(write(call, &full, 8), 8);
	fe_negotiate(&f, 1ULL << VU_PF_REPLY_ACK);
	fe_start_ring(&f, 0);
	fq_publish(&f.q, build(&f, 0, T_IN, 0, 512));
	CHECK_EQ(fq_kick(&f.q), 0);
	for (int i = 0; i < 200 && fq_used_idx(&f.q) != 1; i++)
		usleep(10000);
	CHECK_EQ(fq_used_idx(&f.q), 1);
	CHECK_EQ(status(&f, 0), S_OK);
	alarm(20);
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	alarm(0);
	CHECK(!vb->vu.queues[0].started);

	/* The counter is as the front-end left it: nothing was added. */
	memset(mem, 0, MEM_SIZE);
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	fe_negotiate(&f, 1ULL << VU_PF_REPLY_ACK);
	fe_start_ring(&f, 0);
	CHECK_EQ(pwrite(img, "tern", 4, 0), 4);
	CHECK_EQ(run_req(&f, 0, T_IN, 0, 512), S_OK);
	CHECK_EQ(memcmp(gpa(&f, SLOT_GPA(0) + 0x100), "tern", 4), 0);
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	CHECK_EQ(read(call, &n, 8), 8);
	CHECK_EQ(n, full);
	close(call);
}

/* Hostile messages: each ends in an error ack or a closed connection,
 * never a crash, and the device serves the next front-end. */
static void test_hostile(struct vu_blk *vb, int memfd, uint8_t *mem)
{
	struct vu_mem_table t = { .nregions = 2 };
	struct vu_hdr h;
	struct fe f;
	int fds[3] = { memfd, memfd, memfd };
	int base = fd_count();

	/* Overlapping regions, a missing and an extra fd: error acks. */
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	fe_negotiate(&f, (1ULL << VU_PF_REPLY_ACK) | (1ULL << VU_PF_CONFIG));
	t.regions[0] = (struct vu_mem_region){ 0, MEM_SIZE, UA0, 0 };
	t.regions[1] = (struct vu_mem_region){ 0x1000, 0x1000, UA0 + MEM_SIZE,
					       0 };
	CHECK_EQ(call_ack(&f, VU_SET_MEM_TABLE, &t, VU_MEM_TABLE_HDR + 64, fds,
			  2), EINVAL);
	CHECK_EQ(call_ack(&f, VU_SET_MEM_TABLE, &t, VU_MEM_TABLE_HDR + 64, fds,
			  1), EINVAL);
	CHECK_EQ(call_ack(&f, VU_SET_MEM_TABLE, &t, VU_MEM_TABLE_HDR + 64, fds,
			  3), EINVAL);
	/* A ring of 2048 entries, a queue beyond --queues. */
	CHECK_EQ(state(&f, VU_SET_VRING_NUM, 0, 2048), EINVAL);
	CHECK_EQ(state(&f, VU_SET_VRING_NUM, 2, 8), ERANGE);
	/* GET_CONFIG beyond any config space: an empty reply. */
	{
		struct vu_config c = { 250, 16, 0, { 0 } };
		struct vu_msg m;

		CHECK_EQ(call_get(&f, VU_GET_CONFIG, &c, VU_CONFIG_HDR_SIZE + 16,
				  &m, NULL), 0);
		CHECK_EQ(m.hdr.size, 0);
	}
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	CHECK(!vb->connected);

	/* Oversized payload: the connection closes. */
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	h = (struct vu_hdr){ VU_SET_MEM_TABLE, VU_FLAG_VERSION, 0x100000 };
	CHECK_EQ(write(f.sock, &h, sizeof(h)), (ssize_t)sizeof(h));
	CHECK(vu_blk_dispatch(vb) < 0);
	CHECK(!vb->connected);
	fe_close(&f);

	/* A short header, then hang-up. */
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	CHECK_EQ(write(f.sock, "\x01\0\0", 3), 3);
	shutdown(f.sock, SHUT_WR);
	CHECK(vu_blk_dispatch(vb) < 0);
	CHECK(!vb->connected);
	fe_close(&f);

	/* A second connection while one is served is refused. */
	CHECK_EQ(fe_open(&f, vb, memfd, mem), 0);
	{
		int sv[2];

		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
		CHECK_EQ(vu_blk_connect(vb, sv[0]), -EBUSY);
		close(sv[1]);
	}
	fe_close(&f);
	CHECK_EQ(vu_blk_dispatch(vb), -ECONNRESET);
	CHECK_EQ(fd_count(), base);
}

/* The daemon's command line: exit 2 and one line naming the option. */
static void test_cli(const char *exe, const char *img)
{
	static const char *const bad[][6] = {
		{ "--socket", "/tmp/x.sock", NULL },
		{ "--image", "/tmp/x.img", NULL },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--queues", "0" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--queues", "65" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--queues", "2x" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--serial",
		  "123456789012345678901" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--bogus", NULL },
		{ "--socket", "/tmp/x.sock", "--image", "x", "extra", NULL },
		{ "--socket", NULL },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--seccomp",
		  "maybe" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--user", "root" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--user",
		  "no-such-user-here" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--cpus", "x" },
		{ "--socket", "/tmp/x.sock", "--image", "x", "--cpus",
		  "65535" },
	};
	static const char *const named[] = {
		"--image", "--socket", "--queues", "--queues", "--queues",
		"--serial", "--bogus", "extra", "--socket", "--seccomp",
		"--user", "--user", "--cpus", "--cpus",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[512] = "";
		const char *argv[8] = { exe };
		int p[2], st = -1;
		ssize_t n = 0;
		pid_t pid;

		for (int j = 0; j < 6 && bad[i][j]; j++)
			argv[j + 1] = bad[i][j];
		if (pipe(p))
			return;
		pid = fork();
		if (pid == 0) {
			dup2(p[1], 2);
			execv(exe, (char **)argv);
			_exit(127);
		}
		close(p[1]);
		for (ssize_t r = 1; r > 0 && n < (ssize_t)sizeof(out) - 1;
		     n += r)
			r = read(p[0], out + n, sizeof(out) - 1 - (size_t)n);
		close(p[0]);
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
		CHECK(n > 0 && strstr(out, named[i]));
		CHECK(n > 0 && strchr(out, '\n') == out + n - 1);
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 2) ||
		    !strstr(out, named[i]))
			fprintf(stderr, "case %zu: %s\n", i, out);
	}
	/* SIGTERM: exit 0 and the socket file gone. */
	{
		char sock[] = "/tmp/tern-blk-test-XXXXXX";
		char path[64];
		pid_t pid;
		int st = -1;

		if (!mkdtemp(sock))
			return;
		snprintf(path, sizeof(path), "%s/s", sock);
		/* A closed io_uring lets go of the image (and its lock) a
		 * moment after the device closed it: wait for the lock. */
		for (int i = 0; i < 250; i++) {
			struct blk_image im;

			if (blk_image_open(&im, img, false, false) != -EBUSY) {
				blk_image_close(&im);
				break;
			}
			usleep(20000);
		}
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			if (getenv("TEST_VERBOSE") == NULL)
				dup2(null, 2);
			execl(exe, exe, "--socket", path, "--image", img, NULL);
			_exit(127);
		}
		for (int i = 0; i < 100 && access(path, F_OK); i++)
			usleep(20000);
		CHECK_EQ(access(path, F_OK), 0);
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(access(path, F_OK) != 0);
		rmdir(sock);
	}
}

/* Fills blocking eventfd FD's counter to its maximum, whatever it held
 * (a late interrupt may still arrive): 0 or -errno. */
static int fill_eventfd(int fd)
{
	uint64_t n, full = 0xfffffffffffffffeULL;
	int fl = fcntl(fd, F_GETFL), ret = -EIO;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	for (int i = 0; i < 100 && ret; i++) {
		while (read(fd, &n, 8) == 8)
			;
		if (write(fd, &full, 8) == 8)
			ret = 0;
	}
	if (fcntl(fd, F_SETFL, fl))
		ret = -errno;
	return ret;
}

/* The waiting lock: see test_cli. */
static void wait_image_free(const char *img)
{
	for (int i = 0; i < 250; i++) {
		struct blk_image im;

		if (blk_image_open(&im, img, false, false) != -EBUSY) {
			blk_image_close(&im);
			return;
		}
		usleep(20000);
	}
}

/* tern-blk --user nobody: it runs as 65534 with no capabilities, and a
 * front-end on its socket writes and reads the image (opened before the
 * drop). Root only: dropping needs the privilege to drop. With --cpus
 * the last CPU this test may use: the queue's thread runs there alone. */
static void test_user(const char *exe, const char *img, int img_fd,
		      int memfd, uint8_t *mem)
{
	char dir[] = "/tmp/tern-blk-user-XXXXXX", path[64], cpus[16];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t back[512];
	unsigned int cpu = 0;
	cpu_set_t mine;
	struct fe f;
	pid_t pid;
	int st = -1, ret = -1;

	if (geteuid() != 0) {
		fprintf(stderr, "test_tern_blk: not root: --user skipped\n");
		return;
	}
	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/s", dir);
	if (!sched_getaffinity(0, sizeof(mine), &mine))
		for (unsigned int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &mine))
				cpu = c;
	snprintf(cpus, sizeof(cpus), "%u", cpu);
	wait_image_free(img);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (getenv("TEST_VERBOSE") == NULL)
			dup2(null, 2);
#if HAVE_NUMA
		execl(exe, exe, "--socket", path, "--image", img, "--user",
		      "nobody", "--cpus", cpus, NULL);
#else
		/* --cpus needs libnuma. */
		execl(exe, exe, "--socket", path, "--image", img, "--user",
		      "nobody", NULL);
#endif
		_exit(127);
	}
	fe_init(&f, NULL, memfd, mem);
	memset(mem, 0, SLOT_GPA(0));		/* fresh rings */
	CHECK_EQ(fq_fds_open(&f.q), 0);
	f.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* The socket's file appears at bind, before listen: a connect in
	 * between is refused. Wait for the daemon to take it (2 s). */
	for (int i = 0; i < 100; i++) {
		ret = connect(f.sock, (struct sockaddr *)&sa, sizeof(sa));
		if (!ret || (errno != ENOENT && errno != ECONNREFUSED))
			break;
		usleep(20000);
	}
	CHECK_EQ(ret, 0);
	fe_negotiate(&f, (1ULL << VU_PF_REPLY_ACK));
	/* A blocking call eventfd (below, the front-end fills it). */
	close(f.q.call_fd);
	f.q.call_fd = eventfd(0, EFD_CLOEXEC);
	fe_start_ring(&f, 0);
	CHECK(proc_status_is(pid, "Uid:", "65534\t65534\t65534\t65534"));
	CHECK(proc_status_is(pid, "Gid:", "65534\t65534\t65534\t65534"));
	CHECK(proc_status_is(pid, "CapEff:", "0000000000000000"));
	CHECK(proc_status_is(pid, "CapPrm:", "0000000000000000"));
	CHECK(proc_status_is(pid, "Seccomp:", "2"));

	memset(gpa(&f, SLOT_GPA(0) + 0x100), 0x5a, 512);
	CHECK_EQ(run_req(&f, 0, T_OUT, 3, 512), S_OK);
	CHECK_EQ(pread(img_fd, back, sizeof(back), 3 * 512), 512);
	CHECK(back[0] == 0x5a && back[511] == 0x5a);
	memset(gpa(&f, SLOT_GPA(1) + 0x100), 0, 512);
	CHECK_EQ(run_req(&f, 1, T_IN, 3, 512), S_OK);
	CHECK(!memcmp(gpa(&f, SLOT_GPA(1) + 0x100), back, 512));
#if HAVE_NUMA
	CHECK_EQ(queue_threads_on(pid, (int)cpu), 1);
#endif

	/* The front-end fills its call eventfd's counter: the interrupt
	 * write blocks the queue thread. The stop at the disconnect ends
	 * it, under seccomp (the queue thread goes), and the daemon still
	 * exits on SIGTERM. */
	CHECK_EQ(fill_eventfd(f.q.call_fd), 0);
	fq_publish(&f.q, build(&f, 2, T_IN, 3, 512));
	CHECK_EQ(fq_kick(&f.q), 0);
	for (int i = 0; i < 200 && fq_used_idx(&f.q) != f.q.avail_idx; i++)
		usleep(10000);
	CHECK_EQ(status(&f, 2), S_OK);
	fe_close(&f);
	for (int i = 0; i < 500 && queue_threads_on(pid, -1) > 0; i++)
		usleep(10000);
	CHECK_EQ(queue_threads_on(pid, -1), 0);
	kill(pid, SIGTERM);
	for (int i = 0; i < 1000 && (ret = waitpid(pid, &st, WNOHANG)) == 0;
	     i++)
		usleep(10000);
	if (ret != pid) {
		CHECK(!"tern-blk ended by SIGTERM within 10 s");
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(path);		/* nobody may not remove it from our dir */
	rmdir(dir);
}

int main(int argc, char **argv)
{
	char path[] = "/tmp/tern-blk-img-XXXXXX";
	struct vu_blk *vb = calloc(1, sizeof(*vb));
	struct vu_blk *other = calloc(1, sizeof(*other));
	int img = make_image(path), memfd, ret;
	uint8_t *mem;

	if (!vb || !other || img < 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	/* Sealed like tern's guest RAM: tern-blk maps no other. */
	memfd = memfd_create("tern-blk-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE) ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return 1;
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return 1;
	ret = create(vb, path, 2);
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "no io_uring here: skipped\n");
		unlink(path);
		return CHECK_EXIT_SKIP;
	}
	CHECK_EQ(ret, 0);
	if (!ret) {
		/* The image is locked: a second device on it is refused. */
		CHECK_EQ(create(other, path, 1), -EBUSY);
		test_io_and_reconnect(vb, img, memfd, mem);
		test_inflight(vb, img, memfd, mem);
		test_broken_ring(vb, memfd, mem);
		test_full_call_counter(vb, img, memfd, mem);
		test_call_replaced(vb, memfd, mem);
		test_hostile(vb, memfd, mem);
		vu_blk_destroy(vb);
	}
	if (argc > 1) {
		test_cli(argv[1], path);
		test_user(argv[1], path, img, memfd, mem);
	}
	munmap(mem, MEM_SIZE);
	close(memfd);
	close(img);
	unlink(path);
	free(vb);
	free(other);
	return check_done("test_tern_blk");
}
