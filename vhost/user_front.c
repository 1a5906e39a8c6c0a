/* vhost-user front-end: see vhost/user_front.h. Request order follows
 * vhost-user.rst: features and owner at connect; at start SET_FEATURES,
 * SET_MEM_TABLE, the inflight area, then per ring NUM, BASE, ADDR, KICK,
 * CALL and ENABLE; at stop GET_VRING_BASE. Every reply is checked for
 * shape before use: the backend is another process and may be anything. */
#include "vhost/user_front.h"

#include "core/events.h"
#include "core/log.h"
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define F(b) (1ULL << (b))

/* Sends M and, when the request has a reply or REPLY_ACK is on, reads it
 * into *REPLY (fds into rfds/nrfds when given). A broken connection is
 * dropped here (the caller sees -ECONNRESET); a negative ack is -EIO. */
static int request(struct vu_front *f, struct vu_msg *m, const int *fds,
		   size_t nfds, struct vu_msg *reply, int *rfds, size_t *nrfds);

static void drop_locked(struct vu_front *f, const char *why);

static const char *rname(const struct vu_msg *m)
{
	return vu_req_name(m->hdr.request);
}

/* How long a reply may take. SET_MEM_TABLE's grows with guest RAM: the
 * backend maps it first, and DPDK's vhost library (22.11) faults in every
 * page of it before answering: 1.2 s for 512 MiB on a 2-core machine,
 * 8.6-10 s in the test host (TCG, tests/host/vu-net-check). So
 * VU_FRONT_REPLY_MS plus VU_FRONT_MAP_MS_PER_GIB for each GiB. */
#define VU_FRONT_MAP_MS_PER_GIB 60000
static int reply_ms(const struct vu_msg *m)
{
	uint64_t bytes = 0, ms;

	if (m->hdr.request != VU_SET_MEM_TABLE)
		return VU_FRONT_REPLY_MS;
	for (unsigned int i = 0;
	     i < m->p.mem.nregions && i < VU_MAX_REGIONS; i++)
		bytes += m->p.mem.regions[i].size;
	ms = VU_FRONT_REPLY_MS +
	     (bytes * VU_FRONT_MAP_MS_PER_GIB + (1ULL << 30) - 1) / (1ULL << 30);
	return ms > 3600000 ? 3600000 : (int)ms;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int request(struct vu_front *f, struct vu_msg *m, const int *fds,
		   size_t nfds, struct vu_msg *reply, int *rfds, size_t *nrfds)
{
	const struct vu_req_info *info = vu_req_info(m->hdr.request);
	int got[VU_MAX_FDS];
	size_t ngot = 0;
	uint64_t t0;
	bool ack;
	int ret;

	if (f->sock < 0)
		return -ECONNRESET;
	ack = !info->has_reply && (f->protocol_features & F(VU_PF_REPLY_ACK));
	m->hdr.flags = VU_FLAG_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0);
	ret = vu_msg_send(f->sock, m, fds, nfds);
	if (ret) {
		drop_locked(f, strerror(-ret));
		return -ECONNRESET;
	}
	if (!info->has_reply && !ack)
		return 0;
	/* vu_msg_recv does not wait for a message to begin: poll first. */
	t0 = now_ms();
	ret = poll(&(struct pollfd){ .fd = f->sock, .events = POLLIN }, 1,
		   reply_ms(m));
	if (ret <= 0) {
		log_err(f->name, "%s: %s after %llu ms", rname(m),
			ret ? strerror(errno) : "no reply",
			(unsigned long long)(now_ms() - t0));
		drop_locked(f, ret ? strerror(errno) : "no reply in time");
		return -ECONNRESET;
	}
	if (now_ms() - t0 >= 1000)
		log_info(f->name, "%s: the backend answered after %llu ms",
			 rname(m), (unsigned long long)(now_ms() - t0));
	ret = vu_msg_recv(f->sock, reply, got, &ngot);
	if (ret && ret != -E2BIG) {
		drop_locked(f, strerror(-ret));
		return -ECONNRESET;
	}
	if (reply->hdr.request != m->hdr.request ||
	    (reply->hdr.flags & (VU_FLAG_VERSION_MASK | VU_FLAG_REPLY)) !=
		    (VU_FLAG_VERSION | VU_FLAG_REPLY) ||
	    (ack && reply->hdr.size != 8) ||
	    (!nrfds && ngot)) {
		vu_close_fds(got, &ngot);
		log_err(f->name, "%s: malformed reply (request %u, flags 0x%x, "
			"%u bytes)", rname(m), reply->hdr.request,
			reply->hdr.flags, reply->hdr.size);
		drop_locked(f, "protocol error");
		return -EPROTO;
	}
	if (nrfds) {
		memcpy(rfds, got, ngot * sizeof(int));
		*nrfds = ngot;
	}
	if (ack && reply->p.u64) {
		log_err(f->name, "%s: backend says it failed (%llu)", rname(m),
			(unsigned long long)reply->p.u64);
		return -EIO;
	}
	return 0;
}

static int req_u64(struct vu_front *f, uint32_t req, uint64_t v)
{
	struct vu_msg m = { .hdr = { req, 0, 8 } }, r;

	m.p.u64 = v;
	return request(f, &m, NULL, 0, &r, NULL, NULL);
}

static int get_u64(struct vu_front *f, uint32_t req, uint64_t *v)
{
	struct vu_msg m = { .hdr = { req, 0, 0 } }, r;
	int ret = request(f, &m, NULL, 0, &r, NULL, NULL);

	if (ret)
		return ret;
	if (r.hdr.size != 8) {
		log_err(f->name, "%s: reply of %u bytes, want 8", rname(&m),
			r.hdr.size);
		drop_locked(f, "protocol error");
		return -EPROTO;
	}
	*v = r.p.u64;
	return 0;
}

static int req_state(struct vu_front *f, uint32_t req, uint32_t idx,
		     uint32_t num)
{
	struct vu_msg m = { .hdr = { req, 0, sizeof(struct vu_vring_state) } };
	struct vu_msg r;

	m.p.state = (struct vu_vring_state){ idx, num };
	return request(f, &m, NULL, 0, &r, NULL, NULL);
}

static int req_fd(struct vu_front *f, uint32_t req, uint32_t idx, int fd)
{
	struct vu_msg m = { .hdr = { req, 0, 8 } }, r;

	m.p.u64 = idx | (fd < 0 ? VU_VRING_NOFD : 0);
	return request(f, &m, &fd, fd < 0 ? 0 : 1, &r, NULL, NULL);
}

/* Connection lifetime -------------------------------------------------- */

static void timer_arm(struct vu_front *f, bool on)
{
	struct itimerspec its = { 0 };

	if (f->timer_fd < 0)
		return;
	if (on) {
		its.it_value.tv_sec = VU_FRONT_RETRY_MS / 1000;
		its.it_value.tv_nsec = (VU_FRONT_RETRY_MS % 1000) * 1000000L;
		its.it_interval = its.it_value;
	}
	timerfd_settime(f->timer_fd, 0, &its, NULL);
}

static void drop_locked(struct vu_front *f, const char *why)
{
	if (f->sock < 0)
		return;
	if (f->sock_watch.added)
		loop_del(f->loop, &f->sock_watch);
	close(f->sock);
	f->sock = -1;
	log_warn(f->name, "backend %s gone (%s)%s", f->path, why,
		 f->loop ? ": the guest's I/O waits; reconnecting" : "");
	events_emit(f->events, "vhost-user", "backend-lost", "id", f->name,
		    "socket", f->path, "why", why, NULL);
	timer_arm(f, true);
}

static void sock_event(struct loop_watch *w, uint32_t events)
{
	struct vu_front *f = w->opaque;

	pthread_mutex_lock(&f->lock);
	if (f->sock == w->fd)
		drop_locked(f, "hung up");
	pthread_mutex_unlock(&f->lock);
}

/* Connect and negotiate everything that does not depend on the driver. */
static int connect_locked(struct vu_front *f, bool quiet)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t pf = 0, qn = 1;
	int ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->sock < 0)
		return -errno;
	if (connect(f->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		if (!quiet)
			log_err(f->name, "vhost-user socket %s: %s", f->path,
				strerror(-ret));
		close(f->sock);
		f->sock = -1;
		return ret;
	}
	f->protocol_features = 0;
	ret = get_u64(f, VU_GET_FEATURES, &f->backend_features);
	if (!ret && (f->backend_features & F(VU_F_PROTOCOL_FEATURES))) {
		ret = get_u64(f, VU_GET_PROTOCOL_FEATURES, &pf);
		pf &= VU_FRONT_PROTOCOL_FEATURES;
		/* Set before REPLY_ACK applies: the ack rule starts after. */
		ret = ret ?: req_u64(f, VU_SET_PROTOCOL_FEATURES, pf);
		f->protocol_features = pf;
	}
	if (!ret && (pf & F(VU_PF_MQ)))
		ret = get_u64(f, VU_GET_QUEUE_NUM, &qn);
	if (!ret && !qn) {
		log_err(f->name, "backend offers 0 queues");
		ret = -EPROTO;
	}
	/* A maximum: DPDK's vhost library answers 128 (its own limit) whatever
	 * its port was given. More than tern can use is as good as enough. */
	if (qn > VIRTIO_MAX_QUEUES)
		qn = VIRTIO_MAX_QUEUES;
	if (!ret) {
		struct vu_msg m = { .hdr = { VU_SET_OWNER, 0, 0 } }, r;

		ret = request(f, &m, NULL, 0, &r, NULL, NULL);
	}
	if (ret) {
		log_err(f->name, "negotiating with %s: %s", f->path,
			strerror(-ret));
		goto err;
	}
	f->queue_num = (unsigned int)qn;
	if (f->loop) {
		ret = loop_add(f->loop, &f->sock_watch, f->sock, EPOLLRDHUP,
			       sock_event, f);
		if (ret)
			goto err;
	}
	return 0;
err:
	if (f->sock >= 0) {
		close(f->sock);
		f->sock = -1;
	}
	return ret;
}

/* Rings ---------------------------------------------------------------- */

static int ring_addr(struct vu_front *f, unsigned int i,
		     struct vu_vring_addr *a)
{
	const struct virtio_queue_io *q = &f->q[i];
	uint64_t n = q->size;
	void *desc = guest_mem_ptr(f->mem, q->desc, 16 * n);
	void *avail = guest_mem_ptr(f->mem, q->driver, 6 + 2 * n);
	void *used = guest_mem_ptr(f->mem, q->device, 6 + 8 * n);

	if (!desc || !avail || !used) {
		log_err(f->name, "q%u: ring outside guest RAM", i);
		return -EFAULT;
	}
	*a = (struct vu_vring_addr){ .index = i,
				     .desc = (uint64_t)(uintptr_t)desc,
				     .avail = (uint64_t)(uintptr_t)avail,
				     .used = (uint64_t)(uintptr_t)used };
	return 0;
}

/* Where a ring resumes: 0 at a fresh start; after a reconnect the used
 * index the guest sees (what completed), and the backend adds back what
 * its inflight area says it had taken. */
static uint16_t ring_base(struct vu_front *f, unsigned int i, bool resume)
{
	const struct virtio_queue_io *q = &f->q[i];
	const volatile uint16_t *used_idx;

	if (!resume)
		return 0;
	used_idx = guest_mem_ptr(f->mem, q->device + 2, 2);
	return used_idx ? le16toh(*used_idx) : 0;
}

static int mem_table(struct vu_front *f)
{
	struct vu_msg m = { .hdr = { VU_SET_MEM_TABLE, 0, 0 } }, r;
	int fds[VU_MAX_REGIONS];
	const struct guest_mem *mem = f->mem;

	if (mem->fd < 0) {
		log_err(f->name, "guest RAM is not shared (it needs "
			"--memory ...,shared=on)");
		return -EINVAL;
	}
	if (mem->nregions > VU_MAX_REGIONS)
		return -E2BIG;
	m.p.mem.nregions = mem->nregions;
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct mem_region *g = &mem->regions[i];

		m.p.mem.regions[i] = (struct vu_mem_region){
			.gpa = g->gpa, .size = g->size,
			.uaddr = (uint64_t)(uintptr_t)g->hva,
			.mmap_offset = g->fd_offset };
		fds[i] = mem->fd;
	}
	m.hdr.size = VU_MEM_TABLE_HDR +
		     mem->nregions * (uint32_t)sizeof(struct vu_mem_region);
	return request(f, &m, fds, mem->nregions, &r, NULL, NULL);
}

/* The inflight area: asked for once, handed back on every (re)start. */
static int inflight(struct vu_front *f)
{
	struct vu_msg m = { .hdr = { VU_GET_INFLIGHT_FD, 0,
				     VU_INFLIGHT_WIRE_SIZE } }, r;
	uint16_t qsize = 0;
	size_t nfd = 0;
	int fds[VU_MAX_FDS], ret;

	if (!(f->protocol_features & F(VU_PF_INFLIGHT_SHMFD)))
		return 0;
	if (f->inflight_fd < 0) {
		for (unsigned int i = 0; i < f->nq; i++)
			if (f->q[i].size > qsize)
				qsize = f->q[i].size;
		m.p.inflight = (struct vu_inflight){
			.num_queues = (uint16_t)f->nq, .queue_size = qsize };
		ret = request(f, &m, NULL, 0, &r, fds, &nfd);
		if (ret)
			return ret;
		if (nfd != 1 || r.hdr.size < VU_INFLIGHT_WIRE_SIZE ||
		    !r.p.inflight.mmap_size) {
			vu_close_fds(fds, &nfd);
			log_err(f->name, "GET_INFLIGHT_FD: malformed reply");
			drop_locked(f, "protocol error");
			return -EPROTO;
		}
		f->inflight_fd = fds[0];
		f->inflight = r.p.inflight;
	}
	m.hdr.request = VU_SET_INFLIGHT_FD;
	m.p.inflight = f->inflight;
	return request(f, &m, &f->inflight_fd, 1, &r, NULL, NULL);
}

static int start_locked(struct vu_front *f, bool resume)
{
	uint64_t feat = f->features & ~F(VU_F_PROTOCOL_FEATURES);
	int ret;

	if (f->backend_features & F(VU_F_PROTOCOL_FEATURES))
		feat |= F(VU_F_PROTOCOL_FEATURES);
	if ((f->features & ~f->backend_features) & ~F(VU_F_PROTOCOL_FEATURES)) {
		log_err(f->name, "the backend no longer offers features 0x%llx "
			"the driver uses",
			(unsigned long long)(f->features & ~f->backend_features));
		return -ENOTSUP;
	}
	ret = req_u64(f, VU_SET_FEATURES, feat);
	ret = ret ?: mem_table(f);
	ret = ret ?: inflight(f);
	for (unsigned int i = 0; i < f->nq && !ret; i++) {
		struct vu_msg m = { .hdr = { VU_SET_VRING_ADDR, 0,
					     sizeof(struct vu_vring_addr) } };
		struct vu_msg r;

		if (!f->q[i].enabled)
			continue;
		ret = req_state(f, VU_SET_VRING_NUM, i, f->q[i].size);
		ret = ret ?: req_state(f, VU_SET_VRING_BASE, i,
				       ring_base(f, i, resume));
		ret = ret ?: ring_addr(f, i, &m.p.addr);
		ret = ret ?: request(f, &m, NULL, 0, &r, NULL, NULL);
		/* The call fd before the kick fd: a ring that was enabled
		 * before a pause starts at its kick fd, and a call fd sent
		 * after it would reach a running ring. */
		ret = ret ?: req_fd(f, VU_SET_VRING_CALL, i, f->q[i].call_fd);
		ret = ret ?: req_fd(f, VU_SET_VRING_KICK, i, f->q[i].kick_fd);
		/* With protocol features rings start disabled (spec). */
		if (!ret && (feat & F(VU_F_PROTOCOL_FEATURES)))
			ret = req_state(f, VU_SET_VRING_ENABLE, i, f->enabled[i]);
	}
	if (ret)
		log_err(f->name, "starting %u queue(s) on %s: %s", f->nq,
			f->path, strerror(-ret));
	return ret;
}

/* Public --------------------------------------------------------------- */

static void timer_event(struct loop_watch *w, uint32_t events)
{
	struct vu_front *f = w->opaque;
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn(f->name, "reconnect timer: %s", strerror(errno));
	vu_front_reconnect(f);
}

int vu_front_reconnect(struct vu_front *f)
{
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->sock >= 0)
		goto out;
	ret = connect_locked(f, true);
	if (ret)
		goto out;
	f->reconnects++;
	if (f->started) {
		ret = start_locked(f, true);
		if (ret) {
			drop_locked(f, "restart failed");
			goto out;
		}
	}
	timer_arm(f, false);
	log_info(f->name, "backend %s is back: %s", f->path,
		 f->started ? "queues resumed" : "ready");
	events_emit(f->events, "vhost-user", "backend-reconnected", "id",
		    f->name, "socket", f->path, NULL);
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

void vu_front_hangup(struct vu_front *f)
{
	pthread_mutex_lock(&f->lock);
	drop_locked(f, "hung up");
	pthread_mutex_unlock(&f->lock);
}

int vu_front_init(struct vu_front *f, const char *name, const char *path,
		  struct loop *loop)
{
	int ret;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->sock = f->inflight_fd = f->timer_fd = -1;
	f->loop = loop;
	if (strlen(path) >= sizeof(f->path)) {
		log_err(name, "vhost-user socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(f->path, path);
	pthread_mutex_init(&f->lock, NULL);
	if (loop) {
		f->timer_fd = timerfd_create(CLOCK_MONOTONIC,
					     TFD_CLOEXEC | TFD_NONBLOCK);
		if (f->timer_fd < 0) {
			ret = -errno;
			goto err;
		}
		ret = loop_add(loop, &f->timer_watch, f->timer_fd, EPOLLIN,
			       timer_event, f);
		if (ret)
			goto err;
	}
	pthread_mutex_lock(&f->lock);
	ret = connect_locked(f, false);
	pthread_mutex_unlock(&f->lock);
	if (ret)
		goto err;
	log_info(name, "vhost-user %s: features 0x%llx, protocol 0x%llx, "
		 "%u queue(s)", path, (unsigned long long)f->backend_features,
		 (unsigned long long)f->protocol_features, f->queue_num);
	return 0;
err:
	vu_front_destroy(f);
	return ret;
}

void vu_front_destroy(struct vu_front *f)
{
	if (f->timer_watch.added)
		loop_del(f->loop, &f->timer_watch);
	if (f->timer_fd >= 0)
		close(f->timer_fd);
	f->timer_fd = -1;
	if (f->sock_watch.added)
		loop_del(f->loop, &f->sock_watch);
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
	if (f->inflight_fd >= 0)
		close(f->inflight_fd);
	f->inflight_fd = -1;
	pthread_mutex_destroy(&f->lock);
}

int vu_front_get_config(struct vu_front *f, uint32_t off, uint8_t *buf,
			uint32_t len)
{
	struct vu_msg m = { .hdr = { VU_GET_CONFIG, 0,
				     VU_CONFIG_HDR_SIZE + len } }, r;
	int ret;

	if (len > VU_CONFIG_MAX)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (!(f->protocol_features & F(VU_PF_CONFIG))) {
		ret = -ENOTSUP;
		goto out;
	}
	m.p.config = (struct vu_config){ .offset = off, .size = len };
	ret = request(f, &m, NULL, 0, &r, NULL, NULL);
	if (!ret && (r.hdr.size != VU_CONFIG_HDR_SIZE + len ||
		     r.p.config.size != len)) {
		log_err(f->name, "GET_CONFIG: %u bytes back, asked %u",
			r.p.config.size, len);
		ret = -EPROTO;
	}
	if (!ret)
		memcpy(buf, r.p.config.data, len);
out:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int start_common(struct vu_front *f, const struct guest_mem *mem,
			uint64_t features, const struct virtio_queue_io *q,
			unsigned int nq, bool resume)
{
	int ret = 0;

	if (nq > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	f->mem = mem;
	f->features = features;
	f->nq = nq;
	memcpy(f->q, q, nq * sizeof(*q));
	for (unsigned int i = 0; i < nq; i++)
		f->enabled[i] = q[i].enabled;
	f->started = true;
	if (f->sock >= 0)
		ret = start_locked(f, resume);
	else
		log_warn(f->name, "driver ready while %s is away: its I/O "
			 "waits for the backend", f->path);
	/* The connection went down on the way (the backend died, or did not
	 * answer in time): as if it had been away, the reconnect starts the
	 * queues. Any other failure fails the start. */
	if (ret == -ECONNRESET && f->sock < 0) {
		log_warn(f->name, "%s went away while starting: the driver's "
			 "I/O waits for the backend", f->path);
		ret = 0;
	}
	if (ret)
		f->started = false;
	pthread_mutex_unlock(&f->lock);
	return ret;
}

int vu_front_start(struct vu_front *f, const struct guest_mem *mem,
		   uint64_t features, const struct virtio_queue_io *q,
		   unsigned int nq)
{
	return start_common(f, mem, features, q, nq, false);
}

int vu_front_resume(struct vu_front *f, const struct guest_mem *mem,
		    uint64_t features, const struct virtio_queue_io *q,
		    unsigned int nq)
{
	if (features & F(VIRTIO_F_RING_PACKED))
		return -ENOTSUP;
	return start_common(f, mem, features, q, nq, true);
}

/* GET_VRING_BASE on every started queue. Caller holds f->lock. */
static void stop_rings(struct vu_front *f)
{
	for (unsigned int i = 0; f->started && i < f->nq && f->sock >= 0; i++) {
		struct vu_msg m = { .hdr = { VU_GET_VRING_BASE, 0,
					     sizeof(struct vu_vring_state) } };
		struct vu_msg r;

		if (!f->q[i].enabled)
			continue;
		m.p.state.index = i;
		if (request(f, &m, NULL, 0, &r, NULL, NULL))
			break;
	}
}

int vu_front_pause(struct vu_front *f, uint16_t *base)
{
	pthread_mutex_lock(&f->lock);
	if (f->started && (f->features & F(VIRTIO_F_RING_PACKED))) {
		pthread_mutex_unlock(&f->lock);
		return -ENOTSUP;
	}
	stop_rings(f);
	for (unsigned int i = 0; i < f->nq; i++)
		base[i] = f->started ? ring_base(f, i, true) : 0;
	f->started = false;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

void vu_front_stop(struct vu_front *f)
{
	pthread_mutex_lock(&f->lock);
	stop_rings(f);
	f->started = false;
	/* A reset device starts from empty rings: old inflight entries
	 * would be replayed into the next driver's rings. */
	if (f->inflight_fd >= 0)
		close(f->inflight_fd);
	f->inflight_fd = -1;
	pthread_mutex_unlock(&f->lock);
}

int vu_front_enable(struct vu_front *f, unsigned int q, bool on)
{
	int ret = 0;

	if (q >= VIRTIO_MAX_QUEUES)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	f->enabled[q] = on;
	if (f->sock >= 0 && f->started &&
	    (f->backend_features & F(VU_F_PROTOCOL_FEATURES)))
		ret = req_state(f, VU_SET_VRING_ENABLE, q, on);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

bool vu_front_connected(struct vu_front *f)
{
	bool c;

	pthread_mutex_lock(&f->lock);
	c = f->sock >= 0;
	pthread_mutex_unlock(&f->lock);
	return c;
}
