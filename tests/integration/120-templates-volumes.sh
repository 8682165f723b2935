#!/usr/bin/env bash
# templates over HTTP and from a path: checksum verified, mismatch and 404 leave nothing; two qcow2 volumes share one backing file; raw volumes; disk full
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd qemu-img gcc busybox ip mkfs.ext4
guestkit_driver
NT="$GUESTKIT_DRIVER"
NS="tpl-$TEST_ID"
CACHE="$TEST_TMP/cache"
STORE="$TEST_TMP/store"
mkdir -p "$TEST_TMP/www" "$STORE"

# a small qcow2 template with known content
qemu-img create -q -f raw "$TEST_TMP/base.raw" 16M
printf 'template-data-%s' "$TEST_ID" | dd of="$TEST_TMP/base.raw" bs=512 seek=1 conv=notrunc status=none
qemu-img convert -q -f raw -O qcow2 "$TEST_TMP/base.raw" "$TEST_TMP/www/tiny.qcow2"
SUM=$(sha256sum "$TEST_TMP/www/tiny.qcow2" | cut -d' ' -f1)
BAD=$(printf '%064d' 0)

# an HTTP server in a namespace of its own (loopback only)
netns_add "$NS"
bg_ns "$NS" "$TEST_TMP/httpd.log" busybox httpd -f -p 127.0.0.1:8080 -h "$TEST_TMP/www" >/dev/null
wait_for 10 "httpd" in_ns "$NS" busybox wget -q -O /dev/null http://127.0.0.1:8080/tiny.qcow2
nt_ns() { in_ns "$NS" "$NT" "$@"; }
ALLOW=127.0.0.0/8 # the server is on loopback, which template downloads refuse unless allowed
leftovers() { find "$CACHE" -name '.partial-*' 2>/dev/null | wc -l; }

log "checksum mismatch over HTTP: an error that says so, nothing cached, nothing partial"
if nt_ns template "$CACHE" http://127.0.0.1:8080/tiny.qcow2 "$BAD" "$ALLOW" 2>"$TEST_TMP/err"; then fail "mismatch accepted"; fi
cat "$TEST_TMP/err"
grep -q "checksum mismatch" "$TEST_TMP/err" || fail "no checksum mismatch in: $(cat "$TEST_TMP/err")"
grep -q "$SUM" "$TEST_TMP/err" || fail "the error does not name the actual checksum"
[ ! -e "$CACHE/$BAD" ] && [ "$(leftovers)" -eq 0 ] || fail "a mismatching download was left behind"

log "404: an error naming the status, nothing left"
if nt_ns template "$CACHE" http://127.0.0.1:8080/missing.qcow2 "$SUM" "$ALLOW" 2>"$TEST_TMP/err"; then fail "404 accepted"; fi
grep -q "HTTP 404" "$TEST_TMP/err" || fail "no HTTP 404 in: $(cat "$TEST_TMP/err")"
[ ! -e "$CACHE/$SUM" ] && [ "$(leftovers)" -eq 0 ] || fail "a failed download left a file"

log "connection refused: an error, nothing left"
if nt_ns template "$CACHE" http://127.0.0.1:9/tiny.qcow2 "$SUM" "$ALLOW" 2>"$TEST_TMP/err"; then fail "refused accepted"; fi
cat "$TEST_TMP/err"
[ "$(leftovers)" -eq 0 ] || fail "a failed connection left a file"

log "good download: cached by checksum; a second fetch does not download again"
path=$(nt_ns template "$CACHE" http://127.0.0.1:8080/tiny.qcow2 "$SUM" "$ALLOW")
[ "$path" = "$CACHE/$SUM" ] || fail "cached at $path"
[ "$(sha256sum "$path" | cut -d' ' -f1)" = "$SUM" ] || fail "cached file differs"
mv "$TEST_TMP/www/tiny.qcow2" "$TEST_TMP/tiny.qcow2"
nt_ns template "$CACHE" http://127.0.0.1:8080/tiny.qcow2 "$SUM" "$ALLOW" >/dev/null || fail "cached template fetched again"

log "from a local path, with a mismatch and then the right checksum"
if "$NT" template "$TEST_TMP/cache2" "$TEST_TMP/tiny.qcow2" "$BAD" 2>/dev/null; then fail "path mismatch accepted"; fi
[ -z "$(ls -A "$TEST_TMP/cache2" 2>/dev/null)" ] || fail "path mismatch left files: $(ls -A "$TEST_TMP/cache2")"
"$NT" template "$TEST_TMP/cache2" "$TEST_TMP/tiny.qcow2" "$SUM" >/dev/null
if "$NT" template "$TEST_TMP/cache3" "$TEST_TMP/nonexistent" "$SUM" 2>"$TEST_TMP/err"; then fail "missing template accepted"; fi
grep -q "No such file" "$TEST_TMP/err" || fail "missing template: $(cat "$TEST_TMP/err")"

log "two qcow2 volumes on one template share its backing file"
v1=$("$NT" volume "$STORE" i-one root qcow2 64 "$CACHE/$SUM" qcow2)
v2=$("$NT" volume "$STORE" i-two root qcow2 64 "$CACHE/$SUM" qcow2)
for v in "$v1" "$v2"; do
	info=$(qemu-img info --output=json -U "$v")
	echo "$info" | grep -q "\"backing-filename\": \"$CACHE/$SUM\"" || fail "$v: backing file not the template: $info"
	echo "$info" | grep -q '"backing-filename-format": "qcow2"' || fail "$v: backing format not recorded"
	echo "$info" | grep -q '"virtual-size": 67108864' || fail "$v: not 64 MiB"
done
# copy-on-write: the template's data reads through, writes stay in the overlay
qemu-img convert -q -U -O raw "$v1" "$TEST_TMP/v1.raw"
grep -q "template-data-$TEST_ID" "$TEST_TMP/v1.raw" || fail "template data not visible through the overlay"
[ "$(stat -c %s "$v1")" -lt 1048576 ] || fail "the overlay is not thin"
"$NT" volume "$STORE" i-one root qcow2 64 "$CACHE/$SUM" qcow2 >/dev/null || fail "existing volume not accepted"
"$NT" volume-list "$STORE" | sort | tr '\n' ' ' | grep -q "i-one/root qcow2 i-two/root qcow2" || fail "volume list: $("$NT" volume-list "$STORE")"

log "a volume smaller than its template is refused"
if "$NT" volume "$STORE" i-small root qcow2 8 "$CACHE/$SUM" qcow2 2>"$TEST_TMP/err"; then fail "small volume accepted"; fi
grep -q "smaller than its template" "$TEST_TMP/err" || fail "$(cat "$TEST_TMP/err")"
[ ! -e "$STORE/volumes/i-small" ] || fail "refused volume left a directory"

log "raw volumes: preallocated blank, and a full copy of the template"
r1=$("$NT" volume "$STORE" i-raw data raw 32)
[ "$(stat -c %s "$r1")" -eq 33554432 ] || fail "raw size"
[ "$(($(stat -c %b "$r1") * 512))" -ge 33554432 ] || fail "raw volume is not preallocated"
r2=$("$NT" volume "$STORE" i-raw root raw 32 "$CACHE/$SUM" qcow2)
grep -q "template-data-$TEST_ID" "$r2" || fail "raw copy lacks the template data"
qemu-img info -U "$r2" | grep -q "backing" && fail "raw copy has a backing file"

log "disk full: a clear error and nothing half-made"
truncate -s 80M "$TEST_TMP/small.ext4"
mkfs.ext4 -q -F "$TEST_TMP/small.ext4"
mkdir -p "$TEST_TMP/small"
mount -o loop "$TEST_TMP/small.ext4" "$TEST_TMP/small"
cleanup_add "umount -l '$TEST_TMP/small'"
if "$NT" volume "$TEST_TMP/small" i-big data raw 200 2>"$TEST_TMP/err"; then fail "200 MiB fitted on 80 MiB"; fi
cat "$TEST_TMP/err"
grep -q "No space left on device" "$TEST_TMP/err" || fail "disk full not reported"
[ -z "$(find "$TEST_TMP/small/volumes" -type f 2>/dev/null)" ] || fail "half-made volume left: $(find "$TEST_TMP/small/volumes")"
if "$NT" template "$TEST_TMP/small/cache" "$TEST_TMP/bigfile" "$SUM" 2>/dev/null; then fail "missing file"; fi
head -c 100M /dev/zero >"$TEST_TMP/bigfile"
BIGSUM=$(sha256sum "$TEST_TMP/bigfile" | cut -d' ' -f1)
if "$NT" template "$TEST_TMP/small/cache" "$TEST_TMP/bigfile" "$BIGSUM" 2>"$TEST_TMP/err"; then fail "100 MiB template fitted"; fi
grep -q "No space left on device" "$TEST_TMP/err" || fail "template disk full: $(cat "$TEST_TMP/err")"
[ -z "$(ls -A "$TEST_TMP/small/cache")" ] || fail "partial template left: $(ls -A "$TEST_TMP/small/cache")"

log "delete removes the volume files only"
"$NT" volume-delete "$STORE" i-one root
[ ! -e "$v1" ] && [ -e "$v2" ] && [ -e "$CACHE/$SUM" ] || fail "delete removed the wrong things"
log "ok"
