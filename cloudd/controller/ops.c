/* ops.c -- the operations' typed error and how a handler replies with it */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

int op_fail(struct op_error *err, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

int op_internal(struct op_error *err, const char *what)
{
	int saved = errno ? errno : EIO;

	err->status = 500;
	err->errnum = saved;
	snprintf(err->code, sizeof(err->code), "internal");
	snprintf(err->message, sizeof(err->message), "%s: %s", what, strerror(saved));
	errno = saved;
	return -1;
}

int op_reply_error(struct httpd_response *resp, const struct op_error *err)
{
	if (err->status >= 500 || err->status < 400) {
		log_warn("%s", err->message);
		errno = err->errnum ? err->errnum : EIO;
		return -1;
	}
	return httpd_reply_error(resp, (unsigned)err->status, err->code, "%s", err->message);
}
