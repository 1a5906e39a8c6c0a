/* The one set of iovec helpers: copying between flat buffers and iovec
 * arrays (a descriptor chain mapped into host memory), slicing one, and
 * reading one front to back. Every function stays inside the array it is
 * given: a short array copies less, it never reads past the last entry. */
#ifndef TERN_CORE_IOV_H
#define TERN_CORE_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The bytes the n iovecs hold together. */
uint64_t iov_size(const struct iovec *iov, unsigned int n);

/* Copies [skip, skip+len) of the iovecs into dst; returns the bytes
 * copied (fewer when the iovecs end first). */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip,
		  void *dst, size_t len);

/* Copies len bytes of src into the iovecs from byte `skip` on; returns the
 * bytes copied (fewer when the iovecs end first). */
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip,
		    const void *src, size_t len);

/* The [skip, skip+len) bytes of src as a new iovec array in dst; returns
 * its length, or -E2BIG if that needs more than `max` entries. */
int iov_slice(const struct iovec *src, unsigned int n, size_t skip,
	      size_t len, struct iovec *dst, unsigned int max);

/* The address of byte `off` of the iovecs, or NULL past their end. */
uint8_t *iov_byte(const struct iovec *iov, unsigned int n, size_t off);

/* Reads an iovec array front to back. */
struct iov_reader {
	const struct iovec *iov;
	unsigned int n, i;
	size_t off;			/* into iov[i] */
	uint64_t left;			/* bytes not yet read */
};

void iov_reader_init(struct iov_reader *r, const struct iovec *iov,
		     unsigned int n);
/* Copies the next len bytes (dst NULL: skips them). False, and nothing
 * consumed, if fewer are left. */
bool iov_reader_take(struct iov_reader *r, void *dst, uint64_t len);

#endif
