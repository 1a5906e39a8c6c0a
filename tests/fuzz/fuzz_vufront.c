/* Fuzz target: tern's vhost-user front-end (vhost/user_front.c) against a
 * hostile back-end. A thread plays the back-end on a real UNIX socket and
 * answers every message that wants an answer as the input says: right,
 * naming another request, with other flags, with a size that lies, with
 * file descriptors it should not carry, as raw bytes and a hang-up, or
 * not at all (a hang-up). Meanwhile the front-end connects and negotiates
 * (vu_front_init), then runs a script of what a device does with it: read
 * the config space, start, pause, resume, stop, enable a queue, lose the
 * back-end and reconnect.
 *
 * Input: byte 0: n = b % 8 front-end steps in bytes 1..n, each a % 8:
 *   0 GET_CONFIG of (a >> 3) * 8 bytes at offset a
 *   1 start 1 + (a >> 3) % 2 queues (bit 6: packed rings)
 *   2 pause   3 resume   4 stop   5 enable queue (a >> 3) % 2, bit 6
 *   6 the back-end hangs up and the front-end reconnects   7 nothing
 * The rest is the back-end's script, one answer after another: a kind
 * byte (% 8), then what that kind takes:
 *   0 the right answer; its value (u64, config bytes, a vring base, an
 *     inflight size and its memfd's size) from the next 8 bytes
 *   1 the right answer naming request b (next byte)
 *   2 the right answer with flags b (next byte)
 *   3 the right answer, its size field 16 bits from the script (a size
 *     past the largest payload is sent as a header alone, then a hang-up)
 *   4 the right answer with 1 + b % 8 eventfds besides
 *   5 b raw bytes from the script, then a hang-up
 *   6 a hang-up
 *   7 the right answer saying failure (ack 1, every value all ones)
 * A script that runs out hangs up.
 *
 * Checked: no crash or overrun (ASan); every file descriptor an answer
 * brought is closed by the end; what init negotiated stays within what the
 * front-end offers (protocol features) and can use (1..VIRTIO_MAX_QUEUES
 * queues); GET_CONFIG succeeds only with exactly the bytes asked for; a
 * pause's bases come from the used indexes in guest RAM. */
#include "core/log.h"
#include "core/memory.h"
#include "vhost/user_front.h"
#include "vhost/user_proto.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define F(bit) (1ULL << (bit))
#define FZ_RAM (1u << 20)
#define FZ_QUEUES 2
#define FZ_RING 0x10000ULL		/* queue i's rings at FZ_RING + i * 0x4000 */

static struct {
	bool ready;
	char path[108];
	int listen_fd;
	int evfd[2];			/* kick and call, shared by the queues */
	struct guest_mem mem;
	unsigned long inits, answers, starts, configs;
} fz;

struct script {
	const uint8_t *p, *end;
	int done_fd;			/* the front-end has finished */
};

static uint8_t take8(struct script *s)
{
	return s->p < s->end ? *s->p++ : 0;
}

static uint64_t take64(struct script *s)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)take8(s) << (8 * i);
	return v;
}

static void fz_cleanup(void)
{
	char dir[sizeof(fz.path)];

	unlink(fz.path);
	snprintf(dir, sizeof(dir), "%s", fz.path);
	*strrchr(dir, '/') = 0;
	rmdir(dir);
}

static void fz_setup(void)
{
	struct mem_config mc = { .size = FZ_RAM, .shared = true,
				 .numa_node = -1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/fuzz-vufront-XXXXXX";

	FZ_NEVER(!mkdtemp(dir));
	snprintf(fz.path, sizeof(fz.path), "%s/sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fz.path);
	fz.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FZ_NEVER(fz.listen_fd < 0 ||
		 bind(fz.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		 listen(fz.listen_fd, 4));
	FZ_NEVER(atexit(fz_cleanup));
	fz.evfd[0] = eventfd(0, EFD_CLOEXEC);
	fz.evfd[1] = eventfd(0, EFD_CLOEXEC);
	FZ_NEVER(fz.evfd[0] < 0 || fz.evfd[1] < 0);
	FZ_NEVER(guest_mem_create(&fz.mem, &mc));
	fz.ready = true;
}

/* The answer to M that a right back-end gives, values from the script. */
static void right_answer(struct script *s, const struct vu_msg *m,
			 struct vu_msg *r, int *fd)
{
	uint64_t v = take64(s);

	*r = (struct vu_msg){ .hdr = { m->hdr.request,
				       VU_FLAG_VERSION | VU_FLAG_REPLY, 8 } };
	*fd = -1;
	switch (m->hdr.request) {
	case VU_GET_CONFIG:
		r->hdr.size = m->hdr.size;
		r->p.config = m->p.config;
		for (unsigned int i = 0; i < sizeof(r->p.config.data); i++)
			r->p.config.data[i] = (uint8_t)(v >> (8 * (i % 8)));
		break;
	case VU_GET_VRING_BASE:
		r->p.state = (struct vu_vring_state){ m->p.state.index,
						      (uint32_t)v };
		break;
	case VU_GET_INFLIGHT_FD:
		r->hdr.size = VU_INFLIGHT_WIRE_SIZE;
		r->p.inflight = (struct vu_inflight){
			.mmap_size = v & 0xffff, .mmap_offset = v >> 48,
			.num_queues = m->p.inflight.num_queues,
			.queue_size = m->p.inflight.queue_size };
		*fd = memfd_create("fuzz-inflight", MFD_CLOEXEC);
		if (*fd >= 0 && ftruncate(*fd, (off_t)((v >> 16) & 0xffff)))
			v = 0;
		break;
	default:
		/* GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, and an
		 * ack: 0 is success. */
		r->p.u64 = (m->hdr.flags & VU_FLAG_NEED_REPLY) ? 0 : v;
		break;
	}
}

/* Sends R (and FDS) as they are, sizes that lie included. */
static void send_raw(int c, const struct vu_msg *r, const int *fds,
		     size_t nfds)
{
	uint8_t buf[VU_HDR_SIZE + sizeof(r->p)];
	size_t len = r->hdr.size <= sizeof(r->p) ? r->hdr.size : 0;

	if (nfds) {
		vu_msg_send(c, r, fds, nfds);
		return;
	}
	/* On the wire the payload follows the 12-byte header at once. */
	memcpy(buf, &r->hdr, VU_HDR_SIZE);
	memcpy(buf + VU_HDR_SIZE, &r->p, len);
	if (send(c, buf, VU_HDR_SIZE + len, MSG_NOSIGNAL) < 0)
		return;
}

/* One connection: answers until the script says to hang up. */
static void serve(struct script *s, int c)
{
	struct vu_msg m, r;
	int fds[VU_MAX_FDS], extra[VU_MAX_FDS];
	size_t nfds;

	/* vu_msg_recv does not wait for a message to begin. */
	while (poll(&(struct pollfd){ c, POLLIN, 0 }, 1, -1) == 1 &&
	       !vu_msg_recv(c, &m, fds, &nfds)) {
		const struct vu_req_info *info = vu_req_info(m.hdr.request);
		size_t nextra = 0;
		uint8_t kind, b;
		int fd;

		vu_close_fds(fds, &nfds);
		if (!(info && info->has_reply) &&
		    !(m.hdr.flags & VU_FLAG_NEED_REPLY))
			continue;
		if (s->p >= s->end)
			return;
		fz.answers++;
		kind = take8(s) % 8;
		if (kind == 6)
			return;
		if (kind == 5) {
			uint8_t raw[256];

			b = take8(s);
			for (unsigned int i = 0; i < b; i++)
				raw[i] = take8(s);
			send(c, raw, b, MSG_NOSIGNAL);	/* then a hang-up */
			return;
		}
		b = kind == 1 || kind == 2 || kind == 4 ? take8(s) : 0;
		right_answer(s, &m, &r, &fd);
		if (fd >= 0)
			extra[nextra++] = fd;
		switch (kind) {
		case 1:
			r.hdr.request = b;
			break;
		case 2:
			r.hdr.flags = b;
			break;
		case 3:
			/* Two reads in order: the same input means the same
			 * size whichever compiler built the target. */
			r.hdr.size = take8(s);
			r.hdr.size |= (uint32_t)take8(s) << 8;
			break;
		case 4:
			for (unsigned int i = 0; i <= b % 8 && nextra < VU_MAX_FDS;
			     i++)
				if ((fd = eventfd(0, EFD_CLOEXEC)) >= 0)
					extra[nextra++] = fd;
			break;
		case 7:
			memset(&r.p, 0xff, sizeof(r.p));
			break;
		}
		send_raw(c, &r, extra, nextra);
		vu_close_fds(extra, &nextra);
		if (r.hdr.size > sizeof(r.p))
			return;
	}
}

/* The back-end: every connection the front-end makes until it is done. */
static void *backend(void *arg)
{
	struct script *s = arg;

	for (;;) {
		struct pollfd p[2] = { { fz.listen_fd, POLLIN, 0 },
				       { s->done_fd, POLLIN, 0 } };
		int c;

		if (poll(p, 2, -1) < 0 || p[1].revents)
			break;
		c = accept4(fz.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(s, c);
		close(c);
	}
	return NULL;
}

static void queues(unsigned int nq, struct virtio_queue_io *q)
{
	for (unsigned int i = 0; i < nq; i++) {
		uint64_t base = FZ_RING + i * 0x4000;

		q[i] = (struct virtio_queue_io){
			.enabled = true, .size = 64, .desc = base,
			.driver = base + 0x1000, .device = base + 0x2000,
			.kick_fd = fz.evfd[0], .call_fd = i ? -1 : fz.evfd[1] };
	}
}

static void front_steps(struct vu_front *f, const uint8_t *a, unsigned int n)
{
	struct virtio_queue_io q[FZ_QUEUES];
	uint16_t base[FZ_QUEUES];
	uint64_t features = F(VIRTIO_F_VERSION_1);
	unsigned int nq = 1;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t op = a[i] % 8;

		switch (op) {
		case 0: {
			uint8_t buf[VU_CONFIG_MAX];
			uint32_t len = (uint32_t)(a[i] >> 3) * 8;

			memset(buf, 0x5a, sizeof(buf));
			if (!vu_front_get_config(f, a[i], buf, len)) {
				fz.configs++;
				/* Nothing written past the bytes asked for. */
				for (uint32_t k = len; k < sizeof(buf); k++)
					FZ_ASSERT(buf[k] == 0x5a);
			}
			break;
		}
		case 1:
			nq = 1 + (a[i] >> 3) % 2;
			features = F(VIRTIO_F_VERSION_1) |
				   (a[i] & 0x40 ? F(VIRTIO_F_RING_PACKED) : 0);
			queues(nq, q);
			fz.starts += !vu_front_start(f, &fz.mem, features, q, nq);
			break;
		case 2:
			if (!vu_front_pause(f, base)) {
				/* The used indexes in guest RAM: zeroed. */
				for (unsigned int k = 0; k < f->nq; k++)
					FZ_ASSERT(base[k] == 0);
			}
			break;
		case 3:
			queues(nq, q);
			vu_front_resume(f, &fz.mem, features, q, nq);
			break;
		case 4:
			vu_front_stop(f);
			break;
		case 5:
			vu_front_enable(f, (a[i] >> 3) % 2, a[i] & 0x40);
			break;
		case 6:
			vu_front_hangup(f);
			vu_front_reconnect(f);
			break;
		}
		FZ_ASSERT(!(f->protocol_features & ~VU_FRONT_PROTOCOL_FEATURES));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s;
	struct vu_front f;
	unsigned int n;
	uint64_t open_before;
	pthread_t t;
	uint64_t one = 1;

	if (size < 1)
		return 0;
	log_set_level(LOG_ERR);		/* the back-end's mistakes are errors */
	if (!fz.ready)
		fz_setup();
	n = data[0] % 8;
	if (size < 1 + n)
		return 0;
	open_before = fz_open_fds();
	s = (struct script){ data + 1 + n, data + size,
			     eventfd(0, EFD_CLOEXEC) };
	FZ_NEVER(s.done_fd < 0);
	FZ_NEVER(pthread_create(&t, NULL, backend, &s));
	if (!vu_front_init(&f, "vu-fuzz", fz.path, NULL)) {
		fz.inits++;
		FZ_ASSERT(f.queue_num >= 1 &&
			  f.queue_num <= VIRTIO_MAX_QUEUES);
		FZ_ASSERT(!(f.protocol_features &
			    ~VU_FRONT_PROTOCOL_FEATURES));
		front_steps(&f, data + 1, n);
		vu_front_destroy(&f);
	}
	FZ_NEVER(write(s.done_fd, &one, sizeof(one)) != sizeof(one));
	pthread_join(t, NULL);
	close(s.done_fd);
	/* Every descriptor an answer brought is closed again. */
	FZ_ASSERT(fz_open_fds() == open_before);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr,
		"fuzz_vufront: %u inputs ran clean (%lu connected, %lu answers, "
		"%lu starts, %lu config reads)\n",
		runs, fz.inits, fz.answers, fz.starts, fz.configs);
}
#include "replay.h"
#endif
