#!/usr/bin/env bash
# filter-bench: guest filter programming time (1,000 ports x 10 rules, full and one membership change) vs CloudStack-style iptables/ebtables/ipset, and bridge throughput with vs without the table
# timeout: 3600
#
# One run, side by side:
#   host kernel (native speed; it lacks bridge conntrack, so cloudd's script
#     goes through an nft wrapper that drops its conntrack rules: 4 of the
#     table's rules): cloudd full apply and membership change, and the
#     CloudStack-style baseline
#   Debian node kernel in a TCG VM (the node's kernel, emulated CPU: slower
#     in absolute terms, same for both sides): cloudd with the real table,
#     the baseline, and iperf3 between two pseudo-guests with the 1,000-port
#     table vs no table (the stateful table cannot load on the host kernel)
# The baseline runs one iptables/ebtables/ipset process per rule into per-VM
# chains, the way CloudStack's KVM agent (security_group.py) does; a
# membership change of a group that every VM's rules refer to rewrites every
# VM's chain (the management server re-sends each VM's rules). It is measured
# on the first FILTER_BENCH_BASELINE_VMS VMs and extrapolated linearly to the
# port count: a lower bound, since each iptables call gets slower as the
# table grows.
#
# cloudd's times are wall-clock times of `cloudd filter apply` (reading and
# validating the whole document, and for a change the previous one too, then
# script and nft); cloudd's own figure for the apply alone (script + nft, what
# the daemon adds to the document parsing it does anyway) is shown beneath.
# Speed-ups are computed from the wall-clock times.
#
# Figures: stdout and $OUT/bench/filter-bench.txt.
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/../integration/200-filter-kernel.sh"
require_root
require_cmd nft ip iptables ebtables ipset iperf3

PORTS="${FILTER_BENCH_PORTS:-1000}"
BASE_HOST="${FILTER_BENCH_BASELINE_VMS:-100}"
BASE_VM="${FILTER_BENCH_BASELINE_VMS_VM:-4}"
RESULTS="${FILTER_RESULTS_DIR:-$TEST_TMP/results}"
mkdir -p "$RESULTS"
CLOUDD=$(filter_cloudd) || fail "cannot build the filter CLI"

now_ms() { date +%s%3N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
fig() { printf '%-58s %s\n' "$1" "$2" | tee -a "$RESULTS/$PHASE.txt"; }

# full.json: PORTS ports, each in its own group of 10 ingress rules (one of
# them: tcp 22 from group admin, 10 members); member.json: admin has 11.
gen_docs() {
	/usr/bin/python3 - "$PORTS" "$TEST_TMP" <<'EOF'
import json, sys
ports, out = int(sys.argv[1]), sys.argv[2]
def doc(admin_members):
    groups = [{"id": "admin", "members": ["192.0.2.%d" % (m + 1) for m in range(admin_members)]}]
    insts = []
    for i in range(ports):
        rules = [{"direction": "ingress", "protocol": "tcp", "ports": "5201", "cidr": "198.51.100.0/24"}]
        rules += [{"direction": "ingress", "protocol": "tcp", "ports": str(1001 + k), "cidr": "203.0.113.0/24"} for k in range(8)]
        rules += [{"direction": "ingress", "protocol": "tcp", "ports": "22", "group": "admin"}]
        groups.append({"id": "g-%d" % i, "rules": rules})
        ip = "198.51.100.%d" % (10 + i) if i < 2 else "198.18.%d.%d" % (i // 250, i % 250 + 1)
        insts.append({"id": "i-%d" % i, "nics": [{"mac": "52:54:00:00:%02x:%02x" % (i // 256, i % 256), "ipv4": ip,
                                                  "security_groups": ["g-%d" % i]}]})
    return {"version": 1, "revision": admin_members, "security_groups": groups, "instances": insts}
json.dump(doc(10), open(out + "/full.json", "w"))
json.dump(doc(11), open(out + "/member.json", "w"))
EOF
}

# --- cloudd ---------------------------------------------------------------------

# ours NS: full apply (3x, median) and membership change (3x each way, median), ms
ours() {
	local ns="$1" t full=() inc=() i
	for i in 1 2 3; do
		ip netns exec "$ns" nft delete table bridge cloudd 2>/dev/null || true
		t=$(now_ms); ip netns exec "$ns" "$CLOUDD" filter apply --state "$TEST_TMP/full.json" 2>>"$TEST_TMP/ours.log" || fail "full apply failed"
		full+=($(($(now_ms) - t)))
	done
	# a restart: replace the populated table whole
	t=$(now_ms); ip netns exec "$ns" "$CLOUDD" filter apply --state "$TEST_TMP/full.json" 2>>"$TEST_TMP/ours.log" || fail "replace failed"
	local replace=$(($(now_ms) - t))
	for i in 1 2 3; do
		t=$(now_ms); ip netns exec "$ns" "$CLOUDD" filter apply --state "$TEST_TMP/member.json" --from "$TEST_TMP/full.json" 2>>"$TEST_TMP/ours.log" || fail "incremental failed"
		inc+=($(($(now_ms) - t)))
		t=$(now_ms); ip netns exec "$ns" "$CLOUDD" filter apply --state "$TEST_TMP/full.json" --from "$TEST_TMP/member.json" 2>>"$TEST_TMP/ours.log" || fail "incremental failed"
		inc+=($(($(now_ms) - t)))
	done
	grep -q 'refused' "$TEST_TMP/ours.log" && fail "an incremental update was refused"
	OURS_FULL=$(printf '%s\n' "${full[@]}" | median)
	OURS_REPLACE=$replace
	OURS_INC=$(printf '%s\n' "${inc[@]}" | median)
	# cloudd's own figure for the apply (script + nft), without reading the documents
	OURS_FULL_APPLY=$(sed -n 's/^cloudd filter: full apply: .* in \([0-9.]*\) ms .*/\1/p' "$TEST_TMP/ours.log" | head -3 | median)
	OURS_INC_APPLY=$(sed -n 's/^cloudd filter: incremental apply: .* in \([0-9.]*\) ms .*/\1/p' "$TEST_TMP/ours.log" | median)
	OURS_RULES=$(ip netns exec "$ns" nft list table bridge cloudd | grep -cE '^\s+(ip|ip6|ether|jump|accept|iifname|oifname|arp|udp|icmpv6|ct|update|drop|tcp)\b' || true)
	"$CLOUDD" filter apply --state "$TEST_TMP/member.json" --from "$TEST_TMP/full.json" --dry-run >"$TEST_TMP/member.nft"
}

# --- CloudStack-style baseline ---------------------------------------------------

baseline_init() {
	ip netns exec "$1" iptables -N BF-br0-IN
	ip netns exec "$1" iptables -N BF-br0-OUT
	ip netns exec "$1" iptables -A FORWARD -m physdev --physdev-is-bridged -j BF-br0-OUT
	ip netns exec "$1" iptables -A FORWARD -m physdev --physdev-is-bridged -j BF-br0-IN
}

# the rules of VM i: flush its chains, one iptables process per rule and source
baseline_rules() {
	local ns="$1" i="$2" members="$3" vm="i-$2-VM" k m
	ip netns exec "$ns" iptables -F "$vm"
	ip netns exec "$ns" iptables -F "$vm-eg"
	ip netns exec "$ns" iptables -I "$vm" -p tcp -m tcp --dport 5201 -m state --state NEW -s 198.51.100.0/24 -j ACCEPT
	for k in 1 2 3 4 5 6 7 8; do
		ip netns exec "$ns" iptables -I "$vm" -p tcp -m tcp --dport $((1000 + k)) -m state --state NEW -s 203.0.113.0/24 -j ACCEPT
	done
	for m in $(seq "$members"); do
		ip netns exec "$ns" iptables -I "$vm" -p tcp -m tcp --dport 22 -m state --state NEW -s "192.0.2.$m/32" -j ACCEPT
	done
	ip netns exec "$ns" iptables -A "$vm" -j DROP
	ip netns exec "$ns" iptables -A "$vm-eg" -j RETURN
}

# a VM's default rules (anti-spoofing with ebtables and an ipset, dispatch) and its rules
baseline_vm() {
	local ns="$1" i="$2" vm="i-$2-VM" vif="vnet$2" mac ip
	mac=$(printf '52:54:00:00:%02x:%02x' $((i / 256)) $((i % 256)))
	ip="198.18.$((i / 250)).$((i % 250 + 1))"
	local e="ip netns exec $ns ebtables -t nat" t="ip netns exec $ns iptables"
	$e -N "$vm-in"
	$e -N "$vm-out"
	$e -A PREROUTING -i "$vif" -j "$vm-in"
	$e -A POSTROUTING -o "$vif" -j "$vm-out"
	$e -A "$vm-in" -s ! "$mac" -j DROP
	$e -A "$vm-in" -p ARP -s ! "$mac" -j DROP
	$e -A "$vm-in" -p ARP --arp-mac-src ! "$mac" -j DROP
	$e -A "$vm-in" -p ARP --arp-ip-src ! "$ip" -j DROP
	$e -A "$vm-in" -p ARP --arp-op Request -j ACCEPT
	$e -A "$vm-in" -p ARP --arp-op Reply -j ACCEPT
	$e -A "$vm-in" -p ARP -j DROP
	$e -A "$vm-out" -p ARP --arp-op Reply --arp-mac-dst ! "$mac" -j DROP
	$e -A "$vm-out" -p ARP --arp-ip-dst ! "$ip" -j DROP
	ip netns exec "$ns" ipset -N "$vm" iphash
	ip netns exec "$ns" ipset -A "$vm" "$ip"
	$t -N "$vm"
	$t -N "$vm-eg"
	$t -N "$vm-def"
	$t -A BF-br0-OUT -m physdev --physdev-is-bridged --physdev-out "$vif" -j "$vm-def"
	$t -A BF-br0-IN -m physdev --physdev-is-bridged --physdev-in "$vif" -j "$vm-def"
	$t -A "$vm-def" -m state --state RELATED,ESTABLISHED -j ACCEPT
	$t -A "$vm-def" -p udp -m physdev --physdev-is-bridged --physdev-in "$vif" --dport 67 --sport 68 -j ACCEPT
	$t -A "$vm-def" -p udp -m physdev --physdev-is-bridged --physdev-out "$vif" --dport 68 --sport 67 -j ACCEPT
	$t -A "$vm-def" -m physdev --physdev-is-bridged --physdev-in "$vif" -m set ! --match-set "$vm" src -j DROP
	$t -A "$vm-def" -m physdev --physdev-is-bridged --physdev-in "$vif" -j "$vm-eg"
	$t -A "$vm-def" -m physdev --physdev-is-bridged --physdev-out "$vif" -j "$vm"
	baseline_rules "$ns" "$i" 10
}

# baseline NS N: ms for N VMs' full programming, then ms for the membership change on N VMs
baseline() {
	local ns="$1" n="$2" t i
	baseline_init "$ns"
	t=$(now_ms)
	for i in $(seq 0 $((n - 1))); do baseline_vm "$ns" "$i" >/dev/null; done
	BASE_FULL=$(($(now_ms) - t))
	t=$(now_ms)
	for i in $(seq 0 $((n - 1))); do baseline_rules "$ns" "$i" 11 >/dev/null; done
	BASE_INC=$(($(now_ms) - t))
}

report_programming() {
	local where="$1" n="$2"
	local bfull=$((BASE_FULL * PORTS / n)) binc=$((BASE_INC * PORTS / n))
	fig "[$where] cloudd full apply, $PORTS ports x 10 rules (ms)" "$OURS_FULL"
	fig "[$where]   of which script + nft, without reading the document" "$OURS_FULL_APPLY"
	fig "[$where] cloudd full replace of the populated table (ms)" "$OURS_REPLACE"
	fig "[$where] cloudd membership change for all $PORTS ports (ms)" "$OURS_INC"
	fig "[$where]   of which script + nft, without reading the documents" "$OURS_INC_APPLY"
	fig "[$where] baseline full, measured on $n VMs (ms)" "$BASE_FULL"
	fig "[$where] baseline full, extrapolated to $PORTS VMs (ms)" "$bfull"
	fig "[$where] baseline membership change, measured on $n VMs (ms)" "$BASE_INC"
	fig "[$where] baseline membership change, extrapolated to $PORTS (ms)" "$binc"
	fig "[$where] speed-up full apply (baseline / cloudd)" "$(awk -v a="$bfull" -v b="$OURS_FULL" 'BEGIN { printf "%.0fx", a / b }')"
	fig "[$where] speed-up membership change (baseline / cloudd)" "$(awk -v a="$binc" -v b="$OURS_INC" 'BEGIN { printf "%.0fx", a / b }')"
}

bench_host() {
	PHASE=host
	log "host kernel $(uname -r): cloudd (conntrack rules dropped by the nft wrapper) and the baseline"
	cat >"$TEST_TMP/nft-noct" <<'EOF'
#!/bin/sh
# nft for a kernel without bridge conntrack: the script minus its conntrack rules
if [ "$1" = -f ] && [ "$2" = - ]; then grep -v 'ct state' | nft -f -; else exec nft "$@"; fi
EOF
	chmod +x "$TEST_TMP/nft-noct"
	netns_add "fbo$TEST_ID"
	CLOUDD_NFT="$TEST_TMP/nft-noct" ours "fbo$TEST_ID"
	netns_add "fbb$TEST_ID"
	baseline "fbb$TEST_ID" "$BASE_HOST"
	report_programming "host kernel, native" "$BASE_HOST"
	fig "[host kernel, native] cloudd rules in the table (lines)" "$OURS_RULES"
	fig "[host kernel, native] membership change script (lines)" "$(wc -l <"$TEST_TMP/member.nft")"
}

iperf_once() {
	ip netns exec "b$TEST_ID" iperf3 -c 198.51.100.10 -t "${FILTER_BENCH_IPERF_SECONDS:-4}" -J >"$TEST_TMP/iperf.json" || return 1
	/usr/bin/python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$TEST_TMP/iperf.json"
}

# throughput WHERE: iperf3 between the first two ports' pseudo-guests on a
# bridge, with the $PORTS-port table and with no table, alternating
throughput() {
	local where="$1" runs="${FILTER_BENCH_IPERF_RUNS:-7}" with=() without=() r w wo
	filter_topology
	filter_guest a i-0 0 52:54:00:00:00:00 198.51.100.10
	filter_guest b i-1 0 52:54:00:00:00:01 198.51.100.11
	bg_ns "a$TEST_ID" "$TEST_TMP/iperf-server.log" iperf3 -s >/dev/null
	wait_for 30 "iperf3 server" ip netns exec "a$TEST_ID" sh -c 'ss -ltn | grep -q :5201'
	for r in $(seq "$runs"); do
		ip netns exec "$FH" "$CLOUDD" filter apply --state "$TEST_TMP/full.json" 2>/dev/null || fail "apply failed"
		with+=("$(iperf_once)") || fail "iperf3 with the table failed"
		ip netns exec "$FH" nft delete table bridge cloudd
		without+=("$(iperf_once)") || fail "iperf3 without the table failed"
	done
	w=$(printf '%s\n' "${with[@]}" | median)
	wo=$(printf '%s\n' "${without[@]}" | median)
	fig "[$where] iperf3 a->b, $PORTS-port table (Mbit/s, median of $runs)" "$w (runs: ${with[*]})"
	fig "[$where] iperf3 a->b, no filter table (Mbit/s, median of $runs)" "$wo (runs: ${without[*]})"
	fig "[$where] throughput ratio (with / without)" "$(awk -v a="$w" -v b="$wo" 'BEGIN { printf "%.2f", a / b }')"
}

bench_host() {
	PHASE=host
	log "host kernel $(uname -r): cloudd (conntrack rules dropped by the nft wrapper) and the baseline"
	cat >"$TEST_TMP/nft-noct" <<'EOF'
#!/bin/sh
# nft for a kernel without bridge conntrack: the script minus its conntrack rules
if [ "$1" = -f ] && [ "$2" = - ]; then grep -v 'ct state' | nft -f -; else exec nft "$@"; fi
EOF
	chmod +x "$TEST_TMP/nft-noct"
	netns_add "fbo$TEST_ID"
	CLOUDD_NFT="$TEST_TMP/nft-noct" ours "fbo$TEST_ID"
	netns_add "fbb$TEST_ID"
	baseline "fbb$TEST_ID" "$BASE_HOST"
	report_programming "host kernel, native" "$BASE_HOST"
	fig "[host kernel, native] cloudd rules in the table (lines)" "$OURS_RULES"
	fig "[host kernel, native] membership change script (lines)" "$(wc -l <"$TEST_TMP/member.nft")"
}

bench_vm() {
	PHASE=vm
	log "Debian node kernel $(uname -r) under TCG: cloudd (real table), baseline, throughput"
	netns_add "fbo$TEST_ID"
	ours "fbo$TEST_ID"
	netns_add "fbb$TEST_ID"
	baseline "fbb$TEST_ID" "$BASE_VM"
	report_programming "node kernel, TCG VM" "$BASE_VM"
	throughput "node kernel, TCG VM, real table (conntrack)"
}

gen_docs
if [ "${FILTER_IN_VM:-0}" = 1 ]; then
	bench_vm
	exit 0
fi

mkdir -p "$OUT/bench"
: >"$RESULTS/host.txt"
if filter_kernel_has_bridge_ct; then
	log "this kernel has bridge conntrack: everything runs here"
	bench_vm
	cat "$RESULTS/vm.txt" >"$OUT/bench/filter-bench.txt"
	exit 0
fi
bench_host
log "booting the Debian-kernel VM for the node-kernel half"
rc=0
FILTER_VM_RESULTS="$RESULTS" FILTER_VM_TIMEOUT=3000 filter_vm_run "$0" >"$TEST_TMP/vm-console.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] && [ -s "$RESULTS/vm.txt" ] || { tail -40 "$TEST_TMP/vm-console.log"; fail "the VM half failed (exit $rc)"; }
{
	echo "# filter-bench $(date -u +%Y-%m-%dT%H:%M:%SZ): $PORTS ports x 10 rules; baseline = CloudStack-style iptables/ebtables/ipset, one process per rule"
	cat "$RESULTS/host.txt" "$RESULTS/vm.txt"
} >"$OUT/bench/filter-bench.txt"
echo
cat "$OUT/bench/filter-bench.txt"
