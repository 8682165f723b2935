/* cloudctl_resource.c -- list, show and rm of a collection: which command lines take the shared path */
#include <string.h>

#include "ctl.h"
#include "unit.h"

static const struct ctl_column cols[] = { { "ID", "id", NULL } };

static const struct ctl_resource things = {
	"things", "/v1/things", "thing id too long: %s", cols, 1, NULL, 0, 1, "rm",
};
static const struct ctl_resource keys = {
	"key", "/v1/keys", NULL, NULL, 0, NULL, 0, 0, "revoke",
};

TEST(resource_path_or_usage_error)
{
	char path[32], id[64];

	CHECK_INT(ctl_resource_path(&things, "t-1", path, sizeof(path)), 0);
	CHECK_STR(path, "/v1/things/t-1");
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	CHECK_INT(ctl_resource_path(&things, id, path, sizeof(path)), EXIT_USAGE);
	CHECK_INT(ctl_resource_path(&keys, id, path, sizeof(path)), EXIT_USAGE);
}

/* Only argv the resource does not take returns -1 (no request is made for them). */
TEST(resource_run_leaves_other_commands_to_the_caller)
{
	struct ctl_settings s = { .url = "http://192.0.2.1:9" };

	CHECK_INT(ctl_resource_run(&s, &things, 0, (char *[]){ NULL }), -1);
	CHECK_INT(ctl_resource_run(&s, &things, 2, (char *[]){ "add", "t-1", NULL }), -1);
	CHECK_INT(ctl_resource_run(&s, &things, 3, (char *[]){ "show", "t-1", "extra", NULL }), -1);
	CHECK_INT(ctl_resource_run(&s, &things, 1, (char *[]){ "show", NULL }), -1);
	CHECK_INT(ctl_resource_run(&s, &things, 2, (char *[]){ "revoke", "t-1", NULL }), -1);
	/* no filters: list takes no argument */
	CHECK_INT(ctl_resource_run(&s, &things, 2, (char *[]){ "list", "--x", NULL }), -1);
	/* no list, no show */
	CHECK_INT(ctl_resource_run(&s, &keys, 1, (char *[]){ "list", NULL }), -1);
	CHECK_INT(ctl_resource_run(&s, &keys, 2, (char *[]){ "show", "k-1", NULL }), -1);
	CHECK_INT(ctl_resource_run(&s, &keys, 2, (char *[]){ "rm", "k-1", NULL }), -1);
}
