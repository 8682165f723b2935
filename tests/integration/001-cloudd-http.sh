#!/usr/bin/env bash
# cloudd serves /health, /metrics to anyone, /v1/sysinfo to signed requests on its interface; 401 before 404; 405/413 JSON errors; clean SIGTERM
# timeout: 120
. "$(dirname "$0")/../lib.sh"
require_root
require_cmd curl ip python3

CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"

ns="cl-http-$TEST_ID"
netns_add "$ns"
ip -n "$ns" link add prov0 type veth peer name prov0p
ip -n "$ns" link set prov0 address 52:54:00:c1:0d:01 up
ip -n "$ns" link set prov0p up
ip -n "$ns" addr add 192.0.2.10/24 dev prov0

cat >"$TEST_TMP/cloudd.conf" <<CONF
# provisioning interface; the port comes from listen
listen = :8081
listen-interface = prov0
syslog = no
max-body = 4K
boot-env = $TEST_TMP/boot.env
api-key-file = $TEST_TMP/node.key
CONF
NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE" ak-test-001
printf 'BOOT_MAC=52:54:00:c1:0d:01\nBOOT_IF=prov0\n' >"$TEST_TMP/boot.env"

log "configuration check"
rc=0; "$CLOUDD" -n --config "$TEST_TMP/cloudd.conf" --api-key-file /nonexistent/key 2>"$TEST_TMP/err" || rc=$?
[ "$rc" -eq 100 ] || fail "missing api-key-file: exit $rc, want 100"
grep -q 'api-key-file: /nonexistent/key' "$TEST_TMP/err" || fail "missing api-key-file not named: $(cat "$TEST_TMP/err")"
in_ns "$ns" "$CLOUDD" -n --config "$TEST_TMP/cloudd.conf" || fail "cloudd -n rejected a good configuration"
rc=0; in_ns "$ns" "$CLOUDD" -n --config "$TEST_TMP/cloudd.conf" --listen nonsense 2>"$TEST_TMP/err" || rc=$?
[ "$rc" -eq 100 ] || fail "bad --listen: exit $rc, want 100"
grep -q 'command line: --listen' "$TEST_TMP/err" || fail "bad --listen: error does not name the option: $(cat "$TEST_TMP/err")"
printf 'listen = :8081\nlisen = x\n' >"$TEST_TMP/typo.conf"
rc=0; "$CLOUDD" -n --config "$TEST_TMP/typo.conf" 2>"$TEST_TMP/err" || rc=$?
[ "$rc" -eq 100 ] || fail "unknown key: exit $rc, want 100"
grep -q "typo.conf:2: lisen: unknown key" "$TEST_TMP/err" || fail "unknown key not named: $(cat "$TEST_TMP/err")"

log "starting cloudd in $ns"
# the wrapper records cloudd's exit status for the SIGTERM check
bg_ns "$ns" "$TEST_TMP/cloudd.log" sh -c '"$1" --config "$2" & echo $! >"$3.pid"; wait $!; echo $? >"$3.rc"' \
	sh "$CLOUDD" "$TEST_TMP/cloudd.conf" "$TEST_TMP/cloudd" >/dev/null
wait_for 5 "cloudd pid file" test -s "$TEST_TMP/cloudd.pid"
pid=$(cat "$TEST_TMP/cloudd.pid")
cleanup_add "kill -9 $pid"
url=http://192.0.2.10:8081
wait_for 10 "cloudd /health" in_ns "$ns" curl -sf "$url/health"
# it listens on the interface's address only
in_ns "$ns" curl -s -o /dev/null --max-time 2 http://127.0.0.1:8081/health && fail "cloudd answers on 127.0.0.1, not only on prov0"

# status CODE [curl args...]: prints the body to $TEST_TMP/body, checks the status
status() {
	local want="$1"; shift
	local got
	got=$(in_ns "$ns" curl -s -o "$TEST_TMP/body" -w '%{http_code}' "$@") || true
	[ "$got" = "$want" ] || fail "curl $*: status $got, want $want; body: $(head -c 300 "$TEST_TMP/body")"
}
json() { python3 -c "import json,sys; d=json.load(open('$TEST_TMP/body')); print($1)"; }

log "/health"
status 200 "$url/health"
[ "$(json 'd["status"]')" = ok ] || fail "/health status is not ok: $(cat "$TEST_TMP/body")"

log "/v1/sysinfo: 401 unsigned, 200 signed"
status 401 "$url/v1/sysinfo"
[ "$(json 'd["error"]["code"]')" = unauthorized ] || fail "401 is not a JSON error: $(cat "$TEST_TMP/body")"
status 200 -H "Authorization: $(node_auth GET "$url/v1/sysinfo")" "$url/v1/sysinfo"
[ "$(json 'd["boot_mac"]')" = 52:54:00:c1:0d:01 ] || fail "boot_mac wrong: $(cat "$TEST_TMP/body")"
[ "$(json '[n["mac"] for n in d["nics"] if n["name"]=="prov0"][0]')" = 52:54:00:c1:0d:01 ] ||
	fail "prov0 MAC missing from nics: $(cat "$TEST_TMP/body")"
[ "$(json 'd["cpu"]["count"] > 0 and d["memory"]["total_bytes"] > 0')" = True ] || fail "cpu/memory missing"
[ "$(json 'type(d["kvm"]["usable"]).__name__')" = bool ] || fail "kvm.usable missing"
[ "$(json 'd["kernel"]["release"]')" = "$(uname -r)" ] || fail "kernel release wrong"

log "errors: 401 before 404, 405, 413"
status 401 "$url/no/such/path"
status 404 -H "Authorization: $(node_auth GET "$url/no/such/path")" "$url/no/such/path"
[ "$(json 'd["error"]["code"]')" = not_found ] || fail "404 is not a JSON error: $(cat "$TEST_TMP/body")"
status 405 -X POST "$url/health"
[ "$(json 'd["error"]["code"]')" = method_not_allowed ] || fail "405 is not a JSON error"
head -c 8192 /dev/zero | tr '\0' x >"$TEST_TMP/big"
status 413 -X POST --data-binary @"$TEST_TMP/big" "$url/health"
[ "$(json 'd["error"]["code"]')" = payload_too_large ] || fail "413 is not a JSON error"
# the server is still fine after all that
status 200 "$url/health"

log "/metrics"
ctype=$(in_ns "$ns" curl -s -o "$TEST_TMP/metrics" -w '%{content_type}' "$url/metrics")
[ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "/metrics content type: $ctype"
for re in '^cloudd_build_info{version="[^"]*"} 1$' '^cloudd_uptime_seconds [0-9.]*$' \
	'^process_resident_memory_bytes [1-9][0-9]*$' \
	'^cloudd_http_requests_total{method="GET",route="/health",code="200"} [3-9]$' \
	'^cloudd_http_requests_total{method="GET",route="unmatched",code="404"} 1$' \
	'^cloudd_http_requests_total{method="GET",route="refused",code="401"} 2$' \
	'^cloudd_http_requests_total{method="GET",route="/v1/sysinfo",code="200"} 1$' \
	'^cloudd_http_requests_total{method="POST",route="unmatched",code="413"} 1$'; do
	grep -q "$re" "$TEST_TMP/metrics" || fail "/metrics lacks $re; got: $(cat "$TEST_TMP/metrics")"
done

log "a second cloudd on the same port fails with 111"
rc=0; in_ns "$ns" timeout 10 "$CLOUDD" --config "$TEST_TMP/cloudd.conf" 2>"$TEST_TMP/err2" || rc=$?
[ "$rc" -eq 111 ] || fail "second cloudd: exit $rc, want 111"
grep -q "cannot serve HTTP on 192.0.2.10:8081: Address" "$TEST_TMP/err2" || fail "bind error not reported: $(cat "$TEST_TMP/err2")"

log "SIGTERM"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "cloudd still running 5 s after SIGTERM"
wait_for 5 "exit status" test -s "$TEST_TMP/cloudd.rc"
rc=$(cat "$TEST_TMP/cloudd.rc")
[ "$rc" -eq 0 ] || fail "cloudd exited $rc after SIGTERM, want 0"
grep -q "stopping" "$TEST_TMP/cloudd.log" || fail "no stop message in the log"
log "ok"
