#!/usr/bin/env bash
# the bill of materials: manifest.json lists binary and source packages, toolchain and commit; sbom.cdx.json passes the CycloneDX 1.5 schema
# timeout: 600
. "$ROOT/tests/build/lib-build.sh"
require_cmd node npm python3

m="$OUT/manifest.json" cdx="$OUT/sbom.cdx.json"
[ -f "$m" ] && [ -f "$cdx" ] || fail "$m or $cdx missing (./build.sh builds them)"

log "manifest.json: every part of the bill of materials"
python3 - "$m" "$ROOT/cloudd/third-party.txt" "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" <<'PY' || fail "manifest.json is incomplete"
import json, re, sys
m = json.load(open(sys.argv[1]))
assert len(m["packages"]) > 50, "only %d binary packages" % len(m["packages"])
for p in m["packages"]:
    assert re.fullmatch(r"[0-9a-f]{64}", p["deb_sha256"]), p
names = {p["name"] for p in m["packages"]}
for want in ("busybox-static", "qemu-system-x86", "nftables", "dnsmasq-base"):
    assert want in names, want
pinned = [l.split()[0] for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
src = {p["name"]: p for p in m["source_packages"]}
assert sorted(src) == sorted(pinned), "source packages %s, third-party.txt %s" % (sorted(src), sorted(pinned))
for p in src.values():
    assert re.fullmatch(r"[0-9a-f]{64}", p["dsc_sha256"]) and p["dsc"].endswith(".dsc"), p
assert m["toolchain"]["compiler"].startswith("gcc ") and m["toolchain"]["libc"].startswith("musl "), m["toolchain"]
assert m["project"]["commit"] == sys.argv[3], "commit %s, HEAD %s" % (m["project"]["commit"], sys.argv[3])
print("manifest: %d binary packages, %d source packages (%s), %s, %s, commit %s" % (
    len(m["packages"]), len(src), ", ".join(sorted(src)), m["toolchain"]["compiler"], m["toolchain"]["libc"],
    m["project"]["commit"][:12]))
PY

log "the CycloneDX validator (pinned npm packages, tests/build/sbom-validator)"
v="$CACHE/npm/sbom-validator"
want=$(cat "$ROOT/tests/build/sbom-validator/package-lock.json" "$ROOT/tests/build/sbom-validator/validate.js" | sha256sum | cut -c1-64)
if [ "$(cat "$v/.installed" 2>/dev/null)" != "$want" ]; then
	rm -rf "$v" && mkdir -p "$v"
	cp "$ROOT"/tests/build/sbom-validator/{package.json,package-lock.json,validate.js} "$v/"
	(cd "$v" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci of the SBOM validator failed"
	echo "$want" >"$v/.installed"
fi

node "$v/validate.js" "$cdx" || fail "$cdx is not valid CycloneDX 1.5"
python3 - "$cdx" "$m" <<'PY' || fail "sbom.cdx.json does not list what manifest.json lists"
import json, sys
c = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
purls = {x.get("purl") for x in c["components"]}
for p in m["packages"]:
    assert any(u and u.startswith("pkg:deb/debian/%s@" % p["name"]) and "arch=%s" % p["architecture"] in u for u in purls), p["name"]
for p in m["source_packages"]:
    assert any(u and u.startswith("pkg:deb/debian/%s@" % p["name"]) and "arch=source" in u for u in purls), p["name"]
print("sbom.cdx.json: %d components" % len(c["components"]))
PY

log "a broken document is refused by the validator (the check can fail)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["components"][0]["hashes"][0]["alg"]="SHA-257"; json.dump(d, open(sys.argv[2],"w"))' \
	"$cdx" "$TEST_TMP/broken.cdx.json"
if node "$v/validate.js" "$TEST_TMP/broken.cdx.json" >/dev/null 2>&1; then fail "the validator accepted a broken SBOM"; fi
log "manifest and CycloneDX SBOM complete and valid"
