#!/usr/bin/env bash
# template upload: cloudctl streams a disk and a kernel + initrd to the controller, which checks the signed digest and format and serves them to nodes (Range, ETag); a wrong digest, a bad format, an unsigned or cut-off upload, a second upload and another tenant's template leave nothing behind
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
require_root
require_cmd python3 curl jq
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start --url http://127.0.0.1:8080 --guest-subnet 198.51.100.0/24 --guest-gateway 198.51.100.1
tenant alpha; ALPHA=$TENANT_CONF
tenant beta; BETA=$TENANT_CONF
sha() { sha256sum "$1" | cut -c1-64; }
fetch() { in_ns "$CC_NS" curl -sf "$@"; }
tdir() { echo "$CC_DATA/templates/$1"; }

log "a raw disk of 48 MiB, uploaded by cloudctl: ready, served byte for byte, with Range and ETag"
head -c $((48 << 20)) /dev/urandom >"$TEST_TMP/disk.raw"
CLOUDD_CONFIG=$ALPHA ctl -o json template upload disk1 --format raw "$TEST_TMP/disk.raw" >"$TEST_TMP/t1.json" ||
	fail "template upload disk1: $(cat "$TEST_TMP/t1.json")"
T1=$(jq -r .id "$TEST_TMP/t1.json")
jq -e --arg s "$(sha "$TEST_TMP/disk.raw")" '.state == "ready" and .sha256 == $s and .size == 50331648' "$TEST_TMP/t1.json" >/dev/null ||
	fail "uploaded template: $(cat "$TEST_TMP/t1.json")"
url=$(jq -r .url "$TEST_TMP/t1.json")
[ "$url" = "http://127.0.0.1:8080/templates/$T1/file" ] || fail "template url $url"
fetch "$url" | cmp - "$TEST_TMP/disk.raw" || fail "the served file differs from the upload"
[ "$(fetch -r 100-199 "$url" | wc -c)" = 100 ] || fail "Range 100-199 did not give 100 bytes"
etag=$(fetch -D - -o /dev/null "$url" | tr -d '\r' | sed -n 's/^ETag: //Ip')
[ "$etag" = "\"sha256-$(sha "$TEST_TMP/disk.raw")\"" ] || fail "ETag $etag"
[ "$(in_ns "$CC_NS" curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url")" = 304 ] || fail "If-None-Match did not give 304"
[ ! -e "$(tdir "$T1")/file.part" ] || fail "a .part file stayed after the upload"

log "a kernel template with its initrd (cloudctl, two uploads) and its cmdline"
python3 - "$TEST_TMP/vmlinuz" <<'EOF'
import os, sys
k = bytearray(os.urandom(300000)); k[0x202:0x206] = b"HdrS"
open(sys.argv[1], "wb").write(k)
EOF
head -c 200000 /dev/urandom >"$TEST_TMP/initrd.img"
CLOUDD_CONFIG=$ALPHA ctl -o json template upload k1 --format kernel "$TEST_TMP/vmlinuz" --initrd "$TEST_TMP/initrd.img" \
	--cmdline "console=ttyS0" >"$TEST_TMP/k1.json" || fail "template upload k1: $(cat "$TEST_TMP/k1.json")"
K1=$(jq -r .id "$TEST_TMP/k1.json")
jq -e --arg k "$(sha "$TEST_TMP/vmlinuz")" --arg i "$(sha "$TEST_TMP/initrd.img")" \
	'.state == "ready" and .sha256 == $k and .initrd.sha256 == $i and .cmdline == "console=ttyS0"' "$TEST_TMP/k1.json" >/dev/null ||
	fail "kernel template: $(cat "$TEST_TMP/k1.json")"
fetch "$(jq -r .initrd.url "$TEST_TMP/k1.json")" | cmp - "$TEST_TMP/initrd.img" || fail "the served initrd differs"

log "refused: not a kernel, not qcow2 (cloudctl removes the template again)"
for f in kernel qcow2; do
	out=$(CLOUDD_CONFIG=$ALPHA ctl template upload "bad-$f" --format "$f" "$TEST_TMP/initrd.img" 2>&1) && fail "a bad $f was accepted"
	grep -q "format $f" <<<"$out" || fail "bad $f: $out"
	CLOUDD_CONFIG=$ALPHA ctl template list | grep -q "bad-$f" && fail "bad-$f left behind after its failed upload"
done

log "by the API: a template awaiting its upload cannot start instances; wrong digest, no digest, no signature, cut off"
P=$(CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/templates '{"name":"p1","format":"raw","upload":true}' | jq -r .id)
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET "/v1/templates/$P" | jq -r .state)" = awaiting-upload ] || fail "p1 not awaiting its upload"
CLOUDD_CONFIG=$ALPHA api_expect 409 POST /v1/instances '{"name":"x","type":"tiny","template":"p1"}' | grep -q template_not_ready ||
	fail "an instance of a template awaiting its upload"
head -c 100000 /dev/urandom >"$TEST_TMP/small"
printf 'other' >"$TEST_TMP/other"
CLOUDD_CONFIG=$ALPHA api_expect 400 PUT "/v1/templates/$P/file" "@$TEST_TMP/small" \
	--header "X-Cloudd-Content-Sha256: $(sha "$TEST_TMP/other")" --sign-body other | grep -q digest_mismatch ||
	fail "a body unlike its declared digest was not refused as digest_mismatch"
CLOUDD_CONFIG=$ALPHA api_expect 400 PUT "/v1/templates/$P/file" "@$TEST_TMP/small" | grep -q "X-Cloudd-Content-Sha256" ||
	fail "an upload without the digest header"
CLOUDD_CONFIG=$ALPHA api_expect 401 PUT "/v1/templates/$P/file" "@$TEST_TMP/small" --unsigned \
	--header "X-Cloudd-Content-Sha256: $(sha "$TEST_TMP/small")" >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 400 PUT "/v1/templates/$P/file" --header "X-Cloudd-Content-Sha256: $(sha /dev/null)" | grep -q empty ||
	fail "an empty upload"
CLOUDD_CONFIG=$BETA api_expect 404 PUT "/v1/templates/$P/file" "@$TEST_TMP/small" \
	--header "X-Cloudd-Content-Sha256: $(sha "$TEST_TMP/small")" >/dev/null
# cut off: headers promise 100000 bytes, 5000 come, the client goes away
in_ns "$CC_NS" python3 - "$ALPHA" "$P" "$(sha "$TEST_TMP/small")" <<'EOF'
import hashlib, hmac, socket, sys, time
c = dict(l.strip().split(" = ", 1) for l in open(sys.argv[1]) if " = " in l)
path, digest, exp = "/v1/templates/%s/file" % sys.argv[2], sys.argv[3], int(time.time()) + 300
sts = "\n".join(["CLOUDD-HMAC-SHA256", "PUT", path, "", digest, str(exp)])
sig = hmac.new(c["secret"].encode(), sts.encode(), hashlib.sha256).hexdigest()
s = socket.create_connection(("127.0.0.1", 8080))
s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nX-Cloudd-Content-Sha256: %s\r\n"
           "Authorization: CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s\r\n\r\n" % (path, digest, c["key"], exp, sig)).encode())
s.sendall(b"x" * 5000)
time.sleep(0.5)
s.close()
EOF
wait_for 10 "the cut-off upload's .part removed" test ! -e "$(tdir "$P")/file.part"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET "/v1/templates/$P" | jq -r .state)" = awaiting-upload ] || fail "p1 changed by refused uploads"
[ ! -e "$(tdir "$P")/file" ] || fail "a refused upload left a file"
CLOUDD_CONFIG=$ALPHA api_expect 200 PUT "/v1/templates/$P/file" "@$TEST_TMP/small" \
	--header "X-Cloudd-Content-Sha256: $(sha "$TEST_TMP/small")" | jq -e '.state == "ready"' >/dev/null || fail "the good upload after the bad ones"
CLOUDD_CONFIG=$ALPHA api_expect 409 PUT "/v1/templates/$P/file" "@$TEST_TMP/small" \
	--header "X-Cloudd-Content-Sha256: $(sha "$TEST_TMP/small")" >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 409 PUT "/v1/templates/$P/initrd" "@$TEST_TMP/small" \
	--header "X-Cloudd-Content-Sha256: $(sha "$TEST_TMP/small")" >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 400 POST /v1/templates '{"name":"p2","format":"raw","upload":true,"url":"http://x/y"}' >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 400 POST /v1/templates '{"name":"p2","format":"raw","upload":"yes"}' >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 400 POST /v1/templates '{"name":"p2","format":"raw","upload":true,"initrd":{"upload":true}}' >/dev/null

log "removing a template removes its files; the daemon stayed up throughout"
CLOUDD_CONFIG=$ALPHA ctl template rm disk1 >/dev/null || fail "template rm disk1"
[ ! -e "$(tdir "$T1")" ] || fail "template files stayed after rm: $(ls "$(tdir "$T1")")"
[ "$(in_ns "$CC_NS" curl -s -o /dev/null -w '%{http_code}' "$url")" = 404 ] || fail "a removed template is still served"
kill -0 "$CC_PID" || fail "cloud-controller died"
log "ok"
