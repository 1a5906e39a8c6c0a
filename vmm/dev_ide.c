/* --disk path=FILE,if=ide: a drive of the PIIX IDE function (pc). The
 * controller is the machine's (vmm/machine.c builds it with every IDE
 * disk at boot, in order: primary master, primary slave, secondary
 * master, secondary slave); a drive is not added to a running VM, as on
 * the real board. */
#include "vmm/devices.h"

#include "core/log.h"
#include "core/opts.h"
#include "core/sandbox.h"

#include <errno.h>

static bool ided_selects(const struct dev_config *c)
{
	return !c->disk.socket[0] && c->disk.iface == DISK_IF_IDE;
}

/* Words IDE has no use for. */
static int ided_check(const struct dev_config *c, const char *arg, FILE *err)
{
	static const char *const virtio_only[] = { "queues", "queue-size",
						   "packed", "serial", "poll-us",
						   "queue-affinity", NULL };
	const char *word = devices_first_seen(c, virtio_only);

	if (word)
		return opts_error(err, "disk", "%s= is for virtio disks, not "
				  "if=ide", word);
	return dev_disk_check_path(c, arg, err);
}

static unsigned int ided_needs(const struct dev_config *c, int numa_node)
{
	return SANDBOX_NEED_DISK;
}

static int ided_create(const struct dev_config *c, const char *id,
		      const struct dev_env *env, struct device **d)
{
	log_err(id, "IDE disks are the machine's, fixed at boot");
	return -ENOTSUP;
}

const struct device_kind dev_kind_ide = {
	.name = "ide-disk",
	.option = "disk",
	.max = VM_MAX_IDE,
	.hotplug = false,
	.selects = ided_selects,
	.check = ided_check,
	.sandbox_needs = ided_needs,
	.create = ided_create,
};
