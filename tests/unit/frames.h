/* Helpers the tap and vhost-net tests share. Test Ethernet frames:
 * broadcast, a locally administered source, the IEEE local experimental
 * EtherType and a marker string in the payload to find them again. */
#ifndef TERN_TESTS_FRAMES_H
#define TERN_TESTS_FRAMES_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* Keeps router solicitations and MLD reports off a test interface. */
static inline void no_ipv6(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			perror(path);
		close(fd);
	}
}

#endif
