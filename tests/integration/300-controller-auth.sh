#!/usr/bin/env bash
# cloud-controller: config check exit codes, first admin key, signed requests pass, every bad signature gets 401
# timeout: 120
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

log "-n checks the configuration: 0 when valid, 100 with the key named when not"
"$CC_BIN" -n --data-dir "$TEST_TMP/x" >/dev/null || fail "-n on a valid configuration failed"
rc=0; msg=$("$CC_BIN" -n --netboot dhcp --interface p0 --url http://192.0.2.1:8080 2>&1) || rc=$?
[ "$rc" -eq 100 ] || fail "-n with netboot = dhcp and no dhcp-range: exit $rc, want 100"
grep -q dhcp-range <<<"$msg" || fail "the error does not name dhcp-range: $msg"
rc=0; msg=$("$CC_BIN" -n --netboot dhcp --interface p0 --url http://192.0.2.1:8080 \
	--dhcp-range 192.0.2.10,192.0.2.20,255.255.255.0 --ipxe-dir "$TEST_TMP/none" --pxe-dir "$ROOT/pxe" 2>&1) || rc=$?
[ "$rc" -eq 100 ] && grep -q "undionly.kpxe" <<<"$msg" || fail "-n without iPXE binaries: exit $rc: $msg"
rc=0; "$CC_BIN" -n --no-such-option 1 2>/dev/null || rc=$?
[ "$rc" -eq 100 ] || fail "unknown option: exit $rc, want 100"
printf 'heartbeat-interval = soon\n' >"$TEST_TMP/bad.conf"
rc=0; msg=$("$CC_BIN" -n -c "$TEST_TMP/bad.conf" 2>&1) || rc=$?
[ "$rc" -eq 100 ] && grep -q "bad.conf:1" <<<"$msg" || fail "bad file: exit $rc, message: $msg"

cc_start
log "first start: admin key written root-only, its path printed"
[ "$(stat -c %a "$CC_DATA/admin.conf")" = 600 ] || fail "admin.conf is not mode 0600"
grep -q "admin.conf" "$CC_LOG" || fail "the log does not say where the admin key is"
key=$(sed -n 's/^key = //p' "$CC_DATA/admin.conf")
[ -n "$key" ] || fail "no key in admin.conf"

log "signed requests pass"
api_expect 200 GET /v1/nodes >/dev/null
api_expect 200 GET "/v1/machines?limit=5" >/dev/null
api_expect 201 POST /v1/machines '{"mac":"52:54:00:00:30:01","name":"auth-test"}' >/dev/null
grep -q 52:54:00:00:30:01 <<<"$(ctl machines list)" || fail "cloudctl does not list the machine"

log "unsigned, expired, tampered, wrong key, wrong secret, malformed: 401"
api_expect 401 GET /v1/nodes --unsigned >/dev/null
api_expect 401 GET /v1/nodes --expires-in -5 >/dev/null
api_expect 401 GET /v1/nodes --expires-in 7200 >/dev/null
api_expect 401 POST /v1/machines '{"mac":"52:54:00:00:30:02"}' --sign-body '{"mac":"52:54:00:00:30:03"}' >/dev/null
api_expect 401 GET /v1/nodes --key ak-0000000000000000 >/dev/null
api_expect 401 GET /v1/nodes --secret 00000000 >/dev/null
api_expect 401 GET /v1/nodes --auth "Basic YWRtaW46YWRtaW4=" >/dev/null
api_expect 401 GET /v1/nodes --auth "CLOUDD-HMAC-SHA256 key=$key" >/dev/null
api_expect 401 GET /v1/nodes --auth "CLOUDD-HMAC-SHA256 key=$key,expires=9999999999,signature=zz" >/dev/null
# the signature covers the query: change it after signing
out=$(api GET "/v1/machines?limit=5" --auth "$(in_ns "$CC_NS" python3 - <<PY
import hashlib, hmac, time
exp = int(time.time()) + 60
c = dict(l.strip().split(" = ", 1) for l in open("$CC_DATA/admin.conf") if " = " in l)
sts = "\n".join(["CLOUDD-HMAC-SHA256", "GET", "/v1/machines", "limit=1", hashlib.sha256(b"").hexdigest(), str(exp)])
print("CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (c["key"], exp, hmac.new(c["secret"].encode(), sts.encode(), hashlib.sha256).hexdigest()))
PY
)")
[ "$(head -1 <<<"$out")" = 401 ] || fail "a signature for limit=1 was accepted for limit=5"
grep -q 52:54:00:00:30:02 <<<"$(api GET /v1/machines)" && fail "the tampered create was applied"
grep -q 52:54:00:00:30:03 <<<"$(api GET /v1/machines)" && fail "the tampered create was applied"
grep -q 'route="/v1/nodes",code="401"' <<<"$(in_ns "$CC_NS" curl -s http://127.0.0.1:8080/metrics)" ||
	fail "/metrics does not count the 401s"

log "lists paginate: limit and next_cursor walk every item once"
for i in 1 2 3 4; do api_expect 201 POST /v1/machines "{\"mac\":\"52:54:00:00:30:1$i\"}" >/dev/null; done
cursor="" seen=""
for page in 1 2 3 4; do
	out=$(api_expect 200 GET "/v1/machines?limit=2${cursor:+&cursor=$cursor}")
	seen="$seen $(python3 -c 'import json,sys; print(" ".join(m["mac"] for m in json.loads(sys.argv[1])["items"]))' "$out")"
	cursor=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["next_cursor"] or "")' "$out")
	[ -n "$cursor" ] || break
done
[ "$page" = 3 ] || fail "5 machines in pages of 2 took $page pages"
[ "$(tr ' ' '\n' <<<"$seen" | grep -c .)" = 5 ] && [ "$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | wc -l)" = 5 ] ||
	fail "pagination did not return the 5 machines once each: $seen"

log "cloudctl exits non-zero with the API's message"
rc=0; msg=$(CLOUDD_SECRET=wrong ctl nodes list 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "bad signature" <<<"$msg" || fail "cloudctl with a wrong secret: exit $rc: $msg"

log "restart keeps the key; a second controller on the same port fails with 111"
rc=0; in_ns "$CC_NS" "$CC_BIN" --data-dir "$TEST_TMP/data2" --listen 127.0.0.1:8080 >"$TEST_TMP/second.log" 2>&1 || rc=$?
[ "$rc" -eq 111 ] || fail "second controller on a busy port: exit $rc, want 111"
cc_stop
cc_start
[ "$(sed -n 's/^key = //p' "$CC_DATA/admin.conf")" = "$key" ] || fail "the admin key changed on restart"
api_expect 200 GET /v1/machines/auth-test >/dev/null

log "/v1/openapi.json describes every endpoint"
api_expect 200 GET /v1/openapi.json --unsigned | python3 -c '
import json, sys
doc = json.load(sys.stdin)
want = {"/v1/nodes": ["get"], "/v1/nodes/{id}": ["get", "delete"], "/v1/nodes/register": ["post"],
        "/v1/nodes/{id}/heartbeat": ["post"], "/v1/machines": ["get", "post"],
        "/v1/machines/{id}": ["get", "patch", "delete"], "/v1/images": ["get", "post"],
        "/v1/images/default": ["put"], "/v1/images/{version}": ["get", "delete"], "/v1/events": ["get"],
        "/v1/operations/{id}": ["get"], "/v1/openapi.json": ["get"], "/metrics": ["get"],
        "/boot.ipxe": ["get"], "/images/{version}/{file}": ["get"]}
for path, methods in want.items():
    for m in methods:
        assert m in doc["paths"].get(path, {}), "missing %s %s" % (m, path)
        assert doc["paths"][path][m]["summary"], "no summary for %s %s" % (m, path)
assert doc["paths"]["/v1/machines"]["post"]["requestBody"]
print("openapi: %d paths" % len(doc["paths"]))
' || fail "openapi.json is incomplete"
log "ok"
