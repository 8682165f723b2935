#!/usr/bin/env bash
# release.sh -- a signed release of the built tree: image files with CMS signatures, Debian packages, a signed apt repository
#
# usage: packaging/release.sh check|build
#
#   check   check the signing keys (exit 100 with one line naming the file)
#   build   write RELEASE_DIR (default $OUT/release) from what ./build.sh built in $OUT
#
# Called by ./build.sh release (check, then the build, then build) and by
# ./build.sh test release. Environment (set by build.sh):
#   ROOT OUT CACHE IMAGE_VERSION SOURCE_DATE_EPOCH
#   CLOUDD_SIGN_KEY CLOUDD_SIGN_CERT [CLOUDD_SIGN_CHAIN]   CMS signing key and certificate (PEM)
#   CLOUDD_GPG_KEY                                          OpenPGP secret key, no passphrase
#   RELEASE_DIR                                             where the release goes
#   CLOUDD_MAINTAINER                                       Maintainer of the packages
# Without keys, a throw-away test CA, signer and OpenPGP key are made once in
# $CACHE/release-test-keys (never in the tree) and the release says so.
#
# Exit codes: 0 success, 100 bad keys or usage, 111 failure.
set -euo pipefail

EX_USAGE=100
EX_FAIL=111

: "${ROOT:?run through ./build.sh release}" "${OUT:?}" "${CACHE:?}" "${IMAGE_VERSION:?}" "${SOURCE_DATE_EPOCH:?}"
RELEASE_DIR="${RELEASE_DIR:-$OUT/release}"
SIGN_KEY="${CLOUDD_SIGN_KEY:-}"
SIGN_CERT="${CLOUDD_SIGN_CERT:-}"
SIGN_CHAIN="${CLOUDD_SIGN_CHAIN:-}"
GPG_KEY="${CLOUDD_GPG_KEY:-}"
MAINTAINER="${CLOUDD_MAINTAINER:-cloudd maintainers <cloudd@example.org>}"
TEST_KEYS="$CACHE/release-test-keys"
SUITE=bookworm
export SOURCE_DATE_EPOCH LC_ALL=C TZ=UTC

# the files of the node image, as ./build.sh image writes them
IMAGE_FILES=(vmlinuz initramfs.img boot.ipxe undionly.kpxe ipxe.efi snponly.efi manifest.json sbom.cdx.json)
# signed for iPXE's imgverify
SIGNED_FILES=(vmlinuz initramfs.img)

say() { printf 'release: %s\n' "$*" >&2; }
die() { printf 'build.sh: release: %s\n' "$*" >&2; exit "$EX_FAIL"; }
bad_key() { printf 'build.sh: release: %s\n' "$*" >&2; exit "$EX_USAGE"; }

TMPDIRS=()
cleanup() {
	local d
	for d in "${TMPDIRS[@]}"; do
		# a keyring's gpg-agent goes with it
		[ ! -S "$d/S.gpg-agent" ] || gpgconf --homedir "$d" --kill gpg-agent 2>/dev/null || true
		rm -rf "$d"
	done
}
trap cleanup EXIT
# tmpdir VAR [PARENT]: a directory removed on exit, its path in VAR
tmpdir() {
	local d
	d=$(mktemp -d "${2:-/tmp}/cloudd-release.XXXXXX") || die "mktemp in ${2:-/tmp} failed"
	TMPDIRS+=("$d")
	printf -v "$1" '%s' "$d"
}

need_tools() {
	local t pkg missing=()
	for t in "$@"; do
		pkg="${t#*:}"; t="${t%%:*}"
		command -v "$t" >/dev/null || missing+=("$t (Debian package $pkg)")
	done
	[ "${#missing[@]}" -eq 0 ] || bad_key "missing tools: ${missing[*]}; ./build.sh deps installs them for a release"
}

# --- keys ----------------------------------------------------------------------

# check_cms_key KEY CERT: a readable unencrypted key, a certificate that is
# valid now, carries codeSigning and holds the key's public half.
check_cms_key() {
	local key="$1" cert="$2" kpub cpub eku
	[ -r "$key" ] || bad_key "signing key $key: cannot read it"
	[ -r "$cert" ] || bad_key "signing certificate $cert: cannot read it"
	openssl x509 -in "$cert" -noout 2>/dev/null || bad_key "signing certificate $cert: not a PEM X.509 certificate"
	kpub=$(openssl pkey -in "$key" -passin pass: -pubout 2>/dev/null) ||
		bad_key "signing key $key: not an unencrypted PEM private key"
	cpub=$(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null)
	[ "$kpub" = "$cpub" ] || bad_key "signing key $key does not match the certificate $cert"
	eku=$(openssl x509 -in "$cert" -noout -ext extendedKeyUsage 2>/dev/null | sed 1d)
	grep -q 'Code Signing' <<<"$eku" ||
		bad_key "signing certificate $cert has no codeSigning extended key usage (iPXE imgverify refuses it)"
	openssl x509 -in "$cert" -noout -checkend 0 >/dev/null ||
		bad_key "signing certificate $cert has expired"
	if [ -n "$SIGN_CHAIN" ]; then
		[ -r "$SIGN_CHAIN" ] || bad_key "certificate chain $SIGN_CHAIN: cannot read it"
		openssl verify -purpose any -CAfile "$SIGN_CHAIN" "$cert" >/dev/null 2>&1 ||
			bad_key "signing certificate $cert is not issued by the chain $SIGN_CHAIN"
	fi
}

# gpg_import HOME FILE: FILE's secret key into a keyring of its own; prints
# the fingerprint of the key that signs.
gpg_import() {
	local home="$1" file="$2" fpr
	[ -r "$file" ] || bad_key "OpenPGP key $file: cannot read it"
	gpg --homedir "$home" --batch --quiet --import "$file" >/dev/null 2>&1 ||
		bad_key "OpenPGP key $file: not an OpenPGP secret key"
	# the primary or a subkey with the sign capability
	fpr=$(gpg --homedir "$home" --batch --with-colons --list-secret-keys 2>/dev/null |
		awk -F: '$1 == "sec" || $1 == "ssb" { cap = $12; want = ($12 ~ /s/ && $2 !~ /[rei]/) } $1 == "fpr" && want { print $10; exit }')
	[ -n "$fpr" ] || bad_key "OpenPGP key $file: no secret key that can sign"
	echo test | gpg --homedir "$home" --batch --pinentry-mode loopback --passphrase '' \
		--local-user "$fpr!" --sign >/dev/null 2>&1 ||
		bad_key "OpenPGP key $file: cannot sign with it (passphrase-protected or expired)"
	echo "$fpr"
}

# The throw-away test keys: a CA, a code-signing certificate issued by it and
# an OpenPGP key, made once per cache.
make_test_keys() {
	local ext home
	mkdir -p "$TEST_KEYS" && chmod 700 "$TEST_KEYS"
	exec 8>"$CACHE/.release-test-keys.lock"
	flock 8
	if [ ! -s "$TEST_KEYS/ca.crt" ] || [ ! -s "$TEST_KEYS/signer.crt" ]; then
		say "making a throw-away test CA and code-signing certificate in $TEST_KEYS"
		openssl req -x509 -newkey rsa:3072 -nodes -keyout "$TEST_KEYS/ca.key" -out "$TEST_KEYS/ca.crt" \
			-days 3650 -subj "/CN=cloudd throw-away test CA" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
			>/dev/null 2>&1 || die "openssl could not make the test CA"
		ext="$TEST_KEYS/signer.ext"
		printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
			extendedKeyUsage=codeSigning >"$ext"
		openssl req -newkey rsa:3072 -nodes -keyout "$TEST_KEYS/signer.key" -out "$TEST_KEYS/signer.csr" \
			-subj "/CN=cloudd throw-away test release signer" >/dev/null 2>&1 &&
			openssl x509 -req -in "$TEST_KEYS/signer.csr" -CA "$TEST_KEYS/ca.crt" -CAkey "$TEST_KEYS/ca.key" \
				-CAcreateserial -days 3650 -extfile "$ext" -out "$TEST_KEYS/signer.crt" >/dev/null 2>&1 ||
			die "openssl could not make the test signing certificate"
		rm -f "$TEST_KEYS/signer.csr" "$ext"
	fi
	if [ ! -s "$TEST_KEYS/apt-secret.asc" ]; then
		say "making a throw-away OpenPGP key in $TEST_KEYS"
		tmpdir home
		gpg --homedir "$home" --batch --passphrase '' --quick-gen-key \
			"cloudd throw-away test archive key <cloudd-test@example.org>" ed25519 sign never >/dev/null 2>&1 &&
			gpg --homedir "$home" --batch --armor --export-secret-keys >"$TEST_KEYS/apt-secret.asc.new" &&
			mv "$TEST_KEYS/apt-secret.asc.new" "$TEST_KEYS/apt-secret.asc" ||
			die "gpg could not make the test OpenPGP key"
	fi
	chmod 600 "$TEST_KEYS"/*
	flock -u 8
	exec 8>&-
}

# Which keys sign: the given ones (checked), or the throw-away test keys.
select_keys() {
	if [ -n "$SIGN_KEY$SIGN_CERT" ]; then
		[ -n "$SIGN_KEY" ] || bad_key "--sign-cert $SIGN_CERT given without --sign-key"
		[ -n "$SIGN_CERT" ] || bad_key "--sign-key $SIGN_KEY given without --sign-cert"
		check_cms_key "$SIGN_KEY" "$SIGN_CERT"
		TEST_CMS=0
	else
		[ -z "$SIGN_CHAIN" ] || bad_key "--sign-chain $SIGN_CHAIN given without --sign-key and --sign-cert"
		TEST_CMS=1
	fi
	[ -n "$GPG_KEY" ] && TEST_GPG=0 || TEST_GPG=1
	tmpdir GNUPGHOME_RELEASE
	chmod 700 "$GNUPGHOME_RELEASE"
	if [ "$TEST_GPG" -eq 0 ]; then
		GPG_FPR=$(gpg_import "$GNUPGHOME_RELEASE" "$GPG_KEY")
	fi
}

use_test_keys() {
	[ "$TEST_CMS" -eq 1 ] || [ "$TEST_GPG" -eq 1 ] || return 0
	make_test_keys
	if [ "$TEST_CMS" -eq 1 ]; then
		SIGN_KEY="$TEST_KEYS/signer.key" SIGN_CERT="$TEST_KEYS/signer.crt" SIGN_CHAIN="$TEST_KEYS/ca.crt"
		check_cms_key "$SIGN_KEY" "$SIGN_CERT"
		say "NOTE: no --sign-key/--sign-cert: vmlinuz and initramfs.img are signed with the THROW-AWAY"
		say "      test CA in $TEST_KEYS (not for production)"
	fi
	if [ "$TEST_GPG" -eq 1 ]; then
		GPG_KEY="$TEST_KEYS/apt-secret.asc"
		GPG_FPR=$(gpg_import "$GNUPGHOME_RELEASE" "$GPG_KEY")
		say "NOTE: no --gpg-key: SHA256SUMS and the apt repository are signed with the THROW-AWAY"
		say "      test key $GPG_FPR in $TEST_KEYS (not for production)"
	fi
}

gpg_release() { gpg --homedir "$GNUPGHOME_RELEASE" --batch --pinentry-mode loopback --passphrase '' "$@"; }

# --- signatures ----------------------------------------------------------------

# cms_sign FILE: FILE.sig, a detached CMS signature in DER without signed
# attributes (what iPXE's imgverify checks), checked right away.
cms_sign() {
	local f="$1" chain=()
	[ -z "$SIGN_CHAIN" ] || chain=(-certfile "$SIGN_CHAIN")
	openssl cms -sign -binary -noattr -md sha256 -in "$f" -signer "$SIGN_CERT" -inkey "$SIGN_KEY" \
		"${chain[@]}" -outform DER -out "$f.sig" || die "openssl cms -sign $f failed"
	openssl cms -verify -binary -inform DER -in "$f.sig" -content "$f" -purpose any \
		-CAfile "${SIGN_CHAIN:-$SIGN_CERT}" -partial_chain -out /dev/null 2>/dev/null ||
		die "the new signature $f.sig does not verify"
}

# --- Debian packages -----------------------------------------------------------

# The Debian version: a tag as it is (v1.2 -> 1.2), otherwise
# 0~gitDATE.TIME.DESCRIBE (sorts by commit time, below any tagged release).
deb_version() {
	local v="$IMAGE_VERSION"
	case "$v" in
	v[0-9]* | [0-9]*) v="${v#v}"; echo "${v//-/+}" ;;
	*) echo "0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d.%H%M%S).${v//-/+}" ;;
	esac
}

# build_debs DIR: cloud-controller, cloudctl and cloudd-image built with
# dpkg-buildpackage and debhelper from packaging/debian and the files of
# $OUT, into DIR.
build_debs() {
	local dest="$1" work src version log
	version=$(deb_version)
	tmpdir work "$CACHE"
	src="$work/cloudd-$version"
	log="$work/dpkg-buildpackage.log"
	mkdir -p "$src/bin" "$src/pxe" "$src/images/$IMAGE_VERSION"
	cp -a "$ROOT/packaging/debian" "$src/debian"
	cp "$OUT/bin/cloud-controller" "$OUT/bin/cloudctl" "$src/bin/"
	cp "$ROOT"/pxe/boot.ipxe.in "$ROOT"/pxe/dnsmasq.conf.in "$ROOT"/pxe/dnsmasq-proxy.conf.in "$src/pxe/"
	cp -a "$ROOT/packaging/etc" "$ROOT/packaging/man" "$ROOT/packaging/bash-completion" "$src/"
	# the image as ./build.sh made it (its SHA256SUMS is what publish checks), with the CMS signatures
	cp "${IMAGE_FILES[@]/#/$OUT/}" "$OUT/SHA256SUMS" "$src/images/$IMAGE_VERSION/"
	cp "$STAGE/vmlinuz.sig" "$STAGE/initramfs.img.sig" "$src/images/$IMAGE_VERSION/"
	{
		printf 'cloudd (%s) %s; urgency=medium\n\n' "$version" "$SUITE"
		printf '  * Release of commit %s (image version %s).\n\n' \
			"$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$IMAGE_VERSION"
		printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	} >"$src/debian/changelog"
	sed -i "s|^Maintainer:.*|Maintainer: $MAINTAINER|" "$src/debian/control"
	say "dpkg-buildpackage: cloud-controller, cloudctl, cloudd-image $version"
	(cd "$src" && DEB_BUILD_OPTIONS="noddebs nocheck" dpkg-buildpackage -b -us -uc --no-sign) >"$log" 2>&1 ||
		{ tail -30 "$log" >&2; die "dpkg-buildpackage failed (log above)"; }
	mkdir -p "$dest"
	cp "$work"/*.deb "$dest/" || die "dpkg-buildpackage made no package"
	DEB_VERSION="$version"
}

# apt_repo DIR DEBS: a signed apt repository (suite bookworm, component main).
apt_repo() {
	local repo="$1" debs="$2" dists
	dists="$repo/dists/$SUITE"
	mkdir -p "$repo/pool/main/c/cloudd" "$dists/main/binary-amd64"
	cp "$debs"/*.deb "$repo/pool/main/c/cloudd/"
	# Architecture: all packages are listed with the amd64 ones, as in Debian's archive
	(cd "$repo" && apt-ftparchive --arch amd64 packages pool >"dists/$SUITE/main/binary-amd64/Packages") ||
		die "apt-ftparchive packages failed"
	gzip -9n -k "$dists/main/binary-amd64/Packages"
	apt-ftparchive \
		-o APT::FTPArchive::Release::Origin=cloudd -o APT::FTPArchive::Release::Label=cloudd \
		-o APT::FTPArchive::Release::Suite="$SUITE" -o APT::FTPArchive::Release::Codename="$SUITE" \
		-o APT::FTPArchive::Release::Architectures=amd64 \
		-o APT::FTPArchive::Release::Components=main \
		-o APT::FTPArchive::Release::Description="cloudd $DEB_VERSION" \
		release "$dists" >"$repo/Release.tmp" || die "apt-ftparchive release failed"
	mv "$repo/Release.tmp" "$dists/Release"
	gpg_release --local-user "$GPG_FPR!" --digest-algo SHA512 --clearsign -o "$dists/InRelease" "$dists/Release" &&
		gpg_release --local-user "$GPG_FPR!" --digest-algo SHA512 --detach-sign --armor -o "$dists/Release.gpg" "$dists/Release" ||
		die "signing the apt repository's Release failed"
}

# --- the release ---------------------------------------------------------------

do_check() {
	need_tools openssl:openssl gpg:gnupg
	select_keys
	say "keys ok"
}

do_build() {
	local f new
	need_tools openssl:openssl gpg:gnupg gpgv:gpgv dpkg-buildpackage:dpkg-dev dh:debhelper \
		apt-ftparchive:apt-utils sha256sum:coreutils
	select_keys
	use_test_keys
	for f in "${IMAGE_FILES[@]}" bin/cloud-controller bin/cloudctl SHA256SUMS; do
		[ -f "$OUT/$f" ] || die "$OUT/$f is missing: run ./build.sh first"
	done
	(cd "$OUT" && sha256sum --quiet -c SHA256SUMS) || die "$OUT/SHA256SUMS does not match the image files"
	if [ -s "$OUT/resolved/substitutions.tsv" ]; then
		say "NOTE: this build replaced pins that left the archive (out/resolved/substitutions.tsv, manifest.json);"
		say "      ./build.sh --locked release makes a release from the pins or fails"
	fi
	mkdir -p "$(dirname "$RELEASE_DIR")"
	tmpdir new "$(dirname "$RELEASE_DIR")"
	STAGE="$new/release"
	mkdir -p "$STAGE"

	say "image files and their CMS signatures (imgverify)"
	cp "${IMAGE_FILES[@]/#/$OUT/}" "$STAGE/"
	for f in "${SIGNED_FILES[@]}"; do cms_sign "$STAGE/$f"; done
	install -m 0644 "$SIGN_CERT" "$STAGE/codesign.crt"
	[ -z "$SIGN_CHAIN" ] || install -m 0644 "$SIGN_CHAIN" "$STAGE/codesign-ca.crt"

	build_debs "$STAGE/debs"

	say "OpenPGP release key $GPG_FPR"
	gpg_release --export "$GPG_FPR" >"$STAGE/cloudd-archive-keyring.gpg"
	gpg_release --armor --export "$GPG_FPR" >"$STAGE/cloudd-archive-keyring.asc"

	say "apt repository (suite $SUITE, component main)"
	apt_repo "$STAGE/apt" "$STAGE/debs"

	say "SHA256SUMS and its OpenPGP signature"
	(cd "$STAGE" && find . -path ./apt -prune -o -type f -printf '%P\n' | sort | xargs sha256sum >../SHA256SUMS &&
		mv ../SHA256SUMS SHA256SUMS) ||
		die "writing SHA256SUMS failed"
	gpg_release --local-user "$GPG_FPR!" --digest-algo SHA512 --detach-sign -o "$STAGE/SHA256SUMS.gpg" "$STAGE/SHA256SUMS" ||
		die "signing SHA256SUMS failed"
	gpgv --keyring "$STAGE/cloudd-archive-keyring.gpg" "$STAGE/SHA256SUMS.gpg" "$STAGE/SHA256SUMS" 2>/dev/null ||
		die "the new SHA256SUMS.gpg does not verify"
	if [ "$TEST_CMS" -eq 1 ] || [ "$TEST_GPG" -eq 1 ]; then
		printf '%s\n' "This release is signed with THROW-AWAY TEST KEYS ($TEST_KEYS): do not deploy it." \
			>"$STAGE/TEST-KEYS-README"
	fi

	# into place in one step: the old release stays until the new one is whole
	rm -rf "$RELEASE_DIR.old"
	[ ! -e "$RELEASE_DIR" ] || mv "$RELEASE_DIR" "$RELEASE_DIR.old"
	mv "$STAGE" "$RELEASE_DIR"
	rm -rf "$RELEASE_DIR.old"
	say "release $IMAGE_VERSION (Debian version $DEB_VERSION) in $RELEASE_DIR:"
	(cd "$RELEASE_DIR/debs" && for f in *.deb; do say "  $f $(stat -c %s "$f") bytes"; done)
}

case "${1:-}" in
check) do_check ;;
build) do_build ;;
*) printf 'usage: packaging/release.sh check|build (run through ./build.sh release)\n' >&2; exit "$EX_USAGE" ;;
esac
