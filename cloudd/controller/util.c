/* util.c -- small helpers of the controller: ids, random tokens, times, MACs, names */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "controller.h"
#include "netaddr.h"

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
	uint8_t mac[6];

	if (netaddr_parse_mac(text, NETADDR_MAC_DASH | NETADDR_MAC_UNICAST, mac) < 0)
		return -1;
	netaddr_format_mac(mac, out);
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

int util_json_string(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	int rc = 0;

	if (s == NULL)
		return buf_append(out, "null", 4);
	rc |= buf_append(out, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		rc |= buf_append(out, run, (size_t)((const char *)p - run));
		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', (char)*p };
			rc |= buf_append(out, esc, 2);
		} else {
			char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
			rc |= buf_append(out, esc, 6);
		}
		run = (const char *)p + 1;
	}
	rc |= buf_puts(out, run);
	rc |= buf_append(out, "\"", 1);
	return rc ? -1 : 0;
}

int util_json_int(struct buf *out, long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return buf_append(out, p, (size_t)(digits + sizeof(digits) - p));
}

/* Formats without printf: listings write thousands of these. */
int util_json_time(struct buf *out, long long t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char s[24];
	int f[6], pos = 0;

	if (t <= 0)
		return buf_append(out, "null", 4);
	gmtime_r(&tt, &tm);
	f[0] = tm.tm_year + 1900, f[1] = tm.tm_mon + 1, f[2] = tm.tm_mday;
	f[3] = tm.tm_hour, f[4] = tm.tm_min, f[5] = tm.tm_sec;
	s[pos++] = '"';
	s[pos++] = (char)('0' + f[0] / 1000 % 10);
	s[pos++] = (char)('0' + f[0] / 100 % 10);
	for (int i = 0; i < 6; i++) {
		int v = i == 0 ? f[0] % 100 : f[i];
		s[pos++] = (char)('0' + v / 10 % 10);
		s[pos++] = (char)('0' + v % 10);
		s[pos++] = "--T::Z"[i];
	}
	s[pos++] = '"';
	return buf_append(out, s, (size_t)pos);
}
