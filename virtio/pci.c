#include "virtio/pci.h"

#include "core/bytes.h"
#include "core/events.h"
#include "core/kvm.h"
#include "core/log.h"
#include "core/state.h"
#include "virtio/queue.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* BAR 0 layout. */
#define REG_COMMON 0x0000
#define REG_ISR 0x1000
#define REG_DEVICE 0x2000
#define REG_NOTIFY 0x3000
#define REG_MSIX_TABLE 0x4000
#define REG_MSIX_PBA 0x6000
#define NOTIFY_MULT 4
#define COMMON_SIZE 0x3c

/* Common configuration registers (virtio 1.2 §4.1.4.3). */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_MSIX_CONFIG 0x10
#define C_NUM_QUEUES 0x12
#define C_STATUS 0x14
#define C_CFG_GEN 0x15
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_MSIX 0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESC 0x20
#define C_Q_DRIVER 0x28
#define C_Q_DEVICE 0x30
#define C_Q_NDATA 0x38

#define CAP_VNDR 0x09
#define CAP_MSIX 0x11
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_ISR 3
#define CFG_DEVICE 4

#define NO_VECTOR 0xffff
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 0x1
#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2

#define PCI_VENDOR_REDHAT_QUMRANET 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define LOG_ERRORS 8		/* guest errors logged per device */

static void drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) > 0)
		;
}

/* A driver's mistake: logged, at most LOG_ERRORS times per device.
 * Caller holds t->lock. */
#define guest_err(t, ...)                                                      \
	log_limited(&(t)->errors_logged, LOG_ERRORS, (t)->name,                \
		    "driver errors", __VA_ARGS__)

/* --- MSI-X ------------------------------------------------------------- */

static uint16_t msix_ctrl(const struct virtio_pci *t)
{
	return t->pci.cfg[t->msix_cap + 2] | t->pci.cfg[t->msix_cap + 3] << 8;
}

static bool vector_live(const struct virtio_pci *t, uint16_t v)
{
	uint16_t ctrl = msix_ctrl(t);

	return v < t->nvec && (ctrl & MSIX_CTRL_ENABLE) &&
	       !(ctrl & MSIX_CTRL_MASKALL) &&
	       !(t->msix[v].ctrl & MSIX_ENTRY_MASKED);
}

static uint64_t vector_addr(const struct virtio_pci *t, uint16_t v)
{
	return (uint64_t)t->msix[v].addr_hi << 32 | t->msix[v].addr_lo;
}

static void set_pending(struct virtio_pci *t, uint16_t v, bool on)
{
	if (on)
		t->pending[v / 64] |= 1ULL << (v % 64);
	else
		t->pending[v / 64] &= ~(1ULL << (v % 64));
}

static bool is_pending(const struct virtio_pci *t, uint16_t v)
{
	return t->pending[v / 64] & (1ULL << (v % 64));
}

/* Signals that reached a masked vector's queues sit in their call
 * eventfds (no irqfd is attached then): fold them into the pending bits. */
static void collect_pending(struct virtio_pci *t, uint16_t v)
{
	uint64_t n;

	for (unsigned int i = 0; i < t->nqueues; i++) {
		struct vpci_queue *q = &t->q[i];

		if (t->started && q->io.enabled && q->vector == v &&
		    !q->irqfd_on && read(q->io.call_fd, &n, sizeof(n)) > 0)
			set_pending(t, v, true);
	}
}

/* Takes queue i's irqfd off the GSI of the vector it is on. Caller holds
 * t->lock. */
static void irqfd_detach(struct virtio_pci *t, unsigned int i)
{
	struct vpci_queue *q = &t->q[i];

	if (!q->irqfd_on)
		return;
	/* irqfd_on is only ever set for a vector below nvec. */
	if (q->vector < t->nvec &&
	    t->host.irq->irqfd(t->host.kvm, q->io.call_fd, t->gsi[q->vector],
			       false))
		log_warn(t->name, "q%u: irqfd deassign failed", i);
	q->irqfd_on = false;
}

/* Brings one vector's route and its queues' irqfds in line with the
 * table, the function mask and the enable bit. Caller holds t->lock. */
static void update_vector(struct virtio_pci *t, uint16_t v)
{
	bool live = vector_live(t, v);

	if (v >= t->nvec)
		return;
	t->host.irq->msi_route(t->host.kvm, t->gsi[v], live, vector_addr(t, v),
			       t->msix[v].data);
	for (unsigned int i = 0; t->started && i < t->nqueues; i++) {
		struct vpci_queue *q = &t->q[i];

		if (!q->io.enabled || q->vector != v || q->irqfd_on == live)
			continue;
		if (!live)
			collect_pending(t, v);	/* before: nothing lost */
		if (t->host.irq->irqfd(t->host.kvm, q->io.call_fd, t->gsi[v],
				       live))
			log_warn(t->name, "q%u: irqfd %s failed", i,
				 live ? "assign" : "deassign");
		else
			q->irqfd_on = live;
	}
	if (live) {
		collect_pending(t, v);
		if (is_pending(t, v)) {
			set_pending(t, v, false);
			t->host.irq->msi_signal(t->host.kvm, vector_addr(t, v),
						t->msix[v].data);
		}
	}
}

static void update_all_vectors(struct virtio_pci *t)
{
	for (uint16_t v = 0; v < t->nvec; v++)
		update_vector(t, v);
}

/* queue_msix_vector written: v is below nvec or NO_VECTOR. The queue's
 * irqfd leaves the old vector's GSI and, once the device runs and the new
 * vector is live, goes onto its GSI. Caller holds t->lock. */
static void set_queue_vector(struct virtio_pci *t, unsigned int i, uint16_t v)
{
	if (t->q[i].vector == v)
		return;
	irqfd_detach(t, i);
	t->q[i].vector = v;
	if (t->started)
		update_vector(t, v);
}

/* A config change (or DEVICE_NEEDS_RESET) interrupt. Caller holds lock. */
static void config_interrupt(struct virtio_pci *t)
{
	uint16_t v = t->config_vector;

	t->isr |= ISR_CONFIG;
	if (v >= t->nvec)
		return;
	if (vector_live(t, v))
		t->host.irq->msi_signal(t->host.kvm, vector_addr(t, v),
					t->msix[v].data);
	else
		set_pending(t, v, true);
}

/* DEVICE_NEEDS_RESET, and the config interrupt that tells the driver.
 * Caller holds t->lock. */
static void needs_reset(struct virtio_pci *t)
{
	if (t->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	config_interrupt(t);
}

/* Main loop: the device broke. A reset that came in between cleared
 * `broken`, and then this is stale. */
static void vpci_error(struct loop_watch *w, uint32_t events)
{
	struct virtio_pci *t = w->opaque;

	drain(t->err_fd);
	pthread_mutex_lock(&t->lock);
	if (t->started && atomic_exchange(&t->broken, false) &&
	    !(t->status & VIRTIO_STATUS_NEEDS_RESET)) {
		log_warn(t->name, "device needs reset");
		events_emit(t->host.events, "virtio-device", "needs-reset",
			    "id", t->name, NULL);
		needs_reset(t);
	}
	pthread_mutex_unlock(&t->lock);
}

struct virtio_bus virtio_pci_bus(struct virtio_pci *t)
{
	return (struct virtio_bus){ &t->broken, t->err_fd };
}

/* --- notify: ioeventfds follow the BAR ---------------------------------- */

static void set_ioeventfds(struct virtio_pci *t, uint64_t bar, bool assign)
{
	uint32_t len = t->host.ioeventfd_any_len ? 0 : 2;

	if (!bar)
		return;
	for (unsigned int i = 0; i < t->nqueues; i++) {
		int ret = t->host.irq->ioeventfd(t->host.kvm, t->q[i].io.kick_fd,
						 bar + REG_NOTIFY +
							 NOTIFY_MULT * i,
						 len, assign);
		if (ret)
			log_warn(t->name, "q%u: ioeventfd %s at 0x%llx: %s", i,
				 assign ? "assign" : "deassign",
				 (unsigned long long)(bar + REG_NOTIFY +
						      NOTIFY_MULT * i),
				 strerror(-ret));
	}
}

/* --- reset and start ---------------------------------------------------- */

/* Start and stop run on the host's device-control worker (core/worker.h):
 * the vCPU that wrote the status waits there, holding t->lock as before. */
struct start_call {
	struct virtio_pci *t;
	const struct virtio_queue_io *io;
	int ret;
};

static void start_call(void *arg)
{
	struct start_call *c = arg;

	c->ret = c->t->ops->start(c->t->dev, c->t->driver_features, c->io,
				  c->t->nqueues);
}

static void stop_call(void *arg)
{
	struct virtio_pci *t = arg;

	t->ops->stop(t->dev);
}

static void vpci_reset(struct virtio_pci *t)
{
	if (t->started)
		worker_call(t->host.ctl, stop_call, t);
	for (unsigned int i = 0; i < t->nqueues; i++) {
		struct vpci_queue *q = &t->q[i];

		irqfd_detach(t, i);
		drain(q->io.kick_fd);
		drain(q->io.call_fd);
		q->io = (struct virtio_queue_io){
			.size = t->max_queue_size,
			.kick_fd = q->io.kick_fd,
			.call_fd = q->io.call_fd,
		};
		q->vector = NO_VECTOR;
	}
	t->started = false;
	atomic_store(&t->broken, false);
	t->status = 0;
	t->isr = 0;
	t->driver_features = 0;
	t->dfselect = t->gfselect = 0;
	t->queue_sel = 0;
	t->config_vector = NO_VECTOR;
	memset(t->pending, 0, sizeof(t->pending));
}

static void vpci_start(struct virtio_pci *t)
{
	struct virtio_queue_io io[VIRTIO_MAX_QUEUES];
	struct start_call c = { .t = t, .io = io };
	int ret;

	for (unsigned int i = 0; i < t->nqueues; i++)
		io[i] = t->q[i].io;
	worker_call(t->host.ctl, start_call, &c);
	ret = c.ret;
	if (ret) {
		log_err(t->name, "starting the device: %s", strerror(-ret));
		needs_reset(t);
		return;
	}
	t->started = true;
	update_all_vectors(t);
}

static void write_status(struct virtio_pci *t, uint8_t val)
{
	uint8_t old = t->status;

	if (val == 0) {
		vpci_reset(t);
		return;
	}
	/* Bits come and stay until a reset (§2.1.1: the driver MUST NOT
	 * clear one). Taking DRIVER_OK back would leave the device running
	 * with its queue registers open to change. NEEDS_RESET is ours: the
	 * driver may write it back or leave it out. */
	if (old & ~val & ~VIRTIO_STATUS_NEEDS_RESET) {
		guest_err(t, "status 0x%02x would clear bits of 0x%02x without "
			  "a reset: refused, device needs reset", val, old);
		needs_reset(t);
		return;
	}
	val &= (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;
	if ((val & VIRTIO_STATUS_FEATURES_OK) &&
	    !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Only what we offered, and never without VERSION_1. */
		if ((t->driver_features & ~t->device_features) ||
		    !(t->driver_features & (1ULL << VIRTIO_F_VERSION_1))) {
			guest_err(t, "driver features 0x%llx refused "
				  "(offered 0x%llx)",
				  (unsigned long long)t->driver_features,
				  (unsigned long long)t->device_features);
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	t->status = val | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !t->started &&
	    (t->status & VIRTIO_STATUS_FEATURES_OK))
		vpci_start(t);
}

/* --- common configuration ---------------------------------------------- */

static uint64_t common_read(struct virtio_pci *t, uint32_t off)
{
	struct vpci_queue *q = t->queue_sel < t->nqueues ? &t->q[t->queue_sel]
							 : NULL;

	switch (off) {
	case C_DFSELECT:
		return t->dfselect;
	case C_DF:
		return t->dfselect < 2 ? (uint32_t)(t->device_features >>
						    (32 * t->dfselect))
				       : 0;
	case C_GFSELECT:
		return t->gfselect;
	case C_GF:
		return t->gfselect < 2 ? (uint32_t)(t->driver_features >>
						    (32 * t->gfselect))
				       : 0;
	case C_MSIX_CONFIG:
		return t->config_vector;
	case C_NUM_QUEUES:
		return t->nqueues;
	case C_STATUS:
		return t->status;
	case C_CFG_GEN:
		return t->config_gen;
	case C_Q_SELECT:
		return t->queue_sel;
	case C_Q_SIZE:
		return q ? q->io.size : 0;
	case C_Q_MSIX:
		return q ? q->vector : NO_VECTOR;
	case C_Q_ENABLE:
		return q ? q->io.enabled : 0;
	case C_Q_NOFF:
		return q ? t->queue_sel : 0;
	case C_Q_DESC:
		return q ? q->io.desc : 0;
	case C_Q_DESC + 4:
		return q ? q->io.desc >> 32 : 0;
	case C_Q_DRIVER:
		return q ? q->io.driver : 0;
	case C_Q_DRIVER + 4:
		return q ? q->io.driver >> 32 : 0;
	case C_Q_DEVICE:
		return q ? q->io.device : 0;
	case C_Q_DEVICE + 4:
		return q ? q->io.device >> 32 : 0;
	case C_Q_NDATA:
		return q ? t->queue_sel : 0;
	default:
		return 0;
	}
}

static void set_half(uint64_t *field, bool high, uint64_t v)
{
	if (high)
		*field = (*field & 0xffffffffULL) | v << 32;
	else
		*field = (*field & ~0xffffffffULL) | (v & 0xffffffffULL);
}

static void common_write(struct virtio_pci *t, uint32_t off, uint64_t v)
{
	struct vpci_queue *q = t->queue_sel < t->nqueues ? &t->q[t->queue_sel]
							 : NULL;
	/* Queue registers are frozen once the driver is running. */
	bool frozen = t->started || (t->status & VIRTIO_STATUS_DRIVER_OK);

	switch (off) {
	case C_DFSELECT:
		t->dfselect = (uint32_t)v;
		break;
	case C_GFSELECT:
		t->gfselect = (uint32_t)v;
		break;
	case C_GF:
		if (t->gfselect < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&t->driver_features, t->gfselect == 1, v);
		break;
	case C_MSIX_CONFIG:
		t->config_vector = v < t->nvec ? (uint16_t)v : NO_VECTOR;
		break;
	case C_STATUS:
		write_status(t, (uint8_t)v);
		break;
	case C_Q_SELECT:
		t->queue_sel = (uint16_t)v;
		break;
	case C_Q_SIZE:
		/* Validated against the ring rules when the queue starts. */
		if (q && !frozen)
			q->io.size = v > t->max_queue_size ? t->max_queue_size
							   : (uint16_t)v;
		break;
	case C_Q_MSIX:
		/* Never frozen, like config_msix_vector: the irqfd moves
		 * with it. */
		if (q)
			set_queue_vector(t, t->queue_sel,
					 v < t->nvec ? (uint16_t)v : NO_VECTOR);
		break;
	case C_Q_ENABLE:
		if (q && !frozen && v == 1)
			q->io.enabled = true;
		break;
	case C_Q_DESC:
	case C_Q_DESC + 4:
		if (q && !frozen)
			set_half(&q->io.desc, off & 4, v);
		break;
	case C_Q_DRIVER:
	case C_Q_DRIVER + 4:
		if (q && !frozen)
			set_half(&q->io.driver, off & 4, v);
		break;
	case C_Q_DEVICE:
	case C_Q_DEVICE + 4:
		if (q && !frozen)
			set_half(&q->io.device, off & 4, v);
		break;
	default:
		break;		/* read-only or reserved */
	}
}

/* --- the BAR ------------------------------------------------------------ */

static void bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *t = opaque;
	uint64_t v = 0;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (off < REG_COMMON + COMMON_SIZE) {
		/* 64-bit fields are read as two 32-bit halves. */
		v = common_read(t, (uint32_t)off);
		bus_put(data, len, v);
	} else if (off == REG_ISR) {
		data[0] = t->isr;	/* reading clears it */
		t->isr = 0;
	} else if (off >= REG_DEVICE && off - REG_DEVICE < t->ops->config_size &&
		   off - REG_DEVICE + len <= t->ops->config_size) {
		t->ops->config_read(t->dev, (uint32_t)(off - REG_DEVICE), data,
				    len);
	} else if (off >= REG_MSIX_TABLE &&
		   off < REG_MSIX_TABLE + 16ULL * t->nvec && len == 4) {
		const uint32_t *e = &t->msix[(off - REG_MSIX_TABLE) / 16].addr_lo;

		bus_put(data, len, e[(off % 16) / 4]);
	} else if (off >= REG_MSIX_PBA &&
		   off - REG_MSIX_PBA + len <= sizeof(t->pending) &&
		   (len == 4 || len == 8)) {
		for (uint16_t vec = 0; vec < t->nvec; vec++)
			if (!vector_live(t, vec))
				collect_pending(t, vec);
		memcpy(data, (uint8_t *)t->pending + (off - REG_MSIX_PBA),
		       len);
	}
	pthread_mutex_unlock(&t->lock);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
	struct virtio_pci *t = opaque;
	uint64_t v = bus_get(data, len);
	uint64_t n = 1;

	pthread_mutex_lock(&t->lock);
	if (off < REG_COMMON + COMMON_SIZE) {
		common_write(t, (uint32_t)off, v);
	} else if (off >= REG_DEVICE && off - REG_DEVICE < t->ops->config_size &&
		   off - REG_DEVICE + len <= t->ops->config_size) {
		if (t->ops->config_write)
			t->ops->config_write(t->dev, (uint32_t)(off - REG_DEVICE),
					     data, len);
	} else if (off >= REG_NOTIFY &&
		   off < REG_NOTIFY + NOTIFY_MULT * (uint64_t)t->nqueues) {
		/* Only before the ioeventfd is in place (or if KVM refused
		 * it): a kick that reached userspace. */
		if (write(t->q[(off - REG_NOTIFY) / NOTIFY_MULT].io.kick_fd,
			  &n, sizeof(n)) < 0)
			log_warn(t->name, "kick: %s", strerror(errno));
	} else if (off >= REG_MSIX_TABLE &&
		   off < REG_MSIX_TABLE + 16ULL * t->nvec && len == 4) {
		uint16_t vec = (uint16_t)((off - REG_MSIX_TABLE) / 16);
		uint32_t *e = &t->msix[vec].addr_lo;

		e[(off % 16) / 4] = (uint32_t)v;
		update_vector(t, vec);
	}
	pthread_mutex_unlock(&t->lock);
}

static const struct bus_ops bar_ops = {
	.read = bar_read,
	.write = bar_write,
};

/* --- PCI glue ----------------------------------------------------------- */

static void pci_bar_update(struct pci_dev *d, int bar, uint64_t old_addr,
			   uint64_t new_addr)
{
	struct virtio_pci *t = d->opaque;
	uint64_t at = t->bar;		/* what we registered; 0 none */
	int ret;

	if (bar != 0)
		return;
	/* Not under t->lock: a vCPU inside bar_read holds the MMIO bus's
	 * read lock and waits for t->lock; the kick fds never change. The
	 * PCI bus lock orders BAR moves. Only what we registered comes off:
	 * old_addr may be an address a failed move never got. */
	if (at) {
		set_ioeventfds(t, at, false);
		bus_unregister(t->host.mmio, at);
		t->bar = 0;
	}
	if (!new_addr)
		return;
	ret = bus_register(t->host.mmio, new_addr, VPCI_BAR_SIZE, &bar_ops, t,
			   t->name);
	if (ret) {
		/* Taken by another device: keep decoding where we were
		 * (the range just freed), as if the move had not been. */
		pthread_mutex_lock(&t->lock);
		guest_err(t, "BAR at 0x%llx: %s; it stays at 0x%llx",
			  (unsigned long long)new_addr, strerror(-ret),
			  (unsigned long long)at);
		pthread_mutex_unlock(&t->lock);
		if (!at || bus_register(t->host.mmio, at, VPCI_BAR_SIZE,
					&bar_ops, t, t->name))
			return;
		new_addr = at;
	}
	set_ioeventfds(t, new_addr, true);
	t->bar = new_addr;
}

/* The MSI-X enable and function-mask bits live in config space. */
static void pci_cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_pci *t = d->opaque;

	if (off + len > (uint32_t)t->msix_cap + 2 &&
	    off < (uint32_t)t->msix_cap + 4) {
		pthread_mutex_lock(&t->lock);
		update_all_vectors(t);
		pthread_mutex_unlock(&t->lock);
	}
}

static const struct pci_dev_ops pci_ops = {
	.bar_update = pci_bar_update,
	.cfg_written = pci_cfg_written,
};

static int add_vndr_cap(struct pci_dev *d, uint8_t type, uint32_t offset,
			uint32_t length, uint8_t caplen)
{
	int off = pci_dev_add_cap(d, CAP_VNDR, caplen);

	if (off < 0)
		return off;
	d->cfg[off + 2] = caplen;
	d->cfg[off + 3] = type;
	d->cfg[off + 4] = 0;		/* BAR 0 */
	put_le32(&d->cfg[off + 8], offset);
	put_le32(&d->cfg[off + 12], length);
	if (type == CFG_NOTIFY)
		put_le32(&d->cfg[off + 16], NOTIFY_MULT);
	return 0;
}

int virtio_pci_create(struct virtio_pci *t, const struct virtio_pci_host *host,
		      const char *name, const struct virtio_dev_ops *ops,
		      void *dev, unsigned int nqueues, uint16_t queue_size)
{
	struct pci_dev *d = &t->pci;
	unsigned int i;
	int ret;

	memset(t, 0, sizeof(*t));
	t->err_fd = -1;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->host = *host;
	t->ops = ops;
	t->dev = dev;
	t->nqueues = nqueues;
	t->max_queue_size = queue_size;
	t->nvec = nqueues + 1;
	t->device_features = ops->features(dev);
	if (!nqueues || nqueues > VIRTIO_MAX_QUEUES || !ops->config_size ||
	    ops->config_size > REG_NOTIFY - REG_DEVICE)
		return -EINVAL;
	for (i = 0; i < nqueues; i++)
		t->q[i].io.kick_fd = t->q[i].io.call_fd = -1;
	atomic_init(&t->broken, false);
	ret = -pthread_mutex_init(&t->lock, NULL);
	if (ret)
		return ret;
	t->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->err_fd < 0) {
		ret = -errno;
		goto err;
	}
	ret = loop_add(host->loop, &t->err_watch, t->err_fd, EPOLLIN,
		       vpci_error, t);
	if (ret)
		goto err;
	for (i = 0; i < nqueues; i++) {
		t->q[i].io.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		t->q[i].io.call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->q[i].io.kick_fd < 0 || t->q[i].io.call_fd < 0) {
			ret = -errno;
			goto err;
		}
	}
	for (i = 0; i < t->nvec; i++) {
		t->msix[i].ctrl = MSIX_ENTRY_MASKED;
		ret = host->irq->msi_alloc(host->kvm, &t->gsi[i]);
		if (ret)
			goto err;
	}

	pci_dev_init(d, t->name, PCI_VENDOR_REDHAT_QUMRANET,
		     (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id),
		     ops->device_id == 1 ? 0x020000 : 0x010000, 1);
	d->cfg[0x2c] = PCI_VENDOR_REDHAT_QUMRANET & 0xff;	/* subsystem */
	d->cfg[0x2d] = PCI_VENDOR_REDHAT_QUMRANET >> 8;
	d->cfg[0x2e] = 0x40;
	d->cfg[0x3d] = 1;			/* INTA# */
	d->ops = &pci_ops;
	d->opaque = t;
	ret = pci_dev_set_bar(d, 0, PCI_BAR_MEM64, VPCI_BAR_SIZE);
	ret = ret ?: add_vndr_cap(d, CFG_COMMON, REG_COMMON, COMMON_SIZE, 16);
	ret = ret ?: add_vndr_cap(d, CFG_ISR, REG_ISR, 4, 16);
	ret = ret ?: add_vndr_cap(d, CFG_DEVICE, REG_DEVICE, ops->config_size, 16);
	ret = ret ?: add_vndr_cap(d, CFG_NOTIFY, REG_NOTIFY,
				  NOTIFY_MULT * nqueues, 20);
	if (ret)
		goto err;
	t->msix_cap = pci_dev_add_cap(d, CAP_MSIX, 12);
	if (t->msix_cap < 0) {
		ret = t->msix_cap;
		goto err;
	}
	d->cfg[t->msix_cap + 2] = (uint8_t)(t->nvec - 1);
	d->cfg[t->msix_cap + 3] = (uint8_t)((t->nvec - 1) >> 8);
	put_le32(&d->cfg[t->msix_cap + 4], REG_MSIX_TABLE);	/* BIR 0 */
	put_le32(&d->cfg[t->msix_cap + 8], REG_MSIX_PBA);
	d->wmask[t->msix_cap + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;

	vpci_reset(t);
	ret = pci_bus_add(host->pci, d, -1);
	if (ret)
		goto err;
	return 0;
err:
	log_err(name, "creating virtio-pci device: %s", strerror(-ret));
	virtio_pci_destroy(t);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	pthread_mutex_lock(&t->lock);
	vpci_reset(t);
	pthread_mutex_unlock(&t->lock);
	set_ioeventfds(t, t->bar, false);
	/* Off the buses too: a device unplugged at run time leaves no
	 * decoder or function behind. */
	if (t->bar)
		bus_unregister(t->host.mmio, t->bar);
	t->bar = 0;
	if (t->host.pci)
		pci_bus_remove(t->host.pci, &t->pci);
	if (t->err_watch.added)
		loop_del(t->host.loop, &t->err_watch);
	if (t->err_fd >= 0)
		close(t->err_fd);
	for (unsigned int i = 0; i < t->nvec; i++)
		if (t->gsi[i])
			t->host.irq->msi_free(t->host.kvm, t->gsi[i]);
	for (unsigned int i = 0; i < t->nqueues; i++) {
		if (t->q[i].io.kick_fd >= 0)
			close(t->q[i].io.kick_fd);
		if (t->q[i].io.call_fd >= 0)
			close(t->q[i].io.call_fd);
	}
	pthread_mutex_destroy(&t->lock);
}

/* --- the device lifecycle (core/device.h) ------------------------------ */

#define VPCI_STATE_VERSION 1
#define QREC_LEN 32		/* one queue in the queues field */
#define PCI_COMMAND 0x04
#define PCI_INTERRUPT_LINE 0x3c

enum {
	TAG_PCI = 1,
	TAG_DEVICE_ID,
	TAG_DEVICE_FEATURES,
	TAG_DRIVER_FEATURES,
	TAG_DFSELECT,
	TAG_GFSELECT,
	TAG_CONFIG_VECTOR,
	TAG_QUEUE_SEL,
	TAG_STATUS,
	TAG_CONFIG_GEN,
	TAG_ISR,
	TAG_STARTED,
	TAG_QUEUES,		/* nqueues * QREC_LEN bytes */
	TAG_MSIX,		/* nvec * 16 bytes */
	TAG_PENDING,
};

static struct virtio_pci *to_vpci(struct device *d)
{
	return (struct virtio_pci *)((char *)d -
				     offsetof(struct virtio_pci, device));
}

static const struct device_ops vpci_device_ops;

void virtio_pci_device_init(struct virtio_pci *t, const char *id,
			    const struct virtio_pci_model *m)
{
	memset(t, 0, sizeof(*t));
	device_init(&t->device, &vpci_device_ops, id);
	t->model = *m;
	t->err_fd = -1;
}

static int vpci_realize(struct device *d, const struct machine_host *h)
{
	struct virtio_pci *t = to_vpci(d);
	struct virtio_pci_host host = {
		.irq = h->irq,
		.kvm = h->irq_ctx,
		.ioeventfd_any_len = h->kvm && h->kvm->ioeventfd_any_len,
		.mmio = h->mmio,
		.pci = h->pci,
		.loop = h->loop,
		.ctl = h->devctl,
		.mem = h->mem,
		.events = h->events,
	};
	struct device keep = t->device;
	struct virtio_pci_model m = t->model;
	int ret;

	ret = virtio_pci_create(t, &host, keep.id, m.ops, m.dev, m.nqueues,
				m.queue_size);
	/* create starts from a blank transport: the lifecycle's part back. */
	t->device = keep;
	t->model = m;
	if (ret) {
		t->err_fd = -1;
		return ret;
	}
	if (m.set_bus)
		m.set_bus(m.owner, virtio_pci_bus(t));
	return 0;
}

static void vpci_unrealize(struct device *d)
{
	struct virtio_pci *t = to_vpci(d);
	struct device keep = t->device;
	struct virtio_pci_model m = t->model;

	virtio_pci_destroy(t);
	memset(t, 0, sizeof(*t));
	t->device = keep;
	t->model = m;
	t->err_fd = -1;
}

/* System reset: the device reset a driver's status write of 0 makes, and
 * the function's config as at power-on: not decoding, MSI-X off. */
static void vpci_device_reset(struct device *d)
{
	struct virtio_pci *t = to_vpci(d);

	pthread_mutex_lock(&t->lock);
	vpci_reset(t);
	for (unsigned int v = 0; v < t->nvec; v++)
		t->msix[v] = (struct vpci_msix){ .ctrl = MSIX_ENTRY_MASKED };
	pthread_mutex_unlock(&t->lock);
	pci_cfg_write(t->host.pci, t->pci.devfn, t->msix_cap + 2, 2, 0);
	pci_cfg_write(t->host.pci, t->pci.devfn, PCI_INTERRUPT_LINE, 1, 0);
	pci_cfg_write(t->host.pci, t->pci.devfn, PCI_COMMAND, 2, 0);
}

static int vpci_pause(struct device *d)
{
	struct virtio_pci *t = to_vpci(d);
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->started) {
		ret = t->ops->pause ? t->ops->pause(t->dev, t->base)
				    : -ENOTSUP;
		if (ret)
			log_err(t->name, "pausing the device: %s",
				strerror(-ret));
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static int vpci_resume(struct device *d)
{
	struct virtio_pci *t = to_vpci(d);
	struct virtio_queue_io io[VIRTIO_MAX_QUEUES];
	uint64_t one = 1;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->started) {
		for (unsigned int i = 0; i < t->nqueues; i++)
			io[i] = t->q[i].io;
		ret = t->ops->resume(t->dev, t->driver_features, io,
				     t->nqueues, t->base);
		if (ret) {
			/* As a failed start: the guest sees a broken device,
			 * the VM goes on. */
			log_err(t->name, "resuming the device: %s",
				strerror(-ret));
			t->started = false;
			needs_reset(t);
			ret = 0;
		}
		/* A spurious interrupt per queue costs the driver a look
		 * at its rings; one lost in the pause would hang it. */
		for (unsigned int i = 0; t->started && i < t->nqueues; i++)
			if (t->q[i].io.enabled &&
			    write(t->q[i].io.call_fd, &one, sizeof(one)) < 0)
				log_warn(t->name, "q%u: interrupt: %s", i,
					 strerror(errno));
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static int vpci_save(struct device *d, struct state_writer *w)
{
	struct virtio_pci *t = to_vpci(d);
	uint8_t q[VIRTIO_MAX_QUEUES * QREC_LEN] = { 0 };
	uint8_t msix[VPCI_MAX_VECTORS * 16];

	pthread_mutex_lock(&t->lock);
	for (uint16_t v = 0; v < t->nvec; v++)
		if (!vector_live(t, v))
			collect_pending(t, v);
	for (unsigned int i = 0; i < t->nqueues; i++) {
		uint8_t *p = q + i * QREC_LEN;
		const struct vpci_queue *vq = &t->q[i];

		p[0] = vq->io.enabled;
		put_le16(p + 2, vq->vector);
		put_le16(p + 4, vq->io.size);
		put_le16(p + 6, t->started ? t->base[i] : 0);
		put_le64(p + 8, vq->io.desc);
		put_le64(p + 16, vq->io.driver);
		put_le64(p + 24, vq->io.device);
	}
	for (unsigned int v = 0; v < t->nvec; v++) {
		put_le32(msix + 16 * v, t->msix[v].addr_lo);
		put_le32(msix + 16 * v + 4, t->msix[v].addr_hi);
		put_le32(msix + 16 * v + 8, t->msix[v].data);
		put_le32(msix + 16 * v + 12, t->msix[v].ctrl);
	}
	pci_dev_save(&t->pci, w, TAG_PCI);
	state_put_u16(w, TAG_DEVICE_ID, t->ops->device_id);
	state_put_u64(w, TAG_DEVICE_FEATURES, t->device_features);
	state_put_u64(w, TAG_DRIVER_FEATURES, t->driver_features);
	state_put_u32(w, TAG_DFSELECT, t->dfselect);
	state_put_u32(w, TAG_GFSELECT, t->gfselect);
	state_put_u16(w, TAG_CONFIG_VECTOR, t->config_vector);
	state_put_u16(w, TAG_QUEUE_SEL, t->queue_sel);
	state_put_u8(w, TAG_STATUS, t->status);
	state_put_u8(w, TAG_CONFIG_GEN, t->config_gen);
	state_put_u8(w, TAG_ISR, t->isr);
	state_put_u8(w, TAG_STARTED, t->started);
	state_put_bytes(w, TAG_QUEUES, q, t->nqueues * QREC_LEN);
	state_put_bytes(w, TAG_MSIX, msix, t->nvec * 16);
	state_put_bytes(w, TAG_PENDING, t->pending, sizeof(t->pending));
	if (t->ops->save)
		t->ops->save(t->dev, w);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* What a load would apply, checked whole first. */
struct vpci_image {
	uint16_t device_id, config_vector, queue_sel;
	uint64_t device_features, driver_features;
	uint32_t dfselect, gfselect;
	uint8_t status, config_gen, isr, started;
	uint8_t q[VIRTIO_MAX_QUEUES * QREC_LEN];
	uint8_t msix[VPCI_MAX_VECTORS * 16];
	uint64_t pending[(VPCI_MAX_VECTORS + 63) / 64];
};

static int get_all(struct virtio_pci *t, struct state_reader *r,
		   struct vpci_image *m)
{
	int ret;

	ret = state_get_u16(r, TAG_DEVICE_ID, &m->device_id);
	ret = ret ?: state_get_u64(r, TAG_DEVICE_FEATURES, &m->device_features);
	ret = ret ?: state_get_u64(r, TAG_DRIVER_FEATURES, &m->driver_features);
	ret = ret ?: state_get_u32(r, TAG_DFSELECT, &m->dfselect);
	ret = ret ?: state_get_u32(r, TAG_GFSELECT, &m->gfselect);
	ret = ret ?: state_get_u16(r, TAG_CONFIG_VECTOR, &m->config_vector);
	ret = ret ?: state_get_u16(r, TAG_QUEUE_SEL, &m->queue_sel);
	ret = ret ?: state_get_u8(r, TAG_STATUS, &m->status);
	ret = ret ?: state_get_u8(r, TAG_CONFIG_GEN, &m->config_gen);
	ret = ret ?: state_get_u8(r, TAG_ISR, &m->isr);
	ret = ret ?: state_get_u8(r, TAG_STARTED, &m->started);
	ret = ret ?: state_get_bytes(r, TAG_QUEUES, m->q,
				     t->nqueues * QREC_LEN);
	ret = ret ?: state_get_bytes(r, TAG_MSIX, m->msix, t->nvec * 16);
	ret = ret ?: state_get_bytes(r, TAG_PENDING, m->pending,
				     sizeof(m->pending));
	if (ret == -ENOENT)
		return state_bad(t->name, "virtio-pci", 0, "a field is missing");
	return ret;
}

#define STATUS_KNOWN                                                           \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                    \
	 VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK |                 \
	 VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* Every value against what this transport could have come to hold. */
static int check_image(struct virtio_pci *t, const struct vpci_image *m)
{
	const char *who = t->name;
	bool fok = m->status & VIRTIO_STATUS_FEATURES_OK;

	if (m->device_id != t->ops->device_id)
		return state_bad(who, "device id", m->device_id,
				 "another kind of virtio device");
	if (m->device_features != t->device_features)
		return state_bad(who, "device features", m->device_features,
				 "not what this device offers");
	if (m->driver_features & ~t->device_features)
		return state_bad(who, "driver features", m->driver_features,
				 "bits the device does not offer");
	if (m->status & ~STATUS_KNOWN)
		return state_bad(who, "status", m->status, "unknown bits");
	if (fok && !(m->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
		return state_bad(who, "status", m->status,
				 "FEATURES_OK without VERSION_1");
	if (m->started > 1 ||
	    (m->started && (!fok || !(m->status & VIRTIO_STATUS_DRIVER_OK))))
		return state_bad(who, "started", m->started,
				 "not a device the driver started");
	if (m->started && !t->ops->resume)
		return state_bad(who, "started", m->started,
				 "this model cannot resume");
	if (m->config_vector != NO_VECTOR && m->config_vector >= t->nvec)
		return state_bad(who, "config vector", m->config_vector,
				 "no such MSI-X vector");
	if (m->isr & ~(ISR_QUEUE | ISR_CONFIG))
		return state_bad(who, "isr", m->isr, "unknown bits");
	for (unsigned int v = 0; v < t->nvec; v++)
		if (get_le32(m->msix + 16 * v + 12) & ~MSIX_ENTRY_MASKED)
			return state_bad(who, "MSI-X vector control", v,
					 "reserved bits set");
	for (unsigned int v = t->nvec; v < VPCI_MAX_VECTORS; v++)
		if (m->pending[v / 64] & (1ULL << (v % 64)))
			return state_bad(who, "MSI-X pending", v,
					 "no such vector");
	for (unsigned int i = 0; i < t->nqueues; i++) {
		const uint8_t *p = m->q + i * QREC_LEN;
		uint16_t vec = get_le16(p + 2), size = get_le16(p + 4);
		uint16_t base = get_le16(p + 6);
		struct virtq probe;

		if (p[0] > 1 || p[1])
			return state_bad(who, "queue enabled", i, "not 0 or 1");
		if (vec != NO_VECTOR && vec >= t->nvec)
			return state_bad(who, "queue vector", vec,
					 "no such MSI-X vector");
		if (size > t->max_queue_size)
			return state_bad(who, "queue size", size,
					 "larger than the device allows");
		if (!m->started || !p[0]) {
			if (base)
				return state_bad(who, "queue position", base,
						 "on a queue not running");
			continue;
		}
		/* A running queue's rings as the device would serve them. */
		if (t->host.mem &&
		    virtq_init(&probe, who, t->host.mem, size, get_le64(p + 8),
			       get_le64(p + 16), get_le64(p + 24),
			       m->driver_features, base))
			return state_bad(who, "queue", i,
					 "rings the device could not serve");
	}
	return 0;
}

static int vpci_load(struct device *d, struct state_reader *r)
{
	struct virtio_pci *t = to_vpci(d);
	struct vpci_image *m = calloc(1, sizeof(*m));
	uint8_t cfg[PCI_CFG_SIZE];
	int ret;

	if (!m)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	ret = get_all(t, r, m);
	ret = ret ?: check_image(t, m);
	/* The config space is checked by pci_dev_load against the write
	 * mask; look first so that a refusal changes nothing. */
	ret = ret ?: state_get_bytes(r, TAG_PCI, cfg, PCI_CFG_SIZE);
	for (unsigned int i = 0; !ret && i < PCI_CFG_SIZE; i++)
		if ((cfg[i] ^ t->pci.cfg[i]) & (uint8_t)~t->pci.wmask[i])
			ret = state_bad(t->name, "pci config offset", i,
					"a read-only bit differs");
	ret = ret ?: (t->ops->load ? t->ops->load(t->dev, r) : 0);
	/* Unknown mandatory fields refuse the record before anything is
	 * applied (device_load would only find them afterwards). */
	ret = ret ?: state_reader_close(r, t->name);
	if (ret) {
		pthread_mutex_unlock(&t->lock);
		free(m);
		return ret == -ENOENT ? -EINVAL : ret;
	}
	/* Apply: a device as the record left it, paused. Its model holds
	 * nothing running (a fresh instance, or one paused). */
	for (unsigned int i = 0; i < t->nqueues; i++)
		irqfd_detach(t, i);
	t->driver_features = m->driver_features;
	t->dfselect = m->dfselect;
	t->gfselect = m->gfselect;
	t->config_vector = m->config_vector;
	t->queue_sel = m->queue_sel;
	t->status = m->status;
	t->config_gen = m->config_gen;
	t->isr = m->isr;
	for (unsigned int i = 0; i < t->nqueues; i++) {
		const uint8_t *p = m->q + i * QREC_LEN;
		struct vpci_queue *q = &t->q[i];

		q->io.enabled = p[0];
		q->vector = get_le16(p + 2);
		q->io.size = get_le16(p + 4);
		t->base[i] = get_le16(p + 6);
		q->io.desc = get_le64(p + 8);
		q->io.driver = get_le64(p + 16);
		q->io.device = get_le64(p + 24);
		drain(q->io.kick_fd);
		drain(q->io.call_fd);
	}
	for (unsigned int v = 0; v < t->nvec; v++) {
		t->msix[v].addr_lo = get_le32(m->msix + 16 * v);
		t->msix[v].addr_hi = get_le32(m->msix + 16 * v + 4);
		t->msix[v].data = get_le32(m->msix + 16 * v + 8);
		t->msix[v].ctrl = get_le32(m->msix + 16 * v + 12);
	}
	memcpy(t->pending, m->pending, sizeof(t->pending));
	t->started = m->started;
	atomic_store(&t->broken, false);
	pthread_mutex_unlock(&t->lock);
	free(m);
	/* As guest writes: the BAR decodes (ioeventfds with it), and the
	 * MSI-X enable bits route the vectors and attach the irqfds. */
	ret = pci_dev_load(t->host.pci, &t->pci, r, TAG_PCI);
	if (!ret) {
		pthread_mutex_lock(&t->lock);
		update_all_vectors(t);
		pthread_mutex_unlock(&t->lock);
	}
	return ret;
}

static void vpci_destroy(struct device *d)
{
	struct virtio_pci *t = to_vpci(d);

	if (t->model.release)
		t->model.release(t->model.owner);
}

static const struct device_ops vpci_device_ops = {
	.kind = "virtio-pci",
	.state_version = VPCI_STATE_VERSION,
	.realize = vpci_realize,
	.unrealize = vpci_unrealize,
	.reset = vpci_device_reset,
	.pause = vpci_pause,
	.resume = vpci_resume,
	.save = vpci_save,
	.load = vpci_load,
	.destroy = vpci_destroy,
};
