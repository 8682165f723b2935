#!/usr/bin/env bash
# bad build input (an unknown packages.txt name, a source package with no version in the archive, a bad CLOUDD_LOCKED) fails with one clear line and leaves out/ as it was
# timeout: 300
. "$ROOT/tests/build/lib-build.sh"
require_root
require_cmd apt-cache git cpio

src="$TEST_TMP/src"
out="$TEST_TMP/out"
copy_tree "$src"
mkdir -p "$out/resolved"
echo sentinel >"$out/resolved/packages.lock"

# expect_fail CODE WORDS DESCRIPTION CMD..: CMD exits CODE and its output names WORDS
expect_fail() {
	local code="$1" words="$2" what="$3" rc=0; shift 3
	"$@" >"$TEST_TMP/err.log" 2>&1 || rc=$?
	cat "$TEST_TMP/err.log"
	[ "$rc" -eq "$code" ] || fail "$what: exit $rc, expected $code"
	grep -qF "$words" "$TEST_TMP/err.log" || fail "$what: the message does not name '$words'"
	[ "$(cat "$out/resolved/packages.lock")" = sentinel ] || fail "$what: out/resolved was changed"
}

log "an unknown name in packages.txt (re-resolved because a pin left the archive)"
cp "$src/image/packages.txt" "$src/image/packages.lock" "$TEST_TMP/"
echo "no-such-package-cloudd   # typo" >>"$src/image/packages.txt"
sed -i 's/^\(qemu-utils \).*/\11:0.0-gone/' "$src/image/packages.lock"
expect_fail 100 "no-such-package-cloudd" "unknown packages.txt name" \
	env CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" "$src/build.sh" pins
grep -q 'image/packages.txt' "$TEST_TMP/err.log" || fail "the message does not name image/packages.txt"
cp "$TEST_TMP/packages.txt" "$TEST_TMP/packages.lock" "$src/image/"

log "a source package whose pin and every other version are missing"
echo "no-such-source-cloudd 1.0-1" >>"$src/cloudd/third-party.txt"
expect_fail 111 "no-such-source-cloudd" "unknown source package" \
	env CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" "$src/build.sh" pins
grep -q 'cloudd/third-party.txt' "$TEST_TMP/err.log" || fail "the message does not name cloudd/third-party.txt"
sed -i '/no-such-source-cloudd/d' "$src/cloudd/third-party.txt"

log "a bad CLOUDD_LOCKED value"
expect_fail 100 "CLOUDD_LOCKED" "CLOUDD_LOCKED=yes" \
	env CLOUDD_LOCKED=yes CLOUDD_OUT="$out" CLOUDD_CACHE="$CACHE" "$src/build.sh" pins

log "and the unchanged tree resolves with no substitution"
(cd "$src" && CLOUDD_OUT="$TEST_TMP/out2" CLOUDD_CACHE="$CACHE" ./build.sh --locked pins) >"$TEST_TMP/ok.log" 2>&1 ||
	{ cat "$TEST_TMP/ok.log"; fail "--locked pins of the unchanged tree failed"; }
[ ! -s "$TEST_TMP/out2/resolved/substitutions.tsv" ] || fail "substitutions for the unchanged tree"
log "bad build input refused with clear messages; out/ untouched"
