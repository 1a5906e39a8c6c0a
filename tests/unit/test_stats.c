/* The KVM binary statistics reader on a file laid out as KVM lays out a
 * vCPU's stats fd: header, descriptors (fixed part + name), data. */
#include "core/stats.h"

#include "check.h"

#include <linux/kvm.h>
#include <unistd.h>

#define NAME_SIZE 48

static void put_desc(uint8_t *p, const char *name, uint32_t offset,
		     uint16_t size)
{
	struct kvm_stats_desc *d = (struct kvm_stats_desc *)p;

	d->flags = KVM_STATS_TYPE_CUMULATIVE;
	d->size = size;
	d->offset = offset;
	strcpy(d->name, name);
}

int main(void)
{
	size_t dsz = sizeof(struct kvm_stats_desc) + NAME_SIZE;
	uint8_t file[4096] = { 0 };
	struct kvm_stats_header *h = (void *)file;
	uint64_t data[4] = { 7, 1234, 55, 99 };
	char path[] = "/tmp/tern-stats-XXXXXX";
	struct vcpu_stats s[2];
	char out[1024];
	FILE *f;
	int fd;

	h->name_size = NAME_SIZE;
	h->num_desc = 4;
	h->desc_offset = 64;
	h->data_offset = 64 + 4 * dsz;
	put_desc(file + 64 + 0 * dsz, "halt_poll_fail_ns", 0, 1);
	put_desc(file + 64 + 1 * dsz, "exits", 8, 1);
	put_desc(file + 64 + 2 * dsz, "mmio_exits", 16, 1);
	put_desc(file + 64 + 3 * dsz, "io_exits", 24, 1);
	memcpy(file + h->data_offset, data, sizeof(data));

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, file, sizeof(file)), (ssize_t)sizeof(file));
	CHECK_EQ(stats_read(fd, &s[0]), 0);
	CHECK_EQ(s[0].v[0], 1234);		/* exits */
	CHECK_EQ(s[0].v[1], 99);		/* io_exits */
	CHECK_EQ(s[0].v[2], 55);		/* mmio_exits */
	CHECK_EQ(s[0].found, 0x7);		/* no halt/irq/signal exits */
	s[1] = s[0];

	f = fmemopen(out, sizeof(out), "w");
	stats_write_json(f, s, 2);
	fclose(f);
	CHECK(strstr(out, "\"vcpu1\": {\"exits\": 1234, \"io_exits\": 99, "
		      "\"mmio_exits\": 55}") != NULL);
	CHECK(strstr(out, "\"total\": {\"exits\": 2468, \"io_exits\": 198, "
		      "\"mmio_exits\": 110") != NULL);

	/* A header that claims absurd sizes is refused, not followed. */
	h->num_desc = 100000;
	CHECK_EQ(pwrite(fd, file, sizeof(*h), 0), (ssize_t)sizeof(*h));
	CHECK_EQ(stats_read(fd, &s[0]), -EINVAL);
	/* A truncated file. */
	h->num_desc = 4;
	CHECK_EQ(pwrite(fd, file, sizeof(*h), 0), (ssize_t)sizeof(*h));
	CHECK_EQ(ftruncate(fd, 100), 0);
	CHECK_EQ(stats_read(fd, &s[0]), -EIO);
	close(fd);
	unlink(path);
	return check_done("test_stats");
}
