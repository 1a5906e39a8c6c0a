/* i440FX + PIIX3 (+ PIIX4-style ACPI PM function): see platform/piix.h.
 * Register meanings follow Intel's 82371SB (PIIX3) and 82371AB (PIIX4)
 * datasheets; only what a guest of that era reads or programs has a
 * meaning here, the rest of config space is plain storage. */
#include "platform/piix.h"

#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PIRQRC 0x60		/* PIRQRC[A..D]: bit 7 disables, 3:0 IRQ */
#define PIRQ_DISABLE 0x80
#define IDETIM_PRI 0x40		/* IDE timing, bit 15 = decode enable */
#define IDETIM_SEC 0x42
#define IDE_BAR_BM 4
#define PMBA 0x40
#define PMREGMISC 0x80

/* PM1 registers (ACPI 4.8.3). */
#define PM1_STS 0
#define PM1_EN 2
#define PM1_CNT 4
#define PM_TMR 8
#define PM1_PWRBTN 0x0100		/* PWRBTN_STS in PM1_STS, _EN in PM1_EN */
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define PM1_SLP_TYP(v) (((v) >> 10) & 7)
#define PM_S5_TYPE 5		/* the DSDT's _S5_ package says 5 */
#define PM_TMR_HZ 3579545ULL

/* Guest mistakes logged per chipset before silence: a guest can make
 * them as fast as it can write a port. */
#define GUEST_LOG_MAX 16

/* Caller holds p->lock. */
#define guest_err(p, who, ...)                                                 \
	log_limited(&(p)->guest_logged, GUEST_LOG_MAX, (who), "guest errors",  \
		    __VA_ARGS__)

/* IRQs 10 and 11 are free of every ISA device tern has; two PIRQs share
 * each, as on a typical board. */
const uint8_t piix_pirq_default[4] = { 10, 10, 11, 11 };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Drives each PIRQ's ISA IRQ from its sources and PIRQRC: called with the
 * lock held after any change to either. An IRQ shared by two PIRQs is
 * the OR of both. */
/* The SCI is asserted while an enabled fixed event is pending. */
static bool sci_pending(const struct piix *p)
{
	return p->pm1_sts & p->pm1_en & PM1_PWRBTN;
}

/* Drives the ISA IRQs from the PIRQ routing and the SCI (IRQ 9, which a
 * PIRQ may share: the line is their OR). Called with p->lock held. */
static void route_update(struct piix *p)
{
	uint8_t want[4];
	uint16_t level = 0, before = 0;
	bool sci = sci_pending(p);

	for (int i = 0; i < 4; i++) {
		uint8_t rc = p->isa.cfg[PIRQRC + i];
		uint8_t irq = rc & 0x0f;

		/* IRQs 0-2, 8 and 13 are reserved in PIRQRC (datasheet). */
		want[i] = (rc & PIRQ_DISABLE) || irq < 3 || irq == 8 ||
				  irq == 13 ? 0 : irq;
		if (want[i] && p->pirq_src[i])
			level |= (uint16_t)(1u << want[i]);
		if (p->pirq_irq[i])
			before |= (uint16_t)(1u << p->pirq_irq[i]);
	}
	if (sci)
		level |= 1u << PIIX_SCI_IRQ;
	if (p->sci_level)
		before |= 1u << PIIX_SCI_IRQ;
	for (int irq = 3; irq < 16; irq++) {
		bool on = level & (1u << irq), was = before & (1u << irq);

		if (on || was)
			irq_line_set(&(struct irq_line){ p->isa_irq.set,
							 p->isa_irq.opaque,
							 (uint32_t)irq },
				     on);
	}
	for (int i = 0; i < 4; i++)
		p->pirq_irq[i] = want[i] && p->pirq_src[i] ? want[i] : 0;
	p->sci_level = sci;
}

/* An INTx line: gsi carries devfn << 2 | pin, the source's identity.
 * Each PIRQ counts its asserted sources; a source's own level is kept so
 * a repeated assert or deassert counts once. */
static int intx_set(void *opaque, uint32_t id, int level)
{
	struct piix *p = opaque;
	unsigned int devfn = (id >> 2) & 0xff, pin = id & 3;
	unsigned int pirq = piix_pirq_of(devfn >> 3, pin);
	uint8_t bit = (uint8_t)(1u << pin);

	pthread_mutex_lock(&p->lock);
	if (level && !(p->intx_level[devfn] & bit)) {
		p->intx_level[devfn] |= bit;
		p->pirq_src[pirq]++;
	} else if (!level && (p->intx_level[devfn] & bit)) {
		p->intx_level[devfn] &= (uint8_t)~bit;
		p->pirq_src[pirq]--;
	}
	route_update(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

struct irq_line piix_intx_line(struct piix *p, uint8_t devfn, unsigned int pin)
{
	return (struct irq_line){ intx_set, p, (uint32_t)devfn << 2 | (pin & 3) };
}

void piix_firmware_route(struct piix *p, struct pci_bus *pci)
{
	for (int devfn = 0; devfn < 256; devfn++) {
		struct pci_dev *d = pci->devs[devfn];
		uint8_t pin = d ? d->cfg[0x3d] : 0;

		if (!pin || pin > 4 || devfn == PIIX_DEVFN_IDE)
			continue;
		d->cfg[0x3c] = p->isa.cfg[PIRQRC +
					  piix_pirq_of((unsigned int)devfn >> 3,
						       pin - 1u)] & 0x0f;
	}
}

static void isa_cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct piix *p = d->opaque;

	if (off < PIRQRC + 4 && off + len > PIRQRC) {
		pthread_mutex_lock(&p->lock);
		route_update(p);
		pthread_mutex_unlock(&p->lock);
	}
}

static const struct pci_dev_ops isa_ops = { .cfg_written = isa_cfg_written };

/* Both channels' 8 bytes at ADDR, or neither. */
static int bm_register(struct piix *p, uint64_t addr)
{
	int ret = bus_register(p->pio, addr, 8, p->ide_bm_ops, p->ide_chan[0],
			       "ide-bm0");

	if (!ret) {
		ret = bus_register(p->pio, addr + 8, 8, p->ide_bm_ops,
				   p->ide_chan[1], "ide-bm1");
		if (ret)
			bus_unregister(p->pio, addr);
	}
	return ret;
}

static void host_cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct piix *p = d->opaque;

	if (p->pam_changed && off < PIIX_PAM0 + PIIX_PAM_REGS &&
	    off + len > PIIX_PAM0)
		p->pam_changed(p->pam_opaque, &d->cfg[PIIX_PAM0]);
}

static const struct pci_dev_ops host_ops = { .cfg_written = host_cfg_written };

void piix_watch_pam(struct piix *p, void (*fn)(void *opaque, const uint8_t *pam),
		    void *opaque)
{
	p->pam_changed = fn;
	p->pam_opaque = opaque;
}

static void ide_bar_update(struct pci_dev *d, int bar, uint64_t old_addr,
			   uint64_t new_addr)
{
	struct piix *p = d->opaque;
	uint64_t at = p->ide_bm_addr;	/* what we registered; 0 none */
	int ret;

	if (bar != IDE_BAR_BM || !p->ide_bm_ops)
		return;
	if (at) {
		bus_unregister(p->pio, at);
		bus_unregister(p->pio, at + 8);
		p->ide_bm_addr = 0;
	}
	if (!new_addr)
		return;
	ret = bm_register(p, new_addr);
	if (ret) {
		/* Taken (the guest chose another device's ports): keep
		 * decoding where we were, as if the move had not been. */
		pthread_mutex_lock(&p->lock);
		guest_err(p, "piix-ide", "bus master block at 0x%llx: %s; it "
			  "stays at 0x%llx", (unsigned long long)new_addr,
			  strerror(-ret), (unsigned long long)at);
		pthread_mutex_unlock(&p->lock);
		if (!at || bm_register(p, at))
			return;
		new_addr = at;
	}
	p->ide_bm_addr = new_addr;
}

static const struct pci_dev_ops ide_ops = { .bar_update = ide_bar_update };

int piix_attach_ide(struct piix *p, const struct bus_ops *cmd,
		    const struct bus_ops *ctl, const struct bus_ops *bm,
		    void *chan0, void *chan1)
{
	int ret;

	ret = bus_register(p->pio, 0x1f0, 8, cmd, chan0, "ide0");
	ret = ret ?: bus_register(p->pio, 0x3f6, 1, ctl, chan0, "ide0-ctl");
	ret = ret ?: bus_register(p->pio, 0x170, 8, cmd, chan1, "ide1");
	ret = ret ?: bus_register(p->pio, 0x376, 1, ctl, chan1, "ide1-ctl");
	if (ret) {
		log_err("piix-ide", "legacy ports: %s", strerror(-ret));
		return ret;
	}
	p->ide_bm_ops = bm;
	p->ide_chan[0] = chan0;
	p->ide_chan[1] = chan1;
	return 0;
}

/* ACPI PM block. SCI_EN reads as set: with no SMI command port the
 * platform is always in ACPI mode. The one fixed event tern generates is
 * the power button (piix_power_button); no RTC alarm, no timer carry. */
static void pm_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct piix *p = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&p->lock);
	if (off >= PM_TMR && off < PM_TMR + 4) {
		uint64_t ticks = (now_ns() - p->tmr_origin_ns) * PM_TMR_HZ /
				 1000000000ULL;

		v = (uint32_t)ticks >> (8 * (off - PM_TMR));
	} else if (off < PM1_EN) {
		v = p->pm1_sts >> (8 * off);
	} else if (off < PM1_CNT) {
		v = p->pm1_en >> (8 * (off - PM1_EN));
	} else if (off < PM1_CNT + 2) {
		v = (uint16_t)(p->pm1_cnt | PM1_CNT_SCI_EN) >>
		    (8 * (off - PM1_CNT));
	}
	pthread_mutex_unlock(&p->lock);
	bus_put(data, len, v);
}

static void pm_write(void *opaque, uint64_t off, const uint8_t *data,
		     uint32_t len)
{
	struct piix *p = opaque;
	uint64_t v = bus_get(data, len);
	bool off_req = false;

	pthread_mutex_lock(&p->lock);
	if (off == PM1_STS && len >= 2) {
		p->pm1_sts &= (uint16_t)~v;		/* write 1 to clear */
		if (len == 4)
			p->pm1_en = (uint16_t)(v >> 16);
		route_update(p);
	} else if (off == PM1_EN && len >= 2) {
		p->pm1_en = (uint16_t)v;
		route_update(p);
	} else if (off == PM1_CNT && len >= 2) {
		p->pm1_cnt = (uint16_t)(v & ~PM1_CNT_SLP_EN);
		if (v & PM1_CNT_SLP_EN) {
			if (PM1_SLP_TYP(v) == PM_S5_TYPE)
				off_req = true;
			else
				guest_err(p, "piix-pm", "sleep type %u is not "
					  "supported",
					  (unsigned int)PM1_SLP_TYP(v));
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (off_req)
		vm_control_request(&p->ctl, VM_REQ_POWEROFF);
}

static const struct bus_ops pm_ops = { .read = pm_read, .write = pm_write };

void piix_power_button(struct piix *p)
{
	pthread_mutex_lock(&p->lock);
	p->pm1_sts |= PM1_PWRBTN;
	route_update(p);
	pthread_mutex_unlock(&p->lock);
}

int piix_init(struct piix *p, struct pci_bus *pci, struct bus *pio,
	      struct irq_line isa_irq, struct vm_control ctl)
{
	int ret;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->pio = pio;
	p->isa_irq = isa_irq;
	p->ctl = ctl;
	p->tmr_origin_ns = now_ns();

	/* 00.0 i440FX: PAM (0x59-0x5f) is storage unless a firmware boot
	 * watches it (piix_watch_pam); SMRAM (0x72) changes nothing (there
	 * is no SMM). */
	pci_dev_init(&p->host, "i440fx", 0x8086, 0x1237, 0x060000, 0x02);
	memset(&p->host.wmask[PIIX_PAM0], 0xff, PIIX_PAM_REGS);
	p->host.wmask[PIIX_PAM0] = 0x30;	/* PAM0: only 0xF0000 */
	p->host.wmask[0x72] = 0xff;
	p->host.ops = &host_ops;
	p->host.opaque = p;

	/* 01.0 PIIX3 ISA bridge, multi-function so 01.1 and 01.3 are seen. */
	pci_dev_init(&p->isa, "piix3-isa", 0x8086, 0x7000, 0x060100, 0x00);
	p->isa.cfg[0x0e] = 0x80;
	for (int i = 0; i < 4; i++) {
		p->isa.cfg[PIRQRC + i] = piix_pirq_default[i];
		p->isa.wmask[PIRQRC + i] = 0x8f;
	}
	p->isa.ops = &isa_ops;
	p->isa.opaque = p;

	/* 01.1 PIIX3 IDE: both channels in compatibility mode (legacy ports
	 * and IRQs 14/15), bus master at BAR4; prog-if 0x80 = bus master
	 * capable, neither channel switchable to native mode. Decode is
	 * enabled in IDETIM as a BIOS leaves it: ata_piix skips a channel
	 * whose bit 15 is clear. */
	pci_dev_init(&p->ide, "piix3-ide", 0x8086, 0x7010, 0x010180, 0x00);
	p->ide.cfg[IDETIM_PRI + 1] = 0x80;
	p->ide.cfg[IDETIM_SEC + 1] = 0x80;
	memset(&p->ide.wmask[IDETIM_PRI], 0xff, 4);
	p->ide.wmask[0x44] = 0xff;	/* SIDETIM */
	ret = pci_dev_set_bar(&p->ide, IDE_BAR_BM, PCI_BAR_IO, 16);
	if (ret)
		goto out;
	p->ide.ops = &ide_ops;
	p->ide.opaque = p;

	/* 01.3 power management (PIIX4 ACPI): PMBA fixed where the FADT
	 * says, I/O decode on. Guests read it; moving it is not offered. */
	pci_dev_init(&p->pm, "piix4-pm", 0x8086, 0x7113, 0x068000, 0x03);
	p->pm.cfg[PMBA] = (uint8_t)(PIIX_PM_BASE | 1);
	p->pm.cfg[PMBA + 1] = (uint8_t)(PIIX_PM_BASE >> 8);
	p->pm.cfg[PMREGMISC] = 1;
	p->pm.cfg[0x3d] = 1;		/* SCI on INTA, routed to IRQ 9 */
	p->pm.cfg[0x3c] = PIIX_SCI_IRQ;
	/* DEVACTB (0x58) bit 25, APMC_EN, set: the APM command port raises
	 * no SMI here, and a BIOS that sees it set takes SMM setup as done
	 * (there is no SMM to set up). */
	p->pm.cfg[0x5b] = 0x02;

	ret = pci_bus_add(pci, &p->host, 0);
	ret = ret ?: pci_bus_add(pci, &p->isa, PIIX_DEVFN_ISA);
	ret = ret ?: pci_bus_add(pci, &p->ide, PIIX_DEVFN_IDE);
	ret = ret ?: pci_bus_add(pci, &p->pm, PIIX_DEVFN_PM);
	ret = ret ?: bus_register(pio, PIIX_PM_BASE, PIIX_PM_LEN, &pm_ops, p,
				  "acpi-pm");
out:
	if (ret)
		log_err("piix", "building the chipset: %s", strerror(-ret));
	return ret;
}

void piix_destroy(struct piix *p)
{
	pthread_mutex_destroy(&p->lock);
}

/* --- the device lifecycle (core/device.h) ------------------------------ */

#define PIIX_STATE_VERSION 1

enum {
	TAG_HOST = 1,		/* config spaces */
	TAG_ISA,
	TAG_IDE,
	TAG_PM,
	TAG_PM1_STS,
	TAG_PM1_EN,
	TAG_PM1_CNT,
	TAG_PM_TMR_NS,		/* ns the PM timer has counted */
};

static struct piix_device *to_piix(struct device *d)
{
	return (struct piix_device *)((char *)d -
				      offsetof(struct piix_device, dev));
}

static const struct device_ops piix_device_ops;

void piix_device_init(struct piix_device *d, const char *id)
{
	memset(d, 0, sizeof(*d));
	device_init(&d->dev, &piix_device_ops, id);
}

static void piix_unrealize(struct device *dev);

static int piix_realize(struct device *dev, const struct machine_host *h)
{
	struct piix_device *d = to_piix(dev);
	int ret = piix_init(&d->piix, h->pci, h->pio,
			    (struct irq_line){ h->set_irq, h->set_irq_opaque,
					       0 },
			    h->ctl);

	d->created = true;
	d->piix.pci_bus = h->pci;
	if (ret)		/* piix_init leaves what it made */
		piix_unrealize(dev);
	return ret;
}

static void piix_unrealize(struct device *dev)
{
	struct piix_device *d = to_piix(dev);
	struct piix *p = &d->piix;
	static const uint16_t ide_ports[] = { 0x1f0, 0x3f6, 0x170, 0x376 };
	struct pci_dev *fn[] = { &p->host, &p->isa, &p->ide, &p->pm };

	if (!d->created)
		return;
	for (size_t i = 0; i < sizeof(fn) / sizeof(fn[0]); i++)
		pci_bus_remove(p->pci_bus, fn[i]);
	if (p->ide_bm_addr) {
		bus_unregister(p->pio, p->ide_bm_addr);
		bus_unregister(p->pio, p->ide_bm_addr + 8);
	}
	if (p->ide_bm_ops)
		for (size_t i = 0; i < sizeof(ide_ports) / sizeof(ide_ports[0]);
		     i++)
			bus_unregister(p->pio, ide_ports[i]);
	bus_unregister(p->pio, PIIX_PM_BASE);
	piix_destroy(p);
	d->created = false;
}

static void piix_device_reset(struct device *dev)
{
	struct piix *p = &to_piix(dev)->piix;

	for (int i = 0; i < 4; i++)
		pci_cfg_write(p->pci_bus, PIIX_DEVFN_ISA, PIRQRC + i, 1,
			      piix_pirq_default[i]);
	pci_cfg_write(p->pci_bus, PIIX_DEVFN_IDE, IDETIM_PRI, 4,
		      0x80008000u);
	pci_cfg_write(p->pci_bus, PIIX_DEVFN_IDE, 0x44, 1, 0);
	pthread_mutex_lock(&p->lock);
	p->pm1_sts = p->pm1_en = p->pm1_cnt = 0;
	route_update(p);
	pthread_mutex_unlock(&p->lock);
}

static int piix_pause(struct device *dev)
{
	struct piix *p = &to_piix(dev)->piix;

	pthread_mutex_lock(&p->lock);
	p->tmr_paused_ns = now_ns() - p->tmr_origin_ns;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int piix_resume(struct device *dev)
{
	struct piix *p = &to_piix(dev)->piix;

	pthread_mutex_lock(&p->lock);
	p->tmr_origin_ns = now_ns() - p->tmr_paused_ns;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int piix_save(struct device *dev, struct state_writer *w)
{
	struct piix *p = &to_piix(dev)->piix;

	pci_dev_save(&p->host, w, TAG_HOST);
	pci_dev_save(&p->isa, w, TAG_ISA);
	pci_dev_save(&p->ide, w, TAG_IDE);
	pci_dev_save(&p->pm, w, TAG_PM);
	pthread_mutex_lock(&p->lock);
	state_put_u16(w, TAG_PM1_STS, p->pm1_sts);
	state_put_u16(w, TAG_PM1_EN, p->pm1_en);
	state_put_u16(w, TAG_PM1_CNT, p->pm1_cnt);
	state_put_u64(w, TAG_PM_TMR_NS, p->tmr_paused_ns);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int piix_load(struct device *dev, struct state_reader *r)
{
	struct piix *p = &to_piix(dev)->piix;
	struct pci_dev *fn[] = { &p->host, &p->isa, &p->ide, &p->pm };
	uint8_t cfg[PCI_CFG_SIZE];
	uint16_t sts, en, cnt;
	uint64_t tmr;
	int ret = 0;

	/* Every function's config against its write mask before any is
	 * applied (pci_dev_load checks one at a time). */
	for (unsigned int i = 0; !ret && i < 4; i++) {
		ret = state_get_bytes(r, (uint16_t)(TAG_HOST + i), cfg,
				      sizeof(cfg));
		for (unsigned int b = 0; !ret && b < PCI_CFG_SIZE; b++)
			if ((cfg[b] ^ fn[i]->cfg[b]) & (uint8_t)~fn[i]->wmask[b])
				ret = state_bad(fn[i]->name, "pci config offset",
						b, "a read-only bit differs");
	}
	ret = ret ?: state_get_u16(r, TAG_PM1_STS, &sts);
	ret = ret ?: state_get_u16(r, TAG_PM1_EN, &en);
	ret = ret ?: state_get_u16(r, TAG_PM1_CNT, &cnt);
	ret = ret ?: state_get_u64(r, TAG_PM_TMR_NS, &tmr);
	if (ret == -ENOENT)
		return state_bad("piix", "piix", 0, "a field is missing");
	if (!ret && (cnt & PM1_CNT_SLP_EN))
		ret = state_bad("piix-pm", "PM1_CNT", cnt,
				"SLP_EN is never held");
	ret = ret ?: state_reader_close(r, "piix");
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	p->pm1_sts = sts;
	p->pm1_en = en;
	p->pm1_cnt = cnt;
	p->tmr_paused_ns = tmr;		/* counts on from it at resume */
	route_update(p);		/* the SCI as the loaded PM1 says */
	pthread_mutex_unlock(&p->lock);
	/* As guest writes: the routing, BAR4's bus-master block. */
	for (unsigned int i = 0; !ret && i < 4; i++)
		ret = pci_dev_load(p->pci_bus, fn[i], r,
				   (uint16_t)(TAG_HOST + i));
	return ret;
}

static const struct device_ops piix_device_ops = {
	.kind = "piix",
	.state_version = PIIX_STATE_VERSION,
	.realize = piix_realize,
	.unrealize = piix_unrealize,
	.reset = piix_device_reset,
	.pause = piix_pause,
	.resume = piix_resume,
	.save = piix_save,
	.load = piix_load,
};
