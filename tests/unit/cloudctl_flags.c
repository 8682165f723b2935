/* cloudctl_flags.c -- command-line flags into request bodies and queries, from one table per command */
#include <stdlib.h>
#include <unistd.h>

#include "ctl.h"
#include "unit.h"

static const struct ctl_flag flags[] = {
	{ "--name", CTL_FLAG_NULLABLE, "name", "-" },
	{ "--size", CTL_FLAG_INT, "size", NULL },
	{ "--public", CTL_FLAG_TRUE, "public", NULL },
	{ "--group", CTL_FLAG_LIST, "groups", NULL },
	{ "--label", CTL_FLAG_MAP, "labels", NULL },
	{ "--initrd-url", CTL_FLAG_STRING, "initrd.url", NULL },
	{ "--user-data", CTL_FLAG_FILE, "user_data", NULL },
	{ "--state", CTL_FLAG_QUERY, "state", NULL },
};

static int run(json_t *body, struct ctl_query *q, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return ctl_flags(flags, CTL_NFLAGS(flags), argc, argv, 0, body, q, "test");
}

TEST(flags_fill_body_and_query)
{
	char file[] = "/tmp/cloudctl_flags.XXXXXX";
	int fd = mkstemp(file);
	json_t *body = json_object();
	struct ctl_query q = { .n = 0 };
	char *text;

	CHECK(fd >= 0);
	CHECK(write(fd, "#cloud-config\n", 14) == 14);
	close(fd);
	CHECK_INT(run(body, &q,
		      (char *[]){ "--name", "a", "--size", "-12", "--public", "--group", "g1", "--group", "g2",
				  "--label", "rack=r1", "--label", "k=", "--initrd-url", "http://x/i",
				  "--user-data", file, "--state", "up", NULL }),
		  0);
	unlink(file);
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(text, "{\"groups\":[\"g1\",\"g2\"],\"initrd\":{\"url\":\"http://x/i\"},\"labels\":{\"k\":\"\",\"rack\":\"r1\"},"
			"\"name\":\"a\",\"public\":true,\"size\":-12,\"user_data\":\"#cloud-config\\n\"}");
	free(text);
	CHECK_INT(q.n, 1);
	CHECK_STR(q.args[0].name, "state");
	CHECK_STR(q.args[0].value, "up");
	CHECK_INT(run(body, NULL, (char *[]){ "--name", "-", NULL }), 0);
	CHECK(json_is_null(json_object_get(body, "name")));
	json_decref(body);
}

TEST(flags_refuse_what_they_do_not_know)
{
	json_t *body = json_object();

	CHECK_INT(run(body, NULL, (char *[]){ "--bogus", NULL }), EXIT_USAGE);
	CHECK_INT(run(body, NULL, (char *[]){ "--name", NULL }), EXIT_USAGE); /* no value */
	CHECK_INT(run(body, NULL, (char *[]){ "--size", "12x", NULL }), EXIT_USAGE);
	CHECK_INT(run(body, NULL, (char *[]){ "--size", "", NULL }), EXIT_USAGE);
	CHECK_INT(run(body, NULL, (char *[]){ "--label", "novalue", NULL }), EXIT_USAGE);
	CHECK_INT(run(body, NULL, (char *[]){ "--label", "=v", NULL }), EXIT_USAGE);
	CHECK_INT(run(body, NULL, (char *[]){ "--user-data", "/nonexistent/file", NULL }), EXIT_USAGE);
	CHECK_INT(json_object_size(body), 0);
	json_decref(body);
}
