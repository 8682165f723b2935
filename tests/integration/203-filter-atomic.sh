#!/usr/bin/env bash
# filter atomicity: while the table is replaced and updated continuously, an allowed probe never fails and a denied one never passes
# timeout: 500
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
require_root
require_cmd nft ip
filter_need_kernel "$0" "$@"

filter_topology
filter_tools
filter_guest a i-a 0 52:54:00:00:0a:01 198.51.100.10
filter_guest b i-b 0 52:54:00:00:0b:01 198.51.100.11
serve a tcp 8000 8101

# doc VARIANT: two documents that differ in many rules, groups and members but
# both allow b -> a tcp 8000 and deny b -> a tcp 8101
doc() {
	/usr/bin/python3 - "$1" <<'EOF'
import json, sys
variant = int(sys.argv[1])
noise = []
for g in range(20):
    rules = [{"direction": "ingress", "protocol": "tcp", "ports": str(20000 + variant * 1000 + g * 10 + r),
              "cidr": "203.0.113.%d/32" % (r + 1)} for r in range(10)]
    noise.append({"id": "noise-%d-%d" % (variant, g), "members": ["192.0.2.%d" % (variant * 50 + g + 1)], "rules": rules})
web_rules = [{"direction": "ingress", "protocol": "udp", "ports": "53", "cidr": "192.0.2.0/24"}] * variant + [
    {"direction": "ingress", "protocol": "tcp", "ports": "7000-8000", "group": "client"},
    {"direction": "ingress", "protocol": "tcp", "ports": "8102-9000", "cidr": "198.51.100.0/24"}]
groups = [{"id": "web", "rules": web_rules}, {"id": "client", "members": ["192.0.2.%d" % (200 + variant)]}] + noise
nic_groups = ["web"] + [n["id"] for n in noise[:3]]
doc = {"version": 1, "revision": variant, "security_groups": groups,
       "instances": [
           {"id": "i-a", "nics": [{"mac": "52:54:00:00:0a:01", "ipv4": "198.51.100.10", "security_groups": nic_groups}]},
           {"id": "i-b", "nics": [{"mac": "52:54:00:00:0b:01", "ipv4": "198.51.100.11", "security_groups": ["client"]}]}]}
json.dump(doc, sys.stdout, indent=1)
EOF
}
doc 0 >"$TEST_TMP/x.json"
doc 1 >"$TEST_TMP/y.json"
filter_apply "$TEST_TMP/x.json" 2>/dev/null
probe b tcp 198.51.100.10 8000 || fail "the allowed probe fails before any change"
! probe b tcp 198.51.100.10 8101 || fail "the denied probe passes before any change"

cat >"$TEST_TMP/prober.py" <<'EOF'
import os, socket, sys, time
stop, out = sys.argv[1], sys.argv[2]
allowed_ok = allowed_fail = denied_pass = denied_blocked = 0
def attempt(port, timeout):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect(("198.51.100.10", port))
        return s.recv(16).startswith(b"ok")
    except OSError:
        return False
    finally:
        s.close()
while not os.path.exists(stop):
    if attempt(8000, 3.0):
        allowed_ok += 1
    else:
        allowed_fail += 1
    if attempt(8101, 0.2):
        denied_pass += 1
    else:
        denied_blocked += 1
open(out, "w").write("%d %d %d %d\n" % (allowed_ok, allowed_fail, denied_pass, denied_blocked))
EOF
bg_ns "b$TEST_ID" "$TEST_TMP/prober.log" /usr/bin/python3 "$TEST_TMP/prober.py" "$TEST_TMP/stop" "$TEST_TMP/result" >/dev/null

log "replacing the table whole and updating it incrementally, back and forth, while b probes a"
applies=0
for i in $(seq 8); do
	filter_apply "$TEST_TMP/y.json" 2>>"$TEST_TMP/applies.log"                          # full (like a restart)
	filter_apply "$TEST_TMP/x.json" --from "$TEST_TMP/y.json" 2>>"$TEST_TMP/applies.log" # incremental
	filter_apply "$TEST_TMP/y.json" --from "$TEST_TMP/x.json" 2>>"$TEST_TMP/applies.log" # incremental
	filter_apply "$TEST_TMP/x.json" 2>>"$TEST_TMP/applies.log"                          # full
	applies=$((applies + 4))
done
touch "$TEST_TMP/stop"
wait_for 30 "the prober's result" test -s "$TEST_TMP/result"
read -r allowed_ok allowed_fail denied_pass denied_blocked <"$TEST_TMP/result"
log "$applies applies ($(grep -c '^cloudd filter: full apply' "$TEST_TMP/applies.log") full, $(grep -c '^cloudd filter: incremental apply' "$TEST_TMP/applies.log") incremental)"
log "allowed probe: $allowed_ok passed, $allowed_fail failed; denied probe: $denied_pass passed, $denied_blocked blocked"
[ "$(grep -c '^cloudd filter: incremental apply' "$TEST_TMP/applies.log")" -eq 16 ] || fail "the incremental applies did not all take the incremental path"
! grep -q "refused" "$TEST_TMP/applies.log" || fail "an incremental update was refused by nft"
[ "$allowed_ok" -ge 10 ] && [ "$denied_blocked" -ge 10 ] || fail "too few probes ran during the changes"
[ "$allowed_fail" -eq 0 ] || fail "the allowed probe failed $allowed_fail times while the table changed"
[ "$denied_pass" -eq 0 ] || fail "the denied probe passed $denied_pass times while the table changed"
log "no probe saw a half-applied table"
