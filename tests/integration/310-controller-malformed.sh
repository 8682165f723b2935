#!/usr/bin/env bash
# cloud-controller: 97 malformed or impossible requests each get the right 4xx and a JSON error, change nothing, and the daemon stays up
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start --max-body 16K
make_image_dir "$TEST_TMP/img" v1
ctl images publish "$TEST_TMP/img" >/dev/null || fail "publishing the image failed"
api_expect 201 POST /v1/machines '{"mac":"52:54:00:00:31:01","name":"m1","labels":{"rack":"r1"}}' >/dev/null
mid=$(api GET /v1/machines/m1 | tail -n +2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# everything a bad request could touch
snapshot() {
	local out="$1"
	{
		api GET "/v1/machines?limit=1000"
		api GET "/v1/images?limit=1000"
		api GET "/v1/nodes?limit=1000"
		api GET "/v1/events?limit=1000"
		api GET "/v1/operations?limit=1000"
	} >"$out"
}
snapshot "$TEST_TMP/before"

M='"mac":"52:54:00:00:31:02"'
long=$(printf 'r%.0s' $(seq 1 200))
labels33=$(python3 -c 'import json; print(json.dumps({"mac":"52:54:00:00:31:02","labels":{"k%d"%i:"v" for i in range(33)}}))')
python3 -c 'print("{\"mac\":\"52:54:00:00:31:02\",\"labels\":{\"a\":\"" + "x"*20000 + "\"}}")' >"$TEST_TMP/big.json"
python3 -c 'print("[" * 5000 + "]" * 5000)' >"$TEST_TMP/deep.json"
printf '{"mac":"52:54:00:00:31:02","name":"a\0b"}' >"$TEST_TMP/nul.json"
printf '{"mac":"52:54:00:00:31:02","name":"\xff\xfe"}' >"$TEST_TMP/utf8.json"

n=0
expect() { api_expect "$@" >/dev/null; n=$((n + 1)); }

log "bodies: bad JSON, wrong types, missing and unknown fields, bad MACs, huge numbers"
expect 400 POST /v1/machines ''
expect 400 POST /v1/machines '{'
expect 400 POST /v1/machines '[]'
expect 400 POST /v1/machines '"mac"'
expect 400 POST /v1/machines 'null'
expect 400 POST /v1/machines '{"mac":'
expect 400 POST /v1/machines "{$M,}"
expect 400 POST /v1/machines '{}'
expect 400 POST /v1/machines '{"mac":123}'
expect 400 POST /v1/machines '{"mac":null}'
expect 400 POST /v1/machines '{"mac":["52:54:00:00:31:02"]}'
expect 400 POST /v1/machines '{"mac":"zz:zz:zz:zz:zz:zz"}'
expect 400 POST /v1/machines '{"mac":"52:54:00:00:31"}'
expect 400 POST /v1/machines '{"mac":"52:54:00:00:31:02:03"}'
expect 400 POST /v1/machines '{"mac":"52:54:00:00:31:0g"}'
expect 400 POST /v1/machines '{"mac":"01:00:5e:00:00:01"}'
expect 400 POST /v1/machines '{"mac":"00:00:00:00:00:00"}'
expect 400 POST /v1/machines '{"mac":"52:54:00:00:31:02 "}'
expect 400 POST /v1/machines '{"mac":"52.54.00.00.31.02"}'
expect 400 POST /v1/machines "{$M,\"bogus\":1}"
expect 400 POST /v1/machines "{$M,\"Mac\":\"x\"}"
expect 400 POST /v1/machines "{$M,\"role\":7}"
expect 400 POST /v1/machines "{$M,\"role\":\"Bad Role\"}"
expect 400 POST /v1/machines "{$M,\"role\":\"\"}"
expect 400 POST /v1/machines "{$M,\"role\":\"$long\"}"
expect 400 POST /v1/machines "{$M,\"role\":1e999999}"
expect 400 POST /v1/machines "{$M,\"role\":123456789012345678901234567890}"
expect 400 POST /v1/machines "{$M,\"name\":\"-x\"}"
expect 400 POST /v1/machines "{$M,\"name\":true}"
expect 400 POST /v1/machines "{$M,\"labels\":[]}"
expect 400 POST /v1/machines "{$M,\"labels\":{\"k\":1}}"
expect 400 POST /v1/machines "{$M,\"labels\":{\"Bad Key\":\"v\"}}"
expect 400 POST /v1/machines "{$M,\"labels\":{\"k\":\"a\\nb\"}}"
expect 400 POST /v1/machines "$labels33"
expect 400 POST /v1/machines "{$M,\"image_version\":\"../../etc\"}"
expect 400 POST /v1/machines "{$M,\"image_version\":5}"
expect 400 POST /v1/machines '{"mac":"52:54:00:00:31:02","mac":"52:54:00:00:31:03"}'
expect 400 POST /v1/machines "@$TEST_TMP/deep.json"
expect 400 POST /v1/machines "@$TEST_TMP/nul.json"
expect 400 POST /v1/machines "@$TEST_TMP/utf8.json"
expect 413 POST /v1/machines "@$TEST_TMP/big.json"
expect 422 POST /v1/machines "{$M,\"image_version\":\"v9\"}"
expect 409 POST /v1/machines '{"mac":"52:54:00:00:31:01"}'
expect 409 POST /v1/machines '{"mac":"52-54-00-00-31-01"}'
expect 409 POST /v1/machines "{$M,\"name\":\"m1\"}"

log "updates and deletes"
expect 422 PATCH "/v1/machines/$mid" '{"mac":"52:54:00:00:31:09"}'
expect 422 PATCH "/v1/machines/$mid" '{"image_version":"v9"}'
expect 400 PATCH "/v1/machines/$mid" '{"name":"UPPER"}'
expect 400 PATCH "/v1/machines/$mid" '{"zzz":1}'
expect 400 PATCH "/v1/machines/$mid" ''
expect 400 PATCH "/v1/machines/$mid" '{"labels":"rack=r2"}'
expect 404 PATCH /v1/machines/m-0000000000000000 '{"role":"x"}'
expect 404 DELETE /v1/machines/m-0000000000000000
expect 404 GET /v1/machines/52:54:00:00:31:99
expect 404 DELETE /v1/nodes/n-0000000000000000
expect 404 DELETE /v1/images/v9
expect 409 DELETE /v1/images/v1

log "query strings and pagination"
expect 400 GET "/v1/machines?limit=0"
expect 400 GET "/v1/machines?limit=abc"
expect 400 GET "/v1/machines?limit=1001"
expect 400 GET "/v1/machines?limit=-1"
expect 400 GET "/v1/machines?limit=99999999999999999999"
expect 400 GET "/v1/machines?bogus=1"
expect 400 GET "/v1/machines?cursor="
expect 400 GET "/v1/nodes?state=sideways"
expect 400 GET "/v1/events?cursor=-1"
expect 400 GET "/v1/events?cursor=1x"

log "paths, methods and path tricks"
expect 404 GET /v1/nothing
expect 404 GET /v1/machines/../nodes
expect 404 GET "/images/..%2F..%2Fcontroller.db/x"
expect 404 GET "/images/v1/..%2F..%2Fcontroller.db"
expect 404 GET /images/v1/controller.db
expect 404 GET "/images/..%2F/vmlinuz"
expect 404 GET /images/v9/vmlinuz
expect 405 DELETE /v1/machines
expect 405 PUT /v1/nodes
expect 405 POST /v1/openapi.json

log "images, enrollment, boot scripts, heartbeats"
expect 400 POST /v1/images '{}'
expect 400 POST /v1/images '{"source":7}'
expect 400 POST /v1/images "{\"source\":\"$TEST_TMP/img\",\"version\":\"bad/version\"}"
expect 400 POST /v1/images "{\"source\":\"$TEST_TMP/img\",\"version\":\"default\"}"
expect 422 POST /v1/images '{"source":"relative/dir"}'
expect 422 POST /v1/images '{"source":"/nonexistent"}'
expect 409 POST /v1/images "{\"source\":\"$TEST_TMP/img\",\"version\":\"v1\"}"
expect 422 PUT /v1/images/default '{"version":"v9"}'
expect 400 PUT /v1/images/default '{"version":null}'
expect 400 POST /v1/nodes/register '{"token":"x"}' --unsigned
expect 400 POST /v1/nodes/register '{"token":1,"sysinfo":{}}' --unsigned
expect 400 POST /v1/nodes/register '{"token":"x","sysinfo":[]}' --unsigned
expect 400 POST /v1/nodes/register '{"token":"x","sysinfo":{},"extra":1}' --unsigned
expect 401 POST /v1/nodes/register '{"token":"0000","sysinfo":{}}' --unsigned
expect 404 POST /v1/nodes/n-0000000000000000/heartbeat '{}'
expect 400 POST /v1/boot-failures '{"mac":"bad","stage":"x","reason":"y"}' --unsigned
expect 400 POST /v1/boot-failures '{"mac":"52:54:00:00:31:01","stage":"x"}' --unsigned
expect 400 GET "/boot.ipxe?mac=zz" --unsigned
expect 400 GET "/boot.ipxe?mac=52:54:00:00:31:01&x=1" --unsigned
expect 404 GET /v1/operations/op-0000000000000000

log "raw garbage on the socket: bad request lines, huge headers, truncated bodies, binary noise"
in_ns "$CC_NS" python3 - <<'PY' || fail "the raw-socket cases could not run"
import os, socket
cases = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /v1/nodes HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n",
    b"POST /v1/machines HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mac\"",
    b"POST /v1/machines HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/machines HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /v1/machines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    b"GET /v1/nodes?" + b"a=1&" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    os.urandom(4096),
    b"\x00" * 1024,
]
for c in cases:
    s = socket.create_connection(("127.0.0.1", 8080), timeout=5)
    try:
        s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        s.recv(65536)
    except OSError:
        pass
    s.close()
PY
in_ns "$CC_NS" curl -sf http://127.0.0.1:8080/health >/dev/null || fail "the controller does not answer after raw garbage"

log "$n malformed requests refused; checking nothing changed"
snapshot "$TEST_TMP/after"
diff "$TEST_TMP/before" "$TEST_TMP/after" >&2 || fail "a refused request changed the controller's state"
[ "$n" -ge 50 ] || fail "only $n cases"
kill -0 "$CC_PID" || fail "the controller died"
in_ns "$CC_NS" curl -sf http://127.0.0.1:8080/health >/dev/null || fail "the controller does not answer"
log "ok: $n requests"
