/* httpc.c -- a small blocking HTTP client over libcurl, with signed requests for the controller API */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "httpc.h"

int httpc_init(void)
{
	return curl_global_init(CURL_GLOBAL_NOTHING) == CURLE_OK ? 0 : -1;
}

static size_t httpc_write(char *data, size_t size, size_t n, void *cls)
{
	struct httpc_response *out = cls;
	size_t len = size * n;

	if (out->body.len + len > HTTPC_MAX_RESPONSE || buf_append(&out->body, data, len) < 0)
		return 0; /* aborts the transfer */
	return len;
}

void httpc_response_free(struct httpc_response *r)
{
	buf_free(&r->body);
}

/* Progress callback: a nonzero *abort ends the transfer (checked about once a second, or on traffic). */
static int httpc_progress(void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return __atomic_load_n((const int *)cls, __ATOMIC_RELAXED) != 0;
}

static __thread const int *httpc_abort_flag;

void httpc_set_abort(const int *flag)
{
	httpc_abort_flag = flag;
}

static int httpc_perform(const char *method, const char *url, const char *const *headers, size_t nheaders,
			 const void *body, size_t body_len, FILE *upload, unsigned long long upload_len,
			 long timeout_seconds, struct httpc_response *out);

int httpc_request(const char *method, const char *url, const char *const *headers, size_t nheaders,
		  const void *body, size_t body_len, long timeout_seconds, struct httpc_response *out)
{
	return httpc_perform(method, url, headers, nheaders, body, body_len, NULL, 0, timeout_seconds, out);
}

static int httpc_perform(const char *method, const char *url, const char *const *headers, size_t nheaders,
			 const void *body, size_t body_len, FILE *upload, unsigned long long upload_len,
			 long timeout_seconds, struct httpc_response *out)
{
	const int *abort = httpc_abort_flag;
	struct curl_slist *list = NULL;
	CURL *c;
	CURLcode rc;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	buf_puts(&out->body, "");
	c = curl_easy_init();
	if (c == NULL) {
		snprintf(out->error, sizeof(out->error), "cannot initialise libcurl");
		return -1;
	}
	for (size_t i = 0; i < nheaders; i++) {
		struct curl_slist *l = curl_slist_append(list, headers[i]);
		if (l == NULL)
			goto out;
		list = l;
	}
	/* no "Expect: 100-continue" round trip */
	list = curl_slist_append(list, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, httpc_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_seconds);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_seconds < 10 ? timeout_seconds : 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	if (abort) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, httpc_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)abort);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	} else if (upload) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, upload);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_len);
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(out->error, sizeof(out->error), "%s: %s", url, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	ret = 0;
out:
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
	return ret;
}

int httpc_signed(const struct httpc_cred *cred, const char *method, const char *path,
		 const struct sign_query_arg *args, size_t nargs, const char *body, size_t body_len,
		 long timeout_seconds, struct httpc_response *out)
{
	char sig[SIGN_HEX_LEN + 1], auth[SIGN_MAX_HEADER + 32], *query, *url = NULL;
	const char *headers[2];
	size_t nheaders = 0;
	long long expires = (long long)time(NULL) + (cred->lifetime > 0 ? cred->lifetime : SIGN_DEFAULT_LIFETIME);
	int n, rc;

	memset(out, 0, sizeof(*out));
	query = sign_canonical_query(args, nargs);
	if (query == NULL) {
		snprintf(out->error, sizeof(out->error), "out of memory");
		return -1;
	}
	if (cred->key_id) {
		if (sign_request(cred->secret, method, path, query, body, body_len, expires, sig) < 0 ||
		    (n = snprintf(auth, sizeof(auth), "Authorization: "), n < 0) ||
		    sign_authorization(auth + n, sizeof(auth) - (size_t)n, cred->key_id, expires, sig) < 0) {
			snprintf(out->error, sizeof(out->error), "cannot sign the request: %s", strerror(errno));
			free(query);
			return -1;
		}
		headers[nheaders++] = auth;
	}
	if (body)
		headers[nheaders++] = "Content-Type: application/json";
	if (asprintf(&url, "%s%s%s%s", cred->url, path, query[0] ? "?" : "", query) < 0) {
		free(query);
		snprintf(out->error, sizeof(out->error), "out of memory");
		return -1;
	}
	free(query);
	rc = httpc_request(method, url, headers, nheaders, body, body_len, timeout_seconds, out);
	free(url);
	return rc;
}

int httpc_signed_upload(const struct httpc_cred *cred, const char *method, const char *path, FILE *f,
			unsigned long long len, const char *sha256_hex, long timeout_seconds, struct httpc_response *out)
{
	char sig[SIGN_HEX_LEN + 1], auth[SIGN_MAX_HEADER + 32], digest[SIGN_HEX_LEN + 48], *sts, *url = NULL;
	const char *headers[3] = { auth, digest, "Content-Type: application/octet-stream" };
	long long expires = (long long)time(NULL) + SIGN_MAX_LIFETIME; /* a large file takes a while to start */
	int n, rc;

	memset(out, 0, sizeof(*out));
	sts = sign_string(method, path, "", sha256_hex, expires);
	if (sts == NULL) {
		snprintf(out->error, sizeof(out->error), "out of memory");
		return -1;
	}
	sign_hmac_hex(cred->secret, strlen(cred->secret), sts, strlen(sts), sig);
	free(sts);
	n = snprintf(auth, sizeof(auth), "Authorization: ");
	snprintf(digest, sizeof(digest), "X-Cloudd-Content-Sha256: %s", sha256_hex);
	if (sign_authorization(auth + n, sizeof(auth) - (size_t)n, cred->key_id, expires, sig) < 0 ||
	    asprintf(&url, "%s%s", cred->url, path) < 0) {
		snprintf(out->error, sizeof(out->error), "cannot sign the request: %s", strerror(errno));
		return -1;
	}
	rc = httpc_perform(method, url, headers, 3, NULL, 0, f, len, timeout_seconds, out);
	free(url);
	return rc;
}
