/* core/opts.c: each type takes what its entry allows and nothing else,
 * the message names the option, the key and the range from the table,
 * and a rejected string leaves one line. */
#include "core/opts.h"
#include "tests/unit/check.h"

#include <stdbool.h>

struct target {
	uint16_t u16;
	unsigned int pow2;
	bool on;
	int choice;
	const char *word;
	const char *list;
};

static const char *const colours[] = { "red", "green", "blue", NULL };

static int take_word(void *t, const char *v)
{
	if (!strcmp(v, "nomem"))
		return -ENOMEM;
	if (strlen(v) > 3)
		return -EINVAL;
	((struct target *)t)->word = "kept";
	return 0;
}

/* A list word: whatever is bracketed, kept. */
static int take_list(void *t, const char *v)
{
	if (v[0] != '[' || v[strlen(v) - 1] != ']')
		return -EINVAL;
	((struct target *)t)->list = "kept";
	return 0;
}

static const struct opt_spec specs[] = {
	OPT_U("n", struct target, u16, 2, 300),
	OPT_P2("size", struct target, pow2, 4, 64),
	OPT_B("on", struct target, on),
	OPT_C("colour", struct target, choice, colours),
	OPT_F("word", take_word, "at most 3 letters"),
	OPT_FL("list", take_list, "a bracketed list"),
};
static const struct opts_table table = { "thing", specs, 6, "n" };

static char errbuf[512];

static int parse(const char *arg, struct target *t, uint64_t *seen)
{
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	int ret;

	memset(errbuf, 0, sizeof(errbuf));
	ret = opts_parse(&table, arg, t, seen, err);
	fclose(err);
	return ret;
}

#define CHECK_REJECT(arg, msg)                                                 \
	do {                                                                   \
		struct target t_ = { 0 };                                      \
		uint64_t s_;                                                   \
		CHECK_EQ(parse(arg, &t_, &s_), -EINVAL);                       \
		CHECK_STR(errbuf, msg);                                        \
	} while (0)

int main(void)
{
	struct target t = { 0 };
	uint64_t seen = 0;

	CHECK_EQ(parse("300,size=16,on=on,colour=blue,word=abc", &t, &seen), 0);
	CHECK_EQ(t.u16, 300);
	CHECK_EQ(t.pow2, 16);
	CHECK(t.on);
	CHECK_EQ(t.choice, 2);
	CHECK_STR(t.word, "kept");
	CHECK_EQ(seen, 0x1f);
	CHECK_EQ(parse("on=off,n=2", &t, &seen), 0);
	CHECK(!t.on);
	CHECK_EQ(t.u16, 2);
	CHECK_EQ(seen, (1 << 0) | (1 << 2));
	CHECK_EQ(opts_index(&table, "colour"), 3);
	CHECK_EQ(opts_index(&table, "nope"), -1);
	CHECK_EQ(parse("word=nomem", &t, &seen), -ENOMEM);
	/* A list word's bracketed value keeps its commas; in any other
	 * word '[' is a letter, and a ',' ends the word as always. */
	CHECK_EQ(parse("list=[a,[b]],n=5", &t, &seen), 0);
	CHECK_STR(t.list, "kept");
	CHECK_EQ(t.u16, 5);
	CHECK_EQ(seen, (1 << 0) | (1 << 5));
	CHECK_EQ(parse("list=[[]],n=4", &t, &seen), 0);
	CHECK_EQ(t.u16, 4);
	CHECK_EQ(parse("word=[,on=on", &t, &seen), 0);
	CHECK(t.on);
	CHECK_EQ(seen, (1 << 2) | (1 << 4));
	CHECK_EQ(parse("word=a[,n=6", &t, &seen), 0);
	CHECK_EQ(t.u16, 6);
	CHECK_EQ(parse(",,n=7,,", &t, &seen), 0);
	CHECK_EQ(t.u16, 7);

	CHECK_REJECT("n=301", "tern: --thing: n=301: give 2 to 300\n");
	CHECK_REJECT("n=1", "tern: --thing: n=1: give 2 to 300\n");
	CHECK_REJECT("n=-2", "tern: --thing: n=-2: give 2 to 300\n");
	CHECK_REJECT("n=99999999999999999999999",
		     "tern: --thing: n=99999999999999999999999: give 2 to 300\n");
	CHECK_REJECT("size=24", "tern: --thing: size=24: give a power of two "
		     "from 4 to 64\n");
	CHECK_REJECT("size=128", "tern: --thing: size=128: give a power of "
		     "two from 4 to 64\n");
	CHECK_REJECT("on=yes", "tern: --thing: on=yes: on or off\n");
	CHECK_REJECT("colour=pink", "tern: --thing: colour=pink: red, green "
		     "or blue\n");
	CHECK_REJECT("word=abcd", "tern: --thing: word=abcd: at most 3 "
		     "letters\n");
	CHECK_REJECT("what=1", "tern: --thing: unknown parameter 'what' (n=, "
		     "size=, on=, colour=, word=, list=)\n");
	CHECK_REJECT("n=3,bare", "tern: --thing: 'bare' is not KEY=VALUE\n");
	CHECK_REJECT("word=[a,b]", "tern: --thing: 'b]' is not KEY=VALUE\n");
	/* Unclosed: an error, not a value that swallows later words. */
	CHECK_REJECT("list=[a,n=3", "tern: --thing: list=[a,n=3: no ']' closes "
		     "its '['\n");
	CHECK_REJECT("n=3,list=[[a],on=on", "tern: --thing: list=[[a],on=on: "
		     "no ']' closes its '['\n");
	CHECK_REJECT("list=a,b", "tern: --thing: list=a: a bracketed list\n");
	return check_done("test_opts");
}
