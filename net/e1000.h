/* Intel 82540EM gigabit Ethernet controller (PCI 8086:100E), the NIC every
 * PC guest has a driver for: the legacy slow path beside virtio-net.
 * Nothing fast depends on it. Register accesses trap to the vCPU thread
 * (BAR 0: 128 KiB of registers; BAR 1: 64 bytes of I/O space, IOADDR at 0
 * and IODATA at 4 for indirect access); transmit runs there, synchronously,
 * when the guest writes TDT, up to a budget of descriptors and frames per
 * write (the rest goes out from the device's thread); a receive thread per
 * device moves frames from the backend into the receive ring. One mutex
 * guards the device.
 *
 * What it may touch: guest RAM only through guest_mem_ptr, the backend fd
 * (one read or write = one frame, after a zeroed virtio-net header when
 * vnet_hdr_len is not 0), its own BAR ranges on the host's buses and its
 * INTx line. Registers follow Intel's "PCI/PCI-X Family of Gigabit Ethernet
 * Controllers Software Developer's Manual" (8254x); what the model leaves
 * out: flash, wake-up filters, flow control frames, IPv6 receive checksum
 * offload, and the INTx disable bit of the PCI command register.
 *
 * Interrupt moderation as the manual defines it: ITR spaces the line's
 * rising edges, RDTR/RADV delay RXT0 and TIDV/TADV delay TXDW (for
 * descriptors with IDE), FPD flushes them. The receive thread keeps the
 * timers: it sleeps until the nearest deadline and fires what is due
 * (e1000_tick for tests). Pause fires what is pending, so a saved device
 * holds no timer, only its registers. Receive checksum offload (RXCSUM
 * IPOFLD/TUOFLD): IPv4 header and TCP/UDP checksums checked per frame,
 * IPCS/TCPCS in the descriptor's status, IPE/TCPE in its errors (the
 * descriptor's packet checksum field stays 0: Linux's driver does not read
 * it on the 8254x). */
#ifndef TERN_NET_E1000_H
#define TERN_NET_E1000_H

#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"
#include "core/memory.h"
#include "core/pci.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE 0x40
#define E1000_EEPROM_WORDS 64
#define E1000_PHY_REGS 32
#define E1000_RA_ENTRIES 16
#define E1000_MTA_ENTRIES 128
#define E1000_VFTA_ENTRIES 128
#define E1000_STAT_REGS 64		/* 0x4000..0x40FF */
#define E1000_PLAIN_REGS 48		/* registers that are only stored */
/* One frame on the wire, jumbo included (the 82540EM takes 16 KiB). */
#define E1000_FRAME_MAX 16384
/* A gathered transmit packet: a TSO packet's 64 KiB of payload plus its
 * headers. Larger is dropped. */
#define E1000_TX_MAX (65536 + 256)

struct e1000_host {
	struct bus *mmio, *pio;		/* BAR 0 goes on mmio, BAR 1 on pio */
	struct pci_bus *pci;
	const struct guest_mem *mem;
	/* INTA. Where the line depends on the slot (PIIX routing), create
	 * the device at a known devfn. */
	struct irq_line intx;
};

/* The last context descriptor: how to checksum and segment. */
struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
	uint32_t paylen;
};

struct e1000 {
	char name[32];
	struct pci_dev pci;
	struct e1000_host host;
	int fd, vnet_hdr_len;
	uint8_t mac[6];
	/* As registered on the buses, 0 = not; under the PCI bus lock. */
	uint64_t mmio_bar, io_bar;

	pthread_mutex_t lock;		/* everything below */
	uint32_t ctrl, eecd, eerd, mdic, icr, ims, rctl, tctl, ioaddr;
	uint32_t rdbal, rdbah, rdlen, rdh, rdt;
	uint32_t tdbal, tdbah, tdlen, tdh, tdt;
	uint32_t plain[E1000_PLAIN_REGS];
	uint32_t ra[2 * E1000_RA_ENTRIES];	/* RAL, RAH pairs */
	uint32_t mta[E1000_MTA_ENTRIES];
	uint32_t vfta[E1000_VFTA_ENTRIES];
	uint32_t stats[E1000_STAT_REGS];	/* clear on read */
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[E1000_PHY_REGS];
	bool link_up;
	int irq_level;			/* last level given to the line */
	/* Interrupt moderation: deadlines in ns (0: not armed), the last
	 * rising edge (for ITR), how far the receive thread sleeps. */
	uint64_t rdtr_at, radv_at, tidv_at, tadv_at, itr_at, last_assert;
	uint64_t sleep_until;
	unsigned long irqs;		/* rising edges of the line */
	/* NULL: CLOCK_MONOTONIC. Tests give their own. */
	uint64_t (*clock)(void *opaque);
	void *clock_opaque;

	/* Microwire EEPROM behind EECD, bit-banged by the driver. */
	uint8_t ee_state, ee_bits, ee_addr, ee_pos;
	uint16_t ee_cmd;
	bool ee_do;

	/* Transmit: a packet being gathered across descriptors (and TDT
	 * writes), and the frame each TSO segment is built in. */
	struct e1000_tx_ctx ctx;
	uint8_t *tx_buf, *tx_seg;
	size_t tx_len;
	bool tx_drop;			/* the packet is bad: skip to EOP */
	bool tx_first_seen;		/* tx_popts/tx_tse are from desc 1 */
	bool tx_tse;
	uint8_t tx_popts;
	unsigned int tx_work;		/* descriptors + frames this tx_run */
	bool tx_more;			/* budget spent: the thread goes on */

	/* Receive: the thread reads into rx_buf (its own); frames are
	 * filtered, padded and get their FCS in rx_work, under the lock. */
	uint8_t *rx_buf, *rx_work;
	pthread_t rx_thread;
	bool rx_running;
	bool rx_blocked;		/* no descriptors: waits for the guest */
	atomic_bool stop;
	int wake_fd;			/* eventfd: stop, or descriptors came */

	unsigned int errors_logged;	/* guest errors, rate-limited */
	bool bad_width_logged;
	uint8_t unknown_logged[E1000_MMIO_SIZE / 4 / 8];	/* by dword */
};

/* Builds the PCI function (BARs unplaced until the guest places them)
 * and plugs it into host->pci at `devfn` (-1: the first free slot). `fd`
 * is the backend (a tap; the caller opened it, the device never closes
 * it) and stays in the caller's blocking mode: a tap is O_NONBLOCK, and a
 * frame the backend refuses is dropped. vnet_hdr_len is 0, 10 or 12. The
 * device is at power-on state: link down until the driver sets
 * CTRL.SLU. `name` is copied (for log lines). Returns 0 or -errno. */
int e1000_create(struct e1000 *e, const char *name,
		 const struct e1000_host *host, const uint8_t mac[6], int fd,
		 int vnet_hdr_len, int devfn);
/* Starts the receive thread. */
int e1000_start(struct e1000 *e);
/* Stops the thread, takes the BARs off the buses and the function off the
 * PCI bus. A failed e1000_create leaves nothing to destroy. */
void e1000_destroy(struct e1000 *e);
/* VM reset: power-on state of every register (the BARs are config
 * space's, which the PCI bus owns). */
void e1000_reset(struct e1000 *e);

/* One frame from the wire, as the receive thread delivers it; for tests
 * and fuzzing, which run without the thread. 0: delivered or dropped for
 * a reason the guest set (receiver off, filtered, too long, a bad
 * buffer); -ENOBUFS: no room in the receive ring (counted as missed,
 * RXO raised). */
int e1000_receive(struct e1000 *e, const uint8_t *frame, size_t len);

/* Fires the moderation timers that are due now (the receive thread's
 * work; for tests); returns the nearest deadline left, UINT64_MAX none. */
uint64_t e1000_tick(struct e1000 *e);

/* The register handlers, for tests and fuzzing that bypass the buses. */
extern const struct bus_ops e1000_mmio_ops, e1000_io_ops;

/* The e1000 as a device of the lifecycle (core/device.h): realize is
 * e1000_create on the machine's buses with INTX (the slot's line, PIIX
 * routing) at DEVFN; the receive thread starts with the lifecycle's
 * start (e1000_start: a VM starts threads once its sandbox is in place). pause stops
 * that thread (it takes no frame and no transmit work until resume; a
 * frame it had read and not delivered is dropped, as on a full ring);
 * save and load carry every register, the EEPROM's bit-banging state,
 * the PHY, the transmit context and a packet gathered so far, and the
 * PCI config space; reset is e1000_reset. FD stays the caller's. */
struct e1000_device {
	struct device dev;
	struct e1000 e;
	uint8_t mac[6];
	int fd, vnet_hdr_len, devfn;
	struct irq_line intx;
	bool created, was_running;
	/* destroy: frees what holds the device (and its tap), or NULL. */
	void (*release)(void *owner);
	void *owner;
};

void e1000_device_init(struct e1000_device *d, const char *id,
		       const uint8_t mac[6], int fd, int vnet_hdr_len,
		       int devfn, struct irq_line intx);

#endif
