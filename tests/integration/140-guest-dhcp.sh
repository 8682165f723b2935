#!/usr/bin/env bash
# guest network: bridge and taps made idempotently; dnsmasq gives a lease only to a known MAC, reloads on change, and is restarted when it dies
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd ip dnsmasq busybox gcc
guestkit_driver
NT="$GUESTKIT_DRIVER"
NODE="gn-node-$TEST_ID"
GA="gn-a-$TEST_ID"
GB="gn-b-$TEST_ID"
BR="brg$TEST_ID"
MAC_A=52:54:00:aa:00:01
MAC_B=52:54:00:bb:00:02
netns_add "$NODE"
netns_add "$GA"
netns_add "$GB"
nt() { in_ns "$NODE" "$NT" "$@"; }

log "bridge with the node's address, twice (idempotent); an old address is replaced"
nt bridge "$BR" 198.51.100.254/24
nt bridge "$BR" 198.51.100.1/24
nt bridge "$BR" 198.51.100.1/24
addrs=$(in_ns "$NODE" ip -4 -o addr show dev "$BR" | awk '{print $4}' | tr '\n' ' ')
[ "$addrs" = "198.51.100.1/24 " ] || fail "bridge addresses: '$addrs'"
in_ns "$NODE" ip -o link show dev "$BR" | grep -q "state UP\|,UP" || fail "bridge not up"

log "a persistent tap attached to the bridge (what QEMU opens by name), then removed"
nt tap "tapt$TEST_ID" "$BR"
nt tap "tapt$TEST_ID" "$BR"
in_ns "$NODE" ip -o link show dev "tapt$TEST_ID" | grep -q "master $BR" || fail "tap not on the bridge"
in_ns "$NODE" ip -d link show dev "tapt$TEST_ID" | grep -q "tun type tap.* persist on" || fail "tap not persistent"
nt tap-delete "tapt$TEST_ID"
in_ns "$NODE" ip link show dev "tapt$TEST_ID" 2>/dev/null && fail "tap still there"

# two pseudo-guests: veth pairs from their namespaces into the bridge
for g in a b; do
	ns="gn-$g-$TEST_ID"
	mac=$([ $g = a ] && echo $MAC_A || echo $MAC_B)
	ip link add "v$g$TEST_ID" netns "$NODE" type veth peer name eth0 netns "$ns"
	in_ns "$NODE" ip link set "v$g$TEST_ID" master "$BR" up
	in_ns "$ns" ip link set eth0 address "$mac" up
done

cat >"$TEST_TMP/udhcpc.sh" <<'EOF'
#!/bin/sh
[ "$1" = bound ] && echo "LEASE $ip $router" >>"$LEASE_LOG"
exit 0
EOF
chmod +x "$TEST_TMP/udhcpc.sh"
# lease NS: one DHCP attempt (about 3 s); prints the address or nothing
lease() {
	local lf="$TEST_TMP/lease.$1.$RANDOM"
	in_ns "$1" env LEASE_LOG="$lf" busybox udhcpc -i eth0 -n -q -t 3 -T 1 -s "$TEST_TMP/udhcpc.sh" >/dev/null 2>&1 || true
	[ -f "$lf" ] && awk '{print $2}' "$lf"
	rm -f "$lf"
}

log "dnsmasq with one static lease: A is known, B is not"
DHCP="$TEST_TMP/dhcp"
mkdir -p "$DHCP"
echo "$MAC_A=198.51.100.10" >"$TEST_TMP/leases"
ip netns exec "$NODE" "$NT" dhcp "$DHCP" "$BR" 198.51.100.1/24 198.51.100.1 "$TEST_TMP/leases" >"$TEST_TMP/nt.log" 2>&1 &
DPID=$!
cleanup_add "kill $DPID"
dnsmasq_pid() { sed -n 's/^dnsmasq \([0-9]*\)$/\1/p' "$TEST_TMP/nt.log" | tail -1; }
has_dnsmasq() { [ -n "$(dnsmasq_pid)" ] && [ "$(dnsmasq_pid)" != "${1:-}" ]; }
wait_for 10 "dnsmasq started" has_dnsmasq
grep -q "dhcp-ignore=tag:!known" "$DHCP/dnsmasq.conf" || fail "unknown MACs are not ignored"
grep -q "^interface=$BR" "$DHCP/dnsmasq.conf" || fail "not bound to the bridge"
got=$(lease "$GA")
[ "$got" = 198.51.100.10 ] || fail "known MAC got '$got', want 198.51.100.10"
got=$(lease "$GB")
[ -z "$got" ] || fail "unknown MAC got a lease: $got"

log "the leases change: dnsmasq reloads (SIGHUP, same process) and B gets its address"
first=$(dnsmasq_pid)
printf '%s\n' "$MAC_A=198.51.100.10" "$MAC_B=198.51.100.11" >"$TEST_TMP/leases"
kill -HUP "$DPID"
wait_for 10 "leases applied" grep -q "^applied 2 leases, dnsmasq $first$" "$TEST_TMP/nt.log"
grep -q "^$MAC_B,198.51.100.11" "$DHCP/hosts" || fail "hosts file: $(cat "$DHCP/hosts")"
got=$(lease "$GB")
[ "$got" = 198.51.100.11 ] || fail "B got '$got' after the change, want 198.51.100.11"
[ "$(dnsmasq_pid)" = "$first" ] || fail "dnsmasq was restarted instead of reloaded"

log "dnsmasq killed from outside: the supervisor starts it again"
kill -9 "$first"
wait_for 15 "dnsmasq restarted" has_dnsmasq "$first"
got=$(lease "$GA")
[ "$got" = 198.51.100.10 ] || fail "no lease after the restart: '$got'"
kill -TERM "$DPID"
wait "$DPID" || true
pgrep -x dnsmasq -P "$DPID" >/dev/null && fail "dnsmasq left running"
log "ok"
