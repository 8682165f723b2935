/* text_template.h -- text files with @NAME@ placeholders, filled from a table of values */
#ifndef CLOUDD_TEXT_TEMPLATE_H
#define CLOUDD_TEXT_TEMPLATE_H

#include <stddef.h>

#include "buf.h"
#include "errmsg.h"

/*
 * Substitutes every @NAME@ (NAME: A-Z and _) in tmpl with values[i] where
 * names[i] is NAME, into out (replaced). A lone '@' or "@@" stays as it is.
 * An unknown placeholder fails with EINVAL and err naming it; values are
 * inserted as they are (the caller checks what its format allows).
 */
int template_render(const char *tmpl, const char *const *names, const char *const *values,
		    size_t n, struct buf *out, struct errmsg *err);

#endif
