/* node_auth.c -- cloudd's request authentication: only the controller's signature (a key derived from the node's secret) opens anything but /health and /metrics */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cloudd/node/cloudd.h"
#include "unit.h"

#define NOW 1700000000LL

/* "Authorization" value for a request signed with secret-derived key sign_key */
static const char *authz(const char *key_id, const char *sign_key, const char *method, const char *path,
			 const char *query, long long expires)
{
	static char out[SIGN_MAX_HEADER + 1];
	char sig[SIGN_HEX_LEN + 1];

	if (sign_request(sign_key, method, path, query, NULL, 0, expires, sig) < 0 ||
	    sign_authorization(out, sizeof(out), key_id, expires, sig) < 0)
		return "";
	return out;
}

/* as the controller signs: with sign_node_key(secret) */
static const char *controller_authz(const char *key_id, const char *secret, const char *method, const char *path,
				    const char *query, long long expires)
{
	char key[SIGN_HEX_LEN + 1];

	sign_node_key(secret, key);
	return authz(key_id, key, method, path, query, expires);
}

static int check(struct node_auth *a, const char *authorization, const char *method, const char *path,
		 const struct sign_query_arg *args, size_t nargs, char *why)
{
	return node_auth_check(a, authorization, method, path, args, nargs, "", 0, (time_t)NOW, why, 256);
}

TEST(auth_anonymous_paths_are_health_and_metrics_only)
{
	CHECK_INT(node_auth_anonymous("/health"), 1);
	CHECK_INT(node_auth_anonymous("/metrics"), 1);
	CHECK_INT(node_auth_anonymous("/health/"), 0);
	CHECK_INT(node_auth_anonymous("/healthz"), 0);
	CHECK_INT(node_auth_anonymous("/v1/sysinfo"), 0);
	CHECK_INT(node_auth_anonymous("/v1/instances/i-1/console"), 0);
	CHECK_INT(node_auth_anonymous("/"), 0);
	CHECK_INT(node_auth_anonymous(""), 0);
}

TEST(auth_controller_signature_accepted)
{
	struct node_auth a;
	struct sign_query_arg args[] = { { "bytes", "10" } };
	char why[256] = "";

	node_auth_init(&a);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_ENROLLED, "ak-node1", "s3cret"), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/state",
			NULL, 0, why), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/instances/i-1/console", "bytes=10", NOW + 60),
			"GET", "/v1/instances/i-1/console", args, 1, why), 0);
	/* an unknown path is authenticated like any other (routing says 404 afterwards) */
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/no/such", "", NOW + 60), "GET", "/no/such",
			NULL, 0, why), 0);
	node_auth_free(&a);
}

TEST(auth_refuses_unsigned_other_keys_and_the_node_secret_itself)
{
	struct node_auth a;
	char why[256] = "";

	node_auth_init(&a);
	/* no key yet (before registration): nothing passes */
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/state",
			NULL, 0, why), -1);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_ENROLLED, "ak-node1", "s3cret"), 0);
	CHECK_INT(check(&a, NULL, "GET", "/v1/state", NULL, 0, why), -1);
	CHECK_CONTAINS(why, "no Authorization header");
	CHECK_INT(check(&a, "Basic YWRtaW46YWRtaW4=", "GET", "/v1/state", NULL, 0, why), -1);
	/* another node's key: its key id, or this key id with its secret */
	CHECK_INT(check(&a, controller_authz("ak-node2", "other", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/state",
			NULL, 0, why), -1);
	CHECK_STR(why, "bad signature or unknown key");
	CHECK_INT(check(&a, controller_authz("ak-node1", "other", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/state",
			NULL, 0, why), -1);
	/* signed with the node's secret itself, as the node signs its own requests: no replay the other way */
	CHECK_INT(check(&a, authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/state", NULL, 0,
			why), -1);
	/* the signature covers method, path and query */
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/sysinfo",
			NULL, 0, why), -1);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + 60), "DELETE", "/v1/state",
			NULL, 0, why), -1);
	{
		struct sign_query_arg args[] = { { "bytes", "1048576" } };
		CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/instances/i-1/console", "bytes=10",
						     NOW + 60),
				"GET", "/v1/instances/i-1/console", args, 1, why),
			  -1);
	}
	/* the credential withdrawn (the controller refused it): nothing passes */
	CHECK_INT(node_auth_set(&a, NODE_AUTH_ENROLLED, NULL, NULL), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + 60), "GET", "/v1/state",
			NULL, 0, why), -1);
	node_auth_free(&a);
}

TEST(auth_time_window)
{
	struct node_auth a;
	char why[256] = "";

	node_auth_init(&a);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_ENROLLED, "ak-node1", "s3cret"), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW - NODE_AUTH_PAST), "GET",
			"/v1/state", NULL, 0, why), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW - NODE_AUTH_PAST - 1), "GET",
			"/v1/state", NULL, 0, why), -1);
	CHECK_CONTAINS(why, "expired");
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + NODE_AUTH_FUTURE), "GET",
			"/v1/state", NULL, 0, why), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW + NODE_AUTH_FUTURE + 1),
			"GET", "/v1/state", NULL, 0, why), -1);
	CHECK_CONTAINS(why, "after now");
	node_auth_free(&a);
}

TEST(auth_key_file_and_enrolled_key_both_count)
{
	struct node_auth a;
	char why[256] = "";

	node_auth_init(&a);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_KEY_FILE, "ak-file", "filesecret"), 0);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_ENROLLED, "ak-node1", "s3cret"), 0);
	CHECK_INT(check(&a, controller_authz("ak-file", "filesecret", "GET", "/v1/state", "", NOW), "GET", "/v1/state",
			NULL, 0, why), 0);
	CHECK_INT(check(&a, controller_authz("ak-node1", "s3cret", "GET", "/v1/state", "", NOW), "GET", "/v1/state", NULL,
			0, why), 0);
	/* key ids pick the key: one source's id with the other's secret fails */
	CHECK_INT(check(&a, controller_authz("ak-file", "s3cret", "GET", "/v1/state", "", NOW), "GET", "/v1/state", NULL,
			0, why), -1);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_KEY_FILE, "bad key,id", "x"), -1);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_KEY_FILE, "ak-file", ""), -1);
	node_auth_free(&a);
}

TEST(auth_gate_answers_401_before_routing)
{
	struct node_auth a;
	struct httpd_request req = { .method = "GET", .path = "/v1/sysinfo", .body = "" };
	struct httpd_response resp;

	node_auth_init(&a);
	CHECK_INT(node_auth_set(&a, NODE_AUTH_KEY_FILE, "ak-file", "filesecret"), 0);
	httpd_response_init(&resp);
	CHECK_INT(node_auth_gate(&req, &resp, &a), 1);
	CHECK_INT(resp.status, 401);
	CHECK_CONTAINS(resp.body.data, "\"unauthorized\"");
	CHECK_STR(resp.headers[0].name, "WWW-Authenticate");
	CHECK_STR(resp.headers[0].value, "CLOUDD-HMAC-SHA256");
	httpd_response_free(&resp);
	req.path = "/health";
	httpd_response_init(&resp);
	CHECK_INT(node_auth_gate(&req, &resp, &a), 0);
	httpd_response_free(&resp);
	node_auth_free(&a);
}

static const char *write_key_file(const char *text, mode_t mode)
{
	static char path[] = "/tmp/node_auth_key.XXXXXX";
	int fd;

	strcpy(path, "/tmp/node_auth_key.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return NULL;
	}
	close(fd);
	chmod(path, mode);
	return path;
}

TEST(auth_key_file)
{
	char key_id[SIGN_MAX_KEY_ID + 1], secret[256], msg[1024];
	struct errmsg err = { 0 };
	const char *path;

	path = write_key_file("# a node key\nkey = ak-test\nsecret = \"abc123\"\n", 0600);
	CHECK(path != NULL);
	CHECK_INT(node_auth_load_file(path, key_id, sizeof(key_id), secret, sizeof(secret), &err), 0);
	CHECK_STR(key_id, "ak-test");
	CHECK_STR(secret, "abc123");
	unlink(path);

	path = write_key_file("key = ak-test\nsecret = abc\n", 0644);
	CHECK(path != NULL);
	CHECK_INT(node_auth_load_file(path, key_id, sizeof(key_id), secret, sizeof(secret), &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "chmod 600");
	unlink(path);

	err = (struct errmsg){ 0 };
	path = write_key_file("key = ak-test\n", 0600);
	CHECK_INT(node_auth_load_file(path, key_id, sizeof(key_id), secret, sizeof(secret), &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "secret");
	unlink(path);

	err = (struct errmsg){ 0 };
	path = write_key_file("key = ak test\nsecret = s\n", 0600);
	CHECK_INT(node_auth_load_file(path, key_id, sizeof(key_id), secret, sizeof(secret), &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), ":1: key");
	unlink(path);

	err = (struct errmsg){ 0 };
	path = write_key_file("key = ak-test\nsecret = s\nurl = http://x\n", 0600);
	CHECK_INT(node_auth_load_file(path, key_id, sizeof(key_id), secret, sizeof(secret), &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "url: unknown key");
	unlink(path);

	err = (struct errmsg){ 0 };
	CHECK_INT(node_auth_load_file("/nonexistent/key", key_id, sizeof(key_id), secret, sizeof(secret), &err), -1);
	CHECK_CONTAINS(errmsg_str(&err, msg, sizeof(msg)), "/nonexistent/key");
}
