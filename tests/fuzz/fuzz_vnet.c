/* Fuzz target: virtio-net control commands (virtio_net_ctrl) on chains of
 * any shape, one after another on one device, and the datapath header rules
 * (virtio_net_tx_hdr_check, virtio_net_rx_hdr_fix).
 *
 * Input: byte 0 picks the mode (% 3).
 *  0 control: byte 1 = negotiated feature selector (bit i switches on
 *    sel[i] below), byte 2 = pairs the driver enabled (1 + b % 4), then up
 *    to 16 commands, each: nout byte (% 9 readable segments), nin byte
 *    (% 5 writable segments), one length byte per segment, then the bytes
 *    of the readable segments in order (writable ones are filled with
 *    0xaa, not taken from the input).
 *  1 transmit header / 2 receive header: bytes 1-8 the negotiated features
 *    (le64), 9-12 the frame length after the header (le32), 13-24 the
 *    header.
 * Checked: no crash, no access outside the segments (each is cut from a
 * malloc'd copy ASan watches), the ack lands in the first writable byte and
 * nowhere else, -EINVAL exactly when there is no writable byte, the device
 * state stays within its rules (pairs, MAC, filter table, offloads), and a
 * header that passes obeys what the features allow.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "virtio/net.h"
#include "virtio/queue.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(bit) (1ULL << (bit))
#define FZ_MAX_SEGS 8
#define FZ_MAX_IN 4
#define FZ_MAX_CMDS 16
#define FZ_PAIRS 4

static struct {
	unsigned long cmds, ok, err, no_ack, tx_ok, tx_refused, rx_ok,
		rx_refused;
} fz_stats;

struct fz_be {
	unsigned int pairs;
};

static uint64_t fz_features(void *be)
{
	return ~0ULL;
}

static int fz_start(void *be, const struct guest_mem *mem, uint64_t features,
		    const struct net_pair_io *pairs, unsigned int npairs)
{
	return 0;
}

static void fz_stop(void *be)
{
}

static int fz_set_pairs(void *be, unsigned int n)
{
	struct fz_be *b = be;

	if (n < 1 || n > FZ_PAIRS)
		abort();
	/* A backend may refuse: pairs that end in 3, say. */
	if (n == 3)
		return -EIO;
	b->pairs = n;
	return 0;
}

static const struct net_backend_ops fz_ops = {
	.name = "fuzz",
	.features = fz_features,
	.start = fz_start,
	.stop = fz_stop,
	.set_pairs = fz_set_pairs,
};

static const uint8_t fz_sel[8] = {
	VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_MQ,
	VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, VIRTIO_NET_F_GUEST_CSUM,
	VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
	VIRTIO_NET_F_GUEST_ECN,
};

static uint64_t ld(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* One command cut from *p; false when the input is used up. */
static bool fz_cmd(struct virtio_net *n, struct fz_be *be, const uint8_t **p,
		   const uint8_t *end)
{
	static struct virtq_chain c;
	unsigned int nout, nin, nseg;
	const uint8_t *lens, *src;
	uint8_t *buf, *q, *ackp = NULL, ack = 0x55, mac_before[6], mac[6];
	size_t avail, total = 0;
	int ret;

	if (end - *p < 2)
		return false;
	nout = (*p)[0] % (FZ_MAX_SEGS + 1);
	nin = (*p)[1] % (FZ_MAX_IN + 1);
	nseg = nout + nin;
	*p += 2;
	if ((size_t)(end - *p) < nseg)
		return false;
	memset(&c, 0, sizeof(c));
	/* Readable bytes come from the input, writable ones are ours. */
	lens = *p;
	src = *p + nseg;
	avail = (size_t)(end - src);
	for (unsigned int i = 0; i < nseg; i++)
		total += lens[i];
	buf = malloc(total + 1);
	q = buf;
	for (unsigned int i = 0; i < nseg; i++) {
		size_t len = lens[i];

		if (i < nout) {
			if (len > avail)
				len = avail;
			memcpy(q, src, len);
			src += len;
			avail -= len;
			c.out_len += (uint32_t)len;
		} else {
			memset(q, 0xaa, len);
			c.in_len += (uint32_t)len;
			if (len && !ackp)
				ackp = q;
		}
		c.iov[i] = (struct iovec){ q, len };
		q += len;
	}
	*p = src;
	c.nr_out = nout;
	c.nr_in = nin;
	/* Each segment its own block: an overrun past one is caught. */
	for (unsigned int i = 0; i < nseg; i++) {
		void *own = malloc(c.iov[i].iov_len ? c.iov[i].iov_len : 1);

		memcpy(own, c.iov[i].iov_base, c.iov[i].iov_len);
		if (c.iov[i].iov_base == ackp && c.iov[i].iov_len)
			ackp = own;
		c.iov[i].iov_base = own;
	}
	free(buf);

	virtio_net_get_mac(n, mac_before);
	ret = virtio_net_ctrl(n, &c, &ack);
	fz_stats.cmds++;
	if (ret == -EINVAL) {
		fz_stats.no_ack++;
		if (ackp)
			abort();
	} else {
		if (ret || !ackp || *ackp != ack ||
		    (ack != VIRTIO_NET_OK && ack != VIRTIO_NET_ERR))
			abort();
		if (ack == VIRTIO_NET_OK)
			fz_stats.ok++;
		else
			fz_stats.err++;
	}
	/* Nothing writable touched but the ack byte. */
	for (unsigned int i = nout; i < nseg; i++) {
		const uint8_t *b = c.iov[i].iov_base;

		for (size_t k = 0; k < c.iov[i].iov_len; k++)
			if (b + k != ackp && b[k] != 0xaa)
				abort();
	}
	/* The device's rules. */
	virtio_net_get_mac(n, mac);
	if (memcmp(mac, mac_before, 6) &&
	    (ack != VIRTIO_NET_OK || (mac[0] & 1) ||
	     !(n->negotiated & F(VIRTIO_NET_F_CTRL_MAC_ADDR))))
		abort();
	if (n->pairs_active < 1 || n->pairs_active > n->pairs_started ||
	    (n->pairs_active != 1 && n->pairs_active != be->pairs))
		abort();
	if (n->rx.n_kept > NET_MAC_TABLE_MAX ||
	    n->rx.n_kept > (uint64_t)n->rx.n_uni + n->rx.n_multi)
		abort();
	if (n->guest_offloads & ~(n->negotiated & VIRTIO_NET_GUEST_OFFLOADS))
		abort();
	for (unsigned int i = 0; i < nseg; i++)
		free(c.iov[i].iov_base);
	return true;
}

static void fz_ctrl(const uint8_t *data, size_t size)
{
	static struct virtio_net n;
	struct net_config cfg = { .pairs = FZ_PAIRS, .mtu = 1500,
				  .queue_size = 256,
				  .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
	struct fz_be be = { .pairs = 1 };
	const uint8_t *p = data + 3, *end = data + size;

	if (size < 3 ||
	    virtio_net_create(&n, "virtio-net0", &cfg, NULL, &fz_ops, &be))
		return;
	n.negotiated = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CTRL_VQ);
	for (int i = 0; i < 8; i++)
		if (data[1] & (1 << i))
			n.negotiated |= F(fz_sel[i]);
	n.pairs_started = 1 + data[2] % FZ_PAIRS;
	n.guest_offloads = n.negotiated & VIRTIO_NET_GUEST_OFFLOADS;
	for (int i = 0; i < FZ_MAX_CMDS && fz_cmd(&n, &be, &p, end); i++)
		;
	virtio_net_destroy(&n);
}

static void fz_hdr(bool tx, const uint8_t *data, size_t size)
{
	uint8_t h[VIRTIO_NET_HDR_LEN], before[VIRTIO_NET_HDR_LEN];
	uint64_t f;
	uint32_t payload;
	uint8_t type;

	if (size < 13 + VIRTIO_NET_HDR_LEN)
		return;
	f = ld(data + 1, 8);
	payload = (uint32_t)ld(data + 9, 4);
	memcpy(h, data + 13, sizeof(h));
	memcpy(before, h, sizeof(h));
	type = h[1] & 0x7f;
	if (tx) {
		if (virtio_net_tx_hdr_check(h, payload, f) < 0) {
			fz_stats.tx_refused++;
			return;
		}
		fz_stats.tx_ok++;
		if (h[0] > VIRTIO_NET_HDR_F_NEEDS_CSUM || h[10] || h[11] ||
		    memcmp(h + 1, before + 1, 9))
			abort();
		if (h[0] && (!(f & F(VIRTIO_NET_F_CSUM)) ||
			     ld(h + 6, 2) + ld(h + 8, 2) + 2 > payload))
			abort();
		if ((type == 1 && !(f & F(VIRTIO_NET_F_HOST_TSO4))) ||
		    (type == 4 && !(f & F(VIRTIO_NET_F_HOST_TSO6))) ||
		    (type != 0 && type != 1 && type != 4) ||
		    (type && (!h[0] || !ld(h + 4, 2))) ||
		    ((h[1] & 0x80) && (!type || !(f & F(VIRTIO_NET_F_HOST_ECN)))))
			abort();
	} else {
		if (virtio_net_rx_hdr_fix(h, f) < 0) {
			fz_stats.rx_refused++;
			return;
		}
		fz_stats.rx_ok++;
		if (h[0] & ~3 || (!(f & F(VIRTIO_NET_F_GUEST_CSUM)) && h[0]) ||
		    memcmp(h + 2, before + 2, 10))
			abort();
		if ((type == 1 && !(f & F(VIRTIO_NET_F_GUEST_TSO4))) ||
		    (type == 4 && !(f & F(VIRTIO_NET_F_GUEST_TSO6))) ||
		    (type == 3 && !(f & F(VIRTIO_NET_F_GUEST_UFO))) ||
		    (type != 0 && type != 1 && type != 3 && type != 4) ||
		    (type && !(h[0] & 1)) || (!type && h[1]) ||
		    ((h[1] & 0x80) && !(f & F(VIRTIO_NET_F_GUEST_ECN))))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fz_ctrl(data, size);
		break;
	case 1:
		fz_hdr(true, data, size);
		break;
	default:
		fz_hdr(false, data, size);
		break;
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_vnet: %u inputs ran clean (%lu commands: %lu ok, "
		"%lu err, %lu without an ack byte; tx headers %lu passed, %lu "
		"refused; rx headers %lu passed, %lu refused)\n", runs,
		fz_stats.cmds, fz_stats.ok, fz_stats.err, fz_stats.no_ack,
		fz_stats.tx_ok, fz_stats.tx_refused, fz_stats.rx_ok,
		fz_stats.rx_refused);
}
#include "replay.h"
#endif
