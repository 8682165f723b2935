/* guestnet.h -- the node's guest network: bridge, persistent taps, and a supervised dnsmasq with static leases */
#ifndef CLOUDD_GUESTNET_H
#define CLOUDD_GUESTNET_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "errmsg.h"

#define GUESTNET_IP_TIMEOUT_MS 10000
#define GUESTNET_LEASE_TIME "12h"
#define GUESTNET_DHCP_BACKOFF_MAX_MS 60000 /* between restarts of a dnsmasq that keeps dying */

/*
 * Creates the bridge when missing, sets its MTU (0 = leave) and brings it up,
 * makes `cidr` ("198.51.100.1/24") its only IPv4 address (and cidr6 its
 * IPv6 address when not empty), enslaves uplink when not empty. One
 * `ip -batch` run; idempotent.
 */
int guestnet_bridge_ensure(const char *bridge, const char *cidr, const char *cidr6, const char *uplink,
			   unsigned mtu, struct errmsg *err);

/*
 * A persistent tap (TUNSETIFF + TUNSETPERSIST) named ifname, attached to the
 * bridge and up. Idempotent. Nobody but root may attach to it (no
 * TUNSETOWNER): its QEMU gets a descriptor from guestnet_tap_open.
 */
int guestnet_tap_ensure(const char *ifname, const char *bridge, unsigned mtu, struct errmsg *err);
int guestnet_tap_delete(const char *ifname, struct errmsg *err);
/*
 * A descriptor (O_CLOEXEC) attached to the existing tap ifname, with the
 * flags QEMU expects of -netdev tap,fd= (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR);
 * -1 with err (ENODEV when the tap is missing, EBUSY when something holds it).
 */
int guestnet_tap_open(const char *ifname, struct errmsg *err);

struct guestnet_lease {
	char mac[18];
	char ipv4[16];
	char hostname[64]; /* "" = none */
};

/*
 * dnsmasq for the guests: bound to the bridge only, DHCP with static leases
 * only (dhcp-host from a hosts file; unknown MACs get nothing), no DNS. Files
 * in dir: dnsmasq.conf, hosts, leases, dnsmasq.log.
 */
struct guestnet_dhcp {
	char dir[PATH_MAX - 64]; /* room for the file names under it */
	char dnsmasq[PATH_MAX]; /* program, "dnsmasq" by default */
	pid_t pid;		/* our child, 0 when not running */
	char conf_hash[17];	/* of dnsmasq.conf as running */
	unsigned restarts;	/* after it died */
	long long next_start_ms;
};

void guestnet_dhcp_init(struct guestnet_dhcp *d, const char *dir, const char *dnsmasq);

/*
 * Writes the configuration and the hosts file and makes dnsmasq run with
 * them: started when not running, restarted when the configuration changed,
 * SIGHUP when only the leases changed. subnet_cidr is the bridge's address
 * ("198.51.100.1/24"); gateway and dns may be NULL/empty.
 */
int guestnet_dhcp_apply(struct guestnet_dhcp *d, const char *bridge, const char *subnet_cidr,
			const char *gateway, const char *const *dns, size_t n_dns,
			const struct guestnet_lease *leases, size_t n_leases, struct errmsg *err);

/* Supervision: reaps a dead dnsmasq and starts it again (with back-off). 1 running, 0 not. */
int guestnet_dhcp_check(struct guestnet_dhcp *d);
void guestnet_dhcp_stop(struct guestnet_dhcp *d);

/*
 * The dnsmasq.conf text for the arguments, rendered from the compiled-in
 * template pxe/dnsmasq-guests.conf.in into out (pure; exposed for tests).
 */
int guestnet_dhcp_conf(const char *dir, const char *bridge, const char *subnet_cidr, const char *gateway,
		       const char *const *dns, size_t n_dns, struct buf *out, struct errmsg *err);

#endif
