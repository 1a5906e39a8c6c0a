/* vhost-user-blk device model: see vhost/user_blk_dev.h. */
#include "vhost/user_blk_dev.h"

#include "core/log.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define F(b) (1ULL << (b))
#define BLK_F_MQ 12
#define BLK_CFG_NUM_QUEUES 34		/* le16 in virtio_blk_config */

/* What the transport can carry: the device's own bits (0-23), indirect
 * descriptors, event index, VERSION_1. Not packed rings: a ring resumed
 * after a reconnect starts from the used index the guest sees, which a
 * packed ring does not give back in one read. */
#define VU_BLK_TRANSPORT_FEATURES                                              \
	(0xffffffULL | F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX) |    \
	 F(VIRTIO_F_VERSION_1))

static uint64_t dev_features(void *dev)
{
	return ((struct vu_blk_dev *)dev)->features;
}

static void dev_config_read(void *dev, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	struct vu_blk_dev *d = dev;

	if (off < sizeof(d->config) && len <= sizeof(d->config) - off)
		memcpy(data, d->config + off, len);
	else
		memset(data, 0, len);
}

/* Only `writeback` is writable in virtio-blk's config, and only with
 * CONFIG_WCE, which is not passed on: nothing to forward. */
static void dev_config_write(void *dev, uint32_t off, const uint8_t *data,
			     uint32_t len)
{
	log_debug(((struct vu_blk_dev *)dev)->name,
		  "config write at %u (%u bytes) ignored", off, len);
}

static int dev_start(void *dev, uint64_t features,
		     const struct virtio_queue_io *q, unsigned int nq)
{
	struct vu_blk_dev *d = dev;

	return vu_front_start(&d->front, d->mem, features, q, nq);
}

static void dev_stop(void *dev)
{
	vu_front_stop(&((struct vu_blk_dev *)dev)->front);
}

static int dev_pause(void *dev, uint16_t *base)
{
	return vu_front_pause(&((struct vu_blk_dev *)dev)->front, base);
}

/* The positions are in guest RAM, where the backend reads them. */
static int dev_resume(void *dev, uint64_t features,
		      const struct virtio_queue_io *q, unsigned int nq,
		      const uint16_t *base)
{
	struct vu_blk_dev *d = dev;

	return vu_front_resume(&d->front, d->mem, features, q, nq);
}

const struct virtio_dev_ops vu_blk_dev_ops = {
	.device_id = 2,
	.config_size = VU_BLK_CONFIG_SIZE,
	.features = dev_features,
	.config_read = dev_config_read,
	.config_write = dev_config_write,
	.start = dev_start,
	.stop = dev_stop,
	.pause = dev_pause,
	.resume = dev_resume,
};

int vu_blk_dev_create(struct vu_blk_dev *d, const char *name,
		      const char *socket, unsigned int queues,
		      unsigned int max_queues, const struct guest_mem *mem,
		      struct loop *loop)
{
	uint16_t nq16;
	int ret;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->mem = mem;
	ret = vu_front_init(&d->front, d->name, socket, loop);
	if (ret)
		return ret;
	if (queues > d->front.queue_num) {
		log_err(name, "queues=%u, but %s offers %u", queues, socket,
			d->front.queue_num);
		ret = -EINVAL;
		goto err;
	}
	d->nq = queues ? queues : d->front.queue_num;
	if (!queues && max_queues && d->nq > max_queues)
		d->nq = max_queues;
	/* Capacity and limits live in the backend: without CONFIG there is
	 * no honest config space to show the driver. */
	ret = vu_front_get_config(&d->front, 0, d->config, sizeof(d->config));
	if (ret) {
		log_err(name, "reading the backend's config space: %s%s",
			strerror(-ret), ret == -ENOTSUP ?
			" (it lacks the CONFIG protocol feature)" : "");
		goto err;
	}
	d->features = d->front.backend_features & VU_BLK_TRANSPORT_FEATURES;
	if (!(d->features & F(VIRTIO_F_VERSION_1))) {
		log_err(name, "the backend does not offer VERSION_1");
		ret = -ENOTSUP;
		goto err;
	}
	if (d->nq > 1 && !(d->features & F(BLK_F_MQ))) {
		log_err(name, "%u queues but the backend has no VIRTIO_BLK_F_MQ",
			d->nq);
		ret = -ENOTSUP;
		goto err;
	}
	/* The driver sees the queue count tern chose. */
	nq16 = htole16((uint16_t)d->nq);
	memcpy(d->config + BLK_CFG_NUM_QUEUES, &nq16, 2);
	log_info(name, "vhost-user-blk on %s: %u queue(s)", socket, d->nq);
	return 0;
err:
	vu_front_destroy(&d->front);
	return ret;
}

void vu_blk_dev_destroy(struct vu_blk_dev *d)
{
	vu_front_stop(&d->front);
	vu_front_destroy(&d->front);
}
