/* vdrive's devices: see backends.h. */
#include "bench/vdrive/backends.h"

#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* --- vhost-user ----------------------------------------------------------- */

int vd_vhost_user_open(struct vd_vhost_user *v, const char *sock, pid_t pid)
{
	memset(v, 0, sizeof(*v));
	v->pid = pid;
	return vu_front_init(&v->front, "vdrive", sock, NULL);
}

void vd_vhost_user_close(struct vd_vhost_user *v)
{
	vu_front_destroy(&v->front);
}

static int vu_features(void *ctx, uint64_t *features)
{
	struct vd_vhost_user *v = ctx;

	*features = v->front.backend_features;
	return 0;
}

static int vu_capacity(void *ctx, uint64_t *bytes)
{
	struct vd_vhost_user *v = ctx;
	uint64_t sectors;
	int ret;

	ret = vu_front_get_config(&v->front, 0, (uint8_t *)&sectors, 8);
	if (ret)
		return ret;
	*bytes = le64toh(sectors) * VD_SECTOR;
	return 0;
}

static int vu_start(void *ctx, const struct guest_mem *mem, uint64_t features,
		    const struct virtio_queue_io *q, unsigned int nq)
{
	struct vd_vhost_user *v = ctx;
	int ret;

	if (nq > v->front.queue_num) {
		log_err("vdrive", "%u queues: the backend has %u", nq,
			v->front.queue_num);
		return -ERANGE;
	}
	ret = vu_front_start(&v->front, mem, features, q, nq);
	if (!ret && !vu_front_connected(&v->front))
		ret = -ECONNRESET;
	v->started = !ret;
	return ret;
}

static void vu_stop(void *ctx)
{
	struct vd_vhost_user *v = ctx;

	if (v->started)
		vu_front_stop(&v->front);
	v->started = false;
}

static int vu_cpu_ns(void *ctx, uint64_t driver_ns, uint64_t *ns)
{
	struct vd_vhost_user *v = ctx;

	if (v->pid <= 0)
		return -ENOTSUP;
	*ns = vd_cpu_process_ns(v->pid);
	return *ns ? 0 : -ESRCH;
}

const struct vd_backend_ops vd_vhost_user_ops = {
	.name = "vhost-user",
	.features = vu_features,
	.capacity = vu_capacity,
	.start = vu_start,
	.stop = vu_stop,
	.cpu_ns = vu_cpu_ns,
};

/* --- in-process ----------------------------------------------------------- */

int vd_inproc_open(struct vd_inproc *b, const struct blk_config *cfg)
{
	int ret;

	/* A run just before on the same image may still hold its lock for a
	 * moment: the kernel drops an io_uring's registered file (and with it
	 * the lock) after the ring is gone. Wait up to 5 s for that. */
	for (int i = 0; i < 250; i++) {
		memset(b, 0, sizeof(*b));
		/* Guest RAM comes with the run: virtio_blk_create keeps the
		 * pointer and uses it only when queues start. */
		ret = virtio_blk_create(&b->blk, "vdrive-blk", cfg, NULL);
		if (ret != -EBUSY)
			break;
		usleep(20000);
	}
	return ret;
}

void vd_inproc_close(struct vd_inproc *b)
{
	virtio_blk_destroy(&b->blk);
}

static int ip_features(void *ctx, uint64_t *features)
{
	struct vd_inproc *b = ctx;

	*features = virtio_blk_ops.features(&b->blk);
	return 0;
}

static int ip_capacity(void *ctx, uint64_t *bytes)
{
	struct vd_inproc *b = ctx;
	uint64_t sectors = 0;

	virtio_blk_ops.config_read(&b->blk, 0, (uint8_t *)&sectors, 8);
	*bytes = le64toh(sectors) * VD_SECTOR;
	return 0;
}

static int ip_start(void *ctx, const struct guest_mem *mem, uint64_t features,
		    const struct virtio_queue_io *q, unsigned int nq)
{
	struct vd_inproc *b = ctx;
	int ret;

	b->blk.mem = mem;
	ret = virtio_blk_ops.start(&b->blk, features, q, nq);
	b->started = !ret;
	return ret;
}

static void ip_stop(void *ctx)
{
	struct vd_inproc *b = ctx;

	if (b->started)
		virtio_blk_ops.stop(&b->blk);
	b->started = false;
}

/* The device's threads live in this process: all of it less the driver. */
static int ip_cpu_ns(void *ctx, uint64_t driver_ns, uint64_t *ns)
{
	uint64_t all = vd_cpu_process_ns(0);

	*ns = all > driver_ns ? all - driver_ns : 0;
	return all ? 0 : -EIO;
}

static void ip_engine_stats(void *ctx, struct vd_engine_stats *s)
{
	struct vd_inproc *b = ctx;

	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < b->blk.cfg.queues; i++) {
		struct uring_engine_stats e;

		virtio_blk_queue_stats(&b->blk, i, &e);
		s->submitted += e.submitted;
		s->fixed += e.fixed;
		s->enters += e.enters;
		s->kicks += e.kicks;
	}
	s->valid = true;
}

const struct vd_backend_ops vd_inproc_ops = {
	.name = "in-process",
	.features = ip_features,
	.capacity = ip_capacity,
	.start = ip_start,
	.stop = ip_stop,
	.cpu_ns = ip_cpu_ns,
	.engine_stats = ip_engine_stats,
};
