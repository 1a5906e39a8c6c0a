/* --disk vhost-user=SOCKET: a virtio-blk whose queues another process
 * serves (vhost/user_blk_dev.c) behind the virtio-pci transport. */
#include "vmm/devices.h"

#include "core/log.h"
#include "core/opts.h"
#include "core/sandbox.h"
#include "vhost/user_blk_dev.h"
#include "virtio/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct vublk {
	struct vu_blk_dev dev;
	struct virtio_pci t;
	char socket[DEV_SOCKET_MAX + 1];
};

static bool vublk_selects(const struct dev_config *c)
{
	return c->disk.socket[0];
}

/* What the backend decides is not tern's to set. */
static int vublk_check(const struct dev_config *c, const char *arg, FILE *err)
{
	static const char *const path[] = { "path", NULL };
	static const char *const local_only[] = { "if", "direct", "readonly",
						  "packed", "serial", "media",
						  "bootindex", "poll-us",
						  "queue-affinity", NULL };
	const char *word;

	if (devices_first_seen(c, path))
		return opts_error(err, "disk", "'%s': path= or vhost-user=, "
				  "not both", arg);
	word = devices_first_seen(c, local_only);
	if (word)
		return opts_error(err, "disk", "%s= is the vhost-user backend's "
				  "to decide, not tern's", word);
	return 0;
}

static unsigned int vublk_needs(const struct dev_config *c, int numa_node)
{
	return SANDBOX_NEED_VHOST_USER;
}

static bool vublk_shared(const struct dev_config *c)
{
	return true;
}

static void vublk_release(void *owner)
{
	struct vublk *v = owner;

	vu_blk_dev_destroy(&v->dev);
	free(v);
}

static int vublk_create(const struct dev_config *c, const char *id,
			const struct dev_env *env, struct device **d)
{
	static const char *const queues[] = { "queues", NULL };
	struct vublk *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	memcpy(v->socket, c->disk.socket, sizeof(v->socket));
	/* queues as given; 0 (unset): what the backend offers, capped by
	 * the vCPU count. */
	ret = vu_blk_dev_create(&v->dev, id, v->socket,
				devices_first_seen(c, queues) ? c->disk.d.queues
							      : 0,
				env->ncpus, env->host->mem, env->host->loop);
	if (ret) {
		free(v);
		return ret;
	}
	v->dev.front.events = env->host->events;
	virtio_pci_device_init(&v->t, id, &(struct virtio_pci_model){
		.ops = &vu_blk_dev_ops, .dev = &v->dev, .nqueues = v->dev.nq,
		.queue_size = BLK_DEFAULT_QUEUE_SIZE,
		.release = vublk_release, .owner = v });
	*d = &v->t.device;
	return 0;
}

const struct device_kind dev_kind_vhost_user_blk = {
	.name = "vhost-user-blk",
	.option = "disk",
	.max = VM_MAX_DISKS,
	.hotplug = true,
	.selects = vublk_selects,
	.check = vublk_check,
	.sandbox_needs = vublk_needs,
	.shared_memory = vublk_shared,
	.create = vublk_create,
};
