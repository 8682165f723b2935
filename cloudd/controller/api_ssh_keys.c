/* api_ssh_keys.c -- /v1/ssh-keys: public keys an account puts into its instances, validated */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define SSH_KEY_MAX 16384 /* bytes of one public key line */

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes standard base64 (with padding); -1 on anything else. */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
	size_t o = 0;

	if (len == 0 || len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		for (int j = 0; j < 4; j++) {
			v[j] = in[i + j] == '=' && i + 4 == len && j >= 2 ? 0 : b64_value((unsigned char)in[i + j]);
			if (v[j] < 0)
				return -1;
		}
		if (in[i + 2] == '=' && in[i + 3] != '=')
			return -1;
		unsigned n = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		int k = in[i + 2] == '=' ? 1 : in[i + 3] == '=' ? 2 : 3;
		if (o + (size_t)k > outlen)
			return -1;
		out[o++] = (unsigned char)(n >> 16);
		if (k > 1)
			out[o++] = (unsigned char)(n >> 8);
		if (k > 2)
			out[o++] = (unsigned char)n;
	}
	return (long)o;
}

static int ssh_get_string(const unsigned char *b, long len, long *off, const unsigned char **s, unsigned *slen)
{
	unsigned n;

	if (*off + 4 > len)
		return -1;
	n = (unsigned)b[*off] << 24 | (unsigned)b[*off + 1] << 16 | (unsigned)b[*off + 2] << 8 | b[*off + 3];
	if (n > (unsigned)(len - *off - 4))
		return -1;
	*s = b + *off + 4;
	*slen = n;
	*off += 4 + n;
	return 0;
}

/*
 * Checks "TYPE BASE64 [comment]": a known type, base64 whose blob starts with
 * the same type, and a sensible length (RSA >= 2048 bits). Fills type and bits.
 */
int ssh_key_check(const char *text, char type[32], int *bits, char *why, size_t whylen)
{
	static const char *const types[] = { "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
					     "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
					     "sk-ecdsa-sha2-nistp256@openssh.com", NULL };
	const char *sp = strchr(text, ' '), *b64, *end;
	unsigned char *blob = NULL;
	const unsigned char *s;
	unsigned slen;
	long len, off = 0;
	int ok = 0;

	*bits = 0;
	for (const char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20) {
			snprintf(why, whylen, "one line expected (control character at byte %zu)", (size_t)(p - text));
			return -1;
		}
	if (sp == NULL || (size_t)(sp - text) >= 32) {
		snprintf(why, whylen, "expected \"TYPE BASE64 [COMMENT]\", e.g. \"ssh-ed25519 AAAA... user@host\"");
		return -1;
	}
	snprintf(type, 32, "%.*s", (int)(sp - text), text);
	for (const char *const *t = types; *t; t++)
		ok |= strcmp(*t, type) == 0;
	if (!ok) {
		snprintf(why, whylen, "unknown key type \"%s\" (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-*)", type);
		return -1;
	}
	b64 = sp + 1;
	end = strchr(b64, ' ');
	if (end == NULL)
		end = b64 + strlen(b64);
	blob = malloc((size_t)(end - b64));
	if (blob == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	len = b64_decode(b64, (size_t)(end - b64), blob, (size_t)(end - b64));
	if (len < 0) {
		snprintf(why, whylen, "the key is not valid base64");
		goto err;
	}
	if (ssh_get_string(blob, len, &off, &s, &slen) < 0 || slen != strlen(type) || memcmp(s, type, slen) != 0) {
		snprintf(why, whylen, "the key's data does not start with its type %s", type);
		goto err;
	}
	if (strcmp(type, "ssh-ed25519") == 0) {
		if (ssh_get_string(blob, len, &off, &s, &slen) < 0 || slen != 32 || off != len) {
			snprintf(why, whylen, "an ed25519 key holds 32 bytes");
			goto err;
		}
		*bits = 256;
	} else if (strcmp(type, "ssh-rsa") == 0) {
		const unsigned char *e, *n;
		unsigned elen, nlen;
		if (ssh_get_string(blob, len, &off, &e, &elen) < 0 || ssh_get_string(blob, len, &off, &n, &nlen) < 0 ||
		    off != len || elen == 0 || nlen == 0) {
			snprintf(why, whylen, "a truncated or malformed RSA key");
			goto err;
		}
		while (nlen && *n == 0)
			n++, nlen--;
		*bits = (int)nlen * 8;
		if (*bits < 2048) {
			snprintf(why, whylen, "RSA keys need at least 2048 bits, this one has %d", *bits);
			goto err;
		}
	} else {
		if (ssh_get_string(blob, len, &off, &s, &slen) < 0 || ssh_get_string(blob, len, &off, &s, &slen) < 0 ||
		    slen < 32) {
			snprintf(why, whylen, "a truncated or malformed %s key", type);
			goto err;
		}
		*bits = (int)(slen - 1) * 4;
	}
	free(blob);
	return 0;
err:
	free(blob);
	return -1;
}

static int keys_add(struct controller *ctrl, const struct auth_principal *who,
		    struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "name", "public_key", "account", NULL };
	struct ssh_key_create_req r;
	struct op_error err;
	char account[40];
	json_t *doc, *key = NULL;
	int rc = 0;

	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || api_get_string(doc, "name", 1, 63, &r.name, resp) < 0 ||
	    api_get_string(doc, "public_key", 1, SSH_KEY_MAX, &r.public_key, resp) < 0 ||
	    named_create_check(ctrl, who, doc, r.name, account, resp) < 0)
		goto out;
	r.account = account;
	rc = op_reply(resp, ssh_key_create(ctrl, &r, &key, &err), &err, 201, &key);
out:
	json_decref(doc);
	return rc;
}

static int keys_list(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_list(ctrl, req, resp, &ssh_key_kind, tenant_scope(who), NULL);
}

static int keys_show(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_show(ctrl, who, req, resp, &ssh_key_kind);
}

static int keys_rm(struct controller *ctrl, const struct auth_principal *who,
		   struct httpd_request *req, struct httpd_response *resp)
{
	return named_reply_delete(ctrl, who, req, resp, ssh_key_delete);
}

static const struct api_route_def ssh_key_routes[] = {
	{ "GET", "/v1/ssh-keys", keys_list, API_ADMIN | API_USER, "the account's SSH public keys", NULL },
	{ "POST", "/v1/ssh-keys", keys_add, API_ADMIN | API_USER,
	  "register a public key (validated)",
	  "{\"type\":\"object\",\"required\":[\"name\",\"public_key\"],\"additionalProperties\":false,"
	  "\"properties\":{\"name\":{\"type\":\"string\"},\"public_key\":{\"type\":\"string\"},"
	  "\"account\":{\"type\":\"string\"}}}" },
	{ "GET", "/v1/ssh-keys/{id}", keys_show, API_ADMIN | API_USER, "one key (id or name)", NULL },
	{ "DELETE", "/v1/ssh-keys/{id}", keys_rm, API_ADMIN | API_USER, "remove a key", NULL },
};

int api_ssh_keys_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, ssh_key_routes, NULL);
}
