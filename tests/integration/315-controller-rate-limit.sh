#!/usr/bin/env bash
# cloud-controller: one address hammering an unsigned route gets 429 with Retry-After and stores nothing past its burst; other addresses and signed calls are still served
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl jq
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

log "bad settings are refused naming the key"
for bad in "--public-rate fast" "--public-burst 0" "--events-keep-max -1" "--operations-keep-days 99999"; do
	# shellcheck disable=SC2086 # one option and its value
	out=$("$CC_BIN" --data-dir "$TEST_TMP/none" $bad --check 2>&1) && fail "accepted $bad"
	key="${bad%% *}"
	grep -q -- "${key#--}" <<<"$out" || fail "the error for $bad does not name the key: $out"
done

# a burst of 5, then 1 a second: a second of hammering gets 5 or 6 through
cc_start --public-rate 1 --public-burst 5

failures() { api GET "/v1/events?type=boot.failed&limit=1000" | tail -n +2 | jq '.items | length'; }
[ "$(failures)" = 0 ] || fail "boot failures recorded before the test"

log "127.0.0.2 sends 30 boot failures at once"
in_ns "$CC_NS" python3 - "$TEST_TMP/hammer.json" <<'PY' || fail "the hammering client could not run"
import http.client, json, sys
seen = {"ok": 0, "limited": 0, "retry_after": [], "codes": set(), "other": []}
for i in range(30):
    c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10, source_address=("127.0.0.2", 0))
    body = json.dumps({"mac": "52:54:00:00:35:%02x" % i, "stage": "fetch", "reason": "test %d" % i})
    c.request("POST", "/v1/boot-failures", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status == 202:
        seen["ok"] += 1
    elif r.status == 429:
        seen["limited"] += 1
        seen["retry_after"].append(r.getheader("Retry-After"))
        seen["codes"].add(json.loads(data)["error"]["code"])
        seen["message"] = json.loads(data)["error"]["message"]
    else:
        seen["other"].append(r.status)
    c.close()
# at once, from the same address: the boot script shares the bucket (at most one
# token can come back in these milliseconds); /health is not counted
def get(path):
    c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10, source_address=("127.0.0.2", 0))
    c.request("GET", path)
    status = c.getresponse().status
    c.close()
    return status
seen["boot"] = [get("/boot.ipxe?mac=52:54:00:00:35:99") for _ in range(3)]
seen["health"] = get("/health")
seen["codes"] = sorted(seen["codes"])
json.dump(seen, open(sys.argv[1], "w"))
PY
h="$TEST_TMP/hammer.json"
log "hammer: $(cat "$h")"
ok=$(jq .ok "$h")
[ "$(jq '.other | length' "$h")" = 0 ] || fail "answers other than 202 and 429: $(jq -c .other "$h")"
[ "$ok" -ge 5 ] && [ "$ok" -le 8 ] || fail "$ok of 30 were served; want the burst of 5 (and a token or two a second)"
[ "$(jq .limited "$h")" -ge 22 ] || fail "only $(jq .limited "$h") refused"
[ "$(jq -c .codes "$h")" = '["rate_limited"]' ] || fail "429 error codes: $(jq -c .codes "$h")"
jq -e '.retry_after | all(. != null and test("^[1-9][0-9]*$"))' "$h" >/dev/null ||
	fail "a 429 without a Retry-After in whole seconds: $(jq -c .retry_after "$h")"
jq -r .message "$h" | grep -q "127.0.0.2" || fail "the message does not name the address: $(jq -r .message "$h")"

log "nothing past the limit was stored"
[ "$(failures)" = "$ok" ] || fail "$(failures) boot failures stored, $ok were accepted"

log "the same address is refused on /boot.ipxe too (one bucket per address), but not on /health"
[ "$(jq '[.boot[] | select(. == 429)] | length' "$h")" -ge 2 ] || fail "/boot.ipxe from the hammering address: $(jq -c .boot "$h")"
[ "$(jq .health "$h")" = 200 ] || fail "/health from the hammering address: $(jq .health "$h")"

log "another address is served"
api_expect 202 POST /v1/boot-failures '{"mac":"52:54:00:00:35:f0","stage":"fetch","reason":"other"}' --unsigned \
	--source 127.0.0.3 >/dev/null
[ "$(failures)" = $((ok + 1)) ] || fail "the other address's boot failure was not stored"

log "signed calls from anywhere are not counted"
for _ in 1 2 3 4 5 6 7 8; do
	api_expect 200 GET /v1/events --source 127.0.0.2 >/dev/null
done

log "the hammering address gets through again once a token is back"
retry=$(jq -r '.retry_after | max_by(tonumber)' "$h")
sleep "$retry"
api_expect 202 POST /v1/boot-failures '{"mac":"52:54:00:00:35:f1","stage":"fetch","reason":"later"}' --unsigned \
	--source 127.0.0.2 >/dev/null

in_ns "$CC_NS" curl -sf http://127.0.0.1:8080/metrics | grep -Eq '^cloud_controller_rate_limited_total [1-9]' ||
	fail "/metrics does not count the refused requests"
cc_stop

log "public-rate = 0 turns the limit off"
cc_start --public-rate 0
for i in $(seq 1 60); do
	code=$(in_ns "$CC_NS" curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -H 'Content-Type: application/json' \
		--data '{"mac":"bad","stage":"x","reason":"y"}' http://127.0.0.1:8080/v1/boot-failures)
	[ "$code" = 400 ] || fail "request $i with public-rate = 0: $code"
done
log "ok: $ok of 30 served, the rest refused with Retry-After; other addresses served"
