/* Test-host smoke check: /dev/kvm and /dev/vhost-net are usable.
 * Prints one "ok" or "FAIL" line per check; exits 0 if all pass, 1 otherwise. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/vhost.h>

static int failures;

static void report(int ok, const char *what, long value)
{
	if (ok) {
		printf("ok   %s (%ld)\n", what, value);
	} else {
		printf("FAIL %s (%ld: %s)\n", what, value,
		       value < 0 ? strerror(errno) : "unexpected value");
		failures++;
	}
}

static void check_kvm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	long r;

	report(kvm >= 0, "open /dev/kvm", kvm);
	if (kvm < 0)
		return;
	r = ioctl(kvm, KVM_GET_API_VERSION, 0);
	report(r == KVM_API_VERSION, "KVM_GET_API_VERSION == 12", r);
	r = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD);
	report(r > 0, "KVM_CHECK_EXTENSION KVM_CAP_IRQFD", r);
	r = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD);
	report(r > 0, "KVM_CHECK_EXTENSION KVM_CAP_IOEVENTFD", r);
	r = ioctl(kvm, KVM_CREATE_VM, 0);
	report(r >= 0, "KVM_CREATE_VM", r);
	if (r >= 0)
		close((int)r);
	close(kvm);
}

static void check_vhost_net(void)
{
	int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	uint64_t features = 0;
	long r;

	report(fd >= 0, "open /dev/vhost-net", fd);
	if (fd < 0)
		return;
	r = ioctl(fd, VHOST_GET_FEATURES, &features);
	report(r == 0, "VHOST_GET_FEATURES", r == 0 ? (long)features : r);
	close(fd);
}

int main(void)
{
	check_kvm();
	check_vhost_net();
	return failures ? 1 : 0;
}
