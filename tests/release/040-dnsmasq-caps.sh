#!/usr/bin/env bash
# the packaged unit's capabilities are enough for netboot: dnsmasq as an unprivileged user with exactly its AmbientCapabilities hands out a DHCP lease and serves TFTP, and without them it cannot start
# timeout: 120
. "$ROOT/tests/release/lib-release.sh"
require_root
require_cmd dnsmasq setpriv busybox dpkg-deb
require_release

dpkg-deb -x "$REL"/debs/cloud-controller_*.deb "$TEST_TMP/cc"
unit="$TEST_TMP/cc/lib/systemd/system/cloud-controller.service"
caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit")
[ -n "$caps" ] || fail "the unit grants no capabilities"
bounding=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ "$bounding" = "$caps" ] || fail "CapabilityBoundingSet ($bounding) is not AmbientCapabilities ($caps)"
# "CAP_NET_RAW CAP_NET_ADMIN" -> "+net_raw,+net_admin"
setpriv_caps=$(for c in $caps; do c="${c#CAP_}"; printf '+%s,' "${c,,}"; done)
setpriv_caps="${setpriv_caps%,}"
log "the unit's capabilities: $caps ($setpriv_caps)"

ns="rel-$TEST_ID"
netns_add "$ns"
ip -n "$ns" link add prov0 type veth peer name node0
ip -n "$ns" addr add 192.0.2.1/24 dev prov0
ip -n "$ns" link set prov0 up
ip -n "$ns" link set node0 up

dir="$TEST_TMP/dnsmasq"
mkdir -p "$dir" && chown nobody "$dir"
chmod 755 "$TEST_TMP"
# the packaged template, rendered the way cloud-controller renders it
sed -e 's/@INTERFACE@/prov0/' -e 's/@RANGE@/192.0.2.100,192.0.2.199,255.255.255.0/' \
	-e 's|@TFTP_ROOT@|/usr/lib/ipxe|' -e 's|@BOOT_URL@|http://192.0.2.1:8080/boot.ipxe|' -e "s|@LEASE_DIR@|$dir|" \
	"$TEST_TMP/cc/usr/share/cloudd/pxe/dnsmasq.conf.in" >"$dir/dnsmasq.conf"

# dnsmasq as cloud-controller starts it (netboot.c)
dnsmasq=(/usr/sbin/dnsmasq --keep-in-foreground --log-facility=- --pid-file= --user=root --conf-file="$dir/dnsmasq.conf")
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

log "without capabilities dnsmasq cannot serve DHCP"
rc=0
timeout 10 ip netns exec "$ns" "${as_nobody[@]}" "${dnsmasq[@]}" >"$TEST_TMP/nocaps.log" 2>&1 || rc=$?
cat "$TEST_TMP/nocaps.log"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "dnsmasq ran without capabilities (exit $rc)"
grep -q 'Permission denied\|Operation not permitted' "$TEST_TMP/nocaps.log" || fail "dnsmasq failed for another reason"

log "with the unit's capabilities it serves a lease"
pid=$(bg_ns "$ns" "$TEST_TMP/dnsmasq.log" "${as_nobody[@]}" --inh-caps="$setpriv_caps" --ambient-caps="$setpriv_caps" \
	"${dnsmasq[@]}")
wait_for 10 "dnsmasq bound to prov0" grep -q 'sockets bound exclusively to interface prov0' "$TEST_TMP/dnsmasq.log"
in_ns "$ns" busybox udhcpc -i node0 -n -q -t 5 -T 1 -s /bin/true >"$TEST_TMP/udhcpc.log" 2>&1 ||
	{ cat "$TEST_TMP/udhcpc.log" "$TEST_TMP/dnsmasq.log"; fail "no DHCP lease from the unprivileged dnsmasq"; }
cat "$TEST_TMP/udhcpc.log"
grep -q 'lease of 192\.0\.2\.1[0-9][0-9] obtained' "$TEST_TMP/udhcpc.log" || fail "no lease in the pool"
grep -q 'DHCPACK(prov0)' "$TEST_TMP/dnsmasq.log" || fail "dnsmasq did not acknowledge the lease"
# ip netns exec and setpriv exec dnsmasq: one process
[ "$(ps -o user= -p "$pid" | tr -d ' ')" = nobody ] || fail "dnsmasq did not run as nobody: $(ps -o user=,comm= -p "$pid")"

log "and TFTP: undionly.kpxe as PXE firmware would fetch it"
if [ -f /usr/lib/ipxe/undionly.kpxe ]; then
	in_ns "$ns" busybox tftp -g -r undionly.kpxe -l "$TEST_TMP/undionly.kpxe" 192.0.2.1 ||
		fail "TFTP from the unprivileged dnsmasq failed"
	cmp -s "$TEST_TMP/undionly.kpxe" /usr/lib/ipxe/undionly.kpxe || fail "TFTP served another file"
else
	log "no /usr/lib/ipxe/undionly.kpxe on this host (package ipxe): TFTP not checked"
fi
cat "$TEST_TMP/dnsmasq.log"
log "dnsmasq netboots as a user with only $caps"
