/* template.c -- template files fetched once per node (http or a local path), sha256-verified, cached by checksum */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <nettle/sha2.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "sign.h"
#include "template.h"

int template_path(const char *cache_dir, const char *sha256, char *out, size_t outlen)
{
	int n;

	if (!sign_sha256_hex_valid(sha256)) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(out, outlen, "%s/%s", cache_dir, sha256);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int template_sha256_file(const char *file, char out[65])
{
	struct sha256_ctx ctx;
	char chunk[65536];
	ssize_t r;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	sha256_init(&ctx);
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		sha256_update(&ctx, (size_t)r, (const uint8_t *)chunk);
	if (r < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	sign_sha256_final_hex(&ctx, out);
	return 0;
}

/* template_fetch_policy's settings (read by the converge thread, written once before it starts) */
static struct {
	struct netaddr_list allow;
	struct netaddr_origin controller;
	int have_controller;
} fetch_policy;

void template_fetch_policy(const struct netaddr_list *allow, const char *controller_url)
{
	memset(&fetch_policy, 0, sizeof(fetch_policy));
	if (allow)
		fetch_policy.allow = *allow;
	fetch_policy.have_controller = controller_url && netaddr_url_origin(controller_url, &fetch_policy.controller) == 0;
}

/* A download or copy in progress: the temporary file, its hash and size so far. */
struct fetch {
	int fd;
	struct sha256_ctx ctx;
	unsigned long long size, max;
	int write_errno;
	int too_big;
	char refused[INET6_ADDRSTRLEN + 64]; /* "ADDR (why)": the last connection refused by fetch_open_socket */
};

/* This node's own addresses, each a network of one (interfaces' addresses as they are now). */
static void fetch_own_addresses(struct netaddr_list *own)
{
	struct ifaddrs *ifa;

	memset(own, 0, sizeof(*own));
	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		struct netaddr a;
		if (i->ifa_addr && netaddr_from_sockaddr(i->ifa_addr, &a) == 0 && netaddr_special(&a) == NULL &&
		    netaddr_list_add(own, &a) < 0)
			break;
	}
	freeifaddrs(ifa);
}

/*
 * curl's socket opener, for every connection of a tenant's URL (each
 * redirect, each address a name resolved to): the address is the one that
 * will be connected, so a name that resolves differently now than when the
 * controller checked it (DNS rebinding) gains nothing.
 */
static curl_socket_t fetch_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
	struct fetch *f = arg;
	struct netaddr_list own;
	struct netaddr a;
	const char *why;
	char text[INET6_ADDRSTRLEN];

	if (purpose != CURLSOCKTYPE_IPCXN || netaddr_from_sockaddr(&sa->addr, &a) < 0) {
		snprintf(f->refused, sizeof(f->refused), "an address of family %d", sa->family);
		return CURL_SOCKET_BAD;
	}
	fetch_own_addresses(&own);
	why = netaddr_forbidden(&a, &own, "this node's own address", &fetch_policy.allow);
	if (why) {
		snprintf(f->refused, sizeof(f->refused), "%s (%s)", netaddr_format(&a, text, sizeof(text)), why);
		log_warn("template download: refused to connect to %s", f->refused);
		return CURL_SOCKET_BAD;
	}
	return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

/* 1 when url is at the controller's origin (template_fetch_policy) */
static int fetch_from_controller(const char *url)
{
	struct netaddr_origin o;

	return fetch_policy.have_controller && netaddr_url_origin(url, &o) == 0 &&
	       netaddr_same_origin(&o, &fetch_policy.controller);
}

static int fetch_write(struct fetch *f, const void *data, size_t len)
{
	const char *p = data;
	size_t off = 0;

	if (f->max && f->size + len > f->max) {
		f->too_big = 1;
		return -1;
	}
	while (off < len) {
		ssize_t w = write(f->fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			f->write_errno = errno;
			return -1;
		}
		off += (size_t)w;
	}
	sha256_update(&f->ctx, len, data);
	f->size += len;
	return 0;
}

static size_t fetch_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;

	if (fetch_write(f, data, size * nmemb) < 0)
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	return size * nmemb;
}

static int fetch_http(struct fetch *f, const char *url, struct errmsg *err)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	CURLcode rc;
	long status = 0;

	if (c == NULL) {
		errmsg_set(err, "", "cannot initialise the HTTP client");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (!fetch_from_controller(url)) {
		curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, fetch_open_socket);
		curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, f);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http");
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)TEMPLATE_CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)TEMPLATE_FETCH_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc == CURLE_OK)
		return 0;
	if (f->too_big)
		errmsg_set(err, "", "%s: larger than the declared %llu bytes", url, f->max);
	else if (rc == CURLE_WRITE_ERROR && f->write_errno)
		errmsg_set(err, "", "%s: writing the download: %s", url, strerror(f->write_errno));
	else if (rc == CURLE_HTTP_RETURNED_ERROR)
		errmsg_set(err, "", "%s: HTTP %ld", url, status);
	else if (rc == CURLE_COULDNT_CONNECT && f->refused[0])
		errmsg_set(err, "", "%s: refused to connect to %s: templates are not fetched from there"
			   " (template-allow-cidrs opens a network)", url, f->refused);
	else
		errmsg_set(err, "", "%s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
	errno = f->write_errno ? f->write_errno : EIO;
	return -1;
}

static int fetch_copy(struct fetch *f, const char *path, struct errmsg *err)
{
	char chunk[65536];
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		errmsg_set(err, "", "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
		if (fetch_write(f, chunk, (size_t)r) < 0) {
			if (f->too_big)
				errmsg_set(err, "", "%s: larger than the declared %llu bytes", path, f->max);
			else
				errmsg_set(err, "", "copying %s: %s", path, strerror(f->write_errno));
			close(fd);
			errno = f->write_errno ? f->write_errno : EFBIG;
			return -1;
		}
	}
	if (r < 0) {
		errmsg_set(err, "", "reading %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int template_ensure(const char *cache_dir, const char *url, const char *path, const char *sha256,
		    unsigned long long max_size, char *out, size_t outlen, struct errmsg *err)
{
	char final[PATH_MAX], partial[PATH_MAX], got[65];
	struct fetch f = { .fd = -1 };
	struct stat st;
	int n;

	if (template_path(cache_dir, sha256, final, sizeof(final)) < 0) {
		errmsg_set(err, "", errno == EINVAL ? "not a sha256 (64 lower-case hex digits): \"%s\"" :
			   "cache path too long for %s", sha256);
		return -1;
	}
	if (out) {
		n = snprintf(out, outlen, "%s", final);
		if (n < 0 || (size_t)n >= outlen) {
			errmsg_set(err, "", "template path too long");
			errno = ENAMETOOLONG;
			return -1;
		}
	}
	if (stat(final, &st) == 0 && S_ISREG(st.st_mode))
		return 0;
	if ((url == NULL || *url == '\0') == (path == NULL || *path == '\0')) {
		errmsg_set(err, "", "a template needs exactly one of url and path");
		errno = EINVAL;
		return -1;
	}
	if (fs_mkdir_p(cache_dir, 0755, 0755) < 0) {
		errmsg_set(err, "", "creating %s: %s", cache_dir, strerror(errno));
		return -1;
	}
	n = snprintf(partial, sizeof(partial), "%s/.partial-%s-%d", cache_dir, sha256, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(partial)) {
		errmsg_set(err, "", "cache path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	f.fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f.fd < 0) {
		errmsg_set(err, "", "creating %s: %s", partial, strerror(errno));
		return -1;
	}
	f.max = max_size ? max_size : TEMPLATE_MAX_BYTES;
	sha256_init(&f.ctx);
	if ((url && *url ? fetch_http(&f, url, err) : fetch_copy(&f, path, err)) < 0)
		goto err_partial;
	if (fsync(f.fd) < 0 || close(f.fd) < 0) {
		f.fd = -1;
		errmsg_set(err, "", "writing %s: %s", partial, strerror(errno));
		goto err_partial;
	}
	f.fd = -1;
	sign_sha256_final_hex(&f.ctx, got);
	if (strcmp(got, sha256) != 0) {
		errmsg_set(err, "", "checksum mismatch for %s: expected sha256 %s, got %s (%llu bytes)",
			   url && *url ? url : path, sha256, got, f.size);
		errno = EBADMSG;
		goto err_partial;
	}
	if (rename(partial, final) < 0) {
		errmsg_set(err, "", "renaming into the cache: %s", strerror(errno));
		goto err_partial;
	}
	log_info("template %s: cached %llu bytes from %s", sha256, f.size, url && *url ? url : path);
	return 0;

err_partial:
	n = errno;
	if (f.fd >= 0)
		close(f.fd);
	unlink(partial);
	errno = n;
	return -1;
}

int template_check_image(const char *file, const char *format, struct errmsg *err)
{
	char *argv[] = { "qemu-img", "info", "--output=json", "-U", (char *)file, NULL };
	char why[sizeof(err->msg)];
	json_t *info;
	const char *fmt;

	if (proc_run_json(argv, 30000, &info, why, sizeof(why)) < 0) {
		errmsg_set(err, "", "qemu-img info %s failed: %s", file, why);
		errno = EIO;
		return -1;
	}
	fmt = json_string_value(json_object_get(info, "format"));
	if (fmt == NULL || strcmp(fmt, format) != 0) {
		errmsg_set(err, "", "template is a %s image, not %s", fmt ? fmt : "unknown", format);
		json_decref(info);
		errno = EINVAL;
		return -1;
	}
	if (json_object_get(info, "backing-filename") != NULL) {
		errmsg_set(err, "", "template has a backing file of its own (%s): refused",
			   json_string_value(json_object_get(info, "backing-filename")));
		json_decref(info);
		errno = EINVAL;
		return -1;
	}
	json_decref(info);
	return 0;
}
