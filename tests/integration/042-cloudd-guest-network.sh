#!/usr/bin/env bash
# the cloudd binary gives a guest its network: bridge, filters loaded, static DHCP lease, the guest answers ping from the node, the seed's hostname on the console (in the Debian-kernel VM when the host has no bridge conntrack)
# timeout: 900
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd qemu-system-x86_64 qemu-img ip nft dnsmasq mkfs.fat mcopy ping curl python3
CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
filter_need_kernel "$0" "$@"
# a failure shows cloudd's side (the VM's files are gone with it)
fail() {
	[ -f "$TEST_TMP/cloudd.log" ] && tail -40 "$TEST_TMP/cloudd.log" >&2
	[ -n "${NS:-}" ] && node_curl "$NS" "http://127.0.0.1:8081/v1/state" -s --max-time 5 >&2
	printf '\nFAIL: %s\n' "$*" >&2
	exit 1
}
# taps need the tun module (the node image loads it at boot: modules.d/hypervisor.modules)
modprobe tun 2>/dev/null || true
guestkit_kernel
guestkit_initramfs "$TEST_TMP/initrd.gz"

NS="cn-$TEST_ID"
RUN="$TEST_TMP/run"
DATA="$TEST_TMP/data"
STATE="$TEST_TMP/state.json"
URL=http://127.0.0.1:8081
NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE"
MAC=52:54:00:12:34:42
mkdir -p "$RUN" "$DATA"
netns_add "$NS"
cleanup_add 'for p in "$RUN"/guests/*/pid; do [ -f "$p" ] && kill -9 "$(cat "$p")"; done'

sum() { sha256sum "$1" | cut -d' ' -f1; }
qemu-img create -q -f qcow2 "$TEST_TMP/empty.qcow2" 16M
cat >"$STATE" <<EOF
{ "version": 1, "revision": 1,
  "network": { "bridge": "brcn$TEST_ID", "address": "198.51.100.1/24", "gateway": "198.51.100.1",
               "dns": ["198.51.100.1"] },
  "templates": [
    { "id": "empty", "format": "qcow2", "path": "$TEST_TMP/empty.qcow2", "sha256": "$(sum "$TEST_TMP/empty.qcow2")" },
    { "id": "tinykernel", "format": "kernel", "cmdline": "console=ttyS0 no_timer_check",
      "kernel": { "path": "$GUESTKIT_KERNEL", "sha256": "$(sum "$GUESTKIT_KERNEL")" },
      "initrd": { "path": "$TEST_TMP/initrd.gz", "sha256": "$(sum "$TEST_TMP/initrd.gz")" } } ],
  "security_groups": [ { "id": "ping", "rules": [
      { "direction": "ingress", "protocol": "icmp", "cidr": "198.51.100.1/32" } ] } ],
  "instances": [
    { "id": "i-net", "name": "net-one", "vcpus": 1, "memory_mib": 128, "power": "running",
      "boot": { "template": "tinykernel" },
      "disks": [ { "id": "root", "size_mib": 32, "template": "empty" } ],
      "nics": [ { "mac": "$MAC", "ipv4": "198.51.100.42", "security_groups": ["ping"] } ],
      "cloud_init": { "hostname": "net-one" } } ] }
EOF

api() { node_curl "$NS" "$URL$1" -sf; }
console_has() { local c; c=$(api "/v1/instances/$1/console") && grep -q "$2" <<<"$c"; }

log "cloudd converges: bridge, filters, guest DHCP, then the guest"
pid=$(bg_ns "$NS" "$TEST_TMP/cloudd.log" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no --state "$STATE" \
	--run-dir "$RUN" --data-dir "$DATA" --accel tcg --converge-interval 1 --disk-policy none --api-key-file "$NODE_KEY_FILE")
cleanup_add "kill -9 $pid"
wait_for 20 "cloudd /health" api /health
wait_for 120 "the guest's QEMU" test -s "$RUN/guests/i-net/pid"
# the filter table is loaded before QEMU starts, with the guest's port in it
filters=$(api /v1/filters)
grep -q "$("$CLOUDD" filter port i-net 0)" <<<"$filters" || fail "the guest's port is not in the loaded filters: $filters"
wait_for 600 "the guest's DHCP lease through its filters" console_has i-net "guestkit: lease 198.51.100.42"
console_has i-net "guestkit: hostname net-one" || fail "the seed's hostname is not on the console"
grep -q "$MAC" "$RUN/dhcp/"* 2>/dev/null || fail "no static lease for $MAC in $RUN/dhcp"

log "the guest answers ping from the node (allowed by its security group; the replies pass the host guard as established)"
in_ns "$NS" nft list table inet cloudd_host >/dev/null || fail "no host guard (table inet cloudd_host) with the guest network"
replies() { in_ns "$NS" nft list chain inet cloudd_host from_guests | sed -n 's/.*established,related counter packets \([0-9]*\).*/\1/p'; }
r0=$(replies)
ok=0
for _ in 1 2 3; do
	if in_ns "$NS" ping -q -n -c 2 -W 5 198.51.100.42 >/dev/null 2>&1; then ok=1; break; fi
done
[ "$ok" = 1 ] || fail "no ping reply from the guest"
[ "$(replies)" -gt "$r0" ] || fail "the ping replies did not come through the host guard's established rule"
api /v1/state | python3 -c "
import json, sys
d = json.load(sys.stdin)
i = [x for x in d['instances'] if x['id'] == 'i-net'][0]
assert i['status'] == 'running' and d['converged'], d" || fail "/v1/state: $(api /v1/state)"
kill -TERM "$pid"
log "ok"
