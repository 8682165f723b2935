#!/usr/bin/env bash
# cloud-controller: publish image versions (checksums verified), serve files with Range/ETag/304, default and pinned versions in boot scripts
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl sha256sum
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start
U=http://127.0.0.1:8080
get() { in_ns "$CC_NS" curl -s "$@"; }
make_image_dir "$TEST_TMP/v1" v1
make_image_dir "$TEST_TMP/v2" v2

log "publish v1 (version from manifest.json) and v2 (--version)"
ctl images publish "$TEST_TMP/v1" | grep -q success || fail "publishing v1 failed"
ctl images publish "$TEST_TMP/v2" --version v2 >/dev/null || fail "publishing v2 failed"
out=$(ctl images list)
grep -qE '^v1 +yes' <<<"$out" && grep -qE '^v2 +no' <<<"$out" || fail "v1 should be the default: $out"

log "a directory whose files do not match SHA256SUMS is refused (operation failure)"
make_image_dir "$TEST_TMP/bad" bad
echo corrupted >>"$TEST_TMP/bad/initramfs.img"
rc=0; msg=$(ctl images publish "$TEST_TMP/bad" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -q "checksum mismatch for initramfs.img" <<<"$msg" || fail "corrupt image: exit $rc: $msg"
api_expect 404 GET /v1/images/bad >/dev/null
[ ! -e "$CC_DATA/images/bad" ] && [ ! -e "$CC_DATA/images/.import-bad" ] || fail "the failed import left files behind"
rm "$TEST_TMP/bad/SHA256SUMS"
rc=0; ctl images publish "$TEST_TMP/bad" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "an image without SHA256SUMS was accepted"

log "files: whole (sha256 matches), Range 206, 416, ETag/If-None-Match 304, HEAD"
get -o "$TEST_TMP/got" -D "$TEST_TMP/hdr" "$U/images/v1/initramfs.img"
cmp "$TEST_TMP/got" "$TEST_TMP/v1/initramfs.img" || fail "downloaded initramfs.img differs"
grep -qi '^HTTP/1.1 200' "$TEST_TMP/hdr" || fail "not 200: $(cat "$TEST_TMP/hdr")"
sum=$(sha256sum "$TEST_TMP/v1/initramfs.img" | cut -d' ' -f1)
etag=$(sed -n 's/^[Ee][Tt]ag: *\(.*\)\r$/\1/p' "$TEST_TMP/hdr")
[ "$etag" = "\"sha256-$sum\"" ] || fail "ETag $etag is not the SHA-256 of SHA256SUMS"
grep -qi '^accept-ranges: bytes' "$TEST_TMP/hdr" || fail "no Accept-Ranges"
get -o "$TEST_TMP/part" -D "$TEST_TMP/hdr" -H 'Range: bytes=1000-1999' "$U/images/v1/initramfs.img"
grep -qi '^HTTP/1.1 206' "$TEST_TMP/hdr" || fail "Range: not 206"
grep -qi "^content-range: bytes 1000-1999/3000000" "$TEST_TMP/hdr" || fail "bad Content-Range: $(cat "$TEST_TMP/hdr")"
cmp "$TEST_TMP/part" <(tail -c +1001 "$TEST_TMP/v1/initramfs.img" | head -c 1000) || fail "the range has the wrong bytes"
get -o /dev/null -D "$TEST_TMP/hdr" -H 'Range: bytes=-100' "$U/images/v1/vmlinuz"
grep -qi "^content-range: bytes 1499900-1499999/1500000" "$TEST_TMP/hdr" || fail "suffix range: $(cat "$TEST_TMP/hdr")"
code=$(get -o /dev/null -w '%{http_code}' -H 'Range: bytes=9000000-' "$U/images/v1/initramfs.img")
[ "$code" = 416 ] || fail "a range past the end got $code, want 416"
code=$(get -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$U/images/v1/initramfs.img")
[ "$code" = 304 ] || fail "If-None-Match with the ETag got $code, want 304"
code=$(get -o /dev/null -w '%{http_code}' -H 'If-None-Match: "other"' "$U/images/v1/initramfs.img")
[ "$code" = 200 ] || fail "If-None-Match with another ETag got $code, want 200"
len=$(get -I "$U/images/v1/vmlinuz" | sed -n 's/^[Cc]ontent-[Ll]ength: *\([0-9]*\).*/\1/p')
[ "$len" = 1500000 ] || fail "HEAD Content-Length $len"
get -s "$U/images/v1/SHA256SUMS" | grep -q "$sum  initramfs.img" || fail "SHA256SUMS is not served"
metrics=$(get "$U/metrics")
grep -q 'cloud_controller_image_requests_total{result="partial"} 2' <<<"$metrics" &&
	grep -q 'cloud_controller_image_requests_total{result="not_modified"} 1' <<<"$metrics" ||
	fail "image request metrics: $(grep image_requests <<<"$metrics")"

log "default and pinned versions reach the boot script"
ctl machines add 52:54:00:00:34:01 --name a >/dev/null
ctl machines add 52:54:00:00:34:02 --name b --image v2 >/dev/null
grep -q "images/v1" <<<"$(api GET '/boot.ipxe?mac=52:54:00:00:34:01' --unsigned)" || fail "a is not on the default v1"
grep -q "images/v2" <<<"$(api GET '/boot.ipxe?mac=52:54:00:00:34:02' --unsigned)" || fail "b is not pinned to v2"
ctl images default v2 >/dev/null
grep -q "images/v2" <<<"$(api GET '/boot.ipxe?mac=52:54:00:00:34:01' --unsigned)" || fail "a does not follow the new default"
api_expect 409 DELETE /v1/images/v2 >/dev/null # the default
ctl machines set b --image v1 >/dev/null
api_expect 409 DELETE /v1/images/v1 >/dev/null # pinned by b
ctl machines set b --image default >/dev/null
grep -q "images/v2" <<<"$(api GET '/boot.ipxe?mac=52:54:00:00:34:02' --unsigned)" || fail "b does not follow the default after unpinning"
ctl images rm v1 || fail "deleting v1 failed"
code=$(get -o /dev/null -w '%{http_code}' "$U/images/v1/vmlinuz")
[ "$code" = 404 ] || fail "a deleted image is still served ($code)"
grep -q image.deleted <<<"$(ctl events --type image)" || fail "no image.deleted event"
log "ok"
