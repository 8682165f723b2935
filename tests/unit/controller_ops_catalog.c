/* controller_ops_catalog.c -- SSH key, template, instance type, account and API key operations without HTTP: refusals and account scopes */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"
#include "unit.h"

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f a@host"
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* An operation's refusal: it returned -1 with this status and code (NULL: any code). */
static int refused(int rc, const struct op_error *err, int status, const char *code)
{
	if (rc == -1 && err->status == status && (code == NULL || strcmp(err->code, code) == 0))
		return 1;
	printf("  rc %d, status %d, code %s (%s); want -1, %d, %s\n", rc, err->status, err->code, err->message, status,
	       code ? code : "any");
	return 0;
}

/* A controller on a database in memory with accounts a and b; no data directory unless a test makes one. */
static struct controller *setup(void)
{
	static struct controller ctrl;
	struct errmsg err = { 0 };

	memset(&ctrl, 0, sizeof(ctrl));
	if (db_open(&ctrl.db, ":memory:", &err) < 0 ||
	    sqlite3_exec(ctrl.db.h, "INSERT INTO accounts VALUES ('acct-a', 'a', 0), ('acct-b', 'b', 0);", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "setup: %s\n", err.msg);
		abort();
	}
	return &ctrl;
}

TEST(ssh_key_create_show_delete_in_its_account)
{
	struct controller *ctrl = setup();
	struct ssh_key_create_req laptop = { "acct-a", "laptop", ED25519 };
	struct op_ref in_a = { "laptop", "acct-a", "ak-a" }, in_b = { "laptop", "acct-b", "ak-b" }, admin = { "laptop", NULL, "ak-0" };
	struct op_error err;
	json_t *key = NULL;
	char a_id[40];

	CHECK_INT(ssh_key_create(ctrl, &laptop, &key, &err), 0);
	CHECK_STR(json_string_value(json_object_get(key, "type")), "ssh-ed25519");
	CHECK_INT(json_integer_value(json_object_get(key, "bits")), 256);
	CHECK_STR(json_string_value(json_object_get(key, "account")), "acct-a");
	json_decref(key);
	/* refusals: the name is taken in the account, the key is not a key */
	CHECK(refused(ssh_key_create(ctrl, &laptop, &key, &err), &err, 409, "conflict"));
	CHECK(refused(ssh_key_create(ctrl, &(struct ssh_key_create_req){ "acct-a", "bad", "ssh-ed25519 AAAA!!" }, &key, &err), &err, 400, "bad_field"));
	CHECK_CONTAINS(err.message, "public_key: ");
	CHECK(refused(ssh_key_create(ctrl, &(struct ssh_key_create_req){ "acct-a", "dsa", "ssh-dss AAAA" }, &key, &err), &err, 400, NULL));
	CHECK_CONTAINS(err.message, "unknown key type");
	/* names are per account */
	CHECK_INT(ssh_key_create(ctrl, &(struct ssh_key_create_req){ "acct-b", "laptop", ED25519 }, &key, &err), 0);
	CHECK_STR(json_string_value(json_object_get(key, "account")), "acct-b");
	json_decref(key);

	/* account b sees and removes its own laptop, never a's */
	CHECK_INT(named_show(ctrl, &ssh_key_kind, &in_a, &key, &err), 0);
	CHECK_STR(json_string_value(json_object_get(key, "account")), "acct-a");
	snprintf(a_id, sizeof(a_id), "%s", json_string_value(json_object_get(key, "id")));
	json_decref(key);
	in_b.ref = a_id; /* a's key by its id, in b's scope */
	CHECK(refused(named_show(ctrl, &ssh_key_kind, &in_b, &key, &err), &err, 404, NULL));
	CHECK(refused(ssh_key_delete(ctrl, &in_b, &err), &err, 404, "not_found"));
	CHECK_CONTAINS(err.message, "no SSH key key-");
	in_b.ref = "laptop";
	CHECK_INT(ssh_key_delete(ctrl, &in_b, &err), 0);
	CHECK_INT(named_show(ctrl, &ssh_key_kind, &in_a, &key, &err), 0); /* a's is still there */
	json_decref(key);

	CHECK_INT(ssh_key_delete(ctrl, &in_a, &err), 0);
	CHECK(refused(ssh_key_delete(ctrl, &in_a, &err), &err, 404, NULL));
	CHECK(refused(named_show(ctrl, &ssh_key_kind, &admin, &key, &err), &err, 404, NULL));
	CHECK_STR(err.message, "no SSH key laptop");
	db_close(&ctrl->db);
}

TEST(instance_type_set_show_delete)
{
	struct controller *ctrl = setup();
	struct instance_type_req big = { "big-1", 8, 16384, 200, "ak-0" };
	struct op_ref ref = { "big-1", NULL, "ak-0" };
	struct op_error err;
	json_t *type = NULL;

	CHECK_INT(instance_type_set(ctrl, &big, &type, &err), 0);
	CHECK_STR(json_string_value(json_object_get(type, "name")), "big-1");
	CHECK_INT(json_integer_value(json_object_get(type, "memory_mib")), 16384);
	json_decref(type);
	big.vcpus = 16; /* replaced, not added */
	CHECK_INT(instance_type_set(ctrl, &big, &type, &err), 0);
	json_decref(type);
	CHECK_INT(named_show(ctrl, &instance_type_kind, &ref, &type, &err), 0);
	CHECK_INT(json_integer_value(json_object_get(type, "vcpus")), 16);
	CHECK_INT(json_integer_value(json_object_get(type, "disk_gib")), 200);
	json_decref(type);

	CHECK_INT(instance_type_delete(ctrl, &ref, &err), 0);
	CHECK(refused(named_show(ctrl, &instance_type_kind, &ref, &type, &err), &err, 404, NULL));
	CHECK(refused(instance_type_delete(ctrl, &ref, &err), &err, 404, "not_found"));
	CHECK_STR(err.message, "no instance type big-1");
	db_close(&ctrl->db);
}

/* template_create of a disk template at url (with an initrd at iurl, may be NULL) */
static int create_at(struct controller *ctrl, const char *name, const char *url, const char *iurl, struct op_error *err)
{
	struct template_create_req r = { .account = "acct-a", .name = name, .format = iurl ? "kernel" : "raw", .url = url,
					 .sha256 = SHA, .initrd_url = iurl, .initrd_sha256 = iurl ? SHA : NULL, .size = -1 };
	json_t *tpl = NULL;
	int rc = template_create(ctrl, &r, &tpl, err);

	json_decref(tpl);
	return rc;
}

TEST(template_urls_off_internal_networks)
{
	struct controller *ctrl = setup();
	struct op_error err;
	char bad[64];

	snprintf(ctrl->cfg.url, sizeof(ctrl->cfg.url), "http://192.0.2.50:8080");
	/* loopback, link-local (also inside IPv6), unspecified, multicast: 422 naming the field and the address */
	CHECK(refused(create_at(ctrl, "t1", "http://127.0.0.1/x", NULL, &err), &err, 422, "forbidden_address"));
	CHECK_CONTAINS(err.message, "url: address 127.0.0.1 is loopback");
	CHECK(refused(create_at(ctrl, "t1", "http://192.0.2.7/k", "http://[::ffff:169.254.169.254]/i", &err), &err, 422,
		      "forbidden_address"));
	CHECK_CONTAINS(err.message, "initrd.url: address ::ffff:169.254.169.254 is link-local");
	CHECK(refused(create_at(ctrl, "t1", "http://user@0.0.0.0:80/x", NULL, &err), &err, 422, "forbidden_address"));
	CHECK_CONTAINS(err.message, "0.0.0.0 is unspecified");
	CHECK(refused(create_at(ctrl, "t1", "http://[ff02::1]/x", NULL, &err), &err, 422, "forbidden_address"));
	/* the controller: its origin (which nodes trust), and its address on any other port */
	CHECK(refused(create_at(ctrl, "t1", "http://192.0.2.50:8080/templates/tpl-1/file", NULL, &err), &err, 422,
		      "forbidden_address"));
	CHECK_CONTAINS(err.message, "url: http://192.0.2.50:8080 is the controller");
	CHECK(refused(create_at(ctrl, "t1", "http://192.0.2.50:9000/x", NULL, &err), &err, 422, "forbidden_address"));
	CHECK_CONTAINS(err.message, "192.0.2.50 is the controller's own network");
	CHECK(refused(create_at(ctrl, "t1", "http://x:99999/x", NULL, &err), &err, 400, "bad_field"));
	CHECK_INT(named_count(&ctrl->db, "SELECT count(*) FROM templates WHERE ?1 IS NOT NULL", "x"), 0);
	/* elsewhere, fine; an admin's allow list opens its networks, never the controller's origin */
	CHECK_INT(create_at(ctrl, "ok1", "http://192.0.2.7/x", NULL, &err), 0);
	CHECK_INT(netaddr_parse_list("192.0.2.0/24, 127.0.0.0/8", &ctrl->cfg.template_allow, bad, sizeof(bad)), 0);
	CHECK_INT(create_at(ctrl, "ok2", "http://127.0.0.1:8081/x", NULL, &err), 0);
	CHECK_INT(create_at(ctrl, "ok3", "http://192.0.2.50:9000/x", NULL, &err), 0);
	CHECK(refused(create_at(ctrl, "t1", "http://192.0.2.50:8080/x", NULL, &err), &err, 422, "forbidden_address"));
	CHECK(refused(create_at(ctrl, "t1", "http://[::1]/x", NULL, &err), &err, 422, "forbidden_address"));
	CHECK_CONTAINS(err.message, "url: address ::1 is loopback");
	db_close(&ctrl->db);
}

TEST(template_scopes_and_refusals)
{
	struct controller *ctrl = setup();
	struct template_create_req disk = { .account = "acct-a", .name = "disk", .format = "raw", .url = "http://x/disk",
					    .sha256 = SHA, .size = 4096 };
	struct template_create_req shared = { .account = "acct-a", .name = "shared", .format = "qcow2", .url = "http://x/q",
					      .sha256 = SHA, .size = -1, .public = 1 };
	struct template_create_req up = { .account = "acct-b", .name = "up", .format = "kernel", .initrd_url = "", .size = -1,
					  .upload = 1 };
	struct op_ref disk_b = { "disk", "acct-b", "ak-b" }, shared_b = { "shared", "acct-b", "ak-b" }, shared_0 = { "shared", NULL, "ak-0" };
	char id[40], format[16], etag[96], path[PATH_MAX], dir[64] = "/tmp/controller-ops-catalog-XXXXXX";
	struct op_error err;
	json_t *tpl = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(ctrl->cfg.data_dir, sizeof(ctrl->cfg.data_dir), "%s", dir);
	CHECK_INT(template_create(ctrl, &disk, &tpl, &err), 0);
	CHECK_INT(json_integer_value(json_object_get(tpl, "size")), 4096);
	CHECK_STR(json_string_value(json_object_get(tpl, "state")), "ready");
	json_decref(tpl);
	CHECK(refused(template_create(ctrl, &disk, &tpl, &err), &err, 409, NULL));
	CHECK_STR(err.message, "a template named disk exists");
	CHECK_INT(template_create(ctrl, &shared, &tpl, &err), 0);
	CHECK(json_is_null(json_object_get(tpl, "size")));
	json_decref(tpl);

	/* b neither sees nor removes a's template; it sees the public one and may not remove it */
	CHECK(refused(named_show(ctrl, &template_kind, &disk_b, &tpl, &err), &err, 404, NULL));
	CHECK(refused(template_delete(ctrl, &disk_b, &err), &err, 404, NULL));
	CHECK_INT(named_show(ctrl, &template_kind, &shared_b, &tpl, &err), 0);
	json_decref(tpl);
	CHECK(refused(template_delete(ctrl, &shared_b, &err), &err, 403, "forbidden"));

	/* in use by an instance: kept */
	CHECK_INT(sqlite3_exec(ctrl->db.h, "INSERT INTO instances (id, account_id, name, type, vcpus, memory_mib, disk_gib,"
					  " template_id, mac, power, created_at, updated_at) SELECT 'i-1', 'acct-a', 'web', 'tiny', 1, 64,"
					  " 1, id, '52:54:00:aa:00:01', 'running', 0, 0 FROM templates WHERE name = 'shared'",
				  NULL, NULL, NULL), SQLITE_OK);
	CHECK(refused(template_delete(ctrl, &shared_0, &err), &err, 409, "in_use"));
	CHECK_INT(sqlite3_exec(ctrl->db.h, "DELETE FROM instances", NULL, NULL, NULL), SQLITE_OK);

	/* an upload goes to the owner's template, once per part; its files go with it */
	CHECK_INT(template_create(ctrl, &up, &tpl, &err), 0);
	CHECK_STR(json_string_value(json_object_get(tpl, "state")), "awaiting-upload");
	json_decref(tpl);
	CHECK(refused(template_upload_target(ctrl, &(struct op_ref){ "up", "acct-a", "ak-a" }, "file", id, format, &err), &err, 404, NULL));
	CHECK_INT(template_upload_target(ctrl, &(struct op_ref){ "up", "acct-b", "ak-b" }, "file", id, format, &err), 0);
	CHECK_STR(format, "kernel");
	CHECK(refused(template_file_etag(ctrl, id, "file", etag, sizeof(etag), &err), &err, 404, NULL));
	CHECK_INT(template_upload_done(ctrl, id, "file", "http://c/templates/x/file", SHA, 10, &tpl, &err), 0);
	json_decref(tpl);
	CHECK(refused(template_upload_target(ctrl, &(struct op_ref){ "up", NULL, "ak-0" }, "file", id, format, &err), &err, 409, NULL));
	CHECK_CONTAINS(err.message, "is in already");
	CHECK_INT(template_file_etag(ctrl, id, "file", etag, sizeof(etag), &err), 0);
	CHECK_STR(etag, "\"sha256-" SHA "\"");
	snprintf(path, sizeof(path), "%s/templates", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/templates/%s", dir, id);
	CHECK_INT(mkdir(path, 0755), 0);
	CHECK_INT(template_delete(ctrl, &(struct op_ref){ "up", "acct-b", "ak-b" }, &err), 0);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/templates", dir);
	CHECK_INT(rmdir(path), 0);
	CHECK_INT(rmdir(dir), 0);
	db_close(&ctrl->db);
}

TEST(accounts_and_api_keys)
{
	struct controller *ctrl = setup();
	struct api_key_create_req user = { "acct-a", NULL, "ci", "ak-0" };
	char key_id[72], secret[65], out[40];
	struct op_error err;
	json_t *account = NULL;

	CHECK_INT(account_create(ctrl, "c", &account, &err), 0);
	CHECK_STR(json_string_value(json_object_get(account, "name")), "c");
	CHECK_INT(json_integer_value(json_object_get(account, "api_keys")), 0);
	json_decref(account);
	CHECK(refused(account_create(ctrl, "c", &account, &err), &err, 409, NULL));
	CHECK_STR(err.message, "an account named c exists");
	CHECK_INT(account_resolve(&ctrl->db, "b", out, &err), 0);
	CHECK_STR(out, "acct-b");
	CHECK(refused(account_resolve(&ctrl->db, "nobody", out, &err), &err, 422, "unknown_account"));

	/* a user key sees its own account only, by id */
	CHECK(refused(account_show(ctrl, &(struct op_ref){ "acct-b", "acct-a", "ak-a" }, &account, &err), &err, 404, NULL));
	CHECK_INT(account_show(ctrl, &(struct op_ref){ "b", NULL, "ak-0" }, &account, &err), 0);
	CHECK_STR(json_string_value(json_object_get(account, "id")), "acct-b");
	json_decref(account);

	CHECK_INT(api_key_create(ctrl, &user, key_id, secret, &err), 0);
	CHECK_INT(account_show(ctrl, &(struct op_ref){ "acct-a", "acct-a", "ak-a" }, &account, &err), 0);
	CHECK_INT(json_integer_value(json_object_get(account, "api_keys")), 1);
	json_decref(account);
	/* revocation: not by the key itself, not from another account, once */
	CHECK(refused(api_key_revoke(ctrl, &(struct op_ref){ key_id, "acct-a", key_id }, &err), &err, 409, NULL));
	CHECK(refused(api_key_revoke(ctrl, &(struct op_ref){ key_id, "acct-b", "ak-b" }, &err), &err, 404, NULL));
	CHECK_INT(api_key_revoke(ctrl, &(struct op_ref){ key_id, "acct-a", "ak-a" }, &err), 0);
	CHECK(refused(api_key_revoke(ctrl, &(struct op_ref){ key_id, NULL, "ak-0" }, &err), &err, 404, "not_found"));
	db_close(&ctrl->db);
}
