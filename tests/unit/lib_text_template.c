/* lib_text_template.c -- @NAME@ placeholders filled from a table, unknown ones refused */
#include <errno.h>

#include "text_template.h"
#include "unit.h"

TEST(template_substitutes_and_refuses_unknown)
{
	const char *names[] = { "A", "B_C" };
	const char *values[] = { "x", "y@z" };
	struct buf out = BUF_INIT;
	struct errmsg err = { 0 };

	CHECK_INT(template_render("1@A@2@B_C@3 mail@host @ @@", names, values, 2, &out, &err), 0);
	CHECK_STR(out.data, "1x2y@z3 mail@host @ @@");
	CHECK_INT(template_render("@NOPE@", names, values, 2, &out, &err), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_CONTAINS(err.msg, "@NOPE@");
	buf_free(&out);
}

TEST(template_edges)
{
	const char *names[] = { "A" };
	const char *values[] = { "" };
	struct buf out = BUF_INIT;
	struct errmsg err = { 0 };

	CHECK_INT(template_render("", names, values, 1, &out, &err), 0);
	CHECK_STR(out.data, "");
	CHECK_INT(template_render("@A@@A@tail@", names, values, 1, &out, &err), 0);
	CHECK_STR(out.data, "tail@");
	CHECK_INT(template_render("@a@ @A", names, values, 1, &out, &err), 0);
	CHECK_STR(out.data, "@a@ @A");
	buf_free(&out);
}
