#!/usr/bin/env bash
# cloud-controller supervises dnsmasq: generated configuration, restart after it dies, re-read of the known MACs when machines change, stopped with the controller
# timeout: 120
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl dnsmasq
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"
ipxe=/usr/lib/ipxe
[ -f "$ipxe/undionly.kpxe" ] && [ -f "$ipxe/snponly.efi" ] || fail "no iPXE binaries in $ipxe (Debian package ipxe)"

CC_NS="cc$TEST_ID"
netns_add "$CC_NS"
in_ns "$CC_NS" ip link add prov0 type bridge
in_ns "$CC_NS" ip addr add 198.51.100.1/24 dev prov0
in_ns "$CC_NS" ip link set prov0 up
cc_start --listen :8080 --netboot dhcp --interface prov0 --dhcp-range 198.51.100.100,198.51.100.199,255.255.255.0 \
	--url http://198.51.100.1:8080 --ipxe-dir "$ipxe"
conf="$CC_DATA/dnsmasq/dnsmasq.conf"
wait_for 10 "dnsmasq to serve DHCP" grep -q 'DHCP, IP range 198.51.100.100 -- 198.51.100.199' "$CC_LOG"

log "the generated configuration"
for line in "interface=prov0" "dhcp-range=198.51.100.100,198.51.100.199,255.255.255.0,1h" "tftp-root=$ipxe" \
	'dhcp-boot=tag:ipxe,http://198.51.100.1:8080/boot.ipxe?mac=${netX/mac}' "dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe" \
	"dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi" "dhcp-hostsfile=$CC_DATA/dnsmasq/hosts"; do
	grep -qxF "$line" "$conf" || fail "no line '$line' in $conf"
done

dnsmasq_pid() { pgrep -P "$CC_PID" -x dnsmasq; }
pid1=$(dnsmasq_pid) || fail "dnsmasq is not a child of the controller"

log "machines change: the hosts file is rewritten and dnsmasq re-reads it (SIGHUP, same process)"
reads() { grep -c "read $CC_DATA/dnsmasq/hosts" "$CC_LOG" || true; }
before=$(reads)
ctl machines add 52:54:00:00:35:01 --name node-35 >/dev/null
more_reads() { [ "$(reads)" -gt "$before" ]; }
wait_for 10 "dnsmasq to re-read the hosts file" more_reads
grep -qx "52:54:00:00:35:01,node-35" "$CC_DATA/dnsmasq/hosts" || fail "the hosts file lacks the machine: $(cat "$CC_DATA/dnsmasq/hosts")"
[ "$(dnsmasq_pid)" = "$pid1" ] || fail "dnsmasq was restarted instead of reloaded"
before=$(reads)
ctl machines rm node-35
wait_for 10 "dnsmasq to re-read the hosts file after the delete" more_reads
grep -q 52:54:00:00:35:01 "$CC_DATA/dnsmasq/hosts" && fail "the deleted machine is still in the hosts file"

log "dnsmasq killed: restarted, with an event"
kill -9 "$pid1"
restarted() { local p; p=$(dnsmasq_pid) && [ "$p" != "$pid1" ]; }
wait_for 15 "a new dnsmasq" restarted
grep -q "killed by signal 9" <<<"$(ctl events --type netboot)" || fail "no event for the dnsmasq restart"

log "the controller stops: so does dnsmasq"
pid2=$(dnsmasq_pid)
cc_stop
gone() { ! kill -0 "$pid2" 2>/dev/null; }
wait_for 10 "dnsmasq to exit with the controller" gone
log "ok"
