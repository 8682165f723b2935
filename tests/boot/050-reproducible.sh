#!/usr/bin/env bash
# the image built twice (same commit, SOURCE_DATE_EPOCH and package cache) is bit-identical, artifact by artifact
# timeout: 900
. "$ROOT/tests/lib.sh"

CACHE="${CLOUDD_CACHE:-/var/cache/cloudd-build}"
[ -x "$OUT/bin/cloudd" ] || fail "$OUT/bin/cloudd missing: build it first (./build.sh cloudd)"
epoch=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)
version=$(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown)

# build_into DIR: one image build into DIR (its own work directory)
build_into() {
	mkdir -p "$1/bin" && cp "$OUT/bin/cloudd" "$1/bin/cloudd"
	ROOT="$ROOT" OUT="$1" CACHE="$CACHE" SOURCE_DATE_EPOCH="$epoch" IMAGE_VERSION="$version" \
		TMPDIR="$TEST_TMP" "$ROOT/initramfs/mkimage.sh" >"$1.log" 2>&1
}

log "building the image twice in parallel (SOURCE_DATE_EPOCH=$epoch, version $version)"
build_into "$TEST_TMP/a" & a=$!
build_into "$TEST_TMP/b" & b=$!
wait "$a" || { tail -5 "$TEST_TMP/a.log"; fail "first build failed (log $TEST_TMP/a.log)"; }
wait "$b" || { tail -5 "$TEST_TMP/b.log"; fail "second build failed (log $TEST_TMP/b.log)"; }

differ=()
artifacts=(vmlinuz initramfs.img boot.ipxe undionly.kpxe ipxe.efi snponly.efi manifest.json SHA256SUMS)
for f in "${artifacts[@]}"; do
	[ -f "$TEST_TMP/a/$f" ] && [ -f "$TEST_TMP/b/$f" ] || fail "artifact $f missing from a build"
	if cmp -s "$TEST_TMP/a/$f" "$TEST_TMP/b/$f"; then
		log "identical: $f ($(stat -c %s "$TEST_TMP/a/$f") bytes)"
	else
		differ+=("$f")
		log "DIFFERENT: $f ($(cmp "$TEST_TMP/a/$f" "$TEST_TMP/b/$f" 2>&1 | head -1))"
	fi
done
[ "${#differ[@]}" -eq 0 ] || fail "artifacts differ between two builds: ${differ[*]}"
(cd "$TEST_TMP/a" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the artifacts"
log "all ${#artifacts[@]} artifacts bit-identical; SHA256SUMS verifies"
