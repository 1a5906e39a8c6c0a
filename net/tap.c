#include "net/tap.h"

#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_OPEN_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

static int tap_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

/* The kernel's rule for interface names (dev_valid_name), checked here so
 * the log can say what is wrong instead of "Invalid argument". */
static const char *tap_name_problem(const char *name)
{
	size_t len = strlen(name);

	if (len >= IFNAMSIZ)
		return "longer than 15 characters";
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return "\".\" and \"..\" are reserved";
	for (const char *c = name; *c; c++) {
		if (*c == '/' || *c == ':' || *c == ' ' || *c == '\t' ||
		    *c == '\n' || *c == '\r' || *c == '\f' || *c == '\v')
			return "contains '/', ':' or white space";
	}
	return NULL;
}

/* tun_flags of an existing interface from sysfs: -ENOENT no such
 * interface, -ENODEV it exists but is no tun/tap, else the flags. */
static long tap_sysfs_flags(const char *name)
{
	char path[96], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s", name);
	if (access(path, F_OK))
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENODEV;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENODEV;
	buf[n] = '\0';
	return strtol(buf, NULL, 0);
}

/* TUNSETIFF said EINVAL for an existing NAME: say why. */
static void tap_explain_einval(const char *name, unsigned int nqueues)
{
	long f = tap_sysfs_flags(name);

	if (f == -ENODEV)
		log_err(name, "exists and is not a tap device");
	else if (f >= 0 && (f & IFF_TUN))
		log_err(name, "is a tun device, not a tap");
	else if (f >= 0 && !(f & IFF_MULTI_QUEUE) && nqueues > 1)
		log_err(name, "is a single-queue tap; %u queues need a "
			"multi-queue one (delete it, or let tern create it, "
			"or: ip tuntap add %s mode tap multi_queue)",
			nqueues, name);
	else
		log_err(name, "TUNSETIFF: %s", strerror(EINVAL));
}

static int tap_open_fd(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int ret;

	if (fd >= 0)
		return fd;
	ret = -errno;
	if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO)
		log_err(name, "/dev/net/tun: %s (load the tun module)",
			strerror(-ret));
	else
		log_err(name, "/dev/net/tun: %s", strerror(-ret));
	return ret == -ENXIO || ret == -ENODEV ? -ENOENT : ret;
}

/* Attaches fd to NAME as queue `q`. On the first queue t->created says
 * whether the kernel made a new interface. */
static int tap_attach_fd(struct tap *t, int fd, unsigned int q,
			 unsigned int nqueues)
{
	struct ifreq ifr;
	short flags = TAP_OPEN_FLAGS;
	int ret;

	if (t->multi_queue)
		flags |= IFF_MULTI_QUEUE;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, sizeof(ifr.ifr_name));
	/* The first queue asks for a new interface only (IFF_TUN_EXCL): if
	 * NAME exists we learn it from EBUSY and join it instead, so
	 * t->created is known without racing a look at sysfs. */
	ifr.ifr_flags = flags | (q == 0 && t->name[0] ? IFF_TUN_EXCL : 0);
	ret = tap_ioctl(fd, TUNSETIFF, &ifr);
	if (q == 0) {
		t->created = ret == 0;
		if (ret == -EBUSY && t->name[0]) {
			ifr.ifr_flags = flags;
			ret = tap_ioctl(fd, TUNSETIFF, &ifr);
			/* One queue asked of a multi-queue tap: join it
			 * as one. */
			if (ret == -EINVAL && !t->multi_queue) {
				long f = tap_sysfs_flags(t->name);

				if (f >= 0 && (f & IFF_TAP) &&
				    (f & IFF_MULTI_QUEUE)) {
					t->multi_queue = true;
					ifr.ifr_flags = flags | IFF_MULTI_QUEUE;
					ret = tap_ioctl(fd, TUNSETIFF, &ifr);
				}
			}
		}
	}
	if (ret == 0) {
		if (q == 0)
			memcpy(t->name, ifr.ifr_name, sizeof(t->name) - 1);
		return 0;
	}

	const char *who = t->name[0] ? t->name : "tap";

	switch (ret) {
	case -EPERM:
	case -EACCES:
		log_err(who, "TUNSETIFF: %s (creating a tap needs "
			"CAP_NET_ADMIN; an unprivileged tern needs a persistent "
			"tap: ip tuntap add %s mode tap%s user $USER)",
			strerror(-ret), t->name[0] ? t->name : "NAME",
			nqueues > 1 ? " multi_queue" : "");
		break;
	case -EINVAL:
		if (t->name[0])
			tap_explain_einval(t->name, nqueues);
		else
			log_err(who, "TUNSETIFF: %s", strerror(-ret));
		break;
	case -EBUSY:
		log_err(who, "%s",
			t->multi_queue ? "TUNSETIFF: Device or resource busy "
					 "(too many queues attached?)"
				       : "single-queue tap already in use by "
					 "another process");
		break;
	default:
		log_err(who, "TUNSETIFF queue %u: %s", q, strerror(-ret));
		break;
	}
	return ret;
}

int tap_open(struct tap *t, const char *name, unsigned int nqueues)
{
	const char *problem;
	unsigned int q;
	int ret;

	memset(t, 0, sizeof(*t));
	for (q = 0; q < NET_MAX_PAIRS; q++)
		t->fds[q] = -1;
	if (!name)
		name = "";
	if (nqueues < 1 || nqueues > NET_MAX_PAIRS) {
		log_err(name[0] ? name : "tap", "%u queues: 1 to %d", nqueues,
			NET_MAX_PAIRS);
		return -EINVAL;
	}
	problem = tap_name_problem(name);
	if (problem) {
		log_err("tap", "\"%s\" is no valid interface name: %s", name,
			problem);
		return -EINVAL;
	}
	/* Checked above: the name fits with its terminator. */
	memcpy(t->name, name, strlen(name) + 1);
	t->multi_queue = nqueues > 1;

	for (q = 0; q < nqueues; q++) {
		int fd = tap_open_fd(t->name[0] ? t->name : "tap");

		if (fd < 0) {
			ret = fd;
			goto err;
		}
		ret = tap_attach_fd(t, fd, q, nqueues);
		if (ret) {
			close(fd);
			goto err;
		}
		t->fds[q] = fd;
		t->attached[q] = true;
		t->nqueues = q + 1;
	}
	/* One setting for the whole tap, not per queue. */
	ret = tap_set_vnet_hdr_len(t, TAP_VNET_HDR_LEN);
	if (ret)
		goto err;
	log_debug(t->name, "%s tap with %u queue(s)%s",
		  t->created ? "created" : "opened", nqueues,
		  t->multi_queue ? " (multi-queue)" : "");
	return 0;

err:
	tap_close(t);
	return ret;
}

void tap_close(struct tap *t)
{
	for (unsigned int q = 0; q < NET_MAX_PAIRS; q++) {
		if (t->fds[q] >= 0)
			close(t->fds[q]);
		t->fds[q] = -1;
		t->attached[q] = false;
	}
	t->nqueues = 0;
}

/* Device-wide ioctls may go through any queue's fd; an attached one is
 * picked so they never depend on how the kernel treats detached ones. */
static int tap_ctl_fd(const struct tap *t)
{
	for (unsigned int q = 0; q < t->nqueues; q++)
		if (t->attached[q])
			return t->fds[q];
	return -1;
}

int tap_set_vnet_hdr_len(struct tap *t, int len)
{
	int fd = tap_ctl_fd(t);
	int ret;

	if (fd < 0) {
		log_err(t->name, "setting the vnet header size: no queue "
			"attached");
		return -EBADFD;
	}
	ret = tap_ioctl(fd, TUNSETVNETHDRSZ, &len);
	if (ret) {
		log_err(t->name, "TUNSETVNETHDRSZ %d: %s", len, strerror(-ret));
		return ret;
	}
	t->vnet_hdr_len = len;
	return 0;
}

int tap_set_offload(struct tap *t, uint64_t virtio_features)
{
	unsigned int flags = 0;
	int fd = tap_ctl_fd(t);
	int ret;

	if (virtio_features & (1ULL << VIRTIO_NET_F_GUEST_CSUM)) {
		flags |= TUN_F_CSUM;
		if (virtio_features & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (virtio_features & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
		if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    (virtio_features & (1ULL << VIRTIO_NET_F_GUEST_ECN)))
			flags |= TUN_F_TSO_ECN;
	}
	if (fd < 0) {
		log_err(t->name, "setting offloads: no queue attached");
		return -EBADFD;
	}
	/* The argument is the flag word itself, not a pointer to it. */
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0) {
		ret = -errno;
		log_err(t->name, "TUNSETOFFLOAD 0x%x: %s", flags,
			strerror(-ret));
		return ret;
	}
	t->offload = flags;
	log_debug(t->name, "offloads to the guest:%s%s%s%s%s",
		  flags & TUN_F_CSUM ? " csum" : "",
		  flags & TUN_F_TSO4 ? " tso4" : "",
		  flags & TUN_F_TSO6 ? " tso6" : "",
		  flags & TUN_F_TSO_ECN ? " ecn" : "", flags ? "" : " none");
	return 0;
}

int tap_queue_enable(struct tap *t, unsigned int q, bool on)
{
	struct ifreq ifr;
	int ret;

	if (q >= t->nqueues) {
		log_err(t->name, "queue %u: the tap has %u", q, t->nqueues);
		return -EINVAL;
	}
	if (t->attached[q] == on)
		return 0;
	if (!t->multi_queue) {
		log_err(t->name, "queue %u: a single-queue tap cannot detach "
			"its queue", q);
		return -EINVAL;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	ret = tap_ioctl(t->fds[q], TUNSETQUEUE, &ifr);
	if (ret) {
		log_err(t->name, "queue %u: TUNSETQUEUE %s: %s", q,
			on ? "attach" : "detach", strerror(-ret));
		return ret;
	}
	t->attached[q] = on;
	return 0;
}

int tap_set_up(struct tap *t, bool up)
{
	struct ifreq ifr;
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_err(t->name, "socket for SIOCSIFFLAGS: %s", strerror(-ret));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, sizeof(ifr.ifr_name));
	ret = tap_ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (ret) {
		log_err(t->name, "SIOCGIFFLAGS: %s", strerror(-ret));
		goto out;
	}
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	ret = tap_ioctl(fd, SIOCSIFFLAGS, &ifr);
	if (ret)
		log_err(t->name, "SIOCSIFFLAGS %s: %s", up ? "up" : "down",
			strerror(-ret));
out:
	close(fd);
	return ret;
}
