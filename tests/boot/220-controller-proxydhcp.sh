#!/usr/bin/env bash
# proxyDHCP: a site DHCP server hands out addresses only, cloud-controller (netboot = proxy) still gets the node booted and enrolled
# timeout: 600
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-controller.sh"

SITE_NS="csite-$TEST_ID"
MAC=52:54:00:c2:20:01

cc_boot_lab_up --netboot proxy --dhcp-range 192.0.2.0

log "the site's DHCP server: another namespace on the bridge, addresses 192.0.2.100-150, no boot options"
netns_add "$SITE_NS"
ip link add "vs$TEST_ID" type veth peer name "vb$TEST_ID"
ip link set "vb$TEST_ID" netns "$BOOT_NS"
ip link set "vs$TEST_ID" netns "$SITE_NS"
in_ns "$BOOT_NS" ip link set "vb$TEST_ID" master "$BOOT_BR" up
in_ns "$SITE_NS" ip addr add 192.0.2.2/24 dev "vs$TEST_ID"
in_ns "$SITE_NS" ip link set "vs$TEST_ID" up
cat >"$TEST_TMP/site.conf" <<EOF2
port=0
interface=vs$TEST_ID
bind-interfaces
dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h
dhcp-leasefile=$TEST_TMP/site.leases
log-dhcp
EOF2
bg_ns "$SITE_NS" "$TEST_TMP/site-dhcp.log" dnsmasq -k --conf-file="$TEST_TMP/site.conf" --pid-file= \
	--log-facility=- --user=root >/dev/null
wait_for 10 "the site DHCP server to start" grep -q 'DHCP, IP range' "$TEST_TMP/site-dhcp.log"
grep -q 'proxy' "$CC_DATA/dnsmasq/dnsmasq.conf" || fail "the controller's dnsmasq is not in proxy mode"

ctl machines add "$MAC" --name node-220 >/dev/null
boot_vm p220 e1000 "$MAC"
boot_wait_console 300 p220 'cloudd-init: \[network\]'
log "p220: $(grep -aoE 'cloudd-init: \[network\].*' "$TEST_TMP/p220.console" | tail -1 | tr -d '\r')"
wait_for 240 "the node is up" node_matches "$MAC" up
addr=$(node_json "$MAC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
case "$addr" in
192.0.2.1[0-4][0-9] | 192.0.2.150) ;;
*) fail "the node's address $addr is not from the site DHCP server's range" ;;
esac
grep -q "$MAC" "$TEST_TMP/site.leases" || fail "the site DHCP server has no lease for $MAC"
grep -qi "proxy" "$CC_LOG" || fail "the controller's dnsmasq log shows no proxy replies"
log "ok: node at $addr (site DHCP), booted by the controller's proxyDHCP"
