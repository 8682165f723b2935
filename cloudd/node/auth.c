/* auth.c -- who may call cloudd: /health and /metrics anyone, everything else the controller's signed requests */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloudd.h"
#include "conf.h"
#include "sign.h"

#define NODE_AUTH_MAX_QUERY_ARGS 32

void node_auth_init(struct node_auth *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
}

void node_auth_free(struct node_auth *a)
{
	/* the derived keys are secrets: do not leave them in freed memory */
	explicit_bzero(a->keys, sizeof(a->keys));
	pthread_mutex_destroy(&a->lock);
}

/* A key id as sign_parse_authorization can carry it: no separators, not empty. */
static int node_auth_key_id_valid(const char *key_id)
{
	size_t len = strlen(key_id);

	return len > 0 && len <= SIGN_MAX_KEY_ID && strspn(key_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							"0123456789-_.:") == len;
}

int node_auth_set(struct node_auth *a, enum node_auth_source source, const char *key_id, const char *secret)
{
	struct node_auth_key k = { 0 };

	if (key_id && secret) {
		if (!node_auth_key_id_valid(key_id) || secret[0] == '\0') {
			errno = EINVAL;
			return -1;
		}
		snprintf(k.key_id, sizeof(k.key_id), "%s", key_id);
		sign_node_key(secret, k.sign_key);
		k.set = 1;
	}
	pthread_mutex_lock(&a->lock);
	a->keys[source] = k;
	pthread_mutex_unlock(&a->lock);
	explicit_bzero(&k, sizeof(k));
	return 0;
}

int node_auth_load_file(const char *path, char *key_id, size_t key_id_len, char *secret, size_t secret_len,
			struct errmsg *err)
{
	struct conf c = CONF_INIT;
	struct stat st;
	const char *key, *sec;
	char where[512];
	int rc = -1;

	if (stat(path, &st) < 0) {
		errmsg_set(err, "api-key-file", "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & 077) {
		errmsg_set(err, "api-key-file", "%s: readable or writable by others (mode %04o): chmod 600 it",
			   path, (unsigned)(st.st_mode & 07777));
		errno = EPERM;
		return -1;
	}
	if (conf_load_file(&c, path, err) < 0)
		goto out;
	if (conf_get_str(&c, "key", "", &key, err) < 0 || conf_get_str(&c, "secret", "", &sec, err) < 0)
		goto out;
	if (!node_auth_key_id_valid(key)) {
		errmsg_set(err, conf_where(&c, "key", where, sizeof(where)),
			   "expected a key id (1..%d of A-Z a-z 0-9 - _ . :), got \"%.80s\"", SIGN_MAX_KEY_ID, key);
		goto out;
	}
	if (sec[0] == '\0' || strlen(sec) >= secret_len) {
		errmsg_set(err, conf_where(&c, "secret", where, sizeof(where)), "expected a secret of 1..%zu characters",
			   secret_len - 1);
		goto out;
	}
	if (conf_check_unknown(&c, err) < 0)
		goto out;
	if (strlen(key) >= key_id_len) {
		errmsg_set(err, "api-key-file", "%s: key id too long", path);
		goto out;
	}
	strcpy(key_id, key);
	strcpy(secret, sec);
	rc = 0;
out:
	conf_free(&c);
	if (rc < 0)
		errno = EINVAL;
	return rc;
}

int node_auth_anonymous(const char *path)
{
	return strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0;
}

int node_auth_check(struct node_auth *a, const char *authorization, const char *method, const char *path,
		    const struct sign_query_arg *args, size_t nargs, const void *body, size_t body_len, time_t now,
		    char *why, size_t whylen)
{
	struct sign_auth auth;
	struct node_auth_key keys[NODE_AUTH_SOURCES];
	const char *reason = NULL, *sign_key = NULL;
	char expected[SIGN_HEX_LEN + 1], digest[SIGN_HEX_LEN + 1];
	char *query, *sts;
	int ok, found = 0;

	if (sign_parse_authorization(authorization, &auth, &reason) < 0) {
		snprintf(why, whylen, "%s", reason);
		return -1;
	}
	if (auth.expires < (long long)now - NODE_AUTH_PAST) {
		snprintf(why, whylen, "signature expired at %lld (now %lld, %d s of clock difference allowed)",
			 auth.expires, (long long)now, NODE_AUTH_PAST);
		return -1;
	}
	if (auth.expires > (long long)now + NODE_AUTH_FUTURE) {
		snprintf(why, whylen, "expires %lld is more than %d s after now (%lld)", auth.expires, NODE_AUTH_FUTURE,
			 (long long)now);
		return -1;
	}
	pthread_mutex_lock(&a->lock);
	memcpy(keys, a->keys, sizeof(keys));
	pthread_mutex_unlock(&a->lock);
	for (size_t i = 0; i < NODE_AUTH_SOURCES; i++)
		if (keys[i].set && strcmp(keys[i].key_id, auth.key_id) == 0) {
			sign_key = keys[i].sign_key;
			found = 1;
		}
	query = sign_canonical_query(args, nargs);
	sign_sha256_hex(body ? body : "", body ? body_len : 0, digest);
	sts = query ? sign_string(method, path, query, digest, auth.expires) : NULL;
	free(query);
	if (sts == NULL) {
		explicit_bzero(keys, sizeof(keys));
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	/* an unknown key is checked against a dummy key: same work, same answer */
	if (sign_key == NULL)
		sign_key = "unknown-key-dummy-secret";
	sign_hmac_hex(sign_key, strlen(sign_key), sts, strlen(sts), expected);
	ok = sign_equal(expected, auth.signature, SIGN_HEX_LEN) && found;
	free(sts);
	explicit_bzero(keys, sizeof(keys));
	explicit_bzero(expected, sizeof(expected));
	if (!ok) {
		snprintf(why, whylen, "bad signature or unknown key");
		return -1;
	}
	return 0;
}

int node_auth_gate(struct httpd_request *req, struct httpd_response *resp, void *ctx)
{
	struct node_auth *a = ctx;
	struct sign_query_arg args[NODE_AUTH_MAX_QUERY_ARGS];
	size_t nargs;
	char why[256];

	if (node_auth_anonymous(req->path))
		return 0;
	nargs = httpd_query_args(req, args, NODE_AUTH_MAX_QUERY_ARGS);
	if (nargs > NODE_AUTH_MAX_QUERY_ARGS)
		snprintf(why, sizeof(why), "more than %d query arguments", NODE_AUTH_MAX_QUERY_ARGS);
	else if (node_auth_check(a, httpd_header(req, "Authorization"), req->method, req->path, args, nargs, req->body,
				 req->body_len, time(NULL), why, sizeof(why)) == 0)
		return 0;
	log_debug("auth: %s %s refused: %s", req->method, req->path, why);
	if (httpd_add_header(resp, "WWW-Authenticate", SIGN_SCHEME) < 0 ||
	    httpd_reply_error(resp, 401, "unauthorized", "%s (only /health and /metrics answer unsigned requests)",
			      why) < 0)
		return -1;
	return 1;
}
