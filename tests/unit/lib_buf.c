/* lib_buf.c -- unit tests for the growable buffer and errmsg */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "buf.h"
#include "errmsg.h"
#include "unit.h"

TEST(buf_append_and_printf)
{
	struct buf b = BUF_INIT;

	CHECK_INT(buf_puts(&b, "abc"), 0);
	CHECK_INT(buf_printf(&b, "-%d-%s", 42, "x"), 0);
	CHECK_STR(b.data, "abc-42-x");
	CHECK_INT(b.len, 8);
	buf_reset(&b);
	CHECK_STR(b.data, "");
	buf_free(&b);
}

TEST(buf_grows_past_initial_capacity)
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < 10000; i++)
		CHECK_INT(buf_append(&b, "0123456789", 10), 0);
	CHECK_INT(b.len, 100000);
	CHECK_INT(b.data[99999], '9');
	CHECK_INT(b.data[100000], '\0');
	char *s = buf_steal(&b);
	CHECK(b.data == NULL);
	free(s);
}

static int fit(char *out, size_t outlen, const char *instead, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fit(char *out, size_t outlen, const char *instead, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = str_vprintf(out, outlen, instead, fmt, ap);
	va_end(ap);
	return rc;
}

TEST(str_vprintf_never_truncates_silently)
{
	char out[8];

	CHECK_INT(fit(out, sizeof(out), NULL, "%s-%d", "ab", 1234), 0);
	CHECK_STR(out, "ab-1234");
	errno = 0;
	CHECK_INT(fit(out, sizeof(out), NULL, "%s-%d", "ab", 12345), -1);
	CHECK_INT(errno, ERANGE);
	CHECK_STR(out, "ab-1234");
	CHECK_INT(fit(out, sizeof(out), "(long)", "%s-%d", "ab", 12345), -1);
	CHECK_STR(out, "(long)");
	CHECK_INT(fit(out, sizeof(out), "(long)", "%s", "fits"), 0);
	CHECK_STR(out, "fits");
}

TEST(errmsg_keeps_first_error)
{
	struct errmsg e = { 0 };
	char out[1024];

	errmsg_set(&e, "instances[0].mac", "not a MAC address: \"%s\"", "zz");
	errmsg_set(&e, "other", "second");
	CHECK_STR(errmsg_str(&e, out, sizeof(out)), "instances[0].mac: not a MAC address: \"zz\"");
}
