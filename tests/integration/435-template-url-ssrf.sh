#!/usr/bin/env bash
# template URLs stay off internal networks: the controller refuses (422, naming the address) loopback, its own address and origin, accepts an allowed CIDR; cloudd refuses to connect to loopback at download time (its state names the address), fetches from its controller's origin and from allowed networks
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd python3 curl jq busybox
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"
CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
SHA=$(printf %064d 0)
tpl() { printf '{"name":"%s","format":"raw","url":"%s","sha256":"%s"}' "$1" "$2" "$SHA"; }

log "controller: a config with a bad template-allow-cidrs is refused (exit 100), naming the key"
rc=0; msg=$("$CC_BIN" -n --data-dir "$TEST_TMP/x" --template-allow-cidrs "192.0.2.0/24, 10.0.0.1/8" 2>&1) || rc=$?
[ "$rc" = 100 ] || fail "bad template-allow-cidrs: exit $rc ($msg)"
grep -q 'template-allow-cidrs.*"10.0.0.1/8"' <<<"$msg" || fail "the error does not name the key and the value: $msg"

cc_start --url http://127.0.0.1:8080 --template-allow-cidrs 198.51.100.0/24
tenant alpha; ALPHA=$TENANT_CONF

log "controller: loopback, link-local, the controller's origin and address are refused with 422 naming the address"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 422 POST /v1/templates "$(tpl lo http://127.0.0.1:9000/disk.raw)")
jq -e '.error.code == "forbidden_address"' <<<"$out" >/dev/null || fail "loopback: $out"
grep -q 'url: address 127.0.0.1 is loopback' <<<"$out" || fail "loopback: the message does not name the address: $out"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 422 POST /v1/templates "$(tpl meta http://169.254.169.254/latest)")
grep -q '169.254.169.254 is link-local' <<<"$out" || fail "link-local: $out"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 422 POST /v1/templates "$(tpl self http://127.0.0.1:8080/templates/x/file)")
grep -q 'url: http://127.0.0.1:8080 is the controller' <<<"$out" || fail "the controller's origin: $out"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 422 POST /v1/templates \
	'{"name":"k","format":"kernel","url":"http://192.0.2.9/k","sha256":"'"$SHA"'","initrd":{"url":"http://[::1]:81/i","sha256":"'"$SHA"'"}}')
grep -q 'initrd.url: address ::1 is loopback' <<<"$out" || fail "initrd on loopback: $out"
# the controller's own address (on its namespace's interface), on another port than its API
in_ns "$CC_NS" ip addr add 203.0.113.44/32 dev lo
out=$(CLOUDD_CONFIG=$ALPHA api_expect 422 POST /v1/templates "$(tpl own http://203.0.113.44:9000/disk.raw)")
grep -q "203.0.113.44 is the controller's own network" <<<"$out" || fail "the controller's address: $out"
CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/templates | jq -e '.items | length == 0' >/dev/null ||
	fail "a refused template was stored: $(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/templates)"

log "controller: an address elsewhere and one on an allowed CIDR are accepted"
CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/templates "$(tpl doc http://192.0.2.10/disk.raw)" >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/templates "$(tpl allowed http://198.51.100.7:8000/disk.raw)" | jq -e '.state == "ready"' >/dev/null ||
	fail "a template on an allowed CIDR"
cc_stop

log "node: cloudd refuses to connect to loopback for a template, and its state says which address"
NS="ssrf-$TEST_ID"
netns_add "$NS"
mkdir -p "$TEST_TMP/www" "$TEST_TMP/run" "$TEST_TMP/data"
head -c 65536 /dev/urandom >"$TEST_TMP/www/disk.raw"
SUM=$(sha256sum "$TEST_TMP/www/disk.raw" | cut -c1-64)
bg_ns "$NS" "$TEST_TMP/httpd.log" busybox httpd -f -p 127.0.0.1:8082 -h "$TEST_TMP/www" >/dev/null
wait_for 10 "httpd" in_ns "$NS" busybox wget -q -O /dev/null http://127.0.0.1:8082/disk.raw
cat >"$TEST_TMP/state.json" <<JSON
{"version": 1, "revision": 1,
 "templates": [{"id": "lo", "format": "raw", "url": "http://127.0.0.1:8082/disk.raw", "sha256": "$SUM"}],
 "instances": [{"id": "i-1", "name": "one", "vcpus": 1, "memory_mib": 128, "power": "running",
                "disks": [{"id": "root", "size_mib": 64, "template": "lo"}]}]}
JSON
NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE"
nsenter --net="/run/netns/$NS" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no --state "$TEST_TMP/state.json" \
	--run-dir "$TEST_TMP/run" --data-dir "$TEST_TMP/data" --accel tcg --converge-interval 1 --disk-policy none \
	--api-key-file "$TEST_TMP/node.key" >>"$TEST_TMP/cloudd.log" 2>&1 &
CLOUDD_PID=$!
cleanup_add "kill -9 $CLOUDD_PID 2>/dev/null"
wait_for 20 "cloudd /health" in_ns "$NS" curl -sf http://127.0.0.1:8081/health
i1_error() { node_curl "$NS" http://127.0.0.1:8081/v1/state -sf | jq -r '.instances[] | select(.id == "i-1") | .error // ""'; }
refused() { i1_error | grep -q 'refused to connect to 127.0.0.1 (loopback)'; }
wait_for 30 "i-1's error names the refused address" refused
log "i-1: $(i1_error)"
[ -z "$(find "$TEST_TMP/data/templates" -type f 2>/dev/null)" ] || fail "a refused template left files: $(find "$TEST_TMP/data/templates" -type f)"
grep -q 'refused to connect to 127.0.0.1 (loopback)' "$TEST_TMP/cloudd.log" || fail "cloudd's log does not say what it refused"
kill "$CLOUDD_PID"

log "node: the same URL is fetched when its network is allowed, or when it is the controller's origin"
guestkit_driver
NT="$GUESTKIT_DRIVER"
if in_ns "$NS" "$NT" template "$TEST_TMP/c1" http://127.0.0.1:8082/disk.raw "$SUM" 2>"$TEST_TMP/err"; then fail "loopback fetched"; fi
grep -q 'refused to connect to 127.0.0.1 (loopback)' "$TEST_TMP/err" || fail "nodetool: $(cat "$TEST_TMP/err")"
in_ns "$NS" "$NT" template "$TEST_TMP/c2" http://127.0.0.1:8082/disk.raw "$SUM" 127.0.0.0/8 >/dev/null ||
	fail "an allowed network was refused"
in_ns "$NS" "$NT" template "$TEST_TMP/c3" http://127.0.0.1:8082/disk.raw "$SUM" "" http://127.0.0.1:8082 >/dev/null ||
	fail "the controller's origin was refused"
if in_ns "$NS" "$NT" template "$TEST_TMP/c4" http://127.0.0.1:8082/disk.raw "$SUM" "" http://127.0.0.1:8083 2>/dev/null; then
	fail "another port of the controller's host was trusted"
fi
log "ok"
