/* PCI bus 0 behind configuration mechanism #1 (ports 0xCF8/0xCFC). Config
 * space is plain memory plus a write mask; BAR placement is the guest's,
 * and devices hear about it through bar_update. */
#ifndef TERN_CORE_PCI_H
#define TERN_CORE_PCI_H

#include "core/bus.h"
#include "core/lifecycle.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CFG_SIZE 256
#define PCI_NUM_BARS 6
#define PCI_PORT_CONFIG 0xCF8	/* 8 ports: address, reset ctl, data */

enum pci_bar_kind { PCI_BAR_NONE = 0, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_dev;

struct pci_dev_ops {
	/* A BAR's decoded address changed; addr 0 means "not decoded". */
	void (*bar_update)(struct pci_dev *d, int bar, uint64_t old_addr,
			   uint64_t new_addr);
	/* After a write inside a capability the device owns (MSI-X etc.). */
	void (*cfg_written)(struct pci_dev *d, uint32_t off, uint32_t len);
};

struct pci_dev {
	const char *name;
	uint8_t devfn;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint64_t bar_size[PCI_NUM_BARS];
	enum pci_bar_kind bar_kind[PCI_NUM_BARS];
	uint64_t bar_addr[PCI_NUM_BARS];	/* as decoded now; 0 = off */
	uint8_t cap_next;			/* where the next cap goes */
	const struct pci_dev_ops *ops;
	void *opaque;
};

struct pci_bus {
	pthread_mutex_t lock;
	uint32_t addr;			/* last value written to 0xCF8 */
	uint8_t reset_ctl;		/* 0xCF9 */
	struct vm_control ctl;
	struct pci_dev *devs[256];	/* by devfn, bus 0 only */
};

int pci_bus_init(struct pci_bus *bus, struct vm_control ctl);
void pci_bus_destroy(struct pci_bus *bus);
/* Function 0 of the first free slot, or -ENOSPC. */
int pci_bus_free_devfn(const struct pci_bus *bus);
/* devfn < 0: first free slot, function 0. */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, int devfn);
/* Takes d off the bus (its slot is free again). */
void pci_bus_remove(struct pci_bus *bus, struct pci_dev *d);

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor,
		  uint16_t device, uint32_t class_code, uint8_t revision);
int pci_dev_set_bar(struct pci_dev *d, int bar, enum pci_bar_kind kind,
		    uint64_t size);
/* Appends a capability of `len` bytes; returns its offset or -ENOSPC. */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, uint8_t len);

/* Config access by devfn, as the 0xCF8/0xCFC ports do it; for tests too. */
uint32_t pci_cfg_read(struct pci_bus *bus, uint8_t devfn, uint32_t off,
		      uint32_t len);
void pci_cfg_write(struct pci_bus *bus, uint8_t devfn, uint32_t off,
		   uint32_t len, uint32_t val);

extern const struct bus_ops pci_config_ops;

struct state_reader;
struct state_writer;

/* Any function's config space as one state field TAG, for the device's
 * save. */
void pci_dev_save(const struct pci_dev *d, struct state_writer *w,
		  uint16_t tag);
/* Loads what pci_dev_save wrote into d, on BUS: refused (-EINVAL, logged
 * with the offset) unless every bit that differs from d's config now is
 * one the guest could have written (d's write mask). Applied as guest
 * writes would be, so BARs are decoded and the device hears of them;
 * the command register last. */
int pci_dev_load(struct pci_bus *bus, struct pci_dev *d,
		 struct state_reader *r, uint16_t tag);

#endif
