/* core/state.c: a record round-trips, and every malformed record is
 * refused before a device sees a value. */
#include "core/bytes.h"
#include "core/state.h"
#include "tests/unit/check.h"

static struct state_reader r;

/* A record of kind "k" with fields u8 1=7, u64 2, bytes 3 "abc". */
static void make(struct state_writer *w)
{
	state_writer_init(w);
	state_begin(w, "k", "k0", 3);
	state_put_u8(w, 1, 7);
	state_put_u64(w, 2, 0x1122334455667788ULL);
	state_put_bytes(w, 3, "abc", 3);
	CHECK_EQ(state_end(w), 0);
}

static void test_round_trip(void)
{
	struct state_writer w;
	uint8_t u8 = 0, buf[8];
	uint64_t u64 = 0;
	uint32_t n = 0;

	make(&w);
	CHECK_EQ(w.len, STATE_HEADER_LEN + 3 * STATE_FIELD_HDR_LEN + 1 + 8 + 3);
	CHECK_EQ(state_reader_open(&r, w.buf, w.len, "k", "t"), 0);
	CHECK_STR(r.id, "k0");
	CHECK_EQ(r.version, 3);
	CHECK_EQ(r.record_len, w.len);
	CHECK_EQ(state_get_u8(&r, 1, &u8), 0);
	CHECK_EQ(u8, 7);
	CHECK_EQ(state_get_u64(&r, 2, &u64), 0);
	CHECK_EQ(u64, 0x1122334455667788ULL);
	CHECK_EQ(state_get_bytes(&r, 3, buf, 2), -EINVAL);	/* length */
	CHECK_EQ(state_get_blob(&r, 3, buf, 8, &n), 0);
	CHECK_EQ(n, 3);
	CHECK_MEM(buf, "abc", 3);
	CHECK_EQ(state_get_u32(&r, 1, &n), -EINVAL);	/* type */
	CHECK_EQ(state_get_u8(&r, 9, &u8), -ENOENT);
	CHECK_EQ(state_reader_close(&r, "t"), 0);
	/* Another kind's record. */
	CHECK_EQ(state_reader_open(&r, w.buf, w.len, "other", "t"), -EINVAL);
	state_writer_free(&w);
}

static void test_unknown_tags(void)
{
	struct state_writer w;
	uint8_t u8;

	state_writer_init(&w);
	state_begin(&w, "k", "k0", 1);
	state_put_u8(&w, 1, 1);
	state_put_u8(&w, STATE_TAG_OPTIONAL + 5, 2);
	CHECK_EQ(state_end(&w), 0);
	CHECK_EQ(state_reader_open(&r, w.buf, w.len, "k", "t"), 0);
	CHECK_EQ(state_get_u8(&r, 1, &u8), 0);
	CHECK_EQ(state_reader_close(&r, "t"), 0);	/* optional: skipped */
	CHECK_EQ(state_reader_open(&r, w.buf, w.len, "k", "t"), 0);
	CHECK_EQ(state_reader_close(&r, "t"), -EINVAL);	/* tag 1 unread */
	state_writer_free(&w);
}

static void test_malformed(void)
{
	struct state_writer w;
	uint8_t *b;

	make(&w);
	b = w.buf;
	/* Short, bad magic, bad format, kind without NUL. */
	CHECK_EQ(state_reader_open(&r, b, STATE_HEADER_LEN - 1, "k", "t"),
		 -EINVAL);
	b[0] ^= 1;
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	b[0] ^= 1;
	b[8] = 2;
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	b[8] = STATE_FORMAT;
	b[12 + 5] = 'x';		/* junk after the kind's NUL */
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	b[12 + 5] = 0;
	/* The length says more than there is; one byte short. */
	CHECK_EQ(state_reader_open(&r, b, w.len - 1, "k", "t"), -EINVAL);
	/* A u8 field that says 2 bytes. */
	put_le32(b + STATE_HEADER_LEN + 3, 2);
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	put_le32(b + STATE_HEADER_LEN + 3, 1);
	/* An unknown type. */
	b[STATE_HEADER_LEN + 2] = 9;
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	b[STATE_HEADER_LEN + 2] = STATE_U8;
	/* The same tag twice: field 2 renamed 1. */
	put_le16(b + STATE_HEADER_LEN + STATE_FIELD_HDR_LEN + 1, 1);
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	put_le16(b + STATE_HEADER_LEN + STATE_FIELD_HDR_LEN + 1, 2);
	/* A bytes field running past the end. */
	put_le32(b + w.len - 3 - 4, 4);
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), -EINVAL);
	put_le32(b + w.len - 3 - 4, 3);
	CHECK_EQ(state_reader_open(&r, b, w.len, "k", "t"), 0);
	state_writer_free(&w);
}

int main(void)
{
	test_round_trip();
	test_unknown_tags();
	test_malformed();
	return check_done("test_state");
}
