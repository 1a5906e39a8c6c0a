/* Config mechanism #1 through the port handlers, BAR sizing and placement,
 * capabilities, and the 0xCF9 reset. */
#include "core/pci.h"

#include "check.h"

static int resets;
static uint64_t last_old, last_new;
static int last_bar = -1, updates;

static void request(void *opaque, enum vm_request req)
{
	if (req == VM_REQ_RESET)
		resets++;
}

static void bar_update(struct pci_dev *d, int bar, uint64_t o, uint64_t n)
{
	last_bar = bar;
	last_old = o;
	last_new = n;
	updates++;
}

static const struct pci_dev_ops ops = { .bar_update = bar_update };

static void port_out(struct pci_bus *bus, uint64_t off, uint32_t len,
		     uint32_t v)
{
	uint8_t d[4];

	bus_put(d, len, v);
	pci_config_ops.write(bus, off, d, len);
}

static uint32_t port_in(struct pci_bus *bus, uint64_t off, uint32_t len)
{
	uint8_t d[4];

	pci_config_ops.read(bus, off, d, len);
	return (uint32_t)bus_get(d, len);
}

static uint32_t cfg(struct pci_bus *bus, int dev, uint32_t reg,
		    uint32_t len)
{
	port_out(bus, 0, 4, 0x80000000 | dev << 11 | (reg & 0xfc));
	return port_in(bus, 4 + (reg & 3), len);
}

static void cfg_w(struct pci_bus *bus, int dev, uint32_t reg, uint32_t len,
		  uint32_t v)
{
	port_out(bus, 0, 4, 0x80000000 | dev << 11 | (reg & 0xfc));
	port_out(bus, 4 + (reg & 3), len, v);
}

int main(void)
{
	struct pci_bus bus;
	struct pci_dev hb, dev;
	int cap1, cap2;

	CHECK_EQ(pci_bus_init(&bus, (struct vm_control){ request, NULL }), 0);
	pci_dev_init(&hb, "hb", 0x1b36, 0x0008, 0x060000, 0);
	CHECK_EQ(pci_bus_add(&bus, &hb, 0), 0);
	pci_dev_init(&dev, "dev", 0x1af4, 0x1042, 0x010000, 1);
	dev.ops = &ops;
	CHECK_EQ(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM64, 0x4000), 0);
	CHECK_EQ(pci_dev_set_bar(&dev, 2, PCI_BAR_IO, 0x20), 0);
	CHECK_EQ(pci_dev_set_bar(&dev, 3, PCI_BAR_MEM32, 100), -EINVAL);
	CHECK_EQ(pci_dev_set_bar(&dev, 5, PCI_BAR_MEM64, 0x1000), -EINVAL);
	CHECK_EQ(pci_bus_add(&bus, &dev, -1), 0);
	CHECK_EQ(dev.devfn, 8);				/* slot 1 */
	CHECK_EQ(pci_bus_add(&bus, &dev, 8), -EEXIST);

	CHECK_EQ(cfg(&bus, 0, 0, 4), 0x00081b36);
	CHECK_EQ(cfg(&bus, 0, 0x0a, 2), 0x0600);	/* host bridge */
	CHECK_EQ(cfg(&bus, 0, 2, 2), 0x0008);
	CHECK_EQ(cfg(&bus, 5, 0, 4), 0xffffffff);	/* nobody */
	CHECK_EQ(cfg(&bus, 5, 0, 2), 0xffff);
	/* Bus 1 does not exist; neither does the enable-less address. */
	port_out(&bus, 0, 4, 0x80010000);
	CHECK_EQ(port_in(&bus, 4, 4), 0xffffffff);
	port_out(&bus, 0, 4, 0x00000000);
	CHECK_EQ(port_in(&bus, 4, 4), 0xffffffff);
	/* Read-only ids stay put. */
	cfg_w(&bus, 0, 0, 4, 0x12345678);
	CHECK_EQ(cfg(&bus, 0, 0, 4), 0x00081b36);

	/* Sizing a 64-bit BAR: low dword shows the size and type bits. */
	cfg_w(&bus, 1, 0x10, 4, 0xffffffff);
	CHECK_EQ(cfg(&bus, 1, 0x10, 4), 0xffffc004);
	cfg_w(&bus, 1, 0x14, 4, 0xffffffff);
	CHECK_EQ(cfg(&bus, 1, 0x14, 4), 0xffffffff);
	cfg_w(&bus, 1, 0x18, 4, 0xffffffff);
	CHECK_EQ(cfg(&bus, 1, 0x18, 4), 0xffffffe1);	/* I/O, 32 ports */
	CHECK_EQ(cfg(&bus, 1, 0x1c, 4), 0);		/* unused BAR */
	CHECK_EQ(updates, 0);				/* decode is off */

	/* Place it, then turn memory decode on: the device hears. */
	cfg_w(&bus, 1, 0x10, 4, 0xc0004000);
	cfg_w(&bus, 1, 0x14, 4, 0x1);
	CHECK_EQ(updates, 0);
	cfg_w(&bus, 1, 0x04, 2, 0x0002);
	CHECK_EQ(updates, 1);
	CHECK_EQ(last_bar, 0);
	CHECK_EQ(last_old, 0);
	CHECK_EQ(last_new, 0x1c0004000ULL);
	/* Moving it while decoding. */
	cfg_w(&bus, 1, 0x10, 4, 0xc0008000);
	CHECK_EQ(updates, 2);
	CHECK_EQ(last_old, 0x1c0004000ULL);
	CHECK_EQ(last_new, 0x1c0008000ULL);
	/* Decode off. */
	cfg_w(&bus, 1, 0x04, 2, 0x0000);
	CHECK_EQ(last_new, 0);

	/* Capability list. */
	cap1 = pci_dev_add_cap(&dev, 0x11, 12);
	cap2 = pci_dev_add_cap(&dev, 0x09, 20);
	CHECK_EQ(cap1, 0x40);
	CHECK_EQ(cap2, 0x4c);
	CHECK_EQ(cfg(&bus, 1, 0x06, 2) & 0x10, 0x10);
	CHECK_EQ(cfg(&bus, 1, 0x34, 1), 0x40);
	CHECK_EQ(cfg(&bus, 1, 0x41, 1), 0x4c);
	CHECK_EQ(cfg(&bus, 1, 0x4d, 1), 0);
	CHECK_EQ(pci_dev_add_cap(&dev, 0x09, 250), -ENOSPC);

	/* Config access at the end of space does not spill over. */
	CHECK_EQ(pci_cfg_read(&bus, 8, 0xfe, 4), 0xffffffff);

	/* 0xCF9: bit 2 resets. */
	port_out(&bus, 1, 1, 0x02);
	CHECK_EQ(resets, 0);
	port_out(&bus, 1, 1, 0x06);
	CHECK_EQ(resets, 1);

	pci_bus_destroy(&bus);
	return check_done("test_pci");
}
