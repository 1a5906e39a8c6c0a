/* Test Ethernet frames for the tap and vhost-net tests: broadcast, a
 * locally administered source, the IEEE local experimental EtherType and a
 * marker string in the payload to find them again. */
#ifndef TERN_TESTS_FRAMES_H
#define TERN_TESTS_FRAMES_H

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ETH_P_TEST 0x88b5	/* IEEE local experimental */

static inline size_t make_frame(uint8_t *f, uint8_t src_last,
				const char *marker)
{
	struct ether_header *eh = (struct ether_header *)f;
	size_t len = sizeof(*eh) + 46;

	memset(f, 0, len);
	memset(eh->ether_dhost, 0xff, ETH_ALEN);
	memcpy(eh->ether_shost, (uint8_t[]){ 0x02, 0x54, 0x45, 0x52, 0x4e,
					     src_last }, ETH_ALEN);
	eh->ether_type = htons(ETH_P_TEST);
	snprintf((char *)f + sizeof(*eh), 46, "%s", marker);
	return len;
}

static inline bool is_frame(const uint8_t *f, size_t len, const char *marker)
{
	const struct ether_header *eh = (const struct ether_header *)f;

	return len >= sizeof(*eh) + strlen(marker) &&
	       eh->ether_type == htons(ETH_P_TEST) &&
	       !memcmp(f + sizeof(*eh), marker, strlen(marker));
}

#endif
