#include "vhost/user_proto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Room for more fds than a message may carry, so that a peer sending too
 * many gets them closed and an error rather than silent truncation. */
#define VU_RX_FDS (2 * VU_MAX_FDS)

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vu_vring_state)
#define CONFIG_MAX (VU_CONFIG_HDR_SIZE + VU_CONFIG_MAX)

#define REQ(r, lo, hi, f, rep, pf)                                             \
	[VU_##r] = { .name = #r, .min_size = (lo), .max_size = (hi),           \
		     .fds = VU_FDS_##f, .has_reply = (rep), .pfeature = (pf) }

/* Per request: name, payload size range, fds, own reply, gating protocol
 * feature. GET/SET_PROTOCOL_FEATURES are gated by the virtio feature bit
 * VU_F_PROTOCOL_FEATURES instead; the backend checks that itself. */
static const struct vu_req_info vu_reqs[VU_REQUEST_MAX] = {
	REQ(GET_FEATURES, 0, 0, NONE, true, -1),
	REQ(SET_FEATURES, U64, U64, NONE, false, -1),
	REQ(SET_OWNER, 0, 0, NONE, false, -1),
	REQ(RESET_OWNER, 0, 0, NONE, false, -1),
	REQ(SET_MEM_TABLE, VU_MEM_TABLE_HDR, sizeof(struct vu_mem_table),
	    REGIONS, false, -1),
	REQ(SET_LOG_BASE, sizeof(struct vu_log), sizeof(struct vu_log), ONE,
	    true, VU_PF_LOG_SHMFD),
	REQ(SET_LOG_FD, 0, 0, ONE, false, VU_PF_LOG_SHMFD),
	REQ(SET_VRING_NUM, STATE, STATE, NONE, false, -1),
	REQ(SET_VRING_ADDR, sizeof(struct vu_vring_addr),
	    sizeof(struct vu_vring_addr), NONE, false, -1),
	REQ(SET_VRING_BASE, STATE, STATE, NONE, false, -1),
	REQ(GET_VRING_BASE, STATE, STATE, NONE, true, -1),
	REQ(SET_VRING_KICK, U64, U64, VRING, false, -1),
	REQ(SET_VRING_CALL, U64, U64, VRING, false, -1),
	REQ(SET_VRING_ERR, U64, U64, VRING, false, -1),
	REQ(GET_PROTOCOL_FEATURES, 0, 0, NONE, true, -1),
	REQ(SET_PROTOCOL_FEATURES, U64, U64, NONE, false, -1),
	REQ(GET_QUEUE_NUM, 0, 0, NONE, true, VU_PF_MQ),
	REQ(SET_VRING_ENABLE, STATE, STATE, NONE, false, -1),
	REQ(GET_CONFIG, VU_CONFIG_HDR_SIZE, CONFIG_MAX, NONE, true,
	    VU_PF_CONFIG),
	REQ(SET_CONFIG, VU_CONFIG_HDR_SIZE, CONFIG_MAX, NONE, false,
	    VU_PF_CONFIG),
	REQ(GET_INFLIGHT_FD, VU_INFLIGHT_WIRE_SIZE, sizeof(struct vu_inflight),
	    NONE, true, VU_PF_INFLIGHT_SHMFD),
	REQ(SET_INFLIGHT_FD, VU_INFLIGHT_WIRE_SIZE, sizeof(struct vu_inflight),
	    ONE, false, VU_PF_INFLIGHT_SHMFD),
	REQ(RESET_DEVICE, 0, 0, NONE, false, VU_PF_RESET_DEVICE),
};

_Static_assert(sizeof(struct vu_hdr) == VU_HDR_SIZE, "vhost-user header");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring addr");
_Static_assert(sizeof(struct vu_mem_region) == 32, "memory region");
_Static_assert(CONFIG_MAX <= sizeof(union vu_payload), "config payload");

const struct vu_req_info *vu_req_info(uint32_t request)
{
	if (request >= VU_REQUEST_MAX || !vu_reqs[request].name)
		return NULL;
	return &vu_reqs[request];
}

const char *vu_req_name(uint32_t request)
{
	const struct vu_req_info *ri = vu_req_info(request);

	return ri ? ri->name : "unknown";
}

void vu_close_fds(int *fds, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	*n = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_sock(int sock, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = events };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Takes the SCM_RIGHTS fds of one recvmsg: keeps up to VU_MAX_FDS, closes
 * the rest and notes the overflow. */
static void take_fds(struct msghdr *mh, int *fds, size_t *nfds, bool *over)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (*nfds < VU_MAX_FDS) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				*over = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		*over = true;
}

/* Reads exactly len bytes. `*deadline` is 0 until the first byte of the
 * message arrived; from then on a stall ends at the deadline. */
static int recv_exact(int sock, void *buf, size_t len, int64_t *deadline,
		      int *fds, size_t *nfds, bool *over)
{
	size_t got = 0;

	while (got < len) {
		union {
			char b[CMSG_SPACE(sizeof(int) * VU_RX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b),
		};
		ssize_t r = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int ret;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (!*deadline)
				return -EAGAIN;	/* nothing pending at all */
			ret = wait_sock(sock, POLLIN, *deadline);
			if (ret)
				return ret;
			continue;
		}
		take_fds(&mh, fds, nfds, over);
		if (r == 0)
			return *deadline ? -EPROTO : -ECONNRESET;
		if (!*deadline)
			*deadline = now_ms() + VU_RECV_TIMEOUT_MS;
		got += (size_t)r;
	}
	return 0;
}

int vu_msg_recv(int sock, struct vu_msg *m, int *fds, size_t *nfds)
{
	int64_t deadline = 0;
	bool over = false;
	int ret;

	*nfds = 0;
	memset(m, 0, sizeof(*m));
	ret = recv_exact(sock, &m->hdr, VU_HDR_SIZE, &deadline, fds, nfds,
			 &over);
	if (ret)
		goto fail;
	if (m->hdr.size > sizeof(m->p)) {
		ret = -EMSGSIZE;
		goto fail;
	}
	ret = recv_exact(sock, &m->p, m->hdr.size, &deadline, fds, nfds,
			 &over);
	if (ret)
		goto fail;
	if (over) {
		ret = -E2BIG;
		goto fail;
	}
	return 0;

fail:
	vu_close_fds(fds, nfds);
	return ret;
}

int vu_msg_send(int sock, const struct vu_msg *m, const int *fds,
		size_t nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov[2] = {
		{ (void *)&m->hdr, VU_HDR_SIZE },
		{ (void *)&m->p, m->hdr.size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	int64_t deadline = now_ms() + VU_RECV_TIMEOUT_MS;

	if (nfds > VU_MAX_FDS || m->hdr.size > sizeof(m->p))
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (mh.msg_iovlen) {
		ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		size_t done;

		if (r < 0) {
			int ret;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			ret = wait_sock(sock, POLLOUT, deadline);
			if (ret)
				return ret;
			continue;
		}
		/* The fds went with the first byte. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		done = (size_t)r;
		while (mh.msg_iovlen && done >= mh.msg_iov[0].iov_len) {
			done -= mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov[0].iov_base =
				(char *)mh.msg_iov[0].iov_base + done;
			mh.msg_iov[0].iov_len -= done;
		}
	}
	return 0;
}

int vu_msg_check(const struct vu_msg *m, size_t nfds)
{
	const struct vu_req_info *ri = vu_req_info(m->hdr.request);
	size_t want = 0;

	if (!ri)
		return -ENOSYS;
	if ((m->hdr.flags & VU_FLAG_VERSION_MASK) != VU_FLAG_VERSION ||
	    (m->hdr.flags & ~(VU_FLAG_VERSION_MASK | VU_FLAG_NEED_REPLY)))
		return -EINVAL;
	if (m->hdr.size < ri->min_size || m->hdr.size > ri->max_size)
		return -EINVAL;
	switch (ri->fds) {
	case VU_FDS_NONE:
		want = 0;
		break;
	case VU_FDS_ONE:
		want = 1;
		break;
	case VU_FDS_VRING:
		if (m->p.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD))
			return -EINVAL;
		want = (m->p.u64 & VU_VRING_NOFD) ? 0 : 1;
		break;
	case VU_FDS_REGIONS:
		if (m->p.mem.nregions > VU_MAX_REGIONS ||
		    m->hdr.size < VU_MEM_TABLE_HDR + m->p.mem.nregions *
				  sizeof(struct vu_mem_region))
			return -EINVAL;
		want = m->p.mem.nregions;
		break;
	}
	if (nfds != want)
		return -EINVAL;
	if ((m->hdr.request == VU_GET_CONFIG ||
	     m->hdr.request == VU_SET_CONFIG) &&
	    (m->p.config.size > VU_CONFIG_MAX ||
	     m->hdr.size != VU_CONFIG_HDR_SIZE + m->p.config.size))
		return -EINVAL;
	return 0;
}
