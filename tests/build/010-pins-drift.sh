#!/usr/bin/env bash
# pins that left the archive (a kernel ABI package, QEMU, a library source) are substituted and reported; --locked refuses them
# timeout: 1200
. "$ROOT/tests/build/lib-build.sh"
require_root
require_cmd apt-cache git cpio

src="$TEST_TMP/src"
out="$TEST_TMP/out"
copy_tree "$src"

# the pins a moved archive leaves behind
kabi=$(awk '/^linux-image-[0-9].*-amd64 / { print $1; exit }' "$src/image/packages.lock")
qemu=$(awk '$1 == "qemu-system-x86" { print $2 }' "$src/image/packages.lock")
jansson=$(awk '$1 == "jansson" { print $2 }' "$src/cloudd/third-party.txt")
[ -n "$kabi" ] && [ -n "$qemu" ] && [ -n "$jansson" ] || fail "kernel ABI package, qemu-system-x86 or jansson not pinned"
sed -i -e "s/^$kabi .*/linux-image-6.1.0-999-amd64 6.1.999-1/" \
	-e "s/^qemu-system-x86 .*/qemu-system-x86 $qemu~gone1/" "$src/image/packages.lock"
sed -i -e "s/^jansson .*/jansson $jansson~gone1/" "$src/cloudd/third-party.txt"
log "pinned: linux-image-6.1.0-999-amd64 6.1.999-1 (instead of $kabi), qemu-system-x86 $qemu~gone1, jansson $jansson~gone1"

log "--locked: must fail with exit 111 naming all three pins, and write nothing"
rc=0
(cd "$src" && CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" ./build.sh --locked pins) >"$TEST_TMP/locked.log" 2>&1 || rc=$?
cat "$TEST_TMP/locked.log"
[ "$rc" -eq 111 ] || fail "--locked exited $rc, expected 111"
for want in "linux-image-6.1.0-999-amd64 6.1.999-1" "qemu-system-x86 $qemu~gone1" "jansson $jansson~gone1"; do
	grep -qF "$want" "$TEST_TMP/locked.log" || fail "--locked does not name the missing pin '$want'"
done
[ ! -e "$out/resolved/packages.lock" ] || fail "--locked wrote $out/resolved/packages.lock"
rc=0
(cd "$src" && CLOUDD_LOCKED=1 CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" ./build.sh pins) >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 111 ] || fail "CLOUDD_LOCKED=1 exited $rc, expected 111"

log "default build: substitutes, reports and builds (libraries and image; the programs are the tree's own)"
mkdir -p "$out/bin" && cp "$OUT"/bin/cloudd "$OUT"/bin/cloud-controller "$OUT"/bin/cloudctl "$out/bin/"
(cd "$src" && CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" ./build.sh libs &&
	CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" ./build.sh image) >"$TEST_TMP/build.log" 2>&1 ||
	{ tail -30 "$TEST_TMP/build.log"; fail "the build with drifted pins failed (log $TEST_TMP/build.log)"; }
sed -n '/pinned versions have left the archive/,/--locked refuses/p' "$TEST_TMP/build.log"
now_qemu=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ { print $2 }')
now_kabi=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
grep -qF "binary  linux-image-6.1.0-999-amd64: pinned 6.1.999-1, no longer in the closure (dropped)" "$TEST_TMP/build.log" ||
	fail "the report does not name the dropped kernel ABI package"
grep -qF "binary  qemu-system-x86: pinned $qemu~gone1, archive has $now_qemu" "$TEST_TMP/build.log" ||
	fail "the report does not name the qemu-system-x86 substitution"
grep -qF "source  jansson: pinned $jansson~gone1, archive has " "$TEST_TMP/build.log" ||
	fail "the report does not name the jansson substitution"

log "the manifest lists what really went in"
m="$out/manifest.json"
python3 - "$m" "$now_kabi" "$now_qemu" "$jansson" <<'PY' || fail "manifest.json does not record the real versions"
import json, sys
m = json.load(open(sys.argv[1]))
pkgs = {p["name"]: p["version"] for p in m["packages"]}
src = {p["name"]: p["version"] for p in m["source_packages"]}
kabi, qemu, jansson = sys.argv[2:]
assert "linux-image-6.1.0-999-amd64" not in pkgs, "the missing ABI package is listed"
assert kabi in pkgs, "kernel ABI package %s missing: %s" % (kabi, sorted(pkgs))
assert pkgs.get("qemu-system-x86") == qemu, "qemu-system-x86 %s, archive has %s" % (pkgs.get("qemu-system-x86"), qemu)
assert src.get("jansson") and not src["jansson"].endswith("~gone1"), "jansson source %s" % src.get("jansson")
subst = {(s["kind"], s["name"]): s for s in m["substitutions"]}
assert subst[("binary", "qemu-system-x86")]["used"] == qemu
assert subst[("source", "jansson")]["pinned"].endswith("~gone1")
assert subst[("binary", "linux-image-6.1.0-999-amd64")]["used"] == ""
print("manifest: kernel %s, qemu-system-x86 %s, jansson %s; %d substitutions recorded" %
      (kabi, pkgs["qemu-system-x86"], src["jansson"], len(subst)))
PY
[ "$(awk '{print $1}' "$out/resolved/packages.lock" | grep -c '^linux-image-[0-9]')" -eq 1 ] ||
	fail "the resolved closure does not hold exactly one kernel ABI package"
log "pins that left the archive were substituted, reported and recorded; --locked refused them"
