/* --net model=e1000 (pc): an Intel 82540EM over a single-queue tap, its
 * INTA through the PIIX routing of the slot it lands in. */
#include "vmm/devices.h"

#include "core/log.h"
#include "core/opts.h"
#include "core/sandbox.h"
#include "net/e1000.h"
#include "platform/piix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct nic {
	struct tap tap;
	struct e1000_device e;
};

static bool e1000_selects(const struct dev_config *c)
{
	return c->net.model == NET_MODEL_E1000;
}

/* One queue pair and no vhost: say so, do not ignore. */
static int e1000_check(const struct dev_config *c, const char *arg, FILE *err)
{
	const struct net_words *n = &c->net;

	if (n->socket[0] || n->dev.pairs > 1 || n->vhost == VHOST_ON ||
	    n->dev.packed || n->dev.mtu)
		return opts_error(err, "net", "'%s': model=e1000 takes only "
				  "tap= and mac=", arg);
	return 0;
}

static unsigned int e1000_needs(const struct dev_config *c, int numa_node)
{
	return SANDBOX_NEED_TAP;
}

static void nic_release(void *owner)
{
	struct nic *n = owner;

	tap_close(&n->tap);
	free(n);
}

static int e1000_kind_create(const struct dev_config *c, const char *id,
			     const struct dev_env *env, struct device **d)
{
	struct nic *n;
	int devfn, ret;

	if (!env->piix) {
		log_err(id, "model=e1000 needs --machine pc");
		return -ENOTSUP;
	}
	devfn = pci_bus_free_devfn(env->host->pci);
	if (devfn < 0) {
		log_err(id, "no free PCI slot");
		return devfn;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	ret = tap_open(&n->tap, c->net.tap, 1);
	if (ret) {
		log_err(id, "%s", strerror(-ret));
		free(n);
		return ret;
	}
	e1000_device_init(&n->e, id, c->net.dev.mac, n->tap.fds[0],
			  n->tap.vnet_hdr_len, devfn,
			  piix_intx_line(env->piix, (uint8_t)devfn, 0));
	n->e.release = nic_release;
	n->e.owner = n;
	log_info(id, "e1000 on tap %s, 00:%02x.0", n->tap.name, devfn >> 3);
	*d = &n->e.dev;
	return 0;
}

const struct device_kind dev_kind_e1000 = {
	.name = "e1000",
	.option = "net",
	.max = VM_MAX_NETS,
	.hotplug = true,
	.selects = e1000_selects,
	.check = e1000_check,
	.sandbox_needs = e1000_needs,
	.create = e1000_kind_create,
};
