#include "net/uspace.h"

#include "core/iov.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "virtio/net.h"
#include "virtio/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define F(bit) (1ULL << (bit))
#define LOG_ERRORS 8

struct net_uspace_pair {
	struct net_uspace *u;
	unsigned int index;
	char rx_name[40], tx_name[40];	/* "virtio-net0 q0", "... q1" */
	int tap_fd;
	int wake_fd;			/* stop, or set_pairs changed `active` */
	atomic_bool stop;
	pthread_t thread;
	bool running;
	struct net_pair_io io;
	struct virtq rxq, txq;
	bool rx_broken, tx_broken;	/* a ring rule broken: reset needed */
	unsigned int errors_logged;

	/* Transmit: a chain the tap refused with EAGAIN waits in txc, its
	 * iovecs (header copy first) in tx_iov. */
	bool tx_blocked;
	uint8_t tx_hdr[VIRTIO_NET_HDR_LEN];
	unsigned int tx_niov;
	struct iovec tx_iov[VIRTQ_MAX_SEGS];
	struct virtq_chain txc;

	/* Receive. `active` changes under rx_lock, which the thread holds
	 * while it delivers: once set_pairs returns, an inactive pair puts
	 * nothing more in its receive queue. */
	pthread_mutex_t rx_lock;
	atomic_bool active;
	bool rx_starved;		/* no buffers: waiting for a kick */
	bool rx_tap_failed;		/* read gave an error: stop reading */
	bool have_chain;		/* rxc popped, not used yet */
	bool have_pkt;			/* bounce holds a packet */
	size_t pkt_len, copied;		/* copied: into held buffers */
	unsigned int nheld, held_desc;
	uint8_t *nbuf[2];		/* num_buffers in the first buffer */
	/* Receive buffers filled with parts of one packet, given back
	 * together once the whole packet is in: the first one's num_buffers
	 * promises the driver the rest. held_desc never passes the ring's
	 * size (rx_deliver), so nheld stays within the array. */
	struct virtq_used_buf held[VIRTQ_MAX_SIZE];
	struct virtq_chain rxc;
	uint8_t *bounce;

	struct net_uspace_stats st;
};

#define STAT_ADD(p, field, v)                                                  \
	__atomic_fetch_add(&(p)->st.field, (v), __ATOMIC_RELAXED)

static void pair_log(struct net_uspace_pair *p, const char *who,
		     const char *what, const char *why)
{
	log_limited(&p->errors_logged, LOG_ERRORS, who, "packet errors",
		    "%s%s%s", what, why ? ": " : "", why ? why : "");
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;		/* EAGAIN: someone else's count was zero */
}

static void broken(struct net_uspace_pair *p)
{
	if (p->u->bus.broken)
		virtio_bus_needs_reset(&p->u->bus);
	else
		log_err(p->u->name, "device needs reset, but no bus to say so");
}

static void notify(struct virtq *q, int call_fd, const char *who)
{
	uint64_t one = 1;

	if (virtq_need_notify(q) && write(call_fd, &one, sizeof(one)) < 0)
		log_warn(who, "interrupt: %s", strerror(errno));
}

/* --- transmit ----------------------------------------------------------- */

/* -EAGAIN: the tap is full, txc and tx_iov wait for POLLOUT. */
static int tx_send(struct net_uspace_pair *p)
{
	ssize_t n;

	do
		n = writev(p->tap_fd, p->tx_iov, (int)p->tx_niov);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n < 0) {
		STAT_ADD(p, tx_errors, 1);
		pair_log(p, p->tx_name, "tap write", strerror(errno));
		return 0;
	}
	STAT_ADD(p, tx_packets, 1);
	STAT_ADD(p, tx_bytes, p->txc.out_len - VIRTIO_NET_HDR_LEN);
	return 0;
}

/* One popped chain: header checked on a private copy, then the copy and
 * the rest of the device-readable part go to the tap in one writev. */
static int tx_one(struct net_uspace_pair *p)
{
	const struct virtq_chain *c = &p->txc;
	size_t skip = VIRTIO_NET_HDR_LEN;
	unsigned int n = 1;

	if (c->out_len < VIRTIO_NET_HDR_LEN) {
		STAT_ADD(p, tx_dropped, 1);
		pair_log(p, p->tx_name, "packet shorter than its header", NULL);
		return 0;
	}
	/* No packet is longer than the largest one receive takes (a chain
	 * may name up to 4 GiB of guest RAM). */
	if (c->out_len > NET_USPACE_BOUNCE) {
		STAT_ADD(p, tx_dropped, 1);
		pair_log(p, p->tx_name, "packet longer than 64 KiB", NULL);
		return 0;
	}
	iov_to_buf(c->iov, c->nr_out, 0, p->tx_hdr, VIRTIO_NET_HDR_LEN);
	if (virtio_net_tx_hdr_check(p->tx_hdr, c->out_len - VIRTIO_NET_HDR_LEN,
				    p->u->features) < 0) {
		STAT_ADD(p, tx_dropped, 1);
		pair_log(p, p->tx_name, "packet header refused", NULL);
		return 0;
	}
	p->tx_iov[0] = (struct iovec){ p->tx_hdr, VIRTIO_NET_HDR_LEN };
	for (unsigned int i = 0; i < c->nr_out; i++) {
		size_t l = c->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (n == VIRTQ_MAX_SEGS) {	/* IOV_MAX: one too many */
			STAT_ADD(p, tx_dropped, 1);
			pair_log(p, p->tx_name, "packet in too many pieces",
				 NULL);
			return 0;
		}
		p->tx_iov[n++] = (struct iovec){
			(uint8_t *)c->iov[i].iov_base + skip, l - skip };
		skip = 0;
	}
	p->tx_niov = n;
	return tx_send(p);
}

/* True if the budget ran out with more to do. */
static bool tx_work(struct net_uspace_pair *p)
{
	unsigned int budget = NET_USPACE_BUDGET;
	bool pushed = false, more = false;

	if (p->tx_broken)
		return false;
	if (p->tx_blocked) {
		if (tx_send(p) == -EAGAIN)
			return false;
		p->tx_blocked = false;
		virtq_push(&p->txq, &p->txc, 0);
		pushed = true;
		budget--;
	}
	for (;;) {
		int ret = 0;

		virtq_disable_kicks(&p->txq);
		while (budget && (ret = virtq_pop(&p->txq, &p->txc)) > 0) {
			budget--;
			if (tx_one(p) == -EAGAIN) {
				p->tx_blocked = true;
				goto out;
			}
			virtq_push(&p->txq, &p->txc, 0);
			pushed = true;
		}
		if (ret < 0) {
			/* virtq_pop logged the rule. */
			p->tx_broken = true;
			broken(p);
			break;
		}
		if (!budget) {
			more = true;
			break;
		}
		if (!virtq_enable_kicks(&p->txq))
			break;
	}
out:
	if (pushed)
		notify(&p->txq, p->io.tx.call_fd, p->tx_name);
	return more;
}

/* --- receive ------------------------------------------------------------ */

/* Makes sure rxc holds a buffer: 1 yes, 0 none (kicks re-armed, the
 * thread waits for one), -EINVAL the ring is broken. */
static int rx_chain(struct net_uspace_pair *p)
{
	int ret;

	if (p->have_chain)
		return 1;
	for (;;) {
		ret = virtq_pop(&p->rxq, &p->rxc);
		if (ret > 0) {
			p->have_chain = true;
			p->rx_starved = false;
			return 1;
		}
		if (ret < 0) {
			p->rx_broken = true;
			broken(p);
			return ret;
		}
		if (!virtq_enable_kicks(&p->rxq)) {
			p->rx_starved = true;
			return 0;
		}
		virtq_disable_kicks(&p->rxq);
	}
}

/* Reads one packet, only once a buffer is there for it: so a driver
 * without buffers leaves packets in the tap's own queue. 1 read (have_pkt
 * tells if it was kept), 0 nothing to read, < 0 broken ring. */
static int rx_read(struct net_uspace_pair *p)
{
	ssize_t n;
	int ret = rx_chain(p);

	if (ret <= 0)
		return ret;
	do
		n = read(p->tap_fd, p->bounce, NET_USPACE_BOUNCE);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		STAT_ADD(p, rx_errors, 1);
		log_err(p->rx_name, "reading the tap: %s; receive stops until "
			"reset", n ? strerror(errno) : "end of file");
		p->rx_tap_failed = true;
		return 0;
	}
	if (n < VIRTIO_NET_HDR_LEN || n == NET_USPACE_BOUNCE ||
	    virtio_net_rx_hdr_fix(p->bounce, p->u->features) < 0) {
		STAT_ADD(p, rx_dropped, 1);
		pair_log(p, p->rx_name, n < VIRTIO_NET_HDR_LEN ?
			 "packet from the tap shorter than its header" :
			 n == NET_USPACE_BOUNCE ?
			 "packet from the tap too long" :
			 "packet from the tap with a header the driver "
			 "cannot take", NULL);
		return 1;
	}
	p->have_pkt = true;
	p->pkt_len = (size_t)n;
	p->copied = 0;
	p->nheld = p->held_desc = 0;
	return 1;
}

/* A buffer given back with nothing in it (used length 0). */
static void rx_return(struct net_uspace_pair *p, uint16_t head, uint16_t ndesc)
{
	p->rxc.head = head;
	p->rxc.ndesc = ndesc;
	virtq_push(&p->rxq, &p->rxc, 0);
}

/* Puts the packet in bounce into the driver's buffers: 1 done (delivered
 * or dropped), 0 waiting for buffers (or out of budget), < 0 broken. */
static int rx_deliver(struct net_uspace_pair *p, unsigned int *budget,
		      bool *pushed)
{
	bool mrg = p->u->features & F(VIRTIO_NET_F_MRG_RXBUF);
	const struct virtq_chain *c = &p->rxc;
	const struct iovec *in;
	size_t len;
	int ret;

	for (;;) {
		ret = rx_chain(p);
		if (ret == 0 && p->held_desc >= p->rxq.num) {
			/* Every descriptor of the ring is ours and the
			 * packet still does not fit: it never will. */
			for (unsigned int i = 0; i < p->nheld; i++)
				rx_return(p, p->held[i].head, p->held[i].ndesc);
			*pushed = true;
			p->have_pkt = false;
			STAT_ADD(p, rx_dropped, 1);
			pair_log(p, p->rx_name, "packet larger than the whole "
				 "receive ring", NULL);
			return 1;
		}
		if (ret <= 0)
			return ret;
		p->have_chain = false;
		in = c->iov + c->nr_out;
		if (!mrg) {
			/* The whole packet in this one buffer, or dropped. */
			*pushed = true;
			p->have_pkt = false;
			if (c->in_len < p->pkt_len) {
				virtq_push(&p->rxq, c, 0);
				STAT_ADD(p, rx_dropped, 1);
				pair_log(p, p->rx_name, "packet larger than "
					 "the receive buffer", NULL);
				return 1;
			}
			p->bounce[VIRTIO_NET_HDR_NUM_BUFFERS] = 1;
			p->bounce[VIRTIO_NET_HDR_NUM_BUFFERS + 1] = 0;
			iov_from_buf(in, c->nr_in, 0, p->bounce, p->pkt_len);
			virtq_push(&p->rxq, c, (uint32_t)p->pkt_len);
			STAT_ADD(p, rx_packets, 1);
			STAT_ADD(p, rx_bytes, p->pkt_len - VIRTIO_NET_HDR_LEN);
			return 1;
		}
		if (!c->in_len || (!p->nheld && c->in_len < VIRTIO_NET_HDR_LEN)) {
			/* No room for the header (buffers MUST hold one,
			 * §5.1.6.3.1), or none at all: give it back empty. */
			virtq_push(&p->rxq, c, 0);
			*pushed = true;
			pair_log(p, p->rx_name, "receive buffer smaller than "
				 "the header", NULL);
			if (!*budget || !--*budget)
				return 0;
			continue;
		}
		if (p->held_desc + c->ndesc > p->rxq.num) {
			/* The buffers held for this packet and this one
			 * name more descriptors than the ring has: the
			 * driver made available what it does not own. */
			p->have_pkt = false;
			p->rx_broken = true;
			STAT_ADD(p, rx_dropped, 1);
			log_err(p->rx_name, "a packet's receive buffers take "
				"%u descriptors, the ring has %u; queue stopped "
				"until device reset", p->held_desc + c->ndesc,
				p->rxq.num);
			broken(p);
			return -EINVAL;
		}
		len = p->pkt_len - p->copied;
		if (len > c->in_len)
			len = c->in_len;
		iov_from_buf(in, c->nr_in, 0, p->bounce + p->copied, len);
		if (!p->nheld) {
			p->nbuf[0] = iov_byte(in, c->nr_in,
					      VIRTIO_NET_HDR_NUM_BUFFERS);
			p->nbuf[1] = iov_byte(in, c->nr_in,
					      VIRTIO_NET_HDR_NUM_BUFFERS + 1);
		}
		p->held[p->nheld++] = (struct virtq_used_buf){
			c->head, c->ndesc, (uint32_t)len };
		p->held_desc += c->ndesc;
		p->copied += len;
		if (p->copied < p->pkt_len)
			continue;
		*p->nbuf[0] = (uint8_t)p->nheld;
		*p->nbuf[1] = (uint8_t)(p->nheld >> 8);
		/* All at once: a driver that saw the first buffer before
		 * the others would drop the packet (Linux: "buffers out of
		 * N missing"). */
		virtq_push_batch(&p->rxq, p->held, p->nheld);
		*pushed = true;
		p->have_pkt = false;
		STAT_ADD(p, rx_packets, 1);
		STAT_ADD(p, rx_bytes, p->pkt_len - VIRTIO_NET_HDR_LEN);
		return 1;
	}
}

/* True if the budget ran out with more to do. */
static bool rx_work(struct net_uspace_pair *p)
{
	unsigned int budget = NET_USPACE_BUDGET;
	bool pushed = false;
	int ret;

	pthread_mutex_lock(&p->rx_lock);
	if (!atomic_load(&p->active) || p->rx_broken || p->rx_starved) {
		pthread_mutex_unlock(&p->rx_lock);
		return false;
	}
	while (budget) {
		if (!p->have_pkt) {
			if (p->rx_tap_failed)
				break;
			ret = rx_read(p);
			if (ret <= 0)
				break;
			budget--;
			if (!p->have_pkt)
				continue;
		}
		ret = rx_deliver(p, &budget, &pushed);
		if (ret <= 0)
			break;
	}
	if (pushed)
		notify(&p->rxq, p->io.rx.call_fd, p->rx_name);
	pthread_mutex_unlock(&p->rx_lock);
	return !budget && !p->rx_broken;
}

/* --- the pair thread ---------------------------------------------------- */

static void *pair_thread(void *arg)
{
	struct net_uspace_pair *p = arg;
	bool again = true;	/* chains may wait from before we started */

	pthread_setname_np(pthread_self(), "tern-net");
	sandbox_enter(SANDBOX_NET_IO);

	while (!atomic_load(&p->stop)) {
		struct pollfd fds[4];
		int nfds = 0, itx = -1, irx = -1;
		bool rx_on = atomic_load(&p->active) && !p->rx_broken;
		short tap_ev = 0;

		fds[nfds++] = (struct pollfd){ p->wake_fd, POLLIN, 0 };
		if (!p->tx_broken && !p->tx_blocked) {
			itx = nfds;
			fds[nfds++] = (struct pollfd){ p->io.tx.kick_fd, POLLIN,
						       0 };
		}
		if (rx_on && !p->rx_starved && !p->rx_tap_failed)
			tap_ev |= POLLIN;
		if (p->tx_blocked)
			tap_ev |= POLLOUT;
		if (tap_ev)
			fds[nfds++] = (struct pollfd){ p->tap_fd, tap_ev, 0 };
		if (rx_on && p->rx_starved) {
			irx = nfds;
			fds[nfds++] = (struct pollfd){ p->io.rx.kick_fd, POLLIN,
						       0 };
		}
		if (poll(fds, (nfds_t)nfds, again ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err(p->tx_name, "queue pair thread stops: %s",
				strerror(errno));
			break;
		}
		again = false;
		if (fds[0].revents)
			drain(p->wake_fd);
		if (itx >= 0 && fds[itx].revents)
			drain(p->io.tx.kick_fd);
		if (irx >= 0 && fds[irx].revents) {
			drain(p->io.rx.kick_fd);
			p->rx_starved = false;
			virtq_disable_kicks(&p->rxq);
		}
		if (atomic_load(&p->stop))
			break;
		if (tx_work(p))
			again = true;
		if (rx_work(p))
			again = true;
	}
	return NULL;
}

/* --- tap queues and offloads -------------------------------------------- */

unsigned int net_uspace_tun_offloads(uint64_t features)
{
	unsigned int f = 0;

	if (!(features & F(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	f |= TUN_F_CSUM;
	if (features & F(VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (features & F(VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if ((features & F(VIRTIO_NET_F_GUEST_ECN)) &&
	    (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (features & F(VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f;
}

/* Attaches or detaches tap queue i; a fd that is no tap (ENOTTY) has
 * nothing to do. Failures are logged: the pair then just gets no packets
 * (attach) or keeps some in the tap queue until it is back (detach). */
static void tap_queue(struct net_uspace *u, unsigned int i, bool attach)
{
	struct ifreq ifr;

	if (u->attached[i] == attach)
		return;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(u->tap_fds[i], TUNSETQUEUE, &ifr) < 0 && errno != ENOTTY) {
		log_warn(u->pairs[i].rx_name, "%s tap queue: %s",
			 attach ? "attaching" : "detaching", strerror(errno));
		return;
	}
	u->attached[i] = attach;
}

/* --- the backend -------------------------------------------------------- */

static uint64_t us_features(void *be)
{
	struct net_uspace *u = be;
	/* The control-plane bits are the device's (VIRTIO_NET_CTRL_FEATURES). */
	uint64_t f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |
		     F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_RING_PACKED) |
		     F(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_NET_OFFLOAD_FEATURES;

	if (u->npairs > 1)
		f |= F(VIRTIO_NET_F_MQ);
	return f;
}

static void us_stop(void *be)
{
	struct net_uspace *u = be;
	uint64_t one = 1;

	for (unsigned int i = 0; i < u->npairs; i++) {
		struct net_uspace_pair *p = &u->pairs[i];

		if (!p->running)
			continue;
		atomic_store(&p->stop, true);
		if (write(p->wake_fd, &one, sizeof(one)) < 0)
			log_err(p->tx_name, "stopping: %s", strerror(errno));
		pthread_join(p->thread, NULL);
		p->running = false;
	}
	u->nrunning = 0;
}

static int pair_start(struct net_uspace *u, struct net_uspace_pair *p,
		      const struct net_pair_io *io, unsigned int offloads,
		      const uint16_t *base)
{
	int flags, ret;

	p->io = *io;
	p->rx_broken = p->tx_broken = p->tx_blocked = false;
	p->rx_starved = p->rx_tap_failed = false;
	p->have_chain = p->have_pkt = false;
	p->nheld = p->held_desc = 0;
	p->errors_logged = 0;
	atomic_store(&p->active, p->index == 0);
	atomic_store(&p->stop, false);
	drain(p->wake_fd);
	ret = virtq_init(&p->rxq, p->rx_name, u->mem, io->rx.size, io->rx.desc,
			 io->rx.driver, io->rx.device, u->features,
			 base ? base[0] : 0);
	ret = ret ?: virtq_init(&p->txq, p->tx_name, u->mem, io->tx.size,
				io->tx.desc, io->tx.driver, io->tx.device,
				u->features, base ? base[1] : 0);
	if (ret)
		return ret;
	/* Receive kicks only matter once we run out of buffers. */
	virtq_disable_kicks(&p->rxq);
	flags = fcntl(p->tap_fd, F_GETFL);
	if (flags < 0 || fcntl(p->tap_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		log_err(p->rx_name, "tap fd: %s", strerror(-ret));
		return ret;
	}
	if (ioctl(p->tap_fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0 &&
	    errno != ENOTTY)
		log_warn(p->rx_name, "tap offloads 0x%x: %s (the kernel "
			 "checksums and segments instead)", offloads,
			 strerror(errno));
	ret = -pthread_create(&p->thread, NULL, pair_thread, p);
	if (ret)
		return ret;
	p->running = true;
	return 0;
}

static int us_resume(void *be, const struct guest_mem *mem,
		     uint64_t features, const struct net_pair_io *pairs,
		     unsigned int npairs, const uint16_t *base)
{
	struct net_uspace *u = be;
	unsigned int offloads = net_uspace_tun_offloads(features);
	int ret;

	if (!npairs || npairs > u->npairs) {
		log_err(u->name, "%u queue pairs asked, %u tap queues", npairs,
			u->npairs);
		return -EINVAL;
	}
	if (!(features & F(VIRTIO_F_VERSION_1))) {
		/* The tap's header is the 12-byte one. */
		log_err(u->name, "legacy (pre-1.0) header not supported");
		return -EINVAL;
	}
	u->mem = mem;
	u->features = features;
	/* The kernel steers only to pair 1 until set_pairs says otherwise,
	 * and never to tap queues without a pair (the driver enabled fewer
	 * than there are, or did not negotiate MQ). */
	for (unsigned int i = 0; i < u->npairs; i++)
		tap_queue(u, i, i == 0);
	for (unsigned int i = 0; i < npairs; i++) {
		ret = pair_start(u, &u->pairs[i], &pairs[i], offloads,
				 base ? base + 2 * i : NULL);
		if (ret) {
			log_err(u->pairs[i].rx_name, "cannot start: %s",
				strerror(-ret));
			us_stop(u);
			return ret;
		}
		u->nrunning++;
	}
	return 0;
}

static int us_start(void *be, const struct guest_mem *mem, uint64_t features,
		    const struct net_pair_io *pairs, unsigned int npairs)
{
	return us_resume(be, mem, features, pairs, npairs, NULL);
}

/* The pair threads stop between packets: a receive chain taken with no
 * frame for it, or a transmit chain the tap would not take yet, was not
 * returned and is offered again on resume. A frame read from the tap and
 * not yet delivered is dropped, as a full ring would. */
static int us_pause(void *be, uint16_t *base)
{
	struct net_uspace *u = be;
	unsigned int n = u->nrunning;

	us_stop(u);
	for (unsigned int i = 0; i < n; i++) {
		base[2 * i] = virtq_used_base(&u->pairs[i].rxq);
		base[2 * i + 1] = virtq_used_base(&u->pairs[i].txq);
	}
	return 0;
}

static int us_set_pairs(void *be, unsigned int n)
{
	struct net_uspace *u = be;
	uint64_t one = 1;

	if (n < 1 || n > u->nrunning)
		return -EINVAL;
	for (unsigned int i = 0; i < u->nrunning; i++) {
		struct net_uspace_pair *p = &u->pairs[i];
		bool on = i < n;

		if (on == atomic_load(&p->active)) {
			tap_queue(u, i, on);
			continue;
		}
		/* Off: stop delivering, then stop the kernel steering here.
		 * On: the other way round. */
		if (on)
			tap_queue(u, i, true);
		pthread_mutex_lock(&p->rx_lock);
		atomic_store(&p->active, on);
		pthread_mutex_unlock(&p->rx_lock);
		if (!on)
			tap_queue(u, i, false);
		if (write(p->wake_fd, &one, sizeof(one)) < 0)
			log_warn(p->rx_name, "wake: %s", strerror(errno));
	}
	return 0;
}

const struct net_backend_ops net_uspace_ops = {
	.name = "userspace",
	.features = us_features,
	.start = us_start,
	.stop = us_stop,
	.set_pairs = us_set_pairs,
	.pause = us_pause,
	.resume = us_resume,
};

int net_uspace_create(struct net_uspace *u, const char *name,
		      const int *tap_fds, unsigned int npairs)
{
	int ret;

	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	if (!npairs || npairs > NET_MAX_PAIRS)
		return -EINVAL;
	u->pairs = calloc(npairs, sizeof(*u->pairs));
	if (!u->pairs)
		return -ENOMEM;
	for (unsigned int i = 0; i < npairs; i++) {
		struct net_uspace_pair *p = &u->pairs[i];

		if (tap_fds[i] < 0) {
			ret = -EBADF;
			goto err;
		}
		p->u = u;
		p->index = i;
		p->tap_fd = u->tap_fds[i] = tap_fds[i];
		u->attached[i] = true;
		snprintf(p->rx_name, sizeof(p->rx_name), "%s q%u", name, 2 * i);
		snprintf(p->tx_name, sizeof(p->tx_name), "%s q%u", name,
			 2 * i + 1);
		p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->wake_fd < 0) {
			ret = -errno;
			goto err;
		}
		p->bounce = malloc(NET_USPACE_BOUNCE);
		ret = p->bounce ? -pthread_mutex_init(&p->rx_lock, NULL)
				: -ENOMEM;
		if (ret) {
			free(p->bounce);
			p->bounce = NULL;
			close(p->wake_fd);
			goto err;
		}
		u->npairs++;
	}
	return 0;
err:
	net_uspace_destroy(u);
	return ret;
}

void net_uspace_set_bus(struct net_uspace *u, struct virtio_bus bus)
{
	u->bus = bus;
}

void net_uspace_destroy(struct net_uspace *u)
{
	if (!u->pairs)
		return;
	us_stop(u);
	for (unsigned int i = 0; i < u->npairs; i++) {
		close(u->pairs[i].wake_fd);
		free(u->pairs[i].bounce);
		pthread_mutex_destroy(&u->pairs[i].rx_lock);
	}
	free(u->pairs);
	u->pairs = NULL;
	u->npairs = 0;
}

void net_uspace_stats(const struct net_uspace *u, unsigned int pair,
		      struct net_uspace_stats *out)
{
	const struct net_uspace_stats *s;

	memset(out, 0, sizeof(*out));
	if (!u->pairs || pair >= u->npairs)
		return;
	s = &u->pairs[pair].st;
	out->tx_packets = __atomic_load_n(&s->tx_packets, __ATOMIC_RELAXED);
	out->tx_bytes = __atomic_load_n(&s->tx_bytes, __ATOMIC_RELAXED);
	out->tx_dropped = __atomic_load_n(&s->tx_dropped, __ATOMIC_RELAXED);
	out->tx_errors = __atomic_load_n(&s->tx_errors, __ATOMIC_RELAXED);
	out->rx_packets = __atomic_load_n(&s->rx_packets, __ATOMIC_RELAXED);
	out->rx_bytes = __atomic_load_n(&s->rx_bytes, __ATOMIC_RELAXED);
	out->rx_dropped = __atomic_load_n(&s->rx_dropped, __ATOMIC_RELAXED);
	out->rx_errors = __atomic_load_n(&s->rx_errors, __ATOMIC_RELAXED);
}
