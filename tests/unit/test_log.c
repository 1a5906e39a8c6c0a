/* core/log.c: a log line stays one line whatever its values hold. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/unit/check.h"

/* Runs one log_err with stderr on a temporary file; returns what it wrote
 * (NUL-terminated in BUF) or -1. */
static int capture(char *buf, size_t cap, const char *who, const char *value)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO), ret = -1;
	size_t n;

	if (!f || saved < 0)
		goto out;
	fflush(stderr);
	if (dup2(fileno(f), STDERR_FILENO) < 0)
		goto out;
	log_err(who, "cannot open %s", value);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	rewind(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	ret = (int)n;
out:
	if (saved >= 0)
		close(saved);
	if (f)
		fclose(f);
	return ret;
}

static void test_plain(void)
{
	char buf[4096];

	CHECK(capture(buf, sizeof(buf), "disk0", "/var/a b.img") > 0);
	CHECK_STR(buf, "tern: error: disk0: cannot open /var/a b.img\n");
}

/* A newline cannot start a forged line; an escape sequence cannot reach
 * the terminal; bytes from 0x80 up (UTF-8) pass as they are. */
static void test_control_bytes(void)
{
	char buf[4096];

	CHECK(capture(buf, sizeof(buf), "id\n1",
		      "x\ntern: info: forged\x1b[2J\x7f\t\xc3\xa9") > 0);
	CHECK_STR(buf, "tern: error: id\\x0a1: cannot open x\\x0atern: "
		     "info: forged\\x1b[2J\\x7f\\x09\xc3\xa9\n");
}

/* The longest line, every byte a control byte, is cut whole: no escape
 * is split and the line still ends in one newline. */
static void test_long(void)
{
	char value[600], buf[8192];
	int n;

	memset(value, '\x01', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	n = capture(buf, sizeof(buf), "q0", value);
	CHECK(n > 0);
	if (n <= 0)
		return;
	CHECK_EQ(buf[n - 1], '\n');
	CHECK(memchr(buf, '\n', (size_t)n - 1) == NULL);
	CHECK(!strncmp(buf, "tern: error: q0: cannot open \\x01", 33));
	CHECK(!strcmp(buf + n - 5, "\\x01\n"));
}

int main(void)
{
	test_plain();
	test_control_bytes();
	test_long();
	return check_done("test_log");
}
