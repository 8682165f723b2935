/* template.h -- template files fetched once per node (http or a local path), sha256-verified, cached by checksum */
#ifndef CLOUDD_TEMPLATE_H
#define CLOUDD_TEMPLATE_H

#include <limits.h>
#include <stddef.h>

#include "errmsg.h"
#include "netaddr.h"

#define TEMPLATE_FETCH_TIMEOUT 600	/* seconds for one download */
#define TEMPLATE_CONNECT_TIMEOUT 10	/* seconds to connect */
#define TEMPLATE_MAX_BYTES (256ULL << 30) /* a template larger than this is refused */

/*
 * The cache is a directory of files named by their sha256 (lower-case hex):
 * <cache_dir>/<sha256>. A file is only ever put there by rename after its
 * checksum matched, so anything in the cache is complete and verified.
 * Downloads go to <cache_dir>/.partial-<sha256>-<pid> first and are removed
 * on any failure.
 */

/* <cache_dir>/<sha256>; -1 ENAMETOOLONG, EINVAL when sha256 is not 64 hex digits. */
int template_path(const char *cache_dir, const char *sha256, char *out, size_t outlen);

/*
 * Where downloads may connect, set once at start-up before any fetch:
 * template URLs are a tenant's, so every address curl connects to (each
 * redirect hop, after DNS, whatever the name resolved to earlier) is checked
 * with netaddr_forbidden: loopback, unspecified, link-local, multicast and
 * this node's own addresses are refused unless inside allow (the node's
 * template-allow-cidrs; NULL: none). A URL at controller_url's origin
 * (scheme, host, port; NULL or "": none) is the controller serving an
 * uploaded template: fetched without the check, and without redirects.
 * Before any call nothing but the special addresses is refused.
 */
void template_fetch_policy(const struct netaddr_list *allow, const char *controller_url);

/*
 * Makes sure <cache_dir>/<sha256> exists: does nothing when it is cached,
 * else copies `path` or downloads `url` (http), verifying the checksum and,
 * when max_size > 0, that it is not larger. On error nothing is left behind
 * and err says why ("checksum mismatch: expected ..., got ...", "HTTP 404",
 * "No space left on device", "refused to connect to 127.0.0.1 (loopback)").
 */
int template_ensure(const char *cache_dir, const char *url, const char *path, const char *sha256,
		    unsigned long long max_size, char *out, size_t outlen, struct errmsg *err);

/*
 * Checks that a cached disk template is an image of the declared format
 * ("qcow2" or "raw") with no backing file of its own (a qcow2 whose backing
 * file names a host path would read the host's data), with qemu-img info.
 */
int template_check_image(const char *file, const char *format, struct errmsg *err);

/* sha256 of a file as 64 lower-case hex digits. */
int template_sha256_file(const char *file, char out[65]);

#endif
