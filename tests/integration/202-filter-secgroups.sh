#!/usr/bin/env bash
# filter security groups: TCP/UDP/ICMP allowed and denied both ways, port ranges, CIDRs, group members changing, egress default switching
# timeout: 500
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
require_root
require_cmd nft ip ping
filter_need_kernel "$0" "$@"

filter_topology
filter_tools
export PROBE_TIMEOUT=2
filter_guest a i-a 0 52:54:00:00:0a:01 198.51.100.10 2001:db8:100::10
filter_guest b i-b 0 52:54:00:00:0b:01 198.51.100.11 2001:db8:100::11
filter_guest c i-c 0 52:54:00:00:0c:01 198.51.100.12 2001:db8:100::12
# d: a machine elsewhere on the segment (behind the uplink): its port is not a guest's
netns_add "d$TEST_ID"
ip -n "$FH" link add "up$TEST_ID" type veth peer name eth0 netns "d$TEST_ID"
ip -n "$FH" link set "up$TEST_ID" master br0 up
ip -n "d$TEST_ID" link set eth0 up
ip -n "d$TEST_ID" addr add 198.51.100.50/24 dev eth0

# doc B_GROUPS C_GROUPS CLIENT_MEMBERS WEB_EGRESS(0|1) > FILE
doc() {
	local egress=""
	[ "$4" = 0 ] || egress=', { "direction": "egress", "protocol": "udp", "ports": "53", "cidr": "198.51.100.1/32" }'
	cat <<EOF
{
  "version": 1, "revision": 1,
  "network": { "bridge": "br0", "address": "198.51.100.1/24", "gateway": "198.51.100.1" },
  "security_groups": [
    { "id": "web", "rules": [
        { "direction": "ingress", "protocol": "tcp", "ports": "80", "cidr": "198.51.100.0/24" },
        { "direction": "ingress", "protocol": "tcp", "ports": "8000-8100", "group": "client" },
        { "direction": "ingress", "protocol": "udp", "ports": "5353", "group": "client" },
        { "direction": "ingress", "protocol": "icmp", "icmp_type": 8, "cidr": "198.51.100.11/32" },
        { "direction": "ingress", "protocol": "icmpv6", "icmp_type": 128, "group": "client" }$egress
    ] },
    { "id": "client", "members": [$3] },
    { "id": "other", "rules": [ { "direction": "ingress", "protocol": "tcp", "ports": "22", "cidr": "198.51.100.0/24" } ] }
  ],
  "instances": [
    { "id": "i-a", "nics": [ { "mac": "52:54:00:00:0a:01", "ipv4": "198.51.100.10", "ipv6": "2001:db8:100::10", "security_groups": ["web"] } ] },
    { "id": "i-b", "nics": [ { "mac": "52:54:00:00:0b:01", "ipv4": "198.51.100.11", "ipv6": "2001:db8:100::11", "security_groups": [$1] } ] },
    { "id": "i-c", "nics": [ { "mac": "52:54:00:00:0c:01", "ipv4": "198.51.100.12", "ipv6": "2001:db8:100::12", "security_groups": [$2] } ] }
  ]
}
EOF
}

serve a tcp 80 7999 8000 8050 8100 8101
serve a udp 5353
serve b tcp 22
serve c tcp 22
serve node tcp 9000
serve node udp 53
serve d tcp 8050

doc '"client"' '"other"' '' 0 >"$TEST_TMP/v1.json"
filter_apply "$TEST_TMP/v1.json"

log "v1: b is in client, c in other; web allows tcp 80 from the subnet, 8000-8100 and udp 5353 from client, ping from b"
expect_ok "b -> a tcp 80 (cidr)" probe b tcp 198.51.100.10 80
expect_ok "c -> a tcp 80 (cidr)" probe c tcp 198.51.100.10 80
expect_ok "b -> a tcp 8000 (range start, group)" probe b tcp 198.51.100.10 8000
expect_ok "b -> a tcp 8100 (range end, group)" probe b tcp 198.51.100.10 8100
expect_ok "b -> a tcp 8050 over IPv6 (group)" probe b tcp 2001:db8:100::10 8050
expect_fail "b -> a tcp 7999 (below the range)" probe b tcp 198.51.100.10 7999
expect_fail "b -> a tcp 8101 (above the range)" probe b tcp 198.51.100.10 8101
expect_fail "c -> a tcp 8050 (c not in client)" probe c tcp 198.51.100.10 8050
expect_fail "d -> a tcp 8050 (d not in client)" probe d tcp 198.51.100.10 8050
expect_ok "b -> a udp 5353 (group)" probe b udp 198.51.100.10 5353
expect_fail "c -> a udp 5353" probe c udp 198.51.100.10 5353
expect_ok "b -> a ping (icmp type 8 from 198.51.100.11/32)" ping_ok b 198.51.100.10
expect_fail "c -> a ping" ping_ok c 198.51.100.10
expect_ok "b -> a ping6 (icmpv6 128 from client)" ping_ok b 2001:db8:100::10
expect_fail "c -> a ping6" ping_ok c 2001:db8:100::10
expect_ok "node -> a tcp 80 (node address in the cidr)" probe node tcp 198.51.100.10 80
expect_fail "node -> a tcp 8000" probe node tcp 198.51.100.10 8000
expect_fail "a -> b tcp 22 (client has no ingress rule)" probe a tcp 198.51.100.11 22
expect_ok "a -> c tcp 22 (other allows 22 from the subnet)" probe a tcp 198.51.100.12 22
expect_ok "a -> node tcp 9000 (egress open)" probe a tcp 198.51.100.1 9000
expect_ok "a -> d tcp 8050 (egress open, d unfiltered)" probe a tcp 198.51.100.50 8050

log "v2: c joins client, b leaves it, d (elsewhere) becomes a member: only set elements change"
doc '' '"other", "client"' '"198.51.100.50"' 0 >"$TEST_TMP/v2.json"
ip netns exec "$FH" "$CLOUDD" filter apply --state "$TEST_TMP/v2.json" --from "$TEST_TMP/v1.json" --dry-run >"$TEST_TMP/v1-v2.nft"
cat "$TEST_TMP/v1-v2.nft"
grep -q . "$TEST_TMP/v1-v2.nft" || fail "no change computed"
if grep -v -E '^(add|delete) element bridge cloudd g_client_v[46] \{$|^	[0-9a-f.:]+,$|^\}$' "$TEST_TMP/v1-v2.nft" | grep -q .; then
	fail "a membership change touched more than the group's member sets"
fi
filter_apply "$TEST_TMP/v2.json" --from "$TEST_TMP/v1.json"
expect_ok "c -> a tcp 8050 (c joined client)" probe c tcp 198.51.100.10 8050
expect_ok "c -> a udp 5353" probe c udp 198.51.100.10 5353
expect_ok "d -> a tcp 8050 (d listed as a member)" probe d tcp 198.51.100.10 8050
expect_fail "b -> a tcp 8050 (b left client)" probe b tcp 198.51.100.10 8050
expect_ok "b -> a tcp 80 (cidr rule still)" probe b tcp 198.51.100.10 80

log "v3: the first egress rule appears in web: a's egress becomes deny-by-default"
doc '' '"other", "client"' '"198.51.100.50"' 1 >"$TEST_TMP/v3.json"
filter_apply "$TEST_TMP/v3.json" --from "$TEST_TMP/v2.json"
expect_fail "a -> node tcp 9000 (egress now restricted)" probe a tcp 198.51.100.1 9000
expect_fail "a -> d tcp 8050 (egress now restricted)" probe a tcp 198.51.100.50 8050
expect_ok "a -> node udp 53 (the egress rule)" probe a udp 198.51.100.1 53
expect_ok "c -> a tcp 8050 (replies of inbound flows still leave)" probe c tcp 198.51.100.10 8050
ip netns exec "$FH" "$CLOUDD" filter status --state "$TEST_TMP/v3.json" >"$TEST_TMP/status.json"
/usr/bin/python3 - "$TEST_TMP/status.json" "$PORT_a" <<'EOF' || fail "status does not count a's egress drops"
import json, sys
st = json.load(open(sys.argv[1]))
port = [p for p in st["ports"] if p["name"] == sys.argv[2]][0]
web = [g for g in st["security_groups"] if g["id"] == "web"][0]
assert port["drops"].get("sg_egress", 0) >= 2, port
assert web["egress"] == "restricted", web
EOF

log "v2 again: the egress rule goes away, egress is open again"
filter_apply "$TEST_TMP/v2.json" --from "$TEST_TMP/v3.json"
expect_ok "a -> node tcp 9000 (egress open again)" probe a tcp 198.51.100.1 9000

log "the same via a full replace gives the same table as the incremental path"
ip netns exec "$FH" nft list table bridge cloudd | grep -v -E 'handle|^\s*$' | sed 's/packets [0-9]* bytes [0-9]*//' >"$TEST_TMP/incremental.txt"
filter_apply "$TEST_TMP/v2.json"
ip netns exec "$FH" nft list table bridge cloudd | grep -v -E 'handle|^\s*$' | sed 's/packets [0-9]* bytes [0-9]*//' >"$TEST_TMP/full.txt"
/usr/bin/python3 - "$TEST_TMP/incremental.txt" "$TEST_TMP/full.txt" <<'EOF' || fail "incremental and full tables differ"
import sys, re
def norm(path):
    # element order within a set is not significant; drop the dynamic drop counters
    text = open(path).read()
    text = re.sub(r"set drops \{.*?\n\t\}", "", text, flags=re.S)
    return sorted(l.strip().rstrip(",") for l in text.splitlines() if l.strip())
a, b = norm(sys.argv[1]), norm(sys.argv[2])
if a != b:
    import difflib
    sys.stdout.writelines(difflib.unified_diff([l + "\n" for l in a], [l + "\n" for l in b]))
    sys.exit(1)
EOF
log "all security group cases behaved"
