#!/usr/bin/env python3
# cyclonedx.py -- out/manifest.json rendered as a CycloneDX 1.5 JSON bill of materials (deterministic)
"""usage: cyclonedx.py MANIFEST.json > sbom.cdx.json

Every Debian binary package of the image, every Debian source package built
with musl into the static programs, and the toolchain (gcc, musl) become
components with package URLs (purl) and SHA-256 hashes; the commit and the
substituted pins are properties. The serial number is derived from the
manifest and the timestamp is SOURCE_DATE_EPOCH, so equal inputs give equal
bytes."""
import datetime
import hashlib
import json
import sys
import urllib.parse
import uuid


def purl(name, version, arch):
    return "pkg:deb/debian/%s@%s?arch=%s&distro=bookworm" % (
        name, urllib.parse.quote(version, safe=""), arch)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__ + "\n")
        return 100
    with open(argv[1], "rb") as f:
        raw = f.read()
    m = json.loads(raw)
    stamp = datetime.datetime.fromtimestamp(m["source_date_epoch"], datetime.timezone.utc)
    components = []
    for p in m["packages"]:
        ref = purl(p["name"], p["version"], p["architecture"])
        components.append({
            "type": "library", "bom-ref": ref, "name": p["name"], "version": p["version"],
            "purl": ref, "hashes": [{"alg": "SHA-256", "content": p["deb_sha256"]}],
            "properties": [{"name": "cloudd:in", "value": "node image"}],
        })
    for p in m["source_packages"]:
        ref = purl(p["name"], p["version"], "source")
        components.append({
            "type": "library", "bom-ref": ref, "name": p["name"], "version": p["version"],
            "purl": ref, "hashes": [{"alg": "SHA-256", "content": p["dsc_sha256"]}],
            "properties": [{"name": "cloudd:in", "value": "static programs: " + ", ".join(p["linked_into"])},
                           {"name": "cloudd:dsc", "value": p["dsc"]}],
        })
    for key, tool in sorted(m["toolchain"].items()):
        name, _, version = tool.partition(" ")
        components.append({
            "type": "application", "bom-ref": "toolchain-" + name, "name": name, "version": version,
            "scope": "excluded", "properties": [{"name": "cloudd:toolchain", "value": key}],
        })
    props = [{"name": "cloudd:commit", "value": m["project"]["commit"]},
             {"name": "cloudd:kernel", "value": m["kernel"]}]
    for s in m.get("substitutions", []):
        props.append({"name": "cloudd:substitution",
                      "value": "%s %s: pinned %s, used %s" % (s["kind"], s["name"], s["pinned"] or "-",
                                                             s["used"] or "-")})
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:%s" % uuid.uuid5(uuid.NAMESPACE_URL,
                                                     "cloudd-sbom:" + hashlib.sha256(raw).hexdigest()),
        "version": 1,
        "metadata": {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "cloudd initramfs/mkimage.sh"}]},
            "component": {"type": "operating-system", "bom-ref": "cloudd-node-image",
                          "name": "cloudd-node-image", "version": m["image_version"]},
            "properties": props,
        },
        "components": components,
    }
    json.dump(bom, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
