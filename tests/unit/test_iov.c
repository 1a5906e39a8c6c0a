/* core/iov.c: copies, slices and the reader stay inside the array and
 * count what they did. */
#include "core/iov.h"
#include "tests/unit/check.h"

static uint8_t a[3], b[5], c[4];
static const struct iovec v[3] = {
	{ a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) },
};

static void test_copies(void)
{
	uint8_t src[12], dst[12];

	for (int i = 0; i < 12; i++)
		src[i] = (uint8_t)(0x10 + i);
	CHECK_EQ(iov_size(v, 3), 12);
	CHECK_EQ(iov_from_buf(v, 3, 0, src, 12), 12);
	CHECK_EQ(a[0], 0x10);
	CHECK_EQ(b[0], 0x13);
	CHECK_EQ(c[3], 0x1b);
	memset(dst, 0, sizeof(dst));
	CHECK_EQ(iov_to_buf(v, 3, 2, dst, 4), 4);	/* across a[2]..b[2] */
	CHECK_EQ(dst[0], 0x12);
	CHECK_EQ(dst[3], 0x15);
	/* Past the end: what there is, nothing more. */
	CHECK_EQ(iov_to_buf(v, 3, 10, dst, 8), 2);
	CHECK_EQ(dst[1], 0x1b);
	CHECK_EQ(iov_from_buf(v, 3, 11, src, 8), 1);
	CHECK_EQ(c[3], 0x10);
	CHECK_EQ(iov_to_buf(v, 3, 12, dst, 1), 0);
	CHECK_EQ(iov_to_buf(v, 0, 0, dst, 1), 0);
}

static void test_slice_and_byte(void)
{
	struct iovec out[3];

	CHECK_EQ(iov_slice(v, 3, 1, 9, out, 3), 3);
	CHECK(out[0].iov_base == a + 1 && out[0].iov_len == 2);
	CHECK(out[1].iov_base == b && out[1].iov_len == 5);
	CHECK(out[2].iov_base == c && out[2].iov_len == 2);
	CHECK_EQ(iov_slice(v, 3, 1, 9, out, 2), -E2BIG);
	CHECK_EQ(iov_slice(v, 3, 3, 5, out, 1), 1);	/* b exactly */
	CHECK(out[0].iov_base == b && out[0].iov_len == 5);
	CHECK(iov_byte(v, 3, 0) == a);
	CHECK(iov_byte(v, 3, 8) == c);
	CHECK(iov_byte(v, 3, 12) == NULL);
}

static void test_reader(void)
{
	struct iov_reader r;
	uint8_t got[6];

	for (int i = 0; i < 12; i++)
		((uint8_t *)iov_byte(v, 3, i))[0] = (uint8_t)i;
	iov_reader_init(&r, v, 3);
	CHECK_EQ(r.left, 12);
	CHECK(iov_reader_take(&r, got, 4));
	CHECK_EQ(got[3], 3);
	CHECK(iov_reader_take(&r, NULL, 2));		/* skip 4, 5 */
	CHECK(!iov_reader_take(&r, got, 7));		/* 6 left: nothing taken */
	CHECK_EQ(r.left, 6);
	CHECK(iov_reader_take(&r, got, 6));
	CHECK_EQ(got[0], 6);
	CHECK_EQ(got[5], 11);
	CHECK(!iov_reader_take(&r, got, 1));
	CHECK(iov_reader_take(&r, got, 0));
}

int main(void)
{
	test_copies();
	test_slice_and_byte();
	test_reader();
	return check_done("test_iov");
}
