/* node_converge.c -- the convergence engine's decisions, driven through a recording backend */
#include <stdlib.h>
#include <unistd.h>

#include "../../cloudd/node/cloudd.h"
#include "../../cloudd/node/converge.h"
#include "unit.h"

/*
 * The backend records every call in `calls` and keeps a table of "running"
 * guests; tests flip entries to simulate QEMU exiting. The real backend
 * (QEMU, volumes, bridge) is exercised by the integration tests.
 */
static struct {
	char calls[4096];
	char running[8][STATE_ID_MAX];
	int exit_code, powered_off;
	int fail_template, fail_network;
	char volumes[16][2][STATE_ID_MAX];
	size_t n_volumes;
} fake;

static void rec(const char *fmt, const char *a, const char *b)
{
	size_t len = strlen(fake.calls);
	snprintf(fake.calls + len, sizeof(fake.calls) - len, fmt, a, b);
}

static int fake_is_running(const char *id)
{
	for (int i = 0; i < 8; i++)
		if (strcmp(fake.running[i], id) == 0)
			return i;
	return -1;
}

static int f_template(void *ctx, const struct state_template *t, struct errmsg *err)
{
	(void)ctx;
	rec("fetch:%s%s ", t->id, "");
	if (fake.fail_template) {
		errmsg_set(err, "", "sha256 mismatch");
		return -1;
	}
	return 0;
}

static int f_vol_create(void *ctx, const struct state_doc *doc, const struct state_instance *in,
			const struct state_disk *d, struct errmsg *err)
{
	(void)ctx, (void)doc, (void)err;
	rec("vol:%s/%s ", in->id, d->id);
	snprintf(fake.volumes[fake.n_volumes][0], STATE_ID_MAX, "%s", in->id);
	snprintf(fake.volumes[fake.n_volumes++][1], STATE_ID_MAX, "%s", d->id);
	return 0;
}

static int f_vol_list(void *ctx, struct state_actual_volume **out, size_t *n, struct errmsg *err)
{
	(void)ctx, (void)err;
	*out = calloc(fake.n_volumes + 1, sizeof(**out));
	for (size_t i = 0; i < fake.n_volumes; i++) {
		memcpy((*out)[i].instance, fake.volumes[i][0], STATE_ID_MAX);
		memcpy((*out)[i].disk, fake.volumes[i][1], STATE_ID_MAX);
	}
	*n = fake.n_volumes;
	return 0;
}

static int f_network(void *ctx, const struct state_doc *doc, struct errmsg *err)
{
	(void)ctx, (void)doc;
	rec("net%s%s ", "", "");
	if (fake.fail_network) {
		errmsg_set(err, "", "bridge: operation not permitted");
		return -1;
	}
	return 0;
}

static int f_start(void *ctx, const struct state_doc *doc, const struct state_instance *in,
		   struct errmsg *err)
{
	(void)ctx, (void)doc, (void)err;
	rec("start:%s%s ", in->id, "");
	for (int i = 0; i < 8; i++) {
		if (fake.running[i][0] == '\0') {
			snprintf(fake.running[i], STATE_ID_MAX, "%s", in->id);
			break;
		}
	}
	return 0;
}

static int f_stop(void *ctx, const char *id, int force, struct errmsg *err)
{
	int i = fake_is_running(id);

	(void)ctx, (void)err;
	rec(force ? "kill:%s%s " : "stop:%s%s ", id, "");
	if (i >= 0)
		fake.running[i][0] = '\0'; /* the guest powers off at once */
	return 0;
}

static int f_poll(void *ctx, const char *id, struct converge_guest *g)
{
	(void)ctx;
	g->running = fake_is_running(id) >= 0;
	g->pid = g->running ? 1 : 0;
	if (!g->running) {
		g->exited = 1;
		g->exit_code = fake.exit_code;
		g->powered_off = fake.powered_off;
		snprintf(g->reason, sizeof(g->reason), "test exit");
	}
	return 0;
}

static int f_forget(void *ctx, const char *id, struct errmsg *err)
{
	(void)ctx, (void)err;
	rec("forget:%s%s ", id, "");
	return 0;
}

static int f_adopt(void *ctx, char (**ids)[STATE_ID_MAX], size_t *n, struct errmsg *err)
{
	(void)ctx, (void)err;
	*n = 0;
	*ids = calloc(8, STATE_ID_MAX);
	for (int i = 0; i < 8; i++)
		if (fake.running[i][0])
			memcpy((*ids)[(*n)++], fake.running[i], STATE_ID_MAX);
	return 0;
}

static int f_reset(void *ctx, const char *id, struct errmsg *err)
{
	(void)ctx;
	rec("reset:%s%s ", id, "");
	if (fake_is_running(id) < 0) {
		errmsg_set(err, "", "not running");
		return -1;
	}
	return 0;
}

static const struct converge_backend fake_backend = {
	.adopt = f_adopt, .template_ensure = f_template, .volume_create = f_vol_create,
	.volume_list = f_vol_list, .network_apply = f_network, .instance_start = f_start,
	.instance_stop = f_stop, .instance_reset = f_reset, .instance_poll = f_poll,
	.instance_forget = f_forget,
};

static const char *doc_text =
	"{\"version\":1,\"revision\":%d,"
	"\"network\":{\"bridge\":\"brg\",\"address\":\"198.51.100.1/24\"},"
	"\"templates\":[{\"id\":\"t\",\"format\":\"qcow2\",\"path\":\"/t.qcow2\","
	"\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}],"
	"\"instances\":[%s]}";

static const char *inst_a =
	"{\"id\":\"a\",\"vcpus\":1,\"memory_mib\":64,\"power\":\"running\",\"restart\":\"%s\","
	"\"disks\":[{\"id\":\"root\",\"size_mib\":64,\"template\":\"t\"}],"
	"\"nics\":[{\"mac\":\"52:54:00:00:00:0a\",\"ipv4\":\"198.51.100.10\"}]}";

static struct converge *setup(char *dir, size_t dirlen)
{
	struct cloudd_config cfg = { 0 };

	memset(&fake, 0, sizeof(fake));
	log_set_level(LOG_LEVEL_ERROR);
	snprintf(dir, dirlen, "/tmp/node_converge.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(cfg.run_dir, sizeof(cfg.run_dir), "%s", dir);
	cfg.converge_interval = 5;
	return converge_new(&cfg, &fake_backend);
}

static void teardown(struct converge *c, const char *dir)
{
	char cmd[600];

	converge_free(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		perror("rm");
}

static int submit(struct converge *c, int revision, const char *restart, int with_a)
{
	char inst[1024], text[4096];
	struct errmsg err = { 0 };

	snprintf(inst, sizeof(inst), inst_a, restart);
	snprintf(text, sizeof(text), doc_text, revision, with_a ? inst : "");
	return converge_submit(c, text, strlen(text), "test", &err);
}

static const char *status_of(struct converge *c, const char *id, char *out, size_t outlen)
{
	json_t *st = converge_actual(c), *v;
	size_t i;

	snprintf(out, outlen, "absent");
	json_array_foreach(json_object_get(st, "instances"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
			snprintf(out, outlen, "%s%s", json_string_value(json_object_get(v, "status")),
				 json_object_get(v, "held") ? "+held" : "");
	json_decref(st);
	return out;
}

TEST(converge_builds_in_order_then_is_idle)
{
	char dir[64], s[64];
	struct converge *c = setup(dir, sizeof(dir));
	json_t *st;

	CHECK(c != NULL);
	CHECK_INT(submit(c, 1, "on-failure", 1), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t vol:a/root net start:a ");
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "running");
	fake.calls[0] = '\0';
	converge_pass(c);
	CHECK_STR(fake.calls, ""); /* idempotent: nothing left to do */
	st = converge_actual(c);
	CHECK(json_is_true(json_object_get(st, "converged")));
	json_decref(st);
	teardown(c, dir);
}

TEST(converge_template_failure_blocks_volume_and_start)
{
	char dir[64], s[64];
	struct converge *c = setup(dir, sizeof(dir));
	json_t *st;

	fake.fail_template = 1;
	CHECK_INT(submit(c, 1, "on-failure", 1), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t net ");
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "error");
	st = converge_actual(c);
	CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(json_object_get(st, "instances"), 0), "error")),
		       "template t is not available: sha256 mismatch");
	json_decref(st);
	fake.calls[0] = '\0';
	converge_pass(c); /* back-off: the fetch is not retried at once */
	CHECK_STR(fake.calls, "");
	teardown(c, dir);
}

TEST(converge_network_failure_keeps_guest_off)
{
	char dir[64], s[64];
	struct converge *c = setup(dir, sizeof(dir));

	fake.fail_network = 1;
	CHECK_INT(submit(c, 1, "on-failure", 1), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t vol:a/root net ");
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "error");
	teardown(c, dir);
}

TEST(converge_restart_policies)
{
	char dir[64], s[64];
	struct converge *c = setup(dir, sizeof(dir));

	CHECK_INT(submit(c, 1, "on-failure", 1), 0);
	converge_pass(c);
	/* the guest powers itself off: on-failure leaves it stopped */
	fake.running[0][0] = '\0';
	fake.powered_off = 1;
	fake.calls[0] = '\0';
	converge_pass(c);
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "stopped+held");
	CHECK_STR(fake.calls, "");
	/* a new revision with restart=always starts it again; a crash then restarts it */
	CHECK_INT(submit(c, 2, "always", 1), 0);
	converge_pass(c);
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "running");
	fake.running[0][0] = '\0';
	fake.powered_off = 0;
	fake.exit_code = 1;
	fake.calls[0] = '\0';
	converge_pass(c); /* observed; restarted after the back-off (it crashed right after start) */
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "stopped");
	teardown(c, dir);
}

TEST(converge_removed_instance_is_stopped_and_forgotten_volumes_kept)
{
	char dir[64], s[64];
	struct converge *c = setup(dir, sizeof(dir));
	json_t *st;

	CHECK_INT(submit(c, 1, "on-failure", 1), 0);
	converge_pass(c);
	CHECK_INT(submit(c, 2, "on-failure", 0), 0);
	fake.calls[0] = '\0';
	converge_pass(c);
	CHECK_STR(fake.calls, "stop:a net "); /* its NIC leaves the network too */
	converge_pass(c);
	CHECK_STR(fake.calls, "stop:a net forget:a ");
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "absent");
	st = converge_actual(c);
	CHECK_INT(json_array_size(json_object_get(st, "orphan_volumes")), 1);
	json_decref(st);
	teardown(c, dir);
}

TEST(converge_adopts_without_restarting)
{
	char dir[64], s[64];
	struct converge *c = setup(dir, sizeof(dir));

	snprintf(fake.running[0], STATE_ID_MAX, "a");
	snprintf(fake.volumes[0][0], STATE_ID_MAX, "a");
	snprintf(fake.volumes[0][1], STATE_ID_MAX, "root");
	fake.n_volumes = 1;
	CHECK_INT(submit(c, 1, "on-failure", 1), 0);
	CHECK_INT(converge_start(c), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t net "); /* no stop, no start */
	CHECK_STR(status_of(c, "a", s, sizeof(s)), "running");
	teardown(c, dir);
}

TEST(converge_rejects_bad_and_older_documents)
{
	char dir[64];
	struct converge *c = setup(dir, sizeof(dir));
	struct errmsg err = { 0 };
	json_t *st;

	CHECK_INT(submit(c, 5, "on-failure", 1), 0);
	CHECK_INT(submit(c, 4, "on-failure", 1), -1);
	CHECK_INT(submit(c, 6, "sometimes", 1), -1);
	CHECK_INT(converge_submit(c, "{", 1, "test", &err), -1);
	st = converge_actual(c);
	CHECK_INT(json_integer_value(json_object_get(st, "revision")), 5);
	CHECK_INT(json_integer_value(json_object_get(st, "rejected_total")), 3);
	CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(st, "last_error"), "message")),
		       "not valid JSON");
	json_decref(st);
	teardown(c, dir);
}

/* Instance a with "power" replaced by power (e.g. "\"running\",\"reboot\":2"). */
static int submit_power(struct converge *c, int revision, const char *power)
{
	char inst[1024], a[1024], text[4096], *p;
	struct errmsg err = { 0 };

	snprintf(a, sizeof(a), inst_a, "on-failure");
	p = strstr(a, "\"running\"");
	*p = '\0';
	snprintf(inst, sizeof(inst), "%s%s%s", a, power, p + strlen("\"running\""));
	snprintf(text, sizeof(text), doc_text, revision, inst);
	return converge_submit(c, text, strlen(text), "test", &err);
}

static long long reboot_of(struct converge *c, const char *id)
{
	json_t *st = converge_actual(c), *v;
	long long gen = -1;
	size_t i;

	json_array_foreach(json_object_get(st, "instances"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0 &&
		    json_is_integer(json_object_get(v, "reboot")))
			gen = json_integer_value(json_object_get(v, "reboot"));
	json_decref(st);
	return gen;
}

TEST(converge_reboot_generation_once_and_kept_across_restarts)
{
	char dir[64];
	struct converge *c = setup(dir, sizeof(dir));
	struct cloudd_config cfg = { 0 };

	CHECK_INT(submit_power(c, 1, "\"running\",\"reboot\":1"), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t vol:a/root net start:a "); /* a first boot satisfies generation 1 */
	CHECK_INT(reboot_of(c, "a"), 1);
	fake.calls[0] = '\0';
	CHECK_INT(submit_power(c, 2, "\"running\",\"reboot\":3"), 0);
	converge_pass(c);
	converge_pass(c);
	CHECK_STR(fake.calls, "reset:a "); /* once */
	CHECK_INT(reboot_of(c, "a"), 3);

	/* a new cloudd on the same run directory adopts a, without a reset */
	converge_free(c);
	snprintf(cfg.run_dir, sizeof(cfg.run_dir), "%s", dir);
	cfg.converge_interval = 5;
	c = converge_new(&cfg, &fake_backend);
	CHECK(c != NULL);
	fake.calls[0] = '\0';
	CHECK_INT(submit_power(c, 2, "\"running\",\"reboot\":3"), 0);
	CHECK_INT(converge_start(c), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t net ");
	CHECK_INT(reboot_of(c, "a"), 3);
	/* lowered: ignored; raised again above what was done: one reset */
	CHECK_INT(submit_power(c, 3, "\"running\",\"reboot\":2"), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t net ");
	CHECK_INT(submit_power(c, 4, "\"running\",\"reboot\":4"), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "fetch:t net reset:a ");
	/* stop: force quits QEMU without a power-down */
	fake.calls[0] = '\0';
	CHECK_INT(submit_power(c, 5, "\"stopped\",\"stop\":\"force\""), 0);
	converge_pass(c);
	CHECK_STR(fake.calls, "kill:a ");
	teardown(c, dir);
}
