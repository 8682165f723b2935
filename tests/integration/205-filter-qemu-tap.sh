#!/usr/bin/env bash
# filter on a real QEMU guest's tap: DHCP and allowed ping pass, a denied peer and a MAC the document does not give are dropped and counted
# timeout: 900
. "$(dirname "$0")/../lib.sh"
FILTER_LIB=1 . "$(dirname "$0")/200-filter-kernel.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd nft ip ping qemu-system-x86_64 dnsmasq
filter_need_kernel "$0" "$@"

filter_topology
filter_guest b i-b 0 52:54:00:00:0b:01 198.51.100.11
guestkit_kernel
guestkit_initramfs "$TEST_TMP/initramfs.gz"

MAC=52:54:00:00:0e:01
# a guest under nested emulation answers slowly: two tries, 5 s each
vm_ping() { local ns; ns=$(filter_ns "$1"); ip netns exec "$ns" ping -q -n -c 2 -W 5 198.51.100.20 >/dev/null 2>&1; }
TAP=$("$CLOUDD" filter port i-vm 0)

# doc NIC_MAC: the guest may be pinged by the node only
doc() {
	cat <<EOF
{ "version": 1, "revision": 1,
  "security_groups": [ { "id": "vm", "rules": [
      { "direction": "ingress", "protocol": "icmp", "icmp_type": 8, "cidr": "198.51.100.1/32" } ] } ],
  "instances": [
    { "id": "i-vm", "nics": [ { "mac": "$1", "ipv4": "198.51.100.20", "security_groups": ["vm"] } ] },
    { "id": "i-b", "nics": [ { "mac": "52:54:00:00:0b:01", "ipv4": "198.51.100.11" } ] } ] }
EOF
}
doc "$MAC" >"$TEST_TMP/state.json"
doc 52:54:00:00:0e:99 >"$TEST_TMP/wrong-mac.json"

log "guest DHCP on the bridge: dnsmasq with one static lease"
bg_ns "$FH" "$TEST_TMP/dnsmasq.log" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=br0 \
	--bind-interfaces --dhcp-range=198.51.100.0,static,255.255.255.0 --dhcp-host="$MAC,198.51.100.20" \
	--dhcp-leasefile="$TEST_TMP/leases" --log-dhcp >/dev/null

log "the filters first, then the tap and QEMU (as cloudd does: a guest never runs unfiltered)"
filter_apply "$TEST_TMP/state.json"
modprobe tun 2>/dev/null || true
ip -n "$FH" tuntap add dev "$TAP" mode tap
ip -n "$FH" link set "$TAP" master br0 up
bg_ns "$FH" "$TEST_TMP/qemu.log" qemu-system-x86_64 -accel tcg -m 160 -nodefaults -no-user-config -nographic \
	-kernel "$GUESTKIT_KERNEL" -initrd "$TEST_TMP/initramfs.gz" -append "console=ttyS0 quiet panic=-1" \
	-serial "file:$TEST_TMP/console.log" -no-reboot \
	-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$MAC" >/dev/null
wait_for 600 "the guest's DHCP lease through its filters" grep -q "guestkit: lease 198.51.100.20" "$TEST_TMP/console.log"
log "guest booted: $(grep -c . "$TEST_TMP/console.log") console lines; lease acknowledged by dnsmasq: $(grep -c DHCPACK "$TEST_TMP/dnsmasq.log")"

expect_ok "node -> guest ping (icmp type 8 from 198.51.100.1/32)" vm_ping node
expect_fail "b -> guest ping (not allowed)" vm_ping b
ip netns exec "$FH" "$CLOUDD" filter status --state "$TEST_TMP/state.json" >"$TEST_TMP/status.json"
/usr/bin/python3 - "$TEST_TMP/status.json" "$TAP" <<'EOF' || fail "the denied ping is not counted on the tap's port"
import json, sys
st = json.load(open(sys.argv[1]))
port = [p for p in st["ports"] if p["name"] == sys.argv[2]][0]
assert port["drops"].get("sg_ingress", 0) >= 1, port
print("drops on the tap:", port["drops"])
EOF

log "the document now gives the NIC another MAC: the guest's frames carry a MAC that is not its port's"
filter_apply "$TEST_TMP/wrong-mac.json" --from "$TEST_TMP/state.json"
expect_fail "node -> guest ping (the reply's source MAC is spoofed now)" vm_ping node
ip netns exec "$FH" "$CLOUDD" filter status --state "$TEST_TMP/wrong-mac.json" >"$TEST_TMP/status.json"
/usr/bin/python3 - "$TEST_TMP/status.json" "$TAP" <<'EOF' || fail "the spoofed MAC is not counted on the tap's port"
import json, sys
st = json.load(open(sys.argv[1]))
port = [p for p in st["ports"] if p["name"] == sys.argv[2]][0]
assert port["drops"].get("mac", 0) >= 1, port
print("drops on the tap:", port["drops"])
EOF
filter_apply "$TEST_TMP/state.json" --from "$TEST_TMP/wrong-mac.json"
expect_ok "node -> guest ping again with the right MAC" vm_ping node
log "a QEMU tap is filtered like the veth pseudo-guests"
