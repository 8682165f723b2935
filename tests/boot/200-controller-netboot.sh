#!/usr/bin/env bash
# netboot through cloud-controller (dnsmasq started by it): a registered MAC boots, enrolls and shows up with its MAC, CPUs and memory; stopped, it becomes unknown then down
# timeout: 600
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-controller.sh"

MAC=52:54:00:c2:00:01
cc_boot_lab_up
ctl machines add "$MAC" --name node-200 --role hypervisor >/dev/null || fail "registering the machine failed"
boot_vm n200 e1000 "$MAC" -smp 2
boot_wait_console 300 n200 'cloudd-init: \[network\]'
log "n200: $(boot_last_stage n200)"
wait_for 240 "cloudctl nodes list shows $MAC up with 2 CPUs and 900-1024 MiB" node_matches "$MAC" up 2 900 1024
ctl nodes list
node=$(node_json "$MAC")
# the node answers the key the controller keeps for it, and refuses unsigned requests
naddr=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["address"])' "$node")
[ "$(http_code "http://$naddr:8081/v1/sysinfo")" = 401 ] || fail "the node answers an unsigned /v1/sysinfo"
in_ns "$BOOT_NS" curl -fsS --max-time 5 -H "Authorization: $(node_auth --db "$CC_DATA/controller.db" --node "$MAC" GET "http://$naddr:8081/v1/sysinfo")" \
	"http://$naddr:8081/v1/sysinfo" | grep -q "\"boot_mac\":\"$MAC\"" ||
	fail "the node does not answer /v1/sysinfo signed with the controller's key for it"
grep -q '"hostname": *"node-200"' <<<"$node" || fail "the node did not take the machine name as hostname: $node"
grep -q "\"image_version\": *\"$CC_IMAGE_VERSION\"" <<<"$node" ||
	fail "the node does not run the published image $CC_IMAGE_VERSION: $node"
grep -q "boot.ipxe?mac=$MAC" "$CC_LOG" || grep -q 'route="/boot.ipxe",code="200"' <<<"$(in_ns "$BOOT_NS" curl -s "$BOOT_HTTP/metrics")" ||
	fail "the boot script did not come from the controller"
grep -q 'cloud_controller_boot_script_requests_total{result="known"} [1-9]' <<<"$(in_ns "$BOOT_NS" curl -s "$BOOT_HTTP/metrics")" ||
	fail "/metrics counts no boot script for a known MAC"

log "stop the VM: unknown after 3 missed heartbeats, then down"
kill -9 "$BOOT_VM_PID"
wait_for 30 "the node is unknown" node_matches "$MAC" unknown
wait_for 30 "the node is down" node_matches "$MAC" down
events=$(ctl events --type node)
for s in "is up: registered" "is unknown" "is down"; do
	grep -q "$s" <<<"$events" || fail "no event \"$s\": $events"
done
log "ok"
