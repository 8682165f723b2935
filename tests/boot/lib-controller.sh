# lib-controller.sh -- netboot through cloud-controller for the boot tests (source after tests/lib.sh)
#
# cc_boot_lab_up [CONTROLLER OPTIONS..]: a namespace with a bridge
# (192.0.2.1/24) and cloud-controller on 192.0.2.1:8080, which starts dnsmasq
# itself (default: netboot = dhcp, pool 192.0.2.50-99, heartbeat every 2 s,
# down after 14 s); publishes the image of $OUT. VMs are started with
# boot_vm from lib-boot.sh; api/ctl from tests/integration/controller-lib.sh.

. "$ROOT/tests/boot/lib-boot.sh"
. "$ROOT/tests/integration/controller-lib.sh"

cc_boot_lab_up() {
	require_root
	require_cmd qemu-system-x86_64 python3 curl
	local f
	for f in vmlinuz initramfs.img SHA256SUMS manifest.json undionly.kpxe snponly.efi; do
		[ -f "$OUT/$f" ] || fail "$OUT/$f missing: build the image first (./build.sh image)"
	done
	[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"
	netns_add "$BOOT_NS"
	in_ns "$BOOT_NS" ip link add "$BOOT_BR" type bridge
	in_ns "$BOOT_NS" ip addr add "$BOOT_GW/24" dev "$BOOT_BR"
	in_ns "$BOOT_NS" ip link set "$BOOT_BR" up
	CC_NS="$BOOT_NS"
	cc_boot_controller --netboot dhcp --dhcp-range 192.0.2.50,192.0.2.99,255.255.255.0 "$@"
	CC_IMAGE_VERSION=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image_version"])' "$OUT/manifest.json")
	ctl images publish "$OUT" >/dev/null || fail "publishing the image of $OUT failed"
	log "lab up: $BOOT_NS, bridge $BOOT_BR $BOOT_GW/24, cloud-controller + dnsmasq, image published"
}

# cc_boot_controller [OPTIONS..]: (re)start the controller in the lab namespace
cc_boot_controller() {
	CC_DATA="$TEST_TMP/data"
	CC_LOG="$TEST_TMP/controller.log"
	[ -z "${CC_PID:-}" ] || cc_stop
	CC_PID=$(bg_ns "$BOOT_NS" "$CC_LOG" "$CC_BIN" --data-dir "$CC_DATA" --listen "$BOOT_GW:8080" \
		--url "$BOOT_HTTP" --interface "$BOOT_BR" --ipxe-dir "$OUT" --pxe-dir "$ROOT/pxe" \
		--heartbeat-interval 2 --down-after 14 "$@")
	export CLOUDD_CONFIG="$CC_DATA/admin.conf"
	wait_for 20 "cloud-controller answers on $BOOT_HTTP" in_ns "$BOOT_NS" curl -sf "$BOOT_HTTP/health"
	wait_for 20 "dnsmasq started by the controller" grep -q "dnsmasq started" "$CC_LOG"
}

# node_json MAC: the node's JSON from the API ("" when there is none)
node_json() { api GET "/v1/nodes/$1" | tail -n +2; }

# node_matches MAC STATE [CPUS MEM_MIN_MIB MEM_MAX_MIB]: cloudctl nodes list shows it so
node_matches() {
	ctl -o json nodes list 2>/dev/null | python3 -c '
import json, sys
mac, state = sys.argv[1], sys.argv[2]
want = sys.argv[3:]
for n in json.load(sys.stdin):
    if n["mac"] != mac or n["state"] != state:
        continue
    if want:
        cpus, lo, hi = int(want[0]), int(want[1]) << 20, int(want[2]) << 20
        if n["cpu_count"] != cpus or not (lo <= (n["memory_bytes"] or 0) <= hi):
            print("node %s: %s CPUs, %s bytes" % (mac, n["cpu_count"], n["memory_bytes"]), file=sys.stderr)
            sys.exit(1)
    sys.exit(0)
sys.exit(1)
' "$@"
}
