#!/usr/bin/env bash
# two copies of the tree in different directories, each with its own cache, build bit-identical programs and image
# timeout: 1500
. "$ROOT/tests/build/lib-build.sh"
require_root
require_cmd git cpio cmp

# A: the tree's own build ($OUT, the main cache), made by ./build.sh test
# before this layer. B: a copy of the tree (with its git directory, so the
# version string is the same) in another directory, with a cache of its own
# that holds only the downloaded Debian packages: B compiles the libraries,
# the programs and the image itself.
[ -x "$OUT/bin/cloudd" ] && [ -f "$OUT/initramfs.img" ] || fail "$OUT is not built (./build.sh)"
b="$TEST_TMP/build-two/somewhere/else/cloudd-src"
copy_tree "$b"
cp -a "$ROOT/.git" "$b/.git" 2>/dev/null || fail "cannot copy $ROOT/.git"
seed_cache "$TEST_TMP/cache-b"

log "building a copy in $b with the cache $TEST_TMP/cache-b"
start=$SECONDS
(cd "$b" && CLOUDD_CACHE="$TEST_TMP/cache-b" ./build.sh) >"$b.log" 2>&1 ||
	{ tail -20 "$b.log"; fail "the second build failed (log $b.log)"; }
log "second build: $((SECONDS - start)) s"
grep -q 'building the Debian source package with musl-gcc' "$b.log" ||
	fail "the second build did not compile the libraries itself (its cache was not separate)"

differ=()
artifacts=(bin/cloudd bin/cloud-controller bin/cloudctl vmlinuz initramfs.img boot.ipxe undionly.kpxe ipxe.efi
	snponly.efi manifest.json sbom.cdx.json SHA256SUMS)
for f in "${artifacts[@]}"; do
	[ -f "$OUT/$f" ] && [ -f "$b/out/$f" ] || fail "artifact $f missing from a build"
	if cmp -s "$OUT/$f" "$b/out/$f"; then
		log "identical: $f ($(stat -c %s "$OUT/$f") bytes, sha256 $(sha256sum "$OUT/$f" | cut -c1-16))"
	else
		differ+=("$f")
		log "DIFFERENT: $f ($(cmp "$OUT/$f" "$b/out/$f" 2>&1 | head -1))"
	fi
done
[ "${#differ[@]}" -eq 0 ] || fail "artifacts differ between the two builds: ${differ[*]}"
(cd "$b/out" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the artifacts"
log "all ${#artifacts[@]} artifacts bit-identical across two directories and two caches"
