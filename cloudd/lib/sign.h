/* sign.h -- HMAC-SHA256 request signing shared by cloudctl, cloud-controller and cloudd */
#ifndef CLOUDD_SIGN_H
#define CLOUDD_SIGN_H

#include <stddef.h>
#include <time.h>

/*
 * A request is signed with an API key id and its secret. The string to sign
 * is six lines joined by "\n" (no trailing newline):
 *
 *     CLOUDD-HMAC-SHA256
 *     <METHOD>                 upper case, e.g. GET
 *     <path>                   as sent, without the query string, e.g. /v1/machines
 *     <canonical query>        see sign_canonical_query, "" when there is none
 *     <body digest>            lower-case hex SHA-256 of the body ("" body too)
 *     <expires>                decimal Unix time after which the request is refused
 *
 * signature = lower-case hex HMAC-SHA256(secret, string to sign), sent as
 *
 *     Authorization: CLOUDD-HMAC-SHA256 key=<id>,expires=<unix>,signature=<hex>
 *
 * The canonical query is every argument as name=value, name and value
 * percent-encoded (RFC 3986: A-Z a-z 0-9 - . _ ~ kept, every other byte as %XX
 * in upper case), sorted by name then value (bytewise), joined by "&".
 */

#define SIGN_SCHEME "CLOUDD-HMAC-SHA256"
#define SIGN_HEX_LEN 64		    /* hex characters of a SHA-256 digest */
#define SIGN_MAX_KEY_ID 64	    /* bytes of a key id */
#define SIGN_MAX_HEADER 256	    /* bytes of an Authorization value */
#define SIGN_DEFAULT_LIFETIME 300   /* seconds a client signature is valid */
#define SIGN_MAX_LIFETIME 3600	    /* seconds: later expiry times are refused */

struct sign_query_arg {
	const char *name;
	const char *value; /* NULL is treated as "" */
};

/* hex (65 bytes with NUL) of SHA-256(data) */
void sign_sha256_hex(const void *data, size_t len, char hex[SIGN_HEX_LEN + 1]);

/* Finishes a streaming SHA-256 (nettle's sha256_init/update) into hex. */
struct sha256_ctx;
void sign_sha256_final_hex(struct sha256_ctx *ctx, char hex[SIGN_HEX_LEN + 1]);

/* 1 when s is exactly 64 lower-case hex characters (a SHA-256 as written here), else 0 */
int sign_sha256_hex_valid(const char *s);

/* hex of HMAC-SHA256(key, data) */
void sign_hmac_hex(const char *key, size_t keylen, const void *data, size_t len,
		   char hex[SIGN_HEX_LEN + 1]);

/*
 * Builds the canonical query of n arguments into a malloc'd string (sorts a
 * copy; args is left as it was). NULL with errno ENOMEM.
 */
char *sign_canonical_query(const struct sign_query_arg *args, size_t n);

/*
 * Splits a raw (still percent-encoded) query string "a=1&b=x%20y" and returns
 * its canonical form: what a client that builds its URL by hand signs.
 * NULL with errno EINVAL on a malformed escape.
 */
char *sign_canonical_query_string(const char *raw);

/* The string to sign (malloc'd), or NULL with errno. */
char *sign_string(const char *method, const char *path, const char *canonical_query,
		  const char *body_sha256_hex, long long expires);

/* Computes the signature of a request. Returns 0, or -1 with errno. */
int sign_request(const char *secret, const char *method, const char *path,
		 const char *canonical_query, const void *body, size_t body_len,
		 long long expires, char signature[SIGN_HEX_LEN + 1]);

/* Formats the Authorization value. Returns 0 or -1 (ENAMETOOLONG). */
int sign_authorization(char *out, size_t outlen, const char *key_id, long long expires,
		       const char *signature);

struct sign_auth {
	char key_id[SIGN_MAX_KEY_ID + 1];
	long long expires;
	char signature[SIGN_HEX_LEN + 1];
};

/*
 * Parses an Authorization value. Returns 0, or -1 with why (a static string
 * naming what is wrong) set.
 */
int sign_parse_authorization(const char *value, struct sign_auth *auth, const char **why);

/*
 * Requests from the controller to a node (its cloudd on port 8081) are signed
 * like any other, with the node's key id, but not with the node's secret: with
 * sign_node_key(secret) = hex HMAC-SHA256(secret, SIGN_NODE_KEY_CONTEXT).
 * Node-to-controller and controller-to-node signatures are made with
 * different keys, so neither can be replayed as the other.
 */
#define SIGN_NODE_KEY_CONTEXT "cloudd controller-to-node requests"
void sign_node_key(const char *node_secret, char key[SIGN_HEX_LEN + 1]);

/* Compares two strings of equal length in time independent of their contents. */
int sign_equal(const char *a, const char *b, size_t len);

#endif
