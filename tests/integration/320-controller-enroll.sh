#!/usr/bin/env bash
# cloud-controller: boot script tokens, cloudd enrolls and heartbeats, token reuse refused, node up -> unknown -> down -> up, unknown-MAC policies
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl
[ -x "$CC_BIN" ] && [ -x "$OUT/bin/cloudd" ] || fail "no $CC_BIN or $OUT/bin/cloudd (./build.sh cloudd)"

cc_start --heartbeat-interval 1 --down-after 6 --url http://127.0.0.1:8080
make_image_dir "$TEST_TMP/img" v1
ctl images publish "$TEST_TMP/img" >/dev/null || fail "publishing the image failed"
MAC=52:54:00:00:32:01
ctl machines add "$MAC" --name node-a --role hypervisor >/dev/null || fail "machines add failed"

# token_of MAC: the cloud.token= of the boot script the controller renders for MAC
token_of() {
	api GET "/boot.ipxe?mac=$1" --unsigned | sed -n 's/.*cloud\.token=\([0-9a-f]*\).*/\1/p' | tail -1
}
node_field() { # node_field REF FIELD
	api GET "/v1/nodes/$1" | tail -n +2 | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$2\"])"
}
node_state_is() { [ "$(node_field "$1" state)" = "$2" ]; }
heartbeat_after() { [ "$(node_field "$1" last_heartbeat_at)" != "$2" ]; }

log "the boot script carries the role, image URL, controller URL and a one-time token"
script=$(api GET "/boot.ipxe?mac=$MAC" --unsigned)
grep -q '^#!ipxe' <<<"$(tail -n +2 <<<"$script")" || fail "not an iPXE script: $script"
grep -q 'set image http://127.0.0.1:8080/images/v1' <<<"$script" || fail "no image URL in: $script"
grep -q 'cloud.role=hypervisor' <<<"$script" || fail "no role in: $script"
grep -q 'cloud.controller=http://127.0.0.1:8080' <<<"$script" || fail "no controller in: $script"
t1=$(token_of "$MAC")
t2=$(token_of "$MAC")
[ ${#t1} -eq 64 ] && [ "$t1" != "$t2" ] || fail "tokens are not fresh 64-hex strings: $t1 $t2"

log "a real cloudd (fake sysroot: 3 CPUs, 2 GiB) registers with the token and heartbeats"
sysroot="$TEST_TMP/sysroot"
mkdir -p "$sysroot/proc/sys/kernel/random" "$sysroot/run/cloudd" "$sysroot/sys/block" "$sysroot/sys/class/net"
# one boot throughout: a restarted cloudd keeps its credential (321 reboots)
echo 3a1c5e2f-7b9d-4e0a-8c6b-2d4f6a8b0c1e >"$sysroot/proc/sys/kernel/random/boot_id"
for i in 0 1 2; do printf 'processor\t: %d\nmodel name\t: Test CPU\n\n' "$i"; done >"$sysroot/proc/cpuinfo"
printf 'MemTotal:        2097152 kB\nMemAvailable:    1048576 kB\n' >"$sysroot/proc/meminfo"
echo node-a >"$sysroot/proc/sys/kernel/hostname"
echo "123.45 100.0" >"$sysroot/proc/uptime"
echo "0.10 0.05 0.01 1/100 42" >"$sysroot/proc/loadavg"
echo "console=ttyS0 BOOTIF=01-${MAC//:/-} cloud.controller=http://127.0.0.1:8080 cloud.token=$t2" >"$sysroot/proc/cmdline"
printf 'BOOT_MAC=%s\nCONTROLLER=http://127.0.0.1:8080\nIMAGE_VERSION=v1\n' "$MAC" >"$sysroot/run/cloudd/boot.env"
start_cloudd() { # start_cloudd DATA_DIR LOG PORT
	bg_ns "$CC_NS" "$2" "$OUT/bin/cloudd" --sysroot "$sysroot" --boot-env /run/cloudd/boot.env \
		--data-dir "$1" --run-dir "$1/run" --listen "127.0.0.1:$3" --syslog no --log-level debug
}
node_pid=$(start_cloudd "$TEST_TMP/node" "$TEST_TMP/cloudd.log" 8081)
wait_for 30 "the node is up" node_state_is "$MAC" up
ctl nodes list | tee "$TEST_TMP/nodes" | grep -E "$MAC +up +node-a +3 +2\.0G" >/dev/null ||
	fail "cloudctl nodes list does not show $MAC up with 3 CPUs and 2.0G: $(cat "$TEST_TMP/nodes")"
[ "$(stat -c %a "$TEST_TMP/node/node-credential.json")" = 600 ] || fail "the node credential is not mode 0600"
nid=$(node_field "$MAC" id)
hb1=$(node_field "$MAC" last_heartbeat_at)
wait_for 10 "heartbeats advance" heartbeat_after "$MAC" "$hb1"
grep -q '"load1"' <<<"$(api GET "/v1/nodes/$nid")" || fail "the heartbeat status is not stored"

log "the node answers requests signed with the key the controller keeps for it, and nothing else"
nurl=http://127.0.0.1:8081/v1/sysinfo
ncode() { in_ns "$CC_NS" curl -s -o "$TEST_TMP/nbody" -w '%{http_code}' "$@" "$nurl"; }
[ "$(ncode)" = 401 ] || fail "an unsigned /v1/sysinfo was not refused: $(cat "$TEST_TMP/nbody")"
[ "$(ncode -H "Authorization: $(node_auth --db "$CC_DATA/controller.db" --node "$MAC" GET "$nurl")")" = 200 ] ||
	fail "/v1/sysinfo signed with the controller's key for the node: $(cat "$TEST_TMP/nbody")"
grep -q "\"boot_mac\":\"$MAC\"" "$TEST_TMP/nbody" || fail "sysinfo of the node: $(cat "$TEST_TMP/nbody")"
# the node's own signature (node-to-controller) is no key to the node
[ "$(ncode -H "Authorization: $(node_auth --db "$CC_DATA/controller.db" --node "$MAC" --node-secret GET "$nurl")")" = 401 ] ||
	fail "a request signed with the node's secret itself was accepted"

log "the token cannot be used again (409); unknown and mismatching tokens are refused"
api_expect 409 POST /v1/nodes/register "{\"token\":\"$t2\",\"sysinfo\":{}}" --unsigned >/dev/null
api_expect 409 POST /v1/nodes/register "{\"token\":\"$t1\",\"sysinfo\":{}}" --unsigned >/dev/null # spent with t2
t3=$(token_of "$MAC")
api_expect 422 POST /v1/nodes/register "{\"token\":\"$t3\",\"sysinfo\":{\"boot_mac\":\"52:54:00:00:32:99\"}}" --unsigned >/dev/null
api_expect 401 POST /v1/nodes/register '{"token":"00000000","sysinfo":{}}' --unsigned >/dev/null
# a second cloudd presenting the spent token is refused and says so
start_cloudd "$TEST_TMP/node2" "$TEST_TMP/cloudd2.log" 8082 >/dev/null
wait_for 20 "the second cloudd reports the refusal" grep -q "registration refused (HTTP 409)" "$TEST_TMP/cloudd2.log"

log "a node key may only heartbeat for its own node"
nkey=$(python3 -c "import json; print(json.load(open('$TEST_TMP/node/node-credential.json'))['key'])")
nsecret=$(python3 -c "import json; print(json.load(open('$TEST_TMP/node/node-credential.json'))['secret'])")
api_expect 200 POST "/v1/nodes/$nid/heartbeat" '{"status":{}}' --key "$nkey" --secret "$nsecret" >/dev/null
api_expect 403 POST /v1/nodes/n-0000000000000000/heartbeat '{}' --key "$nkey" --secret "$nsecret" >/dev/null
api_expect 403 GET /v1/machines --key "$nkey" --secret "$nsecret" >/dev/null
api_expect 409 DELETE "/v1/nodes/$nid" >/dev/null

log "node stops: unknown after 3 missed heartbeats, then down; each change an event"
kill "$node_pid"
wait_for 15 "the node is unknown" node_state_is "$MAC" unknown
wait_for 15 "the node is down" node_state_is "$MAC" down
grep -q "$MAC" <<<"$(ctl nodes list --state down)" || fail "cloudctl nodes list --state down does not show the node"
ctl events --subject "$nid" >"$TEST_TMP/events"
for s in "is up: registered" "is unknown" "is down"; do
	grep -q "$s" "$TEST_TMP/events" || fail "no event \"$s\": $(cat "$TEST_TMP/events")"
done
grep -q 'cloud_controller_nodes{state="down"} 1' <<<"$(in_ns "$CC_NS" curl -s http://127.0.0.1:8080/metrics)" ||
	fail "/metrics does not count the down node"

log "cloudd restarts with its kept credential: the node is up again"
start_cloudd "$TEST_TMP/node" "$TEST_TMP/cloudd3.log" 8081 >/dev/null
wait_for 20 "the node is up again" node_state_is "$MAC" up
grep -q "heartbeat after being down" <<<"$(ctl events --subject "$nid")" || fail "no event for down -> up"

log "unknown MACs: ignored under unknown-mac = ignore"
out=$(api GET "/boot.ipxe?mac=52:54:00:00:32:77" --unsigned)
grep -q "not registered" <<<"$out" || fail "unknown MAC got: $out"
grep -q cloud.token <<<"$out" && fail "an ignored MAC got a token"
ctl machines show 52:54:00:00:32:77 >/dev/null 2>&1 && fail "an ignored MAC became a machine"
grep -q 52:54:00:00:32:77 <<<"$(ctl events --type boot.ignored)" || fail "no boot.ignored event"

log "unknown MACs: enrolled with the default role under unknown-mac = enroll"
cc_stop
cc_start --heartbeat-interval 1 --down-after 6 --url http://127.0.0.1:8080 --unknown-mac enroll --default-role storage
out=$(api GET "/boot.ipxe?mac=52:54:00:00:32:78" --unsigned)
grep -q "cloud.role=storage" <<<"$out" && grep -q "cloud.token=" <<<"$out" || fail "enrolled MAC got: $out"
out=$(ctl -o json machines show 52:54:00:00:32:78) || fail "the MAC was not enrolled as a machine"
grep -q '"source": "auto"' <<<"$out" || fail "the enrolled machine is not marked auto: $out"
grep -q 'boot_script_requests_total{result="enrolled"} 1' <<<"$(in_ns "$CC_NS" curl -s http://127.0.0.1:8080/metrics)" ||
	fail "/metrics does not count the enrolled boot"
log "ok"
