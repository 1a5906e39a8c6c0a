#include "core/iov.h"

#include <errno.h>
#include <string.h>

uint64_t iov_size(const struct iovec *iov, unsigned int n)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Walks [skip, skip+len) of the iovecs, copying to or from buf. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t skip,
		       uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		uint8_t *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		p = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(p, buf + done, l);
		else
			memcpy(buf + done, p, l);
		done += l;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip,
		  void *dst, size_t len)
{
	return iov_copy(iov, n, skip, dst, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip,
		    const void *src, size_t len)
{
	return iov_copy(iov, n, skip, (uint8_t *)src, len, true);
}

int iov_slice(const struct iovec *src, unsigned int n, size_t skip,
	      size_t len, struct iovec *dst, unsigned int max)
{
	unsigned int out = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		if (out == max)
			return -E2BIG;
		dst[out].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[out].iov_len = l;
		out++;
		len -= l;
		skip = 0;
	}
	return (int)out;
}

uint8_t *iov_byte(const struct iovec *iov, unsigned int n, size_t off)
{
	for (unsigned int i = 0; i < n; i++) {
		if (off < iov[i].iov_len)
			return (uint8_t *)iov[i].iov_base + off;
		off -= iov[i].iov_len;
	}
	return NULL;
}

void iov_reader_init(struct iov_reader *r, const struct iovec *iov,
		     unsigned int n)
{
	*r = (struct iov_reader){ .iov = iov, .n = n, .left = iov_size(iov, n) };
}

bool iov_reader_take(struct iov_reader *r, void *dst, uint64_t len)
{
	uint8_t *d = dst;

	if (len > r->left)
		return false;
	r->left -= len;
	while (len) {
		size_t l = r->iov[r->i].iov_len - r->off;

		if (l > len)
			l = (size_t)len;
		if (d) {
			memcpy(d, (const uint8_t *)r->iov[r->i].iov_base + r->off,
			       l);
			d += l;
		}
		len -= l;
		r->off += l;
		if (r->off == r->iov[r->i].iov_len) {
			r->i++;
			r->off = 0;
		}
	}
	return true;
}
