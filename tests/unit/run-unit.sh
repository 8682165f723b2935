#!/usr/bin/env bash
# run-unit.sh -- run every unit test binary of the given build variants and sum up
# usage: run-unit.sh BUILD_DIR VARIANT...
set -u
build="$1"; shift
here="$(cd "$(dirname "$0")" && pwd)"
export UNIT_FIXTURES="$here/fixtures"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0 failed=0
for variant in "$@"; do
	for t in "$build/$variant"/tests/*; do
		[ -x "$t" ] || continue
		name="$variant/$(basename "$t")"
		out=$("$t" 2>&1); rc=$?
		last=$(printf '%s\n' "$out" | tail -1)
		p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
		f=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
		if [ -z "$p" ]; then
			# crashed or sanitizer abort before the summary line
			printf '%s\n' "$out" | sed "s|^|$name: |"
			echo "FAIL $name: exited $rc without a summary"
			failed=$((failed + 1))
			continue
		fi
		printf '%s\n' "$out" | grep -v '^ok ' | sed "s|^|$name: |"
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "FAIL $name: exited $rc"
			f=1
		fi
		passed=$((passed + p)); failed=$((failed + f))
	done
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
