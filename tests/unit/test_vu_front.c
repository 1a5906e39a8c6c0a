/* tern's vhost-user front-end (vhost/user_front.c, vhost/user_blk_dev.c)
 * against the real tern-blk daemon (argv[1]) in another process: connect
 * and negotiate, the backend's config space with tern's queue count, a
 * split ring in shared guest memory served through kick and call
 * eventfds (writes reach the image, reads come back), then the backend is
 * killed with SIGKILL and started again: the front-end reconnects and the
 * ring resumes where the guest's used index says. Then backends that
 * misbehave (garbage replies, hang-ups, absurd queue counts): an error,
 * never a crash. */
#include "tests/unit/check.h"

#include "core/events.h"
#include "core/memory.h"
#include "vhost/user_blk_dev.h"
#include "vhost/user_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 16
#define DESC_GPA 0x100000
#define AVAIL_GPA 0x101000
#define USED_GPA 0x102000
#define REQ_GPA 0x110000	/* header, data at +0x100, status at +0x1000 */
#define IMG_SECTORS 2048

struct ring {
	uint8_t *base;		/* guest RAM at gpa 0 */
	int kick, call;
	uint16_t avail_idx;
};

static char dir[40], sock_path[64], img_path[64];
static const char *daemon_path;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Starts tern-blk and waits until it listens. After a SIGKILL the old
 * instance's image lock can outlive it briefly (its io_uring is torn down
 * asynchronously) and the new one exits at once: start it again then. */
static pid_t daemon_start(void)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		pid_t pid = fork();

		if (pid == 0) {
			execl(daemon_path, daemon_path, "--socket", sock_path,
			      "--image", img_path, "--queues", "2", (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 200; i++) {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
				 sock_path);
			if (!connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
				close(s);
				/* One front-end at a time: let it see this
				 * probe leave before the real one comes. */
				sleep_ms(50);
				return pid;
			}
			close(s);
			if (waitpid(pid, NULL, WNOHANG) == pid)
				break;		/* exited: start again */
			sleep_ms(10);
		}
		sleep_ms(100);
	}
	return -1;
}

static void put16(void *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(void *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void desc(struct ring *r, unsigned int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	uint8_t *d = r->base + DESC_GPA + 16 * i;

	put64(d, addr);
	put32(d + 8, len);
	put16(d + 12, flags);
	put16(d + 14, next);
}

/* One request (type, sector, 512 bytes of data) through the ring: returns
 * the status byte, or -1 if no completion came within 5 s. */
static int blk_request(struct ring *r, uint32_t type, uint64_t sector,
		       uint8_t *data)
{
	uint8_t *hdr = r->base + REQ_GPA, *buf = hdr + 0x100;
	uint8_t *status = hdr + 0x1000;
	uint16_t slot = r->avail_idx % QSIZE;
	struct pollfd p = { .fd = r->call, .events = POLLIN };
	uint64_t one = 1, n;

	put32(hdr, type);
	put32(hdr + 4, 0);
	put64(hdr + 8, sector);
	if (type == 1)
		memcpy(buf, data, 512);
	*status = 0xff;
	desc(r, 0, REQ_GPA, 16, 1, 1);
	desc(r, 1, REQ_GPA + 0x100, 512, 1 | (type == 0 ? 2 : 0), 2);
	desc(r, 2, REQ_GPA + 0x1000, 1, 2, 0);
	put16(r->base + AVAIL_GPA + 4 + 2 * slot, 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	put16(r->base + AVAIL_GPA + 2, ++r->avail_idx);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(r->kick, &one, 8) != 8)
		return -1;
	for (int i = 0; i < 50; i++) {
		if (get16(r->base + USED_GPA + 2) == r->avail_idx)
			break;
		poll(&p, 1, 100);
	}
	if (get16(r->base + USED_GPA + 2) != r->avail_idx)
		return -1;
	if (read(r->call, &n, 8) < 0) { /* drained; it may have come late */ }
	if (type == 0)
		memcpy(data, buf, 512);
	return *status;
}

static void test_daemon(void)
{
	struct guest_mem mem;
	struct mem_config mc = { .size = 64 << 20, .shared = true,
				 .numa_node = -1 };
	struct vu_blk_dev d, d2;
	struct virtio_queue_io q = { .enabled = true, .size = QSIZE,
				     .desc = DESC_GPA, .driver = AVAIL_GPA,
				     .device = USED_GPA };
	struct ring r = { 0 };
	uint8_t data[512], back[512];
	int evp[2];
	char evbuf[1024];
	ssize_t evn;
	uint64_t cap;
	uint16_t nq;
	int status;
	pid_t pid;
	int img;

	img = open(img_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(img >= 0);
	CHECK_EQ(ftruncate(img, IMG_SECTORS * 512), 0);
	for (int i = 0; i < 512; i++)
		data[i] = (uint8_t)(i * 7);
	CHECK_EQ(pwrite(img, data, 512, 0), 512);	/* sector 0 */
	pid = daemon_start();
	CHECK(pid > 0);

	CHECK_EQ(guest_mem_create(&mem, &mc), 0);
	r.base = guest_mem_ptr(&mem, 0, 1 << 20);
	CHECK(r.base != NULL);

	/* More queues than the backend offers: refused, named. */
	CHECK_EQ(vu_blk_dev_create(&d2, "vublk-x", sock_path, 3, 4, &mem, NULL),
		 -EINVAL);
	sleep_ms(100);		/* the daemon notices that front-end left */
	/* Default: the backend's 2, capped by one vCPU. */
	CHECK_EQ(vu_blk_dev_create(&d, "vublk0", sock_path, 0, 1, &mem, NULL),
		 0);
	CHECK_EQ(d.nq, 1);
	memcpy(&cap, d.config, 8);
	CHECK_EQ(cap, IMG_SECTORS);
	memcpy(&nq, d.config + 34, 2);
	CHECK_EQ(nq, 1);
	CHECK(d.features & (1ULL << VIRTIO_F_VERSION_1));
	CHECK_EQ(d.features & (1ULL << 30), 0);	/* protocol bit not shown */

	r.kick = q.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r.call = q.call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK_EQ(vu_blk_dev_ops.start(&d, 1ULL << VIRTIO_F_VERSION_1, &q, 1),
		 0);

	/* A write lands in the image, a read gives the image back. */
	memset(data, 0xa5, sizeof(data));
	CHECK_EQ(blk_request(&r, 1, 8, data), 0);
	CHECK_EQ(pread(img, back, 512, 8 * 512), 512);
	CHECK_MEM(back, data, 512);
	CHECK_EQ(blk_request(&r, 0, 0, back), 0);
	for (int i = 0; i < 512; i++)
		data[i] = (uint8_t)(i * 7);
	CHECK_MEM(back, data, 512);
	/* Beyond the end: the backend's IOERR, not a crash of anything. */
	CHECK_EQ(blk_request(&r, 0, IMG_SECTORS, back), 1);

	/* The backend dies. The front-end sees the hang-up, the guest's
	 * next request waits; a new backend comes and the ring resumes. The
	 * event monitor hears of both. */
	CHECK_EQ(pipe(evp), 0);
	CHECK_EQ(events_open(&d.front.events, NULL, evp[1]), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	vu_front_hangup(&d.front);
	CHECK(!vu_front_connected(&d.front));
	memset(data, 0x3c, sizeof(data));
	pid = daemon_start();
	CHECK(pid > 0);
	status = -1;
	for (int i = 0; i < 100 && vu_front_reconnect(&d.front); i++)
		sleep_ms(100);	/* the image lock may linger a moment */
	CHECK(vu_front_connected(&d.front));
	CHECK_EQ(d.front.reconnects, 1);
	evn = read(evp[0], evbuf, sizeof(evbuf) - 1);
	CHECK(evn > 0);
	evbuf[evn > 0 ? evn : 0] = '\0';
	CHECK(strstr(evbuf, "\"source\":\"vhost-user\",\"event\":"
			    "\"backend-lost\"") != NULL);
	CHECK(strstr(evbuf, "\"event\":\"backend-reconnected\"") != NULL);
	events_close(d.front.events);
	d.front.events = NULL;
	close(evp[0]);
	status = blk_request(&r, 1, 16, data);
	CHECK_EQ(status, 0);
	CHECK_EQ(pread(img, back, 512, 16 * 512), 512);
	CHECK_MEM(back, data, 512);

	vu_blk_dev_ops.stop(&d);
	vu_blk_dev_destroy(&d);
	kill(pid, SIGTERM);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(r.kick);
	close(r.call);
	close(img);
	guest_mem_destroy(&mem);
}

/* A backend that answers the first message with MODE's mistake. */
enum fake_mode { FAKE_HANGUP, FAKE_WRONG_REQUEST, FAKE_SHORT_REPLY,
		 FAKE_QUEUES_ZERO, FAKE_FDS_WITH_REPLY };

struct fake {
	int listen_fd;
	enum fake_mode mode;
};

static void reply(int s, uint32_t req, const void *p, uint32_t size,
		  const int *fds, size_t nfds)
{
	struct vu_msg m = { .hdr = { req, VU_FLAG_VERSION | VU_FLAG_REPLY,
				     size } };

	memcpy(&m.p, p, size);
	vu_msg_send(s, &m, fds, nfds);
}

static void *fake_backend(void *arg)
{
	struct fake *fk = arg;
	int s = accept(fk->listen_fd, NULL, NULL);
	struct vu_msg m;
	int fds[VU_MAX_FDS];
	size_t nfds;
	uint64_t v;

	while (s >= 0 && !vu_msg_recv(s, &m, fds, &nfds)) {
		vu_close_fds(fds, &nfds);
		switch (fk->mode) {
		case FAKE_HANGUP:
			goto out;
		case FAKE_WRONG_REQUEST:
			v = 0;
			reply(s, VU_GET_QUEUE_NUM, &v, 8, NULL, 0);
			break;
		case FAKE_SHORT_REPLY:
			v = 0;
			reply(s, m.hdr.request, &v, 2, NULL, 0);
			break;
		case FAKE_FDS_WITH_REPLY: {
			int e = eventfd(0, EFD_CLOEXEC);

			v = 1ULL << VIRTIO_F_VERSION_1;
			reply(s, m.hdr.request, &v, 8, &e, 1);
			close(e);
			break;
		}
		case FAKE_QUEUES_ZERO:
			if (m.hdr.request == VU_GET_FEATURES)
				v = 1ULL << VIRTIO_F_VERSION_1 |
				    1ULL << VU_F_PROTOCOL_FEATURES;
			else if (m.hdr.request == VU_GET_PROTOCOL_FEATURES)
				v = 1ULL << VU_PF_MQ;
			else if (m.hdr.request == VU_GET_QUEUE_NUM)
				v = 0;
			else
				continue;	/* SET_*: no reply */
			reply(s, m.hdr.request, &v, 8, NULL, 0);
			break;
		}
	}
out:
	if (s >= 0)
		close(s);
	return NULL;
}

static void test_bad_backends(void)
{
	static const enum fake_mode modes[] = {
		FAKE_HANGUP, FAKE_WRONG_REQUEST, FAKE_SHORT_REPLY,
		FAKE_QUEUES_ZERO, FAKE_FDS_WITH_REPLY,
	};
	char path[64];

	snprintf(path, sizeof(path), "%s/fake.sock", dir);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct fake fk = { .mode = modes[i] };
		struct vu_front f;
		pthread_t t;

		unlink(path);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		fk.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK_EQ(bind(fk.listen_fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
		CHECK_EQ(listen(fk.listen_fd, 1), 0);
		pthread_create(&t, NULL, fake_backend, &fk);
		CHECK(vu_front_init(&f, "vu-fake", path, NULL) < 0);
		pthread_join(t, NULL);
		close(fk.listen_fd);
	}
	/* Nobody listening: an error naming the socket, no crash. */
	unlink(path);
	{
		struct vu_front f;

		CHECK_EQ(vu_front_init(&f, "vu-none", path, NULL), -ENOENT);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return CHECK_EXIT_SKIP;
	daemon_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/tern-vufront-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock_path, sizeof(sock_path), "%s/blk.sock", dir);
	snprintf(img_path, sizeof(img_path), "%s/disk.img", dir);
	test_daemon();
	test_bad_backends();
	unlink(sock_path);
	unlink(img_path);
	unlink(dir);
	rmdir(dir);
	return check_done("test_vu_front");
}
