#!/usr/bin/env bash
# filter invalid documents: each rejected with the field named and exit 100, the filters in force unchanged
# timeout: 300
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
require_root
require_cmd nft ip
filter_need_kernel "$0" "$@"

filter_topology
filter_tools
filter_guest a i-a 0 52:54:00:00:0a:01 198.51.100.10
filter_guest b i-b 0 52:54:00:00:0b:01 198.51.100.11
serve a tcp 80 81

# doc RULE [NIC_GROUPS]: web with one rule besides the tcp 80 one
doc() {
	local groups="${2:-\"web\"}"
	cat <<EOF
{ "version": 1, "revision": 1,
  "security_groups": [ { "id": "web", "rules": [
      { "direction": "ingress", "protocol": "tcp", "ports": "80", "cidr": "198.51.100.0/24" }, $1 ] } ],
  "instances": [
    { "id": "i-a", "nics": [ { "mac": "52:54:00:00:0a:01", "ipv4": "198.51.100.10", "security_groups": [$groups] } ] },
    { "id": "i-b", "nics": [ { "mac": "52:54:00:00:0b:01", "ipv4": "198.51.100.11" } ] } ] }
EOF
}
doc '{ "direction": "ingress", "protocol": "icmp", "cidr": "198.51.100.0/24" }' >"$TEST_TMP/good.json"
filter_apply "$TEST_TMP/good.json" 2>/dev/null
# the whole ruleset but the drop counters (traffic, not configuration)
snapshot() {
	ip netns exec "$FH" nft list ruleset | awk '/^\tset drops \{/ { skip = 1 } !skip { print } skip && /^\t\}/ { skip = 0 }'
}
snapshot >"$TEST_TMP/before.nft"
probe b tcp 198.51.100.10 80 || fail "b -> a tcp 80 should pass"
! probe b tcp 198.51.100.10 81 || fail "b -> a tcp 81 should be blocked"

# each: the offending rule (or NIC groups), the field the error must name, a word of the message
cases=(
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81", "cidr": "198.51.100.0/33" }||security_groups[0].rules[1].cidr|not a CIDR'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81", "cidr": "198.51.100.7/24" }||security_groups[0].rules[1].cidr|host bits'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81", "cidr": "198.51.100/24" }||security_groups[0].rules[1].cidr|not a CIDR'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "0", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].ports|out of range'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "1-65536", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].ports|out of range'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "90-81", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].ports|greater'
	'{ "direction": "ingress", "protocol": "gre", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].protocol|unknown protocol'
	'{ "direction": "ingress", "protocol": "icmp", "ports": "81", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].ports|tcp and udp only'
	'{ "direction": "ingress", "protocol": "icmp", "icmp_type": 300, "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].icmp_type|out of range'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81", "group": "db" }||security_groups[0].rules[1].group|no security group "db"'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81" }||security_groups[0].rules[1].cidr|required'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81", "cidr": "198.51.100.0/24", "group": "web" }||security_groups[0].rules[1].group|not both'
	'{ "direction": "sideways", "protocol": "tcp", "ports": "81", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].direction|ingress'
	'{ "direction": "ingress", "protocol": "tcp", "port": "81", "cidr": "198.51.100.0/24" }||security_groups[0].rules[1].port|unknown field'
	'{ "direction": "ingress", "protocol": "tcp", "ports": "81", "cidr": "198.51.100.0/24" }|"web", "db"|instances[0].nics[0].security_groups[1]|no security group "db"'
)
n=0
for c in "${cases[@]}"; do
	IFS='|' read -r rule groups field words <<<"$c"
	doc "$rule" "$groups" >"$TEST_TMP/bad.json"
	rc=0
	filter_apply "$TEST_TMP/bad.json" --from "$TEST_TMP/good.json" >"$TEST_TMP/out" 2>&1 || rc=$?
	[ "$rc" -eq 100 ] || { cat "$TEST_TMP/out"; fail "case $n: exit $rc, want 100"; }
	grep -qF "$field: " "$TEST_TMP/out" || { cat "$TEST_TMP/out"; fail "case $n: error does not name $field"; }
	grep -qF "$words" "$TEST_TMP/out" || { cat "$TEST_TMP/out"; fail "case $n: error lacks '$words'"; }
	log "rejected: $(cat "$TEST_TMP/out")"
	n=$((n + 1))
done
# a document that is not JSON at all
echo '{ "security_groups": [ ' >"$TEST_TMP/bad.json"
rc=0; filter_apply "$TEST_TMP/bad.json" >"$TEST_TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 100 ] || fail "broken JSON: exit $rc, want 100"
log "rejected: $(cat "$TEST_TMP/out")"

snapshot >"$TEST_TMP/after.nft"
diff -u "$TEST_TMP/before.nft" "$TEST_TMP/after.nft" || fail "the ruleset changed after rejected documents"
probe b tcp 198.51.100.10 80 || fail "b -> a tcp 80 should still pass"
! probe b tcp 198.51.100.10 81 || fail "b -> a tcp 81 should still be blocked"
log "$((n + 1)) invalid documents rejected; the ruleset is byte-for-byte what it was"
