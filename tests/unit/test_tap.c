/* net/tap.c against the real tun driver (needs root and /dev/net/tun, else
 * skips): taps with one and two queues and the flags the kernel reports
 * for them, the vnet header size, offloads as the interface's features
 * show them, queue detach and attach, the ways opening can fail, and
 * frames through the tap in both directions with their 12-byte header. */
#include "frames.h"
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "net/tap.h"
#include "tests/unit/check.h"

#define F(bit) (1ULL << (bit))
#define GUEST_CSUM 1
#define GUEST_TSO4 7
#define GUEST_TSO6 8
#define GUEST_ECN 9

#define HDR TAP_VNET_HDR_LEN

static long sysfs_flags(const char *name)
{
	char path[96], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 0);
}

static bool if_exists(const char *name)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/class/net/%s", name);
	return access(path, F_OK) == 0;
}

/* Interface gone, allowing the kernel a moment to finish unregistering. */
static bool if_gone(const char *name)
{
	for (int i = 0; i < 100; i++) {
		if (!if_exists(name))
			return true;
		usleep(10000);
	}
	return false;
}

static int vnet_hdr_sz(int fd)
{
	int sz = -1;

	if (ioctl(fd, TUNGETVNETHDRSZ, &sz) < 0)
		return -errno;
	return sz;
}

/* --- interface features through SIOCETHTOOL (no ethtool binary) -------- */

static int ethtool(int s, const char *ifname, void *cmd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	return ioctl(s, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

/* 1 if feature `fname` ("tx-tcp-segmentation") is active on the
 * interface, 0 if not, -errno on failure. */
static int if_feature(const char *ifname, const char *fname)
{
	struct ethtool_sset_info *ss;
	struct ethtool_gstrings *strs = NULL;
	struct ethtool_gfeatures *feat = NULL;
	uint32_t n, blocks;
	int s, ret;

	ss = calloc(1, sizeof(*ss) + sizeof(ss->data[0]));
	if (!ss)
		return -ENOMEM;
	ss->cmd = ETHTOOL_GSSET_INFO;
	ss->sset_mask = 1ULL << ETH_SS_FEATURES;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ret = -errno;
		free(ss);
		return ret;
	}
	ret = ethtool(s, ifname, ss);
	if (ret)
		goto out;
	n = ss->data[0];
	blocks = (n + 31) / 32;
	strs = calloc(1, sizeof(*strs) + (size_t)n * ETH_GSTRING_LEN);
	feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	if (!strs || !feat) {
		ret = -ENOMEM;
		goto out;
	}
	strs->cmd = ETHTOOL_GSTRINGS;
	strs->string_set = ETH_SS_FEATURES;
	strs->len = n;
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	ret = ethtool(s, ifname, strs);
	if (!ret)
		ret = ethtool(s, ifname, feat);
	if (ret)
		goto out;
	ret = -ENOENT;
	for (uint32_t i = 0; i < n; i++) {
		if (strncmp((char *)strs->data + i * ETH_GSTRING_LEN, fname,
			    ETH_GSTRING_LEN))
			continue;
		ret = !!(feat->features[i / 32].active & (1u << (i % 32)));
		break;
	}
out:
	free(ss);
	free(strs);
	free(feat);
	close(s);
	return ret;
}

/* --- frames ------------------------------------------------------------- */


static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       htons(ETH_P_ALL));

	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int ret = -errno;

		close(s);
		return ret;
	}
	return s;
}

static int packet_send(int s, const char *ifname, const uint8_t *f,
		       size_t len)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = (int)if_nametoindex(ifname),
		.sll_halen = ETH_ALEN,
	};

	memset(sll.sll_addr, 0xff, ETH_ALEN);
	return sendto(s, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
			       (ssize_t)len ? 0 : -errno;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads from the fds until a frame with `marker` turns up (2 s at most):
 * returns the index of the fd it came from, copies it to buf. Tap fds
 * give the vnet header first (skip = HDR), a packet socket does not. */
static int wait_frame(const int *fds, int n, size_t skip, const char *marker,
		      uint8_t *buf, size_t size, size_t *len)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < 2000) {
		struct pollfd p[NET_MAX_PAIRS];

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(p, n, 100) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			ssize_t r;

			if (!(p[i].revents & POLLIN))
				continue;
			r = read(fds[i], buf, size);
			if (r > (ssize_t)skip &&
			    is_frame(buf + skip, r - skip, marker)) {
				*len = r;
				return i;
			}
		}
	}
	return -1;
}

/* --- tests -------------------------------------------------------------- */

static void test_one_queue(const char *name)
{
	struct tap t, t2;
	long f;

	CHECK_EQ(tap_open(&t, name, 1), 0);
	CHECK_STR(t.name, name);
	CHECK_EQ(t.nqueues, 1);
	CHECK(t.created);
	CHECK(!t.multi_queue);
	CHECK(t.fds[0] >= 0);
	CHECK_EQ(t.fds[1], -1);
	CHECK(fcntl(t.fds[0], F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(t.fds[0], F_GETFD) & FD_CLOEXEC);
	f = sysfs_flags(name);
	CHECK_EQ(f & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE |
		      IFF_TUN),
		 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	CHECK_EQ(vnet_hdr_sz(t.fds[0]), 12);
	CHECK_EQ(t.vnet_hdr_len, 12);

	/* The name is taken by a single-queue tap in use. */
	fprintf(stderr, "-- expected errors:\n");
	CHECK_EQ(tap_open(&t2, name, 2), -EINVAL);
	CHECK_EQ(t2.nqueues, 0);
	CHECK_EQ(tap_open(&t2, name, 1), -EBUSY);

	/* Queue 0 of a single-queue tap is always attached. */
	CHECK_EQ(tap_queue_enable(&t, 0, true), 0);
	CHECK_EQ(tap_queue_enable(&t, 0, false), -EINVAL);
	CHECK_EQ(tap_queue_enable(&t, 1, true), -EINVAL);
	fprintf(stderr, "-- end of expected errors\n");

	/* Legacy header size and back. */
	CHECK_EQ(tap_set_vnet_hdr_len(&t, 10), 0);
	CHECK_EQ(vnet_hdr_sz(t.fds[0]), 10);
	CHECK_EQ(tap_set_vnet_hdr_len(&t, 12), 0);

	tap_close(&t);
	CHECK_EQ(t.fds[0], -1);
	CHECK(if_gone(name));
}

static void test_two_queues(const char *name)
{
	struct tap t, t1;
	long f;

	CHECK_EQ(tap_open(&t, name, 2), 0);
	CHECK_EQ(t.nqueues, 2);
	CHECK(t.created);
	CHECK(t.multi_queue);
	CHECK(t.fds[0] >= 0 && t.fds[1] >= 0 && t.fds[0] != t.fds[1]);
	f = sysfs_flags(name);
	CHECK_EQ(f & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE),
		 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE);
	CHECK_EQ(vnet_hdr_sz(t.fds[0]), 12);
	CHECK_EQ(vnet_hdr_sz(t.fds[1]), 12);

	/* One queue asked of an existing multi-queue tap: joins as one. */
	CHECK_EQ(tap_open(&t1, name, 1), 0);
	CHECK(!t1.created);
	CHECK(t1.multi_queue);
	tap_close(&t1);

	/* Detach queue 1 (twice is fine); the kernel refuses a detach of
	 * a detached queue, so the second one must not reach it. */
	CHECK_EQ(tap_queue_enable(&t, 1, false), 0);
	CHECK_EQ(tap_queue_enable(&t, 1, false), 0);
	CHECK(!t.attached[1]);
	{
		struct ifreq ifr = { .ifr_flags = IFF_DETACH_QUEUE };

		CHECK_EQ(ioctl(t.fds[1], TUNSETQUEUE, &ifr), -1);
	}
	/* Device-wide settings still work. */
	CHECK_EQ(tap_set_offload(&t, F(GUEST_CSUM)), 0);
	CHECK_EQ(tap_queue_enable(&t, 1, true), 0);
	CHECK_EQ(tap_queue_enable(&t, 1, true), 0);
	CHECK(t.attached[1]);
	CHECK_EQ(vnet_hdr_sz(t.fds[1]), 12);

	tap_close(&t);
	CHECK(if_gone(name));
}

static void test_offload(const char *name)
{
	static const char *const feats[] = { "tx-checksum-ip-generic",
		"tx-tcp-segmentation", "tx-tcp6-segmentation",
		"tx-tcp-ecn-segmentation" };
	struct {
		uint64_t virtio;
		unsigned int tun;
		int on[4];
	} cases[] = {
		{ F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN),
		  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		  { 1, 1, 1, 1 } },
		{ F(GUEST_CSUM) | F(GUEST_TSO4), TUN_F_CSUM | TUN_F_TSO4,
		  { 1, 1, 0, 0 } },
		{ F(GUEST_CSUM), TUN_F_CSUM, { 1, 0, 0, 0 } },
		/* TSO without checksum offload is no TSO. */
		{ F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN), 0,
		  { 0, 0, 0, 0 } },
		{ 0, 0, { 0, 0, 0, 0 } },
	};
	struct tap t;

	if (tap_open(&t, name, 1)) {
		CHECK(0);
		return;
	}
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		CHECK_EQ(tap_set_offload(&t, cases[c].virtio), 0);
		CHECK_EQ(t.offload, cases[c].tun);
		for (int i = 0; i < 4; i++) {
			int on = if_feature(name, feats[i]);

			if (on != cases[c].on[i])
				fprintf(stderr, "case %zu: %s is %d\n", c,
					feats[i], on);
			CHECK_EQ(on, cases[c].on[i]);
		}
	}
	/* The kernel refuses flags it does not know. */
	CHECK_EQ(ioctl(t.fds[0], TUNSETOFFLOAD, 0x80000000UL), -1);
	CHECK_EQ(errno, EINVAL);
	tap_close(&t);
}

static void test_bad_opens(const char *name)
{
	struct tap t;
	int fd;

	fprintf(stderr, "-- expected errors:\n");
	CHECK_EQ(tap_open(&t, "a-name-too-long-x", 1), -EINVAL);
	CHECK_EQ(tap_open(&t, "bad/name", 1), -EINVAL);
	CHECK_EQ(tap_open(&t, "lo", 1), -EINVAL);
	CHECK_EQ(tap_open(&t, name, 0), -EINVAL);
	CHECK_EQ(tap_open(&t, name, NET_MAX_PAIRS + 1), -EINVAL);
	CHECK(!if_exists(name));

	/* The name is a tun (layer 3) device. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		CHECK_EQ(ioctl(fd, TUNSETIFF, &ifr), 0);
		CHECK_EQ(tap_open(&t, name, 1), -EINVAL);
		close(fd);
		CHECK(if_gone(name));
	}

	/* A persistent single-queue tap nobody holds: 2 queues fail
	 * cleanly, 1 joins it. */
	CHECK_EQ(tap_open(&t, name, 1), 0);
	fd = t.fds[0];
	CHECK_EQ(ioctl(fd, TUNSETPERSIST, 1), 0);
	tap_close(&t);
	CHECK(if_exists(name));
	CHECK_EQ(tap_open(&t, name, 2), -EINVAL);
	CHECK(if_exists(name));
	CHECK_EQ(tap_open(&t, name, 1), 0);
	CHECK(!t.created);
	CHECK_EQ(ioctl(t.fds[0], TUNSETPERSIST, 0), 0);
	tap_close(&t);
	CHECK(if_gone(name));

	/* Without CAP_NET_ADMIN (a child that dropped it) no tap is made. */
	pid_t pid = fork();

	if (pid == 0) {
		struct __user_cap_header_struct h = {
			.version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];

		if (syscall(SYS_capget, &h, d))
			_exit(2);
		d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
		if (syscall(SYS_capset, &h, d))
			_exit(2);
		_exit(tap_open(&t, name, 1) == -EPERM ? 0 : 1);
	}
	CHECK(pid > 0);
	if (pid > 0) {
		int st = -1;

		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	fprintf(stderr, "-- end of expected errors\n");
	CHECK(!if_exists(name));

	/* No name: the kernel picks one. */
	CHECK_EQ(tap_open(&t, NULL, 1), 0);
	CHECK(!strncmp(t.name, "tap", 3));
	CHECK(if_exists(t.name));
	tap_close(&t);
}

/* Frames both ways through an up tap with `nq` queues. */
static void test_frames(const char *name, unsigned int nq)
{
	uint8_t out[HDR + 128], in[2048];
	size_t flen, len;
	struct tap t;
	int s, q;

	if (tap_open(&t, name, nq)) {
		CHECK(0);
		return;
	}
	no_ipv6(name);
	CHECK_EQ(tap_set_up(&t, true), 0);
	s = packet_socket(name);
	CHECK(s >= 0);
	if (s < 0)
		goto out;

	/* Tap -> host: a zero header (no offload asked) then the frame. */
	memset(out, 0, HDR);
	flen = make_frame(out + HDR, 1, "tern-to-host");
	CHECK_EQ(write(t.fds[nq - 1], out, HDR + flen), HDR + flen);
	q = wait_frame(&s, 1, 0, "tern-to-host", in, sizeof(in), &len);
	CHECK_EQ(q, 0);
	CHECK_EQ(len, flen);
	CHECK_MEM(in, out + HDR, flen);

	/* Host -> tap: the tap prefixes 12 bytes, a plain header for a frame
	 * with no checksum to finish. */
	flen = make_frame(out, 2, "host-to-tern");
	memset(in, 0xa5, sizeof(in));
	CHECK_EQ(packet_send(s, name, out, flen), 0);
	q = wait_frame(t.fds, (int)nq, HDR, "host-to-tern", in, sizeof(in),
		       &len);
	CHECK(q >= 0);
	CHECK_EQ(len, HDR + flen);
	CHECK_MEM(in, (uint8_t[10]){ 0 }, 10);	/* struct virtio_net_hdr */
	CHECK_MEM(in + HDR, out, flen);

	if (nq > 1) {
		/* Only queue 0 attached: every flow lands there. */
		CHECK_EQ(tap_queue_enable(&t, 1, false), 0);
		for (uint8_t i = 0; i < 8; i++) {
			char m[16];

			snprintf(m, sizeof(m), "flow-%u", i);
			flen = make_frame(out, 0x10 + i, m);
			CHECK_EQ(packet_send(s, name, out, flen), 0);
			q = wait_frame(t.fds, 1, HDR, m, in, sizeof(in), &len);
			CHECK_EQ(q, 0);
		}
		CHECK_EQ(tap_queue_enable(&t, 1, true), 0);
		flen = make_frame(out + HDR, 3, "queue-1");
		memset(out, 0, HDR);
		CHECK_EQ(write(t.fds[1], out, HDR + flen), HDR + flen);
		q = wait_frame(&s, 1, 0, "queue-1", in, sizeof(in), &len);
		CHECK_EQ(q, 0);
	}
	CHECK_EQ(tap_set_up(&t, false), 0);
	close(s);
out:
	tap_close(&t);
	CHECK(if_gone(name));
}

int main(void)
{
	char name[IFNAMSIZ];
	struct tap t;
	int ret;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK)) {
		fprintf(stderr, "test_tap: skipped (needs root and "
			"/dev/net/tun)\n");
		return CHECK_EXIT_SKIP;
	}
	snprintf(name, sizeof(name), "tt%u", (unsigned int)getpid() % 1000000);
	ret = tap_open(&t, name, 1);
	if (ret == -EPERM || ret == -EACCES || ret == -ENOENT) {
		fprintf(stderr, "test_tap: skipped (cannot create a tap)\n");
		return CHECK_EXIT_SKIP;
	}
	CHECK_EQ(ret, 0);
	if (!ret)
		tap_close(&t);
	if_gone(name);

	test_one_queue(name);
	test_two_queues(name);
	test_offload(name);
	test_bad_opens(name);
	test_frames(name, 1);
	test_frames(name, 2);
	return check_done("test_tap");
}
