/* text_template.c -- text files with @NAME@ placeholders, filled from a table of values */
#include <errno.h>
#include <string.h>

#include "text_template.h"

int template_render(const char *tmpl, const char *const *names, const char *const *values,
		    size_t n, struct buf *out, struct errmsg *err)
{
	const char *p = tmpl;

	buf_reset(out);
	if (buf_puts(out, "") < 0)
		return -1;
	while (*p) {
		const char *at = strchr(p, '@'), *end;
		size_t i;

		if (at == NULL)
			return buf_puts(out, p);
		if (buf_append(out, p, (size_t)(at - p)) < 0)
			return -1;
		end = at + 1;
		while ((*end >= 'A' && *end <= 'Z') || *end == '_')
			end++;
		if (*end != '@' || end == at + 1) {
			/* not a placeholder: a lone '@' */
			if (buf_append(out, at, 1) < 0)
				return -1;
			p = at + 1;
			continue;
		}
		for (i = 0; i < n; i++)
			if (strlen(names[i]) == (size_t)(end - at - 1) && memcmp(names[i], at + 1, (size_t)(end - at - 1)) == 0)
				break;
		if (i == n) {
			errmsg_set(err, "template", "unknown placeholder @%.*s@", (int)(end - at - 1), at + 1);
			errno = EINVAL;
			return -1;
		}
		if (buf_puts(out, values[i]) < 0)
			return -1;
		p = end + 1;
	}
	return 0;
}
