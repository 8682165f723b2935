/* util.c -- small helpers of the controller: ids, random tokens, times, MACs, names */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "controller.h"

int util_random_hex(char *out, size_t outlen, size_t nbytes)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t got = 0;

	if (nbytes > sizeof(raw) || outlen < 2 * nbytes + 1) {
		errno = EINVAL;
		return -1;
	}
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

int util_new_id(char *out, size_t outlen, const char *prefix)
{
	char hex[17];
	int n;

	if (util_random_hex(hex, sizeof(hex), 8) < 0)
		return -1;
	n = snprintf(out, outlen, "%s-%s", prefix, hex);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

const char *util_time_str(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && outlen)
		out[0] = '\0';
	return out;
}

json_t *util_time_json(long long t)
{
	char s[32];

	if (t <= 0)
		return json_null();
	return json_string(util_time_str((time_t)t, s, sizeof(s)));
}

int util_mac_parse(const char *text, char out[18])
{
	size_t len = strlen(text);
	char sep;

	if (len != 17)
		return -1;
	sep = text[2];
	if (sep != ':' && sep != '-')
		return -1;
	for (size_t i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (text[i] != sep)
				return -1;
			out[i] = ':';
		} else {
			if (!isxdigit((unsigned char)text[i]))
				return -1;
			out[i] = (char)tolower((unsigned char)text[i]);
		}
	}
	out[17] = '\0';
	/* multicast (group bit) and all-zero MACs are never a NIC's address */
	{
		unsigned first;
		sscanf(out, "%2x", &first);
		if (first & 1)
			return -1;
		if (strcmp(out, "00:00:00:00:00:00") == 0)
			return -1;
	}
	return 0;
}

int util_name_valid(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return s[len - 1] != '-';
}

int util_version_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 64 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-' && c != '+')
			return 0;
	}
	return strcmp(s, "default") != 0;
}

int util_ipv4_valid(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

int util_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}
