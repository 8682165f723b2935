#!/usr/bin/env bash
# apt refuses the repository when its Release file is tampered with, and when it is signed by another key than signed-by names: nothing gets installed
# timeout: 600
. "$ROOT/tests/release/lib-release.sh"
require_root
require_cmd mmdebstrap unshare chroot tar gpg
require_release

# refused DESCRIPTION ROOT: apt-get update reports the repository's signature
# as bad and install cannot find the packages
refused() {
	local what="$1" root="$2" rc=0
	in_root "$root" apt-get update >"$TEST_TMP/update.log" 2>&1 || rc=$?
	cat "$TEST_TMP/update.log"
	[ "$rc" -ne 0 ] || fail "$what: apt-get update succeeded"
	grep -q 'cloudd-apt.*is not signed' "$TEST_TMP/update.log" ||
		fail "$what: apt-get update did not call the repository unsigned"
	rc=0
	in_root "$root" apt-get install -y cloud-controller cloudctl >"$TEST_TMP/install.log" 2>&1 || rc=$?
	cat "$TEST_TMP/install.log"
	[ "$rc" -ne 0 ] || fail "$what: apt-get install succeeded"
	grep -q 'Unable to locate package cloud-controller' "$TEST_TMP/install.log" ||
		fail "$what: apt-get install failed for another reason"
	if in_root "$root" dpkg-query -W cloud-controller >/dev/null 2>&1; then fail "$what: cloud-controller got installed"; fi
}

log "a tampered Release: the Description changed in InRelease and Release"
root="$TEST_TMP/root1"
fresh_root "$root"
add_repo "$root" "$REL/apt" "$REL/cloudd-archive-keyring.gpg"
rel="$root/srv/cloudd-apt/dists/$SUITE"
grep -q '^Description: ' "$rel/InRelease" || fail "no Description in InRelease"
sed -i 's/^Description: .*/Description: cloudd (tampered)/' "$rel/InRelease" "$rel/Release"
grep -q 'tampered' "$rel/InRelease" || fail "InRelease was not changed"
refused "tampered Release" "$root"
grep -q 'BAD signature\|BADSIG\|signatures were invalid' "$TEST_TMP/update.log" ||
	fail "apt-get update did not report a bad signature"

log "a tampered Release with the Packages checksum replaced"
root="$TEST_TMP/root2"
fresh_root "$root"
add_repo "$root" "$REL/apt" "$REL/cloudd-archive-keyring.gpg"
rel="$root/srv/cloudd-apt/dists/$SUITE"
echo "Package: cloud-controller" >>"$root/srv/cloudd-apt/dists/$SUITE/main/binary-amd64/Packages"
sum=$(sha256sum "$rel/main/binary-amd64/Packages" | cut -d' ' -f1)
size=$(stat -c %s "$rel/main/binary-amd64/Packages")
rm -f "$rel/main/binary-amd64/Packages.gz"
sed -i "s/^ [0-9a-f]\{64\} *[0-9]* main\/binary-amd64\/Packages\$/ $sum $size main\/binary-amd64\/Packages/" \
	"$rel/InRelease" "$rel/Release"
grep -q " $sum " "$rel/InRelease" || fail "the checksum in InRelease was not replaced"
refused "Release with a replaced checksum" "$root"

log "a repository signed by another key than signed-by names"
root="$TEST_TMP/root3"
fresh_root "$root"
mkdir -m 700 "$TEST_TMP/gnupg"
gpg --homedir "$TEST_TMP/gnupg" --batch --passphrase '' --quick-gen-key "other <other@example.org>" ed25519 sign never \
	>/dev/null 2>&1 || fail "gpg could not make a key"
gpg --homedir "$TEST_TMP/gnupg" --batch --export >"$TEST_TMP/other.gpg"
cleanup_add "gpgconf --homedir $TEST_TMP/gnupg --kill gpg-agent"
add_repo "$root" "$REL/apt" "$TEST_TMP/other.gpg"
refused "signature by an unknown key" "$root"
grep -q 'NO_PUBKEY' "$TEST_TMP/update.log" || fail "apt-get update did not report NO_PUBKEY"
log "apt refused the tampered and the wrongly signed repository; nothing was installed"
