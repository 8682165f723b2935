/* errmsg.c -- a validation error that names the offending field */
#include <stdarg.h>
#include <stdio.h>

#include "errmsg.h"

void errmsg_set(struct errmsg *e, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL || e->set)
		return;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->set = 1;
}

const char *errmsg_str(const struct errmsg *e, char *out, unsigned long outlen)
{
	if (e->field[0])
		snprintf(out, outlen, "%s: %s", e->field, e->msg);
	else
		snprintf(out, outlen, "%s", e->msg);
	return out;
}
