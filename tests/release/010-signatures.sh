#!/usr/bin/env bash
# the release's CMS signatures of vmlinuz and initramfs.img (imgverify form) and the OpenPGP signature of SHA256SUMS verify with openssl and gpgv, and fail for a modified file or another CA
# timeout: 300
. "$ROOT/tests/release/lib-release.sh"
require_cmd openssl gpgv sha256sum cmp dd
require_release

ca="$KEYS/ca.crt"

# cms_verify SIG CONTENT CA: what docs/release.md tells operators to run
cms_verify() {
	openssl cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$3" -purpose any \
		-out /dev/null 2>"$TEST_TMP/cms.err"
}

for f in vmlinuz initramfs.img; do
	log "$f.sig: a CMS signature that verifies against the test CA"
	[ -s "$REL/$f.sig" ] || fail "$REL/$f.sig is missing"
	cms_verify "$REL/$f.sig" "$REL/$f" "$ca" || { cat "$TEST_TMP/cms.err"; fail "$f.sig does not verify"; }
	cmp -s "$REL/$f" "$OUT/$f" || fail "$REL/$f is not the built $OUT/$f"

	# the form iPXE's imgverify checks: DER, detached, no signed attributes, signer with codeSigning
	openssl cms -cmsout -print -inform DER -in "$REL/$f.sig" >"$TEST_TMP/$f.print" ||
		fail "$f.sig is not DER CMS"
	awk '/^ *signedAttrs:/ { getline; absent = ($1 == "<ABSENT>") } END { exit !absent }' "$TEST_TMP/$f.print" ||
		fail "$f.sig has signed attributes (made without -noattr)"
	grep -q 'eContent: <ABSENT>' "$TEST_TMP/$f.print" || fail "$f.sig is not detached"
	openssl cms -verify -binary -inform DER -in "$REL/$f.sig" -content "$REL/$f" -CAfile "$ca" -purpose any \
		-signer "$TEST_TMP/signer.pem" -out /dev/null 2>/dev/null || fail "cannot extract the signer of $f.sig"
	openssl x509 -in "$TEST_TMP/signer.pem" -noout -ext extendedKeyUsage | grep -q 'Code Signing' ||
		fail "the signer of $f.sig has no codeSigning extended key usage"
	cmp -s <(openssl x509 -in "$TEST_TMP/signer.pem" -outform DER) <(openssl x509 -in "$REL/codesign.crt" -outform DER) ||
		fail "the signer of $f.sig is not codesign.crt"

	log "$f modified by one byte: refused"
	cp "$REL/$f" "$TEST_TMP/$f"
	byte=$(dd if="$TEST_TMP/$f" bs=1 skip=4096 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$TEST_TMP/$f" bs=1 seek=4096 conv=notrunc 2>/dev/null
	! cmp -s "$TEST_TMP/$f" "$REL/$f" || fail "the copy of $f was not modified"
	if cms_verify "$REL/$f.sig" "$TEST_TMP/$f" "$ca"; then fail "a modified $f verifies"; fi
	grep -qi 'digest failure\|verification failure' "$TEST_TMP/cms.err" ||
		{ cat "$TEST_TMP/cms.err"; fail "the modified $f failed for another reason than its digest"; }

	log "$f with one byte more: refused"
	cp "$REL/$f" "$TEST_TMP/$f" && printf x >>"$TEST_TMP/$f"
	if cms_verify "$REL/$f.sig" "$TEST_TMP/$f" "$ca"; then fail "$f with a byte appended verifies"; fi
done

log "another CA does not vouch for the signatures"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_TMP/other.key" -out "$TEST_TMP/other.crt" -days 1 \
	-subj "/CN=some other CA" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1 || fail "openssl req failed"
if cms_verify "$REL/vmlinuz.sig" "$REL/vmlinuz" "$TEST_TMP/other.crt"; then fail "vmlinuz.sig verifies against another CA"; fi

log "SHA256SUMS: every file of the release, and signed"
(cd "$REL" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match the release"
for f in vmlinuz initramfs.img vmlinuz.sig initramfs.img.sig manifest.json sbom.cdx.json codesign.crt \
	cloudd-archive-keyring.gpg; do
	grep -q "  $f\$" "$REL/SHA256SUMS" || fail "SHA256SUMS does not list $f"
done
for p in cloud-controller cloudctl cloudd-image; do
	grep -Eq "  debs/${p}_[^ ]*\\.deb\$" "$REL/SHA256SUMS" || fail "SHA256SUMS does not list the package $p"
done
gpgv --keyring "$REL/cloudd-archive-keyring.gpg" "$REL/SHA256SUMS.gpg" "$REL/SHA256SUMS" 2>"$TEST_TMP/gpgv.log" ||
	{ cat "$TEST_TMP/gpgv.log"; fail "SHA256SUMS.gpg does not verify"; }
grep -q 'Good signature' "$TEST_TMP/gpgv.log" || fail "gpgv did not report a good signature"

log "a modified SHA256SUMS: refused by gpgv"
sed '1s/^./0/;1s/^00/11/' "$REL/SHA256SUMS" >"$TEST_TMP/SHA256SUMS"
! cmp -s "$TEST_TMP/SHA256SUMS" "$REL/SHA256SUMS" || fail "the copy of SHA256SUMS was not modified"
if gpgv --keyring "$REL/cloudd-archive-keyring.gpg" "$REL/SHA256SUMS.gpg" "$TEST_TMP/SHA256SUMS" 2>"$TEST_TMP/gpgv.log"; then
	fail "gpgv accepts a modified SHA256SUMS"
fi
grep -q 'BAD signature' "$TEST_TMP/gpgv.log" || { cat "$TEST_TMP/gpgv.log"; fail "gpgv did not report a bad signature"; }

log "the apt repository's InRelease and Release.gpg verify with the same key"
gpgv --keyring "$REL/cloudd-archive-keyring.gpg" "$REL/apt/dists/$SUITE/InRelease" 2>/dev/null ||
	fail "InRelease does not verify"
gpgv --keyring "$REL/cloudd-archive-keyring.gpg" "$REL/apt/dists/$SUITE/Release.gpg" "$REL/apt/dists/$SUITE/Release" \
	2>/dev/null || fail "Release.gpg does not verify"

log "the image package holds the same image files and signatures"
deb=$(ls "$REL"/debs/cloudd-image_*.deb)
dpkg-deb -x "$deb" "$TEST_TMP/image-deb"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image_version"])' "$REL/manifest.json")
img="$TEST_TMP/image-deb/usr/share/cloudd/images/$version"
[ -d "$img" ] || fail "the image package has no /usr/share/cloudd/images/$version"
for f in vmlinuz initramfs.img vmlinuz.sig initramfs.img.sig manifest.json SHA256SUMS boot.ipxe; do
	cmp -s "$img/$f" "$REL/$f" 2>/dev/null || cmp -s "$img/$f" "$OUT/$f" || fail "the image package's $f differs"
done
(cd "$img" && sha256sum --quiet -c SHA256SUMS) || fail "the packaged image does not match its SHA256SUMS"
cms_verify "$img/vmlinuz.sig" "$img/vmlinuz" "$ca" || fail "the packaged vmlinuz.sig does not verify"
log "signatures verify, and fail for modified files, another CA and a modified SHA256SUMS"
