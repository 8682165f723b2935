#!/usr/bin/env bash
# a node answers only the controller: anonymous 401 on every endpoint (unknown paths too), another node's key, the node's own secret and stale signatures 401; a pseudo-guest on the guest bridge gets DHCP but cannot reach port 8081 on any node address, even with a static route and a forged ARP entry (in the Debian-kernel VM when the host has no bridge conntrack)
# timeout: 900
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
require_root
require_cmd ip nft dnsmasq curl python3 busybox ping
CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
fail() {
	[ -f "$TEST_TMP/cloudd.log" ] && tail -30 "$TEST_TMP/cloudd.log" >&2
	[ -n "${NODE:-}" ] && in_ns "$NODE" nft list table inet cloudd_host >&2 2>/dev/null
	printf '\nFAIL: %s\n' "$*" >&2
	exit 1
}

# node_up STATE: the node (cloudd on all its addresses, the provisioning one
# 192.0.2.10) and the controller's side of the provisioning network (192.0.2.1)
NODE="an-$TEST_ID" CTL="ac-$TEST_ID" GUEST="ag-$TEST_ID"
URL=http://192.0.2.10:8081
NODE_KEY_FILE="$TEST_TMP/node.key"
node_up() {
	netns_add "$NODE"
	netns_add "$CTL"
	ip link add prov0 netns "$NODE" type veth peer name eth0 netns "$CTL"
	in_ns "$NODE" ip addr add 192.0.2.10/24 dev prov0
	in_ns "$NODE" ip link set prov0 up
	in_ns "$CTL" ip addr add 192.0.2.1/24 dev eth0
	in_ns "$CTL" ip link set eth0 up
	node_key_new "$NODE_KEY_FILE" ak-node-044
	mkdir -p "$TEST_TMP/run" "$TEST_TMP/data"
	pid=$(bg_ns "$NODE" "$TEST_TMP/cloudd.log" "$CLOUDD" --syslog no --state "$1" --run-dir "$TEST_TMP/run" \
		--data-dir "$TEST_TMP/data" --accel tcg --converge-interval 1 --disk-policy none --api-key-file "$NODE_KEY_FILE")
	wait_for 20 "cloudd /health" in_ns "$CTL" curl -sf "$URL/health"
}

# Part 1, HTTP: needs no bridge conntrack, so it runs here, not again in the VM
if [ "${FILTER_IN_VM:-0}" != 1 ]; then
	printf '{ "version": 1, "revision": 1, "templates": [], "instances": [] }\n' >"$TEST_TMP/state0.json"
	node_up "$TEST_TMP/state0.json"
	node_key_new "$TEST_TMP/other.key" ak-other-044
	log "who may call what, from the controller's side of the provisioning network"
	# code [CURL-ARGS..] URL: the status of one request from the controller's namespace
	code() { in_ns "$CTL" curl -s -o "$TEST_TMP/body" -w '%{http_code}' --max-time 5 "$@"; }
	for path in /health /metrics; do
		[ "$(code "$URL$path")" = 200 ] || fail "anonymous $path: $(cat "$TEST_TMP/body")"
	done
	endpoints=(/v1/sysinfo /v1/state /v1/filters /v1/instances/i-pg/console "/v1/instances/i-pg/console?bytes=10" /no/such/path /v1)
	for path in "${endpoints[@]}"; do
		[ "$(code "$URL$path")" = 401 ] || fail "anonymous GET $path: $(cat "$TEST_TMP/body"), want 401"
		grep -q '"unauthorized"' "$TEST_TMP/body" || fail "anonymous GET $path: not a JSON 401: $(cat "$TEST_TMP/body")"
		[ "$(code -X POST "$URL$path")" = 401 ] || fail "anonymous POST $path: $(cat "$TEST_TMP/body"), want 401 (before 404 and 405)"
		# another node's key, and this node's secret itself (what the node signs its own requests with)
		[ "$(code -H "Authorization: $(node_auth --key-file "$TEST_TMP/other.key" GET "$URL$path")" "$URL$path")" = 401 ] ||
			fail "GET $path signed with another node's key: $(cat "$TEST_TMP/body")"
		[ "$(code -H "Authorization: $(node_auth --node-secret GET "$URL$path")" "$URL$path")" = 401 ] ||
			fail "GET $path signed with the node secret itself: $(cat "$TEST_TMP/body")"
	done
	in_ns "$CTL" curl -s -D - -o /dev/null "$URL/v1/sysinfo" | grep -qi '^WWW-Authenticate: CLOUDD-HMAC-SHA256' ||
		fail "a 401 without WWW-Authenticate"
	for path in /v1/sysinfo /v1/state /v1/filters; do
		[ "$(code -H "Authorization: $(node_auth GET "$URL$path")" "$URL$path")" = 200 ] ||
			fail "signed GET $path: $(cat "$TEST_TMP/body")"
	done
	[ "$(code -H "Authorization: $(node_auth GET "$URL/v1/instances/i-pg/console")" "$URL/v1/instances/i-pg/console")" = 404 ] ||
		fail "a signed console request for an unknown instance: $(cat "$TEST_TMP/body"), want 404"
	[ "$(code -H "Authorization: $(node_auth GET "$URL/no/such/path")" "$URL/no/such/path")" = 404 ] ||
		fail "a signed request for an unknown path: $(cat "$TEST_TMP/body"), want 404"
	# a signature for one path does not open another; stale and far-future signatures are refused
	[ "$(code -H "Authorization: $(node_auth GET "$URL/v1/sysinfo")" "$URL/v1/state")" = 401 ] ||
		fail "a signature for /v1/sysinfo opened /v1/state"
	[ "$(code -H "Authorization: $(node_auth --expires $(($(date +%s) - 300)) GET "$URL/v1/state")" "$URL/v1/state")" = 401 ] ||
		fail "a signature that expired 300 s ago: $(cat "$TEST_TMP/body")"
	grep -q expired "$TEST_TMP/body" || fail "a stale signature is not called expired: $(cat "$TEST_TMP/body")"
	[ "$(code -H "Authorization: $(node_auth --expires $(($(date +%s) + 1000)) GET "$URL/v1/state")" "$URL/v1/state")" = 401 ] ||
		fail "a signature valid 1000 s ahead: $(cat "$TEST_TMP/body")"
	grep -q '^cloudd_http_requests_total{method="GET",route="refused",code="401"} [1-9]' <<<"$(in_ns "$CTL" curl -sf "$URL/metrics")" ||
		fail "/metrics does not count the refused requests"
	kill -0 "$pid" || fail "cloudd died"
	kill -9 "$pid"
	netns_del "$NODE"
	netns_del "$CTL"
	rm -rf "$TEST_TMP/run" "$TEST_TMP/data" "$TEST_TMP/cloudd.log"
fi

# Part 2, the guest network: cloudd loads its guest filters (bridge
# conntrack) before it sets up the bridge
filter_need_kernel "$0" "$@"
# taps need the tun module (the node image loads it at boot: modules.d/hypervisor.modules)
modprobe tun 2>/dev/null || true
BR="brac$TEST_ID"
MAC=52:54:00:44:00:44
cat >"$TEST_TMP/state.json" <<EOF
{ "version": 1, "revision": 1,
  "network": { "bridge": "$BR", "address": "198.51.100.1/24", "gateway": "198.51.100.1" },
  "templates": [],
  "instances": [
    { "id": "i-pg", "name": "pseudo-guest", "vcpus": 1, "memory_mib": 64, "power": "stopped",
      "disks": [ { "id": "root", "size_mib": 8, "format": "raw" } ],
      "nics": [ { "mac": "$MAC", "ipv4": "198.51.100.44" } ] } ] }
EOF
node_up "$TEST_TMP/state.json"
netns_add "$GUEST"
wait_for 120 "the guest network applied" grep -q "network-apply: ok" "$TEST_TMP/cloudd.log"

log "a pseudo-guest on the guest bridge: DHCP works"
ip link add "pg$TEST_ID" netns "$NODE" type veth peer name eth0 netns "$GUEST"
in_ns "$NODE" ip link set "pg$TEST_ID" master "$BR" up
in_ns "$GUEST" ip link set eth0 address "$MAC" up
cat >"$TEST_TMP/udhcpc.sh" <<'EOF'
#!/bin/sh
[ "$1" = bound ] && ip addr add "$ip/${mask:-24}" dev "$interface" && echo "LEASE $ip" >>"$LEASE_LOG"
exit 0
EOF
chmod +x "$TEST_TMP/udhcpc.sh"
in_ns "$GUEST" env LEASE_LOG="$TEST_TMP/lease" busybox udhcpc -i eth0 -n -q -t 10 -T 2 -s "$TEST_TMP/udhcpc.sh" \
	>"$TEST_TMP/udhcpc.log" 2>&1 || fail "no DHCP lease for the pseudo-guest: $(cat "$TEST_TMP/udhcpc.log")"
grep -q "LEASE 198.51.100.44" "$TEST_TMP/lease" || fail "the pseudo-guest's lease: $(cat "$TEST_TMP/lease")"

log "the node reaches the guest (its own flows' replies come back in)"
# replies accepted by the host guard as established (through bridge conntrack and br_netfilter in the VM)
replies() { in_ns "$NODE" nft list chain inet cloudd_host from_guests | sed -n 's/.*established,related counter packets \([0-9]*\).*/\1/p'; }
r0=$(replies)
in_ns "$NODE" ping -q -n -c 2 -W 3 198.51.100.44 >/dev/null || fail "the node's ping to the pseudo-guest got no reply"
[ "$(replies)" -gt "$r0" ] || fail "the ping replies did not pass the host guard's established rule"
mkdir -p "$TEST_TMP/www" && echo guest >"$TEST_TMP/www/index.html"
bg_ns "$GUEST" "$TEST_TMP/guest-http.log" busybox httpd -f -p 198.51.100.44:7070 -h "$TEST_TMP/www" >/dev/null
wait_for 30 "the node reaches the guest's TCP port" in_ns "$NODE" curl -sf -o /dev/null --max-time 2 http://198.51.100.44:7070/

log "the guest does not reach port 8081 on any node address"
BRMAC=$(in_ns "$NODE" cat "/sys/class/net/$BR/address")
drops() { in_ns "$NODE" nft list chain inet cloudd_host from_guests | sed -n 's/.*counter packets \([0-9]*\).*drop.*/\1/p'; }
# probe ADDR: 0 when the guest's TCP connection to ADDR:8081 is answered
probe() { in_ns "$GUEST" curl -s -o /dev/null --max-time 3 "http://$1:8081/health"; }
d0=$(drops)
probe 198.51.100.1 && fail "the guest reached 8081 on the bridge address"
in_ns "$GUEST" ip route add 192.0.2.0/24 dev eth0
probe 192.0.2.10 && fail "the guest reached 8081 on the provisioning address with a static route"
# the node answers no ARP for its other addresses on the bridge
in_ns "$GUEST" ip neigh show 192.0.2.10 dev eth0 | grep -q lladdr &&
	fail "the node answered ARP for 192.0.2.10 on the guest bridge: $(in_ns "$GUEST" ip neigh show 192.0.2.10 dev eth0)"
in_ns "$GUEST" ip neigh replace 192.0.2.10 lladdr "$BRMAC" dev eth0 nud permanent
probe 192.0.2.10 && fail "the guest reached 8081 on the provisioning address with a forged ARP entry"
d1=$(drops)
[ "$d1" -gt "$d0" ] || fail "the host guard counted no drops ($d0 -> $d1): the probes never reached the node"
log "probes dropped by the host guard: $((d1 - d0)) packets"

log "control: without the host guard the same probes get through (the probes can succeed)"
in_ns "$NODE" nft delete table inet cloudd_host
probe 192.0.2.10 || fail "with the guard removed the forged route still does not reach 8081: the probe cannot tell"
probe 198.51.100.1 || fail "with the guard removed the bridge address does not answer: the probe cannot tell"
in_ns "$GUEST" ip neigh del 192.0.2.10 dev eth0
in_ns "$NODE" sysctl -qw "net.ipv4.conf.$BR.arp_ignore=0"
probe 192.0.2.10 || fail "without arp_ignore the provisioning address is still not reachable"
in_ns "$GUEST" ip neigh show 192.0.2.10 dev eth0 | grep -q "lladdr $BRMAC" ||
	fail "without arp_ignore the node did not answer ARP: the ARP check cannot tell"
kill -0 "$pid" || fail "cloudd died"
log "ok"
