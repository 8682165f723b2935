/* lib_conf.c -- fuzz the configuration file parser and its typed getters */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const choices[] = { "never", "blank", "wipe", NULL };
	struct conf c = CONF_INIT;
	struct errmsg err = { 0 };
	char *text = malloc(size + 1);
	const char *s;
	unsigned long long u;
	int b, e;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (conf_parse(&c, "fuzz.conf", text, &err) == 0) {
		conf_get_str(&c, "listen", ":8081", &s, &err);
		conf_get_uint(&c, "port", 8081, 1, 65535, &u, &err);
		conf_get_size(&c, "max-body", 1024, 0, 1ULL << 40, &u, &err);
		conf_get_bool(&c, "syslog", 1, &b, &err);
		conf_get_enum(&c, "init", choices, 0, &e, &err);
		conf_check_unknown(&c, &err);
	}
	conf_free(&c);
	free(text);
	return 0;
}
