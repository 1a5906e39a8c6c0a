/* Intel 82540EM: see net/e1000.h. Register meanings follow Intel's 8254x
 * Software Developer's Manual; where a guest driver needs something the
 * manual leaves open, the comment says what Linux's e1000 does with it.
 * Every value from the guest (registers, descriptors, buffer addresses
 * and lengths) is checked here: bad ones give the guest an error it can
 * see or drop a packet, with a rate-limited log line. Guest RAM is only
 * reached through guest_mem_ptr. */
#include "net/e1000.h"

#include "core/bytes.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/state.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Registers (manual, table 13-2). */
#define REG_CTRL 0x0000
#define REG_STATUS 0x0008
#define REG_EECD 0x0010
#define REG_EERD 0x0014
#define REG_MDIC 0x0020
#define REG_VET 0x0038
#define REG_ICR 0x00c0
#define REG_ICS 0x00c8
#define REG_IMS 0x00d0
#define REG_IMC 0x00d8
#define REG_RCTL 0x0100
#define REG_TCTL 0x0400
#define REG_RDBAL 0x2800
#define REG_RDBAH 0x2804
#define REG_RDLEN 0x2808
#define REG_RDH 0x2810
#define REG_RDT 0x2818
#define REG_TDBAL 0x3800
#define REG_TDBAH 0x3804
#define REG_TDLEN 0x3808
#define REG_TDH 0x3810
#define REG_TDT 0x3818
#define REG_STATS 0x4000
#define REG_ITR 0x00c4
#define REG_RDTR 0x2820
#define REG_RADV 0x282c
#define REG_TIDV 0x3820
#define REG_TADV 0x382c
#define REG_RXCSUM 0x5000
#define REG_MTA 0x5200
#define REG_RA 0x5400
#define REG_VFTA 0x5600

/* Statistics the model counts; the rest of 0x4000-0x40FF reads 0. */
#define ST_MPC 0x4010
#define ST_PRC64 0x405c		/* PRC64..PRC1522: six size bins */
#define ST_GPRC 0x4074
#define ST_BPRC 0x4078
#define ST_MPRC 0x407c
#define ST_GPTC 0x4080
#define ST_GORCL 0x4088
#define ST_GORCH 0x408c
#define ST_GOTCL 0x4090
#define ST_GOTCH 0x4094
#define ST_ROC 0x40ac
#define ST_TORL 0x40c0
#define ST_TORH 0x40c4
#define ST_TOTL 0x40c8
#define ST_TOTH 0x40cc
#define ST_TPR 0x40d0
#define ST_TPT 0x40d4
#define ST_PTC64 0x40d8		/* PTC64..PTC1522 */
#define ST_MPTC 0x40f0
#define ST_BPTC 0x40f4
#define ST_TSCTC 0x40f8
#define ST_TSCTFC 0x40fc

#define CTRL_SLU (1u << 6)
#define CTRL_RST (1u << 26)
#define CTRL_VME (1u << 30)
#define CTRL_PHY_RST (1u << 31)

#define STATUS_FD (1u << 0)
#define STATUS_LU (1u << 1)
#define STATUS_SPEED_1000 (2u << 6)

#define EECD_SK 0x001
#define EECD_CS 0x002
#define EECD_DI 0x004
#define EECD_DO 0x008
#define EECD_FWE 0x030
#define EECD_REQ 0x040
#define EECD_GNT 0x080
#define EECD_PRES 0x100		/* EECD_SIZE (0x200) clear: 64 words */

#define EERD_START 0x01
#define EERD_DONE 0x10

#define MDIC_DATA 0xffffu
#define MDIC_REG(v) (((v) >> 16) & 31)
#define MDIC_PHY(v) (((v) >> 21) & 31)
#define MDIC_OP (3u << 26)
#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_INT (1u << 29)
#define MDIC_ERROR (1u << 30)

#define ICR_TXDW 0x0001
#define ICR_TXQE 0x0002
#define ICR_LSC 0x0004
#define ICR_RXDMT0 0x0010
#define ICR_RXO 0x0040
#define ICR_RXT0 0x0080
#define ICR_MDAC 0x0200

#define RCTL_EN (1u << 1)
#define RCTL_UPE (1u << 3)
#define RCTL_MPE (1u << 4)
#define RCTL_LPE (1u << 5)
#define RCTL_RDMTS(v) (((v) >> 8) & 3)
#define RCTL_MO(v) (((v) >> 12) & 3)
#define RCTL_BAM (1u << 15)
#define RCTL_BSIZE(v) (((v) >> 16) & 3)
#define RCTL_BSEX (1u << 25)
#define RCTL_SECRC (1u << 26)

#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)

#define RAH_AV (1u << 31)
#define RING_LEN_MASK 0xfff80u	/* RDLEN/TDLEN: bits 19:7 */

/* Transmit descriptors, 16 bytes (manual §3.3). In all three kinds byte
 * 11 is the command and byte 12 the status the device writes back. */
#define TXD_CMD_EOP 0x01
#define TXD_CMD_IC 0x04		/* legacy: insert checksum */
#define TXD_CMD_TSE 0x04	/* data: TCP segmentation */
#define TXD_CMD_RS 0x08
#define TXD_CMD_DEXT 0x20
#define TXD_CMD_VLE 0x40
#define TXD_CMD_IDE 0x80		/* delay the interrupt (TIDV) */
#define TXD_STA_DD 0x01
#define TXD_DTYP_CTX 0x0
#define TXD_DTYP_DATA 0x1
#define TUCMD_TCP 0x01		/* clear: UDP */
#define TUCMD_IP 0x02		/* clear: IPv6 */
#define POPTS_IXSM 0x01
#define POPTS_TXSM 0x02

/* Receive descriptors: address, length, checksum, status, errors,
 * special (manual §3.2.3). */
#define RXD_STA_DD 0x01
#define RXD_STA_EOP 0x02
#define RXD_STA_IXSM 0x04
#define RXD_STA_VP 0x08
#define RXD_STA_TCPCS 0x20		/* TCP/UDP checksum computed */
#define RXD_STA_IPCS 0x40		/* IPv4 header checksum computed */
#define RXD_ERR_TCPE 0x20
#define RXD_ERR_IPE 0x40
#define RXD_ERR_RXE 0x80
/* RXCSUM: packet checksum start (bits 7:0), IP and TCP/UDP offload. */
#define RXCSUM_PCSS(v) ((v) & 0xff)
#define RXCSUM_IPOFLD 0x100
#define RXCSUM_TUOFLD 0x200
/* RDTR and TIDV bit 31: flush partial descriptor block (self-clearing). */
#define DELAY_FPD 0x80000000u
/* Timer units: RDTR, RADV, TIDV, TADV count 1.024 us; ITR 256 ns. */
#define DELAY_UNIT_NS 1024ULL
#define ITR_UNIT_NS 256ULL

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define ETH_MIN 60		/* without the FCS */
#define ETH_MAX_STD 1522	/* with a VLAN tag and the FCS */
#define FCS_LEN 4
#define VLAN_TPID 0x8100

/* The backend hands over at most a 64 KiB frame (plus its header). */
#define RX_READ_MAX (12 + 65536)
#define LOG_ERRORS 16
/* Work of one tx_run, in descriptors plus frames sent: a TDT write costs
 * its vCPU (and holds the lock) for at most this and the frames of the
 * TSO packet it ends in; the receive thread does the rest, a turn at a
 * time. */
#define TX_BUDGET 256
/* The smallest TSO segment. Below it a segment is mostly headers, which
 * no stack sends in practice (later Intel NICs refuse TSO under 64 too);
 * and so one 64 KiB packet is at most about 1024 frames. */
#define TSO_MSS_MIN 64

/* M88E1011 PHY at MDIO address 1, as on the 82540EM. Linux matches its
 * identifier (0x01410C2x) and reads the status registers below. */
#define PHY_ADDR 1
enum {
	PHY_BMCR = 0x00, PHY_BMSR = 0x01, PHY_ID1 = 0x02, PHY_ID2 = 0x03,
	PHY_ANAR = 0x04, PHY_ANLPAR = 0x05, PHY_ANER = 0x06,
	PHY_GCR = 0x09, PHY_GSR = 0x0a, PHY_ESR = 0x0f,
	PHY_PSCR = 0x10, PHY_PSSR = 0x11, PHY_IER = 0x12, PHY_ISR = 0x13,
	PHY_EPSCR = 0x14, PHY_RXERR = 0x15,
};
#define BMCR_RESTART_AN 0x0200
#define BMCR_RESET 0x8000

static const uint16_t phy_power_on[E1000_PHY_REGS] = {
	[PHY_BMCR] = 0x1140,	/* autonegotiation on, 1000 Mb/s, full */
	/* 100/10 full/half, extended status, preamble suppression,
	 * negotiation complete, able to negotiate, link up */
	[PHY_BMSR] = 0x796d,
	[PHY_ID1] = 0x0141,
	[PHY_ID2] = 0x0c22,	/* M88E1011, revision 2 */
	[PHY_ANAR] = 0x0de1,
	[PHY_ANLPAR] = 0x45e1,	/* the partner: all 10/100 modes, pause */
	[PHY_ANER] = 0x0001,
	[PHY_GCR] = 0x0300,
	[PHY_GSR] = 0x3c00,	/* receivers fine, partner does 1000 */
	[PHY_ESR] = 0x3000,
	[PHY_PSCR] = 0x0068,
	[PHY_PSSR] = 0xac00,	/* 1000 Mb/s, full, resolved, link */
	[PHY_EPSCR] = 0x0c60,
};

/* What the PHY does not let the guest change. */
#define PHY_READONLY                                                           \
	(1u << PHY_BMSR | 1u << PHY_ID1 | 1u << PHY_ID2 | 1u << PHY_ANLPAR |   \
	 1u << PHY_ANER | 1u << PHY_GSR | 1u << PHY_ESR | 1u << PHY_PSSR |     \
	 1u << PHY_ISR | 1u << PHY_RXERR)

/* EEPROM: a Microwire part of 64 words, 6 address bits. After the start
 * bit come 2 opcode bits, READ is 10b. */
#define EE_ADDR_BITS 6
#define EE_OP_READ 2
#define EE_SUM 0xbaba		/* words 0x00-0x3F add up to this */
#define EE_CHECKSUM 0x3f
enum { EE_CMD = 0, EE_READING, EE_IGNORE };

/* Registers that only hold what the guest writes, with their reset
 * values: flow control, delays, FIFO pointers, wake-up. */
static const struct {
	uint32_t off, reset;
} plain_regs[] = {
	{ 0x0018, 0 },		/* CTRL_EXT */
	{ 0x001c, 0 },		/* FLA */
	{ 0x0028, 0 },		/* FCAL */
	{ 0x002c, 0 },		/* FCAH */
	{ 0x0030, 0 },		/* FCT */
	{ REG_VET, VLAN_TPID },	/* VET */
	{ REG_ITR, 0 },		/* ITR */
	{ 0x0170, 0 },		/* FCTTV */
	{ 0x0178, 0 },		/* TXCW */
	{ 0x0180, 0 },		/* RXCW */
	{ 0x0410, 0 },		/* TIPG */
	{ 0x0458, 0 },		/* AIFS */
	{ 0x0e00, 0 },		/* LEDCTL */
	{ 0x1000, 0x30 },	/* PBA: 48 KiB for receive */
	{ 0x2160, 0 },		/* FCRTL */
	{ 0x2168, 0 },		/* FCRTH */
	{ 0x2410, 0 },		/* RDFH */
	{ 0x2418, 0 },		/* RDFT */
	{ 0x2420, 0 },		/* RDFHS */
	{ 0x2428, 0 },		/* RDFTS */
	{ 0x2430, 0 },		/* RDFPC */
	{ REG_RDTR, 0 },	/* RDTR */
	{ 0x2828, 0 },		/* RXDCTL */
	{ REG_RADV, 0 },	/* RADV */
	{ 0x2c00, 0 },		/* RSRPD */
	{ 0x3000, 0 },		/* TXDMAC */
	{ 0x3410, 0 },		/* TDFH */
	{ 0x3418, 0 },		/* TDFT */
	{ 0x3420, 0 },		/* TDFHS */
	{ 0x3428, 0 },		/* TDFTS */
	{ 0x3430, 0 },		/* TDFPC */
	{ REG_TIDV, 0 },	/* TIDV */
	{ 0x3828, 0 },		/* TXDCTL */
	{ REG_TADV, 0 },	/* TADV */
	{ 0x3830, 0 },		/* TSPMT */
	{ REG_RXCSUM, 0 },	/* RXCSUM */
	{ 0x5800, 0 },		/* WUC */
	{ 0x5808, 0 },		/* WUFC */
	{ 0x5810, 0 },		/* WUS */
	{ 0x5820, 0 },		/* MANC */
	{ 0x5838, 0 },		/* IPAV */
	{ 0x5900, 0 },		/* WUPL */
};

_Static_assert(sizeof(plain_regs) / sizeof(plain_regs[0]) <= E1000_PLAIN_REGS,
	       "E1000_PLAIN_REGS too small");

/* --- small helpers ------------------------------------------------------ */

/* Internet checksum (RFC 1071): the sum of big-endian 16-bit words. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Inserts a checksum as the hardware does: the ones' complement of the
 * sum of buf[css..cse] (cse inclusive; 0 = to the end) plus `extra`, at
 * cso. The field's own content counts, so a driver leaves a pseudo-header
 * sum there. A zero result is sent as 0xFFFF where the protocol (UDP)
 * reads 0 as "no checksum". False when the offsets miss the packet. */
static bool csum_insert(uint8_t *buf, size_t len, size_t css, size_t cso,
			size_t cse, bool udp, uint32_t extra)
{
	size_t end = cse && cse < len ? cse + 1 : len;
	uint16_t c;

	if (css >= end || cso + 2 > len)
		return false;
	c = (uint16_t)~csum_fold(csum_add(extra, buf + css, end - css));
	if (udp && !c)
		c = 0xffff;
	put_be16(buf + cso, c);
	return true;
}

/* Ethernet FCS: IEEE 802.3's CRC-32 (reflected polynomial 0xEDB88320,
 * preset and final complement), which is zlib's crc32. */
static uint32_t crc32_eth(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(0, p, (uInt)len);
}

static bool is_broadcast(const uint8_t *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}

/* A guest mistake: logged, at most LOG_ERRORS times per VM reset. */
#define guest_err(e, ...)                                                      \
	log_limited(&(e)->errors_logged, LOG_ERRORS, (e)->name,                \
		    "guest errors", __VA_ARGS__)

static uint32_t *plain_reg(struct e1000 *e, uint32_t off)
{
	for (size_t i = 0; i < sizeof(plain_regs) / sizeof(plain_regs[0]); i++)
		if (plain_regs[i].off == off)
			return &e->plain[i];
	return NULL;
}

/* Linux writes VET = 0 on the 82540 at init: the 802.1Q type then. */
static uint16_t vlan_tpid(struct e1000 *e)
{
	uint16_t v = (uint16_t)*plain_reg(e, REG_VET);

	return v ? v : VLAN_TPID;
}

/* --- interrupts, link, statistics --------------------------------------- */

/* Interrupt moderation (8254x manual, 13.4.17-13.4.20, 13.4.33-13.4.35):
 *   - ITR: the line rises at most once per ITR x 256 ns; a cause that
 *     comes sooner is held (in ICR) until the interval has passed;
 *   - RDTR: RXT0 comes RDTR x 1.024 us after the last frame (each frame
 *     restarts it), and with RADV no later than RADV x 1.024 us after the
 *     first frame since the last RXT0; RDTR 0: at once, RADV unused;
 *   - TIDV/TADV: the same for TXDW, for descriptors with IDE set.
 * The deadlines are CLOCK_MONOTONIC nanoseconds (0: not armed); the
 * receive thread sleeps until the nearest (rx_main) and fires them
 * (e1000_tick). Arming one nearer than the thread's sleep wakes it. */
static uint64_t clock_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static uint64_t now_ns(const struct e1000 *e)
{
	return e->clock ? e->clock(e->clock_opaque) : clock_ns();
}

static uint64_t next_deadline(const struct e1000 *e)
{
	const uint64_t d[] = { e->rdtr_at, e->radv_at, e->tidv_at, e->tadv_at,
			       e->itr_at };
	uint64_t m = UINT64_MAX;

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] && d[i] < m)
			m = d[i];
	return m;
}

/* A deadline was armed: the thread must not sleep past it. */
static void timer_armed(struct e1000 *e, uint64_t at)
{
	uint64_t one = 1;

	if (at >= e->sleep_until)
		return;
	e->sleep_until = at;	/* one wake-up per nearer deadline */
	if (write(e->wake_fd, &one, sizeof(one)) < 0)
		log_warn(e->name, "waking the receive thread for a timer: %s",
			 strerror(errno));
}

static void line_set(struct e1000 *e, int level)
{
	int ret;

	/* An edge for any cause carries what the delay timers hold: the
	 * driver's handler reads ICR once, so a completion that would
	 * interrupt a little later is served by this interrupt instead of
	 * costing one (and a timer) of its own. */
	if (level && (e->rdtr_at || e->radv_at)) {
		e->rdtr_at = e->radv_at = 0;
		e->icr |= ICR_RXT0;
	}
	if (level && (e->tidv_at || e->tadv_at)) {
		e->tidv_at = e->tadv_at = 0;
		e->icr |= ICR_TXDW;
	}
	e->irq_level = level;
	if (level)
		e->irqs++;
	ret = irq_line_set(&e->host.intx, level);
	if (ret)
		log_warn(e->name, "INTx %d: %s", level, strerror(-ret));
}

static void irq_update(struct e1000 *e)
{
	int level = (e->icr & e->ims) != 0;
	uint32_t itr = *plain_reg(e, REG_ITR) & 0xffff;
	uint64_t now;

	if (level == e->irq_level)
		return;
	if (!level) {
		line_set(e, 0);
		return;
	}
	if (e->itr_at)
		return;			/* held: the timer raises it */
	if (itr) {
		now = now_ns(e);
		if (e->last_assert && now < e->last_assert + itr * ITR_UNIT_NS) {
			e->itr_at = e->last_assert + itr * ITR_UNIT_NS;
			timer_armed(e, e->itr_at);
			return;
		}
		e->last_assert = now;
	}
	line_set(e, 1);
}

static void raise_irq(struct e1000 *e, uint32_t cause)
{
	e->icr |= cause;
	irq_update(e);
}

/* A frame went to the ring: RXT0 now, or when the delay timers say. */
static void rx_delay(struct e1000 *e, uint32_t *cause)
{
	uint32_t rdtr = *plain_reg(e, REG_RDTR) & 0xffff;
	uint32_t radv = *plain_reg(e, REG_RADV) & 0xffff;
	uint64_t now;

	if (!rdtr) {
		*cause |= ICR_RXT0;
		return;
	}
	now = now_ns(e);
	e->rdtr_at = now + rdtr * DELAY_UNIT_NS;
	if (radv && !e->radv_at) {
		e->radv_at = now + radv * DELAY_UNIT_NS;
		timer_armed(e, e->radv_at);
	}
	timer_armed(e, e->rdtr_at);
}

/* A descriptor with RS was done: TXDW now, or by TIDV/TADV if it asked
 * for a delay (IDE). */
static void tx_delay(struct e1000 *e, uint8_t cmd, uint32_t *cause)
{
	uint32_t tidv = *plain_reg(e, REG_TIDV) & 0xffff;
	uint32_t tadv = *plain_reg(e, REG_TADV) & 0xffff;
	uint64_t now;

	if (!(cmd & TXD_CMD_IDE) || !tidv) {
		*cause |= ICR_TXDW;
		return;
	}
	now = now_ns(e);
	e->tidv_at = now + tidv * DELAY_UNIT_NS;
	if (tadv && !e->tadv_at) {
		e->tadv_at = now + tadv * DELAY_UNIT_NS;
		timer_armed(e, e->tadv_at);
	}
	timer_armed(e, e->tidv_at);
}

/* With the lock held: fires what is due at NOW (all of it with FLUSH);
 * the nearest deadline left, or UINT64_MAX. */
static uint64_t timers_run(struct e1000 *e, uint64_t now, bool flush)
{
	uint32_t cause = 0;

	if ((e->rdtr_at && (flush || now >= e->rdtr_at)) ||
	    (e->radv_at && (flush || now >= e->radv_at))) {
		e->rdtr_at = e->radv_at = 0;
		cause |= ICR_RXT0;
	}
	if ((e->tidv_at && (flush || now >= e->tidv_at)) ||
	    (e->tadv_at && (flush || now >= e->tadv_at))) {
		e->tidv_at = e->tadv_at = 0;
		cause |= ICR_TXDW;
	}
	if (e->itr_at && (flush || now >= e->itr_at)) {
		e->itr_at = 0;
		e->last_assert = 0;	/* the interval has passed */
	}
	e->icr |= cause;
	irq_update(e);
	return next_deadline(e);
}

uint64_t e1000_tick(struct e1000 *e)
{
	uint64_t next;

	pthread_mutex_lock(&e->lock);
	next = timers_run(e, now_ns(e), false);
	pthread_mutex_unlock(&e->lock);
	return next;
}

static void set_link(struct e1000 *e, bool up)
{
	if (up == e->link_up)
		return;
	e->link_up = up;
	raise_irq(e, ICR_LSC);
}

static uint32_t status_reg(const struct e1000 *e)
{
	return e->link_up ? STATUS_FD | STATUS_LU | STATUS_SPEED_1000 : 0;
}

static void stat_inc(struct e1000 *e, uint32_t off)
{
	e->stats[(off - REG_STATS) / 4]++;
}

static void stat_add64(struct e1000 *e, uint32_t off_lo, uint64_t n)
{
	uint32_t *s = &e->stats[(off_lo - REG_STATS) / 4];
	uint64_t v = (s[0] | (uint64_t)s[1] << 32) + n;

	s[0] = (uint32_t)v;
	s[1] = (uint32_t)(v >> 32);
}

/* One good frame; `octets` counts from the destination to the FCS. */
static void count_frame(struct e1000 *e, const uint8_t *dst, size_t octets,
			bool rx)
{
	unsigned int bin = octets <= 64 ? 0 : octets <= 127 ? 1 :
			   octets <= 255 ? 2 : octets <= 511 ? 3 :
			   octets <= 1023 ? 4 : octets <= 1522 ? 5 : 6;

	stat_inc(e, rx ? ST_GPRC : ST_GPTC);
	stat_inc(e, rx ? ST_TPR : ST_TPT);
	stat_add64(e, rx ? ST_GORCL : ST_GOTCL, octets);
	stat_add64(e, rx ? ST_TORL : ST_TOTL, octets);
	if (is_broadcast(dst))
		stat_inc(e, rx ? ST_BPRC : ST_BPTC);
	else if (dst[0] & 1)
		stat_inc(e, rx ? ST_MPRC : ST_MPTC);
	if (bin < 6)
		stat_inc(e, (rx ? ST_PRC64 : ST_PTC64) + 4 * bin);
}

/* Clear on read. A 64-bit counter clears when its high half is read
 * (drivers read low, then high). */
static uint32_t stat_read(struct e1000 *e, uint32_t off)
{
	unsigned int i = (off - REG_STATS) / 4;
	uint32_t v = e->stats[i];

	switch (off) {
	case ST_GORCL:
	case ST_GOTCL:
	case ST_TORL:
	case ST_TOTL:
		return v;
	case ST_GORCH:
	case ST_GOTCH:
	case ST_TORH:
	case ST_TOTH:
		e->stats[i - 1] = 0;
		break;
	}
	e->stats[i] = 0;
	return v;
}

/* --- EEPROM and PHY ------------------------------------------------------ */

static void eeprom_init(struct e1000 *e)
{
	uint16_t *w = e->eeprom, sum = 0;

	memset(w, 0, sizeof(e->eeprom));
	for (int i = 0; i < 3; i++)
		w[i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
	w[0x0a] = 0x4001;	/* ICW1: valid signature, load subsystem IDs */
	w[0x0b] = 0x001e;	/* subsystem: PRO/1000 MT Desktop */
	w[0x0c] = 0x8086;
	w[0x0d] = 0x100e;
	w[0x0e] = 0x8086;
	w[0x0f] = 0x3000;	/* ICW2: symmetric and asymmetric PAUSE */
	for (int i = 0; i < EE_CHECKSUM; i++)
		sum = (uint16_t)(sum + w[i]);
	w[EE_CHECKSUM] = (uint16_t)(EE_SUM - sum);
}

static uint32_t eecd_read(const struct e1000 *e)
{
	uint32_t v = e->eecd | EECD_PRES;

	/* Nothing else wants the EEPROM: a request is granted at once. */
	if (v & EECD_REQ)
		v |= EECD_GNT;
	if (e->ee_do)
		v |= EECD_DO;
	return v;
}

/* A rising edge of SK with CS high: shift DI in, or the next bit out. */
static void ee_clock(struct e1000 *e, bool di)
{
	switch (e->ee_state) {
	case EE_CMD:
		if (!e->ee_bits && !di)
			return;		/* zeros before the start bit */
		e->ee_cmd = (uint16_t)(e->ee_cmd << 1 | di);
		if (++e->ee_bits < 3 + EE_ADDR_BITS)
			return;
		if ((e->ee_cmd >> EE_ADDR_BITS & 3) == EE_OP_READ) {
			e->ee_addr = e->ee_cmd & (E1000_EEPROM_WORDS - 1);
			e->ee_pos = 0;
			e->ee_do = false;	/* the dummy zero */
			e->ee_state = EE_READING;
		} else {
			/* Write, erase and their enables: read-only here. */
			e->ee_state = EE_IGNORE;
		}
		break;
	case EE_READING:
		/* Most significant bit first; reading on goes to the next
		 * word. */
		e->ee_do = e->eeprom[e->ee_addr] >> (15 - e->ee_pos) & 1;
		if (++e->ee_pos == 16) {
			e->ee_pos = 0;
			e->ee_addr = (e->ee_addr + 1) % E1000_EEPROM_WORDS;
		}
		break;
	default:
		break;
	}
}

static void eecd_write(struct e1000 *e, uint32_t v)
{
	bool rising = (v & EECD_SK) && !(e->eecd & EECD_SK);

	e->eecd = v & (EECD_SK | EECD_CS | EECD_DI | EECD_FWE | EECD_REQ);
	if (!(v & EECD_CS)) {
		/* Deselected: the next select starts a new command. */
		e->ee_state = EE_CMD;
		e->ee_bits = 0;
		e->ee_cmd = 0;
		e->ee_do = false;
	} else if (rising) {
		ee_clock(e, v & EECD_DI);
	}
}

static void eerd_write(struct e1000 *e, uint32_t v)
{
	uint32_t addr = v >> 8 & 0xff;

	if (!(v & EERD_START)) {
		e->eerd = v & ~(uint32_t)EERD_DONE;
		return;
	}
	e->eerd = (addr < E1000_EEPROM_WORDS ? (uint32_t)e->eeprom[addr] << 16
					     : 0) |
		  addr << 8 | EERD_DONE;
}

static void phy_reset(struct e1000 *e)
{
	memcpy(e->phy, phy_power_on, sizeof(e->phy));
}

static void phy_write(struct e1000 *e, uint32_t reg, uint16_t v)
{
	if (PHY_READONLY & (1u << reg))
		return;
	/* The wire is always there and negotiation ends at once (1000 Mb/s,
	 * full duplex): reset and restart complete as they are asked. */
	if (reg == PHY_BMCR)
		v &= (uint16_t)~(BMCR_RESET | BMCR_RESTART_AN);
	e->phy[reg] = v;
}

static void mdic_write(struct e1000 *e, uint32_t v)
{
	uint32_t reg = MDIC_REG(v), op = v & MDIC_OP;

	v &= ~(MDIC_READY | MDIC_ERROR);
	if (MDIC_PHY(v) != PHY_ADDR ||
	    (op != MDIC_OP_READ && op != MDIC_OP_WRITE)) {
		/* No PHY answers there. */
		e->mdic = v | MDIC_READY | MDIC_ERROR;
	} else if (op == MDIC_OP_READ) {
		e->mdic = (v & ~MDIC_DATA) | e->phy[reg] | MDIC_READY;
	} else {
		phy_write(e, reg, (uint16_t)v);
		e->mdic = v | MDIC_READY;
	}
	if (v & MDIC_INT)
		raise_irq(e, ICR_MDAC);
}

/* --- reset ---------------------------------------------------------------- */

static void rx_wake(struct e1000 *e)
{
	uint64_t one = 1;

	if (!e->rx_blocked)
		return;
	e->rx_blocked = false;
	if (write(e->wake_fd, &one, sizeof(one)) < 0)
		log_warn(e->name, "waking the receive thread: %s",
			 strerror(errno));
}

/* CTRL.RST, and power-on: every register but the PHY's. The EEPROM load
 * that follows a reset puts our address in RA[0]. */
static void dev_reset(struct e1000 *e)
{
	e->ctrl = e->eecd = e->eerd = e->icr = e->ims = 0;
	e->rctl = e->tctl = e->ioaddr = 0;
	e->mdic = MDIC_READY;
	e->rdbal = e->rdbah = e->rdlen = e->rdh = e->rdt = 0;
	e->tdbal = e->tdbah = e->tdlen = e->tdh = e->tdt = 0;
	for (size_t i = 0; i < sizeof(plain_regs) / sizeof(plain_regs[0]); i++)
		e->plain[i] = plain_regs[i].reset;
	memset(e->ra, 0, sizeof(e->ra));
	memset(e->mta, 0, sizeof(e->mta));
	memset(e->vfta, 0, sizeof(e->vfta));
	memset(e->stats, 0, sizeof(e->stats));
	e->ra[0] = get_le32(e->mac);
	e->ra[1] = get_le16(e->mac + 4) | RAH_AV;
	e->ee_state = EE_CMD;
	e->ee_bits = e->ee_pos = e->ee_addr = 0;
	e->ee_cmd = 0;
	e->ee_do = false;
	e->link_up = false;
	memset(&e->ctx, 0, sizeof(e->ctx));
	e->tx_len = 0;
	e->tx_drop = e->tx_first_seen = e->tx_tse = e->tx_more = false;
	e->tx_popts = 0;
	e->rdtr_at = e->radv_at = e->tidv_at = e->tadv_at = 0;
	e->itr_at = e->last_assert = 0;
	irq_update(e);
	rx_wake(e);
}

static void ctrl_write(struct e1000 *e, uint32_t v)
{
	if (v & CTRL_RST) {
		dev_reset(e);		/* and RST reads back 0: done */
		return;
	}
	if ((v & CTRL_PHY_RST) && !(e->ctrl & CTRL_PHY_RST))
		phy_reset(e);
	e->ctrl = v;
	/* Set link up: the PHY has link, so the MAC has it now. */
	set_link(e, v & CTRL_SLU);
}

/* --- transmit ------------------------------------------------------------- */

/* Host pointer to a descriptor ring, or NULL (logged) when the guest's
 * registers make no ring: empty, outside RAM, or an index past its end. */
static uint8_t *ring_get(struct e1000 *e, const char *which, uint32_t bah,
			 uint32_t bal, uint32_t len, uint32_t head,
			 uint32_t tail, uint32_t *n)
{
	uint64_t base = (uint64_t)bah << 32 | bal;
	uint8_t *ring;

	*n = len / 16;
	if (!*n) {
		guest_err(e, "%s ring: length 0", which);
		return NULL;
	}
	ring = guest_mem_ptr(e->host.mem, base, len);
	if (!ring) {
		guest_err(e, "%s ring 0x%llx+%u is not in RAM", which,
			  (unsigned long long)base, len);
		return NULL;
	}
	if (head >= *n || tail >= *n) {
		guest_err(e, "%s ring: head %u or tail %u past its %u "
			  "descriptors", which, head, tail, *n);
		return NULL;
	}
	return ring;
}

/* One frame to the backend, with the VLAN tag inserted when asked and
 * padded to 60 bytes when TCTL.PSP says so. */
static void tx_send(struct e1000 *e, uint8_t *f, size_t len, bool vle,
		    uint16_t tci)
{
	static const uint8_t zeros[ETH_MIN];
	struct iovec iov[5];
	uint8_t tag[4];
	size_t wire = len;
	int n = 0;

	if (e->vnet_hdr_len)
		iov[n++] = (struct iovec){ (void *)zeros,
					   (size_t)e->vnet_hdr_len };
	if (vle && len >= 12) {
		put_be16(tag, vlan_tpid(e));
		put_be16(tag + 2, tci);
		iov[n++] = (struct iovec){ f, 12 };
		iov[n++] = (struct iovec){ tag, 4 };
		iov[n++] = (struct iovec){ f + 12, len - 12 };
		wire += 4;
	} else {
		iov[n++] = (struct iovec){ f, len };
	}
	if (wire < ETH_MIN && (e->tctl & TCTL_PSP)) {
		iov[n++] = (struct iovec){ (void *)zeros, ETH_MIN - wire };
		wire = ETH_MIN;
	}
	e->tx_work++;
	if (writev(e->fd, iov, n) < 0) {
		guest_err(e, "backend refused a frame of %zu bytes: %s", wire,
			  strerror(errno));
		return;
	}
	if (len >= 6)
		count_frame(e, f, wire + FCS_LEN, false);
}

/* TCP segmentation (manual §3.5): the packet is the header (hdrlen bytes,
 * Ethernet to TCP) and a payload cut in mss pieces. Each segment gets the
 * header with its IP length (and IPv4 id + n), TCP sequence number (+
 * bytes before it), FIN and PSH only on the last one, and fresh
 * checksums; the driver left the pseudo-header sum without length in the
 * TCP checksum field. */
static void tx_tso(struct e1000 *e, bool vle, uint16_t tci)
{
	const struct e1000_tx_ctx *c = &e->ctx;
	bool v4 = c->tucmd & TUCMD_IP, tcp = c->tucmd & TUCMD_TCP;
	size_t hdr = c->hdrlen, mss = c->mss, pay, off = 0;
	uint8_t *s = e->tx_seg;
	unsigned int seg = 0;
	uint16_t id = 0;
	uint32_t seq = 0;

	if (mss < TSO_MSS_MIN || hdr >= e->tx_len ||
	    hdr + mss > E1000_FRAME_MAX || c->ipcss + (v4 ? 20u : 40u) > hdr ||
	    c->tucss + (tcp ? 20u : 8u) > hdr || c->tucso + 2u > hdr ||
	    (v4 && c->ipcso + 2u > hdr)) {
		guest_err(e, "TSO context (hdrlen %zu, mss %zu, IP at %u, TCP "
			  "at %u) unusable for a packet of %zu bytes (an MSS "
			  "under 64, or headers that do not fit): dropped",
			  hdr, mss, c->ipcss, c->tucss, e->tx_len);
		stat_inc(e, ST_TSCTFC);
		return;
	}
	pay = e->tx_len - hdr;
	if (v4)
		id = get_be16(e->tx_buf + c->ipcss + 4);
	if (tcp)
		seq = get_be32(e->tx_buf + c->tucss + 4);
	while (off < pay) {
		size_t n = pay - off < mss ? pay - off : mss, len = hdr + n;

		memcpy(s, e->tx_buf, hdr);
		memcpy(s + hdr, e->tx_buf + hdr + off, n);
		if (v4) {
			put_be16(s + c->ipcss + 2, (uint16_t)(len - c->ipcss));
			put_be16(s + c->ipcss + 4, (uint16_t)(id + seg));
		} else {
			put_be16(s + c->ipcss + 4,
				(uint16_t)(len - c->ipcss - 40));
		}
		if (tcp) {
			put_be32(s + c->tucss + 4, seq + (uint32_t)off);
			if (off + n < pay)
				s[c->tucss + 13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		} else {
			put_be16(s + c->tucss + 4, (uint16_t)(len - c->tucss));
		}
		if (v4 && (e->tx_popts & POPTS_IXSM)) {
			put_le16(s + c->ipcso, 0);
			csum_insert(s, len, c->ipcss, c->ipcso, c->ipcse, false,
				    0);
		}
		if (e->tx_popts & POPTS_TXSM)
			csum_insert(s, len, c->tucss, c->tucso, 0, !tcp,
				    (uint32_t)(len - c->tucss));
		tx_send(e, s, len, vle, tci);
		off += n;
		seg++;
	}
	stat_inc(e, ST_TSCTC);
}

/* The packet gathered so far ends with descriptor d (EOP). */
static void tx_packet(struct e1000 *e, const uint8_t *d)
{
	bool ext = d[11] & TXD_CMD_DEXT, vle = d[11] & TXD_CMD_VLE;
	uint16_t tci = get_le16(d + 14);
	const struct e1000_tx_ctx *c = &e->ctx;
	bool ok = true;

	if (e->tx_drop || !e->tx_len)
		return;		/* empty, or bad (logged when it went bad) */
	if (e->tx_tse) {
		tx_tso(e, vle, tci);
		return;
	}
	if (e->tx_len > E1000_FRAME_MAX) {
		guest_err(e, "frame of %zu bytes without TSO: dropped",
			  e->tx_len);
		return;
	}
	/* Legacy: CSO at byte 10, CSS at 13. */
	if (!ext && (d[11] & TXD_CMD_IC))
		ok = csum_insert(e->tx_buf, e->tx_len, d[13], d[10], 0, false,
				 0);
	if (e->tx_popts & POPTS_IXSM)
		ok &= csum_insert(e->tx_buf, e->tx_len, c->ipcss, c->ipcso,
				  c->ipcse, false, 0);
	if (e->tx_popts & POPTS_TXSM)
		ok &= csum_insert(e->tx_buf, e->tx_len, c->tucss, c->tucso,
				  c->tucse, !(c->tucmd & TUCMD_TCP), 0);
	if (!ok)
		guest_err(e, "checksum offsets outside a frame of %zu bytes: "
			  "sent without", e->tx_len);
	tx_send(e, e->tx_buf, e->tx_len, vle, tci);
}

static void tx_gather(struct e1000 *e, uint64_t addr, uint32_t len)
{
	const uint8_t *src;

	if (e->tx_drop || !len)
		return;
	if (len > E1000_TX_MAX - e->tx_len) {
		guest_err(e, "packet longer than %u bytes: dropped",
			  E1000_TX_MAX);
		e->tx_drop = true;
		return;
	}
	src = guest_mem_ptr(e->host.mem, addr, len);
	if (!src) {
		guest_err(e, "transmit buffer 0x%llx+%u is not in RAM: packet "
			  "dropped", (unsigned long long)addr, len);
		e->tx_drop = true;
		return;
	}
	memcpy(e->tx_buf + e->tx_len, src, len);
	e->tx_len += len;
}

/* One descriptor, copied out of the ring. */
static void tx_desc(struct e1000 *e, const uint8_t *d)
{
	uint8_t cmd = d[11];
	bool ext = cmd & TXD_CMD_DEXT;
	unsigned int dtyp = d[10] >> 4;

	if (ext && dtyp == TXD_DTYP_CTX) {
		e->ctx = (struct e1000_tx_ctx){
			.ipcss = d[0], .ipcso = d[1], .ipcse = get_le16(d + 2),
			.tucss = d[4], .tucso = d[5], .tucse = get_le16(d + 6),
			.paylen = get_le32(d + 8) & 0xfffff, .tucmd = cmd,
			.hdrlen = d[13], .mss = get_le16(d + 14),
		};
		return;
	}
	if (ext && dtyp != TXD_DTYP_DATA) {
		guest_err(e, "transmit descriptor type %u skipped", dtyp);
		return;
	}
	/* Segmentation and checksum options count from a packet's first
	 * descriptor, VLAN insertion from its last. */
	if (!e->tx_first_seen) {
		e->tx_first_seen = true;
		e->tx_tse = ext && (cmd & TXD_CMD_TSE);
		e->tx_popts = ext ? d[13] : 0;
	}
	tx_gather(e, get_le64(d), ext ? get_le32(d + 8) & 0xfffff : get_le16(d + 8));
	if (cmd & TXD_CMD_EOP) {
		tx_packet(e, d);
		e->tx_len = 0;
		e->tx_drop = e->tx_first_seen = false;
	}
}

/* TDT was written (or TCTL enabled, or the receive thread's turn came):
 * send what lies between TDH and TDT, up to TX_BUDGET. A packet whose EOP
 * is not there yet waits in tx_buf for the next TDT; what the budget left
 * waits for the receive thread (tx_more), which calls again. */
static void tx_run(struct e1000 *e)
{
	uint32_t cause = 0, n;
	uint64_t one = 1;
	uint8_t *ring;

	e->tx_more = false;
	if (!(e->tctl & TCTL_EN) || e->tdh == e->tdt)
		return;
	ring = ring_get(e, "transmit", e->tdbah, e->tdbal, e->tdlen, e->tdh,
			e->tdt, &n);
	if (!ring)
		return;			/* stopped until the guest fixes it */
	e->tx_work = 0;
	while (e->tdh != e->tdt) {
		uint8_t *slot = ring + 16 * e->tdh, d[16];

		if (e->tx_work >= TX_BUDGET) {
			e->tx_more = true;
			if (write(e->wake_fd, &one, sizeof(one)) < 0)
				log_warn(e->name, "handing transmit to the "
					 "receive thread: %s", strerror(errno));
			break;
		}
		e->tx_work++;

		/* One copy: the guest may change the ring under us. */
		memcpy(d, slot, sizeof(d));
		tx_desc(e, d);
		/* The frame has left (or is copied) before DD tells the
		 * driver it may reuse the buffer. */
		if (d[11] & TXD_CMD_RS) {
			slot[12] = TXD_STA_DD;
			tx_delay(e, d[11], &cause);
		}
		e->tdh = (e->tdh + 1) % n;
	}
	if (e->tdh == e->tdt)
		cause |= ICR_TXQE;
	if (cause)
		raise_irq(e, cause);
}

/* --- receive --------------------------------------------------------------- */

static uint32_t rx_buf_size(uint32_t rctl)
{
	static const uint32_t sizes[2][4] = {
		{ 2048, 1024, 512, 256 },
		{ 2048, 16384, 8192, 4096 },	/* BSEX; 00b is reserved */
	};

	return sizes[!!(rctl & RCTL_BSEX)][RCTL_BSIZE(rctl)];
}

/* Multicast table: 12 bits of the address's last two bytes, RCTL.MO says
 * which. */
static bool mta_match(const struct e1000 *e, const uint8_t *a)
{
	static const unsigned int shift[4] = { 4, 3, 2, 0 };
	unsigned int s = shift[RCTL_MO(e->rctl)];
	uint32_t h = (a[4] >> s | (uint32_t)a[5] << (8 - s)) & 0xfff;

	return e->mta[h >> 5] >> (h & 31) & 1;
}

static bool rx_accept(const struct e1000 *e, const uint8_t *a)
{
	if (is_broadcast(a))
		return e->rctl & (RCTL_BAM | RCTL_MPE);
	if (a[0] & 1)
		return (e->rctl & RCTL_MPE) || mta_match(e, a);
	if (e->rctl & RCTL_UPE)
		return true;
	for (int i = 0; i < E1000_RA_ENTRIES; i++) {
		const uint32_t *ra = &e->ra[2 * i];

		if ((ra[1] & RAH_AV) && get_le32(a) == ra[0] &&
		    get_le16(a + 4) == (uint16_t)ra[1])
			return true;
	}
	return false;
}

/* Free descriptors in the receive ring; 0 when it is unusable. */
static uint32_t rx_free(struct e1000 *e, uint8_t **ring, uint32_t *n)
{
	*ring = ring_get(e, "receive", e->rdbah, e->rdbal, e->rdlen, e->rdh,
			 e->rdt, n);
	return *ring ? (e->rdt + *n - e->rdh) % *n : 0;
}

/* Whether the thread should read from the backend: a disabled receiver
 * takes frames (and drops them) as the wire would; an enabled one only
 * when it has a descriptor. */
static bool rx_room(struct e1000 *e)
{
	uint8_t *ring;
	uint32_t n;

	return !(e->rctl & RCTL_EN) || rx_free(e, &ring, &n) > 0;
}

/* Receive checksum offload on frame W (LEN bytes, no FCS, VLAN tag
 * stripped): the status and error bits RXCSUM asks for. IPv4 only; a
 * fragment's TCP/UDP checksum is not checked, nor a UDP one of 0 (none).
 * L4_OK: the backend vouched for the TCP/UDP checksum (it left it to us
 * and we filled it in, or said it was checked). */
static void rx_csum(const struct e1000 *e, const uint8_t *w, size_t len,
		    bool l4_ok, uint8_t *sta, uint8_t *err)
{
	uint32_t v = *plain_reg((struct e1000 *)e, REG_RXCSUM);
	size_t ihl, tot, l4len;
	uint8_t proto;
	uint64_t sum;

	if (!(v & (RXCSUM_IPOFLD | RXCSUM_TUOFLD))) {
		*sta |= RXD_STA_IXSM;	/* "ignore the checksum bits" */
		return;
	}
	if (len < 14 + 20 || get_be16(w + 12) != 0x0800 || (w[14] >> 4) != 4)
		return;
	ihl = (size_t)(w[14] & 0xf) * 4;
	tot = get_be16(w + 16);
	if (ihl < 20 || tot < ihl || 14 + tot > len)
		return;
	if (v & RXCSUM_IPOFLD) {
		*sta |= RXD_STA_IPCS;
		if (csum_fold(csum_add(0, w + 14, ihl)) != 0xffff)
			*err |= RXD_ERR_IPE;
	}
	proto = w[23];
	if (!(v & RXCSUM_TUOFLD) || (proto != 6 && proto != 17) ||
	    (get_be16(w + 20) & 0x3fff))
		return;
	l4len = tot - ihl;
	if (l4len < (proto == 6 ? 20u : 8u))
		return;
	if (proto == 17 && !get_be16(w + 14 + ihl + 6))
		return;			/* UDP without a checksum */
	*sta |= RXD_STA_TCPCS;
	if (l4_ok)
		return;
	sum = csum_add(0, w + 26, 8) + proto + l4len;
	if (csum_fold(csum_add(sum, w + 14 + ihl, l4len)) != 0xffff)
		*err |= RXD_ERR_TCPE;
}

static int rx_frame(struct e1000 *e, const uint8_t *f, size_t len,
		    bool l4_ok)
{
	uint8_t *w = e->rx_work, *ring;
	size_t max, bufsz, done = 0;
	uint32_t n, avail, cause = 0;
	uint8_t csta = 0, cerr = 0;
	bool vp = false, bad = false;
	uint16_t tci = 0;

	if (!(e->rctl & RCTL_EN) || len < 14 || !rx_accept(e, f))
		return 0;
	/* Without LPE: 1522 bytes with a tag and the FCS. */
	max = (e->rctl & RCTL_LPE) ? E1000_FRAME_MAX : ETH_MAX_STD;
	if (len + FCS_LEN > max) {
		stat_inc(e, ST_ROC);
		return 0;
	}
	if ((e->ctrl & CTRL_VME) && len >= 18 &&
	    get_be16(f + 12) == vlan_tpid(e)) {
		vp = true;
		tci = get_be16(f + 14);
		memcpy(w, f, 12);
		memcpy(w + 12, f + 16, len - 16);
		len -= 4;
	} else {
		memcpy(w, f, len);
	}
	rx_csum(e, w, len, l4_ok, &csta, &cerr);
	if (len < ETH_MIN) {
		memset(w + len, 0, ETH_MIN - len);
		len = ETH_MIN;
	}
	/* Linux's e1000 leaves SECRC clear and takes 4 bytes off. */
	if (!(e->rctl & RCTL_SECRC)) {
		put_le32(w + len, crc32_eth(w, len));
		len += FCS_LEN;
	}

	avail = rx_free(e, &ring, &n);
	bufsz = rx_buf_size(e->rctl);
	if ((len + bufsz - 1) / bufsz > avail) {
		stat_inc(e, ST_MPC);
		raise_irq(e, ICR_RXO);
		return -ENOBUFS;
	}
	while (done < len) {
		uint8_t *slot = ring + 16 * e->rdh, *dst;
		size_t chunk = len - done < bufsz ? len - done : bufsz;
		bool last = done + chunk == len;
		uint64_t addr = get_le64(slot);

		dst = guest_mem_ptr(e->host.mem, addr, chunk);
		memset(slot + 8, 0, 8);
		if (dst) {
			memcpy(dst, w + done, chunk);
			put_le16(slot + 8, (uint16_t)chunk);
			put_le16(slot + 14, tci);
		} else {
			/* The driver sees an errored frame and recycles the
			 * buffer; the rest of the frame is dropped. */
			guest_err(e, "receive buffer 0x%llx+%zu is not in RAM: "
				  "frame dropped", (unsigned long long)addr,
				  chunk);
			slot[13] = RXD_ERR_RXE;
			bad = last = true;
		}
		/* Data and descriptor fields before DD: pairs with the
		 * driver's read barrier between seeing DD and reading them. */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		/* Checksum results go with the frame's last descriptor. */
		if (last && !bad)
			slot[13] = cerr;
		slot[12] = (uint8_t)(RXD_STA_DD |
				     (last && !bad ? csta
						   : csta & RXD_STA_IXSM) |
				     (last ? RXD_STA_EOP : 0) |
				     (vp ? RXD_STA_VP : 0));
		e->rdh = (e->rdh + 1) % n;
		if (bad)
			break;
		done += chunk;
	}
	if (!bad)
		count_frame(e, w, len + ((e->rctl & RCTL_SECRC) ? FCS_LEN : 0),
			    true);
	/* Free descriptors at the threshold (1/2, 1/4, 1/8 of the ring). */
	if ((e->rdt + n - e->rdh) % n <=
	    n >> (1 + (RCTL_RDMTS(e->rctl) < 2 ? RCTL_RDMTS(e->rctl) : 2)))
		cause |= ICR_RXDMT0;
	rx_delay(e, &cause);
	raise_irq(e, cause);
	return 0;
}

/* A read from the backend: a virtio-net header (if any), then the frame.
 * The tap hands over no GSO frames unless told to (tern never does); a
 * checksum left to us is filled in. */
static void rx_backend(struct e1000 *e, uint8_t *buf, size_t n)
{
	size_t h = (size_t)e->vnet_hdr_len;
	bool l4_ok = false;

	if (n < h)
		return;
	if (h && buf[1]) {
		guest_err(e, "backend sent a GSO frame (type %u): dropped",
			  buf[1]);
		return;
	}
	if (h && (buf[0] & 1))		/* VIRTIO_NET_HDR_F_NEEDS_CSUM */
		l4_ok = csum_insert(buf + h, n - h, get_le16(buf + 6),
				    (size_t)get_le16(buf + 6) +
					    get_le16(buf + 8), 0, true, 0);
	else if (h && (buf[0] & 2))	/* VIRTIO_NET_HDR_F_DATA_VALID */
		l4_ok = true;
	rx_frame(e, buf + h, n - h, l4_ok);
}

static void *rx_main(void *arg)
{
	struct e1000 *e = arg;
	uint64_t v;

	pthread_setname_np(pthread_self(), "e1000-rx");
	sandbox_enter(SANDBOX_NET_IO);

	for (;;) {
		struct pollfd p[2] = { { e->wake_fd, POLLIN, 0 },
				       { -1, POLLIN, 0 } };
		struct timespec ts, *tmo = NULL;
		uint64_t now, next;
		ssize_t n;

		/* rx_blocked and sleep_until are set under the lock the
		 * guest's register writes take: a write after this sees
		 * them and wakes us. Due timers fire first. */
		pthread_mutex_lock(&e->lock);
		now = now_ns(e);
		next = timers_run(e, now, false);
		e->sleep_until = next;
		e->rx_blocked = !rx_room(e);
		if (!e->rx_blocked)
			p[1].fd = e->fd;
		pthread_mutex_unlock(&e->lock);
		if (next != UINT64_MAX) {
			next -= now;
			ts.tv_sec = (time_t)(next / 1000000000ULL);
			ts.tv_nsec = (long)(next % 1000000000ULL);
			tmo = &ts;
		}
		if (ppoll(p, 2, tmo, NULL) < 0) {
			if (errno == EINTR)
				continue;
			log_err(e->name, "receive: poll: %s", strerror(errno));
			break;
		}
		/* Awake: a deadline armed from here on is seen at the top of
		 * the loop, without a wake-up. */
		pthread_mutex_lock(&e->lock);
		e->sleep_until = 0;
		pthread_mutex_unlock(&e->lock);
		if (atomic_load(&e->stop))
			break;
		if (p[0].revents & POLLIN) {
			if (read(e->wake_fd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				log_warn(e->name, "receive: eventfd: %s",
					 strerror(errno));
			/* What a TDT write left (tx_run's budget): it set
			 * tx_more before it wrote the eventfd. */
			pthread_mutex_lock(&e->lock);
			if (e->tx_more)
				tx_run(e);
			pthread_mutex_unlock(&e->lock);
		}
		if (!p[1].revents)
			continue;
		n = (p[1].revents & POLLIN) ? read(e->fd, e->rx_buf,
						   RX_READ_MAX) : 0;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			log_err(e->name, "receive stopped: backend %s",
				n ? strerror(errno) : "hung up");
			break;
		}
		pthread_mutex_lock(&e->lock);
		rx_backend(e, e->rx_buf, (size_t)n);
		pthread_mutex_unlock(&e->lock);
	}
	return NULL;
}

int e1000_receive(struct e1000 *e, const uint8_t *frame, size_t len)
{
	int ret;

	pthread_mutex_lock(&e->lock);
	ret = rx_frame(e, frame, len, false);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

/* --- registers ------------------------------------------------------------ */

static uint32_t *array_reg(struct e1000 *e, uint32_t off)
{
	if (off >= REG_MTA && off < REG_MTA + 4 * E1000_MTA_ENTRIES)
		return &e->mta[(off - REG_MTA) / 4];
	if (off >= REG_RA && off < REG_RA + 8 * E1000_RA_ENTRIES)
		return &e->ra[(off - REG_RA) / 4];
	if (off >= REG_VFTA && off < REG_VFTA + 4 * E1000_VFTA_ENTRIES)
		return &e->vfta[(off - REG_VFTA) / 4];
	return plain_reg(e, off);
}

static void unknown_reg(struct e1000 *e, uint32_t off, bool write)
{
	uint32_t i = off / 4;

	if (e->unknown_logged[i / 8] & (1u << (i % 8)))
		return;
	e->unknown_logged[i / 8] |= (uint8_t)(1u << (i % 8));
	log_warn(e->name, "%s of unknown register 0x%05x ignored (logged "
		 "once)", write ? "write" : "read", off);
}

/* A RDLEN or TDLEN value: bits 6:0 do not exist. */
static uint32_t ring_len(struct e1000 *e, const char *reg, uint32_t v)
{
	if (v & ~RING_LEN_MASK)
		guest_err(e, "%s 0x%x: not a multiple of 128 below 1 MiB, "
			  "taken as 0x%x", reg, v, v & RING_LEN_MASK);
	return v & RING_LEN_MASK;
}

/* `off` is dword-aligned and inside the register space. */
static uint32_t reg_read(struct e1000 *e, uint32_t off)
{
	uint32_t *p, v;

	switch (off) {
	case REG_CTRL: return e->ctrl;
	case REG_STATUS: return status_reg(e);
	case REG_EECD: return eecd_read(e);
	case REG_EERD: return e->eerd;
	case REG_MDIC: return e->mdic;
	case REG_ICR:
		v = e->icr;
		e->icr = 0;
		irq_update(e);
		return v;
	case REG_ICS:
	case REG_IMC: return 0;		/* write-only */
	case REG_IMS: return e->ims;
	case REG_RCTL: return e->rctl;
	case REG_TCTL: return e->tctl;
	case REG_RDBAL: return e->rdbal;
	case REG_RDBAH: return e->rdbah;
	case REG_RDLEN: return e->rdlen;
	case REG_RDH: return e->rdh;
	case REG_RDT: return e->rdt;
	case REG_TDBAL: return e->tdbal;
	case REG_TDBAH: return e->tdbah;
	case REG_TDLEN: return e->tdlen;
	case REG_TDH: return e->tdh;
	case REG_TDT: return e->tdt;
	}
	if (off >= REG_STATS && off < REG_STATS + 4 * E1000_STAT_REGS)
		return stat_read(e, off);
	p = array_reg(e, off);
	if (p)
		return *p;
	unknown_reg(e, off, false);
	return 0;
}

static void reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	uint32_t *p;

	switch (off) {
	case REG_CTRL:
		ctrl_write(e, v);
		return;
	case REG_STATUS:
		return;			/* read-only */
	case REG_EECD:
		eecd_write(e, v);
		return;
	case REG_EERD:
		eerd_write(e, v);
		return;
	case REG_MDIC:
		mdic_write(e, v);
		return;
	case REG_ICR:
		e->icr &= ~v;
		irq_update(e);
		return;
	case REG_ICS:
		raise_irq(e, v);
		return;
	case REG_IMS:
		e->ims |= v;
		irq_update(e);
		return;
	case REG_IMC:
		e->ims &= ~v;
		irq_update(e);
		return;
	case REG_TCTL:
		e->tctl = v;
		tx_run(e);
		return;
	/* FPD: what the delay timer holds goes now; the bit reads 0. */
	case REG_RDTR:
		*plain_reg(e, off) = v & 0xffff;
		if ((v & DELAY_FPD) && (e->rdtr_at || e->radv_at)) {
			e->rdtr_at = e->radv_at = 0;
			raise_irq(e, ICR_RXT0);
		}
		return;
	case REG_TIDV:
		*plain_reg(e, off) = v & 0xffff;
		if ((v & DELAY_FPD) && (e->tidv_at || e->tadv_at)) {
			e->tidv_at = e->tadv_at = 0;
			raise_irq(e, ICR_TXDW);
		}
		return;
	case REG_ITR:
	case REG_RADV:
	case REG_TADV:
		*plain_reg(e, off) = v & 0xffff;
		return;
	case REG_TDBAL:
		e->tdbal = v & ~0xfu;
		return;
	case REG_TDBAH:
		e->tdbah = v;
		return;
	case REG_TDLEN:
		e->tdlen = ring_len(e, "TDLEN", v);
		return;
	case REG_TDH:
		e->tdh = v & 0xffff;
		return;
	case REG_TDT:
		e->tdt = v & 0xffff;
		tx_run(e);
		return;
	/* Any change to the receive side may give the thread room. */
	case REG_RCTL:
		e->rctl = v;
		break;
	case REG_RDBAL:
		e->rdbal = v & ~0xfu;
		break;
	case REG_RDBAH:
		e->rdbah = v;
		break;
	case REG_RDLEN:
		e->rdlen = ring_len(e, "RDLEN", v);
		break;
	case REG_RDH:
		e->rdh = v & 0xffff;
		break;
	case REG_RDT:
		e->rdt = v & 0xffff;
		break;
	default:
		if (off >= REG_STATS && off < REG_STATS + 4 * E1000_STAT_REGS)
			return;		/* read-only */
		p = array_reg(e, off);
		if (p)
			*p = v;
		else
			unknown_reg(e, off, true);
		return;
	}
	rx_wake(e);
}

static void bad_access(struct e1000 *e, const char *space, uint64_t off,
		       uint32_t len)
{
	if (e->bad_width_logged)
		return;
	e->bad_width_logged = true;
	log_warn(e->name, "%s access of %u bytes at 0x%llx ignored (registers "
		 "are 32-bit; logged once)", space, len,
		 (unsigned long long)off);
}

/* Registers are dwords; a qword access is two of them, low first. */
static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct e1000 *e = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&e->lock);
	if (len == 4 && !(off & 3) && off < E1000_MMIO_SIZE)
		v = reg_read(e, (uint32_t)off);
	else if (len == 8 && !(off & 7) && off < E1000_MMIO_SIZE)
		v = reg_read(e, (uint32_t)off) |
		    (uint64_t)reg_read(e, (uint32_t)off + 4) << 32;
	else
		bad_access(e, "MMIO", off, len);
	pthread_mutex_unlock(&e->lock);
	bus_put(data, len, v);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data,
		       uint32_t len)
{
	struct e1000 *e = opaque;
	uint64_t v = bus_get(data, len);

	pthread_mutex_lock(&e->lock);
	if (len == 4 && !(off & 3) && off < E1000_MMIO_SIZE) {
		reg_write(e, (uint32_t)off, (uint32_t)v);
	} else if (len == 8 && !(off & 7) && off < E1000_MMIO_SIZE) {
		reg_write(e, (uint32_t)off, (uint32_t)v);
		reg_write(e, (uint32_t)off + 4, (uint32_t)(v >> 32));
	} else {
		bad_access(e, "MMIO", off, len);
	}
	pthread_mutex_unlock(&e->lock);
}

const struct bus_ops e1000_mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

/* I/O space: IOADDR at 0 picks a register, IODATA at 4 reaches it. Linux
 * resets the 82540 through here. */
static void io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct e1000 *e = opaque;
	uint32_t v = 0;

	pthread_mutex_lock(&e->lock);
	if (off == 0 && len == 4)
		v = e->ioaddr;
	else if (off == 4 && len == 4)
		v = reg_read(e, e->ioaddr);
	else
		bad_access(e, "I/O", off, len);
	pthread_mutex_unlock(&e->lock);
	bus_put(data, len, v);
}

static void io_write(void *opaque, uint64_t off, const uint8_t *data,
		     uint32_t len)
{
	struct e1000 *e = opaque;
	uint32_t v = (uint32_t)bus_get(data, len);

	pthread_mutex_lock(&e->lock);
	if (off == 0 && len == 4)
		e->ioaddr = v & (E1000_MMIO_SIZE - 4);
	else if (off == 4 && len == 4)
		reg_write(e, e->ioaddr, v);
	else
		bad_access(e, "I/O", off, len);
	pthread_mutex_unlock(&e->lock);
}

const struct bus_ops e1000_io_ops = {
	.read = io_read,
	.write = io_write,
};

/* --- PCI glue and life cycle ------------------------------------------- */

/* Registers whose writes must act at once: the interrupt lines (a cause
 * acknowledged, set, unmasked or masked), transmit (a packet to send now)
 * and the PHY. Writes to every other register may be posted (core/bus.h):
 * the guest's receive-ring refills (RDT) then cost no exit to userspace;
 * a driver always follows them with an IMS write or a read. Ascending. */
static const uint32_t immediate_regs[] = {
	REG_MDIC, REG_ICR, REG_ICS, REG_IMS, REG_IMC, REG_TCTL, REG_TDT,
};
#define N_IMMEDIATE (sizeof(immediate_regs) / sizeof(immediate_regs[0]))

static void post_writes(struct e1000 *e, struct bus *bus, uint64_t base)
{
	uint32_t from = 0;
	int ret = 0;

	for (size_t i = 0; i <= N_IMMEDIATE; i++) {
		uint32_t to = i < N_IMMEDIATE ? immediate_regs[i]
					      : E1000_MMIO_SIZE;

		if (to > from)
			ret = ret ?: bus_post_writes(bus, base + from,
						     to - from);
		from = to + 4;
	}
	if (ret)
		log_debug(e->name, "registers at 0x%llx: writes not posted "
			  "(%s)", (unsigned long long)base, strerror(-ret));
}

static void pci_bar_update(struct pci_dev *d, int bar, uint64_t old_addr,
			   uint64_t new_addr)
{
	struct e1000 *e = d->opaque;
	struct bus *bus = bar == 0 ? e->host.mmio : e->host.pio;
	uint64_t *at = bar == 0 ? &e->mmio_bar : &e->io_bar;
	int ret;

	if ((bar != 0 && bar != 1) || !bus)
		return;
	/* Not under e->lock: a vCPU inside our handler holds the bus's read
	 * lock and waits for e->lock. What we registered is in *at (a
	 * failed move registered nothing). */
	if (*at)
		bus_unregister(bus, *at);
	*at = 0;
	if (!new_addr)
		return;
	ret = bus_register(bus, new_addr, bar ? E1000_IO_SIZE : E1000_MMIO_SIZE,
			   bar ? &e1000_io_ops : &e1000_mmio_ops, e, e->name);
	if (ret) {
		pthread_mutex_lock(&e->lock);
		guest_err(e, "BAR %d at 0x%llx: %s", bar,
			  (unsigned long long)new_addr, strerror(-ret));
		pthread_mutex_unlock(&e->lock);
		return;
	}
	if (bar == 0)
		post_writes(e, bus, new_addr);
	*at = new_addr;
}

static const struct pci_dev_ops pci_ops = {
	.bar_update = pci_bar_update,
};

int e1000_create(struct e1000 *e, const char *name,
		 const struct e1000_host *host, const uint8_t mac[6], int fd,
		 int vnet_hdr_len, int devfn)
{
	struct pci_dev *d = &e->pci;
	int ret;

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->host = *host;
	e->fd = fd;
	e->vnet_hdr_len = vnet_hdr_len;
	e->wake_fd = -1;
	memcpy(e->mac, mac, 6);
	atomic_init(&e->stop, false);
	if (fd < 0 || !host->mem || !host->pci ||
	    (vnet_hdr_len != 0 && vnet_hdr_len != 10 && vnet_hdr_len != 12)) {
		log_err(e->name, "creating: bad arguments");
		return -EINVAL;
	}
	ret = -pthread_mutex_init(&e->lock, NULL);
	if (ret)
		return ret;
	e->tx_buf = malloc(E1000_TX_MAX);
	e->tx_seg = malloc(E1000_FRAME_MAX);
	e->rx_buf = malloc(RX_READ_MAX);
	e->rx_work = malloc(E1000_FRAME_MAX + ETH_MIN + FCS_LEN);
	if (!e->tx_buf || !e->tx_seg || !e->rx_buf || !e->rx_work) {
		ret = -ENOMEM;
		goto err;
	}
	e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->wake_fd < 0) {
		ret = -errno;
		goto err;
	}
	eeprom_init(e);
	phy_reset(e);
	dev_reset(e);

	pci_dev_init(d, e->name, 0x8086, 0x100e, 0x020000, 0x03);
	put_le16(&d->cfg[0x2c], 0x8086);		/* subsystem vendor */
	put_le16(&d->cfg[0x2e], 0x001e);		/* PRO/1000 MT Desktop */
	d->cfg[0x3d] = 1;			/* INTA# */
	d->ops = &pci_ops;
	d->opaque = e;
	ret = pci_dev_set_bar(d, 0, PCI_BAR_MEM32, E1000_MMIO_SIZE);
	ret = ret ?: pci_dev_set_bar(d, 1, PCI_BAR_IO, E1000_IO_SIZE);
	ret = ret ?: pci_bus_add(host->pci, d, devfn);
	if (ret)
		goto err;
	return 0;
err:
	log_err(e->name, "creating: %s", strerror(-ret));
	e1000_destroy(e);
	return ret;
}

int e1000_start(struct e1000 *e)
{
	int ret;

	if (e->rx_running)
		return -EALREADY;
	atomic_store(&e->stop, false);
	ret = -pthread_create(&e->rx_thread, NULL, rx_main, e);
	if (ret) {
		log_err(e->name, "receive thread: %s", strerror(-ret));
		return ret;
	}
	e->rx_running = true;
	return 0;
}

void e1000_destroy(struct e1000 *e)
{
	struct pci_bus *pci = e->host.pci;
	uint64_t mmio = 0, io = 0, one = 1;

	if (e->rx_running) {
		atomic_store(&e->stop, true);
		if (write(e->wake_fd, &one, sizeof(one)) < 0)
			log_warn(e->name, "stopping: %s", strerror(errno));
		pthread_join(e->rx_thread, NULL);
		e->rx_running = false;
	}
	/* Off the PCI bus first: no bar_update can come after this. */
	pthread_mutex_lock(&pci->lock);
	if (pci->devs[e->pci.devfn] == &e->pci)
		pci->devs[e->pci.devfn] = NULL;
	mmio = e->mmio_bar;
	io = e->io_bar;
	e->mmio_bar = e->io_bar = 0;
	pthread_mutex_unlock(&pci->lock);
	if (mmio)
		bus_unregister(e->host.mmio, mmio);
	if (io)
		bus_unregister(e->host.pio, io);
	if (e->wake_fd >= 0)
		close(e->wake_fd);
	e->wake_fd = -1;
	free(e->tx_buf);
	free(e->tx_seg);
	free(e->rx_buf);
	free(e->rx_work);
	e->tx_buf = e->tx_seg = e->rx_buf = e->rx_work = NULL;
	pthread_mutex_destroy(&e->lock);
}

void e1000_reset(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	dev_reset(e);
	phy_reset(e);
	e->errors_logged = 0;
	e->bad_width_logged = false;
	memset(e->unknown_logged, 0, sizeof(e->unknown_logged));
	pthread_mutex_unlock(&e->lock);
}

/* --- the device lifecycle (core/device.h) ------------------------------ */

#define E1000_STATE_VERSION 1

enum {
	TAG_PCI = 1,
	TAG_REGS,		/* the named registers, le32 each */
	TAG_PLAIN,
	TAG_RA,
	TAG_MTA,
	TAG_VFTA,
	TAG_STATS,
	TAG_EEPROM,
	TAG_PHY,
	TAG_MISC,		/* link, EEPROM state, transmit flags */
	TAG_TX_CTX,
	TAG_TX_BUF,		/* the packet gathered so far */
};

#define NREGS 20
#define MISC_LEN 16
#define CTX_LEN 20

static struct e1000_device *to_e1000(struct device *d)
{
	return (struct e1000_device *)((char *)d -
				       offsetof(struct e1000_device, dev));
}

static const struct device_ops e1000_device_ops;

void e1000_device_init(struct e1000_device *d, const char *id,
		       const uint8_t mac[6], int fd, int vnet_hdr_len,
		       int devfn, struct irq_line intx)
{
	memset(d, 0, sizeof(*d));
	device_init(&d->dev, &e1000_device_ops, id);
	memcpy(d->mac, mac, 6);
	d->fd = fd;
	d->vnet_hdr_len = vnet_hdr_len;
	d->devfn = devfn;
	d->intx = intx;
}

static int e1000_realize(struct device *dev, const struct machine_host *h)
{
	struct e1000_device *d = to_e1000(dev);
	struct e1000_host host = { .mmio = h->mmio, .pio = h->pio,
				   .pci = h->pci, .mem = h->mem,
				   .intx = d->intx };
	int ret = e1000_create(&d->e, dev->id, &host, d->mac, d->fd,
			       d->vnet_hdr_len, d->devfn);

	d->created = !ret;
	return ret;
}

static void e1000_unrealize(struct device *dev)
{
	struct e1000_device *d = to_e1000(dev);

	if (d->created)
		e1000_destroy(&d->e);
	d->created = false;
}

static int e1000_device_start(struct device *dev)
{
	return e1000_start(&to_e1000(dev)->e);
}

static void e1000_device_destroy(struct device *dev)
{
	struct e1000_device *d = to_e1000(dev);

	if (d->release)
		d->release(d->owner);
}

static void e1000_device_reset(struct device *dev)
{
	e1000_reset(&to_e1000(dev)->e);
}

static int e1000_pause(struct device *dev)
{
	struct e1000_device *d = to_e1000(dev);
	struct e1000 *e = &d->e;
	uint64_t one = 1;

	d->was_running = e->rx_running;
	if (e->rx_running) {
		atomic_store(&e->stop, true);
		if (write(e->wake_fd, &one, sizeof(one)) < 0)
			log_warn(e->name, "pausing: %s", strerror(errno));
		pthread_join(e->rx_thread, NULL);
		e->rx_running = false;
	}
	/* What the moderation timers hold is raised now: a paused device
	 * keeps no deadline, and its record needs none. */
	pthread_mutex_lock(&e->lock);
	timers_run(e, now_ns(e), true);
	e->sleep_until = UINT64_MAX;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static int e1000_resume(struct device *dev)
{
	struct e1000_device *d = to_e1000(dev);
	uint64_t one = 1;
	int ret;

	if (!d->was_running)
		return 0;
	ret = e1000_start(&d->e);
	/* Transmit work a budget left, and a ring that may have room. */
	if (!ret && write(d->e.wake_fd, &one, sizeof(one)) < 0)
		log_warn(d->e.name, "resuming: %s", strerror(errno));
	return ret;
}

static void le32s(uint8_t *p, const uint32_t *v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		put_le32(p + 4 * i, v[i]);
}

static void from_le32s(uint32_t *v, const uint8_t *p, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		v[i] = get_le32(p + 4 * i);
}

/* Everything a save holds, as bytes, for the checks before a load. */
struct e1000_image {
	uint8_t regs[4 * NREGS];
	uint8_t plain[4 * E1000_PLAIN_REGS];
	uint8_t ra[8 * E1000_RA_ENTRIES];
	uint8_t mta[4 * E1000_MTA_ENTRIES];
	uint8_t vfta[4 * E1000_VFTA_ENTRIES];
	uint8_t stats[4 * E1000_STAT_REGS];
	uint8_t eeprom[2 * E1000_EEPROM_WORDS];
	uint8_t phy[2 * E1000_PHY_REGS];
	uint8_t misc[MISC_LEN];
	uint8_t ctx[CTX_LEN];
	uint8_t cfg[PCI_CFG_SIZE];
	uint32_t tx_len;
	uint8_t *tx;
};

static void to_image(const struct e1000 *e, struct e1000_image *m)
{
	const uint32_t named[NREGS] = {
		e->ctrl, e->eecd, e->eerd, e->mdic, e->icr, e->ims, e->rctl,
		e->tctl, e->ioaddr, e->rdbal, e->rdbah, e->rdlen, e->rdh,
		e->rdt, e->tdbal, e->tdbah, e->tdlen, e->tdh, e->tdt, 0,
	};
	const struct e1000_tx_ctx *c = &e->ctx;

	le32s(m->regs, named, NREGS);
	le32s(m->plain, e->plain, E1000_PLAIN_REGS);
	le32s(m->ra, e->ra, 2 * E1000_RA_ENTRIES);
	le32s(m->mta, e->mta, E1000_MTA_ENTRIES);
	le32s(m->vfta, e->vfta, E1000_VFTA_ENTRIES);
	le32s(m->stats, e->stats, E1000_STAT_REGS);
	for (unsigned int i = 0; i < E1000_EEPROM_WORDS; i++)
		put_le16(m->eeprom + 2 * i, e->eeprom[i]);
	for (unsigned int i = 0; i < E1000_PHY_REGS; i++)
		put_le16(m->phy + 2 * i, e->phy[i]);
	memset(m->misc, 0, sizeof(m->misc));
	m->misc[0] = e->link_up;
	m->misc[1] = e->ee_state;
	m->misc[2] = e->ee_bits;
	m->misc[3] = e->ee_addr;
	m->misc[4] = e->ee_pos;
	m->misc[5] = e->ee_do;
	put_le16(m->misc + 6, e->ee_cmd);
	m->misc[8] = e->tx_drop;
	m->misc[9] = e->tx_first_seen;
	m->misc[10] = e->tx_tse;
	m->misc[11] = e->tx_popts;
	m->misc[12] = e->tx_more;
	m->ctx[0] = c->ipcss;
	m->ctx[1] = c->ipcso;
	m->ctx[2] = c->tucss;
	m->ctx[3] = c->tucso;
	m->ctx[4] = c->tucmd;
	m->ctx[5] = c->hdrlen;
	put_le16(m->ctx + 6, c->ipcse);
	put_le16(m->ctx + 8, c->tucse);
	put_le16(m->ctx + 10, c->mss);
	put_le32(m->ctx + 12, c->paylen);
	memset(m->ctx + 16, 0, CTX_LEN - 16);
	memcpy(m->cfg, e->pci.cfg, PCI_CFG_SIZE);
	m->tx_len = (uint32_t)e->tx_len;
	m->tx = e->tx_buf;
}

static int e1000_save(struct device *dev, struct state_writer *w)
{
	struct e1000 *e = &to_e1000(dev)->e;
	struct e1000_image *m = malloc(sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_lock(&e->lock);
	to_image(e, m);
	pci_dev_save(&e->pci, w, TAG_PCI);
	state_put_bytes(w, TAG_REGS, m->regs, sizeof(m->regs));
	state_put_bytes(w, TAG_PLAIN, m->plain, sizeof(m->plain));
	state_put_bytes(w, TAG_RA, m->ra, sizeof(m->ra));
	state_put_bytes(w, TAG_MTA, m->mta, sizeof(m->mta));
	state_put_bytes(w, TAG_VFTA, m->vfta, sizeof(m->vfta));
	state_put_bytes(w, TAG_STATS, m->stats, sizeof(m->stats));
	state_put_bytes(w, TAG_EEPROM, m->eeprom, sizeof(m->eeprom));
	state_put_bytes(w, TAG_PHY, m->phy, sizeof(m->phy));
	state_put_bytes(w, TAG_MISC, m->misc, sizeof(m->misc));
	state_put_bytes(w, TAG_TX_CTX, m->ctx, sizeof(m->ctx));
	state_put_bytes(w, TAG_TX_BUF, m->tx, m->tx_len);
	pthread_mutex_unlock(&e->lock);
	free(m);
	return 0;
}

static int get_image(struct e1000 *e, struct state_reader *r,
		     struct e1000_image *m)
{
	int ret;

	ret = state_get_bytes(r, TAG_PCI, m->cfg, sizeof(m->cfg));
	ret = ret ?: state_get_bytes(r, TAG_REGS, m->regs, sizeof(m->regs));
	ret = ret ?: state_get_bytes(r, TAG_PLAIN, m->plain, sizeof(m->plain));
	ret = ret ?: state_get_bytes(r, TAG_RA, m->ra, sizeof(m->ra));
	ret = ret ?: state_get_bytes(r, TAG_MTA, m->mta, sizeof(m->mta));
	ret = ret ?: state_get_bytes(r, TAG_VFTA, m->vfta, sizeof(m->vfta));
	ret = ret ?: state_get_bytes(r, TAG_STATS, m->stats, sizeof(m->stats));
	ret = ret ?: state_get_bytes(r, TAG_EEPROM, m->eeprom,
				     sizeof(m->eeprom));
	ret = ret ?: state_get_bytes(r, TAG_PHY, m->phy, sizeof(m->phy));
	ret = ret ?: state_get_bytes(r, TAG_MISC, m->misc, sizeof(m->misc));
	ret = ret ?: state_get_bytes(r, TAG_TX_CTX, m->ctx, sizeof(m->ctx));
	ret = ret ?: state_get_blob(r, TAG_TX_BUF, m->tx, E1000_TX_MAX,
				    &m->tx_len);
	if (ret == -ENOENT)
		return state_bad(e->name, "e1000", 0, "a field is missing");
	return ret;
}

/* Each value against what the registers' write rules let a guest make. */
static int check_image(struct e1000 *e, const struct e1000_image *m)
{
	const char *who = e->name;
	uint32_t v[NREGS];
	const uint8_t *misc = m->misc;

	from_le32s(v, m->regs, NREGS);
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++)
		if ((m->cfg[i] ^ e->pci.cfg[i]) & (uint8_t)~e->pci.wmask[i])
			return state_bad(who, "pci config offset", i,
					 "a read-only bit differs");
	if (v[1] & ~(uint32_t)(EECD_SK | EECD_CS | EECD_DI | EECD_FWE |
			       EECD_REQ))
		return state_bad(who, "EECD", v[1], "bits it cannot hold");
	for (unsigned int i = 0; i < E1000_EEPROM_WORDS; i++)
		if (get_le16(m->eeprom + 2 * i) != e->eeprom[i])
			return state_bad(who, "EEPROM word", i,
					 "another EEPROM (read-only here)");
	if ((v[9] | v[14]) & 0xf)
		return state_bad(who, "ring base", v[9] | v[14],
				 "not 16-byte aligned");
	if ((v[11] | v[16]) & ~RING_LEN_MASK)
		return state_bad(who, "ring length", v[11] | v[16],
				 "not a multiple of 128 below 1 MiB");
	if ((v[12] | v[13] | v[17] | v[18]) > 0xffff)
		return state_bad(who, "ring index", v[12] | v[13] | v[17] | v[18],
				 "wider than 16 bits");
	if (v[19])
		return state_bad(who, "registers", v[19], "reserved word set");
	if (misc[0] > 1 || misc[5] > 1 || misc[8] > 1 || misc[9] > 1 ||
	    misc[10] > 1 || misc[12] > 1)
		return state_bad(who, "flag", 2, "not 0 or 1");
	if (misc[1] > EE_IGNORE || misc[2] > 3 + EE_ADDR_BITS ||
	    misc[3] >= E1000_EEPROM_WORDS || misc[4] >= 16)
		return state_bad(who, "EEPROM state", misc[1],
				 "not one the bit-banging reaches");
	for (unsigned int i = 13; i < MISC_LEN; i++)
		if (misc[i])
			return state_bad(who, "misc", i, "reserved byte set");
	for (unsigned int i = 16; i < CTX_LEN; i++)
		if (m->ctx[i])
			return state_bad(who, "transmit context", i,
					 "reserved byte set");
	return 0;
}

static void apply_image(struct e1000 *e, const struct e1000_image *m)
{
	uint32_t v[NREGS];
	uint32_t *named[NREGS - 1] = {
		&e->ctrl, &e->eecd, &e->eerd, &e->mdic, &e->icr, &e->ims,
		&e->rctl, &e->tctl, &e->ioaddr, &e->rdbal, &e->rdbah,
		&e->rdlen, &e->rdh, &e->rdt, &e->tdbal, &e->tdbah, &e->tdlen,
		&e->tdh, &e->tdt,
	};
	struct e1000_tx_ctx *c = &e->ctx;
	int level;

	from_le32s(v, m->regs, NREGS);
	for (unsigned int i = 0; i < NREGS - 1; i++)
		*named[i] = v[i];
	from_le32s(e->plain, m->plain, E1000_PLAIN_REGS);
	from_le32s(e->ra, m->ra, 2 * E1000_RA_ENTRIES);
	from_le32s(e->mta, m->mta, E1000_MTA_ENTRIES);
	from_le32s(e->vfta, m->vfta, E1000_VFTA_ENTRIES);
	from_le32s(e->stats, m->stats, E1000_STAT_REGS);
	for (unsigned int i = 0; i < E1000_PHY_REGS; i++)
		e->phy[i] = get_le16(m->phy + 2 * i);
	e->link_up = m->misc[0];
	e->ee_state = m->misc[1];
	e->ee_bits = m->misc[2];
	e->ee_addr = m->misc[3];
	e->ee_pos = m->misc[4];
	e->ee_do = m->misc[5];
	e->ee_cmd = get_le16(m->misc + 6);
	e->tx_drop = m->misc[8];
	e->tx_first_seen = m->misc[9];
	e->tx_tse = m->misc[10];
	e->tx_popts = m->misc[11];
	e->tx_more = m->misc[12];
	c->ipcss = m->ctx[0];
	c->ipcso = m->ctx[1];
	c->tucss = m->ctx[2];
	c->tucso = m->ctx[3];
	c->tucmd = m->ctx[4];
	c->hdrlen = m->ctx[5];
	c->ipcse = get_le16(m->ctx + 6);
	c->tucse = get_le16(m->ctx + 8);
	c->mss = get_le16(m->ctx + 10);
	c->paylen = get_le32(m->ctx + 12);
	memcpy(e->tx_buf, m->tx, m->tx_len);
	e->tx_len = m->tx_len;
	e->rx_blocked = false;
	level = (e->icr & e->ims) != 0;
	e->irq_level = level;
	if (irq_line_set(&e->host.intx, level))
		log_warn(e->name, "INTx %d after a load", level);
}

static int e1000_load(struct device *dev, struct state_reader *r)
{
	struct e1000 *e = &to_e1000(dev)->e;
	struct e1000_image *m = malloc(sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	m->tx = malloc(E1000_TX_MAX);
	if (!m->tx) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_lock(&e->lock);
	ret = get_image(e, r, m);
	ret = ret ?: check_image(e, m);
	ret = ret ?: state_reader_close(r, e->name);
	if (!ret)
		apply_image(e, m);
	pthread_mutex_unlock(&e->lock);
	/* As guest writes, outside the device lock (a BAR move takes the
	 * PCI bus lock, which the vCPUs take before ours). */
	if (!ret)
		ret = pci_dev_load(e->host.pci, &e->pci, r, TAG_PCI);
	free(m->tx);
	free(m);
	return ret;
}

static const struct device_ops e1000_device_ops = {
	.kind = "e1000",
	.state_version = E1000_STATE_VERSION,
	.realize = e1000_realize,
	.start = e1000_device_start,
	.unrealize = e1000_unrealize,
	.reset = e1000_device_reset,
	.pause = e1000_pause,
	.resume = e1000_resume,
	.save = e1000_save,
	.load = e1000_load,
	.destroy = e1000_device_destroy,
};
