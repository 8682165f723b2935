#!/usr/bin/env bash
# bad release keys (a key that does not match its certificate, a certificate without codeSigning, a file that is no OpenPGP key, half a key pair) fail with exit 100 and one line naming the file, and leave out/ as it was; good keys pass the check
# timeout: 300
. "$ROOT/tests/release/lib-release.sh"
require_root
require_cmd openssl gpg git

k="$TEST_TMP/keys"
mkdir -p "$k"
# a CA, a code-signing certificate with its key, another key, a TLS server certificate
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$k/ca.key" -out "$k/ca.crt" -days 2 -subj "/CN=test CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
issue() { # issue NAME EKU
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' "$2" >"$k/$1.ext"
	openssl req -newkey rsa:2048 -nodes -keyout "$k/$1.key" -out "$k/$1.csr" -subj "/CN=$1" >/dev/null 2>&1 &&
		openssl x509 -req -in "$k/$1.csr" -CA "$k/ca.crt" -CAkey "$k/ca.key" -CAcreateserial -days 2 \
			-extfile "$k/$1.ext" -out "$k/$1.crt" >/dev/null 2>&1 || fail "openssl could not issue $1"
}
issue signer codeSigning
issue server serverAuth
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/other.key" >/dev/null 2>&1
echo "not a key" >"$k/junk.asc"

out="$TEST_TMP/out"
mkdir -p "$out/release"
echo sentinel >"$out/release/SHA256SUMS"
snapshot() { (cd "$out" && find . -printf '%p %s %m %T@\n' | sort; cat release/SHA256SUMS); }
before=$(snapshot)

# expect_bad WORDS FILE DESCRIPTION ARGS..: ./build.sh release ARGS exits 100
# with one line that names FILE and holds WORDS, and out/ stays as it was
expect_bad() {
	local words="$1" file="$2" what="$3" rc=0; shift 3
	env CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" "$ROOT/build.sh" release "$@" >"$TEST_TMP/err.log" 2>&1 || rc=$?
	cat "$TEST_TMP/err.log"
	[ "$rc" -eq 100 ] || fail "$what: exit $rc, expected 100"
	[ "$(wc -l <"$TEST_TMP/err.log")" -eq 1 ] || fail "$what: $(wc -l <"$TEST_TMP/err.log") lines of output, expected one"
	grep -qF "$file" "$TEST_TMP/err.log" || fail "$what: the message does not name $file"
	grep -qF "$words" "$TEST_TMP/err.log" || fail "$what: the message does not say '$words'"
	[ "$(snapshot)" = "$before" ] || fail "$what: out/ was changed"
}

log "a signing key that does not match its certificate"
expect_bad "does not match" "$k/other.key" "mismatched key" --sign-key "$k/other.key" --sign-cert "$k/signer.crt"
log "a certificate without codeSigning"
expect_bad "codeSigning" "$k/server.crt" "no codeSigning" --sign-key "$k/server.key" --sign-cert "$k/server.crt"
log "a certificate file that is not a certificate"
expect_bad "not a PEM X.509 certificate" "$k/signer.key" "key as certificate" --sign-key "$k/signer.key" --sign-cert "$k/signer.key"
log "a key without its certificate"
expect_bad "without --sign-cert" "$k/signer.key" "half a pair" --sign-key "$k/signer.key"
log "a certificate not issued by the given chain"
expect_bad "not issued by the chain" "$k/signer.crt" "foreign chain" --sign-key "$k/signer.key" --sign-cert "$k/signer.crt" \
	--sign-chain "$KEYS/ca.crt"
log "an OpenPGP key file that holds no key"
expect_bad "not an OpenPGP secret key" "$k/junk.asc" "junk OpenPGP key" --gpg-key "$k/junk.asc"
log "an OpenPGP public key (no secret part)"
mkdir -m 700 "$TEST_TMP/gnupg"
cleanup_add "gpgconf --homedir $TEST_TMP/gnupg --kill gpg-agent"
gpg --homedir "$TEST_TMP/gnupg" --batch --passphrase '' --quick-gen-key "t <t@example.org>" ed25519 sign never >/dev/null 2>&1
gpg --homedir "$TEST_TMP/gnupg" --batch --armor --export >"$k/public.asc"
gpg --homedir "$TEST_TMP/gnupg" --batch --armor --export-secret-keys >"$k/secret.asc"
expect_bad "no secret key that can sign" "$k/public.asc" "public OpenPGP key" --gpg-key "$k/public.asc"

log "and good keys pass the check"
env OUT="$out" CACHE="$CACHE" IMAGE_VERSION=test SOURCE_DATE_EPOCH=0 CLOUDD_SIGN_KEY="$k/signer.key" \
	CLOUDD_SIGN_CERT="$k/signer.crt" CLOUDD_SIGN_CHAIN="$k/ca.crt" CLOUDD_GPG_KEY="$k/secret.asc" \
	"$ROOT/packaging/release.sh" check >"$TEST_TMP/ok.log" 2>&1 || { cat "$TEST_TMP/ok.log"; fail "good keys refused"; }
grep -q 'keys ok' "$TEST_TMP/ok.log" || fail "the check of good keys did not say so"
[ "$(snapshot)" = "$before" ] || fail "the check changed out/"
log "bad keys refused with one line naming the file; out/ untouched"
