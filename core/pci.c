#include "core/pci.h"

#include "core/bytes.h"
#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <string.h>

#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_CAP_START 0x40

int pci_bus_init(struct pci_bus *bus, struct vm_control ctl)
{
	memset(bus, 0, sizeof(*bus));
	bus->ctl = ctl;
	return -pthread_mutex_init(&bus->lock, NULL);
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

int pci_bus_free_devfn(const struct pci_bus *bus)
{
	for (int devfn = 0; devfn < 256; devfn += 8)
		if (!bus->devs[devfn])
			return devfn;
	return -ENOSPC;
}

int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, int devfn)
{
	int ret = 0;

	/* Locked: on a running VM (hotplug) vCPUs read config space. */
	pthread_mutex_lock(&bus->lock);
	if (devfn < 0)
		devfn = pci_bus_free_devfn(bus);
	if (devfn < 0)
		ret = devfn;
	else if (devfn > 255 || bus->devs[devfn])
		ret = -EEXIST;
	if (!ret) {
		d->devfn = (uint8_t)devfn;
		bus->devs[devfn] = d;
	}
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

void pci_bus_remove(struct pci_bus *bus, struct pci_dev *d)
{
	pthread_mutex_lock(&bus->lock);
	if (bus->devs[d->devfn] == d)
		bus->devs[d->devfn] = NULL;
	pthread_mutex_unlock(&bus->lock);
}

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor,
		  uint16_t device, uint32_t class_code, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	put_le16(&d->cfg[0x00], vendor);
	put_le16(&d->cfg[0x02], device);
	d->cfg[0x08] = revision;
	d->cfg[0x09] = (uint8_t)class_code;
	d->cfg[0x0a] = (uint8_t)(class_code >> 8);
	d->cfg[0x0b] = (uint8_t)(class_code >> 16);
	/* Command: I/O, memory, bus master, INTx disable are the guest's. */
	put_le16(&d->wmask[PCI_COMMAND], 0x0407);
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_next = PCI_CAP_START;
}

int pci_dev_set_bar(struct pci_dev *d, int bar, enum pci_bar_kind kind,
		    uint64_t size)
{
	uint32_t flags;
	uint64_t mask;

	if (bar < 0 || bar >= PCI_NUM_BARS || size < 4 || (size & (size - 1)))
		return -EINVAL;
	if (kind == PCI_BAR_MEM64 && bar == PCI_NUM_BARS - 1)
		return -EINVAL;
	if (kind != PCI_BAR_IO && size < 16)
		return -EINVAL;
	d->bar_kind[bar] = kind;
	d->bar_size[bar] = size;
	flags = kind == PCI_BAR_IO ? 0x1 : kind == PCI_BAR_MEM64 ? 0x4 : 0x0;
	mask = ~(size - 1);
	d->cfg[PCI_BAR0 + 4 * bar] = (uint8_t)flags;
	/* The size shows as the bits that do not stick when the guest
	 * writes all ones; the low flag bits are read-only. */
	for (int i = 0; i < 4; i++)
		d->wmask[PCI_BAR0 + 4 * bar + i] =
			(uint8_t)((mask & (kind == PCI_BAR_IO ? ~3ULL : ~15ULL))
				  >> (8 * i));
	if (kind == PCI_BAR_MEM64)
		for (int i = 0; i < 4; i++)
			d->wmask[PCI_BAR0 + 4 * (bar + 1) + i] =
				(uint8_t)(mask >> (32 + 8 * i));
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, uint8_t len)
{
	int off = d->cap_next;
	uint8_t *link;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return -ENOSPC;
	/* Walk to the end of the list to link the new one in. */
	link = &d->cfg[PCI_CAP_PTR];
	while (*link)
		link = &d->cfg[*link + 1];
	*link = (uint8_t)off;
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_next = (uint8_t)((off + len + 3) & ~3);
	return off;
}

/* What a BAR decodes now, from its register and the command bits. */
static uint64_t bar_decoded(const struct pci_dev *d, int bar)
{
	uint16_t cmd = d->cfg[PCI_COMMAND] | d->cfg[PCI_COMMAND + 1] << 8;
	uint64_t addr;

	switch (d->bar_kind[bar]) {
	case PCI_BAR_IO:
		if (!(cmd & PCI_COMMAND_IO))
			return 0;
		addr = get_le32(&d->cfg[PCI_BAR0 + 4 * bar]) & ~3U;
		break;
	case PCI_BAR_MEM32:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return 0;
		addr = get_le32(&d->cfg[PCI_BAR0 + 4 * bar]) & ~15U;
		break;
	case PCI_BAR_MEM64:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return 0;
		addr = (get_le32(&d->cfg[PCI_BAR0 + 4 * bar]) & ~15ULL) |
		       (uint64_t)get_le32(&d->cfg[PCI_BAR0 + 4 * bar + 4]) << 32;
		break;
	default:
		return 0;
	}
	/* All ones is the sizing pattern, not a place. */
	return addr == (~(d->bar_size[bar] - 1) &
			(d->bar_kind[bar] == PCI_BAR_MEM64 ? ~0ULL
							   : 0xffffffffULL))
		       ? 0 : addr;
}

uint32_t pci_cfg_read(struct pci_bus *bus, uint8_t devfn, uint32_t off,
		      uint32_t len)
{
	struct pci_dev *d;
	uint32_t v = 0;

	if (off >= PCI_CFG_SIZE || len > 4 || off + len > PCI_CFG_SIZE)
		return 0xffffffff;
	pthread_mutex_lock(&bus->lock);
	d = bus->devs[devfn];
	if (!d)
		v = 0xffffffff >> (8 * (4 - len));
	else
		for (uint32_t i = 0; i < len; i++)
			v |= (uint32_t)d->cfg[off + i] << (8 * i);
	pthread_mutex_unlock(&bus->lock);
	return v;
}

void pci_cfg_write(struct pci_bus *bus, uint8_t devfn, uint32_t off,
		   uint32_t len, uint32_t val)
{
	uint64_t before[PCI_NUM_BARS];
	struct pci_dev *d;

	if (off >= PCI_CFG_SIZE || len > 4 || off + len > PCI_CFG_SIZE)
		return;
	pthread_mutex_lock(&bus->lock);
	d = bus->devs[devfn];
	if (!d)
		goto out;
	for (int b = 0; b < PCI_NUM_BARS; b++)
		before[b] = bar_decoded(d, b);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = d->wmask[off + i];

		d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) |
					    ((val >> (8 * i)) & m));
	}
	/* Status bits are write-one-to-clear; we raise none, so nothing. */
	for (int b = 0; b < PCI_NUM_BARS; b++) {
		uint64_t now = bar_decoded(d, b);

		d->bar_addr[b] = now;
		if (now != before[b] && d->ops && d->ops->bar_update)
			d->ops->bar_update(d, b, before[b], now);
	}
	if (off >= PCI_CAP_START && d->ops && d->ops->cfg_written)
		d->ops->cfg_written(d, off, len);
out:
	pthread_mutex_unlock(&bus->lock);
}

/* 0xCF8: address (32-bit), 0xCF9: reset control (byte), 0xCFC..0xCFF:
 * data at the byte offset of the access. */
static void pci_config_read(void *opaque, uint64_t off, uint8_t *data,
			    uint32_t len)
{
	struct pci_bus *bus = opaque;
	uint32_t addr = bus->addr;

	if (off == 0 && len == 4) {
		bus_put(data, len, addr);
	} else if (off == 1 && len == 1) {
		data[0] = bus->reset_ctl;
	} else if (off >= 4 && (addr & 0x80000000) && !(addr & 0x00ff0000)) {
		bus_put(data, len,
			pci_cfg_read(bus, (uint8_t)(addr >> 8),
				     (addr & 0xfc) + (uint32_t)(off - 4), len));
	} else {
		memset(data, 0xff, len);
	}
}

static void pci_config_write(void *opaque, uint64_t off, const uint8_t *data,
			     uint32_t len)
{
	struct pci_bus *bus = opaque;
	uint32_t addr = bus->addr;

	if (off == 0 && len == 4) {
		bus->addr = (uint32_t)bus_get(data, len) & 0x80fffffc;
	} else if (off == 1 && len == 1) {
		/* Bit 2 starts the reset the other bits describe. */
		bus->reset_ctl = data[0] & 0x0a;
		if (data[0] & 0x04)
			vm_control_request(&bus->ctl, VM_REQ_RESET);
	} else if (off >= 4 && (addr & 0x80000000) && !(addr & 0x00ff0000)) {
		pci_cfg_write(bus, (uint8_t)(addr >> 8),
			      (addr & 0xfc) + (uint32_t)(off - 4), len,
			      (uint32_t)bus_get(data, len));
	}
}

const struct bus_ops pci_config_ops = {
	.read = pci_config_read,
	.write = pci_config_write,
};

void pci_dev_save(const struct pci_dev *d, struct state_writer *w,
		  uint16_t tag)
{
	state_put_bytes(w, tag, d->cfg, PCI_CFG_SIZE);
}

int pci_dev_load(struct pci_bus *bus, struct pci_dev *d,
		 struct state_reader *r, uint16_t tag)
{
	uint8_t cfg[PCI_CFG_SIZE];
	int ret = state_get_bytes(r, tag, cfg, PCI_CFG_SIZE);

	if (ret)
		return ret == -ENOENT ? state_bad(d->name, "pci config", 0,
						  "missing") : ret;
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++)
		if ((cfg[i] ^ d->cfg[i]) & (uint8_t)~d->wmask[i])
			return state_bad(d->name, "pci config offset", i,
					 "a read-only bit differs");
	/* Everything but the command register, then it: BARs move while
	 * not decoded, and decoding starts at their saved places. */
	for (unsigned int off = PCI_COMMAND + 4; off < PCI_CFG_SIZE; off += 4)
		pci_cfg_write(bus, d->devfn, off, 4, get_le32(&cfg[off]));
	pci_cfg_write(bus, d->devfn, PCI_COMMAND, 2,
		      get_le16(&cfg[PCI_COMMAND]));
	return 0;
}
