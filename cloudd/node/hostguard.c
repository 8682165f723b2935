/* hostguard.c -- the node's own input policy towards its guests: table inet cloudd_host and the bridge's ARP settings */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "filter.h"
#include "hostguard.h"
#include "log.h"

/* An interface name nft and /proc/sys take as it is. */
static int hostguard_ifname_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len < 16 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

int hostguard_script(const char *bridge, struct buf *out, struct errmsg *err)
{
	if (!hostguard_ifname_valid(bridge)) {
		errmsg_set(err, "network.bridge", "not an interface name for the host guard: \"%.32s\"", bridge);
		errno = EINVAL;
		return -1;
	}
	if (buf_printf(out,
		       "add table inet " HOSTGUARD_TABLE "\n"
		       "delete table inet " HOSTGUARD_TABLE "\n"
		       "table inet " HOSTGUARD_TABLE " {\n"
		       "\tchain input {\n"
		       "\t\ttype filter hook input priority filter; policy accept;\n"
		       "\t\tiifname \"%s\" jump from_guests\n"
		       "\t}\n"
		       "\tchain from_guests {\n"
		       "\t\tct state established,related counter accept comment \"replies to the node's own flows\"\n"
		       "\t\tudp dport 67 accept comment \"DHCP\"\n"
		       "\t\tudp dport 53 accept comment \"DNS\"\n"
		       "\t\ttcp dport 53 accept comment \"DNS\"\n"
		       "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept"
		       " comment \"IPv6 neighbour discovery\"\n"
		       "\t\tcounter drop comment \"anything else from the guests to the node\"\n"
		       "\t}\n"
		       "}\n",
		       bridge) < 0) {
		errmsg_set(err, "", "out of memory");
		return -1;
	}
	return 0;
}

static int hostguard_sysctl(const char *sysctl_dir, const char *bridge, const char *name, const char *value,
			    struct errmsg *err)
{
	char path[512];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s/%s", sysctl_dir, bridge, name) >= (int)sizeof(path)) {
		errmsg_set(err, "", "sysctl path too long: %s/%s/%s", sysctl_dir, bridge, name);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		errmsg_set(err, "", "%s: %s", path, strerror(errno));
		return -1;
	}
	n = write(fd, value, strlen(value));
	if (n != (ssize_t)strlen(value)) {
		errmsg_set(err, "", "writing %s to %s: %s", value, path, n < 0 ? strerror(errno) : "short write");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int hostguard_apply(const char *bridge, const char *sysctl_dir, struct errmsg *err)
{
	struct buf script = BUF_INIT;
	int rc = -1;

	if (hostguard_script(bridge, &script, err) < 0)
		goto out;
	/* ARP first: the table drops IP, not ARP */
	if (hostguard_sysctl(sysctl_dir, bridge, "arp_ignore", "1\n", err) < 0 ||
	    hostguard_sysctl(sysctl_dir, bridge, "arp_announce", "2\n", err) < 0)
		goto out;
	if (filter_nft_apply(script.data, err) < 0)
		goto out;
	rc = 0;
out:
	buf_free(&script);
	return rc;
}
