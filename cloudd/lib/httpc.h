/* httpc.h -- a small blocking HTTP client over libcurl, with signed requests for the controller API */
#ifndef CLOUDD_HTTPC_H
#define CLOUDD_HTTPC_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "sign.h"

#define HTTPC_MAX_RESPONSE (16 * 1024 * 1024) /* bytes of a response body kept in memory */

struct httpc_response {
	long status;	 /* HTTP status, 0 when no response arrived */
	struct buf body; /* response body (NUL-terminated) */
	char error[256]; /* transport error when status is 0 */
};

/* Where and as whom: the server URL (http://host:port) and an API key. */
struct httpc_cred {
	const char *url;
	const char *key_id;
	const char *secret;
	long lifetime; /* seconds from now to the signature's expiry; 0 = SIGN_DEFAULT_LIFETIME */
};

/* Once per process, before threads start. */
int httpc_init(void);

/*
 * Sends one request. headers: "Name: value" strings. Returns 0 when a
 * response arrived (any status), -1 when none did (out->error says why).
 */
int httpc_request(const char *method, const char *url, const char *const *headers, size_t nheaders,
		  const void *body, size_t body_len, long timeout_seconds, struct httpc_response *out);

/*
 * Sends a request signed with cred (see sign.h) to cred->url + path with the
 * query args (sent in canonical order). A NULL cred->key_id sends it unsigned.
 */
int httpc_signed(const struct httpc_cred *cred, const char *method, const char *path,
		 const struct sign_query_arg *args, size_t nargs, const char *body, size_t body_len,
		 long timeout_seconds, struct httpc_response *out);

/*
 * PUTs (method) the open file f of len bytes to cred->url + path, streamed:
 * signed over its SHA-256 (sha256_hex), which the header
 * X-Cloudd-Content-Sha256 declares. Same returns as httpc_request.
 */
int httpc_signed_upload(const struct httpc_cred *cred, const char *method, const char *path, FILE *f,
			unsigned long long len, const char *sha256_hex, long timeout_seconds, struct httpc_response *out);

void httpc_response_free(struct httpc_response *r);

/*
 * For the calling thread's later requests: each ends soon (checked about once
 * a second) with an error once *flag is nonzero, so that a thread blocked in
 * a long poll can be stopped. NULL turns it off.
 */
void httpc_set_abort(const int *flag);

#endif
