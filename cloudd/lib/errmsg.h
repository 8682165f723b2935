/* errmsg.h -- a validation error that names the offending field */
#ifndef CLOUDD_ERRMSG_H
#define CLOUDD_ERRMSG_H

/*
 * Parsers and validators of outside input (config files, desired-state
 * documents, API bodies) return -1 and fill a struct errmsg: `field` is the
 * path of what is wrong ("instances[2].nics[0].mac", "listen"), `msg` says
 * why ("not a MAC address: \"zz:...\""). Only the first error is kept.
 */
struct errmsg {
	char field[256];
	char msg[512];
	int set;
};

void errmsg_set(struct errmsg *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "field: msg" (or just msg when there is no field), in a static-free buffer. */
const char *errmsg_str(const struct errmsg *e, char *out, unsigned long outlen);

#endif
