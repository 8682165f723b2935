/* hostguard.h -- the node's own input policy towards its guests: table inet cloudd_host and the bridge's ARP settings */
#ifndef CLOUDD_HOSTGUARD_H
#define CLOUDD_HOSTGUARD_H

#include "buf.h"
#include "errmsg.h"

/*
 * Guests share a bridge with the node. Without a policy of its own the node
 * answers them on every local address: Linux delivers a packet for any local
 * address whatever interface it came in on, and answers ARP for any local
 * address on any interface. So a guest with a static route and a forged ARP
 * entry reaches the node's provisioning address (cloudd's port 8081, the
 * controller's side of the node) over the guest bridge.
 *
 * The host guard closes that:
 *
 *   table inet cloudd_host, hook input: what arrives from the bridge (iifname,
 *   whatever bridge port and whatever local address it is for) is accepted
 *   only when it belongs to a flow the node started (ct state
 *   established,related), is DHCP (udp 67) or DNS (udp/tcp 53) for the
 *   node's dnsmasq, or IPv6 neighbour discovery (router and neighbour
 *   solicitations and advertisements, without which guests cannot reach
 *   their IPv6 gateway); everything else is counted and dropped. The node
 *   serves no metadata address today; one added later needs its exception
 *   here.
 *
 *   net.ipv4.conf.BRIDGE.arp_ignore = 1 (answer ARP only for the bridge's own
 *   addresses) and arp_announce = 2 (ask with the bridge's address as
 *   sender), so no other address of the node is even announced to guests.
 *
 * The guest filters (table bridge cloudd, docs/filters.md) are separate:
 * they judge guest ports; this table judges what the node itself accepts.
 */

#define HOSTGUARD_TABLE "cloudd_host"
#define HOSTGUARD_SYSCTL_DIR "/proc/sys/net/ipv4/conf"

/* The nft script that replaces table inet cloudd_host for bridge (pure). 0, or -1 with err (bad name, ENOMEM). */
int hostguard_script(const char *bridge, struct buf *out, struct errmsg *err);

/*
 * Loads the table for bridge in one nft transaction (replacing any earlier
 * one, so a restart never opens a gap) and sets the bridge's ARP sysctls
 * under sysctl_dir (HOSTGUARD_SYSCTL_DIR). 0, or -1 with err.
 */
int hostguard_apply(const char *bridge, const char *sysctl_dir, struct errmsg *err);

#endif
