#!/usr/bin/env bash
# every libFuzzer harness in tests/fuzz runs for FUZZ_SECONDS from its seed corpus without a crash
# timeout: 900
# timeout-long: 3600
. "$ROOT/tests/lib.sh"
require_cmd clang

# 15 s each in the usual run, 300 s each with tests/run.sh --long (./build.sh test fuzz --long)
if [ "${CLOUDD_TEST_LONG:-0}" = 1 ]; then default_seconds=300; else default_seconds=15; fi
seconds="${FUZZ_SECONDS:-$default_seconds}"
log "building the fuzz harnesses"
make -s -C "$ROOT/cloudd" OUT="$OUT" ${MUSL_PREFIX:+MUSL_PREFIX="$MUSL_PREFIX"} -j"$(nproc)" fuzz-bins
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=0 ran=0
for bin in "$OUT"/build/fuzz/bin/*; do
	case "$bin" in *.d) continue ;; esac
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus="$TEST_TMP/corpus-$name"
	mkdir -p "$corpus" "$TEST_TMP/artifacts-$name"
	[ -d "$ROOT/tests/fuzz/corpus/$name" ] && cp "$ROOT/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	log "fuzzing $name for ${seconds}s"
	if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$TEST_TMP/artifacts-$name/" "$corpus" >"$TEST_TMP/$name.log" 2>&1; then
		log "$name: $(grep -E '^Done|#[0-9]+.*DONE' "$TEST_TMP/$name.log" | tail -1)"
	else
		failed=$((failed + 1))
		tail -40 "$TEST_TMP/$name.log"
		for a in "$TEST_TMP/artifacts-$name"/*; do
			[ -e "$a" ] && echo "reproducer: $a ($(base64 -w0 <"$a" | head -c 400))"
		done
	fi
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || fail "no fuzz harness was built"
[ "$failed" -eq 0 ] || fail "$failed of $ran fuzz harnesses crashed"
log "$ran harnesses ran ${seconds}s each without a crash"
