/* cloudctl_output.c -- cloudctl: settings from file and environment, table rendering */
#include <stdlib.h>
#include <unistd.h>

#include "ctl.h"
#include "unit.h"

static const char *fake_env[][2] = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };

static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < 5; i++)
		if (fake_env[i][0] && strcmp(fake_env[i][0], name) == 0)
			return fake_env[i][1];
	return NULL;
}

TEST(settings_file_then_environment)
{
	char path[] = "/tmp/cloudctl-config-XXXXXX";
	int fd = mkstemp(path);
	struct ctl_settings s;
	struct errmsg err = { 0 };
	FILE *f;

	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# test\nurl = http://192.0.2.1:8080/\nkey = ak-1\nsecret = s1\n", f);
	fclose(f);
	memset(fake_env, 0, sizeof(fake_env));
	CHECK_INT(ctl_settings_load(&s, path, fake_getenv, &err), 0);
	CHECK_STR(s.url, "http://192.0.2.1:8080");
	CHECK_STR(s.key, "ak-1");
	CHECK_STR(s.secret, "s1");
	fake_env[0][0] = "CLOUDD_KEY", fake_env[0][1] = "ak-2";
	CHECK_INT(ctl_settings_load(&s, path, fake_getenv, &err), 0);
	CHECK_STR(s.key, "ak-2");
	unlink(path);
	/* an explicit file must exist */
	CHECK_INT(ctl_settings_load(&s, path, fake_getenv, &err), -1);
}

TEST(settings_environment_only_and_missing)
{
	struct ctl_settings s;
	struct errmsg err = { 0 };

	memset(fake_env, 0, sizeof(fake_env));
	fake_env[0][0] = "HOME", fake_env[0][1] = "/nonexistent";
	fake_env[1][0] = "CLOUDD_URL", fake_env[1][1] = "http://198.51.100.1:8080";
	fake_env[2][0] = "CLOUDD_KEY", fake_env[2][1] = "ak-3";
	CHECK_INT(ctl_settings_load(&s, NULL, fake_getenv, &err), -1);
	CHECK_STR(err.field, "secret");
	fake_env[3][0] = "CLOUDD_SECRET", fake_env[3][1] = "s3";
	CHECK_INT(ctl_settings_load(&s, NULL, fake_getenv, &err), 0);
	CHECK_STR(s.url, "http://198.51.100.1:8080");
	fake_env[1][1] = "https://x";
	CHECK_INT(ctl_settings_load(&s, NULL, fake_getenv, &err), -1);
	CHECK_STR(err.field, "url");
}

TEST(table_aligns_and_formats)
{
	static const struct ctl_column cols[] = {
		{ "ID", "id", NULL }, { "MEM", "m.total", "bytes" }, { "LABELS", "labels", "labels" }, { "X", "missing", NULL },
	};
	json_t *items = json_loads("[{\"id\":\"n-1\",\"m\":{\"total\":2147483648},\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
				   "{\"id\":\"n-22\",\"m\":{\"total\":512},\"labels\":{}}]", 0, NULL);
	struct buf out = BUF_INIT;

	CHECK(items != NULL);
	CHECK_INT(ctl_table(cols, 4, items, &out), 0);
	CHECK_STR(out.data, "ID    MEM   LABELS   X\n"
			    "n-1   2.0G  a=1,b=2  -\n"
			    "n-22  512B  -        -\n");
	buf_free(&out);
	json_decref(items);
}
