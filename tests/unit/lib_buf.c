/* lib_buf.c -- unit tests for the growable buffer and errmsg */
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

TEST(errmsg_keeps_first_error)
{
	struct errmsg e = { 0 };
	char out[1024];

	errmsg_set(&e, "instances[0].mac", "not a MAC address: \"%s\"", "zz");
	errmsg_set(&e, "other", "second");
	CHECK_STR(errmsg_str(&e, out, sizeof(out)), "instances[0].mac: not a MAC address: \"zz\"");
}
