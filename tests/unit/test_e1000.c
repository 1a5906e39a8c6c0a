/* e1000 (82540EM) against a fake host: real MMIO and PIO buses, a PCI bus
 * the test programs like a guest (BARs through config space), guest RAM a
 * calloc'd buffer, an IRQ line that records its level, and a
 * SOCK_SEQPACKET socketpair as the tap (one record per frame). Covers the
 * EEPROM (EERD and bit-banged Microwire), reset, link and LSC, the PHY,
 * transmit (legacy, checksum offload, TSO over IPv4 and IPv6), receive
 * (filters, padding, FCS, spanning descriptors, VLAN strip, a full ring
 * through the receive thread), statistics, and a guest doing everything
 * wrong. Transmit is synchronous: a frame is in the socket when the TDT
 * write returns, up to the device's budget per write; test_tx_bounded
 * covers the rest, which the receive thread sends. */
#include "core/bus.h"
#include "core/pci.h"
#include "net/e1000.h"

#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (4ULL << 20)
#define BAR0 0xfebc0000u
#define IOBAR 0xc000u
#define DEVFN (3 << 3)
#define GSI 11
#define TX_RING 0x10000ULL
#define RX_RING 0x20000ULL
#define TX_BUF 0x100000ULL
#define RX_BUF 0x200000ULL
#define WAIT_MS 3000		/* for what must happen */
#define QUIET_MS 100		/* for what must not */

enum {
	CTRL = 0x0000, STATUS = 0x0008, EECD = 0x0010, EERD = 0x0014,
	MDIC = 0x0020, VET = 0x0038, ICR = 0x00c0, ITR = 0x00c4,
	ICS = 0x00c8, IMS = 0x00d0, IMC = 0x00d8, RCTL = 0x0100,
	TCTL = 0x0400, TIPG = 0x0410, PBA = 0x1000, RDBAL = 0x2800,
	RDBAH = 0x2804, RDLEN = 0x2808, RDH = 0x2810, RDT = 0x2818,
	RDTR = 0x2820, TDBAL = 0x3800, TDBAH = 0x3804, TDLEN = 0x3808,
	TDH = 0x3810, TDT = 0x3818, TIDV = 0x3820, MPC = 0x4010,
	GPRC = 0x4074, BPRC = 0x4078, MPRC = 0x407c, GPTC = 0x4080,
	GORCL = 0x4088, GORCH = 0x408c, GOTCL = 0x4090, GOTCH = 0x4094,
	ROC = 0x40ac, TPR = 0x40d0, TPT = 0x40d4, TSCTC = 0x40f8,
	TSCTFC = 0x40fc, MTA = 0x5200, RAL0 = 0x5400, RAH0 = 0x5404,
	RADV = 0x282c, TADV = 0x382c, RXCSUM = 0x5000,
};

#define ICR_TXDW 0x01
#define ICR_TXQE 0x02
#define ICR_LSC 0x04
#define ICR_RXDMT0 0x10
#define ICR_RXO 0x40
#define ICR_RXT0 0x80
#define RCTL_EN 0x02
#define RCTL_UPE 0x08
#define RCTL_MPE 0x10
#define RCTL_LPE 0x20
#define RCTL_BAM 0x8000
#define RCTL_SECRC (1u << 26)
#define TCTL_EN 0x02
#define TCTL_PSP 0x08
#define CMD_EOP 0x01
#define CMD_IFCS 0x02
#define CMD_IC 0x04
#define CMD_TSE 0x04
#define CMD_RS 0x08
#define CMD_DEXT 0x20
#define CMD_VLE 0x40
#define TUCMD_TCP 0x01
#define TUCMD_IP 0x02
#define POPTS_IXSM 0x01
#define POPTS_TXSM 0x02
#define RX_DD 0x01
#define RX_EOP 0x02
#define RX_IXSM 0x04
#define RX_VP 0x08
#define RX_ERR_RXE 0x80
#define RX_TCPCS 0x20
#define RX_IPCS 0x40
#define RX_ERR_TCPE 0x20
#define RX_ERR_IPE 0x40
#define CMD_IDE 0x80
#define FPD 0x80000000u

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0xe1, 0x00, 0x01 };
static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* --- fake host ----------------------------------------------------------- */

static uint8_t *ram;
static struct guest_mem mem;
static struct bus mmio, pio;
static struct pci_bus pci;
static struct e1000 dev;
static int sock[2] = { -1, -1 };

static struct {
	atomic_int level, calls;
	atomic_uint gsi;
} irq;

static int fake_irq_set(void *opaque, uint32_t gsi, int level)
{
	atomic_store(&irq.gsi, gsi);
	atomic_store(&irq.level, level);
	atomic_fetch_add(&irq.calls, 1);
	return 0;
}

static uint8_t *gp(uint64_t gpa)
{
	if (gpa >= RAM_SIZE)
		abort();
	return ram + gpa;
}

static uint32_t cfgr(uint32_t off, uint32_t len)
{
	return pci_cfg_read(&pci, DEVFN, off, len);
}

static void cfgw(uint32_t off, uint32_t len, uint32_t v)
{
	pci_cfg_write(&pci, DEVFN, off, len, v);
}

static uint32_t rd(uint32_t off)
{
	uint8_t d[4] = { 0 };

	CHECK(bus_read(&mmio, BAR0 + off, d, 4));
	return (uint32_t)bus_get(d, 4);
}

static void wr(uint32_t off, uint32_t v)
{
	uint8_t d[4];

	bus_put(d, 4, v);
	CHECK(bus_write(&mmio, BAR0 + off, d, 4));
}

static uint32_t io_rd(uint32_t port)
{
	uint8_t d[4] = { 0 };

	CHECK(bus_read(&pio, port, d, 4));
	return (uint32_t)bus_get(d, 4);
}

static void io_wr(uint32_t port, uint32_t v)
{
	uint8_t d[4];

	bus_put(d, 4, v);
	CHECK(bus_write(&pio, port, d, 4));
}

/* A fresh device with its BARs placed and decoding on. */
static void setup(int vnet_hdr_len)
{
	struct e1000_host host = {
		.mmio = &mmio, .pio = &pio, .pci = &pci, .mem = &mem,
		.intx = { fake_irq_set, NULL, GSI },
	};
	int sz = 1 << 20;

	memset(ram, 0, RAM_SIZE);
	atomic_store(&irq.level, 0);
	atomic_store(&irq.calls, 0);
	atomic_store(&irq.gsi, 0);
	CHECK_EQ(bus_init(&mmio, "mmio"), 0);
	CHECK_EQ(bus_init(&pio, "pio"), 0);
	CHECK_EQ(pci_bus_init(&pci, (struct vm_control){ 0 }), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock),
		 0);
	setsockopt(sock[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sock[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	fcntl(sock[1], F_SETFL, O_NONBLOCK);
	CHECK_EQ(e1000_create(&dev, "e1000-test", &host, MAC, sock[0],
			      vnet_hdr_len, DEVFN), 0);
	cfgw(0x10, 4, BAR0);
	cfgw(0x14, 4, IOBAR);
	cfgw(0x04, 2, 0x7);		/* I/O, memory, bus master */
}

static void teardown(void)
{
	e1000_destroy(&dev);
	close(sock[0]);
	close(sock[1]);
	pci_bus_destroy(&pci);
	bus_destroy(&mmio);
	bus_destroy(&pio);
}

/* The next frame the device sent, or -1 if there is none. */
static ssize_t take(uint8_t *buf, size_t cap)
{
	return recv(sock[1], buf, cap, MSG_DONTWAIT);
}

static bool no_frame(void)
{
	uint8_t b[16];

	return take(b, sizeof(b)) < 0 && errno == EAGAIN;
}

/* --- checksums and frames, written independently of the device ------------ */

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static bool ip4_ok(const uint8_t *ip)
{
	return fold(sum16(ip, 20, 0)) == 0xffff;
}

static bool l4_ok(const uint8_t *ip, bool v6, const uint8_t *l4, size_t len,
		  uint8_t proto)
{
	uint32_t s = v6 ? sum16(ip + 8, 32, 0) : sum16(ip + 12, 8, 0);

	return fold(sum16(l4, len, s + proto + (uint32_t)len)) == 0xffff;
}

static uint32_t crc32_bitwise(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffff;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A plain frame of `len` bytes to `dst`, tagged with `mark`. */
static size_t eth_frame(uint8_t *f, const uint8_t *dst, size_t len,
			uint8_t mark)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, PEER, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(pattern(i) ^ mark);
	return len;
}

/* Ethernet + IPv4 or IPv6 + TCP (proto 6) or UDP (17) carrying `pay`
 * bytes, the way Linux hands it to the driver: the L4 checksum field holds
 * the pseudo-header sum (with the length, or without it for TSO), the
 * IPv4 checksum is 0 and, for TSO, so are the IP lengths. Returns the
 * length; *l3 and *l4 get the header offsets. */
static size_t ip_packet(uint8_t *f, bool v6, uint8_t proto, size_t pay,
			uint8_t flags, bool tso, size_t *l4off)
{
	size_t l3 = 14, l4 = l3 + (v6 ? 40 : 20), l4h = proto == 6 ? 20 : 8;
	size_t l4len = l4h + pay;
	uint8_t *ip = f + l3, *t = f + l4;
	uint32_t s;

	memset(f, 0, l4 + l4h);
	memcpy(f, PEER, 6);
	memcpy(f + 6, MAC, 6);
	if (v6) {
		f[12] = 0x86;
		f[13] = 0xdd;
		ip[0] = 0x60;
		put_be16(ip + 4, tso ? 0 : (uint16_t)l4len);
		ip[6] = proto;
		ip[7] = 64;
		for (int i = 0; i < 16; i++) {
			ip[8 + i] = (uint8_t)(0x20 + i);
			ip[24 + i] = (uint8_t)(0x40 + i);
		}
		s = sum16(ip + 8, 32, 0);
	} else {
		f[12] = 0x08;
		ip[0] = 0x45;
		put_be16(ip + 2, tso ? 0 : (uint16_t)(20 + l4len));
		put_be16(ip + 4, 0x1234);
		ip[6] = 0x40;
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
		s = sum16(ip + 12, 8, 0);
	}
	put_be16(t, 0x1111);
	put_be16(t + 2, 0x2222);
	if (proto == 6) {
		put_be16(t + 4, 0x0102);
		put_be16(t + 6, 0x0304);	/* seq 0x01020304 */
		t[12] = 5 << 4;
		t[13] = flags;
		put_be16(t + 14, 0xffff);
	} else {
		put_be16(t + 4, (uint16_t)l4len);
	}
	for (size_t i = 0; i < pay; i++)
		t[l4h + i] = pattern(i);
	s += proto + (tso ? 0 : (uint32_t)l4len);
	put_be16(t + (proto == 6 ? 16 : 6), fold(s));
	*l4off = l4;
	return l4 + l4len;
}

/* --- descriptors ------------------------------------------------------------ */

static uint8_t *txd(unsigned int i)
{
	return gp(TX_RING + 16 * i);
}

static uint8_t *rxd(unsigned int i)
{
	return gp(RX_RING + 16 * i);
}

static void tx_legacy(unsigned int i, uint64_t addr, uint16_t len,
		      uint8_t cmd, uint8_t cso, uint8_t css, uint16_t special)
{
	uint8_t *d = txd(i);

	memset(d, 0, 16);
	put_le64(d, addr);
	put_le16(d + 8, len);
	d[10] = cso;
	d[11] = cmd;
	d[13] = css;
	put_le16(d + 14, special);
}

static void tx_ctx(unsigned int i, uint8_t ipcss, uint8_t ipcso,
		   uint16_t ipcse, uint8_t tucss, uint8_t tucso,
		   uint16_t tucse, uint32_t paylen, uint8_t tucmd,
		   uint8_t hdrlen, uint16_t mss)
{
	uint8_t *d = txd(i);

	memset(d, 0, 16);
	d[0] = ipcss;
	d[1] = ipcso;
	put_le16(d + 2, ipcse);
	d[4] = tucss;
	d[5] = tucso;
	put_le16(d + 6, tucse);
	put_le32(d + 8, (paylen & 0xfffff) | (uint32_t)(tucmd | CMD_DEXT) << 24);
	d[13] = hdrlen;
	put_le16(d + 14, mss);
}

static void tx_data(unsigned int i, uint64_t addr, uint32_t len, uint8_t dcmd,
		    uint8_t popts)
{
	uint8_t *d = txd(i);

	memset(d, 0, 16);
	put_le64(d, addr);
	put_le32(d + 8, (len & 0xfffff) | 1u << 20 |
			(uint32_t)(dcmd | CMD_DEXT) << 24);
	d[13] = popts;
}

static void tx_ring(unsigned int n)
{
	wr(TDBAL, (uint32_t)TX_RING);
	wr(TDBAH, 0);
	wr(TDLEN, 16 * n);
	wr(TDH, 0);
	wr(TDT, 0);
	wr(TCTL, TCTL_EN | TCTL_PSP);
}

/* n descriptors, each a buffer of `bsize` bytes; `free` given to the
 * device (RDT). */
static void rx_ring(unsigned int n, uint32_t bsize, unsigned int free)
{
	for (unsigned int i = 0; i < n; i++) {
		memset(rxd(i), 0, 16);
		put_le64(rxd(i), RX_BUF + (uint64_t)i * bsize);
	}
	wr(RDBAL, (uint32_t)RX_RING);
	wr(RDBAH, 0);
	wr(RDLEN, 16 * n);
	wr(RDH, 0);
	wr(RDT, free);
}

static uint8_t rx_status(unsigned int i)
{
	return __atomic_load_n(&rxd(i)[12], __ATOMIC_ACQUIRE);
}

static uint16_t rx_len(unsigned int i)
{
	return (uint16_t)(rxd(i)[8] | rxd(i)[9] << 8);
}

static bool wait_dd(unsigned int i)
{
	struct timespec ts = { 0, 1000000 };

	for (int ms = 0; ms < WAIT_MS; ms++) {
		if (rx_status(i) & RX_DD)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* --- tests ----------------------------------------------------------------- */

static void test_identity(void)
{
	setup(0);
	CHECK_EQ(cfgr(0x00, 2), 0x8086);
	CHECK_EQ(cfgr(0x02, 2), 0x100e);
	CHECK_EQ(cfgr(0x08, 4) >> 8, 0x020000);
	CHECK_EQ(cfgr(0x2c, 2), 0x8086);
	CHECK_EQ(cfgr(0x2e, 2), 0x001e);
	CHECK_EQ(cfgr(0x3d, 1), 1);		/* INTA */
	/* Sizing, as firmware does it: 128 KiB memory, 64 bytes of I/O. */
	cfgw(0x04, 2, 0);
	cfgw(0x10, 4, 0xffffffff);
	cfgw(0x14, 4, 0xffffffff);
	CHECK_EQ(cfgr(0x10, 4), 0xfffe0000);
	CHECK_EQ(cfgr(0x14, 4), 0xffffffc1);
	/* Decoding off: nothing on the buses. */
	CHECK(!bus_read(&mmio, BAR0, (uint8_t[4]){ 0 }, 4));
	cfgw(0x10, 4, BAR0);
	cfgw(0x14, 4, IOBAR);
	cfgw(0x04, 2, 0x7);
	CHECK_EQ(rd(STATUS) & 2, 0);		/* link down at power-on */
	/* The guest moves BAR 0: the registers follow it. */
	cfgw(0x10, 4, BAR0 + 0x100000);
	CHECK(!bus_read(&mmio, BAR0, (uint8_t[4]){ 0 }, 4));
	CHECK(bus_read(&mmio, BAR0 + 0x100000, (uint8_t[4]){ 0 }, 4));
	cfgw(0x10, 4, BAR0);
	CHECK_EQ(rd(RAL0), 0xe1005452);
	/* Destroyed: off both buses and the PCI bus. */
	e1000_destroy(&dev);
	CHECK_EQ(mmio.n, 0);
	CHECK_EQ(pio.n, 0);
	CHECK(!pci.devs[DEVFN]);
	CHECK_EQ(cfgr(0, 2), 0xffff);
	close(sock[0]);
	close(sock[1]);
	pci_bus_destroy(&pci);
	bus_destroy(&mmio);
	bus_destroy(&pio);
}

static uint16_t eerd(unsigned int addr)
{
	wr(EERD, addr << 8 | 1);
	CHECK(rd(EERD) & 0x10);			/* DONE */
	return (uint16_t)(rd(EERD) >> 16);
}

/* What Linux's e1000 does on an 82540: Microwire through EECD. */
static uint16_t eeprom_bitbang(unsigned int addr)
{
	uint32_t req = 0x40, cs = 0x02, sk = 0x01, di = 0x04, dout = 0x08;
	uint32_t cmd = 0x6u << 6 | addr;	/* start, READ, 6 address bits */
	uint16_t v = 0;

	wr(EECD, req);
	CHECK(rd(EECD) & 0x80);			/* granted */
	CHECK(rd(EECD) & 0x100);		/* present */
	CHECK(!(rd(EECD) & 0x200));		/* 64 words */
	wr(EECD, req | cs);
	for (int i = 8; i >= 0; i--) {
		uint32_t b = (cmd >> i & 1) ? di : 0;

		wr(EECD, req | cs | b);
		wr(EECD, req | cs | b | sk);
		wr(EECD, req | cs | b);
	}
	for (int i = 0; i < 16; i++) {
		wr(EECD, req | cs | sk);
		v = (uint16_t)(v << 1 | !!(rd(EECD) & dout));
		wr(EECD, req | cs);
	}
	wr(EECD, req);
	wr(EECD, 0);
	return v;
}

static void test_eeprom(void)
{
	uint16_t sum = 0;

	setup(0);
	CHECK_EQ(eerd(0), 0x5452);
	CHECK_EQ(eerd(1), 0xe100);
	CHECK_EQ(eerd(2), 0x0100);
	for (unsigned int i = 0; i < 64; i++) {
		uint16_t w = eerd(i);

		sum = (uint16_t)(sum + w);
		CHECK_EQ(eeprom_bitbang(i), w);
	}
	CHECK_EQ(sum, 0xbaba);
	CHECK_EQ(eerd(0x0d), 0x100e);
	CHECK_EQ(eerd(0x0e), 0x8086);
	CHECK_EQ(eerd(200), 0);			/* past the end: 0, done */
	/* A write command is ignored; the next read still works. */
	wr(EECD, 0x42);
	for (int i = 0; i < 9; i++) {
		wr(EECD, 0x46);
		wr(EECD, 0x47);
	}
	wr(EECD, 0);
	CHECK_EQ(eeprom_bitbang(0), 0x5452);
	teardown();
}

static void test_reset_link_irq(void)
{
	setup(0);
	CHECK_EQ(irq.gsi, 0);			/* nothing raised yet */
	wr(IMS, ICR_LSC | ICR_TXDW);
	CHECK_EQ(rd(IMS), ICR_LSC | ICR_TXDW);
	/* Set link up: STATUS says 1000 Mb/s full duplex, LSC fires. */
	wr(CTRL, 1u << 6);
	CHECK_EQ(rd(STATUS) & 0xc3, 0x83);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(irq.gsi, GSI);
	CHECK_EQ(rd(ICR), ICR_LSC);		/* read clears ... */
	CHECK_EQ(irq.level, 0);			/* ... and drops the line */
	CHECK_EQ(rd(ICR), 0);
	/* ICS sets causes; IMC masks them away from the line. */
	wr(ICS, ICR_TXDW | ICR_RXO);
	CHECK_EQ(irq.level, 1);
	wr(IMC, ICR_TXDW);
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(ICR), ICR_TXDW | ICR_RXO);
	wr(IMS, ICR_RXT0);

	/* The PHY on MDIO address 1: identity, link, negotiation done. */
	wr(MDIC, 2u << 26 | 1u << 21 | 2u << 16);
	CHECK_EQ(rd(MDIC) & 0x5000ffff, 0x10000141);	/* ready, no error */
	wr(MDIC, 2u << 26 | 1u << 21 | 3u << 16);
	CHECK_EQ(rd(MDIC) & 0xfff0, 0x0c20);
	wr(MDIC, 2u << 26 | 1u << 21 | 1u << 16);
	CHECK_EQ(rd(MDIC) & 0x24, 0x24);
	wr(MDIC, 2u << 26 | 1u << 21 | 0x11u << 16);	/* 1000, full, link */
	CHECK_EQ(rd(MDIC) & 0xec00, 0xac00);
	wr(MDIC, 1u << 26 | 1u << 21 | 0u << 16 | 0x9340);	/* reset+restart */
	wr(MDIC, 2u << 26 | 1u << 21 | 0u << 16);
	CHECK_EQ(rd(MDIC) & 0xffff, 0x1140);
	wr(MDIC, 1u << 26 | 1u << 21 | 1u << 16 | 0);	/* status is RO */
	wr(MDIC, 2u << 26 | 1u << 21 | 1u << 16);
	CHECK_EQ(rd(MDIC) & 4, 4);
	wr(MDIC, 2u << 26 | 7u << 21 | 1u << 16);	/* nobody there */
	CHECK_EQ(rd(MDIC) & 0x50000000, 0x50000000);

	/* Software reset: everything back, link down until SLU again. */
	wr(RCTL, RCTL_EN);
	wr(TDLEN, 4096);
	wr(ITR, 1000);
	wr(RAL0, 0x11223344);
	wr(ICS, ICR_RXT0);
	CHECK_EQ(irq.level, 1);
	wr(CTRL, 1u << 26 | 1u << 6);
	CHECK_EQ(rd(CTRL), 0);
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(IMS), 0);
	CHECK_EQ(rd(RCTL), 0);
	CHECK_EQ(rd(TDLEN), 0);
	CHECK_EQ(rd(ITR), 0);
	CHECK_EQ(rd(STATUS) & 2, 0);
	CHECK_EQ(rd(RAL0), 0xe1005452);		/* reloaded from the EEPROM */
	CHECK_EQ(rd(RAH0), 0x80000100);
	CHECK_EQ(rd(VET), 0x8100);
	CHECK_EQ(rd(PBA), 0x30);
	wr(CTRL, 1u << 6);
	CHECK_EQ(rd(ICR), ICR_LSC);

	/* Linux resets the 82540 through I/O space: IOADDR, then IODATA. */
	wr(TIPG, 10);
	io_wr(IOBAR, STATUS);
	CHECK_EQ(io_rd(IOBAR + 4) & 2, 2);
	io_wr(IOBAR, TIPG);
	CHECK_EQ(io_rd(IOBAR + 4), 10);
	io_wr(IOBAR, CTRL);
	io_wr(IOBAR + 4, 1u << 26);
	CHECK_EQ(rd(TIPG), 0);
	CHECK_EQ(rd(STATUS) & 2, 0);

	/* VM reset from the host side. */
	wr(CTRL, 1u << 6);
	wr(IMS, ICR_LSC);
	wr(ICS, ICR_LSC);
	CHECK_EQ(irq.level, 1);
	e1000_reset(&dev);
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(STATUS) & 2, 0);
	CHECK_EQ(rd(IMS), 0);
	teardown();
}

static void test_tx_legacy(void)
{
	uint8_t f[2048], got[2048];
	size_t len = eth_frame(f, BCAST, 100, 1);

	setup(0);
	wr(CTRL, 1u << 6);
	wr(IMS, ICR_TXDW);
	rd(ICR);
	tx_ring(16);
	memcpy(gp(TX_BUF), f, len);
	tx_legacy(0, TX_BUF, (uint16_t)len, CMD_EOP | CMD_IFCS | CMD_RS, 0, 0,
		  0);
	wr(TDT, 1);
	CHECK_EQ(take(got, sizeof(got)), (ssize_t)len);
	CHECK_MEM(got, f, len);
	CHECK_EQ(txd(0)[12] & 1, 1);		/* DD */
	CHECK_EQ(rd(TDH), 1);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR), ICR_TXDW | ICR_TXQE);
	CHECK_EQ(irq.level, 0);

	/* One packet in three descriptors, RS only on the last; the first
	 * TDT covers two of them: nothing goes until EOP is there. */
	memcpy(gp(TX_BUF + 0x1000), f, 10);
	memcpy(gp(TX_BUF + 0x2000), f + 10, 50);
	memcpy(gp(TX_BUF + 0x3000), f + 60, len - 60);
	tx_legacy(1, TX_BUF + 0x1000, 10, CMD_IFCS, 0, 0, 0);
	tx_legacy(2, TX_BUF + 0x2000, 50, CMD_IFCS, 0, 0, 0);
	tx_legacy(3, TX_BUF + 0x3000, (uint16_t)(len - 60),
		  CMD_EOP | CMD_IFCS | CMD_RS, 0, 0, 0);
	wr(TDT, 3);
	CHECK(no_frame());
	CHECK_EQ(rd(TDH), 3);
	CHECK_EQ(txd(1)[12], 0);		/* no RS, no write-back */
	CHECK_EQ(rd(ICR), ICR_TXQE);
	wr(TDT, 4);
	CHECK_EQ(take(got, sizeof(got)), (ssize_t)len);
	CHECK_MEM(got, f, len);
	CHECK_EQ(txd(3)[12] & 1, 1);

	/* A short frame is padded to 60 (TCTL.PSP); a VLAN tag goes in. */
	memcpy(gp(TX_BUF), f, 30);
	tx_legacy(4, TX_BUF, 30, CMD_EOP | CMD_RS, 0, 0, 0);
	tx_legacy(5, TX_BUF, 30, CMD_EOP | CMD_RS | CMD_VLE, 0, 0, 0x2005);
	wr(TDT, 6);
	CHECK_EQ(take(got, sizeof(got)), 60);
	CHECK_MEM(got, f, 30);
	CHECK_EQ(got[30] | got[59], 0);
	CHECK_EQ(take(got, sizeof(got)), 60);
	CHECK_MEM(got, f, 12);
	CHECK_EQ(be16(got + 12), 0x8100);
	CHECK_EQ(be16(got + 14), 0x2005);
	CHECK_MEM(got + 16, f + 12, 18);

	/* Legacy checksum insertion (IC, CSS, CSO) on a UDP packet. */
	size_t l4, plen = ip_packet(f, false, 17, 300, 0, false, &l4);

	memcpy(gp(TX_BUF), f, plen);
	tx_legacy(6, TX_BUF, (uint16_t)plen, CMD_EOP | CMD_IC | CMD_RS,
		  (uint8_t)(l4 + 6), (uint8_t)l4, 0);
	wr(TDT, 7);
	CHECK_EQ(take(got, sizeof(got)), (ssize_t)plen);
	CHECK(l4_ok(got + 14, false, got + l4, plen - l4, 17));
	CHECK(!l4_ok(f + 14, false, f + l4, plen - l4, 17));

	CHECK_EQ(rd(GPTC), 5);
	CHECK_EQ(rd(TPT), 5);
	CHECK_EQ(rd(GPTC), 0);			/* clear on read */
	CHECK_EQ(rd(GOTCL), 2 * (len + 4) + 2 * 64 + plen + 4);
	CHECK_EQ(rd(GOTCH), 0);
	CHECK_EQ(rd(GOTCL), 0);
	teardown();
}

static void test_tx_csum(void)
{
	uint8_t f[2048], got[2048];
	size_t l4, len;

	setup(0);
	tx_ring(16);
	/* TCP over IPv4, both checksums left to the device; the payload
	 * split over two data descriptors. */
	len = ip_packet(f, false, 6, 1000, 0x18, false, &l4);
	memcpy(gp(TX_BUF), f, 200);
	memcpy(gp(TX_BUF + 0x1000), f + 200, len - 200);
	tx_ctx(0, 14, 24, 33, (uint8_t)l4, (uint8_t)(l4 + 16), 0, 0,
	       TUCMD_IP | TUCMD_TCP, 0, 0);
	tx_data(1, TX_BUF, 200, 0, POPTS_IXSM | POPTS_TXSM);
	tx_data(2, TX_BUF + 0x1000, (uint32_t)(len - 200), CMD_EOP | CMD_RS,
		0);
	wr(TDT, 3);
	CHECK_EQ(take(got, sizeof(got)), (ssize_t)len);
	CHECK(ip4_ok(got + 14));
	CHECK(l4_ok(got + 14, false, got + l4, len - l4, 6));
	CHECK_MEM(got + l4 + 20, f + l4 + 20, 1000);
	CHECK(!ip4_ok(f + 14));

	/* UDP over IPv6: TXSM only; the context stays for the next one. */
	len = ip_packet(f, true, 17, 333, 0, false, &l4);
	memcpy(gp(TX_BUF), f, len);
	tx_ctx(3, 14, 0, 0, (uint8_t)l4, (uint8_t)(l4 + 6), 0, 0, 0, 0, 0);
	tx_data(4, TX_BUF, (uint32_t)len, CMD_EOP | CMD_RS, POPTS_TXSM);
	tx_data(5, TX_BUF, (uint32_t)len, CMD_EOP | CMD_RS, POPTS_TXSM);
	wr(TDT, 6);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(take(got, sizeof(got)), (ssize_t)len);
		CHECK(l4_ok(got + 14, true, got + l4, len - l4, 17));
	}
	/* Checksum offsets past the frame: sent without, logged. */
	tx_ctx(6, 14, 24, 33, 200, 250, 0, 0, TUCMD_IP, 0, 0);
	tx_data(7, TX_BUF, 100, CMD_EOP | CMD_RS, POPTS_TXSM);
	wr(TDT, 8);
	CHECK_EQ(take(got, sizeof(got)), 100);
	CHECK_MEM(got, f, 100);
	teardown();
}

/* A TSO packet as Linux's e1000 gives it, cut by the device. */
static void tso_case(bool v6, size_t pay, uint16_t mss, unsigned int *idx)
{
	uint8_t f[8192], got[2048];
	size_t l4, len = ip_packet(f, v6, 6, pay, 0x19, true, &l4);
	size_t hdr = l4 + 20, nseg = (pay + mss - 1) / mss;

	CHECK_EQ(len, hdr + pay);
	unsigned int i = *idx;

	/* Header in one buffer, payload in two, as the stack lays it out. */
	memcpy(gp(TX_BUF), f, hdr);
	memcpy(gp(TX_BUF + 0x1000), f + hdr, 1000);
	memcpy(gp(TX_BUF + 0x4000), f + hdr + 1000, pay - 1000);
	tx_ctx(i, 14, v6 ? 0 : 24, v6 ? 0 : (uint16_t)(l4 - 1), (uint8_t)l4,
	       (uint8_t)(l4 + 16), 0, (uint32_t)pay,
	       (v6 ? 0 : TUCMD_IP) | TUCMD_TCP | CMD_TSE, (uint8_t)hdr, mss);
	tx_data(i + 1, TX_BUF, (uint32_t)hdr, CMD_TSE,
		(v6 ? 0 : POPTS_IXSM) | POPTS_TXSM);
	tx_data(i + 2, TX_BUF + 0x1000, 1000, CMD_TSE, 0);
	tx_data(i + 3, TX_BUF + 0x4000, (uint32_t)(pay - 1000),
		CMD_TSE | CMD_EOP | CMD_RS, 0);
	*idx = i + 4;
	wr(TDT, *idx);
	CHECK_EQ(txd(i + 3)[12] & 1, 1);
	for (size_t s = 0; s < nseg; s++) {
		size_t n = s + 1 < nseg ? mss : pay - s * mss;
		uint8_t *t = got + l4;

		CHECK_EQ(take(got, sizeof(got)), (ssize_t)(hdr + n));
		if (v6) {
			CHECK_EQ(be16(got + 18), 20 + n);
		} else {
			CHECK_EQ(be16(got + 16), 40 + n);
			CHECK_EQ(be16(got + 18), 0x1234 + s);
			CHECK(ip4_ok(got + 14));
		}
		CHECK_EQ(be32(t + 4), 0x01020304 + s * mss);
		/* FIN and PSH on the last segment only; ACK on all. */
		CHECK_EQ(t[13], s + 1 < nseg ? 0x10 : 0x19);
		CHECK(l4_ok(got + 14, v6, t, 20 + n, 6));
		CHECK_MEM(t + 20, f + hdr + s * mss, n);
	}
	CHECK(no_frame());
}

static void test_tso(void)
{
	unsigned int idx = 0;

	setup(0);
	tx_ring(64);
	tso_case(false, 4000, 1000, &idx);		/* 4 full segments */
	tso_case(false, 3500, 1460, &idx);		/* 1460, 1460, 580 */
	tso_case(true, 2500, 1200, &idx);		/* IPv6 */
	CHECK_EQ(rd(GPTC), 4 + 3 + 3);
	CHECK_EQ(rd(TSCTC), 3);
	/* A context that does not fit: mss 0, then a header longer than
	 * the packet. Dropped, counted, logged; the ring goes on. */
	memset(gp(TX_BUF), 0x45, 200);
	tx_ctx(idx, 14, 24, 33, 34, 50, 0, 100, TUCMD_IP | TUCMD_TCP | CMD_TSE,
	       54, 0);
	tx_data(idx + 1, TX_BUF, 200, CMD_TSE | CMD_EOP | CMD_RS, POPTS_TXSM);
	tx_ctx(idx + 2, 14, 24, 33, 34, 50, 0, 100,
	       TUCMD_IP | TUCMD_TCP | CMD_TSE, 250, 100);
	tx_data(idx + 3, TX_BUF, 200, CMD_TSE | CMD_EOP | CMD_RS, POPTS_TXSM);
	idx += 4;
	wr(TDT, idx);
	CHECK(no_frame());
	CHECK_EQ(rd(TSCTFC), 2);
	CHECK_EQ(rd(TDH), idx);
	CHECK_EQ(txd(idx - 1)[12] & 1, 1);
	/* An MSS under 64 bytes is no TCP segment anyone sends, and would
	 * make thousands of frames of one packet: refused the same way.
	 * 64 itself is taken. */
	tx_ctx(idx, 14, 24, 33, 34, 50, 0, 146, TUCMD_IP | TUCMD_TCP | CMD_TSE,
	       54, 1);
	tx_data(idx + 1, TX_BUF, 200, CMD_TSE | CMD_EOP | CMD_RS, POPTS_TXSM);
	idx += 2;
	wr(TDT, idx);
	CHECK(no_frame());
	CHECK_EQ(rd(TSCTFC), 1);
	CHECK_EQ(txd(idx - 1)[12] & 1, 1);
	tso_case(false, 1200, 64, &idx);		/* 19 segments */
	CHECK_EQ(rd(TSCTC), 1);
	teardown();
}

/* One TDT write does a bounded amount of work on the vCPU thread, under
 * the device lock that the receive thread and a reset also need: a whole
 * ring of packets does not go out in one go. The receive thread sends the
 * rest, in order, with no further write. */
static void test_tx_bounded(void)
{
	enum { N = 1024 };
	uint8_t f[64], got[128];
	unsigned int sent = 0;
	ssize_t n;

	setup(0);
	eth_frame(f, PEER, sizeof(f), 9);
	memcpy(gp(TX_BUF), f, sizeof(f));
	for (unsigned int i = 0; i < N; i++)
		tx_legacy(i, TX_BUF, sizeof(f), CMD_EOP | CMD_RS, 0, 0, 0);
	tx_ring(N);
	wr(TDT, N - 1);
	while (take(got, sizeof(got)) > 0)
		sent++;
	CHECK(sent > 0);
	CHECK(sent < N - 1);
	CHECK_EQ(rd(TDH), sent);
	CHECK_EQ(txd(sent)[12] & 1, 0);
	CHECK_EQ(e1000_start(&dev), 0);
	for (int ms = 0; ms < WAIT_MS && sent < N - 1; ) {
		n = take(got, sizeof(got));
		if (n > 0) {
			if (n != (ssize_t)sizeof(f) || memcmp(got, f, sizeof(f)))
				CHECK_FAIL_AT(__FILE__, __LINE__, "frame %u",
					      sent);
			sent++;
			continue;
		}
		usleep(1000);
		ms++;
	}
	CHECK_EQ(sent, N - 1);
	CHECK_EQ(rd(TDH), N - 1);
	CHECK_EQ(txd(N - 2)[12] & 1, 1);
	CHECK_EQ(rd(GPTC), N - 1);
	teardown();
}

static void test_rx(void)
{
	uint8_t f[4096];
	size_t len;

	setup(0);
	wr(IMS, ICR_RXT0);
	rx_ring(8, 2048, 7);
	/* Receiver off: the frame is dropped, the ring untouched. */
	eth_frame(f, BCAST, 100, 1);
	CHECK_EQ(e1000_receive(&dev, f, 100), 0);
	CHECK_EQ(rx_status(0), 0);
	wr(RCTL, RCTL_EN | RCTL_BAM);		/* 2048-byte buffers */

	len = eth_frame(f, BCAST, 100, 1);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rx_status(0), RX_DD | RX_EOP | RX_IXSM);
	CHECK_EQ(rx_len(0), len + 4);
	CHECK_MEM(gp(RX_BUF), f, len);
	CHECK_EQ(be32(gp(RX_BUF + len)),
		 __builtin_bswap32(crc32_bitwise(f, len)));
	CHECK_EQ(rd(RDH), 1);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR), ICR_RXT0);		/* 6 of 8 free: above half */
	CHECK_EQ(irq.level, 0);

	/* Short: padded to 60, then the FCS. To us: taken. */
	len = eth_frame(f, MAC, 20, 2);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rx_len(1), 64);
	CHECK_MEM(gp(RX_BUF + 2048), f, 20);
	CHECK_EQ(gp(RX_BUF + 2048)[20] | gp(RX_BUF + 2048)[59], 0);
	CHECK_EQ(crc32_bitwise(gp(RX_BUF + 2048), 64), 0x2144df1c);
	CHECK_EQ(rd(ICR), ICR_RXT0);		/* 5 of 8 free */
	/* Another unicast address, a multicast not in the table: filtered,
	 * so the next accepted frame lands in descriptor 2. */
	len = eth_frame(f, PEER, 80, 3);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	len = eth_frame(f, (uint8_t[]){ 0x01, 0, 0x5e, 0, 0, 0xfb }, 80, 3);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rd(RDH), 2);
	/* That multicast's hash (MO 0: bits 47:36, 0xfb0) in the MTA. */
	wr(MTA + 4 * (0xfb0 >> 5), 1u << (0xfb0 & 31));
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rd(RDH), 3);
	CHECK_EQ(rx_len(2), 84);
	/* 4 of 8 free: down to the threshold (half). */
	CHECK_EQ(rd(ICR), ICR_RXT0 | ICR_RXDMT0);
	wr(RCTL, RCTL_EN | RCTL_UPE | RCTL_SECRC);	/* promiscuous, no FCS */
	len = eth_frame(f, PEER, 80, 4);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rx_len(3), 80);
	CHECK_EQ(rd(ICR), ICR_RXT0 | ICR_RXDMT0);

	CHECK_EQ(rd(GPRC), 4);
	CHECK_EQ(rd(BPRC), 1);
	CHECK_EQ(rd(MPRC), 1);
	CHECK_EQ(rd(TPR), 4);
	CHECK_EQ(rd(GORCL), 104 + 64 + 84 + 84);
	CHECK_EQ(rd(GORCH), 0);
	CHECK_EQ(rd(GPRC), 0);

	/* Long frames: without LPE over 1522 with the FCS is dropped. */
	len = eth_frame(f, PEER, 1519, 5);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rd(RDH), 4);
	CHECK_EQ(rd(ROC), 1);
	/* With LPE and 256-byte buffers a frame spans descriptors. */
	wr(RCTL, RCTL_EN | RCTL_UPE | RCTL_LPE | 3u << 16);
	len = eth_frame(f, PEER, 700, 6);
	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rd(RDH), 7);
	CHECK_EQ(rx_status(4), RX_DD | RX_IXSM);
	CHECK_EQ(rx_status(5), RX_DD | RX_IXSM);
	CHECK_EQ(rx_status(6), RX_DD | RX_EOP | RX_IXSM);
	CHECK_EQ(rx_len(4) + rx_len(5) + rx_len(6), 704);
	CHECK_EQ(rx_len(6), 704 - 512);
	CHECK_MEM(gp(RX_BUF + 4 * 2048), f, 256);
	CHECK_MEM(gp(RX_BUF + 5 * 2048), f + 256, 256);
	CHECK_MEM(gp(RX_BUF + 6 * 2048), f + 512, 188);

	/* RDH == RDT: no room; the frame is missed, RXO raised, nothing
	 * written past the tail. */
	CHECK_EQ(e1000_receive(&dev, f, 100), -ENOBUFS);
	CHECK_EQ(rx_status(7), 0);
	CHECK_EQ(rd(MPC), 1);
	CHECK(rd(ICR) & ICR_RXO);
	/* Two free but the frame needs three: the same. */
	wr(RDT, 1);
	CHECK_EQ(e1000_receive(&dev, f, 700), -ENOBUFS);
	CHECK_EQ(rx_status(7), 0);

	/* VLAN: with CTRL.VME the tag moves to the descriptor. */
	wr(RCTL, RCTL_EN | RCTL_UPE);
	wr(CTRL, 1u << 30 | 1u << 6);
	len = eth_frame(f, PEER, 100, 7);
	memmove(f + 16, f + 12, len - 12);
	put_be16(f + 12, 0x8100);
	put_be16(f + 14, 0x3007);
	CHECK_EQ(e1000_receive(&dev, f, len + 4), 0);
	CHECK_EQ(rx_status(7), RX_DD | RX_EOP | RX_IXSM | RX_VP);
	CHECK_EQ(rxd(7)[14] | rxd(7)[15] << 8, 0x3007);
	CHECK_EQ(rx_len(7), len + 4);
	CHECK_MEM(gp(RX_BUF + 7 * 2048), f, 12);
	CHECK_MEM(gp(RX_BUF + 7 * 2048) + 12, f + 16, len - 12);
	teardown();
}

/* The receive thread end to end, and a ring that runs out. */
static void test_rx_thread(void)
{
	uint8_t f[256];

	setup(0);
	rx_ring(8, 2048, 2);
	wr(RCTL, RCTL_EN | RCTL_BAM);
	CHECK_EQ(e1000_start(&dev), 0);
	for (uint8_t m = 1; m <= 4; m++) {
		eth_frame(f, BCAST, 100, m);
		CHECK_EQ(send(sock[1], f, 100, 0), 100);
	}
	CHECK(wait_dd(0));
	CHECK(wait_dd(1));
	/* Ring full: the thread stops reading the backend (frames wait
	 * there, none lost, nothing written past the tail). */
	usleep(QUIET_MS * 1000);
	CHECK_EQ(rx_status(2), 0);
	CHECK_EQ(rd(RDH), 2);
	eth_frame(f, BCAST, 100, 1);
	CHECK_MEM(gp(RX_BUF), f, 100);
	eth_frame(f, BCAST, 100, 2);
	CHECK_MEM(gp(RX_BUF + 2048), f, 100);
	/* The driver hands two buffers back: the rest come in order. */
	wr(RDT, 4);
	CHECK(wait_dd(2));
	CHECK(wait_dd(3));
	eth_frame(f, BCAST, 100, 3);
	CHECK_MEM(gp(RX_BUF + 2 * 2048), f, 100);
	eth_frame(f, BCAST, 100, 4);
	CHECK_MEM(gp(RX_BUF + 3 * 2048), f, 100);
	CHECK_EQ(rd(MPC), 0);
	CHECK_EQ(rd(GPRC), 4);
	/* RDT beyond the ring: nothing is taken; fixed, it goes on. */
	wr(RDT, 100);
	eth_frame(f, BCAST, 100, 5);
	CHECK_EQ(send(sock[1], f, 100, 0), 100);
	usleep(QUIET_MS * 1000);
	CHECK_EQ(rx_status(4), 0);
	wr(RDT, 6);
	CHECK(wait_dd(4));
	CHECK_MEM(gp(RX_BUF + 4 * 2048), f, 100);
	teardown();			/* stops the thread */
}

/* With a virtio-net header on the tap: written zeroed before each frame,
 * stripped on receive, a checksum it leaves to us filled in. */
static void test_vnet_hdr(void)
{
	uint8_t f[2048], got[2048], hdr[12] = { 0 };
	size_t l4, len;

	setup(12);
	tx_ring(16);
	len = eth_frame(f, BCAST, 70, 9);
	memcpy(gp(TX_BUF), f, len);
	tx_legacy(0, TX_BUF, (uint16_t)len, CMD_EOP | CMD_RS, 0, 0, 0);
	wr(TDT, 1);
	CHECK_EQ(take(got, sizeof(got)), (ssize_t)(12 + len));
	CHECK_MEM(got, hdr, 12);
	CHECK_MEM(got + 12, f, len);

	rx_ring(8, 2048, 3);
	wr(RCTL, RCTL_EN | RCTL_UPE | RCTL_SECRC);
	CHECK_EQ(e1000_start(&dev), 0);
	/* A GSO frame is dropped: the next one lands in descriptor 0. */
	hdr[1] = 1;
	memcpy(got, hdr, 12);
	memcpy(got + 12, f, len);
	CHECK_EQ(send(sock[1], got, 12 + len, 0), (ssize_t)(12 + len));
	len = ip_packet(f, false, 17, 200, 0, false, &l4);
	hdr[0] = 1;				/* NEEDS_CSUM */
	hdr[1] = 0;
	put_le16(hdr + 6, (uint16_t)l4);
	put_le16(hdr + 8, 6);
	memcpy(got, hdr, 12);
	memcpy(got + 12, f, len);
	CHECK_EQ(send(sock[1], got, 12 + len, 0), (ssize_t)(12 + len));
	CHECK(wait_dd(0));
	CHECK_EQ(rx_len(0), len);
	CHECK_MEM(gp(RX_BUF), f, l4 + 6);
	CHECK(l4_ok(gp(RX_BUF + 14), false, gp(RX_BUF + l4), len - l4, 17));
	teardown();
}

/* A guest doing it all wrong: no crash, nothing outside RAM, the guest
 * sees an error or loses the packet. */
static void test_malformed(void)
{
	uint8_t f[256], got[256], d[8];

	setup(0);
	eth_frame(f, BCAST, 100, 1);
	memcpy(gp(TX_BUF), f, 100);
	wr(TCTL, TCTL_EN);
	/* TDLEN 0. */
	tx_legacy(0, TX_BUF, 100, CMD_EOP | CMD_RS, 0, 0, 0);
	wr(TDBAL, (uint32_t)TX_RING);
	wr(TDT, 1);
	CHECK(no_frame());
	CHECK_EQ(rd(TDH), 0);
	/* Not a multiple of 128: the low bits do not exist. */
	wr(TDLEN, 200);
	CHECK_EQ(rd(TDLEN), 128);
	wr(TDLEN, 0xffffffff);
	CHECK_EQ(rd(TDLEN), 0xfff80);
	/* A huge ring running out of RAM. */
	wr(TDBAL, (uint32_t)(RAM_SIZE - 4096));
	wr(TDT, 2);
	CHECK(no_frame());
	CHECK_EQ(rd(TDH), 0);
	/* A ring above 4 GiB, where there is no RAM. */
	wr(TDBAL, 0);
	wr(TDBAH, 1);
	wr(TDLEN, 256);
	wr(TDT, 1);
	CHECK(no_frame());
	/* Head past the ring's end; fixed, the ring works. */
	wr(TDBAH, 0);
	wr(TDBAL, (uint32_t)TX_RING);
	wr(TDT, 0);
	wr(TDH, 20);
	wr(TDT, 1);
	CHECK(no_frame());
	CHECK_EQ(rd(TDH), 20);
	wr(TDH, 0);
	wr(TDT, 0);
	wr(TDT, 1);
	CHECK_EQ(take(got, sizeof(got)), 100);
	/* A buffer outside RAM, a buffer running off its end, a zero-length
	 * packet: dropped, written back, and the next packet goes out. */
	tx_legacy(1, RAM_SIZE + 0x1000, 100, CMD_EOP | CMD_RS, 0, 0, 0);
	tx_legacy(2, RAM_SIZE - 50, 100, CMD_EOP | CMD_RS, 0, 0, 0);
	tx_legacy(3, TX_BUF, 0, CMD_EOP | CMD_RS, 0, 0, 0);
	tx_data(4, ~0ULL - 10, 0xfffff, CMD_EOP | CMD_RS, POPTS_TXSM);
	tx_legacy(5, TX_BUF, 100, CMD_EOP | CMD_RS, 0, 0, 0);
	wr(TDT, 6);
	CHECK_EQ(take(got, sizeof(got)), 100);
	CHECK_MEM(got, f, 100);
	CHECK(no_frame());
	for (unsigned int i = 1; i < 6; i++)
		CHECK_EQ(txd(i)[12] & 1, 1);
	/* Good data, then a bad buffer in the same packet: none of it
	 * goes. */
	tx_legacy(6, TX_BUF, 100, CMD_RS, 0, 0, 0);
	tx_legacy(7, RAM_SIZE, 100, CMD_EOP | CMD_RS, 0, 0, 0);
	wr(TDT, 8);
	CHECK(no_frame());
	CHECK_EQ(rd(TDH), 8);
	/* Over 64 KiB in one packet (9 descriptors of 8000 bytes): dropped;
	 * the ring goes on. */
	wr(TDLEN, 64 * 16);
	for (unsigned int i = 8; i < 16; i++)
		tx_data(i, TX_BUF, 8000, CMD_TSE, 0);
	tx_data(16, TX_BUF, 8000, CMD_TSE | CMD_EOP | CMD_RS, 0);
	tx_legacy(17, TX_BUF, 100, CMD_EOP | CMD_RS, 0, 0, 0);
	wr(TDT, 18);
	CHECK_EQ(take(got, sizeof(got)), 100);
	CHECK(no_frame());
	/* Descriptor type 5: skipped. */
	tx_legacy(18, TX_BUF, 100, CMD_EOP | CMD_RS | CMD_DEXT, 0x50, 0, 0);
	wr(TDT, 19);
	CHECK(no_frame());
	CHECK_EQ(rd(TDH), 19);

	/* Receive: a ring outside RAM, RDT past the end, a buffer outside
	 * RAM (the guest sees RXE on the descriptor). */
	wr(RCTL, RCTL_EN | RCTL_BAM);
	wr(RDBAL, (uint32_t)(RAM_SIZE - 16));
	wr(RDLEN, 128);
	wr(RDT, 3);
	CHECK_EQ(e1000_receive(&dev, f, 100), -ENOBUFS);
	rx_ring(8, 2048, 100);
	CHECK_EQ(e1000_receive(&dev, f, 100), -ENOBUFS);
	CHECK_EQ(rx_status(0), 0);
	wr(RDT, 4);
	put_le64(rxd(0), RAM_SIZE - 10);
	CHECK_EQ(e1000_receive(&dev, f, 100), 0);
	CHECK_EQ(rx_status(0), RX_DD | RX_EOP | RX_IXSM);
	CHECK_EQ(rxd(0)[13], RX_ERR_RXE);
	CHECK_EQ(rx_len(0), 0);
	CHECK_EQ(e1000_receive(&dev, f, 100), 0);	/* the next is fine */
	CHECK_EQ(rx_len(1), 104);
	CHECK_EQ(e1000_receive(&dev, f, 5), 0);		/* a runt: dropped */
	CHECK_EQ(rd(RDH), 2);

	/* Odd registers and widths. */
	CHECK_EQ(rd(0x1fffc), 0);
	wr(0x1fffc, 1);
	CHECK_EQ(rd(0x1fffc), 0);
	CHECK_EQ(rd(0x0004), 0);
	wr(STATUS, 0);
	CHECK_EQ(rd(STATUS) & 2, 0);
	wr(GPRC, 55);
	CHECK_EQ(rd(GPRC), 1);
	for (uint32_t len = 1; len <= 8; len *= 2)
		for (uint64_t off = 0; off < 16; off++) {
			memset(d, 0xaa, sizeof(d));
			e1000_mmio_ops.read(&dev, off, d, len);
			e1000_mmio_ops.write(&dev, 0x3000 + off, d, len);
			e1000_io_ops.read(&dev, off, d, len);
			e1000_io_ops.write(&dev, 8 + off, d, len);
		}
	memset(d, 0xff, sizeof(d));
	e1000_mmio_ops.read(&dev, E1000_MMIO_SIZE, d, 4);
	CHECK_EQ(d[0], 0);
	e1000_mmio_ops.write(&dev, 0x7fffffff0ULL, d, 8);
	e1000_mmio_ops.read(&dev, E1000_MMIO_SIZE - 4, d, 8);
	/* A qword access is two dwords, low first. */
	put_le64(d, 0x0000000500000070ULL);
	e1000_mmio_ops.write(&dev, TDBAL, d, 8);
	CHECK_EQ(rd(TDBAL), 0x70);
	CHECK_EQ(rd(TDBAH), 5);
	memset(d, 0, sizeof(d));
	e1000_mmio_ops.read(&dev, TDBAL, d, 8);
	CHECK_EQ(d[0], 0x70);
	CHECK_EQ(d[4], 5);
	/* IOADDR wraps into the register space. */
	io_wr(IOBAR, 0xffffffff);
	CHECK_EQ(io_rd(IOBAR), 0x1fffc);
	io_wr(IOBAR + 4, 1);
	CHECK_EQ(io_rd(IOBAR + 4), 0);
	/* The EEPROM clocked with nonsense, MDIC with a bad opcode. */
	for (int i = 0; i < 100; i++)
		wr(EECD, (uint32_t)(i * 0x9e3779b9u));
	wr(EECD, 0);
	CHECK_EQ(eeprom_bitbang(1), 0xe100);
	wr(MDIC, 3u << 26 | 1u << 21);
	CHECK(rd(MDIC) & 0x40000000);
	teardown();
}


/* --- interrupt moderation and receive checksum offload -------------------- */

static uint64_t fake_now;

static uint64_t fake_clock(void *opaque)
{
	return fake_now;
}

static void us(uint64_t n)
{
	fake_now += n * 1000;
}

/* A frame in, the line's level after it. */
static int rx_one(uint8_t mark)
{
	uint8_t f[128];

	CHECK_EQ(e1000_receive(&dev, f, eth_frame(f, MAC, 100, mark)), 0);
	return atomic_load(&irq.level);
}

static void test_moderation(void)
{
	uint8_t f[128];
	uint64_t t0;

	setup(0);
	dev.clock = fake_clock;
	fake_now = 5000000;
	rx_ring(64, 2048, 63);
	wr(RCTL, RCTL_EN);
	wr(IMS, ICR_RXT0 | ICR_TXDW);

	/* ITR 100 (25.6 us): the first frame interrupts at once; the next
	 * two, 1 and 2 us later, wait in ICR for the interval; then one
	 * edge for both. */
	wr(ITR, 100);
	CHECK_EQ(rd(ITR), 100);
	CHECK_EQ(rx_one(1), 1);
	CHECK_EQ(dev.irqs, 1);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	CHECK_EQ(irq.level, 0);
	us(1);
	CHECK_EQ(rx_one(2), 0);
	us(1);
	CHECK_EQ(rx_one(3), 0);
	CHECK_EQ(e1000_tick(&dev), 5000000 + 25600);
	CHECK_EQ(irq.level, 0);
	fake_now = 5000000 + 25600;
	CHECK_EQ(e1000_tick(&dev), UINT64_MAX);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(dev.irqs, 2);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	/* ICR and IMS keep their meaning: a masked cause sets ICR without
	 * an edge; unmasking it raises the line, past the interval. */
	us(100);
	wr(IMC, ICR_RXT0);
	CHECK_EQ(rx_one(4), 0);
	wr(IMS, ICR_RXT0);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(dev.irqs, 3);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	/* ICS is throttled the same way. */
	wr(ICS, ICR_TXDW);
	CHECK_EQ(irq.level, 0);
	us(26);
	e1000_tick(&dev);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR), ICR_TXDW);
	wr(ITR, 0);

	/* RDTR 10 (10.24 us), RADV 30 (30.72 us): frames every 5 us keep
	 * restarting RDTR; RADV fires 30.72 us after the first. */
	wr(RDTR, 10);
	wr(RADV, 30);
	us(100);
	t0 = fake_now;
	for (int i = 0; i < 6; i++) {		/* 0, 5, .. 25 us; ticks to 30 */
		CHECK_EQ(rx_one((uint8_t)(10 + i)), 0);
		us(5);
		e1000_tick(&dev);
	}
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(rd(ICR), 0);
	fake_now = t0 + 30720 - 1;
	CHECK_EQ(e1000_tick(&dev), t0 + 30720);
	CHECK_EQ(irq.level, 0);
	fake_now = t0 + 30720;
	CHECK_EQ(e1000_tick(&dev), UINT64_MAX);	/* RDTR went with it */
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	/* RDTR alone: 10.24 us after the last frame. */
	wr(RADV, 0);
	t0 = fake_now;
	CHECK_EQ(rx_one(20), 0);
	us(8);
	CHECK_EQ(rx_one(21), 0);
	CHECK_EQ(e1000_tick(&dev), t0 + 8000 + 10240);
	fake_now = t0 + 8000 + 10240;
	e1000_tick(&dev);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	/* FPD flushes at once and reads back as 0. */
	CHECK_EQ(rx_one(22), 0);
	wr(RDTR, 10 | FPD);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(RDTR), 10);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	CHECK_EQ(e1000_tick(&dev), UINT64_MAX);
	wr(RDTR, 0);

	/* TIDV 20, TADV 0: TXDW 20.48 us after a descriptor with IDE; one
	 * without IDE interrupts at once. */
	tx_ring(8);
	wr(TIDV, 20);
	memset(gp(TX_BUF), 0, 64);
	memcpy(gp(TX_BUF), PEER, 6);
	tx_legacy(0, TX_BUF, 60, CMD_EOP | CMD_RS | CMD_IDE, 0, 0, 0);
	t0 = fake_now;
	wr(TDT, 1);
	CHECK(take(f, sizeof(f)) == 60);
	CHECK_EQ(txd(0)[12] & 1, 1);		/* DD: the buffer is free */
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(e1000_tick(&dev), t0 + 20480);
	fake_now = t0 + 20480;
	e1000_tick(&dev);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR) & ICR_TXDW, ICR_TXDW);
	tx_legacy(1, TX_BUF, 60, CMD_EOP | CMD_RS, 0, 0, 0);
	wr(TDT, 2);
	CHECK(take(f, sizeof(f)) == 60);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR) & ICR_TXDW, ICR_TXDW);
	/* TIDV's FPD. */
	tx_legacy(2, TX_BUF, 60, CMD_EOP | CMD_RS | CMD_IDE, 0, 0, 0);
	wr(TDT, 3);
	CHECK_EQ(irq.level, 0);
	wr(TIDV, 20 | FPD);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR) & ICR_TXDW, ICR_TXDW);
	/* A reset disarms every timer. */
	tx_legacy(3, TX_BUF, 60, CMD_EOP | CMD_RS | CMD_IDE, 0, 0, 0);
	wr(TDT, 4);
	CHECK(e1000_tick(&dev) != UINT64_MAX);
	e1000_reset(&dev);
	CHECK_EQ(e1000_tick(&dev), UINT64_MAX);
	teardown();

	/* With the receive thread: the real clock, its own timer. */
	setup(0);
	CHECK_EQ(e1000_start(&dev), 0);
	rx_ring(8, 2048, 7);
	wr(RCTL, RCTL_EN);
	wr(IMS, ICR_RXT0);
	wr(RDTR, 1000);			/* about a millisecond */
	CHECK_EQ(rx_one(30), 0);
	for (int ms = 0; ms < WAIT_MS && !atomic_load(&irq.level); ms++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(rd(ICR), ICR_RXT0);
	teardown();
}

/* IPv4 checksums made final, as a sender's stack would. */
static void finish_v4(uint8_t *f, size_t l4off, uint8_t proto)
{
	uint8_t *ip = f + 14, *t = f + l4off;
	size_t l4len = be16(ip + 2) - 20;
	size_t cso = proto == 6 ? 16 : 6;

	put_be16(ip + 10, 0);
	put_be16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	put_be16(t + cso, 0);
	put_be16(t + cso, (uint16_t)~fold(sum16(t, l4len, sum16(ip + 12, 8, 0) +
						proto + (uint32_t)l4len)));
	if (proto == 17 && !be16(t + cso))
		put_be16(t + cso, 0xffff);
}

static unsigned int csum_slot;

/* The frame in, its status and errors bytes out. */
static void rx_csum_case(const uint8_t *f, size_t len, uint8_t sta,
			 uint8_t err)
{
	unsigned int i = csum_slot++;

	CHECK_EQ(e1000_receive(&dev, f, len), 0);
	CHECK_EQ(rx_status(i), RX_DD | RX_EOP | sta);
	CHECK_EQ(rxd(i)[13], err);
	CHECK_MEM(gp(RX_BUF + 2048ULL * i), f, len);
}

static void test_rx_csum(void)
{
	uint8_t f[2048];
	size_t len, l4;

	setup(0);
	csum_slot = 0;
	rx_ring(32, 2048, 31);
	wr(RCTL, RCTL_EN | RCTL_UPE | RCTL_SECRC);
	/* Off: "ignore the checksum bits". */
	len = ip_packet(f, false, 6, 300, 0x10, false, &l4);
	finish_v4(f, l4, 6);
	rx_csum_case(f, len, RX_IXSM, 0);
	wr(RXCSUM, 0x300);			/* IPOFLD | TUOFLD */
	CHECK_EQ(rd(RXCSUM), 0x300);
	rx_csum_case(f, len, RX_IPCS | RX_TCPCS, 0);
	/* A payload byte changed: TCPE; the IP header still good. */
	f[l4 + 40] ^= 1;
	rx_csum_case(f, len, RX_IPCS | RX_TCPCS, RX_ERR_TCPE);
	f[l4 + 40] ^= 1;
	/* The IP header's checksum wrong. */
	f[14 + 10] ^= 0x80;
	rx_csum_case(f, len, RX_IPCS | RX_TCPCS, RX_ERR_IPE);
	f[14 + 10] ^= 0x80;
	/* A fragment: the IP header only. */
	f[14 + 6] |= 0x20;			/* MF */
	finish_v4(f, l4, 6);
	rx_csum_case(f, len, RX_IPCS, 0);
	/* UDP, good and wrong; UDP without a checksum. */
	len = ip_packet(f, false, 17, 200, 0, false, &l4);
	finish_v4(f, l4, 17);
	rx_csum_case(f, len, RX_IPCS | RX_TCPCS, 0);
	f[l4 + 9] ^= 0x40;
	rx_csum_case(f, len, RX_IPCS | RX_TCPCS, RX_ERR_TCPE);
	put_be16(f + l4 + 6, 0);
	rx_csum_case(f, len, RX_IPCS, 0);
	/* IP only: no TCP/UDP verdict. */
	wr(RXCSUM, 0x100);
	len = ip_packet(f, false, 6, 64, 0x10, false, &l4);
	finish_v4(f, l4, 6);
	f[l4 + 30] ^= 1;
	rx_csum_case(f, len, RX_IPCS, 0);
	wr(RXCSUM, 0x300);
	/* IPv6 and non-IP frames: no verdict either way. */
	len = ip_packet(f, true, 6, 64, 0x10, false, &l4);
	rx_csum_case(f, len, 0, 0);
	len = eth_frame(f, MAC, 100, 9);
	rx_csum_case(f, len, 0, 0);
	/* A total length past the frame: not looked into. */
	len = ip_packet(f, false, 6, 64, 0x10, false, &l4);
	finish_v4(f, l4, 6);
	put_be16(f + 16, 1400);
	rx_csum_case(f, len, 0, 0);
	teardown();

	/* Through the tap with a virtio-net header: a checksum the backend
	 * left (NEEDS_CSUM) is filled in and then vouched for. */
	setup(10);
	csum_slot = 0;
	CHECK_EQ(e1000_start(&dev), 0);
	rx_ring(8, 2048, 7);
	wr(RCTL, RCTL_EN | RCTL_UPE | RCTL_SECRC);
	wr(RXCSUM, 0x300);
	{
		uint8_t b[10 + 2048] = { 0 };
		size_t n = ip_packet(b + 10, false, 6, 500, 0x10, false, &l4);
		uint8_t *ip = b + 10 + 14;

		put_be16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
		b[0] = 1;			/* NEEDS_CSUM */
		b[6] = (uint8_t)l4;		/* csum_start */
		b[8] = 16;			/* csum_offset */
		CHECK_EQ(send(sock[1], b, 10 + n, 0), (ssize_t)(10 + n));
		CHECK(wait_dd(0));
		CHECK_EQ(rx_status(0), RX_DD | RX_EOP | RX_IPCS | RX_TCPCS);
		CHECK_EQ(rxd(0)[13], 0);
		CHECK(l4_ok(gp(RX_BUF) + 14, false, gp(RX_BUF) + l4, n - l4, 6));
	}
	teardown();
}

/* The spans the device asked to have posted, and what was withdrawn. */
static struct {
	int n, unposts;
	uint64_t base[16], len[16], unpost_base, unpost_len;
} posts;

static int rec_post(void *opaque, uint64_t base, uint64_t len)
{
	if (posts.n < 16) {
		posts.base[posts.n] = base;
		posts.len[posts.n] = len;
	}
	posts.n++;
	return 0;
}

static void rec_unpost(void *opaque, uint64_t base, uint64_t len)
{
	posts.unposts++;
	posts.unpost_base = base;
	posts.unpost_len = len;
}

static bool posted_at(uint64_t bar, uint32_t off)
{
	for (int i = 0; i < posts.n && i < 16; i++)
		if (bar + off >= posts.base[i] &&
		    bar + off + 4 <= posts.base[i] + posts.len[i])
			return true;
	return false;
}

/* Posted register writes: every register but the interrupt, transmit and
 * PHY ones, wherever the BAR goes; a move or teardown withdraws them. The
 * register list is the spec's (82540EM) offsets, written here again. */
static void test_posted_writes(void)
{
	static const uint32_t now[] = { 0x20, 0xc0, 0xc8, 0xd0, 0xd8, 0x400,
					0x3818 };
	uint64_t covered = 0;
	const uint32_t bar = BAR0 + 0x100000;

	setup(0);
	memset(&posts, 0, sizeof(posts));
	mmio.poster = (struct bus_poster){ rec_post, rec_unpost, NULL };
	cfgw(0x10, 4, bar);
	CHECK_EQ(posts.unposts, 0);	/* nothing was posted before */
	CHECK(posts.n > 0 && posts.n <= 16);
	for (int i = 0; i < posts.n; i++)
		covered += posts.len[i];
	CHECK_EQ(covered, E1000_MMIO_SIZE - 4 * sizeof(now) / sizeof(now[0]));
	for (size_t i = 0; i < sizeof(now) / sizeof(now[0]); i++)
		CHECK(!posted_at(bar, now[i]));
	CHECK(posted_at(bar, 0x2818));		/* RDT */
	CHECK(posted_at(bar, 0x0000));		/* CTRL */
	CHECK(posted_at(bar, 0x00c4));		/* ITR */
	CHECK(posted_at(bar, 0x2820));		/* RDTR */
	CHECK(posted_at(bar, E1000_MMIO_SIZE - 4));
	CHECK(!posted_at(bar, E1000_MMIO_SIZE));

	/* A move withdraws the old spans and posts the new ones. */
	posts.n = 0;
	cfgw(0x10, 4, BAR0);
	CHECK_EQ(posts.unposts, 1);
	CHECK_EQ(posts.unpost_base, bar);
	CHECK_EQ(posts.unpost_len, E1000_MMIO_SIZE);
	CHECK(posted_at(BAR0, 0x2818));
	CHECK(!posted_at(BAR0, 0x3818));
	/* Decoding off, then teardown: withdrawn once, not twice. */
	cfgw(0x04, 2, 0x5);
	CHECK_EQ(posts.unposts, 2);
	CHECK_EQ(posts.unpost_base, BAR0);
	teardown();
	CHECK_EQ(posts.unposts, 2);
}

int main(void)
{
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 1;
	mem = (struct guest_mem){
		.fd = -1, .size = RAM_SIZE, .base = ram, .nregions = 1,
		.regions = { { 0, RAM_SIZE, 0, ram } }, .numa_node = -1,
	};
	/* The reference CRC itself (the "123456789" check value). */
	CHECK_EQ(crc32_bitwise((const uint8_t *)"123456789", 9), 0xcbf43926);
	test_identity();
	test_eeprom();
	test_reset_link_irq();
	test_tx_legacy();
	test_tx_csum();
	test_tso();
	test_tx_bounded();
	test_rx();
	test_rx_thread();
	test_vnet_hdr();
	test_malformed();
	test_moderation();
	test_rx_csum();
	test_posted_writes();
	free(ram);
	return check_done("test_e1000");
}
