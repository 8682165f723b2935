/* main.c -- cloudctl: global options, settings, then one command */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char *main_getenv(const char *name)
{
	return getenv(name);
}

int main(int argc, char **argv)
{
	struct ctl_settings s;
	struct errmsg err = { 0 };
	const char *config = NULL;
	char msg[1024];
	int i, json = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			ctl_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("cloudctl %s\n", CLOUDD_VERSION);
			return 0;
		} else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "json") == 0) {
				json = 1;
			} else if (strcmp(argv[i], "table") != 0) {
				fprintf(stderr, "cloudctl: -o: expected table or json, got %s\n", argv[i]);
				return EXIT_USAGE;
			}
		} else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			config = argv[++i];
		} else {
			fprintf(stderr, "cloudctl: unknown option %s (see cloudctl --help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	if (ctl_settings_load(&s, config, main_getenv, &err) < 0) {
		fprintf(stderr, "cloudctl: %s\n", errmsg_str(&err, msg, sizeof(msg)));
		return EXIT_USAGE;
	}
	s.json = json;
	if (httpc_init() < 0) {
		fprintf(stderr, "cloudctl: cannot initialise libcurl\n");
		return EXIT_SYSTEM;
	}
	return ctl_run(&s, argc - i, argv + i);
}
