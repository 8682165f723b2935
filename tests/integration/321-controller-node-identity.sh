#!/usr/bin/env bash
# cloud-controller: a node's identity is not taken with its MAC alone: registration while the node is up refused (409 node_up, its key keeps working), tokens spent, bound to the MAC and (dhcp) to the leased address, expiring (token-ttl), unknown-mac = pending with admin approval, a rebooted node (new boot id) enrolls again and never converges on its old document
# timeout: 480
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl jq dnsmasq
[ -x "$CC_BIN" ] && [ -x "$OUT/bin/cloudd" ] || fail "no $CC_BIN or $OUT/bin/cloudd (./build.sh cloudd)"
ipxe=/usr/lib/ipxe
[ -f "$ipxe/undionly.kpxe" ] && [ -f "$ipxe/snponly.efi" ] || fail "no iPXE binaries in $ipxe (Debian package ipxe)"

# heartbeat every 2 s: a node that stops heartbeating is unknown after 6 s
cc_start --heartbeat-interval 2 --down-after 20 --url http://127.0.0.1:8080
make_image_dir "$TEST_TMP/img" v1
ctl images publish "$TEST_TMP/img" >/dev/null || fail "publishing the image failed"
MAC=52:54:00:00:32:11
OTHER=52:54:00:00:32:12
ctl machines add "$MAC" --name node-i >/dev/null || fail "machines add failed"
ctl machines add "$OTHER" --name node-j >/dev/null || fail "machines add failed"

token_of() { api GET "/boot.ipxe?mac=$1" --unsigned | sed -n 's/.*cloud\.token=\([0-9a-f]*\).*/\1/p' | tail -1; }
node_field() { api GET "/v1/nodes/$1" | tail -n +2 | jq -r ".$2"; }
node_state_is() { [ "$(node_field "$1" state)" = "$2" ]; }
heartbeat_after() { [ "$(node_field "$1" last_heartbeat_at)" != "$2" ]; }
cred_field() { jq -r ".$2" "$1/node-credential.json"; }
# what a refused request must leave alone: keys, tokens, machines, nodes (without heartbeat
# times; without their state once nodes that no longer heartbeat decay to unknown and down)
SNAP_NODE_STATE=1
snapshot() {
	python3 - "$CC_DATA/controller.db" "$SNAP_NODE_STATE" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
for q in ("SELECT id, role, node_id, revoked_at FROM api_keys ORDER BY id",
          "SELECT token_sha256, mac, machine_id, expires_at, used_at FROM enroll_tokens ORDER BY token_sha256",
          "SELECT id, mac, name, role, state, source FROM machines ORDER BY id",
          "SELECT id, mac, machine_id, hostname, %s, cpu_count, memory_bytes, address, sysinfo,"
          " registered_at FROM nodes ORDER BY id" % ("state" if sys.argv[2] == "1" else "'-'")):
    for row in db.execute(q):
        print(row)
EOF
}
# refused STATUS CODE BODY [OPTIONS]: POST /v1/nodes/register gets STATUS with the error CODE and changes nothing
refused() {
	local status="$1" code="$2" body="$3" before after out; shift 3
	before=$(snapshot)
	out=$(api_expect "$status" POST /v1/nodes/register "$body" --unsigned "$@")
	[ "$(jq -r .error.code <<<"$out")" = "$code" ] || fail "register: want error $code, got $out"
	after=$(snapshot)
	[ "$before" = "$after" ] || fail "a refused registration ($code) changed the store: $(diff <(echo "$before") <(echo "$after"))"
	REFUSED_MESSAGE=$(jq -r .error.message <<<"$out")
}
sysinfo() { # sysinfo MAC [CPUS]
	printf '{"boot_mac":"%s","hostname":"thief","cpu":{"count":%s},"memory":{"total_bytes":1099511627776}}' "$1" "${2:-256}"
}

log "tokens live token-ttl seconds (default 600)"
t=$(token_of "$MAC")
ttl=$(python3 -c "import sqlite3,sys,hashlib; print(sqlite3.connect(sys.argv[1]).execute('SELECT expires_at - created_at FROM enroll_tokens WHERE token_sha256 = ?', (hashlib.sha256(sys.argv[2].encode()).hexdigest(),)).fetchone()[0])" "$CC_DATA/controller.db" "$t")
[ "$ttl" = 600 ] || fail "a token lives $ttl s, want 600"
in_ns "$CC_NS" "$CC_BIN" -n --data-dir "$TEST_TMP/chk" --token-ttl 3601 >"$TEST_TMP/chk.out" 2>&1 && fail "token-ttl 3601 accepted"
grep -q token-ttl "$TEST_TMP/chk.out" || fail "token-ttl out of range not named: $(cat "$TEST_TMP/chk.out")"

log "a real cloudd (boot id 1) enrolls and heartbeats"
sysroot="$TEST_TMP/sysroot"
mkdir -p "$sysroot/proc/sys/kernel/random" "$sysroot/run/cloudd" "$sysroot/sys/block" "$sysroot/sys/class/net"
for i in 0 1; do printf 'processor\t: %d\nmodel name\t: Test CPU\n\n' "$i"; done >"$sysroot/proc/cpuinfo"
printf 'MemTotal:        2097152 kB\nMemAvailable:    1048576 kB\n' >"$sysroot/proc/meminfo"
echo node-i >"$sysroot/proc/sys/kernel/hostname"
echo "12.0 10.0" >"$sysroot/proc/uptime"
echo "0.10 0.05 0.01 1/100 42" >"$sysroot/proc/loadavg"
boot() { # boot BOOT_ID TOKEN: what the kernel of a fresh boot shows
	echo "$1" >"$sysroot/proc/sys/kernel/random/boot_id"
	echo "console=ttyS0 BOOTIF=01-${MAC//:/-} cloud.controller=http://127.0.0.1:8080 cloud.token=$2" >"$sysroot/proc/cmdline"
}
boot 11111111-1111-4111-8111-111111111111 "$t"
printf 'BOOT_MAC=%s\nCONTROLLER=http://127.0.0.1:8080\nIMAGE_VERSION=v1\n' "$MAC" >"$sysroot/run/cloudd/boot.env"
node_dir="$TEST_TMP/node"
start_cloudd() { # start_cloudd LOG
	bg_ns "$CC_NS" "$1" "$OUT/bin/cloudd" --sysroot "$sysroot" --boot-env /run/cloudd/boot.env \
		--data-dir "$node_dir" --run-dir "$node_dir/run" --disk-policy none --listen 127.0.0.1:8081 \
		--syslog no --log-level debug
}
node_pid=$(start_cloudd "$TEST_TMP/cloudd1.log")
wait_for 30 "the node is up" node_state_is "$MAC" up
nid=$(node_field "$MAC" id)
key1=$(cred_field "$node_dir" key)
secret1=$(cred_field "$node_dir" secret)
[ "$(cred_field "$node_dir" boot_id)" = 11111111-1111-4111-8111-111111111111 ] || fail "the credential is not stamped with the boot id"
# the node's state, read as the controller reads it (signed with the key it keeps for the node)
state_json() {
	local url=http://127.0.0.1:8081/v1/state
	in_ns "$CC_NS" curl -sf -H "Authorization: $(node_auth --db "$CC_DATA/controller.db" --node "$MAC" GET "$url")" "$url"
}
has_revision() { [ "$(state_json | jq -r .revision)" -ge 1 ] 2>/dev/null; }
wait_for 30 "the node converges on the controller's document" has_revision
wait_for 10 "the node keeps the document" test -f "$node_dir/desired-state.json"
[ "$(jq -r .boot_id "$node_dir/desired-state.json")" = 11111111-1111-4111-8111-111111111111 ] ||
	fail "the kept document is not stamped with the boot id: $(head -c 300 "$node_dir/desired-state.json")"

log "a thief with a fresh token for the MAC, while the node is up: 409 node_up, nothing changes, the node's key keeps working"
thief=$(token_of "$MAC")
refused 409 node_up "{\"token\":\"$thief\",\"sysinfo\":$(sysinfo "$MAC")}"
grep -q "is up" <<<"$REFUSED_MESSAGE" || fail "the node_up message does not say why: $REFUSED_MESSAGE"
api_expect 200 POST "/v1/nodes/$nid/heartbeat" '{"status":{}}' --key "$key1" --secret "$secret1" >/dev/null
hb=$(node_field "$MAC" last_heartbeat_at)
wait_for 10 "the real node still heartbeats" heartbeat_after "$MAC" "$hb"
grep -q "POST /v1/nodes/$nid/heartbeat.* 401\|heartbeat refused" "$TEST_TMP/cloudd1.log" && fail "the real node's heartbeat was refused"
[ "$(node_field "$MAC" cpu_count)" = 2 ] || fail "the thief's capacity was taken: $(node_field "$MAC" cpu_count) CPUs"
grep -q "node_up\|is up" <<<"$(ctl events --type node.register_refused)" || fail "no event for the refused registration"
refused 409 node_up "{\"token\":\"$thief\",\"sysinfo\":$(sysinfo "$MAC")}" # not spent by the refusal

log "spent, unknown, MAC-bound tokens"
refused 409 token_used "{\"token\":\"$t\",\"sysinfo\":$(sysinfo "$MAC")}"
refused 401 token_unknown "{\"token\":\"00000000\",\"sysinfo\":$(sysinfo "$MAC")}"
tj=$(token_of "$OTHER")
refused 422 mac_mismatch "{\"token\":\"$tj\",\"sysinfo\":$(sysinfo "$MAC")}"
refused 422 mac_mismatch "{\"token\":\"$tj\",\"sysinfo\":{\"hostname\":\"no-mac\"}}"

log "the node reboots (boot id 2): it enrolls again with its new token, waits while it is still up, never converges on its old document"
kill -9 "$node_pid"
# the kept document would be a tampered one if the node used it
python3 - "$node_dir/desired-state.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["document"]["revision"] = 999999
json.dump(d, open(sys.argv[1], "w"))
EOF
api_expect 200 POST "/v1/nodes/$nid/heartbeat" '{"status":{}}' --key "$key1" --secret "$secret1" >/dev/null
boot 22222222-2222-4222-8222-222222222222 "$(token_of "$MAC")"
node_pid=$(start_cloudd "$TEST_TMP/cloudd2.log")
wait_for 10 "the rebooted node is told its node is still up" grep -q "node_up" "$TEST_TMP/cloudd2.log"
grep -q "from another boot" "$TEST_TMP/cloudd2.log" || fail "the rebooted node does not say it discards what it kept"
new_key() { [ "$(cred_field "$node_dir" key 2>/dev/null)" != "$key1" ] && [ -n "$(cred_field "$node_dir" key 2>/dev/null)" ]; }
wait_for 40 "the rebooted node registers anew" new_key
[ "$(cred_field "$node_dir" boot_id)" = 22222222-2222-4222-8222-222222222222 ] || fail "the new credential has the old boot id"
api_expect 401 POST "/v1/nodes/$nid/heartbeat" '{"status":{}}' --key "$key1" --secret "$secret1" >/dev/null
wait_for 30 "the node is up again" node_state_is "$MAC" up
[ "$(node_field "$MAC" id)" = "$nid" ] || fail "the node changed its id"
wait_for 30 "the rebooted node converges on the controller's document" has_revision
st=$(state_json)
[ "$(jq -r .revision <<<"$st")" != 999999 ] || fail "the rebooted node converged on its old document"
jq -r .source <<<"$st" | grep -q "controller" || fail "the document did not come from the controller: $(jq -c '{revision,source}' <<<"$st")"
grep -q "999999" "$TEST_TMP/cloudd2.log" && fail "the rebooted node looked at its old document: $(grep 999999 "$TEST_TMP/cloudd2.log")"
kill -9 "$node_pid"

log "unknown-mac = pending: a new MAC waits for approval and gets no token until an admin approves it"
SNAP_NODE_STATE=0
cc_stop
cc_start --heartbeat-interval 2 --down-after 20 --url http://127.0.0.1:8080 --unknown-mac pending
NEW=52:54:00:00:32:13
out=$(api GET "/boot.ipxe?mac=$NEW" --unsigned)
grep -q '^#!ipxe' <<<"$(tail -n +2 <<<"$out")" && grep -q "awaits approval" <<<"$out" ||
	fail "a pending MAC got: $out"
grep -q 'sleep [0-9]' <<<"$out" && grep -qF 'chain http://127.0.0.1:8080/boot.ipxe?mac=${netX/mac}' <<<"$out" ||
	fail "the pending script does not wait and retry: $out"
grep -q "cloud.token" <<<"$out" && fail "a pending MAC got a token"
api GET "/boot.ipxe?mac=$NEW" --unsigned | grep -q "cloud.token" && fail "a pending MAC got a token on its second boot"
[ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM enroll_tokens WHERE mac = ?', (sys.argv[2],)).fetchone()[0])" "$CC_DATA/controller.db" "$NEW")" = 0 ] ||
	fail "tokens were stored for a pending MAC"
ctl machines list | grep -E "$NEW .*pending" >/dev/null || fail "machines list does not show $NEW pending: $(ctl machines list)"
[ "$(ctl -o json machines list | jq "[.[] | select(.mac == \"$NEW\")] | length")" = 1 ] || fail "the pending MAC is listed more than once"
grep -q "$NEW" <<<"$(ctl events --type machine.pending)" || fail "no machine.pending event"

log "a user key cannot approve (403), an unknown MAC is 404; nothing changes"
api_expect 201 POST /v1/accounts '{"name":"tenant-i"}' >/dev/null
acct=$(api_expect 200 GET /v1/accounts/tenant-i | jq -r .id)
ukey=$(api_expect 201 POST /v1/api-keys "{\"account\":\"$acct\",\"role\":\"user\"}")
before=$(snapshot)
api_expect 403 POST "/v1/machines/$NEW/approve" --key "$(jq -r .id <<<"$ukey")" --secret "$(jq -r .secret <<<"$ukey")" >/dev/null
api_expect 404 POST /v1/machines/52:54:00:00:32:99/approve >/dev/null
[ "$before" = "$(snapshot)" ] || fail "a refused approval changed the store"
api GET "/boot.ipxe?mac=$NEW" --unsigned | grep -q "cloud.token" && fail "still pending, the MAC got a token"

log "cloudctl machines approve: the machine is approved (again: still fine), its next boot script carries a token"
ctl machines approve "$NEW" >/dev/null || fail "cloudctl machines approve failed"
ctl machines approve "$NEW" >/dev/null || fail "approving an approved machine failed"
[ "$(ctl -o json machines show "$NEW" | jq -r .state)" = approved ] || fail "the machine is not approved"
[ "$(ctl events --type machine.approved | grep -c "$NEW")" = 1 ] || fail "want one machine.approved event"
tn=$(token_of "$NEW")
[ ${#tn} -eq 64 ] || fail "the approved machine got no token"

log "a token of a machine forgotten and pending again is refused (403 machine_pending)"
ctl machines rm "$NEW"
api GET "/boot.ipxe?mac=$NEW" --unsigned | grep -q "awaits approval" || fail "the forgotten MAC is not pending again"
refused 403 machine_pending "{\"token\":\"$tn\",\"sysinfo\":$(sysinfo "$NEW")}"

log "netboot = dhcp: a token is bound to the address dnsmasq leased to its MAC"
cc_stop
in_ns "$CC_NS" ip link add prov0 type bridge
in_ns "$CC_NS" ip addr add 198.51.100.1/24 dev prov0
in_ns "$CC_NS" ip link set prov0 up
cc_start --listen :8080 --netboot dhcp --interface prov0 --dhcp-range 198.51.100.100,198.51.100.199,255.255.255.0 \
	--url http://198.51.100.1:8080 --ipxe-dir "$ipxe" --heartbeat-interval 2 --down-after 20
wait_for 10 "dnsmasq to serve DHCP" grep -q 'DHCP, IP range 198.51.100.100' "$CC_LOG"
D=52:54:00:00:32:14
reads() { grep -c "read $CC_DATA/dnsmasq/hosts" "$CC_LOG" || true; }
r0=$(reads)
ctl machines add "$D" --name node-d >/dev/null || fail "machines add failed"
more_reads() { [ "$(reads)" -gt "$r0" ]; }
wait_for 10 "dnsmasq to re-read the hosts file" more_reads
refused 403 address_mismatch "{\"token\":\"$(token_of "$D")\",\"sysinfo\":$(sysinfo "$D")}"
grep -q "no DHCP lease" <<<"$REFUSED_MESSAGE" || fail "the message does not say there is no lease: $REFUSED_MESSAGE"
echo "$(($(date +%s) + 3600)) $D 198.51.100.150 node-d 01:${D}" >>"$CC_DATA/dnsmasq/dnsmasq.leases"
refused 403 address_mismatch "{\"token\":\"$(token_of "$D")\",\"sysinfo\":$(sysinfo "$D")}"
grep -q "198.51.100.150" <<<"$REFUSED_MESSAGE" || fail "the message does not name the leased address: $REFUSED_MESSAGE"
in_ns "$CC_NS" ip addr add 198.51.100.150/24 dev prov0
in_ns "$CC_NS" ip addr add 198.51.100.151/24 dev prov0
refused 403 address_mismatch "{\"token\":\"$(token_of "$D")\",\"sysinfo\":$(sysinfo "$D")}" --source 198.51.100.151
api_expect 201 POST /v1/nodes/register "{\"token\":\"$(token_of "$D")\",\"sysinfo\":$(sysinfo "$D" 4)}" --unsigned --source 198.51.100.150 >/dev/null
[ "$(node_field "$D" address)" = 198.51.100.150 ] || fail "the node's address is not its lease"
[ "$(node_field "$D" cpu_count)" = 4 ] || fail "the registration from the leased address did not take"
log "an expired token is refused (401 token_expired, token-ttl 10)"
cc_stop
cc_start --listen :8080 --netboot dhcp --interface prov0 --dhcp-range 198.51.100.100,198.51.100.199,255.255.255.0 \
	--url http://198.51.100.1:8080 --ipxe-dir "$ipxe" --heartbeat-interval 2 --down-after 20 --token-ttl 10
te=$(token_of "$D")
sleep 11
refused 401 token_expired "{\"token\":\"$te\",\"sysinfo\":$(sysinfo "$D")}" --source 198.51.100.150
log "ok"
