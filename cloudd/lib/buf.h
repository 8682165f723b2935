/* buf.h -- growable byte buffer, always NUL-terminated */
#ifndef CLOUDD_BUF_H
#define CLOUDD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* All return 0, or -1 with errno ENOMEM (the buffer is left as it was). */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the data to the caller (to free()); the buffer is empty afterwards. */
char *buf_steal(struct buf *b);

/*
 * vsnprintf into a fixed array that never truncates silently: 0, or -1 with
 * errno ERANGE when the text does not fit; out then says `instead`, or holds
 * the start of the text when instead is NULL.
 */
int str_vprintf(char *out, size_t outlen, const char *instead, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#endif
