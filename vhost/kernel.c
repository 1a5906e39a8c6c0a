#include "vhost/kernel.h"

#include "core/log.h"
#include "virtio/net.h"
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* What vhost reports that a guest may see (see kernel.h for the rest). */
#define VHOST_NET_PASS                                                         \
	((1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX) |     \
	 (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_PACKED) |       \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF))

/* vhost-net's vrings within one instance. */
enum { VQ_RX = 0, VQ_TX = 1 };

/* vhost refuses other ring sizes (VHOST_SET_VRING_NUM). */
#define VHOST_MAX_RING 32768

static int vioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

/* "virtio-net0 q3": the device's queue number, 2 * pair + (tx). */
static void qname(char *buf, size_t len, const struct vhost_net *v,
		  unsigned int pair, unsigned int t)
{
	snprintf(buf, len, "%s q%u", v->name, 2 * pair + t);
}

static const struct virtio_queue_io *pair_queue(const struct net_pair_io *io,
						unsigned int t)
{
	return t == VQ_RX ? &io->rx : &io->tx;
}

/* Bytes of dirty bitmap that cover guest RAM: one bit per 4 KiB page up
 * to the highest guest-physical address. */
static uint64_t log_bytes_needed(const struct guest_mem *mem)
{
	uint64_t top = 0;

	for (unsigned int i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa + mem->regions[i].size > top)
			top = mem->regions[i].gpa + mem->regions[i].size;
	return (top / VHOST_PAGE_SIZE + 7) / 8;
}

/* --- one vring ---------------------------------------------------------- */

/* Host addresses of a ring's three areas, each wholly in guest RAM and
 * aligned as virtio (and vhost) require. */
static int vring_addr(const struct vhost_net *v, unsigned int pair,
		      unsigned int t, const struct virtio_queue_io *io,
		      bool packed, struct vhost_vring_addr *a)
{
	static const char *const part[] = { "descriptor table",
		"driver area", "device area" };
	uint64_t num = io->size;
	uint64_t gpa[3] = { io->desc, io->driver, io->device };
	uint64_t len[3], align[3] = { 16, packed ? 4 : 2, 4 };
	void *hva[3];
	char who[48];

	qname(who, sizeof(who), v, pair, t);
	if (!num || (num & (num - 1)) || num > VHOST_MAX_RING) {
		log_err(who, "ring size %" PRIu64 ": vhost-net needs a power "
			"of 2 up to %d", num, VHOST_MAX_RING);
		return -EINVAL;
	}
	len[0] = 16 * num;
	/* Split: flags, idx, ring[num], used_event / avail_event. */
	len[1] = packed ? 4 : 6 + 2 * num;
	len[2] = packed ? 4 : 6 + 8 * num;
	for (int i = 0; i < 3; i++) {
		if (gpa[i] & (align[i] - 1)) {
			log_err(who, "%s at 0x%" PRIx64 " is not %" PRIu64
				"-byte aligned", part[i], gpa[i], align[i]);
			return -EINVAL;
		}
		hva[i] = guest_mem_ptr(v->mem, gpa[i], len[i]);
		if (!hva[i]) {
			log_err(who, "%s at 0x%" PRIx64 " (%" PRIu64
				" bytes) is not in guest RAM", part[i], gpa[i],
				len[i]);
			return -EINVAL;
		}
	}
	*a = (struct vhost_vring_addr){
		.index = t,
		.flags = v->logging ? 1u << VHOST_VRING_F_LOG : 0,
		.desc_user_addr = (uintptr_t)hva[0],
		.avail_user_addr = (uintptr_t)hva[1],
		.used_user_addr = (uintptr_t)hva[2],
		/* Where vhost logs used-ring writes, as a guest address. */
		.log_guest_addr = io->device,
	};
	return 0;
}

/* Unbinds everything start gave vring t; harmless on a vring that never
 * got it. Records the index the ring stopped at. */
static void vring_unbind(struct vhost_net *v, unsigned int pair,
			 unsigned int t)
{
	struct vhost_net_pair *p = &v->pairs[pair];
	struct vhost_vring_state st = { .index = t };
	struct vhost_vring_file f = { .index = t, .fd = VHOST_FILE_UNBIND };
	uint64_t errors = 0;
	char who[48];
	int ret;

	qname(who, sizeof(who), v, pair, t);
	if (vioctl(p->fd, VHOST_GET_VRING_BASE, &st) == 0) {
		p->last_base[t] = st.num;
		log_debug(who, "vhost stopped at avail index %u (0x%x)",
			  st.num & 0xffff, st.num);
	}
	ret = vioctl(p->fd, VHOST_SET_VRING_KICK, &f);
	if (!ret)
		ret = vioctl(p->fd, VHOST_SET_VRING_CALL, &f);
	if (!ret)
		ret = vioctl(p->fd, VHOST_SET_VRING_ERR, &f);
	if (ret)
		log_warn(who, "unbinding the ring's eventfds: %s",
			 strerror(-ret));
	if (read(p->err_fd[t], &errors, sizeof(errors)) == sizeof(errors) &&
	    errors)
		log_warn(who, "vhost reported %" PRIu64 " ring error(s) "
			 "(the driver broke a virtqueue rule)", errors);
}

static int vring_setup(struct vhost_net *v, unsigned int pair,
		       unsigned int t, const struct virtio_queue_io *io,
		       bool packed, uint16_t base)
{
	struct vhost_net_pair *p = &v->pairs[pair];
	struct vhost_vring_state st = { .index = t, .num = io->size };
	struct vhost_vring_addr addr;
	struct vhost_vring_file f = { .index = t };
	const char *what;
	char who[48];
	int ret;

	ret = vring_addr(v, pair, t, io, packed, &addr);
	if (ret)
		return ret;
	what = "VHOST_SET_VRING_NUM";
	ret = vioctl(p->fd, VHOST_SET_VRING_NUM, &st);
	if (ret)
		goto err;
	what = "VHOST_SET_VRING_ADDR";
	ret = vioctl(p->fd, VHOST_SET_VRING_ADDR, &addr);
	if (ret)
		goto err;
	/* Where the ring starts (0: fresh). Packed: the avail index (low
	 * half) and used index (high half) each carry their wrap counter in
	 * bit 15, 1 at a fresh start; nothing is outstanding at BASE, so
	 * both are the same. */
	st.num = packed ? (uint32_t)virtq_base_to_vhost(true, base) * 0x10001u
			: base;
	what = "VHOST_SET_VRING_BASE";
	ret = vioctl(p->fd, VHOST_SET_VRING_BASE, &st);
	if (ret)
		goto err;
	f.fd = io->kick_fd;
	what = "VHOST_SET_VRING_KICK";
	ret = vioctl(p->fd, VHOST_SET_VRING_KICK, &f);
	if (ret)
		goto err;
	f.fd = io->call_fd;
	what = "VHOST_SET_VRING_CALL";
	ret = vioctl(p->fd, VHOST_SET_VRING_CALL, &f);
	if (ret)
		goto err_unbind;
	f.fd = p->err_fd[t];
	what = "VHOST_SET_VRING_ERR";
	ret = vioctl(p->fd, VHOST_SET_VRING_ERR, &f);
	if (ret)
		goto err_unbind;
	return 0;

err_unbind:
	vring_unbind(v, pair, t);
err:
	qname(who, sizeof(who), v, pair, t);
	log_err(who, "%s: %s", what, strerror(-ret));
	return ret;
}

/* --- one pair ----------------------------------------------------------- */

/* Everything the driver chose, checked before anything is set: a refused
 * start leaves the tap and vhost as they were. */
static int pairs_check(const struct vhost_net *v,
		       const struct net_pair_io *pairs, unsigned int npairs,
		       bool packed)
{
	for (unsigned int i = 0; i < npairs; i++) {
		const struct net_pair_io *io = &pairs[i];
		struct vhost_vring_addr a;
		char who[48];
		int ret;

		if (!io->rx.enabled || !io->tx.enabled) {
			snprintf(who, sizeof(who), "%s pair %u", v->name, i);
			log_err(who, "q%u is %s and q%u %s: vhost-net serves "
				"whole pairs", 2 * i,
				io->rx.enabled ? "enabled" : "disabled",
				2 * i + 1,
				io->tx.enabled ? "enabled" : "disabled");
			return -EINVAL;
		}
		for (unsigned int t = 0; t < 2; t++) {
			ret = vring_addr(v, i, t, pair_queue(io, t), packed, &a);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Features, memory and both rings; the backend stays unbound. */
static int pair_configure(struct vhost_net *v, unsigned int i,
			  const struct net_pair_io *io,
			  struct vhost_memory *table, bool packed,
			  const uint16_t *base)
{
	struct vhost_net_pair *p = &v->pairs[i];
	uint64_t features = v->acked;
	char who[48];
	int ret;

	snprintf(who, sizeof(who), "%s pair %u", v->name, i);
	ret = vioctl(p->fd, VHOST_SET_FEATURES, &features);
	if (ret) {
		log_err(who, "VHOST_SET_FEATURES 0x%" PRIx64 ": %s", features,
			strerror(-ret));
		return ret;
	}
	ret = vioctl(p->fd, VHOST_SET_MEM_TABLE, table);
	if (ret) {
		log_err(who, "VHOST_SET_MEM_TABLE (%u regions): %s",
			table->nregions, strerror(-ret));
		return ret;
	}
	p->io = *io;
	ret = vring_setup(v, i, VQ_RX, &io->rx, packed, base ? base[0] : 0);
	if (ret)
		return ret;
	ret = vring_setup(v, i, VQ_TX, &io->tx, packed, base ? base[1] : 0);
	if (ret) {
		vring_unbind(v, i, VQ_RX);
		return ret;
	}
	p->configured = true;
	return 0;
}

static int backend_bind(struct vhost_net *v, unsigned int i, unsigned int t,
			int fd)
{
	struct vhost_vring_file f = { .index = t, .fd = fd };
	char who[48];
	int ret;

	ret = vioctl(v->pairs[i].fd, VHOST_NET_SET_BACKEND, &f);
	if (ret) {
		qname(who, sizeof(who), v, i, t);
		log_err(who, "VHOST_NET_SET_BACKEND %s: %s",
			fd < 0 ? "unbind" : v->tap->name, strerror(-ret));
	}
	return ret;
}

/* Tap queue first, then vhost: vhost starts moving frames as soon as the
 * backend is bound, and a detached tap queue refuses them. */
static int pair_attach(struct vhost_net *v, unsigned int i)
{
	struct vhost_net_pair *p = &v->pairs[i];
	int fd = v->tap->fds[i];
	int ret;

	if (p->attached)
		return 0;
	ret = tap_queue_enable(v->tap, i, true);
	if (ret)
		return ret;
	ret = backend_bind(v, i, VQ_RX, fd);
	if (ret)
		goto err_tap;
	ret = backend_bind(v, i, VQ_TX, fd);
	if (ret)
		goto err_rx;
	p->attached = true;
	return 0;

err_rx:
	backend_bind(v, i, VQ_RX, VHOST_FILE_UNBIND);
err_tap:
	if (v->tap->multi_queue)
		tap_queue_enable(v->tap, i, false);
	return ret;
}

/* vhost first: unbinding waits until its worker has left the rings. */
static void pair_detach(struct vhost_net *v, unsigned int i)
{
	struct vhost_net_pair *p = &v->pairs[i];

	if (!p->attached)
		return;
	backend_bind(v, i, VQ_RX, VHOST_FILE_UNBIND);
	backend_bind(v, i, VQ_TX, VHOST_FILE_UNBIND);
	p->attached = false;
}

static void pair_unconfigure(struct vhost_net *v, unsigned int i)
{
	struct vhost_net_pair *p = &v->pairs[i];

	if (!p->configured)
		return;
	pair_detach(v, i);
	vring_unbind(v, i, VQ_RX);
	vring_unbind(v, i, VQ_TX);
	p->configured = false;
}

/* --- the backend ops ---------------------------------------------------- */

static uint64_t vhost_net_features(void *be)
{
	struct vhost_net *v = be;
	uint64_t f = (v->vhost_features & VHOST_NET_PASS) | VIRTIO_NET_OFFLOAD_FEATURES;

	/* Capacity, not control plane: one tap queue, one pair. */
	if (v->npairs > 1)
		f |= 1ULL << VIRTIO_NET_F_MQ;
	return f;
}

static void vhost_net_stop(void *be)
{
	struct vhost_net *v = be;

	for (unsigned int i = 0; i < v->nconfigured; i++)
		pair_unconfigure(v, i);
	if (v->nconfigured)
		log_debug(v->name, "vhost-net stopped");
	v->nconfigured = 0;
	v->nattached = 0;
	v->mem = NULL;
}

static int vhost_net_set_pairs(void *be, unsigned int n)
{
	struct vhost_net *v = be;
	int ret = 0;

	if (n < 1 || n > v->nconfigured) {
		log_err(v->name, "%u queue pairs asked, %u set up", n,
			v->nconfigured);
		return -EINVAL;
	}
	/* Detach first so that a failed attach leaves no more pairs bound
	 * than asked. */
	for (unsigned int i = n; i < v->npairs; i++) {
		pair_detach(v, i);
		if (v->tap->multi_queue) {
			int r = tap_queue_enable(v->tap, i, false);

			if (r && !ret)
				ret = r;
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		int r = pair_attach(v, i);

		if (r) {
			ret = r;
			break;
		}
		v->nattached = i + 1;
	}
	if (!ret) {
		v->nattached = n;
		log_debug(v->name, "vhost-net serves %u of %u pair(s)", n,
			  v->nconfigured);
	}
	return ret;
}

static struct vhost_memory *mem_table(const struct guest_mem *mem)
{
	struct vhost_memory *t;

	t = calloc(1, sizeof(*t) + mem->nregions * sizeof(t->regions[0]));
	if (!t)
		return NULL;
	t->nregions = mem->nregions;
	for (unsigned int i = 0; i < mem->nregions; i++)
		t->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = mem->regions[i].gpa,
			.memory_size = mem->regions[i].size,
			.userspace_addr = (uintptr_t)mem->regions[i].hva,
		};
	return t;
}

static int vhost_net_resume(void *be, const struct guest_mem *mem,
			    uint64_t features, const struct net_pair_io *pairs,
			    unsigned int npairs, const uint16_t *base)
{
	struct vhost_net *v = be;
	bool packed = features & (1ULL << VIRTIO_F_RING_PACKED);
	int hdr_len = TAP_VNET_HDR_LEN_LEGACY;
	struct vhost_memory *table;
	int ret;

	if (v->nconfigured) {
		log_warn(v->name, "vhost-net started twice: stopping first");
		vhost_net_stop(v);
	}
	if (npairs < 1 || npairs > v->npairs) {
		log_err(v->name, "%u queue pairs asked, the tap has %u", npairs,
			v->npairs);
		return -EINVAL;
	}
	if (packed && !(v->vhost_features & (1ULL << VIRTIO_F_RING_PACKED))) {
		log_err(v->name, "packed ring negotiated but this vhost-net "
			"does not offer it");
		return -EINVAL;
	}
	v->mem = mem;
	ret = pairs_check(v, pairs, npairs, packed);
	if (ret)
		goto err;
	if (v->logging && v->log_size < log_bytes_needed(mem)) {
		log_err(v->name, "dirty log of %" PRIu64 " bytes, guest RAM "
			"needs %" PRIu64, v->log_size, log_bytes_needed(mem));
		ret = -EINVAL;
		goto err;
	}
	/* The header rides with each frame: the tap adds and strips it
	 * (VHOST_NET_F_VIRTIO_NET_HDR stays clear), sized as vhost expects
	 * from the same features. */
	v->acked = features & v->vhost_features & VHOST_NET_PASS;
	if (v->logging)
		v->acked |= 1ULL << VHOST_F_LOG_ALL;
	if (features & ((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VIRTIO_NET_F_MRG_RXBUF)))
		hdr_len = TAP_VNET_HDR_LEN;
	if (v->tap->vnet_hdr_len != hdr_len) {
		ret = tap_set_vnet_hdr_len(v->tap, hdr_len);
		if (ret)
			goto err;
	}
	ret = tap_set_offload(v->tap, features);
	if (ret)
		goto err;

	table = mem_table(mem);
	if (!table) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned int i = 0; i < npairs; i++) {
		ret = pair_configure(v, i, &pairs[i], table, packed,
				     base ? base + 2 * i : NULL);
		if (ret)
			break;
		v->nconfigured = i + 1;
	}
	free(table);
	if (ret)
		goto err_stop;

	ret = vhost_net_set_pairs(v,
		features & (1ULL << VIRTIO_NET_F_MQ) ? 1 : npairs);
	if (ret)
		goto err_stop;
	log_debug(v->name, "vhost-net on %s: %u pair(s) set up, %u served, "
		  "features 0x%" PRIx64, v->tap->name, v->nconfigured,
		  v->nattached, v->acked);
	return 0;

err_stop:
	vhost_net_stop(v);
err:
	v->mem = NULL;
	return ret;
}

static int vhost_net_start(void *be, const struct guest_mem *mem,
			   uint64_t features, const struct net_pair_io *pairs,
			   unsigned int npairs)
{
	return vhost_net_resume(be, mem, features, pairs, npairs, NULL);
}

/* VHOST_GET_VRING_BASE stops each ring (vring_unbind): the kernel's
 * worker has finished with it when the ioctl returns. A ring continues
 * after the last chain vhost returned: a packed ring's used index, the
 * high half of what GET_VRING_BASE gave; a split ring's used index in
 * guest RAM. */
static int vhost_net_pause(void *be, uint16_t *base)
{
	struct vhost_net *v = be;
	bool packed = v->acked & (1ULL << VIRTIO_F_RING_PACKED);

	for (unsigned int i = 0; i < v->nconfigured; i++) {
		struct vhost_net_pair *p = &v->pairs[i];
		const struct virtio_queue_io *io[2] = { &p->io.rx, &p->io.tx };

		pair_unconfigure(v, i);
		for (unsigned int t = 0; t < 2; t++) {
			const uint16_t *used =
				guest_mem_ptr(v->mem, io[t]->device + 2, 2);

			if (packed)
				base[2 * i + t] = virtq_base_from_vhost(
					true, (uint16_t)(p->last_base[t] >> 16));
			else
				base[2 * i + t] = used ? le16toh(*used) : 0;
		}
	}
	vhost_net_stop(v);
	return 0;
}

const struct net_backend_ops vhost_net_ops = {
	.name = "vhost",
	.features = vhost_net_features,
	.start = vhost_net_start,
	.stop = vhost_net_stop,
	.set_pairs = vhost_net_set_pairs,
	.pause = vhost_net_pause,
	.resume = vhost_net_resume,
};

/* --- lifetime ----------------------------------------------------------- */

static int vhost_open(struct vhost_net *v, unsigned int i)
{
	struct vhost_net_pair *p = &v->pairs[i];
	uint64_t features;
	int ret;

	p->fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	if (p->fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO) {
			log_warn(v->name, "/dev/vhost-net: %s (load the "
				 "vhost_net module, or use vhost=off)",
				 strerror(-ret));
			return -ENOENT;
		}
		log_warn(v->name, "/dev/vhost-net: %s%s", strerror(-ret),
			 ret == -EACCES || ret == -EPERM ?
				 " (tern needs read-write access to it)" : "");
		return ret;
	}
	/* Ties the instance to this process's memory and starts its
	 * worker thread. */
	ret = vioctl(p->fd, VHOST_SET_OWNER, NULL);
	if (ret) {
		log_err(v->name, "pair %u: VHOST_SET_OWNER: %s", i,
			strerror(-ret));
		return ret;
	}
	ret = vioctl(p->fd, VHOST_GET_FEATURES, &features);
	if (ret) {
		log_err(v->name, "pair %u: VHOST_GET_FEATURES: %s", i,
			strerror(-ret));
		return ret;
	}
	v->vhost_features = i == 0 ? features : v->vhost_features & features;
	for (int t = 0; t < 2; t++) {
		p->err_fd[t] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->err_fd[t] < 0) {
			ret = -errno;
			log_err(v->name, "pair %u: eventfd: %s", i,
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vhost_net_create(struct vhost_net *v, const char *name, struct tap *tap)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->log_fd = -1;
	for (unsigned int i = 0; i < NET_MAX_PAIRS; i++)
		v->pairs[i] = (struct vhost_net_pair){
			.fd = -1, .err_fd = { -1, -1 } };
	snprintf(v->name, sizeof(v->name), "%s", name);
	if (!tap->nqueues || tap->nqueues > NET_MAX_PAIRS) {
		log_err(v->name, "tap %s has %u queues", tap->name,
			tap->nqueues);
		return -EINVAL;
	}
	v->tap = tap;
	v->npairs = tap->nqueues;
	for (unsigned int i = 0; i < v->npairs; i++) {
		ret = vhost_open(v, i);
		if (ret)
			goto err;
	}
	log_debug(v->name, "vhost-net: %u instance(s), features 0x%" PRIx64,
		  v->npairs, v->vhost_features);
	return 0;

err:
	vhost_net_destroy(v);
	return ret;
}

void vhost_net_destroy(struct vhost_net *v)
{
	vhost_net_stop(v);
	for (unsigned int i = 0; i < NET_MAX_PAIRS; i++) {
		struct vhost_net_pair *p = &v->pairs[i];

		/* Closing the last fd also ends the worker thread. */
		if (p->fd >= 0)
			close(p->fd);
		for (int t = 0; t < 2; t++)
			if (p->err_fd[t] >= 0)
				close(p->err_fd[t]);
		*p = (struct vhost_net_pair){ .fd = -1, .err_fd = { -1, -1 } };
	}
	if (v->log_fd >= 0)
		close(v->log_fd);
	v->log_fd = -1;
	v->npairs = 0;
}

/* --- dirty logging ------------------------------------------------------ */

/* Re-issues features and ring addresses of running pairs so a change of
 * v->logging takes effect now. */
static int log_apply_running(struct vhost_net *v)
{
	uint64_t features = v->acked & ~(1ULL << VHOST_F_LOG_ALL);
	bool packed = v->acked & (1ULL << VIRTIO_F_RING_PACKED);

	if (v->logging)
		features |= 1ULL << VHOST_F_LOG_ALL;
	for (unsigned int i = 0; i < v->nconfigured; i++) {
		struct vhost_net_pair *p = &v->pairs[i];
		int ret;

		if (!p->configured)
			continue;
		ret = vioctl(p->fd, VHOST_SET_FEATURES, &features);
		if (ret) {
			log_err(v->name, "pair %u: VHOST_SET_FEATURES 0x%"
				PRIx64 ": %s", i, features, strerror(-ret));
			return ret;
		}
		for (unsigned int t = 0; t < 2; t++) {
			struct vhost_vring_addr a;
			char who[48];

			ret = vring_addr(v, i, t, pair_queue(&p->io, t), packed,
					 &a);
			if (!ret)
				ret = vioctl(p->fd, VHOST_SET_VRING_ADDR, &a);
			if (ret) {
				qname(who, sizeof(who), v, i, t);
				log_err(who, "VHOST_SET_VRING_ADDR (log %s): %s",
					v->logging ? "on" : "off",
					strerror(-ret));
				return ret;
			}
		}
	}
	v->acked = features;
	return 0;
}

static int log_set_base(struct vhost_net *v, uint64_t base, int fd)
{
	for (unsigned int i = 0; i < v->npairs; i++) {
		int ret = vioctl(v->pairs[i].fd, VHOST_SET_LOG_BASE, &base);

		if (!ret)
			ret = vioctl(v->pairs[i].fd, VHOST_SET_LOG_FD, &fd);
		if (ret) {
			log_err(v->name, "pair %u: VHOST_SET_LOG_%s: %s", i,
				fd < 0 ? "FD off" : "BASE/FD", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vhost_net_set_log(struct vhost_net *v, void *log_base, uint64_t size)
{
	int ret;

	if (!(v->vhost_features & (1ULL << VHOST_F_LOG_ALL))) {
		log_err(v->name, "this vhost-net offers no dirty logging");
		return -ENOTSUP;
	}
	if (!log_base) {
		if (!v->logging)
			return 0;
		v->logging = false;
		ret = log_apply_running(v);
		if (!ret)
			ret = log_set_base(v, 0, -1);
		v->log_base = v->log_size = 0;
		return ret;
	}
	if ((uintptr_t)log_base & 7) {
		log_err(v->name, "dirty log at %p is not 8-byte aligned",
			log_base);
		return -EINVAL;
	}
	if (v->mem && size < log_bytes_needed(v->mem)) {
		log_err(v->name, "dirty log of %" PRIu64 " bytes, guest RAM "
			"needs %" PRIu64, size, log_bytes_needed(v->mem));
		return -EINVAL;
	}
	if (v->log_fd < 0) {
		v->log_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (v->log_fd < 0) {
			ret = -errno;
			log_err(v->name, "eventfd for the dirty log: %s",
				strerror(-ret));
			return ret;
		}
	}
	ret = log_set_base(v, (uintptr_t)log_base, v->log_fd);
	if (ret)
		return ret;
	v->log_base = (uintptr_t)log_base;
	v->log_size = size;
	v->logging = true;
	ret = log_apply_running(v);
	if (ret) {
		v->logging = false;
		log_apply_running(v);
	}
	return ret;
}
