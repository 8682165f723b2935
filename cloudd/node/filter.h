/* filter.h -- guest L2/L3 filters: anti-spoofing and security groups in one nftables bridge table */
#ifndef CLOUDD_FILTER_H
#define CLOUDD_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "desired.h"
#include "errmsg.h"
#include "port.h"
#include "secgroup.h"

/*
 * cloudd owns one nftables table, `bridge cloudd`, and nobody else edits it.
 * Its layout (docs/filters.md) keeps the per-packet cost independent of the
 * number of guests: ports are looked up in sets and verdict maps keyed by
 * interface name, group members are named sets, and only the rules of the
 * port's own groups are walked. Every change is one `nft -f` transaction.
 *
 * The flow for the daemon:
 *
 *     state_parse(text, len, &doc, &err)         validate (proto/desired.c)
 *     filter_model_from_doc(&doc, &model, &err)  build (pure)
 *     filter_sync(&model, &err)                  apply: full replace on the
 *                                                first call, then incremental
 *     filter_metrics(&buf), filter_status_json() for /metrics, GET /v1/filters
 *
 * filter_sync must run before the guest's QEMU is started, so a guest never
 * runs unfiltered; the tap name is port_ifname(instance id, nic index).
 */

#define FILTER_TABLE_FAMILY "bridge"
#define FILTER_TABLE_NAME "cloudd"
/*
 * The base chains' priority: after bridge conntrack (nf_conntrack_bridge hooks
 * prerouting at -200, so ct state is known) and before br_netfilter (0). With
 * br_netfilter loaded, a frame it passes through the IP hooks re-enters the
 * bridge hooks only above its own priority: a chain at 0 would be skipped.
 */
#define FILTER_PRIORITY "-190"
#define FILTER_NFT_DEFAULT "nft" /* found in PATH; CLOUDD_NFT overrides */
#define FILTER_MAX_PORTS 4096
#define FILTER_MAX_GROUPS_PER_NIC STATE_MAX_NIC_GROUPS
#define FILTER_DROPS_SET_SIZE 65536 /* (port, reason) drop counters */

/* One guest NIC, as the filters see it. */
struct filter_port {
	char ifname[GUEST_IFNAME_MAX]; /* port_ifname(instance, nic) */
	char instance[STATE_ID_MAX];
	int nic;	     /* index in instances[].nics[] */
	uint8_t mac[6];
	int has_ipv4;
	uint8_t ipv4[4];
	int has_ipv6;
	uint8_t ipv6[16];
	uint8_t ipv6_ll[16]; /* fe80::/64 + modified EUI-64 of mac */
	size_t n_groups;
	char groups[FILTER_MAX_GROUPS_PER_NIC][SECGROUP_ID_MAX];
};

/* Everything the table is computed from. */
struct filter_model {
	struct filter_port *ports; /* sorted by ifname, unique */
	size_t n_ports;
	struct secgroup_set groups; /* members include this node's NICs in the group */
};

/* --- model (filter_model.c) --- */

/*
 * Builds the model from a parsed desired-state document (state_parse, or
 * state_parse_filters for `cloudd filter`): its security groups and the NICs
 * of every instance whose power is not "deleted", this node's NICs added to
 * the members of their groups. The parser has checked every field and
 * reference; this fails only past FILTER_MAX_PORTS or on ENOMEM. 0, or -1
 * with err.
 */
int filter_model_from_doc(const struct state_doc *doc, struct filter_model *out, struct errmsg *err);
/* The same, but the model takes doc's security groups instead of copying them (doc is freed next). */
int filter_model_take_doc(struct state_doc *doc, struct filter_model *out, struct errmsg *err);
void filter_model_free(struct filter_model *model);
int filter_model_copy(struct filter_model *dst, const struct filter_model *src);
const struct filter_port *filter_model_port(const struct filter_model *model, const char *ifname);
/* fe80::/64 with the modified EUI-64 interface identifier of mac */
void filter_ipv6_link_local(const uint8_t mac[6], uint8_t out[16]);

/* --- ruleset generation (filter_gen.c): pure functions of the model --- */

/*
 * Appends the nft script that replaces the whole table with the model's, in
 * one transaction (add table; delete table; table { ... }). 0 or -1 ENOMEM.
 */
int filter_gen_full(const struct filter_model *model, struct buf *out);
/*
 * Appends the nft script that turns the table of `old` into the table of
 * `new` touching only what differs: set elements for membership and
 * addresses, one port's chains for a port, one group's chains for its rules.
 * Appends nothing when they are equal. 0 or -1 ENOMEM.
 */
int filter_gen_update(const struct filter_model *old, const struct filter_model *new, struct buf *out);

/* The drop reasons counted per port (docs/filters.md). */
extern const char *const filter_drop_reasons[];

/* --- applying and reporting (filter.c) --- */

/*
 * Runs `nft -f -` with script on stdin (one transaction: all or nothing).
 * nft's diagnostics go into err. 0, or -1 (err set).
 */
int filter_nft_apply(const char *script, struct errmsg *err);
/* Runs nft with args (NULL-terminated) and collects its stdout. 0 or -1 (err set). */
int filter_nft_run(const char *const *args, const char *input, struct buf *output, struct errmsg *err);

/*
 * Makes the table match model. The first call of the process (and any call
 * after a failure) replaces the table whole in one transaction, so a cloudd
 * restart never opens or closes traffic in between; later calls apply only
 * the difference from the last applied model (one transaction, falling back
 * to a full replace if nft refuses it). On failure the table keeps the last
 * applied filters and err says why. Thread-safe.
 */
int filter_sync(const struct filter_model *model, struct errmsg *err);

/*
 * Appends the filter metrics in Prometheus text format: drops per port and
 * reason (cloudd_filter_drops_total{port,instance,nic,reason}), ports, groups,
 * rules, the last apply's duration and result. One `nft -j list set` call.
 */
int filter_metrics(struct buf *out);

/*
 * The filter state for GET /v1/filters: table, ports (name, instance, nic,
 * mac, addresses, groups, drops by reason), groups (rules, members), last
 * apply (mode, duration, error). A new reference, or NULL on ENOMEM.
 */
json_t *filter_status_json(void);

/*
 * `cloudd filter ...`: argv[0] is "filter".
 *   apply --state FILE [--from FILE] [--dry-run]   validate FILE, apply it (or print
 *                                     the script); --from: the table holds FILE's
 *                                     filters already, apply only the difference
 *   check --state FILE                validate only
 *   status | metrics [--state FILE]   print GET /v1/filters or the metrics
 *   port INSTANCE-ID NIC-INDEX        print port_ifname
 *   flush                             delete the table
 * Exit codes: 0 ok, 100 invalid document or usage, 111 nft failed.
 */
int filter_cli(int argc, char **argv);

#endif
