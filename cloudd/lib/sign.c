/* sign.c -- HMAC-SHA256 request signing: canonical query, string to sign, Authorization header */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "buf.h"
#include "sign.h"

static void sign_hex(const unsigned char *digest, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * len] = '\0';
}

void sign_sha256_final_hex(struct sha256_ctx *ctx, char hex[SIGN_HEX_LEN + 1])
{
	unsigned char digest[SHA256_DIGEST_SIZE];

	sha256_digest(ctx, sizeof(digest), digest);
	sign_hex(digest, sizeof(digest), hex);
}

int sign_sha256_hex_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == SIGN_HEX_LEN;
}

void sign_sha256_hex(const void *data, size_t len, char hex[SIGN_HEX_LEN + 1])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sign_sha256_final_hex(&ctx, hex);
}

void sign_hmac_hex(const char *key, size_t keylen, const void *data, size_t len,
		   char hex[SIGN_HEX_LEN + 1])
{
	struct hmac_sha256_ctx ctx;
	unsigned char digest[SHA256_DIGEST_SIZE];

	hmac_sha256_set_key(&ctx, keylen, (const uint8_t *)key);
	hmac_sha256_update(&ctx, len, data);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	sign_hex(digest, sizeof(digest), hex);
}

static int sign_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int sign_encode(struct buf *out, const char *s)
{
	static const char digits[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[3] = { '%', digits[*p >> 4], digits[*p & 15] };
		if (sign_unreserved(*p) ? buf_append(out, p, 1) : buf_append(out, esc, 3))
			return -1;
	}
	return 0;
}

static int sign_arg_cmp(const void *a, const void *b)
{
	const struct sign_query_arg *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

char *sign_canonical_query(const struct sign_query_arg *args, size_t n)
{
	struct sign_query_arg *sorted = NULL;
	struct buf out = BUF_INIT;

	if (n) {
		sorted = malloc(n * sizeof(*sorted));
		if (sorted == NULL)
			return NULL;
		memcpy(sorted, args, n * sizeof(*sorted));
		/* sorted on the decoded names and values, which client and server both have */
		qsort(sorted, n, sizeof(*sorted), sign_arg_cmp);
	}
	if (buf_puts(&out, "") < 0)
		goto err;
	for (size_t i = 0; i < n; i++) {
		if ((i && buf_puts(&out, "&") < 0) || sign_encode(&out, sorted[i].name) < 0 ||
		    buf_puts(&out, "=") < 0 || sign_encode(&out, sorted[i].value ? sorted[i].value : "") < 0)
			goto err;
	}
	free(sorted);
	return buf_steal(&out);
err:
	free(sorted);
	buf_free(&out);
	errno = ENOMEM;
	return NULL;
}

static int sign_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX and '+' (as a space, like form encoding) in place. */
static int sign_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '%') {
			int hi = sign_hexval(r[1]), lo = hi < 0 ? -1 : sign_hexval(r[2]);
			if (hi < 0 || lo < 0)
				return -1;
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r == '+' ? ' ' : *r;
		}
	}
	*w = '\0';
	return 0;
}

char *sign_canonical_query_string(const char *raw)
{
	struct sign_query_arg *args = NULL;
	size_t n = 0, cap = 0;
	char *copy, *save = NULL, *result = NULL;

	copy = strdup(raw ? raw : "");
	if (copy == NULL)
		return NULL;
	for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		if (sign_decode(tok) < 0 || (eq && sign_decode(eq) < 0)) {
			errno = EINVAL;
			goto out;
		}
		if (n == cap) {
			struct sign_query_arg *grown;
			cap = cap ? cap * 2 : 8;
			grown = realloc(args, cap * sizeof(*args));
			if (grown == NULL)
				goto out;
			args = grown;
		}
		args[n].name = tok;
		args[n].value = eq ? eq : "";
		n++;
	}
	result = sign_canonical_query(args, n);
out:
	free(args);
	free(copy);
	return result;
}

char *sign_string(const char *method, const char *path, const char *canonical_query,
		  const char *body_sha256_hex, long long expires)
{
	struct buf out = BUF_INIT;

	if (buf_printf(&out, "%s\n%s\n%s\n%s\n%s\n%lld", SIGN_SCHEME, method, path,
		       canonical_query ? canonical_query : "", body_sha256_hex, expires) < 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

int sign_request(const char *secret, const char *method, const char *path,
		 const char *canonical_query, const void *body, size_t body_len,
		 long long expires, char signature[SIGN_HEX_LEN + 1])
{
	char digest[SIGN_HEX_LEN + 1];
	char *sts;

	sign_sha256_hex(body ? body : "", body ? body_len : 0, digest);
	sts = sign_string(method, path, canonical_query, digest, expires);
	if (sts == NULL)
		return -1;
	sign_hmac_hex(secret, strlen(secret), sts, strlen(sts), signature);
	free(sts);
	return 0;
}

int sign_authorization(char *out, size_t outlen, const char *key_id, long long expires,
		       const char *signature)
{
	int n = snprintf(out, outlen, "%s key=%s,expires=%lld,signature=%s", SIGN_SCHEME, key_id,
			 expires, signature);

	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int sign_parse_authorization(const char *value, struct sign_auth *auth, const char **why)
{
	const char *p;
	int have_key = 0, have_expires = 0, have_sig = 0;

	memset(auth, 0, sizeof(*auth));
	if (value == NULL || value[0] == '\0') {
		*why = "no Authorization header (requests must be signed, see docs/api.md)";
		return -1;
	}
	if (strlen(value) > SIGN_MAX_HEADER) {
		*why = "Authorization header too long";
		return -1;
	}
	if (strncmp(value, SIGN_SCHEME " ", strlen(SIGN_SCHEME) + 1) != 0) {
		*why = "Authorization scheme is not " SIGN_SCHEME;
		return -1;
	}
	p = value + strlen(SIGN_SCHEME) + 1;
	while (*p == ' ')
		p++;
	while (*p) {
		const char *eq = strchr(p, '='), *end;
		size_t nlen, vlen;

		if (eq == NULL) {
			*why = "malformed Authorization header: expected name=value pairs";
			return -1;
		}
		end = strchr(eq, ',');
		if (end == NULL)
			end = eq + strlen(eq);
		nlen = (size_t)(eq - p);
		vlen = (size_t)(end - eq - 1);
		if (nlen == 3 && memcmp(p, "key", 3) == 0 && !have_key) {
			if (vlen == 0 || vlen > SIGN_MAX_KEY_ID) {
				*why = "malformed Authorization header: bad key";
				return -1;
			}
			memcpy(auth->key_id, eq + 1, vlen);
			have_key = 1;
		} else if (nlen == 7 && memcmp(p, "expires", 7) == 0 && !have_expires) {
			long long v = 0;
			if (vlen == 0 || vlen > 12) {
				*why = "malformed Authorization header: bad expires";
				return -1;
			}
			for (size_t i = 0; i < vlen; i++) {
				char c = eq[1 + i];
				if (c < '0' || c > '9') {
					*why = "malformed Authorization header: bad expires";
					return -1;
				}
				v = v * 10 + (c - '0');
			}
			auth->expires = v;
			have_expires = 1;
		} else if (nlen == 9 && memcmp(p, "signature", 9) == 0 && !have_sig) {
			if (vlen != SIGN_HEX_LEN) {
				*why = "malformed Authorization header: signature is not 64 hex digits";
				return -1;
			}
			for (size_t i = 0; i < vlen; i++) {
				char c = eq[1 + i];
				if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
					*why = "malformed Authorization header: signature is not lower-case hex";
					return -1;
				}
			}
			memcpy(auth->signature, eq + 1, vlen);
			have_sig = 1;
		} else {
			*why = "malformed Authorization header: unknown or repeated field";
			return -1;
		}
		p = *end ? end + 1 : end;
	}
	if (!have_key || !have_expires || !have_sig) {
		*why = "malformed Authorization header: needs key, expires and signature";
		return -1;
	}
	return 0;
}

void sign_node_key(const char *node_secret, char key[SIGN_HEX_LEN + 1])
{
	sign_hmac_hex(node_secret, strlen(node_secret), SIGN_NODE_KEY_CONTEXT, strlen(SIGN_NODE_KEY_CONTEXT), key);
}

int sign_equal(const char *a, const char *b, size_t len)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}
