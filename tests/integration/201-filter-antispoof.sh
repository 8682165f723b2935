#!/usr/bin/env bash
# filter anti-spoofing: every spoofed frame from a pseudo-guest is dropped and counted, its legitimate twin passes
# timeout: 400
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
require_root
require_cmd nft ip
/usr/bin/python3 -c 'import scapy' 2>/dev/null || fail "python3-scapy is missing (./build.sh deps installs it)"
filter_need_kernel "$0" "$@"

filter_topology
filter_tools
filter_guest a i-a 0 52:54:00:00:0a:01 198.51.100.10 2001:db8:100::10
filter_guest b i-b 0 52:54:00:00:0b:01 198.51.100.11 2001:db8:100::11

cat >"$TEST_TMP/state.json" <<'EOF'
{
  "version": 1, "revision": 1,
  "network": { "bridge": "br0", "address": "198.51.100.1/24", "gateway": "198.51.100.1" },
  "security_groups": [
    { "id": "lab", "rules": [ { "direction": "ingress", "protocol": "any", "group": "lab" } ] }
  ],
  "instances": [
    { "id": "i-a", "nics": [ { "mac": "52:54:00:00:0a:01", "ipv4": "198.51.100.10", "ipv6": "2001:db8:100::10", "security_groups": ["lab"] } ] },
    { "id": "i-b", "nics": [ { "mac": "52:54:00:00:0b:01", "ipv4": "198.51.100.11", "ipv6": "2001:db8:100::11", "security_groups": ["lab"] } ] }
  ]
}
EOF
filter_apply "$TEST_TMP/state.json"

# The cases: tag, where the frame must (pass) or must not (a drop reason)
# arrive, and the frame, built with scapy. MA/IA/I6A/LA: guest a's MAC,
# IPv4, IPv6, link-local; the same with B for guest b; T: the tag bytes.
cat >"$TEST_TMP/cases.py" <<'EOF'
CASES = [
 # legitimate frames
 ("b", "pass", "Ether(src=MA,dst=MB)/IP(src=IA,dst=IB)/UDP(sport=40001,dport=9)/Raw(T)"),
 ("b", "pass", "Ether(src=MA,dst=BC)/ARP(op=1,hwsrc=MA,psrc=IA,pdst=IB)/Padding(load=T)"),
 ("b", "pass", "Ether(src=MA,dst=BC)/ARP(op=1,hwsrc=MA,psrc='0.0.0.0',pdst=IA)/Padding(load=T)"),
 ("host", "pass", "Ether(src=MA,dst=BC)/IP(src='0.0.0.0',dst='255.255.255.255')/UDP(sport=68,dport=67)/Raw(T)"),
 ("b", "pass", "Ether(src=MA,dst=MB)/IPv6(src=I6A,dst=I6B)/UDP(sport=40002,dport=9)/Raw(T)"),
 ("host", "pass", "Ether(src=MA,dst=MH)/IPv6(src=LA,dst=LH)/UDP(sport=40003,dport=9)/Raw(T)"),
 ("b", "pass", "Ether(src=MA,dst=MB)/IPv6(src=LA,dst=LB)/ICMPv6ND_NA(tgt=I6A,R=0,S=1,O=1)/Raw(T)"),
 ("b", "pass", "Ether(src=MA,dst=MB)/IPv6(src=LA,dst=LB)/ICMPv6ND_NA(tgt=LA,R=0,S=1,O=1)/Raw(T)"),
 ("b", "pass", "Ether(src=MA,dst=MB)/IPv6(src='::',dst='ff02::1:ff00:10')/ICMPv6ND_NS(tgt=I6A)/Raw(T)"),
 ("host", "pass", "Ether(src=MA,dst='33:33:00:01:00:02')/IPv6(src=LA,dst='ff02::1:2')/UDP(sport=546,dport=547)/Raw(T)"),
 ("host", "pass", "Ether(src=MA,dst='33:33:00:00:00:02')/IPv6(src=LA,dst='ff02::2')/ICMPv6ND_RS()/Raw(T)"),
 # spoofed: the reason it is dropped for
 ("b", "mac", "Ether(src='52:54:00:00:0c:99',dst=MB)/IP(src=IA,dst=IB)/UDP(sport=40001,dport=9)/Raw(T)"),
 ("b", "ip4_src", "Ether(src=MA,dst=MB)/IP(src='198.51.100.99',dst=IB)/UDP(sport=40001,dport=9)/Raw(T)"),
 ("host", "ip4_src", "Ether(src=MA,dst=MH)/IP(src=IB,dst='198.51.100.1')/UDP(sport=40001,dport=9)/Raw(T)"),
 ("b", "ip4_src", "Ether(src=MA,dst=MB)/IP(src='0.0.0.0',dst=IB)/UDP(sport=68,dport=67)/Raw(T)"),
 ("b", "arp_mac", "Ether(src=MA,dst=BC)/ARP(op=1,hwsrc='52:54:00:00:0c:99',psrc=IA,pdst=IB)/Padding(load=T)"),
 ("b", "arp_ip", "Ether(src=MA,dst=BC)/ARP(op=1,hwsrc=MA,psrc='198.51.100.1',pdst=IB)/Padding(load=T)"),
 ("b", "arp_ip", "Ether(src=MA,dst=MB)/ARP(op=2,hwsrc=MA,psrc=IB,hwdst=MB,pdst=IB)/Padding(load=T)"),
 ("b", "dhcp_server", "Ether(src=MA,dst=BC)/IP(src=IA,dst='255.255.255.255')/UDP(sport=67,dport=68)/Raw(T)"),
 ("b", "ip6_src", "Ether(src=MA,dst=MB)/IPv6(src='2001:db8:100::99',dst=I6B)/UDP(sport=40002,dport=9)/Raw(T)"),
 ("b", "ip6_src", "Ether(src=MA,dst=MB)/IPv6(src='fe80::99',dst=LB)/UDP(sport=40002,dport=9)/Raw(T)"),
 ("b", "ra", "Ether(src=MA,dst=MB)/IPv6(src=LA,dst='ff02::1')/ICMPv6ND_RA()/ICMPv6NDOptPrefixInfo(prefix='2001:db8:666::',prefixlen=64)/Raw(T)"),
 ("b", "ra", "Ether(src=MA,dst=MB)/IPv6(src=LA,dst=LB)/ICMPv6ND_Redirect(tgt=LA,dst='2001:db8:100::1')/Raw(T)"),
 ("b", "nd_target", "Ether(src=MA,dst=MB)/IPv6(src=LA,dst=LB)/ICMPv6ND_NA(tgt=I6B,R=0,S=1,O=1)/Raw(T)"),
 ("b", "nd_target", "Ether(src=MA,dst=MB)/IPv6(src=I6A,dst=I6B)/ICMPv6ND_NA(tgt='2001:db8:100::1',R=1,S=0,O=1)/Raw(T)"),
 ("b", "dhcp6_server", "Ether(src=MA,dst=MB)/IPv6(src=LA,dst=LB)/UDP(sport=547,dport=546)/Raw(T)"),
 ("b", "ethertype", "Ether(src=MA,dst=MB,type=0x88b5)/Raw(T)"),
 ("b", "ethertype", "Ether(src=MA,dst=MB)/Dot1Q(vlan=5)/IP(src=IA,dst=IB)/UDP(sport=40001,dport=9)/Raw(T)"),
]
EOF

cat >"$TEST_TMP/send.py" <<'EOF'
import os, socket, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from scapy.layers.l2 import Ether, ARP, Dot1Q
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6ND_RA, ICMPv6ND_Redirect, \
    ICMPv6NDOptPrefixInfo
from scapy.packet import Raw, Padding
from cases import CASES
def ll(mac):
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 2
    e = b[:3] + [0xff, 0xfe] + b[3:]
    return "fe80::" + ":".join("%x" % (e[i] << 8 | e[i + 1]) for i in range(0, 8, 2))
MA, MB, MH = sys.argv[1], sys.argv[2], sys.argv[3]
IA, IB, I6A, I6B = "198.51.100.10", "198.51.100.11", "2001:db8:100::10", "2001:db8:100::11"
LA, LB, LH, BC = ll(MA), ll(MB), ll(MH), "ff:ff:ff:ff:ff:ff"
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind(("eth0", 0))
for i, (where, expect, expr) in enumerate(CASES):
    T = b"CLDTAG%03d" % i
    sock.send(bytes(eval(expr)))
    time.sleep(0.02)
EOF

log "sniffing on guest b and on the node's bridge"
bg_ns "b$TEST_ID" "$TEST_TMP/sniff-b.log" /usr/bin/python3 "$TEST_TMP/probe.py" sniff eth0 "$TEST_TMP/seen-b" >/dev/null
bg_ns "$FH" "$TEST_TMP/sniff-host.log" /usr/bin/python3 "$TEST_TMP/probe.py" sniff br0 "$TEST_TMP/seen-host" >/dev/null
wait_for 30 "sniffers ready" test -e "$TEST_TMP/seen-b.ready" -a -e "$TEST_TMP/seen-host.ready"

host_mac=$(ip -n "$FH" -br link show br0 | awk '{print $3}')
log "sending the cases from guest a"
in_ns "a$TEST_ID" /usr/bin/python3 "$TEST_TMP/send.py" 52:54:00:00:0a:01 52:54:00:00:0b:01 "$host_mac"

# every passing case must arrive (wait for the last ones); then give dropped ones the same time
/usr/bin/python3 - "$TEST_TMP" <<'EOF' >"$TEST_TMP/expect"
import sys
sys.path.insert(0, sys.argv[1])
from cases import CASES
for i, (where, expect, _) in enumerate(CASES):
    print("CLDTAG%03d %s %s" % (i, where, expect))
EOF
seen() { grep -qx "$1" "$TEST_TMP/seen-$2" 2>/dev/null; }
all_passed_arrived() {
	local tag where expect
	while read -r tag where expect; do
		[ "$expect" != pass ] || seen "$tag" "$where" || return 1
	done <"$TEST_TMP/expect"
}
for _ in $(seq 100); do all_passed_arrived && break; sleep 0.2; done
sleep 1

failures=0
declare -A want_drops=()
while read -r tag where expect; do
	if [ "$expect" = pass ]; then
		seen "$tag" "$where" && log "ok: $tag passed to $where" || { log "FAIL: $tag did not reach $where"; failures=$((failures + 1)); }
	else
		want_drops[$expect]=$((${want_drops[$expect]:-0} + 1))
		if seen "$tag" "$where"; then
			log "FAIL: $tag ($expect) reached $where"; failures=$((failures + 1))
		else
			log "ok: $tag ($expect) blocked"
		fi
	fi
done <"$TEST_TMP/expect"

filter_status >"$TEST_TMP/status.json"
drops_of() {
	/usr/bin/python3 -c '
import json, sys
port, reason = sys.argv[2], sys.argv[3]
print(sum(d["packets"] for d in json.load(open(sys.argv[1]))["drops"] if d["port"] == port and d["reason"] == reason))' \
		"$TEST_TMP/status.json" "$1" "$2"
}
for reason in "${!want_drops[@]}"; do
	got=$(drops_of "$PORT_a" "$reason")
	if [ "$got" -ne "${want_drops[$reason]}" ]; then
		log "FAIL: drops[$PORT_a][$reason] = $got, want ${want_drops[$reason]}"; failures=$((failures + 1))
	else
		log "ok: drops[$PORT_a][$reason] = $got"
	fi
done
for reason in invalid sg_egress; do
	got=$(drops_of "$PORT_a" "$reason")
	[ "$got" -eq 0 ] || { log "FAIL: unexpected drops[$PORT_a][$reason] = $got"; failures=$((failures + 1)); }
done
ip netns exec "$FH" "$CLOUDD" filter metrics --state "$TEST_TMP/state.json" >"$TEST_TMP/metrics"
grep -qx "cloudd_filter_drops_total{port=\"$PORT_a\",instance=\"i-a\",nic=\"0\",reason=\"mac\"} 1" "$TEST_TMP/metrics" ||
	{ log "FAIL: metrics lack the mac drop of $PORT_a"; cat "$TEST_TMP/metrics"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then
	cat "$TEST_TMP/status.json"
	ip netns exec "$FH" nft list table bridge cloudd | head -120
	fail "$failures anti-spoofing checks failed"
fi
log "all $(wc -l <"$TEST_TMP/expect") anti-spoofing cases behaved"
