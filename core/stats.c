#include "core/stats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *const names[STATS_N] = STATS_NAMES;

int stats_open(int vcpu_fd)
{
	int fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);

	return fd < 0 ? -errno : fd;
}

int stats_read(int fd, struct vcpu_stats *s)
{
	struct kvm_stats_header h;
	size_t desc_size;
	uint8_t *descs;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -EIO;
	/* Descriptors are a fixed part plus a name of name_size bytes. */
	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	if (!h.num_desc || h.num_desc > 4096 || h.name_size > 256)
		return -EINVAL;
	descs = malloc(desc_size * h.num_desc);
	if (!descs)
		return -ENOMEM;
	if (pread(fd, descs, desc_size * h.num_desc, h.desc_offset) !=
	    (ssize_t)(desc_size * h.num_desc)) {
		ret = -EIO;
		goto out;
	}
	for (uint32_t i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d =
			(const void *)(descs + i * desc_size);

		for (int k = 0; k < STATS_N; k++) {
			if (strncmp(d->name, names[k], h.name_size) ||
			    d->size < 1)
				continue;
			if (pread(fd, &s->v[k], sizeof(s->v[k]),
				  h.data_offset + d->offset) == sizeof(s->v[k]))
				s->found |= 1U << k;
		}
	}
out:
	free(descs);
	return ret;
}

void stats_write_json(FILE *f, const struct vcpu_stats *s, unsigned int n)
{
	uint64_t total[STATS_N] = { 0 };

	fputs("{\n", f);
	for (unsigned int i = 0; i < n; i++) {
		fprintf(f, "  \"vcpu%u\": {", i);
		for (int k = 0, first = 1; k < STATS_N; k++) {
			if (!(s[i].found & (1U << k)))
				continue;
			fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", names[k],
				(unsigned long long)s[i].v[k]);
			total[k] += s[i].v[k];
			first = 0;
		}
		fputs("},\n", f);
	}
	fputs("  \"total\": {", f);
	for (int k = 0; k < STATS_N; k++)
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", names[k],
			(unsigned long long)total[k]);
	fputs("}\n}\n", f);
}
