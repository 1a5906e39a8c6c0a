/* vhost-user-blk device glue: the backend library's ops table mapped onto
 * virtio/blk.c's queue start/stop and config space. Every chain goes
 * through vu_queue_pop/vu_queue_push so inflight tracking sees it. */
#include "vhost/user_blk.h"

#include "core/log.h"
#include "virtio/queue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int ring_pop(void *ctx, struct virtq_chain *c)
{
	return vu_queue_pop(ctx, c);
}

static void ring_push(void *ctx, const struct virtq_chain *c, uint32_t len)
{
	vu_queue_push(ctx, c, len);
}

static const struct blk_ring_ops vu_blk_ring_ops = {
	.pop = ring_pop,
	.push = ring_push,
};

static int vu_blk_queue_start(void *opaque, unsigned int i, struct virtq *vq,
			      int kick_fd, int call_fd)
{
	struct vu_blk *vb = opaque;
	struct vu_queue *q = &vb->vu.queues[i];
	struct blk_ring r = {
		.vq = vq,
		.kick_fd = kick_fd,
		.call_fd = call_fd,
		/* Stable while the queue runs: a new one restarts it. */
		.err_fd = q->err_fd,
		.ops = &vu_blk_ring_ops,
		.ctx = q,
		.peer_fds = true,	/* the front-end's eventfds */
	};
	int ret;

	if (kick_fd < 0) {
		log_err(q->name, "no kick fd: polling a ring is not supported");
		return -EINVAL;
	}
	ret = virtio_blk_queue_start(&vb->blk, i, &r);
	if (ret)
		log_err(q->name, "cannot start: %s", strerror(-ret));
	return ret;
}

static void vu_blk_queue_stop(void *opaque, unsigned int i)
{
	struct vu_blk *vb = opaque;

	virtio_blk_queue_stop(&vb->blk, i);
}

static void vu_blk_call_replaced(void *opaque, unsigned int i)
{
	struct vu_blk *vb = opaque;

	virtio_blk_queue_call_replaced(&vb->blk, i);
}

/* Reads past the model's config space (a front-end built with newer
 * headers asks for more) read as zero: the fields of features not
 * offered. */
static int vu_blk_get_config(void *opaque, uint32_t offset, uint8_t *buf,
			     uint32_t len)
{
	struct vu_blk *vb = opaque;
	uint32_t size = virtio_blk_ops.config_size;

	if (offset > VU_CONFIG_MAX || len > VU_CONFIG_MAX - offset)
		return -EINVAL;
	memset(buf, 0, len);
	if (offset < size)
		virtio_blk_ops.config_read(&vb->blk, offset, buf,
					   len < size - offset ? len
							       : size - offset);
	return 0;
}

int vu_blk_create(struct vu_blk *vb, const char *name,
		  const struct blk_config *cfg)
{
	struct blk_config c = *cfg;
	int ret;

	memset(vb, 0, sizeof(*vb));
	snprintf(vb->name, sizeof(vb->name), "%s", name);
	if (!c.queues || c.queues > VU_MAX_QUEUES) {
		log_err(vb->name, "%u queues: 1..%u", c.queues, VU_MAX_QUEUES);
		return -EINVAL;
	}
	c.queue_size = VIRTQ_MAX_SIZE;
	c.packed = true;
	/* The rings' fds are the front-end's: their queues stop by signal
	 * if need be. */
	ret = virtio_blk_stop_signal_init();
	if (ret) {
		log_err(vb->name, "stop signal: %s", strerror(-ret));
		return ret;
	}
	ret = virtio_blk_create(&vb->blk, vb->name, &c, NULL);
	if (ret) {
		log_err(vb->name, "%s: %s", c.path, strerror(-ret));
		return ret;
	}
	vb->ops = (struct vu_backend_ops){
		.features = virtio_blk_ops.features(&vb->blk),
		.protocol_features = VU_BACKEND_PROTOCOL_FEATURES,
		.max_queues = c.queues,
		.queue_start = vu_blk_queue_start,
		.queue_stop = vu_blk_queue_stop,
		.get_config = vu_blk_get_config,
		.call_replaced = vu_blk_call_replaced,
	};
	return 0;
}

int vu_blk_connect(struct vu_blk *vb, int sock)
{
	int ret;

	if (vb->connected) {
		close(sock);
		return -EBUSY;
	}
	ret = vu_dev_init(&vb->vu, vb->name, sock, &vb->ops, vb);
	if (ret) {
		close(sock);
		return ret;
	}
	vb->connected = true;
	log_info(vb->name, "front-end connected");
	return 0;
}

int vu_blk_socket(const struct vu_blk *vb)
{
	return vb->connected ? vb->vu.sock : -1;
}

int vu_blk_dispatch(struct vu_blk *vb)
{
	int ret;

	if (!vb->connected)
		return -ENOTCONN;
	while ((ret = vu_dispatch(&vb->vu)) == 0)
		;
	if (ret == -EAGAIN)
		return 0;
	if (ret == -ECONNRESET)
		log_info(vb->name, "front-end disconnected");
	else
		log_err(vb->name, "closing the connection: %s", strerror(-ret));
	vu_blk_disconnect(vb);
	return ret;
}

void vu_blk_disconnect(struct vu_blk *vb)
{
	if (!vb->connected)
		return;
	vu_dev_close(&vb->vu);
	vb->connected = false;
}

void vu_blk_destroy(struct vu_blk *vb)
{
	vu_blk_disconnect(vb);
	virtio_blk_destroy(&vb->blk);
}
