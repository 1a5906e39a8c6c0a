/* What tern-switch reads of a frame, and why it drops one. Plain C over
 * the frame's bytes, so the fuzzers reach it without DPDK.
 *
 * A frame from a port is checked before anything learns from it:
 *   runt       shorter than an Ethernet header (14 bytes, 18 with a tag
 *              claimed). Shorter frames than 60 bytes are fine: guests'
 *              virtio drivers do not pad (an ARP request is 42 bytes).
 *   oversize   longer than the MTU plus the header (and 4 bytes per
 *              802.1Q/802.1ad tag, at most two counted).
 *   malformed  the header is not whole in the first segment, or the
 *              source address is a group address or all zeroes (no
 *              station has it: learning it would poison the table).
 *   vlan       a tagged frame from an access port (vlan=N): a guest
 *              there may not pick its own VLAN.
 * The switch itself drops for:
 *   local      the destination was learned on the port the frame came
 *              from, or no other port is in its VLAN (standard filtering).
 *   tx_full    the destination's ring or queue had no room.
 *   down       the destination has no peer (its VM is not connected).
 * Drops count against the port (and queue) that took or would have taken
 * the frame, by cause. */
#ifndef TERN_NET_SWITCH_FRAME_H
#define TERN_NET_SWITCH_FRAME_H

#include "net/switch/mactable.h"

#include <stdbool.h>
#include <stdint.h>

enum sw_drop {
	SW_DROP_RUNT,
	SW_DROP_OVERSIZE,
	SW_DROP_MALFORMED,
	SW_DROP_VLAN,
	SW_DROP_LOCAL,
	SW_DROP_TX_FULL,
	SW_DROP_DOWN,
	SW_DROP_MAX,
	SW_FRAME_OK = -1,
};

static const char *const sw_drop_names[SW_DROP_MAX] = {
	[SW_DROP_RUNT] = "runt",
	[SW_DROP_OVERSIZE] = "oversize",
	[SW_DROP_MALFORMED] = "malformed",
	[SW_DROP_VLAN] = "vlan",
	[SW_DROP_LOCAL] = "local",
	[SW_DROP_TX_FULL] = "tx_full",
	[SW_DROP_DOWN] = "down",
};

#define SW_ETH_HLEN 14
#define SW_VLAN_HLEN 4

struct sw_frame {
	uint64_t dst;		/* mactable keys in the port's VLAN */
	uint64_t src;
	bool group;		/* broadcast or multicast destination */
};

static inline bool sw_is_tag(uint16_t ethertype)
{
	return ethertype == 0x8100 || ethertype == 0x88a8 ||
	       ethertype == 0x9100;
}

/* Checks a frame of PKT_LEN bytes whose first SEG_LEN are at HDR, arrived
 * on a port in VLAN (0: untagged port, tags are payload) with MTU. Fills
 * F and returns SW_FRAME_OK, or the drop cause. */
static inline int sw_classify(const uint8_t *hdr, uint32_t seg_len,
			      uint32_t pkt_len, uint32_t mtu, uint16_t vlan,
			      struct sw_frame *f)
{
	uint32_t max = mtu + SW_ETH_HLEN;
	uint16_t type;

	if (pkt_len < SW_ETH_HLEN)
		return SW_DROP_RUNT;
	if (seg_len < SW_ETH_HLEN || seg_len > pkt_len)
		return SW_DROP_MALFORMED;
	type = (uint16_t)(hdr[12] << 8 | hdr[13]);
	if (sw_is_tag(type)) {
		if (vlan)
			return SW_DROP_VLAN;
		if (pkt_len < SW_ETH_HLEN + SW_VLAN_HLEN)
			return SW_DROP_RUNT;
		max += SW_VLAN_HLEN;
		if (seg_len >= SW_ETH_HLEN + SW_VLAN_HLEN &&
		    sw_is_tag((uint16_t)(hdr[16] << 8 | hdr[17])))
			max += SW_VLAN_HLEN;
	}
	if (pkt_len > max)
		return SW_DROP_OVERSIZE;
	/* A group source, or 00:00:00:00:00:00. */
	if ((hdr[6] & 1) || !(hdr[6] | hdr[7] | hdr[8] | hdr[9] | hdr[10] |
			      hdr[11]))
		return SW_DROP_MALFORMED;
	f->dst = mt_key(hdr, vlan);
	f->src = mt_key(hdr + 6, vlan);
	f->group = hdr[0] & 1;
	return SW_FRAME_OK;
}

#endif
