/* --disk path=FILE: virtio-blk (virtio/blk.c, io_uring queue threads)
 * behind the virtio-pci transport. */
#include "vmm/devices.h"

#include "core/counters.h"
#include "core/log.h"
#include "core/opts.h"
#include "core/sandbox.h"
#include "virtio/pci.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vblk {
	struct virtio_blk blk;
	struct virtio_pci t;
	char path[DEV_PATH_LEN];
};

static bool vblk_selects(const struct dev_config *c)
{
	return !c->disk.socket[0] && c->disk.iface == DISK_IF_VIRTIO;
}

/* A local disk: its image must be there (vhost-user's words are the
 * other kind's). */
int dev_disk_check_path(const struct dev_config *c, const char *arg,
			FILE *err)
{
	static const char *const path[] = { "path", NULL };

	if (!devices_first_seen(c, path))
		return opts_error(err, "disk", "'%s' has no path=FILE or "
				  "vhost-user=SOCKET", arg);
	return devices_check_file("disk", c->disk.path, err);
}

/* A virtio disk: a local image, and no CD-ROM (ATAPI is IDE's). */
static int vblk_check(const struct dev_config *c, const char *arg, FILE *err)
{
	if (c->disk.media == DISK_MEDIA_CDROM)
		return opts_error(err, "disk", "media=cdrom is an IDE (ATAPI) "
				  "device: add if=ide");
	for (unsigned int i = 0; i < c->disk.d.naffinity; i++)
		if (c->disk.d.affinity[i].index >= c->disk.d.queues)
			return opts_error(err, "disk", "queue-affinity: no "
					  "queue %u: the disk's are 0 to %u "
					  "(queues=%u)",
					  c->disk.d.affinity[i].index,
					  c->disk.d.queues - 1,
					  c->disk.d.queues);
	return dev_disk_check_path(c, arg, err);
}

static unsigned int vblk_needs(const struct dev_config *c, int numa_node)
{
	/* I/O threads follow guest RAM's node or their queue-affinity. */
	return SANDBOX_NEED_DISK |
	       (c->disk.d.numa_node >= 0 || numa_node >= 0 ||
			c->disk.d.naffinity ? SANDBOX_NEED_NUMA : 0);
}

static void vblk_set_bus(void *owner, struct virtio_bus bus)
{
	virtio_blk_set_bus(&((struct vblk *)owner)->blk, bus);
}

static void vblk_release(void *owner)
{
	struct vblk *v = owner;

	virtio_blk_destroy(&v->blk);
	free(v);
}

static int vblk_create(const struct dev_config *c, const char *id,
		       const struct dev_env *env, struct device **d)
{
	struct vblk *v = calloc(1, sizeof(*v));
	struct blk_config bc = c->disk.d;
	int ret;

	if (!v)
		return -ENOMEM;
	memcpy(v->path, c->disk.path, sizeof(v->path));
	bc.path = v->path;
	if (bc.numa_node < 0)
		bc.numa_node = env->numa_node;
	ret = virtio_blk_create(&v->blk, id, &bc, env->host->mem);
	if (ret) {
		log_err(id, "%s: %s", bc.path, strerror(-ret));
		free(v);
		return ret;
	}
	virtio_pci_device_init(&v->t, id, &(struct virtio_pci_model){
		.ops = &virtio_blk_ops, .dev = &v->blk, .nqueues = bc.queues,
		.queue_size = bc.queue_size, .set_bus = vblk_set_bus,
		.release = vblk_release, .owner = v });
	*d = &v->t.device;
	return 0;
}

/* Per queue ("queue0.requests") and the device's sums ("requests"). */
static void vblk_counters(struct device *d, dev_counter_fn *put, void *ctx)
{
	static const char *const names[CTR_N] = CTR_NAMES;
	const struct vblk *v = (const struct vblk *)((char *)d -
		offsetof(struct vblk, t.device));
	uint64_t sum[CTR_N] = { 0 };

	for (unsigned int q = 0; q < v->blk.cfg.queues; q++) {
		uint64_t val[CTR_N];
		char key[48];

		virtio_blk_queue_counters(&v->blk, q, val);
		for (unsigned int k = 0; k < CTR_N; k++) {
			snprintf(key, sizeof(key), "queue%u.%s", q, names[k]);
			put(ctx, key, val[k]);
			sum[k] += val[k];
		}
	}
	for (unsigned int k = 0; k < CTR_N; k++)
		put(ctx, names[k], sum[k]);
}

const struct device_kind dev_kind_virtio_blk = {
	.name = "virtio-blk",
	.option = "disk",
	.max = VM_MAX_DISKS,
	.hotplug = true,
	.selects = vblk_selects,
	.check = vblk_check,
	.sandbox_needs = vblk_needs,
	.create = vblk_create,
	.counters = vblk_counters,
};
